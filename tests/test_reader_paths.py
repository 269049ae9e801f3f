"""The column reader's paths (pyonsager.columns): the compiled parser (_fastparse.so, with
and without its exact fast path for short tokens), pandas (single space, generic whitespace)
and numpy's strict loadtxt; chunk boundaries, threads / worker processes, buffer growth.
Every case runs through every path: each must give the exact written doubles (bit for bit,
checked against Python's float() of each token) or the same error naming the bad line."""
from __future__ import annotations

import os

import numpy as np
import pytest

import pyonsager
import pyonsager.columns as columns
from pyonsager.columns import InputError, TruncatedFileWarning, read_table
from pyonsager.fluxfile import FluxFileWriter, flux_columns, read_fluxfile

HEAD = "# TimeStep c_f[1] c_f[2] c_f[3]\n"

#: (USE_COMPILED, fastparse flags, USE_PANDAS) of each path; flags 1: std::from_chars only
PATHS = {"compiled": (True, 0, True), "from_chars": (True, 1, True),
         "pandas": (False, 0, True), "numpy": (False, 0, False)}
#: Table.parsers expected for a file every token of which the path reads itself
PARSERS = {"compiled": ("compiled",), "from_chars": ("compiled",), "pandas": ("pandas",),
           "numpy": ("numpy",)}


def use_path(monkeypatch, name: str) -> None:
    compiled, flags, pandas = PATHS[name]
    monkeypatch.setattr(columns, "USE_COMPILED", compiled)
    monkeypatch.setattr(columns, "_FP_FLAGS", flags)
    monkeypatch.setattr(columns, "USE_PANDAS", pandas)


@pytest.fixture(params=list(PATHS))
def path_name(request, monkeypatch):
    use_path(monkeypatch, request.param)
    return request.param


