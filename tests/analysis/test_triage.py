"""analysis.triage over small literal stores and the dashboard's seeded store."""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import pytest

from analysis import history, review, triage
from collectors import config
from collectors.config import Grouping, PrefixRule
from collectors.model import CollectError, TargetResult
from collectors.store import Store
from dashboard import charts, links
from tests.dashboard.seed import MARKUP_TEAM, PROD, STAGING, seed


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    now = time.time()
    cfg = seed(tmp_path_factory.mktemp("triage"), now)
    s = config.load(cfg)
    store = Store(s.store_path, readonly=True)
    start, end = review.window(now, 86400)
    rv = review.review(store, start, end, s.thresholds)
    targets = {t.account: t for t in rv.targets}
    return s, store, start, end, targets, int(now) // 60 * 60


def test_review_window_is_whole_minutes_up_to_the_current_one():
    assert review.window(1_000_030, 3600) == (996_420, 1_000_020)
    assert review.window(1_000_020, 60) == (999_960, 1_000_020)


def test_streak_start():
    assert triage.streak_start([]) is None
    pts = [(0, 60), (60, 60), (2000, 60), (2060, 60), (2120, 60)]
    assert triage.streak_start(pts) == 2000            # 1,880 s of silence ends the first streak
    assert triage.streak_start(pts, gap_s=2000) == 0
    assert triage.streak_start([(0, 3600), (4000, 60)]) == 0   # an hourly point covers its hour


def test_queue_growth():
    assert triage.queue_growth(42, 3600, 30, 0) == 12
    assert triage.queue_growth(None, 3600, 30, 0) is None
    assert triage.queue_growth(42, 3600, None, 0) is None


def test_throttling_rows(seeded):
    s, store, start, end, t, m = seeded
    rows = triage.throttling(store, t[PROD], start, end)
    assert [(r.function, r.throttles, r.status) for r in rows] == [("payments-api-charge", 200, "critical"),
                                                                  ("payments-worker", 3, "warn")]
    top = rows[0]
    assert top.throttle_rate == pytest.approx(200 / 6200)
    assert (top.since, top.last_seen, top.peak_concurrency, top.reserved_concurrency) == \
        (m - 40 * 60, m - 21 * 60, 50, 50)
    assert rows[1].throttle_rate == 1.0 and rows[1].since == m - 50 * 60
    assert triage.throttling(store, t[STAGING], start, end) == []


def test_async_failures_and_queues(seeded):
    s, store, start, end, t, m = seeded
    assert [(r.function, r.async_events_dropped, r.dlq_arn.split(":")[-1]) for r in triage.async_failures(t[PROD])] \
        == [("orders-ingest", 7, "orders-dlq")]
    (q,) = triage.dead_letter_queues(store, t[PROD], start, end)
    assert (q.name, q.visible, q.not_visible, q.feeders, q.oldest_age_s, q.peak_visible, q.status) == \
        ("orders-dlq", 42, 1, ["orders-ingest"], 5400, 42, "warn")
    assert q.growth_per_hour == pytest.approx(12, abs=0.3)   # 30 an hour ago, 42 now


def test_spillover(seeded):
    s, store, start, end, t, m = seeded
    (r,) = triage.spillover(store, t[PROD], start, end)
    assert (r.function, r.qualifier, r.spillover, r.provisioned, r.peak_provisioned_executions, r.max_utilization,
            r.status) == ("orders-api", "live", 15, 10, 10, 1.0, "warn")


