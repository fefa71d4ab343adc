"""How Python values travel inside a frame's JSON header.

Tensors go in the frame's tensor payload and are referred to by name; everything else is plain JSON,
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
MAX_DEPTH = 64  # nesting of decoded values; real returns nest a few levels (a dict of tuples of tensors)
MAX_ITEMS = 1_000_000  # list items, dict entries and bytes per frame


def dtype_from_name(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; known: {sorted(_DTYPES)}") from None


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def encode(value: Any, tensors: dict[str, torch.Tensor], prefix: str = "v", _depth: int = 0) -> Any:
    """Turn ``value`` into JSON, moving every tensor into ``tensors`` under a fresh name."""
    if _depth >= MAX_DEPTH:  # the other side would refuse it: describe it instead
        return {"$obj": type(value).__qualname__, "repr": f"<nested deeper than {MAX_DEPTH} levels>"}
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
        return {"$tuple": [encode(v, tensors, prefix, _depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, tensors, prefix, _depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: encode(v, tensors, prefix, _depth + 1) for k, v in value.items()}}
    if isinstance(value, dict):
        return {"$map": [[encode(k, tensors, prefix, _depth + 1), encode(v, tensors, prefix, _depth + 1)]
                         for k, v in value.items()]}
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


class MalformedValue(ValueError):
    """A value in a frame that does not follow the grammar above (or nests or grows past the limits)."""


def decode(value: Any, tensors: dict[str, torch.Tensor], refs: Callable[[str], Any] | None = None) -> Any:
    """Inverse of :func:`encode`; ``refs`` resolves ``{"$ref": name}`` (worker side only).

    Raises MalformedValue, and nothing else, for anything that is not a well-formed value: the other
    side may be hostile, so a bad value is a clear error, never a KeyError or a RecursionError.
    """
    budget = [MAX_ITEMS]
    try:
        return _decode(value, tensors, refs, 0, budget)
    except MalformedValue:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError, RuntimeError) as exc:  # torch.device
        raise MalformedValue(f"malformed value in frame: {type(exc).__name__}: {str(exc)[:200]}") from None


def _spend(budget: list[int], n: int) -> None:
    budget[0] -= n
    if budget[0] < 0:
        raise MalformedValue(f"value too large: more than {MAX_ITEMS} items in one frame")


def _str(inner: Any, tag: str) -> str:
    if not isinstance(inner, str):
        raise MalformedValue(f"{{{tag!r}: ...}} must hold a string, got {type(inner).__name__}")
    return inner


def _list(inner: Any, tag: str) -> list[Any]:
    if not isinstance(inner, list):
        raise MalformedValue(f"{{{tag!r}: ...}} must hold a list, got {type(inner).__name__}")
    return inner


def _decode(value: Any, tensors: dict[str, torch.Tensor], refs: Callable[[str], Any] | None, depth: int,
            budget: list[int]) -> Any:
    if depth > MAX_DEPTH:
        raise MalformedValue(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    down = depth + 1
    if isinstance(value, list):
        _spend(budget, len(value))
        return [_decode(v, tensors, refs, down, budget) for v in value]
    if not isinstance(value, dict):
        raise MalformedValue(f"unexpected {type(value).__name__} in frame")
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$t":
            name = _str(inner, tag)
            if name not in tensors:
                raise MalformedValue(f"the frame refers to tensor {name[:100]!r}, which its payload lacks")
            return tensors[name]
        if tag == "$ref":
            if refs is None:
                raise MalformedValue("a {'$ref': ...} value can only be read inside the worker")
            return refs(_str(inner, tag))
        if tag == "$tuple":
            _spend(budget, len(_list(inner, tag)))
            return tuple(_decode(v, tensors, refs, down, budget) for v in inner)
        if tag == "$dict":
            if not isinstance(inner, dict):
                raise MalformedValue(f"{{'$dict': ...}} must hold an object, got {type(inner).__name__}")
            _spend(budget, len(inner))
            return {k: _decode(v, tensors, refs, down, budget) for k, v in inner.items()}
        if tag == "$map":
            _spend(budget, len(_list(inner, tag)))
            out = {}
            for pair in inner:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise MalformedValue("{'$map': ...} entries must be [key, value] pairs")
                out[_hashable(_decode(pair[0], tensors, refs, down, budget))] = _decode(pair[1], tensors, refs,
                                                                                       down, budget)
            return out
        if tag == "$bytes":
            _spend(budget, len(_str(inner, tag)) // 2)
            return bytes.fromhex(inner)
        if tag == "$dtype":
            return dtype_from_name(_str(inner, tag))
        if tag == "$device":
            return torch.device(_str(inner, tag))
        if tag == "$float":
            return float(_str(inner, tag))
    if "$exc" in value:
        exc = value["$exc"]
        if not (isinstance(exc, dict) and set(exc) <= {"type", "message", "where"}
                and all(isinstance(v, str) for v in exc.values()) and "type" in exc and "message" in exc):
            raise MalformedValue("{'$exc': ...} must hold the strings type, message and where")
        return Raised(**exc)
    if "$obj" in value:
        return Opaque(str(value["$obj"])[:200], str(value.get("repr", ""))[:200])
    raise MalformedValue(f"malformed value in frame: {str(value)[:200]}")


def _hashable(key: Any) -> Any:
    """A decoded dict key: lists (JSON has no tuples inside keys' values) become tuples."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, (dict, torch.Tensor)):
        raise MalformedValue(f"a {type(key).__name__} cannot be a dict key")
    return key
