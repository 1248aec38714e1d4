"""A loopback HTTP proxy that puts network faults between a client and an endpoint.

    with Sandbox() as sb, FaultProxy(sb.endpoint_url, seed=3) as proxy:
        proxy.faults.add(error="InternalError", share=0.3, count=200)    # 500s, AWS-shaped
        proxy.faults.add(service="cloudwatch", error="Slow", delay=1.5)   # late answers
        proxy.faults.add(error="ConnectionDown", share=0.2, count=100)    # closed, no answer
        boto3.client("lambda", endpoint_url=proxy.endpoint_url, ...)

The sandbox's own fault rules answer inside moto's WSGI app; this proxy works on the wire in front
of any endpoint (the sandbox in this process, a moto_server subprocess, the demo), so the collector
meets 5xx, slow answers and dropped connections exactly as its HTTP stack does. Rules, the seeded
per-request draw, bounded counts, the error kinds and their AWS-shaped bodies are sandbox.faults'
(the same Faults class); the proxy only identifies each request (sandbox.protocol.identify) and
forwards what no rule stops. Standard library only: http.server and http.client.

Every answer closes its connection (as moto's server does), so no handler thread waits on an idle
keep-alive socket, and stop() returns only when every handler thread has ended.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from .faults import CONNECTION_DOWN, Faults, fault_reply
from .protocol import identify

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
               "upgrade", "content-length"}


class FaultProxy:
    """Forwards HTTP to `upstream`, failing chosen requests by the rules in `self.faults`."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, seed: int = 0,
                 account_of_key: Callable[[str], str] | None = None,
                 upstream_timeout: float = 60.0) -> None:
        u = urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, got {upstream!r}")
        self.upstream = (u.hostname, u.port or 80)
        self.host, self.port = host, port
        self.faults = Faults(seed=seed)
        # The account only matters to rules that name one; without moto in this process, keys
        # cannot be mapped, so `account` filters match the empty string only.
        self.account_of_key = account_of_key or (lambda key: "")
        self.upstream_timeout = upstream_timeout
        self.requests = 0
        self.injected: Counter[str] = Counter()   # error kind -> answers changed by a rule
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> "FaultProxy":
        """Listen on host:port (0 = ephemeral) and serve in a thread."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy",
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, cut pending delays short and wait for every handler thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self.faults.clear()          # wakes requests waiting out a "Slow" delay
        self._server.server_close()  # joins the handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if not self.port:
            raise RuntimeError("FaultProxy not started")
        return f"http://{self.host}:{self.port}"

    def _count(self, kind: str | None) -> None:
        with self._lock:
            self.requests += 1
            if kind is not None:
                self.injected[kind] += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = False   # server_close() joins them: a stopped proxy leaves no thread behind
    block_on_close = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (or a connection we dropped on purpose) is not an error here.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _serve(self) -> None:
        proxy = self.server.proxy
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        info = identify(self._environ(body), proxy.account_of_key)
        rule = proxy.faults.pick(info) if info.service is not None else None  # waits any delay
        if rule is None:
            proxy._count(None)
            self._forward(body)
            return
        proxy._count(rule.error)
        if rule.error == CONNECTION_DOWN:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        reply = fault_reply(rule, info)
        self.send_response(reply.status)
        headers = {"x-amzn-RequestId": "proxy-fault", **reply.headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command, "PATH_INFO": unquote(path), "QUERY_STRING": query,
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        }
        for k, v in self.headers.items():
            if k.lower() == "content-type":
                environ["CONTENT_TYPE"] = v
            else:
                environ["HTTP_" + k.upper().replace("-", "_")] = v
        return environ

    def _forward(self, body: bytes) -> None:
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(*proxy.upstream, timeout=proxy.upstream_timeout)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            # The upstream failed: the client sees what it would have seen from it, no answer.
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve
