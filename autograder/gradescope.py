"""The Gradescope route: build the autograder zip, and grade one submission inside Gradescope's image.

`build(out, ids)` writes the zip Gradescope asks for, with a README (upload, settings) and `dry_run.py`
(run_autograder on a folder of a student's files, locally): `setup.sh` (run once, as root, when the image
is built: Python, CPU torch pinned by constraints.txt, this grader installed with pip, and the
unprivileged account `sgworker` that runs learner code), `run_autograder` (run per submission) and
the grader's source (`scratchgrad/`: engine, public and hidden suites, reference).

`run(root, ids)` is what `run_autograder` calls: it finds the learner's `aNN_*.py` files anywhere in
`<root>/submission` (top level, a folder, a .zip), grades them with public and hidden checks, and
writes `<root>/results/results.json` in Gradescope's schema. Whatever happens (no files, a syntax
error, a crash, a fault in the grader) it writes a valid results.json with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .assignments import UsageError, resolve_all
from .escape import md_code, md_text
from .launch import PROJECT_ROOT, WORKER_USER_ENV, prestart, worker_account
from .results import CheckResult, Report  # torch-free: this module must start without torch
from .submission import Submission, find, load

ROOT_ENV = "SCRATCHGRAD_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
WORKER_USER = "sgworker"  # created by setup.sh
PREFIX = "/opt/scratchgrad"  # setup.sh's virtualenv and the GPT-2 vocab cache, readable by the worker account
BUNDLE_DIR = "scratchgrad"  # the grader source inside the zip, so /autograder/source/scratchgrad on Gradescope
BUNDLE_FILES = ("pyproject.toml", "constraints.txt", "README.md")
BUNDLE_PACKAGES = ("autograder", "reference")
MAX_TEST_OUTPUT = 6000  # characters per test box; a failure's first lines say what matters

SETUP_SH = r"""#!/usr/bin/env bash
# scratchgrad @VERSION@: Gradescope runs this once, as root, while it builds the autograder image.
# Installs Python, the CPU build of torch (pinned by constraints.txt) and this grader (with pip, into a
# virtualenv under @PREFIX@), and creates the unprivileged account that runs learner code.
set -euxo pipefail
SRC=/autograder/source/@BUNDLE@
PREFIX=@PREFIX@
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "scratchgrad needs Python >= 3.10: choose an Ubuntu 22.04 (or newer) base image" >&2
    exit 1
fi
python3 -m venv "$PREFIX/venv"
PY="$PREFIX/venv/bin/python"
"$PY" -m pip install --upgrade pip
# PyPI's default Linux torch wheel pulls in several GB of CUDA libraries: take the CPU build
"$PY" -m pip install -c "$SRC/constraints.txt" --index-url https://download.pytorch.org/whl/cpu torch
# editable: the code stays in $SRC, which run_autograder makes unreadable to the worker account
"$PY" -m pip install -c "$SRC/constraints.txt" -e "$SRC"
id @USER@ >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin @USER@
# GPT-2's BPE files (tokenizer assignments), in a cache the worker account can read
mkdir -p "$PREFIX/cache"
SCRATCHGRAD_CACHE="$PREFIX/cache" "$PY" -c "from autograder import gpt2_vocab; gpt2_vocab.ensure()" \
    || echo "warning: GPT-2's vocabulary files could not be fetched; tokenizer checks will fail" >&2
chmod -R a+rX "$PREFIX"
"$PY" -c "from autograder.assignments import available; print('scratchgrad assignments:', available())"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# scratchgrad @VERSION@ on Gradescope, once per submission, as root: grades <root>/submission with the
# public and hidden checks of @IDS@ and writes <root>/results/results.json.
# <root> is /autograder, or $@ROOT_ENV@ (tests run this against a fake tree).
ROOT="${@ROOT_ENV@:-@DEFAULT_ROOT@}"
PY="${SCRATCHGRAD_PYTHON:-@PREFIX@/venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
if [ "$(id -u)" = 0 ]; then
    # learner code runs as the worker account: the grader source, reference and hidden checks, and the
    # submission metadata (earlier results) must be unreadable to it
    chmod 700 "$ROOT/source" "$ROOT/results"
    [ -e "$ROOT/submission_metadata.json" ] && chmod 600 "$ROOT/submission_metadata.json"
    if [ -z "${@WORKER_ENV@+set}" ] && id @USER@ >/dev/null 2>&1; then
        export @WORKER_ENV@=@USER@
    fi
