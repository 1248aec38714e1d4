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
from typing import Any, Literal

from collectors.config import DISCOVERY_REGION, Threshold
from collectors.model import ORG_NOT_COLLECTED
from collectors.store import Store

UNRESERVED_FLOOR = 100  # Lambda keeps at least this much concurrency unreserved
# unknown ranks above warn: what is not known may be critical; a known critical still comes first.
SEVERITY = {"ok": 0, "warn": 1, "unknown": 2, "critical": 3}
DEFAULT_MAX_AGE_S = 180


@dataclass(frozen=True)
class Check:
    """One rule of the review: which figure of which subject is graded against which threshold, and how
    its finding reads. The review grades by walking CHECKS; every status a page, export, alert or the CLI
    shows comes from here (no page grades anything)."""
    kind: str            # the threshold key ([thresholds] in the config)
    subject: str         # account | function | queue
    figure: str          # the graded attribute of TargetReview, FunctionReview or QueueReview
    limit: str | None    # graded as figure / limit where set (the limit's attribute), else the figure itself
    label: str           # what the figure is, on tiles and in tables
    message: str         # the finding, with {name}, {value}, {limit} and {pct} filled in
    unit: str = "count"  # count | bytes
    source: str = "metrics"   # metrics (over the window: a floor where partly collected) | config | live


CHECKS: tuple[Check, ...] = (
    Check("concurrency", "account", "peak_concurrency", "concurrency_limit", "Peak concurrent executions",
          "peak concurrency {value} of {limit} ({pct})"),
    Check("claimed_concurrency", "account", "peak_claimed_concurrency", "concurrency_limit", "Peak claimed concurrency",
          "peak claimed concurrency {value} of {limit} ({pct})"),
    Check("reserved_allocation", "account", "reserved_total", "reservable", "Reserved concurrency",
          "{value} reserved of the {limit} that may be reserved ({pct}; Lambda keeps 100 unreserved)",
          source="config"),
    Check("code_storage", "account", "code_storage_used_bytes", "code_storage_limit_bytes", "Code storage",
          "code storage {value} of {limit} ({pct})", "bytes", source="live"),
    Check("function_concurrency", "function", "peak_concurrency", "reserved_concurrency", "Peak concurrency",
          "{name}: peak concurrency {value} of {limit} reserved ({pct})"),
    Check("throttles", "function", "throttles", None, "Throttles", "{name}: {value} throttles"),
    Check("async_events_dropped", "function", "async_events_dropped", None, "Async events dropped",
          "{name}: {value} async events dropped"),
    Check("dead_letter_errors", "function", "dead_letter_errors", None, "Dead-letter errors",
          "{name}: {value} dead-letter errors (events lost)"),
    Check("destination_delivery_failures", "function", "destination_delivery_failures", None,
          "Destination delivery failures", "{name}: {value} destination delivery failures (events lost)"),
    Check("provisioned_spillover", "function", "provisioned_spillover", None, "Provisioned spillover",
          "{name}: {value} invocations spilled over provisioned concurrency"),
    Check("dlq_messages", "queue", "visible", None, "Messages waiting", "DLQ {name}: {value} messages waiting",
          source="live"),
)
CHECK = {c.kind: c for c in CHECKS}
CHECKS_OF = {subject: tuple(c for c in CHECKS if c.subject == subject) for subject in ("account", "function", "queue")}


@dataclass(frozen=True)
class Verdict:
    """The grade of one figure of one subject, with the reason a reader is shown."""
    status: str | None   # ok | warn | critical | unknown; None: not configured (nothing to grade)
    reason: str


@dataclass
class Finding:
    severity: str          # warn | critical | unknown
    kind: str              # the threshold name (e.g. "throttles"), or for unknowns: stale, not_collected, incomplete
    account: str | None
    region: str
    subject: str           # "account", a function name or a queue name
    value: float | None
    limit: float | None
    message: str


@dataclass
class Health:
    """How fresh and how complete one (target, region)'s data is."""
    last_attempt: float | None     # when the collector last tried it
    last_success: float | None     # the last attempt without any error
    listed_at: float | None        # the last complete function listing
    data_end: int | None           # the end of its newest collected metric window
    stale: bool                    # data_end older than max_age (or never collected)
    errors: list[dict[str, Any]]   # the last attempt's errors


