"""Checks, suites and the context a check runs in.

A check is a named, weighted property of one assignment's API. Its function receives a `Context`
that builds worker programs, runs them (learner code never runs here), draws Hypothesis examples
deterministically, and records the example being tried so a failure can show the shrunk case.
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol

import torch
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import errors as hyp_errors
from hypothesis.configuration import set_hypothesis_home_dir

from .compare import CheckFailure
from .program import Program
from .runtime.values import Raised
from .scan import Ban
from .worker import Response, WorkerFault

Visibility = Literal["public", "hidden"]
Kind = Literal["differential", "property", "snapshot", "integrity"]
Status = Literal["passed", "failed", "error", "timeout", "skipped"]
VISIBILITIES = ("public", "hidden")
KINDS = ("differential", "property", "snapshot", "integrity")
CALL_TIMEOUT_S = 10.0  # per worker call; the solutions' slowest call in a03/a04 takes < 0.1 s


def _hypothesis_home() -> Path:
    """Hypothesis writes caches into ./.hypothesis even with database=None; grading writes nothing into
    the learner's (or a class's) folder, so they go to scratchgrad's cache folder (a temp one if unwritable)."""
    home = Path(os.environ.get("SCRATCHGRAD_CACHE") or Path.home() / ".cache" / "scratchgrad") / "hypothesis"
    try:
        home.mkdir(parents=True, exist_ok=True)
        return home
    except OSError:
        return Path(tempfile.gettempdir()) / f"scratchgrad-hypothesis-{os.getuid()}"


if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # an explicit choice stands
    set_hypothesis_home_dir(_hypothesis_home())


class Executor(Protocol):
    def run(self, program: dict[str, Any], tensors: dict[str, torch.Tensor], *, timeout_s: float) -> Response: ...


class LearnerError(Exception):
    """Learner code raised; the check ends with status "error" and the exception's text."""

    def __init__(self, raised: Raised, op: str) -> None:
        super().__init__(str(raised))
        self.raised = raised
        self.op = op


class CheckAbort(Exception):
    """Stop the check at once, no shrinking: a timeout, a dead worker, a stub, a banned call."""

    def __init__(self, status: Status, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


class CheckSkipped(Exception):
    """The check cannot run here (say, a data file is missing); it scores 0 and says why."""


@dataclass(frozen=True)
class Check:
    assignment: str
    name: str
    points: float
    visibility: Visibility
    kind: Kind
    description: str
    fn: Callable[["Context"], None]
    targets: tuple[str, ...] = ()  # public names the check calls (scopes the run-time bans)
    uses: tuple[str, ...] = ()  # earlier assignments whose learner code this check also runs
    max_examples: int = 20
    timeout_s: float = CALL_TIMEOUT_S


class Suite:
    """The checks of one assignment. Public and hidden check modules register into the same Suite."""

    def __init__(self, assignment: str, *, bans: list[Ban] | None = None, ban_points: float = 1.0) -> None:
        self.assignment = assignment
        self.bans = list(bans or [])
        self.ban_points = ban_points
        self.checks: list[Check] = []

    def check(self, *, points: float, visibility: Visibility, kind: Kind, description: str,
              targets: tuple[str, ...] = (), uses: tuple[str, ...] = (), max_examples: int = 20,
              timeout_s: float = CALL_TIMEOUT_S) -> Callable[[Callable[["Context"], None]], Callable[["Context"], None]]:
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility={visibility!r}: expected one of {VISIBILITIES}")
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {KINDS}")
        if points < 0:
            raise ValueError(f"points={points!r}: expected >= 0")

        def register(fn: Callable[["Context"], None]) -> Callable[["Context"], None]:
            if any(c.name == fn.__name__ for c in self.checks):
                raise ValueError(f"{self.assignment}: two checks are named {fn.__name__!r}")
            self.checks.append(Check(self.assignment, fn.__name__, float(points), visibility, kind,
                                     description, fn, tuple(targets), tuple(uses), max_examples, timeout_s))
            return fn

        return register

    def banned_for(self, targets: tuple[str, ...]) -> list[str]:
        return sorted({b.api for b in self.bans if b.applies_to_targets(targets)})


def _small_values(value: Any) -> Any:
    """A printable form of an example's inputs for public feedback (big tensors by shape only)."""
    if isinstance(value, torch.Tensor):
        if value.numel() > 48:
            return f"tensor of shape {tuple(value.shape)}"
        return _small_values(value.tolist()) if value.is_floating_point() else value.tolist()
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _small_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_small_values(v) for v in value]
    return value


