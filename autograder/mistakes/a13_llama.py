"""The known mistakes of a13_llama, one catalogue per function or class: public and hidden checks give the same hints.

Each entry computes the mistake's output from the same inputs the check has (weights by the
curriculum's parameter names), so a public check computes them without the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.compare import Hints, Misconceptions

RMSNORM = Misconceptions("RMSNorm")


def _rms(x: torch.Tensor, eps: float, *, dim: int = -1, centre: bool = False, reduce: str = "mean",
         eps_in: bool = True) -> torch.Tensor:
    if centre:
        x = x - x.mean(-1, keepdim=True)
    sq = x.pow(2).sum(dim, keepdim=True) if reduce == "sum" else x.pow(2).mean(dim, keepdim=True)
    return x / ((sq + eps).sqrt() if eps_in else sq.sqrt() + eps)


@RMSNORM.add("eps_outside_sqrt", "your output matches x / (sqrt(mean(x**2)) + eps): eps goes inside the square "
             "root, x * rsqrt(mean(x**2) + eps)")
def _(x, weight, eps):
    return _rms(x, eps, eps_in=False) * weight


@RMSNORM.add("subtracts_mean", "your output matches x - mean(x) normalised: RMSNorm does not centre the row "
             "(that is LayerNorm); divide x itself by its root mean square")
def _(x, weight, eps):
    return _rms(x, eps, centre=True) * weight


@RMSNORM.add("sum_not_mean", "your output matches the sum of the squares in place of their mean: use "
             "x.pow(2).mean(dim=-1, keepdim=True)")
def _(x, weight, eps):
    return _rms(x, eps, reduce="sum") * weight


@RMSNORM.add("no_weight", "your output matches x * rsqrt(mean(x**2) + eps) without the learned scale: multiply "
             "by self.weight")
def _(x, weight, eps):
    return _rms(x, eps)


@RMSNORM.add("over_wrong_dim", "your output matches the mean square taken over dim 0: average over the last "
             "dim, the features of each token", when=lambda x, **_: x.dim() >= 2)
def _(x, weight, eps):
    return _rms(x, eps, dim=0) * weight


SILU = Misconceptions("SiLU")


@SILU.add("sigmoid", "your output matches sigmoid(x): SiLU is x * sigmoid(x)")
def _(x):
    return torch.sigmoid(x)


@SILU.add("sign_flipped", "your output matches x * sigmoid(-x): SiLU is x * sigmoid(x)")
def _(x):
    return x * torch.sigmoid(-x)


@SILU.add("gelu", "your output matches GELU: SiLU is x * sigmoid(x)")
def _(x):
    return F.gelu(x, approximate="tanh")


SWIGLU = Misconceptions("SwiGLUFeedForward")


def _swiglu(x: torch.Tensor, w: dict[str, torch.Tensor], gate: str = "fc1", up: str = "fc2", *,
            silu_up: bool = False, silu_after: bool = False) -> torch.Tensor:
    g, u = F.linear(x, w[f"{gate}.weight"]), F.linear(x, w[f"{up}.weight"])
    h = F.silu(g * u) if silu_after else F.silu(g) * (F.silu(u) if silu_up else u)
    return F.linear(h, w["fc3.weight"])


@SWIGLU.add("gate_up_swapped", "your output matches SiLU on fc2's branch: the gate is fc1, "
            "fc3(silu(fc1(x)) * fc2(x))")
def _(x, w):
    return _swiglu(x, w, "fc2", "fc1")


@SWIGLU.add("silu_on_both", "your output matches SiLU on both branches: only fc1's output goes through SiLU, "
            "fc3(silu(fc1(x)) * fc2(x))")
def _(x, w):
    return _swiglu(x, w, silu_up=True)


@SWIGLU.add("silu_after_product", "your output matches silu(fc1(x) * fc2(x)): apply SiLU to fc1(x) before "
            "multiplying, fc3(silu(fc1(x)) * fc2(x))")
def _(x, w):
    return _swiglu(x, w, silu_after=True)


@SWIGLU.add("no_gate", "your output matches fc3(fc1(x) * fc2(x)) without SiLU: the gate is silu(fc1(x))")
def _(x, w):
    return F.linear(F.linear(x, w["fc1.weight"]) * F.linear(x, w["fc2.weight"]), w["fc3.weight"])


ROPE_TABLES = Misconceptions("RoPE tables")


def rope_tables(head_dim: int, theta_base: float, context_length: int, *, step: int = 2, invert: bool = True,
                first: int = 0, interleaved: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (float64) of the contract's formula; the keywords make its known mistakes."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    inv_freq = float(theta_base) ** (-step * i / head_dim if invert else step * i / head_dim)
    angles = torch.arange(first, first + context_length, dtype=torch.float64)[:, None] * inv_freq  # (L, hs/2)
    angles = angles.repeat_interleave(2, dim=-1) if interleaved else torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def _both(tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return torch.cat(tables, dim=-1)


@ROPE_TABLES.add("interleaved", "your tables match the interleaved layout, each angle repeated in place (a0 a0 a1 "
                 "a1 ...): this assignment uses the split-halves layout, torch.cat([angles, angles], dim=-1)",
                 when=lambda head_dim, **_: head_dim >= 4)
def _(head_dim, theta_base, context_length):
    return _both(rope_tables(head_dim, theta_base, context_length, interleaved=True))


@ROPE_TABLES.add("exponent_not_halved", "your tables match exponents i / head_dim: they are 2i / head_dim, "
                 "torch.arange(0, head_dim, 2) / head_dim", when=lambda head_dim, **_: head_dim >= 4)
def _(head_dim, theta_base, context_length):
    return _both(rope_tables(head_dim, theta_base, context_length, step=1))


@ROPE_TABLES.add("frequency_not_inverted", "your tables match theta_base ** (2i / head_dim) as the frequency: "
                 "invert it, 1 / theta_base ** (2i / head_dim)", when=lambda head_dim, **_: head_dim >= 4)
def _(head_dim, theta_base, context_length):
    return _both(rope_tables(head_dim, theta_base, context_length, invert=False))


@ROPE_TABLES.add("positions_from_one", "your tables match positions 1 .. context_length: positions start at 0 "
                 "(row 0 is cos = 1, sin = 0)")
def _(head_dim, theta_base, context_length):
    return _both(rope_tables(head_dim, theta_base, context_length, first=1))


@ROPE_TABLES.add("cos_sin_swapped", "your tables match (sin, cos): return (cos, sin), in that order")
def _(head_dim, theta_base, context_length):
    cos, sin = rope_tables(head_dim, theta_base, context_length)
    return torch.cat([sin, cos], dim=-1)


APPLY_ROPE = Misconceptions("apply_rope")


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int, *, sign: float = 1.0,
          pairs: bool = False) -> torch.Tensor:
    T, h = x.shape[-2], x.shape[-1] // 2
    c, s = cos[offset:offset + T].to(x.dtype), sin[offset:offset + T].to(x.dtype)
    if pairs:
        rotated = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
    else:
        rotated = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * c + sign * rotated * s


@APPLY_ROPE.add("rotate_half_sign", "your output matches rotate_half(x) = cat([x2, -x1]), a rotation by -angle: "
                "rotate_half(x) = cat([-x2, x1]) with x1, x2 the first and second halves")
def _(x, cos, sin, offset):
    return _rope(x, cos, sin, offset, sign=-1.0)


@APPLY_ROPE.add("interleaved_pairs", "your output matches rotating neighbouring pairs (x0, x1), (x2, x3), ... "
                "(the interleaved layout): pair i is (x[i], x[i + head_dim/2]), rotate_half(x) = cat([-x2, x1])",
                when=lambda x, **_: x.shape[-1] >= 4)
def _(x, cos, sin, offset):
    return _rope(x, cos, sin, offset, pairs=True)


@APPLY_ROPE.add("offset_ignored", "your output matches table rows 0 .. T-1: token t is at position offset + t, "
                "use cos[offset:offset + T]", when=lambda offset, **_: offset > 0)
def _(x, cos, sin, offset):
    return _rope(x, cos, sin, 0)


@APPLY_ROPE.add("no_rotate_half", "your output matches x * cos + x * sin: the sin term multiplies "
                "rotate_half(x) = cat([-x2, x1]), not x")
def _(x, cos, sin, offset):
    T = x.shape[-2]
    return x * cos[offset:offset + T].to(x.dtype) + x * sin[offset:offset + T].to(x.dtype)


GQA = Misconceptions("GroupedQueryAttention")


def gqa(x: torch.Tensor, w: dict[str, torch.Tensor], heads: int, groups: int, mask: torch.Tensor | None,
        cos: torch.Tensor, sin: torch.Tensor, *, repeat: bool = False, rope: str = "qk",
        scale: float | None = None, invert: bool = False) -> torch.Tensor:
    """Grouped-query attention written out (the contract's, or a known mistake by keyword)."""
    B, T, d_in = x.shape
    q = F.linear(x, w["W_query.weight"]).view(B, T, heads, -1).transpose(1, 2)  # (B, nh, T, hs)
    k, v = (F.linear(x, w[f"{n}.weight"]).view(B, T, groups, -1).transpose(1, 2) for n in ("W_key", "W_value"))
    q = _rope(q, cos, sin, 0) if "q" in rope else q
    k = _rope(k, cos, sin, 0) if "k" in rope else k
    v = _rope(v, cos, sin, 0) if "v" in rope else v
    share = (lambda t: t.repeat(1, heads // groups, 1, 1)) if repeat else (
        lambda t: t.repeat_interleave(heads // groups, dim=1))
    k, v = share(k), share(v)
    scores = q @ k.transpose(-2, -1) * (scale if scale is not None else q.shape[-1] ** -0.5)
    if mask is not None:
        hide = mask[:T, :T]
        scores = scores.masked_fill(~hide if invert else hide, float("-inf"))
    ctx = torch.softmax(scores, dim=-1) @ v  # (B, nh, T, hs)
    return F.linear(ctx.transpose(1, 2).reshape(B, T, -1), w["out_proj.weight"])


@GQA.add("repeat_not_interleave", "your output matches keys.repeat(1, group_size, 1, 1): query head h must share kv "
         "head h // group_size (consecutive heads share a group), keys.repeat_interleave(group_size, dim=1)",
         when=lambda heads, groups, **_: groups > 1 and heads > groups)
def _(x, w, heads, groups, mask, cos, sin):
    return gqa(x, w, heads, groups, mask, cos, sin, repeat=True)


@GQA.add("rope_on_values", "your output matches RoPE on the queries and the values: rotate the queries and the keys, "
         "never the values")
def _(x, w, heads, groups, mask, cos, sin):
    return gqa(x, w, heads, groups, mask, cos, sin, rope="qv")


@GQA.add("rope_on_queries_only", "your output matches RoPE on the queries only: rotate the keys too")
def _(x, w, heads, groups, mask, cos, sin):
    return gqa(x, w, heads, groups, mask, cos, sin, rope="q")


@GQA.add("no_rope", "your output matches attention without RoPE: apply_rope to the queries and the keys")
def _(x, w, heads, groups, mask, cos, sin):
    return gqa(x, w, heads, groups, mask, cos, sin, rope="")


@GQA.add("scale_by_d_in", "your output matches scores divided by sqrt(d_in): divide by sqrt(head_dim)")
def _(x, w, heads, groups, mask, cos, sin):
    return gqa(x, w, heads, groups, mask, cos, sin, scale=x.shape[-1] ** -0.5)


@GQA.add("mask_inverted", "your output matches hiding where the mask is False: True in the mask means hidden, "
         "masked_fill(mask[:T, :T], -inf)", when=lambda mask, **_: mask is not None)
def _(x, w, heads, groups, mask, cos, sin):
    return gqa(x, w, heads, groups, mask, cos, sin, invert=True)


def gqa_hints(x: torch.Tensor, w: dict[str, torch.Tensor], heads: int, groups: int, mask: torch.Tensor | None,
              cos: torch.Tensor, sin: torch.Tensor) -> Hints:
    return GQA(x=x, w={k: v.detach() for k, v in w.items()}, heads=heads, groups=groups, mask=mask, cos=cos, sin=sin)
