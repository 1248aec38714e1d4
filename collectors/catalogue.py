"""The metric catalogue: API facts as data.

One table drives query building (namespace, dimension, statistic), storage (series keys), rollup
(max for levels, sum for counts) and chart labels. Nothing else in the code names a metric's
statistic: change it here and everything follows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["account", "function", "alias", "queue"]
Rollup = Literal["max", "sum"]


@dataclass(frozen=True)
class Metric:
    key: str            # stable id used in the store, e.g. "Throttles"
    namespace: str
    name: str           # CloudWatch MetricName
    scope: Scope        # which dimensions: none, FunctionName, FunctionName+Resource, QueueName
    stat: str           # CloudWatch statistic to request
    rollup: Rollup      # how 1-minute values combine into coarser buckets and peaks
    unit: str           # for labels
    label: str
    meaning: str
    # Emitted only when the function has this configured: not asked for otherwise (cost).
    requires: Literal["dlq", "destination"] | None = None
    # An account-level aggregate: the function metric whose per-minute sum over the functions it
    # must not exceed (if it does, a function's series was not asked: re-list and read it).
    reconciles: str | None = None


L = "AWS/Lambda"
CATALOGUE: tuple[Metric, ...] = (
    # Account level (no dimensions): the numbers that decide throttling across the account.
    Metric("AccountConcurrentExecutions", L, "ConcurrentExecutions", "account", "Maximum", "max",
           "count", "Concurrent executions (account)", "environments busy at once across the account"),
    Metric("ClaimedAccountConcurrency", L, "ClaimedAccountConcurrency", "account", "Maximum", "max",
           "count", "Claimed concurrency", "unreserved in use + reserved + provisioned: unavailable to new work"),
    Metric("UnreservedConcurrentExecutions", L, "UnreservedConcurrentExecutions", "account", "Maximum",
           "max", "count", "Unreserved concurrency in use", "concurrency used by functions without reserved concurrency"),
    # Account-level aggregates Lambda publishes without dimensions ("across all functions"): read every
    # cycle, cheaply, to catch a function that woke up since the last listing. (Counts only: a
    # function that woke up invokes; a level such as concurrency adds nothing to catch it.)
    Metric("AccountInvocations", L, "Invocations", "account", "Sum", "sum", "count", "Invocations (account)",
           "invocations across the account", reconciles="Invocations"),
    Metric("AccountErrors", L, "Errors", "account", "Sum", "sum", "count", "Errors (account)",
           "errors across the account", reconciles="Errors"),
    Metric("AccountThrottles", L, "Throttles", "account", "Sum", "sum", "count", "Throttles (account)",
           "throttled invocation requests across the account", reconciles="Throttles"),
    # Per function.
    Metric("Invocations", L, "Invocations", "function", "Sum", "sum", "count", "Invocations", "invocations"),
    Metric("Errors", L, "Errors", "function", "Sum", "sum", "count", "Errors", "invocations that errored"),
    Metric("Throttles", L, "Throttles", "function", "Sum", "sum", "count", "Throttles",
           "rejected invocations (counted in neither Invocations nor Errors)"),
    Metric("ConcurrentExecutions", L, "ConcurrentExecutions", "function", "Maximum", "max", "count",
           "Concurrent executions", "environments busy at once"),
    Metric("DurationMax", L, "Duration", "function", "Maximum", "max", "ms", "Duration (max)", "slowest invocation"),
    Metric("DurationAvg", L, "Duration", "function", "Average", "max", "ms", "Duration (avg)",
           "mean invocation time; coarser buckets keep the worst minute"),
    Metric("AsyncEventsReceived", L, "AsyncEventsReceived", "function", "Sum", "sum", "count",
           "Async events received", "events queued for async invocation"),
    Metric("AsyncEventAge", L, "AsyncEventAge", "function", "Maximum", "max", "ms", "Async event age (max)",
           "time from queueing to invocation; rising = backlog"),
    Metric("AsyncEventsDropped", L, "AsyncEventsDropped", "function", "Sum", "sum", "count",
           "Async events dropped", "events dropped (even if first sent to a DLQ or destination)"),
    Metric("DeadLetterErrors", L, "DeadLetterErrors", "function", "Sum", "sum", "count", "Dead-letter errors",
           "Lambda failed to write to the DLQ: events lost", requires="dlq"),
    Metric("DestinationDeliveryFailures", L, "DestinationDeliveryFailures", "function", "Sum", "sum", "count",
           "Destination delivery failures", "Lambda failed to deliver to a destination", requires="destination"),
    Metric("RecursiveInvocationsDropped", L, "RecursiveInvocationsDropped", "function", "Sum", "sum", "count",
           "Recursive invocations dropped", "recursion loop stopped"),
    # Per alias/version with provisioned concurrency (FunctionName + Resource).
    Metric("ProvisionedConcurrentExecutions", L, "ProvisionedConcurrentExecutions", "alias", "Maximum", "max",
           "count", "Provisioned executions", "provisioned environments busy"),
    Metric("ProvisionedConcurrencyUtilization", L, "ProvisionedConcurrencyUtilization", "alias", "Maximum",
           "max", "ratio", "Provisioned utilization", "fraction of provisioned concurrency in use (0-1)"),
    Metric("ProvisionedConcurrencySpilloverInvocations", L, "ProvisionedConcurrencySpilloverInvocations",
           "alias", "Sum", "sum", "count", "Provisioned spillover", "> 0: provisioned concurrency too small"),
    # Dead-letter queues (SQS only: other targets are not measurable).
    Metric("DLQVisible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "queue", "Maximum", "max", "count",
           "DLQ messages visible", "messages waiting in the queue"),
    Metric("DLQOldestAge", "AWS/SQS", "ApproximateAgeOfOldestMessage", "queue", "Maximum", "max", "s",
           "DLQ oldest message age", "age of the oldest message"),
)

BY_KEY: dict[str, Metric] = {m.key: m for m in CATALOGUE}


# ListMetrics answers (namespace, metric name, dimension names): the catalogue keys each one stands for
# (Duration is read with two statistics).
DIMENSIONS: dict[Scope, tuple[str, ...]] = {"account": (), "function": ("FunctionName",),
                                            "alias": ("FunctionName", "Resource"), "queue": ("QueueName",)}
BY_LISTED: dict[tuple[str, str, Scope], tuple[str, ...]] = {}
for _m in CATALOGUE:
    BY_LISTED[(_m.namespace, _m.name, _m.scope)] = BY_LISTED.get((_m.namespace, _m.name, _m.scope), ()) + (_m.key,)


def metrics_for(scope: Scope) -> tuple[Metric, ...]:
    """The catalogue's metrics of one scope, in catalogue order."""
    return tuple(m for m in CATALOGUE if m.scope == scope)
