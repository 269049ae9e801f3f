"""On-the-fly Onsager coefficients from a user's own ``lammps`` object.

``attach(lmp, ...)`` defines ``fix pyonsager_sample all onsager COMPUTE EVERY file PATH`` and
registers a ctypes callback with the plugin's C API.  The fix samples the compute at end of
step (full-step velocities) and every ``batch`` samples hands the rows to the callback on
*every* rank; the callback feeds the correlator (which splits its work across the ranks),
the temperature accumulators and the per-species MSD, and prints a progress line on rank 0.
The user's own ``run`` commands, loops and variables run unchanged; ``finish(out=DIR)``
flushes, builds a :class:`~pyonsager.finish.RunRecord` (run metadata from the plugin's C API,
never read back from the file) and hands it to :func:`pyonsager.finish.finish_run`, the
finish path shared with the ASE driver.

A row is ``[step, temperature, compute vector, site energies]``; the compute vector is 3 values
per channel in the correlator's channel order (J0, kinetic, potential, species..., [charge]), so
a batch of rows reshapes to the (n, nchannels, 3) block the correlator takes without copying
columns (the slices are :class:`pyonsager.channels.ChannelLayout`'s, from the fix's column
and species counts: :meth:`~pyonsager.channels.ChannelLayout.from_fix_row`); the last
``nspecies`` values are the mean site energy (pe per atom) of each species, whose running
mean goes to the analysis (``FluxMetadata.site_energies``) exactly as
:func:`pyonsager.analyze` of the flux file would take it from the same columns.

Why a stop flag instead of exceptions: a Python exception cannot cross the C++ stack of a
LAMMPS run (ctypes prints and swallows it).  Errors and stop requests (signals) are recorded
and the run is ended cleanly with ``lmp.force_timeout()``; all ranks agree through one small
``Allreduce`` per callback, so under ``mpirun`` every rank leaves the run at the same step.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from typing import Any, Optional, Sequence

import numpy as np

from pyonsager import _plugin
from pyonsager import finish as _finish
from pyonsager.channels import LEADING, STEP, TEMPERATURE, ChannelLayout
from pyonsager.fluxes import FluxMetadata
from pyonsager.lammps.msd import MSDTracker
from pyonsager.finish import (TemperatureStats, finished_results, refuse_overwrite,  # noqa: F401
                              temperature_keys)
from pyonsager.estimators import DEFAULT_ESTIMATOR
from pyonsager.errors import CheckpointError, InputError, OverwriteRefused, SamplingError  # noqa: F401

FIX_ID = "pyonsager_sample"
#: columns of a fix onsager row before the flux block (pyonsager.channels.LEADING)
_STEP_COLUMN = LEADING.index(STEP)
_TEMPERATURE_COLUMN = LEADING.index(TEMPERATURE)
#: default callback interval in MD steps (batch = max(1, DEFAULT_CALLBACK_STEPS // every)):
#: frequent enough that a stop request (SIGTERM) is honoured within ~100 steps, rare enough
#: that the fixed cost per call (one Allreduce, one MSD pass over the local atoms) is
#: negligible against 100 MD steps; the correlator's cost is per sample (~25 us) either way
DEFAULT_CALLBACK_STEPS = 100
#: replicas (pyonsager.lammps.replicas): f(session, line) -> the progress line to print
#: instead, or None to print nothing; None: the line as it is
PROGRESS_HOOK: Any = None
#: styles that exchange energy with a bath (Green-Kubo wants NVE); same list as the fix's
THERMOSTAT_PREFIXES = ("langevin", "nvt", "npt", "temp/", "gld", "gle", "rigid/nvt",
                       "rigid/npt", "nvk", "ffl", "dpd/tstat", "ttm", "tgnvt", "tgnpt", "gjf")


def _world(comm: Any) -> Any:
    if comm is not None:
        return comm
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _info_lines(lmp: Any, category: str, scratch: Optional[str], comm: Any) -> list[str]:
    """The lines of LAMMPS' ``info CATEGORY`` (collective; the same list on every rank)."""
    import tempfile

    comm = _world(comm)
    path = None
    if comm.Get_rank() == 0:
        fd, path = tempfile.mkstemp(prefix="pyonsager_info_", suffix=".txt", dir=scratch)
        os.close(fd)
    path = comm.bcast(path, root=0)
    lmp.command(f'info {category} out overwrite "{path}"')
    lines: list[str] = []
    if comm.Get_rank() == 0:
        with open(path) as fh:
            lines = fh.readlines()
        os.unlink(path)
    return comm.bcast(lines, root=0)


