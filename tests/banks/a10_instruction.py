"""Mistakes (must lose points) and correct alternatives (must score full marks) for a10_instruction.

Kept at 25 variants (every one costs a grading in CI): ignore_index_hardcoded was dropped as a close
cousin of pad_id_hardcoded; its hint stays in autograder/mistakes/a10_instruction.py.
"""

from tests.banks.edits import Edit, Variant

_TEXT = '    text = f"{PREAMBLE}\\n\\n### Instruction:\\n{instruction}"\n'
_INPUT = ('    if entry.get("input"):  # present and non-empty\n'
          '        text += f"\\n\\n### Input:\\n{entry[\'input\']}"\n')
_RESPONSE = "    return f\"\\n\\n### Response:\\n{_require(entry, 'output')}\"\n"
_LONGEST = "    longest = max(len(item) for item in batch) + 1  # every item gets one end-of-text token\n"
_PADDED = "        padded = list(item) + [pad_token_id] * (longest - len(item))  # a copy, never the caller's list\n"
_INPUTS = "        inputs = torch.tensor(padded[:-1], dtype=torch.long)  # (longest - 1,)\n"
_TARGETS = "        targets = torch.tensor(padded[1:], dtype=torch.long)  # (longest - 1,), shifted by one\n"
_PADS = "        targets[pad_positions[1:]] = ignore_index  # keep the first pad: the end of the text\n"
_MASK = ("        if mask_prompt_lengths is not None and mask_prompt_lengths[i] > 0:\n"
         "            targets[:mask_prompt_lengths[i] - 1] = ignore_index  # targets that are still prompt\n")
_TRUNC = ("        if allowed_max_length is not None:\n"
          "            inputs, targets = inputs[:allowed_max_length], targets[:allowed_max_length]\n")
_STACK = "    return torch.stack(inputs_list).to(device), torch.stack(targets_list).to(device)  # (B, T) each\n"
_LEN_CHECK = ('    if mask_prompt_lengths is not None and len(mask_prompt_lengths) != len(batch):\n'
              '        raise ValueError(f"mask_prompt_lengths has {len(mask_prompt_lengths)} lengths for a batch of "\n'
              '                         f"{len(batch)} items")\n')

