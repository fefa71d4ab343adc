"""Public checks for a12_kv_cache: properties of the learner's own model, no reference needed.

Every check compares the learner's cached model with itself: a cached forward in chunks must give the
rows of one uncached forward, an uncached call must leave the cache alone, a second prompt must
generate what a fresh model generates. How much work a cached step does is measured, never timed:
forward hooks (autograder/runtime/probes.py) record how many positions each model call sends through
every attention layer.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.kit import FLOAT64, CheckFailure, Context, Raised, Suite, Tolerance
from autograder.program import Ref
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots

MODEL, GEN = "GPTModelCached", "generate_text_simple_cached"
SUITE = Suite("a12_kv_cache")
check = SUITE.check
TARGETS = (MODEL,)
# The learner's own a04 runs inside: its GELU written the book's way (sqrt(2/pi) as a float32 tensor)
# moves a04's outputs by up to 6e-7 relative (measured for a04's GELU_FLOAT64); logits likewise.
A04_FLOAT64 = Tolerance(rtol=2e-6, atol=2e-7)
SNAPSHOTS = [SnapshotCase("gpt_uncached", MODEL, {"in_idx": (2, 5)}, seed=3, ids_below=7, init={"cfg": {
    "vocab_size": 7, "context_length": 6, "emb_dim": 6, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
    "qkv_bias": True}})]
register_snapshots(SUITE, SNAPSHOTS, tol=A04_FLOAT64, describe=lambda case: f"{MODEL} without the cache: matches "
                   f"stored reference logits for fixed weights and ids (a05's GPTModel with a03's attention)")


def gpt_cfg(data: st.DataObject, *, min_context: int = 2) -> dict[str, Any]:
    """A model cfg (the curriculum's keys) with context_length >= min_context, drop_rate 0."""
    cfg = data.draw(sg.gpt_configs(max_layers=2, max_tokens=6), label="cfg")["cfg"]
    return {**cfg, "context_length": max(cfg["context_length"], min_context)}


def ids(shape: tuple[int, ...], vocab_size: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))


def model(ctx: Context, cfg: dict[str, Any], seed: int) -> Ref:
    """The learner's GPTModelCached with its own seeded init, float64, eval mode."""
    return ctx.module(MODEL, [cfg], seed=seed)


def expected_rows(T: int, new: int, size: int) -> list[int]:
    """Positions per model call of the contract's loop: prefill, then 1 per step, the whole window once full."""
    rows, held = [min(T, size)], min(T, size)
    for _ in range(new - 1):
        rows.append(size if held == size else 1)
        held = min(held + 1, size)
    return rows if new else []


def rows_per_call(calls: list[list[Any]], n_layers: int, what: str) -> list[int]:
    """From a CallRecorder's calls (the model "", then each layer's attention): positions per model call."""
    rows: list[int] = []
    layers: list[int] = []
    for name, shape in [*calls, ["", None]]:
        if name == "":
            if rows and layers != [rows[-1]] * n_layers:
                raise CheckFailure(f"{what}: a model call sent {rows[-1]} positions, but its {n_layers} attention "
                                   f"layers received {layers}: every layer should see the same new positions")
            if shape is not None:
                rows.append(shape[1])
            layers = []
        else:
            layers.append(shape[1] if shape else -1)
    return rows


def record(ctx: Context, m: Ref, n_layers: int, *, last_row: bool = False) -> Ref:
    """Hooks on the model and every block's attention (see autograder/runtime/probes.py)."""
    names = ["", *(f"trf_blocks.{i}.att" for i in range(n_layers))]
    return ctx.p.call(ctx.p.runtime("probes"), m, names, [""] if last_row else [], method="record_calls",
                      learner=False)


@check(points=1, visibility="public", kind="property", targets=TARGETS,
       description="GPTModelCached: after a cached forward its state dict has exactly a05 GPTModel's keys "
                   "(the cache is not state) and loads into a fresh model")
