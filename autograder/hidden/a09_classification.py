"""Hidden checks for a09_classification: differential against reference/a09_classification.py on the runtime's ToyGPT."""

from __future__ import annotations

from hypothesis import strategies as st

import reference.a09_classification as ref
from autograder import strategies as sg
from autograder.differential import compare_with_model
from autograder.kit import FLOAT64, Context
from autograder.mistakes.a09_classification import ACCURACY_MISTAKES, LOSS_MISTAKES
from autograder.suites.a09_classification import ACCURACY, LOSS, PAD, SUITE, accuracy_counts, batches, toy, toy_batch

check = SUITE.check


def _loss(ctx: Context, pad: int | None) -> None:
    @ctx.given(C=st.integers(2, 6), B=st.integers(1, 4), T=st.integers(1, 6), seed=sg.seeds())
    def _(C: int, B: int, T: int, seed: int) -> None:
        model, ids, labels, logits = toy_batch(C, B, T, seed)
        ctx.example(shapes={"input_batch": [B, T]}, config={"num_classes": C, "pad_token_id": pad})
        compare_with_model(ctx, ref.calc_loss_batch_classifier, LOSS, [ids, labels, model, "cpu"], model=model,
                           kwargs={} if pad is None else {"pad_token_id": pad}, seed=seed + 2,
                           hints=LOSS_MISTAKES(logits=logits, ids=ids, labels=labels, pad=pad))


@check(points=3, visibility="hidden", kind="differential", targets=(LOSS,), max_examples=10,
       description="calc_loss_batch_classifier (last position): loss and every parameter gradient match the reference")
def loss_matches_reference(ctx: Context) -> None:
    _loss(ctx, None)


@check(points=2, visibility="hidden", kind="differential", targets=(LOSS,), max_examples=10,
       description="calc_loss_batch_classifier with pad_token_id: loss and every parameter gradient match the reference")
def loss_last_real_token_matches_reference(ctx: Context) -> None:
    _loss(ctx, PAD)


@check(points=2, visibility="hidden", kind="differential", targets=(ACCURACY,), max_examples=8,
       description="calc_accuracy_loader: matches the reference, short last batch and num_batches included")
def accuracy_matches_reference(ctx: Context) -> None:
    @ctx.given(C=st.integers(2, 4), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=sg.seeds(),
               num_batches=st.sampled_from([None, 1, 2, 5]), pad=st.sampled_from([None, PAD]))
    def _(C: int, sizes: list[int], seed: int, num_batches: int | None, pad: int | None) -> None:
        model, loader = toy(C, 5, seed), batches(C, 5, sizes, seed + 1)
        kwargs = {k: v for k, v in (("num_batches", num_batches), ("pad_token_id", pad)) if v is not None}
        ctx.example(config={"num_classes": C, "batch_sizes": sizes, **kwargs})
        want = ref.calc_accuracy_loader(loader, model.local(), "cpu", **kwargs)
        (got,) = ctx.fetch(ctx.call(ACCURACY, loader, model.build(ctx.p), "cpu", **kwargs))
        used = min(num_batches or len(sizes), len(sizes))
        ctx.expect_close(got, want, name=f"{ACCURACY}(loader, num_batches={num_batches}, pad_token_id={pad})",
                         tol=FLOAT64, hints=ACCURACY_MISTAKES(correct=accuracy_counts(model, loader, pad), sizes=sizes,
                                                              used=used))
