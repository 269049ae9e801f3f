"""PNG plots of an analysis result (matplotlib's Agg canvas, imported only when plotting;
pyplot and the global backend are not touched).

* ``kappa_vs_L00.png``: running kappa(t) and L00(t) with their standard-error bands and the
  integration cutoff marked: the gap between the curves is what a single-flux Green-Kubo
  calculation gets wrong.
* ``spectrum.png`` (when the result has a cepstral estimate): the reduced periodogram below
  f*, its cepstral fit, and the plain energy-flux periodogram for comparison.
* ``kappa_T.png`` (drivers, a list of temperatures): :func:`plot_kappa_temperature`.
* ``msd.png`` (drivers): :func:`pyonsager.diffusion.plot_msd` draws on :func:`new_figure`.

Each plot labels its own estimator's number: the Green-Kubo plot the Green-Kubo kappa at its
cutoff (also when the reported kappa is the cepstral one), the spectrum the cepstral kappa.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

PS = 1e-12     # seconds per picosecond: time axes are drawn in ps


def new_figure(figsize: tuple[float, float] = (6.4, 4.2)):
    """A figure on its own Agg canvas: no pyplot state, the user's backend is left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


_figure = new_figure


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    """Running mean over ``width`` points (the raw periodogram is chi-square noisy)."""
    if width <= 1 or len(y) < width:
        return y
    kernel = np.ones(width) / width
    return np.convolve(y, kernel, mode="same")


def green_kubo_figure(arrays: Mapping[str, np.ndarray], kappa: Any = None,
                      unit: str = "W m$^{-1}$ K$^{-1}$", single_component: Optional[str] = None):
    """The figure of :func:`plot_green_kubo` (returned, not saved: tests read its labels).

    kappa: the Green-Kubo kappa at the cutoff (a Quantity or {value, error}), for the legend.
    single_component: None when mass fluxes were given; otherwise how the single component
    was decided ("stated by the user" or "assumed ..."): an assumption is written on the plot.
    """
    t = np.asarray(arrays["time"]) / PS
    fig, ax = new_figure()
    no_mass = single_component is not None
    kappa_label = (r"$\kappa = L_{00}$ (no mass fluxes)" if no_mass
                   else r"$\kappa = 1/(L^{-1})_{00}$")
    curves = (("kappa", kappa_label, "tab:blue"),) if no_mass else (
        ("L00", "L$_{00}$ (energy flux alone)", "tab:orange"),
        ("kappa", kappa_label, "tab:blue"))
    for name, label, color in curves:
        y = np.asarray(arrays[f"{name}_t"])
        ax.plot(t, y, color=color, label=label, lw=1.2)
        if f"{name}_err_t" in arrays:
            err = np.asarray(arrays[f"{name}_err_t"])
            ax.fill_between(t, y - err, y + err, color=color, alpha=0.25, lw=0)
    if "cutoff_time" in arrays:
        tc = float(arrays["cutoff_time"]) / PS
        label = f"cutoff {tc:.3g} ps"
        if kappa is not None:
            value, error = _value_error(kappa)
            label += f": Green-Kubo kappa = {value:.3g} +/- {error:.2g}"
        ax.axvline(tc, color="k", ls="--", lw=0.8, label=label)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("correlation time t (ps)")
    ax.set_ylabel(f"running integral ({unit})")
    ax.set_xlim(t[0], t[-1])
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Green-Kubo running integrals")
    if no_mass and not single_component.startswith("stated"):
        ax.text(0.02, 0.05, "WARNING: no mass fluxes: kappa is L$_{00}$, valid only for one "
                "diffusing component", transform=ax.transAxes, fontsize=7.5, color="tab:red",
                va="bottom", ha="left",
                bbox=dict(facecolor="white", edgecolor="tab:red", alpha=0.9, lw=0.6))
    fig.tight_layout()
    return fig


