"""Per-species MSD of a running LAMMPS instance (the physics lives in pyonsager.diffusion).

Why not ``compute msd``: its reference positions live in a per-atom fix that data files do
not carry, so a run continued from a checkpoint would lose its origin.  The tracker keeps the
reference unwrapped positions itself, indexed by atom ID and replicated on every rank
(24 bytes per atom), and saves them with the checkpoint.  Each sample is one pass over the
local atoms and one small ``Allreduce``; it runs in the fix callback (end of step, positions
and image flags current), i.e. every batch of flux samples, not every step.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pyonsager.diffusion import (MOBILE_FLOOR, MOBILE_RELATIVE, MSDSeries,  # noqa: F401
                                 classify_mobile, diffusion_unit_factor, fit_diffusion, plot_msd,
                                 species_msd)
from pyonsager.errors import RunError


class MSDTracker:
    """Per-species MSD of a running LAMMPS instance (collective: call on every rank).

    ``type_species``: species name of each atom type (index 0 = type 1), as given to
    ``compute onsager ... species``.
    """

    def __init__(self, lmp: Any, type_species: Sequence[str], comm: Any = None):
        self.lmp = lmp
        self.comm = comm
        self.type_species = list(type_species)
        self.species = list(dict.fromkeys(self.type_species))
        # species index of each type, slot 0 unused (LAMMPS types start at 1)
        self._type_index = np.array([-1] + [self.species.index(s) for s in self.type_species])
        self.ref: Optional[np.ndarray] = None       # (maxid + 1, 3) unwrapped positions at origin
        self.origin_step: Optional[int] = None
        self.steps: list[int] = []
        self.values: list[np.ndarray] = []

    # --------------------------------------------------------------- LAMMPS access
    def _local(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ids, species index, mass, unwrapped positions) of this rank's atoms."""
        lmp = self.lmp
        nlocal = int(lmp.extract_global("nlocal"))
        ids = np.array(lmp.numpy.extract_atom("id"), copy=False)[:nlocal].astype(np.int64)
        types = np.array(lmp.numpy.extract_atom("type"), copy=False)[:nlocal]
        x = np.array(lmp.numpy.extract_atom("x"), copy=False)[:nlocal]
        image = np.array(lmp.numpy.extract_atom("image"), copy=False)[:nlocal].astype(np.int64)
        mask = int(lmp.extract_setting("IMGMASK"))
        bits = int(lmp.extract_setting("IMGBITS"))
        bits2 = int(lmp.extract_setting("IMG2BITS"))
        imax = int(lmp.extract_setting("IMGMAX"))
        ix = (image & mask) - imax
        iy = ((image >> bits) & mask) - imax
        iz = (image >> bits2) - imax
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        lx, ly, lz = (boxhi[k] - boxlo[k] for k in range(3))
        # unwrapped = x + ix*a + iy*b + iz*c with the (possibly triclinic) box vectors
        xu = x + np.stack([ix * lx + iy * xy + iz * xz, iy * ly + iz * yz, iz * lz], axis=1)
        rmass = None
        if lmp.extract_setting("rmass_flag"):
            rmass = np.array(lmp.numpy.extract_atom("rmass"), copy=False)[:nlocal]
        if rmass is not None:
            m = np.array(rmass, dtype=float)
        else:
            masses = np.array(lmp.numpy.extract_atom("mass"), copy=False)
            m = masses[types]
        return ids, self._type_index[types], m, xu

    def _sum(self, a: np.ndarray) -> np.ndarray:
        if self.comm is None or self.comm.Get_size() == 1:
            return a
        from mpi4py import MPI

        out = np.empty_like(a)
        self.comm.Allreduce(a, out, op=MPI.SUM)
        return out

    def _max(self, v: int) -> int:
        if self.comm is None or self.comm.Get_size() == 1:
            return v
        from mpi4py import MPI

        return int(self.comm.allreduce(v, op=MPI.MAX))

    # --------------------------------------------------------------- sampling
    def start(self, step: int) -> None:
        """Take the current configuration as the origin (collective)."""
        ids, _, _, xu = self._local()
        maxid = self._max(int(ids.max()) if ids.size else 0)
        ref = np.zeros((maxid + 1, 3))
        ref[ids] = xu
        # every atom lives on exactly one rank: the sum assembles the full table
        self.ref = self._sum(ref)
        self.origin_step = int(step)
        self.steps, self.values = [], []

    def sample(self, step: int) -> None:
        """Append the MSD of every species at ``step`` (collective)."""
        if self.ref is None:
            self.start(step)
        ids, sp, _, xu = self._local()
        if ids.size and int(ids.max()) >= self.ref.shape[0]:
            raise RunError("atoms were added after the MSD origin was taken; the MSD "
                           "needs a fixed set of atoms")
        dx = xu - self.ref[ids]
        ns = len(self.species)
        # per species: count, sum |dx|^2, sum dx (3): moments, so one Allreduce assembles them
        buf = np.zeros((ns, 5))
        for s in range(ns):
            sel = sp == s
            buf[s, 0] = np.count_nonzero(sel)
            buf[s, 1] = np.sum(dx[sel] ** 2)
            buf[s, 2:] = dx[sel].sum(axis=0)
        tot = self._sum(buf)
        self.steps.append(int(step))
        self.values.append(species_msd(tot[:, 0], tot[:, 1], tot[:, 2:]))

    # --------------------------------------------------------------- results
    def series(self, timestep: float) -> MSDSeries:
        steps = np.asarray(self.steps, dtype=np.int64)
        origin = self.origin_step if self.origin_step is not None else 0
        msd = np.asarray(self.values).reshape(len(self.steps), len(self.species))
        return MSDSeries(self.species, steps, (steps - origin) * timestep, msd)

    def diffusion(self, timestep: float, units: str) -> dict[str, tuple[float, float]]:
        """{species: (D, error)} in m^2/s."""
        s = self.series(timestep)
        f = diffusion_unit_factor(units)
        out = {}
        for k, name in enumerate(self.species):
            d, e = fit_diffusion(s.time, s.msd[:, k]) if len(s.steps) else (np.nan, np.nan)
            out[name] = (d * f, e * f)
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint (identical on every rank)."""
        return {
            "msd_ref": self.ref if self.ref is not None else np.zeros((0, 3)),
            "msd_origin": np.array(-1 if self.origin_step is None else self.origin_step),
            "msd_steps": np.asarray(self.steps, dtype=np.int64),
            "msd_values": np.asarray(self.values, dtype=float).reshape(len(self.steps),
                                                                       len(self.species)),
        }

    def load_state(self, st: dict[str, np.ndarray]) -> None:
        ref = np.asarray(st["msd_ref"])
        self.ref = ref.copy() if ref.size else None
        origin = int(st["msd_origin"])
        self.origin_step = None if origin < 0 else origin
        self.steps = [int(s) for s in st["msd_steps"]]
        self.values = [np.array(v) for v in st["msd_values"]]
