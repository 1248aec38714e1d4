import sqlite3
import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collectors.config import Retention
from collectors.model import CollectError
from collectors.store import MIGRATIONS, Store, StoreError, union_points

from .helpers import ACCOUNT, REGION, T0, Covered, Point, fn, result


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "h.db")
    yield s
    s.close()


def values(store, table="points_60"):
    return store.query(f"SELECT s.metric, s.dim, p.ts, p.value FROM {table} p JOIN series s ON s.id = p.series_id "
                       "ORDER BY s.metric, s.dim, p.ts")


def test_new_store_is_wal_and_at_latest_schema(store):
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA user_version")[0][0] == len(MIGRATIONS)


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
    for stmt in MIGRATIONS[0].split(";"):
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


def brute_group_peaks(store, kind, start, end):
    """The group peak as the review computed it before summaries: every bucket of the window summed."""
    arm = """SELECT g.name AS name, p.ts AS ts, p.value AS value FROM function_groups g
             JOIN series s ON s.account = g.account AND s.region = g.region AND s.dim = g.function
                           AND s.metric = 'ConcurrentExecutions'
             JOIN {points} p ON p.series_id = s.id
             WHERE g.account = ? AND g.region = ? AND g.kind = ? AND p.ts >= ? AND p.ts < ?"""
    rows = store.query(f"SELECT name, MAX(total) FROM (SELECT name, ts, SUM(value) AS total FROM ({union_points(arm)}) "
                       f"GROUP BY name, ts) GROUP BY name", (ACCOUNT, REGION, kind, start, end) * 3)
    return {r[0]: r[1] for r in rows}


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(points=st.lists(st.tuples(st.sampled_from(["a1", "a2", "a3", "b1", "c1"]),
                                 st.one_of(st.integers(0, 2 * 24 * 60 - 1), st.sampled_from([0, 30, 60, 61, 90, 125])),
                                 st.integers(1, 40)), min_size=1, max_size=120),
       windows=st.lists(st.tuples(st.integers(0, 2 * 86400), st.integers(60, 2 * 86400)), min_size=1, max_size=4))
# the hour with the highest bound is not the peak's: a1 and a2 peak 40 apart in the first hour (bound
# 80, peak 40), together at 30 in the second (bound 60, peak 60)
@example(points=[("a1", 0, 40), ("a2", 30, 40), ("a1", 61, 30), ("a2", 61, 30)], windows=[(0, 7200)])
def test_group_peaks_equal_the_peak_of_every_summed_minute(tmp_path_factory, points, windows):
    """Group peaks read one or two hours per group (bounded by the hourly summaries), yet equal the
    peak of the summed concurrency over every bucket of the window, for any data and window."""
    s = Store(tmp_path_factory.mktemp("gp") / "h.db")
    cid = s.begin_cycle(T0)
    fns = [fn(n, groups={"prefix": n[0]}) for n in ("a1", "a2", "a3", "b1", "c1")]
    s.write_target(cid, result(fns, [Point("ConcurrentExecutions", n, "", T0 + m * 60, float(v)) for n, m, v in points]))
    for offset, length in windows:
        start, end = T0 + offset, T0 + offset + length
        assert s.group_peaks(ACCOUNT, REGION, "prefix", start, end) == brute_group_peaks(s, "prefix", start, end)
    s.close()


def test_a_coarse_bucket_replaces_the_finer_points_it_covers(store):
    """Minutes streamed by a cycle that was killed, then the same hour read hourly by a later cycle:
    the hour counts once."""
    cid = store.begin_cycle(T0)
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0 + 60 * i, 5) for i in range(3)]))
    store.write_target(cid, result([fn("a")], [Point("Throttles", "a", "", T0, 15, period=3600)]))
    assert store.aggregates(ACCOUNT, REGION, T0, T0 + 3600) == {("Throttles", "a", ""): (15.0, 15.0)}
    assert values(store) == []
