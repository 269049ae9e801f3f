"""`pyonsager run --replicas K` under mpirun (issue 12 item 3): K independent trajectories on K
partitions of COMM_WORLD, merged exactly.  Tiny 108-atom LJ liquid (tests/mpi_scripts/
driver_case.py), 2000 production steps: seconds per run."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import yaml

from mpi_run import mpirun

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts"))
from driver_case import write_case  # noqa: E402

import pyonsager  # noqa: E402,F401  (preloads libmpi)
from pyonsager.correlator import OnlineCorrelator  # noqa: E402
from pyonsager.lammps.replicas import SEED_STRIDE, _Progress, replica_seed  # noqa: E402
from pyonsager.multirun import analyze_files, merge_correlators  # noqa: E402

KEYS = ("kappa", "L00", "L01", "L11")
SEED = 1234                                   # driver_case.CONFIG["seed"]


def _yaml(path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _flux_rows(path) -> np.ndarray:
    return np.loadtxt(path, comments="#")


def _files(out: str, k: int) -> list[str]:
    return [os.path.join(out, f"replica-{j}", "fluxes.onsager") for j in range(k)]


def _assert_merged_is_analysis_of_files(out: str, k: int, rtol: float = 1e-10) -> None:
    doc = _yaml(os.path.join(out, "onsager.yaml"))
    ref = analyze_files(_files(out, k), too_few="warn")
    for q in KEYS:
        np.testing.assert_allclose([doc[q]["value"], doc[q]["error"]],
                                   [getattr(ref, q).value, getattr(ref, q).error],
                                   rtol=rtol, atol=0, err_msg=q)
    assert doc["samples"] == sum(f["samples"] for f in doc["input_files"])
    assert doc["replicas"]["count"] == k == doc["estimator"]["parameters"]["independent_runs"]


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("two"))
    cfg = write_case(d)
    out = os.path.join(d, "out")
    text = mpirun(2, "replicas_cli.py", 0, "-", "run", cfg, "--replicas", 2, "--out", out)
    return cfg, out, text


def test_two_replicas_on_two_ranks(two, tmp_path):
    cfg, out, text = two
    assert "2 replicas merged" in text and "exit code 0" in text
    a, b = (_flux_rows(p) for p in _files(out, 2))
    assert a.shape == b.shape == (2000, a.shape[1])
    np.testing.assert_array_equal(a[:, 0], b[:, 0])                  # same steps ...
    assert np.abs(a[:, 2:5] - b[:, 2:5]).max() > 1e-3 * np.abs(a[:, 2:5]).max()  # ... other paths
    docs = [_yaml(os.path.join(out, f"replica-{j}", "onsager.yaml")) for j in range(2)]
    assert [d["replica"]["seed"] for d in docs] == [SEED, SEED + SEED_STRIDE]
    assert [d["replica"]["mpi_ranks"] for d in docs] == [1, 1]
    merged = _yaml(os.path.join(out, "onsager.yaml"))
    assert [m["seed"] for m in merged["replicas"]["members"]] == [SEED, SEED + SEED_STRIDE]
    # sample-weighted mean temperature of the two replicas
    t = [d["temperature"] for d in docs]
    assert merged["temperature"] == pytest.approx(np.mean(t), rel=1e-12)
    _assert_merged_is_analysis_of_files(out, 2)
    # and equal to the command line on the two files
    from pyonsager.cli import main

    assert main(["analyze", *_files(out, 2), "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    cli = _yaml(tmp_path / "a" / "onsager.yaml")
    for q in KEYS:
        np.testing.assert_allclose(merged[q]["value"], cli[q]["value"], rtol=1e-10, atol=0)
        np.testing.assert_allclose(merged[q]["error"], cli[q]["error"], rtol=1e-10, atol=0)


def test_on_the_fly_correlators_merge_to_the_same_correlations(two):
    """Each replica's own on-the-fly correlator (its final checkpoint, step 2000) merged with
    OnlineCorrelator.merge gives the merged correlations and counts (1e-10): the files'
    correlators used for the merge are the runs' correlators."""
    _, out, _ = two
    parts = []
    for j in range(2):
        ck = _yaml(os.path.join(out, f"replica-{j}", "checkpoint.yaml"))
        assert ck["step"] == 2000
        parts.append(OnlineCorrelator.load(os.path.join(out, f"replica-{j}",
                                                        ck["files"]["correlator"])))
    data = merge_correlators(parts).result()
    npz = np.load(os.path.join(out, "onsager.npz"))
    np.testing.assert_array_equal(data.counts, npz["counts"])
    c = npz["correlations"]
    np.testing.assert_allclose(data.correlations, c, rtol=0, atol=1e-10 * np.abs(c).max())
    assert data.nsamples == 4000 and data.segment_weights.sum() == 4000


