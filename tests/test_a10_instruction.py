"""a10_instruction: the solution and the independent reference agree (prompt strings, collate)."""

from __future__ import annotations

import random

import pytest
import torch

import reference.a10_instruction as ref
from tests.conftest import load_solution

SOL = load_solution("a10_instruction")
PREAMBLE = ("Below is an instruction that describes a task. Write a response that appropriately completes "
            "the request.")


def test_prompts_are_the_books_strings() -> None:
    entry = {"instruction": "Rewrite in passive voice.", "input": "The cat chased the mouse.",
             "output": "The mouse was chased by the cat."}
    for impl in (SOL, ref):
        assert impl.format_input(entry) == (PREAMBLE + "\n\n### Instruction:\nRewrite in passive voice."
                                            "\n\n### Input:\nThe cat chased the mouse.")
        assert impl.format_response(entry) == "\n\n### Response:\nThe mouse was chased by the cat."
        for no_input in ({"instruction": " Say hi \n"}, {"instruction": " Say hi \n", "input": ""}):
            assert impl.format_input(no_input) == PREAMBLE + "\n\n### Instruction:\n Say hi \n"
        with pytest.raises(ValueError, match="instruction"):
            impl.format_input({"input": "x", "output": "y"})
        with pytest.raises(ValueError, match="output"):
            impl.format_response({"instruction": "x"})


def test_collate_matches_the_books_example() -> None:
    batch = [[0, 1, 2, 3, 4], [5, 6], [7, 8, 9]]
    for impl in (SOL, ref):
        inputs, targets = impl.custom_collate_fn(batch)
        assert inputs.tolist() == [[0, 1, 2, 3, 4], [5, 6, 50256, 50256, 50256], [7, 8, 9, 50256, 50256]]
        assert targets.tolist() == [[1, 2, 3, 4, 50256], [6, 50256, -100, -100, -100], [8, 9, 50256, -100, -100]]
        assert inputs.dtype == targets.dtype == torch.int64
        assert batch == [[0, 1, 2, 3, 4], [5, 6], [7, 8, 9]]  # the caller's lists are untouched
        inputs, targets = impl.custom_collate_fn(batch, allowed_max_length=3, mask_prompt_lengths=[3, 0, 2])
        assert inputs.tolist() == [[0, 1, 2], [5, 6, 50256], [7, 8, 9]]
        assert targets.tolist() == [[-100, -100, 3], [6, 50256, -100], [-100, 9, 50256]]


def _random_case(rng: random.Random):
    pad = rng.choice([50256, 0, 99])
    B = rng.randint(1, 5)
    batch = [[rng.choice([t for t in range(1, 120) if t != pad]) for _ in range(rng.randint(0, 9))] for _ in range(B)]
    kwargs = {"pad_token_id": pad, "ignore_index": rng.choice([-100, -1, 7])}
    if rng.random() < 0.5:
        kwargs["allowed_max_length"] = rng.randint(1, 12)
    if rng.random() < 0.6:
        kwargs["mask_prompt_lengths"] = [rng.randint(0, len(item) + 1) for item in batch]
    return batch, kwargs


def test_collate_matches_reference_on_random_batches() -> None:
    rng = random.Random(0)
    for _ in range(300):
        batch, kwargs = _random_case(rng)
        got, want = SOL.custom_collate_fn(batch, **kwargs), ref.custom_collate_fn(batch, **kwargs)
        for g, w in zip(got, want):
            assert g.dtype == torch.int64 and g.device.type == "cpu" and torch.equal(g, w), (batch, kwargs)
        longest = max(map(len, batch))
        assert got[0].shape[1] == min(longest, kwargs.get("allowed_max_length", longest))


@pytest.mark.skipif(not torch.backends.mps.is_available() and not torch.cuda.is_available(),
                    reason="no second device here; 'meta' stands in below")
def test_collate_on_an_accelerator() -> None:
    device = "cuda" if torch.cuda.is_available() else "mps"
    for impl in (SOL, ref):
        inputs, targets = impl.custom_collate_fn([[1, 2], [3]], device=device)
        assert inputs.device.type == targets.device.type == device


def test_collate_moves_to_the_device_it_is_given() -> None:
    for impl in (SOL, ref):
        inputs, targets = impl.custom_collate_fn([[1, 2], [3]], device="meta")
        assert inputs.device.type == targets.device.type == "meta" and inputs.shape == (2, 2)


def test_collate_errors() -> None:
    for impl in (SOL, ref):
        with pytest.raises(ValueError, match="empty"):
            impl.custom_collate_fn([])
        with pytest.raises(ValueError, match="3"):
            impl.custom_collate_fn([[1], [2], [3]], mask_prompt_lengths=[1, 2])
