"""Mistakes (must lose points) and correct alternatives (must score full marks) for a01_tokenizer."""

from tests.banks.edits import Edit, Variant

_TIE = "            top = max(pair_counts.values())\n            best = max(pair for pair, n in pair_counts.items() if n == top)\n"
_FINDALL_TRAIN = "            counts.update(PRETOKENIZER.findall(piece))"
_RANKED = ("            ranked = [(self._ranks[pair], i) for i, pair in enumerate(adjacent_pairs(parts)) "
           "if pair in self._ranks]\n"
           "            if not ranked:\n"
           "                break\n"
           "            _, i = min(ranked)  # lowest rank; on a tie (the same pair twice) the leftmost\n"
           "            parts[i:i + 2] = [parts[i] + parts[i + 1]]\n")
_DECODE = '        return b"".join(chunks).decode("utf-8", errors="replace")'
_ENCODE_SPLIT = "        for piece in split_on_special_tokens(text, self.special_tokens):\n"
_MERGE_LOOP = """        merges = []
        while len(merges) < num_merges and pair_counts:
            top = max(pair_counts.values())
            best = max(pair for pair, n in pair_counts.items() if n == top)
            merges.append(best)
            # Only the words holding `best` change: take their old pairs out, put the new ones in.
            for i in holders.pop(best):
                for pair in adjacent_pairs(words[i]):
                    pair_counts[pair] -= freqs[i]
                    if pair_counts[pair] == 0:
                        del pair_counts[pair]
                words[i] = merge_pair(words[i], best)
                for pair in adjacent_pairs(words[i]):
                    pair_counts[pair] += freqs[i]
                    holders.setdefault(pair, set()).add(i)
"""
_COUNTING = """        pair_counts = Counter()
        holders = {}  # pair -> indices of the words it occurs in
        for i, word in enumerate(words):
            for pair in adjacent_pairs(word):
                pair_counts[pair] += freqs[i]
                holders.setdefault(pair, set()).add(i)
"""

