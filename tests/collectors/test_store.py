import sqlite3
import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.config import Retention
from collectors.model import CollectError
from collectors.store import (MIGRATIONS, Store, StoreError, block_points, block_slices, decode_block,
                              encode_block, sorted_points)

from .helpers import ACCOUNT, REGION, T0, Covered, Point, fn, result


@pytest.fixture
def store(store_location):
    """Each test on both backends: a SQLite file and a PostgreSQL database."""
    s = Store(store_location)
    yield s
    s.close()


def values(store, table="points_60"):
    """(metric, dim, ts, value) of the stored points at one resolution (named as the old tables were)."""
    step = int(table.split("_")[1])
    return sorted((m, d, ts, v) for m, d, _, ts, v, st in store.series_points(
        ACCOUNT, REGION, ["Throttles", "ConcurrentExecutions", "Invocations"], 0, 2 ** 40) if st == step)


def test_new_store_is_wal_and_at_latest_schema(store):
    if store.url is None:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store._version(store.conn) == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path):
    p = tmp_path / "h.db"
    c = sqlite3.connect(p)
    c.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    c.close()
    with pytest.raises(StoreError, match="newer headroom"):
        Store(p).conn


def test_migrates_a_version_1_store(tmp_path):
    p = tmp_path / "h.db"
    c = sqlite3.connect(p)
    for stmt in str(MIGRATIONS[0]).split(";"):
        if stmt.strip():
            c.execute(stmt)
    c.execute("PRAGMA user_version = 1")
    c.commit()
    c.close()
    s = Store(p)
    assert s.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    assert s.query("SELECT COUNT(*) FROM account_history")[0][0] == 0


def test_a_reader_never_sees_a_store_before_its_schema(tmp_path):
    p = tmp_path / "h.db"
    sqlite3.connect(p).execute("PRAGMA journal_mode=WAL").close()   # the writer has created the file only
    with pytest.raises(StoreError, match="not ready"):
        Store(p, readonly=True).conn
    Store(p).conn   # the writer migrates
    assert Store(p, readonly=True).query("SELECT COUNT(*) FROM cycles")[0][0] == 0


def test_readonly_store_missing_file_explains(tmp_path):
    with pytest.raises(StoreError, match="run `python -m collectors collect` first"):
        Store(tmp_path / "none.db", readonly=True).conn


def test_upsert_replaces_late_datapoints_and_keeps_others(store):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0, 3), Point("Throttles", "a", "", T0 + 60, 4)]))
    # next cycle re-reads the overlap: the late minute grew from 4 to 9
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0 + 60, 9)]))
    assert [tuple(r) for r in values(store)] == [("Throttles", "a", T0, 3.0), ("Throttles", "a", T0 + 60, 9.0)]


def test_coverage_ranges_merge(store):
    cid = store.begin_cycle(T0)
    for s, e in [(T0, T0 + 600), (T0 + 540, T0 + 1200), (T0 + 3000, T0 + 3600), (T0 + 1200, T0 + 1800)]:
        store.write_target(cid, result([fn("a")], coverage=[(s, e)]))
    assert store.coverage(ACCOUNT, REGION, T0, T0 + 7200) == [(T0, T0 + 1800), (T0 + 3000, T0 + 3600)]
    assert store.data_end(ACCOUNT, REGION) == T0 + 3600
    assert store.coverage(ACCOUNT, REGION, T0 + 100, T0 + 200) == [(T0 + 100, T0 + 200)]


def test_coverage_is_per_subject_and_a_group_is_known_where_every_member_is(store):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a"), fn("b")], coverage=[
        Covered("account", "", T0, T0 + 600), Covered("function", "a", T0, T0 + 600),
        Covered("function", "b", T0 + 300, T0 + 900)]))
    assert store.coverage(ACCOUNT, REGION, T0, T0 + 900, "function", ["a"]) == [(T0, T0 + 600)]
    assert store.coverage(ACCOUNT, REGION, T0, T0 + 900, "function", ["a", "b"]) == [(T0 + 300, T0 + 600)]
    assert store.coverage(ACCOUNT, REGION, T0, T0 + 900, "function", ["c"]) == []   # never asked: unknown
    assert store.coverage_map(ACCOUNT, REGION) == {("account", ""): [(T0, T0 + 600)],
                                                   ("function", "a"): [(T0, T0 + 600)],
                                                   ("function", "b"): [(T0 + 300, T0 + 900)]}
    assert store.covered_seconds(ACCOUNT, REGION, T0, T0 + 900)[("function", "b")] == (600, T0 + 900)


