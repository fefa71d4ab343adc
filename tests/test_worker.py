"""The worker: isolation from the grader's files, and survival of hostile learner code."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from autograder.program import Program
from autograder.runtime.values import Raised
from autograder.launch import PROJECT_ROOT, ZYGOTE_ENV, start_zygote, stop_zygotes
from autograder.worker import Worker, WorkerFault

HOSTILE = '''
import os, signal, sys, time, torch

def echo(x):
    return x * 2

def chatty(x):
    print("x" * 100_000_000)
    os.write(1, b"y" * 5_000_000)
    return x

def spin(x):
    while True:
        pass

def stubborn(x):  # ignores the soft alarm: only the hard kill stops it
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        pass

def hard_exit(x):
    os._exit(7)

def soft_exit(x):
    sys.exit(3)

def hog(x):  # 64 GiB: past the worker's address-space limit
    return torch.ones(2**34)

def peek(x):
    found = {}
    for name in ("reference", "solutions", "autograder", "autograder.hidden", "tests"):
        try:
            __import__(name)
            found[name] = True
        except ImportError:
            found[name] = False
    return found
'''


@pytest.fixture(scope="module")
def zygote():
    """A zygote in this test process for the module's forked workers (grade-all's way of starting them)."""
    why = start_zygote()
    if why:
        pytest.skip(f"no zygote here: {why}")
    yield
    stop_zygotes()


@pytest.fixture(params=["spawned", "forked"])
def worker(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each case runs on a spawned worker and on one forked from a zygote: both must behave the same."""
    if request.param == "forked":
        request.getfixturevalue("zygote")
    else:
        monkeypatch.setenv(ZYGOTE_ENV, "0")
    (tmp_path / "a99_hostile.py").write_text(HOSTILE)
    with Worker(tmp_path) as w:
        yield w
        assert type(w.proc).__name__ in ("NoneType", "ForkedProc" if request.param == "forked" else "Popen")


def call(worker: Worker, fn: str, timeout_s: float = 5.0):
    p = Program("a99_hostile")
    p.returns(out=p.call(fn, torch.ones(2, dtype=torch.float64)))
    return worker.run(p.to_json(), p.tensors, timeout_s=timeout_s)


def test_sys_path_and_environment_hold_no_private_path(worker: Worker) -> None:
    header, _ = worker.request({"op": "describe"})
    private = [str(PROJECT_ROOT / d) for d in ("reference", "solutions", "autograder")] + [str(PROJECT_ROOT)]
    for entry in header["sys_path"]:
        assert entry not in private and not entry.startswith(str(PROJECT_ROOT) + "/"), entry
    assert not any(str(PROJECT_ROOT) in v for v in header["env"].values()), header["env"]
    assert "PYTHONPATH" not in header["env"]


def test_learner_code_cannot_import_grader_packages(worker: Worker) -> None:
    resp = call(worker, "peek")
    assert resp.status == "ok"
    assert resp.returns["out"] == {"reference": False, "solutions": False, "autograder": False,
                                   "autograder.hidden": False, "tests": False}


def test_huge_output_is_captured_and_truncated(worker: Worker) -> None:
    resp = call(worker, "chatty")
    assert resp.status == "ok" and torch.equal(resp.returns["out"], torch.ones(2, dtype=torch.float64))
    assert len(resp.stdout) < 20_000
    assert "more characters not shown" in resp.stdout and "more bytes not shown" in resp.stdout


def test_endless_loop_times_out_and_the_worker_goes_on(worker: Worker) -> None:
    assert call(worker, "spin", timeout_s=0.5).status == "timeout"
    assert call(worker, "echo").status == "ok"
    assert worker.starts == 1  # the soft alarm stopped it: no restart needed


def test_loop_that_ignores_the_alarm_is_killed_and_a_fresh_worker_starts(worker: Worker) -> None:
    with pytest.raises(WorkerFault) as info:
        call(worker, "stubborn", timeout_s=0.5)
    assert info.value.status == "timeout" and "no answer within" in info.value.reason
    assert call(worker, "echo").status == "ok" and worker.starts == 2


def test_os_exit_is_a_fault_and_grading_goes_on(worker: Worker) -> None:
    with pytest.raises(WorkerFault) as info:
        call(worker, "hard_exit")
    assert "exit status 7" in info.value.reason
    assert call(worker, "echo").status == "ok"


def test_memory_hog_hits_the_limit_not_the_machine(worker: Worker) -> None:
    try:
        resp = call(worker, "hog")
        assert resp.status == "raised" and resp.error.type in ("RuntimeError", "MemoryError")
    except WorkerFault as fault:  # killed by the kernel instead: also contained
        assert fault.status == "error"
    assert call(worker, "echo").status == "ok"


def test_sys_exit_is_an_ordinary_learner_error(worker: Worker) -> None:
    resp = call(worker, "soft_exit")
    assert resp.status == "raised" and isinstance(resp.error, Raised)
    assert resp.error.type == "SystemExit" and "a99_hostile.py" in resp.error.where
    assert worker.starts == 1


