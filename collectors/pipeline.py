"""One collection cycle over every (target, region): the only place that orders work and threads."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import inventory, metrics
from .config import Collection, Settings, Target
from .errors import AWS_ERRORS, to_error
from .grouping import groups_for
from .model import CollectError, TargetResult
from .sessions import TargetSession
from .store import Store

log = logging.getLogger("headroom.collect")

SessionFactory = Callable[[Target, str, Collection], Any]


@dataclass
class CycleReport:
    cycle_id: int
    results: list[TargetResult] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def errors(self) -> list[tuple[TargetResult, CollectError]]:
        return [(r, e) for r in self.results for e in r.errors]

    @property
    def exit_code(self) -> int:
        """0 when every target and API answered, 3 when anything failed (awslimitchecker-style)."""
        return 3 if self.errors else 0


def metric_windows(coverage: tuple[int, int] | None, now: float, c: Collection,
                   defer_history: bool = False) -> list[tuple[int, int, int]]:
    """(start, end, period) windows to read, newest first, given the stored (first start, last end).

    - Recent data: from the stored coverage's end less an overlap (late datapoints are upserted)
      to now, at 1 minute; on the first run, the last `backfill_hours`.
    - A gap older than `backfill_hours` (after an outage) is read at 1 hour: CloudWatch keeps
      1-minute data only 15 days, and hourly is cheaper.
    - Older history, back to `backfill_days`: at 5 minutes within the last day, hourly before.
      With defer_history the first run leaves it to the next cycle, so that recent data is on
      screen sooner (the dashboard's simulated fleet does this).
    """
    end = metrics.align(now, 60)
    fine_from = metrics.align(now - c.backfill_hours * 3600, 3600)
    if coverage is None:
        windows = [(fine_from, end, 60)] if fine_from < end else []
        if defer_history:
            return windows
        first = fine_from
    else:
        first, last = coverage
        windows = []
        need = metrics.align(last - c.overlap_minutes * 60, 60)
        if need < fine_from:
            windows.append((fine_from, end, 60))
            windows.append((metrics.align(need, 3600), fine_from, 3600))
        elif need < end:
            windows.append((need, end, 60))
    history_from = metrics.align(now - c.backfill_days * 86400, 3600)
    history_to = metrics.align(first, 3600)   # an hour bucket never straddles stored minutes
    day_ago = metrics.align(now - 86400, 3600)
    if max(day_ago, history_from) < history_to:
        windows.append((max(day_ago, history_from), history_to, 300))
    if history_from < min(day_ago, history_to):
        windows.append((history_from, min(day_ago, history_to), 3600))
    return windows


def collect_target(sess: Any, settings: Settings, store: Store, now: float, defer_history: bool = False) -> TargetResult:
    """Everything about one (target, region); each failed API becomes a recorded error, not a zero."""
    r = TargetResult(target=sess.target.name, region=sess.region, account=None, started_at=now)
    try:
        r.account = sess.client("sts").get_caller_identity()["Account"]
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "session", "sts:GetCallerIdentity"))
        return _finish(r, sess)
    lam = sess.client("lambda")
    previous = store.functions(r.account, r.region)
    prev_prov: dict[str, list[Any]] = {}
    for row in store.query("SELECT * FROM provisioned WHERE account = ? AND region = ?", (r.account, r.region)):
        prev_prov.setdefault(row["function"], []).append(
            inventory.ProvisionedConfig(row["function"], row["qualifier"], row["requested"], row["allocated"],
                                        row["available"], row["status"]))

    # Inventory: the listing first; tags and per-function details enrich it before it is stored.
    try:
        latest, sizes = inventory.list_functions(lam)
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "inventory", "lambda:ListFunctions"))
        latest = None
    try:
        tags = inventory.list_tags(sess.client("resourcegroupstaggingapi"))
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "tags", "tag:GetResources"))
        tags = {name: p["tags"] for name, p in previous.items()}  # keep what we knew
    if latest is not None:
        fns = [inventory.to_function(f, sizes[f["FunctionName"]]) for f in latest]
        c = settings.collection
        todo = inventory.pick_refresh(fns, previous, now, c.inventory_refresh_minutes * 60, c.interval_seconds)
        details, errs = inventory.read_details(lam, todo, c.detail_workers)
        r.errors.extend(errs)
        provisioned = []
        for f in fns:
            f.tags = tags.get(f.name, {})
            f.groups = groups_for(f.name, f.tags, settings.grouping)
            if f.name in details:
                f.reserved_concurrency, prov, f.on_failure_arn = details[f.name]
                f.detail_at = now
            else:
                prev = previous.get(f.name) or {}
                f.reserved_concurrency, f.on_failure_arn = prev.get("reserved_concurrency"), prev.get("on_failure_arn")
                f.detail_at = prev.get("detail_at") if prev.get("revision") == f.revision else None
                prov = prev_prov.get(f.name, [])
            provisioned.extend(prov)
        r.functions, r.provisioned = fns, provisioned
        plan_fns = [(f.name, f.dlq_arn, f.on_failure_arn) for f in fns]
        aliases = [(p.function, p.qualifier) for p in provisioned]
    else:  # listing failed: keep reading metrics for the functions we already know
        plan_fns = [(n, p["dlq_arn"], p["on_failure_arn"]) for n, p in previous.items()]
        aliases = [(p.function, p.qualifier) for ps in prev_prov.values() for p in ps]

    try:
        r.account_info = inventory.account_settings(lam)
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "account", "lambda:GetAccountSettings"))
    try:
        conc, storage = inventory.service_quotas(sess.client("service-quotas"))
        # Without GetAccountSettings the stored account row (and its limits) stays as it was.
        if r.account_info is not None:
            r.account_info.quota_concurrency, r.account_info.quota_code_storage_bytes = conc, storage
    except ClientError as e:
        # Service Quotas is optional: a caller without access still gets what Lambda enforces.
        if e.response.get("Error", {}).get("Code") not in ("AccessDeniedException", "NoSuchResourceException"):
            r.errors.append(to_error(e, "quotas", "servicequotas:GetServiceQuota"))
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "quotas", "servicequotas:GetServiceQuota"))

    dlqs = {arn for _, d, o in plan_fns for arn in (d, o) if arn}
    r.queues, errs = inventory.queue_depths(lambda: sess.client("sqs"), dlqs, r.account, r.region,
                                            settings.collection.detail_workers)
    r.errors.extend(errs)

    # AWS/SQS metrics live in the queue's own account and region: only those are readable here
    queues = [q.name for q in r.queues if q.arn.split(":")[3:5] == [r.region, r.account]]
    queries = metrics.plan([n for n, _, _ in plan_fns], aliases, queues, with_dlq=[n for n, d, _ in plan_fns if d],
                           with_destination=[n for n, _, o in plan_fns if o])
    cw = sess.client("cloudwatch")
    for start, end, period in metric_windows(store.coverage_span(r.account, r.region), now, settings.collection,
                                             defer_history):
        pts, errs, complete = metrics.fetch(cw, queries, start, end, period)
        r.points.extend(pts)
        r.errors.extend(errs)
        r.metric_queries += len(queries)
        if complete:
            r.coverage.append((start, end))
    r.series = len(queries)
    return _finish(r, sess)


def _finish(r: TargetResult, sess: Any) -> TargetResult:
    r.api_calls = sess.counter.total
    return r


def run_cycle(settings: Settings, store: Store, session_factory: SessionFactory = TargetSession,
              clock: Callable[[], float] = time.time, executor: Executor | None = None,
              on_result: Callable[[TargetResult], None] | None = None, defer_history: bool = False) -> CycleReport:
    """Collect every (target, region) in parallel; each is written in its own transaction as it ends.

    defer_history: a target's first cycle reads only its recent minutes (see metric_windows).
    """
    now = clock()
    report = CycleReport(store.begin_cycle(now), started_at=now)
    pairs = [(t, region) for t in settings.targets for region in t.regions]

    def job(t: Target, region: str) -> TargetResult:
        sess = session_factory(t, region, settings.collection)
        try:
            r = collect_target(sess, settings, store, now, defer_history)
        except Exception as e:  # a headroom bug: record it, keep the other targets' data
            log.exception("collecting %s/%s failed", t.name, region)
            r = TargetResult(t.name, region, None, now,
                             errors=[CollectError("headroom", "internal", type(e).__name__, str(e))])
        r.finished_at = clock()
        store.write_target(report.cycle_id, r)
        return r

    own = executor is None
    executor = executor or ThreadPoolExecutor(max_workers=settings.collection.max_workers)
    try:
        for fut in as_completed([executor.submit(job, t, region) for t, region in pairs]):
            r = fut.result()
            report.results.append(r)
            if on_result:
                on_result(r)
    finally:
        if own:
            executor.shutdown()
    store.rollup(now, settings.retention)
    report.finished_at = clock()
    store.end_cycle(report.cycle_id, report.finished_at)
    report.results.sort(key=lambda r: (r.target, r.region))
    return report
