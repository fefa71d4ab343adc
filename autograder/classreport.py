"""Class-level outputs of `grade-all`: the gradebook CSV and a self-contained HTML report.

Both are built from the students' JSON reports (dicts in the schema of DESIGN.md), so a rerun that
reuses saved reports produces the same files as the run that graded them. Neither holds a
timestamp: the same inputs give byte-identical outputs. Everything a learner could have written
(folder names, exception messages, printed output) is escaped before it reaches the HTML.
"""

from __future__ import annotations

import csv
import html
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # similarity imports numpy; the class report is built without it when there is no section
    from .similarity import AssignmentSimilarity, Pair, Similarity

MAX_ROW = "(max)"  # the gradebook's first data row: points possible per column
REASON_CHARS = 300


@dataclass(frozen=True)
class Row:
    """One student's line: a report when grading ran, otherwise an error with its reason."""

    student: str
    status: str  # "ok" | "error"
    reason: str
    report: dict[str, Any] | None

    def score(self, aid: str) -> float | None:
        for a in (self.report or {}).get("assignments", []):
            if a.get("id") == aid:
                return float(a.get("score", 0.0))
        return None

    @property
    def total(self) -> float | None:
        return None if self.report is None else float(self.report.get("score", 0.0))

    def checks(self) -> list[tuple[str, dict[str, Any]]]:
        return [(a.get("id", "?"), c) for a in (self.report or {}).get("assignments", []) for c in a.get("checks", [])]


def maxima(rows: list[Row], ids: list[str]) -> dict[str, float] | None:
    """Points possible per assignment and in total, from the first graded report (all share one grader)."""
    for row in rows:
        if row.report is not None:
            out = {a["id"]: float(a.get("max_score", 0.0)) for a in row.report.get("assignments", [])}
            out = {aid: out.get(aid, 0.0) for aid in ids}
            out["total"] = float(row.report.get("max_score", sum(out.values())))
            return out
    return None


