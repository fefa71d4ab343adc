"""The command line as users drive it (a contract: scripts depend on these words and exit codes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.assignments import UsageError, resolve
from tests.conftest import ASSIGNMENTS, ROOT


def scratchgrad(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # this checkout's engine wherever the command runs (not an installed copy)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env=env)


def tree(folder: Path) -> set[str]:
    """Every file and folder under `folder`, minus bytecode caches (the worker's own business)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.parametrize("token", ["a03_attention", "a03", "03", "3", "attention", "A03", "a03_attention.py"])
def test_id_spellings(token: str) -> None:
    assert resolve(token) == "a03_attention"


def test_unknown_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown assignment 'a99'"):
        resolve("a99")
    run = scratchgrad("check", "a99")
    assert run.returncode == 2 and "unknown assignment 'a99'" in run.stderr


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    run = scratchgrad("grade", str(tmp_path / "nope"))
    assert run.returncode == 2 and "does not exist" in run.stderr
    run = scratchgrad("check", "--path", str(tmp_path / "nope"))
    assert run.returncode == 2 and "is not a folder" in run.stderr
    run = scratchgrad("grade", "solutions", "--timeout", "0")
    assert run.returncode == 2 and "--timeout" in run.stderr


def test_learner_first_check_on_the_stubs(tmp_path: Path) -> None:
    shutil.copytree(ASSIGNMENTS, tmp_path / "assignments")
    run = scratchgrad("check", "a03", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "a03_attention  0 / " in run.stdout
    assert "FAIL    softmax_rows_sum_to_one" in run.stdout
    assert "not implemented yet: a03: softmax" in run.stdout
    assert "(hidden)" not in run.stdout and "matches_reference" not in run.stdout


def test_grade_writes_json_and_feedback(tmp_path: Path) -> None:
    out, fb = tmp_path / "r" / "report.json", tmp_path / "feedback.md"
    run = scratchgrad("grade", "solutions", "--only", "attention", "--json", str(out), "--feedback", str(fb))
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"submission", "score", "max_score", "assignments", "grader"}
    assert report["score"] == report["max_score"] > 0
    (a,) = report["assignments"]
    assert a["id"] == "a03_attention"
    assert {"name", "status", "score", "max_score", "visibility", "message", "counterexample", "hint"} <= set(a["checks"][0])
    assert set(report["grader"]) >= {"version", "seed", "elapsed_s"}
    assert fb.read_text().startswith("# Feedback for solutions")
    assert f"Total {report['score']:g} / {report['max_score']:g}" in run.stdout


def test_checking_writes_nothing_into_the_learners_folders(tmp_path: Path) -> None:
    """No .hypothesis/ (Hypothesis makes one in the current folder even with database=None), nothing new."""
    shutil.copytree(ASSIGNMENTS, tmp_path / "assignments")
    before = tree(tmp_path)
    run = scratchgrad("check", "a03", cwd=tmp_path, env={"SCRATCHGRAD_CACHE": str(tmp_path.parent / "cache")})
    assert run.returncode == 0, run.stderr
    assert tree(tmp_path) == before
    assert (tmp_path.parent / "cache" / "hypothesis").is_dir()  # where Hypothesis keeps its files instead