def test_two_collectors_starting_on_a_new_store_both_migrate_it(tmp_path):
    """The second used to fail with 'table cycles already exists': it read the schema version before
    the first had taken the write lock."""
    import subprocess
    import sys
    db = tmp_path / "new.db"
    code = ("import sys; from collectors.store import Store; s = Store(sys.argv[1]); "
            "cid = s.begin_cycle(1.0); s.end_cycle(cid, 2.0); print(cid)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [e for _, e in outs]
    assert sorted(int(o) for o, _ in outs) == [1, 2, 3, 4, 5, 6]
    s = Store(db, readonly=True)
    assert s.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)


def test_a_store_path_that_cannot_be_created_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot open the store.*set \\[store\\] path"):
        Store(tmp_path / "file" / "sub" / "h.db").conn


def test_failed_inventory_keeps_stored_functions_and_records_error(store):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a", reserved=5), fn("b")]))
    r = result([])
    r.functions, r.account_info = None, None
    r.errors = [CollectError("inventory", "lambda:ListFunctions", "AccessDeniedException", "no")]
    store.write_target(cid, r)
    assert sorted(store.functions(ACCOUNT, REGION)) == ["a", "b"]
    assert store.query("SELECT code FROM errors")[0][0] == "AccessDeniedException"
    assert store.query("SELECT concurrency_limit FROM accounts")[0][0] == 1000


def test_a_complete_listing_drops_deleted_functions(store):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a"), fn("b")]))
    store.write_target(cid, result([fn("b")]))
    assert list(store.functions(ACCOUNT, REGION)) == ["b"]
    assert [tuple(r) for r in store.query("SELECT function, kind, name FROM function_groups")] == [("b", "prefix", "b")]


def test_write_is_atomic(store):
    cid = store.begin_cycle(T0)
    bad = result([fn("a")], [Point("NoSuchMetric", "a", "", T0, 1)])  # unknown catalogue key fails mid-write
    with pytest.raises(KeyError):
        store.write_target(cid, bad)
    assert store.functions(ACCOUNT, REGION) == {}
    assert store.query("SELECT COUNT(*) FROM errors")[0][0] == 0


def test_rollup_uses_max_for_levels_and_sum_for_counts(store):
    cid = store.begin_cycle(T0)
    pts = [Point("Throttles", "a", "", T0 + 60 * i, v) for i, v in enumerate([1, 2, 3, 4, 5, 6])] + \
          [Point("ConcurrentExecutions", "a", "", T0 + 60 * i, v) for i, v in enumerate([10, 40, 20, 5, 1, 7])]
    store.write_target(cid, result([fn("a")], pts))
    moved = store.rollup(T0 + 3 * 86400 + 7200, Retention(raw_days=3, five_minute_days=30, hourly_days=455))
    assert moved["60->300"] == 12
    assert values(store) == []
    # minutes 0-4 fall in the T0 bucket, minute 5 in T0+300
    assert [tuple(r) for r in values(store, "points_300")] == [
        ("ConcurrentExecutions", "a", T0, 40.0), ("ConcurrentExecutions", "a", T0 + 300, 7.0),
        ("Throttles", "a", T0, 15.0), ("Throttles", "a", T0 + 300, 6.0)]
    # 30 days on, the 5-minute buckets become one hourly bucket each
    store.rollup(T0 + 31 * 86400 + 7200, Retention(raw_days=3, five_minute_days=30, hourly_days=455))
    assert [tuple(r) for r in values(store, "points_3600")] == [
        ("ConcurrentExecutions", "a", T0, 40.0), ("Throttles", "a", T0, 21.0)]
    # and past hourly retention they are gone
    store.rollup(T0 + 456 * 86400, Retention())
    assert values(store, "points_3600") == []
    # within the same hour the boundaries have not moved: no second scan
    assert store.rollup(T0 + 456 * 86400 + 60, Retention()) == {}


def test_rollup_merges_into_an_existing_coarse_bucket(store):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0, 5, period=300)]))
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0 + 60, 2)]))  # a late 1-minute point
    store.rollup(T0 + 4 * 86400, Retention())
    assert [tuple(r) for r in values(store, "points_300")] == [("Throttles", "a", T0, 7.0)]


