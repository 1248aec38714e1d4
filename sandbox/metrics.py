"""The sandbox's own CloudWatch metric store and its GetMetricData / PutMetricData / ListMetrics /
GetMetricStatistics handlers.

moto's CloudWatch scans every stored point of every metric for every query and period, ignores the
namespace when dimensions are given, starts buckets at StartTime and has no paging. This store keeps
one series per (account, region, namespace, metric, dimensions), each a set of parallel arrays sorted
by timestamp holding CloudWatch statistic sets (sum, count, min, max) per second. A query binary-
searches its window and reduces it bucket by bucket, with buckets on epoch multiples of the period.

Statistics: Sum, Maximum, Minimum, Average, SampleCount; percentiles pNN (e.g. p99, p99.9) are
computed exactly, as CloudWatch does, only where the raw values are known (every stored set in the
bucket has SampleCount 1 or Minimum == Maximum); other buckets get no datapoint. Other extended
statistics (tm99, IQM, ...), metric math and SEARCH expressions answer a ValidationError.
Units are not stored and the Unit filter is ignored.

ListMetrics lists a series only while it has a datapoint recent enough, judged against the
store's clock (`MetricStore.clock`, `time.time` unless set_clock() pinned it): within the last
two weeks by default, within the last 3 hours with `RecentlyActive="PT3H"` (AWS: "about" 3 hours;
modelled exactly). A series' newest timestamp is its last array element, so the test costs O(1)
per series. `listing_delay` (seconds, default 0) can hold back series whose first datapoint is
younger than that (its oldest stored point: pruning only drops points far older), like AWS's
"a new metric can take up to 15 minutes to be listed".
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from array import array
from bisect import bisect_left, insort
from collections import OrderedDict
from datetime import datetime
from typing import Any, Callable, Iterable

from .protocol import Reply, RequestInfo, SandboxError, json_reply

MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
LIST_PAGE = 500
LIST_WINDOW = 14 * 86400  # ListMetrics without RecentlyActive: data in the past two weeks
RECENTLY_ACTIVE = {"PT3H": 3 * 3600}
BASIC_STATS = ("Sum", "Maximum", "Minimum", "Average", "SampleCount")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")

DimKey = tuple[tuple[str, str], ...]


def to_epoch(value: int | float | datetime) -> int:
    """Epoch seconds (floored) from a number or an aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime or epoch seconds")
        return int(math.floor(value.timestamp()))
    return int(math.floor(value))


