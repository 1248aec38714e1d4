"""Benchmark: an organisation (issue #11) — 200 accounts x 2 regions x 50 functions, several collectors,
one PostgreSQL store against one SQLite file.

    python -m bench.org                                # the proof: 200 x 2 x 50, collectors 1, 2, 4
    python -m bench.org --quick                        # smoke test: 4 x 2 x 5, collectors 1, 2 (~1 min)
    python -m bench.org --accounts 50 --collectors 1,2 --cycles 3 --runs 3

What it does (every figure printed as measured; the last line is one JSON object):
 1. **The sandbox** (sandbox.server.Sandbox, in this process) gets ACCOUNTS x REGIONS cells of FUNCTIONS
    functions each (sandbox.activity.build_activity_fleet: a mostly idle fleet, 1 hour of 1-minute
    metrics, 2 dead-letter queues per cell). One fleet.toml names every account as a target, read
    through `arn:aws:iam::<account>:role/headroom-read` (sts:AssumeRole per account, as in a real
    organisation).
 2. **Cycles vs collectors**: for n in --collectors, on a new store, n real collector processes
    (`python -m collectors collect --shard i/n`, one-shot) start together for each of --cycles cycles; a
    cycle's time is the slowest process's wall time (process start-up included). The first cycle
    backfills; the later ones are the steady state a 60 s cadence must fit (its default deadline is
    50 s). On PostgreSQL for every n; on SQLite too (one file, its writers take turns).
 3. **Collectors needed for a 60 s cadence**: the fewest n whose steady cycle fits 50 s.
 4. **The same figures**: the review of every store (each backend, each number of collectors) over the
    same 6 hours, ending when the earliest-collected store was last written, every figure compared with
    one collector's PostgreSQL store (bench/cost's flattening; when each collector last tried is not a
    figure).
 5. **Pages on PostgreSQL vs SQLite**: the dashboard (AppTest, as bench/scale) over each store collected
    with one collector: every page cold (every cache cleared) and with the review cached (nav), p50 of
    --runs, 24 h window.

All of it runs on one machine: the sandbox (one Python process answering every call), the collectors
and PostgreSQL share its cores, so the cycle times include the sandbox's own CPU. BENCHMARKS.md §7 says
what that means for the figures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import ROOT, machine, safe_aws_env  # noqa: E402

safe_aws_env()

from sandbox.activity import build_activity_fleet  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1")
ROLE = "headroom-read"
DEADLINE_S = 50          # a 60 s cadence's default deadline (interval - 10 s)
PAGES = ("overview", "triage", "limits", "groups", "function")


def log(msg: str) -> None:
    print(msg, flush=True)


def accounts(n: int) -> list[str]:
    return [f"{300000000000 + i:012d}" for i in range(n)]


def build(sb: Sandbox, n_accounts: int, n_functions: int) -> tuple[float, str]:
    """Every cell's functions and metrics; returns (seconds, a busy function's name for the Function page)."""
    t0 = time.perf_counter()
    name = ""
    for i, acct in enumerate(accounts(n_accounts)):
        for region in REGIONS:
            fleet = build_activity_fleet(sb, n_functions=n_functions, account=acct, region=region, hours=1,
                                         bursts=0, n_queues=2, pin_clock=False, seed=i, async_share=0.2)
            if i == 0 and region == REGIONS[0]:   # the Function page's: a busy one of the first cell
                name = next((n for n, c in zip(fleet.truth.names, fleet.truth.classes) if c == "core"),
                            fleet.truth.names[0])
    return time.perf_counter() - t0, name


def write_config(d: Path, endpoint: str, store: str, n_accounts: int) -> Path:
    """One [[targets]] per account; collection at the defaults but a deadline that never cuts a cycle
    short here (a cut cycle would time the deadline, not the work) and a one-day backfill."""
    lines = ["[store]", store, "[grouping]", "prefix_depth = 1", 'tag_keys = ["team"]', "[collection]",
             "interval_seconds = 3600", "deadline_seconds = 3590", "max_age_seconds = 7200", "backfill_days = 1"]
    for acct in accounts(n_accounts):
        lines += ["[[targets]]", f'name = "acct-{acct}"', f"regions = {json.dumps(list(REGIONS))}",
                  f'role_arn = "arn:aws:iam::{acct}:role/{ROLE}"', f'endpoint_url = "{endpoint}"']
    cfg = d / "fleet.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def cycle(cfg: Path, n: int) -> dict[str, Any]:
    """One cycle by n collectors started together; each one's wall time, CPU and exit code."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    kids0, own0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "collectors", "collect", "--config", str(cfg),
                               "--shard", f"{i}/{n}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(1, n + 1)]
    walls, outs = [0.0] * n, [""] * n

    def wait(i: int) -> None:   # each process's own end, not when the loop got round to it
        outs[i] = procs[i].communicate()[0]
        walls[i] = time.perf_counter() - t0
    waiters = [threading.Thread(target=wait, args=(i,)) for i in range(n)]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join()
    codes = [p.returncode for p in procs]
    for code, out in zip(codes, outs):
        if code not in (0, 1, 2, 3):   # the review's status (3: unknown); a target's errors are checked below
            raise RuntimeError(f"a collector exited {code}:\n{out[-3000:]}")
        if " error(s)" in out and not all(" 0 error(s)" in line for line in out.splitlines() if "error(s)" in line):
            bad = [line for line in out.splitlines() if "error(s)" in line and " 0 error(s)" not in line]
            raise RuntimeError(f"a collector's targets failed: {bad[:5]}")
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": max(walls), "per_process_s": walls,
            "collectors_cpu_s": kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime,
            "sandbox_cpu_s": time.process_time() - own0}


