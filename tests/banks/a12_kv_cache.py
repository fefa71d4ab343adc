"""Mistakes (must lose points) and correct alternatives (must score full marks) for a12_kv_cache."""

from tests.banks.edits import Edit, Variant

_L = "        L = self.cache_k.shape[2] if use_cache and self.cache_k is not None else 0\n"
_APPEND = (
    "        if use_cache:\n"
    "            if self.cache_k is not None:  # old tokens first, then the new ones\n"
    "                keys = torch.cat([self.cache_k, keys], dim=2)  # (B, nh, L + T, hs)\n"
    "                values = torch.cat([self.cache_v, values], dim=2)  # (B, nh, L + T, hs)\n"
    "            self.cache_k, self.cache_v = keys, values\n"
)
_MASK = '        attn_scores = attn_scores.masked_fill(self.mask[L: L + T, : L + T], float("-inf"))\n'
_CACHE_INIT = ("        self.cache_k: torch.Tensor | None = None\n"
               "        self.cache_v: torch.Tensor | None = None\n")
_POSITIONS = "positions = torch.arange(start, start + T, device=in_idx.device)  # (T,)"
_ADVANCE = "        if use_cache:\n            self.current_pos += T\n"
_RESET_LAYERS = "        for block in self.trf_blocks:\n            block.att.reset_cache()\n"
_MODEL_CHECK = "        if start + T > self.context_length:\n            raise ValueError("
_FIRST_RESET = "        model.reset_kv_cache()\n        logits = model(idx[:, -context_size:], use_cache=True)  # prefill"
_REPREFILL = (
    "            if cached == context_size:  # window full: positions shift, prefill again\n"
    "                model.reset_kv_cache()\n"
    "                logits = model(idx[:, -context_size:], use_cache=True)  # (B, context_size, V)\n"
)
_STEP = "                logits = model(next_id, use_cache=True)  # (B, 1, V): one position through the model\n"