def test_banned_call_is_recorded(tmp_path: Path) -> None:
    (tmp_path / "a98_banned.py").write_text(textwrap.dedent('''
        import torch.nn.functional as F
        def f(x):
            return getattr(F, "soft" + "max")(x, -1)  # invisible to a static scan
    '''))
    with Worker(tmp_path) as w:
        p = Program("a98_banned", banned=["torch.nn.functional.softmax", "torch.softmax"])
        p.returns(out=p.call("f", torch.ones(2, 2)))
        resp = w.run(p.to_json(), p.tensors)
    assert resp.banned_calls == {"torch.nn.functional.softmax": 1}


def test_prestarted_worker_is_taken_over(tmp_path: Path) -> None:
    from autograder.launch import _PRESTARTED, prestart

    (tmp_path / "a99_hostile.py").write_text(HOSTILE)
    prestart(tmp_path)
    pid = _PRESTARTED[str(tmp_path.resolve())][0].proc.pid
    with Worker(tmp_path) as w:
        assert call(w, "echo").status == "ok"
        assert w.proc is not None and w.proc.pid == pid and w.starts == 1
    assert _PRESTARTED[str(tmp_path.resolve())] == []


# -- a submission that talks to the grader's channel itself ------------------------------------
# These run with the integrity scan out of the way (the worker is used directly): they are the
# second line of defence, for code that got past the scan. Learner code finds the hidden protocol
# pipes by listing /proc/self/fd, as real hostile code would.
PROTOCOL = '''
import json, os, stat, struct, threading, time

def _pipes():
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                yield int(name)
        except OSError:
            pass

def _spray(data):
    for fd in list(_pipes()):
        try:
            os.write(fd, data)
        except OSError:
            pass

def _answer(seq):  # the best learner code can do: a well-formed answer with a made-up tag
    head = json.dumps({"status": "ok", "returns": {"$dict": {"out": 42}}, "seq": seq}).encode()
    return struct.pack(">QQ", len(head), 0) + head + bytes(32)

def echo(x):
    return x * 2

def forge(x):
    for seq in range(1, 50):
        _spray(_answer(seq))
    return x

def garbage(x):
    _spray(bytes(range(256)) * 16)
    return x

def huge_header(x):
    _spray(struct.pack(">QQ", 2**60, 0))
    return x

def exit_later(x):  # returns, then the process exits while the grader prepares the next request
    def bye():
        time.sleep(0.3)
        os._exit(0)
    threading.Thread(target=bye, daemon=True).start()
    return x

def inject(x):  # writes a request into the worker's own stdin: the runtime refuses it and stops
    import fcntl
    for fd in list(_pipes()):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY:
            continue  # the grader's end: that would be a forged answer, tested above
        try:
            w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            os.write(w, _answer(99))
            os.close(w)
        except OSError:
            pass
    return x

def deep(x):
    value = x
    for _ in range(500):
        value = [value]
    return value
'''

IMPORT_FORGE = PROTOCOL + "\nforge(None)  # at import time, before any answer\n"


