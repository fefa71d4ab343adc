"""Mistakes (must lose points) and correct alternatives (must score full marks) for a02_data."""

from tests.banks.edits import Edit, Variant

_ENCODE = "token_ids = tokenizer.encode(txt, allowed_special={ENDOFTEXT})"
_RANGE = "for start in range(0, len(token_ids) - max_length, stride):"
_INPUT = "input_chunk = token_ids[start:start + max_length]  # T ids"
_TARGET = "target_chunk = token_ids[start + 1:start + max_length + 1]  # the same T ids, one step later"
_APPEND = ("            self.input_ids.append(torch.tensor(input_chunk))\n"
           "            self.target_ids.append(torch.tensor(target_chunk))\n")
_LOADER = ("    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,\n"
           "                      num_workers=num_workers)\n")
_SHORT_TEXT = ("        if len(token_ids) <= max_length:\n"
               "            raise ValueError(f\"the text encodes to {len(token_ids)} tokens; a window needs more than \"\n"
               "                             f\"max_length={max_length} of them (max_length inputs plus one target)\")\n")
_WINDOWS = ("        self.input_ids: list[torch.Tensor] = []\n"
            "        self.target_ids: list[torch.Tensor] = []\n"
            "        # The last start must leave room for the target's extra token:\n"
            "        # start + max_length <= len(token_ids) - 1.\n"
            "        " + _RANGE + "\n"
            "            " + _INPUT + "\n"
            "            " + _TARGET + "\n"
            "            # torch.tensor of Python ints is int64 (a LongTensor): what nn.Embedding and the loss expect.\n"
            + _APPEND)

MUTANTS = [
    Variant(
        name="window_range_off_by_one",
        why="starts range(0, len - max_length + 1, stride): one window too many, its target one token short",
        edits=[Edit(old=_RANGE, new=_RANGE.replace("- max_length,", "- max_length + 1,"))],
        hint="one window too many",
    ),
    Variant(
        name="target_not_shifted",
        why="the target window is the input window itself",
        edits=[Edit(old=_TARGET, new="target_chunk = token_ids[start:start + max_length]")],
        hint="targets equal your inputs",
    ),
    Variant(
        name="target_shifted_wrong_way",
        why="inputs and targets swapped: the target is the window one token earlier than the input",
        edits=[Edit(old=_INPUT, new="input_chunk = token_ids[start + 1:start + max_length + 1]"),
               Edit(old=_TARGET, new="target_chunk = token_ids[start:start + max_length]")],
        hint="inputs and targets are swapped",
    ),
    Variant(
        name="stride_ignored",
        why="a window at every token: range(0, len - max_length)",
        edits=[Edit(old=_RANGE, new="for start in range(0, len(token_ids) - max_length):")],
        hint="start at every token",
    ),
    Variant(
        name="stride_is_max_length",
        why="windows tile the text (step max_length) whatever the stride",
        edits=[Edit(old=_RANGE, new=_RANGE.replace(", stride):", ", max_length):"))],
        hint="max_length tokens apart",
    ),
    Variant(
        name="windows_of_max_length_plus_one",
        why="input and target windows of max_length + 1 tokens",
        edits=[Edit(old=_INPUT, new="input_chunk = token_ids[start:start + max_length + 1]"),
               Edit(old=_TARGET, new="target_chunk = token_ids[start + 1:start + max_length + 2]")],
        hint="max_length + 1 tokens",
    ),
    Variant(
        name="endoftext_not_allowed",
        why="plain tokenizer.encode(txt): <|endoftext|> becomes its characters (tiktoken even refuses it)",
        edits=[Edit(old=_ENCODE, new="token_ids = tokenizer.encode(txt)")],
        hint="allowed_special={'<|endoftext|>'}",
    ),
    Variant(
        name="float_tensors",
        why="windows stored as float32 tensors instead of int64",
        edits=[Edit(old=_APPEND, new=_APPEND.replace("_chunk))", "_chunk, dtype=torch.float32))"))],
        hint="expected int64",
    ),
    Variant(
        name="short_text_returns_empty",
        why="no ValueError for a text of max_length tokens or fewer: an empty dataset instead",
        edits=[Edit(old=_SHORT_TEXT, new="")],
        hint="no error was raised",
    ),
    Variant(
        name="stride_not_validated",
        why="stride < 1 not checked: range() complains about 'arg 3', or a negative stride gives no windows",
        edits=[Edit(old="        if stride < 1:\n"
                        "            raise ValueError(f\"stride must be at least 1, got stride={stride}\")\n", new="")],
        hint="should name the offending values",
    ),
    Variant(
        name="max_length_not_validated",
        why="max_length < 1 not checked: windows of zero (or negative) length",
        edits=[Edit(old="        if max_length < 1:\n"
                        "            raise ValueError(f\"max_length must be at least 1, got max_length={max_length}\")\n",
                    new="")],
        hint="no error was raised",
    ),
    Variant(
        name="shuffle_ignored",
        why="the DataLoader never shuffles",
        edits=[Edit(old=_LOADER, new=_LOADER.replace("shuffle=shuffle", "shuffle=False"))],
        hint="pass shuffle to the DataLoader",
    ),
    Variant(
        name="shuffle_always_on",
        why="the DataLoader always shuffles, so shuffle=False does not keep the text's order",
        edits=[Edit(old=_LOADER, new=_LOADER.replace("shuffle=shuffle", "shuffle=True"))],
        hint="shuffle=False was not honoured",
    ),
    Variant(
        name="drop_last_hardcoded",
        why="drop_last=True whatever the argument",
        edits=[Edit(old=_LOADER, new=_LOADER.replace("drop_last=drop_last", "drop_last=True"))],
        hint="drop_last=False was not honoured",
    ),
    Variant(
        name="batch_size_ignored",
        why="batch_size not passed on: DataLoader's default of one window per batch",
        edits=[Edit(old=_LOADER, new=_LOADER.replace("batch_size=batch_size, ", ""))],
        hint="default batch_size is 1",
    ),
    Variant(
        name="num_workers_ignored",
        why="num_workers not passed on to the DataLoader",
        edits=[Edit(old=_LOADER, new=_LOADER.replace("num_workers=num_workers", "num_workers=0"))],
        hint="pass num_workers",
    ),
    Variant(
        name="tokenizer_none_not_defaulted",
        why="tokenizer=None is handed to the dataset as is (AttributeError on None.encode)",
        edits=[Edit(old="    if tokenizer is None:\n        tokenizer = tiktoken.get_encoding(\"gpt2\")\n", new="")],
        hint="'NoneType' object has no attribute 'encode'",
    ),
]

