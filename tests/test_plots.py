"""PNG plots: which files are written for which result, and that they are real images."""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from pyonsager.plots import write_plots
from pyonsager.result import Quantity

PNG = b"\x89PNG\r\n\x1a\n"


def _fake_result(cepstral: bool) -> SimpleNamespace:
    t = np.arange(200) * 5e-14
    kappa_t = 6 * (1 - np.exp(-t / 1e-12))
    arrays = {"time": t, "kappa_t": kappa_t, "L00_t": 1.3 * kappa_t,
              "kappa_err_t": 0.1 * kappa_t, "L00_err_t": 0.1 * kappa_t,
              "cutoff_time": np.array(5e-12)}
    params = {"cutoff_time": 5e-12}
    if cepstral:
        f = np.linspace(0, 2e12, 300)
        arrays.update(frequencies=f, reduced_periodogram=6 + np.random.default_rng(0).
                      exponential(1, 300), cepstral_fit=np.log(6.5 - f / 1e12),
                      periodogram_L00=np.full(300, 8.0))
        params = {"fstar": 2e12, "pstar": 3}
    return SimpleNamespace(arrays=arrays, kappa=Quantity(6.0, 0.4, "W m^-1 K^-1"),
                           estimator={"name": "x", "parameters": params})


def _is_png(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG and os.path.getsize(path) > 5000


def test_green_kubo_plot(tmp_path):
    paths = write_plots(_fake_result(False), str(tmp_path / "out"))
    assert [os.path.basename(p) for p in paths] == ["kappa_vs_L00.png"]
    assert _is_png(paths[0])


def test_cepstral_plot(tmp_path):
    paths = write_plots(_fake_result(True), str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == ["kappa_vs_L00.png", "spectrum.png"]
    assert all(_is_png(p) for p in paths)


def test_nothing_to_plot(tmp_path):
    assert write_plots(SimpleNamespace(arrays={}), str(tmp_path)) == []


def test_plot_failure_is_a_warning(tmp_path):
    r = _fake_result(False)
    r.arrays["L00_t"] = r.arrays["L00_t"][:10]          # inconsistent lengths
    with pytest.warns(UserWarning, match="kappa_vs_L00.png not written"):
        assert write_plots(r, str(tmp_path)) == []


def test_pyplot_state_untouched(tmp_path):
    before = "matplotlib.pyplot" in sys.modules
    write_plots(_fake_result(False), str(tmp_path))
    assert ("matplotlib.pyplot" in sys.modules) == before


def test_plots_from_real_analysis(tmp_path):
    import pyonsager

    from ou import ou_series

    j = 3.0 * ou_series([[2.0]], [[1.0]], 0.01, 40000, seed=5)[:, 0]   # tau = 0.5 ps
    for estimator in ("green-kubo", "cepstral"):
        res = pyonsager.analyze(energy_flux=j, dt=0.01, temperature=300.0,
                                volume=1000.0, units="metal", estimator=estimator)
        paths = write_plots(res, str(tmp_path / estimator))
        names = {os.path.basename(p) for p in paths}
        assert "kappa_vs_L00.png" in names
        if estimator == "cepstral":
            assert "spectrum.png" in names
