"""a05_gpt_model: the whole GPT, and a first way to make it talk.

A GPT turns a batch of token ids into one score per vocabulary entry at every position:
the scores at position t say how likely each token is to come next, after tokens 0..t.

1. `GPTModel`:
   - `tok_emb` looks up a learned vector for each token id, and `pos_emb` a learned
     vector for each position 0..T-1; their sum is what the first block sees (attention
     itself does not know where a token sits: the position vector tells it);
   - `drop_emb` drops elements of that sum while training;
   - `trf_blocks`: n_layers a04 `TransformerBlock`s, one after the other;
   - `final_norm` (an a04 `LayerNorm`) and `out_head`, a linear map from emb_dim to
     vocab_size without a bias, give the logits.
2. `generate_text_simple`: greedy decoding. Feed the sequence in, take the most likely
   next token at the last position, append it, repeat. The model accepts at most
   context_length tokens, so only the last `context_size` tokens are fed in each time.

Both work for float32 and float64 weights (`model.to(torch.float64)`) and on any device.

This module builds on your own earlier work: it imports `TransformerBlock` and `LayerNorm`
from your a04_gpt_blocks.py (which imports your a03_attention.py), so a mistake there shows
up here too.

`cfg` is a plain dict with keys vocab_size, context_length, emb_dim, n_heads, n_layers,
drop_rate, qkv_bias. Shape letters: B = batch size, T = number of tokens, E = emb_dim,
V = vocab_size.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch
from a04_gpt_blocks import LayerNorm, TransformerBlock
from torch import nn

# The sizes GPTModel reads itself (the blocks check the rest of cfg).
_SIZE_KEYS = ("vocab_size", "context_length", "emb_dim", "n_layers")


def _check_cfg(cfg: dict) -> None:
    """Given (not a task): `cfg` must be a dict holding positive int sizes and a drop_rate.

    Raises:
        TypeError: `cfg` is not a dict, or a size is not an int.
        ValueError: a key is missing, or a size is not positive.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"GPTModel: cfg must be a dict, got {type(cfg).__name__}")
    for key in (*_SIZE_KEYS, "drop_rate"):
        if key not in cfg:
            raise ValueError(f"GPTModel: cfg is missing key {key!r}")
    for key in _SIZE_KEYS:
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"GPTModel: cfg[{key!r}] must be an int, got {value!r}")
        if value <= 0:
            raise ValueError(f"GPTModel: cfg[{key!r}] must be positive, got {value}")


def _check_ids(in_idx: torch.Tensor) -> None:
    """Given (not a task): token ids must be a 2-D integer tensor (B, T)."""
    if not isinstance(in_idx, torch.Tensor) or in_idx.dtype.is_floating_point or in_idx.dtype == torch.bool:
        raise TypeError(f"in_idx must be an integer tensor of token ids, got {getattr(in_idx, 'dtype', in_idx)!r}")
    if in_idx.dim() != 2:
        raise ValueError(f"in_idx must have shape (B, T), got {tuple(in_idx.shape)}")


class GPTModel(nn.Module):
    """GPT-2 style language model: embeddings, transformer blocks, final norm, output head."""

    def __init__(self, cfg: dict) -> None:
        """Create the layers.

        Args:
            cfg: GPT config dict (vocab_size V, context_length, emb_dim E, n_heads, n_layers,
                drop_rate, qkv_bias).

        Creates:
            tok_emb: `nn.Embedding(V, E)`, one vector per token id.
            pos_emb: `nn.Embedding(context_length, E)`, one vector per position.
            drop_emb: `nn.Dropout(drop_rate)`, on the summed embeddings.
            trf_blocks: `nn.Sequential` of n_layers a04 `TransformerBlock(cfg)`, so the
                parameter names are `trf_blocks.0.att.W_query.weight`, ...
            final_norm: a04 `LayerNorm(E)`.
            out_head: `nn.Linear(E, V, bias=False)`, with its own weight (not shared with
                tok_emb: GPT-2 ties the two, this model keeps them separate).
        """
        super().__init__()
        _check_cfg(cfg)
        # YOUR CODE HERE
        raise NotImplementedError("a05: GPTModel.__init__")

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """Compute next-token logits at every position.

        Args:
            in_idx: (B, T) LongTensor of token ids in [0, V), with T <= context_length.

        Returns:
            (B, T, V) logits, in the dtype of the model's weights, on in_idx's device:
            out_head(final_norm(trf_blocks(drop_emb(tok_emb(in_idx) + pos_emb(0..T-1))))).
            No softmax: the loss (a06) and decoding take raw logits.

        Raises:
            ValueError: T > context_length (the message names both numbers).
        """
        _check_ids(in_idx)
        # YOUR CODE HERE
        raise NotImplementedError("a05: GPTModel.forward")


def _check_generate_args(idx: torch.Tensor, max_new_tokens: int, context_size: int) -> None:
    """Given (not a task): sane arguments for generate_text_simple."""
    _check_ids(idx)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not isinstance(context_size, int) or context_size < 1:
        raise ValueError(f"context_size must be an int >= 1, got {context_size!r}")


def generate_text_simple(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> torch.Tensor:
    """Extend every row of `idx` by `max_new_tokens` greedily chosen tokens.

    At each step: keep only the last `context_size` tokens of the sequence (the model
    accepts at most context_length), run the model, take the logits at the last
    position, and append the id with the largest logit (argmax; no sampling). Runs
    without building an autograd graph (`torch.no_grad()`), and leaves the model's
    train/eval mode alone: call `model.eval()` first so dropout is off.

    Args:
        model: maps (B, t) token ids to (B, t, V) logits, e.g. a `GPTModel`.
        idx: (B, T) LongTensor, the prompt ids; not modified.
        max_new_tokens: how many tokens to append (0 returns the prompt).
        context_size: the most tokens fed to the model in one call.

    Returns:
        (B, T + max_new_tokens) LongTensor on idx's device: the prompt, then the new ids.
    """
    _check_generate_args(idx, max_new_tokens, context_size)
    # YOUR CODE HERE
    raise NotImplementedError("a05: generate_text_simple")
