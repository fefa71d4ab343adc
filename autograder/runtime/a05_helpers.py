"""Worker-side helpers for a05_gpt_model (standard library and torch only: this runs next to learner code)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn import init
from torch.overrides import TorchFunctionMode

# nn.init's in-place initialisers (normal_, kaiming_uniform_, ...): what nn.Linear and nn.Embedding call.
_INITS = [name for name in dir(init) if name.endswith("_") and not name.startswith("_")]


class _EmptyOnMeta(TorchFunctionMode):
    """`torch.empty` (what nn.Linear and nn.Embedding allocate their weights with) makes meta tensors."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (torch's signature)
        kwargs = dict(kwargs or {})
        if func is torch.empty:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


@contextlib.contextmanager
def _weights_without_storage() -> Iterator[None]:
    saved = {name: getattr(init, name) for name in _INITS}
    try:
        for name in _INITS:
            setattr(init, name, lambda tensor, *args, **kwargs: tensor)
        with _EmptyOnMeta():
            yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


def meta_parameters(cls: Any, *args: Any, **kwargs: Any) -> dict[str, list[int]]:
    """Build `cls(*args, **kwargs)` with its large weights on the meta device; `{name: shape}` of its parameters.

    Meta tensors have a shape and no storage, so GPT-2's 163 M parameters cost no memory (as float32
    they would take 650 MB). Only `torch.empty` is sent to the meta device and nn.init's initialisers
    do nothing meanwhile: `with torch.device("meta")` would run every op (a causal mask's triu,
    normal_) through meta kernels written in Python, whose first use imports torch._dynamo (5-9 s on
    the grading machines). Parameters shared between modules are listed once, under the first
    name, as `named_parameters()` does: a tied output head shows up as a missing name.
    """
    with _weights_without_storage():
        module = cls(*args, **kwargs)
    return {name: list(p.shape) for name, p in module.named_parameters()}