def test_code_holders_and_over_reserved(seeded):
    s, store, start, end, t, m = seeded
    h = triage.code_holders(t[PROD], 2)
    assert [x.function for x in h] == ["reports-nightly", "legacy-cron"]
    assert h[0].old_versions_bytes == 5 * 1024 ** 3 - 50_000_000 and h[0].version_count == 40
    assert h[0].share_of_used == pytest.approx(5 / 62)
    every = triage.code_holders(t[PROD], 10_000)
    assert [x.function for x in triage.code_holders(t[PROD], 1, lambda f: f.name != "reports-nightly")] == \
        ["legacy-cron"]   # the largest of those kept
    assert triage.old_versions_bytes(t[PROD]) == sum(x.old_versions_bytes for x in every) == 5 * 1024 ** 3 - 50_000_000
    assert [(o.function, o.reserved, o.unused) for o in triage.over_reserved(t[PROD])] == \
        [("reports-nightly", 300, 288), ("payments-api-refund", 20, 15)]
    assert triage.over_reserved(t[PROD], min_unused=20) == triage.over_reserved(t[PROD])[:1]


def test_regroup_equals_review_for_the_stored_grouping(seeded):
    s, store, start, end, t, m = seeded
    for kind in ("prefix", "tag:team"):
        want = review.review(store, start, end, s.thresholds, kind).targets
        want = {x.account: x.groups for x in want}
        got = triage.regroup(store, t[PROD], kind, s.grouping, start, end, include_ungrouped=False)
        assert got == [g for g in want[PROD]]


def test_regroup_other_groupings(seeded):
    s, store, start, end, t, m = seeded
    g = {x.name: x for x in triage.regroup(store, t[PROD], "prefix:2", s.grouping, start, end)}
    assert (g["payments-api"].function_count, g["payments-api"].peak_concurrency, g["payments-api"].throttles) == \
        (2, 55, 200)
    assert g["payments-worker"].peak_concurrency == 30
    g = {x.name: x for x in triage.regroup(store, t[PROD], "tag:team", s.grouping, start, end)}
    assert set(g) == {"payments", "orders", MARKUP_TEAM, triage.NO_GROUP}
    assert g[triage.NO_GROUP].function_count == 1 and g[triage.NO_GROUP].peak_concurrency == 0
    assert sum(x.function_count for x in g.values()) == 7


def test_group_of():
    rules = Grouping(1, "-_", (PrefixRule("payments-api", "pay-api"),), ("team",))
    assert triage.group_of("payments-api-charge", {}, {}, "prefix", rules) == "pay-api"
    assert triage.group_of("orders-api-x", {"prefix": "orders"}, {}, "prefix", rules) == "orders"
    assert triage.group_of("orders-api-x", {}, {}, "prefix:2", rules) == "orders-api"
    assert triage.group_of("x", {}, {"team": ""}, "tag:team", rules) == triage.NO_GROUP
    with pytest.raises(ValueError):
        triage.group_of("x", {}, {}, "owner", rules)
    assert triage.stored_kind("prefix:1", rules) == "prefix" and triage.stored_kind("tag:env", rules) is None


def test_a_groups_concurrency_chart_from_its_summaries_equals_the_sum_of_its_members(seeded):
    """The Groups page draws a stored group's concurrency from the group's summaries: the same buckets,
    values and gaps as summing every member's points, for every stored group, window and step."""
    s, store, start, end, t, m = seeded
    acct = t[PROD].account
    drawn = 0
    for kind in ("prefix", *(f"tag:{k}" for k in s.grouping.tag_keys)):
        members: dict[str, list[str]] = {}
        for f in t[PROD].functions:
            if kind in f.groups:
                members.setdefault(f.groups[kind], []).append(f.name)
        assert members, kind
        for name, fns in members.items():
            for lo, step in ((end - 86400, 300), (end - 7 * 86400 + 17, 3600), (end - 30 * 86400, 21600)):
                lo = lo // step * step
                want = history.timeseries(store, acct, "us-east-1", "ConcurrentExecutions", lo, end, step, dims=fns)
                got = history.timeseries(store, acct, "us-east-1", "ConcurrentExecutions", lo, end, step, dims=fns,
                                         group=(kind, name))
                assert got == want, (kind, name, step)
                drawn += sum(1 for _, v in want if v)
    assert drawn > 0   # concurrency was there to compare, not only zeros and gaps


