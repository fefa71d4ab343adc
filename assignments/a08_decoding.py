"""a08_decoding: from next-token logits to text.

A GPT maps a batch of token ids (B, T) to logits (B, T, V): at every position, a score for each
of the V tokens of the vocabulary being the next one. Generating text is a loop around that:

    run the model on the tokens so far -> take the logits of the LAST position -> choose one
    token per row -> append it -> repeat

How the token is chosen is the decoding strategy, and it is where "boring" and "creative" text
come from:

1. Greedy (`temperature=0`): always take the most likely token, `argmax`. Deterministic, and
   prone to loops ("the the the").
2. Sampling with a temperature T > 0: draw the token from `softmax(logits / T)`. Dividing by
   T < 1 stretches the gaps between logits, so the distribution sharpens towards the argmax;
   T > 1 shrinks them, flattening it towards uniform; T = 1 is the model's own distribution.
3. Top-k: before sampling, keep each row's k largest logits and set the others to -inf, so
   their probability becomes exactly 0: the long tail of unlikely tokens can never be drawn.

`generate` puts these together for a whole batch of prompts at once. It crops the context to
what the model can take, stops early once every row has produced the end-of-text token, and
draws its random numbers from a `torch.Generator` you pass in, so that a run can be repeated
token for token.

Shape letters: B = batch size, T = number of tokens, V = vocabulary size.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch
from torch import nn


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities `softmax(logits / temperature)` over the last dimension.

    Args:
        logits: (..., V) unnormalised scores, float32 or float64. `-inf` entries (from
            `top_k_filter`) get probability 0; each row needs at least one finite entry.
        temperature: a number > 0. Below 1 sharpens the distribution, above 1 flattens it.

    Returns:
        (..., V) same shape and dtype as `logits`; non-negative, each row sums to 1.

    Raises:
        ValueError: temperature <= 0 (the message names it and its value). Greedy decoding
            (temperature 0) is an argmax, handled by `generate`, not a division by zero.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a08: softmax_with_temperature")


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep each row's `top_k` largest logits and set every other entry to `-inf`.

    Rows are the last dimension; any leading dimensions are batch dimensions, each row
    filtered on its own. An entry equal to the k-th largest value of its row is kept, so a
    row with ties at that value keeps more than `top_k` entries. A `top_k` of V or more
    keeps every entry (there are no more than V to keep).

    Args:
        logits: (..., V) scores.
        top_k: how many entries to keep per row, an int >= 1.

    Returns:
        (..., V) a new tensor, same dtype: the kept entries unchanged, the rest `-inf`.
        `logits` itself is not modified.

    Raises:
        ValueError: top_k < 1 (the message names it and its value).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a08: top_k_filter")


def _check_generate_args(idx: torch.Tensor, max_new_tokens: int, context_size: int, temperature: float,
                         top_k: int | None) -> None:
    """Given (not a task): reject arguments `generate` cannot work with, naming them.

    Raises:
        TypeError: idx is not an integer tensor.
        ValueError: idx is not (B, T) with T >= 1, or a number is out of range.
    """
    if not isinstance(idx, torch.Tensor) or idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"idx must be a LongTensor of token ids, got {getattr(idx, 'dtype', type(idx).__name__)}")
    if idx.dim() != 2 or idx.shape[1] < 1:
        raise ValueError(f"idx must have shape (B, T) with T >= 1, got {tuple(idx.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got max_new_tokens={max_new_tokens}")
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got context_size={context_size}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got temperature={temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be None or at least 1, got top_k={top_k}")


def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int,
             temperature: float = 0.0, top_k: int | None = None, eos_id: int | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Append up to `max_new_tokens` tokens to every row of `idx`, one model call per token.

    At each step: crop the rows to their last `context_size` tokens, run the model, keep
    the logits of the last position, filter them with `top_k_filter` (when top_k is given),
    then choose the next token of every row:
    - temperature == 0: greedy, the argmax;
    - temperature > 0: a draw from `softmax_with_temperature(logits, temperature)` with
      `torch.multinomial(probs, 1, generator=generator)`.

    End of text: when `eos_id` is given, a row that has generated `eos_id` is finished: from
    then on it gets `eos_id` again at every step (the batch stays rectangular), and the loop
    stops as soon as every row is finished, so the result may be shorter than
    T + max_new_tokens. Only tokens generated here count: a prompt may end in `eos_id` (a
    document separator, or GPT-2's start of text) and its row still generates.

    The model is called in whatever mode it is in (`generate` never calls `.eval()` or
    `.train()`: the caller decides about dropout), and without gradients (`torch.no_grad()`).

    Args:
        model: maps token ids (B, t) to logits (B, t, V), for any t <= context_size.
        idx: (B, T) LongTensor of prompt token ids, T >= 1. Not modified.
        max_new_tokens: the most tokens to append, >= 0.
        context_size: the most tokens the model may see at once, >= 1.
        temperature: 0 for greedy decoding, > 0 to sample.
        top_k: None for no filtering, else keep only the top_k largest logits (int >= 1).
        eos_id: the end-of-text token id, or None to always generate max_new_tokens tokens.
        generator: the source of randomness for sampling (None: torch's global one); the same
            seed gives the same tokens.

    Returns:
        (B, T + n) LongTensor: idx followed by the n new tokens, n <= max_new_tokens.
    """
    _check_generate_args(idx, max_new_tokens, context_size, temperature, top_k)
    # YOUR CODE HERE
    raise NotImplementedError("a08: generate")
