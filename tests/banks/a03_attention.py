"""Mistakes (must lose points) and correct alternatives (must score full marks) for a03_attention."""

from tests.banks.edits import Edit, Variant

# Text that occurs once, in MultiHeadAttention.forward only.
_MHA_SCORES = "attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, T)\n"
_MHA_MASK = '        attn_scores = attn_scores.masked_fill(self.mask[:T, :T], float("-inf"))\n'
_MHA_SOFTMAX = "attn_weights = softmax(attn_scores / hs**0.5, dim=-1)  # (B, nh, T, T)"
_MHA_DROPOUT = "attn_weights = self.dropout(attn_weights)\n        context = attn_weights @ values  # (B, nh, T, hs)"
_MHA_QKV = (
    "queries = self.W_query(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)\n"
    "        keys = self.W_key(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)\n"
    "        values = self.W_value(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)\n"
)
_MHA_MERGE = "context = context.transpose(1, 2).contiguous().view(B, T, self.d_out)  # (B, T, d_out)"
_MASK_BUILD = "mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)"

MUTANTS = [
    Variant(
        name="mask_diagonal_0",
        why="mask built with diagonal=0 hides each token from itself (row 0 is all -inf: NaN)",
        edits=[Edit(old="dtype=torch.bool), diagonal=1)", new="dtype=torch.bool), diagonal=0)", count=2)],
        hint=None,
    ),
    Variant(
        name="mask_diagonal_2",
        why="mask built with diagonal=2 lets each token see the next one",
        edits=[Edit(old="dtype=torch.bool), diagonal=1)", new="dtype=torch.bool), diagonal=2)", count=2)],
        hint="torch.triu(..., diagonal=1)",  # no-mask hint when T <= 2 (the same thing there), off-by-one beyond
    ),
    Variant(
        name="mask_tril",
        why="torch.tril instead of torch.triu masks the past instead of the future",
        edits=[Edit(old="mask = torch.triu(", new="mask = torch.tril(", count=2)],
        hint=None,
    ),
    Variant(
        name="mask_filled_with_zero",
        why="masked scores set to 0 instead of -inf still get weight exp(0) after softmax",
        edits=[Edit(old='self.mask[:T, :T], float("-inf"))', new="self.mask[:T, :T], 0.0)", count=2)],
        hint='filled with 0',
    ),
    Variant(
        name="mha_no_causal_mask",
        why="MultiHeadAttention forgets the causal mask: tokens attend to the future",
        edits=[Edit(old=_MHA_SCORES + _MHA_MASK, new=_MHA_SCORES)],
        hint='also attend to later tokens',
    ),
    Variant(
        name="mask_not_sliced",
        why="full (context_length, context_length) mask used: breaks whenever T < context_length",
        edits=[Edit(old="self.mask[:T, :T]", new="self.mask", count=2)],
        hint=None,
    ),
    Variant(
        name="mha_scale_by_d_out",
        why="scores divided by d_out instead of sqrt(head_dim)",
        edits=[Edit(old=_MHA_SOFTMAX, new=_MHA_SOFTMAX.replace("hs**0.5", "self.d_out"))],
        hint='divided by d (the key width)',
    ),
    Variant(
        name="mha_scale_by_sqrt_d_out",
        why="scores divided by sqrt(d_out) instead of sqrt(head_dim)",
        edits=[Edit(old=_MHA_SOFTMAX, new=_MHA_SOFTMAX.replace("hs**0.5", "self.d_out**0.5"))],
        hint='sqrt(d_out) instead of sqrt(head_dim)',
    ),
    Variant(
        name="mha_no_scaling",
        why="scores not scaled at all",
        edits=[Edit(old=_MHA_SOFTMAX, new=_MHA_SOFTMAX.replace(" / hs**0.5", ""))],
        hint='not scaled at all',
    ),
    Variant(
        name="causal_scale_by_d_out",
        why="CausalAttention divides by d_out instead of sqrt(d_out)",
        edits=[
            Edit(
                old="softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (B, T, T)",
                new="softmax(attn_scores / keys.shape[-1], dim=-1)  # (B, T, T)",
            )
        ],
        hint='divided by d (the key width)',
    ),
    Variant(
        name="self_attention_scale_by_d_out",
        why="SelfAttention_v1/v2 divide by d_out instead of sqrt(d_out)",
        edits=[
            Edit(
                old="softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)",
                new="softmax(attn_scores / keys.shape[-1], dim=-1)  # (T, T)",
                count=2,
            )
        ],
        hint=None,
    ),
    Variant(
        name="self_attention_softmax_dim0",
        why="SelfAttention_v1/v2 normalise over the queries (dim=0) instead of the keys",
        edits=[
            Edit(
                old="softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)",
                new="softmax(attn_scores / keys.shape[-1] ** 0.5, dim=0)  # (T, T)",
                count=2,
            )
        ],
        hint=None,
    ),
    Variant(
        name="mha_softmax_wrong_dim",
        why="softmax over dim=-2 (over queries) instead of dim=-1 (over keys)",
        edits=[Edit(old=_MHA_SOFTMAX, new=_MHA_SOFTMAX.replace("dim=-1", "dim=-2"))],
        hint=None,
    ),
    Variant(
        name="softmax_no_max_subtraction",
        why="exp of raw scores overflows to inf for inputs around 1e4 (inf / inf = NaN)",
        edits=[Edit(old="exp_x = torch.exp(x - x_max)", new="exp_x = torch.exp(x)")],
        hint=None,
    ),
    Variant(
        name="softmax_sums_over_all",
        why="softmax normalised by the sum of the whole tensor instead of along dim",
        edits=[Edit(old="return exp_x / exp_x.sum(dim=dim, keepdim=True)", new="return exp_x / exp_x.sum()")],
        hint=None,
    ),
    Variant(
        name="heads_split_view_without_transpose",
        why="view(B, nh, T, hs) reinterprets memory instead of moving the head dim: tokens and heads mix",
        edits=[Edit(old=".view(B, T, nh, hs).transpose(1, 2)", new=".view(B, nh, T, hs)", count=3)],
        hint=None,
    ),
    Variant(
        name="heads_merged_without_transpose",
        why="context (B, nh, T, hs) viewed straight as (B, T, d_out) without transposing back",
        edits=[Edit(old=_MHA_MERGE, new=_MHA_MERGE.replace("context.transpose(1, 2)", "context"))],
        hint=None,
    ),
    Variant(
        name="heads_merged_with_view_not_contiguous",
        why="view on the transposed context without .contiguous(): RuntimeError",
        edits=[Edit(old=_MHA_MERGE, new=_MHA_MERGE.replace(".contiguous()", ""))],
        hint=None,
    ),
    Variant(
        name="out_proj_forgotten",
        why="heads concatenated but never passed through out_proj",
        edits=[Edit(old="return self.out_proj(context)  # (B, T, d_out)", new="return context  # (B, T, d_out)")],
        hint=None,
    ),
    Variant(
        name="keys_values_swapped",
        why="W_key used for the values and W_value for the keys",
        edits=[
            Edit(
                old="keys = self.W_key(x).view(B, T, nh, hs)",
                new="keys = self.W_value(x).view(B, T, nh, hs)",
            ),
            Edit(
                old="values = self.W_value(x).view(B, T, nh, hs)",
                new="values = self.W_key(x).view(B, T, nh, hs)",
            ),
        ],
        hint=None,
    ),
    Variant(
        name="mha_dropout_on_context",
        why="dropout applied to the context vectors instead of the attention weights",
        edits=[
            Edit(
                old=_MHA_DROPOUT,
                new="context = self.dropout(attn_weights @ values)  # (B, nh, T, hs)",
            )
        ],
        hint=None,
    ),
    Variant(
        name="causal_dropout_on_output",
        why="CausalAttention drops output features instead of attention weights",
        edits=[
            Edit(
                old="attn_weights = self.dropout(attn_weights)\n        return attn_weights @ values  # (B, T, d_out)",
                new="return self.dropout(attn_weights @ values)  # (B, T, d_out)",
            )
        ],
        hint=None,
    ),
    Variant(
        name="mha_dropout_on_scores",
        why="dropout applied to the raw scores before masking and softmax (rows still sum to 1)",
        edits=[
            Edit(
                old="attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, T)",
                new="attn_scores = self.dropout(queries @ keys.transpose(2, 3))  # (B, nh, T, T)",
            ),
            Edit(old=_MHA_DROPOUT, new="context = attn_weights @ values  # (B, nh, T, hs)"),
        ],
        hint=None,
    ),
    Variant(
        name="mha_dropout_in_eval",
        why="functional dropout with training=True keeps dropping in eval mode",
        edits=[
            Edit(
                old=_MHA_DROPOUT,
                new=_MHA_DROPOUT.replace(
                    "self.dropout(attn_weights)",
                    "torch.nn.functional.dropout(attn_weights, self.dropout.p, training=True)",
                ),
            )
        ],
        hint=None,
    ),
    Variant(
        name="missing_divisibility_check",
        why="d_out % num_heads != 0 accepted silently (fails later, or never)",
        edits=[
            Edit(
                old=(
                    "        if d_out % num_heads != 0:\n"
                    '            raise ValueError(f"d_out={d_out} is not divisible by num_heads={num_heads}")\n'
                ),
                new="",
            )
        ],
        hint=None,
    ),
    Variant(
        name="missing_context_length_check",
        why="T > context_length not rejected with a ValueError (mask slicing fails with a RuntimeError)",
        edits=[
            Edit(
                old=(
                    "        if T > self.context_length:\n"
                    '            raise ValueError(f"T={T} exceeds context_length={self.context_length}")\n'
                    "        nh, hs"
                ),
                new="        nh, hs",
            )
        ],
        hint=None,
    ),
    Variant(
        name="wrapper_concat_wrong_dim",
        why="heads concatenated along the batch dim instead of the feature dim",
        edits=[
            Edit(
                old="torch.cat([head(x) for head in self.heads], dim=-1)",
                new="torch.cat([head(x) for head in self.heads], dim=0)",
            )
        ],
        hint=None,
    ),
    Variant(
        name="softmax_global_max",
        why="subtracting the max of the whole tensor: rows far below it underflow to 0/0 = nan at 1e4",
        edits=[Edit(old="x_max = x.amax(dim=dim, keepdim=True)", new="x_max = x.max()")],
        hint=None,
    ),
]

