"""The sandbox's CloudWatch: GetMetricData semantics, limits and paging, through stock boto3."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from sandbox.protocol import RequestInfo

PROD = "123456789012"
T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary


def q(qid, metric, stat="Sum", period=60, dims=None, ns="AWS/Lambda", **extra):
    dimensions = [{"Name": k, "Value": v} for k, v in (dims or {}).items()]
    return {"Id": qid, "MetricStat": {"Metric": {"Namespace": ns, "MetricName": metric,
                                                 "Dimensions": dimensions},
                                      "Period": period, "Stat": stat}, **extra}


def epochs(result):
    return [int(t.timestamp()) for t in result["Timestamps"]]


def test_put_metric_data_lands_in_store(sb, client):
    cw = client("cloudwatch")
    now = int(time.time())
    cw.put_metric_data(Namespace="AWS/SQS", MetricData=[
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Value": 7.0, "Timestamp": now,
         "Dimensions": [{"Name": "QueueName", "Value": "dlq"}]},
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Values": [3.0, 9.0],
         "Counts": [1.0, 2.0], "Timestamp": now,
         "Dimensions": [{"Name": "QueueName", "Value": "dlq"}]},
        {"MetricName": "Age", "StatisticValues": {"SampleCount": 2, "Sum": 10, "Minimum": 4,
                                                  "Maximum": 6}, "Timestamp": now}])
    got = cw.get_metric_data(
        MetricDataQueries=[q("mx", "ApproximateNumberOfMessagesVisible", "Maximum",
                             dims={"QueueName": "dlq"}, ns="AWS/SQS"),
                           q("n", "ApproximateNumberOfMessagesVisible", "SampleCount",
                             dims={"QueueName": "dlq"}, ns="AWS/SQS"),
                           q("avg", "Age", "Average", ns="AWS/SQS")],
        StartTime=now - 120, EndTime=now + 60)["MetricDataResults"]
    assert [r["Values"] for r in got] == [[9.0], [4.0], [5.0]]
    assert [r["StatusCode"] for r in got] == ["Complete"] * 3


def test_statistics_and_same_second_aggregation(sb, client):
    dims = {"FunctionName": "f"}
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Duration", dims,
                         [(T0 + 5, 10.0), (T0 + 5, 30.0), (T0 + 40, 20.0), (T0 + 65, 100.0)])
    stats = ["Sum", "Maximum", "Minimum", "Average", "SampleCount", "p50", "p99"]
    got = client("cloudwatch").get_metric_data(
        MetricDataQueries=[q(s.lower(), "Duration", s, dims=dims) for s in stats],
        StartTime=T0, EndTime=T0 + 120, ScanBy="TimestampAscending")["MetricDataResults"]
    values = {r["Id"]: r["Values"] for r in got}
    assert values == {"sum": [60.0, 100.0], "maximum": [30.0, 100.0], "minimum": [10.0, 100.0],
                      "average": [20.0, 100.0], "samplecount": [3.0, 1.0],
                      # same-second values became one statistic set: percentiles unknown there
                      "p50": [100.0], "p99": [100.0]}
    assert all(epochs(r) == [T0, T0 + 60] for r in got if r["Id"][0] != "p")


def test_percentiles_over_raw_values(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Duration", None,
                         [(T0 + s, float(s + 1)) for s in range(50)])
    got = client("cloudwatch").get_metric_data(
        MetricDataQueries=[q("p50", "Duration", "p50"), q("p99", "Duration", "p99"),
                           q("p100", "Duration", "p100")],
        StartTime=T0, EndTime=T0 + 60)["MetricDataResults"]
    assert [r["Values"] for r in got] == [[25.0], [50.0], [50.0]]


def test_percentile_needs_raw_values(sb, client):
    # A statistic set with several different samples hides them: no percentile, like CloudWatch.
    sb.put_metric_sets(PROD, "us-east-1", "AWS/Lambda", "Duration", None,
                       [(T0, 300.0, 3.0, 50.0, 150.0)])
    got = client("cloudwatch").get_metric_data(
        MetricDataQueries=[q("p", "Duration", "p99"), q("m", "Duration", "Maximum")],
        StartTime=T0, EndTime=T0 + 60)["MetricDataResults"]
    assert got[0]["Values"] == [] and got[1]["Values"] == [150.0]


def test_buckets_align_to_period_boundaries(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Invocations", None,
                         [(T0 + m * 60, 1.0) for m in range(29)])
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Invocations", None,
                         [(datetime.fromtimestamp(T0 + 29 * 60, timezone.utc), 1.0)])
    cw = client("cloudwatch")
    # StartTime 7m30s past the hour: buckets still start on multiples of 300 s.
    got = cw.get_metric_data(MetricDataQueries=[q("a", "Invocations", period=300)],
                             StartTime=T0 + 450, EndTime=T0 + 1800,
                             ScanBy="TimestampAscending")["MetricDataResults"][0]
    assert epochs(got) == [T0 + 300 * k for k in range(1, 6)]
    assert got["Values"] == [5.0] * 5
    hourly = cw.get_metric_data(MetricDataQueries=[q("a", "Invocations", period=3600)],
                                StartTime=datetime.fromtimestamp(T0 + 900, timezone.utc),
                                EndTime=datetime.fromtimestamp(T0 + 3600, timezone.utc))
    assert epochs(hourly["MetricDataResults"][0]) == [T0]
    assert hourly["MetricDataResults"][0]["Values"] == [30.0]


def test_scan_order_label_return_data(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Errors", None,
                         [(T0, 1.0), (T0 + 60, 2.0), (T0 + 120, 3.0)])
    cw = client("cloudwatch")
    queries = [q("a", "Errors", Label="errors!"), q("b", "Errors"),
               q("hidden", "Errors", ReturnData=False)]
    desc = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0,
                              EndTime=T0 + 180)["MetricDataResults"]
    assert [r["Id"] for r in desc] == ["a", "b"]
    assert desc[0]["Label"] == "errors!" and desc[1]["Label"] == "Errors"
    assert desc[0]["Values"] == [3.0, 2.0, 1.0]  # TimestampDescending is the default
    asc = cw.get_metric_data(MetricDataQueries=queries[:1], StartTime=T0, EndTime=T0 + 180,
                             ScanBy="TimestampAscending")["MetricDataResults"]
    assert asc[0]["Values"] == [1.0, 2.0, 3.0]


def test_namespace_dimensions_account_region_are_exact(sb, client, new_function):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Errors", {"FunctionName": "f"},
                         [(T0, 1.0)])
    sb.put_metric_points(PROD, "us-east-1", "Custom", "Errors", {"FunctionName": "f"},
                         [(T0, 10.0)])
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Errors",
                         {"FunctionName": "f", "Resource": "f:live"}, [(T0, 100.0)])
    sb.put_metric_points(PROD, "eu-west-1", "AWS/Lambda", "Errors", {"FunctionName": "f"},
                         [(T0, 1000.0)])
    sb.put_metric_points("222222222222", "us-east-1", "AWS/Lambda", "Errors",
                         {"FunctionName": "f"}, [(T0, 5000.0)])
    cw = client("cloudwatch")
    got = cw.get_metric_data(
        MetricDataQueries=[q("fn", "Errors", dims={"FunctionName": "f"}),
                           q("res", "Errors", dims={"Resource": "f:live", "FunctionName": "f"}),
                           q("none", "Errors")],
        StartTime=T0, EndTime=T0 + 60)["MetricDataResults"]
    assert [r["Values"] for r in got] == [[1.0], [100.0], []]
    eu = client("cloudwatch", region="eu-west-1").get_metric_data(
        MetricDataQueries=[q("fn", "Errors", dims={"FunctionName": "f"})],
        StartTime=T0, EndTime=T0 + 60)["MetricDataResults"]
    assert eu[0]["Values"] == [1000.0]


def test_500_query_limit(sb, client):
    cw = client("cloudwatch")
    ok = cw.get_metric_data(MetricDataQueries=[q(f"q{i}", "Errors") for i in range(500)],
                            StartTime=T0, EndTime=T0 + 60)
    assert len(ok["MetricDataResults"]) == 500
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(MetricDataQueries=[q(f"q{i}", "Errors") for i in range(501)],
                           StartTime=T0, EndTime=T0 + 60)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert "must not contain more than 500 items" in err["Message"]


def test_invalid_requests(sb, client):
    cw = client("cloudwatch")
    for queries in ([q("a", "Errors", period=90)], [q("a", "Errors", stat="tm99")],
                    [{"Id": "e", "Expression": "SUM(METRICS())"}]):
        with pytest.raises(ClientError) as e:
            cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 60)
        assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(MetricDataQueries=[q("a", "Errors")], StartTime=T0 + 60, EndTime=T0)
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_next_token_over_100800_datapoints(sb, client):
    # 3 series x 40,000 one-second points (Period=1) = 120,000 datapoints: two pages.
    for name in ("a", "b", "c"):
        sb.put_metric_points(PROD, "us-east-1", "Bench", "M", {"S": name},
                             [(T0 + s, float(s)) for s in range(40_000)])
    cw = client("cloudwatch")
    queries = [q(n, "M", period=1, dims={"S": n}, ns="Bench") for n in ("a", "b", "c")]
    first = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 40_000,
                               ScanBy="TimestampAscending")
    assert sum(len(r["Values"]) for r in first["MetricDataResults"]) == 100_800
    assert [r["StatusCode"] for r in first["MetricDataResults"]] == [
        "Complete", "Complete", "PartialData"]
    second = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 40_000,
                                ScanBy="TimestampAscending", NextToken=first["NextToken"])
    assert "NextToken" not in second
    c_values = first["MetricDataResults"][2]["Values"] + second["MetricDataResults"][2]["Values"]
    assert c_values == [float(s) for s in range(40_000)]
    assert [r["StatusCode"] for r in second["MetricDataResults"]] == ["Complete"] * 3
    # boto3's paginator stitches the same thing together.
    pages = list(cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 40_000))
    assert len(pages) == 2
    assert sum(len(r["Values"]) for p in pages for r in p["MetricDataResults"]) == 120_000


def test_max_datapoints(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Invocations", None,
                         [(T0 + m * 60, float(m)) for m in range(25)])
    cw = client("cloudwatch")
    kw = dict(MetricDataQueries=[q("a", "Invocations")], StartTime=T0, EndTime=T0 + 1500,
              MaxDatapoints=10)
    seen, token, pages = [], None, 0
    while True:
        page = cw.get_metric_data(**kw, **({"NextToken": token} if token else {}))
        pages += 1
        assert len(page["MetricDataResults"][0]["Values"]) <= 10
        seen += page["MetricDataResults"][0]["Values"]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and seen == [float(m) for m in range(24, -1, -1)]
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(**kw, NextToken="bogus")
    assert e.value.response["Error"]["Code"] == "InvalidNextToken"


def test_get_metric_statistics_and_list_metrics(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": "f"},
                         [(T0, 4.0), (T0 + 30, 6.0)])
    sb.put_metric_points(PROD, "us-east-1", "AWS/SQS", "ApproximateAgeOfOldestMessage",
                         {"QueueName": "dlq"}, [(T0, 60.0)])
    sb.metrics.set_clock(T0 + 60)  # ListMetrics lists data of the past two weeks only
    cw = client("cloudwatch")
    stats = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName="Throttles",
                                     Dimensions=[{"Name": "FunctionName", "Value": "f"}],
                                     StartTime=T0, EndTime=T0 + 60, Period=60,
                                     Statistics=["Sum", "Maximum"])
    dp = stats["Datapoints"][0]
    assert (dp["Sum"], dp["Maximum"], int(dp["Timestamp"].timestamp())) == (10.0, 6.0, T0)
    lambda_metrics = cw.list_metrics(Namespace="AWS/Lambda")["Metrics"]
    assert lambda_metrics == [{"Namespace": "AWS/Lambda", "MetricName": "Throttles",
                               "Dimensions": [{"Name": "FunctionName", "Value": "f"}]}]
    by_dim = cw.list_metrics(Dimensions=[{"Name": "QueueName"}])["Metrics"]
    assert [m["MetricName"] for m in by_dim] == ["ApproximateAgeOfOldestMessage"]


def test_prune_drops_old_points(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Invocations", None,
                         [(T0 + m * 60, 1.0) for m in range(10)])
    assert sb.prune_metrics(T0 + 300) == 5
    got = client("cloudwatch").get_metric_data(
        MetricDataQueries=[q("a", "Invocations")], StartTime=T0, EndTime=T0 + 600)
    assert len(got["MetricDataResults"][0]["Values"]) == 5
    assert sb.prune_metrics(T0 + 10_000) == 5
    assert sb.metrics.point_count() == 0


def test_many_queries_over_a_coarse_seeded_week_answer_every_series(sb, client):
    """500 queries in one call over a week seeded at three resolutions (hourly, 5-min last day, 1-min last
    3 h): each series answers with every bucket up to CloudWatch's per-call limit. (How fast is a benchmark's business, not a test's:
    bench/collect_cycle.py times the sandbox's answers.)"""
    now = T0 + 7 * 86400
    times = ([now - 7 * 86400 + h * 3600 for h in range(6 * 24)]
             + [now - 86400 + m * 300 for m in range(288 - 36)]
             + [now - 3 * 3600 + m * 60 for m in range(180)])
    for i in range(300):
        for metric in ("Invocations", "ConcurrentExecutions"):
            sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", metric,
                                 {"FunctionName": f"fn-{i}"}, [(t, 1.0) for t in times])
    queries = [q(f"q{i}", "Invocations", dims={"FunctionName": f"fn-{i}"}) for i in range(300)]
    queries += [q(f"c{i}", "ConcurrentExecutions", "Maximum", dims={"FunctionName": f"fn-{i}"})
                for i in range(200)]
    got = client("cloudwatch").get_metric_data(MetricDataQueries=queries, StartTime=now - 86400, EndTime=now)
    assert len(got["MetricDataResults"]) == 500
    results = got["MetricDataResults"]
    assert len(results[0]["Values"]) == 252 + 180 and results[0]["StatusCode"] == "Complete"
    # as CloudWatch: at most 100,800 datapoints a call, the rest PartialData behind a NextToken
    assert sum(len(r["Values"]) for r in results) == 100_800 and got.get("NextToken")
    assert {r["StatusCode"] for r in results if len(r["Values"]) < 432} == {"PartialData"}


