"""Fault injection as botocore sees it, the request log, reset and the server's address."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

PROD = "123456789012"
STAGING = "222222222222"


def error_code(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_throttling_in_each_service_shape(sb, client):
    sb.faults.add(error="Throttling")
    assert error_code(client("cloudwatch").list_metrics) == ("Throttling", 400)
    assert error_code(client("lambda").list_functions) == ("TooManyRequestsException", 429)
    assert error_code(client("sts").get_caller_identity) == ("Throttling", 400)
    assert error_code(client("sqs").list_queues) == ("RequestThrottled", 400)
    assert error_code(client("resourcegroupstaggingapi").get_resources) == (
        "ThrottledException", 400)
    assert error_code(client("service-quotas").list_service_quotas, ServiceCode="lambda") == (
        "TooManyRequestsException", 429)


def test_get_metric_data_throttling_is_retried_by_botocore(sb, client):
    sb.faults.add(service="cloudwatch", operation="GetMetricData", error="Throttling", count=2)
    cw = client("cloudwatch", attempts=3)
    got = cw.get_metric_data(MetricDataQueries=[{"Id": "a", "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"}, "Period": 60,
        "Stat": "Sum"}}], StartTime=0, EndTime=60)
    assert got["ResponseMetadata"]["RetryAttempts"] == 2
    assert sb.faults.rules == []  # count=2 rule retired


def test_access_denied(sb, client):
    sb.faults.add(error="AccessDeniedException")
    for make, call, kw in (("lambda", "get_account_settings", {}),
                           ("service-quotas", "get_service_quota",
                            {"ServiceCode": "lambda", "QuotaCode": "L-B99A9384"}),
                           ("resourcegroupstaggingapi", "get_resources", {})):
        assert error_code(getattr(client(make), call), **kw) == ("AccessDeniedException", 403)
    sb.faults.clear()
    sb.faults.add(error="AccessDenied")
    assert error_code(client("cloudwatch").list_metrics) == ("AccessDenied", 403)
    assert error_code(client("lambda").list_functions) == ("AccessDeniedException", 403)


def test_rules_filter_by_operation_region_account(sb, client):
    sb.faults.add(service="lambda", operation="GetAccountSettings", region="eu-west-1",
                  account=STAGING, error="TooManyRequests")
    creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{STAGING}:role/headroom-read",
                                      RoleSessionName="headroom")["Credentials"]
    client("lambda", region="eu-west-1").get_account_settings()  # prod: fine
    client("lambda", credentials=creds).get_account_settings()  # staging us-east-1: fine
    client("lambda", region="eu-west-1", credentials=creds).list_functions()  # other op: fine
    assert error_code(client("lambda", region="eu-west-1", credentials=creds)
                      .get_account_settings) == ("TooManyRequestsException", 429)


def test_share_fails_some_requests(sb, client):
    sb.faults.add(service="sts", share=0.5)
    sts = client("sts")
    failures = 0
    for _ in range(40):
        try:
            sts.get_caller_identity()
        except ClientError:
            failures += 1
    assert 5 < failures < 35


def test_region_down_and_endpoint_down(sb, client):
    sb.faults.add(region="eu-west-1", error="ConnectionDown")
    with pytest.raises(ConnectionClosedError):
        client("lambda", region="eu-west-1").list_functions()
    client("lambda", region="us-east-1").list_functions()
    sb.faults.clear()
    sb.set_reachable(False)
    try:
        with pytest.raises(EndpointConnectionError):
            client("lambda").list_functions()
    finally:
        sb.set_reachable(True)
    client("lambda").list_functions()


def test_request_log_counts_calls(sb, client):
    cw = client("cloudwatch", region="eu-west-1")
    for _ in range(3):
        cw.list_metrics()
    client("lambda").list_functions()
    assert list(sb.request_log) == [("cloudwatch", "ListMetrics", "eu-west-1", PROD)] * 3 + [
        ("lambda", "ListFunctions", "us-east-1", PROD)]
    sb.request_log.clear()
    assert len(sb.request_log) == 0


def test_reset_clears_everything(sb, client, new_function):
    new_function("f")
    lam = client("lambda")
    lam.publish_version(FunctionName="f")
    lam.put_provisioned_concurrency_config(FunctionName="f", Qualifier="1",
                                           ProvisionedConcurrentExecutions=2)
    sb.set_account_limits(PROD, "us-east-1", concurrent_executions=5000)
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Errors", None, [(0, 1.0)])
    client("sqs").create_queue(QueueName="q")
    sb.faults.add(service="cloudwatch")
    sb.reset()
    assert sb.metrics.point_count() == 0 and sb.faults.rules == [] and not sb.request_log
    assert lam.list_functions()["Functions"] == []
    assert client("sqs").list_queues().get("QueueUrls", []) == []
    assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
    new_function("f")
    lam.publish_version(FunctionName="f")
    with pytest.raises(ClientError):
        lam.get_provisioned_concurrency_config(FunctionName="f", Qualifier="1")


def test_serves_on_loopback_only(sb):
    assert sb.endpoint_url.startswith("http://127.0.0.1:")
    assert sb._server is not None and sb._server.server_address[0] == "127.0.0.1"
