"""The check kit (autograder/kit.py): catalogues, ctx.module/call/fetch, the automatic checks, the blame rule."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import reference.a03_attention as ref03
import reference.a04_gpt_blocks as ref04
import reference.a10_instruction as ref10
from autograder.assignments import CURRICULUM, DEPENDENCIES, available, runs
from autograder.checks import Suite, run_check
from autograder.compare import FLOAT64, CheckFailure, Misconceptions, _same, assert_close, is_close
from autograder.differential import random_weights
from autograder.grading import grade
from autograder.worker import InProcess
from tests.conftest import SOLUTIONS, checks_by_name, make_submission
from tests.banks.edits import apply

ROOT = Path(__file__).resolve().parent.parent
KIT_SUITES = ("a01_tokenizer", "a02_data", "a03_attention", "a04_gpt_blocks", "a05_gpt_model", "a06_loss",
              "a07_training", "a08_decoding", "a09_classification", "a10_instruction", "a11_lora", "a12_kv_cache",
              "a13_llama", "a14_dpo")  # every suite is on the kit


# -- every catalogue: a mistake's output is never the right answer ---------------------------------
def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _attention(cls: str, heads: int) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a03_attention import attention_hints
    init: dict[str, Any] = {"d_in": 4, "d_out": 6, "context_length": 5, "dropout": 0.0, "qkv_bias": True}
    if cls == "MultiHeadAttention":
        init["num_heads"] = heads
    if cls == "SelfAttention_v2":
        init = {"d_in": 4, "d_out": 6, "qkv_bias": True}
    module = getattr(ref03, cls)(**init).double().eval()
    random_weights(module, 3)
    x = _x(2, 5, 4) if cls != "SelfAttention_v2" else _x(5, 4)
    with torch.no_grad():
        return attention_hints(cls, x, module.state_dict(), heads), module(x)


def _layernorm() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import layernorm_hints
    module = ref04.LayerNorm(6, eps=1e-3).double()
    random_weights(module, 4)
    x = _x(2, 3, 6) * 0.05  # rows of small variance: eps matters
    with torch.no_grad():
        return layernorm_hints(x, module.scale, module.shift, eps=1e-3), module(x)


def _block(cfg: dict[str, Any]) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import block_hints
    module = ref04.TransformerBlock(cfg).double().eval()
    random_weights(module, 5)
    x = _x(2, 4, cfg["emb_dim"])
    with torch.no_grad():
        return block_hints(x, dict(module.state_dict()), cfg["n_heads"]), module(x)


def _gelu() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import GELU_MISTAKES
    x = _x(3, 7) * 2
    return GELU_MISTAKES(x=x), ref04.GELU()(x)


def _feedforward(cfg: dict[str, Any]) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import FF_MISTAKES
    module = ref04.FeedForward(cfg).double()
    random_weights(module, 6)
    x = _x(2, 3, cfg["emb_dim"])
    with torch.no_grad():
        return FF_MISTAKES(x=x, w=dict(module.state_dict())), module(x)


def _residual() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import RESIDUAL_MISTAKES
    x = _x(4, 3, 8)
    return RESIDUAL_MISTAKES(x=x, p_drop=0.25, got=x.clone()), x


def _dropout() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a04_gpt_blocks import DROPOUT_MISTAKES
    x, c = _x(4, 3, 8), 0.5 + 0.25 * torch.arange(8, dtype=torch.float64)
    kept = torch.rand(4, 3, 8, generator=torch.Generator().manual_seed(1)) >= 0.25
    return DROPOUT_MISTAKES(x=x, c=c, p_drop=0.25), x + kept * c / 0.75  # one right answer: a seeded dropout


def _classification() -> dict[str, Callable[[], list[tuple[Any, Any]]]]:
    import torch.nn.functional as F

    from autograder.mistakes import a09_classification as m09
    from autograder.runtime.toy_gpt import ToyGPT
    encoded = [[6], [1, 2, 3, 4, 5], [7, 8]]
    names = [*ToyGPT(7, 6, 4, 3).state_dict(), "out_head.bias"]
    toy = ToyGPT(4, 5, 3).double()
    random_weights(toy, 7)
    ids = torch.tensor([[1, 2, 3, 1, 2], [3, 1, 0, 0, 0], [2, 0, 0, 0, 0]])
    labels = torch.tensor([0, 3, 1])
    with torch.no_grad():
        logits = toy(ids)
    loss = [(m09.LOSS_MISTAKES(logits=logits, ids=ids, labels=labels, pad=pad),
             F.cross_entropy(m09.select(logits, ids, pad), labels)) for pad in (None, 0)]
    return {
        "ClassificationDataset": lambda: [(m09.DATASET_MISTAKES(encoded=encoded, max_length=L, pad=300),
                                           m09.rows(encoded, L, 300)) for L in (None, 3)],
        "prepare_for_classification": lambda: [(m09.PREPARE_MISTAKES(names=names, n_layers=3),
                                                m09.trainable_names(names, 3))],
        "calc_loss_batch_classifier": lambda: loss,
        "calc_accuracy_loader": lambda: [(m09.ACCURACY_MISTAKES(correct=[3, 2, 1, 0], sizes=[4, 4, 1, 4], used=3), 6 / 9)],
    }


def _instruction() -> dict[str, Callable[[], list[tuple[Any, Any]]]]:
    from autograder.mistakes import a10_instruction as m10
    calls = [([[1, 2, 3], [4], [5, 6, 7, 8]], {"pad_token_id": 0, "ignore_index": -1, "mask_prompt_lengths": [2, 0, 3]}),
             ([[1, 2, 3, 4, 5], [6]], {"allowed_max_length": 3}),
             ([[1, 2], [3, 4, 5]], {"mask_prompt_lengths": [1, 2]})]
    return {
        "format_input": lambda: [(m10.PROMPT_MISTAKES(instruction=" Sort. ", text=t), m10.prompt(" Sort. ", t))
                                 for t in ("", " the list ")],
        "format_response": lambda: [(m10.RESPONSE_MISTAKES(output="Yes."), "\n\n### Response:\nYes.")],
        "custom_collate_fn": lambda: [(m10.collate_hints(b, kw), [t.tolist() for t in ref10.custom_collate_fn(b, **kw)])
                                      for b, kw in calls],
    }


def _logprobs(masked: bool) -> tuple[Any, torch.Tensor]:
    import reference.a14_dpo as ref14
    from autograder.suites.a14_dpo import logprobs_hints, response_mask
    logits, labels = _x(3, 5, 4), torch.randint(0, 4, (3, 5), generator=torch.Generator().manual_seed(1))
    mask = response_mask(3, 5, 2) if masked else None
    return logprobs_hints(logits, labels, mask), ref14.compute_logprobs(logits, labels, mask)


def _dpo(item: int) -> tuple[Any, torch.Tensor]:
    import reference.a14_dpo as ref14
    from autograder.suites.a14_dpo import loss_hints
    pc, pr, rc, rr = (_x(4, seed=i) - 3 for i in range(4))
    return loss_hints(pc, pr, rc, rr, 0.5)[item], ref14.compute_dpo_loss(pc, pr, rc, rr, 0.5)[item]


def _dpo_batch() -> tuple[Any, torch.Tensor]:
    import reference.a14_dpo as ref14
    from autograder.mistakes.a14_dpo import BATCH
    from autograder.runtime.toys import TableLM
    from autograder.suites.a14_dpo import make_batch
    policy, reference, batch = _x(5, 5, seed=1), _x(5, 5, seed=2), make_batch(2, 4, 6, 5, 3)
    want = ref14.compute_dpo_loss_batch(batch, TableLM(policy), TableLM(reference), 0.3)[0]
    return BATCH(policy=policy, reference=reference, batch=batch, beta=0.3), want


def _lora(rank: int, alpha: float) -> tuple[Any, torch.Tensor]:
    import reference.a11_lora as ref11
    from autograder.mistakes.a11_lora import LORA
    module = ref11.LoRALayer(4, 3, rank, alpha).double()
    random_weights(module, 7)
    x = _x(2, 4)
    with torch.no_grad():
        return LORA(x=x, A=module.A, B=module.B, alpha=alpha, rank=rank), module(x)


def _lora_weights(fin: int, fout: int, bias: bool) -> tuple[Any, dict[str, torch.Tensor]]:
    import reference.a11_lora as ref11
    from autograder.suites.a11_lora import lora_weights
    layer = ref11.LinearWithLoRA(torch.nn.Linear(fin, fout, bias=bias).double(), 2, 3.0)
    w = lora_weights(fin, fout, 2, bias, 5)
    layer.load_state_dict(w)
    return layer, w


def _wrapped() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a11_lora import WRAPPED
    layer, w = _lora_weights(4, 3, True)
    x = _x(2, 4)
    with torch.no_grad():
        return WRAPPED(x=x, w=w, scale=1.5), layer(x)


def _merge(fin: int, fout: int) -> tuple[Any, torch.Tensor]:
    import reference.a11_lora as ref11
    from autograder.mistakes.a11_lora import MERGE
    layer, w = _lora_weights(fin, fout, False)
    return MERGE(w=w, scale=1.5), ref11.merge_lora(layer).weight.detach()


def _llama(topic: str) -> tuple[Any, torch.Tensor]:
    """a13's catalogues, each on one example with the reference's answer."""
    import reference.a13_llama as ref13
    from autograder.mistakes import a13_llama as m13
    x = _x(3, 4, 6)
    if topic == "RMSNorm":
        w = _x(6, seed=1)
        return m13.RMSNORM(x=x * 1e-3, weight=w, eps=1e-5), torch.nn.functional.rms_norm(x * 1e-3, (6,), w, 1e-5)
    if topic == "SiLU":
        return m13.SILU(x=x * 5), ref13.SiLU()(x * 5)
    if topic == "RoPE tables":
        return m13.ROPE_TABLES(head_dim=6, theta_base=100.0, context_length=9), torch.cat(
            ref13.compute_rope_params(6, 100.0, 9), -1)
    cos, sin = ref13.compute_rope_params(6, 100.0, 9)
    if topic == "apply_rope":
        return m13.APPLY_ROPE(x=x[None], cos=cos, sin=sin, offset=2), ref13.apply_rope(x[None], cos, sin, 2)
    module = ref13.SwiGLUFeedForward(6, 5) if topic == "SwiGLUFeedForward" else ref13.GroupedQueryAttention(6, 4, 2, 4)
    cos, sin = ref13.compute_rope_params(4, 100.0, 9)  # head_dim 4 != d_in: scale_by_d_in differs
    random_weights(module.double(), 7)
    w = dict(module.state_dict())
    mask = torch.ones(6, 6, dtype=torch.bool).triu(1)
    with torch.no_grad():
        if topic == "SwiGLUFeedForward":
            return m13.SWIGLU(x=x, w=w), module(x)
        return m13.gqa_hints(x, w, 4, 2, mask, cos, sin), module(x, mask, cos, sin)


def _adamw_step(g_none: bool) -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a07_training import ADAMW_MISTAKES, _adam
    p, g, m, v = _x(3, 4), _x(3, 4, seed=1), _x(3, 4, seed=2) * 0.1, _x(3, 4, seed=3) ** 2 * 0.1
    hyper = {"p": p, "m": m, "v": v, "t": 2, "wd": 0.1, "eps": 0.3, "b1": 0.9, "b2": 0.99}
    right = p if g_none else _adam(g=g, lr=0.1, **hyper)  # the module docstring's step, nothing changed
    return ADAMW_MISTAKES(g=None if g_none else g, t_opt=4, lr=0.1, lr0=0.05, **hyper), right


def _clip(max_norm: float) -> tuple[Any, torch.Tensor]:
    from autograder.compare import Hints
    from autograder.mistakes.a07_training import CLIP_MISTAKES
    grads = [_x(2, 3), None, _x(4, seed=1) * 2]
    params = [torch.nn.Parameter(torch.zeros_like(g)) if g is not None else torch.nn.Parameter(torch.zeros(1))
              for g in grads]
    for q, g in zip(params, grads):
        q.grad = None if g is None else g.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    whole = lambda out: torch.cat([out["norm"].reshape(1), *(g.flatten() for g in out["grads"] if g is not None)])
    right = whole({"norm": norm, "grads": [q.grad for q in params]})
    return Hints(CLIP_MISTAKES, {"grads": grads, "max_norm": max_norm}, view=whole), right


def _schedule() -> tuple[Any, torch.Tensor]:
    import reference.a07_training as ref07
    from autograder.mistakes.a07_training import SCHEDULE_MISTAKES
    args = (10, 3, 1e-3, 3e-5, 1e-6)
    right = torch.tensor([ref07.lr_at_step(k, *args) for k in range(11)], dtype=torch.float64)
    return SCHEDULE_MISTAKES(total=10, warmup=3, peak=1e-3, initial=3e-5, low=1e-6), right


def _loop(warmup: int | None) -> list[tuple[Any, torch.Tensor]]:
    """LOOP_NORMS and LOOP_CALLS on a made-up record of 6 steps (3 per epoch, evaluations at steps 0 and 3)."""
    from autograder.mistakes.a07_training import LOOP_CALLS, LOOP_NORMS
    norms = [2.0, 0.5, 3.0, 1.5, 2.5, 0.8]
    summed = [2.0, 2.2, 4.0, 4.4, 6.0, 6.1]
    right = torch.tensor([min(x, 1.0) if warmup is not None and k >= warmup else x for k, x in enumerate(norms)],
                         dtype=torch.float64)
    evals, calls = [1, 0, 0, 1, 0, 0], [1, 4, 5, 56, 59, 60]
    return [(LOOP_NORMS(norms=norms, summed=summed, warmup=warmup), right),
            (LOOP_CALLS(calls=calls, evals=evals, per_eval=2, n=3), torch.tensor(calls, dtype=torch.float64))]


def _gpt(cfg: dict[str, Any], T: int) -> tuple[Any, torch.Tensor]:
    import reference.a05_gpt_model as ref05
    from autograder.mistakes.a05_gpt_model import gpt_hints
    module = ref05.GPTModel(cfg).double().eval()
    random_weights(module, 7)
    idx = torch.randint(0, min(cfg["vocab_size"], cfg["context_length"]), (2, T), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return gpt_hints(idx, dict(module.state_dict()), cfg), module(idx)


def _gpt_parameters(cfg: dict[str, Any]) -> tuple[Any, Any]:
    from autograder.mistakes.a05_gpt_model import PARAM_MISTAKES, expected_shapes
    return PARAM_MISTAKES(cfg=cfg), expected_shapes(cfg)


def _drop_emb(eval_mode: bool) -> list[tuple[Any, torch.Tensor]]:
    """Each mistake's train-mode output under one seeded mask (the mistake explains it), and the right answer."""
    import torch.nn.functional as F
    from autograder.mistakes.a05_gpt_model import DROP_MISTAKES, EVAL_DROP_MISTAKES
    tok, pos, c, p = _x(3, 2, 4, seed=1), _x(2, 4, seed=2), _x(4, seed=3), 0.5
    m = (torch.rand(3, 2, 4, generator=torch.Generator().manual_seed(4)) > p).double()
    norm = lambda t: F.layer_norm(t, (4,), eps=1e-5)  # noqa: E731
    if eval_mode:  # the right answer has no dropout; the mistake drops as in train mode
        return [(EVAL_DROP_MISTAKES(got=norm(m * (tok + pos) / (1 - p) + c), tok=tok, pos=pos, c=c, p_drop=p),
                 norm(tok + pos + c))]
    right = norm(m * (tok + pos) / (1 - p) + c)
    outs = [norm(tok + pos + c), norm(m * (tok + pos) + c), norm(m * (tok + pos + c) / (1 - p)),
            norm(m * tok / (1 - p) + pos + c), m * norm(tok + pos + c) / (1 - p)]
    return [(DROP_MISTAKES(got=got, tok=tok, pos=pos, c=c, p_drop=p), right) for got in outs]


