"""What moto 5.2.5's Lambda lacks, added in front of it, plus Service Quotas for ServiceCode "lambda".

- GetAccountSettings (moto: 404): limits from Sandbox.set_account_limits, usage summed from moto.
- Provisioned concurrency configs (moto: 404): kept here, READY at once, Allocated = Requested.
- DeadLetterConfig (moto drops it): a small patch of moto's LambdaFunction keeps and returns it.
- ListFunctions paging (moto ignores MaxItems): answered here, at most 50 a page like AWS.
- PutFunctionConcurrency: the "keep 100 unreserved" floor checked against the sandbox's limit.
- Code size claims: set_code_size writes moto's own code_size, so every API reports it.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .protocol import Reply, RequestInfo, SandboxError, json_reply

DEFAULT_CONCURRENCY = 1000
DEFAULT_CODE_STORAGE = 80_530_636_800  # 75 GB
CODE_SIZE_UNZIPPED = 262_144_000
CODE_SIZE_ZIPPED = 52_428_800
MIN_UNRESERVED = 100
LIST_PAGE_MAX = 50

QUOTA_CONCURRENCY = "L-B99A9384"
QUOTA_STORAGE = "L-2ACBD22F"

_patched = False


def patch_moto() -> None:
    """Make moto's LambdaFunction keep DeadLetterConfig (idempotent, process-wide).

    Harmless for other moto users in the process: without a DeadLetterConfig nothing changes.
    """
    global _patched
    if _patched:
        return
    from moto.awslambda.models import LambdaFunction

    orig_init = LambdaFunction.__init__
    orig_update = LambdaFunction.update_configuration
    orig_get = LambdaFunction.get_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], region: str,
                 version: str | int = 1) -> None:
        orig_init(self, account_id, spec, region, version)
        self.dead_letter_config = _clean_dlc(spec.get("DeadLetterConfig"))

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = _clean_dlc(config_updates["DeadLetterConfig"])
        return orig_update(self, config_updates)

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        config = orig_get(self, on_create)
        dlc = getattr(self, "dead_letter_config", None)
        if dlc:
            config["DeadLetterConfig"] = dict(dlc)
        return config

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    _patched = True


def _clean_dlc(value: Any) -> dict[str, str] | None:
    # AWS removes the DLQ when TargetArn is empty.
    if value and value.get("TargetArn"):
        return {"TargetArn": value["TargetArn"]}
    return None


def lambda_backend(account: str, region: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account][region]


def function_name_of(ref: str) -> tuple[str, str | None]:
    """(name, qualifier) from a function name, partial ARN or ARN."""
    if ":function:" in ref:
        ref = ref.split(":function:", 1)[1]
    name, _, qualifier = ref.partition(":")
    return name, qualifier or None


@dataclass
class AccountLimits:
    concurrent_executions: int = DEFAULT_CONCURRENCY
    code_storage_bytes: int = DEFAULT_CODE_STORAGE
    quota_concurrent_executions: int | None = None  # Service Quotas' applied value, if different


@dataclass
class ProvisionedConfig:
    requested: int
    last_modified: str


def _iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class LambdaExtensions:
    """The sandbox's own Lambda state (limits, provisioned concurrency) and handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.limits: dict[tuple[str, str], AccountLimits] = {}
        # (account, region, function, qualifier) -> config
        self.provisioned: dict[tuple[str, str, str, str], ProvisionedConfig] = {}

    def clear(self) -> None:
        with self._lock:
            self.limits.clear()
            self.provisioned.clear()

    def limits_for(self, account: str, region: str) -> AccountLimits:
        return self.limits.get((account, region)) or AccountLimits()

    # ---- direct (Python) API -------------------------------------------------------------

    def set_code_size(self, account: str, region: str, function_name: str, size: int,
                      version: str | int | None = None) -> None:
        """Claim `size` bytes of code for $LATEST (version=None) or one published version."""
        storage = lambda_backend(account, region)._lambdas
        entry = storage._functions.get(function_name)
        if entry is None:
            raise KeyError(f"no function {function_name} in {account}/{region}")
        if version is None or str(version) == "$LATEST":
            entry["latest"].code_size = int(size)
            return
        for fn in entry["versions"]:
            if str(fn.version) == str(version):
                fn.code_size = int(size)
                return
        raise KeyError(f"no version {version} of {function_name}")

    def put_provisioned(self, account: str, region: str, function_name: str, qualifier: str,
                        requested: int) -> ProvisionedConfig:
        """Validate like AWS and store a READY provisioned concurrency config."""
        backend = lambda_backend(account, region)
        self._resolve_qualifier(backend, function_name, qualifier)
        if requested < 1:
            raise SandboxError("InvalidParameterValueException",
                               "ProvisionedConcurrentExecutions must be at least 1.")
        config = ProvisionedConfig(int(requested), _iso_now())
        with self._lock:
            self.provisioned[(account, region, function_name, qualifier)] = config
        return config

    # ---- HTTP handlers -------------------------------------------------------------------

    def get_account_settings(self, info: RequestInfo) -> Reply:
        account, region = info.account, info.region or "us-east-1"
        limits = self.limits_for(account, region)
        backend = lambda_backend(account, region)
        functions = backend._lambdas._functions
        reserved = total = count = 0
        for entry in list(functions.values()):
            latest = entry.get("latest")
            if latest is not None:
                count += 1
                total += int(latest.code_size or 0)
                reserved += int(latest.reserved_concurrency or 0)
            total += sum(int(v.code_size or 0) for v in entry.get("versions", []))
        for layer in list(getattr(getattr(backend, "_layers", None), "_layers", {}).values()):
            total += sum(int(getattr(v, "code_size", 0) or 0) for v in layer.layer_versions.values())
        return json_reply("lambda", {
            "AccountLimit": {
                "TotalCodeSize": limits.code_storage_bytes,
                "CodeSizeUnzipped": CODE_SIZE_UNZIPPED,
                "CodeSizeZipped": CODE_SIZE_ZIPPED,
                "ConcurrentExecutions": limits.concurrent_executions,
                "UnreservedConcurrentExecutions": limits.concurrent_executions - reserved,
            },
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        })

    def put_function_concurrency(self, info: RequestInfo) -> Reply | None:
        """Enforce the 100-unreserved floor with the sandbox's limit; moto stores the value."""
        account, region = info.account, info.region or "us-east-1"
        name, _ = function_name_of(info.uri_params.get("FunctionName", ""))
        wanted = int(info.json().get("ReservedConcurrentExecutions", 0))
        limit = self.limits_for(account, region).concurrent_executions
        others = sum(int(e["latest"].reserved_concurrency or 0)
                     for n, e in list(lambda_backend(account, region)._lambdas._functions.items())
                     if n != name and e.get("latest") is not None)
        if limit - others - wanted < MIN_UNRESERVED:
            raise SandboxError("InvalidParameterValueException",
                               "Specified ReservedConcurrentExecutions for function decreases "
                               "account's UnreservedConcurrentExecution below its minimum value "
                               f"of [{MIN_UNRESERVED}].")
        return None  # fall through to moto

    def delete_function(self, info: RequestInfo) -> Reply | None:
        """Forget provisioned configs of a deleted function, then let moto delete it."""
        name, qualifier = function_name_of(info.uri_params.get("FunctionName", ""))
        qualifier = info.qs("Qualifier") or qualifier
        with self._lock:
            for key in [k for k in self.provisioned
                        if k[:3] == (info.account, info.region, name)
                        and (qualifier is None or k[3] == qualifier)]:
                del self.provisioned[key]
        return None

    def list_functions(self, info: RequestInfo) -> Reply:
        backend = lambda_backend(info.account, info.region or "us-east-1")
        version = info.qs("FunctionVersion")
        functions = list(backend.list_functions(version))
        configs = [fn.get_configuration() for fn in functions]
        if version == "ALL":
            for c in configs:  # moto leaves "Version" of the $LATEST copy at "$LATEST"? make sure
                if c["FunctionArn"].endswith(":$LATEST"):
                    c["Version"] = "$LATEST"
        order = {"$LATEST": -1}
        configs.sort(key=lambda c: (c["FunctionName"],
                                    order.get(c["Version"], 0) if not c["Version"].isdigit()
                                    else int(c["Version"])))
        start = _decode_marker(info.qs("Marker"))
        size = min(int(info.qs("MaxItems") or LIST_PAGE_MAX), LIST_PAGE_MAX)
        if size < 1:
            raise SandboxError("InvalidParameterValueException", "MaxItems must be at least 1.")
        page = configs[start:start + size]
        out: dict[str, Any] = {"Functions": page}
        if start + size < len(configs):
            out["NextMarker"] = _encode_marker(start + size)
        return json_reply("lambda", out)

    def put_provisioned_concurrency_config(self, info: RequestInfo) -> Reply:
        name, qualifier = self._target(info)
        requested = int(info.json().get("ProvisionedConcurrentExecutions", 0))
        config = self.put_provisioned(info.account, info.region or "us-east-1", name, qualifier,
                                      requested)
        return json_reply("lambda", self._shape(config), status=202)

    def get_provisioned_concurrency_config(self, info: RequestInfo) -> Reply:
        name, qualifier = self._target(info)
        lambda_backend(info.account, info.region or "us-east-1").get_function(name)
        config = self.provisioned.get((info.account, info.region or "us-east-1", name, qualifier))
        if config is None:
            raise SandboxError("ProvisionedConcurrencyConfigNotFoundException",
                               "No Provisioned Concurrency Config found for this function", 404)
        return json_reply("lambda", self._shape(config))

    def delete_provisioned_concurrency_config(self, info: RequestInfo) -> Reply:
        name, qualifier = self._target(info)
        region = info.region or "us-east-1"
        lambda_backend(info.account, region).get_function(name)
        with self._lock:
            self.provisioned.pop((info.account, region, name, qualifier), None)
        return json_reply("lambda", None, status=204)

    def list_provisioned_concurrency_configs(self, info: RequestInfo) -> Reply:
        region = info.region or "us-east-1"
        name, _ = function_name_of(info.uri_params.get("FunctionName", ""))
        fn = lambda_backend(info.account, region).get_function(name)
        base_arn = fn.function_arn.split(":$LATEST")[0]
        with self._lock:
            items = sorted((k[3], v) for k, v in self.provisioned.items()
                           if k[:3] == (info.account, region, name))
        rows = [{"FunctionArn": f"{base_arn}:{q}", **self._shape(c)} for q, c in items]
        start = _decode_marker(info.qs("Marker"))
        size = min(int(info.qs("MaxItems") or 50), 50)
        out: dict[str, Any] = {"ProvisionedConcurrencyConfigs": rows[start:start + size]}
        if start + size < len(rows):
            out["NextMarker"] = _encode_marker(start + size)
        return json_reply("lambda", out)

    def _target(self, info: RequestInfo) -> tuple[str, str]:
        name, qualifier = function_name_of(info.uri_params.get("FunctionName", ""))
        qualifier = info.qs("Qualifier") or qualifier
        if not qualifier:
            raise SandboxError("InvalidParameterValueException",
                               "Qualifier is required for provisioned concurrency.")
        return name, qualifier

    @staticmethod
    def _resolve_qualifier(backend: Any, name: str, qualifier: str) -> None:
        if qualifier == "$LATEST":
            raise SandboxError("InvalidParameterValueException",
                               "Provisioned Concurrency Configs cannot be applied to unpublished "
                               "function versions.")
        backend.get_function(name)  # ResourceNotFoundException when missing
        try:
            backend.get_function(name, qualifier)
        except Exception:
            raise SandboxError("ResourceNotFoundException",
                               f"Function not found: {name}:{qualifier}", 404) from None

    @staticmethod
    def _shape(config: ProvisionedConfig) -> dict[str, Any]:
        return {"RequestedProvisionedConcurrentExecutions": config.requested,
                "AvailableProvisionedConcurrentExecutions": config.requested,
                "AllocatedProvisionedConcurrentExecutions": config.requested,
                "Status": "READY", "LastModified": config.last_modified}

    # ---- Service Quotas (ServiceCode "lambda") -------------------------------------------

    def _quotas(self, account: str, region: str) -> list[dict[str, Any]]:
        limits = self.limits_for(account, region)
        concurrency = limits.quota_concurrent_executions or limits.concurrent_executions

        def quota(code: str, name: str, value: float, unit: str,
                  usage: dict[str, Any] | None = None) -> dict[str, Any]:
            q = {"ServiceCode": "lambda", "ServiceName": "AWS Lambda",
                 "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:lambda/{code}",
                 "QuotaCode": code, "QuotaName": name, "Value": value, "Unit": unit,
                 "Adjustable": True, "GlobalQuota": False, "QuotaAppliedAtLevel": "ACCOUNT"}
            if usage:
                q["UsageMetric"] = usage
            return q

        return [
            quota(QUOTA_STORAGE, "Function and layer storage",
                  limits.code_storage_bytes / 2**30, "Gigabytes"),
            quota(QUOTA_CONCURRENCY, "Concurrent executions", float(concurrency), "None", {
                "MetricNamespace": "AWS/Lambda", "MetricName": "ConcurrentExecutions",
                "MetricDimensions": {}, "MetricStatisticRecommendation": "Maximum"}),
            quota("L-9FEE3D26", "Elastic network interfaces per VPC", 500.0, "None"),
        ]

    def service_quotas(self, info: RequestInfo) -> Reply | None:
        """GetServiceQuota / ListServiceQuotas / AWS-default variants for lambda; others: moto."""
        body = info.json()
        if body.get("ServiceCode") != "lambda":
            return None
        region = info.region or "us-east-1"
        quotas = self._quotas(info.account, region)
        if info.operation in ("GetServiceQuota", "GetAWSDefaultServiceQuota"):
            for q in quotas:
                if q["QuotaCode"] == body.get("QuotaCode"):
                    if info.operation == "GetAWSDefaultServiceQuota":
                        q = dict(q, Value={QUOTA_CONCURRENCY: 1000.0, QUOTA_STORAGE: 75.0}.get(
                            q["QuotaCode"], q["Value"]))
                    return json_reply("servicequotas", {"Quota": q})
            raise SandboxError("NoSuchResourceException",
                               f"The request failed because the specified quota "
                               f"{body.get('QuotaCode')} doesn't exist.")
        if info.operation in ("ListServiceQuotas", "ListAWSDefaultServiceQuotas"):
            if body.get("QuotaCode"):
                quotas = [q for q in quotas if q["QuotaCode"] == body["QuotaCode"]]
            start = _decode_marker(body.get("NextToken"))
            size = int(body.get("MaxResults") or 100)
            out: dict[str, Any] = {"Quotas": quotas[start:start + size]}
            if start + size < len(quotas):
                out["NextToken"] = _encode_marker(start + size)
            return json_reply("servicequotas", out)
        return None


def _encode_marker(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{offset}".encode()).decode()


def _decode_marker(marker: str | None) -> int:
    if not marker:
        return 0
    try:
        return int(base64.urlsafe_b64decode(marker.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError):
        raise SandboxError("InvalidParameterValueException", "Invalid pagination marker.") from None
