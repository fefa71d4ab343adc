"""a06_loss: the language-model loss.

At every position t of a sequence, a GPT outputs `vocab_size` logits: unnormalised scores for
the token that comes next. Training pushes up the score of the token that really comes next,
relative to all the others. This assignment turns that goal into one number, and evaluates it:

1. `cross_entropy`: the mean, over positions, of -log p(target), where p = softmax(logits).
   Positions whose target is `ignore_index` (padding) do not count.
2. `text_to_token_ids`, `token_ids_to_text`: glue between text and the (1, T) batches a model reads.
3. `calc_loss_batch`: a model's loss on one (input, target) batch, ready for `.backward()`.
4. `calc_loss_loader`: the mean of the batch losses over the first batches of a data loader
   (what a training loop reports as "train loss" and "val loss").
5. `perplexity`: exp(loss). A perplexity of 50 means the model is as unsure as if it picked
   uniformly among 50 tokens; an untrained model over V tokens starts near V.

Why log-sum-exp. For one position with logits x (C classes) and target y,

    -log softmax(x)_y = log(sum_j exp(x_j)) - x_y = logsumexp(x) - x_y.

Computed literally, exp(x_j) overflows to inf once x_j is above ~88 (float32) or ~709 (float64).
Computing softmax first and taking its log fails the other way: a probability below ~1e-38
(float32) rounds to 0, and log(0) = -inf. Subtracting the row maximum m fixes both, because

    logsumexp(x) = m + log(sum_j exp(x_j - m)),

and now every exponent is <= 0 and the largest is exactly 0: the sum lies in [1, C], it cannot
overflow, and its log is finite. So the log-probability x_y - logsumexp(x) = (x_y - m) - log(sum)
is finite even for logits of size 1e4.

Shape letters: B = batch size, T = tokens per sequence, V = vocab_size, C = number of classes
(V for a language model), N = number of positions.
"""

import math

import torch

EOT = "<|endoftext|>"  # GPT-2's end-of-text token, a single special id (50256) when allowed


def _check_logits_targets(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int) -> None:
    """Given (not a task): check that `targets` can be scored against `logits`.

    Raises:
        TypeError: logits is not a floating-point tensor, or targets is not an integer tensor.
        ValueError: logits.shape[:-1] != targets.shape, or a target that is not ignore_index lies
            outside [0, C) (the message names the shapes, or the value).
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got {getattr(logits, 'dtype', type(logits))}")
    if not isinstance(targets, torch.Tensor) or targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(f"targets must be an integer tensor, got {getattr(targets, 'dtype', type(targets))}")
    if logits.dim() == 0 or logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits of shape {tuple(logits.shape)} and targets of shape {tuple(targets.shape)} "
                         f"do not match: expected logits (..., C) with targets (...), e.g. (B, T, C) and (B, T)")
    C = logits.shape[-1]
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= C))
    if bad.any():
        raise ValueError(f"target {int(targets[bad][0])} is outside [0, {C}) and is not "
                         f"ignore_index={ignore_index}")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean negative log-likelihood of `targets` under softmax(`logits`), classes in the last dim.

    For every position p whose target is not `ignore_index`:

        loss_p = logsumexp(logits[p]) - logits[p, targets[p]]

    and the result is the mean of loss_p over those positions only: an ignored position adds
    nothing to the sum, is not counted in the denominator, and its logits get zero gradient.
    When every position is ignored there is nothing to average: return nan (as PyTorch does).

    Write the log-sum-exp yourself, with the row maximum subtracted (see the module docstring).
    Banned here: F.cross_entropy, nn.CrossEntropyLoss, F.nll_loss, nn.NLLLoss, F.log_softmax,
    torch.log_softmax, nn.LogSoftmax, torch.logsumexp (and their Tensor-method and
    torch.special forms). Softmax and log are allowed, but log(softmax(x)) gives log(0) = -inf
    for logits far below the maximum.

    Unlike F.cross_entropy, which wants the classes in dim 1, the classes are the LAST dim here,
    which is how a GPT lays out its logits.

    Args:
        logits: (..., C) float scores, e.g. (N, C) or, for a language model, (B, T, C).
        targets: (...) int64 class ids, e.g. (N,) or (B, T); each in [0, C) or equal to ignore_index.
        ignore_index: target value that marks a position to skip (padding); may be any int,
            including a valid class id.

    Returns:
        () 0-dim tensor, dtype and device of `logits`, differentiable w.r.t. `logits`.

    Raises:
        TypeError, ValueError: from `_check_logits_targets` (call it first).
    """
    ### BEGIN SOLUTION
    _check_logits_targets(logits, targets, ignore_index)
    C = logits.shape[-1]
    logits = logits.reshape(-1, C)  # (N, C): every position is one row
    targets = targets.reshape(-1)  # (N,)
    # The max is only a shift that keeps exp in range; no gradient needs to flow through it.
    row_max = logits.amax(dim=-1, keepdim=True).detach()  # (N, 1)
    shifted = logits - row_max  # (N, C), every entry <= 0
    log_sum = torch.log(torch.exp(shifted).sum(dim=-1))  # (N,), in [0, log C]
    keep = targets != ignore_index  # (N,) bool
    # gather needs a valid index even where the target is ignore_index (say -100): use 0 there,
    # those positions are dropped below anyway.
    safe_targets = torch.where(keep, targets, torch.zeros_like(targets))  # (N,)
    target_shifted = shifted.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (N,)
    losses = log_sum - target_shifted  # (N,) = logsumexp(x) - x_y
    # mean over the kept positions only; an empty selection gives nan, and zero gradients
    return losses[keep].mean()
    ### END SOLUTION


