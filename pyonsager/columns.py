"""Reader for whitespace-separated column files: LAMMPS ``fix ave/time`` and ``fix print``.

Two layers:

* :func:`read_table` -- names + float64 rows of any column file (also used for our own
  ``.onsager`` files by :mod:`pyonsager.fluxfile`).  Column names come from the last comment
  line before the data (LAMMPS writes ``# TimeStep c_flux[1] c_flux[2] c_flux[3]``) or from a
  first non-numeric line; when neither names every column the columns are ``col1 .. colN``.
  A truncated last line (a run that crashed while writing) is dropped with a
  :class:`TruncatedFileWarning`; any other malformed line is an :class:`InputError` naming it.
* :func:`read_columns` -- picks the energy flux, mass fluxes and temperature out of a table by
  KEY (see :func:`resolve_key`) and returns a :class:`~pyonsager.fluxes.FluxSeries`.

Speed (benchmarks/bench_reader.py): numbers are parsed chunk by chunk (byte ranges aligned on
line ends) into one preallocated column-major float64 array (peak memory about the kept
columns plus a few chunks).  The parser is, in order of preference:

* the compiled one, ``pyonsager/_fastparse.so`` (plugin/fastparse.cpp, loaded with ctypes,
  built by ``pip install .``): any blanks between fields, comments, the field count of every
  line checked; short tokens (every ``%g`` number) by an exact one-operation fast path, the
  rest by ``std::from_chars``.  The GIL is released during a call, so large files are parsed
  by 2 threads when a core is idle.  A 1e7-row LAMMPS file (0.67 GB) in 1.4-1.9 s CPU, 4-5x
  less than the pandas reader of commit 6b6c697.
* pandas' C tokenizer when the library is missing (or :data:`USE_COMPILED` is off), with a
  single-space separator when the file is written regularly (about 3x faster than generic
  whitespace), else generic whitespace, in worker processes for large files when more than 2
  cores are free;
* numpy's strict ``loadtxt``, which names malformed lines (also the parser without pandas).

A chunk one parser refuses goes to the next, so every path reads the same files the same way;
all give the same doubles, bit for bit (correctly rounded, as Python's float(); tested in
tests/test_reader_paths.py).  ``Table.parsers`` says which parsers read a table.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from pyonsager import channels as ch
from pyonsager.fluxes import FluxMetadata, FluxSeries
from pyonsager.errors import InputError  # noqa: F401 (re-exported)

#: Prefixes LAMMPS puts in front of compute (c_), variable (v_) and fix (f_) outputs.
LAMMPS_PREFIXES = ("c_", "v_", "f_")

#: bytes parsed per call (bounds transient memory); below glibc's largest mmap threshold
#: (32 MB) the parser's buffers are reused from the heap instead of being mapped and
#: page-faulted afresh for every chunk (measured: 8 MB chunks, fewer faults than 32 or 4 MB)
_CHUNK_BYTES = 8 << 20
_PARALLEL_MIN_BYTES = 64 << 20    # below this a process pool costs more than it saves
_THREADED_MIN_BYTES = 32 << 20    # below this the compiled parser runs in one thread
#: Default titles of LAMMPS fixes: sentences, not column names (a 6-column fix print file
#: would otherwise get its columns named "Fix print output for fix ID").
_DEFAULT_TITLES = ("Fix print output for fix", "Time-averaged data for fix")

#: Use the compiled parser (pyonsager/_fastparse.so, built from plugin/fastparse.cpp) when it
#: loads, else pandas' parser when it is installed, else numpy's; all give the same doubles.
#: Tests switch them off to check each path.
USE_COMPILED = True
USE_PANDAS = True
_RANGE_KEY = re.compile(r"^(?P<base>.+)\[(?P<a>\d+)\s*(?::|\.\.|-)\s*(?P<b>\d+)\]$")


class TruncatedFileWarning(UserWarning):
    """The last line of a file was incomplete (a crashed write) and was dropped."""


@dataclass
class TableHeader:
    """What precedes the data: column names, comment lines, where the data starts."""

    path: str
    names: list[str]
    comments: list[str]            # comment lines before the data, '#' and whitespace stripped
    data_offset: int               # byte offset of the first data line
    first_data_line: int           # 1-based line number of the first data line


@dataclass
class Table:
    """Rows of a column file.  ``data`` holds the columns ``names`` (after ``usecols``)."""

    header: TableHeader
    names: list[str]
    data: np.ndarray
    truncated: bool = False
    #: the parsers that read the rows: "compiled", "pandas", "numpy" (sorted)
    parsers: tuple[str, ...] = ()


# --------------------------------------------------------------------------- header


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def scan_header(path: str, allow_empty: bool = False) -> TableHeader:
    """Read the lines before the first data row and decide the column names.

    allow_empty: a file with a header but no complete data row yet (a run that has just
    started) is no error; its names are those of the last comment line and ``data_offset``
    is where the first row will start.
    """
    comments: list[str] = []
    names_line: Optional[list[str]] = None
    offset = 0
    lineno = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(iter(f.readline, b""), start=1):
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                offset += len(raw)
                continue
            if text.startswith("#"):
                comments.append(text.lstrip("#").strip())
                offset += len(raw)
                continue
            tokens = text.split()
            if not all(_is_number(t) for t in tokens):
                if names_line is not None:
                    raise InputError(
                        f"{path}: line {lineno} is neither numbers nor a comment ({text[:60]!r}); "
                        "remove it or start it with '#'")
                names_line = tokens
                offset += len(raw)
                continue
            if not raw.endswith(b"\n"):
                if allow_empty:
                    break
                raise InputError(
                    f"{path}: the only data line ({lineno}) is incomplete; the run wrote no "
                    "complete row -- run longer or check that the run did not crash")
            return _header(path, tokens, comments, names_line, offset, lineno)
    if allow_empty:
        names = names_line or (comments[-1].split() if comments else [])
        return TableHeader(path, names, comments, offset, lineno + 1)
    raise InputError(f"{path}: no data rows found (only comments or empty); check the file name "
                     "and that the run wrote output")


def _header(path: str, first_row: list[str], comments: list[str],
            names_line: Optional[list[str]], offset: int, lineno: int) -> TableHeader:
    ncols = len(first_row)
    _refuse_vector_mode(path, comments)
    if names_line is not None and len(names_line) == ncols:
        names = names_line
    elif (comments and len(comments[-1].split()) == ncols
          and not comments[-1].startswith(_DEFAULT_TITLES)):
        names = comments[-1].split()
    else:
        # fix print's default title ("Fix print output for fix ID") names no column
        names = [f"col{i}" for i in range(1, ncols + 1)]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{path}: column names repeat ({', '.join(dup)}); give each column a "
                         "unique name in the header line")
    return TableHeader(path, names, comments, offset, lineno)


def _refuse_vector_mode(path: str, comments: list[str]) -> None:
    # fix ave/time mode vector writes "# TimeStep Number-of-rows" then blocks of indexed rows
    if any("Number-of-rows" in c for c in comments):
        raise InputError(f"{path} was written by fix ave/time in mode vector; write the fluxes "
                         "with mode scalar (one row per timestep, e.g. c_flux[1] c_flux[2] "
                         "c_flux[3])")


# --------------------------------------------------------------------------- rows


def _data_end(path: str, header: TableHeader) -> tuple[int, bool]:
    """Byte offset just past the last complete data line, and whether a line was dropped."""
    size = os.path.getsize(path)
    ncols = len(header.names)
    with open(path, "rb") as f:
        tail_start = max(header.data_offset, size - (1 << 20))
        f.seek(tail_start)
        tail = f.read()
    if not tail:
        return size, False
    if not tail.endswith(b"\n"):
        cut = tail.rfind(b"\n")
        return (tail_start + cut + 1 if cut >= 0 else header.data_offset), True
    body = tail[:-1]
    cut = body.rfind(b"\n")
    last = body[cut + 1:].decode("utf-8", errors="replace").strip()
    if last and not last.startswith("#"):
        tokens = last.split()
        if len(tokens) != ncols or not all(_is_number(t) for t in tokens):
            return (tail_start + cut + 1 if cut >= 0 else header.data_offset), True
    return size, False


def data_end(path: str, header: TableHeader) -> tuple[int, bool]:
    """Byte offset just past the last complete data line, and whether a torn last line (a
    crashed write) lies beyond it."""
    return _data_end(path, header)


def _ranges(start: int, end: int, path: str, nbytes: int) -> list[tuple[int, int]]:
    """Split [start, end) into ranges of about nbytes that end on a newline."""
    bounds = [start]
    with open(path, "rb") as f:
        pos = start + nbytes
        while pos < end:
            f.seek(pos)
            rest = f.readline()
            pos = min(pos + len(rest), end)
            if pos >= end:
                break
            bounds.append(pos)
            pos += nbytes
    bounds.append(end)
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


# ..................................................... the compiled parser (plugin/fastparse.cpp)

#: Interface version of _fastparse.so this module calls (``fastparse_version()``).
_FASTPARSE_VERSION = 1
#: fastparse_columns' return codes
_FP_OK, _FP_BAD_COUNT, _FP_BAD_TOKEN, _FP_FULL = 0, 1, 2, 3
#: fastparse_columns' flags: 1 = every token through std::from_chars (tests compare it with
#: the default, which reads common tokens by an exact fast path first)
_FP_FLAGS = 0
_fastparse_cache: dict = {}


def fastparse_library_path() -> str:
    """Where the compiled parser is looked for: ``pyonsager/_fastparse.so`` next to this
    module (``pip install .`` and ``python setup.py build_ext --inplace`` put it there)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_fastparse.so")


