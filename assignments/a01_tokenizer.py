"""a01_tokenizer: byte-level byte-pair encoding (BPE), the tokenizer of GPT-2.

A language model reads integers, not text. A tokenizer turns text into a list of token ids and
back. Byte-level BPE starts from the 256 possible bytes of UTF-8 (so any text at all can be
encoded, emoji and Chinese included) and learns, from a training text, which adjacent pieces
to glue together:

1. Split the text on the special tokens (such as `<|endoftext|>`, which separates documents):
   they are never split, never merged, and get ids of their own.
2. Pre-tokenize each remaining piece with `GPT2_SPLIT_PATTERN`: words with their leading space,
   numbers, runs of punctuation, runs of whitespace. Merges never cross these boundaries, so
   "dog." and "dog!" share the token for "dog".
3. Count every adjacent pair of tokens inside the pre-tokens, each pre-token weighted by how
   often it occurs, and merge the most frequent pair into a new token. Repeat.

Each merge adds one token to the vocabulary: ids 0..255 are the single bytes, merge i gets id
256 + i, and the special tokens come last. Encoding a new text replays the merges in the order
they were learned; decoding concatenates the tokens' bytes and decodes them as UTF-8.

Words used below: a *token* is a byte string (`bytes`); a *pre-token* is one match of
`GPT2_SPLIT_PATTERN`; a *pair* is a tuple `(left, right)` of two adjacent tokens.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

from collections import Counter
from collections.abc import Iterator
from itertools import pairwise

import regex  # like `re`, plus the Unicode classes \p{L} (letters) and \p{N} (numbers)

# GPT-2's pre-tokenizer: English contractions, an optional space followed by letters, numbers
# or other symbols, then whitespace. `\s+(?!\S)` leaves the last space of a run of spaces to
# the word that follows, so " the" is the same pre-token after one space or after five.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PRETOKENIZER = regex.compile(GPT2_SPLIT_PATTERN)


def _check_special_tokens(special_tokens: list[str] | None) -> list[str]:
    """Given (not a task): validate a list of special tokens; None means no special tokens.

    Raises:
        TypeError: special_tokens is not a list (or tuple) of str.
        ValueError: a special token is empty, or listed twice.
    """
    if special_tokens is None:
        return []
    if isinstance(special_tokens, str) or not isinstance(special_tokens, (list, tuple)):
        raise TypeError(f"special_tokens must be a list of str, got {special_tokens!r}")
    for tok in special_tokens:
        if not isinstance(tok, str) or not tok:
            raise ValueError(f"special_tokens must hold non-empty strings, got {tok!r}")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"special_tokens lists a token twice: {special_tokens!r}")
    return list(special_tokens)


def adjacent_pairs(tokens: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Given (not a task): the adjacent pairs of `tokens`, left to right, overlaps included.

    [b"a", b"a", b"a"] has two pairs (b"a", b"a"): both count when training.
    """
    return pairwise(tokens)


def split_on_special_tokens(text: str, special_tokens: list[str]) -> list[str]:
    """Cut `text` at every occurrence of a special token.

    Where two special tokens could match at the same place, the longer one wins.

    Args:
        text: any string.
        special_tokens: the special tokens (possibly empty).

    Returns:
        The pieces of `text` in order, each special token as a piece of its own and no empty
        pieces; "".join(pieces) == text. E.g. ("a<|endoftext|>b", ["<|endoftext|>"]) ->
        ["a", "<|endoftext|>", "b"].
    """
    # YOUR CODE HERE
    raise NotImplementedError("a01: split_on_special_tokens")


