"""Public checks for a02_data: properties and snapshots, no reference needed.

The learner's dataset gets the runtime's `ByteTokenizer` (ids are the text's UTF-8 bytes, and
`<|endoftext|>` is id 256 only when allowed), so the windows of any text follow from the contract
alone: item i is ids[i*stride : i*stride + max_length] and the same slice one token later. The
default tokenizer is checked against tiktoken's GPT-2 encoding, and shuffling as a property (a
permutation of the same windows), never by seeded equality. Hints: autograder/mistakes/a02_data.py.

The JSON snapshot (`suites/snapshots/a02_data.json`) stores its input texts with the reference's
windows; `scratchgrad snapshots` recomputes the windows from the stored texts (delete the file to
take fresh texts from `autograder/data/corpus.txt`).
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import gpt2_vocab
from autograder.kit import FLOAT64, Context, Hints, Raised, Suite, given
from autograder.mistakes.a02_data import (ALLOW_HINT, EOT, Windows, as_windows, batch_sizes, byte_ids, dataset_hints,
                                          loader_hints, windows)
from autograder.runtime.toys import ByteTokenizer
from autograder.snapshots import json_path_for, load_json

DS, DL = "GPTDatasetV1", "create_dataloader_v1"
BYTE_TOKENIZER = "ByteTokenizer (ids = UTF-8 bytes, <|endoftext|> = 256 when allowed)"
PRINTABLE = st.sampled_from([chr(c) for c in range(32, 127)])  # one byte, one ByteTokenizer id each
SUITE = Suite("a02_data")
check = SUITE.check

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus.txt"
# Used where the corpus is missing (the checks compute their expectations from whatever text they use).
FALLBACK_TEXT = (
    "The ferry left at six, whatever the weather. On calm mornings the gulls followed it halfway across; "
    "on rough ones they stayed on the harbour wall and watched.\n<|endoftext|>\n"
    "Notes on bread: flour, water, salt, time. Most of the work is waiting, and most of the waiting is "
    "done by the dough. Caf\u00e9 owners know this; so do grandmothers.\n"
)
UNICODE_TEXT = ("<|endoftext|>na\u00efve caf\u00e9 \u2014 \u6771\u4eac\u306e\u96e8 \U0001f327\ufe0f, "
                "<|endoftext| is not a token, <|endoftext|> is. \u00bfS\u00ed?")


@functools.lru_cache(maxsize=1)
def corpus_text() -> str:
    """autograder/data/corpus.txt, or FALLBACK_TEXT repeated when this installation has no corpus."""
    try:
        return CORPUS.read_text(encoding="utf-8")
    except OSError:
        return FALLBACK_TEXT * 40


def text_of_bytes(n: int) -> str:
    """The first n characters of the corpus: at least n bytes, so at least n ByteTokenizer ids."""
    return corpus_text()[:n]


# -- running the learner's dataset and loader, and judging what they gave ---------------------------
def dataset_items(ctx: Context, text: str, max_length: int, stride: int) -> dict[str, Any]:
    """The learner's dataset of `text` (a fresh ByteTokenizer): {"length": len(ds), "items": [ds[0], ...]}."""
    ds = ctx.module(DS, [text, ctx.runtime("toys.ByteTokenizer"), max_length, stride], dtype=None, train=None)
    return ctx.fetch(ctx.runtime("loops.items", ds))[0]


def expect_windows(ctx: Context, res: dict[str, Any], want: Windows, hints: Hints, what: str) -> None:
    """len and every item (input_ids, target_ids) as int64 tensors equal to `want`; `hints` matched on all items."""
    got = as_windows(res["items"])
    if got == want and res["length"] == len(want) and all(t.dtype == torch.int64 for item in res["items"] for t in item):
        return  # all right: skip the element-wise comparisons, which only say what is wrong
    hints = hints.on(got)
    ctx.expect_close(res["length"], len(want), name=f"len({what})", hints=hints)
    for i, (item, (x, y)) in enumerate(zip(res["items"], want)):
        for k, (got, w) in enumerate(zip(item if isinstance(item, (tuple, list)) else (item, None), (x, y))):
            ctx.expect_close(got, torch.tensor(w, dtype=torch.int64), tol=FLOAT64, hints=hints,
                             name=f"{what}[{i}][{k}], the {('input_ids', 'target_ids')[k]} of window {i}")


