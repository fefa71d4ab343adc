"""Mistakes (must lose points) and correct alternatives (must score full marks) for a11_lora."""

from tests.banks.edits import Edit, Variant

_A = "        self.A = nn.Parameter(torch.empty(in_dim, rank))\n"
_INIT = "        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # the same init nn.Linear gives its weight\n"
_B = "        self.B = nn.Parameter(torch.zeros(rank, out_dim))  # zero: the update starts as a no-op\n"
_FORWARD = "return (self.alpha / self.rank) * (x @ self.A @ self.B)"
_TO = ("LoRALayer(linear.in_features, linear.out_features, rank, alpha).to(\n"
       "            dtype=linear.weight.dtype, device=linear.weight.device)")
_SUM = "return self.linear(x) + self.lora(x)"
_RECURSE = "            replace_linear_with_lora(child, rank, alpha)  # look deeper\n"
_FREEZE_ALL = "    for param in model.parameters():\n        param.requires_grad_(False)\n"
_UNFREEZE = "            module.A.requires_grad_(True)\n            module.B.requires_grad_(True)\n"
_DELTA = "delta = (lora.alpha / lora.rank) * (lora.A @ lora.B)  # (in, out)"
_COPY_W = "merged.weight.copy_(linear.weight + delta.T)  # (out, in)"
_COPY_B = "        if linear.bias is not None:\n            merged.bias.copy_(linear.bias)\n"
_MERGE_NEW = ("    merged = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None,\n"
              "                       dtype=linear.weight.dtype, device=linear.weight.device)\n")

