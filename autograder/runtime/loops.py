"""The loops a step program cannot write, for any suite: tabulate a function, read a dataset or a loader out.

A program calls functions and methods but does not loop, so these do it inside the worker: a function
over a list of argument lists, every item of a dataset, every batch of some epochs of a loader (and
what kind of object the loader is), a DataLoader over tensors, a seeded torch.Generator (a program
sends data, not objects). Standard library and torch only (this runs next to learner code); the
learner's exceptions propagate unchanged. Nothing here implements a graded API.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

MAX_ITEMS = 5000  # far above any check's window count; a runaway __len__ is reported, not looped over


def table(fn: Callable[..., Any], calls: list[list[Any]]) -> list[Any]:
    """`[fn(*args) for args in calls]`: a function tabulated in one program step."""
    return [fn(*args) for args in calls]


def items(dataset: Any) -> dict[str, Any]:
    """`len(dataset)` and `[dataset[0], dataset[1], ...]` (at most MAX_ITEMS of them)."""
    n = len(dataset)
    return {"length": n, "is_dataset": isinstance(dataset, Dataset),
            "items": [dataset[i] for i in range(min(n, MAX_ITEMS))]}


def epochs(loader: Any, n: int = 1) -> list[list[Any]]:
    """The batches of `n` passes over `loader` (at most MAX_ITEMS batches per pass)."""
    out = []
    for _ in range(n):
        batches = []
        for batch in loader:
            batches.append(batch)
            if len(batches) >= MAX_ITEMS:
                break
        out.append(batches)
    return out


def describe(loader: Any) -> dict[str, Any]:
    """What the learner returned: its type and the loader settings a check may read."""
    return {"type": type(loader).__qualname__, "is_dataloader": isinstance(loader, DataLoader),
            "num_workers": getattr(loader, "num_workers", None)}


def data_loader(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> DataLoader:
    """A DataLoader over (inputs[i], targets[i]) rows, in order, last batch possibly smaller."""
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=False, drop_last=False)


def seeded_generator(seed: int) -> torch.Generator:
    """A fresh CPU generator in the state `manual_seed(seed)` puts it in."""
    return torch.Generator().manual_seed(seed)
