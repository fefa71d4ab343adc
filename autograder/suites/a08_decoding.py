"""Public checks for a08_decoding: properties, snapshots and sampling statistics, no reference needed.

`generate` runs on the runtime's `TableLM`, a bigram model whose logits for the next token are row
`table[last token]` of a known table, so every expected token and probability is computed here:
greedy decoding follows the table's argmaxes, and `seen_lengths` shows every context the model got.
Sampling is graded by what it draws, never by seeded equality (a correct generate may use its random
numbers in another order):

* support: every sampled token lies in the top-k set of its row;
* goodness of fit: GOF_ROWS rows sampled in one call from one prompt token, and Pearson's chi-square
  of the counts against softmax(filtered logits / T). The generator seeds are fixed, so a submission
  always gets the same statistic; a correct sampler fails a case with probability below GOF_ALPHA
  (every expected count is >= 125, where the chi-square tail is accurate), and
  tests/test_a08_decoding.py shows the power against the bank's mistakes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.compare import describe
from autograder.kit import FLOAT32, FLOAT64, CheckFailure, Context, Hints, Raised, Suite, given
from autograder.properties import chi_square_p
from autograder.mistakes.a08_decoding import (EOS_NOT_KEPT, GLOBAL_RNG, GREEDY_MISTAKES, NO_STOP, OUTSIDE_TOP_K,
                                              SAMPLING_MISTAKES, SOFTMAX_T_MISTAKES, TOP_K_ABOVE_V, TOP_K_MISTAKES,
                                              filtered, follow, gof_hint)
from autograder.program import Ref
from autograder.snapshots import SnapshotCase
from autograder.snapshots import register as register_snapshots

SOFTMAX_T, TOP_K, GENERATE = "softmax_with_temperature", "top_k_filter", "generate"
GENERATE_TARGETS = (GENERATE, SOFTMAX_T, TOP_K)  # generate runs the learner's two helpers too
SUITE = Suite("a08_decoding")
check = SUITE.check

SNAPSHOTS = [
    SnapshotCase("softmax_with_temperature", SOFTMAX_T, {"logits": (2, 3, 6)}, kwargs={"temperature": 0.6},
                 seed=1, scale=2.0),
    SnapshotCase("top_k_filter", TOP_K, {"logits": (2, 3, 7)}, kwargs={"top_k": 3}, seed=2),
]
register_snapshots(SUITE, SNAPSHOTS, hints=lambda case, inputs, _: (
    SOFTMAX_T_MISTAKES if case.target == SOFTMAX_T else TOP_K_MISTAKES)(logits=inputs["logits"], **case.kwargs))

GOF_ROWS = 6000  # rows sampled in one generate call per case
GOF_ALPHA = 1e-8  # a correct sampler fails one case with probability below this
_PERM = [3, 0, 6, 1, 7, 4, 2, 5]


def _spread(width: float) -> torch.Tensor:
    """Eight distinct logits spanning `width`, in a shuffled order (the argmax is not token 0)."""
    return torch.linspace(width / 2, -width / 2, 8, dtype=torch.float64)[_PERM]


# (prompt token = table row, temperature, top_k): each row's width / T is 2.8, so the smallest
# probability is 1/48 and its expected count ~125; logits * T and softmax(logits) are far from it.
GOF_TABLE = torch.stack([_spread(5.6), _spread(1.4), _spread(3.0), *([torch.zeros(8, dtype=torch.float64)] * 5)])
GOF_CASES = ((0, 2.0, None, 101), (1, 0.5, None, 102), (2, 1.5, 5, 103))  # (row, temperature, top_k, seed)


# -- worker-side objects (TableLM: the logits for the next token are `table[last token]`) -------------
def seeded(ctx: Context, seed: int) -> Ref:
    """A fresh `torch.Generator().manual_seed(seed)` inside the worker."""
    return ctx.runtime("loops.seeded_generator", seed)


def generate(ctx: Context, table: torch.Tensor, idx: torch.Tensor, n: int, context_size: int, **kwargs: Any) -> Any:
    """generate on a fresh TableLM(table): [its output, the context lengths the model saw]."""
    model = ctx.runtime("toys.TableLM", table)
    return ctx.fetch(ctx.call(GENERATE, model, idx, n, context_size, **kwargs, grad=True),
                     ctx.p.get(model, "seen_lengths"))


# -- comparing token ids ---------------------------------------------------------------------
def long_ids(got: Any, name: str, B: int) -> torch.Tensor:
    """`got` when it is a 2-D LongTensor with B rows; otherwise the failure that says what it is."""
    if not (isinstance(got, torch.Tensor) and got.dtype == torch.int64 and got.dim() == 2 and got.shape[0] == B):
        raise CheckFailure(f"{name}: expected a LongTensor (B, T + new tokens) with B={B} (append each new token "
                           f"along dim 1), got {describe(got)}")
    return got


def expect_tokens(ctx: Context, got: Any, want: torch.Tensor, name: str, hints: Hints | None = None) -> None:
    """Ids equal to `want`; a result of another length (eos handling) still gets its mistake's hint."""
    got = long_ids(got, name, want.shape[0])
    if got.shape != want.shape:  # the hint is worked out only here: matching every mistake is not free
        raise CheckFailure(f"{name}: shape {tuple(got.shape)}, expected {tuple(want.shape)}\nrow 0: got "
                           f"{got[0].tolist()[:24]}, expected {want[0].tolist()[:24]}",
                           hint=hints.match(got, FLOAT64) if hints else None)
    ctx.expect_close(got, want, tol=FLOAT64, name=name, hints=hints)