def bits(a: np.ndarray) -> np.ndarray:
    """The IEEE bit patterns: tells -0.0 from 0.0 and NaN signs apart, as == does not."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def values(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, 4)) * 10.0 ** rng.integers(-8, 8, (n, 4))
    v[:, 0] = np.arange(n) * 10
    return v


def text(v: np.ndarray, sep: str = " ") -> str:
    return "".join(sep.join(f"{x:.17g}" for x in r) + "\n" for r in v)


@pytest.fixture(params=[1 << 20, 97], ids=["one chunk", "tiny chunks"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(columns, "_CHUNK_BYTES", request.param)
    return request.param


@pytest.mark.parametrize("workers", [1, 2])
def test_regular_and_irregular_layouts_read_the_same_doubles(tmp_path, chunk, workers,
                                                              path_name):
    v = values(400)
    reg, irr = tmp_path / "reg.txt", tmp_path / "irr.txt"
    reg.write_text(HEAD + text(v))
    # what hand-written or fix print files look like: padding, tabs, a comment, a blank line
    lines = text(v).splitlines(keepends=True)
    lines[0] = "  " + lines[0].replace(" ", "\t")
    lines[150] = lines[150].replace(" ", "   ").rstrip("\n") + "  \n"
    lines.insert(200, "# a comment in the data\n")
    lines.insert(300, "\n")
    irr.write_text(HEAD + "".join(lines))
    # a regular first line (fast path chosen) with irregular lines later: those chunks fall
    # back to the generic parsers
    mixed = tmp_path / "mixed.txt"
    mixed.write_text(HEAD + text(v[:1]) + "".join(lines[1:]))
    assert columns.is_regular(text(v[:1]).encode()) and not columns.is_regular(lines[0].encode())
    for p in (reg, irr, mixed):
        t = read_table(p, workers=workers)
        assert t.names == ["TimeStep", "c_f[1]", "c_f[2]", "c_f[3]"]
        assert np.array_equal(bits(t.data), bits(v))
        if path_name == "pandas":            # pandas may hand irregular chunks to numpy
            assert "compiled" not in t.parsers and "pandas" in t.parsers
        else:
            assert t.parsers == PARSERS[path_name]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("bad, field_count", [("10 1 2 3 4", 5), ("10 1 2", 3),
                                              ("10 1 2 3 40 1 2 3", 8)])
def test_malformed_middle_line_is_named(tmp_path, chunk, workers, bad, field_count,
                                        path_name):
    v = values(300)
    lines = text(v).splitlines(keepends=True)
    lines[170] = bad + "\n"          # line 172 of the file (header is line 1)
    p = tmp_path / "bad.txt"
    p.write_text(HEAD + "".join(lines))
    with pytest.raises(InputError, match=f"line 172 has {field_count} fields, expected 4"):
        read_table(p, workers=workers)


def test_torn_last_line_and_usecols(tmp_path, chunk, path_name):
    v = values(250)
    p = tmp_path / "t.txt"
    p.write_text(HEAD + text(v) + "2500 1.5 -2")
    with pytest.warns(TruncatedFileWarning, match="250 complete rows read"):
        t = read_table(p, usecols=["c_f[3]", "TimeStep"])
    assert t.names == ["c_f[3]", "TimeStep"]
    assert np.array_equal(bits(t.data), bits(v[:, [3, 0]]))
    assert t.parsers == PARSERS[path_name]
    # a column kept twice, and columns out of file order
    with pytest.warns(TruncatedFileWarning):
        t = read_table(p, usecols=["c_f[2]", "c_f[2]", "c_f[1]"])
    assert np.array_equal(bits(t.data), bits(v[:, [2, 2, 1]]))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk_bytes", [4096, 1 << 20], ids=["small chunks", "one chunk"])
def test_buffer_grows_when_later_lines_are_shorter(tmp_path, monkeypatch, path_name, workers,
                                                   chunk_bytes):
    monkeypatch.setattr(columns, "_CHUNK_BYTES", chunk_bytes)
    long_rows = values(60)
    short_rows = np.tile(np.array([[0.0, 1.0, 2.0, 3.0]]), (3000, 1))
    short_rows[:, 0] = np.arange(60, 3060) * 10
    p = tmp_path / "g.txt"
    p.write_text(HEAD + text(long_rows) + text(short_rows))
    t = read_table(p, workers=workers)
    assert np.array_equal(bits(t.data), bits(np.vstack([long_rows, short_rows])))
    assert t.parsers == PARSERS[path_name]
    # a bad line after the output grew
    lines = (text(long_rows) + text(short_rows)).splitlines(keepends=True)
    lines[2900] = "29000 1 2\n"                                # file line 2902
    p.write_text(HEAD + "".join(lines))
    with pytest.raises(InputError, match="line 2902 has 3 fields, expected 4"):
        read_table(p, workers=workers)


def test_nan_in_fast_path_is_refused_with_its_step(tmp_path, chunk, path_name):
    v = values(200)
    lines = text(v).splitlines(keepends=True)
    lines[120] = "1200 1 nan 3\n"
    p = tmp_path / "n.txt"
    p.write_text(HEAD + "".join(lines))
    t = read_table(p)
    assert np.isnan(t.data[120, 2]) and np.array_equal(t.data[121:], v[121:])
    with pytest.raises(InputError, match=r"data row 121 \(step 1200\) has a non-finite value in "
                                         r"c_f\[2\] \(1 bad rows in all\)"):
        columns.check_finite(t)


def test_uneven_steps_found_past_the_first_block():
    steps = np.arange(600_000, dtype=np.float64) * 10
    assert columns.check_steps(steps, "f") is None
    steps[400_001:] += 10                        # a lost row far beyond the first block
    with pytest.warns(UserWarning, match=r"data row 400002: step 4000000 -> 4000020, "
                                         r"expected \+10"):
        columns.check_steps(steps, "f")
    with pytest.warns(UserWarning, match=r"data row 2: step 10 -> 0, expected \+-10"):
        columns.check_steps(np.array([10.0, 0.0, -10.0]), "f")


def test_writer_appends_to_a_file_without_rows(tmp_path, path_name):
    cols = flux_columns(["A"], parts=False)
    p = tmp_path / "f.onsager"
    header = {"units": "metal", "dt": 0.01, "volume": 1000.0, "species": ["A"]}
    FluxFileWriter(p, header, cols).close()                 # a run killed before its 1st row
    rows = np.column_stack([np.arange(1, 5) * 10, 300 + np.arange(4.0),
                            np.sin(np.arange(24.0)).reshape(4, 6)])
    with FluxFileWriter(p, header, cols, append=True) as w:
        w.write_rows(rows)
    s = read_fluxfile(p)
    assert np.array_equal(s.energy_flux, rows[:, 2:5])
    assert np.array_equal(s.mass_flux["A"], rows[:, 5:8])


# --------------------------------------------------------------------------- every token format

#: tokens as LAMMPS (printf %g, %.17g, %e), hand-written files and crashed runs write them
SPECIAL = ["0", "-0", "0.0", "-0.0", "+0", "1", "-1", "+1.5", "1e5", "1E+05", "1e-05",
           "-1.25E-300", ".5", "-.5", "5.", "123456", "1.23457e+06", "1.7976931348623157e308",
           "2.2250738585072014e-308", "4.9e-324", "1e-320", "2e-324", "1e400", "-1e400",
           "1e-400", "-1e-400", "9007199254740993", "12345678901234567890123",
           "0.1000000000000000055511151231257827021181583404541015625", "1e22", "1e23",
           "9007199254740992e-22", "12345678", "100000000", "123456789012345",
           "1234567890123456", "-99999999.5", "12345678.1234567", "0.12345678", "inf", "-inf", "+inf", "Inf", "INF", "infinity",
           "-Infinity", "nan", "-nan", "NaN", "+nan", "NAN"]


def random_tokens(n: int, seed: int) -> list[str]:
    """Decimal strings of every shape: 1-25 significant digits, exponents across the whole
    double range and beyond, both signs, with and without a decimal point."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        nd = int(rng.integers(1, 26))
        digits = "".join(rng.choice(list("0123456789"), nd))
        point = int(rng.integers(0, nd + 1))
        body = digits[:point] + "." + digits[point:] if rng.random() < 0.7 else digits
        if body == ".":
            body = "0."
        exp = "" if rng.random() < 0.3 else \
            f"{rng.choice(['e', 'E'])}{rng.choice(['', '+', '-'])}{int(rng.integers(0, 340))}"
        sign = rng.choice(["", "-", "+"], p=[0.5, 0.4, 0.1])
        out.append(f"{sign}{body}{exp}")
    return out


