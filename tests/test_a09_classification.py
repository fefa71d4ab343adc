"""a09_classification: the solution and the independent reference agree (dataset, head swap, loss, accuracy)."""

from __future__ import annotations

import math

import pytest
import torch

import reference.a09_classification as ref
from autograder.runtime.toy_gpt import ToyGPT
from tests.conftest import load_solution

SOL = load_solution("a09_classification")
PAD = 0  # a ByteTokenizer-free setting: ids 1..V-1 are tokens, 0 is padding only


class Ids:
    """encode(text) -> one id per character, 1..30 (so 0 is free to be the pad id)."""

    def encode(self, text: str) -> list[int]:
        return [1 + ord(c) % 30 for c in text]


TEXTS = ["hello there", "a", "", "a rather long text that gets cut", "mid length"]
LABELS = [1, 0, 2, 1, 0]


@pytest.mark.parametrize("max_length", [None, 1, 4, 40])
@pytest.mark.parametrize("pad", [50256, 0, 7])
def test_dataset_matches_reference(max_length: int | None, pad: int) -> None:
    got, want = (impl.ClassificationDataset(TEXTS, LABELS, Ids(), max_length, pad) for impl in (SOL, ref))
    assert len(got) == len(want) == 5 and got.max_length == want.max_length
    for i in range(5):
        (x, y), (wx, wy) = got[i], want[i]
        assert x.dtype == y.dtype == torch.int64 and y.shape == () and torch.equal(x, wx) and torch.equal(y, wy)
    longest = SOL.ClassificationDataset(TEXTS, LABELS, Ids())
    assert longest.max_length == 32 and longest[1][0].tolist() == [Ids().encode("a")[0]] + [50256] * 31


def test_dataset_errors() -> None:
    for impl in (SOL, ref):
        with pytest.raises(ValueError, match="3"):
            impl.ClassificationDataset(["a", "b", "c"], [0, 1], Ids())
        with pytest.raises(ValueError, match="max_length"):
            impl.ClassificationDataset(["a"], [0], Ids(), max_length=0)


def _toy(seed: int, dtype: torch.dtype = torch.float64) -> ToyGPT:
    torch.manual_seed(seed)
    return ToyGPT(31, 16, 8, n_layers=3).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_prepare_for_classification_matches_reference(dtype: torch.dtype) -> None:
    models = [impl.prepare_for_classification(_toy(0, dtype), 3) for impl in (SOL, ref)]
    trainable = [sorted(n for n, p in m.named_parameters() if p.requires_grad) for m in models]
    assert trainable[0] == trainable[1] == ["final_norm.scale", "out_head.bias", "out_head.weight",
                                            "trf_blocks.2.ff.bias", "trf_blocks.2.ff.weight"]
    for m in models:
        assert m.out_head.weight.shape == (3, 8) and m.out_head.bias.shape == (3,)
        assert m.out_head.weight.dtype == dtype and m.out_head.bias.dtype == dtype
    model = _toy(1)
    assert SOL.prepare_for_classification(model, 2) is model
    for impl in (SOL, ref):
        with pytest.raises(ValueError, match="num_classes"):
            impl.prepare_for_classification(_toy(0), 0)


def _batch(seed: int, B: int = 4, T: int = 7, pad: int = PAD):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 31, (B, T), generator=gen)
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    ids[torch.arange(T) >= lengths.unsqueeze(1)] = pad  # right padding
    return ids, torch.randint(0, 3, (B,), generator=gen)


@pytest.mark.parametrize("pad", [None, PAD])
@pytest.mark.parametrize("seed", range(4))
def test_loss_and_gradients_match_reference(pad: int | None, seed: int) -> None:
    ids, labels = _batch(seed)
    grads, losses = [], []
    for impl in (SOL, ref):
        model = _toy(seed)
        torch.manual_seed(99)  # the same new head on both sides
        ref.prepare_for_classification(model, 3)
        loss = impl.calc_loss_batch_classifier(ids, labels, model, "cpu", pad_token_id=pad)
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=1e-12)
    assert grads[0].keys() == grads[1].keys() and "out_head.weight" in grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-10, atol=1e-12)


def test_last_token_and_last_real_token_differ_where_rows_are_padded() -> None:
    ids, _ = _batch(0)
    ids[0] = torch.arange(1, 8)  # one full row
    logits = torch.randn(*ids.shape, 3, dtype=torch.float64)
    last, real = SOL.last_token_logits(logits, ids), SOL.last_token_logits(logits, ids, PAD)
    padded = ids[:, -1] == PAD
    assert padded.any() and (~padded).any()
    assert torch.equal(last[~padded], real[~padded]) and not torch.equal(last[padded], real[padded])


@pytest.mark.parametrize("num_batches", [None, 1, 2, 10])
@pytest.mark.parametrize("pad", [None, PAD])
def test_accuracy_matches_reference_in_eval_mode_without_gradients(num_batches, pad) -> None:
    batches = [_batch(s, B=b) for s, b in ((1, 4), (2, 4), (3, 1))]  # a short last batch
    model = ref.prepare_for_classification(_toy(2), 3)
    for impl in (SOL, ref):
        model.train()
        model.modes.clear(), model.grad_enabled.clear()
        got = impl.calc_accuracy_loader(batches, model, "cpu", num_batches=num_batches, pad_token_id=pad)
        want = ref.calc_accuracy_loader(batches, model, "cpu", num_batches=num_batches, pad_token_id=pad)
        assert got == pytest.approx(want) and 0 <= got <= 1
        n = 3 if num_batches is None else min(num_batches, 3)
        assert model.modes[:n] == [False] * n and not any(model.grad_enabled[:n]) and model.training
        assert math.isnan(impl.calc_accuracy_loader([], model, "cpu"))
    # counted per example: 9 examples, not the mean of three batch accuracies
    correct = sum(int((SOL.last_token_logits(model(x), x, pad).argmax(-1) == y).sum()) for x, y in batches)
    assert SOL.calc_accuracy_loader(batches, model, "cpu", pad_token_id=pad) == pytest.approx(correct / 9)
