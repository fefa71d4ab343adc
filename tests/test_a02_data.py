"""a02_data beyond the bank: reference vs solution, the GPT-2 skip, and where the snapshot's inputs come from."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference.a02_data as ref
from autograder import gpt2_vocab, snapshots
from autograder.runtime.toys import ByteTokenizer
from autograder.suites import a02_data as suite
from tests.conftest import load_solution

AID = "a02_data"



SOLUTION = load_solution(AID)
TEXTS = st.lists(st.one_of(st.text(max_size=8), st.just(suite.EOT), st.just("<|endoftext|")), max_size=6).map("".join)


def _rows(dataset) -> list[tuple[list[int], list[int], str, str]]:
    return [(x.tolist(), y.tolist(), str(x.dtype), str(y.dtype)) for x, y in (dataset[i] for i in range(len(dataset)))]


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(text=TEXTS, max_length=st.integers(-1, 9), stride=st.integers(-1, 9))
def test_reference_and_solution_agree_on_windows_and_errors(text: str, max_length: int, stride: int) -> None:
    """Two independent implementations (a loop, an unfold): same windows, same ValueErrors."""
    outcomes = []
    for module in (SOLUTION, ref):
        try:
            outcomes.append(_rows(module.GPTDatasetV1(text, ByteTokenizer(), max_length, stride)))
        except ValueError as exc:
            outcomes.append("ValueError")
            bad = "max_length" if max_length < 1 else "stride" if stride < 1 else "max_length"
            assert bad in str(exc), (module.__name__, str(exc))
    assert outcomes[0] == outcomes[1]
    if outcomes[0] != "ValueError":
        assert outcomes[0] == [(list(x), list(y), "torch.int64", "torch.int64")
                               for x, y in suite.windows(suite.byte_ids(text), max_length, stride)]


def test_reference_and_solution_agree_on_default_gpt2_batches() -> None:
    reason = gpt2_vocab.available()
    if reason is not None:
        pytest.skip(f"GPT-2's tokenizer files are not available: {reason}")
    text = suite.text_of_bytes(3000) + suite.UNICODE_TEXT
    kwargs = {"batch_size": 3, "max_length": 7, "stride": 5, "shuffle": False, "drop_last": False}
    got = [[t.tolist() for t in batch] for batch in SOLUTION.create_dataloader_v1(text, **kwargs)]
    want = [[t.tolist() for t in batch] for batch in ref.create_dataloader_v1(text, **kwargs)]
    assert got == want and 50256 in {i for x, _ in got for row in x for i in row}


def test_snapshot_windows_come_from_the_stored_texts(monkeypatch) -> None:
    """Regenerating reads the texts stored in the JSON file, not the (editable) corpus."""
    stored = json.loads(snapshots.json_path_for(AID).read_text(encoding="utf-8"))
    monkeypatch.setattr(suite, "corpus_text", lambda: "an entirely different corpus " * 100)
    assert snapshots.compute_json(AID, suite.JSON_SNAPSHOTS) == stored


def test_fresh_snapshot_inputs_without_a_corpus(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(suite, "CORPUS", tmp_path / "missing.txt")
    suite.corpus_text.cache_clear()
    try:
        fresh = suite._fresh_snapshot_inputs()
    finally:
        suite.corpus_text.cache_clear()
    texts = [c["txt"] for group in fresh.values() for c in group]
    assert all(texts) and any(suite.EOT in t for t in texts)
    for case in fresh["datasets"]:  # every stored case fits at least one window
        assert len(suite.byte_ids(case["txt"])) > case["max_length"]