# -- softmax_with_temperature ----------------------------------------------------------------
@check(points=3, visibility="public", kind="property", targets=(SOFTMAX_T,), max_examples=12,
       description="softmax_with_temperature: rows of probabilities (non-negative, sum to 1 over the last dim, "
                   "dtype kept) with log p_i - log p_j = (logit_i - logit_j) / temperature")
@given(lead=st.lists(st.integers(1, 4), max_size=2).map(tuple), V=st.integers(2, 8), seed=sg.seeds(),
       temperature=st.sampled_from([0.25, 0.5, 2.0, 5.0, 1.0]),
       dtype=st.sampled_from([torch.float64, torch.float32]))
def softmax_with_temperature_is_tempered(ctx: Context, lead: tuple[int, ...], V: int, seed: int, temperature: float,
                                         dtype: torch.dtype) -> None:
    x = sg.make_tensor((*lead, V), seed, scale=3.0, dtype=dtype)
    ctx.example(config={"temperature": temperature, "dtype": str(dtype)}, logits=x)
    (out,) = ctx.fetch(ctx.call(SOFTMAX_T, x, temperature=temperature))  # the dtype is checked there
    out = ctx.expect_tensor(out, x, "output of softmax_with_temperature")
    ctx.expect(not (out < 0).any(), "output of softmax_with_temperature: has negative entries")
    hints = SOFTMAX_T_MISTAKES(logits=x, temperature=temperature).on(out)
    ctx.expect_close(out.sum(-1), torch.ones_like(x.sum(-1)), name="sum of each row (over the last dim)",
                     tol=FLOAT64 if dtype == torch.float64 else FLOAT32, hints=hints)
    if dtype == torch.float64:
        log_p, x_c = out.log(), x - x.mean(-1, keepdim=True)
        ctx.expect_close(log_p - log_p.mean(-1, keepdim=True), x_c / temperature, tol=FLOAT64, hints=hints,
                         name="log p - mean(log p) over each row (expected (logits - mean(logits)) / temperature)")


# -- top_k_filter ----------------------------------------------------------------------------
@check(points=3, visibility="public", kind="property", targets=(TOP_K,), max_examples=12,
       description="top_k_filter: each row (over any leading dims) keeps exactly its top_k largest logits, "
                   "unchanged, and sets the rest to -inf; the input is not modified")
