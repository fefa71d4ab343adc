"""Start a worker process without importing torch in the grader first.

Kept free of torch so the command line can start the worker (whose torch import takes ~2 s) before
the grader imports torch and its suites: the two imports then overlap. autograder.worker.Worker
talks to the process; this module only builds its sandbox and spawns it.

The sandbox is a fresh folder per worker: a copy of the runtime, a copy of the submission's
assignment modules (`aNN_*.py` only), an empty home (the scratch folder, where the worker mounts a
size-limited tmpfs), the boot log and the confinement plan (`autograder.sandbox`). The worker
applies the plan itself (`runtime/confine.py`) before it imports anything else.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import resource  # here, not in _limits: a child that dropped to another user may not read lib-dynload
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from . import gpt2_vocab, sandbox, zygote
from .sandbox import PRIVATE_NAMES, PROJECT_ROOT  # noqa: F401  (re-exported: tests and gradescope use them)

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
MODULE_FILE = re.compile(r"a\d\d_\w+\.py")  # the only files of a submission the worker gets
# where the grader runs as root (Gradescope), learner code runs as this account (see worker_account)
WORKER_USER_ENV = "SCRATCHGRAD_WORKER_USER"
MEMORY_LIMIT_MB = 6144  # address space; importing torch alone reserves ~650 MB here
FILE_SIZE_LIMIT_MB = 512


def _stdlib_paths() -> list[str]:
    """The standard library entries of the grader's own sys.path (under the base prefix)."""
    base = os.path.realpath(sys.base_prefix)
    return [p for p in sys.path
            if p and os.path.realpath(p).startswith(base + os.sep)
            and "site-packages" not in p and "dist-packages" not in p]


_VIEWS: dict[str, str] = {}  # sys.path entry -> its filtered mirror, built once per grader process


def _view_of(entry: str) -> str:
    """A folder of symlinks to `entry`'s items, minus this project's packages (cached)."""
    if entry not in _VIEWS:
        view = Path(tempfile.mkdtemp(prefix="scratchgrad-view-"))
        os.chmod(view, 0o755)  # only symlinks to public packages: a worker running as another user reads it
        atexit.register(shutil.rmtree, view, True)
        for item in os.scandir(entry):
            if not sandbox.is_private(item.path):
                os.symlink(item.path, view / item.name)
        _VIEWS[entry] = str(view)
    return _VIEWS[entry]


def build_sys_path(base: Path, submission: Path | None) -> list[str]:
    """The worker's whole sys.path: runtime, submission, stdlib, and filtered views of the rest.

    Every other directory on the grader's path (site-packages, PYTHONPATH entries) is mirrored into
    a folder of symlinks that leaves out this project's packages, so `import reference`,
    `import solutions` or `import autograder` cannot succeed in the worker, installed or editable.
    """
    runtime = base / "runtime"
    shutil.copytree(RUNTIME_DIR, runtime / "_sg_runtime", ignore=shutil.ignore_patterns("__pycache__"))
    stdlib = _stdlib_paths()
    views = []
    for entry in (p for p in sys.path if p and p not in stdlib and os.path.isdir(p)):
        if sandbox.in_checkout(entry):
            continue
        views.append(_view_of(entry))
    return [str(runtime), *([str(submission)] if submission is not None else []), *stdlib, *views]


def _copy_modules(submission: Path, dest: Path) -> None:
    """The submission's assignment modules, copied byte for byte (no links, no helper modules, no bytecode)."""
    dest.mkdir()
    for item in sorted(os.scandir(submission), key=lambda e: e.name):
        if MODULE_FILE.fullmatch(item.name) and item.is_file(follow_symlinks=False):
            with open(item.path, "rb") as src:
                (dest / item.name).write_bytes(src.read())
            os.chmod(dest / item.name, 0o644)  # a worker running as another account reads it
    os.chmod(dest, 0o755)


def _limits(memory_mb: int) -> None:  # runs in the child between fork and exec
    for limit, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, memory_mb << 20),
                         (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_MB << 20)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS; the time limits still hold
            pass