@dataclass
class Context:
    check: Check
    suite: Suite
    executor: Executor
    seed: int = 0
    example_info: dict[str, Any] | None = None
    output: list[str] = field(default_factory=list)
    aborted: CheckAbort | None = None
    call_timeout_s: float | None = None  # overrides the check's own limit (CLI --timeout)
    _n_given: int = 0

    @property
    def timeout_s(self) -> float:
        return self.call_timeout_s if self.call_timeout_s is not None else self.check.timeout_s

    @property
    def public(self) -> bool:
        return self.check.visibility == "public"

    def program(self) -> Program:
        return Program(self.suite.assignment, banned=self.suite.banned_for(self.check.targets))

    def example(self, *, shapes: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                values: dict[str, Any] | None = None) -> None:
        """Record the example about to run; a failure reports the last one recorded (the shrunk one)."""
        info: dict[str, Any] = {"shapes": shapes or {}, "config": config or {}}
        if values and self.public:  # hidden checks never show input values
            info["values"] = _small_values(values)
        self.example_info = info

    def run(self, program: Program) -> Any:
        """Run `program` in the worker; return its `returns` dict or raise for the check to report."""
        if self.aborted is not None:
            raise self.aborted
        try:
            resp = self.executor.run(program.to_json(), program.tensors, timeout_s=self.timeout_s)
        except WorkerFault as fault:
            self.aborted = CheckAbort("timeout" if fault.status == "timeout" else "error", fault.reason)
            raise self.aborted from None
        if resp.stdout or resp.stderr:
            text = resp.stdout + resp.stderr
            self.output.append(text if len(text) <= 2000 else
                               f"{text[:2000]}\n[... {len(text) - 2000} more characters not shown]")
        if resp.banned_calls:
            apis = ", ".join(sorted(resp.banned_calls))
            self.aborted = CheckAbort("failed", f"your code called {apis}, which this assignment asks you "
                                                f"to write yourself")
            raise self.aborted
        if resp.status == "timeout":
            self.aborted = CheckAbort("timeout", f"your code ran for more than {self.timeout_s:g} s "
                                                 f"(an endless loop?)")
            raise self.aborted
        if resp.status == "raised":
            assert resp.error is not None
            if resp.error.type == "NotImplementedError":
                self.aborted = CheckAbort("failed", f"not implemented yet: {resp.error.message or resp.error}")
                raise self.aborted
            raise LearnerError(resp.error, program.steps[resp.step]["op"] if resp.step >= 0 else "respond")
        return resp.returns

    def given(self, **strategies: Any) -> Callable[[Callable[..., None]], None]:
        """Decorator that runs the function at once over the check's Hypothesis examples."""

        def run(test: Callable[..., None]) -> None:
            self._n_given += 1
            ctx_seed = zlib.crc32(f"{self.seed}:{self.suite.assignment}:{self.check.name}:{self._n_given}".encode())

            def body(**kwargs: Any) -> None:
                if self.aborted is not None:
                    return  # the check is over; let Hypothesis finish without touching the worker
                try:
                    test(**kwargs)
                except CheckAbort:
                    return

            body.__name__ = test.__name__
            wrapped = seed(ctx_seed)(settings(
                max_examples=self.check.max_examples, derandomize=True, database=None, deadline=None,
                print_blob=False, report_multiple_bugs=False, verbosity=Verbosity.quiet,
                suppress_health_check=list(HealthCheck),
                phases=(Phase.explicit, Phase.generate, Phase.shrink))(given(**strategies)(body)))
            wrapped()
            if self.aborted is not None:
                raise self.aborted

        return run


@dataclass
class CheckResult:
    name: str
    status: Status
    score: float
    max_score: float
    visibility: Visibility
    kind: Kind
    description: str
    message: str = ""
    counterexample: dict[str, Any] | None = None
    hint: str | None = None
    output: str = ""
    elapsed_s: float = 0.0
    grader_fault: bool = False


def run_check(check: Check, suite: Suite, executor: Executor, *, seed: int = 0,
              call_timeout_s: float | None = None) -> CheckResult:
    """Run one check; whatever happens, return a result (never raise)."""
    ctx = Context(check, suite, executor, seed, call_timeout_s=call_timeout_s)
    t0 = time.monotonic()
    status: Status = "passed"
    message, hint, fault = "", None, False
    try:
        check.fn(ctx)
    except CheckFailure as f:
        status, message, hint = "failed", f.message, f.hint
    except LearnerError as e:
        status, message = "error", f"your code raised {e.raised}"
    except CheckAbort as a:
        status, message, hint = a.status, a.message, a.hint
    except CheckSkipped as s:
        status, message = "skipped", str(s)
    except hyp_errors.Flaky:
        status, message = "error", ("the same input passed once and failed once: does your code depend "
                                    "on global state or unseeded randomness?")
    except Exception as exc:  # a bug in the grader: report it, keep grading
        status, message, fault = "error", f"internal grader error (not your fault): {type(exc).__name__}: {exc}", True
    if status != "passed" and ctx.aborted is not None and status != ctx.aborted.status:
        status, message = ctx.aborted.status, ctx.aborted.message
    passed = status == "passed"
    stub = status == "failed" and message.startswith("not implemented yet")  # no example to show
    return CheckResult(
        name=check.name, status=status, score=check.points if passed else 0.0, max_score=check.points,
        visibility=check.visibility, kind=check.kind, description=check.description, message=message,
        counterexample=None if passed or stub else ctx.example_info, hint=hint,
        output="\n".join(ctx.output)[:4000], elapsed_s=round(time.monotonic() - t0, 3), grader_fault=fault)
