"""Multicomponent cepstral estimator of a transport coefficient (pure functions on arrays).

Method (Ercole, Marcolongo, Baroni, Sci. Rep. 7, 15835 (2017); Bertossa, Grasselli, Ercole,
Baroni, PRL 122, 255901 (2019)); derivations and the automatic f* rule in ``docs/cepstral.md``.

Conventions
-----------
Fluxes ``x`` have shape (N, k, l): N samples dt apart, k channels (0 = energy flux, 1..k-1 the
independent mass fluxes), l equivalent Cartesian directions (3).  With the discrete Fourier
transform X_a(f_j) = sum_n x_a[n] exp(-2 pi i j n / N), f_j = j / (N dt), j = 0..floor(N/2),
the direction-averaged cross-periodogram is

    I_ab(f_j) = dt / (N l) * sum_d X_a^d(f_j) conj(X_b^d(f_j)),

an estimate of the two-sided spectral density
S_ab(f) = sum_n dt <x_a(n dt) x_b(0)> e^{-2 pi i f n dt},
whose zero-frequency value is S_ab(0) = 2 integral_0^inf <x_a(t) x_b(0)>_sym dt.  Every
transport value returned here is **S(0) / 2**, i.e. the Green-Kubo integral
integral_0^inf <X(t) X(0)> dt averaged over directions, in [flux^2 x time]: multiply by the same
prefactor as the Green-Kubo integral (e.g. 1/(V k_B T^2) for kappa in SI).

The reduced periodogram (Schur complement of the channel-0 element)

    I_red(f) = l / (l - k + 1) * 1 / (I^-1(f))_00

is an unbiased estimate of the reduced spectrum S_00 - S_0r S_rr^-1 S_r0, whose zero-frequency
value is twice kappa.  It is invariant under J0 -> J0 + sum_s a_s J_s and under any rescaling
or mixing of the mass fluxes, exactly (the quantity is a function of the span of J_1..J_k-1).
Because the l directions are independent Gaussian samples, I_red(f_j) / S_red(f_j) is
chi^2_ndf / ndf with ndf = 2 (l - k + 1) at 0 < f_j < f_Nyquist and ndf = l - k + 1 at the
real-valued bins f = 0 and f = f_Nyquist (complex/real Wishart; PRL 2019).

Pipeline of :func:`cepstral_analysis`:

1. f* (the low-pass cutoff of the papers) from the reduced spectrum alone (:func:`auto_fstar`),
   or the user's value;
2. low-pass by block averaging q = round(f_Nyquist / f*) consecutive samples
   (:func:`resample`; SporTran's moving-average filter + decimation), which keeps S(0)
   exactly and makes the spectrum even about the new Nyquist frequency f*;
3. reduced periodogram of the resampled series, log, minus the chi-square bias;
4. cepstral coefficients (type-I DCT), P* by AIC, the zero-frequency log-spectrum L*_0(P)
   and its exact variance, Akaike-weighted average over P (:func:`aic_average`);
5. kappa = exp(L*_0) / 2; L00 the same on the channel-0 spectrum alone (own f*, own AIC).

Numbers with units: fluxes in any unit F, dt in any unit T: frequencies in 1/T, spectra and
transport values in F^2 T.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import fft as _fft
from scipy.special import digamma, polygamma

from .errors import InputError, TooFewSamples

__all__ = [
    "CepstralResult",
    "cepstral_analysis",
    "periodogram",
    "reduced_periodogram",
    "resample",
    "bin_ndf",
    "log_bias",
    "log_variance",
    "cepstral_coefficients",
    "cepstral_coefficient_variance",
    "aic_pstar",
    "log_zero_frequency",
    "log_zero_frequency_all",
    "log_zero_frequency_variance",
    "aic_average",
    "cepstral_log_spectrum",
    "smoothed_log_spectrum",
    "auto_fstar",
]

# frequency bins per chunk in the fused spectrum computation: bounds the temporaries of the
# (chunk, k, k) matrix algebra to a few MB whatever the length of the series
_CHUNK = 1 << 16

# parameters of the automatic f* rule (see auto_fstar and docs/cepstral.md)
FSTAR_DROP = np.log(1.25)     # f* where the smoothed reduced spectrum has fallen by 20 %
FSTAR_BIN_RATIO = 1.05        # smoothing bins: each 5 % wider in frequency than the previous ...
FSTAR_BIN_MIN = 32            # ... and at least this many periodogram bins wide
FSTAR_Z = 2.0                 # comparisons allow 2 standard errors of the bin means
FSTAR_MIN_FREQS = 100         # never fewer bins than this below f* (AIC needs M* >> P*)
RULE_SEGMENT = 1 << 16        # segment length of the Welch spectrum used by the rule (long series)


@dataclass
class CepstralResult:
    """Result of :func:`cepstral_analysis`.

    Transport values are S(0)/2 in [flux^2 x time unit of dt] (the direction-averaged
    Green-Kubo integral); spectra are in the same units (half the two-sided density).

    Attributes
    ----------
    kappa, kappa_error: zero-frequency reduced spectrum 1/(S^-1)_00 / 2 and its standard
        error: exp of the Akaike-weighted average of log S*(0) over the number of cepstral
        coefficients P (weights exp(-(AIC_P - AIC_min)/2)), error = kappa x the standard
        deviation of that mixture (statistical + model spread).  With a user ``pstar``: the
        value at that P and its exact standard error.
    kappa_pstar, kappa_pstar_error: the single-model estimate at P* (Sci. Rep. 2017; what
        SporTran reports), error = kappa_pstar x sqrt(var L*_0(P*)).
    L00, L00_error: the same as kappa for the plain channel-0 spectrum (single-component
        cepstral analysis of the energy flux alone; gauge dependent), at its own f*.
    pstar: AIC-minimising number of cepstral coefficients of the reduced log-spectrum (or the
        user's value); ``cepstral_fit`` uses it.
    pstar_L00: the same for L00.
    fstar: low-pass cutoff used for kappa, in 1/(time unit of dt): f_Nyquist / q.
    fstar_rule: how f* was chosen, in words.
    fstar_L00: cutoff used for L00 (the automatic rule applied to the channel-0 spectrum, or
        the user's f*).
    frequencies: (M*+1,) frequencies f_j = j/(N dt) <= f*.
    reduced_periodogram: (M*+1,) reduced periodogram below f*, units of kappa.
    cepstral_fit: (M*+1,) natural log of the P*-coefficient cepstral estimate of the reduced
        spectrum (units of kappa, bias-corrected): exp(cepstral_fit[0]) == kappa_pstar.
    aic: (M*+1,) Akaike information criterion, aic[P-1] for P = 1..M*+1 coefficients.
    ndf: chi-square degrees of freedom of the reduced periodogram at 0 < f < f_Nyquist,
        2 (l - k + 1).
    frequencies_L00, periodogram_L00, cepstral_fit_L00, aic_L00, ndf_L00: the same for the
        plain channel-0 spectrum (ndf_L00 = 2 l).
    log_kappa_error: standard error of log(kappa) (= kappa_error / kappa).
    n_samples, dt: length of the series and time between samples.
    """

    kappa: float
    kappa_error: float
    L00: float
    L00_error: float
    pstar: int
    pstar_L00: int
    fstar: float
    fstar_rule: str
    fstar_L00: float
    frequencies: np.ndarray
    reduced_periodogram: np.ndarray
    cepstral_fit: np.ndarray
    aic: np.ndarray
    ndf: int
    kappa_pstar: float
    kappa_pstar_error: float
    frequencies_L00: np.ndarray
    periodogram_L00: np.ndarray
    cepstral_fit_L00: np.ndarray
    aic_L00: np.ndarray
    ndf_L00: int
    log_kappa_error: float
    n_samples: int
    dt: float


# --------------------------------------------------------------------------------------------
# spectra
# --------------------------------------------------------------------------------------------

def _as_fluxes(fluxes: np.ndarray) -> np.ndarray:
    x = np.asarray(fluxes, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise InputError(f"fluxes must have shape (N, k, 3) (samples, channels, directions), "
                         f"got {np.shape(fluxes)}")
    return x


def spectral_series(fluxes: np.ndarray, dt: float) -> np.ndarray:
    """The (N, k, l) float64 series of a spectral estimator (cepstral, likelihood), checked:
    dt > 0, and at least as many equivalent directions l as fluxes k (the direction-averaged
    k x k periodogram is singular otherwise)."""
    x = _as_fluxes(fluxes)
    n, k, ndir = x.shape
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(f"time between samples must be positive, got dt={dt}")
    if ndir < k:
        raise InputError(f"{k} fluxes need at least {k} equivalent directions (got {ndir}): "
                         "drop a mass flux")
    return x


def periodogram(fluxes: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Direction-averaged cross-periodogram matrix of a (N, k, l) series.

    I_ab(f_j) = dt / (N l) sum_d X_a^d(f_j) conj(X_b^d(f_j)),  f_j = j/(N dt), j = 0..floor(N/2),
    an estimate of the two-sided spectral density (units flux^2 x time).  The mean is *not*
    removed: equilibrium fluxes have zero mean, and removing the sample mean would zero the
    f = 0 bin.

    Returns (frequencies (nf,), I (nf, k, k) complex Hermitian).  Memory ~ N k^2 x 16 bytes:
    for long series :func:`cepstral_analysis` uses a fused path that never stores it.
    """
    x = _as_fluxes(fluxes)
    n, _, ndir = x.shape
    spec = _fft.rfft(x, axis=0)                                    # (nf, k, l)
    mat = np.einsum("fad,fbd->fab", spec, spec.conj()) * (dt / (n * ndir))
    return np.arange(spec.shape[0]) / (n * dt), mat


def reduced_periodogram(matrix: np.ndarray, ndir: int = 3) -> np.ndarray:
    """Unbiased reduced periodogram (l/(l-k+1)) / (I^-1)_00 from a (nf, k, k) matrix.

    Computed as the Schur complement I_00 - I_0r I_rr^-1 I_r0 (same value as 1/(I^-1)_00,
    better conditioned).  ``ndir`` = l, the number of directions averaged in ``matrix``.
    For k = 1 it is I_00 itself.
    """
    mat = np.asarray(matrix)
    k = mat.shape[-1]
    nu = ndir - k + 1
    if nu < 1:
        raise ValueError(f"{k} fluxes need at least {k} equivalent directions, got {ndir}")
    return _schur00(mat) * (ndir / nu)


def _schur00(mat: np.ndarray) -> np.ndarray:
    """Real part of M_00 - M_0r M_rr^-1 M_r0 for a stack (..., k, k) of Hermitian matrices."""
    if mat.shape[-1] == 1:
        return mat[..., 0, 0].real.copy()
    rr = mat[..., 1:, 1:]
    r0 = mat[..., 1:, 0:1]
    try:
        y = np.linalg.solve(rr, r0)                              # M_rr^-1 M_r0
    except np.linalg.LinAlgError:
        raise InputError("the mass fluxes are linearly dependent (singular cross-spectrum): "
                         "drop one species (total momentum is conserved) or a duplicate "
                         "flux") from None
    return (mat[..., 0, 0] - np.einsum("...i,...i->...", mat[..., 0, 1:], y[..., 0])).real


def _fused_spectra(x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution reduced periodogram and plain I_00 without storing the (nf, k, k) matrix.

    Accumulates sum_d X_a X_b^* over directions in packed form (k real diagonals, k(k-1)/2
    complex off-diagonals), one direction's FFTs at a time, so the memory beyond the input is
    ~ N k^2 x 8 bytes (accumulators) + N k x 8 bytes (one direction's transforms).
    Same numbers as reduced_periodogram(periodogram(x)) to round-off.
    """
    n, k, ndir = x.shape
    nf = n // 2 + 1
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    diag = np.zeros((k, nf))
    off = np.zeros((len(pairs), nf), dtype=np.complex128)
    for d in range(ndir):
        spec = _fft.rfft(x[:, :, d].T, axis=1)                   # (k, nf), one direction
        for lo in range(0, nf, _CHUNK):                          # chunks bound the temporaries
            s = spec[:, lo:lo + _CHUNK]
            diag[:, lo:lo + _CHUNK] += s.real ** 2 + s.imag ** 2
            for p, (a, b) in enumerate(pairs):
                off[p, lo:lo + _CHUNK] += s[a] * s[b].conj()
        del spec
    nu = ndir - k + 1
    norm = dt / n
    plain = diag[0] * (norm / ndir)
    if k == 1:
        return plain.copy(), plain
    reduced = np.empty(nf)
    for lo in range(0, nf, _CHUNK):
        hi = min(lo + _CHUNK, nf)
        m = np.empty((hi - lo, k, k), dtype=np.complex128)
        for a in range(k):
            m[:, a, a] = diag[a, lo:hi]
        for p, (a, b) in enumerate(pairs):
            m[:, a, b] = off[p, lo:hi]
            m[:, b, a] = off[p, lo:hi].conj()
        reduced[lo:hi] = _schur00(m)
    reduced *= norm / nu
    return reduced, plain


def resample(fluxes: np.ndarray, dt: float, fstar: float) -> tuple[np.ndarray, float, int]:
    """Low-pass to f* by block averaging: a moving average of q = round(f_Ny / f*) samples
    taken every q samples (f_Ny = 1/(2 dt)).

    Returns (y (N//q, k, l), dt' = q dt, q); the new Nyquist frequency is f_Ny / q, which is
    the f* actually used.  Why this filter: the block mean y_m = (1/q) sum_{i<q} x_{mq+i} is
    a linear Gaussian process whose periodogram has exact chi-square statistics; its spectrum
    is the aliased sum S'(f) = sum_{r<q} |H(f + r/(q dt))|^2 S(f + r/(q dt)) with
    H(f) = sin(pi f q dt) / (q sin(pi f dt)), so that (i) S'(0) = S(0) exactly (H vanishes at
    every alias of f = 0) and indeed I'(0) = I(0) sample by sample; (ii) S' is even about the
    new Nyquist frequency, so the cosine series of log S' has no kink at f* (a sharp cut of
    the periodogram would leave one, whose slowly decaying coefficients bias S(0)).
    Trailing samples that do not fill a block, and the last block if their number is odd,
    are dropped (as SporTran does).
    """
    x = _as_fluxes(fluxes)
    q = max(1, int(round(0.5 / (dt * fstar))))
    if q == 1:
        return x, float(dt), 1
    m = (x.shape[0] // q) // 2 * 2             # even: the last bin is the real Nyquist bin
    # einsum sums the q rows of each block (3-4x faster than .mean(axis=1) here)
    y = np.einsum("mqad->mad", x[: m * q].reshape((m, q) + x.shape[1:])) / q
    return y, float(dt) * q, q


# --------------------------------------------------------------------------------------------
# statistics of the log-periodogram
# --------------------------------------------------------------------------------------------

def bin_ndf(nfreq: int, nu: int, last_is_real: bool) -> np.ndarray:
    """Chi-square degrees of freedom of each of ``nfreq`` bins (f_0 = 0 first).

    ``nu`` = l - k + 1 complex samples per bin: ndf = 2 nu for complex bins, nu for the
    real-valued f = 0 bin and (if ``last_is_real``) the Nyquist bin.
    """
    ndf = np.full(nfreq, 2.0 * nu)
    ndf[0] = nu
    if last_is_real:
        ndf[-1] = nu
    return ndf


def log_bias(ndf: np.ndarray | float) -> np.ndarray | float:
    """Mean of log(chi^2_ndf / ndf):  psi(ndf/2) - log(ndf/2)   (psi = digamma).

    The log-periodogram is log S(f) + this bias + zero-mean noise.
    """
    # the special functions are evaluated once per distinct ndf (bins share a few values)
    vals, inv = np.unique(0.5 * np.asarray(ndf, dtype=float), return_inverse=True)
    out = (digamma(vals) - np.log(vals))[inv].reshape(np.shape(ndf))
    return out if np.ndim(ndf) else float(out)


def log_variance(ndf: np.ndarray | float) -> np.ndarray | float:
    """Variance of log(chi^2_ndf / ndf):  psi_1(ndf/2)   (trigamma)."""
    vals, inv = np.unique(0.5 * np.asarray(ndf, dtype=float), return_inverse=True)
    out = polygamma(1, vals)[inv].reshape(np.shape(ndf))
    return out if np.ndim(ndf) else float(out)


# --------------------------------------------------------------------------------------------
# cepstral filter
# --------------------------------------------------------------------------------------------

def cepstral_coefficients(log_spectrum: np.ndarray) -> np.ndarray:
    """Cepstral coefficients of a log-spectrum sampled at f_j = j f*/M, j = 0..M.

    The log-spectrum is even and periodic with period 2 f* (2M samples), so its inverse
    Fourier transform is the type-I discrete cosine transform

        C_n = 1/(2M) [L_0 + (-1)^n L_M + 2 sum_{j=1}^{M-1} L_j cos(pi j n / M)],  n = 0..M,

    and L_j = C_0 + (-1)^j C_M + 2 sum_{n=1}^{M-1} C_n cos(pi j n / M).
    """
    y = np.asarray(log_spectrum, dtype=float)
    return _fft.dct(y, type=1) / (2.0 * (y.size - 1))


def cepstral_coefficient_variance(bin_variance: np.ndarray) -> np.ndarray:
    """Variance of each C_n for independent bins of variance sigma_j^2 (constant inside).

    var C_n = 1/(4M^2) [sigma_0^2 + sigma_M^2 + 4 sigma^2 sum_{j=1}^{M-1} cos^2(pi j n/M)],
    with the sum = M/2 - 1 for 0 < n < M and M - 1 for n = 0, M.  For large M this is
    sigma^2/(2M) inside and sigma^2/M at the ends (Sci. Rep. 2017).
    """
    v = np.asarray(bin_variance, dtype=float)
    m = v.size - 1
    inner = v[1] if m > 1 else 0.0
    ends = v[0] + v[-1]
    var = np.full(m + 1, ends + 4.0 * inner * (0.5 * m - 1.0))
    var[0] = var[-1] = ends + 4.0 * inner * (m - 1.0)
    return var / (4.0 * m * m)


def aic_pstar(coefficients: np.ndarray, variance: np.ndarray) -> tuple[int, np.ndarray]:
    """P* minimising AIC(P) = sum_{n >= P} C_n^2 / var C_n + 2 P, P = 1..M+1.

    The model keeps the first P coefficients C_0..C_{P-1} and sets the others to zero; the
    first term is -2 log-likelihood of the discarded ones (Gaussian, known variance).
    Returns (P*, aic) with aic[P - 1] = AIC(P).
    """
    r = np.asarray(coefficients) ** 2 / np.asarray(variance)
    tail = np.cumsum(r[::-1])[::-1]                              # tail[n] = sum_{m >= n} r_m
    p = np.arange(1, r.size + 1)
    aic = np.append(tail[1:], 0.0) + 2.0 * p
    return int(np.argmin(aic)) + 1, aic


def log_zero_frequency(coefficients: np.ndarray, pstar: int) -> float:
    """Filtered log-spectrum at f = 0:  L*_0 = C_0 + 2 sum_{n=1}^{P*-1} C_n (all: + C_M)."""
    c = np.asarray(coefficients)
    m = c.size - 1
    if pstar > m:
        return float(c[0] + 2.0 * c[1:m].sum() + c[m])
    return float(c[0] + 2.0 * c[1:pstar].sum())


def log_zero_frequency_variance(bin_variance: np.ndarray) -> np.ndarray:
    """Exact var L*_0(P) for every P = 1..M+1 (element P-1), independent bins.

    L*_0(P) = sum_j w_j L_j with w_j = c_j/(2M) D_P(pi j/M), c_j = 1 at j = 0, M and 2
    inside, and the Dirichlet kernel D_P(theta) = sin((P - 1/2) theta) / sin(theta/2).
    Parseval on the 2M-point circle, sum_{j=0}^{2M-1} D_P^2 = 2M (2P - 1), with D_P(0) = 2P-1
    and D_P(pi)^2 = 1, gives for bin variances sigma_0^2, sigma^2 (inside), sigma_M^2:

        var L*_0(P) = [sigma_0^2 (2P-1)^2 + sigma_M^2
                       + 2 sigma^2 (2M(2P-1) - (2P-1)^2 - 1)] / (4M^2)

    for P <= M (large M: (4P - 2) sigma^2 / (2M), Sci. Rep. 2017), and sigma_0^2 for P = M+1.
    """
    v = np.asarray(bin_variance, dtype=float)
    m = v.size - 1
    q = 2.0 * np.arange(1, m + 1) - 1.0                          # 2P - 1, P = 1..M
    inner = v[1] if m > 1 else 0.0
    out = np.empty(m + 1)
    out[:m] = (v[0] * q * q + v[-1] + 2.0 * inner * (2.0 * m * q - q * q - 1.0)) / (4.0 * m * m)
    out[m] = v[0]
    return out


def cepstral_log_spectrum(coefficients: np.ndarray, pstar: int) -> np.ndarray:
    """Filtered log-spectrum on the M+1 bins from the first P* coefficients (inverse DCT-I)."""
    c = np.array(coefficients, dtype=float)
    c[pstar:] = 0.0
    return _fft.dct(c, type=1)                                   # DCT-I is its own inverse x 2M


def log_zero_frequency_all(coefficients: np.ndarray) -> np.ndarray:
    """L*_0(P) for every P = 1..M+1 (element P-1): cumulative sums of the coefficients."""
    c = np.asarray(coefficients, dtype=float)
    out = np.empty(c.size)
    out[0] = c[0]
    out[1:] = c[0] + 2.0 * np.cumsum(c[1:])
    out[-1] -= c[-1]                                             # C_M enters once (P = M+1)
    return out


def aic_average(values: np.ndarray, variances: np.ndarray,
                aic: np.ndarray) -> tuple[float, float]:
    """Akaike-weighted model average over the number of coefficients P.

    Akaike weights w_P = exp(-(AIC_P - AIC_min)/2) / sum (Burnham & Anderson, Model
    Selection and Multimodel Inference, 2nd ed. 2002, sec. 4.2); estimate
    mean = sum_P w_P L_P; variance = var L_{P*} + sum_P w_P (L_P - mean)^2: the statistical
    variance of the AIC-selected model plus the spread of the models the AIC cannot tell
    apart.  Why: with the single P* (Sci. Rep. 2017) the spread of z = (estimate -
    exact)/error over OU seeds is 1.2-1.6, because P* is itself random and correlated with the
    estimate; Burnham & Anderson's sum_P w_P sqrt(var L_P + (L_P - mean)^2) overshoots on
    long series (spread 0.7: it averages the variances of needlessly large P); this form
    gives 0.8-1.25 on all our test spectra (docs/cepstral.md).  Returns (mean, variance).
    """
    a = np.asarray(aic, dtype=float)
    w = np.exp(-0.5 * (a - a.min()))
    w /= w.sum()
    mean = float(np.dot(w, values))
    i = int(np.argmin(a))
    return mean, float(variances[i] + np.dot(w, (values - mean) ** 2))




def _cepstral_fit(spectrum: np.ndarray, nu: int, last_is_real: bool,
                  pstar: Optional[int]) -> dict:
    """Cepstral estimate of log S(0) from a resampled periodogram (M+1 bins, f = 0 first).

    With ``pstar`` None: P* = AIC minimum, value and variance the Akaike-weighted average
    over P; with ``pstar`` given: the value at that P and its exact variance.
    """
    ndf = bin_ndf(spectrum.size, nu, last_is_real)
    var_bins = log_variance(ndf)
    log_s = np.log(spectrum) - log_bias(ndf)                     # unbiased log-spectrum
    coef = cepstral_coefficients(log_s)
    coef_var = cepstral_coefficient_variance(var_bins)
    p_aic, aic = aic_pstar(coef, coef_var)
    p = p_aic if pstar is None else int(pstar)
    log_all = log_zero_frequency_all(coef)
    var_all = log_zero_frequency_variance(var_bins)
    log_p, var_p = float(log_all[p - 1]), float(var_all[p - 1])
    if pstar is None:
        log0, var0 = aic_average(log_all, var_all, aic)
    else:
        log0, var0 = log_p, var_p
    return dict(log0=log0, var=var0, log_p=log_p, var_p=var_p, pstar=p, aic=aic,
                fit=cepstral_log_spectrum(coef, p))


# --------------------------------------------------------------------------------------------
# automatic f*
# --------------------------------------------------------------------------------------------

def smoothed_log_spectrum(spectrum: np.ndarray, nu: int, last_is_real: bool = True,
                          bin_ratio: Optional[float] = None, bin_min: Optional[int] = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias-corrected log-periodogram averaged in bins of constant relative width.

    Bins start at j = 1 and grow geometrically (ratio ``bin_ratio``) but hold at least
    ``bin_min`` periodogram bins.  Returns (edges (nb+1,) bin index edges, mean (nb,) mean of
    log S, err (nb,) its standard error sqrt(sum psi_1)/count).
    """
    bin_ratio = FSTAR_BIN_RATIO if bin_ratio is None else bin_ratio
    bin_min = FSTAR_BIN_MIN if bin_min is None else bin_min
    s = np.asarray(spectrum, dtype=float)
    m_max = s.size - 1
    ndf = bin_ndf(s.size, nu, last_is_real)
    log_s = np.log(s) - log_bias(ndf)
    var = log_variance(ndf)
    edges = [1]
    while edges[-1] <= m_max:
        edges.append(max(edges[-1] + bin_min, int(np.ceil(edges[-1] * bin_ratio))))
    edges = np.unique(np.minimum(np.array(edges), m_max + 1))
    counts = np.diff(edges)
    mean = np.add.reduceat(log_s, edges[:-1]) / counts
    err = np.sqrt(np.add.reduceat(var, edges[:-1])) / counts
    return edges, mean, err


def auto_fstar(reduced: np.ndarray, nu: int, last_is_real: bool = True,
               drop: Optional[float] = None, min_index: int = FSTAR_MIN_FREQS,
               bin_min: Optional[int] = None) -> tuple[int, str]:
    """Index M* of the automatic low-pass cutoff on the grid of ``reduced`` (f = 0 first).

    Rule: f* is the first frequency at which the smoothed log reduced spectrum
    (:func:`smoothed_log_spectrum`: bins of max(5 % of f, 32 periodogram bins)) lies
    *significantly* more than a factor 1.25 (``drop``) below its maximum at lower
    frequencies: max_{b' < b} (m_b' - 2 e_b') - (m_b + 2 e_b) >= log 1.25, with m_b the bin
    mean of log S and e_b its standard error (2 standard errors on each side, so that the
    ~ 100 noisy bins of a long series do not trigger it by chance).  In words: where the
    low-frequency peak that fixes S(0) has lost a fifth of its height.  At least
    ``min_index``; the last index (Nyquist) if the spectrum never falls that far.
    ``nu`` is l - k + 1 (times the number of averaged segments, for a Welch average).

    Why: the cepstral estimate is unbiased only if the log-spectrum on [0, f*] is resolved by
    a few coefficients.  A wider band adds structure (the tail of the peak, a narrow feature
    riding on a broad one, vibrational peaks) whose many sub-noise coefficients the AIC
    drops, biasing S(0) by their sum.  On OU and MD-like test spectra (docs/cepstral.md) the
    bias grows steadily with f*, while the standard error only grows ~ sqrt(2) per halving
    of f*.  The rule uses only the reduced periodogram, hence is gauge invariant.

    Returns (M*, description).
    """
    drop = FSTAR_DROP if drop is None else drop
    m_max = np.asarray(reduced).size - 1
    if m_max <= min_index:
        return m_max, f"all {m_max + 1} bins kept (fewer than {min_index} available)"
    edges, mean, err = smoothed_log_spectrum(reduced, nu, last_is_real, bin_min=bin_min)
    how = (f"spectrum smoothed over max({100 * (FSTAR_BIN_RATIO - 1):.0f}% of f, "
           f"{FSTAR_BIN_MIN} periodogram bins), {FSTAR_Z:g} standard errors")
    best = np.maximum.accumulate(mean - FSTAR_Z * err)
    fell = np.zeros(mean.size, dtype=bool)
    fell[1:] = best[:-1] - (mean[1:] + FSTAR_Z * err[1:]) >= drop
    if not fell.any():
        return m_max, (f"f* = Nyquist: the reduced spectrum never falls by a factor "
                       f"{np.exp(drop):.3g} ({how})")
    i = int(np.argmax(fell))
    mstar = int(round(np.sqrt(edges[i] * (edges[i + 1] - 1.0))))  # geometric bin centre
    text = (f"f* = first frequency where the reduced spectrum falls a factor "
            f"{np.exp(drop):.3g} below its maximum at lower frequencies ({how})")
    if mstar < min_index:
        mstar = min_index
        text += f"; raised to keep {FSTAR_MIN_FREQS} frequency bins"
    return min(mstar, m_max), text


def _rule_spectra(x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Reduced and plain spectra on which the f* rule is evaluated.

    Up to 2 x RULE_SEGMENT samples: the full periodograms.  Longer series: the cross-
    periodogram matrix averaged over consecutive segments of RULE_SEGMENT samples (Welch,
    no window, no overlap), then reduced.  The rule only needs a spectrum smoothed over 5 %
    frequency bins, so the coarser grid (f_s / 65536) loses nothing, while the cost drops to
    O(N log RULE_SEGMENT) and the memory to O(RULE_SEGMENT) beyond the input.  The Welch
    matrix sums n_seg x l independent samples per frequency, so the reduced element is
    chi-square with 2 (n_seg l - k + 1) degrees of freedom, still exactly gauge invariant.
    Returns (reduced, plain, nu_equivalent, frequency step); the last bin is a real
    Nyquist bin.
    """
    n, k, ndir = x.shape
    if n <= 2 * RULE_SEGMENT:
        m = n // 2 * 2
        red, plain = _fused_spectra(x[:m], dt)
        return red, plain, ndir - k + 1, 1.0 / (m * dt)
    seg = RULE_SEGMENT
    nseg = n // seg
    nf = seg // 2 + 1
    acc = np.zeros((nf, k, k), dtype=np.complex128)
    batch = max(1, (1 << 22) // (seg * k * ndir))               # ~ 32 MB of samples per FFT
    for lo in range(0, nseg, batch):
        hi = min(lo + batch, nseg)
        spec = _fft.rfft(x[lo * seg: hi * seg].reshape(hi - lo, seg, k, ndir), axis=1)
        # (f, k, samples) @ (f, samples, k): sum over segments and directions as one
        # batched matrix product (4x faster than the equivalent einsum)
        s_fk = np.ascontiguousarray(spec.transpose(1, 2, 0, 3)).reshape(nf, k, -1)
        acc += s_fk @ s_fk.conj().transpose(0, 2, 1)
    acc *= dt / (seg * nseg * ndir)                              # averaged periodogram
    return (reduced_periodogram(acc, nseg * ndir), acc[:, 0, 0].real.copy(),
            nseg * ndir - k + 1, 1.0 / (seg * dt))


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------

def _raise_dependent() -> None:
    raise InputError("the reduced periodogram is not positive at every frequency: the mass "
                     "fluxes are linearly dependent (drop one species) or the energy flux is "
                     "a combination of them")


def cepstral_analysis(fluxes: np.ndarray, dt: float, fstar: Optional[float] = None,
                      pstar: Optional[int] = None) -> CepstralResult:
    """Multicomponent cepstral estimate of kappa = 1/(S^-1)_00(0) / 2 and of L00 = S_00(0) / 2.

    Parameters
    ----------
    fluxes: (N, k, l) array; channel 0 the energy flux, channels 1..k-1 the independent mass
        fluxes; l equivalent directions (3), l >= k.  Extensive fluxes, any consistent units.
    dt: time between samples; frequencies are in 1/(unit of dt), results in
        [flux^2 x unit of dt].
    fstar: low-pass cutoff (same frequency unit); None = automatic rule (:func:`auto_fstar`),
        one for kappa (reduced spectrum) and one for L00 (channel-0 spectrum).  Realised as
        f_Nyquist / q with q = round(f_Nyquist / fstar) (block averaging, :func:`resample`);
        a value above Nyquist is a ValueError.  A given fstar applies to kappa and L00.
    pstar: number of cepstral coefficients for kappa; None = AIC (then kappa is the
        Akaike-weighted average over P, :func:`aic_average`); given: the value at that P.
        L00 always uses its own AIC.

    Returns
    -------
    CepstralResult; kappa and L00 are the direction-averaged Green-Kubo integrals
    integral_0^inf <X(t)X(0)> dt (reduced, resp. plain), i.e. half the zero-frequency
    two-sided spectral densities.
    """
    x = spectral_series(fluxes, dt)
    n, k, ndir = x.shape
    if n < 2 * FSTAR_MIN_FREQS:
        raise TooFewSamples(f"cepstral analysis needs at least {2 * FSTAR_MIN_FREQS} samples, "
                            f"got {n}")
    if not np.all(np.isfinite(x)):
        raise InputError("fluxes contain NaN or inf: remove the bad rows")
    nu = ndir - k + 1
    f_nyq = 0.5 / dt
    if fstar is None:
        # the rule reads f* off a (possibly Welch-averaged) spectrum; block averaging then
        # realises the nearest f* = f_Nyquist / q, q integer
        red_r, plain_r, nu_r, df_r = _rule_spectra(x, dt)
        if not np.all(red_r > 0):
            _raise_dependent()
        df_full = 1.0 / (n * dt)
        rule_args = dict(min_index=int(np.ceil(FSTAR_MIN_FREQS * df_full / df_r)),
                         bin_min=max(1, int(round(FSTAR_BIN_MIN * df_full / df_r))))
        m_r, rule = auto_fstar(red_r, nu_r, **rule_args)
        m00_r, _ = auto_fstar(plain_r, nu_r + k - 1, **rule_args)
        q = max(1, int(round(f_nyq / (m_r * df_r))))
        q00 = max(1, int(round(f_nyq / (m00_r * df_r))))
        rule += f"; realised as f_Nyquist/{q}"
    else:
        if not fstar > 0:
            raise InputError(f"fstar must be positive, got {fstar}")
        if fstar > f_nyq * (1 + 1e-9):
            # a cutoff above the highest resolved frequency cannot be honoured: say so
            raise InputError(f"fstar={fstar:.6g} is above the Nyquist frequency 1/(2 dt) = "
                             f"{f_nyq:.6g} of the samples: choose fstar <= {f_nyq:.6g}")
        q = q00 = max(1, int(round(f_nyq / fstar)))
        rule = f"given by the user, realised as f_Nyquist/{q}"
    if (n // q) // 2 < 16:
        raise InputError(f"fstar={fstar} keeps fewer than 16 frequencies; use "
                         f"fstar >= {32 / (n * dt):.6g}")

    def spectra(qq: int, channels: int) -> tuple[np.ndarray, np.ndarray, int]:
        # reduced and plain periodograms of the series block-averaged over qq samples, and
        # the length of that series
        y, dty, _ = resample(x[:, :channels], dt, f_nyq / qq)
        red_q, plain_q = _fused_spectra(y, dty)
        if not np.all(red_q > 0):
            _raise_dependent()
        return red_q, plain_q, y.shape[0]

    red_q, plain_q, n_q = spectra(q, k)
    even_q = n_q % 2 == 0
    if pstar is not None and not 1 <= int(pstar) <= red_q.size:
        raise InputError(f"pstar must be in [1, {red_q.size}], got {pstar}")
    if q00 == q:
        plain_00, n_00 = plain_q, n_q
    else:
        _, plain_00, n_00 = spectra(q00, 1)
    even_00 = n_00 % 2 == 0
    # units of kappa: S/2
    fit_k = _cepstral_fit(0.5 * red_q, nu, even_q, pstar)
    fit_0 = _cepstral_fit(0.5 * plain_00, ndir, even_00, None)
    kappa = float(np.exp(fit_k["log0"]))
    l00 = float(np.exp(fit_0["log0"]))
    kappa_p = float(np.exp(fit_k["log_p"]))
    return CepstralResult(
        kappa=kappa, kappa_error=kappa * float(np.sqrt(fit_k["var"])),
        L00=l00, L00_error=l00 * float(np.sqrt(fit_0["var"])),
        pstar=fit_k["pstar"], pstar_L00=fit_0["pstar"],
        fstar=0.5 / (dt * q), fstar_rule=rule, fstar_L00=0.5 / (dt * q00),
        frequencies=np.arange(red_q.size) / (n_q * q * dt),
        reduced_periodogram=0.5 * red_q, cepstral_fit=fit_k["fit"],
        aic=fit_k["aic"], ndf=2 * nu,
        kappa_pstar=kappa_p, kappa_pstar_error=kappa_p * float(np.sqrt(fit_k["var_p"])),
        frequencies_L00=np.arange(plain_00.size) / (n_00 * q00 * dt),
        periodogram_L00=0.5 * plain_00,
        cepstral_fit_L00=fit_0["fit"], aic_L00=fit_0["aic"], ndf_L00=2 * ndir,
        log_kappa_error=float(np.sqrt(fit_k["var"])), n_samples=n, dt=float(dt))
