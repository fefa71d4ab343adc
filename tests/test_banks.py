"""The grader's accuracy: every realistic mistake loses points, every correct alternative scores full.

These banks are what the tolerances and probes are tuned on. They run in-process (the checks are
the same code; isolation has its own tests in test_worker.py and test_grading.py), which keeps
about sixty gradings within the suite's time budget.
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from autograder.assignments import load_suite
from autograder.budgets import GradingInterrupted
from autograder.grading import INTERRUPTED, grade
from tests.conftest import IMPLEMENTED, make_submission

BANKS = {aid: importlib.import_module(f"tests.banks.{aid}") for aid in IMPLEMENTED}
MUTANTS = [(aid, v) for aid, bank in BANKS.items() for v in bank.MUTANTS]
ALTERNATIVES = [(aid, v) for aid, bank in BANKS.items() for v in bank.ALTERNATIVES]


@pytest.mark.parametrize("aid", IMPLEMENTED)
def test_bank_sizes(aid: str) -> None:
    """At least eight realistic mistakes and two correct alternatives per assignment."""
    bank = BANKS[aid]
    assert len(bank.MUTANTS) >= 8 and len(bank.ALTERNATIVES) >= 2
    names = [v.name for v in (*bank.MUTANTS, *bank.ALTERNATIVES)]
    assert len(names) == len(set(names)), "variant names must be unique"


@pytest.mark.parametrize("aid", IMPLEMENTED)
def test_every_check_is_caught_by_a_mistake(aid: str) -> None:
    """No check passes everything: each one names a mistake in the bank that it catches."""
    suite = load_suite(aid, hidden=True)
    names = {c.name for c in suite.checks} | ({"no_banned_apis"} if suite.bans else set())
    catches = BANKS[aid].CATCHES
    assert set(catches) == names, f"unmapped: {names - set(catches)}, unknown: {set(catches) - names}"
    assert set(catches.values()) <= {v.name for v in BANKS[aid].MUTANTS}


def _feedback(c) -> str:
    return f"{c.message}\n{c.hint or ''}"


@pytest.mark.parametrize("aid,variant", MUTANTS, ids=[f"{a}-{v.name}" for a, v in MUTANTS])
def test_mutant_loses_points(tmp_path, aid, variant) -> None:
    """The mistake loses points, fails every check the bank says it must, and a failure (a public one too)
    explains it. Grading stops once all of that is shown: the checks after it prove nothing more, and
    the bank is half of the suite's time (alternatives and solutions run every check)."""
    must_catch = sorted(c for c, m in BANKS[aid].CATCHES.items() if m == variant.name)
    # the static no_banned_apis record judges the whole run (it fails only if another check passed):
    # a mutant that must fail it is graded to the end
    early = "no_banned_apis" not in must_catch

    def shown(checks, public_only=False) -> bool:
        return any(variant.hint in _feedback(c) for c in checks
                   if c.status != "passed" and (c.visibility == "public" or not public_only))

    done: dict = {}

    def stop_once_proven(_aid: str, r) -> None:
        done[r.name] = r
        lost = any(c.score < c.max_score for c in done.values())
        if early and lost and set(must_catch) <= done.keys() and (not variant.hint or shown(done.values(), True)):
            raise GradingInterrupted(0)

    report = grade(make_submission(tmp_path, aid, variant), [aid], isolate=False, progress=stop_once_proven)
    (result,) = report.assignments
    ran = [c for c in result.checks if c.message != INTERRUPTED]
    failed = [c for c in ran if c.status != "passed"]
    assert any(c.score < c.max_score for c in ran), f"{variant.name} ({variant.why}) kept full marks"
    assert report.grader_faults == 0, [c.message for c in failed if c.grader_fault]
    passed = sorted(c.name for c in ran if c.status == "passed" and c.name in must_catch)
    assert not passed, f"{variant.name} should fail {passed}"
    assert set(must_catch) <= {c.name for c in ran}
    if variant.hint:  # the explanation the learner should read, in a hint or in the message itself
        assert shown(failed), f"expected feedback containing {variant.hint!r}, got {[_feedback(c) for c in failed]}"
        # a learner running the public checks alone reads the same explanation the hidden checks give. A
        # check draws the same examples whether it runs with the hidden ones or without (its seed is its
        # name), so the public checks of this run are what `check` shows: no second grading needed.
        public = [_feedback(c) for c in failed if c.visibility == "public"]
        assert shown(failed, public_only=True), f"expected public feedback containing {variant.hint!r}, got {public}"


@pytest.mark.parametrize("aid,variant", ALTERNATIVES, ids=[f"{a}-{v.name}" for a, v in ALTERNATIVES])
def test_alternative_scores_full_marks(tmp_path, aid, variant) -> None:
    report = grade(make_submission(tmp_path, aid, variant), [aid], isolate=False)
    (result,) = report.assignments
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    unexpected = {k: v for k, v in failed.items() if k not in variant.may_lose}
    assert not unexpected, f"{variant.name} ({variant.why}) lost points: {unexpected}"
    if failed and variant.hint:  # a check about what the contract adds says so
        feedback = [f"{c.message}\n{c.hint or ''}" for c in result.checks if c.name in failed]
        assert all(variant.hint in f for f in feedback), f"expected {variant.hint!r} in {feedback}"


def test_public_checks_draw_the_same_examples_alone(tmp_path) -> None:
    """What test_mutant_loses_points relies on: public checks graded alone give what they give beside the hidden ones."""
    aid, variant = next((a, v) for a, v in MUTANTS if a == "a03_attention" and v.hint)
    sub = make_submission(tmp_path, aid, variant)
    alone = grade(sub, [aid], visibility="public", isolate=False).assignments[0].checks
    beside = [c for c in grade(sub, [aid], isolate=False).assignments[0].checks if c.visibility == "public"]
    strip = lambda checks: [dataclasses.replace(c, elapsed_s=0.0) for c in checks if c.name != "no_banned_apis"]  # noqa: E731
    assert strip(alone) == strip(beside) and any(c.status != "passed" for c in alone)


def test_every_bank_applies_and_compiles() -> None:
    """Every bank under tests/banks/ (suite or not yet) applies cleanly to its solution, and each variant compiles."""
    from tests.banks.edits import apply, apply_edits
    from tests.conftest import ROOT, SOLUTIONS

    banks = sorted(p.stem for p in (ROOT / "tests" / "banks").glob("a[0-9][0-9]_*.py"))
    assert banks, "no bank files found"
    for aid in banks:
        bank = importlib.import_module(f"tests.banks.{aid}")
        source = (SOLUTIONS / f"{aid}.py").read_text(encoding="utf-8")
        variants = [*bank.MUTANTS, *bank.ALTERNATIVES]
        names = [v.name for v in variants]
        assert len(names) == len(set(names)), f"{aid}: variant names must be unique"
        for variant in variants:
            changed = apply(source, variant)  # raises when an edit does not match exactly
            assert changed != source or variant.other, f"{aid}/{variant.name} changes nothing"
            compile(changed, f"{aid}[{variant.name}].py", "exec")
            for other, edits in variant.other.items():  # edits to an earlier assignment's file
                original = (SOLUTIONS / f"{other}.py").read_text(encoding="utf-8")
                assert other < aid and apply_edits(original, edits, variant.name) != original
                compile(apply_edits(original, edits, variant.name), f"{other}[{variant.name}].py", "exec")
