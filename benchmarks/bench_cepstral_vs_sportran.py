"""Cepstral estimator: pyonsager against SporTran on the same series (agreement, time, memory).

SporTran (PyPI ``sportran``) needs numpy < 2, so it runs in its own venv, never in ours:

    python3 -m venv /tmp/sportran-venv && /tmp/sportran-venv/bin/pip install "numpy<2" sportran

Usage (from the project root)::

    PYTHONPATH=. /work/venv/bin/python benchmarks/bench_cepstral_vs_sportran.py agree
    PYTHONPATH=. /work/venv/bin/python benchmarks/bench_cepstral_vs_sportran.py speed [--n 10000000]
    PYTHONPATH=. /work/venv/bin/python benchmarks/bench_cepstral_vs_sportran.py md FILE.onsager

``agree``: OU series (2 fluxes x 3 directions, exact answer known), several seeds; our
estimator with its automatic f* and AIC, then SporTran on the same series (i) with our f*
(TSKIP = q) and our P* (manual cutoffK = P* - 1), (ii) with our f* and its own AIC.
``md``: a real flux file (our ``.onsager`` format): J0 and the first species' mass flux
(the other species is dropped: total momentum), plain and reduced, ours vs SporTran.
``speed``: one series of --n samples, each code in a fresh process (wall time of the
analysis from the loaded array, peak RSS of the whole process including the 480 MB input,
via resource.getrusage).  SporTran is given the same q (TSKIP) as ours.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPORTRAN_PY = os.environ.get("SPORTRAN_PYTHON", "/tmp/sportran-venv/bin/python")
OURS_PY = sys.executable

# OU drift and noise of the cepstral tests (kappa and L00 differ by 32 %), dt = 0.1
A = np.array([[1.0, 0.2], [0.2, 0.5]])
B = np.array([[1.0, 0.0], [0.7, 0.5]])
DT = 0.1


def exact() -> tuple[float, float]:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from ou import ou_exact_integral
    i = ou_exact_integral(A, B)
    i = 0.5 * (i + i.T)
    return i[0, 0] - i[0, 1] ** 2 / i[1, 1], i[0, 0]


def make_series(n: int, seed: int, path: str) -> None:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from ou import ou_series
    # one call (~ 2 GB transient for 1e7 samples); done once, outside the timed processes
    np.save(path, ou_series(A, B, DT, n, seed))


OURS = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    from pyonsager.cepstral import cepstral_analysis
    x = np.load(sys.argv[1])
    kw = json.loads(sys.argv[2])
    dt = float(sys.argv[3]) if len(sys.argv) > 3 else {dt}
    t0 = time.perf_counter()
    r = cepstral_analysis(x, dt, **kw)
    t = time.perf_counter() - t0
    q = int(round(0.5 / (dt * r.fstar)))
    print(json.dumps(dict(kappa=r.kappa, kappa_error=r.kappa_error, kappa_pstar=r.kappa_pstar,
                          kappa_pstar_error=r.kappa_pstar_error, L00=r.L00,
                          L00_error=r.L00_error, pstar=r.pstar, pstar_L00=r.pstar_L00,
                          fstar=r.fstar, fstar_L00=r.fstar_L00, q=q, time=t,
                          maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""").format(dt=DT)

SPORTRAN = textwrap.dedent("""
    import json, resource, sys, time, io, contextlib
    import numpy as np
    import sportran as st
    x = np.load(sys.argv[1])
    q, pstar = json.loads(sys.argv[2])
    dt = float(sys.argv[3]) if len(sys.argv) > 3 else {dt}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        traj = np.ascontiguousarray(np.transpose(x, (1, 0, 2)))     # (k, N, 3)
        del x
        j = st.GenericCurrent(traj, DT_FS=dt, KAPPA_SCALE=1.0)
        jf = j.resample(TSKIP=q, verbose=False) if q > 1 else j
        out = {{}}
        if pstar is not None:
            jf.cepstral_analysis(manual_cutoffK=pstar - 1)
            out.update(kappa_fixed=jf.kappa, kappa_fixed_error=jf.kappa_std)
        jf.cepstral_analysis()
        out.update(kappa_aic=jf.kappa, kappa_aic_error=jf.kappa_std,
                   pstar_aic=int(jf.cepf.aic_Kmin) + 1)
    out["time"] = time.perf_counter() - t0
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
""").format(dt=DT)


