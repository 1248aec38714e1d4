"""The only data access the pages use: cached calls into analysis.review / history / triage.

Every cached function takes the config path and a `version` (what the store's latest write looks
like), so a new collection cycle invalidates the cache at once while repeated renders of the same
data cost nothing. Widgets are never read in here.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from collectors import config
from analysis import history, review as rv, triage
from analysis import cost as costs
from collectors.store import Store, StoreError
from dashboard import charts

P = ParamSpec("P")
R = TypeVar("R")

TTL = 3600          # an upper bound; the version key does the real invalidation
MAX_ENTRIES = 4096   # per query: an entry per (account, region, window), and an organisation has hundreds of
#                      account-regions (at 64 a page over 400 of them evicted its own entries: every render missed)
SHARED_ENTRIES = 16  # reviews (one object each, large at 10,000 functions): a few windows and versions


@st.cache_resource(show_spinner=False)
def settings(cfg: str) -> config.Settings:
    """The validated config (raises config.ConfigError for the page to explain)."""
    return config.load(cfg)


def _store(cfg: str) -> Store:
    return Store(settings(cfg).store, readonly=True)


@st.cache_data(ttl=2, show_spinner=False)
def version(cfg: str) -> tuple[Any, ...] | None:
    """The store's write marker; None while there is no store file yet."""
    s = _store(cfg)
    try:
        return s.data_version()
    except StoreError:
        return None
    finally:
        s.close()


def _cached(fn: Callable[Concatenate[Store, str, P], R], shared: bool = False) -> Callable[Concatenate[str, P], R]:
    """Cache `fn(store, cfg, *args)` on (its name, cfg, version, args); the store is opened per call.
    Typed as `fn` without its store, so the pages are checked against what it returns (None included).
    `shared`: one object for every session (st.cache_resource), not a pickled copy per call: for the
    review, whose copy costs about a second at 10,000 functions; pages only read it."""
    def cached(name: str, cfg: str, ver: tuple[Any, ...] | None, *args: Any, **kwargs: Any) -> Any:
        s = _store(cfg)
        try:
            return fn(s, cfg, *args, **kwargs)
        finally:
            s.close()
    # Streamlit keys a cache by the function's module, qualified name and source: make each distinct.
    cached.__qualname__ = cached.__name__ = f"q_{fn.__name__}"
    cache = st.cache_resource if shared else st.cache_data
    cached_data = cache(ttl=TTL, max_entries=SHARED_ENTRIES if shared else MAX_ENTRIES, show_spinner=False)(cached)

    def call(cfg: str, *args: P.args, **kwargs: P.kwargs) -> R:
        return cached_data(fn.__name__, cfg, version(cfg), *args, **kwargs)
    call.__doc__ = fn.__doc__
    call.__name__ = fn.__name__
    return call


@_cached
def cost(s: Store, cfg: str) -> costs.Cost | None:
    """The CloudWatch bill of collecting, at the current settings (None before the first cycle)."""
    return costs.cost(s, time.time(), settings(cfg).collection)


@_cached
def status(s: Store, cfg: str) -> triage.DataStatus:
    """Freshness and the latest collection errors."""
    return triage.data_status(s)


def _review(s: Store, cfg: str, start: int, end: int) -> rv.Review:
    """The same review `python -m collectors check` prints for [start, end)."""
    st_ = settings(cfg)
    return rv.review(s, start, end, st_.thresholds, "prefix",
                     expected=st_.expected(),
                     max_age_s=st_.collection.max_age_seconds,
                     function_max_age_s=st_.collection.function_max_age_seconds)


review = _cached(_review, shared=True)
review.__name__ = "review"


def targets_by_key(cfg: str, start: int, end: int) -> dict[tuple[str | None, str], rv.TargetReview]:
    """The review's targets by (account, region) (the first of each)."""
    out: dict[tuple[str | None, str], rv.TargetReview] = {}
    for t in review(cfg, start, end).targets:
        out.setdefault((t.account, t.region), t)
    return out


def target(cfg: str, start: int, end: int, account: str, region: str) -> rv.TargetReview | None:
    return targets_by_key(cfg, start, end).get((account, region))


@_cached
def groups(s: Store, cfg: str, start: int, end: int, account: str, region: str, kind: str) -> list[rv.GroupReview]:
    t = target(cfg, start, end, account, region)
    return triage.regroup(s, t, kind, settings(cfg).grouping, start, end) if t else []


def stored_group(cfg: str, kind: str, name: str) -> tuple[str, str] | None:
    """(the stored kind, name) when the collector keeps summaries of this grouping's group `name`
    (a configured grouping; functions without the tag are no stored group), else None."""
    sk = triage.stored_kind(kind, settings(cfg).grouping)
    return (sk, name) if sk is not None and name != triage.NO_GROUP else None


@_cached
def throttling(s: Store, cfg: str, start: int, end: int, account: str, region: str) -> list[triage.ThrottleRow]:
    t = target(cfg, start, end, account, region)
    return triage.throttling(s, t, start, end) if t else []


@_cached
def queues(s: Store, cfg: str, start: int, end: int, account: str, region: str) -> list[triage.QueueRow]:
    t = target(cfg, start, end, account, region)
    return triage.dead_letter_queues(s, t, start, end) if t else []


