"""Public checks for a06_loss: properties and snapshots, no reference needed.

Every expected value is computed by hand: a row of equal logits has loss log C, a row with logit a at
the target and 0 elsewhere has loss log(1 + (C - 1) e^-a), and in general loss = logsumexp(x) - x_y
(gradient softmax(x) - onehot(y)), averaged over the kept positions (autograd gives the gradient of
`loss_by_hand`). The model behind calc_loss_batch and calc_loss_loader is the runtime's TableLM, a
bigram table whose logits are table[idx], so a06 is graded without the learner's GPT.

Decisions the contract leaves open: the bans hold inside `cross_entropy` only (calc_loss_batch may call
F.cross_entropy, as the book does) and include torch.logsumexp, since log-sum-exp is the task; every
position ignored gives nan, as in PyTorch (its gradient is not graded: 0 in PyTorch, nan for sum/count).
token_ids_to_text is graded on (1, T) ids, what text_to_token_ids returns (the book's squeeze(0) form).
The data that is not tensor-in/tensor-out lives in `snapshots/a06_loss.json` (`JSON_SNAPSHOTS`).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.kit import FLOAT64, Context, Suite, Tolerance, compare_module, float64_inside, given
from autograder.mistakes.a06_loss import (BATCH_MISTAKES, CE_MISTAKES, EOT, I2T_MISTAKES, LOADER_MISTAKES, PPL_MISTAKES,
                                          T2I_MISTAKES, StoredIds, loss_by_hand)
from autograder.program import Ref
from autograder.runtime.toys import ByteTokenizer
from autograder.scan import Ban
from autograder.snapshots import SnapshotCase, load_json
from autograder.snapshots import register as register_snapshots

CE, T2I, I2T, BATCH, LOADER, PPL = ("cross_entropy", "text_to_token_ids", "token_ids_to_text", "calc_loss_batch",
                                    "calc_loss_loader", "perplexity")
# cross_entropy must build log-softmax itself; calc_loss_batch may use F.cross_entropy (the book does)
CE_BANS = ("torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss", "torch.nn.functional.nll_loss",
           "torch.nn.NLLLoss", "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.Tensor.log_softmax",
           "torch.special.log_softmax", "torch.nn.LogSoftmax", "torch.logsumexp", "torch.Tensor.logsumexp",
           "torch.special.logsumexp")
SUITE = Suite("a06_loss", bans=[Ban(api, scope=CE) for api in CE_BANS])
check = SUITE.check

LARGE = 1e4  # logits of this size overflow exp in float32 and float64 alike
# float32 logits of size M carry rounding of M * 2**-24 per operation. tests/test_a06_loss.py measures the worst
# error of correct float32 implementations, targets at the row maximum included (where the loss is small and
# only that rounding is left): the solution stays under 0.001 such ulps, logsumexp = m + log(sum(exp(x - m)))
# followed by - x_y (which cancels) under 1. The mistakes are off by O(1) or inf.
F32_ULPS = 8
FLOAT32_GRAD = Tolerance(rtol=1e-4, atol=1e-6)  # float32 gradients are softmax - onehot, in [-1, 1]
IGNORE = st.sampled_from(["-100", "-1", "0", "C-1"])


def float32_tolerance(magnitude: float) -> Tolerance:
    """Tolerance for a float32 loss computed from logits of size `magnitude` (see F32_ULPS)."""
    return Tolerance(rtol=1e-4, atol=1e-5 + F32_ULPS * 2.0**-24 * magnitude)


def ignore_index(which: str, C: int) -> int:
    return {"-100": -100, "-1": -1, "0": 0, "C-1": C - 1}[which]


def leads(max_n: int = 6, max_t: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Position shapes: (N,) rows or (B, T) sequences."""
    return st.one_of(st.tuples(st.integers(1, max_n)), st.tuples(st.integers(1, 3), st.integers(1, max_t)))


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


