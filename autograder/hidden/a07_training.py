"""Hidden checks for a07_training: differential against reference/a07_training.py (torch.optim.AdamW, clip_grad_norm_)."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import torch
from hypothesis import strategies as st

import reference.a07_training as ref
from autograder import strategies as sg
from autograder.kit import FLOAT64, Context, Tolerance, given
from autograder.mistakes.a07_training import ADAMW_MISTAKES
from autograder.runtime import a07_helpers as helpers
from autograder.runtime import optim
from autograder.runtime.toys import ByteTokenizer
from autograder.suites.a07_training import (CLIP_TOL, SUITE, START, clip_call, clip_case, expect_clipped,
                                            expect_schedule, floats, run_adamw, schedule_table, toy_in_worker,
                                            toy_setup, trainer_call, trainer_result)

check = SUITE.check
# float32 AdamW: the solution and the bank's alternatives stay within 1e-6 of torch.optim.AdamW over 5 steps
ADAMW_FLOAT32 = Tolerance(rtol=2e-6, atol=2e-6)
# the contract accepts clipping by max_norm / total_norm exactly: that moves the trainers' results by < 1e-7 relative
TRAIN_TOL = Tolerance(rtol=1e-6, atol=1e-7)
STEPS = 5


@check(points=6, visibility="hidden", kind="differential", targets=("AdamW",), max_examples=8,
       description="AdamW: five steps on random gradients match torch.optim.AdamW, in float64 and float32, for "
                   "several param groups with their own hyperparameters, .grad None at some steps, lr changed midway")
@given(shapes=st.lists(sg.shapes(max_dims=2, max_side=4), min_size=2, max_size=4), seed=sg.seeds(),
       lr=st.sampled_from([1e-3, 0.05, 0.2]), eps=st.sampled_from([1e-8, 1e-4, 0.1]),
       betas=st.sampled_from([(0.9, 0.999), (0.8, 0.95), (0.0, 0.5)]), wd=st.sampled_from([0.0, 0.01, 0.3]),
       dtype=st.sampled_from([torch.float64, torch.float32]), scale=st.sampled_from([1e-3, 1.0, 30.0]),
       nones=st.sets(st.tuples(st.integers(0, STEPS - 1), st.integers(0, 3)), max_size=4),
       lr_step=st.integers(1, STEPS - 1))
def adamw_matches_reference(ctx: Context, shapes: list[tuple[int, ...]], seed: int, lr: float, eps: float,
                            betas: tuple[float, float], wd: float, dtype: torch.dtype, scale: float,
                            nones: set[tuple[int, int]], lr_step: int) -> None:
    n = len(shapes)
    values = [sg.make_tensor(s, seed + i, dtype=dtype) for i, s in enumerate(shapes)]
    sched = [[None if (k, i) in nones else sg.make_tensor(s, seed + 10 * (k + 1) + i, dtype=dtype, scale=scale)
              for i, s in enumerate(shapes)] for k in range(STEPS)]
    groups = [{"n": 1}, {"n": n - 1, "lr": lr * 3, "weight_decay": 0.05, "eps": 0.01, "betas": (0.7, 0.9)}]
    group_lrs = [[lr / 2, lr] if k == lr_step else None for k in range(STEPS)]
    hyper = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": wd}
    ctx.example(shapes={f"p{i}": list(s) for i, s in enumerate(shapes)},
                config={**hyper, "dtype": str(dtype), "gradient_scale": scale, "groups": groups,
                        "grad None at (step, param)": sorted(nones), "lrs changed at step": lr_step})
    # the reference one step at a time, keeping its state before each step for the hints
    params = optim.parameters(values)
    opt = ref.AdamW(optim.param_groups(params, groups), **hyper)
    want, before, lrs = [], [], []
    for k in range(STEPS):
        before.append([{key: v.clone() if isinstance(v, torch.Tensor) else v for key, v in opt.state[p].items()}
                       for p in params])
        want += optim.optimizer_steps(opt, params, [sched[k]], [group_lrs[k]])
        lrs.append([g["lr"] for g in opt.param_groups])
    rows = run_adamw(ctx, values, groups, sched, group_lrs, **hyper)
    tol = FLOAT64 if dtype == torch.float64 else ADAMW_FLOAT32
    for k in range(STEPS):
        for i in range(n):
            grp = 0 if i == 0 else 1
            g_opts = {**hyper, **{key: v for key, v in groups[grp].items() if key != "n"}}
            s = before[k][i]
            zeros = torch.zeros_like(values[i])
            hints = ADAMW_MISTAKES(p=want[k - 1][i] if k else values[i], g=sched[k][i], m=s.get("exp_avg", zeros),
                                   v=s.get("exp_avg_sq", zeros), t=int(s.get("step", 0)), t_opt=k, lr=lrs[k][grp],
                                   lr0=lr, wd=g_opts["weight_decay"], eps=g_opts["eps"], b1=g_opts["betas"][0],
                                   b2=g_opts["betas"][1])
            none = " (its .grad is None at this step)" if sched[k][i] is None else ""
            ctx.expect_close(rows[k][i], want[k][i], tol=tol, hints=hints,
                             name=f"parameter {i} (group {grp}, shape {tuple(shapes[i])}) after step {k + 1}{none}")


@check(points=2, visibility="hidden", kind="differential", targets=("clip_grad_norm",), max_examples=12,
       description="clip_grad_norm: the returned norm and every gradient match torch.nn.utils.clip_grad_norm_, "
                   "float64 and float32, with max_norm above and below the global norm")
@given(shapes=st.lists(sg.shapes(max_dims=3, max_side=4), min_size=1, max_size=5), seed=sg.seeds(),
       none_at=st.integers(-1, 4), max_norm=st.sampled_from([0.0, 0.5, 2.0, 5.0, 1e3]),
       dtype=st.sampled_from([torch.float64, torch.float32]))
def clip_matches_reference(ctx: Context, shapes: list[tuple[int, ...]], seed: int, none_at: int, max_norm: float,
                           dtype: torch.dtype) -> None:
    values, grads, norm = clip_case(shapes, seed, none_at, dtype)
    ctx.example(shapes={f"grad{i}": None if g is None else list(g.shape) for i, g in enumerate(grads)},
                config={"max_norm": max_norm, "dtype": str(dtype)})
    want = helpers.clip(ref.clip_grad_norm, values, grads, max_norm)
    (got,) = ctx.fetch(clip_call(ctx, values, grads, max_norm))
    expect_clipped(ctx, got, grads, want["norm"].double(), want["grads"], max_norm, CLIP_TOL,
                   f"clip_grad_norm(parameters, max_norm={max_norm:g})")


@check(points=1, visibility="hidden", kind="differential", targets=("lr_at_step",), max_examples=15,
       description="lr_at_step: every step of random schedules matches the reference")
@given(total=st.integers(1, 30), data=st.data(), peak=st.sampled_from([1e-3, 0.5]),
       initial=st.sampled_from([0.0, 3e-5]), low=st.sampled_from([0.0, 1e-6, 1e-4]))
def lr_schedule_matches_reference(ctx: Context, total: int, data: st.DataObject, peak: float, initial: float,
                                  low: float) -> None:
    sched = (total, data.draw(st.integers(0, total), label="warmup_steps"), peak, initial, low)
    ctx.example(config=dict(zip(("total_steps", "warmup_steps", "peak_lr", "initial_lr", "min_lr"), sched)))
    (got,) = ctx.fetch(schedule_table(ctx, [sched]))
    expect_schedule(ctx, got, [sched], [[ref.lr_at_step(k, *sched) for k in range(total + 1)]])


@check(points=1, visibility="hidden", kind="differential", targets=("evaluate_model",), max_examples=6,
       description="evaluate_model: both losses match the reference's, eval_iter below and above the loaders' length")
@given(n=st.integers(1, 4), eval_iter=st.integers(1, 5), seed=sg.seeds())
def evaluate_matches_reference(ctx: Context, n: int, eval_iter: int, seed: int) -> None:
    model, train, val = toy_setup(seed, n_train=n, n_val=n + 1)
    ctx.example(config={"batches": [n, n + 1], "eval_iter": eval_iter})
    want = torch.tensor(ref.evaluate_model(copy.deepcopy(model), train, val, "cpu", eval_iter), dtype=torch.float64)
    (got,) = ctx.fetch(ctx.call("evaluate_model", toy_in_worker(ctx, model), train, val, "cpu", eval_iter,
                                  grad=True))
    ctx.expect_close(floats(got, "evaluate_model's result"), want, tol=FLOAT64,
                     name="(train_loss, val_loss) returned by evaluate_model")


def compare_trainer(ctx: Context, trainer: str, seed: int, *, n_batches: int, n_epochs: int, eval_freq: int,
                    eval_iter: int, lr: float, **extra: Any) -> None:
    """The learner's trainer against the reference's: returned lists, final weights, and a sample per epoch."""
    model, train, val = toy_setup(seed, n_train=n_batches, n_val=2)
    setup = {"n_epochs": n_epochs, "eval_freq": eval_freq, "eval_iter": eval_iter, "lr": lr, **extra}
    ctx.example(config={"trainer": trainer, "model": "ToyGPT, SGD with two param groups", "batches": n_batches, **setup})
    ref_model = copy.deepcopy(model)
    opt, printed = helpers.RecordingSGD(ref_model, lr), io.StringIO()  # the learner's side gets the same
    with contextlib.redirect_stdout(printed):
        want = getattr(ref, trainer)(ref_model, train, val, opt, "cpu", n_epochs, eval_freq, eval_iter, START,
                                     ByteTokenizer(), **extra)
    seen = len(ctx.output)
    got = trainer_call(ctx, trainer, model, train, val, **setup)
    result = trainer_result(got, trainer, len(want))
    for name, a, b in zip(("train_losses", "val_losses", "track_tokens_seen", "track_lrs"), result, want):
        ctx.expect_close(floats(a, name), torch.tensor(b, dtype=torch.float64), name=f"{name} returned by {trainer}",
                         tol=TRAIN_TOL)
    for k, v in ref_model.state_dict().items():
        ctx.expect_close(got["state"].get(k), v, name=f"model.{k} after {trainer}", tol=TRAIN_TOL)
    said = "".join("".join(ctx.output[seen:]).split())  # this run's output, whitespace dropped
    at = 0
    for epoch, line in enumerate(printed.getvalue().splitlines()):
        at = said.find("".join(line.split()), at)
        ctx.expect(at >= 0, f"{trainer}: the greedy sample after epoch {epoch + 1} is missing from what it printed "
                            f"(call generate_and_print_sample(model, tokenizer, device, start_context) after each epoch)")


@check(points=3, visibility="hidden", kind="differential", targets=("train_model_simple", "evaluate_model"),
       max_examples=2,
       description="train_model_simple: the returned losses and token counts, the final weights and a sample printed "
                   "after each epoch match the reference's (ToyGPT, SGD, same weights and batches)")
@given(seed=sg.seeds(), n_batches=st.integers(2, 4), eval_freq=st.integers(1, 3))
def train_simple_matches_reference(ctx: Context, seed: int, n_batches: int, eval_freq: int) -> None:
    compare_trainer(ctx, "train_model_simple", seed, n_batches=n_batches, n_epochs=2, eval_freq=eval_freq,
                    eval_iter=1, lr=0.05)


@check(points=4, visibility="hidden", kind="differential", targets=("train_model", "evaluate_model", "lr_at_step"),
       max_examples=3,
       description="train_model: losses, token counts, learning rates, final weights and samples match the "
                   "reference's for warm-ups of 0 and 3 steps (clipping from global_step >= warmup_steps)")
def train_model_matches_reference(ctx: Context) -> None:
    for warmup in (0, 3):
        compare_trainer(ctx, "train_model", warmup, n_batches=4, n_epochs=2, eval_freq=2, eval_iter=1, lr=0.05,
                        warmup_steps=warmup, initial_lr=0.01, min_lr=0.001)
