"""The known mistakes of a05_gpt_model, one catalogue per question: public and hidden checks give the same hints.

The forward catalogue takes the model's pieces as functions (`blocks`, `norm`, `head`): the hidden
checks pass the reference's modules, the public ones a right model built from the same weights
(`pieces`), so both compute a mistake's logits without running the learner's code.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from autograder.compare import Hints, Misconceptions
from autograder.gpt_forms import DEFAULT_EPS, block_forward
from autograder.strategies import sub_weights

Fn = Callable[[torch.Tensor], torch.Tensor]


def expected_shapes(cfg: dict[str, Any]) -> dict[str, list[int]]:
    """Every parameter of GPTModel(cfg), by the curriculum's names (the right answer of the structure checks)."""
    V, C, E = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
    block = {f"att.{w}.weight": [E, E] for w in ("W_query", "W_key", "W_value", "out_proj")}
    if cfg["qkv_bias"]:
        block.update({f"att.{w}.bias": [E] for w in ("W_query", "W_key", "W_value")})
    block.update({"att.out_proj.bias": [E], "ff.layers.0.weight": [4 * E, E], "ff.layers.0.bias": [4 * E],
                  "ff.layers.2.weight": [E, 4 * E], "ff.layers.2.bias": [E], "norm1.scale": [E],
                  "norm1.shift": [E], "norm2.scale": [E], "norm2.shift": [E]})
    shapes = {"tok_emb.weight": [V, E], "pos_emb.weight": [C, E]}
    for i in range(cfg["n_layers"]):
        shapes.update({f"trf_blocks.{i}.{k}": s for k, s in block.items()})
    return {**shapes, "final_norm.scale": [E], "final_norm.shift": [E], "out_head.weight": [V, E]}


# -- structure: the parameters' names and shapes (and so their count) -----------------------------
PARAM_MISTAKES = Misconceptions("GPTModel parameters")


def _without(shapes: dict[str, list[int]], prefix: str) -> dict[str, list[int]]:
    return {k: v for k, v in shapes.items() if not k.startswith(prefix)}


@PARAM_MISTAKES.add("out_head_bias", "out_head has a bias: create it as nn.Linear(emb_dim, vocab_size, bias=False)")
def _(cfg):
    return {**expected_shapes(cfg), "out_head.bias": [cfg["vocab_size"]]}


@PARAM_MISTAKES.add("weight_tying", "out_head.weight is not a parameter of its own: it is the same Parameter as "
                    "tok_emb.weight (weight tying, as in the original GPT-2); this model keeps them separate")
def _(cfg):
    return _without(expected_shapes(cfg), "out_head.weight")


@PARAM_MISTAKES.add("no_pos_emb", "no positional embedding: pos_emb = nn.Embedding(context_length, emb_dim)")
def _(cfg):
    return _without(expected_shapes(cfg), "pos_emb.")


@PARAM_MISTAKES.add("pos_emb_per_token_id", "pos_emb has one row per token id; it needs one per position: "
                    "nn.Embedding(context_length, emb_dim)")
def _(cfg):
    return {**expected_shapes(cfg), "pos_emb.weight": [cfg["vocab_size"], cfg["emb_dim"]]}


@PARAM_MISTAKES.add("no_final_norm", "no final_norm: final_norm = LayerNorm(emb_dim), your a04 LayerNorm")
def _(cfg):
    return _without(expected_shapes(cfg), "final_norm.")


@PARAM_MISTAKES.add("one_block_repeated", "trf_blocks.0's parameters are there but later blocks' are not: one "
                    "TransformerBlock repeated n_layers times shares its weights; create a new TransformerBlock(cfg) "
                    "for each layer", when=lambda cfg: cfg["n_layers"] > 1)
def _(cfg):
    return {k: v for k, v in expected_shapes(cfg).items() if not k.startswith("trf_blocks.") or
            k.startswith("trf_blocks.0.")}


def count(shapes: dict[str, list[int]]) -> int:
    return sum(math.prod(s) for s in shapes.values())


# -- forward --------------------------------------------------------------------------------------
GPT_MISTAKES = Misconceptions("GPTModel")
HINT_INDEX = ("an embedding lookup went past its table: tok_emb has a row per token id (0..vocab_size-1), pos_emb "
              "a row per position (0..context_length-1); look positions up with torch.arange(T)")
CHECK_T_FIRST = ("compare T = in_idx.shape[1] with context_length first thing in forward, and raise "
                 "ValueError(f\"... T={T} ... context_length={...}\") before any lookup")