# The contract's loss, computed in float64 and rounded once to the logits' dtype (a reference for compare_module).
by_hand = float64_inside(loss_by_hand)


def ce_check(ctx: Context, ref: Any, x: torch.Tensor, t: torch.Tensor, ii: int, *, seed: int = 0,
             tol: Tolerance = FLOAT64, grad_tol: Tolerance | None = None, catch: bool = False) -> None:
    """cross_entropy's loss and gradient w.r.t. the logits against `ref`; ignore_index passed only when not -100."""
    compare_module(ctx, ref, CE, {"logits": x, "targets": t}, kwargs={} if ii == -100 else {"ignore_index": ii},
                   seed=seed, tol=tol, grad_tol=grad_tol, catch=catch, hints=CE_MISTAKES(x=x, t=t, ii=ii))


def _stored(loss: float, grad: list) -> Any:
    """A function whose value is `loss` and whose gradient w.r.t. the logits is `grad` (stored reference data)."""
    g = torch.tensor(grad, dtype=torch.float64)
    return lambda logits, targets, **_: torch.tensor(loss, dtype=torch.float64) + (logits * g).sum() - (logits * g).sum().detach()


# -- cross_entropy -------------------------------------------------------------------------------
@check(points=2, visibility="public", kind="snapshot", targets=(CE,),
       description="cross_entropy: loss and gradient match stored reference values for fixed logits (a (B, T, C) "
                   "batch with ignored positions, (N, C) rows with a custom ignore_index, logits of size 1e4)")
def cross_entropy_snapshot(ctx: Context) -> None:
    for case in load_json(SUITE.assignment)["cross_entropy"]:
        x, t = torch.tensor(case["logits"], dtype=torch.float64), torch.tensor(case["targets"])
        ctx.example(config={"case": case["name"], "ignore_index": case["ignore_index"]}, logits=x, targets=t)
        ce_check(ctx, _stored(case["loss"], case["grad"]), x, t, case["ignore_index"])


@check(points=3, visibility="public", kind="property", targets=(CE,), max_examples=8,
       description="cross_entropy: log C for a row of equal logits, log(1 + (C-1) e^-a) for logit a at the target "
                   "and 0 elsewhere, and logsumexp(x) - x_y averaged over positions for random logits; (N, C) rows "
                   "and (B, T, C) batches")
@given(lead=leads(), C=st.integers(2, 6), seed=sg.seeds(), a=st.sampled_from([-2.0, 0.5, 3.0]))
def cross_entropy_known_values(ctx: Context, lead: tuple[int, ...], C: int, seed: int, a: float) -> None:
    t = make_targets(lead, C, seed)
    mixed = sg.make_tensor((*lead, C), seed + 2, scale=2.0)
    cases = {"rows of equal logits (a different constant per row)":
             (sg.make_tensor((*lead, 1), seed + 1, scale=5.0).expand(*lead, C).contiguous(), math.log(C)),
             f"logit {a:g} at the target and 0 elsewhere":
             (torch.nn.functional.one_hot(t, C).double() * a, math.log1p((C - 1) * math.exp(-a))),
             "random logits": (mixed, float(loss_by_hand(mixed, t)))}
    ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)}, config={"C": C, "a": a},
                values={"random logits": mixed, "targets": t})
    outs = ctx.fetch(*(ctx.call(CE, x, t) for x, _ in cases.values()))
    for (label, (x, want)), got in zip(cases.items(), outs):
        ctx.expect_close(got, torch.tensor(want, dtype=torch.float64), tol=FLOAT64, hints=CE_MISTAKES(x=x, t=t, ii=-100),
                         name=f"cross_entropy on {label}, logits {tuple(x.shape)}")


@check(points=2, visibility="public", kind="property", targets=(CE,), max_examples=8,
       description="cross_entropy: the gradient w.r.t. the logits is (softmax(x) - onehot(y)) / N")
