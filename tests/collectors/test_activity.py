"""Pay for activity: only listed series are asked, idle ones are known zeros, and nothing is lost
(the same review as asking everything), end to end against the sandbox."""
from __future__ import annotations

import dataclasses
import json
import time

import pytest

from collectors import config, discovery
from analysis import review
from collectors.pipeline import run_cycle
from collectors.store import Store

from .conftest import write_config
from .seed import PROD

FIGURES = ("peak_concurrency", "peak_claimed_concurrency", "concurrency_headroom", "reserved_total",
           "provisioned_total", "invocations", "throttles", "async_events_dropped", "dead_letter_errors",
           "destination_delivery_failures", "provisioned_spillover", "dlq_messages", "status")
FN_FIGURES = ("peak_concurrency", "invocations", "errors", "throttles", "async_events_dropped",
              "dead_letter_errors", "destination_delivery_failures", "max_async_event_age_ms",
              "provisioned_spillover", "dlq_messages", "on_failure_messages", "status", "metrics_known")


def settings_for(cfg, **collection):
    s = config.load(cfg)
    return dataclasses.replace(s, collection=dataclasses.replace(s.collection, **collection))


def figures(settings, now):
    store = Store(settings.store_path, readonly=True)
    start, end = review.window(now, 7200)
    rv = review.review(store, start, end, settings.thresholds, now=now,
                       expected=[(t.name, r) for t in settings.targets for r in t.regions],
                       max_age_s=settings.collection.max_age_seconds,
                       function_max_age_s=settings.collection.function_max_age_seconds)
    data = json.loads(rv.to_json())
    out = {}
    for t in data["targets"]:
        key = (t["account"], t["region"])
        out[key] = {k: t[k] for k in FIGURES}
        for f in t["functions"]:
            out[(*key, f["name"])] = {k: f[k] for k in FN_FIGURES}
    return out


def aggregates(sb, now, account, region, metric, per_minute):
    """The account-level (dimensionless) aggregate Lambda publishes: [(minutes ago, value)]."""
    m = now // 60 * 60
    sb.put_metric_points(account, region, "AWS/Lambda", metric, None, [(m - ago * 60, v) for ago, v in per_minute])


@pytest.fixture
def now():
    return int(time.time())


def test_asking_only_active_series_gives_the_same_review_as_asking_everything(fleet, sb, tmp_path, now):
    aggregates(sb, now, PROD, "us-east-1", "Throttles", [(40, 100), (30, 200), (20, 50)])
    everything = settings_for(fleet, metrics_strategy="all")
    (tmp_path / "b").mkdir()
    activity = settings_for(write_config(tmp_path / "b", sb.endpoint_url))
    all_report = run_cycle(everything, Store(everything.store_path), clock=lambda: now)
    act_report = run_cycle(activity, Store(activity.store_path), clock=lambda: now)
    assert all_report.exit_code == act_report.exit_code == 0
    assert figures(activity, now) == figures(everything, now)
    asked_all = sum(r.metric_queries for r in all_report.results)
    asked_act = sum(r.metric_queries for r in act_report.results)
    # the account's own series (6 x 4 targets) are asked either way; the functions' only where listed
    fn_all = sum(r.metrics_by_tier.get("function", 0) for r in all_report.results)
    fn_act = sum(r.metrics_by_tier.get("function", 0) for r in act_report.results)
    assert sum(r.metrics_by_tier.get("account", 0) for r in act_report.results) == 6 * 4   # one 24 h window
    assert fn_act < fn_all / 10 and asked_act < asked_all / 5
    assert sum(r.discovery_calls for r in act_report.results) == 4 * 4   # 2 namespaces, recent and two-week


def test_an_idle_function_is_a_known_zero_without_a_metric_asked(fleet, sb, now):
    s = settings_for(fleet)
    store = Store(s.store_path)
    run_cycle(s, store, clock=lambda: now)
    idle = figures(s, now)[(PROD, "us-east-1", "auth-token-issue")]
    assert (idle["invocations"], idle["throttles"], idle["peak_concurrency"], idle["metrics_known"],
            idle["status"]) == (0, 0, 0, "complete", "ok")
    # not one series of it was asked (nothing was stored for it either)
    assert store.query("SELECT COUNT(*) FROM series WHERE dim = 'auth-token-issue'")[0][0] == 0


def test_a_failed_listing_leaves_the_functions_unknown_not_idle(fleet, sb, now):
    sb.faults.add(service="cloudwatch", operation="ListMetrics", region="us-east-1", account=PROD,
                  error="AccessDenied")
    s = settings_for(fleet)
    report = run_cycle(s, Store(s.store_path), clock=lambda: now)
    errs = {(r.target, r.region, e.api, e.code) for r, e in report.errors}
    assert errs == {("prod", "us-east-1", "cloudwatch:ListMetrics", "AccessDenied")}
    got = figures(s, now)
    idle = got[(PROD, "us-east-1", "auth-token-issue")]
    assert (idle["invocations"], idle["throttles"], idle["metrics_known"], idle["status"]) == (
        None, None, "none", "unknown")
    t = got[(PROD, "us-east-1")]
    assert (t["peak_concurrency"], t["throttles"], t["status"]) == (820, None, "unknown")   # the account's own: known
    assert got[(PROD, "eu-west-1")]["throttles"] == 7   # the other region listed fine


