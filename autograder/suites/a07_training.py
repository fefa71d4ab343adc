"""Public checks for a07_training: properties and a snapshot, no reference needed.

AdamW is probed with the same gradient at every step: the bias-corrected moments are then exactly
g and g * g, so every update is p <- p * (1 - lr * weight_decay) - lr * g / (|g| + eps), whatever the
step, which makes the bias corrections, the decay and the per-parameter step count visible. The
trainers run on the runtime's ToyGPT with plain SGD (`a07_helpers.RecordingSGD`), so a grade here
hinges neither on the learner's AdamW nor on their GPTModel.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.compare import describe
from autograder.compare import numbers as floats
from autograder.differential import RuntimeModel
from autograder.kit import FLOAT64, CheckFailure, Context, Raised, Suite, Tolerance, given
from autograder.mistakes.a07_training import (ADAMW_MISTAKES, LOOP_CALLS, LOOP_NORMS, SCHEDULE_MISTAKES, SCHEDULE_STEPS,
                                              clip_hints)
from autograder.program import Ref
from autograder.runtime.toy_gpt import ToyGPT
from autograder.scan import Ban
from autograder.snapshots import load_json

ADAMW_BANS = ("torch.optim.AdamW", "torch.optim.Adam", *sorted(f"torch.{n}" for n in dir(torch) if n.startswith("_foreach_")))
CLIP_BANS = ("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.get_total_norm")
SUITE = Suite("a07_training", bans=[*(Ban(api, scope="AdamW") for api in ADAMW_BANS),
                                    Ban("torch.optim._functional", scope="AdamW", module=True),
                                    *(Ban(api, scope="clip_grad_norm") for api in CLIP_BANS)])
check = SUITE.check

# PyTorch's clip rule scales by max_norm / (total + 1e-6), the exact rule by max_norm / total: with
# total norms >= 0.5 (the gradients drawn here) they differ by < 2e-6 relative.
CLIP_TOL = Tolerance(rtol=5e-6, atol=1e-12)
V, CONTEXT, EMB = 257, 16, 6  # ToyGPT over ByteTokenizer's 257 ids
START = "Ab"
TRAINERS = ("train_model_simple", "train_model")


# -- AdamW -------------------------------------------------------------------------------------------
def adamw_in_worker(ctx: Context, values: list[torch.Tensor], groups: list[dict[str, Any]], **hyper: Any) -> tuple[Ref, Ref]:
    """The learner's AdamW over fresh parameters holding `values`, in `groups` (see optim.param_groups)."""
    params = ctx.runtime("optim.parameters", values)
    spec = ctx.runtime("optim.param_groups", params, groups)
    return ctx.module("AdamW", {"params": spec, **hyper}, dtype=None, train=None), params


def run_adamw(ctx: Context, values: list[torch.Tensor], groups: list[dict[str, Any]], sched: list[list[Any]],
              group_lrs: list[list[float] | None], **hyper: Any) -> list[list[Any]]:
    """The learner's AdamW stepped with the gradients sched[k] and the groups' lrs group_lrs[k] (optim.optimizer_steps):
    every parameter after each step."""
    opt, params = adamw_in_worker(ctx, values, groups, **hyper)
    (got,) = ctx.fetch(ctx.runtime("optim.optimizer_steps", opt, params, sched, group_lrs, learner=True))
    steps, n = len(sched), len(values)
    ctx.expect(isinstance(got, list) and len(got) == steps and all(isinstance(r, list) and len(r) == n for r in got),
               f"the optimizer run returned {describe(got)}, not {steps} steps of {n} parameters")
    return got


@check(points=4, visibility="public", kind="property", targets=("AdamW",), max_examples=8,
       description="AdamW: with the same gradient at every step, each update of a parameter that has a gradient is "
                   "p * (1 - lr * weight_decay) - lr * g / (|g| + eps) (bias-corrected moments are g and g^2), "
                   "per param group, with lr changed midway; parameters whose .grad is None do not move")
