"""Worker-side helpers for the a11_lora checks: plain nn.Linear layers and a model with Linear layers at every depth.

Imported inside the worker with `p.runtime("a11_helpers")`; torch only. Nothing here implements LoRA.
"""

from __future__ import annotations

import torch
from torch import nn


def linear(in_features: int, out_features: int, bias: bool = True, dtype: torch.dtype = torch.float32) -> nn.Linear:
    return nn.Linear(in_features, out_features, bias=bias, dtype=dtype)


def same(a: object, b: object) -> bool:
    """`a is b`, for a check that a function returned a new object."""
    return a is b


class Nest(nn.Module):
    """A Linear directly inside, and two inside an nn.Sequential one level further down."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(emb_dim, emb_dim)
        self.inner = nn.Sequential(nn.Linear(emb_dim, 2 * emb_dim), nn.Tanh(), nn.Linear(2 * emb_dim, emb_dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.tanh(self.proj(x)))


class AdapterToy(nn.Module):
    """(B, T) ids -> (B, T, vocab_size): nn.Linear layers in an nn.Sequential of blocks, in an nn.ModuleList,
    and as `out_head`; an embedding and a plain parameter that are not Linear layers."""

    def __init__(self, vocab_size: int = 7, emb_dim: int = 4) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, emb_dim)
        self.trf_blocks = nn.Sequential(Nest(emb_dim), Nest(emb_dim))
        self.heads = nn.ModuleList([nn.Linear(emb_dim, emb_dim), nn.Linear(emb_dim, emb_dim)])
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.out_head = nn.Linear(emb_dim, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(idx)
        x = x + self.trf_blocks(x)
        for head in self.heads:
            x = x + torch.tanh(head(x))
        return self.out_head(x * self.scale)


def sgd_step(model: nn.Module, idx: torch.Tensor, lr: float = 0.1) -> None:
    """One plain SGD step on mean(logits^2) over the parameters that require grad (what fine-tuning does)."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        loss = model(idx).square().mean()
        grads = torch.autograd.grad(loss, params, allow_unused=True) if params else []
    with torch.no_grad():
        for p, g in zip(params, grads):
            if g is not None:
                p -= lr * g
