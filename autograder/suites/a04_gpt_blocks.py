"""Public checks for a04_gpt_blocks: properties and snapshots, no reference needed.

The TransformerBlock probes choose weights that make each sub-layer's output a known constant:
with `att.out_proj.weight = 0` the attention sub-layer outputs `att.out_proj.bias` whatever the
attention weights are, and with `ff.layers.2.weight = 0` the feed-forward sub-layer outputs
`ff.layers.2.bias`. A pre-LN block then returns x + (that constant, dropped by drop_shortcut), so
residual, LayerNorm placement and dropout placement can all be read off the output.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.checks import Context, Suite
from autograder.compare import FLOAT64, CheckFailure, assert_close, is_close, tensor_like
from autograder.properties import RATE_Z_LIMIT, causal_outputs, check_raised
from autograder.scan import Ban
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots

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
DEFAULT_EPS = 1e-5


def gpt_cfg(emb_dim: int, n_heads: int, context_length: int, *, drop_rate: float = 0.0,
            qkv_bias: bool = False) -> dict[str, Any]:
    return {"vocab_size": 11, "context_length": context_length, "emb_dim": emb_dim, "n_heads": n_heads,
            "n_layers": 1, "drop_rate": drop_rate, "qkv_bias": qkv_bias}


SNAPSHOTS = [
    SnapshotCase("layernorm", LN, {"x": (2, 3, 5)}, init={"emb_dim": 5}, seed=1),
    SnapshotCase("layernorm_small_variance", LN, {"x": (4, 6)}, init={"emb_dim": 6}, seed=2, scale=1e-2),
    SnapshotCase("gelu", GELU, {"x": (4, 8)}, init={}, seed=3, scale=1.2),
    SnapshotCase("feedforward", FF, {"x": (2, 3, 4)}, init={"cfg": gpt_cfg(4, 2, 3)}, seed=4),
    SnapshotCase("block", BLOCK, {"x": (2, 5, 6)}, init={"cfg": gpt_cfg(6, 2, 7, qkv_bias=True)}, seed=5),
]
_CASES = {c.name: c for c in SNAPSHOTS}


def block_weights(E: int, qkv_bias: bool, seed: int, *, scale: float = 0.5) -> dict[str, torch.Tensor]:
    """Seeded float64 weights for every parameter of a TransformerBlock, by the curriculum's names."""
    shapes: dict[str, tuple[int, ...]] = {}
    for proj in ("W_query", "W_key", "W_value"):
        shapes[f"att.{proj}.weight"] = (E, E)
        if qkv_bias:
            shapes[f"att.{proj}.bias"] = (E,)
    shapes.update({"att.out_proj.weight": (E, E), "att.out_proj.bias": (E,),
                   "ff.layers.0.weight": (4 * E, E), "ff.layers.0.bias": (4 * E,),
                   "ff.layers.2.weight": (E, 4 * E), "ff.layers.2.bias": (E,),
                   "norm1.scale": (E,), "norm1.shift": (E,), "norm2.scale": (E,), "norm2.shift": (E,)})
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen, dtype=torch.float64) * scale for k, s in shapes.items()}


