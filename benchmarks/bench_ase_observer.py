"""Cost of the ASE flux observer per MD step, against calorine CPUNEP's own step (~1000 atoms).

    python benchmarks/bench_ase_observer.py [--atoms-repeat 5 5 10] [--steps 40] [--repeats 5]

Runs VelocityVerlet with a random NEP model of typical size (nep4, cutoff 8/4 A, n_max 4/4,
basis 8/8, l_max 4/2/0, 30 neurons; written by tests/ase_models.py) on 1000 atoms, alternately
without and with ``pyonsager.ase.attach(dyn, every=1)`` (sampling, correlator, flux file), and
also times ``sample()`` alone.  Reports the minimum over repeats of the time per step (the
machine is shared; the minimum is the least disturbed measurement).  Target: overhead <= 5%.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from ase_models import lj_binary, write_random_nep  # noqa: E402


def _md(atoms, steps: int, observe: bool, workdir: str) -> float:
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from pyonsager.ase import attach

    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    session = None
    if observe:
        session = attach(dyn, every=1, max_lag=0.05, file=os.path.join(workdir, "f.onsager"),
                         batch=10)
    dyn.run(1)  # warm-up: first force call, neighbour list
    t0 = time.perf_counter()
    dyn.run(steps)
    elapsed = (time.perf_counter() - t0) / steps
    if session is not None:
        session.flush()
    return elapsed


def _observer_only(atoms, calls: int, workdir: str) -> float:
    """One observer call (sample, buffer, and every `batch` calls correlator + file)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from pyonsager.ase import attach

    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    session = attach(dyn, every=1, max_lag=0.05, file=os.path.join(workdir, "o.onsager"),
                     batch=10)
    session._step_of = None  # count calls as steps: the configuration does not move here
    session()
    t0 = time.perf_counter()
    for _ in range(calls):
        session()
    return (time.perf_counter() - t0) / calls


def _sample_only(atoms, calls: int) -> float:
    from pyonsager.ase import sample

    sample(atoms)
    t0 = time.perf_counter()
    for _ in range(calls):
        sample(atoms)
    return (time.perf_counter() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms-repeat", type=int, nargs=3, default=[5, 5, 10])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from calorine.calculators import CPUNEP

    with tempfile.TemporaryDirectory() as workdir:
        model = write_random_nep(os.path.join(workdir, "nep.txt"), cutoff=(8.0, 4.0),
                                 n_max=(4, 4), basis=(8, 8), l_max=(4, 2, 0), n_neuron=30)
        atoms = lj_binary(tuple(args.atoms_repeat), a=5.6, temperature=100.0, rattle=0.05)
        atoms.calc = CPUNEP(model)
        bare, observed = [], []
        for _ in range(args.repeats):
            bare.append(_md(atoms, args.steps, False, workdir))
            observed.append(_md(atoms, args.steps, True, workdir))
        one_sample = min(_sample_only(atoms, args.steps) for _ in range(args.repeats))
        one_call = min(_observer_only(atoms, 10 * args.steps, workdir)
                       for _ in range(args.repeats))
    step, with_obs = min(bare), min(observed)
    print(f"atoms: {len(atoms)}  steps: {args.steps}  repeats: {args.repeats}")
    print(f"CPUNEP VelocityVerlet step:      {1e3 * step:8.3f} ms")
    print(f"step with observer (every=1):    {1e3 * with_obs:8.3f} ms  "
          f"overhead {100 * (with_obs - step) / step:+.2f}%")
    print(f"observer call alone (batch=10):  {1e3 * one_call:8.3f} ms  "
          f"= {100 * one_call / step:.2f}% of a step")
    print(f"sample() alone:                  {1e3 * one_sample:8.3f} ms  "
          f"= {100 * one_sample / step:.2f}% of a step")


if __name__ == "__main__":
    main()
