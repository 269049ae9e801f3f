"""ASE NVE runs with the observer: same numbers as re-analysing its flux file, gauge
invariance of kappa, refusals of a changing cell and warnings on thermostats."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import yaml

import ase  # noqa: F401

from ase import units  # noqa: E402
from ase.calculators.lj import LennardJones  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402
from ase_models import lj_binary, lj_calculator  # noqa: E402

from pyonsager.ase import (ChangingCellError, attach, register_adapter,  # noqa: E402
                           unregister_adapter)
from pyonsager.ase.adapters import lennard_jones  # noqa: E402

STEPS, TIMESTEP_FS, MAX_LAG_PS = 200, 5.0, 0.1
MOBILE = ["Ar", "Kr"]


RC = 5.5  # shorter than the adapter tests' cutoff: ASE's LJ is pure Python


def _run(tmp, calc=None, steps: int = STEPS, plots: bool = False, **options):
    atoms = lj_binary(n_cells=2, temperature=150.0)
    atoms.calc = calc if calc is not None else lj_calculator(rc=RC)
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    session = attach(dyn, every=1, max_lag=MAX_LAG_PS, mobile=MOBILE, out=str(tmp),
                     batch=64, **options)
    dyn.run(steps)
    return session, session.finish(out=str(tmp), plots=plots)


def _numbers(tree, prefix=""):
    """Flatten the numeric leaves of a yaml tree into {path: float}."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_numbers(v, f"{prefix}/{k}"))
        return out
    if isinstance(tree, list):
        out = {}
        for i, v in enumerate(tree):
            out.update(_numbers(v, f"{prefix}/{i}"))
        return out
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return {prefix: float(tree)}
    return {}


def test_nve_run_matches_reanalysis_of_its_flux_file(tmp_path):
    from pyonsager.analysis import analyze

    session, result = _run(tmp_path / "run", plots=True)
    assert session.nsamples == STEPS + 1          # step 0 included, no duplicates
    for name in ("onsager.yaml", "onsager.npz", "fluxes.onsager", "kappa_vs_L00.png"):
        assert (tmp_path / "run" / name).is_file()
    again = analyze(str(tmp_path / "run" / "fluxes.onsager"), mobile=MOBILE,
                    max_lag=MAX_LAG_PS, too_few="warn")   # a short run, flagged like the driver's
    again.write(str(tmp_path / "again"), plots=False)
    with open(tmp_path / "run" / "onsager.yaml") as f:
        online = yaml.safe_load(f)
    with open(tmp_path / "again" / "onsager.yaml") as f:
        offline = yaml.safe_load(f)
    per_species = online.pop("species")    # the driver's extras; analyze has no MSD
    # U of the criterion: the observer's mean site energies, written as site_energy_* columns
    for doc in (online, offline):
        assert doc["criterion"] is not None and doc["criterion"]["value"] > 0
        assert doc["criterion"]["site_energy_source"] == "flux file"
    assert online["criterion"]["site_energy_eV"] == pytest.approx(
        {s: per_species[s]["site_energy_mean"]["value"] for s in online["criterion"]["site_energy_eV"]},
        rel=1e-12)
    a, b = _numbers(online), _numbers(offline)
    common = sorted(set(a) & set(b))
    assert "/kappa/value" in common and "/L00/value" in common and "/L11/value" in common
    for key in common:
        if math.isnan(a[key]) and math.isnan(b[key]):
            continue
        assert a[key] == pytest.approx(b[key], rel=1e-10, abs=1e-300), key
    assert result.temperature == pytest.approx(online["temperature_mean"]["value"], rel=1e-12)
    assert set(per_species) == set(MOBILE)
    # the cepstral estimator re-reads the flux file (it needs the series)
    cepstral = session.finish(out=str(tmp_path / "cepstral"), plots=False,
                              estimator="cepstral")
    assert cepstral.estimator["name"] == "cepstral" and cepstral.kappa.value > 0
    assert per_species["Ar"]["count"] == 16 and per_species["Ar"]["site_energy_mean"]["value"] < 0


class ShiftedLJ(LennardJones):
    """LennardJones whose adapter adds a constant to the Ar site energies (a gauge shift)."""

    shift_eV = 0.5


def _shifted_adapter(calc, atoms):
    energies, virials = lennard_jones(calc, atoms)
    energies = energies.copy()
    energies[np.array(atoms.get_chemical_symbols()) == "Ar"] += calc.shift_eV
    return energies, virials


def test_site_energy_shift_leaves_kappa_and_moves_L00(tmp_path):
    _, plain = _run(tmp_path / "plain")
    register_adapter(ShiftedLJ, _shifted_adapter)
    try:
        calc = ShiftedLJ(epsilon=0.0104, sigma=3.4, rc=RC, smooth=False)
        _, shifted = _run(tmp_path / "shifted", calc=calc)
    finally:
        unregister_adapter(_shifted_adapter)
    assert shifted.kappa.value == pytest.approx(plain.kappa.value, rel=1e-10)
    assert abs(shifted.L00.value - plain.L00.value) > 1e-3 * abs(plain.L00.value)


def test_changing_cell_is_refused(tmp_path):
    atoms = lj_binary(n_cells=2)
    atoms.calc = lj_calculator()
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    attach(dyn, max_lag=MAX_LAG_PS, mobile=MOBILE, out=str(tmp_path))
    dyn.run(2)
    atoms.set_cell(atoms.cell * 1.01, scale_atoms=True)
    with pytest.raises(ChangingCellError, match="the cell changed while sampling fluxes"):
        dyn.run(1)


def test_barostat_refused_and_thermostat_warned(tmp_path):
    from ase.md.langevin import Langevin
    from ase.md.nptberendsen import NPTBerendsen

    atoms = lj_binary(n_cells=2)
    atoms.calc = lj_calculator()
    npt = NPTBerendsen(atoms, timestep=TIMESTEP_FS * units.fs, temperature_K=100,
                       pressure_au=0.0, compressibility_au=1e-4)
    with pytest.raises(ValueError, match="changes the cell: Green-Kubo needs a fixed volume"):
        attach(npt, max_lag=MAX_LAG_PS, out=str(tmp_path))
    langevin = Langevin(atoms, timestep=TIMESTEP_FS * units.fs, temperature_K=100,
                        friction=0.01, fixcm=False)
    with pytest.warns(UserWarning, match="thermostat Langevin was active while sampling"):
        attach(langevin, max_lag=MAX_LAG_PS, out=str(tmp_path))


def test_unsupported_calculator_refused_at_attach(tmp_path):
    from ase.calculators.emt import EMT

    from pyonsager.ase import UnsupportedCalculatorError

    atoms = lj_binary(n_cells=1)
    atoms.calc = EMT()
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    with pytest.raises(UnsupportedCalculatorError, match="gives no per-atom virial"):
        attach(dyn, max_lag=MAX_LAG_PS, out=str(tmp_path))
    assert not os.path.exists(tmp_path / "fluxes.onsager")
