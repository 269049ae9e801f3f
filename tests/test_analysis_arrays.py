"""analyze() on arrays: outputs, exact invariances, species selection and clear errors."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ou import ou_exact_integral, ou_series  # noqa: E402
from si_reference import metal_kappa_per_unit_integral  # noqa: E402

from pyonsager.analysis import analyze, analyze_correlator, analyze_series  # noqa: E402
from pyonsager.correlator import OnlineCorrelator  # noqa: E402
from pyonsager.fluxes import FluxMetadata  # noqa: E402

A2 = [[1.0, -0.8], [0.3, 0.7]]
B2 = [[1.0, 0.0], [0.9, 0.5]]
A3 = [[1.2, -0.5, 0.3], [0.4, 0.9, 0.2], [0.1, -0.3, 1.5]]
B3 = [[1.0, 0.0, 0.0], [0.7, 0.6, 0.0], [0.3, 0.2, 0.8]]
KW = dict(dt=0.1, temperature=500.0, volume=1000.0, units="metal")


@pytest.fixture(scope="module")
def two():
    return ou_series(A2, B2, 0.1, 20000, 1)


@pytest.fixture(scope="module")
def three():
    return ou_series(A3, B3, 0.1, 20000, 2)


def rel(a, b):
    return abs(a - b) / abs(b)


def test_two_components_outputs(two, tmp_path):
    x = two
    r = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], species=["Ag"], masses=[107.8682],
                estimator="green-kubo",
                site_energies={"Ag": -2.5}, **KW)
    assert r.L01 is not None and r.L11 is not None
    assert r.kappa.unit == "W m^-1 K^-1" and r.L01.unit == "kg m^-1 s^-1 K^-1"
    assert r.L11.unit == "kg s m^-3 K^-1"
    # kappa = L00 - L01^2/L11 at the cutoff
    assert r.kappa.value == pytest.approx(r.L00.value - r.L01.value ** 2 / r.L11.value, rel=1e-10)
    assert r.delta.value == pytest.approx((r.L00.value - r.kappa.value) / r.kappa.value, rel=1e-12)
    assert r.criterion["unit"] == "eV^2 kg^-1 s^-1 m^3 K"
    assert r.criterion["value"] == pytest.approx(2.5 ** 2 / r.L11.value, rel=1e-12)
    assert "empirical" in r.criterion["label"]
    paths = r.write(str(tmp_path / "out"), plots=False)
    d = yaml.safe_load(open(paths[0]))
    for key in ("kappa", "L00", "L01", "L11"):
        assert set(d[key]) == {"value", "error", "unit"}
        assert isinstance(d[key]["value"], float)
    for key in ("estimator", "temperature", "volume", "samples", "dt", "delta", "criterion",
                "gauge_sensitivity", "warnings", "species_selection"):
        assert key in d
    assert d["estimator"]["name"] == "green-kubo" and d["estimator"]["parameters"]["cutoff_time"] > 0
    assert d["samples"] == 20000 and d["dt"] == pytest.approx(1e-13)
    assert d["volume"] == pytest.approx(1000e-30)
    z = np.load(paths[1])
    assert z["kappa_t"].shape == z["time"].shape == z["L00_err_t"].shape
    assert z["correlations"].shape[:3] == (3, 2, 2)


def test_three_components_matrix_and_exact_value(three):
    x = three
    r = analyze(energy_flux=x[:, 0], mass_flux={"Li": x[:, 1], "Na": x[:, 2]}, **KW)
    om = r.onsager_matrix
    assert om["names"] == ["energy_flux", "mass_flux_Li", "mass_flux_Na"]
    assert np.array(om["values"]).shape == (3, 3) and np.array(om["errors"]).shape == (3, 3)
    assert r.L01 is None and "onsager_matrix" in r.to_dict()
    ex = ou_exact_integral(A3, B3)
    ex = 0.5 * (ex + ex.T)
    pref = metal_kappa_per_unit_integral(1000.0, 500.0)      # hand-written constants
    kex = pref / np.linalg.inv(ex)[0, 0]
    assert abs(r.kappa.value - kex) < 4 * r.kappa.error


def test_decomposition_sums_to_L00(two):
    x = two
    rng = np.random.default_rng(0)
    jk = 0.3 * x[:, 0] + 0.2 * rng.standard_normal((len(x), 3))
    jp = x[:, 0] - jk
    r = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], energy_flux_kinetic=jk,
                energy_flux_potential=jp, estimator="green-kubo", **KW)
    total = r.kappa_k.value + r.kappa_p.value + 2 * r.kappa_kp.value
    assert total == pytest.approx(r.L00.value, rel=1e-10)
    r0 = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], estimator="green-kubo", **KW)
    assert r.kappa.value == pytest.approx(r0.kappa.value, rel=1e-10)


def test_kappa_invariant_under_energy_flux_shift(three):
    x = three
    base = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1], x[:, 2]], **KW)
    for a in ([3.0, -7.0], [-0.5, 120.0]):
        j0 = x[:, 0] + a[0] * x[:, 1] + a[1] * x[:, 2]
        r = analyze(energy_flux=j0, mass_flux=[x[:, 1], x[:, 2]], **KW)
        assert rel(r.kappa.value, base.kappa.value) <= 1e-10
        assert rel(r.kappa.error, base.kappa.error) <= 1e-8
        assert abs(r.L00.value - base.L00.value) > 3 * base.L00.error


def test_kappa_invariant_under_mass_flux_rescaling(three):
    x = three
    base = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1], x[:, 2]], **KW)
    r = analyze(energy_flux=x[:, 0], mass_flux=[3.7 * x[:, 1], -0.02 * x[:, 2]], **KW)
    assert rel(r.kappa.value, base.kappa.value) <= 1e-10


def test_kappa_invariant_under_dropped_species(three):
    x = three
    third = -(x[:, 1] + x[:, 2])                      # total momentum zero
    mf = {"Li": x[:, 1], "Na": x[:, 2], "Cl": third}
    masses = [6.94, 22.99, 35.45]
    ref = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1], x[:, 2]], **KW)
    seen = []
    for drop in ("auto", "Li", "Na", "Cl"):
        r = analyze(energy_flux=x[:, 0], mass_flux=mf, masses=masses, drop=drop, **KW)
        assert rel(r.kappa.value, ref.kappa.value) <= 1e-10
        seen.append(r.species_selection["dropped"])
        assert r.species_selection["momentum_conserved"] is True
    assert seen == ["Cl", "Li", "Na", "Cl"]         # auto: the heaviest


def test_nondiffusing_species_detected_and_excluded():
    n = 40000
    x = ou_series(A2, B2, 0.1, n + 1, 3)
    rng = np.random.default_rng(4)
    y = ou_series([[0.5]], [[1.0]], 0.1, n + 1, 5)[:, 0]     # bounded position
    frame = 20.0 * np.diff(y, axis=0)                      # its velocity: no zero-frequency part
    li = x[1:, 1]
    mf = {"Li": li, "P": frame, "S": -(li + frame)}
    r = analyze(energy_flux=x[1:, 0], mass_flux=mf, masses=[6.94, 30.97, 32.06], **KW)
    assert r.species_selection["dropped"] == "S"
    assert r.species_selection["nondiffusing"] == ["P"]
    assert r.species_selection["independent"] == ["Li"]
    assert any("non-diffusing" in w for w in r.warnings)
    rm = analyze(energy_flux=x[1:, 0], mass_flux=mf, masses=[6.94, 30.97, 32.06], mobile=["Li"], **KW)
    assert rel(rm.kappa.value, r.kappa.value) <= 1e-12
    assert not rm.warnings
    # forcing the framework in: never a silent kappa from a (long-time) singular matrix
    rf = analyze(energy_flux=x[1:, 0], mass_flux=mf, masses=[6.94, 30.97, 32.06],
                 mobile=["Li", "P"], **KW)
    assert rf.species_selection["suspect"] and any("near-singular" in w for w in rf.warnings)
    del rng


def test_proxy_mass_flux_units(two):
    x = two
    r = analyze(energy_flux=x[:, 0], mass_flux=[0.01 * x[:, 1]], mass_flux_unit="A/ps", **KW)
    r0 = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], **KW)
    assert rel(r.kappa.value, r0.kappa.value) <= 1e-10
    assert "A/ps" in r.L01.unit and "A/ps" in r.L11.unit


def test_correlator_path_equals_arrays_path(three):
    x = three
    r = analyze(energy_flux=x[:, 0], mass_flux={"Li": x[:, 1], "Na": x[:, 2]}, max_lag=40.0,
                estimator="green-kubo", **KW)
    c = OnlineCorrelator(3, 400)
    for start in range(0, len(x), 999):
        c.add(x[start:start + 999])
    md = FluxMetadata(units="metal", dt=0.1, volume=1000.0, temperature=500.0, species=["Li", "Na"])
    rc = analyze_correlator(c, md)
    assert rel(rc.kappa.value, r.kappa.value) <= 1e-10
    assert rel(rc.kappa.error, r.kappa.error) <= 1e-6
    with pytest.raises(ValueError, match="green-kubo"):
        analyze_correlator(c, md, estimator="cepstral")


def test_user_cutoff(two):
    x = two
    r = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], cutoff=5.0, estimator="green-kubo", **KW)
    assert r.estimator["parameters"]["cutoff_time"] == pytest.approx(5e-12)
    assert r.estimator["parameters"]["cutoff_rule"] == "user"


def test_cepstral_estimator(two):
    import pyonsager.cepstral  # noqa: F401
    x = two
    r = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], estimator="cepstral", **KW)
    assert r.estimator["name"] == "cepstral"
    assert r.estimator["parameters"]["fstar"] > 0
    ex = ou_exact_integral(A2, B2)
    ex = 0.5 * (ex + ex.T)
    pref = metal_kappa_per_unit_integral(1000.0, 500.0)      # hand-written constants
    assert abs(r.kappa.value - pref / np.linalg.inv(ex)[0, 0]) < 4 * r.kappa.error
    assert abs(r.L00.value - pref * ex[0, 0]) < 4 * r.L00.error
    assert "frequencies" in r.arrays


def test_errors_are_clear(two):
    x = two
    with pytest.raises(ValueError, match="too few samples"):
        analyze(energy_flux=x[:100, 0], mass_flux=[x[:100, 1]], max_lag=5.0, **KW)
    bad = x[:, 0].copy()
    bad[1234, 1] = np.nan
    with pytest.raises(ValueError, match="row 1234"):
        analyze(energy_flux=bad, mass_flux=[x[:, 1]], **KW)
    with pytest.raises(ValueError, match="linearly dependent"):
        analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1], x[:, 1]], **KW)
    with pytest.raises(ValueError, match="sum to zero"):
        analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1], -x[:, 1] + 0.0], drop=None, **KW)
    with pytest.raises(ValueError, match="units"):
        analyze(energy_flux=x[:, 0], dt=0.1, temperature=300.0, volume=10.0)
    with pytest.raises(ValueError, match="temperature"):
        analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], dt=0.1, temperature=-1.0, volume=10.0,
                units="metal")
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        analyze(energy_flux=x[:, 0, :2], **KW)


def test_single_component(two):
    r = analyze(energy_flux=two[:, 0], **KW)
    assert r.kappa.value == pytest.approx(r.L00.value, rel=1e-14)
    assert r.L01 is None


def test_series_entry_point(two):
    from pyonsager.fluxes import FluxSeries
    md = FluxMetadata(units="metal", dt=0.1, volume=1000.0, temperature=500.0, species=["Ag"])
    s = FluxSeries(energy_flux=two[:, 0], mass_flux={"Ag": two[:, 1]}, metadata=md)
    r1 = analyze_series(s)
    r2 = analyze(s)
    assert r1.kappa.value == r2.kappa.value


def test_site_energies_from_flux_file_columns(two, tmp_path):
    """U of the criterion and the gauge shifts: the time mean of the file's site_energy_*
    columns unless given; the same numbers through the correlator path via metadata."""
    from pyonsager.fluxfile import FluxFileWriter, flux_columns

    x = two
    n = len(x)
    rng = np.random.default_rng(3)
    site = -2.5 + 0.01 * rng.standard_normal(n)
    rows = np.column_stack([np.arange(n), 500.0 + rng.standard_normal(n), x[:, 0], x[:, 1], site])
    header = dict(units="metal", dt=0.1, volume=1000.0, species=["Ag"], masses=[107.8682])
    with FluxFileWriter(tmp_path / "se.onsager", header,
                        flux_columns(["Ag"], parts=False, site_energy=True)) as w:
        w.write_rows(rows)
    with FluxFileWriter(tmp_path / "old.onsager", header, flux_columns(["Ag"], parts=False)) as w:
        w.write_rows(rows[:, :-1])
    u = float(np.mean(site))
    r = analyze(str(tmp_path / "se.onsager"), max_lag=40.0, estimator="green-kubo")
    assert r.criterion["site_energy_source"] == "flux file"
    assert r.criterion["site_energy_eV"] == {"Ag": u}
    assert r.criterion["value"] == pytest.approx(u ** 2 / r.L11.value, rel=1e-12)
    assert r.gauge_sensitivity["site_energy_source"] == "flux file"
    assert {"Ag": u} in [row["shift_eV"] for row in r.gauge_sensitivity["shifts"]]
    # user-given site energies win over the columns
    ru = analyze(str(tmp_path / "se.onsager"), max_lag=40.0, site_energies={"Ag": -1.0},
                 estimator="green-kubo")
    assert ru.criterion["site_energy_source"] == "user"
    assert ru.criterion["value"] == pytest.approx(1.0 / ru.L11.value, rel=1e-12)
    # a file without the columns: no criterion, default +-1 eV gauge shifts
    old = analyze(str(tmp_path / "old.onsager"), max_lag=40.0, estimator="green-kubo")
    assert old.criterion is None and "site_energy_source" not in old.gauge_sensitivity
    assert old.kappa.value == r.kappa.value
    # the drivers' path: running mean in FluxMetadata.site_energies
    c = OnlineCorrelator(2, 400)
    c.add(x)
    md = FluxMetadata(units="metal", dt=0.1, volume=1000.0, temperature=float(np.mean(rows[:, 1])),
                      species=["Ag"], masses=[107.8682], site_energies={"Ag": u})
    rc = analyze_correlator(c, md)
    assert rc.criterion["site_energy_source"] == "flux file"
    assert rc.criterion["value"] == pytest.approx(r.criterion["value"], rel=1e-10)


def test_green_kubo_automatic_cutoff_flagged_in_a_crystal():
    # both mass fluxes are velocities of bounded coordinates (a crystal's sublattices): no
    # species diffuses, kappa = L00, and the automatic Green-Kubo cutoff is flagged; a cutoff
    # given by the user or a spectral estimator is not
    from pyonsager.analysis import CRYSTAL_CUTOFF, NO_DIFFUSING

    n = 40000
    x = ou_series(A2, B2, 0.1, n + 1, 3)
    y = ou_series([[0.5]], [[1.0]], 0.1, n + 1, 5)[:, 0]
    frame = 20.0 * np.diff(y, axis=0)
    mf = {"In": frame, "P": -frame}
    kw = dict(energy_flux=x[1:, 0], mass_flux=mf, masses=[114.8, 31.0], max_lag=20.0, **KW)
    r = analyze(estimator="green-kubo", **kw)
    assert r.species_selection["independent"] == []
    assert NO_DIFFUSING in r.warnings and CRYSTAL_CUTOFF in r.warnings
    assert rel(r.kappa.value, r.L00.value) <= 1e-12
    rc = analyze(estimator="green-kubo", cutoff=5.0, **kw)
    assert NO_DIFFUSING in rc.warnings and CRYSTAL_CUTOFF not in rc.warnings
    rl = analyze(estimator="likelihood", **kw)
    assert NO_DIFFUSING in rl.warnings and CRYSTAL_CUTOFF not in rl.warnings
    # the same series with a diffusing species: nothing to flag
    rd = analyze(estimator="green-kubo", energy_flux=x[1:, 0],
                 mass_flux={"In": x[1:, 1], "P": -x[1:, 1]}, masses=[114.8, 31.0], max_lag=20.0,
                 **KW)
    assert rd.species_selection["independent"] and CRYSTAL_CUTOFF not in rd.warnings


def test_gauge_report_says_it_comes_from_the_green_kubo_matrix(two):
    # with a spectral estimator the gauge shifts are still those of the Green-Kubo matrix
    # (they need every mass channel's cross terms): the report says so, and its L00 is
    # Green-Kubo's, not the likelihood L00 printed above it
    x = two
    kw = dict(energy_flux=x[:, 0], mass_flux={"Li": x[:, 1], "Cl": -x[:, 1]},
              masses=[6.94, 35.45], max_lag=40.0, **KW)
    gk = analyze(estimator="green-kubo", **kw)
    lk = analyze(estimator="likelihood", **kw)
    assert "matrix" not in gk.gauge_sensitivity
    assert lk.gauge_sensitivity["matrix"] == "green-kubo"
    assert lk.gauge_sensitivity["L00"] == pytest.approx(gk.L00.value, rel=1e-12)
    assert lk.gauge_sensitivity["shifts"] == gk.gauge_sensitivity["shifts"]
    assert abs(lk.L00.value - gk.L00.value) > 1e-6 * abs(gk.L00.value)
    assert f"(Green-Kubo matrix, L00 = {gk.L00.value:.4g})" in lk.table()
