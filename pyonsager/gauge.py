"""Gauge sensitivity of L00: what a site-energy shift does to L00, and does not do to kappa.

Adding a constant c_s to the site energy of every atom of species s changes the energy flux by

    X_0 -> X_0 + sum_s (c_s / m_s) X_s              (X_s: extensive mass flux of species s),

so with a_s = c_s / m_s (J/kg in SI) and e = (1, a_1, ..., a_S) over the channels
(energy, mass fluxes of all species):

    L00' = e^T L e = L00 + 2 sum_s a_s L_0s + sum_st a_s a_t L_st,

computed exactly from the full Onsager matrix (every species, dropped ones included), while
kappa = 1/(L^-1)_00 is unchanged (the shift is a row operation that leaves (L^-1)_00 alone;
exactly when the shifted species span the independent mass fluxes, e.g. the dropped species of
a momentum-conserving system).  Note min over a of L00' = kappa: the Onsager-corrected
kappa is the smallest L00 any gauge can produce.

Shifts used (:func:`default_shifts`): with the species' mean site energies U_s given, the
shift c_s = -U_s for all species at once (the gauge in which every species' mean site energy is
zero) and +-U_s for each species alone; otherwise +-1 eV per atom for each species alone
(DEFAULT_SHIFT_EV: the size of the differences of mean site energies between machine-learned
models reported by Zhou et al.).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import units as U
from .greenkubo import schur_complement

#: default magnitude of a site-energy shift when no site energies are given (eV per atom)
DEFAULT_SHIFT_EV = 1.0


def shifted_matrix(L: np.ndarray, energy: int, mass_channels: Sequence[int],
                   a: Sequence[float]) -> np.ndarray:
    """T L T^T with row ``energy`` of T = e (the full transformed matrix)."""
    T = np.eye(L.shape[0])
    T[energy, list(mass_channels)] = np.asarray(a, dtype=float)
    return T @ L @ T.T


def default_shifts(species: Sequence[str],
                   site_energies: Optional[dict[str, float]] = None) -> list[dict[str, float]]:
    """Shift sets (species -> c_s in eV) to report; see the module docstring."""
    shifts: list[dict[str, float]] = []
    if site_energies:
        shifts.append({s: -float(site_energies[s]) for s in species if s in site_energies})
        for s in species:
            if s in site_energies and site_energies[s] != 0:
                for c in (float(site_energies[s]), -float(site_energies[s])):
                    if {s: c} not in shifts:
                        shifts.append({s: c})
    else:
        for s in species:
            shifts.append({s: DEFAULT_SHIFT_EV})
            shifts.append({s: -DEFAULT_SHIFT_EV})
    return shifts


def gauge_sensitivity(L: np.ndarray, energy: int, mass_channels: dict[str, int],
                      masses_kg: dict[str, float], selected: Sequence[int],
                      shifts_ev: Sequence[dict[str, float]]) -> dict:
    """L00 and kappa after each shift set, from the full SI Onsager matrix L at the cutoff.

    mass_channels: species -> channel index; masses_kg: species -> atomic mass (kg);
    selected: channels of the kappa matrix (energy first); shifts_ev: list of species -> c (eV).
    Returns a yaml-ready dict: L00, kappa, shifts [{shift_eV, L00, dL00, kappa}], L00_range.
    """
    L = 0.5 * (L + L.T)
    sel = list(selected)
    kappa0 = float(schur_complement(L[np.ix_(sel, sel)]))
    L00 = float(L[energy, energy])
    rows = []
    names = list(mass_channels)
    for sh in shifts_ev:
        a = [sh.get(s, 0.0) * U.EV / masses_kg[s] for s in names]
        chans = [mass_channels[s] for s in names]
        Lp = shifted_matrix(L, energy, chans, a)
        l00 = float(Lp[energy, energy])
        rows.append({"shift_eV": {k: float(v) for k, v in sh.items()}, "L00": l00,
                     "dL00": l00 - L00, "kappa": float(schur_complement(Lp[np.ix_(sel, sel)]))})
    vals = [L00] + [r["L00"] for r in rows]
    return {"unit": U.SI_UNITS["L00"], "L00": L00, "kappa": kappa0, "shifts": rows,
            "L00_range": [float(min(vals)), float(max(vals))],
            "note": "L00 after adding c_s (eV) to every site energy of species s; kappa is "
                    "gauge invariant, L00 is not"}
