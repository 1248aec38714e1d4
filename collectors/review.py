"""The limit review: headroom, totals and findings from the store (pure over store data).

The CLI's `check` and every dashboard page call this module, so they cannot disagree. Unknown is
None, never 0: a window that was not collected has no peak; inside a collected window an absent
point is a real zero.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Threshold
from .store import Store, union_points

UNRESERVED_FLOOR = 100  # Lambda keeps at least this much concurrency unreserved
SEVERITY = {"ok": 0, "warn": 1, "critical": 2}


@dataclass
class Finding:
    severity: str          # warn | critical
    kind: str              # the threshold name, e.g. "throttles"
    account: str
    region: str
    subject: str           # "account", a function name or a queue name
    value: float
    limit: float | None
    message: str


@dataclass
class FunctionReview:
    name: str
    groups: dict[str, str]
    tags: dict[str, str]
    runtime: str | None
    memory_mb: int | None
    reserved_concurrency: int | None
    provisioned: int
    peak_concurrency: float | None
    invocations: float | None
    errors: float | None
    throttles: float | None
    async_events_dropped: float | None
    dead_letter_errors: float | None
    destination_delivery_failures: float | None
    max_async_event_age_ms: float | None
    max_duration_ms: float | None
    provisioned_spillover: float | None
    code_size_bytes: int
    code_size_all_versions_bytes: int
    version_count: int
    dlq_arn: str | None
    dlq_messages: int | None
    on_failure_arn: str | None
    on_failure_messages: int | None
    status: str = "ok"


@dataclass
class GroupReview:
    kind: str
    name: str
    function_count: int
    peak_concurrency: float | None
    invocations: float | None
    errors: float | None
    throttles: float | None
    reserved_total: int
    async_events_dropped: float | None
    dlq_messages: int | None
    status: str = "ok"


@dataclass
class TargetReview:
    target: str
    account: str
    region: str
    updated_at: float | None
    coverage_ratio: float             # share of the window that was collected (0-1)
    concurrency_limit: int | None
    quota_concurrency: float | None   # Service Quotas' applied value, where readable
    unreserved_limit: int | None
    peak_concurrency: float | None
    peak_claimed_concurrency: float | None
    peak_unreserved_concurrency: float | None
    concurrency_headroom: float | None      # limit - max(peak claimed, peak concurrency)
    concurrency_headroom_pct: float | None  # of the limit, 0-100
    reserved_total: int
    provisioned_total: int
    code_storage_used_bytes: int | None
    code_storage_limit_bytes: int | None
    function_count: int | None
    invocations: float | None
    throttles: float | None
    async_events_dropped: float | None
    dead_letter_errors: float | None
    destination_delivery_failures: float | None
    provisioned_spillover: float | None
    dlq_messages: int | None
    status: str
    functions: list[FunctionReview] = field(default_factory=list)
    groups: list[GroupReview] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Review:
    start: int
    end: int
    status: str
    targets: list[TargetReview]
    findings: list[Finding]
    errors: list[dict[str, Any]]   # the latest cycle's collection errors

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)


def window(now: float, seconds: int) -> tuple[int, int]:
    """The review window [start, end) of the last `seconds`: whole minutes up to the current one,
    which CloudWatch has not finished yet. The CLI's check and the dashboard both use it."""
    now = int(now)
    return (now - seconds) // 60 * 60, now // 60 * 60


def worst(*statuses: str) -> str:
    return max(statuses, key=SEVERITY.__getitem__, default="ok")


def grade(value: float | None, t: Threshold) -> str:
    """ok / warn / critical for a value against a threshold; unknown values are not graded."""
    if value is None:
        return "ok"
    return "critical" if value >= t.critical else "warn" if value >= t.warn else "ok"


def _covered(store: Store, account: str, region: str, start: int, end: int) -> int:
    return sum(e - s for s, e in store.coverage(account, region, start, end))


