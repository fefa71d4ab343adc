"""Independently written a03 solutions for the similarity tests: what two students who did not copy hand in.

The banks' mutants and alternatives are one-line edits of solutions/, near-copies of it and of each
other by construction; an honest class needs code written separately. `KIM` and `LEE` are two more
ways to fill in a03's stub (kim: compact, generator-built projections, `.mT`; lee: einsum,
%-formatting, an index-comparison mask), each task body written without looking at the others.
`fill` puts bodies into the stub the way a learner does: in place of its two task lines.
"""

from __future__ import annotations

import re
import textwrap

KIM = {
    "softmax": """
        shifted = x - x.max(dim=dim, keepdim=True).values
        e = shifted.exp()
        return e / e.sum(dim, keepdim=True)
    """,
    "SelfAttention_v1.__init__": """
        for name, size in (("d_in", d_in), ("d_out", d_out)):
            if size < 1:
                raise ValueError(f"{name}={size} must be positive")
        self.W_query, self.W_key, self.W_value = (nn.Parameter(torch.rand(d_in, d_out)) for _ in range(3))
    """,
    "SelfAttention_v1.forward": """
        if x.ndim != 2:
            raise ValueError(f"expected a (T, d_in) input, got shape {list(x.shape)}")
        q, k, v = x @ self.W_query, x @ self.W_key, x @ self.W_value
        w = softmax(q @ k.T * k.shape[1] ** -0.5, dim=1)
        return w @ v
    """,
    "SelfAttention_v2.__init__": """
        if d_in < 1 or d_out < 1:
            raise ValueError(f"d_in={d_in} and d_out={d_out} must both be positive")
        self.W_query, self.W_key, self.W_value = (nn.Linear(d_in, d_out, bias=qkv_bias) for _ in range(3))
    """,
    "SelfAttention_v2.forward": """
        if x.ndim != 2:
            raise ValueError(f"expected a (T, d_in) input, got shape {list(x.shape)}")
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        return softmax(q @ k.T * k.shape[1] ** -0.5, dim=1) @ v
    """,
    "CausalAttention.__init__": """
        if d_in < 1 or d_out < 1 or context_length < 1:
            raise ValueError(f"d_in={d_in}, d_out={d_out}, context_length={context_length}: all must be positive")
        if dropout < 0 or dropout >= 1:
            raise ValueError(f"dropout={dropout} is not in [0, 1)")
        self.context_length = context_length
        self.W_query, self.W_key, self.W_value = (nn.Linear(d_in, d_out, bias=qkv_bias) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        future = torch.ones(context_length, context_length, dtype=torch.bool).triu(1)
        self.register_buffer("mask", future, persistent=False)
    """,
    "CausalAttention.forward": """
        if x.ndim != 3:
            raise ValueError(f"expected a (B, T, d_in) input, got shape {list(x.shape)}")
        n_tokens = x.shape[1]
        if n_tokens > self.context_length:
            raise ValueError(f"T={n_tokens} is longer than context_length={self.context_length}")
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        scores = (q @ k.mT) * k.shape[-1] ** -0.5
        scores = scores.masked_fill(self.mask[:n_tokens, :n_tokens], -torch.inf)
        return self.dropout(softmax(scores, dim=-1)) @ v
    """,
    "MultiHeadAttentionWrapper.__init__": """
        if num_heads < 1:
            raise ValueError(f"num_heads={num_heads} must be positive")
        self.heads = nn.ModuleList()
        for _ in range(num_heads):
            self.heads.append(CausalAttention(d_in, d_out, context_length, dropout, qkv_bias))
    """,
    "MultiHeadAttentionWrapper.forward": """
        outs = [h(x) for h in self.heads]
        return torch.concat(outs, dim=2)
    """,
    "MultiHeadAttention.__init__": """
        if d_in < 1 or d_out < 1 or context_length < 1 or num_heads < 1:
            raise ValueError(f"d_in={d_in}, d_out={d_out}, context_length={context_length}, "
                             f"num_heads={num_heads}: all must be positive")
        if d_out % num_heads:
            raise ValueError(f"d_out={d_out} must be a multiple of num_heads={num_heads}")
        if dropout < 0 or dropout >= 1:
            raise ValueError(f"dropout={dropout} is not in [0, 1)")
        self.num_heads, self.head_dim, self.d_out = num_heads, d_out // num_heads, d_out
        self.context_length = context_length
        self.W_query, self.W_key, self.W_value = (nn.Linear(d_in, d_out, bias=qkv_bias) for _ in range(3))
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        future = torch.ones(context_length, context_length, dtype=torch.bool).triu(1)
        self.register_buffer("mask", future, persistent=False)
    """,
    "MultiHeadAttention.forward": """
        if x.ndim != 3:
            raise ValueError(f"expected a (B, T, d_in) input, got shape {list(x.shape)}")
        b, t, _ = x.shape
        if t > self.context_length:
            raise ValueError(f"T={t} is longer than context_length={self.context_length}")

        def split(y):  # (b, t, d_out) -> (b, heads, t, head_dim)
            return y.reshape(b, t, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

        q, k, v = split(self.W_query(x)), split(self.W_key(x)), split(self.W_value(x))
        scores = (q @ k.mT) * self.head_dim ** -0.5
        scores = scores.masked_fill(self.mask[:t, :t], -torch.inf)
        ctx = self.dropout(softmax(scores, dim=-1)) @ v
        return self.out_proj(ctx.permute(0, 2, 1, 3).reshape(b, t, self.d_out))
    """,
}

