"""`scratchgrad grade-all`: a small class graded end to end, reruns, broken submissions, the class report."""

from __future__ import annotations

import csv
import html
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from autograder import batch
from autograder.classreport import Row, gradebook_csv, render_html
from tests.banks.a03_attention import MUTANTS
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS, make_submission, processes_mentioning

A03 = "a03_attention"
WEIRD = "eve <b>&amp; co<b>"  # a folder name is learner-provided text too


def scratchgrad(*args: str, tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI; with `tmpdir`, its private copies (and so its workers' command lines) live there."""
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir else None
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, check=False, env=env)


def zip_folder(folder: Path, dest: Path, wrap: str | None = None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob("a[0-9][0-9]_*.py")):
            zf.write(f, f"{wrap}/{f.name}" if wrap else f.name)
    return dest


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


class Balanced(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "line", "rect"})  # rect/line: self-closed in the SVGs

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def test_a_class_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One grading of a class through the CLI, then what a user checks, then reruns.

    One test rather than a module fixture shared by several: under `pytest -n auto` each xdist
    worker would grade the class again.
    """
    cls, out, run = grade_class(tmp_path)
    check_gradebook(cls, out, run)
    check_student_files(out)
    check_class_report(out)
    check_reruns(cls, out, monkeypatch)


def grade_class(root: Path) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """Six students, each a different kind of submission, and a stray file, graded on a03."""
    cls, out = root / "submissions", root / "out"
    cls.mkdir()
    zip_folder(SOLUTIONS, cls / "alice.zip", wrap="alice")  # full marks, zipped with a folder inside
    make_submission(cls / "bob", source=ASSIGNMENTS)  # untouched stubs
    (mutant,) = [m for m in MUTANTS if m.name == "mha_no_causal_mask"]
    make_submission(cls / "carol", A03, mutant)
    dave = make_submission(cls / "dave", source=ASSIGNMENTS)
    (dave / f"{A03}.py").write_text("def softmax(x:\n", encoding="utf-8")  # syntax error
    (cls / WEIRD).mkdir()  # empty folder
    (cls / "frank.zip").write_bytes(b"PK\x03\x04 this is not a zip file")
    (cls / "notes.txt").write_text("not a submission", encoding="utf-8")
    run = scratchgrad("grade-all", str(cls), "--out", str(out), "--only", "a03", "--jobs", "2")
    return cls, out, run


def check_gradebook(cls: Path, out: Path, run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stderr
    book = gradebook(out)
    assert list(book) == ["(max)", "alice", "bob", "carol", "dave", WEIRD, "frank"]  # max first, then by student
    top = float(book["(max)"][A03])
    assert top > 0 and book["(max)"]["total"] == book["(max)"][A03]
    assert float(book["alice"][A03]) == top and book["alice"]["status"] == "ok"
    assert float(book["bob"][A03]) == 0 and book["bob"]["status"] == "ok"
    assert 0 < float(book["carol"][A03]) < top
    assert float(book["dave"][A03]) == 0 and "does not parse" in book["dave"]["reason"]
    assert float(book[WEIRD][A03]) == 0 and "is not in the submission" in book[WEIRD]["reason"]
    assert book["frank"]["status"] == "error" and book["frank"][A03] == ""
    assert "frank.zip: not a readable zip file" in book["frank"]["reason"]
    assert str(cls) not in (out / "gradebook.csv").read_text()  # no machine-specific path in the gradebook
    assert "6 students: 5 graded, 0 skipped" in run.stdout and "frank: error:" in run.stdout
    assert "ignored 1 entries that are neither folders nor .zip files: notes.txt" in run.stdout


def check_student_files(out: Path) -> None:
    report = json.loads((out / "reports" / "carol.json").read_text())
    assert report["submission"] == "carol" and report["assignments"][0]["id"] == A03
    assert (out / "feedback" / "carol.md").read_text().startswith("# Feedback for carol")
    assert (out / "feedback" / f"{WEIRD}.md").is_file()
    assert not (out / "reports" / "frank.json").exists()
    assert "could not be graded: frank.zip: not a readable zip file" in (out / "feedback" / "frank.md").read_text()


def check_class_report(out: Path) -> None:
    page = (out / "report.html").read_text(encoding="utf-8")
    parser = Balanced()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    assert "script" not in parser.tags and "img" not in parser.tags  # no JS, no external assets
    assert "src=" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    svgs = [s + "</svg>" for s in page.split("</svg>")[:-1]]
    # total histogram (one assignment: no per-assignment copies) and failure rates (the top 20, the rest folded)
    assert len(svgs) == 2 + ("<details>" in page)
    for svg in svgs:
        ElementTree.fromstring(svg[svg.index("<svg"):])  # each plot is well-formed XML on its own
    assert "Per-check failure rate" in page and "(hidden)" in page and 'class="hidden"' in page
    carol = json.loads((out / "reports" / "carol.json").read_text())
    hints = {c["hint"] for c in carol["assignments"][0]["checks"] if c["hint"] and c["status"] != "passed"}
    assert any("also attend to later tokens" in h for h in hints)
    for hint in hints:  # one row per misconception: its advice (after the first ": ") is on the page
        assert html.escape(hint.split(": ", 1)[-1], quote=True) in page
    assert WEIRD not in page and html.escape(WEIRD) in page  # the folder name arrives escaped


def check_reruns(cls: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchanged submissions are skipped; an edited one alone is regraded; the gradebook stays byte-identical."""
    before = (out / "gradebook.csv").read_bytes()
    manifest = json.loads((out / batch.MANIFEST).read_text())
    # pin the grader: other engineers may edit engine files in this working tree while the test runs
    pinned = manifest["students"]["alice"]["grader"]
    monkeypatch.setattr(batch, "grader_fingerprint", lambda *args: pinned)

    again = batch.grade_all(cls, out, [A03], jobs=2)
    assert again.graded == [] and len(again.skipped) == 6  # frank's unreadable zip is remembered too
    assert (out / "gradebook.csv").read_bytes() == before

    os.utime(cls / "bob" / f"{A03}.py")  # a new mtime, same bytes: still unchanged
    with open(cls / "dave" / f"{A03}.py", "a", encoding="utf-8") as f:
        f.write("# edited\n")
    third = batch.grade_all(cls, out, [A03], jobs=2)
    assert third.graded == ["dave"] and "bob" in third.skipped
    assert (out / "gradebook.csv").read_bytes() == before  # same scores, no timestamps: byte-identical


