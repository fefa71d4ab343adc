"""Hidden checks for a01_tokenizer: training against the reference trainer, encoding against tiktoken.

A failed training check names the misconception whose merges the learner's equal: a small,
slow trainer below replays the curriculum's algorithm with one rule changed at a time.
"""

from __future__ import annotations

import functools
import json
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import regex
import tiktoken
from hypothesis import strategies as st

import reference.a01_tokenizer as ref
from autograder import gpt2_vocab
from autograder.checks import CheckSkipped, Context
from autograder.compare import CheckFailure
from autograder.suites.a01_tokenizer import (
    EOT,
    PAD,
    PRETOKENIZER,
    SUITE,
    TOK,
    TRAIN_PIECES,
    TRICKY,
    as_ids,
    as_merges,
    decode_hint,
    id_difference,
    merge_difference,
    new_tokenizer,
    train_in_worker,
)

check = SUITE.check
Merges = list[tuple[bytes, bytes]]
CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus.txt"
# a sixth of the corpus and 250 merges: ~0.2 s for the solution; ~4 s for a trainer that keeps every occurrence
# of every word and recounts all pairs after each merge (slow but correct: the 30 s limit lets it pass)
CORPUS_SLICE_CHARS = 16_000
CORPUS_MERGES = 250


# -- misconceptions, for hints -----------------------------------------------------------------
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
        for k, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[k] = out
    return merges


VOCAB_SIZE_HINT = ("your merges match learning vocab_size - 256 merges: vocab_size counts the special tokens too, "
                   "so learn vocab_size - 256 - len(special_tokens)")
TRAIN_VARIANTS: dict[str, dict[str, Any]] = {
    "your merges match ties broken toward the smallest pair: among equally frequent pairs take the greatest "
    "(left, right) tuple of bytes, max(...)": {"tie": "smallest"},
    "your merges match ties broken by which pair was counted first (max(counts, key=counts.get) keeps the first "
    "of equals): ties go to the greatest (left, right) tuple of bytes": {"tie": "first"},
    "your merges match ties broken by comparing token ids: compare the pairs' bytes, not their ids (a merged "
    "token has a high id but may sort low as bytes)": {"tie": "ids"},
    "your merges match counting each distinct pre-token once: weight its pairs by how often the pre-token "
    "occurs": {"weighted": False},
    "your merges match counting pairs across pre-token boundaries: pre-tokenize each piece with "
    "GPT2_SPLIT_PATTERN and count pairs only inside each pre-token": {"split": "none"},
    "your merges match pre-tokens split on whitespace (str.split): pre-tokenize with GPT2_SPLIT_PATTERN, which "
    "keeps the spaces and separates punctuation": {"split": "whitespace"},
    "your merges match special tokens left in the text: split the text on the special tokens first; they are "
    "never merged": {"split_specials": False},
    VOCAB_SIZE_HINT: {"count_specials": False},
    "your merges match stopping once the most frequent pair occurs only once: pairs that occur once are merged "
    "too, until vocab_size is reached or no pair is left": {"stop_at_one": True},
}


def train_hint(got: Merges, text: str, vocab_size: int, specials: list[str]) -> str | None:
    for hint, how in TRAIN_VARIANTS.items():
        if how == {"count_specials": False} and not specials:
            continue
        if got == variant_merges(text, vocab_size, specials, **how):
            return hint
    return None


def reference_merges(text: str, vocab_size: int, specials: list[str]) -> Merges:
    tok = ref.BPETokenizer()
    tok.train(text, vocab_size, specials)
    return tok.merges


class Mismatch(CheckFailure):
    """A failure whose hint is worked out once, after Hypothesis has shrunk it (hints replay variants: slow)."""

    def __init__(self, message: str, make_hint: Callable[[], str | None]) -> None:
        super().__init__(message)
        self.make_hint = make_hint


@contextmanager
def hint_after_shrinking() -> Iterator[None]:
    try:
        yield
    except Mismatch as failure:
        failure.hint = failure.make_hint()
        raise