def _generate_text_simple() -> tuple[Any, torch.Tensor]:
    from autograder.mistakes.a05_gpt_model import GENERATE_MISTAKES, greedy
    table, idx = _x(7, 7, seed=5), torch.tensor([[1, 2, 3, 4], [6, 5, 0, 2]])
    model = lambda ids: table[ids]  # noqa: E731
    return GENERATE_MISTAKES(model=model, idx=idx, n=4, context_size=2), greedy(model, idx, 4, 2)


def _contexts() -> tuple[Any, Any]:
    from autograder.mistakes.a05_gpt_model import CONTEXT_MISTAKES
    return CONTEXT_MISTAKES(T0=3, n=4, context_size=2), [2, 2, 2, 2]


def _decoding(topic: str) -> list[tuple[Any, Any]]:
    import reference.a08_decoding as ref08
    from autograder.mistakes import a08_decoding as m08
    x, ties = _x(3, 2, 6, seed=6) * 3, torch.randint(-3, 4, (3, 6), generator=torch.Generator().manual_seed(7)).double()
    if topic == "softmax_with_temperature":
        return [(m08.SOFTMAX_T_MISTAKES(logits=x, temperature=t), ref08.softmax_with_temperature(x, t)) for t in (0.5, 2.0)]
    if topic == "top_k_filter":
        return [(m08.TOP_K_MISTAKES(logits=v, top_k=k), ref08.top_k_filter(v, k)) for v, k in ((x, 2), (ties, 3))]
    if topic == "generate (greedy)":
        from autograder.runtime.toys import TableLM
        from autograder.suites.a08_decoding import EOS, EOS_PROMPTS, eos_table  # rows finish at different steps
        table = _x(6, 6, seed=8)
        return [(m08.GREEDY_MISTAKES(table=t, idx=EOS_PROMPTS, n=8, context_size=2, eos_id=e),
                 ref08.generate(TableLM(t), EOS_PROMPTS, 8, 2, eos_id=e)) for t, e in ((table, None), (eos_table(), EOS))]
    logits = _x(8, seed=9)
    return [(m08.SAMPLING_MISTAKES(logits=logits, temperature=t, top_k=k),
             torch.softmax(m08.filtered(logits, k) / t, -1)) for t, k in ((2.0, None), (0.5, 5))]




