"""A simulated company's Lambda fleet in the sandbox, with a week of metrics and live incidents.

    truth = build_fleet(sb, seed=7)          # ~320 functions, 2 accounts x 2 regions, 7 days history
    sim = Simulator(sb, truth)
    sim.tick(time.time())                    # every minute: live 1-minute points, DLQ grows

Everything is deterministic given the seed and the times. Resources are created directly on moto's
backends (same process): about 20x faster than boto3 over HTTP for hundreds of functions, and the
collector still reads them only over HTTP. Metrics go straight into the sandbox's metric store.

Traffic model: each account+region ("cell") has a daily cycle (peak 15:00 UTC) scaled to a share of
its concurrency limit, growing a little every day; each function takes a heavy-tailed share of it.
Per function and bucket the model gives a concurrency demand; ConcurrentExecutions is its peak
(capped at reserved concurrency, the rest throttles), Invocations follow from demand and Duration.
Account-level series are sums of the function series written for the same bucket, so
ConcurrentExecutions(account) == sum of the functions' ConcurrentExecutions, and
ClaimedAccountConcurrency == unreserved in use (beyond provisioned) + sum reserved + sum provisioned
of unreserved functions (provisioned concurrency of a function with reserved concurrency comes out
of that reservation).

Lambda's account-level aggregates (no dimensions) are written for every bucket that has
per-function points: Invocations, Errors and Throttles are the sums over the cell's functions.

History is seeded coarse: hourly buckets for days 7..1, 5-minute for the last day, 1-minute for the
last 3 hours. Only non-zero points are written: an idle function has no datapoint.

Idleness (build_fleet(idle_share=0.85), default 0: every function runs every hour): the busiest
functions by weight, the incidents' functions and those with provisioned concurrency run every hour;
every other function runs in spells of 1-12 hours (busy or idle for the whole spell, see
activity.spell_active), busy with the probability that makes `idle_share` the expected share of
functions with no datapoint in an hour. With idleness there is a fifth
incident, `idle_burst`: reports-worker-csv in prod us-east-1 has run not once in the whole history
when, 20 minutes before the build's "now", it takes 2.5-3.5x its reserved concurrency (10) and
throttles: the case an activity-driven collector must catch from the account-level aggregates.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .activity import SPELL_HOURS, spell_active
from .server import Sandbox

PROD = "123456789012"
STAGING = "222222222222"
ACCOUNTS = {PROD: "prod", STAGING: "staging"}
REGIONS = ("us-east-1", "eu-west-1")
ROLE_NAME = "headroom-read"
LAMBDA_ROLE = "lambda-exec"
PEAK_HOUR_UTC = 15
DAY = 86400
MAX_ZIPPED = 262_144_000  # largest CodeSize we claim for one version

# family -> (team, components); names become f"{family}-{component}".
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "payments": ("payments", ["api-charge", "api-refund", "api-authorize", "api-capture",
                              "api-webhook", "worker-settle", "worker-reconcile", "worker-ledger",
                              "worker-chargeback", "cron-payout", "cron-fx-rates",
                              "stream-fraud-score", "api-invoice", "worker-receipt",
                              "api-wallet", "worker-dunning"]),
    "orders": ("commerce", ["api-create", "api-get", "api-cancel", "api-list", "api-quote",
                            "worker-fulfil", "worker-invoice", "worker-ship", "worker-return",
                            "worker-split", "cron-expire", "cron-backorder", "stream-events",
                            "api-track", "worker-notify-seller", "api-history"]),
    "search": ("discovery", ["api-query", "api-suggest", "api-facets", "api-similar",
                             "worker-index", "worker-reindex", "worker-synonyms",
                             "stream-ingest", "cron-rebuild", "api-autocomplete",
                             "worker-rank", "api-spellcheck", "cron-warm-cache",
                             "worker-click-log", "api-trending", "worker-embed"]),
    "inventory": ("supply", ["api-stock", "api-reserve", "api-release", "worker-sync",
                             "worker-restock", "worker-transfer", "cron-audit", "cron-forecast",
                             "stream-warehouse", "api-locations", "worker-count",
                             "api-availability", "worker-supplier-feed", "cron-expiry",
                             "worker-adjust", "api-batches"]),
    "notifications": ("messaging", ["worker-email", "worker-sms", "worker-push",
                                    "api-preferences", "worker-digest", "worker-fanout",
                                    "worker-bounce", "cron-cleanup", "api-templates",
                                    "worker-webhook", "stream-events", "worker-render",
                                    "api-unsubscribe", "worker-retry", "cron-quiet-hours",
                                    "worker-inapp"]),
    "auth": ("identity", ["api-login", "api-token", "api-refresh", "api-mfa", "api-logout",
                          "api-userinfo", "worker-audit", "cron-rotate-keys", "worker-lockout",
                          "api-register", "api-password-reset", "worker-session-gc",
                          "api-jwks", "worker-risk", "api-consent", "cron-dormant"]),
    "reports": ("analytics", ["cron-daily", "cron-weekly", "cron-monthly", "worker-export",
                              "worker-aggregate", "api-download", "api-schedule",
                              "worker-pdf", "worker-csv", "stream-clicks", "cron-cohorts",
                              "worker-warehouse-load", "api-dashboards", "cron-retention",
                              "worker-email-report", "api-query"]),
    "media": ("content", ["worker-thumbnail", "worker-transcode", "api-upload", "api-sign-url",
                          "worker-moderate", "worker-exif", "cron-purge", "api-gallery",
                          "worker-watermark", "stream-cdn-logs", "worker-ocr", "api-metadata",
                          "worker-resize", "cron-orphans", "worker-caption", "api-collections"]),
}
LEGACY = ["legacy-cron-cleanup", "legacy-api-v1-proxy", "test-hello-world"]

# Share of each family's components present per cell, its traffic level at the recent daily
# peak (fraction of the limit) and its concurrency limit.
CELLS: dict[tuple[str, str], tuple[float, float, int]] = {
    (PROD, "us-east-1"): (1.0, 0.93, 1000),
    (PROD, "eu-west-1"): (0.6, 0.55, 1000),
    (STAGING, "us-east-1"): (0.5, 0.18, 1000),
    (STAGING, "eu-west-1"): (0.35, 0.12, 500),
}
DAILY_GROWTH = 0.033  # the daily peak grows by this fraction of itself per day
IDLE_BURST = ("reports-worker-csv", 10, 20 * 60)  # function, reserved, starts this many s before now

RUNTIMES = {"api": ["python3.12", "nodejs20.x", "java21", "provided.al2023", "python3.11"],
            "worker": ["python3.12", "java21", "nodejs20.x", "python3.11"],
            "cron": ["python3.12", "python3.11", "java21"],
            "stream": ["java21", "python3.12", "nodejs22.x"]}
DURATION_MS = {"api": (40, 300), "worker": (200, 4000), "cron": (2000, 60000),
               "stream": (100, 1200)}
TIMEOUT_S = {"api": [3, 6, 10, 29], "worker": [60, 120, 300, 900], "cron": [300, 600, 900],
             "stream": [60, 120, 300]}
KIND_WEIGHT = {"api": 3.0, "worker": 1.5, "stream": 1.0, "cron": 0.15}


@dataclass
class FunctionTruth:
    """One simulated function and everything the collector should find about it."""

    account: str
    region: str
    name: str
    family: str
    kind: str  # api | worker | cron | stream
    tags: dict[str, str]
    runtime: str
    memory: int
    timeout: int
    arch: str
    duration_ms: float
    is_async: bool
    reserved: int | None = None
    provisioned: dict[str, int] = field(default_factory=dict)  # alias -> provisioned
    dlq: str | None = None  # SQS queue name from DeadLetterConfig
    on_failure: str | None = None  # SQS queue name of the on-failure destination
    versions: int = 0  # published versions
    code_size: int = 0  # bytes claimed, all versions together
    weight: float = 0.0  # share of the cell's traffic

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"


@dataclass
class Incident:
    """A scripted problem the dashboard must make obvious."""

    kind: str  # throttling_storm | dlq_filling | account_concurrency_peak | provisioned_spillover
    account: str
    region: str
    functions: list[str]
    group: str | None
    started_at: int  # epoch seconds
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class FleetTruth:
    """What build_fleet created: tests assert against it, the demo prints it."""

    seed: int
    now: int  # the build's "now" (minute-aligned epoch): history ends here, live ticks start
    accounts: dict[str, str]
    regions: tuple[str, ...]
    functions: list[FunctionTruth]
    incidents: list[Incident]
    limits: dict[tuple[str, str], int]
    code_storage_used: dict[tuple[str, str], int]
    scales: dict[tuple[str, str], float] = field(default_factory=dict)
    idle_share: float = 0.0  # target share of functions with no datapoint in an hour

    def functions_in(self, account: str, region: str) -> list[FunctionTruth]:
        return [f for f in self.functions if (f.account, f.region) == (account, region)]

    def function(self, account: str, region: str, name: str) -> FunctionTruth:
        for f in self.functions:
            if (f.account, f.region, f.name) == (account, region, name):
                return f
        raise KeyError(name)

    def incident(self, kind: str) -> Incident:
        return next(i for i in self.incidents if i.kind == kind)


# ---- structure --------------------------------------------------------------------------------

def _design(seed: int, now: int, idle_share: float = 0.0) -> FleetTruth:
    """Decide every function and incident (no I/O)."""
    rng = random.Random(seed)
    functions: list[FunctionTruth] = []
    for (account, region), (share, _, _) in CELLS.items():
        env = ACCOUNTS[account]
        for family, (team, components) in FAMILIES.items():
            keep = components if share >= 1.0 else [
                c for c in components if rng.random() < share]
            for comp in keep:
                functions.append(_make_function(rng, account, region, env, family, team, comp))
        for name in LEGACY:
            if account == PROD or rng.random() < 0.5:
                fam, comp = name.split("-", 1)
                fn = _make_function(rng, account, region, env, fam, "", comp)
                fn.tags = {}
                functions.append(fn)
    return FleetTruth(seed, now, dict(ACCOUNTS), REGIONS, functions, [],
                      {cell: lim for cell, (_, _, lim) in CELLS.items()}, {},
                      idle_share=idle_share)


def _make_function(rng: random.Random, account: str, region: str, env: str, family: str,
                   team: str, comp: str) -> FunctionTruth:
    kind = comp.split("-", 1)[0]
    kind = kind if kind in KIND_WEIGHT else "worker"
    runtime = rng.choice(RUNTIMES[kind])
    memory = rng.choice([1024, 1536, 2048, 3008] if runtime == "java21"
                        else [128, 256, 512, 512, 1024, 1769])
    lo, hi = DURATION_MS[kind]
    tags = {"team": team, "service": family, "env": env}
    if rng.random() < 0.07:  # some teams never tag
        tags = {}
    elif rng.random() < 0.1:
        tags.pop("service")
    return FunctionTruth(
        account=account, region=region, name=f"{family}-{comp}", family=family, kind=kind,
        tags=tags, runtime=runtime, memory=memory, timeout=rng.choice(TIMEOUT_S[kind]),
        arch="arm64" if rng.random() < 0.4 else "x86_64",
        duration_ms=round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 1),
        is_async=kind in ("worker", "cron"),
        weight=KIND_WEIGHT[kind] * rng.paretovariate(1.3))


def _assign_config(truth: FleetTruth, rng: random.Random) -> None:
    """DLQs, destinations, reserved and provisioned concurrency, versions, code sizes."""
    for f in truth.functions:
        if f.is_async:
            roll = rng.random()
            if roll < 0.55:
                f.dlq = f"{f.name}-dlq"
            elif roll < 0.85:
                f.on_failure = f"{f.name}-failures"
            if roll < 0.15:
                f.on_failure = f"{f.name}-failures"
    for cell in CELLS:
        fns = truth.functions_in(*cell)
        total = sum(f.weight for f in fns)
        for f in fns:
            f.weight /= total
        for f in fns:
            f.versions = rng.choice([0, 0, 1, 2]) if cell != (PROD, "us-east-1") else (
                rng.randint(6, 30) if f.runtime == "java21" else rng.randint(1, 10))
    # The incidents' functions and the "live" aliases need particular settings.
    use1 = (PROD, "us-east-1")
    for name, reserved in (("search-api-query", 60), ("search-api-suggest", 30)):
        f = truth.function(*use1, name)
        f.reserved, f.kind, f.duration_ms = reserved, "api", 250.0 if reserved == 60 else 80.0
    fulfil = truth.function(*use1, "orders-worker-fulfil")
    fulfil.dlq, fulfil.on_failure, fulfil.is_async = "orders-worker-fulfil-dlq", None, True
    for cell, name, pc in ((use1, "payments-api-charge", 40), (use1, "auth-api-token", 0),
                           (use1, "orders-api-create", 0),
                           ((PROD, "eu-west-1"), "payments-api-charge", 0),
                           ((STAGING, "us-east-1"), "auth-api-token", 0)):
        try:
            f = truth.function(*cell, name)
        except KeyError:
            continue
        f.provisioned["live"] = pc  # 0: sized later from its traffic
        f.versions = max(f.versions, 1)
    if truth.idle_share > 0:
        burst = truth.function(*use1, IDLE_BURST[0])
        burst.reserved = IDLE_BURST[1]


# ---- traffic model ----------------------------------------------------------------------------

class _Model:
    """Vectorised traffic of one cell: per-function values for one bucket at a time."""

    def __init__(self, truth: FleetTruth, cell: tuple[str, str], cell_index: int) -> None:
        self.truth = truth
        self.cell = cell
        self.index = cell_index
        self.fns = truth.functions_in(*cell)
        self.limit = truth.limits[cell]
        self.level = CELLS[cell][1]
        self.scale = truth.scales.get(cell, 1.0)
        self.cap = True  # keep claimed concurrency under the limit (off while calibrating)
        n = len(self.fns)
        self.w = np.array([f.weight for f in self.fns])
        self.dur = np.array([f.duration_ms for f in self.fns])
        self.reserved = np.array([f.reserved or np.inf for f in self.fns], dtype=float)
        self.pc = np.array([sum(f.provisioned.values()) for f in self.fns], dtype=float)
        self.is_async = np.array([f.is_async for f in self.fns])
        unreserved = ~np.isfinite(self.reserved)
        # Always claimed: every reservation and the provisioned concurrency of unreserved ones.
        self.fixed_claim = float(self.reserved[~unreserved].sum() + self.pc[unreserved].sum())
        rs = np.random.default_rng([truth.seed, cell_index, 0])
        self.err_rate = np.where(rs.random(n) < 0.5, 0.0, rs.uniform(0.0005, 0.02, n))
        self.age_ms = rs.uniform(15, 250, n)
        self.pos = {f.name: i for i, f in enumerate(self.fns)}
        t0 = truth.now
        self.last_peak = _last_peak(t0)
        self.storm = {self.pos[n_] for n_ in ("search-api-query", "search-api-suggest")
                      if n_ in self.pos} if cell == (PROD, "us-east-1") else set()
        self.storm_start = t0 - 40 * 60
        self.spill = self.pos.get("payments-api-charge") if cell == (PROD, "us-east-1") else None
        self.spill_start = t0 - 90 * 60
        self.dlq_fn = self.pos.get("orders-worker-fulfil") if cell == (PROD, "us-east-1") else None
        self.dlq_start = t0 - 55 * 60
        self.recursive_fn = self.pos.get("notifications-worker-fanout") if cell == (
            STAGING, "us-east-1") else None
        self.smoothable = unreserved.copy()
        if self.spill is not None:
            self.smoothable[self.spill] = False  # the spillover incident keeps its excess
        self.idle_share = truth.idle_share
        self.burst_fn = self.pos.get(IDLE_BURST[0]) if (
            cell == (PROD, "us-east-1") and self.idle_share > 0) else None
        self.burst_start = t0 - IDLE_BURST[2]
        self._setup_idleness()

    def _setup_idleness(self) -> None:
        """Who runs every hour (always) and the hourly wake-up chance of the others (q)."""
        n = len(self.fns)
        self.always = np.ones(n, dtype=bool)
        self.q = 1.0
        self._masks: dict[int, np.ndarray] = {}
        if self.idle_share <= 0:
            return
        forced = set(self.storm) | {i for i in (self.spill, self.dlq_fn, self.recursive_fn)
                                    if i is not None}
        forced |= {i for i, f in enumerate(self.fns) if f.provisioned}
        active = n * (1.0 - self.idle_share)
        self.always[:] = False
        for i in forced:
            self.always[i] = True
        for i in np.argsort(-self.w):  # the busiest functions carry the cell's traffic
            if self.always.sum() >= max(len(forced), round(active * 0.5)):
                break
            if i != self.burst_fn:
                self.always[i] = True
        rest = n - int(self.always.sum()) - (self.burst_fn is not None)
        self.q = min(1.0, max(0.0, (active - self.always.sum()) / max(rest, 1)))
        rs = np.random.default_rng([self.truth.seed, self.index, 8])
        self.spell = rs.choice(SPELL_HOURS, n)
        self.phase = rs.integers(0, 12, n) % self.spell

    def active(self, t: int) -> np.ndarray | None:
        """Which functions run in the hour holding t (None: all of them, no idleness)."""
        if self.idle_share <= 0:
            return None
        hour = t // 3600
        mask = self._masks.get(hour)
        if mask is None:
            mask = self.always | spell_active(self.truth.seed * 16 + self.index,
                                              np.arange(len(self.fns)), hour, self.spell,
                                              self.phase, self.q)
            if self.burst_fn is not None:
                mask[self.burst_fn] = False  # it runs only in its burst (see bucket)
            if len(self._masks) > 256:
                self._masks.clear()
            self._masks[hour] = mask
        return mask

    def claimed(self, conc: np.ndarray) -> float:
        """ClaimedAccountConcurrency for these per-function concurrencies."""
        unreserved = ~np.isfinite(self.reserved)
        return float(np.maximum(conc - self.pc, 0)[unreserved].sum()) + self.fixed_claim

    def level_at(self, t: float) -> float:
        """Fraction of the limit the cell's traffic reaches at time t."""
        peak = self.level * (1 + DAILY_GROWTH * min((t - self.last_peak) / DAY, 1.0))
        off = 0.22 * peak
        phase = 2 * math.pi * ((t / 3600.0 - PEAK_HOUR_UTC) % 24) / 24
        bell = ((1 + math.cos(phase)) / 2) ** 1.6
        return off + (peak - off) * bell

    def bucket(self, t: int, res: int) -> dict[str, np.ndarray]:
        """Values of every function for the bucket [t, t+res)."""
        k = res / 60.0
        rng = np.random.default_rng([self.truth.seed, self.index, t])
        n = len(self.fns)
        noise = np.clip(1 + 0.06 * rng.standard_normal(n), 0.7, 1.3)
        level = self.level_at(t + res / 2)
        demand = level * self.limit * self.scale * self.w * noise
        # The incidents' functions run close to their limits at every daily peak already.
        daily = level / self.level * noise
        mask = self.active(t)
        if mask is not None:
            demand = demand * mask
            if self.burst_fn is not None:
                i = self.burst_fn
                demand[i] = (self.reserved[i] * rng.uniform(2.5, 3.5)
                             if t >= self.burst_start else 0.0)
        for i in self.storm:
            r = self.reserved[i]
            demand[i] = (r * rng.uniform(1.05, 1.25) if t >= self.storm_start
                         else min(0.88 * r * daily[i], 0.95 * r))
        if self.spill is not None and self.pc[self.spill] > 0:
            p = self.pc[self.spill]
            demand[self.spill] = (p * rng.uniform(1.1, 1.4) if t >= self.spill_start
                                  else min(0.8 * p * daily[self.spill], 0.86 * p))
        served = np.minimum(demand, self.reserved)
        inv_rate = served * 60000.0 / self.dur  # invocations per minute
        inv = rng.poisson(inv_rate * k).astype(float)
        conc = np.where(inv > 0, np.maximum(np.round(served * 1.15), 1), 0)
        conc = np.minimum(conc, self.reserved)
        # Lambda never lets claimed concurrency pass the account limit: trim the unreserved
        # functions' use beyond their provisioned concurrency (their traffic smooths out).
        excess = self.claimed(conc) - 0.985 * self.limit
        if excess > 0 and self.cap:
            big = self.smoothable & (conc > 1)
            factor = max(0.0, 1 - excess / max(conc[big].sum(), 1.0))
            conc[big] = np.maximum(np.floor(conc[big] * factor), 1)
            inv[big] = np.round(inv[big] * factor)
        throttles = np.where(demand > self.reserved,
                             np.round((demand - self.reserved) * 60000.0 / self.dur * k), 0)
        errors = rng.binomial(inv.astype(np.int64), self.err_rate).astype(float)
        dropped = np.zeros(n)
        dl_errors = np.zeros(n)
        age = self.age_ms * np.clip(1 + 0.2 * rng.standard_normal(n), 0.5, 2)
        if self.dlq_fn is not None and t >= self.dlq_start:
            i = self.dlq_fn
            errors[i] = round(inv[i] * 0.6)
            minutes = (t - self.dlq_start) / 60.0
            dropped[i] = rng.integers(4, 16) * k
            dl_errors[i] = (rng.integers(1, 3) if int(minutes) % 4 == 0 else 0) * k
            age[i] = 60_000 + minutes * 45_000
        recursive = np.zeros(n)
        if self.recursive_fn is not None and rng.random() < 0.2 * k:
            recursive[self.recursive_fn] = rng.integers(1, 6)
        dest_fail = np.zeros(n)
        pce = np.minimum(conc, self.pc)
        util = np.divide(pce, self.pc, out=np.zeros(n), where=self.pc > 0)
        spill = np.where((self.pc > 0) & (conc > self.pc),
                         np.round(inv * (conc - self.pc) / np.maximum(conc, 1)), 0)
        return {"conc": conc, "inv": inv, "throttles": throttles, "errors": errors,
                "dur": self.dur * np.clip(1 + 0.08 * rng.standard_normal(n), 0.6, 1.5),
                "age": age, "dropped": dropped, "dl_errors": dl_errors,
                "recursive": recursive, "dest_fail": dest_fail, "pce": pce, "util": util,
                "spill": spill}