def num(x: float | None, digits: int = 4) -> str:
    """A score as text: no trailing zeros, fixed rounding, '' for no score."""
    if x is None:
        return ""
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- gradebook --------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a folder name is learner-provided)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(rows: list[Row], ids: list[str]) -> str:
    """student, one column per assignment, total, status, reason; a '(max)' row first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *ids, "total", "status", "reason"])
    top = maxima(rows, ids)
    if top is not None:
        w.writerow([MAX_ROW, *(num(top[a]) for a in ids), num(top["total"]), "", ""])
    for r in rows:
        w.writerow([_cell(r.student), *(num(r.score(a)) for a in ids), num(r.total), r.status,
                    _cell(one_line(r.reason))])
    return buf.getvalue()


# -- SVG charts (hand-drawn, no JS, no external assets) ----------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def histogram_bins(scores: list[float], max_score: float, n_bins: int = 10) -> list[tuple[str, int]]:
    """Counts of scores in n equal bins of [0, max] (the last bin includes max), labelled in %."""
    counts = [0] * n_bins
    for s in scores:
        frac = s / max_score if max_score > 0 else 0.0
        counts[min(max(int(frac * n_bins), 0), n_bins - 1)] += 1
    step = 100 // n_bins
    return [(f"{i * step}-{(i + 1) * step}%", c) for i, c in enumerate(counts)]


def _svg_open(w: int, h: int, title: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>'
            f'<text x="4" y="15" class="t">{_e(title)}</text>')


def histogram_svg(title: str, scores: list[float], max_score: float) -> str:
    """Students per 10% band of the score, as a bar chart; ticks at the band edges."""
    bins = histogram_bins(scores, max_score)
    w, h, left, right, top, bottom = 440, 200, 12, 16, 36, 40
    plot_w, plot_h = w - left - right, h - top - bottom
    base = top + plot_h
    peak = max([c for _, c in bins] + [1])
    bar_w = plot_w / len(bins)
    parts = [_svg_open(w, h, title), f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" class="axis"/>']
    for i, (label, count) in enumerate(bins):
        bh = plot_h * count / peak
        x, y = left + i * bar_w, base - bh
        parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{bh:.1f}" class="bar">'
                     f"<title>{_e(label)}: {count} student{'s' if count != 1 else ''}</title></rect>")
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{count}</text>')
    for i in range(len(bins) + 1):
        parts.append(f'<text x="{left + i * bar_w:.1f}" y="{base + 14}" text-anchor="middle">{i * 10}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{h - 6}" text-anchor="middle">'
                 f"score, % of {_e(num(max_score, 2))} points</text></svg>")
    return "".join(parts)


@dataclass(frozen=True)
class CheckStat:
    assignment: str
    name: str
    visibility: str
    failed: int
    graded: int

    @property
    def rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0


STUB = "not implemented yet"
CHART_ROWS = 20  # checks in the failure chart; the rest sit behind a fold


def attempted(assignment: dict[str, Any]) -> bool:
    """Whether a student worked on the assignment: some check passed or failed on something other than a stub.

    A missing file, or a file still all stubs, says nothing about which checks are hard: such students
    are left out of the per-check failure rates (a syntax error is an attempt, and counts).
    """
    checks = [c for c in assignment.get("checks", []) if c.get("name") != "no_banned_apis"]
    if "is not in the submission" in (assignment.get("error") or ""):
        return False
    return any(c.get("status") == "passed" or not str(c.get("message", "")).startswith(STUB) for c in checks)


def check_stats(rows: list[Row]) -> list[CheckStat]:
    """Per check: how many of the students who attempted its assignment did not pass it, by rate, then name."""
    failed: Counter[tuple[str, str, str]] = Counter()
    seen: Counter[tuple[str, str, str]] = Counter()
    for r in rows:
        tried = {a.get("id", "?") for a in (r.report or {}).get("assignments", []) if attempted(a)}
        for aid, c in r.checks():
            if aid not in tried:
                continue
            key = (aid, c.get("name", "?"), c.get("visibility", "public"))
            seen[key] += 1
            failed[key] += c.get("status") != "passed"
    stats = [CheckStat(a, n, v, failed[(a, n, v)], seen[(a, n, v)]) for (a, n, v) in seen]
    return sorted(stats, key=lambda s: (-s.rate, s.assignment, s.name))


def failure_svg(stats: list[CheckStat], title: str = "Per-check failure rate (share of the students who "
                                                      "attempted the assignment and did not pass)") -> str:
    """One horizontal bar per check, longest first; hidden checks in their own colour and marked."""
    row_h, label_w, bar_w, top = 18, 360, 300, 44
    w, h = label_w + bar_w + 90, top + row_h * len(stats) + 8
    parts = [_svg_open(w, h, title),
             ('<rect x="4" y="23" width="10" height="10" class="public"/><text x="18" y="32">public check</text>'
              '<rect x="114" y="23" width="10" height="10" class="hidden"/><text x="128" y="32">hidden check</text>')]
    for i, s in enumerate(stats):
        y = top + i * row_h
        label = f"{s.assignment} {s.name}" + (" (hidden)" if s.visibility == "hidden" else "")
        label = label if len(label) <= 58 else label[:55] + "..."
        length = bar_w * s.rate
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{_e(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{length:.1f}" height="{row_h - 5}" '
                     f'class="{"hidden" if s.visibility == "hidden" else "public"}">'
                     f"<title>{_e(label)}: {s.failed} of {s.graded} did not pass</title></rect>"
                     f'<text x="{label_w + length + 4:.1f}" y="{y + 12}">'
                     f"{round(100 * s.rate)}% ({s.failed}/{s.graded})</text>")
    parts.append("</svg>")
    return "".join(parts)


# -- HTML page -------------------------------------------------------------------------------
def hint_key(hint: str) -> str:
    """One misconception, however a check words what it saw: the advice after the first ': ' names the fix.

    A public check says "your rows' variance matches dividing by E - 1 ...: LayerNorm uses the biased
    variance, x.var(dim=-1, unbiased=False)", the hidden one "your output matches the unbiased variance
    ...: LayerNorm uses the biased variance, ..." -- the same mistake, one row.
    """
    advice = hint.split(": ", 1)[1] if ": " in hint else hint
    return " ".join(advice.lower().split()).rstrip(".")


def hint_counts(rows: list[Row]) -> list[tuple[str, int, list[str]]]:
    """Misconceptions -> (a wording of it, the number of students who got it, the checks that gave it)."""
    students: dict[str, set[str]] = defaultdict(set)
    where: dict[str, set[str]] = defaultdict(set)
    wordings: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        for aid, c in r.checks():
            hint = (c.get("hint") or "").strip()
            if hint and c.get("status") != "passed":
                key = hint_key(hint)
                students[key].add(r.student)
                where[key].add(f"{aid} {c.get('name', '?')}")
                wordings[key][hint] += 1
    # the most frequent wording names the row (ties: the alphabetically first), so the page is stable
    named = {k: min(w.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, w in wordings.items()}
    return sorted(((named[k], len(s), sorted(where[k])) for k, s in students.items()), key=lambda t: (-t[1], t[0]))


def integrity_findings(rows: list[Row]) -> list[tuple[str, str, dict[str, Any]]]:
    """(student, assignment, finding) for every integrity-scan finding in the graded reports."""
    return [(r.student, a.get("id", "?"), f) for r in rows for a in (r.report or {}).get("assignments", [])
            for f in a.get("integrity") or [] if isinstance(f, dict)]


def _integrity_section(rows: list[Row]) -> list[str]:
    found = integrity_findings(rows)
    out = ["<h2>Integrity findings</h2>"]
    if not found:
        return out + ["<p>The integrity scan found nothing in any graded submission.</p>"]
    students = len({s for s, _, _ in found})
    out += [f"<p>{students} student{'s' if students != 1 else ''}: code that graded work may not use (the "
            "assignment scored 0; read the lines before deciding anything).</p>",
            "<table><tr><th>student</th><th>assignment</th><th>file</th><th>line</th><th>construct</th></tr>"]
    out += [f"<tr><td>{_e(s)}</td><td>{_e(aid)}</td><td>{_e(f.get('file', ''))}</td>"
            f"<td class=\"n\">{_e(f.get('line', ''))}</td><td>{_e(f.get('construct', ''))}</td></tr>"
            for s, aid, f in found[:500]]
    return out + ["</table>"]


# -- similar code ------------------------------------------------------------------------------
NOT_A_PENALTY = "Evidence for a human reader, never a penalty: no score in this report depends on it."
SIMILAR_CONTEXT = 1  # unmarked lines shown around each matching line


def _source_lines(text: str, marked: tuple[int, ...], context: int) -> str:
    """The marked lines of a module (1-based) in <mark>, with their numbers and `context` lines around;
    a longer stretch of unmarked lines inside the region (a comment block, a docstring) is cut to a gap line."""
    lines = text.splitlines()
    width = len(str(len(lines)))
    show = sorted({n for m in marked for n in range(m - context, m + context + 1) if 1 <= n <= len(lines)})
    hits = set(marked)
    out, last = [], None
    for n in show:
        if last is not None and n > last + 1:
            out.append(f'<span class="gap">{"." * width} {n - last - 1} line{"s" if n - last - 1 != 1 else ""} '
                       "without matching code</span>")
        code = _e(lines[n - 1].expandtabs(4))
        out.append(f'<span class="ln">{n:>{width}}</span> ' + (f"<mark>{code}</mark>" if n in hits else code))
        last = n
    return f'<pre class="src">{chr(10).join(out)}</pre>'


def side_by_side(pair: "Pair", sources: dict[str, str], anchor: str, context: int) -> list[str]:
    """A pair's matching regions, one row each: the first student's lines left, the second's right."""
    a, b = sources.get(pair.a, ""), sources.get(pair.b, "")
    out = [f'<details id="{_e(anchor)}"><summary>{_e(pair.a)} and {_e(pair.b)}: {len(pair.regions)} matching '
           f"region{'s' if len(pair.regions) != 1 else ''}, side by side (matching lines highlighted)</summary>",
           f'<table class="sbs"><tr><th>{_e(pair.a)}</th><th>{_e(pair.b)}</th></tr>']
    for r in pair.regions:
        out.append(f"<tr><td>{_source_lines(a, r.a_lines, context)}</td><td>{_source_lines(b, r.b_lines, context)}"
                   "</td></tr>")
    return out + ["</table></details>"]


