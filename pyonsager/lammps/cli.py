"""``pyonsager run`` and ``pyonsager demo`` (argument parsing lives in :mod:`pyonsager.cli`).

Exit codes: 0 done; 2 a user error (:class:`pyonsager.errors.UserError`: config, LAMMPS
refused the input or the run, sampling, an output directory holding a finished run), one line
on stderr from rank 0 without a traceback; 3 interrupted by a signal (partial ``onsager.yaml``
and a checkpoint written: continue with ``--restart``).  Any other exception is a bug and keeps
its traceback (exit status 1).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from pyonsager.errors import RunInterrupted, UserError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 3


def demo_config() -> str:
    """Path of the packaged AgI config that ``pyonsager demo`` runs."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples", "agi", "agi.yaml")


def _rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def run_main(args: argparse.Namespace, config: Optional[str] = None) -> int:
    """Run ``args.config`` (or ``config``) with ``--out``, ``--restart``, ``--production-steps``,
    ``--overwrite`` (a finished run's results in ``--out`` are otherwise an error),
    ``--replicas K`` (K independent trajectories on K MPI partitions)."""
    from pyonsager.lammps.runner import run

    path = config or args.config
    try:
        run(path, out=getattr(args, "out", None), restart=bool(getattr(args, "restart", False)),
            production_steps=getattr(args, "production_steps", None),
            overwrite=bool(getattr(args, "overwrite", False)),
            replicas=getattr(args, "replicas", None))
    except RunInterrupted as exc:
        if _rank() == 0:
            print(f"pyonsager: {exc}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except UserError as exc:      # every rank raises it; one line, from rank 0
        if _rank() == 0:
            print(f"pyonsager run: error: {' '.join(str(exc).split())}", file=sys.stderr,
                  flush=True)
        return EXIT_USAGE
    return 0


def demo_main(args: argparse.Namespace) -> int:
    """``pyonsager demo``: :func:`run_main` on the packaged AgI example."""
    path = demo_config()
    if not os.path.isfile(path):
        print(f"pyonsager demo: error: the packaged example {path} is missing", file=sys.stderr)
        return EXIT_USAGE
    return run_main(args, config=path)
