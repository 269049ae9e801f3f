"""Wall time and peak memory of reading a 1e7-row LAMMPS column file (``pyonsager analyze FILE``).

Run:  PYTHONPATH=. python benchmarks/bench_reader.py [--rows 10000000] [--old-commit REV]
          [--repeat 1] [--format %g|%.17g] [--fallback] [--workers N]

The file imitates ``fix ave/time ... file`` output (mode scalar, default format `` %g``):
two comment lines, then per row the step, the energy flux (3 columns), one mass flux (3
columns) and the temperature.  It is generated once (coupled AR(1) series) and cached in
/tmp (about 0.67 GB for 1e7 rows; 1.44 GB with ``--format %.17g``).  Each read runs in a
fresh process that calls :func:`pyonsager.io_dispatch.read_any`, the loader ``pyonsager
analyze FILE --energy-flux flux --mass-flux mf --temperature-column c_T`` uses, up to the
FluxSeries arrays, and reports its wall time, CPU time (user + system, the fairer figure on a
shared machine), peak resident memory (ru_maxrss of the child, including the interpreter and
imports) and the parsers that read the rows (``Table.parsers``: "compiled" is
pyonsager/_fastparse.so, built from plugin/fastparse.cpp).

With ``--old-commit REV`` the package as of REV (``git archive``, into /tmp) is timed too, and
with ``--fallback`` this tree without the compiled parser (the pandas path); the variants
alternate within each repeat, so that they see the same load, and the medians are compared.
The checksums of what each read must be equal (the run stops otherwise).

Measured 2026-12-01 on the shared 2-core machine (load average 4-5 from other jobs, so wall
times are noisy; CPU time is the comparable figure), old = 6b6c697 (the pandas reader):

    python benchmarks/bench_reader.py --old-commit 6b6c697 --repeat 5      (load 4.1-4.6)
    %g file (0.67 GB), medians of 5     cpu      wall     peak RSS
      new (compiled parser)            1.51 s   1.67 s    721 MB    (cpu 1.49-1.56 s)
      old 6b6c697                      6.86 s   7.45 s    901 MB    (cpu 6.73-7.31 s)
      old/new: cpu 4.55x, wall 4.47x
    python benchmarks/bench_reader.py --old-commit 6b6c697 --fallback --repeat 3
      (the final build, load 3.5-4.2) new 1.52 s cpu, 2.95 s wall (the new reads waited for
      the CPU); new without the library (pandas path) 3.00 s, 4.25 s; old 6.93 s, 7.23 s:
      old/new cpu 4.55x, wall 2.45x
      (earlier builds of this branch, 4 runs, load 4-6.5) old/new cpu 4.00x-5.05x, wall
      3.95x-4.47x; pandas path 2.85-2.98 s cpu
    python benchmarks/bench_reader.py --old-commit 6b6c697 --format %.17g --repeat 2
    %.17g file (1.44 GB):  new cpu 2.98 s, wall 6.70 s; old cpu 9.12 s, wall 18.49 s
                           (3.06x cpu, 2.76x wall), peak 721 vs 869 MB

Where the new time goes (%g file, CPU, one thread): parsing 0.9-1.0 s (about 700 MB/s:
every %g token by one exact multiply or divide, see plugin/fastparse.cpp; %.17g tokens go to
std::from_chars, ~750 MB/s per core but twice the bytes), the kernel's zeroing of the 640 MB
output and copying the file from the page cache 0.4 s, the step/finite checks and the int64
step column 0.2 s.  A second thread is used only when a core is idle (on this loaded machine
it gained no wall time and cost ~0.1 s CPU; its gain on an idle machine, at most halving the
parse's wall time, was not measured here).  The output arrays themselves are 640 MB (8
float64 columns x 1e7 rows) of the peak.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADER = ("# Time-averaged data for fix fluxes\n"
          "# TimeStep c_flux[1] c_flux[2] c_flux[3] c_mf[1] c_mf[2] c_mf[3] c_T\n")
EVERY = 10         # steps between rows


def make_file(path: str, rows: int, seed: int = 0, fmt_value: str = "%g") -> None:
    """Write a ``fix ave/time``-style file of ``rows`` rows (``%g`` numbers: LAMMPS's default
    format; ``%.17g``: ``format ' %.17g'``, round-trip exact)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    phi = np.exp(-1 / np.array([60.0, 150.0]))
    zi = [np.zeros((1, 3)), np.zeros((1, 3))]
    chunk = 1 << 18
    fmt = "%d" + (" " + fmt_value) * 7
    with open(path + ".tmp", "w") as fh:
        fh.write(HEADER)
        for s in range(0, rows, chunk):
            m = min(chunk, rows - s)
            e = rng.standard_normal((m, 2, 3))
            a, zi[0] = lfilter([1.0], [1.0, -phi[0]], e[:, 0], axis=0, zi=zi[0])
            b, zi[1] = lfilter([1.0], [1.0, -phi[1]], e[:, 1], axis=0, zi=zi[1])
            block = np.empty((m, 8))
            block[:, 0] = (np.arange(s, s + m) + 1) * EVERY
            block[:, 1:4] = 30.0 * a + 20.0 * b          # eV A/ps
            block[:, 4:7] = 5.0 * b                       # amu A/ps
            block[:, 7] = 700.0 + 3.0 * rng.standard_normal(m)
            np.savetxt(fh, block, fmt=fmt)
    os.replace(path + ".tmp", path)


