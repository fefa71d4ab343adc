"""The curriculum's GPT pieces as plain functions of their weights, named as in the contract.

Catalogues (autograder/mistakes/) compute a mistake's output without the reference or the learner's
code; a mistake in a later assignment (a05's model, a12's cache) needs a right block around it,
which these give from weights by the contract's names (`att.W_query.weight`, `ff.layers.0.weight`,
`norm1.scale`, ...). For hints only: nothing here grades anything.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .strategies import sub_weights

DEFAULT_EPS = 1e-5  # LayerNorm's eps in the contract (and the book)
Sub = Callable[[torch.Tensor], torch.Tensor]


def tanh_gelu(x: torch.Tensor, c: float = math.sqrt(2 / math.pi), power: int = 3) -> torch.Tensor:
    """GPT-2's GELU, 0.5 x (1 + tanh(c (x + 0.044715 x^power))); other c and power make mistakes."""
    return 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * x**power)))


def feedforward(x: torch.Tensor, w: dict[str, torch.Tensor], act: Sub = tanh_gelu) -> torch.Tensor:
    """FeedForward from its `layers.*` weights, with the activation `act` between the two Linear layers."""
    return F.linear(act(F.linear(x, w["layers.0.weight"], w["layers.0.bias"])), w["layers.2.weight"], w["layers.2.bias"])


def attention(x: torch.Tensor, w: dict[str, torch.Tensor], heads: int) -> torch.Tensor:
    """Causal multi-head attention from a block's `att.*` weights (the learner's is graded in a03)."""
    q, k, v = (F.linear(x, w[f"att.W_{n}.weight"], w.get(f"att.W_{n}.bias")).unflatten(-1, (heads, -1)).transpose(-3, -2)
               for n in ("query", "key", "value"))
    T = x.shape[-2]
    scores = (q @ k.transpose(-2, -1)).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    ctx_ = torch.softmax(scores / q.shape[-1] ** 0.5, dim=-1) @ v
    return F.linear(ctx_.transpose(-3, -2).flatten(-2), w["att.out_proj.weight"], w["att.out_proj.bias"])


def pre_ln(x: torch.Tensor, att: Sub, ff: Sub, norm_a: Sub, norm_f: Sub, res_a: bool = True,
           res_f: bool = True) -> torch.Tensor:
    """A pre-LN block, h = x + att(norm_a(x)), then h + ff(norm_f(h)); without a shortcut where res_* is False."""
    h = x + att(norm_a(x)) if res_a else att(norm_a(x))
    return h + ff(norm_f(h)) if res_f else ff(norm_f(h))


def block_parts(w: dict[str, torch.Tensor], heads: int, eps: float = DEFAULT_EPS) -> dict[str, Sub]:
    """A TransformerBlock's sub-layers from its weights: att, ff, n1 (norm1), n2 (norm2), and mixed(i, j): a
    LayerNorm with norm{i}'s scale and norm{j}'s shift."""
    w = {k: v.detach() for k, v in w.items()}

    def mixed(i: int, j: int) -> Sub:
        return lambda t: F.layer_norm(t, t.shape[-1:], w[f"norm{i}.scale"], w[f"norm{j}.shift"], eps)

    ff_w = sub_weights(w, "ff.")
    return {"att": lambda t: attention(t, w, heads), "ff": lambda t: feedforward(t, ff_w), "n1": mixed(1, 1),
            "n2": mixed(2, 2), "mixed": mixed}


def block_forward(w: dict[str, torch.Tensor], heads: int, eps: float = DEFAULT_EPS) -> Sub:
    """A right pre-LN TransformerBlock from weights `w`, as a function."""
    parts = block_parts(w, heads, eps)
    return lambda x: pre_ln(x, parts["att"], parts["ff"], parts["n1"], parts["n2"])
