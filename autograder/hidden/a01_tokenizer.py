"""Hidden checks for a01_tokenizer: training against the reference trainer, encoding against tiktoken.

A failed training or encoding check names the misconception whose output the learner's equals: the
hidden half of the catalogue (hidden/mistakes/a01_tokenizer.py) replays the curriculum's algorithm with
one rule changed at a time.
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tiktoken
from hypothesis import strategies as st

import reference.a01_tokenizer as ref
from autograder import gpt2_vocab
from autograder.kit import CheckSkipped, Context, Replay, given
from autograder.hidden.mistakes.a01_tokenizer import Merges, encode_replay, train_replay
from autograder.mistakes.a01_tokenizer import DECODE, ENCODE, TRAIN
from autograder.suites.a01_tokenizer import (EOT, PAD, SUITE, TOK, TRAIN_PIECES, TRICKY, expect_ids, expect_merges,
                                             new_tokenizer, trained)

check = SUITE.check
CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus.txt"
# a sixth of the corpus and 250 merges: ~0.2 s for the solution; ~4 s for a trainer that keeps every occurrence
# of every word and recounts all pairs after each merge (slow but correct: the 30 s limit lets it pass)
CORPUS_SLICE_CHARS = 16_000
CORPUS_MERGES = 250


def reference_merges(text: str, vocab_size: int, specials: list[str]) -> Merges:
    tok = ref.BPETokenizer()
    tok.train(text, vocab_size, specials)
    return tok.merges


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


def compare_training(ctx: Context, text: str, vocab_size: int, specials: list[str],
                     replay: Callable[[str], Merges]) -> None:
    expect_merges(trained(ctx, text, vocab_size, specials)["merges"], reference_merges(text, vocab_size, specials),
                  f"train(text, vocab_size={vocab_size}, special_tokens={specials})",
                  TRAIN(replay=replay, specials=specials).later())  # each mistake is a training run: after shrinking


@check(points=4, visibility="hidden", kind="differential", targets=(TOK,), max_examples=20,
       description="train: the merges equal the reference trainer's on generated texts (the course's words, dense "
                   "letters, any Unicode; 0-2 special tokens; up to 60 merges)")
@given(seed=st.integers(0, 2**16), n=st.integers(1, 60), kind=st.sampled_from(TEXT_KINDS),
       n_special=st.integers(0, 2), extra=st.integers(0, 60))
def train_matches_reference(ctx: Context, seed: int, n: int, kind: str, n_special: int, extra: int) -> None:
    text = seeded_text(seed, n, kind)
    specials = [EOT, PAD][:n_special]
    vocab_size = 256 + n_special + extra
    ctx.example(config={"vocab_size": vocab_size, "special_tokens": specials, "text": f"{n} {kind} "
                        f"(seed {seed}), {len(text)} characters"})
    compare_training(ctx, text, vocab_size, specials, train_replay(text, vocab_size, specials))


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
    # replaying every mistake on the corpus is slow: only this one, by the reference
    replay = Replay(vocab_size_ignores_specials=lambda: reference_merges(text, vocab_size + 1, [EOT]))
    compare_training(ctx, text, vocab_size, [EOT], replay)


# -- encoding --------------------------------------------------------------------------------
def expect_encodes(ctx: Context, got: list[Any], texts: list[str], encode: Callable[[str], list[int]], what: str,
                   replay: Callable[[str, str], Callable[[str], list[int]]]) -> None:
    """The shortest text whose ids differ from `encode`'s, with the ENCODE mistake it matches."""
    failing = [(t, g) for t, g in zip(texts, got) if g != encode(t)]
    if failing:
        text, ids = min(failing, key=lambda f: len(f[0]))
        expect_ids(ids, encode(text), f"{what.format(text=repr(text))} ({len(failing)} of {len(texts)} texts differ)",
                   ENCODE(replay=replay(text)).later())


@check(points=4, visibility="hidden", kind="differential", targets=(TOK,), max_examples=15,
       description="encode equals tiktoken built from the same merges, on any Unicode text with special tokens "
                   "inside; decode equals tiktoken's decode on any ids")
@given(seed=st.integers(0, 2**16), n=st.integers(20, 80), kind=st.sampled_from(TEXT_KINDS),
       n_special=st.integers(0, 2), extra=st.integers(10, 60))
def encode_matches_tiktoken(ctx: Context, seed: int, n: int, kind: str, n_special: int, extra: int) -> None:
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
    tok = new_tokenizer(ctx, merges=merges, special_tokens=specials)
    encoded, decoded = ctx.fetch([ctx.call(tok, t, method="encode") for t in texts], ctx.call(tok, ids, method="decode"))
    expect_encodes(ctx, encoded, texts, reference.encode, f"encode({{text}}) with {len(merges)} merges and "
                   f"special_tokens={specials}", lambda text: encode_replay(merges, specials, text))
    ctx.expect_close(decoded, reference.decode(ids), name=f"decode of {len(ids)} ids with {len(merges)} merges",
                     hints=DECODE(tokens=[reference.vocab[i] for i in ids]))


# -- GPT-2 -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def gpt2_merges() -> Merges:
    """GPT-2's merges (vocab.bpe), grader-side, for a hint (VocabUnavailable, and no hint, without the files)."""
    return gpt2_vocab.load_merges(gpt2_vocab.ensure()["vocab.bpe"])


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
    # the worker reads the verified files itself: 5 MB is slow to send
    vocab, merges = ctx.runtime("gpt2.vocab"), ctx.runtime("gpt2.merges")
    tok = ctx.module(TOK, {"vocab": vocab, "merges": merges, "special_tokens": [EOT]}, dtype=None, train=None)
    expected = [gpt2.encode(t, allowed_special="all") for t in texts]
    encoded, decoded = ctx.fetch([ctx.call(tok, t, method="encode") for t in texts],
                                 [ctx.call(tok, ids, method="decode") for ids in expected])
    expect_encodes(ctx, encoded, texts, lambda t: gpt2.encode(t, allowed_special="all"),
                   "encode({text}) with GPT-2's vocab and merges", lambda text: Replay(
                       specials_as_text=lambda: gpt2.encode_ordinary(text),
                       vocab_ignored=lambda: ref.BPETokenizer(merges=gpt2_merges(), special_tokens=[EOT]).encode(text)))
    for text, ids, back in zip(texts, expected, decoded):
        ctx.expect_close(back, text, name=f"decode(tiktoken's GPT-2 ids for {text!r})",
                         hints=DECODE(tokens=[gpt2.decode_single_token_bytes(i) for i in ids]))
