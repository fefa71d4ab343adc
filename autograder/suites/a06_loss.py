"""Public checks for a06_loss: properties and snapshots, no reference needed.

Every expected value here is computed by hand in the check: a row of equal logits has loss log C,
a row with logit a at the target and 0 elsewhere has loss log(1 + (C - 1) e^-a), and in general
loss = logsumexp(x) - x_y with gradient softmax(x) - onehot(y), averaged over the kept positions.
The model behind calc_loss_batch and calc_loss_loader is the runtime's TableLM, a bigram table
whose logits are table[idx], so a06 is graded without the learner's GPT.

Decisions the contract leaves open: the bans hold inside `cross_entropy` only (calc_loss_batch may call
F.cross_entropy, as the book does) and include torch.logsumexp, since log-sum-exp is the task; every
position ignored gives nan, as in PyTorch (its gradient is not graded: 0 in PyTorch, nan for sum/count).

The snapshot data that is not tensor-in/tensor-out (integer targets, tables, batches) lives in
`snapshots/a06_loss.json`, built by `JSON_SNAPSHOTS` (see autograder/snapshots.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.checks import CheckAbort, Context, Suite
from autograder.compare import FLOAT64, CheckFailure, Tolerance, assert_close, describe
from autograder.program import Program, Ref
from autograder.properties import check_raised
from autograder.runtime.values import Raised
from autograder.scan import Ban
from autograder.snapshots import SnapshotCase, load_json
from autograder.snapshots import register as register_snapshots

CE, T2I, I2T, BATCH, LOADER, PPL = ("cross_entropy", "text_to_token_ids", "token_ids_to_text", "calc_loss_batch",
                                    "calc_loss_loader", "perplexity")
EOT = "<|endoftext|>"
# cross_entropy must build log-softmax itself; calc_loss_batch may use F.cross_entropy (the book does)
CE_BANS = ("torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss", "torch.nn.functional.nll_loss",
           "torch.nn.NLLLoss", "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
           "torch.special.log_softmax", "torch.nn.LogSoftmax", "torch.logsumexp", "torch.Tensor.logsumexp",
           "torch.special.logsumexp")
SUITE = Suite("a06_loss", bans=[Ban(api, scope=CE) for api in CE_BANS])
check = SUITE.check

SNAPSHOTS = [SnapshotCase("perplexity", PPL, {"loss": ()}, seed=0, scale=2.0)]  # loss 3.08
LARGE = 1e4  # logits of this size overflow exp in float32 and float64 alike
# float32 logits of size M carry rounding of M * 2**-24 per operation. tests/test_a06_loss.py measures the worst
# error of correct float32 implementations, targets at the row maximum included (where the loss is small and
# only that rounding is left): the solution stays under 0.001 such ulps, logsumexp = m + log(sum(exp(x - m)))
# followed by - x_y (which cancels) under 1. The mistakes are off by O(1) or inf.
F32_ULPS = 8
# float32 gradients are softmax - onehot, in [-1, 1]: a few roundings of 2**-24 each
FLOAT32_GRAD = Tolerance(rtol=1e-4, atol=1e-6)


def float32_tolerance(magnitude: float) -> Tolerance:
    """Tolerance for a float32 loss computed from logits of size `magnitude` (see F32_ULPS)."""
    return Tolerance(rtol=1e-4, atol=1e-5 + F32_ULPS * 2.0**-24 * magnitude)


# -- losses by hand --------------------------------------------------------------------------
def nll_by_hand(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position loss logsumexp(x) - x_y in float64 over (N, C) rows, and the (N,) mask of kept positions."""
    C = logits.shape[-1]
    x = logits.detach().double().reshape(-1, C)
    t = targets.reshape(-1)
    keep = t != ignore_index
    safe = torch.where(keep, t, torch.zeros_like(t)).clamp(0, C - 1)
    return torch.logsumexp(x, -1) - x.gather(1, safe[:, None])[:, 0], keep


