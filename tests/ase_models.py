"""Small systems and models shared by the ASE-driver tests (not a test module).

* :func:`lj_binary`: a two-species Lennard-Jones liquid with Maxwell-Boltzmann velocities.
* :func:`write_random_nep`: a ``nep4`` model file with random weights for two species, written
  from the nep.txt layout (header rows, then one parameter per line: per species w0, b0, w1;
  the shared output bias b1; the descriptor expansion coefficients c; the q_scaler).
* :func:`fd_virials`: the finite-difference reference
  W_i^{ab} = sum_{j != i} (r_j - r_i)^a dU_j/dr_i^b from displaced-atom site energies.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def lj_binary(n_cells: "int | tuple[int, int, int]" = 3, a: float = 5.6,
              species: Sequence[str] = ("Ar", "Kr"), temperature: float = 120.0, seed: int = 1,
              rattle: float = 0.15):
    """FCC lattice of 4 x prod(repeats) atoms, species alternating, rattled, MB velocities (K)."""
    from ase.build import bulk
    from ase.md import velocitydistribution as vd

    atoms = bulk(species[0], "fcc", a=a, cubic=True).repeat(n_cells)
    symbols = [species[i % len(species)] for i in range(len(atoms))]
    atoms.set_chemical_symbols(symbols)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    atoms.wrap()
    # thermalize_momenta is ASE >= 3.29's name of MaxwellBoltzmannDistribution
    thermalize = getattr(vd, "thermalize_momenta", vd.MaxwellBoltzmannDistribution)
    thermalize(atoms, temperature_K=temperature, rng=rng)
    vd.Stationary(atoms)
    return atoms


def lj_calculator(epsilon: float = 0.0104, sigma: float = 3.4, rc: float = 8.5):
    """ASE LennardJones with a shifted (LAMMPS ``pair_modify shift yes``) truncation at rc."""
    from ase.calculators.lj import LennardJones

    return LennardJones(epsilon=epsilon, sigma=sigma, rc=rc, smooth=False)


def nep_parameter_count(ntypes: int, n_max: tuple[int, int], basis: tuple[int, int],
                        l_max: tuple[int, int, int], n_neuron: int) -> tuple[int, int]:
    """(number of parameters, descriptor dimension) of a single-hidden-layer nep4 potential."""
    dim = (n_max[0] + 1) + (n_max[1] + 1) * (l_max[0] + (l_max[1] > 0) + (l_max[2] > 0))
    ann = ntypes * (dim + 2) * n_neuron + 1
    descriptor = ntypes ** 2 * ((n_max[0] + 1) * (basis[0] + 1) + (n_max[1] + 1) * (basis[1] + 1))
    return ann + descriptor + dim, dim


def write_random_nep(path: str, species: Sequence[str] = ("Ar", "Kr"), seed: int = 7,
                     cutoff: tuple[float, float] = (6.0, 4.5), n_max: tuple[int, int] = (4, 4),
                     basis: tuple[int, int] = (6, 6), l_max: tuple[int, int, int] = (4, 2, 0),
                     n_neuron: int = 8) -> str:
    """Write a nep4 potential with random weights (smooth, many-body, asymmetric W_i)."""
    rng = np.random.default_rng(seed)
    ntypes = len(species)
    dim = nep_parameter_count(ntypes, n_max, basis, l_max, n_neuron)[1]
    values: list[float] = []
    for _ in range(ntypes):
        values += list(rng.normal(scale=0.5, size=n_neuron * dim))      # w0
        values += list(rng.normal(scale=0.5, size=n_neuron))            # b0
        values += list(rng.normal(scale=0.2, size=n_neuron))            # w1
    values.append(0.1)                                                  # b1 (shared)
    nc = ntypes ** 2 * ((n_max[0] + 1) * (basis[0] + 1) + (n_max[1] + 1) * (basis[1] + 1))
    values += list(rng.normal(scale=0.5, size=nc))                     # c
    values += list(rng.uniform(0.5, 2.0, size=dim))                    # q_scaler
    header = [f"nep4 {ntypes} {' '.join(species)}",
              f"cutoff {cutoff[0]} {cutoff[1]} 100 100",
              f"n_max {n_max[0]} {n_max[1]}",
              f"basis_size {basis[0]} {basis[1]}",
              f"l_max {l_max[0]} {l_max[1]} {l_max[2]}",
              f"ANN {n_neuron} 0"]
    with open(path, "w") as f:
        f.write("\n".join(header) + "\n")
        f.write("\n".join(f"{v:.10e}" for v in values) + "\n")
    return str(path)


def fd_virials(atoms, site_energies: Callable, indices: Sequence[int], h: float = 1e-4
               ) -> np.ndarray:
    """Central-difference W_i for the atoms in ``indices``, shape (len(indices), 3, 3).

    W_i^{ab} = sum_{j != i} (r_j - r_i)^a dU_j/dr_i^b, with r_j - r_i the minimum image
    (valid when the cutoff is below half the cell, so each pair interacts through one image).
    ``site_energies(atoms) -> (N,)`` evaluates the per-atom energies.
    """
    out = np.zeros((len(indices), 3, 3))
    for k, i in enumerate(indices):
        d = atoms.get_distances(i, range(len(atoms)), mic=True, vector=True)  # r_j - r_i
        d[i] = 0.0
        for b in range(3):
            grad = []
            for sign in (1.0, -1.0):
                displaced = atoms.copy()
                displaced.calc = atoms.calc
                displaced.positions[i, b] += sign * h
                grad.append(np.array(site_energies(displaced), dtype=float))
            dU = (grad[0] - grad[1]) / (2 * h)
            out[k, :, b] = d.T @ dU
    return out
