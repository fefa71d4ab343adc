"""Reference for a08_decoding: logsumexp normalisation, `torch.kthvalue` thresholds, a while loop.

Same public names and signatures as the solution, written another way on purpose.
"""

import torch


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """(..., V) -> (..., V): exp(l / T - logsumexp(l / T)) over the last dim."""
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    scaled = logits / temperature
    return torch.exp(scaled - torch.logsumexp(scaled, dim=-1, keepdim=True))


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """(..., V) -> (..., V): entries below each row's k-th largest become -inf (ties kept)."""
    if top_k < 1:
        raise ValueError(f"top_k={top_k} must be >= 1")
    V = logits.shape[-1]
    if top_k >= V:
        return logits.clone()
    # the k-th largest of x is minus the k-th smallest of -x
    kth = -torch.kthvalue(-logits, top_k, dim=-1, keepdim=True).values
    return torch.where(logits >= kth, logits, torch.full_like(logits, float("-inf")))


@torch.no_grad()
def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None, generator=None):
    """(B, T) -> (B, T + n): greedy or sampled continuation, early stop once every row emitted eos_id."""
    if idx.dim() != 2 or idx.shape[1] < 1:
        raise ValueError(f"idx must be (B, T), got {tuple(idx.shape)}")
    if max_new_tokens < 0 or context_size < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens}, context_size={context_size} out of range")
    if not temperature >= 0:
        raise ValueError(f"temperature={temperature} must be >= 0")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} must be >= 1")
    out = idx
    done = torch.zeros(idx.shape[0], dtype=torch.bool)
    steps = 0
    while steps < max_new_tokens and not (eos_id is not None and bool(done.all())):
        start = max(0, out.shape[1] - context_size)
        logits = model(out[:, start:])[:, -1]  # (B, V)
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if temperature == 0:
            nxt = logits.max(dim=-1).indices  # (B,)
        else:
            probs = softmax_with_temperature(logits, temperature)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
        if eos_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            done = done | (nxt == eos_id)
        out = torch.cat([out, nxt.unsqueeze(1)], dim=1)
        steps += 1
    return out
