"""Lambda extensions and Service Quotas for lambda, through stock boto3 over HTTP."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

PROD = "123456789012"
STAGING = "222222222222"
DLQ = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"


def test_account_settings_defaults_and_usage(sb, client, new_function):
    lam = client("lambda")
    empty = lam.get_account_settings()
    assert empty["AccountLimit"] == {
        "TotalCodeSize": 80_530_636_800, "CodeSizeUnzipped": 262_144_000,
        "CodeSizeZipped": 52_428_800, "ConcurrentExecutions": 1000,
        "UnreservedConcurrentExecutions": 1000}
    assert empty["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}

    a = new_function("a")
    b = new_function("b", padding=1000)
    lam.publish_version(FunctionName="a")  # a second copy of a's code counts too
    lam.put_function_concurrency(FunctionName="a", ReservedConcurrentExecutions=100)
    lam.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=25)
    got = lam.get_account_settings()
    assert got["AccountLimit"]["UnreservedConcurrentExecutions"] == 875
    assert got["AccountUsage"] == {"TotalCodeSize": 2 * a["CodeSize"] + b["CodeSize"],
                                   "FunctionCount": 2}


def test_account_limits_per_account_and_region(sb, client, new_function):
    sb.set_account_limits(PROD, "eu-west-1", concurrent_executions=3000,
                          code_storage_bytes=10 * 2**30)
    eu = client("lambda", region="eu-west-1").get_account_settings()["AccountLimit"]
    us = client("lambda", region="us-east-1").get_account_settings()["AccountLimit"]
    assert (eu["ConcurrentExecutions"], eu["TotalCodeSize"]) == (3000, 10 * 2**30)
    assert (us["ConcurrentExecutions"], us["TotalCodeSize"]) == (1000, 80_530_636_800)


def test_set_code_size_claims_bytes_everywhere(sb, client, new_function):
    lam = client("lambda")
    new_function("big")
    lam.publish_version(FunctionName="big")
    sb.set_code_size(PROD, "us-east-1", "big", 5_000_000_000)
    sb.set_code_size(PROD, "us-east-1", "big", 7_000_000_000, version=1)
    assert lam.get_function(FunctionName="big")["Configuration"]["CodeSize"] == 5_000_000_000
    listed = lam.list_functions()["Functions"][0]
    assert listed["CodeSize"] == 5_000_000_000
    versions = {v["Version"]: v["CodeSize"]
                for v in lam.list_versions_by_function(FunctionName="big")["Versions"]}
    assert versions == {"$LATEST": 5_000_000_000, "1": 7_000_000_000}
    usage = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert usage == 12_000_000_000


def test_dead_letter_config_is_kept(sb, client, new_function):
    lam = client("lambda")
    created = new_function("worker", DeadLetterConfig={"TargetArn": DLQ})
    assert created["DeadLetterConfig"] == {"TargetArn": DLQ}
    assert lam.get_function(FunctionName="worker")["Configuration"]["DeadLetterConfig"] == {
        "TargetArn": DLQ}
    assert lam.get_function_configuration(FunctionName="worker")["DeadLetterConfig"] == {
        "TargetArn": DLQ}
    assert lam.list_functions()["Functions"][0]["DeadLetterConfig"] == {"TargetArn": DLQ}

    other = DLQ.replace("orders", "other")
    lam.update_function_configuration(FunctionName="worker", DeadLetterConfig={"TargetArn": other})
    assert lam.get_function(FunctionName="worker")["Configuration"]["DeadLetterConfig"] == {
        "TargetArn": other}
    lam.update_function_configuration(FunctionName="worker", DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function(FunctionName="worker")["Configuration"]


def test_list_functions_pages(sb, client, new_function):
    lam = client("lambda")
    names = [f"fn-{i:03d}" for i in range(57)]
    for n in names:
        new_function(n)
    first = lam.list_functions(MaxItems=10)
    assert len(first["Functions"]) == 10 and first["NextMarker"]
    second = lam.list_functions(MaxItems=10, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in second["Functions"]] == names[10:20]
    unbounded = lam.list_functions()
    assert len(unbounded["Functions"]) == 50 and "NextMarker" in unbounded  # AWS caps at 50
    seen = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
            for f in page["Functions"]]
    assert seen == names


def test_list_functions_all_versions(sb, client, new_function):
    lam = client("lambda")
    new_function("a")
    lam.publish_version(FunctionName="a")
    lam.update_function_configuration(FunctionName="a", MemorySize=256)
    lam.publish_version(FunctionName="a")
    new_function("b")
    rows = [(f["FunctionName"], f["Version"])
            for f in lam.list_functions(FunctionVersion="ALL")["Functions"]]
    assert rows == [("a", "$LATEST"), ("a", "1"), ("a", "2"), ("b", "$LATEST")]
    assert len(lam.list_functions()["Functions"]) == 2


def test_provisioned_concurrency_lifecycle(sb, client, new_function):
    lam = client("lambda")
    new_function("api")
    lam.publish_version(FunctionName="api")
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion="1")
    put = lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier="live",
                                                 ProvisionedConcurrentExecutions=20)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (put["Status"], put["RequestedProvisionedConcurrentExecutions"],
            put["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 20, 20)
    lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier="1",
                                           ProvisionedConcurrentExecutions=5)
    got = lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="live")
    assert got["AvailableProvisionedConcurrentExecutions"] == 20

    page = lam.list_provisioned_concurrency_configs(FunctionName="api", MaxItems=1)
    assert len(page["ProvisionedConcurrencyConfigs"]) == 1 and page["NextMarker"]
    rows = [c for p in lam.get_paginator("list_provisioned_concurrency_configs").paginate(
        FunctionName="api") for c in p["ProvisionedConcurrencyConfigs"]]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[1] for c in rows) == ["1", "live"]
    assert all(c["FunctionArn"].startswith(
        f"arn:aws:lambda:us-east-1:{PROD}:function:api:") for c in rows)

    lam.delete_provisioned_concurrency_config(FunctionName="api", Qualifier="1")
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="api", Qualifier="1")
    assert e.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_provisioned_concurrency_errors(sb, client, new_function):
    lam = client("lambda")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="nope", Qualifier="live",
                                               ProvisionedConcurrentExecutions=1)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    new_function("api")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="api", Qualifier="missing",
                                               ProvisionedConcurrentExecutions=1)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_reserved_concurrency_keeps_100_unreserved(sb, client, new_function):
    lam = client("lambda")
    new_function("a")
    new_function("b")
    lam.put_function_concurrency(FunctionName="a", ReservedConcurrentExecutions=800)
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=101)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    lam.put_function_concurrency(FunctionName="b", ReservedConcurrentExecutions=100)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100


def test_service_quotas_for_lambda(sb, client):
    sb.set_account_limits(PROD, "us-east-1", concurrent_executions=1500)
    sq = client("service-quotas")
    conc = sq.get_service_quota(ServiceCode="lambda", QuotaCode="L-B99A9384")["Quota"]
    assert (conc["Value"], conc["QuotaName"], conc["Unit"]) == (1500.0, "Concurrent executions",
                                                                 "None")
    storage = sq.get_service_quota(ServiceCode="lambda", QuotaCode="L-2ACBD22F")["Quota"]
    assert (storage["Value"], storage["Unit"]) == (75.0, "Gigabytes")
    listed = {q["QuotaCode"]: q["Value"]
              for q in sq.list_service_quotas(ServiceCode="lambda")["Quotas"]}
    assert listed["L-B99A9384"] == 1500.0 and listed["L-2ACBD22F"] == 75.0
    default = sq.get_aws_default_service_quota(ServiceCode="lambda", QuotaCode="L-B99A9384")
    assert default["Quota"]["Value"] == 1000.0
    with pytest.raises(ClientError) as e:
        sq.get_service_quota(ServiceCode="lambda", QuotaCode="L-NOPE0000")
    assert e.value.response["Error"]["Code"] == "NoSuchResourceException"


def test_service_quota_applied_value_can_differ(sb, client):
    sb.set_account_limits(PROD, "us-east-1", concurrent_executions=1000,
                          quota_concurrent_executions=2000)
    sq = client("service-quotas")
    assert sq.get_service_quota(ServiceCode="lambda",
                                QuotaCode="L-B99A9384")["Quota"]["Value"] == 2000.0
    assert client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000


def test_assume_role_into_staging_sees_its_own_state(sb, client, new_function):
    new_function("prod-only")
    sts = client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{STAGING}:role/headroom-read",
                            RoleSessionName="headroom")["Credentials"]
    assert client("sts", credentials=creds).get_caller_identity()["Account"] == STAGING
    new_function("staging-only", credentials=creds)
    staging = client("lambda", credentials=creds)
    assert [f["FunctionName"] for f in staging.list_functions()["Functions"]] == ["staging-only"]
    assert [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]] == [
        "prod-only"]
    sb.set_account_limits(STAGING, "us-east-1", concurrent_executions=400)
    assert staging.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 400
    assert sb.request_log[-1] == ("lambda", "GetAccountSettings", "us-east-1", STAGING)
