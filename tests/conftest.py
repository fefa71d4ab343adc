"""Shared fixtures: the project's folders and submissions built from solutions/ plus text edits."""

from __future__ import annotations

import os

import importlib.util
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

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


def load_solution(name: str, folder: Path = SOLUTIONS) -> ModuleType:
    """Import `folder/name.py` (a learner-facing module, not a package) under its own name + "_under_test".

    `folder` is first on sys.path meanwhile, since a module imports the earlier ones by name; those are
    forgotten afterwards, so a later test may load another folder's.
    """
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_under_test", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        for dep in [m for m in sys.modules if re.fullmatch(r"a\d\d_\w+", m)]:
            del sys.modules[dep]
    return module


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is ~10x faster on a shared machine than two that fight for the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def processes_mentioning(text: str) -> list[int]:
    """The pids whose command line holds `text` (workers name their private copy in argv)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found
