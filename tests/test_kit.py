"""The check kit (autograder/kit.py): catalogues, ctx.module/call/fetch, the automatic checks, the blame rule."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import reference.a03_attention as ref03
import reference.a04_gpt_blocks as ref04
from autograder.assignments import CURRICULUM, DEPENDENCIES, available, runs
from autograder.checks import Suite, run_check
from autograder.compare import FLOAT64, CheckFailure, Misconceptions, _same, assert_close, is_close
from autograder.differential import random_weights
from autograder.grading import grade
from autograder.worker import InProcess
from tests.conftest import SOLUTIONS, checks_by_name, make_submission
from tests.banks.edits import apply

ROOT = Path(__file__).resolve().parent.parent
KIT_SUITES = ("a03_attention", "a04_gpt_blocks", "a06_loss")  # the suites on the kit (the porters extend this)


# -- every catalogue: a mistake's output is never the right answer ---------------------------------
def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _attention(cls: str, heads: int) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a03_attention import attention_hints
    init: dict[str, Any] = {"d_in": 4, "d_out": 6, "context_length": 5, "dropout": 0.0, "qkv_bias": True}
    if cls == "MultiHeadAttention":
        init["num_heads"] = heads
    if cls == "SelfAttention_v2":
        init = {"d_in": 4, "d_out": 6, "qkv_bias": True}
    module = getattr(ref03, cls)(**init).double().eval()
    random_weights(module, 3)
    x = _x(2, 5, 4) if cls != "SelfAttention_v2" else _x(5, 4)
    with torch.no_grad():
        return attention_hints(cls, x, module.state_dict(), heads), module(x)


def _layernorm() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import layernorm_hints
    module = ref04.LayerNorm(6, eps=1e-3).double()
    random_weights(module, 4)
    x = _x(2, 3, 6) * 0.05  # rows of small variance: eps matters
    with torch.no_grad():
        return layernorm_hints(x, module.scale, module.shift, eps=1e-3), module(x)


def _block(cfg: dict[str, Any]) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import block_hints
    module = ref04.TransformerBlock(cfg).double().eval()
    random_weights(module, 5)
    x = _x(2, 4, cfg["emb_dim"])
    with torch.no_grad():
        return block_hints(x, dict(module.state_dict()), cfg["n_heads"]), module(x)


def _gelu() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import GELU_MISTAKES
    x = _x(3, 7) * 2
    return GELU_MISTAKES(x=x), ref04.GELU()(x)


def _feedforward(cfg: dict[str, Any]) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import FF_MISTAKES
    module = ref04.FeedForward(cfg).double()
    random_weights(module, 6)
    x = _x(2, 3, cfg["emb_dim"])
    with torch.no_grad():
        return FF_MISTAKES(x=x, w=dict(module.state_dict())), module(x)


def _residual() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import RESIDUAL_MISTAKES
    x = _x(4, 3, 8)
    return RESIDUAL_MISTAKES(x=x, p_drop=0.25, got=x.clone()), x


def _dropout() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import DROPOUT_MISTAKES
    x, c = _x(4, 3, 8), 0.5 + 0.25 * torch.arange(8, dtype=torch.float64)
    kept = torch.rand(4, 3, 8, generator=torch.Generator().manual_seed(1)) >= 0.25
    return DROPOUT_MISTAKES(x=x, c=c, p_drop=0.25), x + kept * c / 0.75  # one right answer: a seeded dropout


def _cross_entropy() -> list[tuple[Any, torch.Tensor]]:
    import reference.a06_loss as ref06
    from autograder.mistakes.a06_loss import CE_MISTAKES
    t = torch.tensor([[0, 1, 2], [1, 3, 1]])  # ignore_index 1, a valid class: every sequence keeps a position
    big = torch.tensor([[1e4, 1e4 - 1, 0], [0, 0, -1e4]], dtype=torch.float64)  # row 0 overflows exp, 1 underflows
    cases = [(_x(2, 3, 5) * 2, t, 1), (big[:1], torch.tensor([1]), -100), (big[1:], torch.tensor([2]), -100),
             (torch.tensor([[0, 1e4, 0]], dtype=torch.float64), torch.tensor([0]), -100),  # both mistakes give inf
             (_x(2, 3, 5), torch.full((2, 3), 4), 4)]  # every position ignored: nan
    return [(CE_MISTAKES(x=x, t=y, ii=ii), ref06.cross_entropy(x, y, ignore_index=ii)) for x, y, ii in cases]


def _loss_helpers(topic: str) -> list[tuple[Any, Any]]:
    import math
    from autograder.mistakes import a06_loss as m06
    from autograder.runtime.toys import ByteTokenizer
    table, inputs = _x(4, 4), torch.tensor([[0, 1, 2], [3, 3, 1]])
    targets = torch.tensor([[1, 2, -100], [3, 1, 0]])
    right = m06.loss_by_hand(table[inputs], targets)
    own = [torch.tensor(1.5), torch.tensor(2.5)]
    return {"calc_loss_batch": [(m06.BATCH_MISTAKES(table=table, inputs=inputs, targets=targets, own=right + 1,
                                                    want=right), right)],
            "calc_loss_loader": [(m06.LOADER_MISTAKES(losses=[1.0, 2.0, 4.0, 8.0], sizes=[3, 2, 3, 1], num_batches=2,
                                                      own=own), 1.5),
                                 (m06.LOADER_MISTAKES(losses=[1.0, 2.0, 4.0], sizes=[1, 1, 1], num_batches=6, own=own),
                                  7 / 3),
                                 (m06.LOADER_MISTAKES(losses=[], sizes=[], num_batches=None, own=[]), math.nan)],
            "perplexity": [(m06.PPL_MISTAKES(loss=0.5), math.exp(0.5)),
                           (m06.PPL_MISTAKES(loss=torch.tensor([0.1, 2.0])), torch.tensor([0.1, 2.0]).exp())],
            "text_to_token_ids": [(m06.T2I_MISTAKES(text=s, tok=ByteTokenizer()), torch.tensor([ids], dtype=torch.long))
                                  for s, ids in (("a<|endoftext|>", [97, 256]), ("", []))],
            "token_ids_to_text": [(m06.I2T_MISTAKES(ids=torch.tensor([[104, 105]]), tok=ByteTokenizer()), "hi")],
            }[topic]


_CFG = {"vocab_size": 11, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
        "qkv_bias": True}
# catalogue topic -> examples, each (bound catalogue, the right answer for the same inputs)
SAMPLES: dict[str, Callable[[], list[tuple[Any, torch.Tensor]]]] = {
    "attention": lambda: [_attention("MultiHeadAttention", 3), _attention("CausalAttention", 1),
                          _attention("SelfAttention_v2", 1)],
    "LayerNorm": lambda: [_layernorm()],
    "GELU": lambda: [_gelu()],
    "FeedForward": lambda: [_feedforward(_CFG)],
    "TransformerBlock": lambda: [_block(_CFG)],
    "TransformerBlock residual stream": lambda: [_residual()],
    "TransformerBlock dropout": lambda: [_dropout()],
    "cross_entropy": _cross_entropy,
    **{topic: (lambda topic=topic: _loss_helpers(topic)) for topic in (
        "calc_loss_batch", "calc_loss_loader", "perplexity", "text_to_token_ids", "token_ids_to_text")},
}


def _catalogues() -> list[Misconceptions]:
    found = []
    for aid in available():
        try:
            module = importlib.import_module(f"autograder.mistakes.{aid}")
        except ModuleNotFoundError:  # not on the kit yet
            continue
        found += [v for v in vars(module).values() if isinstance(v, Misconceptions)]
    return found


def test_every_catalogue_has_a_sample() -> None:
    topics = {c.topic for c in _catalogues()}
    assert topics <= set(SAMPLES), f"add a sample for {sorted(topics - set(SAMPLES))} to tests/test_kit.py"


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_a_mistakes_output_is_never_the_right_answer(topic: str) -> None:
    for hints, right in SAMPLES[topic]():
        computed = list(hints.outputs())
        assert computed or list(hints.raising()), f"{topic}: no mistake could be computed on the sample"
        for mistake, out in computed:  # a tensor of another dtype is not the right answer (float ids, say)
            same = _same(out, right, FLOAT64) and getattr(out, "dtype", None) == getattr(right, "dtype", None)
            assert not same, f"{topic}: {mistake.name}'s output equals the right answer"


def test_every_mistake_of_a_catalogue_is_computed_on_some_sample() -> None:
    """A mistake whose compute always raises would never give its hint."""
    for catalogue in _catalogues():
        seen = {m.name for hints, _ in SAMPLES[catalogue.topic]() for m, _ in [*hints.outputs(), *hints.raising()]}
        never = {m.name for m in catalogue} - seen - {"shortcut_dropped"}  # needs a learner's dropped output
        assert not never, f"{catalogue.topic}: {sorted(never)} never computed"


# -- comparisons take hints for tensors, floats, ids and strings alike ----------------------------
def test_hints_for_floats_ids_and_strings() -> None:
    words = Misconceptions("words")

    @words.add("upper", "you upper-cased it")
    def _(text: str, n: float) -> str:
        return text.upper()

    numbers = Misconceptions("numbers")

    @numbers.add("halved", "you halved it")
    def _(n: float) -> float:
        return n / 2

    @numbers.add("ids_reversed", "you reversed the ids")
    def _(n: float) -> list[int]:
        return [3, 2, 1]

    with pytest.raises(CheckFailure) as caught:
        assert_close("ABC", "abc", name="text", hints=words(text="abc", n=1.0))
    assert caught.value.hint == "you upper-cased it" and "expected 'abc'" in caught.value.message
    with pytest.raises(CheckFailure) as caught:
        assert_close(0.5000000001, 1.0, name="loss", tol=FLOAT64, hints=numbers(n=1.0))
    assert caught.value.hint == "you halved it"
    with pytest.raises(CheckFailure) as caught:
        assert_close([3, 2, 1], [1, 2, 3], name="ids", hints=numbers(n=1.0))
    assert caught.value.hint == "you reversed the ids"
    assert_close(1.0 + 1e-12, 1.0, name="loss", tol=FLOAT64)  # within tolerance: no failure
    with pytest.raises(CheckFailure) as caught:
        assert_close(torch.ones(2), torch.ones(3), name="t", tol=FLOAT64, hints=numbers(n=1.0))
    assert "shape (2,)" in caught.value.message and caught.value.hint is None  # shape before values and hints


def test_hints_for_a_wrong_shape_or_dtype_and_for_a_raised_exception() -> None:
    from autograder.runtime.values import Raised
    ids = Misconceptions("ids")

    @ids.add("flat", "add the batch dimension")
    def _(n: int) -> torch.Tensor:
        return torch.arange(n)

    @ids.add("floats", "pass dtype=torch.long")
    def _(n: int) -> torch.Tensor:
        return torch.arange(n, dtype=torch.float32)[None]

    @ids.add("divides", "check for zero first", raises=True)
    def _(n: int) -> torch.Tensor:
        return torch.tensor([[1 / n]])

    right = torch.arange(3)[None]
    for got, hint in ((torch.arange(3), "add the batch dimension"), (torch.arange(3.0)[None], "pass dtype=torch.long"),
                      (torch.arange(3, dtype=torch.float64)[None], None), (torch.arange(4), None)):  # same dtype only
        with pytest.raises(CheckFailure) as caught:
            assert_close(got, right, name="ids", tol=FLOAT64, hints=ids(n=3))
        assert caught.value.hint == hint
    raised = Raised("ZeroDivisionError", "division by zero")
    with pytest.raises(CheckFailure) as caught:  # a mistake marked raises= that raises the same type
        assert_close(raised, right[:, :0], name="ids", tol=FLOAT64, hints=ids(n=0))
    assert caught.value.hint == "check for zero first" and "your code raised" in caught.value.message
    with pytest.raises(CheckFailure) as caught:  # another type, or inputs where it does not raise: no hint
        assert_close(Raised("TypeError", "x"), right[:, :0], name="ids", tol=FLOAT64, hints=ids(n=0))
    assert caught.value.hint is None
    with pytest.raises(CheckFailure) as caught:
        assert_close(raised, right, name="ids", tol=FLOAT64, hints=ids(n=3))
    assert caught.value.hint is None


# -- the automatic checks of ctx.call / ctx.fetch, on a real in-process executor -------------------
LEARNER = '''
import torch

def softmax(x, dim=-1):
    if x.numel() == 7:
        raise NotImplementedError("a03: softmax")
    if x.numel() == 5:
        x.mul_(1.0)
        x[0] = 0.0
        return x
    if x.numel() == 6:
        return x.double()
    return torch.exp(x) / torch.exp(x).sum(dim, keepdim=True)
'''


def _run_kit_check(tmp_path: Path, body: Callable[[Any], None]) -> Any:
    (tmp_path / "a03_attention.py").write_text(LEARNER, encoding="utf-8")
    suite = Suite("a03_attention")
    suite.check(points=1, visibility="public", kind="property", description="d")(body)
    executor = InProcess(tmp_path)
    try:
        return run_check(suite.checks[0], suite, executor)
    finally:
        executor.close()


def test_fetch_fails_a_call_that_modifies_its_input(tmp_path: Path) -> None:
    def modifies(ctx: Any) -> None:
        ctx.fetch(ctx.call("softmax", torch.ones(5, dtype=torch.float64)))

    result = _run_kit_check(tmp_path, modifies)
    assert result.status == "failed" and "softmax modified its input (argument 1) in place" in result.message


def test_fetch_fails_a_call_that_changes_the_dtype(tmp_path: Path) -> None:
    def widens(ctx: Any) -> None:
        ctx.fetch(ctx.call("softmax", torch.ones(6, dtype=torch.float32)))

    result = _run_kit_check(tmp_path, widens)
    assert result.status == "failed" and "dtype float64, expected float32" in result.message


def test_a_stub_in_a_caught_call_is_not_implemented(tmp_path: Path) -> None:
    def caught(ctx: Any) -> None:
        (got,) = ctx.fetch(ctx.call("softmax", torch.ones(7), catch=True))
        ctx.expect_raises(got, "softmax on 7 elements")

    result = _run_kit_check(tmp_path, caught)
    assert result.not_implemented and result.status == "failed"
    assert result.message == "not implemented yet: a03: softmax" and result.counterexample is None


def test_a_correct_call_passes_and_a_wrong_value_gets_its_hint(tmp_path: Path) -> None:
    wrong = Misconceptions("softmax")

    @wrong.add("no_exp", "you forgot the exp")
    def _(x: torch.Tensor) -> torch.Tensor:
        return x / x.sum(-1, keepdim=True)

    def compare(ctx: Any) -> None:
        x = torch.arange(1.0, 4.0, dtype=torch.float64)
        (got,) = ctx.fetch(ctx.call("softmax", x))
        ctx.expect_close(got, x / x.sum(), name="output of softmax", tol=FLOAT64, hints=wrong(x=x))

    result = _run_kit_check(tmp_path, compare)
    assert result.status == "failed" and result.hint is None  # a real softmax is not the no-exp mistake
    (tmp_path / "b").mkdir()
    result = _run_kit_check(tmp_path / "b", lambda ctx: ctx.fetch(ctx.call("softmax", torch.ones(3))))
    assert result.status == "passed" and not result.not_implemented


# -- dependencies: declared once, and the blame note -----------------------------------------------
def test_declared_dependencies_match_the_solutions_imports() -> None:
    for aid in available():
        tree = ast.parse((SOLUTIONS / f"{aid}.py").read_text(encoding="utf-8"))
        imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module in CURRICULUM for alias in node.names}
        declared = {(use.dep, name) for use in DEPENDENCIES.get(aid, ()) for name in use.names}
        assert imported == declared, f"{aid}: solutions import {sorted(imported)}, declared {sorted(declared)}"
    assert runs("a04_gpt_blocks", ("TransformerBlock", "LayerNorm")) == {"a03_attention": {"MultiHeadAttention"}}
    assert runs("a04_gpt_blocks", ("LayerNorm",)) == {}


def _two(tmp_path: Path, a03: str | None, a04: str | None) -> Any:
    from tests.banks import a03_attention as b03
    from tests.banks import a04_gpt_blocks as b04
    sub = make_submission(tmp_path)
    for aid, bank, name in (("a03_attention", b03, a03), ("a04_gpt_blocks", b04, a04)):
        if name:
            (variant,) = [v for v in bank.MUTANTS if v.name == name]
            path = sub / f"{aid}.py"
            path.write_text(apply(path.read_text(encoding="utf-8"), variant), encoding="utf-8")
    return grade(sub, ["a03_attention", "a04_gpt_blocks"], isolate=False)


def test_an_earlier_assignment_is_blamed_only_for_what_the_check_runs(tmp_path: Path) -> None:
    # a03 loses points on softmax overflow only; its MultiHeadAttention is right: no note on a04's failures
    report = _two(tmp_path / "1", "softmax_no_max_subtraction", "norm1_reused_for_ff")
    a03 = checks_by_name(report, "a03_attention")
    assert a03["softmax_large_inputs"].status != "passed" and a03["mha_matches_reference"].status == "passed"
    block = checks_by_name(report, "a04_gpt_blocks")["block_is_pre_ln_residual"]
    assert block.status == "failed" and "a03_attention" not in block.message
    # a03's MultiHeadAttention has no causal mask: a04's block checks say so
    report = _two(tmp_path / "2", "mha_no_causal_mask", None)
    block = checks_by_name(report, "a04_gpt_blocks")["block_is_causal"]
    assert block.status == "failed" and "also runs your a03_attention code, which lost points above" in block.message
    assert "MultiHeadAttention: " in block.message
    # a LayerNorm check runs no a03 code: never a note
    layernorm = checks_by_name(report, "a04_gpt_blocks")["layernorm_normalises_rows"]
    assert layernorm.status == "passed"


def test_results_module_imports_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys
    code = ("import sys; sys.modules['torch'] = None\n"
            "from autograder.results import CheckResult, AssignmentResult, Report, not_implemented\n"
            "r = Report('s', [AssignmentResult('a03_attention', [CheckResult('c', 'failed', 0.0, 1.0, 'public', "
            "'property', 'd', message='not implemented yet: x', not_implemented=True)])])\n"
            "assert '\"not_implemented\": true' in r.to_json() and not_implemented({'message': 'not implemented yet'})\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_expect_trainable_names_frozen_and_trainable_parameters(tmp_path: Path) -> None:
    from autograder.properties import expect_trainable
    (tmp_path / "a03_attention.py").write_text(
        "import torch\n"
        "class Head(torch.nn.Module):\n"
        "    def __init__(self, freeze):\n"
        "        super().__init__()\n"
        "        self.body = torch.nn.Linear(2, 2)\n"
        "        self.out = torch.nn.Linear(2, 1)\n"
        "        self.body.requires_grad_(not freeze)\n", encoding="utf-8")
    suite = Suite("a03_attention")

    @suite.check(points=1, visibility="public", kind="property", description="d")
    def frozen_body(ctx: Any) -> None:
        for freeze in (True, False):
            (got,) = ctx.fetch(ctx.p.trainable(ctx.module("Head", [freeze], dtype=None, train=None)))
            expect_trainable(got, "Head", trainable=("out.",), frozen=("body.",))

    executor = InProcess(tmp_path)
    try:
        result = run_check(suite.checks[0], suite, executor)
    finally:
        executor.close()
    assert result.status == "failed" and "body.bias, body.weight should not be trainable" in result.message
