"""Triage: what is wrong now, worst first. Every row links to its function page and the AWS console."""
from typing import Any

import pandas as pd
import streamlit as st

from analysis import triage
from analysis.review import SEVERITY
from dashboard import fmt, links, queries, state

sel = state.current()
state.require_data(sel)
cfg = sel.cfg

st.title("Triage")
st.caption(f"{sel.window_label} · worst first · click a function's name to open its page; the AWS console links "
           "open a new tab" + (" · filtered by the sidebar's groups/search" if sel.filtered else ""))

multi = len(sel.targets) > 1
LINKS = {
    "console": st.column_config.LinkColumn("AWS console", display_text="console ↗", width="small"),
}
TAIL = ["console", "account", "region"]
HIDDEN = ["account", "region"]     # kept in every row for the click; shown only when several targets are


def frame(rows: list[dict], head: tuple[str, ...] = ("function", "status", "why")) -> pd.DataFrame:
    """Rows as a table: the name and the answer first, links and where at the end."""
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    first = [c for c in head if c in df.columns]
    last = [c for c in TAIL if c in df.columns]
    return df[first + [c for c in df.columns if c not in first + last] + last]


def table(df: pd.DataFrame, key: str, config: dict, fn_col: str = "function", fn_label: str = "function") -> None:
    """A table whose function names are buttons to that function's page (same tab), the name column
    pinned so it stays in view when the table scrolls sideways."""
    order = [c for c in df.columns if not c.startswith("_") and (multi or c not in HIDDEN)]
    st.dataframe(df, hide_index=True, width="stretch", key=key, column_order=order,
                 placeholder=fmt.UNKNOWN, column_config={
                     **LINKS, **config,
                     fn_col: st.column_config.ButtonColumn(fn_label, type="tertiary", pinned=True, alignment="left", key=f"{key}_go",
                                                           help="open this function's page")})
    click = st.session_state.get(f"{key}_go")
    if click is not None:
        r = df.iloc[click["row"]]
        if r.get(fn_col) and r[fn_col] != fmt.NOT_SET:
            st.switch_page("app_pages/function.py", query_params=state.link_params(
                account=r["account"], region=r["region"], fn=r[fn_col], window=state.incident_window(r.get("_last"))))


def base(account: str, region: str, name: str) -> dict:
    return {"account": account, "region": region, "function": name, "console": links.console_url(region, name)}


# table rows: one dict per row, mixed values (numbers, text, None = unknown)
throttle_rows: list[dict[str, Any]] = []
async_rows: list[dict[str, Any]] = []
queue_rows: list[dict[str, Any]] = []
spill_rows: list[dict[str, Any]] = []


def reserved_cell(v: int | None, config_known: bool) -> object:
    """Reserved concurrency: the number, "—" when none is set, unknown when its configuration was not read."""
    return fmt.n(v) if v is not None else fmt.NOT_SET if config_known else fmt.UNKNOWN


def last_of(*ts: float | None) -> float | None:
    return max((x for x in ts if x is not None), default=None)


for a, r, t, gm in state.selected_reviews(cfg, sel):
    known = {f.name: f.config_known for f in t.functions}
    for x in queries.throttling(cfg, sel.start, sel.end, a, r):
        if sel.keep(x.function, gm.get(x.function)):
            throttle_rows.append({**base(a, r, x.function), "status": fmt.STATUS_TEXT[x.status], "why": x.reason,
                                  "throttles": x.throttles,
                                  "throttle rate": None if x.throttle_rate is None else 100 * x.throttle_rate,
                                  "peak concurrency": x.peak_concurrency,
                                  "reserved": reserved_cell(x.reserved_concurrency, known.get(x.function, False)),
                                  "since (UTC)": fmt.utc(x.since), "last (UTC)": fmt.utc(x.last_seen),
                                  "group": fmt.group_label(gm.get(x.function)), "_last": x.last_seen})
    for af in triage.async_failures(t):
        if sel.keep(af.function, gm.get(af.function)):
            async_rows.append({**base(a, r, af.function), "status": fmt.STATUS_TEXT[af.status], "why": af.reason,
                               "dropped": af.async_events_dropped,
                               "DLQ errors (lost)": af.dead_letter_errors,
                               "destination failures": af.destination_delivery_failures,
                               "max event age": fmt.event_age(af.max_async_event_age_ms, af.async_events_dropped),
                               "DLQ": (af.dlq_arn or "").split(":")[-1] or fmt.NOT_SET,
                               "on-failure": (af.on_failure_arn or "").split(":")[-1] or fmt.NOT_SET,
                               "group": fmt.group_label(gm.get(af.function)), "_last": sel.end})
    for q in queries.queues(cfg, sel.start, sel.end, a, r):
        feeders = [f for f in q.feeders if sel.keep(f, gm.get(f))]
        if sel.filtered and not feeders:
            continue
        if (q.visible or 0) > 0 or (q.growth_per_hour or 0) > 0 or q.error:
            queue_rows.append({"queue": q.name, "status": fmt.STATUS_TEXT[q.status], "why": q.reason,
                               "account": a, "region": r,
                               "visible": q.visible, "growth /h": q.growth_per_hour,
                               "oldest message": fmt.age_of_oldest(q.oldest_age_s, q.visible),
                               "in flight": q.not_visible, "delayed": q.delayed,
                               "function": q.feeders[0] if q.feeders else fmt.NOT_SET,
                               "fed by": ", ".join(q.feeders) or fmt.NOT_SET,
                               "console": links.queue_console_url(r, a, q.name),
                               "not measurable": q.error or fmt.NOT_SET, "_last": sel.end})
    for s in queries.spillover(cfg, sel.start, sel.end, a, r):
        if sel.keep(s.function, gm.get(s.function)):
            spill_rows.append({**base(a, r, s.function), "status": fmt.STATUS_TEXT[s.status], "alias": s.qualifier,
                               "spillover invocations": s.spillover, "provisioned": s.provisioned,
                               "peak provisioned in use": s.peak_provisioned_executions,
                               "max utilization": None if s.max_utilization is None else 100 * s.max_utilization,
                               "_last": sel.end})