MUTANTS = [
    Variant(
        name="positions_not_offset",
        why="positions 0..T-1 even with the cache: every new token gets pos_emb row 0",
        edits=[Edit(old=_POSITIONS, new="positions = torch.arange(T, device=in_idx.device)  # (T,)")],
        hint='positions continue after the cached ones',
    ),
    Variant(
        name="current_pos_never_advanced",
        why="forgets current_pos += T: positions are right for the prefill, then stuck",
        edits=[Edit(old=_ADVANCE, new="")],
        hint='positions continue after the cached ones',
    ),
    Variant(
        name="mask_not_offset",
        why="mask rows 0..T-1 instead of L..L+T-1: the one new query sees only the first cached key",
        edits=[Edit(old=_MASK, new=_MASK.replace("self.mask[L: L + T, : L + T]", "self.mask[:T, : L + T]"))],
        hint="the mask's rows are those positions",
    ),
    Variant(
        name="no_mask_with_cache",
        why="skips the mask when the cache is on ('one query sees everything'): a multi-token prefill sees the future",
        edits=[Edit(old=_MASK, new="        if not use_cache:\n    " + _MASK)],
        hint="the mask's rows are those positions",
    ),
    Variant(
        name="cache_not_reset_between_prompts",
        why="generate never resets: the previous prompt's keys and positions leak into the next one",
        edits=[Edit(old=_FIRST_RESET,
                    new="        logits = model(idx[:, -context_size:], use_cache=True)  # prefill")],
        hint="reset every layer's cache and current_pos",
    ),
    Variant(
        name="cache_appended_twice",
        why="stores cat(cache, new) and then concatenates the new keys again for the scores",
        edits=[Edit(old=_APPEND,
                    new="        if use_cache:\n"
                        "            if self.cache_k is not None:\n"
                        "                self.cache_k = torch.cat([self.cache_k, keys], dim=2)\n"
                        "                self.cache_v = torch.cat([self.cache_v, values], dim=2)\n"
                        "                keys = torch.cat([self.cache_k, keys], dim=2)\n"
                        "                values = torch.cat([self.cache_v, values], dim=2)\n"
                        "            else:\n"
                        "                self.cache_k, self.cache_v = keys, values\n"
                        "            L = keys.shape[2] - T\n")],
    ),
    Variant(
        name="new_keys_prepended",
        why="cat([new, cache]) instead of cat([cache, new]): keys no longer line up with the mask's columns",
        edits=[Edit(old="keys = torch.cat([self.cache_k, keys], dim=2)", new="keys = torch.cat([keys, self.cache_k], dim=2)"),
               Edit(old="values = torch.cat([self.cache_v, values], dim=2)",
                    new="values = torch.cat([values, self.cache_v], dim=2)")],
    ),
    Variant(
        name="stale_cache_past_window",
        why="when the window is full, drops the oldest cached key/value and keeps going (a sliding cache): the "
            "kept keys were computed at their old positions and with the dropped token in view",
        edits=[Edit(old=_REPREFILL,
                    new="            if cached == context_size:  # slide: forget the oldest position\n"
                        "                for block in model.trf_blocks:\n"
                        "                    block.att.cache_k = block.att.cache_k[:, :, 1:]\n"
                        "                    block.att.cache_v = block.att.cache_v[:, :, 1:]\n"
                        "                model.current_pos -= 1\n"
                        "                logits = model(next_id, use_cache=True)\n")],
        hint='reset and prefill the last context_size tokens',
    ),
    Variant(
        name="recomputes_whole_window",
        why="'cache' in name only: resets and prefills the whole window every step (right tokens, no saving)",
        edits=[Edit(old=_STEP, new="                model.reset_kv_cache()\n"
                                   "                logits = model(idx[:, -context_size:], use_cache=True)\n")],
        hint='then 1 per step from the cache',
    ),
    Variant(
        name="reprefills_one_step_early",
        why="re-prefills when the cache holds context_size - 1 tokens: right tokens, one full prefill too many",
        edits=[Edit(old="            if cached == context_size:  # window full",
                    new="            if cached >= context_size - 1:  # window full")],
        hint='once context_size tokens are cached',
    ),
    Variant(
        name="uncached_forward_writes_cache",
        why="appends to the cache even without use_cache: an uncached call in between corrupts the cache",
        edits=[Edit(old=_APPEND,
                    new="        if self.cache_k is not None and use_cache:\n"
                        "            keys = torch.cat([self.cache_k, keys], dim=2)  # (B, nh, L + T, hs)\n"
                        "            values = torch.cat([self.cache_v, values], dim=2)  # (B, nh, L + T, hs)\n"
                        "        self.cache_k, self.cache_v = keys, values\n")],
        hint='must neither read nor write the cache',
    ),
    Variant(
        name="reset_keeps_position",
        why="reset_kv_cache empties the layers but leaves current_pos: the next prompt starts at a late position",
        edits=[Edit(old=_RESET_LAYERS + "        self.current_pos = 0\n", new=_RESET_LAYERS)],
        hint="reset every layer's cache and current_pos",
    ),
    Variant(
        name="reset_keeps_layer_caches",
        why="reset_kv_cache only zeroes current_pos: the old keys and values stay in every layer",
        edits=[Edit(old=_RESET_LAYERS + "        self.current_pos = 0\n", new="        self.current_pos = 0\n")],
        hint="reset every layer's cache and current_pos",
    ),
    Variant(
        name="no_context_check_with_cache",
        why="checks T > context_length only without the cache: pos_emb raises IndexError, not ValueError",
        edits=[Edit(old=_MODEL_CHECK, new="        if T > self.context_length:\n            raise ValueError(")],
        hint='expected a ValueError, got IndexError',
    ),
    Variant(
        name="prefill_not_cropped",
        why="prefills the whole prompt instead of its last context_size tokens",
        edits=[Edit(old=_FIRST_RESET, new="        model.reset_kv_cache()\n        logits = model(idx, use_cache=True)  # prefill"),
                    Edit(old="        cached = min(idx.shape[1], context_size)\n", new="        cached = idx.shape[1]\n")],
        hint='prefill idx[:, -context_size:]',
    ),
    Variant(
        name="cache_persistent_buffer",
        why="registers the cache as a persistent buffer: once filled it enters the state dict, which then no "
            "longer loads into (or from) a05's GPTModel",
        edits=[Edit(old=_CACHE_INIT,
                    new='        self.register_buffer("cache_k", None)\n        self.register_buffer("cache_v", None)\n')],
        hint='the cache must not be state',
    ),
    Variant(
        name="scores_scaled_by_d_out",
        why="copying a03's attention into the new class, divides the scores by sqrt(d_out) instead of sqrt(head_dim): "
            "cached and uncached agree with each other, both wrong",
        edits=[Edit(old="attn_weights = torch.softmax(attn_scores / hs**0.5, dim=-1)",
                    new="attn_weights = torch.softmax(attn_scores / self.d_out**0.5, dim=-1)")],
    ),
]