def test_compact_is_exact_for_every_statistic(sb, client):
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Duration", None,
                         [(T0 + m * 60, float(m % 7)) for m in range(120)])
    cw = client("cloudwatch")
    stats = ["Sum", "Maximum", "Minimum", "Average", "SampleCount"]
    queries = [q(s, "Duration", s, period=300) for s in stats]
    before = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 7200)
    assert sb.metrics.compact(T0 + 3600, 300) == 60 - 12
    after = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 7200)
    assert [r["Values"] for r in after["MetricDataResults"]] == [
        r["Values"] for r in before["MetricDataResults"]]
    minute = cw.get_metric_data(MetricDataQueries=[q("a", "Duration", period=60)],
                                StartTime=T0, EndTime=T0 + 7200)["MetricDataResults"][0]
    assert len(minute["Values"]) == 12 + 60  # old hour in 5-minute sets, recent hour intact


def test_large_put_metric_data_is_gzipped_by_botocore(sb, client):
    # botocore compresses request bodies over 10 KB (Content-Encoding: gzip).
    cw = client("cloudwatch")
    cw.put_metric_data(Namespace="Bulk", MetricData=[
        {"MetricName": "M", "Value": float(k), "Timestamp": T0 + k} for k in range(1000)])
    got = cw.get_metric_data(MetricDataQueries=[q("a", "M", ns="Bulk", period=3600)],
                             StartTime=T0, EndTime=T0 + 3600)["MetricDataResults"][0]
    assert got["Values"] == [float(sum(range(1000)))]