def _load_fastparse():
    import ctypes

    path = fastparse_library_path()
    try:
        lib = ctypes.CDLL(path)
        version = lib.fastparse_version
    except (OSError, AttributeError) as exc:
        return None, f"{path}: {exc}"
    version.restype = ctypes.c_int
    version.argtypes = []
    if version() != _FASTPARSE_VERSION:
        return None, (f"{path} has interface {version()}, this module needs "
                      f"{_FASTPARSE_VERSION}: rebuild (pip install . or "
                      "python setup.py build_ext --inplace)")
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.fastparse_columns.restype = ctypes.c_int
    lib.fastparse_columns.argtypes = [ptr, i64, ctypes.c_int32, ptr, ptr, i64, i64, i64, ptr,
                                      ctypes.c_int32]
    lib.fastparse_count_lines.restype = i64
    lib.fastparse_count_lines.argtypes = [ptr, i64]
    return lib, None


def compiled_parser():
    """The compiled parser (a ctypes handle on ``_fastparse.so``), or None when it is switched
    off (:data:`USE_COMPILED`) or cannot be loaded (see :func:`compiled_parser_error`)."""
    if not USE_COMPILED:
        return None
    if "lib" not in _fastparse_cache:
        _fastparse_cache["lib"], _fastparse_cache["error"] = _load_fastparse()
    return _fastparse_cache["lib"]


def compiled_parser_error() -> Optional[str]:
    """Why the compiled parser could not be loaded (None when it loads)."""
    if "lib" not in _fastparse_cache:
        _fastparse_cache["lib"], _fastparse_cache["error"] = _load_fastparse()
    return _fastparse_cache["error"]


def _count_lines(lib, buf: np.ndarray, size: int) -> int:
    """Upper bound of the data rows in buf[:size]: its newlines, plus a last unterminated
    line."""
    if size == 0:
        return 0
    return int(lib.fastparse_count_lines(buf.ctypes.data, size)) + (int(buf[size - 1]) != 10)


def _colmap(ncols: int, usecols: Optional[Sequence[int]]) -> np.ndarray:
    """Output column of every field (-1: checked, not kept)."""
    cmap = np.full(ncols, -1, dtype=np.int32)
    cmap[list(range(ncols)) if usecols is None else list(usecols)] = \
        np.arange(ncols if usecols is None else len(usecols), dtype=np.int32)
    return cmap


