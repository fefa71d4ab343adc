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
