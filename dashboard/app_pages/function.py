"""Function: one function's configuration and every metric over the window, its reserved limit drawn."""
import pandas as pd
import streamlit as st

from analysis.review import SEVERITY, worst_verdict
from collectors.catalogue import BY_KEY, metrics_for
from dashboard import charts, fmt, links, queries, state
from dashboard.widgets import tile

sel = state.current()
state.require_data(sel)
cfg = sel.cfg
ss = st.session_state

st.title("Function")

# Which target: the sidebar's, or a choice when the sidebar shows several.
tkeys = [f"{t['account']}/{t['region']}" for t in sel.targets]
tnames = {f"{t['account']}/{t['region']}": fmt.target_label(t["target"], t["account"], t["region"]) for t in sel.targets}
if len(tkeys) > 1:
    if ss.get("fn_target") not in tkeys:
        ss["fn_target"] = tkeys[0]
    st.selectbox("Account / region", tkeys, format_func=lambda k: tnames[k], key="fn_target")
    account, region = ss["fn_target"].split("/")
else:
    account, region = tkeys[0].split("/")

gm = sel.group_map(account, region)
names = [n for n in queries.function_names(cfg, account, region) if sel.keep(n, gm.get(n))]
wanted = st.query_params.get("fn")
if wanted and wanted != ss.get("_fn_written"):
    ss["fn"] = wanted
if not names:
    st.info("No function matches the sidebar's filters in this account and region.")
    st.stop()
if ss.get("fn") not in names:
    if ss.get("fn") and ss.get("fn") == wanted:
        st.warning(f"Function **{fmt.md(wanted)}** is not in {fmt.md(tnames[f'{account}/{region}'])} "
                   "(or not in the sidebar's filters); pick another.")
    # Open on the function most in trouble (worst status, most throttles), not the first by name.
    tr = queries.target(cfg, sel.start, sel.end, account, region)
    shown = set(names)   # once: a set per function made this O(n^2) (1.4 s at 10,000 functions)
    ranked = sorted((f for f in (tr.functions if tr else []) if f.name in shown),
                    key=lambda f: (-SEVERITY[f.status], -(f.throttles or 0), f.name))
    ss["fn"] = ranked[0].name if ranked else names[0]
name = st.selectbox("Function", names, key="fn")
st.query_params["fn"] = name
ss["_fn_written"] = name

detail = queries.function_detail(cfg, account, region, name)
t = queries.target(cfg, sel.start, sel.end, account, region)
fr = next((f for f in t.functions if f.name == name), None) if t else None
if detail is None or fr is None:
    st.warning("This function is no longer in the stored inventory.")
    st.stop()
c = detail.config
st.subheader(f"{fmt.STATUS_ICON[fr.status]} {fmt.md(name)}")
st.markdown(f"{fmt.md(tnames[f'{account}/{region}'])} · group **{fmt.md(fmt.group_label(gm.get(name)))}** · "
            f"{sel.window_label} · [AWS console ↗]({links.console_url(region, name)})")

# Why it has this status: the review's findings about it (the same lines `check` prints), worst first.
if fr.findings:
    box = st.error if fr.status == "critical" else st.warning if fr.status in ("warn", "unknown") else st.info
    box("  \n".join(f"{fmt.STATUS_ICON[x.severity]} **{fmt.STATUS_TEXT[x.severity]}**: {fmt.md(x.message)}"
                    for x in fr.findings), icon=":material/report:")
else:   # the review's status is the worst of its findings: none, ok
    st.success(f"No finding about this function over {sel.window_label}.", icon=":material/check_circle:")

cols = st.columns(5)
with cols[0]:
    res = fr.reserved_concurrency
    tile("Peak concurrency", f"{fmt.n(fr.peak_concurrency)}" + (f" / {res:,}" if res else ""),
         "of its reserved concurrency" if res else "no reserved concurrency (shares the unreserved pool)",
         fr.verdict("function_concurrency"), reason=False)
with cols[1]:
    # not graded: no threshold applies to invocations or duration (grey, whatever the number)
    tile("Invocations", fmt.n(fr.invocations), f"errors {fmt.n(fr.errors)}", None)
with cols[2]:
    tile("Throttles", fmt.n(fr.throttles), "rejected invocations", fr.verdict("throttles"), reason=False)
with cols[3]:
    tile("Async events dropped", fmt.n(fr.async_events_dropped),
         f"DLQ errors {fmt.n(fr.dead_letter_errors)} · destination failures {fmt.n(fr.destination_delivery_failures)}",
         worst_verdict(fr.verdict("async_events_dropped"), fr.verdict("dead_letter_errors"),
                       fr.verdict("destination_delivery_failures")), reason=False)
with cols[4]:
    idle = fr.invocations == 0
    tile("Max duration", fmt.NOT_SET if idle else fmt.ms(fr.max_duration_ms),
         ("idle: no invocation in the window · " if idle else "") + f"timeout {fmt.duration(c['timeout_s'])}",
         None)   # not graded: no threshold applies to a duration

