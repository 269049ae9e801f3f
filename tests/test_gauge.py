"""Gauge: L00 moves under site-energy shifts exactly as predicted; kappa does not move."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ou import ou_series  # noqa: E402

from si_reference import E_CHARGE, G_PER_MOL  # noqa: E402
from pyonsager.analysis import analyze  # noqa: E402
from pyonsager.gauge import default_shifts, shifted_matrix  # noqa: E402
from pyonsager.greenkubo import schur_complement  # noqa: E402

A3 = [[1.2, -0.5, 0.3], [0.4, 0.9, 0.2], [0.1, -0.3, 1.5]]
B3 = [[1.0, 0.0, 0.0], [0.7, 0.6, 0.0], [0.3, 0.2, 0.8]]
MASSES = {"Li": 6.94, "Cu": 63.546}


@pytest.fixture(scope="module")
def series():
    x = ou_series(A3, B3, 0.1, 20000, 11)
    return x[:, 0], {"Li": x[:, 1], "Cu": x[:, 2]}


def run(j0, mf, **kw):
    return analyze(energy_flux=j0, mass_flux=mf, dt=0.1, temperature=600.0, volume=2000.0,
                   units="metal", masses=[MASSES[s] for s in mf], **kw)


def shifted_L00(L, energy, mass_channels, a):
    """L00' = L00 + 2 sum_s a_s L_0s + sum_st a_s a_t L_st, written out (module docstring)."""
    Ls = 0.5 * (L + L.T)
    m = list(mass_channels)
    a = np.asarray(a, dtype=float)
    return float(Ls[energy, energy] + 2 * a @ Ls[energy, m] + a @ Ls[np.ix_(m, m)] @ a)


def test_shift_formula_matches_matrix():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    L = a @ a.T
    assert shifted_L00(L, 0, [1, 2], [0.3, -2.0]) == pytest.approx(
        shifted_matrix(L, 0, [1, 2], [0.3, -2.0])[0, 0], rel=1e-14)
    Lp = shifted_matrix(L, 0, [1, 2], [0.3, -2.0])
    assert schur_complement(Lp) == pytest.approx(schur_complement(L), rel=1e-12)
    # kappa is the minimum of L00 over gauges
    x = np.linalg.solve(L[1:, 1:], L[1:, 0])
    assert shifted_L00(L, 0, [1, 2], -x) == pytest.approx(schur_complement(L), rel=1e-10)


def test_kappa_invariant_L00_moves_as_predicted(series):
    j0, mf = series
    r = run(j0, mf, estimator="green-kubo")
    c = {"Li": 2.0, "Cu": -30.0}                      # eV per atom (OU fluxes are O(1))
    j0s = j0 + sum(c[s] / MASSES[s] * mf[s] for s in mf)   # metal: eV/(g/mol) * g/mol A/ps
    rs = run(j0s, mf, estimator="green-kubo")
    assert rs.kappa.value == pytest.approx(r.kappa.value, rel=1e-10)
    assert rs.kappa.error == pytest.approx(r.kappa.error, rel=1e-8)
    assert rs.estimator["parameters"]["cutoff_time"] == r.estimator["parameters"]["cutoff_time"]
    # predicted from the unshifted Onsager matrix (SI)
    Lsym = 0.5 * (r.arrays["L_t"][r.arrays["cutoff_index"]] + r.arrays["L_t"][r.arrays["cutoff_index"]].T)
    names = list(r.arrays["channel_names"])
    a = [c[s] * E_CHARGE / (MASSES[s] * G_PER_MOL) for s in mf]   # J/kg, hand constants
    pred = shifted_L00(Lsym, 0, [names.index(f"mass_flux_{s}") for s in mf], a)
    assert rs.L00.value == pytest.approx(pred, rel=1e-10)
    assert abs(rs.L00.value - r.L00.value) > 2 * r.L00.error


def test_gauge_sensitivity_report(series):
    j0, mf = series
    r = run(j0, mf, estimator="green-kubo", site_energies={"Li": -1.5, "Cu": -3.0})
    gs = r.gauge_sensitivity
    assert gs["L00"] == pytest.approx(r.L00.value, rel=1e-12)
    first = gs["shifts"][0]
    assert first["shift_eV"] == {"Li": 1.5, "Cu": 3.0}    # the zero-mean-site-energy gauge
    for row in gs["shifts"]:
        assert row["kappa"] == pytest.approx(r.kappa.value, rel=1e-9)
    # reproduce the first row by actually shifting the series
    j0s = j0 + sum(first["shift_eV"][s] / MASSES[s] * mf[s] for s in mf)
    assert run(j0s, mf, estimator="green-kubo").L00.value == pytest.approx(first["L00"], rel=1e-10)
    assert gs["L00_range"][0] <= r.L00.value <= gs["L00_range"][1]


def test_default_shifts():
    assert default_shifts(["A", "B"]) == [{"A": 1.0}, {"A": -1.0}, {"B": 1.0}, {"B": -1.0}]
    s = default_shifts(["A"], {"A": -2.0})
    assert s[0] == {"A": 2.0} and {"A": -2.0} in s and len(s) == 2
