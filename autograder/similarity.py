"""Pairs of submissions whose code is unusually similar, per assignment: evidence for a human, never a penalty.

Stages: read each student's assignment modules read-only (`submission.load`, the grader's own loader,
so zips, renamed copies and notebooks count as they do for grading) -> normalise each module into
tokens -> fingerprint it (k-grams of tokens, winnowed) -> drop the fingerprints of the starter code
-> an inverted index from fingerprint to students -> a score per pair that shares any -> the pairs
at or above the threshold, with the matching regions for a side-by-side view.

Tokens: names, numbers, strings and operators of Python, lexed by one regular expression. Comments,
blank lines, line breaks inside brackets and string statements (docstrings) are dropped; a number
becomes `0`, a string `S`, and a name `N`, except keywords, builtins, attribute names (after a `.`)
and keyword-argument names (`dim=`): those name the API the code calls, which renaming cannot
change and which is most of what tells two honest solutions apart. So renamed variables, changed
comments and moved blank lines change nothing; changed API calls or statements change the tokens.
The lexer is not `tokenize`: on Python 3.11 `tokenize` takes ~11 ms per solution module (30 s for 200
students x 14 assignments), one `re.findall` and a few array operations about 2 ms; and it never
fails, so a module with a syntax error is still compared.

Fingerprints (Schleimer, Wilkerson and Aiken's winnowing, as in MOSS): a hash of every run of `k`
consecutive tokens, and in every window of `window` consecutive hashes the smallest one. Any run
of `k + window - 1` tokens two modules share yields a fingerprint both hold. Every k-gram of the
starter code (the released stub `assignments/aNN_*.py`, which holds everything the stub and the
solution share, and the stub notebook's module) is removed, so the stub and the provided helpers
match nobody. A fingerprint that more than `common_share` of the class holds (and more than
`common_min` students, as MOSS's `-m 10`, so that a small class keeps a ring of copiers visible) is
what the contract or the book makes everyone write: it is no evidence of anything between two
students, and counts nowhere, neither as shared nor in a module's size.

Score of a pair (a, b): the share of a's fingerprints found in b (`share_a`) and of b's found in a
(`share_b`), both reported; pairs are ranked by the larger one, so a short submission copied whole
from a longer one ranks as high as a full copy. A pair is listed when that score reaches the
threshold (default 0.5: half of one side's own code is shared with the other, outside the starter
and the class's common code). A module with fewer than `floor` fingerprints (about a dozen lines of
its own) is scored as if it had `floor`: two students who each wrote the same one line in an
otherwise untouched stub share all of their code, and that is still no evidence.

Why not copydetect (0.5.0, which implements winnowing with boilerplate removal): its `CopyDetector`
compares every file with every other in a Python double loop; measured here on a03 modules with its
defaults, 37 ms CPU to fingerprint a module (pygments lexing) and 0.7 ms per pair, about 5 minutes for
200 students x 14 assignments (278,600 pairs), against a few seconds for this module. It reads files
from folders by extension, so the modules the loader assembles from notebooks would have to be
written out first (a .ipynb is lexed as JSON); it makes attribute names alike too (`x.sum` and
`x.mean` match); and `copydetect.detector` imports matplotlib (not a core dependency here) and
jinja2 for a report of its own, while the class report is one self-contained page. The algorithm is
small: this module writes it over an inverted index, so the time grows with the fingerprints a class
actually shares rather than with the number of pairs.
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
import zlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .assignments import UsageError

THRESHOLD = 0.5
K = 12  # tokens per k-gram: about one line of code
WINDOW = 8  # any shared run of K + WINDOW - 1 = 19 tokens (a line and a half) is seen
COMMON_SHARE = 0.1
COMMON_MIN = 10
FLOOR = 30  # fingerprints: a module with fewer (about a dozen lines of code) is scored as if it had this many
TOP_PAIRS = 10  # listed per assignment


@dataclass(frozen=True)
class Options:
    """How the pairs are scored and which are listed; every field is settable by the instructor."""

    threshold: float = THRESHOLD
    k: int = K
    window: int = WINDOW
    common_share: float = COMMON_SHARE
    common_min: int = COMMON_MIN
    floor: int = FLOOR
    top: int = TOP_PAIRS

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise UsageError(f"similarity threshold={self.threshold!r} must be in (0, 1]")
        for name in ("k", "window", "common_min", "floor", "top"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"similarity {name}={value!r} must be a whole number of at least 1")
        if not 0.0 < self.common_share <= 1.0:
            raise UsageError(f"similarity common_share={self.common_share!r} must be in (0, 1]")


# -- tokens -------------------------------------------------------------------------------------
# One match per token, after the spaces before it (so the search never stops on a space); the
# frequent kinds first. Comments and backslash continuations are matched (so that nothing inside them
# is lexed) and then dropped. A name directly followed by a quote is a string prefix (`rb"..."`).
_TOKEN = re.compile(r"""[ \t\f]*(
 (?>[^\W\d]\w*)(?!['"])
|0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?
|\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@=!<>]=?|[~()\[\]{}.,:;]
|\r?\n|\r
|\#[^\r\n]*
|(?:[rRbBuUfF]{1,2})?(?:'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''|\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
        |'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*")
|\\\r?\n
|\S
)""", re.VERBOSE | re.DOTALL)
# names that stay as written: renaming them would change what the code does (not the soft keywords
# `match`, `case` and `_`, which are names as often as not, nor `_`-names a tool may have put in builtins)
KEPT = frozenset(keyword.kwlist) | frozenset(n for n in dir(builtins) if not n.startswith("_"))
NEWLINE, STRING, NAME, NUMBER = "\n", "S", "N", "0"
DROP, NL, STR, NUM, NAM, OPEN, CLOSE, DOT, EQ, OP, STMT = range(11)  # token classes
CACHED_CHARS = 1000  # token texts up to this long are remembered (a class repeats the stub's docstrings)
# every distinct token text seen gets a row of (class, number kept as written, number normalised);
# strings and comments share one row each, whatever their text, so the table stays small
_rows: list[tuple[int, int, int]] = [(DROP, 0, 0)]  # row 0 is never looked up: `get(...) or` needs 1..
_index: dict[str, int] = {}
_table = np.zeros((0, 3), dtype=np.int64)


def _id(token: str) -> int:
    """A token's number, the same in every process (crc32, not Python's salted str hash)."""
    return zlib.crc32(token.encode("utf-8", "surrogatepass")) + 1


_NAME_ID = _id(NAME)
# keywords that only ever start a statement: a line that starts with one is not inside brackets
STATEMENT = frozenset({"def", "class", "return", "raise", "import", "with", "while", "try", "except", "finally",
                       "elif", "del", "pass", "break", "continue", "global", "nonlocal", "assert"})


def _classify(s: str) -> tuple[int, int, int]:
    """(class, number when kept as written, number when normalised) of one matched token text."""
    c = s[0]
    if c == "#" or c == "\\":
        return (DROP, 0, 0)
    if c in "\r\n":
        return (NL, _id(NEWLINE), _id(NEWLINE))
    if len(s) >= 2 and s[-1] in "'\"":
        return (STR, _id(STRING), _id(STRING))
    if c.isdigit() or (c == "." and len(s) > 1):
        return (NUM, _id(NUMBER), _id(NUMBER))
    if s.isidentifier():
        return (STMT if s in STATEMENT else NAM, _id(s), _id(s) if s in KEPT else _NAME_ID)
    kind = OPEN if s in "([{" else CLOSE if s in ")]}" else DOT if s == "." else EQ if s == "=" else OP
    return (kind, _id(s), _id(s))


def _row(s: str) -> int:
    """The table row of a token text not seen before."""
    row = _classify(s)
    key = s if row[0] not in (DROP, STR) else f"\0{row[0]}"  # comments share one row, strings another
    found = _index.get(key)
    if found is None:
        found = _index[key] = len(_rows)
        _rows.append(row)
    if len(s) <= CACHED_CHARS:
        _index[s] = found
    return found


def _rows_of(words: list[str]) -> np.ndarray:
    """(len(words), 3) rows of the token table."""
    global _table
    idx = list(map(_index.get, words))
    if None in idx:  # token texts not seen before
        idx = [i or _row(w) for i, w in zip(idx, words)]
    if len(_table) < len(_rows):
        _table = np.array(_rows, dtype=np.int64)
    return _table[np.array(idx, dtype=np.int64)].reshape(-1, 3)


@dataclass(frozen=True)
class Tokens:
    """A module's normalised tokens, and where each lies in its text when asked for."""

    ids: np.ndarray  # uint64, one per normalised token
    starts: np.ndarray | None  # int64, where each token starts in the text (with positions=True)
    ends: np.ndarray | None  # int64, where it ends


def lex(text: str, *, positions: bool = False) -> Tokens:
    """Normalised tokens of Python source (see the module docstring); never raises on bad code.

    The rules that depend on neighbours (line breaks inside brackets, docstrings, names after a
    dot or before `=` in a call) run on whole arrays: a Python loop per token would cost 4 ms per
    module, most of the time for a class.
    """
    if positions:
        found = list(_TOKEN.finditer(text))
        words = [m.group(1) for m in found]
    else:
        words = _TOKEN.findall(text)
    table = _rows_of(words)
    keep = table[:, 0] != DROP
    cls, kept, normed = table[keep, 0], table[keep, 1], table[keep, 2]
    where = np.flatnonzero(keep)
    # line breaks inside brackets are not statement ends; a line that starts with a statement keyword is
    # outside any bracket, whatever came before (one unclosed bracket must not swallow the rest of the file)
    opened = np.cumsum((cls == OPEN).astype(np.int64) - (cls == CLOSE))
    fresh = np.concatenate(((cls[:-1] == NL) & (cls[1:] == STMT), [False]))
    fresh[:1] = True
    depth = opened - opened[np.maximum.accumulate(np.where(fresh, np.arange(len(cls)), 0))] if len(cls) else opened
    ok = ~((cls == NL) & (depth > 0))
    cls, kept, normed, where, depth = cls[ok], kept[ok], normed[ok], where[ok], depth[ok]
    # a string alone on its line (a docstring) is prose, like a comment
    nl = cls == NL
    before = np.concatenate(([True], nl[:-1]))
    after = np.concatenate((nl[1:], [True]))
    ok = ~((cls == STR) & before & after)
    cls, kept, normed, where, depth = cls[ok], kept[ok], normed[ok], where[ok], depth[ok]
    # one line break between statements, none first
    nl = cls == NL
    ok = ~(nl & np.concatenate(([True], nl[:-1])))
    cls, kept, normed, where, depth = cls[ok], kept[ok], normed[ok], where[ok], depth[ok]
    # attribute names and keyword-argument names are the API: kept as written
    prev_dot = np.concatenate(([False], cls[:-1] == DOT))
    kwarg = np.concatenate((cls[1:] == EQ, [False])) & (depth > 0)
    ids = np.where((cls == NAM) & (prev_dot | kwarg), kept, normed).astype(np.uint64)
    if not positions:
        return Tokens(ids, None, None)
    starts = np.array([m.start(1) for m in found], dtype=np.int64)[where]
    ends = np.array([m.end(1) for m in found], dtype=np.int64)[where]
    return Tokens(ids, starts, ends)


# -- fingerprints ------------------------------------------------------------------------------
_BASE = np.uint64(0x100000001B3)  # FNV's 64-bit prime: an odd multiplier spreads the token numbers


def kgrams(ids: np.ndarray, k: int) -> np.ndarray:
    """The hash of every run of `k` consecutive tokens (uint64 arithmetic wraps, as intended)."""
    n = len(ids) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + ids[j:j + n]
        h ^= h >> np.uint64(31)  # the last tokens would otherwise decide the low bits alone
        h *= np.uint64(0x9E3779B97F4A7C15)
    return h


def winnow(hashes: np.ndarray, window: int) -> np.ndarray:
    """The sorted distinct fingerprints: the rightmost smallest hash of every `window` consecutive ones."""
    if len(hashes) <= window:  # a module this short is all evidence: keep every k-gram
        return np.unique(hashes)
    view = np.lib.stride_tricks.sliding_window_view(hashes, window)
    rightmost = window - 1 - np.argmin(view[:, ::-1], axis=1)
    return np.unique(hashes[np.arange(len(view)) + rightmost])


def fingerprints(text: str, starter: np.ndarray, opts: Options) -> np.ndarray:
    """`text`'s fingerprints that are not k-grams of the starter code (`starter`: sorted hashes)."""
    fp = winnow(kgrams(lex(text).ids, opts.k), opts.window)
    return fp[~np.isin(fp, starter, assume_unique=True)] if len(starter) else fp


def starter_hashes(texts: Iterable[str], opts: Options) -> np.ndarray:
    """Every k-gram of the starter code (not only its fingerprints: a student's window may pick any)."""
    parts = [kgrams(lex(t).ids, opts.k) for t in texts]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)