def format_table(tokens: list[str], ncols: int) -> tuple[str, np.ndarray]:
    """A column file of the tokens (padded to full rows with "1") and, independently of the
    module under test, the doubles Python's float() makes of them."""
    tokens = tokens + ["1"] * (-len(tokens) % ncols)
    rows = [tokens[i:i + ncols] for i in range(0, len(tokens), ncols)]
    text = "# " + " ".join(f"c{j}" for j in range(ncols)) + "\n"
    text += "".join(" ".join(r) + "\n" for r in rows)
    return text, np.array([[float(t) for t in r] for r in rows])


@pytest.mark.parametrize("kind", ["special", "%g", "%.17g", "%.6e", "random"])
def test_every_path_reads_the_same_bits(tmp_path, monkeypatch, chunk, kind):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(600) * 10.0 ** rng.integers(-300, 300, 600)
    x[::7] *= 0.0                       # zeros of both signs
    tokens = {"special": SPECIAL * 3, "%g": [f"{v:g}" for v in x],
              "%.17g": [f"{v:.17g}" for v in x], "%.6e": [f"{v:.6e}" for v in x],
              "random": random_tokens(3000, seed=5)}[kind]
    text, want = format_table(tokens, 6)
    p = tmp_path / "t.txt"
    p.write_text(text)
    for name in PATHS:
        use_path(monkeypatch, name)
        t = read_table(p)
        assert np.array_equal(bits(t.data), bits(want)), name
        # pandas reads no nan and sends such chunks to numpy
        assert t.parsers == PARSERS[name] or (name == "pandas" and "compiled" not in t.parsers)


@pytest.mark.parametrize("line", ["20 1_0 2 3", "20 1\r2 3 4", "20\xa01 2 3", "20 1 2 3\r \r"],
                         ids=["underscore", "bare CR", "no-break space", "CR CR"])
def test_lines_outside_the_compiled_grammar_give_the_same_outcome_on_every_path(
        tmp_path, monkeypatch, line):
    # Python's float() and str.split() take these, numpy or the compiled grammar may not:
    # the compiled path hands such chunks to the generic parsers, so every path says the same
    p = tmp_path / "u.txt"
    p.write_bytes((HEAD + "10 1 2 3\n" + line + "\n30 1 2 3\n").encode())
    outcomes = set()
    for name in PATHS:
        use_path(monkeypatch, name)
        try:
            outcomes.add(bits(read_table(p).data).tobytes())
        except InputError as err:
            outcomes.add(str(err))
    assert len(outcomes) == 1, outcomes


@pytest.mark.parametrize("bad", ["1.5x", "nan(1)", "0x10", "1e", "+-1", "--1", "1d5"])
def test_unparsable_token_is_named(tmp_path, path_name, bad):
    v = values(50)
    lines = text(v).splitlines(keepends=True)
    lines[30] = f"300 {bad} 2 3\n"          # file line 32
    p = tmp_path / "b.txt"
    p.write_text(HEAD + "".join(lines))
    with pytest.raises(InputError, match=rf"line 32 has 4 fields, {bad!r} is not a number"
                                         .replace("+", r"\+").replace("(", r"\(")
                                         .replace(")", r"\)")):
        read_table(p)


