"""One submission on several cores: forked copies of the grader take assignments from a shared queue.

A grading run alternates between the grader (Hypothesis, the reference, the comparisons) and the
worker (the learner's code), so one core is busy at a time; `grade`, Gradescope and the nbgrader
route grade a single submission, and the machine's other cores sat idle. Here the assignments are
queued heaviest first and taken one at a time by this process and by `jobs - 1` copies of it,
each copy with its own worker, until the queue is empty: a copy whose worker is slow to start, or
an assignment that runs long, does not leave another core waiting.

The copies are forked once torch, the suites and the references are imported, so they start at
once; their workers were prestarted beside the first one (`launch.prestart(count=jobs)`) or start
now. A copy sends each check's result as it finishes (for the progress bar) and each assignment's
results when it is done; the report is the one a single process would write, check for check:
every check draws its examples from its own seed, and the blame notes that point at an earlier
assignment are added after the merge (grading.score).

A copy that dies costs only the assignment it held: its missing checks become errors that name the
cause. SIGTERM/SIGINT stops every copy, and the report is partial as with one process.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable

from .budgets import GradingInterrupted, Stop
from .checks import CheckResult, Suite
from .grading import INTERRUPTED, Ran, Scanned, _all_fail, _ban_record, _selected, run_checks
from .launch import adopt_prestarted, take_prestarted
from .timeouts import RememberTimeouts
from .worker import Worker

PR_SET_PDEATHSIG = 1  # linux/prctl.h
GIVE_UP_S = 10.0  # after an interruption: how long a copy gets to send what it graded
COPY_DIED = "the grader process running this assignment died ({cause}); grade again"


def available_cpus() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (containers)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max", encoding="ascii").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def default_jobs(n_assignments: int) -> int:
    """Processes for one submission: 2 when two cores are free (two already keep both sides of a run
    busy), else 1, and never more than there are assignments. A machine already busy (a class graded
    beside it, a test suite) gains nothing from a second process: it only adds a worker's start."""
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    free = available_cpus() - busy
    return max(1, min(2 if free >= 1.5 else 1, n_assignments))


def weight(suite: Suite, visibility: str) -> int:
    """A rough measure of an assignment's grading work, to queue the heaviest first."""
    return sum(2 + c.max_examples for c in _selected(suite, visibility))


@dataclass
class _Copy:
    proc: Any  # multiprocessing.Process (fork context)
    conn: Connection
    held: str | None = None  # the assignment it is grading now
    ended: bool = False
    starts: int = 0
    partial: dict[str, list[CheckResult]] = field(default_factory=dict)  # checks of `held` so far


def _take(counter: Any) -> int:
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    return i


def _one(scanned: Scanned, aid: str) -> Scanned:
    """`scanned` narrowed to one assignment; the problems dict is shared, so an import problem lands there."""
    return Scanned(scanned.submission, {aid: scanned.suites[aid]}, problems=scanned.problems,
                   findings=scanned.findings, integrity=scanned.integrity)


def _copy_main(scanned: Scanned, order: list[str], counter: Any, options: dict[str, Any], deadline: float | None,
               conn: Connection, parent_worker: Worker, spare: Any) -> None:
    """A forked copy: grade assignments from the queue through its own worker, reporting each."""
    if parent_worker.proc is not None:  # the parent's worker is the parent's: keep no end of its pipes
        for stream in (parent_worker.proc.stdin, parent_worker.proc.stdout):
            try:
                if stream:
                    os.close(stream.fileno())
            except (OSError, ValueError):
                pass
    try:  # the copy must not outlive the grader that forked it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    Stop.signum, Stop.armed = None, False
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, Stop.handler)
    if spare is not None:
        adopt_prestarted(scanned.submission.root, spare)
    executor = Worker(parent_worker.submission, memory_mb=parent_worker.memory_mb, user=parent_worker.user)
    interrupted = None
    try:
        executor.start()
        runner = RememberTimeouts(executor)
        while interrupted is None and Stop.signum is None:
            i = _take(counter)
            if i >= len(order):
                break
            aid = order[i]
            conn.send(("take", aid))
            ran = run_checks(_one(scanned, aid), runner, submission_deadline=deadline,
                             progress=lambda a, r: conn.send(("check", a, r)), **options)
            interrupted = ran.interrupted
            conn.send(("done", aid, ran.results[aid], scanned.problems.get(aid)))
    except GradingInterrupted as exc:
        interrupted = exc.signum
    finally:
        executor.close()
        conn.send(("end", executor.starts, interrupted))
        conn.close()


