"""Public checks for a03_attention: properties and snapshots, no reference needed."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.kit import FLOAT64, Context, Suite, given
from autograder.mistakes.a03_attention import attention_hints
from autograder.properties import dropout_probe, is_causal, keeps_dtype
from autograder.scan import Ban
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots

SOFTMAX_BANS = ("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax", "torch.nn.Softmax",
                "torch.special.softmax", "torch.log_softmax", "torch.nn.functional.log_softmax")
SUITE = Suite("a03_attention", bans=[
    *(Ban(api, scope="softmax") for api in SOFTMAX_BANS),
    Ban("torch.nn.functional.scaled_dot_product_attention"),
    Ban("torch.nn.MultiheadAttention"),
    Ban("torch.nn.functional.multi_head_attention_forward"),
])
check = SUITE.check

MHA = "MultiHeadAttention"
SHORT = {"CausalAttention": "causal_attention", "MultiHeadAttentionWrapper": "wrapper", MHA: "mha"}
CAUSAL_CLASSES = ("CausalAttention", "MultiHeadAttentionWrapper", MHA)

SNAPSHOTS = [
    SnapshotCase("softmax", "softmax", {"x": (3, 5)}, seed=1, scale=3.0),
    SnapshotCase("v1", "SelfAttention_v1", {"x": (4, 3)}, init={"d_in": 3, "d_out": 2}, seed=2),
    SnapshotCase("v2", "SelfAttention_v2", {"x": (4, 3)}, init={"d_in": 3, "d_out": 2, "qkv_bias": True}, seed=3),
    SnapshotCase("causal", "CausalAttention", {"x": (2, 4, 3)},
                 init={"d_in": 3, "d_out": 2, "context_length": 6, "dropout": 0.0}, seed=4),
    SnapshotCase("wrapper", "MultiHeadAttentionWrapper", {"x": (2, 4, 3)},
                 init={"d_in": 3, "d_out": 2, "context_length": 4, "dropout": 0.0, "num_heads": 2}, seed=5),
    SnapshotCase("mha", MHA, {"x": (2, 5, 4)},
                 init={"d_in": 4, "d_out": 6, "context_length": 7, "dropout": 0.0, "num_heads": 3, "qkv_bias": True},
                 seed=6),
]


def _softmax_on(ctx: Context, x: torch.Tensor, dim: int) -> torch.Tensor:
    ctx.example(shapes={"x": list(x.shape)}, config={"dim": dim}, values={"x": x})
    (out,) = ctx.fetch(ctx.call("softmax", x, dim=dim))
    return ctx.expect_tensor(out, x, "output of softmax")


@check(points=2, visibility="public", kind="property", targets=("softmax",),
       description="softmax: non-negative, each slice along `dim` sums to 1, shape and dtype kept")
@given(data=st.data(), shape=sg.shapes(max_dims=3))
def softmax_rows_sum_to_one(ctx: Context, data: st.DataObject, shape: tuple[int, ...]) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = data.draw(sg.tensors(shape=shape, scale=3.0), label="x")
    out = _softmax_on(ctx, x, dim)
    ctx.expect(not (out < 0).any(), "output of softmax: has negative entries")
    ctx.expect_close(out.sum(dim), torch.ones_like(x.sum(dim)), name=f"sum of softmax output along dim={dim}",
                     tol=FLOAT64)


@check(points=2, visibility="public", kind="property", targets=("softmax",),
       description="softmax: finite for inputs of magnitude 1e4, and unchanged when a constant is added")
@given(x=sg.tensors(shape=sg.shapes(max_dims=2, max_side=6), scale=1e4), shift=st.sampled_from([1e3, -1e3, 5e3]))
def softmax_large_inputs(ctx: Context, x: torch.Tensor, shift: float) -> None:
    out = _softmax_on(ctx, x, -1)
    ctx.expect(torch.isfinite(out).all(), "output of softmax: inf or nan for inputs of magnitude 1e4 (exp overflowed: "
                                          "subtract the maximum along `dim` before exponentiating)")
    shifted = _softmax_on(ctx, x + shift, -1)
    ctx.expect_close(shifted, out, name=f"softmax(x + {shift:g}) compared with softmax(x)", tol=FLOAT64)


register_snapshots(SUITE, SNAPSHOTS, hints=lambda case, inputs, w: None if case.init is None else attention_hints(
                       case.target, inputs["x"], w, case.init.get("num_heads", 1)),
                   describe=lambda case: f"{case.target}: matches stored reference outputs for fixed weights and inputs")


for _cls in CAUSAL_CLASSES:
    @check(points=2, visibility="public", kind="property", targets=(_cls,), max_examples=15,
           name=f"{SHORT[_cls]}_is_causal",
           description=f"{_cls}: changing a later token never changes the outputs of earlier tokens")
    @given(cfg=sg.attention_configs(), data=st.data())
    def _(ctx: Context, cfg: dict, data: st.DataObject, cls: str = _cls) -> None:
        is_causal(ctx, cls, cfg, data)

for _cls in ("CausalAttention", MHA):
    @check(points=3, visibility="public", kind="property", targets=(_cls,),
           name=f"{SHORT[_cls]}_dropout_on_attention_weights",
           description=f"{_cls}: in train mode, dropout zeroes attention weights at rate p and scales the rest "
                       f"by 1/(1-p); in eval mode it is off")
    def _(ctx: Context, cls: str = _cls) -> None:
        dropout_probe(ctx, cls)


@check(points=1, visibility="public", kind="property", targets=(MHA,),
       description="MultiHeadAttention: ValueError for d_out not divisible by num_heads, and for T > context_length")
def mha_rejects_bad_input(ctx: Context) -> None:
    bad_heads = {"d_in": 4, "d_out": 10, "context_length": 4, "dropout": 0.0, "num_heads": 3}
    short = {"d_in": 4, "d_out": 4, "context_length": 3, "dropout": 0.0, "num_heads": 2}
    ctx.example(config={"bad_heads": bad_heads, "short_context": short}, shapes={"x": [1, 5, 4]})
    made = ctx.module(MHA, bad_heads, catch=True)
    long = ctx.call(ctx.module(MHA, short), torch.zeros(1, 5, 4), catch=True)
    made, long = ctx.fetch(made, long)
    ctx.expect_raises(made, f"{MHA}(d_out=10, num_heads=3)", ("ValueError", "TypeError"), mention=("10", "3"))
    ctx.expect_raises(long, f"{MHA}(context_length=3) called on x of shape (1, 5, 4)", ("ValueError", "TypeError"),
                      mention=("5", "3"))


@check(points=1, visibility="public", kind="integrity", targets=(MHA,),
       description="MultiHeadAttention: float32 in, float32 out (float64 likewise); the input is not modified")
def mha_keeps_dtype(ctx: Context) -> None:
    keeps_dtype(ctx, MHA, {"d_in": 4, "d_out": 4, "context_length": 3, "dropout": 0.0, "num_heads": 2}, (2, 3, 4), 7,
                label=MHA)
