"""One collection cycle over every (target, region): the only place that orders work and threads."""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import discovery, inventory, metrics, organization
from .config import Collection, Settings, Target
from .errors import AWS_ERRORS, summarise, to_error
from .grouping import groups_for
from .catalogue import BY_KEY, CATALOGUE
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
    notes: list[str] = field(default_factory=list)   # one line per organization target: what discovery found

    @property
    def errors(self) -> list[tuple[TargetResult, CollectError]]:
        return [(r, e) for r in self.results for e in r.errors]

    @property
    def exit_code(self) -> int:
        """0 when every target and API answered, 3 when anything failed (awslimitchecker-style)."""
        return 3 if self.errors else 0


FINE_RETENTION_S = 15 * 86400   # CloudWatch keeps 1-minute data 15 days


def metric_windows(covered: list[tuple[int, int]], now: float, c: Collection,
                   defer_history: bool = False, overlap_minutes: int | None = None) -> list[tuple[int, int, int]]:
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
        overlap = c.overlap_minutes if overlap_minutes is None else overlap_minutes
        e = max(s, metrics.align(e - overlap * 60, 60))
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
    for row in store.provisioned(r.account, r.region):
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
    read_metrics(r, sess.client("cloudwatch"), queries, store, now, settings.collection, defer_history,
                 check_deadline)


Subject = tuple[str, str]
Window = tuple[int, int, int]
TIER = {"account": "account", "function": "function", "alias": "function", "queue": "queue"}
HOT = ("AccountThrottles",)   # while the account shows these, the series that explain them are read every cycle
EXPLAIN = ("Throttles", "ConcurrentExecutions")   # what explains throttling, function by function


class Reader:
    """Reads subjects' missing windows for one target and records what CloudWatch answered in full."""

    def __init__(self, r: TargetResult, cw: Any, covered: dict[Subject, list[tuple[int, int]]], now: float,
                 c: Collection, defer_history: bool, check_deadline: Callable[[str], None],
                 sink: Callable[[list[Point]], None] | None = None):
        self.r, self.cw, self.covered, self.now, self.c = r, cw, covered, now, c
        self.defer_history, self.check_deadline, self.sink = defer_history, check_deadline, sink
        self.asked: set[tuple[str, str]] = set()   # (metric, dim) asked at 1 minute this cycle

    def keep(self, pts: list[Point]) -> None:
        """Points answered in full: to the store at once when streaming (memory stays flat through a
        backfill), the account's own (a few) also kept for this cycle's decisions."""
        if self.sink is None:
            self.r.points.extend(pts)
            return
        if pts:
            self.sink(pts)
            self.r.points_written += len(pts)
        self.r.points.extend(p for p in pts if BY_KEY[p.metric].scope == "account")

    def read(self, subjects: dict[Subject, list[metrics.Query]],
             choose: Callable[[Subject, Window, list[metrics.Query]], list[metrics.Query] | None] | None = None,
             overlap_minutes: int | None = None) -> None:
        """Read each subject's missing windows. `choose` narrows a subject's queries for a window (the
        series known to have data; the rest are known zeros) or returns None when that cannot be known
        (the subject is then left unread for the window). Subjects with the same windows share calls."""
        plans: dict[tuple[Window, ...], list[Subject]] = {}
        for subj in subjects:
            ws = metric_windows(self.covered.get(subj, []), self.now, self.c, self.defer_history, overlap_minutes)
            plans.setdefault(tuple(ws), []).append(subj)
        # newest windows first across plans: recent data matters most if the deadline cuts the cycle
        work = sorted(((w, subjs) for ws, subjs in plans.items() for w in ws), key=lambda x: (-x[0][1], -x[0][0]))
        for w, subjs in work:
            start, end, period = w
            self.check_deadline(f"reading {len(subjs)} subject(s)' metrics for {start}-{end} at {period} s")
            asked: dict[Subject, list[metrics.Query]] = {}
            for subj in subjs:
                qs = subjects[subj] if choose is None else choose(subj, w, subjects[subj])
                if qs is not None:
                    asked[subj] = qs
            qs = [q for subj_qs in asked.values() for q in subj_qs]
            bad: set[Subject] = set()
            for batch in metrics.pack(qs):   # one call's answer at a time: memory bounded by a call
                pts, errs, incomplete = metrics.fetch(self.cw, [batch], start, end, period)
                self.r.errors.extend(errs)
                self.count(batch)
                failed = {metrics.subject(q) for q in incomplete}
                bad |= failed
                self.keep([p for p in pts if _point_subject(p) not in failed])
            if period == 60:
                self.asked.update((q.metric.key, q.dim) for q in qs)
            s, e = metrics.align(start, period), metrics.align(end, period)
            for subj in asked:
                if subj not in bad:
                    self.r.coverage.append(Covered(subj[0], subj[1], s, e))  # type: ignore[arg-type]

    def count(self, qs: list[metrics.Query]) -> None:
        self.r.metric_queries += len(qs)
        for q in qs:
            tier = TIER[q.metric.scope]
            self.r.metrics_by_tier[tier] = self.r.metrics_by_tier.get(tier, 0) + 1

    def fetch(self, qs: list[metrics.Query], start: int, end: int) -> list[Point]:
        """A re-read outside the coverage plan (reconciliation): points of the queries answered in full."""
        pts, errs, incomplete = metrics.fetch(self.cw, metrics.pack(qs), start, end, 60)
        self.r.errors.extend(errs)
        self.count(qs)
        bad = {(q.metric.key, q.dim, q.resource) for q in incomplete}
        return [p for p in pts if (p.metric, p.dim, p.resource) not in bad]


