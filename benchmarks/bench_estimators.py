"""Efficiency and speed of the kappa estimators (Green-Kubo, cepstral, likelihood).

efficiency: for each spectral shape of tests/spectral_models.py and each N, ``--seeds`` exact
    synthetic series (2 currents x 3 directions); for every estimator the bias (in units of
    its mean stated error), RMS error / Cramer-Rao bound of the true model (full multivariate
    Whittle bound; the bound of the reduced spectrum alone is printed too), and the mean and
    spread of z = (estimate - exact)/stated error.  Per-seed results go to a JSON file so that
    runs can be split and merged (``--json``).

    PYTHONPATH=.:tests python benchmarks/bench_estimators.py efficiency --n 10000 100000 \
        --seeds 40 --json eff.json

    ``--dump FILE`` (likelihood only) also appends, per shape/N and seed, one JSON line with
    every adequate model of the kappa fit (the rows of ``SpectrumFit.models``: family, order,
    cutoff index, f_c, AIC, Akaike weight, estimate v = log S(0), var v, goodness-of-fit
    p-value, X^2, its dof, misfit D; rejected models are not in the table) and the reported
    (kappa, error), so that error rules can be compared offline by re-weighting, without
    refitting (``rules``; the kappa estimates are the Akaike means and do not depend on the
    rule):

    PYTHONPATH=.:tests python benchmarks/bench_estimators.py efficiency --n 10000 --seeds 30 \
        --estimators likelihood --dump dump_1e4.jsonl
    PYTHONPATH=.:tests python benchmarks/bench_estimators.py rules --dump dump_1e4.jsonl

bootstrap: the parametric bootstrap of the whole likelihood procedure as an alternative error,
    its z spread against the rule's on the same seeds and its cost (docs/likelihood.md,
    "Error rule").

    PYTHONPATH=.:tests python benchmarks/bench_estimators.py bootstrap --models optical \
        --n 100000 --seeds 30 --replicas 30

speed: 1e7 samples x 2 fluxes x 3 directions (the OU test matrix), the likelihood estimator
    and the cepstral one, each in a fresh process (input loaded from .npy), wall time of the
    analysis and peak RSS of the process (incl. the 458 MB input).

    PYTHONPATH=.:tests python benchmarks/bench_estimators.py speed
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from spectral_models import MODELS  # noqa: E402

T, V = 500.0, 1000.0          # K, A^3: any values; results are converted back to flux^2 x time


def estimate(name: str, x: np.ndarray, dt: float, tables: dict | None = None
             ) -> tuple[float, float]:
    """(kappa, error) in flux^2 x time of dt, from one estimator; ``tables`` (likelihood):
    receives the model table of the kappa fit under "models"."""
    if name == "likelihood":
        from pyonsager.likelihood import likelihood_analysis
        r = likelihood_analysis(x, dt, matrix=False)
        if tables is not None:
            tables["models"] = r.reduced.models.tolist()
        return r.kappa, r.kappa_error
    if name == "cepstral":
        from pyonsager.cepstral import cepstral_analysis
        r = cepstral_analysis(x, dt)
        return r.kappa, r.kappa_error
    if name == "green-kubo":
        from pyonsager import units as U
        from pyonsager.analysis import analyze
        pref = U.energy_flux("metal") ** 2 * U.onsager_prefactor("metal", V, T, 1.0)
        res = analyze(energy_flux=x[:, 0, :], mass_flux=[x[:, 1, :]], species=["A"],
                      mobile=["A"], dt=dt, temperature=T, volume=V, units="metal",
                      estimator="green-kubo")
        return res.kappa.value / pref, res.kappa.error / pref
    raise ValueError(name)


def _write_json(path: str, obj: dict) -> None:
    """Atomic rewrite (a reader, or an interrupted run, never sees half a file)."""
    with open(path + ".tmp", "w") as fh:
        json.dump(obj, fh)
    os.replace(path + ".tmp", path)


def _read_dump(paths: list[str]) -> dict:
    """Merge dump files (JSON lines of ``efficiency --dump``; also the single-JSON form
    {key: {kappa, crb, crb_reduced, seeds: {seed: record}}}) into that single form."""
    merged: dict = {}
    for path in paths:
        with open(path) as fh:
            text = fh.read()
        try:
            items = list(json.loads(text).items())
        except json.JSONDecodeError:
            items = []
            for line in text.splitlines():
                if line.strip():
                    r = json.loads(line)
                    items.append((r["key"], {"kappa": r["exact"], "crb": r["crb"],
                                             "crb_reduced": r["crb_reduced"],
                                             "seeds": {str(r["seed"]): r}}))
        for key, entry in items:
            if key in merged:
                merged[key]["seeds"].update(entry["seeds"])
            else:
                merged[key] = entry
    return merged


def efficiency(args: argparse.Namespace) -> None:
    store: dict = {}
    if args.json and os.path.exists(args.json):
        with open(args.json) as fh:
            store = json.load(fh)
    dump = _read_dump([args.dump]) if args.dump and os.path.exists(args.dump) else {}
    for mname in args.models:
        model = MODELS[mname]
        for n in args.n:
            key = f"{mname}/{n}"
            entry = store.setdefault(key, {"kappa": model.kappa(), "runs": {}})
            if "crb" not in entry:
                entry["crb"] = model.cramer_rao(n)
                entry["crb_reduced"] = model.cramer_rao(n, reduced=True)
            dentry = dump.setdefault(key, {k: entry[k] for k in ("kappa", "crb", "crb_reduced")}
                                     | {"seeds": {}}) if args.dump else None
            for seed in range(args.seed0, args.seed0 + args.seeds):
                x = None
                for est in args.estimators:
                    runs = entry["runs"].setdefault(est, {})
                    want_dump = (dentry is not None and est == "likelihood"
                                 and str(seed) not in dentry["seeds"])
                    if (dentry is not None and est == "likelihood" and str(seed) not in runs
                            and str(seed) in dentry["seeds"]):
                        rec = dentry["seeds"][str(seed)]      # fitted before: from the dump
                        runs[str(seed)] = [rec["kappa"], rec["error"], float("nan")]
                    if str(seed) in runs and not want_dump:
                        continue
                    if x is None:
                        x = model.series(n, 10_000 + seed)
                    tables: dict | None = {} if want_dump else None
                    t0 = time.perf_counter()
                    try:
                        k, e = estimate(est, x, model.dt, tables)
                    except ValueError as exc:       # e.g. Green-Kubo's TooFewSamples
                        print(f"{key} seed {seed} {est}: refused ({str(exc)[:60]}...)",
                              file=sys.stderr)
                        k, e = float("nan"), float("nan")
                    runs[str(seed)] = [k, e, time.perf_counter() - t0]
                    if want_dump and tables:
                        rec = {"kappa": k, "error": e, "models": tables["models"]}
                        dentry["seeds"][str(seed)] = rec
                        # one JSON line per seed, appended: the file grows linearly
                        with open(args.dump, "a") as fh:
                            fh.write(json.dumps({"key": key, "seed": seed, **rec,
                                                 **{c: entry[c] for c in
                                                    ("crb", "crb_reduced")},
                                                 "exact": entry["kappa"]}) + "\n")
                if args.json:
                    _write_json(args.json, store)
    report(store)


def summary(entry: dict, est: str) -> dict:
    runs = np.array(list(entry["runs"][est].values()))
    refused = int(np.sum(~np.isfinite(runs[:, 0])))
    runs = runs[np.isfinite(runs[:, 0])]
    if runs.size == 0:
        return dict(seeds=0, refused=refused)
    k, e = runs[:, 0], runs[:, 1]
    exact = entry["kappa"]
    z = (k - exact) / e
    rms = float(np.sqrt(np.mean((k - exact) ** 2)))
    return dict(seeds=k.size, refused=refused, bias_over_sigma=float((k.mean() - exact) / e.mean()),
                rms_over_crb=rms / entry["crb"], rms_over_crb_reduced=rms / entry["crb_reduced"],
                sigma_over_crb=float(e.mean()) / entry["crb"], z_mean=float(z.mean()),
                z_spread=float(z.std(ddof=1)),
                seconds=float(np.nanmean(runs[:, 2])) if np.isfinite(runs[:, 2]).any() else 0.0)


def report(store: dict) -> None:
    print("| shape | N | estimator | seeds | bias/sigma | RMS/CRB | RMS/CRB(reduced) | "
          "sigma/CRB | z mean | z spread | s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, entry in store.items():
        shape, n = key.split("/")
        for est in ("green-kubo", "cepstral", "likelihood"):
            if est not in entry["runs"] or not entry["runs"][est]:
                continue
            s = summary(entry, est)
            if s["seeds"] == 0:
                print(f"| {shape} | {int(n):.0e} | {est} | 0 (refused {s['refused']}) "
                      "| | | | | | | |")
                continue
            print(f"| {shape} | {int(n):.0e} | {est} | {s['seeds']} | {s['bias_over_sigma']:+.2f} | "
                  f"{s['rms_over_crb']:.2f} | {s['rms_over_crb_reduced']:.2f} | "
                  f"{s['sigma_over_crb']:.2f} | {s['z_mean']:+.2f} | {s['z_spread']:.2f} | "
                  f"{s['seconds']:.2f} |")


# ------------------------------------------------------------------------------- rules
# Candidate error rules for the Akaike average of the likelihood fit, evaluated offline on the
# model tables stored by ``efficiency --dump``: each maps the weights w, estimates v = log S(0)
# and variances s of the adequate models to the variance of the averaged log S(0).

def _nested_cov(s: np.ndarray) -> np.ndarray:
    """C_ab = min(s_a, s_b): Cov of two unbiased estimates from nested fits of the same data
    (Hausman: the efficient one is uncorrelated with the difference)."""
    return np.minimum.outer(s, s)


def _rule_ba(w, v, s):
    """Burnham-Anderson: sum_m w_m [s_m + (v_m - vbar)^2]."""
    return float(w @ (s + (v - w @ v) ** 2))


def _rule_within(w, v, s):
    """sum_m w_m s_m (no spread)."""
    return float(w @ s)


def _rule_wcw(w, v, s):
    """w^T C w, C_ab = min(s_a, s_b) (fixed-weight variance of the average under the null)."""
    return float(w @ _nested_cov(s) @ w)


def _rule_hausman(w, v, s):
    """sum_m w_m [s_m + max(0, (v_m - vbar)^2 - e_m)], e_m = s_m - 2 (C w)_m + w^T C w the
    null expectation of (v_m - vbar)^2."""
    cw = _nested_cov(s) @ w
    e = s - 2 * cw + w @ cw
    return float(w @ (s + np.maximum(0.0, (v - w @ v) ** 2 - e)))


def _rule_hausman_mean(w, v, s):
    """sum_m w_m [s_m + max(0, (v_m - vbar)^2 - |s_m - sbar|)], sbar = sum_m w_m s_m."""
    sbar = w @ s
    return float(sbar + w @ np.maximum(0.0, (v - w @ v) ** 2 - np.abs(s - sbar)))


def _rule_hausman_best(w, v, s):
    """sum_m w_m [s_m + max(0, (v_m - v_b)^2 - |s_m - s_b|)], b the best (largest-weight)
    model: the spread about it less the Hausman variance of the difference."""
    b = int(np.argmax(w))
    return float(w @ (s + np.maximum(0.0, (v - v[b]) ** 2 - np.abs(s - s[b]))))


def _rule_module(w, v, s):
    """The rule of pyonsager.likelihood._average as it is in this tree."""
    from pyonsager.likelihood import _average
    return _average(v, s, -2.0 * np.log(np.maximum(w, 1e-300)))[1]


RULES = {"ba": _rule_ba, "within": _rule_within, "wcw": _rule_wcw, "hausman": _rule_hausman,
         "hausman_mean": _rule_hausman_mean, "hausman_best": _rule_hausman_best,
         "module": _rule_module}


def rules(args: argparse.Namespace) -> None:
    """Per row (shape/N) and rule: bias/sigma, sigma/CRB, z mean and z spread, the kappa
    estimates (Akaike means, unchanged by the rules) re-derived from the tables."""
    merged = _read_dump(args.dump)
    print("| shape | N | rule | seeds | bias/sigma | RMS/CRB | sigma/CRB | z mean | z spread |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = [0.0, 0.0]
    for key, entry in merged.items():
        shape, n = key.split("/")
        recs = list(entry["seeds"].values())
        tabs = [np.asarray(r["models"]) for r in recs]
        if not tabs:
            continue
        for r, t in zip(recs, tabs):      # the offline re-weighting reproduces the real run
            w = np.exp(-0.5 * (t[:, 4] - t[:, 4].min()))
            w /= w.sum()
            k = 0.5 * np.exp(w @ t[:, 6])
            worst[0] = max(worst[0], abs(k / r["kappa"] - 1.0))
            worst[1] = max(worst[1], abs(k * np.sqrt(_rule_module(w, t[:, 6], t[:, 7]))
                                         / r["error"] - 1.0))
        for name in args.rules:
            ks, es = [], []
            for t in tabs:
                w = np.exp(-0.5 * (t[:, 4] - t[:, 4].min()))
                w /= w.sum()
                k = 0.5 * np.exp(w @ t[:, 6])
                ks.append(k)
                es.append(k * np.sqrt(RULES[name](w, t[:, 6], t[:, 7])))
            k, e = np.array(ks), np.array(es)
            z = (k - entry["kappa"]) / e
            rms = np.sqrt(np.mean((k - entry["kappa"]) ** 2))
            print(f"| {shape} | {int(n):.0e} | {name} | {k.size} | "
                  f"{(k.mean() - entry['kappa']) / e.mean():+.2f} | {rms / entry['crb']:.2f} | "
                  f"{e.mean() / entry['crb']:.2f} | {z.mean():+.2f} | {z.std(ddof=1):.2f} |")
    print(f"\noffline against the stored runs: kappa to {worst[0]:.1e}, the error of the "
          f"module's rule to {worst[1]:.1e} (relative; 'module' is the rule of this tree, "
          "the stored errors that of the tree that ran)")


def _bootstrap_error(x: np.ndarray, dt: float, replicas: int, rng: np.random.Generator
                     ) -> tuple[float, float, float, float, float]:
    """Parametric bootstrap of the whole likelihood procedure for kappa (band top, adequacy,
    every fit, Akaike average): Gamma draws y* = S*(f) chi^2_n / n of every bin, with S* the
    best model below its cutoff, its log-linear nuisance fits up to the top of the compared
    band and the smoothed pooled periodogram above; the error is the standard deviation of
    log S(0) over the replicas.  Returns (kappa, stated error, bootstrap error, seconds of the
    fit, seconds per replica)."""
    from pyonsager import likelihood as lk
    n, k, ndir = x.shape
    freq, mat, last_real = lk.low_frequency_periodogram(x, dt)
    df = 1.0 / (n * dt)
    grid = lk._make_grid(freq.size, dt, df)
    red = lk.reduced_from_matrix(mat, ndir)
    dof = lk.bin_dof(freq.size, ndir - k + 1, last_real)
    t0 = time.perf_counter()
    fit = lk.fit_spectrum(red, dof, dt, df, _grid=grid)
    t1 = time.perf_counter()
    yp, npool = lk._pool(red, dof, grid)
    s_star = np.exp(lk._smoothed_log(yp, npool, 8)[0])
    g_best = int(np.isfinite(fit.fit).sum())
    s_star[:g_best] = fit.fit[:g_best]
    for a, b in (lk._nuisance_blocks(grid, g_best, fit.g_top) if g_best < fit.g_top else []):
        lf = grid.logf[a:b] - grid.logf[a:b].mean()
        u = lf / max(np.ptp(lf), 1e-300)
        out = lk._fit_gamma("log", u, yp[a:b], npool[a:b], 2) if b - a > 1 else None
        s_star[a:b] = (np.exp(lk._vander(u, 2) @ out[0]) if out is not None
                       else np.sum(npool[a:b] * yp[a:b]) / np.sum(npool[a:b]))
    s_bins = np.repeat(s_star, grid.count)
    logs = [np.log(2.0 * lk.fit_spectrum(s_bins * rng.chisquare(dof) / dof, dof, dt, df,
                                         _grid=grid).value) for _ in range(replicas)]
    t2 = time.perf_counter()
    return (fit.value, fit.error, fit.value * float(np.std(logs, ddof=1)), t1 - t0,
            (t2 - t1) / replicas)


def bootstrap(args: argparse.Namespace) -> None:
    """z spread and mean stated error of the step-7 rule and of the parametric bootstrap on
    the same seeds, and the cost of a replica."""
    print("| shape | N | seeds | replicas | z spread (rule) | z spread (bootstrap) | "
          "sigma/CRB (rule) | sigma/CRB (bootstrap) | fit (s) | replica (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(args.rng_seed)
    for mname in args.models:
        model = MODELS[mname]
        for n in args.n:
            rows = np.array([_bootstrap_error(model.series(n, 10_000 + seed), model.dt,
                                              args.replicas, rng)
                             for seed in range(args.seed0, args.seed0 + args.seeds)])
            exact, crb = model.kappa(), model.cramer_rao(n)
            z_rule = (rows[:, 0] - exact) / rows[:, 1]
            z_boot = (rows[:, 0] - exact) / rows[:, 2]
            print(f"| {mname} | {n:.0e} | {rows.shape[0]} | {args.replicas} | "
                  f"{z_rule.std(ddof=1):.2f} | {z_boot.std(ddof=1):.2f} | "
                  f"{rows[:, 1].mean() / crb:.2f} | {rows[:, 2].mean() / crb:.2f} | "
                  f"{np.median(rows[:, 3]):.2f} | {np.median(rows[:, 4]):.2f} |", flush=True)


# ------------------------------------------------------------------------------- speed

_MAKE = r"""
import sys
import numpy as np
from ou import ou_series
A = np.array([[1.0, 0.2], [0.2, 0.5]])
B = np.array([[1.0, 0.0], [0.7, 0.5]])
np.save(sys.argv[1], ou_series(A, B, 0.1, int(sys.argv[2]), 42))
"""

_CHILD = r"""
import sys, time
import numpy as np
x = np.load(sys.argv[2])
t0 = time.perf_counter()
if sys.argv[1] == "likelihood":
    from pyonsager.likelihood import likelihood_analysis
    r = likelihood_analysis(x, 0.1)
    out = (r.kappa, r.kappa_error)
