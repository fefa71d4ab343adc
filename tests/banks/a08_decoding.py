"""Mistakes (must lose points) and correct alternatives (must score full marks) for a08_decoding."""

from tests.banks.edits import Edit, Variant

_SOFTMAX = "return torch.softmax(logits / temperature, dim=-1)"
_T_CHECK = ('    if not temperature > 0:  # also catches NaN\n'
            '        raise ValueError(f"temperature must be > 0, got temperature={temperature}")\n')
_THRESHOLD = "threshold = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)"
_FILL = 'return logits.masked_fill(logits < threshold, float("-inf"))'
_K = "k = min(top_k, logits.shape[-1])"
_CROP = "idx_cond = idx[:, -context_size:]  # (B, min(T, context_size)): the most recent tokens"
_LAST = "logits = model(idx_cond)[:, -1, :]  # (B, V): only the last position predicts a new token"
_SAMPLE = "idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)"
_GREEDY = "idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)"
_KEEP_EOS = "                idx_next = idx_next.masked_fill(finished[:, None], eos_id)\n"
_STOP = "if eos_id is not None and bool(finished.all()):"
_APPEND = "idx = torch.cat((idx, idx_next), dim=1)  # (B, T + 1)"
_TOP_K_CALL = ("            if top_k is not None:\n"
               "                logits = top_k_filter(logits, top_k)\n")
_BRANCH = ("            if temperature > 0:\n"
           "                probs = softmax_with_temperature(logits, temperature)  # (B, V)\n"
           "                " + _SAMPLE + "\n"
           "            else:\n"
           "                " + _GREEDY + "\n")