MUTANTS = [
    # -- the template -----------------------------------------------------------------------------
    Variant(
        name="input_section_always",
        why="writes the ### Input: header even when the input is empty",
        edits=[Edit(old=_INPUT, new="    text += f\"\\n\\n### Input:\\n{entry.get('input', '')}\"\n")],
        hint="Input",
    ),
    Variant(
        name="single_newlines",
        why="one newline between the sections instead of a blank line",
        edits=[Edit(old=_TEXT, new='    text = f"{PREAMBLE}\\n### Instruction:\\n{instruction}"\n')],
        hint="\\n\\n",
    ),
    Variant(
        name="texts_stripped",
        why="strips the instruction: leading and trailing whitespace lost",
        edits=[Edit(old=_TEXT, new='    text = f"{PREAMBLE}\\n\\n### Instruction:\\n{instruction.strip()}"\n')],
        hint="character for character",
    ),
    Variant(
        name="input_key_required",
        why="the book's entry[\"input\"]: a missing input key raises KeyError instead of meaning no input",
        edits=[Edit(old='    if entry.get("input"):  # present and non-empty\n', new='    if entry["input"]:\n')],
        hint="input",
    ),
    Variant(
        name="instruction_defaults_to_empty",
        why="entry.get(\"instruction\", \"\"): an entry without an instruction gives a prompt with an empty one",
        edits=[Edit(old='    instruction = _require(entry, "instruction")\n',
                    new='    instruction = entry.get("instruction", "")\n')],
        hint="ValueError",
    ),
    Variant(
        name="response_header_without_blank_line",
        why="the response starts with \"### Response:\" without the blank line before it",
        edits=[Edit(old=_RESPONSE, new="    return f\"### Response:\\n{_require(entry, 'output')}\"\n")],
        hint="Response",
    ),
    Variant(
        name="prompt_trailing_newline",
        why="ends the prompt with a newline",
        edits=[Edit(old="    return text\n", new='    return text + "\\n"\n')],
        hint="trailing",
    ),
    # -- collate ----------------------------------------------------------------------------------
    Variant(
        name="no_end_of_text_token",
        why="pads to the longest item without appending a pad first: the longest rows get no end-of-text target",
        edits=[Edit(old=_LONGEST, new="    longest = max(len(item) for item in batch)\n")],
        hint="end-of-text",
    ),
    Variant(
        name="all_pads_kept",
        why="never replaces padding targets by ignore_index: the model is trained to emit padding",
        edits=[Edit(old=_PADS, new="")],
        hint="ignore_index",
    ),
    Variant(
        name="all_pads_ignored",
        why="replaces every padding target, the first one too: the model never learns to stop",
        edits=[Edit(old=_PADS, new="        targets[pad_positions] = ignore_index\n")],
        hint="first",
    ),
    Variant(
        name="targets_not_shifted",
        why="targets = the inputs (padded[:-1]): predicts the current token, not the next",
        edits=[Edit(old=_TARGETS, new="        targets = torch.tensor(padded[:-1], dtype=torch.long)\n")],
        hint="shift",
    ),
    Variant(
        name="caller_list_mutated",
        why="appends the pad to the caller's list (item += ...): the dataset grows at every epoch",
        edits=[Edit(old=_PADDED, new="        item += [pad_token_id]\n"
                                     "        padded = item + [pad_token_id] * (longest - len(item))\n")],
        hint="modif",
    ),
    Variant(
        name="truncate_items_first",
        why="cuts each item to allowed_max_length before appending the end-of-text token",
        edits=[Edit(old=_TRUNC, new=""),
               Edit(old="    longest = max(len(item) for item in batch) + 1",
                    new="    if allowed_max_length is not None:\n"
                        "        batch = [item[:allowed_max_length] for item in batch]\n"
                        "    longest = max(len(item) for item in batch) + 1")],
        hint="allowed_max_length",
    ),
    Variant(
        name="prompt_mask_one_too_many",
        why="masks targets[:L] instead of targets[:L - 1]: the first response token is not learned",
        edits=[Edit(old="            targets[:mask_prompt_lengths[i] - 1] = ignore_index  # targets that are still prompt\n",
                    new="            targets[:mask_prompt_lengths[i]] = ignore_index\n")],
        hint="L - 1",
    ),
    Variant(
        name="prompt_mask_zero_masks_all",
        why="no case for L = 0: targets[:-1] masks everything but the last position",
        edits=[Edit(old="        if mask_prompt_lengths is not None and mask_prompt_lengths[i] > 0:\n",
                    new="        if mask_prompt_lengths is not None:\n")],
        hint="L = 0",
    ),
    Variant(
        name="prompt_mask_on_inputs",
        why="masks the inputs instead of the targets",
        edits=[Edit(old="            targets[:mask_prompt_lengths[i] - 1] = ignore_index  # targets that are still prompt\n",
                    new="            inputs[:mask_prompt_lengths[i] - 1] = ignore_index\n")],
        hint="targets",
    ),
    Variant(
        name="pad_id_hardcoded",
        why="pads with 50256 whatever pad_token_id says",
        edits=[Edit(old=_PADDED, new="        padded = list(item) + [50256] * (longest - len(item))\n")],
        hint="pad_token_id",
    ),
    Variant(
        name="device_ignored",
        why="returns CPU tensors whatever device says",
        edits=[Edit(old=_STACK, new="    return torch.stack(inputs_list), torch.stack(targets_list)\n")],
        hint="device",
    ),
    Variant(
        name="int32_tensors",
        why="int32 tensors (an embedding accepts them, cross-entropy targets must be int64)",
        edits=[Edit(old=_STACK, new="    return (torch.stack(inputs_list).to(device, torch.int32),\n"
                                    "            torch.stack(targets_list).to(device, torch.int32))\n")],
        hint="int64",
    ),
    Variant(
        name="mask_lengths_unchecked",
        why="a list of prompt lengths shorter or longer than the batch is not rejected",
        edits=[Edit(old=_LEN_CHECK, new="")],
        hint="ValueError",
    ),
]

