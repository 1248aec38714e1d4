"""Generated configs, valid and broken: load() returns Settings or raises ConfigError, nothing else;
valid ones load as written and round-trip through dump(); the CLI exits 0 or 3 without a traceback."""
import dataclasses
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from collectors import config
from collectors.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
# Reproducible in CI (same examples every run, no .hypothesis database); no per-example deadline on
# 2 shared cores.
FAST = settings(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

THRESHOLD_NAMES = sorted(config.DEFAULT_THRESHOLDS)
# Ranges written here, independently of config.py: a bound changed there by mistake fails here.
COLLECTION = {"backfill_hours": (0, 360), "backfill_days": (0, 455), "overlap_minutes": (0, 180),
              "inventory_refresh_minutes": (1, 10080), "max_workers": (1, 32), "detail_workers": (1, 16),
              "max_attempts": (1, 20)}
NUMERIC_KEYS = ([("collection", k) for k in [*COLLECTION, "interval_seconds", "max_age_seconds", "deadline_seconds"]]
                + [("retention", k) for k in ("raw_days", "five_minute_days", "hourly_days")]
                + [("grouping", "prefix_depth")]
                + [("thresholds", f"{n}.{wc}") for n in THRESHOLD_NAMES for wc in ("warn", "critical")])

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10)
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(-2**64, 2**64), st.sampled_from([0, -1, 59, 60, 86400, 86401, 2**63 - 1, -2**63, 10**40]),
    st.booleans(), ANY_TEXT)
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=2),
                    max_leaves=6)


def toml_str(s: str) -> str:
    esc = {'"': '\\"', "\\": "\\\\"}
    return '"' + "".join(esc.get(c) or (c if " " <= c != "\x7f" else f"\\u{ord(c):04x}") for c in s) + '"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else "inf" if v == math.inf else "-inf" if v == -math.inf else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{toml_str(k)} = {toml_value(x)}" for k, x in v.items()) + " }"


def toml_doc(doc: dict[str, Any]) -> str:
    """A document as TOML: plain keys first, then [tables], then [[targets]]."""
    plain = [f"{toml_str(k)} = {toml_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and not (k == "targets" and _tables(v))]
    tables = [f"[{toml_str(k)}]\n" + "".join(f"{toml_str(kk)} = {toml_value(vv)}\n" for kk, vv in v.items())
              for k, v in doc.items() if isinstance(v, dict)]
    targets = ["[[targets]]\n" + "".join(f"{toml_str(k)} = {toml_value(v)}\n" for k, v in t.items())
               for t in doc.get("targets", []) if _tables(doc["targets"])]
    return "\n".join(plain + tables + targets) + "\n"


def _tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(t, dict) for t in v)


@st.composite
def valid_docs(draw) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["store"] = {"path": draw(st.sampled_from(["headroom.db", "data/headroom.db", "h.sqlite"]))}
    if draw(st.booleans()):
        g = {"prefix_depth": draw(st.integers(1, 5)), "delimiters": draw(st.sampled_from(["-_", "-", "._"])),
             "tag_keys": draw(st.lists(st.sampled_from(["team", "service", "env"]), unique=True, max_size=3)),
             "prefix_rules": draw(st.lists(st.fixed_dictionaries({"prefix": NAMES, "group": NAMES}), max_size=3))}
        doc["grouping"] = {k: v for k, v in g.items() if draw(st.booleans())}
    coll: dict[str, Any] = {k: draw(st.integers(lo, hi)) for k, (lo, hi) in COLLECTION.items() if draw(st.booleans())}
    if draw(st.booleans()):
        interval = coll["interval_seconds"] = draw(st.integers(60, 86400))
        if draw(st.booleans()):
            coll["max_age_seconds"] = draw(st.integers(interval + 1, 604800))
        if draw(st.booleans()):
            coll["deadline_seconds"] = draw(st.integers(10, interval))
    if coll:
        doc["collection"] = coll
    if draw(st.booleans()):
        days = sorted(draw(st.lists(st.floats(0.05, 36500) | st.integers(1, 36500), min_size=3, max_size=3)))
        doc["retention"] = dict(zip(("raw_days", "five_minute_days", "hourly_days"), days))
    th = {}
    for name in draw(st.lists(st.sampled_from(THRESHOLD_NAMES), unique=True, max_size=4)):
        warn, crit = sorted(draw(st.lists(st.floats(0, 1e12) | st.integers(0, 10**6), min_size=2, max_size=2)))
        th[name] = {"warn": warn, "critical": crit}
    if th:
        doc["thresholds"] = th
    targets = []
    for name in draw(st.lists(NAMES, unique=True, min_size=1, max_size=3)):
        t: dict[str, Any] = {"name": name, "regions": draw(st.lists(
            st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]), min_size=1, max_size=3))}
        if draw(st.booleans()):
            t["role_arn"] = f"arn:aws:iam::{draw(st.integers(10**11, 10**12 - 1))}:role/{name}"
            if draw(st.booleans()):
                t["external_id"] = draw(ANY_TEXT)
        if draw(st.booleans()):
            t["profile"] = draw(ANY_TEXT)
        if draw(st.booleans()):
            t["endpoint_url"] = draw(st.sampled_from(["http://127.0.0.1:4566", "https://lambda.example.com/x"]))
        targets.append(t)
    doc["targets"] = targets
    return doc


