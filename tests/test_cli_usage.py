"""The `pyonsager` command line around the subcommands: --version, help texts, usage errors."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pyonsager(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyonsager", *args], capture_output=True,
                          text=True, timeout=60)


def test_version_is_the_package_version():
    proc = pyonsager("--version")
    assert proc.returncode == 0, proc.stderr
    # the version setup.py installs, read from setup.py itself
    declared = re.search(r'version="([^"]+)"', (ROOT / "setup.py").read_text()).group(1)
    assert proc.stdout.strip() == f"pyonsager {declared}"


@pytest.mark.parametrize("command", ["run", "demo", "plugin-path", "analyze"])
def test_every_subcommand_help_has_a_description(command):
    proc = pyonsager(command, "--help")
    assert proc.returncode == 0, proc.stderr
    # usage block, a blank line, then the description paragraph before the argument lists
    text = proc.stdout.split("\n\n")
    assert text[0].startswith(f"usage: pyonsager {command}")
    assert len(text[1].split()) >= 10 and not text[1].lstrip().startswith(("positional", "options"))


@pytest.mark.parametrize("args", [["run", "x.yaml", "--no-such-option"],
                                  ["demo", "--no-such-option"],
                                  ["analyze", "f.onsager", "--no-such-option"]])
def test_unknown_option_prints_the_subcommands_usage(args):
    proc = pyonsager(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"usage: pyonsager {args[0]} ")
    assert f"pyonsager {args[0]}: error: unrecognized arguments: --no-such-option" in proc.stderr
