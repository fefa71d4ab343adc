"""a12_kv_cache: the solution and the independent reference agree, in-process, and both equal a05.

Also holds `rows_per_call`, the measurement the suite needs ("after the prefill each cached step sends
exactly one position through the model"): forward hooks on every block's attention record how many
positions each model call sends through each layer. `flops_per_call` does the same with
`torch.utils.flop_counter.FlopCounterMode`.
"""

from __future__ import annotations


import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import reference.a05_gpt_model as ref05
import reference.a12_kv_cache as ref
from tests.conftest import load_solution

AID = "a12_kv_cache"
pytestmark = pytest.mark.usefixtures("one_thread")




SOL = load_solution(AID)
SOL05 = load_solution("a05_gpt_model")

# float32: embedding gradients sum over many positions
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-3, atol=1e-3)}


def _cfg(seed: int, **over) -> dict:
    g = torch.Generator().manual_seed(seed)
    nh = int(torch.randint(1, 4, (1,), generator=g))
    cfg = {"vocab_size": int(torch.randint(5, 40, (1,), generator=g)),
           "context_length": int(torch.randint(4, 12, (1,), generator=g)),
           "emb_dim": nh * int(torch.randint(1, 5, (1,), generator=g)), "n_heads": nh,
           "n_layers": int(torch.randint(1, 4, (1,), generator=g)), "drop_rate": 0.0, "qkv_bias": bool(seed % 2)}
    cfg.update(over)
    return cfg


def _models(cfg: dict, dtype: torch.dtype, seed: int = 0):
    """The solution's and the reference's cached models and a05's reference model, with the same weights."""
    torch.manual_seed(seed)
    base = ref05.GPTModel(cfg).to(dtype).eval()
    with torch.no_grad():  # nonzero biases, non-trivial norms
        for p in base.parameters():
            p.add_(0.1 * torch.randn_like(p))
    sol, other = SOL.GPTModelCached(cfg).to(dtype).eval(), ref.GPTModelCached(cfg).to(dtype).eval()
    sol.load_state_dict(base.state_dict())
    other.load_state_dict(base.state_dict())
    return sol, other, base


def test_state_dicts_are_interchangeable_and_hold_no_cache() -> None:
    cfg = _cfg(3)
    sol, other, base = _models(cfg, torch.float64)
    a05 = SOL05.GPTModel(cfg)
    keys = set(base.state_dict())
    assert set(sol.state_dict()) == set(other.state_dict()) == set(a05.state_dict()) == keys
    a05.load_state_dict(sol.state_dict())
    with torch.no_grad():
        sol(torch.zeros(1, 3, dtype=torch.long), use_cache=True)
    assert set(sol.state_dict()) == keys  # a filled cache is not state
    assert not any("cache" in name for name, _ in sol.named_buffers())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", range(4))
def test_uncached_forward_and_gradients_agree_with_a05(seed: int, dtype: torch.dtype) -> None:
    cfg = _cfg(seed)
    sol, other, base = _models(cfg, dtype, seed)
    ids = torch.randint(0, cfg["vocab_size"], (2, cfg["context_length"]), generator=torch.Generator().manual_seed(seed))
    outs, grads = [], []
    for model in (sol, other, base):
        out = model(ids)
        up = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        model.zero_grad()
        (out * up).sum().backward()
        outs.append(out.detach())
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for out, grad in zip(outs[:2], grads[:2]):
        torch.testing.assert_close(out, outs[2], **TOL[dtype])
        for name, g in grads[2].items():
            torch.testing.assert_close(grad[name], g, **TOL[dtype], msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", range(5))
def test_cached_logits_equal_uncached_at_every_step(seed: int, dtype: torch.dtype) -> None:
    """Feed the window in chunks with the cache: each chunk's logits equal the full forward's rows."""
    cfg = _cfg(seed)
    sol, other, base = _models(cfg, dtype, seed)
    C = cfg["context_length"]
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg["vocab_size"], (3, C), generator=g)
    full = base(ids).detach()
    cuts = sorted(set(torch.randint(1, C, (3,), generator=g).tolist()))
    for model in (sol, other):
        model.reset_kv_cache()
        with torch.no_grad():
            for a, b in zip([0, *cuts], [*cuts, C]):
                torch.testing.assert_close(model(ids[:, a:b], use_cache=True), full[:, a:b], **TOL[dtype])
            with pytest.raises(ValueError, match=str(C)):
                model(ids[:, :1], use_cache=True)  # one position past context_length
            torch.testing.assert_close(model(ids), full, **TOL[dtype])  # uncached: cache untouched
            model.reset_kv_cache()
            torch.testing.assert_close(model(ids[:, :2], use_cache=True), full[:, :2], **TOL[dtype])


