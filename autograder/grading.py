"""The grading pipeline: load submission -> static scan -> run checks in the worker -> score -> report.

Each stage takes the previous stage's result type, so the order is enforced by the types rather
than by a comment. A broken submission (missing file, syntax error, import error, crash) yields an
assignment record with a reason; nothing here raises for anything a learner can do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import __version__
from .assignments import CURRICULUM, load_suite, runs
from .budgets import ASSIGNMENT_BUDGET_S, SUBMISSION_BUDGET_S, GradingInterrupted, Stop
from .checks import BUDGET_EXHAUSTED, Check, CheckResult, Executor, Suite, run_check
from .program import Program
from .resources import RESOURCES, Policy, require
from .results import AssignmentResult, Report
from .sandbox import guard_grader, protections
from .scan import Finding, IntegrityFinding, integrity_scan, scan_file
from .submission import Submission, load
from .timeouts import RememberTimeouts
from .worker import InProcess, Worker, WorkerFault

INTERRUPTED = "grading interrupted"


# -- stage 1: load: autograder.submission.load, the private copy every route grades ---------


# -- stage 2: static scan --------------------------------------------------------------------
@dataclass
class Scanned:
    submission: Submission
    suites: dict[str, Suite]
    problems: dict[str, str] = field(default_factory=dict)  # aid -> why its checks cannot run
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    integrity: dict[str, list[IntegrityFinding]] = field(default_factory=dict)  # aid -> findings (only when any)


def integrity_problem(aid: str, findings: list[IntegrityFinding]) -> str:
    """The reason an assignment with integrity findings scores 0: each construct with its line."""
    shown = "; ".join(f.message(f"{aid}.py") for f in findings[:5])
    more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
    return f"not graded (scores 0): {shown}{more}"


def static_scan(sub: Submission, suites: dict[str, Suite], *, integrity: bool = True) -> Scanned:
    """Banned APIs per assignment, and the integrity rules over the bytes the worker will import.

    An assignment with an integrity finding is not run at all: its checks score 0 with the findings
    as the reason. `integrity=False` is for the engine's own tests of worker survival only.
    """
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
            continue
        except ValueError as exc:  # a null byte
            out.problems[aid] = f"{aid}.py cannot be read as Python source: {exc}"
            continue
        found = integrity_scan(sub.root, aid) if integrity else []
        if found:
            out.integrity[aid] = found
            out.problems[aid] = integrity_problem(aid, found)
    return out


# -- stage 3: run checks ---------------------------------------------------------------------
@dataclass
class Ran:
    scanned: Scanned
    results: dict[str, list[CheckResult]]
    interrupted: int | None = None  # the signal that stopped grading, if one did


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


IMPORT_TIMEOUT_S = 30.0


def _import_problem(executor: Executor, aid: str, timeout_s: float = IMPORT_TIMEOUT_S) -> str | None:
    """Import the learner module once; a failure there explains every check of the assignment."""
    try:
        resp = executor.run(Program(aid).to_json(), {}, timeout_s=timeout_s)
    except WorkerFault as fault:
        if fault.status == "timeout" and timeout_s < IMPORT_TIMEOUT_S:
            return BUDGET_EXHAUSTED
        return f"importing {aid}.py failed: {fault.reason}"
    if resp.status == "timeout":
        return BUDGET_EXHAUSTED if timeout_s < IMPORT_TIMEOUT_S else \
            f"importing {aid}.py did not finish within {timeout_s:g} s"
    if resp.status == "raised" and resp.error is not None:
        return f"importing {aid}.py failed: {resp.error}"
    return None


def _selected(suite: Suite, visibility: str) -> list[Check]:
    return [c for c in suite.checks if visibility == "all" or c.visibility == visibility]


def _unavailable(check: Check, missing: dict[str, str]) -> CheckResult:
    """A check whose needs this installation lacks: skipped, and out of the maximum."""
    reasons = "; ".join(f"{RESOURCES[n].what} are not available here: {missing[n]}" for n in check.needs if n in missing)
    return CheckResult(name=check.name, status="skipped", score=0.0, max_score=0.0, visibility=check.visibility,
                       kind=check.kind, description=check.description, message=f"{reasons} (not counted)")


def run_checks(scanned: Scanned, executor: Executor, *, visibility: str, seed: int,
               call_timeout_s: float | None = None, assignment_budget_s: float | None = None,
               submission_budget_s: float | None = None,
               progress: Callable[[str, CheckResult], None] | None = None,
               missing: dict[str, str] | None = None, policy: Policy = "skip",
               submission_deadline: float | None = None) -> Ran:
    """Every check of every assignment, within the time budgets (None: no budget).

    Once a budget is spent the remaining checks score 0 with status "timeout" and the message
    "time budget exhausted". A GradingInterrupted (SIGTERM/SIGINT) ends the run at once: the check
    in progress and every later one become errors "grading interrupted", and the results so far stand.
    Checks needing something in `missing` (see autograder.resources) are skipped, or left out with "drop".
    """
    missing = missing or {}
    start = time.monotonic()
    sub_deadline = start + submission_budget_s if submission_budget_s is not None else submission_deadline
    results: dict[str, list[CheckResult]] = {}
    interrupted: int | None = None
    for aid, suite in scanned.suites.items():
        checks = [c for c in _selected(suite, visibility) if not (policy == "drop" and set(c.needs) & set(missing))]
        res: list[CheckResult] = []
        problem = scanned.problems.get(aid)
        if interrupted is None:
            now = time.monotonic()
            ends = [t for t in (sub_deadline, now + assignment_budget_s if assignment_budget_s is not None else None)
                    if t is not None]
            deadline = min(ends) if ends else None
            try:
                Stop.armed = True  # from here a signal raises GradingInterrupted (stop_on_signals only)
                Stop.poll()  # a signal that came while the suites loaded
                if problem is None:
                    left = IMPORT_TIMEOUT_S if deadline is None else min(IMPORT_TIMEOUT_S, deadline - now)
                    problem = BUDGET_EXHAUSTED if left <= 0 else _import_problem(executor, aid, left)
                if problem:
                    scanned.problems[aid] = problem  # said once, for the assignment, not under each of its checks
                    status = "timeout" if problem == BUDGET_EXHAUSTED else "error"
                    res = _all_fail(checks, status, problem)
                for check in checks if not problem else []:
                    if set(check.needs) & set(missing):
                        r = _unavailable(check, missing)
                    elif deadline is not None and time.monotonic() >= deadline:
                        r = _all_fail([check], "timeout", BUDGET_EXHAUSTED)[0]
                    else:
                        r = run_check(check, suite, executor, seed=seed, call_timeout_s=call_timeout_s,
                                      deadline=deadline)
                    res.append(r)
                    if progress:
                        progress(aid, r)
            except GradingInterrupted as exc:
                interrupted = exc.signum
            finally:
                Stop.armed = False
        if interrupted is not None and len(res) < len(checks):
            res += _all_fail(checks[len(res):], "error", INTERRUPTED)
            problem = problem or INTERRUPTED
        if suite.bans:
            res.insert(0, _ban_record(suite, scanned.findings.get(aid, []), res, problem))
        results[aid] = res
    return Ran(scanned, results, interrupted)


# -- stage 4: score and explain --------------------------------------------------------------
def score(ran: Ran, *, elapsed_s: float, seed: int, worker_starts: int,
          unavailable: dict[str, str] | None = None,
          confinement: dict[str, list[str]] | None = None) -> Report:
    assignments = []
    for aid, rs in ran.results.items():
        checks_by_name = {c.name: c for c in ran.scanned.suites[aid].checks}
        for r in rs:
            check = checks_by_name.get(r.name)
            if r.status != "passed" and check is not None and r.message != ran.scanned.problems.get(aid):
                r.message += blame_note(aid, check, r, ran)
        integrity = [f.to_dict() for f in ran.scanned.integrity.get(aid, [])]
        assignments.append(AssignmentResult(aid, rs, error=ran.scanned.problems.get(aid), integrity=integrity))
    sub = ran.scanned.submission
    grader = {"version": __version__, "seed": seed, "elapsed_s": round(elapsed_s, 3), "worker_starts": worker_starts,
              "files": dict(sub.origins), "protections": protections(confinement)}
    if sub.notes:
        grader["notes"] = list(sub.notes)
    if ran.interrupted is not None:
        grader["interrupted"] = ran.interrupted  # the signal number; the report is partial
    if unavailable:  # what this installation lacked: those checks were skipped or dropped from the maximum
        grader["unavailable"] = dict(unavailable)
    return Report(submission=sub.name, assignments=assignments, grader=grader)


def blame_note(aid: str, check: Check, r: CheckResult, ran: Ran) -> str:
    """The note that sends the learner to an earlier assignment first, or "" (see assignments.DEPENDENCIES).

    An earlier assignment is blamed only when its checks on the very names this check runs lost
    points, or when the learner's exception was raised inside its file; when it was not graded in
    this run, the note says how to rule it out.
    """
    runs_names = runs(aid, check.targets)
    for dep in check.uses:  # a suite not yet on the declaration: every name of dep counts
        runs_names.setdefault(dep, set())
    notes = []
    for dep in [a for a in CURRICULUM if a in runs_names]:
        if f"{dep}.py" in r.raised_in:
            notes.append(f"\nNote: the error was raised inside your {dep} code; fix {dep} first, this may "
                         f"then pass too.")
            continue
        if r.not_implemented or (r.raised_in and r.raised_in[0] == f"{aid}.py"):
            continue  # the learner's own code here stopped it: nothing earlier to blame
        if dep not in ran.results:
            notes.append(f"\nNote: this check also runs your {dep} code; a mistake there shows up here too "
                         f"(grade {dep} to rule it out).")
            continue
        names = runs_names[dep]
        dep_checks = {c.name: c for c in ran.scanned.suites[dep].checks}
        lost = [d.name for d in ran.results[dep] if d.score < d.max_score and d.name in dep_checks
                and (not names or names & set(dep_checks[d.name].targets))]
        if lost:
            what = f"{', '.join(sorted(names))}: " if names else ""
            notes.append(f"\nNote: this check also runs your {dep} code, which lost points above ({what}"
                         f"{', '.join(lost[:3])}{', ...' if len(lost) > 3 else ''}); fix {dep} first, this may "
                         f"then pass too.")
    return "".join(notes)


# -- the whole pipeline ----------------------------------------------------------------------
def needs_of(suites: dict[str, Suite], visibility: str) -> set[str]:
    return {n for suite in suites.values() for c in _selected(suite, visibility) for n in c.needs}


def grade(path: Path | Submission, ids: list[str], *, visibility: str = "all", seed: int = 0, isolate: bool = True,
          call_timeout_s: float | None = None, assignment_budget_s: float | None = ASSIGNMENT_BUDGET_S,
          submission_budget_s: float | None = SUBMISSION_BUDGET_S, integrity: bool = True,
          progress: Callable[[str, CheckResult], None] | None = None,
          unavailable: Policy | None = None, executor: Worker | None = None, jobs: int = 1) -> Report:
    """Grade one submission (a folder, a zip, or one already loaded) on `ids`; `visibility` is "all" or "public".

    A loaded Submission stays the caller's to clean up; one loaded here is removed when grading ends.

    The budgets bound the wall time of the checks (None: unbounded); `integrity=False` skips the
    integrity rules (the engine's own tests of worker survival only: every route keeps them on).
    A GradingInterrupted raised while checks run yields a partial report (grader["interrupted"]).

    `unavailable` says what to do with checks whose needs (GPT-2's files) this installation lacks:
    "error" (the default when grading, visibility "all": raise SetupError), "drop" (leave them out of
    the maximum) or "skip" (the default for public self-checks: skipped, not counted).

    `executor`: a warm worker to grade through and leave running (the pytest plugin and watch mode
    keep one); it is refilled with this submission's private copy before it imports anything, so it
    too runs exactly the bytes scanned here. By default one is started here and stopped at the end.

    `jobs` > 1 (one submission on several cores: `grade`, Gradescope) splits the assignments into that
    many groups of about equal work; each extra group runs in a forked copy of this grader with its own
    worker (see autograder.parallel). The report is the same as with `jobs=1`, check for check.
    """
    t0 = time.monotonic()
    guard_grader()  # before any worker exists: its /proc files and ptrace are closed to same-user processes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors; a second thread only fights the worker for the CPU
    sub = path if isinstance(path, Submission) else load(path, ids)
    owned = executor is None
    if executor is None:
        executor = Worker(sub.root) if isolate else InProcess(sub.root)  # type: ignore[assignment]
    else:
        executor.refill(sub.root)
    try:
        executor.start()  # the worker imports torch while the suites load below
        suites = {aid: load_suite(aid, hidden=visibility == "all") for aid in ids}
        policy = unavailable or ("error" if visibility == "all" else "skip")
        missing = require(needs_of(suites, visibility), policy=policy, where=f"grading {', '.join(ids)}")
        scanned = static_scan(sub, suites, integrity=integrity)
        options = dict(visibility=visibility, seed=seed, call_timeout_s=call_timeout_s,
                       assignment_budget_s=assignment_budget_s, missing=missing, policy=policy)
        if jobs > 1 and owned and isolate and len(suites) > 1:
            from .parallel import run_split
            ran, starts = run_split(scanned, executor, jobs, options, submission_budget_s, progress)
        else:
            ran = run_checks(scanned, RememberTimeouts(executor), submission_budget_s=submission_budget_s,
                             progress=progress, **options)  # type: ignore[arg-type]
            starts = executor.starts
        return score(ran, elapsed_s=time.monotonic() - t0, seed=seed, worker_starts=starts,
                     unavailable=missing, confinement=executor.protections)
    finally:
        if owned:
            executor.close()
        if sub is not path:
            sub.cleanup()
        torch.set_num_threads(threads)
