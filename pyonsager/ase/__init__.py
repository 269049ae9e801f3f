"""ASE driver: Onsager coefficients from ASE molecular dynamics.

    from pyonsager.ase import attach
    session = attach(dyn, every=1, max_lag=5.0, mobile=["Ag"])   # max_lag in ps
    dyn.run(100000)
    result = session.finish(out="onsager_out")
    merged = merge_sessions([session, other_session], out="merged")   # independent runs

``sample(atoms)`` gives one flux sample (extensive, LAMMPS metal units); ``register_adapter``
teaches pyonsager a new calculator (per-atom energies and full per-atom virials).  See
docs/ase.md.
"""
from __future__ import annotations

from pyonsager.ase import adapters
from pyonsager.ase.adapters import (UnsupportedCalculatorError, energies_and_virials,
                                    register_adapter, unregister_adapter)
from pyonsager.ase.merge import merge_sessions
from pyonsager.ase.observer import (ChangingCellError, FluxSample, Session, attach, sample)

__all__ = ["sample", "attach", "merge_sessions", "register_adapter", "unregister_adapter", "adapters",
           "energies_and_virials", "FluxSample", "Session", "UnsupportedCalculatorError",
           "ChangingCellError"]
