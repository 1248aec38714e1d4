"""`python -m collectors collect | check | iam-policy`: the library raises, this module explains."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from . import alerts, config, iam
from . import leases as lease
from analysis import review
from analysis import cost as costs
from .pipeline import CycleReport, run_cycle
from .store import DB_ERRORS, STORE_FAILURES, Store, StoreError

EXIT = {"ok": 0, "warn": 1, "critical": 2, "unknown": 3}
EXIT_ERROR = 3


def parse_window(text: str) -> int:
    """'90m', '24h', '7d', '2w' -> seconds."""
    seconds = config.parse_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"window {text!r}: use a number and a unit, e.g. 90m, 24h, 7d, 2w")
    return seconds


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}{unit}" if isinstance(v, int) else f"{v:,.1f}{unit}"


def _size(v: float | None) -> str:
    """Bytes in the unit that shows them (as dashboard/fmt.size: MB under 1 GB, never "0.0 GB")."""
    if v is None:
        return "unknown"
    gb, mb = 1024 ** 3, 1024 ** 2
    return f"{v / gb:,.1f} GB" if v >= gb else f"{v / mb:,.1f} MB" if v >= mb else f"{v / 1024:,.0f} KB"


def _share(v: float | None, limit: float | None) -> str:
    """v of limit as a percentage: one decimal under 10 %, "< 0.1 %" for a small non-zero share."""
    if v is None or not limit:
        return "unknown"
    p = 100 * v / limit
    return "0 %" if p == 0 else "< 0.1 %" if p < 0.1 else f"{p:.1f} %" if p < 10 else f"{p:.0f} %"


def _target_line(r: Any) -> str:
    if r.region == config.DISCOVERY_REGION:
        return f"{r.target}: organization discovery " + (
            f"failed: {r.errors[0].api}: {r.errors[0].code}" if r.errors else "ok")
    if r.errors and all(e.source == "organization" for e in r.errors):
        return f"{r.target} {r.region}: not collected ({r.errors[0].code})"
    if r.account is None and r.deadline_hit:
        return f"{r.target} {r.region}: abandoned at the cycle's deadline (a call hung or AWS is slow)"
    if r.account is None:
        return f"{r.target} {r.region}: not collected ({r.errors[0].code}), {r.finished_at - r.started_at:.1f} s"
    who = f"{r.target} {r.region} {r.account}"
    fns = "unknown number of" if r.functions is None else f"{len(r.functions):,}"
    errs = f"{len(r.errors)} error(s)" if r.errors else "ok"
    return (f"{who}: {fns} functions, {r.series:,} series, {r.api_calls:,} API calls, "
            f"{r.metric_queries:,} metrics requested, {errs}, {r.finished_at - r.started_at:.1f} s")


def _freshness(t: review.TargetReview) -> str:
    h = t.health
    if h is None or h.data_end is None:
        return ", no data yet"
    return f", data up to {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(h.data_end))}" + \
        (" — STALE" if h.stale else "")


def _summary(report: CycleReport, bill: costs.Cost | None, strategy: str) -> list[str]:
    lines = []
    for r, e in report.errors:
        lines.append(f"  ERROR {r.target} {r.region} {e.api}: {e.code}: {e.message}")
    metrics = sum(r.metric_queries for r in report.results)
    lines.append(f"cycle {report.cycle_id}: {len(report.results)} target region(s), {len(report.errors)} error(s), "
                 f"{metrics:,} metrics requested, {report.finished_at - report.started_at:.1f} s")
    if bill is not None:
        lines.extend(cost_lines(bill, strategy))
    return lines


def cost_lines(bill: costs.Cost, strategy: str) -> list[str]:
    """The CloudWatch bill: this cycle, per day and per month at the current settings, by tier."""
    tiers = ", ".join(f"{t} {bill.last_cycle[t]:,}" for t in costs.TIERS)
    day = ", ".join(f"{t} {bill.per_day[t]:,.0f}" for t in costs.TIERS)
    per_fn = "" if bill.per_function_month_usd is None else \
        f", ${bill.per_function_month_usd:,.3f} per function ({bill.functions:,} functions)"
    out = [f"  cost          this cycle: metrics {tiers}; ListMetrics calls {bill.last_cycle['discovery']:,}",
           f"                per day at these settings: metrics {day}; ListMetrics calls "
           f"{bill.per_day['discovery']:,.0f}",
           f"                forecast ${bill.monthly_usd:,.2f}/month{per_fn} (metrics_strategy = \"{strategy}\")"]
    if bill.measured_per_day is not None:
        m = bill.measured_per_day
        out.append(f"                asked over the last {bill.measured_hours:,.0f} h: "
                   f"{sum(m[t] for t in costs.TIERS):,.0f} metrics and {m['discovery']:,.0f} ListMetrics calls per day "
                   f"(${costs.usd(sum(m[t] for t in costs.TIERS), m['discovery']) * 30:,.2f}/month)")
    return out


def after_cycle(settings: config.Settings, store: Store, report: CycleReport, exporter: Any = None,
                leases: lease.Leases | None = None) -> bool:
    """Alerts out and the /metrics snapshot after a cycle; True when every alert was delivered.
    A failure here is reported and tried again next cycle, never the end of the collector.
    With `leases` (several collectors on the store), only the holder of the alerts lease sends them."""
    delivered = True
    try:
        if exporter is not None:
            exporter.cycle_done(report.results, report.started_at, report.finished_at)
            exporter.update(store)
        if settings.alerts and leases is not None and not leases.alerts():
            print("alerts  sent by another collector on this store (it holds the alerts lease)", flush=True)
        elif settings.alerts:
            sent = alerts.run(settings, store)
            for line in sent.lines():
                print(line, flush=True)
            delivered = not sent.failed
    except STORE_FAILURES as e:
        print(f"ERROR alerts and metrics could not read the store this cycle: {e}", file=sys.stderr, flush=True)
        return False
    return delivered


def _assign(settings: config.Settings, args: argparse.Namespace, keeper: lease.Leases | None
            ) -> tuple[list[tuple[str, str]] | Callable[[str, str], bool] | None, str]:
    """This cycle's (target, region)s (None: every one) and a line saying why."""
    pairs = [(t.name, r) for t in settings.targets for r in t.regions]
    if args.shard is not None:
        i, n = args.shard
        mine = lease.in_shard(pairs, i, n)
        if any(t.organization for t in settings.targets):   # its accounts are known only once discovered
            return (lambda name, region: lease.shard_of((name, region), n) == i), (
                f"shard {i}/{n}: {len(mine)} of {len(pairs)} target region(s), and 1 in {n} of each "
                "organization's accounts (by account)")
        return mine, f"shard {i}/{n}: {len(mine)} of {len(pairs)} target region(s)"
    if keeper is None:
        return None, ""
    a = keeper.assign(pairs)
    moved = "".join(f"; {what} {', '.join(f'{t} {r}' for t, r in keys)}"
                    for what, keys in (("took", a.claimed), ("gave back", a.released)) if keys)
    return a.held, (f"leases: holding {len(a.held)} of {len(pairs)} target region(s), fair share {a.share} "
                    f"of {a.members} collector(s) ({keeper.owner}){moved}")


