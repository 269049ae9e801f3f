"""One entry point for reading fluxes from any supported file: :func:`read_any`."""
from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from pyonsager.columns import InputError, read_columns
from pyonsager.fluxes import FluxSeries
from pyonsager.fluxfile import is_fluxfile, read_fluxfile

#: Facts a self-describing ``.onsager`` file records (header, and the mean of its temperature
#: column).  An option that contradicts one is an error unless it is named an override.
HEADER_FACTS = ("units", "dt", "volume", "temperature", "species", "masses")
#: numbers agreeing to this relative tolerance do not contradict (a value typed from a
#: rounded print-out of the header, or of the mean temperature, is the same fact)
FACT_RTOL = 1e-4


def _parse_fact(key: str, value: Any) -> Any:
    """An override or option value in the type of the fact (text from the command line)."""
    if key == "units":
        return str(value)
    if key in ("dt", "volume", "temperature"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(f"override {key}={value!r} is not a number") from None
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [x.strip() if isinstance(x, str) else x for x in items]
    if key == "masses":
        try:
            return [float(x) for x in items]
        except (TypeError, ValueError):
            raise InputError(f"override masses={value!r}: give numbers, e.g. "
                             "masses=107.87,126.90") from None
    return [str(x) for x in items]


def _same_fact(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
        return len(a) == len(b) and all(_same_fact(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=FACT_RTOL, abs_tol=0.0)
    return str(a) == str(b)


def parse_overrides(items: Union[None, Sequence[str], Mapping[str, Any]]) -> dict[str, Any]:
    """``["dt=0.5", "volume=9745"]`` (command line) or a mapping -> {fact: typed value}."""
    if not items:
        return {}
    pairs = list(items.items()) if isinstance(items, Mapping) else []
    if not isinstance(items, Mapping):
        for text in items:
            key, sep, value = str(text).partition("=")
            if not sep or not value.strip():
                raise InputError(f"--override {text!r}: write KEY=VALUE, e.g. --override dt=0.5 "
                                 f"(KEY one of {', '.join(HEADER_FACTS)})")
            pairs.append((key.strip(), value.strip()))
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in HEADER_FACTS:
            raise InputError(f"cannot override {key!r}: overrides are for the facts a flux file "
                             f"records ({', '.join(HEADER_FACTS)}); analysis choices (max lag, "
                             "cutoff, estimator, mobile species ...) are ordinary options")
        out[key] = _parse_fact(key, value)
    return out


def reconcile_facts(path: str, facts: Mapping[str, Any], given: Mapping[str, Any],
                    overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict]]:
    """The one place where options meet the facts a self-describing file records.

    facts: what the file says (None where it says nothing); given: the options (None = not
    given); overrides: facts the user explicitly replaces.  Returns (values to use for the
    facts that change, the record ``{fact: {"file": ..., "used": ...}}`` for onsager.yaml).
    An option that disagrees with a recorded fact and is not an override is an InputError
    naming the override that would make it one; an option that fills a fact the file does not
    record is used as it is.
    """
    use: dict[str, Any] = {}
    record: dict[str, dict] = {}
    for key in HEADER_FACTS:
        fact, value = facts.get(key), given.get(key)
        if key in overrides:
            new = overrides[key]
            if value is not None and not _same_fact(value, new):
                raise InputError(f"{path}: {key} is given as {value!r} and as override "
                                 f"{key}={new!r}: give it once")
            if fact is not None and _same_fact(fact, new):
                continue                          # overriding a fact by itself changes nothing
            use[key] = new
            record[key] = {"file": fact, "used": new}
            continue
        if value is None:
            continue
        if fact is None:
            use[key] = value
        elif not _same_fact(fact, value):
            shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            where = ("the mean of its temperature column" if key == "temperature"
                     else "its header")
            raise InputError(
                f"{path} is a pyonsager flux file whose {key} is {fact!r} ({where}); the given "
                f"{key} {shown} contradicts it.  Leave the option out, or, to analyse with a "
                f"different value on purpose, mark it as an override: --override {key}={shown} "
                f"(in Python: overrides={{'{key}': {value!r}}}); overrides are recorded in "
                "onsager.yaml")
    return use, record


def _apply_facts(series: FluxSeries, use: Mapping[str, Any], record: Mapping[str, dict],
                 path: str) -> FluxSeries:
    if not use and not record:
        return series
    md = series.metadata
    changes: dict[str, Any] = {k: use[k] for k in ("units", "dt", "volume", "temperature")
                               if k in use}
    if "masses" in use:
        if len(use["masses"]) != len(md.species):
            raise InputError(f"{path}: {len(use['masses'])} masses for the {len(md.species)} "
                             f"species {md.species}")
        changes["masses"] = list(use["masses"])
    if record:
        changes["extra"] = {**md.extra, "overrides": dict(record)}
    series = replace(series, metadata=replace(md, **changes))
    if "species" in use:
        new = list(use["species"])
        if len(new) != len(md.species) or len(set(new)) != len(new):
            raise InputError(f"{path}: species override {new} must rename the file's "
                             f"{len(md.species)} species {md.species} one to one")
        ren = dict(zip(md.species, new))
        series = replace(
            series, mass_flux={ren[k]: v for k, v in series.mass_flux.items()},
            site_energy=(None if series.site_energy is None else
                         {ren[k]: v for k, v in series.site_energy.items()}),
            metadata=replace(series.metadata, species=new,
                             mobile=series.metadata.mobile))
    try:
        series.metadata.validate()
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return series


def read_any(path: Union[str, os.PathLike], *, units: Optional[str] = None,
             dt: Optional[float] = None, volume: Optional[float] = None,
             temperature: Optional[float] = None, temperature_column: Optional[str] = None,
             energy_flux: Optional[str] = None, mass_flux: Sequence[str] = (),
             energy_flux_kinetic: Optional[str] = None,
             energy_flux_potential: Optional[str] = None, mass_flux_units: str = "column",
             mobile: Optional[Sequence[str]] = None,
             workers: Optional[int] = None, species: Optional[Sequence[str]] = None,
             masses: Optional[Sequence[float]] = None,
             overrides: Union[None, Sequence[str], Mapping[str, Any]] = None) -> FluxSeries:
    """Read a flux series from our ``.onsager`` file or a LAMMPS column file.

    Our own files (magic first line) record their facts: units, dt, volume, species, masses
    (header) and the temperature (mean of the temperature column).  ``units``, ``dt`` (unit
    system's time unit), ``volume`` (A^3), ``temperature`` (K), ``species`` and ``masses``
    (amu) given here must agree with them (:data:`FACT_RTOL`) or fill what the file does not
    record; a different value is an :class:`InputError` unless it is named in ``overrides``
    (``{"dt": 0.5}`` or ``["dt=0.5"]``), which are used and recorded in
    ``metadata.extra["overrides"]`` (-> ``onsager.yaml`` ``overrides``).  Other files are
    column files (:func:`pyonsager.columns.read_columns`) and need ``energy_flux``, ``units``,
    ``dt``, ``volume`` and ``temperature`` or ``temperature_column``; there every option is a
    fact and ``overrides`` is refused.
    """
    path = os.fspath(path)
    if isinstance(mass_flux, str):          # one KEY given bare, not a list of KEYs
        mass_flux = [mass_flux]
    if not os.path.isfile(path):
        raise InputError(f"no such file: {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read {path}: permission denied")
    if is_fluxfile(path):
        given = {"energy_flux": energy_flux, "mass_flux": list(mass_flux) or None,
                 "energy_flux_kinetic": energy_flux_kinetic,
                 "energy_flux_potential": energy_flux_potential,
                 "temperature_column": temperature_column}
        refused = [k for k, v in given.items() if v]
        if refused:      # an option that does not apply is an error, never silently dropped
            raise InputError(
                f"{path} is a pyonsager flux file, which names its own columns: "
                f"{', '.join('--' + k.replace('_', '-') for k in refused)} (in Python: "
                f"{', '.join(k + '=' for k in refused)}) "
                f"{'applies' if len(refused) == 1 else 'apply'} to column files only; leave "
                f"{'it' if len(refused) == 1 else 'them'} out")
        over = parse_overrides(overrides)
        given = {"units": units, "dt": dt, "volume": volume, "temperature": temperature,
                 "species": None if species is None else [str(x) for x in species],
                 "masses": None if masses is None else [float(m) for m in masses]}
        from pyonsager.fluxfile import read_header

        header = read_header(path)
        # facts the header lacks must come from the options (no contradiction possible)
        missing = {k: over.get(k, given[k]) for k in ("units", "dt", "volume")
                   if header.get(k) is None}
        series = read_fluxfile(path, temperature=_placeholder_temperature(path, given, over),
                               mobile=mobile, workers=workers, **missing)
        use, record = reconcile_facts(path, _file_facts(series), given, over)
        return _apply_facts(series, use, record, path)
    if overrides:
        raise InputError(f"{path} is a column file, which records no facts: pass the values as "
                         "ordinary options (--units, --dt, --volume, --temperature), not "
                         "--override")
    if energy_flux is None:
        raise InputError(f"{path} is a column file: name the energy-flux columns with "
                         "--energy-flux KEY (e.g. flux for c_flux[1..3])")
    return read_columns(path, energy_flux, mass_flux, dt=dt, volume=volume, units=units,
                        temperature=temperature, temperature_column=temperature_column,
                        energy_flux_kinetic=energy_flux_kinetic,
                        energy_flux_potential=energy_flux_potential,
                        mass_flux_units=mass_flux_units, mobile=mobile, workers=workers)


def _file_facts(series: FluxSeries) -> dict[str, Any]:
    """The facts a flux file recorded, as read (temperature: mean of its column, or None)."""
    md = series.metadata
    temps = series.temperature
    return {"units": md.units, "dt": md.dt, "volume": md.volume,
            "temperature": float(np.mean(temps)) if temps is not None and len(temps) else None,
            "species": list(md.species), "masses": None if md.masses is None else list(md.masses)}


def _placeholder_temperature(path: str, given: Mapping[str, Any],
                             over: Mapping[str, Any]) -> Optional[float]:
    """A temperature for files without a temperature column (only then is one needed to read)."""
    from pyonsager.channels import TEMPERATURE
    from pyonsager.columns import scan_header

    if TEMPERATURE in scan_header(path).names:
        return None
    return over.get("temperature", given.get("temperature"))
