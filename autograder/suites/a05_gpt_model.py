"""Public checks for a05_gpt_model: properties and snapshots, no reference needed.

The model checks load seeded weights by the curriculum's parameter names and compare the
learner's forward pass with what their own pieces compute (`trf_blocks.i`, `final_norm`,
`out_head` called one by one on tok_emb[ids] + pos_emb[0..T-1]), so a05's wiring is graded apart
from the blocks' insides (a04). The dropout probe zeroes each block's sub-layer outputs but for
a constant c (block(x) = x + c in eval mode) and makes out_head the identity: the train-mode
logits are then final_norm(mask * x / (1 - p) + c) for one unknown 0/1 mask per token, which a
search over the 2^E masks recovers, and dropout anywhere else matches another formula.

generate_text_simple is graded on the runtime's TableLM (logits = table[ids], a bigram model),
whose greedy continuation is known exactly and which records what it was called with.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.kit import FLOAT64, GELU_FLOAT64, CheckFailure, Context, Hints, Raised, Suite, check_rate, given
from autograder.properties import expect_parameters
from autograder.mistakes.a05_gpt_model import (CHECK_T_FIRST, CONTEXT_MISTAKES, DROP_MISTAKES, DROP_RATE_IGNORED,
                                               EVAL_DROP_MISTAKES, EVAL_DROPOUT, GENERATE_MISTAKES, GENERATE_NO_GRAD,
                                               HINT_INDEX, PARAM_MISTAKES, all_masks, count, expected_shapes, gpt_hints,
                                               greedy, per_token_masks)
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots
from autograder.strategies import gpt_config, gpt_weights, token_ids

MODEL, GEN = "GPTModel", "generate_text_simple"
SUITE = Suite("a05_gpt_model")
check = SUITE.check

GPT2_124M: dict[str, Any] = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12,
                             "n_layers": 12, "drop_rate": 0.1, "qkv_bias": False}
GPT2_124M_PARAMS = 163_009_536  # with out_head separate from tok_emb (124,412,160 when tied)


SNAPSHOTS = [
    SnapshotCase("gpt", MODEL, {"in_idx": (2, 5)}, init={"cfg": gpt_config(13, 6, 6, 2, 2, qkv_bias=True)},
                 seed=1, ids_below=13),
    SnapshotCase("gpt_full_context", MODEL, {"in_idx": (3, 4)}, init={"cfg": gpt_config(11, 4, 4, 1, 1)},
                 seed=2, ids_below=11),
]
register_snapshots(SUITE, SNAPSHOTS, tol=GELU_FLOAT64,
                   hints=lambda case, inputs, w: gpt_hints(inputs["in_idx"], w, case.init["cfg"]),  # type: ignore[index]
                   describe=lambda case: "GPTModel: matches stored reference logits for fixed weights and token ids"
                                         + (" (T = context_length)" if "full" in case.name else ""))


# -- structure -------------------------------------------------------------------------------
def expect_shapes(got: Any, cfg: dict[str, Any], what: str) -> None:
    expect_parameters(got, expected_shapes(cfg), what, hints=PARAM_MISTAKES(cfg=cfg))


@check(points=2, visibility="public", kind="property", targets=(MODEL,),
       description="GPTModel: parameters tok_emb, pos_emb, trf_blocks.0..n_layers-1, final_norm and out_head "
                   "(no bias, not tied to tok_emb), of the contract's shapes")
def model_parameters(ctx: Context) -> None:
    for cfg in (gpt_config(7, 5, 4, 2, 2), gpt_config(5, 3, 6, 3, 1, qkv_bias=True)):
        ctx.example(config=cfg)
        (got,) = ctx.fetch(ctx.p.params(ctx.module(MODEL, [cfg], dtype=None, train=None)))
        expect_shapes(got, cfg, "GPTModel")


@check(points=2, visibility="public", kind="property", targets=(MODEL,),
       description=f"GPTModel with GPT-2's 124M config has {GPT2_124M_PARAMS:,} parameters (built on the meta "
                   f"device: no memory is allocated)")
def gpt2_124m_parameter_count(ctx: Context) -> None:
    ctx.example(config=GPT2_124M)
    (got,) = ctx.fetch(ctx.runtime("a05_helpers.meta_parameters", ctx.p.attr(MODEL), GPT2_124M, catch=True))
    ctx.expect(isinstance(got, dict), f"building GPTModel(GPT-2 124M config) on the meta device (torch.device('meta'): "
               f"shapes only, no memory) failed: your code raised {got}" if isinstance(got, Raised) else
               f"building GPTModel(GPT-2 124M config) on the meta device gave {got!r}")
    ctx.expect_close(count(got), GPT2_124M_PARAMS, name="number of parameters of GPTModel(GPT-2 124M config)",
                     hints=Hints(PARAM_MISTAKES, {"cfg": GPT2_124M}, view=count))
    expect_shapes(got, GPT2_124M, "GPTModel(GPT-2 124M config)")


# -- forward ---------------------------------------------------------------------------------
def chain(ctx: Context, m: Any, x: Any, n_layers: int) -> Any:
    """The learner's blocks one by one, then final_norm, then out_head."""
    for i in range(n_layers):
        x = ctx.call(m, x, method=f"trf_blocks.{i}")
    return ctx.call(m, ctx.call(m, x, method="final_norm"), method="out_head")


