"""Mistakes (must lose points) and correct alternatives (must score full marks) for a13_llama."""

from tests.banks.edits import Edit, Variant

_MS = "mean_square = x.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)"
_NORMED = "x_normed = x * torch.rsqrt(mean_square + self.eps)  # (..., E)"
_NORM_OUT = "return (x_normed * self.weight).to(x.dtype)"
_SILU = "return x * torch.sigmoid(x)"
_GATE = "gate = self.silu(self.fc1(x))  # (..., hidden_dim)"
_UP = "up = self.fc2(x)  # (..., hidden_dim)"
_EXP = "exponents = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim  # (hs/2,): 2i / hs"
_INV = "inv_freq = 1.0 / (theta_base ** exponents)  # (hs/2,), from 1 down to ~1/theta_base"
_POS = "positions = torch.arange(context_length, dtype=torch.float32)  # (context_length,)"
_ANGLES = "angles = positions[:, None] * inv_freq[None, :]  # (context_length, hs/2)"
_CAT = "angles = torch.cat([angles, angles], dim=-1)  # (context_length, hs): both halves of each pair"
_ROT = "rotated = torch.cat([-x2, x1], dim=-1)  # (B, H, T, hs)"
_COS_T = "cos_t = cos[offset: offset + T].to(device=x.device, dtype=x.dtype)  # (T, hs)"
_SIN_T = "sin_t = sin[offset: offset + T].to(device=x.device, dtype=x.dtype)  # (T, hs)"
_PAST = "    if offset < 0 or offset + T > cos.shape[0]:\n"
_ROPE_QK = "        queries = apply_rope(queries, cos, sin)\n        keys = apply_rope(keys, cos, sin)\n"
_REPEAT = ("keys = keys.repeat_interleave(self.group_size, dim=1)  # (B, nh, T, hs)\n"
           "        values = values.repeat_interleave(self.group_size, dim=1)  # (B, nh, T, hs)")
_MASK = '            attn_scores = attn_scores.masked_fill(mask[:T, :T], float("-inf"))'
_SOFTMAX = "attn_weights = torch.softmax(attn_scores / hs**0.5, dim=-1)  # (B, nh, T, T)"
_GROUPS_CHECK = "        if num_heads % num_kv_groups != 0:\n"

