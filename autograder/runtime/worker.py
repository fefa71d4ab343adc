"""The worker process: the only place learner code runs on a graded route.

Started by autograder.worker.Worker as `python -I -S -c <bootstrap>` with a scrubbed environment and
a `sys.path` of: this runtime, the submission folder, the standard library and a filtered view of
site-packages. It then loops: read a request frame, run its program, write a response frame.

Frames travel on the process's original stdin/stdout; learner output never reaches them: file
descriptors 1 and 2 are pointed at a scratch file and `sys.stdout`/`sys.stderr` at capped buffers,
and what the learner printed comes back in the response, truncated.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from typing import Any

OUTPUT_LIMIT = 8192


class CappedText(io.TextIOBase):
    """A text stream that keeps the first `limit` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def text(self) -> str:
        out = "".join(self.parts)
        return out + (f"\n[... {self.dropped} more characters not shown]" if self.dropped else "")


def _drain(fd: int) -> str:
    """Read what C-level code wrote to the scratch file behind fds 1/2, then empty it."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return ""
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, OUTPUT_LIMIT)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    text = data.decode("utf-8", "replace")
    return text + (f"\n[... {size - len(data)} more bytes not shown]" if size > len(data) else "")


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    scratch = os.open("worker-output.txt", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(scratch, 1)
    os.dup2(scratch, 2)

    import torch  # after the redirection, so import-time chatter cannot corrupt a frame

    from .frames import read_frame, write_frame
    from .programs import SoftTimeout, execute, where

    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and results are bit-stable
    # the first backward pass imports this (and sympy): ~0.7 s, paid here while the grader loads suites
    import torch.fx.experimental.symbolic_shapes  # noqa: F401

    def on_alarm(signum: int, frame: Any) -> None:
        raise SoftTimeout("time limit reached")

    signal.signal(signal.SIGALRM, on_alarm)
    roots = [os.path.realpath(p) for p in sys.argv[1:]]
    write_frame(proto_out, {"status": "ready", "pid": os.getpid(), "torch": torch.__version__})
    while True:
        try:
            request, tensors = read_frame(proto_in)
        except EOFError:
            return
        if request.get("op") == "exit":
            return
        if request.get("op") == "describe":  # used by the isolation tests
            write_frame(proto_out, {"status": "ok", "sys_path": sys.path, "env": dict(os.environ),
                                    "cwd": os.getcwd(), "uid": os.getuid()})
            continue
        out, err = CappedText(OUTPUT_LIMIT), CappedText(OUTPUT_LIMIT)
        sys.stdout, sys.stderr = out, err
        signal.setitimer(signal.ITIMER_REAL, float(request.get("timeout_s", 10.0)))
        try:
            header, result = execute(request["program"], tensors, roots)
        except SoftTimeout as exc:  # where: the learner's function that was running (file.py:LINE in func)
            header, result = {"status": "timeout", "where": where(exc, roots)}, {}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        header["stdout"] = out.text() + _drain(scratch)
        header["stderr"] = err.text()
        try:
            write_frame(proto_out, header, result)
        except Exception as exc:  # e.g. a learner tensor safetensors cannot hold
            write_frame(proto_out, {"status": "raised", "step": -1, "op": "respond",
                                    "error": {"$exc": {"type": type(exc).__name__,
                                                       "message": f"result could not be sent: {exc}",
                                                       "where": ""}}})
