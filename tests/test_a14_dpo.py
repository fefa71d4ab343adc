"""a14_dpo: the solution and the independent reference agree (values and gradients), in-process,
including margins where log(sigmoid(z)) underflows and logits where exp overflows."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import reference.a14_dpo as ref
from tests.conftest import load_solution

AID = "a14_dpo"
pytestmark = pytest.mark.usefixtures("one_thread")




SOL = load_solution(AID)
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5)}
DTYPES = [torch.float64, torch.float32]


def _value_and_grads(fn, *inputs):
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    outs[0].sum().backward() if outs[0].ndim else outs[0].backward()
    return [o.detach() for o in outs] + [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(5))
def test_compute_logprobs_agrees(seed: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(seed)
    B, T, V = 3, int(torch.randint(2, 8, (1,), generator=g)), int(torch.randint(2, 30, (1,), generator=g))
    scale = [1.0, 10.0, 1e3, 1e4, 0.1][seed]  # 1e4: exp overflows unless the max is subtracted
    logits = torch.randn(B, T, V, generator=g, dtype=dtype) * scale
    labels = torch.randint(0, V, (B, T), generator=g)
    mask = torch.rand(B, T, generator=g) < 0.6
    mask[:, 1] = True  # at least one selected position per row after the shift
    for m in (None, mask, mask.long()):
        got = _value_and_grads(lambda x: SOL.compute_logprobs(x, labels, m), logits)
        want = _value_and_grads(lambda x: ref.compute_logprobs(x, labels, m), logits)
        assert got[0].shape == (B,) and got[0].dtype == dtype
        assert torch.isfinite(got[0]).all() and torch.isfinite(got[1]).all()
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, **TOL[dtype])


def test_compute_logprobs_known_value() -> None:
    """Uniform logits over V tokens: every log-probability is -log V, masked or not."""
    logits = torch.zeros(2, 5, 7, dtype=torch.float64)
    labels = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 1, 1]], dtype=torch.bool)
    for mod in (SOL, ref):
        for m in (None, mask):
            torch.testing.assert_close(mod.compute_logprobs(logits, labels, m), 
                                       torch.full((2,), -math.log(7.0), dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(5))
def test_compute_dpo_loss_agrees_with_large_margins(seed: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(seed)
    spread = [1.0, 50.0, 1e3, 1e4, 3.0][seed]  # beta * margin up to ~1e3: log(sigmoid) underflows
    logps = [torch.randn(4, generator=g, dtype=dtype) * spread for _ in range(4)]
    beta = [0.1, 0.5, 1.0, 0.1, 2.0][seed]
    got = _value_and_grads(lambda *x: SOL.compute_dpo_loss(*x, beta=beta), *logps)
    want = _value_and_grads(lambda *x: ref.compute_dpo_loss(*x, beta=beta), *logps)
    for a, b in zip(got, want):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, **TOL[dtype])
    for t in got[:3]:
        assert t.ndim == 0 and t.dtype == dtype


def test_dpo_loss_known_values_and_reward_scale() -> None:
    """z = beta * margin = -800 gives loss 800 exactly (float64); rewards are unscaled means."""
    pc, pr = torch.tensor([0.0, -2.0], dtype=torch.float64), torch.tensor([8000.0, -2.0], dtype=torch.float64)
    rc, rr = torch.tensor([0.0, -1.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for mod in (SOL, ref):
        loss, cr, rj = mod.compute_dpo_loss(pc, pr, rc, rr, beta=0.1)
        z = torch.tensor([-800.0, 0.1], dtype=torch.float64)
        torch.testing.assert_close(loss, torch.nn.functional.softplus(-z).mean())
        torch.testing.assert_close(cr, (pc - rc).mean())  # 1/beta times the paper's reward
        torch.testing.assert_close(rj, (pr - rr).mean())
        assert not cr.requires_grad and not rj.requires_grad


class _TinyLM(nn.Module):
    """Embedding + linear head: (B, T) ids -> (B, T, V) logits, position-independent (enough for DPO)."""

    def __init__(self, V: int, E: int) -> None:
        super().__init__()
        self.emb, self.head = nn.Embedding(V, E), nn.Linear(E, V)
        self.grad_mode_seen: list[bool] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.grad_mode_seen.append(torch.is_grad_enabled())
        return self.head(torch.tanh(self.emb(ids)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(3))
def test_compute_dpo_loss_batch_agrees_and_freezes_the_reference(seed: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(seed)
    V = 13
    torch.manual_seed(seed)
    policy, reference = _TinyLM(V, 6).to(dtype), _TinyLM(V, 6).to(dtype)
    batch = {"chosen": torch.randint(0, V, (3, 6), generator=g), "rejected": torch.randint(0, V, (3, 4), generator=g)}
    batch["chosen_mask"] = torch.rand(3, 6, generator=g) < 0.7
    batch["rejected_mask"] = torch.rand(3, 4, generator=g) < 0.7
    batch["chosen_mask"][:, 2] = batch["rejected_mask"][:, 2] = True
    results = []
    for mod in (SOL, ref):
        policy.zero_grad()
        reference.zero_grad()
        reference.grad_mode_seen.clear()
        loss, cr, rj = mod.compute_dpo_loss_batch(batch, policy, reference, beta=0.3)
        loss.backward()
        assert reference.grad_mode_seen and not any(reference.grad_mode_seen)  # no graph through the reference
        assert all(p.grad is None for p in reference.parameters())
        results.append([loss.detach(), cr, rj] + [p.grad.clone() for p in policy.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_both_raise_value_error() -> None:
    for mod in (SOL, ref):
        with pytest.raises(ValueError, match=r"\(2, 5\)"):
            mod.compute_logprobs(torch.zeros(2, 4, 3), torch.zeros(2, 5, dtype=torch.long))
        with pytest.raises(ValueError, match=r"\(2, 3\)"):
            mod.compute_logprobs(torch.zeros(2, 4, 3), torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 3))
        with pytest.raises(ValueError, match=r"\(3,\)"):
            mod.compute_dpo_loss(torch.zeros(2), torch.zeros(2), torch.zeros(3), torch.zeros(2))
