"""The brute-force potential flux (tests/bruteforce_flux.py) against LAMMPS' exact centroid
virial: for lj/cut and uf3 the per-atom centroid virial IS the site-energy-consistent one
(pair energies split 1/2-1/2, uf3 triplet energies 1/3 each), so both must agree per atom and
in J_pot = sum_i W_i.v_i = the virial part of compute onsager (elements 7-9).

This validates the reference that tests/test_eam_exact.py and the exact-flux tests rely on.
Cost: ~3 s (lj/cut, 256 atoms) + ~25 s (uf3, 250 atoms; its cell must exceed two 8 A cutoffs).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyonsager._plugin import load_plugin, preload_mpi  # noqa: E402

preload_mpi()
import mpi4py.MPI  # noqa: E402
from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR  # noqa: E402
from lammps import lammps  # noqa: E402

from bruteforce_flux import potential_flux_reference  # noqa: E402


def potentials_dir() -> str:
    import lammps as _l

    return os.path.join(os.path.dirname(_l.__file__), "share", "lammps", "potentials")


SYSTEMS = {
    # 256-atom binary LJ liquid; shifted so the energy is continuous at the cutoff (an
    # unshifted cutoff is a step in U_a that no finite difference can differentiate)
    "lj": """
units metal
atom_style atomic
lattice fcc 5.26
region box block 0 4 0 4 0 4
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 12345
mass 1 39.948
mass 2 83.798
pair_style lj/cut 8.0
pair_coeff * * 0.0104 3.40
pair_coeff 2 2 0.0140 3.60
pair_modify shift yes
velocity all create 200.0 87287 mom yes
timestep 0.005
fix nve all nve
run 300
""",
    # 250-atom hot bcc Nb, two atom types of one element (uf3 has 2- and 3-body terms)
    "uf3": """
units metal
atom_style atomic
lattice bcc 3.3005
region box block 0 5 0 5 0 5
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 4471
mass * 92.906
pair_style uf3 3
pair_coeff * * {pot}/Nb.uf3 Nb Nb
velocity all create 2000 2317 mom no rot no dist gaussian
timestep 0.001
fix nve all nve
run 200
""",
}

# measured with the default h = 1e-5 A: lj 2e-10, uf3 2.3e-8 (J_pot); the bounds leave margin
TOL_J = {"lj": 1e-8, "uf3": 2e-7}
TOL_W = {"lj": 1e-8, "uf3": 2e-7}


@pytest.fixture(scope="module", params=sorted(SYSTEMS))
def case(request):
    kind = request.param
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"], comm=mpi4py.MPI.COMM_SELF)
    load_plugin(lmp)
    lmp.commands_string(SYSTEMS[kind].format(pot=potentials_dir()))
    lmp.commands_string(
        "compute pe all pe/atom\ncompute st all centroid/stress/atom NULL virial\n"
        "compute fl all onsager pe st\nrun 0"
    )
    flux = np.array(lmp.numpy.extract_compute("fl", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)).copy()
    nlocal = lmp.extract_global("nlocal")
    tag = np.array(lmp.numpy.extract_atom("id")[:nlocal])
    st = np.array(lmp.numpy.extract_compute("st", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])
    # centroid order xx yy zz xy xz yz yx zx zy -> row-major 3x3, ordered by ID
    s = np.empty((nlocal, 3, 3))
    s[tag - 1] = st[:, [0, 3, 4, 6, 1, 5, 7, 8, 2]].reshape(-1, 3, 3)
    nktv2p = lmp.extract_global("nktv2p")
    x_before = np.array(lmp.gather_atoms("x", 1, 3))
    img_before = np.array(lmp.gather_atoms("image", 0, 1))
    w, jpot = potential_flux_reference(lmp, pe_compute="pe")
    out = dict(
        kind=kind,
        flux=flux,
        w_lammps=-s / nktv2p,
        w=w,
        jpot=jpot,
        x_same=np.array_equal(x_before, np.array(lmp.gather_atoms("x", 1, 3))),
        img_same=np.array_equal(img_before, np.array(lmp.gather_atoms("image", 0, 1))),
    )
    lmp.close()
    return out


def test_jpot_equals_onsager_virial_part(case):
    ref = case["flux"][6:9]
    assert np.abs(ref).max() > 1.0    # a thermalized state, not a trivial zero
    err = np.abs(case["jpot"] - ref).max() / np.abs(ref).max()
    assert err <= TOL_J[case["kind"]], err


def test_per_atom_virial_equals_centroid_virial(case):
    # the same sign and units per atom: W_b = -S_b / nktv2p
    ref = case["w_lammps"]
    err = np.abs(case["w"] - ref).max() / np.abs(ref).max()
    assert err <= TOL_W[case["kind"]], err
    if case["kind"] == "uf3":
        # uf3's centroid virial is not symmetric: the reference must resolve the asymmetry
        asym = np.abs(ref - ref.transpose(0, 2, 1)).max() / np.abs(ref).max()
        assert asym > 100 * TOL_W["uf3"]


def test_state_restored_bit_for_bit(case):
    assert case["x_same"] and case["img_same"]
