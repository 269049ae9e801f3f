"""The command line tells a user error from a bug (issue 11, item 5): a
:class:`pyonsager.errors.UserError` is one line on stderr and exit status 2; anything else
(an IndexError, a numpy broadcasting ValueError, a LinAlgError) is a bug and keeps its
traceback, exit status 1."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from pyonsager import cli
from pyonsager.errors import UserError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ARGS = ["--units", "metal", "--dt", "0.05", "--volume", "8000", "--temperature", "500",
        "--energy-flux", "J", "--no-plots"]


@pytest.fixture(scope="module")
def column_file(tmp_path_factory):
    rng = np.random.default_rng(4)
    path = tmp_path_factory.mktemp("cols") / "heat.dat"
    with open(path, "w") as f:
        f.write("# step J[1] J[2] J[3]\n")
        np.savetxt(f, np.column_stack([np.arange(400), rng.standard_normal((400, 3))]))
    return os.fspath(path)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    return env


def _one_error_line(code, err):
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pyonsager "), err
    return lines[0]


# --------------------------------------------------------------------------- bugs


@pytest.mark.parametrize("exc", [ZeroDivisionError("float division by zero"),
                                 IndexError("index 3 is out of bounds"),
                                 ValueError("operands could not be broadcast together"),
                                 np.linalg.LinAlgError("Singular matrix")])
def test_an_internal_error_propagates(column_file, tmp_path, monkeypatch, exc):
    import pyonsager.analysis

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(pyonsager.analysis, "analyze_series", broken)
    with pytest.raises(type(exc)) as caught:
        cli.main(["analyze", column_file, "--out", str(tmp_path / "o")] + ARGS)
    assert caught.value is exc and not isinstance(caught.value, UserError)


def test_an_internal_error_shows_a_traceback_and_exits_1(column_file, tmp_path):
    script = ("import sys, pyonsager.analysis as a\n"
              "def broken(*args, **kwargs):\n"
              "    return [][1]\n"
              "a.analyze_series = broken\n"
              "from pyonsager import cli\n"
              "sys.exit(cli.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, "analyze", column_file, "--out",
                           str(tmp_path / "o")] + ARGS, capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert "IndexError: list index out of range" in proc.stderr
    assert ": error:" not in proc.stderr


# --------------------------------------------------------------------------- user errors


def test_missing_file_is_one_line(tmp_path, capsys):
    code = cli.main(["analyze", str(tmp_path / "nope.dat")] + ARGS)
    line = _one_error_line(code, capsys.readouterr().err)
    assert line == f"pyonsager analyze: error: no such file: {tmp_path / 'nope.dat'}"


def test_unknown_column_is_one_line(column_file, tmp_path, capsys):
    code = cli.main(["analyze", column_file, "--out", str(tmp_path / "o")] +
                    ARGS[:-3] + ["--energy-flux", "K", "--no-plots"])
    line = _one_error_line(code, capsys.readouterr().err)
    assert "no column or key 'K'" in line and "available: step, J[1..3]" in line


def test_unwritable_output_directory_is_one_line(tmp_path, capsys):
    from ou import ou_series

    # tau = 0.2 ps = 20 samples: 20000 samples are enough for the Green-Kubo analysis
    j = 40.0 * ou_series([[5.0]], [[1.0]], 0.01, 20000, seed=7)[:, 0]
    path = tmp_path / "heat.dat"
    with open(path, "w") as f:
        f.write("# step J[1] J[2] J[3]\n")
        np.savetxt(f, np.column_stack([np.arange(len(j)), j]))
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a directory")
    argv = ["analyze", str(path), "--single-component"] + ARGS[:3] + ["0.01"] + ARGS[4:]
    assert cli.main(argv + ["--out", str(tmp_path / "ok")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    code = cli.main(argv + ["--out", str(blocker / "sub")])
    line = _one_error_line(code, capsys.readouterr().err)
    assert f"cannot write the results to {blocker / 'sub'}" in line and "--out" in line


def test_too_few_samples_and_bad_override_are_one_line(column_file, tmp_path, capsys):
    code = cli.main(["analyze", column_file, "--out", str(tmp_path / "o")] + ARGS)
    assert "too few samples" in _one_error_line(code, capsys.readouterr().err)
    code = cli.main(["analyze", column_file, "--override", "dt=1"] + ARGS)
    assert "column file, which records no facts" in \
        _one_error_line(code, capsys.readouterr().err)


def test_run_with_a_missing_config_exits_2_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyonsager.cli", "run",
                           str(tmp_path / "none.yaml")], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=str(tmp_path))
    line = _one_error_line(proc.returncode, proc.stderr)
    assert line == f"pyonsager run: error: config file {tmp_path / 'none.yaml'} does not exist"
