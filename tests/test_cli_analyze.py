"""`pyonsager analyze` (and the argument parsing of run/demo/plugin-path).

Bad input must end in one line on stderr naming the fix and exit status 2, never a
traceback; good input must give the same numbers as the Python API.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from pyonsager import cli
from pyonsager.fluxfile import FluxFileWriter, flux_columns

COLS = ["TimeStep", "c_J[1]", "c_J[2]", "c_J[3]", "v_vA[1]", "v_vA[2]", "v_vA[3]",
        "v_vB[1]", "v_vB[2]", "v_vB[3]", "c_T"]


def _synthetic(n: int, seed: int = 3) -> np.ndarray:
    """(n, 3 channels, 3 directions): an energy flux coupled to two mass fluxes, B = -A."""
    from ou import ou_series

    A = np.array([[1.0, 0.3], [0.3, 0.5]])           # 1/ps: correlation times ~1-2 ps
    B = np.array([[1.0, 0.0], [0.4, 0.8]])
    x = ou_series(A, B, dt=0.05, n=n, seed=seed)      # (n, 2, 3)
    j0 = 40.0 * x[:, 0]
    jA = 3.0 * x[:, 1]
    return np.stack([j0, jA, -jA], axis=1)


def _column_file(path, fluxes: np.ndarray, temperature=None) -> str:
    n = len(fluxes)
    temps = 500.0 + np.zeros(n) if temperature is None else temperature
    data = np.column_stack([np.arange(n) * 10, fluxes.reshape(n, 9), temps])
    with open(path, "w") as f:
        f.write("# Time-averaged data for fix j\n# " + " ".join(COLS) + "\n")
        np.savetxt(f, data, fmt="%.17g")
    return os.fspath(path)


COLUMN_ARGS = ["--units", "metal", "--dt", "0.05", "--volume", "8000", "--temperature", "500",
               "--energy-flux", "J", "--mass-flux", "A=vA"]


def _run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(code: int, err: str) -> str:
    assert code == 2
    lines = [l for l in err.splitlines() if ": error:" in l]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --------------------------------------------------------------------------- parsing


def test_run_and_demo_options_parse():
    p = cli.build_parser()
    a = p.parse_args(["run", "c.yaml", "--out", "d", "--restart", "--production-steps", "50"])
    assert (a.command, a.config, a.out, a.restart, a.production_steps) == \
        ("run", "c.yaml", "d", True, 50)
    a = p.parse_args(["demo", "--production-steps", "10"])
    assert (a.command, a.out, a.restart, a.production_steps) == ("demo", None, False, 10)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["demo", "c.yaml"])
    assert e.value.code == 2


def test_analyze_defaults_and_lists():
    a = cli.build_parser().parse_args(["analyze", "f", "--mass-flux", "a", "b",
                                       "--mass-flux", "c", "--mobile", "Li", "--drop", "P"])
    assert a.mass_flux == ["a", "b", "c"] and a.out == "onsager"
    # estimator unset: green-kubo, or the one a flux file's analysis line records
    assert a.estimator is None and a.mobile == ["Li"] and a.drop == "P"
    assert cli.reader_options(a)["mass_flux"] == ["a", "b", "c"]


def test_temperature_options_exclusive(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["analyze", "f", "--temperature", "3", "--temperature-column", "T"])
    assert e.value.code == 2


def test_plugin_path(capsys, monkeypatch):
    import pyonsager._plugin as plugin

    monkeypatch.setattr(plugin, "plugin_path", lambda: "/x/onsagerplugin.so")
    code, out, _ = _run(["plugin-path"], capsys)
    assert code == 0 and out.strip() == "/x/onsagerplugin.so"


# --------------------------------------------------------------------------- bad input


def test_missing_key(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(200))
    code, _, err = _run(["analyze", path] + COLUMN_ARGS[:-2] + ["--mass-flux", "vC"], capsys)
    line = _error_line(code, err)
    assert "no column or key 'vC'" in line and "v_vA[1..3]" in line and "c_T" in line


def test_missing_file(tmp_path, capsys):
    code, _, err = _run(["analyze", str(tmp_path / "none.txt")] + COLUMN_ARGS, capsys)
    assert "no such file" in _error_line(code, err)


def test_nan_row(tmp_path, capsys):
    fluxes = _synthetic(200)
    fluxes[57, 1, 2] = np.inf
    path = _column_file(tmp_path / "a.txt", fluxes)
    code, _, err = _run(["analyze", path] + COLUMN_ARGS, capsys)
    line = _error_line(code, err)
    assert "data row 58 (step 570)" in line and "v_vA[3]" in line


@pytest.mark.parametrize("change, message", [
    (["--volume", "-3"], "volume must be positive"),
    (["--temperature", "0"], "temperature must be positive"),
    (["--dt", "0"], "must be positive"),
])
def test_non_positive(tmp_path, capsys, change, message):
    path = _column_file(tmp_path / "a.txt", _synthetic(200))
    code, _, err = _run(["analyze", path] + COLUMN_ARGS + change, capsys)
    assert message in _error_line(code, err)


def test_non_positive_temperature_column(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(200), temperature=np.zeros(200))
    args = [a for a in COLUMN_ARGS if a not in ("--temperature", "500")]
    code, _, err = _run(["analyze", path] + args + ["--temperature-column", "T"], capsys)
    assert "not a positive temperature" in _error_line(code, err)


def test_missing_options(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(200))
    code, _, err = _run(["analyze", path, "--units", "metal", "--energy-flux", "J"], capsys)
    assert "pass --dt" in _error_line(code, err)
    code, _, err = _run(["analyze", path], capsys)
    assert "--energy-flux KEY" in _error_line(code, err)


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    path = _column_file(tmp_path / "a.txt", _synthetic(50))
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "pyonsager.cli", "analyze", path,
                           "--units", "metal", "--dt", "0.05", "--volume", "8000",
                           "--temperature", "500", "--energy-flux", "nope"],
                          capture_output=True, text=True, env=env, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("pyonsager analyze: error: no column or key 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- end to end


def _yaml(path):
    import yaml

    with open(path) as f:
        return yaml.safe_load(f)


def _compare(doc: dict, result, rel: float = 1e-12) -> None:
    for name in ("kappa", "L00", "L01", "L11", "delta"):
        q = getattr(result, name)
        assert doc[name]["unit"] == q.unit
        assert doc[name]["value"] == pytest.approx(q.value, rel=rel, abs=0)
        assert doc[name]["error"] == pytest.approx(q.error, rel=rel, abs=0)


def test_cli_equals_python_api_on_columns(tmp_path, capsys):
    import pyonsager

    fluxes = _synthetic(20000)
    path = _column_file(tmp_path / "a.txt", fluxes)
    out = tmp_path / "out"
    code, stdout, err = _run(["analyze", path] + COLUMN_ARGS +
                             ["--mass-flux", "B=vB", "--out", str(out)], capsys)
    assert code == 0, err
    assert "kappa" in stdout and "L01" in stdout and "column unit" in stdout
    assert {"onsager.yaml", "onsager.npz", "kappa_vs_L00.png"} <= set(os.listdir(out))
    ref = pyonsager.analyze(energy_flux=fluxes[:, 0], mass_flux={"A": fluxes[:, 1],
                                                                 "B": fluxes[:, 2]},
                            dt=0.05, temperature=500.0, volume=8000.0, units="metal",
                            mass_flux_unit="column unit")
    doc = _yaml(out / "onsager.yaml")
    _compare(doc, ref)
    assert doc["samples"] == 20000 and doc["temperature"] == 500.0
    # the default estimator, with the Green-Kubo estimate it replaced kept as a cross-check
    assert doc["estimator"]["name"] == ref.estimator["name"] == "likelihood"
    assert doc["estimator"]["parameters"]["cutoff_best_THz"] > 0
    assert "cutoff_time" in doc["estimator"]["parameters"]["green_kubo"]
    npz = np.load(out / "onsager.npz")
    np.testing.assert_allclose(npz["kappa_t"], ref.arrays["kappa_t"], rtol=1e-12)


def test_cli_on_our_flux_file_needs_only_file(tmp_path, capsys):
    import pyonsager

    fluxes = _synthetic(20000)
    n = len(fluxes)
    cols = flux_columns(["A", "B"], parts=False)
    rows = np.column_stack([np.arange(n) * 10, np.full(n, 500.0), fluxes.reshape(n, 9)])
    header = dict(units="metal", dt=0.05, volume=8000.0, species=["A", "B"],
                  masses=[6.94, 30.97], counts=[10, 10])
    with FluxFileWriter(tmp_path / "run.onsager", header, cols) as w:
        w.write_rows(rows)
    out = tmp_path / "o"
    code, stdout, err = _run(["analyze", str(tmp_path / "run.onsager"), "--out", str(out),
                              "--no-plots"], capsys)
    assert code == 0, err
    assert "column unit" not in stdout
    ref = pyonsager.analyze(energy_flux=fluxes[:, 0], mass_flux=[fluxes[:, 1], fluxes[:, 2]],
                            species=["A", "B"], masses=[6.94, 30.97], counts=[10, 10],
                            dt=0.05, temperature=500.0, volume=8000.0, units="metal")
    _compare(_yaml(out / "onsager.yaml"), ref)
    assert not any(p.endswith(".png") for p in os.listdir(out))


def test_truncated_file_warns_and_analyzes(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(20000))
    text = open(path).read()
    open(path, "w").write(text[:-25])
    code, stdout, err = _run(["analyze", path] + COLUMN_ARGS + ["--out", str(tmp_path / "o"),
                                                                "--no-plots"], capsys)
    assert code == 0, err
    assert "warning:" in err and "last line was incomplete" in err
    assert "19999 complete rows" in err
    assert _yaml(tmp_path / "o" / "onsager.yaml")["samples"] == 19999


def test_too_few_samples(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(300))
    code, _, err = _run(["analyze", path] + COLUMN_ARGS + ["--max-lag", "10"], capsys)
    line = _error_line(code, err)
    assert "too few samples" in line and "need at least 804 samples" in line
    assert "a smaller --max-lag" in line


def test_identical_mass_fluxes(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(2000))
    code, _, err = _run(["analyze", path] + COLUMN_ARGS + ["--mass-flux", "A2=vA"], capsys)
    line = _error_line(code, err)
    assert "linearly dependent" in line and "--mobile NAME" in line


def test_all_species_without_drop(tmp_path, capsys):
    path = _column_file(tmp_path / "a.txt", _synthetic(2000))
    code, _, err = _run(["analyze", path] + COLUMN_ARGS + ["--mass-flux", "B=vB",
                                                           "--drop", "none"], capsys)
    line = _error_line(code, err)
    assert "drop one species" in line and "--drop auto or --drop NAME" in line


def test_cli_options_reach_the_analysis(tmp_path, capsys):
    """--estimator, --fstar, --cutoff, --mobile and the energy-flux parts, against the API."""
    import pyonsager

    fluxes = _synthetic(8000)
    n = len(fluxes)
    kin = 0.3 * fluxes[:, 0] + 0.1 * fluxes[:, 1]
    pot = fluxes[:, 0] - kin
    cols = COLS[:-1] + ["c_K[1]", "c_K[2]", "c_K[3]", "c_P[1]", "c_P[2]", "c_P[3]", "c_T"]
    data = np.column_stack([np.arange(n), fluxes.reshape(n, 9), kin, pot, np.full(n, 500.0)])
    path = tmp_path / "p.txt"
    with open(path, "w") as f:
        f.write("# " + " ".join(cols) + "\n")
        np.savetxt(f, data, fmt="%.17g")
    out = tmp_path / "o"
    options = ["--estimator", "cepstral", "--fstar", "1.5", "--cutoff", "4", "--mobile", "A",
               "--energy-flux-kinetic", "K", "--energy-flux-potential", "P",
               "--mass-flux-units", "mass"]
    code, stdout, err = _run(["analyze", str(path)] + COLUMN_ARGS + ["--mass-flux", "B=vB",
                             "--out", str(out)] + options, capsys)
    assert code == 0, err
    ref = pyonsager.analyze(energy_flux=fluxes[:, 0], mass_flux={"A": fluxes[:, 1],
                                                                 "B": fluxes[:, 2]},
                            energy_flux_kinetic=kin, energy_flux_potential=pot,
                            dt=0.05, temperature=500.0, volume=8000.0, units="metal",
                            estimator="cepstral", fstar=1.5, cutoff=4.0, mobile=["A"])
    doc = _yaml(out / "onsager.yaml")
    _compare(doc, ref)
    assert doc["estimator"]["name"] == "cepstral"
    assert doc["kappa_k"]["value"] == pytest.approx(ref.kappa_k.value, rel=1e-12)
    assert doc["L01"]["unit"] == "kg m^-1 s^-1 K^-1"         # --mass-flux-units mass: SI
    assert "spectrum.png" in os.listdir(out)