def _worker_env(home: Path) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    # some CPUs need these for OpenBLAS (numpy) to compute correctly; they name no path
    env.update({k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")})
    # tiktoken's cache, where gpt2_vocab installs GPT-2's verified files: a02's default tokenizer reads it
    env["TIKTOKEN_CACHE_DIR"] = str(gpt2_vocab.tiktoken_cache_dir())
    return env


@dataclass
class Launched:
    proc: "subprocess.Popen[bytes] | zygote.ForkedProc"
    tmp: Path  # the sandbox: runtime copy, home folder, boot log; removed when the worker is killed
    boot_err: IO[bytes]


def worker_account(user: str | None = None) -> pwd.struct_passwd | None:
    """The unprivileged account the worker runs as: `user`, else $SCRATCHGRAD_WORKER_USER; None to stay as is.

    Only root can switch users, so this is None for any other grader. Raises RuntimeError when the
    account named does not exist: grading on as root would expose the instructor files.
    """
    name = user or os.environ.get(WORKER_USER_ENV)
    if not name or os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"the worker user {name!r} (from {'the user argument' if user else '$' + WORKER_USER_ENV}) "
                           f"does not exist: create it (useradd --system {name}) or unset {WORKER_USER_ENV}") from None


def _hand_over(tmp: Path, account: pwd.struct_passwd) -> None:
    """Make the sandbox (whose runtime and submission copies all may read) the worker account's."""
    for path in (tmp, tmp / "home"):
        os.chown(path, account.pw_uid, account.pw_gid)


def spawn(submission: Path, *, memory_mb: int = MEMORY_LIMIT_MB, user: str | None = None) -> Launched:
    """Start an isolated worker for `submission` (a folder of learner modules).

    With a worker account (`user`, or $SCRATCHGRAD_WORKER_USER, when the grader is root) the process
    drops to it before running anything, and reads a copy of the submission inside its sandbox.
    Where this process has a zygote for that account (`start_zygote`), the worker is forked from it.
    """
    account = worker_account(user)
    sandbox.guard_grader()  # before any learner code runs: its /proc files and ptrace are closed to the worker
    submission = Path(submission).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="scratchgrad-worker-"))
    home = tmp / "home"
    home.mkdir()
    copy = tmp / "submission"
    try:
        _copy_modules(submission, copy)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if account is not None:
        _hand_over(tmp, account)
    sys_path = build_sys_path(tmp, copy)
    plan = tmp / "confine.json"
    views = [p for p in sys_path if p in _VIEWS.values()]  # folders of symlinks: Landlock checks their targets
    sandbox.write_plan(plan, extra_read=[str(tmp / "runtime"), str(copy), *views], scratch=home)
    boot_err = open(tmp / "boot.err", "wb")
    proc: Any = None
    parent = _zygote_for(account, memory_mb)
    if parent is not None:
        try:
            proc = parent.fork(sys_path=sys_path, argv=[str(copy)], plan=plan, cwd=home, env=_worker_env(home),
                               memory_mb=memory_mb, stderr=boot_err)
        except zygote.ZygoteError:
            proc = None  # said once in the log; this and every later worker start the ordinary way
    if proc is None:
        # confinement before anything but the standard library is imported
        boot = _python(sys_path, "import json; from _sg_runtime.confine import confine; "
                                 f"confined = confine(json.load(open({str(plan)!r}))); "
                                 "from _sg_runtime.worker import main; main(confined)")
        try:
            proc = subprocess.Popen(
                [*boot, str(copy)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=boot_err,
                cwd=home, env=_worker_env(home), start_new_session=True, preexec_fn=lambda: _limits(memory_mb),
                **_drop(account))  # the child drops to the account before preexec_fn and exec
        except (OSError, subprocess.SubprocessError):  # e.g. the account may not execute this Python
            boot_err.close()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return Launched(proc, tmp, boot_err)


def _python(sys_path: list[str], code: str) -> list[str]:
    """The command line of a worker or zygote: isolated mode, bytecode off before the first import, `sys_path`."""
    return [sys.executable, "-I", "-S", "-c",
            f"import sys; sys.dont_write_bytecode = True; sys.path[:] = {sys_path!r}; {code}"]


def _drop(account: pwd.struct_passwd | None) -> dict[str, Any]:
    return {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


# -- the zygote: workers forked from one clean process that has imported torch (autograder/zygote.py) --
ZYGOTE_ENV = "SCRATCHGRAD_ZYGOTE"  # "0": never; "1": in every grader process (tests); else: start_zygote's
_ZYGOTES: dict[int | None, zygote.Zygote] = {}  # worker account uid (None: this user) -> this process's zygote


def start_zygote(user: str | None = None) -> str | None:
    """Fork this process's workers (for `user`'s account) from a zygote from now on; returns why not, or None.

    For a grader process that grades many submissions: the zygote imports torch while the caller
    loads its suites, and every worker after that starts in milliseconds instead of ~2 s of CPU.
    $SCRATCHGRAD_ZYGOTE=0 turns it off (then every worker is spawned).
    """
    if os.environ.get(ZYGOTE_ENV) == "0":
        return f"turned off (${ZYGOTE_ENV}=0)"
    why = zygote.supported()
    if why:
        return why
    account = worker_account(user)
    key = None if account is None else account.pw_uid
    if key in _ZYGOTES and _ZYGOTES[key].broken is None and _ZYGOTES[key].owner == os.getpid():
        return None
    home_base = zygote.sandbox_for(account)
    boot = [*_python(build_sys_path(home_base, None), "from _sg_runtime.zygote import serve; serve(sys.argv[1])"),
            str(home_base)]
    if account is not None:  # the zygote removes its folder itself once it has imported from it
        for folder, _, files in os.walk(home_base):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chown(name, account.pw_uid, account.pw_gid)
    try:
        _ZYGOTES[key] = zygote.Zygote(boot, sandbox=home_base,
                                      env=_worker_env(home_base / "home"), memory_mb=MEMORY_LIMIT_MB,
                                      preexec=lambda: _limits(MEMORY_LIMIT_MB), drop=_drop(account))
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(home_base, ignore_errors=True)
        return f"it could not be started: {exc}"
    if len(_ZYGOTES) == 1:
        atexit.register(stop_zygotes)
    return None


def stop_zygotes() -> None:
    """Close this process's zygotes (their remaining children die with them)."""
    for key in list(_ZYGOTES):
        _ZYGOTES.pop(key).close()


def _zygote_for(account: pwd.struct_passwd | None, memory_mb: int) -> zygote.Zygote | None:
    key = None if account is None else account.pw_uid
    if os.environ.get(ZYGOTE_ENV) == "0":
        return None
    if key not in _ZYGOTES and os.environ.get(ZYGOTE_ENV) == "1":
        start_zygote(account.pw_name if account is not None else None)
    parent = _ZYGOTES.get(key)
    if parent is None or parent.broken is not None or parent.owner != os.getpid() or memory_mb > parent.memory_mb:
        return None
    return parent


def _forget_zygotes() -> None:  # in a forked copy of this process: the channels are the parent's
    for parent in _ZYGOTES.values():
        parent.close()  # closes this process's copy of the socket only (see Zygote.close)
    _ZYGOTES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_zygotes)


def kill_worker(proc: Any) -> None:
    """SIGKILL a worker and its process group; never raises (it may be long gone)."""
    if isinstance(proc, subprocess.Popen):  # our child, not reaped yet: its pid, and so its group, is its own
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:  # ProcessLookupError (already gone), PermissionError (another user's group)
            pass
    try:
        proc.kill()  # a forked worker: by pidfd; its group holds only itself (it cannot fork)
    except OSError:
        pass


_PRESTARTED: dict[str, list[Launched]] = {}


def _discard(launched: Launched) -> None:
    kill_worker(launched.proc)
    launched.proc.wait()
    launched.boot_err.close()
    shutil.rmtree(launched.tmp, ignore_errors=True)


def _discard_unused(key: str) -> None:
    for launched in _PRESTARTED.pop(key, []):
        _discard(launched)


def prestart(submission: Path, count: int = 1) -> None:
    """Start `count` workers for `submission` now; each Worker for that folder takes one over."""
    key = os.path.realpath(submission)
    if key not in _PRESTARTED:
        atexit.register(_discard_unused, key)
    waiting = _PRESTARTED.setdefault(key, [])
    waiting += [spawn(Path(key)) for _ in range(count - len(waiting))]


def take_prestarted(submission: Path) -> Launched | None:
    waiting = _PRESTARTED.get(os.path.realpath(submission), [])
    return waiting.pop(0) if waiting else None


def adopt_prestarted(submission: Path, launched: Launched) -> None:
    """Hand `launched` (taken in another process before a fork) to this process's next Worker."""
    _PRESTARTED.setdefault(os.path.realpath(submission), []).insert(0, launched)
