"""a11_lora: the solution and the independent reference agree (outputs, gradients, replacement, freezing,
merging), in-process; and the goodness-of-fit test for A's initialisation, with its measured false-alarm
rate and power, so that the suite can grade the init in distribution.

The test of A (in_dim, rank), `kaiming_uniform_(A, a)`: fan_in = A.size(1) = rank, and the entries are
i.i.d. U(-b, b) with b = sqrt(6 / ((1 + a^2) * rank)); for a = sqrt(5), b = 1 / sqrt(rank).

- fixed-bound KS: the Kolmogorov-Smirnov statistic of A's n = in_dim * rank entries against U(-b, b),
  rejected when sqrt(n) * D > 1.9495 (the asymptotic level-1e-3 point of Kolmogorov's distribution).
- bound-free KS ("any Kaiming-uniform gain", as the contract accepts): m = max |A|; given m, the other
  n - 1 entries are exactly i.i.d. U(-m, m), so KS of them / m against U(-1, 1) is an exact test of
  "uniform and symmetric, whatever the bound"; plus m <= sqrt(6 / rank) (the largest Kaiming bound, a = 0).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import reference.a11_lora as ref
from autograder.properties import KS_CRITICAL_1E3, ks_uniform, symmetric_uniform_problem
from tests.conftest import load_solution

AID = "a11_lora"
pytestmark = pytest.mark.usefixtures("one_thread")




SOL = load_solution(AID)
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-4, atol=1e-5)}


def fixed_bound_rejects(A: torch.Tensor, a: float = math.sqrt(5)) -> bool:
    b = math.sqrt(6.0 / ((1.0 + a * a) * A.shape[1]))
    return ks_uniform(A, -b, b) > KS_CRITICAL_1E3


def bound_free_rejects(A: torch.Tensor) -> bool:
    """The suite's test (lora_init_distribution): autograder.properties.symmetric_uniform_problem."""
    return symmetric_uniform_problem(A, math.sqrt(6.0 / A.shape[1])) is not None


def _init_A(kind: str, in_dim: int, rank: int, gen: torch.Generator) -> torch.Tensor:
    """A drawn the right way, or by a realistic mistake."""
    b = 1 / math.sqrt(rank)
    if kind == "kaiming_a_sqrt5":
        return torch.empty(in_dim, rank).uniform_(-b, b, generator=gen)
    if kind == "kaiming_a_0":
        return torch.empty(in_dim, rank).uniform_(-math.sqrt(6) * b, math.sqrt(6) * b, generator=gen)
    if kind == "fan_in_dim":  # A created (rank, in_dim), kaiming'd, transposed: fan = in_dim
        bound = 1 / math.sqrt(in_dim)
        return torch.empty(in_dim, rank).uniform_(-bound, bound, generator=gen)
    if kind == "normal_same_std":
        return torch.randn(in_dim, rank, generator=gen) * b / math.sqrt(3)
    if kind == "randn":
        return torch.randn(in_dim, rank, generator=gen)
    if kind == "rand_0_1":
        return torch.rand(in_dim, rank, generator=gen)
    if kind == "half_bound":
        return torch.empty(in_dim, rank).uniform_(-b / 2, b / 2, generator=gen)
    raise ValueError(kind)


def rejection_rate(test, kind: str, in_dim: int, rank: int, trials: int) -> float:
    gen = torch.Generator().manual_seed(1234)
    return sum(test(_init_A(kind, in_dim, rank, gen)) for _ in range(trials)) / trials


def test_ks_false_alarm_and_power() -> None:
    """Measured on torch 2.13 (1000 draws per cell, rank 8; n = in_dim * rank entries); bound-free is the suite's
    test as it runs (autograder.properties.symmetric_uniform_problem, re-measured with it: the same figures):

    rejection rate            correct  a=0    fan=in  normal(same std)  randn  rand(0,1)  half bound
    fixed-bound, n = 512      0.002    1.0    1.0     0.264             1.0    1.0        1.0
    fixed-bound, n = 2048     0.000    1.0    1.0     1.0               1.0    1.0        1.0
    bound-free,  n = 512      0.002    0.002  0.002   1.0               1.0    1.0        0.002
    bound-free,  n = 2048     0.000    0.000  0.000   1.0               1.0    1.0        0.000

    (n = 8192, 300 draws: as n = 2048.) So: use n >= 2048 entries (e.g. LoRALayer(256, out, 8, ...)); the
    bound-free test is the one that matches the contract's "any Kaiming-uniform gain"; the fixed-bound one
    also pins a = sqrt(5). The suite is derandomized (fixed seeds): check that the reference passes on them.
    """
    trials = 300
    for test in (fixed_bound_rejects, bound_free_rejects):
        assert rejection_rate(test, "kaiming_a_sqrt5", 256, 8, trials) <= 0.01
        for kind in ("normal_same_std", "randn", "rand_0_1"):
            assert rejection_rate(test, kind, 256, 8, trials) >= 0.99, (test.__name__, kind)
    for kind in ("kaiming_a_0", "fan_in_dim", "half_bound"):
        assert rejection_rate(fixed_bound_rejects, kind, 256, 8, trials) >= 0.99, kind
        assert rejection_rate(bound_free_rejects, kind, 256, 8, trials) <= 0.01, kind
    assert rejection_rate(fixed_bound_rejects, "normal_same_std", 64, 8, trials) < 0.5  # n = 512 is too few


