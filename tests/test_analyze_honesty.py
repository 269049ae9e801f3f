"""`pyonsager analyze` never reports a number silently when the input cannot support it
(issue 9): kappa = L00 without mass fluxes is flagged, options that contradict a flux file's
header are errors unless marked as overrides (and then recorded), f* above Nyquist is an
error, and each plot labels its own estimator's number."""
from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from ou import ou_series
from pyonsager import cli
from pyonsager.fluxfile import FluxFileWriter, flux_columns

DT = 0.01          # ps
A1 = [[5.0]]       # 1/ps: tau = 0.2 ps = 20 samples; the minimum is 640 tau = 12800 samples
N = 20000


def _run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _error(code, err):
    assert code == 2 and "Traceback" not in err, err
    lines = [l for l in err.splitlines() if ": error:" in l]
    assert len(lines) == 1, err
    return lines[0]


def _yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def heat_dat(tmp_path_factory):
    """A LAMMPS fix ave/time file with the energy flux only (like heat.dat of the issue)."""
    j = 40.0 * ou_series(A1, [[1.0]], DT, N, seed=7)[:, 0]
    path = tmp_path_factory.mktemp("heat") / "heat.dat"
    with open(path, "w") as f:
        f.write("# Time-averaged data for fix j\n# TimeStep c_flux[1] c_flux[2] c_flux[3]\n")
        np.savetxt(f, np.column_stack([np.arange(N) * 5, j]), fmt="%.17g")
    return str(path)


HEAT_ARGS = ["--units", "metal", "--dt", str(DT), "--volume", "9745.49", "--temperature", "550",
             "--energy-flux", "flux"]


def test_kappa_without_mass_fluxes_is_flagged_in_table_yaml_and_plot(heat_dat, tmp_path,
                                                                     capsys, monkeypatch):
    from matplotlib.figure import Figure

    figures = {}
    real_savefig = Figure.savefig

    def capture(fig, path, *a, **k):
        figures[os.path.basename(str(path))] = fig
        return real_savefig(fig, path, *a, **k)

    monkeypatch.setattr(Figure, "savefig", capture)
    out = tmp_path / "o"
    code, stdout, err = _run(["analyze", heat_dat] + HEAT_ARGS + ["--out", str(out)], capsys)
    assert code == 0, err
    warn = [l for l in stdout.splitlines() if l.startswith("WARNING")]
    assert any("kappa is L00" in l and "one diffusing component" in l for l in warn), stdout
    assert "--single-component" in stdout
    assert "delta  0 +/- 0" not in stdout and "not measured" in stdout
    doc = _yaml(out / "onsager.yaml")
    assert any("kappa is L00" in w for w in doc["warnings"])
    assert "delta" not in doc                     # nothing measured: kappa = L00 by construction
    assert doc["kappa"]["value"] == doc["L00"]["value"]
    fig = figures["kappa_vs_L00.png"]
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "no mass fluxes" in texts and "one diffusing component" in texts


def test_single_component_stated_by_the_user(heat_dat, tmp_path, capsys):
    import pyonsager

    out = tmp_path / "o"
    code, stdout, err = _run(["analyze", heat_dat] + HEAT_ARGS +
                             ["--single-component", "--out", str(out), "--no-plots"], capsys)
    assert code == 0, err
    assert "WARNING" not in stdout
    doc = _yaml(out / "onsager.yaml")
    assert doc["warnings"] == []
    assert doc["species_selection"]["single_component"] == "stated by the user"
    r = pyonsager.analyze(heat_dat, energy_flux="flux", units="metal", dt=DT, volume=9745.49,
                          temperature=550.0, single_component=True)
    assert r.warnings == [] and r.kappa.value == doc["kappa"]["value"]


# --------------------------------------------------------------------------- header facts


@pytest.fixture(scope="module")
def flux_file(tmp_path_factory):
    x = ou_series([[5.0, 1.0], [0.5, 3.0]], [[1.0, 0.0], [0.5, 0.8]], DT, N, seed=8)
    j0, ja = 40.0 * x[:, 0], 3.0 * x[:, 1]
    n = N
    temps = 550.0 + np.random.default_rng(1).normal(0, 5, n)
    rows = np.column_stack([np.arange(n) * 5, temps, j0, ja, -ja])
    header = dict(units="metal", dt=DT, volume=9745.491456, species=["Ag", "I"],
                  masses=[107.8682, 126.90447], counts=[128, 128])
    path = tmp_path_factory.mktemp("ff") / "run.onsager"
    with FluxFileWriter(path, header, flux_columns(["Ag", "I"], parts=False)) as w:
        w.write_rows(rows)
    return str(path), float(temps.mean())


@pytest.mark.parametrize("option, key", [
    (["--units", "real"], "units"), (["--dt", "0.5"], "dt"), (["--volume", "5"], "volume"),
    (["--temperature", "10"], "temperature")])