MUTANTS = [
    # -- LoRALayer -------------------------------------------------------------------------------
    Variant(
        name="no_rank_scaling",
        why="the book's first printing: alpha * x A B, without / rank (visible once B is nonzero and rank > 1)",
        edits=[Edit(old=_FORWARD, new="return self.alpha * (x @ self.A @ self.B)")],
        hint="the book's first printing omits / rank",
    ),
    Variant(
        name="scale_rank_over_alpha",
        why="rank / alpha instead of alpha / rank",
        edits=[Edit(old=_FORWARD, new="return (self.rank / self.alpha) * (x @ self.A @ self.B)")],
        hint='(rank / alpha) * (x @ A @ B)',
    ),
    Variant(
        name="init_swapped",
        why="A zeros and B random: the update is still zero at first, but A's gradient is zero too, so A and B "
            "start in each other's roles (and B's init is not what the contract says)",
        edits=[Edit(old=_INIT, new=""),
               Edit(old=_A, new="        self.A = nn.Parameter(torch.zeros(in_dim, rank))\n"),
               Edit(old=_B, new="        self.B = nn.Parameter(torch.empty(rank, out_dim))\n"
                                "        nn.init.kaiming_uniform_(self.B, a=math.sqrt(5))\n")],
        hint='LoRALayer.B at initialisation',
    ),
    Variant(
        name="init_randn",
        why="A = torch.randn(in_dim, rank): normal with std 1, not Kaiming-uniform",
        edits=[Edit(old=_A + _INIT, new="        self.A = nn.Parameter(torch.randn(in_dim, rank))\n")],
        hint='above the largest allowed bound',
    ),
    Variant(
        name="init_rand_0_1",
        why="A = torch.rand(in_dim, rank): uniform on [0, 1), all positive",
        edits=[Edit(old=_A + _INIT, new="        self.A = nn.Parameter(torch.rand(in_dim, rank))\n")],
        hint='every value is >= 0',
    ),
    Variant(
        name="b_not_zero",
        why="B initialised like A: the adapted model no longer computes what the frozen model computed",
        edits=[Edit(old=_B, new="        self.B = nn.Parameter(torch.empty(rank, out_dim))\n"
                                "        nn.init.kaiming_uniform_(self.B, a=math.sqrt(5))\n")],
        hint='LoRALayer.B at initialisation',
    ),
    # -- LinearWithLoRA --------------------------------------------------------------------------
    Variant(
        name="lora_multiplied",
        why="linear(x) * lora(x): at initialisation every output is 0",
        edits=[Edit(old=_SUM, new="return self.linear(x) * self.lora(x)")],
        hint='linear(x) * lora(x)',
    ),
    Variant(
        name="lora_only",
        why="returns lora(x) alone: the pretrained layer is dropped",
        edits=[Edit(old=_SUM, new="return self.lora(x)")],
        hint='lora(x) alone',
    ),
    Variant(
        name="lora_dtype_not_matched",
        why="the LoRALayer stays float32 next to a float64 linear: x @ A raises a dtype error",
        edits=[Edit(old=_TO, new="LoRALayer(linear.in_features, linear.out_features, rank, alpha)")],
        hint='expected float64 (move the LoRALayer',
    ),
    # -- replace / freeze ------------------------------------------------------------------------
    Variant(
        name="replace_top_level_only",
        why="no recursion: only the model's direct nn.Linear children are wrapped (out_head, not the blocks')",
        edits=[Edit(old="        else:\n" + _RECURSE, new="")],
        hint='were not wrapped',
    ),
    Variant(
        name="replace_skips_out_head",
        why="leaves the output head alone (the book adapts it too)",
        edits=[Edit(old="        if isinstance(child, nn.Linear):\n", new="        if isinstance(child, nn.Linear) and name != \"out_head\":\n"),
               Edit(old="        else:\n" + _RECURSE, new="        elif not isinstance(child, nn.Linear):\n" + _RECURSE)],
        hint='were not wrapped: out_head',
    ),
    Variant(
        name="freeze_everything",
        why="freezes every parameter, LoRA included: nothing trains",
        edits=[Edit(old=_UNFREEZE, new="            pass\n")],
        hint='should not be frozen',
    ),
    Variant(
        name="freeze_only_linear_weights",
        why="freezes the wrapped linear layers' weights only: embeddings, norms and biases stay trainable",
        edits=[Edit(old=_FREEZE_ALL,
                    new="    for module in model.modules():\n"
                        "        if isinstance(module, nn.Linear):\n"
                        "            module.weight.requires_grad_(False)\n")],
        hint='should not be trainable',
    ),
    Variant(
        name="freeze_keeps_biases",
        why="'bias' treated like LoRA: every bias stays trainable",
        edits=[Edit(old=_FREEZE_ALL,
                    new="    for name, param in model.named_parameters():\n"
                        "        param.requires_grad_(name.endswith(\"bias\"))\n")],
        hint='should not be trainable',
    ),
    # -- merge_lora ------------------------------------------------------------------------------
    Variant(
        name="merge_no_transpose",
        why="adds A @ B (in, out) to W (out, in) without transposing: wrong for square layers, an error otherwise",
        edits=[Edit(old=_COPY_W, new="merged.weight.copy_(linear.weight + delta)  # (out, in)")],
        hint='A @ B is (in, out)',
    ),
    Variant(
        name="merge_no_scale",
        why="merges A @ B without alpha / rank",
        edits=[Edit(old=_DELTA, new="delta = lora.A @ lora.B  # (in, out)")],
        hint='without alpha / rank',
    ),
    Variant(
        name="merge_drops_bias",
        why="the merged layer has no bias",
        edits=[Edit(old=_MERGE_NEW, new=_MERGE_NEW.replace("bias=linear.bias is not None", "bias=False")),
               Edit(old=_COPY_B, new="")],
        hint="keep the wrapped layer's bias",
    ),
    Variant(
        name="merge_in_place",
        why="adds the update into the wrapped layer's own weight and returns that layer: the input is modified",
        edits=[Edit(old=_MERGE_NEW, new=""),
               Edit(old=_COPY_W, new="linear.weight.add_(delta.T)\n        merged = linear"),
               Edit(old=_COPY_B, new="")],
        hint='must be left untouched',
    ),
    Variant(
        name="merge_float32",
        why="builds the merged nn.Linear in the default dtype: a float64 layer merges into float32",
        edits=[Edit(old=_MERGE_NEW, new="    merged = nn.Linear(linear.in_features, linear.out_features, "
                                        "bias=linear.bias is not None)\n")],
        hint='build the new nn.Linear with dtype',
    ),
    Variant(
        name="merge_no_type_check",
        why="accepts any layer: an nn.Linear fails later with an AttributeError, not a TypeError",
        edits=[Edit(old="    if not isinstance(layer, LinearWithLoRA):\n        raise TypeError(",
                    new="    if False:\n        raise TypeError(")],
        hint='expected a TypeError',
    ),
]

