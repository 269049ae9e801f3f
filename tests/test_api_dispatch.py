"""pyonsager.analyze() is a thin dispatcher over analyze_file / analyze_arrays / analyze_series
(issue 11, item 4): the old valid calls give the same numbers as the new functions and as a
Green-Kubo sum written out here, and every option that does not apply to the input kind is
an InputError naming the option, the input kind and what to do instead."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ou import ou_series  # noqa: E402
from si_reference import metal_kappa_per_unit_integral  # noqa: E402

import pyonsager  # noqa: E402
from pyonsager.errors import InputError  # noqa: E402
from pyonsager.fluxes import FluxMetadata, FluxSeries  # noqa: E402
from pyonsager.fluxfile import FluxFileWriter, flux_columns  # noqa: E402

A2 = [[1.0, -0.8], [0.3, 0.7]]
B2 = [[1.0, 0.0], [0.9, 0.5]]
DT, T, V = 0.1, 500.0, 1000.0          # ps, K, A^3
KW = dict(dt=DT, temperature=T, volume=V, units="metal")
CUT = 50                               # cutoff=5.0 ps = 50 samples


@pytest.fixture(scope="module")
def x():
    return ou_series(A2, B2, DT, 20000, 1)           # (N, 2 channels, 3 directions)


@pytest.fixture(scope="module")
def column_file(x, tmp_path_factory):
    """The same series as a LAMMPS fix ave/time file (17 digits: exact round trip)."""
    path = tmp_path_factory.mktemp("col") / "flux.dat"
    with open(path, "w") as f:
        f.write("# TimeStep c_flux[1] c_flux[2] c_flux[3] c_m[1] c_m[2] c_m[3]\n")
        np.savetxt(f, np.column_stack([np.arange(len(x)), x[:, 0], x[:, 1]]), fmt="%.17g")
    return str(path)


@pytest.fixture(scope="module")
def onsager_file(x, tmp_path_factory):
    n = len(x)
    rows = np.column_stack([np.arange(n), np.full(n, T), x[:, 0], x[:, 1], -x[:, 1]])
    header = dict(units="metal", dt=DT, volume=V, species=["Ag", "I"],
                  masses=[107.8682, 126.90447], counts=[8, 8])
    path = tmp_path_factory.mktemp("ons") / "run.onsager"
    with FluxFileWriter(path, header, flux_columns(["Ag", "I"], parts=False)) as w:
        w.write_rows(rows)
    return str(path)


def _hand_green_kubo(x: np.ndarray, cut: int) -> tuple[float, float]:
    """kappa, L00 (W/mK) at the cutoff: trapezoid of the direction-averaged, symmetrised
    unbiased correlations C_ij(k) = sum_t x_i(t+k) x_j(t) / (N - k), written out with loops."""
    n = len(x)
    c = np.empty((cut + 1, 2, 2))
    for k in range(cut + 1):
        c[k] = np.einsum("tid,tjd->ij", x[k:], x[:n - k]) / (n - k) / 3.0
    c = 0.5 * (c + np.swapaxes(c, 1, 2))
    integral = DT * (c.sum(axis=0) - 0.5 * (c[0] + c[cut]))          # (eV A/ps)^2 ps
    pref = metal_kappa_per_unit_integral(V, T)
    kappa = integral[0, 0] - integral[0, 1] ** 2 / integral[1, 1]     # scale free in J_1
    return pref * kappa, pref * integral[0, 0]


def _numbers(r):
    return (r.kappa.value, r.kappa.error, r.L00.value, r.L00.error, r.L01.value, r.L11.value)


# --------------------------------------------------------------------------- same numbers


def test_old_array_call_equals_analyze_arrays_and_hand_green_kubo(x):
    old = pyonsager.analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], species=["Ag"],
                            masses=[107.8682], cutoff=5.0, estimator="green-kubo", **KW)
    new = pyonsager.analyze_arrays(x[:, 0], [x[:, 1]], species=["Ag"], masses=[107.8682],
                                   cutoff=5.0, estimator="green-kubo", **KW)
    assert _numbers(old) == _numbers(new)
    kappa, l00 = _hand_green_kubo(x, CUT)
    assert old.kappa.value == pytest.approx(kappa, rel=1e-10)
    assert old.L00.value == pytest.approx(l00, rel=1e-10)


def test_old_proxy_spelling_is_the_new_one(x):
    old = pyonsager.analyze(energy_flux=x[:, 0], mass_flux=[0.01 * x[:, 1]],
                            mass_flux_unit="A/ps", **KW)
    new = pyonsager.analyze_arrays(x[:, 0], [0.01 * x[:, 1]], mass_flux_proxy_unit="A/ps", **KW)
    assert _numbers(old) == _numbers(new)
    assert "A/ps" in new.L11.unit and "A/ps" in new.L01.unit


def test_old_file_calls_equal_analyze_file_and_the_arrays(x, column_file):
    keys = dict(energy_flux="flux", mass_flux=["Ag=c_m"])
    old = pyonsager.analyze(column_file, cutoff=5.0, estimator="green-kubo", mass_flux_units="mass", **keys, **KW)
    new = pyonsager.analyze_file(column_file, cutoff=5.0, estimator="green-kubo", mass_flux_column_unit="mass", **keys,
                                 **KW)
    arrays = pyonsager.analyze_arrays(x[:, 0], {"Ag": x[:, 1]}, cutoff=5.0, estimator="green-kubo", **KW)
    assert _numbers(old) == _numbers(new)
    np.testing.assert_allclose(_numbers(old), _numbers(arrays), rtol=1e-12)
    assert old.L11.unit == arrays.L11.unit == "kg s m^-3 K^-1"     # true mass fluxes: SI
    kappa, _ = _hand_green_kubo(x, CUT)
    assert old.kappa.value == pytest.approx(kappa, rel=1e-10)
    # the default: the columns are proxies; kappa is the same, L11 is in the columns' unit
    proxy = pyonsager.analyze(column_file, cutoff=5.0, estimator="green-kubo", **keys, **KW)
    assert proxy.kappa.value == pytest.approx(kappa, rel=1e-10)
    assert "column unit" in proxy.L11.unit


def test_old_flux_file_call_equals_analyze_file(onsager_file):
    old = pyonsager.analyze(onsager_file, max_lag=20.0, masses=[107.8682, 126.90447],
                            overrides={"volume": 2000.0})
    new = pyonsager.analyze_file(onsager_file, max_lag=20.0, masses=[107.8682, 126.90447],
                                 overrides={"volume": 2000.0})
    assert _numbers(old) == _numbers(new)
    assert old.overrides == {"volume": {"file": V, "used": 2000.0}}


def test_series_call_equals_analyze_series(x):
    md = FluxMetadata(units="metal", dt=DT, volume=V, temperature=T, species=["Ag"])
    s = FluxSeries(energy_flux=x[:, 0], mass_flux={"Ag": x[:, 1]}, metadata=md)
    assert _numbers(pyonsager.analyze(s, cutoff=5.0)) == \
        _numbers(pyonsager.analyze_series(s, cutoff=5.0))


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("option, value, words", [
    ("species", ["Ag", "I"], "species= applies to arrays only; a flux file names its species "
                             "in its header"),
    ("counts", [8, 8], "counts= applies to arrays only; a flux file records the atom counts"),
    ("mass_flux_unit", "A/ps", "mass_flux_unit= applies to arrays only; for a column file say "
                               "what its mass-flux columns are with mass_flux_units="),
    ("charge_flux", np.zeros((10, 3)), "charge_flux= applies to arrays only"),
])
def test_array_options_are_refused_with_a_path(onsager_file, option, value, words):
    with pytest.raises(InputError) as e:
        pyonsager.analyze(onsager_file, **{option: value})
    assert words in str(e.value)


@pytest.mark.parametrize("option, value, words", [
    ("temperature_column", "c_temp", "temperature_column= applies to files only; with arrays "
                                     "pass temperature="),
    ("mass_flux_units", "mass", "mass_flux_units= applies to files only; with arrays pass "
                                "mass_flux_unit='A/ps' when the mass fluxes are proxies"),
    ("mass_flux_units", "column", "mass_flux_units= applies to files only"),
    ("workers", 2, "workers= applies to files only; it sets the file reader's threads"),
    ("overrides", {"dt": 0.2}, "overrides= applies to files only; overrides replace facts "
                               "recorded in a flux file"),
])
def test_file_options_are_refused_with_arrays(x, option, value, words):
    with pytest.raises(InputError) as e:
        pyonsager.analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], **{option: value}, **KW)
    assert words in str(e.value)


def test_column_key_without_a_file_and_array_with_a_file(x, column_file):
    with pytest.raises(InputError, match=r"energy_flux='flux' is a column KEY.*pass the file "
                                         r"path too"):
        pyonsager.analyze(energy_flux="flux", **KW)
    with pytest.raises(InputError, match=r"mass_flux= names a file's columns.*leave out the "
                                         r"path"):
        pyonsager.analyze(column_file, energy_flux="flux", mass_flux=[x[:, 1]], **KW)
    with pytest.raises(InputError, match=r"energy_flux= names a file's columns"):
        pyonsager.analyze(column_file, energy_flux=x[:, 0], **KW)


def test_a_flux_series_takes_analysis_options_only(x):
    md = FluxMetadata(units="metal", dt=DT, volume=V, temperature=T, species=["Ag"])
    s = FluxSeries(energy_flux=x[:, 0], mass_flux={"Ag": x[:, 1]}, metadata=md)
    with pytest.raises(InputError, match=r"dt= does not apply to a FluxSeries.*with_metadata"):
        pyonsager.analyze(s, dt=0.2)


def test_half_a_decomposition_and_doubly_named_species_are_refused(x):
    with pytest.raises(InputError, match="energy_flux_kinetic= alone does not decompose L00: "
                                         "pass both"):
        pyonsager.analyze(energy_flux=x[:, 0], energy_flux_kinetic=x[:, 0], **KW)
    with pytest.raises(InputError, match="mapping .* names them itself"):
        pyonsager.analyze(energy_flux=x[:, 0], mass_flux={"Ag": x[:, 1]}, species=["I"], **KW)
    with pytest.raises(InputError, match="no mass_flux= is given"):
        pyonsager.analyze(energy_flux=x[:, 0], species=["Ag"], **KW)


def test_files_does_not_combine_with_a_path_or_arrays(x, onsager_file):
    with pytest.raises(InputError, match=r"give either files=\[...\] or one path, not both"):
        pyonsager.analyze(onsager_file, files=[onsager_file, onsager_file])
    with pytest.raises(InputError, match="energy_flux= with an array .* files= analyses flux "
                                         "files"):
        pyonsager.analyze(files=[onsager_file], energy_flux=x[:, 0], **KW)
    with pytest.raises(InputError, match=r"pass a file path, files=\[...\] or energy_flux="):
        pyonsager.analyze(dt=DT)


def test_refusals_are_value_errors_for_old_scripts(x):
    """InputError derives from ValueError: ``except ValueError`` in a user's script still works."""
    with pytest.raises(ValueError):
        pyonsager.analyze(energy_flux=x[:, 0], temperature_column="c_temp", **KW)


def test_column_options_are_refused_for_a_flux_file(onsager_file, capsys):
    with pytest.raises(InputError) as e:
        pyonsager.analyze(onsager_file, energy_flux="flux", temperature_column="c_t")
    assert ("is a pyonsager flux file, which names its own columns: --energy-flux, "
            "--temperature-column (in Python: energy_flux=, temperature_column=) apply to "
            "column files only; leave them out") in str(e.value)
    from pyonsager import cli

    code = cli.main(["analyze", onsager_file, "--energy-flux", "flux", "--no-plots"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.strip().endswith("names its own columns: --energy-flux applies to column "
                                "files only; leave it out"), err
