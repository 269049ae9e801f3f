"""Merge ASE sessions of independent runs: :func:`merge_sessions`.

Several ``attach()`` sessions of independent trajectories of one system (different seeds,
run one after the other or in separate processes of one script) give one estimate whose
error bar uses every run as independent segments, exactly as
:func:`pyonsager.multirun.analyze_files` does for their flux files: the sessions' on-the-fly
correlators are merged (:func:`pyonsager.multirun.merge_correlators`: sums and pair counts add,
no pair spans two runs), the temperature and site energies are sample-weighted means.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from pyonsager.errors import MismatchedRuns


def merge_sessions(sessions: Sequence[Any], out: Optional[str] = None, plots: bool = True,
                   **analysis: Any) -> Any:
    """One :class:`~pyonsager.result.OnsagerResult` from independent ASE sessions.

    sessions: :class:`pyonsager.ase.Session` objects of independent runs of the same system
    (same species, masses, dt between samples, MD timestep, sampling interval, max lag;
    volume within :data:`pyonsager.io_dispatch.FACT_RTOL`), finished or not (buffered samples
    are flushed first); anything else is a :class:`~pyonsager.errors.MismatchedRuns`.
    out: directory for onsager.yaml / onsager.npz / plots (None: write nothing).
    analysis: options of the analysis (``cutoff`` in ps, ``mobile``, ``drop``, ``window``,
    ``too_few``: default "warn" as in the drivers).  Green-Kubo (the correlators); for the
    spectral estimators (``estimator="cepstral"`` or ``"likelihood"``) the sessions' flux files
    are analysed with :func:`pyonsager.multirun.analyze_files`.  Mobile species: the option,
    else the sessions' (given to attach, else decided by each session's MSD; different
    decisions are merged as their union, with a warning).
    """
    from pyonsager.analysis import SOURCE_FILE, analyze_correlations
    from pyonsager.multirun import (TEMPERATURE_SPREAD_WARN, analyze_files, check_same_metadata,
                                    merge_correlators)

    sessions = list(sessions)
    if len(sessions) < 1:
        raise ValueError("merge_sessions needs at least one session")
    if len({id(s) for s in sessions}) != len(sessions):
        raise MismatchedRuns("the same session is given twice: each run may be used once")
    for s in sessions:
        s.flush()
        if s.nsamples < 2:
            raise ValueError(f"session writing {s.file} has {s.nsamples} sample(s): run the "
                             "dynamics before merging")
    labels = [f"session {i} ({s.file})" for i, s in enumerate(sessions)]
    metas = [s.metadata() for s in sessions]
    check_same_metadata(labels, metas, [s.channel_names for s in sessions])
    lags = [s.max_lag for s in sessions]
    if len(set(lags)) > 1:
        raise MismatchedRuns(f"the sessions have different max lags ({', '.join(map(str, lags))} "
                             "samples): attach every run with the same max_lag")
    mobile = analysis.pop("mobile", None)
    warnings: list[str] = []
    if mobile is None:
        decided = [_session_mobile(s) for s in sessions]
        mobile = decided[0]
        if any(d != decided[0] for d in decided):
            mobile = [x for x in sessions[0].species if any(d and x in d for d in decided)]
            warnings.append(f"the sessions decided different mobile species "
                            f"({'; '.join(','.join(d or []) for d in decided)}): their union "
                            f"{','.join(mobile)} is used; pass mobile=[...] to choose")
    estimator = analysis.pop("estimator", sessions[0].estimator)
    analysis.setdefault("too_few", "warn")
    if estimator != "green-kubo":
        result = analyze_files([s.file for s in sessions], estimator=estimator,
                               mobile=mobile, **analysis)
    else:
        n = np.array([s.nsamples for s in sessions], dtype=float)
        w = n / n.sum()
        temps = np.array([m.temperature for m in metas])
        site = {k: float(sum(wi * m.site_energies[k] for wi, m in zip(w, metas)))
                for k in metas[0].site_energies} if all(m.site_energies for m in metas) else None
        from dataclasses import replace

        md = replace(metas[0], temperature=float(np.sum(w * temps)), site_energies=site,
                     mobile=None if mobile is None else list(mobile))
        merged = merge_correlators([s.correlator for s in sessions])
        result, _ = analyze_correlations(merged.result(), md, sessions[0].channel_names,
                                         mobile=mobile, site_energy_source=SOURCE_FILE,
                                         **analysis)
        result.input_files = [{"file": s.file, "samples": int(s.nsamples),
                               "temperature": float(t)} for s, t in zip(sessions, temps)]
        if len(sessions) > 1:
            result.estimator.setdefault("parameters", {})["independent_runs"] = len(sessions)
            spread = (temps.max() - temps.min()) / temps.mean()
            if spread > TEMPERATURE_SPREAD_WARN:
                warnings.append(f"the runs' mean temperatures differ by {100 * spread:.1f} %: "
                                "kappa is reported at their sample-weighted mean")
    result.warnings.extend(warnings)
    if out is not None:
        result.write(os.path.abspath(out), plots=plots)
    return result


def _session_mobile(s: Any) -> Optional[list[str]]:
    """Mobile species of a session: given to attach(), else from its MSD (as finish())."""
    if s.mobile is not None:
        return list(s.mobile)
    from pyonsager.diffusion import classify_mobile

    d = s.diffusion()
    return classify_mobile({k: v[0] for k, v in d.items()}) if d else None
