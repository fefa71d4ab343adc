"""Reference-free properties shared by several suites: causality, dropout, input validation.

Dropout is graded by what it does, never by seeded equality with a reference (the learner may draw
random numbers in another order and still be right). The probes below choose weights that make
the attention weights visible in the output:

* queries and keys are zero, so every causal row of attention weights is uniform, 1/(i+1);
* the inputs are one-hot rows and the value projection the identity, so output[i, k] is exactly
  the (dropped) attention weight from query i to key k;
* with a value projection of all ones instead, every feature of a token's output is the same sum
  of its (dropped) weights: dropout on the weights keeps a token's features equal, dropout on the
  output does not.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from .checks import Context, stub_abort
from .compare import FLOAT64, CheckFailure, Hints, assert_close, tensor_like
from .runtime.values import Raised
from .strategies import make_tensor

RATE_Z_LIMIT = 5.0  # binomial z-score bound: a correct dropout fails it with probability < 1e-6


def attention_init(cls: str, cfg: dict[str, Any], *, dropout: float = 0.0) -> dict[str, Any]:
    """Constructor kwargs of an a03 attention class from an `attention_configs()` example."""
    init = {"d_in": cfg["d_in"], "d_out": cfg["d_out"], "context_length": cfg["context_length"],
            "dropout": dropout, "qkv_bias": cfg["qkv_bias"]}
    if cls == "MultiHeadAttention":
        init["num_heads"] = cfg["num_heads"]
    elif cls == "MultiHeadAttentionWrapper":
        init.update(num_heads=cfg["num_heads"], d_out=cfg["d_out"] // cfg["num_heads"])
    return init


def is_causal(ctx: Context, cls: str, cfg: dict[str, Any], data: st.DataObject) -> None:
    """Outputs before position k must not move when the inputs from k on change (eval mode)."""
    init = attention_init(cls, cfg)
    causal_probe(ctx, cls, init, data, (cfg["B"], cfg["T"], cfg["d_in"]), init)


def causal_probe(ctx: Context, cls: str, init: dict[str, Any] | list[Any], data: st.DataObject,
                 shape: tuple[int, int, int], config: dict[str, Any]) -> None:
    """Draw a position k and a seed, x of `shape` (B, T, width), and x2: x with positions k.. redrawn; then
    `causal_outputs` of `cls(init)` on the two."""
    B, T, width = shape
    k = data.draw(st.integers(0, T - 1), label="k")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x = make_tensor(shape, seed)
    x2 = x.clone()
    x2[:, k:] = make_tensor((B, T - k, width), seed + 1)
    ctx.example(shapes={"x": list(shape)}, config={**config, "changed_from_position": k}, values={"x": x})
    causal_outputs(ctx, cls, init, x, x2, k)


def causal_outputs(ctx: Context, cls: str, init: dict[str, Any] | list[Any], x: torch.Tensor, x2: torch.Tensor,
                   k: int) -> None:
    p = ctx.program()
    p.seed(0)
    m = p.new(cls, **init) if isinstance(init, dict) else p.new(cls, *init)
    p.to(m, x.dtype)
    p.train(m, False)
    res = ctx.run(p.returns(a=p.call(m, x, no_grad=True), b=p.call(m, x2, no_grad=True)))
    a, b = res["a"], res["b"]
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise CheckFailure(f"output of {cls}: expected a tensor, got {type(a).__name__}")
    if a.dim() < 2 or a.shape[:2] != x.shape[:2]:
        raise CheckFailure(f"output of {cls}: shape {tuple(a.shape)}, expected (B, T, ...) = "
                           f"({x.shape[0]}, {x.shape[1]}, ...)")
    if k > 0:
        assert_close(b[:, :k], a[:, :k], name=f"outputs at positions < {k} after changing the inputs at "
                                                f"positions >= {k} (a token must not see later tokens)",
                     tol=FLOAT64)


def _probe_weights(cls: str, D: int, value: torch.Tensor) -> dict[str, torch.Tensor]:
    zeros = torch.zeros(D, D, dtype=torch.float64)
    w = {"W_query.weight": zeros, "W_key.weight": zeros, "W_value.weight": value}
    if cls == "MultiHeadAttention":
        w.update({"out_proj.weight": torch.eye(D, dtype=torch.float64),
                  "out_proj.bias": torch.zeros(D, dtype=torch.float64)})
    return w


def check_rate(name: str, dropped: int, n: int, p: float, what: str = "elements") -> None:
    """Dropout's rate: `dropped` of `n` must be within RATE_Z_LIMIT binomial standard deviations of n * p."""
    z = (dropped - n * p) / math.sqrt(n * p * (1 - p))
    if abs(z) > RATE_Z_LIMIT:
        raise CheckFailure(f"{name}: dropped {dropped} of {n} {what} ({dropped / n:.3f}), expected about p={p} "
                           f"(z-score {z:.1f}, limit {RATE_Z_LIMIT:g})")


