"""Hidden checks for a08_decoding: differential against reference/a08_decoding.py, with hints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from hypothesis import strategies as st

import reference.a08_decoding as ref
from autograder import strategies as sg
from autograder.checks import Context
from autograder.compare import FLOAT64, CheckFailure
from autograder.differential import compare_module, matching_variant
from autograder.runtime.toys import TableLM
from autograder.suites.a08_decoding import (
    GENERATE,
    GENERATE_TARGETS,
    HINT_DIM0,
    HINT_GLOBAL_K,
    HINT_K_MINUS_1,
    HINT_K_PLUS_1,
    HINT_NO_T,
    HINT_TIES,
    HINT_TIMES_T,
    HINT_ZERO_FILL,
    SOFTMAX_T,
    SUITE,
    TOP_K,
    assert_tokens,
    greedy_hint,
    prompts,
    table_lm,
)

check = SUITE.check


def softmax_variants(x: torch.Tensor, T: float) -> dict[str, Callable[[], torch.Tensor]]:
    """Outputs of known softmax_with_temperature misconceptions, keyed by the hint a learner should read."""
    variants = {
        f"your output {HINT_TIMES_T}": lambda: torch.softmax(x * T, -1),
        f"your output {HINT_NO_T}": lambda: torch.softmax(x, -1),
        "your output matches softmax(logits / T) divided by T again: divide the logits, not the probabilities":
            lambda: torch.softmax(x / T, -1) / T,
        "your output matches exp(logits / T) without dividing by the row sum": lambda: torch.exp(x / T),
    }
    if x.dim() > 1:
        variants[f"your output {HINT_DIM0}"] = lambda: torch.softmax(x / T, 0)
    return variants


def _kth(x: torch.Tensor, k: int) -> torch.Tensor:
    return x.sort(dim=-1, descending=True).values[..., k - 1:k]


def top_k_variants(x: torch.Tensor, k: int) -> dict[str, Callable[[], torch.Tensor]]:
    V, inf = x.shape[-1], float("-inf")
    kk = min(k, V)
    variants: dict[str, Callable[[], torch.Tensor]] = {
        HINT_ZERO_FILL: lambda: x.masked_fill(x < _kth(x, kk), 0.0),
        f"your output {HINT_GLOBAL_K}": lambda: x.masked_fill(x < x.flatten().sort(descending=True).values[kk - 1],
                                                              inf),
        f"your output {HINT_K_MINUS_1}": lambda: x.masked_fill(x <= _kth(x, kk), inf),
    }
    if kk < V:
        variants[f"your output {HINT_K_PLUS_1}"] = lambda: x.masked_fill(x < _kth(x, kk + 1), inf)
    return variants


def _top_k_hint(x: torch.Tensor, k: int) -> Callable[[torch.Tensor], str | None]:
    def hint(got: torch.Tensor) -> str | None:
        with torch.no_grad():
            text = matching_variant(got, top_k_variants(x, k), FLOAT64)
        if text is None and got.shape == x.shape:
            want = ref.top_k_filter(x, k)
            exactly_k = (torch.isfinite(got).sum(-1) == min(k, x.shape[-1])).all()
            if exactly_k and (torch.isfinite(want).sum(-1) > min(k, x.shape[-1])).any():
                return HINT_TIES
        return text
    return hint


@check(points=3, visibility="hidden", kind="differential", targets=(SOFTMAX_T,), max_examples=15,
       description="softmax_with_temperature: values and gradient match the reference (float64), for large "
                   "logits and with -inf entries")
def softmax_with_temperature_matches_reference(ctx: Context) -> None:
    @ctx.given(lead=st.lists(st.integers(1, 4), max_size=2).map(tuple), V=st.integers(1, 8), seed=st.integers(0, 2**16),
               temperature=st.sampled_from([0.3, 0.7, 1.6, 4.0, 1.0]), scale=st.sampled_from([1.0, 10.0, 200.0]),
               with_inf=st.booleans())
    def _(lead: tuple[int, ...], V: int, seed: int, temperature: float, scale: float, with_inf: bool) -> None:
        x = sg.make_tensor((*lead, V), seed, scale=scale)
        if with_inf and V > 1:  # what top_k_filter hands over: some -inf, never a whole row
            drop = sg.make_tensor(x.shape, seed + 1) > 0.5
            drop &= x < x.amax(-1, keepdim=True)
            x = x.masked_fill(drop, float("-inf"))
        ctx.example(shapes={"logits": list(x.shape)},
                    config={"temperature": temperature, "scale": scale, "-inf entries": with_inf})
        compare_module(ctx, ref.softmax_with_temperature, SOFTMAX_T, {"logits": x},
                       kwargs={"temperature": temperature},
                       hint=lambda got: matching_variant(got, softmax_variants(x, temperature), FLOAT64))


@check(points=3, visibility="hidden", kind="differential", targets=(TOP_K,), max_examples=15,
       description="top_k_filter: matches the reference for any leading dims, ties, and top_k up to V + 2")
def top_k_filter_matches_reference(ctx: Context) -> None:
    @ctx.given(lead=sg.shapes(min_dims=1, max_dims=3, max_side=4), V=st.integers(1, 10), data=st.data(),
               seed=st.integers(0, 2**16), distribution=st.sampled_from(["ints", "normal"]))
    def _(lead: tuple[int, ...], V: int, data: st.DataObject, seed: int, distribution: str) -> None:
        k = data.draw(st.integers(1, V + 2), label="top_k")
        x = sg.make_tensor((*lead, V), seed, distribution=distribution)
        ctx.example(shapes={"logits": list(x.shape)}, config={"top_k": k, "values": distribution})
        compare_module(ctx, ref.top_k_filter, TOP_K, {"logits": x}, kwargs={"top_k": k}, grads=False,
                       hint=_top_k_hint(x, k))


@st.composite
def _generate_cases(draw: st.DrawFn) -> dict[str, Any]:
    V = draw(st.integers(2, 10))
    return {"B": draw(st.integers(1, 4)), "T": draw(st.integers(1, 5)), "V": V, "n": draw(st.integers(0, 7)),
            "context_size": draw(st.integers(1, 6)), "eos_id": draw(st.none() | st.integers(0, V - 1)),
            "top_k": draw(st.none() | st.integers(1, V + 1))}


@check(points=3, visibility="hidden", kind="differential", targets=GENERATE_TARGETS, max_examples=12,
       description="generate (greedy): tokens and the contexts the model saw match the reference, with eos_id, "
                   "top_k and a model that rejects contexts longer than context_size")
def generate_matches_reference(ctx: Context) -> None:
    @ctx.given(case=_generate_cases(), seed=st.integers(0, 2**16))
    def _(case: dict[str, Any], seed: int) -> None:
        V, n, c, eos = case["V"], case["n"], case["context_size"], case["eos_id"]
        table, idx = sg.make_tensor((V, V), seed), prompts(case["B"], case["T"], V, seed + 1)
        ctx.example(shapes={"idx": list(idx.shape), "table": [V, V]},
                    config={"max_new_tokens": n, "context_size": c, "eos_id": eos, "top_k": case["top_k"]})
        model = TableLM(table, max_len=c)
        want = ref.generate(model, idx, n, c, top_k=case["top_k"], eos_id=eos)
        p = ctx.program()
        learner_model = table_lm(p, table, max_len=c)
        out = p.call(GENERATE, learner_model, idx, n, c, top_k=case["top_k"], eos_id=eos)
        res = ctx.run(p.returns(out=out, seen=p.get(learner_model, "seen_lengths")))
        # with top_k, a broken top_k_filter can mimic a greedy mistake: no greedy hint then
        hint = greedy_hint(table, idx, n, c, eos) if case["top_k"] is None else None
        assert_tokens(res["out"], want, "output of generate", hint)
        if res["seen"] != model.seen_lengths:
            raise CheckFailure(f"generate: the model saw contexts of lengths {res['seen']}, expected "
                               f"{model.seen_lengths}")
