"""The fast column reader's paths (pyonsager.columns): single-space fast path, generic
whitespace and strict fallbacks, chunk boundaries, worker processes, buffer growth; every path must
give the exact written doubles or an error naming the bad line."""
from __future__ import annotations

import numpy as np
import pytest

import pyonsager.columns as columns
from pyonsager.columns import InputError, TruncatedFileWarning, read_table
from pyonsager.fluxfile import FluxFileWriter, flux_columns, read_fluxfile

HEAD = "# TimeStep c_f[1] c_f[2] c_f[3]\n"


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
def test_regular_and_irregular_layouts_read_the_same_doubles(tmp_path, chunk, workers):
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
        assert np.array_equal(t.data, v)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("bad, field_count", [("10 1 2 3 4", 5), ("10 1 2", 3),
                                              ("10 1 2 3 40 1 2 3", 8)])
def test_malformed_middle_line_is_named(tmp_path, chunk, workers, bad, field_count):
    v = values(300)
    lines = text(v).splitlines(keepends=True)
    lines[170] = bad + "\n"          # line 172 of the file (header is line 1)
    p = tmp_path / "bad.txt"
    p.write_text(HEAD + "".join(lines))
    with pytest.raises(InputError, match=f"line 172 has {field_count} fields, expected 4"):
        read_table(p, workers=workers)


def test_torn_last_line_and_usecols(tmp_path, chunk):
    v = values(250)
    p = tmp_path / "t.txt"
    p.write_text(HEAD + text(v) + "2500 1.5 -2")
    with pytest.warns(TruncatedFileWarning, match="250 complete rows read"):
        t = read_table(p, usecols=["c_f[3]", "TimeStep"])
    assert t.names == ["c_f[3]", "TimeStep"]
    assert np.array_equal(t.data, v[:, [3, 0]])


def test_buffer_grows_when_later_lines_are_shorter(tmp_path, monkeypatch):
    monkeypatch.setattr(columns, "_CHUNK_BYTES", 4096)
    long_rows = values(60)
    short_rows = np.tile(np.array([[0.0, 1.0, 2.0, 3.0]]), (3000, 1))
    short_rows[:, 0] = np.arange(60, 3060) * 10
    p = tmp_path / "g.txt"
    p.write_text(HEAD + text(long_rows) + text(short_rows))
    t = read_table(p)
    assert np.array_equal(t.data, np.vstack([long_rows, short_rows]))


def test_nan_in_fast_path_is_refused_with_its_step(tmp_path, chunk):
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


def test_writer_appends_to_a_file_without_rows(tmp_path):
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
