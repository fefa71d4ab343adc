"""Learner text made inert: for Markdown feedback, the terminal and Gradescope's summary (torch-free).

Anything a submission controls (exception messages, printed output, file and folder names) goes
through one of these before it reaches a rendering, so it can neither fake a score, add HTML or a
link, break out of a code block, nor repaint a terminal. The HTML class report uses html.escape.
"""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*\[\]|~])")  # what can make bold text, code, links, tables, strikethrough


def md_text(text: str) -> str:
    """Learner-provided text as one line of literal Markdown: no markup, no raw HTML, no line breaks.

    Underscores and dots stay as they are (file names read naturally): intraword `_` makes no emphasis.
    """
    line = _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))
    return "\\" + line if line[:1] in ("#", ">", "-", "+", "=") else line  # no heading, quote or list


def md_code(text: str) -> str:
    """Learner text as an inline code span (for a table cell): no backtick run inside can close it."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def md_fence(lines: list[str], info: str = "text") -> list[str]:
    """`lines` in a code fence that nothing inside can close: longer than any backtick run in them."""
    runs = [len(r) for line in lines for r in re.findall(r"`+", line)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence + info, *lines, fence]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Learner text without control characters (a terminal escape sequence could repaint the score)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
