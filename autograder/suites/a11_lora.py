"""Public checks for a11_lora: properties and snapshots, no reference needed.

The wrapped layers and the model to adapt are built in the worker by the runtime's `a11_helpers`: plain
nn.Linear layers, and `AdapterToy`, whose Linear layers sit in an nn.Sequential of blocks, one level
further down, in an nn.ModuleList and as `out_head`, next to an embedding and a plain parameter.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder import strategies as sg
from autograder.kit import FLOAT32, FLOAT64, CheckFailure, Context, Suite, expect_trainable
from autograder.mistakes.a11_lora import LORA, MERGE, WRAPPED
from autograder.properties import symmetric_uniform_problem
from autograder.runtime.a11_helpers import AdapterToy
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots

# Layers and models are float32 (nn.Linear's default) everywhere but in lora_float64: the book's LinearWithLoRA
# leaves its LoRALayer in the default dtype, and only that check is about the contract's "dtype of the wrapped layer".
LAYER, WRAP, REPLACE, FREEZE, MERGE_FN = ("LoRALayer", "LinearWithLoRA", "replace_linear_with_lora",
                                          "freeze_except_lora", "merge_lora")
SUITE = Suite("a11_lora")
check = SUITE.check
HELPERS = "a11_helpers"

SNAPSHOTS = [SnapshotCase("lora_layer", LAYER, {"x": (2, 3, 5)}, init={"in_dim": 5, "out_dim": 4, "rank": 3, "alpha": 6},
                          seed=1)]
register_snapshots(SUITE, SNAPSHOTS, hints=lambda case, inputs, w: LORA(x=inputs["x"], A=w["A"], B=w["B"], alpha=6, rank=3),
                   describe=lambda case: "LoRALayer: matches stored reference outputs for fixed A, B (nonzero) and x")


def lora_weights(fin: int, fout: int, rank: int, bias: bool, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights of a LinearWithLoRA, B nonzero (a trained adapter), by the curriculum's names: float64
    values that float32 holds exactly, so the exact answer for a float32 layer is computed in float64."""
    shapes = {"linear.weight": (fout, fin), "lora.A": (fin, rank), "lora.B": (rank, fout), **(
        {"linear.bias": (fout,)} if bias else {})}
    return {k: sg.make_tensor(s, seed + i, scale=0.5, dtype=torch.float32).double() for i, (k, s) in enumerate(shapes.items())}


def wrapped(ctx: Context, fin: int, fout: int, rank: int, alpha: float, *, bias: bool = True,
            dtype: torch.dtype = torch.float32, weights: dict[str, torch.Tensor] | None = None,
            linear: dict[str, torch.Tensor] | None = None) -> Any:
    """The learner's LinearWithLoRA around a runtime nn.Linear(fin, fout) of `dtype` (loaded with `linear`),
    all of it then loaded with `weights`."""
    lin = ctx.p.call(ctx.p.runtime(HELPERS), fin, fout, bias, dtype, method="linear", learner=False)
    if linear is not None:
        ctx.p.load(lin, linear)
    return ctx.module(WRAP, [lin, rank, alpha], dtype=None, weights=weights, train=None)


def toy_names() -> tuple[list[str], list[str]]:
    """AdapterToy's Linear layers and its other parameters, by qualified name."""
    toy = AdapterToy()
    linears = [n for n, m in toy.named_modules() if isinstance(m, torch.nn.Linear)]
    others = [n for n, _ in toy.named_parameters() if not any(n.startswith(f"{ln}.") for ln in linears)]
    return linears, others


@check(points=2, visibility="public", kind="property", targets=(LAYER,),
       description="LoRALayer(256, 5, rank=8): B is zeros (8, 5); A (256, 8) is uniform on a symmetric interval "
                   "within the Kaiming bounds (a goodness-of-fit test)")
