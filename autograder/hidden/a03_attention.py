"""Hidden checks for a03_attention: differential against reference/a03_attention.py, with hints."""

from __future__ import annotations

import math
from typing import Callable

import torch
from hypothesis import strategies as st

import reference.a03_attention as ref
from autograder import strategies as sg
from autograder.checks import Context
from autograder.compare import FLOAT32, FLOAT64, Tolerance
from autograder.differential import compare_module, matching_variant, random_weights
from autograder.properties import attention_init
from autograder.suites.a03_attention import SUITE

check = SUITE.check


def attention_variants(q_lin: torch.nn.Linear, k_lin: torch.nn.Linear, v_lin: torch.nn.Linear,
                       out: Callable[[torch.Tensor], torch.Tensor], heads: int, x: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """Outputs of known misconceptions, keyed by the hint a learner should read."""
    with torch.no_grad():
        q, k, v = (lin(x).unflatten(-1, (heads, -1)).transpose(1, 2) for lin in (q_lin, k_lin, v_lin))
    T, hs, d_out = x.shape[1], q.shape[-1], q.shape[-1] * heads
    future = torch.ones(T, T, dtype=torch.bool).triu(1)

    def run(scale: float, fill: float | None = float("-inf"), mask: torch.Tensor = future) -> torch.Tensor:
        scores = q @ k.transpose(-2, -1)
        if fill is not None:
            scores = scores.masked_fill(mask, fill)
        w = torch.softmax(scores * scale, dim=-1)
        return out((w @ v).transpose(1, 2).flatten(-2))

    variants = {
        "your output matches attention in which tokens also attend to later tokens: the causal mask is missing "
        "(or off by one). Fill the scores above the diagonal, torch.triu(..., diagonal=1), with -inf before "
        "the softmax.": lambda: run(1 / math.sqrt(hs), None),
        "your output matches a causal mask filled with 0 instead of -inf: exp(0) = 1, so future tokens still "
        "get weight. Use float('-inf').": lambda: run(1 / math.sqrt(hs), 0.0),
        "your output matches a mask that is off by one (each token also sees the next one): build it with "
        "torch.triu(..., diagonal=1).": lambda: run(1 / math.sqrt(hs), mask=torch.ones(T, T, dtype=torch.bool).triu(2)),
        "your output matches scores divided by d (the key width) instead of sqrt(d): divide by "
        "keys.shape[-1] ** 0.5.": lambda: run(1 / hs),
        "your output matches scores that are not scaled at all: divide them by sqrt(head_dim) before the "
        "softmax.": lambda: run(1.0),
    }
    if heads > 1:
        variants["your output matches scores divided by sqrt(d_out) instead of sqrt(head_dim): each head's dot "
                 "products have length head_dim = d_out // num_heads."] = lambda: run(1 / math.sqrt(d_out))
    return variants


def _module_check(ctx: Context, cls: str, cfg: dict, seed: int, tol: Tolerance = FLOAT64,
                  dtype: torch.dtype = torch.float64) -> None:
    init = attention_init(cls, cfg)
    module = getattr(ref, cls)(**init).to(dtype).eval()
    random_weights(module, seed)
    x = sg.make_tensor((cfg["B"], cfg["T"], cfg["d_in"]), seed + 1, dtype=dtype)
    ctx.example(shapes={"x": list(x.shape)}, config=init)
    hint = None
    if cls == "MultiHeadAttention":
        hint = lambda got: matching_variant(got, attention_variants(module.W_query, module.W_key, module.W_value,
                                                                    module.out_proj, cfg["num_heads"], x), tol)
    elif cls == "CausalAttention":
        hint = lambda got: matching_variant(got, attention_variants(module.W_query, module.W_key, module.W_value,
                                                                    lambda c: c, 1, x), tol)
    compare_module(ctx, module, cls, {"x": x}, init=init, tol=tol, seed=seed + 2, hint=hint)


@check(points=3, visibility="hidden", kind="differential", targets=("softmax",), max_examples=25,
       description="softmax: values and gradient match the reference")
def softmax_matches_reference(ctx: Context) -> None:
    @ctx.given(data=st.data(), shape=sg.shapes(max_dims=3), scale=st.sampled_from([1.0, 10.0, 100.0]))
    def _(data: st.DataObject, shape: tuple[int, ...], scale: float) -> None:
        dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
        x = data.draw(sg.tensors(shape=shape, scale=scale), label="x")
        ctx.example(shapes={"x": list(shape)}, config={"dim": dim, "scale": scale})
        compare_module(ctx, ref.softmax, "softmax", {"x": x}, kwargs={"dim": dim})


@check(points=2, visibility="hidden", kind="differential", targets=("SelfAttention_v1",),
       description="SelfAttention_v1: output and all gradients match the reference")
def self_attention_v1_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.attention_configs(max_batch=1), seed=st.integers(0, 2**16))
    def _(cfg: dict, seed: int) -> None:
        _self_attention(ctx, "SelfAttention_v1", {"d_in": cfg["d_in"], "d_out": cfg["d_out"]}, cfg, seed)


@check(points=2, visibility="hidden", kind="differential", targets=("SelfAttention_v2",),
       description="SelfAttention_v2: output and all gradients match the reference")
def self_attention_v2_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.attention_configs(max_batch=1), seed=st.integers(0, 2**16))
    def _(cfg: dict, seed: int) -> None:
        _self_attention(ctx, "SelfAttention_v2", {"d_in": cfg["d_in"], "d_out": cfg["d_out"],
                                                  "qkv_bias": cfg["qkv_bias"]}, cfg, seed)


def _self_attention(ctx: Context, cls: str, init: dict, cfg: dict, seed: int) -> None:
    module = getattr(ref, cls)(**init).double().eval()
    random_weights(module, seed)
    x = sg.make_tensor((cfg["T"], cfg["d_in"]), seed + 1)
    ctx.example(shapes={"x": list(x.shape)}, config=init)
    compare_module(ctx, module, cls, {"x": x}, init=init, seed=seed + 2)


def _differential(cls: str, points: float, name: str) -> None:
    def body(ctx: Context) -> None:
        @ctx.given(cfg=sg.attention_configs(), seed=st.integers(0, 2**16))
        def _(cfg: dict, seed: int) -> None:
            _module_check(ctx, cls, cfg, seed)

    body.__name__ = name
    check(points=points, visibility="hidden", kind="differential", targets=(cls,), max_examples=25,
          description=f"{cls}: output, input gradient and every parameter gradient match the reference "
                      f"(float64)")(body)


_differential("CausalAttention", 3, "causal_attention_matches_reference")
_differential("MultiHeadAttentionWrapper", 2, "wrapper_matches_reference")
_differential("MultiHeadAttention", 5, "mha_matches_reference")


@check(points=2, visibility="hidden", kind="differential", targets=("MultiHeadAttention",), max_examples=10,
       description="MultiHeadAttention: matches the reference in float32 too")
def mha_float32_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.attention_configs(), seed=st.integers(0, 2**16))
    def _(cfg: dict, seed: int) -> None:
        _module_check(ctx, "MultiHeadAttention", cfg, seed, tol=FLOAT32, dtype=torch.float32)
