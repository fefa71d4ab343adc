"""The zygote: a clean process that has imported torch once and forks each student's worker from there.

Importing torch costs a worker about 2 s of CPU, as much as grading a small assignment. A grader
process that grades many students in a row (`grade-all`, on every executor) therefore starts one
zygote (`autograder/zygote.py` is its grader side) and asks it for each student's worker: a fork,
which costs milliseconds.

What keeps this as safe as a freshly started worker:
- The zygote never holds anything of a student's. It is started like a worker (scrubbed
  environment, `-I -S`, the worker account, the same rlimits, a session of its own), imports torch
  and this runtime from its own copy, and then only forks. Its request carries paths and an
  environment, never a submission's bytes; it imports nothing after its start.
- A forked child is single-threaded (only the forking thread survives a fork), as the confinement
  requires. Before it runs anything but this function it takes the three descriptors the grader
  passed for it (SCM_RIGHTS) as stdin, stdout and stderr, closes every other one (the zygote's
  channel included), starts a session of its own, dies with the zygote (PR_SET_PDEATHSIG), lowers its
  address-space limit, takes its environment, folder and `sys.path`, forgets the zygote's copy of the
  runtime, seeds torch's generator afresh, and then boots exactly as a spawned worker does: `confine(plan)` from its own runtime
  copy, then `worker.main`. Learner code is imported only after that.
- The zygote is not dumpable, so no process of its account can open its /proc files or memory; a
  confined worker can neither signal nor ptrace it (seccomp; Landlock's scope). The child turns
  dumpable back on before it confines itself, since writing its own uid_map needs it (a spawned
  worker is dumpable too).
- The zygote reaps a child only when the grader asks (`status`), so a child's pid is never reused
  while the grader may still signal it by number; the grader also holds a pidfd for each child.

The channel is a SOCK_SEQPACKET socket on the zygote's stdin: one JSON request per packet, one JSON
answer per packet. Requests: `spawn` (with three descriptors: the child's pid) and `status` (reaps
the child if it has ended: its Popen-style return code, else null); the grader signals a child itself,
through its pidfd. The zygote exits when the grader closes the channel, and kills every child it
still has.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import shutil
import signal
import socket
import sys
from typing import Any

MAX_PACKET = 1 << 20
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4


def _answer(ctl: socket.socket, message: dict[str, Any]) -> None:
    ctl.send(json.dumps(message).encode())


def _returncode(pid: int) -> int | None:
    """Reap `pid` if it has ended: its Popen-style return code, else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -signal.SIGKILL  # not ours (never happens for a pid this zygote forked)
    return os.waitstatus_to_exitcode(status) if done else None


def _become_worker(ctl: socket.socket, fds: list[int], request: dict[str, Any], zygote: int) -> None:
    """In the forked child: turn into a freshly booted worker for `request`'s sandbox (never returns)."""
    ctl.close()
    for target, fd in enumerate(fds):  # stdin, stdout, stderr: the grader's pipes and the boot log
        os.dup2(fd, target)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != zygote:  # the zygote died before the request took effect
        os._exit(75)
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # writing /proc/self/uid_map in a new user namespace needs it
    limit = int(request["memory_mb"]) << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or limit <= hard:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # found again from the new TMPDIR
    sys.argv[:] = ["-c", *request["argv"]]
    for name in [m for m in sys.modules if m == "_sg_runtime" or m.startswith("_sg_runtime.")]:
        del sys.modules[name]  # the zygote's copy: this worker reads only its own sandbox's
    sys.path[:] = request["sys_path"]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    # a fresh process seeds torch's generator from the OS (and Python's `random` is reseeded at fork):
    # each worker gets its own seed, as it would have, instead of the zygote's
    sys.modules["torch"].seed()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    confine = importlib.import_module("_sg_runtime.confine").confine
    with open(request["plan"], encoding="utf-8") as f:
        confined = confine(json.load(f))
    importlib.import_module("_sg_runtime.worker").main(confined)


def serve(sandbox: str) -> None:
    """The zygote's life: import torch, say ready, fork workers on request until the grader hangs up.

    Once everything is imported it removes its own folder, `sandbox` (the runtime copy it imported
    from): nothing is read from there later, and a grader killed at any moment leaves no folder behind."""
    from . import confine

    ctl = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.close(devnull)
    undumpable = confine.make_undumpable()
    import torch

    torch.set_num_threads(1)
    # the first kernel dispatch probes the CPU (it reads /proc/cpuinfo, which a confined worker cannot)
    torch.softmax(torch.ones(2, 2) @ torch.ones(2, 2), dim=-1)
    # every runtime module once, for what it imports (torch.nn, the optimizers...); each child drops
    # these module objects and imports its own sandbox's copies, which then find their imports loaded
    package = os.path.dirname(os.path.abspath(__file__))
    for entry in sorted(os.listdir(package)):
        if entry.endswith(".py") and entry not in ("__init__.py", "zygote.py"):
            importlib.import_module(f"{__package__}.{entry[:-3]}")
    me = os.getpid()
    children: set[int] = set()
    shutil.rmtree(sandbox, ignore_errors=True)
    _answer(ctl, {"status": "ready", "pid": me, "torch": torch.__version__, "undumpable": undumpable is None})
    try:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(ctl, MAX_PACKET, 3)
            except (OSError, ValueError):
                return
            if not data:
                return  # the grader closed the channel
            try:
                request = json.loads(data)
                op, pid = request.get("op"), request.get("pid")
            except (ValueError, AttributeError):
                request, op, pid = {}, None, None
            if op == "spawn" and len(fds) == 3:
                sys.stdout.flush()
                sys.stderr.flush()
                child = os.fork()
                if child == 0:
                    try:
                        _become_worker(ctl, fds, request, me)
                    finally:
                        os._exit(0)  # the worker's main returned (the grader closed its pipe) or raised
                for fd in fds:
                    os.close(fd)
                children.add(child)
                _answer(ctl, {"pid": child})
            elif op == "status" and pid in children:
                code = _returncode(pid)
                if code is not None:
                    children.discard(pid)
                _answer(ctl, {"pid": pid, "returncode": code})
            else:
                for fd in fds:
                    os.close(fd)
                _answer(ctl, {"error": f"bad request {str(request)[:200]} with {len(fds)} descriptors"})
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
