"""The hidden half of a01_tokenizer's catalogue: the training and encoding mistakes, replayed.

A training or encoding mistake is a whole tokenizer with one rule changed (autograder/mistakes/
a01_tokenizer.py says which rule and what hint): a tokenizer one edit away from correct, so it never
ships with the public checks. The hidden checks replay a mistake on the example at hand (`train_replay`,
`encode_replay`, for the catalogue's `replay`); `scratchgrad snapshots` stores what each gives on the
public snapshot's texts. A small, slow trainer below recounts every pair at every step (small texts only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import pairwise

import regex
import tiktoken

import reference.a01_tokenizer as ref
from autograder.kit import Replay
from autograder.mistakes.a01_tokenizer import PRETOKENIZER, TRAIN_RULES

Merges = list[tuple[bytes, bytes]]


def variant_merges(text: str, vocab_size: int, specials: list[str], *, tie: str = "greatest", weighted: bool = True,
                   split: str = "pattern", split_specials: bool = True, count_specials: bool = True,
                   stop_at_one: bool = False) -> Merges:
    """The curriculum's training with one rule changed; recounts every pair at every step (small texts only)."""
    n_merges = vocab_size - 256 - (len(specials) if count_specials else 0)
    pieces = [text]
    if split_specials and specials:
        pieces = regex.split("|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)), text)
    freq: Counter = Counter()
    for piece in pieces:
        words = {"pattern": PRETOKENIZER.findall, "none": lambda t: [t] if t else [], "whitespace": str.split}[split]
        freq.update(words(piece))
    words = [[bytes([b]) for b in w.encode("utf-8")] for w in freq]
    weights = [f if weighted else 1 for f in freq.values()]
    ids = {bytes([b]): b for b in range(256)}
    merges: Merges = []
    while len(merges) < n_merges:
        counts: Counter = Counter()
        for w, f in zip(words, weights):
            for pair in pairwise(w):
                counts[pair] += f
        if not counts or (stop_at_one and max(counts.values()) < 2):
            break
        top = max(counts.values())
        tied = [pair for pair, c in counts.items() if c == top]
        if tie == "ids":
            best = max(tied, key=lambda pair: (ids[pair[0]], ids[pair[1]]))
        else:
            best = {"greatest": max, "smallest": min, "first": lambda t: t[0]}[tie](tied)
        merges.append(best)
        ids[best[0] + best[1]] = 256 + len(merges) - 1
        words = [merged(w, best) for w in words]
    return merges


def merged(parts: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    """`parts` with every occurrence of `pair` merged, left to right."""
    out, i = [], 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
            out.append(parts[i] + parts[i + 1])
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def train_replay(text: str, vocab_size: int, specials: list[str]) -> Callable[[str], Merges]:
    """TRAIN's `replay`: the merges of each training mistake on this text."""
    return lambda name: variant_merges(text, vocab_size, specials, **TRAIN_RULES[name][1])


def pattern_encoding(merges: Merges, specials: list[str], pat_str: str) -> tiktoken.Encoding:
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({a + b: 256 + i for i, (a, b) in enumerate(merges)})
    return tiktoken.Encoding("a01-variant", pat_str=pat_str, mergeable_ranks=ranks,
                             special_tokens={s: len(ranks) + k for k, s in enumerate(specials)})


def frequency_order_encode(merges: Merges, specials: list[str], text: str) -> list[int]:
    """Encode merging, in each pre-token, the learned pair that occurs most often there (a misconception)."""
    ranks = {m: i for i, m in enumerate(merges)}
    sid = {s: 256 + len(merges) + k for k, s in enumerate(specials)}
    ids = {bytes([b]): b for b in range(256)} | {a + b: 256 + i for i, (a, b) in enumerate(merges)}
    pieces = regex.split("(" + "|".join(regex.escape(s) for s in specials) + ")", text) if specials else [text]
    out: list[int] = []
    for piece in pieces:
        if piece in sid:
            out.append(sid[piece])
            continue
        for word in PRETOKENIZER.findall(piece):
            parts = [bytes([b]) for b in word.encode("utf-8")]
            while True:
                counts = Counter(p for p in pairwise(parts) if p in ranks)
                if not counts:
                    break
                best = max(counts, key=lambda p: (counts[p], -ranks[p]))
                parts = merged(parts, best)
            out.extend(ids[p] for p in parts)
    return out


def encode_replay(merges: Merges, specials: list[str], text: str) -> Replay:
    """ENCODE's `replay`: the ids of each encoding mistake for this text."""
    return Replay(
        specials_as_text=lambda: ref.BPETokenizer(merges=merges, special_tokens=specials).encode_ordinary(text),
        no_pretokenization=lambda: pattern_encoding(merges, specials, r"[\s\S]+").encode(text, allowed_special="all"),
        split_on_whitespace=lambda: pattern_encoding(merges, specials, r"\S+").encode(text, allowed_special="all"),
        most_frequent_pair_first=lambda: frequency_order_encode(merges, specials, text))


