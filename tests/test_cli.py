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
from tests.conftest import ASSIGNMENTS, KIT_BLOCKER, ROOT


def scratchgrad(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # this checkout's engine wherever the command runs (not an installed copy)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env=env)


def tree(folder: Path) -> set[str]:
    """Every file and folder under `folder`, minus bytecode caches (the worker's own business)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.parametrize("token", ["a03_attention", "a03", "a3", "03", "3", "attention", "A03", "a03_attention.py"])
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
    # nothing to check here or above (the filesystem root: a temporary folder's parents may hold anything),
    # and the error names no flag the user did not pass
    run = scratchgrad("check", cwd=Path(tmp_path.anchor))
    assert run.returncode == 2 and "no assignment files" in run.stderr and "--path DIR" in run.stderr
    assert "is not a folder" not in run.stderr
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


def test_check_finds_the_assignments_from_where_the_learner_is(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    shutil.copytree(ASSIGNMENTS, kit / "assignments")
    (kit / "notes" / "deep").mkdir(parents=True)
    for where, args in ((kit / "assignments", ("a3",)), (kit / "notes" / "deep", ("3",)),
                        (tmp_path, ("kit/assignments/a03_attention.py",))):
        run = scratchgrad("check", *args, cwd=where)
        assert run.returncode == 0, (where, run.stderr)
        assert "a03_attention  0 / " in run.stdout and "a04_gpt_blocks" not in run.stdout, where


def test_bare_command_lists_the_commands() -> None:
    run = scratchgrad()
    assert run.returncode == 0 and "check" in run.stdout and "grade-all" in run.stdout


def test_learner_kit_cli_lists_only_what_the_kit_can_do() -> None:
    """Without the hidden checks (a kit), grade/release/... are not offered (they used to end in tracebacks)."""
    program = KIT_BLOCKER + "from autograder.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([sys.executable, "-c", program, *a], capture_output=True, text=True, cwd=ROOT,
                                    env=env, timeout=120)
    listed = run("--help").stdout
    assert "check" in listed
    for command in ("grade", "grade-all", "release", "gradescope", "nbgrader", "snapshots", "stubs"):
        assert f"    {command} " not in listed and f"    {command}\n" not in listed, command
        refused = run(command, "x")
        assert refused.returncode == 2 and "invalid choice" in refused.stderr and "Traceback" not in refused.stderr
    assert "--watch" in run("check", "--help").stdout


def test_progress_bar_on_a_terminal_is_gone_before_the_report(tmp_path: Path) -> None:
    """On a TTY the bar redraws in place and is cleared; the report's header starts on a clean line."""
    import pty
    shutil.copytree(ASSIGNMENTS, tmp_path / "assignments")
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "check", "a03"], cwd=tmp_path, stdin=child,
                            stdout=child, stderr=child, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child side closed
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    os.close(main)
    text = b"".join(chunks).decode()
    assert "checks" in text and "\r" in text  # the bar was drawn and redrawn in place
    header = text.index("scratchgrad ")
    before = text[:header]
    # the bar's line was cleared (tqdm ends with a carriage return after blanking it), no marks glued to the title
    assert before == "" or before.endswith(("\r", "\n")), repr(before[-80:])
    assert "xxxx" not in text


def test_no_progress_output_when_not_a_terminal(tmp_path: Path) -> None:
    shutil.copytree(ASSIGNMENTS, tmp_path / "assignments")
    run = scratchgrad("check", "a03", cwd=tmp_path)
    assert run.returncode == 0 and run.stderr == ""


def test_print_output_shows_head_and_tail_and_all_of_it_with_verbose(tmp_path: Path) -> None:
    shutil.copytree(ASSIGNMENTS, tmp_path / "assignments")
    module = tmp_path / "assignments" / "a03_attention.py"
    module.write_text(module.read_text().replace(
        '    raise NotImplementedError("a03: softmax")',
        '    for i in range(12):\n        print(f"debug line {i}")\n    raise NotImplementedError("a03: softmax")'))
    short = scratchgrad("check", "a03", cwd=tmp_path).stdout
    assert "your code printed (12 lines):" in short
    assert "| debug line 0" in short and "| debug line 1\n" in short and "| debug line 11" in short
    assert "| debug line 5" not in short and "[... 8 lines not shown; --verbose shows them]" in short
    verbose = scratchgrad("check", "a03", "--verbose", cwd=tmp_path).stdout
    assert all(f"| debug line {i}\n" in verbose for i in range(12)) and "not shown" not in verbose


def test_an_import_failure_is_reported_once_per_assignment(tmp_path: Path) -> None:
    for aid in ("a03_attention", "a04_gpt_blocks"):
        shutil.copy(ROOT / "solutions" / f"{aid}.py", tmp_path / f"{aid}.py")
    with open(tmp_path / "a03_attention.py", "a") as f:
        f.write("\ndef broken(:\n")
    run = scratchgrad("check", "a03", "a04", "--path", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("does not parse") == 1  # a03's own problem
    assert run.stdout.count("importing a04_gpt_blocks.py failed: SyntaxError") == 1  # a04's, once, not 19 times
    assert "ERROR   layernorm_snapshot" in run.stdout
