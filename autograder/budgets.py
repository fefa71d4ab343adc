"""What stops a grading early: wall-time budgets and signals (torch-free: the command line installs
the signal handlers and shows the budgets in --help before anything heavy is imported).

The solutions' whole grading takes 16-20 s for seven assignments on an idle 2-core machine (42 s with
six other test runs sharing it), the slowest assignment 10 s of that. 60 s an assignment is 6x the
slowest under load, and 300 s a submission leaves room for all 14 planned assignments at that pace.
They bound what per-call limits cannot: code that sleeps just under the call limit on every call, or
that crashes so every check pays for a fresh worker. `grade-all` waits for one student as long as
the submission budget plus STARTUP_SLACK_S (worker start, suites, the report) before it gives up.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

ASSIGNMENT_BUDGET_S = 60.0
SUBMISSION_BUDGET_S = 300.0
STARTUP_SLACK_S = 120.0


class GradingInterrupted(BaseException):
    """SIGTERM or SIGINT reached the grader: stop, report what was graded (BaseException: no check eats it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"grading interrupted by signal {signum}")
        self.signum = signum


class Stop:
    """SIGTERM/SIGINT while checks run: raise GradingInterrupted there (armed), else remember it for later."""

    signum: int | None = None
    armed = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        if cls.signum is not None:
            return  # a second signal while the report is written: finish writing it
        cls.signum = signum
        if cls.armed:
            cls.armed = False
            raise GradingInterrupted(signum)

    @classmethod
    def poll(cls) -> None:
        if cls.signum is not None:
            raise GradingInterrupted(cls.signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """For the commands that grade one submission: SIGTERM and SIGINT stop grading with a partial report.

    Main thread only. The handlers stay installed after a signal arrived (the caller writes its report
    and exits); otherwise the previous ones come back.
    """
    Stop.signum, Stop.armed = None, False
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    old = {sig: signal.signal(sig, Stop.handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        Stop.armed = False
        if Stop.signum is None:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def interrupted_by() -> int | None:
    """The signal that stopped grading under stop_on_signals(), or None."""
    return Stop.signum


