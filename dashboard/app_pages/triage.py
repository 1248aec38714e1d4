"""Triage: what is wrong now, worst first. Every row links to its function page and the AWS console."""
from typing import Any

import pandas as pd
import streamlit as st

from analysis import triage
from dashboard import fmt, links, queries, state

sel = state.current()
state.require_data(sel)
cfg = sel.cfg

st.title("Triage")
st.caption(f"{sel.window_label} · worst first · tick a row to open its function page; the AWS console links open "
           "a new tab" + (" · filtered by the sidebar's groups/search" if sel.filtered else ""))

multi = len(sel.targets) > 1
LINKS = {
    "page": st.column_config.LinkColumn("function page", display_text="open ↗", width="small"),
    "console": st.column_config.LinkColumn("AWS console", display_text="console ↗", width="small"),
}


TAIL = ["page", "console", "account", "region"]


def frame(rows: list[dict], head: tuple[str, ...] = ("status", "function", "why")) -> pd.DataFrame:
    """Rows as a table: the answer first, links and where at the end (account/region only if several)."""
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if not multi:
        df = df.drop(columns=["account", "region"])
    first = [c for c in head if c in df.columns]
    last = [c for c in TAIL if c in df.columns]
    return df[first + [c for c in df.columns if c not in first + last] + last]


def table(df: pd.DataFrame, key: str, config: dict, fn_col: str = "function") -> None:
    """A table whose ticked row opens that function's page (in place)."""
    ev = st.dataframe(df, hide_index=True, width="stretch", column_config={**LINKS, **config}, key=key,
                      on_select="rerun", selection_mode="single-row")
    rows = ev.selection.rows if ev is not None and hasattr(ev, "selection") else []
    if rows:
        r = df.iloc[rows[0]]
        if r.get(fn_col):
            st.switch_page("app_pages/function.py", query_params=state.link_params(
                account=r.get("account", sel.targets[0]["account"]),
                region=r.get("region", sel.targets[0]["region"]), fn=r[fn_col]))


def base(account: str, region: str, name: str) -> dict:
    return {"account": account, "region": region, "function": name,
            "page": state.function_link(account, region, name), "console": links.console_url(region, name)}


# table rows: one dict per row, mixed values (numbers, text, None = unknown)
throttle_rows: list[dict[str, Any]] = []
async_rows: list[dict[str, Any]] = []
queue_rows: list[dict[str, Any]] = []
spill_rows: list[dict[str, Any]] = []
for a, r, t, gm in state.selected_reviews(cfg, sel):
    for x in queries.throttling(cfg, sel.start, sel.end, a, r):
        if sel.keep(x.function, gm.get(x.function)):
            throttle_rows.append({"status": fmt.STATUS_TEXT[x.status], "why": x.reason, **base(a, r, x.function),
                                  "group": fmt.group_label(gm.get(x.function)), "throttles": x.throttles,
                                  "throttle rate %": None if x.throttle_rate is None else round(100 * x.throttle_rate, 2),
                                  "peak concurrency": x.peak_concurrency, "reserved": x.reserved_concurrency,
                                  "since (UTC)": fmt.utc(x.since), "last (UTC)": fmt.utc(x.last_seen),
                                  "_sev": x.status})
    for af in triage.async_failures(t):
        if sel.keep(af.function, gm.get(af.function)):
            async_rows.append({"status": fmt.STATUS_TEXT[af.status], "why": af.reason, **base(a, r, af.function),
                               "group": fmt.group_label(gm.get(af.function)), "dropped": af.async_events_dropped,
                               "DLQ errors (lost)": af.dead_letter_errors,
                               "destination failures": af.destination_delivery_failures,
                               "max event age (s)": None if af.max_async_event_age_ms is None
                               else round(af.max_async_event_age_ms / 1000, 1),
                               "DLQ": (af.dlq_arn or "").split(":")[-1] or None,
                               "on-failure": (af.on_failure_arn or "").split(":")[-1] or None})
    for q in queries.queues(cfg, sel.start, sel.end, a, r):
        feeders = [f for f in q.feeders if sel.keep(f, gm.get(f))]
        if sel.filtered and not feeders:
            continue
        if (q.visible or 0) > 0 or (q.growth_per_hour or 0) > 0 or q.error:
            queue_rows.append({"status": fmt.STATUS_TEXT[q.status], "why": q.reason, "account": a, "region": r,
                               "queue": q.name,
                               "visible": q.visible, "in flight": q.not_visible, "delayed": q.delayed,
                               "growth /h": None if q.growth_per_hour is None else round(q.growth_per_hour, 1),
                               "oldest message": fmt.duration(q.oldest_age_s), "fed by": ", ".join(q.feeders),
                               "function": q.feeders[0] if q.feeders else None,
                               "page": state.function_link(a, r, q.feeders[0]) if q.feeders else None,
                               "console": links.queue_console_url(r, a, q.name),
                               "not measurable": q.error})
    for s in queries.spillover(cfg, sel.start, sel.end, a, r):
        if sel.keep(s.function, gm.get(s.function)):
            spill_rows.append({"status": fmt.STATUS_TEXT[s.status], **base(a, r, s.function), "alias": s.qualifier,
                               "spillover invocations": s.spillover, "provisioned": s.provisioned,
                               "peak provisioned in use": s.peak_provisioned_executions,
                               "max utilization %": None if s.max_utilization is None
                               else round(100 * s.max_utilization, 1)})

