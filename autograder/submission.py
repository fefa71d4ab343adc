"""Stage 1 of grading, on every route: find a submission's assignment modules and copy them somewhere private.

`load(path, ids)` takes what a learner handed in (a folder, a .zip of one, files in sub-folders, renamed
copies such as `a03_attention (1).py` or `A03_Attention-2.py`, notebooks) and returns a fresh folder
that holds only `aNN_*.py` modules: one per assignment, copied byte for byte or assembled from the
notebook. Nothing else comes along: no other `.py` (a `random.py` or `signal.py` beside the files is
simply not there, so it cannot shadow the standard library), no `.pyc`, no `__pycache__`, no link. The
static scan reads these copies and the worker imports copies of them, so both see the same bytes, and
nothing the worker does can touch the learner's own folder. `grade`, `grade-all`, `check`, Gradescope
and the nbgrader test cells all come through here.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .assignments import CURRICULUM, UsageError
from .escape import md_code, md_text
from .notebooks import NotebookError, module_from_file

MAX_ZIP_BYTES = 64 << 20  # uncompressed; a homework submission is a few source files
MAX_MODULE_BYTES = {".py": 4 << 20, ".ipynb": 64 << 20}  # the solutions are ~15 kB; notebooks carry outputs
MAX_ENTRIES = 20_000  # files and folders looked at; a submission is a handful, a home folder is not
# `a03_attention.py`, and the names browsers and uploads give copies: `a03_attention (1).py`, `A03_Attention-2.py`
COPY_SUFFIX = r"(?: ?\(\d+\)|-\d+)?"
SKIPPED_DIRS = ("__MACOSX", "__pycache__", "site-packages", "node_modules")
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pth", ".ipynb")  # named when ignored: they look like code


@dataclass
class Found:
    """Which file of the submission stands for each assignment, and what the learner should know."""
    chosen: dict[str, tuple[Path, str] | None]  # aid -> (path, name shown to the learner)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # code-like files that are not graded


@dataclass
class Submission:
    name: str
    root: Path  # the private folder: only the aNN_*.py modules below
    files: dict[str, Path | None]  # aid -> its module in `root`
    origins: dict[str, str | None]  # aid -> where in the submission it came from
    notes: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # aid -> why its file is unusable (a notebook)
    _tmp: Path | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def extract_zip(path: Path, dest: Path) -> None:
    """Unpack `path` into `dest`; UsageError for a zip that is too big, escapes `dest` or is corrupt."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(i.file_size for i in zf.infolist())
            if total > MAX_ZIP_BYTES:
                raise UsageError(f"{path}: the zip holds {total} bytes uncompressed (limit {MAX_ZIP_BYTES})")
            for info in zf.infolist():
                target = (dest / info.filename).resolve()
                if not str(target).startswith(str(dest.resolve()) + os.sep):
                    raise UsageError(f"{path}: member {info.filename!r} would land outside the folder")
            zf.extractall(dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # corrupt or truncated data, an unsupported compression method, an encrypted member
        raise UsageError(f"{path}: not a readable zip file ({type(exc).__name__}: {exc})") from None


def _skip(rel: Path) -> bool:
    return any(part.startswith(".") or part in SKIPPED_DIRS for part in rel.parts)


def _candidates(folder: Path, label: str, found: Found, unpack: Path | None,
                budget: list[int]) -> list[tuple[Path, str]]:
    """Every regular file under `folder` as (path, name shown to the learner); zips unpacked one level deep."""
    out = []
    for dirpath, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skip(Path(d)))
        for name in sorted(names):
            budget[0] -= 1
            if budget[0] < 0:
                if budget[0] == -1:
                    found.notes.append(f"stopped looking after {MAX_ENTRIES} files: hand in the assignment files "
                                       "themselves, not a whole folder tree")
                return out
            path = Path(dirpath) / name
            rel = path.relative_to(folder)
            shown = f"{label}{rel.as_posix()}"
            if _skip(rel):
                continue
            if path.is_symlink():
                found.notes.append(f"{md_code(shown)} is a symbolic link and was ignored: upload the file itself")
                continue
            if unpack is not None and name.lower().endswith(".zip"):
                dest = Path(tempfile.mkdtemp(prefix="zip-", dir=unpack))
                try:
                    extract_zip(path, dest)
                except UsageError as exc:
                    found.notes.append(f"{md_code(shown)} could not be unpacked: {md_text(str(exc))}")
                    continue
                out += _candidates(dest, f"{shown}/", found, None, budget)
            elif path.is_file():
                out.append((path, shown))
    return out


