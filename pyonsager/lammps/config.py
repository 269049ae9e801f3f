"""YAML configuration of ``pyonsager run`` (schema: docs/config.md) and its validation.

Every problem is reported as a :class:`ConfigError` whose message names the config file, the
key and what a valid value looks like; nothing here imports LAMMPS.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml
from pyonsager.errors import ConfigError  # noqa: F401 (re-exported)

#: thermostat styles for equilibration -> LAMMPS fix (all are removed before production)
THERMOSTATS = ("csvr", "langevin", "berendsen", "nose-hoover")
from pyonsager.estimators import DEFAULT_ESTIMATOR, ESTIMATORS  # noqa: F401
#: how the NVE production energy is chosen after equilibration (docs/config.md)
TEMPERATURE_CONTROLS = ("energy", "none")
#: potential heat flux: centroid virial where exact, compute onsager ... exact otherwise
from pyonsager.lammps.virial import EXACT_DIFFERENCES, VIRIAL_CHOICES as VIRIALS  # noqa: E402

_KEYS = {"input", "species", "mobile", "temperature", "timestep", "equilibration_steps",
         "thermostat", "production_steps", "sample_every", "max_lag", "estimator", "seed",
         "output", "checkpoint_every", "temperature_control", "temperature_tolerance",
         "temperature_iterations", "temperature_segment_steps", "virial", "replicas",
         "exact_difference"}


@dataclass
class Thermostat:
    style: str = "csvr"
    damp: Optional[float] = None   # time unit of the unit system; default 100 timesteps


@dataclass
class RunConfig:
    path: str                        # the config file (absolute)
    input: str                       # LAMMPS input (absolute)
    species: list[str]
    temperatures: list[float]
    production_steps: int
    max_lag: float
    mobile: Optional[list[str]] = None
    timestep: Optional[float] = None
    equilibration_steps: int = 0
    thermostat: Thermostat = field(default_factory=Thermostat)
    sample_every: int = 1
    estimator: str = DEFAULT_ESTIMATOR
    seed: int = 4928459
    output: str = "onsager_run"
    checkpoint_every: int = 10000
    temperature_list: bool = False   # the config gave a list (-> kappa(T) table)
    #: "energy": NVE segments + velocity rescaling until the NVE mean T is the request
    temperature_control: str = "energy"
    temperature_tolerance: float = 0.01      # relative, |<T>/T - 1| aimed at
    temperature_iterations: int = 12         # most NVE segments (measure + rescale)
    temperature_segment_steps: int = 2000    # steps per measuring segment (first one)
    virial: str = "auto"             # auto | centroid | exact (pyonsager.lammps.virial)
    exact_difference: str = "central"  # central | forward, when the exact path is used
    #: independent trajectories per temperature, each on its own MPI partition
    #: (pyonsager.lammps.replicas)
    replicas: int = 1

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)


def _err(path: str, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {msg}")


def _int(path: str, d: dict, key: str, default: Any = None, minimum: int = 1) -> int:
    v = d.get(key, default)
    if v is None:
        raise _err(path, key, "required (an integer number of steps)")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v):
        raise _err(path, key, f"must be an integer, got {v!r}")
    if int(v) < minimum:
        raise _err(path, key, f"must be >= {minimum}, got {v}")
    return int(v)


def _pos(path: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise _err(path, key, f"must be a number, got {v!r}")
    if float(v) <= 0:
        raise _err(path, key, f"must be > 0, got {v}")
    return float(v)


def load_config(path: str, production_steps: Optional[int] = None,
                replicas: Optional[int] = None) -> RunConfig:
    """Read and validate a run config; ``production_steps`` and ``replicas`` (command-line
    ``--production-steps``, ``--replicas``) override the file's values."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path) as fh:
            d = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except OSError as exc:                      # unreadable (permissions, a directory ...)
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (input, species, temperature, ...)")
    unknown = sorted(set(d) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: "
                          f"{', '.join(sorted(_KEYS))}")
    base = os.path.dirname(path)

    if not d.get("input"):
        raise _err(path, "input", "required: the LAMMPS input that sets up units, atoms and the "
                                  "potential (path relative to the config)")
    inp = os.path.join(base, str(d["input"]))
    if not os.path.isfile(inp):
        raise _err(path, "input", f"file {inp} does not exist")

    species = d.get("species")
    if (not isinstance(species, list) or not species
            or not all(isinstance(s, str) and s.strip() for s in species)):
        raise _err(path, "species", f"must be a list of names, one per atom type, got {species!r}")

    mobile = d.get("mobile")
    if mobile is not None:
        if not isinstance(mobile, list) or not all(isinstance(s, str) for s in mobile):
            raise _err(path, "mobile", f"must be a list of species names, got {mobile!r}")
        bad = [m for m in mobile if m not in species]
        if bad:
            raise _err(path, "mobile", f"{', '.join(bad)} not in species {species}")

    if "temperature" not in d:
        raise _err(path, "temperature", "required (K, a number or a list of numbers)")
    t = d["temperature"]
    tlist = isinstance(t, list)
    temps = [_pos(path, "temperature", x) for x in (t if tlist else [t])]
    if not temps:
        raise _err(path, "temperature", "empty list")

    timestep = d.get("timestep")
    if timestep is not None:
        timestep = _pos(path, "timestep", timestep)

    th = d.get("thermostat") or {}
    if isinstance(th, str):
        th = {"style": th}
    if not isinstance(th, dict):
        raise _err(path, "thermostat", f"must be a mapping like {{style: csvr, damp: 0.1}}, got {th!r}")
    style = th.get("style", "csvr")
    if style not in THERMOSTATS:
        raise _err(path, "thermostat.style", f"{style!r} unknown; use one of {', '.join(THERMOSTATS)}")
    damp = th.get("damp")
    if damp is not None:
        damp = _pos(path, "thermostat.damp", damp)
    extra = set(th) - {"style", "damp"}
    if extra:
        raise _err(path, "thermostat", f"unknown key(s) {', '.join(sorted(extra))} (style, damp)")

    if production_steps is not None:
        if production_steps < 1:
            raise ConfigError(f"--production-steps must be >= 1, got {production_steps}")
        prod = int(production_steps)
    else:
        prod = _int(path, d, "production_steps")
    every = _int(path, d, "sample_every", 1)
    if "max_lag" not in d:
        raise _err(path, "max_lag", "required: the longest correlation time, in the unit "
                                    "system's time unit (metal: ps, real: fs)")
    max_lag = _pos(path, "max_lag", d["max_lag"])
    estimator = d.get("estimator", DEFAULT_ESTIMATOR)
    if estimator not in ESTIMATORS:
        raise _err(path, "estimator", f"{estimator!r} unknown; use {' or '.join(ESTIMATORS)}")
    seed = _int(path, d, "seed", 4928459)
    ckpt = _int(path, d, "checkpoint_every", 10000, minimum=0)
    virial = d.get("virial", "auto")
    if virial not in VIRIALS:
        raise _err(path, "virial", f"{virial!r} unknown; use one of {', '.join(VIRIALS)} "
                                   "(auto: the centroid virial where it is exact, exact otherwise)")
    difference = d.get("exact_difference", "central")
    if difference not in EXACT_DIFFERENCES:
        raise _err(path, "exact_difference", f"{difference!r} unknown; use central (default, "
                                             "<= 1e-6) or forward (one evaluation, <= ~5e-6)")
    output = d.get("output", "onsager_run")
    if not isinstance(output, str) or not output:
        raise _err(path, "output", f"must be a directory name, got {output!r}")

    control = d.get("temperature_control", "energy")
    if control not in TEMPERATURE_CONTROLS:
        raise _err(path, "temperature_control", f"{control!r} unknown; use "
                                                f"{' or '.join(TEMPERATURE_CONTROLS)}")
    tol = _pos(path, "temperature_tolerance", d.get("temperature_tolerance", 0.01))
    if tol >= 0.5:
        raise _err(path, "temperature_tolerance", f"{tol} is a relative tolerance (0.01 = 1 %); "
                                                  "use a value below 0.5")
    iters = _int(path, d, "temperature_iterations", 12)
    seg = _int(path, d, "temperature_segment_steps", 2000, minimum=100)
    if replicas is not None:
        if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 1:
            raise ConfigError(f"--replicas must be an integer >= 1, got {replicas}")
        nrep = int(replicas)
    else:
        nrep = _int(path, d, "replicas", 1)

    cfg = RunConfig(
        path=path, input=inp, species=[s.strip() for s in species], temperatures=temps,
        production_steps=prod, max_lag=max_lag, mobile=mobile, timestep=timestep,
        equilibration_steps=_int(path, d, "equilibration_steps", 0, minimum=0),
        thermostat=Thermostat(style, damp), sample_every=every, estimator=estimator, seed=seed,
        output=output, checkpoint_every=ckpt, temperature_list=tlist,
        temperature_control=control, temperature_tolerance=tol, temperature_iterations=iters,
        temperature_segment_steps=seg, virial=virial, replicas=nrep,
        exact_difference=difference)
    if every > prod:
        raise _err(path, "sample_every", f"{every} is larger than production_steps {prod}")
    return cfg


def physics_params(cfg: RunConfig, temperature: float) -> dict:
    """Parameters that must match between a checkpoint and the run continuing it."""
    return {"input": cfg.input, "species": list(cfg.species), "temperature": temperature,
            "timestep": cfg.timestep, "sample_every": cfg.sample_every, "max_lag": cfg.max_lag,
            "estimator": cfg.estimator}
