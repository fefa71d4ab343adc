"""a13_llama: the components that turn GPT-2 into Llama or Qwen.

Follows the book's bonus material on converting GPT-2 to Llama 2 / Llama 3.2 and on Qwen3
(Build a Large Language Model (From Scratch), ch05 bonus folders "07_gpt_to_llama" and "11_qwen3").
Each piece replaces one GPT-2 part:

1. `RMSNorm` replaces LayerNorm: no mean subtraction and no shift, only a learned scale `weight`
   on x / rms(x).
2. `SiLU` replaces GELU, and `SwiGLUFeedForward` the GELU feed-forward: two parallel projections,
   one through SiLU acting as a gate, multiplied element by element, then projected back.
3. RoPE (rotary position embeddings) replaces the learned `pos_emb`: `compute_rope_params`
   precomputes cos/sin tables once, `apply_rope` rotates queries and keys by an angle that grows
   with the position, so that q_m . k_n depends on the positions only through m - n.
4. `GroupedQueryAttention` replaces multi-head attention: `num_kv_groups` key/value heads are
   shared by the `num_heads` query heads, which shrinks the key/value projections (and a KV cache).

RoPE layout. A head vector of even size hs is split into two halves, x1 = x[..., :hs/2] and
x2 = x[..., hs/2:]; pair i is (x1[i], x2[i]) and turns by angle pos * inv_freq[i], with
inv_freq[i] = theta_base ** (-2i / hs). In formulas, with the angles repeated, a = cat([a, a]):

    rotate_half(x) = cat([-x2, x1])      apply_rope(x) = x * cos(a) + rotate_half(x) * sin(a)

This is the "split-halves" layout of the book, Llama on Hugging Face and Qwen. The original
RoFormer paper pairs neighbours (x[0], x[1]), (x[2], x[3]), ... ("interleaved"): the same idea,
different numbers, and not what is graded here.

Shape letters: B = batch size, T = number of tokens, E = emb_dim, nh = num_heads,
G = num_kv_groups, hs = head_dim.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import torch
import torch.nn as nn


class RMSNorm(nn.Module):
    """Root-mean-square normalisation with a learned per-feature scale (Llama's norm)."""

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        """Create the scale.

        Args:
            emb_dim: E, the size of the last dimension this norm acts on.
            eps: added to the mean square before the square root, so an all-zero row gives 0.

        Creates:
            weight: (E,) parameter, initialised to ones. (The book's Llama 2 code calls it `weight`,
                like `nn.RMSNorm`; its Qwen3 code calls it `scale`: the contract uses `weight`.)
            eps: stored as an attribute.

        Raises:
            ValueError: emb_dim is not positive, or eps is negative (name the value).
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a13: RMSNorm.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * rsqrt(mean(x**2 over the last dim) + eps) * weight.

        Compute in x's dtype and return x's dtype (float64 in, float64 maths and float64 out;
        the book's Qwen3 version upcasts to float32 and casts back, which is accepted too).
        Banned: nn.RMSNorm, F.rms_norm.

        Args:
            x: (..., E) float tensor.

        Returns:
            (..., E), same dtype and device as x.

        Raises:
            ValueError: the last dimension of x is not E (the message shows x's shape).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a13: RMSNorm.forward")


class SiLU(nn.Module):
    """SiLU (also called swish): silu(x) = x * sigmoid(x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply SiLU element-wise. Banned: F.silu, nn.SiLU (torch.sigmoid is fine).

        Args:
            x: any shape, float.

        Returns:
            Same shape, dtype and device as x.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a13: SiLU.forward")


class SwiGLUFeedForward(nn.Module):
    """The Llama feed-forward: fc3(silu(fc1(x)) * fc2(x)).

    The book calls this class `FeedForward(cfg)` and reads the sizes from cfg["emb_dim"] and
    cfg["hidden_dim"]; here the two sizes are passed directly (it is the same computation).
    """

    def __init__(self, emb_dim: int, hidden_dim: int) -> None:
        """Create the three projections, all without bias.

        Args:
            emb_dim: E, input and output width.
            hidden_dim: width of the gated hidden layer (Llama uses about 8/3 * E).

        Creates:
            fc1: `nn.Linear(E, hidden_dim, bias=False)`, its output goes through SiLU (the gate).
            fc2: `nn.Linear(E, hidden_dim, bias=False)`, the linear branch ("up").
            fc3: `nn.Linear(hidden_dim, E, bias=False)`, back to E ("down").
            silu: a `SiLU()` module.

        Raises:
            ValueError: a size is not positive.
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a13: SwiGLUFeedForward.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gated feed-forward: only fc1's branch goes through SiLU.

        Args:
            x: (..., E).

        Returns:
            (..., E).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a13: SwiGLUFeedForward.forward")


def compute_rope_params(head_dim: int, theta_base: float = 10_000,
                        context_length: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Precompute RoPE's cos and sin tables, split-halves layout.

    inv_freq[i] = 1 / theta_base ** (2i / head_dim) for i = 0 .. head_dim/2 - 1,
    angles[p, i] = p * inv_freq[i] for positions p = 0 .. context_length - 1,
    then the angles are repeated, cat([angles, angles], -1), so that column j and column
    j + head_dim/2 hold the same angle (the two halves of a pair). Return cos and sin of that.

    Like the book, compute in float32 and return float32 tables. At position 4095, float32
    angles are off by up to a few 1e-4 radians; the grader's tolerance allows that, so
    computing in float64 is fine too. (The book's Llama 2 notebook calls this function
    `precompute_rope_params`; its Llama 3 / Qwen3 versions add `freq_config` / `dtype`
    arguments, which you may keep as extra keyword arguments with defaults.)

    Args:
        head_dim: hs, the per-head width; must be even (RoPE rotates pairs).
        theta_base: the base of the frequencies (10_000 in Llama 2, 500_000 in Llama 3).
        context_length: how many positions the tables cover.

    Returns:
        (cos, sin), each (context_length, head_dim).

    Raises:
        ValueError: head_dim is odd or not positive, context_length is not positive, or
            theta_base <= 0 (name the value).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a13: compute_rope_params")


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Rotate every head vector by its position's angles: x * cos + rotate_half(x) * sin.

    rotate_half(x) = cat([-x2, x1]) with x1, x2 the first and second halves of the last dim.
    Token t of x sits at position offset + t, so it uses table row offset + t: a KV cache feeds
    tokens that do not start at position 0. The book's plain Llama/Qwen notebooks have no
    offset (offset=0 is their behaviour); its KV-cache versions add it, as here. The ValueError
    past the table is this contract's addition (the book's slicing fails with a shape error).

    Args:
        x: (B, H, T, hs) queries or keys, hs even.
        cos, sin: (L, hs) tables from compute_rope_params, L >= offset + T; any float dtype.
        offset: position of x's first token, >= 0.

    Returns:
        (B, H, T, hs), x's dtype and device.

    Raises:
        ValueError: x is not 4-D, hs differs from the tables' width, offset < 0, or
            offset + T > L ("past the table"; name the numbers).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a13: apply_rope")


class GroupedQueryAttention(nn.Module):
    """Causal attention where groups of consecutive query heads share one key/value head."""

    def __init__(self, d_in: int, num_heads: int, num_kv_groups: int, head_dim: int | None = None) -> None:
        """Create the projections (no biases, as in Llama and Qwen3).

        This is the book's Qwen3 `GroupedQueryAttention` without its optional q/k norm
        (`qk_norm`) and `dtype` arguments.

        Args:
            d_in: width of the input tokens (and of the output).
            num_heads: nh, number of query heads.
            num_kv_groups: G, number of key/value heads; nh % G == 0, and query heads
                h = g * (nh // G) .. (g + 1) * (nh // G) - 1 share kv head g.
            head_dim: hs, per-head width; None means d_in // num_heads (then d_in % nh == 0).

        Creates:
            W_query: `nn.Linear(d_in, nh * hs, bias=False)`.
            W_key, W_value: `nn.Linear(d_in, G * hs, bias=False)`.
            out_proj: `nn.Linear(nh * hs, d_in, bias=False)`.
            num_heads, num_kv_groups, head_dim, group_size (= nh // G): ints.

        Raises:
            ValueError: a size is not positive, num_heads % num_kv_groups != 0, or head_dim is None
                and d_in % num_heads != 0 (name both numbers).
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a13: GroupedQueryAttention.__init__")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cos: torch.Tensor,
                sin: torch.Tensor) -> torch.Tensor:
        """Grouped-query attention with RoPE on queries and keys (positions 0 .. T-1).

        Steps: project; split into heads (queries nh, keys/values G); RoPE on queries and keys
        (not values); repeat each kv head for its group_size consecutive query heads
        (`repeat_interleave`, not `repeat`); scores / sqrt(hs); hide where mask[:T, :T] is True;
        softmax; weighted sum of values; merge the heads; out_proj.

        Args:
            x: (B, T, d_in).
            mask: bool (L, L) with L >= T, True = hidden (e.g. triu(ones, diagonal=1) for causal
                attention); only mask[:T, :T] is used (the book passes a (T, T) mask). None
                means every token sees every token.
            cos, sin: (L', hs) RoPE tables with L' >= T.

        Returns:
            (B, T, d_in), x's dtype.
        """
        # YOUR CODE HERE
        raise NotImplementedError("a13: GroupedQueryAttention.forward")
