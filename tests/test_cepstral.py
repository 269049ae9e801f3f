"""Tests of the multicomponent cepstral estimator (pyonsager.cepstral) on synthetic data.

Ground truth: multivariate Ornstein-Uhlenbeck fluxes (tests/ou.py), for which the direction-
averaged Green-Kubo integral matrix is known in closed form; kappa is its Schur complement.
"""
from __future__ import annotations

import numpy as np
import pytest

from ou import ou_exact_integral, ou_series
from pyonsager import cepstral as cp

# drift/noise with real relaxation rates 1.07 and 0.43; kappa = 0.25, L00 = 0.330 (32 % apart)
A = np.array([[1.0, 0.2], [0.2, 0.5]])
B = np.array([[1.0, 0.0], [0.7, 0.5]])
DT = 0.1           # rate x dt <= 0.11: the sampled sum differs from the integral by 0.1 %
N = 16384
SEEDS = range(30)


def exact_values(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(kappa, L00): Schur complement and 00 element of the symmetrised exact integral."""
    i = ou_exact_integral(a, b)
    i = 0.5 * (i + i.T)
    rest = i[1:, 1:]
    return float(i[0, 0] - i[0, 1:] @ np.linalg.solve(rest, i[1:, 0])), float(i[0, 0])


@pytest.fixture(scope="module")
def ou_runs():
    return [cp.cepstral_analysis(ou_series(A, B, DT, N, seed), DT) for seed in SEEDS]


# ---------------------------------------------------------------- statistics (Done-when)

def _check_statistics(values, errors, exact):
    values, errors = np.asarray(values), np.asarray(errors)
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - exact) < 2 * se, (values.mean(), exact, se)
    z = (values - exact) / errors
    assert 0.7 < z.std(ddof=1) < 1.4, z.std(ddof=1)


def test_test_matrix_separates_kappa_from_l00():
    kappa, l00 = exact_values(A, B)
    assert 0.3 < l00 / kappa - 1 < 0.5


def test_kappa_unbiased_with_honest_errors(ou_runs):
    kappa, _ = exact_values(A, B)
    _check_statistics([r.kappa for r in ou_runs], [r.kappa_error for r in ou_runs], kappa)


def test_l00_unbiased_with_honest_errors(ou_runs):
    _, l00 = exact_values(A, B)
    _check_statistics([r.L00 for r in ou_runs], [r.L00_error for r in ou_runs], l00)


def _md_like():
    """Hidden 6-mode OU: a slow relaxation (the diffusive peak), a faster one, two damped
    oscillators at f = 3 and 6 (vibrational peaks); J0 sees all modes, J1 mostly the slow ones."""
    def osc(g, f):
        w = 2 * np.pi * f
        return np.array([[g, w], [-w, g]])
    a = np.zeros((6, 6))
    a[0, 0], a[1, 1] = 0.3, 1.5
    a[2:4, 2:4], a[4:6, 4:6] = osc(0.6, 3.0), osc(1.0, 6.0)
    b = np.diag([1.0, 1.0, 3.0, 3.0, 5.0, 5.0])
    b[1, 0] = 0.5
    p = np.array([[1.0, 1.0, 1.0, 0.5, 1.0, 0.3], [0.8, 0.3, 0.0, 0.1, 0.0, 0.05]])
    i = ou_exact_integral(a, b)
    j = p @ (0.5 * (i + i.T)) @ p.T
    return a, b, p, j[0, 0] - j[0, 1] ** 2 / j[1, 1], j[0, 0]


def test_md_like_spectrum_unbiased():
    """Sharp low-frequency peak plus vibrational peaks at f = 3 and 6: the automatic f* must
    cut them away (f* well below the first peak) and stay unbiased."""
    a, b, p, kappa, l00 = _md_like()
    dt, n = 0.02, 32768
    runs = [cp.cepstral_analysis(np.einsum("ij,njd->nid", p, ou_series(a, b, dt, n, s)), dt)
            for s in range(20)]
    assert max(r.fstar for r in runs) < 1.5                        # first peak at f = 3
    k = np.array([r.kappa for r in runs])
    assert abs(k.mean() - kappa) < 2.5 * k.std(ddof=1) / np.sqrt(k.size)
    z = (k - kappa) / np.array([r.kappa_error for r in runs])
    assert 0.6 < z.std(ddof=1) < 1.4


# ---------------------------------------------------------------- exact identities

def _three_flux_series(seed=3):
    a3 = np.array([[1.0, 0.2, 0.1], [0.2, 0.6, 0.0], [0.1, 0.0, 0.8]])
    b3 = np.array([[1.0, 0.0, 0.0], [0.6, 0.5, 0.0], [0.3, 0.2, 0.6]])
    return ou_series(a3, b3, DT, 8192, seed)


@pytest.mark.parametrize("make", [lambda: ou_series(A, B, DT, N, 7), _three_flux_series])
def test_kappa_gauge_invariant(make):
    x = make()
    ref = cp.cepstral_analysis(x, DT)
    y = x.copy()
    shifts = [37.0, -12.5][: x.shape[1] - 1]          # J0 -> J0 + sum_s a_s J_s, large shifts
    for s, a_s in enumerate(shifts, start=1):
        y[:, 0] += a_s * x[:, s]
    got = cp.cepstral_analysis(y, DT)
    assert got.fstar == ref.fstar and got.pstar == ref.pstar
    assert got.kappa == pytest.approx(ref.kappa, rel=1e-10, abs=0)
    assert got.kappa_error == pytest.approx(ref.kappa_error, rel=1e-10, abs=0)
    assert got.L00 > 10 * ref.L00                      # ... while L00 moves a lot


def test_kappa_invariant_under_rescaling_and_mixing_of_mass_fluxes():
    x = _three_flux_series()
    ref = cp.cepstral_analysis(x, DT)
    y = x.copy()
    y[:, 1] = 1e-3 * x[:, 1]                           # e.g. a velocity instead of a mass flux
    y[:, 2] = 250.0 * x[:, 2] + 4.0 * x[:, 1]          # any basis of the mass-flux span
    got = cp.cepstral_analysis(y, DT)
    assert got.kappa == pytest.approx(ref.kappa, rel=1e-10, abs=0)
    assert got.L00 == ref.L00                          # channel 0 untouched


def test_fused_spectra_equal_matrix_route():
    x = _three_flux_series()
    f, mat = cp.periodogram(x, DT)
    red, plain = cp._fused_spectra(x, DT)
    np.testing.assert_allclose(red, cp.reduced_periodogram(mat, 3), rtol=1e-9)  # Schur cancellation
    np.testing.assert_allclose(plain, mat[:, 0, 0].real, rtol=1e-12)
    assert f[1] == pytest.approx(1.0 / (x.shape[0] * DT))


def test_periodogram_zero_frequency_and_parseval():
    x = np.random.default_rng(0).standard_normal((1000, 2, 3))
    f, mat = cp.periodogram(x, 0.5)
    # I(0) = dt/(N l) sum_d (sum_n x)^2
    assert mat[0, 0, 0].real == pytest.approx(0.5 / 3000 * np.sum(x[:, 0].sum(axis=0) ** 2))
    # two-sided Parseval: sum over all N bins of I = dt * sum x^2 / l
    two_sided = mat[0, 0, 0].real + 2 * mat[1:-1, 0, 0].real.sum() + mat[-1, 0, 0].real
    assert two_sided == pytest.approx(0.5 * np.sum(x[:, 0] ** 2) / 3)


def test_block_average_keeps_zero_frequency_bin():
    x = np.random.default_rng(1).standard_normal((6000, 2, 3))
    y, dty, q = cp.resample(x, 0.1, 0.5 / (0.1 * 6))
    assert q == 6 and dty == pytest.approx(0.6) and y.shape == (1000, 2, 3)
    _, m_x = cp.periodogram(x, 0.1)
    _, m_y = cp.periodogram(y, dty)
    np.testing.assert_allclose(m_y[0], m_x[0], rtol=1e-12)


def test_cosine_transform_round_trip_and_variances():
    rng = np.random.default_rng(2)
    m = 40
    log_s = rng.standard_normal(m + 1)
    c = cp.cepstral_coefficients(log_s)
    np.testing.assert_allclose(cp.cepstral_log_spectrum(c, m + 1), log_s, atol=1e-12)
    # L*_0(P) = sum_j w_j L_j: brute-force weights against the closed-form variance
    var_bins = cp.log_variance(cp.bin_ndf(m + 1, 2, last_is_real=True))
    eye = np.eye(m + 1)
    closed = cp.log_zero_frequency_variance(var_bins)
    coef_var = cp.cepstral_coefficient_variance(var_bins)
    rows = np.array([cp.cepstral_coefficients(e) for e in eye])      # rows[j, n] = dC_n/dL_j
    np.testing.assert_allclose((rows ** 2 * var_bins[:, None]).sum(0), coef_var, rtol=1e-12)
    for p in (1, 2, 7, m, m + 1):
        w = np.array([cp.log_zero_frequency(cp.cepstral_coefficients(e), p) for e in eye])
        assert closed[p - 1] == pytest.approx(np.sum(w * w * var_bins), rel=1e-12)
        assert cp.log_zero_frequency_all(c)[p - 1] == pytest.approx(cp.log_zero_frequency(c, p))


def test_log_chi_square_moments():
    rng = np.random.default_rng(3)
    for ndf in (1, 2, 4, 6):
        sample = np.log(rng.chisquare(ndf, 400_000) / ndf)
        assert sample.mean() == pytest.approx(cp.log_bias(ndf), abs=0.01)
        assert sample.var() == pytest.approx(cp.log_variance(ndf), rel=0.02)


def test_reduced_periodogram_is_unbiased_wishart():
    """E[reduced] = Schur complement of the true spectrum, with 2(l-k+1) degrees of freedom."""
    rng = np.random.default_rng(4)
    cov = np.array([[2.0, 0.9, 0.3], [0.9, 1.0, 0.2], [0.3, 0.2, 0.7]])
    true = cov[0, 0] - cov[0, 1:] @ np.linalg.solve(cov[1:, 1:], cov[1:, 0])
    chol = np.linalg.cholesky(cov)
    z = (rng.standard_normal((200_000, 3, 3)) + 1j * rng.standard_normal((200_000, 3, 3)))
    xs = np.einsum("ab,fbd->fad", chol, z) / np.sqrt(2)               # complex Gaussian
    mat = np.einsum("fad,fbd->fab", xs, xs.conj()) / 3
    red = cp.reduced_periodogram(mat, 3) / true
    assert red.mean() == pytest.approx(1.0, abs=0.01)
    assert np.log(red).var() == pytest.approx(cp.log_variance(2 * (3 - 3 + 1)), rel=0.03)


def test_aic_pstar_matches_definition():
    rng = np.random.default_rng(5)
    c = np.concatenate([[1.0, 0.5, -0.3, 0.2], 0.01 * rng.standard_normal(60)])
    var = np.full(c.size, 1e-4)
    p, aic = cp.aic_pstar(c, var)
    brute = [np.sum(c[q:] ** 2 / var[q:]) + 2 * q for q in range(1, c.size + 1)]
    np.testing.assert_allclose(aic, brute)
    assert p == int(np.argmin(brute)) + 1


def test_result_fields_consistent(ou_runs):
    r = ou_runs[0]
    assert np.exp(r.cepstral_fit[0]) == pytest.approx(r.kappa_pstar, rel=1e-12)
    assert r.frequencies[-1] == pytest.approx(r.fstar)
    assert r.frequencies.shape == r.reduced_periodogram.shape == r.cepstral_fit.shape
    assert r.aic.shape == r.frequencies.shape and np.argmin(r.aic) + 1 == r.pstar
    assert r.ndf == 4 and r.ndf_L00 == 6
    assert "f*" in r.fstar_rule


def test_user_fstar_and_pstar():
    x = ou_series(A, B, DT, N, 11)
    r = cp.cepstral_analysis(x, DT, fstar=0.25, pstar=3)
    assert r.fstar == pytest.approx(0.25) and r.pstar == 3
    assert r.kappa == r.kappa_pstar and r.fstar_L00 == r.fstar


def test_single_flux_is_plain_cepstral():
    x = ou_series(A, B, DT, N, 12)[:, :1]
    r = cp.cepstral_analysis(x, DT)
    assert r.kappa == pytest.approx(r.L00, rel=1e-12) and r.ndf == 6


@pytest.mark.parametrize("bad, match", [
    (lambda x: x[:100], "at least"),
    (lambda x: np.where(np.arange(x.shape[0])[:, None, None] == 5, np.nan, x), "NaN"),
    (lambda x: np.concatenate([x, x[:, 1:2]], axis=1), "dependent"),
    (lambda x: np.concatenate([x, x[:, 1:], x[:, 1:]], axis=1), "directions"),
])
def test_bad_input(bad, match):
    x = ou_series(A, B, DT, 2048, 13)
    with pytest.raises(ValueError, match=match):
        cp.cepstral_analysis(bad(x), DT)


# ---------------------------------------------------------------- per-bin degrees of freedom

#: by hand: a real series of length N has real DFT bins at f = 0 and f = N/2 (one real Gaussian
#: per direction: chi^2 with 1 dof each) and complex bins in between (2 dof each); averaging l
#: directions and reducing k channels leaves nu = l - k + 1 samples per bin (Wishart)
TRIGAMMA_3_2 = np.pi ** 2 / 2 - 4           # psi_1(3/2): variance of log(chi^2_3 / 3)
TRIGAMMA_3 = np.pi ** 2 / 6 - 1 - 1 / 4     # psi_1(3):   variance of log(chi^2_6 / 6)
DIGAMMA_3_2 = 2 - np.euler_gamma - 2 * np.log(2)   # psi(3/2)


@pytest.mark.parametrize("k, nu", [(1, 3), (2, 2), (3, 1)])
def test_bin_degrees_of_freedom_by_hand(k, nu):
    ndir = 3
    assert nu == ndir - k + 1
    even = cp.bin_ndf(9, ndir - k + 1, last_is_real=True)      # N = 16: bins 0..8, 8 real
    np.testing.assert_array_equal(even, [nu] + [2 * nu] * 7 + [nu])
    odd = cp.bin_ndf(9, ndir - k + 1, last_is_real=False)      # N = 17: bin 8 is complex
    np.testing.assert_array_equal(odd, [nu] + [2 * nu] * 8)


def test_zero_frequency_bin_statistics_of_a_real_series():
    """Monte Carlo on white noise: bin 0 of the 3-direction periodogram is chi^2_3/3, an
    interior bin chi^2_6/6 (hand-written trigamma/digamma values), and the estimator's
    bias and variance of the log-periodogram at bin 0 are those of 3 dof, not 6."""
    rng = np.random.default_rng(21)
    n, reps, dt = 64, 20000, 0.5
    x = rng.standard_normal((reps, n, 1, 3))                       # S(f) = dt for unit variance
    spec = np.fft.rfft(x[:, :, 0, :], axis=1)                      # (reps, nf, 3)
    i = (np.abs(spec) ** 2).mean(axis=-1) * dt / n / dt            # I(f) / S(f)
    f_check, mat = cp.periodogram(x[0], dt)
    np.testing.assert_allclose(mat[:, 0, 0].real / dt, i[0], rtol=1e-12)
    log0, log_mid = np.log(i[:, 0]), np.log(i[:, n // 4])
    assert log0.var() == pytest.approx(TRIGAMMA_3_2, rel=0.03)
    assert log_mid.var() == pytest.approx(TRIGAMMA_3, rel=0.03)
    assert log0.mean() == pytest.approx(DIGAMMA_3_2 - np.log(1.5), abs=0.02)
    ndf = cp.bin_ndf(n // 2 + 1, 3, last_is_real=True)
    assert cp.log_variance(ndf)[0] == pytest.approx(TRIGAMMA_3_2, rel=1e-12)
    assert cp.log_bias(ndf)[0] == pytest.approx(DIGAMMA_3_2 - np.log(1.5), rel=1e-12)
    assert cp.log_variance(ndf)[1] == pytest.approx(TRIGAMMA_3, rel=1e-12)


def test_fstar_above_nyquist_is_an_error():
    x = ou_series(A, B, DT, 4096, 14)
    with pytest.raises(ValueError, match="above the Nyquist frequency"):
        cp.cepstral_analysis(x, DT, fstar=1.01 * 0.5 / DT)
    r = cp.cepstral_analysis(x, DT, fstar=0.5 / DT)               # exactly Nyquist is allowed
    assert r.fstar == pytest.approx(0.5 / DT)


def test_one_coefficient_estimate_by_hand():
    """P* = 1 at f* = Nyquist: log kappa = C_0, the mean of the bias-corrected log-periodogram
    over its 2M-periodic extension, with the per-bin bias and variance written by hand
    (real bins 0 and M: chi^2_3/3; complex bins: chi^2_6/6; one flux, three directions)."""
    n = 4096
    x = ou_series(A, B, DT, n, 15)[:, :1]
    r = cp.cepstral_analysis(x, DT, fstar=0.5 / DT, pstar=1)
    m = n // 2
    s = r.reduced_periodogram
    assert s.size == m + 1
    bias_real = DIGAMMA_3_2 - np.log(1.5)                  # psi(3/2) - log(3/2)
    bias_complex = (1.5 - np.euler_gamma) - np.log(3.0)    # psi(3) - log(3)
    log_s = np.log(s) - bias_complex
    log_s[[0, m]] = np.log(s[[0, m]]) - bias_real
    c0 = (log_s[0] + log_s[m] + 2 * log_s[1:m].sum()) / (2 * m)
    assert np.log(r.kappa) == pytest.approx(c0, rel=1e-12, abs=1e-12)
    var = (2 * TRIGAMMA_3_2 + 4 * (m - 1) * TRIGAMMA_3) / (2 * m) ** 2
    assert r.kappa_error == pytest.approx(r.kappa * np.sqrt(var), rel=1e-10)