def test_charts_of_whole_hours_from_the_hours_summaries_equal_the_points(seeded):
    """Buckets of whole hours read each series-hour's total (a count) or peak (a level of one series), and
    points only in a partial last hour: the same buckets, values and gaps as reading every point, for every
    metric stored, the whole account, one function and several, at the 7 d and 30 d steps, weekly buckets,
    and a window that ends in the past mid-hour."""
    s, store, start, end, t, m = seeded
    acct = t[PROD].account
    metrics = sorted({r[0] for r in store.query("SELECT DISTINCT metric FROM series WHERE account = ?", (acct,))})
    fns = sorted(f.name for f in t[PROD].functions)
    compared = nonzero = 0
    for metric in metrics:
        for dims in (None, fns[:1], fns):
            w0, w1, weekly = history.last_weeks(end, 5)
            for lo, hi, step, align in ((end - 7 * 86400, end, 3600, None), (end - 30 * 86400, end, 21600, None),
                                        (w0, w1, history.WEEK, weekly), (end - 3 * 86400, end - 7000, 3600, None)):
                lo = lo // 3600 * 3600
                kw = dict(dims=dims, bucket_start=align)
                want = history.timeseries(store, acct, "us-east-1", metric, lo, hi, step, summaries=False, **kw)
                got = history.timeseries(store, acct, "us-east-1", metric, lo, hi, step, **kw)
                assert got == want, (metric, dims and len(dims), step, hi - end)
                compared += 1
                nonzero += any(v for _, v in want)
    assert compared > 100 and nonzero > 20, (compared, nonzero)


def test_limit_trends(seeded):
    s, store, start, end, t, m = seeded
    tr = {x.key: x for x in triage.limit_trends(store, t[PROD], 4, end)}
    assert tr["concurrency"].latest == 812 and tr["concurrency"].limit == 1000
    assert tr["claimed_concurrency"].latest == 870
    assert tr["reserved_allocation"].limit == 900 and tr["reserved_allocation"].latest == 370
    assert tr["reserved_allocation"].weeks_until is None                    # flat
    assert tr["code_storage"].limit == 80_530_636_800
    assert tr["code_storage"].slope_per_week > 0 and tr["code_storage"].weeks_until > 0
    assert len(tr["concurrency"].weeks) == 4 and tr["concurrency"].weeks[0][1] is None   # before the history


def test_limit_trends_of_a_stale_store_say_unknown_for_the_last_7_days(seeded):
    """The collector stopped 10 days ago: the last 7 days were not collected, so each limit's latest weekly
    peak is unknown, not the peak of an older week shown as this week's."""
    s, store, start, end, t, m = seeded
    tr = {x.key: x for x in triage.limit_trends(store, t[PROD], 4, end + 10 * 86400)}
    for key in ("concurrency", "claimed_concurrency", "reserved_allocation", "code_storage"):
        assert tr[key].weeks[-1][1] is None and tr[key].latest is None, key
        assert any(v is not None for _, v in tr[key].weeks), key   # the older weeks are still known
    assert tr["concurrency"].weeks[-2][1] == 812.0
    # the trend (530, 600, 812: +141 a week) reaches 1,000 half a week from now: counted from this week, one
    # week less than from the last week collected
    assert tr["concurrency"].slope_per_week == pytest.approx(141.0)
    assert tr["concurrency"].weeks_until == pytest.approx((1000 - (1942 / 3 + 2 * 141)) / 141)
    assert tr["concurrency"].weeks_until == pytest.approx(history.weeks_until(tr["concurrency"].weeks[:-1], 1000)[1] - 1)


