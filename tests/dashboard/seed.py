"""A seeded store with known numbers for the dashboard's tests (written through Store.write_target).

Every number the page tests assert is derived from the literals here; `now` is the real clock so
the app's window ("last 24 h") sees the points, which sit well inside the last hour.

prod / 123456789012 / us-east-1, limit 1,000:
  peak concurrency 812 and peak claimed 870 (30 min ago) -> headroom 130 (13 %)
  payments-api-charge  reserved 50, peak 50, 20 min x 10 throttles (40..21 min ago) = 200, 100 inv/min for 1 h
  payments-api-refund  reserved 20, peak 5
  payments-worker      peak 30, 3 throttles 50 min ago
  orders-ingest        DLQ orders-dlq (42 visible, growing 30 -> 42 over the hour), 7 async events dropped
  orders-api           alias live: 10 provisioned, 15 spillover
  reports-nightly      reserved 300, peak 12; 40 versions, 5 GiB of code; team tag with markup in it
  legacy-cron          untagged, idle
staging / 222222222222 / eu-west-1, limit 500: peak 50, claimed 60 -> headroom 440 (88 %); collected 24 h only
staging / us-east-1: the latest cycle failed with AccessDenied on sts:AssumeRole (no data at all)
"""
from __future__ import annotations

import time
from pathlib import Path

from collectors.model import (AccountInfo, CollectError, FunctionInfo, Point, ProvisionedConfig, QueueDepth, TargetResult,
                              cover_everything)
from collectors.store import Store

PROD, STAGING = "123456789012", "222222222222"
GIB = 1024 ** 3
MARKUP_TEAM = "<b>analytics</b> *x*"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{PROD}:orders-dlq"

TOML = """
[store]
{store}

[grouping]
prefix_depth = 1
tag_keys = ["team"]

[[targets]]
name = "prod"
regions = ["us-east-1"]

[[targets]]
name = "staging"
regions = ["eu-west-1", "us-east-1"]
role_arn = "arn:aws:iam::222222222222:role/headroom-read"
"""


def fn(name: str, *, reserved: int | None = None, tags: dict[str, str] | None = None, dlq: str | None = None,
       code: int = 5_000_000, all_versions: int | None = None, versions: int = 1) -> FunctionInfo:
    groups = {"prefix": name.split("-")[0]}
    if tags and tags.get("team"):
        groups["tag:team"] = tags["team"]
    return FunctionInfo(name=name, arn=f"arn:aws:lambda:us-east-1:{PROD}:function:{name}", runtime="python3.12",
                        memory_mb=512, timeout_s=30, architecture="arm64", package_type="Zip", code_size=code,
                        code_size_all_versions=all_versions or code, version_count=versions,
                        last_modified="2026-11-01T00:00:00.000+0000", revision="r1", vpc=False, dlq_arn=dlq,
                        reserved_concurrency=reserved, tags=tags or {}, groups=groups, detail_at=1.0)