def _run_compiled(lib, buf: np.ndarray, size: int, ncols: int, cmap: np.ndarray,
                  out: np.ndarray, row0: int, max_rows: int,
                  offset: int = 0) -> tuple[int, np.ndarray]:
    """Parse buf[offset:size] into columns ``out[:, row0:row0 + max_rows]`` (out: C-ordered
    (width, capacity), one contiguous array per column); returns (status, info) with info's
    offsets relative to ``offset``.  The GIL is released during the call (ctypes), so
    threads parse chunks at the same time."""
    info = np.zeros(5, dtype=np.int64)
    status = lib.fastparse_columns(buf.ctypes.data + offset, size - offset, ncols,
                                   cmap.ctypes.data, out.ctypes.data + 8 * row0, 1,
                                   out.shape[1], max_rows, info.ctypes.data, _FP_FLAGS)
    if status < 0:
        raise RuntimeError("fastparse_columns refused its arguments (a bug in pyonsager)")
    return status, info


def _parse_chunk_compiled(lib, path: str, start: int, chunk: bytes,
                          ncols: int) -> Optional[list[np.ndarray]]:
    """The columns of ``chunk`` by the compiled parser; None when the parser refuses a token
    that Python's float() reads (the generic parsers then decide); InputError for a bad
    line."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    n = _count_lines(lib, buf, len(chunk))
    out = np.empty((ncols, max(n, 1)))
    status, info = _run_compiled(lib, buf, len(chunk), ncols, _colmap(ncols, None), out, 0, n)
    if status != _FP_OK:
        if status == _FP_FULL:
            raise RuntimeError("fastparse_columns ran out of rows (a bug in pyonsager)")
        _check_reported_line(path, start, buf, len(chunk), info, ncols)
        return None
    m = int(info[0])
    return [out[j, :m] for j in range(ncols)]


def _check_reported_line(path: str, start: int, buf: np.ndarray, size: int, info: np.ndarray,
                         ncols: int) -> None:
    """The compiled parser stopped at a line: raise an InputError naming it, unless Python's
    float() reads every field of it (a token outside the compiled grammar, e.g. ``1_0``: the
    caller then hands the chunk to the generic parsers, so no path reads what another
    refuses)."""
    off = int(info[3])
    stop = off + int(np.argmax(buf[off:size] == 10)) if (buf[off:size] == 10).any() else size
    text = bytes(buf[off:stop]).decode("utf-8", errors="replace")
    tokens = text.split("#", 1)[0].split()
    if len(tokens) == ncols and all(_is_number(t) for t in tokens):
        return
    lineno = _lines_before(path, start) + int(info[2]) + 1
    raise _bad_line_error(path, lineno, text, tokens, ncols)


def _lines_before(path: str, offset: int) -> int:
    """Newlines in the file before byte ``offset`` (error paths only)."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in _blocks(f, 0, offset))


def _bad_line_error(path: str, lineno: int, text: str, tokens: list[str],
                    ncols: int) -> InputError:
    text = text.strip()
    if len(tokens) == ncols:
        bad = next(t for t in tokens if not _is_number(t))
        what = f"{bad!r} is not a number"
    else:
        what = f"expected {ncols} numbers"
    return InputError(
        f"{path}: line {lineno} has {len(tokens)} fields, {what} ({text[:60]!r}); fix or "
        "delete that line (two runs written into one file?)")


