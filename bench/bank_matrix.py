"""The bank matrix: for every mistake and correct alternative in tests/banks, the status of every check.

Grades the solutions and every variant of each assignment's bank in-process (`grade(..., isolate=False)`,
as tests/test_banks.py does) and writes one JSON object:

    {aid: {variant: {check: {"status": ..., "score": ..., "hint": bool, "hint_text": ..., "message": ...}}}}

with the unmodified solution under the variant name "(solution)". Two runs diff check by check
(`--diff OLD.json NEW.json`), which is how a suite rewrite proves it grades the banks as before;
`--strict` also compares the hints' and messages' text (same machine only: messages show floats).

    python bench/bank_matrix.py --out /tmp/matrix.json [--only a03 a04]
    python bench/bank_matrix.py --diff /work/wt/kit-baseline.json /tmp/matrix.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def matrix(ids: list[str]) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    from autograder.grading import grade
    from tests.conftest import make_submission

    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for aid in ids:
        bank = importlib.import_module(f"tests.banks.{aid}")
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        t0 = time.monotonic()
        for variant in [None, *bank.MUTANTS, *bank.ALTERNATIVES]:
            with tempfile.TemporaryDirectory() as tmp:
                report = grade(make_submission(Path(tmp), aid, variant), [aid], isolate=False)
            (result,) = report.assignments
            rows["(solution)" if variant is None else variant.name] = {
                c.name: {"status": c.status, "score": c.score, "hint": bool(c.hint), "hint_text": c.hint or "",
                         "message": c.message} for c in result.checks}
        out[aid] = rows
        print(f"{aid}: {len(rows)} variants in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return out


def diff(old: dict[str, Any], new: dict[str, Any], *, strict: bool = False) -> list[str]:
    """One line per (assignment, variant, check) whose status or score changed, or that appeared or went;
    `strict`: also whose hint or message text changed (matrices without the text compare as before)."""
    lines = []
    for aid in sorted(set(old) | set(new)):
        a, b = old.get(aid, {}), new.get(aid, {})
        for variant in sorted(set(a) | set(b)):
            ca, cb = a.get(variant, {}), b.get(variant, {})
            for check in sorted(set(ca) | set(cb)):
                x, y = ca.get(check), cb.get(check)
                fx = f"{x['status']} {x['score']:g}" if x else "absent"
                fy = f"{y['status']} {y['score']:g}" if y else "absent"
                hx, hy = bool(x and x.get("hint")), bool(y and y.get("hint"))
                if fx != fy or hx != hy:
                    lines.append(f"{aid} {variant} {check}: {fx}{' +hint' if hx else ''} -> "
                                 f"{fy}{' +hint' if hy else ''}")
                elif strict and x and y:
                    lines.extend(f"{aid} {variant} {check}: {key} {x.get(key)!r} -> {y.get(key)!r}"
                                 for key in ("hint_text", "message") if x.get(key) != y.get(key))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="assignment IDs (default: every one with a bank)")
    parser.add_argument("--out", type=Path, help="write the matrix here (default: print it)")
    parser.add_argument("--diff", nargs=2, type=Path, metavar=("OLD", "NEW"), help="compare two saved matrices")
    parser.add_argument("--strict", action="store_true", help="with --diff: compare hint and message texts too")
    args = parser.parse_args()
    if args.diff:
        old, new = (json.loads(p.read_text(encoding="utf-8")) for p in args.diff)
        lines = diff(old, new, strict=args.strict)
        print("\n".join(lines) if lines else "no change, check by check")
        return 0
    from autograder.assignments import available, resolve_all

    ids = resolve_all(args.only) if args.only else available()
    ids = [a for a in ids if (ROOT / "tests" / "banks" / f"{a}.py").is_file()]
    data = json.dumps(matrix(ids), indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(data + "\n", encoding="utf-8")
    else:
        print(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
