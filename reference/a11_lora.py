"""Reference for a11_lora: the update folded into `F.linear`'s weight on the fly, `torch.addmm` for the merge,
parents found through `named_modules`, the Kaiming bound written out.

Same public names, parameter names and shapes as the solution.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class LoRALayer(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, rank: int, alpha: float) -> None:
        super().__init__()
        for label, n in (("in_dim", in_dim), ("out_dim", out_dim), ("rank", rank)):
            if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                raise ValueError(f"{label}={n!r} must be a positive int")
        self.rank, self.alpha = rank, alpha
        # kaiming_uniform_(a=sqrt(5)) on an (in_dim, rank) tensor: fan_in = rank, gain^2 = 2 / 6,
        # bound = gain * sqrt(3 / fan_in) = 1 / sqrt(rank)
        bound = math.sqrt(6.0 / ((1.0 + 5.0) * rank))
        self.A = nn.Parameter(torch.empty(in_dim, rank).uniform_(-bound, bound))
        self.B = nn.Parameter(torch.zeros(rank, out_dim))

    def scale(self) -> float:
        return self.alpha / self.rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in) -> (..., out)."""
        return torch.einsum("...i,ir,ro->...o", x, self.A, self.B) * self.scale()


class LinearWithLoRA(nn.Module):
    def __init__(self, linear: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        self.linear = linear
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)
        self.lora.to(linear.weight)  # dtype and device of the wrapped weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One F.linear with the effective weight W + s (A B)^T."""
        weight = torch.addmm(self.linear.weight, self.lora.B.t(), self.lora.A.t(), alpha=self.lora.scale())
        return F.linear(x, weight, self.linear.bias)


def replace_linear_with_lora(model: nn.Module, rank: int, alpha: float) -> None:
    """Every nn.Linear below `model` (found by qualified name) becomes a LinearWithLoRA."""
    targets = []
    for name, mod in model.named_modules():  # collect first: replacing while iterating would recurse
        parent = model.get_submodule(name.rpartition(".")[0]) if name else None
        if name and isinstance(mod, nn.Linear) and not isinstance(parent, LinearWithLoRA):
            targets.append(name)
    for qualified in targets:
        parent_name, _, child = qualified.rpartition(".")
        parent = model.get_submodule(parent_name)
        parent.register_module(child, LinearWithLoRA(parent.get_submodule(child), rank, alpha))


def freeze_except_lora(model: nn.Module) -> None:
    lora_params = {id(p) for m in model.modules() if isinstance(m, LoRALayer) for p in (m.A, m.B)}
    for p in model.parameters():
        p.requires_grad = id(p) in lora_params


def merge_lora(layer: LinearWithLoRA) -> nn.Linear:
    if not isinstance(layer, LinearWithLoRA):
        raise TypeError(f"layer must be a LinearWithLoRA, got {type(layer).__name__}")
    lin, lora = layer.linear, layer.lora
    out = nn.Linear(lin.in_features, lin.out_features, bias=lin.bias is not None).to(lin.weight)
    with torch.no_grad():
        out.weight.copy_(torch.addmm(lin.weight, lora.B.t(), lora.A.t(), alpha=lora.scale()))
        if lin.bias is not None:
            out.bias.copy_(lin.bias)
    return out
