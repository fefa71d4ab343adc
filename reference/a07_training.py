"""Reference for a07_training: `torch.optim.AdamW`, `clip_grad_norm_`, a cos**2 schedule, an iterator-driven loop.

Same public names and behaviour as the solution (the current repository's clip rule: clip from
`step >= warmup_steps`), written independently; built on the reference a05 and a06.
"""

import itertools
import math

import torch

from .a05_gpt_model import generate_text_simple
from .a06_loss import calc_loss_batch, calc_loss_loader, text_to_token_ids, token_ids_to_text


class AdamW(torch.optim.AdamW):
    """torch.optim.AdamW (single-tensor path, no amsgrad) with the contract's argument checks."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            if math.isnan(value) or value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if len(betas) != 2 or any(not (0.0 <= b < 1.0) for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas!r}")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=False,
                         foreach=False, fused=False)

    @torch.no_grad()
    def step(self, closure=None):
        # torch.optim.AdamW.step without its torch.compile wrapper (_use_grad_for_differentiable), whose first
        # call imports torch._dynamo: 3.5 s of every grading, for nothing outside torch.compile
        return torch.optim.AdamW.step.__wrapped__(self, closure)


def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ (L2), after checking max_norm."""
    if math.isnan(max_norm) or max_norm < 0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm!r}")
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=2.0)


def lr_at_step(step: int, total_steps: int, warmup_steps: int, peak_lr: float, initial_lr: float = 3e-5,
               min_lr: float = 1e-6) -> float:
    """Warm-up by linear interpolation; decay as min + (peak - min) * cos(pi * progress / 2) ** 2."""
    if not 0 <= step <= total_steps:
        raise ValueError(f"step={step} must lie in [0, {total_steps}]")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps={warmup_steps} must lie in [0, {total_steps}]")
    if step < warmup_steps:
        weight = torch.tensor(step / warmup_steps, dtype=torch.float64)
        start = torch.tensor(initial_lr, dtype=torch.float64)
        return float(torch.lerp(start, torch.tensor(peak_lr, dtype=torch.float64), weight))
    span = total_steps - warmup_steps
    progress = torch.tensor(0.0 if span == 0 else (step - warmup_steps) / span, dtype=torch.float64)
    # 0.5 * (1 + cos(x)) == cos(x / 2) ** 2
    return float(min_lr + (peak_lr - min_lr) * torch.cos(progress * (math.pi / 2)) ** 2)


def evaluate_model(model, train_loader, val_loader, device, eval_iter: int) -> tuple[float, float]:
    """Both losses in eval mode without autograd; training mode afterwards."""
    model.train(False)
    with torch.inference_mode(False), torch.no_grad():
        losses = tuple(calc_loss_loader(loader, model, device, num_batches=eval_iter)
                       for loader in (train_loader, val_loader))
    model.train(True)
    return losses


def _sample(model, tokenizer, device, start_context: str) -> None:
    model.train(False)
    ids = text_to_token_ids(start_context, tokenizer).to(device)
    out = generate_text_simple(model, ids, 50, model.pos_emb.weight.shape[0])
    print(" ".join(token_ids_to_text(out, tokenizer).splitlines()))
    model.train(True)


def _loop(model, train_loader, val_loader, optimizer, device, n_epochs, eval_freq, eval_iter, start_context,
          tokenizer, before_step):
    """Shared loop; `before_step(step)` runs between backward and the optimizer step and sets the lr earlier."""
    history = {"train": [], "val": [], "tokens": []}
    seen = 0
    step = itertools.count()
    for _ in range(n_epochs):
        model.train(True)
        for inputs, targets in train_loader:
            k = next(step)
            for p in model.parameters():
                p.grad = None
            before_step(k, "lr")
            calc_loss_batch(inputs, targets, model, device).backward()
            before_step(k, "clip")
            optimizer.step()
            seen += inputs.shape[0] * inputs.shape[1]
            if k % eval_freq == 0:
                tr, va = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                history["train"].append(tr)
                history["val"].append(va)
                history["tokens"].append(seen)
        _sample(model, tokenizer, device, start_context)
    return history["train"], history["val"], history["tokens"]


def train_model_simple(model, train_loader, val_loader, optimizer, device, num_epochs, eval_freq, eval_iter,
                       start_context, tokenizer):
    return _loop(model, train_loader, val_loader, optimizer, device, num_epochs, eval_freq, eval_iter,
                 start_context, tokenizer, lambda k, phase: None)


def train_model(model, train_loader, val_loader, optimizer, device, n_epochs, eval_freq, eval_iter, start_context,
                tokenizer, warmup_steps, initial_lr=3e-5, min_lr=1e-6):
    peak = optimizer.param_groups[0]["lr"]
    total = len(train_loader) * n_epochs
    lrs: list[float] = []

    def before_step(k: int, phase: str) -> None:
        if phase == "lr":
            lrs.append(lr_at_step(k, total, warmup_steps, peak, initial_lr, min_lr))
            for group in optimizer.param_groups:
                group["lr"] = lrs[-1]
        elif k >= warmup_steps:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)

    *curves, = _loop(model, train_loader, val_loader, optimizer, device, n_epochs, eval_freq, eval_iter,
                     start_context, tokenizer, before_step)
    return (*curves, lrs)
