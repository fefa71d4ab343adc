"""The zygote: workers forked from one clean process behave as spawned ones, and nothing leaks between them.

tests/test_worker.py runs its survival cases on both kinds of worker, and tests/test_sandbox.py its
hostile bank (whose attacks on the worker's parent then hit the zygote); this file covers what only
the zygote has: its state, its death, its grader's death and forked copies of the grader.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from autograder import launch
from autograder.grading import grade
from autograder.program import Program
from autograder.worker import Worker, WorkerFault
from tests.banks import a06_loss as a06_bank
from tests.banks.edits import apply
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS, processes_mentioning

pytestmark = pytest.mark.skipif(launch.zygote.supported() is not None, reason=str(launch.zygote.supported()))

LEARNER = '''
import random, sys, torch

def draw(x):
    return torch.rand(3, dtype=torch.float64)

def vandalise(x):  # what a hostile student could do to its own process: it must not reach the next student
    torch.rand = lambda *a, **k: torch.zeros(3, dtype=torch.float64)
    torch.nn.functional.softmax = None
    sys.modules["_sg_runtime.values"].VANDALISED = True
    torch.manual_seed(1234)
    return x

def seen(x):
    return {"softmax": torch.nn.functional.softmax is not None, "vandal": "a98_vandal" in sys.modules,
            "runtime": hasattr(sys.modules["_sg_runtime.values"], "VANDALISED")}
'''


def call(worker: Worker, fn: str, module: str = "a99_state") -> object:
    p = Program(module)
    p.returns(out=p.call(fn, torch.ones(1)))
    resp = worker.run(p.to_json(), p.tensors, timeout_s=10.0)
    assert resp.status == "ok", (resp.status, resp.error)
    return resp.returns["out"]


@pytest.fixture()
def zygote(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(launch.ZYGOTE_ENV, raising=False)
    assert launch.start_zygote() is None
    parent = launch._ZYGOTES[None]
    yield parent
    launch.stop_zygotes()
    assert not processes_mentioning(str(parent.sandbox)), "the zygote or one of its workers outlived it"
    assert not parent.sandbox.exists()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a99_state.py").write_text(LEARNER)
    (tmp_path / "a98_vandal.py").write_text("from a99_state import *\n")
    return tmp_path


def test_a_forked_worker_starts_as_a_spawned_one_would(zygote, folder: Path, monkeypatch) -> None:
    with Worker(folder) as forked:
        fork_draw = call(forked, "draw")
        described, _ = forked.request({"op": "describe"})
        assert type(forked.proc).__name__ == "ForkedProc"
        fork_protections = forked.protections
    with Worker(folder) as again:  # each forked worker seeds torch afresh, as a new process does
        assert not torch.equal(call(again, "draw"), fork_draw) and type(again.proc).__name__ == "ForkedProc"
    monkeypatch.setenv(launch.ZYGOTE_ENV, "0")
    with Worker(folder) as spawned:
        spawn_draw = call(spawned, "draw")
        expected, _ = spawned.request({"op": "describe"})
        assert type(spawned.proc).__name__ == "Popen"
        assert fork_protections == spawned.protections and not fork_protections["missing"]
    assert not torch.equal(fork_draw, spawn_draw)
    for key in ("sys_path", "env", "cwd"):  # the same, up to each worker's own sandbox folder
        mine = str(described[key]).replace(described["cwd"].rsplit("/", 1)[0], "SANDBOX")
        theirs = str(expected[key]).replace(expected["cwd"].rsplit("/", 1)[0], "SANDBOX")
        assert mine == theirs, key
    assert described["uid"] == expected["uid"]


def test_what_one_student_does_to_its_process_does_not_reach_the_next(zygote, folder: Path) -> None:
    with Worker(folder) as vandal:
        call(vandal, "vandalise", "a98_vandal")
        assert call(vandal, "seen") == {"softmax": False, "vandal": True, "runtime": True}
    with Worker(folder) as after:
        assert call(after, "seen") == {"softmax": True, "vandal": False, "runtime": False}
        assert type(after.proc).__name__ == "ForkedProc"
        assert call(after, "draw").abs().sum() > 0  # torch.rand is torch's again


def test_grading_through_the_zygote_gives_the_same_report(zygote, tmp_path: Path, monkeypatch) -> None:
    mistake = tmp_path / "mistake"
    mistake.mkdir()
    (mistake / "a06_loss.py").write_text(apply((SOLUTIONS / "a06_loss.py").read_text(), a06_bank.MUTANTS[0]))

    def checks(folder: Path) -> list[tuple[str, str, float]]:
        report = grade(folder, ["a06_loss"], seed=3)
        return [(c.name, c.status, c.score) for a in report.assignments for c in a.checks]

    forked = [checks(f) for f in (SOLUTIONS, ASSIGNMENTS, mistake)]
    monkeypatch.setenv(launch.ZYGOTE_ENV, "0")
    spawned = [checks(f) for f in (SOLUTIONS, ASSIGNMENTS, mistake)]
    assert forked == spawned
    assert {s for _, s, _ in forked[0]} == {"passed"} and "passed" not in {s for _, s, _ in forked[1]}


def test_a_dead_zygote_costs_the_running_worker_and_later_ones_are_spawned(zygote, folder: Path, capfd) -> None:
    with Worker(folder) as w:
        call(w, "draw")
        assert type(w.proc).__name__ == "ForkedProc"
        child = w.proc.pid
        os.kill(zygote.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:  # PR_SET_PDEATHSIG
            time.sleep(0.05)
        with pytest.raises(WorkerFault) as info:
            call(w, "draw")
        assert "killed by signal SIGKILL" in info.value.reason, info.value.reason
        call(w, "draw")
        assert type(w.proc).__name__ == "Popen" and w.starts == 2
    with Worker(folder) as later:
        call(later, "draw")
        assert type(later.proc).__name__ == "Popen"
    err = capfd.readouterr().err
    assert err.count("the worker zygote stopped serving") == 1, err


GRADER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from autograder import launch
    from autograder.worker import Worker
    assert launch.start_zygote() is None
    w = Worker(Path(sys.argv[2]))
    w._ensure_ready()
    print(launch._ZYGOTES[None].proc.pid, w.proc.pid, launch._ZYGOTES[None].sandbox, flush=True)
    time.sleep(600)
''')


def test_a_killed_grader_takes_its_zygote_and_workers_along(folder: Path) -> None:
    grader = subprocess.Popen([sys.executable, "-c", GRADER, str(ROOT), str(folder)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        *pids, folder = grader.stdout.readline().split()
        pids = [int(p) for p in pids]
        assert len(pids) == 2 and all(os.path.exists(f"/proc/{p}") for p in pids)
        assert not Path(folder).exists()  # gone once the zygote was ready: a SIGKILL leaves no folder behind
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


def test_a_forked_copy_of_the_grader_never_uses_its_parents_zygote(zygote) -> None:
    child = os.fork()
    if child == 0:
        ok = not launch._ZYGOTES and launch._zygote_for(None, launch.MEMORY_LIMIT_MB) is None
        os._exit(0 if ok else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    assert launch._zygote_for(None, launch.MEMORY_LIMIT_MB) is zygote  # the parent's is untouched


def test_a_worker_that_needs_more_memory_than_the_zygote_allows_is_spawned(zygote, folder: Path) -> None:
    with Worker(folder, memory_mb=launch.MEMORY_LIMIT_MB + 1024) as w:
        call(w, "draw")
        assert type(w.proc).__name__ == "Popen"
