"""Every assignment as a Jupyter notebook, generated from its module; and the notebook's way back to a module.

A notebook is the module cut into cells: the module docstring becomes the opening Markdown, each
top-level class or function gets a Markdown heading (its docstring's first paragraph) and a code cell
of its own, and the given imports and helpers sit in code cells between them. Every code cell that
belongs to the module starts with a part marker::

    # a03_attention.py, part 2 of 7

The marker is how the module is put back together: inside a kernel from what was last *run* (so an
unsaved notebook checks what the learner sees), and from a notebook *file* when grading. Assembled,
the parts are the module's source, line for line: `scratchgrad grade` accepts `aNN_name.ipynb` files
wherever it accepts `aNN_name.py`.

The check cell at the end calls :func:`check`: it writes the assembled module next to the notebook
(later notebooks import it, as later modules import earlier ones) and runs the public checks in a
fresh `scratchgrad` process, never in the kernel that ran the learner's code. nbgrader's test cells
call :func:`grade_cell` the same way (see `nbgrader_course.py`).

This module imports no torch: a kernel pays for it only in the grader process it starts.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .assignments import CURRICULUM, UsageError
from .assignments import imports as declared_imports
from .results import not_implemented

MARKER = re.compile(r"^# (a\d\d_[a-z0-9_]+)\.py, part (\d+) of (\d+)\s*$")
NBFORMAT = {"nbformat": 4, "nbformat_minor": 5}
KERNELSPEC = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
              "language_info": {"name": "python"}}
# earlier assignments whose modules a module imports (from its `from aNN_x import ...` lines)
_IMPORT = re.compile(r"^\s*(?:from|import)\s+(a\d\d_[a-z0-9_]+)\b", re.M)


# -- module -> notebook ----------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """A run of top-level source lines that becomes one code cell, with its Markdown heading (if any)."""
    source: str
    heading: str | None = None


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`, the way a module says "run this as a script"."""
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and not node.orelse and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name) and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def main_block(source: str) -> str | None:
    """The body of a trailing `if __name__ == "__main__":` block, dedented, or None.

    In a notebook the kernel's `__name__` is "__main__", so such a block would run as soon as its cell
    did, before the learner's code passes its checks; the notebook shows it as a "Try it" cell after
    the check cell instead, and leaves it out of the module's parts.
    """
    body = ast.parse(source).body
    if not body or not _is_main_guard(body[-1]):
        return None
    lines = source.splitlines()
    return textwrap.dedent("\n".join(lines[body[-1].lineno:body[-1].end_lineno])).strip("\n")  # after the `if` line