@given(lead=sg.shapes(min_dims=1, max_dims=3, max_side=4), V=st.integers(2, 9), data=st.data(),
       seed=sg.seeds())
def top_k_filter_keeps_k_largest(ctx: Context, lead: tuple[int, ...], V: int, data: st.DataObject, seed: int) -> None:
    k = data.draw(st.integers(1, V), label="top_k")
    x = sg.make_tensor((*lead, V), seed)  # continuous values: no ties, so the k largest are one set
    ctx.example(shapes={"logits": list(x.shape)}, config={"top_k": k}, values={"logits": x})
    (out,) = ctx.fetch(ctx.call(TOP_K, x, top_k=k))
    ctx.expect_close(out, filtered(x, k), tol=FLOAT64, hints=TOP_K_MISTAKES(logits=x, top_k=k),
                     name=f"output of top_k_filter(top_k={k}) (expected each row's {k} largest logits unchanged, "
                          f"-inf elsewhere)")


@check(points=2, visibility="public", kind="property", targets=(TOP_K,),
       description="top_k_filter: entries tied with the k-th largest value are all kept; a top_k of V or more "
                   "keeps every entry")
def top_k_filter_ties_and_large_k(ctx: Context) -> None:
    x = sg.make_tensor((3, 4, 8), 5, distribution="ints")  # values in -3..3: many ties
    V = x.shape[-1]
    ctx.example(shapes={"logits": list(x.shape)}, config={"top_k": [3, V, V + 4]})
    out, *large = ctx.fetch(ctx.call(TOP_K, x, top_k=3), *(ctx.call(TOP_K, x, top_k=k, catch=True) for k in (V, V + 4)))
    ctx.expect_close(out, filtered(x, 3), tol=FLOAT64, hints=TOP_K_MISTAKES(logits=x, top_k=3),
                     name="output of top_k_filter(logits with ties, top_k=3)")
    for k, got in zip((V, V + 4), large):
        ctx.expect(not isinstance(got, Raised), f"top_k_filter(logits with V={V}, top_k={k}) raised {got}",
                   hint=TOP_K_ABOVE_V)
        ctx.expect_close(got, x, tol=FLOAT64, name=f"output of top_k_filter(logits with V={V}, top_k={k}) "
                                                   f"(expected every entry kept)")


@check(points=1, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description="softmax_with_temperature rejects temperature <= 0, top_k_filter rejects top_k < 1, and "
                   "generate a negative temperature, each with a ValueError naming the argument and value")
def rejects_bad_arguments(ctx: Context) -> None:
    x, table, idx = sg.make_tensor((2, 5), 3), sg.make_tensor((5, 5), 4), torch.tensor([[1, 2]])
    ctx.example(shapes={"logits": [2, 5], "idx": [1, 2]})
    model = ctx.runtime("toys.TableLM", table)
    # valid calls first: an unfinished function stops the check there
    ctx.fetch(ctx.call(SOFTMAX_T, x, temperature=1.0), ctx.call(TOP_K, x, top_k=2), ctx.call(GENERATE, model, idx, 1, 4))
    cases = {"softmax_with_temperature(logits, temperature=0.0)": (SOFTMAX_T, {"temperature": 0.0}, ("temperature", "0")),
             "softmax_with_temperature(logits, temperature=-1.5)": (SOFTMAX_T, {"temperature": -1.5},
                                                                   ("temperature", "-1.5")),
             "top_k_filter(logits, top_k=0)": (TOP_K, {"top_k": 0}, ("top_k", "0"))}
    got = ctx.fetch(*(ctx.call(fn, x, catch=True, **kw) for fn, kw, _ in cases.values()),
                    ctx.call(GENERATE, ctx.runtime("toys.TableLM", table), idx, 1, 4, temperature=-0.5, catch=True))
    for (when, (_, _, mention)), g in zip(cases.items(), got):
        ctx.expect_raises(g, when, mention=mention)
    ctx.expect_raises(got[-1], "generate(model, idx, 1, 4, temperature=-0.5)", mention=("temperature", "-0.5"))


