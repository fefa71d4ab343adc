"""Whole-class grading (`scratchgrad grade-all`): one isolated `grade()` per student, in parallel.

Stages: discover submissions -> skip the unchanged ones (manifest) -> grade the rest in a pool of
long-lived grader processes -> write each student's files as their result arrives -> gradebook and
class report. Each grader process imports torch and the suites once and grades many students; every
student still gets a fresh worker process for their code (that is `grade()`'s job).

The pool is a handful of `multiprocessing` processes rather than a `ProcessPoolExecutor`: when a
grader process dies or runs past `--student-timeout`, the parent knows which student it was
grading, records that student's error row, and starts a replacement; an executor would mark the
whole pool broken and could not say whose submission did it.

This module imports no torch (the parent only schedules and writes files), so a rerun with
nothing to regrade takes well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .assignments import UsageError
from .budgets import ASSIGNMENT_BUDGET_S, STARTUP_SLACK_S, SUBMISSION_BUDGET_S
from .classreport import Row, gradebook_csv, num, one_line, render_html
from .resources import Policy, preflight

if TYPE_CHECKING:
    from .similarity import Options as SimilarityOptions, Similarity

MANIFEST = ".manifest.json"
MANIFEST_FORMAT = 1
MAX_GRADER_ATTEMPTS = 2  # a student whose grading kills the grader process this often keeps the error row
GRACE_S = 5.0  # after SIGTERM, time for a grader process to stop its worker before it is killed
PACKAGE_DIR = Path(__file__).resolve().parent
_ASSIGNMENT_FILE = re.compile(r"a(\d\d)_")
# modules of the package that never run while a submission is graded: editing them keeps saved grades
# (any other file of autograder/ or reference/ counts, so a new module errs on the side of regrading)
NOT_GRADING = frozenset({"__main__.py", "cli.py", "batch.py", "cluster.py", "classreport.py", "similarity.py",
                         "stubs.py", "notebooks.py", "release.py", "nbgrader_course.py", "gradescope.py"})
EXECUTORS = ("local", "dask")


def default_jobs() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))  # honours taskset and container CPU sets
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


# -- stage 1: discover ------------------------------------------------------------------------
@dataclass(frozen=True)
class Student:
    id: str  # folder name or zip stem
    path: Path


@dataclass
class Outcome:
    """One student's result: a report (status ok) or an error with its reason and cause."""

    student: str
    status: str  # "ok" | "error"
    reason: str = ""
    report_json: str | None = None
    markdown: str | None = None
    faults: int = 0  # checks that hit an internal grader error
    cause: str | None = None  # for errors: "submission" (its own fault, cached) or "grader" (retried next run)
    skipped: bool = False
    report: dict[str, Any] | None = None
    where: str | None = None  # the Dask worker that graded it (--executor dask)


