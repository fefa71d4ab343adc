"""The `scratchgrad` command line (a contract: scripts and integrations depend on it).

Exit status: 0 whenever grading ran, whatever the score; 1 for `stubs --check` on stale stubs;
2 for usage errors; 3 when the grader itself failed on some check (the report says which).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

from contextlib import nullcontext

from . import __version__
from .assignments import UsageError, available, hidden_available, resolve, resolve_all
from .budgets import interrupted_by, stop_on_signals

if TYPE_CHECKING:
    from .checks import CheckResult
    from .report import Report

MODULE_GLOB = "a[0-9][0-9]_*"  # an assignment module, .py or .ipynb


class Progress:
    """A progress bar on a terminal (tqdm, on stderr), gone before the report prints; nothing otherwise."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bar: Any = None  # a tqdm bar, once the first check is done
        self.failed = 0

    def __call__(self, aid: str, result: "CheckResult") -> None:
        if self.bar is None:
            if not self.stream.isatty():
                return
            from tqdm import tqdm
            self.bar = tqdm(file=self.stream, unit=" checks", leave=False, dynamic_ncols=True,
                            bar_format="{desc} {n_fmt} checks{postfix} [{elapsed}]")
        self.failed += result.status != "passed"
        self.bar.set_description_str(f"{aid}: {result.name}"[:60], refresh=False)
        self.bar.set_postfix_str(f"{self.failed} not passed" if self.failed else "", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()  # leave=False: the bar's line is cleared, the report starts on a clean one
            self.bar = None


def _number(flag: str, ok: Callable[[float], bool], must: str):  # noqa: ANN202 - an argparse type
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}={text!r} is not a number") from None
        if not ok(value):  # NaN fails every comparison, so every `ok`
            raise argparse.ArgumentTypeError(f"{flag}={text!r} must be {must}")
        return value
    return parse


def _seconds(flag: str):  # noqa: ANN202 - an argparse type
    return _number(flag, lambda v: 0 < v < float("inf"), "a number of seconds greater than 0")


_positive_float = _seconds("--timeout")


def _share(flag: str):  # noqa: ANN202 - an argparse type
    return _number(flag, lambda v: 0.0 < v <= 1.0, "a share greater than 0 and at most 1")


def _add_budgets(p: argparse.ArgumentParser) -> None:
    from .budgets import ASSIGNMENT_BUDGET_S, SUBMISSION_BUDGET_S
    p.add_argument("--assignment-budget", type=_seconds("--assignment-budget"), default=ASSIGNMENT_BUDGET_S,
                   metavar="SECONDS", help="wall time for all checks of one assignment; past it the rest score 0 "
                                           f"as 'time budget exhausted' (default: {ASSIGNMENT_BUDGET_S:g})")
    p.add_argument("--submission-budget", type=_seconds("--submission-budget"), default=SUBMISSION_BUDGET_S,
                   metavar="SECONDS", help="wall time for all checks of one submission "
                                           f"(default: {SUBMISSION_BUDGET_S:g})")


def _interrupted(command: str, signum: int | None) -> int:
    if signum is None:
        return 0
    import signal
    print(f"scratchgrad {command}: interrupted by {signal.Signals(signum).name}: the remaining checks were not run "
          "(the report says 'grading interrupted'); run the command again to grade everything", file=sys.stderr)
    return 128 + signum


def _write(path: str | None, text: str) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")


def _load_and_prestart(path: Path, ids: list[str], workers: int = 1):
    """The submission's private copy, with its workers started before torch is imported here (~2 s saved)."""
    from .launch import prestart
    from .submission import load
    sub = load(path, ids)
    for note in sub.notes:  # renamed copies, files ignored, links refused: what was graded is what they see
        print(f"note: {note}", file=sys.stderr)
    if any(sub.files.values()):
        prestart(sub.root, count=workers)
    return sub