def _last_peak(t: int) -> int:
    """The most recent daily peak time at or before t."""
    day0 = t - t % DAY + PEAK_HOUR_UTC * 3600
    return day0 if day0 <= t else day0 - DAY


def _grid(now: int) -> list[tuple[int, int]]:
    """(bucket start, resolution): hourly for days 7..1, 5-minute for the last day, 1-minute for
    the last 3 hours; buckets end before `now` (minute-aligned)."""
    hour_end = (now - DAY) - (now - DAY) % 3600
    five_end = (now - 3 * 3600) - (now - 3 * 3600) % 300
    grid = [(t, 3600) for t in range(hour_end - 6 * DAY, hour_end, 3600)]
    grid += [(t, 300) for t in range(hour_end, five_end, 300)]
    grid += [(t, 60) for t in range(five_end, now, 60)]
    return grid


# ---- writing metrics ----------------------------------------------------------------------------

class _Writer:
    """Collects statistic sets per series, then loads them into the store in bulk."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str, str, tuple[tuple[str, str], ...]],
                          list[tuple[int, float, float, float, float]]] = {}

    def add(self, cell: tuple[str, str], ns: str, metric: str, dims: dict[str, str], t: int,
            s: float, c: float, mn: float, mx: float) -> None:
        key = (cell[0], cell[1], ns, metric, tuple(sorted(dims.items())))
        self.series.setdefault(key, []).append((t, s, c, mn, mx))

    def flush(self, sb: Sandbox) -> int:
        n = 0
        for (account, region, ns, metric, dims), rows in self.series.items():
            rows.sort(key=lambda r: r[0])
            ts, s, c, mn, mx = zip(*rows)
            sb.metrics.load(account, region, ns, metric, dict(dims), ts, s, c, mn, mx)
            n += len(rows)
        self.series.clear()
        return n


def _emit(w: _Writer, model: _Model, t: int, res: int, v: dict[str, np.ndarray]) -> None:
    """Turn one bucket of model values into CloudWatch statistic sets (non-zero only)."""
    cell, k = model.cell, res / 60.0
    lam = "AWS/Lambda"

    def count(metric: str, i: int, value: float, dims: dict[str, str]) -> None:
        # Lambda count metrics: every event is a sample of 1 (Sum == SampleCount).
        if value > 0:
            w.add(cell, lam, metric, dims, t, value, value, 1.0, 1.0)

    def peak(metric: str, value: float, dims: dict[str, str]) -> None:
        if value > 0:
            if k == 1:
                w.add(cell, lam, metric, dims, t, value, 1.0, value, value)
            else:
                w.add(cell, lam, metric, dims, t, value * 0.8 * k, k, value * 0.5, value)

    conc, inv = v["conc"], v["inv"]
    for i, f in enumerate(model.fns):
        if inv[i] <= 0 and v["throttles"][i] <= 0 and v["recursive"][i] <= 0:
            continue
        dims = {"FunctionName": f.name}
        count("Invocations", i, inv[i], dims)
        count("Errors", i, v["errors"][i], dims)
        count("Throttles", i, v["throttles"][i], dims)
        count("RecursiveInvocationsDropped", i, v["recursive"][i], dims)
        peak("ConcurrentExecutions", conc[i], dims)
        if inv[i] > 0:
            d = v["dur"][i]
            w.add(cell, lam, "Duration", dims, t, d * inv[i], inv[i], d * 0.3,
                  min(d * 3.5, f.timeout * 1000.0))
        if f.is_async and inv[i] > 0:
            count("AsyncEventsReceived", i, inv[i], dims)
            a = v["age"][i]
            w.add(cell, lam, "AsyncEventAge", dims, t, a * inv[i], inv[i], a * 0.2, a * 2.5)
            count("AsyncEventsDropped", i, v["dropped"][i], dims)
            count("DeadLetterErrors", i, v["dl_errors"][i], dims)
            count("DestinationDeliveryFailures", i, v["dest_fail"][i], dims)
        for alias in f.provisioned:
            rdims = {"FunctionName": f.name, "Resource": f"{f.name}:{alias}"}
            peak("ProvisionedConcurrentExecutions", v["pce"][i], rdims)
            u = float(v["util"][i])
            if u > 0:
                w.add(cell, lam, "ProvisionedConcurrencyUtilization", rdims, t,
                      u * (0.85 * k if k > 1 else 1), k, u * 0.5 if k > 1 else u, u)
            count("ProvisionedConcurrencySpilloverInvocations", i, v["spill"][i], rdims)
    total = float(conc.sum())
    unreserved = float(conc[~np.isfinite(model.reserved)].sum())
    claimed = model.claimed(conc)
    peak("ConcurrentExecutions", total, {})
    peak("UnreservedConcurrentExecutions", unreserved, {})
    peak("ClaimedAccountConcurrency", claimed, {})
    # Account-level sums, as Lambda publishes them without dimensions (written where non-zero,
    # like the functions' own points, so sum(functions) == account in every bucket).
    count("Invocations", -1, float(inv.sum()), {})
    count("Errors", -1, float(v["errors"].sum()), {})
    count("Throttles", -1, float(v["throttles"].sum()), {})


# ---- building -----------------------------------------------------------------------------------

def build_fleet(sb: Sandbox, seed: int = 7, now: float | None = None,
                idle_share: float = 0.0) -> FleetTruth:
    """Create the fleet in the (started) sandbox and seed 7 days of metrics; returns its truth.

    idle_share: expected share of functions with no datapoint in a given hour (0: none idle, the
    default; 0.85 is realistic) and, when > 0, the `idle_burst` incident."""
    truth, models, rng = _plan(seed, now, idle_share)
    now_m = truth.now
    _create_resources(sb, truth, rng)
    writer = _Writer()
    grid = _grid(now_m)
    peaks: dict[tuple[str, str], tuple[float, int]] = {}
    for cell, model in models.items():
        best = (0.0, 0)
        for t, res in grid:
            values = model.bucket(t, res)
            _emit(writer, model, t, res, values)
            total = float(values["conc"].sum())
            if t >= now_m - DAY and total > best[0]:
                best = (total, t)
        peaks[cell] = best
    writer.flush(sb)
    dlq_messages = _seed_queues(sb, truth, models[(PROD, "us-east-1")], grid, rng)
    _describe_incidents(truth, models, peaks, dlq_messages)
    return truth


def _plan(seed: int, now: float | None, idle_share: float
          ) -> tuple[FleetTruth, dict[tuple[str, str], _Model], random.Random]:
    """Functions, configuration and calibrated traffic models (no I/O)."""
    if not 0.0 <= idle_share < 1.0:
        raise ValueError("idle_share must be in [0, 1)")
    now_m = int(now if now is not None else time.time())
    now_m -= now_m % 60
    truth = _design(seed, now_m, idle_share)
    rng = random.Random(seed + 1)
    _assign_config(truth, rng)
    models = {cell: _Model(truth, cell, i) for i, cell in enumerate(CELLS)}
    _calibrate(truth, models)
    _size_from_traffic(truth, models, rng)
    models = {cell: _Model(truth, cell, i) for i, cell in enumerate(CELLS)}  # with final config
    return truth, models, rng


def plan_fleet(seed: int = 7, now: float | None = None, idle_share: float = 0.0) -> FleetTruth:
    """build_fleet's functions, configuration and traffic without creating anything (no I/O):
    `incidents` and `code_storage_used` stay empty. For active_in_hour() and quick checks."""
    return _plan(seed, now, idle_share)[0]


def active_in_hour(truth: FleetTruth, hour_start: int) -> set[tuple[str, str, str]]:
    """(account, region, function) with at least one 1-minute datapoint in the hour beginning at
    hour_start, from the traffic model alone (what build_fleet / Simulator write there when
    that hour is at 1-minute resolution)."""
    out: set[tuple[str, str, str]] = set()
    for i, cell in enumerate(CELLS):
        model = _Model(truth, cell, i)
        ran = np.zeros(len(model.fns), dtype=bool)
        for t in range(hour_start, hour_start + 3600, 60):
            v = model.bucket(t, 60)
            ran |= (v["inv"] > 0) | (v["throttles"] > 0) | (v["recursive"] > 0)
        out.update((cell[0], cell[1], model.fns[j].name) for j in np.flatnonzero(ran))
    return out


def _calibrate(truth: FleetTruth, models: dict[tuple[str, str], _Model]) -> None:
    """Scale each cell so its busiest bucket of the last day sits at the intended level."""
    for cell, model in models.items():
        scale = 1.0
        model.cap = False
        for _ in range(3):
            model.scale = scale
            peak_conc = max(float(model.bucket(t, 300)["conc"].sum())
                            for t in range(truth.now - DAY, truth.now, 1800))
            target = model.level_at(model.last_peak) * model.limit
            scale *= target / max(peak_conc, 1.0)
        truth.scales[cell] = scale
        model.scale = scale
        model.cap = True


def _size_from_traffic(truth: FleetTruth, models: dict[tuple[str, str], _Model],
                       rng: random.Random) -> None:
    """Reserved and provisioned concurrency sized from each function's peak demand."""
    for cell, model in models.items():
        peaks = np.zeros(len(model.fns))
        for t in range(truth.now - DAY, truth.now, 1800):
            peaks = np.maximum(peaks, model.bucket(t, 300)["conc"])
        extra = 5  # reservations beyond the incident's
        for i, f in enumerate(model.fns):
            for alias, pc in f.provisioned.items():
                if pc == 0:
                    f.provisioned[alias] = int(max(2, math.ceil(peaks[i] * 1.25)))
            # A few small functions get a reservation with a safe margin (they never throttle);
            # unused reservations count as claimed, so they stay small.
            if (f.reserved is None and not f.provisioned and 2 <= peaks[i] <= 15
                    and rng.random() < 0.2 and extra > 0):
                f.reserved = int(math.ceil(peaks[i] * 1.4 + 3))
                extra -= 1


