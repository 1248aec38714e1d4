"""The shared sidebar: UI state (initialised here only), its mirror in the URL, and auto-refresh.

Selections live in st.session_state under the widget keys below and are written to the query
params on every run, so a pasted link opens the same view. A link that arrives with different
query params (a pasted URL, a page link from another page) is applied before the widgets render.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any

import streamlit as st

from analysis import review
from collectors.config import Collection
from dashboard import fmt, queries
from dashboard.context import Context

ALL = "All"
WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
WINDOW_OPTIONS = [*WINDOWS, "custom"]
DEFAULTS: dict[str, Any] = {"account": ALL, "region": ALL, "window": "24h", "from": "", "to": "",
                            "group_by": "prefix", "groups": [], "q": ""}
LIST_KEYS = {"groups"}
WEEK_OPTIONS = (4, 8, 13, 26, 52)
QP_NAMES = {"groups": "group"}          # URL name of a state key, where it differs
WAITING_REFRESH_S = 1                   # poll for the first data this often
REFRESH_S = 10                          # poll the store's write marker this often (cheap)
INTERRUPTED_MARGIN_S = 120              # past its deadline, a cycle still writing its last targets is alive


@dataclass
class Selection:
    """What the user selected, resolved against the data (read by every page)."""
    ctx: Context
    cfg: str
    account: str
    region: str
    window: str
    start: int
    end: int
    group_by: str
    groups: list[str]
    q: str
    targets: list[dict[str, Any]] = field(default_factory=list)   # stored targets that match account/region

    def keep(self, name: str, group: str | None) -> bool:
        """A function passes the group filter and the search."""
        if self.groups and (group if group is not None else "") not in self.groups:
            return False
        return not self.q or self.q.lower() in name.lower()

    @property
    def filtered(self) -> bool:
        return bool(self.groups or self.q)

    @property
    def window_label(self) -> str:
        if self.window in WINDOWS:
            return f"last {self.window}"
        return f"{fmt.utc(self.start)} – {fmt.utc(self.end)}"

    def group_map(self, account: str, region: str) -> dict[str, str]:
        return queries.group_map(self.cfg, account, region, self.group_by)


# -- state <-> URL ------------------------------------------------------------------------------
def _read_qp() -> dict[str, Any]:
    out: dict[str, Any] = {}
    qp = st.query_params
    for key in DEFAULTS:
        name = QP_NAMES.get(key, key)
        if key in LIST_KEYS:
            vals = qp.get_all(name)
            if vals:
                out[key] = [v for v in vals]
        elif name in qp:
            out[key] = qp[name]
    return out


def _apply(values: dict[str, Any]) -> None:
    ss = st.session_state
    for k, v in values.items():
        ss[k] = list(v) if k in LIST_KEYS else str(v)
    if values.get("from") or values.get("to"):
        _sync_range_widget()


def _sync_range_widget() -> None:
    ss = st.session_state
    try:
        a, b = dt.date.fromisoformat(ss["from"]), dt.date.fromisoformat(ss["to"])
        ss["_range"] = (a, b)
    except (ValueError, TypeError):
        pass


def init() -> None:
    """The one place session state is initialised: defaults, then the URL's selections."""
    ss = st.session_state
    if "_init" not in ss:
        ss["_init"] = True
        for k, v in DEFAULTS.items():
            ss.setdefault(k, list(v) if isinstance(v, list) else v)
        _apply(_read_qp())
        w = st.query_params.get("weeks", "")
        ss["weeks"] = int(w) if w.isdigit() and int(w) in WEEK_OPTIONS else 8   # the limits review's history
        ss["_qp_written"] = None
        return
    cur = _read_qp()
    if cur and cur != ss.get("_qp_written"):   # arrived with a link: it is the whole selection
        _apply({k: cur.get(k, list(v) if isinstance(v, list) else v) for k, v in DEFAULTS.items()})


