"""One collection cycle over every (target, region): the only place that orders work and threads."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import inventory, metrics
from .config import Collection, Settings, Target
from .errors import AWS_ERRORS, summarise, to_error
from .grouping import groups_for
from .catalogue import BY_KEY
from .model import CollectError, Covered, Point, TargetResult
from .sessions import TargetSession
from .store import Store, gaps

log = logging.getLogger("headroom.collect")

SessionFactory = Callable[[Target, str, Collection], Any]


@dataclass
class CycleReport:
    cycle_id: int
    results: list[TargetResult] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0
    abandoned: list[tuple[str, str]] = field(default_factory=list)   # (target, region) cut off by the deadline

    @property
    def errors(self) -> list[tuple[TargetResult, CollectError]]:
        return [(r, e) for r in self.results for e in r.errors]

    @property
    def exit_code(self) -> int:
        """0 when every target and API answered, 3 when anything failed (awslimitchecker-style)."""
        return 3 if self.errors else 0


FINE_RETENTION_S = 15 * 86400   # CloudWatch keeps 1-minute data 15 days


def metric_windows(covered: list[tuple[int, int]], now: float, c: Collection,
                   defer_history: bool = False) -> list[tuple[int, int, int]]:
    """(start, end, period) windows to read for one subject, newest first, given its collected ranges.

    Every part of [now - backfill_days, now) the subject has not been read for is read, so a window
    missed in a failed cycle is filled in on recovery instead of frozen as a gap:
    - within the last `backfill_hours`, at 1 minute; the latest range's last `overlap_minutes` are
      read again each cycle (late datapoints are upserted);
    - older, at 5 minutes within the last day and hourly before, each aligned inside the gap (a
      coarse bucket never straddles stored minutes, which would count them twice); the slivers at
      its edges at 1 minute while CloudWatch still has them (15 days).
    With defer_history a subject never read before gets only its recent minutes now, history on the
    next cycle (the dashboard's simulated fleet does this so that numbers show up sooner).
    """
    end = metrics.align(now, 60)
    fine_from = metrics.align(now - c.backfill_hours * 3600, 3600)
    day_ago = metrics.align(now - 86400, 3600)
    history_from = metrics.align(now - c.backfill_days * 86400, 3600)
    sliver_from = metrics.align(now - FINE_RETENTION_S, 3600) + 3600
    known = list(covered)
    if known:
        s, e = known[-1]
        e = max(s, metrics.align(e - c.overlap_minutes * 60, 60))
        known = known[:-1] + ([(s, e)] if e > s else [])
    lo = fine_from if defer_history and not covered else min(history_from, fine_from)
    out: list[tuple[int, int, int]] = []
    for gs, ge in gaps(known, lo, end):
        if max(gs, fine_from) < ge:
            out.append((max(gs, fine_from), ge, 60))
        for s, e, p in ((max(gs, day_ago), min(ge, fine_from), 300), (gs, min(ge, day_ago, fine_from), 3600)):
            if s >= e:
                continue
            a, b = -(-s // p) * p, e // p * p
            if a >= b:
                a = b = e   # shorter than one bucket: all of it is a sliver
            else:
                out.append((a, b, p))
            out.extend((x, y, 60) for x, y in ((s, a), (b, e)) if x < y and x >= sliver_from)
    return sorted(out, key=lambda w: (-w[1], -w[0]))


class DeadlineExceeded(Exception):
    """The cycle's deadline passed: what is gathered so far is stored, the rest is left unknown."""


def collect_target(sess: Any, settings: Settings, store: Store, now: float, defer_history: bool = False,
                   deadline: float | None = None, clock: Callable[[], float] = time.time) -> TargetResult:
    """Everything about one (target, region); each failed API becomes a recorded error, not a zero.

    Past `deadline` (a clock value) no new call starts: what was gathered is returned and stored,
    and every subject whose metrics were not read stays unknown for that window.
    """
    r = TargetResult(target=sess.target.name, region=sess.region, account=None, started_at=now)

    def check_deadline(step: str) -> None:
        if deadline is not None and clock() > deadline:
            r.deadline_hit = True
            raise DeadlineExceeded(step)

    try:
        _collect(r, sess, settings, store, now, defer_history, check_deadline)
    except DeadlineExceeded as e:
        r.errors.append(CollectError("deadline", "headroom:cycle", "DeadlineExceeded",
                                     f"the cycle's deadline passed before {e}; the rest is read next cycle "
                                     "(raise collection.deadline_seconds, or lower the work per cycle)"))
    return _finish(r, sess)


def _collect(r: TargetResult, sess: Any, settings: Settings, store: Store, now: float, defer_history: bool,
             check_deadline: Callable[[str], None]) -> None:
    try:
        r.account = sess.client("sts").get_caller_identity()["Account"]
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "session", "sts:GetCallerIdentity"))
        return
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
    check_deadline("the tags were read")
    try:
        tags = inventory.list_tags(sess.client("resourcegroupstaggingapi"))
    except AWS_ERRORS as e:
        r.errors.append(to_error(e, "tags", "tag:GetResources"))
        tags = {name: p["tags"] for name, p in previous.items()}  # keep what we knew
    # (function, dlq, on-failure destination, details known): what the metric plan is made of
    plan_fns: list[tuple[str, str | None, str | None, bool]]
    if latest is not None:
        fns = [inventory.to_function(f, sizes[f["FunctionName"]]) for f in latest]
        c = settings.collection
        todo = inventory.pick_refresh(fns, previous, now, c.inventory_refresh_minutes * 60, c.interval_seconds)
        check_deadline("the per-function calls")
        details, errs = inventory.read_details(lam, todo, c.detail_workers)
        r.errors.extend(errs)
        provisioned = []
        for f in fns:
            f.tags = tags.get(f.name, {})
            f.groups = groups_for(f.name, f.tags, settings.grouping)
            prev = previous.get(f.name) or {}
            if f.name in details:
                f.reserved_concurrency, prov, f.on_failure_arn = details[f.name]
                f.detail_at = now
            elif prev.get("detail_at") is not None and prev.get("revision") == f.revision:
                # not re-read this cycle (or the re-read failed): the last read stands, with its age
                f.reserved_concurrency, f.on_failure_arn = prev.get("reserved_concurrency"), prev.get("on_failure_arn")
                f.detail_at = prev["detail_at"]
                prov = prev_prov.get(f.name, [])
            else:
                # never read, or the function changed since: unknown (detail_at None), not "none"
                f.reserved_concurrency, f.on_failure_arn, f.detail_at = None, None, None
                prov = []
            provisioned.extend(prov)
        r.functions, r.provisioned = fns, provisioned
        plan_fns = [(f.name, f.dlq_arn, f.on_failure_arn, f.detail_at is not None) for f in fns]
        aliases = [(p.function, p.qualifier) for p in provisioned]
    else:  # listing failed: keep reading metrics for the functions we already know
        plan_fns = [(n, p["dlq_arn"], p["on_failure_arn"], p["detail_at"] is not None) for n, p in previous.items()]
        aliases = [(p.function, p.qualifier) for ps in prev_prov.values() for p in ps]

    check_deadline("the account settings")
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

    check_deadline("the dead-letter queues")
    dlqs = {arn for _, d, o, _ in plan_fns for arn in (d, o) if arn}
    r.queues, errs = inventory.queue_depths(lambda: sess.client("sqs"), dlqs, r.account, r.region,
                                            settings.collection.detail_workers)
    r.errors.extend(errs)

    # AWS/SQS metrics live in the queue's own account and region: only those are readable here
    queues = [q.name for q in r.queues if q.arn.split(":")[3:5] == [r.region, r.account]]
    # A function whose details are unknown may have a destination: ask rather than assume none.
    queries = metrics.plan([n for n, _, _, _ in plan_fns], aliases, queues,
                           with_dlq=[n for n, d, _, _ in plan_fns if d],
                           with_destination=[n for n, _, o, known in plan_fns if o or not known])
    r.series = len(queries)
    read_metrics(r, sess.client("cloudwatch"), queries, store.coverage_map(r.account, r.region), now,
                 settings.collection, defer_history, check_deadline)


