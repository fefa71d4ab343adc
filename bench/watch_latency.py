"""Watch mode: seconds from saving a file to its verdict, `scratchgrad check a03 --watch`.

Starts the watcher on a copy of the solutions' a03 (so every check runs in full, none stops at a
stub), waits for its first report, then saves the file --saves times, --pause seconds apart (a
learner edits for a while between saves: the next worker warms up meanwhile), and times each save
until the report is out (the "watching" line after it). Budget from the issue: 1 s for a03.

    python bench/watch_latency.py [--saves 5] [--pause 6] [--broken]

--broken saves a softmax that forgot to subtract its maximum, so the report holds a failure and
its shrunk example (Hypothesis shrinking costs time too).
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 1.0
NO_MAX = ("x_max = x.amax(dim=dim, keepdim=True)", "x_max = torch.zeros_like(x).amax(dim=dim, keepdim=True)")


def read_until(proc: subprocess.Popen, needle: bytes, timeout_s: float) -> bytes:
    fd, out, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout_s
    while needle not in out:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SystemExit(f"no report within {timeout_s} s:\n{out.decode()}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(f"the watcher exited:\n{out.decode()}")
        out += chunk
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--saves", type=int, default=5)
    ap.add_argument("--pause", type=float, default=6.0,
                    help="seconds between saves (default 6; the next worker needs ~2 s idle, more on a busy machine)")
    ap.add_argument("--broken", action="store_true", help="save a softmax that fails a check")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="scratchgrad-watch-"))
    module = folder / "a03_attention.py"
    shutil.copy(ROOT / "solutions" / "a03_attention.py", module)
    text = module.read_text(encoding="utf-8")
    if args.broken:
        text = text.replace(*NO_MAX)
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "check", "a03", "--watch"], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    latencies = []
    try:
        t0 = time.monotonic()
        read_until(proc, b"watching", 300)
        print(f"first report (worker start and grader imports included): {time.monotonic() - t0:.2f} s")
        for i in range(args.saves):
            time.sleep(args.pause)
            saved = time.monotonic()
            module.write_text(text + f"\n# save {i}\n", encoding="utf-8")
            out = read_until(proc, b"watching", 120)
            latencies.append(time.monotonic() - saved)
            total = [ln for ln in out.decode().splitlines() if ln.startswith("Total")]
            print(f"save {i + 1}: {latencies[-1]:.2f} s to the verdict ({total[-1] if total else '?'})")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    med, worst = statistics.median(latencies), max(latencies)
    print(f"save to verdict: median {med:.2f} s, max {worst:.2f} s over {len(latencies)} saves "
          f"(budget {BUDGET_S:g} s: {'met' if med <= BUDGET_S else 'NOT met'} by the median)")


if __name__ == "__main__":
    main()
