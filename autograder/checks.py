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
from typing import Any, Callable, Protocol

import torch
from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis import given as hypothesis_given
from hypothesis import errors as hyp_errors
from hypothesis.configuration import set_hypothesis_home_dir

from .compare import CheckFailure, Hints, Tolerance, assert_close, tensor_like
from .program import Program, Ref
from .runtime.values import Raised
from .scan import Ban
from .worker import Response, WorkerFault

from .results import KINDS, NOT_IMPLEMENTED, VISIBILITIES, CheckResult, Kind, Status, Visibility  # noqa: F401
CALL_TIMEOUT_S = 10.0  # per worker call; the solutions' slowest call in a03/a04 takes < 0.1 s
BUDGET_EXHAUSTED = "time budget exhausted"


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

    def __init__(self, status: Status, message: str, hint: str | None = None, *,
                 not_implemented: bool = False, raised: Raised | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint
        self.not_implemented = not_implemented
        self.raised = raised


def stub_abort(raised: Raised) -> CheckAbort:
    """The one way a check ends on an untouched stub (learner code raised NotImplementedError)."""
    return CheckAbort("failed", f"{NOT_IMPLEMENTED}: {raised.message or raised}", not_implemented=True, raised=raised)


def find_stub(value: Any) -> Raised | None:
    """A NotImplementedError anywhere in a returned value (a caught step that hit a stub)."""
    if isinstance(value, Raised):
        return value if value.type == "NotImplementedError" else None
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    for v in items:
        found = find_stub(v)
        if found is not None:
            return found
    return None


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
    needs: tuple[str, ...] = ()  # resources (autograder.resources) the check cannot run without


class Suite:
    """The checks of one assignment. Public and hidden check modules register into the same Suite."""

    def __init__(self, assignment: str, *, bans: list[Ban] | None = None, ban_points: float = 1.0) -> None:
        self.assignment = assignment
        self.bans = list(bans or [])
        self.ban_points = ban_points
        self.checks: list[Check] = []

    def check(self, *, points: float, visibility: Visibility, kind: Kind, description: str,
              targets: tuple[str, ...] = (), uses: tuple[str, ...] = (), max_examples: int = 20,
              timeout_s: float = CALL_TIMEOUT_S, needs: tuple[str, ...] = (),
              name: str | None = None) -> Callable[[Callable[["Context"], None]], Callable[["Context"], None]]:
        """Register the decorated function as a check, named after it (or `name`: checks made in a loop)."""
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility={visibility!r}: expected one of {VISIBILITIES}")
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {KINDS}")
        if points < 0:
            raise ValueError(f"points={points!r}: expected >= 0")

        def register(fn: Callable[["Context"], None]) -> Callable[["Context"], None]:
            check_name = name or fn.__name__
            if any(c.name == check_name for c in self.checks):
                raise ValueError(f"{self.assignment}: two checks are named {check_name!r}")
            self.checks.append(Check(self.assignment, check_name, float(points), visibility, kind,
                                     description, fn, tuple(targets), tuple(uses), max_examples, timeout_s,
                                     tuple(needs)))
            return fn

        return register

    def banned_for(self, targets: tuple[str, ...]) -> list[str]:
        return sorted({b.api for b in self.bans if b.applies_to_targets(targets)})


def given(**strategies: Any) -> Callable[[Callable[..., None]], Callable[["Context"], None]]:
    """A check over Hypothesis examples, written like a Hypothesis test: `@check(...)`, then `@given(x=...)`,
    then `def name(ctx, x)`; the same as calling `ctx.given(x=...)` on an inner function (same examples)."""
    def wrap(fn: Callable[..., None]) -> Callable[["Context"], None]:
        def body(ctx: "Context") -> None:
            def example(**drawn: Any) -> None:
                fn(ctx, **drawn)

            example.__name__ = fn.__name__
            ctx.given(**strategies)(example)

        body.__name__, body.__qualname__, body.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        return body
    return wrap


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
class _Call:
    out: str  # the Ref name of the call's value
    what: str  # how a message names the callee
    inputs: dict[str, tuple[torch.Tensor, int]]  # tensor arguments sent (ref name -> copy, position)
    dtype: torch.dtype | None  # the dtype a floating output must keep, or None


@dataclass
class _Pending:
    program: Program
    calls: list[_Call] = field(default_factory=list)
    dtypes: dict[str, torch.dtype] = field(default_factory=dict)
    runtimes: dict[str, Ref] = field(default_factory=dict)  # runtime modules imported by this program
    labels: dict[str, str] = field(default_factory=dict)


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
    deadline: float | None = None  # time.monotonic() when the assignment's or submission's budget runs out
    raised: list[Raised] = field(default_factory=list)  # what learner code raised, caught or not
    _n_given: int = 0
    _pending: Any = None  # the kit's program being built (autograder.kit), run by ctx.fetch

    @property
    def call_limit_s(self) -> float:
        return self.call_timeout_s if self.call_timeout_s is not None else self.check.timeout_s

    @property
    def timeout_s(self) -> float:
        """The limit of the next call: its own, or what is left of the time budget when that is less."""
        if self.deadline is None:
            return self.call_limit_s
        return max(0.0, min(self.call_limit_s, self.deadline - time.monotonic()))

    def budget_spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline - 0.05

    @property
    def public(self) -> bool:
        return self.check.visibility == "public"

    def program(self) -> Program:
        return Program(self.suite.assignment, banned=self.suite.banned_for(self.check.targets))

    def example(self, *, shapes: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                values: dict[str, Any] | None = None, **tensors: torch.Tensor) -> None:
        """Record the example about to run; a failure reports the last one recorded (the shrunk one).

        `name=tensor`: the tensor's shape under `shapes` and the tensor under `values` (shown by public checks)."""
        shapes = {**(shapes or {}), **{k: list(t.shape) for k, t in tensors.items()}}
        values = {**(values or {}), **tensors}
        info: dict[str, Any] = {"shapes": shapes, "config": config or {}}
        if values and self.public:  # hidden checks never show input values
            info["values"] = _small_values(values)
        self.example_info = info

    def run(self, program: Program) -> Any:
        """Run `program` in the worker; return its `returns` dict or raise for the check to report."""
        if self.aborted is not None:
            raise self.aborted
        if self.budget_spent():
            self.aborted = CheckAbort("timeout", BUDGET_EXHAUSTED)
            raise self.aborted
        limit = self.timeout_s
        try:
            resp = self.executor.run(program.to_json(), program.tensors, timeout_s=limit)
        except WorkerFault as fault:
            if fault.status == "timeout" and limit < self.call_limit_s:
                self.aborted = CheckAbort("timeout", BUDGET_EXHAUSTED)
            else:
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
            self.aborted = CheckAbort("timeout", BUDGET_EXHAUSTED if limit < self.call_limit_s else
                                      f"your code ran for more than {limit:g} s (an endless loop?)")
            raise self.aborted
        if resp.status == "raised":
            assert resp.error is not None
            if resp.error.type == "NotImplementedError":
                self.aborted = stub_abort(resp.error)
                raise self.aborted
            self.raised.append(resp.error)
            step = program.steps[resp.step]["op"] if 0 <= resp.step < len(program.steps) else "respond"
            raise LearnerError(resp.error, step)
        # a caught step that hit a stub: the check cannot judge anything yet, whatever it caught for
        stub = find_stub(resp.returns)
        if stub is not None:
            self.aborted = stub_abort(stub)
            raise self.aborted
        return resp.returns

    # -- the kit: build, run and judge learner calls (see autograder/kit.py for the guide) ----------
    @property
    def p(self) -> Program:
        """The program being built by `module`/`call` and run by `fetch` (a fresh one after each fetch)."""
        if self._pending is None:
            self._pending = _Pending(self.program())
        return self._pending.program

    def runtime(self, fn: str, *args: Any, catch: bool = False, learner: bool = False, **kwargs: Any) -> Ref:
        """Call a helper of the worker's runtime, `"module.name"` for `autograder/runtime/module.py`'s `name`:
        `ctx.runtime("toys.TableLM", table)`. `learner=True` for a helper that runs learner code it is given
        (a loop over the learner's function): the run-time bans then hold inside it."""
        module, name = fn.rsplit(".", 1)
        p, runtimes = self.p, self._pending.runtimes
        if module not in runtimes:
            runtimes[module] = p.runtime(module)
        return p.call(runtimes[module], *args, method=name, catch=catch, learner=learner, **kwargs)

    def module(self, cls: str, init: dict[str, Any] | list[Any] | tuple[Any, ...] | None = None, *,
               dtype: torch.dtype | None = torch.float64, weights: dict[str, torch.Tensor] | None = None,
               train: bool | None = False, seed: int | None = None, catch: bool = False) -> Ref:
        """Construct the learner's `cls` (init: kwargs dict or positional list), then cast, load and set the mode.

        dtype None leaves the module as built; train None leaves its mode; seed seeds torch first.
        """
        p = self.p
        if seed is not None:
            p.seed(seed)
        init = {} if init is None else init
        m = p.new(cls, **init, catch=catch) if isinstance(init, dict) else p.new(cls, *init, catch=catch)
        if catch:
            return m
        if dtype is not None:
            p.to(m, dtype)
            self._pending.dtypes[m.name] = dtype
        if weights is not None:
            p.load(m, weights)
        if train is not None:
            p.train(m, train)
        self._pending.labels[m.name] = cls
        return m

    def call(self, fn: Ref | str, *args: Any, method: str | None = None, grad: bool = False, catch: bool = False,
             keeps_dtype: bool = True, may_modify: bool = False, label: str | None = None, **kwargs: Any) -> Ref:
        """Call learner code (a Ref from `module`, or a public function's name) on these arguments.

        `fetch` then checks, for every tensor argument, that the call left it unchanged (unless
        `may_modify`), and that a floating output has the dtype of the floating inputs (unless not
        `keeps_dtype`, or they differ).
        """
        p = self.p
        pending = self._pending
        tensors = {}
        named: list[Any] = []
        for i, a in enumerate([*args, *kwargs.values()]):
            if isinstance(a, torch.Tensor):
                ref = p.tensor(f"in{len(p.tensors)}_{i}", a)
                tensors[ref.name] = (a.detach().clone(), i)
                named.append(ref)
            else:
                named.append(a)
        args_, kw_ = named[:len(args)], dict(zip(kwargs, named[len(args):]))
        out = p.call(fn, *args_, method=method, no_grad=not grad, catch=catch, **kw_)
        what = label or (fn if isinstance(fn, str) else pending.labels.get(fn.name, "your code"))
        if method:
            what = f"{what}.{method}"
        floats = {t.dtype for t, _ in tensors.values() if t.is_floating_point()}
        module_dtype = pending.dtypes.get(fn.name) if isinstance(fn, Ref) else None
        want = next(iter(floats)) if keeps_dtype and len(floats) == 1 and module_dtype in (None, *floats) else None
        pending.calls.append(_Call(out.name, what, {} if may_modify else tensors, want))
        return out

    def fetch(self, *refs: Any, **named: Any) -> Any:
        """Run the program built so far; the values of `refs` (a list) or of `named` (a dict).

        Stops the check on a stub or an uncaught exception (ctx.run), then on a call that modified
        its tensor inputs or changed their dtype.
        """
        if self._pending is None:
            raise RuntimeError("ctx.fetch() with nothing built: call ctx.module/ctx.call first")
        pending, self._pending = self._pending, None
        p = pending.program
        keys = [f"r{i}" for i in range(len(refs))]
        after = {f"after_{name}": Ref(name) for c in pending.calls for name in c.inputs}
        res = self.run(p.returns(**dict(zip(keys, refs)), **named, **after))
        for c in pending.calls:
            for name, (orig, i) in c.inputs.items():
                now = res[f"after_{name}"]
                if isinstance(now, torch.Tensor) and not (now.shape == orig.shape and torch.equal(
                        now.nan_to_num(1.5), orig.nan_to_num(1.5))):
                    raise CheckFailure(f"{c.what} modified its input (argument {i + 1}) in place; compute on new "
                                       f"tensors instead (x = x + ..., not x += ...)")
        out_of = {r.name: k for k, r in [*zip(keys, refs), *named.items()] if isinstance(r, Ref)}
        for c in pending.calls:
            key = out_of.get(c.out)
            value = res.get(key) if key else None
            if c.dtype is not None and isinstance(value, torch.Tensor) and value.is_floating_point() \
                    and value.dtype != c.dtype:
                raise CheckFailure(f"output of {c.what}: dtype {str(value.dtype).removeprefix('torch.')}, expected "
                                   f"{str(c.dtype).removeprefix('torch.')} (keep the input's dtype)")
        return [res[k] for k in keys] if refs else {k: res[k] for k in named}

    def expect(self, condition: Any, message: str, *, hint: str | None = None) -> None:
        """Fail the check with `message` (and `hint`) unless `condition` holds: a property's own test."""
        if not condition:
            raise CheckFailure(message, hint=hint)

    def expect_close(self, actual: Any, expected: Any, *, name: str, tol: Tolerance | None = None,
                     hints: Hints | None = None) -> None:
        """raised -> type -> shape -> dtype -> values -> hint, for tensors, floats, ids and strings alike."""
        assert_close(actual, expected, name=name, tol=tol, hints=hints)  # type: ignore[arg-type]

    def expect_tensor(self, actual: Any, like: torch.Tensor, name: str) -> torch.Tensor:
        """`actual` when it is a tensor of `like`'s shape; else the failure that says what it is."""
        return tensor_like(actual, like, name)

    def expect_raises(self, got: Any, when: str, kinds: tuple[str, ...] = ("ValueError",),
                      mention: tuple[str, ...] = (), hint: str | None = None) -> None:
        """`got` (a caught call) is an exception of one of `kinds` whose message names each of `mention`;
        `hint`: what a learner should read when it is not (where the check raises it)."""
        if not isinstance(got, Raised):
            raise CheckFailure(f"{when}: expected a {kinds[0]}, but no error was raised", hint=hint)
        if got.type not in kinds:
            raise CheckFailure(f"{when}: expected a {kinds[0]}, got {got}", raised=got, hint=hint)
        missing = [m for m in mention if m not in got.message]
        if missing:
            raise CheckFailure(f"{when}: the error message should name the offending values "
                               f"({', '.join(mention)}); got {got.message!r}", hint=hint)

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
                phases=(Phase.explicit, Phase.generate, Phase.shrink))(hypothesis_given(**strategies)(body)))
            wrapped()
            if self.aborted is not None:
                raise self.aborted

        return run


