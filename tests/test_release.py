"""The learner kit: it works on its own, and no reference, solution or hidden-check code is inside it.

"Inside" is judged by content: any run of three consecutive significant lines of `reference/`, of a
hidden suite or of a solution region that shows up in any file of the kit (notebook cells included)
fails the test, whatever the file is called.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.release import build_kit
from autograder.stubs import BEGIN, END
from tests.conftest import KIT_BLOCKER, ROOT

# one xdist worker runs this module: its module-scoped fixtures are expensive, built once
pytestmark = pytest.mark.xdist_group("release")

RUN = 3  # consecutive significant lines that count as "the same code"


# the contract (class and function signatures, a wrapped signature's last line too) is public by design, and so
# is boilerplate
CONTRACT = re.compile(r"^(def |class |async def |\) ->|\):|self, |super\(\).__init__\(\)$|@|.*\) -> .+:$)")


def significant(lines: list[str]) -> list[str]:
    """Lines that carry an implementation: no blanks, comments, imports, signatures or docstring quotes."""
    out = []
    for raw in lines:
        line = raw.strip()
        if len(line) < 8 or line.startswith(("#", "import ", "from ", '"""', "'''")) or CONTRACT.match(line):
            continue
        out.append(line)
    return out


def secret_runs() -> dict[tuple[str, ...], str]:
    """Every run of RUN significant lines of instructor-only code -> where it comes from."""
    sources: list[tuple[str, list[str]]] = []
    for path in sorted((ROOT / "reference").glob("*.py")) + sorted((ROOT / "autograder" / "hidden").glob("*.py")):
        sources.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8").splitlines()))
    for path in sorted((ROOT / "solutions").glob("a[0-9][0-9]_*.py")):
        region: list[str] = []
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() == BEGIN:
                inside, region = True, []
            elif line.strip() == END:
                inside = False
                sources.append((f"{path.relative_to(ROOT)} (solution region)", region))
            elif inside:
                region.append(line)
    runs = {}
    for origin, lines in sources:
        sig = significant(lines)
        for i in range(len(sig) - RUN + 1):
            runs.setdefault(tuple(sig[i:i + RUN]), origin)
    return runs


