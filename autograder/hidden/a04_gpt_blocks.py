"""Hidden checks for a04_gpt_blocks: differential against reference/a04_gpt_blocks.py, with hints."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch.func import functional_call

import reference.a04_gpt_blocks as ref
from autograder import strategies as sg
from autograder.checks import Context
from autograder.compare import FLOAT32, FLOAT64, Tolerance
from autograder.differential import compare_module, matching_variant, random_weights
from autograder.suites.a04_gpt_blocks import BLOCK, BLOCK_TARGETS, DEFAULT_EPS, FF, FF_TARGETS, GELU, LN, SUITE

check = SUITE.check
Variants = dict[str, Callable[[], torch.Tensor]]


def layernorm_variants(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, eps: float) -> Variants:
    """Outputs of known LayerNorm misconceptions, keyed by the hint a learner should read."""
    scale, shift = scale.detach(), shift.detach()

    def norm(dim: int = -1, unbiased: bool = False, eps_in: bool = True, centre: bool = True,
             std: bool = False, eps_used: float = eps) -> torch.Tensor:
        mean = x.mean(dim, keepdim=True)
        var = (x.std if std else x.var)(dim, keepdim=True, unbiased=unbiased)
        num = x - mean if centre else x
        den = (var + eps_used).sqrt() if eps_in else var.sqrt() + eps_used
        return num / den

    variants: Variants = {
        "your output matches the unbiased variance (divided by E - 1): LayerNorm uses the biased variance, "
        "x.var(dim=-1, unbiased=False)": lambda: scale * norm(unbiased=True) + shift,
        "your output matches (x - mean) / (sqrt(var) + eps): eps goes inside the square root, "
        "sqrt(var + eps)": lambda: scale * norm(eps_in=False) + shift,
        "your output matches dividing by sqrt(std + eps): put the variance under the square root, not the "
        "standard deviation": lambda: scale * norm(std=True) + shift,
        "your output matches dividing by sqrt(std + eps) (unbiased std): put the variance under the square "
        "root, not the standard deviation": lambda: scale * norm(std=True, unbiased=True) + shift,
        "your output matches x / sqrt(var + eps) without subtracting the mean first":
            lambda: scale * norm(centre=False) + shift,
        "your output matches shift * normalised + scale: scale multiplies, shift is added":
            lambda: shift * norm() + scale,
    }
    if eps != DEFAULT_EPS:
        variants["your output matches eps = 1e-5 although another eps was given: use the eps argument"] = \
            lambda: scale * norm(eps_used=DEFAULT_EPS) + shift
    if x.dim() >= 2:
        variants["your output matches mean and variance taken over dim -2 (the tokens): normalise over the last "
                 "dim, the features of each token"] = lambda: scale * norm(dim=-2) + shift
    return variants


def gelu_variants(x: torch.Tensor) -> Variants:
    def tanh_form(c: float, power: int) -> torch.Tensor:
        return 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * x**power)))

    return {
        "your output matches the exact GELU, x * Phi(x) with erf: this assignment (and GPT-2) uses the tanh "
        "approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))":
            lambda: 0.5 * x * (1 + torch.erf(x / math.sqrt(2.0))),
        "your output matches sqrt(pi / 2) in place of sqrt(2 / pi) inside the tanh":
            lambda: tanh_form(math.sqrt(math.pi / 2), 3),
        "your output matches x^2 in place of x^3 inside the tanh": lambda: tanh_form(math.sqrt(2 / math.pi), 2),
        "your output matches the sigmoid approximation x * sigmoid(1.702 x): use the tanh formula":
            lambda: x * torch.sigmoid(1.702 * x),
        "your output matches ReLU: GELU is smooth, 0.5 x (1 + tanh(...))": lambda: torch.relu(x),
    }


def feedforward_variants(ff: torch.nn.Module, x: torch.Tensor) -> Variants:
    first, last = ff.layers[0], ff.layers[2]

    def through(act: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return last(act(first(x)))

    return {
        "your output matches ReLU (torch.relu) between the two Linear layers: use your GELU":
            lambda: through(torch.relu),
        "your output matches the exact (erf) GELU between the two Linear layers: use the tanh approximation":
            lambda: through(lambda h: 0.5 * h * (1 + torch.erf(h / math.sqrt(2.0)))),
        "your output matches no activation between the two Linear layers": lambda: through(lambda h: h),
    }


def block_variants(blk: torch.nn.Module, x: torch.Tensor) -> list[Variants]:
    """Known block misconceptions; a list of dicts because several of them share one hint text."""
    att, ff, n1, n2 = blk.att, blk.ff, blk.norm1, blk.norm2

    def pre_ln(norm_a: Callable, norm_f: Callable, res_a: bool = True, res_f: bool = True) -> torch.Tensor:
        a = att(norm_a(x))
        h = x + a if res_a else a
        f = ff(norm_f(h))
        return h + f if res_f else f

    def post_ln() -> torch.Tensor:
        h = n1(x + att(x))
        return n2(h + ff(h))

    variants: Variants = {
        "your output matches a post-LN block, norm(x + sublayer(x)): this block is pre-LN, "
        "x + sublayer(norm(x)); the shortcut is never normalised": post_ln,
        "your output matches a block without the attention shortcut: h = x + att(norm1(x)), not "
        "att(norm1(x))": lambda: pre_ln(n1, n2, res_a=False),
        "your output matches a block without the feed-forward shortcut: return h + ff(norm2(h)), not "
        "ff(norm2(h))": lambda: pre_ln(n1, n2, res_f=False),
        "your output matches a block with no shortcut connections at all: add each sub-layer's output to "
        "its input": lambda: pre_ln(n1, n2, res_a=False, res_f=False),
    }
    # norm1 reused for ff, or norm2 = norm1 (one module: it holds whichever weights were loaded last)
    same_norm = ("your output matches one LayerNorm's scale and shift used before both sub-layers: norm1 goes "
                 "before att, norm2 before ff, and they are two separate LayerNorm(E) modules")
    variants[same_norm] = lambda: pre_ln(n1, n1)
    variants.update({
        "your output matches the sub-layers without their LayerNorms: x + att(norm1(x)), then "
        "h + ff(norm2(h))": lambda: pre_ln(lambda t: t, lambda t: t),
        "your output matches both sub-layers applied to x in parallel: the feed-forward sub-layer takes "
        "h = x + att(norm1(x))": lambda: x + att(n1(x)) + ff(n2(x)),
    })

    # a shared module loaded with norm1's and norm2's weights may keep any mix of the two (the loader's
    # order is not fixed), so every mix gets the same hint
    def mixed(scale_of: torch.nn.Module, shift_of: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda t: F.layer_norm(t, t.shape[-1:], scale_of.scale, shift_of.shift, n1.eps)

    return [variants, *({same_norm: lambda m=m: pre_ln(m, m)} for m in (n2, mixed(n1, n2), mixed(n2, n1)))]


def _hint(make: Callable[[], Variants | list[Variants]], tol: Tolerance) -> Callable[[torch.Tensor], str | None]:
    def hint(got: torch.Tensor) -> str | None:
        with torch.no_grad():
            made = make()
            for variants in made if isinstance(made, list) else [made]:
                text = matching_variant(got, variants, tol)
                if text is not None:
                    return text
        return None
    return hint


@check(points=3, visibility="hidden", kind="differential", targets=(LN,), max_examples=15,
       description="LayerNorm: output, input gradient and scale/shift gradients match the reference (float64)")
def layernorm_matches_reference(ctx: Context) -> None:
    # E >= 2: with E = 1 every output is `shift` and some mistakes (eps outside the sqrt) fail only in
    # the gradient, where no hint can be given; E = 1 is covered by layernorm_scale_and_shift
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(2, 8), seed=st.integers(0, 2**16),
               scale=st.sampled_from([1.0, 1e-2, 10.0]), eps=st.sampled_from([DEFAULT_EPS, 1e-3]))
    def _(lead: tuple[int, ...], E: int, seed: int, scale: float, eps: float) -> None:
        init: dict[str, Any] = {"emb_dim": E} if eps == DEFAULT_EPS else {"emb_dim": E, "eps": eps}
        module = ref.LayerNorm(**init).double()
        random_weights(module, seed)
        x = sg.make_tensor((*lead, E), seed + 1, scale=scale)
        ctx.example(shapes={"x": [*lead, E]}, config={**init, "input_scale": scale})
        compare_module(ctx, module, LN, {"x": x}, init=init, seed=seed + 2,
                       hint=_hint(lambda: layernorm_variants(x, module.scale, module.shift, eps), FLOAT64))


@check(points=2, visibility="hidden", kind="differential", targets=(GELU,), max_examples=10,
       description="GELU: values and gradient match the reference (tanh approximation, float64)")
def gelu_matches_reference(ctx: Context) -> None:
    @ctx.given(x=sg.tensors(shape=sg.shapes(max_dims=3), scale=st.sampled_from([1.0, 3.0])))
    def _(x: torch.Tensor) -> None:
        ctx.example(shapes={"x": list(x.shape)})
        compare_module(ctx, ref.GELU(), GELU, {"x": x}, init={}, seed=1, hint=_hint(lambda: gelu_variants(x), FLOAT64))


@check(points=2, visibility="hidden", kind="differential", targets=FF_TARGETS, max_examples=10,
       description="FeedForward: output, input gradient and every parameter gradient match the reference (float64)")
def feedforward_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        c = cfg["cfg"]
        module = ref.FeedForward(c).double()
        random_weights(module, seed)
        x = sg.make_tensor((cfg["B"], cfg["T"], c["emb_dim"]), seed + 1)
        ctx.example(shapes={"x": list(x.shape)}, config={"emb_dim": c["emb_dim"]})
        compare_module(ctx, module, FF, {"x": x}, init={"cfg": c}, seed=seed + 2,
                       hint=_hint(lambda: feedforward_variants(module, x), FLOAT64))


def _float64_inside(module: torch.nn.Module) -> torch.nn.Module:
    """Make a float32 `module` compute in float64 (its float32 parameters, cast up) and round the result.

    The float32 check compares the learner with this, the exact answer for float32 inputs and weights,
    so only the learner's own rounding counts: the float32 reference misses it by as much as a
    correct float32 implementation does, and the two errors would add up.
    """
    twin = copy.deepcopy(module).double()

    def forward(x: torch.Tensor) -> torch.Tensor:
        params = {k: v.double() for k, v in module.named_parameters()}
        return functional_call(twin, params, (x.double(),)).to(x.dtype)

    module.forward = forward  # type: ignore[method-assign]
    return module


def _block_check(ctx: Context, cfg: dict[str, Any], seed: int, tol: Tolerance, dtype: torch.dtype) -> None:
    c = cfg["cfg"]
    module = ref.TransformerBlock(c).to(dtype).eval()
    random_weights(module, seed)
    x = sg.make_tensor((cfg["B"], cfg["T"], c["emb_dim"]), seed + 1, dtype=dtype)
    ctx.example(shapes={"x": list(x.shape)}, config={**c, "dtype": str(dtype).removeprefix("torch.")})
    hint = _hint(lambda: block_variants(module, x), tol)
    if dtype != torch.float64:
        module = _float64_inside(module)
    compare_module(ctx, module, BLOCK, {"x": x}, init={"cfg": c}, tol=tol, seed=seed + 2, hint=hint)


@check(points=5, visibility="hidden", kind="differential", targets=BLOCK_TARGETS, uses=("a03_attention",),
       max_examples=12,
       description="TransformerBlock (eval, drop_rate 0): output, input gradient and every parameter gradient "
                   "match the reference (float64)")
def block_matches_reference(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        _block_check(ctx, cfg, seed, FLOAT64, torch.float64)


@check(points=2, visibility="hidden", kind="differential", targets=BLOCK_TARGETS, uses=("a03_attention",),
       max_examples=6,
       description="TransformerBlock: in float32 too, output and all gradients match the exact answer to "
                   "within float32 rounding")
def block_float32_matches_reference(ctx: Context) -> None:
    # emb_dim >= 3: LayerNorm of a row of two nearly equal float32 values is ill-conditioned; there the
    # solution misses the exact answer by 6x FLOAT32 (emb_dim 2). With emb_dim >= 3, over 1500 examples,
    # the solution and every tests/banks alternative stay under 0.5x FLOAT32.
    @ctx.given(cfg=sg.gpt_configs().filter(lambda c: c["cfg"]["emb_dim"] >= 3), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        _block_check(ctx, cfg, seed, FLOAT32, torch.float32)