@_cached
def spillover(s: Store, cfg: str, start: int, end: int, account: str, region: str) -> list[triage.SpilloverRow]:
    t = target(cfg, start, end, account, region)
    return triage.spillover(s, t, start, end) if t else []


@_cached
def limit_trends(s: Store, cfg: str, start: int, end: int, account: str, region: str, weeks: int,
                 ) -> list[triage.LimitTrend]:
    t = target(cfg, start, end, account, region)
    return triage.limit_trends(s, t, weeks, end) if t else []


@_cached
def account_history(s: Store, cfg: str, account: str, region: str, start: int, end: int) -> pd.DataFrame:
    rows = s.account_history(account, region, start, end)
    df = pd.DataFrame(rows)
    if not df.empty:
        df.index = pd.to_datetime(df["ts"], unit="s", utc=True)
    return df


@_cached
def chart_step(s: Store, cfg: str, account: str, region: str, start: int, end: int) -> int:
    """The bucket size of the target's charts over [start, end) (charts.step over what is stored)."""
    return charts.step(start, end, s.coarsest_step(account, region, "AccountConcurrentExecutions", start, end))


TAIL_S = 3600   # a chart's last hour is read again after each cycle; the time before it is cached apart


def window_version(cfg: str, account: str, region: str, start: int, end: int) -> tuple[Any, ...]:
    """What the store's writes into [start, end) of (account, region) look like (Store.window_version),
    with the function count (a sum over every function is known only where each was collected)."""
    s = _store(cfg)
    try:
        return (*s.window_version(account, region, start, end), s.function_count())
    finally:
        s.close()


@st.cache_data(ttl=TTL, max_entries=256, show_spinner=False)   # chart parts: the charts a team has open
def _series_part(cfg: str, ver: tuple[Any, ...], account: str, region: str, metrics: tuple[str, ...], start: int,
                 end: int, step: int, dims: tuple[str, ...] | None, resource: str | None,
                 group: tuple[str, str] | None = None) -> pd.DataFrame:
    s = _store(cfg)
    try:
        data = {m: history.timeseries(s, account, region, m, start, end, step, dims=list(dims) if dims is not None
                                      else None, resource=resource, group=group) for m in metrics}
    finally:
        s.close()
    idx: pd.DatetimeIndex | list[int] = (pd.to_datetime([ts for ts, _ in next(iter(data.values()))], unit="s", utc=True)
                                         if data else [])
    return pd.DataFrame({m: [float("nan") if v is None else v for _, v in pts] for m, pts in data.items()}, index=idx)


def series(cfg: str, account: str, region: str, metrics: tuple[str, ...], start: int, end: int, step: int,
           dims: tuple[str, ...] | None = None, resource: str | None = None,
           group: tuple[str, str] | None = None) -> pd.DataFrame:
    """One column per metric key; index UTC time; NaN where the bucket was not collected. `group`
    (stored_group's answer, when `dims` are all of that group's members): concurrency from its summaries.

    The start is aligned down to the step so the first bucket holds every point it covers (an hourly
    point before the window's first minute would otherwise leave a false zero there). Cached in two
    parts, each on the writes into its own time: the window up to its last hour (whole steps) survives
    every cycle that writes only newer minutes, and is read again only when something changes there (a
    backfill, a re-read hole, a rollup); the last hour is read again after each cycle.
    """
    start = start // step * step
    cut = max(start, (end - TAIL_S) // step * step)
    parts = [(lo, hi) for lo, hi in ((start, cut), (cut, end)) if hi > lo] or [(start, end)]
    frames = [_series_part(cfg, window_version(cfg, account, region, lo, hi), account, region, metrics, lo, hi, step,
                           dims, resource, group) for lo, hi in parts]
    return frames[0] if len(frames) == 1 else pd.concat(frames)


@_cached
def function_detail(s: Store, cfg: str, account: str, region: str, name: str) -> triage.FunctionDetail | None:
    return triage.function_detail(s, account, region, name)


@_cached
def function_names(s: Store, cfg: str, account: str, region: str) -> list[str]:
    return s.function_names(account, region)


@_cached
def aliases(s: Store, cfg: str, account: str, region: str, name: str) -> list[str]:
    """Qualifiers with provisioned concurrency or provisioned metrics for a function."""
    return s.aliases(account, region, name)


@_cached
def targets(s: Store, cfg: str) -> list[dict[str, Any]]:
    """Stored (target, account, region) triples, for the sidebar."""
    return [{k: a[k] for k in ("target", "account", "region")} for a in s.accounts()]


@_cached
def tag_keys(s: Store, cfg: str) -> list[str]:
    """Every tag key on any stored function (group-by choices beyond the configured ones)."""
    return s.tag_keys()


def now() -> float:
    """The clock the pages use (one place, so tests could pin it)."""
    return time.time()


@_cached
def group_map(s: Store, cfg: str, account: str, region: str, kind: str) -> dict[str, str]:
    """Function name -> its group under `kind` ("" = without the tag)."""
    g = settings(cfg).grouping
    return {name: triage.group_of(name, f["groups"], f["tags"], kind, g) for name, f in s.functions(account, region).items()}