@check(points=4, visibility="public", kind="property", targets=(MODEL,), max_examples=6,
       description="GPTModel (eval): logits = out_head(final_norm(trf_blocks(tok_emb(ids) + pos_emb(0..T-1)))), "
                   "compared with your own blocks, final_norm and out_head called one by one")
@given(cfg=sg.gpt_configs(), seed=sg.seeds())
def forward_composes_the_pieces(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    w, idx = gpt_weights(c, seed), token_ids((B, T), c["vocab_size"], seed + 1)
    ctx.example(shapes={"in_idx": [B, T]}, config=c, values={"in_idx": idx})
    m = ctx.module(MODEL, [c], weights=w)
    full, pieces = ctx.fetch(ctx.call(m, idx, catch=True),
                             chain(ctx, m, w["tok_emb.weight"][idx] + w["pos_emb.weight"][:T], c["n_layers"]))
    ctx.expect(not (isinstance(full, Raised) and full.type == "IndexError"),
               f"GPTModel on in_idx of shape ({B}, {T}): your code raised {full}", hint=HINT_INDEX)
    pieces = ctx.expect_tensor(pieces, torch.empty(B, T, c["vocab_size"]), "out_head(final_norm(trf_blocks(x)))")
    # FLOAT64: both sides run the learner's own GELU (tolerance_probe: the closest mistake is 88x FLOAT64 away)
    ctx.expect_close(full, pieces, tol=FLOAT64, hints=gpt_hints(idx, w, c),
                     name="logits of GPTModel (expected out_head(final_norm(trf_blocks(x))) with x = tok_emb(in_idx) "
                          "+ pos_emb(torch.arange(T)), from your own modules)")


@check(points=1, visibility="public", kind="property", targets=(MODEL,), max_examples=6,
       description="GPTModel: changing a later token never changes the logits at earlier positions")
@given(cfg=sg.gpt_configs(), data=st.data())
def forward_is_causal(ctx: Context, cfg: dict[str, Any], data: st.DataObject) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    k = data.draw(st.integers(0, T - 1), label="k")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    idx = token_ids((B, T), c["vocab_size"], seed)
    idx2 = idx.clone()
    idx2[:, k:] = (idx[:, k:] + 1 + token_ids((B, T - k), c["vocab_size"] - 1, seed + 1)) % c["vocab_size"]
    ctx.example(config={**c, "changed_from_position": k}, in_idx=idx, changed=idx2)
    m = ctx.module(MODEL, [c], weights=gpt_weights(c, seed + 2))
    a, b = ctx.fetch(ctx.call(m, idx), ctx.call(m, idx2))
    a = ctx.expect_tensor(a, torch.empty(B, T, c["vocab_size"]), "logits of GPTModel")
    b = ctx.expect_tensor(b, a, "logits of GPTModel")
    ctx.expect_close(b[:, :k], a[:, :k], tol=FLOAT64, name=f"logits at positions < {k} after changing the tokens "
                                                          f"at positions >= {k} (a token must not see later tokens)")


# -- dropout ---------------------------------------------------------------------------------
@check(points=3, visibility="public", kind="property", targets=(MODEL,),
       description="GPTModel (train): drop_emb drops elements of tok_emb + pos_emb at rate drop_rate, scales the "
                   "rest by 1/(1-p), before the blocks; in eval mode nothing is dropped")
def drop_emb_on_summed_embeddings(ctx: Context) -> None:
    p_drop, B, T, E = 0.5, 16, 4, 4
    cfg = gpt_config(E, T, E, 2, 1, drop_rate=p_drop)
    c, zero = torch.tensor([0.7, -1.1, 1.9, 0.4], dtype=torch.float64), torch.zeros(E, dtype=torch.float64)
    w = {**gpt_weights(cfg, 5), "trf_blocks.0.att.out_proj.weight": torch.zeros(E, E, dtype=torch.float64),
         "trf_blocks.0.att.out_proj.bias": c, "trf_blocks.0.ff.layers.2.weight": torch.zeros(E, 4 * E, dtype=torch.float64),
         "trf_blocks.0.ff.layers.2.bias": zero, "final_norm.scale": torch.ones(E, dtype=torch.float64),
         "final_norm.shift": zero, "out_head.weight": torch.eye(E, dtype=torch.float64)}
    idx = token_ids((B, T), E, 9)
    tok, pos = w["tok_emb.weight"][idx], w["pos_emb.weight"][:T]
    masks = all_masks(E)
    ctx.example(shapes={"in_idx": [B, T]}, config={**cfg, "block": "x + c (sub-layers output constants)",
                                                   "final_norm": "scale 1, shift 0", "out_head": "identity",
                                                   "blocks": "eval mode", "model": "train mode"})
    m = ctx.module(MODEL, [cfg], weights=w, train=True, seed=1234)
    ctx.p.train(ctx.p.get(m, "trf_blocks"), False)  # only drop_emb may drop; the blocks' dropout is a04's business
    train = ctx.call(m, idx)
    ctx.p.train(m, False)
    right = ctx.call(m, masks * (tok + pos) / (1 - p_drop) + c, method="final_norm")
    train, eval_, base, right = ctx.fetch(train, ctx.call(m, idx), ctx.call(m, tok + pos + c, method="final_norm"), right)
    mistakes = {"got": train, "tok": tok, "pos": pos, "c": c, "p_drop": p_drop}
    ctx.expect_close(eval_, base, tol=FLOAT64, hints=EVAL_DROP_MISTAKES(**{**mistakes, "got": eval_}),
                     name="logits of GPTModel in eval mode, its block adding a constant c and out_head the identity "
                          "(expected final_norm(tok_emb(ids) + pos_emb(positions) + c); no dropout in eval mode)")
    out = ctx.expect_tensor(train, tok, "logits of GPTModel in train mode")
    name = f"logits of GPTModel in train mode (drop_rate={p_drop}), only drop_emb active"
    chosen = per_token_masks(out, ctx.expect_tensor(right, masks.expand(-1, B, T, E), "final_norm of a batch"))
    if chosen is None:
        raise CheckFailure(f"{name}: the logits are not final_norm(m * (tok + pos) / (1 - p) + c) for any 0/1 dropout "
                           f"mask m: drop_emb should drop elements of tok_emb(ids) + pos_emb(positions), at p = "
                           f"cfg['drop_rate']", hint=DROP_MISTAKES(**mistakes).match(out, FLOAT64))
    kept = masks[chosen.flatten(), 0, 0]  # (B * T, E)
    check_rate(f"{name} (use cfg['drop_rate'])", int((kept == 0).sum()), kept.numel(), p_drop, "embedding elements")


@check(points=2, visibility="public", kind="property", targets=(MODEL,), max_examples=4,
       description="GPTModel: in eval mode it is deterministic and equals the same weights with drop_rate=0; "
                   "with drop_rate=0 train mode equals eval mode")
# emb_dim >= 4: final_norm maps every 1-element vector to `shift`, which would hide dropout
@given(cfg=sg.gpt_configs().filter(lambda c: c["cfg"]["emb_dim"] >= 4), seed=sg.seeds())
def eval_is_deterministic(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    w, idx = gpt_weights(c, seed), token_ids((B, T), c["vocab_size"], seed + 1)
    ctx.example(shapes={"in_idx": [B, T]}, config={**c, "drop_rate": "0.5 and 0.0"})
    drop = ctx.module(MODEL, [{**c, "drop_rate": 0.5}], weights=w, seed=0)
    plain = ctx.module(MODEL, [c], weights=w)
    calls = [ctx.call(drop, idx), ctx.call(drop, idx), ctx.call(plain, idx)]
    ctx.p.train(plain, True)
    a, b, want, plain_train = (ctx.expect_tensor(t, torch.empty(B, T, c["vocab_size"]), "logits of GPTModel")
                               for t in ctx.fetch(*calls, ctx.call(plain, idx)))
    ctx.expect(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True), "GPTModel (drop_rate=0.5) in eval mode: two "
               "calls gave different logits; dropout must be off after .eval()", hint=EVAL_DROPOUT)
    ctx.expect(torch.allclose(a, want, rtol=FLOAT64.rtol, atol=FLOAT64.atol, equal_nan=True), "logits of GPTModel "
               "(drop_rate=0.5) in eval mode differ from the same weights with drop_rate=0", hint=EVAL_DROPOUT)
    ctx.expect(torch.allclose(plain_train, want, rtol=FLOAT64.rtol, atol=FLOAT64.atol, equal_nan=True), "logits of "
               "GPTModel (drop_rate=0) in train mode differ from eval mode", hint=DROP_RATE_IGNORED)


@check(points=1, visibility="public", kind="property", targets=(MODEL,),
       description="GPTModel: T = context_length works; T > context_length raises ValueError naming T and "
                   "context_length")
def rejects_too_long_input(ctx: Context) -> None:
    cfg = gpt_config(11, 5, 4, 2, 1)
    ctx.example(shapes={"in_idx": [1, 8]}, config=cfg)
    m = ctx.module(MODEL, [cfg])
    full, long = ctx.fetch(ctx.call(m, token_ids((1, 5), 11, 0)), ctx.call(m, token_ids((1, 8), 11, 1), catch=True))
    ctx.expect_tensor(full, torch.empty(1, 5, 11), "logits of GPTModel for T = context_length = 5")
    ctx.expect_raises(long, "GPTModel(context_length=5) called on in_idx of shape (1, 8)", mention=("8", "5"),
                      hint=CHECK_T_FIRST)


# -- generate_text_simple ----------------------------------------------------------------------
def table_for(V: int, seed: int) -> torch.Tensor:
    """A bigram table (continuous values: no ties in any row, argmax is unambiguous)."""
    return torch.randn(V, V, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def run_generate(ctx: Context, table: torch.Tensor, idx: torch.Tensor, n: int, context_size: int, *,
                 trainable: bool = False) -> dict[str, Any]:
    lm = ctx.runtime("toys.TableLM", table, trainable=trainable)
    # grad=True: the call itself is not wrapped in no_grad, so the model sees the grad mode generate sets
    return ctx.fetch(out=ctx.call(GEN, lm, idx, n, context_size, grad=True), seen=ctx.p.get(lm, "seen_lengths"),
                     grad=ctx.p.get(lm, "grad_enabled"))


def expect_ids(ctx: Context, got: Any, want: torch.Tensor, name: str, hints: Any = None) -> None:
    ctx.expect_close(got, want, tol=FLOAT64, hints=hints,
                     name=f"{name} (expected the prompt, then the greedy ids: argmax of the last position's logits on "
                          f"the last context_size tokens, at every step)")


@check(points=3, visibility="public", kind="property", targets=(GEN,), max_examples=10,
       description="generate_text_simple: appends the argmax of the last position's logits, max_new_tokens times, "
                   "for every row of the batch (on a bigram table model)")
def generate_is_greedy(ctx: Context) -> None:
    def case(V: int, B: int, T0: int, n: int, cs: int, seed: int) -> None:
        table, idx = table_for(V, seed), token_ids((B, T0), V, seed + 1)
        ctx.example(shapes={"idx": [B, T0], "table": [V, V]}, values={"idx": idx},
                    config={"max_new_tokens": n, "context_size": cs, "model": "TableLM: logits = table[ids]"})
        got = run_generate(ctx, table, idx, n, cs)["out"]
        expect_ids(ctx, got, greedy(lambda ids: table[ids], idx, n, cs),
                   f"generate_text_simple(TableLM, idx, max_new_tokens={n}, context_size={cs})",
                   GENERATE_MISTAKES(model=lambda ids: table[ids], idx=idx, n=n, context_size=cs))

    case(V=9, B=2, T0=5, n=4, cs=3, seed=0)  # a prompt longer than the context: cropping matters
    ctx.given(V=st.integers(2, 12), B=st.integers(1, 3), T0=st.integers(1, 6), n=st.integers(1, 5),
              cs=st.integers(1, 5), seed=st.integers(0, 2**16))(case)


@check(points=2, visibility="public", kind="property", targets=(GEN,), max_examples=6,
       description="generate_text_simple: each model call sees only the last context_size tokens (one call per "
                   "new token)")
@given(T0=st.integers(1, 6), n=st.integers(1, 5), cs=st.integers(1, 4), seed=st.integers(0, 2**16))
def generate_crops_context(ctx: Context, T0: int, n: int, cs: int, seed: int) -> None:
    table, idx = table_for(7, seed), token_ids((2, T0), 7, seed + 1)
    ctx.example(shapes={"idx": [2, T0]}, config={"max_new_tokens": n, "context_size": cs})
    ctx.expect_close(run_generate(ctx, table, idx, n, cs)["seen"], [min(T0 + i, cs) for i in range(n)],
                     hints=CONTEXT_MISTAKES(T0=T0, n=n, context_size=cs),
                     name=f"lengths of the sequences the model saw in generate_text_simple(max_new_tokens={n}, "
                          f"context_size={cs}) on a prompt of {T0} tokens")


@check(points=1, visibility="public", kind="integrity", targets=(GEN,),
       description="generate_text_simple: calls the model with gradients off (torch.no_grad), leaves idx "
                   "unchanged, and max_new_tokens=0 returns the prompt")
def generate_without_gradients(ctx: Context) -> None:
    idx = token_ids((2, 3), 6, 4)  # ctx.call checks that idx is left alone
    ctx.example(shapes={"idx": [2, 3]}, config={"max_new_tokens": "3, then 0", "context_size": 2,
                                                "model": "TableLM with a trainable table"})
    res = run_generate(ctx, table_for(6, 4), idx, 3, 2, trainable=True)
    ctx.expect_tensor(res["out"], torch.empty(2, 6), "output of generate_text_simple(max_new_tokens=3)")
    ctx.expect(not any(res["grad"]), f"generate_text_simple called the model with gradients enabled (grad mode per "
               f"call: {res['grad']}): every call builds an autograd graph nobody uses",
               hint=GENERATE_NO_GRAD)
    expect_ids(ctx, run_generate(ctx, table_for(6, 4), idx, 0, 2)["out"], idx, "generate_text_simple(max_new_tokens=0)")


# (cfg, batch, prompt length, max_new_tokens, context_size): the sequence always outgrows context_length
GPT_GENERATE_CASES = [(gpt_config(11, 4, 4, 2, 1), 2, 3, 4, 4), (gpt_config(9, 5, 6, 3, 2, qkv_bias=True), 1, 6, 3, 3),
                      (gpt_config(13, 3, 4, 1, 1), 3, 1, 5, 2)]


@check(points=2, visibility="public", kind="property", targets=(MODEL, GEN),
       description="generate_text_simple with your GPTModel (eval): past context_length tokens, each new id is "
                   "the argmax of your model's last logits on the last context_size tokens")
def generate_with_your_gpt(ctx: Context) -> None:
    for seed, (c, B, T0, n, cs) in enumerate(GPT_GENERATE_CASES):
        w, idx = gpt_weights(c, seed), token_ids((B, T0), c["vocab_size"], seed + 1)
        ctx.example(shapes={"idx": [B, T0]}, config={**c, "max_new_tokens": n, "context_size": cs}, values={"idx": idx})
        (got,) = ctx.fetch(ctx.call(GEN, ctx.module(MODEL, [c], weights=w), idx, n, cs))
        got = ctx.expect_tensor(got, torch.empty(B, T0 + n), f"generate_text_simple(your GPTModel, max_new_tokens={n})")
        m = ctx.module(MODEL, [c], weights=w)
        steps = ctx.fetch(*(ctx.call(m, got[:, max(0, t - cs):t]) for t in range(T0, T0 + n)))
        want = torch.cat([idx, *(ctx.expect_tensor(s, torch.empty(B, min(t, cs), c["vocab_size"]), "logits of GPTModel")
                                 [:, -1:].argmax(-1) for t, s in zip(range(T0, T0 + n), steps))], dim=1)
        expect_ids(ctx, got, want, f"generate_text_simple(your GPTModel, context_size={cs}), compared with your "
                                   f"model's own logits on the ids it generated")
