"""One report, many renderings: JSON (the schema in DESIGN.md), the terminal, Markdown feedback."""

from __future__ import annotations

import json

from .escape import md_fence, md_text, printable
# the dataclasses live in the torch-free results module; re-exported here for existing importers
from .results import AssignmentResult, CheckResult, Report, _json_safe  # noqa: F401

STATUS_LABEL = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "skipped": "SKIP"}


def _pts(x: float) -> str:
    return f"{x:g}"


def _counterexample(c: CheckResult) -> list[str]:
    ce = c.counterexample
    if not ce:
        return []
    parts = []
    for key in ("shapes", "config", "values"):
        if ce.get(key):
            parts.append(f"{key}: {json.dumps(ce[key], default=str)}")
    line = f"smallest failing case: {'; '.join(parts)}"
    return [line if len(line) <= 400 else line[:400] + " ..."] if parts else []


PRINTED_LINES = 4  # of a learner's print output: the first and last two lines, and a count of the rest
PRINTED_LINES_VERBOSE = 200  # with --verbose: all of it, up to this many lines
PRINTED_WIDTH = 200


def printed_lines(output: str, *, verbose: bool = False) -> list[str]:
    """What the learner's code printed: head and tail with a count of what is cut (all of it, capped, verbose)."""
    lines = output.strip("\n").splitlines()
    if not "".join(lines).strip():
        return []
    limit = PRINTED_LINES_VERBOSE if verbose else PRINTED_LINES
    shown = [ln if len(ln) <= PRINTED_WIDTH else ln[:PRINTED_WIDTH] + " ..." for ln in lines]
    if len(lines) > limit:
        head = limit // 2
        more = "" if verbose else "; --verbose shows them"
        cut = f"[... {len(lines) - limit} lines not shown{more}]"
        shown = shown[:head] + [cut] + shown[len(lines) - (limit - head):]
    return [f"your code printed ({len(lines)} line{'s' * (len(lines) != 1)}):"] + [f"| {ln}" for ln in shown]


def failure_lines(c: CheckResult, *, verbose: bool = False, output: bool = True) -> list[str]:
    """What a learner reads under a failed check: message, shrunk case, hint, captured output."""
    lines = printable(c.message).splitlines() + _counterexample(c)
    if c.hint:
        lines.append(f"hint: {c.hint}")
    if output:
        lines += [printable(line) for line in printed_lines(c.output, verbose=verbose)]
    return lines


def render_terminal(report: Report, *, title: str = "", verbose: bool = False) -> str:
    width = max([len(c.name) for a in report.assignments for c in a.checks] + [20])
    out = [title] if title else []
    for a in report.assignments:
        out.append(f"\n{a.id}  {_pts(a.score)} / {_pts(a.max_score)}")
        if a.error:
            out.append(f"  {printable(a.error)}")
        for c in a.checks:
            label = STATUS_LABEL[c.status]
            tag = "" if c.visibility == "public" else "  (hidden)"
            out.append(f"  {label:<7} {c.name:<{width}} {_pts(c.score):>4}/{_pts(c.max_score):<4}{tag}")
            if c.status != "passed" and not (a.error and c.message == a.error):
                body = failure_lines(c, output=False)
                shown = body if verbose else body[:8]
                out.extend(f"          {line}" for line in shown)
                if len(body) > len(shown):
                    out.append(f"          ... ({len(body) - len(shown)} more lines with --verbose)")
                out.extend(f"          {printable(line)}" for line in printed_lines(c.output, verbose=verbose))
    out.append(f"\nTotal {_pts(report.score)} / {_pts(report.max_score)}")
    return "\n".join(out)


def render_markdown(report: Report) -> str:
    """Feedback in Markdown. Everything a learner wrote (exception messages, printed output, the
    submission's name) is either fenced or escaped, so it can neither fake a score nor add HTML."""
    out = [f"# Feedback for {md_text(report.submission)}", "",
           f"**Score: {_pts(report.score)} / {_pts(report.max_score)}**", ""]
    for a in report.assignments:
        out += [f"## {a.id}: {_pts(a.score)} / {_pts(a.max_score)}", ""]
        if a.error:
            out += [*md_fence(a.error.splitlines() or [""]), ""]
        out += ["| | check | points | what it checks |", "|---|---|---|---|"]
        for c in a.checks:
            mark = "✅" if c.status == "passed" else ("⏱️" if c.status == "timeout" else "❌")
            out.append(f"| {mark} | `{c.name}` | {_pts(c.score)}/{_pts(c.max_score)} | {c.description} |")
        failed = [c for c in a.checks if c.status != "passed" and not (a.error and c.message == a.error)]
        for c in failed:
            out += ["", f"### `{c.name}` ({c.status})", "", *md_fence(failure_lines(c))]
        out.append("")
    g = report.grader
    out.append(f"<sub>scratchgrad {g.get('version', '?')}, seed {g.get('seed', 0)}, "
               f"{g.get('elapsed_s', 0):g} s</sub>")
    return "\n".join(out) + "\n"