def sub_weights(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def _ones_zeros(E: int) -> dict[str, torch.Tensor]:
    return {"scale": torch.ones(E, dtype=torch.float64), "shift": torch.zeros(E, dtype=torch.float64)}


# -- snapshots -------------------------------------------------------------------------------
_TARGETS = {LN: (LN,), GELU: (GELU,), FF: FF_TARGETS, BLOCK: BLOCK_TARGETS}


register_snapshots(
    SUITE, SNAPSHOTS, targets=lambda case: _TARGETS[case.target],
    uses=lambda case: ("a03_attention",) if case.target == BLOCK else (),
    describe=lambda case: f"{case.target}: matches stored reference outputs for fixed weights and inputs"
                          + (" (rows of small variance, where eps matters)" if "small" in case.name else ""))


# -- LayerNorm -------------------------------------------------------------------------------
def _layernorm_hint(out: torch.Tensor, x: torch.Tensor, eps: float) -> str | None:
    """Name the misconception whose per-row output variance matches the learner's."""
    E = x.shape[-1]
    v = x.var(-1, unbiased=False)
    got = out.var(-1, unbiased=False)
    known = {
        "your rows' variance matches dividing by E - 1 (the unbiased variance): LayerNorm uses the biased "
        "variance, x.var(dim=-1, unbiased=False)": v / (v * E / (E - 1) + eps),
        "your rows' variance matches (x - mean) / (sqrt(var) + eps): eps goes inside the square root, "
        "sqrt(var + eps)": v / (v.sqrt() + eps) ** 2,
        "your rows' variance matches dividing by sqrt(std + eps): take the square root of the variance, "
        "not of the standard deviation": v / (x.std(-1, unbiased=False) + eps),
    }
    for text, expected in known.items():
        if is_close(got, expected, FLOAT64):
            return text
    if is_close(got, v / (x.std(-1) + eps), FLOAT64):
        return next(t for t in known if "std + eps" in t)
    return None


@check(points=3, visibility="public", kind="property", targets=(LN,), max_examples=12,
       description="LayerNorm (scale 1, shift 0): every row of the output has mean 0 and biased variance "
                   "var / (var + eps), for small and large rows and for a given eps")
def layernorm_normalises_rows(ctx: Context) -> None:
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(2, 8), seed=sg.seeds(),
               eps=st.sampled_from([1e-3, 0.1]))
    def _(lead: tuple[int, ...], E: int, seed: int, eps: float) -> None:
        x = sg.make_tensor((*lead, E), seed)
        cases = [("x * 0.01", x * 1e-2, DEFAULT_EPS), ("x * 3", x * 3.0, DEFAULT_EPS), ("x * 0.01", x * 1e-2, eps)]
        ctx.example(shapes={"x": [*lead, E]}, config={"emb_dim": E, "eps": eps}, values={"x": x})
        p = ctx.program()
        m_default = p.new(LN, E)
        m_eps = p.new(LN, E, eps=eps)
        for m in (m_default, m_eps):
            p.to(m, torch.float64)
            p.load(m, _ones_zeros(E))
        outs = [p.call(m_default if i < 2 else m_eps, xi, no_grad=True) for i, (_, xi, _) in enumerate(cases)]
        res = ctx.run(p.returns(outs=outs))["outs"]
        for (label, xi, e), out in zip(cases, res):
            made = f"LayerNorm({E}" + (")" if e == DEFAULT_EPS else f", eps={e:g})")
            out = tensor_like(out, xi, f"output of {made} on {label}")
            assert_close(out.mean(-1), torch.zeros(xi.shape[:-1], dtype=torch.float64),
                         name=f"mean of each output row of {made} on {label} (subtract the row mean)", tol=FLOAT64)
            v = xi.var(-1, unbiased=False)
            try:
                assert_close(out.var(-1, unbiased=False), v / (v + e), tol=FLOAT64,
                             name=f"biased variance of each output row of {made} on {label} (expected "
                                  f"var / (var + eps), var being the row's biased variance)")
            except CheckFailure as failure:
                failure.hint = _layernorm_hint(out, xi, e)
                raise


@check(points=2, visibility="public", kind="property", targets=(LN,), max_examples=10,
       description="LayerNorm: adding a constant to a row does not change its output; with eps=0, neither "
                   "does multiplying the row by a positive number")
def layernorm_shift_and_scale_invariant(ctx: Context) -> None:
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(2, 8), seed=sg.seeds(),
               factor=st.sampled_from([1e-3, 1e3, 7.0]))
    def _(lead: tuple[int, ...], E: int, seed: int, factor: float) -> None:
        x = sg.make_tensor((*lead, E), seed)
        c = sg.make_tensor((*lead, 1), seed + 1, scale=10.0)
        ctx.example(shapes={"x": [*lead, E], "c": [*lead, 1]}, config={"emb_dim": E, "factor": factor},
                    values={"x": x, "c": c})
        p = ctx.program()
        m, m0 = p.new(LN, E), p.new(LN, E, eps=0.0)
        for mod in (m, m0):
            p.to(mod, torch.float64)
            p.load(mod, _ones_zeros(E))
        calls = [p.call(m, x, no_grad=True), p.call(m, x + c, no_grad=True),
                 p.call(m0, x, no_grad=True), p.call(m0, x * factor, no_grad=True)]
        base, shifted, base0, scaled = ctx.run(p.returns(outs=calls))["outs"]
        base = tensor_like(base, x, f"output of LayerNorm({E})")
        base0 = tensor_like(base0, x, f"output of LayerNorm({E}, eps=0)")
        assert_close(shifted, base, tol=FLOAT64, name=f"LayerNorm({E}) of x + c (c: one constant per row) "
                                                       f"compared with LayerNorm of x (subtract the row mean)")
        assert_close(scaled, base0, tol=FLOAT64, name=f"LayerNorm({E}, eps=0) of {factor:g} * x compared with "
                                                       f"LayerNorm of x (divide by the row's standard deviation)")


