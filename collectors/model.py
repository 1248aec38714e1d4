"""Plain records passed from the collector to the store (no I/O, no boto3)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class FunctionInfo:
    name: str
    arn: str
    runtime: str | None
    memory_mb: int | None
    timeout_s: int | None
    architecture: str | None
    package_type: str | None
    code_size: int              # $LATEST
    code_size_all_versions: int  # every version: what counts against the 75 GB
    version_count: int
    last_modified: str | None
    revision: str | None
    vpc: bool
    dlq_arn: str | None
    on_failure_arn: str | None = None
    reserved_concurrency: int | None = None   # None = no reserved concurrency
    tags: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    detail_at: float | None = None            # when per-function calls last succeeded


@dataclass
class ProvisionedConfig:
    function: str
    qualifier: str
    requested: int
    allocated: int
    available: int
    status: str


@dataclass
class AccountInfo:
    concurrency_limit: int | None
    unreserved_limit: int | None
    code_storage_limit: int | None
    code_storage_used: int | None
    function_count: int | None
    quota_concurrency: float | None = None   # Service Quotas' applied value, where readable
    quota_code_storage_bytes: float | None = None


@dataclass
class QueueDepth:
    arn: str
    name: str
    visible: int | None
    not_visible: int | None
    delayed: int | None
    error: str | None = None   # why it is not measurable / not read


# Error codes (source "organization") of a discovered account that is not collected: suspended, closed,
# not activated, gone from the organization or left out by the filters (collectors/organization.py).
# The review shows such a target as not collected with this reason, never as ok.
ORG_NOT_COLLECTED = frozenset({"AccountSuspended", "AccountPendingClosure", "AccountClosed", "AccountPendingActivation",
                               "AccountNotActive", "AccountLeftOrganization", "AccountExcluded"})


@dataclass
class CollectError:
    source: str     # inventory, tags, details, account, quotas, metrics, sqs, session
    api: str        # e.g. lambda:ListFunctions
    code: str       # AWS error code, or the exception class
    message: str


@dataclass
class Point:
    metric: str     # catalogue key
    dim: str        # function or queue name; "" for account metrics
    resource: str   # alias/version qualifier for alias metrics, else ""
    ts: int         # bucket start, epoch seconds
    value: float
    period: int = 60


CoverageScope = Literal["account", "function", "alias", "queue"]


@dataclass(frozen=True)
class Covered:
    """[start, end) was asked of CloudWatch for every series of one subject, and answered in full.

    A subject is what one query plan covers as a unit: the account's own series ("account", ""),
    one function's series ("function", name), its provisioned aliases' series ("alias", name) or a
    queue's ("queue", name). Inside a covered range a missing point is a real zero; outside, unknown.
    """
    scope: CoverageScope
    dim: str
    start: int
    end: int


def cover_everything(r: "TargetResult", start: int, end: int) -> list[Covered]:
    """Coverage of [start, end) for every subject a result holds (seeds and benchmarks; the
    collector records coverage subject by subject, as CloudWatch answers)."""
    out = [Covered("account", "", start, end)]
    out += [Covered("function", f.name, start, end) for f in r.functions or []]
    out += [Covered("alias", f, start, end) for f in sorted({p.function for p in r.provisioned or []})]
    out += [Covered("queue", q.name, start, end) for q in r.queues or [] if q.visible is not None]
    return out


@dataclass
class TargetResult:
    target: str
    region: str
    account: str | None
    started_at: float
    finished_at: float = 0.0
    account_info: AccountInfo | None = None
    functions: list[FunctionInfo] | None = None     # None: inventory failed, keep what is stored
    provisioned: list[ProvisionedConfig] | None = None
    queues: list[QueueDepth] | None = None
    points: list[Point] = field(default_factory=list)
    coverage: list[Covered] = field(default_factory=list)  # per subject: metric windows fully read
    deadline_hit: bool = False   # the cycle's deadline cut this target short
    errors: list[CollectError] = field(default_factory=list)
    api_calls: int = 0
    metric_queries: int = 0   # metrics requested from GetMetricData (what CloudWatch bills)
    points_written: int = 0   # points already streamed to the store during the cycle (not in `points`)
    metrics_by_tier: dict[str, int] = field(default_factory=dict)   # account | function | queue -> metrics
    discovery_calls: int = 0  # ListMetrics requests (billed per request)
    function_read_at: float | None = None   # when the per-function series were last read (activity strategy)
    series: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors
