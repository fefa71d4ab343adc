"""Text edits that turn a solution file into a mutant or a correct alternative."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edit:
    """Replace `old` by `new`; `old` must occur exactly `count` times in the source."""

    old: str
    new: str
    count: int = 1


@dataclass(frozen=True)
class Variant:
    """A named set of edits: a learner mistake (mutant) or a correct alternative.

    `hint` is a substring the grader's feedback (a hint, or the failure message) should contain, or None.
    `may_lose` (alternatives only): the checks this correct alternative may fail, each about something
    the contract adds to the book (say, LayerNorm's `eps` argument); every other check must pass.
    `other`: edits to earlier assignments' files, by assignment id (a05 written with the book's a04 GELU).
    """

    name: str
    why: str
    edits: list[Edit]
    hint: str | None = None
    may_lose: tuple[str, ...] = ()
    other: dict[str, list[Edit]] = field(default_factory=dict)


def apply(source: str, variant: Variant) -> str:
    """Apply `variant`'s edits to `source`, in order.

    Raises:
        ValueError: an edit's `old` text occurs a different number of times than its `count`.
    """
    return apply_edits(source, variant.edits, variant.name)


def apply_edits(source: str, edits: list[Edit], name: str) -> str:
    """Apply `edits` to `source`, in order (`name` names the variant in the error)."""
    for i, edit in enumerate(edits):
        found = source.count(edit.old)
        if found != edit.count:
            raise ValueError(
                f"variant {name!r}, edit {i}: expected {edit.count} occurrence(s) of "
                f"{edit.old!r}, found {found}"
            )
        source = source.replace(edit.old, edit.new)
    return source
