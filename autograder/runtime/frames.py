"""Length-prefixed, authenticated frames: a JSON header plus an optional safetensors payload.

This is the only format that crosses the grader/worker boundary. Nothing is pickled: the grader
parses JSON and safetensors bytes, neither of which can run code when read.

Layout of one frame: 8-byte big-endian header length, 8-byte big-endian payload length, the UTF-8
JSON header, the payload (safetensors bytes, or nothing), then a 32-byte HMAC-SHA256 tag.

The tag is keyed with a secret the grader hands the worker on its stdin before any learner code
runs, and covers the direction, the request's sequence number and every byte of the frame. Learner
code shares the worker's process but not the key, so a frame it writes itself (a forged answer, a
stray frame at import time, an answer replayed out of step) fails verification, and the grader
blames the submission instead of believing it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from typing import IO, Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

_PREFIX = struct.Struct(">QQ")
PREFIX_BYTES = _PREFIX.size
MAX_HEADER_BYTES = 32 * 1024 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024  # checks exchange small tensors; a runaway output stops here
KEY_BYTES = 32
TAG_BYTES = 32  # sha256
TO_WORKER, TO_GRADER = b"G>W", b"W>G"  # in the tag: a request can never pass for an answer


class FrameError(Exception):
    """The other side sent something that is not a well-formed, authentic frame."""


def encode_frame(header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> bytes:
    """An unsealed frame (prefix, header, payload); `seal` adds the tag."""
    head = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    payload = b""
    if tensors:
        # safetensors needs contiguous tensors that share no storage
        payload = st_save({k: v.detach().contiguous().clone() for k, v in tensors.items()})
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def tag(key: bytes, direction: bytes, seq: int, frame: bytes) -> bytes:
    mac = hmac.new(key, direction + seq.to_bytes(8, "big", signed=False), hashlib.sha256)
    mac.update(frame)
    return mac.digest()


def seal(key: bytes, direction: bytes, seq: int, frame: bytes) -> bytes:
    return frame + tag(key, direction, seq, frame)


def sizes(prefix: bytes) -> tuple[int, int]:
    """Header and payload lengths from a prefix; FrameError when either is past its limit."""
    n_head, n_payload = _PREFIX.unpack(prefix)
    if n_head > MAX_HEADER_BYTES or n_payload > MAX_PAYLOAD_BYTES:
        raise FrameError(f"frame too large: header {n_head} B, payload {n_payload} B "
                         f"(limits {MAX_HEADER_BYTES} and {MAX_PAYLOAD_BYTES})")
    return n_head, n_payload


def verify(key: bytes, direction: bytes, seq: int, frame: bytes, got: bytes) -> None:
    if not hmac.compare_digest(tag(key, direction, seq, frame), got):
        raise FrameError(f"frame failed authentication (expected the answer to request {seq}): it was not "
                         f"written by the grader's runtime, or not in step with the requests")


def decode_body(head: bytes, payload: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise FrameError(f"frame header is not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(header, dict):
        raise FrameError(f"frame header must be a JSON object, got {type(header).__name__}")
    tensors: dict[str, torch.Tensor] = {}
    if payload:
        try:
            tensors = st_load(payload)
        except Exception as exc:  # safetensors raises its own error types
            raise FrameError(f"frame payload is not safetensors: {str(exc)[:200]}") from None
    return header, tensors


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("the other side closed the connection mid-frame")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes], key: bytes | None = None, direction: bytes = TO_WORKER,
               seq: int = 0) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read one frame (verified when `key` is given); EOFError when the stream ends before a frame starts."""
    prefix = stream.read(PREFIX_BYTES)
    if not prefix:
        raise EOFError("stream closed")
    if len(prefix) < PREFIX_BYTES:
        prefix += _read_exact(stream, PREFIX_BYTES - len(prefix))
    n_head, n_payload = sizes(prefix)
    head = _read_exact(stream, n_head)
    payload = _read_exact(stream, n_payload) if n_payload else b""
    if key is not None:
        verify(key, direction, seq, prefix + head + payload, _read_exact(stream, TAG_BYTES))
    return decode_body(head, payload)
