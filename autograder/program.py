"""Build the step programs that run learner code in the worker (see autograder.runtime.programs).

    p = Program("a03_attention")
    mha = p.new("MultiHeadAttention", d_in=8, d_out=8, context_length=4, dropout=0.0, num_heads=2)
    p.to(mha, torch.float64); p.load(mha, reference_module.state_dict()); p.train(mha, False)
    x = p.leaf("x", x_value)
    out = p.call(mha, x)
    p.backward(out, upstream)
    p.returns(out=out, grads=p.grads([x], module=mha))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .runtime.values import dtype_name


@dataclass(frozen=True)
class Ref:
    """A name for an object that exists only inside the worker."""
    name: str

    def spec(self) -> dict[str, str]:
        return {"$ref": self.name}


class Program:
    """A program for one learner module; every builder method appends one step."""

    def __init__(self, module: str, *, banned: list[str] | tuple[str, ...] = ()) -> None:
        self.module_name = module
        self.steps: list[dict[str, Any]] = []
        self.tensors: dict[str, torch.Tensor] = {}
        self._returns: dict[str, Any] = {}
        self._n = 0
        self.banned = list(banned)
        self.module = self._add({"op": "import", "module": module})

    def _fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}{self._n}"

    def _add(self, step: dict[str, Any], *, keep: bool = True) -> Ref:
        ref = Ref(self._fresh(step["op"]))
        if keep:
            step["as"] = ref.name
        self.steps.append(step)
        return ref

    def value(self, v: Any) -> Any:
        """Encode an argument: refs by name, tensors into the payload, the rest as JSON."""
        if isinstance(v, Ref):
            return v.spec()
        if isinstance(v, torch.Tensor):
            name = self._fresh("t")
            self.tensors[name] = v.detach()
            return {"$ref": name}
        if isinstance(v, torch.dtype):
            return {"$dtype": dtype_name(v)}
        if isinstance(v, tuple):
            return {"$tuple": [self.value(x) for x in v]}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, (bytes, bytearray)):
            return {"$bytes": bytes(v).hex()}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"$dict": {k: self.value(x) for k, x in v.items()}}
        if isinstance(v, dict):
            return {"$map": [[self.value(k), self.value(x)] for k, x in v.items()]}
        return v

    # -- steps ------------------------------------------------------------------------------
    def attr(self, name: str) -> Ref:
        """A public name of the learner's module, e.g. ``p.attr("softmax")``."""
        return self._add({"op": "getattr", "obj": self.module.spec(), "attr": name})

    def runtime(self, name: str) -> Ref:
        """A helper module of the worker's runtime (``autograder/runtime/NAME.py``), e.g. toy models.

        Its objects are the grader's, not the learner's: call them with ``learner=False``.
        """
        return self._add({"op": "import", "module": f"_sg_runtime.{name}", "learner": False})

    def call(self, fn: Ref | str, *args: Any, method: str | None = None, catch: bool = False,
             no_grad: bool = False, repeat: int | None = None, learner: bool = True, **kwargs: Any) -> Ref:
        """Call learner code: ``fn`` is a Ref (an object in the worker) or a public name of the module.

        ``learner=False`` marks a call of the runtime's own helpers: banned-API recording is off for it.
        """
        target = self.module.spec() if isinstance(fn, str) else fn.spec()
        attr = fn if isinstance(fn, str) else None
        if method:
            attr = f"{attr}.{method}" if attr else method
        step: dict[str, Any] = {"op": "call", "fn": target, "attr": attr,
                                "args": [self.value(a) for a in args],
                                "kwargs": {k: self.value(v) for k, v in kwargs.items()}}
        if catch:
            step["catch"] = True
        if no_grad:
            step["no_grad"] = True
        if repeat is not None:
            step["repeat"] = repeat
        if not learner:
            step["learner"] = False
        return self._add(step)

    def new(self, cls: str, *args: Any, catch: bool = False, **kwargs: Any) -> Ref:
        """Construct a learner class by its public name."""
        return self.call(cls, *args, catch=catch, **kwargs)

    def tensor(self, name: str, value: torch.Tensor) -> Ref:
        self.tensors[name] = value.detach()
        return Ref(name)

    def leaf(self, name: str, value: torch.Tensor) -> Ref:
        """A tensor the program will take gradients with respect to."""
        ref = self.tensor(name, value)
        self.steps.append({"op": "leaf", "names": [name]})
        return ref

    def get(self, obj: Ref, attr: str, *, catch: bool = False) -> Ref:
        """An attribute (dotted path) of an object in the worker, e.g. ``p.get(model, "seen_lengths")``;
        with `catch`, a missing one (or an object that is an earlier caught error) gives the error as its value."""
        step: dict[str, Any] = {"op": "getattr", "obj": obj.spec(), "attr": attr}
        if catch:
            step["catch"] = True
        return self._add(step)

    def item(self, obj: Ref, key: Any) -> Ref:
        """`obj[key]` (an item of a returned tuple or dict), caught: an object without it gives the error."""
        return self.call(obj, key, method="__getitem__", catch=True, learner=False)

    def to(self, obj: Ref, dtype: torch.dtype) -> None:
        self.steps.append({"op": "to", "obj": obj.spec(), "dtype": dtype_name(dtype), "as": obj.name})

    def load(self, obj: Ref, state: dict[str, torch.Tensor]) -> None:
        prefix = self._fresh("w") + "."
        for k, v in state.items():
            self.tensors[prefix + k] = v.detach()
        self.steps.append({"op": "load", "obj": obj.spec(), "prefix": prefix})

    def train(self, obj: Ref, mode: bool = True) -> None:
        self.steps.append({"op": "train", "obj": obj.spec(), "mode": mode})

    def seed(self, value: int) -> None:
        self.steps.append({"op": "seed", "value": value})

    def backward(self, outputs: Ref | list[Ref], grads: torch.Tensor | list[torch.Tensor], *,
                 catch: bool = False) -> Ref:
        """Back-propagate; with `catch`, an error is kept as the step's value instead of ending the run."""
        outs = outputs if isinstance(outputs, list) else [outputs]
        gs = grads if isinstance(grads, list) else [grads]
        return self._add({"op": "backward", "outputs": [o.spec() for o in outs],
                          "grads": [self.value(g) for g in gs], "catch": catch})

    def grads(self, inputs: list[Ref], module: Ref | None = None, *, catch: bool = False) -> Ref:
        return self._add({"op": "grads", "inputs": [i.spec() for i in inputs],
                          "module": module.spec() if module else None, "catch": catch})

    def params(self, obj: Ref) -> Ref:
        """Names and shapes of the parameters of a learner module."""
        return self._add({"op": "params", "obj": obj.spec()})

    def trainable(self, obj: Ref) -> Ref:
        """Parameter name -> requires_grad, for a learner module."""
        return self._add({"op": "trainable", "obj": obj.spec()})

    def state(self, obj: Ref) -> Ref:
        return self._add({"op": "state", "obj": obj.spec()})

    def returns(self, **values: Any) -> "Program":
        self._returns.update({k: self.value(v) for k, v in values.items()})
        return self

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "returns": self._returns, "banned": self.banned}
