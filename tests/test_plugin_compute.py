"""compute onsager against LAMMPS' compute heat/flux, numpy sums, and its refusals."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts"))
import plugin_systems as ps  # noqa: E402

KINDS = ["morse", "uf3", "ionic"]
TOL = 1e-12


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    d = tmp_path_factory.mktemp("states")
    return {k: ps.build_state(k, str(d / f"{k}.data")) for k in KINDS}


@pytest.fixture(scope="module")
def results(states):
    return {k: ps.evaluate(k, states[k]) for k in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_energy_flux_equals_heat_flux(results, kind):
    r = results[kind]
    fl, hf = r["onsager"], r["heatflux"]
    # a zero flux would pass trivially; the states are thermalized
    assert np.linalg.norm(hf[:3]) > 1.0 and np.linalg.norm(fl[6:9]) > 1.0
    assert ps.relerr(fl[0:3], hf[0:3]) <= TOL
    assert ps.relerr(fl[3:6], hf[3:6]) <= TOL
    assert ps.relerr(fl[6:9], hf[0:3] - hf[3:6]) <= 1e-12 * np.max(np.abs(hf[0:3])) / np.max(
        np.abs(fl[6:9])
    ) + TOL
    np.testing.assert_allclose(fl[0:3], fl[3:6] + fl[6:9], rtol=0, atol=1e-13 * np.abs(fl).max())


@pytest.mark.parametrize("kind", KINDS)
def test_energy_flux_equals_direct_sum(results, kind):
    r = results[kind]
    fl = r["onsager"]
    assert ps.relerr(fl[0:3], r["numpy_j0"]) <= TOL
    assert ps.relerr(fl[3:6], r["numpy_conv"]) <= TOL
    assert ps.relerr(fl[6:9], r["numpy_vir"]) <= TOL


def test_uf3_transposed_virial_gives_a_different_flux(results):
    # uf3's centroid virial is asymmetric, so reading the tensor with swapped indices
    # must change J0 well beyond round-off: this is what catches an index-order bug
    r = results["uf3"]
    off = ps.relerr(r["numpy_j0_transposed"], r["onsager"][0:3])
    assert off > 0.01


@pytest.mark.parametrize("kind", KINDS)
def test_mass_flux_per_species(results, kind):
    r = results[kind]
    fl = r["onsager"]
    ns = len(r["species"])
    mass = fl[9 : 9 + 3 * ns].reshape(ns, 3)
    for k in range(ns):
        assert ps.relerr(mass[k], r["numpy_mass_flux"][k]) <= TOL
    assert ps.relerr(mass.sum(axis=0), r["numpy_momentum"]) <= 1e-12


def test_charge_flux(results):
    r = results["ionic"]
    fl = r["onsager"]
    assert fl.size == 9 + 3 * 2 + 3
    assert ps.relerr(fl[-3:], r["numpy_charge_flux"]) <= TOL


def test_types_with_one_name_are_one_species(results):
    # uf3 state: two atom types both named Nb
    r = results["uf3"]
    assert r["species"] == ["Nb"]
    assert r["onsager"].size == 9 + 3
    assert ps.relerr(r["onsager"][9:12], r["numpy_momentum"]) <= TOL


def _run(states, kind, commands, log=None):
    lmp = ps.new_lammps(log=log)
    ps.load_state(lmp, kind, states[kind])
    try:
        lmp.commands_string(commands)
        return lmp
    except Exception:
        lmp.close()
        raise


def test_default_species_one_per_type(states):
    lmp = _run(states, "morse", "compute pe all pe/atom\ncompute st all centroid/stress/atom NULL "
               "virial\ncompute fl all onsager pe st\nrun 0")
    v = lmp.numpy.extract_compute("fl", ps.LMP_STYLE_GLOBAL, ps.LMP_TYPE_VECTOR)
    assert len(v) == 9 + 6
    lmp.close()


def test_symmetric_stress_accepted_for_pairwise_morse(states, results):
    # central pair forces: the centroid virial equals the symmetric one
    r = ps.evaluate("morse", states["morse"], stress="stress/atom")
    assert ps.relerr(r["onsager"], results["morse"]["onsager"]) <= TOL


BASE = "compute pe all pe/atom\ncompute st all centroid/stress/atom NULL virial\n"

REFUSALS = [
    ("morse", "compute ke all ke/atom\n" + BASE + "compute fl all onsager ke st",
     "compute ke (style ke/atom) does not compute per-atom energy"),
    ("morse", BASE + "compute fl all onsager pe pe", "does not compute per-atom stress"),
    ("morse", BASE + "compute fl all onsager nope st", "could not find pe-ID compute nope"),
    ("morse", BASE + "compute fl all onsager pe nope", "could not find stress-ID compute nope"),
    ("morse", BASE + "compute fl all onsager pe st species Al Cu Ni",
     "species list has 3 names but there are 2 atom types"),
    ("morse", BASE + "compute fl all onsager pe st species Al",
     "species list has 1 names but there are 2 atom types"),
    ("morse", BASE + "compute fl all onsager pe st charge yes",
     "charge yes needs per-atom charges, but atom style atomic has none"),
    ("morse", BASE + "compute fl all onsager pe st bogus 1", "unknown keyword bogus"),
    ("uf3", "compute pe all pe/atom\ncompute st all stress/atom NULL virial\n"
     "compute fl all onsager pe st",
     "the pair style uf3 has a per-atom centroid virial that differs from it"),
]


@pytest.mark.parametrize("kind,commands,message", REFUSALS)
def test_refusals(states, kind, commands, message):
    with pytest.raises(Exception) as exc:
        _run(states, kind, commands)
    assert message in str(exc.value)
    if "centroid virial" in message:
        assert "centroid/stress/atom NULL virial" in str(exc.value)


def test_refuses_symmetric_stress_when_pair_style_changes(states):
    # the check is repeated at init, so switching to a many-body style later is caught too
    lmp = _run(states, "morse", "compute pe all pe/atom\ncompute st all stress/atom NULL virial\n"
               "compute fl all onsager pe st\nrun 0")
    with pytest.raises(Exception) as exc:
        lmp.commands_string(f"pair_style uf3 3\npair_coeff * * {ps.potentials_dir()}/Nb.uf3 Nb "
                            "Nb\nrun 0")
    assert "use 'compute st all centroid/stress/atom NULL virial'" in str(exc.value)
    lmp.close()


def test_refuses_untallied_step(states):
    # after reset_timestep no force evaluation has tallied per-atom energy on step 10:
    # the compute must refuse instead of using stale per-atom data
    lmp = _run(states, "morse", BASE + "compute fl all onsager pe st\nfix nve all nve\nrun 3\n"
               "reset_timestep 10")
    with pytest.raises(Exception) as exc:
        lmp.numpy.extract_compute("fl", ps.LMP_STYLE_GLOBAL, ps.LMP_TYPE_VECTOR)
    assert "per-atom energy was not tallied on step 10" in str(exc.value)
    lmp.close()


def _log_after(states, kind, commands, tmp_path):
    log = str(tmp_path / "log.lammps")
    lmp = _run(states, kind, commands, log=log)
    lmp.close()
    return open(log).read()


def test_warns_for_group_not_all(states, tmp_path):
    text = _log_after(states, "morse", "group light type 1\n" + BASE +
                      "compute fl light onsager pe st\nrun 0\nrun 0", tmp_path)
    assert text.count("Compute onsager fl: group light is not all") == 1


def test_warns_once_for_kspace(states, tmp_path):
    cmds = (
        "pair_style born/coul/long 8.0\n"
        "pair_coeff 1 1 0.2637 0.317 2.340 1.048553 -0.49935\n"
        "pair_coeff 1 2 0.21096 0.317 2.755 6.99055 -8.6757\n"
        "pair_coeff 2 2 0.158221 0.317 3.170 72.40215 -145.4284\n"
        "kspace_style ewald 1e-4\n"
        # ewald has no centroid virial, and born/coul/long is pairwise: stress/atom is exact
        "compute pe all pe/atom\ncompute st all stress/atom NULL virial\n"
        "compute fl all onsager pe st species Na Cl charge yes\nrun 0\nrun 0"
    )
    text = _log_after(states, "ionic", cmds, tmp_path)
    assert text.count("Compute onsager fl: kspace style ewald is active") == 1
