"""Mistakes (must lose points) and correct alternatives (must score full marks) for a14_dpo."""

from tests.banks.edits import Edit, Variant

_TARGETS = "targets = labels[:, 1:]  # (B, T-1): the token that follows each position"
_LOG_PROBS = "log_probs = F.log_softmax(logits[:, :-1, :], dim=-1)  # (B, T-1, V); the last position predicts nothing"
_PICKED = "picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T-1)"
_MASK = "mask = selection_mask[:, 1:].to(picked.dtype)  # (B, T-1): shifted like the targets"
_MASKED_MEAN = "return (picked * mask).sum(dim=-1) / mask.sum(dim=-1)  # (B,)"
_Z = "z = beta * (model_logratios - reference_logratios)  # (B,)"
_LOSSES = "losses = torch.clamp(-z, min=0) + torch.log1p(torch.exp(-z.abs()))  # (B,)"
_CHOSEN_R = "chosen_rewards = (model_chosen_logprobs - reference_chosen_logprobs).detach()  # (B,)"
_REJECTED_R = "rejected_rewards = (model_rejected_logprobs - reference_rejected_logprobs).detach()  # (B,)"
_RETURN = "return losses.mean(), chosen_rewards.mean(), rejected_rewards.mean()"
_POLICY_REJ = ('policy_rejected = compute_logprobs(policy_model(batch["rejected"]), batch["rejected"], '
               'batch["rejected_mask"])')
_NO_GRAD = "    with torch.no_grad():  # the reference is frozen: fixed numbers, no graph\n"
MUTANTS = [
    # -- compute_logprobs ------------------------------------------------------------------------
    Variant(
        name="no_shift",
        why="scores labels[:, t] with logits[:, t]: each position 'predicts' the token it already sees",
        edits=[Edit(old=_TARGETS, new="targets = labels  # (B, T)"),
               Edit(old=_LOG_PROBS, new="log_probs = F.log_softmax(logits, dim=-1)  # (B, T, V)"),
               Edit(old=_MASK, new="mask = selection_mask.to(picked.dtype)  # (B, T)")],
        hint='labels[:, t] with logits[:, t]',
    ),
    Variant(
        name="shift_wrong_direction",
        why="logits[:, 1:] scored against labels[:, :-1]: the future predicts the past",
        edits=[Edit(old=_TARGETS, new="targets = labels[:, :-1]  # (B, T-1)"),
               Edit(old=_LOG_PROBS, new="log_probs = F.log_softmax(logits[:, 1:, :], dim=-1)  # (B, T-1, V)")],
        hint='the future predicting the past',
    ),
    Variant(
        name="mask_not_shifted",
        why="uses selection_mask[:, :-1]: the mask is one position off the targets it should select",
        edits=[Edit(old=_MASK, new="mask = selection_mask[:, :-1].to(picked.dtype)  # (B, T-1)")],
        hint='selection_mask[:, :-1]',
    ),
    Variant(
        name="masked_sum_not_mean",
        why="sums the selected log-probabilities: longer responses get lower scores",
        edits=[Edit(old=_MASKED_MEAN, new="return (picked * mask).sum(dim=-1)  # (B,)")],
        hint='sum of the selected log-probabilities',
    ),
    Variant(
        name="masked_mean_over_all_positions",
        why="zeroes the unselected positions but divides by all T - 1",
        edits=[Edit(old=_MASKED_MEAN, new="return (picked * mask).mean(dim=-1)  # (B,)")],
        hint='divided by all T - 1 positions',
    ),
    Variant(
        name="log_of_softmax",
        why="torch.log(torch.softmax(...)): a probability that underflows to 0 gives -inf for large logits",
        edits=[Edit(old=_LOG_PROBS, new="log_probs = torch.log(torch.softmax(logits[:, :-1, :], dim=-1))  # (B, T-1, V)")],
        hint='softmax underflowed to 0 before the log',
    ),
    Variant(
        name="logprobs_summed_over_batch",
        why="mean over every position of the batch: one number broadcast instead of one per sequence",
        edits=[Edit(old="        return picked.mean(dim=-1)  # (B,)",
                    new="        return picked.mean().expand(picked.shape[0])  # (B,)")],
        hint='one mean over the whole batch',
    ),
    # -- compute_dpo_loss ------------------------------------------------------------------------
    Variant(
        name="naive_log_sigmoid",
        why="-log(sigmoid(z)): sigmoid underflows to 0 for z below ~-745 (float64), ~-104 (float32): loss inf",
        edits=[Edit(old=_LOSSES, new="losses = -torch.log(torch.sigmoid(z))  # (B,)")],
        hint='compute -logsigmoid(z) stably',
    ),
    Variant(
        name="naive_softplus",
        why="log1p(exp(-z)) without the max trick: exp overflows to inf for z below ~-709",
        edits=[Edit(old=_LOSSES, new="losses = torch.log1p(torch.exp(-z))  # (B,)")],
        hint='compute -logsigmoid(z) stably',
    ),
    Variant(
        name="beta_outside",
        why="beta * -log sigmoid(margin) instead of -log sigmoid(beta * margin)",
        edits=[Edit(old=_Z, new="z = model_logratios - reference_logratios  # (B,)"),
               Edit(old=_RETURN, new="return beta * losses.mean(), chosen_rewards.mean(), rejected_rewards.mean()")],
        hint='beta goes inside',
    ),
    Variant(
        name="reference_ratio_added",
        why="(pc - pr) + (rc - rr): the reference's preference rewarded instead of subtracted",
        edits=[Edit(old=_Z, new="z = beta * (model_logratios + reference_logratios)  # (B,)")],
        hint="subtract the reference's log-ratio",
    ),
    Variant(
        name="loss_sign_flipped",
        why="log sigmoid(z) without the minus: minimising it makes the policy prefer the rejected answer",
        edits=[Edit(old=_LOSSES, new="losses = -(torch.clamp(-z, min=0) + torch.log1p(torch.exp(-z.abs())))  # (B,)")],
        hint='without the minus sign',
    ),
    Variant(
        name="loss_sum_over_batch",
        why="sums the per-example losses instead of averaging",
        edits=[Edit(old=_RETURN, new="return losses.sum(), chosen_rewards.mean(), rejected_rewards.mean()")],
        hint='the sum over the batch',
    ),
    Variant(
        name="rewards_scaled_by_beta",
        why="the DPO paper's rewards, beta * (log pi - log ref); the contract grades the book's unscaled ones",
        edits=[Edit(old=_CHOSEN_R, new="chosen_rewards = beta * (model_chosen_logprobs - reference_chosen_logprobs).detach()"),
               Edit(old=_REJECTED_R,
                    new="rejected_rewards = beta * (model_rejected_logprobs - reference_rejected_logprobs).detach()")],
        hint='unscaled rewards',
    ),
    Variant(
        name="rewards_not_detached",
        why="the logged rewards keep their graph (they require grad)",
        edits=[Edit(old=_CHOSEN_R, new="chosen_rewards = model_chosen_logprobs - reference_chosen_logprobs  # (B,)"),
               Edit(old=_REJECTED_R, new="rejected_rewards = model_rejected_logprobs - reference_rejected_logprobs  # (B,)")],
        hint='return them detached',
    ),
    Variant(
        name="rewards_not_averaged",
        why="returns the per-example (B,) rewards instead of their batch means",
        edits=[Edit(old=_RETURN, new="return losses.mean(), chosen_rewards, rejected_rewards")],
        hint='a 0-d tensor): shape',
    ),
    # -- compute_dpo_loss_batch ------------------------------------------------------------------
    Variant(
        name="reference_with_gradients",
        why="runs the reference model with gradients on: a graph through the frozen model, and grads on its weights",
        edits=[Edit(old=_NO_GRAD, new="    if True:  # (the book's no_grad forgotten)\n")],
        hint='inside torch.no_grad()',
    ),
    Variant(
        name="policy_under_no_grad",
        why="both models under torch.no_grad(): the loss has no graph and cannot train the policy",
        edits=[Edit(old='    policy_chosen = compute_logprobs(', new='    torch.set_grad_enabled(False)\n'
                                                                   '    policy_chosen = compute_logprobs('),
               Edit(old="    return compute_dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)",
                    new="    out = compute_dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)\n"
                        "    torch.set_grad_enabled(True)\n    return out")],
        hint='the policy model ran under torch.no_grad()',
    ),
    Variant(
        name="batch_chosen_for_rejected",
        why="the policy's rejected log-probabilities computed on the chosen sequences (copy-paste slip)",
        edits=[Edit(old=_POLICY_REJ, new='policy_rejected = compute_logprobs(policy_model(batch["chosen"]), '
                                         'batch["chosen"], batch["chosen_mask"])')],
        hint='computed on the chosen sequences',
    ),
    Variant(
        name="batch_ignores_masks",
        why="scores every token (prompt and padding too) instead of the masked response tokens",
        edits=[Edit(old='batch["chosen_mask"])', new="None)", count=2),
               Edit(old='batch["rejected_mask"])', new="None)", count=2)],
        hint='over every token (prompt and padding too)',
    ),
]