def test_readers_are_not_blocked_by_a_writer(tmp_path):
    writer = Store(tmp_path / "h.db")
    cid = writer.begin_cycle(T0)
    writer.write_target(cid, result([fn("a")]))
    reader = Store(tmp_path / "h.db", readonly=True)
    entered, release = threading.Event(), threading.Event()

    def hold_write():
        with writer.transaction() as c:
            c.execute("DELETE FROM functions")
            entered.set()
            release.wait(5)

    t = threading.Thread(target=hold_write)
    t.start()
    entered.wait(5)
    try:
        # the write is in progress and uncommitted: the reader still sees the last committed state
        assert list(reader.functions(ACCOUNT, REGION)) == ["a"]
    finally:
        release.set()
        t.join()
    reader.close()
    reader = Store(tmp_path / "h.db", readonly=True)
    assert reader.functions(ACCOUNT, REGION) == {}


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(writes=st.lists(st.lists(st.tuples(st.integers(0, 3 * 24 * 60 - 1), st.sampled_from(["Throttles", "ConcurrentExecutions"]),
                                          st.integers(1, 50)), min_size=1, max_size=40), min_size=1, max_size=4),
       windows=st.lists(st.tuples(st.integers(0, 3 * 86400), st.integers(60, 3 * 86400)), min_size=1, max_size=5))
def test_summaries_give_what_the_points_give_for_any_window(tmp_path_factory, writes, windows):
    """The review reads whole hours and days from summaries kept at write time: over any window, after
    any sequence of writes (re-read minutes replace earlier values), they equal a scan of the points."""
    s = Store(tmp_path_factory.mktemp("sum") / "h.db")
    cid = s.begin_cycle(T0)
    truth: dict[tuple[str, int], float] = {}
    for batch in writes:
        pts = [Point(m, "a", "", T0 + minute * 60, float(v)) for minute, m, v in batch]
        s.write_target(cid, result([fn("a")], pts))
        truth.update({(p.metric, p.ts): p.value for p in pts})
    for offset, length in windows:
        start, end = T0 + offset, T0 + offset + length
        want: dict[tuple[str, str, str], tuple[float, float]] = {}
        for (m, ts), v in truth.items():
            if start <= ts < end:
                total, peak = want.get((m, "a", ""), (0.0, v))
                want[(m, "a", "")] = (total + v, max(peak, v))
        assert s.aggregates(ACCOUNT, REGION, start, end) == want   # whole numbers: exact sums
    s.close()


def test_aggregates_over_edges_hours_and_days_on_both_backends(store):
    """A window with a partial first hour, whole hours, whole days and a partial last hour is read in one
    ranged read per table, the edge rows with the whole hours' sums (PostgreSQL has no MAX of bytea: its
    own form): on both backends the figures are a scan of the points."""
    cid = store.begin_cycle(T0)
    day = T0 - T0 % 86400 + 86400
    pts = [Point(m, "a", "", day - 7200 + i * 60, float(i % 9 + (m == "Throttles")))
           for m in ("Throttles", "ConcurrentExecutions") for i in range(0, 3 * 24 * 60 + 240, 7)]
    store.write_target(cid, result([fn("a")], pts))
    for start, end in [(day - 3590, day + 2 * 86400 + 130), (day - 30, day + 7000), (day + 61, day + 119),
                       (day + 600, day + 4000), (day, day + 86400)]:
        want: dict[tuple[str, str, str], tuple[float, float]] = {}
        for p in pts:
            if start <= p.ts < end and p.value:
                total, top = want.get((p.metric, "a", ""), (0.0, p.value))
                want[(p.metric, "a", "")] = (total + p.value, max(top, p.value))
        assert store.aggregates(ACCOUNT, REGION, start, end) == want, (start - day, end - day)


def test_latest_values_and_the_aggregates_of_some_metrics(store):
    """A queue's latest age and peak depth are read from one row per series and the hours' summaries: the
    same as the points give, when the newest row lies past the window's end, and of the metrics asked only."""
    cid = store.begin_cycle(T0)
    h = T0 - T0 % 3600 + 7200
    pts = [Point("DLQOldestAge", "q1", "", h - 3600 + 60 * i, float(100 + i)) for i in range(0, 60, 3)] + \
          [Point("DLQOldestAge", "q1", "", h + 600, 9.0),                    # the newest row: past the end below
           Point("DLQOldestAge", "q2", "", h - 7200 + 120, 7.0),
           Point("DLQVisible", "q1", "", h - 3000, 40.0), Point("DLQVisible", "q1", "", h + 60, 55.0),
           Point("Throttles", "a", "", h - 60, 3.0)]
    store.write_target(cid, result([fn("a")], pts))
    for start, end in [(h - 7200, h + 300), (h - 3500, h + 3600), (h - 7000, h - 100), (h + 700, h + 900)]:
        inside = sorted((p.ts, p.value, 60, p.dim) for p in pts if p.metric == "DLQOldestAge" and start <= p.ts < end)
        want = {(d, ""): v for _, v, _, d in inside}   # by time: the latest wins
        assert store.latest_values(ACCOUNT, REGION, "DLQOldestAge", start, end) == want, (start - h, end - h)
        got = store.aggregates(ACCOUNT, REGION, start, end, ["DLQVisible"])
        assert set(got) <= {("DLQVisible", "q1", "")}
        assert {k: v for k, v in store.aggregates(ACCOUNT, REGION, start, end).items() if k[0] == "DLQVisible"} == got
    assert store.latest_values(ACCOUNT, REGION, "DLQOldestAge", h - 7200, h + 300) == {("q1", ""): 157.0,
                                                                                        ("q2", ""): 7.0}
    assert store.aggregates(ACCOUNT, REGION, h - 3500, h + 3600, ["DLQVisible"]) == {("DLQVisible", "q1", ""): (95.0, 55.0)}


