"""A sandbox server for the collector's end-to-end tests, reset before each test."""
from __future__ import annotations

import time

import pytest

from sandbox.server import Sandbox

from . import seed


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


def write_config(tmp_path, endpoint, extra_targets="", collection="max_attempts = 2\nbackfill_days = 1",
                 store='path = "headroom.db"'):
    p = tmp_path / "fleet.toml"
    p.write_text(f"""
[store]
{store}
[grouping]
prefix_depth = 1
tag_keys = ["team"]
[collection]
{collection}
[[targets]]
name = "prod"
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "{endpoint}"
[[targets]]
name = "staging"
regions = ["us-east-1", "eu-west-1"]
role_arn = "{seed.ROLE}"
endpoint_url = "{endpoint}"
{extra_targets}
""")
    return p


@pytest.fixture
def fleet(sb, tmp_path):
    seed.build(sb)
    seed.put_metrics(sb, int(time.time()))
    return write_config(tmp_path, sb.endpoint_url)