# ---- ListMetrics: RecentlyActive, the two-week window, paging ---------------------------------

def listed(cw, **kw):
    return [(m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]})
            for p in cw.get_paginator("list_metrics").paginate(**kw) for m in p["Metrics"]]


def test_list_metrics_recently_active_window(sb, client):
    now = T0 + 20 * 86400
    sb.metrics.set_clock(lambda: now)
    last = {"stale": now - 3 * 3600 - 60, "fresh": now - 2 * 3600 - 59 * 60,
            "edge": now - 3 * 3600, "old": now - 13 * 86400, "gone": now - 14 * 86400 - 60}
    for name, t in last.items():
        sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Invocations",
                             {"FunctionName": name}, [(t - 86400, 1.0), (t, 1.0)])
    cw = client("cloudwatch")
    recent = listed(cw, Namespace="AWS/Lambda", RecentlyActive="PT3H")
    assert sorted(d["FunctionName"] for _, d in recent) == ["edge", "fresh"]
    # Without RecentlyActive: data in the past two weeks.
    assert sorted(d["FunctionName"] for _, d in listed(cw, Namespace="AWS/Lambda")) == [
        "edge", "fresh", "old", "stale"]
    # The clock moves: 30 s on, "edge" is 3 h 0 min 30 s old, "fresh" 2 h 59 min 30 s.
    now += 30
    assert [d["FunctionName"] for _, d in listed(cw, RecentlyActive="PT3H")] == ["fresh"]
    # Filters still apply together with RecentlyActive.
    assert listed(cw, RecentlyActive="PT3H", Dimensions=[{"Name": "FunctionName"}]) == [
        ("Invocations", {"FunctionName": "fresh"})]
    assert listed(cw, RecentlyActive="PT3H", MetricName="Errors") == []
    assert listed(cw, RecentlyActive="PT3H", Namespace="AWS/SQS") == []