def read_metrics(r: TargetResult, cw: Any, queries: list[metrics.Query],
                 covered: dict[tuple[str, str], list[tuple[int, int]]], now: float, c: Collection,
                 defer_history: bool, check_deadline: Callable[[str], None]) -> None:
    """Read each subject's missing windows; record coverage only for subjects CloudWatch answered in full.

    Subjects with the same windows to read (in a steady cycle, nearly all) share calls.
    """
    by_subject: dict[tuple[str, str], list[metrics.Query]] = {}
    for q in queries:
        by_subject.setdefault(metrics.subject(q), []).append(q)
    plans: dict[tuple[tuple[int, int, int], ...], list[tuple[str, str]]] = {}
    for subj in by_subject:
        plans.setdefault(tuple(metric_windows(covered.get(subj, []), now, c, defer_history)), []).append(subj)
    # newest windows first across plans: recent data matters most if the deadline cuts the cycle
    work = sorted(((w, subjs) for ws, subjs in plans.items() for w in ws), key=lambda x: (-x[0][1], -x[0][0]))
    for (start, end, period), subjs in work:
        check_deadline(f"reading {len(subjs)} subject(s)' metrics for {start}-{end} at {period} s")
        qs = [q for subj in subjs for q in by_subject[subj]]
        pts, errs, incomplete = metrics.fetch(cw, metrics.pack(qs), start, end, period)
        r.errors.extend(errs)
        r.metric_queries += len(qs)
        bad = {metrics.subject(q) for q in incomplete}
        r.points.extend(p for p in pts if _point_subject(p) not in bad)
        s, e = metrics.align(start, period), metrics.align(end, period)
        r.coverage.extend(Covered(scope, dim, s, e) for scope, dim in subjs if (scope, dim) not in bad)  # type: ignore[arg-type]


