"""Benchmark: one collection cycle (collectors.pipeline.run_cycle) over a large fleet in the sandbox.

    python -m bench.collect_cycle            # full: fleets of 1,000 and 2,000 functions
    python -m bench.collect_cycle --quick    # smoke test: 150 functions, < 30 s
    python -m bench.collect_cycle --sizes 500,2000 --backfills 3 --steady 10

For each fleet size N, in one account and region of the local AWS (sandbox.server.Sandbox):
  * the fleet is created through boto3 over HTTP (the real API path: create_function with tags and a
    DeadLetterConfig, put_function_concurrency, put_function_event_invoke_config, publish_version +
    create_alias + put_provisioned_concurrency_config), and timed;
  * a day (plus the simulated hours the cycles run over) of sparse 1-minute metric history is loaded
    straight into the sandbox's CloudWatch store (MetricStore.load, no HTTP);
  * the first cycle (backfill: 7 days at 1 hour, 24 h at 1 minute) is run `--backfills` times, each on
    a fresh SQLite store;
  * then, on the last store, a catch-up cycle one hour later (every function's details are then due),
    and `--steady` steady-state cycles 60 s apart. The clock is simulated (run_cycle's `clock`), so an
    hour passes instantly; every API call still goes over HTTP to the sandbox.

Per cycle it prints wall time, API calls (the sandbox's request log and TargetResult.api_calls),
per-function calls, GetMetricData calls and metrics requested, points written, the client-side time
spent per API operation, and finally what N = 5,000 costs (calls, metrics, $ per month at 60 s).
"""
from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import fmt, print_machine, safe_aws_env  # noqa: E402

safe_aws_env()

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from collectors import config  # noqa: E402
from collectors.catalogue import CATALOGUE  # noqa: E402
from collectors.pipeline import run_cycle  # noqa: E402
from collectors.sessions import TargetSession  # noqa: E402
from collectors.store import Store  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

ACCOUNT, REGION = "123456789012", "us-east-1"
TEAMS = ("payments", "orders", "search", "identity", "inventory", "comms", "reports", "media", "billing",
         "ledger", "fraud", "shipping", "pricing", "catalog", "ads", "growth", "mobile", "web", "data", "ops")
N_QUEUES = 10
PRICE_PER_1000_METRICS = 0.01
MONTH_S = 30 * 86400
DETAIL_OPS = ("GetFunctionConcurrency", "ListProvisionedConcurrencyConfigs", "ListFunctionEventInvokeConfigs")
LIST_PAGE = 50        # ListFunctions' MaxItems limit (the sandbox enforces it as AWS does)
TAG_PAGE = 100        # GetResources
GMD_MAX = 500         # queries per GetMetricData


# ---------------------------------------------------------------------------------------------
# The fleet
# ---------------------------------------------------------------------------------------------
class Fleet:
    """What was created, so the benchmark can predict the counts it should see."""

    def __init__(self, n: int):
        self.n = n
        self.names = [f"{TEAMS[i % len(TEAMS)]}-svc{i // len(TEAMS) % 50}-fn{i}" for i in range(n)]
        self.reserved = {name: 5 + i % 20 for i, name in enumerate(self.names) if i % 20 == 3}      # 5 %
        self.dlq = {name: f"dlq-{i // 10 % N_QUEUES}" for i, name in enumerate(self.names) if i % 10 == 1}  # 10 %
        self.on_failure = {name: f"dlq-{i % N_QUEUES}" for i, name in enumerate(self.names) if i % 33 == 2}
        self.provisioned = {name: 5 for i, name in enumerate(self.names) if i % 400 == 5}  # alias "live"
        self.tagged = {name for i, name in enumerate(self.names) if i % 10 != 9}           # 90 % tagged
        self.busy = {name for i, name in enumerate(self.names) if i % 7 == 0}              # ~14 % busy
        self.versions = len(self.provisioned)  # one published version each

    def series(self) -> int:
        """GetMetricData queries per window the collector should plan."""
        per_fn = sum(m.scope == "function" for m in CATALOGUE)
        per_alias = sum(m.scope == "alias" for m in CATALOGUE)
        per_q = sum(m.scope == "queue" for m in CATALOGUE)
        per_acct = sum(m.scope == "account" for m in CATALOGUE)
        return per_acct + per_fn * self.n + per_alias * len(self.provisioned) + per_q * N_QUEUES


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", "def h(event, context):\n    return 1\n")
    return buf.getvalue()