def text_to_token_ids(text: str, tokenizer) -> torch.Tensor:
    """Encode `text` into a batch of one sequence of token ids.

    `<|endoftext|>` in the text must become its single special id, so pass
    `allowed_special={"<|endoftext|>"}` to `tokenizer.encode` (tiktoken raises an error on it
    otherwise, and other tokenizers would split it into ordinary pieces).

    Args:
        text: any string, possibly empty.
        tokenizer: an object with tiktoken's `encode(text, allowed_special=...) -> list[int]`.

    Returns:
        (1, T) int64 tensor (T = number of ids, 0 for empty text): the batch dim a model expects.
    """
    ### BEGIN SOLUTION
    ids = tokenizer.encode(text, allowed_special={EOT})
    # dtype explicitly: torch.tensor([]) would be float32 for empty text
    return torch.tensor(ids, dtype=torch.long).unsqueeze(0)  # (1, T)
    ### END SOLUTION


def token_ids_to_text(token_ids: torch.Tensor, tokenizer) -> str:
    """Decode one sequence of token ids back into text.

    Args:
        token_ids: (1, T) int ids, as `text_to_token_ids` returns (the only shape the checks give).
        tokenizer: an object with tiktoken's `decode(ids: list[int]) -> str`.

    Returns:
        The decoded text.
    """
    ### BEGIN SOLUTION
    if token_ids.dim() == 2 and token_ids.shape[0] == 1:
        flat = token_ids.squeeze(0)  # (T,)
    elif token_ids.dim() == 1:
        flat = token_ids
    else:
        raise ValueError(f"token_ids must have shape (1, T) or (T,), got {tuple(token_ids.shape)}")
    return tokenizer.decode(flat.tolist())  # decode wants a flat list of Python ints
    ### END SOLUTION


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: torch.nn.Module,
                    device: torch.device | str) -> torch.Tensor:
    """The model's next-token loss on one batch.

    Move both batches to `device`, run the model, and score every position: flatten logits
    (B, T, V) and targets (B, T) into N = B * T positions. Targets equal to -100 are ignored,
    as in `cross_entropy` (instruction tuning uses this to skip padding). Use your own
    `cross_entropy`; F.cross_entropy, which the book uses here, is allowed too (the ban holds
    only inside `cross_entropy`). Leave the model's train/eval mode and gradient mode alone.

    Args:
        input_batch: (B, T) int64 token ids.
        target_batch: (B, T) int64 next-token ids (input shifted by one), or -100.
        model: maps (B, T) ids to (B, T, V) logits.
        device: where to compute, e.g. "cpu", "cuda" or a torch.device.

    Returns:
        () 0-dim tensor on `device`, differentiable w.r.t. the model's parameters.
    """
    ### BEGIN SOLUTION
    input_batch = input_batch.to(device)  # (B, T)
    target_batch = target_batch.to(device)  # (B, T)
    logits = model(input_batch)  # (B, T, V)
    return cross_entropy(logits.flatten(0, 1), target_batch.flatten())  # (B*T, V) vs (B*T,)
    ### END SOLUTION


def calc_loss_loader(data_loader, model: torch.nn.Module, device: torch.device | str,
                     num_batches: int | None = None) -> float:
    """Average `calc_loss_batch` over the first batches of `data_loader`.

    Uses the first n = min(num_batches, len(data_loader)) batches (all of them when num_batches
    is None) and returns the plain mean of their n batch losses: every batch counts the same,
    whatever its size. Stop drawing batches after the n-th. An empty loader has no loss: return
    nan (not 0.0, which would look like a perfect model).

    Args:
        data_loader: anything with len() that yields (input_batch, target_batch) pairs: a
            DataLoader, or a plain list of (B, T) tensor pairs.
        model: maps (B, T) ids to (B, T, V) logits.
        device: passed on to calc_loss_batch.
        num_batches: how many batches from the start to use (a positive int), or None for all.

    Returns:
        The mean batch loss as a Python float; nan for an empty loader.
    """
    ### BEGIN SOLUTION
    n = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
    if n == 0:
        return float("nan")
    total = 0.0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i == n:
            break
        # .item(): keep a float, not a tensor that holds on to the batch's autograd graph
        total += calc_loss_batch(input_batch, target_batch, model, device).item()
    return total / n
    ### END SOLUTION


def perplexity(loss: torch.Tensor | float) -> torch.Tensor | float:
    """exp(loss): the loss as an effective number of equally likely next tokens.

    Args:
        loss: a mean cross-entropy (natural log), as a tensor or as a Python number.

    Returns:
        exp(loss), of the same kind: a tensor (same shape, dtype, device, differentiable) for a
        tensor, a Python float for a number.
    """
    ### BEGIN SOLUTION
    if isinstance(loss, torch.Tensor):
        return torch.exp(loss)
    return math.exp(loss)
    ### END SOLUTION
