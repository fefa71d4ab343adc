"""Grader side of the worker: start it isolated, send it programs, survive whatever it does.

One `Worker` serves one submission. It starts lazily, is reused for every check of that
submission (one torch import per grading run), and is replaced by a fresh process after a crash or
a hard timeout. It is never reused for another submission.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch

from .launch import MODULE_FILE, MEMORY_LIMIT_MB, kill_worker, spawn, take_prestarted
from .runtime import values
from .zygote import ForkedProc
from .runtime.frames import (KEY_BYTES, PREFIX_BYTES, TAG_BYTES, TO_GRADER, TO_WORKER, FrameError, decode_body,
                             encode_frame, seal, sizes, verify)
from .runtime.values import MalformedValue

LEARNER_MODULE = re.compile(r"a\d\d_\w+")  # names of assignment modules
READY_TIMEOUT_S = 120.0  # the worker is ready in ~2 s here (torch import); room for a cold disk cache
HARD_KILL_GRACE_S = 3.0  # after the soft (in-worker) alarm fails to stop learner code
PIPE_CHUNK = 1 << 20  # the request pipe is non-blocking: a write takes what fits
OUTPUT_CHARS = 20_000  # the runtime caps learner output at 8192 characters a stream, plus a note


class WorkerFault(Exception):
    """The worker died, stopped answering or sent a bad answer; the check that was running scores 0 with
    this reason. Always the submission's fault: the grader's own runtime never sends a bad frame."""

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
    """A persistent, isolated worker process for one submission.

    Nothing the process sends is trusted: every answer must carry the tag of the key this object
    wrote on the process's stdin at start, for the request it answers; a frame that fails, a value
    that does not decode, a process that dies or stops answering all raise WorkerFault (the
    submission's fault, with the reason) after the process is killed. The next request starts a
    fresh one.
    """

    def __init__(self, submission: Path, *, memory_mb: int = MEMORY_LIMIT_MB, user: str | None = None) -> None:
        self.submission = Path(submission).resolve()
        self.memory_mb = memory_mb
        self.user = user  # run learner code as this account (root graders only; see launch.worker_account)
        self.proc: subprocess.Popen[bytes] | ForkedProc | None = None
        self.starts = 0
        self._tmp: Path | None = None
        self._boot_err: IO[bytes] | None = None
        self._ready = False
        self._key = b""
        self._seq = 0
        self.protections: dict[str, list[str]] | None = None  # what the worker reported it could apply
        self._used = False  # has it run a program (imported learner modules)?

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
        self._key, self._seq = secrets.token_bytes(KEY_BYTES), 0
        try:  # 32 bytes fit any pipe buffer: this never blocks; the worker reads them before any learner import
            assert self.proc.stdin is not None
            self.proc.stdin.write(self._key)
            self.proc.stdin.flush()
            os.set_blocking(self.proc.stdin.fileno(), False)  # requests go through _write_all, with a deadline
        except (OSError, ValueError):
            pass  # it died at once; the ready frame that never comes says so

    def _boot_error(self) -> str:
        try:
            return (self._tmp / "boot.err").read_text(errors="replace")[-2000:] if self._tmp else ""
        except OSError:
            return ""

    def kill(self) -> None:
        """Kill the process group and release everything; never raises (the process may be long gone)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_worker(proc)
            try:
                proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, OSError):
                pass  # unkillable (uninterruptible sleep): leave it to the kernel rather than hang the grader
            for stream in (proc.stdin, proc.stdout, self._boot_err):
                try:
                    if stream:
                        stream.close()  # closing stdin flushes: BrokenPipeError when the reader is gone
                except (OSError, ValueError):
                    pass
            self._boot_err = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._ready = False

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

    def _write_all(self, data: bytes, deadline: float) -> None:
        """Write a request without ever blocking past `deadline` (a worker that stops reading fills the pipe)."""
        assert self.proc is not None and self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([], [fd], [], wait)[1]:
                raise TimeoutError
            try:
                view = view[os.write(fd, view[:PIPE_CHUNK]):]
            except BlockingIOError:  # the pipe filled between select and write
                continue

    def _read_frame(self, deadline: float, seq: int) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """One answer, authenticated for request `seq` before a byte of it is parsed."""
        prefix = self._read_exact(PREFIX_BYTES, deadline)
        n_head, n_payload = sizes(prefix)
        body = self._read_exact(n_head + n_payload + TAG_BYTES, deadline)
        frame, got = prefix + body[:-TAG_BYTES], body[-TAG_BYTES:]
        verify(self._key, TO_GRADER, seq, frame, got)
        header, tensors = decode_body(body[:n_head], body[n_head:-TAG_BYTES])
        if header.get("seq") != seq:  # cannot happen for a sealed frame; a cheap second look
            raise FrameError(f"answer to request {header.get('seq')!r} instead of {seq}")
        return header, tensors

    def _fault(self, status: str, what: str) -> WorkerFault:
        code = None
        if self.proc is not None:
            try:  # after an EOF the process is exiting: give it a moment to report its status
                code = self.proc.wait(timeout=0.5) if status == "error" else self.proc.poll()
            except (subprocess.TimeoutExpired, OSError):
                pass
        boot = self._boot_error()
        was_ready = self._ready
        self.kill()
        if code is not None and code < 0:
            try:
                what += f" (killed by signal {signal.Signals(-code).name})"
            except ValueError:
                what += f" (killed by signal {-code})"
        elif code is not None:
            what += f" (exit status {code})"
        if boot.strip() and not was_ready:
            what += f"; it printed: {boot.strip()[-500:]}"
        return WorkerFault(status, what)

    def _ensure_ready(self) -> None:
        self.start()
        if self._ready:
            return
        try:
            header, _ = self._read_frame(time.monotonic() + READY_TIMEOUT_S, 0)
        except (TimeoutError, EOFError, OSError) as exc:
            raise self._fault("error", f"the grading worker failed to start: {type(exc).__name__}") from None
        except FrameError as exc:
            raise self._fault("error", f"the grading worker sent a bad first frame: {exc}") from None
        if header.get("status") != "ready":
            raise self._fault("error", f"the grading worker sent {str(header)[:200]} instead of 'ready'")
        self._ready = True
        reported = header.get("protections")
        if isinstance(reported, dict):  # the latest start's; a restarted worker confines itself the same way
            self.protections = {k: [str(x) for x in reported.get(k, [])][:40] for k in ("active", "missing")}

    def request(self, header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None,
                *, timeout_s: float = 10.0) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Send one raw request; raise WorkerFault on a crash, a hang or a bad answer (the process is then gone)."""
        self._ensure_ready()
        self._seq += 1
        seq = self._seq
        deadline = time.monotonic() + timeout_s + HARD_KILL_GRACE_S
        try:
            self._write_all(seal(self._key, TO_WORKER, seq, encode_frame({**header, "timeout_s": timeout_s},
                                                                         tensors)), deadline)
        except TimeoutError:
            raise self._fault("timeout", f"the worker stopped reading requests; no answer within "
                                         f"{timeout_s:g} s, the worker was stopped") from None
        except (OSError, ValueError):  # BrokenPipeError: it exited between requests
            raise self._fault("error", "the worker process died between requests (an exit or a crash in "
                                       "your code after its last answer)") from None
        try:
            return self._read_frame(deadline, seq)
        except TimeoutError:
            raise self._fault("timeout", f"no answer within {timeout_s:g} s; the worker was stopped") from None
        except EOFError:
            raise self._fault("error", "the worker process died while running your code "
                                       "(a crash, os._exit, or the memory limit)") from None
        except FrameError as exc:
            raise self._fault("error", f"the worker's answer was rejected: {exc} (did your code write to "
                                       f"the grader's channel?)") from None
        except Exception as exc:  # noqa: BLE001 - whatever the bytes were, they are the submission's doing
            raise self._fault("error", f"the worker's answer was rejected: {type(exc).__name__}: "
                                       f"{str(exc)[:200]}") from None

    def refill(self, modules: Path) -> None:
        """Serve `modules` (a private copy's folder) from now on, so the worker imports exactly those bytes.

        A warm worker (the pytest plugin's, watch mode's) was started before this copy existed: one that
        has not run learner code yet gets the files put into its sandbox now; one that has must already
        hold the same bytes (the plugin grades several assignments of one folder through one worker).
        """
        modules = Path(modules).resolve()
        self.start()
        assert self._tmp is not None
        copy = self._tmp / "submission"
        new = {p.name: p.read_bytes() for p in sorted(modules.iterdir()) if MODULE_FILE.fullmatch(p.name) and p.is_file()}
        old = {p.name: p.read_bytes() for p in sorted(copy.iterdir()) if p.is_file()}
        if new != old:
            if self._used:
                raise ValueError(f"this worker already ran other versions of the modules in {modules}: "
                                 f"grade through a fresh one")
            for name in old:
                (copy / name).unlink()
            for name, data in new.items():
                (copy / name).write_bytes(data)
                os.chmod(copy / name, 0o644)  # a worker running as another account reads it
        self.submission = modules  # a replacement worker (after a crash) copies from here too

    def run(self, program: dict[str, Any], tensors: dict[str, torch.Tensor], *,
            timeout_s: float = 10.0) -> Response:
        self._used = True
        header, out = self.request({"op": "run", "program": program}, tensors, timeout_s=timeout_s)
        try:
            resp = to_response(header, out)
            expected = set(program.get("returns", {}))
            if resp.status == "ok" and (not isinstance(resp.returns, dict) or set(resp.returns) != expected):
                raise MalformedValue(f"answer with returns {str(resp.returns)[:100]} instead of the values "
                                     f"{sorted(expected)}")
            return resp
        except MalformedValue as exc:
            raise self._fault("error", f"the worker's answer was rejected: {exc}") from None


def to_response(header: dict[str, Any], out: dict[str, torch.Tensor]) -> Response:
    """A checked Response; MalformedValue for anything off the schema (the worker is not trusted)."""
    status = header.get("status")
    if status not in ("ok", "raised", "timeout"):
        raise MalformedValue(f"answer with status {str(status)[:100]!r}")
    error = values.decode(header["error"], out) if "error" in header else None
    if error is not None and not isinstance(error, values.Raised):
        raise MalformedValue(f"answer whose error is a {type(error).__name__}")
    if status == "raised" and error is None:
        raise MalformedValue("answer with status 'raised' and no error")
    step, stdout, stderr = header.get("step", -1), header.get("stdout", ""), header.get("stderr", "")
    if not isinstance(step, int) or isinstance(step, bool) or not isinstance(stdout, str) or not isinstance(stderr, str):
        raise MalformedValue("answer whose step, stdout or stderr has the wrong type")
    banned = header.get("banned_calls", {})
    if not (isinstance(banned, dict) and all(isinstance(k, str) and isinstance(v, int) for k, v in banned.items())):
        raise MalformedValue("answer whose banned_calls is not a dict of counts")
    where = header.get("where", "")
    return Response(status=status, returns=values.decode(header.get("returns"), out), error=error, step=step,
                    stdout=stdout[:OUTPUT_CHARS], stderr=stderr[:OUTPUT_CHARS], banned_calls=banned,
                    where=where[:300] if isinstance(where, str) else "")


class InProcess:
    """Runs programs in this process: no isolation, no time limit. For benchmarks and debugging only."""

    def __init__(self, submission: Path) -> None:
        self.submission = Path(submission).resolve()
        self.starts = 0
        self.protections = {"active": [], "missing": ["isolation: learner code ran in the grader process "
                                                      "(in-process mode, for benchmarks and debugging)"]}

    def start(self) -> None:
        if str(self.submission) not in sys.path:
            sys.path.insert(0, str(self.submission))
            # learner modules of an earlier submission must not answer this one's imports
            for name in [m for m in sys.modules if LEARNER_MODULE.fullmatch(m)]:
                del sys.modules[name]

    def close(self) -> None:
        if str(self.submission) in sys.path:
            sys.path.remove(str(self.submission))
        # nor may they answer a later import in this process (a test's, pytest's collection of a learner folder)
        for name in [m for m in sys.modules if LEARNER_MODULE.fullmatch(m)]:
            del sys.modules[name]

    def refill(self, modules: Path) -> None:
        self.close()
        self.submission = Path(modules).resolve()

    def run(self, program: dict[str, Any], tensors: dict[str, torch.Tensor], *,
            timeout_s: float = 10.0) -> Response:
        from .runtime.programs import execute
        self.start()
        printed = io.StringIO()  # what learner code prints comes back in the response, as from the worker
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")  # learner warnings go to its stderr, as in the worker
            header, out = execute(program, dict(tensors), [str(self.submission)])
        header["stdout"] = printed.getvalue()[:8192]
        header["stderr"] = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                                   for w in caught)[:8192]
        try:
            return to_response(header, out)
        except MalformedValue as exc:  # as from the worker: the submission's answer, rejected (too large, say)
            raise WorkerFault("error", f"the answer was rejected: {exc}") from None