def _default_threads(nbytes: int) -> int:
    """2 threads for a large file when a core is idle, else 1.

    Measured (benchmarks/bench_reader.py) on a 2-core machine kept busy by other jobs: a
    second thread gained no wall time and cost ~0.1 s more CPU per 0.67 GB, so it is used
    only when the load average leaves a core free."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if nbytes < _THREADED_MIN_BYTES or (cores or 1) < 2:
        return 1
    try:
        idle = (cores or 1) - os.getloadavg()[0]
    except OSError:
        idle = 0.0
    return 2 if idle >= 1.0 else 1


def _read_chunk(f, buf: Optional[np.ndarray], a: int, size: int, path: str) -> np.ndarray:
    """Bytes [a, a + size) of the file into ``buf`` (reused when large enough)."""
    if buf is None or len(buf) < size:
        buf = np.empty(max(size, _CHUNK_BYTES + (1 << 16)), dtype=np.uint8)
    f.seek(a)
    view, got = memoryview(buf)[:size], 0
    while got < size:
        n = f.readinto(view[got:])
        if not n:
            raise InputError(f"{path} shrank while being read; read it again")
        got += n
    return buf


def _initial_capacity(lib, buf: np.ndarray, size: int, total: int) -> int:
    # rows <= lines: the first chunk's line density, with a margin (pages never written are
    # never resident)
    return int(total * max(_count_lines(lib, buf, size), 1) / size * 1.05) + 1024


def _fill_compiled_serial(lib, path: str, start: int, end: int, ncols: int,
                          usecols: Optional[Sequence[int]],
                          width: int) -> tuple[np.ndarray, set[str]]:
    """:func:`_fill_compiled` in the calling thread: chunks one after the other into one
    reused buffer, each row straight after the previous one (no line counting, no gaps);
    when the output is full the parser stops, the output grows, the parse resumes."""
    cmap = _colmap(ncols, usecols)
    out: Optional[np.ndarray] = None
    buf: Optional[np.ndarray] = None
    parsers: set[str] = set()
    n = 0
    with open(path, "rb", buffering=0) as f:
        for a, b in _ranges(start, end, path, _CHUNK_BYTES):
            size = b - a
            buf = _read_chunk(f, buf, a, size, path)
            if out is None:
                out = np.empty((width, _initial_capacity(lib, buf, size, end - start)))
            n0, done = n, 0
            while True:
                status, info = _run_compiled(lib, buf, size, ncols, cmap, out, n,
                                             out.shape[1] - n, done)
                n += int(info[0])
                if status != _FP_FULL:
                    break
                done += int(info[1])
                out = _grown(out, n, _count_lines(lib, buf[done:], size - done))
            if status == _FP_OK:
                parsers.add("compiled")
                continue
            # a line the compiled grammar refuses: named, or the chunk to the generic parsers
            info[2] += _count_lines(lib, buf, done) if done else 0
            info[3] += done
            _check_reported_line(path, a, buf, size, info, ncols)
            cols, parser = _parse_chunk_generic(path, a, bytes(buf[:size]), ncols, False)
            m = len(cols[0]) if cols else 0
            if n0 + m > out.shape[1]:
                out = _grown(out, n0, m)
            for k, j in enumerate(range(ncols) if usecols is None else usecols):
                out[k, n0:n0 + m] = cols[j]
            n = n0 + m
            parsers.add(parser)
    if out is None:
        return np.empty((0, width)), parsers
    return out[:, :n].T, parsers


def _grown(out: np.ndarray, n: int, more: int) -> np.ndarray:
    """A larger output holding the first n rows of ``out`` and room for ``more``."""
    grown = np.empty((out.shape[0], max(int(out.shape[1] * 1.25), n + more) + 1024))
    grown[:, :n] = out[:, :n]
    return grown


def _fill_compiled(lib, path: str, start: int, end: int, ncols: int,
                   usecols: Optional[Sequence[int]], width: int,
                   threads: int) -> tuple[np.ndarray, set[str]]:
    """Parse [start, end) with the compiled parser in ``threads`` (>= 2) threads into a
    (n, width) array (column-major).

    The file is read chunk by chunk into a few reused buffers (memory: the output plus
    ``threads + 2`` chunks).  Each chunk's rows go to a block of the output known before it
    is parsed: its newlines are counted first (memchr, a few ms per chunk), so chunks are
    parsed concurrently by ``threads`` threads.  A chunk with fewer rows than lines (comments,
    blank lines) leaves a gap, closed at the end.  A chunk the compiled parser refuses but
    Python's float() reads is parsed by the generic parsers.
    """
    import collections
    import concurrent.futures

    cmap = _colmap(ncols, usecols)
    ranges = _ranges(start, end, path, _CHUNK_BYTES)
    out: Optional[np.ndarray] = None
    spare: list[np.ndarray] = []
    blocks: list[tuple[int, int]] = []          # (first row, rows) of each chunk, in order
    parsers: set[str] = set()
    pending: collections.deque = collections.deque()
    pool = concurrent.futures.ThreadPoolExecutor(threads)

    def finish_one() -> None:
        a, buf, size, row0, nrows, result = pending.popleft()
        status, info = result.result()
        if status == _FP_OK:
            blocks.append((row0, int(info[0])))
            parsers.add("compiled")
        elif status == _FP_FULL:
            raise RuntimeError("fastparse_columns ran out of rows (a bug in pyonsager)")
        else:
            _check_reported_line(path, a, buf, size, info, ncols)
            cols, parser = _parse_chunk_generic(path, a, bytes(buf[:size]), ncols, False)
            m = len(cols[0]) if cols else 0
            if m > nrows:
                raise RuntimeError("generic parser read more rows than lines (a bug)")
            for k, j in enumerate(range(ncols) if usecols is None else usecols):
                out[k, row0:row0 + m] = cols[j]
            blocks.append((row0, m))
            parsers.add(parser)
        spare.append(buf)

    try:
        row = 0
        with open(path, "rb", buffering=0) as f:
            for a, b in ranges:
                size = b - a
                # one chunk queued behind those being parsed while the next one is read
                while not spare and len(pending) > threads:
                    finish_one()
                buf = _read_chunk(f, spare.pop() if spare else None, a, size, path)
                nrows = _count_lines(lib, buf, size)
                if out is None:
                    out = np.empty((width, _initial_capacity(lib, buf, size, end - start)))
                if row + nrows > out.shape[1]:
                    while pending:                  # no thread may write into the old array
                        finish_one()
                    out = _grown(out, row, nrows)
                result = pool.submit(_run_compiled, lib, buf, size, ncols, cmap, out, row, nrows)
                pending.append((a, buf, size, row, nrows, result))
                row += nrows
            while pending:
                finish_one()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if out is None:
        return np.empty((0, width)), parsers
    n = 0
    for row0, m in blocks:                      # close the gaps left by comment lines
        if row0 != n:
            out[:, n:n + m] = out[:, row0:row0 + m]
        n += m
    return out[:, :n].T, parsers


# ..................................................... the generic parsers (pandas, numpy)


def _pandas(enabled: Optional[bool] = None):
    """pandas if installed and enabled (``enabled``, default :data:`USE_PANDAS`): its C
    tokenizer is much faster than numpy's loadtxt."""
    if not (USE_PANDAS if enabled is None else enabled):
        return None
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def is_regular(line: bytes) -> bool:
    """A data line written as ``v1 v2 ... vn\n`` (single spaces, no leading or trailing
    blanks): how LAMMPS fix ave/time, our writers and fix onsager write.  Without the
    compiled parser, a file whose first data line is regular is parsed by pandas with a
    single-space separator (about 3x faster than generic whitespace); a chunk that turns out
    irregular falls back to the generic parser."""
    body = line.rstrip(b"\n")
    return (bool(body) and not body.startswith(b" ") and not body.endswith(b" ")
            and b"  " not in body and b"\t" not in body and b"\r" not in body)


def _parse_regular(pd, chunk: bytes, ncols: int) -> Optional[list[np.ndarray]]:
    """Single-space separated rows, all exactly ``ncols`` numbers, else None.

    With ``na_filter=False`` every irregular line makes pandas fail (an empty field from a
    double or trailing space, a short row: not a float; a long row: too many fields; "nan":
    not a float), so a result is exactly the numbers of every line.  The column count is
    taken from the first line and checked (``names=`` would turn one extra leading field of
    every row into an index instead of failing).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_csv(io.BytesIO(chunk), sep=" ", header=None, dtype=np.float64,
                                na_filter=False, engine="c",
                                comment="#" if b"#" in chunk else None)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if frame.shape[1] != ncols:
        return None
    # one contiguous float64 array per column (no interleaved copy of the frame)
    return [frame[j].to_numpy(dtype=np.float64, copy=False) for j in range(ncols)]


def _parse_whitespace(pd, chunk: bytes, ncols: int) -> Optional[np.ndarray]:
    """Any whitespace between fields; None when a row is short or long (pandas fills short
    rows with NaN instead of failing, so any NaN sends the chunk to the strict parser, which
    names malformed lines and reads real NaNs exactly)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = pd.read_csv(io.BytesIO(chunk), sep=r"\s+", header=None, comment="#",
                               dtype=np.float64, engine="c").to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if rows.ndim != 2 or rows.shape[1] != ncols or np.isnan(rows).any():
        return None
    return rows