def _similar_assignment(a: "AssignmentSimilarity", threshold: float, context: int) -> list[str]:
    out = [f"<h3>{_e(a.assignment)}</h3>"]
    alone = f" ({len(a.starter_only)} with nothing beyond the starter code)" if a.starter_only else ""
    line = (f"<p>{a.compared} submission{'s' if a.compared != 1 else ''} compared{alone}; "
            f"{a.above} pair{'s' if a.above != 1 else ''} at or above {num(threshold, 2)}")
    if a.above > len(a.pairs):
        line += f" (the first {len(a.pairs)} shown)"
    if not a.pairs:
        line += (f"; the highest is {num(a.highest.score, 2)} ({_e(a.highest.a)} and {_e(a.highest.b)})"
                 if a.highest else "; no two submissions share any code beyond the starter")
    out.append(line + ".</p>")
    if not a.starter:
        out.append(f"<p><strong>No starter code was found for {_e(a.assignment)}</strong>: the stub's own lines "
                   "were not excluded, so every pair shares them; pass --starter DIR.</p>")
    if not a.pairs:
        return out
    out.append("<table><tr><th>#</th><th>student</th><th>student</th><th>score</th><th>share of the first's code"
               "</th><th>share of the second's code</th><th>matching regions</th></tr>")
    for i, p in enumerate(a.pairs, 1):
        out.append(f'<tr><td class="n">{i}</td><td>{_e(p.a)}</td><td>{_e(p.b)}</td>'
                   f'<td class="n">{num(p.score, 2)}</td><td class="n">{num(p.share_a, 2)}</td>'
                   f'<td class="n">{num(p.share_b, 2)}</td>'
                   f'<td><a href="#sim-{_e(quote(a.assignment))}-{i}">{len(p.regions)}, side by side</a></td></tr>')
    out.append("</table>")
    for i, p in enumerate(a.pairs, 1):
        out += side_by_side(p, a.sources, f"sim-{quote(a.assignment)}-{i}", context)
    return out


def similarity_section(sim: "Similarity", context: int = SIMILAR_CONTEXT) -> list[str]:
    """Pairs of submissions with unusually similar code, per assignment, and the files left out, with why."""
    o = sim.options
    out = ["<h2>Similar code</h2>", f"<p>{NOT_A_PENALTY}</p>",
           ('<p class="muted">Each module is reduced to normalised tokens (names of variables and functions, numbers '
            "and strings made alike; comments, docstrings and blank lines dropped) and fingerprinted (winnowed runs of "
            f"{o.k} tokens). The starter code's fingerprints are removed, and so are those held by more than "
            f"{num(100 * o.common_share, 1)}% of the class and more than {o.common_min} students: code the "
            "assignment makes everyone write. A pair's score is the larger of two shares: how much of each side's "
            f"own code is found in the other's; pairs at or above {num(o.threshold, 2)} (--similarity-threshold) are "
            "listed. Similar code has innocent causes too (the book, a study group, a hint given in class): read the "
            "regions before deciding anything.</p>")]
    for a in sim.assignments:
        out += _similar_assignment(a, o.threshold, context)
    if sim.skipped:
        n = len(sim.skipped)
        out += [f"<h3>Not compared</h3><p>{n} submission{'s' if n != 1 else ''} or file{'s' if n != 1 else ''} "
                "could not be read for the comparison (their grading is not affected):</p>",
                "<table><tr><th>student</th><th>assignment</th><th>reason</th></tr>"]
        out += [f'<tr><td>{_e(s.student)}</td><td>{_e(s.assignment or "all")}</td>'
                f'<td class="reason">{_e(one_line(s.reason))}</td></tr>' for s in sim.skipped]
        out.append("</table>")
    return out