@dataclass
class FunctionReview:
    name: str
    groups: dict[str, str]
    tags: dict[str, str]
    runtime: str | None
    memory_mb: int | None
    reserved_concurrency: int | None   # None: none set (config_known) or unknown (not config_known)
    provisioned: int | None            # None: unknown
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
    config_known: bool = True          # reserved, provisioned and destination were read (detail_at)
    config_read_at: float | None = None
    coverage_ratio: float = 0.0        # share of the window its metrics were collected for
    metrics_known: str = "complete"    # complete | partial | none (see known_figure)
    findings: list[Finding] = field(default_factory=list)   # why its status is not ok (its queues' included)

    @property
    def queued_messages(self) -> int | None:
        """Messages waiting in its dead-letter queue and on-failure destination (each queue once), as a
        group counts them; None when neither is configured or none was read."""
        depths = {self.dlq_arn: self.dlq_messages, self.on_failure_arn: self.on_failure_messages}
        depths.pop(None, None)
        return _int(known_sum(depths.values())) if depths else None

    def verdict(self, kind: str) -> Verdict:
        """The grade of one of its checked figures (a CHECKS kind of subject function, or dlq_messages)."""
        return _verdict(self, kind, self.findings)


@dataclass
class GroupReview:
    kind: str
    name: str
    function_count: int
    peak_concurrency: float | None
    invocations: float | None
    errors: float | None
    throttles: float | None
    reserved_total: int | None
    async_events_dropped: float | None
    dlq_messages: int | None
    status: str = "ok"
    reason: str = ""       # why, when not ok: the worst member's first reason


@dataclass
class QueueReview:
    """A dead-letter queue or on-failure destination of the target, as last read."""
    name: str
    arn: str
    visible: int | None      # messages waiting now; None: not read, unreadable or read too long ago
    error: str | None
    updated_at: float
    status: str
    reason: str = ""


@dataclass
class TargetReview:
    target: str
    account: str | None                 # None: never reached (no credentials, STS refused)
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
    reserved_total: int | None          # None: some functions' reserved concurrency is unknown and none is known
    provisioned_total: int | None
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
    health: Health | None = None
    functions_unknown: int = 0          # functions whose metrics were not collected over the whole window
    config_unknown: int = 0             # functions whose reserved/provisioned/destination is unknown
    functions: list[FunctionReview] = field(default_factory=list)
    groups: list[GroupReview] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    queues: list[QueueReview] = field(default_factory=list)
    metrics_known: str = "complete"     # the account's own series over the window: complete | partial | none
    functions_known: str = "complete"   # the fleet's totals (every listed function's series), likewise

    @property
    def reservable(self) -> int | None:
        """What may be reserved: the limit less the 100 Lambda keeps unreserved."""
        lim = self.concurrency_limit
        return lim - UNRESERVED_FLOOR if lim and lim > UNRESERVED_FLOOR else None

    def verdict(self, kind: str) -> Verdict:
        """The grade of one CHECKS kind for the whole target: its own figure for account checks; for
        function and queue checks the worst subject's (with how many), unknown where not all are known."""
        return _verdict(self, kind, self.findings)


@dataclass
class Review:
    start: int
    end: int
    status: str
    targets: list[TargetReview]
    findings: list[Finding]
    errors: list[dict[str, Any]]   # each target's latest collection errors
    cost: Any = None               # analysis.cost.Cost, attached by the caller (what collecting costs)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)


def window(now: float, seconds: int) -> tuple[int, int]:
    """The review window [start, end) of the last `seconds`: whole minutes up to the current one,
    which CloudWatch has not finished yet. The CLI's check and the dashboard both use it."""
    now = int(now)
    return (now - seconds) // 60 * 60, now // 60 * 60


def worst(*statuses: str) -> str:
    return max(statuses, key=SEVERITY.__getitem__, default="ok")


def worst_verdict(*verdicts: Verdict) -> Verdict:
    """The most severe of several verdicts (a tile showing two graded figures), unknown over not graded."""
    return max(verdicts, key=lambda v: SEVERITY[v.status] if v.status else -1)


