"""Failure messages: tensor name, then shape/dtype, then counts, max errors and the first index."""

from __future__ import annotations

import pytest
import torch

from autograder.compare import FLOAT64, CheckFailure, assert_close
from autograder.runtime.values import Raised


def message(actual, expected) -> str:
    with pytest.raises(CheckFailure) as info:
        assert_close(actual, expected, name="grad of W_query", tol=FLOAT64)
    return info.value.message


def test_shape_is_reported_before_values() -> None:
    assert message(torch.zeros(2, 3), torch.zeros(3, 2)) == "grad of W_query: shape (2, 3), expected (3, 2)"


def test_dtype_is_reported_before_values() -> None:
    assert message(torch.zeros(2), torch.zeros(2, dtype=torch.float64)) == \
        "grad of W_query: dtype float32, expected float64"


def test_value_mismatch_lists_count_errors_and_first_index() -> None:
    expected = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    actual = expected.clone()
    actual[1, 2] += 0.5
    actual[1, 0] = float("nan")
    lines = message(actual, expected).splitlines()
    assert lines[0] == "grad of W_query: values differ"
    assert lines[1].startswith("2 of 6 elements differ (rtol=1e-07, atol=1e-09)")
    assert lines[2] == "max abs diff 0.5, max rel diff 0.1"
    assert "non-finite" in lines[3]
    assert lines[4] == "first mismatch: index [1, 0] | got nan | expected 3"


def test_non_tensor_and_exceptions_are_named() -> None:
    assert "got a tuple" in message((1, 2), torch.zeros(1))
    assert "your code raised ValueError: bad" in message(Raised("ValueError", "bad"), torch.zeros(1))
