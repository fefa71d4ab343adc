"""Similar code in the class report: seconds to compare a synthetic class of N students x 14 assignments.

Builds a class in a temporary folder: each student's module per assignment is the solution with every
task body rewritten, the way a class writes the same functions differently: each body is one of
--styles versions of the solution's (statements dropped, duplicated with changes, reordered, extra
statements with other API calls), plus the student's own edits on top; a tenth of the modules are
left as the stub, a tenth of the students hand in a .zip, and --planted students hand in a copy of
another student's module with every name renamed and the blank lines moved. Then times what
`grade-all` runs for the class report's section: reading every submission through the grader's
loader, and the comparison itself (fingerprints, the inverted index, the scores, the regions of the
listed pairs). Budget from the issue: 200 students x 14 assignments "in seconds, not minutes".

    python bench/similarity.py [--students 200] [--styles 8] [--planted 5] [--seed 0]

It prints the time of each stage and how many of the planted copies were listed (each should be).
The count of pairs at or above the threshold says more about this model than about the detector: two
students who drew the same versions of most task bodies do hand in the same code, and are listed.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import similarity  # noqa: E402
from autograder.assignments import CURRICULUM  # noqa: E402
from autograder.stubs import find_regions  # noqa: E402

APIS = ["sum", "mean", "amax", "softmax", "view", "reshape", "transpose", "permute", "matmul", "exp", "log",
        "clamp", "masked_fill", "unsqueeze", "squeeze", "cat", "stack", "flatten", "contiguous", "to", "float"]


def extra_statement(rng: random.Random, indent: str) -> str:
    """A plausible line of tensor code with other calls than the solution's."""
    a, b = rng.choice("xyzqkvw"), rng.choice(["out", "tmp", "h", "acc", "probs", "scores"])
    call = f"{a}.{rng.choice(APIS)}({rng.choice(['-1', '0', 'dim=-1', '1, 2', ''])})"
    if rng.random() < 0.5:
        call = f"{call}.{rng.choice(APIS)}({rng.choice(['-1', 'dim=1', ''])})"
    return f"{indent}{b} = {call} {rng.choice(['+', '*', '-', '/'])} {rng.choice(['1', '0.5', a, 'eps'])}"


def rewrite(body: list[str], rng: random.Random, rate: float) -> list[str]:
    """`body` with about `rate` of its lines dropped, changed, moved or joined by an extra statement."""
    out: list[str] = []
    for line in body:
        indent = line[: len(line) - len(line.lstrip())]
        roll = rng.random()
        if not line.strip() or roll > rate:
            out.append(line)
        elif roll < rate * 0.25 and not line.rstrip().endswith(":"):
            continue  # dropped
        elif roll < rate * 0.5:
            out += [line, extra_statement(rng, indent)]
        elif roll < rate * 0.75 and out and not out[-1].rstrip().endswith(":") and not line.rstrip().endswith(":"):
            out.insert(len(out) - 1, line)  # moved above the previous line
        else:
            out += [extra_statement(rng, indent), line]
    return out


def module(solution: list[str], regions: list, bodies: list[list[str]]) -> str:
    out, cursor = [], 0
    for r, body in zip(regions, bodies):
        out += solution[cursor: r.begin - 1] + body
        cursor = r.end
    return "\n".join(out + solution[cursor:]) + "\n"


def disguise(text: str, rng: random.Random) -> str:
    """A copy with every local-looking name renamed and the blank lines moved."""
    names = sorted(set(re.findall(r"(?<![.\w])([a-z_][a-z0-9_]*)\s*=(?!=)", text)) - {"self", "dim", "keepdim"})
    for name in names:
        text = re.sub(rf"(?<![.\w\"']){name}\b(?!\s*=[^=])", f"{name}_{rng.randrange(100)}x", text)
    lines = [line for line in text.splitlines() if line.strip() or rng.random() < 0.5]
    return "\n".join(line + ("\n" if rng.random() < 0.1 else "") for line in lines) + "\n"