@check(points=2, visibility="public", kind="property", targets=(LN,), max_examples=8,
       description="LayerNorm: parameters `scale` (ones) and `shift` (zeros) of shape (emb_dim,), applied as "
                   "scale * normalised + shift")
def layernorm_scale_and_shift(ctx: Context) -> None:
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=2, max_side=4), E=st.integers(1, 8), seed=sg.seeds())
    def _(lead: tuple[int, ...], E: int, seed: int) -> None:
        x = sg.make_tensor((*lead, E), seed)
        gamma, beta = sg.make_tensor((E,), seed + 1), sg.make_tensor((E,), seed + 2)
        ctx.example(shapes={"x": [*lead, E]}, config={"emb_dim": E}, values={"x": x, "scale": gamma, "shift": beta})
        p = ctx.program()
        m = p.new(LN, E)
        p.to(m, torch.float64)
        params, state = p.params(m), p.state(m)
        p.load(m, _ones_zeros(E))
        plain = p.call(m, x, no_grad=True)
        p.load(m, {"scale": gamma, "shift": beta})
        affine = p.call(m, x, no_grad=True)
        res = ctx.run(p.returns(params=params, state=state, plain=plain, affine=affine))
        want = {"scale": [E], "shift": [E]}
        if res["params"] != want:
            raise CheckFailure(f"parameters of LayerNorm({E}): {res['params']}, expected {want} "
                               f"(nn.Parameter attributes named scale and shift)")
        for name, init in _ones_zeros(E).items():
            assert_close(res["state"][name], init, name=f"initial value of LayerNorm({E}).{name}", tol=FLOAT64)
        plain = tensor_like(res["plain"], x, f"output of LayerNorm({E})")
        expected = gamma * plain + beta
        got = res["affine"]
        try:
            assert_close(got, expected, tol=FLOAT64,
                         name=f"output of LayerNorm({E}) with scale and shift loaded (expected scale * y + shift, "
                              f"y the output with scale 1 and shift 0)")
        except CheckFailure as failure:
            if isinstance(got, torch.Tensor) and is_close(got, beta * plain + gamma, FLOAT64):
                failure.hint = "your output matches shift * y + scale: scale multiplies, shift is added"
            raise


@check(points=1, visibility="public", kind="property", targets=(LN,),
       description="LayerNorm: ValueError for an input whose last dim is not emb_dim, and for emb_dim <= 0")
def layernorm_rejects_bad_input(ctx: Context) -> None:
    ctx.example(config={"emb_dim": 4}, shapes={"x": [2, 3, 5]})
    p = ctx.program()
    m = p.new(LN, 4)
    outcome = p.call(m, torch.zeros(2, 3, 5, dtype=torch.float32), catch=True)
    bad = p.new(LN, 0, catch=True)
    res = ctx.run(p.returns(outcome=outcome, bad=bad))
    check_raised(ctx, res["outcome"], "LayerNorm(4) called on x of shape (2, 3, 5)", ("ValueError",), ("4", "5"))
    check_raised(ctx, res["bad"], "LayerNorm(0)", ("ValueError",), ("0",))


@check(points=1, visibility="public", kind="integrity", targets=(LN,),
       description="LayerNorm: float32 in, float32 out (float64 likewise), shape kept; the input is not modified")
def layernorm_keeps_dtype(ctx: Context) -> None:
    for dtype in (torch.float32, torch.float64):
        x = sg.make_tensor((2, 3, 4), 11, dtype=dtype)
        ctx.example(shapes={"x": [2, 3, 4]}, config={"emb_dim": 4, "dtype": str(dtype)})
        p = ctx.program()
        m = p.new(LN, 4)
        p.to(m, dtype)
        xr = p.tensor("x", x)
        res = ctx.run(p.returns(out=p.call(m, xr, no_grad=True), x_after=xr))
        out = res["out"]
        if not isinstance(out, torch.Tensor) or out.dtype != dtype or out.shape != x.shape:
            raise CheckFailure(f"output of LayerNorm(4) on a {str(dtype).removeprefix('torch.')} input of shape "
                               f"(2, 3, 4): expected the same dtype and shape, got "
                               f"{getattr(out, 'dtype', type(out).__name__)} {tuple(getattr(out, 'shape', ()))}")
        if not torch.equal(res["x_after"], x):
            raise CheckFailure("LayerNorm modified its input x in place; compute on new tensors instead")


