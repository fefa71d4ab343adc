"""Frames and values: JSON + safetensors only, round trips, malformed input rejected."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

from autograder.runtime.frames import FrameError, encode_frame, read_frame
from autograder.runtime.values import Opaque, Raised, decode, encode


def test_round_trip_of_nested_values() -> None:
    value = {"out": (torch.arange(3.0), [torch.ones(2, dtype=torch.float64), None, 1.5]),
             "exc": Raised("ValueError", "bad", "a.py:1 in f"), "dtype": torch.float32, "inf": float("inf")}
    tensors: dict = {}
    header = {"returns": encode(value, tensors)}
    back_header, back_tensors = read_frame(io.BytesIO(encode_frame(header, tensors)))
    got = decode(back_header["returns"], back_tensors)
    assert torch.equal(got["out"][0], value["out"][0]) and got["out"][1][1] is None
    assert got["out"][1][0].dtype == torch.float64
    assert got["exc"] == value["exc"] and got["dtype"] == torch.float32 and got["inf"] == float("inf")


def test_unknown_objects_travel_as_descriptions() -> None:
    class Model:
        def __repr__(self) -> str:
            return "Model()"

    tensors: dict = {}
    assert decode(encode(Model(), tensors), tensors) == Opaque("test_unknown_objects_travel_as_descriptions.<locals>.Model", "Model()")


def test_a_pickle_is_not_accepted_as_a_frame() -> None:
    blob = pickle.dumps({"status": "ok"})
    with pytest.raises((FrameError, EOFError)):
        read_frame(io.BytesIO(blob))


def test_oversized_frame_is_refused() -> None:
    with pytest.raises(FrameError, match="too large"):
        read_frame(io.BytesIO((2**40).to_bytes(8, "big") + (0).to_bytes(8, "big")))
