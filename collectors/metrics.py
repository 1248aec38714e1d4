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


def fetch(cloudwatch: Any, queries: list[Query], start: int, end: int, period: int,
          ) -> tuple[list[Point], list[CollectError], bool]:
    """Read [start, end) at `period` in batches of 500, following NextToken.

    Returns (points, errors, complete). Zeros are not stored: inside a covered window an absent
    point means idle. `complete` is False if any batch failed or stayed partial, so the caller
    does not mark the window as covered (it is re-read next cycle).
    """
    start, end = align(start, period), align(end, period)
    points: list[Point] = []
    errors: list[CollectError] = []
    complete = True
    if end <= start:
        return points, errors, True
    for b in range(0, len(queries), MAX_QUERIES):
        batch = queries[b:b + MAX_QUERIES]
        status: dict[str, str] = {}
        try:
            for r in _pages(cloudwatch, request(batch, period), start, end):
                q = batch[int(r["Id"][1:])]
                status[r["Id"]] = r.get("StatusCode", "Complete")  # the last page's word counts
                for ts, v in zip(r.get("Timestamps", []), r.get("Values", [])):
                    if v:
                        points.append(Point(q.metric.key, q.dim, q.resource, align(ts.timestamp(), period), v, period))
        except AWS_ERRORS as e:
            complete = False
            errors.append(to_error(e, "metrics", "cloudwatch:GetMetricData"))
            continue
        bad = sorted({s for s in status.values() if s != "Complete"})
        if bad:
            complete = False
            errors.append(CollectError("metrics", "cloudwatch:GetMetricData", bad[0],
                                       f"{sum(s != 'Complete' for s in status.values())} series came back {bad[0]}"))
    return points, errors, complete


def _pages(cloudwatch: Any, queries: list[dict[str, Any]], start: int, end: int) -> Iterator[dict[str, Any]]:
    pages = cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    for page in pages:
        yield from page["MetricDataResults"]