def _aggregates(store: Store, account: str, region: str, start: int, end: int) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(metric, dim, resource) -> (sum, max) of the points in [start, end)."""
    # Grouped in the series index's order (account, region, metric, dim, resource): no sort of every point.
    arm = """SELECT s.metric AS metric, s.dim AS dim, s.resource AS resource,
                    SUM(p.value) AS total, MAX(p.value) AS peak
             FROM series s JOIN {points} p ON p.series_id = s.id
             WHERE s.account = ? AND s.region = ? AND p.ts >= ? AND p.ts < ? GROUP BY s.metric, s.dim, s.resource"""
    rows = store.query(f"SELECT metric, dim, resource, SUM(total), MAX(peak) FROM ({union_points(arm)}) "
                       f"GROUP BY metric, dim, resource",
                       (account, region, start, end) * 3)
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def group_peaks(store: Store, account: str, region: str, kind: str, start: int, end: int) -> dict[str, float]:
    """Peak of the summed ConcurrentExecutions of each group's functions, minute by minute."""
    arm = """SELECT g.name AS name, p.ts AS ts, p.value AS value
             FROM function_groups g
             JOIN series s ON s.account = g.account AND s.region = g.region AND s.dim = g.function
                           AND s.metric = 'ConcurrentExecutions'
             JOIN {points} p ON p.series_id = s.id
             WHERE g.account = ? AND g.region = ? AND g.kind = ? AND p.ts >= ? AND p.ts < ?"""
    rows = store.query(f"SELECT name, MAX(total) FROM (SELECT name, ts, SUM(value) AS total FROM ({union_points(arm)}) "
                       f"GROUP BY name, ts) GROUP BY name", (account, region, kind, start, end) * 3)
    return {r[0]: r[1] for r in rows}


def review(store: Store, start: int, end: int, thresholds: dict[str, Threshold],
           group_kind: str = "prefix") -> Review:
    """The review of every stored (account, region) over [start, end)."""
    targets = []
    for acc in store.query("SELECT * FROM accounts ORDER BY account, region"):
        targets.append(_target(store, dict(acc), start, end, thresholds, group_kind))
    findings = sorted((f for t in targets for f in t.findings),
                      key=lambda f: (-SEVERITY[f.severity], f.account, f.region, f.kind, f.subject))
    errors = latest_errors(store)
    status = worst(*(t.status for t in targets))
    return Review(start, end, status, targets, findings, errors)


def latest_errors(store: Store) -> list[dict[str, Any]]:
    """Errors of the latest finished cycle (what is failing now)."""
    row = store.query("SELECT MAX(id) FROM cycles WHERE finished_at IS NOT NULL")
    if not row or row[0][0] is None:
        return []
    return [dict(r) for r in store.query(
        "SELECT target, region, account, source, api, code, message, at FROM errors WHERE cycle_id = ? "
        "ORDER BY target, region, source", (row[0][0],))]


def _target(store: Store, acc: dict[str, Any], start: int, end: int, th: dict[str, Threshold],
            group_kind: str) -> TargetReview:
    account, region = acc["account"], acc["region"]
    covered = _covered(store, account, region, start, end)
    known = covered > 0
    agg = _aggregates(store, account, region, start, end)

    # Indexed once: a review asks ~12 figures per function, and scanning every series for each
    # one is O(functions x series).
    by_metric: dict[str, list[tuple[str, str, float, float]]] = defaultdict(list)
    by_dim: dict[tuple[str, str], list[tuple[str, float, float]]] = defaultdict(list)
    for (m, d, res), (sm, mx) in agg.items():
        by_metric[m].append((d, res, sm, mx))
        by_dim[(m, d)].append((res, sm, mx))

    def total(metric: str, dim: str | None = None, resource: str | None = None) -> float | None:
        """Sum over the window, over every matching series; None when nothing was collected."""
        if dim is None:
            vals = [sm for _, res, sm, _ in by_metric.get(metric, ()) if resource is None or res == resource]
        else:
            vals = [sm for res, sm, _ in by_dim.get((metric, dim), ()) if resource is None or res == resource]
        return sum(vals) if vals else (0.0 if known else None)

    def peak(metric: str, dim: str = "") -> float | None:
        vals = [mx for _, _, mx in by_dim.get((metric, dim), ())]
        return max(vals) if vals else (0.0 if known else None)

    functions = store.functions(account, region)
    prov_rows = store.query("SELECT function, qualifier, requested, allocated FROM provisioned "
                            "WHERE account = ? AND region = ?", (account, region))
    prov_by_fn: dict[str, int] = defaultdict(int)
    for p in prov_rows:
        prov_by_fn[p["function"]] += p["allocated"] or p["requested"] or 0
    queues = {q["arn"]: dict(q) for q in store.query("SELECT * FROM queues WHERE account = ? AND region = ?",
                                                     (account, region))}

    def depth(arn: str | None) -> int | None:
        q = queues.get(arn) if arn else None
        return q["visible"] if q else None

    findings: list[Finding] = []

    def check(kind: str, subject: str, value: float | None, limit: float | None, text: str) -> str:
        """Grade value (a ratio for limit-based thresholds, a count otherwise) and record a finding."""
        s = grade(value, th[kind])
        if s != "ok":
            findings.append(Finding(s, kind, account, region, subject, value, limit, text))
        return s

    fn_reviews = []
    for name, f in sorted(functions.items()):
        spill = total("ProvisionedConcurrencySpilloverInvocations", name)
        fr = FunctionReview(
            name=name, groups=f["groups"], tags=f["tags"], runtime=f["runtime"], memory_mb=f["memory_mb"],
            reserved_concurrency=f["reserved_concurrency"], provisioned=prov_by_fn.get(name, 0),
            peak_concurrency=peak("ConcurrentExecutions", name), invocations=total("Invocations", name),
            errors=total("Errors", name), throttles=total("Throttles", name),
            async_events_dropped=total("AsyncEventsDropped", name), dead_letter_errors=total("DeadLetterErrors", name),
            destination_delivery_failures=total("DestinationDeliveryFailures", name),
            max_async_event_age_ms=peak("AsyncEventAge", name), max_duration_ms=peak("DurationMax", name),
            provisioned_spillover=spill, code_size_bytes=f["code_size"],
            code_size_all_versions_bytes=f["code_size_all_versions"], version_count=f["version_count"],
            dlq_arn=f["dlq_arn"], dlq_messages=depth(f["dlq_arn"]), on_failure_arn=f["on_failure_arn"],
            on_failure_messages=depth(f["on_failure_arn"]))
        st = [check("throttles", name, fr.throttles, None, f"{name}: {_n(fr.throttles)} throttles"),
              check("async_events_dropped", name, fr.async_events_dropped, None,
                    f"{name}: {_n(fr.async_events_dropped)} async events dropped"),
              check("dead_letter_errors", name, fr.dead_letter_errors, None,
                    f"{name}: {_n(fr.dead_letter_errors)} dead-letter errors (events lost)"),
              check("destination_delivery_failures", name, fr.destination_delivery_failures, None,
                    f"{name}: {_n(fr.destination_delivery_failures)} destination delivery failures"),
              check("provisioned_spillover", name, spill, None,
                    f"{name}: {_n(spill)} invocations spilled over provisioned concurrency")]
        if fr.reserved_concurrency and fr.peak_concurrency is not None:
            st.append(check("function_concurrency", name, fr.peak_concurrency / fr.reserved_concurrency,
                            fr.reserved_concurrency, f"{name}: peak {_n(fr.peak_concurrency)} of "
                            f"{fr.reserved_concurrency} reserved"))
        fr.status = worst(*st)
        fn_reviews.append(fr)

    # Dead-letter queues, once each however many functions feed them.
    for arn, q in sorted(queues.items()):
        if q["visible"] is not None:
            check("dlq_messages", q["name"], q["visible"], None, f"DLQ {q['name']}: {q['visible']} messages waiting")

    limit = acc["concurrency_limit"]
    peak_conc, peak_claimed = peak("AccountConcurrentExecutions"), peak("ClaimedAccountConcurrency")
    reserved_total = sum(f["reserved_concurrency"] or 0 for f in functions.values())
    provisioned_total = sum(prov_by_fn.values())
    used = max((v for v in (peak_conc, peak_claimed) if v is not None), default=None)
    headroom = limit - used if limit and used is not None else None
    readable = [q["visible"] for q in queues.values() if q["visible"] is not None]
    dlq_messages = sum(readable) if readable or not queues else None
    st = []
    if limit:
        st.append(check("concurrency", "account", _ratio(peak_conc, limit), limit,
                        f"peak concurrency {_n(peak_conc)} of {limit} ({_pct(peak_conc, limit)})"))
        st.append(check("claimed_concurrency", "account", _ratio(peak_claimed, limit), limit,
                        f"peak claimed concurrency {_n(peak_claimed)} of {limit} ({_pct(peak_claimed, limit)})"))
        if limit > UNRESERVED_FLOOR:
            st.append(check("reserved_allocation", "account", reserved_total / (limit - UNRESERVED_FLOOR),
                            limit - UNRESERVED_FLOOR, f"{reserved_total} reserved of the {limit - UNRESERVED_FLOOR} "
                            f"that may be reserved (limit {limit} less the {UNRESERVED_FLOOR} unreserved floor)"))
    if acc["code_storage_limit"]:
        st.append(check("code_storage", "account", _ratio(acc["code_storage_used"], acc["code_storage_limit"]),
                        acc["code_storage_limit"], f"code storage {_gb(acc['code_storage_used'])} of "
                        f"{_gb(acc['code_storage_limit'])} ({_pct(acc['code_storage_used'], acc['code_storage_limit'])})"))
    status = worst(*st, *(f.status for f in fn_reviews), *(x.severity for x in findings))

    groups = _groups(store, account, region, group_kind, start, end, fn_reviews, known)
    return TargetReview(
        target=acc["target"], account=account, region=region, updated_at=acc["updated_at"],
        coverage_ratio=round(covered / (end - start), 4) if end > start else 0.0,
        concurrency_limit=limit, quota_concurrency=acc["quota_concurrency"], unreserved_limit=acc["unreserved_limit"],
        peak_concurrency=peak_conc, peak_claimed_concurrency=peak_claimed,
        peak_unreserved_concurrency=peak("UnreservedConcurrentExecutions"),
        concurrency_headroom=headroom, concurrency_headroom_pct=round(100 * headroom / limit, 2) if headroom is not None else None,
        reserved_total=reserved_total, provisioned_total=provisioned_total,
        code_storage_used_bytes=acc["code_storage_used"], code_storage_limit_bytes=acc["code_storage_limit"],
        function_count=acc["function_count"] if acc["function_count"] is not None else len(functions) or None,
        invocations=total("Invocations"), throttles=total("Throttles"),
        async_events_dropped=total("AsyncEventsDropped"), dead_letter_errors=total("DeadLetterErrors"),
        destination_delivery_failures=total("DestinationDeliveryFailures"),
        provisioned_spillover=total("ProvisionedConcurrencySpilloverInvocations"), dlq_messages=dlq_messages,
        status=status, functions=fn_reviews, groups=groups, findings=findings)


def _groups(store: Store, account: str, region: str, kind: str, start: int, end: int,
            fns: list[FunctionReview], known: bool) -> list[GroupReview]:
    members: dict[str, list[FunctionReview]] = defaultdict(list)
    for f in fns:
        if kind in f.groups:
            members[f.groups[kind]].append(f)
    return group_totals(kind, members, group_peaks(store, account, region, kind, start, end), known)


def group_totals(kind: str, members: dict[str, list[FunctionReview]], peaks: dict[str, float | None],
                 known: bool) -> list[GroupReview]:
    """One GroupReview per group, by name: sums of the members' figures (None when all are unknown),
    the group's summed-concurrency peak from `peaks` (0 when collected and idle), DLQs counted once."""
    def total(vals: Iterable[float | None]) -> float | None:
        k = [v for v in vals if v is not None]
        return sum(k) if k else None

    out = []
    for name, fs in sorted(members.items()):
        dlqs = {f.dlq_arn: f.dlq_messages for f in fs if f.dlq_arn} | \
               {f.on_failure_arn: f.on_failure_messages for f in fs if f.on_failure_arn}
        peak = peaks.get(name)
        out.append(GroupReview(
            kind=kind, name=name, function_count=len(fs),
            peak_concurrency=peak if peak is not None else (0.0 if known else None),
            invocations=total(f.invocations for f in fs), errors=total(f.errors for f in fs),
            throttles=total(f.throttles for f in fs), reserved_total=sum(f.reserved_concurrency or 0 for f in fs),
            async_events_dropped=total(f.async_events_dropped for f in fs),
            dlq_messages=total(dlqs.values()) if dlqs else 0, status=worst(*(f.status for f in fs))))
    return out


def _ratio(v: float | None, limit: float | None) -> float | None:
    return v / limit if v is not None and limit else None


def _pct(v: float | None, limit: float | None) -> str:
    r = _ratio(v, limit)
    return "unknown" if r is None else f"{100 * r:.0f} %"


def _n(v: float | None) -> str:
    return "unknown" if v is None else f"{v:,.0f}"


def _gb(v: float | None) -> str:
    return "unknown" if v is None else f"{v / 1024 ** 3:.1f} GB"
