"""The class report reads at a glance: failures among students who tried, top 20 shown, one row per mistake."""

from __future__ import annotations

import re

from autograder.classreport import CHART_ROWS, Row, check_stats, hint_counts, render_html

A03, A04 = "a03_attention", "a04_gpt_blocks"
PUBLIC_HINT = ("your rows' variance matches dividing by E - 1 (the unbiased variance): LayerNorm uses the biased "
               "variance, x.var(dim=-1, unbiased=False)")
HIDDEN_HINT = ("your output matches the unbiased variance (divided by E - 1): LayerNorm uses the biased variance, "
               "x.var(dim=-1, unbiased=False)")


def report(assignments: list[dict]) -> dict:
    return {"submission": "s", "score": sum(a["score"] for a in assignments),
            "max_score": sum(a["max_score"] for a in assignments), "assignments": assignments}


def assignment(aid: str, checks: list[dict], error: str | None = None) -> dict:
    out = {"id": aid, "score": sum(c["score"] for c in checks), "max_score": sum(c["max_score"] for c in checks),
           "checks": checks}
    if error:
        out["error"] = error
    return out


def check(name: str, status: str = "passed", message: str = "", hint: str | None = None,
          visibility: str = "public") -> dict:
    return {"name": name, "status": status, "score": 1.0 if status == "passed" else 0.0, "max_score": 1.0,
            "visibility": visibility, "message": message, "hint": hint}


def class_of_three() -> list[Row]:
    names = [f"check_{i:02d}" for i in range(30)]
    worked = assignment(A03, [check(n, "failed" if i < 25 else "passed", "wrong values") for i, n in enumerate(names)])
    stubs = assignment(A03, [check(n, "failed", f"not implemented yet: a03: {n}") for n in names])
    missing = assignment(A03, [check(n, "error", "a03_attention.py (or a03_attention.ipynb) is not in the submission")
                               for n in names], error="a03_attention.py (or a03_attention.ipynb) is not in the submission")
    ln = assignment(A04, [check("layernorm_normalises_rows", "failed", "variance", PUBLIC_HINT),
                          check("layernorm_matches_reference", "failed", "values", HIDDEN_HINT, "hidden")])
    ln2 = assignment(A04, [check("layernorm_normalises_rows", "failed", "variance", PUBLIC_HINT),
                           check("layernorm_matches_reference", "passed")])
    return [Row("ann", "ok", "", report([worked, ln])), Row("ben", "ok", "", report([stubs, ln2])),
            Row("cy " + "very-long-folder-name-" * 12, "ok", "", report([missing, ln2]))]


def test_failure_rates_count_only_students_who_attempted_the_assignment() -> None:
    stats = {(s.assignment, s.name): s for s in check_stats(class_of_three())}
    assert (stats[(A03, "check_00")].failed, stats[(A03, "check_00")].graded) == (1, 1)  # ann only
    assert (stats[(A04, "layernorm_normalises_rows")].failed, stats[(A04, "layernorm_normalises_rows")].graded) == (3, 3)


def test_the_chart_shows_the_top_checks_and_folds_the_rest() -> None:
    page = render_html(class_of_three(), [A03, A04])
    failing = 25 + 2
    before, _, folded = page.partition("<details>")
    assert len(re.findall(r"did not pass</title></rect>", before)) == CHART_ROWS
    assert f"{failing - CHART_ROWS} more checks that some students did not pass" in folded
    assert len(re.findall(r"did not pass</title></rect>", folded)) == failing - CHART_ROWS
    assert "not implemented yet" not in page  # stubs are not failures anyone needs to read about here


def test_one_misconception_is_one_row_however_it_is_worded() -> None:
    (row,) = hint_counts(class_of_three())
    wording, students, checks = row
    assert students == 3 and wording == PUBLIC_HINT  # the most frequent wording names it
    assert checks == [f"{A04} layernorm_matches_reference", f"{A04} layernorm_normalises_rows"]


def test_the_students_table_scrolls_instead_of_overflowing_the_page() -> None:
    page = render_html(class_of_three(), [A03, A04])
    assert '<div class="scroll"><table><tr><th>student</th>' in page and ".scroll{overflow-x:auto" in page
    assert 'class="reason"' in page and "overflow-wrap:anywhere" in page