def test_list_metrics_account_level_and_dimension_filters(sb, client):
    sb.metrics.set_clock(T0 + 60)
    for dims in ({"FunctionName": "a"}, {"FunctionName": "a", "Resource": "a:live"}, None):
        sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "ConcurrentExecutions", dims,
                             [(T0, 1.0)])
    cw = client("cloudwatch")
    everything = listed(cw, Namespace="AWS/Lambda", RecentlyActive="PT3H")
    assert ("ConcurrentExecutions", {}) in everything and len(everything) == 3
    by_value = listed(cw, Dimensions=[{"Name": "FunctionName", "Value": "a"}])
    assert len(by_value) == 2  # every series that has FunctionName=a, with Resource or not
    assert listed(cw, Dimensions=[{"Name": "Resource"}]) == [
        ("ConcurrentExecutions", {"FunctionName": "a", "Resource": "a:live"})]


def test_list_metrics_pages_of_500(sb, client):
    now = T0 + 86400
    sb.metrics.set_clock(now)
    batches = [("AWS/Lambda", m, (("FunctionName", f"fn-{i:04d}"),), [now - 600], [1.0], [1.0],
                [1.0], [1.0]) for i in range(400) for m in ("Invocations", "Errors", "Duration")]
    sb.metrics.load_many(PROD, "us-east-1", batches)
    cw = client("cloudwatch")
    first = cw.list_metrics(Namespace="AWS/Lambda", RecentlyActive="PT3H")
    assert len(first["Metrics"]) == 500 and first["NextToken"]
    # Writes between pages neither shift nor repeat an item: pages are a snapshot.
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Invocations",
                         {"FunctionName": "aaa-new"}, [(now - 60, 1.0)])
    second = cw.list_metrics(Namespace="AWS/Lambda", RecentlyActive="PT3H",
                             NextToken=first["NextToken"])
    third = cw.list_metrics(Namespace="AWS/Lambda", RecentlyActive="PT3H",
                            NextToken=second["NextToken"])
    assert (len(second["Metrics"]), len(third["Metrics"])) == (500, 200)
    assert "NextToken" not in third
    seen = [(m["MetricName"], m["Dimensions"][0]["Value"])
            for page in (first, second, third) for m in page["Metrics"]]
    assert len(set(seen)) == 1200
    assert len(listed(cw, RecentlyActive="PT3H")) == 1201
    with pytest.raises(ClientError) as e:
        cw.list_metrics(NextToken=first["NextToken"])  # a token is good for one page only
    assert e.value.response["Error"]["Code"] == "InvalidNextToken"


