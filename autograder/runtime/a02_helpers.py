"""Worker-side helpers for a02_data: read a learner's dataset or data loader out as plain values.

A step program can call methods but not loop, so these do the loops: every item of a dataset,
every batch of some epochs of a loader, and what kind of object a loader is. Standard library and
torch only (this runs next to learner code); the learner's exceptions propagate unchanged.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, Dataset

MAX_ITEMS = 5000  # far above any check's window count; a runaway __len__ is reported, not looped over


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
