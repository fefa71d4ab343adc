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

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
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
        # YOUR CODE HERE
        raise NotImplementedError("a12: MultiHeadAttentionCached.__init__")

    def reset_cache(self) -> None:
        """Forget every cached key and value."""
        # YOUR CODE HERE
        raise NotImplementedError("a12: MultiHeadAttentionCached.reset_cache")

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
        # YOUR CODE HERE
        raise NotImplementedError("a12: MultiHeadAttentionCached.forward")


class TransformerBlockCached(nn.Module):
    """a04's TransformerBlock with the cached attention: same submodule names (att, ff, norm1, norm2)."""

    def __init__(self, cfg: dict) -> None:
        """Create att (MultiHeadAttentionCached), ff (a04 FeedForward), norm1, norm2 (a04 LayerNorm)
        and drop_shortcut, from cfg as in a04."""
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a12: TransformerBlockCached.__init__")

    def forward(self, x: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        """Pre-LayerNorm attention and feed-forward, each with a residual; use_cache goes to att.

        Args:
            x: (B, T, E).

        Returns:
            (B, T, E).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a12: TransformerBlockCached.forward")


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
        # YOUR CODE HERE
        raise NotImplementedError("a12: GPTModelCached.__init__")

    def reset_kv_cache(self) -> None:
        """Empty every block's cache and start the positions at 0 again."""
        # YOUR CODE HERE
        raise NotImplementedError("a12: GPTModelCached.reset_kv_cache")

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
        # YOUR CODE HERE
        raise NotImplementedError("a12: GPTModelCached.forward")


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
    # YOUR CODE HERE
    raise NotImplementedError("a12: generate_text_simple_cached")
