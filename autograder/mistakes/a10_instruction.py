"""The known mistakes of a10_instruction: public and hidden checks give the same hints.

The prompt mistakes compute the wrong string from the entry; the collate mistakes compute the
wrong (inputs, targets) rows, as lists, from the batch and the call's arguments.
"""

from __future__ import annotations

from typing import Any

from autograder.compare import Misconceptions

PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")
BOOK_PAD, BOOK_IGNORE = 50256, -100


def prompt(instruction: str, text: str, *, sep: str = "\n\n", always: bool = False) -> str:
    """The Alpaca prompt with `sep` between sections; the input section when `text` is non-empty (or `always`)."""
    out = f"{PREAMBLE}{sep}### Instruction:\n{instruction}"
    return out + f"{sep}### Input:\n{text}" if text or always else out


PROMPT_MISTAKES = Misconceptions("format_input")


@PROMPT_MISTAKES.add("input_section_always", "your prompt has an \"### Input:\" section for an empty input: add it "
                     "only when entry[\"input\"] is non-empty", when=lambda text, **_: not text)
def _(instruction, text):
    return prompt(instruction, text, always=True)


@PROMPT_MISTAKES.add("single_newlines", "your sections are separated by one newline: the template puts a blank line "
                     "between them, \"\\n\\n### Instruction:\\n\" and \"\\n\\n### Input:\\n\"")
def _(instruction, text):
    return prompt(instruction, text, sep="\n")


@PROMPT_MISTAKES.add("prompt_trailing_newline", "your prompt ends with a trailing newline: it ends with the "
                     "instruction (or the input) itself")
def _(instruction, text):
    return prompt(instruction, text) + "\n"


_STRIPPED = "your prompt has the instruction or input stripped of whitespace: copy the texts character for character"


@PROMPT_MISTAKES.add("texts_stripped", _STRIPPED)
def _(instruction, text):
    return prompt(instruction.strip(), text.strip())


@PROMPT_MISTAKES.add("instruction_stripped", _STRIPPED)
def _(instruction, text):
    return prompt(instruction.strip(), text)


RESPONSE_MISTAKES = Misconceptions("format_response")


@RESPONSE_MISTAKES.add("response_header_without_blank_line", "your response does not start with a blank line: it is "
                       "\"\\n\\n### Response:\\n\" + entry[\"output\"]")
def _(output):
    return f"### Response:\n{output}"


@RESPONSE_MISTAKES.add("response_single_newline", "your response starts with one newline: it is "
                       "\"\\n\\n### Response:\\n\" + entry[\"output\"]")
def _(output):
    return f"\n### Response:\n{output}"


def collate(batch: list[list[int]], pad: int = BOOK_PAD, ignore: int = BOOK_IGNORE, allowed: int | None = None,
            masks: list[int] | None = None, *, eot: bool = True, keep_first_pad: bool = True, mask_pads: bool = True,
            shift: bool = True, cut_items: bool = False, mask_extra: int = -1, zero_masks_all: bool = False,
            mask_inputs: bool = False) -> list[list[list[int]]]:
    """[inputs rows, targets rows] of custom_collate_fn; the keyword flags make its known mistakes."""
    if cut_items and allowed is not None:
        batch = [item[:allowed] for item in batch]
    width = max(map(len, batch)) + (1 if eot else 0)
    inputs, targets = [], []
    for i, item in enumerate(batch):
        row = list(item) + [pad] * (width - len(item))
        x, y = row[:-1], (row[1:] if shift else row[:-1])
        pads = [j for j, t in enumerate(y) if t == pad]
        for j in pads[1 if keep_first_pad else 0:] if mask_pads else []:
            y[j] = ignore
        L = masks[i] if masks is not None else 0
        if L > 0 or (zero_masks_all and masks is not None):
            target = x if mask_inputs else y
            target[:L + mask_extra] = [ignore] * len(target[:L + mask_extra])
        inputs.append(x if allowed is None or cut_items else x[:allowed])
        targets.append(y if allowed is None or cut_items else y[:allowed])
    return [inputs, targets]


COLLATE_MISTAKES = Misconceptions("custom_collate_fn")
_IGNORED_PADS = "in each target row every pad_token_id but the first becomes ignore_index"


@COLLATE_MISTAKES.add("no_end_of_text_token", "your rows match padding to the longest item without first appending "
                      "one pad_token_id to every item: the longest items then get no end-of-text target",
                      when=lambda batch, allowed, **_: allowed is None or allowed >= max(map(len, batch)))
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, eot=False)


@COLLATE_MISTAKES.add("all_pads_kept", f"your targets keep every padding token: {_IGNORED_PADS}, so the loss skips "
                      f"them")
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, mask_pads=False)


@COLLATE_MISTAKES.add("all_pads_ignored", f"your targets replace the first padding token too: {_IGNORED_PADS} (the "
                      f"first one is the end-of-text token the model must learn to emit)")
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, keep_first_pad=False)


@COLLATE_MISTAKES.add("targets_not_shifted", "your targets equal the inputs: targets are the padded row without its "
                      "first position (shifted by one), inputs without its last")
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, shift=False)


@COLLATE_MISTAKES.add("truncate_items_first", "your rows match cutting the items to allowed_max_length before "
                      "appending the end-of-text token: pad and shift first, then keep the first allowed_max_length "
                      "positions", when=lambda allowed, **_: allowed is not None)
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, cut_items=True)


@COLLATE_MISTAKES.add("pad_id_hardcoded", "your rows are padded with 50256 whatever pad_token_id says: use the "
                      "pad_token_id argument", when=lambda pad, **_: pad != BOOK_PAD)
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, BOOK_PAD, ignore, allowed, masks)


@COLLATE_MISTAKES.add("ignore_index_hardcoded", "your targets hold -100 whatever ignore_index says: use the "
                      "ignore_index argument", when=lambda ignore, **_: ignore != BOOK_IGNORE)
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, BOOK_IGNORE, allowed, masks)


@COLLATE_MISTAKES.add("prompt_mask_one_too_many", "your targets mask L positions of each prompt: mask targets[:L - 1] "
                      "(target j is token j + 1, so the prompt's last token predicts the first response token)",
                      when=lambda masks, **_: masks is not None)
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, mask_extra=0)


@COLLATE_MISTAKES.add("prompt_mask_zero_masks_all", "a prompt length L = 0 masked almost every target: "
                      "targets[:L - 1] is targets[:-1] for L = 0; mask nothing then",
                      when=lambda masks, **_: masks is not None and 0 in masks)
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, zero_masks_all=True)


@COLLATE_MISTAKES.add("prompt_mask_on_inputs", "your inputs are masked instead of the targets: write ignore_index into "
                      "targets[:L - 1]; the inputs keep every token", when=lambda masks, **_: masks is not None)
def _(batch, pad, ignore, allowed, masks):
    return collate(batch, pad, ignore, allowed, masks, mask_inputs=True)


def collate_hints(batch: list[list[int]], kwargs: dict[str, Any]) -> Any:
    """COLLATE_MISTAKES bound to a call custom_collate_fn(batch, **kwargs)."""
    return COLLATE_MISTAKES(batch=batch, pad=kwargs.get("pad_token_id", BOOK_PAD),
                            ignore=kwargs.get("ignore_index", BOOK_IGNORE), allowed=kwargs.get("allowed_max_length"),
                            masks=kwargs.get("mask_prompt_lengths"))
