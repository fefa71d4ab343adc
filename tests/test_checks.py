"""Checks in isolation from the worker: statuses, shrinking, seeds, grader faults."""

from __future__ import annotations

import torch

from autograder.checks import Suite, run_check
from autograder.compare import CheckFailure
from autograder.strategies import shapes
from autograder.worker import Response


class Echo:
    """An executor that returns the program's first tensor: lets checks run without learner code."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, program, tensors, *, timeout_s):
        self.calls += 1
        return Response("ok", returns={"n": max(t.numel() for t in tensors.values())})


def test_failure_is_shrunk_and_reported_with_its_example() -> None:
    suite = Suite("a03_attention")

    @suite.check(points=2, visibility="public", kind="property", description="d")
    def small_only(ctx) -> None:
        @ctx.given(shape=shapes(max_dims=3, max_side=5))
        def _(shape) -> None:
            ctx.example(shapes={"x": list(shape)})
            p = ctx.program()
            n = ctx.run(p.returns(x=p.tensor("x", torch.zeros(shape))))["n"]
            if n >= 4:
                raise CheckFailure(f"too big: {n}")

    result = run_check(suite.checks[0], suite, Echo())
    assert result.status == "failed" and result.score == 0 and result.max_score == 2
    assert result.message == "too big: 4"  # Hypothesis shrank to the smallest failing size
    assert result.counterexample["shapes"]["x"] in ([4], [1, 4], [2, 2], [4, 1])


def test_same_seed_same_examples_other_seed_other_examples() -> None:
    suite = Suite("a03_attention")
    seen: list = []

    @suite.check(points=1, visibility="hidden", kind="property", description="d", max_examples=8)
    def record(ctx) -> None:
        @ctx.given(shape=shapes())
        def _(shape) -> None:
            seen.append(shape)

    run_check(suite.checks[0], suite, Echo(), seed=0)
    first = list(seen)
    seen.clear()
    run_check(suite.checks[0], suite, Echo(), seed=0)
    assert seen == first
    seen.clear()
    run_check(suite.checks[0], suite, Echo(), seed=1)
    assert seen != first


def test_a_grader_bug_is_an_error_record_flagged_as_a_fault() -> None:
    suite = Suite("a03_attention")

    @suite.check(points=1, visibility="public", kind="property", description="d")
    def broken(ctx) -> None:
        raise KeyError("oops")

    result = run_check(suite.checks[0], suite, Echo())
    assert result.status == "error" and result.grader_fault and "internal grader error" in result.message


def test_not_implemented_stops_the_check_without_shrinking() -> None:
    from autograder.runtime.values import Raised

    class Stub(Echo):
        def run(self, program, tensors, *, timeout_s):
            self.calls += 1
            return Response("raised", error=Raised("NotImplementedError", "a03: softmax"), step=0)

    suite = Suite("a03_attention")

    @suite.check(points=1, visibility="public", kind="property", description="d", max_examples=20)
    def stub(ctx) -> None:
        @ctx.given(shape=shapes())
        def _(shape) -> None:
            p = ctx.program()
            ctx.run(p.returns(x=p.tensor("x", torch.zeros(shape))))

    executor = Stub()
    result = run_check(suite.checks[0], suite, executor)
    assert result.status == "failed" and result.message == "not implemented yet: a03: softmax"
    assert executor.calls == 1


def test_bad_check_declarations_are_refused() -> None:
    suite = Suite("a03_attention")
    for kwargs, text in [({"visibility": "secret"}, "visibility='secret'"), ({"kind": "vibes"}, "kind='vibes'"),
                         ({"points": -1}, "points=-1")]:
        args = {"points": 1, "visibility": "public", "kind": "property", "description": "d", **kwargs}
        try:
            suite.check(**args)
        except ValueError as exc:
            assert text in str(exc)
        else:
            raise AssertionError(f"{kwargs} accepted")