@given(lead=leads(), C=st.integers(2, 6), seed=sg.seeds())
def cross_entropy_gradient(ctx: Context, lead: tuple[int, ...], C: int, seed: int) -> None:
    t, x = make_targets(lead, C, seed), sg.make_tensor((*lead, C), seed + 1, scale=2.0)
    ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)}, values={"logits": x, "targets": t})
    ce_check(ctx, by_hand, x, t, -100, seed=seed)


@check(points=3, visibility="public", kind="property", targets=(CE,), max_examples=10,
       description="cross_entropy: positions whose target is ignore_index (-100 by default, or any given value, "
                   "a valid class id included) are left out of the mean and get zero gradient; all ignored -> nan")
@given(lead=leads(), C=st.integers(2, 6), seed=sg.seeds(), which=IGNORE)
def cross_entropy_ignore_index(ctx: Context, lead: tuple[int, ...], C: int, seed: int, which: str) -> None:
    ii = ignore_index(which, C)
    t, x = make_targets(lead, C, seed, ignore_index=ii, p_ignore=0.4), sg.make_tensor((*lead, C), seed + 1, scale=2.0)
    ctx.example(config={"ignore_index": ii, "kept_positions": int((t != ii).sum())}, logits=x, targets=t)
    ce_check(ctx, lambda logits, targets, **_: by_hand(logits, targets, ii), x, t, ii, seed=seed, catch=True)
    none = torch.full(lead, ii)
    (got,) = ctx.fetch(ctx.call(CE, x, none, ignore_index=ii, catch=True))
    ctx.expect_close(got, torch.tensor(math.nan, dtype=x.dtype), tol=FLOAT64, hints=CE_MISTAKES(x=x, t=none, ii=ii),
                     name=f"cross_entropy with every target = ignore_index={ii} (expected nan: a mean over no "
                          f"positions; PyTorch's F.cross_entropy returns nan too)")


@check(points=2, visibility="public", kind="property", targets=(CE,), max_examples=6,
       description="cross_entropy: finite and correct for logits of size 1e4 (float32 and float64), with a finite "
                   "gradient; shifting every logit by 1e4 changes nothing")
@given(lead=leads(), C=st.integers(3, 6), seed=sg.seeds())
def cross_entropy_large_logits(ctx: Context, lead: tuple[int, ...], C: int, seed: int) -> None:
    t = make_targets(lead, C, seed)
    onehot, rand = torch.nn.functional.one_hot(t, C).double(), sg.make_tensor((*lead, C), seed + 1, scale=LARGE)
    cases = {"1e4 at the target, 0 elsewhere": onehot * LARGE, "-1e4 at the target, 0 elsewhere": onehot * -LARGE,
             "normal of scale 1e4": rand, "normal of scale 1e4, plus 1e4": rand + LARGE}
    ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)}, config={"logits": list(cases)})
    for dtype, tol, grad_tol in ((torch.float64, FLOAT64, None),
                                 (torch.float32, float32_tolerance(2 * LARGE), FLOAT32_GRAD)):
        for x in cases.values():
            ce_check(ctx, by_hand, x.to(dtype), t, -100, seed=seed, tol=tol, grad_tol=grad_tol)


@check(points=1, visibility="public", kind="property", targets=(CE,),
       description="cross_entropy: ValueError when logits.shape[:-1] != targets.shape, or a target is outside "
                   "[0, C) and not ignore_index (the message names the shapes or the value)")