MUTANTS = [
    Variant(
        name="temperature_multiplies",
        why="logits * temperature instead of logits / temperature: T > 1 sharpens instead of flattening",
        edits=[Edit(old=_SOFTMAX, new=_SOFTMAX.replace("logits / temperature", "logits * temperature"))],
        hint="matches logits * T instead of logits / T",
    ),
    Variant(
        name="temperature_ignored",
        why="plain softmax of the logits: the temperature never reaches the distribution",
        edits=[Edit(old=_SOFTMAX, new=_SOFTMAX.replace("logits / temperature", "logits"))],
        hint="temperature ignored",
    ),
    Variant(
        name="softmax_over_batch_dim",
        why="softmax over dim 0 (the batch) instead of the vocabulary",
        edits=[Edit(old=_SOFTMAX, new=_SOFTMAX.replace("dim=-1", "dim=0"))],
        hint="over dim 0",
    ),
    Variant(
        name="temperature_not_validated",
        why="no check of temperature: 0 gives inf/nan probabilities instead of a ValueError",
        edits=[Edit(old=_T_CHECK, new="")],
        hint=None,
    ),
    Variant(
        name="top_k_keeps_k_plus_1",
        why="threshold read at sorted index k (the (k+1)-th largest): one token too many survives",
        edits=[Edit(old=_THRESHOLD,
                    new="threshold = torch.sort(logits, dim=-1, descending=True).values[..., k : k + 1]  # (..., 1)")],
        hint="keeping k+1 tokens",
    ),
    Variant(
        name="top_k_drops_threshold",
        why="logits <= threshold dropped: the k-th largest itself is removed, k-1 survive",
        edits=[Edit(old=_FILL, new=_FILL.replace("logits < threshold", "logits <= threshold"))],
        hint="keeping k-1 tokens",
    ),
    Variant(
        name="top_k_fills_zero",
        why="dropped logits set to 0 instead of -inf: they keep probability exp(0)",
        edits=[Edit(old=_FILL, new='return logits.masked_fill(logits < threshold, 0.0)')],
        hint="0 instead of -inf",
    ),
    Variant(
        name="top_k_threshold_without_keepdim",
        why="the book's batch-1 code, values[:, -1] without keepdim: the threshold broadcasts along the vocabulary",
        edits=[Edit(old=_THRESHOLD, new="threshold = torch.topk(logits, k, dim=-1).values[..., -1]  # (...,)")],
        hint=None,
    ),
    Variant(
        name="top_k_over_whole_batch",
        why="one k-th largest value over all rows together instead of one per row",
        edits=[Edit(old=_THRESHOLD, new="threshold = torch.topk(logits.flatten(), k).values[-1]")],
        hint="one threshold for the whole batch",
    ),
    Variant(
        name="top_k_exactly_k_on_ties",
        why="scatter of torch.topk's indices keeps exactly k entries even where the k-th value is tied",
        edits=[Edit(old=_THRESHOLD + "\n    " + _FILL,
                    new=("keep = torch.zeros_like(logits, dtype=torch.bool).scatter(\n"
                         "        -1, torch.topk(logits, k, dim=-1).indices, True)\n"
                         '    return logits.masked_fill(~keep, float("-inf"))'))],
        hint="exactly k entries kept",
    ),
    Variant(
        name="top_k_not_clamped",
        why="torch.topk(logits, top_k) without min(top_k, V): raises when top_k exceeds the vocabulary",
        edits=[Edit(old=_K, new="k = top_k")],
        hint="keeps every entry",
    ),
    Variant(
        name="greedy_argmin",
        why="argmin instead of argmax for greedy decoding",
        edits=[Edit(old=_GREEDY, new=_GREEDY.replace("argmax", "argmin"))],
        hint="match argmin",
    ),
    Variant(
        name="first_position_logits",
        why="logits of the first position ([:, 0, :]) instead of the last",
        edits=[Edit(old=_LAST, new=_LAST.replace("[:, -1, :]", "[:, 0, :]"))],
        hint="first position",
    ),
    Variant(
        name="temperature_zero_not_greedy",
        why="always samples: softmax_with_temperature(logits, 0) raises instead of taking the argmax",
        edits=[Edit(old=_BRANCH, new=("            probs = softmax_with_temperature(logits, temperature)  # (B, V)\n"
                                      "            " + _SAMPLE + "\n"))],
        hint=None,
    ),
    Variant(
        name="top_k_not_applied",
        why="generate forgets to filter with top_k",
        edits=[Edit(old=_TOP_K_CALL, new="")],
        hint="outside the top-k set",
    ),
    Variant(
        name="generator_ignored",
        why="torch.multinomial without generator=: draws come from the global RNG",
        edits=[Edit(old=_SAMPLE, new=_SAMPLE.replace(", generator=generator", ""))],
        hint="generator=generator",
    ),
    Variant(
        name="generator_reseeded",
        why="a fixed seed inside generate: reproducible, but the caller's generator is ignored",
        edits=[Edit(old=_SAMPLE, new=_SAMPLE.replace("generator=generator", "generator=torch.Generator().manual_seed(0)"))],
        hint="seeded 1234 and 4321 gave the same tokens",
    ),
    Variant(
        name="no_cropping",
        why="the whole sequence is fed to the model, however long",
        edits=[Edit(old=_CROP, new="idx_cond = idx  # (B, T)")],
        hint="idx[:, -context_size:]",
    ),
    Variant(
        name="crop_keeps_first_tokens",
        why="idx[:, :context_size] keeps the oldest tokens instead of the most recent",
        edits=[Edit(old=_CROP, new=_CROP.replace("idx[:, -context_size:]", "idx[:, :context_size]"))],
        hint="first context_size tokens",
    ),
    Variant(
        name="eos_rows_not_kept",
        why="finished rows are not padded with eos_id: they go on generating after eos",
        edits=[Edit(old=_KEEP_EOS, new="")],
        hint="rows stopped emitting eos",
    ),
    Variant(
        name="stops_when_any_row_finishes",
        why="stops at the first eos of any row instead of when every row has one",
        edits=[Edit(old=_STOP, new="if eos_id is not None and bool((idx_next == eos_id).any()):")],
        hint="stopped when the first row emitted eos_id",
    ),
    Variant(
        name="never_stops_early",
        why="rows are padded with eos_id but the loop always runs max_new_tokens steps",
        edits=[Edit(old=_STOP, new="if False:")],
        hint="went on after every row had emitted eos_id",
    ),
    Variant(
        name="prompt_eos_counts_as_finished",
        why="a prompt ending in eos_id marks its row finished before anything is generated",
        edits=[Edit(old="finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)  # (B,)",
                    new="finished = idx[:, -1] == eos_id  # (B,)")],
        hint="prompt ending in eos_id",
    ),
    Variant(
        name="append_along_batch_dim",
        why="new tokens concatenated along dim 0 (as new rows) instead of dim 1",
        edits=[Edit(old=_APPEND, new="idx = torch.cat((idx, idx_next.T), dim=0)  # (B + 1, T)")],
        hint=None,
    ),
    Variant(
        name="gradients_enabled",
        why="no torch.no_grad(): the model runs with autograd recording",
        edits=[Edit(old="    with torch.no_grad():\n", new="    if True:\n")],
        hint="torch.no_grad()",
    ),
    Variant(
        name="switches_model_to_eval",
        why="generate calls model.eval() and leaves the caller's model in eval mode",
        edits=[Edit(old="    with torch.no_grad():\n", new="    model.eval()\n    with torch.no_grad():\n")],
        hint="leave the mode to the caller",
    ),
]

