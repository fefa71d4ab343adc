"""Reference for a14_dpo: per-position `F.cross_entropy(reduction="none")` for the log-probabilities,
`F.logsigmoid` for the loss, the reference model under `torch.no_grad()`.

Same public names and behaviour as the solution (rewards unscaled by beta, as in the book).
"""

import torch
import torch.nn.functional as F


def compute_logprobs(logits: torch.Tensor, labels: torch.Tensor,
                     selection_mask: torch.Tensor | None = None) -> torch.Tensor:
    """logits (B, T, V), labels (B, T) -> (B,) mean log p(labels[:, t+1] | logits[:, t]) over selected t."""
    if logits.ndim != 3 or logits.shape[1] < 2 or tuple(labels.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)}: expected (B, T, V), "
                         f"T >= 2, and (B, T)")
    if selection_mask is not None and tuple(selection_mask.shape) != tuple(labels.shape):
        raise ValueError(f"selection_mask {tuple(selection_mask.shape)} must match labels {tuple(labels.shape)}")
    # cross_entropy wants the classes in dim 1: (B, V, T-1) against (B, T-1)
    token_logp = -F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none")
    weights = torch.ones_like(token_logp) if selection_mask is None else selection_mask[:, 1:].to(token_logp)
    return torch.einsum("bt,bt->b", token_logp, weights) / weights.sum(dim=1)


def compute_dpo_loss(model_chosen_logprobs: torch.Tensor, model_rejected_logprobs: torch.Tensor,
                     reference_chosen_logprobs: torch.Tensor, reference_rejected_logprobs: torch.Tensor,
                     beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pc, pr, rc, rr = (model_chosen_logprobs, model_rejected_logprobs, reference_chosen_logprobs,
                      reference_rejected_logprobs)
    shapes = {tuple(t.shape) for t in (pc, pr, rc, rr)}
    if len(shapes) != 1 or pc.ndim != 1:
        raise ValueError(f"log-probabilities must share one (B,) shape, got {sorted(shapes)}")
    chosen_gap, rejected_gap = pc - rc, pr - rr  # the book's (unscaled) rewards, per example
    loss = F.logsigmoid(beta * (chosen_gap - rejected_gap)).neg().mean()
    return loss, chosen_gap.detach().mean(), rejected_gap.detach().mean()


def compute_dpo_loss_batch(batch: dict, policy_model: torch.nn.Module, reference_model: torch.nn.Module,
                           beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    def scores(model: torch.nn.Module) -> list[torch.Tensor]:
        return [compute_logprobs(model(batch[k]), batch[k], batch[f"{k}_mask"]) for k in ("chosen", "rejected")]

    policy = scores(policy_model)
    with torch.no_grad():
        frozen = scores(reference_model)
    return compute_dpo_loss(policy[0], policy[1], frozen[0], frozen[1], beta)
