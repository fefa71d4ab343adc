"""Static scan of a learner's source for banned APIs (the run-time half is runtime/banned.py).

Reads the file with `ast`; never imports or runs it. Import aliases are followed
(`import torch.nn.functional as F; F.softmax`, `from torch import softmax`), and a ban may be
scoped to one function or class (`softmax` may not call `torch.softmax`, the classes may).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ban:
    """`api` may not be used inside `scope` (a qualname like "softmax" or "LayerNorm"; None: anywhere).

    With `module=True`, `api` names a module (e.g. "tiktoken"): importing it or anything inside it,
    and using any name it holds, is banned.
    """
    api: str
    scope: str | None = None
    module: bool = False

    def matches(self, name: str) -> bool:
        return name == self.api or (self.module and name.startswith(self.api + "."))

    def applies_to(self, qualname: str) -> bool:
        return self.scope is None or qualname == self.scope or qualname.startswith(self.scope + ".")

    def applies_to_targets(self, targets: tuple[str, ...]) -> bool:
        """At run time: does the ban hold while a check calls these public names?"""
        return self.scope is None or any(t == self.scope or t.startswith(self.scope + ".") for t in targets)


@dataclass(frozen=True)
class Finding:
    api: str
    line: int
    scope: str  # qualname of the enclosing def/class, "<module>" at top level

    def __str__(self) -> str:
        return f"line {self.line} (in {self.scope}): {self.api}"


class _Visitor(ast.NodeVisitor):
    def __init__(self, bans: list[Ban]) -> None:
        self.bans = bans
        self.aliases: dict[str, str] = {}
        self.stack: list[str] = []
        self.findings: list[Finding] = []

    def qualname(self) -> str:
        return ".".join(self.stack) or "<module>"

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._flag(a.name, node.lineno)  # only a module ban can name a whole module
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                top = a.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                self._flag(f"{node.module}.{a.name}", node.lineno)

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def _dotted(self, node: ast.expr) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def _flag(self, api: str, line: int) -> None:
        for ban in self.bans:
            if ban.matches(api) and ban.applies_to(self.qualname()):
                self.findings.append(Finding(api, line, self.qualname()))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self._dotted(node)
        if name is not None:
            self._flag(name, node.lineno)
        elif not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            # `x.softmax(...)` on something that is not a module: a tensor method (`self.softmax`
            # is the learner's own attribute; the run-time recorder sees what it really is)
            self._flag(f"torch.Tensor.{node.attr}", node.lineno)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases and isinstance(node.ctx, ast.Load):
            self._flag(self.aliases[node.id], node.lineno)


def scan_source(source: str, bans: list[Ban]) -> list[Finding]:
    """Banned-API uses in `source`; raises SyntaxError as Python would."""
    visitor = _Visitor(bans)
    visitor.visit(ast.parse(source))
    unique = {(f.api, f.line, f.scope): f for f in visitor.findings}
    return sorted(unique.values(), key=lambda f: f.line)


def scan_file(path: Path, bans: list[Ban]) -> list[Finding]:
    return scan_source(Path(path).read_text(encoding="utf-8", errors="replace"), bans)