def deterministic_in_eval(ctx: Context, cls: str, init: dict[str, Any] | list[Any], x: torch.Tensor, *,
                          weights: dict[str, torch.Tensor] | None = None, drop_key: str | None = None,
                          plain: dict[str, Any] | list[Any] | None = None) -> None:
    """In eval mode two calls agree bit for bit; with `plain` (the same module without dropout), eval
    equals it, and `plain` in train mode equals it in eval mode."""
    m = ctx.module(cls, init, dtype=x.dtype, weights=weights, train=False, seed=0)
    calls = [ctx.call(m, x), ctx.call(m, x)]
    if plain is not None:
        q = ctx.module(cls, plain, dtype=x.dtype, weights=weights, train=False)
        calls.append(ctx.call(q, x))
        ctx.p.train(q, True)
        calls.append(ctx.call(q, x))
    res = ctx.fetch(*calls)
    a = ctx.expect_tensor(res[0], x, f"output of {cls}")
    b = res[1]  # bit for bit, NaN included (nan != nan would blame dropout for a NaN)
    if not (isinstance(b, torch.Tensor) and b.shape == a.shape and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)):
        raise CheckFailure(f"{cls}{f' ({drop_key})' if drop_key else ''} in eval mode: two calls gave different "
                           f"outputs; dropout must be off after .eval()")
    if plain is not None:
        ctx.expect_close(a, res[2], tol=FLOAT64, name=f"output of {cls}{f' ({drop_key})' if drop_key else ''} in "
                                                      f"eval mode compared with the same weights without dropout")
        ctx.expect_close(res[3], res[2], tol=FLOAT64, name=f"output of {cls} without dropout in train mode "
                                                            f"compared with eval mode")


def keeps_dtype(ctx: Context, cls: str, init: dict[str, Any] | list[Any], shape: tuple[int, ...], seed: int, *,
                label: str, config: dict[str, Any] | None = None) -> None:
    """`cls(init)` cast to float32, then float64, on x of `shape`: a tensor of x's shape (`ctx.call` checks that
    the dtype is kept and x left alone)."""
    for dtype in (torch.float32, torch.float64):
        x = make_tensor(shape, seed, dtype=dtype)
        ctx.example(shapes={"x": list(shape)}, config={**(config or {}), "dtype": str(dtype)})
        (out,) = ctx.fetch(ctx.call(ctx.module(cls, init, dtype=dtype), x))
        ctx.expect_tensor(out, x, f"output of {label} on a {str(dtype).removeprefix('torch.')} input")


def expect_parameters(got: Any, want: dict[str, list[int]], what: str, *, hints: Hints | None = None,
                      note: str = "") -> None:
    """`got` (`ctx.p.params(m)`: name -> shape) has exactly `want`'s parameters, of its shapes; else the failure that
    lists what is missing, unexpected or of another shape, then `note`, with the hint of a mistake in `hints` whose
    parameters these are."""
    if got == want:
        return
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    reshaped = [f"{k} has shape {got[k]}, expected {want[k]}" for k in sorted(set(want) & set(got)) if got[k] != want[k]]
    parts = [f"missing {missing[:6]}" if missing else "", f"unexpected {extra[:6]}" if extra else "", *reshaped[:4]]
    raise CheckFailure(f"parameters of {what}: " + "; ".join(x for x in parts if x) + note,
                       hint=hints.match(got, None) if hints is not None else None)


def expect_trainable(got: Any, label: str, *, trainable: tuple[str, ...] = (), frozen: tuple[str, ...] = ()) -> None:
    """`got` (the value of `p.trainable(module)`): the parameters under the `trainable` prefixes require
    grad, those under the `frozen` prefixes do not (a prefix "" means every parameter)."""
    if not isinstance(got, dict) or not got:
        raise CheckFailure(f"parameters of {label}: expected named parameters, got {got!r}")
    for prefixes, want in ((trainable, True), (frozen, False)):
        wrong = sorted(k for k, v in got.items() if any(k.startswith(p) for p in prefixes) and v is not want)
        if wrong:
            state = "frozen (requires_grad False)" if want else "trainable (requires_grad True)"
            raise CheckFailure(f"parameters of {label}: {', '.join(wrong[:5])}{' ...' if len(wrong) > 5 else ''} "
                               f"should not be {state}; expected {'trainable' if want else 'frozen'}")


