"""Parallel efficiency of replicas: wall time of K replicas on K ranks vs one replica on 1 rank.

The AgI demo (``pyonsager demo``'s config, 256 atoms, PRV potential) with a fixed number of
equilibration and production steps and ``temperature_control: none`` (so every replica does
exactly the same number of MD steps), run as

  (a) one replica:  python -m pyonsager run CFG                      (1 rank)
  (b) K replicas:   mpirun -np K python -m pyonsager run CFG --replicas K

in interleaved rounds (a b a b ...), so a change of the machine's load hits both alike.  Both
wall times include start-up, equilibration, production, the analyses and (b) the merge.  The
target of issue 12 is ratio = t(b) / t(a) <= 1.15 on an idle machine with >= K cores:
replicas are embarrassingly parallel.  Prints a markdown table and the load average.

    python benchmarks/bench_replicas.py                                # 20000 steps, 2 rounds
    python benchmarks/bench_replicas.py --production-steps 5000 --rounds 1
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, ROOT)


def agi_config(directory: str, production: int, equilibration: int) -> str:
    """The demo config with absolute input path, fixed step counts and no energy setting."""
    from pyonsager.lammps.cli import demo_config

    src = demo_config()
    with open(src) as fh:
        cfg = yaml.safe_load(fh)
    cfg["input"] = os.path.join(os.path.dirname(src), cfg["input"])
    cfg.update(production_steps=production, equilibration_steps=equilibration,
               temperature_control="none", checkpoint_every=max(1, production // 2))
    path = os.path.join(directory, "agi_bench.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return path


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--production-steps", type=int, default=20000, help="at least 6100: the demo's max lag is 300 samples of 5 steps, and N >= 4 (max lag + 1)")
    ap.add_argument("--equilibration-steps", type=int, default=2000)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [ROOT, env.get("PYTHONPATH", "")] if p)
    py = sys.executable
    mpirun = os.path.join(os.path.dirname(py), "mpirun")
    K = args.replicas
    one, many = [], []
    work = tempfile.mkdtemp(prefix="bench_replicas_")
    try:
        cfg = agi_config(work, args.production_steps, args.equilibration_steps)
        load0 = os.getloadavg()
        for r in range(args.rounds):
            one.append(timed([py, "-m", "pyonsager", "run", cfg, "--out",
                              os.path.join(work, f"one{r}")], env))
            many.append(timed([mpirun, "-np", str(K), py, "-m", "pyonsager", "run", cfg,
                               "--replicas", str(K), "--out", os.path.join(work, f"many{r}")],
                              env))
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, b = statistics.median(one), statistics.median(many)
    steps = args.equilibration_steps + args.production_steps
    print(f"AgI demo, 256 atoms, {args.equilibration_steps} equilibration + "
          f"{args.production_steps} production steps per replica, {args.rounds} round(s), "
          f"{os.cpu_count()} cores")
    print("| case | wall (s, median) | all rounds (s) | MD steps/s per replica |")
    print("|---|---|---|---|")
    print(f"| 1 replica, 1 rank | {a:.1f} | {', '.join(f'{x:.1f}' for x in one)} | "
          f"{steps / a:.0f} |")
    print(f"| {K} replicas, mpirun -np {K} | {b:.1f} | {', '.join(f'{x:.1f}' for x in many)} | "
          f"{steps / b:.0f} |")
    print(f"ratio t({K} replicas) / t(1 replica) = {b / a:.3f} (target <= 1.15 on an idle "
          f"machine)")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
