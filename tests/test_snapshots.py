"""Public snapshot data stays in step with reference/."""

from __future__ import annotations

import importlib

import pytest

from autograder import snapshots
from autograder.assignments import available


@pytest.mark.parametrize("aid", available())
def test_stored_snapshots_match_the_reference(aid: str) -> None:
    cases = importlib.import_module(f"autograder.suites.{aid}").SNAPSHOTS
    assert cases, f"{aid} has no public snapshot cases"
    assert snapshots.stale(aid, cases) == [], "run `scratchgrad snapshots` and commit the data"
