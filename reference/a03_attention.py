"""Reference for a03_attention: fused attention (`F.scaled_dot_product_attention`).

Same public names, parameter names and shapes as the solution. No buffers at all:
the causal mask comes from `is_causal=True`.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """x: (...), softmax along `dim` -> (...)."""
    return torch.softmax(x, dim=dim)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if value <= 0:
            raise ValueError(f"{name}={value} must be positive")


def _check_dropout(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout={p} must be in [0, 1)")


def _check_input(x: torch.Tensor, ndim: int, context_length: int | None = None) -> None:
    if x.ndim != ndim:
        raise ValueError(f"x must have {ndim} dims, got shape {tuple(x.shape)}")
    if context_length is not None and x.shape[-2] > context_length:
        raise ValueError(f"T={x.shape[-2]} exceeds context_length={context_length}")


class SelfAttention_v1(nn.Module):
    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        _check_sizes(d_in=d_in, d_out=d_out)
        self.W_query = nn.Parameter(torch.rand(d_in, d_out))
        self.W_key = nn.Parameter(torch.rand(d_in, d_out))
        self.W_value = nn.Parameter(torch.rand(d_in, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, d_in) -> (T, d_out), no mask."""
        _check_input(x, 2)
        q, k, v = (torch.matmul(x, w)[None] for w in (self.W_query, self.W_key, self.W_value))  # (1, T, d_out)
        return F.scaled_dot_product_attention(q, k, v)[0]  # default scale 1/sqrt(d_out)


class SelfAttention_v2(nn.Module):
    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        _check_sizes(d_in=d_in, d_out=d_out)
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, d_in) -> (T, d_out), no mask."""
        _check_input(x, 2)
        q, k, v = (lin(x)[None] for lin in (self.W_query, self.W_key, self.W_value))  # (1, T, d_out)
        return F.scaled_dot_product_attention(q, k, v)[0]


class CausalAttention(nn.Module):
    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False) -> None:
        super().__init__()
        _check_sizes(d_in=d_in, d_out=d_out, context_length=context_length)
        _check_dropout(dropout)
        self.context_length = context_length
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_in) -> (B, T, d_out); SDPA drops attention weights, like the solution."""
        _check_input(x, 3, self.context_length)
        p = self.dropout.p if self.training else 0.0
        return F.scaled_dot_product_attention(
            self.W_query(x), self.W_key(x), self.W_value(x), dropout_p=p, is_causal=True
        )


class MultiHeadAttentionWrapper(nn.Module):
    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        super().__init__()
        _check_sizes(num_heads=num_heads)
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_in) -> (B, T, num_heads * d_out)."""
        return torch.cat([h(x) for h in self.heads], dim=-1)


class MultiHeadAttention(nn.Module):
    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        super().__init__()
        _check_sizes(d_in=d_in, d_out=d_out, context_length=context_length, num_heads=num_heads)
        _check_dropout(dropout)
        if d_out % num_heads:
            raise ValueError(f"d_out={d_out} is not divisible by num_heads={num_heads}")
        self.context_length = context_length
        self.num_heads = num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_in) -> (B, T, d_out)."""
        _check_input(x, 3, self.context_length)
        # (B, T, d_out) -> (B, T, nh, hs) -> (B, nh, T, hs)
        q, k, v = (
            lin(x).unflatten(-1, (self.num_heads, -1)).permute(0, 2, 1, 3)
            for lin in (self.W_query, self.W_key, self.W_value)
        )
        p = self.dropout.p if self.training else 0.0
        ctx = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # (B, nh, T, hs)
        return self.out_proj(ctx.permute(0, 2, 1, 3).flatten(-2))  # (B, T, nh * hs)
