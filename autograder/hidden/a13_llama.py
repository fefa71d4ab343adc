"""Hidden checks for a13_llama: differential against reference/a13_llama.py, with hints."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

import reference.a13_llama as ref
from autograder import strategies as sg
from autograder.differential import compare_module, random_weights
from autograder.kit import Context
from autograder.mistakes.a13_llama import APPLY_ROPE, RMSNORM, SWIGLU, gqa_hints
from autograder.suites.a13_llama import ACT, FF, GQA, NORM, RMSNORM_FLOAT64, ROPE, SUITE

check = SUITE.check


@check(points=3, visibility="hidden", kind="differential", targets=(NORM,), max_examples=12,
       description="RMSNorm (trained weight, rows of size 1e-3 and of size 1): output, input gradient and weight "
                   "gradient match the reference (float64)")
def rmsnorm_matches_reference(ctx: Context) -> None:
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(1, 8), seed=st.integers(0, 2**16),
               eps=st.sampled_from([1e-5, 1e-2]))
    def _(lead: tuple[int, ...], E: int, seed: int, eps: float) -> None:
        module = ref.RMSNorm(E, eps=eps).double()
        random_weights(module, seed)
        small = torch.rand(*lead, 1, generator=torch.Generator().manual_seed(seed)) < 0.5  # some rows of size 1e-3
        x = sg.make_tensor((*lead, E), seed + 1) * torch.where(small, 1e-3, 1.0)
        ctx.example(shapes={"x": [*lead, E]}, config={"emb_dim": E, "eps": eps, "rows_of_size_1e-3": int(small.sum())})
        compare_module(ctx, module, NORM, {"x": x}, init={"emb_dim": E, "eps": eps}, seed=seed + 2,
                       tol=RMSNORM_FLOAT64, hints=RMSNORM(x=x, weight=module.weight.detach(), eps=eps))


@check(points=3, visibility="hidden", kind="differential", targets=(FF, ACT), max_examples=10,
       description="SwiGLUFeedForward: output, input gradient and the gradients of fc1, fc2, fc3 match the "
                   "reference (float64)")
def swiglu_matches_reference(ctx: Context) -> None:
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(1, 6), H=st.integers(1, 9),
               seed=st.integers(0, 2**16))
    def _(lead: tuple[int, ...], E: int, H: int, seed: int) -> None:
        module = ref.SwiGLUFeedForward(E, H).double()
        random_weights(module, seed, scale=1.0)
        x = sg.make_tensor((*lead, E), seed + 1)
        ctx.example(shapes={"x": [*lead, E]}, config={"emb_dim": E, "hidden_dim": H})
        compare_module(ctx, module, FF, {"x": x}, init={"emb_dim": E, "hidden_dim": H}, seed=seed + 2,
                       hints=SWIGLU(x=x, w=dict(module.state_dict())))


@check(points=3, visibility="hidden", kind="differential", targets=(ROPE,), max_examples=12,
       description="apply_rope (given the same tables, offset > 0 too): output and x-gradient match the reference "
                   "(float64)")
def apply_rope_matches_reference(ctx: Context) -> None:
    @ctx.given(B=st.integers(1, 2), H=st.integers(1, 3), T=st.integers(1, 5), half=st.integers(1, 4),
               offset=st.integers(0, 6), extra=st.integers(0, 3), seed=st.integers(0, 2**16))
    def _(B: int, H: int, T: int, half: int, offset: int, extra: int, seed: int) -> None:
        cos, sin = ref.compute_rope_params(2 * half, 10_000, offset + T + extra)
        x = sg.make_tensor((B, H, T, 2 * half), seed)
        kwargs = {"cos": cos, "sin": sin, "offset": offset}
        ctx.example(shapes={"x": list(x.shape), "cos": list(cos.shape)}, config={"offset": offset})
        compare_module(ctx, ref.apply_rope, ROPE, {"x": x}, kwargs=kwargs, seed=seed + 1,
                       hints=APPLY_ROPE(x=x, **kwargs))


@check(points=5, visibility="hidden", kind="differential", targets=(GQA, ROPE), max_examples=12,
       description="GroupedQueryAttention (groups of 1-3 heads, causal masks larger than (T, T), and no mask): "
                   "output, input gradient and every parameter gradient match the reference (float64)")
def gqa_matches_reference(ctx: Context) -> None:
    @ctx.given(groups=st.integers(1, 3), size=st.integers(1, 3), hs=st.sampled_from([2, 4, None]),
               d_in=st.integers(1, 7), T=st.integers(1, 5), extra=st.integers(0, 3), masked=st.booleans(),
               seed=st.integers(0, 2**16))
    def _(groups: int, size: int, hs: int | None, d_in: int, T: int, extra: int, masked: bool, seed: int) -> None:
        heads = groups * size
        if hs is None:  # the default head_dim, d_in // num_heads, must be even for RoPE
            d_in = 2 * heads
        init: dict[str, Any] = {"d_in": d_in, "num_heads": heads, "num_kv_groups": groups, "head_dim": hs}
        module = ref.GroupedQueryAttention(**init).double()
        random_weights(module, seed)
        L = T + extra
        cos, sin = ref.compute_rope_params(module.head_dim, 10_000, L)
        mask = torch.ones(L, L, dtype=torch.bool).triu(1) if masked else None
        x = sg.make_tensor((2, T, d_in), seed + 1)
        ctx.example(shapes={"x": list(x.shape), "mask": [L, L] if masked else None}, config=init)
        compare_module(ctx, module, GQA, {"x": x}, init=init, kwargs={"mask": mask, "cos": cos, "sin": sin},
                       seed=seed + 2, hints=gqa_hints(x, dict(module.state_dict()), heads, groups, mask, cos, sin))