def test_limit_trends_on_a_monday_just_after_midnight(tmp_path: Path):
    """A weekly limit review on Monday at 00:00: the latest weekly peak is the last 7 days' (the 812 spike
    of 30 minutes ago, on the calendar last week), not the new calendar week's first seconds (0), and
    the trend still rises to the limit (a week of seconds would have turned it into a fall)."""
    monday = (int(time.time()) - 4 * 86400) // history.WEEK * history.WEEK + 4 * 86400   # the epoch was a Thursday
    cfg = seed(tmp_path, monday + 10)
    s = config.load(cfg)
    store = Store(s.store_path, readonly=True)
    start, end = review.window(monday + 10, 86400)
    t = next(x for x in review.review(store, start, end, s.thresholds).targets if x.account == PROD)
    tr = {x.key: x for x in triage.limit_trends(store, t, 4, end)}["concurrency"]
    assert [v for _, v in tr.weeks] == [None, 500.0, 570.0, 812.0] and tr.latest == 812.0
    # least squares over (1, 500), (2, 570), (3, 812): 156 a week, at 783.3 now, 1,000 in 1.39 weeks
    assert tr.slope_per_week == pytest.approx(156.0) and tr.weeks_until == pytest.approx((1000 - 2350 / 3) / 156)
    assert tr.weeks[-1][0] == monday + 3600 - history.WEEK   # the last 7 days, to the end of this hour


def test_weekly_peaks_from_hour_summaries_equal_the_points(seeded):
    """Weekly peaks and totals come from the hours' summaries: the same weeks, values and gaps as rolling
    every point up, for an account series, a level summed over every function (read from the points)
    and a count."""
    s, store, start, end, t, m = seeded
    acct = t[PROD].account
    for metric in ("AccountConcurrentExecutions", "ClaimedAccountConcurrency", "ConcurrentExecutions", "Throttles"):
        w0, w1, align = history.last_weeks(end, 6)
        points = history.timeseries(store, acct, "us-east-1", metric, w0, w1, history.WEEK,
                                    bucket_start=align, summaries=False)
        assert history.weekly_peaks(store, acct, "us-east-1", metric, 6, end) == points
        assert any(v for _, v in points) and points[0][1] is None   # values, and a week before the history


def test_data_status_and_version(tmp_path: Path):
    st = Store(tmp_path / "s.db")
    empty = triage.data_status(st)
    assert (empty.cycles_finished, empty.runs, empty.errors, empty.last_data_at) == (0, [], [], None)
    v0 = st.data_version()
    cid = st.begin_cycle(100.0)
    st.write_target(cid, TargetResult("prod", "us-east-1", None, 100.0, 101.0, errors=[
        CollectError("session", "sts:AssumeRole", "AccessDenied", "no")]))
    running = triage.data_status(st)
    assert running.running_since == 100.0 and [e["code"] for e in running.errors] == ["AccessDenied"]
    assert st.data_version() != v0
    st.end_cycle(cid, 102.0)
    done = triage.data_status(st)
    assert (done.cycles_finished, done.running_since, done.last_cycle_finished_at) == (1, None, 102.0)
    assert [(r.target, r.account, r.error_count) for r in done.runs] == [("prod", None, 1)]


def test_function_detail_and_chart_step(seeded):
    s, store, start, end, t, m = seeded
    d = triage.function_detail(store, PROD, "us-east-1", "orders-api")
    assert d.provisioned[0]["qualifier"] == "live" and d.config["tags"] == {"team": "orders"}
    assert triage.function_detail(store, PROD, "us-east-1", "nope") is None
    q = triage.function_detail(store, PROD, "us-east-1", "orders-ingest")
    assert list(q.queues.values())[0]["visible"] == 42
    coarsest = partial(store.coarsest_step, metric="AccountConcurrentExecutions")
    assert coarsest(PROD, "us-east-1", start=end - 3600, end=end) == 60
    assert coarsest(PROD, "us-east-1", start=end - 86400, end=end) == 3600   # hourly history in the window
    assert coarsest(STAGING, "eu-west-1", start=end - 86400, end=end) == 60
    assert coarsest("999999999999", "eu-west-1", start=end - 86400, end=end) is None
    assert charts.step(end - 3600, end, 60) == 60
    assert charts.step(end - 86400, end, 3600) == 3600
    assert charts.step(end - 86400, end, 60) == 300 == charts.step(end - 86400, end, None)
    assert charts.step(end - 30 * 86400, end, 300) == 21600