fi
if [ -z "${SCRATCHGRAD_CACHE:-}" ] && [ -d @PREFIX@/cache ]; then
    export SCRATCHGRAD_CACHE=@PREFIX@/cache  # setup.sh's copy of GPT-2's vocabulary, readable by the worker
fi
export PYTHONPATH="$ROOT/source/@BUNDLE@${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT" || exit 1
"$PY" -m autograder.gradescope --root "$ROOT" --only @IDS@
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # the grader could not even start: Gradescope still gets a valid result that says so
    cat > "$ROOT/results/results.json" <<EOF
{"score": 0.0, "execution_time": $SECONDS,
 "output": "The autograder failed to start (exit status $status): a problem with its setup, not with your code. Your instructor can see the log.",
 "stdout_visibility": "hidden",
 "tests": [{"name": "autograder", "score": 0.0, "max_score": 0.0, "status": "failed", "visibility": "visible",
            "output": "the grader exited with status $status before writing results.json"}]}
EOF
fi
exit 0
"""


DRY_RUN = r"""#!/usr/bin/env python3
# scratchgrad @VERSION@: run this autograder on your machine, the way Gradescope runs it, on a folder of one
# student's files, and print what Gradescope would show. Standard library only; see README.md.
#     python3 dry_run.py STUDENT_FOLDER [--keep]
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ap = argparse.ArgumentParser(description="Run run_autograder on STUDENT_FOLDER in a scratch copy of /autograder.")
ap.add_argument("student", help="a folder holding what the student would upload (aNN_*.py, notebooks or a .zip)")
ap.add_argument("--keep", action="store_true", help="keep the scratch /autograder tree (its path is printed)")
args = ap.parse_args()
student = Path(args.student)
if not student.is_dir():
    sys.exit(f"dry_run: STUDENT_FOLDER {str(student)!r} is not a folder")
root = Path(tempfile.mkdtemp(prefix="autograder-dry-run-"))
shutil.copytree(HERE, root / "source", ignore=shutil.ignore_patterns("__pycache__"))
shutil.copytree(student, root / "submission")
python = os.environ.get("SCRATCHGRAD_PYTHON") or (
    "@PREFIX@/venv/bin/python" if os.access("@PREFIX@/venv/bin/python", os.X_OK) else sys.executable)
env = {**os.environ, "@ROOT_ENV@": str(root), "SCRATCHGRAD_PYTHON": python}
t0 = time.monotonic()
with open(root / "log.txt", "w") as log:
    subprocess.run(["bash", str(root / "source" / "run_autograder")], stdout=log, stderr=subprocess.STDOUT, env=env,
                   cwd=root, check=False)
took = time.monotonic() - t0
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux: the largest process
doc = json.loads((root / "results" / "results.json").read_text())
print(doc.get("output", ""))
print()
for t in doc.get("tests", []):
    print(f"  {t['status']:<7} {t.get('score', 0):>5g}/{t.get('max_score', 0):<5g} {t['name']}"
          f"{'' if t.get('visibility') == 'visible' else '  (' + t.get('visibility', '') + ')'}")
print(f"\nscore {doc.get('score', 0):g}; {took:.0f} s; largest process {peak_mb:.0f} MB; Python: {python}")
if args.keep:
    print(f"kept {root} (results/results.json, log.txt: what run_autograder printed)")
else:
    shutil.rmtree(root, ignore_errors=True)
"""

README = """# scratchgrad @VERSION@: Gradescope autograder

Grades @IDS@ with the public and hidden checks. Built by `scratchgrad gradescope`.

## Upload

1. On Gradescope, create a **Programming Assignment**; its total points can stay as they are (each
   test carries its own points, and results.json gives the score).
2. In its **Configure Autograder** page, choose **Zip file upload** and upload this zip as it is
   (`setup.sh` and `run_autograder` must stay at its top level).
3. Base image: **Ubuntu 22.04** or newer (`setup.sh` needs Python 3.10 or newer from apt; it stops with
   a message otherwise). The image build runs `setup.sh` once: Python, the CPU build of torch from
   PyTorch's CPU wheel index (no CUDA: Gradescope has no GPU), this grader, and the unprivileged account
   `@USER@` that runs the students' code. It takes a few minutes.