left, right = st.columns(2)
with left:
    st.markdown("**Configuration**")
    conf = [("runtime", c["runtime"]), ("memory", f"{c['memory_mb']} MB"), ("timeout", f"{c['timeout_s']} s"),
            ("architecture", c["architecture"]), ("package type", c["package_type"]),
            ("reserved concurrency", (f"{fmt.NOT_SET} none: shares the unreserved pool" if fr.config_known
                                      else fmt.UNKNOWN) if c["reserved_concurrency"] is None
             else fmt.n(c["reserved_concurrency"])),
            ("provisioned (all aliases)", fmt.n(fr.provisioned) if fr.provisioned else
             f"{fmt.NOT_SET} none" if fr.provisioned == 0 else fmt.UNKNOWN),
            ("code size ($LATEST)", fmt.size(c["code_size"])),
            ("code size (all versions)", f"{fmt.size(c['code_size_all_versions'])} in {c['version_count']} version(s)"),
            ("dead-letter queue", c["dlq_arn"] or f"{fmt.NOT_SET} none"),
            ("on-failure destination", c["on_failure_arn"] or f"{fmt.NOT_SET} none"),
            ("VPC", "yes" if c["vpc"] else "no"), ("last modified", fmt.cell(c["last_modified"])),
            ("ARN", c["arn"])]
    conf = [(k, fmt.cell(v)) for k, v in conf]
    st.dataframe(pd.DataFrame(conf, columns=["setting", "value"]), hide_index=True, width="stretch",
                 placeholder=fmt.UNKNOWN, height=35 * len(conf) + 40)
with right:
    st.markdown("**Tags**")
    if c["tags"]:
        st.dataframe(pd.DataFrame(sorted(c["tags"].items()), columns=["key", "value"]), hide_index=True,
                     placeholder=fmt.UNKNOWN, width="stretch")
    else:
        st.caption("No tags.")
    st.markdown("**Provisioned concurrency per alias/version**")
    if detail.provisioned:
        st.dataframe(pd.DataFrame(detail.provisioned), hide_index=True, width="stretch", placeholder=fmt.UNKNOWN)
    else:
        st.caption("No provisioned concurrency.")
    if detail.queues or c["dlq_arn"] or c["on_failure_arn"]:
        st.markdown("**Where failed events go**")
        qrows = []
        for role, arn in (("DLQ", c["dlq_arn"]), ("on failure", c["on_failure_arn"])):
            if arn:
                q = detail.queues.get(arn)
                qrows.append({"role": role, "target": arn.split(":")[-1], "kind": arn.split(":")[2],
                              "messages visible": None if q is None else q["visible"],
                              "in flight": None if q is None else q["not_visible"],
                              "note": "not measurable (only SQS depth is)" if q is None else q["error"] or fmt.NOT_SET})
        st.dataframe(pd.DataFrame(qrows), hide_index=True, width="stretch", placeholder=fmt.UNKNOWN)

step = queries.chart_step(cfg, account, region, sel.start, sel.end)
st.subheader("Metrics")
st.caption(f"{sel.window_label} · one point per {fmt.step(step)} (max for levels, sum for counts) · "
           "grey bands: not collected (unknown) · a flat zero: collected and idle")
keys = [m.key for m in metrics_for("function")]
df = queries.series(cfg, account, region, tuple(keys), sel.start, sel.end, step, (name,))
charts_to_draw = []
for k in keys:
    m = BY_KEY[k]
    limits = [(res, f"reserved {res:,}")] if k == "ConcurrentExecutions" and res else []
    charts_to_draw.append((k, df[[k]].rename(columns={k: m.label}), m, limits))
for qual in queries.aliases(cfg, account, region, name):
    akeys = tuple(m.key for m in metrics_for("alias"))
    adf = queries.series(cfg, account, region, akeys, sel.start, sel.end, step, (name,), qual)
    prov = next((p["allocated"] or p["requested"] for p in detail.provisioned if p["qualifier"] == qual), None)
    for k in akeys:
        m = BY_KEY[k]
        limits = [(prov, f"provisioned {prov:,}")] if k == "ProvisionedConcurrentExecutions" and prov else []
        charts_to_draw.append((f"{k}-{qual}", adf[[k]].rename(columns={k: f"{m.label} ({qual})"}), m, limits))
for arn in (c["dlq_arn"], c["on_failure_arn"]):
    if arn and arn.split(":")[2] == "sqs":
        qn = arn.split(":")[-1]
        qdf = queries.series(cfg, account, region, ("DLQVisible", "DLQOldestAge"), sel.start, sel.end, step, (qn,))
        for k in ("DLQVisible", "DLQOldestAge"):
            charts_to_draw.append((f"{k}-{qn}", qdf[[k]].rename(columns={k: f"{BY_KEY[k].label} ({qn})"}),
                                   BY_KEY[k], []))
# A chart collected over the whole window and zero throughout says one word: nothing happened. One
# with gaps is drawn (the grey bands are the news); one never collected is listed as unknown.
idle_charts = [d.columns[0] for _, d, _, _ in charts_to_draw if d.iloc[:, 0].notna().all()
               and not d.iloc[:, 0].any()]
unread = [d.columns[0] for _, d, _, _ in charts_to_draw if not d.iloc[:, 0].notna().any()]
drawn = [x for x in charts_to_draw if x[1].columns[0] not in idle_charts + unread]
if idle_charts:
    st.caption(f"No data in this window (collected, zero throughout): {fmt.md(', '.join(idle_charts))}")
if unread:
    st.caption(f"Not collected in this window (unknown): {fmt.md(', '.join(unread))}")
grid = st.columns(2)
for i, (key, d, m, limits) in enumerate(drawn):
    title = f"{d.columns[0]} · {m.unit}" if m.unit != "count" else d.columns[0]
    fig = charts.timeseries(d, title, m.unit, limits, height=260)
    charts.shade_gaps(fig, d, step)
    grid[i % 2].plotly_chart(fig, key=f"f_{key}", config={"displayModeBar": False})