def loss_by_hand(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    per, keep = nll_by_hand(logits, targets, ignore_index)
    return per[keep].mean()


def grad_by_hand(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """d loss / d logits = (softmax(x) - onehot(y)) / n_kept on kept rows, 0 on ignored rows."""
    C = logits.shape[-1]
    x = logits.detach().double().reshape(-1, C)
    t = targets.reshape(-1)
    keep = t != ignore_index
    onehot = torch.nn.functional.one_hot(torch.where(keep, t, torch.zeros_like(t)).clamp(0, C - 1), C)
    g = (torch.softmax(x, -1) - onehot) * keep[:, None] / keep.sum()
    return g.reshape(logits.shape).to(logits.dtype)


OVERFLOW_HINT = ("exp(1e4) overflowed to inf: subtract each row's maximum m before exp, "
                 "logsumexp(x) = m + log(sum(exp(x - m)))")
UNDERFLOW_HINT = ("log(softmax(x)) underflowed to log(0) = -inf: the target's probability e^-1e4 is 0 in floating "
                  "point; use log p_y = x_y - logsumexp(x) (with the max subtracted) instead")
NONFINITE_HINT = ("your loss is inf or nan for large logits: exp(x) overflowed (subtract each row's maximum m first: "
                  "logsumexp(x) = m + log(sum(exp(x - m)))), or log(softmax(x)) underflowed to log(0) = -inf (use "
                  "log p_y = x_y - logsumexp(x) instead of taking the log of a probability)")


def cross_entropy_variants(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> dict[str, float]:
    """Losses of known cross-entropy mistakes on these inputs, keyed by the hint a learner should read."""
    per, keep = nll_by_hand(logits, targets, ignore_index)
    C = logits.shape[-1]
    x = logits.detach().double().reshape(-1, C)
    t = targets.reshape(-1)
    kept = per[keep]
    v: dict[str, float] = {}
    if 0 <= ignore_index < C:  # then a target equal to ignore_index is also a valid class id
        lse = torch.logsumexp(x, -1)
        scored = t != -100
        v[f"your loss matches ignoring only -100 although ignore_index={ignore_index} was given: compare the "
          f"targets with the ignore_index argument"] = float(
            (lse - x.gather(1, t.clamp(0, C - 1)[:, None])[:, 0])[scored].mean())
    v["your loss matches the mean over all positions, ignored ones included in the count: divide by the number "
      "of positions whose target is not ignore_index"] = float(kept.sum() / t.numel())
    v["your loss matches counting the ignored positions as ordinary targets (scored as class 0): drop the "
      "positions whose target equals ignore_index"] = float(per.mean())
    v["your loss matches the sum over positions instead of the mean"] = float(kept.sum())
    v["your loss matches log base 2: cross-entropy uses the natural log (torch.log, math.log)"] = \
        float(kept.mean() / math.log(2))
    v["your loss matches the mean log-probability without the minus sign: the loss is -log p(target)"] = \
        float(-kept.mean())
    safe = torch.where(keep, t, torch.zeros_like(t)).clamp(0, C - 1)
    target_logit = x.gather(1, safe[:, None])[:, 0]
    v["your loss matches -logit[target] without log-sum-exp: subtract logsumexp(row) from the target's logit to get "
      "its log-probability"] = float(-target_logit[keep].mean())
    shifted = x - x.amax(0)  # one max per class, over the positions
    v["your loss matches subtracting the maximum over dim 0 (each class's maximum over the positions): the shift "
      "must be one number per row, the row's maximum over the classes (the last dim)"] = float(
        (torch.log(torch.exp(shifted).sum(-1)) - shifted.gather(1, safe[:, None])[:, 0])[keep].mean())
    if logits.dim() == 3 and logits.shape[0] > 1:
        rows = per.reshape(logits.shape[:2])
        kept_rows = keep.reshape(logits.shape[:2])
        if kept_rows.any(1).all():
            means = (rows * kept_rows).sum(1) / kept_rows.sum(1)
            v["your loss matches averaging each sequence first, then the sequences: average over all kept "
              "positions at once"] = float(means.mean())
    return v


def cross_entropy_hint(got: Any, logits: torch.Tensor, targets: torch.Tensor, ignore_index: int,
                       tol: Tolerance = FLOAT64) -> str | None:
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        return None
    value = float(got.double().reshape(()))
    if not math.isfinite(value):
        return NONFINITE_HINT
    for text, wrong in cross_entropy_variants(logits, targets, ignore_index).items():
        if math.isfinite(wrong) and abs(value - wrong) <= tol.atol + tol.rtol * abs(wrong):
            return text
    return None


# -- shared pieces ---------------------------------------------------------------------------
def _leads() -> st.SearchStrategy[tuple[int, ...]]:
    """Position shapes: (N,) rows or (B, T) sequences."""
    return st.one_of(st.tuples(st.integers(1, 6)), st.tuples(st.integers(1, 3), st.integers(1, 4)))


def make_targets(lead: tuple[int, ...], C: int, seed: int, *, ignore_index: int | None = None,
                 p_ignore: float = 0.3) -> torch.Tensor:
    """Random class ids; with `ignore_index`, about p_ignore of them set to it, position 0 always kept."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.randint(0, C, lead, generator=gen)
    if ignore_index is not None:
        t = t.masked_fill(torch.rand(lead, generator=gen) < p_ignore, ignore_index)
        flat = t.view(-1)
        if flat[0] == ignore_index:
            flat[0] = (ignore_index + 1) % C if 0 <= ignore_index < C else 0
    return t


def scalar_loss(got: Any, like: torch.Tensor, name: str, lead: tuple[int, ...] | None = None) -> torch.Tensor:
    """`got` when it is a 0-dim tensor of `like`'s dtype; otherwise the failure that says what it is instead."""
    if isinstance(got, torch.Tensor) and got.shape == () and got.dtype == like.dtype:
        return got
    try:
        assert_close(got, torch.zeros((), dtype=like.dtype), name=name, tol=FLOAT64)
    except CheckFailure as failure:
        if isinstance(got, torch.Tensor) and lead is not None and tuple(got.shape) == tuple(lead):
            failure.hint = "you returned one loss per position: return their mean over the kept positions, a 0-dim tensor"
        raise
    raise AssertionError("unreachable: assert_close accepted a value of another kind")


def _ce_call(p: Program, x: torch.Tensor, t: torch.Tensor, ignore_index: int, *, grad: bool,
             catch: bool = False) -> tuple[Ref, Ref | None]:
    """cross_entropy(x, t[, ignore_index]) in a program; with `grad`, also the gradient w.r.t. x (or the error)."""
    kwargs = {} if ignore_index == -100 else {"ignore_index": ignore_index}
    if not grad:
        return p.call(CE, x, t, no_grad=True, catch=catch, **kwargs), None
    leaf = p.leaf(f"logits{len(p.tensors)}", x)
    out = p.call(CE, leaf, t, catch=catch, **kwargs)
    p.backward(out, torch.ones((), dtype=x.dtype), catch=True)
    return out, p.grads([leaf], catch=True)


def _check_grad(got: Any, expected: torch.Tensor, name: str, tol: Tolerance = FLOAT64) -> None:
    if isinstance(got, Raised):
        raise CheckFailure(f"{name}: back-propagating failed: {got}", hint=(
            "the loss must stay connected to the logits: no .item(), .detach(), .numpy() or torch.no_grad() "
            "inside cross_entropy") if "require grad" in got.message else None)
    grad = got["inputs"][0] if isinstance(got, dict) else got
    if grad is None:
        raise CheckFailure(f"{name}: None; the loss is not connected to the logits (detached inside your code?)")
    assert_close(grad, expected, name=name, tol=tol)


def _abort_if_stub(ctx: Context, got: Any) -> None:
    if isinstance(got, Raised) and got.type == "NotImplementedError":
        ctx.aborted = CheckAbort("failed", f"not implemented yet: {got.message}")
        raise ctx.aborted


def as_float(got: Any, name: str) -> float:
    """A Python number or a one-element tensor, as a float; otherwise the failure that says what it is."""
    if isinstance(got, bool) or not isinstance(got, (int, float, torch.Tensor)) or (
            isinstance(got, torch.Tensor) and got.numel() != 1):
        raise CheckFailure(f"{name}: expected a Python float, got {describe(got)}")
    return float(got)


def floats_close(got: float, want: float, rel: float = 1e-9) -> bool:
    return (math.isnan(got) and math.isnan(want)) or math.isclose(got, want, rel_tol=rel, abs_tol=1e-12)


# -- snapshots -------------------------------------------------------------------------------
register_snapshots(SUITE, SNAPSHOTS)


def load_json_snapshot() -> dict[str, Any]:
    return load_json(SUITE.assignment)


@check(points=2, visibility="public", kind="snapshot", targets=(CE,),
       description="cross_entropy: loss and gradient match stored reference values for fixed logits (a (B, T, C) "
                   "batch with ignored positions, (N, C) rows with a custom ignore_index, logits of size 1e4)")
def cross_entropy_snapshot(ctx: Context) -> None:
    for case in load_json_snapshot()["cross_entropy"]:
        x = torch.tensor(case["logits"], dtype=torch.float64)
        t = torch.tensor(case["targets"], dtype=torch.int64)
        ii = case["ignore_index"]
        ctx.example(shapes={"logits": list(x.shape), "targets": list(t.shape)},
                    config={"case": case["name"], "ignore_index": ii}, values={"logits": x, "targets": t})
        p = ctx.program()
        out, grads = _ce_call(p, x, t, ii, grad=True)
        res = ctx.run(p.returns(out=out, grads=grads))
        name = f"cross_entropy on the stored case {case['name']!r}"
        loss = scalar_loss(res["out"], x, name, tuple(t.shape))
        try:
            assert_close(loss, torch.tensor(case["loss"], dtype=torch.float64), name=name, tol=FLOAT64)
        except CheckFailure as failure:
            failure.hint = cross_entropy_hint(loss, x, t, ii)
            raise
        _check_grad(res["grads"], torch.tensor(case["grad"], dtype=torch.float64), f"gradient of {name}")


# -- cross_entropy: values -------------------------------------------------------------------
def _expect_loss(got: Any, want: float | torch.Tensor, x: torch.Tensor, t: torch.Tensor, ii: int, name: str,
                 tol: Tolerance = FLOAT64) -> None:
    loss = scalar_loss(got, x, name, tuple(t.shape))
    expected = torch.as_tensor(want, dtype=torch.float64).to(x.dtype)
    try:
        assert_close(loss, expected, name=name, tol=tol)
    except CheckFailure as failure:
        failure.hint = cross_entropy_hint(loss, x, t, ii, tol)
        raise


@check(points=3, visibility="public", kind="property", targets=(CE,), max_examples=8,
       description="cross_entropy: log C for a row of equal logits, log(1 + (C-1) e^-a) for logit a at the target "
                   "and 0 elsewhere, and logsumexp(x) - x_y averaged over positions for random logits; (N, C) rows "
                   "and (B, T, C) batches")
def cross_entropy_known_values(ctx: Context) -> None:
    @ctx.given(lead=_leads(), C=st.integers(2, 6), seed=sg.seeds(), a=st.sampled_from([-2.0, 0.5, 3.0]))
    def _(lead: tuple[int, ...], C: int, seed: int, a: float) -> None:
        t = make_targets(lead, C, seed)
        row_const = sg.make_tensor((*lead, 1), seed + 1, scale=5.0)
        cases = {
            "rows of equal logits (a different constant per row)": (row_const.expand(*lead, C).contiguous(),
                                                                    math.log(C)),
            f"logit {a:g} at the target and 0 elsewhere": (torch.nn.functional.one_hot(t, C).double() * a,
                                                            math.log1p((C - 1) * math.exp(-a))),
        }
        mixed = sg.make_tensor((*lead, C), seed + 2, scale=2.0)
        cases["random logits"] = (mixed, loss_by_hand(mixed, t))
        ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)}, config={"C": C, "a": a},
                    values={"random logits": mixed, "targets": t})
        p = ctx.program()
        res = ctx.run(p.returns(**{k: _ce_call(p, x, t, -100, grad=False)[0] for k, (x, _) in cases.items()}))
        for label, (x, want) in cases.items():
            _expect_loss(res[label], want, x, t, -100, f"cross_entropy on {label}, logits {tuple(x.shape)}")


