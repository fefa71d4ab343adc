"""The pipeline end to end on the isolated route: full marks, zero marks, broken and hostile submissions."""

from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.grading import grade
from tests.conftest import IMPLEMENTED, SOLUTIONS, checks_by_name, make_submission


def test_solutions_score_full_marks(solutions_report) -> None:
    for a in solutions_report.assignments:
        failed = {c.name: c.message for c in a.checks if c.status != "passed"}
        assert not failed and a.score == a.max_score > 0, (a.id, failed)
    assert [a.id for a in solutions_report.assignments] == IMPLEMENTED
    assert solutions_report.grader["worker_starts"] == 1  # one torch import for the whole run


def test_stubs_score_zero_without_crashing_the_grader(stubs_report) -> None:
    assert stubs_report.score == 0 and stubs_report.max_score > 0
    assert stubs_report.grader_faults == 0
    for a in stubs_report.assignments:
        for c in a.checks:
            if c.name == "no_banned_apis":  # a stub uses no banned API, but that alone earns nothing
                assert c.status == "skipped" and c.score == 0
            else:
                assert c.status == "failed" and "not implemented yet" in c.message, (c.name, c.message)


def test_every_check_has_description_points_and_visibility(solutions_report) -> None:
    for a in solutions_report.assignments:
        names = [c.name for c in a.checks]
        assert len(names) == len(set(names))
        assert {c.visibility for c in a.checks} == {"public", "hidden"}
        assert all(c.description and c.max_score > 0 for c in a.checks)


def test_missing_module_syntax_error_and_import_error_are_records_not_crashes(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    (sub / "a04_gpt_blocks.py").unlink()
    broken = sub / "a03_attention.py"
    broken.write_text(broken.read_text().replace("def softmax(", "def softmax(((", 1))
    report = grade(sub, ["a03_attention", "a04_gpt_blocks"])
    a03, a04 = report.assignments
    assert a03.score == 0 and "does not parse" in a03.error and "line" in a03.error
    assert a04.score == 0 and a04.error == "a04_gpt_blocks.py (or a04_gpt_blocks.ipynb) is not in the submission"
    sub2 = make_submission(tmp_path / "s2")
    (sub2 / "a03_attention.py").write_text("raise RuntimeError('boom at import')\n")
    (a03,) = grade(sub2, ["a03_attention"]).assignments
    assert all(c.status == "error" and "importing a03_attention.py failed: RuntimeError: boom at import"
               in c.message for c in a03.checks)


def test_zip_submission_wrapped_in_a_folder(tmp_path: Path, solutions_report) -> None:
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in SOLUTIONS.glob("a0*.py"):
            zf.write(f, f"alice-hw/{f.name}")
        zf.writestr("__MACOSX/alice-hw/._a03_attention.py", "junk")
    report = grade(archive, ["a03_attention"])
    assert report.submission == "alice"
    (full,) = [a for a in solutions_report.assignments if a.id == "a03_attention"]
    assert report.assignments[0].score == full.score == full.max_score


def test_grading_twice_gives_identical_results(tmp_path: Path) -> None:
    from tests.banks.a03_attention import MUTANTS
    (variant,) = [v for v in MUTANTS if v.name == "mha_scale_by_sqrt_d_out"]
    sub = make_submission(tmp_path, "a03_attention", variant)

    def stable(report):
        d = report.to_dict()
        d.pop("grader")
        for a in d["assignments"]:
            for c in a["checks"]:
                c.pop("elapsed_s")
        return d

    first, second = stable(grade(sub, ["a03_attention"])), stable(grade(sub, ["a03_attention"]))
    assert first == second and first["score"] < first["max_score"]


HOSTILE_EDITS = {
    # SelfAttention_v1.forward never returns; SelfAttention_v2.forward kills its process; softmax
    # prints 20 MB on every call (still correct, so it must keep its points)
    "        queries = x @ self.W_query  # (T, d_out)\n": "        while True:\n            pass\n",
    "        queries = self.W_query(x)  # (T, d_out)\n": "        import os\n        os._exit(1)\n",
    "    x_max = x.amax(dim=dim, keepdim=True)":
        "    print('x' * 20_000_000)\n    x_max = x.amax(dim=dim, keepdim=True)",
}


def test_hostile_submission_costs_only_its_own_checks(tmp_path: Path) -> None:
    sub = make_submission(tmp_path)
    path = sub / "a03_attention.py"
    text = path.read_text()
    for old, new in HOSTILE_EDITS.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text)
    report = grade(sub, ["a03_attention"], call_timeout_s=2.0, integrity=False)  # `import os` on purpose
    checks = checks_by_name(report, "a03_attention")
    assert checks["v1_snapshot"].status == "timeout"
    assert checks["self_attention_v1_matches_reference"].status == "timeout"
    assert checks["v2_snapshot"].status == "error" and "died" in checks["v2_snapshot"].message
    assert checks["self_attention_v2_matches_reference"].status == "error"
    others = {n: c.message for n, c in checks.items() if "v1" not in n and "v2" not in n and c.status != "passed"}
    assert not others, others
    assert "more characters not shown" in checks["softmax_snapshot"].output
    assert report.grader["worker_starts"] >= 2


def test_banned_api_loses_the_integrity_check_and_the_checks_that_ran_it(tmp_path: Path) -> None:
    sub = make_submission(tmp_path)
    path = sub / "a03_attention.py"
    text = path.read_text()
    old = "    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1): keepdim so it broadcasts against x\n"
    path.write_text(text.replace(old, "    return torch.softmax(x, dim=dim)\n" + old))
    checks = checks_by_name(grade(sub, ["a03_attention"]), "a03_attention")
    assert checks["no_banned_apis"].status == "failed" and "torch.softmax" in checks["no_banned_apis"].message
    assert "line" in checks["no_banned_apis"].message
    snapshot = checks["softmax_snapshot"]
    assert snapshot.status == "failed" and "called torch.softmax" in snapshot.message
    # the classes may use torch.softmax (the curriculum bans it only inside `softmax`)
    assert checks["mha_matches_reference"].status == "passed"


def test_a_failure_that_may_come_from_an_earlier_assignment_says_so(tmp_path: Path) -> None:
    from tests.banks.a03_attention import MUTANTS
    (variant,) = [v for v in MUTANTS if v.name == "mha_no_causal_mask"]
    report = grade(make_submission(tmp_path, "a03_attention", variant), IMPLEMENTED)
    block = checks_by_name(report, "a04_gpt_blocks")["block_is_causal"]
    assert block.status == "failed"
    assert "also runs your a03_attention code, which lost points above" in block.message
    alone = grade(make_submission(tmp_path / "alone", "a03_attention", variant), ["a04_gpt_blocks"])
    assert "grade a03_attention to rule it out" in checks_by_name(alone, "a04_gpt_blocks")["block_is_causal"].message


def test_public_checks_run_without_reference_or_hidden_suites(tmp_path: Path) -> None:
    """What a learner's kit has: no reference/, no hidden suites. `check` must still work."""
    import subprocess
    import sys

    from tests.conftest import KIT_BLOCKER, ROOT
    blocker = KIT_BLOCKER + ("from autograder.cli import main\n"
                             "raise SystemExit(main(['check', '--path', sys.argv[1]]))\n")
    run = subprocess.run([sys.executable, "-c", blocker, str(ROOT / "solutions")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "(hidden)" not in run.stdout and "Total" in run.stdout
    total = [line for line in run.stdout.splitlines() if line.startswith("Total")][0]
    got, _, full = total.removeprefix("Total ").partition(" / ")
    assert got == full, run.stdout
