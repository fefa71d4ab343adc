"""A tiny Llama-style model from your a13 pieces, with an a12-style KV cache: cached = uncached, for less work.

    python examples/llama_demo.py --path assignments     # your own modules (once a13 passes)
    python examples/llama_demo.py --path solutions       # the instructor's (in the course repository)

The model is built from your `RMSNorm`, `SwiGLUFeedForward`, `GroupedQueryAttention`,
`compute_rope_params` and `apply_rope` (random weights: the point is the arithmetic, not the text).
Without the cache every step runs your `GroupedQueryAttention.forward` on the whole sequence. With
the cache, each block keeps its rotated keys and its values, and a step sends only the newest token
through the model: its query and key are rotated with `apply_rope(..., offset=position)`, and it
attends to the cached keys plus its own. Both ways must pick the same tokens with the same logits;
the FLOPs of each step (counted by `torch.utils.flop_counter.FlopCounterMode`) show what the cache saves.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def load(path: Path) -> ModuleType:
    """Your a13_llama module from `path` (a folder of aNN_*.py files), imported by name as the grader does."""
    if not path.is_dir():
        raise SystemExit(f"--path {str(path)!r} is not a folder of aNN_*.py files")
    sys.path.insert(0, str(path.resolve()))
    try:
        return importlib.import_module("a13_llama")
    except ImportError as exc:
        raise SystemExit(f"cannot import a13_llama from {path}: {exc}") from None


class Block(nn.Module):
    """Pre-norm Llama block: x + att(norm1(x)), then + ff(norm2(x)); the attention can use a KV cache."""

    def __init__(self, m13: ModuleType, emb_dim: int, heads: int, groups: int, hidden: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = m13.RMSNorm(emb_dim), m13.RMSNorm(emb_dim)
        self.att = m13.GroupedQueryAttention(emb_dim, heads, groups)
        self.ff = m13.SwiGLUFeedForward(emb_dim, hidden)
        self.apply_rope = m13.apply_rope
        self.cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def cached_attention(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Your GQA's projections and apply_rope, with the new tokens at positions after the cached ones."""
        a, (B, T, _) = self.att, x.shape
        start = 0 if self.cache is None else self.cache[0].shape[2]
        q = a.W_query(x).view(B, T, a.num_heads, a.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k, v = (w(x).view(B, T, a.num_kv_groups, a.head_dim).transpose(1, 2) for w in (a.W_key, a.W_value))
        q, k = self.apply_rope(q, cos, sin, offset=start), self.apply_rope(k, cos, sin, offset=start)
        if self.cache is not None:  # keys were cached already rotated: only the new ones turn
            k, v = torch.cat([self.cache[0], k], dim=2), torch.cat([self.cache[1], v], dim=2)  # (B, G, start+T, hs)
        self.cache = (k, v)
        k, v = k.repeat_interleave(a.group_size, dim=1), v.repeat_interleave(a.group_size, dim=1)
        hidden = torch.arange(start + T)[None, :] > torch.arange(start, start + T)[:, None]  # (T, start+T)
        scores = (q @ k.transpose(2, 3)).masked_fill(hidden, float("-inf")) / a.head_dim**0.5
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, -1)  # (B, T, nh * hs)
        return a.out_proj(ctx)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                use_cache: bool) -> torch.Tensor:
        h = self.norm1(x)
        x = x + (self.cached_attention(h, cos, sin) if use_cache else self.att(h, mask, cos, sin))
        return x + self.ff(self.norm2(x))


class TinyLlama(nn.Module):
    def __init__(self, m13: ModuleType, vocab: int, context: int, emb_dim: int = 32, heads: int = 4,
                 groups: int = 2, layers: int = 2) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, emb_dim)
        self.blocks = nn.ModuleList([Block(m13, emb_dim, heads, groups, 3 * emb_dim) for _ in range(layers)])
        self.final_norm = m13.RMSNorm(emb_dim)
        self.out_head = nn.Linear(emb_dim, vocab, bias=False)
        cos, sin = m13.compute_rope_params(emb_dim // heads, context_length=context)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def reset_cache(self) -> None:
        for block in self.blocks:
            block.cache = None

    def forward(self, idx: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        x = self.tok_emb(idx)  # (B, T, E)
        for block in self.blocks:
            x = block(x, self.mask, self.cos, self.sin, use_cache)
        return self.out_head(self.final_norm(x))


def step_flops(run) -> tuple[torch.Tensor, int]:
    """run() and the FLOPs it took (FlopCounterMode imports torch._dynamo on first use: a few seconds, once)."""
    counter = FlopCounterMode(display=False)
    with counter:
        out = run()
    return out, counter.get_total_flops()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=Path("assignments"), help="folder holding your a13_llama.py")
    parser.add_argument("--prompt", type=int, default=6, help="prompt length (random token ids)")
    parser.add_argument("--new", type=int, default=10, help="tokens to generate")
    args = parser.parse_args(argv)
    m13 = load(args.path)
    torch.manual_seed(0)
    context = args.prompt + args.new
    model = TinyLlama(m13, vocab=50, context=context).double().eval()
    print(f"tiny Llama from your a13: {len(model.blocks)} blocks of RMSNorm + GroupedQueryAttention (4 heads, "
          f"2 kv groups, RoPE tables {tuple(model.cos.shape)}) + SwiGLU, {sum(p.numel() for p in model.parameters())} "
          f"parameters")
    idx = torch.randint(0, 50, (1, args.prompt))
    plain, cached = idx, idx
    worst = 0.0
    print(f"{'step':>4} {'token':>5} {'uncached FLOPs':>15} {'cached FLOPs':>13} {'max |logit diff|':>17}")
    with torch.no_grad():
        model.reset_cache()
        pending = cached
        for step in range(1, args.new + 1):
            want, flops_plain = step_flops(lambda: model(plain)[:, -1])
            got, flops_cached = step_flops(lambda: model(pending, use_cache=True)[:, -1])
            diff = float((got - want).abs().max())
            worst = max(worst, diff)
            plain = torch.cat([plain, want.argmax(-1, keepdim=True)], dim=1)
            pending = got.argmax(-1, keepdim=True)
            cached = torch.cat([cached, pending], dim=1)
            print(f"{step:>4} {int(pending):>5} {flops_plain:>15,} {flops_cached:>13,} {diff:>17.1e}")
    if not torch.equal(plain, cached) or worst > 1e-9:
        print(f"cached and uncached generation DISAGREE (largest logit difference {worst:.1e}): check apply_rope's "
              f"offset and GroupedQueryAttention")
        return 1
    print(f"cached and uncached generation agree: {args.new} tokens, largest logit difference {worst:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
