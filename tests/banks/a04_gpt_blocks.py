"""Mistakes (must lose points) and correct alternatives (must score full marks) for a04_gpt_blocks."""

from tests.banks.edits import Edit, Variant

_VAR = "var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)"
_NORM = "norm_x = (x - mean) / torch.sqrt(var + self.eps)  # (..., E)"
_AFFINE = "return self.scale * norm_x + self.shift"
_GELU = "inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)"
_GELU_OUT = "return 0.5 * x * (1.0 + torch.tanh(inner))"
_ATT_SUB = "x = x + self.drop_shortcut(self.att(self.norm1(x)))  # (B, T, E)"
_FF_SUB = "x = x + self.drop_shortcut(self.ff(self.norm2(x)))  # (B, T, E)"

MUTANTS = [
    Variant(
        name="unbiased_variance",
        why="variance divided by E - 1 instead of E",
        edits=[Edit(old=_VAR, new=_VAR.replace("unbiased=False", "unbiased=True"))],
        hint="unbiased",
    ),
    Variant(
        name="eps_outside_sqrt",
        why="sqrt(var) + eps instead of sqrt(var + eps): wrong for small-variance rows",
        edits=[Edit(old=_NORM, new=_NORM.replace("torch.sqrt(var + self.eps)", "(torch.sqrt(var) + self.eps)"))],
        hint="eps goes inside the square root",
    ),
    Variant(
        name="std_instead_of_var",
        why="standard deviation put under the square root",
        edits=[Edit(old=_VAR, new=_VAR.replace("x.var(", "x.std("))],
        hint="standard deviation",
    ),
    Variant(
        name="normalise_wrong_dim",
        why="mean and variance taken over the token dim instead of the feature dim",
        edits=[
            Edit(old="mean = x.mean(dim=-1, keepdim=True)", new="mean = x.mean(dim=-2, keepdim=True)"),
            Edit(old=_VAR, new=_VAR.replace("dim=-1", "dim=-2")),
        ],
        hint="over dim -2",
    ),
    Variant(
        name="no_mean_subtraction",
        why="x divided by its std without centring",
        edits=[Edit(old=_NORM, new=_NORM.replace("(x - mean)", "x"))],
        hint="without subtracting the mean",
    ),
    Variant(
        name="scale_shift_swapped",
        why="shift used as the gain and scale as the offset",
        edits=[Edit(old=_AFFINE, new="return self.shift * norm_x + self.scale")],
        hint="scale multiplies, shift is added",
    ),
    Variant(
        name="gelu_erf_exact",
        why="exact erf GELU instead of the tanh approximation (differs by up to ~5e-4)",
        edits=[
            Edit(old="        " + _GELU + "\n", new=""),
            Edit(old=_GELU_OUT, new="return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))"),
        ],
        hint="erf",
    ),
    Variant(
        name="gelu_wrong_constant",
        why="sqrt(pi / 2) instead of sqrt(2 / pi)",
        edits=[Edit(old=_GELU, new=_GELU.replace("math.sqrt(2.0 / math.pi)", "math.sqrt(math.pi / 2.0)"))],
        hint="sqrt(pi / 2)",
    ),
    Variant(
        name="gelu_x_squared",
        why="x^2 instead of x^3 in the cubic term",
        edits=[Edit(old=_GELU, new=_GELU.replace("x**3", "x**2"))],
        hint="x^2 in place of x^3",
    ),
    Variant(
        name="relu_instead_of_gelu",
        why="FeedForward uses ReLU",
        edits=[Edit(old="            GELU(),\n", new="            nn.ReLU(),\n")],
        hint="torch.relu",
    ),
    Variant(
        name="ff_hidden_2x",
        why="hidden width 2E instead of 4E (weights from the reference do not fit)",
        edits=[Edit(old="4 * emb_dim", new="2 * emb_dim", count=2)],
        hint=None,
    ),
    Variant(
        name="post_layernorm",
        why="norm applied after the residual sum (post-LN) instead of to the sub-layer input",
        edits=[
            Edit(old=_ATT_SUB, new="x = self.norm1(x + self.drop_shortcut(self.att(x)))  # (B, T, E)"),
            Edit(old=_FF_SUB, new="x = self.norm2(x + self.drop_shortcut(self.ff(x)))  # (B, T, E)"),
        ],
        hint="norm(x + sublayer(x))",
    ),
    Variant(
        name="missing_attention_residual",
        why="attention sub-layer output replaces x instead of being added to it",
        edits=[Edit(old=_ATT_SUB, new=_ATT_SUB.replace("x = x + ", "x = "))],
        hint="without the attention shortcut",
    ),
    Variant(
        name="norm1_reused_for_ff",
        why="norm1 used before the feed-forward sub-layer; norm2 never used",
        edits=[Edit(old=_FF_SUB, new=_FF_SUB.replace("self.norm2(x)", "self.norm1(x)"))],
        hint="before both sub-layers",
    ),
    Variant(
        name="drop_shortcut_on_sum",
        why="dropout applied to x + sub-layer (drops the residual stream) instead of to the sub-layer output",
        edits=[
            Edit(old=_ATT_SUB, new="x = self.drop_shortcut(x + self.att(self.norm1(x)))  # (B, T, E)"),
            Edit(old=_FF_SUB, new="x = self.drop_shortcut(x + self.ff(self.norm2(x)))  # (B, T, E)"),
        ],
        hint="elements of x itself were dropped",
    ),
    Variant(
        name="no_drop_shortcut",
        why="drop_shortcut created but never applied",
        edits=[
            Edit(old=_ATT_SUB, new="x = x + self.att(self.norm1(x))  # (B, T, E)"),
            Edit(old=_FF_SUB, new="x = x + self.ff(self.norm2(x))  # (B, T, E)"),
        ],
        hint="drop_shortcut is never applied",
    ),
    Variant(
        name="shared_layernorm",
        why="norm2 is the same module as norm1, so the two sub-layers share one scale/shift",
        edits=[Edit(old="self.norm2 = LayerNorm(emb_dim)", new="self.norm2 = self.norm1")],
        hint="is the same tensor as",
    ),
]

