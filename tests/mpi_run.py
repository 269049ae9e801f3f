"""Run a script of tests/mpi_scripts under the venv's mpirun (the mpich wheel's), for tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts")


def mpirun(nprocs: int, script: str, *args, timeout: float = 300) -> str:
    """stdout of ``mpirun -np NPROCS python mpi_scripts/SCRIPT ARGS``; fails the test on a
    non-zero exit (with the output's tail) or after ``timeout`` seconds (all ranks killed)."""
    exe = os.path.join(os.path.dirname(sys.executable), "mpirun")
    env = dict(os.environ)
    # no empty entry: it would mean the current directory, i.e. the source checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in [SCRIPTS, env.get("PYTHONPATH", "")] if p)
    cmd = [exe, "-np", str(nprocs), sys.executable, os.path.join(SCRIPTS, script), *map(str, args)]
    # own session, so a hung run can be killed with all of its ranks
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} timed out after {timeout} s\n{out[-3000:]}{err[-3000:]}")
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    return out
