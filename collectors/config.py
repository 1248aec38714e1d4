"""fleet.toml -> validated settings. Every error names the file, the key and what is allowed.

Each numeric key's default and bounds are stated once, on its dataclass field (`_key`); the reader,
its messages and `dump` all read them from there. The hand-written part is the cross-field rules.
"""
from __future__ import annotations

import errno
import math
import os
import re
import reprlib
import stat
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from . import pg

MAX_BYTES = 1 << 20  # a fleet.toml is a few KB; anything larger is the wrong file


class ConfigError(Exception):
    """A configuration file that cannot be used; the one-line message says where and how to fix it."""

    def __init__(self, message: str):
        # One line, always: a CLI prints it after "error: " and a page in one st.error.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


@dataclass(frozen=True)
class _Rule:
    """A numeric key's bounds, and why when the bound is not obvious."""
    lo: float
    hi: float | None = None
    why: str = ""

    def describe(self, integer: bool) -> str:
        kind = "an integer" if integer else "a number"
        rng = f">= {_num(self.lo)}" if self.hi is None else f"from {_num(self.lo)} to {_num(self.hi)}"
        return f"{kind} {rng}" + (f" ({self.why})" if self.why else "")


def _key(default: Any, lo: float, hi: float | None = None, why: str = "") -> Any:
    """A dataclass field whose default and allowed range are stated here and nowhere else."""
    return field(default=default, metadata={"rule": _Rule(lo, hi, why)})


DISCOVERY_REGION = "organizations"   # the (target, region) key an organization's discovery is recorded under


@dataclass(frozen=True)
class Target:
    name: str
    regions: tuple[str, ...]
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = None
    # organization = true: this table stands for the AWS Organization's ACTIVE accounts, discovered each
    # rediscover_minutes with the table's own credentials (profile / the standard chain), each read by
    # assuming arn:aws:iam::<account>:role/<role_name> (collectors/organization.py)
    organization: bool = False
    role_name: str | None = None
    include_ous: tuple[str, ...] = ()        # only accounts in these OUs (or below them); () = every OU
    exclude_ous: tuple[str, ...] = ()        # never accounts in these OUs (or below them)
    include_tags: tuple[tuple[str, tuple[str, ...]], ...] = ()   # only accounts with every key = one of the values
    exclude_tags: tuple[tuple[str, tuple[str, ...]], ...] = ()   # never accounts with any key = one of the values
    rediscover_minutes: int = 15             # 0: every cycle
    # CloudWatch cross-account observability: linked accounts' metrics are read from the monitoring
    # account (the table's own credentials, or monitoring_role_arn assumed)
    monitoring_account: bool = False
    monitoring_role_arn: str | None = None
    # set by discovery on the targets it makes, never read from fleet.toml
    account_id: str | None = None            # the account this target is known to be (discovered)
    linked_regions: tuple[str, ...] = ()     # regions whose metrics are read through the monitoring account

    @property
    def discovered(self) -> bool:
        return self.account_id is not None


@dataclass(frozen=True)
class PrefixRule:
    prefix: str
    group: str


@dataclass(frozen=True)
class Grouping:
    prefix_depth: int = _key(1, 1, 5)
    delimiters: str = "-_"
    prefix_rules: tuple[PrefixRule, ...] = ()
    tag_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Threshold:
    warn: float
    critical: float


THRESHOLD_RULE = _Rule(0)  # warn and critical; NaN and infinity are refused like everywhere else

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


STRATEGIES = ("activity", "all")


def default_max_age(interval_seconds: int) -> int:
    """Data older than this is stale: three missed cycles."""
    return 3 * interval_seconds