def lora_init_distribution(ctx: Context) -> None:
    # A derandomized bound-free KS test (autograder.properties.symmetric_uniform_problem, level 1e-3) on
    # n = 2048 entries: one seeded draw, the same for every submission, on which the solution and the
    # reference pass. Measured by tests/test_a11_lora.py (1000 draws): false alarms 0.000 for Kaiming-uniform
    # inits of any gain (a = sqrt(5), a = 0, fan = in_dim); power 1.000 against normal (same std), randn and
    # rand(0, 1). A correct init that draws its numbers differently passes with probability ~0.999.
    ctx.example(config={"in_dim": 256, "out_dim": 5, "rank": 8, "alpha": 16, "seed": 0})
    (state,) = ctx.fetch(ctx.p.state(ctx.module(LAYER, {"in_dim": 256, "out_dim": 5, "rank": 8, "alpha": 16},
                                                dtype=None, seed=0)))
    A, B = ctx.expect_tensor(state.get("A"), torch.zeros(256, 8), "LoRALayer.A"), state.get("B")
    ctx.expect_close(B, torch.zeros(8, 5, dtype=A.dtype), name="LoRALayer.B at initialisation (zeros: the update "
                                                                "starts as a no-op)", tol=FLOAT64)
    problem = symmetric_uniform_problem(A, math.sqrt(6 / 8))
    if problem:
        raise CheckFailure(f"LoRALayer.A at initialisation: {problem}; expected nn.init.kaiming_uniform_(A, "
                           f"a=math.sqrt(5)), i.e. U(-1/sqrt(rank), 1/sqrt(rank))")


@check(points=2, visibility="public", kind="property", targets=(WRAP, LAYER),
       description="LinearWithLoRA: equals the wrapped layer at initialisation, and linear(x) + (alpha / rank) "
                   "x A B once A and B are loaded")
def identity_at_init(ctx: Context) -> None:
    x = sg.make_tensor((2, 3, 6), 1, dtype=torch.float32)
    w = lora_weights(6, 4, 2, True, seed=2)
    ctx.example(shapes={"x": [2, 3, 6]}, config={"in": 6, "out": 4, "rank": 2, "alpha": 4})
    fresh = wrapped(ctx, 6, 4, 2, 4, linear={k[7:]: v for k, v in w.items() if k.startswith("linear.")})
    loaded, at_init = ctx.fetch(ctx.call(wrapped(ctx, 6, 4, 2, 4, weights=w), x), ctx.call(fresh, x))
    x64 = x.double()
    plain = torch.nn.functional.linear(x64, w["linear.weight"], w["linear.bias"])
    ctx.expect_close(loaded, (plain + 2 * (x64 @ w["lora.A"] @ w["lora.B"])).float(),
                     tol=FLOAT32, name="output of LinearWithLoRA(rank=2, alpha=4) with A, B loaded",
                     hints=WRAPPED(x=x64, w=w, scale=2.0))
    ctx.expect_close(at_init, plain.float(), tol=FLOAT32,
                     name="output of a new LinearWithLoRA compared with the wrapped layer's (B starts at zero, so "
                          "the model computes what it did before)")


@check(points=1, visibility="public", kind="integrity", targets=(WRAP, LAYER),
       description="LinearWithLoRA around a float64 nn.Linear: float64 A and B, float64 output, and merge_lora "
                   "gives a float64 nn.Linear (the contract's addition: the book's LoRALayer stays float32)")
def lora_float64(ctx: Context) -> None:
    x = sg.make_tensor((3, 5), 3)
    ctx.example(shapes={"x": [3, 5]}, config={"in": 5, "out": 2, "rank": 2, "dtype": "float64"})
    m = wrapped(ctx, 5, 2, 2, 2, dtype=torch.float64)
    merged = ctx.call(MERGE_FN, m, catch=True)
    state, out, merged = ctx.fetch(ctx.p.state(m), ctx.call(m, x, catch=True), ctx.p.state(merged))
    for name in ("lora.A", "lora.B"):
        if not isinstance(state.get(name), torch.Tensor) or state[name].dtype != torch.float64:
            raise CheckFailure(f"LinearWithLoRA.{name} around a float64 nn.Linear: "
                               f"{getattr(state.get(name), 'dtype', state.get(name))}, expected float64 (move "
                               f"the LoRALayer to linear.weight's dtype and device)")
    ctx.expect_tensor(out, torch.zeros(3, 2), "output of LinearWithLoRA")
    if isinstance(merged, dict) and getattr(merged.get("weight"), "dtype", None) != torch.float64:
        raise CheckFailure(f"merge_lora of a float64 LinearWithLoRA: a {getattr(merged.get('weight'), 'dtype', None)} "
                           f"weight, expected float64 (build the new nn.Linear with dtype=linear.weight.dtype)")


