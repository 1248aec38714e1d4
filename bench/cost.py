"""Benchmark: what collecting costs in CloudWatch, paying for activity against asking everything (issue #7).

    python -m bench.cost                      # full: 5,000 functions, 3 simulated hours
    python -m bench.cost --quick              # smoke test: 150 functions, 20 simulated minutes (~30-60 s)
    python -m bench.cost --functions 5000 --hours 3 [--history-hours 4] [--bursts 5] [--listing-delay 0]

One sandbox (sandbox.server.Sandbox on 127.0.0.1) holds one account and region with a mostly idle
fleet (sandbox.activity.build_activity_fleet: about 85 % of the functions without a datapoint in any
hour, 25 % dormant) and scripted bursts: a dormant function (never ran) suddenly runs at 2-4x its
reserved concurrency for 20-45 minutes, with throttles and, for the async ones, dropped events and
DLQ messages. Two SQLite stores are collected side by side, with identical settings except
`collection.metrics_strategy` ("all" and "activity"; everything else at its default: interval 60 s,
function interval 300 s). For every simulated minute the fleet writes that minute (`fleet.tick(t)`)
and then each strategy runs one cycle with the pinned clock (`run_cycle(..., clock=lambda: t)`): both
see exactly the same sandbox state. Every API call is real HTTP to the sandbox.

It prints, per strategy: the metrics requested (by tier) and the ListMetrics calls of the steady
cycles (the first cycle, the backfill, apart), what that costs per month per 1,000 functions and per
function, the ratio all/activity, and what `analysis.cost.cost` forecasts for each store. Then it
reviews both stores (`analysis.review.review`, the arguments `check --format json` uses) over the
same windows at the same moment, right after a function read of the activity strategy, and compares
every figure; and checks that every burst that started in a window shows its throttles (equal to what
the sandbox holds) in both. The last line is one JSON object with the figures.

The sandbox's ListFunctions (FunctionVersion=ALL, what the collector lists) deep-copies every function
in moto for every 50-function page: quadratic, some 80 s per listing at 5,000 functions. No function
changes here, so the benchmark lets moto make those copies once and answers a page asked before with
the same answer (`copy_functions_once`, `reuse_listing_pages`; `--no-listing-cache` to measure
without): the collector's calls and the answers are the same.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import print_machine, safe_aws_env  # noqa: E402

safe_aws_env()

from collectors import config  # noqa: E402
from analysis import review  # noqa: E402
from analysis import cost as costs  # noqa: E402
from collectors.pipeline import CycleReport, run_cycle  # noqa: E402
from collectors.store import Store  # noqa: E402
from sandbox.activity import ActivityFleet, build_activity_fleet  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

STRATEGIES = ("all", "activity")
TARGET = "prod"
MONTH_S = 30 * 86400
TARGET_USD_PER_FUNCTION = 0.10   # issue #7: with the defaults, at most $0.10 per function per month
BEFORE_USD_PER_FUNCTION = 4.38   # issue #7: asking everything every minute (BENCHMARKS.md section 1)
TIERS = ("account", "function", "queue")


# The cycle's deadline (default interval - 10 s = 50 s of wall time) is a guard against hung calls; the
# sandbox answers a 5,000-function backfill in about a minute on 2 busy cores (AWS: seconds), and a cycle
# cut by the deadline is recorded without its counts (TargetResult of an abandoned target). A wall-time
# guard does not change what a cycle asks, so both strategies get a longer one.
DEADLINE_S = 3600


def settings_for(endpoint: str, store_path: Path, strategy: str) -> config.Settings:
    """The same fleet.toml for both stores but the strategy; collection defaults otherwise (and the
    deadline above)."""
    s = config.parse({
        "store": {"path": str(store_path)},
        "grouping": {"prefix_depth": 1, "tag_keys": ["team"]},
        "collection": {"metrics_strategy": strategy},
        "targets": [{"name": TARGET, "regions": ["us-east-1"], "endpoint_url": endpoint}],
    })
    return dataclasses.replace(s, collection=dataclasses.replace(s.collection, deadline_seconds=DEADLINE_S))


@dataclass
class Tally:
    """What one strategy asked CloudWatch for, cycle by cycle."""
    strategy: str
    cycles: list[dict[str, Any]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, t: int, rep: CycleReport, wall: float, kind: str) -> None:
        (r,) = rep.results
        for e in r.errors:
            self.errors[f"{e.api} {e.code}"] += 1
        if rep.abandoned:   # its counts are lost with it: the figures below would be too low
            self.errors["abandoned (deadline)"] += 1
        self.cycles.append({"t": t, "wall": wall, "metrics": r.metric_queries, "kind": kind,
                            "tiers": {k: r.metrics_by_tier.get(k, 0) for k in TIERS},
                            "discovery": r.discovery_calls, "api_calls": r.api_calls,
                            "function_read_at": r.function_read_at})

    @property
    def backfill(self) -> dict[str, Any]:
        return self.cycles[0]

    @property
    def steady(self) -> list[dict[str, Any]]:
        return self.cycles[1:]

    def steady_sum(self, key: str) -> int:
        return sum(c[key] for c in self.steady)

    def steady_tier(self, tier: str) -> int:
        return sum(c["tiers"][tier] for c in self.steady)

    def usd_month(self) -> float:
        """The steady cycles' bill scaled to a 30-day month (one cycle per simulated minute)."""
        span = 60 * len(self.steady)
        return costs.usd(self.steady_sum("metrics"), self.steady_sum("discovery")) * MONTH_S / span


