"""Hidden checks for a02_data: differential against reference/a02_data.py on Hypothesis text.

Texts are any Unicode with `<|endoftext|>` (and near misses such as `<|endoftext|`) mixed in. The
reference builds its windows from a strided view of the token tensor and its loader from explicit
samplers, so agreement with the learner's loop is evidence, not an echo.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import reference.a02_data as ref
from autograder.kit import Context, given
from autograder.mistakes.a02_data import EOT, Windows, byte_ids, dataset_hints, loader_hints
from autograder.runtime.toys import ByteTokenizer
from autograder.suites.a02_data import (BYTE_TOKENIZER, DL, DS, SUITE, dataset_items, expect_batches, expect_permutation,
                                        expect_windows, loader_call, loader_epochs)

check = SUITE.check
NEAR_MISSES = ("<|endoftext|", "<|", "|>", "endoftext", "<|endoftext|>>")


def texts(*, max_pieces: int = 8) -> st.SearchStrategy[str]:
    """Any Unicode text of at least two tokens, with <|endoftext|> and near misses of it among the pieces."""
    piece = st.one_of(st.text(max_size=12), st.just(EOT), st.sampled_from(NEAR_MISSES))
    return st.lists(piece, min_size=1, max_size=max_pieces).map(
        lambda ps: "".join(ps) + (" and so on" if len(byte_ids("".join(ps))) < 2 else ""))


def reference_batches(text: str, **args: Any) -> tuple[Windows, int]:
    """The reference's batches (ByteTokenizer), flattened to windows, and the size of its dataset."""
    dl = ref.create_dataloader_v1(text, tokenizer=ByteTokenizer(), **args)
    return [(tuple(a), tuple(b)) for x, y in dl for a, b in zip(x.tolist(), y.tolist())], len(dl.dataset)


def _args(text: str, L: int, s: int, **more: Any) -> dict[str, Any]:
    return {"max_length": min(L, len(byte_ids(text)) - 1), "stride": s, **more}


@check(points=3, visibility="hidden", kind="differential", targets=(DS,), max_examples=15,
       description="GPTDatasetV1: the reference's windows on any Unicode text with <|endoftext|> inside")
@given(text=texts(), L=st.integers(1, 10), s=st.integers(1, 10))
def dataset_matches_reference(ctx: Context, text: str, L: int, s: int) -> None:
    L = _args(text, L, s)["max_length"]
    ctx.example(config={"max_length": L, "stride": s, "txt_characters": len(text), "tokenizer": BYTE_TOKENIZER})
    ds = ref.GPTDatasetV1(text, ByteTokenizer(), L, s)
    want = [(tuple(x.tolist()), tuple(y.tolist())) for x, y in (ds[i] for i in range(len(ds)))]
    expect_windows(ctx, dataset_items(ctx, text, L, s), want, dataset_hints(text, L, s),
                   f"GPTDatasetV1(txt, tokenizer, {L}, {s})")


@check(points=2, visibility="hidden", kind="differential", targets=(DL, DS), max_examples=10,
       description="create_dataloader_v1 (shuffle=False): the reference's batches on Unicode text, any batch_size "
                   "and drop_last")
@given(text=texts(), L=st.integers(1, 8), s=st.integers(1, 8), batch_size=st.integers(1, 5),
       drop_last=st.booleans())
def dataloader_matches_reference(ctx: Context, text: str, L: int, s: int, batch_size: int, drop_last: bool) -> None:
    args = _args(text, L, s, batch_size=batch_size, shuffle=False, drop_last=drop_last)
    ctx.example(config={**args, "txt_characters": len(text), "tokenizer": BYTE_TOKENIZER})
    want, n = reference_batches(text, **args)
    expect_batches(ctx, loader_epochs(ctx, text, **args)["epochs"][0], want,
                   loader_hints(want, batch_size, drop_last, n), args["max_length"], loader_call(text, **args))


@check(points=1, visibility="hidden", kind="differential", targets=(DL, DS), max_examples=8,
       description="create_dataloader_v1 (shuffle=True): the reference's batch sizes, and only its windows, each "
                   "at most once per epoch, on Unicode text")
@given(text=texts(), L=st.integers(1, 6), s=st.integers(1, 6), batch_size=st.integers(1, 4),
       drop_last=st.booleans())
def shuffled_dataloader_matches_reference(ctx: Context, text: str, L: int, s: int, batch_size: int,
                                          drop_last: bool) -> None:
    args = _args(text, L, s, batch_size=batch_size, shuffle=True, drop_last=drop_last)
    ctx.example(config={**args, "txt_characters": len(text), "tokenizer": BYTE_TOKENIZER})
    want, n = reference_batches(text, **{**args, "shuffle": False, "drop_last": False})
    expect_permutation(ctx, loader_epochs(ctx, text, seed=5, **args)["epochs"][0], want, batch_size, drop_last,
                       args["max_length"], loader_call(text, **args), n)