ALTERNATIVES = [
    Variant(
        name="unfold_windows",
        why="all windows at once as rows of Tensor.unfold(0, max_length + 1, stride)",
        edits=[Edit(old=_WINDOWS, new=(
            "        ids = torch.tensor(token_ids)  # (N,)\n"
            "        rows = ids.unfold(0, max_length + 1, stride)  # (n_windows, T + 1)\n"
            "        self.input_ids = list(rows[:, :-1])\n"
            "        self.target_ids = list(rows[:, 1:])\n"))],
    ),
    Variant(
        name="lazy_slices",
        why="keep one token tensor and slice it in __getitem__",
        edits=[
            Edit(old=_WINDOWS, new=(
                "        self.token_ids = torch.as_tensor(token_ids, dtype=torch.long)\n"
                "        self.max_length = max_length\n"
                "        self.starts = range(0, len(token_ids) - max_length, stride)\n")),
            Edit(old="        return len(self.input_ids)\n", new="        return len(self.starts)\n"),
            Edit(old="        return self.input_ids[idx], self.target_ids[idx]\n", new=(
                "        start = self.starts[idx]\n"
                "        window = self.token_ids[start:start + self.max_length + 1]\n"
                "        return window[:-1], window[1:]\n")),
        ],
    ),
    Variant(
        name="loader_with_samplers",
        why="the loader built from an explicit RandomSampler / SequentialSampler",
        edits=[Edit(old=_LOADER, new=(
            "    from torch.utils.data import RandomSampler, SequentialSampler\n"
            "    sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)\n"
            "    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,\n"
            "                      num_workers=num_workers)\n"))],
    ),
    Variant(
        name="allowed_special_all_and_one_check",
        why="allowed_special='all' (only <|endoftext|> is special in GPT-2) and a single argument check",
        edits=[
            Edit(old=_ENCODE, new='token_ids = tokenizer.encode(txt, allowed_special="all")'),
            Edit(old="        if max_length < 1:\n"
                     "            raise ValueError(f\"max_length must be at least 1, got max_length={max_length}\")\n"
                     "        if stride < 1:\n"
                     "            raise ValueError(f\"stride must be at least 1, got stride={stride}\")\n",
                 new="        for name, value in ((\"max_length\", max_length), (\"stride\", stride)):\n"
                     "            if value < 1:\n"
                     "                raise ValueError(f\"{name}={value}: expected a positive int\")\n"),
        ],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "windows_snapshot": "target_not_shifted",
    "dataloader_snapshot": "drop_last_hardcoded",
    "windows_are_shifted_slices": "stride_ignored",
    "endoftext_is_one_token": "endoftext_not_allowed",
    "rejects_bad_arguments": "short_text_returns_empty",
    "dataloader_batches_in_order": "batch_size_ignored",
    "dataloader_shuffles_windows": "shuffle_ignored",
    "dataloader_defaults_and_workers": "num_workers_ignored",
    "default_tokenizer_is_gpt2": "tokenizer_none_not_defaulted",
    "dataset_matches_reference": "target_shifted_wrong_way",
    "dataloader_matches_reference": "drop_last_hardcoded",
    "shuffled_dataloader_matches_reference": "batch_size_ignored",
}