def cross_entropy_rejects_bad_input(ctx: Context) -> None:
    x3, x2 = sg.make_tensor((2, 3, 5), 1), sg.make_tensor((4, 4), 2)
    ctx.example(config={"logits": "(2, 3, 5) with targets (2, 4); (4, 4) with targets [0, 7, 1, 2] and [0, 1, -1, 2]"})
    shapes, too_big, negative = ctx.fetch(*(ctx.call(CE, x, t, catch=True) for x, t in (
        (x3, torch.zeros(2, 4, dtype=torch.int64)), (x2, torch.tensor([0, 7, 1, 2])), (x2, torch.tensor([0, 1, -1, 2])))))
    ctx.expect_raises(shapes, "cross_entropy(logits of shape (2, 3, 5), targets of shape (2, 4))",
                      mention=("(2, 3, 5)", "(2, 4)"))
    ctx.expect_raises(too_big, "cross_entropy(logits (4, 4), targets [0, 7, 1, 2])", mention=("7",))
    ctx.expect_raises(negative, "cross_entropy(logits (4, 4), targets [0, 1, -1, 2]) with ignore_index=-100",
                      mention=("-1",))


@check(points=1, visibility="public", kind="integrity", targets=(CE,),
       description="cross_entropy: a 0-dim tensor of the logits' dtype (float32 and float64); logits and targets are "
                   "not modified")
def cross_entropy_keeps_dtype(ctx: Context) -> None:
    t = make_targets((2, 3), 4, 5, ignore_index=-100)
    for dtype in (torch.float32, torch.float64):  # ctx.call checks the dtype and that logits and targets are left alone
        x = sg.make_tensor((2, 3, 4), 6, dtype=dtype)
        ctx.example(shapes={"logits": [2, 3, 4], "targets": [2, 3]}, config={"dtype": str(dtype)})
        (got,) = ctx.fetch(ctx.call(CE, x, t))
        ctx.expect_tensor(got, x.sum(), f"cross_entropy on {str(dtype).removeprefix('torch.')} logits of shape (2, 3, 4)")


# -- text <-> token ids --------------------------------------------------------------------------
TEXTS = ("Hello, world!", "", "one<|endoftext|>two<|endoftext|>", "naïve café ☃ 🙂")
# tiktoken's GPT-2 ids, written out so the grader need not load the encoding (~1 s); tests/test_a06_loss.py
# checks them against tiktoken
GPT2_IDS = {
    "The loss falls as the model learns.<|endoftext|>Perplexity: 12.5":
        [464, 2994, 8953, 355, 262, 2746, 22974, 13, 50256, 5990, 11141, 414, 25, 1105, 13, 20],
    "<|endoftext|>": [50256],
}


def token_round_trip(ctx: Context, tok: Ref, mine: Any, texts: dict[str, list[int]], label: str) -> None:
    """text_to_token_ids(text) = (1, T) int64 `texts[text]`, and token_ids_to_text of those (1, T) ids = text.

    `tok` is the tokenizer in the worker, `mine` the grader's own copy (for the hints).
    """
    want = {text: torch.tensor([ids], dtype=torch.int64).reshape(1, -1) for text, ids in texts.items()}
    outs = ctx.fetch(*(ctx.call(f, arg, tok, catch=f == I2T) for text in texts
                       for f, arg in ((T2I, text), (I2T, want[text]))))
    for i, text in enumerate(texts):
        ctx.expect_close(outs[2 * i], want[text], tol=FLOAT64, hints=T2I_MISTAKES(text=text, tok=mine),
                         name=f"text_to_token_ids({text!r}, {label})")
        ctx.expect_close(outs[2 * i + 1], text, hints=I2T_MISTAKES(ids=want[text], tok=mine),
                         name=f"token_ids_to_text(ids of shape {tuple(want[text].shape)}, {label})")


@check(points=2, visibility="public", kind="property", targets=(T2I, I2T),
       description="text_to_token_ids: (1, T) int64 ids with <|endoftext|> as one special id (also for empty text); "
                   "token_ids_to_text decodes them back (a byte-level tokenizer)")
def token_ids_byte_tokenizer(ctx: Context) -> None:
    ctx.example(config={"tokenizer": "ByteTokenizer", "texts": list(TEXTS)})
    texts = {s: ByteTokenizer().encode(s, allowed_special={EOT}) for s in TEXTS}
    token_round_trip(ctx, ctx.runtime("toys.ByteTokenizer"), ByteTokenizer(), texts, "ByteTokenizer")