def test_target_verdicts(seeded):
    s, store, start, end, t, m = seeded
    v = {c.kind: (x.status, x.reason) for c in review.CHECKS for x in [t[PROD].verdict(c.kind)]}
    assert v == {   # every figure's grade and reason on the seeded fleet, derived from seed.py's literals
        "concurrency": ("warn", "peak concurrency 812 of 1,000 (81 %)"),
        "claimed_concurrency": ("warn", "peak claimed concurrency 870 of 1,000 (87 %)"),
        "reserved_allocation": ("ok", ""),                                       # 370 of 900
        "code_storage": ("warn", "code storage 62.0 GB of 75.0 GB (83 %)"),
        "function_concurrency": ("critical", "payments-api-charge: peak concurrency 50 of 50 reserved (100 %)"),
        "throttles": ("critical", "payments-api-charge: 200 throttles (+1 more)"),   # and payments-worker's 3
        "async_events_dropped": ("warn", "orders-ingest: 7 async events dropped"),
        "dead_letter_errors": ("ok", ""), "destination_delivery_failures": ("ok", ""),
        "provisioned_spillover": ("warn", "orders-api: 15 invocations spilled over provisioned concurrency"),
        "dlq_messages": ("warn", "DLQ orders-dlq: 42 messages waiting"),
    }
    # the target's status is the worst of its findings, and every finding is on its list
    assert t[PROD].status == "critical" and t[PROD].findings[0].severity == "critical"
    fns = {f.name: f for f in t[PROD].functions}
    # a function: its own checks, its queue's, and "not configured" where it has nothing to grade
    ingest = fns["orders-ingest"]
    assert [x.message for x in ingest.findings] == ["orders-ingest: 7 async events dropped",
                                                    "DLQ orders-dlq: 42 messages waiting"]
    assert ingest.verdict("dlq_messages") == review.Verdict("warn", "DLQ orders-dlq: 42 messages waiting")
    assert ingest.queued_messages == 42
    cron = fns["legacy-cron"]
    assert (cron.status, cron.findings, cron.queued_messages) == ("ok", [], None)
    assert cron.verdict("function_concurrency") == review.Verdict(None, "no reserved concurrency (uses the unreserved pool)")
    assert cron.verdict("dlq_messages") == review.Verdict(None, "no dead-letter queue or on-failure destination")
    assert cron.verdict("provisioned_spillover") == review.Verdict(None, "no provisioned concurrency")
    assert cron.verdict("throttles") == review.Verdict("ok", "")
    refund = fns["payments-api-refund"]
    assert refund.verdict("function_concurrency") == review.Verdict("ok", "")   # 5 of 20
    # a group: the worst member's reason, with how many more
    g = {x.name: x for x in t[PROD].groups}
    assert (g["payments"].status, g["payments"].reason) == (
        "critical", "payments-api-charge: peak concurrency 50 of 50 reserved (100 %)")
    assert (g["orders"].status, g["orders"].dlq_messages) == ("warn", 42)
    # the queue: graded once, by the review
    (q,) = t[PROD].queues
    assert (q.name, q.visible, q.status, q.reason) == ("orders-dlq", 42, "warn", "DLQ orders-dlq: 42 messages waiting")
    assert {c.kind: t[STAGING].verdict(c.kind).status for c in review.CHECKS if c.subject == "account"} == {
        "concurrency": "ok", "claimed_concurrency": "ok", "reserved_allocation": "ok", "code_storage": "ok"}


def test_console_urls():
    assert links.console_url("eu-west-1", "f") == \
        "https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/f"
    assert links.queue_console_url("eu-west-1", "1", "q") == (
        "https://eu-west-1.console.aws.amazon.com/sqs/v3/home?region=eu-west-1#/queues/"
        "https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F1%2Fq")
