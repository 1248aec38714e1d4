"""Overview: every account and region at a glance: headroom, storage, failures, what needs attention."""
from collections import Counter

import pandas as pd
import streamlit as st

from analysis.review import CHECK, CHECKS, SEVERITY, Finding, TargetReview, Verdict, summary, worst_verdict
from collectors.catalogue import BY_KEY
from dashboard import charts, fmt, queries, state
from dashboard.widgets import tile

DETAIL_MAX = 8   # more account-regions than this: a table of all, tiles and charts for the worst only


def fleet_table(targets: list[TargetReview]) -> None:
    """Every selected account-region in one table, worst first: its status and the review's reason,
    headroom and the failures, each figure as the review knows it (unknown where it does not)."""
    counts = Counter(t.status for t in targets)
    st.markdown(f"**{len(targets)} account-regions:** " + " · ".join(
        f"{fmt.STATUS_ICON[s]} {counts[s]} {s}" for s in ("critical", "warn", "unknown", "ok") if counts[s]))
    df = pd.DataFrame([{
        "Status": fmt.STATUS_TEXT[t.status],
        "Account · region": fmt.target_label(t.target, t.account, t.region),
        "Why": t.findings[0].message if t.status != "ok" and t.findings else "",
        "Headroom": fmt.pct(t.concurrency_headroom_pct),
        "Peak / limit": f"{fmt.n(t.peak_concurrency)} / {fmt.n(t.concurrency_limit)}",
        "Throttles": fmt.n(t.throttles),
        "Async dropped": fmt.n(t.async_events_dropped),
        "DLQ messages": fmt.n(t.dlq_messages),
    } for t in targets])
    st.dataframe(fmt.status_styled(df), hide_index=True, width="stretch", placeholder=fmt.UNKNOWN,
                 column_config={"Why": st.column_config.TextColumn(width="large")})


sel = state.current()
state.require_data(sel)
cfg = sel.cfg

head, toggle = st.columns([5, 1], vertical_alignment="bottom")
head.title("Overview")
if toggle.button("Wall screen", icon=":material/fullscreen:", type="tertiary",
                 help="The whole fleet on one screen, large type, no sidebar, refreshing by itself (?view=wall)"):
    st.query_params["view"] = "wall"
    st.rerun()
st.caption(f"{sel.window_label} · peaks from 1-minute maxima · colours from the thresholds in the config")


TRIAGED = {"throttles", "async_events_dropped", "dead_letter_errors", "destination_delivery_failures",
           "provisioned_spillover", "dlq_messages"}   # the kinds Triage lists one row per subject


def attention(account: str, region: str, t: TargetReview, gm: dict[str, str]) -> list[tuple[Verdict, str, dict]]:
    """One line per check the review found not ok (its reason: the worst subject, and how many more),
    worst first, each linked to the page that explains it; with sidebar filters, only the functions and
    queues they keep count. The unknowns are shown above the tiles."""
    feeders: dict[str, list[str]] = {}
    for f in t.functions:
        for arn in {f.dlq_arn, f.on_failure_arn}:
            if arn:
                feeders.setdefault(arn.split(":")[-1], []).append(f.name)

    def kept(x: Finding) -> bool:
        subject = CHECK[x.kind].subject
        if subject == "function":
            return sel.keep(x.subject, gm.get(x.subject))
        if subject == "queue":
            return not sel.filtered or any(sel.keep(f, gm.get(f)) for f in feeders.get(x.subject, []))
        return True

    found = [x for x in t.findings if x.severity != "unknown" and kept(x)]
    growth = {q.name: q.growth_per_hour for q in queries.queues(cfg, sel.start, sel.end, account, region)}
    last_seen = {x.function: x.last_seen for x in queries.throttling(cfg, sel.start, sel.end, account, region)}
    out = []
    for c in CHECKS:
        s = summary(c.kind, found)
        if s is None:
            continue
        v, top = s
        where = state.link_params(account=account, region=region)
        if c.subject == "account":
            page = "app_pages/limits.py"
        elif c.kind in TRIAGED and (c.subject == "queue" or v.reason != top.message):
            page, where = "app_pages/triage.py", state.link_params(account=account, region=region, groups=[], q="")
        else:   # opened on the window around its incident (the last hour while it throttles now)
            page, where = "app_pages/function.py", state.link_params(
                account=account, region=region, fn=top.subject, window=state.incident_window(last_seen.get(top.subject)))
        g = growth.get(top.subject) if c.subject == "queue" else None
        reason = v.reason + (f" · growing {g:,.0f}/h" if g is not None and g >= 0.5 else "")
        out.append((Verdict(v.status, reason), page, where))
    return sorted(out, key=lambda x: -SEVERITY[x[0].status or "ok"])


