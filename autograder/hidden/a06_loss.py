"""Hidden checks for a06_loss: differential against reference/a06_loss.py, with hints."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

import reference.a06_loss as ref
from autograder import strategies as sg
from autograder.checks import Context
from autograder.compare import FLOAT64, CheckFailure, assert_close
from autograder.differential import (
    compare_module,
    learner_run,
    reference_run,
    upstream_like,
)
from autograder.runtime import a06_helpers
from autograder.runtime.toys import ByteTokenizer, TableLM
from autograder.runtime.values import Raised
from autograder.suites.a06_loss import (
    BATCH,
    CE,
    EOT,
    FLOAT32_GRAD,
    I2T,
    LARGE,
    LOADER,
    SUITE,
    T2I,
    batch_hint,
    check_loader_result,
    cross_entropy_hint,
    float32_tolerance,
    lm_batch,
    loader_batches,
    make_targets,
    random_batches,
    run_loader,
    scalar_loss,
    table_model,
)

check = SUITE.check


def _ignore_index(which: str, C: int) -> int:
    return {"-100": -100, "0": 0, "C-1": C - 1, "-1": -1}[which]


def _leads() -> st.SearchStrategy[tuple[int, ...]]:
    return st.one_of(st.tuples(st.integers(1, 8)), st.tuples(st.integers(1, 3), st.integers(1, 5)))


@check(points=4, visibility="hidden", kind="differential", targets=(CE,), max_examples=15,
       description="cross_entropy: loss and gradient w.r.t. the logits match the reference (float64), for (N, C) and "
                   "(B, T, C) inputs, logits up to 1e4 in size, ignored positions and custom ignore_index values")
def cross_entropy_matches_reference(ctx: Context) -> None:
    @ctx.given(lead=_leads(), C=st.integers(2, 7), seed=st.integers(0, 2**16),
               scale=st.sampled_from([1.0, 10.0, LARGE]), which=st.sampled_from(["-100", "0", "C-1", "-1"]),
               p_ignore=st.sampled_from([0.0, 0.3, 0.6]))
    def _(lead: tuple[int, ...], C: int, seed: int, scale: float, which: str, p_ignore: float) -> None:
        ii = _ignore_index(which, C)
        x = sg.make_tensor((*lead, C), seed, scale=scale)
        t = make_targets(lead, C, seed + 1, ignore_index=ii, p_ignore=p_ignore)
        kwargs = {} if ii == -100 else {"ignore_index": ii}
        ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)},
                    config={"ignore_index": ii, "logit_scale": scale, "ignored_positions": int((t == ii).sum())})
        compare_module(ctx, ref.cross_entropy, CE, {"logits": x, "targets": t}, kwargs=kwargs, seed=seed + 2,
                       hint=lambda got: cross_entropy_hint(got, x, t, ii))


def _exact_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """The reference computed in float64 from the float32 logits, rounded once: the float32 answer to aim for."""
    return ref.cross_entropy(logits.double(), targets, **kwargs).to(logits.dtype)


@check(points=2, visibility="hidden", kind="differential", targets=(CE,), max_examples=8,
       description="cross_entropy: in float32 with logits up to 1e4 in size, loss and gradient match the exact "
                   "answer to within float32 rounding")
def cross_entropy_float32_matches_reference(ctx: Context) -> None:
    @ctx.given(lead=_leads(), C=st.integers(2, 7), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, LARGE]),
               which=st.sampled_from(["-100", "C-1"]))
    def _(lead: tuple[int, ...], C: int, seed: int, scale: float, which: str) -> None:
        ii = _ignore_index(which, C)
        x = sg.make_tensor((*lead, C), seed, scale=scale, dtype=torch.float32)
        t = make_targets(lead, C, seed + 1, ignore_index=ii)
        kwargs = {} if ii == -100 else {"ignore_index": ii}
        ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)},
                    config={"dtype": "float32", "ignore_index": ii, "logit_scale": scale})
        inputs = {"logits": x, "targets": t}
        expected = reference_run(_exact_cross_entropy, inputs, seed + 2, kwargs)
        got = learner_run(ctx, CE, inputs, expected["grad_out"], init=None, weights=None, dtype=torch.float32,
                          kwargs=kwargs)
        tol = float32_tolerance(float(x.abs().max()))
        loss = scalar_loss(got["out"], x, "output of cross_entropy", lead)
        try:
            assert_close(loss, expected["out"], name="output of cross_entropy (float32)", tol=tol)
        except CheckFailure as failure:
            failure.hint = cross_entropy_hint(loss, x, t, ii, tol)
            raise
        if got["backward"] is not None:
            raise CheckFailure(f"back-propagating through cross_entropy failed: {got['backward']}")
        assert_close(got["inputs"].get("logits"), expected["inputs"]["logits"], name="grad of logits (float32)",
                     tol=FLOAT32_GRAD)


@check(points=2, visibility="hidden", kind="differential", targets=(BATCH,), max_examples=10,
       description="calc_loss_batch with a bigram table model: loss and gradient w.r.t. the table match the reference")
def calc_loss_batch_matches_reference(ctx: Context) -> None:
    @ctx.given(V=st.integers(2, 8), B=st.integers(1, 3), T=st.integers(1, 5), seed=st.integers(0, 2**16),
               p_ignore=st.sampled_from([0.0, 0.3]))
    def _(V: int, B: int, T: int, seed: int, p_ignore: float) -> None:
        table = sg.make_tensor((V, V), seed, scale=2.0)
        inputs, targets = lm_batch(V, B, T, seed + 1, p_ignore=p_ignore)
        model = TableLM(table, trainable=True)
        want = ref.calc_loss_batch(inputs, targets, model, "cpu")
        upstream = upstream_like(want, seed + 2)
        want.backward(upstream)
        ctx.example(shapes={"table": [V, V], "input_batch": [B, T], "target_batch": [B, T]},
                    config={"model": "TableLM", "device": "cpu", "ignored_targets": int((targets == -100).sum())})
        p = ctx.program()
        learner_model = table_model(p, table, trainable=True)
        loss = p.call(BATCH, inputs, targets, learner_model, "cpu")
        backward = p.backward(loss, upstream, catch=True)
        grads = p.grads([], module=learner_model, catch=True)
        own = p.call(CE, table[inputs].flatten(0, 1), targets.flatten(), no_grad=True, catch=True)
        res = ctx.run(p.returns(loss=loss, backward=backward, grads=grads, own=own))
        name = "output of calc_loss_batch"
        got = scalar_loss(res["loss"], table, name, (B, T))
        try:
            assert_close(got, want.detach(), name=name, tol=FLOAT64)
        except CheckFailure as failure:
            failure.hint = batch_hint(float(got), res["own"], want.item(), table, inputs, targets)
            raise
        if isinstance(res["backward"], Raised):
            raise CheckFailure(f"back-propagating through calc_loss_batch failed: {res['backward']}")
        assert_close(res["grads"]["params"].get("table"), model.table.grad, name="grad of the model's table",
                     tol=FLOAT64)


@check(points=3, visibility="hidden", kind="differential", targets=(LOADER,), max_examples=12,
       description="calc_loss_loader: matches the reference for lists of batches and DataLoaders of 1 to 5 batches, "
                   "with num_batches None, smaller than, equal to and larger than the number of batches")
def calc_loss_loader_matches_reference(ctx: Context) -> None:
    @ctx.given(V=st.integers(2, 6), n=st.integers(1, 5), seed=st.integers(0, 2**16), data=st.data())
    def _(V: int, n: int, seed: int, data: st.DataObject) -> None:
        num_batches = data.draw(st.sampled_from([None, 1, 2, n, n + 1, n + 3]), label="num_batches")
        kind = data.draw(st.sampled_from(["list", "DataLoader"]), label="loader")
        table = sg.make_tensor((V, V), seed, scale=2.0)
        model = TableLM(table)
        if kind == "list":
            loader: Any = random_batches(V, n, seed + 1)
            ref_loader: Any = loader
        else:
            bs = data.draw(st.integers(1, 3), label="batch_size")
            inputs, targets = lm_batch(V, bs * n, 3, seed + 1)
            loader = (inputs, targets, bs)
            ref_loader = a06_helpers.data_loader(inputs, targets, bs)
        batches = loader_batches(loader)
        with torch.no_grad():
            want = ref.calc_loss_loader(ref_loader, model, "cpu", num_batches=num_batches)
            losses = [ref.calc_loss_batch(x, y, model, "cpu").item() for x, y in batches]
        sizes = [int((y != -100).sum()) for _, y in batches]
        ctx.example(shapes={"batches": [list(x.shape) for x, _ in batches]},
                    config={"loader": kind, "num_batches": num_batches})
        res = run_loader(ctx, table, loader, num_batches)
        count = f"{len(batches)} batch{'es' if len(batches) != 1 else ''}"
        check_loader_result(res, want, losses, sizes, num_batches,
                            f"calc_loss_loader ({kind} of {count}, num_batches={num_batches})")


@check(points=1, visibility="hidden", kind="differential", targets=(T2I, I2T), max_examples=12,
       description="text_to_token_ids and token_ids_to_text match the reference on assorted text (a byte-level "
                   "tokenizer)")
def token_ids_match_reference(ctx: Context) -> None:
    pieces = st.one_of(st.just(EOT), st.text(max_size=6), st.sampled_from(["<|", "endoftext", "|>", " ", "\n"]))

    @ctx.given(parts=st.lists(pieces, max_size=5))
    def _(parts: list[str]) -> None:
        text = "".join(parts)
        want = ref.text_to_token_ids(text, ByteTokenizer())
        ctx.example(config={"characters": len(text), "special_tokens": text.count(EOT)})
        p = ctx.program()
        tok = p.call(p.runtime("toys"), method="ByteTokenizer", learner=False)
        res = ctx.run(p.returns(ids=p.call(T2I, text, tok, no_grad=True), back=p.call(I2T, want, tok, no_grad=True)))
        try:
            assert_close(res["ids"], want, name=f"text_to_token_ids on a text of {len(text)} characters", tol=FLOAT64)
        except CheckFailure as failure:
            ids = res["ids"]
            # only where <|endoftext|> was spelled out: without one (an empty text, say) the bytes are the right
            # ids, and a failure there is about something else (float32 ids: the dtype message says so)
            if isinstance(ids, torch.Tensor) and ids.dim() == 2 and EOT in text and ids.dtype == want.dtype \
                    and ids[0].tolist() == list(text.encode("utf-8")):
                failure.hint = "<|endoftext|> was encoded as ordinary text: pass allowed_special={'<|endoftext|>'}"
            raise
        expected_text = ref.token_ids_to_text(want, ByteTokenizer())
        if res["back"] != expected_text:
            raise CheckFailure(f"token_ids_to_text on (1, {want.shape[1]}) ids: got a {type(res['back']).__name__} "
                               f"that is not the decoded text")
