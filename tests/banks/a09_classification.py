"""Mistakes (must lose points) and correct alternatives (must score full marks) for a09_classification.

Trimmed to 25 variants (every one costs a grading in CI): dropped as close cousins of kept ones were
ids_int32 (label_as_float), mean_over_positions (first_position), first_pad_position (counts_pads),
final_norm_frozen (first_block_unfrozen), max_length_from_first_text (no_truncation), loss_sum and
accuracy_empty_is_zero; their hints stay in autograder/mistakes/a09_classification.py.
"""

from tests.banks.edits import Edit, Variant

_PAD_ROW = "            self.rows.append(ids + [pad_token_id] * (max_length - len(ids)))\n"
_TRUNC = "            ids = ids[:max_length]  # truncate first, then pad what is left\n"
_ITEM = ("        return (torch.tensor(self.rows[index], dtype=torch.long),\n"
         "                torch.tensor(self.labels[index], dtype=torch.long))\n")
_MISMATCH = ('        if len(texts) != len(labels):\n'
             '            raise ValueError(f"texts and labels must have the same length, got {len(texts)} texts and "\n'
             '                             f"{len(labels)} labels")\n')
_FREEZE = "    for param in model.parameters():\n        param.requires_grad = False\n"
_HEAD = ("    model.out_head = nn.Linear(model.out_head.in_features, num_classes, bias=True, device=old.device,\n"
         "                               dtype=old.dtype)  # new parameters: trainable\n")
_LAST_BLOCK = "    for param in model.trf_blocks[-1].parameters():\n        param.requires_grad = True\n"
_NORM = "    for param in model.final_norm.parameters():\n        param.requires_grad = True\n"
_LENGTHS = "    lengths = (input_ids != pad_token_id).sum(dim=1)  # (B,): real tokens per row\n"
_PICK = "    return logits[rows, lengths.to(logits.device) - 1]  # (B, C)\n"
_LAST = "        return logits[:, -1, :]  # (B, C)\n"
_CE = "    return F.cross_entropy(logits, target_batch)\n"
_COUNT = ("            correct += int((predicted == target_batch).sum())\n"
          "            seen += predicted.shape[0]\n")

MUTANTS = [
    # -- dataset --------------------------------------------------------------------------------
    Variant(
        name="left_padding",
        why="pads on the left: the last position is then always a real token, but rows no longer line up with the book",
        edits=[Edit(old=_PAD_ROW, new="            self.rows.append([pad_token_id] * (max_length - len(ids)) + ids)\n")],
        hint="right",
    ),
    Variant(
        name="no_truncation",
        why="pads short texts but never cuts long ones: rows longer than max_length",
        edits=[Edit(old=_TRUNC, new="")],
        hint="truncat",
    ),
    Variant(
        name="pad_id_hardcoded",
        why="pads with 50256 whatever pad_token_id says",
        edits=[Edit(old=_PAD_ROW, new="            self.rows.append(ids + [50256] * (max_length - len(ids)))\n")],
        hint="pad_token_id",
    ),
    Variant(
        name="label_as_float",
        why="the label becomes a float32 tensor (cross-entropy then reads it as probabilities or fails)",
        edits=[Edit(old=_ITEM, new="        return (torch.tensor(self.rows[index], dtype=torch.long),\n"
                                   "                torch.tensor(self.labels[index], dtype=torch.float32))\n")],
        hint="int64",
    ),
    Variant(
        name="no_length_check",
        why="texts and labels of different lengths accepted: items silently pair up wrong or run out",
        edits=[Edit(old=_MISMATCH, new="")],
        hint="ValueError",
    ),
    # -- prepare_for_classification ---------------------------------------------------------------
    Variant(
        name="head_without_bias",
        why="the new head copies out_head's bias=False",
        edits=[Edit(old=_HEAD, new=_HEAD.replace("bias=True", "bias=False"))],
        hint="bias",
    ),
    Variant(
        name="head_default_dtype",
        why="the new head is created in float32 on the CPU, whatever the model's dtype and device",
        edits=[Edit(old=_HEAD, new="    model.out_head = nn.Linear(model.out_head.in_features, num_classes)\n")],
        hint="dtype",
    ),
    Variant(
        name="nothing_frozen",
        why="skips the freezing: the whole model is trained",
        edits=[Edit(old=_FREEZE, new="")],
        hint="frozen",
    ),
    Variant(
        name="first_block_unfrozen",
        why="unfreezes trf_blocks[0] instead of the last block",
        edits=[Edit(old=_LAST_BLOCK, new=_LAST_BLOCK.replace("[-1]", "[0]"))],
        hint="last transformer block",
    ),
    Variant(
        name="head_frozen",
        why="replaces the head first, then freezes everything: the new head is frozen too",
        edits=[Edit(old=_FREEZE, new=""),
                Edit(old=_HEAD, new=_HEAD + _FREEZE)],
        hint="out_head",
    ),
    Variant(
        name="prepare_returns_none",
        why="changes the model in place but returns nothing",
        edits=[Edit(old="        param.requires_grad = True\n    return model\n",
                    new="        param.requires_grad = True\n")],
        hint="return",
    ),
    # -- selecting the position -------------------------------------------------------------------
    Variant(
        name="first_position",
        why="reads logits[:, 0, :]: the first token has seen nothing else",
        edits=[Edit(old=_LAST, new="        return logits[:, 0, :]  # (B, C)\n")],
        hint="last position",
    ),
    Variant(
        name="pad_token_ignored",
        why="always the last position, even with pad_token_id",
        edits=[Edit(old="    if pad_token_id is None:\n        return logits[:, -1, :]  # (B, C)\n",
                    new="    if True:\n        return logits[:, -1, :]  # (B, C)\n")],
        hint="last non-padding",
    ),
    Variant(
        name="counts_pads",
        why="counts the padding tokens instead of the real ones",
        edits=[Edit(old=_LENGTHS, new="    lengths = (input_ids == pad_token_id).sum(dim=1)  # (B,)\n")],
        hint="last non-padding",
    ),
    # -- loss and accuracy ------------------------------------------------------------------------
    Variant(
        name="softmax_before_cross_entropy",
        why="feeds probabilities to F.cross_entropy, which applies log-softmax again",
        edits=[Edit(old=_CE, new="    return F.cross_entropy(torch.softmax(logits, dim=-1), target_batch)\n")],
        hint="softmax",
    ),
    Variant(
        name="accuracy_mean_of_batches",
        why="averages the per-batch accuracies: a short last batch counts as much as a full one",
        edits=[Edit(old=_COUNT, new="            correct += float((predicted == target_batch).float().mean())\n"
                                    "            seen += 1\n")],
        hint="examples",
    ),
    Variant(
        name="accuracy_not_eval_mode",
        why="never switches to eval mode: dropout noise in the predictions",
        edits=[Edit(old="    model.eval()\n    correct, seen = 0, 0\n", new="    correct, seen = 0, 0\n")],
        hint="eval mode",
    ),
    Variant(
        name="accuracy_with_gradients",
        why="no torch.no_grad(): builds autograd graphs for nothing",
        edits=[Edit(old="    with torch.no_grad():\n        for i,", new="    if True:\n        for i,")],
        hint="no_grad",
    ),
    Variant(
        name="accuracy_leaves_eval_mode",
        why="switches to eval mode and does not switch back (the contract asks to restore the mode)",
        edits=[Edit(old="    model.train(was_training)\n", new="")],
        hint="mode",
    ),
    Variant(
        name="accuracy_num_batches_ignored",
        why="always runs over the whole loader",
        edits=[Edit(old="            if i == n:\n                break\n", new="")],
        hint="num_batches",
    ),
]

