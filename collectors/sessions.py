"""One boto3 Session per (target, region); assume-role; one botocore Config; API call counting.

No I/O happens until a client makes its first call. Credentials come from the standard chain
(environment, profiles, SSO, instance roles) or from sts:AssumeRole; they are never logged.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import create_loader
from botocore.utils import parse_timestamp

from .config import Collection, Target

USER_AGENT = "headroom"


class CallCounter:
    """Counts API calls per 'service-id:Operation' (botocore's retries of a call are not counted again)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_id.hyphenize()}:{model.name}"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with a fast path for epoch numbers.

    GetMetricData answers carry one timestamp per datapoint (up to 100,800 a page); the generic
    parser made parsing them most of a cycle's CPU time (3x slower, see BENCHMARKS.md).
    """
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return parse_timestamp(value)


# One botocore data loader for every session of the process: it caches the parsed service models and
# endpoint data, which a session of its own parses again (about 140 ms of CPU per target and cycle for
# a session and six clients, 75 % of it JSON; bench/org: 400 target regions a cycle).
_LOADER = create_loader()


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 Session (standard credential chain unless keys are given) with the fast timestamp parser
    and the process's shared model loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
    return boto3.Session(botocore_session=core, **kwargs)


def botocore_config(c: Collection) -> Config:
    """Retries by botocore's standard mode (no hand-written loops); timeouts so a dead endpoint fails fast."""
    return Config(retries={"mode": "standard", "max_attempts": c.max_attempts}, connect_timeout=5,
                  read_timeout=60, max_pool_connections=16, user_agent_extra=USER_AGENT)


def assume(sts: Any, role_arn: str, region: str, external_id: str | None = None) -> boto3.Session:
    """A session with the credentials of role_arn, assumed through the sts client given."""
    kwargs = {"RoleArn": role_arn, "RoleSessionName": "headroom"}
    if external_id:
        kwargs["ExternalId"] = external_id
    creds = sts.assume_role(**kwargs)["Credentials"]
    return new_session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"], region_name=region)


def read_linked(cloudwatch: Any, account: str) -> Any:
    """Make a monitoring account's CloudWatch client read one linked (source) account's metrics: every
    ListMetrics gets IncludeLinkedAccounts and OwningAccount, every GetMetricData query AccountId, whether
    called directly or through a paginator (botocore's provide-client-params hook sees both). Returns it."""
    def list_metrics(params: dict[str, Any], **_: Any) -> None:
        params.update(IncludeLinkedAccounts=True, OwningAccount=account)

    def get_metric_data(params: dict[str, Any], **_: Any) -> None:
        params["MetricDataQueries"] = [{**q, "AccountId": account} for q in params.get("MetricDataQueries", [])]

    events = cloudwatch.meta.events
    events.register("provide-client-params.cloudwatch.ListMetrics", list_metrics)
    events.register("provide-client-params.cloudwatch.GetMetricData", get_metric_data)
    return cloudwatch


class TargetSession:
    """Clients for one (target, region), all sharing one botocore Config and call counter."""

    def __init__(self, target: Target, region: str, collection: Collection,
                 base_session: boto3.Session | None = None):
        self.target, self.region = target, region
        self.config = botocore_config(collection)
        self.counter = CallCounter()
        self._base = base_session
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}

    def _make_session(self) -> boto3.Session:
        base = self._base or new_session(profile_name=self.target.profile, region_name=self.region)
        if not self.target.role_arn:
            return base
        return assume(self._sts(base), self.target.role_arn, self.region, self.target.external_id)

    def _sts(self, session: boto3.Session) -> Any:
        sts = session.client("sts", region_name=self.region, endpoint_url=self.target.endpoint_url, config=self.config)
        sts.meta.events.register("before-call", self.counter)
        return sts

    def _monitoring(self) -> Any:
        """The monitoring account's CloudWatch, reading this target's account (a discovered account whose
        metrics are linked to the monitoring account in this region)."""
        base = self._base or new_session(profile_name=self.target.profile, region_name=self.region)
        if self.target.monitoring_role_arn:
            base = assume(self._sts(base), self.target.monitoring_role_arn, self.region)
        make: Any = base.client
        c = make("cloudwatch", region_name=self.region, endpoint_url=self.target.endpoint_url, config=self.config)
        c.meta.events.register("before-call", self.counter)
        assert self.target.account_id is not None   # linked_regions is set on discovered targets only
        return read_linked(c, self.target.account_id)

    def client(self, service: str) -> Any:
        """A client for `service` in this region (the session and role are set up on first call)."""
        if service == "cloudwatch" and self.region in self.target.linked_regions and service not in self._clients:
            self._clients[service] = self._monitoring()
        if service not in self._clients:
            if self._session is None:
                self._session = self._make_session()
            # the service name is data here (boto3's stubs type client() per literal service name)
            make: Any = self._session.client
            c = make(service, region_name=self.region, endpoint_url=self.target.endpoint_url, config=self.config)
            c.meta.events.register("before-call", self.counter)
            self._clients[service] = c
        return self._clients[service]
