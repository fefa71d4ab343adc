"""Reference for a01_tokenizer: tiktoken encodes and decodes; the trainer keeps pair counts in a heap.

Same public names and constructor as the solution. Encoding builds a `tiktoken.Encoding` whose
ranks are the merge order (bytes 0..255, merge i -> 256 + i, then the special tokens) and maps its
ids to the vocabulary's own ids, so a vocabulary with any id layout (GPT-2's) works.

The trainer is written independently of the solution's: pre-tokens become lists of integer ids,
pair counts are updated per changed pre-token from the difference of its pair multisets, and the
next merge comes from a max-heap with lazy deletion (a popped entry is used only when its count is
still current). Ties go to the greatest (bytes, bytes) pair via an inverted comparison.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from itertools import pairwise

import regex
import tiktoken

GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_SPLIT = regex.compile(GPT2_SPLIT_PATTERN)


class _Greatest:
    """Heap key: the greatest (bytes, bytes) pair sorts first in Python's min-heap."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[bytes, bytes]) -> None:
        self.key = key

    def __lt__(self, other: _Greatest) -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Greatest) and self.key == other.key


def _pieces(text: str, special_tokens: list[str]) -> list[str]:
    """The stretches of `text` between special tokens (longest special first at one position)."""
    if not special_tokens:
        return [text]
    alternatives = "|".join(regex.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
    return regex.split(alternatives, text)


def learn_merges(text: str, num_merges: int, special_tokens: list[str]) -> list[tuple[bytes, bytes]]:
    """The curriculum's BPE training, with incremental counts and a heap."""
    freq: Counter = Counter()
    for piece in _pieces(text, special_tokens):
        for m in _SPLIT.finditer(piece):
            freq[m.group().encode("utf-8")] += 1
    token_bytes = [bytes([i]) for i in range(256)]
    seqs = [list(word) for word in freq]
    weight = list(freq.values())
    count: dict[tuple[int, int], int] = defaultdict(int)
    holders: dict[tuple[int, int], set[int]] = defaultdict(set)
    for w, seq in enumerate(seqs):
        for pair in pairwise(seq):
            count[pair] += weight[w]
            holders[pair].add(w)

    def entry(pair: tuple[int, int]) -> tuple[int, _Greatest, tuple[int, int]]:
        return (-count[pair], _Greatest((token_bytes[pair[0]], token_bytes[pair[1]])), pair)

    heap = [entry(pair) for pair in count]
    heapq.heapify(heap)
    merges: list[tuple[bytes, bytes]] = []
    while len(merges) < num_merges:
        while heap and (heap[0][0] == 0 or count.get(heap[0][2], 0) != -heap[0][0]):
            heapq.heappop(heap)  # stale: the pair's count changed after this entry was pushed
        if not heap:
            break
        a, b = heapq.heappop(heap)[2]
        new = len(token_bytes)
        token_bytes.append(token_bytes[a] + token_bytes[b])
        merges.append((token_bytes[a], token_bytes[b]))
        touched: set[tuple[int, int]] = set()
        for w in holders.pop((a, b)):
            seq, out, i = seqs[w], [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            delta = Counter(pairwise(out))
            delta.subtract(Counter(pairwise(seq)))
            for pair, d in delta.items():
                if d:
                    count[pair] += d * weight[w]
                    touched.add(pair)
                    if d > 0:
                        holders[pair].add(w)
            seqs[w] = out
        for pair in touched:
            if count[pair] <= 0:
                count.pop(pair, None)
            else:
                heapq.heappush(heap, entry(pair))
    return merges


class BPETokenizer:
    def __init__(self, vocab: dict[int, bytes] | None = None, merges: list[tuple[bytes, bytes]] | None = None,
                 special_tokens: list[str] | None = None) -> None:
        self._load(vocab, merges, list(special_tokens or []))

    def _load(self, vocab: dict[int, bytes] | None, merges: list[tuple[bytes, bytes]] | None,
              special_tokens: list[str]) -> None:
        if vocab is not None and merges is None:
            raise ValueError("vocab without merges")
        self.merges = [(bytes(a), bytes(b)) for a, b in merges or []]
        self.special_tokens = special_tokens
        given = vocab is not None
        if vocab is None:
            vocab = {i: bytes([i]) for i in range(256)}
            vocab.update({256 + k: a + b for k, (a, b) in enumerate(self.merges)})
        self.vocab = dict(vocab)
        id_of = {tok: i for i, tok in self.vocab.items()}
        fresh = max(self.vocab) + 1
        special_ids = {}
        for s in special_tokens:
            found = id_of.get(s.encode("utf-8")) if given else None
            if found is None:
                found, fresh = fresh, fresh + 1
                self.vocab[found] = s.encode("utf-8")
            special_ids[s] = found
        # tiktoken's ranks are the merge order; its ids are translated to ours afterwards
        ranks = {bytes([i]): i for i in range(256)}
        for k, (a, b) in enumerate(self.merges):
            if a + b in ranks:
                raise ValueError(f"two tokens with the bytes {a + b!r}: tiktoken cannot represent that")
            ranks[a + b] = 256 + k
        n = len(ranks)
        self._to_ours = [id_of[tok] for tok, _ in sorted(ranks.items(), key=lambda kv: kv[1])]
        self._to_ours += [special_ids[s] for s in special_tokens]
        self._enc = tiktoken.Encoding("scratchgrad-a01", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,
                                      special_tokens={s: n + k for k, s in enumerate(special_tokens)})

    def train(self, text: str, vocab_size: int,
              special_tokens: list[str] = ["<|endoftext|>"]) -> None:  # noqa: B006 (the contract's signature)
        special_tokens = list(special_tokens)
        if vocab_size < 256 + len(special_tokens):
            raise ValueError(f"vocab_size={vocab_size} is below 256 + len(special_tokens) = "
                             f"{256 + len(special_tokens)}")
        merges = learn_merges(text, vocab_size - 256 - len(special_tokens), special_tokens)
        self._load(None, merges, special_tokens)

    def encode(self, text: str) -> list[int]:
        return [self._to_ours[i] for i in self._enc.encode(text, allowed_special="all")]

    def encode_ordinary(self, text: str) -> list[int]:
        """Special tokens encoded as plain text (grader-only: a misconception's output, for hints)."""
        return [self._to_ours[i] for i in self._enc.encode_ordinary(text)]

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")