def _windows(text: str, L: int, s: int) -> tuple[Any, Any]:
    from autograder.mistakes.a02_data import byte_ids, dataset_hints, windows
    return dataset_hints(text, L, s), windows(byte_ids(text), L, s)


def _loader(n: int, batch_size: int, drop_last: bool) -> list[tuple[Any, Any]]:
    from autograder.mistakes.a02_data import batch_sizes, byte_ids, loader_hints, windows
    want = windows(byte_ids("zyxwvutsrqponmlkjihgfedcba"), 2, 1)[:n]  # windows in falling order: sorting moves them
    hints = loader_hints(want, batch_size, drop_last)
    return [(hints, batch_sizes(n, batch_size, drop_last)), (hints, want)]


def _train(text: str, vocab_size: int, specials: list[str]) -> tuple[Any, Any]:
    import reference.a01_tokenizer as ref01
    from autograder.hidden.mistakes.a01_tokenizer import train_replay
    from autograder.mistakes.a01_tokenizer import TRAIN
    tok = ref01.BPETokenizer()
    tok.train(text, vocab_size, specials)
    return TRAIN(replay=train_replay(text, vocab_size, specials), specials=specials), tok.merges


def _encode(text: str) -> list[tuple[Any, Any]]:
    import reference.a01_tokenizer as ref01
    from autograder.hidden.mistakes.a01_tokenizer import encode_replay
    from autograder.mistakes.a01_tokenizer import ENCODE
    # "  " before " a": no pre-tokens merges across them; "ba" before the more frequent "ab": frequency misleads
    merges = [(b" ", b" "), (b"b", b"a"), (b"a", b"b"), (b"t", b"h"), (b" ", b"a")]
    tok = ref01.BPETokenizer(merges=merges, special_tokens=[EOT])
    renamed = [i + 1000 for i in tok.encode(text)]  # the ids of a given vocab: the same tokens under other ids
    return [(ENCODE(replay=encode_replay(merges, [EOT], text)), tok.encode(text)),
            (ENCODE(replay=lambda name: tok.encode(text) if name == "vocab_ignored" else _no(name)), renamed)]


