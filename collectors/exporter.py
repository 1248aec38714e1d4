"""`collect --metrics-port PORT`: headroom's figures and its own health on /metrics for Prometheus.

After each cycle `Exporter.update()` takes the review over `[prometheus] window` (the numbers
`check --window` prints for that window) and the store's health into a snapshot; a scrape only
reads the snapshot, so Prometheus never waits for a review. Unknown is no sample, never 0.

- gauges over the review window, per target (account, region): limits, peaks, headroom ratio,
  allocations, code storage, DLQ depth, the window's throttles and async drops; per function where
  non-zero: the window's throttles and async drops, its DLQ's depth;
- counters built from the collected minutes since the exporter started (`*_total`, for rate()):
  throttles and async drops per target and per function;
- health: headroom_collect_up (0 for a failed or stale target), last success, the latest attempt's
  errors by API and code, CloudWatch metrics requested, cycle duration.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from analysis import review as rv
from .config import Settings
from .store import Store

TARGET = ["target", "account", "region"]
FUNCTION = [*TARGET, "function", "group"]
HEALTH = ["target", "region"]


def _headroom_ratio(t: rv.TargetReview) -> float | None:
    h, limit = t.concurrency_headroom, t.concurrency_limit
    return None if h is None or not limit else h / limit


# (name, help, the figure of a TargetReview): window figures per target; None (unknown) is left out
TARGET_GAUGES: tuple[tuple[str, str, Callable[[rv.TargetReview], float | None]], ...] = (
    ("headroom_concurrency_limit", "Lambda's account concurrency limit (GetAccountSettings).",
     attrgetter("concurrency_limit")),
    ("headroom_concurrency_peak", "Peak ConcurrentExecutions (1-minute maximum) over the review window.",
     attrgetter("peak_concurrency")),
    ("headroom_claimed_concurrency_peak", "Peak ClaimedAccountConcurrency over the review window.",
     attrgetter("peak_claimed_concurrency")),
    ("headroom_concurrency_headroom_ratio", "(limit - max(peak, peak claimed)) / limit over the review window.",
     _headroom_ratio),
    ("headroom_unreserved_limit", "Concurrency left unreserved (GetAccountSettings).", attrgetter("unreserved_limit")),
    ("headroom_reserved_concurrency", "Sum of the functions' reserved concurrency.", attrgetter("reserved_total")),
    ("headroom_provisioned_concurrency", "Sum of provisioned concurrency allocated.", attrgetter("provisioned_total")),
    ("headroom_code_storage_bytes", "Code storage used, every version counted.", attrgetter("code_storage_used_bytes")),
    ("headroom_code_storage_limit_bytes", "Code storage limit.", attrgetter("code_storage_limit_bytes")),
    ("headroom_dlq_messages", "Messages waiting in the target's dead-letter queues and on-failure destinations now.",
     attrgetter("dlq_messages")),
    ("headroom_window_throttles", "Throttles over the review window (sum over functions).", attrgetter("throttles")),
    ("headroom_window_async_events_dropped", "Async events dropped over the review window (sum over functions).",
     attrgetter("async_events_dropped")),
)
FUNCTION_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("headroom_function_window_throttles", "A function's throttles over the review window (non-zero only).",
     "throttles"),
    ("headroom_function_window_async_events_dropped",
     "A function's async events dropped over the review window (non-zero only).", "async_events_dropped"),
)
# (counter name without _total, help, catalogue metric): rate()-able counts from the collected minutes
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("headroom_throttles", "Throttles in the minutes collected since the exporter started.", "Throttles"),
    ("headroom_async_events_dropped", "Async events dropped in the minutes collected since the exporter started.",
     "AsyncEventsDropped"),
)
STATUSES = ("ok", "warn", "unknown", "critical")


class Exporter(Collector):
    """A prometheus_client collector serving the snapshot taken by the latest update()."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.clock = clock
        self.origin = int(clock()) // 60 * 60   # counters count the collected minutes from here on
        self._families: list[Metric] = []
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, tuple[str, ...]], float] = {}   # counters only go up
        self._requested: dict[tuple[str, str], float] = {}
        self._cycles = 0
        self._last_cycle: tuple[float, float] | None = None          # (finished at, duration)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = list(self._families)
        yield from families

    def cycle_done(self, results: Iterable[Any], started_at: float, finished_at: float) -> None:
        """Count a cycle's requests (CloudWatch metrics requested per target) and its duration."""
        with self._lock:
            for r in results:
                key = (r.target, r.region)
                self._requested[key] = self._requested.get(key, 0) + r.metric_queries
            self._cycles += 1
            self._last_cycle = (finished_at, finished_at - started_at)

    def review(self, store: Store, now: float) -> rv.Review:
        """The same review `check --window` prints for [prometheus] window at `now`."""
        s = self.settings
        start, end = rv.window(now, s.prometheus.window_seconds)
        return rv.review(store, start, end, s.thresholds, "prefix", now=now,
                         expected=s.expected(),
                         max_age_s=s.collection.max_age_seconds,
                         function_max_age_s=s.collection.function_max_age_seconds)

    def update(self, store: Store, now: float | None = None) -> rv.Review:
        """Take a new snapshot from the store; returns the review it is built from."""
        now = self.clock() if now is None else now
        review = self.review(store, now)
        families = self._build(store, review)
        with self._lock:
            self._families = families
        return review

    def _counter(self, name: str, labels: tuple[str, ...], value: float) -> float:
        """Never lower than before: a re-read minute may be smaller, a counter may not go down."""
        key = (name, labels)
        value = max(value, self._counts.get(key, 0.0))
        self._counts[key] = value
        return value

    def _build(self, store: Store, review: rv.Review) -> list[Metric]:
        fams: list[Metric] = []
        window = GaugeMetricFamily("headroom_review_window_seconds", "The window the headroom_* window figures are "
                                   "over ([prometheus] window).")
        window.add_metric([], review.end - review.start)
        fams.append(window)
        gauges = {name: GaugeMetricFamily(name, help_, labels=TARGET) for name, help_, _ in TARGET_GAUGES}
        fgauges = {name: GaugeMetricFamily(name, help_, labels=FUNCTION) for name, help_, _ in FUNCTION_GAUGES}
        dlq = GaugeMetricFamily("headroom_function_dlq_messages", "Messages waiting now in a function's dead-letter "
                                "queue (non-zero only; a shared queue appears under each function).",
                                labels=[*FUNCTION, "queue"])
        counters = {name: CounterMetricFamily(name, help_, labels=TARGET, created=self.origin)
                    for name, help_, _ in COUNTERS}
        fcounters = {name: CounterMetricFamily(f"headroom_function_{name.removeprefix('headroom_')}",
                                               help_.replace("Throttles", "A function's throttles")
                                               .replace("Async", "A function's async"), labels=FUNCTION,
                                               created=self.origin)
                     for name, help_, _ in COUNTERS}
        status = GaugeMetricFamily("headroom_status", "1 for the target's review status over the window "
                                   "(ok, warn, unknown or critical), 0 for the others.", labels=[*HEALTH, "status"])
        findings = GaugeMetricFamily("headroom_findings", "Findings of the review by severity.",
                                     labels=[*HEALTH, "severity"])
        for t in review.targets:
            for s_ in STATUSES:
                status.add_metric([t.target, t.region, s_], 1.0 if t.status == s_ else 0.0)
            by_sev = {s_: 0 for s_ in ("warn", "critical", "unknown")}
            for f in t.findings:
                by_sev[f.severity] += 1
            for s_, n in by_sev.items():
                findings.add_metric([t.target, t.region, s_], n)
            if t.account is None:
                continue   # never reached: no figure is known
            labels = [t.target, t.account, t.region]
            for name, _, figure in TARGET_GAUGES:
                v = figure(t)
                if v is not None:
                    gauges[name].add_metric(labels, v)
            for fr in t.functions:
                flabels = [*labels, fr.name, fr.groups.get("prefix", "")]
                for name, _, attr in FUNCTION_GAUGES:
                    v = getattr(fr, attr)
                    if v:
                        fgauges[name].add_metric(flabels, v)
                if fr.dlq_messages and fr.dlq_arn:
                    dlq.add_metric([*flabels, fr.dlq_arn.rsplit(":", 1)[-1]], fr.dlq_messages)
            if t.health is None or t.health.data_end is None:
                continue   # nothing collected yet: no count to build on
            groups = {fr.name: fr.groups.get("prefix", "") for fr in t.functions}
            totals = store.totals_since(t.account, t.region, [m for _, _, m in COUNTERS], self.origin)
            for name, _, metric in COUNTERS:
                per_fn = {dim: v for (m, dim), v in totals.items() if m == metric}
                counters[name].add_metric(labels, self._counter(name, tuple(labels), sum(per_fn.values())))
                for fn, v in sorted(per_fn.items()):
                    if v:
                        fl = (*labels, fn, groups.get(fn, ""))
                        fcounters[name].add_metric(list(fl), self._counter(f"fn:{name}", fl, v))
        fams += [*gauges.values(), *fgauges.values(), dlq, *counters.values(), *fcounters.values(), status, findings]
        fams += self._health(review)
        return fams

    def _health(self, review: rv.Review) -> list[Metric]:
        up = GaugeMetricFamily("headroom_collect_up", "1 when the target's latest collection succeeded without an "
                               "error and its data is fresh, else 0.", labels=HEALTH)
        last_ok = GaugeMetricFamily("headroom_last_success_timestamp_seconds", "When the target's latest "
                                    "collection without any error finished.", labels=HEALTH)
        last_try = GaugeMetricFamily("headroom_last_attempt_timestamp_seconds", "When the collector last tried the "
                                     "target.", labels=HEALTH)
        data = GaugeMetricFamily("headroom_data_end_timestamp_seconds", "End of the target's newest collected "
                                 "minute of account metrics.", labels=HEALTH)
        errors = GaugeMetricFamily("headroom_collect_errors", "Errors of the target's latest collection, by API and "
                                   "AWS error code.", labels=[*HEALTH, "api", "code"])
        for t in review.targets:
            h = t.health
            labels = [t.target, t.region]
            ok = h is not None and not h.errors and not h.stale and h.last_success is not None \
                and h.last_success == h.last_attempt
            up.add_metric(labels, 1.0 if ok else 0.0)
            if h is None:
                continue
            for fam, v in ((last_ok, h.last_success), (last_try, h.last_attempt), (data, h.data_end)):
                if v is not None:
                    fam.add_metric(labels, v)
            counts: dict[tuple[str, str], int] = {}
            for e in h.errors:
                counts[(e["api"], e["code"])] = counts.get((e["api"], e["code"]), 0) + 1
            for (api, code), n in sorted(counts.items()):
                errors.add_metric([*labels, api, code], n)
        requested = CounterMetricFamily("headroom_cloudwatch_metrics_requested", "CloudWatch metrics requested "
                                        "(GetMetricData, billed per metric) since the exporter started.",
                                        labels=HEALTH, created=self.origin)
        with self._lock:
            for (target, region), asked in sorted(self._requested.items()):
                requested.add_metric([target, region], asked)
            cycles, last = self._cycles, self._last_cycle
        cyc = CounterMetricFamily("headroom_cycles", "Collection cycles finished since the exporter started.",
                                  created=self.origin)
        cyc.add_metric([], cycles)
        out: list[Metric] = [up, last_ok, last_try, data, errors, requested, cyc]
        if last is not None:
            dur = GaugeMetricFamily("headroom_cycle_duration_seconds", "How long the latest collection cycle took.")
            dur.add_metric([], last[1])
            fin = GaugeMetricFamily("headroom_last_cycle_timestamp_seconds", "When the latest cycle finished.")
            fin.add_metric([], last[0])
            out += [dur, fin]
        return out


def serve(exporter: Exporter, port: int, address: str) -> tuple[Any, Any]:
    """Serve `exporter` on http://address:port/metrics in a daemon thread; returns (server, thread)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)
    return start_http_server(port, addr=address, registry=registry)
