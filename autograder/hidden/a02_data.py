"""Hidden checks for a02_data: differential against reference/a02_data.py on Hypothesis text.

Texts are any Unicode with `<|endoftext|>` (and near misses such as `<|endoftext|`) mixed in. The
reference builds its windows from a strided view of the token tensor and its loader from explicit
samplers, so agreement with the learner's loop is evidence, not an echo.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

import reference.a02_data as ref
from autograder.checks import Context
from autograder.compare import CheckFailure
from autograder.runtime.toys import ByteTokenizer
from autograder.suites.a02_data import (
    BYTE_TOKENIZER,
    DL,
    DS,
    EOT,
    SUITE,
    Windows,
    batch_sizes,
    batch_windows,
    byte_ids,
    check_batches_in_order,
    check_items,
    dataset_items,
    loader_call,
    loader_epochs,
    sizes_hint,
)

check = SUITE.check
NEAR_MISSES = ("<|endoftext|", "<|", "|>", "endoftext", "<|endoftext|>>")


def unicode_texts(*, max_pieces: int = 8) -> st.SearchStrategy[str]:
    """Any Unicode text, with <|endoftext|> and near misses of it among the pieces."""
    piece = st.one_of(st.text(max_size=12), st.just(EOT), st.sampled_from(NEAR_MISSES))
    return st.lists(piece, min_size=1, max_size=max_pieces).map("".join)


def fit(text: str, count: Callable[[str], int], L: int) -> tuple[str, int]:
    """A text of at least two tokens and a max_length below its token count."""
    if count(text) < 2:
        text += " and so on"
    return text, min(L, count(text) - 1)


def reference_windows(text: str, L: int, s: int) -> Windows:
    ds = ref.GPTDatasetV1(text, ByteTokenizer(), L, s)
    return [(tuple(x.tolist()), tuple(y.tolist())) for x, y in (ds[i] for i in range(len(ds)))]


@check(points=3, visibility="hidden", kind="differential", targets=(DS,), max_examples=15,
       description="GPTDatasetV1: the reference's windows on any Unicode text with <|endoftext|> inside")
def dataset_matches_reference(ctx: Context) -> None:
    @ctx.given(text=unicode_texts(), L=st.integers(1, 10), s=st.integers(1, 10))
    def _(text: str, L: int, s: int) -> None:
        text, L = fit(text, lambda t: len(byte_ids(t)), L)
        ctx.example(config={"max_length": L, "stride": s, "txt_characters": len(text), "tokenizer": BYTE_TOKENIZER})
        check_items(dataset_items(ctx, text, L, s), text, L, s, f"GPTDatasetV1(txt, tokenizer, {L}, {s})",
                    expected=reference_windows(text, L, s))


def reference_batches(text: str, tokenizer: Any, **args: Any) -> tuple[Windows, int]:
    """The reference's batches, flattened to windows, and the size of its dataset."""
    dl = ref.create_dataloader_v1(text, tokenizer=tokenizer, **args)
    return [(tuple(a), tuple(b)) for x, y in dl for a, b in zip(x.tolist(), y.tolist())], len(dl.dataset)


@check(points=2, visibility="hidden", kind="differential", targets=(DL, DS), max_examples=10,
       description="create_dataloader_v1 (shuffle=False): the reference's batches on Unicode text, any batch_size "
                   "and drop_last")
def dataloader_matches_reference(ctx: Context) -> None:
    @ctx.given(text=unicode_texts(), L=st.integers(1, 8), s=st.integers(1, 8), batch_size=st.integers(1, 5),
               drop_last=st.booleans())
    def _(text: str, L: int, s: int, batch_size: int, drop_last: bool) -> None:
        text, L = fit(text, lambda t: len(byte_ids(t)), L)
        args = {"batch_size": batch_size, "max_length": L, "stride": s, "shuffle": False, "drop_last": drop_last}
        ctx.example(config={**args, "txt_characters": len(text), "tokenizer": BYTE_TOKENIZER})
        want, n = reference_batches(text, ByteTokenizer(), **args)
        res = loader_epochs(ctx, text, **args)
        check_batches_in_order(res["epochs"][0], want, batch_size, drop_last, L, loader_call(text, **args),
                               n_windows=n)


@check(points=1, visibility="hidden", kind="differential", targets=(DL, DS), max_examples=8,
       description="create_dataloader_v1 (shuffle=True): the reference's batch sizes, and only its windows, each "
                   "at most once per epoch, on Unicode text")
def shuffled_dataloader_matches_reference(ctx: Context) -> None:
    @ctx.given(text=unicode_texts(), L=st.integers(1, 6), s=st.integers(1, 6), batch_size=st.integers(1, 4),
               drop_last=st.booleans())
    def _(text: str, L: int, s: int, batch_size: int, drop_last: bool) -> None:
        text, L = fit(text, lambda t: len(byte_ids(t)), L)
        args = {"batch_size": batch_size, "max_length": L, "stride": s, "shuffle": True, "drop_last": drop_last}
        ctx.example(config={**args, "txt_characters": len(text), "tokenizer": BYTE_TOKENIZER})
        want, n = reference_batches(text, ByteTokenizer(), **{**args, "shuffle": False, "drop_last": False})
        res = loader_epochs(ctx, text, seed=5, **args)
        what = loader_call(text, **args)
        rows = batch_windows(res["epochs"][0], L, what)
        sizes, expected = [len(r) for r in rows], batch_sizes(n, batch_size, drop_last)
        if sizes != expected:
            raise CheckFailure(f"{what}: batch sizes {sizes}, expected {expected} ({n} windows)",
                               hint=sizes_hint(sizes, n, batch_size, drop_last))
        got = Counter(w for r in rows for w in r)
        if got - Counter(want):
            raise CheckFailure(f"{what}: an epoch holds a window that is not one of the dataset's (or one of them "
                               f"twice)")
