"""Result objects: :class:`Quantity` and :class:`OnsagerResult` (yaml/npz output).

``onsager.yaml`` (``OnsagerResult.to_dict``) holds plain floats in SI:

- ``kappa``, ``L00``: {value, error, unit} in W m^-1 K^-1;
- two components: ``L01`` (kg m^-1 s^-1 K^-1), ``L11`` (kg s m^-3 K^-1); more than one
  independent mass flux: ``onsager_matrix`` {names, values, errors, units} (k x k);
- ``kappa_k``, ``kappa_p``, ``kappa_kp`` (decomposition L00 = kappa_k + kappa_p + 2 kappa_kp,
  when the kinetic/potential parts were given), ``delta`` = (L00 - kappa)/kappa,
  ``criterion`` (empirical U^2/L11), ``gauge_sensitivity``;
- ``estimator`` {name, parameters}; ``temperature`` (K), ``volume`` (m^3), ``samples``,
  ``dt`` (s), ``input_units`` (the unit system and dt, volume in it), ``species_selection``, ``warnings``.

``onsager.npz`` holds the arrays (``OnsagerResult.arrays``): time (s), correlations
(ndim, nch, nch, nlag) in the input flux units, running Onsager matrix L_t (nlag, nch, nch) in
SI, kappa_t, L00_t and their error bands, channel names; spectra for the cepstral estimator.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .errors import InputError


def _f(x: Any) -> Any:
    """Plain Python scalars/lists for yaml (numpy types, nested containers)."""
    if isinstance(x, dict):
        return {str(k): _f(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_f(v) for v in x]
    if isinstance(x, np.ndarray):
        return _f(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


@dataclass
class Quantity:
    """A number with its standard error and unit (SI unless the unit says otherwise)."""

    value: float
    error: float
    unit: str

    def to_dict(self) -> dict:
        return {"value": float(self.value), "error": float(self.error), "unit": self.unit}

    def __str__(self) -> str:
        if math.isfinite(self.error):
            return f"{self.value:.6g} +/- {self.error:.2g} {self.unit}".rstrip()
        return f"{self.value:.6g} {self.unit}".rstrip()


@dataclass
class OnsagerResult:
    """Thermal conductivity and Onsager coefficients of one analysis (attributes in SI).

    kappa, L00: :class:`Quantity` (W m^-1 K^-1).  L01, L11: for exactly one independent mass
    flux, else None.  onsager_matrix: {names, values, errors, units} of the matrix used for
    kappa (energy flux first), always set.  kappa_k, kappa_p, kappa_kp: decomposition of L00
    when the kinetic and potential parts were given.  delta: (L00 - kappa)/kappa
    (dimensionless).  criterion: the empirical U^2/L11 check (dict) when site energies were
    given.  gauge_sensitivity: how much L00 moves under site-energy shifts while kappa does not
    (dict).  estimator: {"name": ..., "parameters": {...}}.  temperature (K), volume (m^3),
    samples, dt (s), input_units (the unit system, dt and volume in it).  species_selection: which
    species were dropped/excluded/used and why (``single_component`` when there were no mass
    fluxes: stated by the user or assumed, with a warning).  warnings: list of strings (never
    silent).  overrides: facts of a flux file the user replaced ({fact: {file, used}}).  delta is
    None without mass fluxes (kappa = L00 by construction).
    arrays: numpy arrays for ``onsager.npz`` and plots.
    """

    kappa: Quantity
    L00: Quantity
    onsager_matrix: dict
    estimator: dict
    temperature: float
    volume: float
    samples: int
    dt: float
    L01: Optional[Quantity] = None
    L11: Optional[Quantity] = None
    kappa_k: Optional[Quantity] = None
    kappa_p: Optional[Quantity] = None
    kappa_kp: Optional[Quantity] = None
    delta: Optional[Quantity] = None
    criterion: Optional[dict] = None
    gauge_sensitivity: Optional[dict] = None
    input_units: dict = field(default_factory=dict)
    species_selection: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict)
    #: facts of a self-describing flux file replaced on purpose: {fact: {file, used}}
    overrides: dict = field(default_factory=dict)
    #: analysis settings given that differ from those the flux file records:
    #: {setting: {file, used}} (free to change, listed so the result says how it was made)
    analysis_overrides: dict = field(default_factory=dict)
    #: the flux files of a multi-run analysis, each {file, samples, temperature}
    #: (:func:`pyonsager.multirun.analyze_files`); empty for one series
    input_files: list = field(default_factory=list)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict:
        """yaml-ready mapping (plain floats, SI); keys as in ``onsager.yaml``."""
        d: dict = {"kappa": self.kappa.to_dict(), "L00": self.L00.to_dict()}
        if self.L01 is not None:
            d["L01"] = self.L01.to_dict()
        if self.L11 is not None:
            d["L11"] = self.L11.to_dict()
        if len(self.onsager_matrix.get("names", [])) > 2:
            d["onsager_matrix"] = _f(self.onsager_matrix)
        for name in ("kappa_k", "kappa_p", "kappa_kp", "delta"):
            q = getattr(self, name)
            if q is not None:
                d[name] = q.to_dict()
        d["criterion"] = _f(self.criterion)
        d["gauge_sensitivity"] = _f(self.gauge_sensitivity)
        d["estimator"] = _f(self.estimator)
        d["temperature"] = float(self.temperature)
        d["volume"] = float(self.volume)
        d["samples"] = int(self.samples)
        d["dt"] = float(self.dt)
        d["input_units"] = _f(self.input_units)
        d["species_selection"] = _f(self.species_selection)
        if self.overrides:
            d["overrides"] = _f(self.overrides)
        if self.analysis_overrides:
            d["analysis_overrides"] = _f(self.analysis_overrides)
        if self.input_files:
            d["input_files"] = _f(self.input_files)
        d["warnings"] = [str(w) for w in self.warnings]
        return d

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    def write(self, out_dir: str, plots: bool = True) -> list[str]:
        """Write ``onsager.yaml``, ``onsager.npz`` and (``plots``) PNGs into out_dir; return paths.

        Plots come from :func:`pyonsager.plots.write_plots` (imported here, lazily, so that the
        numbers are written even where matplotlib is unavailable).
        """
        paths = []
        try:
            os.makedirs(out_dir, exist_ok=True)
            p = os.path.join(out_dir, "onsager.yaml")
            with open(p, "w") as fh:
                fh.write(self.to_yaml())
            paths.append(p)
            p = os.path.join(out_dir, "onsager.npz")
            with open(p, "wb") as fh:
                np.savez_compressed(fh, **{k: np.asarray(v) for k, v in self.arrays.items()})
            paths.append(p)
        except OSError as exc:                  # the user's output directory, not a bug
            raise InputError(f"cannot write the results to {out_dir}: {exc.strerror or exc}; "
                             "choose another output directory (--out)") from None
        if plots:
            try:
                from pyonsager.plots import write_plots
            except ImportError:
                self.warnings.append("plots not written: pyonsager.plots unavailable")
            else:
                written = write_plots(self, out_dir)
                if written:
                    paths.extend(written)
        return paths

    def table(self) -> str:
        """Human-readable summary (one quantity per line)."""
        rows = [("kappa", self.kappa), ("L00", self.L00)]
        for name in ("L01", "L11", "kappa_k", "kappa_p", "kappa_kp", "delta"):
            q = getattr(self, name)
            if q is not None:
                rows.append((name, q))
        lines = [f"{n:>9}  {q}" for n, q in rows]
        single = (self.species_selection or {}).get("single_component")
        if self.delta is None and single:
            lines.append(f"{'delta':>9}  not measured: no mass fluxes, kappa is L00 by "
                         f"construction (single component: {single})")
        if self.onsager_matrix and len(self.onsager_matrix.get("names", [])) > 2:
            names = self.onsager_matrix["names"]
            vals, errs, units = (self.onsager_matrix[k] for k in ("values", "errors", "units"))
            for i in range(len(names)):
                for j in range(i, len(names)):
                    lines.append(f"  L[{names[i]},{names[j]}]  {vals[i][j]:.6g} "
                                 f"+/- {errs[i][j]:.2g} {units[i][j]}")
        est = self.estimator
        params = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in est.get("parameters", {}).items()
                           if not isinstance(v, (dict, list)))
        lines.append(f"estimator  {est.get('name')} ({params})")
        if self.criterion and self.criterion.get("value") is not None:
            lines.append(f"criterion  U^2/L11 = {self.criterion['value']:.3g} "
                         f"{self.criterion.get('unit', '')} ({self.criterion.get('label', '')})")
        elif self.criterion:
            lines.append(f"criterion  U^2/L11 {self.criterion.get('note', 'not computed')}")
        gs = self.gauge_sensitivity
        if gs and gs.get("shifts"):
            lo, hi = gs.get("L00_range", [float("nan")] * 2)
            whose = (f" (Green-Kubo matrix, L00 = {gs['L00']:.4g})"
                     if gs.get("matrix") == "green-kubo" else "")
            lines.append(f"gauge      L00 in [{lo:.4g}, {hi:.4g}] W m^-1 K^-1 under the shifts "
                         f"reported{whose}; kappa unchanged")
        lines.append(f"samples    {self.samples} x dt {self.dt:.6g} s at "
                     f"T = {self.temperature:.6g} K, V = {self.volume:.6g} m^3")
        for key, o in (self.overrides or {}).items():
            lines.append(f"OVERRIDE   {key} = {o.get('used')} (the flux file records "
                         f"{o.get('file')})")
        for key, o in (self.analysis_overrides or {}).items():
            lines.append(f"ANALYSIS   {key} = {o.get('used')} (the run used {o.get('file')})")
        for w in self.warnings:
            lines.append(f"WARNING    {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
