"""Grading one whole submission: `scratchgrad grade` with one grader process against two.

Times `scratchgrad grade solutions` (every assignment, the instructor's solutions: every check runs to
the end) as a user runs it, interpreter start and all, with `--jobs 1` and `--jobs 2`, alternating
when --repeat > 1. Prints the wall time, the CPU time of the command and all its processes, the
grading time the report records (`grader.elapsed_s`, from the first check's setup to the report),
and the ratios of the two settings measured side by side in this run.

    python bench/grade_submission.py [--repeat 3] [--only a03 a04] [--submission DIR]

The budget in the issues: the whole submission graded within 15 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def once(submission: Path, jobs: int, only: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, grader.elapsed_s, score) of one `scratchgrad grade` run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "autograder", "grade", str(submission), "--jobs", str(jobs), "--json", str(out)]
        cmd += ["--only", *only] if only else []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        report = json.loads(out.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, report["grader"]["elapsed_s"], f"{report['score']:g}/{report['max_score']:g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each setting, alternating (default 3)")
    ap.add_argument("--only", nargs="+", default=[], metavar="ID", help="grade only these assignments")
    ap.add_argument("--submission", type=Path, default=ROOT / "solutions", help="folder to grade (default: solutions)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat={args.repeat} must be at least 1")
    runs: dict[int, list[tuple[float, float, float, str]]] = {1: [], 2: []}
    for i in range(args.repeat):
        for jobs in (1, 2) if i % 2 == 0 else (2, 1):
            runs[jobs].append(once(args.submission, jobs, args.only))
            wall, cpu, elapsed, score = runs[jobs][-1]
            print(f"  --jobs {jobs}: wall {wall:5.1f} s  cpu {cpu:5.1f} s  grading {elapsed:5.1f} s  score {score}",
                  flush=True)
    med = {j: [statistics.median(r[k] for r in runs[j]) for k in range(3)] for j in runs}
    print(f"\ncores: {os.cpu_count()}, load average before the last run: {os.getloadavg()[0]:.1f}")
    print(f"{'':10s}{'wall s':>9s}{'cpu s':>9s}{'grading s':>11s}   (medians of {args.repeat})")
    for j in (1, 2):
        print(f"--jobs {j}  {med[j][0]:9.1f}{med[j][1]:9.1f}{med[j][2]:11.1f}")
    print(f"ratio 1/2 {med[1][0] / med[2][0]:9.2f}{med[1][1] / med[2][1]:9.2f}{med[1][2] / med[2][2]:11.2f}")


if __name__ == "__main__":
    main()
