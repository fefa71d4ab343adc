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


# -- the integrity rule set -------------------------------------------------------------------
# What an honest solution never needs, whatever the assignment: ways to reach the worker's own
# machinery (its frames, its protocol pipes, the run-time ban recorder), to run text as code, or to
# name an attribute the scan cannot see. Learner code runs in the same process as the runtime, so
# these rules, not the runtime, are what keep it from patching the recorder or forging answers.
# a01's tokenizer uses `regex`; solutions use math, collections, itertools, dataclasses, typing, json:
# none is here. tests/test_scan.py runs these rules over every solution, stub and bank variant.
FLAGGED_MODULES = frozenset({
    "os", "sys", "io", "ctypes", "_ctypes", "cffi", "gc", "inspect", "importlib", "builtins", "signal", "socket",
    "subprocess", "threading", "_thread", "multiprocessing", "concurrent", "asyncio", "pickle", "_pickle",
    "marshal", "copyreg", "shelve", "dill", "cloudpickle", "posix", "nt", "pty", "mmap", "fcntl", "resource",
    "pathlib", "shutil", "tempfile", "faulthandler", "tracemalloc", "code", "codeop", "runpy", "pkgutil",
    "zipimport", "pdb", "bdb", "timeit", "doctest", "unittest", "pydoc", "_sg_runtime", "autograder",
    # each runs text as code, as exec does: site (.pth lines), imp (a file), trace, profile and cProfile
    # (runctx), rlcompleter (eval); logging.config too (FLAGGED_PATHS: it evaluates its file's arguments),
    # while logging itself stays allowed (a learner may log to stderr)
    "site", "imp", "trace", "profile", "cProfile", "rlcompleter",
})
# the C-level twins of flagged modules: every module named with one leading underscore (`_io` for io,
# `_imp` for importlib, `_posixsubprocess`, `_socket`, `_signal`, `_testcapi`...) is flagged on import
# (PRIVATE_MODULE); these are also flagged as attributes (`torch.serialization._io` would not exist, but
# an object may hold one)
PRIVATE_TWINS = frozenset({"_io", "_imp", "_frozen_importlib", "_frozen_importlib_external", "_posixsubprocess",
                           "_socket", "_signal", "_multiprocessing", "_posixshmem", "_testcapi", "_testinternalcapi",
                           "_xxsubinterpreters", "_tracemalloc", "_lsprof", "_opcode"})
# attribute names that, on any object, lead to a flagged module (torch.serialization.os, np.sys);
# generic words a learner may well use as their own attribute names (torch.trace, a model's .profile)
# are left to the import rule
MODULE_ATTRS = (FLAGGED_MODULES - {"code", "nt", "resource", "timeit", "site", "imp", "trace", "profile"}) | PRIVATE_TWINS
FLAGGED_ATTRS = frozenset({
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__dict__", "__self__",
    "__getattribute__", "__import__", "__loader__", "__spec__", "f_back", "f_globals", "f_locals", "f_builtins",
    "f_code", "gi_frame", "cr_frame", "ag_frame", "tb_frame", "_getframe", "attrgetter", "methodcaller", "_C",
    # a name looked up from text (string.Formatter), native code and raw files (numpy, torch)
    "get_field", "ctypeslib", "load_library", "tofile", "fromfile", "from_file",
})
# what every stub's module docstring says about these rules (autograder.stubs adds it): a contract
# addition, so the learner reads it where they write their code
GRADED_CODE_NOTE = (
    "Graded code (all of this file but an `if __name__ == \"__main__\":` block) may use torch, math and\n"
    "the other modules an assignment needs, but not what reaches the grader's machinery: importing os,\n"
    "sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among\n"
    "others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or\n"
    "getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and\n"
    "names the line when it finds one; nothing in these assignments needs them."
)
# dunder names that, inside a string, reach the same places through format strings ("{0.__globals__}")
FLAGGED_IN_TEXT = tuple(sorted(a for a in FLAGGED_ATTRS if a.startswith("__")))
# builtins that run text as code, open files or hand out namespaces (flagged wherever they are named)
FLAGGED_BUILTINS = frozenset({"exec", "eval", "compile", "open", "__import__", "breakpoint", "globals", "vars",
                              "locals", "__builtins__", "__loader__", "__spec__"})
