"""``pyonsager run`` and ``pyonsager demo`` (argument parsing lives in :mod:`pyonsager.cli`).

Exit codes: 0 done; 1 error (config, LAMMPS, sampling), message on stderr without a
traceback; 3 interrupted by a signal (partial ``onsager.yaml`` and a checkpoint written:
continue with ``--restart``).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

EXIT_ERROR = 1
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
    ``--overwrite`` (a finished run's results in ``--out`` are otherwise an error)."""
    from pyonsager.errors import CheckpointError
    from pyonsager.lammps.config import ConfigError
    from pyonsager.lammps.runner import RunError, RunInterrupted, run
    from pyonsager.lammps.session import SamplingError

    path = config or args.config
    try:
        run(path, out=getattr(args, "out", None), restart=bool(getattr(args, "restart", False)),
            production_steps=getattr(args, "production_steps", None),
            overwrite=bool(getattr(args, "overwrite", False)))
    except RunInterrupted as exc:
        if _rank() == 0:
            print(f"pyonsager: {exc}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except (CheckpointError, ConfigError, RunError, SamplingError) as exc:
        if _rank() == 0:
            print(f"pyonsager run: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    return 0


def demo_main(args: argparse.Namespace) -> int:
    """``pyonsager demo``: :func:`run_main` on the packaged AgI example."""
    path = demo_config()
    if not os.path.isfile(path):
        print(f"pyonsager demo: error: the packaged example {path} is missing", file=sys.stderr)
        return EXIT_ERROR
    return run_main(args, config=path)