def _parse_chunk(path: str, start: int, chunk: bytes, ncols: int,
                 regular: bool) -> list[np.ndarray]:
    """The ``ncols`` columns (1-D float64 arrays) of the complete lines in ``chunk`` (file
    offset ``start``).

    All columns are parsed (not only those kept) so that every row is checked to have
    exactly ncols fields: a crashed write glued to the next row must not pass silently.
    The compiled parser first, then the generic ones (:func:`_parse_chunk_generic`); a
    malformed line is an InputError naming it.
    """
    lib = compiled_parser()
    if lib is not None:
        cols = _parse_chunk_compiled(lib, path, start, chunk, ncols)
        if cols is not None:
            return cols
    return _parse_chunk_generic(path, start, chunk, ncols, regular)[0]


def _parse_chunk_generic(path: str, start: int, chunk: bytes, ncols: int, regular: bool,
                         use_pandas: Optional[bool] = None) -> tuple[list[np.ndarray], str]:
    """:func:`_parse_chunk` without the compiled parser; also names the parser that read the
    chunk ("pandas" or "numpy").  pandas first (single space, then any whitespace), numpy's
    strict loadtxt last (use_pandas: default :data:`USE_PANDAS`)."""
    pd = _pandas(use_pandas)
    rows = None
    parser = "pandas"
    if pd is not None:
        if regular:
            cols = _parse_regular(pd, chunk, ncols)
            if cols is not None:
                return cols, parser
        rows = _parse_whitespace(pd, chunk, ncols)
    if rows is None:
        parser = "numpy"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # a chunk of comments only is no error
                rows = np.loadtxt(io.BytesIO(chunk), dtype=np.float64, comments="#", ndmin=2)
        except ValueError:
            rows = None
        if rows is None or (rows.size and rows.shape[1] != ncols):
            _raise_bad_line(path, start, chunk, ncols)
    if rows.size == 0:
        return [np.empty(0) for _ in range(ncols)], parser
    return [rows[:, j] for j in range(ncols)], parser


def _parse_range(path: str, start: int, end: int, ncols: int,
                 usecols: Optional[Sequence[int]], regular: bool = False,
                 use_pandas: Optional[bool] = None) -> tuple[list[np.ndarray], str]:
    """The kept columns (``usecols``, default all) of the complete lines in bytes
    [start, end), and the parser that read them (a worker process's unit of work: it gets
    the caller's ``use_pandas``, not its own module default)."""
    with open(path, "rb") as f:
        f.seek(start)
        chunk = f.read(end - start)
    cols, parser = _parse_chunk_generic(path, start, chunk, ncols, regular, use_pandas)
    return (cols if usecols is None else [cols[j] for j in usecols]), parser


def _raise_bad_line(path: str, start: int, chunk: bytes, ncols: int) -> None:
    """Find the malformed line of a chunk (slow path, errors only) and raise naming it."""
    lines_before = _lines_before(path, start)
    for i, raw in enumerate(chunk.split(b"\n")):
        text = raw.decode("utf-8", errors="replace")
        tokens = text.split("#", 1)[0].split()
        if not tokens:
            continue
        if len(tokens) != ncols or not all(_is_number(t) for t in tokens):
            raise _bad_line_error(path, lines_before + i + 1, text, tokens, ncols)
    raise InputError(f"{path}: could not parse the data after byte {start}")


def _blocks(f, start: int, end: int):
    f.seek(start)
    pos = start
    while pos < end:
        block = f.read(min(_CHUNK_BYTES, end - pos))
        if not block:
            return
        pos += len(block)
        yield block


def _default_workers(nbytes: int) -> int:
    # spawning workers pays off only for big files and with cores to spare (measured: on a
    # busy 2-core machine two workers were slower than one)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if nbytes < _PARALLEL_MIN_BYTES or (cores or 1) <= 2:
        return 1
    return min(4, cores)


def _parse_all(path: str, start: int, end: int, ncols: int,
               usecols: Optional[Sequence[int]],
               workers: Optional[int]) -> tuple[np.ndarray, set[str]]:
    """Parse [start, end) into one float64 (n, width) array, filled chunk by chunk, and name
    the parsers that read it ("compiled", "pandas", "numpy").

    The array is column-major (each column contiguous, as the parsers produce them and as the
    correlator and FFTs read them).  Peak memory is about the result plus a few chunks: the
    array is allocated for the file's size at the first chunk's row density plus a margin
    (pages never written are never resident); a file whose later lines are shorter grows
    it.  workers: threads of the compiled parser, else worker processes of the generic
    parsers (None: chosen by file size and cores).
    """
    width = len(usecols) if usecols is not None else ncols
    lib = compiled_parser()
    with _no_hugepages():
        if lib is not None:
            threads = _default_threads(end - start) if workers is None else workers
            if usecols is not None and len(set(usecols)) != len(usecols):
                # a column kept twice: parse it once, repeat it after
                uniq = list(dict.fromkeys(usecols))
                data, parsers = _parse_all(path, start, end, ncols, uniq, threads)
                return data[:, [uniq.index(j) for j in usecols]], parsers
            if threads <= 1:
                return _fill_compiled_serial(lib, path, start, end, ncols, usecols, width)
            return _fill_compiled(lib, path, start, end, ncols, usecols, width, threads)
        with open(path, "rb") as f:
            f.seek(start)
            first = f.readline()
        regular = is_regular(first)
        if workers is None:
            workers = _default_workers(end - start)
        return _fill(path, start, end, ncols, usecols, workers, width, regular)