# -- generate: greedy ------------------------------------------------------------------------
@check(points=3, visibility="public", kind="property", targets=GENERATE_TARGETS, max_examples=10,
       description="generate (temperature 0, the default): appends the argmax token of the last position at "
                   "every step, for every row of a batch; returns a LongTensor (B, T + max_new_tokens) "
                   "starting with idx")
# V >= 3: with two tokens every wrong choice is also the argmin, and no hint could tell mistakes apart
@given(B=st.integers(1, 4), T=st.integers(1, 4), V=st.integers(3, 9), n=st.integers(0, 6),
       context_size=st.integers(1, 6), seed=sg.seeds())
def generate_greedy(ctx: Context, B: int, T: int, V: int, n: int, context_size: int, seed: int) -> None:
    table, idx = sg.make_tensor((V, V), seed), sg.token_ids((B, T), V, seed + 1)
    ctx.example(shapes={"table": [V, V]}, config={"max_new_tokens": n, "context_size": context_size}, idx=idx)
    out, _ = generate(ctx, table, idx, n, context_size)
    expect_tokens(ctx, out, follow(table, idx, n, context_size), "output of generate (greedy)",
                  GREEDY_MISTAKES(table=table, idx=idx, n=n, context_size=context_size, eos_id=None))


@check(points=2, visibility="public", kind="property", targets=GENERATE_TARGETS, max_examples=8,
       description="generate with top_k=1 is greedy for any temperature > 0 (only the largest logit survives)")
@given(B=st.integers(1, 4), T=st.integers(1, 3), V=st.integers(2, 9), n=st.integers(1, 5),
       temperature=st.sampled_from([0.3, 1.0, 2.5]), seed=sg.seeds())
def generate_top_k_1_is_greedy(ctx: Context, B: int, T: int, V: int, n: int, temperature: float, seed: int) -> None:
    table, idx = sg.make_tensor((V, V), seed), sg.token_ids((B, T), V, seed + 1)
    ctx.example(shapes={"idx": [B, T], "table": [V, V]},
                config={"max_new_tokens": n, "context_size": 4, "temperature": temperature, "top_k": 1})
    out, _ = generate(ctx, table, idx, n, 4, temperature=temperature, top_k=1, generator=seeded(ctx, seed % 1000))
    expect_tokens(ctx, out, follow(table, idx, n, 4),
                  f"output of generate(temperature={temperature}, top_k=1) (expected the greedy tokens)")


# -- generate: sampling ----------------------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description="generate (temperature 2, top_k=3): every sampled token is one of the 3 most likely after "
                   "its predecessor, and not always the most likely; a top_k above the vocabulary size works")
def generate_samples_inside_top_k(ctx: Context) -> None:
    B, V, n, k = 48, 10, 5, 3
    table, idx = sg.make_tensor((V, V), 6), sg.token_ids((B, 1), V, 7)
    ctx.example(shapes={"idx": [B, 1], "table": [V, V]},
                config={"max_new_tokens": n, "context_size": 4, "temperature": 2.0, "top_k": [k, V + 3]})
    model = ctx.runtime("toys.TableLM", table)
    got, big = ctx.fetch(ctx.call(GENERATE, model, idx, n, 4, temperature=2.0, top_k=k, generator=seeded(ctx, 5)),
                         ctx.call(GENERATE, model, idx[:4], 3, 4, temperature=1.0, top_k=V + 3, generator=seeded(ctx, 6),
                                  catch=True))
    got = long_ids(got, "output of generate", B)
    ctx.expect(got.shape == (B, 1 + n) and torch.equal(got[:, :1], idx),
               f"output of generate: shape {tuple(got.shape)}, expected {(B, 1 + n)} starting with idx")
    prev, new = got[:, :-1], got[:, 1:]
    rank = (table[prev] > table[prev, new][..., None]).sum(-1)  # (B, n): 0 for the argmax
    if (rank >= k).any():
        b, t = (int(i) for i in (rank >= k).nonzero()[0])
        raise CheckFailure(f"output of generate (top_k={k}): at row {b}, step {t} token {int(new[b, t])} was drawn, "
                           f"ranked {int(rank[b, t]) + 1} of {V} after token {int(prev[b, t])}; only the {k} most "
                           f"likely may be drawn", hint=OUTSIDE_TOP_K)
    ctx.expect(not (rank == 0).all(), f"output of generate (temperature=2.0, top_k={k}): all {B * n} tokens are the "
                                      f"argmax; the 2nd and 3rd most likely tokens should be drawn too (is it sampling?)")
    long_ids(big, f"output of generate(top_k={V + 3}) with a vocabulary of {V}", 4)


