"""GetMetricData planning and paging; Stubber shows what moto cannot (500 limit, NextToken, throttling)."""
from datetime import datetime, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from collectors import metrics
from collectors.catalogue import CATALOGUE, metrics_for

T0 = 1_700_000_000 // 3600 * 3600


def dt(ts):
    return datetime.fromtimestamp(ts, timezone.utc)


@pytest.fixture
def cw():
    client = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          config=Config(retries={"mode": "standard", "max_attempts": 1}))
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_plan_crosses_catalogue_with_what_exists():
    q = metrics.plan(["b", "a", "a"], [("a", "live")], ["a-dlq"], with_dlq=["a"], with_destination=["b"])
    per_scope = {s: len(metrics_for(s)) for s in ("account", "function", "alias", "queue")}
    # DeadLetterErrors only for "a" (has a DLQ), DestinationDeliveryFailures only for "b"
    assert len(q) == per_scope["account"] + 2 * (per_scope["function"] - 2) + 2 + per_scope["alias"] + per_scope["queue"]
    assert [x.dim for x in q if x.metric.key == "DeadLetterErrors"] == ["a"]
    assert [x.dim for x in q if x.metric.key == "DestinationDeliveryFailures"] == ["b"]
    assert len({(x.metric.key, x.dim, x.resource) for x in q}) == len(q)
    alias = next(x for x in q if x.metric.key == "ProvisionedConcurrencySpilloverInvocations")
    assert alias.dimensions() == [{"Name": "FunctionName", "Value": "a"}, {"Name": "Resource", "Value": "a:live"}]
    conc = [x for x in q if x.metric.name == "ConcurrentExecutions"]
    assert {(x.metric.stat, tuple(d["Name"] for d in x.dimensions())) for x in conc} == {
        ("Maximum", ()), ("Maximum", ("FunctionName",))}


def test_catalogue_statistics_follow_domain_rules():
    stats = {m.key: (m.stat, m.rollup) for m in CATALOGUE}
    for level in ("AccountConcurrentExecutions", "ClaimedAccountConcurrency", "UnreservedConcurrentExecutions",
                  "ConcurrentExecutions", "AsyncEventAge", "ProvisionedConcurrencyUtilization", "DLQVisible"):
        assert stats[level] == ("Maximum", "max"), level
    for count in ("Throttles", "Invocations", "Errors", "AsyncEventsDropped", "DeadLetterErrors",
                  "DestinationDeliveryFailures", "ProvisionedConcurrencySpilloverInvocations"):
        assert stats[count] == ("Sum", "sum"), count


def test_batches_of_500_follow_next_token_align_and_drop_zeros(cw):
    client, stub = cw
    names = [f"f{i}" for i in range(80)]
    queries = metrics.plan(names, [], [], names, names)  # 3 + 80 * 12 = 963 queries
    assert len(queries) == 963
    start, end = T0 + 17, T0 + 600 + 17   # unaligned on purpose
    first = {"MetricDataQueries": ANY, "StartTime": T0, "EndTime": T0 + 600, "ScanBy": "TimestampAscending"}
    stub.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "q0", "StatusCode": "PartialData", "Timestamps": [dt(T0)], "Values": [870.0]}],
        "NextToken": "page2"}, first)
    stub.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "q0", "StatusCode": "Complete", "Timestamps": [dt(T0 + 60), dt(T0 + 120)], "Values": [900.0, 0.0]},
        {"Id": "q499", "StatusCode": "Complete", "Timestamps": [dt(T0)], "Values": [3.0]}]},
        {**first, "NextToken": "page2"})
    stub.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "q462", "StatusCode": "Complete", "Timestamps": [dt(T0 + 540)], "Values": [7.0]}]}, first)
    points, errors, complete = metrics.fetch(client, queries, start, end, 60)
    assert errors == [] and complete
    assert [(p.metric, p.dim, p.ts, p.value) for p in points] == [
        ("AccountConcurrentExecutions", "", T0, 870.0), ("AccountConcurrentExecutions", "", T0 + 60, 900.0),
        (queries[499].metric.key, queries[499].dim, T0, 3.0), (queries[962].metric.key, queries[962].dim, T0 + 540, 7.0)]


def test_request_shape_and_500_per_call(cw):
    client, stub = cw
    names = [f"f{i}" for i in range(42)]
    queries = metrics.plan(names, [], [], names, names)  # 3 + 42 * 12 = 507
    # exactly two calls: the first 500 queries, then the remaining 7 (renumbered from q0)
    for batch in (queries[:500], queries[500:]):
        stub.add_response("get_metric_data", {"MetricDataResults": []}, {
            "MetricDataQueries": metrics.request(batch, 60),
            "StartTime": T0, "EndTime": T0 + 60, "ScanBy": "TimestampAscending"})
    points, errors, complete = metrics.fetch(client, queries, T0, T0 + 60, 60)
    assert (points, errors, complete) == ([], [], True)
    req = metrics.request(queries[3:4], 300)[0]
    assert req == {"Id": "q0", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                   "Dimensions": [{"Name": "FunctionName", "Value": "f0"}]}, "Period": 300, "Stat": "Sum"}}


def test_throttled_batch_is_an_error_and_the_other_batch_is_kept(cw):
    client, stub = cw
    names = [f"f{i}" for i in range(42)]
    queries = metrics.plan(names, [], [], names, names)
    stub.add_client_error("get_metric_data", service_error_code="Throttling", service_message="Rate exceeded",
                          http_status_code=400)
    stub.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "q0", "StatusCode": "Complete", "Timestamps": [dt(T0)], "Values": [2.0]}]})
    points, errors, complete = metrics.fetch(client, queries, T0, T0 + 60, 60)
    assert not complete
    assert [(e.code, e.api) for e in errors] == [("Throttling", "cloudwatch:GetMetricData")]
    assert "lower collection.max_workers" in errors[0].message
    assert [(p.dim, p.value) for p in points] == [(queries[500].dim, 2.0)]


def test_partial_data_at_the_end_is_not_complete(cw):
    client, stub = cw
    queries = metrics.plan(["a"], [], [])
    stub.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "q3", "StatusCode": "PartialData", "Timestamps": [dt(T0)], "Values": [1.0]}]})
    points, errors, complete = metrics.fetch(client, queries, T0, T0 + 60, 60)
    assert not complete and errors[0].code == "PartialData" and len(points) == 1


def test_fast_timestamp_parser_matches_botocore():
    from botocore.utils import parse_timestamp

    from collectors.sessions import _timestamp
    for raw in (1_795_711_500, 1_795_711_500.0, "2026-11-26T16:45:00Z", "2026-11-26T16:45:00.000+00:00"):
        assert _timestamp(raw) == parse_timestamp(raw)
    assert _timestamp(1_795_711_500).tzinfo is not None
