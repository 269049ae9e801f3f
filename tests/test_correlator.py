"""OnlineCorrelator: exact equality with the direct FFT correlation, restart, merge, MPI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from pyonsager.correlation import correlation_matrix
from pyonsager.correlator import OnlineCorrelator

HERE = os.path.dirname(os.path.abspath(__file__))


def feed(c, x, rng, maxchunk=200):
    pos = 0
    while pos < len(x):
        n = int(rng.integers(1, maxchunk))
        c.add(x[pos:pos + n])
        pos += n


def close(a, b):
    scale = np.max(np.abs(b))
    return np.max(np.abs(a - b)) <= 1e-12 * scale


@pytest.mark.parametrize("n,max_lag,block", [(1237, 50, None), (1237, 50, 7), (999, 13, 64),
                                             (60, 59, None), (1501, 200, 1)])
def test_equals_direct_fft(n, max_lag, block):
    rng = np.random.default_rng(n + max_lag)
    x = rng.standard_normal((n, 3, 3))
    x[:, 1] += 0.7 * np.roll(x[:, 0], 2, axis=0)
    c = OnlineCorrelator(3, max_lag, block=block)
    feed(c, x, rng)
    r = c.result()
    ref = correlation_matrix(x, max_lag)
    assert r.correlations.shape == (3, 3, 3, max_lag + 1)
    assert close(r.correlations, ref)
    np.testing.assert_array_equal(r.counts, n - np.arange(max_lag + 1))
    assert r.nsamples == n
    # C_01 != C_10: both orderings kept
    assert not np.allclose(r.correlations[:, 0, 1], r.correlations[:, 1, 0])


def test_result_does_not_disturb_the_stream():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3001, 2, 3))
    c = OnlineCorrelator(2, 40, block=90)
    c.add(x[:1000])
    c.result()
    c.add(x[1000:])
    assert close(c.result().correlations, correlation_matrix(x, 40))


def test_save_load_reproduces_uninterrupted(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4321, 3, 3))
    ref = OnlineCorrelator(3, 60)
    ref.add(x)
    c = OnlineCorrelator(3, 60)
    c.add(x[:1777])
    c.save(str(tmp_path / "state.npz"))
    c2 = OnlineCorrelator.load(str(tmp_path / "state.npz"))
    c2.add(x[1777:])
    a, b = c2.result(), ref.result()
    np.testing.assert_allclose(a.correlations, b.correlations, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.segment_integrals, b.segment_integrals, atol=1e-12)
    np.testing.assert_array_equal(a.segment_weights, b.segment_weights)


def test_merge_independent_runs():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 2000, 2, 3))
    y = y[:1501]
    a = OnlineCorrelator(2, 30)
    a.add(x)
    b = OnlineCorrelator(2, 30)
    b.add(y)
    a.merge(b)
    r = a.result()
    n = np.arange(31)
    sums = correlation_matrix(x, 30) * (2000 - n) + correlation_matrix(y, 30) * (1501 - n)
    assert close(r.correlations, sums / (3501 - 2 * n))
    np.testing.assert_array_equal(r.counts, 3501 - 2 * n)
    assert r.nsamples == 3501
    # and the merged correlator keeps going with its own stream
    z = rng.standard_normal((700, 2, 3))
    a.add(z)
    xz = np.concatenate([x, z])
    sums = correlation_matrix(xz, 30) * (2700 - n) + correlation_matrix(y, 30) * (1501 - n)
    assert close(a.result().correlations, sums / (4201 - 2 * n))


def test_segments_bounded_and_weights():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20000, 1, 3))
    c = OnlineCorrelator(1, 5, block=10, max_segments=8)
    c.add(x)
    r = c.result()
    assert 4 <= r.segment_weights.size <= 8
    assert r.segment_weights.sum() == 20000
    # weighted mean of the segment integrals ~ integral of the total (exact up to boundary pairs)
    from pyonsager.correlation import running_integral
    tot = running_integral(r.correlations, 1.0)[..., r.grid]
    mean = np.tensordot(r.segment_weights, r.segment_integrals, axes=1) / 20000
    np.testing.assert_allclose(mean, tot, atol=5e-3)


def test_bad_input():
    c = OnlineCorrelator(2, 5)
    with pytest.raises(ValueError, match="shape"):
        c.add(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        c.add(np.full((3, 2, 3), np.nan))
    with pytest.raises(ValueError):
        OnlineCorrelator(2, 0)
    with pytest.raises(ValueError, match="merge"):
        c.merge(OnlineCorrelator(2, 6))


@pytest.mark.mpi
def test_two_ranks_equal_one_rank(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "mpirun")
    out = str(tmp_path / "r2.npz")
    env = dict(os.environ)
    cmd = [exe, "-np", "2", sys.executable, os.path.join(HERE, "mpi_scripts", "correlator_mpi.py"), out]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        so, se = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        so, se = proc.communicate()
        pytest.fail(f"mpirun timed out\n{so[-2000:]}{se[-2000:]}")
    assert proc.returncode == 0, so[-3000:] + se[-3000:]
    r2 = np.load(out)
    assert int(r2["size"]) == 2
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2501, 4, 3))
    c = OnlineCorrelator(4, 37, block=50)
    c.add(x)
    r1 = c.result()
    np.testing.assert_allclose(r2["correlations"], r1.correlations, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(r2["counts"], r1.counts)
    np.testing.assert_allclose(r2["segs"], r1.segment_integrals, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r2["w"], r1.segment_weights)
    assert close(r1.correlations, correlation_matrix(x, 37))
