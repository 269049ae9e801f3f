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


# ---------------------------------------------------------------- D in SI (m^2/s), by hand

from types import SimpleNamespace  # noqa: E402

from si_reference import ANGSTROM, FS, PS  # noqa: E402

D_A2_PER_PS = 0.25                         # planted MSD slope / 6, in A^2/ps
D_SI = D_A2_PER_PS * ANGSTROM ** 2 / PS    # 2.5e-9 m^2/s, typed by hand


def _msd_samples(timestep_ps: float):
    steps = np.arange(0, 5001, 50)
    t = steps * timestep_ps
    ag = 6 * D_A2_PER_PS * t + 0.8           # diffusing, with a vibrational offset
    i = 1.2 + 0.0 * t                        # a plateau: the framework
    return steps, np.column_stack([ag, i])


def test_diffusion_unit_factor_against_hand_constants():
    from pyonsager.diffusion import diffusion_unit_factor

    assert diffusion_unit_factor("metal") == pytest.approx(ANGSTROM ** 2 / PS, rel=1e-15)  # 1e-8
    assert diffusion_unit_factor("real") == pytest.approx(ANGSTROM ** 2 / FS, rel=1e-15)   # 1e-5
    assert diffusion_unit_factor("metal") == pytest.approx(1e-8, rel=1e-15)


def test_lammps_tracker_reports_D_in_m2_per_s():
    from pyonsager.lammps.msd import MSDTracker

    tracker = MSDTracker(None, ["Ag", "I"])
    steps, msd = _msd_samples(0.002)
    tracker.origin_step = 0
    tracker.steps = [int(s) for s in steps]
    tracker.values = [row for row in msd]
    d = tracker.diffusion(0.002, "metal")
    assert d["Ag"][0] == pytest.approx(D_SI, rel=1e-9)
    assert abs(d["I"][0]) < 1e-6 * D_SI
    # real units: the same numbers read as A^2 and fs are 1000x larger in m^2/s
    assert tracker.diffusion(0.002, "real")["Ag"][0] == pytest.approx(D_SI * PS / FS, rel=1e-9)


def test_ase_session_reports_D_in_m2_per_s():
    from pyonsager.ase.observer import Session

    steps, msd = _msd_samples(0.002)
    session = object.__new__(Session)               # only the MSD bookkeeping is exercised
    session.msd = SimpleNamespace(steps=[int(s) for s in steps], values=[r for r in msd])
    session.species = ["Ag", "I"]
    session.first_step = 0
    session.timestep = 0.002                         # ps, as attach() stores it
    d = session.diffusion()
    assert d["Ag"][0] == pytest.approx(D_SI, rel=1e-9)


def test_non_positive_D_is_reported_as_zero_within_resolution():
    from pyonsager.diffusion import diffusion_text, species_report

    text = diffusion_table({"Ag": (2.69e-9, 5.8e-11), "I": (-2.34e-12, 5.2e-13)}, ["Ag"])
    ag, i = text.splitlines()
    assert "2.69e-09 +/- 5.8e-11 m^2/s" in ag
    assert "0 within resolution" in i and "framework" in i
    assert not i.split()[1].startswith("-")          # never printed as a negative D
    assert "-2.3e-12" in i                            # the raw fitted slope is kept visible
    assert diffusion_text(0.0, 1e-12).startswith("0 within resolution")
    rep = species_report(["Ag", "I"], [1, 1], [107.8682, 126.90447],
                         {"Ag": (2.69e-9, 5.8e-11), "I": (-2.34e-12, 5.2e-13)}, ["Ag"])
    assert "note" in rep["I"]["diffusion_coefficient"]
    assert "note" not in rep["Ag"]["diffusion_coefficient"]
    assert rep["I"]["diffusion_coefficient"]["value"] == -2.34e-12


def test_plot_msd_leaves_pyplot_and_backend_alone(tmp_path):
    import subprocess
    import sys

    code = f"""
import sys, matplotlib
matplotlib.use("svg")
import numpy as np
from pyonsager.diffusion import MSDSeries, plot_msd
s = MSDSeries(["Ag", "I"], np.arange(5), np.arange(5) * 1.0, np.ones((5, 2)))
plot_msd(s, {str(tmp_path / 'msd.png')!r}, "ps", {{"Ag": (1e-9, 1e-10), "I": (-1e-12, 1e-12)}})
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)          # import the package under test, not the cwd
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "msd.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
