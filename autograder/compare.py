"""Tensor comparison with failure messages a learner can act on.

Order of a message: what tensor, then shape and dtype (a wrong shape makes values meaningless), then
how many elements differ, the largest absolute and relative differences, and the first failing
index as `index | got | expected`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .runtime.values import Opaque, Raised


class CheckFailure(Exception):
    """A check found a wrong answer. `hint` is filled in when a known misconception matches."""

    def __init__(self, message: str, *, hint: str | None = None, tensor: str | None = None,
                 raised: Raised | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.tensor = tensor
        self.raised = raised  # the learner's exception, when the wrong answer is one
        self.later: Callable[[], str | None] | None = None  # a hint worked out once, for the shrunk example

    def final_hint(self) -> str | None:
        """`hint`, or the deferred one (Hints.deferred) worked out now; a catalogue that fails gives none."""
        if self.hint is None and self.later is not None:
            try:
                self.hint = self.later()
            except Exception:  # a hint is a courtesy: never let it cost the learner their result
                self.hint = None
        return self.hint


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


# float64 on both sides: correct implementations agree to ~1e-13 relative on these sizes, and the
# mistakes in tests/banks differ by > 1e-3; 1e-7 leaves room for op-order differences (einsum vs matmul).
FLOAT64 = Tolerance(rtol=1e-7, atol=1e-9)
# float32: one rounding per op over a few dozen ops; tests/banks' float32 alternatives stay under 1e-5.
FLOAT32 = Tolerance(rtol=1e-4, atol=1e-5)
# float64 values that pass through GELU (a04's blocks, a05's model): the book computes sqrt(2/pi) as a
# float32 tensor, torch.sqrt(torch.tensor(2.0 / torch.pi)), 3e-8 off, which moves a block's outputs and
# gradients by up to 2.5e-8 absolute and 6e-7 relative (bench/tolerance_probe.py: a04 at most 0.35 of
# this tolerance, a05 see its suite), while the closest mistake (erf GELU inside a block) is 16x away.
GELU_FLOAT64 = Tolerance(rtol=2e-6, atol=2e-7)


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, Opaque):
        return f"a {value.type} ({value.repr[:80]})"
    if isinstance(value, Raised):
        return f"an exception {value}"
    return f"a {type(value).__name__} ({str(value)[:80]})"


def numbers(value: Any, name: str) -> torch.Tensor:
    """A list of numbers (floats, ints or one-element tensors: losses, rates) as a float64 tensor to compare;
    else the failure saying what it is."""
    ok = isinstance(value, (list, tuple)) and all(
        (isinstance(v, (int, float)) and not isinstance(v, bool)) or (isinstance(v, torch.Tensor) and v.numel() == 1)
        for v in value)
    if not ok:
        raise CheckFailure(f"{name}: expected a list of numbers, got {describe(value)}")
    return torch.tensor([float(v) for v in value], dtype=torch.float64)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def mismatch_report(actual: torch.Tensor, expected: torch.Tensor, tol: Tolerance) -> str | None:
    """None when close; else the lines describing the difference."""
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    bad = ~torch.isclose(a, e, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return None
    diff = (a - e).abs()
    finite = torch.isfinite(diff)
    max_abs = float(diff[finite].max()) if finite.any() else float("nan")
    rel = diff / e.abs().clamp_min(tol.atol)
    max_rel = float(rel[torch.isfinite(rel)].max()) if torch.isfinite(rel).any() else float("nan")
    first = tuple(int(i) for i in bad.nonzero()[0])
    lines = [f"{n_bad} of {bad.numel()} elements differ ({tol})",
             f"max abs diff {_fmt(max_abs)}, max rel diff {_fmt(max_rel)}"]
    if not torch.isfinite(a).all():
        lines.append(f"your result holds {int((~torch.isfinite(a)).sum())} non-finite values (inf/nan)")
    lines.append(f"first mismatch: index {list(first)} | got {_fmt(float(a[first]))} | "
                 f"expected {_fmt(float(e[first]))}")
    return "\n".join(lines)


def assert_close(actual: Any, expected: Any, *, name: str, tol: Tolerance = None,  # type: ignore[assignment]
                 check_dtype: bool = True, hints: "Hints | None" = None) -> None:
    """Raise CheckFailure naming `name` unless `actual` matches `expected`.

    `expected` is a tensor (shape, dtype, then values within `tol`), a float (within `tol`), or any
    other value (ids, strings, lists: equal). The checks run in a fixed order: raised, type, shape,
    dtype, values; a failure on values gets the hint of the first mistake in `hints` that matches.
    """
    if isinstance(actual, Raised):
        raise CheckFailure(f"{name}: your code raised {actual}", tensor=name, raised=actual,
                           hint=hints.match(actual, tol) if hints is not None else None)
    if not isinstance(expected, torch.Tensor):
        if _same(actual, expected, tol):
            return
        if isinstance(actual, str) and isinstance(expected, str):
            raise _failure(f"{name}: {_text_difference(actual, expected)}", name, hints, actual, tol)
        if isinstance(actual, list) and isinstance(expected, list) and len(repr(expected)) > 60:
            raise _failure(f"{name}: {_list_difference(actual, expected)}", name, hints, actual, tol)
        raise _failure(f"{name}: got {_short(actual)}, expected {_short(expected)}", name, hints, actual, tol)
    if tol is None:
        raise TypeError(f"assert_close({name!r}): comparing tensors needs a tolerance, got tol=None")
    if not isinstance(actual, torch.Tensor):
        raise CheckFailure(f"{name}: expected {describe(expected)}, got {describe(actual)}", tensor=name)
    # a wrong shape or dtype gets the hint of a mistake that gives exactly that shape and dtype (or, when the
    # catalogue is matched on the whole output with `on`, of the mistake that gives that whole output)
    if tuple(actual.shape) != tuple(expected.shape):
        if hints is not None and hints.has_actual:
            raise _failure(f"{name}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}", name, hints,
                           actual, tol)
        raise CheckFailure(f"{name}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}",
                           tensor=name, hint=hints.match(actual, tol, same_dtype=True) if hints is not None else None)
    if check_dtype and actual.dtype != expected.dtype:
        raise CheckFailure(f"{name}: dtype {str(actual.dtype).removeprefix('torch.')}, expected "
                           f"{str(expected.dtype).removeprefix('torch.')}", tensor=name,
                           hint=hints.match(actual, tol, same_dtype=True) if hints is not None else None)
    report = mismatch_report(actual, expected, tol)
    if report is not None:
        raise _failure(f"{name}: values differ\n{report}", name, hints, actual, tol)


def _failure(message: str, name: str, hints: "Hints | None", actual: Any, tol: Tolerance | None) -> CheckFailure:
    """The failure, with the hint of the matching mistake (worked out at once, or later when deferred)."""
    if hints is None or not hints.deferred:
        return CheckFailure(message, tensor=name, hint=hints.match(actual, tol) if hints is not None else None)
    failure = CheckFailure(message, tensor=name)
    failure.later = lambda: hints.match(actual, tol)
    return failure


def _text_difference(actual: str, expected: str, context: int = 30) -> str:
    """Where two strings first differ, with a little text around it (long prompts differ deep inside)."""
    i = next((k for k, (a, e) in enumerate(zip(actual, expected)) if a != e), min(len(actual), len(expected)))
    start = max(0, i - context)
    cut = "..." if start else ""
    return (f"the texts differ at character {i} (got {len(actual)} characters, expected {len(expected)}): got "
            f"{cut}{actual[start:i + context]!r}, expected {cut}{expected[start:i + context]!r}")


def _list_difference(actual: list[Any], expected: list[Any], context: int = 6) -> str:
    """Where two long lists (ids, merges) part, with the items from there on."""
    i = next((k for k, (a, e) in enumerate(zip(actual, expected)) if not _same(a, e, None)),
             min(len(actual), len(expected)))
    return (f"the first {i} items agree, then got {_short(actual[i:i + context])}, expected "
            f"{_short(expected[i:i + context])} ({len(actual)} items, expected {len(expected)})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _same(actual: Any, expected: Any, tol: Tolerance | None) -> bool:
    """Equal, floats within `tol` (exactly equal when None), tensors by shape and values."""
    if isinstance(expected, torch.Tensor):
        return tol is not None and is_close(actual, expected, tol)
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        if tol is None:
            return float(actual) == expected
        return math.isclose(float(actual), expected, rel_tol=tol.rtol, abs_tol=tol.atol) or (
            math.isnan(expected) and math.isnan(float(actual)))
    return type(actual) is type(expected) and actual == expected


# -- misconceptions: one catalogue shape for every hint -------------------------------------------
# what a mistake's compute may raise for inputs it does not apply to (it is then skipped), or to model a
# mistake whose symptom is an exception (matched by type against what the learner's code raised)
COMPUTE_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, KeyError, ZeroDivisionError)

@dataclass(frozen=True)
class Misconception:
    """A known mistake: its name, the hint a learner reads, and how to compute its output."""
    name: str
    hint: str
    compute: Callable[..., Any]  # called with the catalogue's inputs (keyword arguments)
    when: Callable[..., bool] | None = None  # for some inputs only (a mistake that needs 2+ heads, say)
    raises: bool = False  # its symptom may be an exception: one its compute raises, matched by type


class Misconceptions:
    """The catalogue of known mistakes of one function or class.

        LAYERNORM = Misconceptions("LayerNorm")

        @LAYERNORM.add("unbiased_variance", "LayerNorm uses the biased variance, x.var(dim=-1, unbiased=False)")
        def _(x, scale, shift, eps):
            return scale * (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True) + eps).sqrt() + shift

        assert_close(got, expected, name=..., tol=..., hints=LAYERNORM(x=x, scale=s, shift=b, eps=eps))

    Calling the catalogue binds it to one example's inputs; every compute function takes the same
    keyword arguments (and may ignore some with **_). A mistake whose compute raises for these inputs
    is skipped. `every=True`: a failure names every mistake that matches, not only the first.
    """

    def __init__(self, topic: str, *, every: bool = False) -> None:
        self.topic = topic
        self.items: list[Misconception] = []
        self.every = every  # the hints of every matching mistake, "; or "-joined (a small example may fit several)

    def add(self, name: str, hint: str, *, when: Callable[..., bool] | None = None, raises: bool = False
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if any(m.name == name for m in self.items):
            raise ValueError(f"{self.topic}: two misconceptions are named {name!r}")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.items.append(Misconception(name, hint, fn, when, raises))
            return fn

        return register

    def __call__(self, **inputs: Any) -> "Hints":
        return Hints(self, inputs)

    def __iter__(self) -> Iterator[Misconception]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class Replay:
    """A mistake's output by name, worked out elsewhere: for a catalogue entry whose mistake is a whole program
    (a trainer with one rule changed) that must not ship with the public checks. `values` holds outputs already
    known (stored with a snapshot), `lazy` computes one when asked; any other name raises ValueError, so the
    catalogue skips that mistake."""

    def __init__(self, values: dict[str, Any] | None = None, **lazy: Callable[[], Any]) -> None:
        self.values = dict(values or {})
        self.lazy = lazy

    def __call__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.lazy:
            return self.lazy[name]()
        raise ValueError(f"{name} gives the right answer here, or is not replayed here")


@dataclass
class Hints:
    """A catalogue bound to one example's inputs; `on(full)` matches `full` instead of the compared value."""
    catalogue: Misconceptions
    inputs: dict[str, Any]
    view: Callable[[Any], Any] | None = None  # what of a mistake's output the compared value is (row variance)
    actual: Any = field(default=None)
    has_actual: bool = False
    deferred: bool = False  # matched once the check has failed for good (after shrinking): costly mistakes

    def on(self, actual: Any) -> "Hints":
        """Match the mistakes' outputs against `actual` (the learner's whole output) instead."""
        return replace(self, actual=actual, has_actual=True)

    def later(self) -> "Hints":
        """Match only for the example the check finally fails on, not for each one Hypothesis tries while
        shrinking (for mistakes that are slow to compute: a whole training run each)."""
        return replace(self, deferred=True)

    def outputs(self) -> Iterator[tuple[Misconception, Any]]:
        """Each applicable mistake with its output for these inputs (ones that cannot be computed skipped)."""
        for m in self.catalogue.items:
            if m.when is not None and not m.when(**self.inputs):
                continue
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a statistic over one element, say: the mistake's own business
                    out = m.compute(**self.inputs)
                    yield m, self.view(out) if self.view is not None else out
            except COMPUTE_ERRORS:
                continue

    def raising(self) -> Iterator[tuple[Misconception, str]]:
        """Each applicable mistake marked `raises` that raises for these inputs, with the exception's type name."""
        for m in self.catalogue.items:
            if not m.raises or (m.when is not None and not m.when(**self.inputs)):
                continue
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m.compute(**self.inputs)
            except COMPUTE_ERRORS as exc:
                yield m, type(exc).__name__

    def match(self, actual: Any, tol: Tolerance | None, *, same_dtype: bool = False) -> str | None:
        """The hint of the first mistake whose output equals `actual` (or the value given to `on`).

        An exception the learner's code raised matches a mistake marked `raises` whose compute raises
        the same type for these inputs; with `same_dtype`, a tensor matches only a mistake's output of the same dtype.
        """
        got = self.actual if self.has_actual else actual
        if isinstance(got, Raised):
            return next((m.hint for m, kind in self.raising() if kind == got.type), None)
        hits = (m.hint for m, out in self.outputs()
                if not (same_dtype and not (isinstance(out, torch.Tensor) and isinstance(got, torch.Tensor)
                                            and out.dtype == got.dtype))
                and _same(got, out, tol))
        if not self.catalogue.every:
            return next(hits, None)
        return "; or ".join(dict.fromkeys(hits)) or None


def tensor_like(actual: Any, like: torch.Tensor, name: str) -> torch.Tensor:
    """`actual` when it is a tensor of `like`'s shape; otherwise the failure that says what it is instead."""
    if not isinstance(actual, torch.Tensor) or tuple(actual.shape) != tuple(like.shape):
        assert_close(actual, like, name=name, tol=FLOAT64, check_dtype=False)  # raises, naming type or shape
    return actual


def is_close(actual: Any, expected: torch.Tensor, tol: Tolerance) -> bool:
    return (isinstance(actual, torch.Tensor) and tuple(actual.shape) == tuple(expected.shape)
            and mismatch_report(actual, expected, tol) is None)
