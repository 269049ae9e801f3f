"""Build the alpha-AgI structure as a LAMMPS data file (atom_style charge).

I on a bcc lattice (n x n x n conventional cells, lattice constant a), one Ag per I placed on
randomly chosen tetrahedral sites of the bcc lattice (12 per conventional cell, at
(1/2, 1/4, 0) and its equivalents), never closer than ``min_agag`` to another Ag.

    python -m pyonsager.examples.agi.make_agi                  # the shipped agi.data
    python -m pyonsager.examples.agi.make_agi -n 5 -a 5.2 --seed 7 -o my.data
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

try:
    from pyonsager.examples.agi.prv import CHARGES, MASSES
except ImportError:  # run as a plain script: python make_agi.py
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from prv import CHARGES, MASSES

A_DEFAULT = 5.34    # A: zero pressure of the PRV model at 550 K (NPT, see README.md)
N_DEFAULT = 4       # 4x4x4 cells: 128 I + 128 Ag
SEED_DEFAULT = 20250722

# tetrahedral sites of bcc (fractional, conventional cell): 4 on each of the 3 face types
_TET = np.array(
    [p for face in range(3) for p in (
        np.roll([0.5, 0.25, 0.0], face), np.roll([0.5, 0.75, 0.0], face),
        np.roll([0.25, 0.5, 0.0], face), np.roll([0.75, 0.5, 0.0], face))]
)
_BCC = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])


def build(n: int = N_DEFAULT, a: float = A_DEFAULT, seed: int = SEED_DEFAULT,
          min_agag: float = 2.5):
    """Return (box length, positions (N,3), types (N,) 1=Ag 2=I)."""
    cells = np.array(list(itertools.product(range(n), repeat=3)), dtype=float)
    iodine = ((cells[:, None, :] + _BCC[None]) * a).reshape(-1, 3)
    sites = ((cells[:, None, :] + _TET[None]) * a).reshape(-1, 3)
    L = n * a
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for k in rng.permutation(len(sites)):
        s = sites[k]
        if chosen:
            d = np.asarray(chosen) - s
            d -= L * np.round(d / L)
            if np.min(np.einsum("ij,ij->i", d, d)) < min_agag**2:
                continue
        chosen.append(s)
        if len(chosen) == len(iodine):
            break
    if len(chosen) < len(iodine):
        raise RuntimeError("could not place all Ag ions; lower min_agag")
    silver = np.asarray(chosen)
    pos = np.vstack([silver, iodine])
    types = np.array([1] * len(silver) + [2] * len(iodine))
    return L, pos, types


def write_data(path: str | Path, n: int = N_DEFAULT, a: float = A_DEFAULT,
               seed: int = SEED_DEFAULT) -> Path:
    L, pos, types = build(n, a, seed)
    q = {1: CHARGES["Ag"], 2: CHARGES["I"]}
    lines = [
        f"alpha-AgI, {n}x{n}x{n} bcc I cells, a = {a} A, Ag on random tetrahedral sites "
        f"(seed {seed}); pyonsager.examples.agi.make_agi",
        "",
        f"{len(pos)} atoms",
        "2 atom types",
        "",
        f"0.0 {L:.10f} xlo xhi",
        f"0.0 {L:.10f} ylo yhi",
        f"0.0 {L:.10f} zlo zhi",
        "",
        "Masses",
        "",
        f"1 {MASSES['Ag']}  # Ag",
        f"2 {MASSES['I']}  # I",
        "",
        "Atoms  # charge",
        "",
    ]
    for i, (t, x) in enumerate(zip(types, pos), start=1):
        lines.append(f"{i} {t} {q[t]:+.1f} {x[0]:.10f} {x[1]:.10f} {x[2]:.10f}")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="alpha-AgI LAMMPS data file")
    ap.add_argument("-o", "--output", default=str(Path(__file__).with_name("agi.data")))
    ap.add_argument("-n", "--cells", type=int, default=N_DEFAULT)
    ap.add_argument("-a", "--lattice", type=float, default=A_DEFAULT)
    ap.add_argument("--seed", type=int, default=SEED_DEFAULT)
    args = ap.parse_args(argv)
    print("wrote", write_data(args.output, args.cells, args.lattice, args.seed))


if __name__ == "__main__":
    main()