4. Settings: a student uploads their `aNN_name.py` files (or notebooks, or one .zip of them), in any
   folder layout. Give the autograder a timeout of at least 10 minutes, and memory of 2 GB or more
   (the dry run below prints the time and the largest process's memory on your machine).
5. Test it with **Test Autograder** on a solution, before the students do.

Students see at once their public checks and points; the hidden checks appear when you publish grades.

## Dry run on your machine

Unzip this bundle and run it on a folder holding one student's files, exactly as Gradescope would
(a scratch `/autograder` tree, the same `run_autograder`), then read the summary and every test:

```bash
unzip autograder.zip -d ag && python3 ag/dry_run.py path/to/student_folder
```

It runs the grader with `$SCRATCHGRAD_PYTHON`, else `setup.sh`'s virtualenv, else the `python3`
that runs it: that Python needs the grader's dependencies (`pip install -e ag/scratchgrad` installs
them). `--keep` keeps the scratch tree: `results/results.json`, and `log.txt`, which holds what
run_autograder printed (what Gradescope shows you, not the student). As root, the students' code
runs as `@USER@` if that account exists, as on Gradescope.
"""


# -- building the zip ------------------------------------------------------------------------
def _fill(template: str, ids: list[str]) -> str:
    for key, value in (("VERSION", __version__), ("PREFIX", PREFIX), ("BUNDLE", BUNDLE_DIR), ("USER", WORKER_USER),
                       ("ROOT_ENV", ROOT_ENV), ("DEFAULT_ROOT", DEFAULT_ROOT), ("WORKER_ENV", WORKER_USER_ENV),
                       ("IDS", " ".join(ids))):
        template = template.replace(f"@{key}@", value)
    return template


def _source_files(project: Path) -> list[Path]:
    files = [project / name for name in BUNDLE_FILES]
    for package in BUNDLE_PACKAGES:
        for folder, dirs, names in os.walk(project / package):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            files += [Path(folder) / n for n in sorted(names) if not n.endswith(".pyc") and not n.startswith(".")]
    return files


def build(out: Path, ids: list[str], *, project: Path = PROJECT_ROOT) -> list[str]:
    """Write the autograder zip for `ids` to `out`; return the names it holds (byte-identical on rebuilds)."""
    out = Path(out)
    if out.suffix != ".zip":
        raise UsageError(f"OUT {str(out)!r} must be a .zip file name (e.g. autograder.zip)")
    missing = [p for p in (*BUNDLE_FILES, *BUNDLE_PACKAGES, "autograder/hidden") if not (project / p).exists()]
    if missing:
        raise UsageError(f"the Gradescope bundle needs the grader's source checkout (with the reference and hidden "
                         f"checks); {project} lacks {', '.join(missing)}")
    entries = [("setup.sh", _fill(SETUP_SH, ids).encode(), 0o755),
               ("run_autograder", _fill(RUN_AUTOGRADER, ids).encode(), 0o755),
               ("README.md", _fill(README, ids).encode(), 0o644),
               ("dry_run.py", _fill(DRY_RUN, ids).encode(), 0o755)]
    for path in _source_files(project):
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
        entries.append((f"{BUNDLE_DIR}/{path.relative_to(project).as_posix()}", path.read_bytes(), mode))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permission bits
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    tmp.replace(out)
    return [name for name, _, _ in entries]


# -- finding the learner's files (autograder.submission: the loader every route uses) -------
@dataclass
class Collected:
    files: dict[str, str | None]  # assignment -> where in the submission its file came from
    notes: list[str] = field(default_factory=list)  # what the learner should know about their upload


def collect(submission: Path, ids: list[str], dest: Path) -> Collected:
    """Copy the best match for each `aNN_*.py` (else `.ipynb`) of `ids` in `submission` into `dest`.

    The same choice `submission.load` makes (exact names beat renamed copies, shallower files beat
    deeper ones, zips are unpacked one level); the choice is reported when more than one file could
    be the assignment.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not submission.is_dir():
        return Collected(files={aid: None for aid in ids},
                         notes=["the submission is empty: Gradescope passed no files"])
    unpack = Path(tempfile.mkdtemp(prefix="unzipped-", dir=dest.parent))
    try:
        found = find(submission, ids, unpack=unpack)
        for aid, choice in found.chosen.items():
            if choice is not None:
                shutil.copyfile(choice[0], dest / f"{aid}{choice[0].suffix.lower()}")
    finally:
        shutil.rmtree(unpack, ignore_errors=True)
    return Collected(files={aid: c[1] if c else None for aid, c in found.chosen.items()}, notes=found.notes)


