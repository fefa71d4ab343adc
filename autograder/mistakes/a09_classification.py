"""The known mistakes of a09_classification, one catalogue per public name: public and hidden checks give the same hints.

Each entry computes the mistake's result from what the check has: the encoded texts (the dataset),
the parameter names (the head swap), the model's logits (the loss), per-batch counts (the accuracy).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.compare import Misconceptions

BOOK_PAD = 50256


def rows(encoded: list[list[int]], max_length: int | None, pad: int, *, left: bool = False,
         cut: bool = True, first: bool = False) -> list[list[int]]:
    """The dataset's rows, right-padded to max_length (None: the longest text; `first`: the first text's)."""
    L = max_length if max_length is not None else (len(encoded[0]) if first else max(map(len, encoded)))
    kept = [ids[:L] if cut else ids for ids in encoded]
    return [[pad] * (L - len(ids)) + ids if left else ids + [pad] * (L - len(ids)) for ids in kept]


DATASET_MISTAKES = Misconceptions("ClassificationDataset")


@DATASET_MISTAKES.add("left_padding", "your rows are padded on the left: pad on the right, ids + [pad_token_id] * "
                      "(max_length - len(ids)), so the text starts at position 0")
def _(encoded, max_length, pad):
    return rows(encoded, max_length, pad, left=True)


@DATASET_MISTAKES.add("no_truncation", "texts longer than max_length were not cut: truncate each encoded text to its "
                      "first max_length ids, then pad", when=lambda max_length, **_: max_length is not None)
def _(encoded, max_length, pad):
    return rows(encoded, max_length, pad, cut=False)


@DATASET_MISTAKES.add("max_length_from_first_text", "your rows have the first text's length: max_length=None means "
                      "the length of the longest encoded text", when=lambda max_length, **_: max_length is None)
def _(encoded, max_length, pad):
    return rows(encoded, None, pad, first=True)


@DATASET_MISTAKES.add("pad_id_hardcoded", "your rows are padded with 50256 whatever pad_token_id says: pad with the "
                      "pad_token_id argument", when=lambda pad, **_: pad != BOOK_PAD)
def _(encoded, max_length, pad):
    return rows(encoded, max_length, BOOK_PAD)


def trainable_names(names: list[str], n_layers: int, *, block: int | None = None, norm: bool = True,
                    head: bool = True, bias: bool = True) -> list[str]:
    """The sorted parameter names a head swap leaves trainable (`block`: the unfrozen block, default the last)."""
    block = n_layers - 1 if block is None else block
    parts = [f"trf_blocks.{block}."] + (["final_norm."] if norm else []) + (["out_head."] if head else [])
    return sorted(n for n in names if any(n.startswith(p) for p in parts) and (bias or n != "out_head.bias"))


PREPARE_MISTAKES = Misconceptions("prepare_for_classification")


@PREPARE_MISTAKES.add("nothing_frozen", "nothing was frozen: first set requires_grad = False on every parameter "
                      "of the model, then unfreeze the top")
def _(names, n_layers):
    return sorted(names)


@PREPARE_MISTAKES.add("first_block_unfrozen", "you unfroze trf_blocks[0]: the last transformer block is "
                      "trf_blocks[-1]", when=lambda n_layers, **_: n_layers > 1)
def _(names, n_layers):
    return trainable_names(names, n_layers, block=0)


@PREPARE_MISTAKES.add("final_norm_frozen", "final_norm stays frozen: unfreeze its parameters too (the book trains "
                      "the last block, final_norm and the new head)")
def _(names, n_layers):
    return trainable_names(names, n_layers, norm=False)


@PREPARE_MISTAKES.add("head_frozen", "the new out_head is frozen: freeze everything BEFORE replacing the head (a new "
                      "nn.Linear is trainable), or unfreeze it afterwards")
def _(names, n_layers):
    return trainable_names(names, n_layers, head=False)


@PREPARE_MISTAKES.add("head_without_bias", "the new out_head has no bias: nn.Linear(emb_dim, num_classes) with "
                      "bias=True (the default; the old head had none)")
def _(names, n_layers):
    return trainable_names(names, n_layers, bias=False)


def select(logits: torch.Tensor, ids: torch.Tensor, pad: int | None) -> torch.Tensor:
    """(B, C): the last position, or each right-padded row's last non-padding position."""
    if pad is None:
        return logits[:, -1]
    return logits[torch.arange(ids.shape[0]), (ids != pad).sum(1) - 1]


LOSS_MISTAKES = Misconceptions("calc_loss_batch_classifier")
_LAST = "read the logits of the last position, logits[:, -1, :]"
_REAL = ("read each row's last non-padding token, position count(input_ids != pad_token_id) - 1, when pad_token_id "
         "is given")


@LOSS_MISTAKES.add("first_position", f"your loss matches the logits of the first position: {_LAST}, the only one "
                   f"that has seen the whole text", when=lambda pad, **_: pad is None)
def _(logits, ids, labels, pad):
    return F.cross_entropy(logits[:, 0], labels)


@LOSS_MISTAKES.add("mean_over_positions", f"your loss matches logits averaged over all positions: {_LAST}",
                   when=lambda pad, **_: pad is None)
def _(logits, ids, labels, pad):
    return F.cross_entropy(logits.mean(1), labels)


@LOSS_MISTAKES.add("pad_token_ignored", f"your loss matches the last position although pad_token_id was given: {_REAL}",
                   when=lambda pad, **_: pad is not None)
def _(logits, ids, labels, pad):
    return F.cross_entropy(logits[:, -1], labels)


@LOSS_MISTAKES.add("first_pad_position", f"your loss matches the first padding position: {_REAL} (one less)",
                   when=lambda pad, **_: pad is not None)
def _(logits, ids, labels, pad):
    at = (ids != pad).sum(1).clamp(max=ids.shape[1] - 1)
    return F.cross_entropy(logits[torch.arange(ids.shape[0]), at], labels)


@LOSS_MISTAKES.add("counts_pads", f"your loss matches counting the padding tokens instead of the real ones: {_REAL}",
                   when=lambda pad, **_: pad is not None)
def _(logits, ids, labels, pad):
    return F.cross_entropy(logits[torch.arange(ids.shape[0]), (ids == pad).sum(1) - 1], labels)


@LOSS_MISTAKES.add("softmax_before_cross_entropy", "your loss matches F.cross_entropy of softmax probabilities: "
                   "cross_entropy applies log-softmax itself, give it the raw logits")
def _(logits, ids, labels, pad):
    return F.cross_entropy(select(logits, ids, pad).softmax(-1), labels)


@LOSS_MISTAKES.add("loss_sum", "your loss matches the sum over the batch: the loss is the mean over the examples")
def _(logits, ids, labels, pad):
    return F.cross_entropy(select(logits, ids, pad), labels, reduction="sum")


ACCURACY_MISTAKES = Misconceptions("calc_accuracy_loader")


@ACCURACY_MISTAKES.add("accuracy_mean_of_batches", "your accuracy matches the mean of per-batch accuracies: count "
                       "correct examples over all batches used and divide by the number of examples (a short last "
                       "batch counts for less)", when=lambda sizes, used, **_: len(set(sizes[:used])) > 1)
def _(correct, sizes, used):
    return sum(c / s for c, s in zip(correct[:used], sizes[:used])) / used


@ACCURACY_MISTAKES.add("accuracy_num_batches_ignored", "your accuracy matches every batch of the loader: use only the "
                       "first min(num_batches, len(data_loader)) batches", when=lambda sizes, used, **_: used < len(sizes))
def _(correct, sizes, used):
    return sum(correct) / sum(sizes)
