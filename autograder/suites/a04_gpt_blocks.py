"""Public checks for a04_gpt_blocks: properties and snapshots, no reference needed.

The TransformerBlock probes choose weights that make each sub-layer's output a known constant:
with `att.out_proj.weight = 0` the attention sub-layer outputs `att.out_proj.bias` whatever the
attention weights are, and with `ff.layers.2.weight = 0` the feed-forward sub-layer outputs
`ff.layers.2.bias`. A pre-LN block then returns x + (that constant, dropped by drop_shortcut), so
residual, LayerNorm placement and dropout placement can all be read off the output.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.kit import FLOAT64, GELU_FLOAT64, CheckFailure, Context, Hints, Raised, Suite, given
from autograder.mistakes.a04_gpt_blocks import (DEFAULT_EPS, DROPOUT_MISTAKES, EPS_ARGUMENT, FF_MISTAKES, GELU_MISTAKES,
                                                RESIDUAL_MISTAKES, block_hints, layernorm_hints)
from autograder.properties import causal_probe, check_rate, deterministic_in_eval, expect_parameters, keeps_dtype
from autograder.scan import Ban
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots
from autograder.strategies import block_weights, gpt_config, sub_weights

LN, GELU, FF, BLOCK = "LayerNorm", "GELU", "FeedForward", "TransformerBlock"
LAYERNORM_BANS = ("torch.nn.functional.layer_norm", "torch.nn.LayerNorm", "torch.layer_norm",
                  "torch.native_layer_norm", "torch.nn.functional.group_norm", "torch.group_norm",
                  "torch.nn.GroupNorm", "torch.nn.functional.instance_norm", "torch.instance_norm",
                  "torch.nn.functional.batch_norm", "torch.batch_norm")
GELU_BANS = ("torch.nn.functional.gelu", "torch.nn.GELU")
SUITE = Suite("a04_gpt_blocks", bans=[
    *(Ban(api, scope=LN) for api in LAYERNORM_BANS),
    *(Ban(api, scope=GELU) for api in GELU_BANS),
    Ban("torch.nn.TransformerEncoderLayer"),
    Ban("torch.nn.TransformerDecoderLayer"),
    Ban("torch.nn.TransformerEncoder"),
    Ban("torch.nn.Transformer"),
])
check = SUITE.check

# A FeedForward or TransformerBlock call runs the learner's GELU and LayerNorm too: naming them as
# targets keeps their run-time bans on (nn.GELU dropped into FeedForward is caught that way).
FF_TARGETS = (FF, GELU)
BLOCK_TARGETS = (BLOCK, LN, FF, GELU)
BLOCK_KEYS = ("emb_dim", "context_length", "n_heads", "drop_rate", "qkv_bias")


SNAPSHOTS = [
    SnapshotCase("layernorm", LN, {"x": (2, 3, 5)}, init={"emb_dim": 5}, seed=1),
    SnapshotCase("layernorm_small_variance", LN, {"x": (4, 6)}, init={"emb_dim": 6}, seed=2, scale=1e-2),
    SnapshotCase("gelu", GELU, {"x": (4, 8)}, init={}, seed=3, scale=1.2),
    SnapshotCase("feedforward", FF, {"x": (2, 3, 4)}, init={"cfg": gpt_config(11, 3, 4, 2, 1)}, seed=4),
    SnapshotCase("block", BLOCK, {"x": (2, 5, 6)}, init={"cfg": gpt_config(11, 7, 6, 2, 1, qkv_bias=True)}, seed=5),
]
def _ones_zeros(E: int) -> dict[str, torch.Tensor]:
    return {"scale": torch.ones(E, dtype=torch.float64), "shift": torch.zeros(E, dtype=torch.float64)}


# -- snapshots -------------------------------------------------------------------------------
_TARGETS = {LN: (LN,), GELU: (GELU,), FF: FF_TARGETS, BLOCK: BLOCK_TARGETS}


def _snapshot_hints(case: SnapshotCase, inputs: dict[str, torch.Tensor], w: dict[str, torch.Tensor]) -> Hints:
    x = inputs["x"]
    if case.target == LN:
        return layernorm_hints(x, w["scale"], w["shift"])
    if case.target == GELU:
        return GELU_MISTAKES(x=x)
    if case.target == FF:
        return FF_MISTAKES(x=x, w=w)
    return block_hints(x, w, case.init["cfg"]["n_heads"])  # type: ignore[index]


register_snapshots(
    SUITE, SNAPSHOTS, targets=lambda case: _TARGETS[case.target], hints=_snapshot_hints,
    tol=lambda case: FLOAT64 if case.target == LN else GELU_FLOAT64,
    describe=lambda case: f"{case.target}: matches stored reference outputs for fixed weights and inputs"
                          + (" (rows of small variance, where eps matters)" if "small" in case.name else ""))


# -- LayerNorm -------------------------------------------------------------------------------
def _row_var(t: torch.Tensor) -> torch.Tensor:
    return t.var(-1, unbiased=False)


@check(points=3, visibility="public", kind="property", targets=(LN,), max_examples=12,
       description="LayerNorm (scale 1, shift 0): every row of the output has mean 0 and biased variance "
                   "var / (var + eps), for small and large rows and for a given eps")
def layernorm_normalises_rows(ctx: Context) -> None:
    (made,) = ctx.fetch(ctx.module(LN, {"emb_dim": 2, "eps": 0.1}, catch=True))
    ctx.expect(not (isinstance(made, Raised) and made.type == "TypeError" and "eps" in made.message),
               f"LayerNorm(2, eps=0.1): your code raised {made}", hint=EPS_ARGUMENT)

    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(2, 8), seed=sg.seeds(),
               eps=st.sampled_from([1e-3, 0.1]))
    def _(lead: tuple[int, ...], E: int, seed: int, eps: float) -> None:
        x = sg.make_tensor((*lead, E), seed)
        cases = [("x * 0.01", x * 1e-2, DEFAULT_EPS), ("x * 3", x * 3.0, DEFAULT_EPS), ("x * 0.01", x * 1e-2, eps)]
        ctx.example(shapes={"x": [*lead, E]}, config={"emb_dim": E, "eps": eps}, values={"x": x})
        m_default = ctx.module(LN, [E], weights=_ones_zeros(E))
        m_eps = ctx.module(LN, {"emb_dim": E, "eps": eps}, weights=_ones_zeros(E))  # the contract's eps argument
        outs = ctx.fetch(*(ctx.call(m_default if i < 2 else m_eps, xi) for i, (_, xi, _) in enumerate(cases)))
        for (label, xi, e), out in zip(cases, outs):
            made = f"LayerNorm({E}" + (")" if e == DEFAULT_EPS else f", eps={e:g})")
            out = ctx.expect_tensor(out, xi, f"output of {made} on {label}")
            ctx.expect_close(out.mean(-1), torch.zeros(xi.shape[:-1], dtype=torch.float64), tol=FLOAT64,
                             name=f"mean of each output row of {made} on {label} (subtract the row mean)")
            v = _row_var(xi)
            ctx.expect_close(_row_var(out), v / (v + e), tol=FLOAT64, hints=layernorm_hints(xi, eps=e).on(out),
                             name=f"biased variance of each output row of {made} on {label} (expected "
                                  f"var / (var + eps), var being the row's biased variance)")


@check(points=2, visibility="public", kind="property", targets=(LN,), max_examples=10,
       description="LayerNorm: adding a constant to a row does not change its output; multiplying the row by "
                   "f > 0 changes it only through eps: LN(f x) = LN(x) sqrt(var + eps) / sqrt(var + eps / f^2)")
@given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(2, 8), seed=sg.seeds(),
       factor=st.sampled_from([1e-3, 1e3, 7.0]))
def layernorm_shift_and_scale_invariant(ctx: Context, lead: tuple[int, ...], E: int, seed: int, factor: float) -> None:
    x = sg.make_tensor((*lead, E), seed)
    c = sg.make_tensor((*lead, 1), seed + 1, scale=10.0)
    ctx.example(config={"emb_dim": E, "factor": factor}, x=x, c=c)
    m = ctx.module(LN, [E], weights=_ones_zeros(E))  # the default eps = 1e-5: the book's LayerNorm has no eps argument
    base, shifted, scaled = ctx.fetch(ctx.call(m, x), ctx.call(m, x + c), ctx.call(m, x * factor))
    base = ctx.expect_tensor(base, x, f"output of LayerNorm({E})")
    ctx.expect_close(shifted, base, tol=FLOAT64, name=f"LayerNorm({E}) of x + c (c: one constant per row) "
                                                       f"compared with LayerNorm of x (subtract the row mean)")
    v = _row_var(x)[..., None]
    ctx.expect_close(scaled, base * ((v + DEFAULT_EPS) / (v + DEFAULT_EPS / factor**2)).sqrt(), tol=FLOAT64,
                     name=f"LayerNorm({E}) of {factor:g} * x compared with LayerNorm of x (expected "
                          f"LN(x) * sqrt(var + eps) / sqrt(var + eps / f^2): divide by the row's standard "
                          f"deviation, eps inside the square root)")


@check(points=2, visibility="public", kind="property", targets=(LN,), max_examples=8,
       description="LayerNorm: parameters `scale` (ones) and `shift` (zeros) of shape (emb_dim,), applied as "
                   "scale * normalised + shift")
@given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(1, 8), seed=sg.seeds())
def layernorm_scale_and_shift(ctx: Context, lead: tuple[int, ...], E: int, seed: int) -> None:
    x = sg.make_tensor((*lead, E), seed)
    gamma, beta = sg.make_tensor((E,), seed + 1), sg.make_tensor((E,), seed + 2)
    ctx.example(shapes={"x": [*lead, E]}, config={"emb_dim": E}, values={"x": x, "scale": gamma, "shift": beta})
    m = ctx.module(LN, [E])
    params, state = ctx.p.params(m), ctx.p.state(m)
    ctx.p.load(m, _ones_zeros(E))
    plain = ctx.call(m, x)
    ctx.p.load(m, {"scale": gamma, "shift": beta})
    params, state, plain, affine = ctx.fetch(params, state, plain, ctx.call(m, x))
    want = {"scale": [E], "shift": [E]}
    ctx.expect(params == want, f"parameters of LayerNorm({E}): {params}, expected {want} (nn.Parameter attributes "
                               f"named scale and shift)")
    for name, init in _ones_zeros(E).items():
        ctx.expect_close(state[name], init, name=f"initial value of LayerNorm({E}).{name}", tol=FLOAT64)
    plain = ctx.expect_tensor(plain, x, f"output of LayerNorm({E})")
    ctx.expect_close(affine, gamma * plain + beta, tol=FLOAT64, hints=layernorm_hints(x, gamma, beta),
                     name=f"output of LayerNorm({E}) with scale and shift loaded (expected scale * y + shift, "
                          f"y the output with scale 1 and shift 0)")


@check(points=1, visibility="public", kind="property", targets=(LN,),
       description="LayerNorm: ValueError for an input whose last dim is not emb_dim, and for emb_dim <= 0")
def layernorm_rejects_bad_input(ctx: Context) -> None:
    ctx.example(config={"emb_dim": 4}, shapes={"x": [2, 3, 5]})
    wide = ctx.call(ctx.module(LN, [4], dtype=None), torch.zeros(2, 3, 5, dtype=torch.float32), catch=True)
    wide, bad = ctx.fetch(wide, ctx.module(LN, [0], catch=True))
    ctx.expect_raises(wide, "LayerNorm(4) called on x of shape (2, 3, 5)", mention=("4", "5"))
    ctx.expect_raises(bad, "LayerNorm(0)", mention=("0",))


@check(points=1, visibility="public", kind="integrity", targets=(LN,),
       description="LayerNorm: float32 in, float32 out (float64 likewise), shape kept; the input is not modified")
def layernorm_keeps_dtype(ctx: Context) -> None:
    keeps_dtype(ctx, LN, [4], (2, 3, 4), 11, label="LayerNorm(4)", config={"emb_dim": 4})


# -- GELU ------------------------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=(GELU,), max_examples=8,
       description="GELU: GELU(0) = 0, GELU(x) - GELU(-x) = x, GELU(x) ~ x for large x and ~ 0 for very "
                   "negative x; shape and dtype kept")
@given(x=sg.tensors(shape=sg.shapes(max_dims=3), scale=3.0))
def gelu_properties(ctx: Context, x: torch.Tensor) -> None:
    big = 6.0 + x.abs() * 10  # >= 6: tanh(...) is 1 to 1e-10 there
    ctx.example(shapes={"x": list(x.shape)}, values={"x": x})
    g = ctx.module(GELU, dtype=None, train=None)
    out, neg, zero, at_big, very_neg, _f32 = ctx.fetch(*(ctx.call(g, t) for t in (
        x, -x, torch.zeros_like(x), big, -big, x.float())))  # float32 too: ctx.call checks the dtype is kept
    out = ctx.expect_tensor(out, x, "output of GELU()(x)")
    ctx.expect_close(zero, torch.zeros_like(x), name="GELU()(0)", tol=FLOAT64)
    ctx.expect_close(at_big, big, name="GELU()(x) for x >= 6 (expected x)", tol=FLOAT64)
    ctx.expect_close(very_neg, torch.zeros_like(x), name="GELU()(x) for x <= -6 (expected 0)", tol=FLOAT64)
    neg = ctx.expect_tensor(neg, x, "output of GELU()(-x)")
    ctx.expect_close(out - neg, x, tol=FLOAT64, name="GELU()(x) - GELU()(-x) (expected x: the tanh argument "
                                                      "sqrt(2/pi) * (x + 0.044715 x^3) is odd in x)")


# -- FeedForward -----------------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=FF_TARGETS, max_examples=8,
       description="FeedForward: layers[0] = Linear(E, 4E), layers[1] = your GELU, layers[2] = Linear(4E, E), "
                   "applied in that order")
@given(cfg=sg.gpt_configs(), seed=sg.seeds())
def feedforward_is_linear_gelu_linear(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    E = c["emb_dim"]
    w = sub_weights(block_weights(E, False, seed), "ff.")
    x = sg.make_tensor((B, T, E), seed + 1)
    hidden = x @ w["layers.0.weight"].T + w["layers.0.bias"]  # (B, T, 4E)
    ctx.example(shapes={"x": [B, T, E]}, config={"emb_dim": E})
    out = ctx.call(ctx.module(FF, [c], weights=w, train=None), x)
    out, act = ctx.fetch(out, ctx.call(ctx.module(GELU, dtype=None, train=None), hidden))
    act = ctx.expect_tensor(act, hidden, "output of GELU")
    ctx.expect_close(out, act @ w["layers.2.weight"].T + w["layers.2.bias"], tol=FLOAT64, hints=FF_MISTAKES(x=x, w=w),
                     name="output of FeedForward (expected layers[2](GELU()(layers[0](x))), with your GELU)")


# -- TransformerBlock ------------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=BLOCK_TARGETS, max_examples=10,
       description="TransformerBlock: changing a later token never changes the outputs of earlier tokens")
@given(cfg=sg.gpt_configs(), data=st.data())
def block_is_causal(ctx: Context, cfg: dict[str, Any], data: st.DataObject) -> None:
    causal_probe(ctx, BLOCK, [cfg["cfg"]], data, (cfg["B"], cfg["T"], cfg["cfg"]["emb_dim"]), cfg["cfg"])


@check(points=3, visibility="public", kind="property", targets=BLOCK_TARGETS, max_examples=8,
       description="TransformerBlock (eval): h = x + att(norm1(x)), output h + ff(norm2(h)), built from your own "
                   "LayerNorm and FeedForward with separate norm1 and norm2")
@given(cfg=sg.gpt_configs(), seed=sg.seeds())
def block_is_pre_ln_residual(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    E = c["emb_dim"]
    w = block_weights(E, c["qkv_bias"], seed)
    no_ff = {**w, "ff.layers.2.weight": torch.zeros(E, 4 * E, dtype=torch.float64),
             "ff.layers.2.bias": torch.zeros(E, dtype=torch.float64)}
    x = sg.make_tensor((B, T, E), seed + 1)
    ctx.example(shapes={"x": [B, T, E]}, config=c)
    blk = ctx.module(BLOCK, [c], weights=no_ff)
    ln1 = ctx.module(LN, [E], weights=sub_weights(w, "norm1."))
    params = ctx.p.params(blk)
    out_att_only = ctx.call(blk, x)
    att = ctx.call(blk, ctx.call(ln1, x), method="att")
    ctx.p.load(blk, w)
    params, out_att_only, att, out = ctx.fetch(params, out_att_only, att, ctx.call(blk, x))
    want = {k: list(v.shape) for k, v in w.items()}
    shared = any(k.startswith("norm2.") and k not in params for k in want)
    expect_parameters(params, want, "TransformerBlock",
                      note=" (norm2 is the same module as norm1? each needs its own LayerNorm)" if shared else "")
    h = x + ctx.expect_tensor(att, x, "output of block.att(LayerNorm(x))")
    ctx.expect_close(out_att_only, h, tol=FLOAT64,
                     name="output of TransformerBlock with the feed-forward sub-layer zeroed (expected "
                          "x + att(norm1(x)): normalise the sub-layer's input, add its output to x)")
    ln2 = ctx.module(LN, [E], weights=sub_weights(w, "norm2."))
    ff = ctx.module(FF, [c], weights=sub_weights(w, "ff."), train=None)
    (f,) = ctx.fetch(ctx.call(ff, ctx.call(ln2, h)))
    f = ctx.expect_tensor(f, x, "output of FeedForward(LayerNorm(h))")
    ctx.expect_close(out, h + f, tol=FLOAT64, hints=block_hints(x, w, c["n_heads"]),
                     name="output of TransformerBlock (expected h + ff(norm2(h)) with h = x + att(norm1(x)))")


def _probe_weights(E: int, att_bias: torch.Tensor | None, ff_bias: torch.Tensor | None,
                   seed: int) -> dict[str, torch.Tensor]:
    """Random block weights whose sub-layers output constants: att -> att_bias, ff -> ff_bias (0 if None)."""
    zero = torch.zeros(E, dtype=torch.float64)
    w = block_weights(E, True, seed)
    w.update({"att.out_proj.weight": torch.zeros(E, E, dtype=torch.float64),
              "att.out_proj.bias": zero if att_bias is None else att_bias,
              "ff.layers.2.weight": torch.zeros(E, 4 * E, dtype=torch.float64),
              "ff.layers.2.bias": zero if ff_bias is None else ff_bias})
    return w


def _dropped_constant(out: torch.Tensor, x: torch.Tensor, c: torch.Tensor, p_drop: float, sub: str) -> None:
    """Every element of out - x must be 0 (dropped) or c / (1 - p) (kept), at rate p."""
    name = (f"output of TransformerBlock in train mode (drop_rate={p_drop}) when the {sub} sub-layer outputs "
            f"a constant c")
    d = out - x
    kept = (d - c / (1 - p_drop)).abs() <= 1e-9
    dropped = d.abs() <= 1e-9
    unscaled = (d - c).abs() <= 1e-9
    if unscaled.all():
        raise CheckFailure(f"{name}: got x + c everywhere, no element was dropped",
                           hint=DROPOUT_MISTAKES(x=x, c=c, p_drop=p_drop).match(out, FLOAT64))
    if not (kept | dropped).all():
        if (unscaled | dropped).all():
            raise CheckFailure(f"{name}: kept elements of the {sub} output are not scaled by 1/(1-p) = "
                               f"{1 / (1 - p_drop):g} (nn.Dropout does it for you)")
        bad = tuple(int(i) for i in (~(kept | dropped)).nonzero()[0])
        raise CheckFailure(f"{name}: every element should be x (c dropped) or x + c / (1 - p) (c kept); at index "
                           f"{list(bad)} got x + {float(d[bad]):.6g}, with c = {float(c[bad[-1]]):.6g}")
    check_rate(f"{name} (use cfg['drop_rate'] as the rate)", int(dropped.sum()), dropped.numel(), p_drop)


@check(points=3, visibility="public", kind="property", targets=BLOCK_TARGETS,
       description="TransformerBlock (train): drop_shortcut drops each sub-layer's output at rate drop_rate and "
                   "scales the rest by 1/(1-p); the shortcut x itself is never dropped or normalised")
def block_dropout_on_sublayer_outputs(ctx: Context) -> None:
    p_drop, B, T, E, heads = 0.25, 16, 4, 8, 2
    c = 0.5 + 0.25 * torch.arange(E, dtype=torch.float64)  # distinct, and c/(1-p) != c +- x noise
    cfg = gpt_config(11, T, E, heads, 1, drop_rate=p_drop, qkv_bias=True)
    x = sg.make_tensor((B, T, E), 21)
    ctx.example(shapes={"x": [B, T, E]}, config={**cfg, "att.out_proj.weight": "0", "att.out_proj.bias": "c",
                                                "ff.layers.2.weight": "0", "ff.layers.2.bias": "0 or c"})
    blk = ctx.module(BLOCK, [cfg], seed=1234, train=None)
    outs = {}
    for label, att_c, ff_c in (("none", None, None), ("att", c, None), ("ff", None, c)):
        ctx.p.load(blk, _probe_weights(E, att_c, ff_c, 7))
        ctx.p.train(blk, True)
        outs[f"{label}_train"] = ctx.call(blk, x)
        ctx.p.train(blk, False)
        outs[f"{label}_eval"] = ctx.call(blk, x)
    res = ctx.fetch(**outs)
    ctx.expect_tensor(res["none_train"], x, "output of TransformerBlock")
    for mode in ("train", "eval"):
        got = res[f"none_{mode}"]
        ctx.expect_close(got, x, tol=FLOAT64, hints=RESIDUAL_MISTAKES(x=x, p_drop=p_drop, got=got),
                         name=f"output of TransformerBlock in {mode} mode when both sub-layers output 0 (expected "
                              f"x unchanged: the shortcut carries x through with no LayerNorm or dropout on it)")
    for sub, key in (("attention", "att"), ("feed-forward", "ff")):
        ctx.expect_close(res[f"{key}_eval"], x + c, tol=FLOAT64,
                         name=f"output of TransformerBlock in eval mode when the {sub} sub-layer outputs a constant c "
                              f"(expected x + c: add the sub-layer output to x; no dropout in eval mode)")
        _dropped_constant(ctx.expect_tensor(res[f"{key}_train"], x, "output of TransformerBlock"), x, c, p_drop, sub)


@check(points=2, visibility="public", kind="property", targets=BLOCK_TARGETS, max_examples=6,
       description="TransformerBlock: in eval mode it is deterministic and equals the same weights with "
                   "drop_rate=0; with drop_rate=0 train mode equals eval mode; the input is not modified")
@given(cfg=sg.gpt_configs(), seed=sg.seeds())
def block_eval_is_deterministic(ctx: Context, cfg: dict[str, Any], seed: int) -> None:
    c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
    w = block_weights(c["emb_dim"], c["qkv_bias"], seed)
    # norm2 = norm1 here: this check is about dropout; a block whose norm2 *is* norm1 is
    # block_is_pre_ln_residual's business, and would otherwise fail here on the loader's shared-tensor error
    w.update({"norm2.scale": w["norm1.scale"], "norm2.shift": w["norm1.shift"]})
    x = sg.make_tensor((B, T, c["emb_dim"]), seed + 1)
    ctx.example(shapes={"x": [B, T, c["emb_dim"]]}, config={**c, "drop_rate": "0.5 and 0.0"})
    deterministic_in_eval(ctx, BLOCK, [{**c, "drop_rate": 0.5}], x, weights=w, drop_key="drop_rate=0.5",
                          plain=[c])


@check(points=1, visibility="public", kind="property", targets=BLOCK_TARGETS,
       description="TransformerBlock and FeedForward: a cfg missing a key they use raises ValueError naming the key")
def block_rejects_incomplete_config(ctx: Context) -> None:
    cfg = gpt_config(11, 4, 4, 2, 1)
    ctx.example(config=cfg)
    ctx.module(BLOCK, [cfg], dtype=None, train=None)  # a complete cfg first: an unfinished block stops the check here
    made = {key: ctx.module(BLOCK, [{k: v for k, v in cfg.items() if k != key}], catch=True) for key in BLOCK_KEYS}
    made["ff"] = ctx.module(FF, [{k: v for k, v in cfg.items() if k != "emb_dim"}], catch=True)
    res = ctx.fetch(**made)
    for key in BLOCK_KEYS:
        ctx.expect_raises(res[key], f"TransformerBlock(cfg without {key!r})", mention=(key,))
    ctx.expect_raises(res["ff"], "FeedForward(cfg without 'emb_dim')", mention=("emb_dim",))


@check(points=1, visibility="public", kind="integrity", targets=BLOCK_TARGETS,
       description="TransformerBlock: float32 in, float32 out (float64 likewise), shape (B, T, E) kept")
def block_keeps_dtype(ctx: Context) -> None:
    cfg = gpt_config(11, 5, 4, 2, 1)
    keeps_dtype(ctx, BLOCK, [cfg], (2, 3, 4), 12, label="TransformerBlock", config=cfg)
