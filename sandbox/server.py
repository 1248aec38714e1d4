"""The sandbox: moto's server on 127.0.0.1 with what moto lacks added in front of it.

    with Sandbox() as sb:
        boto3.client("lambda", endpoint_url=sb.endpoint_url, region_name="us-east-1", ...)

A WSGI app sits before moto's own dispatcher. For every request it works out service, operation,
region and account (protocol.identify), logs it, applies fault rules (faults.py), answers the
operations the sandbox owns (CloudWatch metrics, Lambda extras, Service Quotas for lambda) and
passes everything else to moto unchanged.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
from datetime import datetime
from typing import Any, Callable

from werkzeug.serving import BaseWSGIServer, make_server

from .faults import CONNECTION_DOWN, Faults, fault_reply
from .lambda_ext import LambdaExtensions, AccountLimits, patch_moto
from .metrics import MetricStore
from .org import Observability
from .protocol import Reply, RequestInfo, SandboxError, error_reply, identify

log = logging.getLogger(__name__)

Handler = Callable[[RequestInfo], "Reply | None"]


def _account_of_key(access_key: str) -> str:
    # moto maps keys it issued (e.g. by sts:AssumeRole) to their account; others to the default.
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


class Sandbox:
    """A local AWS for the fleet monitor: start(), endpoint_url, reset(), stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, request_log_size: int = 100_000,
                 fault_seed: int = 0) -> None:
        self.host = host
        self.port = port
        self.metrics = MetricStore()
        self.observability = Observability(self.metrics.links)
        self.lambda_ext = LambdaExtensions()
        self.faults = Faults(seed=fault_seed)
        # (service, operation, region, account) per request seen, newest last.
        self.request_log: collections.deque[tuple[str | None, str | None, str | None, str]] = (
            collections.deque(maxlen=request_log_size))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: _FrontApp | None = None
        self._handlers: dict[tuple[str, str], Handler] = {
            ("cloudwatch", "GetMetricData"): self.metrics.get_metric_data,
            ("cloudwatch", "PutMetricData"): self.metrics.put_metric_data,
            ("cloudwatch", "GetMetricStatistics"): self.metrics.get_metric_statistics,
            ("cloudwatch", "ListMetrics"): self.metrics.list_metrics,
            ("oam", "ListSinks"): self.observability.list_sinks,
            ("oam", "ListAttachedLinks"): self.observability.list_attached_links,
            ("lambda", "GetAccountSettings"): self.lambda_ext.get_account_settings,
            ("lambda", "ListFunctions"): self.lambda_ext.list_functions,
            ("lambda", "PutFunctionConcurrency"): self.lambda_ext.put_function_concurrency,
            ("lambda", "DeleteFunction"): self.lambda_ext.delete_function,
            ("lambda", "PutProvisionedConcurrencyConfig"):
                self.lambda_ext.put_provisioned_concurrency_config,
            ("lambda", "GetProvisionedConcurrencyConfig"):
                self.lambda_ext.get_provisioned_concurrency_config,
            ("lambda", "ListProvisionedConcurrencyConfigs"):
                self.lambda_ext.list_provisioned_concurrency_configs,
            ("lambda", "DeleteProvisionedConcurrencyConfig"):
                self.lambda_ext.delete_provisioned_concurrency_config,
        }
        for op in ("GetServiceQuota", "ListServiceQuotas", "GetAWSDefaultServiceQuota",
                   "ListAWSDefaultServiceQuotas"):
            self._handlers[("servicequotas", op)] = self.lambda_ext.service_quotas

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> "Sandbox":
        """Serve on host:port (port 0 = ephemeral) in a daemon thread."""
        if self._server is not None:
            return self
        patch_moto()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        if self._app is None:
            self._app = _FrontApp(self, DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self.host, self.port, self._app, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_address[1]  # keep the port across set_reachable()
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (state is kept until reset or the process ends)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise RuntimeError("Sandbox not started")
        # Stays valid while set_reachable(False) has the port closed.
        return f"http://{self.host}:{self.port}"

    def set_reachable(self, reachable: bool) -> None:
        """False closes the listening socket (clients get EndpointConnectionError); True reopens
        it on the same port. State is kept."""
        if reachable:
            self.start()
        else:
            self.stop()

    def reset(self) -> None:
        """Clear moto (every account and region) and all of the sandbox's own state."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        self.metrics.clear()
        self.lambda_ext.clear()
        self.faults.clear()
        self.request_log.clear()

    # ---- direct state API --------------------------------------------------------------------

    def set_account_limits(self, account_id: str, region: str, concurrent_executions: int = 1000,
                           code_storage_bytes: int = 80_530_636_800,
                           quota_concurrent_executions: int | None = None) -> None:
        """Lambda limits of one account+region (GetAccountSettings and Service Quotas).

        quota_concurrent_executions: what Service Quotas reports as applied, when it should differ
        from what Lambda enforces (e.g. an increase not yet in effect)."""
        self.lambda_ext.limits[(account_id, region)] = AccountLimits(
            concurrent_executions, code_storage_bytes, quota_concurrent_executions)

    def set_code_size(self, account_id: str, region: str, function_name: str, size: int,
                      version: str | int | None = None) -> None:
        """Make a function version ($LATEST when None) claim `size` bytes of code."""
        self.lambda_ext.set_code_size(account_id, region, function_name, size, version)

    def put_provisioned_concurrency(self, account_id: str, region: str, function_name: str,
                                    qualifier: str, requested: int) -> None:
        """Same as the PutProvisionedConcurrencyConfig API, without HTTP."""
        self.lambda_ext.put_provisioned(account_id, region, function_name, qualifier, requested)

    def put_metric_points(self, account_id: str, region: str, namespace: str, metric_name: str,
                          dimensions: dict[str, str] | None,
                          points: list[tuple[int | float | datetime, float]]) -> None:
        """Write raw values (one sample each) straight into the metric store."""
        self.metrics.put(account_id, region, namespace, metric_name, dimensions, points)

    def put_metric_sets(self, account_id: str, region: str, namespace: str, metric_name: str,
                        dimensions: dict[str, str] | None,
                        sets: list[tuple[int | float | datetime, float, float, float, float]]
                        ) -> None:
        """Write statistic sets (t, sum, count, min, max) straight into the metric store."""
        self.metrics.put_sets(account_id, region, namespace, metric_name, dimensions, sets)

    def prune_metrics(self, older_than_epoch: int | float) -> int:
        """Drop metric points older than the given epoch second; returns how many."""
        return self.metrics.prune(older_than_epoch)


class _FrontApp:
    """WSGI app before moto: log, faults, sandbox handlers, then moto."""

    def __init__(self, sandbox: Sandbox, moto_app: Any) -> None:
        self.sandbox = sandbox
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        sb = self.sandbox
        info = identify(environ, _account_of_key)
        if info.service is not None:
            sb.request_log.append((info.service, info.operation, info.region, info.account))
        rule = sb.faults.pick(info) if info.service is not None else None
        if rule is not None:
            if rule.error == CONNECTION_DOWN:
                _drop_connection(environ)
            return fault_reply(rule, info)(environ, start_response)
        handler = sb._handlers.get((info.service or "", info.operation or ""))
        if handler is not None:
            try:
                reply = handler(info)
            except SandboxError as e:
                reply = error_reply(info.service, e.code, e.message, e.status)
            except Exception as e:  # moto's own errors (e.g. function not found)
                reply = _moto_error(info, e)
            if reply is not None:
                return reply(environ, start_response)
        return self.moto_app(environ, start_response)


def _moto_error(info: RequestInfo, exc: Exception) -> Reply:
    error_type = getattr(exc, "error_type", None)
    if error_type is None:  # a sandbox bug or a malformed request: say so in AWS's shape
        log.exception("sandbox handler failed: %s %s", info.service, info.operation)
        return error_reply(info.service, "InternalFailure", f"sandbox: {exc!r}", 500)
    return error_reply(info.service, error_type, getattr(exc, "message", str(exc)),
                       int(getattr(exc, "code", 400)))


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket without an answer (werkzeug then ignores the dropped client)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionAbortedError("sandbox fault: connection down")


def _quiet_handler_base() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


class _QuietHandler(_quiet_handler_base()):  # type: ignore[misc]
    """moto's request handler without the per-request access log line."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass
