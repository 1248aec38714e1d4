"""The weekly limit review as CSV, Markdown and HTML (pure: records in, text out; user strings escaped)."""
from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from typing import Any

from analysis.review import UNRESERVED_FLOOR, GroupReview, TargetReview
from analysis.triage import CodeHolder, LimitTrend, OverReserved
from dashboard import fmt


@dataclass
class Section:
    target: TargetReview
    trends: list[LimitTrend]
    groups: list[GroupReview]
    holders: list[CodeHolder] = field(default_factory=list)
    over_reserved: list[OverReserved] = field(default_factory=list)


def _val(unit: str, v: float | None) -> str:
    return fmt.gb(v) if unit == "bytes" else fmt.n(None if v is None else round(v, 1))


def summary_rows(sections: list[Section]) -> list[dict[str, Any]]:
    """One row per (target, limit): latest weekly peak, the limit, the trend and the weeks until the limit."""
    rows = []
    for s in sections:
        t = s.target
        for tr in s.trends:
            rows.append({"target": t.target, "account": t.account, "region": t.region, "limit_name": tr.key,
                         "unit": tr.unit, "limit": tr.limit, "latest_weekly_peak": tr.latest,
                         "percent_of_limit": None if tr.latest is None or not tr.limit
                         else round(100 * tr.latest / tr.limit, 1),
                         "trend_per_week": None if tr.slope_per_week is None else round(tr.slope_per_week, 2),
                         "weeks_until_limit": None if tr.weeks_until is None else round(tr.weeks_until, 1)})
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with a header; None is written "unknown" (never 0, never an empty cell that reads as nothing)."""
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: fmt.UNKNOWN if v is None else v for k, v in r.items()})
    return buf.getvalue()


def reserving_groups(groups: list[GroupReview]) -> list[GroupReview]:
    """Groups holding reserved concurrency, largest first, then those whose reservation is unknown
    (listed as unknown, not dropped: an unknown may hide the largest)."""
    known = sorted((g for g in groups if g.reserved_total), key=lambda g: g.reserved_total or 0, reverse=True)
    return known + [g for g in groups if g.reserved_total is None]


_MD_TEXT = str.maketrans({c: "\\" + c for c in "\\|<>*`[]"})


def _cell(v: Any) -> str:
    """A user string in the Markdown file, kept readable: only what would break a table or become markup
    (| < > * ` [ ] and the backslash) is escaped, so `search-query` stays `search-query`."""
    return str(v).translate(_MD_TEXT).replace("\n", " ")


def findings(t: TargetReview) -> list[tuple[str, str]]:
    """(severity, message) behind a target's status, worst first: what the headline status rests on."""
    order = {"critical": 0, "unknown": 1, "warn": 2}
    return [(f.severity, f.message) for f in sorted(t.findings, key=lambda f: order.get(f.severity, 3))]


def markdown(sections: list[Section], window: str, generated: str, group_by: str) -> str:
    """The review as Markdown (function names and tag values escaped)."""
    out = ["# headroom limit review", "", f"Generated {generated}; peaks over {window}; groups by {group_by}.", ""]
    for s in sections:
        t = s.target
        out += [f"## {_cell(t.target)} · {t.account or fmt.UNKNOWN} · {t.region} — {t.status.upper()}", ""]
        fs = findings(t)
        out += [f"- **{sev.upper()}** {_cell(msg)}" for sev, msg in fs] or ["- No finding: every checked figure is ok."]
        out.append("")
        out += [f"- Concurrency: limit {fmt.n(t.concurrency_limit)}, peak {fmt.n(t.peak_concurrency)}, peak claimed "
                f"{fmt.n(t.peak_claimed_concurrency)}, headroom {fmt.n(t.concurrency_headroom)} "
                f"({fmt.pct(t.concurrency_headroom_pct)})",
                f"- Allocations: reserved {fmt.n(t.reserved_total)} of "
                f"{fmt.n(t.concurrency_limit - UNRESERVED_FLOOR if t.concurrency_limit else None)} reservable, "
                f"provisioned {fmt.n(t.provisioned_total)}",
                f"- Code storage: {fmt.gb(t.code_storage_used_bytes)} of {fmt.gb(t.code_storage_limit_bytes, 0)}; "
                f"{fmt.n(t.function_count)} functions", ""]
        out += ["| limit | latest weekly peak | limit value | trend / week | weeks until the limit |",
                "|---|---:|---:|---:|---:|"]
        for tr in s.trends:
            slope = None if tr.slope_per_week is None else (tr.slope_per_week / fmt.GB if tr.unit == "bytes"
                                                             else tr.slope_per_week)
            out.append(f"| {tr.label} | {_val(tr.unit, tr.latest)} | {_val(tr.unit, tr.limit)} | "
                       f"{fmt.UNKNOWN if slope is None else f'{slope:+,.1f}'}{' GB' if tr.unit == 'bytes' and slope is not None else ''} | "
                       f"{fmt.weeks(tr.weeks_until, tr.slope_per_week)} |")
        out += ["", "### Reserved concurrency by group", "", "| group | functions | reserved | peak concurrency |",
                "|---|---:|---:|---:|"]
        for g in reserving_groups(s.groups):
            out.append(f"| {_cell(fmt.group_label(g.name))} | {g.function_count} | {fmt.n(g.reserved_total)} | "
                       f"{fmt.n(g.peak_concurrency)} |")
        if s.holders:
            out += ["", "### Largest code holders (every version counted)", "",
                    "| function | all versions | old versions | versions |", "|---|---:|---:|---:|"]
            for h in s.holders:
                out.append(f"| {_cell(h.function)} | {fmt.gb(h.all_versions_bytes, 2)} | "
                           f"{fmt.gb(h.old_versions_bytes, 2)} | {h.version_count} |")
        if s.over_reserved:
            out += ["", "### Reserved concurrency far above peak", "",
                    "| function | reserved | peak | unused |", "|---|---:|---:|---:|"]
            for o in s.over_reserved:
                out.append(f"| {_cell(o.function)} | {o.reserved:,} | {fmt.n(o.peak_concurrency)} | {fmt.n(o.unused)} |")
        out.append("")
    return "\n".join(out)


def to_html(sections: list[Section], window: str, generated: str, group_by: str) -> str:
    """A self-contained HTML page of the review; every user string is HTML-escaped."""
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>headroom limit review</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px}"
             "td.n{text-align:right}.critical{color:#b91c1c}.warn{color:#b45309}.ok{color:#15803d}</style>",
             "</head><body>", "<h1>headroom limit review</h1>",
             f"<p>Generated {e(generated)}; peaks over {e(window)}; groups by {e(group_by)}.</p>"]

    def table(head: list[str], rows: list[list[str]]) -> str:
        h = "".join(f"<th>{e(x)}</th>" for x in head)
        body = "".join("<tr>" + "".join(f"<td{' class=n' if i else ''}>{e(str(c))}</td>" for i, c in enumerate(r))
                       + "</tr>" for r in rows)
        return f"<table><tr>{h}</tr>{body}</table>"

    for s in sections:
        t = s.target
        parts.append(f"<h2>{e(t.target)} · {e(t.account or fmt.UNKNOWN)} · {e(t.region)} — "
                     f"<span class='{e(t.status)}'>{e(t.status.upper())}</span></h2>")
        fs = findings(t)
        parts.append("<ul>" + ("".join(f"<li><b class='{e(sev)}'>{e(sev.upper())}</b> {e(msg)}</li>" for sev, msg in fs)
                               or "<li>No finding: every checked figure is ok.</li>") + "</ul>")
        parts.append(f"<p>Concurrency limit {e(fmt.n(t.concurrency_limit))}, peak {e(fmt.n(t.peak_concurrency))}, "
                     f"peak claimed {e(fmt.n(t.peak_claimed_concurrency))}, headroom "
                     f"{e(fmt.n(t.concurrency_headroom))} ({e(fmt.pct(t.concurrency_headroom_pct))}). Code storage "
                     f"{e(fmt.gb(t.code_storage_used_bytes))} of {e(fmt.gb(t.code_storage_limit_bytes, 0))}.</p>")
        parts.append(table(["limit", "latest weekly peak", "limit value", "weeks until the limit"],
                           [[tr.label, _val(tr.unit, tr.latest), _val(tr.unit, tr.limit), fmt.weeks(tr.weeks_until, tr.slope_per_week)]
                            for tr in s.trends]))
        parts.append("<h3>Reserved concurrency by group</h3>")
        parts.append(table(["group", "functions", "reserved", "peak concurrency"],
                           [[fmt.group_label(g.name), str(g.function_count), fmt.n(g.reserved_total),
                             fmt.n(g.peak_concurrency)] for g in reserving_groups(s.groups)]))
        if s.holders:
            parts.append("<h3>Largest code holders</h3>")
            parts.append(table(["function", "all versions", "old versions", "versions"],
                               [[h.function, fmt.gb(h.all_versions_bytes, 2), fmt.gb(h.old_versions_bytes, 2),
                                 str(h.version_count)] for h in s.holders]))
        if s.over_reserved:
            parts.append("<h3>Reserved concurrency far above peak</h3>")
            parts.append(table(["function", "reserved", "peak", "unused"],
                               [[o.function, f"{o.reserved:,}", fmt.n(o.peak_concurrency), fmt.n(o.unused)]
                                for o in s.over_reserved]))
    parts.append("</body></html>")
    return "\n".join(parts)
