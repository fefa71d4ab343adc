"""How Python values travel inside a frame's JSON header.

Tensors go in the safetensors payload and are referred to by name; everything else is plain JSON,
with a few tagged objects for what JSON lacks. Both sides use these two functions, so the grammar
lives in one place:

    {"$t": "name"}        a tensor of the payload
    {"$ref": "name"}      (grader -> worker only) an object the worker already holds
    {"$tuple": [...]}     a tuple
    {"$dict": {...}}      a dict with string keys
    {"$map": [[k, v], ...]} a dict with other keys (ints, bytes, tuples)
    {"$bytes": "hex"}     a bytes object
    {"$dtype": "float64"} a torch dtype;  {"$device": "cpu"} a torch device
    {"$exc": {...}}       (worker -> grader) an exception: type, message, where
    {"$obj": "Type", "repr": "..."} (worker -> grader) anything else, described, never rebuilt
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class Raised:
    """An exception raised by learner code, as the grader sees it."""
    type: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        at = f" ({self.where})" if self.where else ""
        return f"{self.type}: {self.message}{at}"


@dataclass(frozen=True)
class Opaque:
    """A value the worker returned that is neither a tensor nor plain data."""
    type: str
    repr: str

_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.int16,
              torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64, torch.complex128)
}


def dtype_from_name(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; known: {sorted(_DTYPES)}") from None


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def encode(value: Any, tensors: dict[str, torch.Tensor], prefix: str = "v") -> Any:
    """Turn ``value`` into JSON, moving every tensor into ``tensors`` under a fresh name."""
    if isinstance(value, torch.Tensor):
        name = f"{prefix}#{len(tensors)}"
        tensors[name] = value.detach().cpu()
        return {"$t": name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, tensors, prefix) for v in value]}
    if isinstance(value, list):
        return [encode(v, tensors, prefix) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: encode(v, tensors, prefix) for k, v in value.items()}}
    if isinstance(value, dict):
        return {"$map": [[encode(k, tensors, prefix), encode(v, tensors, prefix)] for k, v in value.items()]}
    if isinstance(value, torch.dtype):
        return {"$dtype": dtype_name(value)}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, Raised):
        return {"$exc": {"type": value.type, "message": value.message, "where": value.where}}
    try:
        text = repr(value)[:200]
    except Exception:  # a learner's __repr__ may itself be broken
        text = "<unprintable>"
    return {"$obj": type(value).__qualname__, "repr": text}


def decode(value: Any, tensors: dict[str, torch.Tensor], refs: Callable[[str], Any] | None = None) -> Any:
    """Inverse of :func:`encode`; ``refs`` resolves ``{"$ref": name}`` (worker side only)."""
    if isinstance(value, list):
        return [decode(v, tensors, refs) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$t":
            return tensors[inner]
        if tag == "$ref":
            if refs is None:
                raise ValueError("a {'$ref': ...} value can only be read inside the worker")
            return refs(inner)
        if tag == "$tuple":
            return tuple(decode(v, tensors, refs) for v in inner)
        if tag == "$dict":
            return {k: decode(v, tensors, refs) for k, v in inner.items()}
        if tag == "$map":
            return {_hashable(decode(k, tensors, refs)): decode(v, tensors, refs) for k, v in inner}
        if tag == "$bytes":
            return bytes.fromhex(inner)
        if tag == "$dtype":
            return dtype_from_name(inner)
        if tag == "$device":
            return torch.device(inner)
        if tag == "$float":
            return float(inner)
    if "$exc" in value:
        return Raised(**value["$exc"])
    if "$obj" in value:
        return Opaque(value["$obj"], value.get("repr", ""))
    raise ValueError(f"malformed value in frame: {str(value)[:200]}")


def _hashable(key: Any) -> Any:
    """A decoded dict key: lists (JSON has no tuples inside keys' values) become tuples."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key