def split_module(source: str) -> tuple[str, list[Part]]:
    """(module docstring, code parts): one part per top-level class/function, given code grouped between.

    A trailing `if __name__ == "__main__":` block is not a part (see `main_block`).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    body = list(tree.body)
    if body and _is_main_guard(body[-1]):
        lines = lines[:body[-1].lineno - 1]
        body = body[:-1]
    doc = ""
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        doc = body[0].value.value
        start = body[0].end_lineno or 1
        body = body[1:]
    else:
        start = 0
    parts: list[Part] = []
    pending: list[str] = []  # given lines not yet flushed into a part

    def flush() -> None:
        text = "\n".join(pending).strip("\n")
        if text.strip():
            parts.append(Part(text))
        pending.clear()

    def line(n: int) -> str:  # 1-based
        return lines[n - 1]

    done = start  # the last line (1-based) already placed in a part or in `pending`
    for node in body:
        first = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        while first - 1 > done and line(first - 1).lstrip().startswith("#"):
            first -= 1  # comment lines right above a statement belong to it
        last = node.end_lineno or node.lineno
        # trailing indented lines (a comment such as `### END SOLUTION` after the last statement of a body)
        nxt = last + 1
        while nxt <= len(lines) and (line(nxt).startswith((" ", "\t")) or not line(nxt).strip()):
            if line(nxt).strip():
                last = nxt
            nxt += 1
        gap = lines[done:first - 1]
        chunk = lines[first - 1:last]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            pending.extend(gap)
            flush()
            summary = (ast.get_docstring(node) or "").split("\n\n")[0].strip()
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            heading = f"### {kind} `{node.name}`" + (f"\n\n{summary}" if summary else "")
            parts.append(Part("\n".join(chunk).strip("\n"), heading))
        else:
            pending.extend(gap + chunk)
        done = last
    pending.extend(lines[done:])
    flush()
    return doc, parts


def _lines(text: str) -> list[str]:
    out = text.splitlines(keepends=True)
    if out:
        out[-1] = out[-1].rstrip("\n")
    return out


def _cell(kind: str, text: str, cell_id: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": metadata or {}, "source": _lines(text)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def depends_on(source: str) -> list[str]:
    """Earlier assignments a module imports, in curriculum order."""
    found = set(_IMPORT.findall(source))
    return [a for a in CURRICULUM if a in found]


def _docstring_markdown(aid: str, doc: str) -> str:
    title, _, rest = doc.strip().partition("\n")
    return f"# {title.strip()}\n\n{rest.strip()}\n" if rest.strip() else f"# {title.strip()}\n"


def build_notebook(aid: str, source: str, *, final_cells: list[dict[str, Any]] | None = None,
                   code_metadata: Any = None) -> dict[str, Any]:
    """The notebook of module `aid` from its source (a solution or a stub).

    `final_cells` replaces the default check cell (nbgrader's test cells go there); `code_metadata`,
    when given, is called as `code_metadata(part_source, index)` for each module cell's metadata.
    """
    doc, parts = split_module(source)
    deps = declared_imports(aid)  # the setup cell brings in what these import in turn
    n = len(parts)
    cells = [_cell("markdown", _docstring_markdown(aid, doc) if doc else f"# {aid}\n", f"{aid}-intro")]
    how = (f"The code cells below make up `{aid}.py`: fill in every `# YOUR CODE HERE`, run all cells, then run "
           f"the check cell at the end. It saves the module as `{aid}.py` next to this notebook and runs the public "
           f"checks in a fresh process. Keep the first line of each code cell (`# {aid}.py, part k of {n}`): it "
           f"tells the checker which part of the module the cell holds.")
    if deps:
        how += (f"\n\nThis assignment builds on your {', '.join(f'`{d}`' for d in deps)}: run the check cell of "
                f"{'that notebook' if len(deps) == 1 else 'those notebooks'} first (it saves the module next to "
                f"it), and keep the notebooks in one folder.")
    cells.append(_cell("markdown", how, f"{aid}-how"))
    if deps:
        cells.append(_cell("code", f"# Makes your {', '.join(deps)} importable here: from this folder, or from "
                                   f"the sibling assignment folder\nfrom autograder.notebooks import use_earlier\n\n"
                                   f"use_earlier({deps!r})", f"{aid}-setup"))
    for i, part in enumerate(parts, 1):
        if part.heading:
            cells.append(_cell("markdown", part.heading, f"{aid}-md{i}"))
        text = f"# {aid}.py, part {i} of {n}\n{part.source}"
        meta = code_metadata(text, i) if code_metadata else None
        cells.append(_cell("code", text, f"{aid}-part{i}", meta))
    if final_cells is None:
        final_cells = [
            _cell("markdown", "## Check your work\n\nRuns the public checks on the code above. Hidden checks run "
                              "when you submit.", f"{aid}-check-md"),
            _cell("code", f"from autograder.notebooks import check\n\ncheck({aid!r})", f"{aid}-check"),
        ]
        demo = main_block(source)
        if demo:  # the module's script part, runnable once the checks pass
            final_cells += [_cell("markdown", "## Try it\n\nNot graded: the module's own demo, for once your "
                                              "code passes the checks above.", f"{aid}-try-md"),
                            # nbclient (tests, `jupyter execute`) skips it: a demo is not a check
                            _cell("code", demo, f"{aid}-try", {"tags": ["skip-execution"]})]
    cells.extend(final_cells)
    return {**NBFORMAT, "metadata": {**KERNELSPEC, "scratchgrad": {"assignment": aid}}, "cells": cells}


def dumps(nb: dict[str, Any]) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_notebooks(src: Path, out: Path, ids: list[str] | None = None) -> list[Path]:
    """A notebook per `aNN_*.py` module in `src` (all of them, or `ids`), written into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("a[0-9][0-9]_*.py")):
        aid = path.stem
        if ids is not None and aid not in ids:
            continue
        target = out / f"{aid}.ipynb"
        target.write_text(dumps(build_notebook(aid, path.read_text(encoding="utf-8"))), encoding="utf-8")
        written.append(target)
    return written


