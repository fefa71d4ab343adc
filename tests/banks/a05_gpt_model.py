"""Mistakes (must lose points) and correct alternatives (must score full marks) for a05_gpt_model."""

from tests.banks.edits import Edit, Variant

_POS = "pos_embeds = self.pos_emb(torch.arange(T, device=in_idx.device))  # (T, E)"
_DROP = "x = self.drop_emb(tok_embeds + pos_embeds)  # (B, T, E)"
_BLOCKS = "x = self.trf_blocks(x)  # (B, T, E)"
_NORM = "        x = self.final_norm(x)  # (B, T, E)\n"
_HEAD = "return self.out_head(x)  # (B, T, V)"
_HEAD_INIT = 'self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)'
_STACK = 'self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])'
_TOO_LONG = ("        if T > self.context_length:\n"
             '            raise ValueError(f"in_idx has T={T} tokens, more than context_length={self.context_length}")\n')
_CROP = "idx_cond = idx[:, -context_size:]  # (B, <= context_size): the most recent tokens"
_NEXT = "next_id = torch.argmax(logits[:, -1, :], dim=-1, keepdim=True)  # (B, 1)"
_NO_GRAD = "with torch.no_grad():  # generation never back-propagates: no graph to keep"

MUTANTS = [
    Variant(
        name="no_positional_embedding",
        why="pos_emb created but never added: the model cannot tell positions apart",
        edits=[Edit(old=_DROP, new="x = self.drop_emb(tok_embeds)  # (B, T, E)")],
        hint="without position embeddings",
    ),
    Variant(
        name="pos_emb_by_token_ids",
        why="pos_emb indexed by the token ids instead of the positions 0..T-1",
        edits=[Edit(old=_POS, new="pos_embeds = self.pos_emb(in_idx)  # (B, T, E)")],
        hint="torch.arange(T)",
    ),
    Variant(
        name="positions_start_at_one",
        why="positions 1..T instead of 0..T-1 (fails outright at T = context_length)",
        edits=[Edit(old=_POS, new="pos_embeds = self.pos_emb(torch.arange(1, T + 1, device=in_idx.device))  # (T, E)")],
        hint="torch.arange(T)",
    ),
    Variant(
        name="token_embeddings_scaled",
        why="token embeddings multiplied by sqrt(emb_dim), as in the original Transformer (not GPT-2)",
        edits=[Edit(old="tok_embeds = self.tok_emb(in_idx)  # (B, T, E)",
                    new="tok_embeds = self.tok_emb(in_idx) * self.tok_emb.embedding_dim ** 0.5  # (B, T, E)")],
        hint="multiplied by sqrt(emb_dim)",
    ),
    Variant(
        name="final_norm_skipped",
        why="final_norm created but the blocks' output goes straight to out_head",
        edits=[Edit(old=_NORM, new="")],
        hint="skips final_norm",
    ),
    Variant(
        name="softmax_on_logits",
        why="returns probabilities instead of logits",
        edits=[Edit(old=_HEAD, new="return torch.softmax(self.out_head(x), dim=-1)  # (B, T, V)")],
        hint="softmax of the logits",
    ),
    Variant(
        name="out_head_with_bias",
        why="out_head = nn.Linear(E, V) with its default bias",
        edits=[Edit(old=_HEAD_INIT, new=_HEAD_INIT.replace(", bias=False", ""))],
        hint="out_head has a bias",
    ),
    Variant(
        name="weight_tying",
        why="out_head shares tok_emb's weight (GPT-2's tying): 124,412,160 parameters instead of 163,009,536",
        edits=[Edit(old=_HEAD_INIT, new=_HEAD_INIT + "\n        self.out_head.weight = self.tok_emb.weight")],
        hint="weight tying",
    ),
    Variant(
        name="one_block_repeated",
        why="the same TransformerBlock object n_layers times: the layers share their weights",
        edits=[Edit(old=_STACK, new='self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg)] * cfg["n_layers"])')],
        hint="create a new TransformerBlock(cfg) for each layer",
    ),
    Variant(
        name="drop_emb_not_applied",
        why="drop_emb created but never called",
        edits=[Edit(old=_DROP, new="x = tok_embeds + pos_embeds  # (B, T, E)")],
        hint="drop_emb is never applied",
    ),
    Variant(
        name="drop_emb_after_blocks",
        why="dropout applied to the blocks' output instead of the embeddings",
        edits=[Edit(old=_DROP, new="x = tok_embeds + pos_embeds  # (B, T, E)"),
               Edit(old=_BLOCKS, new="x = self.drop_emb(self.trf_blocks(x))  # (B, T, E)")],
        hint="after the transformer blocks",
    ),
    Variant(
        name="drop_emb_on_token_embeddings_only",
        why="dropout on tok_emb before the position embeddings are added",
        edits=[Edit(old=_DROP, new="x = self.drop_emb(tok_embeds) + pos_embeds  # (B, T, E)")],
        hint="token embeddings only",
    ),
    Variant(
        name="functional_dropout_always_on",
        why="F.dropout(x, p) without training=self.training: still drops in eval mode",
        edits=[Edit(old=_DROP, new="x = torch.nn.functional.dropout(tok_embeds + pos_embeds, self.drop_emb.p)")],
        hint="F.dropout(x, p) is always on",
    ),
    Variant(
        name="no_error_for_long_input",
        why="no T > context_length check: pos_emb fails with a bare IndexError",
        edits=[Edit(old=_TOO_LONG, new="")],
        hint="compare T = in_idx.shape[1] with context_length",
    ),
    Variant(
        name="generate_without_cropping",
        why="the whole sequence goes to the model, which fails once it outgrows context_length",
        edits=[Edit(old=_CROP, new="idx_cond = idx")],
        hint="never cropped",
    ),
    Variant(
        name="generate_crops_first_tokens",
        why="keeps the first context_size tokens instead of the last",
        edits=[Edit(old=_CROP, new="idx_cond = idx[:, :context_size]")],
        hint="first context_size tokens",
    ),
    Variant(
        name="generate_first_position_logits",
        why="next token from the logits of position 0 instead of the last position",
        edits=[Edit(old=_NEXT, new=_NEXT.replace("logits[:, -1, :]", "logits[:, 0, :]"))],
        hint="first position",
    ),
    Variant(
        name="generate_samples",
        why="samples from the softmax instead of taking the argmax",
        edits=[Edit(old=_NEXT, new="next_id = torch.multinomial(torch.softmax(logits[:, -1, :], dim=-1), 1)")],
    ),
    Variant(
        name="generate_argmax_over_batch",
        why="argmax over dim 0 (the batch) instead of the vocabulary",
        edits=[Edit(old=_NEXT, new="next_id = torch.argmax(logits[:, -1, :], dim=0, keepdim=True)")],
    ),
    Variant(
        name="generate_without_no_grad",
        why="the torch.no_grad() block left out: the model runs with autograd recording",
        edits=[Edit(old=_NO_GRAD, new="if True:")],
        hint="torch.no_grad()",
    ),
    Variant(
        name="generate_with_gradients",
        why="no torch.no_grad(): every model call builds an autograd graph",
        edits=[Edit(old=_NO_GRAD, new="with torch.enable_grad():")],
        hint="torch.no_grad()",
    ),
]