def test_slow_submission_is_stopped_and_the_batch_goes_on(tmp_path: Path) -> None:
    cls = tmp_path / "class"
    (cls / "a_loop").mkdir(parents=True)
    (cls / "a_loop" / f"{A03}.py").write_text("while True:\n    pass\n", encoding="utf-8")
    b = make_submission(cls / "b_syntax", source=ASSIGNMENTS)
    (b / f"{A03}.py").write_text("def softmax(x:\n", encoding="utf-8")
    private = tmp_path / "private"  # workers run on private copies made here: their argv names this folder
    private.mkdir()
    run = scratchgrad("grade-all", str(cls), "--out", str(tmp_path / "out"), "--only", "a03", "--jobs", "1",
                      "--student-timeout", "5", tmpdir=private)
    assert run.returncode == 0, run.stdout + run.stderr  # the student's doing, not a grader fault
    book = gradebook(tmp_path / "out")
    assert book["a_loop"]["status"] == "error" and "did not finish within 5 s" in book["a_loop"]["reason"]
    manifest = json.loads((tmp_path / "out" / batch.MANIFEST).read_text())
    assert manifest["students"]["a_loop"]["cause"] == "submission"  # final: a rerun does not grade it again
    assert book["b_syntax"]["status"] == "ok" and "does not parse" in book["b_syntax"]["reason"]
    assert processes_mentioning(str(private)) == []  # the stopped grader took its worker down with it



@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker process through /proc")
def test_grader_process_crash_costs_one_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cls, private = tmp_path / "class", tmp_path / "private"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))  # private copies, so workers' argv, land here
    (cls / "a_sleep").mkdir(parents=True)
    (cls / "a_sleep" / f"{A03}.py").write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    b = make_submission(cls / "b_syntax", source=ASSIGNMENTS)
    (b / f"{A03}.py").write_text("def softmax(x:\n", encoding="utf-8")
    students, _, _ = batch.discover(cls, tmp_path / "out")
    pool = batch.Pool(1, tmp_path / "grader.log", [A03])
    outcomes: list[batch.Outcome] = []

    def crash_when_busy() -> None:  # SIGKILL the grader process mid-student, as the OOM killer would
        deadline = time.monotonic() + 60
        while pool.slots[0].task is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(pool.slots[0].proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=crash_when_busy)
    killer.start()
    try:
        pool.run(students, 0, None, 120.0, outcomes.append)
    finally:
        killer.join()
        pool.close()
        for pid in processes_mentioning(str(private)):  # an orphaned worker, asleep in the import
            os.kill(pid, signal.SIGKILL)
    by = {o.student: o for o in outcomes}
    assert by["a_sleep"].status == "error" and by["a_sleep"].cause == "grader"
    assert "grader process died while grading this submission (killed by signal SIGKILL)" in by["a_sleep"].reason
    assert by["b_syntax"].status == "ok"  # graded by the replacement process