def merge_pair(tokens: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    """Replace every occurrence of `pair` in `tokens` by one token, scanning left to right.

    Overlapping occurrences are merged from the left: [a, a, a] with pair (a, a) gives [aa, a].

    Args:
        tokens: a pre-token as a list of tokens, e.g. [b"l", b"o", b"w"].
        pair: (left, right), e.g. (b"o", b"w").

    Returns:
        A new list, e.g. [b"l", b"ow"]; `tokens` itself is not modified.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a01: merge_pair")


def count_pretokens(text: str, special_tokens: list[str]) -> Counter:
    """How often each pre-token occurs in `text`, special tokens left out.

    Args:
        text: the training text.
        special_tokens: split `text` on these first; they are not counted.

    Returns:
        Counter mapping each pre-token (a str) to its number of occurrences, e.g. for
        "the cat<|endoftext|>the cat": {"the": 2, " cat": 2}.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a01: count_pretokens")


class BPETokenizer:
    """Byte-level BPE tokenizer: `train` it on text, then `encode` and `decode`.

    Attributes (read by the grader):
        vocab: dict[int, bytes], every id to its bytes (a special token's bytes are its UTF-8).
        merges: list[tuple[bytes, bytes]], the merges in the order they are applied.
        special_tokens: list[str].
    """

    def __init__(self, vocab: dict[int, bytes] | None = None, merges: list[tuple[bytes, bytes]] | None = None,
                 special_tokens: list[str] | None = None) -> None:
        """Build a tokenizer from a vocabulary and merges (both None: no merges yet).

        Args:
            vocab: None, or the id of every token, e.g. GPT-2's encoder.json mapped to bytes.
            merges: None, or the merges in priority order (the order they were learned).
            special_tokens: None, or strings that are always encoded as one id of their own.

        Which ids the tokens get:
            - neither vocab nor merges: ids 0..255 are the single bytes (id b is bytes([b])),
              special tokens follow from 256. This is a tokenizer before training.
            - merges only: ids 0..255 are the single bytes, merges[i] gets id 256 + i (its
              bytes are left + right), special tokens follow from 256 + len(merges).
            - vocab and merges: the ids are vocab's, whatever their order (GPT-2's single bytes
              are not 0..255 in byte order). vocab must hold every single byte and every
              merge's left + right, each under one id. Merges still apply in list order: merge
              i before merge j > i, whatever ids their tokens have. A special token whose
              UTF-8 bytes are in vocab keeps that id (GPT-2's "<|endoftext|>" is 50256); the
              others get new ids max(vocab) + 1, + 2, ... in list order.
            - vocab without merges: ValueError (ids alone do not say which pairs merge first).
        """
        self._setup(vocab, merges, _check_special_tokens(special_tokens))

    def _setup(self, vocab: dict[int, bytes] | None, merges: list[tuple[bytes, bytes]] | None,
               special_tokens: list[str]) -> None:
        """Store vocab, merges and special_tokens (see __init__) and the tables encode needs.

        Sets `self.vocab` (special tokens included), `self.merges`, `self.special_tokens`;
        `train` calls this too, with the merges it learned.

        Raises:
            ValueError: vocab without merges, or a merge's bytes missing from vocab.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a01: BPETokenizer._setup")

    def train(self, text: str, vocab_size: int,
              special_tokens: list[str] = ["<|endoftext|>"]) -> None:  # noqa: B006 (the curriculum's signature; never mutated)
        """Learn merges from `text` until the vocabulary holds `vocab_size` tokens.

        Replaces this tokenizer's vocab, merges and special tokens by the trained ones (ids 0..255
        the bytes, then the merges, then `special_tokens` in order).

        Algorithm: count the pre-tokens (`count_pretokens`), start each one as its list of single
        bytes, and repeat:
            1. count every adjacent pair inside each pre-token, times that pre-token's count;
            2. pick the most frequent pair; among equally frequent pairs, the greatest one
               comparing (left, right) as a tuple of bytes (so (b"a", b"c") beats (b"a", b"b"),
               and (b"ab", b"c") beats (b"a", b"x"));
            3. append it to the merges and merge it everywhere (`merge_pair`).
        Stop after vocab_size - 256 - len(special_tokens) merges, or earlier when no pair is
        left (every pre-token is a single token).

        Args:
            text: the training text.
            vocab_size: 256 single bytes + the number of merges + len(special_tokens).
            special_tokens: split the text on these; they are never merged.

        Raises:
            ValueError: vocab_size < 256 + len(special_tokens) (the message shows both).
        """
        special_tokens = _check_special_tokens(special_tokens)
        # YOUR CODE HERE
        raise NotImplementedError("a01: BPETokenizer.train")

    def _encode_pretoken(self, data: bytes) -> list[int]:
        """Token ids of one pre-token's bytes (no special tokens in it).

        Start from single bytes and repeatedly merge the adjacent pair of lowest rank (position
        in `self.merges`), the leftmost one if it occurs twice, until no adjacent pair is a merge.
        For merges learned by `train`, and for GPT-2's, this gives exactly tiktoken's ids.

        Args:
            data: e.g. " hello".encode("utf-8").

        Returns:
            The ids (from `self.vocab`) of the tokens it ends up as.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a01: BPETokenizer._encode_pretoken")

    def encode(self, text: str) -> list[int]:
        """Text to token ids.

        Split on the special tokens (each becomes its own id), pre-tokenize every other piece
        with GPT2_SPLIT_PATTERN, and encode each pre-token's UTF-8 bytes with the merges.

        Args:
            text: any string; special tokens inside it are encoded atomically.

        Returns:
            list of int ids.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a01: BPETokenizer.encode")

    def decode(self, ids: list[int]) -> str:
        """Token ids to text.

        Concatenate the tokens' bytes first, then decode them as UTF-8: a character may be
        split across two tokens. Bytes that are not valid UTF-8 become U+FFFD ("\\ufffd").

        Args:
            ids: a list (or any iterable) of ids.

        Returns:
            The text.

        Raises:
            ValueError: an id that is not in the vocabulary (the message shows it).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a01: BPETokenizer.decode")