def find(folder: Path, ids: list[str], *, unpack: Path | None) -> Found:
    """Choose each assignment's file under `folder` (zips inside it are unpacked into `unpack`).

    A `.py` file beats a notebook, exact names beat renamed copies, and shallower files beat deeper
    ones; the choice is reported when more than one file could be the assignment.
    """
    found = Found(chosen={aid: None for aid in ids})
    candidates = _candidates(folder, "", found, unpack, [MAX_ENTRIES])
    used: set[str] = set()
    for aid in ids:
        for ext in (".py", ".ipynb"):  # a notebook is assembled into the module; a .py file wins
            pattern = re.compile(re.escape(aid) + COPY_SUFFIX + re.escape(ext), re.IGNORECASE)
            matches = sorted((path.name != f"{aid}{ext}", shown.count("/"), shown, path)
                             for path, shown in candidates if pattern.fullmatch(path.name))
            if matches:
                *_, shown, path = matches[0]
                found.chosen[aid] = (path, shown)
                used.update(m[2] for m in matches)
                if len(matches) > 1:
                    others = ", ".join(md_code(m[2]) for m in matches[1:4])
                    found.notes.append(f"graded {md_code(shown)} as {aid}{ext}; also found {others}")
                break
    found.ignored = [shown for path, shown in candidates
                     if shown not in used and path.suffix.lower() in CODE_SUFFIXES
                     and not re.fullmatch(r"a\d\d_\w+" + COPY_SUFFIX + r"\.(py|ipynb)", path.name, re.IGNORECASE)]
    if found.ignored:
        shown = ", ".join(md_code(s) for s in found.ignored[:6]) + (" ..." if len(found.ignored) > 6 else "")
        found.notes.append(f"ignored {shown}: only the assignment modules (aNN_*.py or .ipynb) are graded; "
                           "other modules of yours are not importable while grading")
    if not any(found.chosen.values()):
        names = ", ".join(f"{a}.py" for a in ids) + " (or .ipynb)"
        seen = ", ".join(md_code(s) for _, s in candidates[:8]) or "no files"
        found.notes.append(f"no assignment file found (looked for {names} at the top level, in folders and in "
                           f".zip files; the submission holds {seen})")
    return found


def load(path: Path, ids: list[str]) -> Submission:
    """The private copy of submission `path` (a folder or a .zip) for assignments `ids`.

    Raises:
        UsageError: `path` does not exist, is neither a folder nor a .zip, or is an unreadable,
            oversized or path-escaping zip.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"submission {str(path)!r} does not exist")
    if path.is_file() and path.suffix.lower() != ".zip":
        raise UsageError(f"submission {str(path)!r} must be a folder or a .zip of one")
    tmp = Path(tempfile.mkdtemp(prefix="scratchgrad-sub-"))
    try:
        root = tmp / "modules"
        root.mkdir()
        # every assignment module, not only those graded: a04's file imports the learner's a03
        every = list(dict.fromkeys([*ids, *CURRICULUM]))
        if path.is_file():
            extract_zip(path, tmp / "unzipped")
            found = find(tmp / "unzipped", every, unpack=None)
        else:
            (tmp / "unpacked").mkdir()
            found = find(path.resolve(), every, unpack=tmp / "unpacked")
        sub = Submission(name=path.name.removesuffix(".zip"), root=root, files={a: None for a in ids},
                         origins={a: None for a in ids}, notes=found.notes, _tmp=tmp)
        for aid, choice in found.chosen.items():
            if choice is None:
                continue
            source, shown = choice
            graded = aid in sub.files
            if graded:
                sub.origins[aid] = shown
            target = root / f"{aid}.py"
            size, limit = source.stat().st_size, MAX_MODULE_BYTES[source.suffix.lower()]
            if size > limit:
                if graded:
                    sub.problems[aid] = f"{md_code(shown)} holds {size} bytes, more than an assignment file may ({limit})"
                continue
            if source.suffix.lower() == ".py":
                target.write_bytes(source.read_bytes())
            else:
                try:
                    target.write_text(module_from_file(source, aid), encoding="utf-8")
                except NotebookError as exc:
                    if graded:
                        sub.problems[aid] = str(exc)
                    continue
            if graded:
                sub.files[aid] = target
        for scratch in ("unzipped", "unpacked"):  # only the modules stay
            shutil.rmtree(tmp / scratch, ignore_errors=True)
        return sub
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
