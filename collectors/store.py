"""The history store: SQLite in WAL mode, versioned schema, one transaction per target per cycle.

Points are packed one row per (series, hour) in points_hour, each at its resolution (60 s, 300 s or
3600 s), with the hour's sum and max in the row; summary_86400 keeps each series' days and group_sums
each group's summed concurrency per minute. Rollup moves ageing points to coarser resolutions (max for
levels, sum for counts, from the catalogue). Coverage ranges record what was collected: inside a covered
range a missing point is a real zero (idle); outside it the value is unknown.
"""
from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections import defaultdict
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeAlias

import psycopg

from . import pg
from .catalogue import BY_KEY
from .config import Retention
from .model import Covered, Point, TargetResult

# A connection: sqlite3.Connection, or collectors.pg.Connection, which takes the same statements.
Conn: TypeAlias = Any

MIGRATIONS: list[str | Callable[[Conn], None]] = [
    # 1: initial schema
    """
    CREATE TABLE cycles (
        id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL
    );
    CREATE TABLE target_runs (
        cycle_id INTEGER NOT NULL, target TEXT NOT NULL, region TEXT NOT NULL, account TEXT,
        started_at REAL NOT NULL, finished_at REAL NOT NULL, functions INTEGER, series INTEGER,
        api_calls INTEGER, metric_queries INTEGER, points INTEGER, error_count INTEGER NOT NULL,
        PRIMARY KEY (cycle_id, target, region)
    );
    CREATE TABLE errors (
        cycle_id INTEGER NOT NULL, target TEXT NOT NULL, region TEXT NOT NULL, account TEXT,
        source TEXT NOT NULL, api TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, at REAL NOT NULL
    );
    CREATE INDEX errors_cycle ON errors(cycle_id);
    CREATE TABLE coverage (
        account TEXT NOT NULL, region TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
        PRIMARY KEY (account, region, start)
    ) WITHOUT ROWID;
    CREATE TABLE accounts (
        account TEXT NOT NULL, region TEXT NOT NULL, target TEXT NOT NULL, updated_at REAL NOT NULL,
        concurrency_limit INTEGER, unreserved_limit INTEGER, code_storage_limit INTEGER,
        code_storage_used INTEGER, function_count INTEGER, quota_concurrency REAL,
        quota_code_storage_bytes REAL,
        PRIMARY KEY (account, region)
    );
    CREATE TABLE functions (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL,
        runtime TEXT, memory_mb INTEGER, timeout_s INTEGER, architecture TEXT, package_type TEXT,
        code_size INTEGER NOT NULL, code_size_all_versions INTEGER NOT NULL, version_count INTEGER NOT NULL,
        last_modified TEXT, revision TEXT, vpc INTEGER NOT NULL, dlq_arn TEXT, on_failure_arn TEXT,
        reserved_concurrency INTEGER, tags TEXT NOT NULL, groups TEXT NOT NULL, detail_at REAL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE function_groups (
        account TEXT NOT NULL, region TEXT NOT NULL, function TEXT NOT NULL, kind TEXT NOT NULL,
        name TEXT NOT NULL, PRIMARY KEY (account, region, function, kind)
    ) WITHOUT ROWID;
    CREATE INDEX function_groups_by_group ON function_groups(kind, name);
    CREATE TABLE provisioned (
        account TEXT NOT NULL, region TEXT NOT NULL, function TEXT NOT NULL, qualifier TEXT NOT NULL,
        requested INTEGER, allocated INTEGER, available INTEGER, status TEXT,
        PRIMARY KEY (account, region, function, qualifier)
    ) WITHOUT ROWID;
    CREATE TABLE queues (
        account TEXT NOT NULL, region TEXT NOT NULL, arn TEXT NOT NULL, name TEXT NOT NULL,
        visible INTEGER, not_visible INTEGER, delayed INTEGER, error TEXT, updated_at REAL NOT NULL,
        PRIMARY KEY (account, region, arn)
    ) WITHOUT ROWID;
    CREATE TABLE series (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, metric TEXT NOT NULL,
        dim TEXT NOT NULL, resource TEXT NOT NULL, rollup TEXT NOT NULL CHECK (rollup IN ('max', 'sum')),
        UNIQUE (account, region, metric, dim, resource)
    );
    CREATE TABLE points_60 (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
        PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
    CREATE TABLE points_300 (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
        PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
    CREATE TABLE points_3600 (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
        PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
    CREATE VIEW points AS
        SELECT series_id, ts, value, 60 AS step FROM points_60
        UNION ALL SELECT series_id, ts, value, 300 FROM points_300
        UNION ALL SELECT series_id, ts, value, 3600 FROM points_3600;
    """,
    # 2: hourly snapshots of account limits and usage (code storage growth, allocation trends)
    """
    CREATE TABLE account_history (
        account TEXT NOT NULL, region TEXT NOT NULL, ts INTEGER NOT NULL, concurrency_limit INTEGER,
        unreserved_limit INTEGER, code_storage_limit INTEGER, code_storage_used INTEGER,
        function_count INTEGER, reserved_total INTEGER, provisioned_total INTEGER,
        PRIMARY KEY (account, region, ts)
    ) WITHOUT ROWID;
    """,
    # 3: small key/value state (e.g. the last rollup boundary)
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    """,
    # 4: the points view made SQLite copy every stored point per query; union_points() replaces it
    """
    DROP VIEW points;
    """,
    # 5: coverage per subject (the account's series, each function's, each alias set's, each queue's),
    # not per (account, region): a window asked for the account but not for a function is unknown for
    # that function. Old account-wide ranges are kept for the account's own series only; functions are
    # re-read. And a health record per configured (target, region), whether or not it reached AWS.
    """
    CREATE TABLE series_coverage (
        account TEXT NOT NULL, region TEXT NOT NULL, scope TEXT NOT NULL, dim TEXT NOT NULL,
        start INTEGER NOT NULL, end INTEGER NOT NULL,
        PRIMARY KEY (account, region, scope, dim, start)
    ) WITHOUT ROWID;
    INSERT INTO series_coverage SELECT account, region, 'account', '', start, end FROM coverage;
    DROP TABLE coverage;
    CREATE TABLE target_health (
        target TEXT NOT NULL, region TEXT NOT NULL, account TEXT,
        last_attempt REAL NOT NULL, last_success REAL, listed_at REAL, last_cycle INTEGER NOT NULL,
        function_read_at REAL,
        PRIMARY KEY (target, region)
    ) WITHOUT ROWID;
    ALTER TABLE target_runs ADD COLUMN metrics_account INTEGER;
    ALTER TABLE target_runs ADD COLUMN metrics_function INTEGER;
    ALTER TABLE target_runs ADD COLUMN metrics_queue INTEGER;
    ALTER TABLE target_runs ADD COLUMN discovery_calls INTEGER;
    CREATE INDEX target_runs_by_time ON target_runs(started_at);
    """,
    # 6: per series summaries by hour and by day (sum and max of the points whose bucket starts in it),
    # kept as points are written: a review reads a day as one row per series, not 1,440 points
    """
    CREATE TABLE summary_3600 (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, total REAL NOT NULL,
        peak REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
    CREATE TABLE summary_86400 (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, total REAL NOT NULL,
        peak REAL NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
    INSERT INTO summary_3600 SELECT series_id, ts / 3600 * 3600 AS h, SUM(value), MAX(value) FROM (
        SELECT series_id, ts, value FROM points_60 UNION ALL SELECT series_id, ts, value FROM points_300
        UNION ALL SELECT series_id, ts, value FROM points_3600) AS p GROUP BY series_id, h;
    INSERT INTO summary_86400 SELECT series_id, ts / 86400 * 86400 AS d, SUM(total), MAX(peak)
        FROM summary_3600 GROUP BY series_id, d;
    """,
    # alert state, per [[alerts]] destination and finding: what was delivered, when, and what failed, so
    # a restart neither repeats nor forgets; `label` is the masked URL (a destination's URL is a secret)
    """
    CREATE TABLE alert_state (
        destination TEXT NOT NULL, key TEXT NOT NULL, label TEXT NOT NULL,
        target TEXT NOT NULL, region TEXT NOT NULL, account TEXT, kind TEXT NOT NULL, subject TEXT NOT NULL,
        severity TEXT, message TEXT NOT NULL, detail TEXT NOT NULL,
        first_seen REAL NOT NULL, last_seen REAL NOT NULL, resolved_at REAL,
        sent_severity TEXT, sent_at REAL, failed_at REAL, failure TEXT, failures INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (destination, key)
    ) WITHOUT ROWID;
    """,
]

def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ranges; touching ranges are joined."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def intersect_ranges(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of two sorted range lists that both cover."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def gaps(covered: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) that sorted, merged `covered` ranges leave out."""
    out, at = [], start
    for s, e in covered:
        if e <= at:
            continue
        if s >= end:
            break
        if s > at:
            out.append((at, s))
        at = max(at, e)
    if at < end:
        out.append((at, end))
    return out


# Points are packed one row per (series, hour): `data` holds every point whose bucket starts in that
# hour, whatever its resolution. Entry keys are one byte each, minute offset | resolution code << 6
# (code 0: 60 s, 1: 300 s, 2: 3600 s; two bytes, second offset | code << 12, in a row with a point off
# the minute), followed by the values as one array of the narrowest type that holds them all exactly
# (unsigned 8/16/32-bit integers, else float64); the first byte names the type and the key width.
# `total` and `peak` are the hour's summary (sum and max of its points). A missing entry inside covered
# time is a zero, as before: zeros are not stored.
STEPS = (60, 300, 3600)
RESOLUTIONS = STEPS
_CODE = {60: 0, 300: 1, 3600: 2}
_CODE_BITS = tuple(c << 12 for c in _CODE.values())   # an entry key's resolution part
_TYPES = ("B", "H", "I", "d")
_SIZES = tuple(array(t).itemsize for t in _TYPES)
_LIMITS = (256.0, 65536.0, 4294967296.0)


_NARROW = {m * 60 | code << 12: m | code << 6 for m in range(60) for code in range(3)}   # key -> its byte
_WIDE = tuple((b & 63) * 60 | (b >> 6) << 12 for b in range(256))                        # byte -> its key


def encode_block(entries: dict[int, float]) -> tuple[bytes, float, float]:
    """(data, total, peak) of one series-hour's entries (key -> value); entries must not be empty."""
    keys = sorted(entries)
    vals = list(map(entries.__getitem__, keys))
    lo, hi = min(vals), max(vals)
    t = 3
    if lo >= 0 and hi < _LIMITS[2]:
        ints = list(map(int, vals))
        if ints == vals:   # whole numbers (counts, concurrency): 1, 2 or 4 bytes each instead of 8
            t = 0 if hi < _LIMITS[0] else 1 if hi < _LIMITS[1] else 2
            packed = array(_TYPES[t], ints).tobytes()
    if t == 3:
        packed = array("d", vals).tobytes()
    try:   # minute-aligned (CloudWatch's buckets): one byte a key
        head = bytes(map(_NARROW.__getitem__, keys))
    except KeyError:
        t |= 4
        head = array("H", keys).tobytes()
    return bytes((t,)) + head + packed, float(sum(vals)), float(hi)


def _split_block(data: bytes) -> tuple[int, Sequence[int], bytes]:
    """A packed series-hour's type byte, its keys as stored (one byte each: minute | code << 6, or with
    type bit 4 two bytes each: second offset | code << 12) and its packed values."""
    t = data[0]
    size = _SIZES[t & 3]
    if t & 4:
        n = (len(data) - 1) // (2 + size)
        return t, array("H", data[1:1 + 2 * n]), data[1 + 2 * n:]
    n = (len(data) - 1) // (1 + size)
    return t, data[1:1 + n], data[1 + n:]


def _keys_values(data: bytes) -> tuple[Iterable[int], Iterable[float]]:
    """A packed series-hour's entry keys (second offset | resolution code << 12) and values, in stored order."""
    t, keys, rest = _split_block(data)
    vals: Iterable[float] = array("d", rest) if t & 3 == 3 else map(float, array(_TYPES[t & 3], rest))
    return (keys if t & 4 else map(_WIDE.__getitem__, keys)), vals


def decode_block(data: bytes) -> dict[int, float]:
    """Entry key (second offset | resolution code << 12) -> value of one packed series-hour."""
    return dict(zip(*_keys_values(data)))


def block_slices(data: bytes, lo: int, hi: int) -> list[Sequence[float]]:
    """The values of one packed series-hour whose second offset is in [lo, hi), as slices in the order
    decode_block gives them (resolution, then time): part of an hour's sum and max without decoding it,
    the keys found by bisection (they are stored sorted)."""
    t, keys, rest = _split_block(data)
    if t & 4:
        bounds = [(c << 12 | lo, c << 12 | hi) for c in range(3)]
    else:   # one byte a key: minute | code << 6
        m0, m1 = -(-lo // 60), -(-hi // 60)
        bounds = [(c << 6 | m0, c << 6 | m1) for c in range(3)]
    vals = array(_TYPES[t & 3], rest)
    out: list[Any] = []
    for a, b in bounds:
        i, j = bisect_left(keys, a), bisect_left(keys, b)
        if i < j:
            out.append(vals[i:j])
    return out


def block_points(hour: int, data: bytes) -> Iterator[tuple[int, float, int]]:
    """(ts, value, step) of the points packed in one series-hour."""
    for k, v in zip(*_keys_values(data)):
        yield hour + (k & 4095), v, STEPS[k >> 12]


def sorted_points(hour: int, data: bytes, peak_per_time: bool = False) -> list[tuple[int, float, int]]:
    """sorted(block_points(hour, data)): the keys are stored sorted by resolution, then time, so a row of
    one resolution (nearly all) is in order already and is not sorted again. `peak_per_time` (a level):
    where two resolutions hold one time, only the larger point (one series is one number at a time)."""
    pts = [(hour + (k & 4095), v, STEPS[k >> 12]) for k, v in zip(*_keys_values(data))]
    if len(pts) > 1 and pts[0][2] != pts[-1][2]:
        pts.sort()
        if peak_per_time:   # sorted by (ts, value): the last point of each time is its largest
            pts = [p for p, q in zip(pts, pts[1:]) if p[0] != q[0]] + pts[-1:]
    return pts


def _add_slices(out: dict[Any, tuple[float, float]], key: Any, hour: int, data: bytes, lo: int, hi: int) -> None:
    """Add the points of one packed series-hour in [lo, hi) to out[key]'s (sum, max): from the running
    total, so the additions are the same, in the same order, as point by point."""
    total, peak = out.get(key, (None, None))
    for vals in block_slices(data, max(lo - hour, 0), min(hi - hour, 3600)):
        total = float(sum(vals)) if total is None else sum(vals, total)
        peak = float(max(vals)) if peak is None else max(peak, float(max(vals)))
    if total is not None and peak is not None:
        out[key] = (total, peak)


def encode_group(entries: dict[int, tuple[float, int]]) -> tuple[bytes, float]:
    """(data, peak) of one group-hour: second offset -> (sum of the members' points there, how many)."""
    keys = sorted(entries)
    sums = [entries[k][0] for k in keys]
    return (array("H", keys).tobytes() + array("I", [entries[k][1] for k in keys]).tobytes()
            + array("d", sums).tobytes(), max(sums))


def decode_group(data: bytes) -> dict[int, tuple[float, int]]:
    n = len(data) // (2 + _SIZES[2] + 8)
    keys = array("H", data[:2 * n])
    counts = array("I", data[2 * n:2 * n + n * _SIZES[2]])
    sums = array("d", data[2 * n + n * _SIZES[2]:])
    return {k: (x, c) for k, x, c in zip(keys, sums, counts)}


def _migrate_8(c: Conn) -> None:
    """Row-per-point tables and hourly summaries -> one packed row per series-hour; group summaries."""
    c.execute("CREATE TABLE points_hour (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, total REAL NOT NULL, "
              "peak REAL NOT NULL, data BLOB NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID")
    c.execute("CREATE TABLE group_sums (account TEXT NOT NULL, region TEXT NOT NULL, kind TEXT NOT NULL, "
              "name TEXT NOT NULL, ts INTEGER NOT NULL, peak REAL NOT NULL, data BLOB NOT NULL, "
              "PRIMARY KEY (account, region, kind, name, ts)) WITHOUT ROWID")
    sids = [r[0] for r in c.execute("SELECT id FROM series ORDER BY id")]
    for sid in sids:
        blocks: dict[int, dict[int, float]] = defaultdict(dict)
        for res in STEPS:   # a 60 s and a 300 s point at the same ts lived in two tables: both are kept
            code = _CODE[res] << 12
            for ts, v in c.execute(f"SELECT ts, value FROM points_{res} WHERE series_id = ?", (sid,)):
                h = ts - ts % 3600
                blocks[h][ts - h | code] = v
        c.executemany("INSERT INTO points_hour VALUES (?,?,?,?,?)",
                      [(sid, h, *_row(e)) for h, e in blocks.items()])
    for stmt in ("DROP TABLE points_60", "DROP TABLE points_300", "DROP TABLE points_3600",
                 "DROP TABLE summary_3600", "DELETE FROM summary_86400",
                 "INSERT INTO summary_86400 SELECT series_id, ts / 86400 * 86400 AS d, SUM(total), MAX(peak) "
                 "FROM points_hour GROUP BY series_id, d"):
        c.execute(stmt)
    members: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for account, region, function, kind, name in c.execute("SELECT * FROM function_groups"):
        members[(account, region)][function][kind] = name
    for (account, region), fns in members.items():
        _regroup(c, account, region, {f: ({}, g) for f, g in fns.items()})


def _row(entries: dict[int, float]) -> tuple[float, float, bytes]:
    data, total, peak = encode_block(entries)
    return total, peak, data


_POINT_FIELDS = attrgetter("metric", "dim", "resource", "ts", "period", "value")
CE = "ConcurrentExecutions"   # the metric whose per-minute sum over a group's functions is its peak

Delta = tuple[dict[int, float], dict[int, int]]   # second offset -> change of the sum, of the number of points
Deltas = dict[tuple[str, str, int], Delta]       # (kind, group, hour) -> its members' changes


def _per_offset(e: dict[int, float]) -> dict[int, float]:
    """A concurrency series-hour's value per second offset. Where two resolutions hold one offset (a late
    minute read inside a stored hourly bucket), the larger: one function's concurrency is one number at a
    time (a level), not two functions to add up."""
    if not e or max(e) < 4096:   # one resolution, the minute one: the keys are the offsets
        return e
    out: dict[int, float] = {}
    for k, v in e.items():
        o = k & 4095
        w = out.get(o)
        out[o] = v if w is None or v > w else w
    return out


def _block_delta(old: dict[int, float], new: dict[int, float]) -> Delta:
    """The change of a series-hour's contribution to its groups, per second offset, between two states."""
    if not old:
        new = _per_offset(new)
        return new, dict.fromkeys(new, 1)
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for o in {k & 4095 for k, v in old.items() if new.get(k) != v} | \
             {k & 4095 for k, v in new.items() if old.get(k) != v}:
        was, now = _at(old, o), _at(new, o)
        if was != now:
            if was is not None:
                sums[o], counts[o] = -was, -1
            if now is not None:
                sums[o], counts[o] = sums.get(o, 0.0) + now, counts.get(o, 0) + 1
    return sums, counts


def _at(e: dict[int, float], o: int) -> float | None:
    """A concurrency series-hour's value at second offset o (the larger where resolutions share it)."""
    vs = [v for code in _CODE_BITS if (v := e.get(o | code)) is not None]
    return max(vs) if vs else None


def _add_delta(deltas: Deltas, groups: Iterable[tuple[str, str]], h: int, d: Delta, sign: int = 1) -> None:
    dsum, dcount = d
    if not dcount:
        return
    for kind, name in groups:
        into = deltas.get((kind, name, h))
        if into is None and sign == 1:
            deltas[(kind, name, h)] = (dict(dsum), dict(dcount))
            continue
        if into is None:
            into = deltas[(kind, name, h)] = ({}, {})
        sums, counts = into
        get = sums.get
        for o, x in dsum.items():
            sums[o] = get(o, 0.0) + sign * x
        get2 = counts.get
        for o, n in dcount.items():
            counts[o] = get2(o, 0) + sign * n


def _apply_group_deltas(c: Conn, account: str, region: str, deltas: Deltas) -> None:
    """Add each (kind, group, hour)'s per-minute changes to its summary row (rows left empty go)."""
    put, drop = [], []
    for (kind, name, h), d in deltas.items():
        key = (account, region, kind, name, h)
        row = c.execute("SELECT data FROM group_sums WHERE account = ? AND region = ? AND kind = ? AND name = ? "
                        "AND ts = ?", key).fetchone()
        cur = decode_group(row[0]) if row else {}
        dsum, dcount = d
        for off, dn in dcount.items():
            x, n = cur.get(off, (0.0, 0))
            n += dn
            if n <= 0:
                cur.pop(off, None)
            else:
                cur[off] = (x + dsum[off], n)
        if cur:
            put.append((*key, *reversed(encode_group(cur))))
        elif row:
            drop.append(key)
    c.executemany("INSERT OR REPLACE INTO group_sums VALUES (?,?,?,?,?,?,?)", put)
    c.executemany("DELETE FROM group_sums WHERE account = ? AND region = ? AND kind = ? AND name = ? AND ts = ?",
                  drop)


def _regroup(c: Conn, account: str, region: str,
             changes: dict[str, tuple[dict[str, str], dict[str, str]]]) -> None:
    """Functions whose groups changed (function -> (old kind -> group, new kind -> group)): their whole
    stored concurrency leaves the old groups' summaries and joins the new ones'."""
    moves = {f: [(k, old.get(k), new.get(k)) for k in old.keys() | new.keys() if old.get(k) != new.get(k)]
             for f, (old, new) in changes.items()}
    moves = {f: m for f, m in moves.items() if m}
    if not moves:
        return
    names = list(moves)
    deltas: Deltas = {}
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        series = c.execute(f"SELECT id, dim FROM series WHERE account = ? AND region = ? AND metric = '{CE}' "
                           f"AND dim IN ({','.join('?' * len(chunk))})", (account, region, *chunk)).fetchall()
        for sid, dim in series:
            leave = [(k, g) for k, g, _ in moves[dim] if g is not None]
            join = [(k, g) for k, _, g in moves[dim] if g is not None]
            for h, data in c.execute("SELECT ts, data FROM points_hour WHERE series_id = ?", (sid,)):
                d = _block_delta({}, decode_block(data))
                _add_delta(deltas, leave, h, d, -1)
                _add_delta(deltas, join, h, d)
    _apply_group_deltas(c, account, region, deltas)


MIGRATIONS.append(_migrate_8)   # 8: packed series-hours and group summaries (Python: it re-encodes every point)
# 9: what each write changed, as a time range: a cache of a window's data (a chart) survives the cycles
# that write nothing into that window (Store.window_version)
MIGRATIONS.append("""
    CREATE TABLE data_writes (
        seq INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL,
        data_from INTEGER NOT NULL, data_to INTEGER NOT NULL, at REAL NOT NULL
    );
    CREATE INDEX data_writes_by_end ON data_writes(data_to);
""")
# 10: several collectors on one store: who is alive (collector_members, a heartbeat each cycle) and who
# collects which (target, region) (leases, claimed atomically, renewed each cycle; Store's Leases section)
MIGRATIONS.append("""
    CREATE TABLE collector_members (
        owner TEXT NOT NULL PRIMARY KEY, mode TEXT NOT NULL, started_ms BIGINT NOT NULL,
        seen_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL
    );
    CREATE TABLE leases (
        target TEXT NOT NULL, region TEXT NOT NULL, owner TEXT NOT NULL,
        acquired_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL,
        PRIMARY KEY (target, region)
    );
""")
WRITES_KEPT_S = 86400   # data_writes rows older than this are pruned at the hourly rollup




# Store.functions' per-process copies: (store, account, region) -> (the rows' marker, the functions)
_FUNCTIONS: dict[tuple[str, str, str], tuple[tuple[Any, ...], dict[str, dict[str, Any]]]] = {}


def _functions_key(account: str, region: str) -> str:
    return f"functions/{account}/{region}"


class StoreError(Exception):
    """The store file cannot be opened or is from a newer headroom."""


DB_ERRORS = (sqlite3.Error, psycopg.Error)       # what a store's database raises
STORE_FAILURES = (StoreError, *DB_ERRORS)       # what any store operation may raise


class Store:
    """One SQLite file. Writes are serialised by a lock; readers use their own connections (WAL)."""

    def __init__(self, location: str | Path, readonly: bool = False):
        """`location`: a SQLite file path, or a PostgreSQL URL (postgresql://...) for a store that several
        collectors and dashboards share."""
        self.url = str(location) if pg.is_url(location) else None
        self.path = Path(location) if self.url is None else Path()
        self.readonly = readonly
        self._lock = threading.Lock()
        self._local = threading.local()
        # Write-side caches (the writer's own; readers never use them): series ids by key, and the
        # functions as last written, by (account, region). Series are never deleted, so an id once
        # known stays right; a series another writer created is found by the INSERT OR IGNORE path.
        self._ids: dict[tuple[str, str], dict[tuple[str, str, str], int]] = {}
        self._inventory: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = {}
        self._ce: dict[tuple[str, str], tuple[int, dict[int, str]]] = {}   # (ids known, concurrency id -> function)
        self._coverage: dict[tuple[str, str], dict[tuple[str, str], list[tuple[int, int]]]] = {}

    @property
    def label(self) -> str:
        """Where the store is, for messages: the file, or the URL without its password."""
        return str(self.path) if self.url is None else pg.redact(self.url)

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self.url is not None:
            try:
                return pg.connect(self.url, self.readonly)
            except Exception as e:   # psycopg's OperationalError, the pool's PoolTimeout
                raise StoreError(f"{self.label}: cannot connect to the PostgreSQL store: {e} (check that the server "
                                 "runs and accepts this user, and [store] url in the config; keep the password in "
                                 "PGPASSWORD or ~/.pgpass, not in the URL)") from None
        try:
            if self.readonly:
                if not self.path.exists():
                    raise StoreError(f"{self.path}: no store yet; run `python -m collectors collect` first")
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{self.path}: cannot open the store: {e} (check that the folder exists or can be "
                             "created, and that the file is writable; set [store] path in the config)") from e
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def conn(self) -> Any:
        """This thread's connection (created on first use, migrated when writable): a sqlite3.Connection,
        or for PostgreSQL a pooled one that takes the same statements (collectors/pg.py)."""
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = self._connect()
            if not self.readonly:
                try:
                    self._migrate(c)
                except BaseException:
                    self.close()
                    raise
            else:
                v = self._check_version(c)
                if v < len(MIGRATIONS):
                    # the collector is creating it right now, or an older headroom wrote it
                    self.close()
                    raise StoreError(f"{self.label}: the store is not ready (schema {v} of {len(MIGRATIONS)}): "
                                     "it is being created, or needs `python -m collectors collect` to upgrade it")
        return c

    def close(self) -> None:
        """Close this thread's connection (PostgreSQL: give it back to the pool)."""
        c = getattr(self._local, "conn", None)
        if c is not None:
            self._local.conn = None
            c.close()

    def _version(self, c: Any, create: bool = False) -> int:
        if self.url is not None:
            return pg.schema_version(c, create)
        return int(c.execute("PRAGMA user_version").fetchone()[0])

    def _set_version(self, c: Any, v: int) -> None:
        if self.url is not None:
            pg.set_schema_version(c, v)
        else:
            c.execute(f"PRAGMA user_version = {v}")

    def _check_version(self, c: Any, create: bool = False) -> int:
        v = self._version(c, create)
        if v > len(MIGRATIONS):
            raise StoreError(f"{self.label}: written by a newer headroom (schema {v}, this one knows "
                             f"{len(MIGRATIONS)}); upgrade headroom")
        return v

    def _migrate(self, c: Any) -> None:
        """Bring the schema up to date. The write lock is taken *before* the version is read, so two
        collectors starting on a new store run the migrations once between them, not twice (PostgreSQL:
        an advisory lock in the migrating transaction; its DDL is transactional too)."""
        with self._lock:
            c.execute("BEGIN IMMEDIATE")
            try:
                if self.url is not None:
                    pg.lock_migrations(c)
                v = self._check_version(c, create=True)
                for i, script in enumerate(MIGRATIONS[v:], start=v + 1):
                    if callable(script):
                        script(c)
                    else:
                        for stmt in script.split(";"):
                            if stmt.strip():
                                c.execute(stmt)
                    self._set_version(c, i)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            if 0 < v < len(MIGRATIONS) and self.url is None:
                self._compact(c)

    def _compact(self, c: Conn) -> None:
        """After an upgrade that dropped tables (8: the row-per-point tables), give their pages back:
        SQLite keeps freed pages in the file, so a converted 2.1 GB store would stay 2.9 GB. Best
        effort: a store that cannot be compacted now (another connection busy, no disk for the copy)
        still works, only larger."""
        free, total = c.execute("PRAGMA freelist_count").fetchone()[0], c.execute("PRAGMA page_count").fetchone()[0]
        if total and free / total > 0.25:
            try:
                c.execute("VACUUM")
            except sqlite3.OperationalError:
                pass

    @contextmanager
    def transaction(self, *targets: tuple[str, str]) -> Iterator[Conn]:
        """One write transaction; the lock keeps this process's writer threads from interleaving.

        `targets`: the (account, region)s whose points it rewrites. SQLite has one writer at a time
        anyway (BEGIN IMMEDIATE); on PostgreSQL several collectors write at once, and a series-hour row
        is read, merged and written back, so a transaction first takes each target's advisory lock (in
        order: no deadlock) and two writers of one target take turns, not each other's points."""
        c = self.conn
        with self._lock:
            c.execute("BEGIN IMMEDIATE")
            try:
                if self.url is not None and targets:
                    pg.lock_targets(c, sorted(set(targets)))
                yield c
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                self._ids.clear()          # they may name rows the rollback took back
                self._inventory.clear()
                self._ce.clear()
                self._coverage.clear()
                raise

    # -- writes ------------------------------------------------------------------------------
    def begin_cycle(self, now: float) -> int:
        with self.transaction() as c:
            return int(c.execute("INSERT INTO cycles(started_at) VALUES (?) RETURNING id", (now,)).fetchone()[0])

    def end_cycle(self, cycle_id: int, now: float) -> None:
        with self.transaction() as c:
            c.execute("UPDATE cycles SET finished_at = ? WHERE id = ?", (now, cycle_id))

    def write_target(self, cycle_id: int, r: TargetResult) -> None:
        """Everything one (target, region) produced in a cycle, atomically, with its health record."""
        with self.transaction(*([(r.account, r.region)] if r.account is not None else [])) as c:
            now = r.finished_at or time.time()
            for e in r.errors:
                c.execute("INSERT INTO errors VALUES (?,?,?,?,?,?,?,?,?)",
                          (cycle_id, r.target, r.region, r.account, e.source, e.api, e.code, e.message, now))
            n_points = 0
            if r.account is not None:
                self._write_inventory(c, r, now)
                n_points = self._write_points(c, r)
                self._add_coverage(c, r.account, r.region, r.coverage)
            tiers = r.metrics_by_tier
            c.execute("INSERT OR REPLACE INTO target_runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (cycle_id, r.target, r.region, r.account, r.started_at, r.finished_at,
                       None if r.functions is None else len(r.functions), r.series, r.api_calls,
                       r.metric_queries, n_points, len(r.errors), tiers.get("account", 0),
                       tiers.get("function", 0), tiers.get("queue", 0), r.discovery_calls))
            c.execute("""INSERT INTO target_health VALUES (?,?,?,?,?,?,?,?)
                         ON CONFLICT(target, region) DO UPDATE SET
                           account = COALESCE(excluded.account, target_health.account),
                           last_attempt = excluded.last_attempt,
                           last_success = COALESCE(excluded.last_success, target_health.last_success),
                           listed_at = COALESCE(excluded.listed_at, target_health.listed_at),
                           last_cycle = excluded.last_cycle,
                           function_read_at = COALESCE(excluded.function_read_at, target_health.function_read_at)""",
                      (r.target, r.region, r.account, now, None if r.errors or r.account is None else now,
                       now if r.functions is not None else None, cycle_id, r.function_read_at))

    def _write_inventory(self, c: Conn, r: TargetResult, now: float) -> None:
        assert r.account is not None   # write_target writes the inventory only for a resolved account
        key = (r.account, r.region)
        if r.account_info is not None:
            a = r.account_info
            c.execute("INSERT OR REPLACE INTO accounts VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      (*key, r.target, now, a.concurrency_limit, a.unreserved_limit, a.code_storage_limit,
                       a.code_storage_used, a.function_count, a.quota_concurrency, a.quota_code_storage_bytes))
        if r.account_info is not None and r.functions is not None:
            a = r.account_info
            c.execute("INSERT OR REPLACE INTO account_history VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (*key, int(now) // 3600 * 3600, a.concurrency_limit, a.unreserved_limit,
                       a.code_storage_limit, a.code_storage_used, a.function_count,
                       sum(f.reserved_concurrency or 0 for f in r.functions),
                       sum(p.allocated or p.requested for p in r.provisioned or [])))
        if r.functions is not None:  # a complete listing replaces the set: deleted functions go
            # Only what changed is written (a steady cycle over 10,000 functions writes a handful of
            # rows); updated_at is when the row last changed. Tags and groups are compared as dicts
            # (equal whatever their order), JSON-encoded only for the rows written.
            stored = self._stored_functions(c, key)
            rows = {f.name: (f.arn, f.runtime, f.memory_mb, f.timeout_s, f.architecture, f.package_type,
                             f.code_size, f.code_size_all_versions, f.version_count, f.last_modified, f.revision,
                             int(f.vpc), f.dlq_arn, f.on_failure_arn, f.reserved_concurrency,
                             dict(f.tags), dict(f.groups), f.detail_at)   # copies: kept as written
                    for f in r.functions}
            gone = [(*key, name) for name in stored.keys() - rows.keys()]
            changed = {name: row for name, row in rows.items() if stored.get(name) != row}
            c.executemany("DELETE FROM functions WHERE account = ? AND region = ? AND name = ?", gone)
            c.executemany("DELETE FROM function_groups WHERE account = ? AND region = ? AND function = ?",
                          gone + [(*key, name) for name in changed])
            c.executemany("INSERT OR REPLACE INTO functions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          [(*key, name, *row[:15], json.dumps(row[15], sort_keys=True),
                            json.dumps(row[16], sort_keys=True), row[17], now) for name, row in changed.items()])
            c.executemany("INSERT INTO function_groups VALUES (?,?,?,?,?)",
                          [(*key, name, kind, group) for name, row in changed.items() for kind, group in row[16].items()])
            # a function that joins, leaves or changes group carries its stored concurrency with it
            moved = {name: (stored[name][16] if name in stored else {}, row[16])
                     for name, row in changed.items() if name not in stored or stored[name][16] != row[16]}
            moved.update({name: (stored[name][16], {}) for _, _, name in gone})
            _regroup(c, *key, moved)
            self._inventory[key] = rows
            if gone or changed:   # readers' copies of these functions are out of date (Store.functions)
                c.execute("INSERT INTO meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET "
                          "value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)", (_functions_key(*key),))
        if r.provisioned is not None:
            c.execute("DELETE FROM provisioned WHERE account = ? AND region = ?", key)
            c.executemany("INSERT INTO provisioned VALUES (?,?,?,?,?,?,?,?)",
                          [(*key, p.function, p.qualifier, p.requested, p.allocated, p.available, p.status)
                           for p in r.provisioned])
        if r.queues is not None:
            c.execute("DELETE FROM queues WHERE account = ? AND region = ?", key)
            c.executemany("INSERT INTO queues VALUES (?,?,?,?,?,?,?,?,?)",
                          [(*key, q.arn, q.name, q.visible, q.not_visible, q.delayed, q.error, now)
                           for q in r.queues])

    def _stored_functions(self, c: Conn, key: tuple[str, str]) -> dict[str, tuple[Any, ...]]:
        """The functions of (account, region) as last written, in the form _write_inventory compares
        (read from the table once per Store, then kept as written)."""
        have = self._inventory.get(key)
        if have is None:
            have = {}
            for row in c.execute(
                    "SELECT name, arn, runtime, memory_mb, timeout_s, architecture, package_type, code_size, "
                    "code_size_all_versions, version_count, last_modified, revision, vpc, dlq_arn, on_failure_arn, "
                    "reserved_concurrency, tags, groups, detail_at FROM functions WHERE account = ? AND region = ?", key):
                have[row[0]] = (*row[1:16], json.loads(row[16]), json.loads(row[17]), row[18])
            self._inventory[key] = have
        return have

    def _series_ids(self, c: Conn, account: str, region: str,
                    keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        """The ids of these series, created where new. The (account, region)'s ids are read once per
        Store and kept (series are never deleted); only unknown keys cost a statement."""
        ids = self._ids.get((account, region))
        if ids is None:
            ids = self._ids[(account, region)] = {
                (m, d, r): i for i, m, d, r in c.execute(
                    "SELECT id, metric, dim, resource FROM series WHERE account = ? AND region = ?", (account, region))}
        for k in {k for k in keys if k not in ids}:
            c.execute("INSERT OR IGNORE INTO series(account, region, metric, dim, resource, rollup) VALUES (?,?,?,?,?,?)",
                      (account, region, *k, BY_KEY[k[0]].rollup))
            ids[k] = c.execute("SELECT id FROM series WHERE account = ? AND region = ? AND metric = ? AND dim = ? "
                               "AND resource = ?", (account, region, *k)).fetchone()[0]
        return ids

    def write_points(self, account: str, region: str, points: list[Point]) -> None:
        """Points streamed during a cycle, in their own transaction. Without their coverage (written
        with the target at the cycle's end) they change no figure from unknown to known: a cycle killed
        after this leaves its windows to be read again."""
        with self.transaction((account, region)) as c:
            self._upsert_points(c, account, region, points)

    def write_history(self, account: str, region: str, points: list[Point], coverage: list[Covered],
                      snapshots: list[dict[str, int]]) -> None:
        """History from elsewhere (the simulated fleet's earlier weeks, an import): points, the ranges
        they cover and hourly account snapshots, in one transaction, through the same upsert, summaries
        and coverage merge as a cycle. A snapshot never replaces one a cycle wrote for the same hour."""
        with self.transaction((account, region)) as c:
            self._upsert_points(c, account, region, points)
            self._add_coverage(c, account, region, coverage)
            c.executemany("INSERT OR IGNORE INTO account_history VALUES (?,?,?,?,?,?,?,?,?,?)",
                          [(account, region, h["ts"], h["concurrency_limit"], h["unreserved_limit"],
                            h["code_storage_limit"], h["code_storage_used"], h["function_count"],
                            h["reserved_total"], h["provisioned_total"]) for h in snapshots])

    def _write_points(self, c: Conn, r: TargetResult) -> int:
        if r.account is None:
            return 0
        self._upsert_points(c, r.account, r.region, r.points)
        return len(r.points) + r.points_written

    def _upsert_points(self, c: Conn, account: str, region: str, points: list[Point]) -> None:
        """Merge points into their series-hour rows: a re-read point replaces, a coarse bucket replaces
        the finer points it covers; each touched row's summary, its day's summary and, for concurrency,
        its functions' group summaries are brought up to date in the same transaction."""
        if not points:
            return
        ids = self._series_ids(c, account, region, ())
        # res -> (series, hour) -> key -> value, in the order resolutions first appear (as the old
        # per-table writes were ordered: a finer point written after a coarse one is kept)
        by_res: dict[int, dict[tuple[int, int], dict[int, float]]] = {}
        e: dict[int, float] = {}
        # A series' points come in runs (one query's answer, in time order): the row being filled is
        # looked up again only when the series, the hour or the resolution changes.
        lm = ld = lr = None
        lres = lh = -1
        code = 0
        for m, d, r, ts, res, v in map(_POINT_FIELDS, points):
            off = ts % 3600
            h = ts - off
            if h != lh or d != ld or m != lm or r != lr or res != lres:
                lm, ld, lr, lres, lh = m, d, r, res, h
                rows = by_res.get(res)
                if rows is None:
                    rows = by_res[res] = {}
                code = _CODE[res] << 12
                sid = ids.get((m, d, r))
                if sid is None:
                    sid = self._series_ids(c, account, region, [(m, d, r)])[(m, d, r)]
                got = rows.get((sid, h))
                if got is None:
                    got = rows[(sid, h)] = {}
                e = got
            e[off | code] = v
        touched = set().union(*by_res.values())
        for res, rows in by_res.items():
            if res > 60:   # a bucket may reach into the next hour when not aligned to its period
                touched.update((sid, h + 3600) for (sid, h), e in rows.items() if any((k & 4095) + res > 3600 for k in e))
        old = self._read_blocks(c, touched)
        blocks: dict[tuple[int, int], dict[int, float]] = {}   # the rows that change, as they become
        for res, rows in by_res.items():
            code = _CODE[res]
            for key, e in rows.items():
                sid, h = key
                if code:   # a time range lives at one resolution: drop the finer points this bucket covers
                    for k in e:
                        lo = h + (k & 4095)
                        for hh in range(h, lo + res, 3600):
                            have = blocks.get((sid, hh), old.get((sid, hh)))
                            if have and any(kk >> 12 < code and lo <= hh + (kk & 4095) < lo + res for kk in have):
                                blocks[(sid, hh)] = {kk: v for kk, v in have.items()
                                                     if not (kk >> 12 < code and lo <= hh + (kk & 4095) < lo + res)}
                blk = blocks.get(key)
                if blk is not None:
                    blk.update(e)
                    continue
                have = old.get(key)
                if have is None:
                    blocks[key] = e
                elif not e.items() <= have.items():   # a re-read that changes nothing writes nothing
                    blocks[key] = {**have, **e}
        self._save_blocks(c, account, region, old, blocks)

    @staticmethod
    def _ensure_touched(c: Conn) -> None:
        c.execute("CREATE TEMP TABLE IF NOT EXISTS touched (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
                  "PRIMARY KEY (series_id, ts)) WITHOUT ROWID")

    @staticmethod
    def _read_blocks(c: Conn, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], dict[int, float]]:
        """(series, hour) -> entries of the stored rows among `keys` (by the primary key)."""
        c.execute("CREATE TEMP TABLE IF NOT EXISTS touched (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
                  "PRIMARY KEY (series_id, ts)) WITHOUT ROWID")
        c.execute("DELETE FROM temp.touched")
        c.executemany("INSERT OR IGNORE INTO temp.touched VALUES (?, ?)", keys)
        return {(sid, h): decode_block(data) for sid, h, data in c.execute(
            "SELECT t.series_id, t.ts, b.data FROM temp.touched t CROSS JOIN points_hour b "
            "ON b.series_id = t.series_id AND b.ts = t.ts")}

    def _save_blocks(self, c: Conn, account: str, region: str,
                     old: dict[tuple[int, int], dict[int, float]], new: dict[tuple[int, int], dict[int, float]]) -> None:
        """Write the changed series-hours, their days' summaries and the group summaries they move."""
        changed = {key: e for key, e in new.items() if old.get(key) != e}
        if not changed:
            return
        hours = [h for _, h in changed]
        self._log_write(c, account, region, min(hours), max(hours) + 3600)
        self._ensure_touched(c)
        rows = [(sid, h, *_row(e)) for (sid, h), e in changed.items() if e]
        c.executemany("INSERT OR REPLACE INTO points_hour VALUES (?,?,?,?,?)", rows)
        c.executemany("DELETE FROM points_hour WHERE series_id = ? AND ts = ?",
                      [key for key, e in changed.items() if not e])
        self._summarise_days(c, old, changed, {(sid, h): (total, peak) for sid, h, total, peak, _ in rows})
        dims = self._concurrency_dims(c, account, region)
        if any(sid in dims for sid, _ in changed):
            members = {name: row[16].items() for name, row in self._stored_functions(c, (account, region)).items()}
            deltas: Deltas = {}
            for (sid, h), e in changed.items():
                dim = dims.get(sid)
                groups = members.get(dim) if dim is not None else None
                if groups:
                    _add_delta(deltas, groups, h, _block_delta(old.get((sid, h), {}), e))
            _apply_group_deltas(c, account, region, deltas)

    @staticmethod
    def _summarise_days(c: Conn, old: dict[tuple[int, int], dict[int, float]],
                        changed: dict[tuple[int, int], dict[int, float]],
                        hours: dict[tuple[int, int], tuple[float, float]]) -> None:
        """Bring the day summaries of the changed series-hours up to date. A day whose sums are whole
        numbers (counts, concurrency: exact in a float below 2**53) and whose peak cannot have dropped
        is updated from the hour's old and new summary; any other day is summed again from its hours
        (a float sum updated by differences would drift from the sum of its points)."""
        days: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for sid, h in changed:
            days[(sid, h - h % 86400)].append((sid, h))
        c.execute("DELETE FROM temp.touched")
        c.executemany("INSERT INTO temp.touched VALUES (?, ?)", list(days))
        have = {(sid, d): (total, peak) for sid, d, total, peak in c.execute(
            "SELECT t.series_id, t.ts, s.total, s.peak FROM temp.touched t CROSS JOIN summary_86400 s "
            "ON s.series_id = t.series_id AND s.ts = t.ts")}
        put, again = [], []
        for day, keys in days.items():
            total, peak = have.get(day, (0.0, None))
            ok = total == int(total) and abs(total) < 2.0 ** 53
            for key in keys:
                was, now = old.get(key), hours.get(key)
                if now is None:   # the hour's row went: sum the day again
                    ok = False
                    break
                if was:
                    was_total, was_peak = float(sum(was.values())), max(was.values())
                    if day not in have or was_total != int(was_total) or (
                            peak is not None and was_peak >= peak and now[1] < was_peak):
                        ok = False
                        break
                    total -= was_total
                total += now[0]
                peak = now[1] if peak is None else max(peak, now[1])
                ok = ok and total == int(total) and abs(total) < 2.0 ** 53
            if ok and peak is not None:
                put.append((*day, total, peak))
            else:
                again.append(day)
        c.executemany("INSERT OR REPLACE INTO summary_86400 VALUES (?,?,?,?)", put)
        if again:
            c.execute("DELETE FROM temp.touched")
            c.executemany("INSERT INTO temp.touched VALUES (?, ?)", again)
            c.execute("DELETE FROM summary_86400 WHERE (series_id, ts) IN (SELECT series_id, ts FROM temp.touched)")
            c.execute("INSERT INTO summary_86400 SELECT t.series_id, t.ts, SUM(b.total), MAX(b.peak) "
                      "FROM temp.touched t CROSS JOIN points_hour b ON b.series_id = t.series_id AND b.ts >= t.ts "
                      "AND b.ts < t.ts + 86400 GROUP BY t.series_id, t.ts")

    def _concurrency_dims(self, c: Conn, account: str, region: str) -> dict[int, str]:
        """series id -> function, for the (account, region)'s ConcurrentExecutions series."""
        ids = self._series_ids(c, account, region, ())
        known = self._ce.get((account, region))
        if known is None or known[0] != len(ids):
            known = self._ce[(account, region)] = (len(ids), {i: d for (m, d, _), i in ids.items() if m == CE})
        return known[1]

    def _add_coverage(self, c: Conn, account: str, region: str, covered: Iterable[Covered]) -> None:
        """Record each subject's [start, end) as collected, merged with the ranges it touches.

        The (account, region)'s ranges are read once per Store and kept as written (the rollup, the
        only other writer of them, drops the copy), merged in memory, and only the changed ranges
        written back: a cycle over thousands of functions costs one UPDATE per subject it extends.
        """
        todo: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for cv in covered:
            if cv.end > cv.start:
                todo[(cv.scope, cv.dim)].append((cv.start, cv.end))
        if not todo:
            return
        have = self._coverage.get((account, region))
        if have is None:
            have = defaultdict(list)
            for scope, dim, s, e in c.execute("SELECT scope, dim, start, end FROM series_coverage "
                                              "WHERE account = ? AND region = ? ORDER BY scope, dim, start",
                                              (account, region)):
                have[(scope, dim)].append((s, e))
            self._coverage[(account, region)] = have
        drop: list[tuple[str, str, str, str, int]] = []
        add: list[tuple[str, str, str, str, int, int]] = []
        extend: list[tuple[int, str, str, str, str, int]] = []
        changed: list[tuple[int, int]] = []   # the time newly covered: what is known there changed
        for key, new in todo.items():
            old = have[key]
            if len(new) == 1 and old and old[-1][0] <= new[0][0] <= old[-1][1]:
                # the usual cycle: a window that continues the latest range (or repeats part of it)
                if new[0][1] > old[-1][1]:
                    extend.append((new[0][1], account, region, *key, old[-1][0]))
                    changed.append((old[-1][1], new[0][1]))
                    old[-1] = (old[-1][0], new[0][1])
                continue
            merged = merge_ranges(old + new)
            if merged != old:
                drop.extend((account, region, *key, s) for s, _ in old)
                add.extend((account, region, *key, s, e) for s, e in merged)
                changed.extend(new)
                have[key] = merged
        if changed:
            self._log_write(c, account, region, min(lo for lo, _ in changed), max(hi for _, hi in changed))
        c.executemany("UPDATE series_coverage SET end = ? WHERE account = ? AND region = ? AND scope = ? AND dim = ? "
                      "AND start = ?", extend)
        c.executemany("DELETE FROM series_coverage WHERE account = ? AND region = ? AND scope = ? AND dim = ? "
                      "AND start = ?", drop)
        c.executemany("INSERT INTO series_coverage VALUES (?,?,?,?,?,?)", add)

    def rollup(self, now: float, retention: Retention) -> dict[str, int]:
        """Move ageing points to coarser resolutions and drop what is past retention; returns points moved.

        The boundaries are hour-aligned, so the work is done at most once an hour, not every cycle; and
        it is proportional to the series-hours that cross a boundary since the last rollup (found by the
        (series_id, ts) key, series first), not to the points stored. Each step runs in transactions of
        500 series, so a collector's write waits for one of them at most; a rollup cut short is finished
        by the next (rows already rolled have nothing left to move).
        """
        cuts = (int(now - retention.raw_days * 86400) // 3600 * 3600,
                int(now - retention.five_minute_days * 86400) // 3600 * 3600,
                int(now - retention.hourly_days * 86400) // 3600 * 3600)
        key = ",".join(map(str, cuts))
        last = self.conn.execute("SELECT value FROM meta WHERE key = 'rollup'").fetchone()
        if last is not None and last[0] == key:
            return {}
        since = [int(x) for x in last[0].split(",")] if last is not None else [0, 0, 0]
        if self.url is not None:   # several collectors: one rolls up, the others go on
            if not pg.try_lock(self.conn, pg.ROLLUP_LOCK):
                return {}
            try:
                return self._rollup(now, key, since, cuts)
            finally:
                pg.unlock(self.conn, pg.ROLLUP_LOCK)
        return self._rollup(now, key, since, cuts)

    def _rollup(self, now: float, key: str, since: list[int], cuts: tuple[int, int, int]) -> dict[str, int]:
        moved = {}
        owner = {sid: (a, r) for sid, a, r in self.conn.execute("SELECT id, account, region FROM series ORDER BY id")}
        sids = list(owner)
        for (fine, coarse), lo, cut in zip(((60, 300), (300, 3600)), since, cuts):
            n = 0
            fc, cc = _CODE[fine], _CODE[coarse] << 12
            for i in range(0, len(sids), 500):   # 500 series a transaction: memory and lock time stay bounded
                chunk = sids[i:i + 500]
                with self.transaction(*{owner[sid] for sid in chunk}) as c:
                    by_target: dict[tuple[str, str], tuple[dict[tuple[int, int], dict[int, float]],
                                                           dict[tuple[int, int], dict[int, float]]]] = {}
                    for account, region, how, sid, h, data in c.execute(
                            f"SELECT s.account, s.region, s.rollup, b.series_id, b.ts, b.data FROM series s "
                            f"CROSS JOIN points_hour b ON b.series_id = s.id AND b.ts >= ? AND b.ts < ? "
                            f"WHERE s.id IN ({','.join('?' * len(chunk))})", (min(lo, cut), cut, *chunk)).fetchall():
                        e = decode_block(data)
                        if not any(k >> 12 == fc for k in e):
                            continue
                        new = {k: v for k, v in e.items() if k >> 12 != fc}
                        for k, v in e.items():
                            if k >> 12 == fc:
                                n += 1
                                b = (k & 4095) // coarse * coarse | cc
                                have = new.get(b)
                                new[b] = v if have is None else have + v if how == "sum" else max(have, v)
                        old_t, new_t = by_target.setdefault((account, region), ({}, {}))
                        old_t[(sid, h)], new_t[(sid, h)] = e, new
                    for (account, region), (old_t, new_t) in by_target.items():
                        self._save_blocks(c, account, region, old_t, new_t)
            moved[f"{fine}->{coarse}"] = n
        cut = cuts[2]
        with self.transaction() as c:
            moved["expired"] = sum(len(decode_block(d)) for (d,) in c.execute(
                "SELECT b.data FROM series s CROSS JOIN points_hour b ON b.series_id = s.id AND b.ts < ?", (cut,)))
            c.execute("DELETE FROM points_hour WHERE series_id IN (SELECT id FROM series) AND ts < ?", (cut,))
            c.execute("DELETE FROM summary_86400 WHERE series_id IN (SELECT id FROM series) AND ts < ?",
                      (cut // 86400 * 86400,))
            c.execute("DELETE FROM group_sums WHERE ts < ?", (cut,))
            self._coverage.clear()   # the ranges below change here
            c.execute("DELETE FROM series_coverage WHERE end <= ?", (cut,))
            c.execute("UPDATE series_coverage SET start = ? WHERE start < ?", (cut, cut))
            c.execute("DELETE FROM errors WHERE at < ?", (cut,))
            c.execute("DELETE FROM account_history WHERE ts < ?", (cut,))
            c.execute("INSERT OR REPLACE INTO meta VALUES ('rollup', ?)", (key,))
            self._log_write(c, "*", "*", 0, cut)   # everything before the cut is gone
            pruned = c.execute("SELECT MAX(seq) FROM data_writes WHERE at < ?", (now - WRITES_KEPT_S,)).fetchone()[0]
            if pruned is not None:
                c.execute("DELETE FROM data_writes WHERE seq <= ?", (pruned,))
                c.execute("INSERT OR REPLACE INTO meta VALUES ('data_writes_pruned', ?)", (str(pruned),))
        return moved

    @staticmethod
    def _log_write(c: Conn, account: str, region: str, data_from: int, data_to: int) -> None:
        """Record that the data of [data_from, data_to) changed (account "*": every account)."""
        c.execute("INSERT INTO data_writes(account, region, data_from, data_to, at) VALUES (?,?,?,?,?)",
                  (account, region, data_from, data_to, time.time()))

    # -- reads -------------------------------------------------------------------------------
    def window_version(self, account: str, region: str, start: int, end: int) -> tuple[int | None, str | None]:
        """A value that changes whenever a write changes the points or the coverage of (account, region)
        in [start, end), and stays the same across cycles that write only elsewhere (a key for caches of
        a window's data: a past week's chart survives every new minute). Pruning old write records
        changes it for every window (a spurious recompute, never a stale answer)."""
        c = self.conn
        seq = c.execute("SELECT MAX(seq) FROM data_writes WHERE data_to > ? AND data_from < ? "
                        "AND ((account = ? AND region = ?) OR account = '*')", (start, end, account, region)).fetchone()[0]
        pruned = c.execute("SELECT value FROM meta WHERE key = 'data_writes_pruned'").fetchone()
        return seq, pruned[0] if pruned else None

    def dump(self) -> Iterator[str]:
        """Every stored row as text (a scan for what must never be stored, such as credentials)."""
        if self.url is not None:
            return iter(pg.dump(self.conn))
        return iter(self.conn.iterdump())

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """Ad-hoc SQL for tests, benchmarks and inspection. headroom's own code calls the named methods
        below, so the schema is known here only."""
        return self.conn.execute(sql, params).fetchall()

    def coverage(self, account: str, region: str, start: int, end: int, scope: str = "account",
                 dims: Sequence[str] = ("",)) -> list[tuple[int, int]]:
        """Ranges within [start, end) collected for *every* one of `dims` (of `scope`), clipped to it.

        A bucket of a group's sum is known only where each member's series was read.
        """
        if not dims:
            return []
        per: dict[str, list[tuple[int, int]]] = {d: [] for d in dims}
        for d in range(0, len(dims), 500):
            chunk = list(dims[d:d + 500])
            for dim, s, e in self.conn.execute(
                    f"SELECT dim, start, end FROM series_coverage WHERE account = ? AND region = ? AND scope = ? "
                    f"AND dim IN ({','.join('?' * len(chunk))}) AND start < ? AND end > ? ORDER BY start",
                    (account, region, scope, *chunk, end, start)):
                per[dim].append((max(s, start), min(e, end)))
        out: list[tuple[int, int]] | None = None
        for ranges in per.values():
            out = ranges if out is None else intersect_ranges(out, ranges)
        return out or []

    def coverage_map(self, account: str, region: str) -> dict[tuple[str, str], list[tuple[int, int]]]:
        """Every subject's collected ranges, (scope, dim) -> sorted [(start, end)] (the collector's plan)."""
        out: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for scope, dim, s, e in self.conn.execute(
                "SELECT scope, dim, start, end FROM series_coverage WHERE account = ? AND region = ? "
                "ORDER BY scope, dim, start", (account, region)):
            out[(scope, dim)].append((s, e))
        return out

    def covered_seconds(self, account: str, region: str, start: int, end: int
                        ) -> dict[tuple[str, str], tuple[int, int]]:
        """(scope, dim) -> (seconds of [start, end) collected, end of the latest range) for each subject."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for scope, dim, secs, last in self.conn.execute(
                "SELECT scope, dim, SUM(CASE WHEN end < ? THEN end ELSE ? END - CASE WHEN start > ? THEN start ELSE ? END), "
                "MAX(end) FROM series_coverage "
                "WHERE account = ? AND region = ? AND start < ? AND end > ? GROUP BY scope, dim",
                (end, end, start, start, account, region, end, start)):
            out[(scope, dim)] = (secs, last)
        return out

    def data_end(self, account: str, region: str) -> int | None:
        """End of the latest collected range of the account's own series: how fresh its data is."""
        row = self.conn.execute("SELECT MAX(end) FROM series_coverage WHERE account = ? AND region = ? "
                                "AND scope = 'account'", (account, region)).fetchone()
        return row[0]

    def _hour_rows(self, account: str, region: str, lo: int, hi: int, metrics: Sequence[str] | None = None
                   ) -> Iterator[tuple[str, str, str, int, bytes]]:
        """(metric, dim, resource, hour, data) of the (account, region)'s series-hours starting in [lo, hi)."""
        where, params = "", [account, region]
        if metrics is not None:
            where = f"AND s.metric IN ({','.join('?' * len(metrics))}) "
            params += list(metrics)
        for row in self.conn.execute(
                f"SELECT s.metric, s.dim, s.resource, b.ts, b.data FROM series s CROSS JOIN points_hour b "
                f"ON b.series_id = s.id AND b.ts >= ? AND b.ts < ? WHERE s.account = ? AND s.region = ? {where}",
                (lo, hi, *params)):
            yield row[0], row[1], row[2], row[3], row[4]

    def _edge_points(self, account: str, region: str, start: int, end: int, metrics: Sequence[str] | None = None
                     ) -> Iterator[tuple[str, str, str, int, float, int]]:
        """(metric, dim, resource, ts, value, step) of the points whose bucket starts in [start, end)."""
        for m, d, r, h, data in self._hour_rows(account, region, start - start % 3600, end, metrics):
            for ts, v, step in block_points(h, data):
                if start <= ts < end:
                    yield m, d, r, ts, v, step

    def aggregates(self, account: str, region: str, start: int, end: int, metrics: Sequence[str] | None = None
                   ) -> dict[tuple[str, str, str], tuple[float, float]]:
        """(metric, dim, resource) -> (sum, max) of the points whose bucket starts in [start, end) (of these
        `metrics` only, if given).

        Whole days come from summary_86400, whole hours from the series-hour rows' summaries, only the
        partial hours at the edges from the points: a 30-day window reads about 30 + 48 rows per series,
        in one ranged read per series and table (the edge rows come with the whole hours' sums).
        """
        if metrics is not None and not metrics:
            return {}
        h0, h1 = -(-start // 3600) * 3600, end // 3600 * 3600
        if h0 >= h1:   # within an hour or across one boundary: every row is an edge
            return self._edge_aggregates(account, region, start, end, metrics)
        only, only_args = (f"AND s.metric IN ({','.join('?' * len(metrics))}) ", tuple(metrics)) if metrics \
            else ("", ())
        d0, d1 = -(-h0 // 86400) * 86400, h1 // 86400 * 86400
        # (table, rows from, rows to, whole rows from, whole rows to): rows outside the whole range are edges
        passes = [("points_hour", start - start % 3600, d0, h0, d0), ("summary_86400", d0, d1, d0, d1),
                  ("points_hour", d1, end, d1, h1)] if d0 < d1 else [("points_hour", start - start % 3600, end, h0, h1)]
        whole: dict[tuple[str, str, str], tuple[float, float]] = {}
        first: dict[tuple[str, str, str], tuple[int, bytes]] = {}   # the start edge's row
        last: dict[tuple[str, str, str], tuple[int, bytes]] = {}    # the end edge's row
        for table, lo, hi, w0, w1 in passes:
            whole_only = (lo, hi) == (w0, w1)   # no edge row: plain sums (a day table, or hours on hours)
            cols = "SUM(x.total), MAX(x.peak), NULL, NULL" if whole_only else (
                "SUM(CASE WHEN x.ts >= ? AND x.ts < ? THEN x.total END), "
                "MAX(CASE WHEN x.ts >= ? AND x.ts < ? THEN x.peak END), "
                f"{self._one_blob('x.ts < ?')}, {self._one_blob('x.ts >= ?')}")
            args = () if whole_only else (w0, w1, w0, w1, w0, w1)
            for m, d, r, total, peak, e0, e1 in self.conn.execute(
                    f"SELECT s.metric, s.dim, s.resource, {cols} FROM series s CROSS JOIN {table} x "
                    f"ON x.series_id = s.id AND x.ts >= ? AND x.ts < ? WHERE s.account = ? AND s.region = ? "
                    f"{only}GROUP BY s.id", (*args, lo, hi, account, region, *only_args)):
                key = (m, d, r)
                if total is not None:
                    have = whole.get(key)
                    whole[key] = (total, peak) if have is None else (have[0] + total, max(have[1], peak))
                if e0 is not None:
                    first[key] = (lo, e0)
                if e1 is not None:
                    last[key] = (w1, e1)
        for rows, lo, hi in ((first, start, h0), (last, h1, end)):   # the partial hours: in C, over slices
            for key, (h, data) in rows.items():
                _add_slices(whole, key, h, data, lo, hi)
        return whole

    def _one_blob(self, cond: str) -> str:
        """SQL for the one x.data of a group's rows that meet `cond` (NULL if none): PostgreSQL has no MAX
        of bytea."""
        return f"(array_agg(x.data) FILTER (WHERE {cond}))[1]" if self.url else f"MAX(CASE WHEN {cond} THEN x.data END)"

    def _edge_aggregates(self, account: str, region: str, start: int, end: int, metrics: Sequence[str] | None
                         ) -> dict[tuple[str, str, str], tuple[float, float]]:
        """aggregates() of a window with no whole hour: every row it touches is read in part."""
        out: dict[tuple[str, str, str], tuple[float, float]] = {}
        for m, d, r, h, data in self._hour_rows(account, region, start - start % 3600, end, metrics):
            _add_slices(out, (m, d, r), h, data, start, end)
        return out

    def latest_values(self, account: str, region: str, metric: str, start: int, end: int
                      ) -> dict[tuple[str, str], float]:
        """(dim, resource) -> the value of each `metric` series' latest point in [start, end) (of two at one
        time, the one a sort of (ts, value, step) puts last), reading one series-hour row per series."""
        out: dict[tuple[str, str], float] = {}
        for sid, d, r, h, data in self.conn.execute(
                "SELECT s.id, s.dim, s.resource, x.ts, x.data FROM series s CROSS JOIN points_hour x "
                "ON x.series_id = s.id AND x.ts = (SELECT MAX(y.ts) FROM points_hour y WHERE y.series_id = s.id "
                "AND y.ts >= ? AND y.ts < ?) WHERE s.account = ? AND s.region = ? AND s.metric = ?",
                (start - start % 3600, end, account, region, metric)):
            inside = [p for p in block_points(h, data) if start <= p[0] < end]
            if not inside:   # the newest row's points are all outside the window: read the series over it
                inside = [(ts, v, step) for _m, _d, res, ts, v, step in self.series_points(
                    account, region, [metric], start, end, [d]) if res == r]
            if inside:
                out[(d, r)] = max(inside)[1]
        return out

    def group_peaks(self, account: str, region: str, kind: str, start: int, end: int) -> dict[str, float]:
        """Each group's peak of its functions' summed ConcurrentExecutions, bucket by bucket, over
        [start, end) (groups with no point are left out).

        Exact and flat in the window: the store keeps each group's summed concurrency per minute of each
        hour (group_sums, maintained as points, memberships and rollups are written), so whole hours
        read their stored peak and only the two edge hours are read minute by minute.
        """
        h0, h1 = -(-start // 3600) * 3600, end // 3600 * 3600
        out: dict[str, float] = {}
        key = (account, region, kind)
        if h0 < h1:
            for name, peak in self.conn.execute(
                    "SELECT name, MAX(peak) FROM group_sums WHERE account = ? AND region = ? AND kind = ? "
                    "AND ts >= ? AND ts < ? GROUP BY name", (*key, h0, h1)):
                out[name] = peak
        for lo, hi in ([(start, end)] if h0 >= h1 else [(start, h0), (h1, end)]):
            if lo >= hi:
                continue
            for name, h, data in self.conn.execute(
                    "SELECT name, ts, data FROM group_sums WHERE account = ? AND region = ? AND kind = ? "
                    "AND ts >= ? AND ts < ?", (*key, lo - lo % 3600, hi)):
                n = len(data) // (2 + _SIZES[2] + 8)   # the layout of encode_group: offsets, counts, sums
                offs = array("H", data[:2 * n])
                i, j = bisect_left(offs, max(lo - h, 0)), bisect_left(offs, min(hi - h, 3600))
                if i < j:
                    top = max(array("d", data[2 * n + n * _SIZES[2]:])[i:j])
                    out[name] = max(out.get(name, top), top)
        return out

    def group_points(self, account: str, region: str, kind: str, name: str, start: int, end: int
                     ) -> list[tuple[int, float]]:
        """(ts, the group's summed ConcurrentExecutions) in [start, end), by time: what summed_points gives
        over the group's current members (any resolution, any resource), read from the group's summaries
        (group_sums) without decoding a member's point."""
        out: list[tuple[int, float]] = []
        for h, data in self.conn.execute(
                "SELECT ts, data FROM group_sums WHERE account = ? AND region = ? AND kind = ? AND name = ? "
                "AND ts >= ? AND ts < ? ORDER BY ts", (account, region, kind, name, start - start % 3600, end)):
            # encode_group stores the offsets sorted; a minute whose members' points sum to 0 is kept (count > 0)
            out.extend((h + off, x) for off, (x, _) in decode_group(data).items() if start <= h + off < end)
        return out

    def function_read_at(self, target: str, region: str) -> float | None:
        """When the target's per-function series were last read (None: never)."""
        row = self.conn.execute("SELECT function_read_at FROM target_health WHERE target = ? AND region = ?",
                                (target, region)).fetchone()
        return None if row is None else row[0]

    def points(self, account: str, region: str, metric_keys: Sequence[str], start: int, end: int
               ) -> list[tuple[str, str, str, int, float]]:
        """(metric, dim, resource, ts, value) of the stored points of these metrics in [start, end)."""
        if not metric_keys:
            return []
        return [(m, d, r, ts, v) for m, d, r, ts, v, _ in self._edge_points(account, region, start, end, metric_keys)]

    def cost_runs(self, since: float) -> list[Any]:
        """target_runs rows (cycle, target, region, start, metrics per tier, ListMetrics calls) started since `since`."""
        return self.conn.execute(
            "SELECT cycle_id, target, region, started_at, metrics_account, metrics_function, metrics_queue, discovery_calls "
            "FROM target_runs WHERE started_at >= ?", (since,)).fetchall()

    def function_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM functions").fetchone()[0]

    def health(self) -> list[dict[str, Any]]:
        """Every (target, region) the collector has attempted: account, last attempt and success, last listing."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM target_health ORDER BY target, region")]

    def functions(self, account: str, region: str) -> dict[str, dict[str, Any]]:
        """Stored functions of one (account, region) by name, tags and groups decoded. Shared: callers
        read it and never change it.

        Kept per process while the rows are unchanged (every write that changes them counts in meta;
        their count and the sum of their updated_at besides), so the dashboard's review after a cycle
        does not decode 10,000 functions' JSON again when none changed."""
        marker = tuple(self.conn.execute(
            "SELECT COUNT(*), SUM(updated_at), (SELECT value FROM meta WHERE key = ?) FROM functions "
            "WHERE account = ? AND region = ?", (_functions_key(account, region), account, region)).fetchone())
        key = (self.label, account, region)
        have = _FUNCTIONS.get(key)
        if have is not None and have[0] == marker:
            return have[1]
        out = {}
        for row in self.conn.execute("SELECT * FROM functions WHERE account = ? AND region = ?", (account, region)):
            d = dict(row)
            d["tags"], d["groups"] = json.loads(d["tags"]), json.loads(d["groups"])
            out[d["name"]] = d
        if len(_FUNCTIONS) >= 4096:   # an organisation's account-regions, several stores: a bound, not a cycle
            _FUNCTIONS.clear()
        _FUNCTIONS[key] = (marker, out)
        return out

    def stats(self) -> dict[str, int]:
        """Row counts and points per resolution, for benchmarks (reads every series-hour)."""
        out = {t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
               for t in ("functions", "series", "points_hour", "group_sums", "series_coverage")}
        # points by resolution: every row decoded (benchmarks and inspection, not the collector)
        by_step: dict[int, int] = {step: 0 for step in STEPS}
        for (data,) in self.conn.execute("SELECT data FROM points_hour"):
            for k in decode_block(data):
                by_step[STEPS[k >> 12]] += 1
        out.update({f"points_{step}": n for step, n in by_step.items()})
        out["points"] = sum(by_step.values())
        return out

    # -- alert state (collectors.alerts) ----------------------------------------------------------
    ALERT_COLUMNS = ("destination", "key", "label", "target", "region", "account", "kind", "subject", "severity",
                     "message", "detail", "first_seen", "last_seen", "resolved_at", "sent_severity", "sent_at",
                     "failed_at", "failure", "failures")

    def alert_states(self) -> list[dict[str, Any]]:
        """Every stored alert state row (see MIGRATIONS' alert_state), by destination and key."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM alert_state ORDER BY destination, key")]

    def save_alert_states(self, rows: Iterable[dict[str, Any]], delete: Iterable[tuple[str, str]] = (),
                          keep_destinations: Iterable[str] | None = None) -> None:
        """Upsert `rows`, delete the (destination, key)s in `delete`, and, given `keep_destinations`,
        forget every destination not in it (no longer configured: nothing can be delivered there); one transaction."""
        cols = self.ALERT_COLUMNS
        with self.transaction() as c:
            c.executemany(f"INSERT OR REPLACE INTO alert_state ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                          [tuple(r[k] for k in cols) for r in rows])
            c.executemany("DELETE FROM alert_state WHERE destination = ? AND key = ?", list(delete))
            if keep_destinations is not None:
                keep = sorted(set(keep_destinations))
                c.execute(f"DELETE FROM alert_state WHERE destination NOT IN ({','.join('?' * len(keep))})", keep)

    def alert_failures(self) -> list[dict[str, Any]]:
        """Per destination (masked label) with undelivered messages: how many, since when, the latest error."""
        return [dict(r) for r in self.conn.execute(
            "SELECT label, COUNT(*) AS pending, MIN(failed_at) AS since, MAX(failed_at) AS latest, "
            "MAX(failures) AS attempts, (SELECT failure FROM alert_state b WHERE b.destination = a.destination "
            "AND b.failure IS NOT NULL ORDER BY b.failed_at DESC LIMIT 1) AS failure "
            "FROM alert_state a WHERE failure IS NOT NULL GROUP BY destination, label ORDER BY label")]

    # -- Prometheus counters (collectors.exporter) --------------------------------------------------
    def totals_since(self, account: str, region: str, metrics: Sequence[str], since: int
                     ) -> dict[tuple[str, str], float]:
        """(metric, dim) -> the sum of its stored points from `since` on (every resolution; resources summed)."""
        if not metrics:
            return {}
        out: dict[tuple[str, str], float] = defaultdict(float)
        h0 = -(-since // 3600) * 3600
        for m, d, total in self.conn.execute(
                f"SELECT s.metric, s.dim, SUM(b.total) FROM series s CROSS JOIN points_hour b ON b.series_id = s.id "
                f"AND b.ts >= ? WHERE s.account = ? AND s.region = ? AND s.metric IN ({','.join('?' * len(metrics))}) "
                f"GROUP BY s.metric, s.dim", (h0, account, region, *metrics)):
            out[(m, d)] += total
        for m, d, _, _, v, _ in self._edge_points(account, region, since, h0, metrics):
            out[(m, d)] += v
        return dict(out)


    # -- read side (analysis/, dashboard/queries.py, the pipeline's previous state) -----------------------
    def data_version(self) -> tuple[Any, ...]:
        """A cheap value that changes whenever a collector writes a target or ends a cycle (a cache key)."""
        return tuple(self.conn.execute(
            "SELECT (SELECT MAX(id) FROM cycles), (SELECT MAX(finished_at) FROM cycles), "
            "(SELECT MAX(finished_at) FROM target_runs), (SELECT COUNT(*) FROM target_runs)").fetchone())

    def cycle_state(self) -> tuple[int, float | None, float | None, int | None]:
        """(cycles finished, when the latest finished, when a cycle still running started, the latest cycle id)."""
        c = self.conn
        finished, last = c.execute("SELECT COUNT(*), MAX(finished_at) FROM cycles WHERE finished_at IS NOT NULL"
                                   ).fetchone()
        running = c.execute("SELECT MIN(started_at) FROM cycles WHERE finished_at IS NULL AND id > "
                            "COALESCE((SELECT MAX(id) FROM cycles WHERE finished_at IS NOT NULL), 0)").fetchone()[0]
        return finished, last, running, c.execute("SELECT MAX(id) FROM cycles").fetchone()[0]

    def latest_runs(self) -> list[dict[str, Any]]:
        """The latest target_runs row of each (target, region)."""
        return [dict(r) for r in self.conn.execute("""
            SELECT t.* FROM target_runs t JOIN (
                SELECT target, region, MAX(cycle_id) AS c FROM target_runs GROUP BY target, region) m
            ON t.target = m.target AND t.region = m.region AND t.cycle_id = m.c
            ORDER BY t.target, t.region""")]

    def targets_written(self, cycle_id: int) -> set[tuple[str, str]]:
        """(target, region)s a cycle has written so far."""
        return {(r[0], r[1]) for r in self.conn.execute(
            "SELECT target, region FROM target_runs WHERE cycle_id = ?", (cycle_id,))}

    _ERROR_COLUMNS = "e.target, e.region, e.account, e.source, e.api, e.code, e.message, e.at"

    def errors(self, cycle_id: int, target: str | None = None, region: str | None = None) -> list[dict[str, Any]]:
        """Errors recorded in one cycle (of one (target, region) if given), by target, region and source."""
        where, params = "e.cycle_id = ?", list[Any]([cycle_id])
        if target is not None:
            where += " AND e.target = ? AND e.region = ?"
            params += [target, region]
        return [dict(r) for r in self.conn.execute(
            f"SELECT {self._ERROR_COLUMNS} FROM errors e WHERE {where} ORDER BY e.target, e.region, e.source, e.api",
            params)]

    def latest_errors(self) -> list[dict[str, Any]]:
        """Errors of each (target, region)'s latest attempt (what is failing now)."""
        return [dict(r) for r in self.conn.execute(
            f"SELECT {self._ERROR_COLUMNS} FROM errors e JOIN target_health h ON h.target = e.target "
            "AND h.region = e.region AND h.last_cycle = e.cycle_id ORDER BY e.target, e.region, e.source")]

    def accounts(self) -> list[dict[str, Any]]:
        """Every stored (account, region): its target, limits and usage as last read, by target and region."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM accounts ORDER BY target, region")]

    def provisioned(self, account: str, region: str, function: str | None = None) -> list[dict[str, Any]]:
        """Provisioned concurrency configs as last read (of one function if given), by function and qualifier."""
        extra, params = ("AND function = ? ", (account, region, function)) if function is not None \
            else ("", (account, region))
        return [dict(r) for r in self.conn.execute(
            f"SELECT * FROM provisioned WHERE account = ? AND region = ? {extra}ORDER BY function, qualifier", params)]

    def queues(self, account: str, region: str, arns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Dead-letter queues and destinations as last read (those of `arns` if given), by name."""
        if arns is not None and not arns:
            return []
        extra = f"AND arn IN ({','.join('?' * len(arns))}) " if arns is not None else ""
        return [dict(r) for r in self.conn.execute(
            f"SELECT * FROM queues WHERE account = ? AND region = ? {extra}ORDER BY name",
            (account, region, *(arns or ())))]

    def function_names(self, account: str, region: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT name FROM functions WHERE account = ? AND region = ? ORDER BY name", (account, region))]

    def aliases(self, account: str, region: str, name: str) -> list[str]:
        """Qualifiers of a function with provisioned concurrency now or alias series stored."""
        return sorted({r[0] for r in self.conn.execute(
            "SELECT qualifier FROM provisioned WHERE account = ? AND region = ? AND function = ? UNION "
            "SELECT resource FROM series WHERE account = ? AND region = ? AND dim = ? AND resource != ''",
            (account, region, name, account, region, name))})

    def tag_keys(self) -> list[str]:
        """Every tag key on any stored function."""
        keys: set[str] = set()
        for (tags,) in self.conn.execute("SELECT DISTINCT tags FROM functions"):
            keys.update(json.loads(tags))
        return sorted(keys)

    def account_history(self, account: str, region: str, start: int, end: int) -> list[dict[str, Any]]:
        """Hourly snapshots of limits and usage in [start, end), oldest first."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM account_history WHERE account = ? AND region = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (account, region, start, end))]

    # -- raw points (the read side's access to the packed layout) --------------------------------------
    def series_points(self, account: str, region: str, metrics: Sequence[str], start: int, end: int,
                      dims: Sequence[str] | None = None) -> list[tuple[str, str, str, int, float, int]]:
        """(metric, dim, resource, ts, value, step) of the stored points of these metrics (of `dims` if
        given) in [start, end), by series and time. The series are looked up first, then their
        series-hour rows by the primary key."""
        out: list[tuple[str, str, str, int, float, int]] = []
        for key, h, data in self._point_rows(account, region, metrics, start, end, dims):
            pts = sorted_points(h, data)
            if h < start or h + 3600 > end:   # an edge hour: part of it
                out.extend((*key, ts, v, step) for ts, v, step in pts if start <= ts < end)
            else:
                out.extend([(*key, ts, v, step) for ts, v, step in pts])
        return out

    def _point_rows(self, account: str, region: str, metrics: Sequence[str], start: int, end: int,
                    dims: Sequence[str] | None) -> Iterator[tuple[tuple[str, str, str], int, bytes]]:
        """((metric, dim, resource), hour, data) of the series-hour rows holding [start, end), by series and
        time: the series looked up first, then their rows by the primary key."""
        ids = self._ids_of(account, region, metrics, dims)
        for sid, h, data in self._rows_by_id(sorted(ids), "data", start - start % 3600, end):
            yield ids[sid], h, data

    def _rows_by_id(self, ids: Sequence[int], cols: str, lo: int, hi: int) -> Iterator[Any]:
        """(series_id, ts, *cols) of these series' series-hour rows starting in [lo, hi), by series and time,
        500 series a statement."""
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            yield from self.conn.execute(
                f"SELECT series_id, ts, {cols} FROM points_hour WHERE series_id IN ({','.join('?' * len(chunk))}) "
                f"AND ts >= ? AND ts < ? ORDER BY series_id, ts", (*chunk, lo, hi))

    def _ids_of(self, account: str, region: str, metrics: Sequence[str], dims: Sequence[str] | None
                ) -> dict[int, tuple[str, str, str]]:
        """series id -> (metric, dim, resource) of these metrics' series (of `dims` only, if given)."""
        if not metrics or (dims is not None and not dims):
            return {}
        where, params = ["account = ?", "region = ?", f"metric IN ({','.join('?' * len(metrics))})"], \
            [account, region, *metrics]
        if dims is not None:
            where.append(f"dim IN ({','.join('?' * len(dims))})")
            params.extend(dims)
        return {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute(
            f"SELECT id, metric, dim, resource FROM series WHERE {' AND '.join(where)}", params)}

    def summed_hours(self, account: str, region: str, metric: str, start: int, end: int,
                     dims: Sequence[str] | None = None, resource: str | None = None
                     ) -> tuple[int, list[tuple[int, float, float]]]:
        """(how many series match, [(hour, the sum of their hour totals, the max of their hour peaks)]) over the
        whole hours [start, end), by hour, from the rows' summaries without decoding a point. The max is the
        hour's peak of the summed series only when one series matches."""
        if start % 3600 or end % 3600:
            raise ValueError("summed_hours reads whole hours")
        ids = [sid for sid, (_, _, r) in self._ids_of(account, region, [metric], dims).items()
               if resource is None or r == resource]
        hours: dict[int, tuple[float, float]] = {}
        for _, h, total, peak in self._rows_by_id(ids, "total, peak", start, end):
            have = hours.get(h)
            hours[h] = (total, peak) if have is None else (have[0] + total, max(have[1], peak))
        return len(ids), sorted((h, total, peak) for h, (total, peak) in hours.items())

    def summed_points(self, account: str, region: str, metric: str, start: int, end: int,
                      dims: Sequence[str] | None = None, resource: str | None = None) -> list[tuple[int, float]]:
        """(ts, sum over the matching series) of one metric's stored points in [start, end), any resolution,
        by time. A level's series counts once at a time its resolutions share (its larger point)."""
        level = BY_KEY[metric].rollup != "sum"
        sums: dict[int, float] = defaultdict(float)
        for (_, _, r), h, data in self._point_rows(account, region, [metric], start, end, dims):
            if resource is None or r == resource:
                for ts, v, _ in sorted_points(h, data, level):
                    if start <= ts < end:
                        sums[ts] += v
        return sorted(sums.items())

    def coarsest_step(self, account: str, region: str, metric: str, start: int, end: int) -> int | None:
        """The coarsest resolution holding a point of `metric` (any of its series) in [start, end); None if none."""
        return max((step for *_, step in self.series_points(account, region, [metric], start, end)), default=None)


    # -- Leases (several collectors) ------------------------------------------------------------------
    # Collectors on one store split the (target, region)s between them (collectors/leases.py decides
    # how many each takes). Portable SQL (SQLite 3.40 and PostgreSQL 15): upserts with ON CONFLICT, times
    # as BIGINT milliseconds; a claim is one statement whose WHERE admits only an expired lease, so two
    # collectors claiming the same target cannot both win (the row count says who did).
    MEMBERS_KEPT_MS = 86400 * 1000   # a member row this long expired is deleted

    def join(self, owner: str, mode: str, now: float, ttl_s: float) -> None:
        """Record `owner` alive until now + ttl_s (a heartbeat, each cycle); forget long-dead members."""
        ms, exp = int(now * 1000), int((now + ttl_s) * 1000)
        with self.transaction() as c:
            c.execute("INSERT INTO collector_members (owner, mode, started_ms, seen_ms, expires_ms) VALUES (?,?,?,?,?) "
                      "ON CONFLICT (owner) DO UPDATE SET mode = excluded.mode, seen_ms = excluded.seen_ms, "
                      "expires_ms = excluded.expires_ms", (owner, mode, ms, ms, exp))
            c.execute("DELETE FROM collector_members WHERE expires_ms < ?", (ms - self.MEMBERS_KEPT_MS,))

    def members(self, now: float) -> list[dict[str, Any]]:
        """Collectors alive at `now` (heartbeat not expired), by owner id; times in epoch seconds."""
        return [{"owner": o, "mode": m, "started_at": s / 1000, "seen_at": n / 1000, "expires_at": e / 1000}
                for o, m, s, n, e in self.conn.execute(
                    "SELECT owner, mode, started_ms, seen_ms, expires_ms FROM collector_members WHERE expires_ms > ? "
                    "ORDER BY owner", (int(now * 1000),))]

    def leave(self, owner: str) -> None:
        """`owner` stops: its member row and its leases go, so the others take its targets at their next cycle."""
        with self.transaction() as c:
            c.execute("DELETE FROM leases WHERE owner = ?", (owner,))
            c.execute("DELETE FROM collector_members WHERE owner = ?", (owner,))

    def leases(self) -> list[dict[str, Any]]:
        """Every lease row (expired ones too), by target and region; times in epoch seconds."""
        return [{"target": t, "region": r, "owner": o, "acquired_at": a / 1000, "expires_at": e / 1000}
                for t, r, o, a, e in self.conn.execute(
                    "SELECT target, region, owner, acquired_ms, expires_ms FROM leases ORDER BY target, region")]

    def renew_leases(self, owner: str, now: float, ttl_s: float) -> set[tuple[str, str]]:
        """Extend every lease `owner` still holds to now + ttl_s; returns the (target, region)s held.
        A lease another collector claimed after it expired is not ours any more and is not renewed."""
        with self.transaction() as c:
            c.execute("UPDATE leases SET expires_ms = ? WHERE owner = ?", (int((now + ttl_s) * 1000), owner))
            return {(t, r) for t, r in c.execute("SELECT target, region FROM leases WHERE owner = ?", (owner,))}

    def claim_lease(self, owner: str, target: str, region: str, now: float, ttl_s: float) -> bool:
        """Take (target, region) for `owner` until now + ttl_s if nobody holds it or its lease has expired;
        True when this call took it. One statement: of two collectors claiming at once, one wins."""
        ms = int(now * 1000)
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO leases (target, region, owner, acquired_ms, expires_ms) VALUES (?,?,?,?,?) "
                "ON CONFLICT (target, region) DO UPDATE SET owner = excluded.owner, "
                "acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms WHERE leases.expires_ms <= ?",
                (target, region, owner, ms, int((now + ttl_s) * 1000), ms))
            return cur.rowcount == 1

    def release_leases(self, owner: str, keys: Iterable[tuple[str, str]] | None = None) -> None:
        """Give up `owner`'s leases of `keys` (all of them if None): another collector may claim them at once."""
        with self.transaction() as c:
            if keys is None:
                c.execute("DELETE FROM leases WHERE owner = ?", (owner,))
            else:
                c.executemany("DELETE FROM leases WHERE owner = ? AND target = ? AND region = ?",
                              [(owner, t, r) for t, r in keys])

    def forget_written(self) -> None:
        """Drop the write-side caches (series ids, functions, coverage as last written by this Store). A
        collector that takes over a target another one wrote must not compare against what it wrote
        itself before: the stored rows have moved on (a coverage range extended, a function deleted)."""
        with self._lock:
            self._ids.clear()
            self._inventory.clear()
            self._ce.clear()
            self._coverage.clear()