def build_fleet(sb: Sandbox, fleet: Fleet) -> dict[str, float]:
    """Create the fleet through boto3 over HTTP; returns timings."""
    lam = boto3.client("lambda", endpoint_url=sb.endpoint_url, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=sb.endpoint_url, region_name=REGION)
    iam = boto3.client("iam", endpoint_url=sb.endpoint_url, region_name=REGION)
    sb.set_account_limits(ACCOUNT, REGION, concurrent_executions=max(1000, fleet.n))
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {}
    for q in range(N_QUEUES):
        url = sqs.create_queue(QueueName=f"dlq-{q}")["QueueUrl"]
        arns[f"dlq-{q}"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq-{q}"
        for i in range(q % 4):
            sqs.send_message(QueueUrl=url, MessageBody=f"failed {i}")
    code = _zip()
    t0 = time.perf_counter()
    for i, name in enumerate(fleet.names):
        extra = {"DeadLetterConfig": {"TargetArn": arns[fleet.dlq[name]]}} if name in fleet.dlq else {}
        tags = {"team": TEAMS[i % len(TEAMS)], "env": "prod"} if name in fleet.tagged else {}
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="h.h",
                            Code={"ZipFile": code}, Tags=tags, MemorySize=256, **extra)
    t_create = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name, r in fleet.reserved.items():
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=r)
    for name, queue in fleet.on_failure.items():
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={
            "OnFailure": {"Destination": arns[queue]}})
    for name, p in fleet.provisioned.items():
        v = lam.publish_version(FunctionName=name)["Version"]
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                               ProvisionedConcurrentExecutions=p)
    t_extra = time.perf_counter() - t0
    return {"create_functions_s": t_create, "create_per_s": fleet.n / t_create, "extras_s": t_extra}


def load_metrics(sb: Sandbox, fleet: Fleet, start: int, end: int, seed: int = 7) -> int:
    """Sparse 1-minute history in [start, end): busy functions every minute, the rest ~3 % of minutes."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(start, end, 60, dtype=np.int64)
    m = len(minutes)
    ms = sb.metrics
    L = "AWS/Lambda"
    total = 0

    def put(metric, dims, ts, vals, ns=L, counts=None, mins=None, maxs=None):
        nonlocal total
        if len(ts) == 0:
            return
        counts = np.ones(len(ts)) if counts is None else counts
        ms.load(ACCOUNT, REGION, ns, metric, dims, ts.tolist(), vals.tolist(), counts.tolist(),
                (vals / counts if mins is None else mins).tolist(), (vals / counts if maxs is None else maxs).tolist())
        total += len(ts)

    acct_conc = np.zeros(m)
    for i, name in enumerate(fleet.names):
        active = np.ones(m, bool) if name in fleet.busy else rng.random(m) < 0.03
        ts = minutes[active] + 7          # a datapoint inside the minute
        k = len(ts)
        if not k:
            continue
        inv = rng.poisson(40 if name in fleet.busy else 3, k).astype(float) + 1
        conc = np.maximum(1, np.round(inv / 10 + rng.random(k) * 3))
        acct_conc[active] += conc
        dur = rng.gamma(2.0, 60.0, k) + 5
        d = {"FunctionName": name}
        put("Invocations", d, ts, inv)
        put("ConcurrentExecutions", d, ts, conc)
        put("Duration", d, ts, dur * inv, counts=inv, mins=dur * 0.3, maxs=dur * 2.5)
        err = rng.random(k) < 0.05
        put("Errors", d, ts[err], np.ones(int(err.sum())))
        if i % 50 == 0:
            thr = rng.random(k) < 0.02
            put("Throttles", d, ts[thr], rng.integers(1, 50, int(thr.sum())).astype(float))
        if i % 5 == 1:  # async functions
            put("AsyncEventsReceived", d, ts, inv)
            put("AsyncEventAge", d, ts, rng.gamma(2.0, 50.0, k))
            if name in fleet.dlq or name in fleet.on_failure:
                drop = rng.random(k) < 0.01
                put("AsyncEventsDropped", d, ts[drop], np.ones(int(drop.sum())))
        if name in fleet.provisioned:
            da = {"FunctionName": name, "Resource": f"{name}:live"}
            put("ProvisionedConcurrentExecutions", da, ts, np.minimum(conc, 5))
            put("ProvisionedConcurrencyUtilization", da, ts, np.minimum(conc, 5) / 5)
            put("ProvisionedConcurrencySpilloverInvocations", da, ts[conc > 5], conc[conc > 5])
    all_ts = minutes + 7
    put("ConcurrentExecutions", None, all_ts, acct_conc)
    put("UnreservedConcurrentExecutions", None, all_ts, acct_conc)
    put("ClaimedAccountConcurrency", None, all_ts, acct_conc + sum(fleet.reserved.values()))
    for q in range(N_QUEUES):
        put("ApproximateNumberOfMessagesVisible", {"QueueName": f"dlq-{q}"}, all_ts,
            np.full(m, float(q % 4)), ns="AWS/SQS")
    return total


# ---------------------------------------------------------------------------------------------
# Measuring a cycle
# ---------------------------------------------------------------------------------------------
class Timing:
    """Client-side time per API operation (summed over threads: time in calls, not wall time)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.lock = threading.Lock()

    def before(self, context=None, **_):
        if context is not None:
            context["_bench_t0"] = time.perf_counter()

    def after(self, model=None, context=None, **_):
        t0 = (context or {}).get("_bench_t0")
        if t0 is not None:
            with self.lock:
                self.seconds[model.name] += time.perf_counter() - t0


