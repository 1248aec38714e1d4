"""Benchmark: the fleet at scale (issue #8) — 10,000 functions, 30 days: pages, store size, writes, rollup.

    python -m bench.scale --functions 10000 --days 30     # the proof (long: see BENCHMARKS.md)
    python -m bench.scale --quick                         # smoke test: 200 functions x 3 days, ~1 min
    python -m bench.scale --functions 2000 --days 30 --runs 5 --dir /tmp/scale --keep

What it does, in order (every figure is printed as it is measured; the last line is one JSON object):

 1. **Store build** (a subprocess, so its peak RSS is its own): a fleet of N functions in 2 (account,
    region) targets, written through the project's own write path, `Store.write_target`, in time
    order (6-hour chunks at 1 minute for the last 3 days, 12-hour chunks at 5 minutes before that, as
    the default retention leaves a store), with the inventory every chunk (only changed rows are
    written) and coverage for every subject (`cover_everything`-style: account, each function, alias,
    queue). The activity is sparse like a real fleet: 5 % of functions busy every minute; every other
    function active in a given hour with a diurnal probability (15 % of the fleet active at night,
    40 % by day), and then in ~20 % of that hour's minutes; zeros are not stored. Per function:
    Invocations, ConcurrentExecutions, DurationMax, DurationAvg, Errors (5 % of active minutes), Throttles
    (1 function in 50), AsyncEventsReceived/AsyncEventAge (1 in 5), provisioned alias series (1 in
    400); per target 6 account series and 10 dead-letter queues. Names are team-service-fnN (25 teams:
    the prefix groups), tagged team/env.
 2. **Bytes**: the file after `PRAGMA wal_checkpoint(TRUNCATE)`, per table (dbstat), per point stored
    (the packed series-hours of points_hour) and per function-day.
 3. **Collector first cycle** (a subprocess on a fresh store): a 24 h backfill at 1 minute streamed the
    way the collector streams it (`Store.write_points` per GetMetricData answer, ~500 series a call),
    then the target written with its inventory and coverage (`write_target`). Peak RSS of that process;
    points per CPU-second of the store's write path (the points are generated with numpy, not parsed
    from botocore responses: parsing is not in this figure).
 4. **Steady write**: one cycle's `write_target` per target (inventory unchanged, the 11-minute re-read
    window of points, coverage of every subject), 5 cycles a minute apart, median.
 5. **Pages**: `streamlit.testing.v1.AppTest` runs dashboard/app.py (HEADROOM_CONFIG = the store's
    fleet.toml, the pages' clock pinned just after the last cycle) for every page and window
    (24h, 7d, 30d), three ways: *cold* (the first load after a cycle: every Streamlit cache cleared, a new
    session opening on that page), *nav* (the review already cached: the session opened the Overview
    first, then switches to the page — what a user clicking through sees), *warmed* (the first load
    after a cycle once the dashboard's warmer has computed the review, as dashboard/warm.py does after
    each cycle for the default window and the windows someone viewed lately; the warmer's own time, the
    wait after a cycle before pages are this fast, is `warmer_s`) and *warm* (the same page again,
    everything cached). p50/p95 over --runs runs. Then `review()` alone per window, and a
    cProfile of the slowest cold 24 h page (the profiler enabled in the script's thread).
 6. **Hourly rollup**: `Store.rollup` when the clock moves by an hour (an hour of 1-minute points moves
    to 5 minutes, and with 30 days an hour of 5-minute points to hourly), median of --runs.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import ROOT, machine  # noqa: E402

import numpy as np  # noqa: E402

from collectors.model import (AccountInfo, Covered, FunctionInfo, Point, ProvisionedConfig, QueueDepth,  # noqa: E402
                              TargetResult)
from collectors.store import Store  # noqa: E402

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
TARGET = "prod"
TEAMS = ("payments", "orders", "search", "identity", "inventory", "comms", "reports", "media", "billing", "ledger",
         "fraud", "shipping", "pricing", "catalog", "ads", "growth", "mobile", "web", "data", "ops", "risk", "support",
         "notify", "auth", "export")
SERVICES = ("api", "worker", "ingest", "cron", "stream", "sync", "hook", "batch")
HOT_EVERY, ASYNC_EVERY, THROTTLE_EVERY, DLQ_EVERY, RESERVED_EVERY, PROV_EVERY = 20, 5, 50, 10, 20, 400
MINUTE_SHARE = 0.2           # share of an active hour's minutes in which a (non-busy) function runs
QUEUES = 10
PAGES = ("overview", "triage", "limits", "groups", "function")
WINDOWS = ("24h", "7d", "30d")
APP = str(ROOT / "dashboard" / "app.py")
TOML = """
[store]
path = "{db}"

[grouping]
prefix_depth = 1
tag_keys = ["team"]