def adapted_toy(ctx: Context, *steps: str) -> tuple[Any, Any, Any]:
    """AdapterToy (seeded, float32), its output on fixed ids, then `steps` (learner functions) applied to it."""
    p = ctx.p
    p.seed(0)
    toy = p.call(p.runtime(HELPERS), method="AdapterToy", learner=False)
    idx = torch.tensor([[1, 4, 0, 6], [3, 3, 5, 2]])
    before = p.call(toy, idx, no_grad=True, learner=False)
    for step in steps:
        ctx.call(step, toy, *((2, 4.0) if step == REPLACE else ()))
    return toy, idx, before


@check(points=2, visibility="public", kind="property", targets=(REPLACE, WRAP, LAYER),
       description="replace_linear_with_lora: every nn.Linear at any depth (inside nn.Sequential, nn.ModuleList, "
                   "nested modules, and out_head) becomes a LinearWithLoRA; the model's output is unchanged")
def replace_all_depths(ctx: Context) -> None:
    linears, others = toy_names()
    ctx.example(config={"model": "AdapterToy", "Linear layers": linears, "rank": 2, "alpha": 4})
    toy, idx, before = adapted_toy(ctx, REPLACE)
    params, before, after = ctx.fetch(ctx.p.params(toy), before, ctx.p.call(toy, idx, no_grad=True))
    missed = [n for n in linears if f"{n}.lora.A" not in params or f"{n}.lora.B" not in params]
    if missed:
        raise CheckFailure(f"after replace_linear_with_lora, these nn.Linear layers were not wrapped: "
                           f"{', '.join(missed)} (recurse into every child module, and wrap out_head too); "
                           f"the model's parameters: {sorted(params)[:12]}")
    ctx.expect_close(after, before, tol=FLOAT32, name="output of the adapted model compared with before the "
                                                      "replacement (B starts at zero)")


@check(points=2, visibility="public", kind="property", targets=(FREEZE, REPLACE, WRAP, LAYER),
       description="freeze_except_lora after replace_linear_with_lora: only the LoRA A and B require grad "
                   "(wrapped weights, biases, embeddings and other parameters are frozen)")
def freeze_except_lora(ctx: Context) -> None:
    linears, others = toy_names()
    ctx.example(config={"model": "AdapterToy", "Linear layers": linears})
    toy, _, _ = adapted_toy(ctx, REPLACE, FREEZE)
    (got,) = ctx.fetch(ctx.p.trainable(toy))
    expect_trainable(got, "the adapted model", trainable=tuple(f"{n}.lora." for n in linears),
                     frozen=(*(f"{n}.linear." for n in linears), *others))


@check(points=1, visibility="public", kind="property", targets=(FREEZE, REPLACE, WRAP, LAYER),
       description="one SGD step on the adapted, frozen model changes B (A's gradient is zero while B is) and "
                   "nothing outside the LoRA matrices")