ALTERNATIVES = [
    Variant(
        name="top_k_by_sort_and_where",
        why="the threshold from a descending sort, the mask applied with torch.where",
        edits=[
            Edit(old=_THRESHOLD, new="threshold = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]"),
            Edit(old=_FILL, new='return torch.where(logits >= threshold, logits, torch.full_like(logits, -torch.inf))'),
        ],
    ),
    Variant(
        name="softmax_by_hand",
        why="a stable softmax written out (max subtracted, exp, normalised), temperature applied first",
        edits=[Edit(old=_SOFTMAX, new=("scaled = logits / temperature\n"
                                       "    e = torch.exp(scaled - scaled.amax(dim=-1, keepdim=True))\n"
                                       "    return e / e.sum(dim=-1, keepdim=True)"))],
    ),
    Variant(
        name="inverse_cdf_sampling",
        why="sampling by comparing one uniform number per row with the cumulative probabilities",
        edits=[Edit(old=_SAMPLE, new=(
            "u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64)  # (B, 1)\n"
            "                cdf = probs.double().cumsum(dim=-1)  # (B, V)\n"
            "                idx_next = (cdf < u).sum(dim=-1, keepdim=True).clamp(max=probs.shape[-1] - 1)"))],
    ),
    Variant(
        name="gumbel_max_sampling",
        why="the Gumbel-max trick: argmax of logits / T plus Gumbel noise drawn from the generator",
        edits=[Edit(old=_SAMPLE, new=(
            "u = torch.rand(probs.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)\n"
            "                noisy = logits.double() / temperature - torch.log(-torch.log(u))\n"
            "                idx_next = noisy.argmax(dim=-1, keepdim=True)  # (B, 1)"))],
    ),
    Variant(
        name="greedy_via_max_and_where",
        why="greedy via torch.max(...).indices, finished rows padded with torch.where, early stop at the loop top",
        edits=[
            Edit(old=_STOP, new="if False:"),
            Edit(old=_GREEDY, new="idx_next = torch.max(logits, dim=-1, keepdim=True).indices  # (B, 1)"),
            Edit(old=_KEEP_EOS, new="                idx_next = torch.where(finished[:, None], "
                                    "torch.full_like(idx_next, eos_id), idx_next)\n"),
            Edit(old="        for _ in range(max_new_tokens):\n",
                 new="        for _ in range(max_new_tokens):\n"
                     "            if eos_id is not None and bool(finished.all()):\n"
                     "                break\n"),
        ],
    ),
    Variant(
        name="finished_from_generated_tail",
        why="which rows are finished read off the generated part of idx at every step",
        edits=[
            Edit(old=_KEEP_EOS + "                finished = finished | (idx_next[:, 0] == eos_id)\n",
                 new="                done = (idx[:, T0:] == eos_id).any(dim=1, keepdim=True)  # (B, 1)\n"
                     "                idx_next[done] = eos_id\n"
                     "                finished = done[:, 0] | (idx_next[:, 0] == eos_id)\n"),
            Edit(old="    with torch.no_grad():\n", new="    T0 = idx.shape[1]\n    with torch.no_grad():\n"),
        ],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "softmax_with_temperature_snapshot": "temperature_multiplies",
    "top_k_filter_snapshot": "top_k_keeps_k_plus_1",
    "softmax_with_temperature_is_tempered": "temperature_multiplies",
    "top_k_filter_keeps_k_largest": "top_k_drops_threshold",
    "top_k_filter_ties_and_large_k": "top_k_exactly_k_on_ties",
    "rejects_bad_arguments": "temperature_not_validated",
    "generate_greedy": "greedy_argmin",
    "generate_top_k_1_is_greedy": "top_k_not_applied",
    "generate_samples_inside_top_k": "top_k_not_applied",
    "generate_sampling_matches_softmax": "temperature_multiplies",
    "generate_same_seed_same_tokens": "generator_ignored",
    "generate_stops_at_eos": "stops_when_any_row_finishes",
    "generate_eos_when_sampling": "eos_rows_not_kept",
    "generate_crops_context": "no_cropping",
    "generate_no_grad_keeps_mode": "gradients_enabled",
    "softmax_with_temperature_matches_reference": "temperature_ignored",
    "top_k_filter_matches_reference": "top_k_fills_zero",
    "generate_matches_reference": "first_position_logits",
}
