"""compute/fix onsager at 2 MPI ranks (spawned with mpirun) against 1 rank and LAMMPS."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
sys.path.insert(0, SCRIPTS)
import plugin_systems as ps  # noqa: E402
from mpi_run import mpirun  # noqa: E402

pytestmark = pytest.mark.mpi

KINDS = ["morse", "uf3", "ionic"]
TOL = 1e-12



@pytest.fixture(scope="module")
def states(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpi_states")
    return {k: ps.build_state(k, str(d / f"{k}.data")) for k in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_two_ranks_equal_heat_flux_and_one_rank(states, kind, tmp_path):
    out = tmp_path / "r.json"
    mpirun(2, "plugin_mpi_fluxes.py", kind, states[kind], out)
    r2 = {k: np.asarray(v) if isinstance(v, list) and k != "species" else v
          for k, v in json.load(open(out)).items()}
    assert r2["nprocs"] == 2
    fl, hf = r2["onsager"], r2["heatflux"]
    assert ps.relerr(fl[0:3], hf[0:3]) <= TOL
    assert ps.relerr(fl[3:6], hf[3:6]) <= TOL
    assert ps.relerr(fl[0:3], r2["numpy_j0"]) <= TOL
    ns = len(r2["species"])
    mass = fl[9 : 9 + 3 * ns].reshape(ns, 3)
    for k in range(ns):
        assert ps.relerr(mass[k], r2["numpy_mass_flux"][k]) <= TOL
    assert ps.relerr(mass.sum(axis=0), r2["numpy_momentum"]) <= TOL

    # same atoms on one rank: only the order of the sums differs
    r1 = ps.evaluate(kind, states[kind])
    for a, b in [(0, 3), (3, 6), (6, 9), (9, fl.size)]:
        assert ps.relerr(fl[a:b], r1["onsager"][a:b]) <= TOL


def test_two_ranks_fix_file_and_callbacks(states, tmp_path):
    mpirun(2, "plugin_mpi_fix.py", states["morse"], tmp_path)
    from test_plugin_fix import read_ave_time, read_flux_file

    header, columns, rows = read_flux_file(tmp_path / "f.onsager")
    assert len(columns) == rows.shape[1] == 19
    assert columns[-2:] == ["site_energy_Al", "site_energy_Cu"]
    np.testing.assert_array_equal(rows[:, 0], np.arange(5, 41, 5))
    ref = read_ave_time(tmp_path / "at.txt")
    ref = ref[np.isin(ref[:, 0], rows[:, 0])]
    assert np.max(np.abs(rows[:, 2:17] - ref[:, 1:16])) <= 1e-12 * np.max(np.abs(ref[:, 1:16]))
    assert np.max(np.abs(rows[:, 2:5] - ref[:, 16:19])) <= 1e-12 * np.max(np.abs(ref[:, 16:19]))
    for rank in range(2):
        cb = json.load(open(tmp_path / f"callback_{rank}.json"))
        assert cb["nprocs"] == 2
        assert [len(b) for b in cb["batches"]] == [3, 3, 2]    # 8 rows, the last 2 at post_run
        np.testing.assert_array_equal(np.vstack(cb["batches"]), rows)
        # site energies: the last row of each batch was sampled on the step of the callback,
        # where compute pe/atom (gathered over both ranks) holds the same per-atom energies
        last = np.array([b[-1] for b in cb["batches"]])
        pe = np.array(cb["pe_means"])
        assert pe.shape == (3, 2) and np.all(pe < 0)
        assert np.max(np.abs(last[:, 17:] - pe)) <= 1e-12 * np.max(np.abs(pe))
