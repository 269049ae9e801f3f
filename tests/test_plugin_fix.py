"""fix onsager: flux file, sampling on tallied steps, volume/thermostat checks, C callbacks."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts"))
import plugin_systems as ps  # noqa: E402

from pyonsager._plugin import ONSAGER_CALLBACK, capi, plugin_path  # noqa: E402

FLUX = (
    "compute pe all pe/atom\n"
    "compute st all centroid/stress/atom NULL virial\n"
    "compute fl all onsager pe st species Al Cu\n"
)


@pytest.fixture(scope="module")
def eam(tmp_path_factory):
    return ps.build_state("morse", str(tmp_path_factory.mktemp("fix") / "eam.data"))


def read_flux_file(path):
    header, rows = {}, []
    lines = open(path).read().split("\n")
    assert lines[0] == "# pyonsager flux series 1"
    comments = [ln for ln in lines if ln.startswith("#")]
    for ln in comments[1:-1]:
        key, _, value = ln[2:].partition(": ")
        header[key] = yaml.safe_load(value)
    columns = comments[-1][2:].split()
    for ln in lines:
        if ln and not ln.startswith("#"):
            rows.append([float(x) for x in ln.split()])
    return header, columns, np.array(rows)


def read_ave_time(path):
    return np.array([[float(x) for x in ln.split()] for ln in open(path) if not ln.startswith("#")])


def new(eam, log=None):
    lmp = ps.new_lammps(log=log)
    ps.load_state(lmp, "morse", eam)
    return lmp


def test_file_header_and_rows_match_ave_time(eam, tmp_path):
    f, at = tmp_path / "f.onsager", tmp_path / "at.txt"
    lmp = new(eam)
    lmp.commands_string(
        FLUX + "compute ke all ke/atom\ncompute hf all heat/flux ke pe st\n"
        "fix nve all nve\n"
        f"fix s all onsager fl 4 file {f} flush 3\n"
        f"fix at all ave/time 4 1 4 c_fl[*] c_hf[*] file {at} format ' %.17g'\n"
        "run 40\nrun 20"
    )
    natoms = lmp.get_natoms()
    masses = list(lmp.numpy.extract_atom("mass")[1:3])    # the mass commands of the state
    lmp.close()
    header, columns, rows = read_flux_file(f)
    assert header["units"] == "metal"
    assert header["dt"] == pytest.approx(0.008, rel=1e-15)
    assert header["timestep"] == 0.002 and header["nevery"] == 4
    assert header["species"] == ["Al", "Cu"]
    assert header["masses"] == masses
    assert sum(header["counts"]) == natoms and min(header["counts"]) > 0
    assert header["charge"] is False and header["group"] == "all"
    assert header["lammps_version"] == "22 Jul 2025"
    assert header["volume"] == pytest.approx(4.05**3 * 64, rel=1e-12)
    assert columns[:5] == ["step", "temperature", "energy_flux[1]", "energy_flux[2]",
                           "energy_flux[3]"]
    assert columns[-3:] == ["mass_flux_Cu[3]", "site_energy_Al", "site_energy_Cu"]
    assert len(columns) == 2 + 15 + 2
    assert rows.shape == (15, 19)
    # two runs continue one series: no duplicated or missing step at the run boundary
    np.testing.assert_array_equal(rows[:, 0], np.arange(4, 61, 4))
    ref = read_ave_time(at)
    ref = ref[np.isin(ref[:, 0], rows[:, 0])]
    ref = ref[np.unique(ref[:, 0], return_index=True)[1]]
    np.testing.assert_array_equal(ref[:, 0], rows[:, 0])
    fl, hf = ref[:, 1:16], ref[:, 16:22]
    assert np.max(np.abs(rows[:, 2:17] - fl)) <= 1e-12 * np.max(np.abs(fl))
    assert np.max(np.abs(rows[:, 2:5] - hf[:, :3])) <= 1e-12 * np.max(np.abs(hf[:, :3]))
    assert np.all((rows[:, 1] > 500) & (rows[:, 1] < 5000))


def test_fix_alone_gets_tallied_steps(eam, tmp_path):
    # The fix must make LAMMPS tally per-atom energy/virial on its own sampled steps. Twin
    # runs from the same state on one rank follow the same trajectory: one samples only
    # through fix onsager (NEVERY=7, which thermo never hits), the other only through
    # compute heat/flux in fix ave/time.
    f, at = tmp_path / "f.onsager", tmp_path / "at.txt"
    lmp = new(eam)
    lmp.commands_string(FLUX + f"fix nve all nve\nthermo 0\nfix s all onsager fl 7 file {f}\nrun 50")
    lmp.close()
    lmp = new(eam)
    lmp.commands_string(
        "compute ke all ke/atom\ncompute pe all pe/atom\n"
        "compute st all centroid/stress/atom NULL virial\ncompute hf all heat/flux ke pe st\n"
        f"fix nve all nve\nthermo 0\nfix at all ave/time 7 1 7 c_hf[*] file {at} format ' %.17g'\n"
        "run 50"
    )
    lmp.close()
    _, _, rows = read_flux_file(f)
    ref = read_ave_time(at)
    ref = ref[ref[:, 0] > 0]
    np.testing.assert_array_equal(rows[:, 0], ref[:, 0])
    assert np.max(np.abs(rows[:, 2:5] - ref[:, 1:4])) <= 1e-12 * np.max(np.abs(ref[:, 1:4]))
    assert np.max(np.abs(rows[:, 5:8] - ref[:, 4:7])) <= 1e-12 * np.max(np.abs(ref[:, 4:7]))


def test_crash_leaves_flushed_rows(eam, tmp_path):
    # a hard abort (MPI_Abort) mid-run: rows flushed before it survive, complete
    f = tmp_path / "f.onsager"
    data = tmp_path / "in.crash"
    data.write_text(
        f"plugin load {plugin_path()}\nunits metal\natom_style atomic\nread_data {eam}\n"
        + ps.potential("morse") + "timestep 0.002\n" + FLUX
        + f"fix nve all nve\nfix s all onsager fl 5 file {f} flush 3\n"
        "variable stop equal step\nfix h all halt 37 v_stop >= 37 error hard\nrun 100\n"
    )
    lmp = os.path.join(os.path.dirname(sys.executable), "lmp")
    proc = subprocess.run([lmp, "-in", str(data), "-log", "none", "-nocite"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    text = open(f).read()
    assert text.endswith("\n")
    _, columns, rows = read_flux_file(f)
    # samples at 5..35; flushes after every 3rd row, so 30 is the last row on disk
    np.testing.assert_array_equal(rows[:, 0], [5, 10, 15, 20, 25, 30])
    assert rows.shape[1] == len(columns)


@pytest.mark.parametrize(
    "commands,message",
    [
        ("fix nve all npt temp 1000 1000 0.1 iso 0 0 1.0\n", "the box volume may change"),
        ("fix nve all nve\nfix d all deform 1 x scale 1.01\n", "the box volume may change"),
        ("fix nve all nve\nrun 5\nchange_box all x scale 1.01 remap\n",
         "box volume changed from"),
    ],
)
def test_volume_change_is_an_error(eam, commands, message):
    lmp = new(eam)
    with pytest.raises(Exception) as exc:
        lmp.commands_string(FLUX + "fix s all onsager fl 5\n" + commands + "run 10")
    assert "Fix onsager s: " + message in str(exc.value)
    lmp.close()


def test_thermostat_warns_once(eam, tmp_path):
    log = str(tmp_path / "log")
    lmp = new(eam, log=log)
    lmp.commands_string(FLUX + "fix nve all nve\nfix lan all langevin 1000 1000 0.1 48279\n"
                        "fix s all onsager fl 5\nrun 10\nrun 10")
    lmp.close()
    text = open(log).read()
    assert text.count("Fix onsager s: thermostat fix lan (style langevin) is active") == 1


def test_group_mismatch_warns(eam, tmp_path):
    log = str(tmp_path / "log")
    lmp = new(eam, log=log)
    lmp.commands_string(FLUX + "group al type 1\nfix nve all nve\nfix s al onsager fl 5\nrun 5")
    lmp.close()
    assert "Fix onsager s: group al differs from group all of compute fl" in open(log).read()


@pytest.mark.parametrize(
    "commands,message",
    [
        ("fix s all onsager nope 5", "could not find compute nope"),
        ("compute t all temp\nfix s all onsager t 5", "compute t is style temp, not onsager"),
        ("fix s all onsager fl 0", "NEVERY must be > 0"),
        ("fix s all onsager fl 5 flush 0", "flush must be > 0"),
        ("fix s all onsager fl 5 every 3", "unknown keyword every"),
    ],
)
def test_fix_refusals(eam, commands, message):
    lmp = new(eam)
    with pytest.raises(Exception) as exc:
        lmp.commands_string(FLUX + commands)
    assert message in str(exc.value)
    lmp.close()


def test_callback_batches_and_post_run(eam, tmp_path):
    f = tmp_path / "f.onsager"
    api = capi()
    lmp = new(eam)
    lmp.commands_string(FLUX + f"fix nve all nve\nfix s all onsager fl 5 file {f} flush 4")
    assert api.onsager_ncols(lmp.lmp, b"s") == 2 + 15 + 2
    assert api.onsager_nspecies(lmp.lmp, b"s") == 2
    assert api.onsager_ncols(lmp.lmp, b"nope") == -1
    assert api.onsager_nspecies(lmp.lmp, b"nope") == -1
    assert api.onsager_flush(lmp.lmp, b"nve") == -1

    batches = []

    def receive(ctx, nrows, ncols, rows):
        batches.append(np.ctypeslib.as_array(rows, shape=(nrows * ncols,)).reshape(nrows, ncols)
                       .copy())

    cb = ONSAGER_CALLBACK(receive)
    assert api.onsager_set_callback(lmp.lmp, b"s", cb, None, 3) == 0
    lmp.command("run 50")    # 10 rows: batches of 3, 3, 3 and the last row at post_run
    assert [b.shape for b in batches] == [(3, 19)] * 3 + [(1, 19)]
    lmp.command("run 10")    # 2 rows, fewer than a batch: delivered at the end of the run
    assert batches[-1].shape == (2, 19)
    lmp.close()
    got = np.vstack(batches)
    np.testing.assert_array_equal(got[:, 0], np.arange(5, 61, 5))
    _, _, rows = read_flux_file(f)
    np.testing.assert_array_equal(got, rows)    # %.17g round-trips exactly


def test_flush_hands_over_pending_rows(eam):
    api = capi()
    lmp = new(eam)
    lmp.commands_string(FLUX + "fix nve all nve\nfix s all onsager fl 2")
    got = []
    cb = ONSAGER_CALLBACK(lambda ctx, n, m, rows: got.append((n, m, rows[0])))
    assert api.onsager_set_callback(lmp.lmp, b"s", cb, None, 100) == 0
    lmp.command("run 6 post no")
    assert [(n, m) for n, m, _ in got] == [(3, 19)]    # post_run still runs with post no
    assert api.onsager_flush(lmp.lmp, b"s") == 0        # nothing pending: no empty batch
    assert len(got) == 1
    # an unregistered callback receives nothing further
    assert api.onsager_set_callback(lmp.lmp, b"s", ctypes.cast(None, ONSAGER_CALLBACK), None, 0) == 0
    lmp.command("run 4")
    assert len(got) == 1
    lmp.close()


def test_empty_species_warns(eam, tmp_path):
    log = str(tmp_path / "log")
    lmp = new(eam, log=log)
    lmp.commands_string(
        "group al type 1\ncompute pe all pe/atom\ncompute st all centroid/stress/atom NULL virial\n"
        "compute fl al onsager pe st species Al Cu\nfix nve all nve\nfix s al onsager fl 5\nrun 5"
    )
    lmp.close()
    assert "Fix onsager s: species Cu has no atoms in group al" in open(log).read()


def test_ionic_header_has_charge_column(tmp_path):
    data = ps.build_state("ionic", str(tmp_path / "ionic.data"))
    f = tmp_path / "f.onsager"
    lmp = ps.new_lammps()
    ps.load_state(lmp, "ionic", data)
    lmp.commands_string(
        "compute pe all pe/atom\ncompute st all centroid/stress/atom NULL virial\n"
        "compute fl all onsager pe st species Na Cl charge yes\n"
        # a timestep whose shortest form has no dot: PyYAML must still read a float
        f"timestep 0.00001\nfix nve all nve\nfix s all onsager fl 2 file {f}\nrun 6"
    )
    lmp.close()
    header, columns, rows = read_flux_file(f)
    assert header["charge"] is True and header["species"] == ["Na", "Cl"]
    assert header["counts"] == [108, 108]
    assert isinstance(header["timestep"], float) and header["timestep"] == 1e-5
    assert isinstance(header["dt"], float) and header["dt"] == 2e-5
    assert columns[-5:] == ["charge_flux[1]", "charge_flux[2]", "charge_flux[3]",
                            "site_energy_Na", "site_energy_Cl"]
    assert rows.shape == (3, 2 + 9 + 6 + 3 + 2)


def test_site_energy_columns_equal_pe_atom_means(eam, tmp_path):
    # each callback (batch 1) runs on the sampled step, while compute pe/atom still holds
    # that step's per-atom energies: the columns must be their per-species means
    f = tmp_path / "f.onsager"
    api = capi()
    lmp = new(eam)
    lmp.commands_string(FLUX + f"fix nve all nve\nfix s all onsager fl 3 file {f} flush 2")
    got, ref = [], []

    def receive(ctx, nrows, ncols, rows):
        got.append(np.ctypeslib.as_array(rows, shape=(nrows * ncols,)).reshape(nrows, ncols)
                   .copy())
        ref.append(ps.species_pe_means(lmp, [-1, 0, 1], 2))

    cb = ONSAGER_CALLBACK(receive)
    assert api.onsager_set_callback(lmp.lmp, b"s", cb, None, 1) == 0
    lmp.command("run 30")
    lmp.close()
    got, ref = np.vstack(got), np.array(ref)
    assert got.shape == (10, 19)
    assert np.max(np.abs(got[:, 17:] - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert np.all(ref < 0)
    header, columns, rows = read_flux_file(f)
    np.testing.assert_array_equal(rows, got)
    # the pyonsager reader carries them into FluxSeries.site_energy
    from pyonsager.fluxfile import read_fluxfile

    series = read_fluxfile(f)
    assert list(series.site_energy) == ["Al", "Cu"]
    np.testing.assert_array_equal(series.site_energy["Cu"], got[:, 18])
