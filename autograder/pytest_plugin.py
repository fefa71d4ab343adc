"""`pytest` runs the public checks: one test item per check, the same verdicts as `scratchgrad check`.

Registered with pytest through the `pytest11` entry point, so editors' test explorers (VS Code,
PyCharm) list and run the checks as they do any tests. Only assignment files are collected: a file
named after an assignment (`a03_attention.py`) in a folder that is not a Python package, or any such
file when `--scratchgrad` is given; a project's own test suite (whose files are `test_*.py`, and
whose helper modules live in packages) collects exactly what it did without the plugin.
`-p no:scratchgrad` turns it off.

Grading is the CLI's: each assignment is graded once, through the isolated worker, on its first
item, and its items report their check's result. One worker per folder serves the whole session.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest

MODULE_NAME = re.compile(r"a\d\d_[a-z0-9_]+\.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scratchgrad", "scratchgrad public checks")
    group.addoption("--scratchgrad", action="store_true",
                    help="collect assignment files (aNN_name.py) even inside packages")
    group.addoption("--scratchgrad-verbose", action="store_true",
                    help="show every line of each failure (as `scratchgrad check --verbose`)")


def _is_assignment(path: Path, config: pytest.Config) -> str | None:
    if not MODULE_NAME.fullmatch(path.name):
        return None
    from .assignments import available
    if path.stem not in available():
        return None
    if (path.parent / "__init__.py").exists() and not config.getoption("scratchgrad"):
        return None  # a module of some package (a test bank, the engine's suites), not a learner's file
    return path.stem


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    aid = _is_assignment(Path(file_path), parent.config)
    if aid is None:
        return None
    return AssignmentFile.from_parent(parent, path=Path(file_path), aid=aid)


class _Session:
    """The session's workers (one per folder) and the reports already graded."""

    def __init__(self) -> None:
        self.workers: dict[Path, Any] = {}
        self.reports: dict[tuple[Path, str], Any] = {}

    def report(self, folder: Path, aid: str) -> Any:
        key = (folder, aid)
        if key not in self.reports:
            from .grading import grade
            from .worker import Worker
            worker = self.workers.get(folder)
            if worker is None or worker.proc is None:
                worker = self.workers[folder] = Worker(folder)
            self.reports[key] = grade(folder, [aid], visibility="public", executor=worker)
        return self.reports[key]

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()


_SESSION_KEY = pytest.StashKey[_Session]()


def _session(config: pytest.Config) -> _Session:
    if _SESSION_KEY not in config.stash:
        config.stash[_SESSION_KEY] = _Session()
    return config.stash[_SESSION_KEY]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_KEY in config.stash:
        config.stash[_SESSION_KEY].close()


class AssignmentFile(pytest.File):
    def __init__(self, *, aid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aid = aid

    def collect(self) -> Iterator["CheckItem"]:
        from .assignments import load_suite
        suite = load_suite(self.aid, hidden=False)
        if suite.bans:  # the engine adds this static check to every suite that bans something
            yield CheckItem.from_parent(self, name="no_banned_apis")
        for check in suite.checks:
            if check.visibility == "public":
                yield CheckItem.from_parent(self, name=check.name)


class CheckFailed(Exception):
    """A check that did not pass; pytest shows the same lines `scratchgrad check` does."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class CheckItem(pytest.Item):
    parent: AssignmentFile

    def runtest(self) -> None:
        from .report import failure_lines
        report = _session(self.config).report(self.path.parent.resolve(), self.parent.aid)
        (assignment,) = [a for a in report.assignments if a.id == self.parent.aid]
        result = next((c for c in assignment.checks if c.name == self.name), None)
        if result is None:
            raise CheckFailed([f"the check {self.name} did not run"])
        self.user_properties += [("score", result.score), ("max_score", result.max_score)]
        if result.status == "passed":
            return
        if result.status == "skipped":
            pytest.skip(result.message)
        verbose = self.config.getoption("scratchgrad_verbose") or self.config.get_verbosity() > 1
        lines = failure_lines(result, verbose=verbose)
        shown = lines if verbose else lines[:8]
        if len(lines) > len(shown):
            shown.append(f"... ({len(lines) - len(shown)} more lines with -vv or --scratchgrad-verbose)")
        # the message first: pytest's short summary shows the first line
        raise CheckFailed([*shown, f"({result.status}, {result.score:g}/{result.max_score:g} points; this check: "
                                   f"{result.description})"])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.parent.aid}::{self.name}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _SESSION_KEY not in config.stash or not config.stash[_SESSION_KEY].reports:
        return
    session = config.stash[_SESSION_KEY]
    terminalreporter.section("scratchgrad")
    for (folder, aid), report in session.reports.items():
        terminalreporter.write_line(f"{aid}: {report.score:g} / {report.max_score:g} points (public checks, {folder})")
    starts = sum(w.starts for w in session.workers.values())
    terminalreporter.write_line(f"graded through {starts} worker process{'es' * (starts != 1)}")