ALTERNATIVES = [
    Variant(
        name="book_gelu_in_a04",
        why="the a05 solution on an a04 whose GELU is the book's: sqrt(2/pi) as a float32 tensor, "
            "torch.sqrt(torch.tensor(2.0 / torch.pi)), 3e-8 off (compare.GELU_FLOAT64)",
        edits=[],
        other={"a04_gpt_blocks": [Edit(old="inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)",
                                       new="inner = torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * "
                                           "torch.pow(x, 3))")]},
    ),
    Variant(
        name="positions_by_slicing",
        why="the first T rows of the position table, no lookup",
        edits=[Edit(old=_POS, new="pos_embeds = self.pos_emb.weight[:T]  # (T, E)")],
    ),
    Variant(
        name="positions_expanded_per_row",
        why="a (B, T) position index, as in the book's batched variants",
        edits=[Edit(old=_POS, new="pos_ids = torch.arange(T, device=in_idx.device).unsqueeze(0).expand_as(in_idx)\n"
                                  "        pos_embeds = self.pos_emb(pos_ids)  # (B, T, E)")],
    ),
    Variant(
        name="blocks_in_a_module_list",
        why="nn.ModuleList and a loop (same parameter names trf_blocks.0..., same order)",
        edits=[Edit(old=_STACK, new='self.trf_blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg["n_layers"])])'),
               Edit(old=_BLOCKS, new="for block in self.trf_blocks:\n            x = block(x)  # (B, T, E)")],
    ),
    Variant(
        name="functional_dropout_with_training_flag",
        why="F.dropout with training=self.training: the same as calling the module",
        edits=[Edit(old=_DROP, new="x = torch.nn.functional.dropout(tok_embeds + pos_embeds, self.drop_emb.p, "
                                   "self.training)")],
    ),
    Variant(
        name="generate_topk_and_explicit_start",
        why="topk(1) for the argmax, and an explicit start index for the crop",
        edits=[Edit(old=_CROP, new="idx_cond = idx[:, max(0, idx.shape[1] - context_size):]"),
               Edit(old=_NEXT, new="next_id = logits[:, -1, :].topk(1, dim=-1).indices  # (B, 1)")],
    ),
    Variant(
        name="generate_inference_mode_and_max",
        why="torch.inference_mode() and max(...).indices",
        edits=[Edit(old=_NO_GRAD, new="with torch.inference_mode():"),
               Edit(old=_NEXT, new="next_id = logits[:, -1, :].max(dim=-1, keepdim=True).indices  # (B, 1)")],
    ),
]

# Each check of the suite, and a mistake above that it must catch: every check earns its points.
CATCHES = {
    "gpt_snapshot": "final_norm_skipped",
    "gpt_full_context_snapshot": "positions_start_at_one",
    "model_parameters": "out_head_with_bias",
    "gpt2_124m_parameter_count": "weight_tying",
    "forward_composes_the_pieces": "no_positional_embedding",
    "forward_is_causal": "out_head_with_bias",
    "drop_emb_on_summed_embeddings": "drop_emb_after_blocks",
    "eval_is_deterministic": "functional_dropout_always_on",
    "rejects_too_long_input": "no_error_for_long_input",
    "generate_is_greedy": "generate_crops_first_tokens",
    "generate_crops_context": "generate_without_cropping",
    "generate_without_gradients": "generate_with_gradients",
    "generate_with_your_gpt": "generate_first_position_logits",
    "gpt_matches_reference": "token_embeddings_scaled",
    "gpt_float32_matches_reference": "final_norm_skipped",
    "generate_matches_reference": "generate_samples",
}