def stale_notebooks(src: Path, out: Path) -> list[str]:
    """Notebooks in `out` that differ from what `write_notebooks(src, out)` would write."""
    problems = []
    for path in sorted(src.glob("a[0-9][0-9]_*.py")):
        target = out / f"{path.stem}.ipynb"
        want = dumps(build_notebook(path.stem, path.read_text(encoding="utf-8")))
        if not target.is_file() or target.read_text(encoding="utf-8") != want:
            problems.append(f"{target} is out of date")
    return problems


# -- notebook -> module ----------------------------------------------------------------------
class NotebookError(Exception):
    """The module cannot be assembled from the notebook; the message says what to do."""


def assemble(aid: str, sources: list[str], *, origin: str) -> str:
    """The module's source from cell sources (the latest source of each part wins; order by part number)."""
    parts: dict[int, str] = {}
    total = None
    for src in sources:
        first = src.split("\n", 1)[0]
        m = MARKER.match(first)
        if m and m.group(1) == aid:
            parts[int(m.group(2))] = src
            total = int(m.group(3))
    if total is None:
        raise NotebookError(f"{origin}: no cell starts with '# {aid}.py, part 1 of N'; keep the first line of "
                            f"each code cell of the assignment")
    missing = [k for k in range(1, total + 1) if k not in parts]
    if missing:
        raise NotebookError(f"{origin}: part {missing[0]} of {total} of {aid}.py is missing; run every code "
                            f"cell of the notebook (Run > Run All Cells) and keep each cell's first line")
    return "\n\n\n".join(parts[k].rstrip("\n") for k in range(1, total + 1)) + "\n"


def module_from_file(path: Path, aid: str | None = None) -> str:
    """Assemble `aid`'s module (default: the notebook's stem) from a saved .ipynb file."""
    aid = aid or path.stem
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotebookError(f"{path.name} is not a readable notebook: {exc}") from exc
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            sources.append("".join(src) if isinstance(src, list) else str(src))
    # in a file each part appears once: file order decides, and assemble() orders by part number
    return assemble(aid, sources, origin=path.name)


def module_from_kernel(aid: str) -> str:
    """Assemble `aid`'s module from the cells run in this IPython kernel (latest run of each part)."""
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821  (defined inside IPython only)
    except NameError:
        raise NotebookError("not running inside a Jupyter kernel; use `scratchgrad check` on the .py file") from None
    history = list(ip.user_ns.get("In", []))
    return assemble(aid, history, origin="this notebook")


