"""Hidden checks for a03_attention: differential against reference/a03_attention.py, with hints."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import reference.a03_attention as ref
from autograder import strategies as sg
from autograder.kit import FLOAT32, FLOAT64, Context, Tolerance, compare_module, given, random_weights
from autograder.mistakes.a03_attention import attention_hints
from autograder.properties import attention_init
from autograder.suites.a03_attention import SUITE

check = SUITE.check


def _compare(ctx: Context, cls: str, init: dict, shape: tuple[int, ...], seed: int, tol: Tolerance = FLOAT64,
             dtype: torch.dtype = torch.float64) -> None:
    """The learner's `cls` against the reference's with seeded weights, on x of `shape`."""
    module = random_weights(getattr(ref, cls)(**init).to(dtype).eval(), seed)
    x = sg.make_tensor(shape, seed + 1, dtype=dtype)
    ctx.example(shapes={"x": list(x.shape)}, config=init)
    compare_module(ctx, module, cls, {"x": x}, init=init, tol=tol, seed=seed + 2,
                   hints=attention_hints(cls, x, module.state_dict(), init.get("num_heads", 1)))


@check(points=3, visibility="hidden", kind="differential", targets=("softmax",), max_examples=25,
       description="softmax: values and gradient match the reference")
@given(data=st.data(), shape=sg.shapes(max_dims=3), scale=st.sampled_from([1.0, 10.0, 100.0]))
def softmax_matches_reference(ctx: Context, data: st.DataObject, shape: tuple[int, ...], scale: float) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = data.draw(sg.tensors(shape=shape, scale=scale), label="x")
    ctx.example(shapes={"x": list(shape)}, config={"dim": dim, "scale": scale})
    compare_module(ctx, ref.softmax, "softmax", {"x": x}, kwargs={"dim": dim})


@check(points=2, visibility="hidden", kind="differential", targets=("SelfAttention_v1",),
       description="SelfAttention_v1: output and all gradients match the reference")
@given(cfg=sg.attention_configs(max_batch=1), seed=st.integers(0, 2**16))
def self_attention_v1_matches_reference(ctx: Context, cfg: dict, seed: int) -> None:
    _compare(ctx, "SelfAttention_v1", {"d_in": cfg["d_in"], "d_out": cfg["d_out"]}, (cfg["T"], cfg["d_in"]), seed)


@check(points=2, visibility="hidden", kind="differential", targets=("SelfAttention_v2",),
       description="SelfAttention_v2: output and all gradients match the reference")
@given(cfg=sg.attention_configs(max_batch=1), seed=st.integers(0, 2**16))
def self_attention_v2_matches_reference(ctx: Context, cfg: dict, seed: int) -> None:
    init = {"d_in": cfg["d_in"], "d_out": cfg["d_out"], "qkv_bias": cfg["qkv_bias"]}
    _compare(ctx, "SelfAttention_v2", init, (cfg["T"], cfg["d_in"]), seed)


for _cls, _points, _name in (("CausalAttention", 3, "causal_attention_matches_reference"),
                             ("MultiHeadAttentionWrapper", 2, "wrapper_matches_reference"),
                             ("MultiHeadAttention", 5, "mha_matches_reference")):
    @check(points=_points, visibility="hidden", kind="differential", targets=(_cls,), max_examples=25, name=_name,
           description=f"{_cls}: output, input gradient and every parameter gradient match the reference (float64)")
    @given(cfg=sg.attention_configs(), seed=st.integers(0, 2**16))
    def _(ctx: Context, cfg: dict, seed: int, cls: str = _cls) -> None:
        _compare(ctx, cls, attention_init(cls, cfg), (cfg["B"], cfg["T"], cfg["d_in"]), seed)


@check(points=2, visibility="hidden", kind="differential", targets=("MultiHeadAttention",), max_examples=10,
       description="MultiHeadAttention: matches the reference in float32 too")
@given(cfg=sg.attention_configs(), seed=st.integers(0, 2**16))
def mha_float32_matches_reference(ctx: Context, cfg: dict, seed: int) -> None:
    cls = "MultiHeadAttention"
    _compare(ctx, cls, attention_init(cls, cfg), (cfg["B"], cfg["T"], cfg["d_in"]), seed, FLOAT32, torch.float32)