@check(points=1, visibility="public", kind="property", targets=(T2I, I2T), needs=("gpt2",),
       description="text_to_token_ids / token_ids_to_text with tiktoken's GPT-2 encoding: <|endoftext|> is id 50256 "
                   "(needs GPT-2's files)")
def token_ids_gpt2(ctx: Context) -> None:
    ctx.example(config={"tokenizer": "tiktoken gpt2", "texts": list(GPT2_IDS)})
    token_round_trip(ctx, ctx.runtime("gpt2.encoding"), StoredIds(GPT2_IDS), GPT2_IDS, "tiktoken gpt2")


# -- calc_loss_batch / calc_loss_loader with a table model ---------------------------------------
def lm_batch(V: int, B: int, T: int, seed: int, *, p_ignore: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))
    return inputs, make_targets((B, T), V, seed + 1, ignore_index=-100, p_ignore=p_ignore)


def batch_run(ctx: Context, table: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor,
              upstream: torch.Tensor) -> dict[str, Any]:
    """calc_loss_batch on TableLM(table) in train mode, backward with `upstream`, then again in eval mode.

    Also returns the learner's own cross_entropy of the batch's logits (for the hint), the model's modes and
    gradient modes per call, and the table's gradient.
    """
    m = ctx.runtime("toys.TableLM", table, trainable=True)
    ctx.p.train(m, True)
    loss = ctx.call(BATCH, inputs, targets, m, "cpu", grad=True)
    back = ctx.p.backward(loss, upstream, catch=True)
    grads = ctx.p.grads([], module=m, catch=True)
    ctx.p.train(m, False)
    return ctx.fetch(loss=loss, back=back, grads=grads, loss_eval=ctx.call(BATCH, inputs, targets, m, "cpu", grad=True),
                     own=ctx.call(CE, table[inputs].flatten(0, 1), targets.flatten(), catch=True),
                     modes=ctx.p.get(m, "modes"), grad_enabled=ctx.p.get(m, "grad_enabled"))


def expect_batch(ctx: Context, res: dict[str, Any], want: torch.Tensor, want_grad: torch.Tensor, table: torch.Tensor,
                 inputs: torch.Tensor, targets: torch.Tensor, name: str) -> None:
    ctx.expect_close(res["loss"], want, tol=FLOAT64, name=name, hints=BATCH_MISTAKES(
        table=table, inputs=inputs, targets=targets, own=res["own"], want=want))
    ctx.expect(res["modes"] == [True, False], f"{name}: the model ran in modes {res['modes']} (True = train) for two "
               f"calls made in train mode and then eval mode; calc_loss_batch must not call model.train() or "
               f"model.eval(): the caller decides")
    ctx.expect(res["grad_enabled"][0] is True, f"{name}: the model ran with gradients off (torch.no_grad?): training "
                                               f"calls loss.backward() on this loss")
    ctx.expect_close(res["back"], None, name=f"{name}: loss.backward()")
    ctx.expect_close(res["grads"]["params"].get("table"), want_grad, tol=FLOAT64,
                     name="gradient of the loss w.r.t. the model's table (loss.backward())")
    ctx.expect_close(res["loss_eval"], want, tol=FLOAT64, name=f"{name} with the model in eval mode")


@check(points=3, visibility="public", kind="property", targets=(BATCH,), max_examples=8,
       description="calc_loss_batch with a bigram table model: the mean next-token loss over the (B, T) positions "
                   "(targets -100 skipped), differentiable w.r.t. the model's parameters; leaves the model's "
                   "train/eval mode and gradient mode alone")