def write_query_params() -> None:
    """Mirror the selections in the URL (other keys, such as the function page's `fn`, are left alone)."""
    ss = st.session_state
    values: dict[str, Any] = {}
    for key in DEFAULTS:
        v = ss.get(key)
        if key in ("from", "to") and ss.get("window") != "custom":
            v = ""
        if v not in ("", [], None):
            values[key] = list(v) if key in LIST_KEYS else v
    qp = st.query_params
    for key in DEFAULTS:
        name = QP_NAMES.get(key, key)
        if key in values:
            if key in LIST_KEYS:
                if qp.get_all(name) != values[key]:
                    qp[name] = values[key]
            elif qp.get(name) != values[key]:
                qp[name] = values[key]
        elif name in qp:
            del qp[name]
    ss["_qp_written"] = values


# -- the window ----------------------------------------------------------------------------------
RECENT_S = 900   # a preset window a page showed this recently has its review warmed after each cycle
_shown: dict[tuple[str, str], float] = {}   # (config, preset window) -> when a page last showed it


def shown(cfg: str, window: str) -> None:
    """A page shows this window's data (dashboard/warm.py keeps the recent presets' reviews warm)."""
    if cfg and window in WINDOWS:
        _shown[(cfg, window)] = time.monotonic()


def recent_windows(cfg: str) -> list[str]:
    """The default window, then every preset window a page of this config showed in the last RECENT_S."""
    now = time.monotonic()
    recent = {w for (c, w), t in list(_shown.items()) if c == cfg and now - t <= RECENT_S}
    return [str(DEFAULTS["window"]), *(w for w in WINDOWS if w in recent and w != DEFAULTS["window"])]


def window_bounds(window: str, frm: str, to: str, now: float) -> tuple[int, int]:
    """[start, end) for a preset (as `check --window` computes it) or a custom UTC date range."""
    if window in WINDOWS:
        return review.window(now, WINDOWS[window])
    cap = review.window(now, 60)[1]
    try:
        a = dt.datetime.combine(dt.date.fromisoformat(frm), dt.time(), dt.timezone.utc)
        b = dt.datetime.combine(dt.date.fromisoformat(to), dt.time(), dt.timezone.utc) + dt.timedelta(days=1)
    except (TypeError, ValueError):
        return review.window(now, WINDOWS["24h"])
    start, end = int(a.timestamp()), min(int(b.timestamp()), cap)
    return (start, end) if end > start else review.window(now, WINDOWS["24h"])


def group_by_options(cfg: str) -> list[str]:
    s = queries.settings(cfg)
    depth = s.grouping.prefix_depth
    opts = ["prefix"] + [f"prefix:{d}" for d in (1, 2, 3) if d != depth]
    keys = list(dict.fromkeys([*s.grouping.tag_keys, *queries.tag_keys(cfg)]))
    return opts + [f"tag:{k}" for k in keys]


def group_by_label(cfg: str, kind: str) -> str:
    if kind == "prefix" and not cfg:
        return "name prefix"
    if kind == "prefix":
        return f"name prefix, depth {queries.settings(cfg).grouping.prefix_depth} (config)"
    if kind.startswith("prefix:"):
        return f"name prefix, depth {kind.split(':')[1]}"
    return f"tag {kind[4:]}"


# -- the sidebar ---------------------------------------------------------------------------------
def _copy_back(key: str) -> None:
    st.session_state[key] = st.session_state[f"w_{key}"]


def _bind(key: str) -> dict[str, Any]:
    """Widget arguments that keep the selection in a plain session key (`key`), the widget's own
    state (`w_key`) only mirroring it. Streamlit may drop a widget's state when a run is cut short
    (a page switch during a rerun); the plain key survives and re-seeds the widget."""
    st.session_state[f"w_{key}"] = st.session_state[key]
    return {"key": f"w_{key}", "on_change": _copy_back, "args": (key,)}