MUTANTS = [
    Variant(
        name="tie_break_smallest",
        why="ties go to the smallest pair instead of the greatest",
        edits=[Edit(old=_TIE, new=_TIE.replace("best = max(", "best = min("))],
        hint="toward the smallest pair",
    ),
    Variant(
        name="tie_break_first_counted",
        why="max(counts, key=counts.get): ties go to whichever pair the Counter holds first",
        edits=[Edit(old=_TIE, new="            best = max(pair_counts, key=pair_counts.get)\n")],
        hint="so ties decide",
    ),
    Variant(
        name="pairs_across_pretokens",
        why="no pre-tokenization: pairs are counted across word boundaries",
        edits=[Edit(old=_FINDALL_TRAIN, new="            counts[piece] += 1")],
        hint="across pre-token boundaries",
    ),
    Variant(
        name="no_frequency_weighting",
        why="each distinct pre-token counted once, whatever its frequency",
        edits=[Edit(old="        freqs = list(counts.values())", new="        freqs = [1] * len(counts)")],
        hint="counting each distinct pre-token once",
    ),
    Variant(
        name="specials_not_split_in_train",
        why="the training text is pre-tokenized with the special tokens left in it",
        edits=[Edit(old="    for piece in split_on_special_tokens(text, special_tokens):\n        if piece not in special_tokens:\n",
                    new="    for piece in [text]:\n        if piece not in special_tokens:\n")],
        hint="special tokens left in the text",
    ),
    Variant(
        name="vocab_size_ignores_specials",
        why="learns vocab_size - 256 merges: the special tokens push the vocabulary past vocab_size",
        edits=[Edit(old="        num_merges = vocab_size - 256 - len(special_tokens)", new="        num_merges = vocab_size - 256")],
        hint="vocab_size counts the special tokens too",
    ),
    Variant(
        name="no_early_stop",
        why="keeps merging after every pre-token is one token (max() of an empty Counter)",
        edits=[Edit(old="        while len(merges) < num_merges and pair_counts:", new="        while len(merges) < num_merges:")],
    ),
    Variant(
        name="stops_at_count_one",
        why="stops when the best pair occurs only once",
        edits=[Edit(old=_TIE, new=_TIE + "            if top < 2:\n                break\n")],
        hint="occurs only once",
    ),
    Variant(
        name="merge_pair_overlapping",
        why="merge_pair moves on by one after a merge, so overlapping occurrences are merged twice",
        edits=[Edit(old="            merged.append(tokens[i] + tokens[i + 1])\n            i += 2\n",
                    new="            merged.append(tokens[i] + tokens[i + 1])\n            i += 1\n")],
    ),
    Variant(
        name="split_on_whitespace",
        why="str.split() instead of GPT2_SPLIT_PATTERN, in training and encoding",
        edits=[Edit(old=_FINDALL_TRAIN, new="            counts.update(piece.split())"),
               Edit(old="            for pretoken in PRETOKENIZER.findall(piece):",
                    new="            for pretoken in piece.split():")],
        hint="split on whitespace",
    ),
    Variant(
        name="no_vocab_size_check",
        why="vocab_size too small for the special tokens is silently accepted",
        edits=[Edit(old="        if vocab_size < 256 + len(special_tokens):\n            raise ValueError(",
                    new="        if False:\n            raise ValueError(")],
    ),
    Variant(
        name="encode_most_frequent_pair",
        why="encode merges the learned pair that occurs most often in the pre-token, not the lowest rank",
        edits=[Edit(old=_RANKED, new=(
            "            seen = Counter(pair for pair in zip(parts, parts[1:]) if pair in self._ranks)\n"
            "            if not seen:\n"
            "                break\n"
            "            parts = merge_pair(parts, max(seen, key=lambda pair: (seen[pair], -self._ranks[pair])))\n"))],
        hint="occurs most often in each pre-token",
    ),
    Variant(
        name="specials_not_atomic_in_encode",
        why="encode pre-tokenizes the special tokens like ordinary text",
        edits=[Edit(old=_ENCODE_SPLIT, new="        for piece in [text]:\n")],
        hint="special tokens encoded as ordinary text",
    ),
    Variant(
        name="ignores_given_vocab",
        why="a given vocab is ignored: ids are always 256 + merge index",
        edits=[Edit(old="            self.vocab = {int(i): bytes(tok) for i, tok in vocab.items()}",
                    new="            self.vocab = {b: bytes([b]) for b in range(256)}\n"
                        "            for i, (left, right) in enumerate(self.merges):\n"
                        "                self.vocab[256 + i] = left + right")],
        hint="256 + merge index",
    ),
    Variant(
        name="decode_errors_ignore",
        why="invalid UTF-8 dropped instead of replaced by U+FFFD",
        edits=[Edit(old=_DECODE, new=_DECODE.replace('errors="replace"', 'errors="ignore"'))],
        hint="invalid bytes were dropped",
    ),
    Variant(
        name="decode_errors_strict",
        why="invalid UTF-8 raises UnicodeDecodeError",
        edits=[Edit(old=_DECODE, new=_DECODE.replace('errors="replace"', 'errors="strict"'))],
    ),
    Variant(
        name="decode_each_token_separately",
        why="each token decoded on its own: a character split across two tokens becomes two U+FFFD",
        edits=[Edit(old=_DECODE, new='        return "".join(c.decode("utf-8", errors="replace") for c in chunks)')],
        hint="decoding each token on its own",
    ),
    Variant(
        name="encode_with_tiktoken",
        why="hands encoding to tiktoken (banned), built from the learned merges",
        edits=[Edit(old=_ENCODE_SPLIT, new=(
            "        import tiktoken\n"
            "        ranks = {tok: i for i, tok in self.vocab.items() if i < 256 + len(self.merges)}\n"
            "        enc = tiktoken.Encoding('mine', pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,\n"
            "                                special_tokens=dict(self._special_ids))\n"
            "        return enc.encode(text, allowed_special='all')\n" + _ENCODE_SPLIT))],
        hint="tiktoken",
    ),
]

