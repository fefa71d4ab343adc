"""Checks that need what an installation may lack (GPT-2's files): never a machine-dependent score."""

from __future__ import annotations

import pytest

from autograder import resources
from autograder.grading import grade
from autograder.resources import SetupError
from tests.conftest import SOLUTIONS, checks_by_name

AID = "a02_data"
GPT2_CHECK = "default_tokenizer_is_gpt2"  # public, 2 points, needs=("gpt2",)


@pytest.fixture
def no_gpt2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(resources._PROBED, "gpt2", "no network and no cached copy")


def test_grading_stops_with_the_fix_when_gpt2_is_missing(no_gpt2: None) -> None:
    with pytest.raises(SetupError) as err:
        grade(SOLUTIONS, [AID], isolate=False)
    message = str(err.value)
    assert "no network and no cached copy" in message
    assert "SCRATCHGRAD_GPT2_TARBALL" in message and "--drop-unavailable" in message
    with pytest.raises(SetupError):  # grade-all checks before it starts anyone
        resources.preflight([AID], policy="error")


def test_self_check_skips_and_leaves_it_out_of_the_maximum(no_gpt2: None) -> None:
    suite = resources_suite()
    full = sum(c.points for c in suite.checks if c.visibility == "public") + (suite.ban_points if suite.bans else 0)
    report = grade(SOLUTIONS, [AID], visibility="public", isolate=False)
    result = checks_by_name(report, AID)[GPT2_CHECK]
    assert result.status == "skipped" and result.max_score == 0 and "no network and no cached copy" in result.message
    assert report.max_score == full - 2
    assert report.score == report.max_score
    assert report.grader["unavailable"] == {"gpt2": "no network and no cached copy"}


def test_drop_leaves_the_checks_out_for_everyone(no_gpt2: None) -> None:
    report = grade(SOLUTIONS, [AID], visibility="public", isolate=False, unavailable="drop")
    assert GPT2_CHECK not in checks_by_name(report, AID)
    assert report.score == report.max_score and report.grader["unavailable"]
    assert resources.preflight([AID], policy="drop") == {"gpt2": "no network and no cached copy"}


def test_nothing_changes_when_everything_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(resources._PROBED, "gpt2", None)
    assert resources.preflight([AID], policy="error") == {}
    with pytest.raises(ValueError, match="needs='gpu'"):
        resources.missing(["gpu"])


def resources_suite():
    from autograder.assignments import load_suite
    return load_suite(AID, hidden=False)
