"""correlation.py: FFT correlations against the direct O(N^2) sums; running integrals."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid

from pyonsager.correlation import (correlation_matrix, cross_correlation, direct_cross_correlation,
                                   running_integral)


@pytest.mark.parametrize("n,max_lag", [(1, 0), (7, 6), (101, 30), (1000, 999)])
def test_cross_correlation_equals_direct_sum(n, max_lag):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal((2, n, 3))
    c = cross_correlation(x, y, max_lag)
    d = direct_cross_correlation(x, y, max_lag)
    assert c.shape == (max_lag + 1, 3)
    np.testing.assert_allclose(c, d, rtol=1e-10, atol=1e-13)


def test_cross_correlation_direction_of_time():
    # y lags x by 3 samples: <x(t+k) y(t)> peaks at k = -3 (not in range); <y(t+k) x(t)> at k=3
    rng = np.random.default_rng(1)
    x = rng.standard_normal(5000)
    y = np.roll(x, 3)
    assert np.argmax(cross_correlation(y, x, 10)) == 3
    assert np.argmax(cross_correlation(x, y, 10)) != 3


def test_correlation_matrix_pairs():
    rng = np.random.default_rng(2)
    s = rng.standard_normal((333, 3, 3))
    s[:, 1] += np.roll(s[:, 0], 2, axis=0)
    c = correlation_matrix(s, 20)
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(c[:, i, j, :].T, direct_cross_correlation(s[:, i], s[:, j], 20),
                                       rtol=1e-10, atol=1e-13)
    assert not np.allclose(c[:, 0, 1], c[:, 1, 0])


def test_running_integral_trapezoid():
    rng = np.random.default_rng(3)
    c = rng.standard_normal((2, 50))
    r = running_integral(c, 0.3)
    np.testing.assert_allclose(r[:, 1:], cumulative_trapezoid(c, dx=0.3, axis=-1), rtol=1e-13)
    assert np.all(r[:, 0] == 0)
    np.testing.assert_allclose(running_integral(c.T, 0.3, axis=0), r.T)


def test_bad_arguments():
    with pytest.raises(ValueError):
        cross_correlation(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError):
        cross_correlation(np.zeros(5), np.zeros(5), 5)
