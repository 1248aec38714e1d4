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


def answered(batch, *results):
    """A GetMetricData page answering every query of `batch` (as CloudWatch does), `results` by Id."""
    given = {r["Id"]: r for r in results}
    return {"MetricDataResults": [given.get(f"q{i}", {"Id": f"q{i}", "StatusCode": "Complete", "Timestamps": [],
                                                     "Values": []}) for i in range(len(batch))]}


def test_pack_fills_calls_to_500_without_splitting_a_subject():
    names = [f"f{i}" for i in range(80)]
    queries = metrics.plan(names, [], [], names, names)  # 6 + 80 * 12 = 966 queries
    batches = metrics.pack(queries)
    # 6 account + 41 functions x 12 = 498 (a 42nd would make 510), then the other 39 x 12
    assert [len(b) for b in batches] == [498, 468]
    owners = [{metrics.subject(q) for q in b} for b in batches]
    assert not owners[0] & owners[1]
    assert sum(len(b) for b in metrics.pack(queries, limit=12)) == 966   # one subject per call at worst


def test_batches_follow_next_token_align_and_drop_zeros(cw):
    client, stub = cw
    names = [f"f{i}" for i in range(80)]
    queries = metrics.plan(names, [], [], names, names)
    batches = metrics.pack(queries)
    start, end = T0 + 17, T0 + 600 + 17   # unaligned on purpose
    first = {"MetricDataQueries": ANY, "StartTime": T0, "EndTime": T0 + 600, "ScanBy": "TimestampAscending"}
    stub.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "q0", "StatusCode": "PartialData", "Timestamps": [dt(T0)], "Values": [870.0]}],
        "NextToken": "page2"}, first)
    stub.add_response("get_metric_data", answered(batches[0],
        {"Id": "q0", "StatusCode": "Complete", "Timestamps": [dt(T0 + 60), dt(T0 + 120)], "Values": [900.0, 0.0]},
        {"Id": "q497", "StatusCode": "Complete", "Timestamps": [dt(T0)], "Values": [3.0]}),
        {**first, "NextToken": "page2"})
    stub.add_response("get_metric_data", answered(batches[1],
        {"Id": "q467", "StatusCode": "Complete", "Timestamps": [dt(T0 + 540)], "Values": [7.0]}), first)
    points, errors, incomplete = metrics.fetch(client, batches, start, end, 60)
    assert errors == [] and incomplete == set()   # q0's PartialData was followed by its Complete page
    last0, last1 = batches[0][497], batches[1][467]
    assert [(p.metric, p.dim, p.ts, p.value) for p in points] == [
        ("AccountConcurrentExecutions", "", T0, 870.0), ("AccountConcurrentExecutions", "", T0 + 60, 900.0),
        (last0.metric.key, last0.dim, T0, 3.0), (last1.metric.key, last1.dim, T0 + 540, 7.0)]


def test_request_shape_and_500_per_call(cw):
    client, stub = cw
    names = [f"f{i}" for i in range(42)]
    queries = metrics.plan(names, [], [], names, names)  # 6 + 42 * 12 = 510
    batches = metrics.pack(queries)
    assert [len(b) for b in batches] == [498, 12]
    for batch in batches:
        stub.add_response("get_metric_data", answered(batch), {
            "MetricDataQueries": metrics.request(batch, 60),
            "StartTime": T0, "EndTime": T0 + 60, "ScanBy": "TimestampAscending"})
    points, errors, incomplete = metrics.fetch(client, batches, T0, T0 + 60, 60)
    assert (points, errors, incomplete) == ([], [], set())
    req = metrics.request(queries[6:7], 300)[0]
    assert req == {"Id": "q0", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                   "Dimensions": [{"Name": "FunctionName", "Value": "f0"}]}, "Period": 300, "Stat": "Sum"}}


def test_throttled_batch_leaves_its_subjects_incomplete_and_the_other_batch_is_kept(cw):
    client, stub = cw
    names = [f"f{i}" for i in range(42)]
    batches = metrics.pack(metrics.plan(names, [], [], names, names))
    stub.add_client_error("get_metric_data", service_error_code="Throttling", service_message="Rate exceeded",
                          http_status_code=400)
    stub.add_response("get_metric_data", answered(batches[1],
        {"Id": "q0", "StatusCode": "Complete", "Timestamps": [dt(T0)], "Values": [2.0]}))
    points, errors, incomplete = metrics.fetch(client, batches, T0, T0 + 60, 60)
    assert incomplete == set(batches[0])
    first41 = sorted(names)[:41]   # the plan sorts names: f0, f1, f10, ...
    assert {metrics.subject(q) for q in incomplete} == {("account", "")} | {("function", f) for f in first41}
    assert [(e.code, e.api) for e in errors] == [("Throttling", "cloudwatch:GetMetricData")]
    assert "lower collection.max_workers" in errors[0].message
    assert [(p.dim, p.value) for p in points] == [(sorted(names)[41], 2.0)]


def test_partial_data_at_the_end_and_an_unanswered_query_are_incomplete(cw):
    client, stub = cw
    queries = metrics.plan(["a"], [], [])
    batch = metrics.pack(queries)[0]
    page = answered(batch, {"Id": "q3", "StatusCode": "PartialData", "Timestamps": [dt(T0)], "Values": [1.0]})
    page["MetricDataResults"] = [r for r in page["MetricDataResults"] if r["Id"] != "q4"]
    stub.add_response("get_metric_data", page)
    points, errors, incomplete = metrics.fetch(client, [batch], T0, T0 + 60, 60)
    assert incomplete == {batch[3], batch[4]}
    assert [e.code for e in errors] == ["PartialData", "MissingResults"] and len(points) == 1


def test_fast_timestamp_parser_matches_botocore():
    from botocore.utils import parse_timestamp

    from collectors.sessions import _timestamp
    for raw in (1_795_711_500, 1_795_711_500.0, "2026-11-26T16:45:00Z", "2026-11-26T16:45:00.000+00:00"):
        assert _timestamp(raw) == parse_timestamp(raw)
    assert _timestamp(1_795_711_500).tzinfo is not None
