"""PostgreSQL as the shared store: the Store's SQL (written for SQLite) on pooled psycopg connections.

The Store keeps one set of statements. This module turns each into PostgreSQL once (cached):
`?` placeholders, `INSERT OR REPLACE` and `INSERT OR IGNORE` as `ON CONFLICT` clauses built from the
table's primary key, SQLite's column types in DDL, `temp.` names, and the `end` column (a reserved
word in PostgreSQL). Connections come from one pool per (URL, read-only) per process, in autocommit
mode, so the Store's explicit BEGIN/COMMIT mean what they mean on SQLite; readers run in read-only
sessions and, PostgreSQL being MVCC, never block the writers. The schema version lives in
`headroom_schema` (SQLite keeps it in `PRAGMA user_version`).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

Error = psycopg.Error
# advisory lock keys (the first of two int4s names headroom's locks): migrations run once between
# collectors, one rolls up at a time, and a target's points are written by one transaction at a time
HEADROOM = 0x68656164
SCHEMA_LOCK = 1
ROLLUP_LOCK = 2


def is_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs (also a malformed one, in config errors)."""
    return re.sub(r"(://[^/:@\s]*:)[^@/\s]*@", r"\1***@", url)


class _Number(Loader):
    """numeric (what SUM and AVG of integers return) as int or float, as SQLite gives them, not Decimal."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        return float(text) if b"." in text or b"e" in text.lower() else int(text)


class Row(tuple):
    """A result row by position and by column name, with keys(): what the Store uses of sqlite3.Row."""
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(c.name for c in cursor.description))
    return cls


def _param(v: Any) -> Any:
    return int(v) if v.__class__ is bool else v   # SQLite stores booleans as integers: so do the columns


def _params(p: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_param(v) for v in p)


_DDL = re.compile(r"^\s*(CREATE\s+(TEMP\s+)?TABLE|ALTER\s+TABLE)", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+OR\s+(REPLACE|IGNORE)\s+INTO\s+(?:temp\.)?(\w+)\s*(\(([^)]*)\))?\s*(VALUES|SELECT)",
                     re.I | re.S)


class Connection:
    """A psycopg connection that takes the Store's SQLite statements (execute, executemany, cursors
    that fetch and iterate, rowcount)."""

    def __init__(self, conn: psycopg.Connection[Any], pool: ConnectionPool[Any]):
        self.raw = conn
        self.pool = pool
        self._returned = False
        self._sql: dict[str, str] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.execute(self.translate(sql), _params(params) if params else None)
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.executemany(self.translate(sql), [_params(p) for p in rows])
        return cur

    def close(self) -> None:
        """Give the connection back to its pool (a broken one is discarded by the pool)."""
        if not self._returned:
            self._returned = True
            self.pool.putconn(self.raw)

    def __del__(self) -> None:
        # A worker thread's connection is never closed by hand: when the thread ends its thread-local
        # Store connection goes, and so must the pool slot it holds, or a long-running collector's
        # pool runs dry after a few cycles of new worker threads.
        try:
            self.close()
        except Exception:
            pass

    # -- the dialect -----------------------------------------------------------------------------
    def translate(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = self._sql[sql] = self._translate(sql)
        return out

    def _translate(self, sql: str) -> str:
        s = sql.strip()
        if re.match(r"BEGIN\s+IMMEDIATE$", s, re.I):
            return "BEGIN"
        if s.upper().startswith("PRAGMA"):
            raise Error(f"a SQLite PRAGMA reached PostgreSQL: {s!r}")
        if _DDL.match(s):
            s = re.sub(r"\bWITHOUT\s+ROWID\b", "", s, flags=re.I)
            s = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", s)
            s = re.sub(r"\bINTEGER\b", "BIGINT", s)
            s = re.sub(r"\bREAL\b", "DOUBLE PRECISION", s)
            s = re.sub(r"\bBLOB\b", "BYTEA", s)
        s = re.sub(r"\btemp\.", "", s)
        s = re.sub(r"\bCROSS\s+JOIN\b(\s+\w+(?:\s+\w+)?\s+ON\b)", r"JOIN\1", s)   # SQLite's join-order hint
        s = re.sub(r'(?<!")\bend\b(?!")', '"end"', s)   # the column; SQL's own END is written in capitals
        m = _INSERT.match(s)
        if m:
            verb, table, _, cols = m.group(1).upper(), m.group(2), m.group(3), m.group(4)
            s = re.sub(r"^\s*INSERT\s+OR\s+\w+\s+INTO", "INSERT INTO", s, flags=re.I)
            if verb == "IGNORE":
                s += " ON CONFLICT DO NOTHING"
            else:
                s += self._replace_clause(table, [c.strip().strip('"') for c in cols.split(",")] if cols else None)
        s = s.replace("%", "%%").replace("?", "%s")
        return s

    def _replace_clause(self, table: str, listed: list[str] | None) -> str:
        """INSERT OR REPLACE: on a key conflict the new row replaces the old one whole (columns the
        statement does not list go back to their defaults, as SQLite's delete-then-insert leaves them)."""
        key, columns = _table_shape(self.raw, table)
        rest = [c for c in columns if c not in key]
        if not rest:
            return f" ON CONFLICT ({', '.join(key)}) DO NOTHING"
        sets = [f"{_q(c)} = EXCLUDED.{_q(c)}" if listed is None or c in listed else f"{_q(c)} = DEFAULT" for c in rest]
        return f" ON CONFLICT ({', '.join(_q(c) for c in key)}) DO UPDATE SET {', '.join(sets)}"


def _q(name: str) -> str:
    return f'"{name}"'


def _table_shape(conn: psycopg.Connection[Any], table: str) -> tuple[list[str], list[str]]:
    """(primary key columns, all columns) of a table, temporary tables included."""
    cur = conn.cursor(row_factory=tuple_row)
    cols = [r[0] for r in cur.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (table,))]
    key = [r[0] for r in cur.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)", (table,))]
    if not cols or not key:
        raise Error(f"INSERT OR REPLACE into {table}: no such table or it has no primary key")
    return key, cols


