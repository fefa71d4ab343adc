"""Worker-side helpers for the a06_loss checks: a real DataLoader, and tiktoken's GPT-2 encoding.

Imported inside the worker with `p.runtime("a06_helpers")`; standard library and torch only at
import time. tiktoken is imported lazily by `gpt2_encoding` (the grader only calls it after
`autograder.gpt2_vocab.ensure()` has put GPT-2's files into the cache the worker reads).
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset


def data_loader(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> DataLoader:
    """A DataLoader over (inputs[i], targets[i]) rows, in order, last batch possibly smaller."""
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=False, drop_last=False)


def gpt2_encoding():
    """tiktoken's stock GPT-2 encoding (read from the local cache; never downloads when ensure() ran)."""
    import tiktoken

    return tiktoken.get_encoding("gpt2")
