"""`grade-all --executor dask`: a real scheduler and workers on localhost grade like the local pool.

The grading runs share one cluster inside one test (as `test_batch` shares its class): under
`pytest -n auto` a module fixture would start a cluster per xdist worker, and the local baseline
would be graded again by each.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="Dask's distributed package is not installed (pip install -e '.[cluster]')")

from autograder import batch, cluster  # noqa: E402
from autograder.assignments import UsageError  # noqa: E402
from autograder.submission import load  # noqa: E402
from tests.banks.a03_attention import MUTANTS  # noqa: E402
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS, make_submission  # noqa: E402

A03 = "a03_attention"
ELAPSED = re.compile(r", [0-9.e+-]+ s</sub>\n$")  # the feedback's last line: the grading's wall time


def scratchgrad(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, check=False)


def a_class(root: Path) -> Path:
    """Three students: a zipped solution, a folder with a realistic mistake, one with a syntax error."""
    cls = root / "class"
    cls.mkdir()
    with zipfile.ZipFile(cls / "alice.zip", "w") as zf:
        for f in sorted(SOLUTIONS.glob("a[0-9][0-9]_*.py")):
            zf.write(f, f"alice/{f.name}")
    (mutant,) = [m for m in MUTANTS if m.name == "mha_no_causal_mask"]
    make_submission(cls / "carol", A03, mutant)
    dave = make_submission(cls / "dave", source=ASSIGNMENTS)
    (dave / f"{A03}.py").write_text("def softmax(x:\n", encoding="utf-8")
    return cls


# -- processes ---------------------------------------------------------------------------------
def _parents() -> dict[int, int]:
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if "\nState:\tZ" not in status:
            found[int(entry)] = int(re.search(r"\nPPid:\t(\d+)", status).group(1))
    return found


def descendants(pid: int) -> set[int]:
    parents, found, frontier = _parents(), set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return pids & set(_parents())


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def dask(*args: str, log: Path) -> subprocess.Popen:
    """`dask ARGS` in its own process group, importing this checkout's scratchgrad."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process group (a worker stops its grader, which stops its learner worker), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)


