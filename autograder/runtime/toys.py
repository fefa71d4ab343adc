"""Small, fully known stand-ins the grader builds inside the worker: a table language model, a byte tokenizer.

Assignments that *use* a model or a tokenizer (data loading, loss, decoding) are graded with these,
so a mistake in the learner's own GPT or tokenizer cannot spill into those grades. They use only
plain tensor indexing and arithmetic, so no banned API shows up in the learner's record.
"""

from __future__ import annotations

import torch
from torch import nn


class TableLM(nn.Module):
    """A bigram model: the logits for the next token are row `idx[b, t]` of `table` (V, V).

    `max_len` (optional) raises like the curriculum's GPTModel when given more tokens than its
    context; `seen_lengths` records the sequence length of every forward call, so a check can read
    whether the learner cropped the context.
    """

    def __init__(self, table: torch.Tensor, max_len: int | None = None, trainable: bool = False) -> None:
        super().__init__()
        if trainable:
            self.table = nn.Parameter(table.clone())
        else:
            self.register_buffer("table", table.clone())
        self.max_len = max_len
        self.seen_lengths: list[int] = []
        self.modes: list[bool] = []
        self.grad_enabled: list[bool] = []

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.dim() != 2:
            raise ValueError(f"TableLM expects idx of shape (B, T), got {tuple(idx.shape)}")
        if self.max_len is not None and idx.shape[1] > self.max_len:
            raise ValueError(f"T={idx.shape[1]} exceeds context_length={self.max_len}")
        self.seen_lengths.append(int(idx.shape[1]))
        self.modes.append(self.training)
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.table[idx]


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, plus `<|endoftext|>` as 256: a tokenizer whose output is obvious.

    Follows tiktoken's calling convention: `encode(text, allowed_special=...)`, where a special
    token is encoded as one id only when allowed (as its bytes otherwise).
    """

    EOT = "<|endoftext|>"
    n_vocab = 257

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def encode(self, text: str, allowed_special: set[str] | str = frozenset(), **_: object) -> list[int]:
        self.calls.append({"allowed_special": sorted(allowed_special) if not isinstance(allowed_special, str)
                           else allowed_special})
        allowed = allowed_special == "all" or (not isinstance(allowed_special, str) and self.EOT in allowed_special)
        pieces = text.split(self.EOT) if allowed else [text]
        ids: list[int] = []
        for i, piece in enumerate(pieces):
            if i:
                ids.append(256)
            ids.extend(piece.encode("utf-8"))
        return ids

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            out.extend(self.EOT.encode() if i == 256 else bytes([i]))
        return out.decode("utf-8", errors="replace")
