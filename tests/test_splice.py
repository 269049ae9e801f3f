"""Splicing flux files (pyonsager.fluxfile.splice): how a restarted run's file is assembled
from the kept prefix and the continued run's rows (lammps/checkpoint.py)."""
from __future__ import annotations

import numpy as np
import pytest

import pyonsager.columns as columns
from pyonsager.errors import CheckpointError, InputError
from pyonsager.fluxfile import read_fluxfile, splice
from pyonsager.lammps.checkpoint import PREFIX_FILE, consolidate_fluxes, join_fluxes


def head(analysis: str) -> str:
    return ("# pyonsager flux series 1\n# units: metal\n# dt: 0.01\n# volume: 1000.0\n"
            f"# species: [A]\n# analysis: {{max_lag: {analysis}}}\n"
            "# step temperature energy_flux[1] energy_flux[2] energy_flux[3] "
            "mass_flux_A[1] mass_flux_A[2] mass_flux_A[3]\n")


def row(step: int) -> str:
    # distinct, exactly written doubles per row (17 digits: a re-formatting would show)
    x = np.sin(step * 0.1 + np.arange(6))
    return f"{step} {300 + step / 7:.17g} " + " ".join(f"{v:.17g}" for v in x) + "\n"


def rows(steps) -> str:
    return "".join(row(s) for s in steps)


@pytest.fixture(params=[1 << 20, 150], ids=["one chunk", "many chunks"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(columns, "_CHUNK_BYTES", request.param)
    return request.param


def test_splice_keeps_bytes_steps_and_header(tmp_path, chunk):
    a, b, out = tmp_path / "a.onsager", tmp_path / "b.onsager", tmp_path / "o.onsager"
    a.write_text(head("1.0") + rows(range(10, 70, 10)))
    # the continued run repeats steps the prefix has, and was killed mid-line
    b.write_text(head("2.0") + rows(range(40, 110, 10)) + row(110)[:20])
    n = splice(out, [a, b, tmp_path / "missing.onsager"], upto=80)
    assert n == 8
    assert out.read_text() == head("1.0") + rows(range(10, 90, 10))
    n = splice(out, [a, b], header_from=1)
    assert n == 10
    assert out.read_text() == head("2.0") + rows(range(10, 110, 10))
    s = read_fluxfile(out)
    assert s.steps.tolist() == list(range(10, 110, 10))


def test_splice_in_place_and_header_only(tmp_path, chunk):
    a, b = tmp_path / "a.onsager", tmp_path / "b.onsager"
    a.write_text(head("1.0"))                     # a run that wrote no row yet
    b.write_text(head("3.0") + rows([5, 10, 15]))
    assert splice(b, [a, b], header_from=1) == 3
    assert b.read_text() == head("3.0") + rows([5, 10, 15])
    assert splice(a, [a], upto=100) == 0 and a.read_text() == head("1.0")


def test_splice_refusals(tmp_path):
    with pytest.raises(InputError, match="no flux file header"):
        splice(tmp_path / "o", [tmp_path / "x", tmp_path / "y"])
    bad = tmp_path / "bad.onsager"
    bad.write_text(head("1.0") + row(10) + "20 1 2\n" + row(30))
    with pytest.raises(InputError, match=r"line 9 has 3 fields, expected 8"):
        splice(tmp_path / "o", [bad])


def test_consolidate_then_join(tmp_path, chunk):
    out = tmp_path / "run"
    out.mkdir()
    flux = out / "fluxes.onsager"
    # first interruption at a checkpoint of step 50, rows up to 70 written, last one torn
    flux.write_text(head("1.0") + rows(range(10, 80, 10)) + row(80)[:30])
    assert consolidate_fluxes(str(out), 50) == 5
    assert (out / PREFIX_FILE).read_text() == head("1.0") + rows(range(10, 60, 10))
    # the continued run's fix truncated the file and starts after the checkpoint; it is
    # interrupted again, at a checkpoint of step 90
    flux.write_text(head("1.0") + rows(range(60, 130, 10)))
    assert consolidate_fluxes(str(out), 90) == 9
    flux.write_text(head("2.0") + rows(range(100, 160, 10)))
    join_fluxes(str(out), str(flux))
    assert not (out / PREFIX_FILE).exists()
    assert flux.read_text() == head("2.0") + rows(range(10, 160, 10))
    join_fluxes(str(out), str(flux))               # nothing to join: unchanged
    assert flux.read_text() == head("2.0") + rows(range(10, 160, 10))


def test_consolidate_without_header_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no flux file header"):
        consolidate_fluxes(str(tmp_path), 10)
