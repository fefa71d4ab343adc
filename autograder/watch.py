"""`scratchgrad check --watch`: check again on every save, with a worker already warm.

A worker imports the learner's modules once, so after a save it would still run the old code. So
each check runs on a worker started ahead of time: as soon as a report is out, the used worker is
stopped and the next one starts (its ~2 s torch import happens while the learner edits), and the
next save is graded at once. `bench/watch_latency.py` measures the time from a save to its verdict.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .assignments import resolve_all

WATCHED = ("a[0-9][0-9]_*.py", "a[0-9][0-9]_*.ipynb")
CLEAR = "\033[2J\033[H"


def _is_module(path: str) -> bool:
    return any(Path(path).match(pattern) for pattern in WATCHED)


def _stamps(folder: Path) -> dict[str, int]:
    """The assignment files and their modification times (ns): what a check is about to grade."""
    out = {}
    for pattern in WATCHED:
        for path in folder.glob(pattern):
            try:
                out[path.name] = path.stat().st_mtime_ns
            except OSError:  # removed meanwhile
                pass
    return out


def _reusable(folder: Path) -> bool:
    """A warm worker serves the folder itself; notebooks alone are graded from a staging copy instead."""
    return not any(nb for nb in folder.glob("a[0-9][0-9]_*.ipynb") if not nb.with_suffix(".py").is_file())


def watch(args: argparse.Namespace, *, stop: threading.Event | None = None,
          on_report: Callable[[object], None] | None = None) -> int:
    """Check `args.ids` in `args.path` now and after every change to an assignment file, until Ctrl-C (or `stop`)."""
    from watchfiles import watch as changes

    from . import __version__
    from .cli import Progress, check_advice
    from .grading import grade
    from .report import render_terminal
    from .worker import Worker

    folder = Path(args.path)
    ids = resolve_all(args.ids)
    tty = sys.stdout.isatty()
    worker = Worker(folder.resolve())
    worker.start()  # importing torch overlaps the grader's own imports below
    changed: list[str] = []
    saved_at: float | None = None
    try:
        while True:
            graded = _stamps(folder)  # a save from now on, even during this check, means another check
            progress = Progress(sys.stderr)
            try:
                report = grade(folder, ids, visibility="public", seed=args.seed, call_timeout_s=args.timeout,
                               progress=progress, executor=worker if _reusable(folder) else None)
            finally:
                progress.close()
            took = "" if saved_at is None else f", {time.time() - saved_at:.2f} s after the save"
            what = f" ({', '.join(changed)} changed{took})" if changed else ""
            print((CLEAR if tty else "") + render_terminal(
                report, title=f"scratchgrad {__version__} check --watch: public checks on {folder}{what}",
                verbose=args.verbose))
            print(check_advice(report, folder))
            print(f"[{time.strftime('%H:%M:%S')}] watching {folder}/ for changes to your files (Ctrl-C to stop)",
                  flush=True)
            # this worker has imported this version of the modules: the next check needs a fresh one,
            # started now (after the report is out) so that it is ready by the next save
            worker.close()
            worker = Worker(folder.resolve())
            worker.start()
            if on_report is not None:
                on_report(report)
            now = _stamps(folder)
            if now != graded:  # saved while the check ran: check again at once
                changed = sorted(n for n in now.keys() | graded.keys() if now.get(n) != graded.get(n))
                saved_at = max(now.values(), default=time.time_ns()) / 1e9
                continue
            for batch in changes(folder, watch_filter=lambda _change, path: _is_module(path), debounce=30,
                                 step=10, stop_event=stop, raise_interrupt=True):
                files = sorted({Path(p) for _c, p in batch})
                changed = [f.name for f in files]
                mtimes = [f.stat().st_mtime for f in files if f.exists()]
                saved_at = max(mtimes) if mtimes else time.time()
                break
            else:  # `stop` was set
                return 0
    except KeyboardInterrupt:
        print("\nstopped watching", flush=True)
        return 0
    finally:
        worker.close()
