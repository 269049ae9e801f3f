"""The one finish path of the drivers: from a correlator plus run metadata to the written files.

The LAMMPS session (:mod:`pyonsager.lammps.session`) and the ASE observer
(:mod:`pyonsager.ase.observer`) only *collect*: flux samples into an
:class:`~pyonsager.correlator.OnlineCorrelator` and their flux file, the sampled temperature
into a :class:`TemperatureStats`, per-species MSD points, site-energy sums, warnings.  At the
end each fills one :class:`RunRecord` and calls :func:`finish_run`, which owns everything
after that:

1. diffusion coefficients from the MSD series (:func:`diffusion_coefficients`) and the mobile
   species (:func:`mobile_species`: as given, else from the MSD rule of
   :mod:`pyonsager.diffusion`);
2. the analysis (:func:`analyze_record`): Green-Kubo from the correlator (collective under
   MPI), any other estimator from the stored flux series (rank 0, result broadcast);
3. the files (rank 0): ``OUT/fluxes.onsager`` (copied or moved, its ``analysis:`` header line
   completed with the settings used, so ``pyonsager analyze FILE`` reproduces the run),
   ``onsager.yaml`` written once from :func:`document` (the analysis keys of
   :meth:`OnsagerResult.to_dict` plus the driver keys, the same set from every driver),
   ``onsager.npz``, plots, ``msd.npz``/``msd.png``.

Definitions of the temperature keys (both drivers, :mod:`pyonsager.temperature`):
``temperature_mean`` = (1/n) sum_k T_k with ``error`` the blocking standard error of the mean
(block means of :data:`TEMPERATURE_BLOCK` samples, pairwise averaging, largest SE over the
levels with >= 16 blocks); ``temperature_fluctuation`` = sqrt(sum_k (T_k - <T>)^2 / (n - 1)).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import yaml

from pyonsager.diffusion import (MSDSeries, classify_mobile, diffusion_unit_factor, fit_diffusion,
                                 mobile_rule, species_report, write_msd)
from pyonsager.estimators import DEFAULT_ESTIMATOR
from pyonsager.errors import OverwriteRefused
from pyonsager.fluxes import FluxMetadata
from pyonsager.temperature import BlockMeans, RunningMoments

#: samples per block of the temperature blocking error (both drivers)
TEMPERATURE_BLOCK = 10

#: time unit and site-energy unit of each unit system, as written in onsager.yaml
_TIME_UNIT = {"metal": "ps", "real": "fs", "ase": "ps"}
_ENERGY_UNIT = {"metal": "eV", "real": "kcal/mol", "ase": "eV"}


def _finite(x: Optional[float]) -> Optional[float]:
    return float(x) if x is not None and np.isfinite(x) else None


# --------------------------------------------------------------------------- output directory

def finished_results(out: str) -> bool:
    """True if ``out/onsager.yaml`` holds the results of a finished (not partial) run."""
    path = os.path.join(out, "onsager.yaml")
    if not os.path.isfile(path):
        return False
    try:
        with open(path) as fh:
            doc = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return True      # unreadable: still somebody's results
    return not (isinstance(doc, dict) and doc.get("partial") is True)


def refuse_overwrite(out: str, what: str = "overwrite=True") -> None:
    """Raise :class:`~pyonsager.errors.OverwriteRefused` (a FileExistsError and a UserError:
    one line, exit 2 on the command line) if ``out`` holds a finished run's results."""
    if finished_results(out):
        raise OverwriteRefused(
            f"{out} holds the results of a finished run (onsager.yaml); pass {what} to "
            "replace them, or choose another output directory")


# --------------------------------------------------------------------------- temperature