def test_only_changed_function_rows_are_written(store):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a"), fn("b"), fn("c", groups={"prefix": "c"})], now=T0))
    # the same listing a cycle later: nothing to write for the functions
    store.write_target(cid, result([fn("a"), fn("b"), fn("c", groups={"prefix": "c"})], now=T0 + 60))
    rows = {r["name"]: r for r in store.query("SELECT name, updated_at, revision FROM functions")}
    assert {n: r["updated_at"] for n, r in rows.items()} == {"a": T0 + 1, "b": T0 + 1, "c": T0 + 1}
    # b changed, c regrouped, a deleted: those rows only
    store.write_target(cid, result([fn("b", revision="r2"), fn("c", groups={"prefix": "other"})], now=T0 + 120))
    rows = {r["name"]: r for r in store.query("SELECT name, updated_at, revision FROM functions")}
    assert {n: (r["updated_at"], r["revision"]) for n, r in rows.items()} == {"b": (T0 + 121, "r2"), "c": (T0 + 121, "r1")}
    assert [tuple(r) for r in store.query("SELECT function, kind, name FROM function_groups ORDER BY function")] == [
        ("b", "prefix", "b"), ("c", "prefix", "other")]


def test_tags_are_compared_whatever_their_order_and_as_read_back(store, store_location):
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a", tags={"team": "x", "env": "prod"})], now=T0))
    store.write_target(cid, result([fn("a", tags={"env": "prod", "team": "x"})], now=T0 + 60))
    assert [tuple(r) for r in store.query("SELECT updated_at, tags FROM functions")] == [
        (T0 + 1, '{"env": "prod", "team": "x"}')]
    # another Store (another collector, or after a restart) compares the listing with the rows it reads back
    again = Store(store_location)
    try:
        again.write_target(cid, result([fn("a", tags={"team": "x", "env": "prod"})], now=T0 + 120))
        assert [tuple(r) for r in again.query("SELECT updated_at FROM functions")] == [(T0 + 1,)]
        again.write_target(cid, result([fn("a", tags={"team": "y", "env": "prod"})], now=T0 + 180))
        assert [tuple(r) for r in again.query("SELECT updated_at, tags FROM functions")] == [
            (T0 + 181, '{"env": "prod", "team": "y"}')]
    finally:
        again.close()


def _series_values(store, start, end):
    """(function, resource, ts) -> its ConcurrentExecutions there: one number per series and time (where a
    late minute and a stored hourly bucket share a time, the larger)."""
    out = {}
    for _, dim, res, ts, v, _ in store.series_points(ACCOUNT, REGION, ["ConcurrentExecutions"], start, end):
        out[(dim, res, ts)] = max(out.get((dim, res, ts), v), v)
    return out


def brute_group_peaks(store, kind, start, end):
    """The group peak as the review computed it before summaries: every bucket of the window summed
    over the group's current members (any resolution, any resource)."""
    members = {r[0]: r[1] for r in store.query("SELECT function, name FROM function_groups WHERE account = ? AND "
                                                "region = ? AND kind = ?", (ACCOUNT, REGION, kind))}
    sums = {}
    for (dim, _, ts), v in _series_values(store, start, end).items():
        if dim in members:
            sums[(members[dim], ts)] = sums.get((members[dim], ts), 0.0) + v
    out = {}
    for (name, _), total in sums.items():
        out[name] = max(out.get(name, total), total)
    return out


def brute_group_points(store, kind, start, end):
    """group -> (ts, its members' points summed there) by time, from every member's points."""
    members = {r[0]: r[1] for r in store.query("SELECT function, name FROM function_groups WHERE account = ? AND "
                                                "region = ? AND kind = ?", (ACCOUNT, REGION, kind))}
    sums = {}
    for (dim, _, ts), v in _series_values(store, start, end).items():
        if dim in members:
            sums.setdefault(members[dim], {})[ts] = sums.get(members[dim], {}).get(ts, 0.0) + v
    return {g: sorted(by_ts.items()) for g, by_ts in sums.items()}