# -- GELU ------------------------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=(GELU,), max_examples=8,
       description="GELU: GELU(0) = 0, GELU(x) - GELU(-x) = x, GELU(x) ~ x for large x and ~ 0 for very "
                   "negative x; shape and dtype kept")
def gelu_properties(ctx: Context) -> None:
    @ctx.given(x=sg.tensors(shape=sg.shapes(max_dims=3), scale=3.0))
    def _(x: torch.Tensor) -> None:
        big = 6.0 + x.abs() * 10  # >= 6: tanh(...) is 1 to 1e-10 there
        ctx.example(shapes={"x": list(x.shape)}, values={"x": x})
        p = ctx.program()
        g = p.new(GELU)
        calls = {"x": p.call(g, x, no_grad=True), "neg": p.call(g, -x, no_grad=True),
                 "zero": p.call(g, torch.zeros_like(x), no_grad=True), "big": p.call(g, big, no_grad=True),
                 "very_neg": p.call(g, -big, no_grad=True), "f32": p.call(g, x.float(), no_grad=True)}
        res = ctx.run(p.returns(**calls))
        out = tensor_like(res["x"], x, "output of GELU()(x)")
        if out.dtype != x.dtype or not isinstance(res["f32"], torch.Tensor) or res["f32"].dtype != torch.float32:
            raise CheckFailure("output of GELU: keep the input's dtype (float64 in, float64 out; float32 likewise)")
        assert_close(res["zero"], torch.zeros_like(x), name="GELU()(0)", tol=FLOAT64)
        assert_close(res["big"], big, name="GELU()(x) for x >= 6 (expected x)", tol=FLOAT64)
        assert_close(res["very_neg"], torch.zeros_like(x), name="GELU()(x) for x <= -6 (expected 0)", tol=FLOAT64)
        neg = tensor_like(res["neg"], x, "output of GELU()(-x)")
        assert_close(out - neg, x, name="GELU()(x) - GELU()(-x) (expected x: the tanh argument "
                                        "sqrt(2/pi) * (x + 0.044715 x^3) is odd in x)", tol=FLOAT64)


# -- FeedForward -----------------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=FF_TARGETS, max_examples=8,
       description="FeedForward: layers[0] = Linear(E, 4E), layers[1] = your GELU, layers[2] = Linear(4E, E), "
                   "applied in that order")
def feedforward_is_linear_gelu_linear(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=sg.seeds())
    def _(cfg: dict[str, Any], seed: int) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        E = c["emb_dim"]
        w = sub_weights(block_weights(E, False, seed), "ff.")
        x = sg.make_tensor((B, T, E), seed + 1)
        hidden = x @ w["layers.0.weight"].T + w["layers.0.bias"]  # (B, T, 4E)
        ctx.example(shapes={"x": [B, T, E]}, config={"emb_dim": E})
        p = ctx.program()
        ff, g = p.new(FF, c), p.new(GELU)
        p.to(ff, torch.float64)
        p.load(ff, w)
        res = ctx.run(p.returns(out=p.call(ff, x, no_grad=True), act=p.call(g, hidden, no_grad=True)))
        act = tensor_like(res["act"], hidden, "output of GELU")
        assert_close(res["out"], act @ w["layers.2.weight"].T + w["layers.2.bias"], tol=FLOAT64,
                     name="output of FeedForward (expected layers[2](GELU()(layers[0](x))), with your GELU)")


# -- TransformerBlock ------------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=BLOCK_TARGETS, uses=("a03_attention",),
       max_examples=10,
       description="TransformerBlock: changing a later token never changes the outputs of earlier tokens")
