"""Your pretraining track, end to end: tokenizer, data, GPT, loss and decoding on the project's corpus.

    python examples/pretrain_demo.py --path assignments     # your own modules (once they pass)
    python examples/pretrain_demo.py --path solutions       # the instructor's (in the course repository)

It trains a byte-level BPE tokenizer (a01) on `autograder/data/corpus.txt` (original text written
for this project), cuts the tokens into windows (a02), builds a small GPT (a03-a05), measures its
loss and perplexity (a06), trains it for a few hundred steps, and samples text from it (a08). Once
your a07_training is implemented, training uses your own `AdamW` and `train_model` (warm-up, cosine
decay, clipping); until then PyTorch's AdamW, with a note. The loss curves are saved as a PNG in
`--out` (a new temporary folder by default) when matplotlib is installed (`pip install "scratchgrad[plots]"`).

On a laptop CPU the default run takes a minute or two; the loss falls from about ln(vocab_size)
to well below it, and the samples go from random tokens to corpus-like words.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import itertools
import math
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

CORPUS = Path(__file__).resolve().parent.parent / "autograder" / "data" / "corpus.txt"
EOT = "<|endoftext|>"


class TiktokenStyle:
    """Your BPETokenizer with tiktoken's calling convention (`allowed_special`), which a02 and a06 use."""

    def __init__(self, bpe: object) -> None:
        self.bpe = bpe

    def encode(self, text: str, allowed_special: object = None) -> list[int]:
        return self.bpe.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.bpe.decode(ids)


def load(path: Path) -> dict[str, object]:
    """The modules a01..a08 from `path` (a folder of aNN_*.py files), imported by name as the grader does."""
    if not path.is_dir():
        raise SystemExit(f"--path {str(path)!r} is not a folder of aNN_*.py files")
    sys.path.insert(0, str(path.resolve()))
    names = ["a01_tokenizer", "a02_data", "a05_gpt_model", "a06_loss", "a08_decoding"]
    try:
        mods = {name: importlib.import_module(name) for name in names}
    except Exception as exc:  # a missing file, a syntax error, an error at import time
        raise SystemExit(f"cannot import your modules from {path}: {type(exc).__name__}: {exc}\n"
                         f"{_advice(exc, path)}") from None
    try:  # optional: without it (or while it is a stub) the demo trains with PyTorch's AdamW
        mods["a07_training"] = importlib.import_module("a07_training")
    except ImportError as exc:
        print(f"note: no usable a07_training in {path} ({exc}); training with PyTorch's AdamW")
        mods["a07_training"] = None
    return mods



def _advice(exc: BaseException, path: Path) -> str:
    """Which of the learner's modules to look at, and the check that says what is wrong with it."""
    stub = re.match(r"(a\d\d): (\S+)", str(exc)) if isinstance(exc, NotImplementedError) else None
    if stub:
        return f"{stub.group(2)} is not written yet: run `scratchgrad check {stub.group(1)}` to see what is left."
    names = [Path(f.filename).name for f in traceback.extract_tb(exc.__traceback__)
             if Path(f.filename).resolve().parent == path.resolve()]
    names.append(Path(str(getattr(exc, "filename", "") or "")).name)  # a SyntaxError names its file: the innermost
    learner = [n for n in names if re.fullmatch(r"a\d\d_\w+\.py", n)]
    if learner:
        aid = learner[-1][:3]
        return f"The problem is in your {learner[-1]}: run `scratchgrad check {aid}` and fix what it reports."
    return "Run `scratchgrad check` and fix what it reports: the demo needs a01-a06 and a08 to pass."

