"""A sandbox server for the collector's end-to-end tests, reset before each test."""
from __future__ import annotations

import pytest

from sandbox.server import Sandbox


@pytest.fixture(scope="session")
def sandbox_server():
    sb = Sandbox().start()
    yield sb
    sb.stop()


@pytest.fixture
def sb(sandbox_server):
    sandbox_server.set_reachable(True)
    sandbox_server.reset()
    return sandbox_server
