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
_GROUPS_CHECK = "        if num_heads % num_kv_groups != 0:\n"

MUTANTS = [
    # -- RMSNorm ---------------------------------------------------------------------------------
    Variant(
        name="rmsnorm_eps_outside_sqrt",
        why="divides by sqrt(mean square) + eps: visible for rows of small magnitude",
        edits=[Edit(old=_NORMED, new="x_normed = x / (torch.sqrt(mean_square) + self.eps)  # (..., E)")],
        hint='eps goes inside the square root',
    ),
    Variant(
        name="rmsnorm_subtracts_mean",
        why="LayerNorm habit: centres x before taking the root mean square (variance instead of mean square)",
        edits=[Edit(old=_MS, new="x = x - x.mean(dim=-1, keepdim=True)\n        "
                                 "mean_square = x.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)")],
        hint='RMSNorm does not centre the row',
    ),
    Variant(
        name="rmsnorm_no_weight",
        why="forgets the learned scale: correct at initialisation (weight = 1), wrong once weight is trained",
        edits=[Edit(old=_NORM_OUT, new="return x_normed.to(x.dtype)")],
        hint='multiply by self.weight',
    ),
    Variant(
        name="rmsnorm_float32_result",
        why="upcasts to float32 like the book's Qwen3 norm but never casts back: float64 in, float32 out",
        edits=[Edit(old=_MS, new="x = x.float()\n        " + _MS),
               Edit(old=_NORM_OUT, new="return x_normed * self.weight.float()")],
        hint="keep the input's dtype",
    ),
    # -- SiLU / SwiGLU ---------------------------------------------------------------------------
    Variant(
        name="silu_uses_torch_silu",
        why="calls torch.nn.functional.silu, which this assignment asks to write",
        edits=[Edit(old=_SILU, new="return torch.nn.functional.silu(x)")],
        hint="torch.nn.functional.silu",
    ),
    Variant(
        name="silu_is_sigmoid",
        why="returns sigmoid(x): the x * is missing",
        edits=[Edit(old=_SILU, new="return torch.sigmoid(x)")],
        hint='your output matches sigmoid(x)',
    ),
    Variant(
        name="swiglu_gate_up_swapped",
        why="SiLU on fc2's branch instead of fc1's: right shapes, fc1 and fc2 trade roles",
        edits=[Edit(old=_GATE, new="gate = self.silu(self.fc2(x))  # (..., hidden_dim)"),
               Edit(old=_UP, new="up = self.fc1(x)  # (..., hidden_dim)")],
        hint="SiLU on fc2's branch",
    ),
    Variant(
        name="swiglu_silu_after_product",
        why="silu(fc1(x) * fc2(x)): the gate applied after multiplying",
        edits=[Edit(old=_GATE, new="gate = self.fc1(x)  # (..., hidden_dim)"),
               Edit(old="return self.fc3(gate * up)  # (..., E)", new="return self.fc3(self.silu(gate * up))")],
        hint='apply SiLU to fc1(x) before multiplying',
    ),
    # -- RoPE tables -----------------------------------------------------------------------------
    Variant(
        name="rope_interleaved_table",
        why="interleaved layout: each angle repeated in place (a0 a0 a1 a1 ...) instead of cat([a, a])",
        edits=[Edit(old=_CAT, new="angles = angles.repeat_interleave(2, dim=-1)  # (context_length, hs)")],
        hint='split-halves layout',
    ),
    Variant(
        name="rope_frequency_not_inverted",
        why="theta ** (2i / hs) instead of its inverse: angles grow with i",
        edits=[Edit(old=_INV, new="inv_freq = theta_base ** exponents  # (hs/2,)")],
        hint='invert it',
    ),
    Variant(
        name="rope_positions_from_one",
        why="positions 1..L instead of 0..L-1: the first token is already rotated",
        edits=[Edit(old=_POS, new="positions = torch.arange(1, context_length + 1, dtype=torch.float32)")],
        hint='positions start at 0',
    ),
    Variant(
        name="rope_odd_head_dim_accepted",
        why="no check for an odd head_dim: the tables come out one column short",
        edits=[Edit(old="if head_dim <= 0 or head_dim % 2 != 0:", new="if head_dim <= 0:")],
        hint='compute_rope_params(head_dim=5): expected a ValueError',
    ),
    # -- apply_rope ------------------------------------------------------------------------------
    Variant(
        name="rope_rotate_half_sign",
        why="rotate_half as cat([x2, -x1]): rotates by -angle",
        edits=[Edit(old=_ROT, new="rotated = torch.cat([x2, -x1], dim=-1)  # (B, H, T, hs)")],
        hint='a rotation by -angle',
    ),
    Variant(
        name="rope_offset_ignored",
        why="always uses table rows 0..T-1: a cached token at position 7 is rotated as position 0",
        edits=[Edit(old=_COS_T, new="cos_t = cos[:T].to(device=x.device, dtype=x.dtype)  # (T, hs)"),
               Edit(old=_SIN_T, new="sin_t = sin[:T].to(device=x.device, dtype=x.dtype)  # (T, hs)")],
        hint='token t is at position offset + t',
    ),
    Variant(
        name="rope_no_table_bounds_check",
        why="no check past the table: slicing silently returns fewer rows and broadcasting fails with a RuntimeError",
        edits=[Edit(old=_PAST, new="    if offset < 0:\n")],
        hint='expected a ValueError, got RuntimeError',
    ),
    # -- GroupedQueryAttention --------------------------------------------------------------------
    Variant(
        name="gqa_repeat_not_interleave",
        why="keys.repeat(1, group_size, 1, 1): head h gets kv head h % G instead of h // group_size",
        edits=[Edit(old=_REPEAT,
                    new="keys = keys.repeat(1, self.group_size, 1, 1)  # (B, nh, T, hs)\n"
                        "        values = values.repeat(1, self.group_size, 1, 1)  # (B, nh, T, hs)")],
        hint='consecutive heads share a group',
    ),
    Variant(
        name="gqa_rope_on_queries_only",
        why="forgets to rotate the keys: scores depend on the query's absolute position",
        edits=[Edit(old=_ROPE_QK, new="        queries = apply_rope(queries, cos, sin)\n")],
        hint='rotate the keys too',
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
        hint='True in the mask means hidden',
    ),
    Variant(
        name="gqa_no_group_check",
        why="num_heads % num_kv_groups never checked: group_size rounds down and the shapes break later",
        edits=[Edit(old=_GROUPS_CHECK + "            raise ValueError(",
                    new="        if False:\n            raise ValueError(")],
        hint='expected a ValueError, but no error was raised',
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
        name="silu_as_division",
        why="x / (1 + exp(-x)) (exp overflows to inf for x << 0, and x / inf = -0: still right)",
        edits=[Edit(old=_SILU, new="return x / (1 + torch.exp(-x))")],
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
]

CATCHES: dict[str, str] = {
    "no_banned_apis": "silu_uses_torch_silu",
    "rmsnorm_snapshot": "rmsnorm_no_weight",
    "rmsnorm_small_rows_snapshot": "rmsnorm_eps_outside_sqrt",
    "swiglu_snapshot": "swiglu_gate_up_swapped",
    "apply_rope_snapshot": "rope_rotate_half_sign",
    "gqa_snapshot": "gqa_repeat_not_interleave",
    "rmsnorm_keeps_dtype": "rmsnorm_float32_result",
    "silu_values": "silu_is_sigmoid",
    "rope_tables_values": "rope_interleaved_table",
    "rope_errors": "rope_no_table_bounds_check",
    "rope_relative_property": "rope_offset_ignored",
    "gqa_causal": "gqa_mask_inverted",
    "gqa_errors": "gqa_no_group_check",
    "rmsnorm_matches_reference": "rmsnorm_eps_outside_sqrt",
    "swiglu_matches_reference": "swiglu_gate_up_swapped",
    "apply_rope_matches_reference": "rope_offset_ignored",
    "gqa_matches_reference": "gqa_repeat_not_interleave",
}