def train_with_a07(a07, model, batches, val_loader, tokenizer, eval_freq: int):
    """Your AdamW and train_model over `batches` (one epoch); the curves for plotting."""
    optimizer = a07.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    train_losses, val_losses, tokens_seen, _ = a07.train_model(
        model, batches, val_loader, optimizer, "cpu", n_epochs=1, eval_freq=eval_freq, eval_iter=2,
        start_context="The lighthouse keeper", tokenizer=tokenizer, warmup_steps=max(1, len(batches) // 10))
    return train_losses, val_losses, tokens_seen


def train_with_torch(loss, model, batches, val_loader, eval_freq: int):
    """PyTorch's AdamW and a plain loop (what a07 asks you to write); the same curves."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    curves: tuple[list[float], list[float], list[int]] = ([], [], [])
    model.train()
    for step, (inputs, targets) in enumerate(batches):
        optimizer.zero_grad()
        loss.calc_loss_batch(inputs, targets, model, "cpu").backward()
        optimizer.step()
        if step % eval_freq == 0 or step == len(batches) - 1:
            model.eval()
            with torch.no_grad():
                curves[0].append(float(loss.calc_loss_loader(batches, model, "cpu", num_batches=2)))
                curves[1].append(float(loss.calc_loss_loader(val_loader, model, "cpu", num_batches=2)))
            model.train()
            curves[2].append((step + 1) * inputs.numel())
            print(f"  step {step + 1:4d}: training loss {curves[0][-1]:.3f}, validation loss {curves[1][-1]:.3f}")
    return curves


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--path", default="assignments", help="folder with your aNN_*.py files (default: assignments)")
    p.add_argument("--merges", type=int, default=768, help="BPE merges to learn (default: 768)")
    p.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    p.add_argument("--context", type=int, default=64, help="context length in tokens (default: 64)")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--out", default=None, help="folder for the loss-curve PNG (default: a new temporary folder)")
    args = p.parse_args(argv)
    for flag in ("merges", "steps", "context"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag}={getattr(args, flag)} must be at least 1")

    try:
        return run(args)
    except Exception as exc:  # learner code that is not finished or not right: say which, not a traceback
        if not any(Path(f.filename).resolve().parent == Path(args.path).resolve()
                   for f in traceback.extract_tb(exc.__traceback__)):
            raise  # not the learner's: a real traceback helps more
        print(f"pretrain_demo: your code raised {type(exc).__name__}: {exc}\n{_advice(exc, Path(args.path))}",
              file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    mods = load(Path(args.path))
    tok_mod, data, model_mod, loss, dec = (mods[k] for k in ("a01_tokenizer", "a02_data", "a05_gpt_model",
                                                              "a06_loss", "a08_decoding"))
    torch.manual_seed(args.seed)
    text = CORPUS.read_text(encoding="utf-8")
    split = int(0.9 * len(text))
    train_text, val_text = text[:split], text[split:]

    t0 = time.perf_counter()
    bpe = tok_mod.BPETokenizer()
    bpe.train(train_text, vocab_size=256 + args.merges + 1, special_tokens=[EOT])
    tokenizer = TiktokenStyle(bpe)
    vocab_size = 256 + args.merges + 1
    ids = tokenizer.encode(train_text)
    print(f"a01 tokenizer: {args.merges} merges in {time.perf_counter() - t0:.1f} s; the training text is "
          f"{len(train_text.encode()):,} bytes -> {len(ids):,} tokens ({len(train_text.encode()) / len(ids):.2f} "
          f"bytes per token)")

    train_loader = data.create_dataloader_v1(train_text, batch_size=8, max_length=args.context,
                                             stride=args.context, shuffle=True, drop_last=True, tokenizer=tokenizer)
    val_loader = data.create_dataloader_v1(val_text, batch_size=8, max_length=args.context, stride=args.context,
                                           shuffle=False, drop_last=False, tokenizer=tokenizer)
    print(f"a02 data: {len(train_loader)} training batches, {len(val_loader)} validation batches of "
          f"8 x {args.context} tokens")

    cfg = {"vocab_size": vocab_size, "context_length": args.context, "emb_dim": 96, "n_heads": 4, "n_layers": 2,
           "drop_rate": 0.1, "qkv_bias": False}
    model = model_mod.GPTModel(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        before = loss.calc_loss_loader(val_loader, model, "cpu")
    print(f"a05 model: {n_params:,} parameters. a06 loss before training: {float(before):.3f} "
          f"(ln(vocab_size) = {math.log(vocab_size):.3f}), perplexity {float(loss.perplexity(before)):.1f}")

    a07 = mods["a07_training"]
    batches = list(itertools.islice(itertools.cycle(train_loader), args.steps))  # --steps batches, one epoch
    eval_freq = max(1, args.steps // 5)
    t0, start = time.perf_counter(), copy.deepcopy(model.state_dict())
    curves = None
    if a07 is not None:
        try:
            print("a07 training: your AdamW and train_model (warm-up, cosine decay, clipping)")
            curves = train_with_a07(a07, model, batches, val_loader, tokenizer, eval_freq)
        except NotImplementedError as exc:
            print(f"note: your a07_training is not implemented yet ({exc}); training with PyTorch's AdamW")
            model.load_state_dict(start)  # undo whatever the partial run changed
    if curves is None:
        curves = train_with_torch(loss, model, batches, val_loader, eval_freq)
    model.eval()
    with torch.no_grad():
        after = loss.calc_loss_loader(val_loader, model, "cpu")
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f} s. a06 validation loss {float(after):.3f}, "
          f"perplexity {float(loss.perplexity(after)):.1f}")

    if a07 is not None:
        out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="scratchgrad-demo-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            png = a07.plot_losses(curves[2], curves[0], curves[1], out_dir / "loss_curves.png")
            print(f"loss curves: {png}")
        except ImportError as exc:
            print(f"note: no loss-curve PNG ({exc})")

    prompt = loss.text_to_token_ids("The lighthouse keeper", tokenizer)
    gen = torch.Generator().manual_seed(args.seed)
    for temperature, top_k in ((0.0, None), (0.8, 40)):
        out = dec.generate(model, prompt, max_new_tokens=40, context_size=args.context, temperature=temperature,
                           top_k=top_k, generator=gen)
        label = "greedy" if temperature == 0 else f"temperature {temperature}, top_k {top_k}"
        print(f"a08 {label}: {loss.token_ids_to_text(out, tokenizer)!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
