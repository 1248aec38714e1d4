"""Query plans from the catalogue (pure) and GetMetricData paging (I/O)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .catalogue import CATALOGUE, Metric
from .errors import AWS_ERRORS, to_error
from .model import CollectError, Point

MAX_QUERIES = 500   # GetMetricData's limit per call


@dataclass(frozen=True)
class Query:
    metric: Metric
    dim: str        # FunctionName or QueueName; "" for account metrics
    resource: str   # alias/version for provisioned metrics

    def dimensions(self) -> list[dict[str, str]]:
        scope = self.metric.scope
        if scope == "account":
            return []
        if scope == "queue":
            return [{"Name": "QueueName", "Value": self.dim}]
        dims = [{"Name": "FunctionName", "Value": self.dim}]
        if scope == "alias":
            dims.append({"Name": "Resource", "Value": f"{self.dim}:{self.resource}"})
        return dims


def plan(functions: Iterable[str], aliases: Iterable[tuple[str, str]], queues: Iterable[str],
         with_dlq: Iterable[str] = (), with_destination: Iterable[str] = ()) -> list[Query]:
    """Every series to read for one (account, region): the catalogue crossed with what exists.

    Provisioned metrics are asked only for (function, qualifier) pairs that have provisioned
    concurrency, DeadLetterErrors only for functions with a DLQ, DestinationDeliveryFailures only
    for those with a destination, SQS metrics only for dead-letter queues: fewer queries is less money.
    """
    functions, aliases, queues = sorted(set(functions)), sorted(set(aliases)), sorted(set(queues))
    having = {"dlq": set(with_dlq), "destination": set(with_destination)}
    out: list[Query] = []
    for m in CATALOGUE:
        if m.scope == "account":
            out.append(Query(m, "", ""))
        elif m.scope == "function":
            out.extend(Query(m, f, "") for f in functions if m.requires is None or f in having[m.requires])
        elif m.scope == "alias":
            out.extend(Query(m, f, q) for f, q in aliases)
        else:
            out.extend(Query(m, q, "") for q in queues)
    return out


def align(ts: float, period: int) -> int:
    """Floor to the period: CloudWatch buckets start on period boundaries."""
    return int(ts) // period * period


def request(batch: list[Query], period: int) -> list[dict[str, Any]]:
    return [{"Id": f"q{i}", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": q.metric.namespace, "MetricName": q.metric.name, "Dimensions": q.dimensions()},
        "Period": period, "Stat": q.metric.stat}} for i, q in enumerate(batch)]


Subject = tuple[str, str]   # (coverage scope, dim): the unit coverage is recorded for


def subject(q: Query) -> Subject:
    """The coverage subject a query belongs to: ("account", ""), ("function", f), ("alias", f) or ("queue", q)."""
    return (q.metric.scope, "" if q.metric.scope == "account" else q.dim)


def pack(queries: Iterable[Query], limit: int = MAX_QUERIES) -> list[list[Query]]:
    """Batches of at most `limit` queries in which one subject's queries are never split, so a failed
    call leaves whole subjects unread (their windows unknown), never half a function."""
    by_subject: dict[Subject, list[Query]] = {}
    for q in queries:
        by_subject.setdefault(subject(q), []).append(q)
    batches: list[list[Query]] = []
    for qs in by_subject.values():
        if batches and len(batches[-1]) + len(qs) <= limit:
            batches[-1].extend(qs)
        else:
            batches.append(list(qs))
    return batches


def fetch(cloudwatch: Any, batches: list[list[Query]], start: int, end: int, period: int,
          ) -> tuple[list[Point], list[CollectError], set[Query]]:
    """Read [start, end) at `period`, one GetMetricData call per batch, following NextToken.

    Returns (points, errors, incomplete): the queries whose batch failed or came back partial.
    Zeros are not stored: inside a covered window an absent point means idle. The caller records
    coverage only for subjects none of whose queries is incomplete; the rest is re-read next cycle.
    """
    start, end = align(start, period), align(end, period)
    points: list[Point] = []
    errors: list[CollectError] = []
    incomplete: set[Query] = set()
    if end <= start:
        return points, errors, incomplete
    for batch in batches:
        status: dict[str, str] = {}
        try:
            for r in _pages(cloudwatch, request(batch, period), start, end):
                q = batch[int(r["Id"][1:])]
                status[r["Id"]] = r.get("StatusCode", "Complete")  # the last page's word counts
                for ts, v in zip(r.get("Timestamps", []), r.get("Values", [])):
                    if v:
                        points.append(Point(q.metric.key, q.dim, q.resource, align(ts.timestamp(), period), v, period))
        except AWS_ERRORS as e:
            incomplete.update(batch)
            errors.append(to_error(e, "metrics", "cloudwatch:GetMetricData"))
            continue
        bad = {i: s for i, s in status.items() if s != "Complete"}
        missing = [q for i, q in enumerate(batch) if f"q{i}" not in status]
        incomplete.update(batch[int(i[1:])] for i in bad)
        incomplete.update(missing)
        if bad:
            code = sorted(set(bad.values()))[0]
            errors.append(CollectError("metrics", "cloudwatch:GetMetricData", code,
                                       f"{len(bad)} series came back {code}"))
        if missing:
            errors.append(CollectError("metrics", "cloudwatch:GetMetricData", "MissingResults",
                                       f"{len(missing)} series were not answered"))
    return points, errors, incomplete


def _pages(cloudwatch: Any, queries: list[dict[str, Any]], start: int, end: int) -> Iterator[dict[str, Any]]:
    pages = cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    for page in pages:
        yield from page["MetricDataResults"]
