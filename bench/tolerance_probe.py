"""How far the banks' correct alternatives and mistakes are from the expected values, check by check.

Grades the solution and every bank variant in-process, recording each tensor comparison a check
makes (`compare.mismatch_report`) as a ratio to its tolerance: r = max |got - expected| / (atol + rtol |expected|)
over the elements (r <= 1 passes). For each check it prints the largest ratio any correct
alternative reached (it must stay below 1, with room), and the smallest ratio at which a mistake
failed it (the first failing comparison of the check; above 1, the further the better). The gap
between the two is the room a tolerance has; `--scale` shows which checks fail if every tolerance
were multiplied by it.

    python bench/tolerance_probe.py --only a04
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def probe(aid: str) -> dict[str, Any]:
    import torch

    import autograder.compare as compare
    import autograder.grading as grading
    from tests.conftest import make_submission

    current: dict[str, Any] = {"check": None, "log": []}
    original_report = compare.mismatch_report
    original_run = grading.run_check

    original_match = compare.Hints.match

    def matching(self: Any, *args: Any, **kwargs: Any) -> Any:  # hint comparisons are not errors
        current["hint"] = True
        try:
            return original_match(self, *args, **kwargs)
        finally:
            current["hint"] = False

    def recording(actual: torch.Tensor, expected: torch.Tensor, tol: compare.Tolerance) -> str | None:
        if current.get("hint"):
            return original_report(actual, expected, tol)
        a, e = actual.detach().to(torch.float64), expected.detach().to(torch.float64)
        if a.shape == e.shape and a.numel():
            both_nan = torch.isnan(a) & torch.isnan(e)
            diff = (a - e).abs().where(~both_nan, torch.zeros_like(a))
            ratio = diff / (tol.atol + tol.rtol * e.abs())
            r = float(ratio.nan_to_num(float("inf")).max())
            rel = diff / e.abs().clamp_min(1e-300)
            current["log"].append((current["check"], r, float(diff.nan_to_num(float("inf")).max()),
                                   float(rel.where(e != 0, torch.zeros_like(rel)).nan_to_num(float("inf")).max())))
        return original_report(actual, expected, tol)

    def run_check(check: Any, *args: Any, **kwargs: Any) -> Any:
        current["check"] = check.name
        return original_run(check, *args, **kwargs)

    compare.mismatch_report = recording  # type: ignore[assignment]
    compare.Hints.match = matching  # type: ignore[method-assign]
    grading.run_check = run_check  # type: ignore[assignment]
    bank = importlib.import_module(f"tests.banks.{aid}")
    alt: dict[str, tuple[float, float, float, str]] = defaultdict(lambda: (0.0, 0.0, 0.0, ""))
    bad: dict[str, tuple[float, float, float, str]] = defaultdict(lambda: (float("inf"), 0.0, 0.0, ""))
    try:
        for kind, variant in [("alt", None), *(("alt", v) for v in bank.ALTERNATIVES), *(("bad", v) for v in bank.MUTANTS)]:
            current["log"] = []
            with tempfile.TemporaryDirectory() as tmp:
                grading.grade(make_submission(Path(tmp), aid, variant), [aid], isolate=False)
            name = "(solution)" if variant is None else variant.name
            may_lose = set(getattr(variant, "may_lose", ()))
            first_fail: dict[str, tuple[float, float, float]] = {}
            for check, r, d, rel in current["log"]:
                if kind == "alt" and check not in may_lose and r > alt[check][0]:
                    alt[check] = (r, d, rel, name)
                if kind == "bad" and r > 1 and r < first_fail.get(check, (float("inf"),))[0]:
                    first_fail[check] = (r, d, rel)
            for check, (r, d, rel) in first_fail.items():  # the smallest failing comparison of each check
                if r < bad[check][0]:
                    bad[check] = (r, d, rel, name)
    finally:
        compare.mismatch_report = original_report  # type: ignore[assignment]
        compare.Hints.match = original_match  # type: ignore[method-assign]
        grading.run_check = original_run  # type: ignore[assignment]
    return {"alternatives": dict(alt), "mistakes": dict(bad)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", required=True, help="assignment IDs")
    args = parser.parse_args()
    from autograder.assignments import resolve_all

    for aid in resolve_all(args.only):
        found = probe(aid)
        alt, bad = found["alternatives"], found["mistakes"]
        print(f"\n{aid}: ratio to tolerance (<= 1 passes); max over correct alternatives | min over failing mistakes")
        print(f"{'check':<40} {'alt ratio':>10} {'abs':>9} {'rel':>9} {'by':<34} {'mistake ratio':>13} {'abs':>9} "
              f"{'rel':>9} by")
        for check in sorted(set(alt) | set(bad)):
            a = alt.get(check, (0.0, 0.0, 0.0, "-"))
            b = bad.get(check, (float("inf"), 0.0, 0.0, "-"))
            print(f"{check:<40} {a[0]:>10.3g} {a[1]:>9.2g} {a[2]:>9.2g} {a[3]:<34} {b[0]:>13.3g} {b[1]:>9.2g} "
                  f"{b[2]:>9.2g} {b[3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
