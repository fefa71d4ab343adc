"""The known mistakes of a04_gpt_blocks, one catalogue per class: public and hidden checks give the same hints.

Each entry computes the mistake's output from the same inputs the check has (weights by the
curriculum's parameter names, so a public check computes them without the reference).
"""

from __future__ import annotations

import math

import torch

from autograder.compare import Hints, Misconceptions
from autograder.gpt_forms import DEFAULT_EPS, Sub, block_parts, feedforward, pre_ln, tanh_gelu


LN_MISTAKES = Misconceptions("LayerNorm")
EPS_ARGUMENT = ("this assignment's LayerNorm takes eps as an argument, LayerNorm(emb_dim, eps=1e-5) (the book's sets "
                "self.eps = 1e-5 inside): keep the default and store the argument")


def _norm(x: torch.Tensor, eps: float, *, dim: int = -1, unbiased: bool = False, eps_in: bool = True,
          centre: bool = True, std: bool = False) -> torch.Tensor:
    mean = x.mean(dim, keepdim=True)
    var = (x.std if std else x.var)(dim, keepdim=True, unbiased=unbiased)
    den = (var + eps).sqrt() if eps_in else var.sqrt() + eps
    return (x - mean if centre else x) / den


# name -> (hint, how the normalisation goes wrong: keyword arguments of _norm); scale * that + shift
LN_RULES = {
    "unbiased_variance": ("your output matches the unbiased variance (divided by E - 1): LayerNorm uses the biased "
                          "variance, x.var(dim=-1, unbiased=False)", {"unbiased": True}),
    "eps_outside_sqrt": ("your output matches (x - mean) / (sqrt(var) + eps): eps goes inside the square root, "
                         "sqrt(var + eps)", {"eps_in": False}),
    "std_for_var": ("your output matches dividing by sqrt(std + eps): put the variance under the square root, not the "
                    "standard deviation", {"std": True}),
    "unbiased_std_for_var": ("your output matches dividing by sqrt(std + eps) (unbiased std): put the variance under the "
                             "square root, not the standard deviation", {"std": True, "unbiased": True}),
    "no_centring": ("your output matches x / sqrt(var + eps) without subtracting the mean first", {"centre": False}),
}
for _name, (_hint, _how) in LN_RULES.items():
    LN_MISTAKES.add(_name, _hint)(lambda x, scale, shift, eps, how=_how: scale * _norm(x, eps, **how) + shift)


@LN_MISTAKES.add("scale_shift_swapped", "your output matches shift * normalised + scale: scale multiplies, shift is "
                 "added")
def _(x, scale, shift, eps):
    return shift * _norm(x, eps) + scale


@LN_MISTAKES.add("eps_argument_ignored", "your output matches eps = 1e-5 although another eps was given: use the eps "
                 "argument", when=lambda eps, **_: eps != DEFAULT_EPS)
def _(x, scale, shift, eps):
    return scale * _norm(x, DEFAULT_EPS) + shift


@LN_MISTAKES.add("tokens_dim", "your output matches mean and variance taken over dim -2 (the tokens): normalise over "
                 "the last dim, the features of each token", when=lambda x, **_: x.dim() >= 2)
def _(x, scale, shift, eps):
    return scale * _norm(x, eps, dim=-2) + shift


def layernorm_hints(x: torch.Tensor, scale: torch.Tensor | None = None, shift: torch.Tensor | None = None,
                    eps: float = DEFAULT_EPS) -> Hints:
    E = x.shape[-1]
    return LN_MISTAKES(x=x, eps=eps, scale=torch.ones(E, dtype=x.dtype) if scale is None else scale.detach(),
                       shift=torch.zeros(E, dtype=x.dtype) if shift is None else shift.detach())


GELU_MISTAKES = Misconceptions("GELU")


@GELU_MISTAKES.add("erf_gelu", "your output matches the exact GELU, x * Phi(x) with erf: this assignment (and GPT-2) "
                   "uses the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))")
def _(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2.0)))


@GELU_MISTAKES.add("sqrt_pi_over_2", "your output matches sqrt(pi / 2) in place of sqrt(2 / pi) inside the tanh")
def _(x):
    return tanh_gelu(x, math.sqrt(math.pi / 2))


@GELU_MISTAKES.add("x_squared", "your output matches x^2 in place of x^3 inside the tanh")
def _(x):
    return tanh_gelu(x, power=2)


@GELU_MISTAKES.add("sigmoid_gelu", "your output matches the sigmoid approximation x * sigmoid(1.702 x): use the tanh "
                   "formula")
def _(x):
    return x * torch.sigmoid(1.702 * x)


@GELU_MISTAKES.add("relu", "your output matches ReLU: GELU is smooth, 0.5 x (1 + tanh(...))")
def _(x):
    return torch.relu(x)


FF_MISTAKES = Misconceptions("FeedForward")


@FF_MISTAKES.add("relu", "your output matches ReLU (torch.relu) between the two Linear layers: use your GELU")
def _(x, w):
    return feedforward(x, w, torch.relu)


@FF_MISTAKES.add("erf_gelu", "your output matches the exact (erf) GELU between the two Linear layers: use the tanh "
                 "approximation")
def _(x, w):
    return feedforward(x, w, lambda h: 0.5 * h * (1 + torch.erf(h / math.sqrt(2.0))))