def _rate_ok(dropped: int, n: int, p: float) -> str | None:
    z = (dropped - n * p) / math.sqrt(n * p * (1 - p))
    if abs(z) > RATE_Z_LIMIT:
        return (f"dropout dropped {dropped} of {n} attention weights ({dropped / n:.3f}), expected about "
                f"p={p} (z-score {z:.1f}, limit {RATE_Z_LIMIT:g})")
    return None


def dropout_probe(ctx: Context, cls: str, *, p_drop: float = 0.25, B: int = 64, T: int = 5, D: int = 6) -> None:
    """Rate, 1/(1-p) scaling, placement on the attention weights, and eval mode, for one attention class."""
    init: dict[str, Any] = {"d_in": D, "d_out": D, "context_length": T, "dropout": p_drop}
    heads = 2 if cls == "MultiHeadAttention" else 1
    if heads > 1:
        init["num_heads"] = heads
    x = torch.eye(D, dtype=torch.float64)[:T].expand(B, T, D).contiguous()  # token t = one-hot e_t
    ctx.example(shapes={"x": [B, T, D]}, config={**init, "W_query": "0", "W_key": "0", "W_value": "I, then all ones"})
    p = ctx.program()
    p.seed(1234)
    m = p.new(cls, **init)
    p.to(m, torch.float64)
    p.load(m, _probe_weights(cls, D, torch.eye(D, dtype=torch.float64)))
    p.train(m, True)
    train_eye = p.call(m, x, no_grad=True)
    p.train(m, False)
    eval_a, eval_b = p.call(m, x, no_grad=True), p.call(m, x, no_grad=True)
    p.load(m, _probe_weights(cls, D, torch.ones(D, D, dtype=torch.float64)))
    p.train(m, True)
    train_ones = p.call(m, x, no_grad=True)
    res = ctx.run(p.returns(train_eye=train_eye, eval_a=eval_a, eval_b=eval_b, train_ones=train_ones))

    i = torch.arange(T, dtype=torch.float64)[:, None]
    k = torch.arange(D, dtype=torch.float64)[None, :]
    allowed = k <= i  # (T, D): query i may attend to key k (one-hot value k = feature k)
    base = torch.where(allowed, 1.0 / (i + 1.0), 0.0)  # uniform causal weights
    name = f"output of {cls}"
    assert_close(res["eval_a"], base.expand(B, T, D), name=f"{name} in eval mode (dropout must be off after "
                 f".eval(); with these weights the output is the attention weights themselves)", tol=FLOAT64)
    if not torch.equal(res["eval_a"], res["eval_b"]):
        raise CheckFailure(f"{name}: two calls in eval mode gave different outputs; eval mode must be deterministic")
    out = res["train_eye"]
    tensor_like(out, base.expand(B, T, D), name)
    if (out[:, ~allowed].abs() > 1e-12).any():
        raise CheckFailure(f"{name} in train mode: a query got weight on a later key (mask applied after dropout, "
                           f"or not at all)")
    kept_value = (base / (1 - p_drop)).expand(B, T, D)
    vals = out[:, allowed]
    is_zero = vals.abs() <= 1e-12
    is_kept = (vals - kept_value[:, allowed]).abs() <= 1e-9
    if not (is_zero | is_kept).all():
        unscaled = (vals - base.expand(B, T, D)[:, allowed]).abs() <= 1e-9
        if (is_zero | unscaled).all() and not is_zero.all():
            raise CheckFailure(f"{name} in train mode: kept attention weights are not scaled by 1/(1-p) = "
                               f"{1 / (1 - p_drop):g}")
        raise CheckFailure(f"{name} in train mode: an attention weight is neither dropped (0) nor scaled by "
                           f"1/(1-p): dropout seems to act on something other than the attention weights "
                           f"(scores before softmax, or the inputs)")
    problem = _rate_ok(int(is_zero.sum()), is_zero.numel(), p_drop)
    if problem:
        raise CheckFailure(f"{name} in train mode: {problem}")
    # the same key dropped for every query of a sequence means the values (or inputs) were dropped
    dropped = (out.abs() <= 1e-12) & allowed
    mixed = [(dropped[:, kk:, kk].any(1) & ~dropped[:, kk:, kk].all(1)).any() for kk in range(T - 1)]
    if not any(bool(m_) for m_ in mixed):
        raise CheckFailure(f"{name} in train mode: key k is always dropped for all queries at once; dropout "
                           f"seems to act on the values or inputs, not on each attention weight")
    ones = res["train_ones"]
    per_head = ones.reshape(B, T, heads, D // heads)
    if (per_head.amax(-1) - per_head.amin(-1)).abs().max() > 1e-9:
        raise CheckFailure(f"{name} in train mode: the features of one token's output are dropped "
                           f"independently; dropout seems to act on the output (context vectors), not on the "
                           f"attention weights")


def expect_value_error(ctx: Context, cls: str, init: dict[str, Any], x: torch.Tensor | None, *,
                       must_mention: tuple[str, ...]) -> None:
    """Constructing `cls(**init)` (x None) or calling it on x must raise ValueError naming the values."""
    ctx.example(config=init, shapes={"x": list(x.shape)} if x is not None else {})
    p = ctx.program()
    m = p.new(cls, **init, catch=x is None)
    outcome = p.call(m, x, catch=True) if x is not None else m
    got = ctx.run(p.returns(outcome=outcome))["outcome"]
    when = f"{cls}({', '.join(f'{k}={v!r}' for k, v in init.items())})" + (
        f" called on x of shape {tuple(x.shape)}" if x is not None else "")
    check_raised(ctx, got, when, ("ValueError", "TypeError"), must_mention)


def check_raised(ctx: Context, got: Any, when: str, kinds: tuple[str, ...], must_mention: tuple[str, ...]) -> None:
    """`got` (a caught step's value) must be an exception of one of `kinds` whose message names `must_mention`."""
    if isinstance(got, Raised) and got.type == "NotImplementedError":  # (ctx.run stops on stubs first)
        ctx.aborted = stub_abort(got)
        raise ctx.aborted
    if not isinstance(got, Raised):
        raise CheckFailure(f"{when}: expected a {kinds[0]}, but no error was raised")
    if got.type not in kinds:
        raise CheckFailure(f"{when}: expected a {kinds[0]}, got {got}")
    missing = [s for s in must_mention if s not in got.message]
    if missing:
        raise CheckFailure(f"{when}: the error message should name the offending values "
                           f"({', '.join(must_mention)}); got {got.message!r}")


# -- goodness of fit: sampling (a08's generate) and initialisations ------------------------------------
def chi_square_p(counts: torch.Tensor, probs: torch.Tensor) -> tuple[float, int, float]:
    """Pearson's statistic, its degrees of freedom and p-value (0 when a count lies where probs is 0)."""
    support = probs > 0
    if counts[~support].sum() > 0:
        return math.inf, int(support.sum()) - 1, 0.0
    expected = probs[support] * counts.sum().to(torch.float64)
    stat, df = float(((counts[support] - expected) ** 2 / expected).sum()), int(support.sum()) - 1
    if df == 0:
        return stat, df, 1.0
    return stat, df, float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                                   torch.tensor(stat / 2, dtype=torch.float64)))


