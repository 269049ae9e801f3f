"""Unit conversions: the one place where LAMMPS/ASE units become SI.

Fluxes in pyonsager are *extensive* (summed over atoms, not divided by the volume):

=========  =======================  =======================  =====  =======
units      energy flux X0           mass flux Xs             time   volume
=========  =======================  =======================  =====  =======
metal      eV A / ps                (g/mol) A / ps           ps     A^3
real       (kcal/mol) A / fs        (g/mol) A / fs           fs     A^3
ase        = metal (eV, A, amu; time converted to ps by the ASE driver)
=========  =======================  =======================  =====  =======

With extensive fluxes X_i = V J_i, the Onsager coefficients are (SI)

    L_ij = V / (k_B T^2) integral_0^inf <J_i(t) J_j(0)> dt
         = 1 / (V k_B T^2) integral_0^inf <X_i(t) X_j(0)> dt,

so L_00 and kappa are in W m^-1 K^-1, L_0s in kg m^-1 s^-1 K^-1 and L_st in kg s m^-3 K^-1.
Constants: CODATA 2018/2022 exact SI values (k_B, e, N_A) and CODATA 2022 atomic mass unit.
LAMMPS documents masses in grams/mole for both metal and real, so one mass unit is
1e-3/N_A kg (differs from the amu by 1e-9 relative).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

K_B = 1.380649e-23            # J/K (exact)
EV = 1.602176634e-19          # J (exact)
N_A = 6.02214076e23           # 1/mol (exact)
AMU = 1.66053906892e-27       # kg (CODATA 2022)
KCAL_PER_MOL = 4184.0 / N_A   # J (thermochemical calorie)
GRAM_PER_MOL = 1e-3 / N_A     # kg
ANGSTROM = 1e-10              # m
PS = 1e-12                    # s
FS = 1e-15                    # s

# per unit system: energy (J), length (m), time (s), mass (kg)
_SYSTEMS = {
    "metal": dict(energy=EV, length=ANGSTROM, time=PS, mass=GRAM_PER_MOL),
    "real": dict(energy=KCAL_PER_MOL, length=ANGSTROM, time=FS, mass=GRAM_PER_MOL),
}
_SYSTEMS["ase"] = _SYSTEMS["metal"]

#: LAMMPS ``units metal`` mvv2e: (amu A^2/ps^2) -> eV, the constant in LAMMPS' update.cpp.  The
#: ASE driver uses it (not ASE's own constants, 6e-9 apart) so that the same state gives the
#: same fluxes as ``compute onsager``.
LAMMPS_METAL_MVV2E = 1.0364269e-4


def ase_time_per_ps() -> float:
    """ASE time units in one picosecond (1000 * ase.units.fs ~ 98.227); imports ASE lazily."""
    from ase import units as ase_units

    return 1000.0 * ase_units.fs


SI_UNITS = {
    "kappa": "W m^-1 K^-1",
    "L00": "W m^-1 K^-1",
    "L0s": "kg m^-1 s^-1 K^-1",
    "Lst": "kg s m^-3 K^-1",
}

#: unit of the empirical criterion U^2/L11 (Zhou et al.): eV^2 kg^-1 s^-1 m^3 K
CRITERION_UNIT = "eV^2 kg^-1 s^-1 m^3 K"
#: threshold below which L00 is expected within 10% of kappa (empirical, Zhou et al. Fig. 5)
CRITERION_THRESHOLD = 1e14


def _system(units: str) -> dict:
    try:
        return _SYSTEMS[units]
    except KeyError:
        raise InputError(f"unknown unit system {units!r}: use 'metal', 'real' or 'ase'") from None


def energy(units: str) -> float:
    """SI value (J) of the unit system's energy unit (metal: eV, real: kcal/mol)."""
    return _system(units)["energy"]


def time(units: str) -> float:
    """SI value (s) of the unit system's time unit (metal: ps, real: fs)."""
    return _system(units)["time"]


def volume(units: str) -> float:
    """SI value (m^3) of the unit system's volume unit (A^3)."""
    return _system(units)["length"] ** 3


def mass(units: str) -> float:
    """SI value (kg) of the unit system's mass unit (g/mol)."""
    return _system(units)["mass"]


def energy_flux(units: str) -> float:
    """SI value (J m s^-1) of one extensive energy-flux unit: energy * length / time."""
    s = _system(units)
    return s["energy"] * s["length"] / s["time"]


def mass_flux(units: str) -> float:
    """SI value (kg m s^-1) of one extensive mass-flux unit: mass * length / time."""
    s = _system(units)
    return s["mass"] * s["length"] / s["time"]


def onsager_prefactor(units: str, volume_: float, temperature: float, dt: float) -> float:
    """Factor P with L_ij(SI) = P * f_i f_j * sum_k w_k C_ij(k), for fluxes in SI multiples.

        P = (dt * time(units)) / (volume_ * volume(units) * k_B * temperature^2)

    where dt is the time between samples in the unit system's time unit, volume_ in A^3 and
    temperature in K.  Multiply by the flux factors f_i (:func:`channel_factors`) and by the
    dimensionless trapezoid sum of <X_i(t) X_j(0)> over lags to get L_ij in SI.
    """
    if volume_ <= 0 or temperature <= 0 or dt <= 0:
        raise InputError("volume, temperature and dt must be positive")
    return dt * time(units) / (volume_ * volume(units) * K_B * temperature ** 2)


def channel_factors(units: str, kinds: list[str], mass_flux_unit: str | None = None) -> np.ndarray:
    """SI factor of each channel: ``energy`` -> :func:`energy_flux`, ``mass`` -> :func:`mass_flux`.

    With ``mass_flux_unit`` set (proxy columns such as a centre-of-mass velocity) mass channels
    keep their own unit (factor 1): L0s and Lst are then reported in that unit (see
    :func:`coefficient_unit`).  ``charge`` channels are left in their units (factor 1).
    """
    out = []
    for k in kinds:
        if k == "energy":
            out.append(energy_flux(units))
        elif k == "mass":
            out.append(1.0 if mass_flux_unit else mass_flux(units))
        else:
            out.append(1.0)
    return np.asarray(out, dtype=float)


def coefficient_unit(kind_i: str, kind_j: str, mass_flux_unit: str | None = None) -> str:
    """Unit string of L_ij for channel kinds ``energy``/``mass``."""
    kinds = {kind_i, kind_j}
    if kinds == {"energy"}:
        return SI_UNITS["L00"]
    if mass_flux_unit:
        # L_0s = f_E [Y] s / (m^3 J/K K^2) = [Y] m^-2 K^-1; L_st = [Y]^2 s m^-3 J^-1 K^-1
        if kinds == {"energy", "mass"}:
            return f"({mass_flux_unit}) m^-2 K^-1"
        return f"({mass_flux_unit})^2 s m^-3 J^-1 K^-1"
    if kinds == {"energy", "mass"}:
        return SI_UNITS["L0s"]
    return SI_UNITS["Lst"]
