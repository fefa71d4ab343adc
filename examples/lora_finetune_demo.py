"""Your LoRA (a11) and classification head (a09) fine-tune a small GPT to tell speech from narration.

    python examples/lora_finetune_demo.py --path assignments     # your own modules (once they pass)
    python examples/lora_finetune_demo.py --path solutions       # the instructor's (in the course repository)

The task comes from the bundled corpus (`autograder/data/corpus.txt`): is a sentence something a
character says (it stood inside quotation marks) or narration? Every quoted sentence is one example
of "spoken" (label 1) and as many narrated sentences, spread evenly over the corpus, are the
"narrated" ones (label 0); the quotation marks are removed, so the model has to go by the words
("I", "you", questions, the present tense against "she said", "was", "had"). Every fourth sentence
is held out for testing. The sentences are cut into words (a vocabulary of the training sentences'
words seen at least twice, plus <unk> and <pad>), not BPE tokens: short sentences, a small vocabulary.

The model is the grader's small GPT-shaped `ToyGPT` (`autograder/runtime/toy_gpt.py`: embeddings, two
causal mixing blocks with an nn.Linear each, a final scale and `out_head`) with random weights: it is
not pretrained. Your a09 `prepare_for_classification` gives it a two-class head and your a09
`ClassificationDataset`, `calc_loss_batch_classifier` and `calc_accuracy_loader` (with `pad_token_id`:
the last real word of each right-padded row) feed, train and score it. Then, as in the book's
appendix E, your a11 `replace_linear_with_lora` wraps every nn.Linear (the new head too) and
`freeze_except_lora` leaves only the LoRA matrices A and B trainable: a few percent of the weights.
Until your a09 or a11 passes the demo's own quick checks (an unfinished function, a wrong trainable
set, a changed output at initialisation, a wrong scale), it says what failed and uses the
instructor's module from `solutions/` instead, where there is one (the course repository); the
learner kit has none, so there it stops and names the check to run.

Measured with the solutions (default settings, seeds 0-5, one CPU thread on a busy shared 2-core
machine): 561 training and 187 test sentences; 2,576 trainable parameters of 55,634 (4.6%); test
accuracy before fine-tuning 46-57% (a random head; chance is 50%), after 8 epochs 77-80% (training
accuracy 86-90%); the 8 epochs take 3-7 s, the whole run about 13 s with Python and torch starting.
LoRA on the frozen random model learns the task, so the demo does not pretrain it: in a trial on a
similar split, 400 steps of next-word pretraining first gave 80% test accuracy against 81% without.
For scale: a bag-of-words logistic regression on the same split and vocabulary reaches 71-77%.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "autograder" / "data" / "corpus.txt"
SOLUTIONS = ROOT / "solutions"  # the course repository has it; the learner kit does not
sys.path.insert(0, str(ROOT))  # the kit's and the course repository's `autograder` package, for ToyGPT
from autograder.runtime.toy_gpt import ToyGPT  # noqa: E402  (needs the line above when run as a script)

UNK, PAD = 0, 1
WORD = re.compile(r"\w+|[^\w\s]")


# -- the task ---------------------------------------------------------------------------------------

def sentences(text: str) -> list[tuple[str, int]]:
    """(sentence, 1 if it stood inside quotation marks else 0) for every sentence of 4+ words in the corpus."""
    found = []
    for piece in text.split("<|endoftext|>"):
        for para in piece.strip().split("\n")[1:]:  # line 0 is the piece's title
            segments = para.replace("\u201c", '"').replace("\u201d", '"').split('"')
            if len(segments) % 2 == 0:
                continue  # an unclosed quote (a speech running on into the next paragraph): ambiguous
            for k, segment in enumerate(segments):  # odd segments are inside the quotation marks
                for sentence in re.findall(r"[^.?!]+[.?!]*", segment):
                    if len(WORD.findall(sentence)) >= 4:
                        found.append((sentence.strip(), k % 2))
    return found


def make_task(text: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Balanced examples (every spoken sentence, as many narrated ones spread evenly); every 4th one for testing."""
    found = sentences(text)
    spoken = [s for s in found if s[1] == 1]
    narrated = [s for s in found if s[1] == 0]
    if not spoken or len(narrated) < len(spoken):
        raise SystemExit(f"{CORPUS} gives {len(spoken)} spoken and {len(narrated)} narrated sentences: "
                         f"the demo needs some spoken ones and at least as many narrated ones")
    n = len(spoken)
    examples = spoken + [narrated[k * len(narrated) // n] for k in range(n)]
    return ([e for k, e in enumerate(examples) if k % 4 != 3], [e for k, e in enumerate(examples) if k % 4 == 3])


class WordTokenizer:
    """Lower-cased words and punctuation marks; the words seen at least twice in `texts` get an id."""

    def __init__(self, texts: list[str]) -> None:
        counts = Counter(w for t in texts for w in WORD.findall(t.lower()))
        self.words = ["<unk>", "<pad>"] + sorted(w for w, c in counts.items() if c >= 2)
        self.ids = {w: i for i, w in enumerate(self.words)}

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(w, UNK) for w in WORD.findall(text.lower())]


# -- your modules, or the instructor's -----------------------------------------------------------------

class ProbeFailed(Exception):
    """A learner module does something the demo relies on differently from the contract."""


def import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pick(aid: str, folder: Path, probe) -> tuple[ModuleType, str]:
    """The learner's `aid` module from `folder` if `probe` passes on it, else the instructor's, with a note."""
    mine = folder / f"{aid}.py"
    try:
        if not mine.is_file():
            raise FileNotFoundError(f"there is no {mine}")
        module = import_file(mine, f"learner_{aid}")
        probe(module)
        return module, f"your {aid} ({mine})"
    except NotImplementedError as exc:
        why = f"is not finished yet ({exc})"
    except ProbeFailed as exc:
        why = f"failed the demo's check: {exc}"
    except Exception as exc:  # an import error, a crash in the learner's code
        why = f"failed the demo's check: {type(exc).__name__}: {exc}"
    short = aid[:3]
    solution = SOLUTIONS / f"{aid}.py"
    if not solution.is_file():
        raise SystemExit(f"your {aid} {why}.\nRun `scratchgrad check {short}` and fix what it reports; this "
                         f"demo needs a working {aid} (there is no instructor's version here to fall back on).")
    print(f"note: your {aid} {why}; run `scratchgrad check {short}` to see what is wrong. "
          f"Using the instructor's {aid} from {SOLUTIONS} instead.")
    return import_file(solution, f"solution_{aid}"), f"the instructor's {aid} ({solution})"


def _probe_model() -> ToyGPT:
    torch.manual_seed(0)
    return ToyGPT(vocab_size=7, context_length=5, emb_dim=6, n_layers=2)


def probe_a09(a09: ModuleType) -> None:
    """The dataset pads on the right; the head and trainable set are the contract's; accuracy is counted right."""
    tokenizer = WordTokenizer(["a b c", "a b c"])  # ids: a=2, b=3, c=4
    data = a09.ClassificationDataset(["a b c", "b"], [0, 1], tokenizer, max_length=None, pad_token_id=PAD)
    row, label = data[1]
    if len(data) != 2 or row.tolist() != [3, PAD, PAD] or int(label) != 1 or \
            (row.dtype, torch.as_tensor(label).dtype) != (torch.int64, torch.int64):
        raise ProbeFailed(f"ClassificationDataset(['a b c', 'b'], ..., pad_token_id={PAD})[1] is ids {row.tolist()} "
                          f"({row.dtype}), label {label!r}; expected ids [3, {PAD}, {PAD}] and label 1, both int64")
    model = _probe_model()
    if a09.prepare_for_classification(model, 2) is not model:
        raise ProbeFailed("prepare_for_classification does not return the model it was given")
    head = model.out_head
    if not isinstance(head, nn.Linear) or head.out_features != 2 or head.bias is None:
        raise ProbeFailed(f"after prepare_for_classification(model, 2), out_head is {head}; expected a Linear "
                          f"with 2 outputs and a bias")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {n for n, _ in model.named_parameters() if n.startswith(("trf_blocks.1.", "final_norm.", "out_head."))}
    if trainable != expected:
        raise ProbeFailed(f"prepare_for_classification leaves {sorted(trainable)} trainable; "
                          f"expected {sorted(expected)}")
    ids = torch.tensor([[2, 3, 4], [4, PAD, PAD], [3, 2, PAD]])
    labels = torch.tensor([0, 1, 1])
    with torch.no_grad():
        logits = model(ids)[torch.arange(3), (ids != PAD).sum(1) - 1]  # (3, 2), at each row's last real word
    want_loss = nn.functional.cross_entropy(logits, labels)
    got_loss = a09.calc_loss_batch_classifier(ids, labels, model, "cpu", pad_token_id=PAD)
    if not torch.allclose(got_loss.detach(), want_loss, atol=1e-5):
        raise ProbeFailed(f"calc_loss_batch_classifier gives {got_loss.item():.6f}; the cross-entropy at each "
                          f"row's last non-padding position is {float(want_loss):.6f}")
    loader = [(ids[:2], labels[:2]), (ids[2:], labels[2:])]  # a short last batch: count examples, not batches
    want_acc = float((logits.argmax(-1) == labels).float().mean())
    got_acc = a09.calc_accuracy_loader(loader, model, "cpu", pad_token_id=PAD)
    if abs(got_acc - want_acc) > 1e-6:
        raise ProbeFailed(f"calc_accuracy_loader gives {got_acc}; {want_acc} of the examples are right")


def probe_a11(a11: ModuleType) -> None:
    """Every Linear wrapped, the same output at init, the alpha / rank scale, only A and B trainable."""
    model = _probe_model()
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 1]])
    with torch.no_grad():
        before = model(x)
    n_linear = sum(isinstance(m, nn.Linear) for m in model.modules())
    a11.replace_linear_with_lora(model, 2, 6.0)
    wrapped = [m for m in model.modules() if isinstance(m, a11.LinearWithLoRA)]
    inner = {id(m.linear) for m in wrapped}
    bare = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and id(m) not in inner]
    if len(wrapped) != n_linear or bare:
        raise ProbeFailed(f"replace_linear_with_lora wrapped {len(wrapped)} of the {n_linear} nn.Linear layers "
                          f"(left as they were: {bare})")
    with torch.no_grad():
        if not torch.allclose(model(x), before, atol=1e-6):
            raise ProbeFailed("replace_linear_with_lora changed the model's output before any training "
                              "(B must start at zero)")
        lora = wrapped[0].lora
        lora.B.copy_(torch.randn_like(lora.B))
        h = torch.randn(3, lora.A.shape[0])
        want = wrapped[0].linear(h) + (6.0 / 2) * (h @ lora.A @ lora.B)
        if not torch.allclose(wrapped[0](h), want, atol=1e-5):
            raise ProbeFailed("LinearWithLoRA(x) is not linear(x) + (alpha / rank) * x @ A @ B")
    a11.freeze_except_lora(model)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    expected = {id(p) for m in model.modules() if isinstance(m, a11.LoRALayer) for p in (m.A, m.B)}
    if trainable != expected:
        raise ProbeFailed(f"freeze_except_lora leaves {len(trainable)} parameters trainable; only the "
                          f"{len(expected)} LoRA matrices A and B should be")


