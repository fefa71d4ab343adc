"""GPT-2's byte-level BPE files, read the same way by the grader (autograder/gpt2_vocab.py) and the worker.

The worker cannot import the grader, so what both need lives here: the files' URLs and digests, GPT-2's
printable byte alphabet, and the readers. In the worker, checks read GPT-2's vocab and merges from
tiktoken's cache (`$TIKTOKEN_CACHE_DIR`, where the grader's `gpt2_vocab.ensure()` installed the
verified files under tiktoken's cache keys): sending GPT-2's 50,257 tokens and 50,000 merges in a frame
costs seconds of encoding on both sides. Standard library only at import time (tiktoken is imported
by `encoding` alone); this runs next to learner code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

_BLOB = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
# file name -> (the URL tiktoken reads it from, the sha256 tiktoken checks it against)
FILES = {
    "vocab.bpe": (_BLOB + "vocab.bpe", "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
    "encoder.json": (_BLOB + "encoder.json", "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
}


def byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, 0x7F-0xA0,
    0xAD) take the code points 256, 257, ... in byte order.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    others = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + k) for k, b in enumerate(others)}}


# the 68 stand-in characters back to their bytes (the others are Latin-1 already): a str.translate table
_TO_LATIN1 = {ord(ch): b for b, ch in byte_alphabet().items() if ord(ch) > 0xFF}


def _to_bytes(token: str) -> bytes:
    """A token in GPT-2's printable alphabet back to its bytes."""
    return token.translate(_TO_LATIN1).encode("latin-1")


def parse_merges(vocab_bpe: str) -> list[tuple[bytes, bytes]]:
    """vocab.bpe's text as (bytes, bytes) pairs in rank order (split each line first: "Ġ" becomes a space)."""
    pairs = (line.split(" ") for line in vocab_bpe.splitlines()[1:] if line.strip())
    return [(_to_bytes(left), _to_bytes(right)) for left, right in pairs]


def _read(name: str) -> bytes:
    """A verified file from tiktoken's cache (in the worker: the folder the grader put it in)."""
    folder = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not folder:
        raise FileNotFoundError("TIKTOKEN_CACHE_DIR is not set in the worker")
    url, digest = FILES[name]
    path = Path(folder) / hashlib.sha1(url.encode()).hexdigest()
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"{path} ({name}) does not have the expected sha256")
    return data


def vocab() -> dict[int, bytes]:
    """encoder.json with every token mapped back to its bytes: id -> bytes (<|endoftext|> is 50256)."""
    return {i: _to_bytes(tok) for tok, i in json.loads(_read("encoder.json").decode("utf-8")).items()}


def merges() -> list[tuple[bytes, bytes]]:
    """vocab.bpe as (bytes, bytes) pairs in rank order."""
    return parse_merges(_read("vocab.bpe").decode("utf-8"))


def encoding() -> Any:
    """tiktoken's stock GPT-2 encoding (read from the local cache; never downloads when ensure() ran)."""
    import tiktoken

    return tiktoken.get_encoding("gpt2")
