"""Time series and weekly trends from the store (pure over store data), with gaps kept as gaps.

A bucket inside a collected range with no datapoint is a real zero (the function was idle); a
bucket outside every collected range is unknown and comes back as None, to be drawn as a gap.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from collectors.catalogue import BY_KEY
from collectors.store import CE, Store

WEEK = 7 * 86400


def last_weeks(now: float, weeks: int) -> tuple[int, int, Callable[[float], int]]:
    """The last `weeks` runs of 7 days, the last one ending with the hour that holds `now`: (start, end,
    the start of the run holding a time). Each is a whole 7 days, so the latest weekly peak is the last
    7 days' peak at any time. (A calendar week that began minutes ago would show a peak of minutes,
    read as a fall in the trend on every Monday morning's limit review.)"""
    end = int(now) // 3600 * 3600 + 3600
    return end - weeks * WEEK, end, lambda ts: end - WEEK - (end - 1 - int(ts)) // WEEK * WEEK


def timeseries(store: Store, account: str, region: str, metric: str, start: int, end: int, step: int,
               dims: Sequence[str] | None = None, resource: str | None = None,
               bucket_start=None, group: tuple[str, str] | None = None,
               summaries: bool = True) -> list[tuple[int, float | None]]:
    """Buckets of `step` seconds over [start, end): the metric summed across matching series per
    timestamp (a group's concurrency is the sum of its functions'), then rolled up per the catalogue
    (max for levels, sum for counts). None where the bucket was not collected.

    `group` (stored kind, name), for ConcurrentExecutions over every current member of that group (`dims`):
    the per-minute sums come from the group's summaries (Store.group_points), not from each member's points.
    Buckets of whole hours (a step of whole hours from an hour) read the series-hours' summaries for a count
    (sums add up) or for a level of one series (its hours' peaks), and points only in a partial last hour;
    `summaries=False` reads every point (the reference the summaries are tested against).
    """
    m = BY_KEY[metric]
    align = bucket_start or (lambda ts: int(ts) // step * step)
    if dims is not None and not dims:
        return _fill({}, [], start, end, step, align)
    subjects: Sequence[str] = ("",)
    if m.scope != "account":
        subjects = list(dims) if dims is not None else store.function_names(account, region)
    ranges = store.coverage(account, region, start, end, m.scope, subjects)
    rows: list[tuple[int, float]] | None = None
    if group is not None and metric == CE and resource is None:
        rows = store.group_points(account, region, *group, start, end)
    elif summaries and step % 3600 == 0 and start % 3600 == 0:
        rows = _hour_rows(store, account, region, metric, start, end, dims, resource)
    if rows is None:
        rows = store.summed_points(account, region, metric, start, end, dims, resource)
    buckets: dict[int, float] = {}
    for ts, v in rows:
        b = align(ts)
        buckets[b] = buckets.get(b, 0.0) + v if m.rollup == "sum" else max(buckets.get(b, v), v)
    return _fill(buckets, ranges, start, end, step, align)


def _hour_rows(store: Store, account: str, region: str, metric: str, start: int, end: int,
               dims: Sequence[str] | None, resource: str | None) -> list[tuple[int, float]] | None:
    """(ts, value) rows that roll up to the same whole-hour buckets as the points: one per hour (its sum over
    the series for a count, its peak for a level of one series), then the points of a partial last hour.
    None for a level summed over several series (the peak of a sum is not a sum of peaks)."""
    h1 = max(start, end // 3600 * 3600)
    n, hours = store.summed_hours(account, region, metric, start, h1, dims, resource)
    how = BY_KEY[metric].rollup
    if how != "sum" and n > 1:
        return None
    rows = [(h, total if how == "sum" else peak) for h, total, peak in hours]
    return rows + store.summed_points(account, region, metric, h1, end, dims, resource) if h1 < end else rows


def _fill(buckets: dict[int, float], ranges: list[tuple[int, int]], start: int, end: int, step: int,
          align) -> list[tuple[int, float | None]]:
    """Each bucket's value; 0.0 where the bucket was collected (for every series asked) and had no
    point; None where it was not collected."""
    out: list[tuple[int, float | None]] = []
    b = align(start)
    while b < end:
        nxt = b + step
        if b in buckets:
            out.append((b, buckets[b]))
        else:
            covered = any(s < nxt and e > b for s, e in ranges)
            out.append((b, 0.0 if covered else None))
        b = nxt
    return out


def weekly_peaks(store: Store, account: str, region: str, metric: str, weeks: int, now: float,
                 dims: Sequence[str] | None = None) -> list[tuple[int, float | None]]:
    """Peak (or total, for counts) of each of the last `weeks` runs of 7 days (last_weeks): whole hours,
    read from the hours' summaries where timeseries can."""
    start, end, align = last_weeks(now, weeks)
    return timeseries(store, account, region, metric, start, end, WEEK, dims=dims, bucket_start=align)


MIN_TREND_WEEKS = 3   # two points make a line, not a trend


def weeks_until(points: list[tuple[int, float | None]], limit: float | None) -> tuple[float | None, float | None]:
    """(slope per week, weeks until `limit` at that rate) by least squares over known weekly peaks, counted
    from the last week of `points` (this week), known or not: weeks the collector missed are not left out.

    Both None with fewer than MIN_TREND_WEEKS known weeks or no limit; weeks None when the trend
    is flat or falling.
    """
    known = [(i, v) for i, (_, v) in enumerate(points) if v is not None]
    if len(known) < MIN_TREND_WEEKS or not limit:
        return None, None
    n = len(known)
    mx, my = sum(i for i, _ in known) / n, sum(v for _, v in known) / n
    var = sum((i - mx) ** 2 for i, _ in known)
    slope = sum((i - mx) * (v - my) for i, v in known) / var
    if slope <= 0:
        return slope, None
    last = my + slope * (len(points) - 1 - mx)  # the trend's value now (this week, known or not)
    return slope, max(0.0, (limit - last) / slope)
