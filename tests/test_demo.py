"""The pretraining demo runs the whole track on the corpus, with the solutions and with the learner kit's layout."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_demo_runs_the_track_end_to_end() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "pretrain_demo.py"), "--path", "solutions",
                          "--steps", "5", "--merges", "30", "--context", "16"], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for stage in ("a01 tokenizer: 30 merges", "a02 data:", "a05 model:", "a06 loss before training",
                  "trained 5 steps", "a08 greedy: 'The lighthouse keeper", "a08 temperature 0.8, top_k 40:"):
        assert stage in out, out


def test_demo_names_a_bad_argument() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "pretrain_demo.py"), "--steps", "0"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "--steps=0 must be at least 1" in run.stderr


def test_demo_on_unfinished_modules_names_the_module_and_its_check(tmp_path) -> None:
    """a03 still a stub under finished a01/a02/a04-a08: no traceback, the task and `scratchgrad check a03`."""
    import shutil
    for f in (ROOT / "solutions").glob("a[0-9][0-9]_*.py"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(ROOT / "assignments" / "a03_attention.py", tmp_path / "a03_attention.py")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "pretrain_demo.py"), "--path", str(tmp_path),
                          "--steps", "1", "--merges", "10", "--context", "8"], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "is not written yet" in run.stderr and "scratchgrad check a03" in run.stderr
    (tmp_path / "a04_gpt_blocks.py").write_text("def broken(:\n")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "pretrain_demo.py"), "--path", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "a04_gpt_blocks.py" in run.stderr and "scratchgrad check a04" in run.stderr