ALTERNATIVES = [
    Variant(
        name="dataset_tensor_rows",
        why="a (N, max_length) tensor filled with the pad id, each row's ids copied into its front",
        edits=[Edit(old="        self.rows = []\n        for ids in encoded:\n" + _TRUNC + _PAD_ROW,
                    new="        self.rows = torch.full((len(encoded), max_length), pad_token_id, dtype=torch.long)\n"
                        "        for i, ids in enumerate(encoded):\n"
                        "            kept = ids[:max_length]\n"
                        "            self.rows[i, :len(kept)] = torch.tensor(kept, dtype=torch.long)\n"),
               Edit(old="        return (torch.tensor(self.rows[index], dtype=torch.long),\n",
                    new="        return (self.rows[index].clone(),\n")],
    ),
    Variant(
        name="prepare_with_requires_grad_",
        why="module.requires_grad_() on the whole model and on the three trainable parts; head moved with .to()",
        edits=[Edit(old=_FREEZE, new="    model.requires_grad_(False)\n"),
               Edit(old=_HEAD, new="    model.out_head = nn.Linear(old.shape[1], num_classes).to(old.device, old.dtype)\n"),
               Edit(old=_LAST_BLOCK + _NORM, new="    model.trf_blocks[-1].requires_grad_(True)\n"
                                                "    model.final_norm.requires_grad_(True)\n")],
    ),
    Variant(
        name="last_token_gather",
        why="gathers the last real position with torch.gather instead of advanced indexing",
        edits=[Edit(old=_PICK, new="    index = (lengths - 1).to(logits.device).view(-1, 1, 1).expand(-1, 1, logits.shape[-1])\n"
                                   "    return logits.gather(1, index).squeeze(1)  # (B, C)\n")],
    ),
    Variant(
        name="accuracy_book_loop",
        why="the book's loop: `if i < num_batches: ... else: break`, .item() counts, inference_mode",
        edits=[Edit(old="    with torch.no_grad():\n        for i, (input_batch, target_batch) in enumerate(data_loader):\n"
                        "            if i == n:\n                break\n",
                    new="    with torch.inference_mode():\n"
                        "        for i, (input_batch, target_batch) in enumerate(data_loader):\n"
                        "            if i >= n:\n                break\n"),
               Edit(old=_COUNT, new="            correct += (predicted == target_batch).sum().item()\n"
                                    "            seen += target_batch.shape[0]\n")],
    ),
    Variant(
        name="accuracy_as_in_the_book",
        why="the book's calc_accuracy_loader: model.eval() at the top and never switched back, no case for an empty "
            "loader (ZeroDivisionError); loses only the check on what the contract adds",
        edits=[Edit(old='    if n == 0:\n        return float("nan")\n    was_training = model.training\n    model.eval()\n',
                    new="    model.eval()\n"),
               Edit(old="    model.train(was_training)\n", new="")],
        may_lose=("accuracy_restores_mode_and_empty_nan",),
        hint="addition to the book",
    ),
]

CATCHES = {
    "dataset_rows": "left_padding",
    "dataset_errors": "no_length_check",
    "prepare_trainable_set": "first_block_unfrozen",
    "prepare_dtype_device": "head_default_dtype",
    "loss_at_last_position": "first_position",
    "loss_at_last_real_token": "counts_pads",
    "accuracy_counts_examples": "accuracy_mean_of_batches",
    "accuracy_eval_mode_no_grad": "accuracy_not_eval_mode",
    "accuracy_restores_mode_and_empty_nan": "accuracy_leaves_eval_mode",
    "loss_matches_reference": "softmax_before_cross_entropy",
    "loss_last_real_token_matches_reference": "pad_token_ignored",
    "accuracy_matches_reference": "accuracy_mean_of_batches",
    "reference_snapshot": "counts_pads",
}
