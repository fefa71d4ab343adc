"""a14_dpo: preference tuning with direct preference optimization (DPO).

Follows the book's ch07 bonus "Direct Preference Optimization (DPO) for LLM alignment" (Build a Large
Language Model (From Scratch)). Each training example is a prompt with two responses, one chosen
(preferred) and one rejected. DPO trains the policy model to raise the probability of the chosen
response relative to the rejected one, *measured against a frozen reference model* (the model before
DPO), so that the policy cannot drift arbitrarily far from it:

    loss = -log sigmoid(beta * ((log pi(chosen) - log pi(rejected)) - (log ref(chosen) - log ref(rejected))))

1. `compute_logprobs`: the average log-probability a model gives to a sequence's tokens (only the
   response tokens, via a mask);
2. `compute_dpo_loss`: the loss above, batch-averaged, plus the "rewards" the book logs;
3. `compute_dpo_loss_batch`: both models on one batch of chosen/rejected sequences.

Why not log(sigmoid(z)). For z = -800, sigmoid(z) = 1 / (1 + e^800) underflows to 0 in float64 (and
already at z ~ -104 in float32), and log(0) = -inf. But log sigmoid(z) = -log(1 + e^-z) is about
z there: finite. Written stably,

    -log sigmoid(z) = log(1 + e^-z) = max(-z, 0) + log(1 + e^-|z|),

where the exponent is never positive.

Shape letters: B = batch size, T = tokens per sequence, V = vocab_size.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch
import torch.nn.functional as F


def compute_logprobs(logits: torch.Tensor, labels: torch.Tensor,
                     selection_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean log-probability of each sequence's next tokens under the model's logits.

    `labels` are the input ids themselves: the logits at position t predict token t + 1, so shift
    by one (logits[:, :-1] scores labels[:, 1:]). Take log_softmax over the vocabulary
    (F.log_softmax is allowed here, as in the book), pick each target's log-probability, and average
    over the T - 1 scored positions, or, with a selection_mask, over the positions where the
    *shifted* mask (selection_mask[:, 1:]) is true. Graded masks select at least one position per row.

    Args:
        logits: (B, T, V) float, T >= 2.
        labels: (B, T) int64 token ids in [0, V).
        selection_mask: None, or (B, T) bool (or 0/1) marking the tokens to score (the response).

    Returns:
        (B,) float, logits' dtype, differentiable w.r.t. logits.

    Raises:
        ValueError: logits is not (B, T, V) with T >= 2, or labels / selection_mask do not have shape
            (B, T) (the message shows the shapes).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a14: compute_logprobs")


def compute_dpo_loss(model_chosen_logprobs: torch.Tensor, model_rejected_logprobs: torch.Tensor,
                     reference_chosen_logprobs: torch.Tensor, reference_rejected_logprobs: torch.Tensor,
                     beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss and the book's rewards.

    With pc, pr the policy's and rc, rr the reference's log-probabilities of the chosen and rejected
    responses, and z = beta * ((pc - pr) - (rc - rr)):

        loss             = mean over the batch of -log sigmoid(z)   (stable for |z| in the hundreds)
        chosen_rewards   = mean of (pc - rc), detached
        rejected_rewards = mean of (pr - rr), detached

    The rewards follow the book: NOT multiplied by beta. (The DPO paper defines the implicit reward
    as beta * (log pi - log ref); we grade the book's unscaled version.) They are for logging only,
    hence detached. F.logsigmoid (the book's choice) is allowed; log(sigmoid(z)) is not stable.

    Args:
        model_chosen_logprobs, model_rejected_logprobs: (B,) policy log-probabilities.
        reference_chosen_logprobs, reference_rejected_logprobs: (B,) reference log-probabilities.
        beta: the strength of the pull towards the reference model (0.1 to 0.5 in practice).

    Returns:
        (loss, chosen_rewards, rejected_rewards), three 0-dim tensors; loss is differentiable w.r.t.
        the policy (and reference) log-probabilities, the rewards require no gradient.

    Raises:
        ValueError: the four inputs do not all have the same 1-D shape (B,) (show the shapes).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a14: compute_dpo_loss")


def compute_dpo_loss_batch(batch: dict, policy_model: torch.nn.Module, reference_model: torch.nn.Module,
                           beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO loss of one batch: both models score the chosen and the rejected sequences.

    The policy's log-probabilities keep their graph (the loss trains the policy). The reference
    model only provides fixed targets: run it under torch.no_grad(), as the book does, so that no
    graph is built through it and its parameters never get a gradient. Leave both models'
    train/eval modes alone.

    Args:
        batch: dict with "chosen", "rejected" ((B, T) int64 ids, T may differ between the two) and
            "chosen_mask", "rejected_mask" (bool masks of the same shapes, True on the response tokens).
        policy_model, reference_model: map (B, T) ids to (B, T, V) logits.
        beta: as in compute_dpo_loss.

    Returns:
        compute_dpo_loss's (loss, chosen_rewards, rejected_rewards).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a14: compute_dpo_loss_batch")
