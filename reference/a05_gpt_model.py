"""Reference for a05_gpt_model: `F.embedding`, a sliced position table, `F.linear`, `topk` decoding.

Same public names, parameter names and shapes as the solution; built on the reference blocks.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .a04_gpt_blocks import LayerNorm, TransformerBlock


class GPTModel(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        missing = [k for k in ("vocab_size", "context_length", "emb_dim", "n_layers", "drop_rate") if k not in cfg]
        if missing:
            raise ValueError(f"cfg is missing key {missing[0]!r}")
        V, C, E = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
        self.tok_emb = nn.Embedding(V, E)
        self.pos_emb = nn.Embedding(C, E)
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential()
        for i in range(cfg["n_layers"]):
            self.trf_blocks.add_module(str(i), TransformerBlock(cfg))
        self.final_norm = LayerNorm(E)
        self.out_head = nn.Linear(E, V, bias=False)

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """in_idx: (B, T) ids -> (B, T, V) logits."""
        T = in_idx.shape[-1]
        C = self.pos_emb.num_embeddings
        if T > C:
            raise ValueError(f"T={T} exceeds context_length={C}")
        # the first T rows of the position table are positions 0..T-1
        h = F.embedding(in_idx, self.tok_emb.weight) + self.pos_emb.weight[:T]
        h = self.trf_blocks(self.drop_emb(h))
        return F.linear(self.final_norm(h), self.out_head.weight)


@torch.no_grad()
def generate_text_simple(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> torch.Tensor:
    """Greedy: append topk(1) of the last position's logits, feeding at most context_size tokens."""
    out = idx.clone()
    for _ in range(max_new_tokens):
        start = max(0, out.shape[1] - context_size)
        logits = model(out[:, start:])
        out = torch.cat([out, logits[:, -1].topk(1, dim=-1).indices], dim=1)
    return out