def text_of(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return [line for cell in nb["cells"] for line in "".join(cell["source"]).splitlines()]
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:  # binary (snapshot data): its strings are checked as bytes below
        return []


def leaks(kit: Path) -> list[str]:
    runs = secret_runs()
    found = []
    for path in sorted(p for p in kit.rglob("*") if p.is_file()):
        sig = significant(text_of(path))
        for i in range(len(sig) - RUN + 1):
            origin = runs.get(tuple(sig[i:i + RUN]))
            if origin:
                found.append(f"{path.relative_to(kit)} holds lines of {origin}: {sig[i]!r} ...")
                break
        if path.suffix == ".safetensors":  # the header names tensors; it must not embed source
            assert b"### BEGIN SOLUTION" not in path.read_bytes()
    return found


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "kit"
    build_kit(out)
    return out


def test_kit_holds_no_instructor_code(kit: Path) -> None:
    assert not leaks(kit)
    names = {p.name for p in kit.rglob("*")}
    assert not names & {"reference", "solutions", "hidden", "tests"}, names & {"reference", "solutions", "hidden"}


def test_leak_detector_finds_a_planted_reference_file(kit: Path, tmp_path: Path) -> None:
    """The content check can fail: a reference module renamed and hidden in the kit is found."""
    planted = tmp_path / "kit"
    shutil.copytree(kit, planted)
    ref = sorted((ROOT / "reference").glob("a0*.py"))[0]
    (planted / "autograder" / "helpers_extra.py").write_text(ref.read_text(encoding="utf-8"), encoding="utf-8")
    sol = (ROOT / "solutions" / "a03_attention.py").read_text(encoding="utf-8")
    region = sol.split(BEGIN, 2)[2].split(END, 1)[0]  # the second solution region, pasted into a notebook
    nb = json.loads((planted / "notebooks" / "a03_attention.ipynb").read_text(encoding="utf-8"))
    nb["cells"][-1]["source"] = [region]
    (planted / "notebooks" / "a03_attention.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    found = leaks(planted)
    assert any("helpers_extra.py" in f and "reference/" in f for f in found), found
    assert any("a03_attention.ipynb" in f and "solution region" in f for f in found), found


def test_kit_contents(kit: Path) -> None:
    from autograder.assignments import available
    ids = available()
    assert sorted(p.stem for p in (kit / "assignments").glob("*.py")) == ids
    assert sorted(p.stem for p in (kit / "notebooks").glob("*.ipynb")) == ids
    assert sorted(p.stem for p in (kit / "autograder" / "suites").glob("a*.py")) == ids
    for aid in ids:  # the kit's stubs are the project's stubs
        assert (kit / "assignments" / f"{aid}.py").read_bytes() == (ROOT / "assignments" / f"{aid}.py").read_bytes()
    readme = (kit / "README.md").read_text(encoding="utf-8")
    assert "scratchgrad check" in readme
    # a laptop without a GPU gets the CPU build from PyTorch's index, not a pin that exists only here
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme and "constraints.txt" not in readme
    assert not (kit / "constraints.txt").exists()
    ignored = (kit / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert {"__pycache__/", ".hypothesis/", ".ipynb_checkpoints/", "notebooks/*.py"} <= set(ignored)


def test_release_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    run = subprocess.run([sys.executable, "-m", "autograder", "release", str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "OUT=" in run.stderr and "not an empty folder" in run.stderr
    assert (tmp_path / "x.txt").read_text() == "keep me"


def test_kit_installs_and_checks_on_its_own(kit: Path, tmp_path: Path) -> None:
    """pip builds the kit; its own engine (not this repo's) runs `check`: stubs score 0, solutions full."""
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(kit)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    assert not (target / "reference").exists() and not (target / "autograder" / "hidden").exists()
    # the installed kit's package (-P: not the current folder's copy); instructor code cannot be imported
    blocker = (KIT_BLOCKER + "import autograder\n"
               f"assert autograder.__file__.startswith({str(target)!r}), autograder.__file__\n"
               "from autograder.cli import main\nraise SystemExit(main(sys.argv[1:]))\n")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    stubs = subprocess.run([sys.executable, "-P", "-c", blocker, "check", "a03"], cwd=kit, capture_output=True,
                           text=True, timeout=300, env=env)
    assert stubs.returncode == 0, stubs.stderr
    assert "Total 0 / " in stubs.stdout and "not implemented yet" in stubs.stdout
    shutil.copy(ROOT / "solutions" / "a03_attention.py", kit / "assignments" / "a03_attention.py")
    try:
        full = subprocess.run([sys.executable, "-P", "-c", blocker, "check", "a03"], cwd=kit, capture_output=True,
                              text=True, timeout=300, env=env)
    finally:
        shutil.copy(ROOT / "assignments" / "a03_attention.py", kit / "assignments" / "a03_attention.py")
    total = [line for line in full.stdout.splitlines() if line.startswith("Total")][0]
    got, _, most = total.removeprefix("Total ").partition(" / ")
    assert got == most, full.stdout
    hidden = subprocess.run([sys.executable, "-P", "-c", blocker, "grade", "assignments", "--only", "a03"], cwd=kit,
                            capture_output=True, text=True, timeout=300, env=env)
    assert hidden.returncode == 2 and "invalid choice: 'grade'" in hidden.stderr  # the kit offers check only
    # the learner's habit: `pytest` in the kit runs the public checks (the installed kit's pytest11 entry point)
    tests = subprocess.run([sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=line"],
                           cwd=kit, capture_output=True, text=True, timeout=600, env={**env, "COLUMNS": "200"})
    assert tests.returncode == 1, tests.stdout[-3000:] + tests.stderr[-3000:]  # stubs: checks fail
    assert "assignments/a03_attention.py::softmax_rows_sum_to_one - not implemented yet: a03: softmax" in tests.stdout
    assert "graded through 1 worker process" in tests.stdout


def test_release_ignores_work_in_progress_in_assignments(tmp_path: Path) -> None:
    """A checkout whose assignments/ holds someone's edits still releases the generated stubs, and keeps the edits."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "solutions", root / "solutions")
    shutil.copytree(ROOT / "assignments", root / "assignments")
    mine = root / "assignments" / "a03_attention.py"
    mine.write_text(mine.read_text(encoding="utf-8") + "\nMY_WORK = 1\n", encoding="utf-8")
    build_kit(tmp_path / "kit", root=root)
    assert (tmp_path / "kit" / "assignments" / "a03_attention.py").read_bytes() == \
        (ROOT / "assignments" / "a03_attention.py").read_bytes()
    assert mine.read_text(encoding="utf-8").endswith("\nMY_WORK = 1\n")