def _create_resources(sb: Sandbox, truth: FleetTruth, rng: random.Random) -> None:
    """Roles, queues, functions, versions, aliases, configs: directly on moto's backends."""
    import base64
    import io
    import zipfile

    from moto.awslambda.models import lambda_backends
    from moto.iam.models import iam_backends
    from moto.sqs.models import sqs_backends

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return {'ok': True}\n")
    zip_b64 = base64.b64encode(buf.getvalue()).decode()

    for account in ACCOUNTS:
        iam = iam_backends[account]["aws"]
        for role in (LAMBDA_ROLE, ROLE_NAME):
            iam.create_role(role_name=role, assume_role_policy_document="{}", path="/",
                            permissions_boundary=None, description="sandbox", tags=[],
                            max_session_duration="3600")
    for cell, (_, _, limit) in CELLS.items():
        sb.set_account_limits(*cell, concurrent_executions=limit)

    for f in truth.functions:
        account, region = f.account, f.region
        sqs = sqs_backends[account][region]
        backend = lambda_backends[account][region]
        spec: dict[str, Any] = {
            "FunctionName": f.name, "Runtime": f.runtime,
            "Role": f"arn:aws:iam::{account}:role/{LAMBDA_ROLE}",
            "Handler": "handler.handler" if "python" in f.runtime else "index.handler",
            "Code": {"ZipFile": zip_b64}, "MemorySize": f.memory, "Timeout": f.timeout,
            "Architectures": [f.arch], "Tags": dict(f.tags),
            "Description": f"{f.family} {f.kind}",
        }
        for queue in filter(None, (f.dlq, f.on_failure)):
            sqs.create_queue(queue, tags=dict(f.tags) or None, MessageRetentionPeriod="1209600")
        if f.dlq:
            spec["DeadLetterConfig"] = {"TargetArn": f"arn:aws:sqs:{region}:{account}:{f.dlq}"}
        backend.create_function(spec)
        if f.on_failure:
            backend.put_function_event_invoke_config(f.name, {
                "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600,
                "DestinationConfig": {"OnFailure": {
                    "Destination": f"arn:aws:sqs:{region}:{account}:{f.on_failure}"}}})
        elif f.is_async:
            backend.put_function_event_invoke_config(f.name, {"MaximumRetryAttempts": 2})
        fn = backend.get_function(f.name)
        for v in range(f.versions):
            if v:
                fn.update_configuration({"Description": f"{f.family} {f.kind} release {v + 1}"})
            backend.publish_version(f.name)
        if f.reserved:
            fn.reserved_concurrency = f.reserved
        for alias, pc in f.provisioned.items():
            backend.create_alias(alias, f.name, str(f.versions), "live traffic", None)  # type: ignore[arg-type]  # no routing config
            sb.put_provisioned_concurrency(account, region, f.name, alias, pc)
    _claim_code_sizes(sb, truth, rng)


