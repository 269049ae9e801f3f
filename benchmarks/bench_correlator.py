"""Throughput of the on-the-fly correlator: 4 flux channels x 3 directions, max lag 1e4.

Run: PYTHONPATH=. python benchmarks/bench_correlator.py [--samples N] [--max-lag M] [--block B]
Prints samples/s on one core (target >= 2e5), by wall clock and per CPU second (the fairer
figure on a shared machine; the load average is printed too).  Samples are fed in chunks of 1000 rows, the
size the LAMMPS fix hands over by default.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from pyonsager.correlator import OnlineCorrelator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2_000_000)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--max-lag", type=int, default=10_000)
    p.add_argument("--block", type=int, default=None)
    p.add_argument("--chunk", type=int, default=1000)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    data = rng.standard_normal((a.chunk * 16, a.channels, 3))
    c = OnlineCorrelator(a.channels, a.max_lag, block=a.block)
    t0 = time.perf_counter()
    c0 = time.process_time()
    done = 0
    while done < a.samples:
        i = (done // a.chunk) % 16
        c.add(data[i * a.chunk:(i + 1) * a.chunk])
        done += a.chunk
    t1 = time.perf_counter()
    c1 = time.process_time()
    r = c.result()
    t2 = time.perf_counter()
    print(f"channels={a.channels} dirs=3 max_lag={a.max_lag} block={c.block} nfft={c.nfft}")
    print(f"samples={done} add: wall {t1 - t0:.2f} s -> {done / (t1 - t0):.3g} samples/s; "
          f"CPU {c1 - c0:.2f} s -> {done / (c1 - c0):.3g} samples/s per CPU second; "
          f"result(): {t2 - t1:.2f} s; segments={r.segment_weights.size}; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