def test_list_metrics_rejects_other_recently_active_values(sb, client):
    cw = client("cloudwatch")
    for value in ("PT1H", "PT24H", "pt3h", ""):
        with pytest.raises(ClientError) as e:
            cw.list_metrics(Namespace="AWS/Lambda", RecentlyActive=value)
        err = e.value.response["Error"]
        assert err["Code"] == "InvalidParameterValue" and "RecentlyActive" in err["Message"]


def test_list_metrics_listing_delay(sb, client):
    now = T0 + 3600
    sb.metrics.set_clock(now)
    sb.metrics.listing_delay = 15 * 60
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": "new"},
                         [(now - 5 * 60, 3.0)])
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": "old"},
                         [(now - 3600, 1.0), (now - 60, 3.0)])
    cw = client("cloudwatch")
    assert [d["FunctionName"] for _, d in listed(cw, RecentlyActive="PT3H")] == ["old"]
    sb.metrics.set_clock(now + 11 * 60)
    assert len(listed(cw, RecentlyActive="PT3H")) == 2
    sb.reset()  # reset() puts the clock and the delay back
    assert sb.metrics.listing_delay == 0 and sb.metrics.clock is time.time


def test_list_metrics_pages_through_100000_series(sb):
    # 10,000 functions x 10 metrics, one in seven active in the last 3 hours (every page and the
    # RecentlyActive filter; how fast is for bench/, not for a test)
    now = T0 + 86400
    sb.metrics.set_clock(now)
    names = ("Invocations", "Errors", "Throttles", "ConcurrentExecutions", "Duration",
             "AsyncEventsReceived", "AsyncEventAge", "AsyncEventsDropped", "DeadLetterErrors",
             "RecursiveInvocationsDropped")
    sb.metrics.load_many(PROD, "us-east-1", (
        ("AWS/Lambda", m, (("FunctionName", f"fn-{i:05d}"),),
         [now - 5 * 3600, now - (60 if i % 7 == 0 else 4 * 3600)], [1.0] * 2, [1.0] * 2,
         [1.0] * 2, [1.0] * 2) for i in range(10_000) for m in names))

    def call(**body):
        info = RequestInfo("cloudwatch", "ListMetrics", "us-east-1", PROD, "POST", "/", {},
                           json.dumps(body).encode(), {})
        return json.loads(sb.metrics.list_metrics(info).body)

    call(Namespace="AWS/Lambda")  # the first call sorts the keys once
    first = call(Namespace="AWS/Lambda", RecentlyActive="PT3H")
    assert len(first["Metrics"]) == 500
    total = len(first["Metrics"])
    token = first.get("NextToken")
    while token:
        page = call(NextToken=token)
        total += len(page["Metrics"])
        token = page.get("NextToken")
    assert total == 1429 * 10
    everything = call(Namespace="AWS/Lambda")
    assert len(everything["Metrics"]) == 500 and everything.get("NextToken")


