"""Reference for a04_gpt_blocks: `F.layer_norm`, `F.gelu(approximate="tanh")`.

Same public names, parameter names and shapes as the solution.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .a03_attention import MultiHeadAttention


def _need(cfg: dict, *keys: str) -> None:
    if not isinstance(cfg, dict):
        raise TypeError(f"cfg must be a dict, got {type(cfg).__name__}")
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise ValueError(f"cfg is missing key {missing[0]!r}")


class LayerNorm(nn.Module):
    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        if emb_dim <= 0:
            raise ValueError(f"emb_dim={emb_dim} must be positive")
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., E) -> (..., E); biased variance, eps inside the sqrt."""
        if x.shape[-1:] != self.scale.shape:
            raise ValueError(f"x must end in emb_dim={self.scale.shape[0]}, got shape {tuple(x.shape)}")
        return F.layer_norm(x, self.scale.shape, self.scale, self.shift, self.eps)


class GELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate="tanh")


class FeedForward(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        _need(cfg, "emb_dim")
        e = cfg["emb_dim"]
        self.layers = nn.Sequential(nn.Linear(e, 4 * e), GELU(), nn.Linear(4 * e, e))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransformerBlock(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        _need(cfg, "emb_dim", "context_length", "n_heads", "drop_rate", "qkv_bias")
        e = cfg["emb_dim"]
        self.att = MultiHeadAttention(e, e, cfg["context_length"], cfg["drop_rate"], cfg["n_heads"], cfg["qkv_bias"])
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(e)
        self.norm2 = LayerNorm(e)
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, E) -> (B, T, E), pre-LN with residuals."""
        h = x + self.drop_shortcut(self.att(self.norm1(x)))
        return h + self.drop_shortcut(self.ff(self.norm2(h)))