@contextlib.contextmanager
def _no_hugepages():
    """numpy asks for transparent huge pages for large arrays; on a machine whose memory is
    fragmented the kernel then compacts memory on the first touch of each 2 MB page, which
    doubled the system time of filling a 1e7-row table (measured 1.2-1.4 s -> 0.6-0.7 s
    without).  The output is written once, sequentially: small pages lose nothing there."""
    setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None),
                     "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)


def _fill(path: str, start: int, end: int, ncols: int, usecols: Optional[Sequence[int]],
          workers: int, width: int, regular: bool) -> tuple[np.ndarray, set[str]]:
    ranges = _ranges(start, end, path, _CHUNK_BYTES)
    buf: Optional[np.ndarray] = None             # (width, capacity): columns contiguous
    n = 0
    parsers: set[str] = set()
    for (a, b), (cols, parser) in zip(ranges, _map_ranges(path, ranges, ncols, usecols,
                                                          workers, regular)):
        parsers.add(parser)
        m = len(cols[0]) if cols else 0
        if buf is None:
            per_byte = max(m, 1) / max(b - a, 1)
            buf = np.empty((width, int((end - start) * per_byte * 1.05) + 1024))
        if n + m > buf.shape[1]:
            grown = np.empty((width, int(buf.shape[1] * 1.25) + m))
            grown[:, :n] = buf[:, :n]
            buf = grown
        for j, col in enumerate(cols):
            buf[j, n:n + m] = col
        n += m
    if buf is None:
        return np.empty((0, width)), parsers
    return buf[:, :n].T, parsers


def _map_ranges(path: str, ranges: list[tuple[int, int]], ncols: int,
                usecols: Optional[Sequence[int]], workers: int, regular: bool = False):
    """Parsed columns of the byte ranges and their parser, in order (in worker processes
    when workers > 1: threads do not help, pandas' number conversion holds the GIL --
    measured)."""
    if workers <= 1 or len(ranges) < 2 or not _spawn_safe():
        for a, b in ranges:
            yield _parse_range(path, a, b, ncols, usecols, regular)
        return
    import concurrent.futures
    import multiprocessing

    # spawn, not fork: the caller may hold MPI or threads that a fork would copy half-way
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_parse_range, path, a, b, ncols, usecols, regular, USE_PANDAS)
                   for a, b in ranges]
        for fut in futures:
            yield fut.result()


def _spawn_safe() -> bool:
    # spawned workers re-import __main__ from its file: impossible for `python - <script`
    import sys

    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.isfile(main_file)


