"""a04_gpt_blocks: the transformer block.

The pieces a GPT stacks n_layers times:

1. `LayerNorm`: normalise each token vector to mean 0, variance 1, then a learned
   per-feature scale and shift;
2. `GELU`: the smooth activation GPT-2 uses (its tanh approximation);
3. `FeedForward`: widen 4x, GELU, project back;
4. `TransformerBlock`: pre-LayerNorm attention and feed-forward sub-layers, each
   wrapped in a residual ("shortcut") connection.

`cfg` is a plain dict; see `GPT_CONFIG_KEYS`. Shape letters: B = batch size,
T = number of tokens, E = emb_dim.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import math

import torch
import torch.nn as nn

from a03_attention import MultiHeadAttention

# The keys a GPT config dict holds, and the type each value must have.
GPT_CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "vocab_size": int,
    "context_length": int,
    "emb_dim": int,
    "n_heads": int,
    "n_layers": int,
    "drop_rate": (int, float),
    "qkv_bias": bool,
}


def _check_cfg(cfg: dict, keys: tuple[str, ...], owner: str) -> None:
    """Given (not a task): check that `cfg` is a dict holding `keys` with sane values.

    Raises:
        TypeError: `cfg` is not a dict, or a value has the wrong type.
        ValueError: a key is missing, or a size is not positive.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"{owner}: cfg must be a dict, got {type(cfg).__name__}")
    for key in keys:
        if key not in cfg:
            raise ValueError(f"{owner}: cfg is missing key {key!r}")
        value, expected = cfg[key], GPT_CONFIG_KEYS[key]
        # bool is a subclass of int: reject True/False where a number is expected.
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise TypeError(f"{owner}: cfg[{key!r}] has type {type(value).__name__}, value {value!r}")
        if expected is int and value <= 0:
            raise ValueError(f"{owner}: cfg[{key!r}] must be positive, got {value}")


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension, with learned scale and shift."""

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        """Create the learned parameters.

        Args:
            emb_dim: size E of the last dimension of the input.
            eps: added to the variance inside the square root, so a constant row
                does not divide by zero.

        Creates:
            scale: (E,) parameter, ones.
            shift: (E,) parameter, zeros.

        Raises:
            ValueError: emb_dim is not positive, or eps is negative.
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a04: LayerNorm.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each vector along the last dimension.

        Args:
            x: (..., E) e.g. (B, T, E).

        Returns:
            (..., E) scale * (x - mean) / sqrt(var + eps) + shift, with the biased
            variance (divide by E, not E - 1).

        Raises:
            ValueError: the last dim of x is not emb_dim (the message shows x's shape).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a04: LayerNorm.forward")


class GELU(nn.Module):
    """GELU activation, tanh approximation (the one GPT-2 was trained with)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply GELU elementwise.

        Args:
            x: (...) any shape.

        Returns:
            (...) 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a04: GELU.forward")


class FeedForward(nn.Module):
    """Position-wise MLP: Linear(E, 4E) -> GELU -> Linear(4E, E)."""

    def __init__(self, cfg: dict) -> None:
        """Create the layers.

        Args:
            cfg: GPT config dict; uses cfg["emb_dim"].

        Creates:
            layers: `nn.Sequential(nn.Linear(E, 4 * E), GELU(), nn.Linear(4 * E, E))`.
        """
        super().__init__()
        _check_cfg(cfg, ("emb_dim",), "FeedForward")
        # YOUR CODE HERE
        raise NotImplementedError("a04: FeedForward.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to every token independently.

        Args:
            x: (B, T, E).

        Returns:
            (B, T, E).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a04: FeedForward.forward")


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: attention and MLP, each with a shortcut."""

    def __init__(self, cfg: dict) -> None:
        """Create the sub-layers.

        Args:
            cfg: GPT config dict; uses emb_dim, context_length, n_heads, drop_rate, qkv_bias.

        Creates:
            att: a03 `MultiHeadAttention(d_in=E, d_out=E, context_length, dropout=drop_rate,
                num_heads=n_heads, qkv_bias)`.
            ff: `FeedForward(cfg)`.
            norm1, norm2: `LayerNorm(E)`, before att and before ff.
            drop_shortcut: `nn.Dropout(drop_rate)`, on each sub-layer's output.
        """
        super().__init__()
        _check_cfg(cfg, ("emb_dim", "context_length", "n_heads", "drop_rate", "qkv_bias"), "TransformerBlock")
        # YOUR CODE HERE
        raise NotImplementedError("a04: TransformerBlock.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + attention(norm1(x)), then + feed_forward(norm2(.)).

        Args:
            x: (B, T, E) with T <= context_length.

        Returns:
            (B, T, E).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a04: TransformerBlock.forward")
