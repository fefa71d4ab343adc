"""Shared fixtures: the project's folders and submissions built from solutions/ plus text edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.assignments import available
from autograder.grading import grade
from autograder.report import Report
from tests.banks.edits import Variant, apply, apply_edits

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
ASSIGNMENTS = ROOT / "assignments"
IMPLEMENTED = available()  # every assignment with a suite
# the start of a `python -c` program that runs like a learner's machine: instructor code cannot be imported
KIT_BLOCKER = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in ('reference', 'solutions') or name.startswith('autograder.hidden'):\n"
               "            raise ImportError(f'{name} is not in a learner kit')\n"
               "sys.meta_path.insert(0, Block())\n")


def make_submission(dest: Path, aid: str | None = None, variant: Variant | None = None,
                    source: Path = SOLUTIONS) -> Path:
    """A copy of `source`'s assignment files, with `variant` applied to `aid`'s file (and its `other` edits to
    earlier assignments' files)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in source.glob("a[0-9][0-9]_*.py"):
        shutil.copy(f, dest / f.name)
    if aid and variant:
        path = dest / f"{aid}.py"
        path.write_text(apply(path.read_text(encoding="utf-8"), variant), encoding="utf-8")
        for other, edits in variant.other.items():
            path = dest / f"{other}.py"
            path.write_text(apply_edits(path.read_text(encoding="utf-8"), edits, variant.name), encoding="utf-8")
    return dest


def checks_by_name(report: Report, aid: str) -> dict:
    (a,) = [a for a in report.assignments if a.id == aid]
    return {c.name: c for c in a.checks}


@pytest.fixture(scope="session")
def solutions_report() -> Report:
    """The solutions graded once through the real, isolated route."""
    return grade(SOLUTIONS, IMPLEMENTED)


@pytest.fixture(scope="session")
def stubs_report() -> Report:
    return grade(ASSIGNMENTS, IMPLEMENTED)
