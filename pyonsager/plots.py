"""PNG plots of an analysis result (matplotlib's Agg canvas, imported only when plotting;
pyplot and the global backend are not touched).

* ``kappa_vs_L00.png``: running kappa(t) and L00(t) with their standard-error bands and the
  integration cutoff marked: the gap between the curves is what a single-flux Green-Kubo
  calculation gets wrong.
* ``spectrum.png`` (when the result has a cepstral estimate): the reduced periodogram below
  f*, its cepstral fit, and the plain energy-flux periodogram for comparison.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Mapping, Optional

import numpy as np

PS = 1e-12     # seconds per picosecond: time axes are drawn in ps


def _figure():
    """A figure on its own Agg canvas: no pyplot state, the user's backend is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Running mean over ``width`` points (the raw periodogram is chi-square noisy)."""
    if width <= 1 or len(y) < width:
        return y
    kernel = np.ones(width) / width
    return np.convolve(y, kernel, mode="same")


def plot_green_kubo(arrays: Mapping[str, np.ndarray], path: str, kappa: Any = None,
                    unit: str = "W m$^{-1}$ K$^{-1}$") -> str:
    """kappa(t) and L00(t) with error bands and the cutoff.

    arrays: ``time`` (s), ``kappa_t``, ``L00_t`` (SI), optional ``kappa_err_t``,
    ``L00_err_t``, ``cutoff_time`` (s).  kappa: the reported Quantity (for the legend).
    """
    t = np.asarray(arrays["time"]) / PS
    fig, ax = _figure()
    for name, label, color in (("L00", "L$_{00}$ (energy flux alone)", "tab:orange"),
                               ("kappa", r"$\kappa = 1/(L^{-1})_{00}$", "tab:blue")):
        y = np.asarray(arrays[f"{name}_t"])
        ax.plot(t, y, color=color, label=label, lw=1.2)
        if f"{name}_err_t" in arrays:
            err = np.asarray(arrays[f"{name}_err_t"])
            ax.fill_between(t, y - err, y + err, color=color, alpha=0.25, lw=0)
    if "cutoff_time" in arrays:
        tc = float(arrays["cutoff_time"]) / PS
        label = f"cutoff {tc:.3g} ps"
        if kappa is not None:
            label += f": kappa = {kappa.value:.3g} +/- {kappa.error:.2g}"
        ax.axvline(tc, color="k", ls="--", lw=0.8, label=label)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("correlation time t (ps)")
    ax.set_ylabel(f"running integral ({unit})")
    ax.set_xlim(t[0], t[-1])
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Green-Kubo running integrals")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def plot_spectrum(arrays: Mapping[str, np.ndarray], path: str, kappa: Any = None,
                  fstar: Optional[float] = None, pstar: Optional[int] = None,
                  unit: str = "W m$^{-1}$ K$^{-1}$") -> str:
    """Reduced periodogram below f* with its cepstral fit (spectra in units of kappa).

    arrays: ``frequencies`` (Hz), ``reduced_periodogram``, ``cepstral_fit`` (natural log),
    optional ``periodogram_L00``.  fstar in Hz.
    """
    f = np.asarray(arrays["frequencies"]) * 1e-12          # THz
    reduced = np.asarray(arrays["reduced_periodogram"])
    width = max(1, len(f) // 60)
    fig, ax = _figure()
    plain = arrays.get("periodogram_L00")
    if plain is not None and len(f) > 1:
        # the energy-flux spectrum has its own f*; its grid has the same spacing 1/(N dt)
        f00 = arrays.get("frequencies_L00")
        f00 = np.asarray(f00) * 1e-12 if f00 is not None else np.arange(len(plain)) * f[1]
        ax.plot(f00, _smooth(np.asarray(plain), width), color="tab:orange", lw=0.8, alpha=0.6,
                label="energy-flux periodogram (L$_{00}$), smoothed")
        if "cepstral_fit_L00" in arrays:
            ax.plot(f00, np.exp(np.asarray(arrays["cepstral_fit_L00"])), color="tab:orange",
                    lw=1.4, ls="--", label="its cepstral fit (L$_{00}$)")
    ax.plot(f, _smooth(reduced, width), color="0.5", lw=0.8,
            label="reduced periodogram 1/(S$^{-1}$)$_{00}$, smoothed")
    fit_label = "cepstral fit" + (f", P* = {pstar}" if pstar is not None else "")
    ax.plot(f, np.exp(np.asarray(arrays["cepstral_fit"])), color="tab:blue", lw=1.6,
            label=fit_label)
    if kappa is not None:
        ax.errorbar([0], [kappa.value], yerr=[kappa.error], fmt="o", color="tab:blue",
                    label=f"kappa = {kappa.value:.3g} +/- {kappa.error:.2g}")
    if fstar is not None:
        ax.axvline(fstar * 1e-12, color="k", ls="--", lw=0.8, label=f"f* = {fstar * 1e-12:.3g} THz")
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel(f"spectrum ({unit})")
    fmax = max(f[-1] if len(f) else 1.0, fstar * 1e-12 if fstar else 0.0)
    ax.set_xlim(-0.01 * fmax, 1.02 * fmax)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Cepstral analysis")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def write_plots(result: Any, out_dir: str) -> list[str]:
    """Write the PNGs the result supports into ``out_dir``; returns their paths.

    A plot that fails (e.g. a broken matplotlib) becomes a warning: the numbers
    (onsager.yaml, onsager.npz) are written before the plots and stay valid.
    """
    os.makedirs(out_dir, exist_ok=True)
    arrays = getattr(result, "arrays", {}) or {}
    kappa = getattr(result, "kappa", None)
    params = (getattr(result, "estimator", None) or {}).get("parameters", {})
    jobs: list[tuple[str, Callable[[str], str]]] = []
    if all(k in arrays for k in ("time", "kappa_t", "L00_t")):
        jobs.append(("kappa_vs_L00.png", lambda p: plot_green_kubo(arrays, p, kappa)))
    if all(k in arrays for k in ("frequencies", "reduced_periodogram", "cepstral_fit")):
        jobs.append(("spectrum.png", lambda p: plot_spectrum(
            arrays, p, kappa, params.get("fstar"), params.get("pstar"))))
    if "lk_fit" in arrays:
        from .likelihood import plot_likelihood
        jobs.append(("likelihood_fit.png", lambda p: plot_likelihood(arrays, p, kappa)))
    written = []
    for name, job in jobs:
        try:
            written.append(job(os.path.join(out_dir, name)))
        except Exception as exc:      # plots are a convenience; never lose the numbers to them
            warnings.warn(f"plot {name} not written: {type(exc).__name__}: {exc}", stacklevel=2)
    return written
