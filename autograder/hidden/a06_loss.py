"""Hidden checks for a06_loss: differential against reference/a06_loss.py, with the public checks' hints."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

import reference.a06_loss as ref
from autograder import strategies as sg
from autograder.kit import Context, float64_inside, given
from autograder.runtime import loops
from autograder.runtime.toys import ByteTokenizer, TableLM
from autograder.differential import upstream_like
from autograder.suites.a06_loss import (EOT, FLOAT32_GRAD, LARGE, SUITE, batch_run, ce_check, expect_batch,
                                        float32_tolerance, ignore_index, leads, lm_batch, loader_batches, loader_check,
                                        make_targets, random_batches, token_round_trip)

check = SUITE.check


@check(points=4, visibility="hidden", kind="differential", targets=("cross_entropy",), max_examples=15,
       description="cross_entropy: loss and gradient w.r.t. the logits match the reference (float64), for (N, C) and "
                   "(B, T, C) inputs, logits up to 1e4 in size, ignored positions and custom ignore_index values")
@given(lead=leads(8, 5), C=st.integers(2, 7), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 10.0, LARGE]),
       which=st.sampled_from(["-100", "0", "C-1", "-1"]), p_ignore=st.sampled_from([0.0, 0.3, 0.6]))
def cross_entropy_matches_reference(ctx: Context, lead: tuple[int, ...], C: int, seed: int, scale: float, which: str,
                                    p_ignore: float) -> None:
    ii = ignore_index(which, C)
    x, t = sg.make_tensor((*lead, C), seed, scale=scale), make_targets(lead, C, seed + 1, ignore_index=ii, p_ignore=p_ignore)
    ctx.example(config={"ignore_index": ii, "logit_scale": scale, "ignored_positions": int((t == ii).sum())}, logits=x,
                targets=t)
    ce_check(ctx, ref.cross_entropy, x, t, ii, seed=seed + 2, catch=True)


@check(points=2, visibility="hidden", kind="differential", targets=("cross_entropy",), max_examples=8,
       description="cross_entropy: in float32 with logits up to 1e4 in size, loss and gradient match the exact "
                   "answer to within float32 rounding")
@given(lead=leads(8, 5), C=st.integers(2, 7), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, LARGE]),
       which=st.sampled_from(["-100", "C-1"]))
def cross_entropy_float32_matches_reference(ctx: Context, lead: tuple[int, ...], C: int, seed: int, scale: float,
                                            which: str) -> None:
    ii = ignore_index(which, C)
    x = sg.make_tensor((*lead, C), seed, scale=scale, dtype=torch.float32)
    ctx.example(shapes={"logits": [*lead, C], "targets": list(lead)},
                config={"dtype": "float32", "ignore_index": ii, "logit_scale": scale})
    ce_check(ctx, float64_inside(ref.cross_entropy), x, make_targets(lead, C, seed + 1, ignore_index=ii), ii, seed=seed + 2,
             tol=float32_tolerance(float(x.abs().max())), grad_tol=FLOAT32_GRAD)


@check(points=2, visibility="hidden", kind="differential", targets=("calc_loss_batch",), max_examples=10,
       description="calc_loss_batch with a bigram table model: loss and gradient w.r.t. the table match the reference")
@given(V=st.integers(2, 8), B=st.integers(1, 3), T=st.integers(1, 5), seed=st.integers(0, 2**16),
       p_ignore=st.sampled_from([0.0, 0.3]))
def calc_loss_batch_matches_reference(ctx: Context, V: int, B: int, T: int, seed: int, p_ignore: float) -> None:
    table = sg.make_tensor((V, V), seed, scale=2.0)
    inputs, targets = lm_batch(V, B, T, seed + 1, p_ignore=p_ignore)
    model = TableLM(table, trainable=True)
    want = ref.calc_loss_batch(inputs, targets, model, "cpu")
    upstream = upstream_like(want, seed + 2)
    want.backward(upstream)
    ctx.example(shapes={"table": [V, V], "input_batch": [B, T], "target_batch": [B, T]},
                config={"model": "TableLM", "device": "cpu", "ignored_targets": int((targets == -100).sum())})
    expect_batch(ctx, batch_run(ctx, table, inputs, targets, upstream), want.detach(), model.table.grad, table,
                 inputs, targets, "output of calc_loss_batch")


@check(points=3, visibility="hidden", kind="differential", targets=("calc_loss_loader",), max_examples=12,
       description="calc_loss_loader: matches the reference for lists of batches and DataLoaders of 1 to 5 batches, "
                   "with num_batches None, smaller than, equal to and larger than the number of batches")
@given(V=st.integers(2, 6), n=st.integers(1, 5), seed=st.integers(0, 2**16), data=st.data())
def calc_loss_loader_matches_reference(ctx: Context, V: int, n: int, seed: int, data: st.DataObject) -> None:
    num_batches = data.draw(st.sampled_from([None, 1, 2, n, n + 1, n + 3]), label="num_batches")
    kind = data.draw(st.sampled_from(["list", "DataLoader"]), label="loader")
    table = sg.make_tensor((V, V), seed, scale=2.0)
    model = TableLM(table)
    if kind == "list":
        loader: Any = random_batches(V, n, seed + 1)
        ref_loader: Any = loader
    else:
        bs = data.draw(st.integers(1, 3), label="batch_size")
        loader = (*lm_batch(V, bs * n, 3, seed + 1), bs)
        ref_loader = loops.data_loader(*loader)
    batches = loader_batches(loader)
    with torch.no_grad():
        want = ref.calc_loss_loader(ref_loader, model, "cpu", num_batches=num_batches)
        losses = [ref.calc_loss_batch(x, y, model, "cpu").item() for x, y in batches]
    ctx.example(shapes={"batches": [list(x.shape) for x, _ in batches]},
                config={"loader": kind, "num_batches": num_batches})
    loader_check(ctx, table, loader, num_batches, want, losses,
                 f"calc_loss_loader ({kind} of {len(batches)} batch(es), num_batches={num_batches})")


@check(points=1, visibility="hidden", kind="differential", targets=("text_to_token_ids", "token_ids_to_text"),
       max_examples=12,
       description="text_to_token_ids and token_ids_to_text match the reference on assorted text (a byte-level "
                   "tokenizer)")
@given(parts=st.lists(st.one_of(st.just(EOT), st.text(max_size=6), st.sampled_from(["<|", "endoftext", "|>", " ", "\n"])),
                      max_size=5))
def token_ids_match_reference(ctx: Context, parts: list[str]) -> None:
    text = "".join(parts)
    ctx.example(config={"characters": len(text), "special_tokens": text.count(EOT)})
    want = ref.text_to_token_ids(text, ByteTokenizer())
    token_round_trip(ctx, ctx.runtime("toys.ByteTokenizer"), ByteTokenizer(), {text: want[0].tolist()}, "ByteTokenizer")