# -- fine-tuning -----------------------------------------------------------------------------------------

@dataclass
class Result:
    model: nn.Module
    start: dict[str, torch.Tensor]  # the weights just before fine-tuning
    lora_names: set[str]  # the LoRA matrices' parameter names
    trainable: int
    total: int
    before: tuple[float, float]  # (training accuracy, test accuracy)
    after: tuple[float, float]
    seconds: float


def finetune(args: argparse.Namespace) -> Result:
    a09, who09 = pick("a09_classification", Path(args.path), probe_a09)
    a11, who11 = pick("a11_lora", Path(args.path), probe_a11)
    print(f"a09: {who09}\na11: {who11}")
    train, test = make_task(CORPUS.read_text(encoding="utf-8"))
    tokenizer = WordTokenizer([s for s, _ in train])
    print(f"task: spoken (1) or narrated (0)? {len(train)} training and {len(test)} test sentences from "
          f"{CORPUS.name}, half of each class; {len(tokenizer.words)} words in the vocabulary")
    print(f"  e.g. spoken:   {next(s for s, y in train if y == 1)!r}\n"
          f"       narrated: {next(s for s, y in train if y == 0)!r}")

    def loader(examples: list[tuple[str, int]], shuffle: bool) -> DataLoader:
        data = a09.ClassificationDataset([s for s, _ in examples], [y for _, y in examples], tokenizer,
                                         max_length=args.max_length, pad_token_id=PAD)
        return DataLoader(data, batch_size=16, shuffle=shuffle, drop_last=shuffle)

    torch.manual_seed(args.seed)
    train_loader, train_eval, test_loader = loader(train, True), loader(train, False), loader(test, False)
    model = ToyGPT(len(tokenizer.words), args.max_length, args.emb_dim, n_layers=2)  # random weights
    a09.prepare_for_classification(model, 2)
    a11.replace_linear_with_lora(model, args.rank, args.alpha)
    a11.freeze_except_lora(model)
    lora_names = {f"{name}.{ab}" for name, m in model.named_modules() if isinstance(m, a11.LoRALayer) for ab in "AB"}
    params = [p for p in model.parameters() if p.requires_grad]
    trainable, total = sum(p.numel() for p in params), sum(p.numel() for p in model.parameters())
    print(f"model: ToyGPT with random weights, emb_dim {args.emb_dim}, a two-class head; LoRA rank {args.rank}, "
          f"alpha {args.alpha:g}: {trainable:,} trainable parameters of {total:,} ({100 * trainable / total:.1f}%)")

    def accuracy() -> tuple[float, float]:
        return tuple(a09.calc_accuracy_loader(d, model, "cpu", pad_token_id=PAD) for d in (train_eval, test_loader))

    before = accuracy()
    print(f"before fine-tuning: training accuracy {before[0]:.1%}, test accuracy {before[1]:.1%} (chance: 50%)")
    start = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            loss = a09.calc_loss_batch_classifier(inputs, labels, model, "cpu", pad_token_id=PAD)
            loss.backward()
            optimizer.step()
        acc = accuracy()
        print(f"  epoch {epoch}: last batch loss {loss.item():.3f}, training accuracy {acc[0]:.1%}, "
              f"test accuracy {acc[1]:.1%}")
    seconds = time.perf_counter() - t0
    print(f"after fine-tuning ({args.epochs} epochs, {seconds:.1f} s): training accuracy {acc[0]:.1%}, "
          f"test accuracy {acc[1]:.1%}")
    moved = sorted(n for n, w in model.state_dict().items() if not torch.equal(w, start[n]))
    others = [n for n in moved if n not in lora_names]
    print(f"weights that changed: {len(moved)} LoRA matrices" if not others
          else f"WARNING: weights outside LoRA changed: {others}")
    return Result(model, start, lora_names, trainable, total, before, acc, seconds)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--path", default="assignments", help="folder with your aNN_*.py files (default: assignments)")
    p.add_argument("--epochs", type=int, default=8, help="passes over the training sentences (default: 8)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default: 8)")
    p.add_argument("--alpha", type=float, default=8.0, help="LoRA alpha; the update is scaled by alpha / rank "
                                                              "(default: 8)")
    p.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate (default: 0.01)")
    p.add_argument("--emb-dim", type=int, default=64, help="the model's width (default: 64)")
    p.add_argument("--max-length", type=int, default=32, help="words per sentence, the rest cut (default: 32)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for flag in ("epochs", "rank", "emb_dim", "max_length"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')}={getattr(args, flag)} must be at least 1")
    if not args.lr > 0:
        p.error(f"--lr={args.lr} must be positive")
    if not Path(args.path).is_dir():
        p.error(f"--path {args.path!r} is not a folder of aNN_*.py files")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # tiny matrices: one thread is several times faster than two that wait for each other
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        finetune(args)
    finally:
        torch.set_num_threads(threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
