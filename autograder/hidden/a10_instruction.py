"""Hidden checks for a10_instruction: custom_collate_fn differential against reference/a10_instruction.py."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import reference.a10_instruction as ref
from autograder.kit import Context
from autograder.mistakes.a10_instruction import collate_hints
from autograder.suites.a10_instruction import COLLATE, SUITE, expect_rows

check = SUITE.check
BATCHES = st.lists(st.lists(st.integers(1, 30), max_size=6), min_size=1, max_size=4)


def _compare(ctx: Context, batch: list[list[int]], kwargs: dict[str, Any]) -> None:
    ctx.example(config={"batch": [len(item) for item in batch], **kwargs})
    inputs, targets = ref.custom_collate_fn(batch, **kwargs)
    (out,) = ctx.fetch(ctx.call(COLLATE, batch, **kwargs))
    expect_rows(out, [inputs.tolist(), targets.tolist()], f"{COLLATE}(batch, {kwargs})", collate_hints(batch, kwargs))


def _kwargs(data: st.DataObject, batch: list[list[int]]) -> dict[str, Any]:
    drawn = {"pad_token_id": data.draw(st.sampled_from([50256, 0, 31]), label="pad_token_id"),
             "ignore_index": data.draw(st.sampled_from([-100, -1]), label="ignore_index"),
             "allowed_max_length": data.draw(st.sampled_from([None, 1, 2, 4, 8]), label="allowed_max_length")}
    return {k: v for k, v in drawn.items() if v not in (None, 50256, -100)}  # the defaults: not passed


@check(points=3, visibility="hidden", kind="differential", targets=(COLLATE,), max_examples=25,
       description="custom_collate_fn: inputs and targets match the reference on random batches, pad ids, ignore "
                   "indices and truncation lengths")
def collate_matches_reference(ctx: Context) -> None:
    @ctx.given(batch=BATCHES, data=st.data())
    def _(batch: list[list[int]], data: st.DataObject) -> None:
        _compare(ctx, batch, _kwargs(data, batch))


@check(points=2, visibility="hidden", kind="differential", targets=(COLLATE,), max_examples=20,
       description="custom_collate_fn with mask_prompt_lengths: inputs and targets match the reference")
def collate_prompt_mask_matches_reference(ctx: Context) -> None:
    @ctx.given(batch=BATCHES, data=st.data())
    def _(batch: list[list[int]], data: st.DataObject) -> None:
        masks = [data.draw(st.integers(0, len(item) + 1), label="L") for item in batch]
        _compare(ctx, batch, {**_kwargs(data, batch), "mask_prompt_lengths": masks})
