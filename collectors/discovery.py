"""Which series CloudWatch holds data for: ListMetrics, paged (I/O), read into catalogue keys (pure).

ListMetrics is billed per request, not per metric: one listing of a region's AWS/Lambda and AWS/SQS
series costs a few requests, and every series it does not name is one GetMetricData metric not paid
for. With RecentlyActive=PT3H it names the series with a datapoint in about the last 3 hours (a new
series can take up to 15 minutes to appear: the collector re-reads a lag's worth of minutes and
reconciles against the account's aggregates); without it, those with data in the last two weeks.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .catalogue import BY_LISTED, DIMENSIONS, Scope

NAMESPACES = ("AWS/Lambda", "AWS/SQS")
RECENT_S = 3 * 3600           # what RecentlyActive=PT3H covers
LISTING_LAG_S = 15 * 60       # a brand-new series can take this long to be listed
FULL_S = 14 * 86400           # what a listing without RecentlyActive covers


@dataclass
class Listing:
    """Catalogue series with data: (scope, dim) -> {(metric key, resource)}."""
    series: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    calls: int = 0            # ListMetrics requests made (the discovery bill)

    def of(self, scope: str, dim: str) -> set[tuple[str, str]]:
        return self.series.get((scope, dim), set())

    def add(self, metrics: Iterable[dict[str, Any]]) -> None:
        for m in metrics:
            for scope, dim, resource, keys in _keys(m):
                self.series.setdefault((scope, dim), set()).update((k, resource) for k in keys)


def _keys(m: dict[str, Any]) -> list[tuple[Scope, str, str, tuple[str, ...]]]:
    """The catalogue series a ListMetrics entry stands for: [(scope, dim, resource, keys)]."""
    dims = {d["Name"]: d["Value"] for d in m.get("Dimensions") or []}
    for scope, names in DIMENSIONS.items():
        if set(dims) != set(names):
            continue
        keys = BY_LISTED.get((m["Namespace"], m["MetricName"], scope))
        if not keys:
            return []
        if scope == "alias":   # Resource is "function:qualifier"
            fn, _, qualifier = dims["Resource"].rpartition(":")
            if fn != dims["FunctionName"]:
                return []
            return [(scope, dims["FunctionName"], qualifier, keys)]
        dim = "" if scope == "account" else dims[names[0]]
        return [(scope, dim, "", keys)]
    return []


def list_series(cloudwatch: Any, recently_active: bool = True) -> Listing:
    """Every AWS/Lambda and AWS/SQS series with data (recently: about 3 hours; else two weeks)."""
    out = Listing()
    extra = {"RecentlyActive": "PT3H"} if recently_active else {}
    for ns in NAMESPACES:
        for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace=ns, **extra):
            out.calls += 1
            out.add(page.get("Metrics", []))
    return out