def _claim_code_sizes(sb: Sandbox, truth: FleetTruth, rng: random.Random) -> None:
    """Realistic package sizes everywhere; prod us-east-1 filled to about 80 % of 75 GB."""
    base = {"java21": 45e6, "provided.al2023": 12e6, "nodejs20.x": 6e6, "nodejs22.x": 6e6}
    for cell, (_, _, _) in CELLS.items():
        fns = truth.functions_in(*cell)
        sizes: list[tuple[FunctionTruth, str | None, float]] = []
        for f in fns:
            size = base.get(f.runtime, 4e6) * rng.uniform(0.4, 2.5)
            sizes.append((f, None, size))
            for n in range(1, f.versions + 1):
                sizes.append((f, str(n), size * (0.7 + 0.3 * n / f.versions)))
        if cell == (PROD, "us-east-1"):
            target = 0.80 * 80_530_636_800
            scale = target / sum(s for _, _, s in sizes)
            sizes = [(f, v, min(s * scale, MAX_ZIPPED)) for f, v, s in sizes]
            short = target - sum(s for _, _, s in sizes)
            room = [i for i, (_, _, s) in enumerate(sizes) if s < MAX_ZIPPED * 0.9]
            for i in room:  # spread what the capped ones could not hold
                f, v, s = sizes[i]
                sizes[i] = (f, v, min(s + short / len(room), MAX_ZIPPED))
        used = 0
        for f, v, s in sizes:
            sb.set_code_size(f.account, f.region, f.name, int(s), version=v)
            f.code_size += int(s)
            used += int(s)
        truth.code_storage_used[cell] = used


