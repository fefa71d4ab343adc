"""Mistakes (must lose points) and correct alternatives (must score full marks) for a06_loss."""

from tests.banks.edits import Edit, Variant

_SHIFT = "shifted = logits - row_max  # (N, C), every entry <= 0"
_LOG_SUM = "log_sum = torch.log(torch.exp(shifted).sum(dim=-1))  # (N,), in [0, log C]"
_TARGET = "target_shifted = shifted.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (N,)"
_LOSSES = "losses = log_sum - target_shifted  # (N,) = logsumexp(x) - x_y"
_MEAN = "return losses[keep].mean()"
_KEEP = "keep = targets != ignore_index  # (N,) bool"
_MAX = "row_max = logits.amax(dim=-1, keepdim=True).detach()  # (N, 1)"
_ENCODE = "ids = tokenizer.encode(text, allowed_special={EOT})"
_TENSOR = "return torch.tensor(ids, dtype=torch.long).unsqueeze(0)  # (1, T)"
_CE_BATCH = "return cross_entropy(logits.flatten(0, 1), target_batch.flatten())  # (B*T, V) vs (B*T,)"
_LOADER_LOOP = (
    "    for i, (input_batch, target_batch) in enumerate(data_loader):\n"
    "        if i == n:\n"
    "            break\n"
    "        # .item(): keep a float, not a tensor that holds on to the batch's autograd graph\n"
    "        total += calc_loss_batch(input_batch, target_batch, model, device).item()\n"
)
_EMPTY = "    if n == 0:\n        return float(\"nan\")\n"
_PPL = "    if isinstance(loss, torch.Tensor):\n        return torch.exp(loss)\n    return math.exp(loss)\n"