def _holds_assignments(folder: Path) -> bool:
    return any(folder.glob(f"{MODULE_GLOB}.py")) or any(folder.glob(f"{MODULE_GLOB}.ipynb"))


def find_assignments(start: Path) -> Path | None:
    """The folder `check` works on: `start` or the nearest folder above it that holds aNN_* modules
    itself or in its `assignments/` sub-folder (so it works from a kit's root, its assignments/, its
    notebooks/ or any folder below)."""
    for folder in (start, *start.parents):
        for candidate in (folder, folder / "assignments"):
            if candidate.is_dir() and _holds_assignments(candidate):
                return candidate
    return None


def resolve_check_target(args: argparse.Namespace) -> None:
    """Turn `check`'s IDs and file paths and --path into `args.path` (a folder) and `args.ids`."""
    ids, folders = [], set()
    for token in args.ids:
        path = Path(token)
        if path.suffix in (".py", ".ipynb") and (path.is_file() or os.sep in token or "/" in token):
            if not path.is_file():
                raise UsageError(f"{token!r} is not a file")
            ids.append(resolve(path.stem))
            folders.add(path.resolve().parent)
        else:
            ids.append(token)
    if len(folders) > 1:
        raise UsageError(f"the files given are in different folders ({', '.join(sorted(map(str, folders)))}); "
                         f"check one folder at a time")
    args.ids = ids
    if args.path is not None:
        if not Path(args.path).is_dir():
            raise UsageError(f"--path {args.path!r} is not a folder")
        if folders and folders != {Path(args.path).resolve()}:
            raise UsageError(f"{args.ids[0]} is not in --path {args.path!r}; give one or the other")
        return
    if folders:
        args.path = str(os.path.relpath(folders.pop()))
        return
    found = find_assignments(Path.cwd())
    if found is None:
        raise UsageError(f"no assignment files (aNN_name.py) in {Path.cwd()}, its assignments/ folder, or any "
                         f"folder above; run this inside your kit, or name the folder (--path DIR) or a file "
                         f"(scratchgrad check path/to/a03_attention.py)")
    args.path = os.path.relpath(found)


def cmd_check(args: argparse.Namespace) -> int:
    if args.watch:
        from .watch import watch
        return watch(args)
    ids = resolve_all(args.ids)
    path = Path(args.path)
    sub = _load_and_prestart(path, ids)
    progress = Progress(sys.stderr)
    try:
        from .grading import grade
        report = grade(sub, ids, visibility="public", seed=args.seed, call_timeout_s=args.timeout,
                       assignment_budget_s=args.assignment_budget, submission_budget_s=args.submission_budget,
                       progress=progress)
    finally:
        progress.close()
        sub.cleanup()
    signum = interrupted_by()  # main() installed the handlers: SIGTERM/SIGINT cut grading short
    from .report import render_terminal
    print(render_terminal(report, title=f"scratchgrad {__version__} check: public checks on {path}",
                          verbose=args.verbose))
    print(check_advice(report, path))
    _write(args.json, report.to_json())
    return _interrupted("check", signum) or (3 if report.grader_faults else 0)


def check_advice(report: "Report", path: Path) -> str:
    """The line under a `check` report: what to do next."""
    messages = [c.message for a in report.assignments for c in a.checks]
    if any(m.startswith("not implemented yet") for m in messages):
        return (f"Checks fail with 'not implemented yet' until you write the code: edit the files in {path}/ "
                "and run this again.")
    if report.score < report.max_score:
        return "Fix what failed above and run this again (--verbose shows every line of each failure)."
    return "Every public check passes."