ALTERNATIVES = [
    Variant(
        name="format_input_as_in_the_book",
        why="the book's format_input verbatim: entry[\"input\"] raises KeyError when the key is missing; loses only "
            "the check on what the contract adds",
        edits=[Edit(old='    instruction = _require(entry, "instruction")\n' + _TEXT + _INPUT + "    return text\n",
                    new='    instruction_text = (\n'
                        '        f"Below is an instruction that describes a task. "\n'
                        '        f"Write a response that appropriately completes the request."\n'
                        '        f"\\n\\n### Instruction:\\n{entry[\'instruction\']}"\n'
                        '    )\n'
                        '    input_text = f"\\n\\n### Input:\\n{entry[\'input\']}" if entry["input"] else ""\n'
                        '    return instruction_text + input_text\n')],
        may_lose=("prompt_missing_keys",),
        hint="addition to the book",
    ),
    Variant(
        name="format_input_book_style",
        why="the book's conditional expression, with entry.get so a missing input means none",
        edits=[Edit(old=_TEXT + _INPUT,
                    new='    input_text = f"\\n\\n### Input:\\n{entry[\'input\']}" if entry.get("input") else ""\n'
                        '    text = (f"{PREAMBLE}"\n'
                        '            f"\\n\\n### Instruction:\\n{instruction}") + input_text\n')],
    ),
    Variant(
        name="collate_vectorised",
        why="one (B, T + 1) tensor filled with the pad id, shifted views, a cumsum finds the pads after the first",
        edits=[Edit(old="    inputs_list, targets_list = [], []\n    for i, item in enumerate(batch):\n" + _PADDED + _INPUTS
                        + _TARGETS + "        pad_positions = torch.nonzero(targets == pad_token_id).flatten()\n"
                        + _PADS + _MASK + _TRUNC + "        inputs_list.append(inputs)\n"
                        "        targets_list.append(targets)\n" + _STACK,
                    new="    full = torch.full((len(batch), longest), pad_token_id, dtype=torch.long)\n"
                        "    for i, item in enumerate(batch):\n"
                        "        full[i, :len(item)] = torch.tensor(item, dtype=torch.long)\n"
                        "    inputs, targets = full[:, :-1].clone(), full[:, 1:].clone()\n"
                        "    is_pad = targets == pad_token_id\n"
                        "    targets[is_pad & (is_pad.cumsum(dim=1) > 1)] = ignore_index\n"
                        "    if mask_prompt_lengths is not None:\n"
                        "        for i, L in enumerate(mask_prompt_lengths):\n"
                        "            if L > 0:\n"
                        "                targets[i, :L - 1] = ignore_index\n"
                        "    if allowed_max_length is not None:\n"
                        "        inputs, targets = inputs[:, :allowed_max_length], targets[:, :allowed_max_length]\n"
                        "    return inputs.to(device), targets.to(device)\n")],
    ),
    Variant(
        name="collate_book_order",
        why="the book's order: tensors built on the CPU, truncation before the prompt mask, nonzero().squeeze()",
        edits=[Edit(old="        pad_positions = torch.nonzero(targets == pad_token_id).flatten()\n" + _PADS,
                    new="        indices = torch.nonzero(targets == pad_token_id).squeeze()\n"
                        "        if indices.numel() > 1:\n"
                        "            targets[indices[1:]] = ignore_index\n"),
               Edit(old=_MASK + _TRUNC, new=_TRUNC + _MASK)],
    ),
    Variant(
        name="prompt_mask_with_where",
        why="the prompt mask as torch.where over positions < L - 1",
        edits=[Edit(old=_MASK, new="        if mask_prompt_lengths is not None:\n"
                                   "            prompt = torch.arange(targets.shape[0]) < mask_prompt_lengths[i] - 1\n"
                                   "            targets = torch.where(prompt, torch.full_like(targets, ignore_index), targets)\n")],
    ),
]

CATCHES = {
    "prompt_strings": "single_newlines",
    "prompt_missing_keys": "input_key_required",
    "collate_snapshot": "all_pads_kept",
    "collate_prompt_mask_snapshot": "prompt_mask_one_too_many",
    "collate_special": "caller_list_mutated",
    "collate_errors": "mask_lengths_unchecked",
    "collate_matches_reference": "no_end_of_text_token",
    "collate_prompt_mask_matches_reference": "prompt_mask_on_inputs",
}
