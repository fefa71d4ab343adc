"""Length-prefixed frames: a JSON header plus an optional safetensors payload.

This is the only format that crosses the grader/worker boundary. Nothing is pickled: the grader
parses JSON and safetensors bytes, neither of which can run code when read.

Layout of one frame: 8-byte big-endian header length, 8-byte big-endian payload length, the UTF-8
JSON header, then the payload (safetensors bytes, or nothing).
"""

from __future__ import annotations

import json
import struct
from typing import IO, Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

_PREFIX = struct.Struct(">QQ")
MAX_HEADER_BYTES = 32 * 1024 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024  # checks exchange small tensors; a runaway output stops here


class FrameError(Exception):
    """The other side sent something that is not a well-formed frame."""


def encode_frame(header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> bytes:
    head = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    payload = b""
    if tensors:
        # safetensors needs contiguous tensors that share no storage
        payload = st_save({k: v.detach().contiguous().clone() for k, v in tensors.items()})
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def write_frame(stream: IO[bytes], header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> None:
    stream.write(encode_frame(header, tensors))
    stream.flush()


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("the other side closed the connection mid-frame")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def decode_body(head: bytes, payload: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FrameError(f"frame header must be a JSON object, got {type(header).__name__}")
    tensors: dict[str, torch.Tensor] = {}
    if payload:
        try:
            tensors = st_load(payload)
        except Exception as exc:  # safetensors raises its own error types
            raise FrameError(f"frame payload is not safetensors: {exc}") from None
    return header, tensors


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read one frame; EOFError when the stream ends cleanly before a frame starts."""
    prefix = stream.read(_PREFIX.size)
    if not prefix:
        raise EOFError("stream closed")
    if len(prefix) < _PREFIX.size:
        prefix += _read_exact(stream, _PREFIX.size - len(prefix))
    n_head, n_payload = _PREFIX.unpack(prefix)
    if n_head > MAX_HEADER_BYTES or n_payload > MAX_PAYLOAD_BYTES:
        raise FrameError(f"frame too large: header {n_head} B, payload {n_payload} B")
    head = _read_exact(stream, n_head)
    payload = _read_exact(stream, n_payload) if n_payload else b""
    return decode_body(head, payload)
