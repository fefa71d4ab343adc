"""The curriculum's assignment IDs, how users may spell them, and where their suites live."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing checks pulls in torch; the CLI wants to start the worker first
    from .checks import Suite

CURRICULUM = (
    "a01_tokenizer", "a02_data", "a03_attention", "a04_gpt_blocks", "a05_gpt_model", "a06_loss",
    "a07_training", "a08_decoding", "a09_classification", "a10_instruction", "a11_lora",
    "a12_kv_cache", "a13_llama", "a14_dpo",
)
SUITES_DIR = Path(__file__).resolve().parent / "suites"


@dataclass(frozen=True)
class Uses:
    """This assignment's public names `by` run the public names `names` of the earlier assignment `dep`."""
    dep: str
    names: tuple[str, ...]
    by: tuple[str, ...]


# The one declaration of "aNN uses aMM": which of an assignment's names run which earlier names.
# Checks derive what earlier learner code they run from their targets; the blame note, the notebook
# setup cell and tests/test_assignments.py (which compares it with the solutions' imports) read it.
DEPENDENCIES: dict[str, tuple[Uses, ...]] = {
    "a04_gpt_blocks": (Uses("a03_attention", ("MultiHeadAttention",), by=("TransformerBlock",)),),
    "a05_gpt_model": (Uses("a04_gpt_blocks", ("LayerNorm", "TransformerBlock"),
                           by=("GPTModel",)),),  # generate_text_simple runs whatever model it is given
    "a07_training": (Uses("a05_gpt_model", ("generate_text_simple",), by=("train_model_simple", "train_model")),
                     # the module's demo (its __main__ block, not graded) trains a GPTModel on a02's loaders
                     Uses("a02_data", ("create_dataloader_v1",), by=()), Uses("a05_gpt_model", ("GPTModel",), by=()),
                     Uses("a06_loss", ("calc_loss_batch", "calc_loss_loader", "text_to_token_ids", "token_ids_to_text"),
                          by=("evaluate_model", "train_model_simple", "train_model"))),
    "a12_kv_cache": (Uses("a04_gpt_blocks", ("FeedForward", "LayerNorm"),
                          by=("TransformerBlockCached", "GPTModelCached", "generate_text_simple_cached")),),
}


def imports(aid: str) -> list[str]:
    """The earlier assignments whose learner modules `aid`'s module imports itself, in curriculum order."""
    direct = {use.dep for use in DEPENDENCIES.get(aid, ())}
    return [a for a in CURRICULUM if a in direct]


def depends_on(aid: str) -> list[str]:
    """Every earlier assignment whose learner code `aid` imports, directly or not, in curriculum order."""
    found: set[str] = set()
    todo = [aid]
    while todo:
        for use in DEPENDENCIES.get(todo.pop(), ()):
            if use.dep not in found:
                found.add(use.dep)
                todo.append(use.dep)
    return [a for a in CURRICULUM if a in found]


def runs(aid: str, targets: tuple[str, ...]) -> dict[str, set[str]]:
    """The earlier assignments' public names that calling `targets` of `aid` runs, transitively."""
    out: dict[str, set[str]] = {}
    todo = [(aid, set(targets))]
    while todo:
        here, names = todo.pop()
        for use in DEPENDENCIES.get(here, ()):
            if names & set(use.by):
                new = set(use.names) - out.get(use.dep, set())
                if new:
                    out.setdefault(use.dep, set()).update(new)
                    todo.append((use.dep, new))
    return out


class UsageError(Exception):
    """Bad command-line input: the CLI prints it and exits with status 2."""


def available() -> list[str]:
    """Assignments that have a check suite in this installation, in curriculum order."""
    return [a for a in CURRICULUM if (SUITES_DIR / f"{a}.py").is_file()]


def resolve(token: str) -> str:
    """`a03_attention`, `a03`, `a3`, `03`, `3` or `attention` -> `a03_attention`."""
    t = token.strip().lower().removesuffix(".py")
    for aid in CURRICULUM:
        number, name = aid.split("_", 1)
        if t in (aid, number, number[1:], str(int(number[1:])), f"a{int(number[1:])}", name):
            if aid not in available():
                raise UsageError(f"assignment {token!r} ({aid}) has no checks yet; available: "
                                 f"{', '.join(available())}")
            return aid
    raise UsageError(f"unknown assignment {token!r}; use an ID like a03_attention, a03, a3, 03 or attention "
                     f"(available: {', '.join(available())})")


def resolve_all(tokens: list[str] | None) -> list[str]:
    """Resolve IDs (all available ones when none are given), de-duplicated, in curriculum order."""
    if not tokens:
        return available()
    wanted = {resolve(t) for t in tokens}
    return [a for a in CURRICULUM if a in wanted]


def hidden_available() -> bool:
    """False in a learner kit, which ships without the hidden suites and the reference."""
    try:
        return importlib.util.find_spec("autograder.hidden") is not None
    except ImportError:  # an import hook that refuses it counts as absent
        return False


def load_suite(aid: str, *, hidden: bool) -> "Suite":
    """The suite of `aid`, with its hidden checks registered when `hidden` and they are installed."""
    public = importlib.import_module(f"autograder.suites.{aid}")
    if hidden:
        if not hidden_available():
            raise UsageError("the hidden checks are not installed here (a learner kit has public checks only); "
                             "use `scratchgrad check`")
        importlib.import_module(f"autograder.hidden.{aid}")
    return public.SUITE
