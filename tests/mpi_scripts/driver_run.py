"""Under mpirun: `pyonsager run` on a config, uninterrupted, then (optionally) stopped by the
test hook and continued with --restart.  argv: CONFIG OUT [STOP_STEP OUT2]."""
from __future__ import annotations

import os
import sys

from mpi4py import MPI

from pyonsager.lammps.runner import STOP_ENV, RunInterrupted, run

cfg, out = sys.argv[1], sys.argv[2]
run(cfg, out=out)
if len(sys.argv) > 3:
    stop, out2 = sys.argv[3], sys.argv[4]
    os.environ[STOP_ENV] = stop
    try:
        run(cfg, out=out2)
        raise SystemExit("the stop hook did not interrupt the run")
    except RunInterrupted:
        pass
    del os.environ[STOP_ENV]
    run(cfg, out=out2, restart=True)
MPI.COMM_WORLD.Barrier()