def default_deadline(interval_seconds: int) -> int:
    """A cycle's deadline: max(interval - 10 s, 80 % of interval), whole seconds."""
    return max(interval_seconds - 10, interval_seconds * 8 // 10)


@dataclass(frozen=True)
class Collection:
    interval_seconds: int = _key(60, 60, 86400)
    backfill_hours: int = _key(24, 0, 360, "CloudWatch keeps 1-minute data 15 days")  # first cycle, 1 minute
    backfill_days: int = _key(7, 0, 455, "CloudWatch keeps hourly data 455 days")  # first cycle, further back
    overlap_minutes: int = _key(10, 0, 180)            # re-read each cycle for late datapoints
    inventory_refresh_minutes: int = _key(60, 1, 10080)  # per-function detail calls for unchanged functions
    max_workers: int = _key(4, 1, 32)                  # (target, region) pairs collected at once
    detail_workers: int = _key(4, 1, 16)               # per-function Lambda calls in flight per (target, region)
    max_attempts: int = _key(5, 1, 20)                 # botocore standard retry mode
    # 0 means "derive from interval_seconds" (default_max_age, default_deadline); never 0 after construction.
    max_age_seconds: int = _key(0, 61, 604800, "more than interval_seconds; default 3 x interval_seconds")
    deadline_seconds: int = _key(0, 10, 86400, "at most interval_seconds; default interval_seconds - 10")
    # per-function series (and DLQ metrics) are read this often, still at 1-minute resolution; the
    # account's own series every interval_seconds. 0: the larger of 300 and interval_seconds.
    function_interval_seconds: int = _key(0, 60, 86400, "at least interval_seconds; default 300")
    # "activity": ask only series ListMetrics shows recently active (idle ones are known zeros);
    # "all": every function's every metric every cycle (the old way, for comparison)
    metrics_strategy: str = "activity"

    def __post_init__(self) -> None:
        if not self.max_age_seconds:
            object.__setattr__(self, "max_age_seconds", default_max_age(self.interval_seconds))
        if not self.deadline_seconds:
            object.__setattr__(self, "deadline_seconds", default_deadline(self.interval_seconds))
        if not self.function_interval_seconds:
            object.__setattr__(self, "function_interval_seconds", max(300, self.interval_seconds))

    @property
    def function_max_age_seconds(self) -> int:
        """How old per-function (and DLQ metric) data may be: read every function_interval_seconds
        under the activity strategy, it lags that much more than the account's own series."""
        return self.max_age_seconds + (self.function_interval_seconds if self.metrics_strategy == "activity" else 0)


@dataclass(frozen=True)
class Retention:
    raw_days: float = _key(3.0, 0.05, 36500)          # 1-minute points, then rolled up to 5 minutes
    five_minute_days: float = _key(30.0, 0.05, 36500)  # then rolled up to 1 hour
    hourly_days: float = _key(455.0, 0.05, 36500)


SEVERITIES = ("warn", "critical")   # an alert destination's min_severity; unknown is delivered as critical


@dataclass(frozen=True)
class Alert:
    """One notification destination ([[alerts]]): an Apprise URL and which findings it wants."""
    url: str                                # secret: print it only through alerts.mask()
    min_severity: str = "critical"          # warn | critical (unknown counts as critical)
    groups: tuple[str, ...] = ()            # only findings about these groups (any grouping kind)
    targets: tuple[str, ...] = ()           # only these [[targets]] names


@dataclass(frozen=True)
class Alerting:
    """[alerting]: how findings become messages (every [[alerts]] destination)."""
    window_seconds: int = 3600              # findings over the last hour: a throttle alert resolves an hour after it stops
    repeat_hours: float = _key(4.0, 0, 720, "0: no reminders")
    max_per_cycle: int = _key(20, 1, 1000)  # per destination and cycle; beyond, one digest
    dashboard_url: str | None = None        # links in messages, e.g. "https://headroom.example.com"


@dataclass(frozen=True)
class Prometheus:
    """[prometheus]: what `collect --metrics-port` serves."""
    window_seconds: int = 86400             # the review window of the headroom_* gauges (as `check --window`)
    address: str = "127.0.0.1"              # where /metrics listens; "0.0.0.0" for a Prometheus on another host


@dataclass(frozen=True)
class Dashboard:
    """[dashboard]: who may see the shared dashboard."""
    allowed_emails: tuple[str, ...] = ()    # with sign-in: only these users (case-insensitive)
    allowed_domains: tuple[str, ...] = ()   # with sign-in: users whose email is in these domains
    allow_anonymous: bool = False           # serve beyond loopback without sign-in (behind an authenticating proxy)


@dataclass(frozen=True)
class Settings:
    path: Path | None
    store_path: Path
    targets: tuple[Target, ...]
    grouping: Grouping = Grouping()
    thresholds: dict[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    collection: Collection = Collection()
    retention: Retention = Retention()
    alerts: tuple[Alert, ...] = ()
    alerting: Alerting = Alerting()
    prometheus: Prometheus = Prometheus()
    dashboard: Dashboard = Dashboard()
    store_url: str | None = None   # [store] url: a PostgreSQL store shared by several collectors

    @property
    def store(self) -> str | Path:
        """Where the store is: the PostgreSQL URL when [store] url is set, else the SQLite file."""
        return self.store_url or self.store_path

    @property
    def store_label(self) -> str:
        """Where the store is, for messages (a URL without its password)."""
        return pg.redact(self.store_url) if self.store_url else str(self.store_path)

    def expected(self) -> list[tuple[str, str]]:
        """The (target, region)s a review must list even before they are collected: each plain target's
        regions, and each organization's discovery record (its accounts are listed once discovered)."""
        return [(t.name, r) for t in self.targets
                for r in ((DISCOVERY_REGION,) if t.organization else t.regions)]


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]+(/[\w+=,.@-]+)*$")
_OU = re.compile(r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
ORG_KEYS = ("role_name", "include_ous", "exclude_ous", "include_tags", "exclude_tags", "rediscover_minutes",
            "monitoring_account", "monitoring_role_arn")
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 60
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict = 2, 4, 4


DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int | None:
    """'90m', '24h', '7d', '2w' -> seconds; None when it is not such a duration (or is zero)."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*([mhdw])\s*", text)
    if not m or int(m.group(1)) == 0:
        return None
    return int(m.group(1)) * DURATION_UNITS[m.group(2)]


def format_duration(seconds: int) -> str:
    """The inverse of parse_duration, in the largest whole unit: 3600 -> '1h'."""
    for unit, size in sorted(DURATION_UNITS.items(), key=lambda u: -u[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def _show(v: Any) -> str:
    """A value for a one-line message: short, and safe for integers too long for repr()."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an integer of about {int(v.bit_length() * 0.30103)} digits"
    return f"{type(v).__name__} {_SHOW.repr(v)}"


class _Reader:
    """Walks one TOML table, checking keys and types; errors carry file and dotted key."""

    def __init__(self, file: str, table: dict[str, Any], where: str, allowed: dict[str, str]):
        self.file, self.table, self.where, self.allowed = file, table, where, allowed
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            self.fail(unknown[0], f"unknown key; allowed here: {', '.join(sorted(allowed))}")

    def key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, msg: str) -> NoReturn:
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
            self.fail(k, f"must be {self.allowed[k]}, got {_show(v)}")
        return v

    def number(self, k: str, rule: _Rule, integer: bool) -> int | float:
        """The value of k, checked against its rule; NaN, infinity and floats for integers are refused."""
        v, want = self.table[k], rule.describe(integer)
        if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
            self.fail(k, f"must be {want}, got {_show(v)}")
        if isinstance(v, float) and not math.isfinite(v):
            self.fail(k, f"must be {want}, got {v!r} (NaN and infinity cannot be compared with anything)")
        if v < rule.lo or (rule.hi is not None and v > rule.hi):
            self.fail(k, f"must be {want}, got {_show(v)}")
        if integer:
            return v
        try:
            return float(v)
        except OverflowError:
            self.fail(k, f"must be {want}, got {_show(v)} (too large for a number)")

    def strings(self, k: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        v = self.get(k, list, list(default))
        if not all(isinstance(x, str) and x for x in v):
            self.fail(k, f"must be {self.allowed[k]}")
        return tuple(v)


def _rules(cls: type) -> dict[str, tuple[_Rule, bool]]:
    """cls's numeric fields: name -> (rule, is an integer)."""
    return {f.name: (f.metadata["rule"], f.type in ("int", int)) for f in fields(cls) if "rule" in f.metadata}


def _numbers(file: str, table: dict[str, Any], where: str, cls: type) -> tuple[_Reader, dict[str, Any]]:
    """A table of cls's numeric fields, each checked against the rule on its field."""
    rules = _rules(cls)
    r = _Reader(file, table, where, {k: rule.describe(integer) for k, (rule, integer) in rules.items()})
    return r, {k: r.number(k, *rules[k]) for k in table}


def load(path: str | Path) -> Settings:
    """Read and validate a fleet.toml; raises ConfigError (one line: file, key, fix) for any bad input."""
    p = Path(path)
    return parse(_toml(p, _text(p)), str(p), base=p.parent)


def _text(p: Path) -> str:
    """The file's text; every way a path can fail to be a readable UTF-8 file becomes a ConfigError."""
    try:
        st = p.stat()  # follows symlinks: a loop raises ELOOP here
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"{p}: is a directory; give the path of the fleet.toml file, e.g. {p / 'fleet.toml'}")
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{p}: is not a regular file; give the path of a fleet.toml file")
        if st.st_size > MAX_BYTES:
            raise ConfigError(f"{p}: is {st.st_size:,} bytes, too large for a fleet.toml (at most 1 MiB); "
                              "is this the right file?")
        data = p.read_bytes()
    except FileNotFoundError:
        if p.is_symlink():
            raise ConfigError(f"{p}: is a symbolic link to a missing file ({os.readlink(p)}); "
                              "fix the link or give the real file's path") from None
        raise ConfigError(f"{p}: no such file; copy fleet.example.toml and edit it") from None
    except PermissionError:
        raise ConfigError(f"{p}: cannot be read (permission denied); make it readable by the user running "
                          "headroom, e.g. chmod 644") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"{p}: is a symbolic link loop; give the real fleet.toml's path") from None
        raise ConfigError(f"{p}: cannot be read ({e.strerror or e}); check the path") from None
    except ValueError:  # an embedded NUL byte in the path
        raise ConfigError(f"{p!r}: is not a usable file path; give the path of a fleet.toml file") from None
    if b"\0" in data:
        raise ConfigError(f"{p}: is a binary file (it has NUL bytes), not TOML text; is this the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - data.rfind(b"\n", 0, e.start)
        raise ConfigError(f"{p}: is not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}, column {col}); "
                          "save it as UTF-8") from None
    return text.removeprefix("\ufeff")  # editors that write a BOM still write TOML


def _toml(p: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        what = str(e).split(" (at ")[0]
        if not m:
            raise ConfigError(f"{p}: not valid TOML: {e}; compare with fleet.example.toml") from None
        line, col = int(m.group(1)), int(m.group(2))
        raise ConfigError(f"{p}:{_where(text, line)} not valid TOML at line {line}, column {col}: {what}; "
                          "strings need quotes, tables [brackets] (compare with fleet.example.toml)") from None
    except RecursionError:
        raise ConfigError(f"{p}: arrays or inline tables are nested too deeply to read; headroom's keys need "
                          "at most two levels (compare with fleet.example.toml)") from None
    except ValueError:  # tomllib's int() refuses integers of more than 4300 digits
        m = re.search(r"\d{4300}", text)
        line = text.count("\n", 0, m.start()) + 1 if m else 0
        raise ConfigError(f"{p}:{_where(text, line)} a number at line {line} has thousands of digits; "
                          "write a number headroom allows (see fleet.example.toml)") from None


def _where(text: str, line: int) -> str:
    """' [table.key]' for a line of a TOML text, as well as a broken document lets us tell; '' if unknown."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    table = ""
    seen: dict[str, int] = {}
    for ln in lines[:line - 1]:
        h = re.match(r"\s*(\[\[?)\s*([\w.-]+)\s*\]\]?\s*(#.*)?$", ln)
        if h:
            name = h.group(2)
            if h.group(1) == "[[":
                seen[name] = seen.get(name, 0) + 1
                name = f"{name}[{seen[name] - 1}]"
            table = name
    k = re.match(r"\s*([\w.-]+)\s*=", lines[line - 1])
    key = ".".join(x for x in (table, k.group(1) if k else "") if x)
    return f" [{key}]" if key else ""


def parse(raw: dict[str, Any], file: str = "<config>", base: Path = Path(".")) -> Settings:
    """Validate an already-parsed TOML document."""
    top = _Reader(file, raw, "", {
        "store": "a table", "grouping": "a table", "thresholds": "a table",
        "collection": "a table", "retention": "a table", "targets": "an array of tables [[targets]]",
        "alerts": "an array of tables [[alerts]] with url, min_severity, groups, targets",
        "alerting": "a table", "prometheus": "a table", "dashboard": "a table",
    })
    store = _Reader(file, top.get("store", dict, {}), "store", {
        "path": "a file path string (the embedded SQLite store)",
        "url": "a PostgreSQL URL like \"postgresql://headroom@db.internal/headroom\" (a shared store)"})
    store_url = store.get("url", str)
    if store_url is not None:
        if store.get("path", str) is not None:
            store.fail("url", "set either path (SQLite) or url (PostgreSQL), not both")
        if not re.match(r"^postgres(ql)?://[^\s]*$", store_url):
            store.fail("url", f"must be a PostgreSQL URL like \"postgresql://headroom@db.internal/headroom\", got "
                              f"{pg.redact(store_url)!r}")
    path_text = store.get("path", str, "headroom.db")
    if not path_text or "\0" in path_text:
        store.fail("path", f"must be a file path like \"headroom.db\", got {path_text!r}")
    store_path = Path(path_text)
    if not store_path.is_absolute():
        store_path = base / store_path
    if store_url is None:
        _check_store_path(store, store_path)

    depth_rule = _rules(Grouping)["prefix_depth"]
    g = _Reader(file, top.get("grouping", dict, {}), "grouping", {
        "prefix_depth": depth_rule[0].describe(depth_rule[1]),
        "delimiters": "a non-empty string of delimiter characters",
        "prefix_rules": "an array of tables with prefix and group", "tag_keys": "a list of tag key strings",
    })
    depth = {"prefix_depth": g.number("prefix_depth", *depth_rule)} if "prefix_depth" in g.table else {}
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
    grouping = Grouping(delimiters=delimiters, prefix_rules=tuple(sorted(rules, key=lambda r: -len(r.prefix))),
                        tag_keys=g.strings("tag_keys"), **depth)  # type: ignore[arg-type]  # prefix_depth: an int

    th_raw = top.get("thresholds", dict, {})
    th = _Reader(file, th_raw, "thresholds", {k: "a table {warn = N, critical = N}" for k in DEFAULT_THRESHOLDS})
    thresholds = dict(DEFAULT_THRESHOLDS)
    for name in th_raw:
        want = THRESHOLD_RULE.describe(False)
        t = _Reader(file, th.get(name, dict), f"thresholds.{name}", {"warn": want, "critical": want})
        d = DEFAULT_THRESHOLDS[name]
        warn = t.number("warn", THRESHOLD_RULE, False) if "warn" in t.table else float(d.warn)
        crit = t.number("critical", THRESHOLD_RULE, False) if "critical" in t.table else float(d.critical)
        if warn > crit:
            t.fail("warn", f"must not exceed critical ({_num(warn)} > {_num(crit)}); lower warn or raise critical")
        thresholds[name] = Threshold(float(warn), float(crit))

    coll_raw = dict(top.get("collection", dict, {}))
    strategy = coll_raw.pop("metrics_strategy", "activity")
    c, values = _numbers(file, coll_raw, "collection", Collection)
    if strategy not in STRATEGIES:
        c.fail("metrics_strategy", f"must be one of {', '.join(repr(x) for x in STRATEGIES)}, got {strategy!r}")
    collection = Collection(**values, metrics_strategy=strategy)
    if collection.function_interval_seconds < collection.interval_seconds:
        c.fail("function_interval_seconds", f"must be at least interval_seconds ({collection.interval_seconds}), "
                                            f"got {collection.function_interval_seconds}; leave it out for 300")
    if collection.max_age_seconds <= collection.interval_seconds:
        c.fail("max_age_seconds", f"must be more than interval_seconds ({collection.interval_seconds}), got "
                                  f"{collection.max_age_seconds}; leave it out for 3 x interval_seconds")
    if collection.deadline_seconds > collection.interval_seconds:
        c.fail("deadline_seconds", f"must be at most interval_seconds ({collection.interval_seconds}), got "
                                   f"{collection.deadline_seconds}; leave it out for interval_seconds - 10")

    r, values = _numbers(file, top.get("retention", dict, {}), "retention", Retention)
    retention = Retention(**values)
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
            "external_id": "a string (needs role_arn, or organization = true)", "endpoint_url": "an http(s) URL",
            "organization": "true or false (true: every ACTIVE account of the AWS Organization)",
            "role_name": "the IAM role name to assume in each account, e.g. \"headroom-read\"",
            "include_ous": "a list of OU or root ids like \"ou-ab12-cdef3456\" or \"r-ab12\"",
            "exclude_ous": "a list of OU or root ids like \"ou-ab12-cdef3456\"",
            "include_tags": "a table of account tags, e.g. { env = \"prod\" } or { env = [\"prod\", \"staging\"] }",
            "exclude_tags": "a table of account tags, e.g. { headroom = \"off\" }",
            "rediscover_minutes": "an integer from 0 to 1440 (0: every cycle)",
            "monitoring_account": "true or false (true: read linked accounts' metrics through the CloudWatch "
                                  "monitoring account)",
            "monitoring_role_arn": "an IAM role ARN in the monitoring account (needs monitoring_account = true)",
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
        org = tr.get("organization", bool, False)
        role = tr.get("role_arn", str)
        if role is not None and not _ROLE.match(role):
            tr.fail("role_arn", f"must be {tr.allowed['role_arn']}, got {role!r}")
        ext = tr.get("external_id", str)
        if ext is not None and role is None and not org:
            tr.fail("external_id", "needs role_arn in the same target (or organization = true, where it goes with "
                                   "role_name)")
        url = tr.get("endpoint_url", str)
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            tr.fail("endpoint_url", f"must be an http(s) URL, got {url!r}")
        extra = _organization(tr, org, role) if org else {}
        if not org:
            stray = [k for k in ORG_KEYS if k in tr.table]
            if stray:
                tr.fail(stray[0], "applies only to an organization target: add organization = true (with role_name) "
                                  "or remove it")
        targets.append(Target(name, tuple(dict.fromkeys(regions)), tr.get("profile", str), role, ext, url, **extra))
    orgs = [tg.name for tg in targets if tg.organization]
    for i, tg in enumerate(targets):
        head = tg.name.split("/", 1)[0]
        if not tg.organization and "/" in tg.name and head in orgs:
            top.fail(f"targets[{i}].name", f"{tg.name!r} looks like an account of organization target {head!r} "
                                            f"(its accounts are named {head}/ACCOUNT_ID); choose another name")

    alerts, alerting = _alerts(file, top, names)
    return Settings(Path(file) if file != "<config>" else None, store_path, tuple(targets), grouping,
                    thresholds, collection, retention, alerts=alerts, alerting=alerting,
                    prometheus=_prometheus(file, top), dashboard=_dashboard(file, top), store_url=store_url)


def _organization(tr: _Reader, org: bool, role: str | None) -> dict[str, Any]:
    """The organization keys of a [[targets]] table with organization = true, cross-checked."""
    if role is not None:
        tr.fail("role_arn", "cannot be combined with organization = true: each account's role is "
                            "arn:aws:iam::ACCOUNT:role/<role_name>; set role_name instead and remove role_arn "
                            "(the organization is read with the target's profile or the standard credentials)")
    role_name = tr.get("role_name", str)
    if role_name is None:
        tr.fail("role_name", "is required with organization = true: the IAM role to assume in each account, e.g. "
                             "role_name = \"headroom-read\" (python -m collectors iam-policy prints its policy)")
    if not _ROLE_NAME.match(role_name) or len(role_name) > 64:
        tr.fail("role_name", f"must be an IAM role name like \"headroom-read\" (not an ARN), got {role_name!r}")
    ous = {}
    for k in ("include_ous", "exclude_ous"):
        ous[k] = tr.strings(k)
        for ou in ous[k]:
            if not _OU.match(ou):
                tr.fail(k, f"{ou!r} is not an OU id like \"ou-ab12-cdef3456\" or a root id like \"r-ab12\" "
                           "(aws organizations list-organizational-units-for-parent shows them)")
    both = set(ous["include_ous"]) & set(ous["exclude_ous"])
    if both:
        tr.fail("exclude_ous", f"{sorted(both)[0]!r} is in both include_ous and exclude_ous; keep it in one")
    tags = {k: _tag_filter(tr, k) for k in ("include_tags", "exclude_tags")}
    rediscover = tr.number("rediscover_minutes", _Rule(0, 1440), True) if "rediscover_minutes" in tr.table else 15
    monitoring = tr.get("monitoring_account", bool, False)
    mon_role = tr.get("monitoring_role_arn", str)
    if mon_role is not None:
        if not _ROLE.match(mon_role):
            tr.fail("monitoring_role_arn", f"must be an IAM role ARN like arn:aws:iam::123456789012:role/NAME, "
                                           f"got {mon_role!r}")
        if not monitoring:
            tr.fail("monitoring_role_arn", "needs monitoring_account = true in the same target")
    return {"organization": True, "role_name": role_name, **ous, **tags, "rediscover_minutes": int(rediscover),
            "monitoring_account": monitoring, "monitoring_role_arn": mon_role}


def _tag_filter(tr: _Reader, k: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """{ key = "value" } or { key = ["v1", "v2"] } -> ((key, (values...)), ...), sorted by key."""
    table = tr.get(k, dict, {})
    out = []
    for key, v in table.items():
        values = [v] if isinstance(v, str) else v
        if not key or not isinstance(values, list) or not values or not all(isinstance(x, str) for x in values):
            tr.fail(k, f"must be {tr.allowed[k]}; {key!r} has {_show(v)}")
        out.append((key, tuple(dict.fromkeys(values))))
    return tuple(sorted(out))


def _window(r: _Reader, k: str, default: int) -> int:
    text = r.get(k, str, None)
    if text is None:
        return default
    seconds = parse_duration(text)
    if seconds is None:
        r.fail(k, f"must be {r.allowed[k]}, got {text!r}")
    return seconds


_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.I)


def _alerts(file: str, top: _Reader, target_names: set[str]) -> tuple[tuple[Alert, ...], Alerting]:
    """[[alerts]] destinations and the [alerting] table; a URL is never repeated in a message (secret)."""
    rules = _rules(Alerting)
    a_raw = dict(top.get("alerting", dict, {}))
    a = _Reader(file, a_raw, "alerting", {
        **{k: rule.describe(integer) for k, (rule, integer) in rules.items()},
        "window": "a duration like \"1h\", \"30m\" or \"1d\" (findings over the last window)",
        "dashboard_url": "the dashboard's http(s) URL, e.g. \"https://headroom.example.com\"",
    })
    url = a.get("dashboard_url", str)
    if url is not None and not re.match(r"^https?://[^\s/]+\S*$", url):
        a.fail("dashboard_url", f"must be {a.allowed['dashboard_url']}, got {url!r}")
    values = {k: a.number(k, *rules[k]) for k in a_raw if k in rules}
    alerting = Alerting(window_seconds=_window(a, "window", Alerting.window_seconds),
                        dashboard_url=url.rstrip("/") if url else None, **values)  # type: ignore[arg-type]
    out = []
    for i, t in enumerate(top.get("alerts", list, [])):
        if not isinstance(t, dict):
            top.fail(f"alerts[{i}]", "must be a table with url and optional min_severity, groups, targets")
        r = _Reader(file, t, f"alerts[{i}]", {
            "url": "an Apprise URL such as \"slack://T000/B000/XXXX\" or \"json://host:port/path\"",
            "min_severity": "\"warn\" or \"critical\"", "groups": "a list of group names",
            "targets": "a list of [[targets]] names",
        })
        dest = r.get("url", str, required=True)
        if not _URL_SCHEME.match(dest):
            # the value is a secret: say what is wrong without repeating it
            r.fail("url", f"must be {r.allowed['url']} (scheme://...), got a string of {len(dest)} characters")
        sev = r.get("min_severity", str, "critical")
        if sev not in SEVERITIES:
            r.fail("min_severity", f"must be \"warn\" or \"critical\", got {sev!r}")
        targets = r.strings("targets")
        for name in targets:
            if name not in target_names:
                r.fail("targets", f"{name!r} is not the name of a [[targets]] table ({', '.join(sorted(target_names))})")
        out.append(Alert(dest, sev, r.strings("groups"), targets))
    return tuple(out), alerting


def _prometheus(file: str, top: _Reader) -> Prometheus:
    r = _Reader(file, top.get("prometheus", dict, {}), "prometheus", {
        "window": "a duration like \"24h\" or \"7d\" (the review window of the gauges)",
        "address": "an address to listen on, e.g. \"127.0.0.1\" or \"0.0.0.0\"",
    })
    address = r.get("address", str, Prometheus.address)
    if not address or any(ch.isspace() for ch in address):
        r.fail("address", f"must be {r.allowed['address']}, got {address!r}")
    return Prometheus(window_seconds=_window(r, "window", Prometheus.window_seconds), address=address)


def _dashboard(file: str, top: _Reader) -> Dashboard:
    r = _Reader(file, top.get("dashboard", dict, {}), "dashboard", {
        "allowed_emails": "a list of email addresses", "allowed_domains": "a list of email domains like \"example.com\"",
        "allow_anonymous": "true or false (true: serve beyond loopback without sign-in, e.g. behind an "
                           "authenticating proxy)",
    })
    emails = r.strings("allowed_emails")
    for e in emails:
        if "@" not in e.strip("@"):
            r.fail("allowed_emails", f"{e!r} is not an email address")
    domains = tuple(d.lower().lstrip("@") for d in r.strings("allowed_domains"))
    for d in domains:
        if "@" in d or "." not in d:
            r.fail("allowed_domains", f"{d!r} is not a domain like \"example.com\"")
    return Dashboard(tuple(e.lower() for e in emails), domains, r.get("allow_anonymous", bool, False))


def _check_store_path(r: _Reader, path: Path) -> None:
    """Refuse a store path that can never be created, now rather than at the first cycle."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            r.fail("path", f"{path} is a directory; name a file in it, e.g. {path / 'headroom.db'}")
        return
    except (FileNotFoundError, NotADirectoryError):
        pass  # the parents say why
    except OSError as e:
        r.fail("path", f"{path} cannot be used ({e.strerror}); choose another path")
    for parent in path.parents:
        try:
            mode = os.stat(parent).st_mode
        except FileNotFoundError:
            continue  # created with the store
        except OSError as e:
            r.fail("path", f"{path} cannot be created: {parent}: {e.strerror}; choose another path")
        if not stat.S_ISDIR(mode):
            r.fail("path", f"{path} cannot be created: {parent} is a file, not a directory; choose a path "
                           "in a directory")
        return


def _toml_str(s: str) -> str:
    esc = {'"': '\\"', "\\": "\\\\"}
    return '"' + "".join(esc.get(ch) or (ch if " " <= ch != "\x7f" else f"\\u{ord(ch):04x}") for ch in s) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)  # int or finite float: Python's repr is valid TOML for both


_DISCOVERED = ("account_id", "linked_regions")   # set by discovery, never written to fleet.toml


def _target_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple) and v and isinstance(v[0], tuple):   # a tag filter
        return "{ " + ", ".join(f"{_toml_str(k)} = {_toml_value(vals)}" for k, vals in v) + " }"
    return _toml_value(v)


