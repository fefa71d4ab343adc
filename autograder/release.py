"""`scratchgrad release OUT`: the learner's kit, and nothing an instructor keeps to themselves.

The kit holds the stubs (`assignments/`), their notebooks, the public engine with the public checks
and their snapshot data, a learner README and its own packaging, so that inside it
`pip install -e .` then `scratchgrad check` work. It never holds `reference/`, `solutions/`, the hidden
suites or the instructor-only tooling (platform bundles, whole-class grading); `tests/test_release.py`
proves that by content, not by file names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import __version__
from .assignments import UsageError, available
from .launch import PROJECT_ROOT
from .notebooks import write_notebooks
from .stubs import make_stub, solution_files

PACKAGE = Path(__file__).resolve().parent
# instructor-side modules of the engine: they bundle, or only make sense with, the hidden material
INSTRUCTOR_ONLY = {"hidden", "release.py", "gradescope.py", "gradescope_files", "nbgrader_course.py", "batch.py",
                   "cluster.py", "classreport.py", "snapshots_build.py"}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "scratchgrad"
version = "{version}"
description = "Build a GPT-style language model from scratch in PyTorch, with checks that tell you what is wrong"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["torch>=2.4", "numpy>=1.24", "hypothesis>=6.100", "tiktoken>=0.7", "regex>=2023.1",
                "safetensors>=0.4", "tqdm>=4.66", "watchfiles>=0.21"]

[project.optional-dependencies]
notebooks = ["jupyterlab>=4", "ipykernel>=6"]
pytest = ["pytest>=8"]

[project.scripts]
scratchgrad = "autograder.cli:main"

[project.entry-points.pytest11]
scratchgrad = "autograder.pytest_plugin"

[tool.setuptools.packages.find]
include = ["autograder*"]

[tool.pytest.ini_options]
# `pytest` here runs the public checks of your files, one test per check (autograder/pytest_plugin.py)
testpaths = ["assignments"]

[tool.setuptools.package-data]
autograder = ["suites/snapshots/*.safetensors", "suites/snapshots/*.json", "data/*.txt", "data/*.md"]
"""

# what running the kit leaves behind: none of it is the learner's work
KIT_GITIGNORE = """__pycache__/
*.egg-info/
.pytest_cache/
.hypothesis/
.ipynb_checkpoints/
# the check cell of each notebook saves its module here; the notebook is the source
notebooks/*.py
"""

