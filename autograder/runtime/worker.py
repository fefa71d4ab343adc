"""The worker process: the only place learner code runs on a graded route.

Started by autograder.worker.Worker as `python -I -S -c <bootstrap>` with a scrubbed environment and
a `sys.path` of: this runtime, a private copy of the submission's modules, the standard library and a
filtered view of site-packages. The bootstrap turns bytecode writing off and confines the process
(`confine.py`: namespaces, no capabilities, Landlock, seccomp) before it calls `main`, so neither torch
nor learner code ever runs unconfined. It then loops: read a request frame, run its program, write a
response frame. A worker forked from a zygote (`zygote.py`, grade-all's way) boots the same way from
the fork on, with torch already imported by a process that never held anything of a student's.

Frames travel on the process's original stdin/stdout, moved to unpredictable high descriptor
numbers; learner output never reaches them: file descriptors 1 and 2 are pointed at a scratch file
and `sys.stdout`/`sys.stderr` at capped buffers, and what the learner printed comes back in the
response, truncated. Every answer is sealed with the key the grader wrote on stdin at start (see
frames.py), so a frame learner code writes itself is rejected by the grader.
"""

from __future__ import annotations

import io
import os
import resource
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


def _hide(fd: int) -> int:
    """Move `fd` to an unpredictable high number and close the original (learner code must not guess it)."""
    import random
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = max(min(soft if soft != resource.RLIM_INFINITY else 65536, 65536), 1024)
    rng = random.SystemRandom()
    for _ in range(64):
        target = rng.randrange(256, top)
        try:
            os.fstat(target)
            continue  # taken
        except OSError:
            pass
        os.dup2(fd, target, inheritable=False)
        os.close(fd)
        return target
    return fd  # a crowded fd table: stay where we are (the tags still authenticate every answer)


def main(confined: dict[str, Any] | None = None) -> None:
    """Serve requests; `confined` is what `confine.confine` reported (sent to the grader when ready)."""
    protections = confined or {"active": [], "missing": ["worker confinement: not applied"]}
    # the protocol pipes move to hidden numbers; fds 0, 1 and 2 become /dev/null and a scratch file
    # that learner output lands in. The numbers, the streams and the key live only in this function's
    # locals and in the closures below, never in a module global learner code could import.
    proto_in = os.fdopen(_hide(os.dup(0)), "rb", buffering=0)
    proto_out = os.fdopen(_hide(os.dup(1)), "wb")
    scratch = os.open("worker-output.txt", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(scratch, 1)
    os.dup2(scratch, 2)

    import torch  # after the redirection, so import-time chatter cannot corrupt a frame

    from .frames import KEY_BYTES, TO_GRADER, TO_WORKER, FrameError, encode_frame, read_frame, seal
    from .programs import SoftTimeout, execute, where

    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and results are bit-stable
    # the first kernel dispatch probes the CPU; under Landlock it cannot read /proc/cpuinfo and says so on
    # fd 2 ("Error in cpuinfo: ..."). Probe now and drop what the engine printed, or the first check's
    # learner output would carry it.
    torch.softmax(torch.ones(2, 2) @ torch.ones(2, 2), dim=-1)
    _drain(scratch)

    # the grader writes the key first thing; no learner module has been imported yet
    key = b""
    while len(key) < KEY_BYTES:
        chunk = proto_in.read(KEY_BYTES - len(key))
        if not chunk:
            return
        key += chunk

    def send(seq: int, header: dict[str, Any], tensors: dict[str, Any] | None = None) -> None:
        proto_out.write(seal(key, TO_GRADER, seq, encode_frame({**header, "seq": seq}, tensors)))
        proto_out.flush()

    def on_alarm(signum: int, frame: Any) -> None:
        raise SoftTimeout("time limit reached")

    signal.signal(signal.SIGALRM, on_alarm)
    roots = [os.path.realpath(p) for p in sys.argv[1:]]
    send(0, {"status": "ready", "pid": os.getpid(), "torch": torch.__version__, "protections": protections})
    seq = 0
    while True:
        seq += 1
        try:
            request, tensors = read_frame(proto_in, key, TO_WORKER, seq)
        except EOFError:
            return
        except FrameError:
            os._exit(70)  # not the grader's request (learner code wrote into our stdin): stop answering
        if request.get("op") == "exit":
            return
        if request.get("op") == "describe":  # used by the isolation tests
            send(seq, {"status": "ok", "sys_path": sys.path, "env": dict(os.environ),
                       "cwd": os.getcwd(), "uid": os.getuid(), "protections": protections})
            continue
        out, err = CappedText(OUTPUT_LIMIT), CappedText(OUTPUT_LIMIT)
        sys.stdout, sys.stderr = out, err
        signal.setitimer(signal.ITIMER_REAL, float(request.get("timeout_s", 10.0)))
        try:
            header, result = execute(request["program"], tensors, roots)
        except SoftTimeout as exc:  # where: the learner's function that was running (file.py:LINE in func)
            header, result = {"status": "timeout", "where": where(exc, roots)}, {}
        except Exception as exc:  # the learner's result could not be described (say, a broken __repr__)
            header, result = {"status": "raised", "step": -1, "op": "respond",
                              "error": {"$exc": {"type": type(exc).__name__, "where": "",
                                                 "message": f"result could not be sent: {str(exc)[:500]}"}}}, {}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        header["stdout"] = out.text() + _drain(scratch)
        header["stderr"] = err.text()
        try:
            send(seq, header, result)
        except Exception as exc:  # e.g. a learner tensor of a dtype frames do not carry, or a value nested too deep
            send(seq, {"status": "raised", "step": -1, "op": "respond",
                       "error": {"$exc": {"type": type(exc).__name__,
                                          "message": f"result could not be sent: {str(exc)[:500]}",
                                          "where": ""}}})
