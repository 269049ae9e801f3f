"""Which potential heat flux a ``compute onsager`` should use for the potential at hand.

The stress-ID path (``compute centroid/stress/atom``) gives the site-energy-consistent virial
W_i = sum_j (r_j - r_i) (x) dU_j/dr_i only where LAMMPS implements the centroid virial or the
pairwise split is exact (two-body terms). Everywhere else (snap, mliap, pod, tersoff, sw, bop,
the eam family, ...) only ``compute ID all onsager pe-ID exact`` is right (docs/exact_flux.md).
The verdict comes from the plugin's C API (``onsager_centroid_exact``), which reads the force
styles of the running LAMMPS instance, so it needs the potential to be defined.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Sequence

from pyonsager import _plugin
from pyonsager.errors import InputError, VirialError  # noqa: F401 (VirialError re-exported)

#: accepted values of ``virial`` (config key, attach() option)
VIRIAL_CHOICES = ("auto", "centroid", "exact")
#: finite difference of the exact path (config key ``exact_difference``, attach() option):
#: ``central`` (default, <= 1e-6 of the reference, two displaced evaluations per sample) or
#: ``forward`` (one displaced evaluation against the step's own energies and forces, <= ~5e-6;
#: docs/exact_flux.md "Cost")
EXACT_DIFFERENCES = ("central", "forward")


def _verdict(lmp: Any) -> tuple[int, str]:
    lib = _plugin.capi()
    lib.onsager_centroid_exact.argtypes = [ctypes.c_void_p]
    lib.onsager_centroid_exact.restype = ctypes.c_int
    lib.onsager_virial_reason.argtypes = [ctypes.c_void_p]
    lib.onsager_virial_reason.restype = ctypes.c_char_p
    handle = getattr(lmp, "lmp", lmp)
    code = int(lib.onsager_centroid_exact(handle))
    reason = (lib.onsager_virial_reason(handle) or b"").decode()
    return code, reason


def choose_virial(lmp: Any, requested: str = "auto") -> str:
    """``"centroid"`` or ``"exact"``: the potential-flux path for the force styles of ``lmp``.

    ``requested``: ``auto`` (centroid where it is exact, exact otherwise), ``centroid`` (an
    error if it is not exact here) or ``exact`` (returned as is: compute onsager checks it).
    Raises :class:`VirialError` when no path gives the exact flux, naming the reason.
    """
    if requested not in VIRIAL_CHOICES:
        raise InputError(f"virial must be one of {', '.join(VIRIAL_CHOICES)}, got {requested!r}")
    if requested == "exact":
        return "exact"
    code, reason = _verdict(lmp)
    if code == 1:
        return "centroid"
    if code == 0 and requested == "auto":
        return "exact"
    if code == 0:
        raise VirialError(f"virial: centroid gives a wrong heat flux here: {reason}; use "
                          "virial: exact (or auto)")
    raise VirialError(f"no exact potential heat flux for these force styles: {reason}")


def define_flux_compute(lmp: Any, compute: str, species: Optional[Sequence[str]] = None,
                        virial: str = "auto", prefix: Optional[str] = None,
                        exact_difference: str = "central") -> str:
    """Define ``compute COMPUTE all onsager ...`` (and its pe/atom, stress computes) on the
    path :func:`choose_virial` picks; returns that path as the flux file header names it
    (``centroid``, ``exact`` or ``exact forward``).

    exact_difference: ``central`` or ``forward``, the finite difference of the exact path
        (ignored on the centroid path, which needs none).
    The helper computes are named PREFIX_pe and PREFIX_stress (PREFIX defaults to COMPUTE).
    """
    if exact_difference not in EXACT_DIFFERENCES:
        raise InputError(f"exact_difference must be one of {', '.join(EXACT_DIFFERENCES)}, "
                         f"got {exact_difference!r}")
    path = choose_virial(lmp, virial)
    prefix = prefix or compute
    tail = f" species {' '.join(species)}" if species else ""
    cmds = [f"compute {prefix}_pe all pe/atom"]
    if path == "centroid":
        cmds += [f"compute {prefix}_stress all centroid/stress/atom NULL virial",
                 f"compute {compute} all onsager {prefix}_pe {prefix}_stress{tail}"]
    else:
        # central is the compute's own default: the word is written only for forward
        mode = " forward" if exact_difference == "forward" else ""
        cmds += [f"compute {compute} all onsager {prefix}_pe exact{mode}{tail}"]
        path += mode
    lmp.commands_list(cmds)
    return path
