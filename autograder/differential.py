"""Differential checks: the same weights and inputs into learner code and a reference object.

Compares the output, the gradient of every floating-point input, and the gradient of every
parameter under one random upstream gradient. The reference side runs here (grader process);
the learner side runs in the worker.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .checks import Context
from .compare import FLOAT64, CheckFailure, Hints, Tolerance, assert_close, is_close
from .program import Ref
from .runtime.values import Raised

HintFn = Callable[[torch.Tensor], "str | None"]


def upstream_like(t: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.dtype)


def random_weights(module: nn.Module, seed: int, *, scale: float = 0.5) -> None:
    """Overwrite every parameter with seeded N(0, scale^2) values (independent of torch's init RNG)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)


def reference_run(ref: nn.Module | Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor],
                  upstream_seed: int, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    leaves = {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
    if isinstance(ref, nn.Module):
        ref.zero_grad(set_to_none=True)
    out = ref(*leaves.values(), **(kwargs or {}))
    grad_out = upstream_like(out, upstream_seed)
    out.backward(grad_out)
    params = {k: p.grad for k, p in ref.named_parameters()} if isinstance(ref, nn.Module) else {}
    return {"out": out.detach(), "grad_out": grad_out,
            "inputs": {k: v.grad for k, v in leaves.items() if v.is_floating_point()}, "params": params}


def learner_run(ctx: Context, target: str, inputs: dict[str, torch.Tensor], grad_out: torch.Tensor, *,
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
                   hints: Hints | None = None, grad_tol: Tolerance | None = None, catch: bool = False) -> None:
    """Raise CheckFailure unless the learner's `target` matches `ref` in output and all gradients.

    `dtype`: what the learner's module is cast to; by default the first input's (give it when that
    input holds token ids). `hints`: the assignment's Misconceptions bound to these inputs (`hint`,
    a function of the learner's output, is the older form). `grad_tol`: the gradients' tolerance, when
    it differs from the output's. `catch`: an exception from the learner's call fails the check (with the
    hint of a mistake that raises it) instead of ending it as an error.
    """
    dtype = dtype or next(iter(inputs.values())).dtype
    expected = reference_run(ref, inputs, seed, kwargs)
    weights = {k: v.detach() for k, v in ref.state_dict().items()} if isinstance(ref, nn.Module) else None
    got = learner_run(ctx, target, inputs, expected["grad_out"], init=init, weights=weights, dtype=dtype, kwargs=kwargs,
                      catch=catch)
    try:
        assert_close(got["out"], expected["out"], name=f"output of {target}", tol=tol, hints=hints)
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
