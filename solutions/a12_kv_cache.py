"""a12_kv_cache: generation with a key/value cache.

Follows the book's bonus material on KV caches (Build a Large Language Model (From Scratch),
ch04 bonus "KV cache"). There the classes keep their chapter names, `MultiHeadAttention` and
`GPTModel`; here they are `MultiHeadAttentionCached` and `GPTModelCached`, so that they can sit
next to a03's and a05's classes. Their parameters have the same names as a03's
`MultiHeadAttention` and a05's `GPTModel`, so state dicts load from one into the other.

Why a cache. a05's `generate_text_simple` runs the whole sequence through the model for every new
token, although the keys and values of the old tokens never change (causal attention: a token's
key and value depend only on it and the tokens before it). A KV cache keeps them:

1. prefill: the prompt goes through the model once; every attention layer stores its keys and
   values;
2. decode: each step sends only the newest token; its query attends to the stored keys and values
   plus its own, which are appended to the cache.

Two things must follow the cache: the position of the new token (pos_emb row `cached + t`, not `t`)
and the causal mask (query `cached + t` sees keys 0 .. cached + t). With learned absolute position
embeddings the window cannot slide: once `context_size` tokens are cached, the next window starts one
token later and every position shifts, so the cache is thrown away and the last `context_size`
tokens are prefilled again (`generate_text_simple_cached` must then return exactly what a05's
`generate_text_simple` returns).

This module imports `LayerNorm` and `FeedForward` from your a04_gpt_blocks.py.
Shape letters: B = batch size, T = number of new tokens, L = number of cached tokens,
nh = num_heads, hs = head_dim, E = emb_dim, V = vocab_size.
"""

import torch
import torch.nn as nn

from a04_gpt_blocks import FeedForward, LayerNorm


