"""Generate learner stubs (assignments/) from the full solutions (solutions/).

Each region between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader's markers, each alone on
its line) is replaced by a task marker and `raise NotImplementedError("a03: Class.method")`, the name
taken from the function that holds the region. Regions must sit inside a function and must not nest.
"""

from __future__ import annotations

import ast
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .scan import GRADED_CODE_NOTE

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TASK_MARKER = "# YOUR CODE HERE"
# in each generated folder: the sha256 of every file the last generation wrote there, so that a
# later generation can tell a file nobody touched (rewrite it) from one a learner edited (keep it)
MANIFEST = ".generated.json"


class MarkerError(Exception):
    """A malformed solution file; the message starts with `file:line`."""


@dataclass(frozen=True)
class Region:
    begin: int  # 1-based line numbers of the two markers
    end: int
    indent: str
    task: str


def _functions(tree: ast.AST) -> list[tuple[str, int, int]]:
    """(qualname, first line, last line) of every function, outer ones first."""
    found: list[tuple[str, int, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child.lineno, child.end_lineno or child.lineno))
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return found


def find_regions(source: str, filename: str) -> list[Region]:
    lines = source.splitlines()
    regions: list[Region] = []
    open_at: int | None = None
    for no, line in enumerate(lines, 1):
        text = line.strip()
        if text == BEGIN:
            if open_at is not None:
                raise MarkerError(f"{filename}:{no}: '{BEGIN}' inside the region opened at line {open_at} (nested)")
            open_at = no
        elif text == END:
            if open_at is None:
                raise MarkerError(f"{filename}:{no}: '{END}' without a matching '{BEGIN}'")
            begin_line = lines[open_at - 1]
            regions.append(Region(open_at, no, begin_line[: len(begin_line) - len(begin_line.lstrip())], ""))
            open_at = None
        elif BEGIN in text or END in text:
            raise MarkerError(f"{filename}:{no}: a solution marker must be alone on its line")
    if open_at is not None:
        raise MarkerError(f"{filename}:{open_at}: '{BEGIN}' is never closed with '{END}'")
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise MarkerError(f"{filename}:{exc.lineno}: not valid Python: {exc.msg}") from None
    prefix = Path(filename).stem.split("_")[0]
    functions = _functions(tree)
    named = []
    for r in regions:
        holders = [q for q, a, b in functions if a < r.begin <= b]  # END may trail the last statement
        if not holders:
            raise MarkerError(f"{filename}:{r.begin}: a solution region must sit inside a function body")
        named.append(Region(r.begin, r.end, r.indent, f"{prefix}: {holders[-1]}"))
    return named


def make_stub(source: str, filename: str) -> str:
    """The learner's version of a solution file."""
    lines = source.splitlines()
    out: list[str] = []
    cursor = 0
    for r in find_regions(source, filename):
        out += lines[cursor: r.begin - 1]
        out += [f"{r.indent}{TASK_MARKER}", f'{r.indent}raise NotImplementedError("{r.task}")']
        cursor = r.end
    out += lines[cursor:]
    return "\n".join(_with_graded_code_note(out, source)) + "\n"


def _with_graded_code_note(out: list[str], source: str) -> list[str]:
    """The stub's module docstring, when it closes on a line of its own, ends with the integrity rules."""
    body = ast.parse(source).body
    first = body[0] if body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str) and first.end_lineno is not None):
        return out
    close = first.end_lineno - 1  # solution regions are inside functions: the docstring's lines are unchanged
    if out[close].strip() not in (3 * '"', 3 * "'"):
        return out
    return out[:close] + ["", *GRADED_CODE_NOTE.splitlines()] + out[close:]


def solution_files(solutions: Path) -> list[Path]:
    return sorted(p for p in Path(solutions).glob("a[0-9][0-9]_*.py"))


def build(solutions: Path, out: Path) -> list[Path]:
    """Write every stub; return the files written."""
    solutions, out = Path(solutions), Path(out)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder {str(solutions)!r} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in solution_files(solutions):
        stub = make_stub(src.read_text(encoding="utf-8"), str(src))
        target = out / src.name
        target.write_text(stub, encoding="utf-8")
        written.append(target)
    return written


def stale(solutions: Path, out: Path) -> list[str]:
    """Why `out` is out of date with `solutions` (empty when it is current)."""
    solutions, out = Path(solutions), Path(out)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder {str(solutions)!r} does not exist")
    reasons = []
    expected = {p.name: make_stub(p.read_text(encoding="utf-8"), str(p)) for p in solution_files(solutions)}
    for name, text in expected.items():
        target = out / name
        if not target.is_file():
            reasons.append(f"{target} is missing")
        elif target.read_text(encoding="utf-8") != text:
            reasons.append(f"{target} differs from the stub of {solutions / name}")
    for extra in sorted(out.glob("a[0-9][0-9]_*.py")) if out.is_dir() else []:
        if extra.name not in expected:
            reasons.append(f"{extra} has no solution in {solutions}")
    return reasons


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def edited(planned: dict[Path, str]) -> list[Path]:
    """Files about to be rewritten whose text is neither the new one nor what the last generation wrote."""
    found = []
    for target, text in planned.items():
        if not target.is_file():
            continue
        current = target.read_text(encoding="utf-8", errors="replace")
        if current != text and _sha(current) != _manifest(target.parent).get(target.name):
            found.append(target)
    return found


def write_generated(planned: dict[Path, str], *, force: bool = False) -> tuple[list[Path], dict[Path, Path]]:
    """Write `planned` (path -> text) and record it in each folder's manifest; never destroy an edit.

    Raises:
        EditedError: some file was edited since the last generation (and `force` is False).
    Returns the files whose text changed, and with `force` where each edited file was moved aside.
    """
    changed = edited(planned)
    if changed and not force:
        raise EditedError(changed)
    moved: dict[Path, Path] = {}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in changed:
        aside = path.with_name(f"{path.name}.edited-{stamp}")
        path.rename(aside)
        moved[path] = aside
    folders: dict[Path, dict[str, str]] = {}
    written = []
    for target, text in planned.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text(encoding="utf-8", errors="replace") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
        folders.setdefault(target.parent, _manifest(target.parent))[target.name] = _sha(text)
    for folder, hashes in folders.items():
        (folder / MANIFEST).write_text(json.dumps(dict(sorted(hashes.items())), indent=1) + "\n", encoding="utf-8")
    return written, moved


class EditedError(Exception):
    """Regenerating would overwrite files someone edited; the message names them and how to proceed."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        names = "\n  ".join(str(p) for p in paths)
        super().__init__(f"these files changed since `scratchgrad stubs` last wrote them (your own work?):\n  {names}\n"
                         f"Nothing was written. To regenerate anyway, run `scratchgrad stubs --force`: it moves each "
                         f"of them aside as NAME.edited-<date> first.")


def plan(solutions: Path, out: Path, notebooks: Path | None,
         notebook_text: Callable[[str, str], str] | None = None) -> dict[Path, str]:
    """What `scratchgrad stubs` writes: each stub, and each stub as a notebook (`notebook_text(aid, stub)`)."""
    solutions, out = Path(solutions), Path(out)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder {str(solutions)!r} does not exist")
    planned: dict[Path, str] = {}
    for src in solution_files(solutions):
        stub = make_stub(src.read_text(encoding="utf-8"), str(src))
        planned[out / src.name] = stub
        if notebooks is not None and notebook_text is not None:
            planned[Path(notebooks) / f"{src.stem}.ipynb"] = notebook_text(src.stem, stub)
    return planned