def _point_subject(p: Point) -> tuple[str, str]:
    scope = BY_KEY[p.metric].scope
    return (scope, "" if scope == "account" else p.dim)


def _finish(r: TargetResult, sess: Any) -> TargetResult:
    r.api_calls = sess.counter.total
    r.errors = summarise(r.errors)
    return r


GRACE_S = 5.0   # after the deadline, how long calls already in flight may take before they are abandoned


def run_cycle(settings: Settings, store: Store, session_factory: SessionFactory = TargetSession,
              clock: Callable[[], float] = time.time, executor: Executor | None = None,
              on_result: Callable[[TargetResult], None] | None = None, defer_history: bool = False) -> CycleReport:
    """Collect every (target, region) in parallel; each is written in its own transaction as it ends.

    The cycle has a deadline (collection.deadline_seconds of real time): no call starts after it,
    and a target still busy GRACE_S later (a hung call) is abandoned and recorded as timed out while
    every other target's data is stored. `clock` is the data's clock (which minutes to read).
    defer_history: a target's first cycle reads only its recent minutes (see metric_windows).
    """
    now = clock()
    report = CycleReport(store.begin_cycle(now), started_at=now)
    pairs = [(t, region) for t in settings.targets for region in t.regions]
    budget = float(settings.collection.deadline_seconds)
    deadline = time.monotonic() + budget

    def job(t: Target, region: str) -> TargetResult:
        sess = session_factory(t, region, settings.collection)
        try:
            r = collect_target(sess, settings, store, now, defer_history, deadline=deadline, clock=time.monotonic)
        except Exception as e:  # a headroom bug: record it, keep the other targets' data
            log.exception("collecting %s/%s failed", t.name, region)
            r = TargetResult(t.name, region, None, now,
                             errors=[CollectError("headroom", "internal", type(e).__name__, str(e))])
        r.finished_at = clock()
        return r

    def keep(r: TargetResult) -> None:
        store.write_target(report.cycle_id, r)
        report.results.append(r)
        if on_result:
            on_result(r)

    own = executor is None
    executor = executor or ThreadPoolExecutor(max_workers=settings.collection.max_workers)
    futures = {executor.submit(job, t, region): (t, region) for t, region in pairs}
    try:
        for fut in as_completed(futures, timeout=max(0.0, deadline + GRACE_S - time.monotonic())):
            keep(fut.result())
    except FuturesTimeout:
        done_targets = {(r.target, r.region) for r in report.results}
        for fut, (t, region) in futures.items():
            if (t.name, region) in done_targets:
                continue
            if fut.done():
                keep(fut.result())
                continue
            fut.cancel()
            report.abandoned.append((t.name, region))
            keep(TargetResult(t.name, region, None, now, finished_at=clock(), deadline_hit=True, errors=[CollectError(
                "deadline", "headroom:cycle", "DeadlineExceeded",
                f"still collecting {budget + GRACE_S:.0f} s after the cycle started (a call hung or AWS is slow); "
                "abandoned, its data is read next cycle")]))
    finally:
        if own:
            executor.shutdown(wait=not report.abandoned, cancel_futures=True)
    store.rollup(now, settings.retention)
    report.finished_at = clock()
    store.end_cycle(report.cycle_id, report.finished_at)
    report.results.sort(key=lambda r: (r.target, r.region))
    return report
