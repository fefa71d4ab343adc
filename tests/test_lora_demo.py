"""examples/lora_finetune_demo.py: a09's head and a11's LoRA fine-tune the toy GPT, and only LoRA moves."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
import torch

from tests.banks import a09_classification as bank09
from tests.banks import a11_lora as bank11
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS, make_submission

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def demo() -> Iterator[ModuleType]:
    """The demo imported once (one corpus read, one torch import for every test), under its own name."""
    name = "lora_finetune_demo_under_test"
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "lora_finetune_demo.py")
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.modules[name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    yield module
    sys.modules.pop(name, None)


def test_lora_finetuning_learns_and_moves_only_lora(demo, capsys) -> None:
    result = demo.finetune(demo.parse_args(["--path", str(SOLUTIONS), "--epochs", "4"]))
    out = capsys.readouterr().out
    assert f"a11: your a11_lora ({SOLUTIONS / 'a11_lora.py'})" in out and "note:" not in out, out
    (before_train, before_test), (after_train, after_test) = result.before, result.after
    # measured: test 50% -> 82% after 4 epochs with seed 0 (77-80% after 8 epochs over seeds 0-5)
    assert after_test > 0.7 and after_test > before_test + 0.15, out
    assert after_train > 0.75 and after_train > before_train + 0.15, out
    # the model's three nn.Linear (two blocks' ff, the new head) each got an A and a B, the only trainable weights
    assert sorted(result.lora_names) == sorted(f"{layer}.lora.{m}" for layer in
                                               ("trf_blocks.0.ff", "trf_blocks.1.ff", "out_head") for m in "AB")
    weights = dict(result.model.named_parameters())
    assert result.trainable == sum(weights[n].numel() for n in result.lora_names) < result.total / 10
    assert f"{result.trainable:,} trainable parameters of {result.total:,}" in out
    assert result.model.out_head.linear.out_features == 2  # a09's head, wrapped by a11
    now = result.model.state_dict()
    moved = {n for n, w in now.items() if not torch.equal(w, result.start[n])}
    assert moved == result.lora_names, sorted(moved ^ result.lora_names)
    assert "weights that changed: 6 LoRA matrices" in out


def test_unfinished_modules_fall_back_to_the_instructors(demo, capsys, tmp_path) -> None:
    for aid in ("a09_classification", "a11_lora"):
        shutil.copy(ASSIGNMENTS / f"{aid}.py", tmp_path / f"{aid}.py")  # the stubs
    result = demo.finetune(demo.parse_args(["--path", str(tmp_path), "--epochs", "1"]))
    out = capsys.readouterr().out
    assert ("note: your a09_classification is not finished yet (a09: ClassificationDataset.__init__); run "
            "`scratchgrad check a09` to see what is wrong. Using the instructor's a09_classification") in out, out
    assert "note: your a11_lora is not finished yet (a11: replace_linear_with_lora)" in out, out
    assert f"a11: the instructor's a11_lora ({SOLUTIONS / 'a11_lora.py'})" in out
    assert result.after[0] > result.before[0]


def test_in_the_learner_kit_an_unfinished_module_names_its_check(demo, monkeypatch, tmp_path) -> None:
    """The kit ships examples/ without solutions/: nothing to fall back on, so stop and say what to run."""
    shutil.copy(SOLUTIONS / "a09_classification.py", tmp_path)
    shutil.copy(ASSIGNMENTS / "a11_lora.py", tmp_path)
    monkeypatch.setattr(demo, "SOLUTIONS", tmp_path / "no-solutions-here")
    with pytest.raises(SystemExit) as stop:
        demo.finetune(demo.parse_args(["--path", str(tmp_path)]))
    message = str(stop.value.code)
    assert "your a11_lora is not finished yet (a11: replace_linear_with_lora)" in message
    assert "Run `scratchgrad check a11`" in message and "no instructor's version here" in message


# The mistakes that would make the demo train something else than LoRA on a09's head, or not train: the
# probe must send each to the instructor's module. (Init-distribution and merge_lora mistakes do not
# change what the demo does; the grader catches them.)
CAUGHT = {
    "a11_lora": ("no_rank_scaling", "scale_rank_over_alpha", "b_not_zero", "lora_multiplied", "lora_only",
                 "replace_top_level_only", "replace_skips_out_head", "freeze_everything",
                 "freeze_only_linear_weights", "freeze_keeps_biases"),
    "a09_classification": ("left_padding", "pad_id_hardcoded", "label_as_float", "head_without_bias",
                           "nothing_frozen", "first_block_unfrozen", "head_frozen", "prepare_returns_none",
                           "pad_token_ignored", "counts_pads", "softmax_before_cross_entropy",
                           "accuracy_mean_of_batches"),
}


@pytest.mark.parametrize("aid", ["a11_lora", "a09_classification"])
def test_probe_rejects_mistakes_and_accepts_every_correct_alternative(demo, tmp_path, aid) -> None:
    bank, probe = (bank11, demo.probe_a11) if aid == "a11_lora" else (bank09, demo.probe_a09)
    mutants = {v.name: v for v in bank.MUTANTS}
    for variant in [mutants[n] for n in CAUGHT[aid]] + bank.ALTERNATIVES:
        folder = make_submission(tmp_path / variant.name, aid, variant)
        module = demo.import_file(folder / f"{aid}.py", f"probe_{aid}_{variant.name}")
        if variant.name in CAUGHT[aid]:
            with pytest.raises(demo.ProbeFailed):
                probe(module)
        else:
            probe(module)  # a correct alternative is used as it is


def test_a_mistake_is_named_and_replaced(demo, capsys, tmp_path) -> None:
    (mutant,) = [v for v in bank11.MUTANTS if v.name == "freeze_keeps_biases"]
    folder = make_submission(tmp_path, "a11_lora", mutant)
    result = demo.finetune(demo.parse_args(["--path", str(folder), "--epochs", "1"]))
    out = capsys.readouterr().out
    assert ("note: your a11_lora failed the demo's check: freeze_except_lora leaves 8 parameters trainable; only "
            "the 6 LoRA matrices A and B should be; run `scratchgrad check a11`") in out, out
    assert "a09: your a09_classification" in out
    assert {n for n, w in result.model.state_dict().items() if not torch.equal(w, result.start[n])} <= result.lora_names


@pytest.mark.parametrize("argv, message", [(["--epochs", "0"], "--epochs=0 must be at least 1"),
                                           (["--lr", "-1"], "--lr=-1.0 must be positive"),
                                           (["--path", "no/such/folder"], "'no/such/folder' is not a folder")])
def test_bad_arguments_are_named(demo, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as stop:
        demo.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err
