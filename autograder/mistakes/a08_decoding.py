"""The known mistakes of a08_decoding, one catalogue per question: public and hidden checks give the same hints.

Greedy decoding is computed on a bigram table (the runtime's TableLM: logits for the next token are
`table[last token]`), so every greedy mistake's tokens are known exactly; sampling mistakes are
known by the distribution they draw from (matched by total variation distance, see `gof_hint`).
"""

from __future__ import annotations

import torch

from autograder.compare import Hints, Misconceptions

# A mistake's distribution "explains" sampled counts when their total variation distance to it is below this.
# Sampling noise at the suite's GOF_ROWS draws is ~0.012; the mistakes' distributions are >= 0.08 from each other
# and from the right one (tests/test_a08_decoding.py), so at most one can be that close.
GOF_HINT_TV = 0.035
OUTSIDE_TOP_K = ("tokens outside the top-k set of the last position's logits were drawn: sample from "
                 "top_k_filter(logits[:, -1, :], top_k)")


def kth(x: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's k-th largest value, (..., 1)."""
    return x.sort(dim=-1, descending=True).values[..., k - 1:k]


def filtered(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Top-k as the contract says: keep entries >= each row's k-th largest (ties kept)."""
    if k is None or k >= logits.shape[-1]:
        return logits.clone()
    return logits.masked_fill(logits < kth(logits, k), float("-inf"))


# -- softmax_with_temperature ---------------------------------------------------------------------
SOFTMAX_T_MISTAKES = Misconceptions("softmax_with_temperature")


@SOFTMAX_T_MISTAKES.add("times_t", "your output matches logits * T instead of logits / T: divide the logits by the "
                        "temperature")
def _(logits, temperature):
    return torch.softmax(logits * temperature, -1)


@SOFTMAX_T_MISTAKES.add("t_ignored", "your output matches softmax(logits) with the temperature ignored: use "
                        "softmax(logits / temperature)")
def _(logits, temperature):
    return torch.softmax(logits, -1)


@SOFTMAX_T_MISTAKES.add("probs_divided", "your output matches softmax(logits / T) divided by T again: divide the "
                        "logits, not the probabilities")
def _(logits, temperature):
    return torch.softmax(logits / temperature, -1) / temperature


@SOFTMAX_T_MISTAKES.add("not_normalised", "your output matches exp(logits / T) without dividing by the row sum")
def _(logits, temperature):
    return torch.exp(logits / temperature)


@SOFTMAX_T_MISTAKES.add("batch_dim", "your output matches a softmax over dim 0 (the batch): normalise over the last "
                        "dim, the vocabulary (dim=-1)", when=lambda logits, **_: logits.dim() > 1)
def _(logits, temperature):
    return torch.softmax(logits / temperature, 0)


# -- top_k_filter -----------------------------------------------------------------------------------
TOP_K_MISTAKES = Misconceptions("top_k_filter")
TOP_K_ABOVE_V = "a top_k of V or more keeps every entry: use min(top_k, V)"
TIES = ("exactly k entries kept where the k-th largest value is tied: keep every entry equal to the threshold "
        "(drop only logits < threshold)")


@TOP_K_MISTAKES.add("zero_fill", "dropped entries are 0 instead of -inf: exp(0) = 1 still gives those tokens "
                    "probability; fill with float('-inf')")
def _(logits, top_k):
    return logits.masked_fill(logits < kth(logits, min(top_k, logits.shape[-1])), 0.0)


@TOP_K_MISTAKES.add("one_threshold", "your output matches one threshold for the whole batch: take the k-th largest "
                    "of each row (dim=-1, keepdim=True)")
def _(logits, top_k):
    return logits.masked_fill(logits < kth(logits.flatten(), min(top_k, logits.shape[-1])), float("-inf"))


@TOP_K_MISTAKES.add("k_minus_1", "your output matches keeping k-1 tokens: drop only entries strictly below the k-th "
                    "largest value (logits < threshold), keep the threshold itself")
def _(logits, top_k):
    return logits.masked_fill(logits <= kth(logits, min(top_k, logits.shape[-1])), float("-inf"))


@TOP_K_MISTAKES.add("k_plus_1", "your output matches keeping k+1 tokens: the threshold is the k-th largest value, "
                    "torch.topk(logits, k).values[..., -1:] (index k - 1 when sorted)",
                    when=lambda logits, top_k: top_k < logits.shape[-1])
def _(logits, top_k):
    return logits.masked_fill(logits < kth(logits, top_k + 1), float("-inf"))


def _tied(logits: torch.Tensor, top_k: int) -> bool:
    """Some row has more than k entries >= its k-th largest (a tie at the threshold)."""
    k = min(top_k, logits.shape[-1])
    return bool(((logits >= kth(logits, k)).sum(-1) > k).any())


@TOP_K_MISTAKES.add("exactly_k_on_ties", TIES, when=_tied)
def _(logits, top_k):
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(
        -1, torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).indices, True)
    return logits.masked_fill(~keep, float("-inf"))


# -- generate: greedy (TableLM) ------------------------------------------------------------------------
def follow(table: torch.Tensor, idx: torch.Tensor, n: int, context_size: int, *, eos_id: int | None = None,
           pick: str = "argmax", crop: str = "last", position: int = -1, keep_eos: bool = True,
           stop: str = "all", prompt_eos: bool = False) -> torch.Tensor:
    """Greedy decoding of TableLM(table): the answer (defaults) and the misconceptions (the options)."""
    out = idx.clone()
    done = idx[:, -1].eq(eos_id) if prompt_eos else torch.zeros(idx.shape[0], dtype=torch.bool)
    for _ in range(n):
        seen = {"last": out[:, -context_size:], "first": out[:, :context_size]}[crop]
        logits = table[seen[:, position]]  # (B, V)
        nxt = logits.argmax(-1) if pick == "argmax" else logits.argmin(-1)
        if eos_id is not None:  # finished rows repeat eos; a row finishes when it emits eos
            if keep_eos:
                nxt[done] = eos_id
            done |= nxt.eq(eos_id)
        out = torch.cat([out, nxt[:, None]], dim=1)
        if eos_id is not None and bool({"all": done.all(), "any": nxt.eq(eos_id).any(), "never": False}[stop]):
            break
    return out


GREEDY_MISTAKES = Misconceptions("generate (greedy)")


# With two tokens every wrong choice is also the argmin: no hint there.
@GREEDY_MISTAKES.add("argmin", "your tokens match argmin: greedy decoding takes the most likely token, "
                     "argmax(logits, dim=-1)", when=lambda table, **_: table.shape[0] > 2)
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, pick="argmin")


