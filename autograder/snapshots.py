"""Public snapshot checks: the reference's outputs for fixed inputs and weights, stored as data.

A suite lists `SnapshotCase`s. `scratchgrad snapshots` (instructor side, needs reference/) runs the
reference on each case and writes `suites/snapshots/<aid>.safetensors`; the public check replays the
case on learner code and compares, so a self-paced learner gets exact feedback with no reference
on their machine. A test keeps the stored data in step with reference/.

Snapshots that are not tensor-in/tensor-out (text in, token windows out, ...) are stored as JSON in
`suites/snapshots/<aid>.json`: the suite module names a builder, `JSON_SNAPSHOTS(reference_module)
-> data`, and the same command and test write and check that file.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from .checks import Context
from .compare import FLOAT64, CheckFailure, Hints, Tolerance
from .strategies import make_tensor

if TYPE_CHECKING:
    from .checks import Suite

SNAPSHOT_DIR = Path(__file__).resolve().parent / "suites" / "snapshots"
# Stored floats are compared with a tolerance, never bit for bit: CPU kernels (AVX2, AVX-512, the
# portable one) round differently. Measured between PyTorch's AVX2 and default kernels on every stored
# snapshot: at most 1.8e-14 relative (tensors) and 1.6e-16 (JSON). 1e-12 leaves a wide margin and is
# still far tighter than the public checks' own tolerance (FLOAT64, rtol 1e-7).
STORED_RTOL, STORED_ATOL = 1e-12, 1e-15


@dataclass(frozen=True)
class SnapshotCase:
    """Call `target` (a class, built with `init` and given reference weights, or a function) on inputs."""
    name: str
    target: str
    inputs: dict[str, tuple[int, ...]]  # name -> shape; values come from make_tensor(shape, seed)
    init: dict[str, Any] | None = None  # constructor kwargs; None means `target` is a function
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra call kwargs (JSON values)
    seed: int = 0
    scale: float = 1.0
    ids_below: int | None = None  # set: the inputs are int64 token ids in [0, ids_below), not floats

    def make_inputs(self) -> dict[str, torch.Tensor]:
        if self.ids_below is not None:
            return {k: torch.randint(0, self.ids_below, shape, generator=torch.Generator().manual_seed(self.seed + i))
                    for i, (k, shape) in enumerate(self.inputs.items())}
        return {k: make_tensor(shape, self.seed + i, scale=self.scale) for i, (k, shape) in enumerate(self.inputs.items())}


def path_for(aid: str) -> Path:
    return SNAPSHOT_DIR / f"{aid}.safetensors"


def _weights(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Deterministic float64 weights of moderate size (not the module's own init: that differs by torch version)."""
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) * 0.5
            for k, v in module.state_dict().items()}