def assert_group_summaries_exact(s, start, end):
    assert s.group_peaks(ACCOUNT, REGION, "prefix", start, end) == brute_group_peaks(s, "prefix", start, end)
    want = brute_group_points(s, "prefix", start, end)
    for g in {"a", "b", "c"} | want.keys():
        assert s.group_points(ACCOUNT, REGION, "prefix", g, start, end) == want.get(g, []), (g, start, end)


def test_group_points_sum_the_members_minute_by_minute(store):
    """On both backends: a group's per-minute sums (its concurrency chart) from its summaries equal its
    members' points added up, an alias's concurrency included, a minute summing to 0 kept as 0."""
    cid = store.begin_cycle(T0)
    pts = [Point("ConcurrentExecutions", "a1", "", T0 + 60, 3.0), Point("ConcurrentExecutions", "a2", "", T0 + 60, 4.0),
           Point("ConcurrentExecutions", "a1", "live", T0 + 60, 2.0), Point("ConcurrentExecutions", "a1", "", T0 + 120, 0.0),
           Point("ConcurrentExecutions", "a2", "", T0 + 3600 + 300, 5.0, period=300),
           Point("ConcurrentExecutions", "b1", "", T0 + 60, 9.0)]
    store.write_target(cid, result([fn(n, groups={"prefix": n[0]}) for n in ("a1", "a2", "b1")], pts))
    assert store.group_points(ACCOUNT, REGION, "prefix", "a", T0, T0 + 7200) == [
        (T0 + 60, 9.0), (T0 + 120, 0.0), (T0 + 3900, 5.0)]
    assert store.group_points(ACCOUNT, REGION, "prefix", "a", T0 + 61, T0 + 3900) == [(T0 + 120, 0.0)]
    assert store.group_points(ACCOUNT, REGION, "prefix", "b", T0, T0 + 7200) == [(T0 + 60, 9.0)]
    assert store.group_points(ACCOUNT, REGION, "prefix", "zz", T0, T0 + 7200) == []
    assert store.group_points(ACCOUNT, REGION, "prefix", "a", T0, T0 + 7200) == \
        brute_group_points(store, "prefix", T0, T0 + 7200)["a"]


def test_a_late_minute_at_a_stored_hours_time_is_one_value_of_its_series(store):
    """On both backends: a minute read late into an hour stored as one hourly bucket shares its time. A
    level's series is one number then, the larger (not 630 + 777: one function is not two); a count adds
    the late minute, as the rollup merges it. Charts, group sums and group peaks agree with the review."""
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn(n, groups={"prefix": "a"}) for n in ("a1", "a2")], [
        Point("ConcurrentExecutions", "a1", "", T0, 630.0, period=3600),
        Point("ConcurrentExecutions", "a2", "", T0, 5.0, period=3600),
        Point("Throttles", "a1", "", T0, 15.0, period=3600)]))
    late = result((), [Point("ConcurrentExecutions", "a1", "", T0, 777.0), Point("Throttles", "a1", "", T0, 2.0)])
    late.functions = None
    store.write_target(cid, late)
    end = T0 + 3600
    assert store.summed_points(ACCOUNT, REGION, "ConcurrentExecutions", T0, end) == [(T0, 782.0)]
    assert store.summed_points(ACCOUNT, REGION, "ConcurrentExecutions", T0, end, ["a1"]) == [(T0, 777.0)]
    assert store.summed_points(ACCOUNT, REGION, "Throttles", T0, end) == [(T0, 17.0)]
    assert store.group_points(ACCOUNT, REGION, "prefix", "a", T0, end) == [(T0, 782.0)]
    assert store.group_peaks(ACCOUNT, REGION, "prefix", T0, end) == {"a": 782.0}
    assert store.aggregates(ACCOUNT, REGION, T0, end)[("ConcurrentExecutions", "a1", "")][1] == 777.0
    assert store.aggregates(ACCOUNT, REGION, T0, end)[("Throttles", "a1", "")][0] == 17.0
    assert_group_summaries_exact(store, T0, end)
    # the late minute re-read lower: the hour's bucket is the series' value again
    again = result((), [Point("ConcurrentExecutions", "a1", "", T0, 7.0)])
    again.functions = None
    store.write_target(cid, again)
    assert store.group_points(ACCOUNT, REGION, "prefix", "a", T0, end) == [(T0, 635.0)]
    assert store.summed_points(ACCOUNT, REGION, "ConcurrentExecutions", T0, end) == [(T0, 635.0)]
    assert_group_summaries_exact(store, T0, end)