KS_CRITICAL_1E3 = 1.9495  # P(sqrt(n) D_n > 1.9495) -> 1e-3 under H0 (Kolmogorov's limit law)


def ks_uniform(samples: torch.Tensor, low: float, high: float) -> float:
    """sqrt(n) * sup |F_n - F|, the Kolmogorov-Smirnov statistic of `samples` against U(low, high)."""
    u = ((samples.detach().double().flatten() - low) / (high - low)).clamp(0, 1).sort().values
    n = u.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return math.sqrt(n) * max((i / n - u).max().item(), (u - (i - 1) / n).max().item())


def symmetric_uniform_problem(samples: torch.Tensor, max_bound: float) -> str | None:
    """None when `samples` fit U(-b, b) for some 0 < b <= max_bound; else what is wrong.

    Bound-free: with m = max |x|, the other n - 1 values divided by m are exactly i.i.d. U(-1, 1) under the
    hypothesis, whatever b is, so their KS statistic against U(-1, 1) is an exact test (level 1e-3).
    """
    flat = samples.detach().double().flatten()
    if flat.numel() < 2 or not torch.isfinite(flat).all():
        return f"expected {max(flat.numel(), 2)}+ finite values, got {flat.numel()} (finite: {bool(torch.isfinite(flat).all())})"
    at = int(flat.abs().argmax())
    m = flat[at].abs().item()
    if m == 0:
        return "every value is 0"
    if flat.min() >= 0:
        return f"every value is >= 0 (from [0, {m:.3g}]): expected a symmetric interval U(-b, b)"
    if m > max_bound * (1 + 1e-6):
        return f"the largest |value| is {m:.4g}, above the largest allowed bound {max_bound:.4g}"
    stat = ks_uniform(torch.cat([flat[:at], flat[at + 1:]]) / m, -1.0, 1.0)
    if stat > KS_CRITICAL_1E3:
        return (f"the values do not look uniform on [-{m:.3g}, {m:.3g}] (Kolmogorov-Smirnov statistic "
                f"{stat:.2f} > {KS_CRITICAL_1E3}, a level of 1e-3)")
    return None