def _logits(x: torch.Tensor, blocks: Fn, norm: Fn, head: Fn) -> torch.Tensor:
    return head(norm(blocks(x)))


@GPT_MISTAKES.add("no_pos_emb", "your logits match a model without position embeddings: add pos_emb(torch.arange(T))")
def _(idx, tok, pos, blocks, norm, head):
    return _logits(tok[idx], blocks, norm, head)


@GPT_MISTAKES.add("pos_emb_by_token_ids", "your logits match pos_emb indexed by the token ids: index it by the "
                  "positions 0..T-1, pos_emb(torch.arange(T))", when=lambda idx, pos, **_: int(idx.max()) < len(pos))
def _(idx, tok, pos, blocks, norm, head):
    return _logits(tok[idx] + pos[idx], blocks, norm, head)


@GPT_MISTAKES.add("positions_from_one", "your logits match positions 1..T: positions start at 0, torch.arange(T)",
                  when=lambda idx, pos, **_: idx.shape[1] < len(pos))
def _(idx, tok, pos, blocks, norm, head):
    return _logits(tok[idx] + pos[1:idx.shape[1] + 1], blocks, norm, head)


@GPT_MISTAKES.add("token_embeddings_scaled", "your logits match token embeddings multiplied by sqrt(emb_dim): GPT-2 "
                  "adds tok_emb and pos_emb unscaled")
def _(idx, tok, pos, blocks, norm, head):
    return _logits(tok[idx] * math.sqrt(tok.shape[1]) + pos[:idx.shape[1]], blocks, norm, head)


@GPT_MISTAKES.add("no_final_norm", "your logits match a model that skips final_norm: out_head(final_norm(x)) after "
                  "the blocks")
def _(idx, tok, pos, blocks, norm, head):
    return _logits(tok[idx] + pos[:idx.shape[1]], blocks, lambda t: t, head)


@GPT_MISTAKES.add("no_blocks", "your logits match a model that skips trf_blocks")
def _(idx, tok, pos, blocks, norm, head):
    return _logits(tok[idx] + pos[:idx.shape[1]], lambda t: t, norm, head)


@GPT_MISTAKES.add("softmax_on_logits", "your output matches the softmax of the logits: return the raw logits; the "
                  "loss (a06) and decoding apply softmax themselves")
def _(idx, tok, pos, blocks, norm, head):
    return torch.softmax(_logits(tok[idx] + pos[:idx.shape[1]], blocks, norm, head), dim=-1)


def pieces(w: dict[str, torch.Tensor], cfg: dict[str, Any]) -> dict[str, Any]:
    """A right GPTModel from weights `w`, as the forward catalogue's inputs other than idx."""
    layers = [block_forward(sub_weights(w, f"trf_blocks.{i}."), cfg["n_heads"]) for i in range(cfg["n_layers"])]

    def blocks(x: torch.Tensor) -> torch.Tensor:
        for layer in layers:
            x = layer(x)
        return x

    return {"tok": w["tok_emb.weight"], "pos": w["pos_emb.weight"], "blocks": blocks,
            "norm": lambda t: F.layer_norm(t, t.shape[-1:], w["final_norm.scale"], w["final_norm.shift"], DEFAULT_EPS),
            "head": lambda t: t @ w["out_head.weight"].T}


def gpt_hints(idx: torch.Tensor, w: dict[str, torch.Tensor], cfg: dict[str, Any]) -> Hints:
    return GPT_MISTAKES(idx=idx, **pieces({k: v.detach() for k, v in w.items()}, cfg))


# -- drop_emb: the probe of suites/a05_gpt_model.py (each block adds c, final_norm has scale 1 and shift 0,
# out_head is the identity), so train-mode logits are norm(m * (tok + pos) / (1 - p) + c) for a 0/1 mask m
# per token; a mistake shows as another formula, matched token by token over the 2^E masks.
DROP_MISTAKES = Misconceptions("GPTModel drop_emb")


