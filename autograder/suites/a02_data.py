"""Public checks for a02_data: properties and snapshots, no reference needed.

The learner's dataset gets the runtime's `ByteTokenizer` (ids are the text's UTF-8 bytes, and
`<|endoftext|>` is id 256 only when allowed; every `encode` call is recorded), so the windows of
any text follow from the contract alone: item i is ids[i*stride : i*stride + max_length] and the
same slice one token later. The default tokenizer is checked against tiktoken's GPT-2 encoding,
and shuffling as a property (a permutation of the same windows), never by seeded equality.

The JSON snapshot (`suites/snapshots/a02_data.json`) stores its input texts with the reference's
windows; `scratchgrad snapshots` recomputes the windows from the stored texts (delete the file to
take fresh texts from `autograder/data/corpus.txt`).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import gpt2_vocab
from autograder.checks import Context, Suite
from autograder.compare import CheckFailure, describe
from autograder.properties import check_raised
from autograder.runtime.toys import ByteTokenizer
from autograder.runtime.values import Raised
from autograder.snapshots import json_path_for, load_json

DS, DL = "GPTDatasetV1", "create_dataloader_v1"
EOT = "<|endoftext|>"
HELPERS = "a02_helpers"
BYTE_TOKENIZER = "ByteTokenizer (ids = UTF-8 bytes, <|endoftext|> = 256 when allowed)"
ALLOW_HINT = ("<|endoftext|> was encoded as its 13 characters: call tokenizer.encode(txt, "
              "allowed_special={'<|endoftext|>'}) so that it becomes one special token")
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


def byte_ids(text: str, *, allowed: bool = True) -> list[int]:
    return ByteTokenizer().encode(text, allowed_special={EOT} if allowed else set())


# -- expected windows and known mistakes --------------------------------------------------------
Windows = list[tuple[tuple[int, ...], tuple[int, ...]]]  # [(input_ids, target_ids), ...]


def slide(ids: list[int], starts: range, width: int) -> Windows:
    """Windows of `width` tokens at `starts`, each with its target one token later."""
    return [(tuple(ids[i:i + width]), tuple(ids[i + 1:i + 1 + width])) for i in starts]


def windows(ids: list[int], max_length: int, stride: int) -> Windows:
    """The contract: windows start at range(0, len(ids) - max_length, stride), target = input moved by one."""
    return slide(ids, range(0, len(ids) - max_length, stride), max_length)


def window_variants(text: str, max_length: int, stride: int) -> dict[str, Windows]:
    """The windows of known mistakes, keyed by the hint a learner should read."""
    ids, L, s = byte_ids(text), max_length, stride
    right = windows(ids, L, s)
    variants = {
        "one window too many: the starts are range(0, len(ids) - max_length, stride); with "
        "len(ids) - max_length + 1 the last target runs past the end of the text":
            slide(ids, range(0, len(ids) - L + 1, s), L),
        "your targets equal your inputs: the target window is the input window moved one token to the "
        "right, ids[start + 1 : start + max_length + 1]": [(x, x) for x, _ in right],
        "your inputs and targets are swapped (the target is shifted the wrong way): input_ids = "
        "ids[start : start + max_length], target_ids = ids[start + 1 : start + max_length + 1]":
            [(y, x) for x, y in right],
        "your windows start at every token: consecutive windows must start `stride` tokens apart":
            slide(ids, range(0, len(ids) - L, 1), L),
        "your windows start max_length tokens apart: use stride": slide(ids, range(0, len(ids) - L, L), L),
        "your windows hold max_length + 1 tokens: input_ids = ids[start : start + max_length]":
            slide(ids, range(0, len(ids) - L, s), L + 1),
    }
    if EOT in text:
        variants[ALLOW_HINT] = windows(byte_ids(text, allowed=False), L, s)
    return variants


def matching_hint(got: Windows | None, variants: dict[str, Windows]) -> str | None:
    if got is None:
        return None
    return next((text for text, w in variants.items() if w == got), None)


def _short(values: Any, n: int = 12) -> str:
    values = list(values)
    return str(values) if len(values) <= n else f"{str(values[:n])[:-1]}, ... ({len(values)} in all)]"


def as_windows(items: Any) -> Windows | None:
    """A learner's items as int tuples, or None if they are not all pairs of 1-D tensors of finite numbers.

    Float tensors count too (an empty target made by torch.tensor([]) is float32): the hints look at values.
    """
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2
                and all(isinstance(t, torch.Tensor) and t.dim() == 1 and not t.is_complex()
                        and bool(torch.isfinite(t).all()) for t in item)):
            return None
        out.append((tuple(int(v) for v in item[0].tolist()), tuple(int(v) for v in item[1].tolist())))
    return out


def check_pair(item: Any, what: str, shape: str, shape_ok: Callable[[tuple[int, ...]], bool],
               hint: Callable[[], str | None] = lambda: None) -> tuple[torch.Tensor, torch.Tensor]:
    """`item` must be (input_ids, target_ids): two int64 tensors of the same shape, `shape_ok`."""
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, torch.Tensor) for t in item)):
        raise CheckFailure(f"{what} should be (input_ids, target_ids), two tensors of shape {shape}; got "
                           f"{describe(item)}")
    x, y = item
    if x.shape != y.shape or not shape_ok(tuple(x.shape)):
        raise CheckFailure(f"{what}: input_ids and target_ids have shapes {tuple(x.shape)} and {tuple(y.shape)}, "
                           f"expected {shape} each", hint=hint())
    for name, t in (("input_ids", x), ("target_ids", y)):
        if t.dtype != torch.int64:
            raise CheckFailure(f"{what}: {name} has dtype {str(t.dtype).removeprefix('torch.')}, expected int64 "
                               f"(a LongTensor: token ids index the embedding table and the loss); "
                               f"torch.tensor(list_of_ints) makes one")
    return x, y


def check_items(res: dict[str, Any], text: str, max_length: int, stride: int, what: str, *,
                expected: Windows | None = None) -> None:
    """`res` (the helper's `items`) must hold exactly the contract's windows of `text`."""
    L, s = max_length, stride
    ids = byte_ids(text)
    want = windows(ids, L, s) if expected is None else expected
    got_items = res["items"]

    def hint() -> str | None:
        return matching_hint(as_windows(got_items), window_variants(text, L, s))

    if res["length"] != len(want):
        raise CheckFailure(f"len({what}) is {res['length']}, expected {len(want)} = len(range(0, {len(ids)} - {L}, "
                           f"{s})) for {len(ids)} tokens, max_length={L}, stride={s}", hint=hint())
    for i, item in enumerate(got_items):
        check_pair(item, f"{what}[{i}]", f"(max_length,) = ({L},)", lambda shape: shape == (L,), hint)
    got = as_windows(got_items)
    assert got is not None
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise CheckFailure(
                f"{what}[{i}], the window starting at token {i} * stride = {i * s} (max_length={L}, stride={s}):\n"
                f"  input_ids  | got {_short(g[0])} | expected {_short(w[0])}\n"
                f"  target_ids | got {_short(g[1])} | expected {_short(w[1])}", hint=hint())


def dataset_items(ctx: Context, text: str, max_length: int, stride: int) -> dict[str, Any]:
    """Build the learner's dataset with a fresh ByteTokenizer; return its items and the tokenizer's calls."""
    p = ctx.program()
    toys, helpers = p.runtime("toys"), p.runtime(HELPERS)
    tok = p.call(toys, method="ByteTokenizer", learner=False)
    ds = p.new(DS, text, tok, max_length, stride)
    got = p.call(helpers, ds, method="items", learner=False)
    res = ctx.run(p.returns(got=got, calls=p.get(tok, "calls")))
    return {**res["got"], "calls": res["calls"]}


# -- loaders ---------------------------------------------------------------------------------------
def loader_epochs(ctx: Context, text: str, n_epochs: int = 1, *, seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Build the learner's loader (ByteTokenizer unless kwargs say otherwise) and read n_epochs of batches."""
    p = ctx.program()
    p.seed(seed)
    helpers = p.runtime(HELPERS)
    if "tokenizer" not in kwargs:
        kwargs["tokenizer"] = p.call(p.runtime("toys"), method="ByteTokenizer", learner=False)
    elif kwargs["tokenizer"] is None:
        del kwargs["tokenizer"]  # the default
    dl = p.new(DL, text, **kwargs)
    res = ctx.run(p.returns(epochs=p.call(helpers, dl, n_epochs, method="epochs", learner=False),
                            info=p.call(helpers, dl, method="describe", learner=False)))
    return res


def batch_windows(batches: list[Any], max_length: int, what: str) -> list[Windows]:
    """Each batch as its rows [(input_ids, target_ids), ...], after checking types and shapes."""
    out = []
    for i, batch in enumerate(batches):
        x, y = check_pair(batch, f"{what}, batch {i}", f"(B, max_length) = (B, {max_length})",
                          lambda shape: len(shape) == 2 and shape[1] == max_length)
        out.append([(tuple(a), tuple(b)) for a, b in zip(x.tolist(), y.tolist())])
    return out


def batch_sizes(n: int, batch_size: int, drop_last: bool) -> list[int]:
    sizes = [min(batch_size, n - k) for k in range(0, n, batch_size)]
    return sizes[:-1] if drop_last and sizes and sizes[-1] < batch_size else sizes


def sizes_hint(got: list[int], n: int, batch_size: int, drop_last: bool) -> str | None:
    """Every known mistake that explains these batch sizes (a small example may fit two of them)."""
    found = []
    if got == batch_sizes(n, batch_size, not drop_last):
        found.append(f"drop_last={drop_last} was not honoured: pass drop_last to the DataLoader "
                     f"({'drop' if drop_last else 'keep'} the last, incomplete batch)")
    for b, why in ((1, "DataLoader's default batch_size is 1"), (4, "4 is only the default")):
        if b != batch_size and got in (batch_sizes(n, b, drop_last), batch_sizes(n, b, not drop_last)):
            found.append(f"your batches hold {b} windows, not batch_size={batch_size}: pass batch_size to the "
                         f"DataLoader ({why})")
    return "; or ".join(found) or None


def check_batches_in_order(batches: list[Any], want: Windows, batch_size: int, drop_last: bool, max_length: int,
                           what: str, *, n_windows: int | None = None) -> None:
    """shuffle=False: the windows in dataset order, cut into batches of batch_size (drop_last honoured).

    `want` holds the expected windows in order, at least those that are not dropped; `n_windows`
    (default len(want)) is the size of the dataset.
    """
    n = len(want) if n_windows is None else n_windows
    rows = batch_windows(batches, max_length, what)
    sizes, expected_sizes = [len(r) for r in rows], batch_sizes(n, batch_size, drop_last)
    if sizes != expected_sizes:
        raise CheckFailure(f"{what}: batch sizes {_short(sizes)}, expected {_short(expected_sizes)} "
                           f"({n} windows, batch_size={batch_size}, drop_last={drop_last})",
                           hint=sizes_hint(sizes, n, batch_size, drop_last))
    flat = [w for r in rows for w in r]
    want = want[:len(flat)]
    if flat != want:
        if Counter(flat) == Counter(want):
            raise CheckFailure(f"{what}: the right windows in another order; with shuffle=False they must come in "
                               f"dataset order", hint="shuffle=False was not honoured: pass shuffle to the DataLoader")
        k = next(i for i, (g, w) in enumerate(zip(flat, want)) if g != w)
        g, w = flat[k], want[k]
        raise CheckFailure(f"{what}: window {k} (batch {k // batch_size}, row {k % batch_size}):\n"
                           f"  input_ids  | got {_short(g[0])} | expected {_short(w[0])}\n"
                           f"  target_ids | got {_short(g[1])} | expected {_short(w[1])}")


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
        want = [(tuple(x), tuple(y)) for x, y in zip(case["inputs"], case["targets"])]
        check_items(dataset_items(ctx, text, L, s), text, L, s, f"GPTDatasetV1(txt, tokenizer, {L}, {s})",
                    expected=want)


@check(points=1, visibility="public", kind="snapshot", targets=(DL, DS),
       description="create_dataloader_v1 (shuffle=False): the stored reference batches of fixed texts, with "
                   "drop_last True and False")
def dataloader_snapshot(ctx: Context) -> None:
    for case in load_json(SUITE.assignment)["loaders"]:
        args = {k: case[k] for k in ("batch_size", "max_length", "stride", "drop_last")}
        ctx.example(config={"case": case["name"], **args, "shuffle": False, "tokenizer": BYTE_TOKENIZER},
                    values={"txt": case["txt"]})
        res = loader_epochs(ctx, case["txt"], shuffle=False, **args)
        want = [(tuple(x), tuple(y)) for xs, ys in case["batches"] for x, y in zip(xs, ys)]
        check_batches_in_order(res["epochs"][0], want, args["batch_size"], args["drop_last"], args["max_length"],
                               loader_call(case["txt"], shuffle=False, **args), n_windows=case["n_windows"])


# -- GPTDatasetV1 ----------------------------------------------------------------------------------
@st.composite
def window_cases(draw: st.DrawFn, *, alphabet: st.SearchStrategy[str] | None = None) -> dict[str, Any]:
    """A text and a (max_length, stride) that fits it at least once."""
    L = draw(st.integers(1, 12), label="max_length")
    s = draw(st.integers(1, 12), label="stride")
    chars = alphabet if alphabet is not None else PRINTABLE
    text = draw(st.text(chars, min_size=L + 1, max_size=L + 40), label="txt")
    return {"txt": text, "max_length": L, "stride": s}


@check(points=3, visibility="public", kind="property", targets=(DS,), max_examples=15,
       description="GPTDatasetV1: item i is (ids[i*stride : i*stride + max_length], the same one token later) as "
                   "int64 tensors, for windows starting at range(0, len(ids) - max_length, stride)")
def windows_are_shifted_slices(ctx: Context) -> None:
    @ctx.given(case=window_cases())
    def _(case: dict[str, Any]) -> None:
        text, L, s = case["txt"], case["max_length"], case["stride"]
        ctx.example(config={"max_length": L, "stride": s, "tokenizer": BYTE_TOKENIZER}, values={"txt": text})
        check_items(dataset_items(ctx, text, L, s), text, L, s, f"GPTDatasetV1(txt, tokenizer, {L}, {s})")


def _shown_allowed(allowed: Any) -> str:
    """How an `allowed_special` argument the ByteTokenizer recorded (a sorted list, or "all") was written."""
    if isinstance(allowed, list):
        return "{" + ", ".join(repr(a) for a in allowed) + "}" if allowed else "set() (the default)"
    return repr(allowed)


def _allowed(call: dict[str, Any]) -> bool:
    allowed = call.get("allowed_special")
    return allowed == "all" or (isinstance(allowed, list) and EOT in allowed)


@check(points=2, visibility="public", kind="property", targets=(DS,), max_examples=10,
       description="GPTDatasetV1: the text is encoded with allowed_special={'<|endoftext|>'}, so each "
                   "<|endoftext|> in it is one token (id 256 for the ByteTokenizer)")
def endoftext_is_one_token(ctx: Context) -> None:
    piece = st.text(PRINTABLE, min_size=1, max_size=10)

    @ctx.given(pieces=st.lists(piece, min_size=2, max_size=4), L=st.integers(1, 6), s=st.integers(1, 6))
    def _(pieces: list[str], L: int, s: int) -> None:
        text = EOT.join(pieces)
        L = min(L, len(byte_ids(text)) - 1)
        ctx.example(config={"max_length": L, "stride": s, "tokenizer": BYTE_TOKENIZER}, values={"txt": text})
        res = dataset_items(ctx, text, L, s)
        calls = res["calls"]
        if not calls:
            raise CheckFailure("GPTDatasetV1 never called tokenizer.encode: encode the text with the tokenizer "
                               "it is given")
        if not any(_allowed(c) for c in calls):
            shown = sorted({_shown_allowed(c.get("allowed_special")) for c in calls})
            raise CheckFailure(f"GPTDatasetV1 called tokenizer.encode with allowed_special={' / '.join(shown)}: "
                               f"<|endoftext|> in the text was not allowed to be a special token", hint=ALLOW_HINT)
        check_items(res, text, L, s, f"GPTDatasetV1(txt, tokenizer, {L}, {s})")


@check(points=2, visibility="public", kind="property", targets=(DS, DL),
       description="GPTDatasetV1 and create_dataloader_v1: ValueError naming the argument and its value for "
                   "max_length < 1, stride < 1, and a text of max_length tokens or fewer")
def rejects_bad_arguments(ctx: Context) -> None:
    long_text = "sliding windows need text"
    cases = [  # (txt, max_length, stride, what the message must name)
        ("abcd", 6, 1, ("max_length", "6")),
        ("abcdef", 6, 2, ("max_length", "6")),  # exactly max_length tokens: no target for the last input
        (f"ab{EOT}cd", 6, 2, ("max_length", "6")),  # 5 tokens once <|endoftext|> is one of them
        (long_text, 0, 1, ("max_length", "0")),
        (long_text, -3, 1, ("max_length", "-3")),
        (long_text, 4, 0, ("stride", "0")),
        (long_text, 4, -2, ("stride", "-2")),
    ]
    ctx.example(config={"txt": long_text, "max_length": 4, "stride": 2, "tokenizer": BYTE_TOKENIZER})
    p = ctx.program()
    tok = p.call(p.runtime("toys"), method="ByteTokenizer", learner=False)
    p.new(DS, long_text, tok, 4, 2)  # a valid dataset first: an unfinished one stops the check here
    made = [p.new(DS, t, tok, L, s, catch=True) for t, L, s, _ in cases]
    loader = p.call(DL, "abc", max_length=8, stride=2, tokenizer=tok, catch=True)
    res = ctx.run(p.returns(made=made, loader=loader))
    for (t, L, s, names), got in zip(cases, res["made"]):
        ctx.example(config={"txt": t, "max_length": L, "stride": s, "tokenizer": BYTE_TOKENIZER})
        try:
            check_raised(ctx, got, f"GPTDatasetV1({t!r}, tokenizer, max_length={L}, stride={s})", ("ValueError",),
                         names)
        except CheckFailure as failure:
            if EOT in t and not isinstance(got, Raised):  # 17 tokens if <|endoftext|> is spelled out
                failure.hint = f"{t!r} is {len(byte_ids(t))} tokens only with <|endoftext|> as one token; {ALLOW_HINT}"
            raise
    ctx.example(config={"function": DL, "txt": "abc", "max_length": 8, "stride": 2, "tokenizer": BYTE_TOKENIZER})
    check_raised(ctx, res["loader"], "create_dataloader_v1('abc', max_length=8, stride=2, tokenizer=tokenizer)",
                 ("ValueError",), ("max_length", "8"))


# -- create_dataloader_v1 --------------------------------------------------------------------------
@check(points=3, visibility="public", kind="property", targets=(DL, DS), max_examples=12,
       description="create_dataloader_v1 (shuffle=False): the dataset's windows in order, batch_size per batch, "
                   "as int64 tensors of shape (batch_size, max_length); drop_last drops the last short batch")
def dataloader_batches_in_order(ctx: Context) -> None:
    @ctx.given(case=window_cases(), batch_size=st.integers(1, 5), drop_last=st.booleans())
    def _(case: dict[str, Any], batch_size: int, drop_last: bool) -> None:
        text, L, s = case["txt"], case["max_length"], case["stride"]
        args = {"batch_size": batch_size, "max_length": L, "stride": s, "shuffle": False, "drop_last": drop_last}
        ctx.example(config={**args, "tokenizer": BYTE_TOKENIZER}, values={"txt": text})
        res = loader_epochs(ctx, text, **args)
        check_batches_in_order(res["epochs"][0], windows(byte_ids(text), L, s), batch_size, drop_last, L,
                               loader_call(text, **args))


def check_permutation(epoch: Windows, want: Windows, drop_last: bool, what: str) -> None:
    got, expected = Counter(epoch), Counter(want)
    if drop_last:
        extra = got - expected
        if extra or len(epoch) != len(want) - len(want) % 4:
            raise CheckFailure(f"{what}: one epoch gave {len(epoch)} windows, {sum(extra.values())} of them not "
                               f"windows of the dataset (or repeated); expected {len(want) - len(want) % 4} distinct "
                               f"windows of the dataset")
    elif got != expected:
        raise CheckFailure(f"{what}: one epoch gave {len(epoch)} windows; expected each of the dataset's "
                           f"{len(want)} windows exactly once ({sum((expected - got).values())} missing, "
                           f"{sum((got - expected).values())} extra)")


@check(points=2, visibility="public", kind="property", targets=(DL, DS),
       description="create_dataloader_v1 (shuffle=True): each epoch is a random permutation of the dataset's "
                   "windows, each (input_ids, target_ids) pair kept together; not the dataset order")
def dataloader_shuffles_windows(ctx: Context) -> None:
    text = "".join(chr(33 + (7 * i) % 90) for i in range(64))  # no repeated window: a permutation is clear
    L = s = 4
    want = windows(byte_ids(text), L, s)  # 15 windows
    orders = []
    for drop_last in (False, True):
        args = {"batch_size": 4, "max_length": L, "stride": s, "shuffle": True, "drop_last": drop_last}
        what = loader_call(text, **args)
        ctx.example(config={**args, "tokenizer": BYTE_TOKENIZER, "epochs": 2}, values={"txt": text})
        res = loader_epochs(ctx, text, 2, seed=1234, **args)
        for epoch in res["epochs"]:
            rows = batch_windows(epoch, L, what)
            sizes, expected_sizes = [len(r) for r in rows], batch_sizes(len(want), 4, drop_last)
            if sizes != expected_sizes:
                raise CheckFailure(f"{what}: batch sizes {sizes}, expected {expected_sizes} ({len(want)} windows)",
                                   hint=sizes_hint(sizes, len(want), 4, drop_last))
            flat = [w for r in rows for w in r]
            check_permutation(flat, want, drop_last, what)
            orders.append(flat == want[:len(flat)])
    if all(orders):
        raise CheckFailure("create_dataloader_v1(..., shuffle=True): the windows came in dataset order in every "
                           "epoch (4 epochs of 15 windows)", hint="pass shuffle to the DataLoader")


@check(points=1, visibility="public", kind="integrity", targets=(DL, DS),
       description="create_dataloader_v1: returns a torch DataLoader; defaults batch_size=4, max_length=256, "
                   "stride=128, drop_last=True; num_workers is passed on")
def dataloader_defaults_and_workers(ctx: Context) -> None:
    text = text_of_bytes(1200)
    n_windows = len(windows(byte_ids(text), 256, 128))
    ctx.example(config={"call": "create_dataloader_v1(txt, tokenizer=tokenizer), then num_workers=2",
                        "tokenizer": BYTE_TOKENIZER, "txt_tokens": len(byte_ids(text))})
    res = loader_epochs(ctx, text, seed=7)
    if not res["info"]["is_dataloader"]:
        raise CheckFailure(f"create_dataloader_v1 returned a {res['info']['type']}, expected a "
                           f"torch.utils.data.DataLoader")
    want = windows(byte_ids(text), 256, 128)
    rows = batch_windows(res["epochs"][0], 256, "create_dataloader_v1(txt, tokenizer=tokenizer)")
    sizes = [len(r) for r in rows]
    if sizes != batch_sizes(n_windows, 4, True):
        raise CheckFailure(f"create_dataloader_v1(txt, tokenizer=tokenizer) on {len(byte_ids(text))} tokens: batch "
                           f"sizes {sizes}, expected {batch_sizes(n_windows, 4, True)} with the defaults "
                           f"(batch_size=4, max_length=256, stride=128, drop_last=True: {n_windows} windows)")
    if not Counter(w for r in rows for w in r) <= Counter(want):
        raise CheckFailure("create_dataloader_v1(txt, tokenizer=tokenizer): a batch row is not a window of the text "
                           "with the defaults max_length=256, stride=128")
    p = ctx.program()
    tok = p.call(p.runtime("toys"), method="ByteTokenizer", learner=False)
    dl = p.new(DL, text, batch_size=2, max_length=16, stride=16, num_workers=2, tokenizer=tok)
    info = ctx.run(p.returns(info=p.call(p.runtime(HELPERS), dl, method="describe", learner=False)))["info"]
    if info["num_workers"] != 2:
        raise CheckFailure(f"create_dataloader_v1(..., num_workers=2) returned a loader with num_workers="
                           f"{info['num_workers']}: pass num_workers to the DataLoader")


@check(points=2, visibility="public", kind="snapshot", targets=(DL, DS), timeout_s=30.0, needs=("gpt2",),
       description="create_dataloader_v1 without a tokenizer uses tiktoken's GPT-2 encoding with <|endoftext|> "
                   "allowed (50256): the stored reference batches of fixed texts")
def default_tokenizer_is_gpt2(ctx: Context) -> None:
    cases = load_json(SUITE.assignment)["gpt2"]
    for case in cases:
        args = {k: case[k] for k in ("batch_size", "max_length", "stride", "drop_last")}
        ctx.example(config={"case": case["name"], **args, "shuffle": False, "tokenizer": "default (None)"},
                    values={"txt": case["txt"]})
        res = loader_epochs(ctx, case["txt"], tokenizer=None, shuffle=False, **args)
        want = [(tuple(x), tuple(y)) for xs, ys in case["batches"] for x, y in zip(xs, ys)]
        try:
            check_batches_in_order(res["epochs"][0], want, args["batch_size"], args["drop_last"], args["max_length"],
                                   loader_call(case["txt"], shuffle=False, **args) + " with the default tokenizer",
                                   n_windows=case["n_windows"])
        except CheckFailure as failure:
            failure.hint = failure.hint or ("tokenizer=None must mean tiktoken.get_encoding('gpt2'), and the text "
                                            "is encoded with allowed_special={'<|endoftext|>'}")
            raise
