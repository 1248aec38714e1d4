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

from collectors.config import Threshold
from collectors.store import Store

UNRESERVED_FLOOR = 100  # Lambda keeps at least this much concurrency unreserved
# unknown ranks above warn: what is not known may be critical; a known critical still comes first.
SEVERITY = {"ok": 0, "warn": 1, "unknown": 2, "critical": 3}
DEFAULT_MAX_AGE_S = 180


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


def grade(value: float | None, t: Threshold) -> str:
    """ok / warn / critical for a value against a threshold; unknown values are not graded."""
    if value is None:
        return "ok"
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
    targets = [_target(store, key, health.get(key), accounts.get(key), start, end, now, thresholds, group_kind,
                       max_age_s, fn_age) for key in keys]
    findings = sorted((f for t in targets for f in t.findings),
                      key=lambda f: (-SEVERITY[f.severity], f.account or "", f.region, f.kind, f.subject))
    errors = [e for t in targets for e in (t.health.errors if t.health else [])]
    status = worst(*(t.status for t in targets))
    return Review(start, end, status, targets, findings, errors)


def latest_errors(store: Store) -> list[dict[str, Any]]:
    """Errors of each (target, region)'s latest attempt (what is failing now)."""
    return store.latest_errors()


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
            max_age_s: float, fn_age_s: float) -> TargetReview:
    target, region = key
    account = (acc or {}).get("account") or (h or {}).get("account")
    health = _health(store, h, account, region, now, max_age_s)
    if account is None:   # never reached AWS: nothing is known but why
        msg = f"{target} {region}: never collected: {_why(health.errors)}"
        return TargetReview(
            target=target, account=None, region=region, updated_at=None, coverage_ratio=0.0,
            concurrency_limit=None, quota_concurrency=None, unreserved_limit=None, peak_concurrency=None,
            peak_claimed_concurrency=None, peak_unreserved_concurrency=None, concurrency_headroom=None,
            concurrency_headroom_pct=None, reserved_total=None, provisioned_total=None, code_storage_used_bytes=None,
            code_storage_limit_bytes=None, function_count=None, invocations=None, throttles=None,
            async_events_dropped=None, dead_letter_errors=None, destination_delivery_failures=None,
            provisioned_spillover=None, dlq_messages=None, status="unknown", health=health,
            findings=[Finding("unknown", "not_collected", None, region, "account", None, None, msg)])
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

    # Indexed once: a review asks ~12 figures per function, and scanning every series for each
    # one is O(functions x series).
    by_metric: dict[str, list[tuple[str, str, float, float]]] = defaultdict(list)
    by_dim: dict[tuple[str, str], list[tuple[str, float, float]]] = defaultdict(list)
    for (m, d, res), (sm, mx) in agg.items():
        by_metric[m].append((d, res, sm, mx))
        by_dim[(m, d)].append((res, sm, mx))

    def total(metric: str, dim: str | None = None) -> float:
        """Sum over the window over every matching series (0 without points: knownness is decided apart)."""
        if dim is None:
            return sum(sm for _, _, sm, _ in by_metric.get(metric, ()))
        return sum(sm for _, sm, _ in by_dim.get((metric, dim), ()))

    def peak(metric: str, dim: str = "") -> float:
        return max((mx for _, _, mx in by_dim.get((metric, dim), ())), default=0.0)

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

    def check(kind: str, subject: str, value: float | None, limit: float | None, text: str) -> str:
        """Grade value (a ratio for limit-based thresholds, a count otherwise) and record a finding."""
        s = grade(value, th[kind])
        if s != "ok":
            findings.append(Finding(s, kind, account, region, subject, value, limit, text))
        return s

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
        if k != "complete" or not config_known:
            st.append("unknown")
        fr.status = worst(*st)
        fn_reviews.append(fr)

    # Dead-letter queues, once each however many functions feed them.
    for arn, q in sorted(queues.items()):
        waiting = depth(arn)
        if waiting is not None:
            check("dlq_messages", q["name"], waiting, None, f"DLQ {q['name']}: {waiting} messages waiting")

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
    st = []
    if limit:
        st.append(check("concurrency", "account", _ratio(peak_conc, limit), limit,
                        f"peak concurrency {_n(peak_conc)} of {limit} ({_pct(peak_conc, limit)})"))
        st.append(check("claimed_concurrency", "account", _ratio(peak_claimed, limit), limit,
                        f"peak claimed concurrency {_n(peak_claimed)} of {limit} ({_pct(peak_claimed, limit)})"))
        if limit > UNRESERVED_FLOOR and reserved_total is not None:
            st.append(check("reserved_allocation", "account", reserved_total / (limit - UNRESERVED_FLOOR),
                            limit - UNRESERVED_FLOOR, f"{reserved_total} reserved of the {limit - UNRESERVED_FLOOR} "
                            f"that may be reserved (limit {limit} less the {UNRESERVED_FLOOR} unreserved floor)"))
    if acc["code_storage_limit"]:
        st.append(check("code_storage", "account", _ratio(acc["code_storage_used"], acc["code_storage_limit"]),
                        acc["code_storage_limit"], f"code storage {_gb(acc['code_storage_used'])} of "
                        f"{_gb(acc['code_storage_limit'])} ({_pct(acc['code_storage_used'], acc['code_storage_limit'])})"))

    def unknown(kind: str, text: str, value: float | None = None) -> None:
        findings.append(Finding("unknown", kind, account, region, "account", value, None, f"{target} {region}: {text}"))

    if health.stale:
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
    status = worst(*st, *(f.status for f in fn_reviews), *(x.severity for x in findings))

    groups = _groups(store, account, region, group_kind, start, end, fn_reviews)
    return TargetReview(
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
        status=status, health=health, functions_unknown=fns_unknown, config_unknown=config_unknown,
        functions=fn_reviews, groups=groups, findings=findings)


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
    return out


def age_text(seconds: float) -> str:
    """14 min, 3 h 5 min, 2 d 4 h: how long, in the units an on-call reader counts in."""
    m = int(seconds // 60)
    if m < 120:
        return f"{m} min"
    if m < 48 * 60:
        return f"{m // 60} h {m % 60} min"
    return f"{m // 1440} d {m % 1440 // 60} h"


def _ratio(v: float | None, limit: float | None) -> float | None:
    return v / limit if v is not None and limit else None


def _pct(v: float | None, limit: float | None) -> str:
    r = _ratio(v, limit)
    return "unknown" if r is None else f"{100 * r:.0f} %"


def _n(v: float | None) -> str:
    return "unknown" if v is None else f"{v:,.0f}"


def _gb(v: float | None) -> str:
    return "unknown" if v is None else f"{v / 1024 ** 3:.1f} GB"
