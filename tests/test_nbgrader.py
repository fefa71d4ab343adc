"""Real nbgrader on the course `scratchgrad nbgrader` writes: generate_assignment, autograde, generate_feedback, export.

Three students hand in a03_attention: a solution (whose code also writes to stderr and warns while
it is graded: that must cost nothing), the untouched release (a stub) and a mutant (no causal mask).
The exported CSV must give full marks, zero and partial credit, and the same scores as
`scratchgrad grade` on the same notebooks (the parity of the two routes).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading import grade
from autograder.nbgrader_course import build_course, source_notebook
from tests.banks.a03_attention import MUTANTS
from tests.banks.edits import Edit, Variant, apply
from tests.conftest import ROOT

AID = "a03_attention"
pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[dev]' installs it)")

# a correct solution that is noisy (inside a solution cell: nbgrader restores the read-only cells):
# it writes to stderr and warns on every forward, in the notebook's kernel and in the grader's worker
NOISY = Variant("noisy_solution", "correct, but writes to stderr and warns", [
    Edit(old="        return self.out_proj(context)  # (B, T, d_out)",
         # logging, not sys.stderr: graded code may not import sys (the integrity scan)
         new="        import logging\n        import warnings\n\n"
             "        logging.getLogger('mine').warning('noise from my attention')  # to stderr\n"
             "        warnings.warn('a torch-style UserWarning from the learner')\n"
             "        return self.out_proj(context)  # (B, T, d_out)"),
])


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


def hand_in(course: Path, student: str, solution_source: str | None) -> Path:
    """The released notebook, its solution cells filled from `solution_source` (None: untouched)."""
    released = json.loads((course / "release" / AID / f"{AID}.ipynb").read_text(encoding="utf-8"))
    if solution_source is not None:
        full = {c["metadata"]["nbgrader"]["grade_id"]: c for c in source_notebook(AID, solution_source)["cells"]}
        for cell in released["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution"):
                cell["source"] = full[meta["grade_id"]]["source"]
    dest = course / "submitted" / student / AID / f"{AID}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(released), encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict:
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    build_course(course, ids=[AID])
    log = nbgrader(course, "generate_assignment", AID, "--force").stderr
    solution = (ROOT / "solutions" / f"{AID}.py").read_text(encoding="utf-8")
    (mutant,) = [v for v in MUTANTS if v.name == "mha_no_causal_mask"]
    subs = {"alice": hand_in(course, "alice", apply(solution, NOISY)),
            "bob": hand_in(course, "bob", None),
            "carol": hand_in(course, "carol", apply(solution, mutant))}
    for command in (("autograde", AID), ("generate_feedback", AID), ("export",)):
        log += nbgrader(course, *command).stderr
    with open(course / "grades.csv", newline="", encoding="utf-8") as f:
        grades = {row["student_id"]: row for row in csv.DictReader(f)}
    return {"dir": course, "grades": grades, "subs": subs, "log": log}


def test_the_generated_config_holds_only_options_nbgrader_knows(course: dict) -> None:
    assert "not recognized" not in course["log"], course["log"][-2000:]
    assert "[" in course["log"]  # the log was captured (nbgrader logs to stderr)


def test_release_has_no_solutions_or_hidden_tests(course: dict) -> None:
    released = (course["dir"] / "release" / AID / f"{AID}.ipynb").read_text(encoding="utf-8")
    source = (course["dir"] / "source" / AID / f"{AID}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" in source and "BEGIN HIDDEN TESTS" in source
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
    assert 'grade_cell(\'a03_attention\', \\"hidden\\")' not in released
    assert "torch.triu" not in released  # the solution's causal mask


def test_exported_csv_has_partial_credit(course: dict) -> None:
    g = course["grades"]
    assert float(g["alice"]["max_score"]) == 44.0
    assert float(g["alice"]["score"]) == 44.0, "a correct solution (noisy on stderr) must get full marks"
    assert float(g["bob"]["score"]) == 0.0
    assert 0.0 < float(g["carol"]["score"]) < 44.0


def test_each_test_cell_gets_partial_credit(course: dict) -> None:
    nb = json.loads((course["dir"] / "autograded" / "carol" / AID / f"{AID}.ipynb").read_text(encoding="utf-8"))
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if c["metadata"].get("nbgrader")}
    for grade_id in (f"{AID}_public_checks", f"{AID}_hidden_checks"):
        outputs = cells[grade_id]["outputs"]
        assert not [o for o in outputs if o["output_type"] == "error" or o.get("name") == "stderr"], outputs
        (value,) = [o for o in outputs if o["output_type"] == "execute_result"]
        points = float("".join(value["data"]["text/plain"]))
        assert 0 < points < cells[grade_id]["metadata"]["nbgrader"]["points"]
    assert "causal mask" in "".join(cells[f"{AID}_hidden_checks"]["outputs"][0]["text"])


def test_feedback_is_written(course: dict) -> None:
    html = (course["dir"] / "feedback" / "carol" / AID / f"{AID}.html").read_text(encoding="utf-8")
    assert "mha_is_causal" in html


def test_scratchgrad_nbgrader_refuses_an_existing_course(course: dict) -> None:
    run = subprocess.run([sys.executable, "-m", "autograder", "nbgrader", str(course["dir"])], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "already holds a course" in run.stderr


def test_same_score_on_all_three_routes(course: dict, tmp_path: Path) -> None:
    """One submission, one score: nbgrader's export, `scratchgrad grade` and Gradescope's results.json agree."""
    from tests.test_gradescope import fake_root, run_autograder
    bundle = tmp_path / "autograder.zip"
    built = subprocess.run([sys.executable, "-m", "autograder", "gradescope", str(bundle), "--only", AID],
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    for student, notebook in course["subs"].items():
        root = fake_root(tmp_path / student, bundle)
        shutil.copy(notebook, root / "submission" / notebook.name)
        doc, _log = run_autograder(root)
        cli = grade(root / "submission", [AID]).score
        assert doc["score"] == cli == float(course["grades"][student]["score"]), student