def list_fixes(lmp: Any, scratch: Optional[str] = None, comm: Any = None) -> list[tuple[str, str]]:
    """(ID, style) of every fix defined in ``lmp`` (parsed from ``info fixes``).

    The library interface lists fix IDs but not their styles; ``info`` names both.
    """
    out: list[tuple[str, str]] = []
    for line in _info_lines(lmp, "fixes", scratch, comm):
        # "Fix[  0]:    ID,  style = nve,  group = all"
        if line.startswith("Fix["):
            body = line.split(":", 1)[1]
            parts = [p.strip() for p in body.split(",")]
            style = next((p.split("=", 1)[1].strip() for p in parts if p.startswith("style")), "")
            out.append((parts[0], style))
    return out


def pair_style(lmp: Any, comm: Any = None) -> Optional[str]:
    """The pair style of ``lmp`` (from ``info system``: "Atoms = N, types = T, style = S"),
    or None when LAMMPS does not say."""
    for line in _info_lines(lmp, "system", None, comm):
        if line.startswith("Atoms") and "style =" in line:
            return line.rsplit("style =", 1)[1].strip() or None
    return None


def thermostat_fixes(fixes: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(i, s) for i, s in fixes if s.startswith(THERMOSTAT_PREFIXES)]


def thermostat_warning(fid: str, style: str) -> str:
    return (f"thermostat/barostat fix {fid} ({style}) was active while sampling: the dynamics "
            "was not NVE, so the Green-Kubo coefficients are perturbed by the bath (biased); "
            f"unfix {fid} before the production run")