def _seed_queues(sb: Sandbox, truth: FleetTruth, model: _Model, grid: list[tuple[int, int]],
                 rng: random.Random) -> int:
    """Messages in the filling DLQ (and a few stale ones elsewhere), with AWS/SQS metrics."""
    from moto.sqs.models import sqs_backends

    writer = _Writer()
    # The filling DLQ: what Lambda managed to write (dropped - DLQ write errors) since the start.
    f = truth.function(PROD, "us-east-1", "orders-worker-fulfil")
    sqs = sqs_backends[PROD]["us-east-1"]
    depth = 0
    for t, res in grid:
        if t < model.dlq_start:
            continue
        v = model.bucket(t, res)
        i = model.dlq_fn
        assert i is not None
        arrived = int(v["dropped"][i] - v["dl_errors"][i])
        _send(sqs, f.dlq or "", arrived, t, f.name)
        depth += arrived
        _sqs_points(writer, (PROD, "us-east-1"), f.dlq or "", t, depth, t - model.dlq_start)
    # Stale messages nobody looked at, in a few other queues.
    stale = [g for g in truth.functions if g.dlq and g.name != f.name]
    for g in rng.sample(stale, 3):
        n = rng.randint(2, 40)
        since = truth.now - rng.randint(1, 5) * DAY - rng.randint(0, 23) * 3600
        since -= since % 3600
        _send(sqs_backends[g.account][g.region], g.dlq or "", n, since, g.name)
        for t, res in grid:
            if t >= since:
                _sqs_points(writer, (g.account, g.region), g.dlq or "", t, n, t - since)
    writer.flush(sb)
    return depth