def seeded_text(seed: int, n: int, kind: str) -> str:
    """A text of `n` random pieces: the course's words, dense letters (ties, overlaps), or any Unicode.

    Drawn from a seed rather than by Hypothesis piece by piece: a failing example then shrinks in a few
    steps (each one trains two tokenizers), towards fewer pieces.
    """
    rng = random.Random(seed)
    if kind == "words":
        return "".join(rng.choice(TRAIN_PIECES + [EOT, PAD]) for _ in range(n))
    if kind == "letters":
        return "".join(rng.choice(["a", "b", "c", " ", "ab", "  ", "\n"]) for _ in range(n))
    parts = []
    for _ in range(n):
        if rng.random() < 0.5:
            parts.append(rng.choice(TRICKY + TRAIN_PIECES + [EOT, PAD]))
        else:  # an assigned code point: from ASCII, the BMP or anywhere
            cp = rng.choice((rng.randint(0x20, 0x7E), rng.randint(0xA0, 0xFFFF), rng.randint(0, 0x10FFFF)))
            if unicodedata.category(chr(cp)) not in ("Cs", "Cn"):
                parts.append(chr(cp))
    return "".join(parts)


TEXT_KINDS = ("words", "letters", "unicode")


def compare_training(ctx: Context, text: str, vocab_size: int, specials: list[str], *, hints: bool) -> None:
    res = train_in_worker(ctx, text, vocab_size, specials)
    where = f"train(text, vocab_size={vocab_size}, special_tokens={specials})"
    got = as_merges(res["merges"], where)
    problem = merge_difference(got, reference_merges(text, vocab_size, specials))
    if problem:
        def hint() -> str | None:
            found = train_hint(got, text, vocab_size, specials) if hints else None
            if found is None and specials and got == reference_merges(text, vocab_size + len(specials), specials):
                found = VOCAB_SIZE_HINT
            return found
        raise Mismatch(f"{where}: {problem}", hint)


@check(points=4, visibility="hidden", kind="differential", targets=(TOK,), max_examples=20,
       description="train: the merges equal the reference trainer's on generated texts (the course's words, dense "
                   "letters, any Unicode; 0-2 special tokens; up to 60 merges)")
def train_matches_reference(ctx: Context) -> None:
    with hint_after_shrinking():
        @ctx.given(seed=st.integers(0, 2**16), n=st.integers(1, 60), kind=st.sampled_from(TEXT_KINDS),
                   n_special=st.integers(0, 2), extra=st.integers(0, 60))
        def _(seed: int, n: int, kind: str, n_special: int, extra: int) -> None:
            text = seeded_text(seed, n, kind)
            specials = [EOT, PAD][:n_special]
            vocab_size = 256 + n_special + extra
            ctx.example(config={"vocab_size": vocab_size, "special_tokens": specials, "text": f"{n} {kind} "
                                f"(seed {seed}), {len(text)} characters"})
            compare_training(ctx, text, vocab_size, specials, hints=True)


@functools.lru_cache(maxsize=1)
def corpus_slice() -> str | None:
    if not CORPUS.is_file():
        return None
    text = CORPUS.read_text(encoding="utf-8")
    cut = text.rfind("\n", 0, CORPUS_SLICE_CHARS)
    return text[:cut if cut > 0 else CORPUS_SLICE_CHARS]


@check(points=3, visibility="hidden", kind="differential", targets=(TOK,), max_examples=1, timeout_s=30.0,
       description=f"train: {CORPUS_MERGES} merges learned from a slice of the course corpus equal the reference's")
def train_on_corpus_matches_reference(ctx: Context) -> None:
    text = corpus_slice()
    if text is None:
        raise CheckSkipped(f"the corpus {CORPUS} is not installed")
    vocab_size = 256 + CORPUS_MERGES + 1
    ctx.example(config={"vocab_size": vocab_size, "special_tokens": [EOT], "text": f"corpus[:{len(text)}]"})
    compare_training(ctx, text, vocab_size, [EOT], hints=False)


# -- encoding --------------------------------------------------------------------------------
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
                parts = _merge(parts, best)
            out.extend(ids[p] for p in parts)
    return out


