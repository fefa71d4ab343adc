"""Public checks for a13_llama: properties and snapshots, no reference needed.

RoPE's tables and SiLU are pinned down by their formulas (the stub states them), so the public
checks compute those directly; apply_rope, RMSNorm, SwiGLU and GroupedQueryAttention are replayed
from stored reference outputs and probed by properties (rotation is relative, attention is causal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.kit import FLOAT64, CheckFailure, Context, Hints, Suite, Tolerance
from autograder.mistakes.a13_llama import APPLY_ROPE, RMSNORM, ROPE_TABLES, SILU, SWIGLU, gqa_hints, rope_tables
from autograder.scan import Ban
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots

NORM, ACT, FF, TABLES, ROPE, GQA = ("RMSNorm", "SiLU", "SwiGLUFeedForward", "compute_rope_params", "apply_rope",
                                    "GroupedQueryAttention")
SUITE = Suite("a13_llama", bans=[
    *(Ban(api, scope=NORM) for api in ("torch.nn.RMSNorm", "torch.nn.functional.rms_norm", "torch.rms_norm")),
    *(Ban(api, scope=scope) for api in ("torch.nn.functional.silu", "torch.nn.SiLU") for scope in (ACT, FF)),
])
check = SUITE.check
DEFAULT_EPS = 1e-5
# The book's Qwen3 RMSNorm computes in float32 and casts back. On float64 inputs (3000 draws of
# rmsnorm_matches_reference's inputs) its outputs stay within 2e-6 relative, and its x-gradient, up to
# 1e3 on rows of size 1e-3 and cancelling to ~0 elsewhere, within 7.1e-6 absolute (2e-7 for the weight);
# every mistake in tests/banks is off by > 1e-2 in the output. bench/tolerance_probe.py: the Qwen3
# alternative reaches 0.078 of this tolerance, the nearest mistake 1.5e3 times it.
RMSNORM_FLOAT64 = Tolerance(rtol=2e-6, atol=3e-5)
# The book computes RoPE's angles in float32: at position 4095 (head_dim 128) its tables are off by
# 2.4e-4 (tests/test_a13_llama.py), 0.24 of this tolerance; the nearest mistake (positions from 1) is
# 956 times it.
ROPE_TABLE_TOL = Tolerance(rtol=0.0, atol=1e-3)


@dataclass(frozen=True)
class RopeCase(SnapshotCase):
    """A snapshot whose `cos`/`sin` inputs are exact RoPE tables and whose `mask` is causal (not random)."""
    theta_base: float = 10_000.0

    def make_inputs(self) -> dict[str, torch.Tensor]:
        out = super().make_inputs()
        if "cos" in out:
            out["cos"], out["sin"] = rope_tables(self.inputs["cos"][1], self.theta_base, self.inputs["cos"][0])
        if "mask" in out:
            out["mask"] = torch.ones(self.inputs["mask"], dtype=torch.bool).triu(1)
        return out


SNAPSHOTS = [
    SnapshotCase("rmsnorm", NORM, {"x": (2, 3, 6)}, init={"emb_dim": 6}, seed=1),
    SnapshotCase("rmsnorm_small_rows", NORM, {"x": (4, 5)}, init={"emb_dim": 5, "eps": 1e-5}, seed=2, scale=1e-3),
    SnapshotCase("swiglu", FF, {"x": (2, 3, 4)}, init={"emb_dim": 4, "hidden_dim": 6}, seed=3),
    RopeCase("apply_rope", ROPE, {"x": (2, 3, 4, 6), "cos": (9, 6), "sin": (9, 6)}, kwargs={"offset": 3}, seed=4),
    RopeCase("gqa", GQA, {"x": (2, 5, 6), "mask": (7, 7), "cos": (7, 4), "sin": (7, 4)},
             init={"d_in": 6, "num_heads": 4, "num_kv_groups": 2, "head_dim": 4}, seed=5, theta_base=100.0),
]
_TARGETS = {NORM: (NORM,), FF: (FF, ACT), ROPE: (ROPE,), GQA: (GQA, ROPE)}


def _snapshot_hints(case: SnapshotCase, inputs: dict[str, torch.Tensor], w: dict[str, torch.Tensor]) -> Hints:
    if case.target == NORM:
        return RMSNORM(x=inputs["x"], weight=w["weight"], eps=case.init.get("eps", DEFAULT_EPS))  # type: ignore[union-attr]
    if case.target == FF:
        return SWIGLU(x=inputs["x"], w=w)
    if case.target == ROPE:
        return APPLY_ROPE(**inputs, **case.kwargs)
    return gqa_hints(inputs["x"], w, case.init["num_heads"], case.init["num_kv_groups"], **{  # type: ignore[index]
        k: inputs[k] for k in ("mask", "cos", "sin")})


register_snapshots(SUITE, SNAPSHOTS, targets=lambda case: _TARGETS[case.target], hints=_snapshot_hints,
                   tol=lambda case: RMSNORM_FLOAT64 if case.target == NORM else FLOAT64,
                   describe=lambda case: f"{case.target}: matches stored reference outputs for fixed weights and "
                                         f"inputs" + (" (rows of size 1e-3, where eps matters)" if "small" in case.name
                                                      else ""))


@check(points=1, visibility="public", kind="integrity", targets=(NORM,),
       description="RMSNorm: float32 in, float32 out (float64 likewise); the input is not modified")
def rmsnorm_keeps_dtype(ctx: Context) -> None:
    for dtype in (torch.float32, torch.float64):  # ctx.call checks the dtype and that x is left alone
        x = sg.make_tensor((2, 3, 4), 11, dtype=dtype)
        ctx.example(shapes={"x": [2, 3, 4]}, config={"emb_dim": 4, "dtype": str(dtype)})
        (out,) = ctx.fetch(ctx.call(ctx.module(NORM, [4], dtype=dtype), x))
        ctx.expect_tensor(out, x, f"output of RMSNorm(4) on a {str(dtype).removeprefix('torch.')} input")


@check(points=2, visibility="public", kind="property", targets=(ACT,), max_examples=8,
       description="SiLU: x * sigmoid(x) for x in [-50, 50], in float64 and float32")
def silu_values(ctx: Context) -> None:
    @ctx.given(x=sg.tensors(shape=sg.shapes(max_dims=3), scale=st.sampled_from([1.0, 5.0, 50.0])))
    def _(x: torch.Tensor) -> None:
        x = x.clamp(-50, 50)
        ctx.example(shapes={"x": list(x.shape)}, values={"x": x})
        m = ctx.module(ACT, dtype=None, train=None)
        got, _f32 = ctx.fetch(ctx.call(m, x), ctx.call(m, x.float()))  # ctx.call checks float32 stays float32
        ctx.expect_close(got, x * torch.sigmoid(x), name="output of SiLU()(x) (expected x * sigmoid(x))",
                         tol=FLOAT64, hints=SILU(x=x))


ROPE_CONFIGS = [(2, 10_000, 5), (8, 3.5, 9), (6, 10_000, 12), (16, 500_000, 64), (128, 10_000, 4096)]


@check(points=3, visibility="public", kind="snapshot", targets=(TABLES,),
       description="compute_rope_params: cos and sin of p * theta_base ** (-2i / head_dim), split-halves layout, "
                   "each (context_length, head_dim); float32 rounding of the angles is accepted")
def rope_tables_values(ctx: Context) -> None:
    calls = [ctx.call(TABLES, hs, theta_base=theta, context_length=L) for hs, theta, L in ROPE_CONFIGS]
    for (hs, theta, L), got in zip(ROPE_CONFIGS, ctx.fetch(*calls)):
        ctx.example(config={"head_dim": hs, "theta_base": theta, "context_length": L})
        want = rope_tables(hs, theta, L)
        name = f"compute_rope_params({hs}, theta_base={theta:g}, context_length={L})"
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailure(f"{name}: expected a pair (cos, sin), got {type(got).__name__}")
        cos, sin = (ctx.expect_tensor(g, w, f"{part} table of {name}").double()
                    for g, w, part in zip(got, want, ("cos", "sin")))
        hints = ROPE_TABLES(head_dim=hs, theta_base=theta, context_length=L).on(torch.cat([cos, sin], -1))
        for part, g, w in (("cos", cos, want[0]), ("sin", sin, want[1])):
            ctx.expect_close(g, w, name=f"{part} table of {name}", tol=ROPE_TABLE_TOL, hints=hints)


@check(points=1, visibility="public", kind="property", targets=(TABLES, ROPE),
       description="RoPE: ValueError for an odd head_dim, and for apply_rope past the end of the tables")
def rope_errors(ctx: Context) -> None:
    cos, sin = rope_tables(4, 10_000, 4)
    ctx.example(config={"head_dim": 5, "apply_rope": "x of shape (1, 1, 3, 4), 4 table rows, offset=2"})
    odd = ctx.call(TABLES, 5, catch=True)
    past = ctx.call(ROPE, torch.zeros(1, 1, 3, 4), cos, sin, offset=2, catch=True)
    odd, past = ctx.fetch(odd, past)
    ctx.expect_raises(odd, "compute_rope_params(head_dim=5)", mention=("5",))
    ctx.expect_raises(past, "apply_rope(x with T=3, tables of 4 rows, offset=2)", mention=("4",))


@check(points=2, visibility="public", kind="property", targets=(ROPE,), max_examples=8,
       description="apply_rope: rotated q . k depends on the positions only through their difference, and token t "
                   "of a call at offset o is rotated like a lone token at offset o + t")
def rope_relative_property(ctx: Context) -> None:
    @ctx.given(half=st.integers(1, 4), d=st.integers(0, 4), o=st.integers(0, 5), T=st.integers(2, 4), seed=sg.seeds())
    def _(half: int, d: int, o: int, T: int, seed: int) -> None:
        hs = 2 * half
        cos, sin = rope_tables(hs, 100.0, 24)
        q, k = sg.make_tensor((1, 1, 1, hs), seed), sg.make_tensor((1, 1, 1, hs), seed + 1)
        x = sg.make_tensor((1, 2, T, hs), seed + 2)
        ctx.example(shapes={"q": [1, 1, 1, hs], "x": [1, 2, T, hs]}, config={"distance": d, "offset": o},
                    values={"q": q, "k": k})
        pairs = [(d, 0), (d + 7, 7), (d + 13, 13)]
        rotated = ctx.fetch(*(ctx.call(ROPE, v, cos, sin, offset=pos) for m, n in pairs for v, pos in ((q, m), (k, n))))
        whole, *alone = ctx.fetch(ctx.call(ROPE, x, cos, sin, offset=o),
                                  *(ctx.call(ROPE, x[:, :, t:t + 1], cos, sin, offset=o + t) for t in range(T)))
        dots = [(ctx.expect_tensor(a, q, "output of apply_rope") * ctx.expect_tensor(b, k, "output of apply_rope"))
                .sum() for a, b in zip(rotated[::2], rotated[1::2])]
        for (m, n), dot in zip(pairs[1:], dots[1:]):
            ctx.expect_close(dot, dots[0], tol=FLOAT64, name=f"apply_rope(q, offset={m}) . apply_rope(k, offset={n}) "
                             f"compared with positions {d} and 0 (a rotation by position: only m - n may matter)")
        ctx.expect_close(ctx.expect_tensor(whole, x, "output of apply_rope"), torch.cat(alone, dim=2), tol=FLOAT64,
                         name=f"apply_rope(x, offset={o}) compared with each token t alone at offset {o} + t")


GQA_CONFIGS = st.sampled_from([(6, 4, 2, 2), (5, 6, 3, 4), (8, 4, 1, None), (4, 2, 2, 2), (7, 6, 2, 2)])


def _gqa_init(cfg: tuple[int, int, int, int | None]) -> dict[str, Any]:
    d_in, heads, groups, hs = cfg
    return {"d_in": d_in, "num_heads": heads, "num_kv_groups": groups, "head_dim": hs}


@check(points=2, visibility="public", kind="property", targets=(GQA, ROPE), max_examples=10,
       description="GroupedQueryAttention with a causal mask larger than (T, T): changing a later token never "
                   "changes the outputs of earlier tokens")
def gqa_causal(ctx: Context) -> None:
    @ctx.given(cfg=GQA_CONFIGS, T=st.integers(2, 5), extra=st.integers(0, 3), data=st.data())
    def _(cfg: tuple[int, int, int, int | None], T: int, extra: int, data: st.DataObject) -> None:
        init = _gqa_init(cfg)
        hs = cfg[3] or cfg[0] // cfg[1]
        k = data.draw(st.integers(1, T - 1), label="k")
        seed = data.draw(sg.seeds(), label="seed")
        x = sg.make_tensor((2, T, cfg[0]), seed)
        x2 = torch.cat([x[:, :k], sg.make_tensor((2, T - k, cfg[0]), seed + 1)], dim=1)
        L = T + extra
        mask, (cos, sin) = torch.ones(L, L, dtype=torch.bool).triu(1), rope_tables(hs, 10_000, L)
        ctx.example(shapes={"x": [2, T, cfg[0]], "mask": [L, L]}, config={**init, "changed_from_position": k})
        m = ctx.module(GQA, init, seed=0)
        a, b = ctx.fetch(ctx.call(m, x, mask, cos, sin), ctx.call(m, x2, mask, cos, sin))
        a = ctx.expect_tensor(a, x, "output of GroupedQueryAttention")
        ctx.expect_close(ctx.expect_tensor(b, x, "output of GroupedQueryAttention")[:, :k], a[:, :k], tol=FLOAT64,
                         name=f"outputs at positions < {k} after changing the inputs at positions >= {k} "
                              f"(True in the mask hides a key; a token must not see later tokens)")


@check(points=1, visibility="public", kind="property", targets=(GQA,),
       description="GroupedQueryAttention: ValueError when num_heads is not divisible by num_kv_groups")
def gqa_errors(ctx: Context) -> None:
    ctx.example(config={"d_in": 16, "num_heads": 4, "num_kv_groups": 3})
    (made,) = ctx.fetch(ctx.module(GQA, {"d_in": 16, "num_heads": 4, "num_kv_groups": 3}, catch=True))
    ctx.expect_raises(made, "GroupedQueryAttention(d_in=16, num_heads=4, num_kv_groups=3)", mention=("4", "3"))
