"""Reference for a10_instruction: string joins for the template, one padded (B, T + 1) tensor and masks for the collate.

Same public names and behaviour as the solution, written independently.
"""

import torch

_HEAD = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def format_input(entry: dict) -> str:
    if "instruction" not in entry:
        raise ValueError(f"missing key 'instruction' in entry with keys {list(entry)}")
    sections = [_HEAD, "### Instruction:\n" + entry["instruction"]]
    if entry.get("input", "") != "" and entry.get("input") is not None:
        sections.append("### Input:\n" + entry["input"])
    return "\n\n".join(sections)


def format_response(entry: dict) -> str:
    if "output" not in entry:
        raise ValueError(f"missing key 'output' in entry with keys {list(entry)}")
    return "".join(("\n\n", "### Response:\n", entry["output"]))


def custom_collate_fn(batch, pad_token_id=50256, ignore_index=-100, allowed_max_length=None, device="cpu",
                      mask_prompt_lengths=None):
    if not batch:
        raise ValueError("batch must hold at least one item, got an empty batch")
    if mask_prompt_lengths is not None and len(mask_prompt_lengths) != len(batch):
        raise ValueError(f"expected {len(batch)} prompt lengths, got {len(mask_prompt_lengths)}")
    width = 1 + max(map(len, batch))
    full = torch.full((len(batch), width), pad_token_id, dtype=torch.int64)
    for row, item in enumerate(batch):
        full[row, :len(item)] = torch.as_tensor(item, dtype=torch.int64)
    inputs, targets = full[:, :-1], full[:, 1:].clone()
    is_pad = targets == pad_token_id
    # a pad whose running count is above 1 is not the first pad of its row
    targets[is_pad & (is_pad.cumsum(dim=1) > 1)] = ignore_index
    if mask_prompt_lengths is not None:
        cut = torch.as_tensor(mask_prompt_lengths, dtype=torch.int64).sub(1).clamp(min=0).unsqueeze(1)  # (B, 1)
        targets[torch.arange(targets.shape[1]).unsqueeze(0) < cut] = ignore_index
    if allowed_max_length is not None:
        inputs, targets = inputs[:, :allowed_max_length], targets[:, :allowed_max_length]
    return inputs.contiguous().to(device), targets.contiguous().to(device)
