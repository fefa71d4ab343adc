"""a04_gpt_blocks: the transformer block.

The pieces a GPT stacks n_layers times:

1. `LayerNorm`: normalise each token vector to mean 0, variance 1, then a learned
   per-feature scale and shift;
2. `GELU`: the smooth activation GPT-2 uses (its tanh approximation);
3. `FeedForward`: widen 4x, GELU, project back;
4. `TransformerBlock`: pre-LayerNorm attention and feed-forward sub-layers, each
   wrapped in a residual ("shortcut") connection.

`cfg` is a plain dict; see `GPT_CONFIG_KEYS`. Shape letters: B = batch size,
T = number of tokens, E = emb_dim.
"""

import math

import torch
import torch.nn as nn

from a03_attention import MultiHeadAttention

# The keys a GPT config dict holds, and the type each value must have.
GPT_CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "vocab_size": int,
    "context_length": int,
    "emb_dim": int,
    "n_heads": int,
    "n_layers": int,
    "drop_rate": (int, float),
    "qkv_bias": bool,
}


def _check_cfg(cfg: dict, keys: tuple[str, ...], owner: str) -> None:
    """Given (not a task): check that `cfg` is a dict holding `keys` with sane values.

    Raises:
        TypeError: `cfg` is not a dict, or a value has the wrong type.
        ValueError: a key is missing, or a size is not positive.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"{owner}: cfg must be a dict, got {type(cfg).__name__}")
    for key in keys:
        if key not in cfg:
            raise ValueError(f"{owner}: cfg is missing key {key!r}")
        value, expected = cfg[key], GPT_CONFIG_KEYS[key]
        # bool is a subclass of int: reject True/False where a number is expected.
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise TypeError(f"{owner}: cfg[{key!r}] has type {type(value).__name__}, value {value!r}")
        if expected is int and value <= 0:
            raise ValueError(f"{owner}: cfg[{key!r}] must be positive, got {value}")


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension, with learned scale and shift."""

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        """Create the learned parameters.

        Args:
            emb_dim: size E of the last dimension of the input.
            eps: added to the variance inside the square root, so a constant row
                does not divide by zero.

        Creates:
            scale: (E,) parameter, ones.
            shift: (E,) parameter, zeros.

        Raises:
            ValueError: emb_dim is not positive, or eps is negative.
        """
        super().__init__()
        ### BEGIN SOLUTION
        if emb_dim <= 0:
            raise ValueError(f"emb_dim must be positive, got emb_dim={emb_dim}")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got eps={eps}")
        self.eps = eps
        # Start as the identity map; training learns a per-feature gain and offset.
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each vector along the last dimension.

        Args:
            x: (..., E) e.g. (B, T, E).

        Returns:
            (..., E) scale * (x - mean) / sqrt(var + eps) + shift, with the biased
            variance (divide by E, not E - 1).

        Raises:
            ValueError: the last dim of x is not emb_dim (the message shows x's shape).
        """
        ### BEGIN SOLUTION
        if x.shape[-1:] != self.scale.shape:
            raise ValueError(f"x must end in emb_dim={self.scale.shape[0]}, got {tuple(x.shape)}")
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        # Biased variance, as in the LayerNorm paper (and what GPT-2's weights expect).
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        norm_x = (x - mean) / torch.sqrt(var + self.eps)  # (..., E)
        return self.scale * norm_x + self.shift  # (E,) broadcasts over the leading dims
        ### END SOLUTION


class GELU(nn.Module):
    """GELU activation, tanh approximation (the one GPT-2 was trained with)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply GELU elementwise.

        Args:
            x: (...) any shape.

        Returns:
            (...) 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
        """
        ### BEGIN SOLUTION
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + torch.tanh(inner))
        ### END SOLUTION


class FeedForward(nn.Module):
    """Position-wise MLP: Linear(E, 4E) -> GELU -> Linear(4E, E)."""

    def __init__(self, cfg: dict) -> None:
        """Create the layers.

        Args:
            cfg: GPT config dict; uses cfg["emb_dim"].

        Creates:
            layers: `nn.Sequential(nn.Linear(E, 4 * E), GELU(), nn.Linear(4 * E, E))`.
        """
        super().__init__()
        _check_cfg(cfg, ("emb_dim",), "FeedForward")
        ### BEGIN SOLUTION
        emb_dim = cfg["emb_dim"]
        # Widen 4x so the non-linearity acts in a bigger space, then project back.
        self.layers = nn.Sequential(
            nn.Linear(emb_dim, 4 * emb_dim),
            GELU(),
            nn.Linear(4 * emb_dim, emb_dim),
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to every token independently.

        Args:
            x: (B, T, E).

        Returns:
            (B, T, E).
        """
        ### BEGIN SOLUTION
        return self.layers(x)  # (B, T, E) -> (B, T, 4E) -> (B, T, E)
        ### END SOLUTION


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: attention and MLP, each with a shortcut."""

    def __init__(self, cfg: dict) -> None:
        """Create the sub-layers.

        Args:
            cfg: GPT config dict; uses emb_dim, context_length, n_heads, drop_rate, qkv_bias.

        Creates:
            att: a03 `MultiHeadAttention(d_in=E, d_out=E, context_length, dropout=drop_rate,
                num_heads=n_heads, qkv_bias)`.
            ff: `FeedForward(cfg)`.
            norm1, norm2: `LayerNorm(E)`, before att and before ff.
            drop_shortcut: `nn.Dropout(drop_rate)`, on each sub-layer's output.
        """
        super().__init__()
        _check_cfg(cfg, ("emb_dim", "context_length", "n_heads", "drop_rate", "qkv_bias"), "TransformerBlock")
        ### BEGIN SOLUTION
        emb_dim = cfg["emb_dim"]
        self.att = MultiHeadAttention(
            d_in=emb_dim,
            d_out=emb_dim,
            context_length=cfg["context_length"],
            dropout=cfg["drop_rate"],
            num_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(emb_dim)
        self.norm2 = LayerNorm(emb_dim)
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + attention(norm1(x)), then + feed_forward(norm2(.)).

        Args:
            x: (B, T, E) with T <= context_length.

        Returns:
            (B, T, E).
        """
        ### BEGIN SOLUTION
        # Pre-LN: normalise only what goes into each sub-layer. The shortcut x itself is
        # never normalised or dropped, so gradients reach early blocks through the "+".
        x = x + self.drop_shortcut(self.att(self.norm1(x)))  # (B, T, E)
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))  # (B, T, E)
        return x
        ### END SOLUTION