# -- no grading needed ------------------------------------------------------------------------
def test_discover_names_clashes_and_skips_out(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice.zip").write_bytes(b"")
    (tmp_path / "bob").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "README.md").write_text("x")
    students, clashes, ignored = batch.discover(tmp_path, tmp_path / "results")
    assert [s.id for s in students] == ["bob"]
    assert [(c.student, c.reason) for c in clashes] == [("alice", "two submissions for alice: alice/ and alice.zip (keep one)")]
    assert ignored == ["README.md"]


def test_submission_hash_is_about_content(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s", source=ASSIGNMENTS)
    first = batch.submission_hash(sub)
    (sub / "__pycache__").mkdir()
    (sub / "__pycache__" / "a03_attention.cpython-311.pyc").write_bytes(b"\0")
    os.utime(sub / f"{A03}.py", (0, 0))
    assert batch.submission_hash(sub) == first
    (sub / "helper.py").write_text("X = 1\n")
    assert batch.submission_hash(sub) != first


def test_grader_fingerprint_follows_the_grading_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "autograder"
    for rel in ("checks.py", "cli.py", "suites/a03_attention.py", "suites/a08_decoding.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("# v1\n")
    monkeypatch.setattr(batch, "PACKAGE_DIR", pkg)
    base = batch.grader_fingerprint([A03], 0, None)
    assert batch.grader_fingerprint([A03], 1, None) != base  # the seed
    assert batch.grader_fingerprint([A03, "a04_gpt_blocks"], 0, None) != base  # the assignments
    for rel, changes in (("cli.py", False), ("suites/a08_decoding.py", False),
                         ("suites/a03_attention.py", True), ("checks.py", True)):
        (pkg / rel).write_text("# v2\n")
        now = batch.grader_fingerprint([A03], 0, None)
        assert (now != base) is changes, rel
        base = now


def test_usage_errors(tmp_path: Path) -> None:
    run = scratchgrad("grade-all", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert run.returncode == 2 and "does not exist" in run.stderr
    run = scratchgrad("grade-all", str(tmp_path), "--out", str(tmp_path / "o"))
    assert run.returncode == 2 and "holds no student sub-folder or .zip file" in run.stderr
    (tmp_path / "alice").mkdir()
    run = scratchgrad("grade-all", str(tmp_path), "--out", str(tmp_path / "o"), "--jobs", "0")
    assert run.returncode == 2 and "--jobs=0 must be at least 1" in run.stderr
    run = scratchgrad("grade-all", str(tmp_path), "--out", str(tmp_path / "o"), "--only", "a99")
    assert run.returncode == 2 and "unknown assignment 'a99'" in run.stderr


def test_report_and_gradebook_escape_and_stay_stable() -> None:
    check = {"name": "mha_is_causal", "status": "failed", "score": 0.0, "max_score": 2.0, "visibility": "hidden",
             "hint": 'matches <script>alert("x")</script> & co', "message": ""}
    report = {"submission": "x", "score": 0.0, "max_score": 2.0,
              "assignments": [{"id": A03, "score": 0.0, "max_score": 2.0, "checks": [check]}]}
    rows = [Row("<img src=x onerror=alert(1)>", "ok", "", report), Row("zed", "error", "bad\nzip <b>", None),
            Row("=HYPERLINK(1)", "error", "", None)]
    page = render_html(rows, [A03])
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert html.escape(check["hint"]) in page and "100% (1/1)" in page
    book = gradebook_csv(rows, [A03])
    assert book.splitlines()[1:] == ["(max),2,2,,", "<img src=x onerror=alert(1)>,0,0,ok,", "zed,,,error,bad zip <b>",
                                     "'=HYPERLINK(1),,,error,"]  # no spreadsheet formula from a folder name
    assert render_html(rows, [A03]) == page and gradebook_csv(rows, [A03]) == book


def _children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in status:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the grader processes through /proc")
def test_killing_grade_all_leaves_no_process_and_a_rerun_resumes(tmp_path: Path) -> None:
    cls, out = tmp_path / "class", tmp_path / "out"
    a = make_submission(cls / "a_quick", source=ASSIGNMENTS)
    (a / f"{A03}.py").write_text("def softmax(x:\n", encoding="utf-8")
    (cls / "b_slow").mkdir()
    (cls / "b_slow" / f"{A03}.py").write_text("import time\ntime.sleep(120)\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(cls), "--out", str(out),
                             "--only", "a03", "--jobs", "1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    family: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while not (out / "reports" / "a_quick.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / "reports" / "a_quick.json").exists()  # written the moment it was graded
        # the grader moved on to b_slow: its worker (a grandchild) sleeps in the learner's import. The
        # worker sees only a private copy of b_slow, so it is found by ancestry, not by its command line.
        while len(family := _descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(family) >= 2, f"expected a grader and its worker under grade-all, found {family}"
        proc.kill()  # SIGKILL: no handler of grade-all's runs
        proc.wait()
        deadline = time.monotonic() + 30
        while any(map(_alive, family)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(_alive, family)), "a grader or worker process outlived grade-all"
    finally:
        proc.kill()
        for pid in family:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    (cls / "b_slow" / f"{A03}.py").write_text("def softmax(x:\n", encoding="utf-8")
    run = scratchgrad("grade-all", str(cls), "--out", str(out), "--only", "a03", "--jobs", "1")
    assert run.returncode == 0, run.stderr
    assert "2 students: 1 graded, 1 skipped" in run.stdout  # a_quick's saved result was kept
    assert set(gradebook(out)) == {"(max)", "a_quick", "b_slow"}


def test_a_grader_error_is_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    entry = {"hash": "h", "grader": "g", "status": "error", "reason": "the grader process died", "cause": "grader"}
    assert batch._reuse(tmp_path, "s", {**entry, "attempts": 1}, "h", "g") is None  # retried once more
    final = batch._reuse(tmp_path, "s", {**entry, "attempts": batch.MAX_GRADER_ATTEMPTS}, "h", "g")
    assert final is not None and final.skipped and final.status == "error"
    assert "not retried; --force grades it again" in final.reason
    assert batch._reuse(tmp_path, "s", {**entry, "attempts": 5}, "h", "other grader") is None


def test_a_planted_pyc_changes_the_grader_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "autograder"
    (pkg / "suites").mkdir(parents=True)
    (pkg / "checks.py").write_text("SCORE = 0\n")
    (pkg / "cli.py").write_text("X = 1\n")
    monkeypatch.setattr(batch, "PACKAGE_DIR", pkg)
    base = batch.grader_fingerprint([A03], 0, None)
    assert batch.grader_fingerprint([A03], 0, None) == base  # compiled once, then stable
    assert any((pkg / "__pycache__").glob("checks.*.pyc"))
    (planted,) = (pkg / "__pycache__").glob("checks.*.pyc")
    planted.write_bytes(planted.read_bytes()[:16] + b"planted code object")  # same header: Python would load it
    assert batch.grader_fingerprint([A03], 0, None) != base
    (pkg / "suites" / "extra.pyc").write_bytes(b"sourceless")
    assert batch.grader_fingerprint([A03], 0, None) != base
    assert batch.grader_fingerprint([A03], 0, None, (60.0, 300.0)) != batch.grader_fingerprint([A03], 0, None)


def test_integrity_findings_are_listed_for_the_instructor_escaped() -> None:
    finding = {"file": "a03_attention.py", "line": 12, "construct": "import of `os` <script>"}
    report = {"submission": "x", "score": 0.0, "max_score": 2.0,
              "assignments": [{"id": A03, "score": 0.0, "max_score": 2.0, "integrity": [finding],
                               "error": "not graded", "checks": []}]}
    page = render_html([Row("mallory<b>", "ok", "", report), Row("zed", "ok", "", {**report, "assignments": []})], [A03])
    assert "<h2>Integrity findings</h2>" in page and "1 student:" in page
    assert "mallory&lt;b&gt;" in page and "import of `os` &lt;script&gt;" in page and "<script>" not in page
