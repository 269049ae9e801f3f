"""Self-describing runs: the flux file records the run's analysis settings (header line
``analysis:``), so ``pyonsager analyze FILE`` with no options reproduces the run's own
onsager.yaml; given options override and are listed in ``analysis_overrides``.

Minimum samples: a driver reports a short run flagged (too_few="warn"), analyze refuses a
short file by default; the drivers record their policy (``too_few: warn``) in the
``analysis:`` line, so the short runs here (attach loop, ASE) are reproduced with no option
at all.  Small 108-atom LJ systems, seconds each.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from test_lammps_driver import (KEYS, SCRIPTS, env, load, mpirun,  # noqa: E402  (sys.path)
                               sigterm_after_checkpoint)
from driver_case import LJ_INPUT, write_case  # noqa: E402

import pyonsager  # noqa: E402  (preloads libmpi)
from pyonsager.fluxfile import read_header  # noqa: E402
from pyonsager.errors import TooFewSamples  # noqa: E402

MOBILE = ["Ar", "Kr"]
LONG = 4400      # samples: > 80 cutoffs of at most max_lag = 0.25 ps / 5 fs = 50 samples


def cli_analyze(path: str, out: str, *options: str) -> dict:
    """`pyonsager analyze FILE --out OUT --no-plots [options]` in a subprocess; its yaml."""
    proc = subprocess.run([sys.executable, "-m", "pyonsager.cli", "analyze", path, "--out", out,
                           "--no-plots", *options], capture_output=True, text=True,
                          timeout=300, env=env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return load(out)


def assert_same_numbers(run_doc: dict, again: dict, rtol: float = 1e-10) -> None:
    """kappa, L00, L01, L11, the kinetic/potential decomposition and delta: value and error."""
    keys = [k for k in KEYS if k in run_doc]
    assert keys == [k for k in KEYS if k in again]
    for k in keys:
        for part in ("value", "error"):
            np.testing.assert_allclose(again[k][part], run_doc[k][part], rtol=rtol, atol=0,
                                       err_msg=f"{k} {part}")


def mobile_of(doc: dict) -> list[str]:
    return [s for s, v in doc["species"].items() if v["mobile"]]


# --------------------------------------------------------------------------- pyonsager run

@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    from pyonsager.lammps import run

    d = tmp_path_factory.mktemp("run1")
    cfg = write_case(str(d), mobile=MOBILE, production_steps=LONG)
    run(cfg, out=str(d / "out"))
    return cfg, str(d / "out")


def test_run_one_rank_reproduced_by_analyze_without_options(one_rank, tmp_path):
    _, out = one_rank
    path = os.path.join(out, "fluxes.onsager")
    # the header says what the run used (config: max_lag 0.25 ps, mobile Ar Kr, default likelihood)
    assert read_header(path)["analysis"] == {"max_lag": 0.25, "estimator": "likelihood",
                                             "mobile": ["Ar", "Kr"], "too_few": "warn"}
    doc = load(out)
    assert {"kappa", "L00", "L01", "L11", "kappa_k", "kappa_p", "kappa_kp"} <= set(doc)
    again = cli_analyze(path, str(tmp_path / "again"))
    assert_same_numbers(doc, again)
    assert "analysis_overrides" not in again and "analysis_overrides" not in doc
    assert again["species_selection"] == doc["species_selection"]


def test_given_option_overrides_and_is_listed(one_rank, tmp_path):
    _, out = one_rank
    path = os.path.join(out, "fluxes.onsager")
    doc = load(out)
    again = cli_analyze(path, str(tmp_path / "lag"), "--max-lag", "0.2", "--mobile", "Ar", "Kr")
    # --mobile equal to the recorded one is no override; the shorter max lag is
    assert again["analysis_overrides"] == {"max_lag": {"file": 0.25, "used": 0.2}}
    # max_lag is a Green-Kubo setting: it moves the Green-Kubo cross-check, not the spectral fit
    gk = "green_kubo"
    assert (again["estimator"]["parameters"][gk]["kappa"]["value"]
            != doc["estimator"]["parameters"][gk]["kappa"]["value"])
    # the same max lag as the file: nothing overridden, the run's numbers
    same = cli_analyze(path, str(tmp_path / "same"), "--max-lag", "0.25")
    assert "analysis_overrides" not in same
    assert_same_numbers(doc, same)
    # in Python too, and the estimator is an ordinary option (no override flag)
    r = pyonsager.analyze(path, estimator="cepstral")
    assert r.analysis_overrides == {"estimator": {"file": "likelihood", "used": "cepstral"}}
    assert r.estimator["name"] == "cepstral"


@pytest.mark.mpi
def test_run_two_ranks_reproduced_by_analyze_without_options(tmp_path):
    cfg = write_case(str(tmp_path), mobile=MOBILE, production_steps=LONG)
    out = str(tmp_path / "out")
    mpirun(2, "driver_run.py", cfg, out)
    doc = load(out)
    assert doc["run"]["mpi_ranks"] == 2
    assert_same_numbers(doc, cli_analyze(os.path.join(out, "fluxes.onsager"),
                                         str(tmp_path / "again")))


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_sigterm_restart_reproduced_by_analyze_without_options(tmp_path, nprocs):
    """Killed by SIGTERM after a checkpoint (with 2 ranks: SIGTERM to mpirun, which forwards
    it), continued with --restart on as many ranks: the spliced flux file still records the
    settings and re-analyses to the final onsager.yaml."""
    cfg = write_case(str(tmp_path), mobile=MOBILE, production_steps=30000, checkpoint_every=1000,
                     equilibration_steps=0)
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "pyonsager.cli", "run", cfg, "--out", out]
    if nprocs > 1:
        cmd = [os.path.join(os.path.dirname(sys.executable), "mpirun"), "-np", str(nprocs)] + cmd
    ck = os.path.join(out, "checkpoint.yaml")
    sigterm_after_checkpoint(cmd, ck, 2000, str(tmp_path))
    partial = load(out)
    assert partial["partial"] is True
    step = yaml.safe_load(open(ck))["step"]
    proc = subprocess.run(cmd + ["--restart", "--production-steps", str(step + LONG)],
                          capture_output=True, text=True, timeout=300, env=env(),
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = os.path.join(out, "fluxes.onsager")
    with open(path) as fh:
        lines = fh.read().splitlines()
    assert sum(line.startswith("# analysis:") for line in lines) == 1
    assert read_header(path)["analysis"] == {"max_lag": 0.25, "estimator": "likelihood",
                                             "mobile": ["Ar", "Kr"], "too_few": "warn"}
    doc = load(out)
    assert doc["partial"] is False and doc["run"]["samples"] == step + LONG
    assert doc["run"]["mpi_ranks"] == nprocs
    assert_same_numbers(doc, cli_analyze(path, str(tmp_path / "again")))


# --------------------------------------------------------------------------- attach / plain fix

def _lj(timestep: float = 0.005):
    from mpi4py import MPI  # noqa: F401
    from lammps import lammps

    from pyonsager._plugin import load_plugin

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    lmp.commands_string(LJ_INPUT + f"timestep {timestep}\n")
    load_plugin(lmp)
    lmp.commands_string("""
