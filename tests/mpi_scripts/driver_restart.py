"""Under mpirun (or alone): one leg of a restart across rank counts.

argv: CONFIG REF OUT MODE.  REF: an output directory for an uninterrupted run first ("-": none).
MODE: a step number (stop there with the test hook: RunInterrupted expected) or "restart"
(continue OUT's checkpoint)."""
from __future__ import annotations

import os
import sys

from mpi4py import MPI

from pyonsager.lammps.runner import STOP_ENV, RunInterrupted, run

cfg, ref, out, mode = sys.argv[1:5]
if ref != "-":
    run(cfg, out=ref)
if mode == "restart":
    run(cfg, out=out, restart=True)
else:
    os.environ[STOP_ENV] = mode
    try:
        run(cfg, out=out)
        raise SystemExit("the stop hook did not interrupt the run")
    except RunInterrupted:
        pass
MPI.COMM_WORLD.Barrier()