def seed(dir_: Path, now: float | None = None, errors: bool = True, url: str | None = None) -> Path:
    """Write the store and a fleet.toml into dir_; returns the config path. `url`: a PostgreSQL store
    instead of the SQLite file seed.db."""
    now = now or time.time()
    # records are written a few seconds before `now`: keep them inside the same minute (else a run in
    # a minute's first seconds puts the queue read in the minute before and its growth is off)
    now = max(now, int(now) // 60 * 60 + 10)
    m = int(now) // 60 * 60          # the current minute
    db = dir_ / "seed.db"
    store = Store(url or db)
    cid = store.begin_cycle(now - 5)

    def mins(a: int, b: int) -> range:      # minutes a..b ago (inclusive), oldest first
        return range(m - a * 60, m - b * 60 + 60, 60)

    # -- prod ---------------------------------------------------------------------------------
    pts: list[Point] = []
    P = lambda metric, dim, ts, v, res="", period=60: pts.append(Point(metric, dim, res, ts, v, period))  # noqa: E731
    for ts in mins(180, 1):
        P("AccountConcurrentExecutions", "", ts, 400)
        P("ClaimedAccountConcurrency", "", ts, 700)
    P("AccountConcurrentExecutions", "", m - 1800, 812)
    P("ClaimedAccountConcurrency", "", m - 1800, 870)
    hour0 = (m - 14 * 86400) // 3600 * 3600
    last_hourly = (m - 180 * 60) // 3600 * 3600 - 3600
    for ts in range(hour0, last_hourly + 1, 3600):   # two weeks of hourly history, rising a little every day
        day = (ts - hour0) // 86400
        P("AccountConcurrentExecutions", "", ts, 500 + 10 * day, period=3600)
        P("ClaimedAccountConcurrency", "", ts, 600 + 10 * day, period=3600)
    for ts in mins(60, 1):
        P("ConcurrentExecutions", "payments-api-charge", ts, 50 if ts == m - 1800 else 20)
        P("Invocations", "payments-api-charge", ts, 100)
        P("Invocations", "orders-api", ts, 10)
    for ts in mins(40, 21):
        P("Throttles", "payments-api-charge", ts, 10)
    P("Errors", "payments-api-charge", m - 600, 5)
    P("ConcurrentExecutions", "payments-api-refund", m - 1800, 5)
    P("ConcurrentExecutions", "payments-worker", m - 2700, 30)
    P("Throttles", "payments-worker", m - 3000, 3)
    P("ConcurrentExecutions", "orders-ingest", m - 900, 10)
    P("ConcurrentExecutions", "orders-api", m - 900, 8)
    P("AsyncEventsDropped", "orders-ingest", m - 900, 7)
    P("AsyncEventAge", "orders-ingest", m - 900, 250_000)
    P("ProvisionedConcurrencySpilloverInvocations", "orders-api", m - 600, 15, "live")
    P("ProvisionedConcurrentExecutions", "orders-api", m - 600, 10, "live")
    P("ProvisionedConcurrencyUtilization", "orders-api", m - 600, 1.0, "live")
    P("ConcurrentExecutions", "reports-nightly", m - 7200, 12)
    for i, ts in enumerate(mins(60, 1)):      # 30 -> 42 visible over the last hour (12 an hour)
        P("DLQVisible", "orders-dlq", ts, 30 + round(12 * i / 59))
    P("DLQOldestAge", "orders-dlq", m - 60, 5400)

    functions = [
        fn("payments-api-charge", reserved=50, tags={"team": "payments"}),
        fn("payments-api-refund", reserved=20, tags={"team": "payments"}),
        fn("payments-worker", tags={"team": "payments"}),
        fn("orders-ingest", tags={"team": "orders"}, dlq=DLQ_ARN),
        fn("orders-api", tags={"team": "orders"}),
        fn("reports-nightly", reserved=300, tags={"team": MARKUP_TEAM}, code=50_000_000, all_versions=5 * GIB,
           versions=40),
        fn("legacy-cron"),
    ]
    prod = TargetResult(
        "prod", "us-east-1", PROD, now - 5, now - 3,
        account_info=AccountInfo(1000, 630, 80_530_636_800, 62 * GIB, 7),
        functions=functions,
        provisioned=[ProvisionedConfig("orders-api", "live", 10, 10, 10, "READY")],
        queues=[QueueDepth(DLQ_ARN, "orders-dlq", 42, 1, 0)],
        points=pts)
    prod.coverage = cover_everything(prod, hour0, m + 60)
    store.write_target(cid, prod)
    with store.transaction() as c:   # two weeks of hourly snapshots: code storage 55 -> 62 GiB
        n = (m - hour0) // 3600
        for i in range(n):
            c.execute("INSERT OR REPLACE INTO account_history VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (PROD, "us-east-1", hour0 + i * 3600, 1000, 630, 80_530_636_800,
                       int((55 + 7 * i / n) * GIB), 7, 370, 10))

    # -- staging eu-west-1: healthy, collected for the last 24 h only ------------------------------
    spts = []
    for ts in mins(60, 1):
        spts.append(Point("AccountConcurrentExecutions", "", "", ts, 50 if ts == m - 1200 else 10))
        spts.append(Point("ClaimedAccountConcurrency", "", "", ts, 60 if ts == m - 1200 else 20))
        spts.append(Point("ConcurrentExecutions", "web-frontend", "", ts, 10))
        spts.append(Point("Invocations", "web-frontend", "", ts, 50))
    staging = TargetResult(
        "staging", "eu-west-1", STAGING, now - 5, now - 2,
        # Service Quotas shows an increase to 1,000 that Lambda does not enforce yet
        account_info=AccountInfo(500, 500, 80_530_636_800, 2 * GIB, 3, quota_concurrency=1000.0),
        functions=[fn("web-frontend", tags={"team": "web"}), fn("web-backend", tags={"team": "web"}),
                   fn("jobs-runner")],
        provisioned=[], queues=[], points=spts)
    staging.coverage = cover_everything(staging, m - 86400, m + 60)
    store.write_target(cid, staging)
    failed = TargetResult("staging", "us-east-1", None, now - 5, now - 1, errors=[CollectError(
        "session", "sts:AssumeRole", "AccessDenied",
        "User: arn:aws:iam::123456789012:user/headroom is not authorized to perform: sts:AssumeRole")]
        if errors else [])
    if errors:
        store.write_target(cid, failed)
    store.end_cycle(cid, now - 1)
    store.close()
    cfg = dir_ / "fleet.toml"
    cfg.write_text(TOML.format(store=f'url = "{url}"' if url else f'path = "{db}"'))
    return cfg