def copy_functions_once() -> None:
    """Let moto copy each function once per benchmark, not once per ListFunctions page.

    For FunctionVersion=ALL (what the collector lists) moto deep-copies every function of the account
    for every call (LambdaStorage.all), and the sandbox answers each 50-function page from such a full
    list (sandbox/lambda_ext.py): one listing of 5,000 functions is 100 pages x 5,000 deep copies,
    about 80 s on this machine, per cycle and strategy. No function is created, changed or deleted
    during this benchmark, so the copies are made once and reused while the account's functions and
    versions stay the same: the same pages, the same answers, the same calls, 4-5 s a listing.
    """
    from moto.awslambda.models import LambdaStorage

    copy_all = LambdaStorage.all
    made: dict[tuple[int, int, int], list[Any]] = {}

    def all_functions(self: Any) -> list[Any]:
        key = (id(self), len(self._functions), sum(len(g["versions"]) for g in self._functions.values()))
        if key not in made:
            made[key] = list(copy_all(self))
        return list(made[key])

    LambdaStorage.all = all_functions  # type: ignore[method-assign]


def reuse_listing_pages(sb: Sandbox) -> None:
    """Answer a ListFunctions page asked before with the same answer (the same bytes), while the
    account's functions stay the same: the collector lists every cycle, twice per simulated minute
    here, and a page of 50 still costs the sandbox a sort of every function."""
    from moto.awslambda.models import lambda_backends

    key_of = ("lambda", "ListFunctions")
    answer = sb._handlers[key_of]
    pages: dict[tuple[Any, ...], Any] = {}

    def list_functions(info: Any) -> Any:
        fns = lambda_backends[info.account][info.region or "us-east-1"]._lambdas._functions
        key = (info.account, info.region, info.qs("FunctionVersion"), info.qs("Marker"), info.qs("MaxItems"),
               len(fns), sum(len(g["versions"]) for g in fns.values()))
        if key not in pages:
            pages[key] = answer(info)
        return pages[key]

    sb._handlers[key_of] = list_functions


