"""Similar code in the class report: a planted copy is found, honest code is not, the stub never counts."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder import similarity as sim
from autograder.assignments import UsageError
from autograder.classreport import NOT_A_PENALTY, render_html
from autograder.notebooks import build_notebook, dumps
from tests.banks.a03_attention import ALTERNATIVES, MUTANTS
from tests.banks.edits import apply
from tests.conftest import ASSIGNMENTS, ROOT, SOLUTIONS
from tests.similarity_class import KIM, LEE, disguise, fill

A03 = "a03_attention"
STUB = (ASSIGNMENTS / f"{A03}.py").read_text(encoding="utf-8")
SOLUTION = (SOLUTIONS / f"{A03}.py").read_text(encoding="utf-8")
REFERENCE = (ROOT / "reference" / f"{A03}.py").read_text(encoding="utf-8")
WEIRD = "eve <b>&amp;"  # a folder name is learner-provided text


def variant(name: str) -> str:
    (v,) = [v for v in [*ALTERNATIVES, *MUTANTS] if v.name == name]
    return apply(SOLUTION, v)


def honest() -> dict[str, str]:
    """Four a03 solutions written independently (the course's, the reference's, kim's, lee's) and a stub."""
    return {"ann": variant("einsum_heads"), "ref": REFERENCE, "kim": fill(STUB, KIM), "lee": fill(STUB, LEE),
            "stu": STUB}


def write_class(root: Path, modules: dict[str, str], notebooks: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    """One folder per student holding their a03 module (as a notebook for the students in `notebooks`)."""
    out = []
    for sid, text in modules.items():
        folder = root / sid
        folder.mkdir(parents=True)
        if sid in notebooks:
            (folder / f"{A03}.ipynb").write_text(dumps(build_notebook(A03, text)), encoding="utf-8")
        else:
            (folder / f"{A03}.py").write_text(text, encoding="utf-8")
        out.append((sid, folder))
    return out


def compare(tmp_path: Path, modules: dict[str, str], notebooks: tuple[str, ...] = (),
            **options: object) -> sim.Similarity:
    students = write_class(tmp_path / "class", modules, notebooks)
    return sim.similarity(students, [A03], root=ROOT, opts=sim.Options(**options))  # type: ignore[arg-type]


# -- what gets flagged ---------------------------------------------------------------------------------
def test_a_planted_copy_with_renamed_variables_ranks_first(tmp_path: Path) -> None:
    """kim's file, locals renamed, comments reworded, blank lines moved, handed in as a notebook by pat."""
    modules = honest() | {"pat": fill(STUB, disguise(KIM))}
    assert "logits = (query @ key.mT)" in modules["pat"]  # the disguise really renamed things
    result = compare(tmp_path, modules, notebooks=("pat",))
    (a03,) = result.assignments
    assert a03.compared == 5 and a03.starter_only == ["stu"]
    assert [(p.a, p.b) for p in a03.pairs] == [("kim", "pat")]  # ranked first, and the only pair listed
    top = a03.pairs[0]
    assert top.score >= 0.95 and min(top.share_a, top.share_b) >= 0.95 > sim.THRESHOLD
    assert len(top.regions) >= 10  # every task body kim wrote is a region of its own
    assert not result.skipped
    # the same class gives the same bytes (the class report holds no timestamp; neither does this)
    again = compare(tmp_path / "again", modules, notebooks=("pat",))
    assert sim.to_json(again) == sim.to_json(result)
    assert render_html([], [A03], similarity=again) == render_html([], [A03], similarity=result)


def test_an_honest_class_has_no_pair_above_the_threshold(tmp_path: Path) -> None:
    (a03,) = compare(tmp_path, honest()).assignments
    assert a03.pairs == [] and a03.above == 0
    assert a03.highest is not None and a03.highest.score < 0.6 * sim.THRESHOLD  # with room to spare
    # the shares are measured, not zero: honest solutions do share the lines the contract dictates
    assert a03.highest.shared > 0


