"""`scratchgrad nbgrader COURSE_DIR`: an nbgrader course with one assignment per curriculum module.

Each `source/<aid>/<aid>.ipynb` is the solution notebook with nbgrader's schema-3 cell metadata:

- the module's code cells holding `### BEGIN SOLUTION` regions are solution cells (nbgrader replaces
  each region with its stub when it generates the student version); the other module cells and all
  Markdown are read-only;
- two autograded test cells close the notebook: the public checks, and the hidden checks between
  `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`. Each is worth the points of its checks and gets
  partial credit: the cell's value is the points earned (see `notebooks.grade_cell`).

The test cells do not grade inside the kernel that ran the student's code: they hand the module,
assembled from the notebook, to a fresh `scratchgrad grade` process with its own sandboxed worker.
Nothing reaches nbgrader on stderr (any stderr output makes nbgrader give a cell zero), so a torch
warning costs nothing. Assignments that import earlier ones start with a cell that finds the
student's earlier module (next to the notebook, or in the sibling assignment folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import __version__
from .assignments import UsageError, available, load_suite
from .launch import PROJECT_ROOT
from .notebooks import _cell, build_notebook, dumps
from .stubs import BEGIN

SCHEMA = 3

CONFIG = '''"""nbgrader configuration for the scratchgrad course (written by scratchgrad {version})."""

c = get_config()  # noqa: F821  (nbgrader provides it)
c.CourseDirectory.course_id = "scratchgrad"
# the assignments ({assignments}) enter nbgrader's database when `generate_assignment` first runs on each
# nbgrader's own stub for a solution region; the check messages still say which task is missing
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
# a test cell starts a grader process (~5 s) and runs every check of the assignment
c.Execute.timeout = 900
c.Execute.interrupt_on_timeout = True
'''

README = """# scratchgrad course for nbgrader

Written by `scratchgrad nbgrader` {version}. One nbgrader assignment per module: {ids}.

```bash
cd {course}
nbgrader generate_assignment a03_attention     # release/a03_attention/: solutions cleared, hidden tests removed
# ... collect submissions into submitted/<student>/a03_attention/ ...
nbgrader autograde a03_attention
nbgrader generate_feedback a03_attention
nbgrader export                                # grades.csv
```

The machine that runs `autograde` needs scratchgrad with its hidden checks installed (the instructor's
install); the students need the learner kit (`scratchgrad release`) for the public test cell.
Each test cell prints what failed and why; its value is the points earned (nbgrader partial credit).
For assignments that build on earlier ones (a04 imports a03, ...), autograde the earlier assignment
first: the student's earlier module is looked up next to the notebook, then in the sibling
assignment folder (`../a03_attention/`).

Regrading the same notebook with `scratchgrad grade` on the `.ipynb` gives the same score.
"""


def _points(aid: str) -> tuple[float, float]:
    """(public, hidden) points of an assignment, as the report counts them."""
    suite = load_suite(aid, hidden=True)
    public = sum(c.points for c in suite.checks if c.visibility == "public") + (suite.ban_points if suite.bans else 0)
    hidden = sum(c.points for c in suite.checks if c.visibility == "hidden")
    return round(public, 6), round(hidden, 6)


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: float | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA,
                            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook(aid: str, solution_source: str) -> dict[str, Any]:
    """The nbgrader source notebook of `aid` (the instructor's version, with solutions and hidden tests)."""
    public, hidden = _points(aid)

    def code_meta(text: str, index: int) -> dict[str, Any]:
        if BEGIN in text:
            return _meta(f"{aid}_part{index}", solution=True)
        return _meta(f"{aid}_part{index}", locked=True)

    tests = [
        _cell("markdown", "## Tests\n\nThe public checks are the ones `check` runs; the hidden checks run when "
                          "your notebook is graded. Each cell prints what failed and why.", f"{aid}-tests-md",
              _meta(f"{aid}_tests_md", locked=True)),
        _cell("code", f"# Public checks ({public:g} points): the value is the points earned\n"
                      f"from autograder.notebooks import grade_cell\n\ngrade_cell({aid!r}, \"public\")",
              f"{aid}-public", _meta(f"{aid}_public_checks", grade=True, locked=True, points=public)),
        _cell("code", f"# Hidden checks ({hidden:g} points): they run when your notebook is graded\n"
                      f"from autograder.notebooks import grade_cell\n\n### BEGIN HIDDEN TESTS\n"
                      f"grade_cell({aid!r}, \"hidden\")\n### END HIDDEN TESTS",
              f"{aid}-hidden", _meta(f"{aid}_hidden_checks", grade=True, locked=True, points=hidden)),
    ]
    nb = build_notebook(aid, solution_source, final_cells=tests, code_metadata=code_meta)
    for i, cell in enumerate(nb["cells"]):  # Markdown and the setup cell: read-only
        if not cell["metadata"]:
            cell["metadata"] = _meta(f"{aid}_cell{i}", locked=True)
    return nb


def build_course(course: Path, *, root: Path = PROJECT_ROOT, ids: list[str] | None = None) -> list[Path]:
    """Write the course folder: `nbgrader_config.py`, `README.md` and `source/<aid>/<aid>.ipynb`.

    Raises:
        UsageError: `course` exists and holds a `source/` folder (never overwrite an instructor's course),
            or `course` is a file.
    """
    course = Path(course)
    if course.exists() and (not course.is_dir() or (course / "source").exists()):
        raise UsageError(f"nbgrader COURSE_DIR={str(course)!r} already holds a course (or is a file); "
                         f"choose a new folder")
    ids = ids or available()
    written = []
    for aid in ids:
        src = root / "solutions" / f"{aid}.py"
        if not src.is_file():
            raise UsageError(f"{src} is missing: the nbgrader course is built from the solutions")
        target = course / "source" / aid / f"{aid}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(source_notebook(aid, src.read_text(encoding="utf-8"))), encoding="utf-8")
        written.append(target)
    listed = ", ".join(ids)
    (course / "nbgrader_config.py").write_text(CONFIG.format(version=__version__, assignments=listed),
                                               encoding="utf-8")
    (course / "README.md").write_text(README.format(version=__version__, course=course,
                                                    ids=", ".join(f"`{a}`" for a in ids)), encoding="utf-8")
    return [*written, course / "nbgrader_config.py", course / "README.md"]