ALTERNATIVES = [
    Variant(
        name="heap_trainer",
        why="max-heap of (count, pair) with lazy deletion instead of a scan for the maximum",
        edits=[
            Edit(old="from collections import Counter\n", new="import heapq\nfrom collections import Counter\n"),
            Edit(old="class BPETokenizer:\n", new=(
                "class _Greatest:\n"
                "    def __init__(self, pair):\n"
                "        self.pair = pair\n\n"
                "    def __lt__(self, other):\n"
                "        return self.pair > other.pair\n\n\n"
                "class BPETokenizer:\n")),
            Edit(old=_MERGE_LOOP, new="""        merges = []
        heap = [(-n, _Greatest(pair)) for pair, n in pair_counts.items()]
        heapq.heapify(heap)
        while len(merges) < num_merges:
            while heap and pair_counts.get(heap[0][1].pair, 0) != -heap[0][0]:
                heapq.heappop(heap)  # stale entry
            if not heap:
                break
            best = heapq.heappop(heap)[1].pair
            merges.append(best)
            changed = set()
            for i in holders.pop(best):
                for pair in adjacent_pairs(words[i]):
                    pair_counts[pair] -= freqs[i]
                    changed.add(pair)
                    if pair_counts[pair] == 0:
                        del pair_counts[pair]
                words[i] = merge_pair(words[i], best)
                for pair in adjacent_pairs(words[i]):
                    pair_counts[pair] += freqs[i]
                    changed.add(pair)
                    holders.setdefault(pair, set()).add(i)
            for pair in changed:
                if pair in pair_counts:
                    heapq.heappush(heap, (-pair_counts[pair], _Greatest(pair)))
"""),
        ],
    ),
    Variant(
        name="recount_every_step",
        why="the textbook loop: recount all pairs after every merge, merge in every word",
        edits=[
            Edit(old=_COUNTING, new=""),
            Edit(old=_MERGE_LOOP, new="""        merges = []
        while len(merges) < num_merges:
            pair_counts = Counter()
            for word, freq in zip(words, freqs):
                for pair in adjacent_pairs(word):
                    pair_counts[pair] += freq
            if not pair_counts:
                break
            best = max(pair_counts, key=lambda pair: (pair_counts[pair], pair))
            merges.append(best)
            words = [merge_pair(word, best) if len(word) > 1 else word for word in words]
"""),
        ],
    ),
    Variant(
        name="encode_by_rank_of_merged_bytes",
        why="tiktoken's rule: the rank of a pair is the rank of the token its bytes make",
        edits=[Edit(old="        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}\n",
                    new="        self._made = {a + b: rank for rank, (a, b) in enumerate(self.merges)}\n"),
               Edit(old=_RANKED, new=(
            "            made = self._made\n"
            "            ranked = [(made[a + b], i) for i, (a, b) in enumerate(adjacent_pairs(parts)) if a + b in made]\n"
            "            if not ranked:\n"
            "                break\n"
            "            _, i = min(ranked)\n"
            "            parts[i:i + 2] = [parts[i] + parts[i + 1]]\n"))],
    ),
    Variant(
        name="split_specials_by_scanning",
        why="split_on_special_tokens with str.find instead of a regex (earliest match, longest at a tie)",
        edits=[Edit(old="""    # Longest first: regex alternation takes the first alternative that matches.
    by_length = sorted(special_tokens, key=len, reverse=True)
    # The capturing group makes regex.split keep the separators (the special tokens).
    pattern = "(" + "|".join(regex.escape(tok) for tok in by_length) + ")"
    return [piece for piece in regex.split(pattern, text) if piece]
""", new="""    pieces, start = [], 0
    while True:
        hits = [(text.find(tok, start), -len(tok), tok) for tok in special_tokens]
        hits = [h for h in hits if h[0] >= 0]
        if not hits:
            break
        at, _, tok = min(hits)
        pieces += [text[start:at], tok]
        start = at + len(tok)
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]
""")],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "no_banned_apis": "encode_with_tiktoken",
    "train_snapshot": "no_frequency_weighting",
    "encode_snapshot": "specials_not_atomic_in_encode",
    "byte_level_before_training": "decode_each_token_separately",
    "train_vocab_layout": "vocab_size_ignores_specials",
    "train_stops_when_no_pair_is_left": "stops_at_count_one",
    "merges_stay_inside_pretokens": "pairs_across_pretokens",
    "train_hand_worked_examples": "tie_break_smallest",
    "rejects_bad_input": "no_vocab_size_check",
    "encode_follows_merge_order": "encode_most_frequent_pair",
    "roundtrip": "decode_each_token_separately",
    "special_tokens_are_atomic": "specials_not_atomic_in_encode",
    "encode_uses_the_given_vocab": "ignores_given_vocab",
    "decode_replaces_invalid_utf8": "decode_errors_ignore",
    "train_matches_reference": "tie_break_first_counted",
    "train_on_corpus_matches_reference": "no_frequency_weighting",
    "encode_matches_tiktoken": "encode_most_frequent_pair",
    "encode_matches_gpt2": "ignores_given_vocab",
}