def read_metrics(r: TargetResult, cw: Any, queries: list[metrics.Query], store: Store, now: float, c: Collection,
                 defer_history: bool = False, check_deadline: Callable[[str], None] = lambda step: None) -> None:
    """Read the target's metrics, by the configured strategy.

    "all": every series of every subject, every cycle. "activity": the account's own series every
    cycle; per-function, alias and queue series every function_interval_seconds (every cycle while the
    account throttles), and of those only the series ListMetrics names (the others are idle: known
    zeros, not paid for); then the account's aggregates are reconciled against the functions' sums.
    """
    assert r.account is not None   # metrics are read only once the caller's identity is known
    covered = store.coverage_map(r.account, r.region)
    by_subject: dict[Subject, list[metrics.Query]] = {}
    for q in queries:
        by_subject.setdefault(metrics.subject(q), []).append(q)
    acct = r.account

    def sink(pts: list[Point]) -> None:
        store.write_points(acct, r.region, pts)
    reader = Reader(r, cw, covered, now, c, defer_history, check_deadline, sink)
    if c.metrics_strategy == "all":
        reader.read(by_subject)
        return
    account = {s: qs for s, qs in by_subject.items() if s[0] == "account"}
    rest = {s: qs for s, qs in by_subject.items() if s[0] != "account"}
    reader.read(account)
    last = store.function_read_at(r.target, r.region)
    due = (last is None or c.function_interval_seconds <= c.interval_seconds
           or now - last >= c.function_interval_seconds - c.interval_seconds / 2)
    hot = not due and _account_hot(r, last)
    if not due:   # between function reads, only what has a hole is read now: a new function, a window
        # a failed cycle missed, history the first cycle deferred (unknown now, not in 5 minutes)
        rest = {s: qs for s, qs in rest.items() if _has_hole(covered.get(s, []), now, c)}
    if not rest and not hot:
        return
    check_deadline("listing the active series")
    try:
        recent = discovery.list_series(cw, recently_active=True)
    except AWS_ERRORS as e:
        # without a listing an idle series cannot be told from an unread one: leave them unknown
        r.errors.append(to_error(e, "discovery", "cloudwatch:ListMetrics"))
        return
    r.discovery_calls += recent.calls
    full: list[discovery.Listing] = []

    def choose(subj: Subject, w: Window, qs: list[metrics.Query]) -> list[metrics.Query] | None:
        start = w[0]
        if start >= now - discovery.RECENT_S + 600:
            listing = recent
        elif start >= now - discovery.FULL_S + 3600:
            if not full:
                try:
                    full.append(discovery.list_series(cw, recently_active=False))
                    r.discovery_calls += full[0].calls
                except AWS_ERRORS as e:
                    r.errors.append(to_error(e, "discovery", "cloudwatch:ListMetrics"))
                    full.append(discovery.Listing())   # failed: ask every series of older windows
                    return qs
            listing = full[0]
            if not listing.calls:
                return qs
        else:
            return qs   # older than any listing covers: ask everything
        have = listing.of(*subj)
        return [q for q in qs if (q.metric.key, q.resource) in have]

    # a new series is listed up to 15 minutes late: each read goes back that far (the bill is per
    # metric, not per minute), so its first minutes are read as soon as it is listed
    lag = max(c.overlap_minutes, discovery.LISTING_LAG_S // 60 + 5)
    reader.read(rest, choose, overlap_minutes=lag)
    if due:
        r.function_read_at = now
    lo = None
    if hot:
        # The account throttles between function reads: the functions listed with Throttles have their
        # Throttles and ConcurrentExecutions read this cycle (points only: the full read, and its
        # coverage, keep their cadence); one not listed yet is found by the reconciliation below
        lo = metrics.align(now - lag * 60, 60)
        explain = [q for (scope, dim), qs in by_subject.items()
                   if scope == "function" and ("Throttles", "") in recent.of(scope, dim)
                   for q in qs if q.metric.key in EXPLAIN and (q.metric.key, "") in recent.of(scope, dim)]
        for p in reader.fetch(explain, lo, metrics.align(now, 60)):
            r.points.append(p)
        reader.asked.update((q.metric.key, q.dim) for q in explain)
    reconcile(r, reader, store, by_subject, recent, cw, now, lo, only=("AccountThrottles",) if hot and not due else None)


def _has_hole(covered: list[tuple[int, int]], now: float, c: Collection) -> bool:
    """The subject's coverage does not run unbroken from where history starts (or as far back as
    CloudWatch keeps minutes) to its latest read."""
    lo = max(metrics.align(now - c.backfill_days * 86400, 3600), metrics.align(now - FINE_RETENTION_S, 3600) + 3600)
    lo = min(lo, metrics.align(now - c.backfill_hours * 3600, 3600))
    return len(covered) != 1 or covered[0][0] > lo


def _account_hot(r: TargetResult, since: float | None) -> bool:
    """The account throttled in the minutes read this cycle since the last function read."""
    after = (since or 0) - 60
    return any(p.metric in HOT and p.value > 0 and p.ts >= after for p in r.points)


RECONCILE_SETTLE_S = 120   # the newest minutes are still being published: not compared


def reconcile(r: TargetResult, reader: Reader, store: Store, by_subject: dict[Subject, list[metrics.Query]],
              listing: discovery.Listing, cw: Any, now: float, lo: int | None = None,
              only: tuple[str, ...] | None = None) -> None:
    """Compare each account aggregate with the per-minute sum of its function metric over the minutes
    just read. Where the account is higher, a function's series was not asked (it woke up after the
    listing, or is listed late): list again and read what is new back to where the gap began, and if
    that does not explain it, read that metric for every function over the gap. What still does not
    add up is recorded as an error (check and the dashboard show it; check exits 3).

    `lo`: the start of the minutes read when no coverage was recorded (a hot cycle); `only`: the
    aggregates to check (a hot cycle read the functions' Throttles only)."""
    recent = int(now) - discovery.RECENT_S
    fine = [c for c in r.coverage if c.scope == "function" and c.end > recent]
    if lo is None and not fine:
        return
    starts = [c.start for c in fine] + ([lo] if lo is not None else [])
    lo = max(min(starts), recent) // 60 * 60
    hi = metrics.align(now, 60) - RECONCILE_SETTLE_S
    if hi <= lo:
        return
    pairs = {m.key: m.reconciles for m in CATALOGUE if m.reconciles and (only is None or m.key in only)}
    values = _merged(store, r, [*pairs, *pairs.values()], lo, hi)

    def gaps_of(acc_key: str, fn_key: str) -> list[int]:
        acc: dict[int, float] = {}
        fns: dict[int, float] = defaultdict(float)
        for (k, dim, _, ts), v in values.items():
            if k == acc_key:
                acc[ts] = v
            elif k == fn_key:
                fns[ts] += v
        return sorted(ts for ts, v in acc.items() if v > fns.get(ts, 0.0) + 0.5)

    functions = [dim for scope, dim in by_subject if scope == "function"]
    fn_queries = {(q.metric.key, q.dim): q for subj, qs in by_subject.items() if subj[0] == "function" for q in qs}
    asked = reader.asked
    relisted: discovery.Listing | None = None
    for acc_key, fn_key in pairs.items():
        missing = gaps_of(acc_key, fn_key)
        if not missing:
            continue
        m0, end = missing[0], metrics.align(now, 60)
        if relisted is None:
            try:
                relisted = discovery.list_series(cw, recently_active=True)
                r.discovery_calls += relisted.calls
            except AWS_ERRORS as e:
                r.errors.append(to_error(e, "discovery", "cloudwatch:ListMetrics"))
                relisted = discovery.Listing()
        new = [fn_queries[(fn_key, f)] for f in functions if (fn_key, "") in relisted.of("function", f)
               and (fn_key, "") not in listing.of("function", f) and (fn_key, f) in fn_queries]
        for p in reader.fetch(new, m0, end):
            r.points.append(p)
            values[(p.metric, p.dim, p.resource, p.ts)] = p.value
        asked.update((q.metric.key, q.dim) for q in new)
        missing = gaps_of(acc_key, fn_key)
        if missing:   # not listed yet: ask this metric of every function over the gap
            m0 = missing[0]
            sweep = [q for (k, f), q in fn_queries.items() if k == fn_key and (k, f) not in asked
                     and q not in new]
            for p in reader.fetch(sweep, m0, end):
                r.points.append(p)
                values[(p.metric, p.dim, p.resource, p.ts)] = p.value
            missing = gaps_of(acc_key, fn_key)
        if missing:
            r.errors.append(CollectError(
                "reconcile", "cloudwatch:GetMetricData", "Unexplained",
                f"the account's {BY_KEY[acc_key].name} exceeds its functions' sum in {len(missing)} minute(s) "
                f"from {time.strftime('%H:%M UTC', time.gmtime(missing[0]))}: a function not in the inventory?"))


def _merged(store: Store, r: TargetResult, keys: list[str], start: int, end: int
            ) -> dict[tuple[str, str, str, int], float]:
    """(metric, dim, resource, ts) -> value over [start, end): stored points, then this cycle's over them."""
    assert r.account is not None
    out = {(m, d, res, ts): v for m, d, res, ts, v in store.points(r.account, r.region, keys, start, end)}
    wanted = set(keys)
    out.update({(p.metric, p.dim, p.resource, p.ts): p.value for p in r.points
                if p.metric in wanted and start <= p.ts < end and p.period == 60})
    return out


def _point_subject(p: Point) -> tuple[str, str]:
    scope = BY_KEY[p.metric].scope
    return (scope, "" if scope == "account" else p.dim)


def _finish(r: TargetResult, sess: Any) -> TargetResult:
    r.api_calls = sess.counter.total
    r.errors = summarise(r.errors)
    return r


GRACE_S = 5.0   # after the deadline, how long calls already in flight may take before they are abandoned


def _wanted(only: Iterable[tuple[str, str]] | Callable[[str, str], bool] | None) -> Callable[[str, str], bool]:
    """run_cycle's `only` as a test of (target name, region)."""
    if only is None:
        return lambda name, region: True
    if callable(only):
        return only
    mine = set(only)
    return lambda name, region: (name, region) in mine or ("/" in name and (name.split("/", 1)[0], region) in mine)


def run_cycle(settings: Settings, store: Store, session_factory: SessionFactory = TargetSession,
              clock: Callable[[], float] = time.time, executor: Executor | None = None,
              on_result: Callable[[TargetResult], None] | None = None, defer_history: bool = False,
              only: Iterable[tuple[str, str]] | Callable[[str, str], bool] | None = None,
              discover: Callable[[Target], organization.Listing] | None = None) -> CycleReport:
    """Collect every (target, region) in parallel; each is written in its own transaction as it ends.

    The cycle has a deadline (collection.deadline_seconds of real time): no call starts after it,
    and a target still busy GRACE_S later (a hung call) is abandoned and recorded as timed out while
    every other target's data is stored. `clock` is the data's clock (which minutes to read).
    defer_history: a target's first cycle reads only its recent minutes (see metric_windows).
    only: the (target name, region)s to collect (this collector's leases): an organization's accounts
    go with the organization target's own (name, region); or a test of (target name, region) applied
    to every target after organizations are expanded (--shard: an organization's accounts are
    split between the shards too). None: every one.
    Organization targets are expanded into their accounts first (collectors/organization.py; `discover`
    replaces the listing in tests); accounts not collected and each discovery are recorded too.
    """
    now = clock()
    report = CycleReport(store.begin_cycle(now), started_at=now)
    orgs = any(t.organization for t in settings.targets)   # what discovery needs from the store, only then
    org = organization.plan(settings, store.health() if orgs else (), now, discover, key=store.label,
                            marked=store.latest_errors() if orgs else ())
    report.notes = org.lines
    wanted = _wanted(only)
    pairs = [(t, region) for t in org.targets for region in t.regions if wanted(t.name, region)]
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
        if r.account is None and t.account_id is not None:
            r.account = t.account_id   # a discovered account is known even when its role cannot be assumed
        r.finished_at = clock()
        return r

    def keep(r: TargetResult) -> None:
        store.write_target(report.cycle_id, r)
        report.results.append(r)
        if on_result:
            on_result(r)

    for r in org.records + org.marked:
        keep(r)
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
