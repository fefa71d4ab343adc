"""The interpreter for the small step programs the grader sends to the worker.

A program is data, not code: a list of steps (import a learner module, build an object, load
weights, call it, back-propagate, collect gradients) and a dict of values to return. Checks build
programs with :class:`autograder.program.Program`; this module runs them. It imports only the
standard library and torch, because it runs next to learner code.
"""

from __future__ import annotations

import importlib
import sys
import os
import traceback
from typing import Any

import torch
from torch import nn

from .banned import BanRecorder
from .values import Raised, decode, dtype_from_name, encode


class ContractError(Exception):
    """The learner's object does not have the shape the curriculum promises (names, parameters)."""


class SoftTimeout(BaseException):
    """Raised inside learner code when a request runs out of time (BaseException: `except Exception` can't eat it)."""


def where(exc: BaseException, roots: list[str]) -> str:
    """The innermost traceback frame inside the learner's files, as `file.py:LINE in func`."""
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.realpath(frame.filename)
        if any(path.startswith(root + os.sep) for root in roots):
            found = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
    return found


def load_weights(module: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load the grader's weights by name; extra buffers of the learner (a causal mask) are fine."""
    own = module.state_dict(keep_vars=True)
    params = dict(module.named_parameters(remove_duplicate=False))
    kind = type(module).__name__
    missing = sorted(k for k in weights if k not in own)
    if missing:
        raise ContractError(
            f"{kind} has no parameter {missing[0]!r}; it has {sorted(params) or 'no parameters'} "
            f"(expected {sorted(weights)})")
    extra = sorted(k for k in params if k not in weights)
    if extra:
        raise ContractError(f"{kind} has an unexpected parameter {extra[0]!r} (expected {sorted(weights)})")
    holder: dict[int, str] = {}
    for k in sorted(weights):  # a fixed order: the same submission always gets the same message
        if tuple(own[k].shape) != tuple(weights[k].shape):
            raise ContractError(f"{kind}.{k} has shape {tuple(own[k].shape)}, expected {tuple(weights[k].shape)}")
        first = holder.setdefault(id(own[k]), k)
        if first != k and not torch.equal(weights[first], weights[k]):
            raise ContractError(f"{kind}.{k} is the same tensor as {kind}.{first}; they must be separate "
                                f"parameters (create a new module for each)")
    with torch.no_grad():
        for k in sorted(weights):
            own[k].copy_(weights[k].to(own[k].dtype))


def _resolve(obj: Any, attr: str | None) -> Any:
    for part in (attr.split(".") if attr else []):
        obj = getattr(obj, part)
    return obj


class Interpreter:
    """Runs one program; `env` maps names to objects (payload tensors, modules, results)."""

    def __init__(self, tensors: dict[str, torch.Tensor], banned: list[str], roots: list[str]) -> None:
        self.env: dict[str, Any] = dict(tensors)
        self.roots = roots
        self.recorder = BanRecorder(banned)

    def value(self, spec: Any) -> Any:
        return decode(spec, {}, self.env.__getitem__)

    def run(self, program: dict[str, Any]) -> dict[str, Any]:
        for index, step in enumerate(program["steps"]):
            try:
                result = self.step(step)
            except SoftTimeout:
                raise
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from learner code included
                raised = Raised(type(exc).__name__, str(exc)[:2000], where(exc, self.roots))
                if not step.get("catch"):
                    return {"status": "raised", "step": index, "op": step["op"], "error": raised}
                result = raised
            if step.get("as"):
                self.env[step["as"]] = result
        returns = {k: self.value(v) for k, v in program.get("returns", {}).items()}
        return {"status": "ok", "returns": returns}

    def step(self, step: dict[str, Any]) -> Any:
        op = step["op"]
        if op in ("import", "call") and step.get("learner", True):
            with self.recorder:
                return self._learner_step(step)
        if op == "import":  # a module of the runtime itself (toy models, tokenizers)
            if not step["module"].startswith("_sg_runtime."):
                raise ValueError(f"only runtime modules may be imported with learner=False, not {step['module']!r}")
            # relative to this package: `_sg_runtime` in the worker, `autograder.runtime` in-process
            return importlib.import_module(step["module"].removeprefix("_sg_runtime"), __package__)
        if op == "call":
            return self._learner_step(step)
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise ValueError(f"unknown program op {op!r}")
        return handler(step)

    def _learner_step(self, step: dict[str, Any]) -> Any:
        if step["op"] == "import":
            # imported once per worker (one worker serves one submission): re-importing would
            # recompile the learner's source for every program. The first import may follow a refill
            # of the modules' folder (autograder.worker.Worker.refill): forget its stale listing.
            if step["module"] not in sys.modules:
                importlib.invalidate_caches()
            return importlib.import_module(step["module"])
        fn = _resolve(self.value(step["fn"]), step.get("attr"))
        args = self.value(step.get("args", []))
        kwargs = {k: self.value(v) for k, v in step.get("kwargs", {}).items()}
        with torch.set_grad_enabled(not step.get("no_grad", False)):
            if "repeat" in step:
                result: Any = [fn(*args, **kwargs) for _ in range(step["repeat"])]
            else:
                result = fn(*args, **kwargs)
        if isinstance(result, nn.Module):
            self.recorder.inspect(result)
        return result

    def op_getattr(self, step: dict[str, Any]) -> Any:
        return _resolve(self.value(step["obj"]), step["attr"])

    def op_to(self, step: dict[str, Any]) -> Any:
        obj = self.value(step["obj"])
        return obj.to(dtype_from_name(step["dtype"]))

    def op_load(self, step: dict[str, Any]) -> None:
        prefix = step["prefix"]
        weights = {k[len(prefix):]: v for k, v in self.env.items()
                   if isinstance(k, str) and k.startswith(prefix) and isinstance(v, torch.Tensor)}
        load_weights(self.value(step["obj"]), weights)

    def op_train(self, step: dict[str, Any]) -> None:
        self.value(step["obj"]).train(step["mode"])

    def op_seed(self, step: dict[str, Any]) -> None:
        torch.manual_seed(step["value"])

    def op_leaf(self, step: dict[str, Any]) -> None:
        for name in step["names"]:
            self.env[name] = self.env[name].detach().clone().requires_grad_(True)

    def op_backward(self, step: dict[str, Any]) -> None:
        outputs = [self.value(v) for v in step["outputs"]]
        grads = [self.value(v) for v in step["grads"]]
        for i, (out, grad) in enumerate(zip(outputs, grads)):
            if not isinstance(out, torch.Tensor):
                raise ContractError(f"expected a tensor to back-propagate from, got {type(out).__name__}")
            if not out.requires_grad:
                raise ContractError("the output does not require grad: it was computed without autograd "
                                    "(detached, computed under no_grad, or rebuilt from .data/.numpy())")
            if out.shape != grad.shape:
                raise ContractError(f"output {i} has shape {tuple(out.shape)}, but the upstream gradient has shape "
                                    f"{tuple(grad.shape)} (the reference output's)")
        # backward(outputs, grads) with explicit upstream gradients makes torch import sympy (~1 s of CPU in
        # every worker, so every student); the same vector-Jacobian product, from one scalar, does not
        if not outputs:
            return
        total = sum((out * grad.to(out.dtype)).sum() for out, grad in zip(outputs, grads))
        with self.recorder:
            torch.autograd.backward([total])

    def op_grads(self, step: dict[str, Any]) -> dict[str, Any]:
        inputs = [self.value(v) for v in step.get("inputs", [])]
        out: dict[str, Any] = {"inputs": [t.grad for t in inputs]}
        if step.get("module") is not None:
            module = self.value(step["module"])
            out["params"] = {name: p.grad for name, p in module.named_parameters()}
        return out

    def op_state(self, step: dict[str, Any]) -> dict[str, torch.Tensor]:
        module = self.value(step["obj"])
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    def op_params(self, step: dict[str, Any]) -> dict[str, list[int]]:
        module = self.value(step["obj"])
        return {k: list(p.shape) for k, p in module.named_parameters()}

    def op_trainable(self, step: dict[str, Any]) -> dict[str, bool]:
        module = self.value(step["obj"])
        return {k: bool(p.requires_grad) for k, p in module.named_parameters()}


def execute(program: dict[str, Any], tensors: dict[str, torch.Tensor], roots: list[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run ``program``; return the response header and its tensors (never raises for learner errors)."""
    interp = Interpreter(tensors, program.get("banned", []), roots)
    outcome = interp.run(program)
    out_tensors: dict[str, torch.Tensor] = {}
    header = {k: v for k, v in outcome.items() if k not in ("returns", "error")}
    if "returns" in outcome:
        header["returns"] = encode(outcome["returns"], out_tensors, "r")
    if "error" in outcome:
        header["error"] = encode(outcome["error"], out_tensors, "e")
    header["banned_calls"] = interp.recorder.report()
    return header, out_tensors
