"""`grade-all --executor dask`: the same per-student grading, as tasks on a Dask cluster's workers.

The client (this machine) discovers, hashes and records exactly as the local pool does; only the
"grade this student" step moves. Each student becomes one Dask task that carries the submission's
bytes (`pack`), so a worker needs no shared filesystem: it unpacks them into a private folder and
hands that to a long-lived grader process of its own, the very `_serve` loop of the local pool
(torch and the suites are imported once per grader, and every student still gets a fresh sandboxed
worker for their code). The task returns the student's `Outcome`, and the client writes it through
`grade_all`'s one `record`: the gradebook, feedback, manifest and resume-by-hash cannot tell where a
student was graded.

Failures, and who pays for them:
- a Dask worker that dies (killed, out of memory, its node lost) costs the students it held: the
  scheduler reruns their tasks elsewhere, and each result is recorded once, when its task finishes;
  a student whose grading keeps killing workers gets an error row once the scheduler gives up
  (`distributed.scheduler.allowed-failures`), retried by the next run like any grader error;
- a grader process that dies or overruns `--student-timeout` on a worker: the same error rows as locally;
- a worker whose scratchgrad differs from this machine's (another version, other grader files, a
  missing GPT-2 vocabulary) stops the run with the worker's address before it grades anyone: mixing
  graders would make two students' scores incomparable;
- an unreachable scheduler: a UsageError naming the address after CONNECT_TIMEOUT_S.

Grader processes are started with `subprocess`, not `multiprocessing`: a Dask worker under a nanny is
a daemonic process, which `multiprocessing` forbids to have children. They are started from one
long-lived thread so that their parent-death signal (Linux) fires when the Dask worker process dies,
not when a thread of its pool retires.
"""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .assignments import UsageError
from .batch import (GRACE_S, PACKAGE_DIR, GraderStartError, Outcome, Student, _outcome, _serve, died_reason,
                    exit_why, grader_fingerprint, task_message, timeout_reason)
from .submission import MAX_ENTRIES, _skip

CONNECT_TIMEOUT_S = 5.0  # connecting to a live scheduler takes milliseconds, even across a campus network
MAX_SHIP_BYTES = 256 << 20  # per student: the loader reads at most 64 MiB per zip and per notebook
SHIPPED_SUFFIXES = (".py", ".ipynb", ".zip")  # the only files whose bytes the loader reads
LINK_TARGET = ".scratchgrad-link-not-sent"  # what a shipped symbolic link points to (the loader ignores links)
IDLE_S = 600.0  # a grader idle this long, left by a run whose client went away, is stopped by the next task
SELF_STOP_S = IDLE_S + 60  # and exits by itself after this long (no task came, or its scheduler is gone)
SCORED_BY = ("torch", "hypothesis", "numpy", "tiktoken")  # packages whose version a score may depend on
INSTALL_HINT = ("--executor dask needs Dask's distributed package: python -m pip install 'scratchgrad[cluster]' "
                "(here and on every Dask worker)")


class ClusterError(GraderStartError):
    """The cluster cannot grade as this machine would (a worker's installation, a lost scheduler): nobody's
    submission is at fault, so the run stops and a rerun grades the rest."""


@dataclass(frozen=True)
class Job:
    """What every task of one run shares: the grading options, and what a worker must match to grade them:
    the grader's sources (`grader_fingerprint(..., bytecode=False)`) and the versions in `versions()`."""

    ids: list[str]
    seed: int
    call_timeout_s: float | None
    budgets: tuple[float | None, float | None]
    unavailable: str
    student_timeout_s: float
    sources: str
    versions: dict[str, str]

    @classmethod
    def for_run(cls, ids: list[str], seed: int, call_timeout_s: float | None,
                budgets: tuple[float | None, float | None], unavailable: str, student_timeout_s: float,
                dropped: dict[str, str]) -> Job:
        sources = grader_fingerprint(ids, seed, call_timeout_s, budgets, dropped, bytecode=False)
        return cls(ids, seed, call_timeout_s, budgets, unavailable, student_timeout_s, sources, versions())

    def message(self, sid: str, path: Path) -> tuple:
        return task_message(sid, str(path), self.ids, self.seed, self.call_timeout_s, self.budgets, self.unavailable)


