"""What only the PostgreSQL store has to prove: several writers at once, readers beside them, the
pool over many cycles, and the SQLite statements it is given meaning the same there."""
import threading

import pytest

from collectors import pg
from collectors.store import MIGRATIONS, Store

from tests import pgserver

from .helpers import ACCOUNT, REGION, T0, Point, fn, result

pytestmark = pytest.mark.postgresql


@pytest.fixture
def url():
    with pgserver.database() as u:
        yield u


def test_two_collectors_starting_at_once_migrate_once(url):
    stores = [Store(url) for _ in range(3)]
    errors = []

    def open_(s):
        try:
            s.conn
        except Exception as e:   # noqa: BLE001 - the assertion below shows it
            errors.append(e)
    threads = [threading.Thread(target=open_, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s._version(s.conn) for s in stores] == [len(MIGRATIONS)] * 3
    assert stores[0].query("SELECT COUNT(*) FROM headroom_schema")[0][0] == 1
    for s in stores:
        s.close()


def test_writers_of_one_target_take_turns_and_lose_no_point(url):
    """Two collectors (two Stores) write different minutes of the same series-hours at once: each write
    reads the hour's row, merges and writes it back, so without the target lock one would undo the other."""
    a, b = Store(url), Store(url)
    a.write_points(ACCOUNT, REGION, [Point("Throttles", "f", "", T0, 1)])   # the series exists for both

    def write(s, minutes):
        for m in minutes:
            s.write_points(ACCOUNT, REGION, [Point("Throttles", "f", "", T0 + 60 * m, 1),
                                             Point("Throttles", "f", "", T0 + 3600 + 60 * m, 1)])
    ta = threading.Thread(target=write, args=(a, range(1, 60, 2)))
    tb = threading.Thread(target=write, args=(b, range(2, 60, 2)))
    ta.start(), tb.start()
    ta.join(), tb.join()
    pts = Store(url, readonly=True).points(ACCOUNT, REGION, ["Throttles"], T0, T0 + 7200)
    assert len(pts) == 60 + 59 and sum(v for *_, v in pts) == 119
    totals = Store(url, readonly=True).totals_since(ACCOUNT, REGION, ["Throttles"], T0)
    assert totals == {("Throttles", "f"): 119}


def test_a_reader_in_a_long_transaction_never_blocks_the_writer(url):
    w = Store(url)
    w.write_target(w.begin_cycle(T0), result([fn("a")], [Point("Throttles", "a", "", T0, 5)], [(T0, T0 + 60)]))
    r = Store(url, readonly=True)
    r.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    assert r.query("SELECT COUNT(*) FROM functions")[0][0] == 1
    done = threading.Event()

    def write():
        w.write_target(w.begin_cycle(T0 + 60), result([fn("a"), fn("b")], [Point("Throttles", "b", "", T0 + 60, 7)],
                                                      [(T0 + 60, T0 + 120)], now=T0 + 60))
        done.set()
    t = threading.Thread(target=write)
    t.start()
    assert done.wait(20), "the writer waited on a reader"
    assert r.query("SELECT COUNT(*) FROM functions")[0][0] == 1      # the reader's snapshot holds
    r.conn.execute("COMMIT")
    assert r.query("SELECT COUNT(*) FROM functions")[0][0] == 2      # and the next read sees the write
    t.join()
    r.close()


def test_read_only_sessions_cannot_write(url):
    Store(url).conn
    with pytest.raises(pg.Error, match="read-only"):
        Store(url, readonly=True).conn.execute("DELETE FROM cycles")


def test_the_pool_does_not_grow_with_cycles_of_new_worker_threads(url):
    s = Store(url)
    s.conn

    def cycle():
        s.write_points(ACCOUNT, REGION, [Point("Throttles", "f", "", T0, 1)])
    for _ in range(40):   # each a new thread with its own thread-local connection, never closed by hand
        t = threading.Thread(target=cycle)
        t.start()
        t.join()
    stats = pg.pool(url, False).get_stats()
    assert stats["pool_size"] <= 3, stats
    assert stats.get("requests_waiting", 0) == 0


@pytest.mark.parametrize("sql, expected", [
    ("INSERT OR IGNORE INTO series(account) VALUES (?)", "INSERT INTO series(account) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("INSERT OR REPLACE INTO meta VALUES ('rollup', ?)",
     'INSERT INTO meta VALUES (\'rollup\', %s) ON CONFLICT ("key") DO UPDATE SET "value" = EXCLUDED."value"'),
    ("SELECT MAX(end) FROM series_coverage WHERE start < ?", 'SELECT MAX("end") FROM series_coverage WHERE start < %s'),
    ("SELECT t.ts FROM temp.touched t CROSS JOIN points_hour b ON b.ts = t.ts",
     "SELECT t.ts FROM touched t JOIN points_hour b ON b.ts = t.ts"),
    ("SELECT name FROM functions WHERE name LIKE 'a%'", "SELECT name FROM functions WHERE name LIKE 'a%%'"),
    ("BEGIN IMMEDIATE", "BEGIN"),
])
def test_the_dialect(url, sql, expected):
    s = Store(url)
    assert s.conn.translate(sql) == expected


def test_replace_resets_the_columns_it_does_not_list_as_sqlite_does(url):
    """SQLite's INSERT OR REPLACE deletes the old row: a column left out gets its default again."""
    s = Store(url)
    cols = ["destination", "key", "label", "target", "region", "kind", "subject", "message", "detail",
            "first_seen", "last_seen", "failures"]
    insert = "INSERT OR REPLACE INTO alert_state ({}) VALUES ({})"
    s.conn.execute(insert.format(", ".join(cols), ",".join("?" * 12)), ("d", "k", "l", "t", "r", "kind", "s", "m", "x", 1.0, 1.0, 3))
    s.conn.execute(insert.format(", ".join(cols[:-1]), ",".join("?" * 11)), ("d", "k", "l", "t", "r", "kind", "s", "m2", "x", 1.0, 2.0))
    assert [tuple(r) for r in s.query("SELECT message, last_seen, failures FROM alert_state")] == [("m2", 2.0, 0)]


def test_a_sql_ascii_database_works_as_a_utf8_one():
    """A database created with SQL_ASCII (some old clusters' default) sends names back as bytes unless the
    client asks for UTF8: the store must still write and read its figures."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    server = pgserver.require()
    name = "headroom_test_ascii_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0")
    url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        s = Store(url)
        s.write_target(s.begin_cycle(T0), result([fn("café")], [Point("Throttles", "café", "", T0, 3)], [(T0, T0 + 60)]))
        assert list(Store(url, readonly=True).functions(ACCOUNT, REGION)) == ["café"]
        assert Store(url, readonly=True).totals_since(ACCOUNT, REGION, ["Throttles"], T0) == {("Throttles", "café"): 3}
    finally:
        pg.close_pools(url)
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
