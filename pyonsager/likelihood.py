"""Maximum-likelihood spectral estimator of kappa and of the Onsager matrix (pure numpy/scipy).

Statistics (details and validation in ``docs/likelihood.md``)
------------------------------------------------------------
Fluxes ``x`` (N, k, l): channel 0 the energy flux, 1..k-1 the independent mass fluxes, l
equivalent directions.  With X_a(f_j) = sum_n x_a[n] e^{-2 pi i j n/N}, f_j = j/(N dt), the
direction-averaged periodogram I_ab = dt/(N l) sum_d X_a^d X_b^d* estimates the two-sided
spectral density S_ab(f) (S(0) = 2 integral_0^inf C(t) dt).  Every transport value returned
is **S(0)/2** in [flux^2 x time unit of dt], as in :mod:`pyonsager.cepstral`: multiply by the
Green-Kubo prefactor.

* Reduced periodogram y_j = l/(l-k+1) / (I^-1)_00(f_j): the Schur complement of a complex
  Wishart matrix, so y_j = S_red(f_j) chi^2_n / n with n = 2(l-k+1) dof (real bins f = 0 and
  Nyquist: n = l-k+1), independent across bins (Whittle).  Negative log-likelihood

      NLL = sum_j (n_j/2) [log S(f_j) + y_j / S(f_j)]  (+ const).

  S_red is invariant under J0 -> J0 + sum_s a_s J_s and under any invertible mixing or
  rescaling of the mass fluxes, so kappa = S_red(0)/2 is gauge invariant exactly.
* Smooth coupling (the default, ``coupling="smooth"``, :func:`residual_periodogram`): per
  bin, X_0^d = beta(f) X_r^d + e^d with beta = S_0r S_rr^-1 and Var e = S_red.  The Schur
  complement spends k-1 of the l complex samples of each bin on fitting beta(f_j) afresh in
  every bin; but beta is smooth in f, so it is estimated from the neighbouring bins
  instead (weighted least squares over the 2 ``COUPLING_HALF_WIDTH`` nearest bins, the bin's
  own left out, reflected at f = 0 with beta(-f) = beta(f)*), and the residual
  q_j = (1/l) sum_d |X_0^d - beta_hat X_r^d|^2 keeps n = 2l dof (l at the real bins):
  the energy flux's own noise, with nothing spent on the coupling.  Leaving the own bin
  out makes beta_hat independent of the bin's noise, so E q_j = S_red (1 + c_j) with
  c_j = tr(I_rr Cov beta_hat)/S_red the known O(1/(2 l COUPLING_HALF_WIDTH)) excess,
  divided out.  q_j is exactly invariant under the same gauge changes (beta_hat -> beta_hat
  + a, and equivariant under mixing of the mass fluxes), so kappa stays gauge invariant.
  On the efficiency harness it lowers the RMS error of kappa on 9 of 10 rows, by up to
  23 % at equal N (docs/likelihood.md).  ``coupling="free"``: the reduced periodogram above.
* Models of the low-frequency band [0, f_c], in x = (sin(pi f dt)/(pi dt))^2 (= f^2 at low f;
  exactly linear in 1/S for the reduced spectrum of a sampled Ornstein-Uhlenbeck process),
  u = x / x(f_c):
    - ``inverse``: 1/S = sum_{m<p} c_m u^m (a Pade form with constant numerator; p = 2 is a
      Lorentzian);
    - ``log``: log S = sum_{m<p} a_m u^m.
  Both NLLs are convex in their coefficients (Newton, step halving keeps 1/S > 0).
* Cutoffs f_c on a geometric grid (ratio ``CUT_RATIO`` = 2^(1/4), at least ``MIN_CUT_BINS``
  bins, at least ``BINS_PER_COEF`` bins per coefficient).  So that models with different f_c
  are compared on the *same* data (all bins up to the top of the band), the band above f_c
  is described by nuisance models log S = alpha + beta log f, fitted by maximum likelihood
  in octave blocks (2 parameters per block).  Every (family, p, f_c) is then one model of
  the same bins, AIC = 2 NLL + 2 (p + 2 n_blocks).
* Adequacy: each fitted model is tested on its own band by a block score test (quarter-octave
  blocks between the cutoffs, :func:`_gof_pvalue`); models with p < ``GOF_ALPHA`` *and* an
  estimated rms misfit of log S of at least ``GOF_RELEVANCE`` are dropped, and the compared
  band (models and nuisance blocks) ends at the highest cutoff of an adequate model.  (The
  relevance condition: at 1e6 samples the test detects misfits of a fraction of a percent,
  chance deviations of the exact model included, and one rejection of the top bands would
  throw most of the band away.)  Without the rule, a steep or peaked band above the
  plateau, which the octave nuisance fits describe worse than one global polynomial, hands
  the Akaike weight to the widest (least adequate) bands.
* Top of the band: the Nyquist frequency (or the last bin read), unless the smoothed
  spectrum rises by a factor ``GUARD_RISE`` above its minimum at lower frequencies (a
  resonance such as an optical peak, :func:`_resonance_guard`): the band then ends there.
  For the Onsager-matrix elements (not kappa) it also ends where the auto-spectrum has
  fallen by ``FALL_DROP`` (:func:`_fall_guard`).  Both read only the spectrum being fitted.
* Estimate: Akaike weights w_m = exp(-(AIC_m - AIC_min)/2) over all models (Burnham &
  Anderson 2002 sec. 4.2); log S(0) = sum_m w_m v_m; its variance
  sum_m w_m [var_m + (v_m - mean)^2] (the unconditional variance: statistics of each model
  plus the spread between the cutoffs/orders the data cannot tell apart), var_m from the
  observed Fisher information (inverse Hessian of the NLL) propagated to log S(0).
* Diagonal elements L_aa (L00, L11, the kinetic/potential parts) are the same fit of the plain
  periodogram I_aa (n = 2l).  Off-diagonal ones L_ab from the real cross-periodogram, whose
  mean is S_ab (real for fluxes of equal time parity) and whose variance is
  (S_aa S_bb + S_ab^2)/n_j: a weighted least-squares (Gaussian likelihood) fit of the same
  models in linear form (S_ab = sum beta_m u^m), same cutoffs, nuisance blocks (WLS of
  alpha + beta log f) and AIC weights, band top the lower of the two auto-spectra's; the
  weights are estimated from the neighbouring bins only (leave-own-bin-out), so
  they are independent of the bin they weight and the fit stays unbiased.

Long series: bins above ``MAX_BINS`` are not used, and bins above ``SINGLE_BINS`` are pooled
in groups ~0.5 % wide in frequency (sums of independent Gamma variables with the same
scale); the pooled likelihood is exact up to the variation of S inside a group.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from scipy import fft as _fft

from .errors import InputError, TooFewSamples

__all__ = [
    "LikelihoodResult", "SpectrumFit", "likelihood_analysis", "fit_spectrum",
    "fit_cross_spectrum", "bin_dof", "low_frequency_periodogram", "reduced_from_matrix",
    "plot_likelihood", "apply_likelihood", "residual_periodogram",
]

#: bins kept one by one before pooling
SINGLE_BINS = 256
#: relative width of pooled groups above SINGLE_BINS
POOL_WIDTH = 0.005
#: largest number of frequency bins read from a series (memory bound for 1e7+ samples)
MAX_BINS = 1 << 21
#: smallest cutoff, in periodogram bins
MIN_CUT_BINS = 24
#: ratio between consecutive cutoffs (the nuisance blocks)
CUT_RATIO = 2.0 ** 0.25
#: highest polynomial order (number of coefficients) of each family
MAX_ORDER = 6
#: at least this many bins per model coefficient inside the fitted band
BINS_PER_COEF = 6
#: smallest number of samples accepted
MIN_SAMPLES = 64
#: smooth coupling: beta(f_j) from the bins j-w..j+w except j itself (w this half width)
COUPLING_HALF_WIDTH = 8
#: half width (bins) of the running mean of the reduced periodogram that weights those bins
PILOT_HALF_WIDTH = 16
COUPLINGS = ("smooth", "free")
FAMILIES = ("inverse", "log")
#: frequency ratio of the nuisance blocks above a cutoff (log-linear, 2 parameters each)
NUISANCE_RATIO = 2.0
NUISANCE_NPAR = 2
#: resonance guard: the band ends where the smoothed spectrum rises by this factor
GUARD_RISE = 2.0
#: Onsager-matrix elements (not kappa): the band ends where the auto-spectrum has fallen by
#: this factor below its low-frequency maximum
FALL_DROP = 4.0
#: a model is adequate on its band when its block score test has p-value >= GOF_ALPHA ...
GOF_ALPHA = 0.01
#: ... or when the misfit it detects is smaller than this (rms relative misfit of S, i.e. of
#: log S, information-weighted over the band): a significant but irrelevant misfit
GOF_RELEVANCE = 0.02


# --------------------------------------------------------------------------------------------
# periodograms
# --------------------------------------------------------------------------------------------

def bin_dof(nfreq: int, nu: int, last_is_real: bool) -> np.ndarray:
    """Chi-square dof of each bin of a (reduced) periodogram: 2 nu inside, nu at f = 0 and, if
    ``last_is_real``, at Nyquist (real-valued transforms); nu = l - k + 1 complex samples."""
    n = np.full(nfreq, 2.0 * nu)
    n[0] = nu
    if last_is_real:
        n[-1] = nu
    return n


def low_frequency_periodogram(fluxes: np.ndarray, dt: float, nbins: Optional[int] = None
                              ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Direction-averaged cross-periodogram I_ab(f_j) = dt/(N l) sum_d X_a^d X_b^d* for the
    lowest ``nbins`` bins (default min(N//2 + 1, MAX_BINS)).

    One channel-direction FFT at a time: memory beyond the input ~ 16 N + 16 k^2 nbins bytes.
    Returns (frequencies (nb,), I (nb, k, k) complex, last_is_real: whether the last bin kept
    is the real Nyquist bin).
    """
    x = np.asarray(fluxes)
    n, k, ndir = x.shape
    nf = n // 2 + 1
    nb = min(nf, MAX_BINS if nbins is None else int(nbins))
    mat = np.zeros((nb, k, k), dtype=np.complex128)
    for d in range(ndir):
        spec = np.empty((k, nb), dtype=np.complex128)
        for a in range(k):
            spec[a] = _fft.rfft(np.asarray(x[:, a, d], dtype=np.float64))[:nb]
        for a in range(k):
            mat[:, a, a] += spec[a].real ** 2 + spec[a].imag ** 2
            for b in range(a + 1, k):
                mat[:, a, b] += spec[a] * spec[b].conj()
        del spec
    iu = np.triu_indices(k, 1)
    mat[:, iu[1], iu[0]] = mat[:, iu[0], iu[1]].conj()
    mat *= dt / (n * ndir)
    return np.arange(nb) / (n * dt), mat, bool(nb == nf and n % 2 == 0)


