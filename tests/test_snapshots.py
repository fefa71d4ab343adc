"""Public snapshot data stays in step with reference/."""

from __future__ import annotations

import importlib

import pytest

from autograder import snapshots
from autograder.assignments import available


@pytest.mark.parametrize("aid", available())
def test_stored_snapshots_match_the_reference(aid: str) -> None:
    suite = importlib.import_module(f"autograder.suites.{aid}")
    cases, build = getattr(suite, "SNAPSHOTS", []), getattr(suite, "JSON_SNAPSHOTS", None)
    assert cases or build, f"{aid} has no public snapshot cases"
    if cases:
        assert snapshots.stale(aid, cases) == [], "run `scratchgrad snapshots` and commit the data"
    if build:
        assert snapshots.stale_json(aid, build) == [], "run `scratchgrad snapshots` and commit the data"
