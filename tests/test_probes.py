"""autograder/runtime/probes.py: the forward-hook recorder a12's checks count positions with."""

from __future__ import annotations

import torch
from torch import nn

from autograder.runtime.probes import record_calls


def test_records_shapes_per_call_and_last_rows_then_detaches() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    rec = record_calls(model, ["", "0", "2"], keep_last_row=[""])
    x = torch.randn(2, 5, 3)
    out = model(x)
    model(x[:, :1])
    assert rec.calls == [["", [2, 5, 3]], ["0", [2, 5, 3]], ["2", [2, 5, 4]],
                         ["", [2, 1, 3]], ["0", [2, 1, 3]], ["2", [2, 1, 4]]]
    assert len(rec.last_rows) == 2 and torch.equal(rec.last_rows[0], out[:, -1].detach())
    rec.remove()
    model(x)
    assert len(rec.calls) == 6  # no hook left behind


def test_keyword_only_inputs_are_recorded() -> None:
    class Takes(nn.Module):
        def forward(self, *, x: torch.Tensor) -> torch.Tensor:
            return x * 2

    m = Takes()
    rec = record_calls(m, [""])
    m(x=torch.ones(4, 2))
    assert rec.calls == [["", [4, 2]]]
