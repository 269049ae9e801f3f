"""Extra small systems for the tests of `compute onsager ... exact` (tests/test_plugin_exact.py
and tests/mpi_scripts/exact_*.py), registered beside those of plugin_systems.

Cells are at least two interaction ranges wide where a brute-force reference is computed
(its minimum image must be unambiguous). States are equilibrated hot so that every atom is off
its lattice site and moving.
"""
from __future__ import annotations

import plugin_systems as ps

_ZINCBLENDE = "lattice diamond {a}"

EXTRA = {
    "lj": dict(
        atom_style="atomic",
        build="""
lattice fcc 5.26
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 12345
""",
        potential="""
mass 1 39.948
mass 2 83.798
pair_style lj/cut 8.0
pair_coeff * * 0.0104 3.40
pair_coeff 2 2 0.0140 3.60
pair_modify shift yes
""",
        species="Ar Kr",
        temp=120.0,
        dt=0.005,
        nequil=200,
    ),
    # NaCl with the Tosi-Fumi short range of plugin_systems and a plain cutoff Coulomb term
    "ionic_cut": dict(
        ps.SYSTEMS["ionic"],
        potential="""
mass 1 22.98977
mass 2 35.453
pair_style hybrid/overlay born 8.0 coul/cut 8.0
pair_coeff 1 1 born 0.2637 0.317 2.340 1.048553 -0.49935
pair_coeff 1 2 born 0.21096 0.317 2.755 6.99055 -8.6757
pair_coeff 2 2 born 0.158221 0.317 3.170 72.40215 -145.4284
pair_coeff * * coul/cut
""",
    ),
    # liquid InP, SNAP + ZBL as in the shipped InP_JCPA2020.snap (cut 7.62 A: cell 17.6 A)
    "snap": dict(
        atom_style="atomic",
        build=f"""
{_ZINCBLENDE.format(a=5.869)}
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box basis 1 1 basis 2 1 basis 3 1 basis 4 1 basis 5 2 basis 6 2 basis 7 2 basis 8 2
""",
        potential="""
mass 1 114.818
mass 2 30.974
pair_style hybrid/overlay zbl 4 4.2 snap
pair_coeff 1 1 zbl 49 49
pair_coeff 1 2 zbl 49 15
pair_coeff 2 2 zbl 15 15
pair_coeff * * snap {pot}/InP_JCPA2020.snapcoeff {pot}/InP_JCPA2020.snapparam In P
""",
        species="In P",
        temp=2500.0,
        dt=0.001,
        nequil=60,
    ),
    # Ni-Mo ML-IAP, linear model on the SO3 descriptor (cut 4.1 A: cell 10.6 A)
    "mliap": dict(
        atom_style="atomic",
        build="""
lattice fcc 3.52
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 5521
""",
        potential="""
mass 1 95.95
mass 2 58.693
pair_style mliap model linear {pot}/Ni_Mo.mliap.model descriptor so3 {pot}/Ni_Mo.mliap.descriptor
pair_coeff * * Mo Ni
""",
        species="Mo Ni",
        temp=2500.0,
        dt=0.001,
        nequil=60,
    ),
    # Ta POD (cut 5 A: cell 13.3 A)
    "pod": dict(
        atom_style="atomic",
        build="""
lattice bcc 3.316
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
""",
        potential="""
mass 1 180.88
pair_style pod
pair_coeff * * {pot}/Ta_param.pod {pot}/Ta_coeff.pod Ta
""",
        species="Ta",
        temp=3000.0,
        dt=0.001,
        nequil=60,
    ),
    # SiC Tersoff (cut 3 A, site energies reach 5.3 A: cell 13.1 A)
    "tersoff": dict(
        atom_style="atomic",
        build=f"""
{_ZINCBLENDE.format(a=4.36)}
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box basis 1 1 basis 2 1 basis 3 1 basis 4 1 basis 5 2 basis 6 2 basis 7 2 basis 8 2
""",
        potential="""
mass 1 28.0855
mass 2 12.011
pair_style tersoff
pair_coeff * * {pot}/SiC.tersoff Si C
""",
        species="Si C",
        temp=3000.0,
        dt=0.0005,
        nequil=100,
    ),
    # GaN Stillinger-Weber on a zincblende cell (cut 3.78 A, reach 6.3 A: cell 13.5 A)
    "sw": dict(
        atom_style="atomic",
        build=f"""
{_ZINCBLENDE.format(a=4.50)}
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box basis 1 1 basis 2 1 basis 3 1 basis 4 1 basis 5 2 basis 6 2 basis 7 2 basis 8 2
""",
        potential="""
mass 1 69.723
mass 2 14.007
pair_style sw
pair_coeff * * {pot}/GaN.sw Ga N
""",
        species="Ga N",
        temp=3000.0,
        dt=0.0005,
        nequil=100,
    ),
    # AlCu BOP (bop.table): site energies reach up to three cutoffs (12.6 A): cell 24.3 A
    "bop": dict(
        atom_style="atomic",
        build="""
lattice fcc 4.05
region box block 0 6 0 6 0 6
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 8812
""",
        potential="""
mass 1 26.9815
mass 2 63.546
pair_style bop
pair_coeff * * {pot}/AlCu.bop.table Al Cu
comm_modify cutoff 13.0
""",
        species="Al Cu",
        temp=2000.0,
        dt=0.001,
        nequil=60,
    ),
}

for _k, _v in EXTRA.items():
    ps.SYSTEMS.setdefault(_k, _v)


def onsager_vector(kind: str, path: str, mode: str, comm=None, extra: str = "",
                   ids: list[int] | None = None) -> "np.ndarray":
    """Global vector of compute onsager on a stored state after `run 0`.

    mode: "exact" (or "exact central"), or a stress compute style ("centroid/stress/atom")
    for the stress-ID path.
    extra: LAMMPS commands issued after the state is loaded (e.g. a neighbor change).
    ids: atom IDs of the compute's group (default: all).
    """
    import numpy as np
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    s = ps.SYSTEMS[kind]
    charge = "yes" if s["atom_style"] == "charge" else "no"
    lmp = ps.new_lammps(comm=comm)
    try:
        ps.load_state(lmp, kind, path)
        lmp.commands_string(extra)
        group = "all"
        if ids:
            group = "sel"
            lmp.command("group sel id " + " ".join(map(str, ids)))
        lmp.command("compute pe all pe/atom")
        if mode.startswith("exact"):
            lmp.command(f"compute fl {group} onsager pe {mode} species {s['species']} "
                        f"charge {charge}")
        else:
            lmp.command(f"compute st all {mode} NULL virial")
            lmp.command(f"compute fl {group} onsager pe st species {s['species']} charge {charge}")
        lmp.command("thermo_style custom step pe c_fl[7]")
        lmp.command("run 0")
        return np.array(lmp.numpy.extract_compute("fl", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR))
    finally:
        lmp.close()
