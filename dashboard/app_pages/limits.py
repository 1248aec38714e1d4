"""Limits review: weekly peaks against each limit with the trend, allocations, code storage, exports."""
import pandas as pd
import streamlit as st

from analysis import review, triage
from analysis.review import SEVERITY, UNRESERVED_FLOOR
from dashboard import charts, fmt, queries, report, state

sel = state.current()
state.require_data(sel)
cfg = sel.cfg
ss = st.session_state

st.title("Limits review")
weeks = st.segmented_control("Weeks of history", state.WEEK_OPTIONS, key="weeks", format_func=lambda w: f"{w} weeks") or 8
st.query_params["weeks"] = str(weeks)
st.caption(f"Weekly peaks over the last {weeks} weeks (each 7 days, the last ending now) · allocations and the largest "
           f"holders over {sel.window_label} · grouped by {state.group_by_label(cfg, sel.group_by)}")

sections: list[report.Section] = []


by_key = queries.targets_by_key(cfg, sel.start, sel.end)


def urgency(tinfo: dict) -> tuple:
    """The target that needs attention most comes first (its tab is the one open): the review's status,
    then the fewest weeks until a limit, then the name."""
    t = by_key.get((tinfo["account"], tinfo["region"]))
    if t is None:
        return (1, 0, float("inf"), tinfo["target"], tinfo["region"])
    until = [tr.weeks_until for tr in queries.limit_trends(cfg, sel.start, sel.end, t.account or "", t.region, weeks)
             if tr.weeks_until is not None]
    return (0, -SEVERITY[t.status], min(until, default=float("inf")), tinfo["target"], tinfo["region"])


def soonest(trends: list[triage.LimitTrend]) -> str:
    """The limit a target reaches first at its weekly trend, or why none is in sight."""
    due = [tr for tr in trends if tr.weeks_until is not None]
    if due:
        tr = min(due, key=lambda x: x.weeks_until or 0.0)
        return f"{tr.label}: {fmt.weeks(tr.weeks_until, tr.slope_per_week)}"
    if any(tr.slope_per_week is None for tr in trends):
        return fmt.weeks(None, None)
    return "none at this rate"


def limits_table(targets: list[dict]) -> None:
    """Every selected account-region in one table, most urgent first: status, the soonest limit at
    the trend, and the latest weekly peak of each limit as a share of it."""
    rows = []
    for tinfo in targets:
        t = by_key.get((tinfo["account"], tinfo["region"]))
        trends = queries.limit_trends(cfg, sel.start, sel.end, tinfo["account"], tinfo["region"], weeks) if t else []
        row = {"Status": fmt.STATUS_TEXT[t.status if t else None],
               "Account · region": fmt.target_label(tinfo["target"], tinfo["account"], tinfo["region"]),
               "Soonest limit": soonest(trends) if t else fmt.UNKNOWN}
        row.update({tr.label: fmt.ratio_pct(tr.latest, tr.limit) for tr in trends})
        rows.append(row)
    st.dataframe(fmt.status_styled(pd.DataFrame(rows).fillna(fmt.UNKNOWN)), hide_index=True, width="stretch",
                 placeholder=fmt.UNKNOWN)


DETAIL_MAX = 8   # more account-regions than this: a table of all and one in detail, not a tab each

ordered = sorted(sel.targets, key=urgency)
labels = [fmt.target_label(t["target"], t["account"], t["region"]) for t in ordered]
if len(ordered) > DETAIL_MAX:
    limits_table(ordered)
    pick = st.selectbox("In detail", range(len(ordered)), format_func=labels.__getitem__, key="limits_detail",
                        help="Most urgent first; the exports below cover every account-region")
    tab_of = {pick: st.container()}
else:
    tab_of = dict(enumerate(st.tabs(labels) if len(ordered) > 1 else [st.container()]))