def _no(name: str) -> Any:
    raise ValueError(f"{name} is not replayed on this sample")


def _decode(ids: list[int]) -> tuple[Any, Any]:
    from autograder.mistakes.a01_tokenizer import DECODE
    tokens = [bytes([i]) for i in ids]
    return DECODE(tokens=tokens), b"".join(tokens).decode("utf-8", errors="replace")


_TRAIN_TEXT = "the cat sat, the cat's hat! aa ab ab ab cd ce<|endoftext|>the  theee 12 345\n\n\tcafé café"


def _cross_entropy() -> list[tuple[Any, torch.Tensor]]:
    import reference.a06_loss as ref06
    from autograder.mistakes.a06_loss import CE_MISTAKES
    t = torch.tensor([[0, 1, 2], [1, 3, 1]])  # ignore_index 1, a valid class: every sequence keeps a position
    big = torch.tensor([[1e4, 1e4 - 1, 0], [0, 0, -1e4]], dtype=torch.float64)  # row 0 overflows exp, 1 underflows
    cases = [(_x(2, 3, 5) * 2, t, 1), (big[:1], torch.tensor([1]), -100), (big[1:], torch.tensor([2]), -100),
             (torch.tensor([[0, 1e4, 0]], dtype=torch.float64), torch.tensor([0]), -100),  # both mistakes give inf
             (_x(2, 3, 5), torch.full((2, 3), 4), 4)]  # every position ignored: nan
    return [(CE_MISTAKES(x=x, t=y, ii=ii), ref06.cross_entropy(x, y, ignore_index=ii)) for x, y, ii in cases]


def _loss_helpers(topic: str) -> list[tuple[Any, Any]]:
    import math
    from autograder.mistakes import a06_loss as m06
    from autograder.runtime.toys import ByteTokenizer
    table, inputs = _x(4, 4), torch.tensor([[0, 1, 2], [3, 3, 1]])
    targets = torch.tensor([[1, 2, -100], [3, 1, 0]])
    right = m06.loss_by_hand(table[inputs], targets)
    own = [torch.tensor(1.5), torch.tensor(2.5)]
    return {"calc_loss_batch": [(m06.BATCH_MISTAKES(table=table, inputs=inputs, targets=targets, own=right + 1,
                                                    want=right), right)],
            "calc_loss_loader": [(m06.LOADER_MISTAKES(losses=[1.0, 2.0, 4.0, 8.0], sizes=[3, 2, 3, 1], num_batches=2,
                                                      own=own), 1.5),
                                 (m06.LOADER_MISTAKES(losses=[1.0, 2.0, 4.0], sizes=[1, 1, 1], num_batches=6, own=own),
                                  7 / 3),
                                 (m06.LOADER_MISTAKES(losses=[], sizes=[], num_batches=None, own=[]), math.nan)],
            "perplexity": [(m06.PPL_MISTAKES(loss=0.5), math.exp(0.5)),
                           (m06.PPL_MISTAKES(loss=torch.tensor([0.1, 2.0])), torch.tensor([0.1, 2.0]).exp())],
            "text_to_token_ids": [(m06.T2I_MISTAKES(text=s, tok=ByteTokenizer()), torch.tensor([ids], dtype=torch.long))
                                  for s, ids in (("a<|endoftext|>", [97, 256]), ("", []))],
            "token_ids_to_text": [(m06.I2T_MISTAKES(ids=torch.tensor([[104, 105]]), tok=ByteTokenizer()), "hi")],
            }[topic]


_CFG = {"vocab_size": 11, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
        "qkv_bias": True}
