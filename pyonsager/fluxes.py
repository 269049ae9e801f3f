"""Flux time series and their metadata: the data model shared by readers, drivers and analysis.

Fluxes are *extensive* (summed over atoms, not divided by the volume) and in the units of the
unit system named by ``units`` (LAMMPS ``metal``: energy flux in eV A/ps, mass flux in
amu A/ps; ``real``: kcal/mol A/fs and g/mol A/fs).  Conversion to SI happens only in
:mod:`pyonsager.units`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from .errors import InputError
from pyonsager.channels import ChannelLayout


@dataclass
class FluxMetadata:
    """Everything about a flux series except the samples.

    Attributes
    ----------
    units: unit system of the fluxes, ``"metal"`` or ``"real"`` (``"ase"`` is an alias of metal).
    dt: time between two samples, in the unit system's time unit (metal: ps, real: fs).
    volume: cell volume in the unit system's volume unit (A^3).
    temperature: mean temperature in K (the measured mean of the run).
    species: names of the mass fluxes, in channel order.
    masses: mass of one atom of each species (amu), or None when unknown.
    counts: atoms per species, or None when unknown.
    mobile: names of the species treated as diffusing; None means "decide from the data".
    mass_flux_unit: None for true mass fluxes; otherwise a description of the unit of
        proxy columns (e.g. a centre-of-mass velocity), in which L01 and L11 are then reported.
    site_energies: mean site energy (potential energy per atom) of each species over the run,
        in the unit system's energy unit (metal: eV), or None when unknown; the drivers set it
        to the time mean of the flux file's ``site_energy_*`` columns.
    extra: free-form provenance (LAMMPS version, MPI ranks, nevery, group ...).
    """

    units: str
    dt: float
    volume: float
    temperature: float
    species: list[str] = field(default_factory=list)
    masses: Optional[list[float]] = None
    counts: Optional[list[int]] = None
    mobile: Optional[list[str]] = None
    mass_flux_unit: Optional[str] = None
    extra: dict = field(default_factory=dict)
    site_energies: Optional[dict[str, float]] = None

    def validate(self) -> None:
        """Raise ValueError with a message naming the fix for impossible metadata."""
        if self.units not in ("metal", "real", "ase"):
            raise InputError(f"unknown unit system {self.units!r}: use 'metal', 'real' or 'ase'")
        if not np.isfinite(self.dt) or self.dt <= 0:
            raise InputError(f"time between samples must be positive, got dt={self.dt}: pass --dt")
        if not np.isfinite(self.volume) or self.volume <= 0:
            raise InputError(f"volume must be positive, got {self.volume}: pass --volume in A^3")
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise InputError(
                f"temperature must be positive, got {self.temperature} K: pass --temperature "
                "or --temperature-column")


@dataclass
class FluxSeries:
    """Samples of the energy flux and the species' mass fluxes, each an (N, 3) array.

    ``energy_flux`` = ``energy_flux_kinetic`` + ``energy_flux_potential`` when the parts are
    known.  ``mass_flux`` maps species name -> (N, 3) array, in ``metadata.species`` order.
    ``temperature`` holds the per-sample temperature (K) when known.  ``site_energy`` maps
    species name -> (N,) per-sample mean site energy (potential energy per atom of that
    species, unit system's energy unit) when known (the ``site_energy_*`` file columns).
    """

    energy_flux: np.ndarray
    mass_flux: dict[str, np.ndarray]
    metadata: FluxMetadata
    energy_flux_kinetic: Optional[np.ndarray] = None
    energy_flux_potential: Optional[np.ndarray] = None
    charge_flux: Optional[np.ndarray] = None
    temperature: Optional[np.ndarray] = None
    steps: Optional[np.ndarray] = None
    site_energy: Optional[dict[str, np.ndarray]] = None

    def __len__(self) -> int:
        return int(self.energy_flux.shape[0])

    def layout(self) -> ChannelLayout:
        """The channel layout of this series (:mod:`pyonsager.channels`); the energy-flux
        parts are channels only when both are known."""
        parts = self.energy_flux_kinetic is not None and self.energy_flux_potential is not None
        return ChannelLayout(tuple(self.mass_flux), parts=parts,
                             charge=self.charge_flux is not None)

    def channel_names(self) -> list[str]:
        """Names of the correlator channels, in the order of :meth:`channels`."""
        return self.layout().names

    def channel_arrays(self) -> list[np.ndarray]:
        """The (N, 3) flux arrays in the order of :meth:`channel_names` (no copy)."""
        layout = self.layout()
        arrays = [self.energy_flux]
        if layout.parts:
            arrays += [self.energy_flux_kinetic, self.energy_flux_potential]
        arrays += list(self.mass_flux.values())
        if layout.charge:
            arrays.append(self.charge_flux)
        return arrays

    def channels(self) -> np.ndarray:
        """All fluxes stacked as one (N, nchannels, 3) float64 array (order: channel_names)."""
        return np.ascontiguousarray(np.stack(self.channel_arrays(), axis=1), dtype=np.float64)

    def mean_site_energies(self) -> Optional[dict[str, float]]:
        """Time mean of :attr:`site_energy` per species (energy unit of the unit system)."""
        if not self.site_energy:
            return None
        return {s: float(np.mean(v)) for s, v in self.site_energy.items()}

    def with_metadata(self, **changes) -> "FluxSeries":
        return replace(self, metadata=replace(self.metadata, **changes))


def channel_names(species: Sequence[str], parts: bool = True, charge: bool = False) -> list[str]:
    """Channel order used by the correlator and the drivers (alias of
    ``ChannelLayout(species, parts, charge).names``, see :mod:`pyonsager.channels`)."""
    return ChannelLayout(tuple(species), parts=parts, charge=charge).names
