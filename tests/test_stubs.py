"""Stub generation: assignments/ is built from the solution regions and kept in sync."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from autograder.stubs import MarkerError, find_regions, make_stub, stale
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS


def test_assignments_folder_is_current() -> None:
    assert stale(SOLUTIONS, ASSIGNMENTS) == [], "run `scratchgrad stubs` and commit assignments/"


def test_every_stub_task_raises_not_implemented_with_its_name() -> None:
    for solution in sorted(SOLUTIONS.glob("a[0-9][0-9]_*.py")):
        stub = (ASSIGNMENTS / solution.name).read_text()
        assert "### BEGIN SOLUTION" not in stub
        tasks = [r.task for r in find_regions(solution.read_text(), str(solution))]
        assert tasks and all(f'raise NotImplementedError("{t}")' in stub for t in tasks)
        ast.parse(stub)  # still valid Python


def test_stub_shape() -> None:
    src = ('def f(x: int) -> int:\n    """Doc."""\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n'
           '    ### END SOLUTION\n\n\nclass A:\n    def g(self):\n        ### BEGIN SOLUTION\n        return 1\n'
           '        ### END SOLUTION\n')
    out = make_stub(src, "a07_demo.py")
    assert out == ('def f(x: int) -> int:\n    """Doc."""\n    # YOUR CODE HERE\n'
                   '    raise NotImplementedError("a07: f")\n\n\nclass A:\n    def g(self):\n'
                   '        # YOUR CODE HERE\n        raise NotImplementedError("a07: A.g")\n')


@pytest.mark.parametrize("src,where,what", [
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", ":3:", "nested"),
    ("def f():\n    ### BEGIN SOLUTION\n    pass\n", ":2:", "never closed"),
    ("def f():\n    pass\n    ### END SOLUTION\n", ":3:", "without a matching"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", ":1:", "inside a function"),
    ("def f():\n    x = 1  ### BEGIN SOLUTION\n", ":2:", "alone on its line"),
])
def test_bad_markers_name_file_and_line(src: str, where: str, what: str) -> None:
    with pytest.raises(MarkerError) as info:
        make_stub(src, "a01_x.py")
    assert f"a01_x.py{where}" in str(info.value) and what in str(info.value)


def test_cli_check_reports_stale_stubs(tmp_path) -> None:
    sol, out = tmp_path / "solutions", tmp_path / "assignments"
    sol.mkdir()
    (sol / "a05_demo.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "autograder", "stubs", "--solutions", str(sol),
                                     "--out", str(out), "--notebooks", str(tmp_path / "notebooks"), *a],
                                    capture_output=True, text=True, cwd=ROOT)
    stale_run = run("--check")
    assert stale_run.returncode == 1 and "a05_demo.py is missing" in stale_run.stdout
    assert run().returncode == 0 and run("--check").returncode == 0
    (out / "a05_demo.py").write_text("edited by hand\n")
    assert run("--check").returncode == 1
    (sol / "a05_demo.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    broken = run()
    assert broken.returncode == 2 and "a05_demo.py:2" in broken.stderr and "never closed" in broken.stderr


def test_regenerating_never_destroys_edits(tmp_path) -> None:
    """A learner's edit stops `stubs` (nothing written); a file nobody touched follows the solutions."""
    sol, out, nbs = tmp_path / "solutions", tmp_path / "assignments", tmp_path / "notebooks"
    sol.mkdir()
    for name in ("a05_demo.py", "a06_other.py"):
        (sol / name).write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "autograder", "stubs", "--solutions", str(sol),
                                     "--out", str(out), "--notebooks", str(nbs), *a],
                                    capture_output=True, text=True, cwd=ROOT)
    assert run().returncode == 0
    (out / "a05_demo.py").write_text("def f():\n    return 1  # my work\n")
    refused = run()
    assert refused.returncode == 1 and "a05_demo.py" in refused.stderr and "--force" in refused.stderr
    assert "a06_other.py" not in refused.stderr and "wrote" not in refused.stdout
    assert (out / "a05_demo.py").read_text() == "def f():\n    return 1  # my work\n"
    # solutions changed: the untouched stub is stale, not edited, and is rewritten once the edit is out of the way
    (sol / "a06_other.py").write_text("def g():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n")
    forced = run("--force")
    assert forced.returncode == 0, forced.stderr
    kept = list(out.glob("a05_demo.py.edited-*"))
    assert len(kept) == 1 and kept[0].read_text() == "def f():\n    return 1  # my work\n"
    assert "kept your edited" in forced.stdout and str(kept[0]) in forced.stdout
    assert 'raise NotImplementedError("a06: g")' in (out / "a06_other.py").read_text()
    assert run("--check").returncode == 0 and run().returncode == 0


def test_help_marks_instructor_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True,
                         cwd=ROOT).stdout
    lines: dict[str, str] = {}
    command = ""
    for ln in out.split("options:")[0].splitlines():  # "    name  help", the help maybe on the next line
        if ln.startswith("    ") and not ln.startswith("     "):
            command = ln.split()[0]
            lines[command] = ln
        elif command:
            lines[command] += ln
    for command in ("stubs", "snapshots", "release", "nbgrader", "gradescope", "grade-all"):
        assert "(instructors)" in lines[command], lines[command]
    assert "(instructors)" not in lines["check"]


def test_every_stub_states_the_integrity_rules() -> None:
    """What the integrity scan refuses is a contract addition: each stub's docstring says it."""
    from autograder.scan import GRADED_CODE_NOTE
    for stub in sorted(ASSIGNMENTS.glob("a[0-9][0-9]_*.py")):
        doc = ast.get_docstring(ast.parse(stub.read_text(encoding="utf-8")), clean=False) or ""
        assert GRADED_CODE_NOTE in doc, stub.name