@check(points=4, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description=f"generate: the frequencies of {GOF_ROWS} tokens sampled in one call fit softmax(logits / "
                   f"temperature) (chi-square test at p = {GOF_ALPHA:g}; T = 2, T = 0.5, and T = 1.5 with top_k=5)")
def generate_sampling_matches_softmax(ctx: Context) -> None:
    ctx.example(shapes={"idx": [GOF_ROWS, 1], "table": list(GOF_TABLE.shape)},
                config={"cases (prompt token, temperature, top_k)": [c[:3] for c in GOF_CASES], "max_new_tokens": 1})
    model = ctx.runtime("toys.TableLM", GOF_TABLE)
    outs = ctx.fetch(*(ctx.call(GENERATE, model, torch.full((GOF_ROWS, 1), row), 1, 4, temperature=T, top_k=k,
                                generator=seeded(ctx, seed)) for row, T, k, seed in GOF_CASES))
    for got, (row, T, k, _) in zip(outs, GOF_CASES):
        got = long_ids(got, "output of generate", GOF_ROWS)
        ctx.expect(got.shape == (GOF_ROWS, 2) and (got[:, 0] == row).all() and ((got[:, 1] >= 0) & (got[:, 1] < 8)).all(),
                   f"output of generate (max_new_tokens=1): shape {tuple(got.shape)}, expected {(GOF_ROWS, 2)} "
                   f"starting with idx, new ids in the vocabulary 0..7")
        probs = torch.softmax(filtered(GOF_TABLE[row], k) / T, -1)
        counts = torch.bincount(got[:, 1], minlength=8).to(torch.float64)
        stat, df, pval = chi_square_p(counts, probs)
        if pval >= GOF_ALPHA:
            continue
        table = (f"tokens 0..7 drawn    {[int(c) for c in counts]}\n"
                 f"tokens 0..7 expected {[round(float(q) * GOF_ROWS) for q in probs]}")
        case = f"temperature={T}" + (f", top_k={k}" if k else "")
        ctx.expect(not math.isinf(stat), f"generate ({case}): tokens outside the top-k set were drawn\n{table}",
                   hint=OUTSIDE_TOP_K)
        raise CheckFailure(f"generate ({case}), {GOF_ROWS} rows from one prompt token: the frequencies do not fit "
                           f"softmax(logits / temperature) (chi-square {stat:.1f} with {df} degrees of freedom, "
                           f"p = {pval:.2g}, below {GOF_ALPHA:g})\n{table}",
                           hint=gof_hint(counts, SAMPLING_MISTAKES(logits=GOF_TABLE[row], temperature=T, top_k=k)))


@check(points=2, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description="generate: generators seeded the same give the same tokens whatever torch's global seed; "
                   "different seeds give different tokens; generator=None uses the global seed")
