"""Public checks for a09_classification: properties, and a few stored reference results (`JSON_SNAPSHOTS`).

The model is the runtime's ToyGPT (GPT-shaped: tok_emb, pos_emb, trf_blocks, final_norm, out_head,
not a transformer), so a grade here never hinges on the learner's a05; its vocabulary doubles as
the classes (ids 1..C-1 are tokens, 0 the padding). The grader runs the same model here to know
the logits, and checks the loss and the accuracy against them; the tokenizer is the runtime's
ByteTokenizer (a text's ids are its UTF-8 bytes, so pad ids >= 256 never occur in a text).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.differential import RuntimeModel
from autograder.kit import FLOAT64, CheckFailure, Context, Suite, random_weights
from autograder.mistakes.a09_classification import (ACCURACY_MISTAKES, DATASET_MISTAKES, LOSS_MISTAKES,
                                                    PREPARE_MISTAKES, rows, select, trainable_names)
from autograder.runtime.toy_gpt import ToyGPT
from autograder.runtime.toys import ByteTokenizer
from autograder.snapshots import load_json

SUITE = Suite("a09_classification")
check = SUITE.check
DATASET, PREPARE, LOSS, ACCURACY = ("ClassificationDataset", "prepare_for_classification",
                                    "calc_loss_batch_classifier", "calc_accuracy_loader")
PAD = 0  # the padding id of the classification batches below
ADDITION = "(this assignment's addition to the book's code, stated in the stub)"


def toy(C: int, T: int, seed: int, *, n_layers: int = 2, E: int = 4, train: bool = False) -> RuntimeModel:
    """A ToyGPT with C outputs (its vocabulary: ids 0..C-1) and seeded float64 weights."""
    made = ToyGPT(C, T, E, n_layers)
    random_weights(made, seed)
    return RuntimeModel("toy_gpt", "ToyGPT", (C, T, E, n_layers), weights=made.state_dict(), train=train)


def batch(C: int, B: int, T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) ids in 1..C-1, right-padded with PAD (row 0 full, the others shorter), and (B,) labels."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, C, (B, T), generator=gen)
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T
    ids[torch.arange(T) >= lengths[:, None]] = PAD
    return ids, torch.randint(0, C, (B,), generator=gen)


def toy_batch(C: int, B: int, T: int, seed: int, *, n_layers: int = 2) -> tuple[RuntimeModel, torch.Tensor,
                                                                               torch.Tensor, torch.Tensor]:
    """A seeded toy model, a padded batch for it, and the model's logits on that batch (for hints)."""
    model = toy(C, T, seed, n_layers=n_layers)
    ids, labels = batch(C, B, T, seed + 1)
    with torch.no_grad():
        return model, ids, labels, model.local()(ids)