def test_the_banks_variants_are_near_copies_of_the_solution(tmp_path: Path) -> None:
    """Each mutant and alternative is the solution plus an edit: the pair is flagged, however the edit reads."""
    names = ["mha_no_causal_mask", "mask_diagonal_0", "softmax_logsumexp", "fused_qkv_matmul"]
    result = compare(tmp_path, {"sol": SOLUTION} | {n: variant(n) for n in names})
    (a03,) = result.assignments
    flagged = {(p.a, p.b) for p in a03.pairs}
    assert {tuple(sorted(("sol", n))) for n in names} <= flagged
    assert all(p.score > 0.75 for p in a03.pairs)
    # at most `top` pairs are listed, the best ones; the count says how many there are
    (capped,) = sim.compare_class({A03: {"sol": SOLUTION} | {n: variant(n) for n in names}},
                                  sim.find_starters([A03], None, ROOT), sim.Options(top=2)).assignments
    assert capped.pairs == a03.pairs[:2] and capped.above == a03.above > 2
    assert f"{a03.above} pairs at or above 0.5 (the first 2 shown)" in render_html([], [A03], similarity=sim.Similarity(
        sim.Options(top=2), [capped], []))


def test_the_stub_counts_for_nobody(tmp_path: Path) -> None:
    """Two students who each wrote only softmax, differently: the rest of their files is the same stub."""
    one = "return torch.exp(x - x.amax(dim=dim, keepdim=True)) / torch.exp(x - x.amax(dim=dim, keepdim=True)).sum(" \
          "dim=dim, keepdim=True)"
    other = "return (x - torch.logsumexp(x, dim=dim, keepdim=True)).exp()"
    modules = {"amy": fill(STUB, {"softmax": one}), "bea": fill(STUB, {"softmax": other})}
    (a03,) = compare(tmp_path / "1", modules).assignments
    assert a03.compared == 2 and a03.pairs == []
    assert a03.highest is None or a03.highest.score < 0.2
    # the same two files with nothing excluded: the stub alone would make them a near-copy
    texts = {s: t for s, t in modules.items()}
    bare = sim.compare_assignment(A03, texts, sim.starter_hashes([], sim.Options()), sim.Options())
    assert bare.highest is not None and bare.highest.score > sim.THRESHOLD
    # the very same one line is not evidence either: a short module is scored against the floor
    (same,) = compare(tmp_path / "2", {"amy": modules["amy"], "cat": modules["amy"]}).assignments
    assert same.pairs == [] and same.highest is not None and same.highest.score < sim.THRESHOLD


