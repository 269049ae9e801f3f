"""Run by tests/test_correlator.py under `mpirun -np 2`: correlator with rows split over ranks.

Usage: correlator_mpi.py OUT.npz
Feeds the same deterministic series as the 1-rank reference (seeded), with a save/load
in the middle, and writes the gathered result (rank 0).
"""
from __future__ import annotations

import sys

import numpy as np
from mpi4py import MPI

from pyonsager.correlator import OnlineCorrelator

comm = MPI.COMM_WORLD
out = sys.argv[1]
rng = np.random.default_rng(7)
x = rng.standard_normal((2501, 4, 3))
c = OnlineCorrelator(4, 37, comm=comm, block=50)
c.add(x[:1200])
c.save(out + ".state.npz")
c = OnlineCorrelator.load(out + ".state.npz", comm=comm)
pos = 1200
for n in (1, 333, 77, 890):
    c.add(x[pos:pos + n])
    pos += n
c.add(x[pos:])
r = c.result()
if comm.Get_rank() == 0:
    np.savez(out, correlations=r.correlations, counts=r.counts, segs=r.segment_integrals,
             w=r.segment_weights, size=comm.Get_size())
