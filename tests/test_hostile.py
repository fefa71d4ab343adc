"""Hostile submissions on the graded route: the a03 solution (44/44) or its stub (0) plus a payload.

Each case asserts what the tester's ~50 hostile submissions broke: a valid report, no inflated
score, exit status 0 (no grader fault), honest checks unchanged, bounded time. Integrity-scan cases
run in-process: a finding stops the assignment before any learner code runs. Cases about the
protocol switch the scan off (as if the payload had slipped past it) and use the real worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.assignments import resolve
from autograder.grading import grade
from autograder.report import render_markdown, render_terminal
from tests.conftest import ASSIGNMENTS, ROOT, checks_by_name, make_submission, processes_mentioning

A03 = "a03_attention"
SOFTMAX_BODY = "    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1): keepdim so it broadcasts against x\n"
V1_FORWARD = "        queries = x @ self.W_query  # (T, d_out)\n"
V2_FORWARD = "        queries = self.W_query(x)  # (T, d_out)\n"


def submission(dest: Path, *, prepend: str = "", edits: dict[str, str] | None = None, append: str = "",
               source: Path = ROOT / "solutions") -> Path:
    sub = make_submission(dest, source=source)
    path = sub / f"{A03}.py"
    text = path.read_text(encoding="utf-8")
    for old, new in (edits or {}).items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(prepend + text + append, encoding="utf-8")
    return sub


# -- the integrity scan: payloads that beat the run-time recorder score 0, named by line ----------
CHEATS = {
    # what scored 44/44 before: the recorder switched off, patched, or never consulted
    "disable_torch_function": ("import torch\n", {SOFTMAX_BODY: "    with torch._C.DisableTorchFunction():\n"
                                                                "        return torch.softmax(x, dim)\n"
                                                                + SOFTMAX_BODY}, "attribute `._C`"),
    "patch_ban_recorder": ("from _sg_runtime.banned import BanRecorder\nBanRecorder.report = lambda self: {}\n", {},
                           "import of `_sg_runtime`"),
    "patch_via_sys_modules": ("import sys\n", {SOFTMAX_BODY: "    sys.modules['_sg_runtime.banned']\n" + SOFTMAX_BODY},
                              "import of `sys`"),
    "write_frames_to_the_channel": ("import os\n", {SOFTMAX_BODY: "    os.write(3, b'\\0' * 16)\n" + SOFTMAX_BODY},
                                    "import of `os`"),
    "dunder_import": ("", {SOFTMAX_BODY: "    __import__('o' + 's')\n" + SOFTMAX_BODY}, "use of `__import__`"),
    "computed_getattr": ("", {SOFTMAX_BODY: "    return getattr(torch, 'soft' + 'max')(x, dim)\n" + SOFTMAX_BODY},
                         "`getattr` with a computed attribute name"),
    "eval_text": ("", {SOFTMAX_BODY: "    return eval('torch.soft' + 'max(x, dim)')\n" + SOFTMAX_BODY}, "use of `eval`"),
    "frames_through_globals": ("", {SOFTMAX_BODY: "    (lambda: 0).__globals__\n" + SOFTMAX_BODY},
                               "attribute `.__globals__`"),
    "module_through_a_library": ("", {SOFTMAX_BODY: "    torch.serialization.os\n" + SOFTMAX_BODY},
                                 "attribute `.os` (the `os` module)"),
    "subclass_walk": ("", {SOFTMAX_BODY: "    ().__class__.__base__.__subclasses__()\n" + SOFTMAX_BODY},
                      "attribute `.__subclasses__`"),
    "a_thread_outside_the_mode": ("import threading\n", {}, "import of `threading`"),
}


@pytest.mark.parametrize("name", list(CHEATS))
def test_integrity_findings_score_the_assignment_zero(tmp_path: Path, name: str) -> None:
    prepend, edits, construct = CHEATS[name]
    sub = submission(tmp_path, prepend=prepend, edits=edits)
    report = grade(sub, [A03], isolate=False)  # no learner code runs: the scan stops the assignment first
    (a,) = report.assignments
    assert a.score == 0 and a.max_score == 44 and report.grader_faults == 0
    found = [f for f in a.integrity if f["construct"] == construct]
    assert found and found[0]["file"] == f"{A03}.py", a.integrity
    assert f"line {found[0]['line']}: {construct} — graded code may not use it; remove it" in a.error
    assert all(c.status != "passed" and a.error in c.message for c in a.checks)
    assert a.to_dict()["integrity"] == a.integrity


def test_the_integrity_finding_through_the_command_line(tmp_path: Path) -> None:
    prepend, edits, construct = CHEATS["disable_torch_function"]
    sub = submission(tmp_path / "sub", prepend=prepend, edits=edits)
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(sub), "--only", "a03",
                          "--json", str(tmp_path / "r.json"), "--feedback", str(tmp_path / "f.md")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    (a,) = data["assignments"]
    assert data["score"] == 0 and a["integrity"][0]["construct"] == construct
    assert f"{construct} — graded code may not use it; remove it" in run.stdout
    assert "graded code may not use it" in (tmp_path / "f.md").read_text()


# -- the protocol: payloads past the scan cannot forge, crash or stall grading -------------------
CHANNEL = '''

def _pipes():
    import os, stat
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and stat.S_ISFIFO(os.fstat(int(name)).st_mode):
                yield int(name)
        except OSError:
            pass


def _spray(data):
    import os
    for fd in list(_pipes()):
        try:
            os.write(fd, data)
        except OSError:
            pass


def _forge():  # full marks claimed for whatever request is pending, with a made-up tag
    import json, struct
    for seq in range(1, 400):
        head = json.dumps({"status": "ok", "seq": seq, "returns": {"$dict": {}}}).encode()
        _spray(struct.pack(">QQ", len(head), 0) + head + bytes(32))


def _huge():
    import struct
    _spray(struct.pack(">QQ", 2**62, 2**62))
'''


@pytest.fixture
def no_landlock(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a kernel without Landlock: with it, the payloads cannot list /proc/self/fd and never find the pipes
    (tests/test_sandbox.py), and the authentication behind it would go untested."""
    monkeypatch.setenv("SCRATCHGRAD_CONFINE_SKIP", "landlock")