def block_is_causal(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), data=st.data())
    def _(cfg: dict[str, Any], data: st.DataObject) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        k = data.draw(st.integers(0, T - 1), label="k")
        seed = data.draw(st.integers(0, 2**16), label="seed")
        x = sg.make_tensor((B, T, c["emb_dim"]), seed)
        x2 = x.clone()
        x2[:, k:] = sg.make_tensor((B, T - k, c["emb_dim"]), seed + 1)
        ctx.example(shapes={"x": list(x.shape)}, config={**c, "changed_from_position": k}, values={"x": x})
        causal_outputs(ctx, BLOCK, [c], x, x2, k)


def _block_params(E: int, qkv_bias: bool) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in block_weights(E, qkv_bias, 0).items()}


@check(points=3, visibility="public", kind="property", targets=BLOCK_TARGETS, uses=("a03_attention",),
       max_examples=8,
       description="TransformerBlock (eval): h = x + att(norm1(x)), output h + ff(norm2(h)), built from your own "
                   "LayerNorm and FeedForward with separate norm1 and norm2")
def block_is_pre_ln_residual(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=sg.seeds())
    def _(cfg: dict[str, Any], seed: int) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        E = c["emb_dim"]
        w = block_weights(E, c["qkv_bias"], seed)
        no_ff = {**w, "ff.layers.2.weight": torch.zeros(E, 4 * E, dtype=torch.float64),
                 "ff.layers.2.bias": torch.zeros(E, dtype=torch.float64)}
        x = sg.make_tensor((B, T, E), seed + 1)
        ctx.example(shapes={"x": [B, T, E]}, config=c)
        p = ctx.program()
        blk, ln1 = p.new(BLOCK, c), p.new(LN, E)
        params = p.params(blk)
        for m, weights in ((blk, no_ff), (ln1, sub_weights(w, "norm1."))):
            p.to(m, torch.float64)
            p.load(m, weights)
            p.train(m, False)
        out_att_only = p.call(blk, x, no_grad=True)
        att = p.call(blk, p.call(ln1, x, no_grad=True), method="att", no_grad=True)
        p.load(blk, w)
        out = p.call(blk, x, no_grad=True)
        res = ctx.run(p.returns(params=params, out_att_only=out_att_only, att=att, out=out))
        want = _block_params(E, c["qkv_bias"])
        if res["params"] != want:
            missing = sorted(set(want) - set(res["params"]))
            extra = sorted(set(res["params"]) - set(want))
            why = (" (norm2 is the same module as norm1? each needs its own LayerNorm)"
                   if any(k.startswith("norm2.") for k in missing) else "")
            raise CheckFailure(f"parameters of TransformerBlock: missing {missing}, unexpected {extra}{why}")
        att_out = tensor_like(res["att"], x, "output of block.att(LayerNorm(x))")
        h = x + att_out
        assert_close(res["out_att_only"], h, tol=FLOAT64,
                     name="output of TransformerBlock with the feed-forward sub-layer zeroed (expected "
                          "x + att(norm1(x)): normalise the sub-layer's input, add its output to x)")
        p = ctx.program()
        ln2, ff = p.new(LN, E), p.new(FF, c)
        for m, prefix in ((ln2, "norm2."), (ff, "ff.")):
            p.to(m, torch.float64)
            p.load(m, sub_weights(w, prefix))
        f = ctx.run(p.returns(f=p.call(ff, p.call(ln2, h, no_grad=True), no_grad=True)))["f"]
        f = tensor_like(f, x, "output of FeedForward(LayerNorm(h))")
        assert_close(res["out"], h + f, tol=FLOAT64,
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
                           hint="drop_shortcut is never applied: x = x + self.drop_shortcut(sublayer(norm(x)))")
    if not (kept | dropped).all():
        if (unscaled | dropped).all():
            raise CheckFailure(f"{name}: kept elements of the {sub} output are not scaled by 1/(1-p) = "
                               f"{1 / (1 - p_drop):g} (nn.Dropout does it for you)")
        bad = tuple(int(i) for i in (~(kept | dropped)).nonzero()[0])
        raise CheckFailure(f"{name}: every element should be x (c dropped) or x + c / (1 - p) (c kept); at index "
                           f"{list(bad)} got x + {float(d[bad]):.6g}, with c = {float(c[bad[-1]]):.6g}")
    n, k = dropped.numel(), int(dropped.sum())
    z = (k - n * p_drop) / math.sqrt(n * p_drop * (1 - p_drop))
    if abs(z) > RATE_Z_LIMIT:
        raise CheckFailure(f"{name}: dropped {k} of {n} elements ({k / n:.3f}), expected about p={p_drop} "
                           f"(z-score {z:.1f}, limit {RATE_Z_LIMIT:g}); use cfg['drop_rate'] as the rate")