def timed_factory(timing: Timing):
    class TimedSession(TargetSession):
        def client(self, service):
            new = service not in self._clients
            c = super().client(service)
            if new:
                c.meta.events.register("before-call", timing.before)
                c.meta.events.register("after-call", timing.after)
            return c
    return TimedSession


def settings_for(endpoint: str, store_path: Path):
    return config.parse({
        "store": {"path": str(store_path)},
        "grouping": {"prefix_depth": 1, "tag_keys": ["team"]},
        "targets": [{"name": "prod", "regions": [REGION], "endpoint_url": endpoint}],
    })


def one_cycle(sb: Sandbox, settings, store: Store, now: float) -> dict:
    sb.request_log.clear()
    timing = Timing()
    t0 = time.perf_counter()
    rep = run_cycle(settings, store, session_factory=timed_factory(timing), clock=lambda: now)
    wall = time.perf_counter() - t0
    log = Counter(op for _, op, _, _ in sb.request_log)
    (r,) = rep.results
    assert not r.errors, r.errors
    return {
        "wall": wall, "http_calls": sum(log.values()), "api_calls": r.api_calls, "log": log,
        "detail_calls": sum(log[o] for o in DETAIL_OPS), "detail_functions": log["GetFunctionConcurrency"],
        "gmd_calls": log["GetMetricData"], "metrics": r.metric_queries, "series": r.series,
        "points": len(r.points), "functions": len(r.functions or []), "op_seconds": dict(timing.seconds),
        "windows": len(r.coverage),
    }


def show_cycle(label: str, cycles: list[dict]) -> None:
    c = cycles[-1]
    print(f"  {label}: wall {fmt([x['wall'] for x in cycles])}")
    print(f"    HTTP requests {c['http_calls']} (TargetResult.api_calls {c['api_calls']}); per-function calls "
          f"{c['detail_calls']} for {c['detail_functions']} functions; GetMetricData {c['gmd_calls']} calls, "
          f"{c['metrics']:,} metrics requested ({c['series']:,} series x {c['windows']} window(s)); "
          f"{c['points']:,} points written")
    ops = ", ".join(f"{k} {v}" for k, v in sorted(c["log"].items(), key=lambda kv: -kv[1]))
    print(f"    calls by operation: {ops}")
    secs = defaultdict(list)
    for x in cycles:
        for k, v in x["op_seconds"].items():
            secs[k].append(v)
    top = sorted(((statistics.median(v), k) for k, v in secs.items()), reverse=True)[:5]
    print("    client time in calls (median): " + ", ".join(f"{k} {s:.2f} s" for s, k in top))


