"""The known mistakes of a07_training: public and hidden checks give the same hints.

AdamW's mistakes are computed for ONE step of one parameter from the correct state before it
(the moments m, v and the count t of the module docstring's equations), which is what a check
compares when a learner's optimizer first goes wrong.
"""

from __future__ import annotations

import math

import torch

from autograder.compare import Hints, Misconceptions

ADAMW_MISTAKES = Misconceptions("AdamW step")


def _adam(p, g, m, v, t, lr, wd, eps, b1, b2, *, decay: str = "first", bias: bool = True, tb: int | None = None,
          eps_inside: bool = False, coupled: bool = False) -> torch.Tensor:
    """One step of the module docstring's equations with one thing changed; tb is the bias corrections' exponent."""
    if g is None:
        raise ValueError("no gradient at this step")
    if coupled:
        g = g + wd * p
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    tb = t + 1 if tb is None else tb
    m_hat, v_hat = (m / (1 - b1 ** tb), v / (1 - b2 ** tb)) if bias else (m, v)
    step = lr * m_hat / ((v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps)
    factor = {"first": 1 - lr * wd, "after": 1 - lr * wd, "no_lr": 1 - wd, "none": 1.0}[decay]
    return (p - step) * factor if decay == "after" else p * factor - step


@ADAMW_MISTAKES.add("coupled_weight_decay", "your update matches L2 regularisation, weight_decay * p added to the "
                    "gradient (Adam's coupled decay): AdamW decays the weights directly, p *= 1 - lr * weight_decay, "
                    "and never puts the decay into m or v", when=lambda wd, **_: wd > 0)
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, coupled=True, decay="none")


@ADAMW_MISTAKES.add("no_bias_correction", "your update matches m and v used without their bias corrections: divide "
                    "by 1 - beta1 ** t and 1 - beta2 ** t (m and v start at 0)")
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, bias=False)


@ADAMW_MISTAKES.add("bias_correction_from_t0", "your update matches bias corrections with the count before it is "
                    "increased (1 - beta ** 0 = 0 at the first step): count t = 1, 2, ... and correct with the new t")
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, tb=t)


# before bias_correction_off_by_one: for a parameter that missed a step its output is the same, and this is the cause
@ADAMW_MISTAKES.add("step_count_per_optimizer", "your update matches a step count t that also advanced at a step where "
                    "this parameter had no gradient: count t per parameter (in self.state[p]), and skip parameters "
                    "whose .grad is None (neither move them nor count the step)", when=lambda t, t_opt, **_: t != t_opt)
def _(p, g, m, v, t, t_opt, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, tb=t_opt + 1)


@ADAMW_MISTAKES.add("bias_correction_off_by_one", "your update matches bias corrections with t + 1: the first update "
                    "uses t = 1, so 1 - beta1 ** 1")
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, tb=t + 2)


@ADAMW_MISTAKES.add("eps_inside_sqrt", "your update matches sqrt(v_hat + eps): eps is added after the square root, "
                    "sqrt(v_hat) + eps")
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, eps_inside=True)


@ADAMW_MISTAKES.add("decay_after_update", "your update matches the weight decay applied after the Adam step: decay "
                    "first, p *= 1 - lr * weight_decay, then subtract the step", when=lambda wd, **_: wd > 0)
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, decay="after")


@ADAMW_MISTAKES.add("decay_without_lr", "your update matches p *= 1 - weight_decay: the decay is scaled by the "
                    "learning rate, p *= 1 - lr * weight_decay", when=lambda wd, **_: wd > 0)
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr, wd, eps, b1, b2, decay="no_lr")


@ADAMW_MISTAKES.add("none_grad_as_zero", "this parameter's .grad is None and your optimizer moved it (as if its "
                    "gradient were 0): parameters without a gradient are skipped", when=lambda g, **_: g is None)
def _(p, g, m, v, t, lr, wd, eps, b1, b2, **_):
    return _adam(p, torch.zeros_like(p), m, v, t, lr, wd, eps, b1, b2)