@given(shapes=st.lists(sg.shapes(max_dims=2, max_side=4), min_size=2, max_size=4), seed=sg.seeds(),
       lr=st.sampled_from([1e-3, 0.05, 0.3]), eps=st.sampled_from([1e-8, 1e-3]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.8)]), wd=st.sampled_from([0.0, 0.01, 0.5]),
       scale=st.sampled_from([1e-3, 1.0]))
def adamw_constant_gradient(ctx: Context, shapes: list[tuple[int, ...]], seed: int, lr: float, eps: float,
                            betas: tuple[float, float], wd: float, scale: float) -> None:
    n = len(shapes)
    values = [sg.make_tensor(s, seed + i) for i, s in enumerate(shapes)]
    grads = [sg.make_tensor(s, seed + 100 + i, scale=scale) for i, s in enumerate(shapes)]
    # param 0 has no gradient at step 1 (its count lags the optimizer's), the last none at step 3; lr changes at 4
    sched = [[None if (k, i) in ((0, 0), (2, n - 1)) else g for i, g in enumerate(grads)] for k in range(4)]
    new_lrs = [lr / 3, lr * 2]
    group_of = [0] + [1] * (n - 1)
    own = {"lr": lr * 2, "weight_decay": 0.1, "eps": 0.25}  # group 1's: every AdamW mistake shows in every example
    ctx.example(shapes={f"p{i}": list(s) for i, s in enumerate(shapes)},
                config={"lr": lr, "eps": eps, "betas": betas, "weight_decay": wd, "gradient_scale": scale,
                        "groups": [{"params": [0]}, {"params": list(range(1, n)), **own}],
                        "grad None": "p0 at step 1, p%d at step 3" % (n - 1), "lrs from step 4": new_lrs})
    rows = run_adamw(ctx, values, [{"n": 1}, {"n": n - 1, **own}], sched, [None, None, None, new_lrs],
                     lr=lr, betas=betas, eps=eps, weight_decay=wd)
    p, t = [v.clone() for v in values], [0] * n
    for k in range(4):
        for i, g in enumerate(sched[k]):
            grp = group_of[i]
            lr_i = (new_lrs[grp] if k == 3 else lr * (2 if grp else 1))
            wd_i, eps_i = (0.1, 0.25) if grp else (wd, eps)
            gi = grads[i]
            hints = ADAMW_MISTAKES(p=p[i], g=g, m=(1 - betas[0] ** t[i]) * gi, v=(1 - betas[1] ** t[i]) * gi * gi,
                                   t=t[i], t_opt=k, lr=lr_i, lr0=lr, wd=wd_i, eps=eps_i, b1=betas[0], b2=betas[1])
            if g is not None:
                p[i], t[i] = p[i] * (1 - lr_i * wd_i) - lr_i * g / (g.abs() + eps_i), t[i] + 1
            none = " (its .grad is None at this step)" if g is None else ""
            ctx.expect_close(rows[k][i], p[i], tol=FLOAT64, hints=hints,
                             name=f"parameter {i} (group {grp}, shape {tuple(shapes[i])}) after step {k + 1}{none}")


@check(points=1, visibility="public", kind="property", targets=("AdamW",),
       description="AdamW: step(closure) returns the closure's loss, step() returns None; lr < 0, eps < 0, a beta "
                   "outside [0, 1) or weight_decay < 0 raise a ValueError naming the argument")