def cmd_collect(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    store = Store(settings.store)
    interval = args.every
    keeper = None
    if interval:
        # A long-running collector shares the store: leases split the targets (or, with --shard, only
        # the alerts lease: one collector sends them); it gives its leases back when stopped.
        keeper = lease.Leases(store, lease.owner_id(), interval)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _collect_loop(settings, store, args, keeper)
    finally:
        if keeper is not None:
            try:
                keeper.leave()
            except STORE_FAILURES:
                pass   # the store is gone: the leases expire by themselves


def _collect_loop(settings: config.Settings, store: Store, args: argparse.Namespace,
                  keeper: lease.Leases | None) -> int:
    interval = args.every
    pairs = sum(len(t.regions) for t in settings.targets if not t.organization)
    orgs = sum(t.organization for t in settings.targets)
    exporter = None
    if args.metrics_port is not None:
        from . import exporter as exp   # prometheus_client only when asked for
        exporter = exp.Exporter(settings)
        address = settings.prometheus.address
        try:
            exp.serve(exporter, args.metrics_port, address)
        except OSError as e:
            print(f"error: cannot serve /metrics on {address}:{args.metrics_port}: {e.strerror or e}", file=sys.stderr)
            return EXIT_ERROR
        print(f"serving Prometheus metrics on http://{address}:{args.metrics_port}/metrics", flush=True)
    while True:
        t0 = time.time()
        try:
            only, why = _assign(settings, args, keeper if args.shard is None else None)
            if why:
                print(why, flush=True)
            if only is not None and not callable(only) and not only:
                if args.shard is not None:
                    print(f"shard {args.shard[0]}/{args.shard[1]} has no target region: fewer shards than "
                          f"{args.shard[1]} would give every host some", flush=True)
                else:
                    print("nothing to collect this cycle: every target region is another collector's", flush=True)
                if keeper is not None:
                    keeper.idle()
                if not interval:
                    return 0
                time.sleep(max(0.0, interval - (time.time() - t0)))
                continue
            count = pairs if only is None or callable(only) else len(only)
            print(f"collecting {count} target region(s)" + (f" and {orgs} organization(s)' accounts" if orgs else "") +
                  f" from {args.config} into {store.label} ...", flush=True)
            report = run_cycle(settings, store, on_result=lambda r: print(_target_line(r), flush=True), only=only)
            for line in report.notes:
                print(line, flush=True)
        except (*STORE_FAILURES, OSError) as e:
            if not interval:
                raise
            # A long-running collector outlives a full disk or a locked file: say so, try next cycle.
            print(f"ERROR the store {store.label} failed this cycle: {e}; retrying in {interval} s",
                  file=sys.stderr, flush=True)
        else:
            bill = costs.cost(store, time.time(), settings.collection)
            for line in _summary(report, bill, settings.collection.metrics_strategy):
                print(line, flush=True)
            delivered = after_cycle(settings, store, report, exporter, keeper)
            if not interval:
                code = EXIT_ERROR if report.errors or not delivered else 0
                if report.abandoned:
                    # a hung call's thread would keep the process alive until it gives up: its target is
                    # recorded as timed out and everything else is stored, so leave now
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
                return code
        time.sleep(max(0.0, interval - (time.time() - t0)))


def cmd_check(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    store = Store(settings.store, readonly=True)
    now = time.time()
    start, end = review.window(now, args.window)
    rv = review.review(store, start, end, settings.thresholds, args.group_by, now=now,
                       expected=settings.expected(),
                       max_age_s=settings.collection.max_age_seconds,
                       function_max_age_s=settings.collection.function_max_age_seconds)
    rv.cost = costs.cost(store, now, settings.collection)
    print(rv.to_json() if args.format == "json" else render_table(rv, settings.collection.metrics_strategy))
    return exit_code(rv)



def cmd_alert_test(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if not settings.alerts:
        print(f"error: {args.config} has no [[alerts]] destination (see fleet.example.toml)", file=sys.stderr)
        return EXIT_ERROR
    failed = 0
    for label, why in alerts.test_all(settings):
        print(f"ok      {label}" if why is None else f"FAILED  {label}: {why}", flush=True)
        failed += why is not None
    print(f"{len(settings.alerts) - failed} of {len(settings.alerts)} destination(s) reached")
    return EXIT_ERROR if failed else 0


def exit_code(rv: review.Review) -> int:
    """2 critical (known trouble comes first), 3 unknown or collection errors, 1 warn, 0 ok."""
    if rv.status == "critical":
        return EXIT["critical"]
    return EXIT_ERROR if rv.errors or rv.status == "unknown" else EXIT[rv.status]


def render_table(rv: review.Review, strategy: str = "activity") -> str:
    out = []
    for t in rv.targets:
        out.append(f"== {t.target} {t.account or '(account unknown)'} {t.region}: {t.status.upper()} "
                   f"(window collected {100 * t.coverage_ratio:.0f} %{_freshness(t)})")
        if t.account is None:
            out.extend(f"  {f.severity.upper():8} {f.message}" for f in t.findings)
            continue
        out.append(f"  concurrency   limit {_fmt(t.concurrency_limit)}, peak {_fmt(t.peak_concurrency)}, "
                   f"peak claimed {_fmt(t.peak_claimed_concurrency)}, headroom {_fmt(t.concurrency_headroom)}"
                   f" ({_fmt(t.concurrency_headroom_pct, ' %')})")
        if t.quota_concurrency is not None and t.concurrency_limit and t.quota_concurrency != t.concurrency_limit:
            out.append(f"  note          Service Quotas' applied value is {_fmt(t.quota_concurrency)}; Lambda enforces "
                       f"{_fmt(t.concurrency_limit)} (GetAccountSettings): headroom uses what Lambda enforces")
        out.append(f"  allocations   unreserved limit {_fmt(t.unreserved_limit)}, reserved {_fmt(t.reserved_total)}, "
                   f"provisioned {_fmt(t.provisioned_total)}")
        out.append(f"  code storage  {_size(t.code_storage_used_bytes)} of {_size(t.code_storage_limit_bytes)} "
                   f"({_share(t.code_storage_used_bytes, t.code_storage_limit_bytes)}); "
                   f"{_fmt(t.function_count)} functions")
        out.append(f"  failures      throttles {_fmt(t.throttles)}, async dropped {_fmt(t.async_events_dropped)}, "
                   f"DLQ errors {_fmt(t.dead_letter_errors)}, destination failures "
                   f"{_fmt(t.destination_delivery_failures)}, DLQ messages {_fmt(t.dlq_messages)}")
        for f in t.findings[:15]:
            out.append(f"  {f.severity.upper():8} {f.message}")
        if len(t.findings) > 15:
            out.append(f"  ... and {len(t.findings) - 15} more (--format json lists all)")
    for e in rv.errors:
        out.append(f"COLLECTION ERROR {e['target']} {e['region']} {e['api']}: {e['code']}: {e['message']}")
    if rv.cost is not None:
        out.extend(cost_lines(rv.cost, strategy))
    out.append(f"status: {rv.status}" + (" (collection errors: numbers may be incomplete)" if rv.errors else ""))
    return "\n".join(out)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (an error of ours), never 2, which `check` uses for critical."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="python -m collectors", description="headroom: Lambda fleet limits monitor")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="run one collection cycle (or loop with --every)")
    c.add_argument("--config", required=True, help="fleet.toml")
    c.add_argument("--every", type=int, metavar="SECONDS", help="repeat every SECONDS (>= 60) until interrupted; "
                   "several collectors on one store then split the targets by leases")
    c.add_argument("--shard", metavar="I/N", help="collect only shard I of N (a stable hash of target and region), "
                   "e.g. 1/3 on the first of three hosts; no leases, no takeover")
    c.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="with --every: serve Prometheus metrics on PORT ([prometheus] address, default 127.0.0.1)")
    k = sub.add_parser("check", help="print the limit review; exit 0 ok, 1 warn, 2 critical, 3 error")
    k.add_argument("--config", required=True, help="fleet.toml")
    k.add_argument("--window", type=parse_window, default=parse_window("24h"), help="e.g. 1h, 24h, 7d (default 24h)")
    k.add_argument("--format", choices=("table", "json"), default="table")
    k.add_argument("--group-by", default="prefix", help="prefix or tag:KEY (default prefix)")
    i = sub.add_parser("iam-policy", help="print the read-only IAM policy the collector needs")
    i.add_argument("--config", help="fleet.toml: adds sts:AssumeRole on the roles it names (role_arn, role_name, "
                                    "monitoring_role_arn)")
    a = sub.add_parser("alert-test", help="send a test message to every [[alerts]] destination; exit 3 if any failed")
    a.add_argument("--config", required=True, help="fleet.toml")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "iam-policy":
            print(iam.policy_json(config.load(args.config) if args.config else None))
            return 0
        if args.command == "collect":
            floor = int(os.environ.get("HEADROOM_TEST_MIN_EVERY", "60"))   # tests run cycles seconds apart
            if args.every is not None and args.every < floor:
                p.error("--every must be at least 60 seconds (CloudWatch's Lambda metrics are per minute)")
            if args.shard is not None:
                try:
                    args.shard = lease.parse_shard(args.shard)
                except lease.ShardError as e:
                    p.error(str(e))
            if args.metrics_port is not None and (args.every is None or not 0 < args.metrics_port < 65536):
                p.error("--metrics-port needs --every (a one-shot collect serves nothing) and a port from 1 to 65535")
            return cmd_collect(args)
        if args.command == "alert-test":
            return cmd_alert_test(args)
        return cmd_check(args)
    except (config.ConfigError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except DB_ERRORS as e:
        print(f"error: the store failed: {e} (SQLite: is the disk full, or the file read-only? PostgreSQL: is the "
              "server up, and may this user write?)", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
