"""The container's health check: `python /app/deploy/healthcheck.py [URL] [--max-age SECONDS]`.

Standard library only, so it runs in the image without importing headroom. Exit 0 healthy, 1 not, with one
line saying why (Docker keeps it in `docker inspect`'s health log).

- A Prometheus `/metrics` URL (the collector's `--metrics-port`, the default): healthy when a collection
  cycle finished within `--max-age` seconds (`headroom_last_cycle_timestamp_seconds`). Before the first
  cycle finishes there is no such sample: unhealthy, which the healthcheck's start period forgives.
- Any other URL (the dashboard's `/_stcore/health`): healthy when it answers 200.
"""
from __future__ import annotations

import argparse
import sys
import time
import urllib.request

COLLECTOR = "http://127.0.0.1:9108/metrics"
LAST_CYCLE = "headroom_last_cycle_timestamp_seconds"


def last_cycle(metrics_text: str) -> float | None:
    """The finish time of the latest cycle in a Prometheus text exposition, or None when it has none."""
    for line in metrics_text.splitlines():
        name, _, value = line.partition(" ")
        if name == LAST_CYCLE:
            return float(value.split()[0])
    return None


def verdict(url: str, status: int, body: str, now: float, max_age: float) -> str | None:
    """Why the service is unhealthy, or None when it is healthy."""
    if status != 200:
        return f"{url} answered HTTP {status}"
    if not url.rstrip("/").endswith("/metrics"):
        return None
    finished = last_cycle(body)
    if finished is None:
        return f"no collection cycle has finished yet ({LAST_CYCLE} missing from {url})"
    age = now - finished
    if age > max_age:
        return f"the latest collection cycle finished {age:.0f} s ago (more than {max_age:.0f} s)"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("url", nargs="?", default=COLLECTOR, help=f"what to ask (default: {COLLECTOR})")
    p.add_argument("--max-age", type=float, default=300.0,
                   help="a /metrics URL: the latest cycle must have finished within this many seconds (default 300)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    args = p.parse_args(argv)
    try:
        with urllib.request.urlopen(args.url, timeout=args.timeout) as r:  # noqa: S310 - a fixed local URL
            status, body = r.status, r.read().decode("utf-8", "replace")
    except Exception as e:  # noqa: BLE001 - any failure to get an answer is unhealthy, said in one line
        print(f"unhealthy: {args.url}: {type(e).__name__}: {e}")
        return 1
    why = verdict(args.url, status, body, time.time(), args.max_age)
    print(f"unhealthy: {why}" if why else f"healthy: {args.url}")
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