@contextmanager
def local_cluster(folder: Path, workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and `workers` one-thread workers on 127.0.0.1; every process they started is gone after."""
    procs: list[subprocess.Popen] = []
    tree: set[int] = set()
    try:
        info = folder / "scheduler.json"
        procs.append(dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(info), log=folder / "scheduler.log"))
        deadline = time.monotonic() + 120
        while not info.exists() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        # the first under a nanny (Dask's default: a daemonic worker process, which multiprocessing forbids to
        # have children), the others without one
        procs += [dask("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                       "--name", f"w{i}", *(["--no-nanny"] if i else []), log=folder / f"worker{i}.log")
                  for i in range(workers)]
        yield address, procs
    finally:
        for p in procs:
            tree |= descendants(p.pid)
        stop(procs)
        deadline = time.monotonic() + 15
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {pid: cmdline(pid) for pid in alive(tree)}
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes outlived the cluster: {left}"


def wait_for_workers(address: str, n: int) -> None:
    from distributed import Client
    with Client(address, set_as_default=False, timeout=30) as client:
        client.wait_for_workers(n, timeout=120)


def same_results(a: Path, b: Path) -> None:
    """Two grade-all outputs agree: gradebook byte for byte, feedback but for the wall time, reports, manifest."""
    assert (a / "gradebook.csv").read_bytes() == (b / "gradebook.csv").read_bytes()
    names = sorted(p.name for p in (a / "feedback").iterdir())
    assert names == sorted(p.name for p in (b / "feedback").iterdir())
    for name in names:
        mine, theirs = ((x / "feedback" / name).read_text(encoding="utf-8") for x in (a, b))
        assert ELAPSED.sub("", mine) == ELAPSED.sub("", theirs), name
    for report in (a / "reports").iterdir():
        mine, theirs = (json.loads((x / "reports" / report.name).read_text()) for x in (a, b))
        for r in (mine, theirs):
            r["grader"].pop("elapsed_s")
            for asg in r["assignments"]:
                for check in asg["checks"]:
                    check.pop("elapsed_s", None)
        assert mine == theirs, report.name
    assert sorted(p.name for p in (b / "reports").iterdir()) == sorted(p.name for p in (a / "reports").iterdir())
    manifests = [json.loads((x / batch.MANIFEST).read_text()) for x in (a, b)]
    assert manifests[0] == manifests[1]


# -- the cluster -------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="follows the workers' processes through /proc")
def test_a_class_on_a_dask_cluster(tmp_path: Path) -> None:
    """The local pool's results, byte for byte, from two Dask workers; then again with one of them killed
    while it grades a student."""
    cls = a_class(tmp_path)
    with local_cluster(tmp_path) as (address, procs):  # it starts while the local pool grades
        local = scratchgrad("grade-all", str(cls), "--out", str(tmp_path / "local"), "--only", "a03", "--jobs", "1")
        assert local.returncode == 0, local.stderr
        wait_for_workers(address, 2)

        run = scratchgrad("grade-all", str(cls), "--out", str(tmp_path / "dask"), "--only", "a03",
                          "--executor", "dask", "--scheduler", address)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "3 students: 3 graded, 0 skipped" in run.stdout and f"2 Dask workers at {address}" in run.stdout
        same_results(tmp_path / "local", tmp_path / "dask")
        for worker in procs[1:]:  # the run stopped its grader processes: only Dask's own processes are left
            assert not [cmdline(p) for p in descendants(worker.pid) if "grader_main" in cmdline(p)]
        (run_id,) = re.findall(r", run (\w+):", (tmp_path / "dask" / ".grader.log").read_text())
        assert not cluster.grader_log(run_id).exists(), cluster.grader_log(run_id).read_text()[-3000:]  # nothing was written to it: removed

        again = scratchgrad("grade-all", str(cls), "--out", str(tmp_path / "dask"), "--only", "a03",
                            "--executor", "dask", "--scheduler", address)
        assert again.returncode == 0 and "3 students: 0 graded, 3 skipped" in again.stdout  # resumed by hash

        kill_a_worker_mid_run(cls, tmp_path, address, procs)


def kill_a_worker_mid_run(cls: Path, tmp_path: Path, address: str, procs: list[subprocess.Popen]) -> None:
    out = tmp_path / "killed"
    grading = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(cls), "--out", str(out),
                                "--only", "a03", "--executor", "dask", "--scheduler", address],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim, tree = None, set()
        deadline = time.monotonic() + 300
        while victim is None and grading.poll() is None and time.monotonic() < deadline:
            for worker in procs[1:]:
                tree = descendants(worker.pid)
                if any("_sg_runtime" in cmdline(p) for p in tree):  # its grader has a student's code running
                    victim = worker
                    break
            time.sleep(0.1)
        assert victim is not None, "no worker was seen grading"
        os.killpg(victim.pid, signal.SIGKILL)  # the whole `dask worker`: nanny, worker, grader
        stdout, stderr = grading.communicate(timeout=600)
    finally:
        grading.kill()
    assert grading.returncode == 0, stdout + stderr
    assert "3 students: 3 graded, 0 skipped" in stdout and "0 errors" in stdout  # each once, none lost
    same_results(tmp_path / "local", out)
    deadline = time.monotonic() + 20  # the learner worker of the killed grader ends with its current call
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not {p: cmdline(p) for p in alive(tree)}, "a process of the killed worker outlived it"


# -- no cluster needed -------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_an_unreachable_scheduler_is_a_usage_error_in_seconds(tmp_path: Path) -> None:
    make_submission(tmp_path / "class" / "alice", source=ASSIGNMENTS)
    address = f"tcp://127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    run = scratchgrad("grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--only", "a03",
                      "--executor", "dask", "--scheduler", address, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"--scheduler {address!r}: no Dask scheduler answered within 5 s" in run.stderr
    assert "Traceback" not in run.stderr
    assert time.monotonic() - t0 < cluster.CONNECT_TIMEOUT_S + 25  # the timeout, plus interpreter and hashing time


def test_without_distributed_the_error_says_how_to_install(tmp_path: Path) -> None:
    make_submission(tmp_path / "class" / "alice", source=ASSIGNMENTS)
    blocker = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] == 'distributed':\n"
               "            raise ImportError('no distributed here')\n"
               "sys.meta_path.insert(0, Block())\n"
               "from autograder.cli import main\n"
               "raise SystemExit(main(sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", blocker, "grade-all", str(tmp_path / "class"), "--out",
                          str(tmp_path / "out"), "--only", "a03", "--executor", "dask", "--scheduler", "tcp://x:1"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert run.returncode == 2, run.stderr
    assert "pip install 'scratchgrad[cluster]'" in run.stderr and "every Dask worker" in run.stderr


def test_executor_options_are_checked(tmp_path: Path) -> None:
    (tmp_path / "class" / "alice").mkdir(parents=True)
    cases = [({"executor": "dask"}, "--executor dask needs --scheduler ADDRESS"),
             ({"scheduler": "tcp://h:8786"}, "--scheduler 'tcp://h:8786' is only used with --executor dask"),
             ({"executor": "dask", "scheduler": "tcp://h:8786", "jobs": 2}, "--jobs=2 sizes the local pool"),
             ({"executor": "ray"}, "--executor 'ray': expected one of local, dask")]
    for kwargs, message in cases:
        with pytest.raises(UsageError, match=re.escape(message)):
            batch.grade_all(tmp_path / "class", tmp_path / "out", [A03], **kwargs)
    run = scratchgrad("grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--executor", "dask")
    assert run.returncode == 2 and "--executor dask needs --scheduler ADDRESS" in run.stderr


def test_a_packed_folder_loads_as_the_original(tmp_path: Path) -> None:
    """What a worker unpacks gives the loader the same choices and notes, without the bytes it never reads."""
    sub = make_submission(tmp_path / "eve", source=ASSIGNMENTS)
    (sub / "work").mkdir()
    (sub / f"{A03}.py").rename(sub / "work" / f"{A03} (1).py")  # a renamed copy in a folder
    (sub / "data.bin").write_bytes(os.urandom(1 << 20))  # a dataset: only its name travels
    (sub / ".hidden.py").write_text("X = 1\n", encoding="utf-8")
    (sub / "__pycache__").mkdir()
    (sub / "__pycache__" / "a03_attention.cpython-311.pyc").write_bytes(b"planted")
    (sub / "helper.pyc").write_bytes(b"\0")
    (sub / "link.py").symlink_to("/etc/passwd")
    (sub / "linked").symlink_to(SOLUTIONS)  # the loader does not enter linked folders
    with zipfile.ZipFile(sub / "more.zip", "w") as zf:
        zf.writestr("inner/a04_gpt_blocks.py", "# from the zip\n")
    (sub / "empty").mkdir()
    kind, payload = cluster.pack(sub)
    assert kind == "tar" and len(payload) < 200_000
    dest = tmp_path / "worker"
    dest.mkdir()
    unpacked = cluster.unpack(kind, sub.name, payload, dest)
    assert (unpacked / "data.bin").stat().st_size == 0 and (unpacked / "link.py").is_symlink()
    assert not (unpacked / "linked").exists() and not (unpacked / "__pycache__").exists()
    ids = [A03, "a04_gpt_blocks"]
    original, copy = load(sub, ids), load(unpacked, ids)
    try:
        assert copy.name == original.name == "eve" and copy.notes == original.notes and copy.origins == original.origins
        assert "is a symbolic link and was ignored" in " ".join(original.notes)
        for aid in ids:
            assert copy.files[aid].read_bytes() == original.files[aid].read_bytes()
    finally:
        original.cleanup()
        copy.cleanup()

    zipped = tmp_path / "frank.zip"
    zipped.write_bytes(b"PK\x03\x04 not really a zip")
    kind, payload = cluster.pack(zipped)
    assert (kind, cluster.unpack(kind, zipped.name, payload, dest).read_bytes()) == ("file", zipped.read_bytes())
    empty = tmp_path / "gina"
    empty.mkdir()
    kind, payload = cluster.pack(empty)
    assert cluster.unpack(kind, "gina", payload, dest).is_dir()  # an empty folder is a submission too


def test_too_much_to_send_is_the_submission_s_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "MAX_SHIP_BYTES", 1000)
    sub = tmp_path / "zed"
    sub.mkdir()
    (sub / "a03_attention.ipynb").write_bytes(b"x" * 1001)
    (sub / "data.bin").write_bytes(b"y" * 5000)  # not sent, so not counted
    with pytest.raises(UsageError, match=r"zed: its modules, notebooks and zips hold more than --executor dask sends"):
        cluster.pack(sub)
    (sub / "a03_attention.ipynb").write_bytes(b"x" * 999)
    assert cluster.pack(sub)[0] == "tar"


def test_a_worker_that_would_grade_differently_stops_the_run() -> None:
    """Another scratchgrad (its sources: a .pyc records its source's mtime, so bytecode cannot be compared
    between machines) or another torch or Hypothesis than the client's: the run stops, naming the worker."""
    job = cluster.Job.for_run([A03], 0, None, (None, None), "error", 60.0, {})
    assert job.sources == batch.grader_fingerprint([A03], 0, None, bytecode=False) != batch.grader_fingerprint(
        [A03], 0, None)
    cluster._check_installation("run-a", job, "tcp://w:1")  # the same installation: no error
    elsewhere = dataclasses.replace(job, sources="graded elsewhere")
    with pytest.raises(cluster.ClusterError, match="the Dask worker tcp://w:1 grades with other grader files"):
        cluster._check_installation("run-b", elsewhere, "tcp://w:1")
    older = dataclasses.replace(job, versions={**job.versions, "hypothesis": "6.0.0"})
    with pytest.raises(cluster.ClusterError, match=r"tcp://w:1 has hypothesis \S+ \(this machine: 6.0.0\): scores "
                                                   "depend on these versions"):
        cluster._check_installation("run-c", older, "tcp://w:1")


def test_the_sources_fingerprint_ignores_when_bytecode_was_made(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "autograder"
    pkg.mkdir()
    (pkg / "checks.py").write_text("SCORE = 0\n")
    monkeypatch.setattr(batch, "PACKAGE_DIR", pkg)
    sources, compiled = (batch.grader_fingerprint([A03], 0, None, bytecode=b) for b in (False, True))
    os.utime(pkg / "checks.py", (1, 1))  # installed at another time: the same source, other bytecode
    assert batch.grader_fingerprint([A03], 0, None) != compiled
    assert batch.grader_fingerprint([A03], 0, None, bytecode=False) == sources
    (pkg / "checks.py").write_text("SCORE = 1\n")
    assert batch.grader_fingerprint([A03], 0, None, bytecode=False) != sources


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="follows the grader's processes through /proc")
def test_a_grader_on_a_worker_reports_a_death_and_an_overrun_as_the_pool_does(tmp_path: Path) -> None:
    """The worker-side grader process (started by `subprocess`, as a daemonic Dask worker must) gives the
    local pool's error rows: a death is the grader's fault, an overrun of --student-timeout the submission's."""
    sleeper = tmp_path / "a_sleep"
    sleeper.mkdir()
    (sleeper / f"{A03}.py").write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    job = cluster.Job([A03], 0, None, (None, None), "error", 3.0, "", {})
    log = tmp_path / "grader.log"
    orphans: set[int] = set()
    try:
        grader = cluster._Grader([A03], log)
        grader.wait_ready("tcp://here:1")
        result = grader.grade(job.message("a_sleep", sleeper), job.student_timeout_s)
        assert result == {"status": "error", "cause": "submission", "reason": batch.timeout_reason(3.0)}
        assert not grader.alive()

        grader = cluster._Grader([A03], log)
        grader.wait_ready("tcp://here:1")

        def kill_when_busy() -> None:  # SIGKILL the grader while the learner's code runs, as the OOM killer would
            deadline = time.monotonic() + 60
            while not any("_sg_runtime" in cmdline(p) for p in descendants(grader.proc.pid)):
                if time.monotonic() > deadline:
                    return  # grade() below then reports an overrun, and the assertion says so
                time.sleep(0.1)
            orphans.update(descendants(grader.proc.pid))
            os.kill(grader.proc.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        try:
            result = grader.grade(job.message("a_sleep", sleeper), 90.0)
        finally:
            killer.join()
        assert result == {"status": "error", "cause": "grader", "reason": batch.died_reason(-signal.SIGKILL)}
    finally:
        for pid in alive(orphans):  # the learner worker, asleep in its import: it would end with the sleep
            os.kill(pid, signal.SIGKILL)
