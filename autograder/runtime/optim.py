"""Optimizers in the worker, for any suite: parameters with chosen gradients, stepped one step at a time.

A step program can call methods but not assign `.grad` or loop, so these build parameters, group
them, give them gradients step by step and call an optimizer (the learner's, or the reference's
in-process: both sides take the same path). Importing this module also lets optimizers be built
without importing torch._dynamo (see skip_dynamo_import). Standard library and torch only (this
runs next to learner code); nothing here implements a graded API.
"""

from __future__ import annotations

from typing import Any

import torch
import torch._compile
from torch import nn


def skip_dynamo_import() -> int:
    """Let optimizers be built without importing torch._dynamo (3.5 s, once per process); the count of methods.

    `torch.optim.Optimizer.add_param_group` (and a few more) are wrapped by torch._compile._disable_dynamo,
    which imports torch._dynamo on the first call only to wrap the method for torch.compile; outside
    torch.compile the wrapped method is the method itself. Filling the wrapper's cache with the method
    skips that import. A torch whose wrapper looks different is left alone (the import then happens).
    """
    probe = torch._compile._disable_dynamo(lambda: None).__code__
    done = 0
    for name in dir(torch.optim.Optimizer):
        attr = getattr(torch.optim.Optimizer, name, None)
        fn = getattr(attr, "__wrapped__", None)
        if fn is not None and getattr(attr, "__code__", None) is probe and not hasattr(fn, "__dynamo_disable"):
            fn.__dynamo_disable = fn
            done += 1
    return done


skip_dynamo_import()


def parameters(values: list[torch.Tensor]) -> list[nn.Parameter]:
    """Fresh leaf parameters holding copies of `values`."""
    return [nn.Parameter(v.detach().clone()) for v in values]


def param_groups(params: list[nn.Parameter], groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive slices of `params` as param-group dicts: each `{"n": k, **options}` takes the next k."""
    out, start = [], 0
    for g in groups:
        options = {k: v for k, v in g.items() if k != "n"}
        out.append({"params": params[start:start + g["n"]], **options})
        start += g["n"]
    return out


def optimizer_steps(opt: torch.optim.Optimizer, params: list[nn.Parameter], grads: list[list[torch.Tensor | None]],
                    group_lrs: list[list[float] | None]) -> list[list[torch.Tensor]]:
    """Per step k: zero_grad, set each `.grad` to grads[k][i] (None stays None), set the groups' lrs, step.

    Returns every parameter's value after each step.
    """
    after = []
    for gs, lrs in zip(grads, group_lrs):
        opt.zero_grad()
        for p, g in zip(params, gs):
            p.grad = None if g is None else g.detach().clone()
        for group, lr in zip(opt.param_groups, lrs or []):
            group["lr"] = lr
        opt.step()
        after.append([p.detach().clone() for p in params])
    return after


def lrs(opt: torch.optim.Optimizer) -> list[float]:
    """Every param group's current learning rate."""
    return [g["lr"] for g in opt.param_groups]
