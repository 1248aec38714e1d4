"""Fault injection: answer chosen requests with throttling, access denied or a dropped connection.

Error kinds (`error=`):
- "Throttling": the service's own throttling error. CloudWatch and STS: HTTP 400 "Throttling";
  Lambda and Service Quotas: HTTP 429 "TooManyRequestsException"; SQS: 400 "RequestThrottled";
  Tagging: 400 "ThrottledException".
- "TooManyRequests": HTTP 429 "TooManyRequestsException" on any service (Lambda style).
- "AccessDenied": the service's own access-denied error: "AccessDenied" (403) for the query-era
  services CloudWatch, SQS and STS; "AccessDeniedException" (403) for the others.
- "AccessDeniedException": exactly that code, HTTP 403, on any service.
- "ConnectionDown": the server drops the connection without answering; botocore raises
  ConnectionClosedError. (A refused connection, EndpointConnectionError, can only be simulated for
  the whole endpoint: see Sandbox.set_reachable.)
- "InternalError": HTTP 500 in the service's shape ("ServiceException" for Lambda, "InternalFailure"
  elsewhere); "ServiceUnavailable": HTTP 503. botocore's standard mode retries both.
- "Slow": no error: the answer is only delayed by the rule's `delay` (seconds).
- any other string: used verbatim as the error code, HTTP 400.

A rule's `delay` is waited in pick() before the answer (any kind: slow, then fail). clear() wakes
requests still waiting. Whether a `share` rule fires is drawn per request from the seed, the rule and
the request itself (service, operation, region, account, method, path, body, and how many times that
same request was seen), so the same requests fail in the same way whatever order threads send them
in; a retry is a new draw. The sandbox and sandbox.proxy.FaultProxy both use this class.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from dataclasses import dataclass

from .protocol import Reply, RequestInfo, error_reply

CONNECTION_DOWN = "ConnectionDown"
SLOW = "Slow"

_5XX = {
    "InternalError": (500, "InternalFailure", "We encountered an internal error. Please try again."),
    "ServiceUnavailable": (503, "ServiceUnavailable", "Service is unavailable. Please try again later."),
}

_THROTTLE = {
    "cloudwatch": ("Throttling", 400, "Rate exceeded"),
    "sts": ("Throttling", 400, "Rate exceeded"),
    "lambda": ("TooManyRequestsException", 429, "Rate exceeded"),
    "servicequotas": ("TooManyRequestsException", 429, "Rate exceeded"),
    "sqs": ("RequestThrottled", 400, "Rate exceeded"),
    "tagging": ("ThrottledException", 400, "Rate exceeded"),
}


@dataclass
class FaultRule:
    """One rule: requests matching every non-None filter fail with `error` (share of the time)."""

    service: str | None = None
    operation: str | None = None
    region: str | None = None
    account: str | None = None
    error: str = "Throttling"
    share: float = 1.0
    count: int | None = None  # fire at most this many times, then the rule retires
    fired: int = 0
    delay: float = 0.0        # seconds waited before answering (error "Slow": then answer normally)

    def matches(self, info: RequestInfo) -> bool:
        return ((self.service is None or self.service == info.service)
                and (self.operation is None or self.operation == info.operation)
                and (self.region is None or self.region == info.region)
                and (self.account is None or self.account == info.account))


class Faults:
    """The set of active fault rules (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._seed = seed
        self._seen: Counter[str] = Counter()
        self._wake = threading.Event()

    def add(self, service: str | None = None, operation: str | None = None,
            region: str | None = None, account: str | None = None, error: str = "Throttling",
            share: float = 1.0, count: int | None = None, delay: float = 0.0) -> FaultRule:
        """Add a rule; the returned handle can be passed to remove()."""
        rule = FaultRule(service, operation, region, account, error, share, count, delay=delay)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule and wake the requests still waiting out a delay."""
        with self._lock:
            self._rules.clear()
            self._wake.set()
            self._wake = threading.Event()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, info: RequestInfo) -> FaultRule | None:
        """The rule that fires for this request, if any (counted, its delay waited); None for "Slow"
        rules, whose request then goes on to its normal answer."""
        fired = None
        with self._lock:
            key = _request_key(info)
            self._seen[key] += 1
            nth = self._seen[key]
            for i, rule in enumerate(self._rules):
                if not rule.matches(info):
                    continue
                if rule.share < 1.0 and _draw(self._seed, i, key, nth) >= rule.share:
                    continue
                rule.fired += 1
                if rule.count is not None and rule.fired >= rule.count:
                    self._rules.remove(rule)
                fired, wake = rule, self._wake
                break
        if fired is None:
            return None
        if fired.delay > 0:
            wake.wait(fired.delay)
        return None if fired.error == SLOW else fired


def _request_key(info: RequestInfo) -> str:
    body = hashlib.sha1(info.body).hexdigest()
    return f"{info.service}|{info.operation}|{info.region}|{info.account}|{info.method}|{info.path}|{body}"


def _draw(seed: int, rule_index: int, key: str, nth: int) -> float:
    """A number in [0, 1) fixed by the seed, the rule and the request (not by thread timing)."""
    return random.Random(f"{seed}|{rule_index}|{key}|{nth}").random()


def fault_reply(rule: FaultRule, info: RequestInfo) -> Reply:
    """The error answer for a fired rule (not used for ConnectionDown)."""
    service = info.service
    op = info.operation or "this operation"
    if rule.error == "Throttling":
        code, status, message = _THROTTLE.get(service or "", ("Throttling", 400, "Rate exceeded"))
    elif rule.error in _5XX:
        status, code, message = _5XX[rule.error]
        if service == "lambda" and status == 500:
            code = "ServiceException"
    elif rule.error == "TooManyRequests":
        code, status, message = "TooManyRequestsException", 429, "Rate exceeded"
    elif rule.error in ("AccessDenied", "AccessDeniedException"):
        native = "AccessDenied" if service in ("cloudwatch", "sqs", "sts") else "AccessDeniedException"
        code = native if rule.error == "AccessDenied" else "AccessDeniedException"
        status = 403
        message = (f"User: arn:aws:sts::{info.account}:assumed-role/headroom-read/sandbox is not "
                   f"authorized to perform: {service}:{op}")
    else:
        code, status, message = rule.error, 400, f"Injected fault {rule.error}"
    return error_reply(service, code, message, status)