def test_four_replicas_on_four_ranks(tmp_path):
    cfg = write_case(str(tmp_path), production_steps=1200, equilibration_steps=100,
                     temperature_segment_steps=400, temperature_iterations=3)
    out = str(tmp_path / "out")
    mpirun(4, "replicas_cli.py", 0, "-", "run", cfg, "--replicas", 4, "--out", out)
    rows = [_flux_rows(p)[:, 2:5] for p in _files(out, 4)]
    for i in range(4):
        for j in range(i):
            assert np.abs(rows[i] - rows[j]).max() > 1e-3 * np.abs(rows[j]).max()
    seeds = [_yaml(os.path.join(out, f"replica-{j}", "onsager.yaml"))["replica"]["seed"]
             for j in range(4)]
    assert seeds == [replica_seed(SEED, j) for j in range(4)] == [SEED + SEED_STRIDE * j
                                                                   for j in range(4)]
    _assert_merged_is_analysis_of_files(out, 4)


def test_ranks_not_divisible_by_replicas_is_refused(tmp_path):
    cfg = write_case(str(tmp_path))
    text = mpirun(3, "replicas_cli.py", 2, "-", "run", cfg, "--replicas", 2,
                  "--out", str(tmp_path / "out"))
    assert "divisible by 2" in text and "started 3" in text and "mpirun -np 2" in text
    assert not os.path.exists(tmp_path / "out" / "replica-0")


def test_config_key_and_restart_of_one_replica(two, tmp_path):
    """`replicas: 2` in the config; replica 1 alone is stopped at step 1100 (checkpoint at
    1000) while replica 0 completes; `--restart` continues replica 1 from its own checkpoint:
    both flux files are then byte-identical to the uninterrupted run's."""
    _, ref, _ = two
    cfg = write_case(str(tmp_path), replicas=2)
    out = str(tmp_path / "out")
    text = mpirun(2, "replicas_cli.py", 3, "1:1100", "run", cfg, "--out", out)
    assert "replica 1" in text and "restart continues from step 1000" in text
    assert _yaml(os.path.join(out, "replica-1", "checkpoint.yaml"))["step"] == 1000
    assert _yaml(os.path.join(out, "replica-0", "onsager.yaml"))["partial"] is False
    assert not os.path.exists(os.path.join(out, "onsager.yaml"))
    mpirun(2, "replicas_cli.py", 0, "-", "run", cfg, "--out", out, "--restart")
    for a, b in zip(_files(out, 2), _files(ref, 2)):
        with open(a) as fa, open(b) as fb:
            assert fa.read() == fb.read()
    _assert_merged_is_analysis_of_files(out, 2)


class _FakeSession:
    def __init__(self, last: int, total: int) -> None:
        self.last_step, self.total_steps = last, total


def test_progress_line_shows_all_replicas(tmp_path):
    p = [_Progress(str(tmp_path), k, 3) for k in range(3)]
    assert p[1](_FakeSession(1500, 2000), "pyonsager: step 1500/2000 (75%)") is None
    p[2].write("done")
    line = p[0](_FakeSession(1200, 2000), "pyonsager: step 1200/2000 (60%)  900 steps/s")
    assert line == ("pyonsager: replicas 1/3 done, steps 1200..1500 of 2000 | replica 0: "
                    "step 1200/2000 (60%)  900 steps/s")


def test_replica_seeds_stay_valid_for_lammps():
    assert replica_seed(SEED, 0) == SEED
    big = [replica_seed(899_999_000, k) for k in range(64)]
    assert all(1 <= s < 900_000_000 for s in big) and len(set(big)) == 64


