"""Tiny LAMMPS systems and YAML configs for the LAMMPS-driver tests (no LAMMPS import here).

A 108-atom binary Lennard-Jones liquid in metal units (Ar/Kr-like parameters, 400 K): fast,
pairwise (per-atom energy and centroid virial available), with two diffusing species.
"""
from __future__ import annotations

import os
from typing import Any

import yaml

LJ_INPUT = """\
units           metal
atom_style      atomic
boundary        p p p
lattice         fcc 5.7
region          box block 0 3 0 3 0 3
create_box      2 box
create_atoms    1 box
set             type 1 type/fraction 2 0.5 12345
mass            1 39.948
mass            2 83.798
pair_style      lj/cut 8.5
pair_coeff      1 1 0.0104 3.40
pair_coeff      2 2 0.0140 3.65
pair_coeff      1 2 0.0121 3.52
pair_modify     shift yes
neighbor        1.0 bin
neigh_modify    every 1 delay 0 check yes
"""

CONFIG: dict[str, Any] = {
    "input": "in.lj",
    "species": ["Ar", "Kr"],
    "temperature": 400,
    "timestep": 0.005,
    "equilibration_steps": 200,
    "thermostat": {"style": "csvr", "damp": 0.1},
    "production_steps": 2000,
    "sample_every": 1,
    "max_lag": 0.25,
    "seed": 1234,
    "output": "out",
    "checkpoint_every": 500,
}


def write_case(directory: str, input_text: str = LJ_INPUT, **overrides: Any) -> str:
    """Write in.lj and cfg.yaml into ``directory``; ``overrides`` replace config keys
    (None removes a key).  Returns the config path."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "in.lj"), "w") as fh:
        fh.write(input_text)
    cfg = dict(CONFIG)
    for k, v in overrides.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    path = os.path.join(directory, "cfg.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return path
