"""The known mistakes of a06_loss, one catalogue per function: public and hidden checks give the same hints.

Losses are computed by hand: loss = logsumexp(x) - x_y per position, averaged over the kept ones. Each
entry computes the mistake's output from the same inputs the check has; the two numerical mistakes
(no max subtracted, log of a softmax) are computed literally, in the logits' dtype, so they give the
learner's inf or nan exactly, and only count where they do.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from autograder.compare import Misconceptions

EOT = "<|endoftext|>"


def nll_by_hand(x: torch.Tensor, t: torch.Tensor, ii: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position loss logsumexp(x) - x_y in float64 over the (N, C) rows, and the (N,) mask of kept positions."""
    C = x.shape[-1]
    x, t = x.double().reshape(-1, C), t.reshape(-1)
    keep = t != ii
    safe = torch.where(keep, t, torch.zeros_like(t)).clamp(0, C - 1)
    return torch.logsumexp(x, -1) - x.gather(1, safe[:, None])[:, 0], keep


def loss_by_hand(x: torch.Tensor, t: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """The contract's loss in float64 (differentiable w.r.t. x): the mean of nll_by_hand over kept positions."""
    per, keep = nll_by_hand(x, t, ignore_index)
    return per[keep].mean()


CE_MISTAKES = Misconceptions("cross_entropy")


def ce_mistake(name: str, hint: str, **kwargs: Any) -> Callable[[Callable[..., torch.Tensor]], Any]:
    """Register a cross_entropy mistake; its loss is returned in the logits' dtype, as the buggy code would."""
    def compute(fn: Callable[..., torch.Tensor], x: torch.Tensor, t: torch.Tensor, ii: int) -> torch.Tensor:
        out = fn(x, t, ii).to(x.dtype)
        if torch.isnan(out).all() and not (t != ii).any():
            raise ValueError("nan with every position ignored is the right answer")
        return out

    def register(fn: Callable[..., torch.Tensor]) -> Any:
        return CE_MISTAKES.add(name, hint, **kwargs)(lambda x, t, ii: compute(fn, x, t, ii))
    return register


@ce_mistake("ignore_index_hardcoded", "your loss matches ignoring only -100 although another ignore_index was "
                 "given: compare the targets with the ignore_index argument", when=lambda ii, **_: ii != -100,
                 raises=True)
def _(x, t, ii):
    C = x.shape[-1]  # literally: a target equal to ignore_index but not in [0, C) then fails in gather
    x, t = x.double().reshape(-1, C), t.reshape(-1)
    keep = t != -100
    safe = torch.where(keep, t, torch.zeros_like(t))
    return (torch.logsumexp(x, -1) - x.gather(1, safe[:, None])[:, 0])[keep].mean()


@ce_mistake("ignored_in_count", "your loss matches the mean over all positions, ignored ones included in the "
                 "count: divide by the number of positions whose target is not ignore_index",
            when=lambda t, ii, **_: (t == ii).any() and (t != ii).any())
def _(x, t, ii):
    per, keep = nll_by_hand(x, t, ii)
    return per[keep].sum() / t.numel()


@ce_mistake("zero_for_no_position", "your loss is 0 when every target is ignore_index: a mean over no positions is "
            "nan (0 / 0), as in PyTorch; divide the sum over the kept positions by their count",
            when=lambda t, ii, **_: not (t != ii).any())
def _(x, t, ii):
    return torch.zeros((), dtype=torch.float64)


@ce_mistake("ignored_as_class_0", "your loss matches counting the ignored positions as ordinary targets (scored "
                 "as class 0): drop the positions whose target equals ignore_index", when=lambda t, ii, **_: (t == ii).any())
def _(x, t, ii):
    return nll_by_hand(x, t, ii)[0].mean()


@ce_mistake("sum", "your loss matches the sum over positions instead of the mean",
                 when=lambda t, ii, **_: (t != ii).sum() > 1)
def _(x, t, ii):
    per, keep = nll_by_hand(x, t, ii)
    return per[keep].sum()


@ce_mistake("log2", "your loss matches log base 2: cross-entropy uses the natural log (torch.log, math.log)")
def _(x, t, ii):
    return loss_by_hand(x, t, ii) / math.log(2)


@ce_mistake("no_minus", "your loss matches the mean log-probability without the minus sign: the loss is "
                 "-log p(target)")
def _(x, t, ii):
    return -loss_by_hand(x, t, ii)


@ce_mistake("no_logsumexp", "your loss matches -logit[target] without log-sum-exp: subtract logsumexp(row) "
                 "from the target's logit to get its log-probability")
def _(x, t, ii):
    per, keep = nll_by_hand(x, t, ii)
    return (per - torch.logsumexp(x.double().reshape(-1, x.shape[-1]), -1))[keep].mean()


@ce_mistake("max_over_dim_0", "your loss matches subtracting the maximum over dim 0 (each class's maximum over "
                 "the positions): the shift must be one number per row, the row's maximum over the classes (the last dim)")
def _(x, t, ii):
    C = x.shape[-1]
    s = x.double().reshape(-1, C)
    s = s - s.amax(0)
    keep = t.reshape(-1) != ii
    safe = torch.where(keep, t.reshape(-1), 0).clamp(0, C - 1)
    return (torch.log(torch.exp(s).sum(-1)) - s.gather(1, safe[:, None])[:, 0])[keep].mean()


@ce_mistake("mean_of_sequence_means", "your loss matches averaging each sequence first, then the sequences: "
                 "average over all kept positions at once", when=lambda x, **_: x.dim() == 3 and x.shape[0] > 1)
def _(x, t, ii):
    per, keep = nll_by_hand(x, t, ii)
    per, keep = per.reshape(t.shape), keep.reshape(t.shape)
    if not keep.any(1).all():
        raise ValueError("a sequence with no kept position")
    return ((per * keep).sum(1) / keep.sum(1)).mean()


def _nonfinite(loss: torch.Tensor) -> torch.Tensor:
    if torch.isfinite(loss):
        raise ValueError("this mistake only shows where it overflows")
    return loss


def _overflowed(x: torch.Tensor, t: torch.Tensor, ii: int) -> torch.Tensor:
    """logsumexp without the max subtracted, literally, in the logits' dtype."""
    C = x.shape[-1]
    s, t = x.reshape(-1, C), t.reshape(-1)
    keep = t != ii
    return (torch.log(torch.exp(s).sum(-1)) - s.gather(1, torch.where(keep, t, 0)[:, None])[:, 0])[keep].mean()


def _underflowed(x: torch.Tensor, t: torch.Tensor, ii: int) -> torch.Tensor:
    """-log(softmax(x)_y), literally, in the logits' dtype."""
    C = x.shape[-1]
    s, t = x.reshape(-1, C), t.reshape(-1)
    keep = t != ii
    return -torch.log(torch.softmax(s, -1).gather(1, torch.where(keep, t, 0)[:, None])[:, 0])[keep].mean()


@ce_mistake("overflow_or_underflow", "your loss is inf or nan for large logits: exp(x) overflowed (subtract each "
                 "row's maximum m first: logsumexp(x) = m + log(sum(exp(x - m)))), or log(softmax(x)) underflowed to "
                 "log(0) = -inf (use log p_y = x_y - logsumexp(x) instead of taking the log of a probability)")
def _(x, t, ii):
    over = _nonfinite(_overflowed(x, t, ii))  # both mistakes give this very value: the hint names both
    if not torch.isclose(over, _underflowed(x, t, ii), equal_nan=True):
        raise ValueError("the two mistakes differ here")
    return over


@ce_mistake("no_max_subtraction", "exp of a large logit overflowed to inf: subtract each row's maximum m before "
                 "exp, logsumexp(x) = m + log(sum(exp(x - m)))")
def _(x, t, ii):
    return _nonfinite(_overflowed(x, t, ii))


@ce_mistake("log_of_softmax", "log(softmax(x)) underflowed to log(0) = -inf: the target's probability is 0 in "
                 "floating point for logits far below the maximum; use log p_y = x_y - logsumexp(x) (with the max "
                 "subtracted) instead")
def _(x, t, ii):
    return _nonfinite(_underflowed(x, t, ii))


BATCH_MISTAKES = Misconceptions("calc_loss_batch")


@BATCH_MISTAKES.add("inputs_as_targets", "your loss matches the inputs scored as targets: score logits against "
                    "target_batch")
def _(table, inputs, targets, own, want):
    return loss_by_hand(table[inputs], inputs)


@BATCH_MISTAKES.add("targets_transposed", "your loss matches targets flattened in another order than the logits: "
                    "flatten logits (B, T, V) -> (B*T, V) and targets (B, T) -> (B*T,) the same way",
                    when=lambda inputs, **_: min(inputs.shape) > 1)
def _(table, inputs, targets, own, want):
    return loss_by_hand(table[inputs].flatten(0, 1), targets.T.flatten())


@BATCH_MISTAKES.add("own_cross_entropy", "your calc_loss_batch equals your own cross_entropy on these logits, and "
                    "that is what is off: fix cross_entropy first (see its checks)")
def _(table, inputs, targets, own, want):
    if not isinstance(own, torch.Tensor) or own.numel() != 1 or math.isclose(float(own), float(want), rel_tol=1e-7):
        raise ValueError("your cross_entropy is right here")
    return own.double().reshape(())


LOADER_MISTAKES = Misconceptions("calc_loss_loader")


def _k(losses: list[float], num_batches: int | None) -> int:
    """How many batches calc_loss_loader uses: min(num_batches, len(loader)), all when None."""
    return len(losses) if num_batches is None else min(num_batches, len(losses))


def _many(k: int) -> int:
    if k < 2:  # with one batch these mistakes give the right answer
        raise ValueError(f"not a distinct mistake for {k} batch(es)")
    return k


def _own_mean(losses: list[float], k: int, own: list[Any]) -> float:
    mine = [float(v) if isinstance(v, torch.Tensor) and v.numel() == 1 else math.nan for v in own[:k]]
    if k == 0 or len(mine) < k or all(math.isclose(a, b, rel_tol=1e-7) for a, b in zip(mine, losses)):
        raise ValueError("your calc_loss_batch is right here")
    return sum(mine) / k


_CUT = lambda losses, num_batches, **_: _k(losses, num_batches) < len(losses)  # noqa: E731 (num_batches cut the loop)
# name, hint, applies when, the mistake's result from the batch losses L, the k batches used, the sizes s,
# the learner's own batch losses and num_batches
_LOADER: list[tuple[str, str, Callable[..., bool] | None, Callable[..., float]]] = [
    ("divides_by_len", "your result matches dividing by len(data_loader) although only num_batches batches were used: "
     "divide by min(num_batches, len(data_loader))", _CUT, lambda L, k, s, own, nb: sum(L[:k]) / len(L)),
    ("every_batch", "your result matches the mean over every batch of the loader: stop after num_batches batches",
     _CUT, lambda L, k, s, own, nb: sum(L) / len(L)),
    ("one_too_many", "your result matches one batch too many (num_batches + 1): stop after the num_batches-th batch",
     _CUT, lambda L, k, s, own, nb: sum(L[:k + 1]) / (k + 1)),
    ("loop_one_too_far", "your result matches adding num_batches + 1 batch losses and dividing by num_batches: the "
     "loop runs one batch too far (i <= num_batches?)", _CUT, lambda L, k, s, own, nb: sum(L[:k + 1]) / k),
    ("divides_by_num_batches", "your result matches dividing by num_batches although the loader has fewer batches: "
     "use min(num_batches, len(data_loader))", lambda losses, num_batches, **_: (num_batches or 0) > len(losses) > 0,
     lambda L, k, s, own, nb: sum(L) / nb),
    ("last_batch_only", "your result matches the loss of the last batch only: add up every batch's loss, then divide",
     None, lambda L, k, s, own, nb: L[_many(k) - 1]),
    ("total_overwritten", "your result matches the last batch's loss divided by the number of batches: the running "
     "total is overwritten (total = ...) instead of added to (total += ...)", None,
     lambda L, k, s, own, nb: L[_many(k) - 1] / k),
    ("sum", "your result matches the sum of the batch losses: divide by the number of batches used", None,
     lambda L, k, s, own, nb: sum(L[:_many(k)])),
    ("one_too_few", "your result matches one batch too few: use all of the first num_batches batches", None,
     lambda L, k, s, own, nb: sum(L[:_many(k) - 1]) / (k - 1)),
    ("weighted_by_tokens", "your result matches weighting each batch by its number of scored tokens: the contract is "
     "the plain mean of the batch losses", lambda losses, sizes, num_batches, **_: len(set(sizes[:_k(losses, num_batches)])) > 1,
     lambda L, k, s, own, nb: sum(v * n for v, n in zip(L[:k], s)) / sum(s[:k])),
    ("own_batch_losses", "your calc_loss_batch gives other batch losses than expected (see its checks); fix it first, "
     "calc_loss_loader averages what it returns", None, lambda L, k, s, own, nb: _own_mean(L, k, own)),
    ("empty_gives_zero", "0.0 reads as a perfect model; an empty loader has no loss: return float('nan')",
     lambda losses, **_: not losses, lambda L, k, s, own, nb: 0.0),
]
for _name, _hint, _when, _f in _LOADER:
    LOADER_MISTAKES.add(_name, _hint, when=_when)(
        lambda losses, sizes, num_batches, own, f=_f: f(losses, _k(losses, num_batches), sizes, own, num_batches))


@LOADER_MISTAKES.add("no_empty_check", "check len(data_loader) == 0 first and return float('nan') (dividing by 0 "
                     "batches raises)", when=lambda losses, **_: not losses, raises=True)
def _(losses, sizes, num_batches, own):
    return sum(losses) / len(losses)  # raises ZeroDivisionError, as the learner's code does


PPL_MISTAKES = Misconceptions("perplexity")


def _exp(loss: torch.Tensor | float, f: float = 1.0, base: float = math.e) -> torch.Tensor | float:
    return base ** (f * loss) if not isinstance(loss, torch.Tensor) else torch.pow(base, f * loss)


@PPL_MISTAKES.add("exp_of_minus", "your result matches exp(-loss): perplexity is exp(+loss), at least 1 for a "
                  "non-negative loss")
def _(loss):
    return _exp(loss, -1.0)


@PPL_MISTAKES.add("base_2", "your result matches 2 ** loss: the loss uses the natural log, so perplexity = exp(loss)")
def _(loss):
    return _exp(loss, base=2.0)


T2I_MISTAKES = Misconceptions("text_to_token_ids")


@T2I_MISTAKES.add("no_batch_dim", "add the batch dimension: torch.tensor(ids).unsqueeze(0), shape (1, T)")
def _(text, tok):
    return torch.tensor(tok.encode(text, allowed_special={EOT}), dtype=torch.long)


@T2I_MISTAKES.add("no_allowed_special", "<|endoftext|> was encoded as ordinary text: call tokenizer.encode(text, "
                  "allowed_special={'<|endoftext|>'})", when=lambda text, **_: EOT in text)
def _(text, tok):
    return torch.tensor([tok.encode(text)], dtype=torch.long)


@T2I_MISTAKES.add("float_ids", "pass dtype=torch.long: torch.tensor([]) is a float tensor, for empty text",
                  when=lambda text, **_: not text)
def _(text, tok):
    return torch.tensor(tok.encode(text, allowed_special={EOT})).unsqueeze(0)


I2T_MISTAKES = Misconceptions("token_ids_to_text")


@I2T_MISTAKES.add("no_squeeze", "decode wants a flat list of ints: squeeze the batch dim of the (1, T) tensor first, "
                  "then .tolist()", raises=True)
def _(ids, tok):
    return tok.decode(ids.tolist())  # a nested list: the tokenizer raises, as it does on the learner's side


class StoredIds:
    """A tokenizer that knows only some texts' ids (GPT-2's, stored in the suite), for computing hints.

    Like tiktoken, it raises ValueError for <|endoftext|> unless allowed, and TypeError on a nested list.
    """

    def __init__(self, ids: dict[str, list[int]]) -> None:
        self.ids = ids

    def encode(self, text: str, allowed_special: set[str] = frozenset()) -> list[int]:
        if EOT in text and EOT not in allowed_special:
            raise ValueError(f"{EOT} is a disallowed special token")
        return self.ids[text]

    def decode(self, ids: list[int]) -> str:
        if not all(isinstance(i, int) for i in ids):
            raise TypeError(f"ids must be ints, got {ids!r:.40}")
        return next(text for text, known in self.ids.items() if known == ids)