@check(points=2, visibility="public", kind="property", targets=(CE,), max_examples=8,
       description="cross_entropy: the gradient w.r.t. the logits is (softmax(x) - onehot(y)) / N")
def cross_entropy_gradient(ctx: Context) -> None:
    @ctx.given(lead=_leads(), C=st.integers(2, 6), seed=sg.seeds())
    def _(lead: tuple[int, ...], C: int, seed: int) -> None:
        t = make_targets(lead, C, seed)
        x = sg.make_tensor((*lead, C), seed + 1, scale=2.0)
        ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)}, values={"logits": x, "targets": t})
        p = ctx.program()
        out, grads = _ce_call(p, x, t, -100, grad=True)
        res = ctx.run(p.returns(out=out, grads=grads))
        _expect_loss(res["out"], loss_by_hand(x, t), x, t, -100, "cross_entropy")
        _check_grad(res["grads"], grad_by_hand(x, t), "gradient of cross_entropy w.r.t. logits (expected "
                    "(softmax(x) - onehot(y)) / N)")


@check(points=3, visibility="public", kind="property", targets=(CE,), max_examples=10,
       description="cross_entropy: positions whose target is ignore_index (-100 by default, or any given value, "
                   "a valid class id included) are left out of the mean and get zero gradient; all ignored -> nan")
def cross_entropy_ignore_index(ctx: Context) -> None:
    @ctx.given(lead=_leads(), C=st.integers(2, 6), seed=sg.seeds(), which=st.sampled_from(["-100", "-1", "0", "C-1"]))
    def _(lead: tuple[int, ...], C: int, seed: int, which: str) -> None:
        ii = {"-100": -100, "-1": -1, "0": 0, "C-1": C - 1}[which]
        t = make_targets(lead, C, seed, ignore_index=ii, p_ignore=0.4)
        x = sg.make_tensor((*lead, C), seed + 1, scale=2.0)
        n_kept = int((t != ii).sum())
        ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)},
                    config={"ignore_index": ii, "kept_positions": n_kept}, values={"logits": x, "targets": t})
        p = ctx.program()
        out, grads = _ce_call(p, x, t, ii, grad=True, catch=True)
        none_kept, _ = _ce_call(p, x, torch.full(lead, ii), ii, grad=False, catch=True)
        res = ctx.run(p.returns(out=out, grads=grads, none_kept=none_kept))
        name = f"cross_entropy with ignore_index={ii} ({n_kept} of {t.numel()} positions kept)"
        for key, what in (("out", name), ("none_kept", f"cross_entropy with every target = ignore_index={ii}")):
            _abort_if_stub(ctx, res[key])
            if isinstance(res[key], Raised):
                raise CheckFailure(f"{what}: your code raised {res[key]}", hint=(
                    f"compare the targets with the ignore_index argument ({ii}), not with -100, and give gather a "
                    f"valid index (0, say) at the ignored positions" if ii != -100 else None))
        _expect_loss(res["out"], loss_by_hand(x, t, ii), x, t, ii, name)
        _check_grad(res["grads"], grad_by_hand(x, t, ii), f"gradient of {name} (ignored positions get 0)")
        nan = scalar_loss(res["none_kept"], x, f"cross_entropy with every target = ignore_index={ii}")
        if not torch.isnan(nan):
            raise CheckFailure(f"cross_entropy with every target = ignore_index={ii}: got {float(nan):.6g}, expected nan "
                               f"(a mean over no positions; PyTorch's F.cross_entropy returns nan too)")