MUTANTS = [
    # -- RMSNorm ---------------------------------------------------------------------------------
    Variant(
        name="rmsnorm_eps_outside_sqrt",
        why="divides by sqrt(mean square) + eps: visible for rows of small magnitude",
        edits=[Edit(old=_NORMED, new="x_normed = x / (torch.sqrt(mean_square) + self.eps)  # (..., E)")],
    ),
    Variant(
        name="rmsnorm_subtracts_mean",
        why="LayerNorm habit: centres x before taking the root mean square (variance instead of mean square)",
        edits=[Edit(old=_MS, new="x = x - x.mean(dim=-1, keepdim=True)\n        "
                                 "mean_square = x.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)")],
    ),
    Variant(
        name="rmsnorm_sum_not_mean",
        why="sums the squares instead of averaging: the output shrinks by sqrt(E)",
        edits=[Edit(old=_MS, new="mean_square = x.pow(2).sum(dim=-1, keepdim=True)  # (..., 1)")],
    ),
    Variant(
        name="rmsnorm_no_weight",
        why="forgets the learned scale: correct at initialisation (weight = 1), wrong once weight is trained",
        edits=[Edit(old=_NORM_OUT, new="return x_normed.to(x.dtype)")],
    ),
    Variant(
        name="rmsnorm_float32_result",
        why="upcasts to float32 like the book's Qwen3 norm but never casts back: float64 in, float32 out",
        edits=[Edit(old=_MS, new="x = x.float()\n        " + _MS),
               Edit(old=_NORM_OUT, new="return x_normed * self.weight.float()")],
    ),
    Variant(
        name="rmsnorm_over_wrong_dim",
        why="averages the squares over dim 0 (the batch) instead of the features",
        edits=[Edit(old=_MS, new="mean_square = x.pow(2).mean(dim=0, keepdim=True)  # (1, ..., E)")],
    ),
    # -- SiLU / SwiGLU ---------------------------------------------------------------------------
    Variant(
        name="silu_is_sigmoid",
        why="returns sigmoid(x): the x * is missing",
        edits=[Edit(old=_SILU, new="return torch.sigmoid(x)")],
    ),
    Variant(
        name="silu_sign_flipped",
        why="x * sigmoid(-x)",
        edits=[Edit(old=_SILU, new="return x * torch.sigmoid(-x)")],
    ),
    Variant(
        name="swiglu_gate_up_swapped",
        why="SiLU on fc2's branch instead of fc1's: right shapes, fc1 and fc2 trade roles",
        edits=[Edit(old=_GATE, new="gate = self.silu(self.fc2(x))  # (..., hidden_dim)"),
               Edit(old=_UP, new="up = self.fc1(x)  # (..., hidden_dim)")],
    ),
    Variant(
        name="swiglu_silu_on_both",
        why="SiLU on both branches",
        edits=[Edit(old=_UP, new="up = self.silu(self.fc2(x))  # (..., hidden_dim)")],
    ),
    Variant(
        name="swiglu_silu_after_product",
        why="silu(fc1(x) * fc2(x)): the gate applied after multiplying",
        edits=[Edit(old=_GATE, new="gate = self.fc1(x)  # (..., hidden_dim)"),
               Edit(old="return self.fc3(gate * up)  # (..., E)", new="return self.fc3(self.silu(gate * up))")],
    ),
    # -- RoPE tables -----------------------------------------------------------------------------
    Variant(
        name="rope_interleaved_table",
        why="interleaved layout: each angle repeated in place (a0 a0 a1 a1 ...) instead of cat([a, a])",
        edits=[Edit(old=_CAT, new="angles = angles.repeat_interleave(2, dim=-1)  # (context_length, hs)")],
    ),
    Variant(
        name="rope_exponent_not_halved",
        why="exponents i / hs for i = 0, 1, ... (arange without step 2), sliced to hs/2: lower frequencies",
        edits=[Edit(old=_EXP, new="exponents = torch.arange(0, head_dim // 2, dtype=torch.float32) / head_dim")],
    ),
    Variant(
        name="rope_frequency_not_inverted",
        why="theta ** (2i / hs) instead of its inverse: angles grow with i",
        edits=[Edit(old=_INV, new="inv_freq = theta_base ** exponents  # (hs/2,)")],
    ),
    Variant(
        name="rope_positions_from_one",
        why="positions 1..L instead of 0..L-1: the first token is already rotated",
        edits=[Edit(old=_POS, new="positions = torch.arange(1, context_length + 1, dtype=torch.float32)")],
    ),
    Variant(
        name="rope_cos_sin_swapped",
        why="returns (sin, cos)",
        edits=[Edit(old="    return torch.cos(angles), torch.sin(angles)\n",
                    new="    return torch.sin(angles), torch.cos(angles)\n")],
    ),
    Variant(
        name="rope_odd_head_dim_accepted",
        why="no check for an odd head_dim: the tables come out one column short",
        edits=[Edit(old="if head_dim <= 0 or head_dim % 2 != 0:", new="if head_dim <= 0:")],
    ),
    # -- apply_rope ------------------------------------------------------------------------------
    Variant(
        name="rope_rotate_half_sign",
        why="rotate_half as cat([x2, -x1]): rotates by -angle",
        edits=[Edit(old=_ROT, new="rotated = torch.cat([x2, -x1], dim=-1)  # (B, H, T, hs)")],
    ),
    Variant(
        name="rope_rotate_interleaved_pairs",
        why="rotates neighbouring pairs (x0, x1), (x2, x3) ... (RoFormer's layout) against split-halves tables",
        edits=[Edit(old=_ROT, new="rotated = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)")],
    ),
    Variant(
        name="rope_offset_ignored",
        why="always uses table rows 0..T-1: a cached token at position 7 is rotated as position 0",
        edits=[Edit(old=_COS_T, new="cos_t = cos[:T].to(device=x.device, dtype=x.dtype)  # (T, hs)"),
               Edit(old=_SIN_T, new="sin_t = sin[:T].to(device=x.device, dtype=x.dtype)  # (T, hs)")],
    ),
    Variant(
        name="rope_no_table_bounds_check",
        why="no check past the table: slicing silently returns fewer rows and broadcasting fails with a RuntimeError",
        edits=[Edit(old=_PAST, new="    if offset < 0:\n")],
    ),
    # -- GroupedQueryAttention --------------------------------------------------------------------
    Variant(
        name="gqa_repeat_not_interleave",
        why="keys.repeat(1, group_size, 1, 1): head h gets kv head h % G instead of h // group_size",
        edits=[Edit(old=_REPEAT,
                    new="keys = keys.repeat(1, self.group_size, 1, 1)  # (B, nh, T, hs)\n"
                        "        values = values.repeat(1, self.group_size, 1, 1)  # (B, nh, T, hs)")],
    ),
    Variant(
        name="gqa_rope_on_values",
        why="rotates the values too (and not the keys)",
        edits=[Edit(old=_ROPE_QK, new="        queries = apply_rope(queries, cos, sin)\n"
                                      "        values = apply_rope(values, cos, sin)\n")],
    ),
    Variant(
        name="gqa_rope_on_queries_only",
        why="forgets to rotate the keys: scores depend on the query's absolute position",
        edits=[Edit(old=_ROPE_QK, new="        queries = apply_rope(queries, cos, sin)\n")],
    ),
    Variant(
        name="gqa_mask_not_sliced",
        why="uses the whole mask: fails whenever the mask is larger than (T, T)",
        edits=[Edit(old=_MASK, new='            attn_scores = attn_scores.masked_fill(mask, float("-inf"))')],
    ),
    Variant(
        name="gqa_mask_inverted",
        why="hides where the mask is False: True read as 'keep'",
        edits=[Edit(old=_MASK, new='            attn_scores = attn_scores.masked_fill(~mask[:T, :T], float("-inf"))')],
    ),
    Variant(
        name="gqa_scale_by_d_in",
        why="scores divided by sqrt(d_in) instead of sqrt(head_dim)",
        edits=[Edit(old=_SOFTMAX, new="attn_weights = torch.softmax(attn_scores / x.shape[-1] ** 0.5, dim=-1)")],
    ),
    Variant(
        name="gqa_no_group_check",
        why="num_heads % num_kv_groups never checked: group_size rounds down and the shapes break later",
        edits=[Edit(old=_GROUPS_CHECK + "            raise ValueError(",
                    new="        if False:\n            raise ValueError(")],
    ),
]