def build_class(folder: Path, students: int, styles: int, planted: int, seed: int) -> list[tuple[str, str, str]]:
    """Write the class; return the planted copies as (assignment, original, copy)."""
    rng = random.Random(seed)
    sources = {aid: (ROOT / "solutions" / f"{aid}.py").read_text(encoding="utf-8") for aid in CURRICULUM}
    stubs = {aid: (ROOT / "assignments" / f"{aid}.py").read_text(encoding="utf-8") for aid in CURRICULUM}
    versions = {}
    for aid, src in sources.items():
        lines = src.splitlines()
        regions = find_regions(src, f"{aid}.py")
        versions[aid] = (lines, regions, [[rewrite(lines[r.begin:r.end - 1], rng, 0.4) for _ in range(styles)]
                                          for r in regions])
    names = [f"student{i:04d}" for i in range(students)]
    texts: dict[str, dict[str, str]] = {}
    for sid in names:
        texts[sid] = {}
        for aid in CURRICULUM:
            if rng.random() < 0.1:
                texts[sid][aid] = stubs[aid]
                continue
            lines, regions, options = versions[aid]
            texts[sid][aid] = module(lines, regions, [rewrite(rng.choice(o), rng, 0.15) for o in options])
    copies = []
    people = rng.sample(names, 2 * planted)  # each copier and each original once
    for copier, original in zip(people[:planted], people[planted:]):
        aid = rng.choice([a for a in CURRICULUM if texts[original][a] != stubs[a]])  # something to copy
        texts[copier][aid] = disguise(texts[original][aid], rng)
        copies.append((aid, original, copier))
    for sid in names:
        if rng.random() < 0.1:
            with zipfile.ZipFile(folder / f"{sid}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                for aid, text in texts[sid].items():
                    zf.writestr(f"{sid}/{aid}.py", text)
        else:
            (folder / sid).mkdir()
            for aid, text in texts[sid].items():
                (folder / sid / f"{aid}.py").write_text(text, encoding="utf-8")
    return copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--styles", type=int, default=8, help="versions of each task body the class writes (default 8)")
    ap.add_argument("--planted", type=int, default=5, help="students who hand in a disguised copy (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="scratchgrad-similarity-"))
    try:
        t0 = time.perf_counter()
        copies = build_class(folder, args.students, args.styles, args.planted, args.seed)
        built = time.perf_counter() - t0
        students = sorted((p.name.removesuffix(".zip"), p) for p in folder.iterdir())
        ids = list(CURRICULUM)

        t0, c0 = time.perf_counter(), time.process_time()
        texts, skipped = similarity.read_class(students, ids)
        read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        result = similarity.compare_class(texts, similarity.find_starters(ids, None, ROOT), skipped=skipped)
        compare_s, compare_cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    modules = sum(len(t) for t in texts.values())
    listed = {(a.assignment, p.a, p.b) for a in result.assignments for p in a.pairs}
    found = sum((aid, *sorted((x, y))) in listed for aid, x, y in copies)
    above = sum(a.above for a in result.assignments)
    print(f"{args.students} students x {len(ids)} assignments = {modules} modules "
          f"({sum(len(t) for m in texts.values() for t in m.values()) / 1e6:.1f} MB; class built in {built:.1f} s)")
    print(f"read through the loader: {read_s:.2f} s wall, {read_cpu:.2f} s CPU "
          f"({1000 * read_s / max(modules, 1):.2f} ms per module)")
    print(f"compare (fingerprints, index, scores, regions): {compare_s:.2f} s wall, {compare_cpu:.2f} s CPU "
          f"({1000 * compare_s / max(modules, 1):.2f} ms per module)")
    print(f"total: {read_s + compare_s:.2f} s wall, {read_cpu + compare_cpu:.2f} s CPU (one process; the CPU time "
          f"is what a machine to itself takes); {above} pairs at or above {similarity.THRESHOLD}; "
          f"planted copies listed: {found} of {len(copies)}; not compared: {len(result.skipped)}")
    missed = [c for c in copies if (c[0], *sorted(c[1:])) not in listed]
    if missed:
        print("missed: " + ", ".join(f"{aid} {x} -> {y}" for aid, x, y in missed))


if __name__ == "__main__":
    main()