LEE = {
    "softmax": """
        m = torch.amax(x, dim, True)
        num = torch.exp(x - m)
        den = torch.sum(num, dim, True)
        return num / den
    """,
    "SelfAttention_v1.__init__": """
        if not (d_in > 0 and d_out > 0):
            raise ValueError("d_in and d_out must be > 0 (got d_in=%d, d_out=%d)" % (d_in, d_out))
        self.W_query = nn.Parameter(torch.rand((d_in, d_out)))
        self.W_key = nn.Parameter(torch.rand((d_in, d_out)))
        self.W_value = nn.Parameter(torch.rand((d_in, d_out)))
    """,
    "SelfAttention_v1.forward": """
        if len(x.shape) != 2:
            raise ValueError("x should be 2-D (T, d_in) but has shape " + str(tuple(x.shape)))
        Q = torch.matmul(x, self.W_query)
        K = torch.matmul(x, self.W_key)
        V = torch.matmul(x, self.W_value)
        S = torch.einsum("id,jd->ij", Q, K) / K.size(-1) ** 0.5
        return torch.matmul(softmax(S, dim=-1), V)
    """,
    "SelfAttention_v2.__init__": """
        if not (d_in > 0 and d_out > 0):
            raise ValueError("d_in and d_out must be > 0 (got d_in=%d, d_out=%d)" % (d_in, d_out))
        self.W_query = nn.Linear(d_in, d_out, qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, qkv_bias)
    """,
    "SelfAttention_v2.forward": """
        if len(x.shape) != 2:
            raise ValueError("x should be 2-D (T, d_in) but has shape " + str(tuple(x.shape)))
        Q, K, V = self.W_query(x), self.W_key(x), self.W_value(x)
        S = torch.einsum("id,jd->ij", Q, K) / K.size(-1) ** 0.5
        return torch.einsum("ij,jd->id", softmax(S, dim=-1), V)
    """,
    "CausalAttention.__init__": """
        for label, value in [("d_in", d_in), ("d_out", d_out), ("context_length", context_length)]:
            if value <= 0:
                raise ValueError("%s=%d must be > 0" % (label, value))
        if dropout < 0.0 or not dropout < 1.0:
            raise ValueError("dropout=%r must lie in [0, 1)" % dropout)
        self.context_length = context_length
        self.W_query = nn.Linear(d_in, d_out, qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, qkv_bias)
        self.dropout = nn.Dropout(p=dropout)
        rows = torch.arange(context_length)
        self.register_buffer("mask", rows[None, :] > rows[:, None], persistent=False)
    """,
    "CausalAttention.forward": """
        if len(x.shape) != 3:
            raise ValueError("x should be 3-D (B, T, d_in) but has shape " + str(tuple(x.shape)))
        T = x.size(1)
        if T > self.context_length:
            raise ValueError("T=%d exceeds context_length=%d" % (T, self.context_length))
        Q, K, V = self.W_query(x), self.W_key(x), self.W_value(x)
        S = torch.einsum("btd,bsd->bts", Q, K) / K.size(-1) ** 0.5
        S = torch.where(self.mask[:T, :T], torch.full_like(S, float("-inf")), S)
        A = self.dropout(softmax(S, dim=-1))
        return torch.einsum("bts,bsd->btd", A, V)
    """,
    "MultiHeadAttentionWrapper.__init__": """
        if not num_heads > 0:
            raise ValueError("num_heads=%d must be > 0" % num_heads)
        heads = [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for i in range(num_heads)]
        self.heads = nn.ModuleList(heads)
    """,
    "MultiHeadAttentionWrapper.forward": """
        return torch.cat(tuple(head(x) for head in self.heads), -1)
    """,
    "MultiHeadAttention.__init__": """
        sizes = [("d_in", d_in), ("d_out", d_out), ("context_length", context_length), ("num_heads", num_heads)]
        for label, value in sizes:
            if value <= 0:
                raise ValueError("%s=%d must be > 0" % (label, value))
        if d_out % num_heads:
            raise ValueError("d_out=%d cannot be split into num_heads=%d heads" % (d_out, num_heads))
        if dropout < 0.0 or not dropout < 1.0:
            raise ValueError("dropout=%r must lie in [0, 1)" % dropout)
        self.context_length, self.num_heads = context_length, num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out, True)
        self.dropout = nn.Dropout(p=dropout)
        rows = torch.arange(context_length)
        self.register_buffer("mask", rows[None, :] > rows[:, None], persistent=False)
    """,
    "MultiHeadAttention.forward": """
        if len(x.shape) != 3:
            raise ValueError("x should be 3-D (B, T, d_in) but has shape " + str(tuple(x.shape)))
        B, T, D = x.size()
        if T > self.context_length:
            raise ValueError("T=%d exceeds context_length=%d" % (T, self.context_length))
        H, E = self.num_heads, self.head_dim
        Q = self.W_query(x).reshape(B, T, H, E)
        K = self.W_key(x).reshape(B, T, H, E)
        V = self.W_value(x).reshape(B, T, H, E)
        S = torch.einsum("bthe,bshe->bhts", Q, K) / E ** 0.5
        S = torch.where(self.mask[:T, :T], torch.full_like(S, float("-inf")), S)
        A = self.dropout(softmax(S, dim=-1))
        out = torch.einsum("bhts,bshe->bthe", A, V).reshape(B, T, H * E)
        return self.out_proj(out)
    """,
}

