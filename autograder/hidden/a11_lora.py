"""Hidden checks for a11_lora: differential against reference/a11_lora.py, outputs and gradients."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import reference.a11_lora as ref
from autograder import strategies as sg
from autograder.kit import Context, compare_module, random_weights
from autograder.mistakes.a11_lora import LORA
from autograder.suites.a11_lora import LAYER, MERGE_FN, SUITE, WRAP, lora_weights, merge_check

check = SUITE.check


@check(points=3, visibility="hidden", kind="differential", targets=(LAYER,), max_examples=10,
       description="LoRALayer with nonzero A and B: output and the gradients of x, A and B match the reference "
                   "(scale alpha / rank; float64)")
def lora_forward_matches_reference(ctx: Context) -> None:
    @ctx.given(fin=st.integers(1, 6), fout=st.integers(1, 6), rank=st.integers(2, 5),
               alpha=st.sampled_from([1.0, 3.0, 16.0]), lead=sg.shapes(max_dims=2, max_side=3), seed=sg.seeds())
    def _(fin: int, fout: int, rank: int, alpha: float, lead: tuple[int, ...], seed: int) -> None:
        init = {"in_dim": fin, "out_dim": fout, "rank": rank, "alpha": alpha}
        module = ref.LoRALayer(**init).double()
        random_weights(module, seed)  # B nonzero: a trained adapter, where the scale shows
        x = sg.make_tensor((*lead, fin), seed + 1)
        ctx.example(shapes={"x": list(x.shape)}, config=init)
        compare_module(ctx, module, LAYER, {"x": x}, init=init, seed=seed + 2,
                       hints=LORA(x=x, A=module.A.detach(), B=module.B.detach(), alpha=alpha, rank=rank))


@check(points=2, visibility="hidden", kind="differential", targets=(MERGE_FN, WRAP, LAYER), max_examples=6,
       description="merge_lora: the merged weight and bias match the reference's, for any shape, rank and bias "
                   "(float32); the LinearWithLoRA is left untouched")
def merge_lora_matches_reference(ctx: Context) -> None:
    @ctx.given(fin=st.integers(1, 6), fout=st.integers(1, 6), rank=st.integers(1, 4), bias=st.booleans(),
               alpha=st.sampled_from([0.5, 2.0, 8.0]), seed=sg.seeds())
    def _(fin: int, fout: int, rank: int, bias: bool, alpha: float, seed: int) -> None:
        layer = ref.LinearWithLoRA(torch.nn.Linear(fin, fout, bias=bias), rank, alpha)  # float32, as the public one
        w = lora_weights(fin, fout, rank, bias, seed)
        layer.load_state_dict(w)
        merge_check(ctx, w, rank, alpha, {k: v.double() for k, v in ref.merge_lora(layer).state_dict().items()})
