"""Worker-side helper for a01: GPT-2's vocab and merges, read from tiktoken's cache inside the worker.

Sending GPT-2's 50,257 tokens and 50,000 merges in a frame costs seconds of encoding on both sides;
the worker reads the same verified files instead. The grader's `gpt2_vocab.ensure()` installed them
in $TIKTOKEN_CACHE_DIR (the worker's environment names that folder) under tiktoken's cache keys;
their sha256 is checked again here. Standard library only: this runs next to learner code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_BLOB = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
# the same digests as autograder/gpt2_vocab.py (this module cannot import it in the worker)
_FILES = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}


def _read(name: str) -> bytes:
    folder = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not folder:
        raise FileNotFoundError("TIKTOKEN_CACHE_DIR is not set in the worker")
    path = Path(folder) / hashlib.sha1((_BLOB + name).encode()).hexdigest()
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != _FILES[name]:
        raise ValueError(f"{path} ({name}) does not have the expected sha256")
    return data


def _to_latin1() -> dict[int, int]:
    """GPT-2's printable alphabet back to bytes, as a str.translate table onto chars 0..255.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes took the code points 256, 257, ...
    in byte order (see autograder.gpt2_vocab.gpt2_byte_alphabet).
    """
    keep = {*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)}
    others = [b for b in range(256) if b not in keep]
    return {256 + k: b for k, b in enumerate(others)}


def gpt2_vocab() -> dict[int, bytes]:
    """encoder.json with every token mapped back to its bytes: id -> bytes (<|endoftext|> is 50256)."""
    table = _to_latin1()
    encoder = json.loads(_read("encoder.json").decode("utf-8"))
    return {i: tok.translate(table).encode("latin-1") for tok, i in encoder.items()}


def gpt2_merges() -> list[tuple[bytes, bytes]]:
    """vocab.bpe as (bytes, bytes) pairs in rank order."""
    table = _to_latin1()
    merges = []
    for line in _read("vocab.bpe").decode("utf-8").splitlines()[1:]:  # split first: "Ġ" becomes a space
        if line.strip():
            left, right = line.split(" ")
            merges.append((left.translate(table).encode("latin-1"), right.translate(table).encode("latin-1")))
    return merges