status_rows = queries.status(cfg)
failing = {(r.target, r.region) for r in status_rows.runs if r.account is None}
if status_rows.errors:
    with st.expander(f"⚠️ {len(status_rows.errors)} collection error(s) in the latest cycle — numbers for those "
                     "targets may be incomplete", expanded=bool(failing)):
        df = pd.DataFrame(status_rows.errors)[["target", "region", "account", "api", "code", "message"]]
        st.dataframe(df, hide_index=True, width="stretch", placeholder=fmt.UNKNOWN)
        for tgt, region in sorted(failing):
            st.warning(f"**{fmt.md(tgt)} · {fmt.md(region)}** collected nothing: no numbers are shown for it "
                       "(unknown, not zero).")

reviews = list(state.selected_reviews(cfg, sel))
# Configured targets that never reached AWS have no account: a heading of their own, unknown, with why
# (shown unless the sidebar picked an account, which they cannot be in).
if sel.account == state.ALL:
    reviews += [("", t.region, t, {}) for t in queries.review(cfg, sel.start, sel.end).targets
                if t.account is None and sel.region in (state.ALL, t.region)]
# Worst first: at 3 a.m. the account in trouble is at the top.
reviews.sort(key=lambda x: -SEVERITY[x[2].status])
detail = reviews
if len(reviews) > DETAIL_MAX:
    # An organisation's hundreds of account-regions: one row each, and tiles and charts only for the
    # worst that need attention (a page of 400 charts answers nothing at 3 a.m.).
    fleet_table([t for _, _, t, _ in reviews])
    detail = [x for x in reviews if x[2].status != "ok"][:DETAIL_MAX]
    more = len(reviews) - len(detail)
    st.caption(f"In detail below: {'the ' + str(len(detail)) if detail else 'none of'} the account-regions that "
               f"need attention, worst first; the other {more} are the table's rows (pick an account in the sidebar "
               "to see one in detail).")
for a, r, t, gm in detail:
    v = t.verdict
    st.subheader(f"{fmt.STATUS_ICON[t.status]} {state.target_title(t)}")
    if t.account is None:
        for f in t.findings:
            st.warning(fmt.md(f.message), icon=":material/help:")
        continue
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
             f"of the {fmt.n(lim)} limit, left at the peak{quota_note}",
             worst_verdict(v("concurrency"), v("claimed_concurrency")), reason=False,
             help="limit − max(peak ConcurrentExecutions, peak ClaimedAccountConcurrency)")
    with c[1]:
        tile("Peak concurrent executions", f"{fmt.n(t.peak_concurrency)} / {fmt.n(lim)}",
             f"{fmt.ratio_pct(t.peak_concurrency, lim)} of the limit", v("concurrency"), reason=False)
    with c[2]:
        tile("Peak claimed concurrency", f"{fmt.n(t.peak_claimed_concurrency)} / {fmt.n(lim)}",
             f"{fmt.ratio_pct(t.peak_claimed_concurrency, lim)} of the limit", v("claimed_concurrency"), reason=False,
             help="ClaimedAccountConcurrency: unreserved in use + reserved + provisioned, what new work cannot use")
    with c[3]:
        tile("Code storage", f"{fmt.gb(t.code_storage_used_bytes)} / {fmt.gb(t.code_storage_limit_bytes, 0)}",
             f"{fmt.ratio_pct(t.code_storage_used_bytes, t.code_storage_limit_bytes)} · every version counts",
             v("code_storage"), reason=False)
    c = st.columns(4)
    with c[0]:
        tile("Functions", fmt.n(t.function_count), f"reserved {fmt.n(t.reserved_total)} · provisioned "
             f"{fmt.n(t.provisioned_total)}", v("reserved_allocation"), reason=False)
    with c[1]:
        tile("Throttles", fmt.n(t.throttles), "rejected invocations in the window", v("throttles"))
    with c[2]:
        tile("Async events dropped", fmt.n(t.async_events_dropped),
             f"lost: {fmt.n(t.dead_letter_errors)} DLQ, {fmt.n(t.destination_delivery_failures)} destination",
             worst_verdict(v("async_events_dropped"), v("dead_letter_errors"), v("destination_delivery_failures")),
             help="lost = DeadLetterErrors and DestinationDeliveryFailures: events "
             "Lambda could not even park")
    with c[3]:
        tile("DLQ messages", fmt.n(t.dlq_messages), "waiting now in dead-letter queues", v("dlq_messages"))

    lines = attention(a, r, t, gm)
    if lines:
        with st.container(border=True):
            st.markdown("**Needs attention**" + (" (filtered; the tiles are the whole account)" if sel.filtered else ""))
            for line, page, params in lines:
                st.page_link(page, label=f"{fmt.STATUS_ICON[line.status]} {fmt.md(line.reason)}", query_params=params)
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(charts.concurrency_budget(lim, t.reserved_total, t.provisioned_total, t.unreserved_limit,
                                                  t.peak_concurrency, t.peak_claimed_concurrency),
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