def test_temperature_list_runs_replicas_at_each_temperature(tmp_path):
    cfg = write_case(str(tmp_path), temperature=[300, 500], production_steps=600,
                     equilibration_steps=100, temperature_segment_steps=200,
                     temperature_iterations=2, checkpoint_every=0)
    out = str(tmp_path / "out")
    mpirun(2, "replicas_cli.py", 0, "-", "run", cfg, "--replicas", 2, "--out", out)
    table = _yaml(os.path.join(out, "kappa_T.yaml"))["kappa_T"]
    assert [r["requested"] for r in table] == [300.0, 500.0]
    for r in table:
        tout = os.path.join(out, r["directory"])
        doc = _yaml(os.path.join(tout, "onsager.yaml"))
        assert doc["kappa"] == r["kappa"] and doc["replicas"]["count"] == 2
        _assert_merged_is_analysis_of_files(tout, 2)


# --------------------------------------------------------------------------- ASE sessions

def _ase_session(tmp, seed: int, timestep_fs: float = 5.0, steps: int = 200):
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from ase_models import lj_binary, lj_calculator

    from pyonsager.ase import attach

    atoms = lj_binary(n_cells=2, temperature=150.0, seed=seed)
    atoms.calc = lj_calculator(rc=5.5)
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    session = attach(dyn, every=1, max_lag=0.1, mobile=["Ar", "Kr"], out=str(tmp), batch=64)
    dyn.run(steps)
    return session


def test_ase_sessions_merge_like_their_flux_files(tmp_path):
    from pyonsager.ase import merge_sessions
    from pyonsager.errors import MismatchedRuns

    s1, s2 = _ase_session(tmp_path / "a", 1), _ase_session(tmp_path / "b", 2)
    merged = merge_sessions([s1, s2], out=str(tmp_path / "m"), plots=False)
    ref = analyze_files([s1.file, s2.file], too_few="warn")
    for q in KEYS + ("kappa_k", "kappa_p", "kappa_kp", "delta"):
        np.testing.assert_allclose([getattr(merged, q).value, getattr(merged, q).error],
                                   [getattr(ref, q).value, getattr(ref, q).error],
                                   rtol=1e-10, atol=0, err_msg=q)
    assert merged.samples == s1.nsamples + s2.nsamples == 402 and merged.temperature == pytest.approx(ref.temperature,
                                                                        rel=1e-12)
    doc = _yaml(tmp_path / "m" / "onsager.yaml")
    assert [f["file"] for f in doc["input_files"]] == [s1.file, s2.file]
    # finishing a session afterwards does not change what the merge sees
    s1.finish(out=str(tmp_path / "a"), plots=False)
    again = merge_sessions([s1, s2])
    assert again.kappa.value == pytest.approx(merged.kappa.value, rel=1e-12)
    with pytest.raises(MismatchedRuns, match="time between samples dt 0.004 differs from 0.005"):
        merge_sessions([s1, _ase_session(tmp_path / "c", 3, timestep_fs=4.0, steps=50)])


class _FakeComm:
    def __init__(self, size: int, rank: int = 0) -> None:
        self.size, self.rank = size, rank

    def Get_size(self) -> int:
        return self.size

    def Get_rank(self) -> int:
        return self.rank


@pytest.mark.parametrize("size, k, fix", [(1, 2, "use mpirun -np 2, or --replicas 1"),
                                          (3, 2, "use mpirun -np 2 or -np 4, or --replicas 3"),
                                          (6, 4, "use mpirun -np 4 or -np 8, or --replicas 6")])
def test_split_refuses_ranks_not_divisible(size, k, fix):
    from pyonsager.errors import ConfigError
    from pyonsager.lammps.replicas import split_world

    with pytest.raises(ConfigError, match=f"need a number of MPI ranks divisible by {k}, but "
                                          f"mpirun started {size}: {fix}"):
        split_world(_FakeComm(size), k)


def test_replicas_config_key_is_validated(tmp_path):
    from pyonsager.errors import ConfigError
    from pyonsager.lammps.config import load_config

    assert load_config(write_case(str(tmp_path))).replicas == 1
    assert load_config(write_case(str(tmp_path), replicas=3)).replicas == 3
    assert load_config(write_case(str(tmp_path), replicas=3), replicas=2).replicas == 2
    for bad, msg in ((0, "replicas: must be >= 1"), (2.5, "replicas: must be an integer")):
        with pytest.raises(ConfigError, match=msg):
            load_config(write_case(str(tmp_path), replicas=bad))
    with pytest.raises(ConfigError, match="--replicas must be an integer >= 1, got 0"):
        load_config(write_case(str(tmp_path)), replicas=0)
