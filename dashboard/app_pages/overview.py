"""Overview: every account and region at a glance: headroom, storage, failures, what needs attention."""
import pandas as pd
import streamlit as st

from analysis import triage
from collectors.catalogue import BY_KEY
from analysis.review import SEVERITY, TargetReview
from dashboard import charts, fmt, queries, state
from dashboard.widgets import tile

sel = state.current()
state.require_data(sel)
cfg = sel.cfg
th = queries.settings(cfg).thresholds

st.title("Overview")
st.caption(f"{sel.window_label} · peaks from 1-minute maxima · colours from the thresholds in the config")


def attention(account: str, region: str, t: TargetReview, gm: dict[str, str], step_links: list) -> None:
    """What needs looking at in this target, each a link to the page that explains it."""
    thr = [r for r in queries.throttling(cfg, sel.start, sel.end, account, region) if sel.keep(r.function, gm.get(r.function))]
    for g, n, k in triage.throttling_groups(thr, gm)[:3]:
        step_links.append(("critical" if n >= th["throttles"].critical else "warn",
                           f"Throttling in group **{fmt.md(fmt.group_label(g))}**: {fmt.n(n)} throttles in "
                           f"{k} function(s)", "app_pages/triage.py",
                           state.link_params(account=account, region=region, groups=[g], q="")))
    for q in queries.queues(cfg, sel.start, sel.end, account, region):
        if (q.visible or 0) > 0 or (q.growth_per_hour or 0) > 0:
            growth = q.growth_per_hour
            grow = f", growing {fmt.n(round(growth))}/h" if growth is not None and growth > 0 else ""
            step_links.append((q.status, f"Dead-letter queue **{fmt.md(q.name)}**: {fmt.n(q.visible)} messages{grow}",
                               "app_pages/triage.py",
                               state.link_params(account=account, region=region, groups=[], q="")))
    for f in t.functions:
        if (f.async_events_dropped or 0) > 0 and sel.keep(f.name, gm.get(f.name)):
            step_links.append((f.status, f"**{fmt.md(f.name)}** dropped {fmt.n(f.async_events_dropped)} async events",
                               "app_pages/function.py",
                               state.link_params(account=account, region=region, fn=f.name)))
    for s in queries.spillover(cfg, sel.start, sel.end, account, region):
        if sel.keep(s.function, gm.get(s.function)):
            step_links.append((s.status, f"**{fmt.md(s.function)}:{fmt.md(s.qualifier)}** spilled "
                               f"{fmt.n(s.spillover)} invocations over its provisioned concurrency",
                               "app_pages/function.py",
                               state.link_params(account=account, region=region, fn=s.function)))


status_rows = queries.status(cfg)
failing = {(r.target, r.region) for r in status_rows.runs if r.account is None}
if status_rows.errors:
    with st.expander(f"⚠️ {len(status_rows.errors)} collection error(s) in the latest cycle — numbers for those "
                     "targets may be incomplete", expanded=bool(failing)):
        df = pd.DataFrame(status_rows.errors)[["target", "region", "account", "api", "code", "message"]]
        st.dataframe(df, hide_index=True, width="stretch")
        for tgt, region in sorted(failing):
            st.warning(f"**{fmt.md(tgt)} · {fmt.md(region)}** collected nothing: no numbers are shown for it "
                       "(unknown, not zero).")

