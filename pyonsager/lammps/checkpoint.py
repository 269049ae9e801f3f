"""Checkpoints of a ``pyonsager run``: LAMMPS state, correlator, accumulators, flux rows.

A checkpoint at step S is the set

    DIR/checkpoint-S.data             LAMMPS ``write_data`` (positions, velocities, image flags)
    DIR/checkpoint-S.correlator.npz   :meth:`OnlineCorrelator.save`
    DIR/checkpoint-S.state.npz        session accumulators (temperature moments, MSD, counters,
                                      per-species site-energy sums)
    DIR/checkpoint.yaml               which S is current (+ run parameters), replaced last

Every file is written under a new name and ``checkpoint.yaml`` is switched with ``os.replace``
only once all three exist, so a kill at any moment leaves either the old or the new set
complete; the previous set is deleted afterwards.

Why ``write_data`` and not ``write_restart``: the input file (not the restart file) is the
source of the force field (tabulated/many-body potentials are not stored in restart files),
so a continued run re-executes the input, replaces the atoms by ``delete_atoms`` +
``read_data ... add merge`` and resets the step.  ``write_data`` itself wraps and migrates the
atoms (pbc + exchange + borders) exactly as ``read_data`` places them, and both paths run the
next chunk with a full ``run`` setup (sort, neighbour build), so on the same number of MPI
ranks the continued trajectory is bitwise identical to the uninterrupted one (which also
writes the data file at every checkpoint).  Positions and velocities are written with 17
significant digits (round-trip exact).

Compatibility: ``checkpoint.yaml`` carries ``format`` (:data:`FORMAT`, the layout of the set
and of the session state) and the ``pyonsager_version`` that wrote it.  :func:`read` refuses a
checkpoint without ``format`` (written before it existed) or with another one, and
:func:`load_correlator` / :func:`load_state` refuse files they cannot restore, each with
:class:`~pyonsager.errors.CheckpointError` saying what to do.  Nothing in a checkpoint depends
on the number of MPI ranks (the correlator saves its full, gathered state; the session
accumulators and the MSD reference are replicated), so a run continues on any rank count.

The flux file: the fix truncates its file when it is defined, so on restart the rows up to S
(from the interrupted file and earlier prefixes) are kept in ``DIR/checkpoint.fluxes.onsager``
and joined with the new rows when the run finishes (:func:`consolidate_fluxes`,
:func:`join_fluxes`).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import yaml

from pyonsager.errors import CheckpointError, InputError
from pyonsager.fluxfile import splice

#: layout of a checkpoint set and its session state; a change that an older reader cannot
#: restore exactly must increase it
FORMAT = 1
PREFIX_FILE = "checkpoint.fluxes.onsager"


@dataclass
class CheckpointInfo:
    step: int
    path: str          # directory
    info: dict

    def file(self, key: str) -> str:
        return os.path.join(self.path, self.info["files"][key])


def _names(step: int) -> dict[str, str]:
    return {"data": f"checkpoint-{step}.data",
            "correlator": f"checkpoint-{step}.correlator.npz",
            "state": f"checkpoint-{step}.state.npz"}


def write(lmp: Any, session: Any, out: str, step: int, params: dict, comm: Any) -> None:
    """Write a checkpoint of ``session`` at the current step (collective)."""
    rank = comm.Get_rank()
    names = _names(step)
    paths = {k: os.path.join(out, v) for k, v in names.items()}
    # write_data is collective (rank 0 writes); 'nocoeff': the input holds the force field
    lmp.command(f'write_data "{paths["data"]}.tmp" nocoeff')
    session.correlator.save(paths["correlator"] + ".tmp")
    state = session.state()
    if rank == 0:
        with open(paths["state"] + ".tmp", "wb") as fh:
            np.savez(fh, **state)
        for p in paths.values():
            os.replace(p + ".tmp", p)
        from pyonsager import __version__

        info = {"format": FORMAT, "pyonsager_version": __version__, "step": int(step), "files": names, "mpi_ranks": comm.Get_size(),
                "samples": int(session.nsamples), "params": params,
                # how the production energy was set (fresh start only): kept for the results
                "temperature_control": getattr(session, "temperature_control", None)}
        target = os.path.join(out, "checkpoint.yaml")
        with open(target + ".tmp", "w") as fh:
            yaml.safe_dump(info, fh, sort_keys=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(target + ".tmp", target)
        # older sets are obsolete once the new checkpoint.yaml is in place
        keep = set(names.values())
        for old in glob.glob(os.path.join(out, "checkpoint-*")):
            if os.path.basename(old) not in keep:
                os.unlink(old)
    comm.Barrier()


def read(out: str) -> Optional[CheckpointInfo]:
    """The current checkpoint in ``out``, or None."""
    path = os.path.join(out, "checkpoint.yaml")
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as fh:
            info = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{path} is unreadable ({exc}); {WHAT_TO_DO}") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path} is not a pyonsager checkpoint; {WHAT_TO_DO}")
    fmt = info.get("format")
    if fmt != FORMAT:
        by = info.get("pyonsager_version")
        who = f"pyonsager {by}" if by else "an older pyonsager"
        what = f"checkpoint format {fmt}" if fmt is not None else "no checkpoint format"
        raise CheckpointError(
            f"{path} was written by {who} ({what}; this pyonsager {_version()} continues only "
            f"format {FORMAT}); {WHAT_TO_DO}, or continue it with the pyonsager version that "
            "wrote it")
    try:
        ck = CheckpointInfo(int(info["step"]), out, info)
        files = [ck.file(key) for key in ("data", "correlator", "state")]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path} lacks its step or file names; {WHAT_TO_DO}") from None
    for f in files:
        if not os.path.isfile(f):
            raise CheckpointError(f"{path}: checkpoint file {f} is missing; {WHAT_TO_DO}")
    return ck


#: the remedy every refusal names
WHAT_TO_DO = "rerun without --restart into a new output directory (--out NEW_DIR)"


def _version() -> str:
    from pyonsager import __version__

    return __version__


#: session state arrays a restart needs (Session.state)
STATE_KEYS = ("temperature", "counters")


def load_state(ck: CheckpointInfo) -> dict[str, np.ndarray]:
    """The session accumulators of a checkpoint (:meth:`Session.state`)."""
    try:
        with np.load(ck.file("state")) as f:
            st = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{ck.file('state')} is unreadable ({exc}); {WHAT_TO_DO}") from None
    missing = [k for k in STATE_KEYS if k not in st]
    if missing:
        raise CheckpointError(f"{ck.file('state')} lacks {', '.join(missing)}; {WHAT_TO_DO}")
    return st


def load_correlator(ck: CheckpointInfo, comm: Any) -> Any:
    """The correlator of a checkpoint, split over the ranks of ``comm`` (any rank count:
    :meth:`OnlineCorrelator.save` writes the gathered state)."""
    from pyonsager.correlator import OnlineCorrelator

    try:
        return OnlineCorrelator.load(ck.file("correlator"), comm)
    except (OSError, KeyError, ValueError, CheckpointError) as exc:
        raise CheckpointError(f"cannot restore the correlator {ck.file('correlator')} ({exc}); "
                              f"{WHAT_TO_DO}") from None


# --------------------------------------------------------------------------- flux rows

def consolidate_fluxes(out: str, step: int) -> int:
    """Keep every flux row up to ``step`` in ``DIR/checkpoint.fluxes.onsager`` (rank 0 only).

    Sources: an earlier prefix file and the flux file of the interrupted run (its rows after
    the prefix's last step); spliced by :func:`pyonsager.fluxfile.splice`, the one flux-file
    reader.  Returns the number of rows kept.
    """
    prefix = os.path.join(out, PREFIX_FILE)
    current = os.path.join(out, "fluxes.onsager")
    try:
        return splice(prefix, [prefix, current], upto=step, header_from=0)
    except InputError as exc:
        raise CheckpointError(f"{current}: cannot keep the flux rows of the interrupted run: "
                         f"{exc}") from None


def join_fluxes(out: str, path: str) -> None:
    """Prepend the kept rows of ``DIR/checkpoint.fluxes.onsager`` to the flux file ``path``
    (rank 0 only; the fix has closed ``path``; the header is the new file's) and remove the
    prefix file."""
    prefix = os.path.join(out, PREFIX_FILE)
    if not os.path.isfile(prefix):
        return
    splice(path, [prefix, path], header_from=1)
    os.unlink(prefix)
