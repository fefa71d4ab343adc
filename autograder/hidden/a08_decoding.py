"""Hidden checks for a08_decoding: differential against reference/a08_decoding.py, with hints."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import reference.a08_decoding as ref
from autograder import strategies as sg
from autograder.kit import Context, compare_module, given
from autograder.mistakes.a08_decoding import GREEDY_MISTAKES, SOFTMAX_T_MISTAKES, TOP_K_MISTAKES
from autograder.runtime.toys import TableLM
from autograder.suites.a08_decoding import GENERATE, GENERATE_TARGETS, SOFTMAX_T, SUITE, TOP_K, expect_tokens

check = SUITE.check


@check(points=3, visibility="hidden", kind="differential", targets=(SOFTMAX_T,), max_examples=15,
       description="softmax_with_temperature: values and gradient match the reference (float64), for large "
                   "logits and with -inf entries")
@given(lead=st.lists(st.integers(1, 4), max_size=2).map(tuple), V=st.integers(1, 8), seed=st.integers(0, 2**16),
       temperature=st.sampled_from([0.3, 0.7, 1.6, 4.0, 1.0]), scale=st.sampled_from([1.0, 10.0, 200.0]),
       with_inf=st.booleans())
def softmax_with_temperature_matches_reference(ctx: Context, lead: tuple[int, ...], V: int, seed: int,
                                               temperature: float, scale: float, with_inf: bool) -> None:
    x = sg.make_tensor((*lead, V), seed, scale=scale)
    if with_inf and V > 1:  # what top_k_filter hands over: some -inf, never a whole row
        drop = (sg.make_tensor(x.shape, seed + 1) > 0.5) & (x < x.amax(-1, keepdim=True))
        x = x.masked_fill(drop, float("-inf"))
    ctx.example(config={"temperature": temperature, "scale": scale, "-inf entries": with_inf}, logits=x)
    compare_module(ctx, ref.softmax_with_temperature, SOFTMAX_T, {"logits": x}, kwargs={"temperature": temperature},
                   hints=SOFTMAX_T_MISTAKES(logits=x, temperature=temperature))


@check(points=3, visibility="hidden", kind="differential", targets=(TOP_K,), max_examples=15,
       description="top_k_filter: matches the reference for any leading dims, ties, and top_k up to V + 2")
@given(lead=sg.shapes(min_dims=1, max_dims=3, max_side=4), V=st.integers(1, 10), data=st.data(),
       seed=st.integers(0, 2**16), distribution=st.sampled_from(["ints", "normal"]))
def top_k_filter_matches_reference(ctx: Context, lead: tuple[int, ...], V: int, data: st.DataObject, seed: int,
                                   distribution: str) -> None:
    k = data.draw(st.integers(1, V + 2), label="top_k")
    x = sg.make_tensor((*lead, V), seed, distribution=distribution)
    ctx.example(shapes={"logits": list(x.shape)}, config={"top_k": k, "values": distribution})
    compare_module(ctx, ref.top_k_filter, TOP_K, {"logits": x}, kwargs={"top_k": k}, grads=False,
                   hints=TOP_K_MISTAKES(logits=x, top_k=k))


@st.composite
def _generate_cases(draw: st.DrawFn) -> dict[str, Any]:
    V = draw(st.integers(2, 10))
    return {"B": draw(st.integers(1, 4)), "T": draw(st.integers(1, 5)), "V": V, "n": draw(st.integers(0, 7)),
            "context_size": draw(st.integers(1, 6)), "eos_id": draw(st.none() | st.integers(0, V - 1)),
            "top_k": draw(st.none() | st.integers(1, V + 1))}


@check(points=3, visibility="hidden", kind="differential", targets=GENERATE_TARGETS, max_examples=12,
       description="generate (greedy): tokens and the contexts the model saw match the reference, with eos_id, "
                   "top_k and a model that rejects contexts longer than context_size")
@given(case=_generate_cases(), seed=st.integers(0, 2**16))
def generate_matches_reference(ctx: Context, case: dict[str, Any], seed: int) -> None:
    V, n, c, eos, k = case["V"], case["n"], case["context_size"], case["eos_id"], case["top_k"]
    table, idx = sg.make_tensor((V, V), seed), sg.token_ids((case["B"], case["T"]), V, seed + 1)
    ctx.example(shapes={"idx": list(idx.shape), "table": [V, V]},
                config={"max_new_tokens": n, "context_size": c, "eos_id": eos, "top_k": k})
    model = TableLM(table, max_len=c)
    want = ref.generate(model, idx, n, c, top_k=k, eos_id=eos)
    learner_model = ctx.runtime("toys.TableLM", table, max_len=c)
    out, seen = ctx.fetch(ctx.call(GENERATE, learner_model, idx, n, c, top_k=k, eos_id=eos),
                          ctx.p.get(learner_model, "seen_lengths"))
    # with top_k, a broken top_k_filter can mimic a greedy mistake: no greedy hint then
    expect_tokens(ctx, out, want, "output of generate", None if k is not None else
                  GREEDY_MISTAKES(table=table, idx=idx, n=n, context_size=c, eos_id=eos))
    ctx.expect_close(seen, model.seen_lengths, name="lengths of the contexts the model saw in generate")
