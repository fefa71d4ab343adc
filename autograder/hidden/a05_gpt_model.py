"""Hidden checks for a05_gpt_model: differential against reference/a05_gpt_model.py, with hints."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st
from torch.func import functional_call

import reference.a05_gpt_model as ref
from autograder import strategies as sg
from autograder.checks import Context
from autograder.compare import FLOAT32, FLOAT64, CheckFailure, Tolerance
from autograder.differential import compare_module, matching_variant, random_weights
from autograder.suites.a05_gpt_model import (
    GEN,
    HINT_NO_BLOCKS,
    HINT_NO_FINAL_NORM,
    HINT_SOFTMAX,
    MODEL,
    SUITE,
    USES,
    gpt_cfg,
    ids_like,
    new_model,
    token_ids,
    variant_inputs,
)

check = SUITE.check


def forward_variants(model: ref.GPTModel, idx: torch.Tensor) -> dict[str, Any]:
    """Logits of known GPTModel mistakes, from the reference's own pieces, keyed by hint."""
    blocks, norm, head = model.trf_blocks, model.final_norm, model.out_head
    inputs = variant_inputs(model.tok_emb.weight, model.pos_emb.weight, idx)
    x = model.tok_emb.weight[idx] + model.pos_emb.weight[:idx.shape[1]]
    variants: dict[str, Any] = {text: (lambda xv=xv: head(norm(blocks(xv)))) for text, xv in inputs.items()}
    variants.update({HINT_NO_FINAL_NORM: lambda: head(blocks(x)), HINT_NO_BLOCKS: lambda: head(norm(x)),
                     HINT_SOFTMAX: lambda: torch.softmax(model(idx), dim=-1)})
    return variants


def _exact_inside(module: ref.GPTModel, cfg: dict[str, Any]) -> ref.GPTModel:
    """Make a float32 `module` compute in float64 (its float32 weights, cast up) and round the logits.

    The float32 check compares the learner with this, the exact answer for float32 weights, so only
    the learner's own rounding counts (see a04's block_float32_matches_reference).
    """
    twin = ref.GPTModel(cfg).double()  # a frame for functional_call: every weight comes from `module`

    def forward(in_idx: torch.Tensor) -> torch.Tensor:
        params = {k: v.double() for k, v in module.named_parameters()}
        return functional_call(twin, params, (in_idx,)).to(torch.float32)

    module.forward = forward  # type: ignore[method-assign]
    return module


def _model_check(ctx: Context, cfg: dict[str, Any], seed: int, tol: Tolerance, dtype: torch.dtype) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    model = ref.GPTModel(c).to(dtype).eval()
    random_weights(model, seed)
    idx = token_ids((B, T), c["vocab_size"], seed + 1)
    ctx.example(shapes={"in_idx": [B, T]}, config={**c, "dtype": str(dtype).removeprefix("torch.")})

    def hint(got: torch.Tensor) -> str | None:
        with torch.no_grad():
            return matching_variant(got, forward_variants(model, idx), tol)

    if dtype != torch.float64:
        model = _exact_inside(model, c)
    compare_module(ctx, model, MODEL, {"in_idx": idx}, init={"cfg": c}, tol=tol, seed=seed + 2, hint=hint,
                   dtype=dtype)


@check(points=5, visibility="hidden", kind="differential", targets=(MODEL,), uses=USES, max_examples=8,
       description="GPTModel (eval, drop_rate 0): logits and the gradient of every parameter match the reference "
                   "(float64)")
def gpt_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        _model_check(ctx, cfg, seed, FLOAT64, torch.float64)


@check(points=2, visibility="hidden", kind="differential", targets=(MODEL,), uses=USES, max_examples=4,
       description="GPTModel: in float32 too, logits and all gradients match the exact answer to within float32 "
                   "rounding")
def gpt_float32_matches_reference(ctx: Context) -> None:
    # FLOAT32 as in a04, and emb_dim >= 3 for the same reason (LayerNorm of two nearly equal float32 values is
    # ill-conditioned). Over 400 such examples the solution's logits and gradients stay under 0.35x FLOAT32.
    @ctx.given(cfg=sg.gpt_configs().filter(lambda c: c["cfg"]["emb_dim"] >= 3), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        _model_check(ctx, cfg, seed, FLOAT32, torch.float32)


def _generate_variants(model: ref.GPTModel, idx: torch.Tensor, n: int, cs: int) -> dict[str, torch.Tensor]:
    """Ids of known generate_text_simple mistakes on the reference model, keyed by hint."""

    def run(window: str, position: int) -> torch.Tensor:
        out = idx.clone()
        for _ in range(n):
            cond = out[:, -cs:] if window == "last" else out[:, :cs]
            out = torch.cat([out, model(cond)[:, position].argmax(-1, keepdim=True)], dim=1)
        return out

    return {"matches feeding the model the first context_size tokens: crop to the last ones, "
            "idx[:, -context_size:]": run("first", -1),
            "matches taking the logits of the first position: the next token comes from the last position, "
            "logits[:, -1, :]": run("last", 0)}


# (cfg, batch, prompt length, max_new_tokens, context_size)
GENERATE_CASES = [(gpt_cfg(12, 5, 6, 2, 1, qkv_bias=True), 2, 7, 4, 5), (gpt_cfg(7, 4, 4, 2, 2), 3, 2, 5, 3),
                  (gpt_cfg(10, 6, 8, 4, 1), 1, 4, 0, 6), (gpt_cfg(5, 3, 3, 1, 1), 2, 3, 4, 1)]


@check(points=3, visibility="hidden", kind="differential", targets=(MODEL, GEN), uses=USES,
       description="generate_text_simple with your GPTModel gives the reference's greedy ids for the same weights")
def generate_matches_reference(ctx: Context) -> None:
    for seed, (c, B, T0, n, cs) in enumerate(GENERATE_CASES):
        model = ref.GPTModel(c).double().eval()
        random_weights(model, seed)
        idx = token_ids((B, T0), c["vocab_size"], seed + 1)
        want = ref.generate_text_simple(model, idx, n, cs)
        ctx.example(shapes={"idx": [B, T0]}, config={**c, "max_new_tokens": n, "context_size": cs})
        p = ctx.program()
        m = new_model(p, c, {k: v.detach() for k, v in model.state_dict().items()})
        name = f"generate_text_simple(your GPTModel, max_new_tokens={n}, context_size={cs})"
        got = ids_like(ctx.run(p.returns(out=p.call(GEN, m, idx, n, cs)))["out"], idx, n, name)
        if torch.equal(got, want):
            continue
        with torch.no_grad():
            mistakes = _generate_variants(model, idx, n, cs)
        hint = next((text for text, ids in mistakes.items() if torch.equal(got, ids)), None)
        b, t = (got != want).nonzero()[0].tolist()
        raise CheckFailure(f"{name}: ids differ from the reference's greedy continuation; first difference at "
                           f"row {b}, new token {t - T0}: got {int(got[b, t])}, expected {int(want[b, t])}",
                           hint=hint)
