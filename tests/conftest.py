"""Shared test safety: no test may reach a real AWS endpoint or use real credentials."""
import os


SAFE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
for _k, _v in SAFE_ENV.items():
    os.environ[_k] = _v
for _k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
    os.environ.pop(_k, None)
# No background review warmer in the test process (AppTest runs dashboard/app.py here): it would compute
# reviews beside the tests, on stores they delete; tests/dashboard/test_warm.py drives it by hand.
os.environ["HEADROOM_WARM"] = "0"




import pytest  # noqa: E402

from tests import pgserver  # noqa: E402


@pytest.fixture(params=pgserver.BACKENDS)
def store_location(request, tmp_path):
    """A store location on each backend: a SQLite file, and a new PostgreSQL database."""
    with pgserver.location(request.param, tmp_path) as loc:
        yield loc
