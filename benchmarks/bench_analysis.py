"""Wall time and peak memory of the analysis of a 1e7-sample series (2 fluxes x 3 directions).

Run:  PYTHONPATH=. python benchmarks/bench_analysis.py [--samples 10000000]
          [--sportran-python /path/to/venv-with-sportran/bin/python]

The series (energy flux + one mass flux, coupled AR(1) processes with a correlation time of
~100 samples; metal units, dt = 1 fs) is written once to a .npy file; each analysis then runs in
a fresh process that loads it (480 MB for 1e7 samples) and reports its wall time and peak
resident memory (ru_maxrss; "above input" subtracts the RSS right after loading), and its CPU
time (user + system: the fairer figure on a shared machine).  Targets:
3x faster than sportran and under 1 GB.  sportran (needs numpy < 2, hence its own venv) is
run on the same file when --sportran-python is given, with the f* our cepstral rule chose.
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
T, V, DT_PS = 700.0, 17000.0, 0.001


PHI0, PHI1 = np.exp(-1 / 60), np.exp(-1 / 150)


def exact_values() -> tuple[float, float]:
    """Exact (kappa, L00) of the generated process, trapezoid rule on the sampled correlation.

    J0 = 3 a + 2 b, J1 = b with independent unit-innovation AR(1) processes a, b: the reduced
    flux is 3 a, and sum-trapezoid of an AR(1) autocorrelation is 1 / (2 (1 - phi)^2).
    """
    from pyonsager import units as U

    s = U.energy_flux("metal") ** 2 * U.onsager_prefactor("metal", V, T, DT_PS)
    ia, ib = 1 / (2 * (1 - PHI0) ** 2), 1 / (2 * (1 - PHI1) ** 2)
    return 9 * ia * s, (9 * ia + 4 * ib) * s


def make_series(path: str, n: int, seed: int = 0) -> None:
    from scipy.signal import lfilter

    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, 2, 3))
    rng = np.random.default_rng(seed)
    phi0, phi1 = PHI0, PHI1
    z0 = np.zeros((1, 3))
    z1 = np.zeros((1, 3))
    chunk = 1 << 20
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        e = rng.standard_normal((m, 2, 3))
        j1, z1 = lfilter([1.0], [1.0, -phi1], e[:, 1], axis=0, zi=z1)
        j0, z0 = lfilter([1.0], [1.0, -phi0], e[:, 0], axis=0, zi=z0)
        out[s:s + m, 0] = 3.0 * j0 + 2.0 * j1      # heat-mass coupling
        out[s:s + m, 1] = j1
    out.flush()
    del out


def timed_script(imports: str, body: str, report: str) -> str:
    """A script for a fresh process: imports, load the series (argv[1]), then wall, CPU and
    peak RSS of ``body`` alone; ``report`` prints one JSON line from wall, cpu, peak, base."""
    return "\n".join([
        "import json, resource, sys, time",
        "import numpy as np",
        textwrap.dedent(imports),
        "def rss():",
        "    for line in open('/proc/self/status'):",
        "        if line.startswith('VmRSS'):",
        "            return int(line.split()[1]) / 1024",
        "x = np.load(sys.argv[1])",
        "base = rss()",
        "ru0 = resource.getrusage(resource.RUSAGE_SELF)",
        "cpu0 = ru0.ru_utime + ru0.ru_stime",
        "t = time.perf_counter()",
        textwrap.dedent(body),
        "wall = time.perf_counter() - t",
        "ru = resource.getrusage(resource.RUSAGE_SELF)",
        "cpu = ru.ru_utime + ru.ru_stime - cpu0",
        "peak = ru.ru_maxrss / 1024",
        textwrap.dedent(report),
    ])


OURS = timed_script(
    "from pyonsager.analysis import analyze",
    f"""
    r = analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], dt={DT_PS}, temperature={T},
                volume={V}, units="metal", estimator=sys.argv[2])
    """,
    """
    print(json.dumps(dict(wall=wall, cpu=cpu, peak_mb=peak, input_mb=base, kappa=r.kappa.value,
                          kappa_err=r.kappa.error, L00=r.L00.value, estimator=r.estimator["name"],
                          fstar=r.estimator["parameters"].get("fstar"),
                          cutoff=r.estimator["parameters"].get("cutoff_time"))))
    """)

SPORTRAN = timed_script(
    "import sportran as st",
    f"""
    fstar = float(sys.argv[2])
    j = st.HeatCurrent([x[:, 0], x[:, 1]], DT_FS={DT_PS * 1000}, UNITS="metal",
                       TEMPERATURE={T}, VOLUME={V})
    jf = j.resample(fstar_THz=fstar, plot=False, verbose=False)
    jf.cepstral_analysis()
    """,
    """
    print(json.dumps(dict(wall=wall, cpu=cpu, peak_mb=peak, input_mb=base, kappa=float(jf.kappa),
                          kappa_err=float(jf.kappa_std))))
    """)


def run(python: str, code: str, *args: str, pythonpath: str = "") -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    else:
        env.pop("PYTHONPATH", None)
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000_000)
    p.add_argument("--sportran-python", default=None)
    p.add_argument("--keep", default=None, help="series file to reuse/keep")
    a = p.parse_args()
    path = a.keep or os.path.join(tempfile.gettempdir(), f"bench_series_{a.samples}.npy")
    if not os.path.exists(path):
        make_series(path, a.samples)
    rows = []
    for est in ("green-kubo", "cepstral"):
        r = run(sys.executable, OURS, path, est, pythonpath=ROOT)
        rows.append((f"pyonsager {est}", r))
    if a.sportran_python:
        fstar_thz = rows[1][1]["fstar"] * 1e-12
        rows.append(("sportran (same f*)", run(a.sportran_python, SPORTRAN, path, str(fstar_thz))))
    kex, lex = exact_values()
    print(f"series: {a.samples} samples x 2 fluxes x 3 directions ({path}); exact kappa = "
          f"{kex:.5g}, L00 = {lex:.5g} W/m/K; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':22s} {'wall (s)':>9s} {'CPU (s)':>8s} {'peak RSS (MB)':>14s} {'above input':>12s}"
          "  kappa (W/m/K)")
    for name, r in rows:
        print(f"{name:22s} {r['wall']:9.2f} {r['cpu']:8.2f} {r['peak_mb']:14.0f} "
              f"{r['peak_mb'] - r['input_mb']:12.0f}  {r['kappa']:.5g} +/- {r['kappa_err']:.2g}")
    print(f"green-kubo cutoff = {rows[0][1]['cutoff'] * 1e12:.4g} ps; cepstral f* = "
          f"{rows[1][1]['fstar'] * 1e-12:.4g} THz")
    if not a.keep:
        os.remove(path)


if __name__ == "__main__":
    main()