# ---- the activity fleet (sandbox/activity.py) ---------------------------------------------------

def test_activity_fleet_idle_share_bursts_and_aggregates(sb, client):
    from bisect import bisect_left

    from sandbox.activity import build_activity_fleet

    now = T0 + 86400 + 20 * 60
    fleet = build_activity_fleet(sb, n_functions=2000, idle_share=0.85, bursts=3, seed=7,
                                 now=now, hours=4)
    truth, ms = fleet.truth, sb.metrics
    acct, region = truth.account, truth.region
    assert truth.start == now - now % 3600 - 4 * 3600 and ms.clock() == now

    def has_data(name, lo, hi):
        for metric in ("Invocations", "Throttles"):
            s = ms.series(acct, region, "AWS/Lambda", metric, (("FunctionName", name),))
            if s is not None and bisect_left(s.ts, hi) > bisect_left(s.ts, lo):
                return True
        return False

    # About 85 % of the functions have no datapoint at all in each full hour, as the store says.
    for h in range(truth.start, now - now % 3600, 3600):
        share = 1 - sum(has_data(n, h, h + 3600) for n in truth.names) / len(truth.names)
        assert abs(share - 0.85) <= 0.05, (h, share)
        assert share == pytest.approx(fleet.idle_share_in_hour(h))
    # The first burst began 15 minutes ago on a function that never ran before.
    b0, b1, b2 = truth.bursts
    assert b0.start == now - 15 * 60 and b0.idle_before is None and b1.start > now
    assert not has_data(b0.function, truth.start, b0.start)
    assert has_data(b0.function, b0.start, now)
    dims = (("FunctionName", b0.function),)
    thr = ms.series(acct, region, "AWS/Lambda", "Throttles", dims)
    conc = ms.series(acct, region, "AWS/Lambda", "ConcurrentExecutions", dims)
    assert thr.ts[0] == b0.start and min(thr.sums) > 0 and set(conc.maxs) == {b0.reserved}
    if b0.is_async:
        assert ms.series(acct, region, "AWS/Lambda", "AsyncEventsReceived", dims) is not None
    # ListMetrics (PT3H) shows it; the next burst's function shows up once it has run.
    cw = client("cloudwatch")
    recent = {d.get("FunctionName") for _, d in listed(cw, Namespace="AWS/Lambda",
                                                       RecentlyActive="PT3H")}
    assert b0.function in recent and b1.function not in recent
    assert len(recent) < 0.3 * len(truth.names)
    assert fleet.tick(b1.start + 120) > 0 and ms.clock() == b1.start + 120
    throttled = {d["FunctionName"] for _, d in listed(
        cw, RecentlyActive="PT3H", MetricName="Throttles", Dimensions=[{"Name": "FunctionName"}])}
    assert {b0.function, b1.function} <= throttled
    # Account level, every minute written: sums of the functions; concurrency levels consistent.
    end = b1.start + 120
    for metric, stat in (("Invocations", "Sum"), ("Errors", "Sum"), ("Throttles", "Sum"),
                         ("ConcurrentExecutions", "Maximum")):
        per_minute: dict[int, float] = {}
        for name in truth.names:
            s = ms.series(acct, region, "AWS/Lambda", metric, (("FunctionName", name),))
            if s is not None:
                for t, v in zip(*s.reduce(truth.start, end, 60, stat)):
                    per_minute[t] = per_minute.get(t, 0.0) + v
        ts, vs = ms.series(acct, region, "AWS/Lambda", metric, ()).reduce(
            truth.start, end, 60, stat)
        assert dict(zip(ts, vs)) == pytest.approx(per_minute), metric
        if metric in ("Invocations", "ConcurrentExecutions"):
            assert len(ts) == (end - truth.start) // 60
    claimed = ms.series(acct, region, "AWS/Lambda", "ClaimedAccountConcurrency", ())
    unreserved = ms.series(acct, region, "AWS/Lambda", "UnreservedConcurrentExecutions", ())
    assert [c - u for c, u in zip(claimed.maxs, unreserved.maxs)] == [
        sum(truth.reserved.values())] * len(claimed.ts)
    assert max(claimed.maxs) < truth.limit
    settings = client("lambda").get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == truth.limit
    assert settings["AccountUsage"]["FunctionCount"] == 2000