ALTERNATIVES = [
    Variant(
        name="book_logsigmoid",
        why="the book's loss: -F.logsigmoid(z)",
        edits=[Edit(old=_LOSSES, new="losses = -F.logsigmoid(z)  # (B,)")],
    ),
    Variant(
        name="softplus",
        why="-log sigmoid(z) = softplus(-z)",
        edits=[Edit(old=_LOSSES, new="losses = F.softplus(-z)  # (B,)")],
    ),
    Variant(
        name="logprobs_via_logsumexp",
        why="log p = logit of the target - logsumexp over the vocabulary",
        edits=[Edit(old=_LOG_PROBS + "\n    " + _PICKED,
                    new="shifted = logits[:, :-1, :]  # (B, T-1, V)\n"
                        "    picked = shifted.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(shifted, dim=-1)")],
    ),
    Variant(
        name="book_bool_mask_product",
        why="the book's masking: a cloned shifted mask multiplied in as is, sum over its sum",
        edits=[Edit(old=_MASK + "\n    " + _MASKED_MEAN,
                    new="mask = selection_mask[:, 1:].clone()\n"
                        "    return (picked * mask).sum(-1) / mask.sum(-1)")],
    ),
    Variant(
        name="masked_where_mean",
        why="torch.where on a bool mask, then sum over the count",
        edits=[Edit(old=_MASK + "\n    " + _MASKED_MEAN,
                    new="keep = selection_mask[:, 1:].bool()  # (B, T-1)\n"
                        "    return torch.where(keep, picked, torch.zeros_like(picked)).sum(-1) / keep.sum(-1)")],
    ),
]

CATCHES = {
    "logprobs_snapshot": "no_shift",
    "logprobs_large_logits": "log_of_softmax",
    "dpo_loss_known_values": "beta_outside",
    "dpo_loss_large_margin": "naive_log_sigmoid",
    "rewards_contract": "rewards_scaled_by_beta",
    "batch_snapshot": "batch_chosen_for_rejected",
    "batch_reference_frozen": "reference_with_gradients",
    "logprobs_matches_reference": "mask_not_shifted",
    "dpo_loss_matches_reference": "reference_ratio_added",
    "batch_matches_reference": "batch_ignores_masks",
}
