"""Real nbgrader on the course `scratchgrad nbgrader` writes: generate_assignment, autograde, generate_feedback, export.

Three students hand in a03_attention: a solution (whose code also writes to stderr and warns while
it is graded: that must cost nothing), the untouched release (a stub) and a mutant (no causal mask);
they hand in a10_instruction too (the solution, the stub, a mutant), so that the fine-tuning track is
on every route. The exported CSV must give full marks, zero and partial credit, and for each
assignment the same scores as `scratchgrad grade` and Gradescope's results.json on the same
notebooks (the parity of the three routes). One course, one nbgrader run per step and one Gradescope
run per student serve both assignments.
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
from tests.banks.a10_instruction import MUTANTS as A10_MUTANTS
from tests.banks.edits import Edit, Variant, apply
from tests.conftest import ROOT

# one xdist worker runs this module: its module-scoped fixtures are expensive, built once
pytestmark = pytest.mark.xdist_group("nbgrader")

AID = "a03_attention"
# the fine-tuning track's assignment on the three routes: of a10 and a13 (the candidates with the
# fastest notebooks), a10's solutions grade faster (6.4 s user CPU against 8.4 s for a13, measured)
NEW = "a10_instruction"
PARITY = (AID, NEW)
STUDENTS = ("alice", "bob", "carol")  # a correct solution, the untouched release (a stub), a mutant
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


def hand_in(course: Path, student: str, aid: str, solution_source: str | None) -> Path:
    """The released notebook of `aid`, its solution cells filled from `solution_source` (None: untouched)."""
    released = json.loads((course / "release" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
    if solution_source is not None:
        full = {c["metadata"]["nbgrader"]["grade_id"]: c for c in source_notebook(aid, solution_source)["cells"]}
        for cell in released["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution"):
                cell["source"] = full[meta["grade_id"]]["source"]
    dest = course / "submitted" / student / aid / f"{aid}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(released), encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict:
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    build_course(course, ids=list(PARITY))
    solution = {aid: (ROOT / "solutions" / f"{aid}.py").read_text(encoding="utf-8") for aid in PARITY}
    (mutant,) = [v for v in MUTANTS if v.name == "mha_no_causal_mask"]
    (mutant10,) = [v for v in A10_MUTANTS if v.name == "all_pads_ignored"]
    log, subs = "", {}
    # "a*" is every assignment of this course (PARITY): one nbgrader process per step, not one per assignment
    log += nbgrader(course, "generate_assignment", "a*", "--force").stderr
    for aid, alice, carol in ((AID, NOISY, mutant), (NEW, None, mutant10)):
        subs[aid] = {"alice": hand_in(course, "alice", aid, apply(solution[aid], alice) if alice else solution[aid]),
                     "bob": hand_in(course, "bob", aid, None),
                     "carol": hand_in(course, "carol", aid, apply(solution[aid], carol))}
    for command in (("autograde", "a*"), ("generate_feedback", "a*"), ("export",)):
        log += nbgrader(course, *command).stderr
    with open(course / "grades.csv", newline="", encoding="utf-8") as f:
        grades = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(f)}
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
    assert sorted(g) == sorted((aid, s) for aid in PARITY for s in STUDENTS)
    assert float(g[AID, "alice"]["max_score"]) == 44.0
    assert float(g[AID, "alice"]["score"]) == 44.0, "a correct solution (noisy on stderr) must get full marks"
    for aid in PARITY:
        full = float(g[aid, "alice"]["max_score"])
        assert full > 0 and float(g[aid, "alice"]["score"]) == full, aid
        assert float(g[aid, "bob"]["score"]) == 0.0, aid
        assert 0.0 < float(g[aid, "carol"]["score"]) < full, aid


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


@pytest.fixture(scope="module")
def routes(course: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[float, float]]:
    """(assignment, student) -> (Gradescope's score, `scratchgrad grade`'s score): one bundle for both
    assignments, one Gradescope run and one `grade` per student."""
    from tests.test_gradescope import fake_root, run_autograder
    tmp = tmp_path_factory.mktemp("routes")
    bundle = tmp / "autograder.zip"
    built = subprocess.run([sys.executable, "-m", "autograder", "gradescope", str(bundle), "--only", *PARITY],
                           capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    scores = {}
    for student in STUDENTS:
        root = fake_root(tmp / student, bundle)
        for aid in PARITY:
            shutil.copy(course["subs"][aid][student], root / "submission" / f"{aid}.ipynb")
        doc, _log = run_autograder(root)
        report = grade(root / "submission", list(PARITY))
        assert doc["score"] == report.score, student
        for a in report.assignments:
            on_gradescope = round(sum(t["score"] for t in doc["tests"] if t["tags"][0] == a.id), 6)
            scores[a.id, student] = (on_gradescope, a.score)
    return scores


@pytest.mark.parametrize("aid", PARITY)
def test_same_score_on_all_three_routes(course: dict, routes: dict, aid: str) -> None:
    """One submission, one score: nbgrader's export, `scratchgrad grade` and Gradescope's results.json agree."""
    for student in STUDENTS:
        on_gradescope, cli = routes[aid, student]
        on_nbgrader = float(course["grades"][aid, student]["score"])
        assert on_gradescope == cli == pytest.approx(on_nbgrader, abs=1e-6), (student, on_gradescope, cli, on_nbgrader)