class Session:
    """Sampling state of one attached LAMMPS instance; create it with :func:`attach`."""

    def __init__(self, lmp: Any, compute: str, every: int, max_lag: float,
                 mobile: Optional[Sequence[str]], file: str, batch: int, comm: Any,
                 species: Optional[Sequence[str]], estimator: str, progress: bool,
                 progress_interval: float, estimate_interval: float,
                 total_steps: Optional[int]):
        self.lmp = lmp
        self.compute = compute
        self.every = int(every)
        self.max_lag_time = float(max_lag)
        self.mobile = list(mobile) if mobile is not None else None
        self.file = os.path.abspath(file)
        self.batch = int(batch)
        self.comm = _world(comm)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.type_species = list(species) if species is not None else None
        self.estimator = estimator
        self.progress = progress
        self.progress_interval = progress_interval
        self.estimate_interval = estimate_interval
        #: steps the caller intends to sample from ``start_step`` (for the ETA), or None
        self.total_steps = total_steps

        self.timestep = float(lmp.extract_global("dt"))
        self.units = str(lmp.extract_global("units"))
        if self.units not in ("metal", "real"):
            raise InputError(f"units {self.units!r} are not supported: use units metal or real "
                             "(Onsager coefficients are reported in SI)")
        self.start_step = int(lmp.extract_global("ntimestep"))
        # same rounding as pyonsager.analyze(max_lag=...), so a re-analysis of the file matches
        self.max_lag = max(1, int(round(self.max_lag_time / (self.timestep * self.every))))

        self.correlator: Any = None
        #: the layout of the fix's rows (pyonsager.channels): its species are placeholders
        #: until the fix has measured the compute's names (see channel_layout())
        self.layout: Optional[ChannelLayout] = None
        self.nchannels = 0
        self.nsite = 0                  # trailing site-energy columns (one per species)
        self.site_energy_sum: Optional[np.ndarray] = None   # per-species sum over samples
        #: moments and block means of the sampled T (pyonsager.finish.TemperatureStats)
        self.temperature = TemperatureStats()
        self.nsamples = 0
        self.first_step: Optional[int] = None
        self.last_step: Optional[int] = None
        self.gaps = 0
        self.msd: Optional[MSDTracker] = None
        self.error: Optional[BaseException] = None
        self.stop_requested = False     # set locally (signal handler, test hook)
        self.stopped = False            # all ranks agreed to stop; the run was timed out
        self.stop_at_step: Optional[int] = None   # test hook: request a stop at this step
        self.finished = False
        self._cb: Any = None            # the CFUNCTYPE object: must outlive the fix
        self._t0: Optional[float] = None
        self._s0: Optional[int] = None
        self._last_print = 0.0
        self._last_estimate = 0.0
        self._estimate: Optional[tuple[float, float]] = None
        self._provisional_species = False
        #: directory whose checkpoint.fluxes.onsager is prepended to the file at finish
        self.prefix_dir: Optional[str] = None
        self.file_defaulted = False
        #: mobile species passed to the analysis by finish() (given, or from the MSD)
        self.mobile_used: Optional[list[str]] = None
        #: the fix's run metadata (plugin C API ``onsager_metadata``), once measured
        self._plugin_meta: Optional[dict] = None
        self._site_energy_lost = False
        #: driver warnings for onsager.yaml ``warnings`` and the summary (thermostats ...)
        self.warnings: list[str] = []
        #: thermostat/barostat fixes seen while sampling: {fix ID: style}
        self.thermostats: dict[str, str] = {}
        #: thermostat fixes defined when attach() was called, and those not yet sampled with
        self.bath_fixes: dict[str, str] = {}
        self._pending_baths: dict[str, str] = {}
        #: replace results of a finished run in the output directory (attach/finish overwrite=)
        self.overwrite = False
        #: the temperature the caller asked for (K) and how its energy was set (runner)
        self.requested_temperature: Optional[float] = None
        self.temperature_control: Optional[dict] = None

    # ------------------------------------------------------------------ setup
    def _define_fix(self) -> None:
        lmp = self.lmp
        _plugin.load_plugin(lmp)
        if not lmp.has_id("compute", self.compute):
            raise InputError(
                f"no compute {self.compute!r} in this LAMMPS instance: define it first, e.g. "
                f"'compute {self.compute} all onsager pe stress species A B' after "
                "'compute pe all pe/atom' and 'compute stress all centroid/stress/atom NULL virial'")
        if lmp.has_id("fix", FIX_ID):
            lmp.command(f"unfix {FIX_ID}")
        if self.rank == 0:
            os.makedirs(os.path.dirname(self.file) or ".", exist_ok=True)
        self.comm.Barrier()
        # quoted: LAMMPS splits arguments at whitespace
        # the settings known now go into the header (finish() completes them, e.g. the mobile
        # species decided from the MSD) so that pyonsager analyze FILE reproduces the run
        from pyonsager.fluxfile import analysis_text

        lmp.command(f'fix {FIX_ID} all onsager {self.compute} {self.every} file "{self.file}" '
                    f'analysis "{analysis_text(self.analysis_settings())}"')
        api = _plugin.capi()
        ncols = api.onsager_ncols(lmp.lmp, FIX_ID.encode())
        if ncols < 0:
            raise RuntimeError(f"fix {FIX_ID} was not found through the plugin's C API")
        nsite = api.onsager_nspecies(lmp.lmp, FIX_ID.encode())
        if nsite < 0:
            raise RuntimeError(f"fix {FIX_ID} reports {nsite} species through the plugin's C API")
        # the species' names reach Python with the fix's metadata (first run); the row layout
        # needs only their number
        try:
            self.layout = ChannelLayout.from_fix_row(ncols, _placeholder_species(nsite))
        except InputError as exc:
            raise RuntimeError(f"fix {FIX_ID}: {exc}") from None
        self.nchannels = self.layout.nchannels
        if self.site_energy_sum is not None and self.site_energy_sum.size != nsite:
            raise CheckpointError(f"restored state has {self.site_energy_sum.size} species, the "
                                  f"compute {self.compute} gives {nsite}")
        self.nsite = nsite
        if self.site_energy_sum is None:
            self.site_energy_sum = np.zeros(nsite)
        if self.correlator is None:
            from pyonsager.correlator import OnlineCorrelator

            self.correlator = OnlineCorrelator(self.nchannels, self.max_lag, comm=self.comm)
        elif self.correlator.nch != self.nchannels:
            raise CheckpointError(f"restored correlator has {self.correlator.nch} channels, the "
                                  f"compute {self.compute} gives {self.nchannels}")
        self._cb = _plugin.ONSAGER_CALLBACK(self._callback)
        if api.onsager_set_callback(lmp.lmp, FIX_ID.encode(), self._cb, None, self.batch) != 0:
            raise RuntimeError(f"could not register the callback on fix {FIX_ID}")
        # thermostats defined now count once a sample is taken while they exist (a user may
        # attach during equilibration and unfix the thermostat before the production run)
        self.bath_fixes = dict(thermostat_fixes(list_fixes(lmp, comm=self.comm)))
        self._pending_baths = dict(self.bath_fixes)

    def _record_bath(self, fid: str, style: str, stacklevel: int = 2) -> None:
        """A thermostat/barostat fix was active while sampling: a warning in onsager.yaml and
        the summary (and a Python warning, once)."""
        if fid in self.thermostats:
            return
        self.thermostats[fid] = style
        msg = thermostat_warning(fid, style)
        self.warnings.append(msg)
        if self.rank == 0:
            warnings.warn(msg, stacklevel=stacklevel)

    def _check_pending_baths(self) -> None:
        """In the callback: thermostats seen at attach() that still exist were sampled with
        (``has_id`` is a lookup, no LAMMPS command, so it is safe during a run)."""
        for fid in [f for f in self._pending_baths if self.lmp.has_id("fix", f)]:
            self._record_bath(fid, self._pending_baths.pop(fid))

    def record_thermostats(self, stacklevel: int = 2) -> list[tuple[str, str]]:
        """Record the thermostat/barostat fixes defined now (collective; at finish(): a fix
        defined after attach() and still there was active in the last run)."""
        found = thermostat_fixes(list_fixes(self.lmp, comm=self.comm))
        for fid, style in found:
            self._record_bath(fid, style, stacklevel + 1)
        return found

    # ------------------------------------------------------------------ callback
    def _callback(self, ctx: Any, nrows: int, ncols: int, rows_ptr: Any) -> None:
        # never let an exception escape into C++: record it and stop the run
        err = 0
        try:
            rows = np.ctypeslib.as_array(rows_ptr, shape=(nrows, ncols)).copy()
            self._consume(rows)
        except BaseException as exc:   # noqa: BLE001 -- must not propagate into LAMMPS
            if self.error is None:
                self.error = exc
                sys.stderr.write(f"pyonsager: error in the sampling callback on rank {self.rank}:\n")
                traceback.print_exc()
            err = 1
        try:
            self._agree(err)
        except BaseException as exc:   # noqa: BLE001
            if self.error is None:
                self.error = exc
            self.lmp.force_timeout()

    def _consume(self, rows: np.ndarray) -> None:
        steps = rows[:, _STEP_COLUMN].astype(np.int64)
        if self.last_step is not None:
            d = np.diff(np.concatenate([[self.last_step], steps]))
        else:
            d = np.diff(steps)
        bad = int(np.count_nonzero(d != self.every))
        if bad:
            if self.gaps == 0 and self.rank == 0:
                warnings.warn(f"pyonsager: samples are not every {self.every} steps around step "
                              f"{int(steps[0])} (timestep reset or sampling interrupted); the "
                              "correlator treats them as consecutive")
            self.gaps += bad
        if self._pending_baths:
            self._check_pending_baths()
        # collectives first (MSD), so that a failure below cannot leave ranks waiting
        if self.msd is not None:
            self.msd.sample(int(steps[-1]))
        lay = self.layout
        block = rows[:, lay.flux_columns].reshape(rows.shape[0], lay.nchannels, 3)
        self.correlator.add(block)
        self.temperature.add(rows[:, _TEMPERATURE_COLUMN])
        self.site_energy_sum += rows[:, lay.site_columns].sum(axis=0)
        self.nsamples += rows.shape[0]
        if self.first_step is None:
            self.first_step = int(steps[0])
        self.last_step = int(steps[-1])
        if self.stop_at_step is not None and self.last_step >= self.stop_at_step:
            self.stop_requested = True

    def _agree(self, err: int) -> None:
        """One Allreduce: stop (signal/error) and whether a progress line / estimate is due."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0, self._s0 = now, self.last_step
            self._last_print = self._last_estimate = now
        flags = np.array([
            1 if (self.stop_requested or err) else 0,
            1 if (self.progress and now - self._last_print >= self.progress_interval) else 0,
            1 if (self.progress and now - self._last_estimate >= self.estimate_interval) else 0,
        ], dtype=np.int64)
        if self.size > 1:
            from mpi4py import MPI

            total = np.empty_like(flags)
            self.comm.Allreduce(flags, total, op=MPI.MAX)
            flags = total
        if flags[0]:
            self.stopped = True
            self.lmp.force_timeout()
        if flags[2]:
            self._last_estimate = now
            self._estimate = self._quick_estimate()
        if flags[1]:
            self._last_print = now
            self._print_progress(now)

    def _quick_estimate(self) -> Optional[tuple[float, float]]:
        """Current (kappa, L00) in W/(m K) from the correlator (collective)."""
        try:
            from pyonsager.analysis import analyze_correlator

            # the same mobile species as finish() would use now: given, or from the MSD
            mobile = _finish.mobile_species(self.mobile, self.diffusion())
            meta = self._metadata(partial=True, mobile=mobile)
            res = analyze_correlator(self.correlator, meta, channel_names=self._channel_names())
            return float(res.kappa.value), float(res.L00.value)
        except Exception:   # too few samples yet, etc.: skip this estimate
            return None

    def _print_progress(self, now: float) -> None:
        if self.rank != 0 or self.last_step is None:
            return
        done = self.last_step - self.start_step
        rate = (self.last_step - self._s0) / (now - self._t0) if now > self._t0 else float("nan")
        line = f"pyonsager: step {done}"
        if self.total_steps:
            line += f"/{self.total_steps} ({100.0 * done / self.total_steps:.0f}%)"
        line += f"  {rate:.0f} steps/s"
        if self.total_steps and rate > 0:
            eta = max(0.0, (self.total_steps - done) / rate)
            line += f"  ETA {int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
        if self._estimate is not None:
            # always the Green-Kubo integral of the running correlator, whatever the estimator
            line += (f"  so far (Green-Kubo): kappa {self._estimate[0]:.4g}  "
                     f"L00 {self._estimate[1]:.4g} W/(m K)")
            if self.estimator != "green-kubo":
                line += f" [the result uses {self.estimator}]"
        if PROGRESS_HOOK is not None:
            line = PROGRESS_HOOK(self, line)
            if line is None:
                return
        print(line, flush=True)

    # ------------------------------------------------------------------ state
    def request_stop(self) -> None:
        """Ask the run to end at the next callback (safe from a signal handler).

        The stop uses LAMMPS' timeout: later ``run`` commands of this instance also end at
        once until ``timer timeout off`` is given."""
        self.stop_requested = True

    def check(self) -> None:
        """Raise :class:`SamplingError` if the callback failed on any rank."""
        failed = 1 if self.error is not None else 0
        if self.size > 1:
            from mpi4py import MPI

            failed = self.comm.allreduce(failed, op=MPI.MAX)
        if failed:
            msg = str(self.error) if self.error is not None else "see the other ranks' output"
            raise SamplingError(f"pyonsager sampling failed: {msg}") from self.error

    def flush(self) -> None:
        """Hand rows still buffered in the fix to the callback now (collective)."""
        if self.lmp.has_id("fix", FIX_ID):
            _plugin.capi().onsager_flush(self.lmp.lmp, FIX_ID.encode())

    def state(self) -> dict[str, np.ndarray]:
        """Session accumulators for a checkpoint (the correlator is saved separately)."""
        st = {
            **self.temperature.state(),
            "counters": np.array([self.nsamples, -1 if self.first_step is None else self.first_step,
                                  -1 if self.last_step is None else self.last_step, self.gaps,
                                  self.start_step], dtype=np.int64),
        }
        if self.site_energy_sum is not None:
            st["site_energy_sum"] = np.asarray(self.site_energy_sum, dtype=np.float64)
        if self.msd is not None:
            st.update(self.msd.state())
        return st

    def load_state(self, st: dict[str, np.ndarray], correlator: Any) -> None:
        self.temperature.load(st)
        n, first, last, gaps, start = (int(v) for v in st["counters"])
        self.nsamples, self.gaps, self.start_step = n, gaps, start
        self.first_step = None if first < 0 else first
        self.last_step = None if last < 0 else last
        self.correlator = correlator
        if "site_energy_sum" in st:
            self.site_energy_sum = np.array(st["site_energy_sum"], dtype=np.float64)
        else:    # a checkpoint from before the site-energy columns: means would be partial
            self.site_energy_sum = None
            self._site_energy_lost = True
        if self.msd is not None and "msd_ref" in st:
            self.msd.load_state(st)

    # ------------------------------------------------------------------ results
    def plugin_metadata(self) -> Optional[dict]:
        """The run metadata of the fix (units, dt, timestep, nevery, volume, species, masses,
        counts, charge, group, virial, lammps_version) from the plugin's C API
        (``onsager_metadata``: the values the fix writes into the file header), identical on
        every rank; None before the fix's first run has measured them."""
        if self._plugin_meta is None:
            raw = None
            if self.lmp.has_id("fix", FIX_ID):
                raw = _plugin.capi().onsager_metadata(self.lmp.lmp, FIX_ID.encode())
            if raw is None:
                raise RuntimeError(f"fix {FIX_ID} was not found through the plugin's C API")
            if not raw:
                return None
            self._plugin_meta = json.loads(raw.decode())
        return self._plugin_meta

    def _require_metadata(self) -> dict:
        meta = self.plugin_metadata()
        if meta is None and self.lmp.has_id("fix", FIX_ID):
            # samples restored from a checkpoint but no run since: a setup-only run makes the
            # fix measure its metadata (no step, no sample)
            self.lmp.command("run 0 post no")
            meta = self.plugin_metadata()
        if meta is None:
            raise SamplingError(f"fix {FIX_ID} has not run yet: run LAMMPS (lmp.command('run N')) "
                                "between attach() and finish()")
        return meta

    def channel_layout(self) -> Optional[ChannelLayout]:
        """The layout of the fix's rows with the compute's species names (plugin metadata);
        None before the fix's first run has measured them."""
        h = self.plugin_metadata()
        if h is None or self.layout is None:
            return None
        layout = ChannelLayout.from_fix_row(self.layout.ncolumns, [str(s) for s in h["species"]])
        if layout.charge != bool(h["charge"]):
            raise RuntimeError(f"fix {FIX_ID}: {self.layout.ncolumns} columns for "
                               f"{len(h['species'])} species, but the metadata says charge "
                               f"{h['charge']}")
        return layout

    def _channel_names(self) -> Optional[list[str]]:
        layout = self.channel_layout()
        return None if layout is None else layout.names

    def _metadata(self, partial: bool = False, mobile: Optional[list[str]] = None) -> FluxMetadata:
        h = self._require_metadata()
        masses = h.get("masses")
        return FluxMetadata(
            units=self.units, dt=float(h["dt"]), volume=float(h["volume"]),
            temperature=self.temperature.mean, species=[str(s) for s in h["species"]],
            masses=[float(m) for m in masses] if masses and None not in masses else None,
            counts=[int(c) for c in h["counts"]] if h.get("counts") else None,
            mobile=mobile if mobile is not None else self.mobile,
            site_energies=self.site_energies(),
            extra={"lammps_version": self.lmp.version(), "mpi_ranks": self.size,
                   "nevery": self.every, "timestep": self.timestep, "group": h.get("group"),
                   "partial": partial, "channels": self._channel_names()})

    def site_energies(self) -> Optional[dict[str, float]]:
        """Mean site energy per species over all samples (energy unit of the unit system),
        the time mean of the flux file's ``site_energy_*`` columns; None before any sample."""
        if (self.site_energy_sum is None or self._site_energy_lost or not self.nsamples
                or not self.nsite):
            return None
        h = self.plugin_metadata()
        names = [str(s) for s in (h or {}).get("species") or []]
        if len(names) != self.nsite:
            return None
        return {s: float(v) / self.nsamples for s, v in zip(names, self.site_energy_sum)}

    def _resolve_species(self) -> None:
        """Give the MSD the compute's species names once the fix has measured them."""
        if self.msd is None or not self._provisional_species:
            return
        names = [str(n) for n in (self._require_metadata().get("species") or [])]
        if len(names) == len(self.msd.species):
            self.msd.species = names
            self.msd.type_species = names
        else:
            if self.rank == 0:
                warnings.warn("pyonsager: cannot tell which atom types form which species; "
                              "pass species=[...] to attach() for diffusion coefficients")
            self.msd = None
        self._provisional_species = False

    def _msd_series(self) -> Any:
        self._resolve_species()
        if self.msd is None or not self.msd.steps:
            return None
        return self.msd.series(self.timestep)

    def diffusion(self) -> dict[str, tuple[float, float]]:
        """{species: (D, error)} in m^2/s from the MSD (empty without MSD)."""
        return _finish.diffusion_coefficients(self._msd_series(), self.units)

    def analysis_settings(self, mobile: Optional[Sequence[str]] = None,
                          **analysis: Any) -> dict[str, Any]:
        """The analysis settings of this run for the flux file's ``analysis:`` header line
        (:func:`pyonsager.finish.analysis_settings`): max lag (time unit of the units style),
        estimator, mobile species (given, or decided at finish), explicit finish() options."""
        return _finish.analysis_settings(self.max_lag_time, self.estimator,
                                         mobile if mobile is not None else self.mobile, analysis)

    def record(self, partial: bool = False, fixes: Optional[Sequence[tuple[str, str]]] = None,
               **analysis: Any) -> "_finish.RunRecord":
        """The :class:`~pyonsager.finish.RunRecord` of what this session collected
        (collective: ``fixes`` defaults to the fixes defined now)."""
        if fixes is None:
            fixes = list_fixes(self.lmp, comm=self.comm)
        h = self._require_metadata()
        dynamics = ", ".join(f"{i} ({s})" for i, s in fixes if i != FIX_ID) or None
        run = _finish.run_block(
            driver="lammps", engine="LAMMPS", engine_version=int(self.lmp.version()),
            dynamics=dynamics, potential=pair_style(self.lmp, self.comm),
            first=self.first_step, last=self.last_step, every=self.every,
            samples=self.nsamples, timestep=self.timestep, units=self.units,
            mpi_ranks=self.size, gaps=self.gaps)
        return _finish.RunRecord(
            metadata=self._metadata(partial=partial), correlator=self.correlator,
            flux_file=self.file, temperature=self.temperature, max_lag=self.max_lag_time,
            estimator=self.estimator, options=dict(analysis), channel_names=self._channel_names(),
            mobile=self.mobile, msd=self._msd_series(), run=run,
            thermostats=[{"fix": k, "style": v} for k, v in self.thermostats.items()],
            warnings=list(self.warnings), requested_temperature=self.requested_temperature,
            temperature_control=self.temperature_control, virial_path=h.get("virial"),
            partial=partial, comm=self.comm)

    def finish(self, out: Optional[str] = None, partial: bool = False,
               overwrite: Optional[bool] = None, **analysis: Any) -> Any:
        """Flush, gather, analyse and write ``out/onsager.yaml``, ``onsager.npz``, plots and
        ``out/fluxes.onsager``; return the :class:`~pyonsager.result.OnsagerResult` (all ranks).

        ``partial=True`` marks an interrupted run in the YAML.  ``overwrite``: replace the
        results of a finished run already in ``out`` (default: as given to attach(); without
        it such a directory is :class:`~pyonsager.errors.OverwriteRefused`).  Extra keywords
        go to the analysis (e.g. ``cutoff=``).  Collective: call on every rank.  The analysis
        and the files are :func:`pyonsager.finish.finish_run` of :meth:`record`.
        """
        out = os.path.abspath(out or os.path.dirname(self.file) or ".")
        allow = self.overwrite if overwrite is None else bool(overwrite)
        if not allow and not self.finished:
            bad = self.comm.bcast(finished_results(out) if self.rank == 0 else None, root=0)
            if bad:
                refuse_overwrite(out, "overwrite=True to finish()")
        if self.lmp.has_id("fix", FIX_ID):
            self._require_metadata()          # read from the fix before it goes
            api = _plugin.capi()
            api.onsager_flush(self.lmp.lmp, FIX_ID.encode())
            # detach the callback before the fix goes, so C++ never calls a dead object
            api.onsager_set_callback(self.lmp.lmp, FIX_ID.encode(), _plugin.ONSAGER_CALLBACK(), None, 0)
            self.lmp.command(f"unfix {FIX_ID}")   # closes (and flushes) the flux file
        if self.prefix_dir is not None and self.rank == 0:
            # a continued run: rows before the restart point were kept aside (checkpoint.py)
            from pyonsager.lammps.checkpoint import join_fluxes

            join_fluxes(self.prefix_dir, self.file)
        self.comm.Barrier()
        self.check()
        if self.nsamples == 0:
            raise SamplingError("no samples were collected: run LAMMPS (lmp.command('run N')) "
                                "between attach() and finish()")
        # a thermostat defined after attach() (and still there) is recorded too
        fixes = list_fixes(self.lmp, comm=self.comm)
        for fid, style in thermostat_fixes(fixes):
            self._record_bath(fid, style, 4)
        done = _finish.finish_run(self.record(partial, fixes, **analysis), out,
                                  move_flux_file=self.file_defaulted)
        self.mobile_used = done.mobile
        if self.file_defaulted:
            self.file = done.flux_file      # our own default location: moved, not copied
        self.finished = True
        return done.result


