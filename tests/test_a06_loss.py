"""a06_loss: what the banks cannot express (PyTorch parity of the solution, stored GPT-2 ids, float32 margins)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

import reference.a06_loss as ref
from autograder.runtime.toys import ByteTokenizer, TableLM
from autograder.suites import a06_loss as suite
from tests.banks import a06_loss as bank
from tests.banks.edits import apply
from tests.conftest import SOLUTIONS


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOURCE = (SOLUTIONS / "a06_loss.py").read_text(encoding="utf-8")
SOLUTION = _module(SOLUTIONS / "a06_loss.py")


def _alternative(tmp_path: Path, name: str) -> ModuleType:
    (variant,) = [v for v in bank.ALTERNATIVES if v.name == name]
    path = tmp_path / f"a06_{name}.py"
    path.write_text(apply(SOURCE, variant), encoding="utf-8")
    return _module(path)


def _cases(n: int, *, scale: float, dtype: torch.dtype = torch.float64):
    gen = torch.Generator().manual_seed(0)
    for i in range(n):
        lead = (int(torch.randint(1, 4, (), generator=gen)), int(torch.randint(1, 6, (), generator=gen)))
        C = int(torch.randint(2, 8, (), generator=gen))
        x = (torch.randn(*lead, C, generator=gen, dtype=torch.float64) * scale).to(dtype)
        t = suite.make_targets(lead, C, i, ignore_index=-100, p_ignore=0.3)
        yield x, t


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_solution_and_reference_match_pytorch_values_and_gradients(scale: float) -> None:
    for x, t in _cases(20, scale=scale):
        want_x = x.clone().requires_grad_(True)
        want = F.cross_entropy(want_x.flatten(0, 1), t.flatten())
        want.backward()
        for impl in (SOLUTION, ref):
            got_x = x.clone().requires_grad_(True)
            got = impl.cross_entropy(got_x, t)
            got.backward()
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(got_x.grad, want_x.grad, rtol=1e-12, atol=1e-12)


def test_all_ignored_is_nan_with_zero_gradient_like_pytorch() -> None:
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    loss = SOLUTION.cross_entropy(x, torch.full((2, 3), 7), ignore_index=7)
    loss.backward()
    assert torch.isnan(loss) and torch.equal(x.grad, torch.zeros_like(x))
    assert torch.isnan(ref.cross_entropy(x, torch.full((2, 3), -100)))


def test_float32_tolerance_has_room_for_the_float32_alternatives(tmp_path: Path) -> None:
    """float32_tolerance (F32_ULPS) vs the worst error of correct float32 implementations at logits of size 1e4.

    Half the cases put every target at its row's maximum: the loss is then small, and what is left of it
    is rounding of the 1e4-sized logits, the hardest case for the tolerance.
    """
    names = ("logsumexp_max_plus_log", "one_hot_mask", "masked_sum_over_count", "float64_internals")
    impls = [SOLUTION] + [_alternative(tmp_path, name) for name in names]
    worst_ulps = 0.0
    for i, (x, t) in enumerate(_cases(150, scale=suite.LARGE, dtype=torch.float32)):
        if i % 2:
            t = x.argmax(-1)
        exact = float(ref.cross_entropy(x.double(), t))
        magnitude = float(x.abs().max())
        tol = suite.float32_tolerance(magnitude)
        for impl in impls:
            err = abs(float(impl.cross_entropy(x, t)) - exact)
            assert err <= tol.atol + tol.rtol * abs(exact)
            worst_ulps = max(worst_ulps, err / (magnitude * 2.0**-24))
    assert worst_ulps < suite.F32_ULPS / 4, f"a correct float32 implementation was off by {worst_ulps:.2f} ulps"


def test_stored_gpt2_ids_are_tiktokens() -> None:
    from autograder import gpt2_vocab

    reason = gpt2_vocab.available()
    if reason is not None:
        pytest.skip(f"GPT-2's tokenizer files are not available: {reason}")
    import tiktoken

    enc = tiktoken.get_encoding("gpt2")
    for text, ids in suite.GPT2_IDS.items():
        assert enc.encode(text, allowed_special={suite.EOT}) == ids
        assert SOLUTION.token_ids_to_text(SOLUTION.text_to_token_ids(text, enc), enc) == text
    # the grader's stand-in for the hints raises what tiktoken raises (public checks match hints by type)
    from autograder.mistakes.a06_loss import StoredIds
    mine = StoredIds(suite.GPT2_IDS)
    text = next(iter(suite.GPT2_IDS))
    for call in (lambda tok: tok.encode(text), lambda tok: tok.decode([suite.GPT2_IDS[text]])):
        kinds = []
        for tok in (enc, mine):
            with pytest.raises(Exception) as caught:
                call(tok)
            kinds.append(type(caught.value).__name__)
        assert kinds[0] == kinds[1], kinds


def test_loss_helpers_with_a_dataloader_and_a_list_agree() -> None:
    from autograder.runtime.loops import data_loader

    model = TableLM(torch.randn(5, 5, dtype=torch.float64))
    inputs, targets = suite.lm_batch(5, 7, 3, 1)
    loader = data_loader(inputs, targets, 3)
    as_list = [(inputs[i:i + 3], targets[i:i + 3]) for i in range(0, 7, 3)]
    for nb in (None, 1, 2, 5):
        got = SOLUTION.calc_loss_loader(loader, model, "cpu", num_batches=nb)
        assert isinstance(got, float)
        assert got == pytest.approx(ref.calc_loss_loader(as_list, model, "cpu", num_batches=nb), rel=1e-12)
    assert math.isnan(SOLUTION.calc_loss_loader([], model, "cpu"))
    tok = ByteTokenizer()
    assert SOLUTION.text_to_token_ids("", tok).dtype == torch.int64
    assert tok.calls[-1]["allowed_special"] == [suite.EOT]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to see calc_loss_batch honour `device`")
def test_calc_loss_batch_moves_batches_to_the_device() -> None:
    model = TableLM(torch.randn(5, 5)).to("cuda")
    inputs, targets = suite.lm_batch(5, 2, 3, 1)
    loss = SOLUTION.calc_loss_batch(inputs, targets, model, "cuda")
    assert loss.device.type == "cuda"
    assert float(loss) == pytest.approx(float(ref.calc_loss_batch(inputs, targets, model.cpu(), "cpu")), rel=1e-5)
