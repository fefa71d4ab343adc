"""Hidden checks for a05_gpt_model: differential against reference/a05_gpt_model.py, with hints."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

import reference.a05_gpt_model as ref
from autograder import strategies as sg
from autograder.differential import float64_inside
from autograder.kit import FLOAT32, GELU_FLOAT64, Context, Tolerance, compare_module, given, random_weights
from autograder.mistakes.a05_gpt_model import GENERATE_MISTAKES, GPT_MISTAKES
from autograder.strategies import gpt_config, token_ids
from autograder.suites.a05_gpt_model import GEN, MODEL, SUITE, expect_ids

check = SUITE.check


def _model_check(ctx: Context, cfg: dict[str, Any], seed: int, tol: Tolerance, dtype: torch.dtype) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    model = random_weights(ref.GPTModel(c).to(dtype).eval(), seed)
    idx = token_ids((B, T), c["vocab_size"], seed + 1)
    ctx.example(shapes={"in_idx": [B, T]}, config={**c, "dtype": str(dtype).removeprefix("torch.")})
    hints = GPT_MISTAKES(idx=idx, tok=model.tok_emb.weight.detach(), pos=model.pos_emb.weight.detach(),
                         blocks=model.trf_blocks, norm=model.final_norm, head=model.out_head)
    compare_module(ctx, model if dtype == torch.float64 else float64_inside(model), MODEL, {"in_idx": idx},
                   init={"cfg": c}, tol=tol, seed=seed + 2, hints=hints, dtype=dtype)


@check(points=5, visibility="hidden", kind="differential", targets=(MODEL,), max_examples=8,
       description="GPTModel (eval, drop_rate 0): logits and the gradient of every parameter match the reference "
                   "(float64)")
@given(cfg=sg.gpt_configs(), seed=st.integers(0, 2**16))
def gpt_matches_reference(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    _model_check(ctx, cfg, seed, GELU_FLOAT64, torch.float64)  # the book's GELU: see compare.GELU_FLOAT64


@check(points=2, visibility="hidden", kind="differential", targets=(MODEL,), max_examples=4,
       description="GPTModel: in float32 too, logits and all gradients match the exact answer to within float32 "
                   "rounding")
# FLOAT32 as in a04, and emb_dim >= 3 for the same reason (LayerNorm of two nearly equal float32 values is
# ill-conditioned). Over 400 such examples the solution's logits and gradients stay under 0.35x FLOAT32.
@given(cfg=sg.gpt_configs().filter(lambda c: c["cfg"]["emb_dim"] >= 3), seed=st.integers(0, 2**16))
def gpt_float32_matches_reference(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    _model_check(ctx, cfg, seed, FLOAT32, torch.float32)


# (cfg, batch, prompt length, max_new_tokens, context_size)
GENERATE_CASES = [(gpt_config(12, 5, 6, 2, 1, qkv_bias=True), 2, 7, 4, 5), (gpt_config(7, 4, 4, 2, 2), 3, 2, 5, 3),
                  (gpt_config(10, 6, 8, 4, 1), 1, 4, 0, 6), (gpt_config(5, 3, 3, 1, 1), 2, 3, 4, 1)]


@check(points=3, visibility="hidden", kind="differential", targets=(MODEL, GEN),
       description="generate_text_simple with your GPTModel gives the reference's greedy ids for the same weights")
def generate_matches_reference(ctx: Context) -> None:
    for seed, (c, B, T0, n, cs) in enumerate(GENERATE_CASES):
        model = random_weights(ref.GPTModel(c).double().eval(), seed)
        idx = token_ids((B, T0), c["vocab_size"], seed + 1)
        ctx.example(shapes={"idx": [B, T0]}, config={**c, "max_new_tokens": n, "context_size": cs})
        m = ctx.module(MODEL, [c], weights={k: v.detach() for k, v in model.state_dict().items()})
        (got,) = ctx.fetch(ctx.call(GEN, m, idx, n, cs))
        expect_ids(ctx, got, ref.generate_text_simple(model, idx, n, cs), f"generate_text_simple(your GPTModel, "
                   f"max_new_tokens={n}, context_size={cs})", GENERATE_MISTAKES(model=model, idx=idx, n=n, context_size=cs))
