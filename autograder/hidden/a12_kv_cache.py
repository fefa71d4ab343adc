"""Hidden checks for a12_kv_cache: differential against reference/a05_gpt_model.py and reference/a12_kv_cache.py."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

import reference.a05_gpt_model as ref05
import reference.a12_kv_cache as ref
from autograder import strategies as sg
from autograder.differential import compare_module, random_weights
from autograder.kit import Context
from autograder.suites.a12_kv_cache import A04_FLOAT64, GEN, MODEL, SUITE, TARGETS, gpt_cfg, ids, record

check = SUITE.check


def greedy_with_logits(m: torch.nn.Module, idx: torch.Tensor, new: int, size: int) -> tuple[torch.Tensor, list]:
    """a05's generate_text_simple, also returning the last row of logits each step used."""
    rows = []
    with torch.no_grad():
        for _ in range(new):
            logits = m(idx[:, -size:])[:, -1]  # (B, V)
            rows.append(logits)
            idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx, rows


@check(points=4, visibility="hidden", kind="differential", targets=(MODEL, GEN), max_examples=6,
       description="generate_text_simple_cached: the ids and every step's logits equal a05's generate_text_simple "
                   "(past context_length, with context_size None or smaller, prompts longer than the window)")
def generate_equals_a05(ctx: Context) -> None:
    @ctx.given(data=st.data(), seed=st.integers(0, 2**16))
    def _(data: st.DataObject, seed: int) -> None:
        cfg = gpt_cfg(data, min_context=3)
        C = cfg["context_length"]
        cs = data.draw(st.sampled_from([None, C, C - 1]), label="context_size")
        T = data.draw(st.sampled_from([1, 2, C, C + 2]), label="prompt length")
        new = data.draw(st.integers(1, C + 3), label="new")
        base = ref05.GPTModel(cfg).double().eval()
        random_weights(base, seed)
        x = ids((2, T), cfg["vocab_size"], seed + 1)
        want, logits = greedy_with_logits(base, x, new, cs or C)
        ctx.example(shapes={"idx": [2, T]}, config={**cfg, "max_new_tokens": new, "context_size": cs})
        m = ctx.module(MODEL, [cfg], weights=dict(base.state_dict()))
        rec = record(ctx, m, cfg["n_layers"], last_row=True)
        got, rows = ctx.fetch(ctx.call(GEN, m, x, new, context_size=cs), ctx.p.get(rec, "last_rows"))
        for i, (g, w) in enumerate(zip(rows, logits)):
            ctx.expect_close(g, w, tol=A04_FLOAT64, name=f"last-position logits of model call {i + 1} (the logits "
                                                          f"new token {i + 1} is chosen from), compared with a05's")
        ctx.expect_close(got, want, tol=A04_FLOAT64, name="ids returned, compared with a05's generate_text_simple")


@check(points=2, visibility="hidden", kind="differential", targets=TARGETS, max_examples=4,
       description="GPTModelCached without the cache: logits and every parameter gradient match the reference "
                   "(float64)")
def matches_reference_gradients(ctx: Context) -> None:
    @ctx.given(cfg=sg.gpt_configs(max_layers=2), seed=st.integers(0, 2**16))
    def _(cfg: dict[str, Any], seed: int) -> None:
        c = cfg["cfg"]
        module = ref.GPTModelCached(c).double().eval()
        random_weights(module, seed)
        x = ids((cfg["B"], cfg["T"]), c["vocab_size"], seed + 1)
        ctx.example(shapes={"in_idx": list(x.shape)}, config=c)
        compare_module(ctx, module, MODEL, {"in_idx": x}, init={"cfg": c}, tol=A04_FLOAT64, seed=seed + 2,
                       dtype=torch.float64)