def burst_starts(t0: int, run_s: int, n: int) -> list[int]:
    """One burst 15 minutes before the first cycle (under way at the backfill), the rest spread over
    the run, each starting at least 20 minutes before its end (in a run that long) so that it is seen
    in the last hour."""
    starts = [t0 - 15 * 60]
    span = max(run_s // 2, run_s - 20 * 60)
    starts += [t0 + int(span * (k + 0.5) / max(1, n - 1)) for k in range(n - 1)]
    return starts[:n]


# ---------------------------------------------------------------------------------------------
# Comparing two reviews
# ---------------------------------------------------------------------------------------------
STATUS_KEYS = ("status", "metrics_known")


def _leaves(prefix: str, obj: dict[str, Any], out: dict[str, Any]) -> None:
    for k, v in obj.items():
        if k.endswith("_at") or k in ("functions", "groups", "findings", "errors", "tags"):
            continue   # timestamps of the runs are not figures; lists are walked apart
        path = f"{prefix}/{k}"
        if isinstance(v, dict):
            _leaves(path, v, out)
        elif v is None or isinstance(v, (int, float)):   # bools included (stale, config_known)
            out[path] = v
        elif k in STATUS_KEYS:
            out[path] = v


def flatten(rv: review.Review) -> dict[str, Any]:
    """path -> figure for every target, function and group of a review (the JSON `check` prints),
    plus each finding (severity, value, limit) keyed by kind and subject."""
    data = json.loads(rv.to_json())
    out: dict[str, Any] = {"status": data["status"]}
    for t in data["targets"]:
        base = f"{t['account']}/{t['region']}"
        _leaves(base, t, out)
        for f in t["functions"]:
            _leaves(f"{base}/fn:{f['name']}", f, out)
        for g in t["groups"]:
            _leaves(f"{base}/group:{g['kind']}:{g['name']}", g, out)
    for f in data["findings"]:
        key = f"finding:{f['account']}/{f['region']}/{f['kind']}/{f['subject']}"
        n = 2
        while key in out:   # the same kind and subject twice (never expected): keep both
            key, n = f"{key.rsplit('#', 1)[0]}#{n}", n + 1
        out[key] = f"{f['severity']} {f['value']!r} of {f['limit']!r}"
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, list[str]]:
    """(figures compared, differences 'path: all -> activity')."""
    diffs = [f"{p}: {a.get(p, 'absent')!r} -> {b.get(p, 'absent')!r}"
             for p in sorted(a.keys() | b.keys()) if not same(a.get(p, "absent"), b.get(p, "absent"))]
    return len(a.keys() | b.keys()), diffs


def truth_sum(sb: Sandbox, fleet: ActivityFleet, metric: str, name: str, start: int, end: int) -> float:
    s = sb.metrics.series(fleet.truth.account, fleet.truth.region, "AWS/Lambda", metric, (("FunctionName", name),))
    return 0.0 if s is None else math.fsum(s.reduce(start, end, 60, "Sum")[1])


