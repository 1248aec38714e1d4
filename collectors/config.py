"""fleet.toml -> validated settings. Every error names the file, the key and what is allowed."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A configuration file that cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class Target:
    name: str
    regions: tuple[str, ...]
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class PrefixRule:
    prefix: str
    group: str


@dataclass(frozen=True)
class Grouping:
    prefix_depth: int = 1
    delimiters: str = "-_"
    prefix_rules: tuple[PrefixRule, ...] = ()
    tag_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Threshold:
    warn: float
    critical: float


# Ratios are fractions of a limit; counts are per review window.
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "concurrency": Threshold(0.80, 0.90),          # peak concurrency / account limit
    "claimed_concurrency": Threshold(0.80, 0.90),  # peak claimed / account limit
    "code_storage": Threshold(0.80, 0.90),         # used / 75 GB
    "reserved_allocation": Threshold(0.80, 0.95),  # sum reserved / (limit - 100)
    "function_concurrency": Threshold(0.80, 1.00),  # function peak / its reserved limit
    "throttles": Threshold(1, 100),
    "async_events_dropped": Threshold(1, 10),
    "dead_letter_errors": Threshold(1, 1),
    "destination_delivery_failures": Threshold(1, 10),
    "dlq_messages": Threshold(1, 100),
    "provisioned_spillover": Threshold(1, 100),
}


@dataclass(frozen=True)
class Collection:
    interval_seconds: int = 60
    backfill_hours: int = 24          # first cycle: this far back at 1 minute
    backfill_days: int = 7            # first cycle too: further back (hourly beyond a day)
    overlap_minutes: int = 10         # re-read each cycle for late datapoints
    inventory_refresh_minutes: int = 60  # per-function detail calls for unchanged functions
    max_workers: int = 4              # (target, region) pairs collected at once
    detail_workers: int = 4           # per-function Lambda calls in flight per (target, region)
    max_attempts: int = 5             # botocore standard retry mode


@dataclass(frozen=True)
class Retention:
    raw_days: float = 3        # 1-minute points, then rolled up to 5 minutes
    five_minute_days: float = 30   # then rolled up to 1 hour
    hourly_days: float = 455


@dataclass(frozen=True)
class Settings:
    path: Path | None
    store_path: Path
    targets: tuple[Target, ...]
    grouping: Grouping = Grouping()
    thresholds: dict[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    collection: Collection = Collection()
    retention: Retention = Retention()


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


class _Reader:
    """Walks one TOML table, checking keys and types; errors carry file and dotted key."""

    def __init__(self, file: str, table: dict[str, Any], where: str, allowed: dict[str, str]):
        self.file, self.table, self.where, self.allowed = file, table, where, allowed
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            self.fail(unknown[0], f"unknown key; allowed here: {', '.join(sorted(allowed))}")

    def key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, msg: str) -> None:
        raise ConfigError(f"{self.file}: [{self.key(k)}] {msg}")

    def get(self, k: str, types: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        if k not in self.table:
            if required:
                self.fail(k, f"is required ({self.allowed[k]})")
            return default
        v = self.table[k]
        # bool is an int in Python; a number key must not accept true/false.
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.fail(k, f"must be {self.allowed[k]}, got {v!r}")
        if not isinstance(v, types):
            self.fail(k, f"must be {self.allowed[k]}, got {type(v).__name__} {v!r}")
        return v

    def number(self, k: str, default: float, minimum: float, maximum: float | None = None) -> float:
        v = self.get(k, (int, float), default)
        if v < minimum or (maximum is not None and v > maximum):
            rng = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self.fail(k, f"must be {rng}, got {v!r}")
        return v

    def strings(self, k: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        v = self.get(k, list, list(default))
        if not all(isinstance(x, str) and x for x in v):
            self.fail(k, f"must be {self.allowed[k]}")
        return tuple(v)


def load(path: str | Path) -> Settings:
    """Read and validate a fleet.toml; raises ConfigError naming the file and key."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file; copy fleet.example.toml and edit it") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return parse(raw, str(p), base=p.parent)