def test_summed_hours_add_the_series_hours_summaries(store):
    """On both backends: per whole hour, the matching series' totals added and their peaks' max, and how
    many series matched (a resource or dims narrow them); a window of partial hours is refused."""
    cid = store.begin_cycle(T0)
    pts = [Point("Throttles", "a", "", T0 + 60, 3.0), Point("Throttles", "a", "", T0 + 120, 4.0),
           Point("Throttles", "b", "", T0 + 60, 5.0), Point("Throttles", "a", "live", T0 + 180, 7.0),
           Point("Throttles", "b", "", T0 + 7200 + 300, 6.0, period=300), Point("Errors", "a", "", T0 + 60, 1.0)]
    store.write_target(cid, result([fn("a"), fn("b")], pts))
    assert store.summed_hours(ACCOUNT, REGION, "Throttles", T0, T0 + 3 * 3600) == (
        3, [(T0, 19.0, 7.0), (T0 + 7200, 6.0, 6.0)])
    assert store.summed_hours(ACCOUNT, REGION, "Throttles", T0, T0 + 3 * 3600, ["a"], "") == (1, [(T0, 7.0, 4.0)])
    assert store.summed_hours(ACCOUNT, REGION, "Throttles", T0 + 3600, T0 + 7200) == (3, [])
    assert store.summed_hours(ACCOUNT, REGION, "Throttles", T0, T0 + 3600, []) == (0, [])
    with pytest.raises(ValueError):
        store.summed_hours(ACCOUNT, REGION, "Throttles", T0 + 60, T0 + 3600)


NAMES = ("a1", "a2", "a3", "b1", "c1")


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(points=st.lists(st.tuples(st.sampled_from(NAMES),
                                 st.one_of(st.integers(0, 2 * 24 * 60 - 1), st.sampled_from([0, 30, 60, 61, 90, 125])),
                                 st.integers(1, 40)), min_size=1, max_size=120),
       windows=st.lists(st.tuples(st.integers(0, 2 * 86400), st.integers(60, 2 * 86400)), min_size=1, max_size=4))
# the hour with the highest bound is not the peak's: a1 and a2 peak 40 apart in the first hour (bound
# 80, peak 40), together at 30 in the second (bound 60, peak 60)
@example(points=[("a1", 0, 40), ("a2", 30, 40), ("a1", 61, 30), ("a2", 61, 30)], windows=[(0, 7200)])
def test_group_peaks_equal_the_peak_of_every_summed_minute(tmp_path_factory, points, windows):
    """Group peaks read one stored peak per whole hour and the edge hours' per-minute sums, yet equal
    the peak of the summed concurrency over every bucket of the window, for any data and window; and
    the group's per-minute sums (its chart) equal the members' points summed minute by minute."""
    s = Store(tmp_path_factory.mktemp("gp") / "h.db")
    cid = s.begin_cycle(T0)
    fns = [fn(n, groups={"prefix": n[0]}) for n in NAMES]
    s.write_target(cid, result(fns, [Point("ConcurrentExecutions", n, "", T0 + m * 60, float(v)) for n, m, v in points]))
    for offset, length in windows:
        assert_group_summaries_exact(s, T0 + offset, T0 + offset + length)
    s.close()


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(steps=st.lists(st.one_of(
           # points (re-reads replace; some hourly or 5-minute buckets that replace finer points)
           st.tuples(st.just("points"), st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 5 * 24 * 60 - 1),
                                                          st.integers(0, 40), st.sampled_from([60, 60, 60, 300, 3600])),
                                                min_size=1, max_size=40)),
           # a new listing: functions regrouped, removed or added back
           st.tuples(st.just("groups"), st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(["a", "b", None])),
                                                 min_size=5, max_size=5)),
           st.tuples(st.just("rollup"), st.integers(1, 40))), min_size=1, max_size=6),
       windows=st.lists(st.tuples(st.integers(0, 5 * 86400), st.integers(60, 5 * 86400)), min_size=1, max_size=3))
