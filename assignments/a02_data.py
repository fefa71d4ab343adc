"""a02_data: sliding-window training data for a language model.

A GPT learns one thing: given the tokens so far, predict the next one. So a training
example is a pair of equally long token sequences, the target being the input moved
one token to the left:

    input_ids:  [ In  the  beginning  was ]
    target_ids: [ the beginning  was  the ]

Every position is a prediction: after "In" comes "the", after "In the" comes
"beginning", and so on. One window of `max_length` tokens therefore gives
`max_length` predictions, each with a different amount of context.

A long text is cut into many such windows. The window slides along the token ids in
steps of `stride` tokens. With max_length = 4 and stride = 3, on ten token ids
a b c d e f g h i j:

    start 0:  input a b c d   target b c d e
    start 3:  input d e f g   target e f g h
    start 6:  would need a target ending at the 11th token (index 10): there is none

A window at `start` reads tokens start .. start + max_length (inclusive: the target
needs one token more than the input), so the starts are
`range(0, len(ids) - max_length, stride)`. stride = max_length tiles the text
without overlap (every token is predicted once per epoch); a smaller stride makes
windows overlap (more examples, more repetition, more risk of overfitting).

The text may hold several documents separated by GPT-2's `<|endoftext|>` marker. It
must become ONE special token id (50256 in GPT-2), not the ids of the characters
"<", "|", "e", ...: tiktoken-style tokenizers only do that when asked,
`tokenizer.encode(txt, allowed_special={"<|endoftext|>"})`.

Finally `torch.utils.data.DataLoader` stacks windows into batches of shape
(batch_size, max_length), shuffles their order every epoch when asked, and can drop
a last, incomplete batch.

Tasks:

1. `GPTDatasetV1`: encode the text, cut it into (input_ids, target_ids) windows;
2. `create_dataloader_v1`: a DataLoader over that dataset, GPT-2's tokenizer by default.

Shape letters: B = batch_size, T = max_length.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import tiktoken
import torch
from torch.utils.data import DataLoader, Dataset

ENDOFTEXT = "<|endoftext|>"  # GPT-2's document separator, one special token


class GPTDatasetV1(Dataset):
    """Every (input_ids, target_ids) window of a text, in the order of their start positions."""

    def __init__(self, txt: str, tokenizer, max_length: int, stride: int) -> None:
        """Encode `txt` and cut the token ids into windows.

        Args:
            txt: the training text; it may contain "<|endoftext|>" between documents.
            tokenizer: anything with tiktoken's `encode(text, allowed_special=...)`, e.g.
                `tiktoken.get_encoding("gpt2")`. "<|endoftext|>" must be allowed, so that it
                becomes one special token id.
            max_length: T, the number of tokens in each input (and target) window.
            stride: how many tokens the window moves between one example and the next.

        Creates:
            The windows, so that `len(self)` is `len(range(0, len(ids) - max_length, stride))`
            and item i is the window starting at token i * stride.

        Raises:
            ValueError: max_length < 1 or stride < 1 (name the argument and its value, e.g.
                "stride=0"), or the text encodes to max_length tokens or fewer (not a single
                window fits; name max_length and the number of tokens).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a02: GPTDatasetV1.__init__")

    def __len__(self) -> int:
        """The number of windows."""
        # YOUR CODE HERE
        raise NotImplementedError("a02: GPTDatasetV1.__len__")

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window number `idx`.

        Args:
            idx: 0 <= idx < len(self).

        Returns:
            (input_ids, target_ids): two int64 tensors of shape (T,), `target_ids[t]` being the
            token that follows `input_ids[t]` in the text.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a02: GPTDatasetV1.__getitem__")


def create_dataloader_v1(
    txt: str,
    batch_size: int = 4,
    max_length: int = 256,
    stride: int = 128,
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
    tokenizer=None,
) -> DataLoader:
    """A DataLoader of (input_ids, target_ids) batches cut from `txt`.

    Args:
        txt: the training text (documents separated by "<|endoftext|>").
        batch_size: B, the number of windows per batch.
        max_length: T, tokens per window.
        stride: tokens between the starts of two consecutive windows.
        shuffle: visit the windows in a new random order every epoch (True for training,
            False for validation, so that the order is the text's order).
        drop_last: skip the last batch when it has fewer than batch_size windows (keeps every
            batch the same shape, and stops a tiny batch from giving a noisy update).
        num_workers: worker processes that prepare batches; 0 loads them in the main process.
        tokenizer: a tiktoken-style tokenizer; None means GPT-2's BPE,
            `tiktoken.get_encoding("gpt2")` (tiktoken fetches its two files once, or reads them from
            $TIKTOKEN_CACHE_DIR; the grader points that at a verified copy).

    Returns:
        A `torch.utils.data.DataLoader` over `GPTDatasetV1(txt, tokenizer, max_length, stride)`
        whose batches are `[input_ids, target_ids]`, each an int64 tensor of shape (B, T)
        (the last one smaller when drop_last is False and the windows do not divide evenly).

    Raises:
        ValueError: as GPTDatasetV1 does, for max_length, stride or a text that is too short.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a02: create_dataloader_v1")