ALTERNATIVES = [
    Variant(
        name="rmsnorm_upcast_like_qwen3",
        why="the book's Qwen3 RMSNorm: compute in float32, cast back to the input's dtype "
            "(float64 inputs then carry float32 rounding: ~1e-7 relative)",
        edits=[Edit(old=_MS, new="input_dtype = x.dtype\n        x = x.to(torch.float32)\n        " + _MS),
               Edit(old=_NORM_OUT, new="return (x_normed * self.weight.to(torch.float32)).to(input_dtype)")],
    ),
    Variant(
        name="rmsnorm_divide_by_sqrt",
        why="x / sqrt(mean(x * x) + eps) with torch.sqrt, weight first",
        edits=[Edit(old=_MS, new="mean_square = (x * x).mean(dim=-1, keepdim=True)  # (..., 1)"),
               Edit(old=_NORMED, new="x_normed = x / torch.sqrt(mean_square + self.eps)  # (..., E)"),
               Edit(old=_NORM_OUT, new="return self.weight.to(x.dtype) * x_normed")],
    ),
    Variant(
        name="silu_as_division",
        why="x / (1 + exp(-x)) (exp overflows to inf for x << 0, and x / inf = -0: still right)",
        edits=[Edit(old=_SILU, new="return x / (1 + torch.exp(-x))")],
    ),
    Variant(
        name="rope_float64_frequencies",
        why="computes the angles in float64 (more exact than the book's float32 tables)",
        edits=[Edit(old=_EXP, new=_EXP.replace("torch.float32", "torch.float64")),
               Edit(old=_POS, new=_POS.replace("torch.float32", "torch.float64"))],
    ),
    Variant(
        name="rope_book_power_form",
        why="the book's form: inv_freq = 1 / theta ** (arange(0, hs, 2)[: hs // 2].float() / hs), "
            "angles with an outer product",
        edits=[Edit(old=_EXP, new="exponents = torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim"),
               Edit(old=_ANGLES, new="angles = torch.outer(positions, inv_freq)  # (context_length, hs/2)")],
    ),
    Variant(
        name="rope_complex_multiply",
        why="treats each pair (x1[i], x2[i]) as a complex number and multiplies by cos + i sin",
        edits=[Edit(old=_ROT + "\n", new=""),
               Edit(old="    return x * cos_t + rotated * sin_t\n",
                    new="    half = head_dim // 2\n"
                        "    z = torch.complex(x1, x2) * torch.complex(cos_t[:, :half], sin_t[:, :half])  # (B, H, T, hs/2)\n"
                        "    return torch.cat([z.real, z.imag], dim=-1)\n")],
    ),
    Variant(
        name="gqa_grouped_einsum",
        why="no repeat at all: queries reshaped to (B, G, group_size, T, hs) and attended per group with einsum",
        edits=[Edit(old=_REPEAT + "\n\n        attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, T)",
                    new="queries = queries.view(B, G, nh // G, T, hs)  # consecutive heads share group g\n"
                        "        attn_scores = torch.einsum('bgqth,bgsh->bgqts', queries, keys).reshape(B, nh, T, T)"),
               Edit(old="context = attn_weights @ values  # (B, nh, T, hs)",
                    new="context = torch.einsum('bgqts,bgsh->bgqth', attn_weights.view(B, G, nh // G, T, T), values)\n"
                        "        context = context.reshape(B, nh, T, hs)")],
    ),
    Variant(
        name="gqa_sdpa_with_repeat",
        why="F.scaled_dot_product_attention (not banned here) on repeat_interleave'd keys/values, mask inverted",
        edits=[Edit(old="attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, T)\n"
                        "        if mask is not None:\n" + _MASK + "\n        " + _SOFTMAX + "\n"
                        "        context = attn_weights @ values  # (B, nh, T, hs)",
                    new="keep = None if mask is None else ~mask[:T, :T]\n"
                        "        context = torch.nn.functional.scaled_dot_product_attention(queries, keys, values, "
                        "attn_mask=keep)")],
    ),
    Variant(
        name="gqa_where_mask",
        why="torch.where with -inf instead of masked_fill",
        edits=[Edit(old=_MASK, new="            attn_scores = torch.where(mask[:T, :T], float('-inf'), attn_scores)")],
    ),
]

CATCHES: dict[str, str] = {}
