"""a09_classification: fine-tuning a GPT for classification (the book's chapter 6).

A pretrained GPT predicts the next token at every position. To sort texts into classes (spam or
not, one of C topics), keep the model, swap its output head for a small one with C outputs, and
read the prediction at a single position: the LAST real token, the only one that has seen (through
causal attention) the whole text. Then train only the top of the network: the last transformer
block, the final norm and the new head.

1. `ClassificationDataset`: encode the texts, cut them to one length, pad them on the right.
2. `prepare_for_classification`: freeze everything, new head, unfreeze the top.
3. `last_token_logits`: the logits at the last position, or at each row's last non-padding token.
4. `calc_loss_batch_classifier`: the cross-entropy of those logits against the labels.
5. `calc_accuracy_loader`: the fraction of correctly classified examples.

The book's `SpamDataset` reads a CSV with pandas; here the texts and labels are passed in. The book
always reads the last position, whose token may be padding (its trained model learns to cope);
with `pad_token_id` you read each row's last real token instead.

The grader runs these on a small GPT-shaped model of its own (attributes `tok_emb`, `pos_emb`,
`trf_blocks`, `final_norm`, `out_head`), not on your a05 `GPTModel`. Shape letters: B = batch
size, T = tokens per sequence, E = emb_dim, C = num_classes.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset


class ClassificationDataset(Dataset):
    """Texts with integer labels, as equal-length rows of token ids."""

    def __init__(self, texts: list[str], labels: list[int], tokenizer, max_length: int | None = None,
                 pad_token_id: int = 50256) -> None:
        """Encode, truncate and right-pad every text.

        Each text is encoded with `tokenizer.encode(text)` (no special tokens allowed, as in the
        book), cut to its first `max_length` ids, then padded on the RIGHT with `pad_token_id` up to
        `max_length`. With `max_length=None`, max_length is the length of the longest encoded text
        (0 when there are no texts). Store the final length as `self.max_length` (the book's
        training code reads it).

        Args:
            texts: the N texts. labels: N integer class ids.
            tokenizer: anything with `encode(text) -> list[int]` (tiktoken's gpt2, ...).
            max_length: the row length, >= 1, or None for the longest text.
            pad_token_id: the id appended as padding (GPT-2's <|endoftext|> by default).

        Raises:
            ValueError: len(texts) != len(labels), or max_length < 1 (the message shows the values).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a09: ClassificationDataset.__init__")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns: (input_ids (max_length,), label ()), both int64."""
        # YOUR CODE HERE
        raise NotImplementedError("a09: ClassificationDataset.__getitem__")

    def __len__(self) -> int:
        # YOUR CODE HERE
        raise NotImplementedError("a09: ClassificationDataset.__len__")


def prepare_for_classification(model: nn.Module, num_classes: int) -> nn.Module:
    """Turn a GPT into a classifier, in place, and return it.

    1. Freeze every parameter (`requires_grad = False`).
    2. Replace `model.out_head` by `nn.Linear(emb_dim, num_classes)` WITH a bias (the book's), in
       the dtype and on the device of the old head's weight; emb_dim is the old head's in_features.
    3. Make trainable again: the last transformer block (`model.trf_blocks[-1]`), `model.final_norm`
       and the new head. Nothing else: the embeddings and the other blocks stay frozen.

    Args:
        model: a GPT with `trf_blocks` (a Sequential), `final_norm` and `out_head` (an nn.Linear).
        num_classes: C >= 1.

    Returns:
        The same model object, changed in place.

    Raises:
        ValueError: num_classes < 1 (the message shows it).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a09: prepare_for_classification")


def last_token_logits(logits: torch.Tensor, input_ids: torch.Tensor, pad_token_id: int | None = None) -> torch.Tensor:
    """The logits of one position per row: the last, or the last non-padding one.

    Without `pad_token_id`: `logits[:, -1, :]`, the book's choice. With it: in each right-padded
    row, position count(input_ids != pad_token_id) - 1, the last real token.

    Args:
        logits: (B, T, C). input_ids: (B, T), the ids the logits came from.
        pad_token_id: the padding id, or None for the last position.

    Returns:
        (B, C), differentiable w.r.t. logits.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a09: last_token_logits")


def calc_loss_batch_classifier(input_batch: torch.Tensor, target_batch: torch.Tensor, model: nn.Module,
                               device: torch.device | str, pad_token_id: int | None = None) -> torch.Tensor:
    """Cross-entropy of the selected logits against the labels (the book's chapter 6 `calc_loss_batch`).

    Move both batches to `device`, run the model, select one position per row with
    `last_token_logits`, and return the mean cross-entropy (F.cross_entropy is fine). Leave the
    model's train/eval mode and the gradient mode alone.

    Args:
        input_batch: (B, T) int64 ids. target_batch: (B,) int64 labels in [0, C).
        model: (B, T) ids -> (B, T, C) logits. device: where to compute.
        pad_token_id: None for the last position, or the padding id.

    Returns:
        () mean loss on `device`, differentiable w.r.t. the trainable parameters.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a09: calc_loss_batch_classifier")


def calc_accuracy_loader(data_loader, model: nn.Module, device: torch.device | str, num_batches: int | None = None,
                         pad_token_id: int | None = None) -> float:
    """The fraction of examples whose argmax class equals the label, over the first batches.

    Uses the first n = min(num_batches, len(data_loader)) batches (all with None) and counts
    correct EXAMPLES (not a mean of per-batch accuracies: a short last batch counts for less).
    Runs in eval mode (dropout off) under `torch.no_grad()`; afterwards the model is back in the
    mode it was in (the book calls `model.eval()` outside this function instead). An empty loader
    gives nan.

    Args:
        data_loader: yields (input_batch (B, T), target_batch (B,)) pairs; has len().
        model, device, pad_token_id: as for `calc_loss_batch_classifier`.
        num_batches: how many batches from the start, or None for all.

    Returns:
        The accuracy in [0, 1] as a Python float; nan for an empty loader.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a09: calc_accuracy_loader")
