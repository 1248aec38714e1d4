"""Inventory reads; Stubber shows the paging moto lacks (ListFunctions ignores MaxItems there)."""
import boto3
from botocore.config import Config
from botocore.stub import Stubber

from collectors import inventory

from .helpers import fn

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def stubbed(service):
    c = boto3.client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                     config=Config(retries={"mode": "standard", "max_attempts": 1}))
    return c, Stubber(c)


def listing(name, version="$LATEST", size=100, **extra):
    return {"FunctionName": name, "FunctionArn": ARN + name + ("" if version == "$LATEST" else f":{version}"),
            "Version": version, "CodeSize": size, "Runtime": "python3.12", "MemorySize": 256, "Timeout": 10,
            "Architectures": ["arm64"], "LastModified": "2026-11-01T00:00:00.000+0000", "RevisionId": "r" + name,
            **extra}


def test_list_functions_follows_markers_and_counts_every_version():
    lam, stub = stubbed("lambda")
    stub.add_response("list_functions", {"Functions": [
        listing("a", size=100), listing("a", "1", 90), listing("b", size=5,
                                                               DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:b-dlq"},
                                                               VpcConfig={"SubnetIds": ["subnet-1"]})],
        "NextMarker": "m1"}, {"FunctionVersion": "ALL"})
    stub.add_response("list_functions", {"Functions": [listing("a", "2", 80), listing("c", size=7)]},
                      {"FunctionVersion": "ALL", "Marker": "m1"})
    with stub:
        latest, sizes = inventory.list_functions(lam)
    stub.assert_no_pending_responses()
    assert [f["FunctionName"] for f in latest] == ["a", "b", "c"]
    assert sizes == {"a": (3, 270), "b": (1, 5), "c": (1, 7)}
    b = inventory.to_function(latest[1], sizes["b"])
    assert (b.dlq_arn, b.vpc, b.code_size, b.architecture) == ("arn:aws:sqs:us-east-1:123456789012:b-dlq", True, 5, "arm64")
    a = inventory.to_function(latest[0], sizes["a"])
    assert (a.code_size, a.code_size_all_versions, a.version_count, a.dlq_arn, a.vpc) == (100, 270, 3, None, False)


def test_tags_in_bulk_across_pages():
    tagging, stub = stubbed("resourcegroupstaggingapi")
    stub.add_response("get_resources", {"ResourceTagMappingList": [
        {"ResourceARN": ARN + "a", "Tags": [{"Key": "team", "Value": "pay"}]}], "PaginationToken": "t2"},
        {"ResourceTypeFilters": ["lambda:function"], "ResourcesPerPage": 100})
    stub.add_response("get_resources", {"ResourceTagMappingList": [
        {"ResourceARN": ARN + "b", "Tags": [{"Key": "team", "Value": "<b>ops</b>"}, {"Key": "env", "Value": "prod"}]}],
        "PaginationToken": ""}, {"ResourceTypeFilters": ["lambda:function"], "ResourcesPerPage": 100, "PaginationToken": "t2"})
    with stub:
        tags = inventory.list_tags(tagging)
    stub.assert_no_pending_responses()
    assert tags == {"a": {"team": "pay"}, "b": {"team": "<b>ops</b>", "env": "prod"}}