# -- starter code --------------------------------------------------------------------------------
def starter_texts(aid: str, folder: Path) -> tuple[list[str], list[str]]:
    """The starter modules of `aid` in `folder` (`aid.py`, and `aid.ipynb` assembled the way the grader
    assembles a student's notebook), and the files they came from."""
    from .notebooks import NotebookError, module_from_file
    texts, names = [], []
    py = folder / f"{aid}.py"
    if py.is_file():
        texts.append(py.read_text(encoding="utf-8", errors="replace"))
        names.append(str(py))
    nb = folder / f"{aid}.ipynb"
    if nb.is_file():
        try:
            texts.append(module_from_file(nb, aid))
            names.append(str(nb))
        except NotebookError:
            pass  # a .py beside it still counts
    return texts, names


def find_starters(ids: list[str], starter: Path | None, root: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Per assignment, the starter texts and their files: the instructor's `starter` folder where it holds
    the assignment, otherwise the project's release (`assignments/` and the stub notebooks in `notebooks/`)."""
    out = {}
    for aid in ids:
        texts, names = starter_texts(aid, starter) if starter is not None else ([], [])
        if not texts:
            for folder in (root / "assignments", root / "notebooks"):
                t, n = starter_texts(aid, folder)
                texts, names = texts + t, names + n
        out[aid] = (texts, names)
    return out


# -- reading a class -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Skipped:
    """A student (assignment None: all of their files) or one file left out of the comparison, and why."""

    student: str
    assignment: str | None
    reason: str


def _strip_md(text: str) -> str:
    """The loader's notes are Markdown (`name` in backticks): plain text for the report."""
    return text.replace("`", "")


def read_class(students: list[tuple[str, Path]], ids: list[str]) -> tuple[dict[str, dict[str, str]], list[Skipped]]:
    """Each student's module per assignment, read through the grader's loader (a private copy, read-only).

    A student whose submission cannot be read, or whose file cannot be used (an unreadable
    notebook, bytes that are not UTF-8), is returned as Skipped with the reason; nothing raises.
    """
    from .submission import load
    texts: dict[str, dict[str, str]] = {aid: {} for aid in ids}
    skipped: list[Skipped] = []
    for sid, path in students:
        try:
            sub = load(path, ids)
        except UsageError as exc:
            reason = str(exc).replace(str(path.resolve()), path.name).replace(str(path), path.name)
            skipped.append(Skipped(sid, None, _strip_md(reason)))
            continue
        except OSError as exc:
            skipped.append(Skipped(sid, None, f"could not be read ({exc.strerror or type(exc).__name__})"))
            continue
        except Exception as exc:  # noqa: BLE001 - whatever a submission holds, it costs its own row only
            skipped.append(Skipped(sid, None, f"could not be read ({type(exc).__name__}: {exc})"))
            continue
        try:
            for aid in ids:
                if aid in sub.problems:
                    skipped.append(Skipped(sid, aid, _strip_md(sub.problems[aid])))
                    continue
                module = sub.files.get(aid)
                if module is None:
                    continue  # not handed in: nothing to compare, and nothing to report here
                shown = sub.origins.get(aid) or module.name
                try:
                    texts[aid][sid] = module.read_bytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    skipped.append(Skipped(sid, aid, f"{shown} is not UTF-8 text (byte {exc.start}: {exc.reason})"))
                except OSError as exc:
                    skipped.append(Skipped(sid, aid, f"{shown} could not be read ({exc.strerror})"))
        finally:
            sub.cleanup()
    return texts, skipped


# -- scoring -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """One matching run of tokens: on each side, the 1-based lines that hold its tokens, and its length."""

    a_lines: tuple[int, ...]  # ascending; lines in between without a token (comments, blank) are not listed
    b_lines: tuple[int, ...]
    tokens: int


@dataclass(frozen=True)
class Pair:
    """Two students' modules of one assignment and what they share; see the module docstring for the score."""

    assignment: str
    a: str  # a < b
    b: str
    shared: int  # fingerprints the two hold, outside the starter and the common code
    a_fingerprints: int  # a's fingerprints outside the starter and the common code
    b_fingerprints: int
    regions: tuple[Region, ...] = ()  # computed for the listed pairs only
    floor: int = FLOOR  # Options.floor: a module's count is raised to it

    @property
    def share_a(self) -> float:
        """The share of a's fingerprints that b holds too (a's count raised to the floor)."""
        return self.shared / max(self.a_fingerprints, self.floor, 1)

    @property
    def share_b(self) -> float:
        return self.shared / max(self.b_fingerprints, self.floor, 1)

    @property
    def score(self) -> float:
        return max(self.share_a, self.share_b)


@dataclass
class AssignmentSimilarity:
    """One assignment's comparison: counts for the report's line, the listed pairs, and their modules."""

    assignment: str
    compared: int  # modules with code of their own
    starter_only: list[str]  # students whose module holds nothing beyond the starter code
    pairs: list[Pair]  # at or above the threshold, best first, at most `top`
    above: int  # pairs at or above the threshold, listed or not
    highest: Pair | None  # the best-scoring pair, listed or not
    common: int  # fingerprints left out as common to the class
    starter: list[str]  # where the starter code came from (empty: none found, nothing excluded)
    sources: dict[str, str] = field(default_factory=dict)  # the listed pairs' modules, for the view


@dataclass
class Similarity:
    """The class report's similar-code section: the settings, each assignment, what was not compared."""

    options: Options
    assignments: list[AssignmentSimilarity]
    skipped: list[Skipped]


def _pair_counts(fps: list[np.ndarray], limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The inverted index at work: (i, j, shared) arrays, one entry per pair of modules i < j that shares
    fingerprints held by at most `limit` modules; each module's number of such fingerprints; how many
    fingerprints were common (held by more than `limit`)."""
    n = len(fps)
    none = np.zeros(0, dtype=np.int64)
    if not n:
        return np.zeros((3, 0), dtype=np.int64), none, 0  # type: ignore[return-value]
    hashes = np.concatenate(fps)
    owners = np.repeat(np.arange(n, dtype=np.int64), [len(f) for f in fps])
    order = np.argsort(hashes, kind="stable")  # owners stay ascending within one hash
    hashes, owners = hashes[order], owners[order]
    _, first, held = np.unique(hashes, return_index=True, return_counts=True)
    own = np.bincount(owners[np.repeat(held, held) <= limit], minlength=n)
    keys = [none]
    for c in np.unique(held[(held >= 2) & (held <= limit)]).tolist():
        members = owners[first[held == c][:, None] + np.arange(c)]  # (fingerprints held by c modules, c)
        keys += [members[:, i] * n + members[:, j] for i in range(c) for j in range(i + 1, c)]
    pairs, shared = np.unique(np.concatenate(keys), return_counts=True)
    return np.stack([pairs // n, pairs % n, shared]), own, int((held > limit).sum())  # type: ignore[return-value]


def compare_assignment(aid: str, texts: dict[str, str], starter: np.ndarray, opts: Options,
                       starter_names: list[str] | None = None) -> AssignmentSimilarity:
    """Score every pair of `texts` (student -> module) that shares fingerprints; keep the listed ones."""
    students = sorted(texts, key=lambda s: (s.casefold(), s))
    fps, names, starter_only = [], [], []
    done: dict[str, np.ndarray] = {}  # identical modules (an untouched stub, a verbatim copy) are lexed once
    for sid in students:
        fp = done.get(texts[sid])
        if fp is None:
            fp = done[texts[sid]] = fingerprints(texts[sid], starter, opts)
        if len(fp):
            fps.append(fp)
            names.append(sid)
        else:
            starter_only.append(sid)
    limit = max(opts.common_min, int(opts.common_share * len(names)))
    (i, j, shared), own, common = _pair_counts(fps, limit)
    # every pair that shares anything, scored at once (a class of 200 has ~20,000 pairs per assignment);
    # the same arithmetic as Pair.score, so that a listed pair shows the score it was ranked by
    size = np.maximum(np.maximum(own, opts.floor), 1).astype(np.float64)
    score = np.maximum(shared / size[i], shared / size[j])
    order = np.lexsort((j, i, -shared, -score))  # best first; ties by name (names are sorted: so are i, j)
    above = int((score >= opts.threshold).sum())

    def pair(k: int) -> Pair:
        a, b = int(i[k]), int(j[k])
        return Pair(aid, names[a], names[b], int(shared[k]), int(own[a]), int(own[b]), floor=opts.floor)

    listed = [pair(k) for k in order[:min(above, opts.top)].tolist()]
    listed = [replace(p, regions=matching_regions(texts[p.a], texts[p.b], starter, opts)) for p in listed]
    sources = {s: texts[s] for p in listed for s in (p.a, p.b)}
    highest = pair(int(order[0])) if len(order) else None
    return AssignmentSimilarity(aid, len(names), starter_only, listed, above, highest, common,
                                list(starter_names or []), sources)


# -- the side-by-side view ------------------------------------------------------------------------
def _line_of(text: str) -> Any:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    return lambda offset: bisect_right(starts, offset)  # 1-based


def matching_regions(a: str, b: str, starter: np.ndarray, opts: Options) -> tuple[Region, ...]:
    """The longest runs of tokens the two modules share outside the starter code, each used once.

    Every k-gram (not only the fingerprints) is matched, along diagonals (a run continues while
    both sides advance together), then runs are taken longest first where they overlap no run
    already taken on either side: a greedy tiling, as JPlag does. Ordered by their place in `a`.
    """
    ta, tb = lex(a, positions=True), lex(b, positions=True)
    ha, hb = kgrams(ta.ids, opts.k), kgrams(tb.ids, opts.k)
    runs = _diagonal_runs(ha, hb, starter)
    runs = runs[runs[:, 1] - runs[:, 0] + opts.k >= opts.k + opts.window - 1]  # too short even before trimming
    runs = runs[np.lexsort((runs[:, 2], runs[:, 0], runs[:, 0] - runs[:, 1]))]  # longest first
    in_a, in_b = _inside_starter(ha, starter, opts.k), _inside_starter(hb, starter, opts.k)
    used_a = np.zeros(len(ta.ids), dtype=bool)
    used_b = np.zeros(len(tb.ids), dtype=bool)
    taken = []
    for s, e, d in runs.tolist():
        a0, a1, b0, b1 = s, e + opts.k, s + d, e + d + opts.k  # token ranges [a0, a1)
        # the first and last k-grams may reach into starter code (the stub's next `def` line): not a match
        while a0 < a1 and in_a[a0] and in_b[b0]:
            a0, b0 = a0 + 1, b0 + 1
        while a1 > a0 and in_a[a1 - 1] and in_b[b1 - 1]:
            a1, b1 = a1 - 1, b1 - 1
        if a1 - a0 < opts.k + opts.window - 1:
            continue  # shorter than what winnowing promises to see: chance, not a region worth reading
        if used_a[a0:a1].any() or used_b[b0:b1].any():
            continue
        used_a[a0:a1] = True
        used_b[b0:b1] = True
        taken.append((a0, a1, b0, b1))
    line_a, line_b = _line_of(a), _line_of(b)
    return tuple(Region(_lines(line_a, ta, a0, a1), _lines(line_b, tb, b0, b1), a1 - a0)
                 for a0, a1, b0, b1 in sorted(taken))


MAX_REPEATS = 32  # a k-gram found more often than this in one module is boilerplate there: not matched


def _diagonal_runs(ha: np.ndarray, hb: np.ndarray, starter: np.ndarray) -> np.ndarray:
    """(first k-gram in a, last k-gram in a, offset j - i) of every maximal run of k-grams a[i] == b[i + offset],
    outside the starter code: the matches of a sort-merge join, grouped by diagonal."""
    order = np.argsort(hb, kind="stable")
    sorted_b = hb[order]
    lo, hi = np.searchsorted(sorted_b, ha, "left"), np.searchsorted(sorted_b, ha, "right")
    count = np.minimum(hi - lo, MAX_REPEATS)
    if len(starter):
        count[np.isin(ha, starter)] = 0
    i = np.repeat(np.arange(len(ha)), count)
    first = np.repeat(lo, count)
    j = order[first + np.arange(len(i)) - np.repeat(np.cumsum(count) - count, count)]
    if not len(i):
        return np.zeros((0, 3), dtype=np.int64)
    d = j - i
    by = np.lexsort((i, d))
    i, d = i[by], d[by]
    cut = np.flatnonzero((np.diff(d) != 0) | (np.diff(i) != 1)) + 1
    starts, ends = np.concatenate(([0], cut)), np.concatenate((cut, [len(i)])) - 1
    return np.stack([i[starts], i[ends], d[starts]], axis=1).astype(np.int64)


def _inside_starter(hashes: np.ndarray, starter: np.ndarray, k: int) -> np.ndarray:
    """Per token: whether some k-gram of the starter code covers it here."""
    starts = np.isin(hashes, starter) if len(starter) else np.zeros(len(hashes), dtype=bool)
    return np.convolve(starts.astype(np.int64), np.ones(k, dtype=np.int64))[:len(hashes) + k - 1] > 0


def _lines(line_of: Any, toks: Tokens, first: int, end: int) -> tuple[int, ...]:
    """The 1-based lines on which tokens first..end-1 lie (a token over several lines counts on each)."""
    assert toks.starts is not None and toks.ends is not None
    found: set[int] = set()
    for s, e in zip(toks.starts[first:end].tolist(), toks.ends[first:end].tolist()):
        found.update(range(line_of(s), line_of(max(e - 1, s)) + 1))
    return tuple(sorted(found))


# -- the class ------------------------------------------------------------------------------------
def compare_class(texts: dict[str, dict[str, str]], starters: dict[str, tuple[list[str], list[str]]],
                  opts: Options | None = None, skipped: list[Skipped] | None = None) -> Similarity:
    """Every assignment of `texts` (assignment -> student -> module) compared, with its starter code."""
    opts = opts or Options()
    out = []
    for aid in texts:
        starter_text, names = starters.get(aid, ([], []))
        out.append(compare_assignment(aid, texts[aid], starter_hashes(starter_text, opts), opts, names))
    return Similarity(opts, out, list(skipped or []))


def similarity(students: list[tuple[str, Path]], ids: list[str], *, root: Path, starter: Path | None = None,
               opts: Options | None = None) -> Similarity:
    """Read the class (read-only, through the grader's loader) and compare it, assignment by assignment."""
    texts, skipped = read_class(students, ids)
    return compare_class(texts, find_starters(ids, starter, root), opts, skipped)


def _ranges(lines: tuple[int, ...]) -> list[list[int]]:
    """(3, 4, 5, 9) -> [[3, 5], [9, 9]]: the lines of a region as inclusive ranges."""
    out: list[list[int]] = []
    for n in lines:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def to_json(sim: Similarity) -> str:
    """similarity.json: the listed pairs with their shares and regions, the skipped files, the settings."""
    def pair(p: Pair) -> dict[str, Any]:
        return {"a": p.a, "b": p.b, "score": round(p.score, 4), "share_a": round(p.share_a, 4),
                "share_b": round(p.share_b, 4), "shared_fingerprints": p.shared,
                "a_fingerprints": p.a_fingerprints, "b_fingerprints": p.b_fingerprints,
                "regions": [{"a_lines": _ranges(r.a_lines), "b_lines": _ranges(r.b_lines), "tokens": r.tokens}
                            for r in p.regions]}

    data = {
        "note": "evidence for a human reader, never a penalty: no score depends on it",
        "options": asdict(sim.options),
        "assignments": [{"id": a.assignment, "compared": a.compared, "starter_only": a.starter_only,
                         "above_threshold": a.above, "common_fingerprints": a.common,
                         "starter": [Path(s).name for s in a.starter],
                         "highest": None if a.highest is None else pair(a.highest) | {"regions": []},
                         "pairs": [pair(p) for p in a.pairs]} for a in sim.assignments],
        "not_compared": [{"student": s.student, "assignment": s.assignment, "reason": s.reason} for s in sim.skipped],
    }
    return json.dumps(data, indent=1, sort_keys=False) + "\n"
