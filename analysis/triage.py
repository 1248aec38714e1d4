"""Triage and limit-review analysis the dashboard needs beyond review.py (pure over store data).

Everything here reads the store or a `review.TargetReview` and returns plain records; nothing
formats or draws. Unknown stays None (never 0): a window that was not collected has no value.
"""
from __future__ import annotations

import heapq
import time

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from collectors.catalogue import metrics_for
from collectors.config import Grouping
from collectors.grouping import prefix_group
from collectors.store import Store

from . import history
from .review import SEVERITY, UNRESERVED_FLOOR, FunctionReview, GroupReview, TargetReview, group_totals

EPISODE_GAP_S = 900   # a throttling streak ends after 15 minutes without a throttle
NO_GROUP = ""         # group name of functions without the tag (an empty tag is no tag, as in grouping.py)


# -- the window and the data's age ----------------------------------------------------------------
@dataclass
class TargetRun:
    target: str
    region: str
    account: str | None   # None: the target could not even be identified (session failed)
    finished_at: float
    functions: int | None
    error_count: int


@dataclass
class DataStatus:
    cycles_finished: int
    running_since: float | None          # a cycle that started and has not finished
    last_cycle_finished_at: float | None
    last_data_at: float | None           # latest target written (a cycle may still be running)
    runs: list[TargetRun] = field(default_factory=list)   # the latest run of each (target, region)
    errors: list[dict[str, Any]] = field(default_factory=list)  # latest finished cycle's errors

    def behind(self, now: float, max_age_s: float) -> list[TargetRun]:
        """The (target, region)s whose latest collection ended more than max_age_s before `now`, by
        target and region: nobody is collecting them. With several collectors on one store the others'
        fresh cycles keep last_data_at young, so a dead collector's targets show only here (and as stale
        in the review)."""
        return [r for r in self.runs if now - r.finished_at > max_age_s]


def data_status(store: Store) -> DataStatus:
    """How fresh the store is and what failed; empty (cycles_finished 0, no runs) before the first write."""
    finished, last, running, cur = store.cycle_state()
    runs = [TargetRun(r["target"], r["region"], r["account"], r["finished_at"], r["functions"], r["error_count"])
            for r in store.latest_runs()]
    # Errors of the latest finished cycle, plus those already written by a running one (fresher).
    errors = store.latest_errors()
    if running is not None and cur is not None:
        done = store.targets_written(cur)
        errors = [e for e in errors if (e["target"], e["region"]) not in done] + store.errors(cur)
    last_data = max((r.finished_at for r in runs), default=None)
    return DataStatus(finished, running, last, last_data, runs, errors)


# -- what is wrong now -------------------------------------------------------------------------------
@dataclass
class ThrottleRow:
    account: str
    region: str
    function: str
    group: str | None
    throttles: float
    invocations: float | None
    throttle_rate: float | None       # throttles / (invocations + throttles): share of attempts rejected
    peak_concurrency: float | None
    reserved_concurrency: int | None
    since: int | None                 # start of the latest throttling streak (epoch s)
    last_seen: int | None
    status: str                       # the function's, from the review
    reason: str                       # why, from the review ("" when ok)


