"""`pytest` on a learner's folder runs the public checks: one item per check, the CLI's verdicts and messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from autograder.assignments import load_suite
from autograder.grading import grade
from tests.conftest import ROOT, SOLUTIONS

pytest_plugins = ["pytester"]

# once the project is installed, pytest loads the plugin itself (entry point `pytest11`); before, it is named
# here (naming it twice would register the same module twice)
INSTALLED = any(ep.name == "scratchgrad" for ep in entry_points(group="pytest11"))
PLUGIN = () if INSTALLED else ("-p", "autograder.pytest_plugin")

NO_MAX = ("    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1): keepdim so it broadcasts against x\n",
          "    x_max = torch.zeros_like(x).amax(dim=dim, keepdim=True)  # forgot to subtract the maximum\n")


@pytest.fixture(autouse=True)
def _grader_paths_outlive_pytester(monkeypatch: pytest.MonkeyPatch):
    """pytester runs with HOME set to its own folder: keep the GPT-2 cache where this process has it.

    Otherwise the in-process run points TIKTOKEN_CACHE_DIR (and the worker's cached read plan) at a
    folder that is gone by the next test in this process.
    """
    from autograder import gpt2_vocab, sandbox
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(gpt2_vocab.tiktoken_cache_dir()))
    plan = list(sandbox._PLAN)
    yield
    sandbox._PLAN[:] = plan


@pytest.fixture
def learner(pytester: pytest.Pytester) -> Path:
    """A learner's folder: a03 written (softmax without the max trick), a04 the solutions'."""
    for aid in ("a03_attention", "a04_gpt_blocks"):
        shutil.copy(SOLUTIONS / f"{aid}.py", pytester.path / f"{aid}.py")
    module = pytester.path / "a03_attention.py"
    text = module.read_text(encoding="utf-8")
    assert NO_MAX[0] in text
    module.write_text(text.replace(NO_MAX[0], NO_MAX[1]), encoding="utf-8")
    return pytester.path


def test_one_item_per_public_check_with_the_clis_verdicts(pytester: pytest.Pytester, learner: Path) -> None:
    result = pytester.runpytest(*PLUGIN, "-rf")
    expected = grade(learner, ["a03_attention", "a04_gpt_blocks"], visibility="public")
    verdicts = {(a.id, c.name): c for a in expected.assignments for c in a.checks}
    failed = {k: c for k, c in verdicts.items() if c.status not in ("passed", "skipped")}
    skipped = [k for k, c in verdicts.items() if c.status == "skipped"]
    assert failed and len(failed) < len(verdicts)  # the mistake costs some checks, not all
    n_public = sum(len([c for c in load_suite(a, hidden=False).checks if c.visibility == "public"]) + 1
                   for a in ("a03_attention", "a04_gpt_blocks"))
    assert len(verdicts) == n_public
    result.assert_outcomes(passed=len(verdicts) - len(failed) - len(skipped), failed=len(failed),
                           skipped=len(skipped))
    for (aid, name), c in failed.items():  # the short summary shows the same message as the CLI
        result.stdout.fnmatch_lines([f"FAILED {aid}.py::{name} - {c.message.splitlines()[0][:20]}*"])
    result.stdout.fnmatch_lines(["*scratchgrad*", f"a03_attention: {expected.assignments[0].score:g} / *",
                                 "graded through 1 worker process"])


def test_a_single_check_runs_by_its_node_id(pytester: pytest.Pytester, learner: Path) -> None:
    """(It failed under xdist once another test in the same process left an `a03_attention` from its own
    folder in sys.modules: pytest's collection then refused this folder's; InProcess.close drops them now.)"""
    result = pytester.runpytest(*PLUGIN, "a03_attention.py::softmax_large_inputs")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*exp overflowed*"])


def test_files_inside_a_package_are_not_collected(pytester: pytest.Pytester) -> None:
    """A project's own modules named like assignments (test banks, suites) stay out unless asked for."""
    pkg = pytester.mkpydir("banks")
    shutil.copy(SOLUTIONS / "a03_attention.py", pkg / "a03_attention.py")
    assert pytester.runpytest(*PLUGIN, "--collect-only").ret == pytest.ExitCode.NO_TESTS_COLLECTED
    asked = pytester.runpytest(*PLUGIN, "--collect-only", "--scratchgrad")
    asked.stdout.fnmatch_lines(["*softmax_rows_sum_to_one*"])


def test_the_projects_own_suite_collects_the_same_with_the_plugin() -> None:
    def collect(*flags: str) -> list[str]:
        run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                              *flags, "tests/test_stubs.py", "tests/test_report.py", "tests/banks"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        return [line for line in run.stdout.splitlines() if "::" in line]

    with_plugin, without = collect(*PLUGIN), collect("-p", "no:scratchgrad")
    assert with_plugin == without and without