def pg_database(server: str) -> str:
    import psycopg
    name = "headroom_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def collect(d: Path, endpoint: str, store: str, n_accounts: int, ns: list[int], cycles: int,
            label: str) -> tuple[dict[str, Any], dict[int, Path]]:
    out: dict[str, Any] = {}
    cfgs: dict[int, Path] = {}
    for n in ns:
        sub = d / f"{label}-{n}"
        sub.mkdir()
        where = store if store.startswith("url") else f'path = "{sub / "headroom.db"}"'
        if store.startswith("url"):
            where = f'url = "{pg_database(store.split(chr(34))[1])}"'
        cfg = cfgs[n] = write_config(sub, endpoint, where, n_accounts)
        runs = []
        for k in range(cycles):
            r = cycle(cfg, n)
            runs.append(r)
            log(f"  {label} {n} collector(s), cycle {k + 1}: {r['wall_s']:.1f} s "
                f"(each: {', '.join(f'{w:.1f}' for w in r['per_process_s'])}; CPU: collectors "
                f"{r['collectors_cpu_s']:.1f} s, sandbox {r['sandbox_cpu_s']:.1f} s)")
        steady = runs[1:] or runs[:1]
        out[str(n)] = {"first_s": runs[0]["wall_s"], "steady_s": statistics.median(r["wall_s"] for r in steady),
                       "steady_collectors_cpu_s": statistics.median(r["collectors_cpu_s"] for r in steady),
                       "steady_sandbox_cpu_s": statistics.median(r["sandbox_cpu_s"] for r in steady), "cycles": runs}
    return out, cfgs


COMPARE_S = 6 * 3600   # the window compared: inside what every store covers (each backfilled a day)


def figures(cfg: Path, now: float) -> dict[str, Any]:
    """Every figure of the store's review over the COMPARE_S before `now` (bench/cost's flattening:
    what `check --format json` prints, timestamps left out)."""
    from analysis import review
    from bench.cost import flatten
    from collectors import config
    from collectors.store import Store
    s = config.load(cfg)
    store = Store(s.store, readonly=True)
    try:
        start, end = review.window(now, COMPARE_S)
        flat = flatten(review.review(store, start, end, s.thresholds, now=now, expected=s.expected(),
                                     max_age_s=s.collection.max_age_seconds,
                                     function_max_age_s=s.collection.function_max_age_seconds))
    finally:
        store.close()
    # when each store's collector last tried, succeeded and collected up to differs by design: clocks, not figures
    return {k: v for k, v in flat.items() if k.rsplit("/", 1)[-1] not in ("last_attempt", "last_success", "data_end")}


def compare_stores(d: Path) -> dict[str, Any]:
    """The review of every kept store against the one collector's PostgreSQL store, at one moment: the
    same figures whichever backend and however many collectors wrote them."""
    from bench.cost import compare
    from collectors import config
    from collectors.store import Store
    cfgs = sorted(d.glob("*-*/fleet.toml"))
    # a moment every store has collected up to: the stores were collected one after the other
    ends = []
    for cfg in cfgs:
        st = Store(config.load(cfg).store, readonly=True)
        ends.append(st.cycle_state()[1] or 0.0)
        st.close()
    now = min(ends) - 120
    base = d / "postgresql-1" / "fleet.toml"
    want = figures(base, now)
    out: dict[str, Any] = {}
    for cfg in cfgs:
        if cfg == base:
            continue
        n, diffs = compare(want, figures(cfg, now))
        out[cfg.parent.name] = {"figures": n, "differ": len(diffs), "first": diffs[:5]}
        log(f"  {cfg.parent.name} vs postgresql-1: {n:,} figures compared, {len(diffs)} differ"
            + (f" (e.g. {diffs[0]})" if diffs else ""))
    return out


