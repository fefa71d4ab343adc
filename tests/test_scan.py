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


# -- the integrity rule set -------------------------------------------------------------------
import importlib  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from autograder.assignments import available  # noqa: E402
from autograder.notebooks import module_from_file  # noqa: E402
from autograder.scan import integrity_scan, integrity_source  # noqa: E402
from tests.banks.edits import apply  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def honest_sources() -> list[tuple[str, str]]:
    """Every module an honest learner could hand in: solutions, stubs, bank variants, notebook modules."""
    out = []
    for folder in ("solutions", "assignments"):
        out += [(f"{folder}/{p.name}", p.read_text(encoding="utf-8")) for p in sorted((ROOT / folder).glob("a??_*.py"))]
    for aid in available():
        bank = importlib.import_module(f"tests.banks.{aid}")
        solution = (ROOT / "solutions" / f"{aid}.py").read_text(encoding="utf-8")
        out += [(f"bank {aid} {v.name}", apply(solution, v)) for v in (*bank.MUTANTS, *bank.ALTERNATIVES)]
    out += [(f"notebooks/{p.name}", module_from_file(p)) for p in sorted((ROOT / "notebooks").glob("a??_*.ipynb"))]
    return out


def test_honest_code_is_clean() -> None:
    """No solution, stub, mistake, alternative or notebook-assembled module trips the integrity scan."""
    sources = honest_sources()
    assert len(sources) > 100
    found = {name: [f.message() for f in integrity_source(src, name)[0]] for name, src in sources}
    assert not {k: v for k, v in found.items() if v}


def test_nbgrader_source_notebooks_assemble_clean_modules(tmp_path: Path) -> None:
    from autograder.nbgrader_course import source_notebook
    for aid in available():
        nb = source_notebook(aid, (ROOT / "solutions" / f"{aid}.py").read_text(encoding="utf-8"))
        path = tmp_path / f"{aid}.ipynb"
        path.write_text(json.dumps(nb), encoding="utf-8")
        assert integrity_source(module_from_file(path), aid)[0] == [], aid