def _value_error(q: Any) -> tuple[float, float]:
    if isinstance(q, Mapping):
        return float(q["value"]), float(q["error"])
    return float(q.value), float(q.error)


def plot_green_kubo(arrays: Mapping[str, np.ndarray], path: str, kappa: Any = None,
                    unit: str = "W m$^{-1}$ K$^{-1}$",
                    single_component: Optional[str] = None) -> str:
    """kappa(t) and L00(t) with error bands and the cutoff, saved as a PNG.

    arrays: ``time`` (s), ``kappa_t``, ``L00_t`` (SI), optional ``kappa_err_t``,
    ``L00_err_t``, ``cutoff_time`` (s).  kappa: the Green-Kubo value at the cutoff (legend).
    """
    green_kubo_figure(arrays, kappa, unit, single_component).savefig(path, dpi=120)
    return path


def plot_spectrum(arrays: Mapping[str, np.ndarray], path: str, kappa: Any = None,
                  fstar: Optional[float] = None, pstar: Optional[int] = None,
                  unit: str = "W m$^{-1}$ K$^{-1}$") -> str:
    """Reduced periodogram below f* with its cepstral fit, saved as a PNG."""
    spectrum_figure(arrays, kappa, fstar, pstar, unit).savefig(path, dpi=120)
    return path


def spectrum_figure(arrays: Mapping[str, np.ndarray], kappa: Any = None,
                    fstar: Optional[float] = None, pstar: Optional[int] = None,
                    unit: str = "W m$^{-1}$ K$^{-1}$"):
    """Figure of :func:`plot_spectrum` (spectra in units of kappa).

    arrays: ``frequencies`` (Hz), ``reduced_periodogram``, ``cepstral_fit`` (natural log),
    optional ``periodogram_L00``.  kappa: the cepstral kappa (legend).  fstar in Hz.
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
        value, error = _value_error(kappa)
        ax.errorbar([0], [value], yerr=[error], fmt="o", color="tab:blue",
                    label=f"cepstral kappa = {value:.3g} +/- {error:.2g}")
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
    return fig


def kappa_temperature_figure(rows: Sequence[Mapping[str, Any]],
                             unit: str = "W m$^{-1}$ K$^{-1}$"):
    """kappa(T) and L00(T) with error bars.

    rows: one per temperature, ``temperature`` (measured mean, K) and ``kappa``, ``L00`` as
    {value, error} (SI), e.g. the rows of ``kappa_T.yaml``.
    """
    fig, ax = new_figure((5.0, 3.6))
    t = [float(r["temperature"]) for r in rows]
    for key, label in (("kappa", r"$\kappa = 1/(L^{-1})_{00}$"),
                       ("L00", "$L_{00}$ (energy flux alone)")):
        ax.errorbar(t, [float(r[key]["value"]) for r in rows],
                    yerr=[float(r[key]["error"]) for r in rows], marker="o", capsize=3,
                    label=label)
    ax.set_xlabel("mean temperature T (K)")
    ax.set_ylabel(f"thermal conductivity ({unit})")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_kappa_temperature(rows: Sequence[Mapping[str, Any]], path: str) -> str:
    """``kappa_T.png``: :func:`kappa_temperature_figure` saved as a PNG; returns the path."""
    kappa_temperature_figure(rows).savefig(path, dpi=120)
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
    # each plot labels its own estimator's number: with the cepstral estimator the reported
    # kappa is the cepstral one, and the Green-Kubo estimate is kept in its parameters
    gk_kappa = params.get("green_kubo", {}).get("kappa", kappa)
    single = (getattr(result, "species_selection", None) or {}).get("single_component")
    jobs: list[tuple[str, Callable[[str], str]]] = []
    if all(k in arrays for k in ("time", "kappa_t", "L00_t")):
        jobs.append(("kappa_vs_L00.png",
                     lambda p: plot_green_kubo(arrays, p, gk_kappa, single_component=single)))
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