sev = {"critical": 0, "warn": 1, "ok": 2, "unknown": 3}
num = st.column_config.NumberColumn

st.subheader(f"Throttling functions ({len(throttle_rows)})")
if throttle_rows:
    df = frame(sorted(throttle_rows, key=lambda x: (sev[x["status"]], -x["throttles"]))).drop(columns=["_sev"])
    top = df.iloc[0]
    st.markdown(f"Top offender: **{fmt.md(top['function'])}** with **{fmt.n(top['throttles'])}** throttles "
                f"(peak {fmt.n(top['peak concurrency'])} of {fmt.n(top['reserved'])} reserved) since "
                f"{fmt.md(top['since (UTC)'])}")
    table(df, "t_throttle", {"throttles": num(format="%d"), "reserved": num(format="%d"),
                             "peak concurrency": num(format="%d")})
else:
    st.success("No function throttled in the window.")

st.subheader(f"Async failures ({len(async_rows)})")
if async_rows:
    table(frame(async_rows), "t_async", {})
else:
    st.success("No async events dropped or lost in the window.")

st.subheader(f"Dead-letter queues with messages ({len(queue_rows)})")
if queue_rows:
    deep = max(queue_rows, key=lambda x: x["visible"] or 0)
    grow = deep["growth /h"]
    st.markdown(f"Deepest: **{fmt.md(deep['queue'])}** with **{fmt.n(deep['visible'])}** messages"
                + (f", growing **{fmt.n(round(grow))}/h**" if grow and grow > 0 else "")
                + f", oldest {fmt.md(deep['oldest message'])}"
                + (f", fed by {fmt.md(deep['fed by'])}" if deep["fed by"] else ""))
    table(frame(queue_rows, ("status", "queue", "why", "visible", "growth /h", "oldest message", "fed by")), "t_dlq", {
        "visible": num(format="%d"), "page": st.column_config.LinkColumn("feeder's page", display_text="open ↗"),
        "console": st.column_config.LinkColumn("SQS console", display_text="console ↗")})
else:
    st.success("Every dead-letter queue is empty.")

st.subheader(f"Provisioned concurrency spillover ({len(spill_rows)})")
if spill_rows:
    table(frame(spill_rows), "t_spill", {})
else:
    st.success("No invocation spilled over provisioned concurrency.")
st.caption("None = unknown (not collected or not measurable), never zero.")