@st.composite
def broken_docs(draw) -> dict[str, Any]:
    """A valid document with one to three keys replaced by junk, unknown keys added, or keys removed."""
    doc = draw(valid_docs())
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["numeric", "section", "unknown", "target", "drop"]))
        if kind == "numeric":
            section, key = draw(st.sampled_from(NUMERIC_KEYS))
            table = doc.setdefault(section, {}) if isinstance(doc.get(section, {}), dict) else {}
            *outer, last = key.split(".")
            for k in outer:
                table = table.setdefault(k, {}) if isinstance(table.get(k, {}), dict) else {}
            table[last] = draw(JUNK)
        elif kind == "section":
            doc[draw(st.sampled_from(["store", "grouping", "collection", "retention", "thresholds", "targets"]))] = \
                draw(JUNK)
        elif kind == "unknown":
            doc[draw(NAMES)] = draw(JUNK)
        elif kind == "target" and _tables(doc.get("targets")):
            doc["targets"][0][draw(st.sampled_from(["name", "regions", "role_arn", "external_id", "endpoint_url",
                                                     "profile", "secret"]))] = draw(JUNK)
        elif doc:
            del doc[draw(st.sampled_from(sorted(doc)))]
    return doc


@st.composite
def broken_bytes(draw) -> bytes:
    """Random bytes, or a valid document's text cut short or with bytes spliced in."""
    text = toml_doc(draw(valid_docs())).encode()
    cut = draw(st.integers(0, len(text)))
    return draw(st.one_of(
        st.binary(max_size=300),
        st.just(text[:cut]),
        st.binary(min_size=1, max_size=4).map(lambda b: text[:cut] + b + text[cut:]),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    ))


ANY_CONFIG = st.one_of(valid_docs().map(toml_doc), broken_docs().map(toml_doc), broken_bytes())


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property") / "fleet.toml"


def load_or_error(path: Path, content: str | bytes) -> Settings | ConfigError:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    try:
        return config.load(path)
    except ConfigError as e:
        return e


def assert_round_trips(path: Path, s: Settings) -> None:
    again = path.with_name("again.toml")
    again.write_text(config.dump(s), encoding="utf-8")
    assert dataclasses.replace(config.load(again), path=s.path) == s


@FAST
@given(doc=valid_docs())
def test_valid_configs_load_as_written_and_round_trip(cfg, doc):
    s = load_or_error(cfg, toml_doc(doc))
    assert isinstance(s, Settings), s
    coll = doc.get("collection", {})
    interval = coll.get("interval_seconds", 60)
    c = s.collection
    assert c.interval_seconds == interval
    assert c.max_age_seconds == coll.get("max_age_seconds", 3 * interval)
    assert c.deadline_seconds == coll.get("deadline_seconds", interval - 10)  # >= 80 % of any interval >= 60
    assert all(getattr(c, k) == v for k, v in coll.items())
    for name, t in doc.get("thresholds", {}).items():
        assert s.thresholds[name] == config.Threshold(t["warn"], t["critical"])
    assert [t.name for t in s.targets] == [t["name"] for t in doc["targets"]]
    assert_round_trips(cfg, s)


@settings(FAST, max_examples=200)
@given(content=ANY_CONFIG)
def test_any_config_loads_or_fails_in_one_line(cfg, content):
    s = load_or_error(cfg, content)
    event("refused" if isinstance(s, ConfigError) else "loaded")  # --hypothesis-show-statistics shows the mix
    if isinstance(s, ConfigError):
        assert str(s).startswith(f"{cfg}: ") and "\n" not in str(s)
    else:
        assert_round_trips(cfg, s)


@FAST
@given(where=st.sampled_from(NUMERIC_KEYS), value=st.sampled_from([math.nan, math.inf, -math.inf]), doc=valid_docs())
def test_nan_and_infinity_are_refused_at_every_numeric_key(cfg, where, value, doc):
    section, key = where
    table = doc.setdefault(section, {})
    if "." in key:
        name, key = key.split(".")
        table = table.setdefault(name, {})
        where = (section, f"{name}.{key}")
    table[key] = value
    e = load_or_error(cfg, toml_doc(doc))
    assert isinstance(e, ConfigError) and str(e).startswith(f"{cfg}: [{'.'.join(where)}] ")


@settings(FAST, max_examples=8)
@given(content=ANY_CONFIG)
def test_the_cli_exits_0_or_3_without_a_traceback(cfg, content):
    cfg.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    run = subprocess.run([sys.executable, "-m", "collectors", "check", "--config", str(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode in (0, 3) and "Traceback" not in run.stderr, run.stderr