ALTERNATIVES = [
    Variant(
        name="book_nonpersistent_buffer_cache",
        why="the book's bonus: cache_k/cache_v registered as non-persistent buffers (never in the state dict)",
        edits=[Edit(old=_CACHE_INIT,
                    new='        self.register_buffer("cache_k", None, persistent=False)\n'
                        '        self.register_buffer("cache_v", None, persistent=False)\n')],
    ),
    Variant(
        name="mask_from_positions",
        why="builds the causal mask from position comparisons instead of slicing the buffer",
        edits=[Edit(old=_MASK,
                    new="        q_pos = torch.arange(L, L + T, device=x.device)[:, None]  # (T, 1)\n"
                        "        k_pos = torch.arange(L + T, device=x.device)[None, :]  # (1, L + T)\n"
                        '        attn_scores = attn_scores.masked_fill(k_pos > q_pos, float("-inf"))\n')],
    ),
    Variant(
        name="position_from_layer_cache",
        why="reads the number of cached positions from the first layer's cache instead of a counter",
        edits=[Edit(old="        start = self.current_pos if use_cache else 0\n",
                    new="        first = self.trf_blocks[0].att.cache_k\n"
                        "        start = first.shape[2] if use_cache and first is not None else 0\n")],
    ),
    Variant(
        name="book_loop_feeds_after_last_token",
        why="the book's loop shape: after appending a token it always runs the model once more (the last "
            "call's logits are unused), re-prefilling when the window is full",
        edits=[Edit(old="            if step == max_new_tokens - 1:\n"
                        "                break  # the logits after the last token are never used\n", new="")],
    ),
    Variant(
        name="sdpa_with_offset_mask",
        why="F.scaled_dot_product_attention (not banned here) with the sliced mask inverted",
        edits=[Edit(old="        attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, L + T)\n"
                        "        # new token t is position L + t: mask row L + t, columns of all L + T keys\n" + _MASK
                        + "        attn_weights = torch.softmax(attn_scores / hs**0.5, dim=-1)  # (B, nh, T, L + T)\n"
                        "        attn_weights = self.dropout(attn_weights)\n"
                        "        context = (attn_weights @ values).transpose(1, 2)",
                    new="        context = torch.nn.functional.scaled_dot_product_attention(\n"
                        "            queries, keys, values, attn_mask=~self.mask[L: L + T, : L + T],\n"
                        "            dropout_p=self.dropout.p if self.training else 0.0)\n"
                        "        context = context.transpose(1, 2)")],
    ),
]

CATCHES: dict[str, str] = {
    "gpt_uncached_snapshot": "scores_scaled_by_d_out",
    "state_dict_interchangeable": "cache_persistent_buffer",
    "cached_equals_uncached": "positions_not_offset",
    "uncached_call_leaves_cache": "uncached_forward_writes_cache",
    "generate_two_prompts": "cache_not_reset_between_prompts",
    "one_row_per_cached_step": "recomputes_whole_window",
    "cached_past_context_errors": "no_context_check_with_cache",
    "generate_equals_a05": "stale_cache_past_window",
    "matches_reference_gradients": "scores_scaled_by_d_out",
}