def reduced_from_matrix(mat: np.ndarray, ndir: int) -> np.ndarray:
    """Unbiased reduced periodogram l/(l-k+1) x (I_00 - I_0r I_rr^-1 I_r0), (nb,) real.

    The Schur complement equals 1/(I^-1)_00; computed with a solve for accuracy.
    """
    k = mat.shape[-1]
    nu = ndir - k + 1
    if nu < 1:
        raise InputError(f"{k} fluxes need at least {k} equivalent directions, got {ndir}")
    if k == 1:
        return mat[:, 0, 0].real * 1.0
    try:
        y = np.linalg.solve(mat[:, 1:, 1:], mat[:, 1:, 0:1])[..., 0]
    except np.linalg.LinAlgError:
        raise InputError("the mass fluxes are linearly dependent (singular cross-spectrum): drop "
                         "one species (total momentum is conserved) or a duplicate flux") from None
    red = (mat[:, 0, 0] - np.einsum("fi,fi->f", mat[:, 0, 1:], y)).real
    return red * (ndir / nu)


def _neighbour_sums(a: np.ndarray, half: int, mirror: bool) -> np.ndarray:
    """sum_{0 < |t| <= half} a[j + t] for every row j of a (nb, ...), over the rows that exist;
    with ``mirror`` the rows below 0 are the mirror images a[-i] = conj(a[i]) (row 0 is f = 0
    of a real series' transform).  Shifted sums, not differences of a running sum: spectra
    span many decades, and a difference of prefix sums would cancel."""
    nb = a.shape[0]
    pad = np.zeros((half,) + a.shape[1:], dtype=a.dtype)
    front = pad.copy()
    if mirror:
        m = min(half, nb - 1)
        front[half - m:] = a[1:m + 1][::-1].conj()
    ext = np.concatenate([front, a, pad], axis=0)             # ext[i + half] = a[i]
    out = np.zeros_like(a)
    for t in range(1, half + 1):
        out += ext[half + t:half + t + nb]
        out += ext[half - t:half - t + nb]
    return out


def _residual_block(mat: np.ndarray, w: np.ndarray, ndir: int, half: int, mirror: bool
                    ) -> np.ndarray:
    """q_j / (1 + c_j) of :func:`residual_periodogram` for consecutive bins (the caller
    discards the ``half`` bins at an edge that is not f = 0 or the top: their neighbours are
    missing)."""
    i_rr = mat[:, 1:, 1:]
    i_0r = mat[:, 0, 1:]
    b = np.linalg.solve(np.swapaxes(i_rr, 1, 2), i_0r[..., None])[..., 0]      # B I_rr = I_0r
    schur = (mat[:, 0, 0] - np.einsum("fi,fi->f", b, i_0r.conj())).real
    m = _neighbour_sums(i_rr * w[:, None, None], half, mirror)
    v = _neighbour_sums(i_0r * w[:, None], half, mirror)
    beta = np.linalg.solve(np.swapaxes(m, 1, 2), v[..., None])[..., 0]        # beta M = v
    d = beta - b
    q = schur + np.einsum("fi,fij,fj->f", d, i_rr, d.conj()).real
    excess = np.einsum("fij,fji->f", i_rr, np.linalg.inv(m)).real * w / ndir
    return q / (1.0 + excess)