# catalogue topic -> examples, each (bound catalogue, the right answer for the same inputs)
SAMPLES: dict[str, Callable[[], list[tuple[Any, Any]]]] = {
    "attention": lambda: [_attention("MultiHeadAttention", 3), _attention("CausalAttention", 1),
                          _attention("SelfAttention_v2", 1)],
    "LayerNorm": lambda: [_layernorm()],
    "GELU": lambda: [_gelu()],
    "FeedForward": lambda: [_feedforward(_CFG)],
    "TransformerBlock": lambda: [_block(_CFG)],
    "TransformerBlock residual stream": lambda: [_residual()],
    "TransformerBlock dropout": lambda: [_dropout()],
    **_classification(),
    **_instruction(),
    "LoRALayer": lambda: [_lora(3, 6.0), _lora(2, 1.0)],
    "LinearWithLoRA": lambda: [_wrapped()],
    "merge_lora": lambda: [_merge(4, 4), _merge(5, 3)],
    "compute_logprobs": lambda: [_logprobs(True), _logprobs(False)],
    "compute_dpo_loss": lambda: [_dpo(0)],
    "DPO rewards": lambda: [_dpo(1), _dpo(2)],
    "compute_dpo_loss_batch": lambda: [_dpo_batch()],
    **{topic: (lambda topic=topic: [_llama(topic)]) for topic in (
        "RMSNorm", "SiLU", "SwiGLUFeedForward", "RoPE tables", "apply_rope", "GroupedQueryAttention")},
    "AdamW step": lambda: [_adamw_step(False), _adamw_step(True)],
    "clip_grad_norm": lambda: [_clip(0.5), _clip(100.0)],
    "lr_at_step": lambda: [_schedule()],
    "trainer gradient norms": lambda: [_loop(None)[0], _loop(2)[0], _loop(0)[0]],
    "trainer model calls": lambda: [_loop(None)[1]],
    "GPTModel": lambda: [_gpt({**_CFG, "n_layers": 2}, 4), _gpt({**_CFG, "context_length": 4}, 4)],
    "GPTModel parameters": lambda: [_gpt_parameters({**_CFG, "n_layers": 2})],
    "GPTModel drop_emb": lambda: _drop_emb(False),
    "GPTModel drop_emb in eval mode": lambda: _drop_emb(True),
    "generate_text_simple": lambda: [_generate_text_simple()],
    "generate_text_simple contexts": lambda: [_contexts()],
    **{topic: (lambda topic=topic: _decoding(topic)) for topic in (
        "softmax_with_temperature", "top_k_filter", "generate (greedy)", "generate (sampling distribution)")},
    "BPETokenizer.train": lambda: [_train(_TRAIN_TEXT, 256 + 20 + 1, [EOT]), _train(_TRAIN_TEXT, 256 + 12, []),
                                   _train("aa aa aa aax bc cd cd<|endoftext|>ab ab ab ab ac", 256 + 6 + 1, [EOT])],
    "BPETokenizer.encode": lambda: _encode("x  ababab th<|endoftext|>ab"),
    "BPETokenizer.decode": lambda: [_decode(list("é🙂".encode())[:-1] + [0xFF, 97])],
    "GPTDatasetV1": lambda: [_windows(f"ab{EOT}cdefgh", 3, 2), _windows("abcdefghij", 2, 1), _windows("abcdefgh", 2, 2)],
    "create_dataloader_v1": lambda: [*_loader(7, 3, False), *_loader(7, 2, True), *_loader(9, 4, False),
                                     *_loader(5, 1, True)],
    "cross_entropy": _cross_entropy,
    **{topic: (lambda topic=topic: _loss_helpers(topic)) for topic in (
        "calc_loss_batch", "calc_loss_loader", "perplexity", "text_to_token_ids", "token_ids_to_text")},
}
EOT = "<|endoftext|>"


def _catalogues() -> list[Misconceptions]:
    found = []
    for aid in available():
        try:
            module = importlib.import_module(f"autograder.mistakes.{aid}")
        except ModuleNotFoundError:  # not on the kit yet
            continue
        found += [v for v in vars(module).values() if isinstance(v, Misconceptions)]
    return found


def test_every_catalogue_has_a_sample() -> None:
    topics = {c.topic for c in _catalogues()}
    assert topics <= set(SAMPLES), f"add a sample for {sorted(topics - set(SAMPLES))} to tests/test_kit.py"


@pytest.mark.parametrize("topic", sorted(SAMPLES))
def test_a_mistakes_output_is_never_the_right_answer(topic: str) -> None:
    for hints, right in SAMPLES[topic]():
        computed = list(hints.outputs())
        assert computed or list(hints.raising()), f"{topic}: no mistake could be computed on the sample"
        for mistake, out in computed:  # a tensor of another dtype is not the right answer (float ids, say)
            same = _same(out, right, FLOAT64) and getattr(out, "dtype", None) == getattr(right, "dtype", None)
            assert not same, f"{topic}: {mistake.name}'s output equals the right answer"


def test_every_mistake_of_a_catalogue_is_computed_on_some_sample() -> None:
    """A mistake whose compute always raises would never give its hint."""
    for catalogue in _catalogues():
        seen = {m.name for hints, _ in SAMPLES[catalogue.topic]() for m, _ in [*hints.outputs(), *hints.raising()]}
        never = {m.name for m in catalogue} - seen - {"shortcut_dropped"}  # needs a learner's dropped output
        assert not never, f"{catalogue.topic}: {sorted(never)} never computed"


# -- comparisons take hints for tensors, floats, ids and strings alike ----------------------------
def test_hints_for_floats_ids_and_strings() -> None:
    words = Misconceptions("words")

    @words.add("upper", "you upper-cased it")
    def _(text: str, n: float) -> str:
        return text.upper()

    numbers = Misconceptions("numbers")

    @numbers.add("halved", "you halved it")
    def _(n: float) -> float:
        return n / 2

    @numbers.add("ids_reversed", "you reversed the ids")
    def _(n: float) -> list[int]:
        return [3, 2, 1]

    with pytest.raises(CheckFailure) as caught:
        assert_close("ABC", "abc", name="text", hints=words(text="abc", n=1.0))
    assert caught.value.hint == "you upper-cased it" and "expected 'abc'" in caught.value.message
    with pytest.raises(CheckFailure) as caught:
        assert_close(0.5000000001, 1.0, name="loss", tol=FLOAT64, hints=numbers(n=1.0))
    assert caught.value.hint == "you halved it"
    with pytest.raises(CheckFailure) as caught:
        assert_close([3, 2, 1], [1, 2, 3], name="ids", hints=numbers(n=1.0))
    assert caught.value.hint == "you reversed the ids"
    with pytest.raises(CheckFailure) as caught:
        assert_close("1" * 200 + "ABC", "1" * 200 + "abc", name="prompt", hints=words(text="1" * 200 + "abc", n=1.0))
    assert "differ at character 200" in caught.value.message and "1ABC'" in caught.value.message
    assert caught.value.hint == "you upper-cased it"
    assert_close(1.0 + 1e-12, 1.0, name="loss", tol=FLOAT64)  # within tolerance: no failure
    with pytest.raises(CheckFailure) as caught:
        assert_close(torch.ones(2), torch.ones(3), name="t", tol=FLOAT64, hints=numbers(n=1.0))
    assert "shape (2,)" in caught.value.message and caught.value.hint is None  # shape before values and hints