@GREEDY_MISTAKES.add("first_position", "your tokens match the logits of the first position of the context: the next "
                     "token is predicted by the last position, logits[:, -1, :]")
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, position=0)


@GREEDY_MISTAKES.add("crop_first", "your tokens match a context cropped to its first context_size tokens: keep the "
                     "most recent ones, idx[:, -context_size:]")
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, crop="first")


EOS_NOT_KEPT = ("rows stopped emitting eos: once a row has generated eos_id it is finished and gets eos_id again at "
                "every later step")
NO_STOP = "generation went on after every row had emitted eos_id: stop as soon as all rows are finished"


@GREEDY_MISTAKES.add("eos_not_kept", EOS_NOT_KEPT, when=lambda eos_id, **_: eos_id is not None)
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, keep_eos=False)


@GREEDY_MISTAKES.add("stop_at_any", "generation stopped when the first row emitted eos_id: go on until every row has "
                     "(all, not any)", when=lambda eos_id, **_: eos_id is not None)
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, stop="any")


@GREEDY_MISTAKES.add("never_stops", NO_STOP, when=lambda eos_id, **_: eos_id is not None)
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, stop="never")


@GREEDY_MISTAKES.add("prompt_eos_counts", "a prompt ending in eos_id was treated as finished: only tokens generated "
                     "by this call count", when=lambda eos_id, **_: eos_id is not None)
def _(table, idx, n, context_size, eos_id):
    return follow(table, idx, n, context_size, eos_id=eos_id, prompt_eos=True)


# -- generate: sampling ------------------------------------------------------------------------------
SAMPLING_MISTAKES = Misconceptions("generate (sampling distribution)")
GLOBAL_RNG = ("pass generator=generator to torch.multinomial (and to any other random call): otherwise the draws come "
              "from torch's global random state")


@SAMPLING_MISTAKES.add("times_t", "your sampled frequencies fit softmax(logits * T), not softmax(logits / T): divide "
                       "the logits by the temperature")
def _(logits, temperature, top_k):
    return torch.softmax(filtered(logits, top_k) * temperature, -1)


@SAMPLING_MISTAKES.add("t_ignored", "your sampled frequencies fit softmax(logits): the temperature is ignored")
def _(logits, temperature, top_k):
    return torch.softmax(filtered(logits, top_k), -1)


@SAMPLING_MISTAKES.add("uniform", "your sampled frequencies are uniform: the logits did not shape the draw (a softmax "
                       "over the batch dimension, dim=0, gives every token the same probability)")
def _(logits, temperature, top_k):
    support = torch.isfinite(filtered(logits, top_k)).to(torch.float64)
    return support / support.sum()


@SAMPLING_MISTAKES.add("no_top_k", f"your sampled frequencies fit sampling without the top-k filter: {OUTSIDE_TOP_K}",
                       when=lambda top_k, **_: top_k is not None)
def _(logits, temperature, top_k):
    return torch.softmax(logits / temperature, -1)


def gof_hint(counts: torch.Tensor, hints: Hints) -> str | None:
    """The hint of the sampling mistake whose distribution is within GOF_HINT_TV of the counts' frequencies."""
    freq = counts / counts.sum()
    return next((m.hint for m, q in hints.outputs() if 0.5 * float((freq - q).abs().sum()) < GOF_HINT_TV), None)