def read_table(path: str, usecols: Optional[Sequence[str]] = None,
               workers: Optional[int] = None) -> Table:
    """Read a whitespace-separated column file.

    Parameters
    ----------
    path: file to read.
    usecols: names of the columns to keep (all when None); parsing cost is the same, memory
        is only what is kept.
    workers: threads of the compiled parser (default 2 from 32 MB when the load average
        leaves a core idle, else 1); without it, processes of the generic parsers (default 1
        below 64 MB or with <= 2 cores, else min(4, cores)).

    A truncated last line is dropped with a :class:`TruncatedFileWarning`.  Rows are not
    checked for NaN/inf here (see :func:`check_finite`).  ``Table.parsers`` names the
    parsers that read the rows.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"no such file: {path}")
    header = scan_header(path)
    idx = None if usecols is None else [header.names.index(n) for n in usecols]
    if idx == list(range(len(header.names))):
        idx = None                       # every column in file order: no column copy
    end, truncated = _data_end(path, header)
    data, parsers = _parse_all(path, header.data_offset, end, len(header.names), idx, workers)
    if truncated:
        warnings.warn(f"{path}: the last line was incomplete (a run stopped while writing?) and "
                      f"was dropped; {len(data)} complete rows read", TruncatedFileWarning,
                      stacklevel=2)
    if len(data) == 0:
        raise InputError(f"{path}: no complete data rows; run longer or check the file")
    names = list(header.names) if usecols is None else list(usecols)
    return Table(header, names, data, truncated, tuple(sorted(parsers)))


def check_finite(table: Table, columns: Optional[Sequence[str]] = None) -> None:
    """Refuse NaN/inf in ``columns`` (default all), naming the first bad row and its step."""
    cols = list(range(len(table.names))) if columns is None else \
        [table.names.index(c) for c in columns]
    block = 1 << 18              # rows per check: no full-size temporary for 1e7-row files
    for start in range(0, len(table.data), block):
        part = table.data[start:start + block]
        part = part if columns is None else part[:, cols]
        # NaN and inf propagate into the sum: a finite sum proves a finite block at the cost
        # of one pass (an overflowing sum of finite values only sends it to the exact test)
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.sum(part)):
                continue
        bad = ~np.isfinite(part).all(axis=1)
        if bad.any():
            _raise_non_finite(table, cols, start + int(np.argmax(bad)))


def _raise_non_finite(table: Table, cols: list[int], row: int) -> None:
    values = table.data[row, cols]
    col = table.names[cols[int(np.argmax(~np.isfinite(values)))]]
    nbad = int(sum((~np.isfinite(table.data[a:a + (1 << 18)][:, cols]).all(axis=1)).sum()
                   for a in range(0, len(table.data), 1 << 18)))
    where = f"data row {row + 1}"
    step = _step_of_row(table, row)
    if step is not None:
        where += f" (step {step})"
    raise InputError(
        f"{table.header.path}: {where} has a non-finite value in {col} "
        f"({nbad} bad rows in all); the simulation blew up there -- cut the file "
        "before that row or rerun with a smaller timestep")


def check_steps(steps: Optional[np.ndarray], path: str) -> Optional[str]:
    """Warn (and return the message) when the step column is not evenly spaced.

    The analysis assumes one row every dt; a restarted run appended to the file (repeated or
    backwards steps) or a gap silently distorts the correlations, so the user is told where.
    """
    if steps is None or len(steps) < 3:
        return None
    d0 = steps[1] - steps[0]
    i = 1 if d0 <= 0 else _first_uneven_step(steps, d0)
    if i is None:
        return None
    msg = (f"{path}: steps are not evenly spaced (data row {i + 1}: step {int(steps[i - 1])} -> "
           f"{int(steps[i])}, expected +{int(d0)}); the rows are analysed as if one dt apart "
           "-- remove repeated rows of a restarted run or analyse the stretches separately")
    warnings.warn(msg, UserWarning, stacklevel=3)
    return msg


def _first_uneven_step(steps: np.ndarray, d0: float) -> Optional[int]:
    """The first row i with steps[i] - steps[i-1] != d0, or None; block by block (no
    full-length temporary for a 1e7-row file)."""
    block = 1 << 18
    for a in range(0, len(steps) - 1, block):
        d = np.diff(steps[a:a + block + 1])
        bad = np.flatnonzero(d != d0)
        if len(bad):
            return a + int(bad[0]) + 1
    return None


def _step_of_row(table: Table, row: int) -> Optional[int]:
    names = [n.lower() for n in table.names]
    for key in ("timestep", "step", "time"):
        if key in names:
            value = table.data[row, names.index(key)]
            return int(value) if np.isfinite(value) and value == int(value) else None
    return None


# --------------------------------------------------------------------------- keys


def _strip_prefix(name: str) -> str:
    for p in LAMMPS_PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def _single(key: str, names: Sequence[str]) -> Optional[str]:
    if key in names:
        return key
    for p in LAMMPS_PREFIXES:
        if p + key in names:
            return p + key
    return None


def resolve_key(key: str, names: Sequence[str], path: str = "") -> list[str]:
    """Column names selected by KEY.

    * ``flux`` -> ``c_flux[1] c_flux[2] c_flux[3]`` (prefix ``c_``/``v_``/``f_`` optional;
      also ``flux[1..3]`` written by other tools);
    * ``c_flux[4:6]`` (or ``[4..6]``, ``[4-6]``) -> three columns of a longer vector;
    * ``jx,jy,jz`` -> those columns (one or three, comma separated);
    * a full column name -> that column alone: a flux along one direction only.
    """
    key = key.strip()
    if "," in key:
        parts = [k.strip() for k in key.split(",") if k.strip()]
        cols = [_single(k, names) for k in parts]
        missing = [k for k, c in zip(parts, cols) if c is None]
        if missing:
            raise _missing(missing[0], names, path)
        if len(cols) not in (1, 3):
            raise InputError(f"key {key!r} names {len(cols)} columns; name 3 (x,y,z) or 1")
        return cols
    m = _RANGE_KEY.match(key)
    if m and _single(m["base"] + f"[{m['a']}]", names) is not None:
        a, b = int(m["a"]), int(m["b"])
        cols = [_single(f"{m['base']}[{i}]", names) for i in range(a, b + 1)]
        if len(cols) != 3 or None in cols:
            raise InputError(f"key {key!r} must select 3 existing columns (e.g. c_flux[4:6])")
        return cols
    single = _single(key, names)
    if single is not None:
        return [single]
    for p in ("",) + LAMMPS_PREFIXES:
        cols = [f"{p}{key}[{i}]" for i in (1, 2, 3)]
        if all(c in names for c in cols):
            return cols
    raise _missing(key, names, path)


def _missing(key: str, names: Sequence[str], path: str) -> InputError:
    listing = ", ".join(available_keys(names))
    if len(listing) > 400:
        listing = listing[:400] + " ..."
    where = f" in {path}" if path else ""
    return InputError(f"no column or key {key!r}{where}; available: {listing}")


def available_keys(names: Sequence[str]) -> list[str]:
    """Column names, with ``c_X[1] c_X[2] c_X[3] ...`` shown once as ``c_X[1..n]``."""
    out: list[str] = []
    seen: set[str] = set()
    for n in names:
        m = re.match(r"^(.*)\[(\d+)\]$", n)
        if m is None:
            out.append(n)
            continue
        base = m[1]
        if base in seen:
            continue
        seen.add(base)
        count = sum(1 for x in names if re.match(re.escape(base) + r"\[\d+\]$", x))
        out.append(f"{base}[1..{count}]" if count > 1 else n)
    return out


def _species_name(key: str) -> str:
    name, _, _ = key.partition("[")
    return _strip_prefix(name.split(",")[0].strip()) or key


def parse_mass_flux_keys(keys: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=KEY`` or ``KEY`` -> (species name, key); names default to the key, made unique."""
    out: list[tuple[str, str]] = []
    for key in keys:
        name, eq, rest = key.partition("=")
        species, key = (name.strip(), rest.strip()) if eq else (_species_name(key), key)
        base, k = species, 2
        while species in [s for s, _ in out]:
            species, k = f"{base}_{k}", k + 1
        out.append((species, key))
    return out


# --------------------------------------------------------------------------- FluxSeries


def _require_positive(value: Optional[float], what: str, option: str) -> float:
    if value is None:
        raise InputError(f"{what} is required for a column file: pass {option}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be positive, got {value}: pass {option}")
    return value


