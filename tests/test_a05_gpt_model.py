"""a05_gpt_model beyond its bank: a mistake in a04 shows in a05 with a note; the 124M count costs no memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.grading import grade
from autograder.runtime import a05_helpers
from tests.banks.a04_gpt_blocks import MUTANTS as A04_MUTANTS
from tests.conftest import ROOT, checks_by_name, make_submission

A05 = "a05_gpt_model"
NOTE = "also runs your a04_gpt_blocks code, which lost points above"


def test_an_a04_mistake_fails_a05_checks_with_a_note(tmp_path: Path) -> None:
    """A post-LN block (an a04 mistake) under the a05 solution: a05 loses points, and says where they went."""
    (variant,) = [v for v in A04_MUTANTS if v.name == "post_layernorm"]
    report = grade(make_submission(tmp_path, "a04_gpt_blocks", variant), ["a04_gpt_blocks", A05], isolate=False)
    assert checks_by_name(report, "a04_gpt_blocks")["block_is_pre_ln_residual"].status == "failed"
    a05 = checks_by_name(report, A05)
    failed = {name: c for name, c in a05.items() if c.status != "passed"}
    assert {"gpt_snapshot", "gpt_matches_reference", "generate_matches_reference"} <= set(failed)
    for name, c in failed.items():
        assert NOTE in c.message, f"{name} failed without pointing at a04: {c.message}"
    # what a05 wires up itself is right: the checks that compare with the learner's own blocks pass
    for name in ("model_parameters", "gpt2_124m_parameter_count", "forward_composes_the_pieces",
                 "generate_is_greedy", "generate_crops_context", "generate_without_gradients", "generate_with_your_gpt"):
        assert a05[name].status == "passed", (name, a05[name].message)


def test_gpt2_124m_count_allocates_no_weights() -> None:
    """The helper counts 163,009,536 parameters while the process grows by far less than 650 MB."""
    script = (
        "import resource, sys\n"
        f"sys.path[:0] = [{str(ROOT / 'solutions')!r}, {str(ROOT)!r}]\n"
        "import torch\n"
        "from a05_gpt_model import GPTModel\n"
        "from autograder.runtime.a05_helpers import meta_parameters\n"
        "from autograder.suites.a05_gpt_model import GPT2_124M\n"
        "import math\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "shapes = meta_parameters(GPTModel, GPT2_124M)\n"
        "grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024\n"
        "print(sum(math.prod(s) for s in shapes.values()), grown_mb)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    count, grown_mb = run.stdout.split()
    assert int(count) == 163_009_536
    assert float(grown_mb) < 150, f"building the 124M model grew the process by {grown_mb} MB"


def test_meta_helper_restores_torch_after_an_error() -> None:
    """The helper runs learner code with nn.init patched; an exception there must not leave torch patched."""
    original = torch.nn.init.normal_

    class Broken(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Linear(3, 4)
            raise RuntimeError("learner bug")

    with pytest.raises(RuntimeError, match="learner bug"):
        a05_helpers.meta_parameters(Broken)
    assert torch.nn.init.normal_ is original
    assert torch.empty(2).device.type == "cpu"
    assert a05_helpers.meta_parameters(torch.nn.Linear, 3, 4, bias=False) == {"weight": [4, 3]}