def all_masks(E: int) -> torch.Tensor:
    """Every 0/1 mask over E features, (2^E, 1, 1, E)."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=E)), dtype=torch.float64)[:, None, None, :]


def per_token_masks(out: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor | None:
    """candidates (M, B, T, E), one per mask: the index (B, T) of a mask whose candidate equals `out` at each
    token, or None when some token matches none."""
    if out.shape != candidates.shape[1:]:
        return None
    match = (candidates - out).abs().amax(-1) <= 1e-9  # (M, B, T)
    return match.to(torch.int64).argmax(0) if match.any(0).all() else None


def _drop_norm(t: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(t, t.shape[-1:], eps=DEFAULT_EPS)


def _explained(got: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """The mistake's output with the learner's own masks: `got` itself when every token is explained."""
    chosen = per_token_masks(got, candidates)
    if chosen is None:
        raise ValueError("no mask explains this output")
    return candidates.gather(0, chosen[None, ..., None].expand(1, *candidates.shape[1:]))[0]


@DROP_MISTAKES.add("never_applied", "drop_emb is never applied: x = self.drop_emb(tok_embeds + pos_embeds) before "
                   "the blocks")
def _(got, tok, pos, c, p_drop):
    return _drop_norm(tok + pos + c)


@DROP_MISTAKES.add("unscaled", "kept elements are not scaled by 1/(1-p) (nn.Dropout does it for you)")
def _(got, tok, pos, c, p_drop):
    return _explained(got, _drop_norm(all_masks(tok.shape[-1]) * (tok + pos) + c))


@DROP_MISTAKES.add("after_blocks", "matches dropout after the transformer blocks: apply drop_emb to tok + pos, "
                   "before trf_blocks")
def _(got, tok, pos, c, p_drop):
    return _explained(got, _drop_norm(all_masks(tok.shape[-1]) * (tok + pos + c) / (1 - p_drop)))


@DROP_MISTAKES.add("token_embeddings_only", "matches dropout on the token embeddings only: apply drop_emb to the sum "
                   "tok_emb(ids) + pos_emb(positions)")
def _(got, tok, pos, c, p_drop):
    return _explained(got, _drop_norm(all_masks(tok.shape[-1]) * tok / (1 - p_drop) + pos + c))


@DROP_MISTAKES.add("after_final_norm", "matches dropout after final_norm (or on the logits): apply drop_emb to tok + "
                   "pos, before the blocks")
def _(got, tok, pos, c, p_drop):
    return _explained(got, all_masks(tok.shape[-1]) * _drop_norm(tok + pos + c) / (1 - p_drop))


EVAL_DROP_MISTAKES = Misconceptions("GPTModel drop_emb in eval mode")
DROP_RATE_IGNORED = "with drop_rate=0 nothing may be dropped: give nn.Dropout the rate cfg['drop_rate']"
EVAL_DROPOUT = ("dropout is still on in eval mode: use the nn.Dropout module (self.drop_emb), which follows "
                "train()/eval(); F.dropout(x, p) is always on unless you pass training=self.training")


@EVAL_DROP_MISTAKES.add("dropout_in_eval", EVAL_DROPOUT)
def _(got, tok, pos, c, p_drop):
    return _explained(got, _drop_norm(all_masks(tok.shape[-1]) * (tok + pos) / (1 - p_drop) + c))


# -- generate_text_simple --------------------------------------------------------------------------
GENERATE_MISTAKES = Misconceptions("generate_text_simple")
GENERATE_NO_GRAD = "wrap the loop in `with torch.no_grad():`"


def greedy(logits: Fn, idx: torch.Tensor, n: int, context_size: int, *, window: str = "last",
           position: int = -1) -> torch.Tensor:
    """What generate_text_simple returns for a model `logits` (ids -> (B, T, V)); the options make mistakes."""
    out = idx.clone()
    for _ in range(n):
        cond = out[:, -context_size:] if window == "last" else out[:, :context_size]
        out = torch.cat([out, logits(cond)[:, position].argmax(-1, keepdim=True)], dim=1)
    return out


@GENERATE_MISTAKES.add("crops_first_tokens", "matches feeding the model the first context_size tokens: crop to the "
                       "last ones, idx[:, -context_size:]")
def _(model, idx, n, context_size):
    return greedy(model, idx, n, context_size, window="first")


@GENERATE_MISTAKES.add("first_position_logits", "matches taking the logits of the first position: the next token "
                       "comes from the last position, logits[:, -1, :]")
def _(model, idx, n, context_size):
    return greedy(model, idx, n, context_size, position=0)


CONTEXT_MISTAKES = Misconceptions("generate_text_simple contexts")


@CONTEXT_MISTAKES.add("never_cropped", "the context is never cropped: feed the model idx[:, -context_size:]")
def _(T0, n, context_size):
    return [T0 + i for i in range(n)]
