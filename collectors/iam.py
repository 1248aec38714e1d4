"""The least-privilege, read-only IAM policy for exactly the calls the collector makes."""
from __future__ import annotations

import json

# service id (botocore, hyphenized) -> IAM prefix
IAM_PREFIX = {"lambda": "lambda", "resource-groups-tagging-api": "tag", "service-quotas": "servicequotas",
              "sqs": "sqs", "cloudwatch": "cloudwatch", "sts": "sts"}

# Every API the collector calls, as "prefix:Action". tests/collectors/test_iam.py checks this list
# against the calls a full collection really makes, both ways.
ACTIONS = (
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "lambda:GetAccountSettings",
    "lambda:GetFunctionConcurrency",
    "lambda:ListFunctionEventInvokeConfigs",
    "lambda:ListFunctions",
    "lambda:ListProvisionedConcurrencyConfigs",
    "servicequotas:GetServiceQuota",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sts:GetCallerIdentity",
    "tag:GetResources",
)


def iam_action(call: str) -> str:
    """'lambda:ListFunctions' style from the CallCounter's 'service-id:Operation'."""
    service, op = call.split(":", 1)
    return f"{IAM_PREFIX[service]}:{op}"


def policy() -> dict:
    """The policy document for the role headroom reads with (no write action, no data read)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "HeadroomReadOnly",
            "Effect": "Allow",
            "Action": list(ACTIONS),
            "Resource": "*",
        }],
    }


def policy_json() -> str:
    return json.dumps(policy(), indent=2)