def test_contradicting_option_is_an_error_naming_the_override(flux_file, capsys, option, key):
    code, _, err = _run(["analyze", flux_file[0], "--no-plots", "--out", "/nonexistent"] + option,
                        capsys)
    line = _error(code, err)
    assert f"--override {key}={option[1]}" in line and "contradicts" in line
    assert "in Python" not in line                  # the command line shows its own spelling


def test_agreeing_options_and_recorded_overrides(flux_file, tmp_path, capsys):
    path, tmean = flux_file
    base = tmp_path / "base"
    code, _, err = _run(["analyze", path, "--dt", str(DT), "--volume", "9745.49",
                         "--temperature", f"{tmean:.2f}", "--units", "metal", "--no-plots",
                         "--out", str(base)], capsys)
    assert code == 0, err                           # the same facts, typed rounded: no error
    ref = _yaml(base / "onsager.yaml")
    assert "overrides" not in ref
    over = tmp_path / "over"
    code, stdout, err = _run(["analyze", path, "--override", "dt=0.02", "--override",
                              "volume=4872.745728", "--no-plots", "--out", str(over)], capsys)
    assert code == 0, err
    assert "OVERRIDE   dt = 0.02 (the flux file records 0.01)" in stdout
    doc = _yaml(over / "onsager.yaml")
    assert doc["overrides"] == {"dt": {"file": DT, "used": 0.02},
                                "volume": {"file": 9745.491456, "used": 4872.745728}}
    # kappa = dt / (V k_B T^2) x (the same sums over lags): x2 from dt, x2 from 1/V
    assert doc["kappa"]["value"] == pytest.approx(4 * ref["kappa"]["value"], rel=1e-12)
    assert doc["input_units"]["dt"] == 0.02


def test_override_errors(flux_file, heat_dat, capsys):
    code, _, err = _run(["analyze", flux_file[0], "--override", "max_lag=3"], capsys)
    assert "cannot override 'max_lag'" in _error(code, err)
    code, _, err = _run(["analyze", flux_file[0], "--override", "dt"], capsys)
    assert "KEY=VALUE" in _error(code, err)
    code, _, err = _run(["analyze", heat_dat] + HEAT_ARGS + ["--override", "dt=0.02"], capsys)
    assert "column file" in _error(code, err)


def test_python_api_checks_the_same_facts(flux_file):
    import pyonsager

    with pytest.raises(ValueError, match=r"overrides=\{'dt': 0.5\}"):
        pyonsager.analyze(flux_file[0], dt=0.5)
    r = pyonsager.analyze(flux_file[0], overrides={"temperature": 600.0})
    assert r.temperature == 600.0
    assert r.overrides["temperature"]["used"] == 600.0
    assert r.overrides["temperature"]["file"] == pytest.approx(flux_file[1], rel=1e-12)


# --------------------------------------------------------------------------- cepstral and plots


def test_fstar_above_nyquist_is_exit_2(flux_file, capsys):
    # dt = 0.01 ps: Nyquist 50 THz
    code, _, err = _run(["analyze", flux_file[0], "--estimator", "cepstral", "--fstar", "80",
                         "--no-plots"], capsys)
    line = _error(code, err)
    assert "above the Nyquist frequency" in line and "50 THz" in line


def test_each_plot_labels_its_own_estimators_kappa(flux_file, tmp_path, monkeypatch):
    import pyonsager
    from matplotlib.figure import Figure

    figures = {}
    real_savefig = Figure.savefig

    def capture(fig, path, *a, **k):
        figures[os.path.basename(str(path))] = fig
        return real_savefig(fig, path, *a, **k)

    monkeypatch.setattr(Figure, "savefig", capture)
    r = pyonsager.analyze(flux_file[0], estimator="cepstral")
    gk = r.estimator["parameters"]["green_kubo"]["kappa"]
    assert abs(gk["value"] - r.kappa.value) > 0.001 * r.kappa.value    # two different numbers
    r.write(str(tmp_path), plots=True)

    def labels(name):
        return " ".join(figures[name].axes[0].get_legend_handles_labels()[1])

    gk_text = labels("kappa_vs_L00.png")
    assert f"Green-Kubo kappa = {gk['value']:.3g}" in gk_text
    assert f"{r.kappa.value:.3g}" not in gk_text
    assert f"cepstral kappa = {r.kappa.value:.3g}" in labels("spectrum.png")


def test_kappa_T_plot_names_its_quantity(tmp_path):
    from pyonsager.plots import kappa_temperature_figure, plot_kappa_temperature

    rows = [{"temperature": 548.0, "kappa": {"value": 0.2, "error": 0.01},
             "L00": {"value": 0.4, "error": 0.03}},
            {"temperature": 702.0, "kappa": {"value": 0.25, "error": 0.01},
             "L00": {"value": 0.5, "error": 0.03}}]
    ax = kappa_temperature_figure(rows).axes[0]
    assert "thermal conductivity" in ax.get_ylabel() and "W m" in ax.get_ylabel()
    assert "T (K)" in ax.get_xlabel()
    path = plot_kappa_temperature(rows, str(tmp_path / "kappa_T.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
