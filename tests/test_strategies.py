"""The strategies module: reproducible tensors, valid configs, clear errors on bad bounds."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from autograder import strategies as sg


def test_make_tensor_is_reproducible_and_typed() -> None:
    a = sg.make_tensor((2, 3), 5, dtype=torch.float32, scale=2.0)
    assert torch.equal(a, sg.make_tensor((2, 3), 5, dtype=torch.float32, scale=2.0))
    assert a.dtype == torch.float32 and not torch.equal(a, sg.make_tensor((2, 3), 6, dtype=torch.float32))


@pytest.mark.parametrize("call,text", [
    (lambda: sg.shapes(min_dims=3, max_dims=2), "min_dims=3 is greater than max_dims=2"),
    (lambda: sg.shapes(max_side=0), "max_side=0: expected a positive int"),
    (lambda: sg.tensors(shape=(2,), distribution="cauchy"), "distribution='cauchy'"),
    (lambda: sg.attention_configs(max_heads=-1), "max_heads=-1"),
])
def test_bad_bounds_name_the_value(call, text: str) -> None:
    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)")):
        call()


@settings(max_examples=50, database=None)
@given(cfg=sg.attention_configs())
def test_attention_configs_are_valid(cfg: dict) -> None:
    assert cfg["d_out"] % cfg["num_heads"] == 0 and cfg["context_length"] >= cfg["T"] >= 1


@settings(max_examples=50, database=None)
@given(ex=sg.gpt_configs())
def test_gpt_configs_are_valid(ex: dict) -> None:
    cfg = ex["cfg"]
    assert cfg["emb_dim"] % cfg["n_heads"] == 0 and cfg["context_length"] >= ex["T"]
