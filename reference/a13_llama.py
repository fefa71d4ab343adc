"""Reference for a13_llama: `F.rms_norm`, `F.silu`, RoPE from complex numbers (`torch.polar`),
`F.scaled_dot_product_attention(..., enable_gqa=True)`.

Same public names, parameter names and shapes as the solution. The RoPE tables are computed in
float64 (exact to ~1e-16), so they differ from the book's float32 tables by float32 rounding.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        if emb_dim <= 0:
            raise ValueError(f"emb_dim={emb_dim} must be positive")
        if eps < 0:
            raise ValueError(f"eps={eps} must be >= 0")
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., E) -> (..., E)."""
        if tuple(x.shape[-1:]) != tuple(self.weight.shape):
            raise ValueError(f"x must end in emb_dim={self.weight.shape[0]}, got shape {tuple(x.shape)}")
        return F.rms_norm(x, self.weight.shape, self.weight.to(x.dtype), self.eps)


class SiLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x)


class SwiGLUFeedForward(nn.Module):
    def __init__(self, emb_dim: int, hidden_dim: int) -> None:
        super().__init__()
        if emb_dim <= 0 or hidden_dim <= 0:
            raise ValueError(f"emb_dim={emb_dim} and hidden_dim={hidden_dim} must be positive")
        self.fc1 = nn.Linear(emb_dim, hidden_dim, bias=False)
        self.fc2 = nn.Linear(emb_dim, hidden_dim, bias=False)
        self.fc3 = nn.Linear(hidden_dim, emb_dim, bias=False)
        self.silu = SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., E) -> (..., E); the gate is F.silu of fc1."""
        return F.linear(F.silu(F.linear(x, self.fc1.weight)) * F.linear(x, self.fc2.weight), self.fc3.weight)


def compute_rope_params(head_dim: int, theta_base: float = 10_000,
                        context_length: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (context_length, head_dim) float64: e^{i p w_k} for w_k = theta^(-2k/hs), halves repeated."""
    if head_dim <= 0 or head_dim % 2:
        raise ValueError(f"head_dim={head_dim} must be a positive even number")
    if context_length <= 0:
        raise ValueError(f"context_length={context_length} must be positive")
    if theta_base <= 0:
        raise ValueError(f"theta_base={theta_base} must be positive")
    k = torch.arange(head_dim // 2, dtype=torch.float64)
    freqs = torch.exp(-(2.0 * k / head_dim) * torch.log(torch.tensor(float(theta_base), dtype=torch.float64)))
    angles = torch.outer(torch.arange(context_length, dtype=torch.float64), freqs)  # (L, hs/2)
    rot = torch.polar(torch.ones_like(angles), angles)  # (L, hs/2) complex128: cos + i sin
    return rot.real.repeat(1, 2), rot.imag.repeat(1, 2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """x: (B, H, T, hs); rotate pair (x[i], x[i + hs/2]) as the complex number x[i] + i x[i + hs/2]."""
    if x.ndim != 4:
        raise ValueError(f"x must be (B, H, T, head_dim), got shape {tuple(x.shape)}")
    T, hs = x.shape[-2:]
    if tuple(cos.shape[1:]) != (hs,) or cos.shape != sin.shape:
        raise ValueError(f"tables of shape {tuple(cos.shape)} do not match head_dim={hs}")
    if offset < 0 or offset + T > cos.shape[0]:
        raise ValueError(f"offset={offset} with T={T} is past the table of {cos.shape[0]} positions")
    half = hs // 2
    # the first half of each table row holds the angle's cos/sin (the second half repeats it)
    c = cos[offset:offset + T, :half].to(device=x.device, dtype=torch.float64)
    s = sin[offset:offset + T, :half].to(device=x.device, dtype=torch.float64)
    z = torch.complex(x[..., :half].double(), x[..., half:].double()) * torch.complex(c, s)  # (B, H, T, hs/2)
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)


class GroupedQueryAttention(nn.Module):
    def __init__(self, d_in: int, num_heads: int, num_kv_groups: int, head_dim: int | None = None) -> None:
        super().__init__()
        if d_in <= 0 or num_heads <= 0 or num_kv_groups <= 0 or (head_dim is not None and head_dim <= 0):
            raise ValueError(f"d_in={d_in}, num_heads={num_heads}, num_kv_groups={num_kv_groups}, "
                             f"head_dim={head_dim} must be positive")
        if num_heads % num_kv_groups:
            raise ValueError(f"num_heads={num_heads} is not divisible by num_kv_groups={num_kv_groups}")
        if head_dim is None:
            if d_in % num_heads:
                raise ValueError(f"d_in={d_in} is not divisible by num_heads={num_heads}")
            head_dim = d_in // num_heads
        self.num_heads, self.num_kv_groups, self.head_dim = num_heads, num_kv_groups, head_dim
        self.group_size = num_heads // num_kv_groups
        self.W_query = nn.Linear(d_in, num_heads * head_dim, bias=False)
        self.W_key = nn.Linear(d_in, num_kv_groups * head_dim, bias=False)
        self.W_value = nn.Linear(d_in, num_kv_groups * head_dim, bias=False)
        self.out_proj = nn.Linear(num_heads * head_dim, d_in, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cos: torch.Tensor,
                sin: torch.Tensor) -> torch.Tensor:
        """x: (B, T, d_in) -> (B, T, d_in); SDPA shares kv head g among query heads g*gs .. (g+1)*gs-1."""
        T = x.shape[1]
        q = self.W_query(x).unflatten(-1, (self.num_heads, self.head_dim)).permute(0, 2, 1, 3)
        k = self.W_key(x).unflatten(-1, (self.num_kv_groups, self.head_dim)).permute(0, 2, 1, 3)
        v = self.W_value(x).unflatten(-1, (self.num_kv_groups, self.head_dim)).permute(0, 2, 1, 3)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # SDPA's boolean mask means "may attend": the opposite of the contract's
        keep = None if mask is None else ~mask[:T, :T].to(device=x.device, dtype=torch.bool)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, enable_gqa=True)  # (B, nh, T, hs)
        return self.out_proj(ctx.permute(0, 2, 1, 3).flatten(-2))