def test_function_details_pages_provisioned_and_prefers_unqualified_destination():
    lam, stub = stubbed("lambda")
    stub.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 25}, {"FunctionName": "a"})
    stub.add_response("list_provisioned_concurrency_configs", {"ProvisionedConcurrencyConfigs": [
        {"FunctionArn": ARN + "a:live", "RequestedProvisionedConcurrentExecutions": 10,
         "AllocatedProvisionedConcurrentExecutions": 10, "AvailableProvisionedConcurrentExecutions": 8, "Status": "READY"}],
        "NextMarker": "p2"}, {"FunctionName": "a"})
    stub.add_response("list_provisioned_concurrency_configs", {"ProvisionedConcurrencyConfigs": [
        {"FunctionArn": ARN + "a:7", "RequestedProvisionedConcurrentExecutions": 2,
         "AllocatedProvisionedConcurrentExecutions": 1, "AvailableProvisionedConcurrentExecutions": 1,
         "Status": "IN_PROGRESS"}]}, {"FunctionName": "a", "Marker": "p2"})
    stub.add_response("list_function_event_invoke_configs", {"FunctionEventInvokeConfigs": [
        {"FunctionArn": ARN + "a:live", "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:alias-q"}}},
        {"FunctionArn": ARN + "a", "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:1:main-q"}}}]},
        {"FunctionName": "a"})
    stub.add_response("get_function_concurrency", {}, {"FunctionName": "b"})
    stub.add_response("list_provisioned_concurrency_configs", {"ProvisionedConcurrencyConfigs": []}, {"FunctionName": "b"})
    stub.add_response("list_function_event_invoke_configs", {"FunctionEventInvokeConfigs": []}, {"FunctionName": "b"})
    with stub:
        reserved, prov, dest = inventory.function_details(lam, "a")
        assert inventory.function_details(lam, "b") == (None, [], None)   # no reserved: None, not 0
    stub.assert_no_pending_responses()
    assert reserved == 25 and dest == "arn:aws:sqs:us-east-1:1:main-q"
    assert [(p.qualifier, p.requested, p.allocated, p.status) for p in prov] == [
        ("live", 10, 10, "READY"), ("7", 2, 1, "IN_PROGRESS")]


def test_detail_failures_are_grouped_errors_not_values():
    lam, stub = stubbed("lambda")
    for name in ("a", "b"):
        stub.add_client_error("get_function_concurrency", service_error_code="TooManyRequestsException",
                              service_message="Rate exceeded", http_status_code=429)
    with stub:
        results, errors = inventory.read_details(lam, [fn("a"), fn("b")], workers=1)
    assert results == {}
    assert [(e.code, e.source) for e in errors] == [("TooManyRequestsException", "details")]
    assert errors[0].message.startswith("2 function(s), e.g. Rate exceeded")


def test_pick_refresh_reads_changed_and_spreads_the_stale():
    now = 100_000.0
    fns = [fn(f"f{i}", revision="r1") for i in range(120)] + [fn("new"), fn("changed", revision="r2")]
    previous = {f"f{i}": {"revision": "r1", "last_modified": "2026-01-01", "detail_at": now - 7200 + i}
                for i in range(120)}
    previous["changed"] = {"revision": "r1", "last_modified": "2026-01-01", "detail_at": now}
    picked = inventory.pick_refresh(fns, previous, now, refresh_s=3600, interval_s=60)
    # new and changed first, then ceil(122 * 60 / 3600) = 3 of the stalest
    assert [f.name for f in picked] == ["new", "changed", "f0", "f1", "f2"]
    fresh = {k: {**v, "detail_at": now} for k, v in previous.items()}
    assert [f.name for f in inventory.pick_refresh(fns[:120], fresh, now, 3600, 60)] == []


def test_queue_depths_reads_sqs_and_explains_the_unmeasurable():
    sqs, stub = stubbed("sqs")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/a-dlq"
    stub.add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": "a-dlq", "QueueOwnerAWSAccountId": "123456789012"})
    stub.add_response("get_queue_attributes", {"Attributes": {
        "ApproximateNumberOfMessages": "42", "ApproximateNumberOfMessagesNotVisible": "3",
        "ApproximateNumberOfMessagesDelayed": "0"}}, {"QueueUrl": url, "AttributeNames": [
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]})
    stub.add_client_error("get_queue_url", service_error_code="AWS.SimpleQueueService.NonExistentQueue",
                          service_message="The specified queue does not exist.", http_status_code=400)
    arns = ["arn:aws:sqs:us-east-1:123456789012:a-dlq", "arn:aws:sqs:us-east-1:123456789012:gone",
            "arn:aws:sqs:eu-west-1:999999999999:far", "arn:aws:sns:us-east-1:123456789012:topic"]
    with stub:
        depths, errors = inventory.queue_depths(lambda: sqs, arns, "123456789012", "us-east-1", workers=1)
    stub.assert_no_pending_responses()
    by = {d.name: d for d in depths}
    assert (by["a-dlq"].visible, by["a-dlq"].not_visible, by["a-dlq"].delayed, by["a-dlq"].error) == (42, 3, 0, None)
    assert by["gone"].visible is None and "does not exist" in by["gone"].error
    assert by["far"].visible is None and "not readable from this target" in by["far"].error
    assert "topic" not in by   # SNS has no depth
    assert [e.code for e in errors] == ["AWS.SimpleQueueService.NonExistentQueue"]