def sidebar(ctx: Context) -> Selection:
    """Render the shared sidebar and return the current selection."""
    ss = st.session_state
    cfg = ctx.cfg or ""
    targets = queries.targets(cfg) if cfg and queries.version(cfg) else []
    accounts = sorted({t["account"] for t in targets})
    names = {t["account"]: t["target"] for t in targets}
    regions = sorted({t["region"] for t in targets})
    ss["_ver_rendered"] = queries.version(cfg) if cfg else None
    with st.sidebar:
        st.markdown("## headroom")
        signed_in()
        if ss["account"] not in [ALL, *accounts]:
            ss["account"] = ALL
        st.selectbox("Account", [ALL, *accounts], **_bind("account"),
                     format_func=lambda a: a if a == ALL else f"{names.get(a, '?')} · {a}")
        if ss["region"] not in [ALL, *regions]:
            ss["region"] = ALL
        st.selectbox("Region", [ALL, *regions], **_bind("region"))
        if ss["window"] not in WINDOW_OPTIONS:
            ss["window"] = DEFAULTS["window"]
        st.radio("Time window", WINDOW_OPTIONS, **_bind("window"), horizontal=True)
        if ss["window"] == "custom":
            if "_range" not in ss:
                today = dt.datetime.now(dt.timezone.utc).date()
                ss["_range"] = (today - dt.timedelta(days=6), today)
            rng = st.date_input("From – to (UTC days)", key="_range")
            if isinstance(rng, (tuple, list)) and len(rng) == 2:
                ss["from"], ss["to"] = rng[0].isoformat(), rng[1].isoformat()
        opts = group_by_options(cfg) if cfg and targets else ["prefix"]
        if ss["group_by"] not in opts:
            ss["group_by"] = "prefix"
        st.selectbox("Group by", opts, **_bind("group_by"), format_func=lambda k: group_by_label(cfg, k))
        sel_targets = [t for t in targets if ss["account"] in (ALL, t["account"]) and ss["region"] in (ALL, t["region"])]
        group_names = sorted({g for t in sel_targets for g in
                              queries.group_map(cfg, t["account"], t["region"], ss["group_by"]).values()})
        ss["groups"] = [g for g in ss["groups"] if g in group_names]
        st.multiselect("Groups", group_names, **_bind("groups"), format_func=fmt.group_label,
                       placeholder="all groups")
        st.text_input("Function search", **_bind("q"), placeholder="part of a function name")
        start, end = window_bounds(ss["window"], ss["from"], ss["to"], queries.now())
        shown(cfg, ss["window"])
        if cfg:
            freshness(cfg)
    write_query_params()
    return Selection(ctx, cfg, ss["account"], ss["region"], ss["window"], start, end, ss["group_by"],
                     list(ss["groups"]), ss["q"], sel_targets)


def selection(ctx: Context) -> Selection:
    """The current selection without drawing the sidebar (the wall screen): the URL's account, region and
    window, every group."""
    ss = st.session_state
    cfg = ctx.cfg or ""
    targets = queries.targets(cfg) if cfg and queries.version(cfg) else []
    sel_targets = [t for t in targets if ss["account"] in (ALL, t["account"]) and ss["region"] in (ALL, t["region"])]
    if ss["window"] not in WINDOW_OPTIONS:
        ss["window"] = DEFAULTS["window"]
    start, end = window_bounds(ss["window"], ss["from"], ss["to"], queries.now())
    shown(cfg, ss["window"])
    return Selection(ctx, cfg, ss["account"], ss["region"], ss["window"], start, end, ss["group_by"], [], "",
                     sel_targets)


def signed_in() -> None:
    """Who is signed in, and a way out (only with sign-in configured)."""
    if not st.user.get("is_logged_in"):
        return
    who = st.user.get("email") or st.user.get("name") or "unknown user"
    st.caption(f"Signed in as **{fmt.md(who)}**")
    if st.button("Sign out", key="_sign_out", icon=":material/logout:"):
        st.logout()
        st.stop()   # st.logout does not stop the script