class Series:
    """One metric's statistic sets, sorted by timestamp (epoch seconds)."""

    __slots__ = ("ts", "sums", "counts", "mins", "maxs")

    def __init__(self) -> None:
        self.ts = array("q")
        self.sums = array("d")
        self.counts = array("d")
        self.mins = array("d")
        self.maxs = array("d")

    def add(self, t: int, s: float, c: float, mn: float, mx: float) -> None:
        """Merge one statistic set at second t (same second aggregates like CloudWatch)."""
        ts = self.ts
        n = len(ts)
        if n == 0 or t > ts[-1]:
            ts.append(t)
            self.sums.append(s)
            self.counts.append(c)
            self.mins.append(mn)
            self.maxs.append(mx)
            return
        i = bisect_left(ts, t)
        if i < n and ts[i] == t:
            self.sums[i] += s
            self.counts[i] += c
            if mn < self.mins[i]:
                self.mins[i] = mn
            if mx > self.maxs[i]:
                self.maxs[i] = mx
            return
        ts.insert(i, t)
        self.sums.insert(i, s)
        self.counts.insert(i, c)
        self.mins.insert(i, mn)
        self.maxs.insert(i, mx)

    def extend(self, ts: Iterable[int], sums: Iterable[float], counts: Iterable[float],
               mins: Iterable[float], maxs: Iterable[float]) -> None:
        """Bulk-add sorted statistic sets; appends in one go when they all come after the last."""
        ts = list(ts)
        if not ts:
            return
        if len(ts) == len(set(ts)) and ts == sorted(ts) and (not len(self.ts) or ts[0] > self.ts[-1]):
            self.ts.extend(ts)
            self.sums.extend(sums)
            self.counts.extend(counts)
            self.mins.extend(mins)
            self.maxs.extend(maxs)
            return
        for row in zip(ts, sums, counts, mins, maxs):
            self.add(*row)

    def compact(self, before: int, resolution: int) -> int:
        """Merge the points older than `before` into one statistic set per `resolution` bucket
        (exact for Sum, SampleCount, Minimum, Maximum and Average); returns points saved."""
        end = bisect_left(self.ts, before - before % resolution)
        if end < 2:
            return 0
        merged: dict[int, list[float]] = {}
        for k in range(end):
            b = self.ts[k] - self.ts[k] % resolution
            cur = merged.get(b)
            if cur is None:
                merged[b] = [self.sums[k], self.counts[k], self.mins[k], self.maxs[k]]
            else:
                cur[0] += self.sums[k]
                cur[1] += self.counts[k]
                cur[2] = min(cur[2], self.mins[k])
                cur[3] = max(cur[3], self.maxs[k])
        if len(merged) == end:
            return 0
        keys = sorted(merged)
        self.ts[:end] = array("q", keys)
        for n, arr in enumerate((self.sums, self.counts, self.mins, self.maxs)):
            arr[:end] = array("d", [merged[b][n] for b in keys])
        return end - len(keys)

    def drop_before(self, t: int) -> int:
        """Remove points older than t; returns how many went."""
        i = bisect_left(self.ts, t)
        if i:
            for arr in (self.ts, self.sums, self.counts, self.mins, self.maxs):
                del arr[:i]
        return i

    def buckets(self, start: int, end: int, period: int) -> Iterable[tuple[int, int, int]]:
        """(bucket_start, i, j) for each non-empty bucket; points i..j-1 fall in it.

        Buckets sit on epoch multiples of `period`; the first one is the bucket holding `start`,
        taken whole, so a bucket's value never depends on where the caller started its window.
        """
        ts = self.ts
        lo = bisect_left(ts, start - start % period)
        hi = bisect_left(ts, end)
        i = lo
        while i < hi:
            b = ts[i] - ts[i] % period
            j = bisect_left(ts, b + period, i, hi)
            yield b, i, j
            i = j

    def reduce(self, start: int, end: int, period: int, stat: str) -> tuple[list[int], list[float]]:
        """Timestamps and values (ascending) of `stat` per bucket."""
        out_t: list[int] = []
        out_v: list[float] = []
        sums, counts, mins, maxs = self.sums, self.counts, self.mins, self.maxs
        pct = percentile_of(stat)
        for b, i, j in self.buckets(start, end, period):
            if stat == "Sum":
                v = math.fsum(sums[i:j]) if j - i > 1 else sums[i]
            elif stat == "Maximum":
                v = max(maxs[i:j])
            elif stat == "Minimum":
                v = min(mins[i:j])
            elif stat == "SampleCount":
                v = sum(counts[i:j])
            elif stat == "Average":
                c = sum(counts[i:j])
                v = math.fsum(sums[i:j]) / c if c else 0.0
            else:
                pv = self._percentile(i, j, pct)
                if pv is None:
                    continue
                v = pv
            out_t.append(b)
            out_v.append(v)
        return out_t, out_v

    def _percentile(self, i: int, j: int, pct: float | None) -> float | None:
        # Exact nearest-rank percentile over the raw values; unknown when a set hides them.
        pairs = []
        for k in range(i, j):
            if self.counts[k] != 1 and self.mins[k] != self.maxs[k]:
                return None
            pairs.append((self.mins[k], self.counts[k]))
        pairs.sort()
        total = sum(w for _, w in pairs)
        rank = max(1.0, math.ceil((pct or 0) / 100.0 * total))
        seen = 0.0
        for value, weight in pairs:
            seen += weight
            if seen >= rank:
                return value
        return pairs[-1][0] if pairs else None


def percentile_of(stat: str) -> float | None:
    m = _PERCENTILE.match(stat)
    return float(stat[1:]) if m else None


def check_stat(stat: str, where: str) -> None:
    if stat in BASIC_STATS or percentile_of(stat) is not None:
        return
    raise SandboxError("ValidationError",
                       f"The value {stat} for parameter {where} is not supported by the sandbox "
                       "(Sum, Maximum, Minimum, Average, SampleCount, pNN).")


def dim_key(dimensions: dict[str, str] | Iterable[dict[str, str]] | None) -> DimKey:
    """Canonical, hashable dimensions (sorted by name)."""
    if not dimensions:
        return ()
    if isinstance(dimensions, dict):
        return tuple(sorted((str(k), str(v)) for k, v in dimensions.items()))
    return tuple(sorted((d["Name"], d["Value"]) for d in dimensions))


