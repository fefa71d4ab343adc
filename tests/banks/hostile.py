"""Hostile learner code: what a student who wants a grade they did not earn might put in a submission.

`ATTACKS` is a learner module (`a99_hostile.py`): one function per attack, each returning what it
achieved as strings ("denied: PermissionError ..." or what it got). `tests/hostile_driver.py` fills in
the paths (`@NAME@` placeholders), runs every attack through one shared worker, and grades two a03
submissions built from `STEAL_AT_IMPORT` and `ATTACK_IN_SOFTMAX`.
"""

ATTACKS = r'''
import ctypes, os, signal, socket, subprocess, sys, threading, time
from pathlib import Path

PROJECT = @PROJECT@
PEER = @PEER@
LIVE = @LIVE@
MARK = @MARK@
PORT = @PORT@


def _try(fn):
    try:
        got = fn()
        return f"done: {str(got)[:300]}"
    except BaseException as exc:  # noqa: BLE001 -- an attack reports how it was stopped
        return f"denied: {type(exc).__name__}: {str(exc)[:200]}"


def _read(path):
    with open(path, "rb") as f:
        return f.read(4000).decode("utf-8", "replace")


def read_instructor_files(x):
    out = {"reference": _try(lambda: _read(f"{PROJECT}/reference/a03_attention.py")),
           "hidden": _try(lambda: _read(f"{PROJECT}/autograder/hidden/a03_attention.py")),
           "listing": _try(lambda: os.listdir(f"{PROJECT}/autograder/hidden"))}
    for i, parent in enumerate(Path(__file__).resolve().parents):  # up from the submission's own folder
        out[f"parent{i}"] = _try(lambda: _read(parent / "reference" / "a03_attention.py"))
        out[f"parent{i}-hidden"] = _try(lambda: os.listdir(parent / "autograder" / "hidden"))
    return out


def _append(path, text):
    with open(path, "a") as f:
        f.write(text)
    return path


def write_outside(x):
    return {"grader_package": _try(lambda: _append(f"{PROJECT}/autograder/compare.py", "\nFORGED = 1\n")),
            "grader_pycache": _try(lambda: _append(f"{PROJECT}/autograder/__pycache__/planted.cpython-311.pyc", "x")),
            "peer_submission": _try(lambda: _append(f"{PEER}/a03_attention.py", "\nFORGED = 1\n")),
            "live_submission": _try(lambda: _append(f"{LIVE}/{MARK}.txt", "x")),
            "tmp": _try(lambda: _append(f"/tmp/{MARK}.txt", "x")),
            "dev_shm": _try(lambda: _append(f"/dev/shm/{MARK}.txt", "x")),
            "own_module": _try(lambda: _append(__file__, "\nFORGED = 1\n"))}


def grader_process(x):
    ppid = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)

    def ptrace():
        if libc.ptrace(16, ppid, 0, 0) != 0:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        libc.ptrace(17, ppid, 0, 0)  # PTRACE_DETACH
        return "attached"

    def stop():
        os.kill(ppid, signal.SIGSTOP)
        os.kill(ppid, signal.SIGCONT)  # only reached if the stop worked: the test must not hang
        return "stopped"

    return {"environ": _try(lambda: _read(f"/proc/{ppid}/environ")),
            "mem": _try(lambda: open(f"/proc/{ppid}/mem", "rb").read(1)),
            "cmdline": _try(lambda: _read(f"/proc/{ppid}/cmdline")),
            "ptrace": _try(ptrace), "sigstop": _try(stop),
            "kill_group": _try(lambda: _kill_group(ppid)),
            "kill_all": _try(lambda: os.kill(-1, signal.SIGCONT))}


def _kill_group(pid):
    group = os.getpgid(pid)
    if group <= 0:  # in a PID namespace the grader's group may not be visible: nothing to aim at
        raise ProcessLookupError(f"process group of {pid} not visible")
    os.kill(-group, signal.SIGCONT)
    return group


def kill_peer(pid):
    victim = int(pid.item())
    return {"sigkill": _try(lambda: os.kill(victim, signal.SIGKILL)),
            "environ": _try(lambda: _read(f"/proc/{victim}/environ"))}


def _bomb():
    made = 0
    for _ in range(30):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
    return made


def _setsid_grandchild():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(3)
            _append(f"{LIVE}/{MARK}-late.txt", "x")
        os._exit(0)
    return "forked"


def _children_2gib():
    import torch
    for _ in range(3):
        if os.fork() == 0:
            block = torch.empty(2 << 30, dtype=torch.uint8)  # address space; pages are touched only on use
            time.sleep(20)
            os._exit(block.numel() & 0)
    return "three children"


def _hold_3x2gib():
    import torch
    held = []
    try:
        for _ in range(3):
            held.append(torch.empty(2 << 30, dtype=torch.uint8))
    except (MemoryError, RuntimeError) as exc:
        return f"{type(exc).__name__} after {len(held)} x 2 GiB"
    return f"held {len(held)} x 2 GiB"


def processes(x):
    return {"fork_bomb": _try(_bomb), "popen": _try(lambda: subprocess.Popen(["sleep", "30"]).pid),
            "setsid_grandchild": _try(_setsid_grandchild), "children_2gib": _try(_children_2gib),
            "hold_3x2gib": _try(_hold_3x2gib)}


def _writer():
    for _ in range(100):
        for target in (f"{LIVE}/{MARK}-thread.txt", f"/tmp/{MARK}-thread.txt", "thread-scratch.txt"):
            try:
                _append(target, "x")
            except OSError:
                pass
        time.sleep(0.05)


def background_thread(x):
    threading.Thread(target=_writer, daemon=True).start()
    return "started"


def _fill_one():
    with open("big.bin", "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 256 << 20)
    return "256 MiB allocated"


def _fill_many():
    written = 0
    try:
        for i in range(300):
            with open(f"fill{i}.bin", "wb") as f:
                f.write(b"x" * (1 << 20))
            written += 1
    finally:
        for i in range(written + 1):
            try:
                os.unlink(f"fill{i}.bin")
            except OSError:
                pass
    return f"{written} MiB"


def disk(x):
    out = {"fallocate": _try(_fill_one), "many_files": _try(_fill_many)}
    try:
        os.unlink("big.bin")
    except OSError:
        pass
    return out


def network(x):
    def unix():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\0scratchgrad-test")
        return "connected"
    return {"tcp": _try(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2).close()),
            "udp": _try(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", PORT))),
            "unix": _try(unix)}


def echo(x):
    return x * 2
'''