def parse(raw: dict[str, Any], file: str = "<config>", base: Path = Path(".")) -> Settings:
    """Validate an already-parsed TOML document."""
    top = _Reader(file, raw, "", {
        "store": "a table", "grouping": "a table", "thresholds": "a table",
        "collection": "a table", "retention": "a table", "targets": "an array of tables [[targets]]",
    })
    store = _Reader(file, top.get("store", dict, {}), "store", {"path": "a file path string"})
    store_path = Path(store.get("path", str, "headroom.db"))
    if not store_path.is_absolute():
        store_path = base / store_path

    g = _Reader(file, top.get("grouping", dict, {}), "grouping", {
        "prefix_depth": "an integer from 1 to 5", "delimiters": "a non-empty string of delimiter characters",
        "prefix_rules": "an array of tables with prefix and group", "tag_keys": "a list of tag key strings",
    })
    depth = g.get("prefix_depth", int, 1)
    if not 1 <= depth <= 5:
        g.fail("prefix_depth", f"must be an integer from 1 to 5, got {depth}")
    delimiters = g.get("delimiters", str, "-_")
    if not delimiters:
        g.fail("delimiters", "must be a non-empty string of delimiter characters, e.g. \"-_\"")
    rules = []
    for i, r in enumerate(g.get("prefix_rules", list, [])):
        if not isinstance(r, dict):
            g.fail(f"prefix_rules[{i}]", "must be a table with prefix and group")
        rr = _Reader(file, r, f"grouping.prefix_rules[{i}]", {"prefix": "a non-empty string", "group": "a non-empty string"})
        prefix, group = rr.get("prefix", str, required=True), rr.get("group", str, required=True)
        if not prefix or not group:
            rr.fail("prefix", "prefix and group must be non-empty strings")
        rules.append(PrefixRule(prefix, group))
    grouping = Grouping(depth, delimiters, tuple(sorted(rules, key=lambda r: -len(r.prefix))), g.strings("tag_keys"))

    th_raw = top.get("thresholds", dict, {})
    th = _Reader(file, th_raw, "thresholds", {k: "a table {warn = N, critical = N}" for k in DEFAULT_THRESHOLDS})
    thresholds = dict(DEFAULT_THRESHOLDS)
    for name, value in th_raw.items():
        t = _Reader(file, th.get(name, dict), f"thresholds.{name}", {"warn": "a number >= 0", "critical": "a number >= 0"})
        d = DEFAULT_THRESHOLDS[name]
        warn, crit = t.number("warn", d.warn, 0), t.number("critical", d.critical, 0)
        if warn > crit:
            t.fail("warn", f"must not exceed critical ({warn} > {crit})")
        thresholds[name] = Threshold(float(warn), float(crit))

    c = _Reader(file, top.get("collection", dict, {}), "collection", {
        "interval_seconds": "an integer >= 60", "backfill_hours": "an integer from 0 to 360 (CloudWatch keeps 1-minute data 15 days)",
        "backfill_days": "an integer from 0 to 455", "overlap_minutes": "an integer from 0 to 180",
        "inventory_refresh_minutes": "an integer >= 1", "max_workers": "an integer from 1 to 32",
        "detail_workers": "an integer from 1 to 16",
        "max_attempts": "an integer from 1 to 20",
    })
    collection = Collection(
        int(c.number("interval_seconds", 60, 60)), int(c.number("backfill_hours", 24, 0, 360)),
        int(c.number("backfill_days", 7, 0, 455)), int(c.number("overlap_minutes", 10, 0, 180)),
        int(c.number("inventory_refresh_minutes", 60, 1)), int(c.number("max_workers", 4, 1, 32)),
        int(c.number("detail_workers", 4, 1, 16)),
        int(c.number("max_attempts", 5, 1, 20)),
    )
    for k in c.table:
        if not isinstance(c.table[k], int):
            c.fail(k, f"must be {c.allowed[k]}, got {c.table[k]!r}")

    r = _Reader(file, top.get("retention", dict, {}), "retention", {
        "raw_days": "a number of days > 0", "five_minute_days": "a number of days > 0", "hourly_days": "a number of days > 0"})
    retention = Retention(r.number("raw_days", 3, 0.05), r.number("five_minute_days", 30, 0.05), r.number("hourly_days", 455, 0.05))
    if not retention.raw_days <= retention.five_minute_days <= retention.hourly_days:
        r.fail("raw_days", "must be <= five_minute_days <= hourly_days")

    targets = []
    raw_targets = top.get("targets", list, required=True)
    if not raw_targets:
        top.fail("targets", "needs at least one [[targets]] table with a name and regions")
    names = set()
    for i, t in enumerate(raw_targets):
        if not isinstance(t, dict):
            top.fail(f"targets[{i}]", "must be a table")
        tr = _Reader(file, t, f"targets[{i}]", {
            "name": "a unique non-empty string", "regions": "a non-empty list of region names like \"us-east-1\"",
            "profile": "an AWS profile name", "role_arn": "an IAM role ARN like arn:aws:iam::123456789012:role/NAME",
            "external_id": "a string (needs role_arn)", "endpoint_url": "an http(s) URL",
        })
        name = tr.get("name", str, required=True)
        if not name or name in names:
            tr.fail("name", f"must be a unique non-empty string, got {name!r}")
        names.add(name)
        regions = tr.strings("regions")
        if not regions:
            tr.fail("regions", "is required: a non-empty list of region names like \"us-east-1\"")
        for reg in regions:
            if not _REGION.match(reg):
                tr.fail("regions", f"{reg!r} is not a region name like \"us-east-1\"")
        role = tr.get("role_arn", str)
        if role is not None and not _ROLE.match(role):
            tr.fail("role_arn", f"must be {tr.allowed['role_arn']}, got {role!r}")
        ext = tr.get("external_id", str)
        if ext is not None and role is None:
            tr.fail("external_id", "needs role_arn in the same target")
        url = tr.get("endpoint_url", str)
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            tr.fail("endpoint_url", f"must be an http(s) URL, got {url!r}")
        targets.append(Target(name, tuple(dict.fromkeys(regions)), tr.get("profile", str), role, ext, url))

    return Settings(Path(file) if file != "<config>" else None, store_path, tuple(targets), grouping,
                    thresholds, collection, retention)