MUTANTS += [
    Variant(
        name="layernorm_calls_f_layer_norm",
        why="hands the task to PyTorch: F.layer_norm inside LayerNorm (banned there)",
        edits=[Edit(old="        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)\n",
                    new="        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.scale, self.shift, self.eps)\n")],
        hint="torch.nn.functional.layer_norm",
    ),
    Variant(
        name="layernorm_input_width_unchecked",
        why="no check that x ends in emb_dim: a wrong width fails later with a broadcasting RuntimeError",
        edits=[Edit(old="        if x.shape[-1:] != self.scale.shape:\n"
                        "            raise ValueError(f\"x must end in emb_dim={self.scale.shape[0]}, got {tuple(x.shape)}\")\n",
                    new="")],
    ),
    Variant(
        name="block_cfg_unchecked",
        why="the given cfg check removed: a missing key surfaces as a bare KeyError",
        edits=[Edit(old='        _check_cfg(cfg, ("emb_dim", "context_length", "n_heads", "drop_rate", "qkv_bias"), "TransformerBlock")\n',
                    new="")],
    ),
]

ALTERNATIVES = [
    Variant(
        name="gelu_book_float32_constant",
        why="the book's GELU: sqrt(2/pi) as a float32 tensor, torch.sqrt(torch.tensor(2.0 / torch.pi)) "
            "(3e-8 off in the constant, ~3e-7 relative in float64 outputs)",
        edits=[Edit(old=_GELU, new="inner = torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))")],
    ),
    Variant(
        name="layernorm_book_without_eps_argument",
        why="the book's LayerNorm(emb_dim) with self.eps = 1e-5 inside and no eps argument: only the check on "
            "the eps argument (which the contract adds) may fail",
        edits=[
            Edit(old="def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:",
                 new="def __init__(self, emb_dim: int) -> None:"),
            Edit(old='        if eps < 0:\n            raise ValueError(f"eps must be non-negative, got eps={eps}")\n'
                     '        self.eps = eps\n',
                 new="        self.eps = 1e-5\n"),
        ],
        may_lose=("layernorm_normalises_rows",),
        hint="takes eps as an argument",
    ),
    Variant(
        name="rsqrt_layernorm",
        why="multiply by rsqrt(var + eps)",
        edits=[Edit(old=_NORM, new="norm_x = (x - mean) * torch.rsqrt(var + self.eps)  # (..., E)")],
    ),
    Variant(
        name="variance_by_hand",
        why="biased variance as the mean of squared deviations",
        edits=[Edit(old=_VAR, new="var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1)")],
    ),
    Variant(
        name="layernorm_float64_internals",
        why="statistics in float64, cast back to the input dtype before the affine map",
        edits=[
            Edit(old="mean = x.mean(dim=-1, keepdim=True)  # (..., 1)",
                 new="xd = x.double()\n        mean = xd.mean(dim=-1, keepdim=True)  # (..., 1)"),
            Edit(old=_VAR, new="var = xd.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)"),
            Edit(old=_NORM, new="norm_x = ((xd - mean) / torch.sqrt(var + self.eps)).to(x.dtype)  # (..., E)"),
        ],
    ),
    Variant(
        name="gelu_pow_constants",
        why="torch.pow and (2 / pi) ** 0.5",
        edits=[Edit(old=_GELU, new="inner = (2.0 / math.pi) ** 0.5 * (x + 0.044715 * torch.pow(x, 3))")],
    ),
    Variant(
        name="gelu_sigmoid_form",
        why="0.5 * (1 + tanh(z)) == sigmoid(2 z)",
        edits=[Edit(old=_GELU_OUT, new="return x * torch.sigmoid(2.0 * inner)")],
    ),
    Variant(
        name="block_with_named_shortcut",
        why="the book's style: keep the shortcut in a variable, then add",
        edits=[
            Edit(
                old=_ATT_SUB + "\n        " + _FF_SUB,
                new=(
                    "shortcut = x\n"
                    "        x = self.norm1(x)\n"
                    "        x = self.att(x)\n"
                    "        x = self.drop_shortcut(x)\n"
                    "        x = x + shortcut\n"
                    "        shortcut = x\n"
                    "        x = self.drop_shortcut(self.ff(self.norm2(x)))\n"
                    "        x = x + shortcut"
                ),
            )
        ],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "no_banned_apis": "layernorm_calls_f_layer_norm",
    "layernorm_snapshot": "unbiased_variance",
    "layernorm_small_variance_snapshot": "unbiased_variance",
    "gelu_snapshot": "gelu_erf_exact",
    "feedforward_snapshot": "relu_instead_of_gelu",
    "block_snapshot": "norm1_reused_for_ff",
    "layernorm_normalises_rows": "unbiased_variance",
    "layernorm_shift_and_scale_invariant": "std_instead_of_var",
    "layernorm_scale_and_shift": "scale_shift_swapped",
    "layernorm_rejects_bad_input": "layernorm_input_width_unchecked",
    "layernorm_keeps_dtype": "layernorm_calls_f_layer_norm",
    "gelu_properties": "gelu_x_squared",
    "feedforward_is_linear_gelu_linear": "relu_instead_of_gelu",
    "block_is_causal": "normalise_wrong_dim",
    "block_is_pre_ln_residual": "norm1_reused_for_ff",
    "block_dropout_on_sublayer_outputs": "drop_shortcut_on_sum",
    "block_eval_is_deterministic": "ff_hidden_2x",
    "block_rejects_incomplete_config": "block_cfg_unchecked",
    "block_keeps_dtype": "layernorm_calls_f_layer_norm",
    "layernorm_matches_reference": "unbiased_variance",
    "gelu_matches_reference": "gelu_erf_exact",
    "feedforward_matches_reference": "relu_instead_of_gelu",
    "block_matches_reference": "norm1_reused_for_ff",
    "block_float32_matches_reference": "norm1_reused_for_ff",
}
