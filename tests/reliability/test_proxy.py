"""The fault proxy as botocore meets it: transparent, AWS-shaped 5xx, drops, delays, seeded, clean stop."""
from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from sandbox.proxy import FaultProxy

PROD = "123456789012"


@pytest.fixture
def proxy(sb):
    from moto.iam.models import get_account_id_from

    with FaultProxy(sb.endpoint_url, seed=5, account_of_key=get_account_id_from) as p:
        yield p


def client(endpoint: str, service: str, attempts: int = 1, region: str = "us-east-1"):
    return boto3.client(service, region_name=region, endpoint_url=endpoint,
                        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}))


def test_without_rules_the_proxy_is_transparent(sb, proxy):
    client(sb.endpoint_url, "sqs").create_queue(QueueName="q")
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", None, [(600, 4.0), (660, 5.0)])
    direct = client(sb.endpoint_url, "cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "a", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Throttles"},
                                                      "Period": 60, "Stat": "Sum"}}], StartTime=0, EndTime=3600)
    via = client(proxy.endpoint_url, "cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "a", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Throttles"},
                                                      "Period": 60, "Stat": "Sum"}}], StartTime=0, EndTime=3600)
    assert via["MetricDataResults"] == direct["MetricDataResults"]
    assert sorted(via["MetricDataResults"][0]["Values"]) == [4.0, 5.0]
    assert client(proxy.endpoint_url, "sqs").list_queues()["QueueUrls"][0].endswith("/q")
    assert client(proxy.endpoint_url, "sts").get_caller_identity()["Account"] == PROD
    assert proxy.requests == 3 and not proxy.injected


@pytest.mark.parametrize("service, call, kind, code, status", [
    ("sts", "get_caller_identity", "InternalError", "InternalFailure", 500),
    ("lambda", "list_functions", "InternalError", "ServiceException", 500),
    ("cloudwatch", "list_metrics", "ServiceUnavailable", "ServiceUnavailable", 503),
    ("sqs", "list_queues", "InternalError", "InternalFailure", 500),
])
def test_5xx_in_each_service_shape_and_botocore_retries_them(proxy, service, call, kind, code, status):
    proxy.faults.add(service=service, error=kind, count=1)
    with pytest.raises(ClientError) as e:
        getattr(client(proxy.endpoint_url, service), call)()
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    rule = proxy.faults.add(service=service, error=kind, count=1)
    answer = getattr(client(proxy.endpoint_url, service, attempts=2), call)()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1 and rule.fired == 1
    assert proxy.faults.rules == []   # both count=1 rules retired
    assert proxy.injected[kind] == 2


def test_a_dropped_connection_is_a_closed_connection_to_botocore(proxy):
    proxy.faults.add(service="lambda", operation="ListFunctions", error="ConnectionDown", count=1)
    with pytest.raises(ConnectionClosedError):
        client(proxy.endpoint_url, "lambda").list_functions()
    client(proxy.endpoint_url, "lambda").list_functions()   # count=1: retired


def test_slow_answers_are_late_and_right(proxy):
    proxy.faults.add(service="sts", error="Slow", delay=0.4, count=1)
    sts = client(proxy.endpoint_url, "sts")   # made outside the clock: building a client can take 0.5 s on a busy CI
    t = time.monotonic()
    assert sts.get_caller_identity()["Account"] == PROD
    slow = time.monotonic() - t
    t = time.monotonic()
    sts.get_caller_identity()
    fast = time.monotonic() - t
    assert slow >= 0.4           # the rule held the answer back for its delay
    assert slow - fast >= 0.3    # and only the first (count=1): the second is not held back


def test_filters_by_region_and_account(sb, proxy):
    proxy.faults.add(service="lambda", region="eu-west-1", account=PROD, error="InternalError")
    client(proxy.endpoint_url, "lambda").list_functions()
    with pytest.raises(ClientError):
        client(proxy.endpoint_url, "lambda", region="eu-west-1").list_functions()


def test_shares_are_drawn_per_request_from_the_seed(sb):
    def pattern(seed: int) -> list[bool]:
        with FaultProxy(sb.endpoint_url, seed=seed) as p:
            p.faults.add(service="sts", error="InternalError", share=0.3, count=1000)
            sts = client(p.endpoint_url, "sts")
            out = []
            for _ in range(40):
                try:
                    sts.get_caller_identity()
                    out.append(False)
                except ClientError:
                    out.append(True)
            return out

    first = pattern(1)
    assert 3 < sum(first) < 25
    assert pattern(1) == first        # the same requests fail for the same seed
    assert pattern(2) != first


def test_stop_cuts_delays_short_and_leaves_no_thread(sb):
    before = set(threading.enumerate())
    p = FaultProxy(sb.endpoint_url).start()
    p.faults.add(error="Slow", delay=30)
    caught = []

    def call():
        try:
            client(p.endpoint_url, "sts").get_caller_identity()
        except Exception as e:  # the proxy may answer or close: only the stop time matters here
            caught.append(e)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 5
    while p.faults.rules[0].fired == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    p.stop()
    t.join(10)
    assert time.monotonic() - t0 < 5
    assert not t.is_alive()
    # the sandbox's own handler of the forwarded request may take a moment to return: wait, bounded
    settle = time.monotonic() + 3
    while set(threading.enumerate()) - before and time.monotonic() < settle:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()
