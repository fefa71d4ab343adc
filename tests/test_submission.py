"""The loader: one private copy of a submission's assignment modules, on every route."""

from __future__ import annotations

import json
import py_compile
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.assignments import UsageError
from autograder.submission import load
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS

IDS = ["a03_attention", "a04_gpt_blocks"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_renamed_copies_and_sub_folders_become_plain_modules(tmp_path: Path) -> None:
    src = tmp_path / "alice"
    (src / "week3" / "deeper").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "a03_attention.py", src / "week3" / "a03_attention (1).py")
    (src / "week3" / "deeper" / "a03_attention.py").write_text("# deeper, exact name")
    shutil.copy(SOLUTIONS / "a04_gpt_blocks.py", src / "A04_GPT_Blocks-2.py")
    for helper in ("random.py", "signal.py", "notes.txt"):
        (src / helper).write_text("raise SystemExit('imported a helper')\n")
    before = _tree(src)
    sub = load(src, IDS)
    try:
        assert sorted(p.name for p in sub.root.iterdir()) == ["a03_attention.py", "a04_gpt_blocks.py"]
        assert sub.files["a03_attention"].read_bytes() == b"# deeper, exact name"
        assert sub.files["a04_gpt_blocks"].read_bytes() == (SOLUTIONS / "a04_gpt_blocks.py").read_bytes()
        assert sub.origins == {"a03_attention": "week3/deeper/a03_attention.py",
                               "a04_gpt_blocks": "A04_GPT_Blocks-2.py"}
        notes = "\n".join(sub.notes)
        assert "also found `week3/a03_attention (1).py`" in notes  # the exact name wins, and the choice is said
        assert "ignored `random.py`, `signal.py`: only the assignment modules" in notes and "notes.txt" not in notes
        assert sub.name == "alice" and not sub.problems
    finally:
        sub.cleanup()
    assert not sub.root.exists() and _tree(src) == before  # the learner's folder is never touched


def test_zip_notebook_and_refusals(tmp_path: Path) -> None:
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(ROOT / "notebooks" / "a03_attention.ipynb", "hw/a03_attention.ipynb")
        zf.writestr("hw/__pycache__/a04_gpt_blocks.cpython-311.pyc", b"\0" * 16)
        zf.writestr("__MACOSX/hw/._a04_gpt_blocks.py", "junk")
    sub = load(archive, IDS)
    try:
        assert sub.origins == {"a03_attention": "hw/a03_attention.ipynb", "a04_gpt_blocks": None}
        text = sub.files["a03_attention"].read_text()
        assert "def softmax(" in text and "NotImplementedError" in text  # assembled from the stub notebook
        assert [p.name for p in sub.root.iterdir()] == ["a03_attention.py"]
    finally:
        sub.cleanup()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../a03_attention.py", "x = 1")
    with pytest.raises(UsageError, match="would land outside the folder"):
        load(evil, IDS)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UsageError, match="not a readable zip file"):
        load(tmp_path / "broken.zip", IDS)
    with pytest.raises(UsageError, match="must be a folder or a .zip"):
        load(SOLUTIONS / "a03_attention.py", IDS)
    with pytest.raises(UsageError, match="does not exist"):
        load(tmp_path / "nowhere", IDS)
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "a03_attention.py").write_bytes(b"#" * (5 << 20))
    sub = load(huge, IDS)
    assert sub.files["a03_attention"] is None and "holds 5242880 bytes" in sub.problems["a03_attention"]
    sub.cleanup()


def test_planted_helpers_and_bytecode_are_not_graded(tmp_path: Path) -> None:
    """A stub beside an unchecked-hash .pyc of the solution, and stdlib-shadowing helpers: the stub is what runs."""
    sub = tmp_path / "mallory"
    sub.mkdir()
    shutil.copy(ASSIGNMENTS / "a03_attention.py", sub / "a03_attention.py")
    for name in ("signal.py", "random.py"):  # would break the worker's start if they shadowed the stdlib
        (sub / name).write_text("raise SystemExit('shadowed the standard library')\n")
    cached = sub / "__pycache__" / f"a03_attention.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(str(SOLUTIONS / "a03_attention.py"), cfile=str(cached), dfile="a03_attention.py",
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    shutil.copy(cached, sub / "a03_attention.pyc")
    before = _tree(sub)
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(sub), "--only", "a03", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    (a03,) = report["assignments"]
    assert report["score"] == 0 and a03["max_score"] > 0
    statuses = {c["name"]: (c["status"], c["message"]) for c in a03["checks"]}
    assert all(s in ("failed", "skipped") for s, _ in statuses.values()), statuses
    assert any("not implemented yet" in m for _, m in statuses.values())  # the .py stub ran, not the .pyc
    assert "note: ignored `a03_attention.pyc`, `random.py`, `signal.py`" in run.stderr
    assert report["grader"]["files"] == {"a03_attention": "a03_attention.py"}
    assert _tree(sub) == before  # no new __pycache__ entry, nothing rewritten


def test_grading_leaves_no_bytecode_in_the_submission(tmp_path: Path) -> None:
    from autograder.grading import grade
    sub = tmp_path / "carol"
    sub.mkdir()
    shutil.copy(SOLUTIONS / "a03_attention.py", sub / "a03_attention (1).py")
    report = grade(sub, ["a03_attention"], visibility="public")
    assert report.score == report.max_score > 0  # found under its renamed name: graded, not "missing"
    assert sorted(p.name for p in sub.iterdir()) == ["a03_attention (1).py"]
    assert report.grader["files"] == {"a03_attention": "a03_attention (1).py"}
