"""Differential checks: the same weights and inputs into learner code and a reference object.

Compares the output, the gradient of every floating-point input, and the gradient of every
parameter under one random upstream gradient. The reference side runs here (grader process);
the learner side runs in the worker.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
from torch import nn
from torch.func import functional_call

from .checks import Context
from .compare import FLOAT64, CheckFailure, Hints, Tolerance, assert_close, describe, is_close
from .program import Program, Ref
from .runtime.values import Raised

HintFn = Callable[[torch.Tensor], "str | None"]
ModuleT = TypeVar("ModuleT", bound=nn.Module)


def upstream_like(t: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)


def random_weights(module: ModuleT, seed: int, *, scale: float = 0.5) -> ModuleT:
    """Overwrite every parameter with seeded N(0, scale^2) values (independent of torch's init RNG); the module."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return module


def float64_inside(module: Any) -> Any:
    """Make a float32 reference `module` (or function) compute in float64 (its float32 parameters and inputs, cast
    up) and round the result once: the exact answer for float32 inputs and weights.

    A float32 check compares the learner with this, so only the learner's own rounding counts: the float32
    reference misses it by as much as a correct float32 implementation does, and the two errors would add up.
    """
    def up(args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)

    if not isinstance(module, nn.Module):  # a function: rounded to its first floating input's dtype
        def exact(*args: Any, **kwargs: Any) -> torch.Tensor:
            dtype = next(a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point())
            return module(*up(args), **kwargs).to(dtype)
        return exact
    twin = copy.deepcopy(module).double()  # a frame for functional_call: every weight comes from `module`
    dtype = next(module.parameters()).dtype

    def forward(*args: torch.Tensor) -> torch.Tensor:
        params = {k: v.double() for k, v in module.named_parameters()}
        return functional_call(twin, params, up(args)).to(dtype)

    module.forward = forward  # type: ignore[method-assign]
    return module


def reference_run(ref: nn.Module | Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor],
                  upstream_seed: int, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    leaves = {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
    if isinstance(ref, nn.Module):
        ref.zero_grad(set_to_none=True)
    out = ref(*leaves.values(), **(kwargs or {}))
    if isinstance(out, tuple):  # several outputs: an upstream gradient for each that requires one
        grad_out: Any = [upstream_like(o, upstream_seed + i) if o.requires_grad else None for i, o in enumerate(out)]
        torch.autograd.backward([o for o, g in zip(out, grad_out) if g is not None], [g for g in grad_out if g is not None])
        out = tuple(o.detach() for o in out)
    else:
        grad_out = upstream_like(out, upstream_seed)
        out.backward(grad_out)
        out = out.detach()
    params = {k: p.grad for k, p in ref.named_parameters()} if isinstance(ref, nn.Module) else {}
    return {"out": out, "grad_out": grad_out,
            "inputs": {k: v.grad for k, v in leaves.items() if v.is_floating_point()}, "params": params}


def learner_run(ctx: Context, target: str, inputs: dict[str, torch.Tensor], grad_out: Any, *,
                init: dict[str, Any] | None, weights: dict[str, torch.Tensor] | None, dtype: torch.dtype,
                kwargs: dict[str, Any] | None = None, train: bool = False, catch: bool = False) -> dict[str, Any]:
    p = ctx.program()
    fn: Ref | str = target
    if init is not None:
        fn = p.new(target, **init)
        p.to(fn, dtype)
        if weights is not None:
            p.load(fn, weights)
        p.train(fn, train)
    leaves = {k: (p.leaf(k, v) if v.is_floating_point() else p.tensor(k, v)) for k, v in inputs.items()}
    out = p.call(fn, *leaves.values(), catch=catch, **(kwargs or {}))
    floats = [r for (k, r), v in zip(leaves.items(), inputs.values()) if v.is_floating_point()]
    # caught, so that a wrong output shape is reported as such rather than as a backward error
    if isinstance(grad_out, list):  # a tuple of outputs: back-propagate from the items the reference does
        items = [(p.item(out, i), g) for i, g in enumerate(grad_out) if g is not None]
        backward = p.backward([r for r, _ in items], [g for _, g in items], catch=True)
    else:
        backward = p.backward(out, grad_out, catch=True)
    grads = p.grads(floats, module=fn if isinstance(fn, Ref) else None, catch=True)
    res = ctx.run(p.returns(out=out, backward=backward, grads=grads))
    names = [k for k, v in inputs.items() if v.is_floating_point()]
    if isinstance(res["backward"], Raised):
        return {"out": res["out"], "backward": res["backward"], "inputs": {}, "params": {}}
    return {"out": res["out"], "backward": None, "inputs": dict(zip(names, res["grads"]["inputs"])),
            "params": res["grads"].get("params", {})}


def compare_module(ctx: Context, ref: nn.Module | Callable[..., torch.Tensor], target: str,
                   inputs: dict[str, torch.Tensor], *, init: dict[str, Any] | None = None,
                   kwargs: dict[str, Any] | None = None, tol: Tolerance = FLOAT64, seed: int = 0,
                   hint: HintFn | None = None, grads: bool = True, dtype: torch.dtype | None = None,
                   hints: Hints | None | tuple[Hints | None, ...] = None, names: tuple[str, ...] = (),
                   grad_tol: Tolerance | None = None, catch: bool = False) -> None:
    """Raise CheckFailure unless the learner's `target` matches `ref` in output and all gradients.

    `dtype`: what the learner's module is cast to; by default the first input's (give it when that
    input holds token ids). `hints`: the assignment's Misconceptions bound to these inputs (`hint`,
    a function of the learner's output, is the older form). `grad_tol`: the gradients' tolerance, when
    it differs from the output's. `catch`: an exception from the learner's call fails the check (with the
    hint of a mistake that raises it) instead of ending it as an error.
    A `ref` that returns a tuple: every item is compared (named by `names`, hinted by the tuple
    `hints`), and the gradients come from an upstream gradient on each item that requires grad.
    """
    dtype = dtype or next(iter(inputs.values())).dtype
    expected = reference_run(ref, inputs, seed, kwargs)
    weights = {k: v.detach() for k, v in ref.state_dict().items()} if isinstance(ref, nn.Module) else None
    got = learner_run(ctx, target, inputs, expected["grad_out"], init=init, weights=weights, dtype=dtype, kwargs=kwargs,
                      catch=catch)
    if isinstance(expected["out"], tuple):
        _compare_items(got["out"], expected["out"], target, tol, hints, names)
    else:
        try:
            assert_close(got["out"], expected["out"], name=f"output of {target}", tol=tol, hints=hints)  # type: ignore[arg-type]
        except CheckFailure as failure:
            if hint is not None and failure.hint is None and isinstance(got["out"], torch.Tensor):
                failure.hint = hint(got["out"])
            raise
    if not grads:
        return
    tol = grad_tol or tol
    if got["backward"] is not None:
        raise CheckFailure(f"back-propagating through {target} failed: {got['backward']}")
    for name, g in expected["inputs"].items():
        actual = got["inputs"].get(name)
        if actual is None:
            raise CheckFailure(f"grad of {name}: None, expected a tensor (is {name} detached inside your code?)")
        assert_close(actual, g, name=f"grad of {name}", tol=tol)
    for name, g in expected["params"].items():
        actual = got["params"].get(name)
        if g is not None and actual is None:
            raise CheckFailure(f"grad of {name}: None, expected a tensor (is {name} used in forward?)")
        if g is not None:
            assert_close(actual, g, name=f"grad of {name}", tol=tol)


def _compare_items(got: Any, expected: tuple[torch.Tensor, ...], target: str, tol: Tolerance,
                   hints: Any, names: tuple[str, ...]) -> None:
    n = len(expected)
    if isinstance(got, Raised) or not isinstance(got, (tuple, list)) or len(got) != n:
        shown = f"your code raised {got}" if isinstance(got, Raised) else f"got {describe(got)}"
        raise CheckFailure(f"output of {target}: expected a tuple of {n} tensors, {shown}", tensor=target)
    per_item = hints if isinstance(hints, tuple) else (hints,) + (None,) * (n - 1)
    for i, (g, e) in enumerate(zip(got, expected)):
        label = names[i] if i < len(names) else f"item {i}"
        assert_close(g, e, name=f"{label} (item {i} of the output of {target})", tol=tol,
                     hints=per_item[i] if i < len(per_item) else None)


def matching_variant(actual: torch.Tensor, variants: dict[str, Callable[[], torch.Tensor]],
                     tol: Tolerance = FLOAT64) -> str | None:
    """The hint of the first known misconception whose output equals `actual`."""
    for text, make in variants.items():
        try:
            if is_close(actual, make(), tol):
                return text
        except (RuntimeError, ValueError):
            continue
    return None


@dataclass(frozen=True)
class RuntimeModel:
    """A model of the worker's runtime (`autograder/runtime/<module>.py`), built with the same weights on both
    sides: `local()` here for the reference, `build(p)` in the worker for learner code that takes a model."""
    module: str
    cls: str
    args: tuple[Any, ...] = ()
    weights: dict[str, torch.Tensor] | None = None
    dtype: torch.dtype = torch.float64
    train: bool = False

    def local(self) -> nn.Module:
        made = getattr(importlib.import_module(f"autograder.runtime.{self.module}"), self.cls)(*self.args)
        made = made.to(self.dtype)
        if self.weights is not None:
            made.load_state_dict(self.weights)
        return made.train(self.train)

    def build(self, p: Program) -> Ref:
        made = p.call(p.runtime(self.module), *self.args, method=self.cls, learner=False)
        p.to(made, self.dtype)
        if self.weights is not None:
            p.load(made, self.weights)
        p.train(made, self.train)
        return made


def compare_with_model(ctx: Context, ref: Callable[..., torch.Tensor], target: str, args: list[Any], *,
                       model: RuntimeModel, kwargs: dict[str, Any] | None = None, tol: Tolerance = FLOAT64,
                       seed: int = 0, hints: Hints | None = None) -> None:
    """Like `compare_module` for a function that takes a model (`model` stands for it in `args`): the
    learner's `target` and `ref` get the same runtime model; the output and every parameter's gradient
    under one random upstream gradient must match."""
    twin = model.local()
    out = ref(*[twin if a is model else a for a in args], **(kwargs or {}))
    grad_out = upstream_like(out, seed)
    out.backward(grad_out)
    built = model.build(ctx.p)
    got = ctx.call(target, *[built if a is model else a for a in args], grad=True, **(kwargs or {}))
    backward = ctx.p.backward(got, grad_out, catch=True)
    got, backward, grads = ctx.fetch(got, backward, ctx.p.grads([], module=built, catch=True))
    ctx.expect_close(got, out.detach(), name=f"output of {target}", tol=tol, hints=hints)
    if isinstance(backward, Raised):
        raise CheckFailure(f"back-propagating through the output of {target} failed: {backward}")
    for name, p in twin.named_parameters():
        if p.grad is not None:
            ctx.expect_close(grads["params"].get(name), p.grad, name=f"grad of the model's {name}", tol=tol)
