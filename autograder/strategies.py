"""Hypothesis strategies for every suite: shapes, tensors and model configurations.

Tensor values are not drawn element by element (slow, and useless to shrink): a strategy draws a
shape and a 32-bit seed and fills the tensor from a seeded generator, so examples are cheap,
reproducible, and shrink towards small shapes and seed 0.
"""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

DISTRIBUTIONS = ("normal", "uniform", "ints")


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive int")
    return value


def _bounds(lo_name: str, lo: int, hi_name: str, hi: int) -> None:
    if lo > hi:
        raise ValueError(f"{lo_name}={lo} is greater than {hi_name}={hi}")


def make_tensor(shape: tuple[int, ...], seed: int, *, dtype: torch.dtype = torch.float64,
                scale: float = 1.0, distribution: str = "normal") -> torch.Tensor:
    """The tensor a `tensors()` example stands for; also used to build fixed inputs."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r}: expected one of {DISTRIBUTIONS}")
    gen = torch.Generator().manual_seed(seed)
    if distribution == "normal":
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
    elif distribution == "uniform":
        x = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
    else:  # small integers: ties and exact zeros, where off-by-one masks and argmax bugs show
        x = torch.randint(-3, 4, shape, generator=gen).to(torch.float64)
    return (x * scale).to(dtype)


def shapes(*, min_dims: int = 1, max_dims: int = 4, min_side: int = 1, max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    _bounds("min_dims", _positive("min_dims", min_dims), "max_dims", _positive("max_dims", max_dims))
    _bounds("min_side", _positive("min_side", min_side), "max_side", _positive("max_side", max_side))
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**32 - 1)


def tensors(*, shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]], dtype: torch.dtype = torch.float64,
            scale: float | st.SearchStrategy[float] = 1.0, distribution: str = "normal") -> st.SearchStrategy[torch.Tensor]:
    """Tensors of `shape` (a tuple or a strategy of tuples) with values from a seeded generator."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r}: expected one of {DISTRIBUTIONS}")
    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    scale_st = scale if isinstance(scale, st.SearchStrategy) else st.just(float(scale))
    return st.builds(lambda s, seed, k: make_tensor(s, seed, dtype=dtype, scale=k, distribution=distribution),
                     shape_st, seeds(), scale_st)


def attention_configs(*, max_batch: int = 3, max_tokens: int = 6, max_heads: int = 3, max_head_dim: int = 4,
                      max_d_in: int = 6, max_extra_context: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Sizes for the attention classes: B, T, d_in, d_out, num_heads, context_length, qkv_bias.

    `d_out` is always a multiple of `num_heads`, and `context_length >= T` (often larger, so a mask
    that is not sliced to T shows up).
    """
    for name, value in [("max_batch", max_batch), ("max_tokens", max_tokens), ("max_heads", max_heads),
                        ("max_head_dim", max_head_dim), ("max_d_in", max_d_in)]:
        _positive(name, value)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        heads = draw(st.integers(1, max_heads))
        head_dim = draw(st.integers(1, max_head_dim))
        T = draw(st.integers(1, max_tokens))
        return {"B": draw(st.integers(1, max_batch)), "T": T, "d_in": draw(st.integers(1, max_d_in)),
                "num_heads": heads, "d_out": heads * head_dim,
                "context_length": T + draw(st.integers(0, max_extra_context)),
                "qkv_bias": draw(st.booleans())}

    return build()


def gpt_configs(*, max_layers: int = 2, max_heads: int = 3, max_head_dim: int = 4, max_tokens: int = 6,
                max_vocab: int = 20, max_batch: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """A model `cfg` dict (the curriculum's keys) plus the batch shape `B`, `T` under key `_shape`."""
    for name, value in [("max_layers", max_layers), ("max_heads", max_heads), ("max_head_dim", max_head_dim),
                        ("max_tokens", max_tokens), ("max_vocab", max_vocab), ("max_batch", max_batch)]:
        _positive(name, value)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        heads = draw(st.integers(1, max_heads))
        T = draw(st.integers(1, max_tokens))
        cfg = {"vocab_size": draw(st.integers(2, max_vocab)), "context_length": T + draw(st.integers(0, 3)),
               "emb_dim": heads * draw(st.integers(1, max_head_dim)), "n_heads": heads,
               "n_layers": draw(st.integers(1, max_layers)), "drop_rate": 0.0, "qkv_bias": draw(st.booleans())}
        return {"cfg": cfg, "B": draw(st.integers(1, max_batch)), "T": T}

    return build()


def gpt_config(vocab_size: int, context_length: int, emb_dim: int, n_heads: int, n_layers: int, *,
               drop_rate: float = 0.0, qkv_bias: bool = False) -> dict[str, Any]:
    """A GPT config dict by the curriculum's keys (a04's block, a05's model), for fixed examples."""
    return {"vocab_size": vocab_size, "context_length": context_length, "emb_dim": emb_dim, "n_heads": n_heads,
            "n_layers": n_layers, "drop_rate": drop_rate, "qkv_bias": qkv_bias}


# -- seeded weights by the curriculum's parameter names (a04's block, a05's model) -----------------
def block_weights(E: int, qkv_bias: bool, seed: int, *, scale: float = 0.5) -> dict[str, torch.Tensor]:
    """Seeded float64 weights for every parameter of a TransformerBlock(cfg) with emb_dim E."""
    _positive("E", E)
    shapes: dict[str, tuple[int, ...]] = {}
    for proj in ("W_query", "W_key", "W_value"):
        shapes[f"att.{proj}.weight"] = (E, E)
        if qkv_bias:
            shapes[f"att.{proj}.bias"] = (E,)
    shapes.update({"att.out_proj.weight": (E, E), "att.out_proj.bias": (E,),
                   "ff.layers.0.weight": (4 * E, E), "ff.layers.0.bias": (4 * E,),
                   "ff.layers.2.weight": (E, 4 * E), "ff.layers.2.bias": (E,),
                   "norm1.scale": (E,), "norm1.shift": (E,), "norm2.scale": (E,), "norm2.shift": (E,)})
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen, dtype=torch.float64) * scale for k, s in shapes.items()}


def sub_weights(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The weights under `prefix` ("ff.", "trf_blocks.0."), named as in that submodule."""
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def gpt_weights(cfg: dict[str, Any], seed: int, *, scale: float = 0.5) -> dict[str, torch.Tensor]:
    """Seeded float64 weights for every parameter of a GPTModel(cfg) (block i from seed + 1 + i)."""
    V, C, E = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=gen, dtype=torch.float64) * scale

    w = {"tok_emb.weight": randn(V, E), "pos_emb.weight": randn(C, E)}
    for i in range(cfg["n_layers"]):
        w.update({f"trf_blocks.{i}.{k}": v for k, v in block_weights(E, cfg["qkv_bias"], seed + 1 + i,
                                                                     scale=scale).items()})
    w.update({"final_norm.scale": 1.0 + randn(E), "final_norm.shift": randn(E), "out_head.weight": randn(V, E)})
    return w


def token_ids(shape: tuple[int, ...], vocab_size: int, seed: int) -> torch.Tensor:
    """Seeded int64 token ids in [0, vocab_size)."""
    _positive("vocab_size", vocab_size)
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed))
