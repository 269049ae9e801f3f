"""Tests of the likelihood spectral estimator (pyonsager.likelihood).

References are independent of the module: exact spectra and Onsager matrices of latent
Ornstein-Uhlenbeck models (tests/spectral_models.py, closed-form AR(1) algebra), chi-square
moments written by hand, and exact linear-algebra identities (gauge invariance).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spectral_models import MODELS  # noqa: E402

from pyonsager import likelihood as lk  # noqa: E402

LOR = MODELS["lorentzian"]
SEEDS = range(30)
N_CAL = 20_000


@pytest.fixture(scope="module")
def lorentzian_runs():
    return [lk.likelihood_analysis(LOR.series(N_CAL, 500 + s), LOR.dt) for s in SEEDS]


def _z(values, errors, exact):
    return (np.asarray(values) - exact) / np.asarray(errors)


# ------------------------------------------------------------------ calibration (fixed seeds)

def test_kappa_calibrated_on_lorentzian(lorentzian_runs):
    """30 seeds of 2e4 samples: z-spread in [0.7, 1.4], mean z within 3/sqrt(30), and the RMS
    error within 1.5x the Cramer-Rao bound of the true (7-parameter OU) model."""
    exact = LOR.kappa()
    k = np.array([r.kappa for r in lorentzian_runs])
    z = _z(k, [r.kappa_error for r in lorentzian_runs], exact)
    assert 0.7 <= z.std(ddof=1) <= 1.4, z.std(ddof=1)
    assert abs(z.mean()) <= 3 / np.sqrt(len(z)), z.mean()
    rms = np.sqrt(np.mean((k - exact) ** 2))
    assert rms <= 1.5 * LOR.cramer_rao(N_CAL), (rms, LOR.cramer_rao(N_CAL))


@pytest.mark.parametrize("a,b", [(0, 0), (1, 1), (0, 1)])
def test_onsager_matrix_calibrated(lorentzian_runs, a, b):
    """L00, L11 (auto-spectrum fits) and L01 (cross-spectrum fit) against the exact matrix."""
    exact = LOR.onsager()[a, b]
    z = _z([r.L[a, b] for r in lorentzian_runs], [r.L_error[a, b] for r in lorentzian_runs],
           exact)
    assert 0.6 <= z.std(ddof=1) <= 1.5, z.std(ddof=1)
    assert abs(z.mean()) <= 3.5 / np.sqrt(len(z)), z.mean()


def test_optical_peak_unbiased():
    """A damped oscillation (optical peak, 35x S(0)) above the low-frequency decay."""
    m = MODELS["optical"]
    runs = [lk.likelihood_analysis(m.series(20_000, 900 + s), m.dt, matrix=False)
            for s in range(16)]
    z = _z([r.kappa for r in runs], [r.kappa_error for r in runs], m.kappa())
    assert 0.6 <= z.std(ddof=1) <= 1.5, z.std(ddof=1)
    assert abs(z.mean()) <= 3.5 / np.sqrt(len(z)), z.mean()
    assert max(r.reduced.fc_best for r in runs) < 1.0            # the peak is at f = 1


def test_liquid_spectrum_steep_fall_calibrated():
    """A molten-salt-like reduced spectrum (plateau, two broad peaks, a nearly Gaussian fall
    over nine decades to Nyquist, dt = 5 fs): the compared band must stop where the low-order
    models stop being adequate.  Before the goodness-of-fit rule the Akaike weights went to
    cutoffs near Nyquist (the octave nuisance fits of the steep fall are worse than one global
    polynomial), which smoothed over the plateau: z mean -1.6 (best cutoff at Nyquist, 100
    THz) on these seeds."""
    m = MODELS["molten_salt"]
    f = np.array([0.0, 25.0])
    fall = m.reduced_spectrum(f)
    assert fall[1] < 1e-3 * fall[0]                 # the shape does fall steeply
    runs = [lk.likelihood_analysis(m.series(20_000, 700 + s), m.dt, matrix=False)
            for s in range(16)]
    z = _z([r.kappa for r in runs], [r.kappa_error for r in runs], m.kappa())
    assert 0.6 <= z.std(ddof=1) <= 1.5, z.std(ddof=1)
    assert abs(z.mean()) <= 3.5 / np.sqrt(len(z)), z.mean()
    assert max(r.reduced.fc_best for r in runs) < 50.0   # THz: well below Nyquist (100)


def test_goodness_of_fit_level_and_power():
    """Block score test of the adequacy rule on Gamma data drawn from a known spectrum
    (the Lorentzian's exact reduced spectrum, n = 4 dof per bin): with the true S it rejects
    at rate ~alpha (binomial bounds, 400 replicates); with S 30 % low below 1/10 of the band
    (a misfit of the plateau) it rejects nearly always."""
    n = 4096
    f = np.arange(n // 2 + 1) / (n * LOR.dt)
    s_true = LOR.reduced_spectrum(f)
    dof = lk.bin_dof(f.size, 2, True)
    grid = lk._make_grid(f.size, LOR.dt, f[1])
    rng = np.random.default_rng(11)
    g = int(grid.edges[-1])
    s_pool, _ = lk._pool(s_true, dof, grid)
    wrong = s_pool * np.where(grid.freq < 0.1 * grid.freq[g - 1], 0.7, 1.0)
    p_null, p_alt = [], []
    for _ in range(400):
        y = s_true * rng.chisquare(dof) / dof
        yp, npool = lk._pool(y, dof, grid)
        h = 0.5 * npool[:g]
        p_null.append(lk._gof_pvalue(grid, g, h * (yp[:g] / s_pool[:g] - 1.0), h, 0)[0])
        p_alt.append(lk._gof_pvalue(grid, g, h * (yp[:g] / wrong[:g] - 1.0), h, 0)[0])
    p_null, p_alt = np.asarray(p_null), np.asarray(p_alt)
    for alpha in (0.05, 0.2):
        rate = np.mean(p_null < alpha)
        assert abs(rate - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / p_null.size), (alpha, rate)
    assert np.mean(p_alt < lk.GOF_ALPHA) > 0.95


def test_misfit_size_estimates_the_rms_relative_misfit():
    """D = sqrt(max(0, X^2 - dof) / sum V) of the block score test estimates the rms
    relative misfit of the spectrum: Gamma data (n = 4 dof, 2^17 bins) from the Lorentzian's
    exact reduced spectrum, tested against S exp(delta) with delta = 5 % on the upper half of
    the band and 0 below.  Reference by hand: the mean score of group j is
    h_j (S_true/S_model - 1) = h_j (e^-delta_j - 1), so E z_b^2 - 1 = V_b (e^-delta_b - 1)^2
    and D^2 -> sum_b V_b (e^-delta_b - 1)^2 / sum V.  Under the exact model D is a chance
    value: its 95 % point is sqrt((chi^2_0.95(B) - B) / sum V) (B blocks, no fitted
    coefficient), ~0.8 % here, below half the relevance threshold."""
    n = 1 << 18
    f = np.arange(n // 2 + 1) / (n * LOR.dt)
    s_true = LOR.reduced_spectrum(f)
    dof = lk.bin_dof(f.size, 2, True)
    grid = lk._make_grid(f.size, LOR.dt, f[1])
    g = int(grid.edges[-1])
    s_pool, npool = lk._pool(s_true, dof, grid)
    delta = np.where(grid.freq > 0.5 * grid.freq[g - 1], 0.05, 0.0)[:g]
    h = 0.5 * npool[:g]
    expected = np.sqrt(np.sum(h * (np.exp(-delta) - 1.0) ** 2) / np.sum(h))
    rng = np.random.default_rng(5)
    d_alt, d_null = [], []
    for _ in range(40):
        yp, _ = lk._pool(s_true * rng.chisquare(dof) / dof, dof, grid)
        d_alt.append(lk._gof_pvalue(grid, g, h * (yp[:g] / (s_pool[:g] * np.exp(delta)) - 1.0),
                                    h, 0)[3])
        d_null.append(lk._gof_pvalue(grid, g, h * (yp[:g] / s_pool[:g] - 1.0), h, 0)[3])
    assert np.mean(d_alt) == pytest.approx(expected, rel=0.05), (np.mean(d_alt), expected)
    from scipy.stats import chi2
    nblk = int(np.sum(grid.edges < g)) + 1
    d95 = np.sqrt((chi2.ppf(0.95, nblk) - nblk) / np.sum(h))
    q95 = np.quantile(d_null, 0.95)
    assert q95 == pytest.approx(d95, rel=0.25), (q95, d95)
    assert d95 < 0.5 * lk.GOF_RELEVANCE


def test_significant_but_irrelevant_misfit_keeps_the_band():
    """At 2^20 bins the block test detects a misfit of 1 % of S: Gamma data from the exact
    Lorentzian reduced spectrum times 1 +- 1 % (alternating quarter-octave blocks above
    f = 0.2, so S(0) is untouched) reject even the exact model (p << GOF_ALPHA).  With the
    relevance threshold the whole band stays (it is 1 %, below GOF_RELEVANCE) and kappa is
    within 3 errors of the exact value with an error below 1 %; without it (threshold 0) the
    compared band is cut (at f ~ 0.8 here) and the error grows (by ~20 % here)."""
    n = 1 << 21
    f = np.arange(n // 2 + 1) / (n * LOR.dt)
    s_true = LOR.reduced_spectrum(f)
    dof = lk.bin_dof(f.size, 2, True)
    grid = lk._make_grid(f.size, LOR.dt, f[1])
    blk = np.searchsorted(grid.edges, np.searchsorted(grid.start, np.arange(f.size), "right") - 1,
                          "right")
    wiggle = np.where(f > 0.2, 1.0 + 0.01 * (-1.0) ** blk, 1.0)
    y = s_true * wiggle * np.random.default_rng(8).chisquare(dof) / dof
    fit = lk.fit_spectrum(y, dof, LOR.dt, f[1], _grid=grid)
    exact = LOR.kappa()
    assert fit.g_top == fit.g_max == grid.x.size                 # the whole band is compared
    assert np.min(fit.models[:, 8]) < 1e-6                       # the misfit is significant
    assert abs(fit.value - exact) < 3 * fit.error and fit.error < 0.01 * exact
    old = lk.GOF_RELEVANCE
    try:
        lk.GOF_RELEVANCE = 0.0
        strict = lk.fit_spectrum(y, dof, LOR.dt, f[1], _grid=grid)
    finally:
        lk.GOF_RELEVANCE = old
    assert strict.g_top < grid.x.size and strict.error > 1.1 * fit.error


# ------------------------------------------------------------------ exact identities

def test_exact_spectrum_gives_exact_value():
    """Fed the exact reduced spectrum of the sampled OU process (noise-free 'periodogram',
    huge dof), the estimator returns S_red(0)/2 = kappa: 1/S_red is affine in sin^2(pi f dt),
    which the inverse family with two coefficients represents exactly.  The tolerance is the
    pooling approximation (bins above 256 are pooled in 0.5 % groups, the model evaluated at
    the group's mean x)."""
    n = 4096
    f = np.arange(n // 2 + 1) / (n * LOR.dt)
    s = LOR.reduced_spectrum(f)
    u = np.sin(np.pi * f * LOR.dt) ** 2
    inv = 1.0 / s
    coef = np.polyfit(u, inv, 1)
    assert np.max(np.abs(np.polyval(coef, u) - inv)) < 1e-10 * np.max(inv)
    fit = lk.fit_spectrum(s, np.full(s.size, 1e12), LOR.dt, f[1])
    assert fit.value == pytest.approx(LOR.kappa(), rel=1e-5)


def test_akaike_average_error_rule_by_hand():
    """The error of the Akaike average (docs/likelihood.md step 7): weights
    w_m = exp(-(AIC_m - AIC_min)/2) / sum, mean sum_m w_m v_m and the unconditional variance
    sum_m w_m [var_m + (v_m - mean)^2], checked on hand-built candidate sets against numbers
    worked out by hand, and on a real fit against its own model table."""
    # two models with equal AIC: w = (1/2, 1/2), mean 1, variance (1 + 2)/2 + (1 + 1)/2 = 2.5
    mean, var, w = lk._average(np.array([0.0, 2.0]), np.array([1.0, 2.0]), np.array([7.0, 7.0]))
    assert w == pytest.approx([0.5, 0.5], abs=1e-15)
    assert mean == pytest.approx(1.0, abs=1e-15)
    assert var == pytest.approx(2.5, rel=1e-14)
    # AIC 0, 2, 4: w proportional to (1, e^-1, e^-2); v = (0, 1, 3), var = (0.5, 1, 4)
    e1, e2 = np.exp(-1.0), np.exp(-2.0)
    z = 1.0 + e1 + e2
    m_hand = (0.0 + e1 * 1.0 + e2 * 3.0) / z
    v_hand = (0.5 + m_hand ** 2 + e1 * (1.0 + (1.0 - m_hand) ** 2)
              + e2 * (4.0 + (3.0 - m_hand) ** 2)) / z
    mean, var, w = lk._average(np.array([0.0, 1.0, 3.0]), np.array([0.5, 1.0, 4.0]),
                               np.array([100.0, 102.0, 104.0]))
    assert mean == pytest.approx(m_hand, rel=1e-14)
    assert var == pytest.approx(v_hand, rel=1e-14)
    # identical models: no spread, the variance is theirs; a model 200 AIC units worse adds
    # nothing (weight e^-100)
    mean, var, _ = lk._average(np.array([1.5, 1.5, 40.0]), np.array([0.3, 0.3, 9.0]),
                               np.array([3.0, 3.0, 203.0]))
    assert (mean, var) == (pytest.approx(1.5, rel=1e-14), pytest.approx(0.3, rel=1e-14))
    # a real fit: the reported log error is the rule applied to its own table of models
    fit = lk.likelihood_analysis(LOR.series(4096, 11), LOR.dt, matrix=False).reduced
    t = fit.models
    wt = np.exp(-0.5 * (t[:, 4] - t[:, 4].min()))
    wt /= wt.sum()
    assert t[:, 5] == pytest.approx(wt, rel=1e-12, abs=1e-300)
    mt = wt @ t[:, 6]
    assert fit.log_value == pytest.approx(mt + np.log(0.5), rel=1e-12)
    assert fit.log_error ** 2 == pytest.approx(wt @ (t[:, 7] + (t[:, 6] - mt) ** 2), rel=1e-12)
    assert np.unique(t[:, 3]).size > 3            # several cutoffs do enter the average


def _three_species(seed: int = 4, n: int = 8192) -> np.ndarray:
    """J0 and three mass fluxes summing to zero (momentum conservation), from a 3-flux OU."""
    a3 = np.array([[1.0, 0.2, 0.1], [0.2, 0.6, 0.0], [0.1, 0.0, 0.8]])
    b3 = np.array([[1.0, 0.0, 0.0], [0.6, 0.5, 0.0], [0.3, 0.2, 0.6]])
    from ou import ou_series
    x = ou_series(a3, b3, 0.1, n, seed)
    j1, j2 = x[:, 1], x[:, 2]
    return np.stack([x[:, 0], j1, j2, -(j1 + j2)], axis=1)


def test_kappa_gauge_invariant():
    x = _three_species()[:, :3]
    ref = lk.likelihood_analysis(x, 0.1)
    y = x.copy()
    y[:, 0] += 37.0 * x[:, 1] - 12.5 * x[:, 2]         # site-energy shifts: J0 + sum a_s J_s
    got = lk.likelihood_analysis(y, 0.1)
    assert got.kappa == pytest.approx(ref.kappa, rel=1e-10, abs=0)
    assert got.kappa_error == pytest.approx(ref.kappa_error, rel=1e-10, abs=0)
    assert got.L[0, 0] > 10 * ref.L[0, 0]               # ... while L00 moves a lot


def test_kappa_invariant_to_dropped_species_and_mass_flux_units():
    x = _three_species()
    ref = lk.likelihood_analysis(x[:, [0, 1, 2]], 0.1, matrix=False)
    for cols in ([0, 1, 3], [0, 2, 3]):                 # drop species 3, 2 or 1
        got = lk.likelihood_analysis(x[:, cols], 0.1, matrix=False)
        assert got.kappa == pytest.approx(ref.kappa, rel=1e-10, abs=0)
        assert got.kappa_error == pytest.approx(ref.kappa_error, rel=1e-10, abs=0)
    y = x[:, [0, 1, 2]].copy()
    y[:, 1] *= 1e-3                                     # e.g. a velocity instead of a mass flux
    y[:, 2] *= 250.0
    got = lk.likelihood_analysis(y, 0.1, matrix=False)
    assert got.kappa == pytest.approx(ref.kappa, rel=1e-10, abs=0)


# ------------------------------------------------------------------ chi-square dof rule

def _white_ratios(k: int, seed: int, periodogram) -> tuple[np.ndarray, np.ndarray]:
    """300 white Gaussian series (256 samples, 3 directions, covariance C[:k, :k]): the ratio
    periodogram(mat, last_real) / S_red over the inner bins and over the f = 0 and Nyquist
    bins, with S(f) = dt C and S_red = dt / (C^-1)_00."""
    rng = np.random.default_rng(seed)
    c = np.array([[2.0, 0.8, 0.3], [0.8, 1.0, 0.2], [0.3, 0.2, 1.5]])[:k, :k]
    chol = np.linalg.cholesky(c)
    dt, n, reps = 0.5, 256, 300
    s_red = dt / np.linalg.inv(c)[0, 0]
    inner, ends = [], []
    for _ in range(reps):
        x = np.einsum("ij,njd->nid", chol, rng.standard_normal((n, k, 3)))
        _, mat, last_real = lk.low_frequency_periodogram(x, dt)
        assert last_real
        r = periodogram(mat, last_real) / s_red
        inner.append(r[1:-1])
        ends.extend([r[0], r[-1]])
    return np.concatenate(inner), np.asarray(ends)


def _assert_chi2_over_n(vals: np.ndarray, dof: int) -> None:
    """vals are chi^2_dof / dof: mean 1 and variance 2/dof, each within 4 sampling errors."""
    se = np.sqrt(2.0 / dof / vals.size)
    assert abs(vals.mean() - 1.0) < 4 * se, (vals.mean() - 1.0) / se
    # the sampling error of the variance from the 4th central moment of chi^2_n / n
    var = vals.var(ddof=1)
    m4 = 12.0 / dof ** 2 + 48.0 / dof ** 3
    assert abs(var - 2.0 / dof) < 4 * np.sqrt((m4 - (2.0 / dof) ** 2) / vals.size), var * dof / 2


@pytest.mark.parametrize("k", [1, 2, 3])
def test_reduced_periodogram_chi2_dof(k):
    """White Gaussian fluxes with covariance C (3 directions): S(f) = dt C, S_red = dt / (C^-1)_00.
    y/S_red is chi^2_n / n with n = 2 (3 - k + 1) inside the band, n = 3 - k + 1 at f = 0 and
    Nyquist: mean 1, variance 2/n (moments of chi^2 written by hand)."""
    inner, ends = _white_ratios(k, k, lambda mat, _: lk.reduced_from_matrix(mat, 3))
    nu = 3 - k + 1
    _assert_chi2_over_n(inner, 2 * nu)
    _assert_chi2_over_n(ends, nu)
    np.testing.assert_array_equal(lk.bin_dof(5, nu, True), [nu, 2 * nu, 2 * nu, 2 * nu, nu])


@pytest.mark.parametrize("k", [2, 3])
def test_residual_periodogram_keeps_the_plain_dof(k):
    """The smooth-coupling residual of the same kind of white fluxes: y/S_red has mean 1 and
    the variance of chi^2_n/n with the dof of a plain bin, n = 2 l = 6 inside the band and
    n = 3 at f = 0 and Nyquist, whatever k (the reduced periodogram has 2 (l - k + 1)): the
    coupling costs no dof.  Exact beta is constant here, so this checks the leave-own-bin-out
    regression and its excess correction c_j, not the smoothing bias."""
    def residual(mat, last_real):
        r, dof = lk.residual_periodogram(mat, 3, last_real)
        np.testing.assert_array_equal(dof, lk.bin_dof(mat.shape[0], 3, True))
        return r

    inner, ends = _white_ratios(k, 10 + k, residual)
    _assert_chi2_over_n(inner, 6)
    _assert_chi2_over_n(ends, 3)


def test_residual_periodogram_gauge_invariant_bin_by_bin():
    """J0 -> J0 + a.J and any invertible real mixing of the mass fluxes (another dropped
    species, other units) leave every bin of the residual periodogram unchanged to round-off."""
    x = _three_species()
    _, mat, last_real = lk.low_frequency_periodogram(x[:, :3], 0.1)
    ref, _ = lk.residual_periodogram(mat, 3, last_real)
    y = x[:, :3].copy()
    y[:, 0] += 37.0 * x[:, 1] - 12.5 * x[:, 2]
    y[:, 1:] = np.einsum("ab,nbd->nad", np.array([[2.0, -0.7], [0.4, 1e-3]]), x[:, 1:3])
    _, mat2, _ = lk.low_frequency_periodogram(y, 0.1)
    got, _ = lk.residual_periodogram(mat2, 3, last_real)
    # round-off of the cancellation in I_00 - I_0r I_rr^-1 I_r0 after the large shift: worst
    # bin 2.9e-10 here (the reduced periodogram's own worst bin moves by 5.6e-9); kappa, a
    # fit over many bins, holds 1e-10 (test_kappa_gauge_invariant)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)


def test_smooth_coupling_lowers_the_error_at_equal_length():
    """Same 10 Lorentzian series of 2e4 samples (l = 3, k = 2): fitting the residual (6 dof
    per bin) instead of the reduced periodogram (4 dof) gives stated errors ~sqrt(4/6) = 0.82
    as large; required: mean ratio <= 0.9, and both calibrated (|mean z| <= 3/sqrt(10))."""
    exact = LOR.kappa()
    ratio, zs, zf = [], [], []
    for s in range(10):
        x = LOR.series(N_CAL, 500 + s)
        sm = lk.likelihood_analysis(x, LOR.dt, matrix=False)
        fr = lk.likelihood_analysis(x, LOR.dt, matrix=False, coupling="free")
        assert (sm.ndf, fr.ndf, sm.coupling, fr.coupling) == (6, 4, "smooth", "free")
        ratio.append(sm.kappa_error / fr.kappa_error)
        zs.append((sm.kappa - exact) / sm.kappa_error)
        zf.append((fr.kappa - exact) / fr.kappa_error)
    assert np.mean(ratio) <= 0.9, ratio
    assert abs(np.mean(zs)) <= 3 / np.sqrt(10) and abs(np.mean(zf)) <= 3 / np.sqrt(10)


# ------------------------------------------------------------------ bad input

def test_too_few_samples_is_a_clear_error():
    from pyonsager.errors import TooFewSamples
    with pytest.raises(TooFewSamples, match="at least 64 samples"):
        lk.likelihood_analysis(np.zeros((10, 2, 3)) + 1.0, 0.1)


def test_bad_input_errors():
    """User-fixable input raises pyonsager's InputError (a ValueError) naming the fix."""
    from pyonsager.errors import InputError
    x = LOR.series(2000, 1)
    with pytest.raises(InputError, match="NaN"):
        bad = x.copy()
        bad[5, 0, 0] = np.nan
        lk.likelihood_analysis(bad, 0.1)
    with pytest.raises(InputError, match="dt"):
        lk.likelihood_analysis(x, 0.0)
    dep = np.stack([x[:, 0], x[:, 1], 2.0 * x[:, 1]], axis=1)
    with pytest.raises(InputError, match="linearly dependent"):
        lk.likelihood_analysis(dep, 0.1)
    with pytest.raises(InputError, match="directions"):
        lk.likelihood_analysis(np.repeat(x[:, :, :1], 1, axis=2), 0.1)
    with pytest.raises(InputError, match="coupling must be one of smooth, free"):
        lk.likelihood_analysis(x, 0.1, coupling="banded")


# ------------------------------------------------------------------ analysis hook and plot

def test_analyze_estimator_likelihood(tmp_path):
    """pyonsager.analyze(..., estimator='likelihood'): the same kappa as the array function
    times the Green-Kubo prefactor f0^2 / (V k_B T^2) (independently from pyonsager.units)."""
    import pyonsager
    from pyonsager import units as U
    x = LOR.series(N_CAL, 77)
    T, V = 500.0, 1000.0
    res = pyonsager.analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], species=["A"],
                            mobile=["A"], dt=LOR.dt, temperature=T, volume=V, units="metal",
                            estimator="likelihood")
    raw = lk.likelihood_analysis(x, LOR.dt)
    pref = U.energy_flux("metal") ** 2 * U.time("metal") / (V * 1e-30 * U.K_B * T ** 2)
    assert res.estimator["name"] == "likelihood"
    assert res.kappa.value == pytest.approx(raw.kappa * pref, rel=1e-12)
    assert res.kappa.error == pytest.approx(raw.kappa_error * pref, rel=1e-12)
    assert res.L00.value == pytest.approx(raw.L[0, 0] * pref, rel=1e-12)
    assert res.L01 is not None and res.L11 is not None
    paths = res.write(str(tmp_path))
    assert any(p.endswith("likelihood_fit.png") for p in paths)


def test_cli_accepts_estimator_likelihood():
    from pyonsager.cli import analysis_options, build_parser
    args = build_parser().parse_args(["analyze", "fluxes.onsager", "--estimator", "likelihood"])
    assert analysis_options(args)["estimator"] == "likelihood"


def test_unknown_estimator_names_the_choices():
    import pyonsager
    x = LOR.series(4000, 2)
    with pytest.raises(ValueError, match="'likelihood'"):
        pyonsager.analyze(energy_flux=x[:, 0], mass_flux=[x[:, 1]], dt=LOR.dt, temperature=500.0,
                          volume=1000.0, units="metal", estimator="maximum")


def test_cramer_rao_of_harness_matches_two_parameter_lorentzian():
    """The harness' reduced-spectrum Cramer-Rao bound (7 generating parameters, numerical
    derivatives, pseudo-inverse) equals the closed-form bound of the two-parameter family
    S_red = 1/(alpha - beta cos w) that those parameters span (w = 2 pi f dt)."""
    n = 10_000
    f = np.arange(n // 2 + 1) / (n * LOR.dt)
    w = 2 * np.pi * f * LOR.dt
    inv = 1.0 / LOR.reduced_spectrum(f)
    beta, alpha = np.polyfit(-np.cos(w), inv, 1)
    s = 1.0 / (alpha - beta * np.cos(w))
    half_dof = np.full(f.size, 2.0)                    # n_j / 2 = l - k + 1 = 2 inside
    half_dof[[0, -1]] = 1.0                            # real bins
    g = np.stack([-s, s * np.cos(w)])                  # d log S / d(alpha, beta)
    fisher = (g * half_dof) @ g.T
    grad = np.array([-1.0, 1.0]) / (2.0 * (alpha - beta) ** 2)   # kappa = 1/(2(alpha-beta))
    bound = np.sqrt(grad @ np.linalg.solve(fisher, grad))
    assert LOR.cramer_rao(n, reduced=True) == pytest.approx(bound, rel=1e-4)
    assert LOR.cramer_rao(n) < bound                   # the full model knows more


def test_short_run_kept_by_the_drivers_policy_falls_back_to_green_kubo():
    """too_few="warn" (the drivers' recorded policy: a run already paid for is reported,
    flagged): below the likelihood fit's minimum of samples the result is Green-Kubo's, with a
    warning; with the strict policy an explicit likelihood request is refused."""
    import pyonsager
    from pyonsager.likelihood import MIN_SAMPLES

    rng = np.random.default_rng(7)
    j0 = rng.standard_normal((MIN_SAMPLES - 4, 3))
    kw = dict(energy_flux=j0, dt=0.01, temperature=500.0, volume=1000.0, units="metal",
              single_component=True, max_lag=0.05)
    lenient = pyonsager.analyze(estimator="likelihood", too_few="warn", **kw)
    gk = pyonsager.analyze(estimator="green-kubo", too_few="warn", **kw)
    assert lenient.kappa.value == gk.kappa.value and lenient.kappa.error == gk.kappa.error
    assert any("likelihood estimator needs at least" in w for w in lenient.warnings)
    with pytest.raises(ValueError):
        pyonsager.analyze(estimator="likelihood", too_few="error", **kw)
