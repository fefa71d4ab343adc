"""a10_instruction: instruction fine-tuning data (the book's chapter 7).

To teach a GPT to follow instructions, every training example (an instruction, an optional input
and the desired output) is written out as one text in a fixed template, the Alpaca prompt:

    Below is an instruction that describes a task. Write a response that appropriately completes the request.

    ### Instruction:
    Rewrite the sentence in passive voice.

    ### Input:
    The cat chased the mouse.

    ### Response:
    The mouse was chased by the cat.

The model is then trained on these texts with the ordinary next-token loss (a06). What is new is
the batching: the texts have different lengths, so `custom_collate_fn` pads them into one tensor,
shifts them into inputs and targets, and marks the target positions the loss must skip with
`ignore_index` (-100, which a06's `cross_entropy` and F.cross_entropy both skip):

- the padding, except ONE end-of-text token per row, so the model learns where a response stops;
- optionally the prompt itself (`mask_prompt_lengths`, the book's exercise 7.2), so the loss is
  computed on the response only.

1. `format_input`, `format_response`: the template, exactly as in the book.
2. `custom_collate_fn`: a list of token-id lists -> (inputs, targets) tensors.

Shape letters: B = batch size, T = the longest item's length (one pad appended, then one position
dropped by the shift), or `allowed_max_length` when that is smaller.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch

PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")


def _require(entry: dict, key: str) -> str:
    """Given (not a task): `entry[key]`, or a ValueError that names the missing key."""
    if not isinstance(entry, dict):
        raise TypeError(f"entry must be a dict, got {type(entry).__name__}")
    if key not in entry:
        raise ValueError(f"entry has no {key!r} key (keys: {sorted(entry)})")
    return entry[key]


def format_input(entry: dict) -> str:
    """The prompt: the preamble, the instruction, and the input when there is one.

    Exactly: PREAMBLE + "\\n\\n### Instruction:\\n" + entry["instruction"], then
    "\\n\\n### Input:\\n" + entry["input"] only when `entry` has an "input" key whose value is a
    non-empty string (a missing key and "" both mean no input section). No trailing newline, no
    stripping of the texts: the grader compares the string character for character.

    Args:
        entry: a dict with "instruction" (str) and optionally "input" (str); other keys are ignored.

    Returns:
        The prompt string.

    Raises:
        ValueError: "instruction" is missing (use `_require(entry, "instruction")`; the book's code
            raises KeyError there, which the grader accepts too).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a10: format_input")


def format_response(entry: dict) -> str:
    """The part the model learns to write: "\\n\\n### Response:\\n" + entry["output"].

    Raises:
        ValueError: "output" is missing (KeyError accepted too, as for `format_input`).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a10: format_response")


def custom_collate_fn(batch: list[list[int]], pad_token_id: int = 50256, ignore_index: int = -100,
                      allowed_max_length: int | None = None, device: torch.device | str = "cpu",
                      mask_prompt_lengths: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch of token-id lists into shifted (inputs, targets) tensors for next-token training.

    For each item (do not modify the caller's lists):
    1. append one `pad_token_id` (the end-of-text token the model should learn to emit), then pad
       with `pad_token_id` to the length of the longest item + 1;
    2. inputs = that row without its last position, targets = that row without its first;
    3. in the targets, every `pad_token_id` but the FIRST becomes `ignore_index`;
    4. with `mask_prompt_lengths`, item i's prompt length L = mask_prompt_lengths[i] (in tokens):
       targets[:L - 1] becomes `ignore_index` (those targets are prompt tokens); L = 0 masks nothing
       (careful: targets[:-1] would mask almost everything);
    5. with `allowed_max_length`, keep only the first allowed_max_length positions of both.
    Stack the rows into int64 tensors on `device`. Items hold the pad id only as padding.

    Args:
        batch: B lists of token ids (ints), lengths may differ, an empty list is allowed.
        pad_token_id: the padding / end-of-text id. ignore_index: the target value the loss skips.
        allowed_max_length: the most positions to keep, or None.
        device: where the tensors go.
        mask_prompt_lengths: None, or B prompt lengths (ints >= 0), one per item (an addition to the
            book's collate function: its exercise 7.2 does the same inside the dataset loop).

    Returns:
        (inputs, targets), each (B, T) int64 on `device`.

    Raises:
        ValueError: `batch` is empty, or mask_prompt_lengths does not have one length per item
            (the message shows the two sizes).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a10: custom_collate_fn")