def dump(s: Settings) -> str:
    """Settings -> fleet.toml text that load() reads back equal (the store path written as resolved)."""
    out = ["[store]", f"url = {_toml_str(s.store_url)}" if s.store_url else f"path = {_toml_str(str(s.store_path))}",
           "", "[grouping]"]
    g = s.grouping
    out += [f"prefix_depth = {g.prefix_depth}", f"delimiters = {_toml_str(g.delimiters)}",
            f"tag_keys = {_toml_value(g.tag_keys)}"]
    for rule in g.prefix_rules:
        out += ["", "[[grouping.prefix_rules]]", f"prefix = {_toml_str(rule.prefix)}",
                f"group = {_toml_str(rule.group)}"]
    for name, obj in (("collection", s.collection), ("retention", s.retention)):
        out += ["", f"[{name}]"] + [f"{f.name} = {_toml_value(getattr(obj, f.name))}" for f in fields(obj)]
    out += ["", "[thresholds]"] + [f"{k} = {{ warn = {t.warn!r}, critical = {t.critical!r} }}"
                                   for k, t in s.thresholds.items()]
    for t in s.targets:
        out += ["", "[[targets]]"] + [f"{f.name} = {_target_value(getattr(t, f.name))}" for f in fields(t)
                                      if getattr(t, f.name) != f.default and f.name not in _DISCOVERED]
    al = s.alerting
    out += ["", "[alerting]", f"window = {_toml_str(format_duration(al.window_seconds))}",
            f"repeat_hours = {al.repeat_hours!r}", f"max_per_cycle = {al.max_per_cycle}"]
    if al.dashboard_url:
        out.append(f"dashboard_url = {_toml_str(al.dashboard_url)}")
    for a in s.alerts:
        out += ["", "[[alerts]]"] + [f"{f.name} = {_toml_value(getattr(a, f.name))}" for f in fields(a)]
    p, d = s.prometheus, s.dashboard
    out += ["", "[prometheus]", f"window = {_toml_str(format_duration(p.window_seconds))}",
            f"address = {_toml_str(p.address)}"]
    out += ["", "[dashboard]", f"allowed_emails = {_toml_value(d.allowed_emails)}",
            f"allowed_domains = {_toml_value(d.allowed_domains)}",
            f"allow_anonymous = {'true' if d.allow_anonymous else 'false'}"]
    return "\n".join(out) + "\n"