def pages(cfg: Path, fn_account: str, fn: str, runs: int) -> dict[str, dict[str, float]]:
    import logging

    from bench import scale
    logging.getLogger("streamlit").setLevel(logging.ERROR)   # AppTest's "no runtime" notices, per page load

    class OrgPages(scale.Pages):
        def params(self, page: str, window: str) -> dict[str, str]:
            qp = {"window": window}
            if page == "function":
                qp.update(account=fn_account, region=REGIONS[0], fn=fn)
            return qp
    p = OrgPages(cfg, time.time(), fn)
    out: dict[str, dict[str, float]] = {}
    for page in PAGES:
        got = [p.once(page, "24h") for _ in range(runs)]
        out[page] = {k: statistics.median(g[k] for g in got) for k in got[0]}
        log(f"  {page}: " + ", ".join(f"{k} {v:.2f} s" for k, v in out[page].items()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--functions", type=int, default=50, help="per account and region")
    ap.add_argument("--collectors", default="1,2,4")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3, help="page loads per page and store")
    ap.add_argument("--pg-url", default=os.environ.get("HEADROOM_TEST_PG_URL"),
                    help="a PostgreSQL server whose user may CREATE DATABASE (default: $HEADROOM_TEST_PG_URL)")
    ap.add_argument("--sqlite-collectors", default="1", help="collector counts to run on SQLite too")
    ap.add_argument("--sqlite-cycles", type=int, default=2, help="cycles on SQLite (its store is for the pages)")
    ap.add_argument("--quick", action="store_true", help="4 accounts x 2 regions x 5 functions, collectors 1,2")
    ap.add_argument("--keep", metavar="DIR", help="keep the stores' configs (and SQLite files) in DIR (the "
                    "PostgreSQL databases are kept anyway, named in the configs)")
    ap.add_argument("--compare", metavar="DIR", help="only compare the reviews of the stores kept in DIR (--keep)")
    ap.add_argument("--pages", metavar="DIR", help="only time the pages again over the stores kept in DIR (--keep)")
    a = ap.parse_args(argv)
    if a.compare:
        print(json.dumps(compare_stores(Path(a.compare))))
        return 0
    if a.pages:   # the page figures again on kept stores (after a dashboard change), no collection
        from collectors import config
        from collectors.store import Store
        d, first = Path(a.pages), accounts(1)[0]
        out: dict[str, Any] = {}
        for label in ("postgresql", "sqlite"):
            cfg = d / f"{label}-1" / "fleet.toml"
            st = Store(config.load(cfg).store, readonly=True)
            fn = st.function_names(first, REGIONS[0])[0]
            st.close()
            log(f"pages on {label} (24 h, p50 of {a.runs}):")
            out[label] = pages(cfg, first, fn, a.runs)
        print(json.dumps({"pages_p50_s": out}))
        return 0
    if a.quick:
        a.accounts, a.functions, a.collectors, a.cycles, a.runs, a.sqlite_collectors = 4, 5, "1,2", 2, 1, "1"
    if not a.pg_url:
        ap.error("--pg-url (or HEADROOM_TEST_PG_URL) is required: a PostgreSQL server to create the stores on")
    ns = [int(x) for x in a.collectors.split(",")]
    lite_ns = [int(x) for x in a.sqlite_collectors.split(",") if x]
    m = machine()
    log(f"machine: {m['nproc']} CPU ({m['cpu']}), {m['ram']}, Python {m['python']}, SQLite {m['sqlite']}")
    result: dict[str, Any] = {"accounts": a.accounts, "regions": len(REGIONS), "functions_per_cell": a.functions,
                              "functions": a.accounts * len(REGIONS) * a.functions, "machine": m}
    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="headroom-bench-org-") as tmp:
        d = Path(a.keep or tmp)
        d.mkdir(parents=True, exist_ok=True)
        build_s, fn = build(sb, a.accounts, a.functions)
        log(f"sandbox: {a.accounts} accounts x {len(REGIONS)} regions x {a.functions} functions "
            f"({result['functions']:,}) built in {build_s:.1f} s")
        log("cycles on PostgreSQL:")
        result["postgresql"], pg_cfgs = collect(d, sb.endpoint_url, f'url = "{a.pg_url}"', a.accounts, ns,
                                                a.cycles, "postgresql")
        log("cycles on SQLite:")
        result["sqlite"], lite_cfgs = collect(d, sb.endpoint_url, "path", a.accounts, lite_ns, a.sqlite_cycles,
                                              "sqlite")
        fits = [n for n in ns if result["postgresql"][str(n)]["steady_s"] <= DEADLINE_S]
        result["collectors_for_60s"] = min(fits) if fits else None
        # What the collectors' own work needs, each on a core of its own, with AWS answering (not a
        # sandbox sharing these cores): their CPU-seconds per steady cycle over the 50 s deadline.
        cpu = result["postgresql"][str(ns[0])]["steady_collectors_cpu_s"]
        result["collectors_for_60s_by_cpu"] = max(1, math.ceil(cpu / DEADLINE_S))
        log(f"collectors needed for a 60 s cadence (steady cycle <= {DEADLINE_S} s) on this machine: "
            f"{result['collectors_for_60s'] if fits else f'more than {max(ns)}'}; by the collectors' own CPU "
            f"({cpu:.1f} CPU-s a steady cycle): {result['collectors_for_60s_by_cpu']}")
        log("the same figures from every store (the review of the same 6 hours):")
        result["same_figures"] = compare_stores(d)
        first = accounts(a.accounts)[0]
        result["pages_p50_s"] = {}
        for label, cfgs in (("postgresql", pg_cfgs), ("sqlite", lite_cfgs)):
            if 1 in cfgs:
                log(f"pages on {label} (24 h, p50 of {a.runs}):")
                result["pages_p50_s"][label] = pages(cfgs[1], first, fn, a.runs)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