# -- in the kernel: checks and nbgrader test cells ----------------------------------------------
def _find_dependency(dep: str, here: Path) -> str | None:
    """The source of an earlier module: next to the notebook, or in a sibling folder named after it."""
    for candidate in (here / f"{dep}.py", here.parent / dep / f"{dep}.py"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    for candidate in (here / f"{dep}.ipynb", here.parent / dep / f"{dep}.ipynb"):
        if candidate.is_file():
            try:
                return module_from_file(candidate, dep)
            except NotebookError:
                continue
    return None


def earlier_modules(deps: list[str], here: Path) -> dict[str, str | None]:
    """The sources of `deps` and of what they import in turn (None where one is nowhere to be found)."""
    found: dict[str, str | None] = {}
    todo = list(deps)
    while todo:
        dep = todo.pop(0)
        if dep in found:
            continue
        found[dep] = _find_dependency(dep, here)
        todo.extend(depends_on(found[dep] or ""))
    return found


def _stage(aid: str, source: str, here: Path) -> Path:
    """A fresh folder holding the module and the earlier modules it imports, for the grader process."""
    folder = Path(tempfile.mkdtemp(prefix=f"scratchgrad-nb-{aid}-"))
    (folder / f"{aid}.py").write_text(source, encoding="utf-8")
    for dep, dep_source in earlier_modules(depends_on(source), here).items():
        if dep_source is not None and dep != aid:  # a missing one shows up as the learner's import error
            (folder / f"{dep}.py").write_text(dep_source, encoding="utf-8")
    return folder


def use_earlier(deps: list[str]) -> None:
    """A notebook's setup cell: make the learner's earlier modules (`deps`, and what they import) importable.

    An earlier module is taken from this folder (`a03_attention.py`, saved by that notebook's check
    cell), else from the sibling assignment folder (`../a03_attention/`, as nbgrader lays out a
    student's assignments), as a `.py` file or assembled from its notebook, and saved here.

    Raises:
        NotebookError: an earlier module is nowhere to be found (the message says what to do).
    """
    here = Path.cwd()
    for dep, found in earlier_modules(deps, here).items():
        if found is None:
            raise NotebookError(f"this assignment imports your {dep}, which is not here: run the check cell of "
                                f"the {dep} notebook (it saves {dep}.py next to it), and keep the notebooks in "
                                f"one folder")
        if not (here / f"{dep}.py").is_file():
            (here / f"{dep}.py").write_text(found, encoding="utf-8")


class ChecksFailed(Exception):
    """Raised by a check cell when checks fail: IPython shows the message, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def _run_grader(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER_", "IPY"))}
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, env=env,
                          timeout=1800)


def _report(aid: str, source: str, visibility: str) -> dict[str, Any]:
    """Grade `source` as `aid` in a fresh grader process; the JSON report."""
    folder = _stage(aid, source, Path.cwd())
    out = folder / "report.json"
    args = (["check", aid, "--path", str(folder), "--json", str(out)] if visibility == "public"
            else ["grade", str(folder), "--only", aid, "--json", str(out)])
    try:
        run = _run_grader(args)
        if not out.is_file():
            raise ChecksFailed(f"the grader could not run (exit status {run.returncode}):\n"
                               f"{(run.stdout + run.stderr).strip()[-3000:]}")
        report = json.loads(out.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # the learner knows the notebook, not the staging folder
    report["_terminal"] = run.stdout.replace(f"edit the files in {folder}/", "edit the notebook").replace(
        str(folder), f"{aid} (this notebook)")
    return report


def check(aid: str) -> None:
    """The notebook's check cell: save the module next to the notebook, run the public checks, show the result.

    Raises:
        ChecksFailed: a check did not pass (the message is the summary a learner reads).
    """
    source = module_from_kernel(aid)
    Path(f"{aid}.py").write_text(source, encoding="utf-8")
    report = _report(aid, source, "public")
    print(report["_terminal"].rstrip())
    (result,) = report["assignments"]
    failed = [c for c in result["checks"] if c["status"] not in ("passed", "skipped")]
    if failed or result.get("error"):
        todo = [c["name"] for c in failed if not_implemented(c)]
        reason = (f"{len(todo)} not implemented yet" if len(todo) == len(failed)
                  else f"{len(failed)} of {len(result['checks'])} checks did not pass")
        raise ChecksFailed(f"{aid}: {result['score']:g} / {result['max_score']:g} public points ({reason}); "
                           f"see the report above")


_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


def grade_cell(aid: str, visibility: str) -> float:
    """An nbgrader test cell: the points this notebook earns on `visibility` ("public" or "hidden") checks.

    The module is assembled from what the kernel ran and graded in a fresh `scratchgrad grade` process
    (public and hidden checks at once, reused by the other test cell). The report goes to stdout; the
    return value, the cell's result, is nbgrader's partial credit.
    """
    if visibility not in ("public", "hidden"):
        raise UsageError(f"visibility={visibility!r}: expected 'public' or 'hidden'")
    source = module_from_kernel(aid)
    key = (aid, hashlib.sha256(source.encode()).hexdigest())
    if key not in _CACHE:
        from .assignments import hidden_available  # a learner kit has public checks only
        _CACHE[key] = _report(aid, source, "all" if hidden_available() else "public")
    report = _CACHE[key]
    (result,) = report["assignments"]
    mine = [c for c in result["checks"] if c["visibility"] == visibility]
    if result.get("error"):
        print(result["error"])
    for c in mine:
        mark = "ok  " if c["status"] == "passed" else c["status"].upper()
        print(f"{mark:8}{c['name']:48}{c['score']:g}/{c['max_score']:g}")
        if c["status"] != "passed" and c.get("message"):
            print("        " + c["message"].replace("\n", "\n        ")[:2000])
            if c.get("hint"):
                print("        hint: " + c["hint"])
    return round(sum(c["score"] for c in mine), 6)