#: bins per block of :func:`residual_periodogram` (bounds its temporaries for 1e7+ samples)
RESIDUAL_BLOCK = 1 << 16


def residual_periodogram(mat: np.ndarray, ndir: int, last_is_real: bool,
                         half_width: int = COUPLING_HALF_WIDTH
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Periodogram of the energy flux's residual after its smooth regression on the mass fluxes.

    mat: (nb, k, k) direction-averaged cross-periodogram (:func:`low_frequency_periodogram`),
    channel 0 the energy flux, k >= 2.  Per bin, B_j = I_0r I_rr^-1 (the per-bin regression
    coefficient, complex (k-1)-row) and the smooth estimate

        beta_j = [sum_i w_i I_0r,i] [sum_i w_i I_rr,i]^-1,  0 < |i - j| <= half_width,

    with w_i = 1/p_i, p the running mean of the reduced periodogram over +-PILOT_HALF_WIDTH
    bins (weights only).  Residual (real, >= 0):

        q_j = I_00 - I_0r I_rr^-1 I_r0 + (beta_j - B_j) I_rr,j (beta_j - B_j)^H
            = (1/l) sum_d |X_0^d - beta_j X_r^d|^2 (in the units of I),

    and, with Cov beta_j ~ M_j^-1 / l (M_j = sum_i w_i I_rr,i, exact when p = S_red), its
    expectation S_red,j (1 + c_j), c_j = tr(I_rr,j M_j^-1) / (l p_j).  Returns
    (q / (1 + c), dof): the dof of a plain bin, 2 l (l at the real f = 0 and Nyquist bins).

    Exactly invariant (to round-off) under J0 -> J0 + sum_s a_s J_s (B and beta both shift by
    a) and under invertible real mixing or rescaling of the mass fluxes (B, beta -> B A^-1,
    beta A^-1): it is a function of the same gauge-invariant quantities as S_red.
    """
    nb = mat.shape[0]
    red = reduced_from_matrix(mat, ndir)
    box = np.ones(2 * PILOT_HALF_WIDTH + 1)
    w = np.convolve(np.ones(nb), box, mode="same") / np.convolve(red, box, mode="same")
    del red
    out = np.empty(nb)
    for s in range(0, nb, RESIDUAL_BLOCK):
        e = min(nb, s + RESIDUAL_BLOCK)
        a, b = max(0, s - half_width), min(nb, e + half_width)
        out[s:e] = _residual_block(mat[a:b], w[a:b], ndir, half_width, a == 0)[s - a:e - a]
    return out, bin_dof(nb, ndir, last_is_real)


# --------------------------------------------------------------------------------------------
# pooled bins, cutoff grid
# --------------------------------------------------------------------------------------------

@dataclass
class _Grid:
    """Pooled bins and the cutoff grid shared by every fit of one series."""

    start: np.ndarray        # (G,) first periodogram bin of each pooled group
    count: np.ndarray        # (G,) bins per group
    x: np.ndarray            # (G,) mean of x = (sin(pi f dt)/(pi dt))^2 over the group
    logf: np.ndarray         # (G,) log of the group's mean frequency (nuisance regressor)
    freq: np.ndarray         # (G,) mean frequency of the group
    edges: np.ndarray        # (K+1,) group indices of the cutoffs, edges[0] the smallest
    blocks: np.ndarray       # group indices of the fixed nuisance-block edges
    df: float


def _make_grid(nb: int, dt: float, df: float) -> _Grid:
    j = np.arange(nb)
    starts = list(range(min(SINGLE_BINS, nb)))
    s = len(starts)
    while s < nb:
        w = max(1, int(POOL_WIDTH * s))
        starts.append(s)
        s += w
    start = np.asarray(starts)
    count = np.diff(np.append(start, nb))
    f = j * df
    xb = (np.sin(np.pi * f * dt) / (np.pi * dt)) ** 2
    xg = np.add.reduceat(xb, start) / count
    fg = np.add.reduceat(f, start) / count
    # cutoffs: geometric in bins from MIN_CUT_BINS, snapped to group starts
    cuts = [MIN_CUT_BINS]
    while cuts[-1] * CUT_RATIO < nb:
        cuts.append(max(cuts[-1] + 3, int(round(cuts[-1] * CUT_RATIO))))
    cuts = [c for c in cuts if c < nb] + [nb]
    gidx = np.unique(np.searchsorted(start, cuts, side="left"))
    gidx = gidx[gidx > 0]
    if gidx[-1] != start.size:
        gidx = np.append(gidx, start.size)
    logf = np.log(np.maximum(fg, 0.5 * df))
    be = MIN_CUT_BINS * NUISANCE_RATIO ** np.arange(1, 80)
    be = np.unique(np.searchsorted(start, be[be < nb].astype(int), side="left"))
    be = np.unique(np.append(be[be > 0], start.size))
    return _Grid(start=start, count=count, x=xg, logf=logf, freq=fg, edges=gidx, blocks=be,
                 df=df)


def _pool(values: np.ndarray, dof: np.ndarray, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """dof-weighted group means and summed dof."""
    ng = np.add.reduceat(dof, grid.start)
    return np.add.reduceat(values * dof, grid.start) / ng, ng


# --------------------------------------------------------------------------------------------
# fits: Gamma (auto-spectra) and Gaussian (cross-spectra)
# --------------------------------------------------------------------------------------------

def _vander(u: np.ndarray, p: int) -> np.ndarray:
    return u[:, None] ** np.arange(p)[None, :]


def _fit_gamma(family: str, u: np.ndarray, y: np.ndarray, n: np.ndarray, p: int,
               start: Optional[np.ndarray] = None) -> Optional[tuple[np.ndarray, float, float]]:
    """ML fit of one model to pooled Gamma data (mean y, dof n).

    Returns (coefficients, NLL, var of log S(0)) or None when it does not converge.
    log S(0) is a_0 (log family) or -log c_0 (inverse family); its variance is the (0, 0)
    element of the inverse observed Hessian (times 1/c_0^2 for the inverse family).
    """
    z = _vander(u, p)
    h = 0.5 * n

    def nll_of(c: np.ndarray) -> float:
        eta = z @ c
        if family == "log":
            with np.errstate(over="ignore"):     # a trial step too far: inf, halved
                return float(np.sum(h * (eta + y * np.exp(-eta))))
        if np.any(eta <= 0):
            return np.inf
        return float(np.sum(h * (-np.log(eta) + y * eta)))

    if start is None:
        m = float(np.sum(h * y) / np.sum(h))
        c = np.zeros(p)
        c[0] = np.log(m) if family == "log" else 1.0 / m
    else:
        c = np.zeros(p)
        c[:start.size] = start
    val = nll_of(c)
    for _ in range(100):
        eta = z @ c
        if family == "log":
            e = y * np.exp(-eta)
            g = z.T @ (h * (1.0 - e))
            hw = h * e
        else:
            g = z.T @ (h * (y - 1.0 / eta))
            hw = h / eta ** 2
        hess = (z * hw[:, None]).T @ z
        try:
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while True:
            trial = c - t * step
            tv = nll_of(trial)
            if tv <= val + 1e-12 * abs(val):
                break
            t *= 0.5
            if t < 1e-10:
                break
        if t < 1e-10:
            break
        dec = val - tv
        c, val = trial, tv
        if dec < 1e-10 * max(1.0, abs(val)) and np.max(np.abs(t * step)) < 1e-9 * (1 + np.max(np.abs(c))):
            break
    eta = z @ c
    if family == "log":
        hw = h * y * np.exp(-eta)
    else:
        if np.any(eta <= 0):
            return None
        hw = h / eta ** 2
    hess = (z * hw[:, None]).T @ z
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None
    var0 = float(cov[0, 0]) if family == "log" else float(cov[0, 0]) / c[0] ** 2
    if not (np.isfinite(var0) and var0 > 0 and np.isfinite(val)):
        return None
    return c, val, var0


def _gamma_nuisance(logf: np.ndarray, y: np.ndarray, n: np.ndarray) -> float:
    """Minimum NLL of log S = alpha + beta log f in one block (2 parameters; a single group:
    the constant MLE, the dof-weighted mean)."""
    if logf.size > 1:
        lf = logf - logf.mean()
        out = _fit_gamma("log", lf / max(np.ptp(lf), 1e-300), y, n, 2)
        if out is not None:
            return out[1]
    m = float(np.sum(n * y) / np.sum(n))
    return float(np.sum(0.5 * n * (np.log(m) + y / m)))


def _gauss_nll(resid: np.ndarray, w: np.ndarray) -> float:
    return 0.5 * float(np.sum(w * resid ** 2))


def _fit_gauss(u: np.ndarray, y: np.ndarray, w: np.ndarray, p: int
               ) -> Optional[tuple[np.ndarray, float, float]]:
    """Weighted least squares S = sum_m beta_m u^m (Gaussian likelihood, known variances 1/w).

    Returns (beta, NLL, var beta_0)."""
    z = _vander(u, p)
    a = (z * w[:, None]).T @ z
    try:
        cov = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return None
    beta = cov @ (z.T @ (w * y))
    return beta, _gauss_nll(y - z @ beta, w), float(cov[0, 0])


def _gauss_nuisance(logf: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Minimum NLL of S_ab = alpha + beta log f in one block (weighted least squares)."""
    if logf.size > 1:
        lf = logf - logf.mean()
        out = _fit_gauss(lf / max(np.ptp(lf), 1e-300), y, w, 2)
        if out is not None:
            return out[1]
    return _gauss_nll(y - np.average(y, weights=w), w)


# --------------------------------------------------------------------------------------------
# model set, AIC weights
# --------------------------------------------------------------------------------------------

@dataclass
class SpectrumFit:
    """Zero-frequency value of one spectrum from the AIC-weighted set of likelihood fits.

    value, error: S(0)/2 and its standard error (units of the spectrum).  For auto-spectra the
    average is taken on log S(0) (``log_value``, ``log_error``) and value = exp(mean)/2.
    models: one row per fitted model: (family index, order p, cutoff index, f_c, AIC, weight,
    v = log S(0) (auto) or S(0) (cross), var v, goodness-of-fit p-value, its X^2, its dof,
    rms relative misfit D) of the adequate models (p-value >= ``GOF_ALPHA`` or
    D < ``GOF_RELEVANCE``).  g_max: the resonance (and fall) guard's band top;
    g_top: the top of the compared band (highest cutoff of an adequate model).  best: row index of the AIC minimum.
    frequencies, data: pooled frequencies and pooled periodogram (units of S, i.e. 2x the
    transport units) up to the highest cutoff; fit: the best model's S on those frequencies
    (NaN above its cutoff); fc_best: its cutoff; fc_mean: the Akaike-weighted mean cutoff.
    """

    value: float
    error: float
    log_value: float
    log_error: float
    kind: str
    models: np.ndarray
    best: int
    frequencies: np.ndarray
    data: np.ndarray
    fit: np.ndarray
    fc_best: float
    fc_mean: float
    ndf: float
    families: tuple = FAMILIES
    g_max: int = -1
    g_top: int = -1


def _average(vals: np.ndarray, vars_: np.ndarray, aic: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Akaike average of the models' estimates and its unconditional variance.

    w_m = exp(-(AIC_m - AIC_min)/2) / sum_m' exp(-(AIC_m' - AIC_min)/2),
    mean = sum_m w_m v_m,  variance = sum_m w_m [var_m + (v_m - mean)^2]
    (Burnham & Anderson 2002, eq. 4.9: each model's variance plus the spread between the
    models).  v_m = log S(0) of an auto-spectrum fit or S_ab(0) of a cross-spectrum fit.

    Kept after a comparison with a Hausman-corrected spread (each (v_m - mean)^2 less its
    expectation when every model is unbiased, with Cov(v_a, v_b) = min(var_a, var_b)), the
    fixed-weight variance w^T C w, sum_m w_m var_m alone and a parametric bootstrap of the
    whole selection, on 90-200 seeds per shape and N of the efficiency harness
    (docs/likelihood.md, step 7): this rule has z spreads 0.83-1.19 on every row; the
    others, smaller, push the short-series rows above 1.2.  Returns (mean, variance, w).
    """
    w = np.exp(-0.5 * (aic - aic.min()))
    w /= w.sum()
    mean = float(np.dot(w, vals))
    var = float(np.dot(w, vars_ + (vals - mean) ** 2))
    return mean, var, w


def _resonance_guard(yp: np.ndarray, npool: np.ndarray, grid: _Grid,
                     rise: float = np.log(GUARD_RISE), z: float = 2.0, half: int = 8) -> int:
    """Top of the analysed band: the first pooled group where the smoothed log-spectrum rises
    *significantly* (z standard errors on both sides) by more than ``rise`` above its minimum
    at lower frequencies: the onset of a resonance (e.g. an optical peak), which the
    low-frequency models are not meant to describe.  The whole band when there is none.

    Smoothing: mean of the bias-corrected log y over +-``half`` neighbouring groups; the
    standard error from the trigamma variance of each group's log-Gamma.
    """
    sm, se = _smoothed_log(yp, npool, half)
    low = np.minimum.accumulate(sm + z * se)
    up = sm - z * se
    first = int(grid.edges[0])
    hit = np.nonzero(up[first + 1:] > low[first:-1] + rise)[0]
    if hit.size == 0:
        return yp.size
    return int(first + 1 + hit[0])


def _fall_guard(yp: np.ndarray, npool: np.ndarray, grid: _Grid, drop: float = np.log(FALL_DROP),
                z: float = 2.0, half: int = 8) -> int:
    """First pooled group where the smoothed log-spectrum lies significantly (z standard
    errors on both sides) more than ``drop`` below its maximum at lower frequencies; the
    whole band when it never falls that far.  Used for the Onsager-matrix elements, whose
    auto-spectra may have structure near f = 0 (a small bump of two Lorentzians of opposite
    sign) that a fit of the whole band would smooth over.
    """
    sm, se = _smoothed_log(yp, npool, half)
    high = np.maximum.accumulate(sm - z * se)
    first = int(grid.edges[0])
    hit = np.nonzero(sm[first + 1:] + z * se[first + 1:] < high[first:-1] - drop)[0]
    return yp.size if hit.size == 0 else int(first + 1 + hit[0])


def _smoothed_log(yp: np.ndarray, npool: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected log of the pooled periodogram averaged over +-half groups, and its
    standard error (trigamma variance of each group's log-Gamma)."""
    from scipy.special import digamma, polygamma
    a = 0.5 * npool
    ly = np.log(yp) - (digamma(a) - np.log(a))
    c1 = np.concatenate([[0.0], np.cumsum(ly)])
    c2 = np.concatenate([[0.0], np.cumsum(polygamma(1, a))])
    g = np.arange(yp.size)
    lo, hi = np.maximum(g - half, 0), np.minimum(g + half + 1, yp.size)
    cnt = hi - lo
    return (c1[hi] - c1[lo]) / cnt, np.sqrt(c2[hi] - c2[lo]) / cnt


