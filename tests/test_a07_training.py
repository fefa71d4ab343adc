"""a07_training: the solution and the independent reference agree (optimizer, clipping, schedule, trainers)."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import reference.a07_training as ref
from autograder.runtime.toy_gpt import ToyGPT
from autograder.runtime.toys import ByteTokenizer
from tests.conftest import load_solution

AID = "a07_training"


SOL = load_solution(AID)


def _params(seed: int, dtype: torch.dtype) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (5,), (2, 2, 3), (1,)]
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype)) for s in shapes]


def _grads(params, seed: int, skip: int | None) -> None:
    gen = torch.Generator().manual_seed(seed)
    for i, p in enumerate(params):
        g = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * 3
        p.grad = None if i == skip else g


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("seed", range(4))
def test_adamw_matches_reference_and_torch(dtype: torch.dtype, tol: float, seed: int) -> None:
    """Several steps, two param groups, one parameter without a gradient at some steps, lr changed midway."""
    gen = torch.Generator().manual_seed(100 + seed)
    hyper = {"lr": float(torch.rand((), generator=gen)) * 0.1, "betas": (0.8 + 0.19 * float(torch.rand(())), 0.99),
             "eps": 10 ** -float(torch.randint(3, 9, (), generator=gen)), "weight_decay": [0.0, 0.01, 0.3][seed % 3]}
    sets = [_params(seed, dtype) for _ in range(3)]
    opts = [cls([{"params": ps[:2]}, {"params": ps[2:], "weight_decay": 0.05}], **hyper)
            for cls, ps in zip((SOL.AdamW, ref.AdamW, torch.optim.AdamW), sets)]
    for step in range(6):
        for ps in sets:
            _grads(ps, 1000 * seed + step, skip=step % 4 if step % 2 else None)
        for opt in opts:
            if step == 3:
                opt.param_groups[0]["lr"] = hyper["lr"] / 2
            opt.step()
        for got, want in zip(sets[0], sets[2]):
            torch.testing.assert_close(got, want, rtol=tol, atol=tol)
        for got, want in zip(sets[1], sets[2]):
            torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    assert all(p.dtype == dtype for p in sets[0])


def test_adamw_closure_and_errors() -> None:
    for impl in (SOL, ref):
        p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
        opt = impl.AdamW([p], lr=0.1)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = (p ** 2).sum()
            loss.backward()
            return loss
        assert opt.step(closure).item() == pytest.approx(2.0)
        assert opt.step() is None
        for kwargs, name in (({"lr": -1.0}, "lr"), ({"eps": -1e-8}, "eps"), ({"betas": (1.0, 0.9)}, "betas"),
                             ({"betas": (0.9, -0.1)}, "betas"), ({"weight_decay": -0.1}, "weight_decay")):
            with pytest.raises(ValueError, match=name):
                impl.AdamW([p], **kwargs)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("max_norm", [0.0, 0.5, 3.0, 1e6])
def test_clip_grad_norm_matches_reference(dtype: torch.dtype, max_norm: float) -> None:
    for seed in range(3):
        sets = [_params(seed, dtype) for _ in range(2)]
        for ps in sets:
            _grads(ps, seed, skip=seed)
        norms = [impl.clip_grad_norm((p for p in ps), max_norm) for impl, ps in zip((SOL, ref), sets)]
        torch.testing.assert_close(norms[0], norms[1])
        assert norms[0].dim() == 0 and norms[0].dtype == dtype
        for a, b in zip(*sets):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                torch.testing.assert_close(a.grad, b.grad, rtol=2e-6, atol=0)


def test_clip_grad_norm_edges() -> None:
    t = torch.nn.Parameter(torch.zeros(3))
    t.grad = torch.tensor([3.0, 4.0, 0.0])
    for impl in (SOL, ref):
        g = t.grad.clone()
        t.grad = g
        assert float(impl.clip_grad_norm(t, 1.0)) == pytest.approx(5.0)  # a single tensor is accepted
        assert float(torch.linalg.vector_norm(t.grad)) == pytest.approx(1.0, rel=1e-5)
        assert float(impl.clip_grad_norm([torch.nn.Parameter(torch.ones(2))], 1.0)) == 0.0  # no gradients
        with pytest.raises(ValueError, match="max_norm"):
            impl.clip_grad_norm([t], -0.5)
        t.grad = torch.tensor([3.0, 4.0, 0.0])


def test_lr_schedule_matches_reference_on_a_grid() -> None:
    for total in (1, 2, 7, 40):
        for warmup in sorted({0, 1, total // 3, total - 1, total}):
            for step in range(total + 1):
                args = (step, total, warmup, 1e-3, 3e-5, 1e-6)
                assert SOL.lr_at_step(*args) == pytest.approx(ref.lr_at_step(*args), rel=1e-12, abs=1e-18)
    assert SOL.lr_at_step(0, 10, 4, 1e-3) == pytest.approx(3e-5)
    assert SOL.lr_at_step(4, 10, 4, 1e-3) == pytest.approx(1e-3)
    assert SOL.lr_at_step(10, 10, 4, 1e-3) == pytest.approx(1e-6)
    assert SOL.lr_at_step(5, 5, 5, 1e-3) == pytest.approx(1e-3)  # an empty decay: peak, no division by zero


@pytest.mark.parametrize("args,name", [((-1, 10, 2, 1e-3), "step"), ((11, 10, 2, 1e-3), "step"),
                                       ((0, 10, 11, 1e-3), "warmup_steps"), ((0, 10, -1, 1e-3), "warmup_steps")])
def test_lr_schedule_errors(args: tuple, name: str) -> None:
    for impl in (SOL, ref):
        with pytest.raises(ValueError, match=name):
            impl.lr_at_step(*args)


def toy_setup(seed: int, *, n_batches: int = 5, B: int = 2, T: int = 6, V: int = 257):
    """A float64 ToyGPT and lists of (input, target) batches of byte ids."""
    torch.manual_seed(seed)
    model = ToyGPT(V, 64, 8, n_layers=2).double()
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, V, (n_batches + 2, B, T + 1), generator=gen)
    batches = [(x[:, :-1], x[:, 1:]) for x in data]
    return model, batches[:n_batches], batches[n_batches:]


def test_evaluate_model_matches_reference_and_leaves_training_mode() -> None:
    model, train, val = toy_setup(0)
    for impl in (SOL, ref):
        model.eval()
        model.modes.clear(), model.grad_enabled.clear()
        got = impl.evaluate_model(model, train, val, "cpu", eval_iter=3)
        assert model.training and model.modes == [False] * 5 and model.grad_enabled == [False] * 5
        assert got == pytest.approx(ref.evaluate_model(model, train, val, "cpu", eval_iter=3), rel=1e-12)


def _run(impl: ModuleType, trainer: str, seed: int, **kwargs):
    model, train, val = toy_setup(seed)
    opt = impl.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = getattr(impl, trainer)(model, train, val, opt, "cpu", 2, 2, 2, "ab", ByteTokenizer(), **kwargs)
    return result, [p.detach().clone() for p in model.parameters()], out.getvalue()


@pytest.mark.parametrize("seed", [0])
def test_train_model_simple_matches_reference(seed: int) -> None:
    (got, got_w, printed), (want, want_w, _) = _run(SOL, "train_model_simple", seed), _run(ref, "train_model_simple", seed)
    assert got[2] == want[2] == [12, 36, 60, 84, 108]  # tokens seen at steps 0, 2, 4, 6, 8 of 10
    for a, b in zip(got[:2], want[:2]):
        assert a == pytest.approx(b, rel=1e-9)
    for a, b in zip(got_w, want_w):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert printed.count("\n") >= 2  # a sample per epoch


@pytest.mark.parametrize("warmup", [0, 3, 10])
def test_train_model_matches_reference(warmup: int) -> None:
    (got, got_w, _), (want, want_w, _) = (_run(SOL, "train_model", 1, warmup_steps=warmup),
                                          _run(ref, "train_model", 1, warmup_steps=warmup))
    assert len(got[3]) == 10 and got[3][0] == pytest.approx(3e-5 if warmup else 5e-3)
    for a, b in zip(got, want):
        assert a == pytest.approx(b, rel=1e-9)
    for a, b in zip(got_w, want_w):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)


def test_plot_losses_writes_a_png(tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image", reason="matplotlib (the `plots` extra) is not installed")
    path = SOL.plot_losses([10, 20, 30], [5.0, 4.0, 3.5], [5.2, 4.4, 4.1], tmp_path / "loss.png")
    data = path.read_bytes()
    assert path == tmp_path / "loss.png" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0  # not a blank canvas
    with pytest.raises(ValueError, match="equal lengths"):
        SOL.plot_losses([1, 2], [1.0], [1.0, 2.0], tmp_path / "bad.png")


def test_plot_losses_without_matplotlib_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib.figure now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"scratchgrad\[plots\]"):
        SOL.plot_losses([1], [1.0], [1.0], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_recording_sgd_steps_like_torch_sgd() -> None:
    """The trainers' checks use the runtime's RecordingSGD: the same updates as torch.optim.SGD with momentum."""
    from autograder.runtime.a07_helpers import RecordingSGD
    models = [ToyGPT(7, 4, 3).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    ours = RecordingSGD(models[0], 0.1, momentum=0.5)
    emb = [p for n, p in models[1].named_parameters() if n.startswith(("tok_emb.", "pos_emb."))]
    rest = [p for n, p in models[1].named_parameters() if not n.startswith(("tok_emb.", "pos_emb."))]
    torch_sgd = torch.optim.SGD([{"params": emb}, {"params": rest, "lr": 0.05}], lr=0.1, momentum=0.5)
    x = torch.randint(0, 7, (2, 4), generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        for model, opt in zip(models, (ours, torch_sgd)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(*(m.parameters() for m in models)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert len(ours.steps) == 3 and ours.steps[-1]["zero_grads"] == 3 and ours.steps[0]["lrs"] == [0.1, 0.05]


def test_optimizers_are_built_without_importing_dynamo() -> None:
    """torch._dynamo costs 3.5 s per process: the runtime helpers and the reference's AdamW never import it."""
    import subprocess
    code = ("import sys, torch\nfrom autograder.runtime import a07_helpers as h, optim\nimport reference.a07_training as ref\n"
            "from autograder.runtime.toy_gpt import ToyGPT\n"
            "p = optim.parameters([torch.ones(2)]); o = ref.AdamW(p); p[0].grad = torch.ones(2); o.step(); o.zero_grad()\n"
            "m = ToyGPT(5, 4, 3); s = h.RecordingSGD(m, 0.1); m(torch.zeros(1, 2, dtype=torch.long)).sum().backward()\n"
            "s.step(); print('torch._dynamo' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                         text=True)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stderr
