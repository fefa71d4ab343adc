"""The known mistakes of a03_attention, one catalogue for every attention class: public and hidden checks give the same hints.

Each entry computes the mistake's output from the projected queries, keys and values, so a public
check computes them from a snapshot's stored weights without the reference.
"""

from __future__ import annotations

from typing import Callable

import torch

from autograder.compare import Hints, Misconceptions


ATTENTION = Misconceptions("attention")
_FUTURE = "(or off by one). Fill the scores above the diagonal, torch.triu(..., diagonal=1), with -inf before the softmax."


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, merge: Callable[[torch.Tensor], torch.Tensor], *,
            scale: float, mask: torch.Tensor | None, fill: float = float("-inf"), dim: int = -1) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(mask, fill)
    return merge(torch.softmax(scores * scale, dim=dim) @ v)


def _future(T: int, diagonal: int = 1) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool).triu(diagonal)


@ATTENTION.add("no_causal_mask", "your output matches attention in which tokens also attend to later tokens: the "
               f"causal mask is missing {_FUTURE}", when=lambda causal, **_: causal)
def _(q, k, v, merge, **_):
    return _attend(q, k, v, merge, scale=q.shape[-1] ** -0.5, mask=None)


@ATTENTION.add("mask_filled_with_zero", "your output matches a causal mask filled with 0 instead of -inf: exp(0) = 1, "
               "so future tokens still get weight. Use float('-inf').", when=lambda causal, **_: causal)
def _(q, k, v, merge, **_):
    return _attend(q, k, v, merge, scale=q.shape[-1] ** -0.5, mask=_future(q.shape[-2]), fill=0.0)


@ATTENTION.add("mask_off_by_one", "your output matches a mask that is off by one (each token also sees the next "
               "one): build it with torch.triu(..., diagonal=1).", when=lambda causal, **_: causal)
def _(q, k, v, merge, **_):
    return _attend(q, k, v, merge, scale=q.shape[-1] ** -0.5, mask=_future(q.shape[-2], 2))


@ATTENTION.add("scale_by_d", "your output matches scores divided by d (the key width) instead of sqrt(d): divide by "
               "keys.shape[-1] ** 0.5.")
def _(q, k, v, merge, causal, **_):
    return _attend(q, k, v, merge, scale=1 / q.shape[-1], mask=_future(q.shape[-2]) if causal else None)


@ATTENTION.add("no_scaling", "your output matches scores that are not scaled at all: divide them by sqrt(head_dim) "
               "before the softmax.")
def _(q, k, v, merge, causal, **_):
    return _attend(q, k, v, merge, scale=1.0, mask=_future(q.shape[-2]) if causal else None)


@ATTENTION.add("scale_by_sqrt_d_out", "your output matches scores divided by sqrt(d_out) instead of sqrt(head_dim): "
               "each head's dot products have length head_dim = d_out // num_heads.", when=lambda heads, **_: heads > 1)
def _(q, k, v, merge, causal, heads, **_):
    return _attend(q, k, v, merge, scale=(q.shape[-1] * heads) ** -0.5, mask=_future(q.shape[-2]) if causal else None)


@ATTENTION.add("scale_by_d_out", "your output matches scores divided by d (the key width), and the whole d_out at "
               "that, instead of sqrt(head_dim): divide each head's scores by head_dim ** 0.5.",
               when=lambda heads, **_: heads > 1)
def _(q, k, v, merge, causal, heads, **_):
    return _attend(q, k, v, merge, scale=1 / (q.shape[-1] * heads), mask=_future(q.shape[-2]) if causal else None)


@ATTENTION.add("softmax_over_queries", "your output matches the softmax taken over the queries (dim=0 or -2): "
               "normalise each query's scores over the keys, dim=-1.")
def _(q, k, v, merge, causal, **_):
    return _attend(q, k, v, merge, scale=q.shape[-1] ** -0.5, mask=_future(q.shape[-2]) if causal else None, dim=-2)


def attention_hints(cls: str, x: torch.Tensor, weights: dict[str, torch.Tensor], heads: int = 1) -> Hints | None:
    """ATTENTION bound to a call of `cls` on x with these weights (by the curriculum's parameter names)."""
    if cls == "MultiHeadAttentionWrapper":
        return None
    with torch.no_grad():
        if cls == "SelfAttention_v1":
            q, k, v = (x @ weights[f"W_{n}"] for n in ("query", "key", "value"))
        else:
            q, k, v = (x @ weights[f"W_{n}.weight"].T + weights.get(f"W_{n}.bias", 0.0) for n in ("query", "key", "value"))
    merge: Callable[[torch.Tensor], torch.Tensor] = lambda c: c  # noqa: E731
    if cls == "MultiHeadAttention":
        q, k, v = (t.unflatten(-1, (heads, -1)).transpose(-3, -2) for t in (q, k, v))

        def merge(c: torch.Tensor) -> torch.Tensor:
            return c.transpose(-3, -2).flatten(-2) @ weights["out_proj.weight"].T + weights["out_proj.bias"]
    return ATTENTION(q=q, k=k, v=v, merge=merge, heads=heads, causal=cls not in ("SelfAttention_v1", "SelfAttention_v2"))