@check(points=2, visibility="public", kind="property", targets=(CE,), max_examples=6,
       description="cross_entropy: finite and correct for logits of size 1e4 (float32 and float64), with a finite "
                   "gradient; shifting every logit by 1e4 changes nothing")
def cross_entropy_large_logits(ctx: Context) -> None:
    @ctx.given(lead=_leads(), C=st.integers(3, 6), seed=sg.seeds())
    def _(lead: tuple[int, ...], C: int, seed: int) -> None:
        t = make_targets(lead, C, seed)
        onehot = torch.nn.functional.one_hot(t, C).double()
        rand = sg.make_tensor((*lead, C), seed + 1, scale=LARGE)
        cases = {"1e4 at the target, 0 elsewhere": (onehot * LARGE, 0.0, OVERFLOW_HINT),
                 "-1e4 at the target, 0 elsewhere": (onehot * -LARGE, LARGE + math.log(C - 1), UNDERFLOW_HINT),
                 "normal of scale 1e4": (rand, None, NONFINITE_HINT),
                 "normal of scale 1e4, plus 1e4": (rand + LARGE, None, NONFINITE_HINT)}
        ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)}, config={"logits": list(cases)})
        for dtype in (torch.float64, torch.float32):
            p = ctx.program()
            outs = {}
            for label, (x, _, _) in cases.items():
                outs[label], outs[f"{label} grad"] = _ce_call(p, x.to(dtype), t, -100, grad=True)
            res = ctx.run(p.returns(**outs))
            f64 = dtype == torch.float64
            for label, (x, want, why) in cases.items():
                xd = x.to(dtype)
                name = f"cross_entropy on {dtype_label(dtype)} logits {label}"
                loss = scalar_loss(res[label], xd, name, lead)
                if not torch.isfinite(loss):
                    raise CheckFailure(f"{name}: got {float(loss)}, expected a finite loss", hint=why)
                _expect_loss(loss, loss_by_hand(xd, t) if want is None else want, xd, t, -100, name,
                             FLOAT64 if f64 else float32_tolerance(2 * LARGE))
                _check_grad(res[f"{label} grad"], grad_by_hand(xd, t), f"gradient of {name}",
                            FLOAT64 if f64 else FLOAT32_GRAD)


def dtype_label(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@check(points=1, visibility="public", kind="property", targets=(CE,),
       description="cross_entropy: ValueError when logits.shape[:-1] != targets.shape, or a target is outside "
                   "[0, C) and not ignore_index (the message names the shapes or the value)")
def cross_entropy_rejects_bad_input(ctx: Context) -> None:
    x3 = sg.make_tensor((2, 3, 5), 1)
    x2 = sg.make_tensor((4, 4), 2)
    ctx.example(config={"logits": "(2, 3, 5) with targets (2, 4); (4, 4) with targets [0, 7, 1, -1]"})
    p = ctx.program()
    res = ctx.run(p.returns(
        shapes=p.call(CE, x3, torch.zeros(2, 4, dtype=torch.int64), no_grad=True, catch=True),
        too_big=p.call(CE, x2, torch.tensor([0, 7, 1, 2]), no_grad=True, catch=True),
        negative=p.call(CE, x2, torch.tensor([0, 1, -1, 2]), no_grad=True, catch=True)))
    check_raised(ctx, res["shapes"], "cross_entropy(logits of shape (2, 3, 5), targets of shape (2, 4))",
                 ("ValueError",), ("(2, 3, 5)", "(2, 4)"))
    check_raised(ctx, res["too_big"], "cross_entropy(logits (4, 4), targets [0, 7, 1, 2])", ("ValueError",), ("7",))
    check_raised(ctx, res["negative"], "cross_entropy(logits (4, 4), targets [0, 1, -1, 2]) with ignore_index=-100",
                 ("ValueError",), ("-1",))


@check(points=1, visibility="public", kind="integrity", targets=(CE,),
       description="cross_entropy: a 0-dim tensor of the logits' dtype (float32 and float64); logits and targets are "
                   "not modified")
def cross_entropy_keeps_dtype(ctx: Context) -> None:
    t = make_targets((2, 3), 4, 5, ignore_index=-100)
    for dtype in (torch.float32, torch.float64):
        x = sg.make_tensor((2, 3, 4), 6, dtype=dtype)
        ctx.example(shapes={"logits": [2, 3, 4], "targets": [2, 3]}, config={"dtype": dtype_label(dtype)})
        p = ctx.program()
        xr, tr = p.tensor("x", x), p.tensor("t", t)
        res = ctx.run(p.returns(out=p.call(CE, xr, tr, no_grad=True), x_after=xr, t_after=tr))
        scalar_loss(res["out"], x, f"cross_entropy on {dtype_label(dtype)} logits of shape (2, 3, 4)", (2, 3))
        if not (torch.equal(res["x_after"], x) and torch.equal(res["t_after"], t)):
            raise CheckFailure("cross_entropy modified its logits or targets in place (masked_fill_, t[t == -100] = 0, "
                               "...); compute on new tensors instead")


# -- text <-> token ids ----------------------------------------------------------------------
TEXTS = ("Hello, world!", "", "one<|endoftext|>two<|endoftext|>", "naïve café ☃ 🙂")


def _token_round_trip(ctx: Context, tokenizer: Callable[[Program], Ref], encode: Callable[[str], list[int]],
                      texts: tuple[str, ...], label: str, plain: Callable[[str], list[int]] | None = None) -> None:
    """text_to_token_ids gives (1, T) int64 = encode(text); token_ids_to_text of (1, T) and (T,) gives text back."""
    ctx.example(config={"tokenizer": label, "texts": list(texts)})
    p = ctx.program()
    tok = tokenizer(p)
    outs: dict[str, Any] = {}
    for i, text in enumerate(texts):
        ids = torch.tensor(encode(text), dtype=torch.int64)
        outs[f"ids{i}"] = p.call(T2I, text, tok, no_grad=True)
        outs[f"back2d{i}"] = p.call(I2T, ids[None], tok, no_grad=True, catch=True)
        outs[f"back1d{i}"] = p.call(I2T, ids, tok, no_grad=True, catch=True)
    res = ctx.run(p.returns(**outs))
    for i, text in enumerate(texts):
        want = torch.tensor(encode(text), dtype=torch.int64)[None]
        name = f"text_to_token_ids({text!r}, {label})"
        got = res[f"ids{i}"]
        if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(want.shape[1:]):
            raise CheckFailure(f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}",
                               hint="add the batch dimension: torch.tensor(ids).unsqueeze(0)")
        if isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype != torch.int64:
            raise CheckFailure(f"{name}: dtype {dtype_label(got.dtype)}, expected int64",
                               hint="pass dtype=torch.long: torch.tensor([]) is a float tensor, for empty text")
        try:
            assert_close(got, want, name=name, tol=FLOAT64)
        except CheckFailure as failure:
            if (plain is not None and isinstance(got, torch.Tensor) and got.dim() == 2
                    and got[0].tolist() == plain(text)):
                failure.hint = ("<|endoftext|> was encoded as ordinary text: call tokenizer.encode(text, "
                                "allowed_special={'<|endoftext|>'})")
            raise
        for key, shape in ((f"back2d{i}", tuple(want.shape)), (f"back1d{i}", tuple(want.shape[1:]))):
            back = res[key]
            _abort_if_stub(ctx, back)
            what = f"token_ids_to_text(ids of shape {shape}, {label}) for the text {text!r}"
            if isinstance(back, Raised):
                raise CheckFailure(f"{what}: your code raised {back}", hint=(
                    "decode wants a flat list of ints: squeeze the batch dim of a (1, T) tensor first, then .tolist()"
                    if len(shape) == 2 else "a (T,) tensor has no batch dim to remove: accept (1, T) and (T,)"))
            if back != text:
                raise CheckFailure(f"{what}: got {describe(back)}, expected the text back")


