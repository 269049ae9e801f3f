"""Under mpirun: sample with fix onsager (file + callback on every rank) next to fix ave/time.

usage: plugin_mpi_fix.py DATAFILE OUTDIR; writes OUTDIR/f.onsager, OUTDIR/at.txt and
OUTDIR/callback_RANK.json (the rows each rank's callback received, with batch sizes, and the
per-species means of compute pe/atom gathered over the ranks at each callback).
"""
import json
import os
import sys

import numpy as np
import plugin_systems as ps
from mpi4py import MPI

from pyonsager._plugin import ONSAGER_CALLBACK, capi

data, outdir = sys.argv[1:3]
rank = MPI.COMM_WORLD.Get_rank()
lmp = ps.new_lammps(comm=MPI.COMM_WORLD)
ps.load_state(lmp, "morse", data)
lmp.commands_string(
    f"""
compute pe all pe/atom
compute st all centroid/stress/atom NULL virial
compute ke all ke/atom
compute hf all heat/flux ke pe st
compute fl all onsager pe st species Al Cu
fix nve all nve
fix s all onsager fl 5 file {outdir}/f.onsager flush 4
fix at all ave/time 5 1 5 c_fl[*] c_hf[*] file {outdir}/at.txt format ' %.17g'
"""
)
batches, pe_means = [], []


def receive(ctx, nrows, ncols, rows):
    batches.append(np.ctypeslib.as_array(rows, shape=(nrows * ncols,)).reshape(nrows, ncols).tolist())
    # per-species means of compute pe/atom on this (the last sampled) step, over both ranks
    pe_means.append(ps.species_pe_means(lmp, [-1, 0, 1], 2, MPI.COMM_WORLD).tolist())


cb = ONSAGER_CALLBACK(receive)
assert capi().onsager_set_callback(lmp.lmp, b"s", cb, None, 3) == 0
lmp.command("run 40")
lmp.close()
with open(os.path.join(outdir, f"callback_{rank}.json"), "w") as fh:
    json.dump({"nprocs": MPI.COMM_WORLD.Get_size(), "batches": batches, "pe_means": pe_means}, fh)
