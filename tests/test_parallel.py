"""One submission graded by several processes (autograder.parallel): the same report, and failures contained."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import parallel
from tests.conftest import ROOT, make_submission, processes_mentioning

FAST = ["a08", "a10", "a11", "a14"]  # four quick assignments: enough to share out, quick to grade


def grade_cli(sub: Path, out: Path, *args: str, prelude: str = "") -> dict:
    """`scratchgrad grade` in a fresh process (a fork of pytest's worker would copy its threads)."""
    code = f"{prelude}\nfrom autograder.cli import main\nraise SystemExit(main())"
    run = subprocess.run([sys.executable, "-c", code, "grade", str(sub), "--json", str(out), *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(out.read_text())


def checks(report: dict) -> dict[str, list[dict]]:
    return {a["id"]: [{k: v for k, v in c.items() if k != "elapsed_s"} for c in a["checks"]]
            for a in report["assignments"]}


def test_two_processes_give_the_report_of_one(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "sub", source=ROOT / "solutions")
    bad = sub / "a10_instruction.py"  # a failing assignment too, so messages and hints are compared
    bad.write_text(bad.read_text().replace("### Instruction:", "### Instructions:"))
    one = grade_cli(sub, tmp_path / "one.json", "--only", *FAST, "--jobs", "1")
    two = grade_cli(sub, tmp_path / "two.json", "--only", *FAST, "--jobs", "2")
    assert checks(two) == checks(one)
    assert list(checks(two)) == ["a08_decoding", "a10_instruction", "a11_lora", "a14_dpo"]  # curriculum order
    assert one["score"] == two["score"] < one["max_score"]
    assert (one["grader"]["worker_starts"], two["grader"]["worker_starts"]) == (1, 2)


def test_a_grader_copy_that_dies_costs_only_the_assignment_it_held(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "sub", source=ROOT / "solutions")
    # in the forked copy only, the first assignment it takes kills it (as the OOM killer would)
    prelude = ("import os\nimport autograder.parallel as p\nPARENT = os.getpid()\nreal = p.run_checks\n"
               "p.run_checks = lambda *a, **k: os._exit(9) if os.getpid() != PARENT else real(*a, **k)")
    report = grade_cli(sub, tmp_path / "r.json", "--only", *FAST, "--jobs", "2", prelude=prelude)
    lost = [a for a in report["assignments"] if a["score"] < a["max_score"]]
    assert len(lost) == 1, [a["id"] for a in lost]
    died = {c["message"] for c in lost[0]["checks"]}
    assert died == {"the grader process running this assignment died (exit status 9); grade again"}
    assert report["score"] == report["max_score"] - lost[0]["max_score"]  # the others were graded in full


def test_default_jobs_follow_the_free_cores_and_the_assignments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "available_cpus", lambda: 8)
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert parallel.default_jobs(14) == 2 and parallel.default_jobs(1) == 1
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (7.0, 7.0, 7.0))  # busy: one process
    assert parallel.default_jobs(14) == 1
    monkeypatch.setattr(parallel, "available_cpus", lambda: 1)
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert parallel.default_jobs(14) == 1


def test_bad_jobs_is_a_clear_error() -> None:
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "solutions", "--jobs", "0"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert run.returncode == 2 and "--jobs='0' must be at least 1" in run.stderr


def test_no_process_to_spare_leaves_the_grading_to_one(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "sub", source=ROOT / "solutions")
    prelude = ("import multiprocessing.process as mpp\n"
               "def refuse(self):\n    raise BlockingIOError(11, 'Resource temporarily unavailable')\n"
               "mpp.BaseProcess.start = refuse")
    report = grade_cli(sub, tmp_path / "r.json", "--only", "a10", "a11", "--jobs", "2", prelude=prelude)
    assert report["score"] == report["max_score"] and report["grader"]["worker_starts"] == 1


def test_a_signal_while_waiting_for_the_copy_stops_it_too(tmp_path: Path) -> None:
    """This process is done with a03 (a few seconds: its copy has taken a10 by then) and waits for the copy,
    slow in a10: SIGTERM, sent to this process alone, stops both."""
    sub = make_submission(tmp_path / "sub", source=ROOT / "solutions")
    slow = sub / "a10_instruction.py"
    slow.write_text(slow.read_text().replace("def format_input(entry: dict) -> str:\n",
                                             "def format_input(entry: dict) -> str:\n    time.sleep(3.0)\n", 1)
                    .replace("\nimport torch\n", "\nimport time\nimport torch\n", 1), encoding="utf-8")
    private = tmp_path / "private"  # the private copies, so the workers' command lines, land here
    private.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(sub), "--only", "a03", "a10",
                             "--jobs", "2", "--json", str(tmp_path / "r.json")], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(private)})
    try:
        time.sleep(20.0)  # a03 is graded (3 s alone); the copy is into a10, whose checks take minutes now
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    report = json.loads((tmp_path / "r.json").read_text())
    a03, a10 = report["assignments"]
    assert a03["score"] == a03["max_score"]  # graded in full before the signal
    assert any(c["message"] == "grading interrupted" for c in a10["checks"])
    assert report["grader"]["interrupted"] == signal.SIGTERM
    deadline = time.monotonic() + 10
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(tmp_path)) == []  # both grader processes and both workers are gone