def read_columns(path: str, energy_flux: str, mass_flux: Sequence[str] = (), *,
                 dt: Optional[float] = None, volume: Optional[float] = None,
                 units: Optional[str] = None, temperature: Optional[float] = None,
                 temperature_column: Optional[str] = None,
                 energy_flux_kinetic: Optional[str] = None,
                 energy_flux_potential: Optional[str] = None,
                 mass_flux_units: str = "column", mobile: Optional[Sequence[str]] = None,
                 workers: Optional[int] = None) -> FluxSeries:
    """Read fluxes from a LAMMPS ``fix ave/time`` / ``fix print`` file.

    Parameters
    ----------
    energy_flux, energy_flux_kinetic, energy_flux_potential: KEYs (:func:`resolve_key`) of the
        extensive energy flux and its parts, in the unit system's units (metal: eV A/ps).
    mass_flux: KEYs, one per species, optionally ``NAME=KEY`` (species name; default derived
        from the key).  Each may be any quantity *proportional* to the species' mass flux
        (e.g. ``compute vcm`` of the species): kappa is unchanged.
    mass_flux_units: ``"column"`` (default): the columns are proxies; L01 and L11 are then in
        the columns' own unit (``metadata.mass_flux_unit = "column unit"``; which columns is in
        ``metadata.extra["mass_flux_columns"]``).  ``"mass"``: they are true extensive mass
        fluxes (metal: amu A/ps; real: g/mol A/fs).  Any other string names the columns' unit
        (e.g. ``"A/ps"`` for compute vcm in metal units) and is reported as such.
    dt: time between rows (metal: ps, real: fs).  volume: A^3.  units: "metal" or "real".
    temperature: K; or temperature_column: the KEY of a column whose mean is used.

    Every flux needs 3 columns (x, y, z): a KEY naming a single column must be part of a
    three-column list (``jx,jy,jz``); the analysis averages over the three directions.
    """
    if units not in ("metal", "real", "ase"):
        raise InputError(f"unit system {units!r} unknown: pass --units metal or --units real")
    dt = _require_positive(dt, "the time between rows", "--dt (metal: ps, real: fs)")
    volume = _require_positive(volume, "the volume", "--volume in A^3")
    if (temperature is None) == (temperature_column is None):
        raise InputError("give exactly one of --temperature T (K) or --temperature-column NAME")
    if (energy_flux_kinetic is None) != (energy_flux_potential is None):
        raise InputError("give both --energy-flux-kinetic and --energy-flux-potential, or neither")
    if not mass_flux_units or not str(mass_flux_units).strip():
        raise InputError("mass_flux_units must be 'column', 'mass' or a unit name such as A/ps")

    header = scan_header(os.fspath(path))
    names = header.names
    # selected columns per channel name (pyonsager.channels)
    sel: dict[str, list[str]] = {ch.ENERGY: resolve_key(energy_flux, names, path)}
    if energy_flux_kinetic is not None:
        sel[ch.KINETIC] = resolve_key(energy_flux_kinetic, names, path)
        sel[ch.POTENTIAL] = resolve_key(energy_flux_potential, names, path)
    species = parse_mass_flux_keys(mass_flux)
    for s, key in species:
        sel[ch.mass_channel(s)] = resolve_key(key, names, path)
    _check_widths(sel)
    tcol = None
    if temperature_column is not None:
        tcols = resolve_key(temperature_column, names, path)
        if len(tcols) != 1:
            raise InputError(f"--temperature-column {temperature_column!r} selects "
                             f"{len(tcols)} columns; name one column (e.g. {tcols[0]})")
        tcol = tcols[0]
    step_col = next((n for n in names if n.lower() in ("timestep", "step")), None)

    wanted = list(dict.fromkeys(
        ([step_col] if step_col else []) + [c for cols in sel.values() for c in cols]
        + ([tcol] if tcol else [])))
    table = read_table(path, usecols=wanted, workers=workers)
    check_finite(table)
    if step_col:
        check_steps(table.data[:, table.names.index(step_col)], table.header.path)
    return _series(table, sel, species, tcol, step_col, temperature, units, dt, volume,
                   mass_flux_units, mobile)


def column_block(data: np.ndarray, idx: Sequence[int]) -> np.ndarray:
    """data[:, idx]: a view when the columns are adjacent (no copy of a 1e7-row file)."""
    if list(idx) == list(range(idx[0], idx[0] + len(idx))):
        return data[:, idx[0]:idx[0] + len(idx)]
    return np.ascontiguousarray(data[:, list(idx)])


def _check_widths(sel: dict[str, list[str]]) -> None:
    # the analysis correlates x, y, z separately and averages them: every flux needs all three
    for name, cols in sel.items():
        if len(cols) != 3:
            raise InputError(
                f"{name} selects {len(cols)} column ({' '.join(cols)}); a flux needs its three "
                "Cartesian components: give the vector KEY (e.g. flux for c_flux[1..3]) or list "
                "three columns (jx,jy,jz)")


def _series(table: Table, sel: dict[str, list[str]], species: list[tuple[str, str]],
            tcol: Optional[str], step_col: Optional[str], temperature: Optional[float],
            units: str, dt: float, volume: float, mass_flux_units: str,
            mobile: Optional[Sequence[str]]) -> FluxSeries:
    def cols(names: list[str]) -> np.ndarray:
        return column_block(table.data, [table.names.index(n) for n in names])

    temps = cols([tcol])[:, 0] if tcol else None
    parts = ch.KINETIC in sel
    if temps is not None:
        temperature = float(np.mean(temps))
        if temperature <= 0:
            raise InputError(f"{table.header.path}: mean of {tcol} is {temperature} K, not a "
                             "positive temperature; name the temperature column "
                             "(--temperature-column) or pass --temperature")
    unit_note = None
    if species and mass_flux_units != "mass":
        # proxies (e.g. compute vcm): kappa is unchanged, L0s/Lst stay in the columns' unit
        unit_note = "column unit" if mass_flux_units == "column" else str(mass_flux_units)
    meta = FluxMetadata(
        units=units, dt=dt, volume=volume, temperature=float(temperature),
        species=[s for s, _ in species], mobile=list(mobile) if mobile else None,
        mass_flux_unit=unit_note,
        extra={"source": os.path.abspath(table.header.path), "format": "columns",
               "columns": {k: v for k, v in sel.items()},
               "mass_flux_columns": {s: sel[ch.mass_channel(s)] for s, _ in species},
               "temperature_column": tcol, "truncated_last_line": table.truncated})
    try:
        meta.validate()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return FluxSeries(
        energy_flux=cols(sel[ch.ENERGY]),
        mass_flux={s: cols(sel[ch.mass_channel(s)]) for s, _ in species},
        metadata=meta,
        energy_flux_kinetic=cols(sel[ch.KINETIC]) if parts else None,
        energy_flux_potential=cols(sel[ch.POTENTIAL]) if parts else None,
        temperature=temps,
        steps=cols([step_col])[:, 0].astype(np.int64) if step_col else None,
    )
