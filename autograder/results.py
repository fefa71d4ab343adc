"""What grading produces, importable without torch: the result dataclasses and their literals.

Every exporter (report, gradescope, batch, classreport, nbgrader_course) types against these; the
engine (checks.py, grading.py) fills them in. Nothing here imports torch or the engine, so a tool
that only reads or renders reports starts fast and works where torch is absent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

Visibility = Literal["public", "hidden"]
Kind = Literal["differential", "property", "snapshot", "integrity"]
Status = Literal["passed", "failed", "error", "timeout", "skipped"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "hidden")
KINDS: tuple[Kind, ...] = ("differential", "property", "snapshot", "integrity")
STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "timeout", "skipped")
NOT_IMPLEMENTED = "not implemented yet"  # the start of a stub's message; the field below is what code reads


@dataclass
class CheckResult:
    name: str
    status: Status
    score: float
    max_score: float
    visibility: Visibility
    kind: Kind
    description: str
    message: str = ""
    counterexample: dict[str, Any] | None = None
    hint: str | None = None
    output: str = ""
    elapsed_s: float = 0.0
    grader_fault: bool = False
    # the learner's code raised NotImplementedError (an untouched stub): nothing to explain, no example
    not_implemented: bool = False
    # the files of learner code named by the traceback of what the learner's code raised, if it raised
    raised_in: tuple[str, ...] = ()


def _json_safe(value: Any) -> Any:
    """Strict JSON has no NaN or Infinity: such values (say, in a public counterexample) become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


@dataclass
class AssignmentResult:
    id: str
    checks: list[CheckResult]
    error: str | None = None
    integrity: list[dict[str, Any]] = field(default_factory=list)  # integrity-scan findings: file, line, construct

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 6)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "score": self.score, "max_score": self.max_score, "checks": [
            {"name": c.name, "status": c.status, "score": c.score, "max_score": c.max_score,
             "visibility": c.visibility, "kind": c.kind, "description": c.description, "message": c.message,
             "counterexample": c.counterexample, "hint": c.hint, "output": c.output, "elapsed_s": c.elapsed_s,
             "not_implemented": c.not_implemented}
            for c in self.checks]}
        if self.error:
            out["error"] = self.error
        if self.integrity:
            out["integrity"] = self.integrity
        return out


@dataclass
class Report:
    submission: str
    assignments: list[AssignmentResult]
    grader: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(a.score for a in self.assignments), 6)

    @property
    def max_score(self) -> float:
        return round(sum(a.max_score for a in self.assignments), 6)

    @property
    def grader_faults(self) -> int:
        return sum(c.grader_fault for a in self.assignments for c in a.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"submission": self.submission, "score": self.score, "max_score": self.max_score,
                "assignments": [a.to_dict() for a in self.assignments], "grader": self.grader}

    def to_json(self) -> str:
        return json.dumps(_json_safe(self.to_dict()), indent=2, allow_nan=False, default=str)


def not_implemented(check: dict[str, Any]) -> bool:
    """For a check read back from a JSON report: the field, or (reports written before it) the message."""
    if "not_implemented" in check:
        return bool(check["not_implemented"])
    return (check.get("message") or "").startswith(NOT_IMPLEMENTED)
