"""Public checks for a10_instruction: the template as a property of the texts, the collate function against
stored reference outputs (`snapshots/a10_instruction.json`, built by `JSON_SNAPSHOTS`) and properties.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st

from autograder.kit import CheckFailure, Context, Raised, Suite, assert_close
from autograder.mistakes.a10_instruction import PREAMBLE, PROMPT_MISTAKES, RESPONSE_MISTAKES, collate_hints
from autograder.snapshots import load_json

SUITE = Suite("a10_instruction")
check = SUITE.check
INPUT, RESPONSE, COLLATE = "format_input", "format_response", "custom_collate_fn"
ADDITION = "(this assignment's addition to the book's code, stated in the stub)"

# name -> (batch, kwargs): the collate cases stored with the reference's outputs
COLLATE_CASES: dict[str, tuple[list[list[int]], dict[str, Any]]] = {
    "uneven": ([[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]], {}),
    "equal_lengths": ([[1, 2], [3, 4]], {}),
    "empty_item": ([[5, 6, 7], []], {}),
    "truncated": ([[1, 2, 3, 4, 5, 6], [7, 8]], {"allowed_max_length": 4}),
    "not_truncated": ([[1, 2], [3]], {"allowed_max_length": 9}),
    "other_pad_and_ignore": ([[1, 2, 3], [4], [5, 6]], {"pad_token_id": 0, "ignore_index": -1}),
}
MASK_CASES: dict[str, tuple[list[list[int]], dict[str, Any]]] = {
    "prompt_mask": ([[1, 2, 3, 4, 5], [6, 7, 8], [9, 10]], {"mask_prompt_lengths": [3, 1, 2]}),
    "prompt_mask_zero": ([[1, 2, 3, 4], [5, 6]], {"mask_prompt_lengths": [0, 2]}),
    "prompt_mask_truncated": ([[1, 2, 3, 4, 5, 6, 7], [8, 9]], {"mask_prompt_lengths": [4, 1], "allowed_max_length": 5,
                                                                "pad_token_id": 0}),
}


def JSON_SNAPSHOTS(ref: ModuleType) -> dict[str, Any]:
    out = {}
    for name, (batch, kwargs) in {**COLLATE_CASES, **MASK_CASES}.items():
        inputs, targets = ref.custom_collate_fn(batch, **kwargs)
        out[name] = [inputs.tolist(), targets.tolist()]
    return out


# -- the template ----------------------------------------------------------------------------
TEXTS = st.text(st.characters(codec="utf-8"), max_size=12)
FIXED = [(" Rewrite this.\n", "  the cat "), ("Name a colour.", "")]  # whitespace a strip would lose


def _prompts(ctx: Context, instruction: str, text: str, output: str) -> None:
    ctx.example(values={"instruction": instruction, "input": text, "output": output})
    entry = {"instruction": instruction, "input": text, "output": output}
    got, response = ctx.fetch(ctx.call(INPUT, entry), ctx.call(RESPONSE, entry))
    want = f"{PREAMBLE}\n\n### Instruction:\n{instruction}" + (f"\n\n### Input:\n{text}" if text else "")
    ctx.expect_close(got, want, name=f"{INPUT}({entry!r})", hints=PROMPT_MISTAKES(instruction=instruction, text=text))
    ctx.expect_close(response, f"\n\n### Response:\n{output}", name=f"{RESPONSE}({entry!r})",
                     hints=RESPONSE_MISTAKES(output=output))


@check(points=3, visibility="public", kind="property", targets=(INPUT, RESPONSE), max_examples=10,
       description="format_input / format_response: the Alpaca template character for character, with the input "
                   "section only for a non-empty input")
def prompt_strings(ctx: Context) -> None:
    for instruction, text in FIXED:
        _prompts(ctx, instruction, text, " Paris.\n")

    @ctx.given(instruction=TEXTS, text=st.one_of(st.just(""), TEXTS), output=TEXTS)
    def _(instruction: str, text: str, output: str) -> None:
        _prompts(ctx, instruction, text, output)


@check(points=1, visibility="public", kind="property", targets=(INPUT, RESPONSE),
       description=f"format_input without an 'input' key has no input section {ADDITION}; a missing 'instruction' "
                   f"or 'output' raises ValueError or KeyError")
def prompt_missing_keys(ctx: Context) -> None:
    no_input, no_instruction = {"instruction": "Sort the list.", "output": "1, 2"}, {"input": "x", "output": "y"}
    ctx.example(config={"entries": [no_input, no_instruction, {"instruction": "z"}]})
    got, bad_input, bad_response = ctx.fetch(ctx.call(INPUT, no_input, catch=True),
                                             ctx.call(INPUT, no_instruction, catch=True),
                                             ctx.call(RESPONSE, {"instruction": "z"}, catch=True))
    want = f"{PREAMBLE}\n\n### Instruction:\nSort the list."
    if got != want:
        raise CheckFailure(f"{INPUT}({no_input!r}): got {got if isinstance(got, Raised) else repr(got)}, expected "
                           f"{want!r}: a missing 'input' key means no input section {ADDITION}")
    ctx.expect_raises(bad_input, f"{INPUT}({no_instruction!r})", ("ValueError", "KeyError"), mention=("instruction",))
    ctx.expect_raises(bad_response, f"{RESPONSE}({{'instruction': 'z'}})", ("ValueError", "KeyError"), mention=("output",))


# -- custom_collate_fn -------------------------------------------------------------------------
def replay_collate(ctx: Context, cases: dict[str, tuple[list[list[int]], dict[str, Any]]]) -> None:
    stored = load_json(ctx.suite.assignment)
    for case, (batch, kwargs) in cases.items():
        ctx.example(config={"batch": batch, **kwargs})
        (out,) = ctx.fetch(ctx.call(COLLATE, batch, **kwargs))
        expect_rows(out, stored[case], f"{COLLATE}({batch}{''.join(f', {k}={v}' for k, v in kwargs.items())})",
                    collate_hints(batch, kwargs))


def expect_rows(out: Any, want: list[list[list[int]]], name: str, hints: Any) -> None:
    """`out` is a pair of (B, T) int64 tensors whose rows are `want` (inputs rows, targets rows)."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise CheckFailure(f"{name}: expected a pair (inputs, targets), got {out!r:.80}")
    for what, t in zip(("inputs", "targets"), out):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.dtype != torch.int64:
            raise CheckFailure(f"{name}: {what} is {getattr(t, 'dtype', t)!s:.60} of shape "
                               f"{tuple(getattr(t, 'shape', ()))}, expected a 2-d int64 tensor")
    assert_close([out[0].tolist(), out[1].tolist()], want, name=f"{name}: [inputs rows, targets rows]", hints=hints)