[[targets]]
name = "{target}"
regions = [{regions}]
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


# -- the fleet -------------------------------------------------------------------------------------
class Fleet:
    """n functions split over the REGIONS targets; deterministic activity from seeded generators."""

    def __init__(self, n: int):
        self.n = n
        self.per = [n // len(REGIONS) + (1 if i < n % len(REGIONS) else 0) for i in range(len(REGIONS))]
        self.names = [np.array([self.name(t, j) for j in range(k)], dtype=object) for t, k in enumerate(self.per)]

    @staticmethod
    def name(t: int, j: int) -> str:
        return f"{TEAMS[j % len(TEAMS)]}-{SERVICES[j // len(TEAMS) % len(SERVICES)]}-fn{j}{'' if t == 0 else 'e'}"

    def busiest(self, t: int) -> str:
        return str(self.names[t][0])   # busy, provisioned alias, every metric

    @staticmethod
    def share_active(hour_ts: int) -> float:
        """Share of the fleet active in this hour: 15 % at 02:00 UTC, 40 % at 14:00 UTC."""
        h = (hour_ts // 3600) % 24
        return 0.275 - 0.125 * math.cos(2 * math.pi * (h - 2) / 24)

    def inventory(self, t: int, now: float) -> TargetResult:
        region = REGIONS[t]
        fns = []
        for j, name in enumerate(self.names[t].tolist()):
            team = TEAMS[j % len(TEAMS)]
            fns.append(FunctionInfo(
                name=name, arn=f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}", runtime="python3.12",
                memory_mb=256 + 128 * (j % 4), timeout_s=30, architecture="arm64", package_type="Zip",
                code_size=4_000_000 + j, code_size_all_versions=(4_000_000 + j) * (1 + j % 3), version_count=1 + j % 3,
                last_modified="2026-11-01T00:00:00.000+0000", revision=f"r{j}", vpc=j % 7 == 0,
                dlq_arn=f"arn:aws:sqs:{region}:{ACCOUNT}:dlq-{j // DLQ_EVERY % QUEUES}" if j % DLQ_EVERY == 1 else None,
                reserved_concurrency=5 + j % 40 if j % RESERVED_EVERY == 3 else None,
                tags={"team": team, "env": "prod"},
                groups={"prefix": team, "tag:team": team}, detail_at=now))
        r = TargetResult(TARGET, region, ACCOUNT, now - 5, finished_at=now)
        r.functions = fns
        r.provisioned = [ProvisionedConfig(f.name, "live", 10, 10, 10, "READY") for j, f in enumerate(fns)
                         if j % PROV_EVERY == 0]
        limit = max(1000, 2 * len(fns))
        reserved = sum(f.reserved_concurrency or 0 for f in fns)
        r.account_info = AccountInfo(limit, limit - reserved, 80_530_636_800,
                                     sum(f.code_size_all_versions for f in fns), len(fns), float(limit),
                                     75.0 * 1024 ** 3)
        r.queues = [QueueDepth(f"arn:aws:sqs:{region}:{ACCOUNT}:dlq-{q}", f"dlq-{q}", q % 4, 0, 0)
                    for q in range(QUEUES)]
        return r

    def coverage(self, t: int, start: int, end: int) -> list[Covered]:
        out = [Covered("account", "", start, end)]
        out += [Covered("function", name, start, end) for name in self.names[t].tolist()]
        out += [Covered("alias", name, start, end) for j, name in enumerate(self.names[t].tolist())
                if j % PROV_EVERY == 0]
        out += [Covered("queue", f"dlq-{q}", start, end) for q in range(QUEUES)]
        return out

    def block(self, t: int, lo: int, hi: int, start: int, end: int, period: int,
              acct: dict[str, np.ndarray] | None = None) -> list[Point]:
        """Every non-zero point of functions [lo, hi) of target t in [start, end) (hour-aligned) at
        `period` (60 or 300); adds their concurrency/invocations/throttles/errors per bucket into `acct`."""
        rng = np.random.default_rng([7, t, lo, start, period])
        hours = (end - start) // 3600
        per_hour = 3600 // period
        f = hi - lo
        j = np.arange(lo, hi)
        hot = j % HOT_EVERY == 0
        p = np.array([(self.share_active(start + h * 3600) - 0.05) / 0.95 for h in range(hours)])
        hour_on = (rng.random((f, hours)) < p[None, :]) | hot[:, None]
        if period == 60:
            k = (rng.random((f, hours, per_hour)) < MINUTE_SHARE).astype(np.int64)
        else:
            k = rng.binomial(period // 60, MINUTE_SHARE, (f, hours, per_hour))
        k = np.where(hour_on[:, :, None], k, 0)
        k[hot] = period // 60
        k = k.reshape(f, hours * per_hour)
        fi, bi = np.nonzero(k)
        kk = k[fi, bi]
        m = len(fi)
        if not m:
            return []
        names = self.names[t][lo:hi][fi].tolist()
        ts = (start + bi * period).tolist()
        jj = j[fi]
        lam = np.where(hot[fi], 40.0, 3.0)
        inv = rng.poisson(lam * kk) + kk
        conc = np.maximum(1, np.round(inv / kk / 10 + rng.random(m) * 3))
        dur = rng.gamma(2.0, 60.0, m) + 5
        out: list[Point] = []

        def emit(metric: str, sel: np.ndarray | None, vals: np.ndarray, resource: str = "") -> None:
            if sel is None:
                out.extend([Point(metric, d, resource, x, v, period) for d, x, v in zip(names, ts, vals.tolist())])
            else:
                idx = np.nonzero(sel)[0]
                nm, tt, vv = [names[i] for i in idx.tolist()], [ts[i] for i in idx.tolist()], vals[idx].tolist()
                out.extend([Point(metric, d, resource, x, v, period) for d, x, v in zip(nm, tt, vv)])

        emit("Invocations", None, inv.astype(float))
        emit("ConcurrentExecutions", None, conc)
        emit("DurationAvg", None, dur)
        emit("DurationMax", None, dur * (1.5 + rng.random(m) * 2))
        err = rng.random(m) < 1 - 0.95 ** kk
        emit("Errors", err, (1 + rng.poisson(1.0, m)).astype(float))
        thr = (jj % THROTTLE_EVERY == 3) & (rng.random(m) < 1 - 0.98 ** kk)
        emit("Throttles", thr, np.full(m, 3.0))
        asy = jj % ASYNC_EVERY == 1
        emit("AsyncEventsReceived", asy, inv.astype(float))
        emit("AsyncEventAge", asy, rng.gamma(2.0, 50.0, m))
        prov = jj % PROV_EVERY == 0
        emit("ProvisionedConcurrentExecutions", prov, np.minimum(conc, 10.0), "live")
        emit("ProvisionedConcurrencyUtilization", prov, np.minimum(1.0, conc / 10), "live")
        emit("ProvisionedConcurrencySpilloverInvocations", prov & (conc > 10), np.maximum(0.0, conc - 10) * 5, "live")
        if acct is not None:
            np.add.at(acct["conc"], bi, conc)
            np.add.at(acct["inv"], bi, inv)
            np.add.at(acct["thr"], bi[thr], 3.0)
            np.add.at(acct["err"], bi[err], 1.0)
        return out

    def account_points(self, t: int, start: int, period: int, acct: dict[str, np.ndarray]) -> list[Point]:
        out: list[Point] = []
        ts = (start + np.arange(len(acct["conc"])) * period).tolist()
        reserved = sum(5 + j % 40 for j in range(self.per[t]) if j % RESERVED_EVERY == 3)
        for metric, vals in (("AccountConcurrentExecutions", acct["conc"]),
                             ("UnreservedConcurrentExecutions", acct["conc"] * 0.9),
                             ("ClaimedAccountConcurrency", acct["conc"] + reserved), ("AccountInvocations", acct["inv"]),
                             ("AccountThrottles", acct["thr"]), ("AccountErrors", acct["err"])):
            out.extend(Point(metric, "", "", x, v, period) for x, v in zip(ts, vals.tolist()) if v)
        for q in range(QUEUES):
            if q % 4:
                out.extend(Point("DLQVisible", f"dlq-{q}", "", x, float(q % 4 + (i % 7)), period)
                           for i, x in enumerate(ts))
                out.extend(Point("DLQOldestAge", f"dlq-{q}", "", x, 600.0 + 60 * (i % 30), period)
                           for i, x in enumerate(ts))
        return out

    def chunk(self, t: int, start: int, end: int, period: int, block: int = 500) -> list[Point]:
        buckets = (end - start) // period
        acct = {k: np.zeros(buckets) for k in ("conc", "inv", "thr", "err")}
        pts: list[Point] = []
        for lo in range(0, self.per[t], block):
            pts += self.block(t, lo, min(self.per[t], lo + block), start, end, period, acct)
        return pts + self.account_points(t, start, period, acct)


def write_chunk(store: Store, fleet: Fleet, t: int, start: int, end: int, period: int) -> tuple[int, float, float]:
    """One target's [start, end) through write_target (inventory + points + coverage); (points, gen s, write s)."""
    g0 = time.perf_counter()
    pts = fleet.chunk(t, start, end, period)
    r = fleet.inventory(t, end)
    r.points = pts
    r.coverage = fleet.coverage(t, start, end)
    g1 = time.perf_counter()
    cid = store.begin_cycle(end)
    store.write_target(cid, r)
    store.end_cycle(cid, end)
    return len(pts), g1 - g0, time.perf_counter() - g1


# -- 1. the store build (subprocess) ---------------------------------------------------------------
def build(db: Path, n: int, days: float, now: int) -> dict[str, Any]:
    fleet = Fleet(n)
    store = Store(db)
    start = now - int(days * 86400) // 3600 * 3600
    raw_from = max(start, now - 3 * 86400)
    plan = [(s, min(s + 12 * 3600, raw_from), 300) for s in range(start, raw_from, 12 * 3600)]
    plan += [(s, min(s + 6 * 3600, now), 60) for s in range(raw_from, now, 6 * 3600)]
    total, gen, wr, t0 = 0, 0.0, 0.0, time.perf_counter()
    for i, (s, e, period) in enumerate(plan):
        for t in range(len(REGIONS)):
            k, g, w = write_chunk(store, fleet, t, s, e, period)
            total, gen, wr = total + k, gen + g, wr + w
        if i % 10 == 9 or i == len(plan) - 1:
            log(f"  build: {i + 1}/{len(plan)} chunks, {total:,} points, write {wr:.0f} s, generate {gen:.0f} s, "
                f"RSS peak {rss_mb():.0f} MB")
    from collectors.config import Retention
    store.rollup(now, Retention())   # nothing moves (the build wrote each age at its resolution); sets the mark
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"points": total, "generate_s": gen, "write_s": wr, "wall_s": time.perf_counter() - t0,
            "points_per_s": total / wr if wr else 0.0, "rss_mb": rss_mb()}


# -- 3. the collector's first cycle (subprocess) -----------------------------------------------------
def first_cycle(db: Path, n: int, now: int) -> dict[str, Any]:
    """A 24 h backfill at 1 minute, streamed as the collector does: write_points per call (~500 series),
    then write_target with the inventory, the account's points and the coverage."""
    fleet = Fleet(n)
    store = Store(db)
    start = now - 86400
    total, gen, cpu, wall = 0, 0.0, 0.0, 0.0
    per_call = 50   # functions per GetMetricData call: ~10 series each, 500 series a call
    for t in range(len(REGIONS)):
        acct = {k: np.zeros(1440) for k in ("conc", "inv", "thr", "err")}
        cid = store.begin_cycle(now)
        for lo in range(0, fleet.per[t], per_call):
            g0 = time.perf_counter()
            pts = fleet.block(t, lo, min(fleet.per[t], lo + per_call), start, now, 60, acct)
            gen += time.perf_counter() - g0
            c0, w0 = time.process_time(), time.perf_counter()
            store.write_points(ACCOUNT, REGIONS[t], pts)
            cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
            total += len(pts)
            del pts
        g0 = time.perf_counter()
        r = fleet.inventory(t, now)
        r.points = fleet.account_points(t, start, 60, acct)
        r.points_written = total
        r.coverage = fleet.coverage(t, start, now)
        gen += time.perf_counter() - g0
        c0, w0 = time.process_time(), time.perf_counter()
        store.write_target(cid, r)
        store.end_cycle(cid, now)
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
        total += len(r.points)
    store.close()
    return {"points": total, "write_cpu_s": cpu, "write_wall_s": wall, "generate_s": gen,
            "points_per_cpu_s": total / cpu if cpu else 0.0, "points_per_s_with_generation": total / (cpu + gen),
            "rss_mb": rss_mb()}


def child(kind: str, db: Path, n: int, days: float, now: int) -> dict[str, Any]:
    """Run build / first_cycle in a fresh interpreter; its own peak RSS comes back in the JSON (and
    RUSAGE_CHILDREN's, as a check)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "bench.scale", "--_child", kind, "--_db", str(db), "--functions",
                           str(n), "--days", str(days), "--_now", str(now)],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout.splitlines()[:-1]:
        log(line)
    if proc.returncode:
        raise SystemExit(f"bench.scale {kind} failed ({proc.returncode})")
    out = json.loads(proc.stdout.splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["rusage_children_max_rss_mb"] = max(before, after) / 1024
    return out


# -- 2. bytes ---------------------------------------------------------------------------------------
def sizes(db: Path, n: int, days: float) -> dict[str, Any]:
    st = Store(db)
    st.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s = st.stats()
    try:
        tables = {r[0]: r[1] for r in st.query("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")}
    except Exception as e:  # noqa: BLE001 - SQLite built without dbstat
        tables = {"(dbstat unavailable)": str(e)}
    free = st.query("PRAGMA freelist_count")[0][0] * st.query("PRAGMA page_size")[0][0]
    st.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    points = s["points_60"] + s["points_300"] + s["points_3600"]
    pts_bytes = sum(v for k, v in tables.items() if isinstance(v, int) and k.startswith("points_"))
    sum_bytes = sum(v for k, v in tables.items() if isinstance(v, int) and k.startswith("summary_"))
    return {"store_bytes": size, "points": points, "points_60": s["points_60"], "points_300": s["points_300"],
            "points_3600": s["points_3600"], "series": s["series"], "series_hours": s["points_hour"],
            "bytes_per_point": size / max(points, 1), "summary_bytes": sum_bytes,
            "points_table_bytes_per_point": pts_bytes / max(points, 1),
            "bytes_per_function_day": size / (n * days), "points_per_function_day": points / (n * days),
            "free_bytes": free, "tables": tables}


# -- 4. steady write ---------------------------------------------------------------------------------
def steady(db: Path, fleet: Fleet, now: int, cycles: int) -> tuple[list[float], int]:
    store = Store(db)
    invs = [fleet.inventory(t, now) for t in range(len(REGIONS))]   # the collector's listing: same objects
    times, npts = [], 0
    for c in range(1, cycles + 1):
        end = now + 60 * c
        results = []
        for t, inv in enumerate(invs):
            h0 = end // 3600 * 3600 - 3600
            pts = [p for p in fleet.chunk(t, h0, h0 + 7200, 60) if end - 660 <= p.ts < end]
            r = TargetResult(TARGET, REGIONS[t], ACCOUNT, end - 5, finished_at=end)
            r.functions, r.provisioned, r.queues = inv.functions, inv.provisioned, inv.queues
            r.account_info = inv.account_info
            r.points, r.coverage = pts, fleet.coverage(t, end - 660, end)
            results.append(r)
        npts = sum(len(r.points) for r in results)
        t0 = time.perf_counter()
        cid = store.begin_cycle(end)
        for r in results:
            store.write_target(cid, r)
        store.end_cycle(cid, end)
        times.append(time.perf_counter() - t0)
    store.close()
    return times, npts


# -- 5. pages -----------------------------------------------------------------------------------------
def write_config(d: Path, db: Path) -> Path:
    cfg = d / "fleet.toml"
    cfg.write_text(TOML.format(db=db, target=TARGET, regions=", ".join(f'"{r}"' for r in REGIONS)))
    return cfg


class Pages:
    def __init__(self, cfg: Path, clock: float, fn: str):
        import streamlit as st
        from streamlit.testing.v1 import AppTest

        from dashboard import queries
        os.environ["HEADROOM_CONFIG"] = str(cfg)
        os.environ["HEADROOM_WARM"] = "0"   # cold means cold: no warming thread computing the review meanwhile
        queries.now = lambda: clock      # the pages' clock: just after the last cycle
        self.st, self.AppTest, self.fn = st, AppTest, fn
        self.cfg = str(Path(cfg).resolve())
        self.profiler: cProfile.Profile | None = None
        from streamlit.testing.v1 import local_script_runner as lsr
        orig = lsr.LocalScriptRunner._run_script_thread
        pages = self

        def run_thread(runner: Any) -> None:   # the script runs in its own thread: profile it there
            if pages.profiler is None:
                return orig(runner)
            pages.profiler.enable()
            try:
                return orig(runner)
            finally:
                pages.profiler.disable()
        setattr(lsr.LocalScriptRunner, "_run_script_thread", run_thread)
        # A server's Runtime keeps one ScriptCache for its life: app.py and each page are compiled once per
        # process. AppTest builds a new one per run, so each "first load" would also pay the compile (0.08 to
        # 0.17 s here) that no visitor of a running dashboard waits for. One cache for the bench, as a server.
        from streamlit.runtime.scriptrunner.script_cache import ScriptCache
        from streamlit.testing.v1 import app_test
        shared = ScriptCache()
        app_test.ScriptCache = lsr.ScriptCache = lambda: shared   # type: ignore[assignment,misc]

    def params(self, page: str, window: str) -> dict[str, str]:
        qp = {"window": window}
        if page == "function":
            qp.update(account=ACCOUNT, region=REGIONS[0], fn=self.fn)
        return qp

    def new(self, page: str, window: str) -> Any:
        at = self.AppTest.from_file(APP, default_timeout=1800)
        for k, v in self.params(page, window).items():
            at.query_params[k] = v
        return at

    def check(self, at: Any, page: str) -> None:
        if at.exception:
            raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
        title = [str(t.value) for t in at.title]
        want = {"overview": "Overview", "triage": "Triage", "limits": "Limits review", "groups": "Groups",
                "function": "Function"}[page]
        if not any(want in t for t in title):
            raise RuntimeError(f"{page}: the page did not render (titles {title}; errors "
                               f"{[str(e.value) for e in at.error]})")

    def go(self, at: Any, page: str) -> float:
        if page != "overview" or getattr(at, "_bench_ran", False):
            at.switch_page(f"app_pages/{page}.py")   # before a first run too: the url_paths are the file names
        at._bench_ran = True
        t0 = time.perf_counter()
        at.run()
        dt = time.perf_counter() - t0
        self.check(at, page)
        return dt

    def clear(self) -> None:
        """Forget every cached result, the shared review (st.cache_resource) included: a cold load."""
        self.st.cache_data.clear()
        self.st.cache_resource.clear()

    def once(self, page: str, window: str, more: bool = True) -> dict[str, float]:
        """cold (first load after a cycle), and with `more` nav (review cached: opened on the Overview,
        then this page), warmed (first load after the warmer ran; warmer: its time) and warm (the same
        page again, all cached)."""
        from dashboard import state, warm as warmer
        self.clear()
        at = self.new(page, window)
        cold = self.go(at, page)
        if not more:
            return {"cold": cold}
        warm = self.go(at, page)
        self.clear()
        state.shown(self.cfg, window)   # someone has this window open: the warmer keeps it
        t0 = time.perf_counter()
        warmer.warm_once(self.cfg, None)
        warmer_s = time.perf_counter() - t0
        warmed = self.go(self.new(page, window), page)
        if page == "overview":   # the Overview computes the review itself: no "review cached" run
            return {"cold": cold, "warmed": warmed, "warmer": warmer_s, "warm": warm}
        self.clear()
        at = self.new(page, window)
        self.go(at, "overview")
        return {"cold": cold, "nav": self.go(at, page), "warmed": warmed, "warmer": warmer_s, "warm": warm}

    def profile(self, page: str, window: str, out: Path) -> str:
        self.clear()
        at = self.new(page, window)
        self.profiler = cProfile.Profile()
        try:
            self.go(at, page)
        finally:
            prof, self.profiler = self.profiler, None
        prof.dump_stats(str(out))
        buf = io.StringIO()
        ps = pstats.Stats(prof, stream=buf)
        ps.sort_stats("cumulative").print_stats(r"(collectors|dashboard)/", 15)
        ps.sort_stats("tottime").print_stats(12)
        return buf.getvalue()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    i = q * (len(xs) - 1)
    lo = math.floor(i)
    return xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (i - lo)


# -- main ---------------------------------------------------------------------------------------------
def git_rev() -> str:
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "collectors", "dashboard"],
                           capture_output=True, text=True).stdout.split()
    return rev + (f" + uncommitted edits in {', '.join(sorted(set(x for x in dirty if '/' in x)))}" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 200 functions x 3 days, 1 run, review-cached and warm runs in the first window only")
    ap.add_argument("--functions", type=int, help="functions in the fleet (default 10000; quick 300)")
    ap.add_argument("--days", type=float, help="days of history (default 30; quick 3)")
    ap.add_argument("--runs", type=int, help="runs per page timing, steady write and rollup (default 5; quick 1)")
    ap.add_argument("--windows", default=",".join(WINDOWS), help="page windows to time (default 24h,7d,30d)")
    ap.add_argument("--dir", help="where to put the store (default: a temporary directory, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the store directory (built.db: the store as built)")
    ap.add_argument("--reuse", action="store_true", help="reuse a store already built in --dir (skips the build)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_db", help=argparse.SUPPRESS)
    ap.add_argument("--_now", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    n = a.functions or (200 if a.quick else 10_000)
    days = a.days or (3 if a.quick else 30)
    runs = a.runs or (1 if a.quick else 5)
    if a._child:
        fn = {"build": lambda: build(Path(a._db), n, days, a._now),
              "first_cycle": lambda: first_cycle(Path(a._db), n, a._now)}
        print(json.dumps(fn[a._child]()), flush=True)
        return 0
    windows = [w for w in a.windows.split(",") if w]
    m = machine()
    log(f"machine: {m['nproc']} CPU ({m['cpu']}), {m['ram']} RAM, Python {m['python']}, SQLite {m['sqlite']}; "
        f"load average {os.getloadavg()[0]:.1f}; code {git_rev()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    log(f"fleet: {n:,} functions in {len(REGIONS)} targets, {days:g} days; {runs} run(s) per timing")
    tmp = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="headroom-bench-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        res = run(tmp, n, days, runs, windows, a.reuse, a.quick)
    finally:
        if not a.dir and not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res), flush=True)
    return 0


def run(tmp: Path, n: int, days: float, runs: int, windows: list[str], reuse: bool, quick: bool) -> dict[str, Any]:
    db = tmp / "scale.db"
    meta = tmp / "build.json"
    fleet = Fleet(n)
    # -- 1. build ------------------------------------------------------------------------------------
    snap = tmp / "built.db"
    if reuse and meta.exists() and snap.exists():   # the store as built, before the steady writes and rollups
        b = json.loads(meta.read_text())
        now = b["now"]
        for p in tmp.glob("scale.db*"):
            p.unlink()
        shutil.copy(snap, db)
        log(f"[build] reusing {snap} (built {b['wall_s']:.0f} s)")
    else:
        for p in tmp.glob("scale.db*"):
            p.unlink()
        now = int(time.time()) // 3600 * 3600
        log("[build] writing the store through Store.write_target (subprocess) ...")
        b = child("build", db, n, days, now)
        b["now"] = now
        meta.write_text(json.dumps(b))
        shutil.copy(db, snap)
    log(f"[build] {b['points']:,} points in {b['wall_s']:.0f} s wall: write_target {b['write_s']:.0f} s "
        f"({b['points_per_s']:,.0f} points/s), generating {b['generate_s']:.0f} s; peak RSS {b['rss_mb']:.0f} MB")
    # -- 2. bytes -----------------------------------------------------------------------------------
    sz = sizes(db, n, days)
    log(f"[size] {sz['store_bytes'] / 1e6:,.1f} MB on disk for {sz['points']:,} points "
        f"({sz['points_60']:,} at 1 min, {sz['points_300']:,} at 5 min, {sz['points_3600']:,} hourly) in "
        f"{sz['series']:,} series: {sz['bytes_per_point']:.1f} B/point overall "
        f"({sz['points_table_bytes_per_point']:.1f} B/point in the points tables), "
        f"{sz['bytes_per_function_day'] / 1e3:.1f} kB per function-day ({sz['points_per_function_day']:.0f} points)")
    for name, v in sz["tables"].items():
        if isinstance(v, int) and v > 1e6:
            log(f"        {name:<32} {v / 1e6:9.1f} MB")
    # 10,000 functions x 30 days at this fleet's density: 3 days at 1 minute + 27 at 5 minutes
    pfd60 = sz["points_60"] / (n * min(days, 3))
    if days > 3:
        pfd300 = sz["points_300"] / (n * (days - 3))
    else:   # no 5-minute days built: count one day of them
        d0 = now // 86400 * 86400 - 86400
        pfd300 = sum(len(fleet.chunk(t, d0, d0 + 86400, 300)) for t in range(len(REGIONS))) / n
    est_points = 10_000 * (3 * pfd60 + 27 * pfd300)
    est = sz["bytes_per_point"] * est_points if (n, days) != (10_000, 30) else sz["store_bytes"]
    log(f"[size] {pfd60:.0f} points per function-day at 1 minute, {pfd300:.0f} at 5 minutes: 10,000 functions x "
        f"30 days = {est_points / 1e6:.0f} M points = {est / 1e9:.2f} GB"
        + (f" (extrapolated at {sz['bytes_per_point']:.1f} B/point)" if (n, days) != (10_000, 30) else " (measured)"))
    # -- 3. collector first cycle -----------------------------------------------------------------------
    log("[first cycle] a 24 h backfill at 1 minute streamed through write_points (subprocess) ...")
    fc_db = tmp / "first-cycle.db"
    for p in tmp.glob("first-cycle.db*"):
        p.unlink()
    fc = child("first_cycle", fc_db, n, days, now)
    for p in tmp.glob("first-cycle.db*"):
        p.unlink()
    log(f"[first cycle] {fc['points']:,} points; store write path {fc['write_cpu_s']:.1f} CPU s "
        f"({fc['write_wall_s']:.1f} s wall) = {fc['points_per_cpu_s']:,.0f} points per CPU-second "
        f"({fc['points_per_s_with_generation']:,.0f}/s counting the generation); peak RSS {fc['rss_mb']:.0f} MB")
    # -- 4. steady write -------------------------------------------------------------------------------
    cycles = max(runs, 3)
    sw, spts = steady(db, fleet, now, cycles)
    log(f"[steady] one cycle's write_target x {len(REGIONS)} targets ({n:,} functions, {spts:,} points, coverage "
        f"of every subject): median {statistics.median(sw):.3f} s (min {min(sw):.3f}, max {max(sw):.3f}, n={len(sw)})")
    clock = now + 60 * cycles + 30
    # -- 5. pages ----------------------------------------------------------------------------------------
    from analysis import review as rv
    from collectors.config import load
    from dashboard.state import WINDOWS as SECONDS
    cfg = write_config(tmp, db)
    settings = load(cfg)
    pages = Pages(cfg, clock, fleet.busiest(0))
    modes = ("cold", "nav", "warmed", "warmer", "warm")
    times: dict[str, dict[str, dict[str, list[float]]]] = {p: {w: {k: [] for k in modes} for w in windows}
                                                           for p in PAGES}
    for w in windows:
        for i in range(runs):
            for page in PAGES:
                r = pages.once(page, w, more=not quick or w == windows[0])
                for k, v in r.items():
                    times[page][w][k].append(v)
                log(f"  {page} {w} run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.items()))
        for page in PAGES:
            t = times[page][w]
            nav, warmed, warmer, warm = (f"{pct(t[k], .5):6.2f} s" if t[k] else "   n/a"
                                         for k in ("nav", "warmed", "warmer", "warm"))
            log(f"[page] {page:<9} {w:>4}: cold p50 {pct(t['cold'], .5):6.2f} s p95 {pct(t['cold'], .95):6.2f} | "
                f"review cached p50 {nav} | after the warmer p50 {warmed} (the warmer {warmer}) | warm p50 {warm}")
    revs: dict[str, list[float]] = {}
    st = Store(db, readonly=True)
    for w in windows:
        start, end = rv.window(clock, SECONDS[w])
        revs[w] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            rv.review(st, start, end, settings.thresholds, "prefix",
                      expected=[(t.name, r) for t in settings.targets for r in t.regions],
                      max_age_s=settings.collection.max_age_seconds,
                      function_max_age_s=settings.collection.function_max_age_seconds)
            revs[w].append(time.perf_counter() - t0)
        log(f"[review] review() alone over {w}: median {statistics.median(revs[w]):.2f} s "
            f"(min {min(revs[w]):.2f}, max {max(revs[w]):.2f})")
    st.close()
    pw = "24h" if "24h" in windows else windows[0]
    slowest = max(PAGES, key=lambda p: pct(times[p][pw]["cold"], .5))
    log(f"[profile] the slowest cold {pw} page: {slowest} (cProfile in the script thread; {tmp / 'page.prof'})")
    log(pages.profile(slowest, pw, tmp / "page.prof"))
    # -- 6. rollup ------------------------------------------------------------------------------------
    from collectors.config import Retention
    ret = Retention()
    store = Store(db)
    store.rollup(clock, ret)
    roll, moved = [], {}
    for hour in range(1, runs + 1):
        t0 = time.perf_counter()
        moved = store.rollup(clock + 3600 * hour, ret)
        roll.append(time.perf_counter() - t0)
    store.close()
    log(f"[rollup] hourly rollup (the cut moves an hour; moved {moved}): median {statistics.median(roll):.3f} s "
        f"(min {min(roll):.3f}, max {max(roll):.3f}, n={len(roll)})")
    bench_rss = rss_mb()
    log(f"[rss] peak RSS: build {b['rss_mb']:.0f} MB, first cycle {fc['rss_mb']:.0f} MB, "
        f"this process (pages) {bench_rss:.0f} MB")
    q = lambda k, p: {pg: {w: round(pct(times[pg][w][k], p), 4) for w in windows if times[pg][w][k]}  # noqa: E731
                      for pg in PAGES}
    return {
        "functions": n, "days": days, "runs": runs, "targets": len(REGIONS),
        "build_s": round(b["wall_s"], 1), "build_points": b["points"], "build_points_per_s": round(b["points_per_s"]),
        "build_rss_mb": round(b["rss_mb"], 1),
        "store_bytes": sz["store_bytes"], "store_points": sz["points"], "series": sz["series"],
        "bytes_per_point": round(sz["bytes_per_point"], 2),
        "bytes_per_function_day": round(sz["bytes_per_function_day"], 1),
        "points_per_function_day": round(sz["points_per_function_day"], 1),
        "store_bytes_10k_30d_estimate": round(est), "points_per_function_day_60": round(pfd60, 1),
        "points_per_function_day_300": round(pfd300, 1),
        "table_bytes": {k: v for k, v in sz["tables"].items() if isinstance(v, int)},
        "collector_first_cycle_rss_mb": round(fc["rss_mb"], 1), "first_cycle_points": fc["points"],
        "points_per_s": round(fc["points_per_cpu_s"]),
        "points_per_s_with_generation": round(fc["points_per_s_with_generation"]),
        "steady_write_s": round(statistics.median(sw), 4), "steady_write_points": spts,
        "rollup_s": round(statistics.median(roll), 4), "rollup_moved": moved,
        "review_s": {w: round(statistics.median(v), 4) for w, v in revs.items()},
        "pages_p50_s": q("cold", .5), "pages_p95_s": q("cold", .95),
        "pages_review_cached_p50_s": q("nav", .5), "pages_warm_p50_s": q("warm", .5),
        "pages_after_warmer_p50_s": q("warmed", .5), "pages_after_warmer_p95_s": q("warmed", .95),
        "warmer_s": q("warmer", .5),
        "slowest_page_24h": slowest, "bench_rss_mb": round(bench_rss, 1),
    }


if __name__ == "__main__":
    raise SystemExit(main())
