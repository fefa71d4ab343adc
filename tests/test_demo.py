"""The pretraining demo runs the whole track on the corpus, with the solutions and with the learner kit's layout."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS

PNG = b"\x89PNG\r\n\x1a\n"


def _demo(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "examples" / "pretrain_demo.py"), "--path", str(path),
                           "--steps", "5", "--merges", "30", "--context", "16", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_demo_runs_the_track_end_to_end(tmp_path: Path) -> None:
    """With the solutions, training uses a07's own AdamW and train_model, and the curves land in --out."""
    run = _demo(SOLUTIONS, tmp_path)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for stage in ("a01 tokenizer: 30 merges", "a02 data:", "a05 model:", "a06 loss before training",
                  "a07 training: your AdamW and train_model", "trained 5 steps",
                  "a08 greedy: 'The lighthouse keeper", "a08 temperature 0.8, top_k 40:"):
        assert stage in out, out
    if importlib.util.find_spec("matplotlib") is None:
        assert "no loss-curve PNG" in out and "scratchgrad[plots]" in out
    else:
        png = tmp_path / "loss_curves.png"
        assert f"loss curves: {png}" in out and png.read_bytes()[:8] == PNG


def test_demo_falls_back_to_torch_adamw_while_a07_is_a_stub(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the `plots` extra) is not installed")
    folder = tmp_path / "modules"
    folder.mkdir()
    for f in SOLUTIONS.glob("a0[1-8]_*.py"):
        shutil.copy(f, folder / f.name)
    shutil.copy(ASSIGNMENTS / "a07_training.py", folder / "a07_training.py")
    run = _demo(folder, tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert "your a07_training is not implemented yet (a07: AdamW.__init__); training with PyTorch's AdamW" in run.stdout
    assert "trained 5 steps" in run.stdout and (tmp_path / "out" / "loss_curves.png").read_bytes()[:8] == PNG
    assert not list(folder.glob("*.png"))  # nothing written next to the learner's files


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
