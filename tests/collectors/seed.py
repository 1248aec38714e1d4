"""A small fleet with known numbers, created through boto3 against the sandbox.

Two accounts (prod: the dummy credentials' 123456789012; staging: 222222222222 via AssumeRole),
two regions. Every number the e2e test asserts is derived from the literals here.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

import boto3

PROD, STAGING = "123456789012", "222222222222"
ROLE = f"arn:aws:iam::{STAGING}:role/headroom-read"
REGIONS = ("us-east-1", "eu-west-1")


@dataclass
class Fn:
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    reserved: int | None = None
    dlq: str | None = None          # queue name (SQS DeadLetterConfig)
    on_failure: str | None = None   # queue name (async on-failure destination)
    alias_provisioned: int | None = None


# (account, region) -> functions; names repeat across targets on purpose (groups are per target).
FLEET: dict[tuple[str, str], list[Fn]] = {
    (PROD, "us-east-1"): [
        Fn("payments-api-charge", {"team": "payments", "env": "prod"}, reserved=50, alias_provisioned=10),
        Fn("payments-api-refund", {"team": "payments", "env": "prod"}, reserved=20),
        Fn("payments-worker-settle", {"team": "payments"}),
        Fn("orders-api-create", {"team": "orders"}, dlq="orders-dlq"),
        Fn("orders-worker-fulfil", {"team": "orders"}, on_failure="orders-failures"),
        Fn("orders-worker-notify", {"team": "orders"}, dlq="orders-dlq"),
        Fn("search-index-build", {"team": "search"}, reserved=100),
        Fn("search-api-query", {"team": "search"}),
        Fn("reports-nightly"),  # untagged
        Fn("auth-token-issue", {"team": "identity"}),
    ],
    (PROD, "eu-west-1"): [
        Fn("payments-api-charge", {"team": "payments"}, reserved=30),
        Fn("orders-api-create", {"team": "orders"}),
        Fn("search-api-query", {"team": "search"}),
        Fn("inventory-sync", {"team": "inventory"}, dlq="inventory-dlq"),
    ],
    (STAGING, "us-east-1"): [
        Fn("payments-api-charge", {"team": "payments", "env": "staging"}, reserved=5),
        Fn("orders-api-create", {"team": "orders", "env": "staging"}),
        Fn("notifications-email-send", {"team": "comms"}, dlq="email-dlq"),
    ],
    (STAGING, "eu-west-1"): [
        Fn("search-api-query", {"team": "search"}),
        Fn("reports-weekly"),
        # idle functions: collected, no datapoints, so zeros (not unknowns)
        *(Fn(f"{family}-{part}", {"team": family}) for family in ("auth", "inventory", "notifications", "media")
          for part in ("api-get", "api-put", "worker-sync")),
    ],
}
LIMITS = {(PROD, "us-east-1"): 1000, (PROD, "eu-west-1"): 500, (STAGING, "us-east-1"): 1000, (STAGING, "eu-west-1"): 400}
# an increase Service Quotas shows as applied that Lambda does not enforce yet
QUOTAS = {(PROD, "eu-west-1"): 1000}
DLQ_MESSAGES = {"orders-dlq": 7, "orders-failures": 3, "inventory-dlq": 0, "email-dlq": 12}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", "def h(event, context):\n    return 1\n")
    return buf.getvalue()


def clients(endpoint: str, account: str, region: str) -> dict[str, object]:
    session = boto3.Session(region_name=region)
    if account == STAGING:
        sts = session.client("sts", endpoint_url=endpoint)
        c = sts.assume_role(RoleArn=ROLE, RoleSessionName="seed")["Credentials"]
        session = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                aws_session_token=c["SessionToken"], region_name=region)
    return {s: session.client(s, endpoint_url=endpoint) for s in ("lambda", "sqs", "iam")}


def build(sb) -> None:
    """Create the fleet (functions, tags, reserved, provisioned, DLQs with messages, limits)."""
    code = _zip()
    for (account, region), fns in FLEET.items():
        sb.set_account_limits(account, region, concurrent_executions=LIMITS[(account, region)],
                              quota_concurrent_executions=QUOTAS.get((account, region)))
        c = clients(sb.endpoint_url, account, region)
        role = c["iam"].create_role(RoleName=f"fn-{region}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        queues = {}
        for q in sorted({f.dlq for f in fns if f.dlq} | {f.on_failure for f in fns if f.on_failure}):
            url = c["sqs"].create_queue(QueueName=q)["QueueUrl"]
            queues[q] = f"arn:aws:sqs:{region}:{account}:{q}"
            for i in range(DLQ_MESSAGES[q]):
                c["sqs"].send_message(QueueUrl=url, MessageBody=f"failed event {i}")
        lam = c["lambda"]
        for f in fns:
            extra = {"DeadLetterConfig": {"TargetArn": queues[f.dlq]}} if f.dlq else {}
            lam.create_function(FunctionName=f.name, Runtime="python3.12", Role=role, Handler="h.h",
                                Code={"ZipFile": code}, Tags=f.tags, MemorySize=256, **extra)
            if f.reserved is not None:
                lam.put_function_concurrency(FunctionName=f.name, ReservedConcurrentExecutions=f.reserved)
            if f.on_failure:
                lam.put_function_event_invoke_config(FunctionName=f.name, DestinationConfig={
                    "OnFailure": {"Destination": queues[f.on_failure]}})
            if f.alias_provisioned:
                v = lam.publish_version(FunctionName=f.name)["Version"]
                lam.create_alias(FunctionName=f.name, Name="live", FunctionVersion=v)
                lam.put_provisioned_concurrency_config(FunctionName=f.name, Qualifier="live",
                                                       ProvisionedConcurrentExecutions=f.alias_provisioned)


def put_metrics(sb, now: int) -> None:
    """Known datapoints in the last hour (minute-aligned, relative to `now`)."""
    m = now // 60 * 60
    L = "AWS/Lambda"

    def put(account, region, metric, dims, pts, ns=L):
        sb.put_metric_points(account, region, ns, metric, dims, [(m - ago * 60, v) for ago, v in pts])

    a, r = PROD, "us-east-1"
    put(a, r, "ConcurrentExecutions", None, [(50, 400), (30, 820), (10, 610)])
    put(a, r, "ClaimedAccountConcurrency", None, [(50, 600), (30, 870), (10, 700)])
    put(a, r, "UnreservedConcurrentExecutions", None, [(30, 650)])
    fn = lambda name: {"FunctionName": name}  # noqa: E731
    put(a, r, "Throttles", fn("payments-api-charge"), [(40, 100), (30, 200), (20, 50)])
    put(a, r, "ConcurrentExecutions", fn("payments-api-charge"), [(40, 50), (30, 50), (20, 48)])
    put(a, r, "ConcurrentExecutions", fn("payments-api-refund"), [(40, 5), (30, 12)])
    put(a, r, "Invocations", fn("payments-api-charge"), [(40, 3000), (30, 3100)])
    put(a, r, "ConcurrentExecutions", fn("search-index-build"), [(30, 35)])
    put(a, r, "AsyncEventsDropped", fn("orders-worker-fulfil"), [(15, 4), (14, 2)])
    put(a, r, "DeadLetterErrors", fn("orders-api-create"), [(12, 1)])
    put(a, r, "DestinationDeliveryFailures", fn("orders-worker-fulfil"), [(14, 2)])
    put(a, r, "ProvisionedConcurrencySpilloverInvocations",
        {"FunctionName": "payments-api-charge", "Resource": "payments-api-charge:live"}, [(30, 25)])
    put(a, r, "ApproximateNumberOfMessagesVisible", {"QueueName": "orders-dlq"}, [(5, 7)], ns="AWS/SQS")
    # the same metric name in another namespace must not leak into Lambda's numbers
    put(a, r, "Throttles", fn("payments-api-charge"), [(30, 99999)], ns="Custom/Other")

    put(PROD, "eu-west-1", "ConcurrentExecutions", None, [(20, 100)])
    put(PROD, "eu-west-1", "ClaimedAccountConcurrency", None, [(20, 130)])
    put(PROD, "eu-west-1", "ConcurrentExecutions", fn("payments-api-charge"), [(20, 30)])
    put(PROD, "eu-west-1", "Throttles", fn("payments-api-charge"), [(20, 7)])

    put(STAGING, "us-east-1", "ConcurrentExecutions", None, [(25, 10)])
    put(STAGING, "us-east-1", "ClaimedAccountConcurrency", None, [(25, 15)])
    put(STAGING, "us-east-1", "DeadLetterErrors", fn("notifications-email-send"), [(25, 3)])
