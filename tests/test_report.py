"""Reports as a learner and an instructor read them: terminal, Markdown, JSON; no leaks from hidden checks."""

from __future__ import annotations

import copy
import json

import pytest

from autograder.grading import grade
from autograder.report import render_markdown, render_terminal
from tests.banks.a03_attention import MUTANTS
from tests.conftest import make_submission


@pytest.fixture(scope="module")
def mutant_report(tmp_path_factory):
    (variant,) = [v for v in MUTANTS if v.name == "mha_scale_by_d_out"]
    sub = make_submission(tmp_path_factory.mktemp("s"), "a03_attention", variant)
    return grade(sub, ["a03_attention"], isolate=False)


def test_failure_message_order_and_hint(mutant_report) -> None:
    (a,) = mutant_report.assignments
    hidden = {c.name: c for c in a.checks}["mha_matches_reference"]
    lines = hidden.message.splitlines()
    assert lines[0] == "output of MultiHeadAttention: values differ"
    assert "elements differ" in lines[1] and "max abs diff" in lines[2] and "first mismatch: index" in lines[3]
    assert "divided by d (the key width)" in hidden.hint
    assert set(hidden.counterexample) == {"shapes", "config"}  # hidden checks never show input values


def test_public_failures_show_the_input_values(mutant_report) -> None:
    (a,) = mutant_report.assignments
    public = {c.name: c for c in a.checks}["mha_snapshot"]
    assert public.status == "failed" and "values" in public.counterexample


def test_terminal_and_markdown(mutant_report) -> None:
    text = render_terminal(mutant_report)
    assert "FAIL    mha_matches_reference" in text and "(hidden)" in text
    assert "hint: your output matches scores divided by d" in text
    assert text.rstrip().endswith(f"Total {mutant_report.score:g} / {mutant_report.max_score:g}")
    md = render_markdown(mutant_report)
    assert "| ❌ | `mha_matches_reference` |" in md and "### `mha_matches_reference` (failed)" in md


def test_json_is_strict(mutant_report) -> None:
    data = json.loads(mutant_report.to_json())  # allow_nan=False: no NaN/Infinity tokens
    assert data["score"] == sum(a["score"] for a in data["assignments"])


def test_non_finite_values_become_strings(mutant_report) -> None:
    report = copy.deepcopy(mutant_report)
    report.assignments[0].checks[0].counterexample = {"values": {"x": [float("nan"), float("-inf"), 1.0]}}
    data = json.loads(report.to_json())
    assert data["assignments"][0]["checks"][0]["counterexample"]["values"]["x"] == ["nan", "-inf", 1.0]


def test_learner_text_in_markdown_is_fenced_or_escaped() -> None:
    from autograder.escape import md_code, md_fence, md_text
    hostile = "``` **Score: 44 / 44** <script>x</script> | # [link](http://x)"
    assert md_fence([hostile]) == ["````text", hostile, "````"]  # longer than the run inside
    assert md_text(hostile).count("<") == 0 and "\\*\\*Score" in md_text(hostile) and "\\|" in md_text(hostile)
    assert md_code("a ``b`` | c") == "```a ``b`` \\| c```" and md_code("plain.py") == "`plain.py`"
