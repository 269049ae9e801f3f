"""Exact on-the-fly correlation of flux channels: block FFTs, bounded memory, restart, MPI.

:class:`OnlineCorrelator` accumulates, for every ordered channel pair (i, j), every Cartesian
direction d and every lag k = 0..max_lag,

    S_ij,d(k) = sum_{n >= k} x_i,d[n] x_j,d[n - k],        count(k) = #{n : n >= k},

so that ``S / count`` is exactly :func:`pyonsager.correlation.cross_correlation` of the whole
series (C_ij(k) = <x_i(t+k) x_j(t)>; C_ij != C_ji in general, so all nch^2 pairs are kept).

Algorithm (overlap-save).  Samples are processed in blocks of B new samples.  With the previous
M = max_lag samples kept as history h, the block contributes, for k = 0..M,

    S_ij(k) += sum_{n=0}^{B-1} new_i[n] z_j[n + M - k],    z = [h, new]  (length M + B),

a cross-correlation computed with one real FFT of length nfft >= M + B per channel for z and one
for the new block.  The products conj(FFT(new_i)) FFT(z_j) are *accumulated in frequency space*
(the transform is linear) and brought back to lags only when a segment closes, so the cost per
sample is O(log nfft) forward transforms plus O(nch) products; memory is O(nch^2 nfft),
independent of the run length.

Error bars: the run is cut into segments (at least 2 (M+1) samples each).  For each closed
segment the normalised running integral I_seg(t_g) = trapz(S_seg / count_seg) at ``error_points``
lags t_g is kept with the segment length as weight.  When ``max_segments`` segments exist,
neighbours are merged pairwise (weighted means) and the segment length doubles, so between
max_segments/2 and max_segments segments cover the run.  :mod:`pyonsager.greenkubo` turns these
into a jackknife standard error over segments x directions.

MPI: the rows (direction, later-time channel i) are split in contiguous chunks across the ranks
of ``comm``; every rank receives all samples (as the LAMMPS fix hands them out) and transforms
only the directions it needs.  :meth:`result` gathers once.  mpi4py is never imported here: a
communicator object is simply used if given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from scipy import fft as _fft

from .correlation import running_integral
from .errors import CheckpointError, InputError, MismatchedRuns

_FORMAT = 1


@dataclass
class CorrelationData:
    """Gathered output of :class:`OnlineCorrelator` (identical on every rank).

    Attributes
    ----------
    correlations: (ndim, nch, nch, max_lag + 1) unbiased means C[d, i, j, k] = <x_i(t+k) x_j(t)>.
    sums: same shape, the raw sums S; ``correlations = sums / counts``.
    counts: (max_lag + 1,) number of pairs per lag (summed over merged runs).
    nsamples: samples seen (all merged runs).
    grid: (G,) lag indices at which segment integrals are kept.
    segment_integrals: (nseg, ndim, nch, nch, G) per-segment running integrals (trapezoid, in
        units of the sampling interval, i.e. multiply by dt) of the segment's own mean correlation.
    segment_weights: (nseg,) samples per segment.
    """

    correlations: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    nsamples: int
    grid: np.ndarray
    segment_integrals: np.ndarray
    segment_weights: np.ndarray

    @property
    def max_lag(self) -> int:
        return self.counts.shape[0] - 1


def _default_nfft(max_lag: int, block: Optional[int]) -> tuple[int, int]:
    if block is None:
        # nfft ~ 4 (M + 1): the new block is ~3x the history, which amortises the history's
        # transform; measured near the throughput optimum (benchmarks/bench_correlator.py)
        nfft = _fft.next_fast_len(max(4 * (max_lag + 1), 64), real=True)
        return nfft, nfft - max_lag
    block = int(block)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    return _fft.next_fast_len(max_lag + block, real=True), block


class OnlineCorrelator:
    """Exact correlations of ``nchannels`` x ``ndim`` flux components up to ``max_lag`` samples.

    Parameters
    ----------
    nchannels: number of flux channels (order: :class:`pyonsager.channels.ChannelLayout`).
    max_lag: largest lag, in samples (>= 1).
    comm: optional mpi4py communicator; rows are split across its ranks.
    block: new samples per FFT block (default: chosen from max_lag for throughput).
    ndim: Cartesian directions per channel (3).
    max_segments: bound on stored segments for error bars (>= 4, even).
    error_points: number of lags at which per-segment integrals are kept.

    ``add(x)`` takes x of shape (n, nchannels, ndim), any n >= 1.
    """

    def __init__(self, nchannels: int, max_lag: int, comm: Any = None, block: Optional[int] = None,
                 ndim: int = 3, max_segments: int = 64, error_points: int = 1024):
        if nchannels < 1:
            raise ValueError(f"nchannels must be >= 1, got {nchannels}")
        if max_lag < 1:
            raise InputError(f"max_lag must be >= 1 sample, got {max_lag}")
        if max_segments < 4 or max_segments % 2:
            raise ValueError("max_segments must be an even number >= 4")
        self.nch = int(nchannels)
        self.ndim = int(ndim)
        self.max_lag = int(max_lag)
        self.nfft, self.block = _default_nfft(self.max_lag, block)
        self.max_segments = int(max_segments)
        m = self.max_lag
        if m + 1 <= error_points:
            self.grid = np.arange(m + 1)
        else:
            self.grid = np.unique(np.round(np.linspace(0, m, int(error_points))).astype(np.int64))
        self.comm = comm
        rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
        self.rank, self.size = rank, size
        nrows = self.ndim * self.nch
        bounds = np.linspace(0, nrows, size + 1).round().astype(int)
        self.r0, self.r1 = int(bounds[rank]), int(bounds[rank + 1])
        # directions touched by this rank's rows (rows are direction-major: d * nch + i)
        self.d0 = self.r0 // self.nch
        self.d1 = (self.r1 - 1) // self.nch + 1 if self.r1 > self.r0 else self.d0
        self._reset_state()

    # ----------------------------------------------------------------- state
    def _reset_state(self) -> None:
        nrows, nown, m = self.ndim * self.nch, self.r1 - self.r0, self.max_lag
        nf = self.nfft // 2 + 1
        self.nsamples = 0                  # samples processed into the sums (this stream)
        self.total_samples = 0             # including merged runs
        self._hist = np.zeros((nrows, m))  # last m samples, right-aligned
        self._buf = np.zeros((nrows, self.block))
        self._nbuf = 0
        self._sums = np.zeros((nown, self.nch, m + 1))
        self._counts = np.zeros(m + 1, dtype=np.int64)
        self._spec = np.zeros((nown, self.nch, nf), dtype=complex)   # open segment, frequency space
        self._seg_counts = np.zeros(m + 1, dtype=np.int64)
        self._seg_len = 0
        self._seg_target = self.block * math.ceil(2 * (m + 1) / self.block)
        self._segs = np.zeros((self.max_segments, nown, self.nch, self.grid.size))
        self._seg_w = np.zeros(self.max_segments)
        self._nseg = 0

    def add(self, x: np.ndarray) -> None:
        """Add samples x of shape (n, nchannels, ndim) (or (nchannels, ndim) for one sample)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (self.nch, self.ndim):
            raise ValueError(f"expected samples of shape (n, {self.nch}, {self.ndim}), "
                             f"got {x.shape}")
        n = x.shape[0]
        if n == 0:
            return
        if not np.all(np.isfinite(x)):
            raise ValueError("non-finite flux values (NaN/inf) passed to the correlator")
        rows = x.transpose(2, 1, 0).reshape(self.ndim * self.nch, n)
        pos = 0
        while pos < n:
            take = min(self.block - self._nbuf, n - pos)
            self._buf[:, self._nbuf:self._nbuf + take] = rows[:, pos:pos + take]
            self._nbuf += take
            pos += take
            if self._nbuf == self.block:
                self._step(self._buf)
                self._nbuf = 0

    def _step(self, new: np.ndarray) -> None:
        """Accumulate one block of new samples (all rows, b <= block columns)."""
        m, nch, b = self.max_lag, self.nch, new.shape[1]
        s = self.nsamples
        if self.r1 > self.r0:
            za, zb = self.d0 * nch, self.d1 * nch
            z = np.zeros((zb - za, self.nfft))
            z[:, :m] = self._hist[za:zb]
            z[:, m:m + b] = new[za:zb]
            fz = _fft.rfft(z, axis=1).reshape(self.d1 - self.d0, nch, -1)
            fa = np.conj(_fft.rfft(new[self.r0:self.r1], self.nfft, axis=1))
            for d in range(self.d0, self.d1):
                lo = max(self.r0, d * nch) - self.r0
                hi = min(self.r1, (d + 1) * nch) - self.r0
                # P[i, j, f] += conj(A_i(f)) Z_j(f): correlation of the new block with [hist, new]
                self._spec[lo:hi] += fa[lo:hi, None, :] * fz[d - self.d0][None]
        # pairs with the later sample in this block: lag k counts n in [0, b) with s + n >= k
        lags = np.arange(m + 1)
        c = b - np.minimum(b, np.maximum(0, lags - s))
        self._seg_counts += c
        self._seg_len += b
        if m:
            if b < m:
                self._hist = np.concatenate([self._hist, new], axis=1)[:, -m:]
            else:
                self._hist = new[:, -m:].copy()
        self.nsamples += b
        self.total_samples += b
        if self._seg_len >= self._seg_target:
            self._close_segment()

    def _segment_sums(self) -> np.ndarray:
        """Lag-space sums of the open segment: S[k] = r[M - k] of the inverse transform."""
        r = _fft.irfft(self._spec, self.nfft, axis=2)
        return r[:, :, self.max_lag::-1]

    def _close_segment(self) -> None:
        if self._seg_len == 0:
            return
        sums = self._segment_sums()
        self._sums += sums
        self._counts += self._seg_counts
        if self._seg_counts[-1] > 0:
            mean = sums / self._seg_counts
            integ = running_integral(mean, 1.0, axis=-1)[..., self.grid]
            self._push_segment(integ, float(self._seg_len))
        self._spec[...] = 0.0
        self._seg_counts[:] = 0
        self._seg_len = 0

    def _push_segment(self, integ: np.ndarray, weight: float) -> None:
        self._segs[self._nseg] = integ
        self._seg_w[self._nseg] = weight
        self._nseg += 1
        if self._nseg == self.max_segments:
            # pairwise merge keeps memory bounded; weighted means of neighbouring segments
            w = self._seg_w.reshape(-1, 2)
            segs = self._segs.reshape((self.max_segments // 2, 2) + self._segs.shape[1:])
            wsum = w.sum(axis=1)
            merged = (np.einsum("pk,pk...->p...", w, segs)
                      / wsum.reshape((-1,) + (1,) * (segs.ndim - 2)))
            half = self.max_segments // 2
            self._segs[:half] = merged
            self._segs[half:] = 0.0
            self._seg_w[:half] = wsum
            self._seg_w[half:] = 0.0
            self._nseg = half
            self._seg_target *= 2

    # ----------------------------------------------------------------- output
    def _finalized_local(self) -> dict:
        """This rank's sums, counts and segments including pending samples (state untouched)."""
        saved = {k: (lambda v: v.copy() if isinstance(v, np.ndarray) else v)(getattr(self, k))
                 for k in ("_hist", "_sums", "_counts", "_spec", "_seg_counts", "_seg_len",
                           "_seg_target", "_segs", "_seg_w", "_nseg", "nsamples", "total_samples")}
        try:
            if self._nbuf:
                self._step(self._buf[:, :self._nbuf])
            self._close_segment()
            out = dict(sums=self._sums.copy(), counts=self._counts.copy(),
                       segs=self._segs[:self._nseg].copy(), seg_w=self._seg_w[:self._nseg].copy(),
                       total=self.total_samples)
        finally:
            for k, v in saved.items():
                setattr(self, k, v)
        return out

    def result(self) -> CorrelationData:
        """Correlations, counts and segment data, gathered from all ranks (collective call)."""
        loc = self._finalized_local()
        sums, segs = loc["sums"], loc["segs"]
        if self.comm is not None and self.size > 1:
            parts = self.comm.allgather((sums, segs))
            sums = np.concatenate([p[0] for p in parts], axis=0)
            segs = np.concatenate([p[1] for p in parts], axis=1)
        m = self.max_lag
        sums = sums.reshape(self.ndim, self.nch, self.nch, m + 1)
        counts = loc["counts"]
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        nseg = segs.shape[0]
        segs = segs.reshape(nseg, self.ndim, self.nch, self.nch, self.grid.size)
        return CorrelationData(correlations=corr, sums=sums, counts=counts.copy(),
                               nsamples=int(loc["total"]), grid=self.grid.copy(),
                               segment_integrals=segs, segment_weights=loc["seg_w"])

    # ----------------------------------------------------------------- persistence
    def _gather_rows(self, a: np.ndarray, axis: int = 0) -> np.ndarray:
        if self.comm is None or self.size == 1:
            return a
        return np.concatenate(self.comm.allgather(a), axis=axis)

    def save(self, path: str) -> None:
        """Write the full, rank-independent state to ``path`` (npz; collective, rank 0 writes)."""
        state = dict(
            format=_FORMAT, nch=self.nch, ndim=self.ndim, max_lag=self.max_lag, block=self.block,
            nfft=self.nfft, max_segments=self.max_segments, grid=self.grid,
            nsamples=self.nsamples, total_samples=self.total_samples, hist=self._hist,
            buf=self._buf[:, :self._nbuf], counts=self._counts, seg_counts=self._seg_counts,
            seg_len=self._seg_len, seg_target=self._seg_target, nseg=self._nseg,
            seg_w=self._seg_w[:self._nseg],
            sums=self._gather_rows(self._sums), spec=self._gather_rows(self._spec),
            segs=self._gather_rows(self._segs[:self._nseg], axis=1))
        if self.rank == 0:
            with open(path, "wb") as fh:
                np.savez(fh, **state)
        if self.comm is not None and self.size > 1:
            self.comm.Barrier()

    @classmethod
    def load(cls, path: str, comm: Any = None) -> "OnlineCorrelator":
        """Restore a correlator written by :meth:`save` (any number of ranks)."""
        with np.load(path) as f:
            st = {k: f[k] for k in f.files}
        if int(st["format"]) != _FORMAT:
            raise CheckpointError(f"{path}: unsupported correlator state format "
                                  f"{int(st['format'])}")
        grid = st["grid"]
        c = cls(int(st["nch"]), int(st["max_lag"]), comm=comm, block=int(st["block"]),
                ndim=int(st["ndim"]), max_segments=int(st["max_segments"]),
                error_points=max(grid.size, 1))
        if c.nfft != int(st["nfft"]) or not np.array_equal(c.grid, grid):
            c.nfft = int(st["nfft"])
            c.grid = grid
            c._reset_state()
        c.nsamples = int(st["nsamples"])
        c.total_samples = int(st["total_samples"])
        c._hist = st["hist"].copy()
        nb = st["buf"].shape[1]
        c._buf[:, :nb] = st["buf"]
        c._nbuf = nb
        c._counts = st["counts"].copy()
        c._seg_counts = st["seg_counts"].copy()
        c._seg_len = int(st["seg_len"])
        c._seg_target = int(st["seg_target"])
        c._nseg = int(st["nseg"])
        c._seg_w[:c._nseg] = st["seg_w"]
        c._sums = st["sums"][c.r0:c.r1].copy()
        c._spec = st["spec"][c.r0:c.r1].copy()
        c._segs[:c._nseg] = st["segs"][:, c.r0:c.r1]
        return c

    def merge(self, other: "OnlineCorrelator") -> None:
        """Add an independent run: sums and counts add, segments join; no cross-run pairs.

        ``other`` must have the same channels, max_lag and row split (same comm size).
        This correlator's own stream (history, open segment) continues unchanged.
        """
        if (other.nch, other.ndim, other.max_lag) != (self.nch, self.ndim, self.max_lag):
            raise MismatchedRuns("cannot merge correlators with different channels or max_lag")
        if (other.r0, other.r1) != (self.r0, self.r1) or not np.array_equal(other.grid, self.grid):
            raise MismatchedRuns("cannot merge correlators with a different rank split or "
                                 "error grid")
        loc = other._finalized_local()
        self._sums += loc["sums"]
        self._counts += loc["counts"]
        self.total_samples += loc["total"]
        for integ, w in zip(loc["segs"], loc["seg_w"]):
            self._push_segment(integ, float(w))
