"""A throwaway PostgreSQL database per test, on the server that HEADROOM_TEST_PG_URL names (a user
that may CREATE DATABASE; `.ci/run` starts one from Debian's package). Without it the PostgreSQL half
of the two-backend tests is skipped, and in CI (CI set) it fails: CI must run both."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from collectors import pg

SERVER = os.environ.get("HEADROOM_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def require() -> str:
    if not SERVER:
        if os.environ.get("CI"):
            pytest.fail("HEADROOM_TEST_PG_URL is not set: .ci/run starts PostgreSQL and sets it, and CI runs both backends")
        pytest.skip("PostgreSQL: set HEADROOM_TEST_PG_URL to a server whose user may CREATE DATABASE (.ci/run starts one)")
    return SERVER


@contextmanager
def database() -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards with every pooled connection to it."""
    server = require()
    name = "headroom_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server)._replace(path="/" + name))
    try:
        yield url
    finally:
        pg.close_pools(url)
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def location(backend: str, tmp_path) -> Iterator[object]:
    """A store location for `backend`: a file under tmp_path, or a new PostgreSQL database's URL."""
    if backend == "sqlite":
        yield tmp_path / "h.db"
    else:
        with database() as url:
            yield url
