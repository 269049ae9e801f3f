"""Green-Kubo Onsager matrix, kappa(t), cutoff rule and jackknife errors (pure functions).

Notation: channel 0 is the energy flux X_0, channels a = 1..k-1 the independent mass fluxes,
all extensive.  With C_ij(t) = <X_i(t) X_j(0)> averaged over the three directions,

    L_ij(t) = s_ij * integral_0^t (C_ij(t') + C_ji(t'))/2 dt'        (running Onsager matrix)
    kappa(t) = 1 / (L(t)^-1)_00 = L_00 - L_0a L_ab^-1 L_b0            (Schur complement)

with s_ij = f_i f_j dt_SI / (V k_B T^2) from :mod:`pyonsager.units` (the trapezoid runs over
lags in samples).  Two components: kappa = L00 - L01^2/L11.  The symmetrisation is Onsager's
reciprocity (<X_i(t) X_j(0)> = <X_j(t) X_i(0)> in equilibrium for fluxes of equal time
parity); it also reduces the noise of the off-diagonal estimate.

Gauge invariance: J_0 -> J_0 + sum_a c_a J_a maps L -> T L T^T with T = [[1, c], [0, 1]];
(T^-1 e_0) = e_0, hence (L^-1)_00 and kappa(t) are unchanged at every t, and so is every
quantity computed from kappa(t) alone.  The cutoff rule below uses only kappa(t) and the Schur
complement of C(0) (the same algebra), so the chosen cutoff and kappa are gauge invariant.

Cutoff rule (default; a Sokal-type automatic window on the reduced flux, made robust to
oscillating and negative tails, then checked against the noise):
    phi(t) = d kappa/dt (the reduced correlation; phi(0) = kappa'(0) = Schur complement of s C(0)),
    tau(t) = integral_0^t |phi| dt' / phi(0)     (absolute integrated correlation time),
    t_0 = smallest t with t >= window * tau(t)    (window = 8 by default),
then, while |kappa(2 t) - kappa(t)| > DRIFT_Z * sigma_kappa(2 t) and 2 t <= max_lag, t -> 2 t
(kappa(t) still drifts by more than its noise: a slow tail the window missed).  For one
exponential the truncation bias at t_0 is ~exp(-window).  When no lag satisfies the window
rule, or the drift persists at max_lag, t_c is the last lag tried and a warning is stored.
Every ingredient (kappa(t), its jackknife error) is gauge invariant.  Users override with an
explicit cutoff time.

Standard errors: delete-one jackknife over pseudo-samples = (segment x direction), where the
segments are the correlator's contiguous time blocks (see :mod:`pyonsager.correlator`).  Each
pseudo-sample is the running integral of one segment's correlation in one direction; the
estimator (kappa, L_ij, ...) is recomputed from the weighted mean with one pseudo-sample left
out, and var = sum_m (1 - w_m/W) (theta_-m - theta_bar)^2 (the usual (n-1)/n sum for equal
weights).  Errors on the lag grid between stored points are linearly interpolated.  Before the final
jackknife, adjacent segments are merged into groups at least GROUP_FACTOR (20) times longer than
the cutoff (at least 8 groups), so that pseudo-samples are nearly independent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from .correlation import running_integral
from .errors import InputError

#: default window factor c of the cutoff rule t_c >= c * tau(t_c)
DEFAULT_WINDOW = 8.0
#: jackknife pseudo-samples span at least GROUP_FACTOR x the cutoff (see group_segments)
GROUP_FACTOR = 20
#: the cutoff is doubled while kappa(2t) - kappa(t) exceeds DRIFT_Z standard errors
DRIFT_Z = 2.5


def symmetric_running_integral(correlations: np.ndarray) -> np.ndarray:
    """Direction-averaged, symmetrised running integral, in sample units (dt = 1).

    correlations: (ndim, nch, nch, nlag) from the correlator.  Returns (nlag, nch, nch):
    I_ij(k) = trapz_{0..k} (C_ij + C_ji)/2 averaged over directions.
    """
    c = np.asarray(correlations, dtype=float).mean(axis=0)
    c = 0.5 * (c + np.swapaxes(c, 0, 1))
    return np.moveaxis(running_integral(c, 1.0, axis=-1), -1, 0)


def schur_complement(L: np.ndarray) -> np.ndarray:
    """1/(L^-1)_00 = L_00 - L_0a L_ab^-1 L_b0 for a stack (..., k, k); L_00 for k = 1.

    Computed with a linear solve (not an inverse) for accuracy.  A singular mass-flux block
    gives NaN (the caller reports it).
    """
    L = np.asarray(L, dtype=float)
    if L.shape[-1] == 1:
        return L[..., 0, 0].copy()
    laa = L[..., 1:, 1:].copy()
    la0 = L[..., 1:, 0:1]
    l0a = L[..., 0:1, 1:]
    # exactly singular blocks (e.g. the running integral at t = 0) give NaN instead of raising;
    # they are swapped for the identity so that the stacked solve runs vectorised
    scale = np.prod(np.abs(np.diagonal(laa, axis1=-2, axis2=-1)), axis=-1)
    bad = ~(np.abs(np.linalg.det(laa)) > 1e-300 + 1e-14 * scale) | ~np.isfinite(scale)
    if np.any(bad):
        laa[bad] = np.eye(laa.shape[-1])
    x = np.linalg.solve(laa, la0)
    out = L[..., 0, 0] - (l0a @ x)[..., 0, 0]
    out = np.where(bad, np.nan, out)
    return out


def normalized_condition(L: np.ndarray) -> float:
    """Condition number of D^-1/2 L D^-1/2 (D = diag L): scale-free measure of near-singularity."""
    d = np.sqrt(np.abs(np.diag(L)))
    if np.any(d == 0):
        return np.inf
    n = L / np.outer(d, d)
    try:
        return float(np.linalg.cond(0.5 * (n + n.T)))
    except np.linalg.LinAlgError:
        return np.inf


def unexplained_fractions(M: np.ndarray) -> np.ndarray:
    """r_s = (M_ss - M_so M_oo^-1 M_os) / M_ss for each row s of a symmetric matrix M.

    The fraction of channel s's zero-frequency (integrated) fluctuation not explained by the
    other channels: ~0 for a species whose mass flux is, at long times, a combination of the
    others (a non-diffusing framework species once one species is dropped).  Scale invariant.
    """
    M = np.asarray(M, dtype=float)
    n = M.shape[0]
    r = np.ones(n)
    for s in range(n):
        if M[s, s] <= 0:
            r[s] = 0.0
            continue
        if n == 1:
            continue
        o = [t for t in range(n) if t != s]
        idx = [s] + o
        r[s] = schur_complement(M[np.ix_(idx, idx)]) / M[s, s]
    return r


def cutoff_index(kappa_t: np.ndarray, rate: float,
                 window: float = DEFAULT_WINDOW) -> tuple[int, bool]:
    """Smallest lag k >= 1 with k >= window * tau(k), tau(k) = sum_{j<=k} |phi_j| / rate.

    kappa_t: running kappa per lag (any units); phi = its lag derivative (central
    differences), phi_0 = rate = its slope at t = 0 (same units per sample; the Schur
    complement of s*C(0)).  Returns (index, found); index = last lag when no lag satisfies it.
    """
    k = np.arange(kappa_t.shape[0])
    if not np.isfinite(rate) or rate <= 0 or k.size < 3:
        return int(k[-1]), False
    phi = np.gradient(np.nan_to_num(kappa_t, nan=0.0))
    phi[0] = rate
    tau = np.cumsum(np.abs(phi)) / rate
    hits = np.nonzero((k >= 1) & (k >= window * tau))[0]
    if hits.size == 0:
        return int(k[-1]), False
    return int(hits[0]), True


def extend_for_drift(kappa_t: np.ndarray, kappa_err_t: np.ndarray, index: int,
                     z: float = DRIFT_Z) -> tuple[int, bool]:
    """Double the cutoff while |kappa(2k) - kappa(k)| > z * err(2k); returns (index, converged).

    converged is False when the drift is still significant at the largest lag available.
    """
    last = kappa_t.shape[0] - 1
    k = index
    while True:
        k2 = min(2 * k, last)
        if k2 <= k:
            return k, True
        err = kappa_err_t[k2]
        drift = abs(kappa_t[k2] - kappa_t[k])
        if not np.isfinite(err) or drift <= z * err:
            return k, True
        if 2 * k > last:
            return k, False
        k = k2


def interpolate_grid(values: np.ndarray, grid: np.ndarray, index: float) -> np.ndarray:
    """Linear interpolation along the last axis of ``values`` sampled at lag indices ``grid``."""
    j = int(np.clip(np.searchsorted(grid, index, side="right") - 1, 0, grid.size - 1))
    if j == grid.size - 1 or grid[j] == index:
        return values[..., j]
    w = (index - grid[j]) / (grid[j + 1] - grid[j])
    return (1 - w) * values[..., j] + w * values[..., j + 1]


def group_segments(segment_integrals: np.ndarray, segment_weights: np.ndarray,
                   min_length: float, min_groups: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent segments (weighted means) into groups of at least ``min_length`` samples.

    Running integrals up to lag t of neighbouring segments share the pairs that straddle their
    boundary, so their fluctuations are correlated by ~t / length; grouping to lengths >> t
    makes the jackknife pseudo-samples nearly independent.  At least ``min_groups`` groups are
    kept (when there are that many segments).
    """
    w = np.asarray(segment_weights, dtype=float)
    nseg = w.size
    total = w.sum()
    ngroups = int(min(nseg, max(min_groups, total // max(min_length, 1.0))))
    if ngroups >= nseg:
        return segment_integrals, w
    # contiguous groups of near-equal total weight
    edges = np.searchsorted(np.cumsum(w), total * np.arange(1, ngroups) / ngroups, side="left") + 1
    edges = np.unique(np.concatenate([[0], np.clip(edges, 1, nseg - 1), [nseg]]))
    I = np.asarray(segment_integrals, dtype=float)
    out, wout = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        ws = w[a:b]
        out.append(np.tensordot(ws, I[a:b], axes=1) / ws.sum())
        wout.append(ws.sum())
    return np.stack(out), np.asarray(wout)


def jackknife(segment_integrals: np.ndarray, segment_weights: np.ndarray,
              func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Delete-one jackknife standard error of func(mean running integral) over segment x direction.

    segment_integrals: (nseg, ndim, nch, nch, ...) raw running integrals (not symmetrised);
    func maps a stack (..., nch, nch) of symmetrised, scaled matrices to values (...,) or
    (..., q); it is applied to the leave-one-out means.  Returns the standard error with the
    shape of func's output for one matrix stack, or NaN when fewer than 2 pseudo-samples.
    """
    I = np.asarray(segment_integrals, dtype=float)
    nseg, ndim = I.shape[:2]
    w = np.repeat(np.asarray(segment_weights, dtype=float), ndim)
    I = I.reshape((nseg * ndim,) + I.shape[2:])
    n = I.shape[0]
    I = 0.5 * (I + np.swapaxes(I, 1, 2))
    # matrices last: (n, ..., nch, nch)
    I = np.moveaxis(np.moveaxis(I, 1, -1), 1, -1)
    if n < 2:
        out = func(I[:1].sum(axis=0) * np.nan)
        return np.asarray(out) * np.nan
    W = w.sum()
    wshape = (-1,) + (1,) * (I.ndim - 1)
    total = np.tensordot(w, I, axes=1)
    loo = (total[None] - w.reshape(wshape) * I) / (W - w).reshape(wshape)
    theta = np.asarray(func(loo))
    f = (w / W).reshape((-1,) + (1,) * (theta.ndim - 1))
    mean = np.sum(f * theta, axis=0)
    var = np.sum((1 - f) * (theta - mean) ** 2, axis=0)
    return np.sqrt(var)


@dataclass
class GreenKuboEstimate:
    """Green-Kubo estimate on a set of channels (see module docstring for the formulas).

    All L's in SI (through ``scale``).  Arrays over lags have length nlag; ``*_err_t`` are on
    all lags (interpolated from the jackknife grid).  ``L`` / ``L_err`` hold the full channel
    matrix at the cutoff (every correlated channel, not only the selected ones).
    """

    time: np.ndarray
    L_t: np.ndarray
    kappa_t: np.ndarray
    L00_t: np.ndarray
    kappa_err_t: np.ndarray
    L00_err_t: np.ndarray
    cutoff_index: int
    cutoff_time: float
    cutoff_rule: str
    window: Optional[float]
    L: np.ndarray
    L_err: np.ndarray
    kappa: float
    kappa_err: float
    L00: float
    L00_err: float
    delta: float
    delta_err: float
    selected: list[int]
    pseudo_samples: int
    condition: float
    warnings: list[str] = field(default_factory=list)
    #: the automatic rule found t >= window * tau(t) within max lag (True for a user cutoff)
    cutoff_found: bool = True
    #: the drift doubling converged within max lag (True for a user cutoff)
    drift_converged: bool = True
    #: integrated correlation time of the reduced flux, kappa(t_c) / kappa'(0), in samples
    #: (at max lag when the rule was not satisfied: then a lower bound of what it needs)
    tau_int: float = float("nan")
    #: the smallest max lag (samples) the automatic rule would need: t_c, or when it was not
    #: reached, the lower bound window * tau(max lag)
    lag_needed: int = 0


def green_kubo(correlations: np.ndarray, scale: np.ndarray, selected: Sequence[int], dt: float,
               segment_integrals: Optional[np.ndarray] = None,
               segment_weights: Optional[np.ndarray] = None, grid: Optional[np.ndarray] = None,
               cutoff: Optional[float] = None, window: float = DEFAULT_WINDOW,
               condition_limit: float = 1e8) -> GreenKuboEstimate:
    """Running Onsager matrix, kappa(t), cutoff and jackknife errors.

    Parameters
    ----------
    correlations: (ndim, nch, nch, nlag) mean correlations, lags in samples.
    scale: (nch, nch) factors s_ij turning sample-unit integrals into SI coefficients.
    selected: channel indices of the Onsager matrix for kappa: [energy, independent mass...].
    dt: time between samples in seconds (only for the time axis and cutoff_time).
    segment_integrals, segment_weights, grid: correlator block data for the jackknife.
    cutoff: integration cutoff in seconds (overrides the automatic rule).
    window: c of the automatic rule t_c >= c tau(t_c).
    condition_limit: normalised condition number of the selected L above which a warning is
        stored (kappa is still returned, flagged).
    """
    sel = list(selected)
    raw = symmetric_running_integral(correlations)                # (nlag, nch, nch)
    nlag = raw.shape[0]
    L_t = raw * scale
    Ls = L_t[:, sel][:, :, sel]
    kappa_t = schur_complement(Ls)
    L00_t = L_t[:, sel[0], sel[0]].copy()
    c0 = np.asarray(correlations, float)[..., 0].mean(axis=0)
    c0 = 0.5 * (c0 + c0.T) * scale
    rate = float(schur_complement(c0[np.ix_(sel, sel)]))
    warnings: list[str] = []
    nch = raw.shape[1]
    have_blocks = segment_integrals is not None and len(segment_weights) > 0
    kappa_err_t = np.full(nlag, np.nan)
    L00_err_t = np.full(nlag, np.nan)
    npseudo = 0
    if have_blocks:
        segs = np.asarray(segment_integrals, float)
        npseudo = segs.shape[0] * segs.shape[1]
        g = np.asarray(grid)

        def band_func(m: np.ndarray) -> np.ndarray:
            m = m * scale
            return np.stack([schur_complement(m[..., sel, :][..., sel]), m[..., sel[0], sel[0]]],
                            axis=-1)

        # preliminary band (all segments) for the drift test; recomputed below on groups
        band = jackknife(segs, segment_weights, band_func)
        lags = np.arange(nlag)
        kappa_err_t = np.interp(lags, g, band[:, 0])
        L00_err_t = np.interp(lags, g, band[:, 1])
    else:
        warnings.append("no block data for error bars: errors are NaN")

    found = converged = True
    if cutoff is not None:
        idx = int(round(cutoff / dt))
        if idx < 1 or idx > nlag - 1:
            raise InputError(f"cutoff {cutoff:.4g} s is outside (0, max lag = "
                             f"{(nlag - 1) * dt:.4g} s]: choose a smaller cutoff or a larger "
                             "max_lag")
        rule = "user"
        win = None
    else:
        idx, found = cutoff_index(kappa_t, rate, window)
        rule = (f"window: first t >= {window:g} * integral_0^t |dkappa/dt| / kappa'(0), doubled "
                f"while |kappa(2t) - kappa(t)| > {DRIFT_Z:g} sigma")
        win = window
        converged = found
        if not found:
            warnings.append(
                f"automatic cutoff not reached within max lag {(nlag - 1) * dt:.4g} s: kappa(t) "
                "may be unconverged; increase max_lag or pass cutoff=")
        else:
            idx, converged = extend_for_drift(np.nan_to_num(kappa_t), kappa_err_t, idx)
            if not converged:
                warnings.append(
                    "kappa(t) still drifts beyond its error at the largest lag "
                    f"({(nlag - 1) * dt:.4g} s): increase max_lag or pass cutoff= after looking "
                    "at the kappa(t) plot")
    tau_int = float(kappa_t[idx] / rate) if np.isfinite(rate) and rate > 0 else float("nan")
    if cutoff is not None or (found and converged):
        lag_needed = int(idx)
    elif not found:
        # t >= window * tau(t) and tau is non-decreasing: at least window * tau(max lag) lags
        phi = np.gradient(np.nan_to_num(kappa_t, nan=0.0))
        tau_max = (float(np.sum(np.abs(phi[1:]))) + rate) / rate if rate > 0 else np.inf
        lag_needed = int(np.ceil(window * tau_max)) if np.isfinite(tau_max) else 2 * nlag
        lag_needed = max(lag_needed, nlag)
    else:
        lag_needed = 2 * int(idx)          # the drift test wants kappa at 2 t_c
    L = L_t[idx]
    cond = normalized_condition(L[np.ix_(sel, sel)]) if len(sel) > 1 else 1.0
    if not np.isfinite(kappa_t[idx]) or cond > condition_limit:
        warnings.append(
            f"near-singular Onsager matrix (normalised condition number {cond:.3g}): kappa is "
            "unreliable; name the mobile species (mobile=[...]) or drop a dependent mass flux")

    L_err = np.full((nch, nch), np.nan)
    kappa_err = L00_err = delta_err = np.nan
    if have_blocks:
        def quantities(m: np.ndarray) -> np.ndarray:
            m = m * scale
            k = schur_complement(m[..., sel, :][..., sel])
            d = (m[..., sel[0], sel[0]] - k) / k
            return np.concatenate([k[..., None], d[..., None], m.reshape(m.shape[:-2] + (-1,))],
                                  axis=-1)

        # pseudo-samples much longer than the cutoff (see group_segments)
        gsegs, gw = group_segments(segs, segment_weights, GROUP_FACTOR * max(idx, 1))
        npseudo = gsegs.shape[0] * gsegs.shape[1]
        band = jackknife(gsegs, gw, band_func)
        kappa_err_t = np.interp(lags, g, band[:, 0])
        L00_err_t = np.interp(lags, g, band[:, 1])
        at_cut = interpolate_grid(gsegs, g, idx)[..., None]           # (ngroup, ndim, nch, nch, 1)
        e = jackknife(at_cut, gw, quantities)[0]
        kappa_err = float(e[0])
        delta_err = float(e[1])
        L_err = e[2:].reshape(nch, nch)
        L00_err = float(L_err[sel[0], sel[0]])
    return GreenKuboEstimate(
        time=np.arange(nlag) * dt, L_t=L_t, kappa_t=kappa_t, L00_t=L00_t,
        kappa_err_t=kappa_err_t, L00_err_t=L00_err_t, cutoff_index=idx, cutoff_time=idx * dt,
        cutoff_rule=rule, window=win, L=L, L_err=L_err, kappa=float(kappa_t[idx]),
        kappa_err=kappa_err, L00=float(L00_t[idx]), L00_err=L00_err,
        delta=float((L00_t[idx] - kappa_t[idx]) / kappa_t[idx]), delta_err=delta_err, selected=sel,
        pseudo_samples=npseudo, condition=cond, warnings=warnings, cutoff_found=found,
        drift_converged=converged, tau_int=tau_int, lag_needed=lag_needed)
