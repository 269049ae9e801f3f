"""Our self-describing ``.onsager`` flux file (format: docs/design.md, "Flux file format").

::

    # pyonsager flux series 1
    # units: metal
    # dt: 0.01
    # volume: 17173.512
    # species: [Ag, I]
    ...
    # step temperature energy_flux[1] ... mass_flux_Ag[1] ... mass_flux_I[3]
    100 702.3 1.234e+01 ...

Header values are YAML flow scalars/lists; numbers are written with ``%.17g`` so that reading
gives back the written doubles exactly.  The file is flushed after every batch of rows, so a
crash loses at most a partly written last line, which the reader drops with a warning.  The
LAMMPS ``fix onsager`` (C++) writes the same format.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import yaml

from pyonsager import channels as ch
from pyonsager.columns import (InputError, check_finite, check_steps, column_block, data_end,
                               read_table, scan_header)
from pyonsager.fluxes import FluxMetadata, FluxSeries

MAGIC = "# pyonsager flux series 1"

#: Header keys in the order they are written; others follow in the caller's order.
HEADER_ORDER = ("units", "dt", "timestep", "nevery", "volume", "species", "masses", "counts",
                "charge", "group", "lammps_version", "analysis")

#: analysis settings a flux file may record in its ``analysis:`` header line (the driver's
#: on-the-fly choices; times in the file's time unit, fstar in THz), the defaults of
#: ``pyonsager analyze FILE``
#: too_few: the minimum-samples policy ("error", or "warn" for a run that was kept and flagged)
ANALYSIS_KEYS = ("max_lag", "estimator", "cutoff", "fstar", "pstar", "mobile", "drop", "window",
                 "too_few")


#: metadata.extra keys set by the readers (describe the file read, not a file to write)
_READER_KEYS = frozenset({"source", "format", "truncated_last_line", "columns",
                          "mass_flux_columns", "temperature_column"})

# --------------------------------------------------------------------------- columns


_vector = ch.vector


def flux_columns(species: Sequence[str], parts: bool = True, charge: bool = False,
                 site_energy: bool = False) -> list[str]:
    """Column names of a flux file: step, temperature, then 3 per channel (channel order),
    then with ``site_energy`` one ``site_energy_NAME`` per species (mean potential energy per
    atom of that species on that step, unit system's energy unit), as fix onsager writes.
    Alias of ``ChannelLayout(species, parts, charge, site_energy).columns``
    (:mod:`pyonsager.channels`)."""
    return ch.ChannelLayout(tuple(species), parts=parts, charge=charge,
                            site_energy=site_energy).columns


# --------------------------------------------------------------------------- header values


def _format_value(value: Any) -> str:
    """One header value as a YAML flow scalar or list (floats round-trip exactly)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return analysis_text(value)
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value):
            text = repr(value)     # shortest string that reads back exactly
            # YAML 1.1 reads "1e-05" as a string: force a dot into the mantissa
            if "e" in text and "." not in text.split("e")[0]:
                mant, exp = text.split("e")
                text = f"{mant}.0e{exp}"
            return text
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    text = str(value)
    try:
        plain = yaml.safe_load(text) == text and "\n" not in text and "," not in text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)    # JSON strings are YAML flow scalars


