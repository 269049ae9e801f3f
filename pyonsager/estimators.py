"""The kappa estimators pyonsager offers, and the default one, named in one place.

The default is the likelihood spectral estimator (docs/likelihood.md): on the efficiency
harness (benchmarks/bench_estimators.py, four spectral shapes with exactly known answers) its
RMS error is the lowest of the three in 11 of 14 cases, 1.0-2.2x the Cramer-Rao bound against
1.2-2.9x for Green-Kubo and 1.6-6.0x for cepstral, and it depends only on the reduced spectrum
(exactly gauge invariant).  It needs at least as many equivalent components (3 directions x
independent runs) as fluxes, runs of equal length and at least 64 samples; when the estimator
is the default (neither given nor recorded in the flux files) and one of these fails, the
analysis falls back to Green-Kubo and says so in the warnings.
"""
from __future__ import annotations

ESTIMATORS = ("likelihood", "green-kubo", "cepstral")
DEFAULT_ESTIMATOR = "likelihood"