compute pe all pe/atom
compute stress all centroid/stress/atom NULL virial
compute flux all onsager pe stress species Ar Kr
velocity all create 400 4928459 mom yes rot no
fix 1 all nve
""")
    return lmp


def test_attach_on_user_lammps_mobile_from_msd(tmp_path):
    """attach() without mobile=: the species the MSD decides at finish() are written into the
    file's analysis line, so the file alone reproduces the run."""
    lmp = _lj()
    try:
        session = pyonsager.attach(lmp, compute="flux", every=1, max_lag=0.25,
                                   out=str(tmp_path / "out"), progress=False)
        lmp.command(f"run {LONG}")
        session.finish(out=str(tmp_path / "out"))
    finally:
        lmp.close()
    out = str(tmp_path / "out")
    doc = load(out)
    path = os.path.join(out, "fluxes.onsager")
    rec = read_header(path)["analysis"]
    assert rec["max_lag"] == 0.25 and rec["estimator"] == "likelihood"
    assert rec["mobile"] == mobile_of(doc) == session.mobile_used
    assert_same_numbers(doc, cli_analyze(path, str(tmp_path / "again")))


def test_short_attach_run_reanalysed_with_no_options(tmp_path):
    """The attach loop of the driver tests (400 samples, flagged short): the recorded policy
    too_few: warn reproduces it with no option, from Python and from the CLI."""
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "driver_attach.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=env(), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = str(tmp_path / "out")
    doc = load(out)
    r = pyonsager.analyze(os.path.join(out, "fluxes.onsager"))
    again = r.to_dict()
    assert_same_numbers(doc, again)
    assert r.analysis_overrides == {}
    assert any("too few samples" in w for w in r.warnings)
    assert_same_numbers(doc, cli_analyze(os.path.join(out, "fluxes.onsager"),
                                         str(tmp_path / "again")))
    # asking for the strict policy is an override, and refuses the short run
    with pytest.raises(TooFewSamples):
        pyonsager.analyze(os.path.join(out, "fluxes.onsager"), too_few="error")