@ADAMW_MISTAKES.add("lr_from_defaults", "your update matches the learning rate given to AdamW(...) although this "
                    "param group's lr is another: read lr (and the rest) from each param group, group['lr']",
                    when=lambda lr, lr0, **_: lr != lr0)
def _(p, g, m, v, t, lr0, wd, eps, b1, b2, **_):
    return _adam(p, g, m, v, t, lr0, wd, eps, b1, b2)


CLIP_MISTAKES = Misconceptions("clip_grad_norm")


def _global(grads: list[torch.Tensor | None]) -> torch.Tensor:
    return torch.stack([(g * g).sum() for g in grads if g is not None]).sum().sqrt()


def _clips(grads: list[torch.Tensor | None], max_norm: float, **_: object) -> bool:
    return bool(_global(grads) > max_norm)


def _scaled(grads: list[torch.Tensor | None], factor: torch.Tensor) -> list[torch.Tensor | None]:
    return [None if g is None else g * factor for g in grads]


@CLIP_MISTAKES.add("per_tensor_clipping", "your gradients match each one clipped by its own norm: clip by the global "
                   "norm of all gradients together, one factor for all", when=_clips)
def _(grads, max_norm):
    return {"norm": _global(grads), "grads": [None if g is None or g.norm() <= max_norm else
                                              g * (max_norm / (g.norm() + 1e-6)) for g in grads]}


@CLIP_MISTAKES.add("clip_always_rescales", "your gradients were scaled to max_norm although their norm was already "
                   "below it: scale only when the total norm exceeds max_norm", when=lambda **kw: not _clips(**kw))
def _(grads, max_norm):
    norm = _global(grads)
    return {"norm": norm, "grads": _scaled(grads, max_norm / (norm + 1e-6))}


@CLIP_MISTAKES.add("clip_returns_clipped_norm", "your result matches the norm after clipping: return the total norm "
                   "before clipping", when=_clips)
def _(grads, max_norm):
    norm = _global(grads)
    return {"norm": torch.minimum(norm, torch.tensor(max_norm, dtype=norm.dtype)),
            "grads": _scaled(grads, max_norm / (norm + 1e-6)) if norm > max_norm else grads}


@CLIP_MISTAKES.add("clip_squared_norm", "your result matches the sum of squares: the L2 norm is its square root")
def _(grads, max_norm):
    sq = _global(grads) ** 2
    return {"norm": sq, "grads": _scaled(grads, max_norm / (sq + 1e-6)) if sq > max_norm else grads}


def clip_hints(grads: list[torch.Tensor | None], max_norm: float, part: str, index: int | None = None) -> Hints:
    """CLIP_MISTAKES bound to one call, matching the returned norm (part "norm") or gradient `index` (part "grads")."""
    return Hints(CLIP_MISTAKES, {"grads": grads, "max_norm": max_norm},
                 view=lambda out: out[part] if index is None else out[part][index])


SCHEDULE_MISTAKES = Misconceptions("lr_at_step")
SCHEDULE_STEPS = ("lr_at_step raised inside train_model: total_steps is len(train_loader) * n_epochs, the steps of all "
                  "epochs together")


def _schedule(total: int, warmup: int, peak: float, initial: float, low: float, *, shift: int = 0,
              span: str = "decay", turns: float = 1.0) -> torch.Tensor:
    """The rate at every step 0..total with one thing changed (shift: warm-up steps ahead; span: cosine's length)."""
    out = []
    for s in range(total + 1):
        if s < warmup:
            out.append(initial + (s + shift) * (peak - initial) / warmup)
            continue
        progress = s / total if span == "total" else (s - warmup) / (total - warmup) if total > warmup else 0.0
        out.append(low + (peak - low) * 0.5 * (1 + math.cos(turns * math.pi * progress)))
    return torch.tensor(out, dtype=torch.float64)


@SCHEDULE_MISTAKES.add("warmup_off_by_one", "your warm-up matches initial_lr + (step + 1) * increment: step 0 gives "
                       "initial_lr exactly, initial_lr + step * (peak_lr - initial_lr) / warmup_steps",
                       when=lambda warmup, **_: warmup > 0)