reviews = list(state.selected_reviews(cfg, sel))
# Worst first: at 3 a.m. the account in trouble is at the top.
for a, r, t, gm in sorted(reviews, key=lambda x: -SEVERITY[x[2].status]):
    g = triage.target_grades(t, th)
    st.subheader(f"{fmt.STATUS_ICON[t.status]} {state.target_title(t)}")
    if t.health is not None and t.health.stale:
        since = "never" if t.health.data_end is None else fmt.utc(t.health.data_end)
        st.error(f"**Stale since {since}**: the numbers below are old, not current. "
                 + fmt.md(next((f.message for f in t.findings if f.kind == "stale"), "")), icon=":material/history:")
    for f in t.findings:
        if f.severity == "unknown" and f.kind != "stale":
            st.warning(fmt.md(f.message), icon=":material/help:")
    if t.coverage_ratio < 0.99:
        st.caption(f"Only {100 * t.coverage_ratio:.0f} % of the window was collected: peaks and totals cover that "
                   "part; the rest is unknown.")
    lim = t.concurrency_limit
    c = st.columns(4)
    with c[0]:
        quota = t.quota_concurrency
        quota_note = f" · Service Quotas says {fmt.n(quota)}" if quota is not None and lim and quota != lim else ""
        tile("Concurrency headroom", f"{fmt.n(t.concurrency_headroom)} ({fmt.pct(t.concurrency_headroom_pct)})",
             f"of the {fmt.n(lim)} limit, left at the peak{quota_note}", g["headroom"],
             help="limit − max(peak ConcurrentExecutions, peak ClaimedAccountConcurrency)")
    with c[1]:
        tile("Peak concurrent executions", f"{fmt.n(t.peak_concurrency)} / {fmt.n(lim)}",
             f"{fmt.ratio_pct(t.peak_concurrency, lim)} of the limit", g["concurrency"])
    with c[2]:
        tile("Peak claimed concurrency", f"{fmt.n(t.peak_claimed_concurrency)} / {fmt.n(lim)}",
             f"{fmt.ratio_pct(t.peak_claimed_concurrency, lim)} of the limit", g["claimed_concurrency"],
             help="ClaimedAccountConcurrency: unreserved in use + reserved + provisioned, what new work cannot use")
    with c[3]:
        tile("Code storage", f"{fmt.gb(t.code_storage_used_bytes)} / {fmt.gb(t.code_storage_limit_bytes, 0)}",
             f"{fmt.ratio_pct(t.code_storage_used_bytes, t.code_storage_limit_bytes)} · every version counts",
             g["code_storage"])
    c = st.columns(4)
    with c[0]:
        tile("Functions", fmt.n(t.function_count), f"reserved {fmt.n(t.reserved_total)} · provisioned "
             f"{fmt.n(t.provisioned_total)}", g["reserved_allocation"])
    with c[1]:
        tile("Throttles", fmt.n(t.throttles), "rejected invocations in the window", g["throttles"])
    with c[2]:
        tile("Async events dropped", fmt.n(t.async_events_dropped),
             f"lost: {fmt.n(t.dead_letter_errors)} DLQ, {fmt.n(t.destination_delivery_failures)} destination",
             g["async_events_dropped"], help="lost = DeadLetterErrors and DestinationDeliveryFailures: events "
             "Lambda could not even park")
    with c[3]:
        tile("DLQ messages", fmt.n(t.dlq_messages), "waiting now in dead-letter queues", g["dlq_messages"])

    links: list = []
    attention(a, r, t, gm, links)
    if links:
        with st.container(border=True):
            st.markdown("**Needs attention**" + (" (filtered)" if sel.filtered else ""))
            for status, text, page, params in sorted(links, key=lambda x: -SEVERITY[x[0]])[:8]:
                st.page_link(page, label=f"{fmt.STATUS_ICON[status]} {text}", query_params=params)
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(charts.concurrency_budget(lim, t.reserved_total, t.provisioned_total, t.peak_concurrency,
                                                  t.peak_claimed_concurrency),
                        key=f"budget-{a}-{r}", config={"displayModeBar": False})
    with right:
        step = queries.chart_step(cfg, a, r, sel.start, sel.end)
        keys = ("AccountConcurrentExecutions", "ClaimedAccountConcurrency")
        df = queries.series(cfg, a, r, keys, sel.start, sel.end, step)
        df = df.rename(columns={k: BY_KEY[k].label for k in keys})
        fig = charts.timeseries(df, f"Account concurrency (max per {fmt.step(step)})", "count",
                                [(lim, f"limit {fmt.n(lim)}")] if lim else [])
        charts.shade_gaps(fig, df, step)
        st.plotly_chart(fig, key=f"conc-{a}-{r}", config={"displayModeBar": False})
