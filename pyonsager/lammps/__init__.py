"""LAMMPS driver: on-the-fly Onsager coefficients from a running LAMMPS instance.

- :func:`attach` -- sample a user's own ``lammps`` object; ``session.finish(out=DIR)``.
- :func:`run` -- the ``pyonsager run CONFIG.yaml`` workflow (equilibrate, sample in NVE,
  checkpoint, restart), see docs/config.md.

Nothing here imports ``lammps`` at module level; mpi4py is imported when a session starts.
"""
from __future__ import annotations

from typing import Any

__all__ = ["attach", "run", "Session"]


def __getattr__(name: str) -> Any:
    if name in ("attach", "Session"):
        from pyonsager.lammps import session

        return getattr(session, name)
    if name == "run":
        from pyonsager.lammps.runner import run

        return run
    raise AttributeError(f"module 'pyonsager.lammps' has no attribute {name!r}")
