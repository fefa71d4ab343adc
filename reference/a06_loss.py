"""Reference for a06_loss: `F.cross_entropy` on flattened positions, `itertools.islice` over the loader.

Same public names and behaviour as the solution (classes in the last dim, `nan` when nothing is
scored), written independently.
"""

import itertools
import math

import torch
import torch.nn.functional as F

EOT = "<|endoftext|>"


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """logits (..., C), targets (...) -> 0-dim mean NLL over positions whose target != ignore_index."""
    if not isinstance(logits, torch.Tensor) or not torch.is_floating_point(logits):
        raise TypeError(f"logits must be a floating-point tensor, got {type(logits).__name__}")
    if not isinstance(targets, torch.Tensor) or torch.is_floating_point(targets) or targets.dtype == torch.bool:
        raise TypeError(f"targets must be an integer tensor, got {getattr(targets, 'dtype', type(targets))}")
    if logits.ndim == 0 or tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(f"logits of shape {tuple(logits.shape)} do not match targets of shape "
                         f"{tuple(targets.shape)}: expected (..., C) and (...)")
    n_classes = logits.shape[-1]
    flat_t = targets.reshape(-1)
    scored = flat_t[flat_t != ignore_index]
    if scored.numel() and (scored.min() < 0 or scored.max() >= n_classes):
        bad = scored[(scored < 0) | (scored >= n_classes)][0]
        raise ValueError(f"target {int(bad)} is outside [0, {n_classes}) and is not ignore_index={ignore_index}")
    # F.cross_entropy wants the classes in dim 1: score (N, C) against (N,)
    return F.cross_entropy(logits.reshape(-1, n_classes), flat_t, ignore_index=ignore_index, reduction="mean")


def text_to_token_ids(text: str, tokenizer) -> torch.Tensor:
    """text -> (1, T) int64 ids, `<|endoftext|>` encoded as its special id."""
    ids = tokenizer.encode(text, allowed_special={EOT})
    return torch.as_tensor(ids, dtype=torch.int64).reshape(1, len(ids))


def token_ids_to_text(token_ids: torch.Tensor, tokenizer) -> str:
    """(1, T) or (T,) ids -> text."""
    if token_ids.ndim not in (1, 2) or (token_ids.ndim == 2 and token_ids.shape[0] != 1):
        raise ValueError(f"token_ids must have shape (1, T) or (T,), got {tuple(token_ids.shape)}")
    return tokenizer.decode([int(i) for i in token_ids.reshape(-1)])


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: torch.nn.Module,
                    device) -> torch.Tensor:
    """Mean next-token loss of `model` on one (B, T) batch."""
    logits = model(input_batch.to(device))  # (B, T, V)
    targets = target_batch.to(device)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def calc_loss_loader(data_loader, model: torch.nn.Module, device, num_batches: int | None = None) -> float:
    """Unweighted mean of the first min(num_batches, len) batch losses, as a float; nan if none."""
    count = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
    if count <= 0:
        return math.nan
    losses = [float(calc_loss_batch(x, y, model, device)) for x, y in itertools.islice(data_loader, count)]
    return math.fsum(losses) / count


def perplexity(loss):
    """exp(loss): a tensor for a tensor, a float for a number."""
    return loss.exp() if isinstance(loss, torch.Tensor) else math.exp(loss)
