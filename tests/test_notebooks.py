"""The notebooks: generated from the modules, valid for JupyterLab 4, and they run.

Solution notebooks are executed with nbclient in one folder, in curriculum order (later notebooks
import the modules that earlier check cells save), and every check passes. A stub notebook fails
cleanly at its check cell, with the learner-facing summary rather than a grader traceback.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from autograder.assignments import available
from autograder.notebooks import (
    MARKER,
    NotebookError,
    assemble,
    build_notebook,
    dumps,
    main_block,
    module_from_file,
    split_module,
    stale_notebooks,
)
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS

nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[dev]')")
nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[dev]')")


def test_committed_notebooks_are_current() -> None:
    assert stale_notebooks(ASSIGNMENTS, ROOT / "notebooks") == [], "run `scratchgrad stubs` and commit notebooks/"


@pytest.mark.parametrize("folder", [SOLUTIONS, ASSIGNMENTS], ids=["solutions", "stubs"])
def test_notebook_round_trips_to_the_module(folder: Path, tmp_path: Path) -> None:
    """Assembled from the notebook, the module is the original minus its docstring, statement for statement."""
    for path in sorted(folder.glob("a[0-9][0-9]_*.py")):
        source = path.read_text(encoding="utf-8")
        nb_path = tmp_path / f"{path.stem}.ipynb"
        nb_path.write_text(dumps(build_notebook(path.stem, source)), encoding="utf-8")
        nb = nbformat.read(nb_path, as_version=4)
        nbformat.validate(nb)  # the nbformat 4.5 schema JupyterLab 4 reads
        assert nb.metadata.kernelspec.name == "python3"
        body = ast.parse(source).body[1:]  # without the module docstring
        if main_block(source) is not None:  # and without the script part, which the notebook shows as "Try it"
            body = body[:-1]
            assert main_block(source) in "".join(nb.cells[-1].source)
        assert ast.dump(ast.parse(module_from_file(nb_path))) == ast.dump(ast.Module(body=body, type_ignores=[]))
        doc, parts = split_module(source)
        assert doc and doc.split("\n")[0] in "".join(nb.cells[0].source)  # the explanation is Markdown


def test_jupyter_server_opens_the_notebooks() -> None:
    """JupyterLab 4 loads notebooks through jupyter_server's contents manager: it must accept ours."""
    manager_mod = pytest.importorskip("jupyter_server.services.contents.filemanager")
    cm = manager_mod.FileContentsManager(root_dir=str(ROOT / "notebooks"))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        model = cm.get(path.name)
        assert model["type"] == "notebook" and "message" not in model or not model["message"], model.get("message")
        assert model["content"]["cells"]


def test_assemble_takes_the_latest_run_of_each_part_and_names_what_is_missing() -> None:
    runs = ["# a09_x.py, part 1 of 2\nimport torch", "x = 1", "# a09_x.py, part 2 of 2\ndef f():\n    return 1",
            "# a09_x.py, part 2 of 2\ndef f():\n    return 2"]
    assert assemble("a09_x", runs, origin="t") == "# a09_x.py, part 1 of 2\nimport torch\n\n\n" \
                                                  "# a09_x.py, part 2 of 2\ndef f():\n    return 2\n"
    with pytest.raises(NotebookError, match="part 2 of 2 of a09_x.py is missing"):
        assemble("a09_x", runs[:2], origin="t")
    with pytest.raises(NotebookError, match="no cell starts with"):
        assemble("a09_x", ["x = 1"], origin="t")
    assert MARKER.match("# a03_attention.py, part 2 of 7")


def _execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, path)
    return nb


@pytest.mark.parametrize("aid", available())
def test_solution_notebook_passes_its_checks(tmp_path: Path, aid: str) -> None:
    """One test per notebook, so a parallel run spreads them. The earlier assignments' modules lie next to
    it, as their notebooks' last cells save them (test_a_dependent_notebook_... runs that chain)."""
    for earlier in available():
        if earlier < aid:
            shutil.copy(SOLUTIONS / f"{earlier}.py", tmp_path)
    path = tmp_path / f"{aid}.ipynb"
    path.write_text(dumps(build_notebook(aid, (SOLUTIONS / f"{aid}.py").read_text(encoding="utf-8"))),
                    encoding="utf-8")
    nb = _execute(path)
    (check_cell,) = [c for c in nb.cells if c.get("id") == f"{aid}-check"]  # a "Try it" cell may follow
    report = "".join(o.get("text", "") for o in check_cell.outputs)
    total = [line for line in report.splitlines() if line.startswith("Total")]
    assert total, report
    got, _, most = total[0].removeprefix("Total ").partition(" / ")
    assert got == most, report
    assert (tmp_path / f"{aid}.py").read_text(encoding="utf-8")  # saved for the notebooks that import it


def test_stub_notebook_fails_cleanly_with_the_learner_message(tmp_path: Path) -> None:
    shutil.copy(ROOT / "notebooks" / "a03_attention.ipynb", tmp_path)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        _execute(tmp_path / "a03_attention.ipynb")
    nb = nbformat.read(tmp_path / "a03_attention.ipynb", as_version=4)
    check_cell = nb.cells[-1]
    errors = [o for o in check_cell.outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ChecksFailed"
    # the learner sees the summary, not a traceback through the grader
    assert errors[0].traceback == ["a03_attention: 0 / 25 public points (15 not implemented yet); see the report above"]
    assert "not implemented yet: a03: softmax" in "".join(o.get("text", "") for o in check_cell.outputs)
    assert info.value.ename == "ChecksFailed"
    # every cell before the check ran without error: defining stubs is fine
    assert all(not [o for o in c.outputs if o.output_type == "error"] for c in nb.cells[:-1] if c.cell_type == "code")


def test_a_dependent_notebook_finds_the_earlier_module_in_a_sibling_folder(tmp_path: Path) -> None:
    """nbgrader's layout: ../a03_attention/a03_attention.ipynb next to ./a04_gpt_blocks/."""
    for aid in ("a03_attention", "a04_gpt_blocks"):
        (tmp_path / aid).mkdir()
        (tmp_path / aid / f"{aid}.ipynb").write_text(
            dumps(build_notebook(aid, (SOLUTIONS / f"{aid}.py").read_text(encoding="utf-8"))), encoding="utf-8")
    nb = json.loads((tmp_path / "a04_gpt_blocks" / "a04_gpt_blocks.ipynb").read_text(encoding="utf-8"))
    setup = [c for c in nb["cells"] if "use_earlier" in "".join(c["source"])]
    assert setup, "a04's notebook has a setup cell for its a03 dependency"
    done = _execute(tmp_path / "a04_gpt_blocks" / "a04_gpt_blocks.ipynb")
    assert (tmp_path / "a04_gpt_blocks" / "a03_attention.py").is_file()
    assert "Total 31 / 31" in "".join(o.get("text", "") for o in done.cells[-1].outputs)