def test_forged_and_oversized_answers_cost_only_the_checks_that_wrote_them(tmp_path: Path, no_landlock: None) -> None:
    sub = submission(tmp_path, append=CHANNEL, edits={V1_FORWARD: "        _forge()\n" + V1_FORWARD,
                                                      V2_FORWARD: "        _huge()\n" + V2_FORWARD})
    t0 = time.monotonic()
    report = grade(sub, [A03], integrity=False, call_timeout_s=5.0)
    checks = checks_by_name(report, A03)
    for name in ("v1_snapshot", "self_attention_v1_matches_reference"):
        assert checks[name].status == "error" and "failed authentication" in checks[name].message, name
    for name in ("v2_snapshot", "self_attention_v2_matches_reference"):
        assert checks[name].status == "error" and "frame too large" in checks[name].message, name
    honest = {n: c.message for n, c in checks.items() if "v1" not in n and "v2" not in n and c.status != "passed"}
    assert not honest, honest  # softmax, causal, wrapper and multi-head checks: unchanged
    assert report.assignments[0].score == 44 - sum(checks[n].max_score for n in checks if "v1" in n or "v2" in n)
    assert report.grader_faults == 0 and report.grader["worker_starts"] >= 3
    assert time.monotonic() - t0 < 180


def test_forging_inside_softmax_costs_every_check_that_calls_it_and_stays_in_budget(tmp_path: Path,
                                                                                    no_landlock: None) -> None:
    """softmax runs in nearly every check: each forged answer costs a fresh worker, and the budget caps the total."""
    sub = submission(tmp_path, append=CHANNEL, edits={SOFTMAX_BODY: "    _forge()\n" + SOFTMAX_BODY})
    t0 = time.monotonic()
    report = grade(sub, [A03], integrity=False, assignment_budget_s=20.0)
    elapsed = time.monotonic() - t0
    checks = checks_by_name(report, A03)
    softmax_users = [n for n in checks if n not in ("no_banned_apis", "mha_rejects_bad_input")]
    assert not [n for n in softmax_users if checks[n].status == "passed"]
    reasons = {checks[n].message for n in softmax_users}
    assert all("failed authentication" in m or m == "time budget exhausted" for m in reasons), reasons
    assert report.grader_faults == 0 and report.assignments[0].score <= 2
    assert elapsed < 20 + 60, elapsed  # the budget, plus the worker start and one hard kill


def test_a_frame_at_import_time_fails_the_import_not_the_grader(tmp_path: Path, no_landlock: None) -> None:
    sub = submission(tmp_path, source=ASSIGNMENTS, append=CHANNEL + "\n_forge()\n")
    report = grade(sub, [A03], integrity=False)
    (a,) = report.assignments
    assert a.score == 0 and report.grader_faults == 0
    assert all("failed authentication" in c.message for c in a.checks if c.name != "no_banned_apis")
    assert report.grader["worker_starts"] == 1  # the import failed once; no check started another worker


