"""Groups: every group (name prefix or tag) with its totals, compared, and a drill-down into one."""
import pandas as pd
import streamlit as st

from collectors.catalogue import BY_KEY
from analysis.review import TargetReview
from dashboard import charts, fmt, queries, state

sel = state.current()
state.require_data(sel)
cfg = sel.cfg

st.title("Groups")
st.caption(f"{sel.window_label} · grouped by {state.group_by_label(cfg, sel.group_by)} · click a column header to "
           "sort · peak concurrency is the peak of the group's summed per-minute concurrency")

multi = len(sel.targets) > 1
rows = []
reviews: dict[tuple[str, str], TargetReview] = {}   # the reviews the table shows; the drill-down reads the same
for a, r, t, gm in state.selected_reviews(cfg, sel):
    reviews[a, r] = t
    with_queue = {f.name for f in t.functions if f.dlq_arn or f.on_failure_arn}
    names_by_group: dict[str, list[str]] = {}
    for name, grp in gm.items():
        names_by_group.setdefault(grp, []).append(name)
    for g in queries.groups(cfg, sel.start, sel.end, a, r, sel.group_by):
        if sel.groups and g.name not in sel.groups:
            continue
        if sel.q and not any(sel.q.lower() in n.lower() for n in names_by_group.get(g.name, [])):
            continue
        rows.append({"status": fmt.STATUS_TEXT[g.status], "why": g.reason or fmt.NOT_SET, "account": a, "region": r,
                     "group": fmt.group_label(g.name),
                     "functions": g.function_count, "invocations": g.invocations, "errors": g.errors,
                     "throttles": g.throttles, "peak concurrency": g.peak_concurrency, "reserved": g.reserved_total,
                     "async dropped": g.async_events_dropped,
                     # no queue behind any member: not configured, not unknown
                     "DLQ messages": fmt.n(g.dlq_messages) if g.dlq_messages is not None
                     or with_queue.intersection(names_by_group.get(g.name, [])) else fmt.NOT_SET,
                     "_dlq": g.dlq_messages, "_name": g.name, "_status": g.status})

if not rows:
    st.info("No group matches the sidebar's filters.")
    st.stop()

df = pd.DataFrame(rows).sort_values(["throttles", "peak concurrency"], ascending=False, na_position="last")
shown = df.drop(columns=["_name", "_status", "_dlq"] + ([] if multi else ["account", "region"]))
num = st.column_config.NumberColumn(format="localized")
st.dataframe(shown, hide_index=True, width="stretch", placeholder=fmt.UNKNOWN,
             column_config={**{c: num for c in ("invocations", "errors", "throttles", "peak concurrency", "reserved",
                                                "async dropped", "functions")},
                            "group": st.column_config.Column(pinned=True),
                            "DLQ messages": st.column_config.Column(help="— = no member has a dead-letter queue or "
                                                                         "on-failure destination")})
st.caption("unknown = not collected, never zero · — = not configured")

METRICS = {"throttles": "Throttles", "peak concurrency": "Peak concurrency", "invocations": "Invocations",
           "errors": "Errors", "reserved": "Reserved concurrency", "async dropped": "Async events dropped",
           "DLQ messages": "DLQ messages", "functions": "Functions"}
metric = st.segmented_control("Compare groups by", list(METRICS), format_func=lambda m: METRICS[m], key="g_metric",
                              default="throttles") or "throttles"
top = df.assign(**{"DLQ messages": df["_dlq"]}).sort_values(metric, ascending=False, na_position="last").head(25).copy()
top["label"] = top["group"] + (" · " + top["region"] if multi else "")
st.plotly_chart(charts.bars(top, "label", metric, f"{METRICS[metric]} by group (top {len(top)})", METRICS[metric]),
                key="g_chart", config={"displayModeBar": False})

st.subheader("Drill down")
choices = list(zip(df["account"], df["region"], df["_name"]))
label = {c: f"{fmt.group_label(c[2])}" + (f" · {c[0]} · {c[1]}" if multi else "") for c in choices}
pick = st.selectbox("Group", choices, format_func=lambda c: label[c], key="g_drill")
if pick:
    a, r, gname = pick
    gm = sel.group_map(a, r)
    members = sorted(n for n, g in gm.items() if g == gname and sel.keep(n, g))
    fr = [f for f in reviews[a, r].functions if f.name in set(members)]
    fdf = pd.DataFrame([{"status": fmt.STATUS_TEXT[f.status], "function": f.name,
                         "why": f.findings[0].message if f.findings else fmt.NOT_SET,
                         "page": state.function_link(a, r, f.name), "invocations": f.invocations,
                         "errors": f.errors, "throttles": f.throttles, "peak concurrency": f.peak_concurrency,
                         "reserved": fmt.n(f.reserved_concurrency) if f.reserved_concurrency is not None
                         else fmt.NOT_SET if f.config_known else fmt.UNKNOWN,
                         "provisioned": fmt.n(f.provisioned) if f.provisioned else fmt.NOT_SET if f.provisioned == 0
                         else fmt.UNKNOWN,
                         "async dropped": f.async_events_dropped,
                         # the group's DLQ count includes on-failure destinations: so does each member's
                         "DLQ messages": fmt.n(f.queued_messages) if f.dlq_arn or f.on_failure_arn else fmt.NOT_SET}
                        for f in fr])
    if not fdf.empty:
        fdf = fdf.sort_values(["throttles", "peak concurrency"], ascending=False, na_position="last")
    st.dataframe(fdf, hide_index=True, width="stretch", placeholder=fmt.UNKNOWN, column_config={
        "function": st.column_config.Column(pinned=True),
        "page": st.column_config.LinkColumn("function page", display_text="open ↗"),
        "reserved": st.column_config.Column(help="— = no reserved concurrency (shares the unreserved pool)"),
        "provisioned": st.column_config.Column(help="— = no provisioned concurrency"),
        "DLQ messages": st.column_config.Column(help="— = no dead-letter queue or on-failure destination")})
    step = queries.chart_step(cfg, a, r, sel.start, sel.end)
    # every member shown (no search or filter left one out): the group's stored sums serve its concurrency
    whole = members == sorted(n for n, g in gm.items() if g == gname)
    group = queries.stored_group(cfg, sel.group_by, gname) if whole else None
    c1, c2 = st.columns(2)
    for col, key in ((c1, "ConcurrentExecutions"), (c2, "Throttles")):
        d = queries.series(cfg, a, r, (key,), sel.start, sel.end, step, tuple(members), group=group)
        d.columns = [f"{BY_KEY[key].label} (sum of the group)"]
        fig = charts.timeseries(d, f"{BY_KEY[key].label} · {fmt.group_label(gname)} "
                                   f"({'max' if BY_KEY[key].rollup == 'max' else 'sum'} per {fmt.step(step)})",
                                BY_KEY[key].unit, kind="line" if BY_KEY[key].rollup == "max" else "bar")
        charts.shade_gaps(fig, d, step)
        col.plotly_chart(fig, key=f"g_{key}", config={"displayModeBar": False})