def _summary_rows(rows: list[Row], ids: list[str], top: dict[str, float]) -> list[str]:
    out = []
    graded = [r for r in rows if r.report is not None]
    for col in [*ids, "total"]:
        scores = [r.total if col == "total" else r.score(col) for r in graded]
        vals = [s for s in scores if s is not None]
        if not vals:
            out.append(f"<tr><td>{_e(col)}</td><td>0</td>" + "<td></td>" * 6 + "</tr>")
            continue
        full = sum(v >= top[col] - 1e-9 for v in vals)
        cells = [len(vals), num(statistics.mean(vals), 2), num(statistics.median(vals), 2), num(min(vals), 2),
                 num(max(vals), 2), num(top[col], 2), full]
        out.append(f"<tr><td>{_e(col)}</td>" + "".join(f'<td class="n">{_e(c)}</td>' for c in cells) + "</tr>")
    return out


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f2f2f2}td.n{text-align:right}tr.error td{background:#fff2f0}
.chart{display:block;margin:.5em 0 1em}.charts{display:flex;flex-wrap:wrap;gap:1em}
.chart .bar{fill:#54a24b}.chart .public{fill:#4c78a8}.chart .hidden{fill:#f58518}.chart .axis{stroke:#888}
.chart text{font-size:11px;fill:#333}.chart .t{font-size:13px;font-weight:600}
.muted{color:#777}.scroll{overflow-x:auto;max-width:100%}td.reason{min-width:12em;max-width:32em;
overflow-wrap:anywhere}.scroll td:first-child{max-width:16em;overflow-wrap:anywhere}details{margin:0 0 1.5em}
summary{cursor:pointer}
table.sbs{table-layout:fixed;width:100%}table.sbs td{padding:0;max-width:50%}
pre.src{margin:0;padding:2px 4px;overflow-x:auto;font-size:12px;line-height:1.35}
pre.src .ln{color:#999;user-select:none}pre.src mark{background:#ffe08a}pre.src .gap{color:#999}
"""


def render_html(rows: list[Row], ids: list[str], *, grader: dict[str, Any] | None = None,
                similarity: "Similarity | None" = None) -> str:
    """The class report: summary, histograms, per-check failure rates, frequent hints, similar code, students."""
    top = maxima(rows, ids)
    graded = [r for r in rows if r.report is not None]
    errors = [r for r in rows if r.status != "ok"]
    g = grader or {}
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>scratchgrad class report</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>scratchgrad class report</h1>",
           (f'<p>{len(rows)} students, {len(graded)} graded, {len(errors)} with errors; assignments: '
           f'{_e(", ".join(ids))}. <span class="muted">scratchgrad {_e(g.get("version", "?"))}, '
           f'seed {_e(g.get("seed", 0))}.</span></p>')]
    if top is None:
        out.append("<p>No submission could be graded: see the students table below.</p>")
    else:
        out += ["<h2>Class summary</h2>", ("<table><tr><th>assignment</th><th>graded</th><th>mean</th><th>median</th>"
                "<th>min</th><th>max</th><th>out of</th><th>full marks</th></tr>"),
                *_summary_rows(rows, ids, top), "</table>", "<h2>Score distribution</h2>", '<div class="charts">',
                histogram_svg("Total score", [r.total or 0.0 for r in graded], top["total"])]
        if len(ids) > 1:
            out += [histogram_svg(aid, [r.score(aid) or 0.0 for r in graded], top[aid]) for aid in ids]
        out.append("</div>")
        stats = check_stats(rows)
        failing = [s for s in stats if s.failed]
        out.append("<h2>Per-check failure rates</h2>")
        if failing:
            out.append(failure_svg(failing[:CHART_ROWS]))
        if len(failing) > CHART_ROWS:
            rest = failing[CHART_ROWS:]
            out += [f"<details><summary>{len(rest)} more checks that some students did not pass</summary>",
                    failure_svg(rest, f"Per-check failure rate, checks {CHART_ROWS + 1} to {len(failing)}"),
                    "</details>"]
        passed_by_all = len(stats) - len(failing)
        out.append(f"<p>{passed_by_all} of {len(stats)} checks were passed by every student who attempted "
                   f"their assignment" + (" (not shown)." if failing and passed_by_all else ".")
                   + ' <span class="muted">Students whose file is missing or still all stubs are not counted.</span>'
                   + "</p>")
        hints = hint_counts(rows)
        out.append("<h2>Most frequent misconceptions</h2>")
        if hints:
            out.append("<table><tr><th>hint given</th><th>students</th><th>checks</th></tr>")
            out += [f'<tr><td>{_e(h)}</td><td class="n">{n}</td><td>{_e(", ".join(w))}</td></tr>'
                    for h, n, w in hints[:20]]
            out.append("</table>")
        else:
            out.append("<p>No failure matched a known misconception.</p>")
    out += _integrity_section(rows)
    if similarity is not None:
        out += similarity_section(similarity)
    out += ["<h2>Students</h2>",
            '<div class="scroll"><table><tr><th>student</th>' + "".join(f"<th>{_e(a)}</th>" for a in ids)
            + "<th>total</th><th>checks not passed</th><th>status</th><th>reason</th><th>feedback</th></tr>"]
    if top is not None:
        out.append(f'<tr><td class="muted">{MAX_ROW}</td>' + "".join(f'<td class="n">{num(top[a], 2)}</td>' for a in ids)
                   + f'<td class="n">{num(top["total"], 2)}</td><td></td><td></td><td></td><td></td></tr>')
    for r in rows:
        lost = sum(c.get("status") != "passed" for _, c in r.checks())
        link = f'<a href="feedback/{_e(quote(r.student))}.md">feedback</a>'
        cls = ' class="error"' if r.status != "ok" else ""
        out.append(f"<tr{cls}><td>{_e(r.student)}</td>"
                   + "".join(f'<td class="n">{num(r.score(a), 2)}</td>' for a in ids)
                   + f'<td class="n">{num(r.total, 2)}</td><td class="n">{lost if r.report else ""}</td>'
                   f'<td>{_e(r.status)}</td><td class="reason">{_e(one_line(r.reason))}</td><td>{link}</td></tr>')
    out += ["</table></div>", "</body></html>"]
    return "\n".join(out) + "\n"
