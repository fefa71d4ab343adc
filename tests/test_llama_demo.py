"""examples/llama_demo.py: a tiny Llama from a13's pieces generates the same tokens with and without a KV cache."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.banks import a13_llama as bank
from tests.conftest import ROOT, SOLUTIONS, make_submission


def _demo(path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """main(--path path) in-process (one torch import for both tests), with a fresh `a13_llama` import."""
    spec = importlib.util.spec_from_file_location("llama_demo_under_test", ROOT / "examples" / "llama_demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "a13_llama", raising=False)
    code = demo.main(["--path", str(path), "--prompt", "4", "--new", "5"])
    sys.modules.pop("a13_llama", None)
    return code, capsys.readouterr().out


def test_cached_generation_agrees_and_costs_less(capsys, monkeypatch) -> None:
    code, out = _demo(SOLUTIONS, capsys, monkeypatch)
    assert code == 0 and "cached and uncached generation agree: 5 tokens" in out, out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    flops = [(int(r[2].replace(",", "")), int(r[3].replace(",", ""))) for r in rows]
    assert flops[0][0] == flops[0][1]  # the prefill is the same work
    assert all(cached * 4 < plain for plain, cached in flops[1:]), flops  # a cached step: one position


def test_a_wrong_rope_offset_shows_as_disagreement(tmp_path, capsys, monkeypatch) -> None:
    (offset_ignored,) = [v for v in bank.MUTANTS if v.name == "rope_offset_ignored"]
    code, out = _demo(make_submission(tmp_path, "a13_llama", offset_ignored), capsys, monkeypatch)
    assert code == 1 and "DISAGREE" in out and "apply_rope's offset" in out, out