@st.cache_data(ttl=REFRESH_S, show_spinner=False)
def alert_failures(cfg: str, ver: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """Alert destinations (masked) with undelivered messages; [] when there are none (or no alert state yet)."""
    from collectors.store import Store, StoreError
    store = Store(queries.settings(cfg).store, readonly=True)
    try:
        return store.alert_failures()
    except StoreError:
        return []
    finally:
        store.close()


def render_alert_failures(cfg: str) -> None:
    """Alerts the collector could not deliver (it tries again every cycle): never dropped silently."""
    now = queries.now()
    for f in alert_failures(cfg, queries.version(cfg)):
        st.error(f"{f['pending']} alert(s) not delivered to `{f['label']}` (first failure {fmt.age(f['since'], now)}, "
                 f"{f['attempts']} attempt(s); the collector tries again every cycle): {fmt.md(f['failure'])}",
                 icon=":material/notifications_off:")


def freshness(cfg: str) -> None:
    """Data age and collection errors; reruns the app when the collector has written new data."""
    waiting = not queries.version(cfg) or not queries.targets(cfg)

    @st.fragment(run_every=WAITING_REFRESH_S if waiting else REFRESH_S)
    def _fresh() -> None:
        if queries.version(cfg) != st.session_state.get("_ver_rendered"):
            st.rerun()
        render_freshness(cfg)
    _fresh()


def cycle_deadline_s(collection: Collection) -> float:
    """How long a cycle may run: the config's collection deadline, else (configs without one) its interval."""
    return getattr(collection, "deadline_seconds", None) or collection.interval_seconds


def cycle_interrupted(running_since: float | None, now: float, collection: Collection) -> bool:
    """An unfinished cycle older than its deadline plus a margin is dead (a killed collector never
    writes finished_at), not running; False when no cycle is unfinished."""
    return running_since is not None and now - running_since > cycle_deadline_s(collection) + INTERRUPTED_MARGIN_S


def render_freshness(cfg: str) -> None:
    now = queries.now()
    st.divider()
    if not queries.version(cfg):
        st.caption("No data collected yet.")
        return
    s = queries.status(cfg)
    collection = queries.settings(cfg).collection
    interval = collection.interval_seconds
    interrupted = cycle_interrupted(s.running_since, now, collection)
    running = s.running_since is not None and not interrupted
    # the first cycle under way is not a stopped collector; a killed one is
    stale = (s.last_data_at is None and not running) or \
        (s.last_data_at is not None and now - s.last_data_at > 3 * interval)
    text = f"Data updated {fmt.age(s.last_data_at, now)} · collected every {fmt.duration(interval)}"
    if stale:
        st.warning(f"{text}. The collector seems stopped: is `python -m collectors collect --every "
                   f"{interval}` running?", icon="⏱️")
    else:
        st.caption(text)
    behind = [] if stale else s.behind(now, collection.max_age_seconds)
    if behind:
        # several collectors share the store: the others' cycles keep the age above young
        names = ", ".join(f"{r.target} {r.region}" for r in behind[:6]) + (" …" if len(behind) > 6 else "")
        st.warning(f"{len(behind)} target region(s) not collected for over {fmt.duration(collection.max_age_seconds)} "
                   f"({names}): the collector that had them seems stopped (with leases another one takes them "
                   "over within a few cycles).", icon="⏱️")
    if interrupted:
        st.warning(f"Last cycle interrupted (started {fmt.age(s.running_since, now)}, never finished).", icon="⏱️")
    elif running:
        st.caption(f"Collecting now (cycle started {fmt.age(s.running_since, now)}).")
    if s.errors:
        st.error(f"{len(s.errors)} collection error(s) in the latest cycle: numbers may be incomplete.", icon="⚠️")
        for e in s.errors[:8]:
            st.caption(f"**{fmt.md(e['target'])} · {fmt.md(e['region'])}** · {fmt.md(e['api'])}: "
                       f"**{fmt.md(e['code'])}** {fmt.md(e['message'][:300])}")
        if len(s.errors) > 8:
            st.caption(f"… and {len(s.errors) - 8} more (Overview lists them all).")
    else:
        st.caption("No collection errors in the latest cycle.")
    render_alert_failures(cfg)
    render_cost(cfg)


def render_cost(cfg: str) -> None:
    """The CloudWatch bill of collecting: metrics per cycle, per day and the monthly forecast, by tier."""
    bill = queries.cost(cfg)
    if bill is None:
        return
    c = queries.settings(cfg).collection
    with st.expander(f"CloudWatch cost ≈ ${bill.monthly_usd:,.2f}/month", icon=":material/payments:"):
        per_fn = "" if bill.per_function_month_usd is None else \
            f" (${bill.per_function_month_usd:,.3f} per function, {bill.functions:,} functions)"
        st.caption(f"Forecast at these settings{per_fn}: metrics strategy **{c.metrics_strategy}**, account "
                   f"every {fmt.duration(c.interval_seconds)}, functions every "
                   f"{fmt.duration(c.function_interval_seconds)}.")
        # lines, not a table: the sidebar is too narrow for three columns
        lines = [f"**{label}**: {bill.last_cycle[k]:,} last cycle · {bill.per_day[k]:,.0f} a day"
                 for k, label in (("account", "account metrics"), ("function", "function metrics"),
                                  ("queue", "DLQ metrics"), ("discovery", "ListMetrics calls"))]
        st.caption("  \n".join(lines))


# -- shared page helpers -----------------------------------------------------------------------
def selected_reviews(cfg: str, sel: Selection) -> Iterator[tuple[str, str, review.TargetReview, dict[str, str]]]:
    """(account, region, its review, function -> group) for each selected target that has data."""
    by = queries.targets_by_key(cfg, sel.start, sel.end)   # one cached lookup, not one per account-region
    for tinfo in sel.targets:
        a, r = tinfo["account"], tinfo["region"]
        t = by.get((a, r))
        if t is not None:
            yield a, r, t, sel.group_map(a, r)


def current() -> Selection:
    """The selection the router resolved for this run."""
    return st.session_state["_sel"]


def link_params(**overrides: Any) -> dict[str, Any]:
    """Query params for a link to another page: the current selection with some of it changed
    (an empty value clears that selection, e.g. groups=[])."""
    values: dict[str, Any] = dict(st.session_state.get("_qp_written") or {})
    values.update(overrides)
    return {QP_NAMES.get(k, k): v for k, v in values.items() if v not in ("", [], None)}


def incident_window(last_seen: float | None, now: float | None = None) -> str:
    """The preset window that frames something last seen at `last_seen`: the last hour while it is
    happening now (seen in the last 15 minutes), 6 h or 24 h when it is that recent; the current window
    otherwise (or when unknown)."""
    current = str(st.session_state.get("window") or DEFAULTS["window"])
    if last_seen is None:
        return current
    ago = (queries.now() if now is None else now) - last_seen
    for limit, w in ((15 * 60, "1h"), (5 * 3600, "6h"), (20 * 3600, "24h")):
        if ago <= limit:
            return w
    return current


def function_link(account: str, region: str, name: str) -> str:
    """A relative link to the function page (paste-able: the selections ride along)."""
    from urllib.parse import urlencode
    return "function?" + urlencode(link_params(account=account, region=region, fn=name), doseq=True)


def require_data(sel: Selection) -> None:
    """Stop the page with an explanation when there is nothing to show yet."""
    ctx = sel.ctx
    if ctx.cfg is None:
        st.error("No config was given and the simulated fleet could not start:")
        st.code(ctx.error or "unknown error", language=None)
        st.markdown("Start the dashboard on your own fleet instead: "
                    "`python -m streamlit run dashboard/app.py -- --config fleet.toml` "
                    "(or set `HEADROOM_CONFIG=fleet.toml`); copy `fleet.example.toml` to begin.")
        st.stop()
    if not queries.version(sel.cfg) or not queries.targets(sel.cfg):
        if ctx.demo:
            rt = ctx.demo_runtime
            st.info(f"Simulated fleet: {rt.phase}… (started {fmt.duration(time.time() - rt.started_at)} ago). "
                    "Collecting the first cycle; this page fills in as soon as the first account lands.", icon="⏳")
            if rt.error:
                st.error("The simulated fleet failed:")
                st.code(rt.error, language=None)
        else:
            s = queries.settings(sel.cfg)
            st.info(f"No data yet in `{fmt.md(s.store_label)}`. Run the collector: "
                    f"`python -m collectors collect --config {fmt.md(sel.cfg)} --every "
                    f"{s.collection.interval_seconds}` — this page fills in when its first cycle lands.", icon="⏳")
            if queries.version(sel.cfg):
                errs = queries.status(sel.cfg).errors
                if errs:
                    st.error("The last cycle collected nothing; every target failed (see the errors in the sidebar).")
        st.stop()
    if not sel.targets:
        st.warning("No collected account matches the selected account and region. Choose **All** in the sidebar.")
        st.stop()


def target_title(t: Any) -> str:
    return fmt.md(fmt.target_label(t.target, t.account, t.region))
