"""Shared helpers for the benchmarks: safe AWS environment, machine facts, robust statistics."""
from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/NAME.py` as well as `python -m bench.NAME`
    sys.path.insert(0, str(ROOT))

# Dummy credentials and no config files: nothing here can reach a real AWS account.
SAFE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


def safe_aws_env() -> None:
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN",
              "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        os.environ.pop(k, None)
    os.environ.update(SAFE_ENV)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "ram": mem, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}


def print_machine() -> None:
    m = machine()
    print(f"machine: {m['nproc']} CPU ({m['cpu']}), {m['ram']} RAM, Python {m['python']}, "
          f"SQLite {m['sqlite']}, {m['platform']}")


def summary(xs: Sequence[float]) -> dict[str, float]:
    """Median and spread of repeated measurements (min, max, and max/min as a noise ratio)."""
    xs = sorted(xs)
    return {"n": len(xs), "median": statistics.median(xs), "min": xs[0], "max": xs[-1],
            "spread": (xs[-1] / xs[0]) if xs[0] > 0 else float("nan")}


def fmt(xs: Sequence[float], unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
    s = summary([x * scale for x in xs])
    return (f"median {s['median']:.{digits}f} {unit} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f}, "
            f"n={s['n']}, max/min {s['spread']:.2f})")


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def repeat(fn: Callable[[], object], n: int) -> list[float]:
    return [timed(fn)[0] for _ in range(n)]