def finetune_step_changes_only_lora(ctx: Context) -> None:
    linears, _ = toy_names()
    toy, idx, _ = adapted_toy(ctx, REPLACE, FREEZE)
    ctx.example(config={"model": "AdapterToy", "optimizer": "SGD(lr=0.1) on the parameters that require grad"})
    start = ctx.p.state(toy)
    ctx.p.call(ctx.p.runtime(HELPERS), toy, idx, method="sgd_step", learner=False)
    start, end = ctx.fetch(start, ctx.p.state(toy))
    moved = sorted(k for k in start if not torch.equal(start[k], end.get(k, start[k])))
    wrong = [k for k in moved if ".lora." not in k]
    if wrong:
        raise CheckFailure(f"one fine-tuning step changed {', '.join(wrong[:6])}: only the LoRA matrices may "
                           f"train (freeze everything else)")
    if not any(k.endswith("lora.B") for k in moved):
        raise CheckFailure("one fine-tuning step changed no LoRA matrix B: the LoRA parameters do not train "
                           "(frozen, or not registered as parameters)")


def merge_check(ctx: Context, w: dict[str, torch.Tensor], rank: int, alpha: float, want: dict[str, torch.Tensor]) -> None:
    """merge_lora of a LinearWithLoRA loaded with `w`: a new nn.Linear whose state is `want`; the input untouched."""
    (fout, fin), bias = w["linear.weight"].shape, "linear.bias" in w
    ctx.example(config={"in": fin, "out": fout, "rank": rank, "alpha": alpha, "bias": bias, "dtype": "float32"})
    layer = wrapped(ctx, fin, fout, rank, alpha, bias=bias, weights=w)  # float32
    merged = ctx.call(MERGE_FN, layer)
    inner = ctx.p.get(layer, "linear")
    kind, state, after, same = ctx.fetch(ctx.p.get(merged, "__class__.__name__", catch=True), ctx.p.state(merged),
                                         ctx.p.state(layer), ctx.p.call(ctx.p.runtime(HELPERS), merged, inner,
                                                                        method="same", learner=False))
    if kind != "Linear" or set(state) != set(want):
        raise CheckFailure(f"merge_lora returned a {kind} with {sorted(state) if isinstance(state, dict) else state}, "
                           f"expected an nn.Linear with {sorted(want)} (keep the wrapped layer's bias)")
    for k in want:
        ctx.expect_close(state[k], want[k].float(), tol=FLOAT32, name=f"{k} of the merged layer (in={fin}, out={fout}, "
                         f"rank={rank}, alpha={alpha:g})", hints=MERGE(w=w, scale=alpha / rank) if k == "weight" else None)
    for k, v in w.items():
        ctx.expect_close(after.get(k), v.float(), tol=FLOAT64, name=f"the LinearWithLoRA's {k} after merge_lora (it must be "
                                                             f"left untouched: build a new nn.Linear)")
    if same:
        raise CheckFailure("merge_lora returned the wrapped nn.Linear itself: return a new layer")


@check(points=2, visibility="public", kind="property", targets=(MERGE_FN, WRAP, LAYER),
       description="merge_lora: a new nn.Linear with weight W + (alpha / rank) (A B)^T and the same bias, "
                   "square and rectangular, with and without bias; the LinearWithLoRA is left untouched")
def merge_lora_weights(ctx: Context) -> None:
    for fin, fout, rank, alpha, bias in ((4, 4, 2, 6.0, True), (5, 3, 3, 1.5, False)):
        w = lora_weights(fin, fout, rank, bias, 10 + fin)
        want = {"weight": w["linear.weight"] + alpha / rank * (w["lora.A"] @ w["lora.B"]).T,
                **({"bias": w["linear.bias"]} if bias else {})}
        merge_check(ctx, w, rank, alpha, want)


@check(points=1, visibility="public", kind="property", targets=(MERGE_FN,),
       description="merge_lora: TypeError for a plain nn.Linear, naming its type")
def merge_type_error(ctx: Context) -> None:
    ctx.example(config={"layer": "nn.Linear(3, 2)"})
    lin = ctx.p.call(ctx.p.runtime(HELPERS), 3, 2, method="linear", learner=False)
    (got,) = ctx.fetch(ctx.call(MERGE_FN, lin, catch=True))
    ctx.expect_raises(got, "merge_lora(nn.Linear(3, 2))", ("TypeError",), mention=("Linear",))
