"""The known mistakes of a14_dpo, one catalogue per function: public and hidden checks give the same hints.

Each entry computes the mistake's output from the check's own inputs (logits and ids, the four
log-probability vectors, or the two bigram tables of a batch check), so a public check needs no reference.
"""

from __future__ import annotations

import torch

from autograder.compare import Misconceptions

LOGPROBS = Misconceptions("compute_logprobs")


def _token_logp(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, T, V), (B, T) -> (B, T): log-probability of labels[:, t] under logits[:, t] (no shift)."""
    return torch.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def _mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean(-1)
    w = mask.to(values.dtype)
    return (values * w).sum(-1) / w.sum(-1)


_SHIFT = "logits[:, :-1] predict labels[:, 1:]"


@LOGPROBS.add("no_shift", f"your output matches scoring labels[:, t] with logits[:, t]: shift by one, {_SHIFT}")
def _(logits, labels, mask):
    return _mean(_token_logp(logits, labels), mask)


@LOGPROBS.add("shift_wrong_direction", f"your output matches logits[:, 1:] scored against labels[:, :-1] (the "
              f"future predicting the past): {_SHIFT}")
def _(logits, labels, mask):
    return _mean(_token_logp(logits[:, 1:], labels[:, :-1]), None if mask is None else mask[:, 1:])


@LOGPROBS.add("mask_not_shifted", "your output matches selection_mask[:, :-1]: shift the mask like the targets, "
              "selection_mask[:, 1:]", when=lambda mask, **_: mask is not None)
def _(logits, labels, mask):
    return _mean(_token_logp(logits[:, :-1], labels[:, 1:]), mask[:, :-1])


@LOGPROBS.add("masked_sum_not_mean", "your output matches the sum of the selected log-probabilities: divide by the "
              "number of selected positions, mask.sum(-1)", when=lambda mask, **_: mask is not None)
def _(logits, labels, mask):
    return (_token_logp(logits[:, :-1], labels[:, 1:]) * mask[:, 1:]).sum(-1)


@LOGPROBS.add("masked_mean_over_all_positions", "your output matches the masked sum divided by all T - 1 positions: "
              "divide by the number of selected positions, mask.sum(-1)", when=lambda mask, **_: mask is not None)
def _(logits, labels, mask):
    return (_token_logp(logits[:, :-1], labels[:, 1:]) * mask[:, 1:]).mean(-1)


@LOGPROBS.add("mean_over_batch", "your output matches one mean over the whole batch: average each sequence on its "
              "own, .mean(dim=-1), to get (B,)", when=lambda mask, **_: mask is None)
def _(logits, labels, mask):
    return _token_logp(logits[:, :-1], labels[:, 1:]).mean().expand(labels.shape[0])


DPO_LOSS = Misconceptions("compute_dpo_loss")


def _margin(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
    return (pc - pr) - (rc - rr)


@DPO_LOSS.add("beta_outside", "your loss matches beta * -logsigmoid(margin): beta goes inside, "
              "-logsigmoid(beta * margin)", when=lambda beta, **_: beta != 1)
def _(pc, pr, rc, rr, beta):
    return beta * -torch.nn.functional.logsigmoid(_margin(pc, pr, rc, rr)).mean()


@DPO_LOSS.add("reference_ratio_added", "your loss matches (pc - pr) + (rc - rr): subtract the reference's log-ratio, "
              "(pc - pr) - (rc - rr)")
def _(pc, pr, rc, rr, beta):
    return -torch.nn.functional.logsigmoid(beta * ((pc - pr) + (rc - rr))).mean()


@DPO_LOSS.add("loss_sign_flipped", "your loss matches logsigmoid(z) without the minus sign: the loss is "
              "-logsigmoid(z), which is >= 0")
def _(pc, pr, rc, rr, beta):
    return torch.nn.functional.logsigmoid(beta * _margin(pc, pr, rc, rr)).mean()


@DPO_LOSS.add("loss_sum_over_batch", "your loss matches the sum over the batch: take the mean, .mean()",
              when=lambda pc, **_: pc.numel() > 1)
def _(pc, pr, rc, rr, beta):
    return -torch.nn.functional.logsigmoid(beta * _margin(pc, pr, rc, rr)).sum()


REWARDS = Misconceptions("DPO rewards")


@REWARDS.add("rewards_scaled_by_beta", "your rewards match beta * mean(policy - reference) (the DPO paper's): this "
             "assignment logs the book's unscaled rewards, mean(policy - reference)", when=lambda beta, **_: beta != 1)
def _(policy, reference, beta):
    return beta * (policy - reference).mean()


@REWARDS.add("rewards_swapped_sign", "your rewards match mean(reference - policy): the reward is "
             "mean(policy - reference)")
def _(policy, reference, beta):
    return (reference - policy).mean()


BATCH = Misconceptions("compute_dpo_loss_batch")


def _seq(table: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A bigram table's (B,) mean log-probabilities of ids (logits = table[ids], shifted, masked)."""
    return _mean(_token_logp(table[ids][:, :-1], ids[:, 1:]), None if mask is None else mask[:, 1:])


def _batch_loss(policy: torch.Tensor, reference: torch.Tensor, batch: dict[str, torch.Tensor], beta: float,
                pick: tuple[str, str], masks: bool = True) -> torch.Tensor:
    pc, pr, rc, rr = (_seq(t, batch[k], batch[f"{k}_mask"] if masks else None)
                      for t, k in ((policy, pick[0]), (policy, pick[1]), (reference, "chosen"), (reference, "rejected")))
    return -torch.nn.functional.logsigmoid(beta * _margin(pc, pr, rc, rr)).mean()


@BATCH.add("chosen_for_rejected", "your loss matches the policy's rejected log-probabilities computed on the chosen "
           "sequences: score batch['rejected'] with batch['rejected_mask']")
def _(policy, reference, batch, beta):
    return _batch_loss(policy, reference, batch, beta, ("chosen", "chosen"))


@BATCH.add("masks_ignored", "your loss matches log-probabilities over every token (prompt and padding too): pass "
           "batch['chosen_mask'] and batch['rejected_mask'] to compute_logprobs")
def _(policy, reference, batch, beta):
    return _batch_loss(policy, reference, batch, beta, ("chosen", "rejected"), masks=False)
