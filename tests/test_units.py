"""Unit conversions (pyonsager.units) against hand-written SI values."""
from __future__ import annotations

import math

import pytest

from pyonsager import units as U


def test_constants_codata():
    assert U.K_B == 1.380649e-23
    assert U.EV == 1.602176634e-19
    assert U.N_A == 6.02214076e23
    assert U.KCAL_PER_MOL == pytest.approx(6.947695e-21, rel=1e-6)


def test_metal_factors():
    assert U.energy_flux("metal") == pytest.approx(1.602176634e-19 * 1e-10 / 1e-12, rel=1e-15)
    assert U.mass_flux("metal") == pytest.approx(1e-3 / 6.02214076e23 * 1e-10 / 1e-12, rel=1e-15)
    assert U.time("metal") == 1e-12
    assert U.volume("metal") == pytest.approx(1e-30, rel=1e-15)
    assert U.energy_flux("ase") == U.energy_flux("metal")


def test_real_factors():
    assert U.energy_flux("real") == pytest.approx(4184 / 6.02214076e23 * 1e-10 / 1e-15, rel=1e-15)
    assert U.mass_flux("real") == pytest.approx(1e-3 / 6.02214076e23 * 1e5, rel=1e-15)
    assert U.time("real") == 1e-15


def test_prefactor_formula():
    # L = dt / (V k_B T^2) * sum: metal, dt = 0.01 ps, V = 1000 A^3, T = 500 K
    p = U.onsager_prefactor("metal", 1000.0, 500.0, 0.01)
    assert p == pytest.approx(0.01e-12 / (1000e-30 * 1.380649e-23 * 500.0 ** 2), rel=1e-14)


def test_kappa_units_consistency():
    # (eV A/ps)^2 * ps / (A^3 k_B K^2) is W/(m K): one unit of integral at V=1 A^3, T=1 K
    val = U.energy_flux("metal") ** 2 * U.onsager_prefactor("metal", 1.0, 1.0, 1.0)
    assert val == pytest.approx((1.602176634e-17) ** 2 * 1e-12 / (1e-30 * 1.380649e-23), rel=1e-14)
    assert math.isfinite(val)


def test_bad_units_and_arguments():
    with pytest.raises(ValueError, match="unknown unit system"):
        U.energy_flux("lj")
    with pytest.raises(ValueError):
        U.onsager_prefactor("metal", -1.0, 300.0, 1.0)


def test_coefficient_units():
    assert U.coefficient_unit("energy", "energy") == "W m^-1 K^-1"
    assert U.coefficient_unit("energy", "mass") == "kg m^-1 s^-1 K^-1"
    assert U.coefficient_unit("mass", "mass") == "kg s m^-3 K^-1"
    assert "A/ps" in U.coefficient_unit("energy", "mass", "A/ps")
