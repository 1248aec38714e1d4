"""Reading AWS requests and writing AWS-shaped answers, per wire protocol.

The sandbox sits in front of moto as a WSGI app. It must know, for every request, which service,
operation, region and account it is for (to log it, inject faults and route our own handlers), and
it must answer errors in the exact shape botocore parses for that service's protocol.

Protocols as botocore 1.44 really speaks them (measured, not the model's first choice):
- cloudwatch: awsJson1_0 with awsQueryCompatible (X-Amz-Target GraniteServiceVersion20100801.*);
  the model lists smithy-rpc-v2-cbor first, but botocore prefers "json" when offered.
- sqs: awsJson1_0 with awsQueryCompatible (X-Amz-Target AmazonSQS.*).
- tagging: awsJson1_1 (again cbor is listed first, json is used).
- servicequotas: awsJson1_1.
- lambda: restJson1.
- sts: query (form body with Action=..., XML errors).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

# SigV4 signing name -> the sandbox's service name.
SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "tagging": "tagging"}

QUERY_COMPATIBLE_JSON = {"cloudwatch", "sqs"}
JSON_1_1 = {"tagging", "servicequotas"}
REST_JSON = {"lambda", "oam"}
QUERY_XML = {"sts", "iam"}

_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class RequestInfo:
    """What the sandbox knows about one incoming request."""

    service: str | None
    operation: str | None
    region: str | None
    account: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]
    uri_params: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        """The body as JSON (empty dict when absent)."""
        if not self.body:
            return {}
        return json.loads(self.body)

    def qs(self, name: str, default: str | None = None) -> str | None:
        """One query-string value."""
        values = self.query.get(name)
        return values[0] if values else default


class SandboxError(Exception):
    """An AWS error answered by a sandbox handler, rendered in the service's protocol."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Reply:
    """A complete HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = dict(self.headers)
        headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        headers["Content-Length"] = str(len(self.body))
        start_response(f"{self.status} {_REASONS.get(self.status, 'OK')}", list(headers.items()))
        return [self.body]


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable"}


def json_reply(service: str, payload: dict[str, Any] | None, status: int = 200) -> Reply:
    """A successful JSON answer with the content type the service's protocol uses."""
    if service in REST_JSON:
        ctype = "application/json"
    elif service in JSON_1_1:
        ctype = "application/x-amz-json-1.1"
    else:
        ctype = "application/x-amz-json-1.0"
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, {"Content-Type": ctype}, body)


def error_reply(service: str | None, code: str, message: str, status: int = 400) -> Reply:
    """An error in the shape botocore parses for `service` (ClientError code == `code`)."""
    headers: dict[str, str] = {}
    if service in QUERY_XML:
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ).encode()
        return Reply(status, {"Content-Type": "text/xml"}, body)
    if service in REST_JSON:
        headers["x-amzn-ErrorType"] = code
        payload = {"Type": "User", "message": message}
        return Reply(status, {"Content-Type": "application/json", **headers},
                     json.dumps(payload).encode())
    if service in QUERY_COMPATIBLE_JSON:
        # botocore takes the code from this header for awsQueryCompatible services.
        headers["x-amzn-query-error"] = f"{code};Sender"
    ctype = "application/x-amz-json-1.1" if service in JSON_1_1 else "application/x-amz-json-1.0"
    payload = {"__type": code, "message": message}
    return Reply(status, {"Content-Type": ctype, **headers}, json.dumps(payload).encode())


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back so moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def identify(environ: dict[str, Any], account_of_key: Any) -> RequestInfo:
    """Work out service, operation, region and account of a WSGI request.

    `account_of_key(access_key_id) -> account_id` maps an access key to the account moto
    associates it with (assume-role keys belong to the role's account).
    """
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    path = environ.get("PATH_INFO", "") or "/"
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    body = read_body(environ)
    if "gzip" in headers.get("content-encoding", "") and body[:2] == b"\x1f\x8b":
        # botocore gzips large bodies (e.g. PutMetricData over 10 KB); moto gets them as sent.
        body = gzip.decompress(body)

    service = region = access_key = None
    match = _CREDENTIAL_RE.search(headers.get("authorization", ""))
    if match:
        access_key, region, signing = match.groups()
        service = SIGNING_TO_SERVICE.get(signing, signing)
    account = headers.get("x-moto-account-id") or account_of_key(access_key or "")

    operation: str | None = None
    uri_params: dict[str, str] = {}
    target = headers.get("x-amz-target")
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif path.startswith("/service/") and "/operation/" in path:  # smithy-rpc-v2-cbor
        operation = path.rsplit("/", 1)[-1]
    elif "x-www-form-urlencoded" in headers.get("content-type", "") and body:
        form = parse_qs(body.decode("utf-8", "replace"))
        operation = next(iter(form.get("Action") or []), None)
    elif service in REST_JSON:
        found = _rest_router(service).match(environ.get("REQUEST_METHOD", "GET"), path, query)
        if found:
            operation, uri_params = found
    return RequestInfo(service, operation, region, account, environ.get("REQUEST_METHOD", "GET"),
                       path, query, body, headers, uri_params)


class _RestRouter:
    """Maps (method, path, query) to a restJson1 operation using botocore's own service model."""

    def __init__(self, model: dict[str, Any]) -> None:
        self._routes: list[tuple[str, re.Pattern[str], dict[str, str], str]] = []
        for name, op in model["operations"].items():
            uri = op["http"]["requestUri"]
            path, _, literal = uri.partition("?")
            required = dict(parse_qs(literal, keep_blank_values=True)) if literal else {}
            required = {k: v[0] for k, v in required.items()}
            pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path.rstrip("/"))
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
            self._routes.append((op["http"]["method"], re.compile(f"^{pattern}/?$"), required, name))
        # Routes with query literals (e.g. "?List=ALL") must win over the bare path.
        self._routes.sort(key=lambda r: -len(r[2]))

    def match(self, method: str, path: str,
              query: dict[str, list[str]]) -> tuple[str, dict[str, str]] | None:
        for route_method, pattern, required, name in self._routes:
            if route_method != method:
                continue
            m = pattern.match(path)
            if not m:
                continue
            if any(next(iter(query.get(k) or []), None) != v for k, v in required.items()):
                continue
            return name, {k: unquote(v) for k, v in m.groupdict().items()}
        return None


@lru_cache(maxsize=None)
def _rest_router(service: str) -> _RestRouter:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return _RestRouter(model._service_description)  # type: ignore[attr-defined]  # the raw model lives only there
