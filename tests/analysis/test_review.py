"""The review's numbers over a small literal store."""
import json

import pytest

from analysis import history, review
from collectors.config import DEFAULT_THRESHOLDS
from collectors.store import Store

from tests.collectors.helpers import ACCOUNT, REGION, T0, AccountInfo, Point, ProvisionedConfig, QueueDepth, fn, result

DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq"
NOW = T0 + 60   # the review's clock: the queue depths read at T0 + 1 are current


@pytest.fixture
def store(store_location):   # on both backends: a SQLite file, a PostgreSQL database
    s = Store(store_location)
    cid = s.begin_cycle(T0)
    functions = [
        fn("payments-api-charge", reserved=50, tags={"team": "pay"}, groups={"prefix": "payments", "tag:team": "pay"}),
        fn("payments-api-refund", reserved=20, tags={"team": "pay"}, groups={"prefix": "payments", "tag:team": "pay"}),
        fn("orders-worker", groups={"prefix": "orders"}, dlq=DLQ, size=10, all_sizes=30, versions=3),
        fn("search-index", reserved=300, groups={"prefix": "search"}),
    ]
    pts = [
        Point("AccountConcurrentExecutions", "", "", T0 + 60, 600), Point("AccountConcurrentExecutions", "", "", T0 + 120, 820),
        Point("ClaimedAccountConcurrency", "", "", T0 + 120, 870),
        Point("ConcurrentExecutions", "payments-api-charge", "", T0 + 60, 50),
        Point("ConcurrentExecutions", "payments-api-refund", "", T0 + 60, 15),
        Point("ConcurrentExecutions", "payments-api-refund", "", T0 + 120, 20),
        Point("ConcurrentExecutions", "search-index", "", T0 + 60, 12),
        Point("Throttles", "payments-api-charge", "", T0 + 60, 120), Point("Throttles", "payments-api-charge", "", T0 + 120, 30),
        Point("Invocations", "orders-worker", "", T0 + 60, 1000),
        Point("AsyncEventsDropped", "orders-worker", "", T0 + 60, 4),
        Point("DeadLetterErrors", "orders-worker", "", T0 + 120, 2),
        Point("ProvisionedConcurrencySpilloverInvocations", "payments-api-charge", "live", T0 + 60, 5),
    ]
    s.write_target(cid, result(functions, pts, coverage=[(T0, T0 + 3600)],
                               account_info=AccountInfo(1000, 630, 80_530_636_800, 64_424_509_440, 4),
                               queues=[QueueDepth(DLQ, "orders-dlq", 42, 0, 0)],
                               provisioned=[ProvisionedConfig("payments-api-charge", "live", 10, 10, 10, "READY")]))
    # a second region that was never covered by a metric read: unknown, not zero
    s.write_target(cid, result([fn("lonely")], region="eu-west-1",
                               account_info=AccountInfo(500, 500, 80_530_636_800, 0, 1)))
    s.end_cycle(cid, T0 + 5)
    return s


def target(rv, region=REGION):
    return next(t for t in rv.targets if t.region == region)


def test_account_headroom_and_totals(store):
    rv = review.review(store, T0, T0 + 3600, DEFAULT_THRESHOLDS, now=NOW)
    t = target(rv)
    assert (t.concurrency_limit, t.peak_concurrency, t.peak_claimed_concurrency) == (1000, 820, 870)
    assert (t.concurrency_headroom, t.concurrency_headroom_pct) == (130, 13.0)   # against the claimed peak
    assert (t.reserved_total, t.provisioned_total, t.unreserved_limit) == (370, 10, 630)
    assert (t.throttles, t.async_events_dropped, t.dead_letter_errors, t.destination_delivery_failures) == (150, 4, 2, 0)
    assert (t.dlq_messages, t.function_count, t.provisioned_spillover, t.coverage_ratio) == (42, 4, 5, 1.0)
    assert t.code_storage_used_bytes / t.code_storage_limit_bytes == pytest.approx(0.80, abs=1e-9)


def test_statuses_and_findings(store):
    rv = review.review(store, T0, T0 + 3600, DEFAULT_THRESHOLDS, now=NOW)
    t = target(rv)
    kinds = {(f.kind, f.subject): f.severity for f in t.findings}
    assert kinds == {
        ("claimed_concurrency", "account"): "warn",          # 87 %
        ("concurrency", "account"): "warn",                  # 82 %
        ("code_storage", "account"): "warn",                 # 80 %
        ("throttles", "payments-api-charge"): "critical",    # 150 >= 100
        ("function_concurrency", "payments-api-charge"): "critical",  # 50 of 50
        ("function_concurrency", "payments-api-refund"): "critical",  # 20 of 20
        ("provisioned_spillover", "payments-api-charge"): "warn",
        ("async_events_dropped", "orders-worker"): "warn",
        ("dead_letter_errors", "orders-worker"): "critical",
        ("dlq_messages", "orders-dlq"): "warn",
    }
    assert t.status == "critical" and rv.status == "critical"
    fns = {f.name: f for f in t.functions}
    assert fns["search-index"].status == "ok" and fns["orders-worker"].status == "critical"
    assert rv.findings[0].severity == "critical"