def _merge(parts: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(parts):
        if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
            out.append(parts[i] + parts[i + 1])
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


def encode_hint(got: list[int], merges: Merges, specials: list[str], text: str) -> str | None:
    as_text = ref.BPETokenizer(merges=merges, special_tokens=specials)
    variants = {
        "your ids match special tokens encoded as ordinary text: split the text on the special tokens first, and "
        "give each its own id": lambda: as_text.encode_ordinary(text),
        "your ids match no pre-tokenization: split each piece with GPT2_SPLIT_PATTERN and encode every pre-token "
        "on its own": lambda: pattern_encoding(merges, specials, r"[\s\S]+").encode(text, allowed_special="all"),
        "your ids match pre-tokens split on whitespace: use GPT2_SPLIT_PATTERN, which keeps the spaces": lambda:
            pattern_encoding(merges, specials, r"\S+").encode(text, allowed_special="all"),
        "your ids match merging the pair that occurs most often in each pre-token: merges apply in the order they "
        "were learned (lowest rank first)": lambda: frequency_order_encode(merges, specials, text),
    }
    for hint, make in variants.items():
        if got == make():
            return hint
    return None


@check(points=4, visibility="hidden", kind="differential", targets=(TOK,), max_examples=15,
       description="encode equals tiktoken built from the same merges, on any Unicode text with special tokens "
                   "inside; decode equals tiktoken's decode on any ids")
def encode_matches_tiktoken(ctx: Context) -> None:
    with hint_after_shrinking():
        @ctx.given(seed=st.integers(0, 2**16), n=st.integers(20, 80), kind=st.sampled_from(TEXT_KINDS),
                   n_special=st.integers(0, 2), extra=st.integers(10, 60))
        def _(seed: int, n: int, kind: str, n_special: int, extra: int) -> None:
            specials = [EOT, PAD][:n_special]
            train_text = seeded_text(seed, n, kind)
            merges = reference_merges(train_text, 256 + n_special + extra, specials)
            reference = ref.BPETokenizer(merges=merges, special_tokens=specials)
            rng = random.Random(seed)
            texts = [train_text] + [seeded_text(rng.randrange(2**16), rng.randint(0, 12), "unicode") for _ in range(3)]
            # jumbles of the learned tokens' letters: long pre-tokens where the merges overlap and compete
            known = {(a + b).decode("utf-8", "ignore").strip() for a, b in merges} | set(train_text)
            letters = sorted(t for t in known if t.isalpha()) or ["a", "b"]
            texts += ["".join(rng.choice(letters) for _ in range(rng.randint(1, 16))) for _ in range(6)]
            ids = [rng.randint(0, 255 + len(merges) + n_special) for _ in range(rng.randint(0, 12))]
            ctx.example(config={"merges": f"{len(merges)} merges the reference learned from {n} {kind} (seed {seed})",
                                "special_tokens": specials, "texts": len(texts)})
            p = ctx.program()
            tok = new_tokenizer(p, merges=merges, special_tokens=specials)
            res = ctx.run(p.returns(encoded=[p.call(tok, t, method="encode") for t in texts],
                                    decoded=p.call(tok, ids, method="decode")))
            what = f"encode(text) with {len(merges)} merges and special_tokens={specials}"
            failing = [(t, as_ids(g, what)) for t, g in zip(texts, res["encoded"]) if g != reference.encode(t)]
            if failing:
                text, got = min(failing, key=lambda f: len(f[0]))
                raise Mismatch(f"{what}: {id_difference(got, reference.encode(text))} ({len(failing)} of {len(texts)} "
                               f"texts differ)", lambda: encode_hint(got, merges, specials, text))
            if res["decoded"] != reference.decode(ids):
                raise CheckFailure(f"decode of {len(ids)} ids with {len(merges)} merges: got {res['decoded']!r}, "
                                   f"expected {reference.decode(ids)!r}",
                                   hint=decode_hint(res["decoded"], [reference.vocab[i] for i in ids]))


# -- GPT-2 -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def gpt2_files() -> tuple[dict[int, bytes], Merges] | str:
    """GPT-2's vocab (encoder.json, tokens mapped back to bytes) and merges, or why they are unavailable."""
    reason = gpt2_vocab.available()
    if reason is not None:
        return reason
    paths = gpt2_vocab.ensure()
    to_byte = {ch: b for b, ch in gpt2_vocab.gpt2_byte_alphabet().items()}
    encoder = json.loads(paths["encoder.json"].read_text(encoding="utf-8"))
    vocab = {i: bytes(to_byte[ch] for ch in tok) for tok, i in encoder.items()}
    return vocab, gpt2_vocab.load_merges(paths["vocab.bpe"])


def gpt2_texts(n: int = 40, seed: int = 0) -> list[str]:
    """Seeded texts (one program holds them all: GPT-2's vocab is 5 MB to send): any assigned code point,
    the tricky pieces, and a stretch of the corpus."""
    rng = random.Random(seed)
    texts = list(TRICKY) + ["".join(TRICKY), "Hello, world! It's 2024 -- isn't it?\n\n  Indented."]
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            if kind < 0.4:
                cps = [rng.choice((rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x3000), rng.randint(0, 0x10FFFF)))
                       for _ in range(rng.randint(1, 6))]
                parts.append("".join(chr(c) for c in cps if unicodedata.category(chr(c)) not in ("Cs", "Cn")))
            else:
                parts.append(rng.choice(TRICKY + TRAIN_PIECES + [EOT]))
        texts.append("".join(parts))
    corpus = corpus_slice()
    if corpus:
        texts.append(corpus[:4000])
    return texts