def compute(aid: str, cases: list[SnapshotCase]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Run the reference on every case; return the tensors and metadata to store."""
    ref = importlib.import_module(f"reference.{aid}")
    tensors: dict[str, torch.Tensor] = {}
    for case in cases:
        inputs = case.make_inputs()
        fn = getattr(ref, case.target)
        if case.init is not None:
            torch.manual_seed(case.seed)
            module = fn(**case.init).to(torch.float64).eval()
            weights = _weights(module, case.seed + 1000)
            module.load_state_dict(weights)
            tensors.update({f"{case.name}/w/{k}": v for k, v in weights.items()})
            fn = module
        with torch.no_grad():
            out = fn(*inputs.values(), **case.kwargs)
        tensors.update({f"{case.name}/in/{k}": v for k, v in inputs.items()})
        tensors[f"{case.name}/out"] = out
    meta = {"cases": json.dumps([c.name for c in cases]), "torch": torch.__version__}
    return tensors, meta


def write(aid: str, cases: list[SnapshotCase]) -> Path:
    tensors, meta = compute(aid, cases)
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path_for(aid)), metadata=meta)
    return path_for(aid)


def stale(aid: str, cases: list[SnapshotCase]) -> list[str]:
    """Differences between the stored snapshot and what the reference computes now."""
    path = path_for(aid)
    if not path.is_file():
        return [f"{path} is missing"]
    stored = load_file(str(path))
    fresh, _ = compute(aid, cases)
    problems = [f"{aid}: {k} is new" for k in fresh if k not in stored]
    problems += [f"{aid}: {k} is no longer produced" for k in stored if k not in fresh]
    problems += [f"{aid}: {k} changed" for k in fresh if k in stored and
                 (fresh[k].shape != stored[k].shape or
                  not torch.allclose(fresh[k], stored[k], rtol=STORED_RTOL, atol=STORED_ATOL))]
    return problems


SnapshotHints = Callable[[SnapshotCase, dict[str, torch.Tensor], dict[str, torch.Tensor]], "Hints | None"]


def replay(ctx: Context, case: SnapshotCase, *, tol: Tolerance = FLOAT64, hints: SnapshotHints | None = None) -> None:
    """The public check body: run the learner's `case.target` on the stored case and compare."""
    path = path_for(ctx.suite.assignment)
    if not path.is_file():
        raise CheckFailure(f"snapshot data {path.name} is missing from this installation (reinstall scratchgrad)")
    stored = load_file(str(path))
    inputs = {k: stored[f"{case.name}/in/{k}"] for k in case.inputs}
    ctx.example(shapes={k: list(v.shape) for k, v in inputs.items()}, config={"target": case.target, **(case.init or {})},
                values=inputs)
    weights = {k.split("/w/", 1)[1]: v for k, v in stored.items() if k.startswith(f"{case.name}/w/")}
    fn = case.target if case.init is None else ctx.module(case.target, case.init, weights=weights)
    (got,) = ctx.fetch(ctx.call(fn, *inputs.values(), **case.kwargs))
    ctx.expect_close(got, stored[f"{case.name}/out"], name=f"output of {case.target}", tol=tol,
                     hints=hints(case, inputs, weights) if hints else None)


# -- JSON snapshots (see the module docstring) --------------------------------------------------
JsonBuilder = Callable[[ModuleType], Any]


def json_path_for(aid: str) -> Path:
    return SNAPSHOT_DIR / f"{aid}.json"


def _jsonable(value: Any) -> Any:
    """Tensors in a builder's data are stored as (nested) lists of numbers."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f"a JSON snapshot cannot store {type(value).__name__}: {value!r:.80}")


def compute_json(aid: str, build: JsonBuilder) -> Any:
    """`build(reference module)`, round-tripped through JSON so it compares equal to the stored file (a tensor in
    the data becomes a list: builders may keep them as tensors)."""
    return json.loads(json.dumps(build(importlib.import_module(f"reference.{aid}")), default=_jsonable))


def write_json(aid: str, build: JsonBuilder) -> Path:
    path = json_path_for(aid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(compute_json(aid, build), indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    return path


def stale_json(aid: str, build: JsonBuilder) -> list[str]:
    """Differences between the stored JSON snapshot and what the reference computes now."""
    path = json_path_for(aid)
    if not path.is_file():
        return [f"{path} is missing"]
    where = json_difference(json.loads(path.read_text(encoding="utf-8")), compute_json(aid, build))
    return [f"{aid}: {path.name} differs from what reference/ computes now, at {where}"] if where else []


def json_difference(stored: Any, fresh: Any, where: str = "$") -> str | None:
    """The first place (a JSON path) where `fresh` differs from `stored`; floats within STORED_RTOL/ATOL."""
    if isinstance(stored, bool) or isinstance(fresh, bool) or not (
            isinstance(stored, (int, float)) and isinstance(fresh, (int, float))):
        if type(stored) is not type(fresh):
            return where
        if isinstance(stored, dict):
            if stored.keys() != fresh.keys():
                return where
            return next((d for k in stored if (d := json_difference(stored[k], fresh[k], f"{where}.{k}"))), None)
        if isinstance(stored, list):
            if len(stored) != len(fresh):
                return where
            return next((d for i, (a, b) in enumerate(zip(stored, fresh))
                         if (d := json_difference(a, b, f"{where}[{i}]"))), None)
        return None if stored == fresh else where
    if isinstance(stored, int) and isinstance(fresh, int):
        return None if stored == fresh else where
    close = abs(stored - fresh) <= STORED_ATOL + STORED_RTOL * abs(stored)
    same = stored == fresh or (math.isnan(stored) and math.isnan(fresh))  # inf == inf; nan stored as NaN
    return None if close or same else where


def load_json(aid: str) -> Any:
    """The stored JSON snapshot of `aid`, for a public check (a missing file fails the check, with the fix)."""
    path = json_path_for(aid)
    if not path.is_file():
        raise CheckFailure(f"snapshot data {path.name} is missing from this installation (reinstall scratchgrad)")
    return json.loads(path.read_text(encoding="utf-8"))


def register(suite: Suite, cases: list[SnapshotCase], *,
             targets: Callable[[SnapshotCase], tuple[str, ...]] | None = None,
             uses: Callable[[SnapshotCase], tuple[str, ...]] | None = None,
             describe: Callable[[SnapshotCase], str] | None = None, hints: SnapshotHints | None = None,
             tol: Tolerance | Callable[[SnapshotCase], Tolerance] = FLOAT64) -> None:
    """One public, one-point check `<case>_snapshot` per case, replaying it on the learner's code.

    `hints(case, inputs, weights)`: the assignment's Misconceptions bound to the case, so a public
    snapshot names the same mistakes a hidden check does.
    """
    for case in cases:
        def body(ctx: Context, case: SnapshotCase = case) -> None:
            replay(ctx, case, tol=tol(case) if callable(tol) else tol, hints=hints)

        body.__name__ = f"{case.name}_snapshot"
        suite.check(points=1, visibility="public", kind="snapshot",
                    targets=targets(case) if targets else (case.target,), uses=uses(case) if uses else (),
                    description=describe(case) if describe else
                    f"{case.target}: matches stored reference outputs for fixed inputs")(body)