def test_plain_fix_analysis_keyword(tmp_path):
    """A plain-LAMMPS `fix onsager ... analysis "{...}"` writes the mapping as the header line
    and analyze takes it as its defaults; a malformed value is refused naming the keyword."""
    path = str(tmp_path / "plain.onsager")
    lmp = _lj()
    try:
        lmp.command(f'fix f all onsager flux 1 file "{path}" '
                    'analysis "{max_lag: 0.2, mobile: [Ar], cutoff: 0.1}"')
        lmp.command(f"run {LONG}")
        lmp.command("unfix f")
        with pytest.raises(Exception, match="analysis must be one quoted YAML flow mapping"):
            lmp.command(f'fix g all onsager flux 1 file "{tmp_path / "bad.onsager"}" '
                        'analysis "max_lag: 0.2"')
    finally:
        lmp.close()
    assert read_header(path)["analysis"] == {"max_lag": 0.2, "mobile": ["Ar"], "cutoff": 0.1}
    r = pyonsager.analyze(path)
    explicit = pyonsager.analyze(path, max_lag=0.2, mobile=["Ar"], cutoff=0.1)
    assert r.kappa.value == explicit.kappa.value and r.L11.value == explicit.L11.value
    assert r.species_selection["immobile_by_user"] == ["Kr"]
    assert r.analysis_overrides == {} and explicit.analysis_overrides == {}
    # the recorded cutoff is used (not the automatic rule): 0.1 ps = 20 samples of 5 fs, by the
    # Green-Kubo estimate the default (likelihood) result carries as its cross-check
    assert r.estimator["name"] == "likelihood"
    params = r.estimator["parameters"]["green_kubo"]
    np.testing.assert_allclose(params["cutoff_time"], 0.1e-12, rtol=1e-9)
    assert params["max_lag_time"] == pytest.approx(0.2e-12, rel=1e-12)


# --------------------------------------------------------------------------- ASE observer

def test_ase_observer_reproduced_by_analyze(tmp_path):
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from ase_models import lj_binary, lj_calculator

    from pyonsager.ase import attach

    atoms = lj_binary(n_cells=2, temperature=150.0)
    atoms.calc = lj_calculator(rc=5.5)
    dyn = VelocityVerlet(atoms, timestep=5.0 * units.fs)
    session = attach(dyn, every=1, max_lag=0.1, mobile=MOBILE, out=str(tmp_path / "run"),
                     batch=64)
    dyn.run(200)
    session.finish(out=str(tmp_path / "run"), plots=False)
    path = str(tmp_path / "run" / "fluxes.onsager")
    rec = read_header(path)["analysis"]
    assert rec == {"max_lag": pytest.approx(0.1, rel=1e-12), "estimator": "likelihood",
                   "mobile": MOBILE, "too_few": "warn"}
    doc = load(str(tmp_path / "run"))
    r = pyonsager.analyze(path)     # 201 samples: a short run, flagged (recorded policy)
    assert "L11" in doc
    assert_same_numbers(doc, r.to_dict())
