"""Under mpirun: attach() on a user's own script (two runs and a LAMMPS loop). argv: DIR."""
from __future__ import annotations

import json
import os
import sys

from mpi4py import MPI
from lammps import lammps

import pyonsager
from pyonsager._plugin import load_plugin
from driver_case import LJ_INPUT

d = sys.argv[1]
lmp = lammps(comm=MPI.COMM_WORLD, cmdargs=["-nocite", "-screen", "none", "-log", "none"])
lmp.commands_string(LJ_INPUT + "timestep 0.005\n")
load_plugin(lmp)
lmp.commands_string("""
compute pe all pe/atom
compute stress all centroid/stress/atom NULL virial
compute flux all onsager pe stress species Ar Kr
velocity all create 400 4928459 mom yes rot no
fix 1 all nve
""")
session = pyonsager.attach(lmp, compute="flux", every=2, max_lag=0.25, batch=37)
lmp.command("run 300")
lmp.command("run 200")
loop = os.path.join(d, "in.loop")
if MPI.COMM_WORLD.Get_rank() == 0:
    with open(loop, "w") as fh:
        fh.write("variable i loop 3\nlabel loop\nrun 100\nnext i\njump SELF loop\n")
MPI.COMM_WORLD.Barrier()
lmp.file(loop)
result = session.finish(out=os.path.join(d, "out"))
if MPI.COMM_WORLD.Get_rank() == 0:
    with open(os.path.join(d, "attach.json"), "w") as fh:
        json.dump({"nsamples": session.nsamples, "first": session.first_step,
                   "last": session.last_step, "gaps": session.gaps,
                   "kappa": result.kappa.value, "L00": result.L00.value,
                   "mobile": session.mobile_used}, fh)