@pytest.fixture(scope="module")
def protocol_worker(tmp_path_factory: pytest.TempPathFactory):
    """One Worker for the protocol cases: each fault replaces its process, as in a real grading.

    Landlock is left out, as on a kernel without it: with it, learner code cannot list /proc/self/fd
    and never finds the pipes (tests/test_sandbox.py), so the authentication would go untested.
    """
    folder = tmp_path_factory.mktemp("protocol")
    (folder / "a99_hostile.py").write_text(PROTOCOL)
    (folder / "a97_forge.py").write_text(IMPORT_FORGE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCRATCHGRAD_CONFINE_SKIP", "landlock")  # read when each worker process is spawned
        with Worker(folder) as w:
            yield w


def test_a_forged_answer_fails_authentication_and_the_next_call_is_honest(protocol_worker: Worker) -> None:
    with pytest.raises(WorkerFault) as info:
        call(protocol_worker, "forge")
    assert info.value.status == "error" and "failed authentication" in info.value.reason
    assert "did your code write to the grader's channel?" in info.value.reason
    starts = protocol_worker.starts
    resp = call(protocol_worker, "echo")  # a fresh worker, with a fresh key
    assert resp.status == "ok" and torch.equal(resp.returns["out"], torch.full((2,), 2.0, dtype=torch.float64))
    assert protocol_worker.starts == starts + 1


def test_garbage_and_huge_lengths_are_rejected_not_believed(protocol_worker: Worker) -> None:
    for fn, why in (("garbage", "rejected"), ("huge_header", "frame too large")):
        with pytest.raises(WorkerFault) as info:
            call(protocol_worker, fn)
        assert info.value.status == "error" and why in info.value.reason, info.value.reason
    assert call(protocol_worker, "echo").status == "ok"


def test_a_frame_written_at_import_time_is_rejected(protocol_worker: Worker) -> None:
    p = Program("a97_forge")
    p.returns(out=p.call("echo", torch.ones(2)))
    with pytest.raises(WorkerFault) as info:
        protocol_worker.run(p.to_json(), p.tensors)
    assert "failed authentication" in info.value.reason


def test_an_exit_between_requests_is_a_fault_then_grading_goes_on(protocol_worker: Worker) -> None:
    assert call(protocol_worker, "exit_later").status == "ok"
    starts = protocol_worker.starts
    time.sleep(1.5)
    with pytest.raises(WorkerFault) as info:
        call(protocol_worker, "echo")
    assert info.value.status == "error" and "died" in info.value.reason
    assert call(protocol_worker, "echo").status == "ok" and protocol_worker.starts == starts + 1


def test_a_request_injected_into_the_workers_stdin_stops_it(protocol_worker: Worker) -> None:
    assert call(protocol_worker, "inject").status == "ok"  # this answer was already on its way
    with pytest.raises(WorkerFault):
        call(protocol_worker, "echo")
    assert call(protocol_worker, "echo").status == "ok"


def test_a_deeply_nested_return_arrives_described(protocol_worker: Worker) -> None:
    call(protocol_worker, "echo")
    starts = protocol_worker.starts
    resp = call(protocol_worker, "deep")
    assert resp.status == "ok" and protocol_worker.starts == starts
    value = resp.returns["out"]
    while isinstance(value, list):
        value = value[0]
    assert "nested deeper" in value.repr


def test_kill_never_raises(tmp_path: Path) -> None:
    (tmp_path / "a99_hostile.py").write_text(HOSTILE)
    w = Worker(tmp_path)
    assert call(w, "echo").status == "ok"
    assert w.proc is not None
    os.killpg(w.proc.pid, signal.SIGKILL)  # gone behind the grader's back
    w.proc.wait()
    w.proc.stdin.write(b"x" * 100)  # buffered: closing would flush into a dead pipe (BrokenPipeError)
    w.kill()
    w.kill()
    assert w.proc is None
    assert call(w, "echo").status == "ok"
    w.close()


def test_an_answer_that_does_not_match_the_program_is_a_fault(tmp_path: Path) -> None:
    w = Worker(tmp_path)  # never started: the answer is injected below
    p = Program("a99_hostile")
    p.returns(out=p.call("echo", torch.ones(2)))
    for header in ({"status": "ok", "returns": {"$dict": {"other": 1}}}, {"status": "ok", "returns": [1]},
                   {"status": "raised", "step": 99}):
        w.request = lambda *args, _h=header, **kwargs: (_h, {})  # type: ignore[method-assign]
        with pytest.raises(WorkerFault, match="rejected"):
            w.run(p.to_json(), p.tensors)


def test_in_process_executor_returns_what_learner_code_printed(tmp_path: Path) -> None:
    """InProcess (the banks' executor) hands printed output back like the worker, instead of printing it."""
    from autograder.worker import InProcess
    (tmp_path / "a07_training.py").write_text("def say(n):\n    print('sample', n)\n    return n\n", encoding="utf-8")
    p = Program("a07_training")
    executor = InProcess(tmp_path)
    try:
        resp = executor.run(p.returns(out=p.call("say", 3)).to_json(), p.tensors)
    finally:
        executor.close()
    assert resp.status == "ok" and resp.returns["out"] == 3 and resp.stdout == "sample 3\n"
    assert "a07_training" not in sys.modules  # closed: a later import in this process finds its own folder's


def test_upstream_gradients_flow_without_importing_sympy(tmp_path: Path) -> None:
    """The worker back-propagates a check's upstream gradient as one scalar: the gradients of
    backward(out, grad), but torch does not import sympy (~1 s of CPU per worker) for it."""
    (tmp_path / "a99_grads.py").write_text(
        "import sys\nimport torch\n\ndef f(x):\n    return x.pow(3)\n\ndef rows(x):\n    return x.sum(dim=0)\n\n"
        "def sympy_loaded(x):\n    return 'sympy' in sys.modules\n", encoding="utf-8")
    x, upstream = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    with Worker(tmp_path) as w:
        p = Program("a99_grads")
        leaf = p.leaf("x", x)
        p.backward(p.call("f", leaf), upstream)
        p.returns(grads=p.grads([leaf]), sympy=p.call("sympy_loaded", leaf))
        resp = w.run(p.to_json(), p.tensors, timeout_s=30)
        assert resp.status == "ok", resp.error
        assert torch.allclose(resp.returns["grads"]["inputs"][0], 3 * x.pow(2) * upstream, rtol=1e-12, atol=0)
        assert resp.returns["sympy"] is False
        p = Program("a99_grads")  # an output of the wrong shape is named, not broadcast against the gradient
        leaf = p.leaf("x", x)
        p.returns(backward=p.backward(p.call("rows", leaf), upstream, catch=True))
        resp = w.run(p.to_json(), p.tensors, timeout_s=30)
        raised = resp.returns["backward"]
        assert isinstance(raised, Raised) and "output 0 has shape (4,)" in raised.message, raised
