"""Measurement helpers the grader attaches to a learner's model inside the worker (stdlib and torch only).

`CallRecorder` puts forward hooks on named submodules and records, call by call, the shape of the
first tensor each one received (and, if asked, the last row of what it returned). A check reads from
it how many positions a cached generation step sends through every layer, without timing anything.
Nothing here implements a graded API: it only watches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)


class CallRecorder:
    """Forward hooks on `root`'s submodules `names` ("" is `root` itself).

    `calls`: one `[name, shape]` per call, in call order (the shape of the first tensor argument);
    `last_rows`: for the modules in `keep_last_row`, the output's last position `out[:, -1]`, per call.
    """

    def __init__(self, root: nn.Module, names: list[str], keep_last_row: tuple[str, ...] = ()) -> None:
        self.calls: list[list[Any]] = []
        self.last_rows: list[torch.Tensor] = []
        self._handles = []
        for name in names:
            module = root.get_submodule(name)
            self._handles.append(module.register_forward_pre_hook(self._before(name), with_kwargs=True))
            if name in keep_last_row:
                self._handles.append(module.register_forward_hook(self._after))

    def _before(self, name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            x = _first_tensor(args, kwargs)
            self.calls.append([name, list(x.shape) if x is not None else None])
        return hook

    def _after(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.dim() >= 2:
            self.last_rows.append(output[:, -1].detach().clone())

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def record_calls(root: nn.Module, names: list[str], keep_last_row: list[str] | None = None) -> CallRecorder:
    """A `CallRecorder` on `root` (see its docstring); call `.remove()` when done."""
    return CallRecorder(root, list(names), tuple(keep_last_row or ()))
