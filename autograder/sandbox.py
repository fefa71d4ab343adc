"""The grader's half of the worker's confinement: what the worker may read, and the grader's own guard.

The worker confines itself (`autograder/runtime/confine.py`, which says what each kernel mechanism
does and why it is used through ctypes); this module decides the paths it may read, writes them to a
plan file in the worker's sandbox, and makes the grader process itself non-dumpable.

Landlock judges a file by where it really lives, not by the symlink that led to it, so the plan names
real paths: the Python installation and every other directory on the grader's `sys.path`, each with
this project's packages cut out (the checkout, `reference/`, `solutions/`, `autograder/`, editable-
install finders and `.pth` files; a non-editable install puts `reference/` and `autograder/hidden/`
in site-packages, so site-packages is granted entry by entry), plus shared libraries, the GPT-2 cache
and a few device files. Nothing in the plan is writable; the worker adds its scratch folder itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from . import gpt2_vocab
from .runtime import confine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# a non-editable install: the "project root" is site-packages itself, shared with torch; then this
# project's own entries (PRIVATE_NAMES) are what is cut out, not the whole folder
INSTALLED = PROJECT_ROOT.name in ("site-packages", "dist-packages")
# distributions and top-level packages of this project: never visible to learner code
PRIVATE_NAMES = ("autograder", "reference", "solutions", "scratchgrad", "__editable__")
SCRATCH_MB = 64  # the worker's only writable space (a tmpfs); a graded check writes nothing
# shared libraries and the files the dynamic loader reads; /usr also holds the system Python's stdlib
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                "/etc/localtime", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


def is_private(path: str) -> bool:
    """A site-packages item (or any path) that belongs to this project."""
    name = os.path.basename(path)
    if name.endswith(".pth") or name.startswith(PRIVATE_NAMES):
        return True
    return in_checkout(path)


def in_checkout(path: str) -> bool:
    """Inside the grader's source checkout (never true for a non-editable install, see INSTALLED)."""
    real = os.path.realpath(path)
    return not INSTALLED and _inside(real, str(PROJECT_ROOT))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _grant(root: str, excluded: set[str], out: list[str]) -> None:
    """`root`, or, when an excluded path lies inside it, each of its items but the excluded ones."""
    if root in excluded:
        return
    if not any(_inside(e, root) for e in excluded):
        out.append(root)
        return
    try:
        items = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for item in items:
        _grant(item.path, excluded, out)


def site_dirs() -> list[str]:
    """The grader's sys.path entries that are not the standard library (site-packages, PYTHONPATH)."""
    base = os.path.realpath(sys.base_prefix)
    return [p for p in sys.path if p and os.path.isdir(p)
            and not (_inside(os.path.realpath(p), base) and "site-packages" not in p and "dist-packages" not in p)]


_PLAN: list[str] = []  # the read paths, computed once per grader process


def read_paths() -> list[str]:
    """Every real path the worker may read, outside its own sandbox (cached)."""
    if _PLAN:
        return list(_PLAN)
    forbidden = set() if INSTALLED else {str(PROJECT_ROOT)}  # never readable, whatever leads there
    allowed: list[str] = []
    for site in site_dirs():  # granted item by item, each by its real path (views are symlinks to them)
        for item in sorted(os.scandir(site), key=lambda e: e.name):
            (forbidden.add if is_private(item.path) else allowed.append)(os.path.realpath(item.path))
    # the trees below are granted whole, except where a site folder or something forbidden lies inside
    excluded = forbidden | {os.path.realpath(p) for p in site_dirs()}
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), os.path.realpath(sys.executable),
             str(gpt2_vocab.tiktoken_cache_dir())}
    roots |= {os.path.realpath(p) for p in SYSTEM_PATHS if os.path.exists(p)}
    for root in sorted(roots):
        _grant(root, excluded, allowed)
    # e.g. a site-packages symlink into the checkout, or a PYTHONPATH entry holding it
    _PLAN[:] = sorted({p for p in allowed if not any(_inside(p, f) or _inside(f, p) for f in forbidden)})
    return list(_PLAN)


def write_plan(path: Path, *, extra_read: list[str], scratch: Path) -> None:
    """The plan `confine.confine` applies: read paths, the scratch folder and its size."""
    read = read_paths() + [os.path.realpath(p) for p in extra_read]
    plan = {"read": read, "scratch": str(scratch), "scratch_mb": SCRATCH_MB,
            "hide": hidden_folders([*read, os.path.realpath(scratch)])}
    skip = os.environ.get("SCRATCHGRAD_CONFINE_SKIP")  # tests only: mechanisms to leave out
    if skip:
        plan["skip"] = skip.split(",")
    path.write_text(json.dumps(plan), encoding="utf-8")
    os.chmod(path, 0o644)  # a worker running as another account reads it


def hidden_folders(needed: list[str]) -> list[str]:
    """Instructor folders the worker's mount namespace covers with an empty tmpfs: the checkout, or in
    a non-editable install this project's packages; never one holding something the worker needs."""
    if INSTALLED:
        folders = [os.path.join(PROJECT_ROOT, name) for name in os.listdir(PROJECT_ROOT)
                   if name.startswith(PRIVATE_NAMES) and os.path.isdir(os.path.join(PROJECT_ROOT, name))]
    else:
        folders = [str(PROJECT_ROOT)]
    return [f for f in folders if not any(_inside(n, f) for n in needed)]


_GUARD: list[str] = []


def guard_grader() -> str | None:
    """Make this grader process non-dumpable (once): a worker of the same user can then neither read
    its /proc/<pid>/environ or mem nor ptrace it. Returns why not, or None."""
    if not _GUARD:
        _GUARD.append(confine.make_undumpable() or "")
    return _GUARD[0] or None


def protections(worker: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """The report's `grader.protections`: what was active around learner code and what was missing."""
    active = list((worker or {}).get("active", []))
    missing = list((worker or {}).get("missing", []))
    why = guard_grader()
    if why:
        missing.append(f"grader-undumpable: {why}")
    else:
        active.append("grader-undumpable")
    if worker is None:
        missing.append("worker confinement: not reported (no learner code ran)")
    return {"active": active, "missing": missing}