MUTANTS += [
    Variant(
        name="softmax_calls_torch_softmax",
        why="hands the task to PyTorch: torch.softmax inside softmax (banned there)",
        edits=[Edit(old="    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1): keepdim so it broadcasts against x\n",
                    new="    return torch.softmax(x, dim=dim)\n")],
        hint="torch.softmax",
    ),
]

ALTERNATIVES = [
    Variant(
        name="softmax_logsumexp",
        why="exp(x - logsumexp(x)) is the same softmax, computed stably",
        edits=[
            Edit(
                old=(
                    "    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1): keepdim so it broadcasts against x\n"
                    "    exp_x = torch.exp(x - x_max)\n"
                    "    return exp_x / exp_x.sum(dim=dim, keepdim=True)\n"
                ),
                new="    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))\n",
            )
        ],
    ),
    Variant(
        name="einsum_heads",
        why="einsum for the score and context products",
        edits=[
            Edit(
                old=_MHA_SCORES,
                new='attn_scores = torch.einsum("bhqd,bhkd->bhqk", queries, keys)  # (B, nh, T, T)\n',
            ),
            Edit(old="context = attn_weights @ values  # (B, nh, T, hs)",
                 new='context = torch.einsum("bhqk,bhkd->bhqd", attn_weights, values)  # (B, nh, T, hs)'),
        ],
    ),
    Variant(
        name="fused_qkv_matmul",
        why="one matmul with the three weight matrices concatenated at forward time",
        edits=[
            Edit(
                old=_MHA_QKV,
                new=(
                    "w = torch.cat([self.W_query.weight, self.W_key.weight, self.W_value.weight])  # (3 d_out, d_in)\n"
                    "        b = self.W_query.bias\n"
                    "        if b is not None:\n"
                    "            b = torch.cat([self.W_query.bias, self.W_key.bias, self.W_value.bias])  # (3 d_out,)\n"
                    "        qkv = torch.nn.functional.linear(x, w, b).view(B, T, 3, nh, hs)  # (B, T, 3, nh, hs)\n"
                    "        queries, keys, values = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, nh, T, hs)\n"
                ),
            )
        ],
    ),
    Variant(
        name="float64_internals",
        why="scores and softmax computed in float64, cast back to the input dtype",
        edits=[
            Edit(
                old=_MHA_SOFTMAX,
                new="attn_weights = softmax(attn_scores.double() / hs**0.5, dim=-1).to(x.dtype)  # (B, nh, T, T)",
            )
        ],
    ),
    Variant(
        name="mask_built_on_the_fly",
        why="causal mask made with torch.tril on the input's device at every call",
        edits=[
            Edit(
                old=_MHA_SCORES + _MHA_MASK,
                new=(
                    _MHA_SCORES
                    + "        visible = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))  # (T, T)\n"
                    '        attn_scores = attn_scores.masked_fill(~visible, float("-inf"))\n'
                ),
            )
        ],
    ),
    Variant(
        name="persistent_float_mask_like_the_book",
        why="float mask registered as a persistent buffer and converted with .bool() (as in the book)",
        edits=[
            Edit(
                old=_MASK_BUILD,
                new="mask = torch.triu(torch.ones(context_length, context_length), diagonal=1)",
                count=2,
            ),
            Edit(
                old='self.register_buffer("mask", mask, persistent=False)',
                new='self.register_buffer("mask", mask)',
                count=2,
            ),
            Edit(old="self.mask[:T, :T]", new="self.mask.bool()[:T, :T]", count=2),
        ],
    ),
    Variant(
        name="mask_filled_with_finfo_min",
        why="the most negative finite number instead of -inf gives the same zero weights",
        edits=[
            Edit(
                old='self.mask[:T, :T], float("-inf"))',
                new="self.mask[:T, :T], torch.finfo(x.dtype).min)",
                count=2,
            )
        ],
    ),
    Variant(
        name="queries_prescaled_reshape_merge",
        why="queries scaled before the matmul; heads merged with reshape instead of contiguous().view()",
        edits=[
            Edit(old=_MHA_SCORES, new=_MHA_SCORES.replace("queries @", "(queries / hs**0.5) @")),
            Edit(old=_MHA_SOFTMAX, new=_MHA_SOFTMAX.replace(" / hs**0.5", "")),
            Edit(old=_MHA_MERGE, new=_MHA_MERGE.replace(".contiguous().view(", ".reshape(")),
        ],
    ),
    Variant(
        name="wrapper_stack_flatten",
        why="heads stacked on a new dim and flattened: same layout as cat on the last dim",
        edits=[
            Edit(
                old="torch.cat([head(x) for head in self.heads], dim=-1)",
                new="torch.stack([head(x) for head in self.heads], dim=-2).flatten(-2)",
            )
        ],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "no_banned_apis": "softmax_calls_torch_softmax",
    "softmax_rows_sum_to_one": "softmax_calls_torch_softmax",
    "softmax_large_inputs": "softmax_no_max_subtraction",
    "softmax_snapshot": "softmax_calls_torch_softmax",
    "v1_snapshot": "self_attention_scale_by_d_out",
    "v2_snapshot": "self_attention_scale_by_d_out",
    "causal_snapshot": "causal_scale_by_d_out",
    "wrapper_snapshot": "wrapper_concat_wrong_dim",
    "mha_snapshot": "mha_scale_by_d_out",
    "causal_attention_is_causal": "mask_not_sliced",
    "wrapper_is_causal": "wrapper_concat_wrong_dim",
    "mha_is_causal": "mha_no_causal_mask",
    "causal_attention_dropout_on_attention_weights": "causal_dropout_on_output",
    "mha_dropout_on_attention_weights": "mha_dropout_on_context",
    "mha_rejects_bad_input": "missing_divisibility_check",
    "mha_keeps_dtype": "heads_merged_with_view_not_contiguous",
    "softmax_matches_reference": "softmax_calls_torch_softmax",
    "self_attention_v1_matches_reference": "self_attention_scale_by_d_out",
    "self_attention_v2_matches_reference": "self_attention_scale_by_d_out",
    "causal_attention_matches_reference": "causal_scale_by_d_out",
    "wrapper_matches_reference": "wrapper_concat_wrong_dim",
    "mha_matches_reference": "mha_scale_by_d_out",
    "mha_float32_matches_reference": "mha_scale_by_d_out",
}