def hide(monkeypatch, function, metric, times=None):
    """ListMetrics that does not name `function`'s `metric` yet (a new series is listed up to 15 minutes
    late), for the first `times` listings (None: every one). Returns the number of listings made."""
    real = discovery.list_series
    calls = []

    def listing(cw, recently_active=True):
        out = real(cw, recently_active)
        if ("function", function) in out.series:   # the target that has it (targets list in parallel)
            calls.append(1)
            if times is None or len(calls) <= times:
                out.series[("function", function)].discard((metric, ""))
        return out
    monkeypatch.setattr(discovery, "list_series", listing)
    return calls


@pytest.mark.parametrize("relist_finds_it", [True, False], ids=["relisted", "swept"])
def test_a_burst_the_listing_missed_is_caught_by_the_account_aggregate(fleet, sb, now, monkeypatch, relist_finds_it):
    # search-index-build throttles 80 times five minutes ago; the account's aggregate knows
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": "search-index-build"},
                         [(now // 60 * 60 - 300, 80)])
    aggregates(sb, now, PROD, "us-east-1", "Throttles", [(40, 100), (30, 200), (20, 50), (5, 80)])
    # the first listing of each kind misses it: the recent one (and the two-week one of the backfill)
    hide(monkeypatch, "search-index-build", "Throttles", times=2 if relist_finds_it else None)
    s = settings_for(fleet)
    report = run_cycle(s, Store(s.store_path), clock=lambda: now)
    prod = next(r for r in report.results if (r.target, r.region) == ("prod", "us-east-1"))
    assert [e.code for e in prod.errors] == []
    got = figures(s, now)
    assert got[(PROD, "us-east-1", "search-index-build")]["throttles"] == 80
    assert got[(PROD, "us-east-1")]["throttles"] == 430
    # one more ListMetrics pass (2 namespaces) for the re-list
    assert prod.discovery_calls == 4 + 2


def test_a_throttling_account_has_its_functions_read_every_cycle_until_calm(fleet, sb, now):
    s = settings_for(fleet)
    store = Store(s.store_path)
    run_cycle(s, store, clock=lambda: now)
    calm = run_cycle(s, store, clock=lambda: now + 60)
    prod = next(r for r in calm.results if (r.target, r.region) == ("prod", "us-east-1"))
    assert (prod.metrics_by_tier.get("function", 0), prod.discovery_calls, prod.function_read_at) == (0, 0, None)
    # a minute later the account throttles: the functions are read in that very cycle
    m = (now + 120) // 60 * 60
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": "payments-api-charge"},
                         [(m - 60, 40)])
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", None, [(m - 60, 40)])
    hot = run_cycle(s, store, clock=lambda: now + 120)
    prod = next(r for r in hot.results if (r.target, r.region) == ("prod", "us-east-1"))
    # only what explains throttling (the listed Throttles and ConcurrentExecutions series), and the
    # 5-minute full read keeps its schedule
    asked = {(p.metric, p.dim) for p in prod.points if p.dim}   # the account's own aside
    assert prod.function_read_at is None and prod.discovery_calls == 2
    assert asked <= {(m, f) for m in ("Throttles", "ConcurrentExecutions") for f in
                     ("payments-api-charge", "payments-api-refund", "search-index-build")}
    assert ("Throttles", "payments-api-charge") in asked
    assert figures(s, now + 120)[(PROD, "us-east-1", "payments-api-charge")]["throttles"] == 390


def test_a_hole_in_a_functions_coverage_is_read_at_the_next_cycle_not_the_next_function_read(fleet, sb, now):
    """The first cycle deferred history (the dashboard's simulated fleet does): a minute later, before
    the next function read is due, the functions' older hours are read, so the window is known."""
    s = settings_for(fleet, backfill_hours=1)
    store = Store(s.store_path)
    run_cycle(s, store, clock=lambda: now, defer_history=True)
    assert figures(s, now)[(PROD, "us-east-1", "payments-api-charge")]["metrics_known"] == "partial"
    second = run_cycle(s, store, clock=lambda: now + 60)
    prod = next(r for r in second.results if (r.target, r.region) == ("prod", "us-east-1"))
    assert prod.function_read_at is None and prod.metrics_by_tier["function"] > 0   # not due, yet read
    f = figures(s, now + 60)[(PROD, "us-east-1", "payments-api-charge")]
    assert (f["metrics_known"], f["throttles"]) == ("complete", 350)
