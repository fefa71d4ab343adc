"""The known mistakes of a11_lora, one catalogue per function or class: public and hidden checks give the same hints.

Each entry computes the mistake's output from the weights the check loaded (by the curriculum's names).
"""

from __future__ import annotations

import torch

from autograder.compare import Misconceptions

LORA = Misconceptions("LoRALayer")


@LORA.add("no_rank_scaling", "your output matches alpha * (x @ A @ B): the book's first printing omits / rank; this "
          "assignment (and the book's current code) scales by alpha / rank", when=lambda rank, **_: rank != 1)
def _(x, A, B, alpha, rank):
    return alpha * (x @ A @ B)


@LORA.add("scale_rank_over_alpha", "your output matches (rank / alpha) * (x @ A @ B): the scale is alpha / rank",
          when=lambda alpha, rank, **_: alpha * alpha != rank * rank)
def _(x, A, B, alpha, rank):
    return (rank / alpha) * (x @ A @ B)


@LORA.add("no_scaling", "your output matches x @ A @ B without the scale: multiply by alpha / rank",
          when=lambda alpha, rank, **_: alpha != rank)
def _(x, A, B, alpha, rank):
    return x @ A @ B


WRAPPED = Misconceptions("LinearWithLoRA")


def _linear(x: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.nn.functional.linear(x, w["linear.weight"], w.get("linear.bias"))


def _update(x: torch.Tensor, w: dict[str, torch.Tensor], scale: float) -> torch.Tensor:
    return scale * (x @ w["lora.A"] @ w["lora.B"])


@WRAPPED.add("lora_multiplied", "your output matches linear(x) * lora(x): the update is added, linear(x) + lora(x)")
def _(x, w, scale):
    return _linear(x, w) * _update(x, w, scale)


@WRAPPED.add("lora_only", "your output matches lora(x) alone: keep the wrapped layer, linear(x) + lora(x)")
def _(x, w, scale):
    return _update(x, w, scale)


@WRAPPED.add("lora_ignored", "your output matches linear(x) alone: add the update, linear(x) + lora(x)",
             when=lambda w, **_: bool(w["lora.B"].any()))
def _(x, w, scale):
    return _linear(x, w)


MERGE = Misconceptions("merge_lora")


@MERGE.add("no_transpose", "your merged weight matches W + scale * (A @ B): A @ B is (in, out) and nn.Linear "
           "stores (out, in), add its transpose", when=lambda w, **_: w["lora.A"].shape[0] == w["lora.B"].shape[1])
def _(w, scale):
    return w["linear.weight"] + scale * (w["lora.A"] @ w["lora.B"])


@MERGE.add("no_scale", "your merged weight matches W + (A @ B).T without alpha / rank: scale the update like "
           "LoRALayer does")
def _(w, scale):
    return w["linear.weight"] + (w["lora.A"] @ w["lora.B"]).T
