"""Static scan for banned APIs: aliases, scopes, tensor methods."""

from __future__ import annotations

from autograder.scan import Ban, scan_source

BANS = [Ban("torch.softmax", "softmax"), Ban("torch.Tensor.softmax", "softmax"),
        Ban("torch.nn.functional.softmax", "softmax"), Ban("torch.nn.functional.scaled_dot_product_attention"),
        Ban("torch.nn.MultiheadAttention")]


def apis(src: str) -> list[tuple[str, int, str]]:
    return [(f.api, f.line, f.scope) for f in scan_source(src, BANS)]


def test_aliases_are_followed() -> None:
    src = ("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
           "from torch.nn.functional import scaled_dot_product_attention as sdpa\n"
           "def softmax(x):\n    return F.softmax(x, -1) + torch.softmax(x, -1) + x.softmax(-1)\n"
           "class A(nn.Module):\n    def f(self, x):\n        return sdpa(x, x, x), nn.MultiheadAttention(2, 1)\n")
    assert apis(src) == [
        ("torch.nn.functional.scaled_dot_product_attention", 4, "<module>"),
        ("torch.nn.functional.softmax", 6, "softmax"), ("torch.softmax", 6, "softmax"),
        ("torch.Tensor.softmax", 6, "softmax"),
        ("torch.nn.functional.scaled_dot_product_attention", 9, "A.f"),
        ("torch.nn.MultiheadAttention", 9, "A.f"),
    ]


def test_scoped_ban_allows_the_api_elsewhere() -> None:
    src = "import torch\nclass MHA:\n    def forward(self, s):\n        return torch.softmax(s, -1)\n"
    assert apis(src) == []


def test_own_attribute_named_like_a_banned_method_is_not_flagged() -> None:
    src = "def softmax(x):\n    return self.softmax(x)\n"
    assert apis(src) == []