else:
    from pyonsager.cepstral import cepstral_analysis
    r = cepstral_analysis(x, 0.1)
    out = (r.kappa, r.kappa_error)
wall = time.perf_counter() - t0
# VmHWM: peak resident set of this process image (ru_maxrss would carry the parent's peak
# across fork + exec)
rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
print(f"{wall:.3f} {rss:.0f} {out[0]:.5f} {out[1]:.5f}")
"""


def speed(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..") + os.pathsep
                   + os.path.join(HERE, "..", "tests") + os.pathsep
                   + os.environ.get("PYTHONPATH", ""))
        # the series is written by its own process: this one stays small
        subprocess.run([sys.executable, "-c", _MAKE, path, str(args.samples)], env=env,
                       check=True)
        print(f"{args.samples:.0e} samples x 2 fluxes x 3 directions ({os.path.getsize(path) / 1e6:.0f} MB)")
        print("| estimator | wall time (s) | peak RSS (MB) | kappa | error |")
        print("|---|---|---|---|---|")
        for est in args.estimators:
            out = subprocess.run([sys.executable, "-c", _CHILD, est, path], env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
            print(f"| {est} | {out[0]} | {out[1]} | {out[2]} | {out[3]} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("efficiency")
    e.add_argument("--models", nargs="+", default=list(MODELS))
    e.add_argument("--n", nargs="+", type=int, default=[10_000, 100_000])
    e.add_argument("--seeds", type=int, default=30)
    e.add_argument("--seed0", type=int, default=0)
    e.add_argument("--estimators", nargs="+", default=["likelihood", "cepstral", "green-kubo"])
    e.add_argument("--json", default=None)
    e.add_argument("--dump", default=None,
                   help="also store every adequate model of each likelihood fit (JSON)")
    e.set_defaults(func=efficiency)
    r = sub.add_parser("rules")
    r.add_argument("--dump", nargs="+", required=True, help="files written by efficiency --dump")
    r.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    r.set_defaults(func=rules)
    b = sub.add_parser("bootstrap")
    b.add_argument("--models", nargs="+", default=["optical"])
    b.add_argument("--n", nargs="+", type=int, default=[100_000])
    b.add_argument("--seeds", type=int, default=30)
    b.add_argument("--seed0", type=int, default=0)
    b.add_argument("--replicas", type=int, default=30)
    b.add_argument("--rng-seed", type=int, default=123)
    b.set_defaults(func=bootstrap)
    s = sub.add_parser("speed")
    s.add_argument("--samples", type=int, default=10_000_000)
    s.add_argument("--estimators", nargs="+", default=["likelihood", "cepstral"])
    s.set_defaults(func=speed)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
