"""a08_decoding: what the bank cannot show. The goodness-of-fit test's false-alarm rate and power, and the
public checks' own expected answers agreeing with reference/."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

import reference.a08_decoding as ref
from autograder import strategies as sg
from autograder.assignments import load_suite
from autograder.checks import run_check
from autograder.runtime.toys import TableLM
from autograder.suites.a08_decoding import (
    EOS,
    EOS_PROMPTS,
    GOF_ALPHA,
    GOF_CASES,
    GOF_ROWS,
    GOF_TABLE,
    chi_square_p,
    eos_table,
)
from autograder.mistakes.a08_decoding import GOF_HINT_TV, SAMPLING_MISTAKES, filtered, follow, gof_hint
from autograder.worker import InProcess
from tests.banks.a08_decoding import MUTANTS
from tests.conftest import make_submission

AID = "a08_decoding"


def _probs(row: int, T: float, k: int | None) -> torch.Tensor:
    return torch.softmax(filtered(GOF_TABLE[row], k) / T, -1)


def _counts(probs: torch.Tensor, reps: int, seed: int) -> torch.Tensor:
    """(reps, V) category counts of GOF_ROWS draws each, as generate's one call would give."""
    gen = torch.Generator().manual_seed(seed)
    draws = torch.multinomial(probs.expand(reps, -1), GOF_ROWS, replacement=True, generator=gen)
    counts = torch.zeros(reps, probs.numel(), dtype=torch.float64)
    return counts.scatter_add_(1, draws, torch.ones(draws.shape, dtype=torch.float64))


@pytest.mark.parametrize("case", GOF_CASES, ids=lambda c: f"row{c[0]}-T{c[1]}-k{c[2]}")
def test_gof_expected_counts_are_large(case) -> None:
    """The chi-square tail is trusted down to GOF_ALPHA only because every expected count is large."""
    row, T, k, _ = case
    probs = _probs(row, T, k)
    assert float(probs[probs > 0].min()) * GOF_ROWS >= 120


@pytest.mark.parametrize("case", GOF_CASES, ids=lambda c: f"row{c[0]}-T{c[1]}-k{c[2]}")
def test_gof_false_alarm_rate(case) -> None:
    """A correct sampler: p-values look uniform (about 1% below 0.01) and none comes near GOF_ALPHA."""
    row, T, k, seed = case
    probs = _probs(row, T, k)
    p = torch.tensor([chi_square_p(c, probs)[2] for c in _counts(probs, 1000, seed)])
    assert 2 <= int((p < 0.01).sum()) <= 25 and int((p < 1e-3).sum()) <= 6
    assert float(p.min()) > 1e-7 > GOF_ALPHA


@pytest.mark.parametrize("case", GOF_CASES, ids=lambda c: f"row{c[0]}-T{c[1]}-k{c[2]}")
def test_gof_power_and_hints(case) -> None:
    """Samples from each known mistake's distribution fail every time; the hint names that mistake, never another."""
    row, T, k, seed = case
    probs = _probs(row, T, k)
    hints = SAMPLING_MISTAKES(logits=GOF_TABLE[row], temperature=T, top_k=k)
    variants = {m.hint: q for m, q in hints.outputs()}
    dists = [0.5 * float((a - b).abs().sum()) for a in (probs, *variants.values()) for b in variants.values()]
    assert min(d for d in dists if d > 0) > 2 * GOF_HINT_TV  # no two candidates are within reach of one sample
    for i, (text, q) in enumerate(variants.items()):
        given = []
        for counts in _counts(q, 200, seed + 1 + i):
            stat, _, p = chi_square_p(counts, probs)
            assert p < GOF_ALPHA, (text, stat)
            given.append(gof_hint(counts, hints))
        assert set(given) <= {text, None} and given.count(text) >= 195  # never wrong, almost always given
    for counts in _counts(probs, 200, seed):  # and a correct sampler is never "explained" by a mistake
        assert gof_hint(counts, hints) is None


@pytest.mark.parametrize("name,hint", [("temperature_multiplies", "fit softmax(logits * T)"),
                                       ("temperature_ignored", "the temperature is ignored"),
                                       ("top_k_not_applied", "outside the top-k set"),
                                       ("softmax_over_batch_dim", None)])
def test_gof_check_fails_the_banks_sampling_mistakes(name: str, hint: str | None) -> None:
    """The real check on the bank's sampling mistakes (the bank only requires some check to fail)."""
    (variant,) = [v for v in MUTANTS if v.name == name]
    suite = load_suite(AID, hidden=False)
    (gof,) = [c for c in suite.checks if c.name == "generate_sampling_matches_softmax"]
    with tempfile.TemporaryDirectory() as d:
        executor = InProcess(make_submission(Path(d), AID, variant))
        try:
            result = run_check(gof, suite, executor)
        finally:
            executor.close()
    assert result.status != "passed", result.message
    if hint is not None:
        assert result.status == "failed" and hint in (result.hint or ""), (result.message, result.hint)


def test_greedy_expectations_agree_with_the_reference() -> None:
    """`follow` (the public checks' answer) and reference.generate decode TableLM the same way."""
    gen = torch.Generator().manual_seed(0)
    for trial in range(60):
        V, B, T, n, c = (int(torch.randint(lo, hi, (), generator=gen)) for lo, hi in
                         ((2, 10), (1, 5), (1, 6), (0, 8), (1, 7)))
        eos = None if trial % 3 == 0 else int(torch.randint(0, V, (), generator=gen))
        table, idx = sg.make_tensor((V, V), trial), sg.token_ids((B, T), V, trial)
        model = TableLM(table, max_len=c)
        want = ref.generate(model, idx, n, c, eos_id=eos)
        assert torch.equal(follow(table, idx, n, c, eos_id=eos), want)
        assert model.seen_lengths == [min(T + s, c) for s in range(want.shape[1] - T)]


def test_top_k_expectation_agrees_with_the_reference() -> None:
    for seed in range(50):
        x = sg.make_tensor((3, 2, 7), seed, distribution="ints" if seed % 2 else "normal")
        for k in range(1, 10):
            assert torch.equal(filtered(x, k), ref.top_k_filter(x, k))


def test_eos_scenario_is_as_documented() -> None:
    """Rows finish after 1, 2, 3, 4 and 2 steps; the row after eos is not eos; a prompt ends in eos."""
    table = eos_table()
    out = follow(table, EOS_PROMPTS, 8, 8, eos_id=EOS)
    new = out[:, EOS_PROMPTS.shape[1]:]
    assert new.shape[1] == 4
    assert [int((row == EOS).int().argmax()) + 1 for row in new] == [1, 2, 3, 4, 2]
    assert int(table[EOS].argmax()) != EOS and int(EOS_PROMPTS[4, -1]) == EOS
    free = follow(table, EOS_PROMPTS, 8, 8)  # without eos_id: rows go on past eos
    assert (free[:, EOS_PROMPTS.shape[1]:] != EOS).any(1).all()