# `locals()` too: at module level it is the module's globals, and no solution needs it
COMPUTED_ATTR = frozenset({"getattr", "setattr", "delattr"})
WRITE_ATTR = frozenset({"setattr"})  # allowed with a computed name on anything but a module (visit_Call)
# torch internals: the C extension (DisableTorchFunction, the mode stack), compiled extensions,
# the function-mode machinery itself, raw operator and pickle entry points
FLAGGED_TORCH = ("torch._C", "torch.utils.cpp_extension", "torch.overrides", "torch.ops", "torch.library",
                 "torch.load", "torch.hub", "torch.package", "torch.multiprocessing")
FLAGGED_PATHS = (*FLAGGED_TORCH, "logging.config")


@dataclass(frozen=True)
class IntegrityFinding:
    file: str  # the file's name in the submission
    line: int
    construct: str  # e.g. "import of `os`"

    def message(self, own: str | None = None) -> str:
        where = f"line {self.line}" if self.file == own else f"{self.file}, line {self.line}"
        return f"{where}: {self.construct} — graded code may not use it; remove it"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "construct": self.construct}


def _literal(node: ast.expr) -> str | None:
    """`__name__` for that bare name, the repr of a string constant, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return repr(node.value)
    return None


def _path_rule(path: str) -> str | None:
    """The flagged dotted path `path` falls under (FLAGGED_PATHS, or a private torch name), or None."""
    for rule in FLAGGED_PATHS:
        if path == rule or path.startswith(rule + "."):
            return rule
    parts = path.split(".")
    if parts[0] != "torch":
        return None
    for i, part in enumerate(parts[1:], 1):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return ".".join(parts[: i + 1])
    return None


def private_module(top: str) -> bool:
    """`_io`, `_imp`, `_posixsubprocess`...: the interpreter's private modules (`__future__` is not one)."""
    return top.startswith("_") and not top.startswith("__") and top not in ("_sg_runtime",)


