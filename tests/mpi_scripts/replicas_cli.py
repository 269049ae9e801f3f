"""Under mpirun: ``pyonsager ARGS`` (the console script's main) on every rank, then a check
of the exit status.  argv: EXPECTED_CODE STOP ARGS...; STOP is "-" or "RANK:STEP": ranks >=
RANK ask to stop at STEP (the runner's test hook), i.e. only the replicas on those ranks are
interrupted.  Rank 0 prints the exit code and its stderr (for the error-message tests)."""
from __future__ import annotations

import contextlib
import io
import os
import sys

from mpi4py import MPI

from pyonsager.cli import main
from pyonsager.lammps.runner import STOP_ENV

expected, stop, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
rank = MPI.COMM_WORLD.Get_rank()
if stop != "-":
    first, step = stop.split(":")
    if rank >= int(first):
        os.environ[STOP_ENV] = step
err = io.StringIO()
with contextlib.redirect_stderr(err):
    code = main(args)
if rank == 0:
    print(f"exit code {code}")
    print(err.getvalue())
MPI.COMM_WORLD.Barrier()
if code != expected:
    sys.stderr.write(f"rank {rank}: exit code {code}, expected {expected}\n{err.getvalue()}")
    sys.exit(1)
