"""Independent runs of one system analysed together: :func:`analyze_files`.

K flux files of independent trajectories (different seeds, replicas of ``pyonsager run
--replicas K``) are combined as independent pieces of one estimate, never as one long series:

* each file's correlations are computed exactly as for a single file
  (:func:`pyonsager.analysis._correlate`, the same on-the-fly correlator and block size), so
  no pair of samples from two different files is ever formed;
* the per-file correlator states are merged (:meth:`OnlineCorrelator.merge`): the raw sums
  and the pair counts add,

      C_ij(k) = sum_r S^(r)_ij(k) / sum_r count^(r)(k),    count^(r)(k) = N_r - k,

  and every file's error segments join the list of segments of the jackknife
  (:func:`pyonsager.greenkubo.jackknife`), so each run contributes its own independent
  pieces to the error estimate;
* the temperature is the sample-weighted mean sum_r N_r T_r / sum_r N_r (and so are the
  mean site energies);
* the spectral estimators (cepstral, likelihood) treat the runs as further equivalent
  components: the selected fluxes of K runs of equal length N become one (N, k, 3K) series,
  i.e. K x 3 independent periodograms (different lengths are refused: their frequency grids
  differ).

The runs must be of the same system and sampled alike: same units, species, masses, channel
layout, time between samples dt (and MD timestep and sampling interval when the files record
them) and volume within :data:`pyonsager.io_dispatch.FACT_RTOL`; anything else is refused
with :class:`pyonsager.errors.MismatchedRuns` naming the fact and both values.  The analysis
settings a file records (header line ``analysis:``) must agree between the files unless the
option is given, which then overrides them all.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from . import units as U
from .analysis import (DEFAULT_WINDOW, MIN_SAMPLES_PER_LAG, SOURCE_FILE, SOURCE_SERIES,
                       _apply_cepstral, _check_fstar, _correlate, _default_max_lag,
                       analyze_correlations)
from .correlator import OnlineCorrelator
from pyonsager.estimators import DEFAULT_ESTIMATOR
from .errors import MismatchedRuns
from .fluxes import FluxMetadata, FluxSeries
from .io_dispatch import FACT_RTOL, _same_fact, read_any
from .result import OnsagerResult

#: options of analyze(path, ...) that go to the reader (read_any), the rest to the analysis
READER_OPTIONS = ("units", "dt", "volume", "temperature", "temperature_column", "energy_flux",
                  "mass_flux", "energy_flux_kinetic", "energy_flux_potential",
                  "mass_flux_units", "mobile", "workers", "species", "masses", "overrides")
ANALYSIS_OPTIONS = ("estimator", "max_lag", "cutoff", "fstar", "pstar", "mobile", "drop",
                    "site_energies", "window", "single_component", "too_few")
#: options of analyze() for arrays only: accepted (as None) so that analyze(files=[...]) can
#: pass its keywords through; a value is an error (a flux file records these itself)
ARRAY_ONLY = ("charge_flux", "counts", "mass_flux_unit")
#: relative spread of the runs' mean temperatures above which a warning says so
TEMPERATURE_SPREAD_WARN = 0.05


def _fmt(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else repr(v)


def check_same_system(paths: Sequence[str], series: Sequence[FluxSeries]) -> None:
    """Refuse runs that are not of the same system, sampled alike (:class:`MismatchedRuns`).

    Compared with the first file: units, species, masses, channel layout, dt, volume
    (relative tolerance :data:`FACT_RTOL`) and, when both files record them, the MD timestep
    and the sampling interval (``timestep``, ``nevery`` header lines).
    """
    check_same_metadata(paths, [s.metadata for s in series], [s.channel_names() for s in series])


def check_same_metadata(labels: Sequence[str], metas: Sequence[FluxMetadata],
                        channels: Sequence[Sequence[str]]) -> None:
    """:func:`check_same_system` on the runs' metadata and channel names (``labels`` name
    the runs in the message: files, sessions)."""
    m0, c0, p0 = metas[0], list(channels[0]), labels[0]
    for path, md, ch in zip(labels[1:], metas[1:], channels[1:]):
        facts = [("units", m0.units, md.units), ("species", list(m0.species), list(md.species)),
                 ("masses", m0.masses, md.masses),
                 ("channels", c0, list(ch)),
                 ("mass_flux_unit", m0.mass_flux_unit, md.mass_flux_unit),
                 ("dt", m0.dt, md.dt), ("volume", m0.volume, md.volume)]
        for key in ("timestep", "nevery"):
            a, b = m0.extra.get(key), md.extra.get(key)
            if a is not None and b is not None:
                facts.append((key, a, b))
        for key, a, b in facts:
            if (a is None) != (b is None) or (a is not None and not _same_fact(a, b)):
                what = {"dt": "time between samples dt",
                        "volume": f"volume (A^3, relative tolerance {FACT_RTOL:g})",
                        "channels": "channel layout (flux columns)",
                        "timestep": "MD timestep", "nevery": "sampling interval (steps)"}
                raise MismatchedRuns(
                    f"{path} is not an independent run of the same system as {p0}: "
                    f"{what.get(key, key)} {_fmt(b)} differs from {_fmt(a)}; combine only runs "
                    "of one system sampled alike (or analyse the files one by one)")


def common_recorded_analysis(paths: Sequence[str], series: Sequence[FluxSeries],
                             given: Mapping[str, Any],
                             unset: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis settings the files record (``analysis:`` header), which must agree
    between the files for every setting not given as an option (:class:`MismatchedRuns`)."""
    from .fluxfile import _same_setting, recorded_analysis

    recs = [recorded_analysis(s.metadata.extra, p) for p, s in zip(paths, series)]
    keys = [k for k in dict.fromkeys(k for r in recs for k in r)]
    common: dict[str, Any] = {}
    for key in keys:
        vals = [r.get(key) for r in recs]
        overridden = key in given and not _same_setting(given[key], unset.get(key))
        if overridden:
            common[key] = vals[0] if vals[0] is not None else next(v for v in vals if v is not None)
            continue
        for p, v in zip(paths[1:], vals[1:]):
            if v is None or vals[0] is None or not _same_setting(v, vals[0]):
                raise MismatchedRuns(
                    f"the flux files record different analysis settings: {key} is "
                    f"{_fmt(vals[0])} in {paths[0]} and {_fmt(v)} in {p}; give "
                    f"--{key.replace('_', '-')} (Python: {key}=...) to analyse them alike")
        common[key] = vals[0]
    return common