class MultiHeadAttentionCached(nn.Module):
    """a03's causal multi-head attention, plus a key/value cache (the book's bonus `MultiHeadAttention`)."""

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        """Create what a03's MultiHeadAttention creates, and an empty cache.

        Creates:
            W_query, W_key, W_value (`nn.Linear(d_in, d_out, bias=qkv_bias)`), out_proj
            (`nn.Linear(d_out, d_out)`), dropout, and the (context_length, context_length) bool
            `mask` buffer (persistent=False), exactly as in a03.
            cache_k, cache_v: None. Plain attributes, not buffers (the book registers them as
                non-persistent buffers, which is fine too): they must never enter the state dict.

        Raises:
            ValueError: a size is not positive, d_out % num_heads != 0, or dropout is outside [0, 1).
        """
        super().__init__()
        ### BEGIN SOLUTION
        if min(d_in, d_out, context_length, num_heads) <= 0:
            raise ValueError(f"sizes must be positive, got d_in={d_in}, d_out={d_out}, "
                             f"context_length={context_length}, num_heads={num_heads}")
        if d_out % num_heads != 0:
            raise ValueError(f"d_out={d_out} is not divisible by num_heads={num_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
        self.d_out, self.num_heads, self.head_dim = d_out, num_heads, d_out // num_heads
        self.context_length = context_length
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        self.cache_k: torch.Tensor | None = None
        self.cache_v: torch.Tensor | None = None
        ### END SOLUTION

    def reset_cache(self) -> None:
        """Forget every cached key and value."""
        ### BEGIN SOLUTION
        self.cache_k, self.cache_v = None, None
        ### END SOLUTION

    def forward(self, x: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """Causal attention over the cached tokens and the new ones.

        With use_cache: the L cached tokens are positions 0 .. L-1 and x holds positions
        L .. L+T-1; the new keys/values are appended after the cached ones (cache_k becomes
        (B, nh, L + T, hs)), and new token t attends to keys 0 .. L + t (the mask rows
        L .. L+T-1). Without use_cache: plain a03 attention over x alone; the cache is neither
        read nor written.

        Args:
            x: (B, T, d_in).
            use_cache: read and extend the cache.

        Returns:
            (B, T, d_out).

        Raises:
            ValueError: x is not 3-D, or the tokens would pass context_length
                (L + T > context_length with the cache, T > context_length without; name the numbers).
        """
        ### BEGIN SOLUTION
        if x.dim() != 3:
            raise ValueError(f"x must have shape (B, T, d_in), got {tuple(x.shape)}")
        B, T, _ = x.shape
        L = self.cache_k.shape[2] if use_cache and self.cache_k is not None else 0
        if L + T > self.context_length:
            raise ValueError(f"{L} cached + T={T} new tokens exceed context_length={self.context_length}")
        nh, hs = self.num_heads, self.head_dim
        queries = self.W_query(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        keys = self.W_key(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        values = self.W_value(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        if use_cache:
            if self.cache_k is not None:  # old tokens first, then the new ones
                keys = torch.cat([self.cache_k, keys], dim=2)  # (B, nh, L + T, hs)
                values = torch.cat([self.cache_v, values], dim=2)  # (B, nh, L + T, hs)
            self.cache_k, self.cache_v = keys, values

        attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, L + T)
        # new token t is position L + t: mask row L + t, columns of all L + T keys
        attn_scores = attn_scores.masked_fill(self.mask[L: L + T, : L + T], float("-inf"))
        attn_weights = torch.softmax(attn_scores / hs**0.5, dim=-1)  # (B, nh, T, L + T)
        attn_weights = self.dropout(attn_weights)
        context = (attn_weights @ values).transpose(1, 2).reshape(B, T, self.d_out)  # (B, T, d_out)
        return self.out_proj(context)
        ### END SOLUTION


class TransformerBlockCached(nn.Module):
    """a04's TransformerBlock with the cached attention: same submodule names (att, ff, norm1, norm2)."""

    def __init__(self, cfg: dict) -> None:
        """Create att (MultiHeadAttentionCached), ff (a04 FeedForward), norm1, norm2 (a04 LayerNorm)
        and drop_shortcut, from cfg as in a04."""
        super().__init__()
        ### BEGIN SOLUTION
        E = cfg["emb_dim"]
        self.att = MultiHeadAttentionCached(E, E, cfg["context_length"], cfg["drop_rate"], cfg["n_heads"],
                                            cfg["qkv_bias"])
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(E)
        self.norm2 = LayerNorm(E)
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])
        ### END SOLUTION

    def forward(self, x: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """Pre-LayerNorm attention and feed-forward, each with a residual; use_cache goes to att.

        Args:
            x: (B, T, E).

        Returns:
            (B, T, E).
        """
        ### BEGIN SOLUTION
        x = x + self.drop_shortcut(self.att(self.norm1(x), use_cache=use_cache))
        return x + self.drop_shortcut(self.ff(self.norm2(x)))
        ### END SOLUTION


class GPTModelCached(nn.Module):
    """a05's GPTModel whose forward can use the blocks' KV caches (the book's bonus `GPTModel`)."""

    def __init__(self, cfg: dict) -> None:
        """Create the layers under a05's names, so that state dicts are interchangeable.

        Creates:
            tok_emb, pos_emb, drop_emb, final_norm, out_head (no bias) as in a05.
            trf_blocks: `nn.ModuleList` of n_layers `TransformerBlockCached(cfg)` (a ModuleList
                and not a Sequential, because each block takes use_cache; the parameter names are
                the same: `trf_blocks.0.att.W_query.weight`, ...).
            current_pos: 0, how many positions the caches hold (a plain int, not a buffer).

        Raises:
            TypeError: cfg is not a dict.
            ValueError: a key of cfg is missing (name it).
        """
        super().__init__()
        ### BEGIN SOLUTION
        if not isinstance(cfg, dict):
            raise TypeError(f"GPTModelCached: cfg must be a dict, got {type(cfg).__name__}")
        for key in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias"):
            if key not in cfg:
                raise ValueError(f"GPTModelCached: cfg is missing key {key!r}")
        self.context_length = cfg["context_length"]
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.ModuleList([TransformerBlockCached(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        self.current_pos = 0
        ### END SOLUTION

    def reset_kv_cache(self) -> None:
        """Empty every block's cache and start the positions at 0 again."""
        ### BEGIN SOLUTION
        for block in self.trf_blocks:
            block.att.reset_cache()
        self.current_pos = 0
        ### END SOLUTION

    def forward(self, in_idx: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """Logits for the new tokens; with use_cache their positions follow the cached ones.

        With use_cache, token t of in_idx is position current_pos + t (pos_emb row
        current_pos + t), and current_pos grows by T. Without use_cache, positions are 0 .. T-1,
        the caches are neither read nor written, and current_pos does not change.

        Args:
            in_idx: (B, T) int64 token ids.
            use_cache: use and extend the blocks' caches.

        Returns:
            (B, T, V) logits.

        Raises:
            ValueError: in_idx is not 2-D, or the positions would pass context_length
                (current_pos + T with the cache, T without; name the numbers). Raise before
                changing any cache.
        """
        ### BEGIN SOLUTION
        if in_idx.dim() != 2:
            raise ValueError(f"in_idx must have shape (B, T), got {tuple(in_idx.shape)}")
        T = in_idx.shape[1]
        start = self.current_pos if use_cache else 0
        if start + T > self.context_length:
            raise ValueError(f"positions {start}..{start + T - 1} are past context_length={self.context_length} "
                             f"({start} cached, T={T})")
        positions = torch.arange(start, start + T, device=in_idx.device)  # (T,)
        x = self.drop_emb(self.tok_emb(in_idx) + self.pos_emb(positions))  # (B, T, E)
        for block in self.trf_blocks:
            x = block(x, use_cache=use_cache)  # (B, T, E)
        if use_cache:
            self.current_pos += T
        return self.out_head(self.final_norm(x))  # (B, T, V)
        ### END SOLUTION


def generate_text_simple_cached(model: GPTModelCached, idx: torch.Tensor, max_new_tokens: int,
                                context_size: int | None = None, use_cache: bool = True) -> torch.Tensor:
    """Greedy decoding like a05's generate_text_simple, with the KV cache.

    With use_cache: reset the cache (an earlier prompt must not leak in), prefill with the last
    `context_size` tokens of idx, then for each new token: append the argmax of the last logits;
    if the cache already holds context_size tokens, reset it and prefill the last context_size
    tokens again (the window slid, every position changed); otherwise run the model on the new
    token alone. Needing no model call after the last token is fine (the book makes one more).
    Without use_cache: exactly a05's loop (window of the last context_size tokens, no cache).
    Runs under torch.no_grad() and leaves the model's train/eval mode alone (the book calls
    model.eval() here; the grader passes a model in eval mode either way).

    The book's version stops working once the sequence passes context_length; the re-prefill
    is what this contract adds, so that the result always equals a05's.

    Args:
        model: a GPTModelCached (forward(in_idx, use_cache), reset_kv_cache(), pos_emb).
        idx: (B, T) int64 prompt ids, not modified.
        max_new_tokens: how many tokens to append, >= 0.
        context_size: the most tokens the model sees; None means model.pos_emb.num_embeddings.
        use_cache: False gives the plain, uncached loop.

    Returns:
        (B, T + max_new_tokens) int64.

    Raises:
        ValueError: idx is not 2-D, max_new_tokens < 0 or context_size < 1.
    """
    ### BEGIN SOLUTION
    if idx.dim() != 2:
        raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got max_new_tokens={max_new_tokens}")
    if context_size is None:
        context_size = model.pos_emb.num_embeddings
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got context_size={context_size}")
    with torch.no_grad():
        if not use_cache:
            for _ in range(max_new_tokens):
                logits = model(idx[:, -context_size:])  # (B, t, V)
                idx = torch.cat([idx, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
            return idx
        if max_new_tokens == 0:
            return idx
        model.reset_kv_cache()
        logits = model(idx[:, -context_size:], use_cache=True)  # prefill: (B, t, V)
        cached = min(idx.shape[1], context_size)
        for step in range(max_new_tokens):
            next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)
            if step == max_new_tokens - 1:
                break  # the logits after the last token are never used
            if cached == context_size:  # window full: positions shift, prefill again
                model.reset_kv_cache()
                logits = model(idx[:, -context_size:], use_cache=True)  # (B, context_size, V)
            else:
                logits = model(next_id, use_cache=True)  # (B, 1, V): one position through the model
                cached += 1
    return idx
    ### END SOLUTION