CHILD = textwrap.dedent("""
    import json, os, resource, sys, time, warnings
    sys.path.insert(0, sys.argv[1])
    import pyonsager
    import pyonsager.columns as columns
    from pyonsager.io_dispatch import read_any
    assert pyonsager.__file__.startswith(sys.argv[1]), pyonsager.__file__
    if sys.argv[3] == "fallback":
        columns.USE_COMPILED = False
    parsers = []
    read_table = columns.read_table
    def recording(*args, **kwargs):
        table = read_table(*args, **kwargs)
        parsers.extend(getattr(table, "parsers", ()) or ["unreported"])
        return table
    columns.read_table = recording
    extra = {} if sys.argv[4] == "auto" else {"workers": int(sys.argv[4])}
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    s = read_any(sys.argv[2], energy_flux="flux", mass_flux=["mf"], temperature_column="c_T",
                 units="metal", dt=0.01, volume=17000.0, **extra)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime
    check = [float(s.energy_flux[:, 0].sum()), float(s.mass_flux["mf"][:, 2].sum()),
             float(s.temperature.sum()), int(s.steps[-1]), len(s)]
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_mb": ru.ru_maxrss / 1024,
                      "check": check, "parsers": sorted(set(parsers))}))
""")


def run_child(root: str, path: str, mode: str = "default", workers: str = "auto") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", CHILD, root, path, mode, workers], check=True,
                         capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def old_tree(rev: str) -> str:
    """The package as of ``rev`` unpacked under /tmp (git archive: no worktree, no checkout)."""
    sha = subprocess.run(["git", "-C", ROOT, "rev-parse", rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    dest = os.path.join(tempfile.gettempdir(), f"pyonsager-bench-{sha[:12]}")
    if not os.path.isdir(os.path.join(dest, "pyonsager")):
        os.makedirs(dest, exist_ok=True)
        archive = subprocess.run(["git", "-C", ROOT, "archive", sha, "pyonsager"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--old-commit", default=None,
                    help="also time the package at this git revision (e.g. 6b6c697)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--format", default="%g", choices=["%g", "%.17g"],
                    help="number format of the file: LAMMPS's default %%g or round-trip %%.17g")
    ap.add_argument("--workers", default="auto",
                    help="threads of the compiled parser (processes of the fallback); "
                         "default: the reader's own choice")
    ap.add_argument("--fallback", action="store_true",
                    help="also time this tree without the compiled parser (pandas path)")
    args = ap.parse_args()
    tag = "" if args.format == "%g" else "-17g"
    path = os.path.join(tempfile.gettempdir(), f"pyonsager-bench-columns-{args.rows}{tag}.txt")
    if not os.path.isfile(path):
        print(f"generating {path} ...", flush=True)
        make_file(path, args.rows, fmt_value=args.format)
    print(f"{path}: {os.path.getsize(path) / 1e9:.3f} GB, {args.rows} rows", flush=True)
    # (label, tree, mode): alternated within each repeat, so that all see the same load
    trees = [("new", ROOT, "default")]
    if args.fallback:
        trees.append(("new-fallback", ROOT, "fallback"))
    if args.old_commit:
        trees.append(("old", old_tree(args.old_commit), "default"))
    results: dict[str, list[dict]] = {name: [] for name, _, _ in trees}
    for _ in range(args.repeat):
        for name, root, mode in trees:
            r = run_child(root, path, mode, args.workers)
            results[name].append(r)
            print(f"{name:>12}: wall {r['wall']:6.2f} s, cpu {r['cpu']:6.2f} s, "
                  f"peak RSS {r['peak_mb']:4.0f} MB, parsers {','.join(r['parsers'])}",
                  flush=True)
    checks = {name: [r["check"] for r in rs] for name, rs in results.items()}
    first = checks["new"][0]
    if any(c != first for cs in checks.values() for c in cs):
        raise SystemExit(f"the trees read different numbers: {checks}")
    med = {name: {k: float(np.median([r[k] for r in rs])) for k in ("wall", "cpu", "peak_mb")}
           for name, rs in results.items()}
    print(f"medians of {args.repeat} (same numbers read everywhere: checksums equal):")
    for name, m in med.items():
        print(f"{name:>12}: wall {m['wall']:6.2f} s, cpu {m['cpu']:6.2f} s, "
              f"peak RSS {m['peak_mb']:4.0f} MB")
    for name in med:
        if name != "new":
            print(f"{name}/new: wall {med[name]['wall'] / med['new']['wall']:.2f}x, "
                  f"cpu {med[name]['cpu'] / med['new']['cpu']:.2f}x")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
