"""Frames and values: JSON + raw tensor bytes only, round trips, malformed input rejected."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

from autograder.runtime.frames import FrameError, encode_frame, pack_tensors, read_frame, unpack_tensors
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


# -- hostile bytes: every malformed frame or value is one clear error type -----------------------
import json  # noqa: E402

from autograder.runtime.frames import TO_GRADER, TO_WORKER, decode_body, seal  # noqa: E402
from autograder.runtime.values import MAX_DEPTH, MalformedValue  # noqa: E402
from autograder.worker import to_response  # noqa: E402

KEY = bytes(range(32))


def sealed(header: dict, seq: int = 1, key: bytes = KEY, direction: bytes = TO_GRADER) -> io.BytesIO:
    return io.BytesIO(seal(key, direction, seq, encode_frame(header)))


def test_a_sealed_frame_is_read_only_with_its_key_sequence_and_direction() -> None:
    assert read_frame(sealed({"status": "ok"}), KEY, TO_GRADER, 1)[0] == {"status": "ok"}
    for stream, why in ((sealed({"status": "ok"}, key=bytes(32)), "another key (a learner's guess)"),
                        (sealed({"status": "ok"}, seq=2), "an answer out of step"),
                        (sealed({"status": "ok"}, direction=TO_WORKER), "a request replayed as an answer")):
        with pytest.raises(FrameError, match="failed authentication"):
            read_frame(stream, KEY, TO_GRADER, 1)
    forged = encode_frame({"status": "ok"}) + bytes(32)  # what learner code can write: no key, a made-up tag
    with pytest.raises(FrameError, match="failed authentication"):
        read_frame(io.BytesIO(forged), KEY, TO_GRADER, 1)


def test_tampered_bytes_fail_authentication() -> None:
    data = bytearray(sealed({"status": "ok", "returns": 1}).getvalue())
    data[20] ^= 1
    with pytest.raises(FrameError, match="failed authentication"):
        read_frame(io.BytesIO(bytes(data)), KEY, TO_GRADER, 1)


def test_deep_or_broken_json_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="not JSON"):
        decode_body(b"[" * 200_000 + b"]" * 200_000, b"")
    with pytest.raises(FrameError, match="not JSON"):
        decode_body(b"\xff\xfe garbage", b"")
    with pytest.raises(FrameError, match="must be a JSON object"):
        decode_body(b"[1, 2]", b"")
    with pytest.raises(FrameError, match="overruns"):
        decode_body(b"{}", b"\x00" * 7 + b"\x40")


def _payload(index: object, body: bytes = b"") -> bytes:
    head = json.dumps(index).encode()
    return len(head).to_bytes(8, "big") + head + body


def test_tensor_payloads_round_trip_every_carried_dtype() -> None:
    tensors = {"f64": torch.randn(2, 3, dtype=torch.float64), "scalar": torch.tensor(7), "empty": torch.zeros(0, 4),
               "mask": torch.tensor([True, False]), "transposed": torch.randn(3, 4).t(),
               "bf16": torch.randn(5, dtype=torch.bfloat16), "c64": torch.randn(2, dtype=torch.complex64),
               "i8": torch.tensor([-3, 4], dtype=torch.int8)}
    back = unpack_tensors(pack_tensors(tensors))
    assert list(back) == list(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape and torch.equal(back[name], t), name
    back["f64"].add_(1)  # a private, writable copy
    assert not torch.equal(back["f64"], tensors["f64"])
    with pytest.raises(ValueError, match="float8"):
        pack_tensors({"x": torch.zeros(2, dtype=torch.float8_e4m3fn)})


@pytest.mark.parametrize("payload, message", [
    (b"\x00\x01", "too short"),
    (_payload("not a list"), "must be a list"),
    (_payload([["x", "float128", [1]]], b"\x00" * 16), "bad tensor index entry"),
    (_payload([["x", "float32", [-1]]]), "bad tensor index entry"),
    (_payload([["x", "float32", [1.5]]]), "bad tensor index entry"),
    (_payload([["x", "float32", [1] * 17]], b"\x00" * 4), "bad tensor index entry"),
    (_payload([["x", "uint8", [1]], ["x", "uint8", [1]]], b"\x00\x00"), "bad tensor index entry"),  # a name twice
    (_payload([["x", "float64", [2 ** 20, 2 ** 20]]], b"\x00" * 8), "overruns"),  # no allocation before the check
    (_payload([["x", "uint8", [2]]], b"\x00" * 3), "belong to no tensor"),
])
def test_malformed_tensor_payloads_are_frame_errors(payload: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        unpack_tensors(payload)


@pytest.mark.parametrize("value", [
    json.loads("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)),  # nested past the limit
    {"$tuple": [[[[{"$t": "missing"}]]]]},  # a tensor the payload lacks
    {"$t": 5}, {"$dict": [1, 2]}, {"$map": [[1]]}, {"$map": [[{"$dict": {}}, 1]]}, {"$bytes": "zz"},
    {"$dtype": "float128"}, {"$device": "warp-drive"}, {"$float": "pi"},
    {"$exc": {"type": 1}}, {"$exc": "boom"}, {"$exc": {"type": "E", "message": "m", "evil": "x"}},
    {"unknown": 1, "tags": 2},
])
def test_malformed_values_raise_malformed_value_only(value) -> None:
    with pytest.raises(MalformedValue):
        decode(value, {})


def test_a_value_too_deep_to_send_travels_as_a_description() -> None:
    deep: list = []
    for _ in range(MAX_DEPTH * 3):
        deep = [deep]
    tensors: dict = {}
    back = decode(encode(deep, tensors), tensors)
    for _ in range(MAX_DEPTH):
        back = back[0]
    assert isinstance(back, Opaque) and "nested deeper" in back.repr


@pytest.mark.parametrize("header", [
    {}, {"status": "forged"}, {"status": "raised"},  # a KeyError once: no "error" for status raised
    {"status": "raised", "error": {"$t": "x"}}, {"status": "ok", "returns": {"$t": "nope"}},
    {"status": "ok", "step": "1"}, {"status": "ok", "stdout": 5}, {"status": "ok", "banned_calls": ["a"]},
    {"status": "ok", "banned_calls": {"torch.softmax": "many"}}, {"status": "raised", "error": [1]},
])
def test_off_schema_answers_are_malformed_not_key_errors(header) -> None:
    with pytest.raises(MalformedValue):
        to_response(header, {})
