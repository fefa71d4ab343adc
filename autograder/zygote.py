"""Grader side of the zygote: one clean process per grader that forks each student's worker.

A grader process that grades many submissions in a row (`grade-all`'s, locally or on Dask) starts
one zygote (`launch.start_zygote`); from then on `launch.spawn` asks it for each worker instead of
starting a fresh interpreter, which saves the worker's torch import (about 2 s of CPU a student).
`autograder/runtime/zygote.py` says why a forked worker is confined exactly as a spawned one.

`ForkedProc` stands in for the `subprocess.Popen` of a spawned worker: pid, stdin, stdout, poll,
wait, kill. The grader is not its parent, so it holds a pidfd to signal it (a pid number could be
reused once the process is reaped) and asks the zygote, which reaps a child only when asked, for its
return code. Anything wrong with the zygote (it died, stopped answering, answered nonsense) makes
`launch.spawn` start workers the ordinary way for the rest of the process's life, and says so once
in the grader's log: slower, never a lost grade.
"""

from __future__ import annotations

import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

READY_TIMEOUT_S = 120.0  # the zygote imports torch, like a worker (see worker.READY_TIMEOUT_S)
ANSWER_TIMEOUT_S = 30.0  # a fork or a status takes milliseconds
MAX_PACKET = 1 << 20


class ZygoteError(Exception):
    """The zygote cannot serve (any more); the caller starts its worker the ordinary way."""


def supported() -> str | None:
    """Why this platform cannot fork workers from a zygote (None when it can)."""
    if not sys.platform.startswith("linux"):
        return f"the zygote needs Linux (this is {sys.platform})"
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return "the zygote needs pidfds (Python >= 3.9 on Linux >= 5.3)"
    if not hasattr(socket, "send_fds"):
        return "the zygote needs socket.send_fds (Python >= 3.9)"
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:  # ENOSYS before Linux 5.3, or a seccomp profile that refuses it
        return f"the zygote needs pidfds, which this kernel refuses: {exc}"
    return None


