"""Public checks for a14_dpo: properties and snapshots, no reference needed.

compute_dpo_loss_batch runs on two runtime `TableLM`s (bigram tables: logits = table[ids]), the policy's
and the reference's, both tables parameters, so a check reads which one got a gradient and whether
each forward ran with gradients on. The stored cases are in `snapshots/a14_dpo.json`, built by
`JSON_SNAPSHOTS` (see autograder/snapshots.py).
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import torch
from hypothesis import strategies as st

from autograder import strategies as sg
from autograder.compare import describe
from autograder.kit import FLOAT32, FLOAT64, CheckFailure, Context, Raised, Suite
from autograder.mistakes.a14_dpo import BATCH, DPO_LOSS, LOGPROBS, REWARDS
from autograder.snapshots import load_json

LOGPROBS_FN, LOSS_FN, BATCH_FN = "compute_logprobs", "compute_dpo_loss", "compute_dpo_loss_batch"
SUITE = Suite("a14_dpo")
check = SUITE.check
OUTPUTS = ("loss", "chosen_rewards", "rejected_rewards")


# -- inputs shared with the hidden checks ------------------------------------------------------
def response_mask(B: int, T: int, seed: int) -> torch.Tensor:
    """(B, T) bool: per row a prompt (False), a response (True) of >= 1 token, then padding (False).

    The response starts at position >= 1, so the shifted mask [:, 1:] selects at least one position.
    """
    gen = torch.Generator().manual_seed(seed)
    start = torch.randint(1, T, (B, 1), generator=gen)
    length = 1 + (torch.rand(B, 1, generator=gen) * (T - start)).long()
    pos = torch.arange(T)
    return (pos >= start) & (pos < start + length)


def ids(B: int, T: int, V: int, seed: int) -> torch.Tensor:
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def make_batch(B: int, Tc: int, Tr: int, V: int, seed: int) -> dict[str, torch.Tensor]:
    return {"chosen": ids(B, Tc, V, seed), "rejected": ids(B, Tr, V, seed + 1),
            "chosen_mask": response_mask(B, Tc, seed + 2), "rejected_mask": response_mask(B, Tr, seed + 3)}


def logprobs_hints(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None):
    return LOGPROBS(logits=logits, labels=labels, mask=mask)


def loss_hints(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float) -> tuple:
    return (DPO_LOSS(pc=pc, pr=pr, rc=rc, rr=rr, beta=beta), REWARDS(policy=pc, reference=rc, beta=beta),
            REWARDS(policy=pr, reference=rr, beta=beta))


def run_batch(ctx: Context, policy: torch.Tensor, reference: torch.Tensor, batch: dict[str, torch.Tensor],
              beta: float) -> dict[str, Any]:
    """compute_dpo_loss_batch on two TableLMs, back-propagated from the loss: outputs, both tables' grads,
    the grad mode of every forward of each model."""
    p = ctx.p
    toys = p.runtime("toys")
    pol, ref = (p.call(toys, t, method="TableLM", trainable=True, learner=False) for t in (policy, reference))
    out = ctx.call(BATCH_FN, batch, pol, ref, beta, grad=True)
    loss = p.item(out, 0)
    backward = p.backward(loss, torch.ones((), dtype=policy.dtype), catch=True)
    return ctx.fetch(out=out, loss_requires_grad=p.get(loss, "requires_grad", catch=True), backward=backward,
                     policy_grad=p.grads([], module=pol, catch=True), reference_grad=p.grads([], module=ref, catch=True),
                     policy_modes=p.get(pol, "grad_enabled"), reference_modes=p.get(ref, "grad_enabled"))


def triple(got: Any, what: str) -> tuple[Any, Any, Any]:
    """`got` when it is the (loss, chosen_rewards, rejected_rewards) tuple; else the failure that says what it is."""
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailure(f"output of {what}: expected a tuple (loss, chosen_rewards, rejected_rewards), got "
                           f"{describe(got)}")
    return tuple(got)  # type: ignore[return-value]


def expect_outputs(ctx: Context, got: Any, want: tuple[torch.Tensor, ...], what: str, tol: Any,
                   hints: tuple = (None, None, None)) -> None:
    for name, g, w, h in zip(OUTPUTS, triple(got, what), want, hints):
        ctx.expect_close(g, w, name=f"{name} of {what}", tol=tol, hints=h)


def _load(kind: str) -> list[dict[str, Any]]:
    return load_json(SUITE.assignment)[kind]


def _t(values: Any, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# -- compute_logprobs --------------------------------------------------------------------------
@check(points=2, visibility="public", kind="snapshot", targets=(LOGPROBS_FN,),
       description="compute_logprobs: matches stored reference values with and without a selection mask")
def logprobs_snapshot(ctx: Context) -> None:
    for case in _load("logprobs"):
        logits, labels = _t(case["logits"]), torch.tensor(case["labels"])
        mask = None if case["mask"] is None else torch.tensor(case["mask"])
        ctx.example(shapes={"logits": list(logits.shape)}, config={"case": case["name"]},
                    values={"logits": logits, "labels": labels, "selection_mask": mask})
        (got,) = ctx.fetch(ctx.call(LOGPROBS_FN, logits, labels, mask))
        ctx.expect_close(got, _t(case["out"]), name=f"compute_logprobs on the stored case {case['name']!r}",
                         tol=FLOAT64, hints=logprobs_hints(logits, labels, mask))


@check(points=2, visibility="public", kind="property", targets=(LOGPROBS_FN,), max_examples=5,
       description="compute_logprobs: float32 logits of size 1e4 give finite, exact log-probabilities (about "
                   "-1e4 where another token holds the large logit), and a constant added to a position's "
                   "logits changes nothing")
def logprobs_large_logits(ctx: Context) -> None:
    @ctx.given(B=st.integers(1, 3), T=st.integers(2, 5), V=st.integers(2, 6), seed=sg.seeds())
    def _(B: int, T: int, V: int, seed: int) -> None:
        labels = ids(B, T, V, seed)
        # the large logit sits on a token other than the next one: log p(next) = -1e4 - log(1 + (V-1) e^-1e4)
        other = (labels[:, 1:] + 1) % V
        big = torch.zeros(B, T, V, dtype=torch.float32)
        big[:, :-1].scatter_(-1, other.unsqueeze(-1), 1e4)
        shift = sg.make_tensor((B, T, 1), seed + 1, scale=1e3, dtype=torch.float32)
        ctx.example(shapes={"logits": [B, T, V]}, config={"large_logit": 1e4, "dtype": "float32"},
                    values={"labels": labels})
        got, shifted = ctx.fetch(ctx.call(LOGPROBS_FN, big, labels), ctx.call(LOGPROBS_FN, big + shift, labels))
        got = ctx.expect_tensor(got, labels[:, 0], "compute_logprobs of float32 logits of size 1e4")
        if not torch.isfinite(got).all():
            raise CheckFailure("compute_logprobs of float32 logits of size 1e4: inf or nan (softmax underflowed to "
                               "0 before the log): use F.log_softmax (or logits - logsumexp), not log(softmax)")
        ctx.expect_close(got, torch.full((B,), -1e4, dtype=torch.float32), tol=FLOAT32,
                         name="compute_logprobs where another token has logit 1e4 (expected -1e4)")
        ctx.expect_close(shifted, got, tol=FLOAT32, name="compute_logprobs after adding a constant to each "
                                                          "position's logits, compared with before")


# -- compute_dpo_loss --------------------------------------------------------------------------
@check(points=2, visibility="public", kind="snapshot", targets=(LOSS_FN,),
       description="compute_dpo_loss: loss and rewards match stored reference values (beta 0.1 and 0.5)")
def dpo_loss_known_values(ctx: Context) -> None:
    for case in _load("dpo_loss"):
        pc, pr, rc, rr = (_t(case[k]) for k in ("pc", "pr", "rc", "rr"))
        ctx.example(shapes={"logprobs": list(pc.shape)}, config={"beta": case["beta"]},
                    values={"policy_chosen": pc, "policy_rejected": pr, "reference_chosen": rc,
                            "reference_rejected": rr})
        (got,) = ctx.fetch(ctx.call(LOSS_FN, pc, pr, rc, rr, beta=case["beta"]))
        expect_outputs(ctx, got, tuple(_t(case[k]) for k in OUTPUTS), f"compute_dpo_loss(beta={case['beta']})",
                       FLOAT64, loss_hints(pc, pr, rc, rr, case["beta"]))


@check(points=2, visibility="public", kind="property", targets=(LOSS_FN,),
       description="compute_dpo_loss: finite loss and gradients where sigmoid underflows: z = -800 in float64 "
                   "(loss 800) and z = -150 in float32 (loss 150)")
def dpo_loss_large_margin(ctx: Context) -> None:
    beta = 10.0
    for dtype, margin in ((torch.float64, -80.0), (torch.float32, -15.0)):  # z = beta * margin
        B = 3
        pc, pr = torch.full((B,), margin - 5.0, dtype=dtype), torch.full((B,), -5.0, dtype=dtype)
        rc = rr = torch.full((B,), -2.0, dtype=dtype)
        leaves = [ctx.p.leaf(f"logprobs{i}", t) for i, t in enumerate((pc, pr, rc, rr))]
        ctx.example(shapes={"logprobs": [B]}, config={"beta": beta, "z": beta * margin, "dtype": str(dtype)})
        out = ctx.call(LOSS_FN, *leaves, beta=beta, grad=True)
        loss = ctx.p.item(out, 0)
        ctx.p.backward(loss, torch.ones((), dtype=dtype), catch=True)
        whole, grads = ctx.fetch(out, ctx.p.grads(leaves, catch=True))
        what = f"compute_dpo_loss at z = {beta * margin:g} ({str(dtype).removeprefix('torch.')})"
        got = triple(whole, what)[0]
        expected = torch.tensor(-beta * margin, dtype=dtype)
        if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
            raise CheckFailure(f"loss of {what}: {got.item()}; sigmoid(z) underflows to 0 there (or exp(-z) "
                               f"overflows): compute -logsigmoid(z) stably, F.logsigmoid or "
                               f"max(-z, 0) + log1p(exp(-|z|))")
        ctx.expect_close(got, expected, name=f"loss of {what}", tol=FLOAT64 if dtype == torch.float64 else FLOAT32)
        if isinstance(grads, Raised):
            raise CheckFailure(f"gradients of {what}: {grads}")
        want = torch.full((B,), -beta / B, dtype=dtype)  # d loss / d pc = -beta * sigmoid(-z) / B, sigmoid(800) = 1
        for name, g, sign in zip(("model_chosen", "model_rejected", "reference_chosen", "reference_rejected"),
                                 grads["inputs"], (1, -1, -1, 1)):
            ctx.expect_close(g, want * sign, name=f"gradient of the loss w.r.t. {name}_logprobs at {what}",
                             tol=FLOAT64 if dtype == torch.float64 else FLOAT32)


@check(points=2, visibility="public", kind="property", targets=(LOSS_FN,), max_examples=8,
       description="compute_dpo_loss: the rewards are the batch means of policy - reference log-probabilities, "
                   "not scaled by beta (the book's; the DPO paper scales them), 0-d, detached")
def rewards_contract(ctx: Context) -> None:
    @ctx.given(B=st.integers(1, 4), seed=sg.seeds(), beta=st.sampled_from([0.1, 0.5, 2.0]))
    def _(B: int, seed: int, beta: float) -> None:
        pc, pr, rc, rr = (sg.make_tensor((B,), seed + i, scale=3.0) - 5.0 for i in range(4))
        ctx.example(shapes={"logprobs": [B]}, config={"beta": beta}, values={"policy_chosen": pc,
                    "policy_rejected": pr, "reference_chosen": rc, "reference_rejected": rr})
        leaves = [ctx.p.leaf(f"logprobs{i}", t) for i, t in enumerate((pc, pr, rc, rr))]
        out = ctx.call(LOSS_FN, *leaves, beta=beta, grad=True)
        got = ctx.fetch(out, *(ctx.p.get(ctx.p.item(out, i), "requires_grad", catch=True) for i in (1, 2)))
        outputs = triple(got[0], f"compute_dpo_loss(beta={beta})")
        for i, (name, pol, ref) in enumerate((("chosen_rewards", pc, rc), ("rejected_rewards", pr, rr))):
            ctx.expect_close(outputs[i + 1], (pol - ref).mean(), tol=FLOAT64, hints=REWARDS(policy=pol, reference=ref, beta=beta),
                             name=f"{name} (the batch mean of policy - reference log-probabilities, a 0-d tensor)")
            if got[i + 1] is True:
                raise CheckFailure(f"{name} requires grad: the rewards are for logging only, return them "
                                   f"detached (.detach())")


# -- compute_dpo_loss_batch --------------------------------------------------------------------
@check(points=2, visibility="public", kind="snapshot", targets=(BATCH_FN,),
       description="compute_dpo_loss_batch: loss and rewards match stored reference values on two bigram models")
def batch_snapshot(ctx: Context) -> None:
    case = _load("batch")
    policy, reference = _t(case["policy"]), _t(case["reference"])
    batch = {k: torch.tensor(case[k]) for k in ("chosen", "rejected", "chosen_mask", "rejected_mask")}
    ctx.example(shapes={k: list(v.shape) for k, v in batch.items()}, config={"beta": case["beta"]}, values=batch)
    res = run_batch(ctx, policy, reference, batch, case["beta"])
    hint = BATCH(policy=policy, reference=reference, batch=batch, beta=case["beta"])
    expect_outputs(ctx, res["out"], tuple(_t(case[k]) for k in OUTPUTS), "compute_dpo_loss_batch", FLOAT64,
                   (hint, None, None))


@check(points=2, visibility="public", kind="property", targets=(BATCH_FN,),
       description="compute_dpo_loss_batch: the reference model runs without gradients and gets none; the "
                   "policy runs with them, and the loss back-propagates into the policy")
def batch_reference_frozen(ctx: Context) -> None:
    V = 5
    batch = make_batch(2, 4, 5, V, seed=3)
    ctx.example(shapes={k: list(v.shape) for k, v in batch.items()}, config={"beta": 0.1, "vocab_size": V})
    res = run_batch(ctx, sg.make_tensor((V, V), 1), sg.make_tensor((V, V), 2), batch, 0.1)
    if any(res["reference_modes"]):
        raise CheckFailure("the reference model ran with gradients enabled: call it inside torch.no_grad(), "
                           "it only provides fixed targets")
    if not res["policy_modes"] or not all(res["policy_modes"]):
        raise CheckFailure("the policy model ran under torch.no_grad() (or was never called): the loss must keep "
                           "the policy's graph, or it cannot train it")
    if res["loss_requires_grad"] is not True or isinstance(res["backward"], Raised):
        raise CheckFailure(f"the loss does not back-propagate to the policy: {res['backward'] or 'no graph'}")
    if isinstance(res["policy_grad"], Raised) or res["policy_grad"]["params"].get("table") is None:
        raise CheckFailure("after loss.backward() the policy model's parameters have no gradient")
    if isinstance(res["reference_grad"], Raised) or res["reference_grad"]["params"].get("table") is not None:
        raise CheckFailure("after loss.backward() the reference model's parameters have a gradient: run the "
                           "reference model inside torch.no_grad()")


# -- the JSON snapshot data (instructors: `scratchgrad snapshots a14` writes it from reference/) ----
def json_snapshots(ref: ModuleType) -> dict[str, Any]:
    """Fixed inputs and what `ref` (reference/a14_dpo.py) computes on them."""
    from autograder.runtime.toys import TableLM

    data: dict[str, Any] = {"logprobs": [], "dpo_loss": []}
    for name, (B, T, V), masked in (("unmasked", (2, 4, 5), False), ("masked", (3, 6, 4), True)):
        logits, labels = sg.make_tensor((B, T, V), B * T, scale=2.0), ids(B, T, V, V)
        mask = response_mask(B, T, T) if masked else None
        data["logprobs"].append({"name": name, "logits": logits.tolist(), "labels": labels.tolist(),
                                 "mask": None if mask is None else mask.tolist(),
                                 "out": ref.compute_logprobs(logits, labels, mask).tolist()})
    for beta, seed in ((0.1, 1), (0.5, 2)):
        pc, pr, rc, rr = (sg.make_tensor((4,), seed * 10 + i, scale=20.0) - 30.0 for i in range(4))
        out = ref.compute_dpo_loss(pc, pr, rc, rr, beta=beta)
        data["dpo_loss"].append({"beta": beta, **{k: v.tolist() for k, v in zip(("pc", "pr", "rc", "rr"), (pc, pr, rc, rr))},
                                 **{k: v.item() for k, v in zip(OUTPUTS, out)}})
    V = 6
    policy, reference = sg.make_tensor((V, V), 7, scale=2.0), sg.make_tensor((V, V), 8, scale=2.0)
    batch = make_batch(3, 5, 7, V, seed=9)
    with torch.no_grad():
        out = ref.compute_dpo_loss_batch(batch, TableLM(policy), TableLM(reference), 0.2)
    data["batch"] = {"policy": policy.tolist(), "reference": reference.tolist(), "beta": 0.2,
                     **{k: v.tolist() for k, v in batch.items()}, **{k: v.item() for k, v in zip(OUTPUTS, out)}}
    return data


JSON_SNAPSHOTS = json_snapshots