def _nonzero_points(store: Store, account: str, region: str, metric: str, start: int, end: int,
                    ) -> dict[str, list[tuple[int, int]]]:
    """dim -> [(ts, step)] of non-zero points, ascending."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _, dim, _, ts, v, step in sorted(store.series_points(account, region, [metric], start, end),
                                         key=lambda p: (p[1], p[3])):
        if v > 0:
            out[dim].append((ts, step))
    return out


def streak_start(points: Sequence[tuple[int, int]], gap_s: int = EPISODE_GAP_S) -> int | None:
    """Start of the latest run of (ts, step) points with no silence longer than gap_s between them."""
    if not points:
        return None
    since = points[-1][0]
    for (ts, step), (nxt, _) in zip(reversed(points[:-1]), reversed(points[1:])):
        if nxt - (ts + step) > gap_s:
            break
        since = ts
    return since


def throttling(store: Store, t: TargetReview, start: int, end: int) -> list[ThrottleRow]:
    """Functions that throttled in [start, end), worst first (status, then throttle count)."""
    points = _nonzero_points(store, _account(t), t.region, "Throttles", start, end)
    rows = []
    for f in t.functions:
        if not f.throttles:
            continue
        inv = f.invocations
        rate = f.throttles / (inv + f.throttles) if inv is not None else None
        pts = points.get(f.name, [])
        rows.append(ThrottleRow(_account(t), t.region, f.name, f.groups.get("prefix"), f.throttles, inv, rate,
                                f.peak_concurrency, f.reserved_concurrency, streak_start(pts),
                                pts[-1][0] if pts else None, f.status, _reason(f)))
    return sorted(rows, key=lambda r: (-SEVERITY[r.status], -r.throttles, r.function))


@dataclass
class AsyncRow:
    account: str
    region: str
    function: str
    group: str | None
    async_events_dropped: float | None
    dead_letter_errors: float | None
    destination_delivery_failures: float | None
    max_async_event_age_ms: float | None
    dlq_arn: str | None
    on_failure_arn: str | None
    status: str                   # the function's, from the review
    reason: str


def async_failures(t: TargetReview) -> list[AsyncRow]:
    """Functions that dropped or lost async events, worst first (events lost before events dropped)."""
    rows = [AsyncRow(_account(t), t.region, f.name, f.groups.get("prefix"), f.async_events_dropped,
                     f.dead_letter_errors, f.destination_delivery_failures, f.max_async_event_age_ms,
                     f.dlq_arn, f.on_failure_arn, f.status, _reason(f))
            for f in t.functions
            if f.async_events_dropped or f.dead_letter_errors or f.destination_delivery_failures]
    return sorted(rows, key=lambda r: (-SEVERITY[r.status], -((r.dead_letter_errors or 0)
                                                              + (r.destination_delivery_failures or 0)),
                                       -(r.async_events_dropped or 0), r.function))


@dataclass
class QueueRow:
    account: str
    region: str
    name: str
    arn: str
    visible: int | None          # live depth (GetQueueAttributes); None = not measurable / not read
    not_visible: int | None
    delayed: int | None
    error: str | None
    oldest_age_s: float | None   # latest ApproximateAgeOfOldestMessage in the window
    growth_per_hour: float | None  # live depth minus the depth an hour earlier, per hour
    peak_visible: float | None
    feeders: list[str]           # functions whose DLQ or on-failure destination it is
    status: str                  # the queue's, from the review
    reason: str


def queue_growth(now_visible: int | None, now_ts: float, before: float | None, before_ts: float) -> float | None:
    """Messages per hour from an earlier depth to the live one; None when either is unknown."""
    if now_visible is None or before is None or now_ts <= before_ts:
        return None
    return (now_visible - before) * 3600 / (now_ts - before_ts)


def dead_letter_queues(store: Store, t: TargetReview, start: int, end: int) -> list[QueueRow]:
    """Every stored dead-letter queue of the target with depth, age and growth, deepest first."""
    feeders: dict[str, list[str]] = defaultdict(list)
    for f in t.functions:
        for arn in {f.dlq_arn, f.on_failure_arn}:
            if arn is not None:
                feeders[arn].append(f.name)
    # the latest age and the peak depth of each queue, from the series-hours' summaries and one row each
    ages = {dim: v for (dim, _), v in store.latest_values(_account(t), t.region, "DLQOldestAge", start, end).items()}
    peaks = {dim: peak for (_, dim, _), (_, peak) in
             store.aggregates(_account(t), t.region, start, end, ["DLQVisible"]).items()}
    reviewed = {qr.arn: qr for qr in t.queues}
    rows = []
    for q in store.queues(_account(t), t.region):
        # The live depth against the metric an hour earlier (or at the window's start): the newest
        # minutes of the metric are often not published yet and would read as an empty queue.
        ref = max(start, int(q["updated_at"]) - 3600) // 60 * 60
        then = [p[4] for p in store.series_points(_account(t), t.region, ["DLQVisible"], ref, ref + 60, [q["name"]])]
        before = max(then) if then else 0.0 if store.coverage(_account(t), t.region, ref, ref + 60, "queue",
                                                              [q["name"]]) else None
        covered = bool(store.coverage(_account(t), t.region, start, end, "queue", [q["name"]]))
        verdict = reviewed.get(q["arn"])
        visible, error = q["visible"], q["error"]
        if t.health is not None and t.health.stale and visible is not None:
            # the collector has not read it lately: the last depth is history, not what waits now
            visible, error = None, (f"stale: {visible:,} message(s) when last read "
                                    f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(q['updated_at']))}")
        # no age point while messages wait: the age is not published yet, not 0 s
        age = ages.get(q["name"], 0.0 if covered and visible == 0 else None)
        rows.append(QueueRow(
            _account(t), t.region, q["name"], q["arn"], visible, q["not_visible"] if visible is not None else None,
            q["delayed"] if visible is not None else None, error, age,
            queue_growth(visible, q["updated_at"], before, ref),
            peaks.get(q["name"], 0.0 if covered else None), sorted(feeders.get(q["arn"], [])),
            verdict.status if verdict else "unknown", verdict.reason if verdict else "not in the review"))
    return sorted(rows, key=lambda r: (r.visible is None, -(r.visible or 0), -(r.growth_per_hour or 0), r.name))


@dataclass
class SpilloverRow:
    account: str
    region: str
    function: str
    qualifier: str
    spillover: float
    provisioned: int | None                # allocated (or requested) for this alias, None if not configured now
    peak_provisioned_executions: float | None
    max_utilization: float | None          # 0-1
    status: str                            # the function's spillover verdict, from the review


def spillover(store: Store, t: TargetReview, start: int, end: int) -> list[SpilloverRow]:
    """Aliases whose invocations spilled over their provisioned concurrency, most spillover first."""
    agg: dict[tuple[str, str], dict[str, tuple[float, float]]] = defaultdict(dict)
    for (metric, dim, res), sum_max in store.aggregates(_account(t), t.region, start, end,
                                                        [m.key for m in metrics_for("alias")]).items():
        agg[(dim, res)][metric] = sum_max   # from the hours' summaries, not every point
    prov = {(r["function"], r["qualifier"]): (r["allocated"] or r["requested"])
            for r in store.provisioned(_account(t), t.region)}
    fns = {f.name: f for f in t.functions}
    rows = []
    for (fn, qual), m in agg.items():
        spill = m.get("ProvisionedConcurrencySpilloverInvocations", (0.0, 0.0))[0]
        if spill <= 0:
            continue
        rows.append(SpilloverRow(_account(t), t.region, fn, qual, spill, prov.get((fn, qual)),
                                 m.get("ProvisionedConcurrentExecutions", (None, None))[1],
                                 m.get("ProvisionedConcurrencyUtilization", (None, None))[1],
                                 fns[fn].verdict("provisioned_spillover").status or "ok" if fn in fns else "unknown"))
    return sorted(rows, key=lambda r: (-SEVERITY[r.status], -r.spillover, r.function, r.qualifier))


# -- the weekly limit review -------------------------------------------------------------------------
@dataclass
class LimitTrend:
    key: str                     # concurrency | claimed_concurrency | reserved_allocation | code_storage
    label: str
    unit: str                    # count | bytes
    limit: float | None
    weeks: list[tuple[int, float | None]]   # (week start, peak) oldest first; None = not collected
    slope_per_week: float | None
    weeks_until: float | None    # at the trend's rate; None if flat, falling or unknown
    latest: float | None         # the last 7 days' peak; None if they were not collected (never an older week's)


def _history_weekly(store: Store, account: str, region: str, column: str, weeks: int, now: float,
                    ) -> list[tuple[int, float | None]]:
    start, end, align = history.last_weeks(now, weeks)
    by_week: dict[int, float] = {}
    for row in store.account_history(account, region, start, end):
        ts, v = row["ts"], row[column]
        if v is None:
            continue
        w = align(ts)
        by_week[w] = max(by_week.get(w, v), v)
    return [(w, by_week.get(w)) for w in range(start, end, history.WEEK)]


def limit_trends(store: Store, t: TargetReview, weeks: int, now: float) -> list[LimitTrend]:
    """Weekly peaks of each account limit's usage over the last `weeks` weeks, with the trend to the limit.

    Concurrency from the 1-minute metrics (rolled up with max); reserved allocation and code storage
    from the hourly account snapshots. Weeks not collected are None.
    """
    out = []
    limit = t.concurrency_limit
    for key, metric, label in (("concurrency", "AccountConcurrentExecutions", "Peak concurrent executions"),
                               ("claimed_concurrency", "ClaimedAccountConcurrency", "Peak claimed concurrency")):
        pts = history.weekly_peaks(store, _account(t), t.region, metric, weeks, now)
        out.append(_trend(key, label, "count", limit, pts))
    reservable = limit - UNRESERVED_FLOOR if limit and limit > UNRESERVED_FLOOR else None
    out.append(_trend("reserved_allocation", "Reserved concurrency allocated", "count", reservable,
                      _history_weekly(store, _account(t), t.region, "reserved_total", weeks, now)))
    out.append(_trend("code_storage", "Code storage used", "bytes", t.code_storage_limit_bytes,
                      _history_weekly(store, _account(t), t.region, "code_storage_used", weeks, now)))
    return out


def _trend(key: str, label: str, unit: str, limit: float | None, pts: list[tuple[int, float | None]]) -> LimitTrend:
    slope, until = history.weeks_until(pts, limit)
    return LimitTrend(key, label, unit, limit, pts, slope, until, pts[-1][1] if pts else None)


@dataclass
class CodeHolder:
    function: str
    group: str | None
    code_size_bytes: int
    all_versions_bytes: int
    old_versions_bytes: int     # what deleting unused versions would free
    version_count: int
    share_of_used: float | None  # of the account's code storage used (0-1)


def code_holders(t: TargetReview, n: int = 20, keep: Callable[[FunctionReview], bool] | None = None
                 ) -> list[CodeHolder]:
    """The n functions (of those `keep` keeps) holding the most code storage, every version counted, largest
    first."""
    used = t.code_storage_used_bytes
    fs = heapq.nsmallest(n, t.functions if keep is None else filter(keep, t.functions),
                         key=lambda f: (-f.code_size_all_versions_bytes, f.name))
    return [CodeHolder(f.name, f.groups.get("prefix"), f.code_size_bytes, f.code_size_all_versions_bytes,
                       max(0, f.code_size_all_versions_bytes - f.code_size_bytes), f.version_count,
                       f.code_size_all_versions_bytes / used if used else None) for f in fs]


def old_versions_bytes(t: TargetReview) -> int:
    """What deleting every function's unused versions would free."""
    return sum(max(0, f.code_size_all_versions_bytes - f.code_size_bytes) for f in t.functions)