def versions() -> dict[str, str]:
    """The installed versions of SCORED_BY (without importing them)."""
    from importlib.metadata import PackageNotFoundError, version
    found = {}
    for name in SCORED_BY:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# -- the submission's bytes -------------------------------------------------------------------
def pack(path: Path) -> tuple[str, bytes]:
    """A student's submission as ("file", the zip's bytes) or ("tar", a tar of the folder).

    The tar holds what `submission.load` would look at, in the order it looks: every file's name, so
    its notes ("ignored `x.pyc`", "stopped looking after 20000 files") and choices come out the same,
    but the bytes only of files it may read (modules, notebooks, zips); the rest travel empty. Links
    travel as links to nowhere (the loader ignores them and says so), linked folders not at all (it
    does not enter them).

    Raises:
        UsageError: the files it may read hold more than MAX_SHIP_BYTES, or cannot be read.
    """
    try:
        if not path.is_dir():
            size = path.stat().st_size
            if size > MAX_SHIP_BYTES:
                raise UsageError(f"{path.name}: {size} bytes, more than --executor dask sends to a worker "
                                 f"({MAX_SHIP_BYTES}); grade it with --executor local")
            return "file", path.read_bytes()
        return "tar", _tar(path)
    except OSError as exc:
        raise UsageError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None


def _tar(root: Path) -> bytes:
    buf, shipped, seen = io.BytesIO(), 0, 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_member(root.name, tarfile.DIRTYPE))  # an empty folder is a submission too
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not _skip(Path(d)) and not os.path.islink(os.path.join(dirpath, d)))
            rel = Path(dirpath).relative_to(root)
            for name in sorted(names):
                seen += 1
                if seen > MAX_ENTRIES + 1:  # the loader stops looking here
                    return buf.getvalue()
                full, arc = os.path.join(dirpath, name), Path(root.name, rel, name).as_posix()
                if os.path.islink(full):
                    tar.addfile(_member(arc, tarfile.SYMTYPE))
                elif os.path.isfile(full):  # a FIFO or a socket: skipped by the loader, not sent
                    data = b""
                    if name.lower().endswith(SHIPPED_SUFFIXES):
                        with open(full, "rb") as f:
                            data = f.read(MAX_SHIP_BYTES - shipped + 1)
                        shipped += len(data)
                        if shipped > MAX_SHIP_BYTES:
                            raise UsageError(f"{root.name}: its modules, notebooks and zips hold more than "
                                             f"--executor dask sends to a worker ({MAX_SHIP_BYTES} bytes); grade it "
                                             "with --executor local")
                    tar.addfile(_member(arc, tarfile.REGTYPE, len(data)), io.BytesIO(data))
    return buf.getvalue()


