"""`scratchgrad check --watch`: a save is checked again at once, with the new code, until Ctrl-C."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SOLUTIONS

NO_MAX = ("x_max = x.amax(dim=dim, keepdim=True)", "x_max = torch.zeros_like(x).amax(dim=dim, keepdim=True)")


class Watching:
    """A `check --watch` process, read line by line."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder", "check", *args, "--watch"], cwd=folder,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.pending = b""

    def until(self, needle: str, timeout_s: float = 240.0) -> str:
        """The text printed up to (and including) the next line holding `needle`."""
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout_s
        def complete() -> bool:  # the needle's whole line has arrived (a pipe may hand over half a line)
            at = self.pending.find(needle.encode())
            return at >= 0 and b"\n" in self.pending[at:]

        while not complete():
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"no {needle!r} within {timeout_s} s: {self.pending.decode()}")
            chunk = os.read(fd, 65536)
            assert chunk, f"the watcher exited: {self.pending.decode()}"
            self.pending += chunk
        end = self.pending.index(b"\n", self.pending.index(needle.encode())) + 1
        text, self.pending = self.pending[:end].decode(), self.pending[end:]
        return text

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def test_each_save_is_checked_again_with_the_new_code(tmp_path: Path) -> None:
    shutil.copy(SOLUTIONS / "a03_attention.py", tmp_path / "a03_attention.py")
    (tmp_path / "notes.txt").write_text("not an assignment")
    w = Watching(tmp_path, "a3")
    try:
        first = w.until("watching")
        assert "Total 25 / 25" in first
        (tmp_path / "notes.txt").write_text("still not one")  # ignored: only assignment files count
        module = tmp_path / "a03_attention.py"
        # a save that breaks softmax, at once: before the watcher listens again, so no save may be lost in between
        module.write_text(module.read_text().replace(*NO_MAX))
        second = w.until("watching")
        assert "a03_attention.py changed" in second and "notes.txt" not in second
        assert "FAIL    softmax_large_inputs" in second and "exp overflowed" in second
        module.write_text(module.read_text().replace(NO_MAX[1], NO_MAX[0]))  # and the fix
        third = w.until("watching")
        assert "Total 25 / 25" in third and "s after the save" in third
    finally:
        code = w.stop()
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["a03_attention.py", "notes.txt"]