@pytest.mark.parametrize("mod", [SOL, ref], ids=["solution", "reference"])
def test_lora_init_passes_the_fit_tests(mod) -> None:
    for seed in range(5):
        torch.manual_seed(seed)
        layer = mod.LoRALayer(256, 20, 8, alpha=4)
        assert layer.A.shape == (256, 8) and layer.B.shape == (8, 20)
        assert not fixed_bound_rejects(layer.A) and not bound_free_rejects(layer.A)
        assert torch.count_nonzero(layer.B) == 0


def _set_lora(module: nn.Module, gen: torch.Generator) -> None:
    """Nonzero B (a trained adapter): without it every LoRA output is zero and scaling errors hide."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("B") or name.endswith("A"):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", range(4))
def test_linear_with_lora_and_merge_agree(seed: int, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(seed)
    fin, fout = (int(v) for v in torch.randint(1, 12, (2,), generator=gen))
    rank, alpha, bias = 1 + seed, [1, 0.5, 16, -3][seed], seed % 2 == 0
    torch.manual_seed(seed)
    base = nn.Linear(fin, fout, bias=bias).to(dtype)
    sol = SOL.LinearWithLoRA(base, rank, alpha)
    other = ref.LinearWithLoRA(nn.Linear(fin, fout, bias=bias).to(dtype), rank, alpha)
    assert sol.linear is base and sol.lora.A.dtype == dtype and other.lora.A.dtype == dtype
    _set_lora(sol, gen)
    other.load_state_dict(sol.state_dict())
    x = torch.randn(3, 2, fin, generator=gen, dtype=dtype)
    outs = []
    for layer in (sol, other):
        xx = x.clone().requires_grad_(True)
        out = layer(xx)
        out.backward(torch.ones_like(out) * torch.arange(fout, dtype=dtype))
        outs.append([out.detach(), xx.grad] + [p.grad for p in layer.parameters()])
    for g, w in zip(*outs):
        torch.testing.assert_close(g, w, **TOL[dtype])
    before = {k: v.clone() for k, v in sol.state_dict().items()}
    for mod, layer in ((SOL, sol), (ref, other)):
        merged = mod.merge_lora(layer)
        assert type(merged) is nn.Linear and (merged.bias is not None) == bias and merged.weight.dtype == dtype
        torch.testing.assert_close(merged(x), outs[0][0], **TOL[dtype])
    assert all(torch.equal(before[k], v) for k, v in sol.state_dict().items())  # input untouched


def _toy(dtype=torch.float64) -> nn.Module:
    """GPT-shaped names, Linear layers at three depths, inside Sequential and ModuleList."""
    torch.manual_seed(0)
    m = nn.Module()
    m.tok_emb = nn.Embedding(11, 6)
    m.trf_blocks = nn.Sequential(*[nn.ModuleDict({"att": nn.ModuleDict({"W_query": nn.Linear(6, 6, bias=False),
                                                                         "out_proj": nn.Linear(6, 6)}),
                                                   "ff": nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 6)),
                                                   "norm1": nn.LayerNorm(6)}) for _ in range(2)])
    m.heads = nn.ModuleList([nn.Linear(6, 3), nn.Linear(6, 3)])
    m.out_head = nn.Linear(6, 11, bias=False)
    return m.to(dtype)


def test_replace_and_freeze_agree() -> None:
    for mod in (SOL, ref):
        model = _toy()
        linears = sorted(n for n, x in model.named_modules() if isinstance(x, nn.Linear))
        mod.replace_linear_with_lora(model, 2, 4)
        wrapped = sorted(n for n, x in model.named_modules() if isinstance(x, mod.LinearWithLoRA))
        assert wrapped == linears and len(wrapped) == 11  # out_head, heads.0-1, (W_query, out_proj, ff.0, ff.2) x 2
        assert all(x.lora.A.dtype == torch.float64 for x in model.modules() if isinstance(x, mod.LinearWithLoRA))
        mod.freeze_except_lora(model)
        trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        assert trainable == sorted(f"{w}.lora.{m}" for w in wrapped for m in "AB")
    sol_model, ref_model = _toy(), _toy()
    SOL.replace_linear_with_lora(sol_model, 3, 6)
    ref.replace_linear_with_lora(ref_model, 3, 6)
    assert set(sol_model.state_dict()) == set(ref_model.state_dict())


def test_both_raise() -> None:
    for mod in (SOL, ref):
        with pytest.raises(ValueError, match="rank=0"):
            mod.LoRALayer(4, 4, 0, 1)
        with pytest.raises(TypeError, match="Conv1d"):
            mod.LinearWithLoRA(nn.Conv1d(2, 2, 1), 2, 2)
        with pytest.raises(TypeError, match="Linear"):
            mod.merge_lora(nn.Linear(2, 2))
