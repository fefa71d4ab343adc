"""Hidden checks for a14_dpo: differential against reference/a14_dpo.py, values and gradients."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import reference.a14_dpo as ref
from autograder import strategies as sg
from autograder.kit import FLOAT64, CheckFailure, Context, compare_module
from autograder.runtime.toys import TableLM
from autograder.suites.a14_dpo import (BATCH_FN, LOGPROBS_FN, LOSS_FN, OUTPUTS, SUITE, expect_outputs, ids,
                                       logprobs_hints, loss_hints, make_batch, response_mask, run_batch)
from autograder.mistakes.a14_dpo import BATCH

check = SUITE.check


@check(points=3, visibility="hidden", kind="differential", targets=(LOGPROBS_FN,), max_examples=10,
       description="compute_logprobs: values and the gradient w.r.t. the logits match the reference, with and "
                   "without a selection mask (float64)")
def logprobs_matches_reference(ctx: Context) -> None:
    @ctx.given(B=st.integers(1, 3), T=st.integers(2, 6), V=st.integers(2, 7), seed=sg.seeds(), masked=st.booleans())
    def _(B: int, T: int, V: int, seed: int, masked: bool) -> None:
        logits, labels = sg.make_tensor((B, T, V), seed, scale=2.0), ids(B, T, V, seed + 1)
        mask = response_mask(B, T, seed + 2) if masked else None
        inputs = {"logits": logits, "labels": labels, **({"selection_mask": mask} if masked else {})}
        ctx.example(shapes={k: list(v.shape) for k, v in inputs.items()}, config={"masked": masked})
        compare_module(ctx, ref.compute_logprobs, LOGPROBS_FN, inputs, seed=seed,
                       hints=logprobs_hints(logits, labels, mask))


@check(points=3, visibility="hidden", kind="differential", targets=(LOSS_FN,), max_examples=10,
       description="compute_dpo_loss: loss, rewards and the loss's gradients w.r.t. all four log-probabilities "
                   "match the reference (float64)")
def dpo_loss_matches_reference(ctx: Context) -> None:
    @ctx.given(B=st.integers(1, 5), seed=sg.seeds(), beta=st.sampled_from([0.1, 0.5, 3.0]),
               scale=st.sampled_from([1.0, 30.0]))
    def _(B: int, seed: int, beta: float, scale: float) -> None:
        pc, pr, rc, rr = (sg.make_tensor((B,), seed + i, scale=scale) - scale for i in range(4))
        ctx.example(shapes={"logprobs": [B]}, config={"beta": beta, "scale": scale})
        compare_module(ctx, ref.compute_dpo_loss, LOSS_FN, {"pc": pc, "pr": pr, "rc": rc, "rr": rr},
                       kwargs={"beta": beta}, seed=seed, names=OUTPUTS, hints=loss_hints(pc, pr, rc, rr, beta))


@check(points=3, visibility="hidden", kind="differential", targets=(BATCH_FN,), max_examples=8,
       description="compute_dpo_loss_batch: loss, rewards and the policy's gradient match the reference on two "
                   "bigram models (float64)")
def batch_matches_reference(ctx: Context) -> None:
    @ctx.given(B=st.integers(1, 3), Tc=st.integers(2, 6), Tr=st.integers(2, 6), V=st.integers(2, 6),
               seed=sg.seeds(), beta=st.sampled_from([0.1, 0.5]))
    def _(B: int, Tc: int, Tr: int, V: int, seed: int, beta: float) -> None:
        policy, reference = sg.make_tensor((V, V), seed, scale=2.0), sg.make_tensor((V, V), seed + 1, scale=2.0)
        batch = make_batch(B, Tc, Tr, V, seed + 2)
        ctx.example(shapes={k: list(v.shape) for k, v in batch.items()}, config={"beta": beta, "vocab_size": V})
        model = TableLM(policy, trainable=True)
        want = ref.compute_dpo_loss_batch(batch, model, TableLM(reference, trainable=True), beta)
        want[0].backward()
        res = run_batch(ctx, policy, reference, batch, beta)
        expect_outputs(ctx, res["out"], tuple(w.detach() for w in want), BATCH_FN, FLOAT64,
                       (BATCH(policy=policy, reference=reference, batch=batch, beta=beta), None, None))
        grads = res["policy_grad"]
        if not isinstance(grads, dict) or grads["params"].get("table") is None:
            raise CheckFailure("after loss.backward() the policy model's parameters have no gradient (did the "
                               "policy run under torch.no_grad()?)")
        ctx.expect_close(grads["params"]["table"], model.table.grad, tol=FLOAT64,
                         name="gradient of the loss w.r.t. the policy model's parameters")