# 30 s: the worker parses GPT-2's files (~0.3 s) and the solution encodes ~70 texts in ~0.3 s; an encode that
# tries the 50,000 merges one after another on every pre-token is correct, ~3 s here, and fits too
@check(points=3, visibility="hidden", kind="differential", targets=(TOK,), needs=("gpt2",), timeout_s=30.0,
       description="with GPT-2's vocab and merges, encode equals tiktoken.get_encoding('gpt2') (ids from GPT-2's "
                   "encoder.json, <|endoftext|> = 50256) and decode inverts it")
def encode_matches_gpt2(ctx: Context) -> None:
    gpt2 = tiktoken.get_encoding("gpt2")
    texts = gpt2_texts()
    ctx.example(config={"vocab": "GPT-2's encoder.json", "merges": "GPT-2's vocab.bpe", "special_tokens": [EOT],
                        "texts": len(texts)})
    p = ctx.program()
    files = p.runtime("a01_helpers")  # the worker reads the verified files itself: 5 MB is slow to send
    vocab = p.call(files, method="gpt2_vocab", learner=False)
    merges = p.call(files, method="gpt2_merges", learner=False)
    tok = p.new(TOK, vocab=vocab, merges=merges, special_tokens=[EOT])
    expected = [gpt2.encode(t, allowed_special="all") for t in texts]
    res = ctx.run(p.returns(encoded=[p.call(tok, t, method="encode") for t in texts],
                            decoded=[p.call(tok, ids, method="decode") for ids in expected]))
    failing = [(t, as_ids(g, "encode(text) with GPT-2's files"), e)
               for t, g, e in zip(texts, res["encoded"], expected) if g != e]
    if failing:
        text, got, want = min(failing, key=lambda f: len(f[0]))
        hint = None
        files_here = gpt2_files()
        if got == gpt2.encode_ordinary(text):
            hint = "your ids match <|endoftext|> encoded as ordinary text: a special token is one id, 50256"
        elif not isinstance(files_here, str) and got == ref.BPETokenizer(merges=files_here[1],
                                                                          special_tokens=[EOT]).encode(text):
            hint = ("your ids are 256 + merge index (the layout without a vocab): when a vocab is given, every token's "
                    "id is the vocab's id for its bytes, and <|endoftext|> keeps GPT-2's id 50256")
        raise CheckFailure(f"encode({text!r}) with GPT-2's vocab and merges: {id_difference(got, want)} "
                           f"({len(failing)} of {len(texts)} texts differ)", hint=hint)
    for text, ids, back in zip(texts, expected, res["decoded"]):
        if back != text:
            raise CheckFailure(f"decode(tiktoken's GPT-2 ids for {text!r}) gave {back!r}",
                               hint=decode_hint(back, [gpt2.decode_single_token_bytes(i) for i in ids]))