@FF_MISTAKES.add("no_activation", "your output matches no activation between the two Linear layers")
def _(x, w):
    return feedforward(x, w, lambda h: h)


BLOCK_MISTAKES = Misconceptions("TransformerBlock")
_SAME_NORM = ("your output matches one LayerNorm's scale and shift used before both sub-layers: norm1 goes before "
              "att, norm2 before ff, and they are two separate LayerNorm(E) modules")


@BLOCK_MISTAKES.add("post_ln", "your output matches a post-LN block, norm(x + sublayer(x)): this block is pre-LN, "
                    "x + sublayer(norm(x)); the shortcut is never normalised")
def _(x, att, ff, n1, n2, **_):
    h = n1(x + att(x))
    return n2(h + ff(h))


@BLOCK_MISTAKES.add("no_attention_shortcut", "your output matches a block without the attention shortcut: "
                    "h = x + att(norm1(x)), not att(norm1(x))")
def _(x, att, ff, n1, n2, **_):
    return pre_ln(x, att, ff, n1, n2, res_a=False)


@BLOCK_MISTAKES.add("no_ff_shortcut", "your output matches a block without the feed-forward shortcut: return "
                    "h + ff(norm2(h)), not ff(norm2(h))")
def _(x, att, ff, n1, n2, **_):
    return pre_ln(x, att, ff, n1, n2, res_f=False)


@BLOCK_MISTAKES.add("no_shortcuts", "your output matches a block with no shortcut connections at all: add each "
                    "sub-layer's output to its input")
def _(x, att, ff, n1, n2, **_):
    return pre_ln(x, att, ff, n1, n2, res_a=False, res_f=False)


@BLOCK_MISTAKES.add("norm1_reused", _SAME_NORM)
def _(x, att, ff, n1, n2, **_):
    return pre_ln(x, att, ff, n1, n1)


@BLOCK_MISTAKES.add("no_layernorms", "your output matches the sub-layers without their LayerNorms: x + att(norm1(x)), "
                    "then h + ff(norm2(h))")
def _(x, att, ff, n1, n2, **_):
    return pre_ln(x, att, ff, lambda t: t, lambda t: t)


@BLOCK_MISTAKES.add("parallel_sublayers", "your output matches both sub-layers applied to x in parallel: the "
                    "feed-forward sub-layer takes h = x + att(norm1(x))")
def _(x, att, ff, n1, n2, **_):
    return x + att(n1(x)) + ff(n2(x))


# a shared module loaded with norm1's and norm2's weights may keep any mix of the two (the loader's
# order is not fixed), so every mix gets the same hint
@BLOCK_MISTAKES.add("norm2_reused", _SAME_NORM)
def _(x, att, ff, n1, n2, **_):
    return pre_ln(x, att, ff, n2, n2)


@BLOCK_MISTAKES.add("shared_norm_scale1_shift2", _SAME_NORM)
def _(x, att, ff, n1, n2, mixed, **_):
    return pre_ln(x, att, ff, mixed(1, 2), mixed(1, 2))


@BLOCK_MISTAKES.add("shared_norm_scale2_shift1", _SAME_NORM)
def _(x, att, ff, n1, n2, mixed, **_):
    return pre_ln(x, att, ff, mixed(2, 1), mixed(2, 1))


def block_hints(x: torch.Tensor, w: dict[str, torch.Tensor], heads: int, *, att: Sub | None = None,
                ff: Sub | None = None, eps: float = DEFAULT_EPS) -> Hints:
    """BLOCK_MISTAKES bound to a block with weights `w` on x; att and ff default to the functional forms."""
    parts = block_parts(w, heads, eps)
    return BLOCK_MISTAKES(x=x, **{**parts, "att": att or parts["att"], "ff": ff or parts["ff"]})


RESIDUAL_MISTAKES = Misconceptions("TransformerBlock residual stream")


@RESIDUAL_MISTAKES.add("no_shortcut", "your block returned 0 where it should return x: the shortcut is missing "
                       "(x = x + sublayer(...))")
def _(x, p_drop, got):
    return torch.zeros_like(x)


@RESIDUAL_MISTAKES.add("shortcut_dropped", "elements of x itself were dropped: apply drop_shortcut to the sub-layer "
                       "output before adding it, x + drop_shortcut(sublayer(norm(x))), not to the sum")
def _(x, p_drop, got):
    # each element of x kept once or twice (x/(1-p), x/(1-p)^2) or dropped: the learner's own draw
    ratio = got / x.where(x.abs() > 1e-6, torch.ones_like(x))
    scales = torch.tensor([0.0, 1 / (1 - p_drop), 1 / (1 - p_drop) ** 2], dtype=torch.float64)
    nearest = scales[(ratio[..., None] - scales).abs().argmin(-1)]
    if ((ratio - nearest).abs() > 1e-6).any() or bool((nearest == 1).all()):
        raise ValueError("not a dropped shortcut")
    return x * nearest


DROPOUT_MISTAKES = Misconceptions("TransformerBlock dropout")


@DROPOUT_MISTAKES.add("drop_shortcut_never_applied", "drop_shortcut is never applied: "
                      "x = x + self.drop_shortcut(sublayer(norm(x)))")
def _(x, c, p_drop):
    return x + c  # the sub-layer's constant output c, never dropped nor scaled