sev = {k: -v for k, v in SEVERITY.items()}   # worst first, in the review's order (unknown above warn)
num = st.column_config.NumberColumn
COUNT = num(format="localized")
PCT = num(format="%.1f %%")
HIDE: dict[str, Any] = {}

st.subheader(f"Throttling functions ({len(throttle_rows)})")
if throttle_rows:
    df = frame(sorted(throttle_rows, key=lambda x: (sev[x["status"]], -x["throttles"])))
    top = df.iloc[0]
    reserved = top["reserved"]
    st.markdown(f"Top offender: **{fmt.md(top['function'])}** with **{fmt.n(top['throttles'])}** throttles "
                f"(peak {fmt.n(top['peak concurrency'])}"
                + (f" of {reserved} reserved" if reserved not in (fmt.NOT_SET, fmt.UNKNOWN) else "")
                + f") since {fmt.md(top['since (UTC)'])}")
    table(df, "t_throttle", {**HIDE, "throttles": COUNT, "peak concurrency": COUNT, "throttle rate": PCT,
                             "reserved": st.column_config.Column(
                                 "reserved", help="— = no reserved concurrency (shares the unreserved pool)")})
else:
    st.success("No function throttled in the window.")

st.subheader(f"Async failures ({len(async_rows)})")
if async_rows:
    table(frame(sorted(async_rows, key=lambda x: sev[x["status"]])), "t_async", {**HIDE, "dropped": COUNT, "DLQ errors (lost)": COUNT,
                                          "destination failures": COUNT,
                                          "DLQ": st.column_config.Column("DLQ", help="— = no dead-letter queue"),
                                          "on-failure": st.column_config.Column(
                                              "on-failure", help="— = no on-failure destination")})
else:
    st.success("No async events dropped or lost in the window.")

st.subheader(f"Dead-letter queues with messages ({len(queue_rows)})")
if queue_rows:
    deep = max(queue_rows, key=lambda x: x["visible"] or 0)
    grow = deep["growth /h"]
    st.markdown(f"Deepest: **{fmt.md(deep['queue'])}** with **{fmt.n(deep['visible'])}** messages"
                + (f", growing **{fmt.n(round(grow))}/h**" if grow and grow > 0 else "")
                + f", oldest {fmt.md(deep['oldest message'])}"
                + (f", fed by {fmt.md(deep['fed by'])}" if deep["fed by"] != fmt.NOT_SET else ""))
    worst_first = sorted(queue_rows, key=lambda x: (sev[x["status"]], -(x["visible"] or 0)))
    table(frame(worst_first, ("queue", "status", "why", "visible", "growth /h", "oldest message", "function")), "t_dlq", {
        **HIDE, "visible": COUNT, "in flight": COUNT, "delayed": COUNT, "growth /h": num(format="%+.0f"),
        "queue": st.column_config.Column("queue", pinned=True),
        "console": st.column_config.LinkColumn("SQS console", display_text="console ↗")},
        fn_label="feeder")
else:
    st.success("Every dead-letter queue is empty.")

st.subheader(f"Provisioned concurrency spillover ({len(spill_rows)})")
if spill_rows:
    table(frame(sorted(spill_rows, key=lambda x: sev[x["status"]])), "t_spill", {**HIDE, "spillover invocations": COUNT, "provisioned": COUNT,
                                         "peak provisioned in use": COUNT, "max utilization": PCT})
else:
    st.success("No invocation spilled over provisioned concurrency.")
st.caption("unknown = not collected or not measurable, never zero · — = not configured")
