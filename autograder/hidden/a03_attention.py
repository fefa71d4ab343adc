"""Hidden checks for a03_attention: differential against reference/a03_attention.py, with hints."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import reference.a03_attention as ref
from autograder import strategies as sg
from autograder.checks import Context
from autograder.compare import FLOAT32, FLOAT64, Tolerance
from autograder.differential import compare_module, random_weights
from autograder.properties import attention_init
from autograder.mistakes.a03_attention import attention_hints
from autograder.suites.a03_attention import SUITE

check = SUITE.check


def _module_check(ctx: Context, cls: str, cfg: dict, seed: int, tol: Tolerance = FLOAT64,
                  dtype: torch.dtype = torch.float64) -> None:
    init = attention_init(cls, cfg)
    module = getattr(ref, cls)(**init).to(dtype).eval()
    random_weights(module, seed)
    x = sg.make_tensor((cfg["B"], cfg["T"], cfg["d_in"]), seed + 1, dtype=dtype)
    ctx.example(shapes={"x": list(x.shape)}, config=init)
    hints = attention_hints(cls, x, module.state_dict(), init.get("num_heads", 1))
    compare_module(ctx, module, cls, {"x": x}, init=init, tol=tol, seed=seed + 2, hints=hints)


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
    compare_module(ctx, module, cls, {"x": x}, init=init, seed=seed + 2,
                   hints=attention_hints(cls, x, module.state_dict()))


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
