"""a03_attention: attention from scratch.

Build scaled dot-product attention one step at a time:

1. `softmax`, written so that large scores do not overflow;
2. `SelfAttention_v1`: one head, raw weight matrices, one sequence;
3. `SelfAttention_v2`: the same with `nn.Linear` layers;
4. `CausalAttention`: batched, each token sees only itself and earlier tokens,
   dropout on the attention weights;
5. `MultiHeadAttentionWrapper`: several `CausalAttention` heads side by side;
6. `MultiHeadAttention`: the efficient version, one projection split into heads.

Shape letters: B = batch size, T = number of tokens, nh = num_heads,
hs = head_dim = d_out // num_heads.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch
import torch.nn as nn


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax along `dim`.

    `exp` overflows to inf above ~88 in float32 (~709 in float64). Softmax does not
    change when a constant is subtracted along `dim`, so subtract the maximum first:
    the largest exponent is then exp(0) = 1 and nothing overflows.

    Args:
        x: (..., N) scores, any shape; `-inf` entries get probability 0.
        dim: the dimension to normalise over.

    Returns:
        (..., N) same shape, dtype and device as `x`; non-negative, sums to 1 along `dim`.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a03: softmax")


class SelfAttention_v1(nn.Module):
    """Single-head self-attention with raw weight matrices: no batch, no mask."""

    def __init__(self, d_in: int, d_out: int) -> None:
        """Create the three projection matrices as `nn.Parameter`s.

        Args:
            d_in: width of each input token vector.
            d_out: width of the queries, keys, values and of the output.

        Creates:
            W_query, W_key, W_value: (d_in, d_out) parameters, `torch.rand` initialised.

        Raises:
            ValueError: d_in or d_out is not positive.
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a03: SelfAttention_v1.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend from every token to every token (no causal mask).

        Args:
            x: (T, d_in) one sequence of token vectors.

        Returns:
            (T, d_out) context vectors: row t is a weighted average of the value rows.

        Raises:
            ValueError: x is not 2-D (the message shows its shape).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a03: SelfAttention_v1.forward")


class SelfAttention_v2(nn.Module):
    """SelfAttention_v1 with `nn.Linear` projections (better initialisation, optional bias)."""

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        """Create the three projections.

        Args:
            d_in: width of each input token vector.
            d_out: width of the queries, keys, values and of the output.
            qkv_bias: whether the three projections have a bias.

        Creates:
            W_query, W_key, W_value: `nn.Linear(d_in, d_out, bias=qkv_bias)`.

        Raises:
            ValueError: d_in or d_out is not positive.
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a03: SelfAttention_v2.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same maths as SelfAttention_v1.forward.

        Args:
            x: (T, d_in) one sequence of token vectors.

        Returns:
            (T, d_out) context vectors.

        Raises:
            ValueError: x is not 2-D (the message shows its shape).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a03: SelfAttention_v2.forward")


class CausalAttention(nn.Module):
    """Batched single-head attention where token t sees only tokens 0..t."""

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False
    ) -> None:
        """Create the projections, the dropout layer and the causal mask.

        Args:
            d_in: width of each input token vector.
            d_out: width of the queries, keys, values and of the output.
            context_length: the longest sequence this module accepts.
            dropout: probability of dropping an attention weight, in [0, 1).
            qkv_bias: whether the three projections have a bias.

        Creates:
            W_query, W_key, W_value: `nn.Linear(d_in, d_out, bias=qkv_bias)`.
            dropout: `nn.Dropout(dropout)`.
            mask: (context_length, context_length) bool buffer, True above the diagonal,
                registered with `persistent=False` (it is not a learned weight).

        Raises:
            ValueError: a size is not positive, or dropout is outside [0, 1).
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a03: CausalAttention.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal scaled dot-product attention with dropout on the weights.

        Args:
            x: (B, T, d_in) with T <= context_length.

        Returns:
            (B, T, d_out) context vectors; row t depends only on x[:, :t + 1].

        Raises:
            ValueError: x is not 3-D, or T > context_length (name both numbers).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a03: CausalAttention.forward")


class MultiHeadAttentionWrapper(nn.Module):
    """`num_heads` independent CausalAttention heads, outputs concatenated."""

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        """Create the heads.

        Args:
            d_in, d_out, context_length, dropout, qkv_bias: passed to every head.
            num_heads: how many heads; the output width is num_heads * d_out.

        Creates:
            heads: `nn.ModuleList` of `num_heads` CausalAttention modules.

        Raises:
            ValueError: num_heads is not positive (the heads check the rest).
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a03: MultiHeadAttentionWrapper.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every head on `x` and stack the results side by side.

        Args:
            x: (B, T, d_in) with T <= context_length.

        Returns:
            (B, T, num_heads * d_out); head h fills columns h * d_out to (h + 1) * d_out.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a03: MultiHeadAttentionWrapper.forward")


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention: one projection of width d_out, split into heads."""

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        """Create the projections, the output projection, dropout and the causal mask.

        Args:
            d_in: width of each input token vector.
            d_out: total width of queries, keys, values and output; d_out % num_heads == 0.
            context_length: the longest sequence this module accepts.
            dropout: probability of dropping an attention weight, in [0, 1).
            num_heads: number of heads; each has head_dim = d_out // num_heads.
            qkv_bias: whether the three input projections have a bias.

        Creates:
            W_query, W_key, W_value: `nn.Linear(d_in, d_out, bias=qkv_bias)`.
            out_proj: `nn.Linear(d_out, d_out)` (with bias), mixes the heads.
            dropout: `nn.Dropout(dropout)`.
            mask: (context_length, context_length) bool buffer, True above the
                diagonal, `persistent=False`.

        Raises:
            ValueError: a size is not positive, d_out % num_heads != 0, or dropout is
                outside [0, 1). Name the argument and its value, e.g. "d_out=10".
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a03: MultiHeadAttention.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head attention.

        Args:
            x: (B, T, d_in) with T <= context_length.

        Returns:
            (B, T, d_out): the heads' context vectors, concatenated, through out_proj.

        Raises:
            ValueError: x is not 3-D, or T > context_length (name both numbers).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a03: MultiHeadAttention.forward")
