"""Grading a class: `scratchgrad grade-all` vs `nbgrader autograde` on the same notebook submissions.

Builds an nbgrader course with `scratchgrad nbgrader`, releases the assignment, and hands in one
notebook per student: the untouched release (a stub), the solution, the correct alternatives and
the realistic mistakes of `tests/banks/`, in that order, as many as --students asks for. The very
same notebooks are laid out one folder per student for grade-all. Both commands are timed whole
(interpreter start, imports, every grader and worker process), alternating when --repeat > 1, with
wall and CPU seconds (CPU: all child processes, so parallelism does not hide work). Then the two
gradebooks are compared student by student: the routes must agree on every score.

    python bench/grade_all.py [--students 20] [--only a03] [--jobs N] [--repeat 1] [--keep DIR] [--dask]
                              [--no-zygote]

With --dask it also shows how grade-all scales: `-j1` and `-j2` on this machine, and `--executor dask`
on a scheduler and 2 one-thread Dask workers started here on localhost (their start is not timed;
grade-all's is, grader processes included, as for the local pool), with the ratios side by side. The
CPU seconds of a Dask run are grade-all's plus the workers' (their graders and learner workers).

With --no-zygote it also times grade-all with every learner worker started as a fresh interpreter
(SCRATCHGRAD_ZYGOTE=0) instead of forked from the grader's zygote, to show what the zygote saves.

nbgrader grades one student after another, and each notebook costs a kernel (which imports torch
to run the student's cells) plus a fresh `scratchgrad grade` process for the test cells; grade-all
runs N long-lived grader processes, each grading many students and forking each student's
sandboxed worker from a zygote that imported torch once.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.assignments import resolve
from autograder.batch import default_jobs
from tests.banks.edits import apply


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run `cmd` to completion; (wall seconds, CPU seconds of it and all its descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds of `roots` and their live descendants, with what they reaped (Linux /proc)."""
    parents, stats = {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        stats[int(entry)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    tree, frontier = set(roots), set(roots)
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - tree
        tree |= frontier
    return sum(stats.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


@contextmanager
def dask_cluster(work: Path, workers: int = 2) -> Iterator[tuple[str, list[int]]]:
    """A Dask scheduler and `workers` one-thread workers on 127.0.0.1 (the test suite's): (address, their pids)."""
    from tests.test_cluster import local_cluster, wait_for_workers

    with local_cluster(work, workers) as (address, procs):
        wait_for_workers(address, workers)
        yield address, [p.pid for p in procs[1:]]


def variants(aid: str, n: int) -> list[tuple[str, str | None]]:
    """(kind, module source or None for the untouched release) for n students."""
    bank = __import__(f"tests.banks.{aid}", fromlist=["MUTANTS", "ALTERNATIVES"])
    solution = (ROOT / "solutions" / f"{aid}.py").read_text(encoding="utf-8")
    pool: list[tuple[str, str | None]] = [("stub", None), ("solution", solution)]
    pool += [("alternative", apply(solution, v)) for v in bank.ALTERNATIVES]
    pool += [("mistake", apply(solution, v)) for v in bank.MUTANTS]
    if n > len(pool):
        raise SystemExit(f"--students={n}: the banks of {aid} give at most {len(pool)} distinct submissions")
    return pool[:n]


def hand_in(course: Path, aid: str, source: str | None) -> dict:
    """The released notebook with its solution cells taken from `source` (as a student would fill them)."""
    from autograder.nbgrader_course import source_notebook

    released = json.loads((course / "release" / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
    if source is not None:
        filled = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in source_notebook(aid, source)["cells"]}
        for cell in released["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution"):
                cell["source"] = filled[meta["grade_id"]]
    return released


def setup(work: Path, aid: str, n: int) -> tuple[Path, Path, Counter]:
    """The nbgrader course with n submissions, and the same notebooks as a grade-all class folder."""
    course, cls = work / "course", work / "class"
    run([sys.executable, "-m", "autograder", "nbgrader", str(course), "--only", aid], ROOT)
    run(["nbgrader", "generate_assignment", aid, "--force"], course)
    kinds: Counter = Counter()
    for i, (kind, source) in enumerate(variants(aid, n)):
        kinds[kind] += 1
        text = json.dumps(hand_in(course, aid, source), indent=1)
        student = f"s{i:02d}_{kind}"
        for folder in (course / "submitted" / student / aid, cls / student):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{aid}.ipynb").write_text(text, encoding="utf-8")
    return course, cls, kinds


def scores_grade_all(out: Path, aid: str) -> dict[str, float]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {r["student"]: float(r[aid]) for r in csv.DictReader(f) if r["student"] != "(max)" and r[aid]}


def scores_nbgrader(course: Path) -> dict[str, float]:
    run(["nbgrader", "export"], course)
    with open(course / "grades.csv", newline="", encoding="utf-8") as f:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--only", default="a03", help="one assignment (default: a03)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="grade-all's --jobs (default: its own)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each command, alternating")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--no-zygote", action="store_true",
                        help="also time grade-all with every worker spawned (SCRATCHGRAD_ZYGOTE=0), side by side")
    parser.add_argument("--dask", action="store_true",
                        help="also time grade-all -j1, -j2 and --executor dask on 2 local Dask workers (scaling)")
    args = parser.parse_args()
    if args.students < 1 or args.repeat < 1 or args.jobs < 1:
        parser.error(f"--students={args.students}, --repeat={args.repeat}, --jobs={args.jobs}: each must be >= 1")
    if shutil.which("nbgrader") is None:
        raise SystemExit("nbgrader is not installed: python -m pip install -e '.[dev]'")
    aid = resolve(args.only)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scratchgrad-bench-"))
    if args.keep and work.exists():
        parser.error(f"--keep {args.keep!r} exists; give a new folder")
    try:
        course, cls, kinds = setup(work, aid, args.students)

        def grade_all(label: str, *options: str) -> list[str]:
            return [sys.executable, "-m", "autograder", "grade-all", str(cls), "--out", str(work / label),
                    "--only", aid, "--force", *options]

        main_label = f"-j{args.jobs}"
        commands = {main_label: (grade_all(main_label, "--jobs", str(args.jobs)), ROOT, None)}
        if args.no_zygote:
            label = f"{main_label}-no-zygote"
            commands[label] = (grade_all(label, "--jobs", str(args.jobs)), ROOT, {"SCRATCHGRAD_ZYGOTE": "0"})
        if args.dask:
            for jobs in (1, 2):
                commands.setdefault(f"-j{jobs}", (grade_all(f"-j{jobs}", "--jobs", str(jobs)), ROOT, None))
        commands["nbgrader"] = (["nbgrader", "autograde", aid, "--force"], course, None)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        with dask_cluster(work) if args.dask else _no_cluster() as (address, workers):
            if address:
                commands["dask"] = (grade_all("dask", "--executor", "dask", "--scheduler", address), ROOT, None)
                times["dask"] = []
            for _ in range(args.repeat):
                for label, (cmd, cwd, env) in commands.items():
                    before = tree_cpu(workers) if label == "dask" else 0.0
                    wall, cpu = run(cmd, cwd, env)
                    times[label].append((wall, cpu + (tree_cpu(workers) - before if label == "dask" else 0.0)))
        out = work / main_label
        mine, theirs = scores_grade_all(out, aid), scores_nbgrader(course)
        same_book = {label: (work / label / "gradebook.csv").read_bytes() == (out / "gradebook.csv").read_bytes()
                     for label in times if label not in ("nbgrader", main_label)}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    n = args.students
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mix = ", ".join(f"{c} {k}" for k, c in kinds.items())
    print(f"{n} notebook submissions of {aid} ({mix}); {cpus} CPUs; median of {args.repeat} run(s)")
    print(f"{'':28}{'wall s':>9}{'CPU s':>9}{'wall s/student':>16}")
    med = {}
    names = {"nbgrader": "nbgrader autograde", "dask": "grade-all dask, 2 workers",
             f"{main_label}-no-zygote": f"grade-all {main_label}, no zygote"}
    for name in times:
        wall = statistics.median(t[0] for t in times[name])
        cpu = statistics.median(t[1] for t in times[name])
        med[name] = (wall, cpu)
        print(f"{names.get(name, f'scratchgrad grade-all {name}'):28}{wall:9.1f}{cpu:9.1f}{wall / n:16.2f}")
    print(f"ratio nbgrader / grade-all {main_label}: wall {med['nbgrader'][0] / med[main_label][0]:.2f}x, "
          f"CPU {med['nbgrader'][1] / med[main_label][1]:.2f}x")
    if args.no_zygote:
        off = med[f"{main_label}-no-zygote"]
        print(f"zygote: grade-all {main_label} with every worker spawned over with the zygote: "
              f"wall {off[0] / med[main_label][0]:.2f}x, CPU {off[1] / med[main_label][1]:.2f}x; "
              f"nbgrader over spawned workers: wall {med['nbgrader'][0] / off[0]:.2f}x")
    if args.dask:
        print(f"scaling, wall of -j1 over: -j2 {med['-j1'][0] / med['-j2'][0]:.2f}x, "
              f"2 Dask workers {med['-j1'][0] / med['dask'][0]:.2f}x (2 would be perfect on 2 free cores)")
    for label, same in same_book.items():
        print(f"gradebook of grade-all {label} {'identical to' if same else 'DIFFERS from'} {main_label}'s")
    differ = sorted(s for s in set(mine) | set(theirs) if mine.get(s) != theirs.get(s))
    print(f"scores agree for {n - len(differ)}/{n} students"
          + (": " + "; ".join(f"{s} grade-all {mine.get(s)} nbgrader {theirs.get(s)}" for s in differ) if differ else ""))


@contextmanager
def _no_cluster() -> Iterator[tuple[str, list[int]]]:
    yield "", []


if __name__ == "__main__":
    main()
