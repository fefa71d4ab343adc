"""The check kit: everything a suite needs to write a check in a few lines, in one import.

An assignment is: a solution, a reference, one spec (the stub), its public checks
(`suites/aNN_*.py`), its hidden checks (`hidden/aNN_*.py`), its mistake catalogue (in the public
suite, so public checks give the same hints as hidden ones) and its bank (`tests/banks/aNN_*.py`).
What an assignment runs of earlier ones is declared once, in `assignments.DEPENDENCIES`.

The API, short:

    SUITE = Suite("a04_gpt_blocks", bans=[...]);  check = SUITE.check
    LN_MISTAKES = Misconceptions("LayerNorm")              # name, hint, how to compute its output
    @LN_MISTAKES.add("unbiased_variance", "LayerNorm uses the biased variance, ...")
    def _(x, scale, shift, eps, **_): return ...

    @check(points=2, visibility="public", kind="property", targets=("LayerNorm",))
    @given(E=st.integers(1, 8), seed=sg.seeds())          # a check over Hypothesis examples (or ctx.given inside)
    def layernorm_scale_and_shift(ctx: Context, E: int, seed: int) -> None:
        ctx.example(config={"emb_dim": E}, x=x)            # what a failure shows: x's shape (and values if public)
        m = ctx.module("LayerNorm", {"emb_dim": E}, dtype=torch.float64, weights=w, train=False)
        out = ctx.call(m, x)                               # no_grad; records x to check it is not modified
        (got,) = ctx.fetch(out)                            # runs it: stub -> raised -> in place -> dtype kept
        ctx.expect_close(got, expected, name="output of LayerNorm(4)", tol=FLOAT64,
                         hints=LN_MISTAKES(x=x, scale=s, shift=b, eps=1e-5))   # type -> shape -> values -> hint
        ctx.expect_raises(value, "LayerNorm(0)", ("ValueError",), mention=("0",))
        ctx.expect(condition, "message", hint=...)         # a property's own test, when no comparison says it

    ctx.p is the program being built, for anything else (p.params, p.state, p.load, p.train, p.get).
    ctx.runtime("toys.TableLM", table) builds or calls the worker runtime's helpers: toys (TableLM, ByteTokenizer),
      toy_gpt, loops (table, items, epochs, describe, data_loader, seeded_generator: the loops a program
      cannot write), optim (parameters, param_groups, optimizer_steps), gpt2 (GPT-2's vocab, merges, encoding);
      `learner=True` where the helper runs learner code (its bans hold). `Suite.check(name=...)`: checks made in a loop.
    compare_module(ctx, ref, target, inputs, init=..., tol=..., hints=MISTAKES(...))   # differential (hidden)
      (ref may be any differentiable function, e.g. a loss computed by hand in a public check; grad_tol= when
      the gradients need another tolerance; catch=True: a raised exception fails the check, with its hint)
    Hints also name a wrong shape or dtype (a mistake whose output has exactly that shape and dtype) and an
    exception (`@MISTAKES.add(..., raises=True)`: a mistake whose compute raises the learner's exception type).
    Properties written once (autograder.properties): causal_outputs / causal_probe (later tokens never change
    earlier outputs), deterministic_in_eval (eval is deterministic, equals the module without dropout, and
    train = eval without dropout), dropout_probe (attention-weight dropout: rate, 1/(1-p), placement,
    off in eval), check_rate (a binomial bound on a dropout rate), keeps_dtype (float32 in, float32 out, and
    float64), expect_parameters (names and shapes, with the catalogue's hint), expect_trainable (parameters
    frozen or trainable by name prefix, with `ctx.p.trainable(m)`), expect_value_error, chi_square_p and
    symmetric_uniform_problem (goodness of fit of samples). differential.float64_inside: the exact answer for
    float32 inputs, for a float32 differential check. compare.numbers: a list of losses or rates to compare.
    A mistake that is a whole program (a trainer with one rule changed) is computed where it may live (hidden
    side: hidden/mistakes/aNN_*.py; stored with a snapshot) and given to its catalogue entry as a `Replay`.
    Model pieces as functions of their weights, for catalogues (autograder.gpt_forms): tanh_gelu, feedforward,
    attention, pre_ln, block_forward. JSON snapshot builders may return tensors (stored as lists).
    Snapshots: snapshots.register(SUITE, CASES, hints=lambda case, inputs, weights: MISTAKES(...), tol=...).
    Tolerances: FLOAT64 and FLOAT32 by default; a wider one only where a bank alternative written the
    book's way needs it, measured with bench/tolerance_probe.py (its figures in a comment next to it).
    Banks: a correct alternative that may lose a check about what the contract adds names it in
    `Variant(may_lose=(...))`; bench/bank_matrix.py records and diffs every variant's check results.

What the engine owns, so no suite writes it: stub detection (a NotImplementedError anywhere ends the
check with `CheckResult.not_implemented`), exceptions (uncaught: status "error"; caught and
compared: "your code raised ..."), "input modified in place" and "dtype kept" for every `ctx.call`
that takes tensors, the order of the comparison's messages, hint matching, and the note that blames
an earlier assignment (only when its checks on what this check runs failed, or the traceback points
into its file; from `targets` and `assignments.DEPENDENCIES`, no `uses=` needed).

Porting a suite onto the kit:
1. Move every hint into one `Misconceptions` catalogue per function or class, in the public suite;
   each entry computes the mistake's output from the same keyword inputs. Hidden checks import the
   catalogue from the public suite (their own assignment's); a suite never imports another suite:
   what two suites share moves into the engine.
2. Replace `p = ctx.program(); m = p.new(...); p.to(...); p.load(...); p.train(...)` with
   `ctx.module(...)`, `p.call(..., no_grad=True)` with `ctx.call(...)`, `ctx.run(p.returns(...))` with
   `ctx.fetch(...)`; drop hand-written stub checks, in-place checks and dtype checks (keep an
   `*_keeps_dtype` check by name: it then only needs to call in both dtypes).
3. Replace `try: assert_close(...) except CheckFailure as f: f.hint = ...` with
   `ctx.expect_close(..., hints=CATALOGUE(...))`; for a derived quantity (a row's variance) bind the
   catalogue with `view=` or match the whole output with `.on(whole_output)` (which also explains a wrong
   shape); `.later()` works a costly catalogue out only for the example the check finally fails on, and
   `Misconceptions(topic, every=True)` names every matching mistake (small examples fit several).
   The catalogue lives in `autograder/mistakes/aNN_*.py` (shipped with the public checks).
4. Drop `uses=` from checks and declare the assignment's use of earlier ones in
   `assignments.DEPENDENCIES`; add a sample of each new catalogue to tests/test_kit.py (SAMPLES),
   and the suite to test_banks.KIT (public checks must show the bank's hints).
5. Run `python bench/bank_matrix.py --only aNN --out new.json` and
   `python bench/bank_matrix.py --diff /work/wt/kit-baseline.json new.json`: every change is explained.
"""

from __future__ import annotations

from .assignments import DEPENDENCIES, Uses
from .checks import CheckAbort, CheckSkipped, Context, Suite, given
from .compare import (FLOAT32, FLOAT64, GELU_FLOAT64, CheckFailure, Hints, Misconception, Misconceptions, Replay, Tolerance,
                      assert_close)
from .differential import compare_module, float64_inside, random_weights
from .properties import (causal_outputs, causal_probe, check_rate, deterministic_in_eval, dropout_probe, expect_parameters,
                         expect_trainable, keeps_dtype)
from .results import CheckResult
from .runtime.values import Raised

__all__ = ["DEPENDENCIES", "FLOAT32", "FLOAT64", "GELU_FLOAT64", "CheckAbort", "CheckFailure", "CheckResult", "CheckSkipped",
           "Context", "Hints", "Misconception", "Misconceptions", "Raised", "Replay", "Suite", "Tolerance", "Uses", "assert_close",
           "causal_outputs", "causal_probe", "check_rate", "compare_module", "deterministic_in_eval", "dropout_probe",
           "expect_parameters", "expect_trainable", "float64_inside", "given", "keeps_dtype", "random_weights"]