def state_dict_interchangeable(ctx: Context) -> None:
    cfg = {"vocab_size": 7, "context_length": 5, "emb_dim": 4, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
           "qkv_bias": True}
    ctx.example(config=cfg)
    m = model(ctx, cfg, 0)
    ctx.call(m, ids((1, 3), 7, 0), use_cache=True)
    state = ctx.call(m, method="state_dict", label=MODEL)
    state, loaded = ctx.fetch(state, ctx.call(model(ctx, cfg, 1), state, method="load_state_dict", label=MODEL,
                                              catch=True))
    keys = sorted(state) if isinstance(state, dict) else state
    block = [f"{p}.{k}" for p in ("att.W_query", "att.W_key", "att.W_value", "att.out_proj", "ff.layers.0",
                                  "ff.layers.2") for k in ("weight", "bias")]
    block += [f"norm{i}.{k}" for i in (1, 2) for k in ("scale", "shift")]
    want = sorted(["tok_emb.weight", "pos_emb.weight", "final_norm.scale", "final_norm.shift", "out_head.weight",
                   *(f"trf_blocks.{i}.{k}" for i in range(2) for k in block)])
    if keys != want:
        raise CheckFailure(f"state_dict() of GPTModelCached after a cached forward: unexpected keys "
                           f"{sorted(set(keys) - set(want))[:4]}, missing {sorted(set(want) - set(keys))[:4]} (a05 "
                           f"GPTModel's names; the cache must not be state: a plain attribute or a non-persistent "
                           f"buffer)")
    if isinstance(loaded, Raised):
        raise CheckFailure(f"loading that state dict into a fresh GPTModelCached failed: {loaded}")


@check(points=4, visibility="public", kind="property", targets=TARGETS, max_examples=6,
       description="GPTModelCached: feeding a sequence in chunks with use_cache=True (one token or several at a "
                   "time, batches too) gives the rows of one uncached forward of the whole sequence")
def cached_equals_uncached(ctx: Context) -> None:
    @ctx.given(data=st.data(), seed=sg.seeds())
    def _(data: st.DataObject, seed: int) -> None:
        cfg = gpt_cfg(data, min_context=3)
        C, B = cfg["context_length"], data.draw(st.integers(1, 2), label="B")
        sizes = data.draw(st.lists(st.integers(1, 3), min_size=2, max_size=C), label="chunk sizes")
        cuts = [0]
        for s in sizes:
            cuts.append(min(C, cuts[-1] + s))
        cuts = sorted(set(cuts))
        x = ids((B, C), cfg["vocab_size"], seed)
        ctx.example(shapes={"in_idx": [B, C]}, config={**cfg, "chunks": [[a, b] for a, b in zip(cuts, cuts[1:])]},
                    values={"in_idx": x})
        m = model(ctx, cfg, seed % 1000)
        full = ctx.call(m, x)
        ctx.call(m, method="reset_kv_cache", label=MODEL)
        parts = [ctx.call(m, x[:, a:b], use_cache=True) for a, b in zip(cuts, cuts[1:])]
        full, *parts = ctx.fetch(full, *parts)
        full = ctx.expect_tensor(full, torch.zeros(B, C, cfg["vocab_size"]), "logits of the uncached forward")
        for (a, b), got in zip(zip(cuts, cuts[1:]), parts):
            ctx.expect_close(got, full[:, a:b], tol=FLOAT64,
                             name=f"logits of the cached forward of in_idx[:, {a}:{b}] after {a} cached positions, "
                                  f"compared with rows {a}..{b - 1} of one uncached forward (positions continue "
                                  f"after the cached ones; the mask's rows are those positions)")


UNCACHED_HINT = "a forward without use_cache must neither read nor write the cache (nor move current_pos)"
RESET_HINT = "reset every layer's cache and current_pos before the prefill (model.reset_kv_cache())"
WINDOW_HINT = ("each model call may hold at most context_size positions: prefill idx[:, -context_size:], and once "
               "context_size tokens are cached, reset before prefilling again")


@check(points=1, visibility="public", kind="property", targets=TARGETS, max_examples=5,
       description="GPTModelCached: a forward without use_cache between cached ones neither reads nor writes the "
                   "cache")
def uncached_call_leaves_cache(ctx: Context) -> None:
    @ctx.given(data=st.data(), seed=sg.seeds())
    def _(data: st.DataObject, seed: int) -> None:
        cfg = gpt_cfg(data, min_context=3)
        C = cfg["context_length"]
        a = data.draw(st.integers(1, C - 1), label="prefill")
        x = ids((1, C), cfg["vocab_size"], seed)
        ctx.example(shapes={"in_idx": [1, C]}, config={**cfg, "prefill": a}, values={"in_idx": x})
        m = model(ctx, cfg, seed % 1000)
        ctx.call(m, x[:, :a], use_cache=True)
        full = ctx.call(m, x)  # the uncached call in between, on the whole sequence
        full, step = ctx.fetch(full, ctx.call(m, x[:, a:a + 1], use_cache=True, catch=True))
        if isinstance(step, Raised):
            raise CheckFailure(f"the cached step at position {a}, after a prefill of {a} positions and an uncached "
                               f"call: your code raised {step}", raised=step, hint=UNCACHED_HINT)
        ctx.expect_close(step, ctx.expect_tensor(full, torch.zeros(1, C, cfg["vocab_size"]), "logits")[:, a:a + 1],
                         tol=FLOAT64, name=f"logits of the cached step at position {a}, after a prefill of {a} "
                                           f"positions and then an uncached call, compared with that call's row {a} "
                                           f"({UNCACHED_HINT})")


