"""The wall screen (`?view=wall`): the whole fleet on one screen, read across a room.

One row per account and region, worst first: its status and the review's top reasons in large type,
then a strip of tiles. No sidebar; the page reruns by itself when the collector writes. Colours are
the review's verdicts; a figure the review does not know in full (history not collected yet, stale) is
unknown there, so nothing is green before it is known.
"""
from __future__ import annotations

import html

import streamlit as st

from analysis.review import SEVERITY, TargetReview, known_sum, worst_verdict
from dashboard import fmt, queries, state

# Colours of the wall (dark, high contrast); the same statuses as everywhere else.
BG = {"critical": "#7f1d1d", "warn": "#78350f", "ok": "#14532d", "unknown": "#374151", None: "#374151"}
FG = {"critical": "#fecaca", "warn": "#fde68a", "ok": "#bbf7d0", "unknown": "#e5e7eb", None: "#e5e7eb"}
WORD = {"critical": "CRITICAL", "warn": "WARN", "ok": "OK", "unknown": "UNKNOWN", None: "UNKNOWN"}

CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"] {display: none;}
.block-container, [data-testid="stMainBlockContainer"] {padding: 0.6rem 1.2rem 0 1.2rem; max-width: 100%;}
.hw-more {font-size: 22px; font-weight: 600; color: #4b5563; margin: 0 0 8px 0;}
.hw-sum {font-size: 26px; font-weight: 600; margin: 0 0 8px 0; color: #111827;}
.hw-row {display: grid; grid-template-columns: 330px repeat(7, 1fr); gap: 6px; margin-bottom: 8px;}
.hw-head {border-radius: 8px; padding: 8px 12px; line-height: 1.15;}
.hw-head .st {font-size: 30px; font-weight: 800; letter-spacing: .02em;}
.hw-head .who {font-size: 19px; font-weight: 600;}
.hw-tile {border-radius: 8px; padding: 6px 10px; line-height: 1.1;}
.hw-tile .l {font-size: 15px; opacity: .9;}
.hw-tile .v {font-size: 32px; font-weight: 800; white-space: nowrap;}
.hw-tile .d {font-size: 15px; opacity: .9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
.hw-why {grid-column: 1 / -1; font-size: 20px; font-weight: 600; padding: 2px 4px 6px 4px; color: #111827;
         white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
</style>
"""


def shown_grades(t: TargetReview) -> dict[str, str | None]:
    """The review's verdicts on the numbers the wall shows. A figure over a window not yet collected in
    full (history still coming, stale) is a floor: the review calls it unknown, not ok, unless the floor
    already crosses a threshold; so no tile is green before the review knows."""
    kinds = ("concurrency", "claimed_concurrency", "code_storage", "throttles", "dlq_messages")
    g: dict[str, str | None] = {k: t.verdict(k).status for k in kinds}
    g["headroom"] = worst_verdict(t.verdict("concurrency"), t.verdict("claimed_concurrency")).status
    g["async_events_dropped"] = worst_verdict(*(t.verdict(k) for k in (
        "async_events_dropped", "dead_letter_errors", "destination_delivery_failures"))).status
    return g


def _tile(label: str, value: str, detail: str, status: str | None) -> str:
    e = html.escape
    return (f"<div class='hw-tile' style='background:{BG[status]};color:{FG[status]}'>"
            f"<div class='l'>{e(label)}</div><div class='v'>{e(value)}</div><div class='d'>{e(detail)}</div></div>")


def row(t: TargetReview) -> str:
    """One target's row: status and who, seven tiles, and the review's top reasons underneath."""
    e = html.escape
    g = shown_grades(t)
    lim = t.concurrency_limit
    head = (f"<div class='hw-head' style='background:{BG[t.status]};color:{FG[t.status]}'>"
            f"<div class='st'>{WORD[t.status]}</div>"
            f"<div class='who'>{e(t.target)} · {e(t.region)}</div>"
            f"<div class='who' style='font-weight:400'>{e(t.account or 'account unknown')}</div></div>")
    tiles = [
        _tile("Headroom", fmt.n(t.concurrency_headroom), f"{fmt.pct(t.concurrency_headroom_pct)} of {fmt.n(lim)}",
              g["headroom"]),
        _tile("Peak concurrency", fmt.n(t.peak_concurrency), f"{fmt.ratio_pct(t.peak_concurrency, lim)} of the limit",
              g["concurrency"]),
        _tile("Claimed", fmt.n(t.peak_claimed_concurrency),
              f"{fmt.ratio_pct(t.peak_claimed_concurrency, lim)} of the limit", g["claimed_concurrency"]),
        _tile("Throttles", fmt.n(t.throttles), "rejected", g["throttles"]),
        _tile("Async dropped", fmt.n(t.async_events_dropped),
              f"lost {fmt.n(known_sum((t.dead_letter_errors, t.destination_delivery_failures)))}",
              g["async_events_dropped"]),
        _tile("DLQ messages", fmt.n(t.dlq_messages), "waiting now", g["dlq_messages"]),
        _tile("Code storage", fmt.size(t.code_storage_used_bytes),
              f"{fmt.ratio_pct(t.code_storage_used_bytes, t.code_storage_limit_bytes)} of "
              f"{fmt.gb(t.code_storage_limit_bytes, 0)}", g["code_storage"]),
    ]
    bad = sorted((f for f in t.findings if f.severity != "ok"), key=lambda f: -SEVERITY[f.severity])
    why = " · ".join(f"{WORD[f.severity]}: {f.message}" for f in bad[:3]) + (
        f" · and {len(bad) - 3} more" if len(bad) > 3 else "")
    return (f"<div class='hw-row'>{head}{''.join(tiles)}"
            f"<div class='hw-why'>{e(why) if why else 'Nothing needs attention.'}</div></div>")


def summary(targets: list[TargetReview], data_at: float | None, now: float, window: str) -> str:
    """The fleet in one line: how many targets in each state, functions, and the totals that hurt."""
    counts = {s: sum(1 for t in targets if t.status == s) for s in ("critical", "warn", "unknown", "ok")}
    states = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    worst = max((t.status for t in targets), key=SEVERITY.__getitem__, default="unknown")
    return (f"<span style='color:{BG[worst]}'>Fleet {WORD[worst]}</span> · {len(targets)} account/regions: {states} · "
            f"{fmt.n(known_sum(t.function_count for t in targets))} functions · "
            f"{fmt.n(known_sum(t.throttles for t in targets))} throttles · "
            f"{fmt.n(known_sum(t.dlq_messages for t in targets))} DLQ messages · {html.escape(window)} · "
            f"data {html.escape(fmt.age(data_at, now))}")


WALL_ROWS = 5   # rows that fit a 1600x1000 screen under the summary; an organisation's others are counted
#                in one line under the summary


def rows_shown(targets: list[TargetReview]) -> tuple[list[TargetReview], str]:
    """The rows on the screen (targets come worst first) and a line for the rest: all of them when they
    fit, else the worst that are not ok (up to WALL_ROWS), and how many more there are, by status (shown
    above the rows, so it is never below the fold)."""
    if len(targets) <= WALL_ROWS:
        return targets, ""
    shown = [t for t in targets if t.status != "ok"][:WALL_ROWS]
    rest = targets[len(shown):]
    counts = {s: sum(1 for t in rest if t.status == s) for s in ("critical", "warn", "unknown", "ok")}
    return shown, (f"+ {len(rest)} more account-regions: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                   + " (the Overview lists every one)")


def render(sel: state.Selection) -> None:
    """The wall: every selected account and region, worst first, refreshed when new data lands."""
    st.markdown(CSS, unsafe_allow_html=True)
    state.require_data(sel)
    cfg = sel.cfg

    st.session_state["_ver_rendered"] = queries.version(cfg)

    @st.fragment(run_every=state.REFRESH_S)
    def _refresh() -> None:
        if queries.version(cfg) != st.session_state.get("_ver_rendered"):
            st.rerun()
    _refresh()

    # every configured target, those never reached included (unknown), within the URL's account/region
    targets = [t for t in queries.review(cfg, sel.start, sel.end).targets
               if sel.account in (state.ALL, t.account) and sel.region in (state.ALL, t.region)]
    targets.sort(key=lambda t: (-SEVERITY[t.status], t.concurrency_headroom_pct if t.concurrency_headroom_pct
                                is not None else -1, t.target, t.region))
    now = queries.now()
    shown, more = rows_shown(targets)
    st.markdown(f"<div class='hw-sum'>{summary(targets, queries.status(cfg).last_data_at, now, sel.window_label)}"
                "</div>" + (f"<div class='hw-more'>{more}</div>" if more else "") + "".join(row(t) for t in shown),
                unsafe_allow_html=True)
    if st.button("Leave the wall screen", icon=":material/close_fullscreen:", type="tertiary"):
        del st.query_params["view"]
        st.rerun()