def generate_same_seed_same_tokens(ctx: Context) -> None:
    B, V, n = 8, 12, 10
    table, idx = sg.make_tensor((V, V), 8, scale=0.3), sg.token_ids((B, 2), V, 9)
    ctx.example(shapes={"idx": [B, 2], "table": [V, V]}, config={"max_new_tokens": n, "temperature": 1.0,
                                                                 "generator seeds": [1234, 1234, 4321]})
    model, runs = ctx.runtime("toys.TableLM", table), []
    for global_seed, seed in ((1, 1234), (2, 1234), (3, 4321), (4, None), (4, None)):
        ctx.p.seed(global_seed)
        runs.append(ctx.call(GENERATE, model, idx, n, 4, temperature=1.0,
                             generator=seeded(ctx, seed) if seed is not None else None))
    a, b, c, d, e = ctx.fetch(*runs)
    a = long_ids(a, "output of generate", B)
    ctx.expect(isinstance(b, torch.Tensor) and torch.equal(a, b), "generate: two runs with fresh generators seeded the "
               "same (1234), under different global seeds, gave different tokens", hint=GLOBAL_RNG)
    ctx.expect(not (isinstance(c, torch.Tensor) and torch.equal(a, c)), "generate: generators seeded 1234 and 4321 gave "
               "the same tokens: the draws must come from the generator passed in (is it replaced or reseeded inside "
               "generate?)")
    ctx.expect(isinstance(d, torch.Tensor) and isinstance(e, torch.Tensor) and torch.equal(d, e), "generate(generator="
               "None): two runs after torch.manual_seed(4) gave different tokens: without a generator, draw from "
               "torch's global random state")


# -- generate: end of text -------------------------------------------------------------------
EOS = 5
_NEXT = {0: 1, 1: 2, 2: EOS, 3: EOS, 4: 0, EOS: 3}  # greedy successor of each token; eos is followed by 3
EOS_PROMPTS = torch.tensor([[4, 4, 2], [3, 0, 1], [1, 1, 0], [2, 3, 4], [0, 1, EOS]])  # finish after 1, 2, 3, 4, 2


def eos_table() -> torch.Tensor:
    table = sg.make_tensor((6, 6), 9, scale=0.3)
    for a, b in _NEXT.items():
        table[a, b] = 2.0
    return table


@check(points=3, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description="generate with eos_id (greedy, batch of 5): a row that emitted eos_id keeps emitting it, "
                   "generation stops once every row has (the model is called no more), a prompt ending in eos_id "
                   "does not count")
def generate_stops_at_eos(ctx: Context) -> None:
    table = eos_table()
    ctx.example(shapes={"table": [6, 6]}, config={"eos_id": EOS, "max_new_tokens": [8, 3], "context_size": 8},
                idx=EOS_PROMPTS)
    for n in (8, 3):
        want = follow(table, EOS_PROMPTS, n, 8, eos_id=EOS)
        out, seen = generate(ctx, table, EOS_PROMPTS, n, 8, eos_id=EOS)
        expect_tokens(ctx, out, want, f"output of generate(max_new_tokens={n}, eos_id={EOS})",
                      GREEDY_MISTAKES(table=table, idx=EOS_PROMPTS, n=n, context_size=8, eos_id=EOS))
        steps = want.shape[1] - EOS_PROMPTS.shape[1]
        ctx.expect(len(seen) == steps, f"generate(max_new_tokens={n}, eos_id={EOS}): the model was called {len(seen)} "
                   f"times for {steps} new tokens; call it once per token and not again once every row is finished",
                   hint=NO_STOP)


@check(points=2, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description="generate with eos_id while sampling (batch of 16): after a row's first eos_id only eos_id "
                   "follows; the result ends when the last row finishes, or at max_new_tokens")
