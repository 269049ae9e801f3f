"""One entry point for reading fluxes from any supported file: :func:`read_any`."""
from __future__ import annotations

import os
import warnings
from typing import Optional, Sequence, Union

from pyonsager.columns import InputError, read_columns
from pyonsager.fluxes import FluxSeries
from pyonsager.fluxfile import is_fluxfile, read_fluxfile

#: Options that only make sense for plain column files (our own files name their columns).
COLUMN_ONLY = ("energy_flux", "mass_flux", "energy_flux_kinetic", "energy_flux_potential",
               "temperature_column", "mass_flux_units")


def read_any(path: Union[str, os.PathLike], *, units: Optional[str] = None,
             dt: Optional[float] = None, volume: Optional[float] = None,
             temperature: Optional[float] = None, temperature_column: Optional[str] = None,
             energy_flux: Optional[str] = None, mass_flux: Sequence[str] = (),
             energy_flux_kinetic: Optional[str] = None,
             energy_flux_potential: Optional[str] = None, mass_flux_units: str = "column",
             mobile: Optional[Sequence[str]] = None,
             workers: Optional[int] = None) -> FluxSeries:
    """Read a flux series from our ``.onsager`` file or a LAMMPS column file.

    Our own files (magic first line) carry everything; ``units``, ``dt`` (unit system's time
    unit), ``volume`` (A^3) and ``temperature`` (K) given here override their header.  Other
    files are column files (:func:`pyonsager.columns.read_columns`) and need ``energy_flux``,
    ``units``, ``dt``, ``volume`` and ``temperature`` or ``temperature_column``.
    """
    path = os.fspath(path)
    if isinstance(mass_flux, str):          # one KEY given bare, not a list of KEYs
        mass_flux = [mass_flux]
    if not os.path.isfile(path):
        raise InputError(f"no such file: {path}")
    if is_fluxfile(path):
        given = {"energy_flux": energy_flux, "mass_flux": list(mass_flux) or None,
                 "energy_flux_kinetic": energy_flux_kinetic,
                 "energy_flux_potential": energy_flux_potential,
                 "temperature_column": temperature_column}
        ignored = [k for k, v in given.items() if v]
        if ignored:
            warnings.warn(f"{path} is a pyonsager flux file, which names its own columns; "
                          f"ignoring {', '.join('--' + k.replace('_', '-') for k in ignored)}",
                          stacklevel=2)
        return read_fluxfile(path, units=units, dt=dt, volume=volume, temperature=temperature,
                             mobile=mobile, workers=workers)
    if energy_flux is None:
        raise InputError(f"{path} is a column file: name the energy-flux columns with "
                         "--energy-flux KEY (e.g. flux for c_flux[1..3])")
    return read_columns(path, energy_flux, mass_flux, dt=dt, volume=volume, units=units,
                        temperature=temperature, temperature_column=temperature_column,
                        energy_flux_kinetic=energy_flux_kinetic,
                        energy_flux_potential=energy_flux_potential,
                        mass_flux_units=mass_flux_units, mobile=mobile, workers=workers)