def _send(sqs: Any, queue: str, n: int, t: int, fn_name: str) -> None:
    """Put n messages in an SQS queue, sent at time t.

    moto's send_message re-scans the whole queue per message (quadratic over hundreds); the
    queue's own add_message is what it ends with, so we build the message and call that."""
    from moto.moto_api._internal import mock_random
    from moto.sqs.models import Message

    q = sqs.get_queue(queue)
    for j in range(n):
        body = f'{{"source":"{fn_name}","attempt":3,"seq":"{t}-{j}"}}'
        msg = Message(str(mock_random.uuid4()), body)
        msg.mark_sent()
        setattr(msg, "sent_timestamp", t * 1000)  # back-dated so the oldest message has a real age
        q.add_message(msg)


def _sqs_points(w: _Writer, cell: tuple[str, str], queue: str, t: int, depth: int,
                age: int) -> None:
    if depth > 0:
        dims = {"QueueName": queue}
        w.add(cell, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, t, depth, 1, depth,
              depth)
        w.add(cell, "AWS/SQS", "ApproximateAgeOfOldestMessage", dims, t, age, 1, age, age)


def _describe_incidents(truth: FleetTruth, models: dict[tuple[str, str], _Model],
                        peaks: dict[tuple[str, str], tuple[float, int]], dlq_depth: int) -> None:
    use1 = (PROD, "us-east-1")
    m = models[use1]
    storm = [m.fns[i].name for i in sorted(m.storm)]
    truth.incidents.append(Incident(
        "throttling_storm", PROD, "us-east-1", storm, "search", m.storm_start,
        "search- functions pinned at their reserved concurrency; thousands of throttles a minute",
        {"reserved": {n: truth.function(*use1, n).reserved for n in storm}}))
    fulfil = truth.function(*use1, "orders-worker-fulfil")
    truth.incidents.append(Incident(
        "dlq_filling", PROD, "us-east-1", [fulfil.name], "orders", m.dlq_start,
        "orders-worker-fulfil fails; async events dropped to its DLQ, some DLQ writes fail",
        {"queue": fulfil.dlq, "messages_at_build": dlq_depth}))
    peak_value, peak_t = peaks[use1]
    truth.incidents.append(Incident(
        "account_concurrency_peak", PROD, "us-east-1", [], None, peak_t,
        f"account concurrency peaked at {peak_value:.0f} of {m.limit}",
        {"peak": peak_value, "limit": m.limit, "peak_at": peak_t}))
    charge = truth.function(*use1, "payments-api-charge")
    truth.incidents.append(Incident(
        "provisioned_spillover", PROD, "us-east-1", [charge.name], "payments", m.spill_start,
        "payments-api-charge:live runs past its provisioned concurrency (spillover)",
        {"alias": "live", "provisioned": charge.provisioned["live"]}))
    if m.burst_fn is not None:
        burst = m.fns[m.burst_fn]
        truth.incidents.append(Incident(
            "idle_burst", PROD, "us-east-1", [burst.name], burst.family, m.burst_start,
            f"{burst.name} never ran in 7 days, then throttles at its reserved concurrency",
            {"reserved": burst.reserved, "ran_before": False}))