def _jobs(text: str) -> int:  # an argparse type
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--jobs={text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--jobs={text!r} must be at least 1")
    return value


def cmd_grade(args: argparse.Namespace) -> int:
    from .parallel import default_jobs
    ids = resolve_all(args.only)
    jobs = args.jobs or default_jobs(len(ids))
    sub = _load_and_prestart(Path(args.submission), ids, workers=min(jobs, len(ids)))
    progress = Progress(sys.stderr)
    try:
        from .grading import grade
        report = grade(sub, ids, visibility="all", seed=args.seed, call_timeout_s=args.timeout,
                       assignment_budget_s=args.assignment_budget, submission_budget_s=args.submission_budget,
                       progress=progress, unavailable="drop" if args.drop_unavailable else "error", jobs=jobs)
    finally:
        progress.close()
        sub.cleanup()
    signum = interrupted_by()
    from .report import render_markdown, render_terminal
    print(render_terminal(report, title=f"scratchgrad {__version__} grade: {args.submission}",
                          verbose=args.verbose))
    _write(args.json, report.to_json())
    _write(args.feedback, render_markdown(report))
    if signum is not None:
        return _interrupted("grade", signum)
    if report.grader_faults:
        print(f"scratchgrad: {report.grader_faults} check(s) hit an internal grader error (see the report)",
              file=sys.stderr)
        return 3
    return 0


def cmd_grade_all(args: argparse.Namespace) -> int:
    from .batch import main as grade_all
    return grade_all(args)


def cmd_stubs(args: argparse.Namespace) -> int:
    from .notebooks import build_notebook, dumps, stale_notebooks
    from .stubs import EditedError, MarkerError, plan, stale, write_generated
    try:
        if args.check:
            reasons = stale(Path(args.solutions), Path(args.out)) or stale_notebooks(Path(args.out),
                                                                                   Path(args.notebooks))
            if reasons:
                print(f"{args.out}/ is out of date with {args.solutions}/:", *reasons, sep="\n  ")
                print("Run `scratchgrad stubs` to regenerate it.")
                return 1
            print(f"{args.out}/ and {args.notebooks}/ are up to date with {args.solutions}/")
            return 0
        planned = plan(Path(args.solutions), Path(args.out), Path(args.notebooks),
                       lambda aid, stub: dumps(build_notebook(aid, stub)))
        try:
            written, moved = write_generated(planned, force=args.force)
        except EditedError as exc:
            print(f"scratchgrad stubs: {exc}", file=sys.stderr)
            return 1
        for path, aside in moved.items():
            print(f"kept your edited {path} as {aside}")
        for path in written:
            print(f"wrote {path}")
        print(f"{len(planned) - len(written)} of {len(planned)} files were already up to date" if written else
              f"all {len(planned)} files in {args.out}/ and {args.notebooks}/ were already up to date")
        return 0
    except (MarkerError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None


def cmd_release(args: argparse.Namespace) -> int:
    from .release import build_kit
    files = build_kit(Path(args.out))
    print(f"wrote the learner kit to {args.out} ({len(files)} files). Inside it: "
          f"python -m pip install -e . && scratchgrad check")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    from .gradescope import build
    ids = resolve_all(args.only)
    names = build(Path(args.out), ids)
    print(f"wrote {args.out} ({len(names)} files; grades {', '.join(ids)}): upload it as the autograder of a "
          f"Gradescope programming assignment (base image: Ubuntu 22.04 or newer); its README.md says how.\n"
          f"Try it first: unzip {args.out} -d ag && python3 ag/dry_run.py path/to/student_folder")
    return 0


def cmd_nbgrader(args: argparse.Namespace) -> int:
    from .nbgrader_course import build_course
    files = build_course(Path(args.course_dir), ids=resolve_all(args.only) if args.only else None)
    print(f"wrote the nbgrader course to {args.course_dir} ({len(files)} files); see its README.md")
    return 0


def cmd_snapshots(args: argparse.Namespace) -> int:
    from . import snapshots
    for aid in resolve_all(args.ids):
        suite_module = importlib.import_module(f"autograder.suites.{aid}")
        cases = getattr(suite_module, "SNAPSHOTS", [])
        build = getattr(suite_module, "JSON_SNAPSHOTS", None)  # non-tensor snapshot data, stored as JSON
        if args.check:
            for problems, path in ((snapshots.stale(aid, cases) if cases else None, snapshots.path_for(aid)),
                                   (snapshots.stale_json(aid, build) if build else None, snapshots.json_path_for(aid))):
                if problems:
                    print(*problems, "Run `scratchgrad snapshots` to regenerate them from reference/.", sep="\n")
                    return 1
                if problems is not None:
                    print(f"{path.name} matches reference/")
        else:
            if cases:
                print(f"wrote {snapshots.write(aid, cases)}")
            if build:
                print(f"wrote {snapshots.write_json(aid, build)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scratchgrad", description="Graded exercises for building a GPT in PyTorch.",
                                formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=16,
                                                                                    width=110))
    p.add_argument("--version", action="version", version=f"scratchgrad {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", help="run the public checks on your assignments (self-check)")
    c.add_argument("ids", nargs="*", metavar="ID|FILE",
                   help="assignments, e.g. a03, 3 or attention, or a file such as assignments/a03_attention.py "
                        "(default: all)")
    c.add_argument("--path", metavar="DIR",
                   help="folder with your aNN_*.py files (default: found from here upwards: ./assignments, ...)")
    c.add_argument("--watch", action="store_true", help="keep running: check again every time you save a file")
    c.set_defaults(func=cmd_check)
    if not instructor_tools():  # a learner kit: `check` is what it can do
        c.add_argument("--seed", type=int, default=0, help="grading seed (recorded in the report; default 0)")
        c.add_argument("-v", "--verbose", action="store_true", help="show every line of each failure")
        c.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                       help="time limit per call into your code (default: each check's own, 10 s)")
        _add_budgets(c)
        c.add_argument("--json", metavar="OUT", help="write the JSON report here")
        return p

    g = sub.add_parser("grade", help="grade a submission (folder or .zip) with public and hidden checks")
    g.add_argument("submission", help="folder holding aNN_*.py files, or a .zip of one")
    g.add_argument("--only", nargs="+", metavar="ID", help="grade only these assignments")
    g.add_argument("--json", metavar="OUT", help="write the JSON report here")
    g.add_argument("--feedback", metavar="OUT", help="write Markdown feedback here")
    g.add_argument("--jobs", type=_jobs, metavar="N", help="processes grading this submission, each with its own "
                                                            "worker (default: 2 with 2+ cores free, else 1)")
    g.set_defaults(func=cmd_grade)

    for q in (c, g):
        q.add_argument("--seed", type=int, default=0, help="grading seed (recorded in the report; default 0)")
        q.add_argument("-v", "--verbose", action="store_true", help="show every line of each failure")
        q.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                       help="time limit per call into your code (default: each check's own, 10 s)")
        _add_budgets(q)
    c.add_argument("--json", metavar="OUT", help="write the JSON report here")

    b = sub.add_parser("grade-all", help="(instructors) grade a class: one sub-folder or .zip per student in DIR")
    b.add_argument("dir", metavar="DIR", help="folder holding one sub-folder (or .zip) per student")
    b.add_argument("--out", required=True, help="folder for the gradebook, feedback, reports and class report")
    b.add_argument("--jobs", type=int, metavar="N", help="students graded at once (default: CPU count, at most 4)")
    b.add_argument("--only", nargs="+", metavar="ID", help="grade only these assignments")
    b.add_argument("--seed", type=int, default=0, help="grading seed (recorded in the reports; default 0)")
    b.add_argument("--force", action="store_true", help="regrade every student, changed or not")
    b.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                   help="time limit per call into a student's code (default: each check's own, 10 s)")
    _add_budgets(b)
    b.add_argument("--student-timeout", type=_seconds("--student-timeout"), metavar="SECONDS",
                   help="stop a grader process that spends longer than this on one student, and give the student "
                        "an error row (default: --submission-budget plus 120 s for the worker start and the report)")
    b.add_argument("--similarity-threshold", type=_share("--similarity-threshold"), metavar="SHARE",
                   help="list pairs of students whose code is this similar in the class report's similar-code "
                        "section, a share of one side's own code found in the other (default: 0.5); evidence "
                        "for you to read, never a penalty")
    b.add_argument("--starter", metavar="DIR", help="the starter code handed out (aNN_*.py, .ipynb), left out of "
                                                    "the similarity comparison (default: this project's "
                                                    "assignments/ and notebooks/)")
    b.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where students are graded: local (a pool of --jobs grader processes here; the default) or "
                        "dask (tasks on a Dask cluster's workers; needs --scheduler and scratchgrad[cluster])")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="the Dask scheduler for --executor dask, e.g. tcp://10.0.0.5:8786 (`dask scheduler` prints it)")
    b.set_defaults(func=cmd_grade_all)
    for q in (g, b):
        q.add_argument("--drop-unavailable", action="store_true",
                       help="leave checks that need what this installation lacks (GPT-2's tokenizer files) out of "
                            "the maximum, for every submission (default: stop with the fix)")

    s = sub.add_parser("stubs", help="(instructors) build assignments/ from the solution regions in solutions/")
    s.add_argument("--check", action="store_true", help="exit 1 if assignments/ is out of date")
    s.add_argument("--force", action="store_true",
                   help="regenerate even over files edited since the last generation (they are moved aside)")
    s.add_argument("--solutions", default="solutions", help="default: ./solutions")
    s.add_argument("--out", default="assignments", help="default: ./assignments")
    s.add_argument("--notebooks", default="notebooks", help="the stubs as notebooks (default: ./notebooks)")
    s.set_defaults(func=cmd_stubs)

    r = sub.add_parser("release", help="(instructors) build the learner kit: stubs, notebooks, public checks")
    r.add_argument("out", metavar="OUT", help="a new (or empty) folder")
    r.set_defaults(func=cmd_release)

    z = sub.add_parser("gradescope", help="(instructors) build the Gradescope autograder zip (public + hidden checks)")
    z.add_argument("out", metavar="OUT.zip", help="the zip to write")
    z.add_argument("--only", nargs="+", metavar="ID", help="grade only these assignments (default: all available)")
    z.set_defaults(func=cmd_gradescope)

    nb = sub.add_parser("nbgrader", help="(instructors) write an nbgrader course: one assignment per module")
    nb.add_argument("course_dir", metavar="COURSE_DIR", help="a new folder for the course")
    nb.add_argument("--only", nargs="+", metavar="ID", help="only these assignments")
    nb.set_defaults(func=cmd_nbgrader)

    n = sub.add_parser("snapshots", help="(instructors) store the reference's outputs for the public snapshot checks")
    n.add_argument("ids", nargs="*", metavar="ID", help="assignments (default: all)")
    n.add_argument("--check", action="store_true", help="exit 1 if the stored data differs from reference/")
    n.set_defaults(func=cmd_snapshots)
    return p


def instructor_tools() -> bool:
    """False in a learner kit, which ships neither the hidden checks nor the instructor-side modules."""
    return hidden_available() and importlib.util.find_spec("autograder.release") is not None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `scratchgrad`: what it can do
        parser.print_help()
        return 0
    grading = args.command in ("check", "grade") and not getattr(args, "watch", False)
    # from here on SIGTERM/SIGINT end `check`/`grade` with a partial report, not a traceback
    with stop_on_signals() if grading else nullcontext():
        try:
            if args.command == "check":
                resolve_check_target(args)
            return int(args.func(args))
        except UsageError as exc:
            print(f"scratchgrad {args.command}: error: {exc}", file=sys.stderr)
            if args.command in ("check", "grade") and not available():
                print("no assignment has checks installed", file=sys.stderr)
            return 2