def test_functions_and_groups(store):
    t = target(review.review(store, T0, T0 + 3600, DEFAULT_THRESHOLDS, now=NOW))
    f = {x.name: x for x in t.functions}
    assert (f["payments-api-charge"].peak_concurrency, f["payments-api-charge"].throttles,
            f["payments-api-charge"].provisioned) == (50, 150, 10)
    assert (f["orders-worker"].dlq_arn, f["orders-worker"].dlq_messages, f["orders-worker"].code_size_all_versions_bytes) == (DLQ, 42, 30)
    assert (f["search-index"].throttles, f["search-index"].reserved_concurrency) == (0, 300)  # covered and idle: 0
    g = {x.name: x for x in t.groups}
    # the group's peak is the peak of the summed minutes (50+15 at T0+60), not the sum of peaks (70)
    assert (g["payments"].function_count, g["payments"].peak_concurrency, g["payments"].throttles,
            g["payments"].reserved_total) == (2, 65, 150, 70)
    assert (g["orders"].dlq_messages, g["search"].peak_concurrency) == (42, 12)
    by_team = target(review.review(store, T0, T0 + 3600, DEFAULT_THRESHOLDS, "tag:team", now=NOW)).groups
    assert [(x.name, x.function_count) for x in by_team] == [("pay", 2)]


def test_uncollected_window_is_unknown_not_zero(store):
    rv = review.review(store, T0, T0 + 3600, DEFAULT_THRESHOLDS, now=NOW)
    t = target(rv, "eu-west-1")
    assert (t.peak_concurrency, t.throttles, t.concurrency_headroom, t.coverage_ratio) == (None, None, None, 0.0)
    assert t.functions[0].throttles is None and t.dlq_messages == 0   # no DLQ configured: really none
    assert t.status == "unknown" and t.health.stale
    assert [f.kind for f in t.findings] == ["stale"]
    data = json.loads(rv.to_json())
    eu = next(x for x in data["targets"] if x["region"] == "eu-west-1")
    assert eu["peak_concurrency"] is None and eu["throttles"] is None and eu["account"] == ACCOUNT


def test_half_covered_window(store):
    t = target(review.review(store, T0 - 3600, T0 + 3600, DEFAULT_THRESHOLDS, now=NOW))
    assert t.coverage_ratio == 0.5 and t.peak_concurrency == 820


def test_timeseries_gaps_zeros_and_group_sum(store):
    ts = history.timeseries(store, ACCOUNT, REGION, "ConcurrentExecutions", T0 - 120, T0 + 240, 60,
                            dims=["payments-api-charge", "payments-api-refund"])
    assert ts == [(T0 - 120, None), (T0 - 60, None), (T0, 0.0), (T0 + 60, 65.0), (T0 + 120, 20.0), (T0 + 180, 0.0)]
    five = history.timeseries(store, ACCOUNT, REGION, "Throttles", T0, T0 + 600, 300)
    assert five == [(T0, 150.0), (T0 + 300, 0.0)]
    peak5 = history.timeseries(store, ACCOUNT, REGION, "AccountConcurrentExecutions", T0, T0 + 300, 300)
    assert peak5 == [(T0, 820.0)]


def test_weeks_until_limit():
    pts = [(0, 500.0), (1, 550.0), (2, None), (3, 650.0)]
    slope, weeks = history.weeks_until(pts, 1000)
    assert slope == pytest.approx(50.0) and weeks == pytest.approx(7.0)
    assert history.weeks_until([(0, 600.0), (1, 500.0), (2, 400.0)], 1000) == (-100.0, None)   # falling
    assert history.weeks_until([(0, 500.0), (1, 600.0), (2, None)], 1000) == (None, None)   # 2 weeks: no trend
    # weeks are the last runs of 7 days to the end of the current hour, whatever the weekday
    start, end, align = history.last_weeks(1_764_547_200 + 5, 2)   # Mon 2025-12-01 00:00:05 UTC
    assert (start, end) == (1_764_547_200 + 3600 - 2 * history.WEEK, 1_764_547_200 + 3600)
    assert [align(ts) for ts in (start, end - history.WEEK - 1, end - history.WEEK, end - 1)] == \
        [start, start, end - history.WEEK, end - history.WEEK]
