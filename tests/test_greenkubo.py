"""Green-Kubo: Schur complement, cutoff rule, jackknife, and OU series with known answers."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ou import ou_exact_correlation, ou_exact_integral, ou_series  # noqa: E402

from si_reference import metal_kappa_per_unit_integral  # noqa: E402
from pyonsager.analysis import analyze  # noqa: E402
from pyonsager.greenkubo import (cutoff_index, extend_for_drift, group_segments,  # noqa: E402
                                 jackknife, schur_complement, unexplained_fractions)

T, V, DT = 500.0, 1000.0, 0.1          # K, A^3, ps (metal)
PREF = metal_kappa_per_unit_integral(V, T)     # hand-written constants (si_reference)


def test_schur_complement_is_inverse_element():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4, 4))
    L = a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(4)
    np.testing.assert_allclose(schur_complement(L), 1 / np.linalg.inv(L)[:, 0, 0], rtol=1e-12)
    np.testing.assert_allclose(schur_complement(L[:, :2, :2]),
                               L[:, 0, 0] - L[:, 0, 1] ** 2 / L[:, 1, 1], rtol=1e-12)
    assert schur_complement(L[:, :1, :1]).shape == (5,)
    Z = L.copy()
    Z[2, 1:, 1:] = 0.0                     # singular mass block -> NaN, others unaffected
    s = schur_complement(Z)
    assert np.isnan(s[2]) and np.all(np.isfinite(np.delete(s, 2)))


def test_unexplained_fractions():
    M = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])   # rows 0, 1 dependent
    r = unexplained_fractions(M + 1e-12 * np.eye(3))
    assert r[0] < 1e-9 and r[1] < 1e-9 and r[2] == pytest.approx(1.0)
    # scale free
    D = np.diag([3.0, 0.1, 7.0])
    np.testing.assert_allclose(unexplained_fractions(D @ (M + 0.1 * np.eye(3)) @ D),
                               unexplained_fractions(M + 0.1 * np.eye(3)), rtol=1e-12)


def test_cutoff_rule_exponential():
    # kappa(t) = 1 - exp(-k/tau): window rule gives k ~ window * tau, bias ~ exp(-window)
    tau = 20.0
    k = np.arange(2000)
    kap = 1 - np.exp(-k / tau)
    idx, found = cutoff_index(kap, 1 / tau, 8.0)
    assert found and 7.5 * tau <= idx <= 8.5 * tau
    assert 1 - kap[idx] < 1e-3
    idx2, found2 = cutoff_index(kap[:50], 1 / tau, 8.0)
    assert not found2 and idx2 == 49


def test_drift_extension():
    k = np.arange(1000)
    kap = 1 - 0.5 * np.exp(-k / 10) - 0.5 * np.exp(-k / 50)    # slow tail
    err = np.full(1000, 1e-3)
    idx, conv = extend_for_drift(kap, err, 80)
    assert conv and idx > 80 and abs(kap[min(2 * idx, 999)] - kap[idx]) <= 2.5e-3
    idx, conv = extend_for_drift(kap, np.full(1000, 1.0), 80)
    assert conv and idx == 80


def test_jackknife_linear_is_standard_error():
    rng = np.random.default_rng(1)
    I = rng.standard_normal((10, 3, 1, 1, 4))
    w = np.ones(10)
    e = jackknife(I, w, lambda m: m[..., 0, 0])
    flat = I.reshape(30, 4)
    np.testing.assert_allclose(e, flat.std(axis=0, ddof=1) / np.sqrt(30), rtol=1e-12)


def test_group_segments_preserves_weighted_mean():
    rng = np.random.default_rng(2)
    I = rng.standard_normal((40, 3, 2, 2, 5))
    w = rng.integers(50, 100, 40).astype(float)
    g, gw = group_segments(I, w, min_length=500)
    assert gw.sum() == w.sum() and 8 <= len(gw) < 40
    np.testing.assert_allclose(np.tensordot(gw, g, axes=1), np.tensordot(w, I, axes=1), rtol=1e-12)


def _ou_statistics(A, B, seeds, n):
    A, B = np.asarray(A, float), np.asarray(B, float)
    ex = ou_exact_integral(A, B)
    ex = 0.5 * (ex + ex.T)
    kex, lex = PREF * schur_complement(ex), PREF * ex[0, 0]
    out = []
    for s in seeds:
        x = ou_series(A, B, DT, n, s)
        r = analyze(energy_flux=x[:, 0], mass_flux=[x[:, i] for i in range(1, len(A))], dt=DT,
                    temperature=T, volume=V, units="metal")
        assert not r.warnings, r.warnings
        out.append((r.kappa.value, r.kappa.error, r.L00.value, r.L00.error))
    k, ke, l, le = np.array(out).T
    return (k, ke, kex), (l, le, lex)


OU_CASES = {
    # complex eigenvalues (oscillating correlations), strong heat-mass coupling: kappa ~ L00/6
    "two": ([[1.0, -0.8], [0.3, 0.7]], [[1.0, 0.0], [0.9, 0.5]]),
    "three": ([[1.2, -0.5, 0.3], [0.4, 0.9, 0.2], [0.1, -0.3, 1.5]],
              [[1.0, 0.0, 0.0], [0.7, 0.6, 0.0], [0.3, 0.2, 0.8]]),
}


@pytest.mark.parametrize("case", sorted(OU_CASES))
def test_ou_kappa_and_L00_unbiased_with_honest_errors(case):
    A, B = OU_CASES[case]
    for values, errors, exact in _ou_statistics(A, B, range(30), 20000):
        se = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - exact) <= 2 * se, (values.mean(), exact, se)
        z = (values - exact) / errors
        assert 0.7 <= z.std(ddof=1) <= 1.4, z.std(ddof=1)


def test_ou_exact_correlation_matches_generator():
    A, B = OU_CASES["two"]
    x = ou_series(A, B, DT, 200000, 5)
    from pyonsager.correlation import correlation_matrix
    c = correlation_matrix(x, 10).mean(axis=0)
    ex = ou_exact_correlation(A, B, np.arange(11) * DT).transpose(1, 2, 0)
    assert np.max(np.abs(c - ex)) < 0.02