def _nuisance_blocks(grid: _Grid, g_lo: int, g_max: int) -> list[tuple[int, int]]:
    """Nuisance blocks covering [g_lo, g_max)."""
    inner = grid.blocks[(grid.blocks > g_lo) & (grid.blocks < g_max)]
    e = np.concatenate([[g_lo], inner, [g_max]])
    if e.size >= 3 and e[1] - e[0] < 4:
        e = np.delete(e, 1)                    # a sliver below the next edge joins that block
    return [(int(a), int(b)) for a, b in zip(e[:-1], e[1:])]


def _gof_pvalue(grid: _Grid, g_hi: int, score: np.ndarray, var: np.ndarray, npar: int,
                info: Optional[np.ndarray] = None) -> tuple[float, float, int, float]:
    """Block score test of one fitted model on its band [0, g_hi), and the size of the misfit.

    The band is cut into the blocks between consecutive cutoffs of the grid (quarter octaves
    above the smallest cutoff, whose band is the first block).  score_j is the derivative of
    the log-likelihood of group j with respect to a local shift of the spectrum (Gamma data:
    shift of log S, (n_j/2)(y_j/S_j - 1), variance n_j/2; Gaussian data: shift of S,
    w_j (y_j - S_j), variance w_j); z_b = sum_{j in b} score_j / sqrt(sum var_j) is N(0, 1) per
    block under the model, and X^2 = sum_b z_b^2 ~ chi^2 with B - p dof (p fitted
    coefficients).  A band with B <= p blocks cannot be tested (p-value 1, misfit 0).

    Misfit size: under a misfit delta_b of the log spectrum in block b (Gamma data),
    E z_b^2 = 1 + delta_b^2 V_b with V_b = sum_{j in b} var_j, so
    D^2 = max(0, X^2 - (B - p)) / sum_b V_b estimates the information-weighted mean of
    delta_b^2: D is the rms relative misfit of S.  ``info`` (default ``var``): the
    information per group in relative units when ``var`` is not (Gaussian data: n_j, since
    w_j = n_j / (S_aa S_bb + S_ab^2) and the misfit is then relative to that scale).

    Returns (p-value, X^2, B - p, D).
    """
    from scipy.special import chdtrc
    e = grid.edges[grid.edges < g_hi]
    e = np.concatenate([[0], e, [g_hi]])
    nblk = e.size - 1
    if nblk <= npar:
        return 1.0, 0.0, 0, 0.0
    cs = np.concatenate([[0.0], np.cumsum(score)])
    cv = np.concatenate([[0.0], np.cumsum(var)])
    zb = (cs[e[1:]] - cs[e[:-1]]) / np.sqrt(cv[e[1:]] - cv[e[:-1]])
    x2 = float(np.sum(zb ** 2))
    dof = int(nblk - npar)
    vtot = float(np.sum(var if info is None else info))
    size = float(np.sqrt(max(0.0, x2 - dof) / vtot))
    return float(chdtrc(dof, x2)), x2, dof, size