def test_comments_at_line_ends_and_crlf(tmp_path, path_name):
    v = values(40)
    lines = text(v).splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + " # note\n"
    lines[9] = lines[9].rstrip("\n") + "\r\n"
    p = tmp_path / "c.txt"
    p.write_text(HEAD + "".join(lines))
    t = read_table(p, workers=2)
    assert np.array_equal(bits(t.data), bits(v))


# --------------------------------------------------------------------------- the library itself


def test_compiled_parser_is_built_and_used():
    # a broken or missing build must fail here, not fall back silently to the slow paths
    assert columns.compiled_parser_error() is None, columns.compiled_parser_error()
    lib = columns.compiled_parser()
    assert lib is not None
    where = os.path.dirname(os.path.abspath(pyonsager.__file__))
    assert columns.fastparse_library_path() == os.path.join(where, "_fastparse.so")


def test_compiled_parser_default_path(tmp_path):
    # read_table with the module's defaults uses the library for regular and irregular files
    v = values(300)
    p = tmp_path / "d.txt"
    p.write_text(HEAD + text(v, sep="  "))
    t = read_table(p, workers=2)
    assert t.parsers == ("compiled",) and np.array_equal(bits(t.data), bits(v))
    # the flux-file splice parses its chunks through the same entry point
    cols = columns._parse_chunk(str(p), 0, text(v).encode(), 4, regular=True)
    assert np.array_equal(bits(np.column_stack(cols)), bits(v))


def call(buf: bytes, ncols: int, colmap, out: np.ndarray, row_stride: int, col_stride: int,
         max_rows: int, flags: int = 0) -> tuple[int, np.ndarray]:
    lib = columns.compiled_parser()
    info = np.zeros(5, dtype=np.int64)
    cmap = np.asarray(colmap, dtype=np.int32)
    status = lib.fastparse_columns(buf, len(buf), ncols, cmap.ctypes.data, out.ctypes.data,
                                   row_stride, col_stride, max_rows, info.ctypes.data, flags)
    return status, info


def test_c_interface_row_major_resume_and_bad_line_report():
    data = b"# c\n1 2 3\n\n4 5 6 # x\n7 8 9\n10 11 12"       # no final newline
    # row-major, the middle field checked but not kept, two rows per call
    out = np.full((4, 2), -1.0)
    status, info = call(data, 3, [0, -1, 1], out, 2, 1, 2)
    assert status == 3 and info[0] == 2                          # FULL after 2 rows
    rest = data[info[1]:]
    assert rest.startswith(b"7 8 9")
    status, info = call(rest, 3, [0, -1, 1], out[2:], 2, 1, 2)
    assert status == 0 and info[0] == 2 and info[1] == len(rest)
    assert np.array_equal(out, [[1, 3], [4, 6], [7, 9], [10, 12]])
    # a short line and a bad token: 0-based line index, byte offset, fields counted
    bad = b"1 2 3\n# c\n4 5\n"
    status, info = call(bad, 3, [0, 1, 2], np.empty((3, 3)), 3, 1, 3)
    assert (status, info[0], info[2], info[3], info[4]) == (1, 1, 2, 10, 2)
    bad = b"1 2 3\n4 5x 6\n"
    status, info = call(bad, 3, [0, 1, 2], np.empty((3, 3)), 3, 1, 3)
    assert (status, info[0], info[2], info[3], info[4]) == (2, 1, 1, 6, 1)
    assert columns.compiled_parser().fastparse_count_lines(data, len(data)) == 5


def test_fast_path_and_from_chars_agree_on_many_tokens():
    # 60000 tokens of every shape, one per line, through the C interface with and without
    # the fast path, against Python's float() (an independent correctly rounded parser)
    rng = np.random.default_rng(23)
    x = rng.standard_normal(20000) * 10.0 ** rng.integers(-30, 30, 20000)
    tokens = random_tokens(20000, seed=9) + [f"{v:g}" for v in x] + [f"{v:.15g}" for v in x]
    want = np.array([float(t) for t in tokens])
    buf = ("\n".join(tokens) + "\n").encode()
    for flags in (0, 1):
        out = np.empty(len(tokens))
        status, info = call(buf, 1, [0], out, 1, 1, len(tokens), flags)
        assert status == 0 and info[0] == len(tokens)
        assert np.array_equal(bits(out), bits(want)), flags