def _(total, warmup, peak, initial, low):
    return _schedule(total, warmup, peak, initial, low, shift=1)


@SCHEDULE_MISTAKES.add("cosine_over_total_span", "your decay matches progress = step / total_steps: the cosine starts "
                       "after the warm-up, progress = (step - warmup_steps) / (total_steps - warmup_steps)",
                       when=lambda warmup, **_: warmup > 0)
def _(total, warmup, peak, initial, low):
    return _schedule(total, warmup, peak, initial, low, span="total")


@SCHEDULE_MISTAKES.add("cosine_full_period", "your decay matches cos(2 pi progress), which climbs back to peak_lr: use "
                       "half a period, 0.5 * (1 + cos(pi * progress)), so the rate ends at min_lr")
def _(total, warmup, peak, initial, low):
    return _schedule(total, warmup, peak, initial, low, turns=2.0)


@SCHEDULE_MISTAKES.add("decay_to_zero", "your decay ends at 0: it decays to min_lr, min_lr + (peak_lr - min_lr) * "
                       "0.5 * (1 + cos(pi * progress))", when=lambda low, **_: low > 0)
def _(total, warmup, peak, initial, low):
    return _schedule(total, warmup, peak, initial, 0.0)


# With every learning rate 0 the weights never move, so what RecordingSGD sees at step k is known in advance:
# `norms[k]`, the norm of batch k's gradient at the initial weights (`summed[k]`: of batches 0..k added up), and
# the model calls before the step (`calls[k]`), given the evaluations `evals[k]` (0 or 1) of step k and
# `per_eval` model calls each, and `n` batches per epoch, each epoch ending with a 50-token sample.
LOOP_NORMS = Misconceptions("trainer gradient norms")


def _clip_from(norms: list[float], first: int) -> torch.Tensor:
    return torch.tensor([min(x, 1.0) if k >= first else x for k, x in enumerate(norms)], dtype=torch.float64)


@LOOP_NORMS.add("zero_grad_missing", "the gradients optimizer.step() saw are those of all batches so far added up: "
                "call optimizer.zero_grad() once per batch, before the loss and backward()")
def _(norms, summed, warmup):
    return _clip_from(summed, len(summed) if warmup is None else warmup)


@LOOP_NORMS.add("clip_during_warmup", "your gradients were clipped during the warm-up: clip only when "
                "global_step >= warmup_steps", when=lambda warmup, **_: warmup is not None and warmup > 0)
def _(norms, summed, warmup):
    return _clip_from(norms, 0)


@LOOP_NORMS.add("clip_one_step_late", "clipping started one step late, at global_step > warmup_steps (the book's "
                "first printing): clip from global_step >= warmup_steps, as the book's repository does",
                when=lambda warmup, **_: warmup is not None)
def _(norms, summed, warmup):
    return _clip_from(norms, warmup + 1)


@LOOP_NORMS.add("clip_after_step", "optimizer.step() saw unclipped gradients: clip after backward() and before "
                "optimizer.step()", when=lambda warmup, **_: warmup is not None)
def _(norms, summed, warmup):
    return _clip_from(norms, len(norms))


LOOP_CALLS = Misconceptions("trainer model calls")


@LOOP_CALLS.add("evaluate_before_step", "your optimizer.step() came after the evaluation of its step: per batch "
                "zero_grad, loss, backward, step, and evaluate after the step (when global_step % eval_freq == 0)")
def _(calls, evals, per_eval, n):
    return torch.tensor([c + e * per_eval for c, e in zip(calls, evals)], dtype=torch.float64)


@LOOP_CALLS.add("sample_not_printed", "no 50-token sample after an epoch (the model was called 50 times fewer): "
                "call generate_and_print_sample(model, tokenizer, device, start_context) after each epoch")
def _(calls, evals, per_eval, n):
    return torch.tensor([c - 50 * (k // n) for k, c in enumerate(calls)], dtype=torch.float64)