# ---- live ---------------------------------------------------------------------------------------

class Simulator:
    """Emits live 1-minute points as time passes; deterministic given seed and time."""

    def __init__(self, sb: Sandbox, truth: FleetTruth, retention_seconds: int = 7 * DAY,
                 compact: bool = True) -> None:
        self.sb = sb
        self.truth = truth
        self.retention = retention_seconds
        # Roll live 1-minute points up as they age, like the seeded history (5-minute after 3
        # hours, hourly after a day), so a long-running demo keeps a flat memory footprint.
        self.compact = compact
        self.last_compact = truth.now
        self.models = {cell: _Model(truth, cell, i) for i, cell in enumerate(CELLS)}
        self.last_tick = truth.now  # minutes before this are written
        self.dlq_depth = int(truth.incident("dlq_filling").details["messages_at_build"])

    def tick(self, now: float | None = None) -> int:
        """Write every whole minute between the last tick and `now`; returns points written."""
        from moto.sqs.models import sqs_backends

        end = int(now if now is not None else time.time())
        end -= end % 60
        writer = _Writer()
        use1 = self.models[(PROD, "us-east-1")]
        dlq = self.truth.incident("dlq_filling").details["queue"]
        for t in range(self.last_tick, end, 60):
            for model in self.models.values():
                values = model.bucket(t, 60)
                _emit(writer, model, t, 60, values)
                if model is use1 and use1.dlq_fn is not None:
                    i = use1.dlq_fn
                    arrived = int(values["dropped"][i] - values["dl_errors"][i])
                    _send(sqs_backends[PROD]["us-east-1"], dlq, arrived, t, "orders-worker-fulfil")
                    self.dlq_depth += arrived
                    _sqs_points(writer, (PROD, "us-east-1"), dlq, t, self.dlq_depth,
                                t - use1.dlq_start)
        self.last_tick = max(self.last_tick, end)
        written = writer.flush(self.sb)
        self.sb.prune_metrics(end - self.retention)
        if self.compact and end - self.last_compact >= 3600:
            self.sb.metrics.compact(end - 3 * 3600, 300)
            self.sb.metrics.compact(end - DAY, 3600)
            self.last_compact = end
        return written