class ForkedProc:
    """A worker forked by the zygote, with the part of `subprocess.Popen`'s interface `Worker` uses."""

    def __init__(self, zygote: "Zygote", pid: int, stdin_fd: int, stdout_fd: int) -> None:
        self.pid = pid
        self.args = ["<forked by the zygote>", str(pid)]
        self.returncode: int | None = None
        self._zygote = zygote
        # the zygote has not reaped it (it reaps only on request): this pidfd is surely this process's
        self._pidfd: int | None = os.pidfd_open(pid)
        self.stdin: IO[bytes] | None = os.fdopen(stdin_fd, "wb")
        self.stdout: IO[bytes] | None = os.fdopen(stdout_fd, "rb")

    def send_signal(self, sig: int) -> None:
        if self._pidfd is not None and self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _ended(self, wait_s: float = 0.0) -> bool:
        return self._pidfd is None or bool(select.select([self._pidfd], [], [], wait_s)[0])

    def poll(self) -> int | None:
        if self.returncode is None and self._ended():
            self.returncode = self._zygote.returncode(self.pid)
            if self.returncode is not None:
                self._close_pidfd()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._ended(min(left, 1.0))
        return self.returncode

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        try:
            self._close_pidfd()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Zygote:
    """The zygote process of this grader (for one worker account), and the channel to it."""

    def __init__(self, boot: list[str], *, sandbox: Path, env: dict[str, str], memory_mb: int,
                 preexec: Any, drop: dict[str, Any]) -> None:
        self.owner = os.getpid()
        self.memory_mb = memory_mb
        self.sandbox = sandbox
        self.broken: str | None = None
        self._ready = False
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with open(sandbox / "zygote.err", "wb") as err:
                self.proc = subprocess.Popen(boot, stdin=theirs, stdout=subprocess.DEVNULL, stderr=err,
                                             cwd=sandbox / "home", env=env, start_new_session=True,
                                             preexec_fn=preexec, **drop)
        except BaseException:
            self._sock.close()
            raise
        finally:
            theirs.close()

    # -- the channel ----------------------------------------------------------------------------
    def _fail(self, why: str) -> ZygoteError:
        if self.broken is None:
            self.broken = why
            log = ""
            try:
                log = (self.sandbox / "zygote.err").read_text(errors="replace").strip()[-500:]
            except OSError:
                pass
            print(f"scratchgrad: the worker zygote stopped serving ({why}); workers start the ordinary way "
                  f"from now on{': it printed: ' + log if log else ''}", file=sys.stderr)
            self.close()
        return ZygoteError(self.broken)

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        if not select.select([self._sock], [], [], timeout_s)[0]:
            raise self._fail(f"no answer within {timeout_s:g} s")
        data = self._sock.recv(MAX_PACKET)
        if not data:
            raise self._fail("it exited")
        try:
            answer = json.loads(data)
        except ValueError:
            raise self._fail(f"unreadable answer {data[:100]!r}") from None
        if not isinstance(answer, dict) or "error" in answer:
            raise self._fail(f"answer {str(answer)[:200]}")
        return answer

    def _call(self, request: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        if self.broken is not None:
            raise ZygoteError(self.broken)
        if os.getpid() != self.owner:  # a forked copy of the grader: the channel is its parent's
            raise ZygoteError("the zygote belongs to another grader process")
        try:
            if not self._ready:
                answer = self._receive(READY_TIMEOUT_S)
                if answer.get("status") != "ready":
                    raise self._fail(f"first answer {str(answer)[:200]} instead of 'ready'")
                self._ready = True  # it has removed its folder (runtime/zygote.py)
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds or [])
            return self._receive(ANSWER_TIMEOUT_S)
        except OSError as exc:
            raise self._fail(f"{type(exc).__name__}: {exc}") from None

    # -- what launch and ForkedProc ask ---------------------------------------------------------
    def fork(self, *, sys_path: list[str], argv: list[str], plan: Path, cwd: Path, env: dict[str, str],
             memory_mb: int, stderr: IO[bytes]) -> ForkedProc:
        """A worker booted in `cwd` as `launch.spawn` would boot it, its stderr going to `stderr`."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            answer = self._call({"op": "spawn", "sys_path": sys_path, "argv": argv, "plan": str(plan),
                                 "cwd": str(cwd), "env": env, "memory_mb": memory_mb},
                                [in_r, out_w, stderr.fileno()])
            pid = answer.get("pid")
            if not isinstance(pid, int) or pid <= 0:
                raise self._fail(f"answer {str(answer)[:200]} to a spawn")
            try:
                return ForkedProc(self, pid, in_w, out_r)
            except OSError as exc:  # no pidfd for it: the child reads EOF for its key and exits
                raise self._fail(f"no pidfd for the worker it forked: {exc}") from None
        except BaseException:
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            os.close(in_r)
            os.close(out_w)

    def returncode(self, pid: int) -> int | None:
        """A child's Popen-style return code once it has ended (the zygote reaps it then), else None.

        Without a zygote to ask (it died, or this is a forked copy of the grader), an ended child's
        code is unknown: it is reported as killed (-SIGKILL), which is what the zygote's death does to
        its children."""
        try:
            code = self._call({"op": "status", "pid": pid}).get("returncode")
        except ZygoteError:
            return -signal.SIGKILL
        return code if isinstance(code, int) else None

    def close(self) -> None:
        """Hang up: the zygote kills its remaining children and exits."""
        if os.getpid() != self.owner:
            self._sock.close()  # this process's copy of the descriptor only
            return
        self._sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our child, not reaped: its group is its own
            except OSError:
                pass
            self.proc.wait()
        shutil.rmtree(self.sandbox, ignore_errors=True)


def sandbox_for(account: pwd.struct_passwd | None) -> Path:
    """The zygote's own folder (its runtime copy goes in by launch), the worker account's; the zygote
    removes it once it has imported from it, `close` if it never got that far."""
    tmp = Path(tempfile.mkdtemp(prefix="scratchgrad-zygote-"))
    (tmp / "home").mkdir()
    if account is not None:
        for path in (tmp, tmp / "home"):
            os.chown(path, account.pw_uid, account.pw_gid)
    return tmp
