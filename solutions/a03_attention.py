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
    ### BEGIN SOLUTION
    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1): keepdim so it broadcasts against x
    exp_x = torch.exp(x - x_max)
    return exp_x / exp_x.sum(dim=dim, keepdim=True)
    ### END SOLUTION


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
        ### BEGIN SOLUTION
        if d_in <= 0 or d_out <= 0:
            raise ValueError(f"sizes must be positive, got d_in={d_in}, d_out={d_out}")
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend from every token to every token (no causal mask).

        Args:
            x: (T, d_in) one sequence of token vectors.

        Returns:
            (T, d_out) context vectors: row t is a weighted average of the value rows.

        Raises:
            ValueError: x is not 2-D (the message shows its shape).
        """
        ### BEGIN SOLUTION
        if x.dim() != 2:
            raise ValueError(f"x must have shape (T, d_in), got {tuple(x.shape)}")
        queries = x @ self.W_query  # (T, d_out)
        keys = x @ self.W_key  # (T, d_out)
        values = x @ self.W_value  # (T, d_out)
        attn_scores = queries @ keys.T  # (T, T): scores[i, j] = q_i . k_j
        # Dot products grow like sqrt(d_out); dividing keeps softmax out of its flat regions.
        attn_weights = softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)
        return attn_weights @ values  # (T, d_out)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        if d_in <= 0 or d_out <= 0:
            raise ValueError(f"sizes must be positive, got d_in={d_in}, d_out={d_out}")
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same maths as SelfAttention_v1.forward.

        Args:
            x: (T, d_in) one sequence of token vectors.

        Returns:
            (T, d_out) context vectors.

        Raises:
            ValueError: x is not 2-D (the message shows its shape).
        """
        ### BEGIN SOLUTION
        if x.dim() != 2:
            raise ValueError(f"x must have shape (T, d_in), got {tuple(x.shape)}")
        queries = self.W_query(x)  # (T, d_out)
        keys = self.W_key(x)  # (T, d_out)
        values = self.W_value(x)  # (T, d_out)
        attn_scores = queries @ keys.T  # (T, T)
        attn_weights = softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (T, T)
        return attn_weights @ values  # (T, d_out)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        if d_in <= 0 or d_out <= 0 or context_length <= 0:
            raise ValueError(
                f"sizes must be positive, got d_in={d_in}, d_out={d_out}, "
                f"context_length={context_length}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
        self.context_length = context_length
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        # True = "future token, hide it". A buffer moves with .to(device); it is built
        # once here and sliced to (T, T) in forward.
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal scaled dot-product attention with dropout on the weights.

        Args:
            x: (B, T, d_in) with T <= context_length.

        Returns:
            (B, T, d_out) context vectors; row t depends only on x[:, :t + 1].

        Raises:
            ValueError: x is not 3-D, or T > context_length (name both numbers).
        """
        ### BEGIN SOLUTION
        if x.dim() != 3:
            raise ValueError(f"x must have shape (B, T, d_in), got {tuple(x.shape)}")
        B, T, _ = x.shape
        if T > self.context_length:
            raise ValueError(f"T={T} exceeds context_length={self.context_length}")
        queries = self.W_query(x)  # (B, T, d_out)
        keys = self.W_key(x)  # (B, T, d_out)
        values = self.W_value(x)  # (B, T, d_out)
        attn_scores = queries @ keys.transpose(1, 2)  # (B, T, T)
        # exp(-inf) = 0: future tokens get exactly zero weight after softmax.
        attn_scores = attn_scores.masked_fill(self.mask[:T, :T], float("-inf"))
        attn_weights = softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)  # (B, T, T)
        # Dropout removes whole query->key links (the weights), not output features.
        attn_weights = self.dropout(attn_weights)
        return attn_weights @ values  # (B, T, d_out)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        if num_heads <= 0:
            raise ValueError(f"num_heads must be positive, got num_heads={num_heads}")
        # Each CausalAttention validates the other arguments itself.
        self.heads = nn.ModuleList(
            [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)]
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every head on `x` and stack the results side by side.

        Args:
            x: (B, T, d_in) with T <= context_length.

        Returns:
            (B, T, num_heads * d_out); head h fills columns h * d_out to (h + 1) * d_out.
        """
        ### BEGIN SOLUTION
        return torch.cat([head(x) for head in self.heads], dim=-1)  # (B, T, nh * d_out)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        if min(d_in, d_out, context_length, num_heads) <= 0:
            raise ValueError(
                f"sizes must be positive, got d_in={d_in}, d_out={d_out}, "
                f"context_length={context_length}, num_heads={num_heads}"
            )
        if d_out % num_heads != 0:
            raise ValueError(f"d_out={d_out} is not divisible by num_heads={num_heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got dropout={dropout}")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.context_length = context_length
        # One (d_in, d_out) projection computes all heads at once; forward splits it.
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head attention.

        Args:
            x: (B, T, d_in) with T <= context_length.

        Returns:
            (B, T, d_out): the heads' context vectors, concatenated, through out_proj.

        Raises:
            ValueError: x is not 3-D, or T > context_length (name both numbers).
        """
        ### BEGIN SOLUTION
        if x.dim() != 3:
            raise ValueError(f"x must have shape (B, T, d_in), got {tuple(x.shape)}")
        B, T, _ = x.shape
        if T > self.context_length:
            raise ValueError(f"T={T} exceeds context_length={self.context_length}")
        nh, hs = self.num_heads, self.head_dim
        # Split the last dim into heads, then move heads next to the batch dim so that
        # the matmuls below treat (B, nh) as batch dims and each head attends on its own.
        queries = self.W_query(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        keys = self.W_key(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        values = self.W_value(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)

        attn_scores = queries @ keys.transpose(2, 3)  # (B, nh, T, T)
        attn_scores = attn_scores.masked_fill(self.mask[:T, :T], float("-inf"))
        # Scale by sqrt(head_dim): each score is a dot product of length hs, not d_out.
        attn_weights = softmax(attn_scores / hs**0.5, dim=-1)  # (B, nh, T, T)
        attn_weights = self.dropout(attn_weights)
        context = attn_weights @ values  # (B, nh, T, hs)

        # Undo the split: transpose back, then merge (nh, hs) into d_out. transpose only
        # changes strides, and view needs contiguous memory, hence .contiguous().
        context = context.transpose(1, 2).contiguous().view(B, T, self.d_out)  # (B, T, d_out)
        return self.out_proj(context)  # (B, T, d_out)
        ### END SOLUTION
