"""The sandbox fixtures of tests/collectors, for the review tests that collect before they review."""
from tests.collectors.conftest import fleet, sandbox_server, sb  # noqa: F401