def batches(C: int, T: int, sizes: list[int], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [batch(C, B, T, seed + i) for i, B in enumerate(sizes)]


# -- ClassificationDataset -------------------------------------------------------------------
def _dataset(ctx: Context, texts: list[str], labels: list[int], *args: Any) -> Any:
    tok = ctx.p.call(ctx.p.runtime("toys"), method="ByteTokenizer", learner=False)
    return ctx.module(DATASET, [texts, labels, tok, *args], dtype=None, train=None)


@check(points=3, visibility="public", kind="property", targets=(DATASET,), max_examples=10,
       description="ClassificationDataset: each item is (ids, label), int64; the ids are the text's, cut to "
                   "max_length (None: the longest text) and right-padded with pad_token_id")
def dataset_rows(ctx: Context) -> None:
    @ctx.given(texts=st.lists(st.text(max_size=8), min_size=1, max_size=4), data=st.data(),
               max_length=st.sampled_from([None, 1, 3, 6]), pad=st.sampled_from([50256, 300]))
    def _(texts: list[str], data: st.DataObject, max_length: int | None, pad: int) -> None:
        labels = data.draw(st.lists(st.integers(0, 3), min_size=len(texts), max_size=len(texts)), label="labels")
        encoded = [list(t.encode("utf-8")) for t in texts]
        if max_length is None and max(map(len, encoded)) == 0:
            encoded, texts = [[97]], ["a"]  # rows of length 0: nothing to compare
            labels = labels[:1]
        args = [max_length] + ([pad] if pad != 50256 else [])  # the default pad id is 50256
        ctx.example(config={"texts": texts, "labels": labels, "max_length": max_length, "pad_token_id": pad,
                            "tokenizer": "ids = the text's UTF-8 bytes"})
        ds = _dataset(ctx, texts, labels, *args)
        size, *items = ctx.fetch(ctx.call(ds, method="__len__"), *(ctx.call(ds, i, method="__getitem__")
                                                                   for i in range(len(texts))))
        ctx.expect_close(size, len(texts), name=f"len({DATASET}(...)) for {len(texts)} texts")
        name = f"{DATASET}(texts, labels, tokenizer, max_length={max_length}, pad_token_id={pad})"
        for i, item in enumerate(items):
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise CheckFailure(f"{name}[{i}]: expected a pair (input_ids, label), got {item!r:.80}")
            for what, t, dims in (("input_ids", item[0], 1), ("label", item[1], 0)):
                if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or t.dim() != dims:
                    raise CheckFailure(f"{name}[{i}]: {what} is {t!r:.80}, expected a {dims}-d int64 tensor")
        ctx.expect_close([item[0].tolist() for item in items], rows(encoded, max_length, pad),
                         name=f"the input_ids of every item of {name}",
                         hints=DATASET_MISTAKES(encoded=encoded, max_length=max_length, pad=pad))
        ctx.expect_close([int(item[1]) for item in items], labels, name=f"the labels of every item of {name}")


@check(points=1, visibility="public", kind="property", targets=(DATASET,),
       description="ClassificationDataset: ValueError naming both sizes when texts and labels differ in length")
def dataset_errors(ctx: Context) -> None:
    ctx.example(config={"texts": ["a", "b", "c"], "labels": [0, 1]})
    (made,) = ctx.fetch(ctx.module(DATASET, [["a", "b", "c"], [0, 1],
                                             ctx.p.call(ctx.p.runtime("toys"), method="ByteTokenizer", learner=False)],
                                   catch=True))
    ctx.expect_raises(made, f"{DATASET}(3 texts, 2 labels, ...)", mention=("3", "2"))


# -- prepare_for_classification --------------------------------------------------------------
@check(points=3, visibility="public", kind="property", targets=(PREPARE,),
       description="prepare_for_classification: returns the same model with out_head = Linear(emb_dim, "
                   "num_classes) with a bias; only the last block, final_norm and the new head are trainable")
def prepare_trainable_set(ctx: Context) -> None:
    for n_layers, C in ((3, 2), (1, 5)):
        model = toy(7, 6, n_layers, n_layers=n_layers, E=4, train=True).build(ctx.p)
        ctx.example(config={"model": f"ToyGPT(vocab_size=7, emb_dim=4, n_layers={n_layers})", "num_classes": C})
        out = ctx.call(PREPARE, model, C)
        got, same, trainable, params = ctx.fetch(out, ctx.p.call(model, out, method="__eq__", learner=False),
                                                 ctx.p.trainable(model), ctx.p.params(model))
        name = f"{PREPARE}(model with {n_layers} blocks, num_classes={C})"
        if same is not True:
            raise CheckFailure(f"{name} returned {'None' if got is None else 'another object'}: return the model "
                               f"itself (changed in place)")
        names = [*ToyGPT(7, 6, 4, n_layers).state_dict(), "out_head.bias"]  # the head gets a bias
        ctx.expect_close(sorted(k for k, v in trainable.items() if v), trainable_names(names, n_layers),
                         name=f"the trainable parameters after {name}",
                         hints=PREPARE_MISTAKES(names=names, n_layers=n_layers))
        ctx.expect_close({k: params.get(k) for k in ("out_head.weight", "out_head.bias")},
                         {"out_head.weight": [C, 4], "out_head.bias": [C]}, name=f"the shapes of out_head after {name}")


@check(points=1, visibility="public", kind="property", targets=(PREPARE,),
       description="prepare_for_classification: the new head has the model's dtype (float64 in, float64 head)")
def prepare_dtype_device(ctx: Context) -> None:
    model = toy(7, 6, 1).build(ctx.p)
    ctx.example(config={"model": "ToyGPT in float64", "num_classes": 3})
    ctx.call(PREPARE, model, 3)
    (state,) = ctx.fetch(ctx.p.state(model))
    weight = state.get("out_head.weight")
    if not isinstance(weight, torch.Tensor) or weight.dtype != torch.float64:
        raise CheckFailure(f"{PREPARE} on a float64 model: the new out_head.weight has dtype "
                           f"{getattr(weight, 'dtype', weight)}, expected float64: create the head with "
                           f"dtype= and device= of the old head's weight")


# -- calc_loss_batch_classifier ----------------------------------------------------------------
def _loss_check(ctx: Context, pad: int | None) -> None:
    @ctx.given(C=st.integers(3, 5), B=st.integers(2, 4), T=st.integers(2, 5), seed=sg.seeds())
    def _(C: int, B: int, T: int, seed: int) -> None:
        model, ids, labels, logits = toy_batch(C, B, T, seed)
        ctx.example(shapes={"input_batch": [B, T]}, config={"model": f"ToyGPT with {C} outputs", "pad_token_id": pad},
                    values={"input_batch": ids, "target_batch": labels})
        kwargs = {} if pad is None else {"pad_token_id": pad}
        (loss,) = ctx.fetch(ctx.call(LOSS, ids, labels, model.build(ctx.p), "cpu", **kwargs))
        ctx.expect_close(loss, F.cross_entropy(select(logits, ids, pad), labels),
                         name=f"{LOSS}(..., pad_token_id={pad})", tol=FLOAT64,
                         hints=LOSS_MISTAKES(logits=logits, ids=ids, labels=labels, pad=pad))


@check(points=2, visibility="public", kind="property", targets=(LOSS,), max_examples=6,
       description="calc_loss_batch_classifier: the mean cross-entropy of the last position's logits (the book's)")
def loss_at_last_position(ctx: Context) -> None:
    _loss_check(ctx, None)


@check(points=2, visibility="public", kind="property", targets=(LOSS,), max_examples=6,
       description="calc_loss_batch_classifier with pad_token_id: the logits of each row's last non-padding token")
def loss_at_last_real_token(ctx: Context) -> None:
    _loss_check(ctx, PAD)


# -- calc_accuracy_loader ----------------------------------------------------------------------
def accuracy_counts(model: RuntimeModel, loader: list[tuple[torch.Tensor, torch.Tensor]],
                    pad: int | None) -> list[int]:
    """Correct predictions per batch of `loader`."""
    twin = model.local()
    with torch.no_grad():
        return [int((select(twin(x), x, pad).argmax(-1) == y).sum()) for x, y in loader]


def run_accuracy(ctx: Context, model: RuntimeModel, loader: list, **kwargs: Any) -> tuple[Any, Any, Any, Any]:
    built = model.build(ctx.p)
    got = ctx.call(ACCURACY, loader, built, "cpu", grad=True, **kwargs)  # gradients on: the function turns them off
    return ctx.fetch(got, *(ctx.p.get(built, k) for k in ("modes", "grad_enabled", "training")))


@check(points=2, visibility="public", kind="property", targets=(ACCURACY,), max_examples=6,
       description="calc_accuracy_loader: correct examples / examples over the first num_batches batches "
                   "(a short last batch counts for less), at the last or last non-padding position")
def accuracy_counts_examples(ctx: Context) -> None:
    @ctx.given(n=st.integers(2, 4), seed=sg.seeds(), num_batches=st.sampled_from([None, 1, 2, 9]),
               pad=st.sampled_from([None, PAD]))
    def _(n: int, seed: int, num_batches: int | None, pad: int | None) -> None:
        model, sizes = toy(3, 4, seed), [4] * (n - 1) + [1]
        loader = batches(3, 4, sizes, seed + 1)
        correct, used = accuracy_counts(model, loader, pad), min(num_batches or n, n)
        ctx.example(config={"batch_sizes": sizes, "num_batches": num_batches, "pad_token_id": pad,
                            "correct_per_batch": correct})
        kwargs = {k: v for k, v in (("num_batches", num_batches), ("pad_token_id", pad)) if v is not None}
        got = run_accuracy(ctx, model, loader, **kwargs)[0]
        ctx.expect_close(got, sum(correct[:used]) / sum(sizes[:used]), tol=FLOAT64,
                         name=f"{ACCURACY}(loader of batch sizes {sizes}, num_batches={num_batches}, pad_token_id={pad})",
                         hints=ACCURACY_MISTAKES(correct=correct, sizes=sizes, used=used))


@check(points=2, visibility="public", kind="property", targets=(ACCURACY,),
       description="calc_accuracy_loader: runs the model in eval mode without gradients, once per batch used")
def accuracy_eval_mode_no_grad(ctx: Context) -> None:
    for num_batches in (None, 2):
        loader = batches(3, 4, [2, 2, 2], 5)
        ctx.example(config={"batches": 3, "num_batches": num_batches, "model": "in train mode"})
        _, modes, grads, _ = run_accuracy(ctx, toy(3, 4, 1, train=True), loader,
                                          **({} if num_batches is None else {"num_batches": num_batches}))
        name = f"{ACCURACY}(3 batches, num_batches={num_batches})"
        if len(modes) != (num_batches or 3):
            raise CheckFailure(f"{name} ran the model {len(modes)} times, expected {num_batches or 3}: use only the "
                               f"first min(num_batches, len(data_loader)) batches")
        if any(modes):
            raise CheckFailure(f"{name}: the model ran in train mode; switch to eval mode (model.eval()) first, so "
                               f"dropout is off")
        if any(grads):
            raise CheckFailure(f"{name}: the model ran with gradients on; wrap the loop in torch.no_grad()")


@check(points=1, visibility="public", kind="property", targets=(ACCURACY,),
       description="calc_accuracy_loader: the model is back in its mode afterwards, and an empty loader gives nan "
                   f"{ADDITION}")
def accuracy_restores_mode_and_empty_nan(ctx: Context) -> None:
    ctx.example(config={"model": "in train mode", "loaders": ["3 batches", "empty"]})
    *_, training = run_accuracy(ctx, toy(3, 4, 1, train=True), batches(3, 4, [2, 2, 1], 3))
    if training is not True:
        raise CheckFailure(f"{ACCURACY}: the model came in train mode and was left in eval mode; put it back in "
                           f"the mode it was in (model.train(was_training)) {ADDITION}")
    got = run_accuracy(ctx, toy(3, 4, 1), [])[0]
    if not (isinstance(got, float) and math.isnan(got)):
        raise CheckFailure(f"{ACCURACY}(empty loader): got {got!r}, expected nan (no examples, no accuracy) {ADDITION}")


# -- stored reference results ------------------------------------------------------------------
SNAP_TEXTS, SNAP_LABELS = ["héllo wörld", "", "spam spam spam", "ok"], [1, 0, 1, 0]
SNAP_DATASETS = {"longest": (None, 50256), "cut_at_4": (4, 300)}  # name -> (max_length, pad_token_id)
SNAP_LOSSES = {"last_position": None, "last_real_token": PAD}  # name -> pad_token_id


def JSON_SNAPSHOTS(ref: ModuleType) -> dict[str, Any]:
    model, (ids, labels) = toy(4, 5, 11).local(), batch(4, 3, 5, 12)
    with torch.no_grad():
            return {**{name: [ref.ClassificationDataset(SNAP_TEXTS, SNAP_LABELS, ByteTokenizer(), L, pad)[i][0].tolist()
                          for i in range(len(SNAP_TEXTS))] for name, (L, pad) in SNAP_DATASETS.items()},
                **{name: float(ref.calc_loss_batch_classifier(ids, labels, model, "cpu", pad))
                   for name, pad in SNAP_LOSSES.items()}}


@check(points=1, visibility="public", kind="snapshot", targets=(DATASET, LOSS),
       description="ClassificationDataset rows and calc_loss_batch_classifier losses match stored reference results")
def reference_snapshot(ctx: Context) -> None:
    stored, model, (ids, labels) = load_json(ctx.suite.assignment), toy(4, 5, 11), batch(4, 3, 5, 12)
    encoded = [list(t.encode("utf-8")) for t in SNAP_TEXTS]
    ctx.example(config={"texts": SNAP_TEXTS, "datasets": SNAP_DATASETS}, values={"input_batch": ids})
    for name, (L, pad) in SNAP_DATASETS.items():
        ds = _dataset(ctx, SNAP_TEXTS, SNAP_LABELS, L, pad)
        items = ctx.fetch(*(ctx.call(ds, i, method="__getitem__") for i in range(len(SNAP_TEXTS))))
        rows_ = [item[0].tolist() if isinstance(item, (tuple, list)) and isinstance(item[0], torch.Tensor) else item
                 for item in items]
        ctx.expect_close(rows_, stored[name],
                         name=f"input_ids of {DATASET}(texts, labels, tokenizer, {L}, {pad})",
                         hints=DATASET_MISTAKES(encoded=encoded, max_length=L, pad=pad))
    with torch.no_grad():
        logits = model.local()(ids)
    for name, pad in SNAP_LOSSES.items():
        (loss,) = ctx.fetch(ctx.call(LOSS, ids, labels, model.build(ctx.p), "cpu", pad_token_id=pad))
        ctx.expect_close(loss, torch.tensor(stored[name], dtype=torch.float64), tol=FLOAT64,
                         name=f"{LOSS}(..., pad_token_id={pad})",
                         hints=LOSS_MISTAKES(logits=logits, ids=ids, labels=labels, pad=pad))
