"""Worker-side helpers for a07_training: parameters with chosen gradients, and the loops a program cannot write.

A step program can call methods but not loop or assign `.grad`, so these do it: build parameters,
group them, give them gradients step by step and call an optimizer, run a clipping function on a
generator of parameters, tabulate a function over argument lists, and build the plain SGD optimizer
the trainers are graded with. The grader runs the same helpers in-process on the reference, so both
sides take the same path. Standard library and torch only (this runs next to learner code); nothing
here implements a graded API.
"""

from __future__ import annotations

from typing import Any, Callable

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


def square_loss_closure(opt: torch.optim.Optimizer, params: list[nn.Parameter]) -> Callable[[], torch.Tensor]:
    """A closure for `opt.step(closure)`: zero_grad, loss = sum of every parameter squared, backward, loss."""
    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = sum((p * p).sum() for p in params)
        loss.backward()
        return loss
    return closure


def clip(fn: Callable[..., Any], values: list[torch.Tensor], grads: list[torch.Tensor | None],
         max_norm: float) -> dict[str, Any]:
    """`fn(a generator of parameters, max_norm)` on parameters with these gradients; its result and the grads after."""
    params = parameters(values)
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.detach().clone()
    norm = fn((p for p in params), max_norm)
    return {"norm": norm, "grads": [p.grad for p in params]}


def table(fn: Callable[..., Any], calls: list[list[Any]]) -> list[Any]:
    """`[fn(*args) for args in calls]`: a function tabulated in one program step."""
    return [fn(*args) for args in calls]


class RecordingSGD(torch.optim.SGD):
    """Plain SGD with momentum that records, at every step, what a check needs to explain a trainer's mistake.

    `steps[k]`: the model's forward calls so far (ToyGPT's `modes`), the global gradient norm the
    update used, every group's lr, and how many times zero_grad was called so far.
    """

    def __init__(self, model: nn.Module, lr: float, momentum: float = 0.5) -> None:
        emb = [p for n, p in model.named_parameters() if n.startswith(("tok_emb.", "pos_emb."))]
        rest = [p for n, p in model.named_parameters() if not n.startswith(("tok_emb.", "pos_emb."))]
        super().__init__([{"params": emb}, {"params": rest, "lr": lr / 2}], lr=lr, momentum=momentum)
        self.model = model
        self.zero_grads = 0
        self.steps: list[dict[str, Any]] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.zero_grads += 1
        super().zero_grad(set_to_none)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """SGD with momentum, buf = momentum * buf + g; p -= lr * buf (torch's own step would import torch._dynamo)."""
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.stack([(g * g).sum() for g in grads]).sum().sqrt()) if grads else 0.0
        self.steps.append({"forwards": len(getattr(self.model, "modes", [])), "grad_norm": norm,
                           "lrs": [g["lr"] for g in self.param_groups], "zero_grads": self.zero_grads})
        for group in self.param_groups:
            for p in (q for q in group["params"] if q.grad is not None):
                state = self.state[p]
                buf = state["momentum_buffer"] = (p.grad.clone() if "momentum_buffer" not in state
                                                  else state["momentum_buffer"] * group["momentum"] + p.grad)
                p.sub_(group["lr"] * buf)
        return None


def lrs(opt: torch.optim.Optimizer) -> list[float]:
    """Every param group's current learning rate."""
    return [g["lr"] for g in opt.param_groups]