@check(points=3, visibility="public", kind="snapshot", targets=(COLLATE,),
       description="custom_collate_fn: one end-of-text pad per item, padded to the longest, shifted by one, every "
                   "pad but the first ignored in the targets, truncated to allowed_max_length; int64 rows (stored "
                   "reference outputs)")
def collate_snapshot(ctx: Context) -> None:
    replay_collate(ctx, COLLATE_CASES)


@check(points=2, visibility="public", kind="snapshot", targets=(COLLATE,),
       description=f"custom_collate_fn with mask_prompt_lengths: targets[:L - 1] ignored, L = 0 masks nothing "
                   f"(stored reference outputs) {ADDITION}")
def collate_prompt_mask_snapshot(ctx: Context) -> None:
    replay_collate(ctx, MASK_CASES)


@check(points=2, visibility="public", kind="property", targets=(COLLATE,),
       description="custom_collate_fn: leaves the caller's lists unchanged and puts both tensors on `device`")
def collate_special(ctx: Context) -> None:
    p = ctx.p
    tok = p.call(p.runtime("toys"), method="ByteTokenizer", learner=False)
    items = [p.call(tok, text, method="encode", learner=False) for text in ("hello", "hi")]  # lists in the worker
    ctx.example(config={"batch": [list(b"hello"), list(b"hi")], "device": "meta"})
    out = ctx.call(COLLATE, items, device="meta")
    devices = [p.get(p.call(out, i, method="__getitem__", learner=False, catch=True), "device") for i in (0, 1)]
    after, devices = ctx.fetch(items, devices)
    if after != [list(b"hello"), list(b"hi")]:
        raise CheckFailure(f"{COLLATE}: the caller's lists were modified (now {after}); work on copies "
                           f"(item + [pad_token_id], not item += ...)")
    if [str(d) for d in devices] != ["meta", "meta"]:
        raise CheckFailure(f"{COLLATE}(batch, device='meta'): the tensors are on {[str(d) for d in devices]}, "
                           f"expected the given device")


@check(points=1, visibility="public", kind="property", targets=(COLLATE,),
       description=f"custom_collate_fn: ValueError for an empty batch and for mask_prompt_lengths of the wrong "
                   f"length {ADDITION}")
def collate_errors(ctx: Context) -> None:
    ctx.example(config={"calls": ["custom_collate_fn([])", "custom_collate_fn(2 items, mask_prompt_lengths=[1, 1, 1])"]})
    empty, mismatch = ctx.fetch(ctx.call(COLLATE, [], catch=True),
                                ctx.call(COLLATE, [[1, 2], [3]], mask_prompt_lengths=[1, 1, 1], catch=True))
    ctx.expect_raises(empty, f"{COLLATE}([])")
    ctx.expect_raises(mismatch, f"{COLLATE}(batch of 2 items, mask_prompt_lengths=[1, 1, 1]) {ADDITION}",
                      mention=("2", "3"))