# a stub a03 (every check fails) that tries, at import time, to become the reference
STEAL_AT_IMPORT = r'''
import os as _os
from pathlib import Path as _Path
for _p in [_os.path.join(@PROJECT@, "reference", "a03_attention.py"),
           *[str(_q / "reference" / "a03_attention.py") for _q in _Path(__file__).resolve().parents]]:
    try:
        exec(open(_p).read())
        print("STOLE", _p)
        break
    except OSError:
        pass
for _p in (f"/proc/{_os.getppid()}/environ", _os.path.join(@PROJECT@, "autograder", "hidden", "a03_attention.py")):
    try:
        print(open(_p).read()[:3000])
    except OSError as _e:
        print("denied", type(_e).__name__)
'''

# goes into a correct a03's softmax: every attack once, results printed (the checks must still pass)
ATTACK_IN_SOFTMAX = r'''
    global _ATTACKED
    if not globals().get("_ATTACKED"):
        _ATTACKED = True
        import importlib.util as _u
        _spec = _u.spec_from_loader("_attacks", loader=None)
        _m = _u.module_from_spec(_spec)
        _m.__file__ = __file__
        exec(_ATTACKS, _m.__dict__)
        for _name in ("read_instructor_files", "write_outside", "grader_process", "processes", "background_thread",
                      "disk", "network"):
            print(_name, _m.__dict__[_name](None))
'''