def run_size(sb: Sandbox, n: int, backfills: int, steady: int, tmp: Path) -> dict:
    sb.reset()
    fleet = Fleet(n)
    print(f"\n== N = {n:,} functions ==")
    build = build_fleet(sb, fleet)
    print(f"  fleet via boto3/HTTP: {n:,} create_function in {build['create_functions_s']:.1f} s "
          f"({build['create_per_s']:.0f}/s); reserved/destinations/provisioned in {build['extras_s']:.1f} s")
    now0 = int(time.time()) // 3600 * 3600 - 3 * 3600     # simulated cycles run in the past 3 hours
    t0 = time.perf_counter()
    pts = load_metrics(sb, fleet, now0 - 86400, now0 + 3600 + (steady + 2) * 60)
    print(f"  metric history: {pts:,} sandbox datapoints (a day + the simulated hour) in "
          f"{time.perf_counter() - t0:.1f} s (MetricStore.load, no HTTP)")

    first = []
    for b in range(backfills):
        path = tmp / f"n{n}-b{b}.db"
        settings = settings_for(sb.endpoint_url, path)
        store = Store(path)
        first.append(one_cycle(sb, settings, store, now0))
        if b < backfills - 1:
            store.close()
    show_cycle("first cycle (backfill)", first)
    catch = one_cycle(sb, settings, store, now0 + 3600)
    show_cycle("catch-up one hour later", [catch])
    steady_cycles = [one_cycle(sb, settings, store, now0 + 3600 + 60 * k) for k in range(1, steady + 1)]
    show_cycle(f"steady state ({steady} cycles, 60 s apart)", steady_cycles)
    expect = math.ceil(n * 60 / 3600)
    got = [c["detail_functions"] for c in steady_cycles]
    print(f"    spreading: functions re-read per steady cycle {sorted(set(got))} (expected ceil(N x 60 / 3600) "
          f"= {expect}), {3 * expect} calls")
    size_mb = path.stat().st_size / 1e6
    print(f"  store after 1 backfill + {steady + 1} cycles: {size_mb:.1f} MB, {store.stats()}")
    store.close()
    return {"n": n, "fleet": fleet, "build": build, "first": first, "catch": catch, "steady": steady_cycles}


# ---------------------------------------------------------------------------------------------
# Extrapolation
# ---------------------------------------------------------------------------------------------
def model_calls(n: int, versions: int, queues: int, aliases: int, per_fn: float = 12.0) -> dict[str, float]:
    """Steady-state calls per cycle predicted from the collector's algorithm (AWS page sizes).

    per_fn: GetMetricData metrics per function (12 when every function metric is asked for every function;
    fewer when the plan skips DLQ/destination metrics for functions without one: measured, see extrapolate).
    """
    detail_fns = math.ceil(n * 60 / 3600)
    series = 3 + round(per_fn * n) + 3 * aliases + 2 * queues
    fixed = {"sts": 1, "ListFunctions": math.ceil((n + versions) / LIST_PAGE), "GetResources": math.ceil(n / TAG_PAGE),
             "GetAccountSettings": 1, "GetServiceQuota": 2, "SQS": 2 * queues}
    gmd = math.ceil(series / GMD_MAX)   # one 11-minute window: far under 100,800 datapoints per call
    return {"fixed": sum(fixed.values()), "detail": 3 * detail_fns, "detail_fns": detail_fns, "gmd": gmd,
            "series": series, "total": sum(fixed.values()) + 3 * detail_fns + gmd, **fixed}


