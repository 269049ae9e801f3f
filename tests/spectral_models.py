"""Multi-current flux series with exactly known spectra, Onsager matrices and Cramer-Rao bounds.

Every model is a hidden (latent) Ornstein-Uhlenbeck process dZ = -A Z dt + B dW of m modes,
observed through a projection: the k fluxes are X = P Z (k x m), in ``ndim`` independent,
equivalent directions.  Sampled every dt it is exactly the vector AR(1) process

    Z_{n+1} = F Z_n + eta_n,   F = exp(-A dt),   <eta eta^T> = Q = Sigma - F Sigma F^T,

(Sigma the stationary covariance, A Sigma + Sigma A^T = B B^T), whose two-sided spectral
density, in the normalisation of the periodogram dt/N |sum_n x_n e^{-2 pi i f n dt}|^2, is

    S_X(f) = dt P H(f) Q H(f)^H P^T,   H(f) = (I - F e^{-2 pi i f dt})^-1.

The Onsager matrix of the *sampled* process is S_X(0)/2 = (dt/2) sum_n C(n dt) (the trapezoid
Green-Kubo integral of the sampled correlation, what every estimator on sampled data
targets); it differs from the continuous-time integral sym(P A^-1 Sigma P^T) by
O((rate dt)^2 / 12) (both are given).  kappa = Schur complement of that matrix.

Shapes (``MODELS``):
- ``lorentzian``: two currents, the 2-mode OU of tests/ou.py (rates 1.07, 0.43).  Its
  reduced spectrum is exactly one Lorentzian of the sampled process:
  1/S_red = alpha - beta cos(2 pi f dt).
- ``optical``: a diffusive relaxation (rate 0.4) and a fast one (rate 1.5) seen by both
  currents, and a damped oscillation at f = 1 (damping 0.3; a solid's optical peak) in the
  energy flux: the reduced spectrum has the peak on top of the Lorentzian tail.
- ``two_scales``: relaxations at rates 0.15 and 2.0 (plus a third at 0.8 in the mass flux):
  a narrow peak on a broad base in the reduced spectrum.
- ``molten_salt``: a liquid-like (molten NaCl) reduced spectrum, time in ps and f in THz,
  dt = 5 fs (Nyquist 100 THz): a low-frequency plateau (an overdamped Langevin mode,
  f0 = 2.5 THz, damping 5 THz), two broad peaks (5 and 9 THz, damping 3 and 4 THz) in the
  energy flux, a mass-flux mode of its own (3 THz, damping 6 THz), and a steep, nearly
  Gaussian fall: every mode is driven through a two-stage low-pass of 16 THz (smooth
  forces), so S ~ f^-8 above ~15 THz, 5e-9 of S(0) at Nyquist, like the real spectrum
  (falls by ~5 near 6 THz, by 10^4 near 25 THz).  Each mode is 4 latent coordinates
  (position, momentum, two filter stages): 16 in all.

Cramer-Rao bound (:meth:`SpectralModel.cramer_rao`): Fisher information of the Whittle
likelihood of the full k x k periodogram matrix (l directions) in the model's own parameters
theta (rates, frequencies, projection weights),

    F_ab = sum_j c_j tr(S^-1 dS/dtheta_a S^-1 dS/dtheta_b),  c_j = l (complex bins), l/2 (real),

over all bins f_j = j/(N dt), j = 0..N/2, propagated to kappa: var >= g^T F^+ g with
g = d kappa / d theta (pseudo-inverse: directions of theta that leave the spectrum unchanged,
e.g. a rotation of an oscillator's latent pair, carry no information and no kappa).  Also the
bound from the reduced periodogram alone (``reduced=True``: F_ab = sum_j (n_j/2)
dlog S_red/dtheta_a dlog S_red/dtheta_b), the best any estimator using only the reduced
spectrum (exactly gauge invariant) can do.  Derivatives by central differences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov

from ou import ou_series


def _osc(g: float, f: float) -> np.ndarray:
    w = 2 * np.pi * f
    return np.array([[g, w], [-w, g]])


@dataclass
class SpectralModel:
    """One spectral shape: ``build(theta) -> (A, B, P)``, the true theta, dt and directions."""

    name: str
    build: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    theta: np.ndarray
    dt: float
    ndim: int = 3

    # ------------------------------------------------------------------ exact quantities
    def matrices(self, theta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.build(self.theta if theta is None else np.asarray(theta, dtype=float))

    def spectrum(self, f: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Exact two-sided spectral density matrix S_X(f) of the sampled fluxes, (nf, k, k)."""
        A, B, P = self.matrices(theta)
        m = A.shape[0]
        sigma = solve_continuous_lyapunov(A, B @ B.T)
        sigma = 0.5 * (sigma + sigma.T)
        F = expm(-A * self.dt)
        Q = sigma - F @ sigma @ F.T
        Q = 0.5 * (Q + Q.T)
        z = np.exp(-2j * np.pi * np.asarray(f, dtype=float) * self.dt)
        M = np.eye(m)[None] - F[None] * z[:, None, None]
        # P H = (H^T P^T)^T with H^T P^T = solve(M^T, P^T)
        G = np.linalg.solve(np.swapaxes(M, 1, 2),
                            np.broadcast_to(P.T.astype(complex), (z.size,) + P.T.shape))
        return self.dt * np.einsum("fmi,mn,fnj->fij", G, Q, G.conj())

    def onsager(self, theta: np.ndarray | None = None) -> np.ndarray:
        """Onsager matrix of the sampled process, S_X(0)/2 (real symmetric k x k)."""
        s = self.spectrum(np.zeros(1), theta)[0].real
        return 0.25 * (s + s.T)

    def onsager_continuous(self) -> np.ndarray:
        """Continuous-time integral sym(P A^-1 Sigma P^T) (differs by O((rate dt)^2/12))."""
        A, B, P = self.matrices()
        sigma = solve_continuous_lyapunov(A, B @ B.T)
        i = P @ np.linalg.solve(A, 0.5 * (sigma + sigma.T)) @ P.T
        return 0.5 * (i + i.T)

    def kappa(self, theta: np.ndarray | None = None) -> float:
        L = self.onsager(theta)
        return float(L[0, 0] - L[0, 1:] @ np.linalg.solve(L[1:, 1:], L[1:, 0]))

    def reduced_spectrum(self, f: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """1/(S^-1)_00(f), real (nf,)."""
        s = self.spectrum(f, theta)
        return 1.0 / np.linalg.inv(s)[:, 0, 0].real

    # ------------------------------------------------------------------ data
    def series(self, n: int, seed: int) -> np.ndarray:
        """(n, k, ndim) exact sample of the fluxes (stationary from the first sample)."""
        A, B, P = self.matrices()
        z = ou_series(A, B, self.dt, n, seed, ndim=self.ndim)
        return np.einsum("km,nmd->nkd", P, z)

    # ------------------------------------------------------------------ Cramer-Rao
    def cramer_rao(self, n: int, reduced: bool = False, rel_step: float = 1e-5) -> float:
        """Cramer-Rao standard deviation of kappa for n samples (see the module docstring)."""
        f = np.arange(n // 2 + 1) / (n * self.dt)
        c = np.full(f.size, float(self.ndim))
        c[0] = 0.5 * self.ndim
        if n % 2 == 0:
            c[-1] = 0.5 * self.ndim
        th = self.theta.astype(float)
        k = self.matrices()[2].shape[0]
        nu = self.ndim - k + 1
        derivs, grad = [], []
        for a in range(th.size):
            h = rel_step * max(1.0, abs(th[a]))
            tp, tm = th.copy(), th.copy()
            tp[a] += h
            tm[a] -= h
            if reduced:
                derivs.append((np.log(self.reduced_spectrum(f, tp))
                               - np.log(self.reduced_spectrum(f, tm))) / (2 * h))
            else:
                derivs.append((self.spectrum(f, tp) - self.spectrum(f, tm)) / (2 * h))
            grad.append((self.kappa(tp) - self.kappa(tm)) / (2 * h))
        npar = th.size
        fisher = np.empty((npar, npar))
        if reduced:
            w = nu * c / self.ndim               # n_j / 2: nu (complex bins), nu/2 (real)
            for a in range(npar):
                for b in range(a, npar):
                    fisher[a, b] = fisher[b, a] = float(np.sum(w * derivs[a] * derivs[b]))
        else:
            sinv = np.linalg.inv(self.spectrum(f))
            ms = [sinv @ d for d in derivs]
            for a in range(npar):
                for b in range(a, npar):
                    tr = np.einsum("fij,fji->f", ms[a], ms[b]).real
                    fisher[a, b] = fisher[b, a] = float(np.sum(c * tr))
        g = np.asarray(grad)
        cov = np.linalg.pinv(fisher, rcond=1e-12, hermitian=True)
        return float(np.sqrt(g @ cov @ g))


# ------------------------------------------------------------------------------ the shapes

def _lorentzian(t: np.ndarray):
    A = np.array([[t[0], t[1]], [t[2], t[3]]])
    B = np.array([[t[4], 0.0], [t[5], t[6]]])
    return A, B, np.eye(2)


def _optical(t: np.ndarray):
    g1, go, fo, g3 = t[:4]
    A = np.zeros((4, 4))
    A[0, 0], A[3, 3] = g1, g3
    A[1:3, 1:3] = _osc(go, fo)
    B = np.diag([1.0, 2.0, 2.0, 1.5])
    # the energy flux sees the oscillation through one latent coordinate, the mass flux does
    # not see it: the peak survives in the reduced spectrum, and C_ab(t) = C_ba(t) holds
    P = np.array([[t[4], t[5], 0.0, t[6]], [t[7], 0.0, 0.0, t[8]]])
    return A, B, P


def _two_scales(t: np.ndarray):
    A = np.diag(t[:3])
    B = np.eye(3)
    P = np.array([[t[3], t[4], t[5]], [t[6], t[7], t[8]]])
    return A, B, P


def _filtered_langevin(f0: float, damping: float, f_filter: float) -> tuple[np.ndarray, float]:
    """Drift block of one Langevin mode (q, p) driven by coloured noise (xi1, xi2), and the
    noise amplitude on xi2.

    dq = p dt, dp = (-w0^2 q - g p + xi1) dt, dxi1 = r (xi2 - xi1) dt, dxi2 = -r xi2 dt + b dW
    with w0 = 2 pi f0, g = 2 pi damping, r = 2 pi f_filter; b = r w0 sqrt(2 g) makes the
    zero-frequency force density that of the white-noise mode of unit position variance.
    S_q(w) = b^2 r^2 / (|w0^2 - w^2 + i g w|^2 (w^2 + r^2)^2): falls as w^-8.
    """
    w0, g, r = 2 * np.pi * f0, 2 * np.pi * damping, 2 * np.pi * f_filter
    a = np.array([[0.0, -1.0, 0.0, 0.0], [w0 ** 2, g, -1.0, 0.0],
                  [0.0, 0.0, r, -r], [0.0, 0.0, 0.0, r]])
    return a, r * w0 * np.sqrt(2 * g)


def _molten_salt(t: np.ndarray):
    A, B = np.zeros((16, 16)), np.zeros((16, 16))
    for i in range(4):
        a, b = _filtered_langevin(t[2 * i], t[2 * i + 1], t[8])
        A[4 * i:4 * i + 4, 4 * i:4 * i + 4] = a
        B[4 * i + 3, 4 * i + 3] = b
    P = np.zeros((2, 16))
    P[0, [0, 4, 8]] = t[9:12]          # energy flux: plateau mode and the two peaks
    P[1, [0, 12]] = t[12:14]           # mass flux: plateau mode and its own mode
    return A, B, P


MODELS: dict[str, SpectralModel] = {
    "lorentzian": SpectralModel("lorentzian", _lorentzian,
                                np.array([1.0, 0.2, 0.2, 0.5, 1.0, 0.7, 0.5]), dt=0.1),
    "optical": SpectralModel("optical", _optical,
                             np.array([0.4, 0.3, 1.0, 1.5, 1.0, 0.5, 0.7, 0.6, 0.2]),
                             dt=0.05),
    "two_scales": SpectralModel("two_scales", _two_scales,
                                np.array([0.15, 2.0, 0.8, 0.3, 2.0, 0.5, 0.1, 0.4, 1.0]),
                                dt=0.1),
    "molten_salt": SpectralModel("molten_salt", _molten_salt,
                                 np.array([2.5, 5.0, 5.0, 3.0, 9.0, 4.0, 3.0, 6.0, 16.0,
                                           1.0, 0.7, 0.8, 0.6, 1.0]), dt=0.005),
}
