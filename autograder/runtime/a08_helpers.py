"""Worker-side helpers for a08_decoding: seeded random-number generators for `generate(generator=...)`.

A program cannot send a `torch.Generator` to the worker (frames carry data, not objects), so the
checks build one there with `seeded_generator(seed)`.
"""

from __future__ import annotations

import torch


def seeded_generator(seed: int) -> torch.Generator:
    """A fresh CPU generator in the state `manual_seed(seed)` puts it in."""
    return torch.Generator().manual_seed(seed)