def _run_models(grid: _Grid, families: Sequence[tuple[str, list]], fit, nuisance,
                g_max: Optional[int] = None, score=None) -> tuple[np.ndarray, list, int]:
    """Fit every model (family, spec) at every cutoff; keep the adequate ones.

    1. Every model is fitted on its band [0, f_c] and tested there by the block score test
       (:func:`_gof_pvalue`, ``score(fam, spec, c, u, g_hi) -> (score, var, info)``, info
       the information per group in relative units); models with p-value below
       ``GOF_ALPHA`` and misfit size D >= ``GOF_RELEVANCE`` are rejected.
    2. The top of the compared band, g_top, is the highest cutoff of an adequate model (never
       above g_max, the resonance guard): above it no low-order model describes the spectrum,
       so neither the models nor their nuisance description of the band above f_c may be
       compared there (a poor nuisance fit of a steeply falling or peaked band would hand
       the Akaike weight to the widest, least adequate bands).
    3. AIC = 2 (NLL_band + NLL_nuisance) + 2 (n_params + 2 n_blocks), the nuisance blocks
       covering (f_c, g_top] (:func:`_nuisance_blocks`).

    Returns rows (family index, n_params, cutoff index, f_c, AIC, v, var v, GOF p-value, X^2,
    dof, D) of the adequate models, per row (family, spec, coefficients, x_c), and g_top.
    """
    cache: dict = {}

    def nuis(a: int, b: int) -> float:
        if (a, b) not in cache:
            cache[(a, b)] = nuisance(a, b)
        return cache[(a, b)]

    cand, coefs = [], []
    g_max = grid.x.size if g_max is None else int(g_max)
    for ic, g_hi in enumerate(grid.edges):
        if g_hi > g_max:
            break
        bins = int(grid.start[g_hi - 1] + grid.count[g_hi - 1])
        xc = grid.x[g_hi - 1]
        u = grid.x[:g_hi] / xc
        fc = float(bins - 1) * grid.df
        done: dict = {}
        for fam_i, (fam, specs) in enumerate(families):
            for spec in specs:
                npar = int(np.sum(spec))
                if bins < BINS_PER_COEF * npar:
                    continue
                out = fit(fam, spec, u, g_hi, done)
                if out is None:
                    continue
                c, nll, var0, v0 = out
                done[(fam, spec)] = c
                pv, x2, gdf, size = 1.0, 0.0, 0, 0.0
                if score is not None:
                    sc, sv, si = score(fam, spec, c, u, g_hi)
                    pv, x2, gdf, size = _gof_pvalue(grid, int(g_hi), sc, sv, npar, si)
                cand.append((fam_i, npar, ic, fc, nll, v0, var0, pv, int(g_hi), x2, gdf, size))
                coefs.append((fam, spec, c, xc))
    if not cand:
        raise InputError("no model could be fitted to the spectrum: the series is too short or "
                         "the spectrum is not positive")
    # adequate: no significant misfit, or one too small to matter (GOF_RELEVANCE): at large N
    # the test detects misfits of a fraction of a percent, chance deviations included, and
    # one rejection of the top bands would otherwise discard most of the band
    ok = [i for i, r in enumerate(cand) if r[7] >= GOF_ALPHA or r[11] < GOF_RELEVANCE]
    if not ok:                       # nothing adequate: keep the narrowest band's models
        g0 = min(r[8] for r in cand)
        ok = [i for i, r in enumerate(cand) if r[8] == g0]
    g_top = max(cand[i][8] for i in ok)
    if g_top >= max(r[8] for r in cand):
        g_top = g_max                # adequate up to the last cutoff: keep the whole band
    rows = []
    for i in ok:
        fam_i, npar, ic, fc, nll, v0, var0, pv, g_hi, x2, gdf, size = cand[i]
        blocks = _nuisance_blocks(grid, g_hi, g_top) if g_hi < g_top else []
        tail = sum(nuis(a, b) for a, b in blocks)
        aic = 2.0 * (nll + tail) + 2.0 * (npar + NUISANCE_NPAR * len(blocks))
        rows.append((fam_i, npar, ic, fc, aic, v0, var0, pv, x2, gdf, size))
    return np.array(rows, dtype=float), [coefs[i] for i in ok], int(g_top)


