"""Synthetic multivariate Ornstein-Uhlenbeck fluxes with a closed-form Green-Kubo integral.

The process ``dX = -A X dt + B dW`` (k channels, independent copies for each of ``ndim``
Cartesian directions) has, in the stationary state,

    C(t) = <X(t) X(0)^T> = exp(-A t) Sigma          (t >= 0)
    A Sigma + Sigma A^T = B B^T                     (Lyapunov equation)
    integral_0^inf C(t) dt = A^-1 Sigma

``ou_series`` samples it exactly (AR(1) discretisation, no time-step error):

    X_{n+1} = F X_n + eta_n,  F = exp(-A dt),  <eta eta^T> = Sigma - F Sigma F^T

starting from the stationary distribution, so there is no transient.  Used as the ground truth
of the Green-Kubo and cepstral estimators.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov


def ou_covariance(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Stationary covariance Sigma solving A Sigma + Sigma A^T = B B^T, shape (k, k)."""
    A = np.atleast_2d(np.asarray(A, dtype=float))
    B = np.atleast_2d(np.asarray(B, dtype=float))
    sigma = solve_continuous_lyapunov(A, B @ B.T)
    return 0.5 * (sigma + sigma.T)


def ou_exact_integral(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Exact integral_0^inf <X(t) X(0)^T> dt = A^-1 Sigma, shape (k, k).

    Entry (i, j) is integral_0^inf <X_i(t) X_j(0)> dt for one Cartesian direction (all
    directions are identical and independent), in (flux unit)^2 x (time unit of dt).
    The Green-Kubo transport matrix uses its symmetric part, which for a symmetric A is
    the matrix itself.
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    return np.linalg.solve(A, ou_covariance(A, B))


def ou_exact_correlation(A: np.ndarray, B: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exact C(t) = exp(-A t) Sigma for each t, shape (len(t), k, k)."""
    A = np.atleast_2d(np.asarray(A, dtype=float))
    sigma = ou_covariance(A, B)
    return np.stack([expm(-A * ti) @ sigma for ti in np.atleast_1d(t)])


def ou_series(A: np.ndarray, B: np.ndarray, dt: float, n: int, seed: int,
              ndim: int = 3) -> np.ndarray:
    """Sample n steps of the k-channel OU process, ``ndim`` independent directions.

    Parameters
    ----------
    A: (k, k) drift matrix (eigenvalues with positive real part); 1/eig = correlation times.
    B: (k, k) noise matrix.
    dt: time between samples (same time unit as 1/A).
    n: number of samples.
    seed: seed of numpy's default_rng.
    ndim: number of independent Cartesian directions.

    Returns
    -------
    (n, k, ndim) float64 array, stationary from the first sample.
    """
    A = np.atleast_2d(np.asarray(A, dtype=float))
    k = A.shape[0]
    rng = np.random.default_rng(seed)
    sigma = ou_covariance(A, B)
    F = expm(-A * dt)
    q = sigma - F @ sigma @ F.T
    q = 0.5 * (q + q.T)
    Lq = np.linalg.cholesky(q + 1e-300 * np.eye(k))
    Ls = np.linalg.cholesky(sigma)
    # noise for all steps and directions at once; the recursion itself is a short loop over n
    # done with scipy's IIR filter when k == 1, else a vectorised loop over time
    eta = Lq @ rng.standard_normal((n, k, ndim))
    x = np.empty((n, k, ndim))
    x[0] = Ls @ rng.standard_normal((k, ndim))
    # the recursion runs in the eigenbasis of F, where it is k independent scalar AR(1)
    # filters (scipy's lfilter, C speed); falls back to a Python loop for defective F
    w, V = np.linalg.eig(F)
    if np.linalg.cond(V) < 1e8:
        from scipy.signal import lfilter
        Vinv = np.linalg.inv(V)
        drive = Vinv @ eta
        drive[0] = Vinv @ x[0]
        y = np.empty_like(drive)
        for i in range(k):
            y[:, i, :] = lfilter([1.0], [1.0, -w[i]], drive[:, i, :], axis=0)
        return np.ascontiguousarray((V @ y).real)
    for i in range(1, n):
        x[i] = F @ x[i - 1] + eta[i]
    return x