# -- results.json ----------------------------------------------------------------------------
def _pts(x: float) -> str:
    return f"{x:g}"


def _test_output(c: CheckResult) -> str:
    from .report import failure_lines
    lines = [c.description]
    if c.status != "passed":
        lines += ["", f"{c.status}:" if c.status != "failed" else "failed:", *failure_lines(c)]
    text = "\n".join(lines)
    return text if len(text) <= MAX_TEST_OUTPUT else text[:MAX_TEST_OUTPUT] + "\n... (cut)"


def _problems(report: Report) -> list[str]:
    """Per-assignment reasons that explain every lost point (missing file, syntax, import error)."""
    out = []
    for a in report.assignments:
        messages = {(c.message.splitlines() or [""])[0] for c in a.checks if c.name != "no_banned_apis"}
        if a.error:
            out.append(a.error)
        elif len(messages) == 1 and next(iter(messages)).startswith("importing "):
            out.append(next(iter(messages)))
    return out


def _summary(report: Report, collected: Collected) -> str:
    """What every learner sees at once: public checks only (the total would reveal the hidden results)."""
    public = [c for a in report.assignments for c in a.checks if c.visibility == "public"]
    hidden = [c for a in report.assignments for c in a.checks if c.visibility != "public"]
    lines = [(f"**scratchgrad {__version__}**: public checks **{_pts(sum(c.score for c in public))} / "
              f"{_pts(sum(c.max_score for c in public))}** points.")]
    if hidden:
        lines.append(f"Hidden checks ({len(hidden)}, worth {_pts(sum(c.max_score for c in hidden))} points) were run "
                     "too; their results appear when your instructor publishes the grades.")
    lines += ["", "| assignment | file graded | public checks | hidden checks |", "|---|---|---|---|"]
    for a in report.assignments:
        pub = [c for c in a.checks if c.visibility == "public"]
        hid = [c for c in a.checks if c.visibility != "public"]
        shown = md_code(collected.files[a.id]) if collected.files.get(a.id) else "missing"  # a learner's file name
        lines.append(f"| {a.id} | {shown} | {_pts(sum(c.score for c in pub))} / {_pts(sum(c.max_score for c in pub))} "
                     f"| {len(hid)} checks, {_pts(sum(c.max_score for c in hid))} points |")
    problems = [md_text(p) for p in _problems(report)] + collected.notes  # notes quote names safely
    if problems:
        lines += ["", "**About your submission**", "", *(f"- {p}" for p in problems)]
    faults = [f"{a.id}: {c.name}" for a in report.assignments for c in a.checks if c.grader_fault]
    if faults:
        lines += ["", (f"**The grader itself failed on {len(faults)} check(s)** ({', '.join(faults[:6])}): an "
                       "internal error, not your code. Those checks score 0 for now; your instructor can see the "
                       "details and regrade.")]
    return "\n".join(lines)


def to_results(report: Report, collected: Collected, *, elapsed_s: float, worker_user: str | None) -> dict[str, Any]:
    """Gradescope's results.json for a graded report: one test per check; hidden ones shown once published."""
    tests = []
    for i, a in enumerate(report.assignments, 1):
        for j, c in enumerate(a.checks, 1):
            tests.append({
                "name": f"{a.id}: {c.name}", "number": f"{i}.{j}", "score": c.score, "max_score": c.max_score,
                "status": "passed" if c.status == "passed" else "failed", "output": _test_output(c),
                "tags": [a.id, c.kind], "visibility": "visible" if c.visibility == "public" else "after_published"})
    return {
        "score": report.score, "execution_time": round(elapsed_s), "output": _summary(report, collected),
        "output_format": "md", "test_output_format": "text", "test_name_format": "text",
        "stdout_visibility": "hidden", "tests": tests,
        "extra_data": {"scratchgrad": __version__, "seed": report.grader.get("seed"), "max_score": report.max_score,
                       "grader_faults": report.grader_faults, "files": collected.files, "worker_user": worker_user}}


