"""What the collection costs in CloudWatch, from what the collector recorded asking (over store data).

GetMetricData is billed per metric requested ($0.01 per 1,000, outside the free tier), whatever the
window's length; ListMetrics per request ($0.01 per 1,000). Each cycle records its metrics by tier
(account, function, queue) and its ListMetrics requests. The forecast takes the latest cycle's
account tier once per interval and the latest function read's function, queue and discovery tiers
once per function interval (each target's latest: several collectors write cycles of their own targets), over a 30-day month; what was really asked over the last day is shown
beside it once there is an hour of it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collectors.config import Collection
from collectors.store import Store

PRICE_PER_1000_METRICS = 0.01    # GetMetricData
PRICE_PER_1000_REQUESTS = 0.01   # ListMetrics
TIERS = ("account", "function", "queue")
KEYS = (*TIERS, "discovery")
COLUMNS = {"account": "metrics_account", "function": "metrics_function", "queue": "metrics_queue",
           "discovery": "discovery_calls"}
DAY = 86400
MONTH = 30 * DAY


@dataclass
class Cost:
    last_cycle: dict[str, int]           # tier -> metrics requested in the latest cycle; "discovery": ListMetrics calls
    per_day: dict[str, float]            # the same per day at the current settings (forecast)
    monthly_usd: float                   # forecast, 30 days
    functions: int                       # functions stored, over every target
    per_function_month_usd: float | None
    measured_per_day: dict[str, float] | None   # what was really asked over the last day (an hour at least)
    measured_hours: float


def usd(metrics: float, discovery_calls: float) -> float:
    return metrics / 1000 * PRICE_PER_1000_METRICS + discovery_calls / 1000 * PRICE_PER_1000_REQUESTS


def cost(store: Store, now: float, c: Collection) -> Cost | None:
    """The bill at the current settings; None before the first cycle."""
    rows = store.cost_runs(now - DAY)
    if not rows:
        return None

    # Each (target, region)'s latest run, not the latest cycle's: several collectors on one store each
    # write cycles of their own targets, and one of them is a share of the bill, not the bill.
    def latest(pick: Callable[[Any], bool] = lambda r: True) -> dict[str, int]:
        runs: dict[tuple[str, str], Any] = {}
        for r in rows:
            key = (r["target"], r["region"])
            if pick(r) and (key not in runs or r["cycle_id"] > runs[key]["cycle_id"]):
                runs[key] = r
        return {k: int(sum(r[COLUMNS[k]] or 0 for r in runs.values())) for k in KEYS}

    last = latest()
    fn = latest(lambda r: (r["metrics_function"] or 0) + (r["discovery_calls"] or 0) > 0)
    cycles_per_day = DAY / c.interval_seconds
    fn_reads_per_day = DAY / (c.function_interval_seconds if c.metrics_strategy == "activity" else c.interval_seconds)
    per_day = {"account": last["account"] * cycles_per_day,
               **{k: fn[k] * fn_reads_per_day for k in ("function", "queue", "discovery")}}
    monthly = usd(sum(per_day[t] for t in TIERS), per_day["discovery"]) * MONTH / DAY
    span = now - min(r["started_at"] for r in rows)
    measured = None
    if span >= 3600:
        measured = {k: sum(r[COLUMNS[k]] or 0 for r in rows) * DAY / span for k in KEYS}
    functions = store.function_count()
    return Cost(last_cycle=last, per_day=per_day, monthly_usd=monthly, functions=functions,
                per_function_month_usd=monthly / functions if functions else None,
                measured_per_day=measured, measured_hours=span / 3600)
