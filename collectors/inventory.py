"""Functions, tags, concurrency, DLQs and account limits of one (account, region) (I/O)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import AWS_ERRORS, to_error
from .model import AccountInfo, CollectError, FunctionInfo, ProvisionedConfig, QueueDepth

GB = 1024 ** 3
QUOTA_CONCURRENCY = "L-B99A9384"
QUOTA_CODE_STORAGE = "L-2ACBD22F"


def list_functions(lam: Any) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]]]:
    """$LATEST configuration of every function, and per function (version count, bytes over all versions).

    One paginated ListFunctions(FunctionVersion=ALL) gives both: old versions count against code storage.
    """
    latest: list[dict[str, Any]] = []
    sizes: dict[str, tuple[int, int]] = {}
    for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
        for f in page["Functions"]:
            name = f["FunctionName"]
            n, total = sizes.get(name, (0, 0))
            sizes[name] = (n + 1, total + int(f.get("CodeSize") or 0))
            if f.get("Version", "$LATEST") == "$LATEST":
                latest.append(f)
    return latest, sizes


def list_tags(tagging: Any) -> dict[str, dict[str, str]]:
    """Tags of every Lambda function by function name, in bulk (100 per page)."""
    out: dict[str, dict[str, str]] = {}
    for page in tagging.get_paginator("get_resources").paginate(ResourceTypeFilters=["lambda:function"], ResourcesPerPage=100):
        for r in page["ResourceTagMappingList"]:
            name = r["ResourceARN"].split(":")[6]
            out[name] = {t["Key"]: t["Value"] for t in r.get("Tags", [])}
    return out


def function_details(lam: Any, name: str) -> tuple[int | None, list[ProvisionedConfig], str | None]:
    """(reserved concurrency or None, provisioned configs, async on-failure destination or None)."""
    reserved = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    provisioned = []
    for page in lam.get_paginator("list_provisioned_concurrency_configs").paginate(FunctionName=name):
        for p in page["ProvisionedConcurrencyConfigs"]:
            provisioned.append(ProvisionedConfig(
                name, p["FunctionArn"].split(":")[-1], int(p.get("RequestedProvisionedConcurrentExecutions") or 0),
                int(p.get("AllocatedProvisionedConcurrentExecutions") or 0),
                int(p.get("AvailableProvisionedConcurrentExecutions") or 0), p.get("Status", "")))
    on_failure = None
    for page in lam.get_paginator("list_function_event_invoke_configs").paginate(FunctionName=name):
        for c in page["FunctionEventInvokeConfigs"]:
            dest = c.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            # The unqualified ($LATEST) config is what most invocations use; prefer it over an alias's.
            if dest and (on_failure is None or len(c["FunctionArn"].split(":")) == 7):
                on_failure = dest
    return reserved, provisioned, on_failure


def to_function(f: dict[str, Any], sizes: tuple[int, int]) -> FunctionInfo:
    """A ListFunctions item -> FunctionInfo (details and groups are filled in by the caller)."""
    return FunctionInfo(
        name=f["FunctionName"], arn=f["FunctionArn"], runtime=f.get("Runtime"), memory_mb=f.get("MemorySize"),
        timeout_s=f.get("Timeout"), architecture=(f.get("Architectures") or [None])[0],
        package_type=f.get("PackageType", "Zip"), code_size=int(f.get("CodeSize") or 0),
        code_size_all_versions=sizes[1], version_count=sizes[0], last_modified=f.get("LastModified"),
        revision=f.get("RevisionId"), vpc=bool((f.get("VpcConfig") or {}).get("SubnetIds")),
        dlq_arn=(f.get("DeadLetterConfig") or {}).get("TargetArn"))


def needs_detail(f: FunctionInfo, prev: dict[str, Any] | None) -> bool:
    """New or changed since the stored copy (or its last detail read failed)."""
    return prev is None or prev.get("detail_at") is None or prev.get("revision") != f.revision \
        or prev.get("last_modified") != f.last_modified


def pick_refresh(functions: list[FunctionInfo], previous: dict[str, dict[str, Any]], now: float,
                 refresh_s: float, interval_s: float) -> list[FunctionInfo]:
    """Functions to read details for this cycle: new/changed ones, plus the stalest share of the rest.

    The share is N × interval / refresh, so every function is re-read about once per refresh period
    and the calls spread evenly over cycles instead of all landing in one.
    """
    changed = [f for f in functions if needs_detail(f, previous.get(f.name))]
    changed_names = {f.name for f in changed}
    stale = sorted((f for f in functions if f.name not in changed_names
                    and previous[f.name]["detail_at"] < now - refresh_s),
                   key=lambda f: previous[f.name]["detail_at"])
    budget = math.ceil(len(functions) * interval_s / refresh_s)
    return changed + stale[:budget]


def read_details(lam: Any, functions: Iterable[FunctionInfo], workers: int = 4,
                 ) -> tuple[dict[str, tuple[int | None, list[ProvisionedConfig], str | None]], list[CollectError]]:
    """Per-function calls with a small pool; failures become one error per code, never a missing value."""
    def one(name: str) -> Any:
        try:
            return function_details(lam, name)
        except AWS_ERRORS as e:
            return to_error(e, "details", "lambda:GetFunctionConcurrency/ListProvisionedConcurrencyConfigs/"
                                          "ListFunctionEventInvokeConfigs")

    names = [f.name for f in functions]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(one, names))
    results: dict[str, Any] = {}
    failures: dict[str, tuple[int, CollectError]] = {}
    for name, a in zip(names, answers):
        if isinstance(a, CollectError):
            n, first = failures.get(a.code, (0, a))
            failures[a.code] = (n + 1, first)
        else:
            results[name] = a
    errors = [CollectError(e.source, e.api, e.code, f"{n} function(s), e.g. {e.message}")
              for n, e in failures.values()]
    return results, errors


def account_settings(lam: Any) -> AccountInfo:
    """Limits and usage Lambda enforces now (GetAccountSettings)."""
    s = lam.get_account_settings()
    lim, use = s.get("AccountLimit", {}), s.get("AccountUsage", {})
    return AccountInfo(lim.get("ConcurrentExecutions"), lim.get("UnreservedConcurrentExecutions"),
                       lim.get("TotalCodeSize"), use.get("TotalCodeSize"), use.get("FunctionCount"))


def service_quotas(sq: Any) -> tuple[float | None, float | None]:
    """Applied Service Quotas values (concurrency, code storage in bytes)."""
    conc = sq.get_service_quota(ServiceCode="lambda", QuotaCode=QUOTA_CONCURRENCY)["Quota"]["Value"]
    storage_gb = sq.get_service_quota(ServiceCode="lambda", QuotaCode=QUOTA_CODE_STORAGE)["Quota"]["Value"]
    return conc, storage_gb * GB


def queue_depths(sqs_client: Callable[[], Any], arns: Iterable[str], account: str, region: str,
                 workers: int = 4) -> tuple[list[QueueDepth], list[CollectError]]:
    """Live depth of each SQS dead-letter queue; other targets are recorded as not measurable."""
    local, out = [], []
    for arn in sorted(set(arns)):
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "sqs":
            continue  # SNS, EventBridge, Lambda, S3: no depth to read
        q_region, q_account, name = parts[3], parts[4], parts[5]
        if (q_account, q_region) != (account, region):
            out.append(QueueDepth(arn, name, None, None, None,
                                  f"in {q_account}/{q_region}: not readable from this target"))
        else:
            local.append((arn, name))
    if not local:
        return out, []
    sqs = sqs_client()  # made once, here: clients are thread-safe, their creation is not

    def one(item: tuple[str, str]) -> QueueDepth | CollectError:
        arn, name = item
        try:
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"]
            return QueueDepth(arn, name, int(a["ApproximateNumberOfMessages"]),
                              int(a["ApproximateNumberOfMessagesNotVisible"]),
                              int(a["ApproximateNumberOfMessagesDelayed"]))
        except AWS_ERRORS as e:
            err = to_error(e, "sqs", "sqs:GetQueueAttributes")
            return CollectError(err.source, err.api, err.code, f"{name}: {err.message}")

    errors = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (arn, name), a in zip(local, pool.map(one, local)):
            if isinstance(a, CollectError):
                errors.append(a)
                out.append(QueueDepth(arn, name, None, None, None, f"{a.code}: {a.message}"))
            else:
                out.append(a)
    return sorted(out, key=lambda q: q.arn), errors