@check(points=2, visibility="public", kind="property", targets=(MODEL, GEN), max_examples=5,
       description="generate_text_simple_cached: a second prompt generates what a fresh model generates (the "
                   "cache and its position are reset)")
def generate_two_prompts(ctx: Context) -> None:
    @ctx.given(data=st.data(), seed=sg.seeds())
    def _(data: st.DataObject, seed: int) -> None:
        cfg = gpt_cfg(data, min_context=4)
        V, C = cfg["vocab_size"], cfg["context_length"]
        first, second = ids((1, C - 1), V, seed), ids((1, 2), V, seed + 1)
        ctx.example(shapes={"first": [1, C - 1], "second": [1, 2]}, config=cfg, values={"first": first, "second": second})
        m = model(ctx, cfg, seed % 1000)
        fresh = ctx.call(GEN, model(ctx, cfg, seed % 1000), second, 3)
        ctx.call(GEN, m, first, 1)
        fresh, again = ctx.fetch(fresh, ctx.call(GEN, m, second, 3, catch=True))
        if isinstance(again, Raised):
            raise CheckFailure(f"generating for a second prompt after a first one: your code raised {again}",
                               raised=again, hint=RESET_HINT)
        ctx.expect_close(again, fresh, tol=FLOAT64, name=f"ids generated for a second prompt, compared with a fresh "
                                                         f"model's ({RESET_HINT})")


@check(points=3, visibility="public", kind="property", targets=(MODEL, GEN), max_examples=5,
       description="generate_text_simple_cached: after the prefill each step sends one position through every "
                   "layer; once the window is full, the last context_size tokens are prefilled again (counted "
                   "with forward hooks, not timed)")
def one_row_per_cached_step(ctx: Context) -> None:
    @ctx.given(data=st.data(), seed=sg.seeds())
    def _(data: st.DataObject, seed: int) -> None:
        cfg = gpt_cfg(data, min_context=3)
        C, L = cfg["context_length"], cfg["n_layers"]
        cs = data.draw(st.sampled_from([None, C, C - 1]), label="context_size")
        T = data.draw(st.sampled_from([1, 2, C, C + 2]), label="prompt length")
        new = data.draw(st.integers(2, C + 3), label="new")
        x = ids((1, T), cfg["vocab_size"], seed)
        ctx.example(shapes={"idx": [1, T]}, config={**cfg, "max_new_tokens": new, "context_size": cs})
        m = model(ctx, cfg, seed % 1000)
        rec = record(ctx, m, L)
        out, calls = ctx.fetch(ctx.call(GEN, m, x, new, context_size=cs, catch=True), ctx.p.get(rec, "calls"))
        size = cs or C
        what = f"generate_text_simple_cached(prompt of {T}, max_new_tokens={new}, context_size={cs})"
        if isinstance(out, Raised):
            raise CheckFailure(f"{what}: your code raised {out}", raised=out,
                               hint=WINDOW_HINT if out.type == "ValueError" else None)
        rows, want = rows_per_call(calls, L, what), expected_rows(T, new, size)
        if rows not in (want, want + [1], want + [size]):  # the book's loop makes one more call after the last token
            raise CheckFailure(f"{what}: positions sent through the model per call were {rows}, expected {want} "
                               f"(prefill min(T, context_size), then 1 per step from the cache; once context_size "
                               f"tokens are cached, reset and prefill the last context_size tokens)")


@check(points=1, visibility="public", kind="property", targets=TARGETS,
       description="GPTModelCached: a cached forward past context_length raises ValueError")
def cached_past_context_errors(ctx: Context) -> None:
    cfg = {"vocab_size": 7, "context_length": 4, "emb_dim": 4, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    ctx.example(config=cfg, shapes={"cached": [1, 3], "then": [1, 2]})
    m = model(ctx, cfg, 0)
    ctx.call(m, ids((1, 3), 7, 0), use_cache=True)
    (past,) = ctx.fetch(ctx.call(m, ids((1, 2), 7, 1), use_cache=True, catch=True))
    ctx.expect_raises(past, "GPTModelCached(context_length=4): a cached forward of 2 tokens after 3 cached",
                      mention=("4",))