def _member(name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if kind == tarfile.SYMTYPE:
        info.linkname = LINK_TARGET
    return info


def unpack(kind: str, name: str, payload: bytes, dest: Path) -> Path:
    """Recreate a packed submission under `dest`, with its own name (reasons and notes name it)."""
    if kind == "file":
        (dest / name).write_bytes(payload)
    elif kind == "tar":
        with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+: refuse anything outside `dest`
                tar.extractall(dest, filter="data")
            else:
                tar.extractall(dest)  # noqa: S202 - members built by `_tar`: relative names, links inside
    else:
        raise ValueError(f"kind={kind!r}: expected 'file' or 'tar'")
    return dest / name


# -- on a Dask worker: long-lived grader processes --------------------------------------------
class _Grader:
    """One grader process (`batch._serve`) owned by this Dask worker, spoken to over a socket pair."""

    def __init__(self, ids: list[str], log: Path) -> None:
        self.log = log
        parent, child = mp.Pipe()  # a socket pair: no process is created by multiprocessing
        boot = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from autograder.cluster import grader_main; grader_main(sys.argv[2:])")
        argv = [sys.executable, "-c", boot, str(PACKAGE_DIR.parent), str(child.fileno()), str(log), json.dumps(ids),
                str(os.getpid())]
        with open(log, "ab") as out:
            self.proc = _launcher().submit(subprocess.Popen, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                           pass_fds=(child.fileno(),)).result()
        child.close()
        self.conn = parent
        self.ready = False
        self.idle_since = time.monotonic()

    def wait_ready(self, where: str) -> None:
        try:
            while not self.ready:
                self.ready = self.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            code = self._reap()
            raise GraderStartError(f"a grader process failed to start on the Dask worker {where} ({exit_why(code)}); "
                                   f"see {self.log} on that machine") from None

    def grade(self, message: tuple, student_timeout_s: float) -> dict[str, Any]:
        """`_grade_one`'s answer, or the error the local pool would record for a death or an overrun."""
        deadline = time.monotonic() + student_timeout_s
        try:
            self.conn.send(message)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    return {"status": "error", "cause": "submission", "reason": timeout_reason(student_timeout_s)}
                if self.conn.poll(left):
                    msg = self.conn.recv()
                    if msg[0] == "done":
                        return msg[2]
        except (EOFError, OSError):
            return {"status": "error", "cause": "grader", "reason": died_reason(self._reap())}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _reap(self) -> int | None:
        try:
            return self.proc.wait(GRACE_S)  # its socket closed: it is exiting
        except subprocess.TimeoutExpired:
            self.stop()
            return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # `_serve` exits on SIGTERM, and grade()'s cleanup stops the learner's worker
            try:
                self.proc.wait(GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.conn.close()


def grader_main(argv: list[str]) -> None:
    """The grader process's entry point: `_serve` on the socket its Dask worker passed down."""
    from multiprocessing.connection import Connection
    fd, log, ids, parent = argv
    _serve(Connection(int(fd)), log, json.loads(ids), int(parent), idle_s=SELF_STOP_S)


_LOCK = threading.Lock()
_GRADERS: dict[str, set[_Grader]] = {}  # run -> its live graders, busy or idle
_IDLE: dict[str, list[_Grader]] = {}  # run -> its graders waiting for a student
_CHECKED: dict[str, str] = {}  # run -> "" when this worker grades as the client would, else why not
_LAUNCHER: list[ThreadPoolExecutor] = []


def _launcher() -> ThreadPoolExecutor:
    """The one thread that starts grader processes: it lives as long as the Dask worker process."""
    with _LOCK:
        if not _LAUNCHER:
            _LAUNCHER.append(ThreadPoolExecutor(1, thread_name_prefix="scratchgrad-launcher"))
        return _LAUNCHER[0]


def _check_installation(run: str, job: Job, where: str) -> None:
    """Raise ClusterError unless this worker grades as the client would: same grader sources, resources and
    versions of the packages scores depend on. Checked once per run and worker."""
    from .resources import SetupError, preflight
    if run not in _CHECKED:
        mine = versions()
        differ = [f"{name} {mine[name]} (this machine: {job.versions.get(name)})" for name in SCORED_BY
                  if mine[name] != job.versions.get(name)]
        why = ""
        if differ:
            why = (f"the Dask worker {where} has {', '.join(differ)}: scores depend on these versions; install the "
                   "same ones on every worker")
        else:
            try:
                dropped = preflight(job.ids, policy=job.unavailable)  # type: ignore[arg-type]
                sources = grader_fingerprint(job.ids, job.seed, job.call_timeout_s, job.budgets, dropped,
                                             bytecode=False)
                lacks = f"; it lacks {', '.join(sorted(dropped))} (--drop-unavailable)" if dropped else ""
                if sources != job.sources:
                    why = (f"the Dask worker {where} grades with other grader files than this machine (another "
                           f"scratchgrad version or edited files under {PACKAGE_DIR}{lacks}): install the same "
                           "scratchgrad on every worker")
            except SetupError as exc:
                why = f"the Dask worker {where} cannot grade: {exc}"
        _CHECKED[run] = why
    if _CHECKED[run]:
        raise ClusterError(_CHECKED[run])


def _take(run: str, job: Job, log: Path, where: str) -> _Grader:
    """An idle grader of `run`, or a new one; graders dead or idle past IDLE_S (any run's) are stopped first."""
    stale: list[_Grader] = []
    with _LOCK:
        now = time.monotonic()
        for r, idle in _IDLE.items():  # a run whose client vanished leaves idle graders behind
            gone = [g for g in idle if now - g.idle_since > IDLE_S or not g.alive()]
            idle[:] = [g for g in idle if g not in gone]
            _GRADERS.get(r, set()).difference_update(gone)
            stale += gone
        idle = _IDLE.setdefault(run, [])
        grader = idle.pop() if idle else None
    for g in stale:
        g.stop()
    if grader is None:
        grader = _Grader(job.ids, log)
        with _LOCK:
            _GRADERS.setdefault(run, set()).add(grader)
    try:
        grader.wait_ready(where)
    except GraderStartError:
        with _LOCK:
            _GRADERS[run].discard(grader)
        raise
    return grader


def _give_back(run: str, grader: _Grader) -> None:
    with _LOCK:
        if grader.alive() and grader in _GRADERS.get(run, ()):
            grader.idle_since = time.monotonic()
            _IDLE.setdefault(run, []).append(grader)
            return
        _GRADERS.get(run, set()).discard(grader)
    grader.stop()


def stop_graders(run: str) -> int:
    """Stop run `run`'s grader processes on this worker (the client calls it on every worker at the end)."""
    with _LOCK:
        graders = _GRADERS.pop(run, set())
        _IDLE.pop(run, None)
        _CHECKED.pop(run, None)
    for g in graders:  # SIGTERM to all first: they stop side by side, not one grace period after another
        if g.alive():
            g.proc.terminate()
    for g in graders:
        g.stop()
    log = grader_log(run)
    try:
        if log.stat().st_size == 0:  # nothing to read in it: no warning, no traceback
            log.unlink()
    except OSError:
        pass  # none was written here, or another worker of this machine removed it
    return len(graders)


def grader_log(run: str) -> Path:
    """Where the grader processes of run `run` write, on each worker's machine."""
    return Path(tempfile.gettempdir()) / f"scratchgrad-grader-{run}.log"


def grade_task(run: str, sid: str, name: str, kind: str, payload: bytes, job: Job) -> Outcome:
    """A Dask task: grade one student on this worker; never raises for anything a submission does."""
    from distributed import get_worker
    where = get_worker().address
    _check_installation(run, job, where)
    log = grader_log(run)
    tmp = Path(tempfile.mkdtemp(prefix="scratchgrad-dask-"))
    try:
        path = unpack(kind, name, payload, tmp)
        grader = _take(run, job, log, where)
        result = grader.grade(job.message(sid, path), job.student_timeout_s)
        _give_back(run, grader)
        outcome = _outcome(Student(sid, path), result)  # also replaces this worker's path by the submission's name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    outcome.where = where
    return outcome


# -- on the client ----------------------------------------------------------------------------
def connect(address: str) -> Any:
    """A distributed.Client for the scheduler at `address`, or a UsageError that names it."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {address!r}: no Dask scheduler answered within {CONNECT_TIMEOUT_S:g} s "
                         f"({type(exc).__name__}: {exc}); start one with `dask scheduler` and pass the address it "
                         "prints") from None


def grade_on_dask(address: str, todo: list[Student], job: Job, record: Callable[[Outcome], None], log: Path) -> str:
    """Grade `todo` on the cluster at `address`, handing each outcome to `record` as it arrives.

    Returns which workers graded, for the summary line. At most a few tasks per worker thread are
    submitted ahead, so the client and the scheduler hold a bounded number of submissions in memory.
    """
    client = connect(address)  # first: without distributed, it says how to install it
    from distributed import KilledWorker, as_completed

    run = uuid.uuid4().hex[:12]
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"grading on the Dask cluster at {address}, run {run}: tracebacks of the grader processes are in "
                f"scratchgrad-grader-{run}.log in the temporary folder of each worker's machine\n")
    pending, running, where = list(reversed(todo)), {}, set()
    done = as_completed(loop=client.loop)
    submitted = 0

    def fill() -> None:
        nonlocal submitted
        try:
            threads = sum(client.nthreads().values())  # workers may join (or leave) mid-run
        except OSError:
            threads = 0  # the scheduler is gone: the futures say so, cancelled, and the run stops there
        ahead = max(8, 3 * threads)
        while pending and len(running) < ahead:
            st = pending.pop()
            try:
                kind, payload = pack(st.path)
            except UsageError as exc:
                record(Outcome(st.id, "error", str(exc), cause="submission"))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever a folder holds must cost its own row at most
                record(Outcome(st.id, "error", f"grader error while packing it for the Dask cluster: "
                                              f"{type(exc).__name__}: {exc}", cause="grader"))
                continue
            submitted += 1
            fut = client.submit(grade_task, run, st.id, st.path.name, kind, payload, job,
                                key=f"scratchgrad-{run}-{submitted}", pure=False)
            running[fut] = st
            done.add(fut)

    try:
        fill()
        while running:
            fut = next(done)
            st = running.pop(fut)
            try:
                outcome = fut.result()
            except GraderStartError:
                raise
            except (CancelledError, asyncio.CancelledError) as exc:  # nobody cancels but us: the scheduler went away
                raise ClusterError(f"lost the Dask scheduler at {address} ({type(exc).__name__}: {exc}); the students "
                                   "graded so far are saved: run the same command again to grade the rest") from None
            except KilledWorker as exc:  # as a student who kills grader processes locally, but after retries
                tries, last = exc.allowed_failures + 1, getattr(exc.last_worker, "address", "?")
                outcome = Outcome(st.id, "error", f"every Dask worker that graded this submission died while grading "
                                  f"it ({tries} in a row, the last {last}; distributed.scheduler.allowed-failures)",
                                  cause="grader")
            except Exception as exc:  # noqa: BLE001 - a bug on a worker costs one row, as in the local pool
                outcome = Outcome(st.id, "error", f"grader error on the Dask cluster: {type(exc).__name__}: {exc}",
                                  cause="grader")
            if outcome.cause == "grader":
                with open(log, "a", encoding="utf-8") as f:
                    f.write(f"{st.id}: {outcome.reason} (on {outcome.where or 'the cluster'})\n")
            if outcome.where:
                where.add(outcome.where)
            record(outcome)
            fill()
    finally:
        if running:
            client.cancel(list(running))
        _stop_everywhere(client, run)
        client.close(timeout=GRACE_S)
    count = len(where)
    return f"{count} Dask worker{'' if count == 1 else 's'} at {address}"


def _stop_everywhere(client: Any, run: str) -> None:
    """Stop this run's grader processes on every worker; a worker that does not answer in time keeps them
    until its next task of another run finds them idle for IDLE_S, or until it exits."""
    def stop() -> None:
        try:
            client.run(stop_graders, run, on_error="ignore")
        except Exception:  # noqa: BLE001 - best effort: with the scheduler gone, the graders exit after
            pass  # SELF_STOP_S idle or with their Dask worker, and the run's own error is what the user needs

    stopper = threading.Thread(target=stop, daemon=True)
    stopper.start()
    stopper.join(2 * GRACE_S)