def test_group_peaks_stay_exact_through_rewrites_regrouping_and_rollup(tmp_path_factory, steps, windows):
    """The group summaries (peaks and per-minute sums) follow every change of what a group sums: re-read
    and coarser points, functions that change group, leave and come back, and rollups that merge minutes
    into 5-minute and hourly buckets (retention shortened so the 5 days of data cross both boundaries)."""
    s = Store(tmp_path_factory.mktemp("gp2") / "h.db")
    cid = s.begin_cycle(T0)
    groups = {n: n[0] for n in NAMES}
    s.write_target(cid, result([fn(n, groups={"prefix": g}) for n, g in groups.items()]))
    for step in steps:
        if step[0] == "points":
            pts = [Point("ConcurrentExecutions", n, "", T0 + m * 60 // period * period, float(v), period=period)
                   for n, m, v, period in step[1]]
            r = result((), pts)
            r.functions = None   # points only: the listing (and the groups) stay as they are
            s.write_target(cid, r)
        elif step[0] == "groups":
            groups = {n: g for n, g in dict(step[1]).items() if g is not None} | \
                {n: g for n, g in groups.items() if n not in dict(step[1])}
            s.write_target(cid, result([fn(n, groups={"prefix": g}) for n, g in groups.items()]))
        else:
            s.rollup(T0 + 5 * 86400 + step[1] * 3600, Retention(raw_days=2, five_minute_days=4, hourly_days=455))
        for offset, length in windows:
            assert_group_summaries_exact(s, T0 + offset, T0 + offset + length)
    s.close()


def test_a_coarse_bucket_replaces_the_finer_points_it_covers(store):
    """Minutes streamed by a cycle that was killed, then the same hour read hourly by a later cycle:
    the hour counts once."""
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0 + 60 * i, 5) for i in range(3)]))
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0, 15, period=3600)]))
    assert store.aggregates(ACCOUNT, REGION, T0, T0 + 3600) == {("Throttles", "a", ""): (15.0, 15.0)}
    assert values(store) == []


def test_migration_8_packs_a_version_7_store_without_changing_a_figure(tmp_path):
    """Row-per-point tables (and their hourly summaries) become packed series-hours and group summaries:
    the same points, the same aggregates, the same group peaks."""
    p = tmp_path / "h.db"
    c = sqlite3.connect(p)
    for script in MIGRATIONS[:7]:
        for stmt in str(script).split(";"):
            if stmt.strip():
                c.execute(stmt)
    c.execute("PRAGMA user_version = 7")
    c.executemany("INSERT INTO series VALUES (?,?,?,?,?,?,?)",
                  [(1, ACCOUNT, REGION, "ConcurrentExecutions", "a1", "", "max"),
                   (2, ACCOUNT, REGION, "ConcurrentExecutions", "a2", "", "max"),
                   (3, ACCOUNT, REGION, "Invocations", "a1", "", "sum"),
                   (4, ACCOUNT, REGION, "DurationAvg", "a1", "", "max"),
                   (5, ACCOUNT, REGION, "Errors", "a1", "", "sum")])
    c.executemany("INSERT INTO function_groups VALUES (?,?,?,?,?)",
                  [(ACCOUNT, REGION, "a1", "prefix", "a"), (ACCOUNT, REGION, "a2", "prefix", "a")])
    rows = {60: [(1, T0 + 60, 3.0), (2, T0 + 60, 4.0), (3, T0 + 120, 70000.0), (4, T0 + 120, 12.345),
                 (1, T0 + 3 * 86400 + 20, 9.0)] + [(5, T0 - 86400 * 5 + 60 * i, float(i % 7 + 1)) for i in range(6000)],
            300: [(1, T0 - 3600, 5.0), (2, T0 - 3600, 6.0), (2, T0 - 3300, 2.0), (3, T0 - 3600, 1.5)],
            3600: [(1, T0 - 86400, 8.0), (3, T0 - 86400, 2.0 ** 40)]}
    for res, rs in rows.items():
        c.executemany(f"INSERT INTO points_{res} VALUES (?,?,?)", rs)
    c.execute("INSERT INTO summary_3600 SELECT series_id, ts / 3600 * 3600 AS h, SUM(value), MAX(value) FROM ("
              "SELECT * FROM points_60 UNION ALL SELECT * FROM points_300 UNION ALL SELECT * FROM points_3600) "
              "GROUP BY series_id, h")
    c.commit()
    c.close()
    s = Store(p)
    assert s.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)
    names = {1: ("ConcurrentExecutions", "a1"), 2: ("ConcurrentExecutions", "a2"), 3: ("Invocations", "a1"),
             4: ("DurationAvg", "a1"), 5: ("Errors", "a1")}
    want = sorted((*names[sid], "", ts, v, res) for res, rs in rows.items() for sid, ts, v in rs)
    got = sorted(s.series_points(ACCOUNT, REGION, ["ConcurrentExecutions", "Invocations", "DurationAvg", "Errors"],
                                 0, 2 ** 40))
    assert got == want
    assert s.aggregates(ACCOUNT, REGION, T0 - 86400, T0 + 4 * 86400)[("Invocations", "a1", "")] == \
        (70000.0 + 1.5 + 2.0 ** 40, 2.0 ** 40)
    for start, end in [(T0 - 86400, T0 + 4 * 86400), (T0 - 3400, T0 + 90), (T0, T0 + 3600)]:
        assert s.group_peaks(ACCOUNT, REGION, "prefix", start, end) == brute_group_peaks(s, "prefix", start, end)
    assert s.group_peaks(ACCOUNT, REGION, "prefix", T0 - 86400, T0 + 4 * 86400) == {"a": 11.0}
    assert s.stats()["points"] == sum(len(rs) for rs in rows.values())
    assert s.query("PRAGMA freelist_count")[0][0] == 0   # the dropped tables' pages were given back