@pytest.mark.parametrize("seed", range(3))
def test_attention_cache_agrees(seed: int) -> None:
    torch.manual_seed(seed)
    nh = seed + 1
    att_s = SOL.MultiHeadAttentionCached(5, 2 * nh, 9, 0.0, nh, qkv_bias=True).double()
    att_r = ref.MultiHeadAttentionCached(5, 2 * nh, 9, 0.0, nh, qkv_bias=True).double()
    att_r.load_state_dict(att_s.state_dict())
    x = torch.randn(2, 9, 5, dtype=torch.float64)
    full = att_r(x)
    for att in (att_s, att_r):
        parts = [att(x[:, a:b], use_cache=True) for a, b in ((0, 4), (4, 5), (5, 9))]
        torch.testing.assert_close(torch.cat(parts, dim=1), full, **TOL[torch.float64])
        att.reset_cache()
        torch.testing.assert_close(att(x[:, :3], use_cache=True), full[:, :3], **TOL[torch.float64])


def rows_per_call(model, run) -> list[list[int]]:
    """Positions sent through each layer's attention, per model call: [[layer0, layer1, ...], ...]."""
    calls: list[list[int]] = []
    layer_rows: dict[int, int] = {}

    def on_model(module, args, output) -> None:
        calls.append([layer_rows[i] for i in sorted(layer_rows)])
        layer_rows.clear()

    hooks = [model.register_forward_hook(on_model)]
    for i, block in enumerate(model.trf_blocks):
        hooks.append(block.att.register_forward_hook(
            lambda m, args, out, i=i: layer_rows.__setitem__(i, args[0].shape[1])))
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return calls


def flops_per_call(model, run) -> list[int]:
    """FLOPs of each model call, counted by FlopCounterMode (matmuls only)."""
    counts: list[int] = []
    counter = FlopCounterMode(display=False)
    last = [0]

    def on_model(module, args, output) -> None:
        total = counter.get_total_flops()
        counts.append(total - last[0])
        last[0] = total

    hook = model.register_forward_hook(on_model)
    try:
        with counter:
            run()
    finally:
        hook.remove()
    return counts


def _expected_rows(T: int, new: int, size: int) -> list[int]:
    """Prefill min(T, size); then one row per step, or a full re-prefill while the window is full."""
    rows, held = [min(T, size)], min(T, size)
    for _ in range(new - 1):
        rows.append(size if held == size else 1)
        held = size if held == size else held + 1
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_generation_equals_a05_past_the_context_and_counts_rows(seed: int) -> None:
    cfg = _cfg(seed, context_length=6, n_layers=2)
    sol, other, base = _models(cfg, torch.float64, seed)
    g = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, cfg["vocab_size"], (2, 1 + seed * 2), generator=g)
    for size in (None, 4, 6):
        want = ref05.generate_text_simple(base, prompt, 12, size or 6)
        for mod, model in ((SOL, sol), (ref, other)):
            calls = rows_per_call(model, lambda: mod.generate_text_simple_cached(model, prompt, 12, size))
            got = mod.generate_text_simple_cached(model, prompt, 12, size)
            assert torch.equal(got, want), (mod.__name__, size)
            assert torch.equal(mod.generate_text_simple_cached(model, prompt, 12, size, use_cache=False), want)
            T, s = prompt.shape[1], size or 6
            rows = [c[0] for c in calls]
            assert all(len(set(c)) == 1 and len(c) == 2 for c in calls)  # every layer sees the same rows
            if mod is SOL:  # no model call after the last token
                assert rows == _expected_rows(T, 12, s), rows
            else:  # the reference feeds at the top of each step: the same calls
                assert rows == _expected_rows(T, 12, s), rows