SeriesKey = tuple[str, str, DimKey]


class MetricStore:
    """All series of all accounts and regions, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # (account, region) -> (namespace, metric, dims) -> Series
        self._series: dict[tuple[str, str], dict[SeriesKey, Series]] = {}
        self._pages: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # token -> (IncludeLinkedAccounts, the rest of the listing as (owning account, series key))
        self._list_pages: OrderedDict[str, tuple[bool, list[tuple[str, SeriesKey]]]] = OrderedDict()
        # (account, region) -> its series keys, sorted (None: rebuild on the next ListMetrics)
        self._sorted: dict[tuple[str, str], list[SeriesKey] | None] = {}
        self.clock: Callable[[], float] = time.time
        self.listing_delay = 0
        # CloudWatch cross-account observability: (monitoring account, region) -> source accounts whose
        # metrics it sees (sandbox.org.Observability links them)
        self.links: dict[tuple[str, str], set[str]] = {}

    def _readable(self, info: RequestInfo, account: str, region: str, n: int) -> str:
        """The account a query may read: the caller's own, or a source account linked to it."""
        if account != info.account and account not in self.links.get((info.account, region), set()):
            raise SandboxError("AccessDenied", f"MetricDataQueries.member.{n}.AccountId {account} is not a "
                                               f"source account linked to {info.account} in {region}", 403)
        return account

    def set_clock(self, clock: Callable[[], float] | float | None) -> None:
        """What "now" is for ListMetrics' activity windows and PutMetricData's default Timestamp:
        a callable returning epoch seconds, a fixed epoch, or None for time.time."""
        if clock is None:
            self.clock = time.time
        elif callable(clock):
            self.clock = clock
        else:
            fixed = float(clock)
            self.clock = lambda: fixed

    def clear(self) -> None:
        """Forget every series and pagination; the clock and listing delay go back to defaults."""
        with self._lock:
            self._series.clear()
            self._pages.clear()
            self._list_pages.clear()
            self._sorted.clear()
            self.clock = time.time
            self.listing_delay = 0
            self.links.clear()

    def series(self, account: str, region: str, namespace: str, metric: str,
               dims: DimKey, create: bool = False) -> Series | None:
        cell = (account, region)
        region_map = self._series.get(cell)
        if region_map is None:
            if not create:
                return None
            region_map = self._series.setdefault(cell, {})
        key = (namespace, metric, dims)
        found = region_map.get(key)
        if found is None and create:
            found = region_map[key] = Series()
            keys = self._sorted.get(cell)
            if keys is not None:
                insort(keys, key)
        return found

    def put(self, account: str, region: str, namespace: str, metric: str,
            dimensions: dict[str, str] | None, points: Iterable[tuple[Any, float]]) -> None:
        """Add raw values (each one sample) at the given times."""
        with self._lock:
            s = self.series(account, region, namespace, metric, dim_key(dimensions), create=True)
            assert s is not None
            for t, v in points:
                v = float(v)
                s.add(to_epoch(t), v, 1.0, v, v)

    def put_sets(self, account: str, region: str, namespace: str, metric: str,
                 dimensions: dict[str, str] | DimKey | None,
                 sets: Iterable[tuple[Any, float, float, float, float]]) -> None:
        """Add statistic sets (t, sum, count, min, max)."""
        dims = dimensions if isinstance(dimensions, tuple) else dim_key(dimensions)
        with self._lock:
            s = self.series(account, region, namespace, metric, dims, create=True)
            assert s is not None
            for t, sm, c, mn, mx in sets:
                s.add(to_epoch(t), float(sm), float(c), float(mn), float(mx))

    def load(self, account: str, region: str, namespace: str, metric: str,
             dimensions: dict[str, str] | None, ts: Iterable[int], sums: Iterable[float],
             counts: Iterable[float], mins: Iterable[float], maxs: Iterable[float]) -> None:
        """Bulk-load sorted statistic sets as parallel sequences (fast path for seeding)."""
        with self._lock:
            s = self.series(account, region, namespace, metric, dim_key(dimensions), create=True)
            assert s is not None
            s.extend(ts, sums, counts, mins, maxs)

    def load_many(self, account: str, region: str,
                  batches: Iterable[tuple[str, str, DimKey, Any, Any, Any, Any, Any]]) -> int:
        """Bulk-load many series of one account+region under one lock: each batch is
        (namespace, metric, dim_key(...), ts, sums, counts, mins, maxs), sorted by time.
        Returns the points given."""
        n = 0
        with self._lock:
            for ns, metric, dims, ts, sums, counts, mins, maxs in batches:
                s = self.series(account, region, ns, metric, dims, create=True)
                assert s is not None
                s.extend(ts, sums, counts, mins, maxs)
                n += len(ts)
        return n

    def prune(self, older_than: int | float) -> int:
        """Drop points older than the epoch second given; empty series go too."""
        cut = int(older_than)
        dropped = 0
        with self._lock:
            for cell, region_map in self._series.items():
                emptied = []
                for key, series in region_map.items():
                    dropped += series.drop_before(cut)
                    if not len(series.ts):
                        emptied.append(key)
                for key in emptied:
                    del region_map[key]
                if emptied:
                    self._sorted[cell] = None
        return dropped

    def compact(self, before: int | float, resolution: int) -> int:
        """Roll points older than `before` up to `resolution`-second buckets in every series."""
        saved = 0
        with self._lock:
            for region_map in self._series.values():
                for series in region_map.values():
                    saved += series.compact(int(before), resolution)
        return saved

    def point_count(self) -> int:
        with self._lock:
            return sum(len(s.ts) for m in self._series.values() for s in m.values())

    # ---- CloudWatch API -------------------------------------------------------------------

    def put_metric_data(self, info: RequestInfo) -> Reply:
        body = info.json()
        namespace = body.get("Namespace")
        if not namespace:
            raise SandboxError("MissingParameter", "The parameter Namespace is required.")
        now = self.clock()
        for datum in body.get("MetricData", []):
            t = datum.get("Timestamp", now)
            dims = dim_key(datum.get("Dimensions"))
            name = datum["MetricName"]
            if "StatisticValues" in datum:
                sv = datum["StatisticValues"]
                sets = [(t, sv["Sum"], sv["SampleCount"], sv["Minimum"], sv["Maximum"])]
            elif "Values" in datum:
                counts = datum.get("Counts") or [1.0] * len(datum["Values"])
                sets = [(t, v * c, c, v, v) for v, c in zip(datum["Values"], counts)]
            else:
                v = datum["Value"]
                sets = [(t, v, 1.0, v, v)]
            self.put_sets(info.account, info.region or "us-east-1", namespace, name, dims, sets)
        return json_reply("cloudwatch", {})

    def get_metric_data(self, info: RequestInfo) -> Reply:
        body = info.json()
        token = body.get("NextToken")
        limit = min(int(body.get("MaxDatapoints") or MAX_DATAPOINTS), MAX_DATAPOINTS)
        if token:
            with self._lock:
                state = self._pages.pop(token, None)
            if state is None:
                raise SandboxError("InvalidNextToken", "The service cannot process the token.")
        else:
            state = {"results": self._run_queries(info, body), "query": 0, "offset": 0}
        return json_reply("cloudwatch", self._page(state, limit))

    def _run_queries(self, info: RequestInfo, body: dict[str, Any]) -> list[dict[str, Any]]:
        queries = body.get("MetricDataQueries") or []
        if len(queries) > MAX_QUERIES:
            raise SandboxError("ValidationError",
                               "The collection MetricDataQueries must not contain more than "
                               f"{MAX_QUERIES} items.")
        if not queries:
            raise SandboxError("ValidationError",
                               "The parameter MetricDataQueries is required.")
        start, end = to_epoch(body["StartTime"]), to_epoch(body["EndTime"])
        if start >= end:
            raise SandboxError("ValidationError",
                               "The parameter StartTime must be less than the parameter EndTime.")
        descending = (body.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        ids = set()
        results = []
        region = info.region or "us-east-1"
        with self._lock:
            for n, q in enumerate(queries, 1):
                qid = q.get("Id")
                if not qid or qid in ids:
                    raise SandboxError("ValidationError",
                                       f"The value {qid} for parameter MetricDataQueries.member.{n}"
                                       ".Id is missing or not unique.")
                ids.add(qid)
                if "Expression" in q:
                    raise SandboxError("ValidationError",
                                       "The sandbox does not evaluate metric math or SEARCH "
                                       f"expressions (MetricDataQueries.member.{n}.Expression).")
                ms = q.get("MetricStat")
                if not ms:
                    raise SandboxError("ValidationError",
                                       f"The parameter MetricDataQueries.member.{n}.MetricStat "
                                       "is required.\n")
                period = int(ms.get("Period") or 0)
                if period < 1 or (period >= 60 and period % 60) or (
                        period < 60 and period not in (1, 5, 10, 20, 30)):
                    raise SandboxError("ValidationError",
                                       f"The parameter MetricDataQueries.member.{n}.MetricStat."
                                       "Period must be 1, 5, 10, 20, 30, or a multiple of 60.")
                stat = ms.get("Stat", "")
                check_stat(stat, f"MetricDataQueries.member.{n}.MetricStat.Stat")
                if q.get("ReturnData") is False:
                    continue
                metric = ms["Metric"]
                series = self.series(self._readable(info, q.get("AccountId") or info.account, region, n), region,
                                     metric.get("Namespace", ""), metric.get("MetricName", ""),
                                     dim_key(metric.get("Dimensions")))
                ts, vs = series.reduce(start, end, period, stat) if series else ([], [])
                if descending:
                    ts.reverse()
                    vs.reverse()
                results.append({"Id": qid, "Label": q.get("Label") or metric.get("MetricName", ""),
                                "Timestamps": ts, "Values": vs})
        return results

    def _page(self, state: dict[str, Any], limit: int) -> dict[str, Any]:
        """One response page of at most `limit` datapoints, continuing where the last ended."""
        results = state["results"]
        budget = limit
        page = []
        qi, offset = state["query"], state["offset"]
        for n, r in enumerate(results):
            total = len(r["Timestamps"])
            if n < qi:  # already fully delivered on an earlier page
                page.append({"Id": r["Id"], "Label": r["Label"], "Timestamps": [], "Values": [],
                             "StatusCode": "Complete"})
                continue
            begin = offset if n == qi else 0
            take = min(budget, total - begin)
            budget -= take
            stop = begin + take
            page.append({"Id": r["Id"], "Label": r["Label"],
                         "Timestamps": r["Timestamps"][begin:stop],
                         "Values": r["Values"][begin:stop],
                         "StatusCode": "Complete" if stop >= total else "PartialData"})
            if stop < total:
                state["query"], state["offset"] = n, stop
                for rest in results[n + 1:]:
                    page.append({"Id": rest["Id"], "Label": rest["Label"], "Timestamps": [],
                                 "Values": [], "StatusCode": "PartialData"})
                token = uuid.uuid4().hex
                with self._lock:
                    self._pages[token] = state
                    while len(self._pages) > 64:  # forget abandoned paginations
                        self._pages.popitem(last=False)
                return {"MetricDataResults": page, "NextToken": token, "Messages": []}
        return {"MetricDataResults": page, "Messages": []}

    def get_metric_statistics(self, info: RequestInfo) -> Reply:
        body = info.json()
        start, end = to_epoch(body["StartTime"]), to_epoch(body["EndTime"])
        period = int(body["Period"])
        stats = list(body.get("Statistics") or [])
        extended = list(body.get("ExtendedStatistics") or [])
        if not stats and not extended:
            raise SandboxError("InvalidParameterCombination",
                               "Must specify either Statistics or ExtendedStatistics")
        for s in stats:
            if s not in BASIC_STATS:
                raise SandboxError("InvalidParameterValue",
                                   f"The value {s} for parameter Statistics is not valid.")
        for s in extended:
            if percentile_of(s) is None:
                check_stat(s, "ExtendedStatistics")
        requested = (end - (start - start % period) + period - 1) // period
        if requested > 1440:
            raise SandboxError("InvalidParameterCombination",
                               f"You have requested up to {requested} datapoints, which exceeds "
                               "the limit of 1440. You may reduce the datapoints requested by "
                               "increasing Period, or decreasing the time range.")
        with self._lock:
            series = self.series(info.account, info.region or "us-east-1", body["Namespace"],
                                 body["MetricName"], dim_key(body.get("Dimensions")))
            points: dict[int, dict[str, Any]] = {}
            if series:
                for stat in stats + extended:
                    for t, v in zip(*series.reduce(start, end, period, stat)):
                        dp = points.setdefault(t, {"Timestamp": t, "Unit": "None"})
                        if stat in BASIC_STATS:
                            dp[stat] = v
                        else:
                            dp.setdefault("ExtendedStatistics", {})[stat] = v
        return json_reply("cloudwatch", {"Label": body["MetricName"],
                                         "Datapoints": list(points.values())})

    def list_metrics(self, info: RequestInfo) -> Reply:
        body = info.json()
        token = body.get("NextToken")
        linked = bool(body.get("IncludeLinkedAccounts"))
        keys: list[tuple[str, SeriesKey]] | None
        if token:
            with self._lock:
                page = self._list_pages.pop(token, None)
            if page is None:
                raise SandboxError("InvalidNextToken", "The service cannot process the token.")
            linked, keys = page
        else:
            region = info.region or "us-east-1"
            accounts = [info.account]
            if linked:   # a monitoring account: its own series and its linked source accounts'
                accounts += sorted(self.links.get((info.account, region), set()) - {info.account})
                if body.get("OwningAccount"):
                    accounts = [a for a in accounts if a == body["OwningAccount"]]
            keys = [(a, k) for a in accounts
                    for k in self._list_keys(a, region, body.get("Namespace"), body.get("MetricName"),
                                             body.get("Dimensions"), body.get("RecentlyActive"))]
        out: dict[str, Any] = {"Metrics": [_metric_of(k) for _, k in keys[:LIST_PAGE]]}
        if linked:   # 1:1 with Metrics
            out["OwningAccounts"] = [a for a, _ in keys[:LIST_PAGE]]
        if len(keys) > LIST_PAGE:
            # The rest is a snapshot: writes between pages never shift or repeat an item.
            token = uuid.uuid4().hex
            with self._lock:
                self._list_pages[token] = (linked, keys[LIST_PAGE:])
                while len(self._list_pages) > 64:  # forget abandoned paginations
                    self._list_pages.popitem(last=False)
            out["NextToken"] = token
        return json_reply("cloudwatch", out)

    def list_series(self, account: str, region: str, namespace: str | None = None,
                    metric_name: str | None = None,
                    dimensions: Iterable[dict[str, str]] | None = None,
                    recently_active: str | None = None,
                    now: float | None = None) -> list[dict[str, Any]]:
        """Every metric ListMetrics would list (all pages), in ListMetrics' shape.

        dimensions: [{"Name": n, "Value": v}] or [{"Name": n}] (any value); a series must have
        all of them. recently_active: None (data in the past two weeks) or "PT3H".
        now: instead of the store's clock."""
        return [_metric_of(k) for k in self._list_keys(account, region, namespace, metric_name,
                                                        dimensions, recently_active, now)]

    def _list_keys(self, account: str, region: str, namespace: str | None,
                   metric_name: str | None, dimensions: Iterable[dict[str, str]] | None,
                   recently_active: str | None, now: float | None = None) -> list[SeriesKey]:
        if recently_active is None:
            window = LIST_WINDOW
        elif recently_active in RECENTLY_ACTIVE:
            window = RECENTLY_ACTIVE[recently_active]
        else:
            raise SandboxError("InvalidParameterValue",
                               f"The value {recently_active} for parameter RecentlyActive is not "
                               f"valid. Valid values: {', '.join(RECENTLY_ACTIVE)}.")
        now = self.clock() if now is None else now
        cutoff = now - window
        newest_first = now - self.listing_delay if self.listing_delay > 0 else math.inf
        pairs = [(d["Name"], d["Value"]) for d in dimensions or [] if d.get("Value") is not None]
        names = [d["Name"] for d in dimensions or [] if d.get("Value") is None]
        cell = (account, region)
        found: list[SeriesKey] = []
        with self._lock:
            region_map = self._series.get(cell)
            if not region_map:
                return found
            keys = self._sorted.get(cell)
            if keys is None:
                keys = self._sorted[cell] = sorted(region_map)
            for key in keys:
                if (namespace and key[0] != namespace) or (metric_name and key[1] != metric_name):
                    continue
                dims = key[2]
                if pairs and not all(p in dims for p in pairs):
                    continue
                if names and not all(any(d[0] == n for d in dims) for n in names):
                    continue
                ts = region_map[key].ts
                if not ts or ts[-1] < cutoff or ts[0] > newest_first:
                    # ts[0] > newest_first: listing_delay, too new to be listed yet
                    continue
                found.append(key)
        return found


def _metric_of(key: SeriesKey) -> dict[str, Any]:
    return {"Namespace": key[0], "MetricName": key[1],
            "Dimensions": [{"Name": n, "Value": v} for n, v in key[2]]}