@given(V=st.integers(3, 6), B=st.integers(1, 3), T=st.integers(1, 4), seed=sg.seeds())
def calc_loss_batch_table_model(ctx: Context, V: int, B: int, T: int, seed: int) -> None:
    table = sg.make_tensor((V, V), seed, scale=2.0)
    inputs, targets = lm_batch(V, B, T, seed + 1)
    leaf = table.clone().requires_grad_(True)
    want = loss_by_hand(leaf[inputs], targets)
    want.backward()
    ctx.example(shapes={"table": [V, V]}, config={"model": "TableLM: logits = table[input_batch]", "device": "cpu"},
                input_batch=inputs, target_batch=targets)
    res = batch_run(ctx, table, inputs, targets, torch.ones((), dtype=torch.float64))
    expect_batch(ctx, res, want.detach(), leaf.grad, table, inputs, targets,
                 "calc_loss_batch(input_batch, target_batch, TableLM(table), 'cpu')")


def random_batches(V: int, n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """n batches of different sizes (B in 1..3, T in 1..4), targets partly -100."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [[int(v) for v in torch.randint(1, 4, (2,), generator=gen)] for _ in range(n)]
    return [lm_batch(V, B, T + (i % 2), seed + 10 * i) for i, (B, T) in enumerate(sizes)]


def loader_batches(loader: list | tuple) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of a list, or of (inputs, targets, batch_size) for a DataLoader."""
    if isinstance(loader, list):
        return loader
    inputs, targets, bs = loader
    return [(inputs[i:i + bs], targets[i:i + bs]) for i in range(0, inputs.shape[0], bs)]


def loader_check(ctx: Context, table: torch.Tensor, loader: list | tuple, num_batches: int | None, want: float,
                 losses: list[float], name: str) -> None:
    """calc_loss_loader on TableLM(table) (train mode) is `want`, scores k batches once each, leaves the mode alone.

    Also runs the learner's own calc_loss_batch on every batch (on a second model, so the first one's forward
    count is calc_loss_loader's alone), for the hint.
    """
    model, spare = ctx.runtime("toys.TableLM", table), ctx.runtime("toys.TableLM", table)
    ctx.p.train(model, True)
    data = loader if isinstance(loader, list) else ctx.runtime("loops.data_loader", *loader)
    batches = loader_batches(loader)
    res = ctx.fetch(out=ctx.call(LOADER, data, model, "cpu", **({} if num_batches is None else {"num_batches": num_batches})),
                    seen=ctx.p.get(model, "seen_lengths"), training=ctx.p.get(model, "training"),
                    own=[ctx.call(BATCH, x, y, spare, "cpu", catch=True) for x, y in batches])
    got = float(res["out"]) if isinstance(res["out"], torch.Tensor) and res["out"].numel() == 1 else res["out"]
    ctx.expect_close(got, want, tol=FLOAT64, name=name, hints=LOADER_MISTAKES(
        losses=losses, sizes=[int((y != -100).sum()) for _, y in batches], num_batches=num_batches, own=res["own"]))
    k = len(batches) if num_batches is None else min(num_batches, len(batches))
    ctx.expect(len(res["seen"]) == k, f"{name}: ran the model on {len(res['seen'])} batches, expected {k}: score only "
                                      f"the first min(num_batches, len(data_loader)) batches, once each")
    ctx.expect(res["training"] is True, f"{name}: left the model in eval mode although it came in train mode; "
                                        f"calc_loss_loader must not switch modes (evaluate_model, in a07, does that "
                                        f"and switches back)")


@check(points=3, visibility="public", kind="property", targets=(LOADER,), max_examples=8,
       description="calc_loss_loader: the plain mean of the first min(num_batches, len(loader)) batch losses "
                   "(all when num_batches is None), for a list of batches and for a DataLoader; the model's mode "
                   "is left alone")
@given(V=st.integers(3, 6), n=st.integers(2, 4), seed=sg.seeds(), data=st.data())
def calc_loss_loader_mean_of_batches(ctx: Context, V: int, n: int, seed: int, data: st.DataObject) -> None:
    num_batches = data.draw(st.sampled_from([None, 1, n - 1, n + 2]), label="num_batches")
    kind = data.draw(st.sampled_from(["list", "DataLoader"]), label="loader")
    table = sg.make_tensor((V, V), seed, scale=2.0)
    # a DataLoader of batch_size 2 over 2n - 1 rows: n batches, the last one of 1 row
    loader: Any = random_batches(V, n, seed + 1) if kind == "list" else (*lm_batch(V, 2 * n - 1, 3, seed + 1), 2)
    losses = [float(loss_by_hand(table[x], y)) for x, y in loader_batches(loader)]
    k = n if num_batches is None else min(num_batches, n)
    ctx.example(shapes={"batches": [list(x.shape) for x, _ in loader_batches(loader)]},
                config={"loader": kind, "num_batches": num_batches, "batch_losses": [round(v, 6) for v in losses]})
    loader_check(ctx, table, loader, num_batches, sum(losses[:k]) / k, losses,
                 f"calc_loss_loader({kind} of {n} batches, num_batches={num_batches})")


@check(points=1, visibility="public", kind="property", targets=(LOADER,),
       description="calc_loss_loader: nan (not 0.0, not an error) for an empty loader, list or DataLoader")
def calc_loss_loader_empty_is_nan(ctx: Context) -> None:
    ctx.example(config={"loaders": "[], [] with num_batches=2, an empty DataLoader"})
    model = ctx.runtime("toys.TableLM", sg.make_tensor((4, 4), 3))
    empty = torch.zeros(0, 3, dtype=torch.int64)
    dl = ctx.runtime("loops.data_loader", empty, empty, 2)
    cases = {"[]": ([], {}), "[] with num_batches=2": ([], {"num_batches": 2}), "an empty DataLoader": (dl, {})}
    outs = ctx.fetch(*(ctx.call(LOADER, data, model, "cpu", catch=True, **kw) for data, kw in cases.values()))
    for what, got in zip(cases, outs):
        ctx.expect_close(got, math.nan, tol=FLOAT64, name=f"calc_loss_loader({what}, model, 'cpu')",
                         hints=LOADER_MISTAKES(losses=[], sizes=[], num_batches=None, own=[]))


# -- perplexity ----------------------------------------------------------------------------------
PPL_FLOATS = (0.0, 0.5, 2.0, 7.25)
register_snapshots(SUITE, [SnapshotCase("perplexity", PPL, {"loss": ()}, seed=0, scale=2.0)],  # loss 3.08
                   hints=lambda case, inputs, w: PPL_MISTAKES(loss=inputs["loss"]))


@check(points=1, visibility="public", kind="property", targets=(PPL,),
       description="perplexity: exp(loss); a Python float for a number, a tensor (same dtype and shape, "
                   "differentiable) for a tensor")
def perplexity_is_exp_of_loss(ctx: Context) -> None:
    tensors = (torch.tensor(1.5), torch.tensor([0.1, 3.0, 4.5], dtype=torch.float64))
    ctx.example(config={"floats": list(PPL_FLOATS), "tensors": [v.tolist() for v in tensors]})
    outs = ctx.fetch(*(ctx.call(PPL, v) for v in (*PPL_FLOATS, *tensors)))
    for loss, got in zip((*PPL_FLOATS, *tensors), outs):
        want = torch.exp(loss) if isinstance(loss, torch.Tensor) else math.exp(loss)
        ctx.expect_close(got, want, tol=Tolerance(rtol=1e-12, atol=1e-12) if isinstance(loss, float) else FLOAT64,
                         hints=PPL_MISTAKES(loss=loss), name=f"perplexity({loss!r}) (expected exp(loss), "
                         f"{'a Python float: math.exp' if isinstance(loss, float) else 'a tensor'})")
    compare_module(ctx, torch.exp, PPL, {"loss": torch.tensor(2.0, dtype=torch.float64)},
                   hints=PPL_MISTAKES(loss=torch.tensor(2.0, dtype=torch.float64)))


# -- JSON snapshot of the loss helpers -----------------------------------------------------------
@check(points=1, visibility="public", kind="snapshot", targets=(BATCH, LOADER),
       description="calc_loss_batch and calc_loss_loader: match stored reference values for a fixed table model "
                   "and fixed batches")
def loss_helpers_snapshot(ctx: Context) -> None:
    data = load_json(SUITE.assignment)
    b, ld = data["calc_loss_batch"], data["calc_loss_loader"]
    table, inputs, targets = torch.tensor(b["table"], dtype=torch.float64), torch.tensor(b["inputs"]), torch.tensor(b["targets"])
    batches = [(torch.tensor(x), torch.tensor(y)) for x, y in ld["batches"]]
    ctx.example(shapes={"input_batch": list(inputs.shape), "loader": [list(x.shape) for x, _ in batches]},
                config={"num_batches": ld["num_batches"]})
    loss, own = ctx.fetch(ctx.call(BATCH, inputs, targets, ctx.runtime("toys.TableLM", table), "cpu"),
                          ctx.call(CE, table[inputs].flatten(0, 1), targets.flatten(), catch=True))
    want = torch.tensor(b["loss"], dtype=torch.float64)
    ctx.expect_close(loss, want, tol=FLOAT64, name="calc_loss_batch on the stored batch",
                     hints=BATCH_MISTAKES(table=table, inputs=inputs, targets=targets, own=own, want=want))
    loader_check(ctx, torch.tensor(ld["table"], dtype=torch.float64), batches, ld["num_batches"], ld["loss"],
                 ld["batch_losses"], f"calc_loss_loader on the stored {len(batches)} batches, num_batches={ld['num_batches']}")


# -- the JSON snapshot data (instructors: `scratchgrad snapshots a06` writes it from reference/) ----
def JSON_SNAPSHOTS(ref: ModuleType) -> dict[str, Any]:
    """The snapshot data: fixed inputs, and the outputs of `ref` (reference/a06_loss.py) on them."""
    from autograder.runtime.toys import TableLM

    ce = []
    for name, lead, C, seed, scale, ii in (("lm_batch", (2, 3), 5, 1, 2.0, -100),
                                           ("rows_custom_ignore", (4,), 3, 2, 1.0, 1),
                                           ("large_logits", (4,), 4, 3, LARGE, -100)):
        x = sg.make_tensor((*lead, C), seed, scale=scale).requires_grad_(True)
        t = make_targets(lead, C, seed + 1, ignore_index=ii, p_ignore=0.34)
        loss = ref.cross_entropy(x, t, ignore_index=ii)
        loss.backward()
        ce.append({"name": name, "logits": x.detach(), "targets": t, "ignore_index": ii, "loss": loss.item(),
                   "grad": x.grad})
    (inputs, targets), table = lm_batch(5, 2, 4, 7), sg.make_tensor((5, 5), 9, scale=2.0)
    model, batches = TableLM(sg.make_tensor((4, 4), 10, scale=2.0)), random_batches(4, 3, 8)
    with torch.no_grad():
        return {"cross_entropy": ce, "calc_loss_batch": {
            "table": table, "inputs": inputs, "targets": targets,
            "loss": ref.calc_loss_batch(inputs, targets, TableLM(table), "cpu").item()}, "calc_loss_loader": {
            "table": model.table, "num_batches": 2, "batches": batches,
            "loss": ref.calc_loss_loader(batches, model, "cpu", num_batches=2),
            "batch_losses": [ref.calc_loss_batch(x, y, model, "cpu").item() for x, y in batches],
            "sizes": [int((y != -100).sum()) for _, y in batches]}}