def run_check(check: Check, suite: Suite, executor: Executor, *, seed: int = 0,
              call_timeout_s: float | None = None, deadline: float | None = None) -> CheckResult:
    """Run one check; whatever happens, return a result (never raises, except GradingInterrupted)."""
    ctx = Context(check, suite, executor, seed, call_timeout_s=call_timeout_s, deadline=deadline)
    t0 = time.monotonic()
    status: Status = "passed"
    message, hint, fault = "", None, False
    try:
        check.fn(ctx)
    except CheckFailure as f:
        status, message, hint = "failed", f.message, f.final_hint()
        if f.raised is not None:
            ctx.raised.append(f.raised)
    except LearnerError as e:
        status, message = "error", f"your code raised {e.raised}"
        ctx.raised.append(e.raised)
    except CheckAbort as a:
        status, message, hint = a.status, a.message, a.hint
    except CheckSkipped as s:
        status, message = "skipped", str(s)
    except WorkerFault as fault:  # raised outside ctx.run: still the submission's doing
        status, message = ("timeout" if fault.status == "timeout" else "error"), fault.reason
    except hyp_errors.Flaky:
        if ctx.aborted is not None:  # the abort (a dead worker, a rejected answer) is the cause, not flakiness
            status, message, hint = ctx.aborted.status, ctx.aborted.message, ctx.aborted.hint
        else:
            status, message = "error", ("the same input passed once and failed once: does your code depend "
                                        "on global state or unseeded randomness?")
    except Exception as exc:  # a bug in the grader: report it, keep grading
        status, message, fault = "error", f"internal grader error (not your fault): {type(exc).__name__}: {exc}", True
    if status != "passed" and ctx.aborted is not None and status != ctx.aborted.status:
        status, message = ctx.aborted.status, ctx.aborted.message
    passed = status == "passed"
    stub = status == "failed" and ctx.aborted is not None and ctx.aborted.not_implemented  # no example to show
    raised_in = tuple(dict.fromkeys(r.where.split(":", 1)[0] for r in ctx.raised if r.where))
    if ctx.aborted is not None and ctx.aborted.raised is not None and ctx.aborted.raised.where:
        raised_in = (ctx.aborted.raised.where.split(":", 1)[0], *raised_in)
    return CheckResult(
        name=check.name, status=status, score=check.points if passed else 0.0, max_score=check.points,
        visibility=check.visibility, kind=check.kind, description=check.description, message=message,
        counterexample=None if passed or stub else ctx.example_info, hint=hint,
        output="\n".join(ctx.output)[:4000], elapsed_s=round(time.monotonic() - t0, 3), grader_fault=fault,
        not_implemented=stub, raised_in=tuple(dict.fromkeys(raised_in)) if not passed else ())
