"""Lines of check code per check, per assignment: how much an assignment costs to write on the kit.

For each assignment, the number of checks is counted from the registered check objects (the public
suite with its hidden checks loaded: `load_suite(aid, hidden=True).checks`, plus the `no_banned_apis`
check grading adds for a suite with bans is not counted: no suite writes it). Lines are the
non-blank lines of Python that are neither comments nor docstrings (module, class and function
docstrings; `description=` strings are code and count), of:

    suite   autograder/suites/aNN_*.py + autograder/hidden/aNN_*.py + autograder/runtime/aNN_helpers.py
    +cat    the same plus the mistake catalogue: autograder/mistakes/aNN_*.py, and its hidden half
            autograder/hidden/mistakes/aNN_*.py where a mistake's computation must not ship (a01's replays)

Engine code (kit, properties, differential, snapshots, shared runtime helpers) is not counted: it is
written once for every assignment.

    python bench/lines_per_check.py [--only a01 a02 ...]     (default: a01-a08, the issue's scope)
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PKG = ROOT / "autograder"
IGNORED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENDMARKER, tokenize.ENCODING}


def code_lines(path: Path) -> int:
    """Non-blank, non-comment, non-docstring lines of one Python file (0 when it does not exist)."""
    if not path.is_file():
        return 0
    source = path.read_text(encoding="utf-8")
    docstring: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstring.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in IGNORED:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstring)


def measure(aid: str) -> tuple[int, int, int]:
    """(checks, suite + hidden lines, catalogue lines) of one assignment."""
    from autograder.assignments import load_suite

    n_checks = len(load_suite(aid, hidden=True).checks)
    number = aid.split("_", 1)[0]
    suite = sum(code_lines(p) for p in (PKG / "suites" / f"{aid}.py", PKG / "hidden" / f"{aid}.py",
                                        PKG / "runtime" / f"{number}_helpers.py"))
    return n_checks, suite, code_lines(PKG / "mistakes" / f"{aid}.py") + code_lines(PKG / "hidden" / "mistakes" / f"{aid}.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="assignment IDs (default: a01-a08)")
    args = parser.parse_args()
    from autograder.assignments import CURRICULUM, resolve_all

    ids = resolve_all(args.only) if args.only else list(CURRICULUM[:8])
    print(f"{'assignment':<20} {'checks':>6} {'suite':>6} {'/check':>7} {'+cat':>6} {'/check':>7}")
    total = [0, 0, 0]
    for aid in ids:
        n, suite, cat = measure(aid)
        total = [total[0] + n, total[1] + suite, total[2] + cat]
        print(f"{aid:<20} {n:>6} {suite:>6} {suite / n:>7.1f} {suite + cat:>6} {(suite + cat) / n:>7.1f}")
    n, suite, cat = total
    print(f"{'total':<20} {n:>6} {suite:>6} {suite / n:>7.1f} {suite + cat:>6} {(suite + cat) / n:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