def test_every_names_each_matching_mistake_and_on_explains_a_wrong_shape() -> None:
    sizes = Misconceptions("sizes", every=True)
    sizes.add("halves", "you halved it")(lambda n: [n // 2, n // 2])
    sizes.add("halves_again", "you halved it")(lambda n: [n // 2, n // 2])  # one hint text is said once
    sizes.add("ones", "you used ones")(lambda n: [1] * (n // 2) * 2 if n == 2 else [0])
    sizes.add("whole", "you kept it whole")(lambda n: [n])
    with pytest.raises(CheckFailure) as caught:
        assert_close([1, 1], [2], name="sizes", hints=sizes(n=2))
    assert caught.value.hint == "you halved it; or you used ones"
    rows = Misconceptions("rows")
    rows.add("one_more", "one row too many")(lambda n: [[0]] * (n + 1))
    with pytest.raises(CheckFailure) as caught:  # the whole output matched (`on`): the shape failure gets the hint
        assert_close(torch.zeros(3, 1), torch.zeros(2, 1), name="t", tol=FLOAT64, hints=rows(n=2).on([[0]] * 3))
    assert "shape (3, 1)" in caught.value.message and caught.value.hint == "one row too many"
def test_hints_for_a_wrong_shape_or_dtype_and_for_a_raised_exception() -> None:
    from autograder.runtime.values import Raised
    ids = Misconceptions("ids")

    @ids.add("flat", "add the batch dimension")
    def _(n: int) -> torch.Tensor:
        return torch.arange(n)

    @ids.add("floats", "pass dtype=torch.long")
    def _(n: int) -> torch.Tensor:
        return torch.arange(n, dtype=torch.float32)[None]

    @ids.add("divides", "check for zero first", raises=True)
    def _(n: int) -> torch.Tensor:
        return torch.tensor([[1 / n]])

    right = torch.arange(3)[None]
    for got, hint in ((torch.arange(3), "add the batch dimension"), (torch.arange(3.0)[None], "pass dtype=torch.long"),
                      (torch.arange(3, dtype=torch.float64)[None], None), (torch.arange(4), None)):  # same dtype only
        with pytest.raises(CheckFailure) as caught:
            assert_close(got, right, name="ids", tol=FLOAT64, hints=ids(n=3))
        assert caught.value.hint == hint
    raised = Raised("ZeroDivisionError", "division by zero")
    with pytest.raises(CheckFailure) as caught:  # a mistake marked raises= that raises the same type
        assert_close(raised, right[:, :0], name="ids", tol=FLOAT64, hints=ids(n=0))
    assert caught.value.hint == "check for zero first" and "your code raised" in caught.value.message
    with pytest.raises(CheckFailure) as caught:  # another type, or inputs where it does not raise: no hint
        assert_close(Raised("TypeError", "x"), right[:, :0], name="ids", tol=FLOAT64, hints=ids(n=0))
    assert caught.value.hint is None
    with pytest.raises(CheckFailure) as caught:
        assert_close(raised, right, name="ids", tol=FLOAT64, hints=ids(n=3))
    assert caught.value.hint is None


# -- the automatic checks of ctx.call / ctx.fetch, on a real in-process executor -------------------
LEARNER = '''
import torch

def softmax(x, dim=-1):
    if x.numel() == 7:
        raise NotImplementedError("a03: softmax")
    if x.numel() == 5:
        x.mul_(1.0)
        x[0] = 0.0
        return x
    if x.numel() == 6:
        return x.double()
    return torch.exp(x) / torch.exp(x).sum(dim, keepdim=True)
'''


def _run_kit_check(tmp_path: Path, body: Callable[[Any], None]) -> Any:
    (tmp_path / "a03_attention.py").write_text(LEARNER, encoding="utf-8")
    suite = Suite("a03_attention")
    suite.check(points=1, visibility="public", kind="property", description="d")(body)
    executor = InProcess(tmp_path)
    try:
        return run_check(suite.checks[0], suite, executor)
    finally:
        executor.close()


def test_given_checks_draw_the_examples_ctx_given_draws(tmp_path: Path) -> None:
    """`@given` over a check is `ctx.given` inside it: the same examples, in the same order (grades unchanged)."""
    from hypothesis import strategies as st

    from autograder.checks import given
    drawn: dict[str, list[Any]] = {"decorator": [], "inline": []}

    @given(n=st.integers(0, 10**6), text=st.text(max_size=5))
    def decorated(ctx: Any, n: int, text: str) -> None:
        drawn["decorator"].append((n, text))

    def inline(ctx: Any) -> None:
        @ctx.given(n=st.integers(0, 10**6), text=st.text(max_size=5))
        def _(n: int, text: str) -> None:
            drawn["inline"].append((n, text))

    for fn in (decorated, inline):
        suite = Suite("a03_attention")
        suite.check(points=1, visibility="public", kind="property", description="d", name="probe")(fn)
        executor = InProcess(tmp_path)
        try:
            assert suite.checks[0].name == "probe" and run_check(suite.checks[0], suite, executor).status == "passed"
        finally:
            executor.close()
    assert drawn["decorator"] == drawn["inline"] and len(set(drawn["inline"])) > 5


def test_expect_fails_with_the_message_and_hint(tmp_path: Path) -> None:
    def body(ctx: Any) -> None:
        ctx.expect(True, "never shown")
        ctx.expect(False, "the model ran in train mode", hint="call model.eval() first")

    result = _run_kit_check(tmp_path, body)
    assert (result.status, result.message, result.hint) == ("failed", "the model ran in train mode",
                                                            "call model.eval() first")


def test_replay_gives_stored_or_computed_outputs_and_skips_the_rest() -> None:
    from autograder.compare import Replay
    calls: list[str] = []
    replay = Replay({"stored": [1, 2]}, computed=lambda: calls.append("computed") or [3])
    assert replay("stored") == [1, 2] and replay("computed") == [3] and calls == ["computed"]
    with pytest.raises(ValueError):
        replay("neither")
    catalogue = Misconceptions("ids")
    for name in ("stored", "computed", "neither"):
        catalogue.add(name, f"hint {name}")(lambda replay, name=name: replay(name))
    assert catalogue(replay=replay).match([3], None) == "hint computed"
    assert [m.name for m, _ in catalogue(replay=replay).outputs()] == ["stored", "computed"]


def test_a_long_list_that_differs_says_where_it_parts() -> None:
    with pytest.raises(CheckFailure) as caught:
        assert_close(list(range(30)), [*range(12), 99, *range(13, 30)], name="ids")
    assert "ids: the first 12 items agree, then got [12, 13, 14, 15, 16, 17], expected [99, 13, 14" in \
        caught.value.message and "(30 items, expected 30)" in caught.value.message
    with pytest.raises(CheckFailure) as caught:  # a short list is shown whole
        assert_close([1, 2], [1, 3], name="sizes")
    assert caught.value.message == "sizes: got [1, 2], expected [1, 3]"


def test_float64_inside_is_the_exact_answer_for_float32_inputs() -> None:
    from autograder.differential import float64_inside
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(0)).float() * 100
    fn = float64_inside(lambda t, k: (t * t).sum() / k)
    assert fn(x, 3).dtype == torch.float32 and fn(x, 3) == ((x.double() ** 2).sum() / 3).float()
    layer = torch.nn.Linear(7, 2).float()
    expected = (x.double() @ layer.weight.double().T + layer.bias.double()).float()
    assert torch.equal(float64_inside(layer)(x), expected)


def test_fetch_fails_a_call_that_modifies_its_input(tmp_path: Path) -> None:
    def modifies(ctx: Any) -> None:
        ctx.fetch(ctx.call("softmax", torch.ones(5, dtype=torch.float64)))

    result = _run_kit_check(tmp_path, modifies)
    assert result.status == "failed" and "softmax modified its input (argument 1) in place" in result.message


def test_fetch_fails_a_call_that_changes_the_dtype(tmp_path: Path) -> None:
    def widens(ctx: Any) -> None:
        ctx.fetch(ctx.call("softmax", torch.ones(6, dtype=torch.float32)))

    result = _run_kit_check(tmp_path, widens)
    assert result.status == "failed" and "dtype float64, expected float32" in result.message


def test_a_stub_in_a_caught_call_is_not_implemented(tmp_path: Path) -> None:
    def caught(ctx: Any) -> None:
        (got,) = ctx.fetch(ctx.call("softmax", torch.ones(7), catch=True))
        ctx.expect_raises(got, "softmax on 7 elements")

    result = _run_kit_check(tmp_path, caught)
    assert result.not_implemented and result.status == "failed"
    assert result.message == "not implemented yet: a03: softmax" and result.counterexample is None


def test_a_correct_call_passes_and_a_wrong_value_gets_its_hint(tmp_path: Path) -> None:
    wrong = Misconceptions("softmax")

    @wrong.add("no_exp", "you forgot the exp")
    def _(x: torch.Tensor) -> torch.Tensor:
        return x / x.sum(-1, keepdim=True)

    def compare(ctx: Any) -> None:
        x = torch.arange(1.0, 4.0, dtype=torch.float64)
        (got,) = ctx.fetch(ctx.call("softmax", x))
        ctx.expect_close(got, x / x.sum(), name="output of softmax", tol=FLOAT64, hints=wrong(x=x))

    result = _run_kit_check(tmp_path, compare)
    assert result.status == "failed" and result.hint is None  # a real softmax is not the no-exp mistake
    (tmp_path / "b").mkdir()
    result = _run_kit_check(tmp_path / "b", lambda ctx: ctx.fetch(ctx.call("softmax", torch.ones(3))))
    assert result.status == "passed" and not result.not_implemented


def test_compare_with_model_checks_outputs_and_the_models_gradients(tmp_path: Path) -> None:
    """compare_with_model gives learner code and the reference the same runtime model, output and gradients."""
    from autograder.differential import RuntimeModel, compare_with_model
    from autograder.runtime.toy_gpt import ToyGPT
    made = ToyGPT(5, 4, 3).double()
    random_weights(made, 2)
    model = RuntimeModel("toy_gpt", "ToyGPT", (5, 4, 3, 2), weights=made.state_dict())
    ids = torch.tensor([[1, 2, 3], [4, 0, 1]])
    results = []
    for i, body in enumerate(("model(ids)[:, -1].sum()", "model(ids)[:, -1].detach().sum() * 1.0",
                              "model(ids)[:, 0].sum()")):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "a03_attention.py").write_text(f"def last_sum(ids, model):\n    return {body}\n")
        suite = Suite("a03_attention")
        suite.check(points=1, visibility="hidden", kind="differential", description="d")(
            lambda ctx: compare_with_model(ctx, lambda ids, m: m(ids)[:, -1].sum(), "last_sum", [ids, model],
                                           model=model))
        executor = InProcess(tmp_path / str(i))
        try:
            results.append(run_check(suite.checks[0], suite, executor))
        finally:
            executor.close()
    assert [r.status for r in results] == ["passed", "failed", "failed"], [r.message for r in results]
    assert "back-propagating" in results[1].message and "output of last_sum" in results[2].message
    assert model.local().training is False and torch.equal(model.local().out_head.weight, made.out_head.weight)


def test_compare_module_compares_every_item_of_a_tuple(tmp_path: Path) -> None:
    """A function returning a tuple: each item compared (named, hinted), gradients from the items that need them."""
    from autograder.differential import compare_module

    def pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x * 2).sum(), x.detach().mean()

    (tmp_path / "a03_attention.py").write_text(
        "def pair(x):\n    return (x * 2).sum(), x.mean()\n"
        "def half(x):\n    return (x * 2).sum(), x.detach().mean() / 2\n"
        "def wrong_grad(x):\n    return (x * 2).detach().sum() + (x * 3).sum() - (x * 3).detach().sum(), x.mean()\n"
        "def single(x):\n    return (x * 2).sum()\n", encoding="utf-8")
    halved = Misconceptions("pair")

    @halved.add("halved", "you halved the mean")
    def _(x: torch.Tensor) -> torch.Tensor:
        return x.mean() / 2

    results = {}
    for target in ("pair", "half", "wrong_grad", "single"):
        suite = Suite("a03_attention")

        def body(ctx: Any, target: str = target) -> None:
            x = torch.arange(1.0, 4.0, dtype=torch.float64)
            compare_module(ctx, pair, target, {"x": x}, names=("total", "mean"), hints=(None, halved(x=x)))

        body.__name__ = target
        suite.check(points=1, visibility="public", kind="differential", description="d")(body)
        executor = InProcess(tmp_path)
        try:
            results[target] = run_check(suite.checks[0], suite, executor)
        finally:
            executor.close()
    assert results["pair"].status == "passed", results["pair"].message
    assert results["half"].hint == "you halved the mean" and "mean (item 1 of the output of half)" in results["half"].message
    assert results["wrong_grad"].status == "failed" and "grad of x" in results["wrong_grad"].message
    assert "expected a tuple of 2 tensors" in results["single"].message


def test_symmetric_uniform_fit_accepts_any_bound_and_names_what_is_wrong() -> None:
    from autograder.properties import KS_CRITICAL_1E3, ks_uniform, symmetric_uniform_problem
    gen = torch.Generator().manual_seed(0)
    for bound in (0.1, 0.35, 0.86):
        assert symmetric_uniform_problem(torch.empty(256, 8).uniform_(-bound, bound, generator=gen), 0.87) is None
    assert "above the largest allowed bound" in symmetric_uniform_problem(torch.randn(256, 8, generator=gen), 0.87)
    assert ">= 0" in symmetric_uniform_problem(torch.rand(256, 8, generator=gen), 0.87)
    assert "do not look uniform" in symmetric_uniform_problem(torch.randn(256, 8, generator=gen) * 0.1, 0.87)
    assert symmetric_uniform_problem(torch.zeros(4, 2), 1.0) == "every value is 0"
    assert ks_uniform(torch.linspace(-1, 1, 1001), -1.0, 1.0) < 0.1 < KS_CRITICAL_1E3
    assert ks_uniform(torch.zeros(100), -1.0, 1.0) == pytest.approx(5.0)  # half the mass at one point: D = 1/2


# -- dependencies: declared once, and the blame note -----------------------------------------------
def test_declared_dependencies_match_the_solutions_imports() -> None:
    for aid in available():
        tree = ast.parse((SOLUTIONS / f"{aid}.py").read_text(encoding="utf-8"))
        imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module in CURRICULUM for alias in node.names}
        declared = {(use.dep, name) for use in DEPENDENCIES.get(aid, ()) for name in use.names}
        assert imported == declared, f"{aid}: solutions import {sorted(imported)}, declared {sorted(declared)}"
    assert runs("a04_gpt_blocks", ("TransformerBlock", "LayerNorm")) == {"a03_attention": {"MultiHeadAttention"}}
    assert runs("a04_gpt_blocks", ("LayerNorm",)) == {}


def test_an_assignment_imports_only_its_own_suite_and_catalogue() -> None:
    """What two assignments share lives in the engine: a suite (public or hidden) imports its own assignment's
    suite and catalogue only, a catalogue no suite and no other catalogue, a runtime helper none of them."""
    pkg = ROOT / "autograder"
    kinds = {"suites": "autograder.suites.", "hidden": "autograder.hidden.", "mistakes": "autograder.mistakes.",
             "hidden mistakes": "autograder.hidden.mistakes."}
    allowed = {"suites": ("mistakes", "hidden mistakes"), "hidden": ("suites", "mistakes", "hidden mistakes"),
               "mistakes": (), "hidden mistakes": ("mistakes",), "runtime": ()}
    files = [("suites", p) for p in (pkg / "suites").glob("a*.py")] + [("hidden", p) for p in (pkg / "hidden").glob("a*.py")]
    files += [("mistakes", p) for p in (pkg / "mistakes").glob("a*.py")]
    files += [("hidden mistakes", p) for p in (pkg / "hidden" / "mistakes").glob("a*.py")]
    files += [("runtime", p) for p in (pkg / "runtime").glob("a*_helpers.py")]
    assert len(files) > 40
    for kind, path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                # the longest prefix names what is imported: hidden.mistakes before hidden
                found = max((k for k, prefix in kinds.items() if name.startswith(prefix)), key=len, default=None)
                if found is None:
                    continue
                assert found in allowed[kind] or (found == kind and kind != "mistakes"), \
                    f"{path.relative_to(ROOT)} imports {name}: a {kind} module may not import a {found} module"
                assert name.rsplit(".", 1)[-1] == path.stem or not name.rsplit(".", 1)[-1].startswith("a"), \
                    f"{path.relative_to(ROOT)} imports {name}, another assignment's: move what they share into the engine"


def _two(tmp_path: Path, a03: str | None, a04: str | None) -> Any:
    from tests.banks import a03_attention as b03
    from tests.banks import a04_gpt_blocks as b04
    sub = make_submission(tmp_path)
    for aid, bank, name in (("a03_attention", b03, a03), ("a04_gpt_blocks", b04, a04)):
        if name:
            (variant,) = [v for v in bank.MUTANTS if v.name == name]
            path = sub / f"{aid}.py"
            path.write_text(apply(path.read_text(encoding="utf-8"), variant), encoding="utf-8")
    return grade(sub, ["a03_attention", "a04_gpt_blocks"], isolate=False)


def test_an_earlier_assignment_is_blamed_only_for_what_the_check_runs(tmp_path: Path) -> None:
    # a03 loses points on softmax overflow only; its MultiHeadAttention is right: no note on a04's failures
    report = _two(tmp_path / "1", "softmax_no_max_subtraction", "norm1_reused_for_ff")
    a03 = checks_by_name(report, "a03_attention")
    assert a03["softmax_large_inputs"].status != "passed" and a03["mha_matches_reference"].status == "passed"
    block = checks_by_name(report, "a04_gpt_blocks")["block_is_pre_ln_residual"]
    assert block.status == "failed" and "a03_attention" not in block.message
    # a03's MultiHeadAttention has no causal mask: a04's block checks say so
    report = _two(tmp_path / "2", "mha_no_causal_mask", None)
    block = checks_by_name(report, "a04_gpt_blocks")["block_is_causal"]
    assert block.status == "failed" and "also runs your a03_attention code, which lost points above" in block.message
    assert "MultiHeadAttention: " in block.message
    # a LayerNorm check runs no a03 code: never a note
    layernorm = checks_by_name(report, "a04_gpt_blocks")["layernorm_normalises_rows"]
    assert layernorm.status == "passed"


def test_results_module_imports_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys
    code = ("import sys; sys.modules['torch'] = None\n"
            "from autograder.results import CheckResult, AssignmentResult, Report, not_implemented\n"
            "r = Report('s', [AssignmentResult('a03_attention', [CheckResult('c', 'failed', 0.0, 1.0, 'public', "
            "'property', 'd', message='not implemented yet: x', not_implemented=True)])])\n"
            "assert '\"not_implemented\": true' in r.to_json() and not_implemented({'message': 'not implemented yet'})\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_expect_trainable_names_frozen_and_trainable_parameters(tmp_path: Path) -> None:
    from autograder.properties import expect_trainable
    (tmp_path / "a03_attention.py").write_text(
        "import torch\n"
        "class Head(torch.nn.Module):\n"
        "    def __init__(self, freeze):\n"
        "        super().__init__()\n"
        "        self.body = torch.nn.Linear(2, 2)\n"
        "        self.out = torch.nn.Linear(2, 1)\n"
        "        self.body.requires_grad_(not freeze)\n", encoding="utf-8")
    suite = Suite("a03_attention")

    @suite.check(points=1, visibility="public", kind="property", description="d")
    def frozen_body(ctx: Any) -> None:
        for freeze in (True, False):
            (got,) = ctx.fetch(ctx.p.trainable(ctx.module("Head", [freeze], dtype=None, train=None)))
            expect_trainable(got, "Head", trainable=("out.",), frozen=("body.",))

    executor = InProcess(tmp_path)
    try:
        result = run_check(suite.checks[0], suite, executor)
    finally:
        executor.close()
    assert result.status == "failed" and "body.bias, body.weight should not be trainable" in result.message
