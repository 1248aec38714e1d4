"""The reliability suite's fleet: tests/collectors/seed.py's 31 functions (2 accounts x 2 regions),
its known points, and seeded traffic on most functions over the last 100 minutes, so that a lost
window shows up as a figure that drops (most figures are above 0 in the fault-free run)."""
from __future__ import annotations

import random

from tests.collectors import seed
from tests.collectors.seed import FLEET

L = "AWS/Lambda"
TRAFFIC_MINUTES = 100          # points from now-100 min to now-1 min
IDLE = {(seed.STAGING, "eu-west-1")}   # kept idle apart from its first two functions: zeros, not unknowns


def build(sb, now: int, rng_seed: int = 11) -> None:
    """Create the fleet through boto3 and write its metrics relative to `now` (minute-aligned)."""
    seed.build(sb)
    seed.put_metrics(sb, now)
    put_traffic(sb, now, random.Random(rng_seed))


def put_traffic(sb, now: int, rng: random.Random) -> None:
    m = now // 60 * 60
    for (account, region), fns in FLEET.items():
        busy = fns[:2] if (account, region) in IDLE else fns
        account_conc: dict[int, float] = {}
        for f in busy:
            dims = {"FunctionName": f.name}
            minutes = sorted(rng.sample(range(1, TRAFFIC_MINUTES + 1), 30))
            inv = [(m - a * 60, float(rng.randint(100, 20_000))) for a in minutes]
            sb.put_metric_points(account, region, L, "Invocations", dims, inv)
            sb.put_metric_points(account, region, L, "Errors", dims,
                                 [(t, float(rng.randint(1, 40))) for t, _ in inv[::3]])
            cap = f.reserved or 60
            conc = [(t, float(rng.randint(1, cap))) for t, _ in inv]
            sb.put_metric_points(account, region, L, "ConcurrentExecutions", dims, conc)
            for t, v in conc:
                account_conc[t] = account_conc.get(t, 0.0) + v
            sb.put_metric_points(account, region, L, "Duration", dims,
                                 [(t, float(rng.randint(20, 3000))) for t, _ in inv])
            if f.reserved:
                sb.put_metric_points(account, region, L, "Throttles", dims,
                                     [(t, float(rng.randint(1, 9))) for t, _ in inv[1::4]])
            if f.on_failure or f.dlq:
                sb.put_metric_points(account, region, L, "AsyncEventsReceived", dims,
                                     [(t, float(rng.randint(1, 500))) for t, _ in inv[::2]])
                sb.put_metric_points(account, region, L, "AsyncEventAge", dims,
                                     [(t, float(rng.randint(10, 90_000))) for t, _ in inv[::2]])
            if f.alias_provisioned:
                res = {"FunctionName": f.name, "Resource": f"{f.name}:live"}
                sb.put_metric_points(account, region, L, "ProvisionedConcurrentExecutions", res,
                                     [(t, float(rng.randint(1, f.alias_provisioned))) for t, _ in inv])
                sb.put_metric_points(account, region, L, "ProvisionedConcurrencySpilloverInvocations", res,
                                     [(t, float(rng.randint(100, 50_000))) for t, _ in inv[::2]])
        if account_conc:
            sb.put_metric_points(account, region, L, "ClaimedAccountConcurrency", None,
                                 [(t, v + 50) for t, v in sorted(account_conc.items())])
