"""The kappa estimators pyonsager offers, and the default one, named in one place.

The default is the likelihood spectral estimator (docs/likelihood.md): on the efficiency
harness (benchmarks/bench_estimators.py, four spectral shapes with exactly known answers,
90-200 seeds per case) its RMS error is 1.2-1.8x the Cramer-Rao bound against 1.2-2.9x for
Green-Kubo and 1.8-5.3x for cepstral, the lowest of the three on the series Green-Kubo
answers (one tie), and it depends only on the energy flux's spectrum with the mass-flux
coupling removed (exactly gauge invariant).  It needs at least as many equivalent components (3 directions x
independent runs) as fluxes, runs of equal length and at least 64 samples; when the estimator
is the default (neither given nor recorded in the flux files) and one of these fails, the
analysis falls back to Green-Kubo and says so in the warnings.
"""
from __future__ import annotations

ESTIMATORS = ("likelihood", "green-kubo", "cepstral")
DEFAULT_ESTIMATOR = "likelihood"