@dataclass
class OverReserved:
    function: str
    group: str | None
    reserved: int
    peak_concurrency: float
    unused: float           # reserved - peak: concurrency no one else may use
    peak_ratio: float       # peak / reserved


def over_reserved(t: TargetReview, max_ratio: float = 0.5, min_unused: float = 10) -> list[OverReserved]:
    """Functions whose reserved concurrency is far above their peak in the window, most unused first.

    Functions whose peak is unknown (window not collected) are left out rather than called idle.
    """
    rows = [OverReserved(f.name, f.groups.get("prefix"), f.reserved_concurrency, f.peak_concurrency,
                         f.reserved_concurrency - f.peak_concurrency, f.peak_concurrency / f.reserved_concurrency)
            for f in t.functions
            if f.reserved_concurrency and f.peak_concurrency is not None
            and f.peak_concurrency <= max_ratio * f.reserved_concurrency
            and f.reserved_concurrency - f.peak_concurrency >= min_unused]
    return sorted(rows, key=lambda r: (-r.unused, r.function))


# -- grouping other than the stored one ------------------------------------------------------------
def group_of(name: str, groups: dict[str, str], tags: dict[str, str], kind: str, grouping: Grouping) -> str:
    """A function's group under `kind`: "prefix" (as stored), "prefix:N" (name prefix at depth N) or
    "tag:KEY"; NO_GROUP ("") when the function lacks the tag."""
    if kind == "prefix":
        return groups.get("prefix") or prefix_group(name, grouping)
    if kind.startswith("prefix:"):
        return prefix_group(name, grouping, int(kind.split(":", 1)[1]))
    if kind.startswith("tag:"):
        return tags.get(kind[4:]) or NO_GROUP
    raise ValueError(f"unknown group kind {kind!r}: use prefix, prefix:N or tag:KEY")


