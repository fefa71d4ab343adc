"""Endless loops cost one time limit, not one per check.

When learner code runs out of time, the worker says which of the learner's functions was running
(`a03_attention.py:40 in softmax`, from the interrupted frame). From then on every call gets a short
limit: a call that is stuck in the same function again fails at once with the first reason, and a
call that runs out of the short limit anywhere else is run again with its full time, so a slow but
correct function elsewhere loses nothing. Without this, a loop in a function every check calls
costs the full limit (10 s) per check: 41 s for a03.
"""

from __future__ import annotations

from typing import Any

import torch

from .checks import Executor
from .worker import Response, WorkerFault

FAST_S = 0.5  # the solutions' slowest single call takes < 0.1 s here (checks.CALL_TIMEOUT_S); slower ones are rerun


def _function(where: str) -> str:
    """`a03_attention.py:40 in softmax` -> `a03_attention.py in softmax` (the loop may stop on any line)."""
    place, _, func = where.partition(" in ")
    return f"{place.rsplit(':', 1)[0]} in {func}" if func else where


def _describe(where: str) -> str:
    place, _, func = where.partition(" in ")
    return f"in {func} ({place})" if func else f"at {where}"


class RememberTimeouts:
    """An executor that remembers where learner code ran out of time and fails the next call there fast."""

    def __init__(self, inner: Executor, *, fast_s: float = FAST_S) -> None:
        self.inner = inner
        self.fast_s = fast_s
        self.stuck: dict[str, str] = {}  # `file.py in func` -> the reason given the first time

    def __getattr__(self, name: str) -> Any:  # start, close, starts, submission: the inner executor's
        return getattr(self.inner, name)

    def _first(self, resp: Response, timeout_s: float) -> WorkerFault:
        if not resp.where:
            return WorkerFault("timeout", f"your code ran for more than {timeout_s:g} s (an endless loop?)")
        reason = (f"your code was still running after {timeout_s:g} s, {_describe(resp.where)}: "
                  f"an endless loop?")
        self.stuck[_function(resp.where)] = reason
        return WorkerFault("timeout", reason)

    def run(self, program: dict[str, Any], tensors: dict[str, torch.Tensor], *, timeout_s: float) -> Response:
        if not self.stuck or timeout_s <= self.fast_s:
            resp = self.inner.run(program, tensors, timeout_s=timeout_s)
            if resp.status == "timeout":
                raise self._first(resp, timeout_s)
            return resp
        resp = self.inner.run(program, tensors, timeout_s=self.fast_s)
        if resp.status != "timeout":
            return resp
        if _function(resp.where) in self.stuck:
            first = self.stuck[_function(resp.where)]
            raise WorkerFault("timeout", f"{first} (stuck there in an earlier check already: stopped after "
                                         f"{self.fast_s:g} s this time)")
        resp = self.inner.run(program, tensors, timeout_s=timeout_s)  # somewhere else: it gets its full time
        if resp.status == "timeout":
            raise self._first(resp, timeout_s)
        return resp
