"""Reference for a12_kv_cache: preallocated key/value buffers with a fill count, SDPA with a mask built
from position comparisons, the reference GPTModel's own modules driven block by block.

Same public names, parameter names and shapes as the solution; built on `reference.a03_attention` and
`reference.a05_gpt_model`.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .a03_attention import MultiHeadAttention
from .a05_gpt_model import GPTModel


class MultiHeadAttentionCached(MultiHeadAttention):
    """The reference MultiHeadAttention plus a cache: (B, nh, context_length, hs) tensors filled up to `_filled`."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int,
                 qkv_bias: bool = False) -> None:
        super().__init__(d_in, d_out, context_length, dropout, num_heads, qkv_bias)
        self._kv: tuple[torch.Tensor, torch.Tensor] | None = None
        self._filled = 0

    def reset_cache(self) -> None:
        self._kv, self._filled = None, 0

    def forward(self, x: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """x: (B, T, d_in) -> (B, T, d_out); queries at positions start..start+T-1 see keys 0..their own."""
        if x.ndim != 3:
            raise ValueError(f"x must have 3 dims, got shape {tuple(x.shape)}")
        T = x.shape[1]
        start = self._filled if use_cache else 0
        if start + T > self.context_length:
            raise ValueError(f"start={start} + T={T} exceeds context_length={self.context_length}")
        q, k, v = (lin(x).unflatten(-1, (self.num_heads, -1)).permute(0, 2, 1, 3)
                   for lin in (self.W_query, self.W_key, self.W_value))  # (B, nh, T, hs)
        if use_cache:
            if self._kv is None:
                shape = (k.shape[0], k.shape[1], self.context_length, k.shape[3])
                self._kv = (k.new_zeros(shape), v.new_zeros(shape))
            self._kv[0][:, :, start:start + T] = k
            self._kv[1][:, :, start:start + T] = v
            self._filled = start + T
            k, v = self._kv[0][:, :, :start + T], self._kv[1][:, :, :start + T]
        q_pos = torch.arange(start, start + T, device=x.device)
        k_pos = torch.arange(start + T, device=x.device)
        allowed = k_pos[None, :] <= q_pos[:, None]  # (T, start + T), True = may attend
        p = self.dropout.p if self.training else 0.0
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        return self.out_proj(ctx.permute(0, 2, 1, 3).flatten(-2))


class GPTModelCached(GPTModel):
    """The reference GPTModel with every block's attention swapped for the cached one (same names)."""

    def __init__(self, cfg: dict) -> None:
        super().__init__(cfg)
        for block in self.trf_blocks:
            old = block.att
            block.att = MultiHeadAttentionCached(
                old.W_query.in_features, old.W_query.out_features, cfg["context_length"], cfg["drop_rate"],
                cfg["n_heads"], cfg["qkv_bias"])
        self.current_pos = 0

    def reset_kv_cache(self) -> None:
        for block in self.trf_blocks:
            block.att.reset_cache()
        self.current_pos = 0

    def forward(self, in_idx: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """in_idx: (B, T) -> (B, T, V); with the cache, positions current_pos .. current_pos + T - 1."""
        T = in_idx.shape[-1]
        C = self.pos_emb.num_embeddings
        first = self.current_pos if use_cache else 0
        if first + T > C:
            raise ValueError(f"current_pos={first} + T={T} exceeds context_length={C}")
        h = self.drop_emb(F.embedding(in_idx, self.tok_emb.weight) + self.pos_emb.weight[first:first + T])
        for block in self.trf_blocks:
            h = h + block.drop_shortcut(block.att(block.norm1(h), use_cache=use_cache))
            h = h + block.drop_shortcut(block.ff(block.norm2(h)))
        if use_cache:
            self.current_pos = first + T
        return F.linear(self.final_norm(h), self.out_head.weight)


@torch.no_grad()
def generate_text_simple_cached(model: nn.Module, idx: torch.Tensor, max_new_tokens: int,
                                context_size: int | None = None, use_cache: bool = True) -> torch.Tensor:
    """Greedy; the tokens still to feed are `pending`; a full cache means a fresh prefill of the window."""
    if idx.ndim != 2:
        raise ValueError(f"idx must be (B, T), got shape {tuple(idx.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 0")
    size = model.pos_emb.num_embeddings if context_size is None else context_size
    if size < 1:
        raise ValueError(f"context_size={size} must be >= 1")
    out = idx.clone()
    if not use_cache:
        for _ in range(max_new_tokens):
            logits = model(out[:, max(0, out.shape[1] - size):])
            out = torch.cat([out, logits[:, -1].topk(1, dim=-1).indices], dim=1)
        return out
    model.reset_kv_cache()
    pending, held = out[:, max(0, out.shape[1] - size):], 0
    for _ in range(max_new_tokens):
        logits = model(pending, use_cache=True)
        held += pending.shape[1]
        new = logits[:, -1].topk(1, dim=-1).indices  # (B, 1)
        out = torch.cat([out, new], dim=1)
        if held + 1 > size:
            model.reset_kv_cache()
            pending, held = out[:, -size:], 0
        else:
            pending = new
    return out