def stored_kind(kind: str, grouping: Grouping) -> str | None:
    """The function_groups kind equal to `kind`, if the collector stored that grouping."""
    if kind == "prefix" or kind == f"prefix:{grouping.prefix_depth}":
        return "prefix"
    if kind.startswith("tag:") and kind[4:] in grouping.tag_keys:
        return kind
    return None


def regroup(store: Store, t: TargetReview, kind: str, grouping: Grouping, start: int, end: int,
            include_ungrouped: bool = True) -> list[GroupReview]:
    """Group totals like review's, for any grouping (stored or not), sorted by name.

    Peak concurrency is the peak of the group's summed per-minute concurrency. With include_ungrouped,
    functions without the tag form a group named NO_GROUP so that the totals add up.
    """
    members: dict[str, list[FunctionReview]] = defaultdict(list)
    for f in t.functions:
        members[group_of(f.name, f.groups, f.tags, kind, grouping)].append(f)
    if not include_ungrouped:
        members.pop(NO_GROUP, None)
    sk = stored_kind(kind, grouping)
    if sk is not None and NO_GROUP not in members and t.groups and t.groups[0].kind == sk:
        return list(t.groups)   # the review's own grouping: its groups are these, peaks included
    if sk is not None:
        peaks = store.group_peaks(_account(t), t.region, sk, start, end)
        if include_ungrouped and NO_GROUP in members:
            peak = _summed_peak(store, t, [f.name for f in members[NO_GROUP]], start, end)
            if peak is not None:
                peaks[NO_GROUP] = peak
    else:
        peaks = {g: p for g, fs in members.items()
                 if (p := _summed_peak(store, t, [f.name for f in fs], start, end)) is not None}
    return group_totals(kind, members, peaks)