# ---- earlier weeks (for the weekly limit review) -------------------------------------------------

PREHISTORY_WEEKS = 13
WEEK = 7 * DAY
# Weekly growth of each cell before the seeded week: (peak concurrency, code storage, reserved
# concurrency). prod us-east-1 creeps toward its concurrency limit and fills its code storage;
# the others grow slowly, so the review shows every kind of answer.
GROWTH: dict[tuple[str, str], tuple[float, float, float]] = {
    (PROD, "us-east-1"): (0.030, 0.020, 0.020),
    (PROD, "eu-west-1"): (0.040, 0.015, 0.010),
    (STAGING, "us-east-1"): (0.010, 0.030, 0.0),
    (STAGING, "eu-west-1"): (0.020, 0.010, 0.0),
}


@dataclass
class CellHistory:
    """One cell's earlier weeks, hourly: account-level concurrency series over [start, end) (the
    weeks before the seeded 7 days) and hourly account snapshots up to the current hour."""

    account: str
    region: str
    start: int
    end: int
    series: dict[str, list[tuple[int, float]]]   # catalogue key -> [(hour, value)]
    snapshots: list[dict[str, int]]             # account_history rows (ts, limits, usage, allocations)


def prehistory(truth: FleetTruth, weeks: int = PREHISTORY_WEEKS, now: float | None = None) -> list[CellHistory]:
    """The simulated fleet's history before the seeded week (pure): each hour's account peak is the
    traffic model's peak at that hour of the day, shrunk by the cell's weekly growth for every week
    back (with a little noise), reservations and code storage likewise; so weekly peaks rise toward
    today's and the limit review has a trend and a number of weeks until each limit."""
    now_h = int(now if now is not None else truth.now) // 3600 * 3600
    start = now_h - weeks * WEEK
    end = (truth.now - 7 * DAY) // 3600 * 3600
    out = []
    for i, cell in enumerate(CELLS):
        model = _Model(truth, cell, i)
        g_conc, g_code, g_res = GROWTH[cell]
        # today's shape, hour by hour: total and claimed concurrency of the day before the seeded week
        day = [model.bucket(t, 3600) for t in range(end - DAY, end, 3600)]
        total = {(end - DAY + 3600 * k) // 3600 % 24: float(v["conc"].sum()) for k, v in enumerate(day)}
        unres = {(end - DAY + 3600 * k) // 3600 % 24: float(v["conc"][~np.isfinite(model.reserved)].sum())
                 for k, v in enumerate(day)}
        reserved_now = sum(f.reserved or 0 for f in model.fns)
        provisioned_now = sum(sum(f.provisioned.values()) for f in model.fns)
        code_now = truth.code_storage_used.get(cell, 0)
        rng = np.random.default_rng([truth.seed, i, 13])
        series: dict[str, list[tuple[int, float]]] = {
            "AccountConcurrentExecutions": [], "ClaimedAccountConcurrency": [], "UnreservedConcurrentExecutions": []}
        snaps = []
        for t in range(start, now_h, 3600):
            back = (now_h - t) / WEEK
            reserved = int(round(reserved_now * (1 - g_res) ** back))
            if t < end:
                f = (1 - g_conc) ** back * float(np.clip(1 + 0.04 * rng.standard_normal(), 0.85, 1.1))
                hour = t // 3600 % 24
                u = unres[hour] * f
                conc = min(u + (total[hour] - unres[hour]) * f, 0.985 * model.limit)
                series["AccountConcurrentExecutions"].append((t, float(round(conc))))
                series["UnreservedConcurrentExecutions"].append((t, float(round(u))))
                claimed = min(max(u - provisioned_now, 0) + reserved + provisioned_now, 0.985 * model.limit)
                series["ClaimedAccountConcurrency"].append((t, float(round(claimed))))
            snaps.append({"ts": t, "concurrency_limit": model.limit, "unreserved_limit": model.limit - reserved,
                          "code_storage_limit": 80_530_636_800,
                          "code_storage_used": int(code_now * (1 - g_code) ** back),
                          "function_count": len(model.fns), "reserved_total": reserved,
                          "provisioned_total": provisioned_now})
        out.append(CellHistory(cell[0], cell[1], start, end, series, snaps))
    return out


def fleet_toml(endpoint_url: str, store_path: str = "headroom.db") -> str:
    """The collector's fleet.toml for this sandbox."""
    regions = ", ".join(f'"{r}"' for r in REGIONS)
    return (f'[store]\npath = "{store_path}"\n\n'
            '[grouping]\nprefix_depth = 1\ntag_keys = ["team"]\n\n'
            f'[[targets]]\nname = "prod"\nregions = [{regions}]\n'
            f'endpoint_url = "{endpoint_url}"\n\n'
            f'[[targets]]\nname = "staging"\nregions = [{regions}]\n'
            f'role_arn = "arn:aws:iam::{STAGING}:role/{ROLE_NAME}"\n'
            f'endpoint_url = "{endpoint_url}"\n')