@check(points=2, visibility="public", kind="property", targets=(T2I, I2T),
       description="text_to_token_ids: (1, T) int64 ids with <|endoftext|> as one special id (also for empty text); "
                   "token_ids_to_text decodes (1, T) and (T,) ids back (a byte-level tokenizer)")
def token_ids_byte_tokenizer(ctx: Context) -> None:
    from autograder.runtime.toys import ByteTokenizer

    def plain(text: str) -> list[int]:
        return list(text.encode("utf-8"))

    _token_round_trip(ctx, lambda p: p.call(p.runtime("toys"), method="ByteTokenizer", learner=False),
                      lambda text: ByteTokenizer().encode(text, allowed_special={EOT}), TEXTS, "ByteTokenizer", plain)


# tiktoken's GPT-2 ids, written out so the grader need not load the encoding (~1 s); tests/test_a06_loss.py
# checks them against tiktoken
GPT2_IDS = {
    "The loss falls as the model learns.<|endoftext|>Perplexity: 12.5":
        [464, 2994, 8953, 355, 262, 2746, 22974, 13, 50256, 5990, 11141, 414, 25, 1105, 13, 20],
    "<|endoftext|>": [50256],
}


@check(points=1, visibility="public", kind="property", targets=(T2I, I2T), needs=("gpt2",),
       description="text_to_token_ids / token_ids_to_text with tiktoken's GPT-2 encoding: <|endoftext|> is id 50256 "
                   "(needs GPT-2's files)")
def token_ids_gpt2(ctx: Context) -> None:
    _token_round_trip(ctx, lambda p: p.call(p.runtime("a06_helpers"), method="gpt2_encoding", learner=False),
                      GPT2_IDS.__getitem__, tuple(GPT2_IDS), "tiktoken gpt2")


# -- calc_loss_batch / calc_loss_loader with a table model -----------------------------------
def table_model(p: Program, table: torch.Tensor, *, trainable: bool = False) -> Ref:
    return p.call(p.runtime("toys"), table, method="TableLM", learner=False, trainable=trainable)