def _auto_specs(max_order: int, families: Sequence[str]) -> list[tuple[str, list]]:
    for fam in families:
        if fam not in FAMILIES:
            raise InputError(f"unknown model family {fam!r}: use {FAMILIES}")
    return [(fam, [(p,) for p in range(1, max_order + 1)]) for fam in families]


def _eval_model(fam: str, spec: tuple, c: np.ndarray, u: np.ndarray) -> np.ndarray:
    """S(u) of one fitted model (cross: the linear S_ab)."""
    if fam in ("linear",):
        return _vander(u, spec[0]) @ c
    if fam == "log":
        return np.exp(_vander(u, spec[0]) @ c)
    return 1.0 / (_vander(u, spec[0]) @ c)


def _finish(kind: str, grid: _Grid, rows: np.ndarray, coefs: list, data_pooled: np.ndarray,
            ndf: float, families: tuple) -> SpectrumFit:
    mean, var, w = _average(rows[:, 5], rows[:, 6], rows[:, 4])
    best = int(np.argmin(rows[:, 4]))
    ic = int(rows[best, 2])
    fam, spec, c, xc = coefs[best]
    g_hi = int(grid.edges[ic])
    fitc = np.full(grid.x.size, np.nan)
    fitc[:g_hi] = _eval_model(fam, spec, c, grid.x[:g_hi] / xc)
    table = np.column_stack([rows[:, :5], w, rows[:, 5:]])
    if kind == "cross":
        value, error = 0.5 * mean, 0.5 * np.sqrt(var)
        lv, le = np.nan, np.nan
    else:
        value, error = 0.5 * np.exp(mean), 0.5 * np.exp(mean) * np.sqrt(var)
        lv, le = mean + np.log(0.5), np.sqrt(var)
    return SpectrumFit(value=float(value), error=float(error), log_value=float(lv),
                       log_error=float(le), kind=kind, models=table, best=best,
                       frequencies=grid.freq, data=data_pooled, fit=fitc,
                       fc_best=float(rows[best, 3]), fc_mean=float(np.dot(w, rows[:, 3])),
                       ndf=float(ndf), families=families)


def fit_spectrum(periodogram: np.ndarray, dof: np.ndarray, dt: float, df: float,
                 max_order: int = MAX_ORDER, families: Sequence[str] = FAMILIES,
                 fall_guard: bool = False, _grid: Optional[_Grid] = None) -> SpectrumFit:
    """Zero-frequency value S(0)/2 of an auto-spectrum from its periodogram by maximum likelihood.

    periodogram: (nb,) unbiased periodogram (reduced or plain) at f_j = j df, f_0 = 0;
    dof: (nb,) chi-square dof of each bin (:func:`bin_dof`); dt: sampling interval (enters
    x = (sin(pi f dt)/(pi dt))^2).  Models, cutoffs and weights as in the module docstring.
    """
    y = np.asarray(periodogram, dtype=float)
    if not np.all(y > 0):
        raise InputError("the periodogram is not positive at every frequency: the mass fluxes "
                         "are linearly dependent (drop one species) or a flux is identically zero")
    grid = _make_grid(y.size, dt, df) if _grid is None else _grid
    yp, npool = _pool(y, np.asarray(dof, dtype=float), grid)
    fams = tuple(families)

    def fit(fam, spec, u, g_hi, done):
        yy, nn = yp[:g_hi], npool[:g_hi]
        prev = done.get((fam, (spec[0] - 1,)))
        out = _fit_gamma(fam, u, yy, nn, spec[0], prev)
        if out is None:
            return None
        c, nll, var0 = out
        return c, nll, var0, float(c[0] if fam == "log" else -np.log(c[0]))

    def nuis(a, b):
        return _gamma_nuisance(grid.logf[a:b], yp[a:b], npool[a:b])

    def score(fam, spec, c, u, g_hi):
        h = 0.5 * npool[:g_hi]
        return h * (yp[:g_hi] / _eval_model(fam, spec, c, u) - 1.0), h, h

    g_max = _resonance_guard(yp, npool, grid)
    if fall_guard:
        g_max = min(g_max, _fall_guard(yp, npool, grid))
    rows, coefs, g_top = _run_models(grid, _auto_specs(max_order, fams), fit, nuis, g_max,
                                     score)
    out = _finish("auto", grid, rows, coefs, yp, float(np.max(dof)), fams)
    out.g_max = g_max
    out.g_top = g_top
    return out


