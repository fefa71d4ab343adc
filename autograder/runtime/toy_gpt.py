"""A GPT-shaped stand-in that is not a transformer: the model trainers and fine-tuning checks run on.

`ToyGPT` has the attribute names a GPT of the curriculum has (`tok_emb`, `pos_emb`, `trf_blocks`,
`final_norm`, `out_head`), so code written for the learner's `GPTModel` (reading
`model.pos_emb.weight.shape[0]`, freezing `trf_blocks[-1]`, replacing `out_head`) runs on it
unchanged, but its insides are deliberately simple: each block adds tanh(Linear(causal running
mean of the positions so far)) to its input, and the final "norm" is a learned per-feature scale.
No attention, no layer norm, no GELU: nothing here implements a graded API, and a mistake in the
learner's own a03-a05 cannot change a grade that uses this model.
"""

from __future__ import annotations

import torch
from torch import nn


class MixBlock(nn.Module):
    """x + tanh(ff(running mean of x over positions 0..t)): causal, cheap, differentiable."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.ff = nn.Linear(emb_dim, emb_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        counts = torch.arange(1, T + 1, device=x.device, dtype=x.dtype).unsqueeze(-1)  # (T, 1)
        prefix_mean = x.cumsum(dim=1) / counts  # (B, T, E): position t sees 0..t only
        return x + torch.tanh(self.ff(prefix_mean))


class Scale(nn.Module):
    """A learned per-feature scale (stands where a GPT has its final LayerNorm)."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class ToyGPT(nn.Module):
    """(B, T) ids -> (B, T, vocab_size) logits, with a GPTModel's attribute names and errors."""

    def __init__(self, vocab_size: int, context_length: int, emb_dim: int, n_layers: int = 2) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context_length", context_length),
                            ("emb_dim", emb_dim), ("n_layers", n_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ToyGPT: {name} must be a positive int, got {value!r}")
        self.tok_emb = nn.Embedding(vocab_size, emb_dim)
        self.pos_emb = nn.Embedding(context_length, emb_dim)
        self.trf_blocks = nn.Sequential(*[MixBlock(emb_dim) for _ in range(n_layers)])
        self.final_norm = Scale(emb_dim)
        self.out_head = nn.Linear(emb_dim, vocab_size, bias=False)
        self.modes: list[bool] = []  # training flag at every forward call, for checks on train/eval mode
        self.grad_enabled: list[bool] = []

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        if in_idx.dim() != 2:
            raise ValueError(f"ToyGPT expects in_idx of shape (B, T), got {tuple(in_idx.shape)}")
        T = in_idx.shape[1]
        if T > self.pos_emb.num_embeddings:
            raise ValueError(f"T={T} exceeds context_length={self.pos_emb.num_embeddings}")
        self.modes.append(self.training)
        self.grad_enabled.append(torch.is_grad_enabled())
        x = self.tok_emb(in_idx) + self.pos_emb(torch.arange(T, device=in_idx.device))  # (B, T, E)
        return self.out_head(self.final_norm(self.trf_blocks(x)))  # (B, T, V)