def grade(value: float | None, t: Threshold) -> str:
    """ok / warn / critical for a value against a threshold; unknown for an unknown value."""
    if value is None:
        return "unknown"
    return "critical" if value >= t.critical else "warn" if value >= t.warn else "ok"


Known = Literal["complete", "partial", "none"]


def known_figure(value: float | None, known: Known) -> float | None:
    """A figure as far as it is known: exact over a fully collected window (0 is a real zero); over a
    partly collected one the value is a floor, kept when above 0 (at least this much happened) and
    unknown when 0 (the quiet part may be the part not read); unknown when nothing was collected."""
    if known == "complete":
        return value or 0.0
    if known == "partial" and value:
        return value
    return None


def known_sum(values: Iterable[float | None]) -> float | None:
    """Sum of figures: exact when all are known, else the known part when above 0, else unknown."""
    vals = list(values)
    k = [v for v in vals if v is not None]
    if len(k) == len(vals):
        return float(sum(k)) if vals else 0.0
    return float(sum(k)) if sum(k) else None


def review(store: Store, start: int, end: int, thresholds: dict[str, Threshold], group_kind: str = "prefix",
           *, now: float | None = None, expected: Iterable[tuple[str, str]] = (),
           max_age_s: float = DEFAULT_MAX_AGE_S, function_max_age_s: float | None = None) -> Review:
    """The review of every (target, region) over [start, end): those `expected` (the config's) and those
    the store has met. A configured target with no data is listed as unknown with its last errors; data
    older than `max_age_s` at `now` (default: the window's end) is stale, and stale is unknown.
    Per-function series may lag `function_max_age_s` (read on their own, slower cadence)."""
    now = end if now is None else now
    health = {(h["target"], h["region"]): h for h in store.health()}
    accounts = {(a["target"], a["region"]): a for a in store.accounts()}
    keys = sorted(set(expected) | health.keys() | accounts.keys())
    fn_age = max_age_s if function_max_age_s is None else function_max_age_s
    targets = [t for key in keys if (t := _target(store, key, health.get(key), accounts.get(key), start, end, now,
                                                  thresholds, group_kind, max_age_s, fn_age)) is not None]
    findings = sorted((f for t in targets for f in t.findings),
                      key=lambda f: (-SEVERITY[f.severity], f.account or "", f.region, f.kind, f.subject))
    errors = [e for t in targets for e in (t.health.errors if t.health else [])]
    status = worst(*(t.status for t in targets))
    return Review(start, end, status, targets, findings, errors)


def _health(store: Store, h: dict[str, Any] | None, account: str | None, region: str, now: float,
            max_age_s: float) -> Health:
    errors = [] if h is None else store.errors(h["last_cycle"], h["target"], region)
    data_end = store.data_end(account, region) if account else None
    h = h or {}
    return Health(last_attempt=h.get("last_attempt"), last_success=h.get("last_success"),
                  listed_at=h.get("listed_at"), data_end=data_end,
                  stale=data_end is None or now - data_end > max_age_s, errors=errors)