def test_a_day_summary_follows_a_rewritten_peak_down_and_float_sums_stay_exact(store):
    """Day summaries are updated from the hour's old and new summary where that is exact (whole
    numbers, a peak that cannot drop) and summed again otherwise: a re-read that lowers the day's
    peak, and fractional values, give what the points give."""
    cid = store.begin_cycle(T0)
    day = T0 - T0 % 86400 + 86400
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", day + 3600, 50),
                                                Point("Throttles", "a", "", day + 7200, 7),
                                                Point("DurationAvg", "a", "", day + 60, 0.1),
                                                Point("DurationAvg", "a", "", day + 3660, 0.2)]))
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", day + 3600, 3),
                                                Point("DurationAvg", "a", "", day + 60, 0.7)]))
    got = store.aggregates(ACCOUNT, REGION, day, day + 86400)   # one whole day: from summary_86400
    assert got[("Throttles", "a", "")] == (10.0, 7.0)
    assert got[("DurationAvg", "a", "")] == (0.7 + 0.2, 0.7)
    assert store.query("SELECT COUNT(*) FROM summary_86400")[0][0] == 2


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(entries=st.dictionaries(
    st.one_of(st.builds(lambda m, c: m * 60 | c << 12, st.integers(0, 59), st.integers(0, 2)),      # minute-aligned
              st.builds(lambda o, c: o | c << 12, st.integers(0, 3599), st.integers(0, 2))),         # any second
    st.one_of(st.integers(1, 70000).map(float), st.floats(0.001, 1e12, allow_nan=False)), min_size=1, max_size=80),
    lo=st.integers(0, 3600), length=st.integers(0, 3600), start=st.one_of(st.none(), st.floats(0, 1e6)))
def test_block_slices_add_up_as_the_points_do(entries, lo, length, start):
    """Part of a series-hour summed and maxed by slices gives, bit for bit, what adding its points one by
    one in key order gives (the review's edge hours), for every encoding: 1, 2, 4 or 8-byte values,
    one-byte or two-byte keys, several resolutions."""
    hi = min(lo + length, 3600)
    data, _, _ = encode_block(entries)
    want_total, want_peak = start, None
    for k, v in decode_block(data).items():
        if lo <= k & 4095 < hi:
            want_total = v if want_total is None else want_total + v
            want_peak = v if want_peak is None else max(want_peak, v)
    total, peak = start, None
    for vals in block_slices(data, lo, hi):
        total = float(sum(vals)) if total is None else sum(vals, total)
        peak = float(max(vals)) if peak is None else max(peak, float(max(vals)))
    assert (total, peak) == (want_total, want_peak)
    # the charts' decoder: what sorting every point gives, without the sort where one resolution is stored
    assert sorted_points(T0, data) == sorted(block_points(T0, data))


def test_functions_read_again_after_any_change_even_at_the_same_clock(store):
    """Store.functions keeps a decoded copy while the rows are unchanged: a write that changes them (here
    at the same pinned clock, so neither their count nor their timestamps tell) is seen at once."""
    reader = Store(store.url or store.path, readonly=True)
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a"), fn("b", reserved=5)]))
    first = reader.functions(ACCOUNT, REGION)
    assert sorted(first) == ["a", "b"] and reader.functions(ACCOUNT, REGION) is first   # kept, not decoded again
    store.write_target(cid, result([fn("a"), fn("c", reserved=7)]))
    assert {n: f["reserved_concurrency"] for n, f in reader.functions(ACCOUNT, REGION).items()} == {"a": None, "c": 7}
    store.write_target(cid, result([fn("a"), fn("c", reserved=9)]))   # same names, a setting changed
    assert reader.functions(ACCOUNT, REGION)["c"]["reserved_concurrency"] == 9
    reader.close()
