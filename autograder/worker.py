"""Grader side of the worker: start it isolated, send it programs, survive whatever it does.

One `Worker` serves one submission. It starts lazily, is reused for every check of that
submission (one torch import per grading run), and is replaced by a fresh process after a crash or
a hard timeout. It is never reused for another submission.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .launch import MEMORY_LIMIT_MB, spawn, take_prestarted
from .runtime.frames import MAX_HEADER_BYTES, MAX_PAYLOAD_BYTES, FrameError, decode_body, encode_frame
from .runtime import values

LEARNER_MODULE = re.compile(r"a\d\d_\w+")  # names of assignment modules
READY_TIMEOUT_S = 120.0  # the worker is ready in ~2 s here (torch import); room for a cold disk cache
HARD_KILL_GRACE_S = 3.0  # after the soft (in-worker) alarm fails to stop learner code


class WorkerFault(Exception):
    """The worker died or stopped answering; the check that was running scores 0 with this reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status  # "error" or "timeout"
        self.reason = reason


@dataclass
class Response:
    status: str  # ok | raised | timeout
    returns: Any = None
    error: values.Raised | None = None
    step: int = -1
    stdout: str = ""
    stderr: str = ""
    banned_calls: dict[str, int] = field(default_factory=dict)
    where: str = ""  # on a timeout: the learner's code that was running, as `file.py:LINE in func`


class Worker:
    """A persistent, isolated worker process for one submission."""

    def __init__(self, submission: Path, *, memory_mb: int = MEMORY_LIMIT_MB, user: str | None = None) -> None:
        self.submission = Path(submission).resolve()
        self.memory_mb = memory_mb
        self.user = user  # run learner code as this account (root graders only; see launch.worker_account)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._tmp: Path | None = None
        self._ready = False

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the process (returns at once; the torch import overlaps the grader's work)."""
        if self.proc is not None:
            return
        prestarted = take_prestarted(self.submission) if self.user is None else None
        launched = prestarted or spawn(self.submission, memory_mb=self.memory_mb, user=self.user)
        self.proc, self._tmp, self._boot_err = launched.proc, launched.tmp, launched.boot_err
        self.starts += 1
        self._ready = False

    def _boot_error(self) -> str:
        try:
            return (self._tmp / "boot.err").read_text(errors="replace")[-2000:] if self._tmp else ""
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream:
                    stream.close()
            self._boot_err.close()
        self.proc = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def close(self) -> None:
        """Stop the worker (killed outright: it holds nothing worth a graceful exit)."""
        self.kill()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- talking ----------------------------------------------------------------------------
    def _read_exact(self, n: int, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks, left = [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        prefix = self._read_exact(16, deadline)
        n_head, n_payload = int.from_bytes(prefix[:8], "big"), int.from_bytes(prefix[8:], "big")
        if n_head > MAX_HEADER_BYTES or n_payload > MAX_PAYLOAD_BYTES:
            raise FrameError(f"worker sent an oversized frame ({n_head} B header, {n_payload} B payload)")
        head = self._read_exact(n_head, deadline)
        payload = self._read_exact(n_payload, deadline) if n_payload else b""
        return decode_body(head, payload)

    def _fault(self, status: str, what: str) -> WorkerFault:
        code = None
        if self.proc is not None:
            try:  # after an EOF the process is exiting: give it a moment to report its status
                code = self.proc.wait(timeout=0.5) if status == "error" else self.proc.poll()
            except subprocess.TimeoutExpired:
                pass
        boot = self._boot_error()
        self.kill()
        if code is not None and code < 0:
            what += f" (killed by signal {signal.Signals(-code).name})"
        elif code is not None:
            what += f" (exit status {code})"
        if boot.strip() and not self._ready:
            what += f"; it printed: {boot.strip()[-500:]}"
        return WorkerFault(status, what)

    def _ensure_ready(self) -> None:
        self.start()
        if self._ready:
            return
        try:
            header, _ = self._read_frame(time.monotonic() + READY_TIMEOUT_S)
        except (TimeoutError, EOFError, FrameError) as exc:
            raise self._fault("error", f"the grading worker failed to start: {type(exc).__name__}") from None
        if header.get("status") != "ready":
            raise self._fault("error", f"the grading worker sent {header!r} instead of 'ready'")
        self._ready = True

    def request(self, header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None,
                *, timeout_s: float = 10.0) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Send one raw request; raise WorkerFault on a crash or a hang (the process is then gone)."""
        self._ensure_ready()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(encode_frame({**header, "timeout_s": timeout_s}, tensors))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fault("error", "the worker process died before the request was sent") from None
        try:
            return self._read_frame(time.monotonic() + timeout_s + HARD_KILL_GRACE_S)
        except TimeoutError:
            raise self._fault("timeout", f"no answer within {timeout_s:g} s; the worker was stopped") from None
        except EOFError:
            raise self._fault("error", "the worker process died while running your code "
                                       "(a crash, os._exit, or the memory limit)") from None
        except FrameError as exc:
            raise self._fault("error", f"the worker sent a malformed answer: {exc}") from None

    def run(self, program: dict[str, Any], tensors: dict[str, torch.Tensor], *,
            timeout_s: float = 10.0) -> Response:
        header, out = self.request({"op": "run", "program": program}, tensors, timeout_s=timeout_s)
        if header.get("status") not in ("ok", "raised", "timeout"):
            raise self._fault("error", f"the worker answered with status {header.get('status')!r}")
        return to_response(header, out)


def to_response(header: dict[str, Any], out: dict[str, torch.Tensor]) -> Response:
    return Response(
        status=header["status"],
        returns=values.decode(header.get("returns"), out),
        error=values.decode(header["error"], out) if "error" in header else None,
        step=header.get("step", -1),
        stdout=header.get("stdout", ""), stderr=header.get("stderr", ""),
        banned_calls=header.get("banned_calls", {}), where=str(header.get("where", ""))[:300])


class InProcess:
    """Runs programs in this process: no isolation, no time limit. For benchmarks and debugging only."""

    def __init__(self, submission: Path) -> None:
        self.submission = Path(submission).resolve()
        self.starts = 0

    def start(self) -> None:
        if str(self.submission) not in sys.path:
            sys.path.insert(0, str(self.submission))
            # learner modules of an earlier submission must not answer this one's imports
            for name in [m for m in sys.modules if LEARNER_MODULE.fullmatch(m)]:
                del sys.modules[name]

    def close(self) -> None:
        if str(self.submission) in sys.path:
            sys.path.remove(str(self.submission))

    def run(self, program: dict[str, Any], tensors: dict[str, torch.Tensor], *,
            timeout_s: float = 10.0) -> Response:
        from .runtime.programs import execute
        self.start()
        with warnings.catch_warnings(record=True) as caught:  # learner warnings go to its stderr, as in the worker
            warnings.simplefilter("always")
            header, out = execute(program, dict(tensors), [str(self.submission)])
        header["stderr"] = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                                   for w in caught)[:8192]
        return to_response(header, out)
