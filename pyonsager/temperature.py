"""Sampled-temperature statistics and the NVE energy correction (shared by the LAMMPS and ASE
drivers; pure numpy, no MD engine).

Definitions used in ``onsager.yaml`` by both drivers:

- ``temperature_mean``: <T> = (1/n) sum_k T_k over the n flux samples (K), with ``error`` the
  standard error of that mean from blocking (:func:`blocked_standard_error`), because
  consecutive samples are correlated;
- ``temperature_fluctuation``: the *sample* standard deviation
  s_T = sqrt( sum_k (T_k - <T>)^2 / (n - 1) ) (K), i.e. the instantaneous kinetic-temperature
  spread, not an error bar.

Energy correction (:func:`kinetic_target`): after NVT equilibration the thermostat is removed
and the total energy E is whatever it was at that instant, so the NVE mean temperature misses
the request by O(T sqrt(2/(3N))).  Raising the kinetic temperature instantly by delta (velocity
rescaling) adds dE = (f/2) k_B delta with f the kinetic degrees of freedom; the mean T of the
NVE trajectory then changes by dT = dE / C, C the heat capacity.  Writing C = gamma (f/2) k_B,
the kick that moves <T> from T_mean to T_target is delta = gamma (T_target - T_mean);
gamma = 2 for a harmonic solid (Dulong-Petit, C = 3 N k_B: half the energy goes into the
potential), larger for anharmonic solids, liquids and superionics.  The driver starts from
gamma = 2 and refines it from its own measurements (secant), see :func:`secant_gamma`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from .errors import ConfigError

#: the harmonic (Dulong-Petit) value of gamma = C / ((f/2) k_B)
GAMMA_HARMONIC = 2.0
#: secant estimates of gamma outside this range are noise, not physics (keep the last one)
GAMMA_RANGE = (1.0, 6.0)
#: fewest block means the standard error is estimated from
MIN_BLOCKS = 16


class RunningMoments:
    """Count, mean and M2 = sum (x - mean)^2 of a scalar, updated by batches (Chan et al.),
    exact to round-off whatever the batch sizes."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray) -> None:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        nb = x.size
        if nb == 0:
            return
        mb = float(x.mean())
        m2b = float(((x - mb) ** 2).sum())
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n

    @property
    def std(self) -> float:
        """Sample standard deviation sqrt(M2 / (n - 1)); nan for n < 2."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else float("nan")

    def state(self) -> np.ndarray:
        return np.array([self.n, self.mean, self.m2])

    def load(self, a: np.ndarray) -> None:
        self.n, self.mean, self.m2 = int(a[0]), float(a[1]), float(a[2])


class BlockMeans:
    """Means of consecutive blocks of ``size`` samples (the raw material of the blocking
    error of a mean); samples of an unfinished block wait in ``pending``."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"block size must be >= 1, got {size}")
        self.size = int(size)
        self.means: list[float] = []
        self.pending_sum = 0.0
        self.pending_n = 0

    def add(self, x: np.ndarray) -> None:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        i = 0
        while i < x.size:
            take = min(self.size - self.pending_n, x.size - i)
            self.pending_sum += float(x[i:i + take].sum())
            self.pending_n += take
            i += take
            if self.pending_n == self.size:
                self.means.append(self.pending_sum / self.size)
                self.pending_sum, self.pending_n = 0.0, 0

    def standard_error(self) -> float:
        return blocked_standard_error(np.asarray(self.means))

    def state(self) -> np.ndarray:
        return np.array([self.size, self.pending_sum, self.pending_n, *self.means])

    def load(self, a: np.ndarray) -> None:
        a = np.asarray(a, dtype=float)
        self.size, self.pending_sum, self.pending_n = int(a[0]), float(a[1]), int(a[2])
        self.means = [float(v) for v in a[3:]]


def blocked_standard_error(block_means: Sequence[float], min_blocks: int = MIN_BLOCKS) -> float:
    """Standard error of the mean of a correlated series from its block means (K for T).

    Flyvbjerg-Petersen blocking: the block means are averaged in pairs repeatedly; at each
    level with m >= ``min_blocks`` blocks, SE = s_m / sqrt(m) (s_m the sample standard
    deviation of the m block means).  SE grows with the block length until the blocks are
    longer than the correlation time and then stays flat; the largest value over the levels
    is returned (the plateau, erring on the safe side).  nan with fewer than ``min_blocks``.
    """
    b = np.asarray(block_means, dtype=float)
    best = float("nan")
    while b.size >= min_blocks:
        se = float(np.std(b, ddof=1) / math.sqrt(b.size))
        best = se if not np.isfinite(best) else max(best, se)
        m = b.size // 2
        b = 0.5 * (b[0:2 * m:2] + b[1:2 * m:2])
    return best


def kinetic_target(t_inst: float, t_mean: float, t_target: float, gamma: float) -> float:
    """Kinetic temperature to rescale the velocities to (K): t_inst + gamma (t_target - t_mean).

    t_inst: instantaneous kinetic temperature now; t_mean: NVE mean T just measured; gamma:
    C / ((f/2) k_B) (module docstring).  Refuses a target <= 0 (a request far below the
    measured T with a tiny kinetic energy: equilibrate longer instead).
    """
    new = t_inst + gamma * (t_target - t_mean)
    if not new > 0:
        raise ConfigError(f"energy correction would need a kinetic temperature {new:.4g} K "
                          f"(instantaneous {t_inst:.4g} K, mean {t_mean:.4g} K, target "
                          f"{t_target:.4g} K): equilibrate longer with the thermostat")
    return new


def shrinkage(deviation: float, error: float) -> float:
    """w = d^2 / (d^2 + e^2): the weight of a measured deviation d with standard error e
    (Wiener shrinkage), so that a correction driven mostly by noise is made small."""
    d2 = deviation * deviation
    e2 = error * error if np.isfinite(error) else 0.0
    return d2 / (d2 + e2) if d2 + e2 > 0 else 0.0


def secant_gamma(kick: float, t_mean_before: float, t_mean_after: float, noise: float,
                 previous: float) -> float:
    """gamma measured from one kick: (kick, K of kinetic temperature) / (change of the mean T).

    Kept only when the change of the mean is well above its noise (3 x ``noise``, the
    combined standard error of the two means) and inside :data:`GAMMA_RANGE`; otherwise
    ``previous`` is returned.
    """
    dt = t_mean_after - t_mean_before
    if abs(kick) == 0 or not np.isfinite(noise) or abs(dt) <= 3.0 * noise:
        return previous
    g = kick / dt
    return g if GAMMA_RANGE[0] <= g <= GAMMA_RANGE[1] else previous


def format_temperature(mean: float, error: Optional[float], requested: Optional[float]) -> str:
    """``T = 549.8 +/- 0.4 K (requested 550 K, -0.04 %)`` for the drivers' summaries."""
    text = f"T = {mean:.5g}"
    if error is not None and np.isfinite(error):
        text += f" +/- {error:.2g}"
    text += " K"
    if requested:
        text += f" (requested {requested:g} K, {100.0 * (mean / requested - 1.0):+.2f} %)"
    return text