def extrapolate(results: list[dict]) -> None:
    print("\n== What N = 5,000 would cost ==")
    big = results[-1]
    per_fn = (big["steady"][-1]["series"] - 3 - 3 * len(big["fleet"].provisioned) - 2 * N_QUEUES) / big["n"]
    print(f"  GetMetricData metrics per function measured on this fleet: {per_fn:.2f}")
    for r in results:
        f, c = r["fleet"], r["steady"][-1]
        m = model_calls(f.n, f.versions, N_QUEUES, len(f.provisioned), per_fn)
        print(f"  model check at N={f.n:,}: predicted {m['total']} calls/steady cycle "
              f"({m['detail']} per-function, {m['gmd']} GetMetricData, {m['series']:,} metrics); "
              f"measured {c['http_calls']} ({c['detail_calls']} per-function, {c['gmd_calls']} GetMetricData, "
              f"{c['metrics']:,} metrics)")
    n = 5000
    m = model_calls(n, versions=n // 400, queues=N_QUEUES, aliases=n // 400, per_fn=per_fn)
    cycles = MONTH_S / 60
    metrics_month = m["series"] * cycles
    print(f"  N=5,000 steady cycle: {m['total']} calls = {m['fixed']} fixed (ListFunctions {m['ListFunctions']} pages, "
          f"GetResources {m['GetResources']} pages, ...) + {m['detail']} per-function ({m['detail_fns']} functions x 3) "
          f"+ {m['gmd']} GetMetricData")
    print(f"  GetMetricData: {m['series']:,} metrics per cycle -> {metrics_month / 1e9:.2f} billion per 30-day month at "
          f"60 s = ${metrics_month / 1000 * PRICE_PER_1000_METRICS:,.0f}/month "
          f"(at 300 s: ${metrics_month / 5 / 1000 * PRICE_PER_1000_METRICS:,.0f}; "
          f"only the 3 account metrics + DLQs at 60 s: "
          f"${(3 + 2 * N_QUEUES) * cycles / 1000 * PRICE_PER_1000_METRICS:,.2f})")
    b = model_calls(n, n // 400, N_QUEUES, n // 400, per_fn)
    first_gmd = 2 * b["gmd"]  # two windows (hourly + minute); paging adds calls where > 100,800 datapoints
    print(f"  first cycle (backfill) at N=5,000: {3 * n} per-function calls + {first_gmd}+ GetMetricData calls "
          f"({2 * b['series']:,} metrics, ${2 * b['series'] / 1000 * PRICE_PER_1000_METRICS:.2f})")
    if len(results) >= 2:
        xs = [r["n"] for r in results]
        for label, key in (("steady", "steady"), ("first", "first")):
            ys = [statistics.median(c["wall"] for c in r[key]) for r in results]
            slope = (ys[-1] - ys[0]) / (xs[-1] - xs[0])
            print(f"  {label} cycle wall time, linear through N={xs[0]:,} and N={xs[-1]:,}: "
                  f"{ys[0]:.2f} s -> {ys[-1]:.2f} s, {slope * 1000:.2f} s per 1,000 functions; "
                  f"N=5,000 ~ {ys[-1] + slope * (n - xs[-1]):.1f} s against the sandbox")
        for r in results:
            lf = [c["op_seconds"].get("ListFunctions", 0.0) for c in r["steady"]]
            wall = [c["wall"] for c in r["steady"]]
            print(f"    N={r['n']:,}: ListFunctions takes {statistics.median(lf):.2f} s of a {statistics.median(wall):.2f} s "
                  f"steady cycle (sandbox-side cost: it rebuilds every configuration for each 50-item page)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: one small fleet, few repetitions")
    ap.add_argument("--sizes", help="comma-separated fleet sizes (default 1000,2000; quick 150)")
    ap.add_argument("--backfills", type=int, help="first cycles to repeat, each on a fresh store (default 3; quick 1)")
    ap.add_argument("--steady", type=int, help="steady-state cycles (default 10; quick 3)")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in (a.sizes or ("150" if a.quick else "1000,2000")).split(",")]
    backfills = a.backfills or (1 if a.quick else 3)
    steady = a.steady or (3 if a.quick else 10)
    print_machine()
    print(f"collect_cycle: sizes {sizes}, {backfills} backfill(s), {steady} steady cycles; "
          f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    t_all = time.perf_counter()
    sb = Sandbox().start()
    try:
        with tempfile.TemporaryDirectory(prefix="headroom-bench-") as tmp:
            results = [run_size(sb, n, backfills, steady, Path(tmp)) for n in sizes]
    finally:
        sb.stop()
    extrapolate(results)
    print(f"\ntotal benchmark time {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