def merge_correlators(parts: Sequence[OnlineCorrelator]) -> OnlineCorrelator:
    """One correlator holding the independent runs ``parts`` (none is modified).

    A fresh correlator (no samples, same channels, max lag, block and error grid) merges
    each part in order (:meth:`OnlineCorrelator.merge`): sums and counts add, the parts'
    error segments join in order; no pair spans two parts.
    """
    if not parts:
        raise ValueError("no correlators to merge")
    c0 = parts[0]
    out = OnlineCorrelator(c0.nch, c0.max_lag, block=c0.block, ndim=c0.ndim,
                           max_segments=c0.max_segments, error_points=max(c0.grid.size, 1))
    if out.nfft != c0.nfft or not np.array_equal(out.grid, c0.grid):
        out.nfft, out.grid = c0.nfft, c0.grid.copy()
        out._reset_state()
    for c in parts:
        out.merge(c)
    return out


def merged_metadata(paths: Sequence[str], series: Sequence[FluxSeries],
                    mobile: Optional[Sequence[str]]) -> FluxMetadata:
    """Metadata of the combined runs: the first file's, with the sample-weighted mean
    temperature and site energies and the provenance of every file."""
    n = np.array([len(s) for s in series], dtype=float)
    w = n / n.sum()
    m0 = series[0].metadata
    temperature = float(np.sum(w * np.array([s.metadata.temperature for s in series])))
    site = None
    means = [s.mean_site_energies() for s in series]
    if all(means) and all(set(m) == set(means[0]) for m in means):
        site = {k: float(sum(wi * m[k] for wi, m in zip(w, means))) for k in means[0]}
    extra = {k: v for k, v in m0.extra.items() if k not in ("source", "overrides")}
    extra["source"] = [os.path.abspath(p) for p in paths]
    over = [s.metadata.extra.get("overrides") for s in series]
    if any(over):
        rec: dict[str, dict] = {}
        for o in over:
            for key, r in (o or {}).items():
                rec.setdefault(key, {"file": [], "used": r.get("used")})
        for key in rec:
            rec[key]["file"] = [(o or {}).get(key, {}).get("file") for o in over]
        extra["overrides"] = rec
    return replace(m0, temperature=temperature, site_energies=site, extra=extra,
                   mobile=list(mobile) if mobile is not None else m0.mobile)