class TemperatureStats:
    """Running statistics of the sampled instantaneous temperature (K): exact moments
    (:class:`~pyonsager.temperature.RunningMoments`) and block means for the blocking error
    (:class:`~pyonsager.temperature.BlockMeans`); fed by batches, saved in checkpoints."""

    def __init__(self, block: int = TEMPERATURE_BLOCK) -> None:
        self.moments = RunningMoments()
        self.blocks = BlockMeans(block)

    def add(self, t: np.ndarray) -> None:
        self.moments.add(t)
        self.blocks.add(t)

    @property
    def n(self) -> int:
        return self.moments.n

    @property
    def mean(self) -> float:
        """<T> (K); nan before any sample."""
        return self.moments.mean if self.moments.n else float("nan")

    @property
    def std(self) -> float:
        """Sample standard deviation, n - 1 (K)."""
        return self.moments.std

    def standard_error(self) -> float:
        """Blocking standard error of <T> (K); nan with fewer than 16 blocks."""
        return self.blocks.standard_error()

    def state(self) -> dict[str, np.ndarray]:
        return {"temperature": self.moments.state(), "temperature_blocks": self.blocks.state()}

    def load(self, st: Mapping[str, np.ndarray]) -> None:
        self.moments.load(st["temperature"])
        if "temperature_blocks" in st:
            self.blocks.load(st["temperature_blocks"])


def temperature_keys(stats: TemperatureStats, requested: Optional[float],
                     control: Optional[dict]) -> dict:
    """The onsager.yaml temperature keys (definitions in the module docstring); every key is
    present for every driver (``None`` when not applicable)."""
    return {
        "temperature_mean": {"value": _finite(stats.mean), "error": _finite(stats.standard_error()),
                             "unit": "K", "block_samples": int(stats.blocks.size),
                             "description": "mean of the sampled T; error: standard error "
                                            "of the mean from blocking"},
        "temperature_fluctuation": {"value": _finite(stats.std), "unit": "K",
                                    "description": "sample standard deviation (n - 1) of "
                                                   "the sampled instantaneous T"},
        "temperature_requested": {"value": None if requested is None else float(requested),
                                  "unit": "K"},
        "temperature_control": control,
    }


# --------------------------------------------------------------------------- the record

@dataclass
class RunRecord:
    """Everything a driver collected, handed to :func:`finish_run`.

    metadata: units, dt between samples, volume, species, masses, counts, site energies (the
        running mean of the flux file's ``site_energy_*`` columns); ``temperature`` and
        ``mobile`` are filled in by the finish path.
    correlator: the run's :class:`~pyonsager.correlator.OnlineCorrelator`.
    flux_file: the complete flux series the driver wrote (gap-free after a restart).
    temperature: the sampled-T statistics.
    max_lag: longest correlation time (time unit of ``metadata.units``).
    estimator: default estimator of the run; ``options`` are explicit analysis options given
        to ``finish()`` (``cutoff=``, ``estimator=`` ...), recorded in the flux file.
    mobile: the mobile species given by the user, or None (decided from the MSD).
    msd: per-species MSD series, or None.
    run: onsager.yaml ``run`` block (see :func:`run_block`).
    thermostats: ``[{fix, style}]`` of baths active while sampling (``fix`` None for ASE).
    warnings: driver warnings (added to the result's).
    virial_path: potential-flux path ("centroid", "exact", or the ASE adapter's name).
    comm: mpi4py communicator of the run (None: serial).
    """

    metadata: FluxMetadata
    correlator: Any
    flux_file: str
    temperature: TemperatureStats
    max_lag: float
    estimator: str = DEFAULT_ESTIMATOR
    options: dict = field(default_factory=dict)
    channel_names: Optional[list[str]] = None
    mobile: Optional[list[str]] = None
    msd: Optional[MSDSeries] = None
    run: dict = field(default_factory=dict)
    thermostats: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    requested_temperature: Optional[float] = None
    temperature_control: Optional[dict] = None
    virial_path: Optional[str] = None
    partial: bool = False
    comm: Any = None

    @property
    def rank(self) -> int:
        return self.comm.Get_rank() if self.comm is not None else 0


def run_block(*, driver: str, engine: str, engine_version: Any, dynamics: Optional[str],
              potential: Optional[str], first: Optional[int], last: Optional[int], every: int,
              samples: int, timestep: float, units: str, mpi_ranks: int = 1,
              gaps: int = 0) -> dict:
    """The onsager.yaml ``run`` block, the same keys from every driver.

    steps.sampled = last - first + every (the MD steps the samples span); timestep in the
    unit system's time unit; gaps = sample intervals that were not ``every`` steps."""
    sampled = (last - first + every) if first is not None and last is not None else 0
    return {"driver": driver, "engine": {"name": engine, "version": engine_version},
            "dynamics": dynamics, "potential": potential,
            "steps": {"first": first, "last": last, "sampled": sampled, "every": int(every)},
            "samples": int(samples),
            "timestep": {"value": float(timestep), "unit": _TIME_UNIT.get(units, units)},
            "units": units, "mpi_ranks": int(mpi_ranks), "gaps": int(gaps)}