def fit_cross_spectrum(cross: np.ndarray, auto_a: np.ndarray, auto_b: np.ndarray,
                       dof: np.ndarray, ndir: int, dt: float, df: float,
                       max_order: int = MAX_ORDER, g_max: Optional[int] = None,
                       _grid: Optional[_Grid] = None) -> SpectrumFit:
    """Zero-frequency value S_ab(0)/2 of a cross-spectrum (real part) by weighted least squares.

    cross: (nb,) complex I_ab; auto_a, auto_b: (nb,) I_aa, I_bb (direction averages over
    ``ndir`` directions); dof: (nb,) 2 l (complex bins) or l (real bins).  Var Re I_ab =
    (S_aa S_bb + S_ab^2)/n_j; the numerator is estimated by l/(l+1) (I_aa I_bb + |I_ab|^2)
    (unbiased for complex Wishart bins) averaged over the neighbouring pooled groups,
    excluding the group itself.
    """
    grid = _make_grid(np.asarray(cross).size, dt, df) if _grid is None else _grid
    dof = np.asarray(dof, dtype=float)
    yr = np.asarray(cross).real
    yp, npool = _pool(yr, dof, grid)
    q = (np.asarray(auto_a) * np.asarray(auto_b) + np.abs(cross) ** 2) * (ndir / (ndir + 1.0))
    qsum = np.add.reduceat(q, grid.start)
    cnt = grid.count.astype(float)
    h = 16
    cq, cc = np.concatenate([[0.0], np.cumsum(qsum)]), np.concatenate([[0.0], np.cumsum(cnt)])
    g = np.arange(grid.start.size)
    lo, hi = np.maximum(g - h, 0), np.minimum(g + h + 1, g.size)
    num = cq[hi] - cq[lo] - qsum
    den = cc[hi] - cc[lo] - cnt
    var_num = num / den
    w = npool / var_num

    def fit(fam, spec, u, g_hi, done):
        out = _fit_gauss(u, yp[:g_hi], w[:g_hi], spec[0])
        if out is None:
            return None
        beta, nll, var0 = out
        return beta, nll, var0, float(beta[0])

    def nuis(a, b):
        return _gauss_nuisance(grid.logf[a:b], yp[a:b], w[a:b])

    def score(fam, spec, c, u, g_hi):
        ww = w[:g_hi]
        return ww * (yp[:g_hi] - _eval_model(fam, spec, c, u)), ww, npool[:g_hi]

    rows, coefs, _ = _run_models(grid, [("linear", [(p,) for p in range(1, max_order + 1)])],
                                 fit, nuis, g_max, score)
    return _finish("cross", grid, rows, coefs, yp, float(np.max(dof)), ("linear",))


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------

@dataclass
class LikelihoodResult:
    """Result of :func:`likelihood_analysis` (transport values S(0)/2, flux^2 x time of dt).

    kappa, kappa_error: reduced spectrum 1/(S^-1)_00 at f = 0 over 2, gauge invariant.
    L, L_error: (k, k) Onsager matrix (diagonal: plain auto-spectra; off-diagonal: cross-
    spectra), symmetric.  reduced: the :class:`SpectrumFit` of kappa (fitted to the residual
    periodogram, or to the reduced one with ``coupling="free"``); diagonal, cross: fits
    of the L elements (dicts keyed by (a, b)).  ndf: dof per bin of the periodogram kappa is
    fitted to, inside the band: 2 l (smooth coupling, or one flux), 2 (l - k + 1) (free).
    coupling, n_samples, dt.
    """

    kappa: float
    kappa_error: float
    L: np.ndarray
    L_error: np.ndarray
    reduced: SpectrumFit
    fits: dict = field(default_factory=dict)
    ndf: int = 0
    n_samples: int = 0
    dt: float = 0.0
    coupling: str = "smooth"


def _check(x: np.ndarray, dt: float) -> np.ndarray:
    from .cepstral import spectral_series

    x = spectral_series(x, dt)
    n = x.shape[0]
    if n < MIN_SAMPLES:
        raise TooFewSamples(f"the likelihood estimator needs at least {MIN_SAMPLES} samples, "
                            f"got {n}: analyse a longer run")
    if not np.all(np.isfinite(x)):
        raise InputError("fluxes contain NaN or inf: remove the bad rows")
    return x


def likelihood_analysis(fluxes: np.ndarray, dt: float, matrix: bool = True,
                        max_order: int = MAX_ORDER, coupling: str = "smooth"
                        ) -> LikelihoodResult:
    """kappa = 1/(S^-1)_00(0)/2 and the Onsager matrix S(0)/2 by likelihood fits of spectra.

    fluxes: (N, k, l), channel 0 the energy flux, 1..k-1 independent mass fluxes, l >= k
    equivalent directions; dt: time between samples.  matrix: also fit every element of the
    Onsager matrix (else only kappa and L00).  coupling: ``"smooth"`` (default) fits kappa to
    :func:`residual_periodogram` (2 l dof per bin), ``"free"`` to the reduced periodogram
    (2 (l - k + 1) dof); both are exactly gauge invariant (module docstring).
    """
    if coupling not in COUPLINGS:
        raise InputError(f"coupling must be one of {', '.join(COUPLINGS)}, got {coupling!r}")
    x = _check(fluxes, dt)
    n, k, ndir = x.shape
    freq, mat, last_real = low_frequency_periodogram(x, dt)
    df = 1.0 / (n * dt)
    grid = _make_grid(freq.size, dt, df)
    nu = ndir - k + 1
    if k > 1 and coupling == "smooth":
        red, dof = residual_periodogram(mat, ndir, last_real)
        nu = ndir
    else:
        red, dof = reduced_from_matrix(mat, ndir), bin_dof(freq.size, nu, last_real)
    rfit = fit_spectrum(red, dof, dt, df, max_order, _grid=grid)
    L = np.full((k, k), np.nan)
    E = np.full((k, k), np.nan)
    fits: dict = {}
    dof_plain = bin_dof(freq.size, ndir, last_real)
    pairs = ([(a, a) for a in range(k)] + [(a, b) for a in range(k) for b in range(a + 1, k)]
             if matrix else [(0, 0)])
    for a, b in pairs:          # diagonal first: the cross fits use their bands
        if a == b:
            f = fit_spectrum(mat[:, a, a].real, dof_plain, dt, df, max_order,
                             fall_guard=True, _grid=grid)
        else:
            top = min(fits[(a, a)].g_max, fits[(b, b)].g_max)
            f = fit_cross_spectrum(mat[:, a, b], mat[:, a, a].real, mat[:, b, b].real,
                                   dof_plain, ndir, dt, df, max_order, g_max=top, _grid=grid)
        fits[(a, b)] = f
        L[a, b] = L[b, a] = f.value
        E[a, b] = E[b, a] = f.error
    return LikelihoodResult(kappa=rfit.value, kappa_error=rfit.error, L=L, L_error=E,
                            reduced=rfit, fits=fits, ndf=2 * nu, n_samples=n, dt=float(dt),
                            coupling=coupling)


# --------------------------------------------------------------------------------------------
# plot and the hook into pyonsager.analysis
# --------------------------------------------------------------------------------------------

