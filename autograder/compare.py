"""Tensor comparison with failure messages a learner can act on.

Order of a message: what tensor, then shape and dtype (a wrong shape makes values meaningless), then
how many elements differ, the largest absolute and relative differences, and the first failing
index as `index | got | expected`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .runtime.values import Opaque, Raised


class CheckFailure(Exception):
    """A check found a wrong answer. `hint` is filled in when a known misconception matches."""

    def __init__(self, message: str, *, hint: str | None = None, tensor: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.tensor = tensor


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


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, Opaque):
        return f"a {value.type} ({value.repr[:80]})"
    if isinstance(value, Raised):
        return f"an exception {value}"
    return f"a {type(value).__name__} ({str(value)[:80]})"


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


def assert_close(actual: Any, expected: torch.Tensor, *, name: str, tol: Tolerance,
                 check_dtype: bool = True) -> None:
    """Raise CheckFailure naming `name` unless `actual` is a tensor matching `expected`."""
    if isinstance(actual, Raised):
        raise CheckFailure(f"{name}: your code raised {actual}", tensor=name)
    if not isinstance(actual, torch.Tensor):
        raise CheckFailure(f"{name}: expected {describe(expected)}, got {describe(actual)}", tensor=name)
    if tuple(actual.shape) != tuple(expected.shape):
        raise CheckFailure(f"{name}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}",
                           tensor=name)
    if check_dtype and actual.dtype != expected.dtype:
        raise CheckFailure(f"{name}: dtype {str(actual.dtype).removeprefix('torch.')}, expected "
                           f"{str(expected.dtype).removeprefix('torch.')}", tensor=name)
    report = mismatch_report(actual, expected, tol)
    if report is not None:
        raise CheckFailure(f"{name}: values differ\n{report}", tensor=name)


def tensor_like(actual: Any, like: torch.Tensor, name: str) -> torch.Tensor:
    """`actual` when it is a tensor of `like`'s shape; otherwise the failure that says what it is instead."""
    if not isinstance(actual, torch.Tensor) or tuple(actual.shape) != tuple(like.shape):
        assert_close(actual, like, name=name, tol=FLOAT64, check_dtype=False)  # raises, naming type or shape
    return actual


def is_close(actual: Any, expected: torch.Tensor, tol: Tolerance) -> bool:
    return (isinstance(actual, torch.Tensor) and tuple(actual.shape) == tuple(expected.shape)
            and mismatch_report(actual, expected, tol) is None)
