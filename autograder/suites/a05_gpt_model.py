"""Public checks for a05_gpt_model: properties and snapshots, no reference needed.

The model checks load seeded weights by the curriculum's parameter names and compare the
learner's forward pass with what their own pieces compute (`trf_blocks.0`, `final_norm`,
`out_head` called one by one on tok_emb[ids] + pos_emb[0..T-1]), so a05's wiring is graded apart
from the blocks' insides (a04). The dropout probe zeroes each block's sub-layer outputs but for
a constant c (block(x) = x + c in eval mode) and makes out_head the identity: the train-mode
logits are then final_norm(mask * x / (1 - p) + c) for one unknown 0/1 mask per token, which a
search over the 2^E masks recovers, and dropout anywhere else matches another formula.

generate_text_simple is graded on the runtime's TableLM (logits = table[ids], a bigram model),
whose greedy continuation is known exactly and which records what it was called with.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.checks import CheckAbort, Context, LearnerError, Suite
from autograder.compare import FLOAT64, CheckFailure, assert_close, describe, is_close, tensor_like
from autograder.program import Program, Ref
from autograder.properties import RATE_Z_LIMIT, check_raised
from autograder.runtime.values import Raised
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots
from autograder.suites.a04_gpt_blocks import block_weights

MODEL, GEN = "GPTModel", "generate_text_simple"
USES = ("a03_attention", "a04_gpt_blocks")  # every GPTModel check runs the learner's blocks too
SUITE = Suite("a05_gpt_model")
check = SUITE.check

GPT2_124M: dict[str, Any] = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12,
                             "n_layers": 12, "drop_rate": 0.1, "qkv_bias": False}
GPT2_124M_PARAMS = 163_009_536  # with out_head separate from tok_emb (124,412,160 when tied)


def gpt_cfg(vocab_size: int, context_length: int, emb_dim: int, n_heads: int, n_layers: int, *,
            drop_rate: float = 0.0, qkv_bias: bool = False) -> dict[str, Any]:
    return {"vocab_size": vocab_size, "context_length": context_length, "emb_dim": emb_dim, "n_heads": n_heads,
            "n_layers": n_layers, "drop_rate": drop_rate, "qkv_bias": qkv_bias}


def block_shapes(E: int, qkv_bias: bool) -> dict[str, list[int]]:
    shapes = {f"att.{w}.weight": [E, E] for w in ("W_query", "W_key", "W_value", "out_proj")}
    if qkv_bias:
        shapes.update({f"att.{w}.bias": [E] for w in ("W_query", "W_key", "W_value")})
    shapes.update({"att.out_proj.bias": [E], "ff.layers.0.weight": [4 * E, E], "ff.layers.0.bias": [4 * E],
                   "ff.layers.2.weight": [E, 4 * E], "ff.layers.2.bias": [E], "norm1.scale": [E],
                   "norm1.shift": [E], "norm2.scale": [E], "norm2.shift": [E]})
    return shapes


def expected_shapes(cfg: dict[str, Any]) -> dict[str, list[int]]:
    """Every parameter of GPTModel(cfg), by the curriculum's names."""
    V, C, E = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
    shapes = {"tok_emb.weight": [V, E], "pos_emb.weight": [C, E]}
    for i in range(cfg["n_layers"]):
        shapes.update({f"trf_blocks.{i}.{k}": s for k, s in block_shapes(E, cfg["qkv_bias"]).items()})
    shapes.update({"final_norm.scale": [E], "final_norm.shift": [E], "out_head.weight": [V, E]})
    return shapes


def gpt_weights(cfg: dict[str, Any], seed: int, *, scale: float = 0.5) -> dict[str, torch.Tensor]:
    """Seeded float64 weights for every parameter of GPTModel(cfg)."""
    V, C, E = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64) * scale

    w = {"tok_emb.weight": randn(V, E), "pos_emb.weight": randn(C, E)}
    for i in range(cfg["n_layers"]):
        w.update({f"trf_blocks.{i}.{k}": v for k, v in block_weights(E, cfg["qkv_bias"], seed + 1 + i,
                                                                     scale=scale).items()})
    w.update({"final_norm.scale": 1.0 + randn(E), "final_norm.shift": randn(E), "out_head.weight": randn(V, E)})
    return w