ALTERNATIVES = [
    Variant(
        name="book_linear_with_lora",
        why="the book's LinearWithLoRA: LoRALayer(...) left in the default dtype; only the float64 check, about the "
            "contract's addition, may fail",
        edits=[Edit(old=_TO, new="LoRALayer(linear.in_features, linear.out_features, rank, alpha)")],
        hint="expected float64 (move the LoRALayer",
        may_lose=("lora_float64",),
    ),
    Variant(
        name="product_first",
        why="x @ (A @ B) * (alpha / rank): the (in, out) product first",
        edits=[Edit(old=_FORWARD, new="return x @ (self.A @ self.B) * (self.alpha / self.rank)")],
    ),
    Variant(
        name="explicit_uniform_bound",
        why="U(-1/sqrt(rank), 1/sqrt(rank)) written out instead of kaiming_uniform_",
        edits=[Edit(old=_INIT, new="        bound = 1 / math.sqrt(rank)\n"
                                   "        nn.init.uniform_(self.A, -bound, bound)\n")],
    ),
    Variant(
        name="kaiming_default_gain",
        why="kaiming_uniform_ with its default a = 0 (bound sqrt(6 / rank)): the contract accepts any Kaiming gain",
        edits=[Edit(old=_INIT, new="        nn.init.kaiming_uniform_(self.A)\n")],
    ),
    Variant(
        name="replace_via_named_modules",
        why="collects (parent, name) pairs with named_modules first, then replaces them",
        edits=[Edit(old="    for name, child in model.named_children():\n"
                        "        if isinstance(child, LinearWithLoRA):\n"
                        "            continue  # already adapted\n"
                        "        if isinstance(child, nn.Linear):\n"
                        "            # setattr on the parent replaces the entry (also in nn.Sequential / nn.ModuleList, whose\n"
                        "            # children are named \"0\", \"1\", ...)\n"
                        "            setattr(model, name, LinearWithLoRA(child, rank, alpha))\n"
                        "        else:\n" + _RECURSE,
                    new="    found = [(parent, name, child) for parent in model.modules() if not isinstance(parent, LinearWithLoRA)\n"
                        "             for name, child in parent.named_children() if isinstance(child, nn.Linear)]\n"
                        "    for parent, name, child in found:\n"
                        "        setattr(parent, name, LinearWithLoRA(child, rank, alpha))\n")],
    ),
    Variant(
        name="freeze_by_name",
        why="requires_grad set from the parameter name: True exactly for names ending in lora.A / lora.B",
        edits=[Edit(old=_FREEZE_ALL + "    for module in model.modules():\n"
                        "        if isinstance(module, LoRALayer):\n" + _UNFREEZE,
                    new="    for name, param in model.named_parameters():\n"
                        "        param.requires_grad = name.endswith((\"lora.A\", \"lora.B\"))\n")],
    ),
    Variant(
        name="merge_deepcopy",
        why="copy.deepcopy of the wrapped linear, then the update added to the copy's weight",
        edits=[Edit(old=_MERGE_NEW, new="    import copy\n\n    merged = copy.deepcopy(linear)\n"),
               Edit(old=_COPY_W, new="merged.weight.add_(delta.T)  # (out, in)"),
               Edit(old=_COPY_B, new="")],
    ),
]

CATCHES = {
    "lora_layer_snapshot": "no_rank_scaling",
    "lora_init_distribution": "init_randn",
    "identity_at_init": "lora_multiplied",
    "lora_float64": "lora_dtype_not_matched",
    "replace_all_depths": "replace_top_level_only",
    "freeze_except_lora": "freeze_keeps_biases",
    "finetune_step_changes_only_lora": "freeze_only_linear_weights",
    "merge_lora_weights": "merge_no_transpose",
    "merge_type_error": "merge_no_type_check",
    "lora_forward_matches_reference": "scale_rank_over_alpha",
    "merge_lora_matches_reference": "merge_no_scale",
}
