"""``pyonsager run CONFIG --replicas K``: K independent trajectories on K MPI partitions.

Green-Kubo statistics are embarrassingly parallel: K trajectories of length t give the error
bar of one trajectory of length K t (error ~ 1/sqrt(total time)), and a 256-500 atom system
that does not scale by domain decomposition past a few ranks scales perfectly this way.

Under ``mpirun -np P`` (P a multiple of K) COMM_WORLD is split into K partitions of P/K
consecutive ranks (``MPI_Comm_split``, colour = rank // (P/K)); partition k runs the whole
single-temperature workflow (:func:`pyonsager.lammps.runner._run_one`: equilibration, energy
setting, NVE production, checkpoints, its own analysis) on its communicator, with

* its own velocity seed, seed_k = 1 + (seed - 1 + 1000003 k) mod (9e8 - 1) (seed_0 = seed;
  LAMMPS' generators take seeds 1..9e8, the thermostat uses seed_k + 1), recorded in
  ``replica-k/onsager.yaml`` (key ``replica``) and in the merged ``onsager.yaml``;
* its own output directory ``OUT/replica-k/`` (flux file, onsager.yaml, checkpoints), so
  ``--restart`` continues every replica from its own checkpoint.

At the end the K flux files are combined by :func:`pyonsager.multirun.analyze_files`: each
replica's correlator computed as for a single file, the correlator states merged exactly
(sums and pair counts add, no pair spans two replicas) and the replicas used as independent
segments of the error estimate, so ``OUT/onsager.yaml`` equals ``pyonsager analyze
OUT/replica-*/fluxes.onsager``.  With a list of temperatures every temperature runs K
replicas (``OUT/T550/replica-k/``) and ``kappa_T.yaml`` tabulates the merged results.

Progress: world rank 0 prints one line for all replicas, ``replicas 1/4 done, steps
1200..1500 of 2000 | replica 0: ...`` (each replica's leader writes its step to
``OUT/.progress-replica-k``; the lines of the other replicas are not printed).
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Optional

import yaml

from pyonsager.errors import ConfigError, RunError, RunInterrupted

#: seed stride between replicas (a prime, so that seed_k never repeats for k < 900)
SEED_STRIDE = 1_000_003
#: LAMMPS' random generators (RanMars) accept seeds 1..SEED_LIMIT; the thermostat uses seed + 1
SEED_LIMIT = 900_000_000
REPLICA_DIR = "replica-{k}"
PROGRESS_FILE = ".progress-replica-{k}"


def replica_seed(seed: int, k: int) -> int:
    """Velocity seed of replica k: 1 + (seed - 1 + SEED_STRIDE k) mod (SEED_LIMIT - 1)."""
    return 1 + (int(seed) - 1 + SEED_STRIDE * int(k)) % (SEED_LIMIT - 1)


def split_world(comm: Any, replicas: int) -> tuple[int, Any]:
    """(k, communicator of partition k): consecutive blocks of P/K ranks of ``comm``."""
    size = comm.Get_size()
    if replicas < 1:
        raise ConfigError(f"replicas must be >= 1, got {replicas}")
    if size % replicas:
        choices = sorted({replicas * max(1, size // replicas), replicas * (size // replicas + 1)})
        raise ConfigError(
            f"replicas: {replicas} replicas need a number of MPI ranks divisible by "
            f"{replicas}, but mpirun started {size}: use mpirun -np "
            f"{' or -np '.join(map(str, choices))}, or --replicas {size}")
    per = size // replicas
    k = comm.Get_rank() // per
    return k, comm.Split(k, comm.Get_rank())


class _Progress:
    """The session progress hook: one line on world rank 0 for all replicas."""

    def __init__(self, tout: str, k: int, count: int) -> None:
        self.tout, self.k, self.count = tout, k, count

    def _path(self, k: int) -> str:
        return os.path.join(self.tout, PROGRESS_FILE.format(k=k))

    def write(self, text: str) -> None:
        path = self._path(self.k)
        with open(path + ".tmp", "w") as fh:
            fh.write(text)
        os.replace(path + ".tmp", path)

    def __call__(self, session: Any, line: str) -> Optional[str]:
        self.write(f"{session.last_step} {session.total_steps or 0}")
        if self.k != 0:
            return None
        steps, done, total = [], 0, session.total_steps
        for j in range(self.count):
            try:
                with open(self._path(j)) as fh:
                    text = fh.read().split()
            except OSError:
                steps.append(0)
                continue
            if text and text[0] == "done":
                done += 1
            elif text:
                steps.append(int(text[0]))
        prefix = f"pyonsager: replicas {done}/{self.count} done"
        if steps:
            prefix += f", steps {min(steps)}..{max(steps)}" + (f" of {total}" if total else "")
        return prefix + " | replica 0: " + line[len("pyonsager: "):]


def _failure(exc: BaseException) -> tuple[str, str]:
    return type(exc).__name__, " ".join(str(exc).split())


def _raise_combined(failures: dict[int, tuple[str, str]], dirs: list[str]) -> None:
    text = "; ".join(f"replica {k} ({dirs[k]}): {m}" for k, (_, m) in sorted(failures.items()))
    kinds = {c for c, _ in failures.values()}
    if "RunInterrupted" in kinds:
        raise RunInterrupted(f"{text}; --restart --replicas {len(dirs)} continues every replica "
                             "from its own checkpoint")
    if kinds <= {"ConfigError"}:
        raise ConfigError(text)
    raise RunError(text)


def _run_temperature(cfg: Any, T: float, tout: str, restart: bool, world: Any, sub: Any,
                     k: int, sig: Any, overwrite: bool) -> Any:
    from pyonsager.lammps import runner, session as session_module
    from pyonsager.lammps.session import finished_results

    K = cfg.replicas
    rank = world.Get_rank()
    dirs = [os.path.join(tout, REPLICA_DIR.format(k=j)) for j in range(K)]
    if rank == 0:
        os.makedirs(tout, exist_ok=True)
    bad = world.bcast(finished_results(tout) if rank == 0 else None, root=0)
    if bad and not overwrite and not restart:
        raise ConfigError(f"{tout} holds the results of a finished run (onsager.yaml): pass "
                          "--overwrite to replace them, or choose another --out")
    if rank == 0:
        for old in glob.glob(os.path.join(tout, PROGRESS_FILE.format(k="*"))):
            os.unlink(old)
    world.Barrier()
    seed = replica_seed(cfg.seed, k)
    rcfg = dataclasses.replace(cfg, seed=seed)
    progress = _Progress(tout, k, K)
    leader = sub.Get_rank() == 0
    failure: Optional[tuple[str, str]] = None
    own: Optional[BaseException] = None
    session_module.PROGRESS_HOOK = progress if leader else None
    try:
        runner._run_one(rcfg, T, dirs[k], restart, sub, sig, overwrite)
    except Exception as exc:        # every replica reaches the collective below
        failure, own = _failure(exc), exc
    finally:
        session_module.PROGRESS_HOOK = None
        if leader:
            progress.write("done")
    if leader and failure is None:
        _record_replica(dirs[k], k, K, seed, sub.Get_size())
    reports = world.allgather((k, failure))
    failures = {j: f for j, f in reports if f is not None}
    if failures:
        if own is not None:
            raise own
        _raise_combined(failures, dirs)
    result, error = None, None
    if rank == 0:
        try:
            result = merge_replicas(tout, dirs, [replica_seed(cfg.seed, j) for j in range(K)],
                                    world.Get_size() // K)
        except Exception as exc:    # re-raised on every rank below
            error = _failure(exc)
            own = exc
    result, error = world.bcast((result, error), root=0)
    if error is not None:
        if own is not None:
            raise own
        raise RunError(f"merging the replicas in {tout} failed: {error[1]}")
    return result


def _record_replica(rout: str, k: int, count: int, seed: int, ranks: int) -> None:
    """Add ``replica: {index, of, seed, mpi_ranks}`` to the replica's onsager.yaml."""
    path = os.path.join(rout, "onsager.yaml")
    with open(path) as fh:
        doc = yaml.safe_load(fh) or {}
    doc["replica"] = {"index": k, "of": count, "seed": seed, "mpi_ranks": ranks}
    with open(path + ".tmp", "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    os.replace(path + ".tmp", path)


def merge_replicas(tout: str, dirs: list[str], seeds: list[int], ranks_each: int) -> Any:
    """Merged analysis of the replicas' flux files, written to ``tout`` (onsager.yaml with a
    ``replicas`` key, npz, plots); returns the :class:`~pyonsager.result.OnsagerResult`.

    The replicas record their analysis settings in their flux files; when they decided
    different mobile species from their own MSDs, their union is used (a warning says how
    ``pyonsager analyze`` reproduces it)."""
    from pyonsager.fluxfile import read_header, recorded_analysis
    from pyonsager.multirun import analyze_files

    paths = [os.path.join(d, "fluxes.onsager") for d in dirs]
    recs = [recorded_analysis(read_header(p), p) for p in paths]
    mobiles = [r.get("mobile") for r in recs]
    options: dict[str, Any] = {"too_few": "warn"}
    note = None
    if any(m != mobiles[0] for m in mobiles):
        species = [str(s) for s in read_header(paths[0]).get("species") or []]
        union = [s for s in species if any(m and s in m for m in mobiles)]
        options["mobile"] = union or None
        note = (f"the replicas found different mobile species from their MSDs "
                f"({'; '.join(','.join(m or []) for m in mobiles)}): their union "
                f"{','.join(union)} is used; `pyonsager analyze ... --mobile {' '.join(union)}` "
                "reproduces this result, set mobile in the config to fix it")
    result = analyze_files(paths, **options)
    if note:
        result.warnings.append(note)
    result.analysis_overrides = {}        # the run's own choices, not a user's overrides
    result.write(tout)
    path = os.path.join(tout, "onsager.yaml")
    with open(path) as fh:
        doc = yaml.safe_load(fh) or {}
    docs = []
    for d in dirs:
        with open(os.path.join(d, "onsager.yaml")) as fh:
            docs.append(yaml.safe_load(fh) or {})
    doc["replicas"] = {
        "count": len(dirs), "mpi_ranks_each": ranks_each,
        "rule": "independent trajectories (own velocity seeds), correlators merged exactly, "
                "the replicas independent segments of the error estimate (pyonsager.multirun)",
        "members": [{"index": j, "directory": os.path.relpath(d, tout), "seed": seeds[j],
                     "samples": f["samples"], "temperature": f["temperature"],
                     "kappa": r.get("kappa")}
                    for j, (d, f, r) in enumerate(zip(dirs, result.input_files, docs))]}
    doc["partial"] = False
    with open(path + ".tmp", "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    os.replace(path + ".tmp", path)
    for old in glob.glob(os.path.join(tout, PROGRESS_FILE.format(k="*"))):
        os.unlink(old)
    print(f"pyonsager: {len(dirs)} replicas merged (independent segments):", flush=True)
    print(result.table(), flush=True)
    print(f"pyonsager: merged results in {tout}", flush=True)
    return result


def run_replicas(cfg: Any, out: str, restart: bool, comm: Any, sig: Any,
                 overwrite: bool = False) -> Any:
    """The replicas workflow (module docstring) for every temperature of ``cfg``; collective
    on ``comm``.  Returns the merged result (a list, one per temperature, for a list)."""
    from pyonsager.lammps.runner import over_temperatures

    k, sub = split_world(comm, cfg.replicas)
    try:
        return over_temperatures(cfg, out, comm,
                                 lambda T, tout: _run_temperature(cfg, T, tout, restart, comm,
                                                                  sub, k, sig, overwrite))
    finally:
        sub.Free()
