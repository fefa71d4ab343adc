"""The known mistakes of a01_tokenizer, one catalogue per method: public and hidden checks give the same hints.

Decode mistakes are computed here from the tokens' bytes. A training or encoding mistake is a whole
tokenizer with one rule changed, and a tokenizer one edit away from correct must not ship with the
public checks: those entries take `replay(name)`, the mistake's output for the example at hand, which
the hidden checks compute (hidden/mistakes/a01_tokenizer.py) and the public ones read from the JSON snapshot,
where `scratchgrad snapshots` stored it for the snapshot's texts. `replay` raises ValueError for a
mistake it cannot compute (the entry is then skipped).
"""

from __future__ import annotations

import regex

from autograder.compare import Misconceptions

# The curriculum's pre-tokenizer (the learner's module holds the same string; tests keep them equal).
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PRETOKENIZER = regex.compile(GPT2_SPLIT_PATTERN)

TRAIN = Misconceptions("BPETokenizer.train")
# name -> (hint, the rule changed: keyword arguments of the hidden checks' replaying trainer)
TRAIN_RULES = {
    "tie_break_smallest": ("your merges match ties broken toward the smallest pair: among equally frequent pairs take "
                           "the greatest (left, right) tuple of bytes, max(...)", {"tie": "smallest"}),
    "tie_break_first_counted": ("your merges match ties broken by which pair was counted first (max(counts, "
                                "key=counts.get) keeps the first of equals): ties go to the greatest (left, right) "
                                "tuple of bytes", {"tie": "first"}),
    "tie_break_by_ids": ("your merges match ties broken by comparing token ids: compare the pairs' bytes, not their "
                         "ids (a merged token has a high id but may sort low as bytes)", {"tie": "ids"}),
    "no_frequency_weighting": ("your merges match counting each distinct pre-token once: weight its pairs by how often "
                               "the pre-token occurs", {"weighted": False}),
    "pairs_across_pretokens": ("your merges match counting pairs across pre-token boundaries: pre-tokenize each piece "
                               "with GPT2_SPLIT_PATTERN and count pairs only inside each pre-token", {"split": "none"}),
    "split_on_whitespace": ("your merges match pre-tokens split on whitespace (str.split): pre-tokenize with "
                            "GPT2_SPLIT_PATTERN, which keeps the spaces and separates punctuation",
                            {"split": "whitespace"}),
    "specials_not_split": ("your merges match special tokens left in the text: split the text on the special tokens "
                           "first; they are never merged", {"split_specials": False}),
    "vocab_size_ignores_specials": ("your merges match learning vocab_size - 256 merges: vocab_size counts the special "
                                    "tokens too, so learn vocab_size - 256 - len(special_tokens)",
                                    {"count_specials": False}),
    "stops_at_count_one": ("your merges match stopping once the most frequent pair occurs only once: pairs that occur "
                           "once are merged too, until vocab_size is reached or no pair is left", {"stop_at_one": True}),
}
for _name, (_hint, _) in TRAIN_RULES.items():
    TRAIN.add(_name, _hint, when=(lambda specials, **_: bool(specials)) if _name in (
        "vocab_size_ignores_specials", "specials_not_split") else None)(lambda replay, name=_name, **_: replay(name))

ENCODE = Misconceptions("BPETokenizer.encode")
ENCODE_HINTS = {
    "specials_as_text": "your ids match special tokens encoded as ordinary text: split the text on the special tokens "
                        "first, and give each its own id (GPT-2's <|endoftext|> is one id, 50256)",
    "no_pretokenization": "your ids match no pre-tokenization: split each piece with GPT2_SPLIT_PATTERN and encode "
                          "every pre-token on its own",
    "split_on_whitespace": "your ids match pre-tokens split on whitespace: use GPT2_SPLIT_PATTERN, which keeps the "
                           "spaces",
    "most_frequent_pair_first": "your ids match merging the pair that occurs most often in each pre-token: merges "
                                "apply in the order they were learned (lowest rank first)",
    "vocab_ignored": "your ids are 256 + merge index (the layout without a vocab): when a vocab is given, every token's "
                     "id is the vocab's id for its bytes, and a special token already in it keeps its id (GPT-2's "
                     "<|endoftext|> is 50256)",
}
for _name, _hint in ENCODE_HINTS.items():
    ENCODE.add(_name, _hint)(lambda replay, name=_name, **_: replay(name))

DECODE = Misconceptions("BPETokenizer.decode")  # tokens: the bytes of each id decoded


@DECODE.add("each_token_on_its_own", "your text matches decoding each token on its own: join all the tokens' bytes "
            "first, then decode once (one character can be split across two tokens)")
def _(tokens):
    return "".join(t.decode("utf-8", errors="replace") for t in tokens)


@DECODE.add("invalid_bytes_dropped", "invalid bytes were dropped: replace them with U+FFFD, bytes.decode('utf-8', "
            "errors='replace')")
def _(tokens):
    return b"".join(tokens).decode("utf-8", errors="ignore")