def adamw_closure_and_errors(ctx: Context) -> None:
    ctx.example(config={"params": "one parameter [2., 2., 2.]", "closure": "zero_grad; loss = (p * p).sum(); backward"})
    opt, params = adamw_in_worker(ctx, [torch.full((3,), 2.0, dtype=torch.float64)], [{"n": 3}], lr=0.1)
    closure = ctx.runtime("a07_helpers.square_loss_closure", opt, params)
    with_closure = ctx.call(opt, closure, method="step", grad=True, label="AdamW")
    without = ctx.call(opt, method="step", grad=True, label="AdamW")
    bad = {"lr": -0.1, "eps": -1e-8, "betas": (1.0, 0.999), "weight_decay": -0.01}
    made = [ctx.module("AdamW", {"params": params, name: value}, catch=True) for name, value in bad.items()]
    loss, none, *errors = ctx.fetch(with_closure, without, *made)
    ctx.expect_close(loss, torch.tensor(12.0, dtype=torch.float64), tol=FLOAT64,
                     name="AdamW.step(closure) (it should return the loss the closure returned)")
    ctx.expect(none is None, f"AdamW.step() without a closure returned {describe(none)}, expected None")
    for (name, value), got in zip(bad.items(), errors):
        ctx.expect_raises(got, f"AdamW(params, {name}={value!r})", mention=(name,))


# -- clip_grad_norm ------------------------------------------------------------------------------------
def clip_call(ctx: Context, values: list[torch.Tensor], grads: list[torch.Tensor | None], max_norm: float, *,
              catch: bool = False) -> Ref:
    return ctx.runtime("a07_helpers.clip", ctx.p.attr("clip_grad_norm"), values, grads, max_norm, catch=catch,
                       learner=True)


def clip_case(shapes: list[tuple[int, ...]], seed: int, none_at: int, dtype: torch.dtype
              ) -> tuple[list[torch.Tensor], list[torch.Tensor | None], torch.Tensor]:
    """Parameters, their gradients (one None when none_at is an index) and the global norm (float64)."""
    values = [sg.make_tensor(s, seed + i, dtype=dtype) for i, s in enumerate(shapes)]
    grads = [None if i == none_at else sg.make_tensor(s, seed + 50 + i, dtype=dtype) for i, s in enumerate(shapes)]
    if all(g is None for g in grads):
        grads[0] = sg.make_tensor(shapes[0], seed + 50, dtype=dtype)
    norm = torch.stack([g.double().pow(2).sum() for g in grads if g is not None]).sum().sqrt()
    return values, grads, norm


def expect_clipped(ctx: Context, got: Any, grads: list[torch.Tensor | None], norm: torch.Tensor,
                   expected: list[torch.Tensor | None], max_norm: float, tol: Tolerance, call: str) -> None:
    dtype = next(g.dtype for g in grads if g is not None)
    ctx.expect_close(got["norm"], norm.to(dtype), name=f"value returned by {call} (the global norm before clipping)",
                     tol=tol, hints=clip_hints(grads, max_norm, "norm"))
    for i, (g, want) in enumerate(zip(got["grads"], expected)):
        if want is None:
            ctx.expect(g is None, f"after {call}: parameter {i} had no gradient and now has {describe(g)}: skip "
                                  f"parameters whose .grad is None")
            continue
        ctx.expect_close(g, want, name=f"gradient of parameter {i} after {call}", tol=tol,
                         hints=clip_hints(grads, max_norm, "grads", i))


@check(points=3, visibility="public", kind="property", targets=("clip_grad_norm",), max_examples=15,
       description="clip_grad_norm: returns the global L2 norm of all gradients before clipping; above max_norm "
                   "every gradient is scaled by max_norm / total_norm (PyTorch's + 1e-6 accepted), below it none "
                   "changes; parameters without a gradient are skipped")
@given(shapes=st.lists(sg.shapes(max_dims=2, max_side=4), min_size=1, max_size=4), seed=sg.seeds(),
       none_at=st.integers(-1, 3), ratio=st.sampled_from([0.0, 0.3, 0.9, 1.5, 10.0]),
       dtype=st.sampled_from([torch.float64, torch.float32]))
