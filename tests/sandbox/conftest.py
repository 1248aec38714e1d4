"""One sandbox server per test session, reset before every test; dummy credentials only."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sandbox.server import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    # Dummy credentials and no config files are set for every test by tests/conftest.py.
    sb = Sandbox().start()
    yield sb
    sb.stop()


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    """The session sandbox, freshly reset."""
    sandbox.set_reachable(True)
    sandbox.reset()
    return sandbox


@pytest.fixture
def client(sb: Sandbox) -> Callable[..., Any]:
    """client("lambda", region="us-east-1", credentials=None): a stock boto3 client, no retries."""

    def make(service: str, region: str = "us-east-1", credentials: dict[str, str] | None = None,
             attempts: int = 1) -> Any:
        kw: dict[str, Any] = {}
        if credentials:
            kw = {"aws_access_key_id": credentials["AccessKeyId"],
                  "aws_secret_access_key": credentials["SecretAccessKey"],
                  "aws_session_token": credentials["SessionToken"]}
        return boto3.client(service, region_name=region, endpoint_url=sb.endpoint_url,
                            # total_max_attempts counts the first try (max_attempts would
                            # add one retry to it).
                            config=Config(retries={"total_max_attempts": attempts,
                                                   "mode": "standard"}),
                            **kw)

    return make


def zip_bytes(padding: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("h.py", "def h(event, context):\n    return 1\n" + "#" * padding)
    return buf.getvalue()


@pytest.fixture
def new_function(client: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """new_function(name, region="us-east-1", credentials=None, **create_kwargs)."""
    def make(name: str, region: str = "us-east-1", credentials: dict[str, str] | None = None,
             padding: int = 0, **extra: Any) -> dict[str, Any]:
        iam = client("iam", credentials=credentials)
        try:  # looked up each time: a reset() between calls removes it
            role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_role(RoleName="fn-role",
                                   AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = client("lambda", region=region, credentials=credentials)
        return lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                   Handler="h.h", Code={"ZipFile": zip_bytes(padding)}, **extra)

    return make