def check_bursts(sb: Sandbox, fleet: ActivityFleet, flat: dict[str, dict[str, Any]], start: int, end: int
                 ) -> list[dict[str, Any]]:
    """Each burst that started in [start, end): its throttles (and async drops) in both reviews
    against what the sandbox holds for the window, and its status."""
    out = []
    base = f"{fleet.truth.account}/{fleet.truth.region}/fn:"
    for b in fleet.truth.bursts:
        if not start <= b.start < end:
            continue
        row: dict[str, Any] = {"function": b.function, "start": b.start, "async": b.is_async, "dlq": b.dlq,
                               "truth_throttles": truth_sum(sb, fleet, "Throttles", b.function, start, end),
                               "truth_dropped": truth_sum(sb, fleet, "AsyncEventsDropped", b.function, start, end)}
        ok = row["truth_throttles"] > 0
        for s in STRATEGIES:
            thr = flat[s].get(base + b.function + "/throttles")
            drop = flat[s].get(base + b.function + "/async_events_dropped")
            status = flat[s].get(base + b.function + "/status")
            row[s] = {"throttles": thr, "async_events_dropped": drop, "status": status}
            ok = ok and thr is not None and same(thr, row["truth_throttles"]) and status == "critical"
            ok = ok and drop is not None and same(drop, row["truth_dropped"])
        row["seen"] = ok
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    n, run_s = args.functions, int(round(args.hours * 3600))
    # the simulated clock: hour-aligned, in the past (the run never reaches the real now)
    t0 = int(time.time() - run_s - 2 * 86400) // 3600 * 3600 + 20 * 60
    n_bursts = args.bursts if args.bursts is not None else 1 + max(1, round(run_s / 3000))
    sb = Sandbox().start()
    if not args.no_listing_cache:
        copy_functions_once()
        reuse_listing_pages(sb)
    try:
        t_build = time.perf_counter()
        fleet = build_activity_fleet(sb, n_functions=n, idle_share=0.85, seed=args.seed, now=t0,
                                     hours=args.history_hours, bursts=burst_starts(t0, run_s, n_bursts))
        sb.metrics.listing_delay = args.listing_delay
        truth = fleet.truth
        print(f"fleet: {n:,} functions ({truth.functions_by_class}), {len(truth.async_functions):,} async, "
              f"{len(truth.dlq):,} with a DLQ, limit {truth.limit:,}; {args.history_hours} h of history before "
              f"the first cycle, {fleet.points:,} sandbox datapoints, built in {time.perf_counter() - t_build:.1f} s")
        for h in range(truth.start, t0 - t0 % 3600, 3600):
            print(f"  idle share in the hour from {time.strftime('%H:%M', time.gmtime(h))}: "
                  f"{fleet.idle_share_in_hour(h):.1%}")
        for b in truth.bursts:
            print(f"  burst: {b.function} from t0{(b.start - t0) / 60:+.0f} min to t0{(b.end - t0) / 60:+.0f} min, "
                  f"reserved {b.reserved}, demand {b.demand:.0f}, {'async, DLQ ' + str(b.dlq) if b.is_async else 'sync'}")
        with tempfile.TemporaryDirectory(prefix="headroom-bench-cost-") as tmp:
            settings = {s: settings_for(sb.endpoint_url, Path(tmp) / f"{s}.db", s) for s in STRATEGIES}
            stores = {s: Store(settings[s].store_path) for s in STRATEGIES}
            tallies = {s: Tally(s) for s in STRATEGIES}
            last_read: float | None = None

            def cycle(t: int) -> bool:
                """One simulated minute: both strategies at t. True when the activity read functions."""
                nonlocal last_read
                fleet.tick(t)
                for s in STRATEGIES:
                    w0 = time.perf_counter()
                    rep = run_cycle(settings[s], stores[s], clock=lambda: t)
                    wall = time.perf_counter() - w0
                    (r,) = rep.results
                    kind = "every"
                    if s == "activity":
                        if r.function_read_at != t:
                            kind = "account only"
                        elif last_read is None or t - last_read >= 300 - 30:
                            kind = "scheduled read"
                        else:
                            kind = "hot read (account throttles)"
                    tallies[s].add(t, rep, wall, kind)
                read = tallies["activity"].cycles[-1]["function_read_at"] == t
                if read:
                    last_read = t
                return read

            wall0 = time.perf_counter()
            t = t0
            cycle(t)
            print(f"first cycle (backfill): all {tallies['all'].backfill['wall']:.1f} s, "
                  f"activity {tallies['activity'].backfill['wall']:.1f} s")
            # every simulated minute until the run's end, then on until the activity reads functions
            # (compared right after a function read: see compare_at below)
            read = False
            while t < t0 + run_s or not read:
                t += 60
                read = cycle(t)
                k = (t - t0) // 60
                if k % 30 == 0 or args.progress:
                    print(f"  t0+{k} min: {time.perf_counter() - wall0:.0f} s so far; last cycle all "
                          f"{tallies['all'].cycles[-1]['wall']:.1f} s, activity "
                          f"{tallies['activity'].cycles[-1]['wall']:.1f} s ({tallies['activity'].cycles[-1]['kind']}, "
                          f"{tallies['activity'].cycles[-1]['metrics']:,} metrics)", flush=True)
            end_t = t
            sim_wall = time.perf_counter() - wall0
            result = report(args, sb, fleet, settings, stores, tallies, t0, end_t, sim_wall)
            # one more minute: between two function reads the activity store lags by design
            t += 60
            hot = cycle(t)
            lag = compare_at(sb, fleet, settings, stores, t, [("last 60 min", 3600)])[0]
            why = ("the account throttles, so the activity strategy read the functions in this minute too" if hot
                   else "the activity store has function series up to its last read, a minute behind, which its "
                   f"function_max_age_seconds ({settings['activity'].collection.function_max_age_seconds} s) allows")
            print(f"\none minute later (not compared above): {lag['differences']} of {lag['compared']} figures "
                  f"differ in the last 60 min: {why}")
            for d in lag["diffs"][:args.show]:
                print(f"    {d}")
            result["between_reads_differences"] = lag["differences"]
            for s in STRATEGIES:
                stores[s].close()
        return result
    finally:
        sb.stop()


