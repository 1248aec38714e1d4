"""A large, mostly idle Lambda fleet for the cost benchmark of activity-driven collection.

    fleet = build_activity_fleet(sb, n_functions=5000, idle_share=0.85, seed=7, now=NOW, hours=4)
    fleet.truth.bursts                      # which functions burst when (idle > 3 h before)
    fleet.idle_share_in_hour(NOW - 3600)    # share of functions with no datapoint in that hour
    fleet.tick(NOW + 60)                    # write the minutes up to that time; clock moves on

One account and region. Functions are created directly on moto's backend (about 0.06 ms each,
against ~7.5 ms over HTTP), the collector still reads them over HTTP. Metrics go straight into the
sandbox's store, one minute at a time as CloudWatch keeps them (only non-zero points, timestamps on
minute starts), plus hourly statistic sets for `history_days` before that if asked.

Traffic model, deterministic given the seed and the hour:
- "core" functions (40 % of the target active share) run every minute of every hour;
- "background" functions run in spells: each has a spell length of 1-12 hours (and a phase), and
  in each spell it is busy with probability q, q chosen so that the expected share of functions
  with no datapoint in an hour is `idle_share`; in every hour of a busy spell it runs one stretch
  of 5-60 minutes (its first minute always has an invocation). Spells make activity sticky, as in
  real fleets: the share of functions with data in the last 3 hours stays near 1 - idle_share
  instead of 1 - idle_share**3;
- "dormant" functions (25 % of the fleet) never run, except the scripted bursts: a dormant function
  (so idle far longer than 3 hours) suddenly gets 2-4x its reserved concurrency for 20-45 minutes:
  Invocations, ConcurrentExecutions pinned at the reservation, Throttles, and for async ones
  AsyncEventsReceived and AsyncEventsDropped (into its DLQ when it has one).
Account-level series (no dimensions) are written for every minute from the same numbers:
Invocations, Errors, Throttles = the sum over functions (where non-zero, like Lambda);
ConcurrentExecutions = sum of the functions' concurrency; UnreservedConcurrentExecutions = the
unreserved functions' part; ClaimedAccountConcurrency = unreserved in use + sum of reservations.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .metrics import DimKey
from .server import Sandbox

ACCOUNT = "123456789012"
REGION = "us-east-1"
LAMBDA_ROLE = "lambda-exec"
HOUR = 3600
L = "AWS/Lambda"
TEAMS = ("payments", "orders", "search", "identity", "inventory", "comms", "reports", "media",
         "billing", "ledger", "fraud", "shipping", "pricing", "catalog", "ads", "growth")
KINDS = ("api", "worker", "cron", "stream")
CORE, BACKGROUND, DORMANT = 0, 1, 2
CLASS_NAMES = {CORE: "core", BACKGROUND: "background", DORMANT: "dormant"}
SPELL_HOURS = np.array([1, 2, 3, 4, 6, 8, 12])


def hashed_uniform(seed: int, keys: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """One uniform number in [0, 1) per (seed, key, block), stateless (splitmix64): any hour of
    a simulation can be computed on its own, in any order."""
    with np.errstate(over="ignore"):
        x = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        x ^= (blocks.astype(np.uint64) + np.uint64(seed & 0xFFFFFFFF) * np.uint64(
            0xD1B54A32D192ED03)) * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def spell_active(seed: int, keys: np.ndarray, hour: int, spell: np.ndarray, phase: np.ndarray,
                 q: float) -> np.ndarray:
    """Which of `keys` are in a busy spell in that hour (epoch hours)."""
    return hashed_uniform(seed, keys, (hour + phase) // spell) < q


@dataclass
class Burst:
    """A formerly idle function that suddenly runs past its reserved concurrency."""

    function: str
    start: int  # epoch seconds, minute-aligned; first minute with datapoints
    end: int  # first minute without
    reserved: int
    demand: float  # concurrency wanted (> reserved: the rest throttles)
    is_async: bool
    dlq: str | None
    idle_before: int | None  # seconds without any datapoint before start; None: never ran


@dataclass
class ActivityTruth:
    """What build_activity_fleet created; the benchmark and tests assert against it."""

    account: str
    region: str
    seed: int
    idle_share: float  # target share of functions with no datapoint in an hour
    start: int  # first minute of 1-minute history (an hour boundary)
    built_at: int  # the build's "now" (minute-aligned)
    limit: int  # account concurrency limit set in the sandbox
    names: list[str]
    classes: list[str]  # core | background | dormant, per function
    reserved: dict[str, int]
    async_functions: set[str]
    dlq: dict[str, str]  # function -> DLQ queue name (SQS)
    queues: list[str]
    bursts: list[Burst]
    background_q: float  # a background function's chance to wake up in a given hour
    history_start: int  # first hour of the hourly history (== start without history_days)
    functions_by_class: dict[str, int] = field(default_factory=dict)  # core/background/dormant

    def bursts_between(self, lo: int, hi: int) -> list[Burst]:
        """Bursts running at some point of [lo, hi)."""
        return [b for b in self.bursts if b.start < hi and b.end > lo]


@dataclass
class _Hour:
    """One hour of per-minute values for the functions with data in it (rows)."""

    start: int
    rows: np.ndarray  # function indices
    inv: np.ndarray  # [rows, 60]
    conc: np.ndarray
    errors: np.ndarray
    throttles: np.ndarray
    dur: np.ndarray
    age: np.ndarray
    dropped: np.ndarray


class ActivityFleet:
    """The fleet's model, its truth and its live clock (`now`)."""

    def __init__(self, sb: Sandbox, truth: ActivityTruth, rate: np.ndarray, dur: np.ndarray,
                 err: np.ndarray, age: np.ndarray, cls: np.ndarray, is_async: np.ndarray,
                 reserved: np.ndarray, retention_seconds: int | None) -> None:
        self.sb = sb
        self.truth = truth
        self.n = len(truth.names)
        self.rate, self.dur, self.err, self.age = rate, dur, err, age
        self.cls, self.is_async, self.reserved = cls, is_async, reserved
        self.unreserved = ~np.isfinite(reserved)
        self.reserved_total = float(reserved[~self.unreserved].sum())
        self.background = np.flatnonzero(cls == BACKGROUND)
        self.core = np.flatnonzero(cls == CORE)
        spells = np.random.default_rng([truth.seed, 4])
        self.spell = spells.choice(SPELL_HOURS, len(self.background))
        self.phase = spells.integers(0, 12, len(self.background)) % self.spell
        self.pos = {name: i for i, name in enumerate(truth.names)}
        self.dims: list[DimKey] = [(("FunctionName", n),) for n in truth.names]
        self.now: float = float(truth.built_at)  # what the store's clock reads when pinned
        self.last_tick = truth.built_at  # minutes before this are written
        self.retention = retention_seconds
        self.points = 0
        self.dlq_depth: dict[str, int] = {q: 0 for q in truth.queues}
        self.dlq_oldest: dict[str, int | None] = {q: None for q in truth.queues}
        self._cache: tuple[int, _Hour] | None = None

    # ---- the model ---------------------------------------------------------------------------

    def _hour(self, start: int) -> _Hour:
        """Every value of the hour beginning at `start` (deterministic given seed and hour)."""
        if self._cache is not None and self._cache[0] == start:
            return self._cache[1]
        seed, h = self.truth.seed, start // HOUR
        plan = np.random.default_rng([seed, 1, h])
        wake = self.background[spell_active(seed, self.background, h, self.spell, self.phase,
                                            self.truth.background_q)]
        first = plan.integers(0, 56, len(wake))
        length = plan.integers(5, 61, len(wake))
        rows = np.concatenate([self.core, wake])
        k = len(rows)
        minute = np.arange(60)
        on = np.ones((k, 60), dtype=bool)
        nc = len(self.core)
        on[nc:] = (minute >= first[:, None]) & (minute < np.minimum(first + length, 60)[:, None])
        rng = np.random.default_rng([seed, 2, h])
        lam = self.rate[rows][:, None] * on
        inv = rng.poisson(lam).astype(float)
        if len(wake):  # a stretch begins with an invocation: the hour surely has a datapoint
            inv[np.arange(nc, k), first] = np.maximum(inv[np.arange(nc, k), first], 1.0)
        dur = self.dur[rows][:, None] * np.clip(1 + 0.1 * rng.standard_normal((k, 60)), 0.5, 2)
        conc = np.where(inv > 0, np.maximum(np.ceil(inv * dur / 60000.0 * 1.3), 1.0), 0.0)
        conc = np.minimum(conc, self.reserved[rows][:, None])
        errors = rng.binomial(inv.astype(np.int64), self.err[rows][:, None]).astype(float)
        throttles = np.zeros((k, 60))
        dropped = np.zeros((k, 60))
        age = self.age[rows][:, None] * np.clip(1 + 0.2 * rng.standard_normal((k, 60)), 0.5, 3)
        extra = []
        for b in self.truth.bursts_between(start, start + HOUR):
            i = self.pos[b.function]
            brng = np.random.default_rng([seed, 3, h, i])
            on_b = (start + minute * 60 >= b.start) & (start + minute * 60 < b.end)
            per_min = 60000.0 / self.dur[i]
            want = b.demand * brng.uniform(0.85, 1.15, 60)
            served = np.minimum(want, b.reserved)
            b_inv = np.where(on_b, brng.poisson(served * per_min), 0).astype(float)
            b_inv[on_b] = np.maximum(b_inv[on_b], 1.0)
            b_thr = np.where(on_b, np.round((want - served) * per_min), 0.0)
            b_conc = np.where(b_inv > 0, float(b.reserved), 0.0)
            b_err = np.where(on_b, brng.binomial(b_inv.astype(np.int64), 0.02), 0).astype(float)
            # Most throttled async events are retried; a few run out of attempts or age.
            b_drop = (np.where(on_b, np.minimum(np.round(b_thr * brng.uniform(0.002, 0.01, 60)),
                                                brng.integers(5, 40, 60)), 0.0)
                      if b.is_async else np.zeros(60))
            b_dur = np.full(60, self.dur[i]) * brng.uniform(0.9, 1.6, 60)
            since = (start + minute * 60 - b.start) // 60  # minutes into the burst
            b_age = np.where(on_b, 60_000 + 30_000 * (since + 1), 0.0)  # the backlog grows
            extra.append((i, b_inv, b_conc, b_err, b_thr, b_dur, b_age, b_drop))
        if extra:
            rows = np.concatenate([rows, [e[0] for e in extra]])
            inv, conc, errors, throttles, dur, age, dropped = (
                np.vstack([arr, np.array([e[j] for e in extra])])
                for j, arr in ((1, inv), (2, conc), (3, errors), (4, throttles), (5, dur),
                               (6, age), (7, dropped)))
        hour = _Hour(start, rows, inv, conc, errors, throttles, dur, age, dropped)
        self._cache = (start, hour)
        return hour

    def active_in_hour(self, hour_start: int) -> set[str]:
        """Functions with at least one datapoint in the hour beginning at hour_start."""
        hr = self._hour(hour_start - hour_start % HOUR)
        has = (hr.inv > 0).any(axis=1) | (hr.throttles > 0).any(axis=1)
        return {self.truth.names[i] for i in hr.rows[has]}

    def idle_share_in_hour(self, hour_start: int) -> float:
        """Share of the fleet's functions with no datapoint at all in that hour."""
        return 1.0 - len(self.active_in_hour(hour_start)) / self.n

    # ---- writing -----------------------------------------------------------------------------

    def _minute_batches(self, hr: _Hour, c0: int, c1: int) -> Iterable[tuple[Any, ...]]:
        """Statistic-set batches for minutes c0..c1-1 of one hour (function and account level)."""
        t = hr.start + 60 * np.arange(c0, c1)
        inv, conc, err, thr = (a[:, c0:c1] for a in (hr.inv, hr.conc, hr.errors, hr.throttles))
        dur, age, drop = hr.dur[:, c0:c1], hr.age[:, c0:c1], hr.dropped[:, c0:c1]
        anything = (inv > 0) | (thr > 0)
        for r in np.flatnonzero(anything.any(axis=1)):
            i = int(hr.rows[r])
            dims = self.dims[i]
            for metric, values in (("Invocations", inv[r]), ("Errors", err[r]),
                                   ("Throttles", thr[r])):
                m = values > 0
                if m.any():
                    v = values[m].tolist()
                    yield L, metric, dims, t[m].tolist(), v, v, [1.0] * len(v), [1.0] * len(v)
            m = inv[r] > 0
            if not m.any():
                continue
            c = conc[r][m].tolist()
            ones = [1.0] * len(c)
            ts = t[m].tolist()
            yield L, "ConcurrentExecutions", dims, ts, c, ones, c, c
            n_inv, d = inv[r][m], dur[r][m]
            yield (L, "Duration", dims, ts, (d * n_inv).tolist(), n_inv.tolist(),
                   (d * 0.3).tolist(), np.minimum(d * 3.5, 900_000).tolist())
            if self.is_async[i]:
                received = (inv[r] + thr[r])[m].tolist()
                yield L, "AsyncEventsReceived", dims, ts, received, received, ones, ones
                a = age[r][m]
                yield (L, "AsyncEventAge", dims, ts, (a * n_inv).tolist(), n_inv.tolist(),
                       (a * 0.2).tolist(), (a * 2.5).tolist())
                md = drop[r] > 0
                if md.any():
                    v = drop[r][md].tolist()
                    yield L, "AsyncEventsDropped", dims, t[md].tolist(), v, v, [1.0] * len(v), \
                        [1.0] * len(v)
        # Account level: the same minutes, summed over every function.
        for metric, values in (("Invocations", inv.sum(axis=0)), ("Errors", err.sum(axis=0)),
                               ("Throttles", thr.sum(axis=0))):
            m = values > 0
            if m.any():
                v = values[m].tolist()
                yield L, metric, (), t[m].tolist(), v, v, [1.0] * int(m.sum()), [1.0] * int(
                    m.sum())
        total = conc.sum(axis=0)
        unreserved = conc[self.unreserved[hr.rows]].sum(axis=0)
        claimed = unreserved + self.reserved_total
        ones = [1.0] * len(t)
        for metric, values in (("ConcurrentExecutions", total),
                               ("UnreservedConcurrentExecutions", unreserved),
                               ("ClaimedAccountConcurrency", claimed)):
            m = values > 0
            if m.any():
                v = values[m].tolist()
                yield L, metric, (), t[m].tolist(), v, ones[:len(v)], v, v

    def _hourly_sets(self, hr: _Hour) -> Iterable[tuple[str, DimKey, float, float, float,
                                                     float]]:
        """The hour as one exact statistic set (metric, dims, sum, count, min, max) per series
        (coarse history)."""
        inv, thr, err, conc, dur = hr.inv, hr.throttles, hr.errors, hr.conc, hr.dur
        ran = inv > 0
        minutes = ran.sum(axis=1)
        s_inv, s_thr, s_err = (a.sum(axis=1).tolist() for a in (inv, thr, err))
        c_sum = conc.sum(axis=1).tolist()
        c_min = np.where(ran, conc, np.inf).min(axis=1).tolist()
        c_max = conc.max(axis=1).tolist()
        d_sum = (dur * inv).sum(axis=1).tolist()
        d_min = (np.where(ran, dur, np.inf).min(axis=1) * 0.3).tolist()
        d_max = np.minimum(np.where(ran, dur, 0).max(axis=1) * 3.5, 900_000).tolist()
        for r, i in enumerate(hr.rows.tolist()):
            dims = self.dims[i]
            for metric, v in (("Invocations", s_inv[r]), ("Errors", s_err[r]),
                              ("Throttles", s_thr[r])):
                if v > 0:
                    yield metric, dims, v, v, 1.0, 1.0
            if minutes[r]:
                yield "ConcurrentExecutions", dims, c_sum[r], float(minutes[r]), c_min[r], c_max[r]
                yield "Duration", dims, d_sum[r], s_inv[r], d_min[r], d_max[r]
        for metric, v in (("Invocations", sum(s_inv)), ("Errors", sum(s_err)),
                          ("Throttles", sum(s_thr))):
            if v > 0:
                yield metric, (), v, v, 1.0, 1.0
        total = conc.sum(axis=0)
        m = total > 0
        if m.any():
            unreserved = conc[self.unreserved[hr.rows]].sum(axis=0)[m]
            for metric, values in (("ConcurrentExecutions", total[m]),
                                   ("UnreservedConcurrentExecutions", unreserved),
                                   ("ClaimedAccountConcurrency", unreserved + self.reserved_total)):
                yield (metric, (), float(values.sum()), float(m.sum()), float(values.min()),
                       float(values.max()))

    def _write_hours(self, lo: int, hi: int) -> int:
        """Hourly statistic sets for the hours in [lo, hi) (hour-aligned), loaded per series."""
        acc: dict[tuple[str, DimKey], tuple[list[Any], ...]] = {}
        for h in range(lo, hi, HOUR):
            for metric, dims, sm, c, mn, mx in self._hourly_sets(self._hour(h)):
                cols = acc.get((metric, dims))
                if cols is None:
                    cols = acc[(metric, dims)] = ([], [], [], [], [])
                for col, v in zip(cols, (h, sm, c, mn, mx)):
                    col.append(v)
        return self.sb.metrics.load_many(
            self.truth.account, self.truth.region,
            ((L, metric, dims, ts, sm, c, mn, mx)
             for (metric, dims), (ts, sm, c, mn, mx) in acc.items()))

    def _write_minutes(self, lo: int, hi: int) -> int:
        """Write every minute in [lo, hi) (minute-aligned); returns points written."""
        ms = self.sb.metrics
        acct, region = self.truth.account, self.truth.region
        written = 0
        h = lo - lo % HOUR
        while h < hi:
            c0 = max(0, (lo - h) // 60)
            c1 = min(60, (hi - h) // 60)
            hr = self._hour(h)
            written += ms.load_many(acct, region, self._minute_batches(hr, c0, c1))
            written += ms.load_many(acct, region, self._queue_minutes(hr, c0, c1))
            h += HOUR
        return written

    def _queue_minutes(self, hr: _Hour, c0: int, c1: int) -> Iterable[tuple[Any, ...]]:
        """Dropped async events of bursting functions with a DLQ land in it (as SQS messages);
        AWS/SQS depth and age of the oldest message, per minute, for every non-empty DLQ."""
        from moto.sqs.models import sqs_backends

        from .fleet import _send

        sqs = sqs_backends[self.truth.account][self.truth.region]
        arrivals: dict[str, np.ndarray] = {}
        for r in np.flatnonzero(hr.dropped[:, c0:c1].any(axis=1)):
            name = self.truth.names[int(hr.rows[r])]
            queue = self.truth.dlq.get(name)
            if queue is None:
                continue
            for c in range(c0, c1):
                n = int(hr.dropped[r, c])
                if n:
                    _send(sqs, queue, n, hr.start + 60 * c, name)
            arrivals.setdefault(queue, np.zeros(c1 - c0))
            arrivals[queue] += hr.dropped[r, c0:c1]
        t = [hr.start + 60 * c for c in range(c0, c1)]
        for q in self.truth.queues:
            added = arrivals.get(q)
            depth = self.dlq_depth[q] + (np.cumsum(added) if added is not None
                                         else np.zeros(len(t)))
            if added is not None:
                self.dlq_depth[q] = int(depth[-1])
                if self.dlq_oldest[q] is None:
                    self.dlq_oldest[q] = t[int(np.flatnonzero(added)[0])]
            m = depth > 0
            if not m.any():
                continue
            ts = [x for x, keep in zip(t, m) if keep]
            v = depth[m].tolist()
            ones = [1.0] * len(v)
            dims = (("QueueName", q),)
            yield "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, ts, v, ones, v, v
            oldest = self.dlq_oldest[q]
            ages = [float(max(0, x - (oldest if oldest is not None else x))) for x in ts]
            yield "AWS/SQS", "ApproximateAgeOfOldestMessage", dims, ts, ages, ones, ages, ages

    def tick(self, now: float | None = None) -> int:
        """Write every whole minute between the last tick and `now`; the pinned clock moves to
        `now`; returns the points written."""
        now = float(now if now is not None else time.time())
        end = int(now) - int(now) % 60
        written = 0
        if end > self.last_tick:
            written = self._write_minutes(self.last_tick, end)
            self.last_tick = end
        self.now = max(self.now, now)
        if self.retention is not None:
            self.sb.prune_metrics(end - self.retention)
        self.points += written
        return written


def build_activity_fleet(sb: Sandbox, n_functions: int = 5000, idle_share: float = 0.85,
                         bursts: int | Sequence[int] = 8, seed: int = 7,
                         now: float | None = None, hours: int = 4, history_days: int = 0,
                         account: str = ACCOUNT, region: str = REGION,
                         burst_horizon_hours: float = 6.0, async_share: float = 0.2,
                         n_queues: int = 10, pin_clock: bool = True,
                         retention_seconds: int | None = None) -> ActivityFleet:
    """Create n_functions in one account+region of the (started) sandbox and write `hours` of
    1-minute metrics ending at `now` (plus `history_days` of hourly sets before that).

    bursts: how many scripted bursts (the first starts 15 minutes before `now`, the rest spread
    over the next `burst_horizon_hours`), or their start times (epoch seconds).
    pin_clock: the store's clock (ListMetrics' "now") follows the fleet's: `now`, then each tick.
    retention_seconds: tick() prunes points older than that (None: keep everything).
    """
    if not 0.0 <= idle_share < 1.0:
        raise ValueError("idle_share must be in [0, 1)")
    built_at = int(now if now is not None else time.time())
    built_at -= built_at % 60
    start = built_at - hours * HOUR
    start -= start % HOUR  # at least `hours` of minutes, from an hour boundary
    n = n_functions
    rng = np.random.default_rng([seed, 0])
    # Classes: core functions carry 40 % of the active share, 25 % are dormant, the rest wake up
    # now and then with the probability that makes `idle_share` the expected idle share.
    active = n * (1.0 - idle_share)
    n_core = int(round(active * 0.4))
    n_dormant = min(int(round(n * 0.25)), n - n_core - 1)
    n_back = n - n_core - n_dormant
    q = min(1.0, max(0.0, (active - n_core) / max(n_back, 1)))
    cls = np.full(n, BACKGROUND)
    order = rng.permutation(n)
    cls[order[:n_core]] = CORE
    cls[order[n_core:n_core + n_dormant]] = DORMANT
    kinds = rng.choice(len(KINDS), n, p=[0.4, 0.35, 0.15, 0.1])
    names = [f"{TEAMS[i % len(TEAMS)]}-{KINDS[kinds[i]]}-{i:05d}" for i in range(n)]
    rate = np.where(cls == CORE, np.exp(rng.normal(math.log(30), 1.0, n)),
                    np.exp(rng.normal(math.log(3), 0.9, n)))  # invocations per active minute
    dur = np.exp(rng.uniform(math.log(20), math.log(3000), n))  # ms
    err = np.where(rng.random(n) < 0.6, 0.0, rng.uniform(0.0005, 0.03, n))
    age = rng.uniform(15, 400, n)
    is_async = (rng.random(n) < async_share) | (np.array([KINDS[k] for k in kinds]) == "cron")
    reserved = np.full(n, np.inf)
    # A few running functions hold a reservation well above their busiest minute (no throttles).
    peak = np.ceil(rate * 2.0 * dur * 2.0 / 60000.0 * 1.3) + 3
    holders = np.flatnonzero((cls != DORMANT) & (rng.random(n) < 0.015) & (peak <= 40))
    reserved[holders] = peak[holders] + 2
    # Bursts: distinct dormant functions (idle since forever, so > 3 h), reservations 5-20.
    if isinstance(bursts, int):
        starts = [built_at - 15 * 60]
        if bursts > 1:
            step = burst_horizon_hours * HOUR / (bursts - 1)
            starts += [built_at + int(step * (k + 0.5)) for k in range(bursts - 1)]
        starts = starts[:bursts]
    else:
        starts = list(bursts)
    starts = [int(s) - int(s) % 60 for s in starts]
    dormant = [int(i) for i in order[n_core:n_core + n_dormant]]
    if len(starts) > len(dormant):
        raise ValueError("more bursts than dormant functions")
    burst_fns: list[int] = (rng.choice(dormant, len(starts), replace=False).tolist()
                            if starts else [])
    queues = [f"dlq-{k:02d}" for k in range(n_queues)]
    dlq: dict[str, str] = {}
    for i in np.flatnonzero(is_async):
        if queues and rng.random() < 0.3:
            dlq[names[i]] = queues[int(rng.integers(0, len(queues)))]
    burst_list = []
    for s, k in sorted(zip(starts, burst_fns)):
        r = int(rng.integers(5, 21))
        reserved[k] = r
        dur[k] = rng.uniform(200, 2000)
        if queues and rng.random() < 0.5:  # half of the bursts are async events piling up
            is_async[k] = True
            dlq.setdefault(names[k], queues[int(rng.integers(0, len(queues)))])
        burst_list.append(Burst(names[k], s, s + 60 * int(rng.integers(20, 46)), r,
                                float(r * rng.uniform(2.0, 4.0)), bool(is_async[k]),
                                dlq.get(names[k]) if is_async[k] else None, None))
    truth = ActivityTruth(
        account=account, region=region, seed=seed, idle_share=idle_share, start=start,
        built_at=built_at, limit=0, names=names,
        classes=[CLASS_NAMES[int(c)] for c in cls],
        reserved={names[i]: int(reserved[i]) for i in np.flatnonzero(np.isfinite(reserved))},
        async_functions={names[i] for i in np.flatnonzero(is_async)}, dlq=dlq, queues=queues,
        bursts=burst_list, background_q=q,
        history_start=start - history_days * 86400,
        functions_by_class={name: int((cls == c).sum()) for c, name in CLASS_NAMES.items()})
    fleet = ActivityFleet(sb, truth, rate, dur, err, age, cls, is_async, reserved,
                          retention_seconds)
    # The limit: half again the busiest minute of a sample hour, plus every reservation.
    sample = fleet._hour(built_at - built_at % HOUR - HOUR)
    busiest = float(sample.conc[fleet.unreserved[sample.rows]].sum(axis=0).max(initial=0.0))
    truth.limit = int(max(1000, math.ceil((busiest * 1.5 + fleet.reserved_total + 100) / 100)
                          * 100))
    _create_functions(sb, truth)
    ms = sb.metrics
    fleet.points += fleet._write_hours(truth.history_start, start)
    _seed_queues(fleet)
    fleet.last_tick = start
    fleet.now = float(start)
    if pin_clock:
        ms.set_clock(lambda: fleet.now)
    fleet.tick(built_at)
    return fleet


def _create_functions(sb: Sandbox, truth: ActivityTruth) -> None:
    """Role, DLQs and functions (tags, reserved concurrency, DLQ) on moto's backends."""
    import base64
    import io
    import zipfile

    from moto.awslambda.models import lambda_backends
    from moto.iam.models import iam_backends
    from moto.sqs.models import sqs_backends

    account, region = truth.account, truth.region
    iam = iam_backends[account]["aws"]
    try:
        iam.get_role(LAMBDA_ROLE)
    except Exception:  # noqa: BLE001 - moto's NoSuchEntity
        iam.create_role(role_name=LAMBDA_ROLE, assume_role_policy_document="{}", path="/",
                        permissions_boundary=None, description="sandbox", tags=[],
                        max_session_duration="3600")
    sb.set_account_limits(account, region, concurrent_executions=truth.limit)
    sqs = sqs_backends[account][region]
    for q in truth.queues:
        sqs.create_queue(q, MessageRetentionPeriod="1209600")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", "def h(event, context):\n    return 1\n")
    code = {"ZipFile": base64.b64encode(buf.getvalue()).decode()}
    backend = lambda_backends[account][region]
    role = f"arn:aws:iam::{account}:role/{LAMBDA_ROLE}"
    for i, name in enumerate(truth.names):
        spec: dict[str, Any] = {
            "FunctionName": name, "Runtime": "python3.12", "Role": role, "Handler": "h.h",
            "Code": code, "MemorySize": 256, "Description": truth.classes[i],
            "Tags": ({"team": name.split("-", 1)[0], "env": "prod"} if i % 10 != 9 else {})}
        if name in truth.dlq:
            spec["DeadLetterConfig"] = {
                "TargetArn": f"arn:aws:sqs:{region}:{account}:{truth.dlq[name]}"}
        fn = backend.create_function(spec)
        if name in truth.reserved:
            fn.reserved_concurrency = truth.reserved[name]


def _seed_queues(fleet: ActivityFleet) -> None:
    """A few old messages in some DLQs (queue k holds k % 4), sent when the history starts."""
    from moto.sqs.models import sqs_backends

    from .fleet import _send

    sqs = sqs_backends[fleet.truth.account][fleet.truth.region]
    for k, q in enumerate(fleet.truth.queues):
        if k % 4:
            _send(sqs, q, k % 4, fleet.truth.start, "old-failures")
            fleet.dlq_depth[q] = k % 4
            fleet.dlq_oldest[q] = fleet.truth.start