README = """# Build a GPT from scratch: your kit

{count} assignments, in teaching order: {ids}.

Each one is a Python module in `assignments/` (and the same thing as a notebook in `notebooks/`)
with the tasks marked `# YOUR CODE HERE`. You write the code; `scratchgrad check` runs the public
checks on it and tells you what is wrong: which tensor, which element, the smallest input that
fails, and a hint when your result matches a known mistake. The hidden checks your course may use
compare every output and gradient with a reference implementation that is not in this kit.

## Set up (once)

Python 3.10 or newer, on Linux or macOS (on Windows, use WSL). In a virtual environment:

**No NVIDIA GPU (most laptops):** on Linux, a plain install of torch pulls its CUDA build, several GB
you cannot use. Take the CPU build from PyTorch's own CPU wheel index first (a few hundred MB), then the kit:

```bash
python -m pip install torch --index-url https://download.pytorch.org/whl/cpu
python -m pip install -e .
scratchgrad check
```

In one step: `python -m pip install -e . --extra-index-url https://download.pytorch.org/whl/cpu`. On macOS
the torch wheels on PyPI are already CPU builds: skip the first line.

**With an NVIDIA GPU:** the normal install, which brings the CUDA build of torch:

```bash
python -m pip install -e .
scratchgrad check
```

The checks run on the CPU either way: the tensors are tiny.

Every check fails with "not implemented yet" until you write the code: that is expected.

## Work in Python files

Open `assignments/a03_attention.py` (say), replace each `raise NotImplementedError(...)` with your
code, then:

```bash
scratchgrad check a03            # or a3, 03, attention, a03_attention; no ID checks everything
scratchgrad check a03 --verbose  # every line of each failure, and all your code printed
scratchgrad check a03 --watch    # check again every time you save a file (Ctrl-C to stop)
```

`check` works from anywhere in the kit, and takes a file too: `scratchgrad check assignments/a03_attention.py`.

## Or run the checks with pytest (and your editor's test panel)

```bash
python -m pip install pytest     # if you do not have it
pytest                           # every public check of every assignment, one test per check
pytest assignments/a03_attention.py                          # one assignment
pytest assignments/a03_attention.py::softmax_large_inputs    # one check
```

The verdicts and messages are the ones `scratchgrad check` gives. VS Code (Testing panel, pytest
selected) and PyCharm (a pytest run configuration on `assignments/`) list every check as a test.

Later assignments import earlier ones (`from a03_attention import MultiHeadAttention`), so keep
all your files in `assignments/`.

## Or work in notebooks

```bash
python -m pip install -e ".[notebooks]"
jupyter lab notebooks/
```

Each notebook's code cells make up the module; the last cell saves it as `aNN_name.py` next to the
notebook and runs the same public checks. Keep the first line of every code cell
(`# a03_attention.py, part 2 of 7`): it tells the checker which part of the module the cell holds.
Run the check cell of a notebook before you start the next one: the next one imports the module it saves.

## See it work

Each example runs your own modules:

- `python examples/pretrain_demo.py` (a01-a06, a08; a07 when it passes): trains your tokenizer on the
  bundled corpus, then a small GPT built from your modules, samples text from it with your decoder
  and saves the loss curve.
- `python examples/lora_finetune_demo.py` (a09, a11): fine-tunes a small GPT with your LoRA on a toy
  classification task from the corpus and prints the accuracy before and after.
- `python examples/llama_demo.py --path assignments` (once a13 passes): a tiny Llama-style model from
  your pieces, cached generation agreeing with uncached, with the FLOPs of each step side by side.

## What graded files may not use

Your modules compute with `torch` (and `math`, `collections`, `itertools`, `dataclasses`, `typing`,
`json`, `regex`; a01 may use `regex`). They may not import `os`, `sys`, `io`, `subprocess`,
`threading`, `pickle`, `ctypes`, `importlib`, `inspect`, `gc` and the like, use `torch._C` or other
private `torch._*` names, call `exec`, `eval`, `compile`, `open`, `__import__`, `globals`, `vars` or
`locals`, or `getattr`/`setattr` with a computed name: none of the tasks needs them, and the checker
scans for them before running your code. One found scores that assignment 0 and names the line
("line 12: import of `os` — graded code may not use it; remove it"). Keep file downloads and
experiments in a separate script or notebook cell outside the module.

## Submitting

Your course tells you how: a folder or zip of your `aNN_*.py` files (or your notebooks), a
Gradescope upload, or an nbgrader assignment. The same code gets the same score on every route.
"""


def build_kit(out: Path, *, root: Path = PROJECT_ROOT) -> list[Path]:
    """Write the learner kit into `out` (which must not exist or be empty); return the files written.

    Raises:
        UsageError: `out` is a non-empty folder or a file, or there is no `solutions/` to build the stubs from.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"release OUT={str(out)!r} already exists and is not an empty folder")
    if not (root / "solutions").is_dir():
        raise UsageError(f"release needs the solutions the stubs come from; {root / 'solutions'} does not exist")
    ids = available()
    # the stubs come straight from solutions/, not from this checkout's assignments/, which may hold
    # someone's work in progress (and must then be neither shipped nor overwritten)
    stubs = {p.stem: make_stub(p.read_text(encoding="utf-8"), str(p)) for p in solution_files(root / "solutions")
             if p.stem in ids}
    out.mkdir(parents=True, exist_ok=True)
    (out / "assignments").mkdir()
    for aid, text in stubs.items():
        (out / "assignments" / f"{aid}.py").write_text(text, encoding="utf-8")
    write_notebooks(out / "assignments", out / "notebooks", ids)
    pkg = out / "autograder"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", *INSTRUCTOR_ONLY))
    for suite in (pkg / "suites").glob("a[0-9][0-9]_*.py"):
        if suite.stem not in ids:
            suite.unlink()
    (out / "pyproject.toml").write_text(PYPROJECT.format(version=__version__), encoding="utf-8")
    (out / "README.md").write_text(README.format(count=len(ids), ids=", ".join(f"`{a}`" for a in ids)),
                                   encoding="utf-8")
    if (root / "examples").is_dir():  # the pretraining demo runs on the learner's own modules
        shutil.copytree(root / "examples", out / "examples", ignore=IGNORE)
    (out / ".gitignore").write_text(KIT_GITIGNORE, encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())