def attach(lmp: Any, compute: str = "flux", every: int = 10, max_lag: float = 2.0,
           mobile: Optional[Sequence[str]] = None, file: Optional[str] = None,
           out: Optional[str] = None, batch: Optional[int] = None, comm: Any = None,
           species: Optional[Sequence[str]] = None, estimator: str = DEFAULT_ESTIMATOR,
           msd: bool = True, progress: bool = True, progress_interval: float = 10.0,
           estimate_interval: float = 30.0, total_steps: Optional[int] = None,
           overwrite: bool = False, virial: Optional[str] = None,
           exact_difference: str = "central") -> Session:
    """Sample ``compute`` (a ``compute onsager``) of ``lmp`` every ``every`` steps.

    Parameters
    ----------
    lmp: a ``lammps.lammps`` instance with atoms, a potential and ``compute COMPUTE all onsager``.
    every: sampling interval in steps (NEVERY of the fix).
    max_lag: longest correlation time, in the unit system's time unit (metal: ps).
    mobile: names of the diffusing species; default: decided from the MSD at ``finish``.
    file: flux series file the fix writes (default ``OUT/fluxes.onsager``, OUT = ``out`` or
        the current directory).
    batch: samples per callback (default: one callback about every 100 steps).
    comm: mpi4py communicator of ``lmp`` (default COMM_WORLD).
    species: species name of each atom type (as given to the compute); needed for the MSD when
        two types share a species name (default: the compute's species, one per type).
    msd: track per-species MSD / diffusion coefficients.
    total_steps: steps you intend to run (only for the ETA of the progress line).
    overwrite: allow writing into a directory (of ``file`` / ``out``) that holds the results
        of a finished run; without it that is a FileExistsError, before anything is written.
    virial: if given (``auto``, ``centroid`` or ``exact``) and ``compute`` does not exist yet,
        define it (with ``species``) on that potential-flux path; ``auto`` takes the centroid
        virial where it is exact and ``exact`` otherwise (pyonsager.lammps.virial).
    exact_difference: ``central`` (default) or ``forward``: the finite difference of the exact
        path when ``virial`` defines the compute (docs/exact_flux.md, "Cost").

    Call collectively (every rank).  Then run LAMMPS as usual and call ``finish(out=DIR)``.
    """
    if every < 1:
        raise InputError(f"every must be >= 1 step, got {every}")
    if max_lag <= 0:
        raise InputError(f"max_lag must be > 0 (a time in the unit system's time unit), got {max_lag}")
    if batch is None:
        batch = max(1, DEFAULT_CALLBACK_STEPS // every)
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    if virial is not None and not lmp.has_id("compute", compute):
        from pyonsager.lammps.virial import define_flux_compute

        define_flux_compute(lmp, compute, species=species, virial=virial,
                            exact_difference=exact_difference)
    defaulted = file is None
    if file is None:
        file = os.path.join(out or os.getcwd(), "fluxes.onsager")
    s = Session(lmp, compute, every, max_lag, mobile, file, batch, comm, species, estimator,
                progress, progress_interval, estimate_interval, total_steps)
    s.file_defaulted = defaulted
    s.overwrite = bool(overwrite)
    if not overwrite:
        dirs = {os.path.dirname(s.file)} | ({os.path.abspath(out)} if out else set())
        bad = [d for d in sorted(dirs) if finished_results(d)] if s.rank == 0 else None
        bad = s.comm.bcast(bad, root=0)
        if bad:
            refuse_overwrite(bad[0], "overwrite=True to attach()")
    s._define_fix()
    if msd:
        type_species = s.type_species or _species_per_type(s)
        if type_species is not None:
            s.msd = MSDTracker(lmp, type_species, s.comm)
            s.msd.start(s.start_step)
    return s


def _placeholder_species(n: int) -> list[str]:
    """Names standing for the compute's ``n`` species until the fix's metadata names them."""
    return [f"species{k}" for k in range(1, n + 1)]


def _species_per_type(s: Session) -> Optional[list[str]]:
    """Provisional per-type species for the MSD when the user did not name them.

    The compute's species names reach us only through the fix's metadata (plugin C API),
    measured at the first run's init; with one species per type (the compute's default, and the usual
    ``species A B`` for two types) type k is species k, renamed in :meth:`Session.finish`.
    """
    ntypes = int(s.lmp.extract_global("ntypes"))
    if s.layout is not None and len(s.layout.species) == ntypes:
        s._provisional_species = True
        return [f"type{k}" for k in range(1, ntypes + 1)]
    warnings.warn("pyonsager: the compute does not name one species per atom type; pass "
                  "species=[name of each type] to attach() for the MSD / diffusion coefficients")
    return None