_pools: dict[tuple[str, bool], ConnectionPool[Any]] = {}
_pools_lock = threading.Lock()


def _configure(readonly: bool) -> Any:
    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.adapters.register_loader("numeric", _Number)
        conn.row_factory = _row_factory
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
    return configure


def pool(url: str, readonly: bool) -> ConnectionPool[Any]:
    """One pool per (URL, read-only) per process: the dashboard opens a Store per query, the
    collector one per thread; each borrows a connection and gives it back on close()."""
    with _pools_lock:
        p = _pools.get((url, readonly))
        if p is None:
            # client_encoding: names and text come back as str even from a SQL_ASCII database
            kwargs = {"autocommit": True, "connect_timeout": 10, "application_name": "headroom",
                      "client_encoding": "UTF8"}
            # one direct connection first: a server that is down or refuses the user fails now, with
            # libpq's own reason, not after the pool's 30 s wait with "couldn't get a connection"
            psycopg.connect(url, **kwargs).close()  # type: ignore[arg-type]
            p = _pools[(url, readonly)] = ConnectionPool(
                url, min_size=0, max_size=16, timeout=30, open=True, name=f"headroom-{'ro' if readonly else 'rw'}",
                kwargs=kwargs, configure=_configure(readonly))
        return p


def connect(url: str, readonly: bool) -> Connection:
    p = pool(url, readonly)
    return Connection(p.getconn(), p)


def schema_version(c: Connection, create: bool) -> int:
    """The store's schema version (0: a new database)."""
    if create:
        c.raw.execute("CREATE TABLE IF NOT EXISTS headroom_schema (version BIGINT NOT NULL)")
    elif c.raw.execute("SELECT to_regclass('headroom_schema')").fetchone()[0] is None:  # type: ignore[index]
        return 0
    row = c.raw.execute("SELECT version FROM headroom_schema").fetchone()
    return int(row[0]) if row else 0


def set_schema_version(c: Connection, v: int) -> None:
    c.raw.execute("DELETE FROM headroom_schema")
    c.raw.execute("INSERT INTO headroom_schema VALUES (%s)", (v,))


def lock_migrations(c: Connection) -> None:
    """Inside the migration transaction: a second collector starting at once waits here, then finds the
    schema current."""
    c.raw.execute("SELECT pg_advisory_xact_lock(%s, %s)", (HEADROOM, SCHEMA_LOCK))


def lock_targets(c: Connection, targets: Sequence[tuple[str, str]]) -> None:
    """Inside a write transaction: wait for each (account, region)'s lock, released at COMMIT/ROLLBACK.
    Callers pass them sorted, so two transactions never wait on each other in a circle."""
    for account, region in targets:
        c.raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"headroom:{account}:{region}",))


def try_lock(c: Connection, key: int) -> bool:
    """A session lock for work one collector does for all (the hourly rollup); False if another holds it."""
    return bool(c.raw.execute("SELECT pg_try_advisory_lock(%s, %s)", (HEADROOM, key)).fetchone()[0])  # type: ignore[index]


def unlock(c: Connection, key: int) -> None:
    c.raw.execute("SELECT pg_advisory_unlock(%s, %s)", (HEADROOM, key))


def dump(c: Connection) -> Iterable[str]:
    """Every row of every table as text (what SQLite's iterdump gives, for the tests' secret scan)."""
    tables = [r[0] for r in c.raw.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]
    for t in tables:
        for row in c.raw.execute(f'SELECT * FROM "{t}"'):
            yield f"{t}: {tuple(row)!r}"


def close_pools(url: str) -> None:
    """Close this process's pools for `url` (tests drop their databases; a process that ends needs none)."""
    with _pools_lock:
        for ro in (False, True):
            p = _pools.pop((url, ro), None)
            if p is not None:
                p.close()