for i, tinfo in enumerate(ordered):
    a, r = tinfo["account"], tinfo["region"]
    t = by_key.get((a, r))
    if t is None:
        continue
    trends = queries.limit_trends(cfg, sel.start, sel.end, a, r, weeks)
    gm = sel.group_map(a, r)
    groups = [g for g in queries.groups(cfg, sel.start, sel.end, a, r, sel.group_by)
              if not sel.groups or g.name in sel.groups]
    holders = triage.code_holders(t, 20, lambda f: sel.keep(f.name, gm.get(f.name)))
    over = [o for o in triage.over_reserved(t) if sel.keep(o.function, gm.get(o.function))]
    sections.append(report.Section(t, trends, groups, holders, over))
    if i not in tab_of:
        continue
    with tab_of[i]:
        st.subheader(f"{fmt.STATUS_ICON[t.status]} {state.target_title(t)}")
        summary = pd.DataFrame([{
            "limit": tr.label, "latest weekly peak": report._val(tr.unit, tr.latest),
            "limit value": report._val(tr.unit, tr.limit),
            "% of limit": fmt.ratio_pct(tr.latest, tr.limit),
            "trend / week": fmt.UNKNOWN if tr.slope_per_week is None else (
                f"{tr.slope_per_week / fmt.GB:+,.2f} GB" if tr.unit == "bytes" else f"{tr.slope_per_week:+,.1f}"),
            "weeks until the limit": fmt.weeks(tr.weeks_until, tr.slope_per_week)} for tr in trends])
        st.dataframe(summary, hide_index=True, width="stretch", placeholder=fmt.UNKNOWN)
        grid = st.columns(2)
        for i, tr in enumerate(trends):
            wk = [(pd.Timestamp(w, unit="s", tz="UTC"), v) for w, v in tr.weeks]
            label = "max reservable" if tr.key == "reserved_allocation" else "limit"
            until = fmt.weeks(tr.weeks_until, tr.slope_per_week)
            fig = charts.weekly_trend(wk, tr.limit, f"{tr.label}: {until}" + (
                                      f" to the {label}" if tr.weeks_until is not None else ""),
                                      tr.unit, tr.slope_per_week, label)
            grid[i % 2].plotly_chart(fig, key=f"l_trend_{a}_{r}_{tr.key}", config={"displayModeBar": False})

        st.markdown("#### Reserved concurrency by group")
        lim = t.concurrency_limit
        reservable = lim - UNRESERVED_FLOOR if lim and lim > UNRESERVED_FLOOR else None
        alloc = sorted(((fmt.group_label(g.name), g.reserved_total) for g in groups if g.reserved_total),
                       key=lambda x: -x[1])
        st.caption(f"{fmt.n(t.reserved_total)} reserved of the {fmt.n(reservable)} that may be reserved "
                   f"({fmt.ratio_pct(t.reserved_total, reservable)}); Lambda keeps {UNRESERVED_FLOOR} unreserved "
                   f"for functions without reserved concurrency.")
        unknown = [fmt.group_label(g.name) for g in groups if g.reserved_total is None]
        if alloc:
            st.plotly_chart(charts.allocation(alloc, lim), key=f"l_alloc_{a}_{r}", config={"displayModeBar": False})
        elif not unknown:
            st.caption("No group has reserved concurrency.")
        if unknown:   # not drawn and not "none": their functions' configuration was not read
            st.caption(f"Reserved concurrency unknown for {len(unknown)} group(s): "
                       f"{fmt.md(', '.join(unknown[:10]))}{' …' if len(unknown) > 10 else ''}.")

        st.markdown("#### Code storage")
        hist = queries.account_history(cfg, a, r, review.window(sel.end, weeks * 7 * 86400)[0], sel.end)
        c1, c2 = st.columns([3, 2])
        with c1:
            if len(hist) >= 2:
                hdf = hist[["code_storage_used"]].rename(columns={"code_storage_used": "used"})
                st.plotly_chart(charts.code_storage(hdf, t.code_storage_limit_bytes,
                                                    f"Code storage used ({weeks} weeks)"),
                                key=f"l_code_{a}_{r}", config={"displayModeBar": False})
            else:
                st.caption("Not enough code storage snapshots yet to draw growth (one is kept per hour of "
                           "collection).")
        with c2:
            freed = triage.old_versions_bytes(t)
            st.markdown(f"Used **{fmt.gb(t.code_storage_used_bytes)}** of {fmt.gb(t.code_storage_limit_bytes, 0)} "
                        f"({fmt.ratio_pct(t.code_storage_used_bytes, t.code_storage_limit_bytes)}). Old versions "
                        f"hold **{fmt.gb(freed)}**: deleting unused versions frees that.")
        st.dataframe(pd.DataFrame([{"function": h.function, "group": fmt.group_label(gm.get(h.function)),
                                    "all versions": fmt.size(h.all_versions_bytes),
                                    "old versions": fmt.size(h.old_versions_bytes),
                                    "versions": h.version_count,
                                    "share of used": None if h.share_of_used is None else 100 * h.share_of_used,
                                    "page": state.function_link(a, r, h.function)} for h in holders]),
                     hide_index=True, width="stretch", placeholder=fmt.UNKNOWN,
                     column_config={"page": st.column_config.LinkColumn("function page", display_text="open ↗"),
                                    "function": st.column_config.Column(pinned=True),
                                    "share of used": st.column_config.NumberColumn(format="%.2f %%")})

        st.markdown("#### Reserved concurrency far above peak")
        st.caption(f"Peak at most half the reservation and at least 10 unused, over {sel.window_label}: reserved "
                   "concurrency nobody else may use.")
        if over:
            st.dataframe(pd.DataFrame([{"function": o.function, "group": fmt.group_label(gm.get(o.function)),
                                        "reserved": o.reserved, "peak concurrency": o.peak_concurrency,
                                        "unused": o.unused, "peak / reserved": 100 * o.peak_ratio,
                                        "page": state.function_link(a, r, o.function)} for o in over]),
                         hide_index=True, width="stretch", placeholder=fmt.UNKNOWN,
                         column_config={"page": st.column_config.LinkColumn("function page", display_text="open ↗"),
                                        "peak / reserved": st.column_config.NumberColumn(format="%.1f %%")})
        else:
            st.caption("No function.")

st.subheader("Export")
gen = fmt.utc(queries.now())
gb_label = state.group_by_label(cfg, sel.group_by)
c1, c2, c3 = st.columns(3)
c1.download_button("Review as CSV", report.to_csv(report.summary_rows(sections)), "headroom-review.csv", "text/csv",
                   key="dl_csv")
c2.download_button("Report as Markdown", report.markdown(sections, sel.window_label, gen, gb_label),
                   "headroom-review.md", "text/markdown", key="dl_md")
c3.download_button("Report as HTML", report.to_html(sections, sel.window_label, gen, gb_label),
                   "headroom-review.html", "text/html", key="dl_html")
