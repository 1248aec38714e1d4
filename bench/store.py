"""Benchmark: the SQLite store (collectors.store), the review (analysis.review) and history.

    python -m bench.store             # full: 1,000 functions x 7 days of 1-minute data (~7 M points)
    python -m bench.store --quick     # smoke test: 100 functions x 1 day, < 30 s
    python -m bench.store --functions 2000 --days 7 --repeat 7

The store is filled through its own API (Store.write_target with TargetResult / Point records from
collectors/model.py), sparse like a real fleet: ~14 % of functions busy every minute (Invocations,
ConcurrentExecutions, DurationMax, DurationAvg, Errors 5 % of minutes), the rest active in ~3 % of
minutes; every 5th function is asynchronous (AsyncEventsReceived, AsyncEventAge); 3 account metrics
every minute. Zeros are not stored (as the collector does). Then it measures:

  * write_target throughput: the fill itself (6-hour chunks), a backfill-sized write (24 h at 1 minute
    into an empty store) and steady-state cycles (an 11-minute re-read window upserted into the full store);
  * file size per million points;
  * rollup: the first one over 7 days (moves everything older than raw_days=3 to 5-minute buckets), the
    per-cycle call when the hour has not turned (skipped), and the hourly one (an hour of points moves);
  * review.review() over 24 h and 7 days, and history.timeseries() for the dashboard's usual charts.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import fmt, print_machine, repeat, summary, timed  # noqa: E402

import numpy as np  # noqa: E402

import collectors  # noqa: E402
from analysis import history, review  # noqa: E402
from collectors.config import DEFAULT_THRESHOLDS, Retention  # noqa: E402
from collectors.model import AccountInfo, FunctionInfo, Point, QueueDepth, TargetResult, cover_everything  # noqa: E402
from collectors.store import Store  # noqa: E402

ACCOUNT, REGION, TARGET = "123456789012", "us-east-1", "prod"
TEAMS = ("payments", "orders", "search", "identity", "inventory", "comms", "reports", "media", "billing",
         "ledger", "fraud", "shipping", "pricing", "catalog", "ads", "growth", "mobile", "web", "data", "ops")


def git_rev(where: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "collectors"],
                               capture_output=True, text=True).stdout.strip()
        return (out.stdout.strip() or "not a git checkout") + (" + uncommitted collectors/ edits" if dirty else "")
    except OSError:
        return "?"


def names(n: int) -> list[str]:
    return [f"{TEAMS[i % len(TEAMS)]}-svc{i // len(TEAMS) % 50}-fn{i}" for i in range(n)]


def inventory(n: int, now: float) -> TargetResult:
    fns = []
    for i, name in enumerate(names(n)):
        team = TEAMS[i % len(TEAMS)]
        fns.append(FunctionInfo(
            name=name, arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", runtime="python3.12",
            memory_mb=256, timeout_s=30, architecture="x86_64", package_type="Zip", code_size=4096,
            code_size_all_versions=4096, version_count=1, last_modified="2026-11-01T00:00:00.000+0000",
            revision=f"r{i}", vpc=False,
            dlq_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq-{i // 10 % 10}" if i % 10 == 1 else None,
            reserved_concurrency=5 + i % 20 if i % 20 == 3 else None, tags={"team": team, "env": "prod"},
            groups={"prefix": team, "tag:team": team}, detail_at=now))
    r = TargetResult(TARGET, REGION, ACCOUNT, now, finished_at=now)
    r.functions, r.provisioned = fns, []
    r.account_info = AccountInfo(max(1000, n), max(1000, n) - sum(f.reserved_concurrency or 0 for f in fns),
                                 80_530_636_800, 4096 * n, n, float(max(1000, n)), 75.0 * 1024 ** 3)
    r.queues = [QueueDepth(f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq-{q}", f"dlq-{q}", q % 4, 0, 0) for q in range(10)]
    return r


class Activity:
    """Deterministic sparse activity: which function is busy or async, and a seeded generator."""

    def __init__(self, n: int, seed: int = 11):
        self.names = names(n)
        self.busy = np.array([i % 7 == 0 for i in range(n)])
        self.asynchronous = np.array([i % 5 == 1 for i in range(n)])
        self.rng = np.random.default_rng(seed)

    def points(self, start: int, end: int) -> list[Point]:
        """Every non-zero 1-minute point in [start, end) (minute-aligned)."""
        rng = self.rng
        minutes = np.arange(start, end, 60, dtype=np.int64)
        m = len(minutes)
        out: list[Point] = []
        acct = np.zeros(m)
        for i, name in enumerate(self.names):
            active = np.ones(m, bool) if self.busy[i] else rng.random(m) < 0.03
            ts = minutes[active].tolist()
            k = len(ts)
            if not k:
                continue
            inv = rng.poisson(40 if self.busy[i] else 3, k) + 1
            conc = np.maximum(1, np.round(inv / 10 + rng.random(k) * 3))
            acct[active] += conc
            dur = rng.gamma(2.0, 60.0, k) + 5
            for metric, vals in (("Invocations", inv), ("ConcurrentExecutions", conc), ("DurationMax", dur * 2.5),
                                 ("DurationAvg", dur)):
                out.extend(Point(metric, name, "", t, float(v)) for t, v in zip(ts, vals.tolist()))
            err = rng.random(k) < 0.05
            out.extend(Point("Errors", name, "", t, 1.0) for t, e in zip(ts, err.tolist()) if e)
            if self.asynchronous[i]:
                out.extend(Point("AsyncEventsReceived", name, "", t, float(v)) for t, v in zip(ts, inv.tolist()))
                out.extend(Point("AsyncEventAge", name, "", t, float(v))
                           for t, v in zip(ts, rng.gamma(2.0, 50.0, k).tolist()))
            if i % 50 == 0:
                thr = rng.random(k) < 0.02
                out.extend(Point("Throttles", name, "", t, 3.0) for t, e in zip(ts, thr.tolist()) if e)
        for metric, extra in (("AccountConcurrentExecutions", 0), ("UnreservedConcurrentExecutions", 0),
                              ("ClaimedAccountConcurrency", 500)):
            out.extend(Point(metric, "", "", t, float(v + extra)) for t, v in zip(minutes.tolist(), acct.tolist()) if v)
        return out


def chunk(points: list[Point], start: int, end: int, now: float) -> TargetResult:
    r = TargetResult(TARGET, REGION, ACCOUNT, now, finished_at=now)
    r.points = points
    r.coverage = cover_everything(r, start, end)
    return r


def fill(store: Store, act: Activity, start: int, end: int, now: float, step: int = 6 * 3600) -> tuple[int, float, float]:
    """Write [start, end) in `step` chunks; returns (points, seconds writing, seconds generating)."""
    total, t_write, t_gen = 0, 0.0, 0.0
    cid = store.begin_cycle(now)
    for s in range(start, end, step):
        e = min(end, s + step)
        t_gen_one, pts = timed(lambda: act.points(s, e))
        t_gen += t_gen_one
        t, _ = timed(lambda: store.write_target(cid, chunk(pts, s, e, e)))
        t_write += t
        total += len(pts)
    store.end_cycle(cid, now)
    return total, t_write, t_gen


def file_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: 100 functions x 1 day")
    ap.add_argument("--functions", type=int, help="functions (default 1000; quick 100)")
    ap.add_argument("--days", type=float, help="days of 1-minute history (default 7; quick 1)")
    ap.add_argument("--repeat", type=int, help="repetitions per latency figure (default 3)")
    ap.add_argument("--reads-before-rollup", action="store_true",
                    help="also time review/history on the store with all 7 days at 1 minute")
    ap.add_argument("--dir", help="where to put the store files (default: a temporary directory)")
    a = ap.parse_args(argv)
    n = a.functions or (100 if a.quick else 1000)
    days = a.days or (1 if a.quick else 7)
    rep = a.repeat or 3
    print_machine()
    print(f"store: {n:,} functions x {days:g} days of 1-minute data; {rep} repetitions; collectors from "
          f"{Path(collectors.__file__).parent} ({git_rev(Path(collectors.__file__).parent)}); date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    tmp = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="headroom-bench-store-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        run(n, days, rep, tmp, a.quick, a.reads_before_rollup)
    finally:
        if not a.dir:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run(n: int, days: float, rep: int, tmp: Path, quick: bool, reads_before: bool) -> None:
    now = int(time.time()) // 3600 * 3600
    start = now - int(days * 86400)

    # -- 1. write_target: a backfill-sized write into an empty store --------------------------------
    act = Activity(n, seed=3)
    backfill_pts = act.points(now - 86400, now)
    times = []
    for i in range(rep):
        p = tmp / f"backfill-{i}.db"
        st = Store(p)
        cid = st.begin_cycle(now)
        inv = inventory(n, now)
        inv.points = backfill_pts
        inv.coverage = cover_everything(inv, now - 86400, now)
        times.append(timed(lambda: st.write_target(cid, inv))[0])
        st.close()
        p.unlink()
    print(f"\n[write] backfill-sized write_target (24 h at 1 minute, {n:,} functions, {len(backfill_pts):,} points, "
          f"+ inventory) into an empty store: {fmt(times)}; "
          f"{summary([len(backfill_pts) / t for t in times])['median']:,.0f} points/s")

    # -- 2. fill 7 days through write_target -------------------------------------------------------
    path = tmp / "history.db"
    store = Store(path)
    cid = store.begin_cycle(start)
    store.write_target(cid, inventory(n, start))
    store.end_cycle(cid, start)
    act = Activity(n, seed=11)
    total, t_write, t_gen = fill(store, act, start, now, now)
    print(f"\n[fill] {total:,} points over {days:g} days ({total / n / days:,.0f} per function-day; "
          f"{total / (n * days * 1440):.2f} per function-minute) written in 6-hour write_target chunks: "
          f"{t_write:.1f} s = {total / t_write:,.0f} points/s (generating them took {t_gen:.1f} s more)")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    mb = file_mb(path)
    s = store.stats()
    print(f"[size] {mb:.1f} MB for {s['points_60']:,} 1-minute points in {s['series']:,} series: "
          f"{mb / (s['points_60'] / 1e6):.1f} MB per million points ({mb * 1e6 / s['points_60']:.1f} B/point)")
    store.close()
    snap = tmp / "history-1min.db"
    shutil.copy(path, snap)
    store = Store(path)

    # -- 3. steady-state write_target into the full store -------------------------------------------
    times, sizes = [], []
    for k in range(max(rep * 4, 10)):
        end = now + 60 * (k + 1)
        pts = act.points(end - 11 * 60, end)   # the 10-minute overlap + the new minute, re-read each cycle
        r = inventory(n, end)
        r.points = pts
        r.coverage = cover_everything(r, end - 11 * 60, end)
        cid = store.begin_cycle(end)
        times.append(timed(lambda: store.write_target(cid, r))[0])
        store.end_cycle(cid, end)
        sizes.append(len(pts))
    print(f"\n[write] steady-state write_target (11-minute window, {int(np.median(sizes)):,} points + {n:,}-function "
          f"inventory, upserted into the {days:g}-day store): {fmt(times, 'ms', 1e3, 1)}")
    pts_only = []
    for k in range(max(rep * 4, 10)):
        end = now + 60 * (k + 1)
        pts = act.points(end - 11 * 60, end)
        cid = store.begin_cycle(end)
        pts_only.append(timed(lambda: store.write_target(cid, chunk(pts, end - 660, end, end)))[0])
        store.end_cycle(cid, end)
    print(f"        the same without the inventory (points + coverage only): {fmt(pts_only, 'ms', 1e3, 1)}; "
          f"{np.median(sizes) / np.median(pts_only):,.0f} points/s")

    # -- 4. review and history on the all-1-minute store --------------------------------------------
    def reads(label: str) -> None:
        ro = Store(path, readonly=True)
        end = now
        for window, w in dict((("24 h", 86400), (f"{days:g} days", int(days * 86400)))).items():
            if w > days * 86400 or (w == 86400 and window != "24 h"):
                continue
            ts = repeat(lambda: review.review(ro, end - w, end, DEFAULT_THRESHOLDS, "prefix"), rep)
            print(f"[review] {label}: review() over {window}: {fmt(ts)}")
        g = [x for x in names(n) if x.startswith("payments-")]
        one = [names(n)[0]]   # built outside the timed calls
        cases: list[tuple[str, Callable[[], object]]] = [
            ("account ConcurrentExecutions, 7 d @ 5 min",
             lambda: history.timeseries(ro, ACCOUNT, REGION, "AccountConcurrentExecutions", end - 7 * 86400, end, 300)),
            ("one function's ConcurrentExecutions, 24 h @ 1 min",
             lambda: history.timeseries(ro, ACCOUNT, REGION, "ConcurrentExecutions", end - 86400, end, 60, dims=one)),
            (f"a group ({len(g)} functions) ConcurrentExecutions summed, 24 h @ 1 min",
             lambda: history.timeseries(ro, ACCOUNT, REGION, "ConcurrentExecutions", end - 86400, end, 60, dims=g)),
            ("all functions' Invocations, 7 d @ 1 h",
             lambda: history.timeseries(ro, ACCOUNT, REGION, "Invocations", end - 7 * 86400, end, 3600)),
        ]
        for what, call in cases:
            ts = repeat(call, rep)
            print(f"[history] {label}: {what}: {fmt(ts, 'ms', 1e3, 1)}")
        ts = repeat(lambda: history.weekly_peaks(ro, ACCOUNT, REGION, "AccountConcurrentExecutions", 12, end), rep)
        print(f"[history] {label}: weekly_peaks, 12 weeks of account concurrency: {fmt(ts, 'ms', 1e3, 1)}")
        ro.close()

    store.close()
    if reads_before or quick:
        print()
        reads("all at 1 minute")

    # -- 5. rollup ------------------------------------------------------------------------------------
    ret = Retention()
    first = []
    for i in range(rep if not quick else 1):
        shutil.copy(snap, path)
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        st = Store(path)
        t, moved = timed(lambda: st.rollup(now, ret))
        first.append(t)
        st.close()
    print(f"\n[rollup] first rollup (raw_days={ret.raw_days:g}): moved {moved}: {fmt(first)}")
    st = Store(path)
    noop = repeat(lambda: st.rollup(now + 60, ret), max(rep, 5))
    s = st.stats()
    print(f"[rollup] per-cycle rollup when the hour has not turned (most cycles) on {s['points_60']:,} 1-minute + "
          f"{s['points_300']:,} 5-minute points: {fmt(noop, 'ms', 1e3, 3)}")
    hourly, moved = [], {}
    for k in range(1, max(rep, 5) + 1):
        t, moved = timed(lambda: st.rollup(now + 3600 * k, ret))
        hourly.append(t)
    print(f"[rollup] hourly rollup (the cut moves by an hour: moved {moved}): {fmt(hourly)}")
    st.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"[size] after rollup: {file_mb(path):.1f} MB on disk (SQLite keeps freed pages; "
          f"{st.query('PRAGMA freelist_count')[0][0] * st.query('PRAGMA page_size')[0][0] / 1e6:.1f} MB free inside)")
    st.close()
    print()
    reads("after rollup (3 days at 1 min, older at 5 min)")


if __name__ == "__main__":
    raise SystemExit(main())