def fault_results(ids: list[str], reason: str, *, elapsed_s: float) -> dict[str, Any]:
    """results.json when grading could not run at all: score 0, the reason, one entry per assignment."""
    text = (f"**The autograder could not grade this submission**: {reason}\n\nThis is a fault in the grader or its "
            "setup, not in your code; your instructor can see the details.")
    tests = [{"name": f"{aid}: not graded", "score": 0.0, "max_score": 0.0, "status": "failed", "output": reason,
              "visibility": "visible"} for aid in ids or ["autograder"]]
    return {"score": 0.0, "execution_time": round(elapsed_s), "output": text, "output_format": "md",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"scratchgrad": __version__, "grader_fault": reason}}


# -- one submission, inside Gradescope's image -----------------------------------------------
def _grade(root: Path, ids: list[str], seed: int, t0: float, work: Path) -> dict[str, Any]:
    account = worker_account()  # fails closed, before the slow imports: a configured account must exist
    if account is not None:
        print(f"learner code runs as {account.pw_name} (uid {account.pw_uid})")
    elif os.geteuid() == 0:
        print(f"warning: grading as root with no worker account (setup.sh creates {WORKER_USER}; or set "
              f"{WORKER_USER_ENV}): learner code runs as root without capabilities; only the kernel's confinement "
              "(listed below) keeps it from the grader's files")
    if (root / "submission").is_dir():
        sub = load(root / "submission", ids)  # the private copy of the modules: all the worker ever sees
    else:
        sub = Submission(name="submission", root=work, files={a: None for a in ids}, origins={a: None for a in ids},
                         notes=["the submission is empty: Gradescope passed no files"])
    collected = Collected(files=dict(sub.origins), notes=sub.notes)
    for note in collected.notes:
        print(f"note: {note}")
    from .parallel import default_jobs
    jobs = default_jobs(len(ids))  # Gradescope's default machine has 1 CPU: one process there
    try:
        if any(sub.files.values()):
            prestart(sub.root, count=jobs)  # the workers import torch while this process does (~2 s)
        from .grading import grade
        from .report import render_terminal
        report = grade(sub, ids, visibility="all", seed=seed, jobs=jobs)
    finally:
        sub.cleanup()
    print("learner code ran with: " + ", ".join(report.grader["protections"]["active"]))
    for missing in report.grader["protections"]["missing"]:
        print(f"warning: protection missing: {missing}")
    print(render_terminal(report, title=f"scratchgrad {__version__} on Gradescope", verbose=True))
    return to_results(report, collected, elapsed_s=time.monotonic() - t0,
                      worker_user=account.pw_name if account else None)


def run(root: Path, ids: list[str] | None, *, seed: int = 0) -> dict[str, Any]:
    """Grade `<root>/submission`, write `<root>/results/results.json`, and return what was written."""
    t0 = time.monotonic()
    results_path = Path(root) / "results" / "results.json"
    work = Path(tempfile.mkdtemp(prefix="scratchgrad-gradescope-"))
    wanted: list[str] = list(ids or [])
    try:
        wanted = resolve_all(ids)
        results = _grade(Path(root), wanted, seed, t0, work)
    except Exception as exc:  # noqa: BLE001 -- a grader or setup fault still gets a results.json with the reason
        traceback.print_exc(file=sys.stdout)
        results = fault_results(wanted, f"{type(exc).__name__}: {exc}", elapsed_s=time.monotonic() - t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = results_path.with_name("results.json.part")
    tmp.write_text(json.dumps(results, indent=2, allow_nan=False, default=str), encoding="utf-8")
    tmp.replace(results_path)
    print(f"wrote {results_path}: {results['score']:g} points")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope",
                                description="Grade a Gradescope submission (what run_autograder calls).")
    p.add_argument("--root", default=os.environ.get(ROOT_ENV) or DEFAULT_ROOT,
                   help=f"Gradescope's folder (default: ${ROOT_ENV}, else {DEFAULT_ROOT})")
    p.add_argument("--only", nargs="+", metavar="ID", help="assignments to grade (default: all available)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    run(Path(args.root), args.only, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
