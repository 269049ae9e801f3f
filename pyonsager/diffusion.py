"""Per-species mean-square displacement and diffusion coefficients (driver-independent).

The MSD tells mobile (diffusing) species from framework ones (the paper's Fig. 1(a)):
``MSD_s(t) = < |r_i(t) - r_i(0) - (R_s(t) - R_s(0))|^2 >_{i in s}`` with R_s the centre of the
species' own atoms, and ``D_s = slope / 6`` of a straight line fitted to MSD_s(t) over the second
half of the sampled times (the first half holds the ballistic and caging transient).

Why each species' own centre: total momentum is conserved, so a framework recoils as a whole
against the diffusing ions; in the lab frame its MSD then grows without bound (alpha-AgI's
I lattice: 6.8 A^2 after 500 ps against a 1.2 A^2 plateau once the drift is removed) and it
would look mobile.  Removing R_s takes that collective drift out; for a diffusing species it
lowers the MSD by |R_s|^2 ~ MSD/N_s, a relative bias of 1/N_s on D.

Both drivers (LAMMPS, ASE) collect MSD samples their own way and share these pure functions,
the mobile-species rule and the per-species block of ``onsager.yaml``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from pyonsager import units as _units

#: a species is mobile when its D exceeds this fraction of the largest D ...
MOBILE_RELATIVE = 0.1
#: ... and the largest D exceeds this floor (m^2/s); below it nothing diffuses (a solid)
MOBILE_FLOOR = 1e-11


def diffusion_unit_factor(units: str) -> float:
    """SI value (m^2/s) of one length^2/time unit of the LAMMPS unit system."""
    length = _units._system(units)["length"]
    return length ** 2 / _units.time(units)


def species_msd(count: np.ndarray, sum_sq: np.ndarray, sum_dx: np.ndarray) -> np.ndarray:
    """MSD of each species about its own centre: <|dx|^2> - |<dx>|^2 (length^2).

    count (ns,), sum_sq (ns,) = sum_i |dx_i|^2, sum_dx (ns, 3) = sum_i dx_i over the species'
    atoms; NaN for a species with no atoms.  Moments, so that MPI ranks can add them first.
    """
    count = np.asarray(count, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_dx = np.asarray(sum_dx, dtype=float) / count[:, None]
        return np.asarray(sum_sq, dtype=float) / count - np.einsum("ij,ij->i", mean_dx, mean_dx)


def fit_diffusion(t: np.ndarray, msd: np.ndarray) -> tuple[float, float]:
    """D and its error from MSD(t) (same units: length^2 / time): slope/6 over the second half.

    The error is the larger of the least-squares standard error of the slope (which ignores
    that successive MSD points are correlated, so it is too small) and half the difference of
    the slopes fitted separately on the third and fourth quarters (which measures how far the
    MSD is from the linear regime).  Returns (nan, nan) with fewer than 4 points in the half.
    """
    t = np.asarray(t, dtype=float)
    msd = np.asarray(msd, dtype=float)
    if t.size < 2:
        return float("nan"), float("nan")
    half = t >= t[0] + 0.5 * (t[-1] - t[0])
    if np.count_nonzero(half) < 4:
        return float("nan"), float("nan")
    th, mh = t[half], msd[half]
    (slope, _), cov = np.polyfit(th, mh, 1, cov=True)
    err_fit = float(np.sqrt(max(cov[0, 0], 0.0)))
    mid = th[0] + 0.5 * (th[-1] - th[0])
    q3, q4 = th < mid, th >= mid
    err_halves = 0.0
    if np.count_nonzero(q3) >= 2 and np.count_nonzero(q4) >= 2:
        s3 = np.polyfit(th[q3], mh[q3], 1)[0]
        s4 = np.polyfit(th[q4], mh[q4], 1)[0]
        err_halves = 0.5 * abs(s3 - s4)
    return float(slope / 6.0), float(max(err_fit, err_halves) / 6.0)


def classify_mobile(diffusion: dict[str, float], relative: float = MOBILE_RELATIVE,
                    floor: float = MOBILE_FLOOR) -> list[str]:
    """Names of the mobile species: D_s > relative * max(D) and max(D) > floor (SI, m^2/s).

    A species whose D is NaN (too few MSD points) is treated as mobile only if all are NaN
    (no information: keep every species, the analysis then decides from the fluxes).
    """
    values = {k: v for k, v in diffusion.items() if np.isfinite(v)}
    if not values:
        return list(diffusion)
    dmax = max(values.values())
    if dmax <= floor:
        return []
    return [k for k in diffusion if k in values and values[k] > relative * dmax]


@dataclass
class MSDSeries:
    """MSD samples: ``steps`` (n,), ``time`` (n,) since the origin in the unit system's time
    unit, ``msd`` (n, nspecies) in length^2, species names in column order."""

    species: list[str]
    steps: np.ndarray
    time: np.ndarray
    msd: np.ndarray


def diffusion_text(d: float, e: float) -> str:
    """D as reported: a non-positive fitted slope is not a negative diffusion coefficient.

    Why: an MSD that has reached its plateau (a framework species) has a fitted slope that is
    noise around zero; D < 0 has no physical meaning, and the fit's error ignores that MSD
    points are correlated, so even a slope several "errors" below zero is a plateau.  It is
    reported as "0 within resolution" with the raw slope/6 kept for the record.
    """
    if not np.isfinite(d):
        return "not determined"
    if d <= 0:
        return f"0 within resolution (MSD does not grow: fitted slope/6 = {d:.2g} +/- {e:.2g} m^2/s)"
    return f"{d:.3g} +/- {e:.2g} m^2/s"


def plot_msd(series: MSDSeries, path: str, time_unit: str = "ps",
             diffusion: Optional[dict[str, tuple[float, float]]] = None) -> None:
    """MSD(t) per species, one PNG (its own Agg canvas: pyplot and the backend untouched)."""
    from pyonsager.plots import new_figure

    fig, ax = new_figure((5.0, 3.6))
    for k, name in enumerate(series.species):
        label = name
        if diffusion and name in diffusion and np.isfinite(diffusion[name][0]):
            d = diffusion[name][0]
            label += (f"  D = {d:.3g} m$^2$/s" if d > 0 else "  D = 0 (MSD does not grow)")
        ax.plot(series.time, series.msd[:, k], label=label)
    ax.set_xlabel(f"t ({time_unit})")
    ax.set_ylabel("MSD about the species' centre (Å$^2$)")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


MOBILE_RULE = (f"from the MSD: D > {MOBILE_RELATIVE:g} * max D and max D > {MOBILE_FLOOR:g} m^2/s")


def mobile_rule(user_given: bool, have_msd: bool) -> str:
    """How the mobile species were chosen, as written to ``onsager.yaml``."""
    if user_given:
        return "given by the user"
    return MOBILE_RULE if have_msd else "not determined (no MSD): all species"


def species_report(species: Sequence[str], counts: Optional[Sequence[int]],
                   masses: Optional[Sequence[float]],
                   diffusion: dict[str, tuple[float, float]],
                   mobile: Optional[Sequence[str]],
                   extra: Optional[dict[str, dict]] = None) -> dict:
    """The ``species`` block of ``onsager.yaml``: {name: {count, mass, diffusion_coefficient
    {value, error, unit m^2 s^-1}, mobile}} plus any ``extra[name]`` fields.

    A non-positive fitted D keeps its value (the record of what the fit gave) and gains
    ``note`` (see :func:`diffusion_text`): it means "not diffusing", never a negative D."""
    out = {}
    for k, name in enumerate(species):
        d, e = diffusion.get(name, (float("nan"), float("nan")))
        dc = {"value": _finite(d), "error": _finite(e), "unit": "m^2 s^-1"}
        if np.isfinite(d) and d <= 0:
            dc["note"] = ("non-positive fitted slope: the MSD does not grow, D = 0 within the "
                          "fit's resolution (the value is the noise of a plateau)")
        out[name] = {
            "count": int(counts[k]) if counts else None,
            "mass": _finite(masses[k]) if masses and masses[k] is not None else None,
            "diffusion_coefficient": dc,
            "mobile": bool(mobile is None or name in mobile),
            **((extra or {}).get(name, {})),
        }
    return out


def write_msd(out_dir: str, series: "MSDSeries", time_unit: str,
              diffusion: dict[str, tuple[float, float]], plots: bool = True) -> None:
    """``msd.npz`` (time, steps, species, msd) and, with ``plots``, ``msd.png``."""
    import os

    if plots:
        plot_msd(series, os.path.join(out_dir, "msd.png"), time_unit, diffusion)
    np.savez(os.path.join(out_dir, "msd.npz"), time=series.time, steps=series.steps,
             species=np.array(series.species), msd=series.msd)


def _finite(x: Optional[float]) -> Optional[float]:
    return float(x) if x is not None and np.isfinite(x) else None


def diffusion_table(diffusion: dict[str, tuple[float, float]],
                    mobile: Optional[Sequence[str]]) -> str:
    """Per-species lines 'D = ... m^2/s  mobile|framework' for the end-of-run summary."""
    lines = []
    for name, (d, e) in diffusion.items():
        role = "mobile" if mobile is None or name in mobile else "framework (not diffusing)"
        value = diffusion_text(d, e)
        lines.append(f"{'D(' + name + ')':>9}  {value}  {role}")
    return "\n".join(lines)