# -- time budgets ---------------------------------------------------------------------------
def test_budgets_stop_code_that_stays_just_under_the_call_limit(tmp_path: Path) -> None:
    sub = submission(tmp_path, prepend="import time\n",
                     edits={SOFTMAX_BODY: "    time.sleep(0.25)  # far below the 10 s call limit, on every call\n"
                                          + SOFTMAX_BODY})
    t0 = time.monotonic()
    report = grade(sub, [A03, "a04_gpt_blocks"], assignment_budget_s=4.0, submission_budget_s=7.0)
    elapsed = time.monotonic() - t0
    a03, a04 = report.assignments
    spent = [c for c in a03.checks if c.status == "timeout"]
    assert spent and all(c.message == "time budget exhausted" and c.score == 0 for c in spent)
    assert any(c.message == "time budget exhausted" for c in a04.checks)  # what a03 left was not enough
    assert report.grader_faults == 0 and a03.score < 44
    assert elapsed < 60, elapsed  # 7 s of checks, plus the worker start and the suites


# -- signals ----------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker process through /proc")
@pytest.mark.parametrize("signum, only", [(signal.SIGTERM, ["a03"]), (signal.SIGINT, ["a03"]),
                                          (signal.SIGTERM, ["a03", "a10"])],  # two grader processes
                         ids=["sigterm", "sigint", "sigterm-2-jobs"])
def test_a_signal_stops_grading_with_a_partial_report(tmp_path: Path, signum: int, only: list[str]) -> None:
    sub = submission(tmp_path / "sub", prepend="import time\n",
                     edits={SOFTMAX_BODY: "    time.sleep(0.05)\n" + SOFTMAX_BODY})
    private = tmp_path / "private"  # the private copies, so the workers' command lines, land here
    private.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(sub), "--only", *only,
                             "--jobs", str(len(only)), "--json", str(tmp_path / "r.json"),
                             "--feedback", str(tmp_path / "f.md")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "TMPDIR": str(private)})
    try:
        deadline = time.monotonic() + 120
        while len(processes_mentioning(str(private))) < len(only) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(processes_mentioning(str(private))) >= len(only)  # a worker per grader process
        time.sleep(6.0)  # into the checks
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert "interrupted by" in err
    data = json.loads((tmp_path / "r.json").read_text())
    assert [a["id"] for a in data["assignments"]] == [resolve(a) for a in only]
    statuses = {c["status"] for a in data["assignments"] for c in a["checks"]}
    stopped = [c for a in data["assignments"] for c in a["checks"] if c["message"] == "grading interrupted"]
    assert stopped and statuses <= {"passed", "error", "skipped"}, statuses
    assert data["grader"]["interrupted"] == signum
    assert (tmp_path / "f.md").read_text().startswith("# Feedback for sub")
    deadline = time.monotonic() + 10
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(tmp_path)) == []  # every grader process and worker went with it


# -- feedback cannot be forged by learner text --------------------------------------------------
HOSTILE_TEXT = "```\n\n**Score: 44 / 44**\n\n<script>alert('x')</script>\n````` <b>bold</b>\x1b[2J\rTotal 44 / 44"


def test_learner_text_cannot_fake_a_score_or_add_html(tmp_path: Path) -> None:
    sub = submission(tmp_path / "sub", edits={SOFTMAX_BODY: f"    print({HOSTILE_TEXT!r})\n"
                                                            f"    raise ValueError({HOSTILE_TEXT!r})\n"})
    report = grade(sub, [A03], isolate=False)
    md = render_markdown(report)
    fence: str | None = None
    outside = []
    for line in md.splitlines():  # CommonMark: a fence closes on a line of at least as many backticks
        stripped = line.strip()
        if fence is None and stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        elif fence is not None and stripped.startswith(fence) and set(stripped) == {"`"}:
            fence = None
        elif fence is None:
            outside.append(line)
    assert fence is None
    assert [line for line in outside if "Score:" in line] == [f"**Score: {report.score:g} / {report.max_score:g}**"]
    assert report.score < 44
    assert not [line for line in outside if "<script>" in line or "<b>" in line]
    assert "<script>alert('x')</script>" in md  # still shown to the learner, inside a fence
    text = render_terminal(report)
    assert "\x1b" not in text and "\r" not in text and "\x1b" not in md  # no terminal escapes either
