"""Correlation functions and running integrals: small pure functions on arrays.

Convention (used everywhere in pyonsager): for series x, y sampled at n = 0..N-1,

    C_xy(k) = 1/(N - k) * sum_{n=k}^{N-1} x[n] y[n-k],      k = 0..max_lag,

i.e. the unbiased estimate of <x(t) y(0)> at lag t = k dt.  Note C_xy(k) = C_yx(-k), which in
general differs from C_yx(k).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import fft as _fft


def cross_correlation(x: np.ndarray, y: np.ndarray, max_lag: Optional[int] = None) -> np.ndarray:
    """Unbiased cross-correlation <x(t + k) y(t)> for k = 0..max_lag, by zero-padded FFT.

    Parameters
    ----------
    x, y: arrays of the same shape (N, ...); correlated along axis 0, element-wise over the
        remaining axes (e.g. the 3 Cartesian directions).
    max_lag: largest lag in samples (default N - 1).

    Returns
    -------
    (max_lag + 1, ...) array, C[k] = sum_{n=k}^{N-1} x[n] y[n-k] / (N - k).

    Zero padding to N + max_lag (not 2N) suffices: circular wrap-around only reaches lags
    beyond max_lag.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("empty series")
    m = n - 1 if max_lag is None else int(max_lag)
    if not 0 <= m < n:
        raise ValueError(f"max_lag must be in [0, {n - 1}], got {max_lag}")
    nfft = _fft.next_fast_len(n + m, real=True)
    fx = _fft.rfft(x, nfft, axis=0)
    fy = _fft.rfft(y, nfft, axis=0)
    c = _fft.irfft(fx * np.conj(fy), nfft, axis=0)[: m + 1]
    counts = (n - np.arange(m + 1)).reshape((-1,) + (1,) * (x.ndim - 1))
    return c / counts


def direct_cross_correlation(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """O(N max_lag) reference of :func:`cross_correlation` (for tests)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.shape[0]
    return np.stack([np.sum(x[k:] * y[: n - k], axis=0) / (n - k) for k in range(max_lag + 1)])


def correlation_matrix(series: np.ndarray, max_lag: int) -> np.ndarray:
    """All channel pairs of a (N, nch, ndim) series: C[d, i, j, k] = <X_i,d(t+k) X_j,d(t)>.

    Returns a (ndim, nch, nch, max_lag + 1) array (the layout of
    :meth:`pyonsager.correlator.OnlineCorrelator.result`).
    """
    s = np.asarray(series, dtype=float)
    n, nch, ndim = s.shape
    if not 0 <= max_lag < n:
        raise ValueError(f"max_lag must be in [0, {n - 1}], got {max_lag}")
    nfft = _fft.next_fast_len(n + max_lag, real=True)
    f = _fft.rfft(s, nfft, axis=0)                       # (nf, nch, ndim)
    prod = f[:, :, None, :] * np.conj(f[:, None, :, :])  # (nf, nch, nch, ndim)
    c = _fft.irfft(prod, nfft, axis=0)[: max_lag + 1]
    c /= (n - np.arange(max_lag + 1))[:, None, None, None]
    return np.ascontiguousarray(np.transpose(c, (3, 1, 2, 0)))


def running_integral(c: np.ndarray, dt: float, axis: int = -1) -> np.ndarray:
    """Cumulative trapezoid integral I(t_k) = dt * (c_0/2 + c_1 + ... + c_{k-1} + c_k/2), I(0) = 0.

    ``c`` sampled at t_k = k dt along ``axis``; the result has the same shape.
    """
    c = np.moveaxis(np.asarray(c, dtype=float), axis, -1)
    out = np.zeros_like(c)
    if c.shape[-1] > 1:
        out[..., 1:] = np.cumsum(0.5 * (c[..., 1:] + c[..., :-1]), axis=-1) * dt
    return np.moveaxis(out, -1, axis)