def _summed_peak(store: Store, t: TargetReview, names: list[str], start: int, end: int) -> float | None:
    if not names:
        return None
    sums = store.summed_points(_account(t), t.region, "ConcurrentExecutions", start, end, names)
    return max(v for _, v in sums) if sums else None


# -- one function ----------------------------------------------------------------------------------
@dataclass
class FunctionDetail:
    config: dict[str, Any]               # the stored functions row (tags and groups decoded)
    provisioned: list[dict[str, Any]]    # per qualifier: requested, allocated, available, status
    queues: dict[str, dict[str, Any]]    # arn -> stored queue row (dlq and on-failure destination)


def function_detail(store: Store, account: str, region: str, name: str) -> FunctionDetail | None:
    """The stored configuration of one function, or None if it is not (or no longer) in the inventory."""
    cfg = store.functions(account, region).get(name)
    if cfg is None:
        return None
    prov = store.provisioned(account, region, name)
    arns = [a for a in (cfg["dlq_arn"], cfg["on_failure_arn"]) if a]
    queues = {r["arn"]: r for r in store.queues(account, region, arns)}
    return FunctionDetail(cfg, prov, queues)


def _reason(f: FunctionReview) -> str:
    """The review's first reason for a function's status ("" when ok)."""
    return f.findings[0].message if f.findings else ""


def _account(t: TargetReview) -> str:
    """The target's account: page analysis is only asked of targets that reached AWS."""
    if t.account is None:
        raise ValueError(f"{t.target} {t.region} was never collected: no account to analyse")
    return t.account