def token_ids(shape: tuple[int, ...], vocab_size: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def new_model(p: Program, cfg: dict[str, Any], weights: dict[str, torch.Tensor] | None,
              dtype: torch.dtype = torch.float64, *, train: bool = False) -> Ref:
    m = p.new(MODEL, cfg)
    p.to(m, dtype)
    if weights is not None:
        p.load(m, weights)
    p.train(m, train)
    return m


def logits_like(B: int, T: int, V: int) -> torch.Tensor:
    return torch.empty(B, T, V, dtype=torch.float64)


SNAPSHOTS = [
    SnapshotCase("gpt", MODEL, {"in_idx": (2, 5)}, init={"cfg": gpt_cfg(13, 6, 6, 2, 2, qkv_bias=True)},
                 seed=1, ids_below=13),
    SnapshotCase("gpt_full_context", MODEL, {"in_idx": (3, 4)}, init={"cfg": gpt_cfg(11, 4, 4, 1, 1)},
                 seed=2, ids_below=11),
]


register_snapshots(SUITE, SNAPSHOTS, targets=lambda case: (MODEL,), uses=lambda case: USES,
                   describe=lambda case: "GPTModel: matches stored reference logits for fixed weights and token ids"
                                         + (" (T = context_length)" if "full" in case.name else ""))


# -- structure -------------------------------------------------------------------------------
def _shape_problem(got: dict[str, list[int]], want: dict[str, list[int]], cfg: dict[str, Any]) -> CheckFailure | None:
    """None when the parameters are as the contract says; else the failure, with a hint where one is known."""
    if got == want:
        return None
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    reshaped = sorted(k for k in set(want) & set(got) if got[k] != want[k])
    parts = [f"missing {missing[:6]}" if missing else "", f"unexpected {extra[:6]}" if extra else "",
             "; ".join(f"{k} has shape {got[k]}, expected {want[k]}" for k in reshaped[:4])]
    message = "parameters of GPTModel: " + "; ".join(x for x in parts if x)
    hint = None
    if "out_head.bias" in extra:
        hint = "out_head has a bias: create it as nn.Linear(emb_dim, vocab_size, bias=False)"
    elif missing == ["out_head.weight"]:
        hint = ("out_head.weight is not a parameter of its own: it is the same Parameter as tok_emb.weight "
                "(weight tying, as in the original GPT-2); this model keeps them separate")
    elif "pos_emb.weight" in missing:
        hint = "no positional embedding: pos_emb = nn.Embedding(context_length, emb_dim)"
    elif "pos_emb.weight" in reshaped and got["pos_emb.weight"][0] == cfg["vocab_size"]:
        hint = "pos_emb has one row per token id; it needs one per position: nn.Embedding(context_length, emb_dim)"
    elif "final_norm.scale" in missing:
        hint = "no final_norm: final_norm = LayerNorm(emb_dim), your a04 LayerNorm"
    elif missing and not extra and all(k.startswith("trf_blocks.") and not k.startswith("trf_blocks.0.")
                                       for k in missing):
        hint = ("trf_blocks.0's parameters are there but later blocks' are not: one TransformerBlock repeated "
                "n_layers times shares its weights; create a new TransformerBlock(cfg) for each layer")
    elif any(k.startswith("trf_blocks.") for k in missing + extra) and not reshaped:
        hint = f"trf_blocks should hold n_layers={cfg['n_layers']} TransformerBlocks, named trf_blocks.0, trf_blocks.1, ..."
    return CheckFailure(message, hint=hint)


@check(points=2, visibility="public", kind="property", targets=(MODEL,), uses=USES,
       description="GPTModel: parameters tok_emb, pos_emb, trf_blocks.0..n_layers-1, final_norm and out_head "
                   "(no bias, not tied to tok_emb), of the contract's shapes")
def model_parameters(ctx: Context) -> None:
    for cfg in (gpt_cfg(7, 5, 4, 2, 2), gpt_cfg(5, 3, 6, 3, 1, qkv_bias=True)):
        ctx.example(config=cfg)
        p = ctx.program()
        got = ctx.run(p.returns(params=p.params(p.new(MODEL, cfg))))["params"]
        failure = _shape_problem(got, expected_shapes(cfg), cfg)
        if failure is not None:
            raise failure


@check(points=2, visibility="public", kind="property", targets=(MODEL,), uses=USES,
       description=f"GPTModel with GPT-2's 124M config has {GPT2_124M_PARAMS:,} parameters (built on the meta "
                   f"device: no memory is allocated)")
def gpt2_124m_parameter_count(ctx: Context) -> None:
    ctx.example(config=GPT2_124M)
    p = ctx.program()
    helpers = p.runtime("a05_helpers")
    shapes = p.call(helpers, p.attr(MODEL), GPT2_124M, method="meta_parameters", catch=True, learner=False)
    got = ctx.run(p.returns(shapes=shapes))["shapes"]
    if isinstance(got, Raised) and got.type == "NotImplementedError":
        ctx.aborted = CheckAbort("failed", f"not implemented yet: {got.message}")
        raise ctx.aborted
    if not isinstance(got, dict):
        raise CheckFailure(f"building GPTModel(GPT-2 124M config) on the meta device (torch.device('meta'): "
                           f"shapes only, no memory) failed: {describe(got)}")
    total = sum(math.prod(s) for s in got.values())
    failure = _shape_problem(got, expected_shapes(GPT2_124M), GPT2_124M)
    if failure is None:
        return
    V, E = GPT2_124M["vocab_size"], GPT2_124M["emb_dim"]
    known = {GPT2_124M_PARAMS + V: "your count includes a bias in out_head (vocab_size = 50,257 extra)",
             GPT2_124M_PARAMS - V * E: "your count matches out_head sharing tok_emb's weight (weight tying): "
                                       "GPTModel keeps a separate out_head",
             GPT2_124M_PARAMS - GPT2_124M["context_length"] * E: "your count lacks the positional embedding"}
    failure.message = f"GPTModel(GPT-2 124M config) has {total:,} parameters, expected {GPT2_124M_PARAMS:,}; " \
                      + failure.message
    failure.hint = known.get(total, failure.hint)
    raise failure


# -- forward ---------------------------------------------------------------------------------
HINT_NO_POS = "your logits match a model without position embeddings: add pos_emb(torch.arange(T))"
HINT_POS_BY_ID = ("your logits match pos_emb indexed by the token ids: index it by the positions 0..T-1, "
                  "pos_emb(torch.arange(T))")
HINT_POS_OFFSET = "your logits match positions 1..T: positions start at 0, torch.arange(T)"
HINT_SCALED_TOK = ("your logits match token embeddings multiplied by sqrt(emb_dim): GPT-2 adds tok_emb and "
                   "pos_emb unscaled")
HINT_NO_BLOCKS = "your logits match a model that skips trf_blocks"
HINT_NO_FINAL_NORM = "your logits match a model that skips final_norm: out_head(final_norm(x)) after the blocks"
HINT_INDEX = ("an embedding lookup went past its table: tok_emb has a row per token id (0..vocab_size-1), pos_emb "
              "a row per position (0..context_length-1); look positions up with torch.arange(T)")
HINT_SOFTMAX = ("your output matches the softmax of the logits: return the raw logits; the loss (a06) and "
                "decoding apply softmax themselves")


def variant_inputs(tok_w: torch.Tensor, pos_w: torch.Tensor, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """What known mistakes feed to the blocks instead of tok_emb[ids] + pos_emb[0..T-1], keyed by hint."""
    T, C, E = idx.shape[1], pos_w.shape[0], tok_w.shape[1]
    tok = tok_w[idx]
    out = {HINT_NO_POS: tok, HINT_SCALED_TOK: tok * math.sqrt(E) + pos_w[:T]}
    if int(idx.max()) < C:
        out[HINT_POS_BY_ID] = tok + pos_w[idx]
    if T < C:
        out[HINT_POS_OFFSET] = tok + pos_w[1:T + 1]
    return out


def _chain(p: Program, m: Ref, x: Ref | torch.Tensor, n_layers: int) -> tuple[Ref | torch.Tensor, Ref, Ref]:
    """Learner's blocks one by one, then final_norm, then out_head: (blocks output, normed, logits)."""
    h = x
    for i in range(n_layers):
        h = p.call(m, h, method=f"trf_blocks.{i}", no_grad=True)
    n = p.call(m, h, method="final_norm", no_grad=True)
    return h, n, p.call(m, n, method="out_head", no_grad=True)


def _forward_hint(ctx: Context, cfg: dict[str, Any], w: dict[str, torch.Tensor], idx: torch.Tensor,
                  logits: torch.Tensor, got: torch.Tensor) -> str | None:
    """Run the learner's own pieces on what known mistakes compute; the hint of the one that matches."""
    p = ctx.program()
    m = new_model(p, cfg, w)
    x = w["tok_emb.weight"][idx] + w["pos_emb.weight"][:idx.shape[1]]
    outs = {text: _chain(p, m, xv, cfg["n_layers"])[2]
            for text, xv in variant_inputs(w["tok_emb.weight"], w["pos_emb.weight"], idx).items()}
    h, _, _ = _chain(p, m, x, cfg["n_layers"])
    outs[HINT_NO_FINAL_NORM] = p.call(m, h, method="out_head", no_grad=True)
    outs[HINT_NO_BLOCKS] = _chain(p, m, x, 0)[2]
    try:
        variants = ctx.run(p.returns(**outs))
    except LearnerError:  # the failure being explained is the one to report
        variants = {}
    variants[HINT_SOFTMAX] = torch.softmax(logits, dim=-1)
    return next((text for text, v in variants.items() if isinstance(v, torch.Tensor) and is_close(got, v, FLOAT64)),
                None)


def _raise_for(ctx: Context, got: Any, when: str) -> None:
    """A caught exception from the learner's forward: abort for a stub, explain an embedding out of range."""
    if not isinstance(got, Raised):
        return
    if got.type == "NotImplementedError":
        ctx.aborted = CheckAbort("failed", f"not implemented yet: {got.message}")
        raise ctx.aborted
    if got.type == "IndexError" and "out of range" in got.message:
        raise CheckFailure(f"{when}: your code raised {got}", hint=HINT_INDEX)
    raise LearnerError(got, "call")


@check(points=4, visibility="public", kind="property", targets=(MODEL,), uses=USES, max_examples=6,
       description="GPTModel (eval): logits = out_head(final_norm(trf_blocks(tok_emb(ids) + pos_emb(0..T-1)))), "
                   "compared with your own blocks, final_norm and out_head called one by one")
def forward_composes_the_pieces(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=sg.seeds())
    def _(cfg: dict[str, Any], seed: int) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        w = gpt_weights(c, seed)
        idx = token_ids((B, T), c["vocab_size"], seed + 1)
        x = w["tok_emb.weight"][idx] + w["pos_emb.weight"][:T]
        ctx.example(shapes={"in_idx": [B, T]}, config=c, values={"in_idx": idx})
        p = ctx.program()
        m = new_model(p, c, w)
        full = p.call(m, idx, no_grad=True, catch=True)
        _, _, pieces = _chain(p, m, x, c["n_layers"])
        res = ctx.run(p.returns(full=full, pieces=pieces))
        _raise_for(ctx, res["full"], f"GPTModel (vocab_size={c['vocab_size']}, context_length={c['context_length']}) "
                                     f"on in_idx of shape ({B}, {T})")
        logits = tensor_like(res["pieces"], logits_like(B, T, c["vocab_size"]),
                             "out_head(final_norm(trf_blocks(x))) with your modules")
        try:
            assert_close(res["full"], logits, tol=FLOAT64,
                         name="logits of GPTModel (expected out_head(final_norm(trf_blocks(x))) with "
                              "x = tok_emb(in_idx) + pos_emb(torch.arange(T)), from your own modules)")
        except CheckFailure as failure:
            if isinstance(res["full"], torch.Tensor) and res["full"].shape == logits.shape:
                failure.hint = _forward_hint(ctx, c, w, idx, logits, res["full"])
            raise


@check(points=1, visibility="public", kind="property", targets=(MODEL,), uses=USES, max_examples=6,
       description="GPTModel: changing a later token never changes the logits at earlier positions")
def forward_is_causal(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), data=st.data())
    def _(cfg: dict[str, Any], data: st.DataObject) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        k = data.draw(st.integers(0, T - 1), label="k")
        seed = data.draw(st.integers(0, 2**16), label="seed")
        idx = token_ids((B, T), c["vocab_size"], seed)
        idx2 = idx.clone()
        idx2[:, k:] = (idx[:, k:] + 1 + token_ids((B, T - k), c["vocab_size"] - 1, seed + 1)) % c["vocab_size"]
        ctx.example(shapes={"in_idx": [B, T]}, config={**c, "changed_from_position": k},
                    values={"in_idx": idx, "changed": idx2})
        p = ctx.program()
        m = new_model(p, c, gpt_weights(c, seed + 2))
        res = ctx.run(p.returns(a=p.call(m, idx, no_grad=True), b=p.call(m, idx2, no_grad=True)))
        a = tensor_like(res["a"], logits_like(B, T, c["vocab_size"]), "logits of GPTModel")
        b = tensor_like(res["b"], a, "logits of GPTModel")
        if k > 0:
            assert_close(b[:, :k], a[:, :k], tol=FLOAT64, name=f"logits at positions < {k} after changing the tokens at "
                                                     f"positions >= {k} (a token must not see later tokens)")


# -- dropout ---------------------------------------------------------------------------------
HINT_NO_DROP = "drop_emb is never applied: x = self.drop_emb(tok_embeds + pos_embeds) before the blocks"
HINT_UNSCALED = "kept elements are not scaled by 1/(1-p) (nn.Dropout does it for you)"
HINT_AFTER_BLOCKS = "matches dropout after the transformer blocks: apply drop_emb to tok + pos, before trf_blocks"
HINT_AFTER_NORM = "matches dropout after final_norm (or on the logits): apply drop_emb to tok + pos, before the blocks"
HINT_EVAL_DROPOUT = ("dropout is still on in eval mode: use the nn.Dropout module (self.drop_emb), which follows "
                     "train()/eval(); F.dropout(x, p) is always on unless you pass training=self.training")
HINT_TOK_ONLY = ("matches dropout on the token embeddings only: apply drop_emb to the sum tok_emb(ids) + "
                 "pos_emb(positions)")


def _matching_masks(out: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor | None:
    """candidates (M, B, T, E), one per mask: the index of the matching mask per token (B, T), or None."""
    match = (candidates - out).abs().amax(-1) <= 1e-9  # (M, B, T)
    if not match.any(0).all():
        return None
    return match.to(torch.int64).argmax(0)


@check(points=3, visibility="public", kind="property", targets=(MODEL,), uses=USES,
       description="GPTModel (train): drop_emb drops elements of tok_emb + pos_emb at rate drop_rate, scales the "
                   "rest by 1/(1-p), before the blocks; in eval mode nothing is dropped")
def drop_emb_on_summed_embeddings(ctx: Context) -> None:
    p_drop, B, T, E = 0.5, 16, 4, 4
    cfg = gpt_cfg(E, T, E, 2, 1, drop_rate=p_drop)
    c = torch.tensor([0.7, -1.1, 1.9, 0.4], dtype=torch.float64)
    zero = torch.zeros(E, dtype=torch.float64)
    w = gpt_weights(cfg, 5)
    w.update({"trf_blocks.0.att.out_proj.weight": torch.zeros(E, E, dtype=torch.float64),
              "trf_blocks.0.att.out_proj.bias": c,
              "trf_blocks.0.ff.layers.2.weight": torch.zeros(E, 4 * E, dtype=torch.float64),
              "trf_blocks.0.ff.layers.2.bias": zero, "final_norm.scale": torch.ones(E, dtype=torch.float64),
              "final_norm.shift": zero, "out_head.weight": torch.eye(E, dtype=torch.float64)})
    idx = token_ids((B, T), E, 9)
    tok, pos = w["tok_emb.weight"][idx], w["pos_emb.weight"][:T]
    x = tok + pos
    masks = torch.tensor(list(itertools.product((0.0, 1.0), repeat=E)), dtype=torch.float64)[:, None, None, :]
    s = 1 / (1 - p_drop)
    pre_norm = {"right": masks * x * s + c, "unscaled": masks * x + c, "after_blocks": masks * (x + c) * s,
                "tok_only": masks * tok * s + pos + c}
    hints = {"unscaled": HINT_UNSCALED, "after_blocks": HINT_AFTER_BLOCKS, "tok_only": HINT_TOK_ONLY,
             "after_norm": HINT_AFTER_NORM}
    ctx.example(shapes={"in_idx": [B, T]}, config={**cfg, "block": "x + c (sub-layers output constants)",
                                                   "final_norm": "scale 1, shift 0", "out_head": "identity",
                                                   "blocks": "eval mode", "model": "train mode"})
    p = ctx.program()
    p.seed(1234)
    m = new_model(p, cfg, w, train=True)
    p.train(p.get(m, "trf_blocks"), False)  # only drop_emb may drop; the blocks' dropout is a04's business
    train = p.call(m, idx, no_grad=True)
    p.train(m, False)
    normed = {k: p.call(m, v, method="final_norm", no_grad=True) for k, v in pre_norm.items()}
    res = ctx.run(p.returns(train=train, eval=p.call(m, idx, no_grad=True),
                            base=p.call(m, x + c, method="final_norm", no_grad=True), **normed))
    base = tensor_like(res["base"], x, "final_norm(x)")
    right = tensor_like(res["right"], masks.expand(-1, B, T, E), "final_norm of a batch")
    try:
        assert_close(res["eval"], base, tol=FLOAT64,
                     name="logits of GPTModel in eval mode, its block adding a constant c and out_head the identity "
                          "(expected final_norm(tok_emb(ids) + pos_emb(positions) + c); no dropout in eval mode)")
    except CheckFailure as failure:
        got = res["eval"]
        if isinstance(got, torch.Tensor) and got.shape == x.shape and _matching_masks(got, right) is not None:
            failure.hint = HINT_EVAL_DROPOUT
        raise
    out = tensor_like(res["train"], x, "logits of GPTModel in train mode")
    name = f"logits of GPTModel in train mode (drop_rate={p_drop}), only drop_emb active"
    if is_close(out, base, FLOAT64):
        raise CheckFailure(f"{name}: nothing was dropped", hint=HINT_NO_DROP)
    chosen = _matching_masks(out, right)
    if chosen is None:
        others = {k: res[k] for k in pre_norm if k != "right"}
        others["after_norm"] = masks * base * s
        hint = next((hints[k] for k, v in others.items() if isinstance(v, torch.Tensor)
                     and v.shape == (len(masks), B, T, E) and _matching_masks(out, v) is not None), None)
        raise CheckFailure(f"{name}: the logits are not final_norm(m * (tok + pos) / (1 - p) + c) for any 0/1 "
                           f"dropout mask m: drop_emb should drop elements of tok_emb(ids) + pos_emb(positions), "
                           f"at p = cfg['drop_rate']",
                           hint=hint)
    kept = masks[chosen.flatten(), 0, 0]  # (B * T, E)
    n, k = kept.numel(), int((kept == 0).sum())
    z = (k - n * p_drop) / math.sqrt(n * p_drop * (1 - p_drop))
    if abs(z) > RATE_Z_LIMIT:
        raise CheckFailure(f"{name}: dropped {k} of {n} embedding elements ({k / n:.3f}), expected about "
                           f"p={p_drop} (z-score {z:.1f}, limit {RATE_Z_LIMIT:g}); use cfg['drop_rate']")


@check(points=2, visibility="public", kind="property", targets=(MODEL,), uses=USES, max_examples=4,
       description="GPTModel: in eval mode it is deterministic and equals the same weights with drop_rate=0; "
                   "with drop_rate=0 train mode equals eval mode")
def eval_is_deterministic(ctx: Context) -> None:
    # emb_dim >= 4: final_norm maps every 1-element vector to `shift`, which would hide dropout
    @ctx.given(cfg=sg.gpt_configs().filter(lambda c: c["cfg"]["emb_dim"] >= 4), seed=sg.seeds())
    def _(cfg: dict[str, Any], seed: int) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        w = gpt_weights(c, seed)
        idx = token_ids((B, T), c["vocab_size"], seed + 1)
        ctx.example(shapes={"in_idx": [B, T]}, config={**c, "drop_rate": "0.5 and 0.0"})
        p = ctx.program()
        p.seed(0)
        drop, plain = new_model(p, {**c, "drop_rate": 0.5}, w), new_model(p, c, w)
        outs = {"a": p.call(drop, idx, no_grad=True), "b": p.call(drop, idx, no_grad=True),
                "plain": p.call(plain, idx, no_grad=True)}
        p.train(plain, True)
        outs["plain_train"] = p.call(plain, idx, no_grad=True)
        res = ctx.run(p.returns(**outs))
        a = tensor_like(res["a"], logits_like(B, T, c["vocab_size"]), "logits of GPTModel")
        b = res["b"]
        if not (isinstance(b, torch.Tensor) and b.shape == a.shape
                and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)):
            raise CheckFailure("GPTModel (drop_rate=0.5) in eval mode: two calls gave different logits; dropout "
                               "must be off after .eval()", hint=HINT_EVAL_DROPOUT)
        try:
            assert_close(a, res["plain"], tol=FLOAT64, name="logits of GPTModel (drop_rate=0.5) in eval mode "
                                                             "compared with the same weights and drop_rate=0")
        except CheckFailure as failure:
            failure.hint = HINT_EVAL_DROPOUT
            raise
        try:
            assert_close(res["plain_train"], res["plain"], tol=FLOAT64,
                         name="logits of GPTModel (drop_rate=0) in train mode compared with eval mode")
        except CheckFailure as failure:
            failure.hint = "with drop_rate=0 nothing may be dropped: give nn.Dropout the rate cfg['drop_rate']"
            raise


@check(points=1, visibility="public", kind="property", targets=(MODEL,), uses=USES,
       description="GPTModel: T = context_length works; T > context_length raises ValueError naming T and "
                   "context_length")
def rejects_too_long_input(ctx: Context) -> None:
    cfg = gpt_cfg(11, 5, 4, 2, 1)
    ctx.example(shapes={"in_idx": [1, 8]}, config=cfg)
    p = ctx.program()
    m = new_model(p, cfg, None)
    full = p.call(m, token_ids((1, 5), 11, 0), no_grad=True)
    long = p.call(m, token_ids((1, 8), 11, 1), no_grad=True, catch=True)
    res = ctx.run(p.returns(full=full, long=long))
    tensor_like(res["full"], logits_like(1, 5, 11), "logits of GPTModel for T = context_length = 5")
    try:
        check_raised(ctx, res["long"], "GPTModel(context_length=5) called on in_idx of shape (1, 8)",
                     ("ValueError",), ("8", "5"))
    except CheckFailure as failure:
        failure.hint = ("compare T = in_idx.shape[1] with context_length first thing in forward, and raise "
                        "ValueError(f\"... T={T} ... context_length={...}\") before any lookup")
        raise


# -- generate_text_simple ----------------------------------------------------------------------
def table_for(V: int, seed: int) -> torch.Tensor:
    """A bigram table with no ties in any row (argmax is unambiguous)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(V, V, generator=gen, dtype=torch.float64)


def greedy_bigram(table: torch.Tensor, idx: torch.Tensor, n: int, context_size: int, *,
                  window: str = "last", position: int = -1) -> torch.Tensor:
    """What generate_text_simple returns for TableLM(table); `window`/`position` simulate mistakes."""
    out = idx.clone()
    for _ in range(n):
        cond = out[:, -context_size:] if window == "last" else out[:, :context_size]
        nxt = table[cond[:, position]].argmax(-1, keepdim=True)
        out = torch.cat([out, nxt], dim=1)
    return out


def run_generate(ctx: Context, table: torch.Tensor, idx: torch.Tensor, n: int, context_size: int, *,
                 trainable: bool = False) -> dict[str, Any]:
    p = ctx.program()
    toys = p.runtime("toys")
    lm = p.call(toys, table, method="TableLM", trainable=trainable, learner=False)
    ids = p.tensor("idx", idx)
    out = p.call(GEN, lm, ids, n, context_size)
    return ctx.run(p.returns(out=out, seen=p.get(lm, "seen_lengths"), grad=p.get(lm, "grad_enabled"),
                             idx_after=ids))


def ids_like(actual: Any, idx: torch.Tensor, n: int, name: str) -> torch.Tensor:
    """`actual` must be an int64 tensor of shape (B, T + n) starting with the prompt `idx`."""
    want = (idx.shape[0], idx.shape[1] + n)
    if not isinstance(actual, torch.Tensor) or tuple(actual.shape) != want or actual.dtype != torch.int64:
        raise CheckFailure(f"{name}: expected an int64 tensor of shape {want} (the prompt, then {n} new ids), "
                           f"got {describe(actual)}")
    if not torch.equal(actual[:, :idx.shape[1]], idx):
        raise CheckFailure(f"{name}: the first {idx.shape[1]} ids should be the prompt, unchanged")
    return actual


def _first_difference(got: torch.Tensor, want: torch.Tensor, T0: int) -> str:
    b, t = (got != want).nonzero()[0].tolist()
    return f"row {b}, new token {t - T0}: got id {int(got[b, t])}, expected {int(want[b, t])}"


def _greedy_case(ctx: Context, V: int, B: int, T0: int, n: int, cs: int, seed: int) -> None:
    table, idx = table_for(V, seed), token_ids((B, T0), V, seed + 1)
    ctx.example(shapes={"idx": [B, T0], "table": [V, V]},
                config={"max_new_tokens": n, "context_size": cs, "model": "TableLM: logits = table[ids]"},
                values={"idx": idx})
    res = run_generate(ctx, table, idx, n, cs)
    name = f"generate_text_simple(TableLM, idx, max_new_tokens={n}, context_size={cs})"
    got = ids_like(res["out"], idx, n, name)
    want = greedy_bigram(table, idx, n, cs)
    if torch.equal(got, want):
        return
    mistakes = {"matches feeding the model the first context_size tokens: crop to the last ones, "
                "idx[:, -context_size:]": greedy_bigram(table, idx, n, cs, window="first"),
                "matches taking the logits of the first position: the next token comes from the last position, "
                "logits[:, -1, :]": greedy_bigram(table, idx, n, cs, position=0)}
    hint = next((text for text, ids in mistakes.items() if torch.equal(got, ids)), None)
    raise CheckFailure(f"{name}: not the greedy continuation (argmax of the last position's logits at every step); "
                       f"first difference at {_first_difference(got, want, T0)}", hint=hint)


@check(points=3, visibility="public", kind="property", targets=(GEN,), max_examples=10,
       description="generate_text_simple: appends the argmax of the last position's logits, max_new_tokens times, "
                   "for every row of the batch (on a bigram table model)")
def generate_is_greedy(ctx: Context) -> None:
    _greedy_case(ctx, V=9, B=2, T0=5, n=4, cs=3, seed=0)  # a prompt longer than the context: cropping matters

    @ctx.given(V=st.integers(2, 12), B=st.integers(1, 3), T0=st.integers(1, 6), n=st.integers(1, 5),
               cs=st.integers(1, 5), seed=st.integers(0, 2**16))
    def _(V: int, B: int, T0: int, n: int, cs: int, seed: int) -> None:
        _greedy_case(ctx, V, B, T0, n, cs, seed)


@check(points=2, visibility="public", kind="property", targets=(GEN,), max_examples=6,
       description="generate_text_simple: each model call sees only the last context_size tokens (one call per "
                   "new token)")
def generate_crops_context(ctx: Context) -> None:
    @ctx.given(T0=st.integers(1, 6), n=st.integers(1, 5), cs=st.integers(1, 4), seed=st.integers(0, 2**16))
    def _(T0: int, n: int, cs: int, seed: int) -> None:
        V = 7
        table, idx = table_for(V, seed), token_ids((2, T0), V, seed + 1)
        ctx.example(shapes={"idx": [2, T0]}, config={"max_new_tokens": n, "context_size": cs})
        res = run_generate(ctx, table, idx, n, cs)
        want = [min(T0 + i, cs) for i in range(n)]
        if res["seen"] != want:
            hint = None
            if res["seen"] == [T0 + i for i in range(n)]:
                hint = "the context is never cropped: feed the model idx[:, -context_size:]"
            raise CheckFailure(f"generate_text_simple(max_new_tokens={n}, context_size={cs}) on a prompt of {T0} "
                               f"tokens: the model saw sequences of lengths {res['seen']}, expected {want}",
                               hint=hint)


@check(points=1, visibility="public", kind="integrity", targets=(GEN,),
       description="generate_text_simple: calls the model with gradients off (torch.no_grad), leaves idx "
                   "unchanged, and max_new_tokens=0 returns the prompt")
def generate_without_gradients(ctx: Context) -> None:
    V, idx = 6, token_ids((2, 3), 6, 4)
    ctx.example(shapes={"idx": [2, 3]}, config={"max_new_tokens": "3, then 0", "context_size": 2,
                                                "model": "TableLM with a trainable table"})
    res = run_generate(ctx, table_for(V, 4), idx, 3, 2, trainable=True)
    ids_like(res["out"], idx, 3, "generate_text_simple(max_new_tokens=3)")
    if any(res["grad"]):
        raise CheckFailure(f"generate_text_simple called the model with gradients enabled (grad mode per call: "
                           f"{res['grad']}): every call builds an autograd graph nobody uses",
                           hint="wrap the loop in `with torch.no_grad():`")
    if not torch.equal(res["idx_after"], idx):
        raise CheckFailure("generate_text_simple modified idx in place; build a new tensor with torch.cat")
    res = run_generate(ctx, table_for(V, 4), idx, 0, 2)
    ids_like(res["out"], idx, 0, "generate_text_simple(max_new_tokens=0)")


# (cfg, batch, prompt length, max_new_tokens, context_size): the sequence always outgrows context_length
GPT_GENERATE_CASES = [(gpt_cfg(11, 4, 4, 2, 1), 2, 3, 4, 4), (gpt_cfg(9, 5, 6, 3, 2, qkv_bias=True), 1, 6, 3, 3),
                      (gpt_cfg(13, 3, 4, 1, 1), 3, 1, 5, 2)]


@check(points=2, visibility="public", kind="property", targets=(MODEL, GEN), uses=USES,
       description="generate_text_simple with your GPTModel (eval): past context_length tokens, each new id is "
                   "the argmax of your model's last logits on the last context_size tokens")
def generate_with_your_gpt(ctx: Context) -> None:
    for seed, (c, B, T0, n, cs) in enumerate(GPT_GENERATE_CASES):
        w, idx = gpt_weights(c, seed), token_ids((B, T0), c["vocab_size"], seed + 1)
        ctx.example(shapes={"idx": [B, T0]}, config={**c, "max_new_tokens": n, "context_size": cs},
                    values={"idx": idx})
        p = ctx.program()
        m = new_model(p, c, w)
        got = ids_like(ctx.run(p.returns(out=p.call(GEN, m, idx, n, cs)))["out"], idx, n,
                       f"generate_text_simple(your GPTModel, max_new_tokens={n}, context_size={cs})")
        p = ctx.program()
        m = new_model(p, c, w)
        steps = [p.call(m, got[:, max(0, t - cs):t], no_grad=True) for t in range(T0, T0 + n)]
        logits = ctx.run(p.returns(steps=steps))["steps"]
        for i, t in enumerate(range(T0, T0 + n)):
            step = tensor_like(logits[i], logits_like(B, min(t, cs), c["vocab_size"]), "logits of GPTModel")
            want = step[:, -1].argmax(-1)
            if not torch.equal(got[:, t], want):
                raise CheckFailure(f"generate_text_simple(your GPTModel, context_size={cs}): new token {i} is "
                                   f"{got[:, t].tolist()}, but your model's last logits on the {min(t, cs)} tokens "
                                   f"before it have their argmax at {want.tolist()}")
