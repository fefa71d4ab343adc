"""Length-prefixed, authenticated frames: a JSON header plus an optional payload of raw tensor bytes.

This is the only format that crosses the grader/worker boundary. Nothing is pickled: the grader
parses JSON and copies raw little-endian bytes into tensors of a dtype and shape it validated, and
neither can run code when read.

Layout of one frame: 8-byte big-endian header length, 8-byte big-endian payload length, the UTF-8
JSON header, the payload (or nothing), then a 32-byte HMAC-SHA256 tag. The payload is an 8-byte
big-endian index length, a JSON index `[[name, dtype, shape], ...]` and each tensor's bytes in index
order, back to back. (It was safetensors until the grader spent a sixth of its time there: checks
send ~1,400 frames of a dozen small tensors each, and safetensors' per-tensor bookkeeping cost ~5x
this format's plain copies.)

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
_PREFIX = struct.Struct(">QQ")
_INDEX = struct.Struct(">Q")
PREFIX_BYTES = _PREFIX.size
MAX_HEADER_BYTES = 32 * 1024 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024  # checks exchange small tensors; a runaway output stops here
KEY_BYTES = 32
TAG_BYTES = 32  # sha256
TO_WORKER, TO_GRADER = b"G>W", b"W>G"  # in the tag: a request can never pass for an answer
MAX_TENSORS = 4096
MAX_DIMS = 16
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex128, torch.complex64,
    torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool)}


class FrameError(Exception):
    """The other side sent something that is not a well-formed, authentic frame."""


def encode_frame(header: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None) -> bytes:
    """An unsealed frame (prefix, header, payload); `seal` adds the tag."""
    head = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    payload = pack_tensors(tensors) if tensors else b""
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def pack_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    """The payload for `tensors` (CPU tensors of a dtype in DTYPES; ValueError for any other)."""
    index, blobs = [], []
    for name, t in tensors.items():
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}, which frames do not carry "
                             f"(one of {', '.join(DTYPES)})")
        flat = t.detach().to("cpu").contiguous().reshape(-1)
        index.append([name, dtype, list(t.shape)])
        blobs.append(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    head = json.dumps(index, separators=(",", ":")).encode("utf-8")
    return _INDEX.pack(len(head)) + head + b"".join(blobs)


def unpack_tensors(payload: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a payload; FrameError for anything malformed (sizes are checked before any copy)."""
    if len(payload) < _INDEX.size:
        raise FrameError(f"tensor payload too short ({len(payload)} B)")
    (n_index,) = _INDEX.unpack_from(payload)
    if n_index > len(payload) - _INDEX.size:
        raise FrameError(f"tensor index of {n_index} B overruns the {len(payload)} B payload")
    try:
        index = json.loads(payload[_INDEX.size:_INDEX.size + n_index].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError(f"tensor index is not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(index, list) or len(index) > MAX_TENSORS:
        raise FrameError(f"tensor index must be a list of at most {MAX_TENSORS} entries")
    body = memoryview(payload)[_INDEX.size + n_index:]
    out: dict[str, torch.Tensor] = {}
    at = 0
    for entry in index:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and entry[0] not in out and entry[1] in DTYPES and isinstance(entry[2], list)
                and len(entry[2]) <= MAX_DIMS
                and all(type(n) is int and 0 <= n <= MAX_PAYLOAD_BYTES for n in entry[2])):
            raise FrameError(f"bad tensor index entry {str(entry)[:200]}")
        name, dtype, shape = entry
        numel = 1
        for n in shape:
            numel *= n
        size = numel * DTYPES[dtype].itemsize
        if size > len(body) - at:
            raise FrameError(f"tensor {name!r} ({dtype}{shape}) overruns the payload")
        raw = torch.frombuffer(bytearray(body[at:at + size]), dtype=torch.uint8) if size else None
        at += size
        t = raw.view(DTYPES[dtype]) if raw is not None else torch.empty(numel, dtype=DTYPES[dtype])
        out[name] = t.reshape(shape)
    if at != len(body):
        raise FrameError(f"{len(body) - at} B of the tensor payload belong to no tensor")
    return out


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
        tensors = unpack_tensors(payload)
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