def clip_scales_to_max_norm(ctx: Context, shapes: list[tuple[int, ...]], seed: int, none_at: int, ratio: float,
                            dtype: torch.dtype) -> None:
    values, grads, norm = clip_case(shapes, seed, none_at, dtype)
    max_norm = ratio * float(norm)
    ctx.example(shapes={f"grad{i}": None if g is None else list(g.shape) for i, g in enumerate(grads)},
                config={"max_norm": max_norm, "global_norm": float(norm), "dtype": str(dtype)})
    (got,) = ctx.fetch(clip_call(ctx, values, grads, max_norm))
    factor = max_norm / float(norm) if norm > max_norm else 1.0
    expected = [None if g is None else (g.double() * factor).to(dtype) for g in grads]
    expect_clipped(ctx, got, grads, norm, expected, max_norm, CLIP_TOL,
                   f"clip_grad_norm(parameters, max_norm={max_norm:.4g})")


@check(points=1, visibility="public", kind="property", targets=("clip_grad_norm",),
       description="clip_grad_norm: max_norm < 0 raises a ValueError that shows the value")
def clip_rejects_negative(ctx: Context) -> None:
    values, grads, _ = clip_case([(2, 3)], 0, -1, torch.float64)
    ctx.example(config={"max_norm": -0.5})
    (got,) = ctx.fetch(clip_call(ctx, values, grads, -0.5, catch=True))
    ctx.expect_raises(got, "clip_grad_norm(parameters, max_norm=-0.5)", mention=("-0.5",))


# -- lr_at_step ------------------------------------------------------------------------------------------
SCHEDULES = [  # total_steps, warmup_steps, peak_lr, initial_lr, min_lr
    (10, 3, 1e-3, 3e-5, 1e-6), (7, 0, 5e-4, 3e-5, 1e-6), (6, 6, 2e-3, 1e-4, 1e-5), (1, 1, 0.1, 0.01, 0.001),
    (20, 5, 0.1, 0.01, 0.002), (5, 4, 3e-3, 3e-5, 1e-6), (12, 1, 1.0, 0.0, 0.1)]


def JSON_SNAPSHOTS(ref: Any) -> dict[str, Any]:
    """The reference's rate at every step 0..total_steps of each schedule in SCHEDULES."""
    return {"lr_at_step": [{"args": list(s), "lrs": [ref.lr_at_step(k, *s) for k in range(s[0] + 1)]}
                           for s in SCHEDULES]}


def schedule_table(ctx: Context, schedules: list[tuple[Any, ...]]) -> Ref:
    """The learner's lr_at_step at every step of each schedule, in one program step."""
    calls = [[k, *s] for s in schedules for k in range(s[0] + 1)]
    return ctx.runtime("loops.table", ctx.p.attr("lr_at_step"), calls, learner=True)


def expect_schedule(ctx: Context, got: list[Any], schedules: list[tuple[Any, ...]], wanted: list[list[float]]) -> None:
    start = 0
    for s, want in zip(schedules, wanted):
        total, warmup, peak, initial, low = s
        name = (f"lr_at_step(step, total_steps={total}, warmup_steps={warmup}, peak_lr={peak:g}, initial_lr={initial:g}, "
                f"min_lr={low:g}) for step = 0..{total}")
        ctx.expect_close(floats(got[start:start + total + 1], name), torch.tensor(want, dtype=torch.float64), name=name,
                         tol=FLOAT64, hints=SCHEDULE_MISTAKES(total=total, warmup=warmup, peak=peak, initial=initial, low=low))
        start += total + 1


@check(points=2, visibility="public", kind="snapshot", targets=("lr_at_step",),
       description="lr_at_step: every step of seven schedules (with and without warm-up, warm-up over all steps) "
                   "matches the stored reference rates")
def lr_schedule_values(ctx: Context) -> None:
    cases = load_json(SUITE.assignment)["lr_at_step"]
    schedules = [tuple(c["args"]) for c in cases]
    ctx.example(config={"schedules": [dict(zip(("total_steps", "warmup_steps", "peak_lr", "initial_lr", "min_lr"), s))
                                      for s in schedules]})
    (got,) = ctx.fetch(schedule_table(ctx, schedules))
    expect_schedule(ctx, got, schedules, [c["lrs"] for c in cases])


