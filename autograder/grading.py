"""The grading pipeline: load submission -> static scan -> run checks in the worker -> score -> report.

Each stage takes the previous stage's result type, so the order is enforced by the types rather
than by a comment. A broken submission (missing file, syntax error, import error, crash) yields an
assignment record with a reason; nothing here raises for anything a learner can do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import __version__
from .assignments import UsageError, load_suite
from .checks import Check, CheckResult, Executor, Suite, run_check
from .notebooks import NotebookError, module_from_file
from .program import Program
from .report import AssignmentResult, Report
from .scan import Finding, scan_file
from .timeouts import RememberTimeouts
from .worker import InProcess, Worker, WorkerFault

MAX_ZIP_BYTES = 64 << 20  # uncompressed; a homework submission is a few source files


# -- stage 1: load ---------------------------------------------------------------------------
@dataclass
class Submission:
    name: str
    root: Path  # the folder that holds the aNN_*.py files
    files: dict[str, Path | None]
    _tmp: Path | None = None
    problems: dict[str, str] = field(default_factory=dict)  # aid -> why its file is unusable (a notebook)

    def cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _extract_zip(path: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(i.file_size for i in zf.infolist())
            if total > MAX_ZIP_BYTES:
                raise UsageError(f"{path}: the zip holds {total} bytes uncompressed (limit {MAX_ZIP_BYTES})")
            for info in zf.infolist():
                target = (dest / info.filename).resolve()
                if not str(target).startswith(str(dest.resolve()) + os.sep):
                    raise UsageError(f"{path}: member {info.filename!r} would land outside the folder")
            zf.extractall(dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # corrupt or truncated data, an unsupported compression method, an encrypted member
        raise UsageError(f"{path}: not a readable zip file ({type(exc).__name__}: {exc})") from None


def _find_root(folder: Path, ids: list[str]) -> Path:
    """The folder itself, or the one sub-folder holding the files (zips often wrap a folder)."""
    if any((folder / f"{a}{ext}").is_file() for a in ids for ext in (".py", ".ipynb")):
        return folder
    for candidate in sorted(p.parent for a in ids for ext in (".py", ".ipynb") for p in folder.rglob(f"{a}{ext}")):
        if "__MACOSX" not in candidate.parts:
            return candidate
    return folder


def load_submission(path: Path, ids: list[str]) -> Submission:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"submission {str(path)!r} does not exist")
    tmp = None
    if path.is_file():
        if path.suffix != ".zip":
            raise UsageError(f"submission {str(path)!r} must be a folder or a .zip of one")
        tmp = Path(tempfile.mkdtemp(prefix="scratchgrad-sub-"))
        _extract_zip(path, tmp)
        folder = tmp
    else:
        folder = path
    root = _find_root(folder.resolve(), ids)
    problems: dict[str, str] = {}
    notebooks = [nb for nb in sorted(root.glob("a[0-9][0-9]_*.ipynb")) if not nb.with_suffix(".py").is_file()]
    if notebooks:  # notebooks become modules in a staging folder, beside the submission's .py files
        if tmp is None:
            tmp = Path(tempfile.mkdtemp(prefix="scratchgrad-sub-"))
            for f in root.glob("a[0-9][0-9]_*.py"):
                shutil.copy(f, tmp / f.name)
            root = tmp
        for nb in notebooks:
            try:
                (root / f"{nb.stem}.py").write_text(module_from_file(nb), encoding="utf-8")
            except NotebookError as exc:
                problems[nb.stem] = str(exc)
    files = {a: (root / f"{a}.py") if (root / f"{a}.py").is_file() else None for a in ids}
    return Submission(name=path.name.removesuffix(".zip"), root=root, files=files, _tmp=tmp, problems=problems)


# -- stage 2: static scan --------------------------------------------------------------------
@dataclass
class Scanned:
    submission: Submission
    suites: dict[str, Suite]
    problems: dict[str, str] = field(default_factory=dict)  # aid -> why its checks cannot run
    findings: dict[str, list[Finding]] = field(default_factory=dict)


def static_scan(sub: Submission, suites: dict[str, Suite]) -> Scanned:
    out = Scanned(sub, suites)
    for aid, path in sub.files.items():
        if aid in sub.problems:
            out.problems[aid] = sub.problems[aid]
            continue
        if path is None:
            out.problems[aid] = f"{aid}.py (or {aid}.ipynb) is not in the submission"
            continue
        try:
            out.findings[aid] = scan_file(path, suites[aid].bans)
        except SyntaxError as exc:
            out.problems[aid] = f"{aid}.py does not parse: {exc.msg} (line {exc.lineno})"
    return out


# -- stage 3: run checks ---------------------------------------------------------------------
@dataclass
class Ran:
    scanned: Scanned
    results: dict[str, list[CheckResult]]


def _ban_record(suite: Suite, findings: list[Finding], others: list[CheckResult],
                problem: str | None = None) -> CheckResult:
    """The static `no_banned_apis` check, which the engine adds to every suite that bans something."""
    if problem:
        status, message = "error", problem
    elif findings:
        where = "; ".join(str(f) for f in findings[:5])
        status, message = "failed", f"uses APIs this assignment asks you to write yourself: {where}"
    elif not any(r.status == "passed" for r in others):
        # an untouched stub uses no banned API, but that alone earns nothing
        status, message = "skipped", "nothing to judge yet: no other check passes"
    else:
        status, message = "passed", ""
    return CheckResult(
        name="no_banned_apis", status=status, score=suite.ban_points if status == "passed" else 0.0,  # type: ignore[arg-type]
        max_score=suite.ban_points, visibility="public", kind="integrity",
        description="does not use the PyTorch APIs this assignment asks you to write yourself", message=message)


def _all_fail(checks: list[Check], status: str, message: str) -> list[CheckResult]:
    return [CheckResult(name=c.name, status=status, score=0.0, max_score=c.points,  # type: ignore[arg-type]
                        visibility=c.visibility, kind=c.kind, description=c.description, message=message)
            for c in checks]


def _import_problem(executor: Executor, aid: str) -> str | None:
    """Import the learner module once; a failure there explains every check of the assignment."""
    try:
        resp = executor.run(Program(aid).to_json(), {}, timeout_s=30.0)
    except WorkerFault as fault:
        return f"importing {aid}.py failed: {fault.reason}"
    if resp.status == "timeout":
        return f"importing {aid}.py did not finish within 30 s"
    if resp.status == "raised" and resp.error is not None:
        return f"importing {aid}.py failed: {resp.error}"
    return None


def run_checks(scanned: Scanned, executor: Executor, *, visibility: str, seed: int,
               call_timeout_s: float | None = None,
               progress: Callable[[str, CheckResult], None] | None = None) -> Ran:
    results: dict[str, list[CheckResult]] = {}
    for aid, suite in scanned.suites.items():
        checks = [c for c in suite.checks if visibility == "all" or c.visibility == visibility]
        problem = scanned.problems.get(aid) or _import_problem(executor, aid)
        if problem:
            scanned.problems[aid] = problem  # said once, for the assignment, not under each of its checks
            res = _all_fail(checks, "error", problem)
        else:
            res = []
            for check in checks:
                r = run_check(check, suite, executor, seed=seed, call_timeout_s=call_timeout_s)
                res.append(r)
                if progress:
                    progress(aid, r)
        if suite.bans:
            res.insert(0, _ban_record(suite, scanned.findings.get(aid, []), res, problem))
        results[aid] = res
    return Ran(scanned, results)


# -- stage 4: score and explain --------------------------------------------------------------
def score(ran: Ran, *, elapsed_s: float, seed: int, worker_starts: int) -> Report:
    assignments = []
    lost = {aid: any(r.score < r.max_score for r in rs) for aid, rs in ran.results.items()}
    for aid, rs in ran.results.items():
        checks_by_name = {c.name: c for c in ran.scanned.suites[aid].checks}
        for r in rs:
            check = checks_by_name.get(r.name)
            if r.status == "passed" or check is None or not check.uses or r.message == ran.scanned.problems.get(aid):
                continue
            if r.message.startswith(f"not implemented yet: {aid[:3]}:"):  # its own stub: nothing earlier to blame
                continue
            for dep in check.uses:
                if lost.get(dep):
                    r.message += (f"\nNote: this check also runs your {dep} code, which lost points above; "
                                  f"fix {dep} first, this may then pass too.")
                elif dep not in lost:
                    r.message += (f"\nNote: this check also runs your {dep} code; a mistake there "
                                  f"shows up here too (grade {dep} to rule it out).")
        assignments.append(AssignmentResult(aid, rs, error=ran.scanned.problems.get(aid)))
    return Report(submission=ran.scanned.submission.name, assignments=assignments,
                  grader={"version": __version__, "seed": seed, "elapsed_s": round(elapsed_s, 3),
                          "worker_starts": worker_starts})


# -- the whole pipeline ----------------------------------------------------------------------
def grade(path: Path, ids: list[str], *, visibility: str = "all", seed: int = 0, isolate: bool = True,
          call_timeout_s: float | None = None,
          progress: Callable[[str, CheckResult], None] | None = None,
          executor: Worker | None = None) -> Report:
    """Grade one submission folder or zip on `ids`; `visibility` is "all" or "public".

    `executor`: a worker for this very folder to grade through and leave running (the pytest plugin
    and watch mode keep one warm); by default one is started here and stopped at the end.
    """
    t0 = time.monotonic()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors; a second thread only fights the worker for the CPU
    sub = load_submission(path, ids)
    owned = executor is None
    if executor is not None and executor.submission != sub.root:
        raise ValueError(f"executor serves {executor.submission}, not the submission's folder {sub.root}")
    if executor is None:
        executor = Worker(sub.root) if isolate else InProcess(sub.root)  # type: ignore[assignment]
    try:
        executor.start()  # the worker imports torch while the suites load below
        suites = {aid: load_suite(aid, hidden=visibility == "all") for aid in ids}
        ran = run_checks(static_scan(sub, suites), RememberTimeouts(executor), visibility=visibility, seed=seed,
                         call_timeout_s=call_timeout_s, progress=progress)
        return score(ran, elapsed_s=time.monotonic() - t0, seed=seed, worker_starts=executor.starts)
    finally:
        if owned:
            executor.close()
        sub.cleanup()
        torch.set_num_threads(threads)
