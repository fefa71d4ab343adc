"""Worker-side helper for the a06_loss checks: tiktoken's GPT-2 encoding.

Imported inside the worker with `ctx.runtime("a06_helpers.gpt2_encoding")`; standard library only at
import time. tiktoken is imported lazily by `gpt2_encoding` (the grader only calls it after
`autograder.gpt2_vocab.ensure()` has put GPT-2's files into the cache the worker reads).
"""

from __future__ import annotations


def gpt2_encoding():
    """tiktoken's stock GPT-2 encoding (read from the local cache; never downloads when ensure() ran)."""
    import tiktoken

    return tiktoken.get_encoding("gpt2")