HOSTILE = {
    "import os": "import of `os`",
    "import os.path as p": "import of `os`",
    "from sys import modules": "import of `sys`",
    "import ctypes": "import of `ctypes`",
    "import gc; gc.get_objects()": "import of `gc`",
    "import inspect": "import of `inspect`",
    "import importlib": "import of `importlib`",
    "import builtins": "import of `builtins`",
    "import signal": "import of `signal`",
    "import socket": "import of `socket`",
    "import subprocess": "import of `subprocess`",
    "import threading": "import of `threading`",
    "import multiprocessing": "import of `multiprocessing`",
    "from concurrent.futures import ThreadPoolExecutor": "import of `concurrent`",
    "import pickle": "import of `pickle`",
    "import marshal": "import of `marshal`",
    "import _thread": "import of `_thread`",
    "import posix": "import of `posix`",
    "import pty": "import of `pty`",
    "import mmap": "import of `mmap`",
    "import io": "import of `io`",
    "import pathlib": "import of `pathlib`",
    "from unittest import mock": "import of `unittest`",
    "import _sg_runtime.banned": "import of `_sg_runtime`",
    "from _sg_runtime.banned import BanRecorder": "import of `_sg_runtime`",
    "import autograder": "import of `autograder`",
    "import torch._C": "import of `torch._C`",
    "from torch import _C": "import of `torch._C`",
    "from torch._C import DisableTorchFunction": "import of `torch._C`",
    "import torch\nwith torch._C.DisableTorchFunction(): pass": "attribute `._C`",
    "import torch\ntorch.nn.functional.torch._C": "attribute `._C`",
    "from torch.utils import cpp_extension": "import of `torch.utils.cpp_extension`",
    "import torch.utils.cpp_extension": "import of `torch.utils.cpp_extension`",
    "import torch\ntorch.overrides.TorchFunctionMode": "`torch.overrides`",
    "import torch\ntorch.overrides._get_current_function_mode()": "`torch.overrides`",
    "import torch\ntorch.ops.aten._softmax": "`torch.ops`",
    "import torch.nn.functional as F\nF._in_projection": "`torch.nn.functional._in_projection`",
    "import torch\ntorch._softmax": "`torch._softmax`",
    "import torch\ntorch.serialization.os.system('x')": "attribute `.os` (the `os` module)",
    "import numpy as np\nnp.sys.modules": "attribute `.sys` (the `sys` module)",
    "from torch.serialization import os": "import of `torch.serialization.os`",
    "(lambda: 0).__globals__": "attribute `.__globals__`",
    "object.__subclasses__()": "attribute `.__subclasses__`",
    "print.__self__": "attribute `.__self__`",
    "f = lambda: 0\nf.__code__": "attribute `.__code__`",
    "f = lambda: 0\nf.__closure__": "attribute `.__closure__`",
    "def g():\n    yield\ng().gi_frame.f_back": "attribute `.gi_frame`",
    "try:\n    1/0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_globals": "attribute `.tb_frame`",
    "x = 1\nx.f_locals": "attribute `.f_locals`",
    "import torch\ntorch.__dict__['_C']": "attribute `.__dict__`",
    "import torch\nobject.__getattribute__(torch, '_' + 'C')": "attribute `.__getattribute__`",
    "[].__class__.__base__.__subclasses__()": "attribute `.__subclasses__`",
    "__builtins__['open']": "use of `__builtins__`",
    "exec('x = 1')": "use of `exec`",
    "eval('1')": "use of `eval`",
    "compile('1', 'f', 'eval')": "use of `compile`",
    "open('/proc/self/fd/3', 'wb')": "use of `open`",
    "__import__('o' + 's')": "use of `__import__`",
    "imp = __import__": "use of `__import__`",
    "breakpoint()": "use of `breakpoint`",
    "globals()['x'] = 1": "use of `globals`",
    "vars()": "use of `vars`",
    "locals()": "use of `locals`",
    "import torch\ngetattr(torch, 'soft' + 'max')": "`getattr` with a computed attribute name",
    "import torch\nname = 'softmax'\ngetattr(torch, name)": "`getattr` with a computed attribute name",
    "import torch\ng = getattr\ng(torch, 'softmax')": "`getattr` with a computed attribute name",
    "import torch\ngetattr(torch, *['softmax'])": "`getattr` with a computed attribute name",
    "import torch\nsetattr(torch, 'x' + 'y', 1)": "`setattr` with a computed attribute name",
    "import torch\ndelattr(torch, 'x' + 'y')": "`delattr` with a computed attribute name",
    "import torch\ngetattr(torch, '_C')": "`getattr` of `_C`",
    "import torch\ngetattr(torch.serialization, 'os')": "`getattr` of `os`",
    "import torch\ngetattr(torch, '_softmax')": "`torch._softmax`",
    "from operator import attrgetter": "import of `operator.attrgetter`",
    "from . import helper": "a relative import",
    "from torch import *": "`from torch import *`",
    "import string\nstring.Formatter().get_field('0.__globals__', [len], {})": "attribute `.get_field`",
    "'{0.__init__.__globals__}'.format(1)": "text naming `__globals__`",
    "import numpy as np\nnp.ctypeslib.load_library('x', '.')": "attribute `.ctypeslib`",
    "import numpy as np\nnp.zeros(3).tofile('/tmp/x')": "attribute `.tofile`",
    "import torch\ntorch.from_file('/proc/self/mem')": "attribute `.from_file`",
    # the C-level twins of flagged modules, and modules that run text as code
    "import _io\n_io.FileIO(3, 'wb')": "import of `_io`",
    "from _io import FileIO": "import of `_io`",
    "import _imp": "import of `_imp`",
    "import _posixsubprocess": "import of `_posixsubprocess`",
    "import _socket": "import of `_socket`",
    "import _signal": "import of `_signal`",
    "import _testcapi": "import of `_testcapi`",
    "from _frozen_importlib_external import SourceFileLoader": "import of `_frozen_importlib_external`",
    "import numpy as np\nnp._io": "attribute `._io` (the `_io` module)",
    "import site\nsite.addsitedir('.')": "import of `site`",
    "import imp\nimp.load_source('m', 'm.txt')": "import of `imp`",
    "import trace\ntrace.Trace().runctx('x = 1', {}, {})": "import of `trace`",
    "import cProfile\ncProfile.run('x = 1')": "import of `cProfile`",
    "from profile import run": "import of `profile`",
    "import rlcompleter": "import of `rlcompleter`",
    "import logging.config": "import of `logging.config`",
    "from logging import config": "import of `logging.config`",
    "import logging\nlogging.config.fileConfig('x.ini')": "`logging.config`",
    "import logging as lg\ngetattr(lg, 'config').fileConfig('x.ini')": "`logging.config`",
}


