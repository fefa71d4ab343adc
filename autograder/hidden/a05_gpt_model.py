"""Hidden checks for a05_gpt_model: differential against reference/a05_gpt_model.py, with hints."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st
from torch.func import functional_call

import reference.a05_gpt_model as ref
from autograder import strategies as sg
from autograder.kit import FLOAT32, GELU_FLOAT64, Context, Tolerance, compare_module, random_weights
from autograder.mistakes.a05_gpt_model import GENERATE_MISTAKES, GPT_MISTAKES
from autograder.strategies import token_ids
from autograder.suites.a05_gpt_model import GEN, MODEL, SUITE, expect_ids, gpt_cfg

check = SUITE.check


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
    hints = GPT_MISTAKES(idx=idx, tok=model.tok_emb.weight.detach(), pos=model.pos_emb.weight.detach(),
                         blocks=model.trf_blocks, norm=model.final_norm, head=model.out_head)
    if dtype != torch.float64:
        model = _exact_inside(model, c)
    compare_module(ctx, model, MODEL, {"in_idx": idx}, init={"cfg": c}, tol=tol, seed=seed + 2, hints=hints,
                   dtype=dtype)


@check(points=5, visibility="hidden", kind="differential", targets=(MODEL,), max_examples=8,
       description="GPTModel (eval, drop_rate 0): logits and the gradient of every parameter match the reference "
                   "(float64)")
def gpt_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        _model_check(ctx, cfg, seed, GELU_FLOAT64, torch.float64)  # the book's GELU: see compare.GELU_FLOAT64


@check(points=2, visibility="hidden", kind="differential", targets=(MODEL,), max_examples=4,
       description="GPTModel: in float32 too, logits and all gradients match the exact answer to within float32 "
                   "rounding")
def gpt_float32_matches_reference(ctx: Context) -> None:
    # FLOAT32 as in a04, and emb_dim >= 3 for the same reason (LayerNorm of two nearly equal float32 values is
    # ill-conditioned). Over 400 such examples the solution's logits and gradients stay under 0.35x FLOAT32.
    @ctx.given(cfg=sg.gpt_configs().filter(lambda c: c["cfg"]["emb_dim"] >= 3), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        _model_check(ctx, cfg, seed, FLOAT32, torch.float32)


# (cfg, batch, prompt length, max_new_tokens, context_size)
GENERATE_CASES = [(gpt_cfg(12, 5, 6, 2, 1, qkv_bias=True), 2, 7, 4, 5), (gpt_cfg(7, 4, 4, 2, 2), 3, 2, 5, 3),
                  (gpt_cfg(10, 6, 8, 4, 1), 1, 4, 0, 6), (gpt_cfg(5, 3, 3, 1, 1), 2, 3, 4, 1)]


@check(points=3, visibility="hidden", kind="differential", targets=(MODEL, GEN),
       description="generate_text_simple with your GPTModel gives the reference's greedy ids for the same weights")
def generate_matches_reference(ctx: Context) -> None:
    for seed, (c, B, T0, n, cs) in enumerate(GENERATE_CASES):
        model = ref.GPTModel(c).double().eval()
        random_weights(model, seed)
        idx = token_ids((B, T0), c["vocab_size"], seed + 1)
        ctx.example(shapes={"idx": [B, T0]}, config={**c, "max_new_tokens": n, "context_size": cs})
        m = ctx.module(MODEL, [c], weights={k: v.detach() for k, v in model.state_dict().items()})
        (got,) = ctx.fetch(ctx.call(GEN, m, idx, n, cs))
        expect_ids(ctx, got, ref.generate_text_simple(model, idx, n, cs), f"generate_text_simple(your GPTModel, "
                   f"max_new_tokens={n}, context_size={cs})", GENERATE_MISTAKES(model=model, idx=idx, n=n, context_size=cs))
