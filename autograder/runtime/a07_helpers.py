"""Worker-side helpers for a07_training: a closure for step(closure), a clipping run, the trainers' optimizer.

A step program can call methods but not loop or assign `.grad`, so these do it: run a clipping
function on a generator of parameters with chosen gradients, and build the plain SGD optimizer the
trainers are graded with (stepping optimizers in general is runtime/optim.py's). The grader runs the
same helpers in-process on the reference, so both sides take the same path. Standard library and
torch only (this runs next to learner code); nothing here implements a graded API.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .optim import parameters  # importing it also keeps torch._dynamo out (optim.skip_dynamo_import)


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
