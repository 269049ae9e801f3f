"""Every plot function draws on its own Agg canvas (issue 11, item 5): a user's backend (here
svg, as a Jupyter session would have its inline one) and pyplot's figure list are left exactly
as they were, matplotlib.use and pyplot are never called, and each writes a real PNG."""
from __future__ import annotations

import os
import subprocess
import sys

PNG = b"\x89PNG\r\n\x1a\n"

SCRIPT = r"""
import os, sys, warnings
import numpy as np
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt

plt.figure()                      # the user's own open figure
before = (matplotlib.get_backend(), plt.get_fignums())


def forbidden(name):
    def call(*args, **kwargs):
        raise AssertionError(f"{name} called by a plot function")
    return call


# a plot function that reached for global state would fail here
matplotlib.use = forbidden("matplotlib.use")
for name in ("figure", "subplots", "gcf", "gca", "savefig", "switch_backend", "close", "plot"):
    setattr(plt, name, forbidden("pyplot." + name))
warnings.simplefilter("error")    # write_plots turns a failed plot into a warning: fail instead

from types import SimpleNamespace
from pyonsager.diffusion import MSDSeries, plot_msd
from pyonsager.likelihood import plot_likelihood
from pyonsager.plots import (plot_green_kubo, plot_kappa_temperature, plot_spectrum,
                             write_plots)
from pyonsager.result import Quantity

out = sys.argv[1]
t = np.arange(200) * 5e-14
kt = 6 * (1 - np.exp(-t / 1e-12))
gk = {"time": t, "kappa_t": kt, "L00_t": 1.3 * kt, "kappa_err_t": 0.1 * kt,
      "L00_err_t": 0.1 * kt, "cutoff_time": np.array(5e-12)}
f = np.linspace(0, 2e12, 300)
spec = {"frequencies": f, "reduced_periodogram": 6 + np.sin(f / 1e11) ** 2,
        "cepstral_fit": np.log(6.5 - f / 1e12), "periodogram_L00": np.full(300, 8.0)}
lk = {"lk_frequencies": f, "lk_reduced_periodogram": 6 + np.cos(f / 1e11) ** 2,
      "lk_fit": 6.5 - f / 1e12, "lk_cutoff_best": 1e12, "lk_cutoff_mean": 1.1e12}
kappa = Quantity(6.0, 0.4, "W m^-1 K^-1")
rows = [{"temperature": T, "kappa": {"value": 1.0 + T / 1e3, "error": 0.1},
         "L00": {"value": 2.0 + T / 1e3, "error": 0.1}} for T in (300.0, 500.0, 700.0)]
msd = MSDSeries(["Ag", "I"], np.arange(5.0), np.arange(5) * 1.0, np.ones((5, 2)))

paths = [plot_green_kubo(gk, os.path.join(out, "gk.png"), kappa),
         plot_spectrum(spec, os.path.join(out, "spectrum.png"), kappa, 1e12, 3),
         plot_likelihood(lk, os.path.join(out, "likelihood.png"), kappa),
         plot_kappa_temperature(rows, os.path.join(out, "kappa_T.png"))]
plot_msd(msd, os.path.join(out, "msd.png"), "ps", {"Ag": (1e-9, 1e-10), "I": (-1e-12, 1e-12)})
paths.append(os.path.join(out, "msd.png"))
result = SimpleNamespace(arrays={**gk, **spec, **lk}, kappa=kappa,
                         estimator={"name": "x", "parameters": {"fstar": 1e12, "pstar": 3}})
written = write_plots(result, os.path.join(out, "all"))
assert sorted(os.path.basename(p) for p in written) == \
    ["kappa_vs_L00.png", "likelihood_fit.png", "spectrum.png"], written
after = (matplotlib.get_backend(), plt.get_fignums())
assert after == before == ("svg", [1]), (before, after)
print("\n".join(paths + written))
"""


def test_every_plot_leaves_backend_and_pyplot_figures_alone(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path))   # the package under test
    assert proc.returncode == 0, proc.stdout + proc.stderr
    paths = proc.stdout.split()
    assert len(paths) == 8
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG, path
        assert os.path.getsize(path) > 5000, path          # a drawn figure, not an empty file