MUTANTS = [
    # -- cross_entropy --------------------------------------------------------------------------
    Variant(
        name="sum_instead_of_mean",
        why="sums the per-position losses: the loss grows with the batch size",
        edits=[Edit(old=_MEAN, new="return losses[keep].sum()")],
        hint="sum over positions instead of the mean",
    ),
    Variant(
        name="ignored_counted_in_mean",
        why="zeroes the ignored positions but still divides by all N positions",
        edits=[Edit(old=_MEAN, new="return (losses * keep).sum() / losses.numel()")],
        hint="ignored ones included in the count",
    ),
    Variant(
        name="no_ignore_mask",
        why="replaces ignored targets by 0 for gather, then forgets to drop those positions",
        edits=[Edit(old=_MEAN, new="return losses.mean()")],
        hint="counting the ignored positions as ordinary targets",
    ),
    Variant(
        name="ignore_index_hardcoded",
        why="compares targets with -100 instead of the ignore_index argument",
        edits=[Edit(old=_KEEP, new="keep = targets != -100  # (N,) bool")],
        hint="ignoring only -100",
    ),
    Variant(
        name="no_max_subtraction",
        why="exp of the raw logits: overflows to inf for logits of size 1e4",
        edits=[Edit(old=_SHIFT, new="shifted = logits  # (N, C)")],
        hint="subtract each row's maximum",
    ),
    Variant(
        name="naive_log_of_softmax",
        why="takes log of a (stable) softmax: a probability that underflows to 0 gives log(0) = -inf",
        edits=[Edit(old=_LOG_SUM + "\n", new="probs = torch.exp(shifted) / torch.exp(shifted).sum(dim=-1, keepdim=True)\n"),
               Edit(old=_TARGET, new="target_prob = probs.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (N,)"),
               Edit(old=_LOSSES, new="losses = -torch.log(target_prob)  # (N,)")],
        hint="underflowed to log(0)",
    ),
    Variant(
        name="max_over_wrong_dim",
        why="the stabilising maximum taken over the positions (dim 0), one per class, instead of one per row",
        edits=[Edit(old=_MAX, new="row_max = logits.amax(dim=0, keepdim=True).detach()  # (1, C)")],
        hint="maximum over dim 0",
    ),
    Variant(
        name="sign_flipped",
        why="returns the mean log-probability instead of its negative",
        edits=[Edit(old=_LOSSES, new="losses = target_shifted - log_sum  # (N,)")],
        hint="without the minus sign",
    ),
    Variant(
        name="float64_result",
        why="computes in float64 and returns float64 for float32 logits",
        edits=[Edit(old="    C = logits.shape[-1]\n    logits = logits.reshape(-1, C)",
                    new="    C = logits.shape[-1]\n    logits = logits.double().reshape(-1, C)")],
        hint="dtype float64, expected float32",
    ),
    Variant(
        name="validation_removed",
        why="the given _check_logits_targets call dropped: bad shapes and targets fail deep inside gather",
        edits=[Edit(old="    _check_logits_targets(logits, targets, ignore_index)\n", new="")],
        hint="expected a ValueError",
    ),
    Variant(
        name="uses_f_cross_entropy",
        why="hands the task to PyTorch: F.cross_entropy inside cross_entropy (banned there)",
        edits=[Edit(old="    C = logits.shape[-1]\n    logits = logits.reshape(-1, C)",
                    new="    C = logits.shape[-1]\n    return torch.nn.functional.cross_entropy(logits.reshape(-1, C), "
                        "targets.reshape(-1), ignore_index=ignore_index)\n    logits = logits.reshape(-1, C)")],
        hint="torch.nn.functional.cross_entropy",
    ),
    Variant(
        name="uses_torch_logsumexp",
        why="torch.logsumexp does the log-sum-exp the task asks for (banned in cross_entropy)",
        edits=[Edit(old=_LOG_SUM, new="log_sum = torch.logsumexp(shifted, dim=-1)  # (N,)")],
        hint="torch.logsumexp",
    ),
    # -- text <-> ids ---------------------------------------------------------------------------
    Variant(
        name="no_batch_dim",
        why="text_to_token_ids returns (T,) ids, not a batch of one",
        edits=[Edit(old=_TENSOR, new="return torch.tensor(ids, dtype=torch.long)  # (T,)")],
        hint="add the batch dimension",
    ),
    Variant(
        name="no_allowed_special",
        why="encodes without allowed_special: <|endoftext|> is split into ordinary bytes (tiktoken raises)",
        edits=[Edit(old=_ENCODE, new="ids = tokenizer.encode(text)")],
        hint="allowed_special",
    ),
    Variant(
        name="ids_dtype_missing",
        why="the book's torch.tensor(ids): float32 for empty text",
        edits=[Edit(old=_TENSOR, new="return torch.tensor(ids).unsqueeze(0)  # (1, T)")],
        hint="dtype=torch.long",
    ),
    Variant(
        name="no_squeeze",
        why="decodes the (1, T) tensor's nested list: decode gets [[...]]",
        edits=[Edit(old="    if token_ids.dim() == 2 and token_ids.shape[0] == 1:\n        flat = token_ids.squeeze(0)  # (T,)\n"
                        "    elif token_ids.dim() == 1:\n",
                    new="    if token_ids.dim() in (1, 2):\n")],
        hint="squeeze the batch dim",
    ),
    # -- calc_loss_batch ------------------------------------------------------------------------
    Variant(
        name="batch_switches_to_eval",
        why="calc_loss_batch calls model.eval(): training would then run without dropout",
        edits=[Edit(old="    logits = model(input_batch)  # (B, T, V)\n",
                    new="    model.eval()\n    logits = model(input_batch)  # (B, T, V)\n")],
        hint="must not call model.train() or model.eval()",
    ),
    Variant(
        name="batch_under_no_grad",
        why="runs the model under torch.no_grad(): the loss cannot be back-propagated",
        edits=[Edit(old="    logits = model(input_batch)  # (B, T, V)\n",
                    new="    with torch.no_grad():\n        logits = model(input_batch)  # (B, T, V)\n")],
        hint="gradients off",
    ),
    Variant(
        name="targets_flattened_wrong",
        why="flattens the targets time-major (target_batch.T) while the logits are batch-major",
        edits=[Edit(old=_CE_BATCH, new="return cross_entropy(logits.flatten(0, 1), target_batch.T.flatten())")],
        hint="flattened in another order",
    ),
    Variant(
        name="batch_scores_inputs",
        why="scores the logits against the input ids instead of the targets",
        edits=[Edit(old=_CE_BATCH, new="return cross_entropy(logits.flatten(0, 1), input_batch.flatten())")],
        hint="inputs scored as targets",
    ),
    # -- calc_loss_loader -----------------------------------------------------------------------
    Variant(
        name="loader_last_batch_only",
        why="total = instead of total +=: the sum is overwritten, only the last batch's loss is left",
        edits=[Edit(old="        total += calc_loss_batch(", new="        total = calc_loss_batch(")],
        hint="overwritten",
    ),
    Variant(
        name="loader_divides_by_len",
        why="divides by len(data_loader) even when num_batches cut the loop short",
        edits=[Edit(old="    return total / n\n", new="    return total / len(data_loader)\n")],
        hint="dividing by len(data_loader)",
    ),
    Variant(
        name="loader_one_batch_too_many",
        why="loop condition off by one: scores num_batches + 1 batches, divides by num_batches",
        edits=[Edit(old="        if i == n:\n", new="        if i > n:\n")],
        hint="one batch too far",
    ),
    Variant(
        name="loader_empty_gives_zero",
        why="returns 0.0 for an empty loader: reads as a perfect model",
        edits=[Edit(old=_EMPTY, new="    if n == 0:\n        return 0.0\n")],
        hint="0.0 reads as a perfect model",
    ),
    Variant(
        name="loader_no_empty_check",
        why="no empty-loader case: ZeroDivisionError",
        edits=[Edit(old=_EMPTY, new="")],
        hint="check len(data_loader) == 0 first",
    ),
    Variant(
        name="loader_switches_to_eval",
        why="calc_loss_loader calls model.eval() and never switches back",
        edits=[Edit(old="    total = 0.0\n", new="    total = 0.0\n    model.eval()\n")],
        hint="left the model in eval mode",
    ),
    # -- perplexity -----------------------------------------------------------------------------
    Variant(
        name="perplexity_exp_of_negative",
        why="exp(-loss)",
        edits=[Edit(old=_PPL, new="    if isinstance(loss, torch.Tensor):\n        return torch.exp(-loss)\n"
                                  "    return math.exp(-loss)\n")],
        hint="exp(-loss)",
    ),
    Variant(
        name="perplexity_base_2",
        why="2 ** loss: treats the natural-log loss as bits",
        edits=[Edit(old=_PPL, new="    return 2 ** loss\n")],
        hint="2 ** loss",
    ),
]