# --------------------------------------------------------------------------- steps

def diffusion_coefficients(msd: Optional[MSDSeries], units: str) -> dict[str, tuple[float, float]]:
    """{species: (D, error)} in m^2/s: D = slope/6 of each species' MSD(t)
    (:func:`pyonsager.diffusion.fit_diffusion`); empty without MSD points."""
    if msd is None or len(msd.steps) == 0:
        return {}
    f = diffusion_unit_factor(units)
    out = {}
    for k, name in enumerate(msd.species):
        d, e = fit_diffusion(np.asarray(msd.time, dtype=float), np.asarray(msd.msd)[:, k])
        out[name] = (d * f, e * f)
    return out


def mobile_species(given: Optional[Sequence[str]],
                   diffusion: Mapping[str, tuple[float, float]]) -> Optional[list[str]]:
    """The mobile species of the analysis: as given, else from the MSD rule
    (:func:`pyonsager.diffusion.classify_mobile`), else None (the analysis decides)."""
    if given is not None:
        return [str(m) for m in given]
    if diffusion:
        return classify_mobile({k: v[0] for k, v in diffusion.items()})
    return None


def analysis_settings(max_lag: float, estimator: str, mobile: Optional[Sequence[str]],
                      options: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """The flux file's ``analysis:`` header line of a run: max lag (time unit of the unit
    system), estimator, mobile species, and the explicit analysis options given."""
    from pyonsager.fluxfile import ANALYSIS_KEYS

    # the drivers keep a run that falls short of the minimum samples, flagged: analyze FILE
    # must apply the same policy to reproduce it
    settings: dict[str, Any] = {"max_lag": float(max_lag), "estimator": estimator,
                                "too_few": "warn"}
    if mobile is not None:
        settings["mobile"] = [str(m) for m in mobile]
    settings.update({k: v for k, v in (options or {}).items()
                     if k in ANALYSIS_KEYS and v is not None})
    settings.setdefault("too_few", "warn")
    return settings


def analysis_metadata(record: RunRecord, mobile: Optional[Sequence[str]]) -> FluxMetadata:
    """The record's metadata with the measured mean temperature and the mobile species."""
    return replace(record.metadata, temperature=record.temperature.mean,
                   mobile=list(mobile) if mobile is not None else None)


def analyze_record(record: RunRecord, meta: FluxMetadata) -> Any:
    """The :class:`~pyonsager.result.OnsagerResult` of the run (collective under MPI).

    Green-Kubo: from the correlator, exactly what :func:`pyonsager.analyze` of the flux file
    gives.  Other estimators need the series: rank 0 analyses the flux file and broadcasts.
    A run already paid for is reported with a shortfall of samples flagged (too_few="warn").
    """
    options = dict(record.options)
    estimator = options.pop("estimator", record.estimator)
    if estimator == "green-kubo":
        from pyonsager.analysis import analyze_correlator

        return analyze_correlator(record.correlator, meta, estimator=estimator,
                                  channel_names=record.channel_names, **options)
    result, error = None, None
    if record.rank == 0:
        from pyonsager.analysis import analyze

        options.setdefault("too_few", "warn")
        try:
            result = analyze(record.flux_file, estimator=estimator, mobile=meta.mobile,
                             temperature=meta.temperature, max_lag=record.max_lag, **options)
            result.analysis_overrides = {}     # the run's own choices, not overrides
        except Exception as exc:   # re-raised on every rank below, not only on rank 0
            if record.comm is None:
                raise
            error = exc
    if record.comm is not None:
        try:
            result, error = record.comm.bcast((result, error), root=0)
        except Exception:         # an exception that does not pickle: keep its text
            result, error = record.comm.bcast(
                (result, None if error is None else RuntimeError(f"{type(error).__name__}: {error}")),
                root=0)
    if error is not None:
        # the same type on every rank: a user error stays one line, a bug keeps its traceback
        raise error
    return result


def document(record: RunRecord, result: Any, diffusion: Mapping[str, tuple[float, float]],
             mobile: Optional[Sequence[str]]) -> dict:
    """onsager.yaml: the analysis keys (:meth:`OnsagerResult.to_dict`) plus the driver keys
    ``species``, ``mobile_rule``, the temperature keys, ``thermostats``, ``virial_path``,
    ``partial`` and ``run`` -- the same keys from every driver."""
    meta = record.metadata
    unit = _ENERGY_UNIT.get(meta.units, meta.units)
    site = meta.site_energies or {}
    extra = {name: {"site_energy_mean": {"value": _finite(site.get(name)), "unit": unit}}
             for name in meta.species}
    doc = result.to_dict()
    doc["species"] = species_report(meta.species, meta.counts, meta.masses, dict(diffusion),
                                    mobile, extra=extra)
    doc["mobile_rule"] = mobile_rule(record.mobile is not None, bool(diffusion))
    doc.update(temperature_keys(record.temperature, record.requested_temperature,
                                record.temperature_control))
    doc["thermostats"] = [dict(t) for t in record.thermostats]
    doc["virial_path"] = record.virial_path
    doc["partial"] = bool(record.partial)
    doc["run"] = dict(record.run)
    return doc


def _write_yaml(path: str, doc: dict) -> None:
    with open(path + ".tmp", "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, default_flow_style=None, width=100)
    os.replace(path + ".tmp", path)


def _write_arrays_and_plots(result: Any, out: str, plots: bool) -> None:
    """onsager.npz and the result's plots (the same files as OnsagerResult.write, without
    its onsager.yaml: ours carries the driver keys and is written once)."""
    with open(os.path.join(out, "onsager.npz"), "wb") as fh:
        np.savez_compressed(fh, **{k: np.asarray(v) for k, v in result.arrays.items()})
    if plots:
        try:
            from pyonsager.plots import write_plots
        except ImportError:
            return
        write_plots(result, out)


@dataclass
class Finished:
    """What :func:`finish_run` produced: the result, the diffusion coefficients, the mobile
    species the analysis used and the path of the written flux file."""

    result: Any
    diffusion: dict
    mobile: Optional[list[str]]
    flux_file: str


def finish_run(record: RunRecord, out: str, plots: bool = True,
               move_flux_file: bool = False) -> Finished:
    """Analyse the record and write ``out/onsager.yaml`` (once), ``onsager.npz``, plots,
    ``msd.*`` and ``out/fluxes.onsager`` (collective under MPI; rank 0 writes).

    ``move_flux_file``: move the driver's flux file into ``out`` (its default location) rather
    than copy it.  The flux file's ``analysis:`` line is completed with the settings used
    (mobile species from the MSD, explicit options), so ``pyonsager analyze`` of it with no
    options reproduces every number of this onsager.yaml.
    """
    diffusion = diffusion_coefficients(record.msd, record.metadata.units)
    mobile = mobile_species(record.mobile, diffusion)
    meta = analysis_metadata(record, mobile)
    settings = analysis_settings(record.max_lag, record.estimator, mobile, record.options)
    result = analyze_record(record, meta)
    result.warnings.extend(w for w in record.warnings if w not in result.warnings)
    out = os.path.abspath(out)
    target = os.path.join(out, "fluxes.onsager")
    if record.rank == 0:
        os.makedirs(out, exist_ok=True)
        if os.path.abspath(record.flux_file) != target:
            shutil.copyfile(record.flux_file, target + ".tmp")
            os.replace(target + ".tmp", target)
            if move_flux_file:
                os.unlink(record.flux_file)
        from pyonsager.fluxfile import set_analysis

        set_analysis(target, settings)
        _write_yaml(os.path.join(out, "onsager.yaml"), document(record, result, diffusion, mobile))
        _write_arrays_and_plots(result, out, plots)
        if record.msd is not None and len(record.msd.steps):
            write_msd(out, record.msd, _TIME_UNIT.get(record.metadata.units, "ps"), diffusion,
                      plots)
    if record.comm is not None:
        record.comm.Barrier()
    return Finished(result, diffusion, mobile, target)