def discover(folder: Path, out: Path) -> tuple[list[Student], list[Outcome], list[str]]:
    """Students in `folder` (sub-folders and .zip files), errors for clashing names, ignored entries."""
    if not folder.exists():
        raise UsageError(f"DIR {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise UsageError(f"DIR {str(folder)!r} is not a folder (it should hold one sub-folder or .zip per student)")
    out_real = os.path.realpath(out)
    by_id: dict[str, list[Path]] = {}
    ignored = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__MACOSX" or os.path.realpath(entry) == out_real:
            continue
        if entry.is_dir():
            by_id.setdefault(entry.name, []).append(entry)
        elif entry.suffix.lower() == ".zip":
            by_id.setdefault(entry.stem, []).append(entry)
        else:
            ignored.append(entry.name)
    students, clashes = [], []
    for sid in sorted(by_id, key=lambda s: (s.casefold(), s)):
        paths = by_id[sid]
        if len(paths) > 1:
            names = " and ".join(p.name + ("/" if p.is_dir() else "") for p in paths)
            clashes.append(Outcome(sid, "error", f"two submissions for {sid}: {names} (keep one)", cause="submission"))
        else:
            students.append(Student(sid, paths[0]))
    return students, clashes, ignored


# -- stage 2: what changed --------------------------------------------------------------------
def _skip_file(rel: str) -> bool:
    parts = rel.split("/")
    return "__pycache__" in parts or rel.endswith(".pyc") or parts[-1] == ".DS_Store"


def _source_of(rel: str) -> str:
    """`x/__pycache__/m.cpython-311.pyc` -> `x/m.py` (what a bytecode file stands for); other paths unchanged."""
    parts = rel.split("/")
    if len(parts) >= 2 and parts[-2] == "__pycache__":
        return "/".join([*parts[:-2], parts[-1].split(".")[0] + ".py"])
    return rel[:-1] if rel.endswith(".pyc") else rel


def _hash_tree(h: Any, root: Path, keep: Callable[[str], bool] = lambda rel: True, *, bytecode: bool = False) -> None:
    """Names and bytes of the files under `root` that `keep` accepts; bytecode too when `bytecode`."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        if not bytecode:
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        dirnames.sort()
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            if bytecode:
                if rel.split("/")[-1] != ".DS_Store" and keep(_source_of(rel)):
                    files.append(rel)
            elif not _skip_file(rel) and keep(rel):
                files.append(rel)
    for rel in sorted(files):
        h.update(rel.encode() + b"\0")
        try:
            with open(root / rel, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            h.update(f"unreadable: {exc.strerror}".encode())
        h.update(b"\0")


def submission_hash(path: Path) -> str:
    """A content hash of a submission: its files (names and bytes), or the zip's bytes."""
    h = hashlib.sha256()
    if path.is_dir():
        h.update(b"dir\0")
        _hash_tree(h, path)
    else:
        h.update(b"zip\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _compile(folder: Path) -> None:
    """Byte-compile what is missing or stale, so the bytecode hashed now is what the graders will load.

    Without this the graders' own imports would write bytecode after the fingerprint was taken, and the
    next run would regrade everyone. A read-only install cannot be written: nothing changes then either.
    """
    import compileall
    try:
        compileall.compile_dir(folder, quiet=2, workers=1)
    except OSError:
        pass


def grader_fingerprint(ids: list[str], seed: int, call_timeout_s: float | None,
                       budgets: tuple[float | None, float | None] = (None, None),
                       dropped: dict[str, str] | None = None, *, bytecode: bool = True) -> str:
    """What a saved result depends on besides the submission: version, options, and the grader's files.

    The engine, runtime and reference files count whole, with their bytecode (`__pycache__`, stray
    `.pyc`): Python loads a `.pyc` whose header matches the source without reading the source, so a
    planted one changes grades and must force a regrade. Assignment-specific files (suites, hidden
    suites, snapshots, reference modules) count for the graded assignments and the earlier ones they
    may build on, so a new suite for a later assignment does not force a regrade.
    """
    last = max(int(a[1:3]) for a in ids)

    def keep(rel: str) -> bool:
        if rel in NOT_GRADING:
            return False
        m = _ASSIGNMENT_FILE.match(rel.rsplit("/", 1)[-1])
        return m is None or int(m.group(1)) <= last

    options = {"version": __version__, "ids": ids, "seed": seed, "call_timeout_s": call_timeout_s}
    if budgets != (None, None):
        options["budgets"] = list(budgets)
    if dropped:  # checks left out of the maximum (--drop-unavailable)
        options["dropped"] = sorted(dropped)
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    spec = importlib.util.find_spec("reference")
    for folder in [PACKAGE_DIR, *((Path(p) for p in spec.submodule_search_locations or []) if spec else [])]:
        if bytecode:  # without: the sources alone, comparable between machines (a .pyc holds its source's mtime)
            _compile(folder)
        _hash_tree(h, folder, keep, bytecode=bytecode)
    return h.hexdigest()


class Manifest:
    """OUT/.manifest.json: per student, the hashes its saved result was graded under."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.students: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == MANIFEST_FORMAT and isinstance(data.get("students"), dict):
                self.students = data["students"]
        except (OSError, ValueError, AttributeError):
            pass  # no manifest yet, or an unreadable one: everything is graded again

    def save(self) -> None:
        _atomic_write(self.path, json.dumps({"format": MANIFEST_FORMAT, "students": self.students},
                                            indent=1, sort_keys=True))


def _atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file, then rename: an interruption never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- stage 3: grade in a pool of grader processes --------------------------------------------
def _grade_one(path: str, ids: list[str], seed: int, call_timeout_s: float | None,
               budgets: tuple[float | None, float | None] = (None, None),
               unavailable: str = "error") -> dict[str, Any]:
    """Runs in a grader process: grade one submission; never raises for anything a submission does."""
    from .grading import grade
    from .report import render_markdown
    try:
        report = grade(Path(path), ids, visibility="all", seed=seed, call_timeout_s=call_timeout_s,
                       assignment_budget_s=budgets[0], submission_budget_s=budgets[1],
                       unavailable=unavailable)  # type: ignore[arg-type]
    except UsageError as exc:  # not a folder or a readable zip: the submission's own problem
        return {"status": "error", "cause": "submission", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a grader bug must cost one row, not the batch
        import traceback
        traceback.print_exc()  # into the grader log
        return {"status": "error", "cause": "grader", "reason": f"grader error: {type(exc).__name__}: {exc}"}
    return {"status": "ok", "json": report.to_json(), "markdown": render_markdown(report),
            "faults": report.grader_faults}


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when the parent dies (Linux), so killing grade-all leaves no grader behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(143)


def _serve(conn: Connection, log_path: str, ids: list[str], parent: int | None = None,
           idle_s: float | None = None) -> None:
    """A grader process: import the engine once, then grade whatever the parent sends until told to stop
    (or, given `idle_s`, until nothing came for that long)."""
    if parent is not None:
        _die_with_parent(parent)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)  # learner-free, but the engine's warnings must not scribble over the progress bar
    os.dup2(fd, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us with SIGTERM
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds grade(), whose cleanup kills the worker
    from .launch import start_zygote, stop_zygotes
    why_not = start_zygote()  # every student's worker is forked from it: no torch import per student
    if why_not:
        print(f"scratchgrad: workers start without a zygote: {why_not}", file=sys.stderr)
    from . import grading  # noqa: F401 - imported here once, not per student
    from .assignments import load_suite
    for aid in ids:  # torch, the suites and the reference, once per process: no student's time limit pays for it
        load_suite(aid, hidden=True)
    try:
        conn.send(("ready",))
        while True:
            idle_since = time.monotonic()
            while not conn.poll(1.0):  # on platforms without PR_SET_PDEATHSIG: notice an orphaning within 1 s
                if parent is not None and os.getppid() != parent:
                    return
                if idle_s is not None and time.monotonic() - idle_since > idle_s:
                    return
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            sid, path, ids, seed, call_timeout_s, budgets, unavailable = task
            conn.send(("done", sid, _grade_one(path, ids, seed, call_timeout_s, tuple(budgets), unavailable)))
    finally:
        # the pool stops a grader with SIGTERM, also one that is already on its way out: from here on
        # SIGTERM ends the process quietly (raised during the interpreter's shutdown, SystemExit would
        # print "Exception ignored ..." into the grader log); the zygote goes first, undisturbed
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_zygotes()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def task_message(sid: str, path: str, ids: list[str], seed: int, call_timeout_s: float | None,
                 budgets: tuple[float | None, float | None], unavailable: str) -> tuple:
    """What a grader process (`_serve`) is sent to grade one student, on every executor."""
    return sid, path, ids, seed, call_timeout_s, list(budgets), unavailable


def exit_why(code: int | None) -> str:
    """A process's end as a reader wants it: `killed by signal SIGKILL` or `exit status 1`."""
    return f"killed by signal {signal.Signals(-code).name}" if code and code < 0 else f"exit status {code}"


def died_reason(code: int | None) -> str:
    return f"the grader process died while grading this submission ({exit_why(code)})"


def timeout_reason(student_timeout_s: float) -> str:
    # the engine's budgets stop learner code well before this: what is left is the submission's doing
    return f"grading did not finish within {student_timeout_s:g} s (--student-timeout); the grader process was stopped"


class GraderStartError(Exception):
    """A grader process died before it was ready: an installation problem, not a submission's."""


@dataclass
class _Slot:
    proc: Any  # multiprocessing.Process (spawn context)
    conn: Connection
    ready: bool = False
    task: Student | None = None
    deadline: float = 0.0


class Pool:
    """Long-lived grader processes; one student per process at a time, replaced when one dies or hangs."""

    def __init__(self, size: int, log_path: Path, ids: list[str], unavailable: str = "error") -> None:
        self.ctx = mp.get_context("spawn")  # a fresh interpreter: no state inherited from the caller
        self.log_path, self.ids, self.unavailable = log_path, ids, unavailable
        self.slots = [self._start() for _ in range(size)]

    def _start(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_serve, args=(child, str(self.log_path), self.ids, os.getpid()), daemon=True)
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def _stop(self, slot: _Slot) -> int | None:
        if slot.proc.is_alive():
            slot.proc.terminate()
            slot.proc.join(GRACE_S)
            if slot.proc.is_alive():
                slot.proc.kill()
        slot.proc.join()
        slot.conn.close()
        return slot.proc.exitcode

    def close(self) -> None:
        for slot in self.slots:
            if slot.proc.is_alive() and slot.task is None:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
                slot.proc.join(GRACE_S)
            self._stop(slot)

    def run(self, todo: list[Student], seed: int, call_timeout_s: float | None, student_timeout_s: float,
            on_result: Callable[[Outcome], None], budgets: tuple[float | None, float | None] = (None, None)) -> None:
        pending = deque(todo)
        while pending or any(s.task for s in self.slots):
            for slot in self.slots:
                if slot.ready and slot.task is None and pending:
                    st = pending.popleft()
                    try:
                        slot.conn.send(task_message(st.id, str(st.path), self.ids, seed, call_timeout_s, budgets,
                                                    self.unavailable))
                    except OSError:  # the process just died; it is replaced below and the student waits
                        pending.appendleft(st)
                        continue
                    slot.task, slot.deadline = st, time.monotonic() + student_timeout_s
            busy = [s.deadline for s in self.slots if s.task]
            timeout = max(0.0, min(busy) - time.monotonic()) if busy else None
            wait([s.conn for s in self.slots] + [s.proc.sentinel for s in self.slots], timeout)
            live = []
            for slot in self.slots:
                outcome, replace = self._poll(slot, student_timeout_s)
                if outcome is not None:
                    on_result(outcome)
                if not replace:
                    live.append(slot)
                    continue
                self._stop(slot)
                if pending:  # a replacement only when there is work left for it
                    live.append(self._start())
            self.slots = live

    def _poll(self, slot: _Slot, student_timeout_s: float) -> tuple[Outcome | None, bool]:
        """What happened in one slot: (an outcome to record or None, whether the process must be replaced)."""
        try:
            while slot.conn.poll():
                msg = slot.conn.recv()
                if msg[0] == "ready":
                    slot.ready = True
                elif msg[0] == "done" and slot.task is not None:
                    st, slot.task = slot.task, None
                    return _outcome(st, msg[2]), False
        except (EOFError, OSError):
            pass  # the process is gone; its sentinel says so below
        if not slot.proc.is_alive():
            code = slot.proc.exitcode
            st, slot.task = slot.task, None
            if st is None:
                if not slot.ready:
                    raise GraderStartError(f"a grader process failed to start ({exit_why(code)}); see {self.log_path}")
                return None, True
            return Outcome(st.id, "error", died_reason(code), cause="grader"), True
        if slot.task is not None and time.monotonic() > slot.deadline:
            st, slot.task = slot.task, None
            return Outcome(st.id, "error", timeout_reason(student_timeout_s), cause="submission"), True
        return None, False


def _outcome(st: Student, res: dict[str, Any]) -> Outcome:
    if res["status"] == "ok":
        return Outcome(st.id, "ok", report_json=res["json"], markdown=res["markdown"], faults=res["faults"])
    reason = res["reason"]
    for long, short in ((str(st.path.resolve()), st.path.name), (str(st.path), st.path.name)):
        reason = reason.replace(long, short)  # the gradebook names no machine-specific path
    return Outcome(st.id, "error", reason, cause=res["cause"])


# -- stage 4: write results -------------------------------------------------------------------
def _error_feedback(o: Outcome) -> str:
    if o.cause == "submission":
        why = f"Your submission could not be graded: {o.reason}"
    else:
        why = "Your submission could not be graded because the grader failed (not your doing); ask your instructor."
    return f"# Feedback for {o.student}\n\n**Not graded.** {why}\n"


def _notes(report: dict[str, Any], faults: int) -> str:
    """The gradebook's reason for a graded row: assignment-level problems and grader faults."""
    notes = [a["error"] for a in report.get("assignments", []) if a.get("error")]
    if faults:
        notes.append(f"{faults} check(s) hit an internal grader error (see the report)")
    return "; ".join(notes)


@dataclass
class Summary:
    students: int = 0
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[Outcome] = field(default_factory=list)
    faults: int = 0
    rows: list[Row] = field(default_factory=list)
    elapsed_s: float = 0.0
    ignored: list[str] = field(default_factory=list)
    processes: int = 0  # grader processes started (0 when every student was skipped)
    similarity: "Similarity | None" = None
    cluster: str = ""  # --executor dask: which workers graded, e.g. "2 Dask workers at tcp://host:8786"


class Progress:
    """`[12/40] ####------ alice 88/89` on a terminal, rewritten in place; silent otherwise."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.width = 0

    def _line(self, text: str) -> None:
        assert self.stream is not None
        text = text[: shutil.get_terminal_size().columns - 1]  # a wrapped line could not be rewritten in place
        self.stream.write("\r" + text.ljust(self.width))
        self.width = len(text)
        self.stream.flush()

    def start(self, skipped: int) -> None:
        self.done = skipped
        if self.stream and self.done < self.total:
            self._line(f"[{self.done}/{self.total}] grading" + (f" ({skipped} unchanged, skipped)" if skipped else ""))

    def step(self, o: Outcome) -> None:
        self.done += 1
        if not self.stream:
            return
        if o.status != "ok":  # errors stay on screen above the bar
            self._line(f"{o.student}: error: {one_line(o.reason, 150)}")
            self.stream.write("\n")
            self.width = 0
        filled = round(20 * self.done / max(self.total, 1))
        score = "error" if o.status != "ok" else f"{num(o.report['score'], 2)}/{num(o.report['max_score'], 2)}"
        self._line(f"[{self.done}/{self.total}] {'#' * filled}{'-' * (20 - filled)} {o.student} {score}")

    def finish(self) -> None:
        if self.stream and self.width:
            self.stream.write("\n")
            self.stream.flush()


def grade_all(folder: Path, out: Path, ids: list[str], *, jobs: int | None = None, seed: int = 0,
              force: bool = False, call_timeout_s: float | None = None,
              assignment_budget_s: float | None = ASSIGNMENT_BUDGET_S,
              submission_budget_s: float | None = SUBMISSION_BUDGET_S,
              student_timeout_s: float | None = None, progress: TextIO | None = None,
              unavailable: Policy = "error", similarity: "SimilarityOptions | None | bool" = True,
              starter: Path | None = None, executor: str = "local", scheduler: str | None = None) -> Summary:
    """Grade every submission in `folder` into `out`; see the module docstring for the stages.

    `student_timeout_s` (default: the submission budget plus STARTUP_SLACK_S) is how long a grader
    process may spend on one student before it is stopped and the student gets an error row.

    `unavailable`: "error" stops before grading anyone when the checks need what this installation
    lacks (GPT-2's files); "drop" leaves those checks out of every student's maximum.

    `similarity`: the class report's similar-code section with these settings (True: the defaults;
    False or None: no section); `starter` overrides where the released stubs are read from.
    `executor`: "local" grades in a pool of `jobs` grader processes here; "dask" sends each student to
    the Dask cluster whose scheduler listens at `scheduler` (see `autograder.cluster`). Both hand every
    outcome to the same `record`, so the files written do not depend on where a student was graded.
    """
    t0 = time.monotonic()
    if executor not in EXECUTORS:
        raise UsageError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if executor == "dask" and not scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS (the Dask scheduler, e.g. tcp://host:8786)")
    if executor == "local" and scheduler:
        raise UsageError(f"--scheduler {scheduler!r} is only used with --executor dask")
    if executor == "dask" and jobs is not None:
        raise UsageError(f"--jobs={jobs} sizes the local pool; with --executor dask each Dask worker grades as many "
                         "students at once as it has threads (dask worker --nthreads)")
    if student_timeout_s is None:
        student_timeout_s = (submission_budget_s or SUBMISSION_BUDGET_S) + STARTUP_SLACK_S
    budgets = (assignment_budget_s, submission_budget_s)
    folder, out = Path(folder), Path(out)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs={jobs} must be at least 1")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    if os.path.realpath(out) == os.path.realpath(folder):
        raise UsageError(f"--out {str(out)!r} is DIR itself; write the results somewhere else")
    students, clashes, ignored = discover(folder, out)
    if not students and not clashes:
        raise UsageError(f"DIR {str(folder)!r} holds no student sub-folder or .zip file")
    for sub in ("reports", "feedback"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out / MANIFEST)
    dropped = preflight(ids, policy=unavailable)  # SetupError unless the instructor said to drop those checks
    fingerprint = grader_fingerprint(ids, seed, call_timeout_s, budgets, dropped)
    hashes = {st.id: submission_hash(st.path) for st in students}
    results: dict[str, Outcome] = {o.student: o for o in clashes}
    todo = []
    for st in students:
        saved = None if force else _reuse(out, st.id, manifest.students.get(st.id), hashes[st.id], fingerprint)
        if saved is None:
            todo.append(st)
        else:
            results[st.id] = saved
    summary = Summary(students=len(students) + len(clashes), ignored=ignored,
                      skipped=[s for s, o in results.items() if o.skipped])
    bar = Progress(len(students) + len(clashes), progress)
    bar.start(len(summary.skipped))

    def record(o: Outcome) -> None:
        """Write one student's files, then the manifest: a crash after this line loses nothing."""
        if o.status == "ok":
            assert o.report_json is not None and o.markdown is not None
            o.report = json.loads(o.report_json)
            _atomic_write(out / "reports" / f"{o.student}.json", o.report_json)
            _atomic_write(out / "feedback" / f"{o.student}.md", o.markdown)
            summary.graded.append(o.student)
        else:
            (out / "reports" / f"{o.student}.json").unlink(missing_ok=True)  # stale: from another submission
            _atomic_write(out / "feedback" / f"{o.student}.md", _error_feedback(o))
        entry = {"hash": hashes[o.student], "grader": fingerprint, "status": o.status, "reason": o.reason,
                 "cause": o.cause, "faults": o.faults}
        before = manifest.students.get(o.student) or {}
        if o.status == "error" and o.cause == "grader":  # retried by the next run, a bounded number of times
            same = before.get("hash") == entry["hash"] and before.get("grader") == fingerprint
            entry["attempts"] = (int(before.get("attempts", 0)) if same and before.get("cause") == "grader" else 0) + 1
        manifest.students[o.student] = entry
        manifest.save()
        results[o.student] = o
        bar.step(o)

    for o in clashes:
        bar.step(o)
    if todo:
        (out / ".grader.log").write_text("", encoding="utf-8")  # this run's grader warnings and tracebacks
    try:
        if todo and executor == "dask":
            from .cluster import Job, grade_on_dask
            job = Job.for_run(ids, seed, call_timeout_s, budgets, unavailable, student_timeout_s, dropped)
            summary.cluster = grade_on_dask(str(scheduler), todo, job, record, out / ".grader.log")
        elif todo:
            summary.processes = min(jobs or default_jobs(), len(todo))
            pool = Pool(summary.processes, out / ".grader.log", ids, unavailable)
            try:
                pool.run(todo, seed, call_timeout_s, student_timeout_s, record, budgets)
            finally:
                pool.close()
    finally:
        bar.finish()
    current = {st.id for st in students}
    manifest.students = {k: v for k, v in manifest.students.items() if k in current}  # forget removed students
    manifest.save()

    rows = []
    for sid in sorted(results, key=lambda s: (s.casefold(), s)):
        o = results[sid]
        if o.status == "ok":
            rows.append(Row(sid, "ok", _notes(o.report or {}, o.faults), o.report))
        else:
            rows.append(Row(sid, "error", o.reason, None))
            summary.errors.append(o)
        summary.faults += o.faults + (o.cause == "grader")
    _atomic_write(out / "gradebook.csv", gradebook_csv(rows, ids))
    grader = {"version": __version__, "seed": seed}
    if similarity:
        summary.similarity = _similar_code(students, clashes, ids, out, similarity, starter)
    if summary.similarity is None:
        (out / "similarity.json").unlink(missing_ok=True)  # no section this run: no stale file from an earlier one
    _atomic_write(out / "report.html", render_html(rows, ids, grader=grader, similarity=summary.similarity))
    summary.rows = rows
    summary.elapsed_s = time.monotonic() - t0
    return summary


def _similar_code(students: list[Student], clashes: list[Outcome], ids: list[str], out: Path,
                  options: "SimilarityOptions | bool", starter: Path | None) -> "Similarity | None":
    """The class report's similar-code section (and OUT/similarity.json); grades never depend on it.

    Submissions are read again, read-only, through the grader's loader. A fault in the comparison
    costs the section, never the gradebook or the report: it is logged in OUT/.grader.log.
    """
    from .similarity import Options, Skipped, similarity, to_json
    try:
        sim = similarity([(st.id, st.path) for st in students], ids, root=PACKAGE_DIR.parent, starter=starter,
                         opts=options if isinstance(options, Options) else Options())
    except Exception:  # noqa: BLE001 - an extra section must not cost the class report
        import traceback
        with open(out / ".grader.log", "a", encoding="utf-8") as log:
            log.write("similar code: the comparison failed; the class report has no similar-code section\n")
            traceback.print_exc(file=log)
        return None
    sim.skipped += [Skipped(o.student, None, o.reason) for o in clashes]
    _atomic_write(out / "similarity.json", to_json(sim))
    return sim


def _reuse(out: Path, sid: str, entry: dict[str, Any] | None, digest: str, fingerprint: str) -> Outcome | None:
    """The saved result for `sid` when its submission and the grader are unchanged, else None."""
    if not entry or entry.get("hash") != digest or entry.get("grader") != fingerprint:
        return None
    if entry.get("status") == "error":  # the submission's own errors are final; grader errors retry, a few times
        if entry.get("cause") == "grader" and int(entry.get("attempts", 1)) < MAX_GRADER_ATTEMPTS:
            return None
        reason = entry.get("reason", "")
        if entry.get("cause") == "grader":
            reason += f" (the same on {entry.get('attempts')} attempts: not retried; --force grades it again)"
        return Outcome(sid, "error", reason, cause=entry.get("cause") or "submission", skipped=True)
    try:
        report = json.loads((out / "reports" / f"{sid}.json").read_text(encoding="utf-8"))
        if not (out / "feedback" / f"{sid}.md").is_file():
            return None
    except (OSError, ValueError):
        return None
    return Outcome(sid, "ok", report=report, faults=int(entry.get("faults", 0)), skipped=True)


# -- the command ------------------------------------------------------------------------------
def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def summary_text(s: Summary, out: Path) -> str:
    lines = [(f"{_n(s.students, 'student')}: {len(s.graded)} graded, {len(s.skipped)} skipped (unchanged since the last "
             f"run; --force regrades them), {_n(len(s.errors), 'error')} "
             f"({s.elapsed_s:.1f} s, {s.cluster or _n(s.processes, 'grader process', 'grader processes')})")]
    lines += [f"  {o.student}: error: {one_line(o.reason, 200)}" for o in s.errors]
    if s.ignored:
        lines.append(f"  ignored {len(s.ignored)} entries that are neither folders nor .zip files: "
                     + ", ".join(s.ignored[:5]) + (" ..." if len(s.ignored) > 5 else ""))
    totals = [r.total for r in s.rows if r.total is not None]
    graded = [r for r in s.rows if r.report is not None]
    if totals:
        top = graded[0].report.get("max_score", 0.0) if graded[0].report else 0.0
        mean, lo, hi = sum(totals) / len(totals), min(totals), max(totals)
        lines.append(f"class total: mean {num(mean, 2)}, min {num(lo, 2)}, max {num(hi, 2)} (out of {num(top, 2)})")
    if s.similarity is not None:
        found = [f"{a.assignment}: {a.above}" for a in s.similarity.assignments if a.above]
        lines.append(f"similar code: {_n(sum(a.above for a in s.similarity.assignments), 'pair')} at or above "
                     f"{num(s.similarity.options.threshold, 2)}" + (f" ({', '.join(found)})" if found else "")
                     + "; see the class report (evidence for you to read, not a penalty)")
    lines.append(f"wrote {out / 'gradebook.csv'}, {out / 'report.html'}, {out / 'feedback'}/, {out / 'reports'}/")
    return "\n".join(lines)


def main(args: Any) -> int:
    """`scratchgrad grade-all`: 0 when every submission got a record, 3 if the grader failed on any."""
    from .assignments import hidden_available, resolve_all
    ids = resolve_all(args.only)
    if not hidden_available():
        raise UsageError("the hidden checks are not installed here (a learner kit has public checks only)")
    executor = getattr(args, "executor", "local")
    out = Path(args.out)
    jobs = default_jobs() if args.jobs is None and executor == "local" else args.jobs
    starter = None if getattr(args, "starter", None) is None else Path(args.starter)
    if starter is not None and not starter.is_dir():
        raise UsageError(f"--starter {str(starter)!r} is not a folder (it should hold the released aNN_*.py stubs)")
    from .similarity import THRESHOLD, Options
    similar = Options(threshold=getattr(args, "similarity_threshold", None) or THRESHOLD)
    if args.student_timeout is not None and not args.student_timeout > 0:
        raise UsageError(f"--student-timeout={args.student_timeout!r} must be greater than 0")
    stream = sys.stderr if sys.stderr.isatty() else None

    def on_term(signum: int, frame: Any) -> None:  # like Ctrl-C: stop the pool, keep what is saved
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        summary = grade_all(Path(args.dir), out, ids, jobs=jobs, seed=args.seed, force=args.force,
                            call_timeout_s=args.timeout, assignment_budget_s=args.assignment_budget,
                            submission_budget_s=args.submission_budget, student_timeout_s=args.student_timeout,
                            progress=stream, unavailable="drop" if args.drop_unavailable else "error",
                            similarity=similar, starter=starter, executor=executor,
                            scheduler=getattr(args, "scheduler", None))
    except GraderStartError as exc:
        print(f"scratchgrad grade-all: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"\ninterrupted: the students graded so far are saved in {out}/reports; run the same command again "
              "to grade the rest", file=sys.stderr)
        return 130
    print(summary_text(summary, out))
    if summary.faults:
        print(f"scratchgrad grade-all: the grader failed on {summary.faults} check(s) or submission(s); "
              f"see the gradebook's reason column and {out / '.grader.log'}", file=sys.stderr)
        return 3
    return 0