@check(points=1, visibility="public", kind="property", targets=("lr_at_step",),
       description="lr_at_step: step < 0, step > total_steps, warmup_steps < 0 and warmup_steps > total_steps raise "
                   "a ValueError naming the argument and its value")
def lr_schedule_errors(ctx: Context) -> None:
    bad = [("step", (-1, 10, 2, 1e-3)), ("step", (11, 10, 2, 1e-3)), ("warmup_steps", (0, 10, 11, 1e-3)),
           ("warmup_steps", (0, 10, -1, 1e-3))]
    ctx.example(config={"calls": [list(args) for _, args in bad]})
    got = ctx.fetch(*(ctx.call("lr_at_step", *args, catch=True) for _, args in bad))
    for (name, args), raised in zip(bad, got):
        value = args[0] if name == "step" else args[2]
        ctx.expect_raises(raised, f"lr_at_step{args}", mention=(name, str(value)))


# -- evaluate_model and the trainers on ToyGPT ------------------------------------------------------------
def toy_setup(seed: int, *, n_train: int, n_val: int, B: int = 2, T: int = 5
              ) -> tuple[ToyGPT, list[tuple[torch.Tensor, torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]:
    """A float64 ToyGPT with seeded weights, and lists of (input, target) batches of byte ids."""
    model = ToyGPT(V, CONTEXT, EMB, n_layers=2).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.6)
    data = torch.randint(0, V, (n_train + n_val, B, T + 1), generator=gen)
    batches = [(x[:, :-1].clone(), x[:, 1:].clone()) for x in data]
    return model, batches[:n_train], batches[n_train:]


def toy_in_worker(ctx: Context, model: ToyGPT) -> Ref:
    """The same ToyGPT (weights and all) inside the worker, in training mode."""
    weights = {k: v.detach() for k, v in model.state_dict().items()}
    return RuntimeModel("toy_gpt", "ToyGPT", (V, CONTEXT, EMB, 2), weights, train=True).build(ctx.p)


def batch_loss(model: ToyGPT, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean cross-entropy of `model` over `batches` (a06's contract), for the property below."""
    with torch.no_grad():
        losses = [torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()) for x, y in batches]
    return float(torch.stack(losses).mean())


@check(points=2, visibility="public", kind="property", targets=("evaluate_model",), max_examples=6,
       description="evaluate_model: the model runs in eval mode without gradients on the first eval_iter batches of "
                   "each loader, the losses are their mean cross-entropy, and the model is in training mode after")
@given(n=st.integers(2, 4), data=st.data(), seed=sg.seeds())
def evaluate_mode_and_grad(ctx: Context, n: int, data: st.DataObject, seed: int) -> None:
    eval_iter = data.draw(st.integers(1, n - 1), label="eval_iter")
    model, train, val = toy_setup(seed, n_train=n, n_val=n)
    ctx.example(config={"model": "ToyGPT in training mode", "batches per loader": n, "eval_iter": eval_iter})
    m = toy_in_worker(ctx, model)
    out = ctx.call("evaluate_model", m, train, val, "cpu", eval_iter, grad=True)  # as in training: grad on
    got = ctx.fetch(out=out, modes=ctx.p.get(m, "modes"), grad=ctx.p.get(m, "grad_enabled"),
                    training=ctx.p.get(m, "training"))
    ctx.expect(len(got["modes"]) == 2 * eval_iter, f"evaluate_model called the model on {len(got['modes'])} batches, "
                                                   f"expected eval_iter={eval_iter} from each of the two loaders "
                                                   f"({2 * eval_iter})")
    ctx.expect(not any(got["modes"]), "evaluate_model ran the model in training mode: switch to eval mode, "
                                      "model.eval(), before computing the losses (dropout off)")
    ctx.expect(not any(got["grad"]), "evaluate_model ran the model with gradients on: compute the losses inside "
                                     "torch.no_grad()")
    ctx.expect(got["training"] is True, "after evaluate_model the model is still in eval mode: switch it back to "
                                        "training mode, model.train(), before returning")
    model.eval()
    want = torch.tensor([batch_loss(model, train[:eval_iter]), batch_loss(model, val[:eval_iter])], dtype=torch.float64)
    ctx.expect_close(floats(got["out"], "evaluate_model's result"), want, tol=FLOAT64,
                     name="(train_loss, val_loss) returned by evaluate_model")


def trainer_call(ctx: Context, trainer: str, model: ToyGPT, train: list[Any], val: list[Any], *, lr: float,
                 n_epochs: int, eval_freq: int, eval_iter: int, **extra: Any) -> dict[str, Any]:
    """Run the learner's `trainer` on ToyGPT with RecordingSGD; its result, final weights, optimizer record, lrs."""
    m = toy_in_worker(ctx, model)
    opt = ctx.runtime("a07_helpers.RecordingSGD", m, lr)
    out = ctx.call(trainer, m, train, val, opt, "cpu", n_epochs, eval_freq, eval_iter, START,
                   ctx.runtime("toys.ByteTokenizer"), grad=True, catch=True, **extra)
    return ctx.fetch(out=out, state=ctx.p.state(m), steps=ctx.p.get(opt, "steps"), lrs=ctx.runtime("optim.lrs", opt))


def trainer_result(got: dict[str, Any], trainer: str, n: int) -> list[Any]:
    """The trainer's n returned lists, or the failure that says what it returned instead."""
    out = got["out"]
    if isinstance(out, Raised):
        raise CheckFailure(f"{trainer}: your code raised {out}", raised=out,
                           hint=SCHEDULE_STEPS if "lr_at_step" in out.where else None)
    if not (isinstance(out, (list, tuple)) and len(out) == n):
        raise CheckFailure(f"{trainer} returned {describe(out)}, expected a tuple of {n} lists")
    return list(out)


@check(points=2, visibility="public", kind="property", targets=("train_model_simple", "train_model", "evaluate_model",
                                                              "lr_at_step"),
       description="trainers: tokens_seen counts tokens (B * T per batch) at every eval_freq-th step from step 0, one "
                   "loss pair per evaluation; train_model records lr_at_step(step, len(train_loader) * n_epochs, ...) "
                   "with peak_lr read before training, and sets it on every param group")
def trainers_track_tokens_and_lrs(ctx: Context) -> None:
    model, train, val = toy_setup(7, n_train=4, n_val=2)
    setup = {"lr": 0.05, "n_epochs": 2, "eval_freq": 3, "eval_iter": 1}
    tokens = torch.tensor([float((k + 1) * train[0][0].numel()) for k in range(len(train) * 2) if k % 3 == 0],
                          dtype=torch.float64)  # B * T tokens per batch, counted at every eval_freq-th step
    for trainer in TRAINERS:
        extra = {"warmup_steps": 3, "initial_lr": 0.01, "min_lr": 0.001} if trainer == "train_model" else {}
        ctx.example(config={"trainer": trainer, "model": "ToyGPT, SGD with two param groups", "batches": len(train),
                            "batch shape": list(train[0][0].shape), **setup, **extra})
        got = trainer_call(ctx, trainer, model, train, val, **setup, **extra)
        result = trainer_result(got, trainer, 4 if trainer == "train_model" else 3)
        ctx.expect_close(floats(result[2], "track_tokens_seen"), tokens, tol=FLOAT64,
                         name=f"track_tokens_seen returned by {trainer} (count tokens, input_batch.numel() per batch)")
        for i, what in enumerate(("train_losses", "val_losses")):
            ctx.expect(len(floats(result[i], what)) == len(tokens), f"{trainer} returned {len(result[i])} {what}, "
                       f"expected one per evaluation ({len(tokens)}: steps where global_step % eval_freq == 0, from "
                       f"step 0)")
    total = len(train) * setup["n_epochs"]
    sched = (total, 3, setup["lr"], 0.01, 0.001)
    (own,) = ctx.fetch(schedule_table(ctx, [sched]))
    ctx.expect_close(floats(result[3], "track_lrs"), floats(own[:total], "lr_at_step"), tol=FLOAT64,
                     name=f"track_lrs returned by train_model (expected your lr_at_step(step, total_steps={total} = "
                          f"len(train_loader) * n_epochs, warmup_steps=3, peak_lr={setup['lr']} read once from "
                          f"param_groups[0]['lr'] before training, ...))")
    ctx.expect(all(math.isclose(lr, float(result[3][-1])) for lr in got["lrs"]), f"after train_model the param "
               f"groups' lrs are {got['lrs']}, expected the last scheduled lr {float(result[3][-1]):g} in every param group")


def batch_grad_norms(model: ToyGPT, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[list[float], list[float]]:
    """The global gradient norm of each batch's mean cross-entropy at `model`'s weights, and of batches 0..k summed."""
    norms, summed, total = [], [], None
    for x, y in batches:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        g = torch.cat([p.grad.flatten() for p in model.parameters()])
        total = g if total is None else total + g
        norms.append(float(g.norm()))
        summed.append(float(total.norm()))
    return norms, summed


@check(points=3, visibility="public", kind="property", targets=("train_model_simple", "train_model", "evaluate_model",
                                                              "lr_at_step"),
       description="trainers, with every learning rate 0 (so the weights never move): at each optimizer.step() the "
                   "gradients are this batch's alone (zero_grad), clipped to norm 1 from global_step >= warmup_steps "
                   "on (train_model), and the model was called once per batch, eval_iter times per loader per "
                   "evaluation (after the step) and 50 times per sample after each epoch")
def trainers_follow_the_loop(ctx: Context) -> None:
    model, train, val = toy_setup(11, n_train=4, n_val=2)
    setup = {"lr": 0.0, "n_epochs": 2, "eval_freq": 3, "eval_iter": 1}
    per_epoch = batch_grad_norms(model, train)
    norms, summed = per_epoch[0] * 2, batch_grad_norms(model, train * 2)[1]
    steps = len(train) * 2
    evals = [int(k % setup["eval_freq"] == 0) for k in range(steps)]
    calls = [k + 1 + 2 * sum(evals[:k]) + 50 * (k // len(train)) for k in range(steps)]
    for trainer in TRAINERS:
        warmup = 2 if trainer == "train_model" else None
        extra = {"warmup_steps": 2, "initial_lr": 0.0, "min_lr": 0.0} if warmup is not None else {}
        ctx.example(config={"trainer": trainer, "model": "ToyGPT, SGD at lr 0", "batches": len(train), **setup, **extra})
        got = trainer_call(ctx, trainer, model, train, val, **setup, **extra)
        trainer_result(got, trainer, 4 if warmup is not None else 3)
        record = got["steps"]
        ctx.expect(isinstance(record, list) and len(record) == steps, f"{trainer}: the optimizer recorded "
                   f"{describe(record)}, expected one optimizer.step() per batch ({steps})")
        ctx.expect_close(floats([s["forwards"] for s in record], "model calls"), torch.tensor(calls, dtype=torch.float64),
                         tol=FLOAT64, name=f"number of model calls before each optimizer.step() in {trainer}",
                         hints=LOOP_CALLS(calls=calls, evals=evals, per_eval=2, n=len(train)))
        ctx.expect_close(floats([s["grad_norm"] for s in record], "gradient norms"),
                         torch.tensor([min(x, 1.0) if warmup is not None and k >= warmup else x
                                       for k, x in enumerate(norms)], dtype=torch.float64),
                         tol=CLIP_TOL, name=f"global gradient norm at each optimizer.step() in {trainer}",
                         hints=LOOP_NORMS(norms=norms, summed=summed, warmup=warmup))
