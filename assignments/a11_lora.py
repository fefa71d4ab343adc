"""a11_lora: low-rank adaptation (LoRA).

Follows the book's appendix E (Build a Large Language Model (From Scratch), "Parameter-efficient
fine-tuning with LoRA"). Fine-tuning every weight of a GPT is expensive; LoRA freezes them and learns
a low-rank update instead. For a frozen linear layer y = x W^T + b with W of shape (out, in), LoRA adds

    y = x W^T + b + (alpha / rank) * x A B,     A: (in, rank), B: (rank, out),

with rank much smaller than in and out: rank * (in + out) trainable numbers instead of in * out.
B starts at zero, so before training the model computes exactly what it did before; A starts random
(otherwise the gradients of A and B would both be zero and nothing would ever move).

1. `LoRALayer`: the update (alpha / rank) * x @ A @ B;
2. `LinearWithLoRA`: a frozen nn.Linear plus a LoRALayer, added;
3. `replace_linear_with_lora`: swap every nn.Linear of a model for a LinearWithLoRA, at any depth;
4. `freeze_except_lora`: only the LoRA matrices stay trainable;
5. `merge_lora`: fold the learned update into one plain nn.Linear for inference
   (W' = W + (alpha / rank) * (A @ B)^T: no extra cost at inference time).

Shape letters: N = any leading dims (batch, tokens), in = in_features, out = out_features, r = rank.

Graded code (all of this file but an `if __name__ == "__main__":` block) may use torch, math and
the other modules an assignment needs, but not what reaches the grader's machinery: importing os,
sys, io, pathlib, subprocess, importlib, inspect, gc, ctypes, pickle, threading or signal (among
others), torch._C or other private torch._* names, exec, eval, compile, open, globals, vars, or
getattr with a computed attribute name. The grader's integrity scan scores the assignment 0 and
names the line when it finds one; nothing in these assignments needs them.
"""

import math

import torch
import torch.nn as nn


class LoRALayer(nn.Module):
    """The low-rank update x -> (alpha / rank) * x @ A @ B."""

    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float) -> None:
        """Create A (random) and B (zeros).

        The scaling is alpha / rank, as in the book's current code repository and the LoRA paper.
        The book's first printing multiplies by alpha alone: we grade alpha / rank.

        Args:
            in_dim, out_dim: the wrapped layer's in_features and out_features.
            rank: r >= 1, the inner width of the update.
            alpha: the update's strength (any number; alpha = rank gives a scale of 1).

        Creates:
            A: (in_dim, rank) parameter, `nn.init.kaiming_uniform_(A, a=math.sqrt(5))`, as in the
                book (nn.Linear's own init). For a (in_dim, rank) tensor kaiming_uniform_ takes
                fan_in = size(1) = rank, so A ~ U(-1/sqrt(rank), 1/sqrt(rank)). The init is graded
                in distribution (a goodness-of-fit test on A's entries), and any Kaiming-uniform
                gain is accepted.
            B: (rank, out_dim) parameter of zeros.
            rank, alpha: stored as attributes.

        Raises:
            ValueError: a size or the rank is not a positive int (name the value).
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a11: LoRALayer.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(alpha / rank) * (x @ A @ B).

        Args:
            x: (..., in_dim).

        Returns:
            (..., out_dim).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a11: LoRALayer.forward")


class LinearWithLoRA(nn.Module):
    """An nn.Linear plus a LoRALayer of matching shape: linear(x) + lora(x)."""

    def __init__(self, linear: nn.Linear, rank: int, alpha: float) -> None:
        """Wrap `linear` (kept as is, not copied).

        Args:
            linear: the layer to adapt.
            rank, alpha: for the LoRALayer.

        Creates:
            linear: the given layer (the same object).
            lora: `LoRALayer(linear.in_features, linear.out_features, rank, alpha)`, moved to
                linear.weight's dtype and device (a float64 model gets float64 LoRA matrices).

        Raises:
            TypeError: linear is not an nn.Linear (name its type).
        """
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError("a11: LinearWithLoRA.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """linear(x) + lora(x).

        Args:
            x: (..., in_features).

        Returns:
            (..., out_features).
        """
        # YOUR CODE HERE
        raise NotImplementedError("a11: LinearWithLoRA.forward")


def replace_linear_with_lora(model: nn.Module, rank: int, alpha: float) -> None:
    """Replace, in place, every nn.Linear inside `model` by LinearWithLoRA(that_linear, rank, alpha).

    Every depth counts: the attention projections inside the transformer blocks, the feed-forward
    layers inside an nn.Sequential, and the output head `out_head` (the book adapts it too).
    `model` itself is never replaced (there is no parent to put the new layer in). Calling this
    twice on one model is not graded (here an existing LinearWithLoRA is skipped; the book's
    version would wrap its inner linear again).

    Args:
        model: any nn.Module.
        rank, alpha: for every LoRALayer.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a11: replace_linear_with_lora")


def freeze_except_lora(model: nn.Module) -> None:
    """Make only the LoRA matrices trainable: requires_grad is True for every A and B of a
    LoRALayer inside `model`, and False for every other parameter (embeddings, norms, the wrapped
    linear layers' weights and biases, ...).

    The book freezes the model's parameters before calling replace_linear_with_lora (the new A and
    B are then the only trainable ones); this function gets the same result in either order.

    Args:
        model: any nn.Module.
    """
    # YOUR CODE HERE
    raise NotImplementedError("a11: freeze_except_lora")


def merge_lora(layer: LinearWithLoRA) -> nn.Linear:
    """A new nn.Linear that computes what `layer` computes, in one matrix.

    weight = W + (alpha / rank) * (A @ B)^T (A @ B is (in, out); nn.Linear stores (out, in)),
    bias = the wrapped layer's bias (or no bias if it has none). Same dtype and device as the
    wrapped layer. `layer` is left untouched (its weights are copied, not modified).

    Args:
        layer: a LinearWithLoRA.

    Returns:
        A new nn.Linear(in_features, out_features, bias=...) with the merged weights.

    Raises:
        TypeError: layer is not a LinearWithLoRA (name its type).
    """
    # YOUR CODE HERE
    raise NotImplementedError("a11: merge_lora")