def run_split(scanned: Scanned, executor: Worker, jobs: int, options: dict[str, Any],
              submission_budget_s: float | None,
              progress: Callable[[str, CheckResult], None] | None) -> tuple[Ran, int]:
    """Run every check of `scanned` with `jobs` processes (this one included); (results, worker starts)."""
    deadline = time.monotonic() + submission_budget_s if submission_budget_s is not None else None
    visibility = options["visibility"]
    order = sorted(scanned.suites, key=lambda a: -weight(scanned.suites[a], visibility))
    ctx = mp.get_context("fork")  # a copy of this process, imports and all: no second torch import
    counter = ctx.Value("i", 0)
    copies: list[_Copy] = []
    results: dict[str, list[CheckResult]] = {}
    for _ in range(jobs - 1):
        spare = take_prestarted(scanned.submission.root)
        mine, theirs = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_copy_main, daemon=True,
                           args=(scanned, order, counter, options, deadline, theirs, executor, spare))
        try:
            proc.start()
        except OSError:  # no process to spare (a pids limit): this one grades the rest
            theirs.close()
            mine.close()
            if spare is not None:
                adopt_prestarted(scanned.submission.root, spare)  # discarded at exit
            break
        theirs.close()
        if spare is not None:  # the copy owns it now: drop this process's ends of its pipes
            for stream in (spare.proc.stdin, spare.proc.stdout, spare.boot_err):
                stream.close()
        copies.append(_Copy(proc, mine))

    def handle(c: _Copy, msg: tuple) -> None:
        kind = msg[0]
        if kind == "take":
            c.held, c.partial = msg[1], {msg[1]: []}
        elif kind == "check":
            c.partial.setdefault(msg[1], []).append(msg[2])
            if progress:
                progress(msg[1], msg[2])
        elif kind == "done":
            _, aid, res, problem = msg
            results[aid] = res
            if problem:
                scanned.problems[aid] = problem
            c.held, c.partial = None, {}
        elif kind == "end":
            c.starts, c.ended = msg[1], True

    def drain(block: bool, until: float | None = None) -> None:
        """Read what the copies sent; with `block`, until each has ended (or died, or `until` passed)."""
        for c in copies:
            while not c.ended:
                if block and until is not None and until <= time.monotonic():
                    break
                wait = (None if until is None else until - time.monotonic()) if block else 0
                if not c.conn.poll(wait):
                    break
                try:
                    handle(c, c.conn.recv())
                except (EOFError, OSError):  # it died: what it held is lost
                    c.ended = True

    def progress_and_drain(aid: str, r: CheckResult) -> None:
        if progress:
            progress(aid, r)
        drain(block=False)

    interrupted = None
    runner = RememberTimeouts(executor)
    try:
        while True:
            i = _take(counter)
            if i >= len(order):
                break
            aid = order[i]
            ran = run_checks(_one(scanned, aid), runner, submission_deadline=deadline, progress=progress_and_drain,
                             **options)
            results[aid] = ran.results[aid]
            if ran.interrupted is not None:
                interrupted = ran.interrupted
                break
        while interrupted is None and not all(c.ended for c in copies):  # wait for the copies' last results
            drain(block=True, until=time.monotonic() + 0.2)
            interrupted = Stop.signum  # a signal while waiting here (not armed) is only recorded: look
    except GradingInterrupted as exc:  # between two assignments
        interrupted = exc.signum
    finally:
        if interrupted is not None:
            for c in copies:
                if c.proc.is_alive():
                    os.kill(c.proc.pid, signal.SIGTERM)
            drain(block=True, until=time.monotonic() + GIVE_UP_S)
        for c in copies:
            if c.proc.is_alive() and not c.ended:
                c.proc.kill()
            c.proc.join(timeout=GIVE_UP_S)
            c.conn.close()
    for c in copies:  # an assignment a copy held when it died or was stopped
        if c.held is not None and c.held not in results:
            cause = INTERRUPTED if interrupted is not None else COPY_DIED.format(cause=_exit_cause(c.proc.exitcode))
            results[c.held] = _fill(scanned, c.held, c.partial.get(c.held, []), cause, visibility, options)
    for aid in scanned.suites:  # never taken: the run stopped first
        if aid not in results:
            results[aid] = _fill(scanned, aid, [], INTERRUPTED, visibility, options)
    merged = {aid: results[aid] for aid in scanned.suites}
    return Ran(scanned, merged, interrupted), executor.starts + sum(c.starts for c in copies)


def _exit_cause(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit status {code}"


def _fill(scanned: Scanned, aid: str, done: list[CheckResult], cause: str, visibility: str,
          options: dict[str, Any]) -> list[CheckResult]:
    """The results of an assignment whose grading stopped: the checks done, the rest errors with `cause`."""
    suite = scanned.suites[aid]
    missing = options.get("missing") or {}
    checks = [c for c in _selected(suite, visibility)
              if not (options.get("policy") == "drop" and set(c.needs) & set(missing))]
    got = {r.name for r in done}
    res = list(done) + _all_fail([c for c in checks if c.name not in got], "error", cause)
    scanned.problems.setdefault(aid, cause)
    if suite.bans:
        res.insert(0, _ban_record(suite, scanned.findings.get(aid, []), res, cause))
    return res