def plot_likelihood(arrays: dict, path: str, kappa=None, unit: str = "W m$^{-1}$ K$^{-1}$") -> str:
    """PNG of the pooled periodogram kappa is fitted to, the best likelihood fit and the cutoffs.

    arrays: ``lk_frequencies`` (Hz), ``lk_reduced_periodogram`` and ``lk_fit`` (units of kappa,
    i.e. S/2), ``lk_cutoff_best`` and ``lk_cutoff_mean`` (Hz).  Uses a bare
    matplotlib Figure on an Agg canvas (no pyplot state).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    f = np.asarray(arrays["lk_frequencies"]) * 1e-12
    y = np.asarray(arrays["lk_reduced_periodogram"])
    fit = np.asarray(arrays["lk_fit"])
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fc = float(arrays["lk_cutoff_best"]) * 1e-12
    fmax = min(f[-1], 3.0 * fc) if fc > 0 else f[-1]
    show = f <= fmax
    ax.plot(f[show], y[show], ".", ms=2, color="0.55",
            label="energy-flux periodogram, mass-flux coupling removed (pooled bins)")
    ok = show & np.isfinite(fit)
    ax.plot(f[ok], fit[ok], color="tab:blue", lw=1.6, label="best likelihood fit")
    if kappa is not None:
        ax.errorbar([0], [kappa.value], yerr=[kappa.error], fmt="o", color="tab:red",
                    label=f"kappa = {kappa.value:.3g} +/- {kappa.error:.2g}")
    ax.axvline(fc, color="k", ls="--", lw=0.8, label=f"best cutoff {fc:.3g} THz")
    fm = float(arrays["lk_cutoff_mean"]) * 1e-12
    ax.axvline(fm, color="k", ls=":", lw=0.8, label=f"Akaike-mean cutoff {fm:.3g} THz")
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel(f"spectrum ({unit})")
    ax.set_yscale("log")
    ax.set_xlim(0, fmax)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Likelihood spectral estimator")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def apply_likelihood(res, arrays: Sequence[np.ndarray], names: Sequence[str],
                     selected: Sequence[int], metadata) -> None:
    """Replace the Green-Kubo numbers of an OnsagerResult by the likelihood estimates.

    res: the result of :func:`pyonsager.analysis.analyze_correlations` (species selection,
    gauge report and warnings are kept); arrays: the (N, 3) channel arrays in ``names``
    order; selected: channel indices of J0 and the independent mass fluxes (energy first);
    metadata: the series' FluxMetadata.  kappa, L00, L01/L11 (or the onsager_matrix),
    kappa_k/kappa_p/kappa_kp and delta become likelihood values with their errors, in SI:
    L_ij = f_i f_j / (V k_B T^2) x S_ij(0)/2 (flux factors f from pyonsager.units).
    """
    from . import units as U
    from .result import Quantity

    md = metadata
    kinds = ["energy" if n.startswith("energy_flux") else
             "mass" if n.startswith("mass_flux") else "charge" for n in names]
    fac = U.channel_factors(md.units, kinds, md.mass_flux_unit)
    pref = U.onsager_prefactor(md.units, md.volume, md.temperature, 1.0)   # per time unit
    sel = list(selected)
    x = np.stack([np.asarray(arrays[i], dtype=np.float64) for i in sel], axis=1)
    r = likelihood_analysis(x, md.dt)
    del x
    scale = pref * np.outer(fac[sel], fac[sel])
    L, E = r.L * scale, r.L_error * scale
    kscale = pref * fac[sel[0]] ** 2
    gk_kappa = res.kappa.to_dict()
    gk_params = res.estimator.get("parameters", {})
    ku = U.SI_UNITS["kappa"]
    res.kappa = Quantity(r.kappa * kscale, r.kappa_error * kscale, ku)
    if len(sel) == 1:
        # one flux: the reduced spectrum is S00 itself, kappa = L00 by construction (one fit)
        L[0, 0], E[0, 0] = res.kappa.value, res.kappa.error
    res.L00 = Quantity(float(L[0, 0]), float(E[0, 0]), ku)
    om = res.onsager_matrix
    crit = res.criterion
    if crit and crit.get("per_species"):
        # U^2/L11 with the L11 reported here (the criterion was computed with Green-Kubo's)
        for s_, v in crit["per_species"].items():
            j = om["names"].index("mass_flux_" + s_)
            crit["per_species"][s_] = v * om["values"][j][j] / float(L[j, j])
        crit["value"] = max(crit["per_species"].values())
        if "threshold" in crit:
            crit["below_threshold"] = bool(crit["value"] < crit["threshold"])
    om["values"] = [[float(v) for v in row] for row in L]
    om["errors"] = [[float(v) for v in row] for row in E]
    if len(sel) == 2:
        res.L01 = Quantity(float(L[0, 1]), float(E[0, 1]), res.L01.unit if res.L01 else "")
        res.L11 = Quantity(float(L[1, 1]), float(E[1, 1]), res.L11.unit if res.L11 else "")
    if "energy_flux_kinetic" in names and "energy_flux_potential" in names:
        ik, ip = names.index("energy_flux_kinetic"), names.index("energy_flux_potential")
        d = likelihood_analysis(np.stack([arrays[ik], arrays[ip]], axis=1), md.dt)
        s = pref * fac[ik] * fac[ip]
        res.kappa_k = Quantity(float(d.L[0, 0] * s), float(d.L_error[0, 0] * s), ku)
        res.kappa_p = Quantity(float(d.L[1, 1] * s), float(d.L_error[1, 1] * s), ku)
        res.kappa_kp = Quantity(float(d.L[0, 1] * s), float(d.L_error[0, 1] * s), ku)
    k, l00 = res.kappa.value, res.L00.value
    if len(sel) > 1:            # one flux: delta stays what the Green-Kubo report says
        res.delta = Quantity((l00 - k) / k, float(np.hypot(res.L00.error / k,
                                                           l00 * res.kappa.error / k ** 2)), "")
    fit = r.reduced
    res.estimator = {"name": "likelihood", "parameters": {
        "cutoff_best_THz": fit.fc_best * 1e-12 / U.time(md.units),
        "cutoff_mean_THz": fit.fc_mean * 1e-12 / U.time(md.units),
        "band_top_THz": float(fit.frequencies[fit.g_top - 1]) * 1e-12 / U.time(md.units),
        "models": int(fit.models.shape[0]), "ndf": int(r.ndf),
        "coupling": r.coupling,
        "method": {"rule": "maximum likelihood fits of the "
                + ("energy flux's residual periodogram after a smooth regression on the mass "
                   f"fluxes over +-{COUPLING_HALF_WIDTH} neighbouring bins"
                   if r.coupling == "smooth" and len(sel) > 1 else "reduced periodogram")
                + f" (chi^2 with {r.ndf} dof) over cutoffs and model orders, those adequate on their band "
                f"(block score test: p >= {GOF_ALPHA} or rms misfit of log S < {GOF_RELEVANCE}) "
                "Akaike-weighted "
                "(pyonsager.likelihood, docs/likelihood.md)",
        "error": "inverse observed Fisher information of each model + spread between models "
                 "(Akaike weights); delta error neglects the kappa-L00 correlation",
        "off_diagonal": "likelihood fits of the auto-spectra (diagonal) and weighted least "
                        "squares of the real cross-spectra (off-diagonal), same cutoffs"},
        "green_kubo": {"kappa": gk_kappa, **gk_params}}}
    tu = U.time(md.units)
    res.arrays.update({
        "lk_frequencies": fit.frequencies / tu, "lk_reduced_periodogram": 0.5 * fit.data * kscale,
        "lk_fit": 0.5 * fit.fit * kscale, "lk_cutoff_best": np.array(fit.fc_best / tu),
        "lk_cutoff_mean": np.array(fit.fc_mean / tu), "lk_models": fit.models})