@pytest.mark.parametrize("src,construct", HOSTILE.items(), ids=list(HOSTILE))
def test_each_hostile_construct_is_flagged(src: str, construct: str) -> None:
    findings, _ = integrity_source(src, "a03_attention.py")
    assert construct in [f.construct for f in findings], [f.construct for f in findings]
    line = next(f.line for f in findings if f.construct == construct)
    assert findings[0].message("a03_attention.py").startswith("line ")
    assert f"line {line}: {construct} — graded code may not use it; remove it" in [
        f.message("a03_attention.py") for f in findings]


def test_literal_getattr_and_honest_lookalikes_are_clean() -> None:
    src = ("from __future__ import annotations\n"
           "import math, json, heapq, dataclasses, typing, regex\nfrom collections import Counter\nimport torch\n"
           "import torch.nn as nn\nimport torch.nn.functional as F\nimport logging\n"
           "def f(x, model):\n    model.eval()\n    p = regex.compile(r'\\p{L}+')\n"
           "    model.profile, model.logging = torch.trace(x), x.trace()  # names shared with flagged modules\n"
           "    logging.getLogger('mine').warning('noise')  # logging itself is allowed; its config reader is not\n"
           "    return getattr(x, 'dtype', None), hasattr(x, 'shape'), torch.__version__, F.gelu(x), x.__class__\n")
    assert integrity_source(src, "a.py")[0] == []


def test_the_scan_follows_the_submissions_own_imports(tmp_path: Path) -> None:
    (tmp_path / "a04_gpt_blocks.py").write_text("import torch\nfrom a03_attention import MultiHeadAttention\n"
                                                "from a03_attention import *\n")
    (tmp_path / "a03_attention.py").write_text("import helper\nclass MultiHeadAttention: pass\n")
    (tmp_path / "helper.py").write_text("x = 1\n\nimport os\n")
    (tmp_path / "a05_gpt_model.py").write_text("import os\n")  # not imported by a04: not a04's problem
    findings = integrity_scan(tmp_path, "a04_gpt_blocks")
    assert [f.message("a04_gpt_blocks.py") for f in findings] == [
        "helper.py, line 3: import of `os` — graded code may not use it; remove it"]


def test_script_blocks_and_submodule_replacement_are_not_flagged() -> None:
    """The book's `setattr(model, name, LinearWithLoRA(...))` and a learner's `if __name__ == "__main__":`
    try-it block are honest; faking the block or writing a module's attribute by a computed name is not."""
    def constructs(src: str) -> list[str]:
        return [f.construct for f in integrity_source(src)[0]]

    assert constructs("for name, child in model.named_children():\n    setattr(model, name, wrap(child))\n") == []
    assert constructs('if __name__ == "__main__":\n    import sys\n    print(open("x").read())\n') == []
    assert constructs('if __name__ == "__main__":\n    pass\nelse:\n    import os\n') == ["import of `os`"]
    assert constructs('__name__ = "__main__"\n') == ["rebinding `__name__`"]
    assert constructs('def f():\n    if __name__ == "__main__":\n        import os\n') == ["import of `os`"]
    assert constructs("import torch\nsetattr(torch.nn.functional, name, mine)\n") == [
        "`setattr` with a computed attribute name"]
    assert constructs("getattr(model, name)\n") == ["`getattr` with a computed attribute name"]
