"""The channel layout: which flux is which correlator channel and which flux-file column.

The one owner of the layout shared by the readers and writers of flux files, the correlator,
the drivers, the analysis and (checked by tests/test_channels.py) the ``fix onsager`` header
written by the plugin's C++.

Channels (each a 3-vector, x y z), in correlator order::

    energy_flux                                   J0 = kinetic + potential part (energy kind)
    [energy_flux_kinetic, energy_flux_potential]  with ``parts`` (energy kind)
    mass_flux_S for each species S                (mass kind)
    [charge_flux]                                 with ``charge`` (charge kind)

Flux-file columns::

    step temperature  NAME[1] NAME[2] NAME[3] for each channel NAME  [site_energy_S per species]

(``site_energy_S``: mean potential energy per atom of species S on that step, unit system's
energy unit).  ``fix onsager`` always writes the parts and the site energies; the ASE observer
too.  A row of ``fix onsager`` (file or callback) is therefore
``[step, T, flux block (3 per channel, channel order), site energies]`` and
``row[layout.flux_columns]`` reshapes to ``(nchannels, 3)`` without copying columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from pyonsager.errors import InputError

STEP = "step"
TEMPERATURE = "temperature"
ENERGY = "energy_flux"
KINETIC = "energy_flux_kinetic"
POTENTIAL = "energy_flux_potential"
CHARGE = "charge_flux"
MASS_PREFIX = "mass_flux_"
SITE_PREFIX = "site_energy_"

#: kinds of channel, as :func:`pyonsager.units.channel_factors` takes them
KIND_ENERGY, KIND_MASS, KIND_CHARGE = "energy", "mass", "charge"
KINDS = (KIND_ENERGY, KIND_MASS, KIND_CHARGE)
#: the columns before the flux block of a flux file
LEADING = (STEP, TEMPERATURE)


def vector(name: str) -> list[str]:
    """File column names of a 3-vector channel: ``NAME[1] NAME[2] NAME[3]``."""
    return [f"{name}[{i}]" for i in (1, 2, 3)]


def mass_channel(species: str) -> str:
    return MASS_PREFIX + species


def site_column(species: str) -> str:
    return SITE_PREFIX + species


def species_of(name: str) -> Optional[str]:
    """The species of a mass-flux channel name (``mass_flux_Ag`` -> ``Ag``), else None."""
    return name[len(MASS_PREFIX):] if name.startswith(MASS_PREFIX) else None


def kind(name: str) -> str:
    """``energy``, ``mass`` or ``charge`` for a channel name (ValueError for anything else)."""
    if name in (ENERGY, KINETIC, POTENTIAL):
        return KIND_ENERGY
    if name.startswith(MASS_PREFIX) and len(name) > len(MASS_PREFIX):
        return KIND_MASS
    if name == CHARGE:
        return KIND_CHARGE
    raise InputError(f"{name!r} is not a flux channel name (energy_flux, energy_flux_kinetic, "
                     "energy_flux_potential, mass_flux_NAME, charge_flux)")


def kinds(names: Sequence[str]) -> list[str]:
    return [kind(n) for n in names]


def check_kinds(values: Sequence[str]) -> list[str]:
    """``values`` as a list, ValueError for a kind that is not energy, mass or charge."""
    bad = [k for k in values if k not in KINDS]
    if bad:
        raise InputError(f"unknown channel kinds {bad}: use {', '.join(KINDS)}")
    return list(values)


@dataclass(frozen=True)
class ChannelLayout:
    """Channels of a flux series and columns of its flux file.

    species: mass-flux species in channel order; parts: the kinetic and potential parts of
    the energy flux are channels; charge: the charge flux is a channel; site_energy: the file
    has one ``site_energy_S`` column per species after the flux block.
    """

    species: tuple[str, ...] = ()
    parts: bool = True
    charge: bool = False
    site_energy: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(str(s) for s in self.species))
        if len(set(self.species)) != len(self.species):
            raise InputError(f"species names repeat: {list(self.species)}")

    # ----------------------------------------------------------------- channels
    @property
    def names(self) -> list[str]:
        """Channel names in correlator order."""
        names = [ENERGY] + ([KINETIC, POTENTIAL] if self.parts else [])
        names += [mass_channel(s) for s in self.species]
        return names + ([CHARGE] if self.charge else [])

    @property
    def kinds(self) -> list[str]:
        return kinds(self.names)

    @property
    def nchannels(self) -> int:
        return 1 + 2 * self.parts + len(self.species) + int(self.charge)

    def index(self, name: str) -> int:
        """Channel index of ``name`` (a channel name or a species)."""
        names = self.names
        if name in names:
            return names.index(name)
        if mass_channel(name) in names:
            return names.index(mass_channel(name))
        raise KeyError(f"no channel {name!r} in {names}")

    @property
    def mass_index(self) -> dict[str, int]:
        """species -> channel index."""
        first = 1 + 2 * self.parts
        return {s: first + i for i, s in enumerate(self.species)}

    # ----------------------------------------------------------------- file columns
    @property
    def columns(self) -> list[str]:
        """Flux-file column names (what ``fix onsager`` writes in its last header line)."""
        cols = list(LEADING)
        for n in self.names:
            cols += vector(n)
        if self.site_energy:
            cols += [site_column(s) for s in self.species]
        return cols

    @property
    def flux_columns(self) -> slice:
        """Column slice of the flux block: ``row[flux_columns]`` reshapes to (nchannels, 3)."""
        return slice(len(LEADING), len(LEADING) + 3 * self.nchannels)

    @property
    def site_columns(self) -> slice:
        """Column slice of the site energies (empty without ``site_energy``)."""
        a = self.flux_columns.stop
        return slice(a, a + (len(self.species) if self.site_energy else 0))

    def channel_columns(self, name: str) -> slice:
        """Column slice of one channel's x y z."""
        a = len(LEADING) + 3 * self.index(name)
        return slice(a, a + 3)

    @property
    def ncolumns(self) -> int:
        return self.site_columns.stop

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_names(cls, names: Sequence[str], site_energy: bool = False) -> "ChannelLayout":
        """The layout whose channel names are ``names`` (ValueError when not in layout order)."""
        names = list(names)
        species = [species_of(n) for n in names if species_of(n)]
        layout = cls(tuple(species), parts=KINETIC in names, charge=CHARGE in names,
                     site_energy=site_energy)
        if layout.names != names:
            raise InputError(f"channel names {names} are not in layout order {layout.names}")
        return layout

    @classmethod
    def from_count(cls, nchannels: int, species: Sequence[str]) -> "ChannelLayout":
        """The layout of ``nchannels`` channels for ``species``: the energy flux plus 0 or 2
        parts plus 0 or 1 charge channel beyond the species (1..4 non-mass channels)."""
        rest = nchannels - len(species)
        table = {1: (False, False), 2: (False, True), 3: (True, False), 4: (True, True)}
        if rest not in table:
            raise InputError(f"cannot map {nchannels} correlator channels onto species "
                             f"{list(species)}: pass channel_names=")
        parts, charge = table[rest]
        return cls(tuple(species), parts=parts, charge=charge)

    @classmethod
    def from_fix_row(cls, ncols: int, species: Sequence[str]) -> "ChannelLayout":
        """The layout of a ``fix onsager`` row of ``ncols`` values (file row or callback row)
        for ``species``: step, temperature, the energy flux and its parts, the mass fluxes,
        the charge flux when the count says so, one site energy per species."""
        ns = len(species)
        nflux = ncols - len(LEADING) - ns
        if nflux % 3 or nflux // 3 - ns not in (3, 4):
            raise InputError(f"a fix onsager row of {ncols} values does not fit {ns} species "
                             f"{list(species)}: expected {len(LEADING)} + 3 x (3 + {ns} [+ 1 "
                             f"charge]) + {ns} site energies")
        return cls(tuple(species), parts=True, charge=nflux // 3 - ns == 4, site_energy=True)

    @classmethod
    def from_columns(cls, columns: Sequence[str],
                     species: Optional[Sequence[str]] = None) -> "ChannelLayout":
        """The layout of a flux file from its column names (and the header's species, which
        fix the order; default: the order of the mass-flux columns).  ValueError naming the
        difference when the columns are not exactly a layout's."""
        cols = list(columns)
        if species is None:
            species = [c[len(MASS_PREFIX):-3] for c in cols
                       if c.startswith(MASS_PREFIX) and c.endswith("[1]")]
        sp = [str(s) for s in species]
        layout = cls(tuple(sp), parts=KINETIC + "[1]" in cols, charge=CHARGE + "[1]" in cols,
                     site_energy=bool(sp) and all(site_column(s) in cols for s in sp))
        if layout.columns != cols:
            raise InputError(f"columns {' '.join(cols)} are not the flux-file layout "
                             f"{' '.join(layout.columns)}")
        return layout