# -- the view ----------------------------------------------------------------------------------------
class Marks(HTMLParser):
    """Per side-by-side block (the <details> of a pair): the (line number, text) of each marked line, per side."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: dict[str, list[list[tuple[int, str]]]] = {}
        self.block: str | None = None
        self.side = -1
        self.number = 0
        self.in_ln = self.in_mark = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "details" and (a.get("id") or "").startswith("sim-"):
            self.block, self.side = a["id"], -1
            self.blocks[self.block] = [[], []]
        elif tag == "tr" and self.block:
            self.side = -1
        elif tag == "td" and self.block:
            self.side += 1
        elif tag == "span" and a.get("class") == "ln":
            self.in_ln, self.text = True, ""
        elif tag == "mark":
            self.in_mark, self.text = True, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.in_ln:
            self.in_ln, self.number = False, int(self.text)
        elif tag == "mark" and self.in_mark:
            self.in_mark = False
            assert self.block is not None
            self.blocks[self.block][self.side].append((self.number, self.text))
        elif tag == "details":
            self.block = None

    def handle_data(self, data: str) -> None:
        if self.in_ln or self.in_mark:
            self.text += data


def test_the_report_shows_both_sides_with_the_matching_lines_marked(tmp_path: Path) -> None:
    modules = honest() | {WEIRD: fill(STUB, disguise(KIM))}
    result = compare(tmp_path, modules)
    page = render_html([], [A03], similarity=result)
    assert "<h2>Similar code</h2>" in page and NOT_A_PENALTY in page
    assert "<b>" not in page.split("<h2>Similar code</h2>")[1]  # the folder name is escaped everywhere
    parser = Marks()
    parser.feed(page)
    (first, second), = parser.blocks.values()
    (pair,) = result.assignments[0].pairs
    assert (pair.a, pair.b) == (WEIRD, "kim")  # sorted by name: the copy is on the left
    pat, kim = modules[WEIRD].splitlines(), modules["kim"].splitlines()
    assert first and second
    assert all(pat[n - 1].expandtabs(4) == text for n, text in first)  # the marks are the copy's own lines...
    assert all(kim[n - 1].expandtabs(4) == text for n, text in second)  # ...and kim's, with their numbers
    assert ("logits = (query @ key.mT) * self.head_dim ** -0.5" in {t.strip() for _, t in first}
            and "scores = (q @ k.mT) * self.head_dim ** -0.5" in {t.strip() for _, t in second})
    assert not any("YOUR CODE HERE" in t or "def forward" in t for _, t in first + second)  # the stub: never marked
    assert f"<th>{html.escape(WEIRD)}</th><th>kim</th>" in page


# -- bad input ---------------------------------------------------------------------------------------
def test_bad_input_is_listed_as_not_compared_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = tmp_path / "class"
    students = write_class(cls, {"kim": fill(STUB, KIM), "pat": fill(STUB, disguise(KIM)),
                                 "syn": fill(STUB, KIM).replace("def softmax(", "def softmax((", 1)})
    (cls / "nbk").mkdir()
    (cls / "nbk" / f"{A03}.ipynb").write_text("{ this is not json", encoding="utf-8")
    (cls / "bin").mkdir()
    (cls / "bin" / f"{A03}.py").write_bytes(b"def f():\n    return '\xff\xfe'\n")
    (cls / "zed.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    (cls / "ivy").mkdir()
    (cls / "ivy" / f"{A03}.py").write_text(fill(STUB, LEE), encoding="utf-8")
    real = Path.read_bytes

    def unreadable(self: Path) -> bytes:
        if self.parent.name == "ivy":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    students += [("nbk", cls / "nbk"), ("bin", cls / "bin"), ("zed", cls / "zed.zip"), ("ivy", cls / "ivy"),
                 ("gone", cls / "gone")]
    result = sim.similarity(students, [A03], root=ROOT)
    reasons = {(s.student, s.assignment): s.reason for s in result.skipped}
    assert set(reasons) == {("nbk", A03), ("bin", A03), ("zed", None), ("ivy", None), ("gone", None)}
    assert "not a readable notebook" in reasons[("nbk", A03)]
    assert "is not UTF-8 text" in reasons[("bin", A03)]
    assert "zed.zip: not a readable zip file" in reasons[("zed", None)]
    assert "Permission denied" in reasons[("ivy", None)]
    assert "does not exist" in reasons[("gone", None)]
    # a module with a syntax error is still code: it is compared (and it is kim's, with one typo)
    (a03,) = result.assignments
    assert {(p.a, p.b) for p in a03.pairs} == {("kim", "pat"), ("kim", "syn"), ("pat", "syn")}
    page = render_html([], [A03], similarity=result)
    assert "<h3>Not compared</h3>" in page and "not a readable notebook" in page and "Permission denied" in page
    data = json.loads(sim.to_json(result))
    assert {(d["student"], d["assignment"]) for d in data["not_compared"]} == set(reasons)


def test_a_fault_in_the_comparison_costs_the_section_not_the_report(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder import batch

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the comparison")

    monkeypatch.setattr(sim, "similarity", broken)
    assert batch._similar_code([], [], [A03], tmp_path, True, None) is None
    assert "RuntimeError: a bug in the comparison" in (tmp_path / ".grader.log").read_text(encoding="utf-8")
    assert "Similar code" not in render_html([], [A03], similarity=None)


def test_settings_are_checked_with_the_bad_value_named() -> None:
    with pytest.raises(UsageError, match=r"threshold=1\.5 must be in \(0, 1\]"):
        sim.Options(threshold=1.5)
    with pytest.raises(UsageError, match=r"k=0 must be a whole number"):
        sim.Options(k=0)


# -- tokens ------------------------------------------------------------------------------------------
def test_tokens_ignore_names_comments_and_layout_but_not_the_api() -> None:
    base = "def f(x, dim=-1):\n    \"\"\"Doc.\"\"\"\n    m = x.amax(dim=dim, keepdim=True)  # max\n    return x - m\n"
    renamed = ("def g(y, dim=-2):\n\n    # a comment\n    top = y.amax(dim=dim,\n                 keepdim=True)\n"
               "    return y - top\n")
    other_api = base.replace("x.amax(", "x.mean(")
    other_kwarg = base.replace("keepdim=True", "out=True")
    ids = lambda text: sim.lex(text).ids.tolist()  # noqa: E731
    assert ids(base) == ids(renamed)
    assert ids(base) != ids(other_api) and ids(base) != ids(other_kwarg)
    assert ids("def f(:\n  x = 'unterminated\n") != []  # broken code still lexes
    assert ids('x = rb"a"\n') == ids("x = 'b'\n")  # a prefixed string is one string token


def test_the_index_scales_past_pairwise_comparison() -> None:
    """200 students of one assignment, each handing in kim's file with a random 70% of its lines (so every
    pair shares something, and most of it is common to the class), and one verbatim copy laid out anew."""
    import random
    import time
    rng = random.Random(0)
    lines = fill(STUB, KIM).splitlines()
    texts = {f"s{i:03d}": "\n".join(line for line in lines if rng.random() > 0.3) + f"\nz{i} = {i}\n"
             for i in range(200)}
    texts["copy"] = texts["s117"].replace("\n", "\n\n# mine\n")
    start = time.perf_counter()
    out = sim.compare_assignment(A03, texts, sim.starter_hashes([STUB], sim.Options()), sim.Options())
    elapsed = time.perf_counter() - start
    assert out.compared == 201 and out.common > 0
    # what all 200 share is common code, no evidence between any two of them: the copy alone stands out
    assert [(p.a, p.b, p.score) for p in out.pairs] == [("copy", "s117", 1.0)] and out.above == 1
    assert elapsed < 10.0, f"201 modules took {elapsed:.1f} s"  # ~1 s on the project's (shared, busy) 2-core machines


# -- grade-all -------------------------------------------------------------------------------------
def scratchgrad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, check=False)


def test_grade_all_puts_the_section_in_the_class_report_and_leaves_the_grades_alone(tmp_path: Path) -> None:
    """A small class through the real CLI: kim's code and its disguised copy (each with a syntax error at the
    end, so that grading is quick: a module that does not parse scores 0 at once), and a notebook that does
    not parse."""
    cls, out = tmp_path / "class", tmp_path / "out"
    broken = "\n\ndef unfinished(:\n"
    write_class(cls, {"alice": fill(STUB, KIM) + broken, "bob": fill(STUB, disguise(KIM)) + broken})
    (cls / "dave").mkdir()
    (cls / "dave" / f"{A03}.ipynb").write_text("{ not json", encoding="utf-8")
    run = scratchgrad("grade-all", str(cls), "--out", str(out), "--only", "a03", "--jobs", "1")
    assert run.returncode == 0, run.stderr
    assert "similar code: 1 pair at or above 0.5 (a03_attention: 1)" in run.stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    section = page.split("<h2>Similar code</h2>")[1].split("<h2>Students</h2>")[0]
    assert NOT_A_PENALTY in section
    assert re.search(r"<td>alice</td><td>bob</td><td class=\"n\">1</td>", section)
    parser = Marks()
    parser.feed(page)
    (left, right), = parser.blocks.values()
    assert len(left) >= 20 and len(right) >= 20
    assert "<td>dave</td><td>a03_attention</td><td class=\"reason\">a03_attention.ipynb is not a readable notebook" \
           in section
    data = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
    assert [(p["a"], p["b"]) for p in data["assignments"][0]["pairs"]] == [("alice", "bob")]
    assert data["not_compared"][0]["student"] == "dave"
    book = (out / "gradebook.csv").read_text(encoding="utf-8")
    assert "similar" not in book.lower() and ",0,0,ok," in book  # no column, no note, no point taken
    assert all("similar" not in p.read_text(encoding="utf-8").lower() for p in (out / "reports").iterdir())

    # another threshold changes the section only: nobody is regraded, the gradebook stays byte for byte
    again = scratchgrad("grade-all", str(cls), "--out", str(out), "--only", "a03", "--similarity-threshold", "1")
    assert again.returncode == 0, again.stderr
    assert "0 graded, 3 skipped" in again.stdout and "similar code: 1 pair at or above 1 (" in again.stdout
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == book
    assert "pairs at or above 1 (--similarity-threshold) are listed" in (out / "report.html").read_text()


def test_grade_all_rejects_bad_similarity_settings(tmp_path: Path) -> None:
    (tmp_path / "class" / "amy").mkdir(parents=True)
    for args, message in ((["--similarity-threshold", "0"], "--similarity-threshold='0' must be a share"),
                          (["--similarity-threshold", "high"], "--similarity-threshold='high' is not a number"),
                          (["--starter", str(tmp_path / "nowhere")], "is not a folder")):
        run = scratchgrad("grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--only", "a03",
                          *args)
        assert run.returncode == 2 and message in run.stderr, run.stderr