def _residual_stream_hint(out: torch.Tensor, x: torch.Tensor, p_drop: float) -> str | None:
    """A block whose sub-layers output 0 should return x; name what it did to x instead."""
    if out.abs().max() <= 1e-9:
        return "your block returned 0 where it should return x: the shortcut is missing (x = x + sublayer(...))"
    ratio = out / x.where(x.abs() > 1e-6, torch.ones_like(x))
    scales = torch.tensor([0.0, 1 / (1 - p_drop), 1 / (1 - p_drop) ** 2], dtype=torch.float64)
    if ((ratio[..., None] - scales).abs().amin(-1) <= 1e-6).all():
        return ("elements of x itself were dropped: apply drop_shortcut to the sub-layer output before adding "
                "it, x + drop_shortcut(sublayer(norm(x))), not to the sum")
    return None


@check(points=3, visibility="public", kind="property", targets=BLOCK_TARGETS, uses=("a03_attention",),
       description="TransformerBlock (train): drop_shortcut drops each sub-layer's output at rate drop_rate and "
                   "scales the rest by 1/(1-p); the shortcut x itself is never dropped or normalised")
def block_dropout_on_sublayer_outputs(ctx: Context) -> None:
    p_drop, B, T, E, heads = 0.25, 16, 4, 8, 2
    c = 0.5 + 0.25 * torch.arange(E, dtype=torch.float64)  # distinct, and c/(1-p) != c +- x noise
    cfg = gpt_cfg(E, heads, T, drop_rate=p_drop, qkv_bias=True)
    x = sg.make_tensor((B, T, E), 21)
    ctx.example(shapes={"x": [B, T, E]}, config={**cfg, "att.out_proj.weight": "0", "att.out_proj.bias": "c",
                                                "ff.layers.2.weight": "0", "ff.layers.2.bias": "0 or c"})
    p = ctx.program()
    p.seed(1234)
    blk = p.new(BLOCK, cfg)
    p.to(blk, torch.float64)
    outs = {}
    for label, att_c, ff_c in (("none", None, None), ("att", c, None), ("ff", None, c)):
        p.load(blk, _probe_weights(E, att_c, ff_c, 7))
        p.train(blk, True)
        outs[f"{label}_train"] = p.call(blk, x, no_grad=True)
        p.train(blk, False)
        outs[f"{label}_eval"] = p.call(blk, x, no_grad=True)
    res = ctx.run(p.returns(**outs))
    tensor_like(res["none_train"], x, "output of TransformerBlock")
    for mode in ("train", "eval"):
        try:
            assert_close(res[f"none_{mode}"], x, tol=FLOAT64,
                         name=f"output of TransformerBlock in {mode} mode when both sub-layers output 0 (expected "
                              f"x unchanged: the shortcut carries x through with no LayerNorm or dropout on it)")
        except CheckFailure as failure:
            out = res[f"none_{mode}"]
            if isinstance(out, torch.Tensor) and out.shape == x.shape:
                failure.hint = _residual_stream_hint(out, x, p_drop)
            raise
    for sub, key in (("attention", "att"), ("feed-forward", "ff")):
        assert_close(res[f"{key}_eval"], x + c, tol=FLOAT64,
                     name=f"output of TransformerBlock in eval mode when the {sub} sub-layer outputs a constant c "
                          f"(expected x + c: add the sub-layer output to x; no dropout in eval mode)")
        _dropped_constant(tensor_like(res[f"{key}_train"], x, "output of TransformerBlock"), x, c, p_drop, sub)


@check(points=2, visibility="public", kind="property", targets=BLOCK_TARGETS, uses=("a03_attention",),
       max_examples=6,
       description="TransformerBlock: in eval mode it is deterministic and equals the same weights with "
                   "drop_rate=0; with drop_rate=0 train mode equals eval mode; the input is not modified")