def _why(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "no error recorded: is the collector running?"
    e = errors[0]
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{e['code']} on {e['api']}: {e['message']}{more}"


def _target(store: Store, key: tuple[str, str], h: dict[str, Any] | None, acc: dict[str, Any] | None,
            start: int, end: int, now: float, th: dict[str, Threshold], group_kind: str,
            max_age_s: float, fn_age_s: float) -> TargetReview | None:
    target, region = key
    account = (acc or {}).get("account") or (h or {}).get("account")
    health = _health(store, h, account, region, now, max_age_s)
    kind = "not_collected"
    if region == DISCOVERY_REGION:   # an organization's discovery: listed only while it is not known to work
        if h is not None and not health.errors:
            return None
        kind = "discovery"
        msg = (f"{target}: account discovery failed: {_why(health.errors)}; the accounts known before are still "
               "collected, new ones are not seen" if h is not None else
               f"{target}: the organization's accounts were never discovered: {_why(health.errors)}")
    elif account is None:   # never reached AWS: nothing is known but why
        msg = f"{target} {region}: never collected: {_why(health.errors)}"
    if account is None or region == DISCOVERY_REGION:
        return TargetReview(
            target=target, account=None, region=region, updated_at=None, coverage_ratio=0.0,
            concurrency_limit=None, quota_concurrency=None, unreserved_limit=None, peak_concurrency=None,
            peak_claimed_concurrency=None, peak_unreserved_concurrency=None, concurrency_headroom=None,
            concurrency_headroom_pct=None, reserved_total=None, provisioned_total=None, code_storage_used_bytes=None,
            code_storage_limit_bytes=None, function_count=None, invocations=None, throttles=None,
            async_events_dropped=None, dead_letter_errors=None, destination_delivery_failures=None,
            provisioned_spillover=None, dlq_messages=None, status="unknown", health=health,
            findings=[Finding("unknown", kind, None, region, "account", None, None, msg)])
    # a discovered account the organization says is closed, gone or filtered out: its history is reviewed,
    # but it is not collected any more, so it is never ok
    closed = [e for e in health.errors if e["source"] == "organization" and e["code"] in ORG_NOT_COLLECTED]
    acc = acc or {"account": account, "region": region, "target": target, "updated_at": None,
                  "concurrency_limit": None, "unreserved_limit": None, "code_storage_limit": None,
                  "code_storage_used": None, "function_count": None, "quota_concurrency": None}
    agg = store.aggregates(account, region, start, end)
    cov = store.covered_seconds(account, region, start, end)
    span = end - start

    def known(scope: str, dim: str = "") -> Known:
        """complete: no hole in the window but a tail no older than max_age; partial: some; none."""
        secs, last = cov.get((scope, dim), (0, None))
        if not secs or last is None:
            return "none"
        tail = max(0, end - last)
        age = max_age_s if scope == "account" else fn_age_s
        return "complete" if span - secs - tail <= 0 and tail <= age else "partial"

    # Summed and maxed once per (metric, dim): a review asks ~12 figures of each of thousands of functions.
    sums: dict[tuple[str, str], float] = {}
    peaks: dict[tuple[str, str], float] = {}
    metric_sums: dict[str, float] = {}
    for (m, d, _res), (sm, mx) in agg.items():
        md = (m, d)
        sums[md] = sums.get(md, 0) + sm          # the order and start of sum(): the same float
        peaks[md] = max(peaks[md], mx) if md in peaks else mx
        metric_sums[m] = metric_sums.get(m, 0) + sm

    def total(metric: str, dim: str | None = None) -> float:
        """Sum over the window over every matching series (0 without points: knownness is decided apart)."""
        return metric_sums.get(metric, 0) if dim is None else sums.get((metric, dim), 0)

    def peak(metric: str, dim: str = "") -> float:
        return peaks.get((metric, dim), 0.0)

    functions = store.functions(account, region)
    prov_rows = store.provisioned(account, region)
    prov_by_fn: dict[str, int] = defaultdict(int)
    for p in prov_rows:
        prov_by_fn[p["function"]] += p["allocated"] or p["requested"] or 0
    queues = {q["arn"]: q for q in store.queues(account, region)}

    def depth(arn: str | None) -> int | None:
        """Messages waiting now; None when not read, not readable, or read longer ago than max_age."""
        q = queues.get(arn) if arn else None
        if q is None or q["visible"] is None or now - q["updated_at"] > max_age_s:
            return None
        return q["visible"]

    findings: list[Finding] = []

    def check(subject: str, obj: Any, name: str) -> list[Finding]:
        """Walk the CHECKS of one subject kind over one subject; what is not ok becomes a finding."""
        return [x for c in CHECKS_OF[subject] if (x := _grade(c, obj, name, th, account, region))]

    # Dead-letter queues and on-failure destinations first, once each however many functions feed
    # them: a function's status includes its queues' (what waits there is its events).
    queue_reviews: list[QueueReview] = []
    queue_findings: dict[str, Finding] = {}   # by arn: the queue's finding its feeders share
    for arn, q in sorted(queues.items(), key=lambda kv: (kv[1]["name"], kv[0])):
        qr = QueueReview(q["name"], arn, depth(arn), q["error"], q["updated_at"], "ok")
        if (fq := check("queue", qr, q["name"])):
            findings.extend(fq)
            queue_findings[arn] = fq[0]
            qr.status, qr.reason = fq[0].severity, fq[0].message
        elif qr.visible is None:
            qr.status = "unknown"
            qr.reason = (f"DLQ {q['name']}: {q['error']}" if q["error"] else
                         f"DLQ {q['name']}: not read within the max age ({age_text(max_age_s)})"
                         if q["visible"] is not None else f"DLQ {q['name']}: depth not read")
            # its feeders cannot be called ok on their queue's account: what waits there is unknown
            queue_findings[arn] = Finding("unknown", "dlq_messages", account, region, q["name"], None, None,
                                          qr.reason)
        queue_reviews.append(qr)

    fn_reviews = []
    for name, f in sorted(functions.items()):
        k = known("function", name)
        config_known = f["detail_at"] is not None
        if not config_known:
            spill_known: Known = known("alias", name) if ("alias", name) in cov else "none"
        elif prov_by_fn.get(name):
            spill_known = known("alias", name)
        else:
            spill_known = "complete"   # no provisioned concurrency: nothing can spill over
        spill = known_figure(total("ProvisionedConcurrencySpilloverInvocations", name), spill_known)
        secs = cov.get(("function", name), (0, None))[0]
        fr = FunctionReview(
            name=name, groups=f["groups"], tags=f["tags"], runtime=f["runtime"], memory_mb=f["memory_mb"],
            reserved_concurrency=f["reserved_concurrency"] if config_known else None,
            provisioned=prov_by_fn.get(name, 0) if config_known else None,
            peak_concurrency=known_figure(peak("ConcurrentExecutions", name), k),
            invocations=known_figure(total("Invocations", name), k),
            errors=known_figure(total("Errors", name), k), throttles=known_figure(total("Throttles", name), k),
            async_events_dropped=known_figure(total("AsyncEventsDropped", name), k),
            dead_letter_errors=known_figure(total("DeadLetterErrors", name), k),
            destination_delivery_failures=known_figure(total("DestinationDeliveryFailures", name), k),
            max_async_event_age_ms=known_figure(peak("AsyncEventAge", name), k),
            max_duration_ms=known_figure(peak("DurationMax", name), k),
            provisioned_spillover=spill, code_size_bytes=f["code_size"],
            code_size_all_versions_bytes=f["code_size_all_versions"], version_count=f["version_count"],
            dlq_arn=f["dlq_arn"], dlq_messages=depth(f["dlq_arn"]),
            on_failure_arn=f["on_failure_arn"] if config_known else None,
            on_failure_messages=depth(f["on_failure_arn"]) if config_known else None,
            config_known=config_known, config_read_at=f["detail_at"],
            coverage_ratio=round(secs / span, 4) if span > 0 else 0.0, metrics_known=k)
        if fr.max_async_event_age_ms == 0 and (fr.async_events_dropped or 0) > 0:
            fr.max_async_event_age_ms = None   # events were dropped, so they aged: the age is not stored, not 0
        own = check("function", fr, name)
        findings.extend(own)
        fr.findings = own + [queue_findings[a] for a in dict.fromkeys((fr.dlq_arn, fr.on_failure_arn))
                             if a in queue_findings]
        if k != "complete":
            fr.findings.append(Finding("unknown", "incomplete", account, region, name, fr.coverage_ratio, None,
                                       f"{name}: metrics collected for {100 * fr.coverage_ratio:.0f} % of the window"
                                       if k == "partial" else f"{name}: metrics not collected in the window"))
        if not config_known:
            fr.findings.append(Finding("unknown", "incomplete", account, region, name, None, None,
                                       f"{name}: reserved and provisioned concurrency and destinations unknown "
                                       "(the per-function calls failed)"))
        fr.findings.sort(key=lambda x: -SEVERITY[x.severity])
        fr.status = worst(*(x.severity for x in fr.findings))
        fn_reviews.append(fr)

    # The account's own series, and the fleet's totals (known when every listed function is).
    ka = known("account")
    listed = health.listed_at is not None
    fn_states = [known("function", n) for n in functions]
    fns_unknown = sum(x != "complete" for x in fn_states)
    if not listed or (functions and all(x == "none" for x in fn_states)):
        kf: Known = "none" if not any(x != "none" for x in fn_states) else "partial"
    else:
        kf = "complete" if fns_unknown == 0 else "partial"
    limit = acc["concurrency_limit"]
    peak_conc = known_figure(peak("AccountConcurrentExecutions"), ka)
    peak_claimed = known_figure(peak("ClaimedAccountConcurrency"), ka)
    config_unknown = sum(not fr.config_known for fr in fn_reviews)
    reserved_total = _int(known_sum(fr.reserved_concurrency or 0 if fr.config_known else None for fr in fn_reviews))
    provisioned_total = _int(known_sum(fr.provisioned for fr in fn_reviews))
    used = max((v for v in (peak_conc, peak_claimed) if v is not None), default=None)
    headroom = limit - used if limit and used is not None else None
    # a queue in another account or region is not readable from this target: not counted here
    local = [arn for arn in queues if arn.split(":")[3:5] == [region, account]]
    dlq_messages = _int(known_sum(depth(arn) for arn in local))
    spill_total = known_sum(f.provisioned_spillover for f in fn_reviews)
    if not listed:   # never listed: sums over functions and their queues are over an unknown set
        reserved_total = provisioned_total = dlq_messages = None
        spill_total = spill_total or None
    groups = _groups(store, account, region, group_kind, start, end, fn_reviews)
    t = TargetReview(
        target=target, account=account, region=region, updated_at=acc["updated_at"],
        coverage_ratio=round(cov.get(("account", ""), (0, None))[0] / span, 4) if span > 0 else 0.0,
        concurrency_limit=limit, quota_concurrency=acc["quota_concurrency"], unreserved_limit=acc["unreserved_limit"],
        peak_concurrency=peak_conc, peak_claimed_concurrency=peak_claimed,
        peak_unreserved_concurrency=known_figure(peak("UnreservedConcurrentExecutions"), ka),
        concurrency_headroom=headroom,
        concurrency_headroom_pct=round(100 * headroom / limit, 2) if headroom is not None and limit else None,
        reserved_total=reserved_total, provisioned_total=provisioned_total,
        code_storage_used_bytes=acc["code_storage_used"], code_storage_limit_bytes=acc["code_storage_limit"],
        function_count=acc["function_count"] if acc["function_count"] is not None else len(functions) or None,
        invocations=known_figure(total("Invocations"), kf), throttles=known_figure(total("Throttles"), kf),
        async_events_dropped=known_figure(total("AsyncEventsDropped"), kf),
        dead_letter_errors=known_figure(total("DeadLetterErrors"), kf),
        destination_delivery_failures=known_figure(total("DestinationDeliveryFailures"), kf),
        provisioned_spillover=spill_total, dlq_messages=dlq_messages,
        status="ok", health=health, functions_unknown=fns_unknown, config_unknown=config_unknown,
        functions=fn_reviews, groups=groups, findings=findings, queues=queue_reviews, metrics_known=ka,
        functions_known=kf)
    findings[:0] = check("account", t, "account")

    def unknown(kind: str, text: str, value: float | None = None) -> None:
        findings.append(Finding("unknown", kind, account, region, "account", value, None, f"{target} {region}: {text}"))

    if closed:
        unknown("not_collected", f"not collected: {closed[0]['message']}")
    elif health.stale:
        since = "no data yet" if health.data_end is None else f"no data for {age_text(now - health.data_end)}"
        unknown("stale", f"stale: {since} (max age {age_text(max_age_s)}): {_why(health.errors)}",
                None if health.data_end is None else now - health.data_end)
    elif ka != "complete":
        unknown("incomplete", "account concurrency not collected for the whole window")
    if acc["concurrency_limit"] is None:
        unknown("incomplete", "account limits unknown (lambda:GetAccountSettings never answered)")
    if not listed:
        unknown("incomplete", "functions never listed (lambda:ListFunctions has not answered yet)")
    elif fns_unknown and not health.stale:
        unknown("incomplete", f"{fns_unknown:,} of {len(functions):,} functions' metrics not collected for the "
                f"whole window", fns_unknown)
    if config_unknown:
        unknown("incomplete", f"reserved/provisioned concurrency unknown for {config_unknown:,} function(s) "
                "(per-function calls failed)", config_unknown)
    unread = len(local) - sum(depth(arn) is not None for arn in local)
    if unread:
        unknown("incomplete", f"{unread:,} dead-letter queue(s) not read within the max age", unread)
    findings.sort(key=lambda x: -SEVERITY[x.severity])
    # every status is the worst of its findings: the target's are all of its own and its subjects'
    t.status = worst(*(f.status for f in fn_reviews), *(x.severity for x in findings))
    return t


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


def _groups(store: Store, account: str, region: str, kind: str, start: int, end: int,
            fns: list[FunctionReview]) -> list[GroupReview]:
    members: dict[str, list[FunctionReview]] = defaultdict(list)
    for f in fns:
        if kind in f.groups:
            members[f.groups[kind]].append(f)
    return group_totals(kind, members, store.group_peaks(account, region, kind, start, end))


def group_totals(kind: str, members: dict[str, list[FunctionReview]], peaks: dict[str, float]) -> list[GroupReview]:
    """One GroupReview per group, by name: sums of the members' figures (exact when every member's is
    known, a floor when some are unknown and the rest is above 0, else unknown), the group's peak of
    summed per-minute concurrency from `peaks` (missing: no point) known as far as its members' metrics
    are, DLQs and destinations counted once."""
    out = []
    for name, fs in sorted(members.items()):
        dlqs = {f.dlq_arn: f.dlq_messages for f in fs if f.dlq_arn} | \
               {f.on_failure_arn: f.on_failure_messages for f in fs if f.on_failure_arn}
        ks = {f.metrics_known for f in fs}
        state: Known = "complete" if ks == {"complete"} else "none" if ks == {"none"} else "partial"
        reserved = known_sum(f.reserved_concurrency or 0 if f.config_known else None for f in fs)
        out.append(GroupReview(
            kind=kind, name=name, function_count=len(fs), peak_concurrency=known_figure(peaks.get(name), state),
            invocations=known_sum(f.invocations for f in fs), errors=known_sum(f.errors for f in fs),
            throttles=known_sum(f.throttles for f in fs), reserved_total=_int(reserved),
            async_events_dropped=known_sum(f.async_events_dropped for f in fs),
            dlq_messages=_int(known_sum(dlqs.values())), status=worst(*(f.status for f in fs))))
        g = out[-1]
        bad = [f for f in fs if f.status == g.status and f.findings]
        if g.status != "ok" and bad:
            more = f" (+{len(bad) - 1:,} more function(s) {g.status})" if len(bad) > 1 else ""
            g.reason = bad[0].findings[0].message + more
    return out


def age_text(seconds: float) -> str:
    """14 min, 3 h 5 min, 2 d 4 h: how long, in the units an on-call reader counts in."""
    m = int(seconds // 60)
    if m < 120:
        return f"{m} min"
    if m < 48 * 60:
        return f"{m // 60} h {m % 60} min"
    return f"{m // 1440} d {m % 1440 // 60} h"


def _grade(c: Check, obj: Any, name: str, th: dict[str, Threshold], account: str | None, region: str
           ) -> Finding | None:
    """The finding of one check over one subject, or None when ok, unknown (reported apart, once per
    target) or not configured (no limit of its own: nothing to grade)."""
    value = getattr(obj, c.figure)
    limit = getattr(obj, c.limit) if c.limit else None
    if value is None or (c.limit and not limit):
        return None
    graded = value / limit if limit else value
    severity = grade(graded, th[c.kind])
    if severity == "ok":
        return None
    size = _size if c.unit == "bytes" else _n
    text = c.message.format(name=name, value=size(value), limit=size(limit), pct=_pct(graded))
    return Finding(severity, c.kind, account, region, name, graded, limit, text)


NOT_CONFIGURED = {"function_concurrency": "no reserved concurrency (uses the unreserved pool)",
                  "provisioned_spillover": "no provisioned concurrency",
                  "dlq_messages": "no dead-letter queue or on-failure destination"}


def summary(kind: str, findings: Iterable[Finding]) -> tuple[Verdict, Finding] | None:
    """The verdict of one kind over several findings (the worst one's message, and how many more), with
    that worst finding; None when none is of that kind."""
    mine = [f for f in findings if f.kind == kind]
    if not mine:
        return None
    top = max(mine, key=lambda f: SEVERITY[f.severity])   # the first of the worst: findings come sorted
    more = f" (+{len(mine) - 1:,} more)" if len(mine) > 1 else ""
    return Verdict(top.severity, top.message + more), top


def _verdict(obj: "TargetReview | FunctionReview", kind: str, findings: list[Finding]) -> Verdict:
    c = CHECK[kind]
    if (s := summary(kind, findings)) is not None:
        return s[0]
    # No finding. Ok only where the figure is known in full: a figure over a partly collected window is a
    # floor, and a floor below the threshold says nothing (the part not read may hold the peak).
    if isinstance(obj, TargetReview) and c.subject == "queue":
        unread = sum(q.status == "unknown" for q in obj.queues)
        return Verdict("unknown", f"{unread:,} queue(s) not read within the max age") if unread else Verdict("ok", "")
    if isinstance(obj, TargetReview) and c.subject == "function":
        if obj.functions_known != "complete" or obj.functions_unknown:
            return Verdict("unknown", f"{obj.functions_unknown:,} function(s) not collected for the whole window")
        if obj.config_unknown and kind in NOT_CONFIGURED:
            return Verdict("unknown", f"configuration unknown for {obj.config_unknown:,} function(s)")
        return Verdict("ok", "")
    if isinstance(obj, TargetReview) and c.source == "metrics" and obj.metrics_known != "complete":
        return Verdict("unknown", f"a floor: {100 * obj.coverage_ratio:.0f} % of the window collected")
    if isinstance(obj, TargetReview) and c.source == "config" and obj.config_unknown:
        return Verdict("unknown", f"reserved concurrency unknown for {obj.config_unknown:,} function(s)")
    if isinstance(obj, FunctionReview) and kind == "dlq_messages":
        if not (obj.dlq_arn or obj.on_failure_arn):
            return Verdict(None, NOT_CONFIGURED[kind])
        known_q = obj.dlq_messages is not None or obj.on_failure_messages is not None
        return Verdict("ok", "") if known_q else Verdict("unknown", "depth not read within the max age")
    if isinstance(obj, FunctionReview) and not obj.config_known and kind in NOT_CONFIGURED:
        return Verdict("unknown", "configuration unknown (the per-function calls failed)")
    if isinstance(obj, FunctionReview) and kind == "provisioned_spillover" and obj.provisioned == 0:
        return Verdict(None, NOT_CONFIGURED[kind])
    if isinstance(obj, FunctionReview) and c.source == "metrics" and obj.metrics_known != "complete":
        return Verdict("unknown", f"a floor: {100 * obj.coverage_ratio:.0f} % of the window collected"
                       if obj.metrics_known == "partial" else "not collected in the window")
    value = getattr(obj, c.figure)
    if c.limit and not getattr(obj, c.limit):
        if kind in NOT_CONFIGURED:
            return Verdict(None, NOT_CONFIGURED[kind])
        return Verdict("unknown", "limit unknown")
    if value is None:
        return Verdict("unknown", "not collected for the whole window")
    return Verdict("ok", "")


def _pct(r: float) -> str:
    """A share as a percent: < 0.1 %, 0.8 %, 13 %, 100 % (as the dashboard's fmt.pct writes it)."""
    p = 100 * r
    if p == 0:
        return "0 %"
    if p < 0.1:
        return "< 0.1 %"
    return f"{p:,.1f} %" if p < 10 and not float(p).is_integer() else f"{p:,.0f} %"


def _n(v: float | None) -> str:
    return "unknown" if v is None else f"{v:,.0f}"


def _size(v: float | None) -> str:
    """Bytes in the unit that shows them: 31.5 MB, 60.2 GB."""
    if v is None:
        return "unknown"
    return f"{v / 1024 ** 2:,.1f} MB" if v < 1024 ** 3 else f"{v / 1024 ** 3:,.1f} GB"