class _Integrity(ast.NodeVisitor):
    def __init__(self, file: str, local: frozenset[str] = frozenset()) -> None:
        self.file = file
        self.local = local  # the submission's own modules (scanned too, so `from a03_attention import *` is fine)
        self.aliases: dict[str, str] = {}
        self.findings: list[IntegrityFinding] = []
        self.local_imports: set[str] = set()  # top-level module names, to follow into the submission's other files
        self.literal_getattr: set[int] = set()  # ids of Name nodes called as getattr(obj, "literal")
        self.depth = 0  # inside a def, class or lambda

    def flag(self, node: ast.AST, construct: str) -> None:
        self.findings.append(IntegrityFinding(self.file, getattr(node, "lineno", 0), construct))

    def _module(self, node: ast.AST, path: str) -> None:
        top = path.split(".")[0]
        self.local_imports.add(top)
        if top in FLAGGED_MODULES or private_module(top):
            self.flag(node, f"import of `{top}`")
        elif (rule := _path_rule(path)) is not None:
            self.flag(node, f"import of `{rule}`")

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._module(node, a.name)
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "a relative import")  # graded modules are not a package: nothing honest needs it
            return
        module = node.module or ""
        self._module(node, module)
        for a in node.names:
            full = f"{module}.{a.name}"
            if module.split(".")[0] not in FLAGGED_MODULES and not private_module(module.split(".")[0]):
                if a.name == "*":
                    if module.split(".")[0] not in self.local:
                        self.flag(node, f"`from {module} import *`")  # names the scan could not follow
                elif a.name in FLAGGED_ATTRS or a.name in MODULE_ATTRS or a.name in FLAGGED_BUILTINS:
                    self.flag(node, f"import of `{full}`")
                elif (rule := _path_rule(full)) is not None:
                    self.flag(node, f"import of `{rule}`")
            self.aliases[a.asname or a.name] = full

    def _dotted(self, node: ast.expr) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FLAGGED_ATTRS:
            self.flag(node, f"attribute `.{node.attr}`")
        elif node.attr in MODULE_ATTRS:
            self.flag(node, f"attribute `.{node.attr}` (the `{node.attr}` module)")
        else:
            path = self._dotted(node)
            rule = _path_rule(path) if path else None
            if rule is not None and (path == rule or not isinstance(node.value, ast.Attribute)
                                     or _path_rule(self._dotted(node.value) or "") != rule):
                self.flag(node, f"`{rule}`")  # once per path, at its shortest flagged prefix
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        """`if __name__ == "__main__":` at the top level never runs when the worker imports the module.

        Its body (a learner's "try it" script: files, sys, plots) is not graded code, so it is not
        scanned; its `else` is. Rebinding `__name__` is flagged (visit_Name), so the test cannot be faked.
        """
        test = node.test
        main = (not self.depth and isinstance(test, ast.Compare) and len(test.ops) == 1
                and isinstance(test.ops[0], ast.Eq)
                and {_literal(test.left), _literal(test.comparators[0])} == {"__name__", "'__main__'"})
        if not main:
            self.generic_visit(node)
            return
        for child in node.orelse:
            self.visit(child)

    def _scope(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (isinstance(func, ast.Name) and func.id in WRITE_ATTR and len(node.args) == 3 and not node.keywords
                and not any(isinstance(a, ast.Starred) for a in node.args) and self._dotted(node.args[0]) is None):
            # setattr(model, name, LinearWithLoRA(...)): the book replaces submodules by name; a write
            # reads nothing, so on anything but a module it reaches no machinery
            self.literal_getattr.add(id(func))
        if isinstance(func, ast.Name) and func.id in COMPUTED_ATTR:
            name = node.args[1] if len(node.args) >= 2 else None
            plain = not any(isinstance(a, ast.Starred) for a in node.args) and not node.keywords
            if plain and isinstance(name, ast.Constant) and isinstance(name.value, str):
                self.literal_getattr.add(id(func))
                attr = name.value
                if attr in FLAGGED_ATTRS or attr in MODULE_ATTRS or attr.split(".")[0] in FLAGGED_BUILTINS:
                    self.flag(node, f"`{func.id}` of `{attr}`")
                else:
                    target = self._dotted(node.args[0]) if node.args else None
                    rule = _path_rule(f"{target}.{attr}") if target else None
                    if rule is not None:
                        self.flag(node, f"`{rule}`")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and any(name in node.value for name in FLAGGED_IN_TEXT):
            named = next(name for name in FLAGGED_IN_TEXT if name in node.value)
            self.flag(node, f"text naming `{named}`")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__name__" and not isinstance(node.ctx, ast.Load):
            self.flag(node, "rebinding `__name__`")
        if not isinstance(node.ctx, ast.Load):
            return
        if node.id in FLAGGED_BUILTINS:
            self.flag(node, f"use of `{node.id}`")
        elif node.id in COMPUTED_ATTR and id(node) not in self.literal_getattr:
            self.flag(node, f"`{node.id}` with a computed attribute name")


def integrity_source(source: str, file: str = "<source>",
                     local: frozenset[str] = frozenset()) -> tuple[list[IntegrityFinding], set[str]]:
    """Integrity findings in `source`, and the top-level modules it imports; raises SyntaxError.

    `local`: the submission's own module names, whose star imports are followed rather than flagged.
    """
    visitor = _Integrity(file, local)
    visitor.visit(ast.parse(source))
    unique = {(f.line, f.construct): f for f in visitor.findings}
    return sorted(unique.values(), key=lambda f: (f.line, f.construct)), visitor.local_imports


def integrity_scan(root: Path, module: str) -> list[IntegrityFinding]:
    """Findings in `module`.py under `root` and in every module of `root` it imports, directly or not.

    These are the bytes the worker imports for `module`: its own file and the submission's other
    files it pulls in (an earlier assignment's module, a helper file). A file that does not parse is
    left to the stage that reports syntax errors.
    """
    findings: list[IntegrityFinding] = []
    seen: set[str] = set()
    local = frozenset(p.stem for p in root.glob("*.py")) | frozenset(p.parent.name for p in root.glob("*/__init__.py"))
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = root / f"{name}.py"
        if not path.is_file():
            path = root / name / "__init__.py"
            if not path.is_file():
                continue
        rel = path.relative_to(root).as_posix()
        try:
            found, imports = integrity_source(path.read_text(encoding="utf-8", errors="replace"), rel, local)
        except (SyntaxError, ValueError):  # ValueError: a null byte in the source
            continue
        findings += found
        todo += sorted(imports - seen)
    return findings
