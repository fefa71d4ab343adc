"""The known mistakes of a02_data: public and hidden checks give the same hints.

Windows are compared as `[(input_ids, target_ids), ...]` tuples of ints, batch sizes as lists of
ints; each entry computes the mistake's value from the text's ByteTokenizer ids (`ids`, and `plain`:
the ids with <|endoftext|> spelled out), max_length `L`, stride `s`, or from the dataset size `n`,
`batch_size` and `drop_last`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autograder.compare import Hints, Misconceptions
from autograder.runtime.toys import ByteTokenizer

EOT = "<|endoftext|>"
Windows = list[tuple[tuple[int, ...], tuple[int, ...]]]  # [(input_ids, target_ids), ...]
ALLOW_HINT = ("<|endoftext|> was encoded as its 13 characters: call tokenizer.encode(txt, "
              "allowed_special={'<|endoftext|>'}) so that it becomes one special token")


def byte_ids(text: str, *, allowed: bool = True) -> list[int]:
    return ByteTokenizer().encode(text, allowed_special={EOT} if allowed else set())


def slide(ids: Sequence[int], starts: range, width: int) -> Windows:
    """Windows of `width` tokens at `starts`, each with its target one token later."""
    return [(tuple(ids[i:i + width]), tuple(ids[i + 1:i + 1 + width])) for i in starts]


def windows(ids: Sequence[int], max_length: int, stride: int) -> Windows:
    """The contract: windows start at range(0, len(ids) - max_length, stride), target = input moved by one."""
    return slide(ids, range(0, len(ids) - max_length, stride), max_length)


def batch_sizes(n: int, batch_size: int, drop_last: bool) -> list[int]:
    sizes = [min(batch_size, n - k) for k in range(0, n, batch_size)]
    return sizes[:-1] if drop_last and sizes and sizes[-1] < batch_size else sizes


def as_windows(items: Any) -> Windows | None:
    """A learner's items (or batch rows) as int tuples; None unless all are pairs of 1-D finite tensors.

    Float tensors count too (torch.tensor([]) is float32): the hints look at values, the checks at dtypes.
    """
    if not isinstance(items, list) or not all(
            isinstance(item, (tuple, list)) and len(item) == 2 and all(
                hasattr(t, "dim") and t.dim() == 1 and not t.is_complex() and bool(t.isfinite().all()) for t in item)
            for item in items):
        return None
    return [(tuple(int(v) for v in x.tolist()), tuple(int(v) for v in y.tolist())) for x, y in items]


DATASET = Misconceptions("GPTDatasetV1")


@DATASET.add("one_window_too_many", "one window too many: the starts are range(0, len(ids) - max_length, stride); "
             "with len(ids) - max_length + 1 the last target runs past the end of the text")
def _(ids, L, s, **_):
    return slide(ids, range(0, len(ids) - L + 1, s), L)


@DATASET.add("target_not_shifted", "your targets equal your inputs: the target window is the input window moved one "
             "token to the right, ids[start + 1 : start + max_length + 1]")
def _(ids, L, s, **_):
    return [(x, x) for x, _ in windows(ids, L, s)]


@DATASET.add("target_shifted_wrong_way", "your inputs and targets are swapped (the target is shifted the wrong way): "
             "input_ids = ids[start : start + max_length], target_ids = ids[start + 1 : start + max_length + 1]")
def _(ids, L, s, **_):
    return [(y, x) for x, y in windows(ids, L, s)]


@DATASET.add("stride_ignored", "your windows start at every token: consecutive windows must start `stride` tokens "
             "apart", when=lambda s, **_: s != 1)
def _(ids, L, **_):
    return windows(ids, L, 1)


@DATASET.add("stride_is_max_length", "your windows start max_length tokens apart: use stride",
             when=lambda L, s, **_: s != L)
def _(ids, L, **_):
    return windows(ids, L, L)


@DATASET.add("max_length_plus_one", "your windows hold max_length + 1 tokens: input_ids = "
             "ids[start : start + max_length]")
def _(ids, L, s, **_):
    return slide(ids, range(0, len(ids) - L, s), L + 1)


@DATASET.add("endoftext_not_allowed", ALLOW_HINT, when=lambda ids, plain, **_: ids != plain)
def _(plain, L, s, **_):
    return windows(plain, L, s)


def dataset_hints(text: str, max_length: int, stride: int) -> Hints:
    return DATASET(ids=byte_ids(text), plain=byte_ids(text, allowed=False), L=max_length, s=stride)


LOADER = Misconceptions("create_dataloader_v1", every=True)  # a small example may fit two of them


def _sizes_entry(name: str, hint: str, b: int | None, d: bool | None) -> None:
    """Batch sizes with batch_size b and drop_last d (None: the ones asked for), where they differ from the right ones."""
    def sizes(n: int, batch_size: int, drop_last: bool, **_: Any) -> list[int]:
        return batch_sizes(n, batch_size if b is None else b, drop_last if d is None else d)

    LOADER.add(name, hint, when=lambda n, batch_size, drop_last, **_: sizes(n, batch_size, drop_last) != batch_sizes(
        n, batch_size, drop_last) and (d is None or drop_last != d))(sizes)


for _drop in (False, True):
    _sizes_entry(f"drop_last_{_drop}_ignored", f"drop_last={_drop} was not honoured: pass drop_last to the DataLoader "
                 f"({'drop' if _drop else 'keep'} the last, incomplete batch)", None, not _drop)
for _b, _why in ((1, "DataLoader's default batch_size is 1"), (4, "4 is only the default")):
    for _drop in (None, False, True):
        _sizes_entry(f"batch_size_{_b}_{_drop}", f"your batches hold {_b} windows, not the batch_size asked for: pass "
                     f"batch_size to the DataLoader ({_why})", _b, _drop)


@LOADER.add("shuffle_false_ignored", "shuffle=False was not honoured: the right windows in another order; pass "
            "shuffle to the DataLoader")
def _(n, batch_size, drop_last, want, **_):
    return sorted(want[:sum(batch_sizes(n, batch_size, drop_last))])


def loader_hints(want: Windows, batch_size: int, drop_last: bool, n: int | None = None) -> Hints:
    """LOADER for a loader over a dataset of `n` windows (len(want)), the first ones `want`."""
    return LOADER(n=len(want) if n is None else n, batch_size=batch_size, drop_last=drop_last, want=want)
