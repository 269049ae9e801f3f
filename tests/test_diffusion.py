"""Per-species MSD, diffusion fits and the mobile-species rule (pure functions, no MD)."""
import numpy as np
import pytest

from pyonsager.diffusion import classify_mobile, diffusion_table, fit_diffusion, species_msd


def _moments(dx: np.ndarray, groups: list[np.ndarray]):
    return (np.array([len(g) for g in groups]),
            np.array([np.sum(dx[g] ** 2) for g in groups]),
            np.array([dx[g].sum(axis=0) for g in groups]))


def test_species_msd_ignores_a_species_drifting_as_a_whole():
    rng = np.random.default_rng(3)
    n = 200
    groups = [np.arange(0, 100), np.arange(100, 200)]
    thermal = rng.normal(scale=0.3, size=(n, 3))
    thermal[groups[1]] -= thermal[groups[1]].mean(axis=0)
    drift = np.zeros((n, 3))
    drift[groups[1]] = [2.0, -1.0, 0.5]        # the framework recoils as one block
    msd = species_msd(*_moments(thermal + drift, groups))
    assert msd[1] == pytest.approx(np.mean(np.sum(thermal[groups[1]] ** 2, axis=1)), rel=1e-12)
    # the lab-frame value would include the 5.25 A^2 drift
    assert np.mean(np.sum((thermal + drift)[groups[1]] ** 2, axis=1)) > msd[1] + 5.0


def test_species_msd_equals_direct_formula_and_nan_for_empty_species():
    rng = np.random.default_rng(4)
    dx = rng.normal(size=(50, 3))
    g = [np.arange(0, 20), np.arange(20, 50), np.array([], dtype=int)]
    msd = species_msd(*_moments(dx, g))
    for k in range(2):
        d = dx[g[k]] - dx[g[k]].mean(axis=0)
        assert msd[k] == pytest.approx(np.mean(np.sum(d ** 2, axis=1)), rel=1e-12)
    assert np.isnan(msd[2])


def test_fit_diffusion_recovers_slope_over_sixfold_msd():
    t = np.linspace(0, 100, 401)
    D = 0.37
    msd = 6 * D * t + 2.0 * (1 - np.exp(-t))      # ballistic/caging transient, then linear
    d, err = fit_diffusion(t, msd)
    assert d == pytest.approx(D, rel=1e-6)
    assert err < 1e-6


def test_classify_mobile_rule_and_table():
    assert classify_mobile({"Ag": 3e-9, "I": 2e-11}) == ["Ag"]
    assert classify_mobile({"Na": 5e-9, "Cl": 4e-9}) == ["Na", "Cl"]
    assert classify_mobile({"Nb": 1e-13}) == []                  # a solid: nothing diffuses
    text = diffusion_table({"Ag": (3e-9, 1e-10), "I": (2e-11, 1e-11)}, ["Ag"])
    assert "D(Ag)" in text and "mobile" in text.splitlines()[0]
    assert "framework" in text.splitlines()[1]