def compare_at(sb: Sandbox, fleet: ActivityFleet, settings: dict[str, config.Settings], stores: dict[str, Store],
               now: int, windows: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Both stores reviewed over the same windows at the same moment, figure by figure."""
    out = []
    for label, seconds in windows:
        start, end = review.window(now, seconds)
        flat, took = {}, {}
        for s in STRATEGIES:
            c = settings[s].collection
            w0 = time.perf_counter()
            rv = review.review(stores[s], start, end, settings[s].thresholds, now=now,
                               expected=[(TARGET, "us-east-1")], max_age_s=c.max_age_seconds,
                               function_max_age_s=c.function_max_age_seconds)
            took[s] = time.perf_counter() - w0
            flat[s] = flatten(rv)
        compared, diffs = compare(flat["all"], flat["activity"])
        bursts = check_bursts(sb, fleet, flat, start, end)
        fns = sum(p.endswith("/status") and "/fn:" in p for p in flat["all"])
        out.append({"window": label, "start": start, "end": end, "compared": compared, "differences": len(diffs),
                    "diffs": diffs, "bursts": bursts, "functions": fns, "review_s": took,
                    "status": {s: flat[s]["status"] for s in STRATEGIES},
                    "by_kind": Counter("finding" if p.startswith("finding:") else "group" if "/group:" in p
                                       else "function" if "/fn:" in p else "target" for p in flat["all"])})
    return out


def report(args: argparse.Namespace, sb: Sandbox, fleet: ActivityFleet, settings: dict[str, config.Settings],
           stores: dict[str, Store], tallies: dict[str, Tally], t0: int, end_t: int, sim_wall: float
           ) -> dict[str, Any]:
    n = args.functions
    steady = len(tallies["all"].steady)
    print(f"\nsimulated {steady} minutes after the first cycle (t0 to t0+{(end_t - t0) / 60:.0f} min), "
          f"{2 * (steady + 1)} cycles in {sim_wall:.0f} s of wall time")
    for s in STRATEGIES:
        walls = [c["wall"] for c in tallies[s].steady]
        print(f"  {s:8s}: steady cycle wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}, "
              f"max {max(walls):.2f}), first cycle {tallies[s].backfill['wall']:.1f} s; errors: "
              f"{dict(tallies[s].errors) or 'none'}")

    print("\nwhat each strategy asked CloudWatch for")
    print(f"  {'':34s} {'all':>14s} {'activity':>14s}")

    def line(label: str, a: float, b: float, fmt: str = "{:,.0f}") -> None:
        print(f"  {label:34s} {fmt.format(a):>14s} {fmt.format(b):>14s}")

    ta, tb = tallies["all"], tallies["activity"]
    line("first cycle (backfill): metrics", ta.backfill["metrics"], tb.backfill["metrics"])
    line("first cycle: ListMetrics calls", ta.backfill["discovery"], tb.backfill["discovery"])
    line("first cycle: $", costs.usd(ta.backfill["metrics"], ta.backfill["discovery"]),
         costs.usd(tb.backfill["metrics"], tb.backfill["discovery"]), "{:,.2f}")
    line(f"steady ({steady} cycles): metrics", ta.steady_sum("metrics"), tb.steady_sum("metrics"))
    for tier in TIERS:
        line(f"  ... {tier} tier", ta.steady_tier(tier), tb.steady_tier(tier))
    line("steady: ListMetrics calls", ta.steady_sum("discovery"), tb.steady_sum("discovery"))
    line("steady: metrics per cycle (mean)", ta.steady_sum("metrics") / steady, tb.steady_sum("metrics") / steady,
         "{:,.1f}")
    usd = {s: tallies[s].usd_month() for s in STRATEGIES}
    per_fn = {s: usd[s] / n for s in STRATEGIES}
    line("$ per month (30 d)", usd["all"], usd["activity"], "{:,.2f}")
    line("$ per month per 1,000 functions", per_fn["all"] * 1000, per_fn["activity"] * 1000, "{:,.2f}")
    line("$ per function per month", per_fn["all"], per_fn["activity"], "{:,.4f}")
    ratio = usd["all"] / usd["activity"] if usd["activity"] else math.inf
    print(f"  ratio all / activity: {ratio:.1f}x")

    kinds: dict[str, list[dict[str, Any]]] = {}
    for c in tb.steady:
        kinds.setdefault(c["kind"], []).append(c)
    print("  activity cycles by kind (steady):")
    for kind, cs in sorted(kinds.items()):
        m = sum(c["metrics"] for c in cs)
        print(f"    {kind:30s} {len(cs):4d} cycles, {m:,} metrics ({m / max(1, tb.steady_sum('metrics')):.0%}; "
              f"function tier {sum(c['tiers']['function'] for c in cs):,}, queue {sum(c['tiers']['queue'] for c in cs):,}), "
              f"{sum(c['discovery'] for c in cs):,} ListMetrics calls, "
              f"{statistics.median(c['metrics'] for c in cs):,.0f} metrics per cycle (median)")
    # What a calm month would cost (no account throttling: one function read every 5 minutes, the
    # account's series every minute), from this run's own function reads: a hot read asks what a
    # scheduled read asks (every listed series), only more often.
    reads = [c for c in tb.steady if c["kind"] != "account only"]
    calm_usd = None
    if reads:
        per_read = statistics.median(c["metrics"] for c in reads)
        per_read_calls = statistics.median(c["discovery"] for c in reads)
        cycles_per_read = settings["activity"].collection.function_interval_seconds // 60
        acc = [c["metrics"] for c in tb.steady if c["kind"] == "account only"] or [tb.steady_tier("account") / steady]
        per_min = (per_read + (cycles_per_read - 1) * statistics.mean(acc)) / cycles_per_read
        calm_usd = costs.usd(per_min, per_read_calls / cycles_per_read) * MONTH_S / 60
        print(f"  a function read asks {per_read:,.0f} metrics and {per_read_calls:.0f} ListMetrics calls (median "
              f"of {len(reads)}); {len(reads) / steady * 60:.1f} reads an hour here. A calm month (one read every "
              f"{cycles_per_read} min, the account's series every minute): ${calm_usd:,.2f}, "
              f"${calm_usd / n:.4f} per function")
    share = {s: {tier: tallies[s].steady_tier(tier) / 1000 * costs.PRICE_PER_1000_METRICS * MONTH_S / (60 * steady)
                 for tier in TIERS} for s in STRATEGIES}
    for s in STRATEGIES:
        share[s]["discovery"] = (tallies[s].steady_sum("discovery") / 1000 * costs.PRICE_PER_1000_REQUESTS
                                 * MONTH_S / (60 * steady))
    print("  $ per month by tier: " + "; ".join(
        f"{s}: " + ", ".join(f"{k} {v:,.2f}" for k, v in share[s].items()) for s in STRATEGIES))

    forecast: dict[str, float] = {}
    for s in STRATEGIES:
        fc = costs.cost(stores[s], end_t, settings[s].collection)
        assert fc is not None
        measured = (costs.usd(sum(fc.measured_per_day[k] for k in TIERS), fc.measured_per_day["discovery"]) * 30
                    if fc.measured_per_day else None)
        forecast[s] = fc.monthly_usd
        print(f"  analysis.cost forecast, {s:8s}: ${fc.monthly_usd:,.2f} a month "
              f"(${fc.per_function_month_usd or 0:,.4f} per function) from the latest cycle {fc.last_cycle}; "
              + (f"measured over the last {fc.measured_hours:.1f} h: ${measured:,.2f} a month"
                 if measured is not None else "not an hour measured yet"))

    span = end_t - fleet.truth.start
    windows = [("last 60 min", 3600), (f"simulated period ({(end_t - t0) // 60} min)", end_t - t0),
               (f"since the history starts ({span // 60} min)", span)]
    print(f"\nthe review of both stores at t0+{(end_t - t0) // 60} min, right after an activity function read "
          f"(both stores hold every series up to the same minute; each reviewed with its own settings, as "
          f"`check` would)")
    results = compare_at(sb, fleet, settings, stores, end_t, windows)
    compared = differences = 0
    bursts_seen = bursts_total = 0
    for w in results:
        compared += w["compared"]
        differences += w["differences"]
        print(f"  {w['window']}: {w['compared']:,} figures compared ({dict(w['by_kind'])}), "
              f"{w['differences']} differ; status all {w['status']['all']}, activity {w['status']['activity']}; "
              f"review {w['review_s']['all']:.1f} s / {w['review_s']['activity']:.1f} s")
        for d in w["diffs"][:args.show]:
            print(f"    {d}")
        if len(w["diffs"]) > args.show:
            print(f"    ... and {len(w['diffs']) - args.show} more")
        for b in w["bursts"]:
            bursts_total += 1
            bursts_seen += b["seen"]
            print(f"    burst {b['function']} (from t0{(b['start'] - t0) / 60:+.0f} min): throttles sandbox "
                  f"{b['truth_throttles']:,.0f}, all {b['all']['throttles']}, activity {b['activity']['throttles']}; "
                  f"dropped sandbox {b['truth_dropped']:,.0f}, all {b['all']['async_events_dropped']}, activity "
                  f"{b['activity']['async_events_dropped']}; status {b['all']['status']} / {b['activity']['status']}"
                  f" -> {'seen' if b['seen'] else 'NOT SEEN'}")
    met_cost = per_fn["activity"] <= TARGET_USD_PER_FUNCTION
    print(f"\ntargets: activity ${per_fn['activity']:.4f} per function per month (target <= "
          f"${TARGET_USD_PER_FUNCTION:.2f}, before ${BEFORE_USD_PER_FUNCTION:.2f}; here 'all' "
          f"${per_fn['all']:.2f}): {'met' if met_cost else 'NOT met'}; figures identical: "
          f"{'yes' if differences == 0 else 'NO'} ({differences} of {compared:,} differ); bursts seen in both: "
          f"{bursts_seen} of {bursts_total}")
    return {
        "functions": n, "simulated_minutes": steady, "cycles": steady + 1, "history_hours": args.history_hours,
        "listing_delay_s": args.listing_delay, "bursts": len(fleet.truth.bursts),
        "metrics": {s: tallies[s].steady_sum("metrics") for s in STRATEGIES},
        "metrics_by_tier": {s: {tier: tallies[s].steady_tier(tier) for tier in TIERS} for s in STRATEGIES},
        "metrics_per_cycle": {s: tallies[s].steady_sum("metrics") / steady for s in STRATEGIES},
        "discovery_calls": {s: tallies[s].steady_sum("discovery") for s in STRATEGIES},
        "backfill_metrics": {s: tallies[s].backfill["metrics"] for s in STRATEGIES},
        "backfill_discovery_calls": {s: tallies[s].backfill["discovery"] for s in STRATEGIES},
        "usd_month": {s: round(usd[s], 4) for s in STRATEGIES},
        "usd_per_1000_functions_month": {s: round(per_fn[s] * 1000, 4) for s in STRATEGIES},
        "usd_per_function_month": {s: round(per_fn[s], 6) for s in STRATEGIES},
        "ratio": round(ratio, 3),
        "forecast_monthly_usd": {s: round(forecast[s], 4) for s in STRATEGIES},
        "activity_cycles_by_kind": {k: len(v) for k, v in kinds.items()},
        "usd_per_function_month_calm": None if calm_usd is None else round(calm_usd / n, 6),
        "figures_compared": compared, "differences": differences,
        "differences_by_window": {w["window"]: w["differences"] for w in results},
        "bursts_seen": bursts_seen, "bursts_in_windows": bursts_total,
        "bursts_checked": sorted({b["function"] for w in results for b in w["bursts"]}),
        "bursts_missed": sorted({b["function"] for w in results for b in w["bursts"] if not b["seen"]}),
        "errors": {s: sum(tallies[s].errors.values()) for s in STRATEGIES},
        "cycle_wall_s_median": {s: round(statistics.median(c["wall"] for c in tallies[s].steady), 3)
                                for s in STRATEGIES},
        "wall_s": round(sim_wall, 1),
        "target_usd_per_function_met": met_cost,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--functions", type=int, help="fleet size (default 5000; quick 300)")
    ap.add_argument("--hours", type=float, help="simulated hours of one-minute cycles (default 3; quick 0.5)")
    ap.add_argument("--history-hours", type=int, default=4,
                    help="1-minute history before the first cycle (at least 3: ListMetrics' PT3H; default 4)")
    ap.add_argument("--bursts", type=int,
                    help="bursts on dormant functions: one 15 min before the first cycle, the rest over the run "
                         "(default 1 + one per 50 simulated minutes, at least 2; quick 3)")
    ap.add_argument("--listing-delay", type=int, default=0,
                    help="seconds before ListMetrics names a new series (AWS: up to 900; the sandbox's default 0)")
    ap.add_argument("--no-listing-cache", action="store_true",
                    help="let moto deep-copy every function for every ListFunctions page (quadratic)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--show", type=int, default=20, help="differences printed per window")
    ap.add_argument("--progress", action="store_true", help="a progress line every simulated minute")
    ap.add_argument("--quick", action="store_true", help="smoke test: 150 functions, 20 simulated minutes")
    a = ap.parse_args(argv)
    a.functions = a.functions or (150 if a.quick else 5000)
    a.hours = a.hours or (1 / 3 if a.quick else 3.0)
    if a.quick and a.bursts is None:
        a.bursts = 3
    if a.history_hours < 3:
        ap.error("--history-hours must be at least 3 (the first listing looks 3 hours back)")
    print_machine()
    print(f"cost: {a.functions:,} functions, {a.hours:g} simulated hours, date "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    result = run(a)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
