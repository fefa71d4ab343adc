"""An endless loop costs one time limit: the next calls stuck in the same function fail fast, others keep theirs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from autograder.grading import grade
from autograder.timeouts import RememberTimeouts
from autograder.worker import Response, WorkerFault
from tests.conftest import checks_by_name, make_submission


class Scripted:
    """An executor whose calls time out in the function named, or succeed."""

    def __init__(self, script: list[tuple[str, float]]) -> None:
        self.script = script  # (where it would time out, or "" for done; seconds it needs)
        self.calls: list[float] = []

    def run(self, program, tensors, *, timeout_s: float) -> Response:
        where, needs = self.script[len(self.calls)] if len(self.calls) < len(self.script) else ("", 0.0)
        self.calls.append(timeout_s)
        if needs > timeout_s:
            return Response(status="timeout", where=where)
        return Response(status="ok", returns={})


def test_stuck_again_in_the_same_function_fails_fast_with_the_first_reason() -> None:
    inner = Scripted([("a03_attention.py:36 in softmax", 1e9)] * 3)
    ex = RememberTimeouts(inner, fast_s=0.5)
    with pytest.raises(WorkerFault) as first:
        ex.run({}, {}, timeout_s=10.0)
    assert "after 10 s, in softmax (a03_attention.py:36)" in first.value.reason
    for _ in range(2):
        with pytest.raises(WorkerFault) as again:
            ex.run({}, {}, timeout_s=10.0)
        assert again.value.reason.startswith(first.value.reason) and "0.5 s" in again.value.reason
    assert inner.calls == [10.0, 0.5, 0.5]


def test_a_slow_call_elsewhere_gets_its_full_time_back() -> None:
    inner = Scripted([("a03_attention.py:36 in softmax", 1e9), ("a04_gpt_blocks.py:80 in forward", 2.0)])
    ex = RememberTimeouts(inner, fast_s=0.5)
    with pytest.raises(WorkerFault):
        ex.run({}, {}, timeout_s=10.0)
    assert ex.run({}, {}, timeout_s=10.0).status == "ok"  # ran out of 0.5 s elsewhere: rerun with 10 s
    assert inner.calls == [10.0, 0.5, 10.0]


def test_an_endless_loop_every_check_calls_costs_one_limit(tmp_path: Path) -> None:
    sub = make_submission(tmp_path)
    path = sub / "a03_attention.py"
    old = "    x_max = x.amax(dim=dim, keepdim=True)"
    path.write_text(path.read_text().replace(old, "    while True:\n        pass\n" + old))
    t0 = time.monotonic()
    report = grade(sub, ["a03_attention"], visibility="public", call_timeout_s=3.0)
    took = time.monotonic() - t0
    timeouts = [c for c in checks_by_name(report, "a03_attention").values() if c.status == "timeout"]
    assert len(timeouts) >= 5
    assert all("in softmax (a03_attention.py:" in c.message for c in timeouts)
    assert sum(c.elapsed_s > 3.0 for c in timeouts) == 1  # only the first check waits out the limit
    assert took < 3.0 * 3 + 2.0 * len(timeouts), took  # was 3 s (the limit) per check