_TASK = re.compile(r'^( *)# YOUR CODE HERE\n\1raise NotImplementedError\("a\d\d: ([\w.]+)"\)\n', re.MULTILINE)


def fill(stub: str, bodies: dict[str, str]) -> str:
    """`stub` with the tasks named in `bodies` written; the others keep their two stub lines."""
    done: set[str] = set()

    def write(m: re.Match) -> str:
        task = m.group(2)
        if task not in bodies:
            return m.group(0)
        done.add(task)
        return textwrap.indent(textwrap.dedent(bodies[task]).strip("\n") + "\n", m.group(1))

    out = _TASK.sub(write, stub)
    missing = set(bodies) - done
    if missing:
        raise ValueError(f"fill: no task {sorted(missing)} in the stub")
    return out


# local names of KIM's code and what a copier renamed them to (whole words, not after a dot)
RENAMES = {"shifted": "centred", "e": "expd", "size": "dim_size", "q": "query", "k": "key", "v": "val",
           "w": "weights", "n_tokens": "seq_len", "scores": "logits", "future": "upper", "outs": "head_outputs",
           "h": "attn_head", "b": "batch", "t": "steps", "split": "to_heads", "y": "proj", "ctx": "merged"}


def disguise(bodies: dict[str, str]) -> dict[str, str]:
    """What a copier does to a friend's task bodies: rename the locals, reword the comments, move blank lines."""
    out = {}
    for task, body in bodies.items():
        for old, new in RENAMES.items():
            body = re.sub(rf"(?<![.\w]){old}\b", new, body)
        lines = []
        for line in textwrap.dedent(body).strip("\n").splitlines():
            if not line.strip():
                continue  # the friend's blank lines go...
            code, _, comment = line.partition("  # ")
            indent = code[: len(code) - len(code.lstrip())]
            if code.lstrip().startswith("return"):
                lines.append(f"{indent}# and we are done")
            lines.append(code + ("  # heads next to the batch dimension" if comment else ""))
            if code.lstrip().startswith("raise"):
                lines.append("")  # ...and others come
        out[task] = "\n".join(lines) + "\n"
    return out
