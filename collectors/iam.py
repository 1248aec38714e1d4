"""The least-privilege, read-only IAM policy for exactly the calls the collector makes."""
from __future__ import annotations

import json
from typing import Any

from .config import Settings

# service id (botocore, hyphenized) -> IAM prefix
IAM_PREFIX = {"lambda": "lambda", "resource-groups-tagging-api": "tag", "service-quotas": "servicequotas",
              "sqs": "sqs", "cloudwatch": "cloudwatch", "sts": "sts", "organizations": "organizations", "oam": "oam"}

# Every API the collector calls, as "prefix:Action". tests/collectors/test_organization.py checks this list
# against the calls a full collection (plain targets and an organization with every option) really makes,
# both ways. The organizations:* actions are needed only by the identity that discovers an organization
# (management account or delegated administrator), oam:* only by the CloudWatch monitoring account.
ACTIONS = (
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
    "lambda:GetAccountSettings",
    "lambda:GetFunctionConcurrency",
    "lambda:ListFunctionEventInvokeConfigs",
    "lambda:ListFunctions",
    "lambda:ListProvisionedConcurrencyConfigs",
    "oam:ListAttachedLinks",
    "oam:ListSinks",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListRoots",
    "organizations:ListTagsForResource",
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


def assumed_roles(settings: Settings) -> list[str]:
    """The role ARNs (patterns for an organization's role_name) a config makes headroom assume."""
    roles = set()
    for t in settings.targets:
        if t.role_arn:
            roles.add(t.role_arn)
        if t.organization and t.role_name:
            roles.add(f"arn:aws:iam::*:role/{t.role_name}")
        if t.monitoring_role_arn:
            roles.add(t.monitoring_role_arn)
    return sorted(roles)


def policy(settings: Settings | None = None) -> dict:
    """The policy document for the role headroom reads with (no write action, no data read); with a
    config, also sts:AssumeRole on exactly the roles it names (the identity headroom starts with needs it)."""
    statements: list[dict[str, Any]] = [{
        "Sid": "HeadroomReadOnly",
        "Effect": "Allow",
        "Action": list(ACTIONS),
        "Resource": "*",
    }]
    roles = assumed_roles(settings) if settings is not None else []
    if roles:
        statements.append({"Sid": "HeadroomAssumeReadRoles", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                           "Resource": roles})
    return {"Version": "2012-10-17", "Statement": statements}


def policy_json(settings: Settings | None = None) -> str:
    return json.dumps(policy(settings), indent=2)
