"""The Prometheus endpoint: /metrics parsed with prometheus_client's own parser, every value checked
against the review `check --window 24h --format json` prints at the same instant."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors import cli, config, exporter
from collectors.model import CollectError
from collectors.store import Store

from .conftest import write_config
from .helpers import ACCOUNT, REGION, T0, AccountInfo, Point, fn, result
from .seed import PROD

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> tuple[Samples, dict[str, str]]:
    """(sample name -> {sorted labels: value}, family name -> type) of http://127.0.0.1:port/metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples: Samples = defaultdict(dict)
    types = {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[s.name][tuple(sorted(s.labels.items()))] = s.value
    return samples, types


def lbl(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


# the gauge for each figure of `check --format json`'s targets
GAUGES = {
    "headroom_concurrency_limit": "concurrency_limit", "headroom_concurrency_peak": "peak_concurrency",
    "headroom_claimed_concurrency_peak": "peak_claimed_concurrency", "headroom_unreserved_limit": "unreserved_limit",
    "headroom_reserved_concurrency": "reserved_total", "headroom_provisioned_concurrency": "provisioned_total",
    "headroom_code_storage_bytes": "code_storage_used_bytes",
    "headroom_code_storage_limit_bytes": "code_storage_limit_bytes", "headroom_dlq_messages": "dlq_messages",
    "headroom_window_throttles": "throttles", "headroom_window_async_events_dropped": "async_events_dropped",
}


def test_metrics_equal_the_check_review_of_the_same_window(fleet, capsys, monkeypatch, tmp_path):
    # a third target whose endpoint is dead: collected with errors, never reached
    cfg = write_config(tmp_path, fleet.read_text().split('endpoint_url = "')[1].split('"')[0], extra_targets="""
[[targets]]
name = "dead"
regions = ["us-east-1"]
endpoint_url = "http://127.0.0.1:9"
""")
    assert cli.main(["collect", "--config", str(cfg)]) == 3
    settings = config.load(cfg)
    now = time.time()
    ex = exporter.Exporter(settings, clock=lambda: now - 86400)   # counters from the window's start on
    ex.cycle_done([], now - 10, now - 4)
    store = Store(settings.store_path, readonly=True)
    ex.update(store, now)
    server, _ = exporter.serve(ex, port := free_port(), "127.0.0.1")
    try:
        samples, types = scrape(port)
    finally:
        server.shutdown()
    monkeypatch.setattr(cli.time, "time", lambda: now)
    capsys.readouterr()
    assert cli.main(["check", "--config", str(cfg), "--window", "24h", "--format", "json"]) == 2
    review = json.loads(capsys.readouterr().out)

    assert samples["headroom_review_window_seconds"][()] == review["end"] - review["start"] == 86400
    assert types["headroom_throttles"] == "counter" and types["headroom_concurrency_peak"] == "gauge"
    for t in review["targets"]:
        where = dict(target=t["target"], region=t["region"])
        if t["account"] is None:
            assert not any(dict(k).get("target") == "dead" for name in GAUGES for k in samples.get(name, {}))
        else:
            labels = lbl(**where, account=t["account"])
            for name, key in GAUGES.items():
                # unknown is no sample, never 0
                assert samples[name].get(labels) == t[key], (name, t["target"], t["region"])
            ratio = None if t["concurrency_headroom"] is None else t["concurrency_headroom"] / t["concurrency_limit"]
            assert samples["headroom_concurrency_headroom_ratio"].get(labels) == ratio
            # counters over the collected minutes since the exporter's start (here the window's start)
            assert samples["headroom_throttles_total"][labels] == (t["throttles"] or 0)
            assert samples["headroom_async_events_dropped_total"][labels] == (t["async_events_dropped"] or 0)
            for f in t["functions"]:
                fl = lbl(**where, account=t["account"], function=f["name"], group=f["groups"]["prefix"])
                assert samples["headroom_function_window_throttles"].get(fl) == (f["throttles"] or None)
                assert samples["headroom_function_throttles_total"].get(fl) == (f["throttles"] or None)
                assert samples["headroom_function_window_async_events_dropped"].get(fl) == \
                    (f["async_events_dropped"] or None)
                if f["dlq_messages"]:
                    q = f["dlq_arn"].rsplit(":", 1)[1]
                    assert samples["headroom_function_dlq_messages"][lbl(**dict(fl), queue=q)] == f["dlq_messages"]
        h = t["health"]
        up = 1.0 if not h["errors"] and not h["stale"] and h["last_success"] == h["last_attempt"] else 0.0
        assert samples["headroom_collect_up"][lbl(**where)] == up
        errors: dict[tuple[str, str], int] = defaultdict(int)
        for e in h["errors"]:
            errors[(e["api"], e["code"])] += 1
        assert {k: v for k, v in samples["headroom_collect_errors"].items() if dict(k)["target"] == t["target"]
                and dict(k)["region"] == t["region"]} == {lbl(**where, api=a, code=c): n for (a, c), n in errors.items()}
        assert samples["headroom_status"][lbl(**where, status=t["status"])] == 1.0
    # the literal numbers the sandbox was seeded with (tests/collectors/seed.py)
    prod = lbl(target="prod", account=PROD, region="us-east-1")
    assert (samples["headroom_concurrency_peak"][prod], samples["headroom_claimed_concurrency_peak"][prod],
            samples["headroom_concurrency_headroom_ratio"][prod], samples["headroom_throttles_total"][prod]) == \
        (820, 870, 0.13, 350)
    assert samples["headroom_collect_up"] == {lbl(target="dead", region="us-east-1"): 0.0,
                                              **{lbl(target=t, region=r): 1.0 for t in ("prod", "staging")
                                                 for r in ("eu-west-1", "us-east-1")}}
    assert samples["headroom_last_success_timestamp_seconds"][lbl(target="prod", region="us-east-1")] == \
        next(t for t in review["targets"] if (t["target"], t["region"]) == ("prod", "us-east-1"))["health"]["last_success"]
    assert lbl(target="dead", region="us-east-1") not in samples["headroom_last_success_timestamp_seconds"]
    assert samples["headroom_cycle_duration_seconds"][()] == 6.0 and samples["headroom_cycles_total"][()] == 1


def test_unknown_is_absent_counters_never_go_down(tmp_path):
    s = config.parse({"store": {"path": "h.db"}, "targets": [{"name": "prod", "regions": [REGION]}]},
                     str(tmp_path / "fleet.toml"), base=tmp_path)
    store = Store(s.store_path)
    now = T0 + 7200 + 30
    cid = store.begin_cycle(now)
    pts = [Point("Throttles", "a-x", "", T0 + 7000, 30), Point("Throttles", "a-x", "", T0 + 6000, 5)]
    # functions listed, limits known, but no metric window ever collected: every window figure unknown
    store.write_target(cid, result([fn("a-x")], pts, account_info=AccountInfo(1000, 900, 100, 50, 1), now=now))
    ex = exporter.Exporter(s, clock=lambda: T0 + 6600)
    ex.update(store, now)
    got = {m.name: {tuple(x.labels.values()): x.value for x in m.samples} for m in ex.collect()}
    labels = ("prod", ACCOUNT, REGION)
    assert got["headroom_concurrency_limit"] == {labels: 1000}
    for name in ("headroom_concurrency_peak", "headroom_concurrency_headroom_ratio", "headroom_window_throttles",
                 "headroom_function_window_throttles"):
        assert got[name] == {}, name
    assert got["headroom_collect_up"] == {("prod", REGION): 0.0}   # stale: nothing collected
    assert "headroom_throttles" not in got or got["headroom_throttles"] == {}   # no minute collected yet

    from .helpers import Covered
    cid = store.begin_cycle(now + 60)
    cov = [Covered("account", "", T0, T0 + 7260), Covered("function", "a-x", T0, T0 + 7260)]
    store.write_target(cid, result([fn("a-x")], [], coverage=cov, now=now + 60))
    ex.update(store, now + 60)
    got = {m.name: {tuple(x.labels.values()): x.value for x in m.samples if x.name.endswith("_total")}
           for m in ex.collect()}
    assert got["headroom_throttles"] == {labels: 30.0}                      # the minute at T0 + 7000 only
    assert got["headroom_function_throttles"] == {(*labels, "a-x", "a"): 30.0}
    # the minute read again lower (a late correction): the counter stays where it was
    cid = store.begin_cycle(now + 120)
    store.write_target(cid, result([fn("a-x")], [Point("Throttles", "a-x", "", T0 + 7000, 10)], coverage=cov,
                                   now=now + 120))
    ex.update(store, now + 120)
    got = {m.name: {tuple(x.labels.values()): x.value for x in m.samples if x.name.endswith("_total")}
           for m in ex.collect()}
    assert got["headroom_throttles"] == {labels: 30.0}


def test_collect_every_serves_metrics_on_the_port(fleet, tmp_path):
    port = free_port()
    log = tmp_path / "collect.log"
    proc = subprocess.Popen([sys.executable, "-m", "collectors", "collect", "--config", str(fleet), "--every", "60",
                             "--metrics-port", str(port)], cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        t0 = time.monotonic()
        samples: Any = {}
        while not samples.get("headroom_cycles_total", {}).get(()):
            if proc.poll() is not None or time.monotonic() - t0 > 60:
                pytest.fail(f"no cycle on /metrics:\n{log.read_text()}")
            time.sleep(0.3)
            try:
                samples, _ = scrape(port)
            except OSError:
                continue
        assert samples["headroom_collect_up"][lbl(target="prod", region="us-east-1")] == 1.0
        assert samples["headroom_concurrency_limit"][lbl(target="prod", account=PROD, region="us-east-1")] == 1000
        assert samples["headroom_cloudwatch_metrics_requested_total"][lbl(target="prod", region="us-east-1")] > 0
        assert samples["headroom_cycle_duration_seconds"][()] > 0
        assert f"serving Prometheus metrics on http://127.0.0.1:{port}/metrics" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(10)


def test_metrics_port_needs_every(tmp_path, capsys):
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[[targets]]\nname = "p"\nregions = ["us-east-1"]\n')
    with pytest.raises(SystemExit) as e:
        cli.main(["collect", "--config", str(cfg), "--metrics-port", "9108"])
    assert e.value.code == 3 and "--metrics-port needs --every" in capsys.readouterr().err


def test_a_collect_error_code_is_a_label(tmp_path):
    s = config.parse({"store": {"path": "h.db"}, "targets": [{"name": "prod", "regions": [REGION]}]},
                     str(tmp_path / "fleet.toml"), base=tmp_path)
    store = Store(s.store_path)
    cid = store.begin_cycle(T0)
    denied = CollectError("session", "sts:AssumeRole", "AccessDenied", "no")
    store.write_target(cid, result(account=None, errors=[denied, denied]))   # type: ignore[arg-type]
    ex = exporter.Exporter(s, clock=lambda: T0)
    ex.update(store, T0 + 60)
    got = {m.name: {tuple(x.labels.values()): x.value for x in m.samples} for m in ex.collect()}
    assert got["headroom_collect_errors"] == {("prod", REGION, "sts:AssumeRole", "AccessDenied"): 2.0}
    assert got["headroom_collect_up"] == {("prod", REGION): 0.0}
    assert got["headroom_status"][("prod", REGION, "unknown")] == 1.0