def _yaml_scalar(value: Any) -> str:
    """A YAML flow scalar/list without double quotes (it goes inside a quoted LAMMPS arg)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    if isinstance(value, str):
        text = _format_value(value)
        return text if not text.startswith('"') else "'" + value.replace("'", "''") + "'"
    return _format_value(value)


def analysis_text(settings: Mapping[str, Any]) -> str:
    """The ``analysis:`` header value: one YAML flow mapping of the set (non-None) settings,
    in :data:`ANALYSIS_KEYS` order, e.g. ``{max_lag: 2.0, estimator: green-kubo, mobile: [Ag]}``.
    """
    unknown = [k for k in settings if k not in ANALYSIS_KEYS]
    if unknown:
        raise ValueError(f"unknown analysis settings {unknown}: use {', '.join(ANALYSIS_KEYS)}")
    items = [f"{k}: {_yaml_scalar(settings[k])}" for k in ANALYSIS_KEYS
             if settings.get(k) is not None]
    return "{" + ", ".join(items) + "}"


def recorded_analysis(header: Mapping[str, Any], path: str = "flux file") -> dict[str, Any]:
    """The analysis settings a header records ({} when it has no ``analysis:`` line)."""
    rec = header.get("analysis")
    if rec is None:
        return {}
    if not isinstance(rec, Mapping):
        raise InputError(f"{path}: header line 'analysis:' is not a YAML mapping: {rec!r}")
    unknown = [k for k in rec if k not in ANALYSIS_KEYS]
    if unknown:
        raise InputError(f"{path}: header line 'analysis:' has unknown settings {unknown} "
                         f"(known: {', '.join(ANALYSIS_KEYS)})")
    return {str(k): v for k, v in rec.items() if v is not None}


def set_analysis(path: Union[str, os.PathLike], settings: Mapping[str, Any]) -> bool:
    """Make the ``analysis:`` header line of a flux file record ``settings`` (rewrites the file
    through a temporary copy when the line differs; returns whether it did)."""
    path = os.fspath(path)
    line = f"# analysis: {analysis_text(settings)}\n".encode()
    with open(path, "rb") as src:
        head: list[bytes] = []
        for raw in src:
            head.append(raw)
            if not raw.startswith(b"#"):
                break
        data_start = [h for h in head if not h.startswith(b"#")]
        head = [h for h in head if h.startswith(b"#")]
        if not head:
            raise InputError(f"{path}: no flux file header")
        old = [i for i, h in enumerate(head) if h.startswith(b"# analysis:")]
        if old and head[old[0]] == line:
            return False
        if old:
            head[old[0]] = line
        else:                  # before the column names (the last header line)
            head.insert(len(head) - 1, line)
        with open(path + ".tmp", "wb") as dst:
            dst.writelines(head + data_start)
            import shutil

            shutil.copyfileobj(src, dst, 1 << 22)
    os.replace(path + ".tmp", path)
    return True


def _same_setting(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
                and [str(x) for x in a] == [str(x) for x in b])
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def resolve_analysis(recorded: Mapping[str, Any], given: Mapping[str, Any],
                     unset: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict]]:
    """Analysis settings to use: an option left at its ``unset`` value takes the recorded one;
    a given option is used as it is (analysis choices need no override flag).

    Returns (settings, record) with record = ``{key: {"file": recorded, "used": given}}`` for
    every given option that differs from what the file records (onsager.yaml
    ``analysis_overrides``).
    """
    used = dict(given)
    record: dict[str, dict] = {}
    for key, value in given.items():
        if key not in recorded:
            continue
        if _same_setting(value, unset.get(key)):
            used[key] = recorded[key]
        elif not _same_setting(value, recorded[key]):
            record[key] = {"file": recorded[key], "used": value}
    return used, record


def header_from_metadata(meta: FluxMetadata, **extra: Any) -> dict[str, Any]:
    """Header dict for :class:`FluxFileWriter` from flux metadata (plus provenance keys)."""
    header: dict[str, Any] = {"units": meta.units, "dt": meta.dt, "volume": meta.volume,
                              "species": list(meta.species)}
    if meta.masses is not None:
        header["masses"] = list(meta.masses)
    if meta.counts is not None:
        header["counts"] = list(meta.counts)
    # provenance of a file that was read is not a property of the file being written
    header.update({k: v for k, v in meta.extra.items()
                   if k not in _READER_KEYS and _is_scalar_or_list(v)})
    header.update(extra)
    return header


def _is_scalar_or_list(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return all(_is_scalar_or_list(x) for x in v)
    return v is None or isinstance(v, (str, int, float, bool, np.integer, np.floating))


# --------------------------------------------------------------------------- writer


class FluxFileWriter:
    """Append rows to a flux file, flushing after every batch (crash-safe).

    Parameters
    ----------
    path: file to write.
    header: header keys (see docs/design.md; at least units, dt, volume, species), or a
        :class:`FluxMetadata`.
    columns: column names (:func:`flux_columns`); the first two are step and temperature.
    append: continue an existing file (restart): its columns must match; a partial last line
        left by a crash is cut off first.

    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: Union[str, os.PathLike],
                 header: Union[Mapping[str, Any], FluxMetadata], columns: Sequence[str],
                 append: bool = False) -> None:
        self.path = os.fspath(path)
        self.columns = list(columns)
        if isinstance(header, FluxMetadata):
            header = header_from_metadata(header)
        for key in ("units", "dt", "volume"):
            if key not in header:
                raise ValueError(f"flux file header needs {key!r}")
        if append and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            self._file = self._reopen()
        else:
            self._file = open(self.path, "w", encoding="utf-8")
            self._file.write(self._header_text(header))
            self._file.flush()
        self._fmt = " ".join(["%.17g"] * len(self.columns)) + "\n"

    def _header_text(self, header: Mapping[str, Any]) -> str:
        keys = [k for k in HEADER_ORDER if k in header] + \
               [k for k in header if k not in HEADER_ORDER]
        lines = [MAGIC] + [f"# {k}: {_format_value(header[k])}" for k in keys]
        lines.append("# " + " ".join(self.columns))
        return "\n".join(lines) + "\n"

    def _reopen(self):
        if not is_fluxfile(self.path):
            raise InputError(f"{self.path} exists and is not a pyonsager flux file; choose "
                             "another path or remove it")
        names = scan_header(self.path, allow_empty=True).names   # a file with no row yet too
        if names != self.columns:
            raise InputError(f"{self.path} has columns {' '.join(names)}; cannot append rows "
                             f"with columns {' '.join(self.columns)}: write a new file")
        with open(self.path, "rb+") as f:
            data = f.read()
            cut = data.rfind(b"\n") + 1
            if cut < len(data):      # a crash left half a line: drop it before appending
                f.truncate(cut)
        return open(self.path, "a", encoding="utf-8")

    def write_rows(self, rows: Union[np.ndarray, Iterable[Sequence[float]]]) -> None:
        """Append rows (n, ncols) of floats and flush."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != len(self.columns):
            raise ValueError(f"rows must have {len(self.columns)} columns "
                             f"({' '.join(self.columns[:3])} ...), got shape {rows.shape}")
        self._file.write("".join(self._fmt % tuple(r) for r in rows.tolist()))
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "FluxFileWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------- reader


def is_fluxfile(path: Union[str, os.PathLike]) -> bool:
    """True when the file starts with the magic line of our flux format."""
    try:
        with open(path, "rb") as f:
            first = f.readline(len(MAGIC) + 64)
    except OSError:
        return False
    return first.decode("utf-8", errors="replace").strip() == MAGIC


def parse_header(comments: Sequence[str]) -> dict[str, Any]:
    """The ``key: value`` lines among a flux file's header comments (``#`` stripped) as a dict,
    values parsed as YAML (text that is no YAML is kept as text)."""
    header: dict[str, Any] = {}
    for text in comments:
        key, sep, value = text.partition(": ")
        if not sep or " " in key:          # the magic line and the column names line
            continue
        try:
            header[key] = yaml.safe_load(value.strip()) if value.strip() else None
        except yaml.YAMLError:
            header[key] = value.strip()
    return header


def read_header(path: Union[str, os.PathLike]) -> dict[str, Any]:
    """The ``# key: value`` header of a flux file as a dict (values parsed as YAML).

    Works on a file that has no data rows yet (a run that has just started).
    """
    return parse_header(scan_header(os.fspath(path), allow_empty=True).comments)


# --------------------------------------------------------------------------- splicing


def splice(dest: Union[str, os.PathLike], sources: Sequence[Union[str, os.PathLike]], *,
           upto: Optional[int] = None, header_from: int = 0) -> int:
    """Write ``dest``: a flux-file header, then the rows of ``sources`` in order, each source
    adding only its rows whose step is after the last step written so far (and <= ``upto``).

    How a restarted run's file is assembled: the kept prefix, then the continued run's rows.
    The header is that of ``sources[header_from]``, or of the first source that has one;
    missing sources are skipped; a torn last line (a killed write) is dropped.  Rows are
    copied byte for byte (the written doubles stay exact), chunk by chunk, with the step
    column parsed by the flux-file reader.  ``dest`` is written through a temporary file and
    may be one of the sources.  Returns the number of rows written.
    """
    dest = os.fspath(dest)
    paths = [os.fspath(p) for p in sources]
    headers = {p: scan_header(p, allow_empty=True) for p in paths if os.path.isfile(p)}
    order = ([paths[header_from]] if paths and header_from < len(paths) else []) + paths
    first = next((headers[p] for p in order if p in headers and headers[p].data_offset > 0),
                 None)
    if first is None:
        raise InputError(f"{', '.join(paths)}: no flux file header to continue from")
    with open(first.path, "rb") as f:
        head = f.read(first.data_offset)
    last: Optional[float] = None
    written = 0
    with open(dest + ".tmp", "wb") as out:
        out.write(head)
        for p in paths:
            if p not in headers:
                continue
            count, top = _copy_rows(headers[p], out, last, upto)
            written += count
            if top is not None:
                last = top if last is None else max(last, top)
    os.replace(dest + ".tmp", dest)
    return written


def _copy_rows(header: Any, out: Any, after: Optional[float],
               upto: Optional[int]) -> tuple[int, Optional[float]]:
    """Append the rows of one source with after < step <= upto to ``out``; returns (rows
    written, largest step written)."""
    from pyonsager.columns import _CHUNK_BYTES, _parse_chunk, _ranges

    path, names = header.path, header.names
    end, _ = data_end(path, header)
    if end <= header.data_offset:
        return 0, None
    if not names or names[0] != ch.STEP:
        raise InputError(f"{path}: first column is not {ch.STEP!r}; not a pyonsager flux file")
    count, top = 0, None
    with open(path, "rb") as f:
        for a, b in _ranges(header.data_offset, end, path, _CHUNK_BYTES):
            f.seek(a)
            chunk = f.read(b - a)
            steps = _parse_chunk(path, a, chunk, len(names), regular=True)[0]
            raw = np.frombuffer(chunk, dtype=np.uint8)
            stops = np.flatnonzero(raw == 10) + 1
            starts = np.concatenate(([0], stops[:-1])).astype(np.int64)
            # data lines are neither comments nor blank (the parser skips both); blank lines
            # are looked for only when there are more lines than rows
            blank = (np.array([not chunk[i:j].strip() for i, j in zip(starts, stops)], bool)
                     if len(steps) != len(starts) else np.zeros(len(starts), bool))
            rows = np.flatnonzero((raw[starts] != ord("#")) & ~blank)
            if len(rows) != len(steps):
                raise InputError(f"{path}: cannot match the rows after byte {a} to lines")
            keep = np.ones(len(steps), bool)
            if after is not None:
                keep &= steps > after
            if upto is not None:
                keep &= steps <= upto
            sel = rows[keep]
            if not len(sel):
                continue
            # contiguous runs of kept lines are written in one piece
            brk = np.flatnonzero(np.diff(sel) != 1)
            for lo, hi in zip(np.concatenate(([0], brk + 1)), np.concatenate((brk, [len(sel) - 1]))):
                out.write(chunk[starts[sel[lo]]:stops[sel[hi]]])
            count += len(sel)
            m = float(steps[keep].max())
            top = m if top is None else max(top, m)
    return count, top


def read_fluxfile(path: Union[str, os.PathLike], *, units: Optional[str] = None,
                  dt: Optional[float] = None, volume: Optional[float] = None,
                  temperature: Optional[float] = None, mobile: Optional[Sequence[str]] = None,
                  workers: Optional[int] = None) -> FluxSeries:
    """Read a flux file into a :class:`FluxSeries`.

    Keyword arguments override the header (units; dt in the unit system's time unit; volume
    in A^3; temperature in K, default the mean of the temperature column).  NaN/inf rows are
    refused naming the step; a truncated last line is dropped with a warning.
    """
    path = os.fspath(path)
    if not is_fluxfile(path):
        raise InputError(f"{path} is not a pyonsager flux file (first line is not {MAGIC!r})")
    header = read_header(path)
    table = read_table(path, workers=workers)
    check_finite(table)
    if ch.STEP in table.names:
        check_steps(table.data[:, table.names.index(ch.STEP)], path)
    species = [str(s) for s in (header.get("species") or [])]
    meta = _metadata(path, header, table.data, table.names, species,
                     units, dt, volume, temperature, mobile, table.truncated)
    return _series(path, table.data, table.names, species, meta)


def _metadata(path: str, header: dict, data: np.ndarray, names: list[str], species: list[str],
              units, dt, volume, temperature, mobile, truncated: bool) -> FluxMetadata:
    temps = data[:, names.index(ch.TEMPERATURE)] if ch.TEMPERATURE in names else None
    if temperature is None:
        if temps is None:
            raise InputError(f"{path} has no temperature column: pass --temperature")
        temperature = float(np.mean(temps))
    known = {"units", "dt", "volume", "species", "masses", "counts"}
    meta = FluxMetadata(
        units=str(units if units is not None else header.get("units")),
        dt=float(dt if dt is not None else _need(header, "dt", path)),
        volume=float(volume if volume is not None else _need(header, "volume", path)),
        temperature=float(temperature), species=species,
        masses=[float(m) for m in header["masses"]] if header.get("masses") else None,
        counts=[int(c) for c in header["counts"]] if header.get("counts") else None,
        mobile=list(mobile) if mobile else None,
        extra={**{k: v for k, v in header.items() if k not in known},
               "source": os.path.abspath(path), "format": "onsager",
               "truncated_last_line": truncated})
    try:
        meta.validate()
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return meta


def _need(header: dict, key: str, path: str) -> Any:
    if header.get(key) is None:
        raise InputError(f"{path}: header has no {key!r}; pass --{key}")
    return header[key]


def _series(path: str, data: np.ndarray, names: list[str], species: list[str],
            meta: FluxMetadata) -> FluxSeries:
    def vec(name: str, required: bool = True) -> Optional[np.ndarray]:
        cols = ch.vector(name)
        if not all(c in names for c in cols):
            if required:
                raise InputError(f"{path}: columns {name}[1..3] missing (header lists "
                                 f"{' '.join(names)}); the file is damaged or not from pyonsager")
            return None
        return column_block(data, [names.index(c) for c in cols])

    kin, pot = vec(ch.KINETIC, False), vec(ch.POTENTIAL, False)
    # per-species mean site energies: written by fix onsager and the ASE driver; older files
    # have none (then the analysis falls back to user-given site energies)
    site = {s: data[:, names.index(ch.site_column(s))] for s in species
            if ch.site_column(s) in names}
    return FluxSeries(
        energy_flux=vec(ch.ENERGY),
        mass_flux={s: vec(ch.mass_channel(s)) for s in species},
        metadata=meta,
        energy_flux_kinetic=kin if pot is not None else None,
        energy_flux_potential=pot if kin is not None else None,
        charge_flux=vec(ch.CHARGE, False),
        temperature=(data[:, names.index(ch.TEMPERATURE)] if ch.TEMPERATURE in names
                     else None),
        steps=data[:, names.index(ch.STEP)].astype(np.int64) if ch.STEP in names else None,
        site_energy=site if site and len(site) == len(species) else None,
    )