def _stacked_arrays(series: Sequence[FluxSeries]) -> list[np.ndarray]:
    """Channel arrays of equal-length runs side by side: each (N, 3K), run r in columns
    3r..3r+2 (the spectral estimators' equivalent components)."""
    per = [s.channel_arrays() for s in series]
    return [np.concatenate([p[i] for p in per], axis=1) for i in range(len(per[0]))]


def analyze_files(paths: Sequence[str], **options: Any) -> OnsagerResult:
    """kappa and the Onsager matrix of independent runs of one system (module docstring).

    paths: two or more flux files (``.onsager``, or LAMMPS column files read with the same
    options).  options: those of :func:`pyonsager.analysis.analyze` for a file (reader
    options such as ``units``, ``dt``, ``overrides``; analysis options such as
    ``estimator``, ``max_lag``, ``cutoff``, ``mobile``, ``drop``), applied to every file.
    Default max lag: min(N_total/50, 10^4, N_min/4 - 1) samples (N_min: the shortest run).
    Returns an :class:`~pyonsager.result.OnsagerResult` whose ``input_files`` lists every file
    with its samples and mean temperature (onsager.yaml ``input_files``).
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("analyze_files needs at least one flux file")
    unknown = sorted(set(options) - set(READER_OPTIONS) - set(ANALYSIS_OPTIONS) - set(ARRAY_ONLY))
    if unknown:
        raise TypeError(f"analyze_files() got unknown options {unknown}")
    given_arrays = [k for k in ARRAY_ONLY if options.get(k) is not None]
    if given_arrays:
        raise ValueError(f"{', '.join(given_arrays)}: options for arrays, not for flux files "
                         "(a file records its channels, counts and mass-flux columns)")
    if len(set(os.path.realpath(p) for p in paths)) != len(paths):
        raise MismatchedRuns("the same flux file is given twice: each run may be used once "
                             "(a run combined with itself is not an independent run)")
    ropts = {k: options[k] for k in READER_OPTIONS if options.get(k) is not None}
    if isinstance(ropts.get("mass_flux"), str):
        ropts["mass_flux"] = [ropts["mass_flux"]]
    series = []
    for p in paths:
        s = read_any(p, **ropts)
        if options.get("masses") is not None and s.metadata.extra.get("format") != "onsager":
            s = s.with_metadata(masses=[float(m) for m in options["masses"]])
        series.append(s)
    check_same_system(paths, series)

    # analysis settings: options, else what the files (all alike) record
    from .fluxfile import resolve_analysis

    md0 = series[0].metadata
    given = dict(estimator=options.get("estimator"), max_lag=options.get("max_lag"),
                 cutoff=options.get("cutoff"), fstar=options.get("fstar"),
                 pstar=options.get("pstar"),
                 mobile=options.get("mobile") if options.get("mobile") is not None else md0.mobile,
                 drop=options.get("drop", "auto"), window=options.get("window", DEFAULT_WINDOW),
                 too_few=options.get("too_few"))
    unset = dict(estimator=None, max_lag=None, cutoff=None, fstar=None, pstar=None, mobile=None,
                 drop="auto", window=DEFAULT_WINDOW, too_few=None)
    recorded = common_recorded_analysis(paths, series, given, unset)
    used, analysis_overrides = resolve_analysis(recorded, given, unset)
    estimator = used["estimator"] or DEFAULT_ESTIMATOR
    if estimator not in ("green-kubo", "cepstral", "likelihood"):
        raise ValueError(f"unknown estimator {estimator!r}: use 'green-kubo', 'cepstral' or "
                         "'likelihood'")
    max_lag, cutoff, fstar, pstar = used["max_lag"], used["cutoff"], used["fstar"], used["pstar"]
    mobile, drop, window = used["mobile"], used["drop"], float(used["window"])
    if mobile is not None:
        mobile = [str(x) for x in mobile]
    lengths = [len(s) for s in series]
    fallback = []
    if used["estimator"] is None and estimator != "green-kubo" and len(set(lengths)) > 1:
        # the default may not refuse what Green-Kubo can do: only an estimator asked for (or
        # recorded in the files) refuses runs of different lengths
        fallback.append(
            f"runs of different lengths ({', '.join(map(str, lengths))} samples): the default "
            f"{estimator} estimator combines runs as equivalent components of one spectrum, "
            "which needs runs of equal length; kappa is the Green-Kubo estimate")
        estimator = "green-kubo"
    if estimator != "green-kubo" and len(set(lengths)) > 1:
        raise MismatchedRuns(
            f"the {estimator} estimator combines runs as equivalent components of one spectrum, "
            f"which needs runs of equal length; these have {', '.join(map(str, lengths))} "
            "samples: use --estimator green-kubo, or runs of equal length")
    md = merged_metadata(paths, series, mobile)
    md.validate()
    if estimator == "cepstral":
        _check_fstar(fstar, md.dt * U.time(md.units))
    names = series[0].channel_names()
    nmin, ntot = min(lengths), sum(lengths)
    if max_lag is None:
        m = max(1, min(_default_max_lag(ntot), nmin // MIN_SAMPLES_PER_LAG - 1))
    else:
        m = int(round(float(max_lag) / md.dt))
    if m < 1:
        raise ValueError(f"max_lag {max_lag} is shorter than the time between samples {md.dt}")
    short = [(p, n) for p, n in zip(paths, lengths) if n < MIN_SAMPLES_PER_LAG * (m + 1)]
    if short:
        p, n = short[0]
        raise ValueError(
            f"too few samples: {p} has {n} samples, which cannot resolve correlations up to "
            f"max_lag = {m} samples ({m * md.dt:.6g}); every run needs at least "
            f"{MIN_SAMPLES_PER_LAG * (m + 1)}: pass a smaller max_lag or leave the short run out")
    parts = []
    for s in series:
        arrays = s.channel_arrays()
        parts.append(_correlate(arrays, len(names), len(s), m, None))
    merged = merge_correlators(parts)
    site_energies = options.get("site_energies")
    source = None
    if site_energies is None and md.site_energies:
        source = SOURCE_FILE if md0.extra.get("format") == "onsager" else SOURCE_SERIES
    res, gk = analyze_correlations(
        merged.result(), md, names, cutoff=cutoff, mobile=mobile, drop=drop,
        site_energies=site_energies, window=window, site_energy_source=source,
        max_lag_auto=max_lag is None, single_component=bool(options.get("single_component")),
        too_few=used["too_few"] or "error")
    if estimator != "green-kubo":
        arrays = _stacked_arrays(series)
        if estimator == "cepstral":
            _apply_cepstral(res, arrays, gk.selected, md, fstar, pstar)
        else:
            from .likelihood import apply_likelihood

            if used["estimator"] is None and len(gk.selected) > arrays[0].shape[1]:
                # as for one run (analysis.analyze_series): the default does not refuse
                fallback.append(
                    f"{len(gk.selected)} independent fluxes and {arrays[0].shape[1]} directions "
                    f"x runs: the default likelihood estimator needs at least as many as "
                    "fluxes; kappa is the Green-Kubo estimate")
            else:
                apply_likelihood(res, arrays, names, gk.selected, md)
    res.warnings.extend(fallback)
    res.analysis_overrides = analysis_overrides
    if md.mass_flux_unit:
        res.input_units["mass_flux_unit"] = md.mass_flux_unit
    temps = np.array([s.metadata.temperature for s in series])
    res.input_files = [{"file": os.path.abspath(p), "samples": int(n), "temperature": float(t)}
                       for p, n, t in zip(paths, lengths, temps)]
    if len(paths) > 1:
        res.estimator.setdefault("parameters", {})["independent_runs"] = len(paths)
        spread = (temps.max() - temps.min()) / temps.mean()
        if spread > TEMPERATURE_SPREAD_WARN:
            res.warnings.append(
                f"the runs' mean temperatures differ by {100 * spread:.1f} % "
                f"({temps.min():.5g}..{temps.max():.5g} K): kappa is reported at their "
                "sample-weighted mean; combine runs of one state point")
    return res