ALTERNATIVES = [
    Variant(
        name="logsumexp_max_plus_log",
        why="logsumexp = max + log(sum(exp(x - max))) (max not detached), then subtract the raw target logit",
        edits=[
            Edit(old=_MAX + "\n    " + _SHIFT + "\n    " + _LOG_SUM,
                 new="row_max = logits.max(dim=-1, keepdim=True).values  # (N, 1)\n"
                     "    lse = row_max.squeeze(-1) + torch.log(torch.exp(logits - row_max).sum(dim=-1))  # (N,)"),
            Edit(old=_TARGET, new="target_logit = logits.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (N,)"),
            Edit(old=_LOSSES, new="losses = lse - target_logit  # (N,)"),
        ],
    ),
    Variant(
        name="one_hot_mask",
        why="picks the target's log-probability with a one-hot mask instead of gather",
        edits=[Edit(old=_TARGET, new="onehot = torch.nn.functional.one_hot(safe_targets, C).to(shifted.dtype)\n"
                                     "    target_shifted = (shifted * onehot).sum(dim=-1)  # (N,)")],
    ),
    Variant(
        name="float64_internals",
        why="computes the loss in float64 and casts back to the logits' dtype",
        edits=[Edit(old="    C = logits.shape[-1]\n    logits = logits.reshape(-1, C)",
                    new="    C = logits.shape[-1]\n    out_dtype = logits.dtype\n    logits = logits.double().reshape(-1, C)"),
               Edit(old=_MEAN, new="return losses[keep].mean().to(out_dtype)")],
    ),
    Variant(
        name="masked_sum_over_count",
        why="sum of the masked losses divided by the number of kept positions (nan, with nan gradients, when none)",
        edits=[Edit(old=_MEAN, new="return (losses * keep).sum() / keep.sum()")],
    ),
    Variant(
        name="text_ids_nested_list",
        why="builds the (1, T) batch directly from [ids]",
        edits=[Edit(old=_TENSOR, new="return torch.tensor([ids], dtype=torch.long)  # (1, T)")],
    ),
    Variant(
        name="decode_via_reshape",
        why="flattens any (1, T) or (T,) tensor with reshape(-1)",
        edits=[Edit(old="        flat = token_ids.squeeze(0)  # (T,)", new="        flat = token_ids.reshape(-1)  # (T,)")],
    ),
    Variant(
        name="decode_book_squeeze",
        why="the book's token_ids_to_text: squeeze(0), then decode the list, no shape check",
        edits=[Edit(old="    if token_ids.dim() == 2 and token_ids.shape[0] == 1:\n        flat = token_ids.squeeze(0)  # (T,)\n"
                        "    elif token_ids.dim() == 1:\n        flat = token_ids\n    else:\n"
                        "        raise ValueError(f\"token_ids must have shape (1, T) or (T,), got {tuple(token_ids.shape)}\")\n",
                    new="    flat = token_ids.squeeze(0)  # (T,): the book's form\n")],
    ),
    Variant(
        name="batch_with_f_cross_entropy",
        why="the book's calc_loss_batch: F.cross_entropy is allowed outside cross_entropy",
        edits=[Edit(old=_CE_BATCH, new="return torch.nn.functional.cross_entropy(logits.flatten(0, 1), "
                                       "target_batch.flatten())")],
    ),
    Variant(
        name="loader_islice",
        why="itertools.islice over the first n batches instead of enumerate/break",
        edits=[Edit(old=_LOADER_LOOP,
                    new="    import itertools\n\n"
                        "    for input_batch, target_batch in itertools.islice(data_loader, n):\n"
                        "        total += calc_loss_batch(input_batch, target_batch, model, device).item()\n")],
    ),
    Variant(
        name="loader_book_style",
        why="the book's loop: check the empty loader first, `if i < num_batches ... else: break`",
        edits=[Edit(old=_EMPTY + "    total = 0.0\n" + _LOADER_LOOP,
                    new="    if len(data_loader) == 0:\n        return float(\"nan\")\n    total = 0.0\n"
                        "    for i, (input_batch, target_batch) in enumerate(data_loader):\n"
                        "        if i < n:\n"
                        "            total += calc_loss_batch(input_batch, target_batch, model, device).item()\n"
                        "        else:\n"
                        "            break\n")],
    ),
    Variant(
        name="perplexity_exp_method",
        why="loss.exp() for tensors, math.e ** loss for numbers",
        edits=[Edit(old=_PPL, new="    if isinstance(loss, torch.Tensor):\n        return loss.exp()\n"
                                  "    return math.e ** float(loss)\n")],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "no_banned_apis": "uses_f_cross_entropy",
    "perplexity_snapshot": "perplexity_exp_of_negative",
    "cross_entropy_snapshot": "sum_instead_of_mean",
    "cross_entropy_known_values": "sum_instead_of_mean",
    "cross_entropy_gradient": "sign_flipped",
    "cross_entropy_ignore_index": "ignored_counted_in_mean",
    "cross_entropy_large_logits": "naive_log_of_softmax",
    "cross_entropy_rejects_bad_input": "validation_removed",
    "cross_entropy_keeps_dtype": "float64_result",
    "token_ids_byte_tokenizer": "no_allowed_special",
    "token_ids_gpt2": "no_allowed_special",
    "calc_loss_batch_table_model": "batch_switches_to_eval",
    "calc_loss_loader_mean_of_batches": "loader_last_batch_only",
    "calc_loss_loader_empty_is_nan": "loader_empty_gives_zero",
    "perplexity_is_exp_of_loss": "perplexity_base_2",
    "loss_helpers_snapshot": "loader_last_batch_only",
    "cross_entropy_matches_reference": "ignore_index_hardcoded",
    "cross_entropy_float32_matches_reference": "no_max_subtraction",
    "calc_loss_batch_matches_reference": "targets_flattened_wrong",
    "calc_loss_loader_matches_reference": "loader_divides_by_len",
    "token_ids_match_reference": "no_batch_dim",
}
