"""BPE training time: the learner-facing trainer (solutions/) against the reference trainer (reference/).

Both learn 500 merges (vocab_size = 256 + 500 + 1, with <|endoftext|>) from autograder/data/corpus.txt
(~100 KB), alternating runs so machine noise hits both alike; the best of --repeat runs of each is
printed side by side with their ratio. Both must learn the same merges. The budget (issue text): the
solution trains within 10x the reference's time; tests/test_a01_tokenizer.py enforces the same bound
on a smaller input. Without the corpus, a seeded ~100 KB text of the course's words stands in (said so).

    python bench/tokenizer_training.py [--repeat 3] [--merges 500]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "autograder" / "data" / "corpus.txt"
BUDGET_RATIO = 10.0
EOT = "<|endoftext|>"


def load_solution():
    spec = importlib.util.spec_from_file_location("a01_tokenizer", ROOT / "solutions" / "a01_tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def training_text() -> tuple[str, str]:
    if CORPUS.is_file():
        text = CORPUS.read_text(encoding="utf-8")
        return text, f"{CORPUS.relative_to(ROOT)} ({len(text.encode()):,} bytes)"
    rng = random.Random(0)
    words = ["the", " keeper", " lamp", " was", " lit", ",", ".", " at", " dusk", "\n\n", " 12", " café", "'s", EOT]
    text = "".join(rng.choice(words) for _ in range(25_000))
    return text, f"{CORPUS.relative_to(ROOT)} is missing: a seeded text of {len(text.encode()):,} bytes instead"


def best_time(make, text: str, vocab_size: int, repeat: int) -> tuple[float, list]:
    best, merges = float("inf"), []
    for _ in range(repeat):
        tok = make()
        t0 = time.perf_counter()
        tok.train(text, vocab_size, [EOT])
        best = min(best, time.perf_counter() - t0)
        merges = tok.merges
    return best, merges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--merges", type=int, default=500)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import reference.a01_tokenizer as ref

    solution = load_solution()
    text, source = training_text()
    vocab_size = 256 + args.merges + 1
    print(f"training text: {source}; {args.merges} merges (vocab_size={vocab_size}), best of {args.repeat}")
    t_ref, m_ref = best_time(ref.BPETokenizer, text, vocab_size, args.repeat)
    t_sol, m_sol = best_time(solution.BPETokenizer, text, vocab_size, args.repeat)
    if m_ref != m_sol:
        raise SystemExit("the solution and the reference learned different merges")
    ratio = t_sol / t_ref
    print(f"{'reference (heap)':>20}  {'solution':>10}  {'ratio':>6}")
    print(f"{t_ref:>19.3f}s  {t_sol:>9.3f}s  {ratio:>6.2f}x   (budget: {BUDGET_RATIO:g}x)")
    if ratio > BUDGET_RATIO:
        raise SystemExit(f"over budget: the solution takes {ratio:.1f}x the reference's time")


if __name__ == "__main__":
    main()
