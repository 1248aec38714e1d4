"""What the collection costs in CloudWatch, from what the collector recorded asking (over store data).

GetMetricData is billed per metric requested ($0.01 per 1,000, outside the free tier), whatever the
window's length; ListMetrics per request ($0.01 per 1,000). Each cycle records its metrics by tier
(account, function, queue) and its ListMetrics requests. The forecast takes the latest cycle's
account tier once per interval and the latest function read's function, queue and discovery tiers
once per function interval, over a 30-day month; what was really asked over the last day is shown
beside it once there is an hour of it.
"""
from __future__ import annotations

from dataclasses import dataclass

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

    def per_cycle(cycle_id: int) -> dict[str, int]:
        return {k: int(sum(r[COLUMNS[k]] or 0 for r in rows if r["cycle_id"] == cycle_id)) for k in KEYS}

    last = per_cycle(max(r["cycle_id"] for r in rows))
    fn_cycles = [r["cycle_id"] for r in rows if (r["metrics_function"] or 0) + (r["discovery_calls"] or 0) > 0]
    fn = per_cycle(max(fn_cycles)) if fn_cycles else {k: 0 for k in KEYS}
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
