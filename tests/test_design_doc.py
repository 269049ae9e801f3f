"""docs/design.md's module list matches the package.

The "Layout and ownership" block of docs/design.md is a tree: ``pyonsager/`` at column 0, its
modules and subpackages two columns deeper per level, each entry's name first on its line
(``NAME.py`` or ``NAME/``) and its description after it; continuation lines of a description
are indented far deeper and are not entries.  Every ``.py`` file of the package must be an
entry, and every entry must exist.  Module references elsewhere in the text (``lammps/x.py``,
``pyonsager/x.py``, ``pyonsager.x.y``) must name existing modules too.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pyonsager"
DESIGN = ROOT / "docs" / "design.md"
#: entries are at most this deep (pyonsager/examples/agi/NAME.py: column 6)
MAX_ENTRY_INDENT = 8

_ENTRY = re.compile(r"^( *)([A-Za-z_][\w.-]*(?:\.py|/))(?:\s|$)")
_FENCE = re.compile(r"^\s*```")


def layout_block(text: str) -> list[str]:
    """The lines of the first code block after the "## Layout and ownership" heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Layout and ownership"))
    opening = next(i for i in range(start + 1, len(lines)) if _FENCE.match(lines[i]))
    closing = next(i for i in range(opening + 1, len(lines)) if _FENCE.match(lines[i]))
    return lines[opening + 1:closing]


def listed_modules(block: list[str], top: str = "pyonsager/") -> set[str]:
    """Paths (relative to the repository) of the ``.py`` entries under ``top`` in the tree."""
    stack: list[tuple[int, str]] = []          # (indent, directory path) of the open dirs
    found: set[str] = set()
    for line in block:
        m = _ENTRY.match(line)
        if not m or len(m.group(1)) > MAX_ENTRY_INDENT:
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if indent and not stack:
            raise AssertionError(f"entry {name!r} is indented under nothing: {line!r}")
        if stack and indent != stack[-1][0] + 2:
            raise AssertionError(f"entry {name!r} is not indented 2 columns under "
                                 f"{stack[-1][1]!r}: {line!r}")
        path = (stack[-1][1] if stack else "") + name
        if name.endswith("/"):
            stack.append((indent, path))
        elif path.startswith(top):
            found.add(path)
    return found


def package_modules(package: Path = PACKAGE) -> set[str]:
    """Every ``.py`` file of the package, relative to the repository root."""
    return {p.relative_to(package.parent).as_posix() for p in package.rglob("*.py")
            if "__pycache__" not in p.parts}


def referenced_paths(text: str) -> set[str]:
    """``pyonsager/...py`` paths named in the prose: ``pyonsager/x.py`` and the subpackage
    shorthands ``lammps/x.py``, ``ase/x.py`` (code spans only)."""
    spans = re.findall(r"`([^`\n]+)`", text)
    out: set[str] = set()
    for span in spans:
        for m in re.finditer(r"(?<![\w/])((?:pyonsager/)?(?:(?:lammps|ase|examples)/)?\w+\.py)\b",
                             span):
            path = m.group(1)
            if path.startswith(("lammps/", "ase/", "examples/")):
                path = "pyonsager/" + path
            if path.startswith("pyonsager/"):
                out.add(path)
    return out


def referenced_dotted(text: str) -> set[str]:
    """Dotted names ``pyonsager.a.b`` in code spans."""
    return {m.group(0) for span in re.findall(r"`([^`\n]+)`", text)
            for m in re.finditer(r"\bpyonsager(?:\.\w+)+", span)}


def resolves(dotted: str) -> bool:
    """True when the longest importable prefix of ``dotted`` is a module and the rest are
    attributes of it."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        try:
            for attr in parts[k:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_package_module_is_listed_and_every_listed_module_exists():
    listed = listed_modules(layout_block(DESIGN.read_text()))
    actual = package_modules()
    assert len(actual) >= 40      # the package, not an empty glob
    assert actual - listed == set(), f"modules missing from docs/design.md: {sorted(actual - listed)}"
    assert listed - actual == set(), f"docs/design.md lists modules that do not exist: {sorted(listed - actual)}"


def test_modules_named_in_the_prose_exist():
    text = DESIGN.read_text()
    paths = referenced_paths(text)
    assert "pyonsager/lammps/session.py" in paths and "pyonsager/channels.py" in paths
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert missing == [], f"docs/design.md names modules that do not exist: {missing}"
    dotted = referenced_dotted(text)
    bad = sorted(d for d in dotted if not resolves(d))
    assert bad == [], f"docs/design.md names pyonsager objects that do not exist: {bad}"


def test_the_checks_catch_a_missing_and_an_invented_module(tmp_path):
    """The parser on a small tree: nesting, continuation lines, and both kinds of mismatch."""
    block = [
        "plugin/                 C++",
        "pyonsager/",
        "  a.py                  first",
        "                        a continuation naming b.py and sub/ (not entries)",
        "  sub/                  a subpackage",
        "    __init__.py         marker",
        "    deep/",
        "      c.py              nested",
        "  d.py                  back at the top",
        "tests/                  not the package",
    ]
    assert listed_modules(block) == {"pyonsager/a.py", "pyonsager/sub/__init__.py",
                                     "pyonsager/sub/deep/c.py", "pyonsager/d.py"}
    pkg = tmp_path / "pyonsager"
    (pkg / "sub" / "deep").mkdir(parents=True)
    for rel in ("a.py", "sub/__init__.py", "sub/deep/c.py", "e.py"):
        (pkg / rel).write_text("")
    (pkg / "sub" / "__pycache__").mkdir()
    (pkg / "sub" / "__pycache__" / "x.py").write_text("")
    actual = package_modules(pkg)
    assert actual - listed_modules(block) == {"pyonsager/e.py"}
    assert listed_modules(block) - actual == {"pyonsager/d.py"}
    bad_indent = ["pyonsager/", "   a.py  three columns"]
    try:
        listed_modules(bad_indent)
    except AssertionError as exc:
        assert "not indented 2 columns" in str(exc)
    else:
        raise AssertionError("a misindented entry was accepted")
    assert referenced_paths("see `lammps/replicas.py` and `pyonsager/nothing.py`, not x.py") == {
        "pyonsager/lammps/replicas.py", "pyonsager/nothing.py"}
    assert resolves("pyonsager.channels.ChannelLayout.from_fix_row")
    assert not resolves("pyonsager.channels.NoSuchThing")