def run(python: str, code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def agree(seeds: int, n: int) -> None:
    kex, l00 = exact()
    print(f"OU, N = {n}, dt = {DT}; exact kappa = {kex:.6g}, exact L00 = {l00:.6g}")
    print(" seed   q  P* | ours kappa (AIC avg)  ours kappa(P*)      | sportran same f*,P*   "
          "| sportran own AIC (P*)")
    rows = []
    path = "/tmp/bench_cepstral_agree.npy"
    for seed in range(seeds):
        make_series(n, seed, path)
        o = run(OURS_PY, OURS, path, "{}")
        s = run(SPORTRAN_PY, SPORTRAN, path, json.dumps([o["q"], o["pstar"]]))
        rows.append((o, s))
        print(f" {seed:4d} {o['q']:3d} {o['pstar']:3d} | {o['kappa']:.5f} +- {o['kappa_error']:.5f}"
              f"  {o['kappa_pstar']:.5f} +- {o['kappa_pstar_error']:.5f} | "
              f"{s['kappa_fixed']:.5f} +- {s['kappa_fixed_error']:.5f} | "
              f"{s['kappa_aic']:.5f} +- {s['kappa_aic_error']:.5f} ({s['pstar_aic']})")
    d = np.array([(o["kappa_pstar"] / s["kappa_fixed"] - 1,
                   o["kappa_pstar_error"] / s["kappa_fixed_error"] - 1,
                   (o["kappa"] - s["kappa_aic"]) / o["kappa_error"]) for o, s in rows])
    print(f"same f*, P*: max |kappa_ours/kappa_sportran - 1| = {np.abs(d[:, 0]).max():.2e}, "
          f"error ratio - 1 in [{d[:, 1].min():+.3f}, {d[:, 1].max():+.3f}]")
    print(f"ours (AIC average) - sportran (own AIC), in units of our error: mean "
          f"{d[:, 2].mean():+.2f}, max |.| {np.abs(d[:, 2]).max():.2f}")
    z_o = np.array([(o["kappa"] - kex) / o["kappa_error"] for o, _ in rows])
    z_s = np.array([(s["kappa_aic"] - kex) / s["kappa_aic_error"] for _, s in rows])
    print(f"z = (kappa - exact)/error: ours mean {z_o.mean():+.2f} sd {z_o.std(ddof=1):.2f}; "
          f"sportran (our f*, its AIC) mean {z_s.mean():+.2f} sd {z_s.std(ddof=1):.2f}")


def speed(n: int) -> None:
    path = "/tmp/bench_cepstral_speed.npy"
    if not (os.path.exists(path) and np.load(path, mmap_mode="r").shape[0] == n):
        t0 = time.perf_counter()
        make_series(n, 12345, path)
        print(f"generated {n} samples in {time.perf_counter() - t0:.1f} s -> {path}")
    o = run(OURS_PY, OURS, path, "{}")
    print(f"pyonsager: {o['time']:.2f} s, peak RSS {o['maxrss_mb']:.0f} MB (input "
          f"{n * 6 * 8 / 2**20:.0f} MB), kappa = {o['kappa']:.6g} +- {o['kappa_error']:.2g}, "
          f"f* = {o['fstar']:.4g} (q = {o['q']}), P* = {o['pstar']}")
    s = run(SPORTRAN_PY, SPORTRAN, path, json.dumps([o["q"], o["pstar"]]))
    print(f"sportran:  {s['time']:.2f} s, peak RSS {s['maxrss_mb']:.0f} MB, "
          f"kappa(P*) = {s['kappa_fixed']:.6g} (ours {o['kappa_pstar']:.6g}), "
          f"kappa(own AIC, P* = {s['pstar_aic']}) = {s['kappa_aic']:.6g}")
    print(f"speed-up {s['time'] / o['time']:.1f}x, memory ratio "
          f"{s['maxrss_mb'] / o['maxrss_mb']:.1f}x")


def read_onsager(path: str) -> tuple[np.ndarray, float]:
    """(N, 2, 3) array [J0, J_first_species] and dt from one of our .onsager flux files."""
    header, names = {}, None
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            if ": " in line:
                key, val = line[1:].split(":", 1)
                header[key.strip()] = val.strip()
            names = line[1:].split()
    data = np.loadtxt(path, comments="#", ndmin=2)
    species = header["species"].strip("[]").split(",")[0].strip()
    cols = [names.index(f"{base}[{d}]") for base in ("energy_flux", f"mass_flux_{species}")
            for d in (1, 2, 3)]
    return data[:, cols].reshape(-1, 2, 3), float(header["dt"])


def md(path: str) -> None:
    x, dt = read_onsager(path)
    npy = "/tmp/bench_cepstral_md.npy"
    print(f"{path}: {x.shape[0]} samples, dt = {dt} (time unit of the file)")
    for label, arr in (("J0 alone (plain)", x[:, :1]), ("J0 + mass flux (reduced)", x)):
        np.save(npy, arr)
        o = run(OURS_PY, OURS, npy, "{}", str(dt))
        s = run(SPORTRAN_PY, SPORTRAN, npy, json.dumps([o["q"], o["pstar"]]), str(dt))
        print(f"  {label}: f* = {o['fstar']:.4g} (q = {o['q']}), P* = {o['pstar']}")
        print(f"    ours:     kappa = {o['kappa']:.6g} +- {o['kappa_error']:.3g} (AIC average);"
              f" at P*: {o['kappa_pstar']:.6g} +- {o['kappa_pstar_error']:.3g}")
        print(f"    sportran: same f*, P*: {s['kappa_fixed']:.6g} +- {s['kappa_fixed_error']:.3g};"
              f" own AIC (P* = {s['pstar_aic']}): {s['kappa_aic']:.6g} +- "
              f"{s['kappa_aic_error']:.3g}")
        print(f"    relative difference at the same f*, P*: "
              f"{o['kappa_pstar'] / s['kappa_fixed'] - 1:.2e}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["agree", "speed", "md"])
    p.add_argument("file", nargs="?", help="md: a .onsager flux file")
    p.add_argument("--n", type=int, default=None, help="samples (agree: 65536, speed: 1e7)")
    p.add_argument("--seeds", type=int, default=10)
    a = p.parse_args()
    if a.mode == "agree":
        agree(a.seeds, a.n or 65536)
    elif a.mode == "md":
        md(a.file)
    else:
        speed(a.n or 10_000_000)


if __name__ == "__main__":
    main()