def test_rows_and_flops_tell_a_cache_from_a_recomputation() -> None:
    """The measurement itself: a 'cache' that recomputes the window every step has the same outputs but
    sends the whole window each time. Measured (emb_dim 8, 2 layers, V 29, prompt 5, 6 new tokens): rows per
    call [5, 1, 1, 1, 1, 1] cached vs [5, 6, 7, 8, 9, 10] recomputed; FlopCounterMode FLOPs per call
    [19280, 3920, 3984, 4048, 4112, 4176] cached vs [19280, 23520, 27888, 32384, 37008, 41760] recomputed
    (a cached step grows only by the attention over one more cached key)."""
    cfg = _cfg(1, context_length=16, n_layers=2, emb_dim=8, n_heads=2)
    sol, _, base = _models(cfg, torch.float64)
    prompt = torch.randint(0, cfg["vocab_size"], (1, 5), generator=torch.Generator().manual_seed(0))

    def recompute() -> torch.Tensor:
        idx = prompt
        with torch.no_grad():
            for _ in range(6):
                sol.reset_kv_cache()
                logits = sol(idx, use_cache=True)  # the whole sequence every time
                idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return idx

    def cached() -> torch.Tensor:
        return SOL.generate_text_simple_cached(sol, prompt, 6)

    assert torch.equal(recompute(), cached())
    assert [c[0] for c in rows_per_call(sol, recompute)] == [5, 6, 7, 8, 9, 10]
    assert [c[0] for c in rows_per_call(sol, cached)] == [5, 1, 1, 1, 1, 1]
    flops_cached, flops_recomputed = flops_per_call(sol, cached), flops_per_call(sol, recompute)
    assert flops_cached[0] == flops_recomputed[0]  # the same prefill
    # a one-row step costs about a prefill row; a recomputing step costs the whole window
    assert all(c < r / 5 for c, r in zip(flops_cached[1:], flops_recomputed[1:])), (flops_cached, flops_recomputed)


def test_cache_reset_between_prompts() -> None:
    cfg = _cfg(2, context_length=8)
    sol, other, base = _models(cfg, torch.float64)
    p1 = torch.randint(0, cfg["vocab_size"], (1, 3), generator=torch.Generator().manual_seed(1))
    p2 = torch.randint(0, cfg["vocab_size"], (1, 2), generator=torch.Generator().manual_seed(2))
    for mod, model in ((SOL, sol), (ref, other)):
        mod.generate_text_simple_cached(model, p1, 3)
        assert torch.equal(mod.generate_text_simple_cached(model, p2, 4), ref05.generate_text_simple(base, p2, 4, 8))


def test_both_raise_value_error() -> None:
    for mod in (SOL, ref):
        with pytest.raises(ValueError, match="d_out=5"):
            mod.MultiHeadAttentionCached(4, 5, 8, 0.0, 2)
        att = mod.MultiHeadAttentionCached(4, 4, 3, 0.0, 2)
        att(torch.ones(1, 2, 4), use_cache=True)
        with pytest.raises(ValueError, match="context_length=3"):
            att(torch.ones(1, 2, 4), use_cache=True)
    for mod in (SOL, ref):
        model = mod.GPTModelCached(_cfg(0, context_length=4)).eval()
        model(torch.zeros(1, 4, dtype=torch.long), use_cache=True)
        with pytest.raises(ValueError, match="context_length=4"):
            model(torch.zeros(1, 1, dtype=torch.long), use_cache=True)
        with pytest.raises(ValueError, match="max_new_tokens=-1"):
            mod.generate_text_simple_cached(model, torch.zeros(1, 1, dtype=torch.long), -1)
