"""Under mpirun: 20 NVE steps of a stored state with and without `compute onsager ... exact`
(and `exact forward`) sampled every step by fix onsager; rank 0 writes whether thermo pe/press of every step and the
final x, v (gathered by atom ID) are bit-identical, as JSON.

usage: exact_trajectory.py KIND DATAFILE WORKDIR OUT.json [EXTRA LAMMPS COMMAND]
"""
import json
import os
import sys

import numpy as np
import plugin_systems as ps
from mpi4py import MPI

import exact_systems  # noqa: F401  (registers the extra systems)

kind, data, work, out = sys.argv[1:5]
extra = sys.argv[5] if len(sys.argv) > 5 else ""
comm = MPI.COMM_WORLD
s = ps.SYSTEMS[kind]


def trajectory(sample: bool, tag: str):
    lmp = ps.new_lammps(comm=comm)
    ps.load_state(lmp, kind, data)
    lmp.commands_string(extra)
    lmp.command("fix nve all nve")
    if sample:
        lmp.commands_string(
            f"compute pe all pe/atom\ncompute fl all onsager pe exact species {s['species']}\n"
            f"compute ff all onsager pe exact forward species {s['species']}\n"
            "fix s all onsager fl 1\nfix sf all onsager ff 1")
    thermo = os.path.join(work, f"thermo_{tag}.txt")
    lmp.command(f"fix th all ave/time 1 1 1 c_thermo_pe c_thermo_press file {thermo} "
                "format ' %.17g'")
    lmp.command("run 20")
    x = lmp.gather_atoms("x", 1, 3)
    v = lmp.gather_atoms("v", 1, 3)
    xv = np.array(x[:]), np.array(v[:])
    lmp.close()
    return xv, thermo


(xa, va), ta = trajectory(True, "with")
(xb, vb), tb = trajectory(False, "without")
if comm.Get_rank() == 0:
    rows = [np.loadtxt(t) for t in (ta, tb)]
    json.dump({"nprocs": comm.Get_size(), "thermo_rows": int(rows[0].shape[0]),
               "thermo_equal": bool(np.array_equal(rows[0], rows[1])),
               "x_equal": bool(np.array_equal(xa, xb)), "v_equal": bool(np.array_equal(va, vb))},
              open(out, "w"))