def batch_loss_by_hand(table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """calc_loss_batch of TableLM(table) by hand: the loss and its gradient w.r.t. the table."""
    leaf = table.detach().clone().requires_grad_(True)
    logits = leaf[inputs]  # (B, T, V)
    keep = targets != -100
    safe = torch.where(keep, targets, torch.zeros_like(targets))
    per = torch.logsumexp(logits, -1) - logits.gather(-1, safe[..., None])[..., 0]  # (B, T)
    loss = per[keep].mean()
    loss.backward()
    return loss.detach(), leaf.grad


def batch_variants(table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    logits = table[inputs]
    v = {"your loss matches the inputs scored as targets: score logits against target_batch": float(
        loss_by_hand(logits, inputs))}
    if inputs.shape[0] > 1 and inputs.shape[1] > 1:
        v["your loss matches targets flattened in another order than the logits: flatten logits (B, T, V) -> "
          "(B*T, V) and targets (B, T) -> (B*T,) the same way"] = float(
            loss_by_hand(logits.flatten(0, 1), targets.T.flatten()[: inputs.numel()]))
    return v


def batch_hint(got: float, own_ce: Any, want: float, table: torch.Tensor, inputs: torch.Tensor,
               targets: torch.Tensor) -> str | None:
    if isinstance(own_ce, torch.Tensor) and own_ce.numel() == 1 and floats_close(got, float(own_ce), 1e-7) and \
            not floats_close(float(own_ce), want, 1e-7):
        return ("your calc_loss_batch equals your own cross_entropy on these logits, and that is what is off: fix "
                "cross_entropy first (see its checks)")
    for text, wrong in batch_variants(table, inputs, targets).items():
        if floats_close(got, wrong, 1e-7):
            return text
    return None


def lm_batch(V: int, B: int, T: int, seed: int, *, p_ignore: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, V, (B, T), generator=gen)
    return inputs, make_targets((B, T), V, seed + 1, ignore_index=-100, p_ignore=p_ignore)


@check(points=3, visibility="public", kind="property", targets=(BATCH,), max_examples=8,
       description="calc_loss_batch with a bigram table model: the mean next-token loss over the (B, T) positions "
                   "(targets -100 skipped), differentiable w.r.t. the model's parameters; leaves the model's "
                   "train/eval mode and gradient mode alone")
def calc_loss_batch_table_model(ctx: Context) -> None:
    @ctx.given(V=st.integers(3, 6), B=st.integers(1, 3), T=st.integers(1, 4), seed=sg.seeds())
    def _(V: int, B: int, T: int, seed: int) -> None:
        table = sg.make_tensor((V, V), seed, scale=2.0)
        inputs, targets = lm_batch(V, B, T, seed + 1)
        want, want_grad = batch_loss_by_hand(table, inputs, targets)
        ctx.example(shapes={"table": [V, V], "input_batch": [B, T], "target_batch": [B, T]},
                    config={"model": "TableLM: logits = table[input_batch]", "device": "cpu"},
                    values={"input_batch": inputs, "target_batch": targets})
        p = ctx.program()
        model = table_model(p, table, trainable=True)
        p.train(model, True)
        loss = p.call(BATCH, inputs, targets, model, "cpu")
        backward = p.backward(loss, torch.ones((), dtype=torch.float64), catch=True)
        grads = p.grads([], module=model, catch=True)
        p.train(model, False)
        loss_eval = p.call(BATCH, inputs, targets, model, "cpu")
        own = p.call(CE, table[inputs].flatten(0, 1), targets.flatten(), no_grad=True, catch=True)
        res = ctx.run(p.returns(loss=loss, backward=backward, grads=grads, loss_eval=loss_eval, own=own,
                                modes=p.get(model, "modes"), grad_enabled=p.get(model, "grad_enabled")))
        name = "calc_loss_batch(input_batch, target_batch, TableLM(table), 'cpu')"
        got = scalar_loss(res["loss"], want, name, (B, T))
        try:
            assert_close(got, want, name=name, tol=FLOAT64)
        except CheckFailure as failure:
            failure.hint = batch_hint(float(got), res["own"], float(want), table, inputs, targets)
            raise
        if res["modes"] != [True, False]:
            raise CheckFailure(f"{name}: the model ran in modes {res['modes']} (True = train) for two calls made in "
                               f"train mode and then eval mode; calc_loss_batch must not call model.train() or "
                               f"model.eval(): the caller decides")
        if res["grad_enabled"][0] is not True:
            raise CheckFailure(f"{name}: the model ran with gradients off (torch.no_grad?): training calls "
                               f"loss.backward() on this loss")
        if isinstance(res["backward"], Raised):
            raise CheckFailure(f"{name}: loss.backward() failed: {res['backward'].message}")
        assert_close(res["grads"]["params"].get("table"), want_grad, name="gradient of the loss w.r.t. the model's "
                     "table (loss.backward())", tol=FLOAT64)
        assert_close(res["loss_eval"], want, name=f"{name} with the model in eval mode", tol=FLOAT64)


def loader_variants(losses: list[float], sizes: list[int], num_batches: int | None) -> dict[str, float]:
    """calc_loss_loader results of known mistakes, from the per-batch losses of the whole loader."""
    n = len(losses)
    k = n if num_batches is None else min(num_batches, n)
    used = losses[:k]
    v: dict[str, float] = {}
    if k < n:
        v["your result matches dividing by len(data_loader) although only num_batches batches were used: divide by "
          "min(num_batches, len(data_loader))"] = sum(used) / n
        v["your result matches the mean over every batch of the loader: stop after num_batches batches"] = sum(losses) / n
        v["your result matches one batch too many (num_batches + 1): stop after the num_batches-th batch"] = \
            sum(losses[:k + 1]) / (k + 1)
        v["your result matches adding num_batches + 1 batch losses and dividing by num_batches: the loop runs one "
          "batch too far (i <= num_batches?)"] = sum(losses[:k + 1]) / k
    if num_batches is not None and num_batches > n:
        v["your result matches dividing by num_batches although the loader has fewer batches: use "
          "min(num_batches, len(data_loader))"] = sum(losses) / num_batches
    if k > 1:
        v["your result matches the loss of the last batch only: add up every batch's loss, then divide"] = used[-1]
        v["your result matches the last batch's loss divided by the number of batches: the running total is "
          "overwritten (total = ...) instead of added to (total += ...)"] = used[-1] / k
        v["your result matches the sum of the batch losses: divide by the number of batches used"] = sum(used)
        v["your result matches one batch too few: use all of the first num_batches batches"] = sum(used[:-1]) / (k - 1)
        if len(set(sizes[:k])) > 1:
            v["your result matches weighting each batch by its number of scored tokens: the contract is the plain "
              "mean of the batch losses"] = sum(x * s for x, s in zip(used, sizes)) / sum(sizes[:k])
    return v


def loader_hint(got: float, losses: list[float], sizes: list[int], num_batches: int | None) -> str | None:
    if math.isnan(got):
        return None
    return next((text for text, wrong in loader_variants(losses, sizes, num_batches).items()
                 if floats_close(got, wrong, 1e-9)), None)


def random_batches(V: int, n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """n batches of different sizes (B in 1..3, T in 1..4), targets partly -100."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        B, T = (int(v) for v in torch.randint(1, 4, (2,), generator=gen))
        out.append(lm_batch(V, B, T + (i % 2), seed + 10 * i))
    return out


def run_loader(ctx: Context, table: torch.Tensor, loader: list | tuple, num_batches: int | None) -> dict[str, Any]:
    """calc_loss_loader on TableLM(table) (train mode) in the worker.

    `loader` is a list of batches, or (inputs, targets, batch_size) for a DataLoader. The result also holds
    the learner's own calc_loss_batch of every batch (run on a second model, so the first one's forward
    count is calc_loss_loader's alone), for the hint.
    """
    p = ctx.program()
    model, spare = table_model(p, table), table_model(p, table)
    p.train(model, True)
    if isinstance(loader, list):
        data: Any = loader
    else:
        data = p.call(p.runtime("a06_helpers"), *loader, method="data_loader", learner=False)
    kwargs = {} if num_batches is None else {"num_batches": num_batches}
    out = p.call(LOADER, data, model, "cpu", **kwargs)
    own = [p.call(BATCH, x, y, spare, "cpu", no_grad=True, catch=True) for x, y in loader_batches(loader)]
    return ctx.run(p.returns(out=out, seen=p.get(model, "seen_lengths"), training=p.get(model, "training"), own=own))


def loader_batches(loader: list | tuple) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(loader, list):
        return loader
    inputs, targets, bs = loader
    return [(inputs[i:i + bs], targets[i:i + bs]) for i in range(0, inputs.shape[0], bs)]


def check_loader_result(res: dict[str, Any], want: float, losses: list[float], sizes: list[int],
                        num_batches: int | None, name: str) -> None:
    got = as_float(res["out"], name)
    if not floats_close(got, want):
        k = min(num_batches or len(losses), len(losses))
        hint = loader_hint(got, losses, sizes, num_batches)
        own = [float(v) if isinstance(v, torch.Tensor) and v.numel() == 1 else math.nan for v in res.get("own", [])]
        if hint is None and own and not floats_close(own[0], losses[0], 1e-7):
            hint = ("your calc_loss_batch gives other batch losses than expected (see its checks); fix it first, "
                    "calc_loss_loader averages what it returns")
        raise CheckFailure(f"{name}: got {got:.10g}, expected {want:.10g} (the mean loss of the first {k} "
                           f"batch{'es' if k != 1 else ''})", hint=hint)
    k = len(losses) if num_batches is None else min(num_batches, len(losses))
    if len(res["seen"]) != k:
        raise CheckFailure(f"{name}: ran the model on {len(res['seen'])} batches, expected {k}: score only the first "
                           f"min(num_batches, len(data_loader)) batches, once each")
    if res["training"] is not True:
        raise CheckFailure(f"{name}: left the model in eval mode although it came in train mode; calc_loss_loader "
                           f"must not switch modes (evaluate_model, in a07, does that and switches back)")


@check(points=3, visibility="public", kind="property", targets=(LOADER,), max_examples=8,
       description="calc_loss_loader: the plain mean of the first min(num_batches, len(loader)) batch losses "
                   "(all when num_batches is None), for a list of batches and for a DataLoader; the model's mode "
                   "is left alone")
def calc_loss_loader_mean_of_batches(ctx: Context) -> None:
    @ctx.given(V=st.integers(3, 6), n=st.integers(2, 4), seed=sg.seeds(), data=st.data())
    def _(V: int, n: int, seed: int, data: st.DataObject) -> None:
        num_batches = data.draw(st.sampled_from([None, 1, n - 1, n + 2]), label="num_batches")
        kind = data.draw(st.sampled_from(["list", "DataLoader"]), label="loader")
        table = sg.make_tensor((V, V), seed, scale=2.0)
        if kind == "list":
            loader: Any = random_batches(V, n, seed + 1)
        else:
            inputs, targets = lm_batch(V, 2 * n - 1, 3, seed + 1)  # batch_size 2: n batches, the last one of 1 row
            loader = (inputs, targets, 2)
        batches = loader_batches(loader)
        losses = [float(batch_loss_by_hand(table, x, y)[0]) for x, y in batches]
        sizes = [int((y != -100).sum()) for _, y in batches]
        k = n if num_batches is None else min(num_batches, n)
        ctx.example(shapes={"batches": [list(x.shape) for x, _ in batches]},
                    config={"loader": kind, "num_batches": num_batches, "batch_losses": [round(v, 6) for v in losses]})
        res = run_loader(ctx, table, loader, num_batches)
        name = f"calc_loss_loader({kind} of {n} batches, num_batches={num_batches})"  # n >= 2
        check_loader_result(res, sum(losses[:k]) / k, losses, sizes, num_batches, name)


@check(points=1, visibility="public", kind="property", targets=(LOADER,),
       description="calc_loss_loader: nan (not 0.0, not an error) for an empty loader, list or DataLoader")
def calc_loss_loader_empty_is_nan(ctx: Context) -> None:
    table = sg.make_tensor((4, 4), 3)
    ctx.example(config={"loaders": "[], [] with num_batches=2, an empty DataLoader"})
    p = ctx.program()
    model = table_model(p, table)
    empty_dl = p.call(p.runtime("a06_helpers"), torch.zeros(0, 3, dtype=torch.int64),
                      torch.zeros(0, 3, dtype=torch.int64), 2, method="data_loader", learner=False)
    res = ctx.run(p.returns(
        plain=p.call(LOADER, [], model, "cpu", catch=True),
        capped=p.call(LOADER, [], model, "cpu", num_batches=2, catch=True),
        dl=p.call(LOADER, empty_dl, model, "cpu", catch=True)))
    for key, what in (("plain", "[]"), ("capped", "[] with num_batches=2"), ("dl", "an empty DataLoader")):
        got = res[key]
        _abort_if_stub(ctx, got)
        name = f"calc_loss_loader({what}, model, 'cpu')"
        if isinstance(got, Raised):
            raise CheckFailure(f"{name}: your code raised {got}",
                               hint="check len(data_loader) == 0 first and return float('nan')")
        value = as_float(got, name)
        if not math.isnan(value):
            raise CheckFailure(f"{name}: got {value:g}, expected nan", hint=(
                "0.0 reads as a perfect model; an empty loader has no loss: return float('nan')"
                if value == 0 else None))


# -- perplexity ------------------------------------------------------------------------------
PPL_FLOATS = (0.0, 0.5, 2.0, 7.25)


def perplexity_hint(got: float, loss: float) -> str | None:
    if floats_close(got, math.exp(-loss)):
        return "your result matches exp(-loss): perplexity is exp(+loss), at least 1 for a non-negative loss"
    if floats_close(got, 2.0**loss):
        return "your result matches 2 ** loss: the loss uses the natural log, so perplexity = exp(loss)"
    return None


@check(points=1, visibility="public", kind="property", targets=(PPL,),
       description="perplexity: exp(loss); a Python float for a number, a tensor (same dtype and shape, "
                   "differentiable) for a tensor")
def perplexity_is_exp_of_loss(ctx: Context) -> None:
    tensors = {"f64": torch.tensor(2.0, dtype=torch.float64), "f32": torch.tensor(1.5),
               "vec": torch.tensor([0.1, 3.0, 4.5], dtype=torch.float64)}
    ctx.example(config={"floats": list(PPL_FLOATS), "tensors": {k: v.tolist() for k, v in tensors.items()}})
    p = ctx.program()
    outs: dict[str, Any] = {f"float{i}": p.call(PPL, v, no_grad=True) for i, v in enumerate(PPL_FLOATS)}
    outs.update({k: p.call(PPL, v, no_grad=True) for k, v in tensors.items() if k != "f64"})
    leaf = p.leaf("loss", tensors["f64"])
    outs["f64"] = p.call(PPL, leaf)
    outs["backward"] = p.backward(outs["f64"], torch.ones((), dtype=torch.float64), catch=True)
    outs["grad"] = p.grads([leaf], catch=True)
    res = ctx.run(p.returns(**outs))
    for i, v in enumerate(PPL_FLOATS):
        got = res[f"float{i}"]
        name = f"perplexity({v!r})"
        if not isinstance(got, float):
            raise CheckFailure(f"{name}: expected a Python float for a float loss, got {describe(got)} (math.exp)")
        if not floats_close(got, math.exp(v), 1e-12):
            raise CheckFailure(f"{name}: got {got:.10g}, expected exp({v}) = {math.exp(v):.10g}",
                               hint=perplexity_hint(got, v))
    for key, x in tensors.items():
        name = f"perplexity(tensor {x.tolist()}, dtype {dtype_label(x.dtype)})"
        try:
            assert_close(res[key], torch.exp(x), name=name, tol=FLOAT64)
        except CheckFailure as failure:
            if isinstance(res[key], torch.Tensor) and res[key].numel() == 1:
                failure.hint = perplexity_hint(float(res[key]), float(x))
            raise
    if isinstance(res["backward"], Raised):
        raise CheckFailure(f"perplexity(tensor): back-propagating failed: {res['backward']}")
    _check_grad(res["grad"], torch.exp(tensors["f64"]), "gradient of perplexity(loss) w.r.t. loss (expected exp(loss))")


# -- JSON snapshot of the loss helpers -------------------------------------------------------
@check(points=1, visibility="public", kind="snapshot", targets=(BATCH, LOADER),
       description="calc_loss_batch and calc_loss_loader: match stored reference values for a fixed table model "
                   "and fixed batches")
def loss_helpers_snapshot(ctx: Context) -> None:
    data = load_json_snapshot()
    b, ld = data["calc_loss_batch"], data["calc_loss_loader"]
    table_b = torch.tensor(b["table"], dtype=torch.float64)
    inputs, targets = torch.tensor(b["inputs"]), torch.tensor(b["targets"])
    table_l = torch.tensor(ld["table"], dtype=torch.float64)
    batches = [(torch.tensor(x), torch.tensor(y)) for x, y in ld["batches"]]
    ctx.example(shapes={"input_batch": list(inputs.shape), "loader": [list(x.shape) for x, _ in batches]},
                config={"num_batches": ld["num_batches"]})
    p = ctx.program()
    loss = p.call(BATCH, inputs, targets, table_model(p, table_b), "cpu", no_grad=True)
    mean = p.call(LOADER, batches, table_model(p, table_l), "cpu", num_batches=ld["num_batches"], no_grad=True)
    res = ctx.run(p.returns(loss=loss, mean=mean))
    assert_close(scalar_loss(res["loss"], table_b, "calc_loss_batch on the stored batch"),
                 torch.tensor(b["loss"], dtype=torch.float64), name="calc_loss_batch on the stored batch", tol=FLOAT64)
    name = f"calc_loss_loader on the stored {len(batches)} batches, num_batches={ld['num_batches']}"
    got = as_float(res["mean"], name)
    if not floats_close(got, ld["loss"]):
        raise CheckFailure(f"{name}: got {got:.10g}, expected {ld['loss']:.10g}",
                           hint=loader_hint(got, ld["batch_losses"], ld["sizes"], ld["num_batches"]))


# -- the JSON snapshot data (instructors: `scratchgrad snapshots a06` writes it from reference/) ----
def json_snapshot_inputs() -> dict[str, Any]:
    """The fixed inputs of snapshots/a06_loss.json."""
    ce = []
    for name, lead, C, seed, scale, ii in (("lm_batch", (2, 3), 5, 1, 2.0, -100), ("rows_custom_ignore", (4,), 3, 2, 1.0, 1),
                                           ("large_logits", (4,), 4, 3, LARGE, -100)):
        ce.append({"name": name, "logits": sg.make_tensor((*lead, C), seed, scale=scale).tolist(),
                   "targets": make_targets(lead, C, seed + 1, ignore_index=ii, p_ignore=0.34).tolist(),
                   "ignore_index": ii})
    inputs, targets = lm_batch(5, 2, 4, 7)
    loader = random_batches(4, 3, 8)
    return {"cross_entropy": ce,
            "calc_loss_batch": {"table": sg.make_tensor((5, 5), 9, scale=2.0).tolist(), "inputs": inputs.tolist(),
                                "targets": targets.tolist()},
            "calc_loss_loader": {"table": sg.make_tensor((4, 4), 10, scale=2.0).tolist(), "num_batches": 2,
                                 "batches": [[x.tolist(), y.tolist()] for x, y in loader]}}


def json_snapshots(ref: ModuleType) -> dict[str, Any]:
    """The snapshot data: the fixed inputs, and the outputs of `ref` (reference/a06_loss.py) on them."""
    from autograder.runtime.toys import TableLM

    data = json_snapshot_inputs()
    for case in data["cross_entropy"]:
        x = torch.tensor(case["logits"], dtype=torch.float64, requires_grad=True)
        loss = ref.cross_entropy(x, torch.tensor(case["targets"]), ignore_index=case["ignore_index"])
        loss.backward()
        case.update(loss=loss.item(), grad=x.grad.tolist())
    b = data["calc_loss_batch"]
    with torch.no_grad():
        b["loss"] = ref.calc_loss_batch(torch.tensor(b["inputs"]), torch.tensor(b["targets"]),
                                        TableLM(torch.tensor(b["table"], dtype=torch.float64)), "cpu").item()
        ld = data["calc_loss_loader"]
        model = TableLM(torch.tensor(ld["table"], dtype=torch.float64))
        batches = [(torch.tensor(x), torch.tensor(y)) for x, y in ld["batches"]]
        ld["loss"] = ref.calc_loss_loader(batches, model, "cpu", num_batches=ld["num_batches"])
        ld["batch_losses"] = [ref.calc_loss_batch(x, y, model, "cpu").item() for x, y in batches]
    ld["sizes"] = [int((y != -100).sum()) for _, y in batches]
    return data


JSON_SNAPSHOTS = json_snapshots