def generate_eos_when_sampling(ctx: Context) -> None:
    B, V, n, eos = 16, 7, 12, 6
    table = sg.make_tensor((V, V), 10, scale=0.5)
    table[:, eos] += 0.7  # eos comes after a few steps, at a different step in each row
    idx = sg.token_ids((B, 2), V - 1, 11)
    ctx.example(shapes={"idx": [B, 2], "table": [V, V]},
                config={"eos_id": eos, "max_new_tokens": n, "temperature": 1.0, "context_size": 4})
    got, seen = generate(ctx, table, idx, n, 4, temperature=1.0, eos_id=eos, generator=seeded(ctx, 12))
    got = long_ids(got, "output of generate", B)
    ctx.expect(got.shape[1] >= 2 and torch.equal(got[:, :2], idx),
               f"output of generate: shape {tuple(got.shape)}, expected (16, 2 + new tokens) starting with idx")
    new, name = got[:, 2:], f"output of generate (eos_id={eos}, max_new_tokens={n})"
    after = ((new == eos).cumsum(1) > 0) & (new != eos)
    if after.any():
        b, t = (int(i) for i in after.nonzero()[0])
        raise CheckFailure(f"{name}: row {b} generated eos_id and later token {int(new[b, t])} (new tokens of row "
                           f"{b}: {new[b].tolist()})", hint=EOS_NOT_KEPT)
    finished = (new == eos).any(1)
    L = int((new == eos).int().argmax(1).max()) + 1 if new.shape[1] and bool(finished.all()) else n
    ctx.expect(new.shape[1] == L, f"{name}: {new.shape[1]} new tokens, expected {L} (the step where the last row "
               f"finished, or max_new_tokens if a row never did)", hint=NO_STOP if new.shape[1] > L else
               "generation stopped when the first row emitted eos_id: go on until every row has (all, not any)")
    ctx.expect(len(seen) == L, f"{name}: the model was called {len(seen)} times for {L} new tokens; call it once per "
                               f"token and not again once every row is finished", hint=NO_STOP)


# -- generate: context, gradients, mode ------------------------------------------------------
@check(points=2, visibility="public", kind="property", targets=GENERATE_TARGETS,
       description="generate crops what the model sees to the last context_size tokens (TableLM.seen_lengths), "
                   "for prompts shorter and longer than context_size")
def generate_crops_context(ctx: Context) -> None:
    table, idx = sg.make_tensor((7, 7), 11), sg.token_ids((3, 5), 7, 12)
    cases = ((3, 4), (8, 4), (5, 3))  # (context_size, max_new_tokens)
    ctx.example(shapes={"idx": [3, 5], "table": [7, 7]}, config={"(context_size, max_new_tokens)": list(cases)})
    for c, n in cases:
        out, seen = generate(ctx, table, idx, n, c)
        ctx.expect_close(seen, [min(5 + s, c) for s in range(n)],
                         name=f"lengths of the contexts the model saw in generate(idx of length 5, max_new_tokens={n}, "
                              f"context_size={c}) (give it the last context_size tokens, idx[:, -context_size:])")
        expect_tokens(ctx, out, follow(table, idx, n, c), f"output of generate(context_size={c})",
                      GREEDY_MISTAKES(table=table, idx=idx, n=n, context_size=c, eos_id=None))


@check(points=1, visibility="public", kind="integrity", targets=GENERATE_TARGETS,
       description="generate calls the model without gradients and in the mode it is in (train or eval, left "
                   "unchanged), and does not modify idx")
def generate_no_grad_keeps_mode(ctx: Context) -> None:
    table, idx = sg.make_tensor((6, 6), 13), sg.token_ids((2, 3), 6, 14)
    ctx.example(shapes={"idx": [2, 3], "table": [6, 6]}, config={"model": "TableLM with a trainable table"})
    for mode in (True, False):  # ctx.call checks that idx is left alone
        model = ctx.runtime("toys.TableLM", table, trainable=True)
        ctx.p.train(model, mode)
        out = ctx.call(GENERATE, model, idx, 3, 4, temperature=1.0 if mode else 0.0, generator=seeded(ctx, 15),
                       grad=True)  # not wrapped in no_grad: the model sees the grad mode generate sets
        out, grads, modes, training = ctx.fetch(out, *(ctx.p.get(model, a) for a in ("grad_enabled", "modes", "training")))
        long_ids(out, "output of generate", 2)
        ctx.expect(not any(grads), "generate called the model with gradients enabled: run the loop under "
                                   "torch.no_grad() (nothing is back-propagated, and the graph would grow with every token)")
        ctx.expect(all(m == mode for m in modes) and training == mode, f"generate on a model in "
                   f"{'train' if mode else 'eval'} mode: the model ran in modes {modes} and was left with training="
                   f"{training}; leave the mode to the caller (no .eval() or .train() inside generate)")