def loader_epochs(ctx: Context, text: str, n_epochs: int = 1, *, seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """The learner's loader (ByteTokenizer unless kwargs say otherwise; None: the default): its batches, its kind."""
    ctx.p.seed(seed)
    if "tokenizer" not in kwargs:
        kwargs["tokenizer"] = ctx.runtime("toys.ByteTokenizer")
    elif kwargs["tokenizer"] is None:
        del kwargs["tokenizer"]
    dl = ctx.call(DL, text, **kwargs)
    return ctx.fetch(epochs=ctx.runtime("loops.epochs", dl, n_epochs), info=ctx.runtime("loops.describe", dl))


def batch_rows(ctx: Context, batches: list[Any], hints: Hints, max_length: int, what: str) -> Windows:
    """The batches' rows as windows, after the rows per batch (hints: LOADER), shapes and dtypes match."""
    pairs = [b if isinstance(b, (tuple, list)) and len(b) == 2 else (b, None) for b in batches]
    sizes = [len(x) if isinstance(x, torch.Tensor) and x.dim() else None for x, _ in pairs]
    n, bs, drop = (hints.inputs[k] for k in ("n", "batch_size", "drop_last"))
    ctx.expect_close(sizes, batch_sizes(n, bs, drop), name=f"{what}: rows per batch ({n} windows)", hints=hints)
    for k, (pair, rows) in enumerate(zip(pairs, sizes)):
        for name, t in zip(("input_ids", "target_ids"), pair):  # type, shape, dtype: compared with its own values
            own = isinstance(t, torch.Tensor) and t.shape == (rows, max_length) and not t.is_complex()
            if not own or t.dtype != torch.int64:
                ctx.expect_close(t, t.round().long() if own else torch.zeros(rows, max_length, dtype=torch.int64),
                                 tol=FLOAT64, name=f"{what}, batch {k}: {name} (int64 ids of shape (rows, max_length))")
    return as_windows([row for x, y in pairs for row in zip(x, y)]) or []


def expect_batches(ctx: Context, batches: list[Any], want: Windows, hints: Hints, max_length: int, what: str) -> None:
    """shuffle=False: the windows `want` in order, cut into batches, as int64 tensors of shape (rows, max_length)."""
    rows = batch_rows(ctx, batches, hints, max_length, what)
    if rows == want[:len(rows)]:
        return
    hints, start = hints.on(sorted(rows)), 0
    for k, batch in enumerate(batches):
        part = want[start:start + len(batch[0])]
        start += len(part)
        for j, name in enumerate(("input_ids", "target_ids")):
            ctx.expect_close(batch[j], torch.tensor([w[j] for w in part], dtype=torch.int64).view(len(part), -1),
                             tol=FLOAT64, hints=hints, name=f"{what}, batch {k}: {name}")


def loader_call(text: str, **kwargs: Any) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"create_dataloader_v1(<{len(text)} characters>, {shown})"


# -- JSON snapshot -------------------------------------------------------------------------------
def _fresh_snapshot_inputs() -> dict[str, list[dict[str, Any]]]:
    """Inputs for a new snapshot file: a corpus slice across a document boundary, and a Unicode text."""
    text = corpus_text()
    cut = text.find(EOT)
    across = text[max(0, cut - 90):cut + 60] if cut >= 0 else FALLBACK_TEXT[100:250]
    return {
        "datasets": [
            {"name": "corpus_tiled", "txt": across, "max_length": 8, "stride": 8},
            {"name": "corpus_overlapping", "txt": across, "max_length": 10, "stride": 3},
            {"name": "unicode_gaps", "txt": UNICODE_TEXT, "max_length": 4, "stride": 7},
            {"name": "unicode_single_tokens", "txt": UNICODE_TEXT[:30], "max_length": 1, "stride": 1},
            {"name": "one_window", "txt": "tiny!", "max_length": 4, "stride": 2},
        ],
        "loaders": [
            {"name": "keep_last", "txt": across, "batch_size": 4, "max_length": 6, "stride": 5, "drop_last": False},
            {"name": "drop_last", "txt": UNICODE_TEXT, "batch_size": 4, "max_length": 5, "stride": 4,
             "drop_last": True},
        ],
        "gpt2": [  # create_dataloader_v1 without a tokenizer
            {"name": "gpt2_corpus_unicode", "txt": text[max(0, cut - 300):cut + 100] + UNICODE_TEXT,
             "batch_size": 3, "max_length": 16, "stride": 12, "drop_last": False},
            {"name": "gpt2_spaces_and_near_misses", "txt": "  two  spaces,\ttabs\n\n<|endoftext|><|endoftext|>"
             "<|endoftext| <|end|> 2024-01-02 12:30 don't I'll \u00e9t\u00e9 " * 3,
             "batch_size": 2, "max_length": 5, "stride": 5, "drop_last": True},
        ],
    }


def _loader_snapshot(ref: ModuleType, case: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    args = {k: case[k] for k in ("batch_size", "max_length", "stride", "drop_last")}
    dl = ref.create_dataloader_v1(case["txt"], shuffle=False, tokenizer=tokenizer, **args)
    return {"name": case["name"], "txt": case["txt"], **args, "n_windows": len(dl.dataset),
            "batches": [[x.tolist(), y.tolist()] for x, y in dl]}


def JSON_SNAPSHOTS(ref: ModuleType) -> dict[str, Any]:
    """The reference's windows and batches for the stored inputs (or fresh ones).

    "datasets" and "loaders" use the ByteTokenizer; "gpt2" calls create_dataloader_v1 without a
    tokenizer (tiktoken's GPT-2 encoding).
    """
    path = json_path_for(SUITE.assignment)
    data = {**_fresh_snapshot_inputs(), **(load_json(SUITE.assignment) if path.is_file() else {})}
    out: dict[str, Any] = {"tokenizer": BYTE_TOKENIZER, "datasets": []}
    for case in data["datasets"]:
        ds = ref.GPTDatasetV1(case["txt"], ByteTokenizer(), case["max_length"], case["stride"])
        rows = [ds[i] for i in range(len(ds))]
        out["datasets"].append({k: case[k] for k in ("name", "txt", "max_length", "stride")}
                               | {"inputs": [x.tolist() for x, _ in rows], "targets": [y.tolist() for _, y in rows]})
    out["loaders"] = [_loader_snapshot(ref, case, ByteTokenizer()) for case in data["loaders"]]
    reason = gpt2_vocab.available()
    if reason is None:
        out["gpt2"] = [_loader_snapshot(ref, case, None) for case in data["gpt2"]]
    elif all("batches" in case for case in data["gpt2"]):
        out["gpt2"] = data["gpt2"]  # kept as stored: tests/test_a02_data.py recomputes it where GPT-2 is available
    else:
        raise gpt2_vocab.VocabUnavailable(f"the GPT-2 cases of the a02 snapshot need GPT-2's files: {reason}")
    return out


@check(points=2, visibility="public", kind="snapshot", targets=(DS,),
       description="GPTDatasetV1: the stored reference windows of fixed texts (a corpus slice across a document "
                   "boundary, Unicode with <|endoftext|>) for several max_length and stride")
def windows_snapshot(ctx: Context) -> None:
    for case in load_json(SUITE.assignment)["datasets"]:
        text, L, s = case["txt"], case["max_length"], case["stride"]
        ctx.example(config={"case": case["name"], "max_length": L, "stride": s, "tokenizer": BYTE_TOKENIZER},
                    values={"txt": text})
        expect_windows(ctx, dataset_items(ctx, text, L, s), list(zip(*(map(tuple, case[k]) for k in ("inputs", "targets")))),
                       dataset_hints(text, L, s), f"GPTDatasetV1(txt, tokenizer, {L}, {s})")


@check(points=1, visibility="public", kind="snapshot", targets=(DL, DS),
       description="create_dataloader_v1 (shuffle=False): the stored reference batches of fixed texts, with "
                   "drop_last True and False")
def dataloader_snapshot(ctx: Context) -> None:
    stored_batches(ctx, load_json(SUITE.assignment)["loaders"], BYTE_TOKENIZER)


def stored_batches(ctx: Context, cases: list[dict[str, Any]], label: str, suffix: str = "", **kwargs: Any) -> None:
    """The learner's loader (shuffle=False) on each stored case (`label`: its tokenizer): the stored reference batches."""
    for case in cases:
        args = {k: case[k] for k in ("batch_size", "max_length", "stride", "drop_last")}
        ctx.example(config={"case": case["name"], **args, "shuffle": False, "tokenizer": label},
                    values={"txt": case["txt"]})
        want = [(tuple(x), tuple(y)) for xs, ys in case["batches"] for x, y in zip(xs, ys)]
        expect_batches(ctx, loader_epochs(ctx, case["txt"], **kwargs, shuffle=False, **args)["epochs"][0], want,
                       loader_hints(want, args["batch_size"], args["drop_last"], case["n_windows"]),
                       args["max_length"], loader_call(case["txt"], shuffle=False, **args) + suffix)


@st.composite
def window_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A printable text and a (max_length, stride) that fits it at least once."""
    L = draw(st.integers(1, 12), label="max_length")
    s = draw(st.integers(1, 12), label="stride")
    return {"txt": draw(st.text(PRINTABLE, min_size=L + 1, max_size=L + 40), label="txt"), "max_length": L, "stride": s}


def _windows_of(ctx: Context, text: str, L: int, s: int) -> None:
    ctx.example(config={"max_length": L, "stride": s, "tokenizer": BYTE_TOKENIZER}, values={"txt": text})
    expect_windows(ctx, dataset_items(ctx, text, L, s), windows(byte_ids(text), L, s), dataset_hints(text, L, s),
                   f"GPTDatasetV1(txt, tokenizer, {L}, {s})")


@check(points=3, visibility="public", kind="property", targets=(DS,), max_examples=15,
       description="GPTDatasetV1: item i is (ids[i*stride : i*stride + max_length], the same one token later) as "
                   "int64 tensors, for windows starting at range(0, len(ids) - max_length, stride)")
@given(case=window_cases())
def windows_are_shifted_slices(ctx: Context, case: dict[str, Any]) -> None:
    _windows_of(ctx, case["txt"], case["max_length"], case["stride"])


@check(points=2, visibility="public", kind="property", targets=(DS,), max_examples=10,
       description="GPTDatasetV1: the text is encoded with allowed_special={'<|endoftext|>'}, so each "
                   "<|endoftext|> in it is one token (id 256 for the ByteTokenizer)")
@given(pieces=st.lists(st.text(PRINTABLE, min_size=1, max_size=10), min_size=2, max_size=4),
       L=st.integers(1, 6), s=st.integers(1, 6))
def endoftext_is_one_token(ctx: Context, pieces: list[str], L: int, s: int) -> None:
    text = EOT.join(pieces)
    _windows_of(ctx, text, min(L, len(byte_ids(text)) - 1), s)


@check(points=2, visibility="public", kind="property", targets=(DS, DL),
       description="GPTDatasetV1 and create_dataloader_v1: ValueError naming the argument and its value for "
                   "max_length < 1, stride < 1, and a text of max_length tokens or fewer")
def rejects_bad_arguments(ctx: Context) -> None:
    long_text = "sliding windows need text"
    cases = [  # (txt, max_length, stride, what the message must name)
        ("abcd", 6, 1, ("max_length", "6")),
        ("abcdef", 6, 2, ("max_length", "6")),  # exactly max_length tokens: no target for the last input
        (f"ab{EOT}cd", 6, 2, ("max_length", "6")),  # 5 tokens once <|endoftext|> is one of them
        (long_text, 0, 1, ("max_length", "0")), (long_text, -3, 1, ("max_length", "-3")),
        (long_text, 4, 0, ("stride", "0")), (long_text, 4, -2, ("stride", "-2")),
    ]
    tok = ctx.runtime("toys.ByteTokenizer")
    made = [ctx.module(DS, [t, tok, L, s], catch=True) for t, L, s, _ in cases]
    *made, loader = ctx.fetch(*made, ctx.call(DL, "abc", max_length=8, stride=2, tokenizer=tok, catch=True))
    for (t, L, s, names), got in zip(cases, made):
        ctx.example(config={"txt": t, "max_length": L, "stride": s, "tokenizer": BYTE_TOKENIZER})
        ctx.expect(EOT not in t or isinstance(got, Raised),  # 17 tokens if <|endoftext|> is spelled out
                   f"GPTDatasetV1({t!r}, tokenizer, {L}, {s}): expected a ValueError, but no error was raised",
                   hint=f"{t!r} is {len(byte_ids(t))} tokens only with <|endoftext|> as one token; {ALLOW_HINT}")
        ctx.expect_raises(got, f"GPTDatasetV1({t!r}, tokenizer, max_length={L}, stride={s})", mention=names)
    ctx.example(config={"function": DL, "txt": "abc", "max_length": 8, "stride": 2, "tokenizer": BYTE_TOKENIZER})
    ctx.expect_raises(loader, "create_dataloader_v1('abc', max_length=8, stride=2, tokenizer=tokenizer)",
                      mention=("max_length", "8"))


@check(points=3, visibility="public", kind="property", targets=(DL, DS), max_examples=12,
       description="create_dataloader_v1 (shuffle=False): the dataset's windows in order, batch_size per batch, "
                   "as int64 tensors of shape (batch_size, max_length); drop_last drops the last short batch")
@given(case=window_cases(), batch_size=st.integers(1, 5), drop_last=st.booleans())
def dataloader_batches_in_order(ctx: Context, case: dict[str, Any], batch_size: int, drop_last: bool) -> None:
    text, L, s = case["txt"], case["max_length"], case["stride"]
    args = {"batch_size": batch_size, "max_length": L, "stride": s, "shuffle": False, "drop_last": drop_last}
    ctx.example(config={**args, "tokenizer": BYTE_TOKENIZER}, values={"txt": text})
    want = windows(byte_ids(text), L, s)
    expect_batches(ctx, loader_epochs(ctx, text, **args)["epochs"][0], want,
                   loader_hints(want, batch_size, drop_last), L, loader_call(text, **args))


def expect_permutation(ctx: Context, epoch: list[Any], want: Windows, batch_size: int, drop_last: bool,
                       max_length: int, what: str, n: int | None = None) -> Windows:
    """shuffle=True: the batch sizes, and each window of the dataset at most once (exactly once unless drop_last)."""
    flat = batch_rows(ctx, epoch, loader_hints(want, batch_size, drop_last, n), max_length, what)
    got, expected = Counter(flat), Counter(want)
    ctx.expect(not (got - expected or (not drop_last and got != expected)), f"{what}: one epoch gave {len(flat)} "
               f"windows, {sum((got - expected).values())} of them not windows of the dataset (or repeated); expected "
               f"each of the {len(want)} windows {'at most' if drop_last else 'exactly'} once")
    return flat


@check(points=2, visibility="public", kind="property", targets=(DL, DS),
       description="create_dataloader_v1 (shuffle=True): each epoch is a random permutation of the dataset's "
                   "windows, each (input_ids, target_ids) pair kept together; not the dataset order")
def dataloader_shuffles_windows(ctx: Context) -> None:
    text = "".join(chr(33 + (7 * i) % 90) for i in range(64))  # no repeated window: a permutation is clear
    want = windows(byte_ids(text), 4, 4)  # 15 windows
    in_order = []
    for drop_last in (False, True):
        args = {"batch_size": 4, "max_length": 4, "stride": 4, "shuffle": True, "drop_last": drop_last}
        ctx.example(config={**args, "tokenizer": BYTE_TOKENIZER, "epochs": 2}, values={"txt": text})
        for epoch in loader_epochs(ctx, text, 2, seed=1234, **args)["epochs"]:
            flat = expect_permutation(ctx, epoch, want, 4, drop_last, 4, loader_call(text, **args))
            in_order.append(flat == want[:len(flat)])
    ctx.expect(not all(in_order), "create_dataloader_v1(..., shuffle=True): the windows came in dataset order in every "
                                  "epoch (4 epochs of 15 windows)", hint="pass shuffle to the DataLoader")


@check(points=1, visibility="public", kind="integrity", targets=(DL, DS),
       description="create_dataloader_v1: returns a torch DataLoader; defaults batch_size=4, max_length=256, "
                   "stride=128, drop_last=True; num_workers is passed on")
def dataloader_defaults_and_workers(ctx: Context) -> None:
    text = text_of_bytes(1200)
    want = windows(byte_ids(text), 256, 128)
    what = "create_dataloader_v1(txt, tokenizer=tokenizer) with the defaults (batch_size=4, max_length=256, " \
           "stride=128, drop_last=True)"
    ctx.example(config={"call": "create_dataloader_v1(txt, tokenizer=tokenizer), then num_workers=2",
                        "tokenizer": BYTE_TOKENIZER, "txt_tokens": len(byte_ids(text))})
    res = loader_epochs(ctx, text, seed=7)
    ctx.expect(res["info"]["is_dataloader"], f"create_dataloader_v1 returned a {res['info']['type']}, expected a "
                                             f"torch.utils.data.DataLoader")
    ctx.expect(Counter(batch_rows(ctx, res["epochs"][0], loader_hints(want, 4, True), 256, what)) <= Counter(want),
               f"{what}: a batch row is not a window of the text")
    dl = ctx.call(DL, text, batch_size=2, max_length=16, stride=16, num_workers=2,
                  tokenizer=ctx.runtime("toys.ByteTokenizer"))
    (info,) = ctx.fetch(ctx.runtime("loops.describe", dl))
    ctx.expect_close(info["num_workers"], 2, name="num_workers of create_dataloader_v1(..., num_workers=2) "
                                                  "(pass num_workers to the DataLoader)")


@check(points=2, visibility="public", kind="snapshot", targets=(DL, DS), timeout_s=30.0, needs=("gpt2",),
       description="create_dataloader_v1 without a tokenizer uses tiktoken's GPT-2 encoding with <|endoftext|> "
                   "allowed (50256): the stored reference batches of fixed texts")
def default_tokenizer_is_gpt2(ctx: Context) -> None:
    stored_batches(ctx, load_json(SUITE.assignment)["gpt2"], "default (None)", " with the default tokenizer "
                   "(tiktoken.get_encoding('gpt2'), allowed_special={'<|endoftext|>'})", tokenizer=None)