def block_eval_is_deterministic(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(), seed=sg.seeds())
    def _(cfg: dict[str, Any], seed: int) -> None:
        c, B, T = cfg["cfg"], cfg["B"], cfg["T"]
        E = c["emb_dim"]
        w = block_weights(E, c["qkv_bias"], seed)
        # norm2 = norm1 here: this check is about dropout; a block whose norm2 *is* norm1 is
        # block_is_pre_ln_residual's business, and would otherwise fail here on the loader's shared-tensor error
        w.update({"norm2.scale": w["norm1.scale"], "norm2.shift": w["norm1.shift"]})
        x = sg.make_tensor((B, T, E), seed + 1)
        ctx.example(shapes={"x": [B, T, E]}, config={**c, "drop_rate": "0.5 and 0.0"})
        p = ctx.program()
        p.seed(0)
        drop, plain = p.new(BLOCK, {**c, "drop_rate": 0.5}), p.new(BLOCK, c)
        for m in (drop, plain):
            p.to(m, torch.float64)
            p.load(m, w)
            p.train(m, False)
        xr = p.tensor("x", x)
        outs = {"a": p.call(drop, xr, no_grad=True), "b": p.call(drop, xr, no_grad=True),
                "plain": p.call(plain, xr, no_grad=True)}
        p.train(plain, True)
        outs["plain_train"] = p.call(plain, xr, no_grad=True)
        res = ctx.run(p.returns(**outs, x_after=xr))
        if not torch.equal(res["x_after"], x):
            raise CheckFailure("TransformerBlock modified its input x in place (x += ...?); write x = x + ... instead")
        a = tensor_like(res["a"], x, "output of TransformerBlock")
        b = res["b"]  # compared bit for bit, NaN included (nan != nan would blame dropout for a NaN)
        if not (isinstance(b, torch.Tensor) and b.shape == a.shape
                and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)):
            raise CheckFailure("TransformerBlock (drop_rate=0.5) in eval mode: two calls gave different outputs; "
                               "dropout must be off after .eval()")
        assert_close(a, res["plain"], tol=FLOAT64, name="output of TransformerBlock (drop_rate=0.5) in eval mode "
                                                         "compared with the same weights and drop_rate=0")
        assert_close(res["plain_train"], res["plain"], tol=FLOAT64,
                     name="output of TransformerBlock (drop_rate=0) in train mode compared with eval mode")


@check(points=1, visibility="public", kind="property", targets=BLOCK_TARGETS, uses=("a03_attention",),
       description="TransformerBlock and FeedForward: a cfg missing a key they use raises ValueError naming the key")
def block_rejects_incomplete_config(ctx: Context) -> None:
    cfg = gpt_cfg(4, 2, 4)
    ctx.example(config=cfg)
    p = ctx.program()
    p.new(BLOCK, cfg)  # a complete cfg first: an unfinished block stops the check here
    made = {key: p.new(BLOCK, {k: v for k, v in cfg.items() if k != key}, catch=True) for key in BLOCK_KEYS}
    made["ff"] = p.new(FF, {k: v for k, v in cfg.items() if k != "emb_dim"}, catch=True)
    res = ctx.run(p.returns(**made))
    for key in BLOCK_KEYS:
        check_raised(ctx, res[key], f"TransformerBlock(cfg without {key!r})", ("ValueError",), (key,))
    check_raised(ctx, res["ff"], "FeedForward(cfg without 'emb_dim')", ("ValueError",), ("emb_dim",))


@check(points=1, visibility="public", kind="integrity", targets=BLOCK_TARGETS, uses=("a03_attention",),
       description="TransformerBlock: float32 in, float32 out (float64 likewise), shape (B, T, E) kept")
def block_keeps_dtype(ctx: Context) -> None:
    cfg = gpt_cfg(4, 2, 5)
    for dtype in (torch.float32, torch.float64):
        x = sg.make_tensor((2, 3, 4), 12, dtype=dtype)
        ctx.example(shapes={"x": [2, 3, 4]}, config={**cfg, "dtype": str(dtype)})
        p = ctx.program()
        m = p.new(BLOCK, cfg)
        p.to(m, dtype)
        p.train(m, False)
        out = ctx.run(p.returns(out=p.call(m, x, no_grad=True)))["out"]
        if not isinstance(out, torch.Tensor) or out.dtype != dtype or out.shape != x.shape:
            raise CheckFailure(f"output of TransformerBlock on a {str(dtype).removeprefix('torch.')} input of shape "
                               f"(2, 3, 4): expected the same dtype and shape, got "
                               f"{getattr(out, 'dtype', type(out).__name__)} {tuple(getattr(out, 'shape', ()))}")
