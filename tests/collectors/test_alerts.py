"""Alerts out: findings delivered through Apprise to a JSON webhook on 127.0.0.1 started by the test.

Each cycle here writes what a collection would (tests/collectors/helpers.py) with the clock moved by
hand, then runs the same `alerts.run()` the collector runs after every cycle.
"""
from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from collectors import alerts, cli, config
from collectors.model import CollectError, TargetResult
from collectors.pipeline import CycleReport
from collectors.store import Store

from .helpers import ACCOUNT, REGION, T0, Point, fn, result

SECRET = "S3CRETtoken42"
DASH = "https://headroom.example.com"
NOW = T0 + 7200 + 30            # mid-minute: the latest minute collected is T0 + 7200
H = 3600
FUNCTIONS = [fn("payments-api-charge", groups={"prefix": "payments", "tag:team": "pay"}),
             fn("orders-api", groups={"prefix": "orders"})]


class Receiver:
    """A JSON webhook: records each POSTed Apprise payload; answers 500 while `failing`."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.failing = False
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not rec.failing:
                    rec.posts.append(dict(body, path=self.path))
                self.send_response(500 if rec.failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook/{SECRET}"

    def take(self) -> list[dict[str, Any]]:
        out, self.posts = self.posts, []
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def settings(tmp_path: Path, url: str, extra: str = "", alert: str = 'min_severity = "warn"',
             alerting: str = "") -> config.Settings:
    text = f"""
[store]
path = "h.db"
[alerting]
dashboard_url = "{DASH}"
{alerting}
[[targets]]
name = "prod"
regions = ["{REGION}"]
{extra}
[[alerts]]
url = "{url}"
{alert}
"""
    return config.parse(tomllib.loads(text), str(tmp_path / "fleet.toml"), base=tmp_path)


def collected(store: Store, now: float, throttles: dict[str, float] | None = None, functions=FUNCTIONS,
              errors: list[CollectError] | None = None, data_end: float | None = None) -> None:
    """A cycle at `now`: every subject collected for the 2 h up to `data_end` (default: the current
    minute), each function in `throttles` throttling that much 10 minutes before `now` (cycles a
    minute apart add up in the 1 h window, as real ones do)."""
    end = int(data_end if data_end is not None else now) // 60 * 60
    minute = int(now) // 60 * 60 - 600
    pts = [Point("Throttles", name, "", minute, v) for name, v in (throttles or {}).items()]
    cid = store.begin_cycle(now)
    store.write_target(cid, result(functions, pts, coverage=[(end - 2 * H, end)], errors=errors or [], now=now - 1))
    store.end_cycle(cid, now)


def test_a_finding_starts_reminds_every_repeat_hours_and_resolves_once(tmp_path, receiver):
    s = settings(tmp_path, receiver.url)
    store = Store(s.store_path)
    collected(store, NOW, {"payments-api-charge": 150})
    alerts.run(s, store, now=NOW)
    [start] = receiver.take()
    assert start["type"] == "failure" and start["path"] == f"/hook/{SECRET}"
    assert start["title"] == "CRITICAL prod us-east-1: payments-api-charge: 150 throttles"
    assert start["message"].split("\n") == [
        "payments-api-charge: 150 throttles",
        "what: throttles of payments-api-charge",
        "value: 150 over the last 1h (warn at 1, critical at 100)",
        f"account {ACCOUNT}, region {REGION} (target prod)",
        f"dashboard: {DASH}/function?account={ACCOUNT}&region={REGION}&fn=payments-api-charge",
        "since: 2023-11-15 00:00 UTC (0 min ago)"]

    # it lasts: nothing until repeat_hours (4) have passed since the last message, then one reminder
    for t in (NOW + 60, NOW + 2 * H, NOW + 4 * H - 60):
        collected(store, t, {"payments-api-charge": 150})
        alerts.run(s, store, now=t)
        assert receiver.take() == [], t - NOW
    collected(store, NOW + 4 * H, {"payments-api-charge": 150})
    alerts.run(s, store, now=NOW + 4 * H)
    [reminder] = receiver.take()
    assert reminder["title"] == "CRITICAL still critical, for 4 h 0 min: prod us-east-1: payments-api-charge: " \
                                "300 throttles"   # the latest figure: the cycles at 4 h - 1 min and 4 h
    collected(store, NOW + 4 * H + 60, {"payments-api-charge": 150})
    alerts.run(s, store, now=NOW + 4 * H + 60)
    assert receiver.take() == []

    # no throttle in the last hour: resolved, once
    for t in (NOW + 5 * H + 600, NOW + 5 * H + 660):
        collected(store, t)
        alerts.run(s, store, now=t)
    [resolved] = receiver.take()
    assert resolved["type"] == "success"
    assert resolved["title"] == "RESOLVED prod us-east-1: payments-api-charge: 450 throttles (was critical)"
    assert "started: 2023-11-15 00:00 UTC" in resolved["message"]
    assert store.alert_states() == []


def test_a_restart_neither_repeats_nor_forgets(tmp_path, receiver):
    s = settings(tmp_path, receiver.url)
    store = Store(s.store_path)
    collected(store, NOW, {"orders-api": 5})
    alerts.run(s, store, now=NOW)
    assert [p["title"] for p in receiver.take()] == ["WARN prod us-east-1: orders-api: 5 throttles"]
    store.close()

    again = Store(s.store_path)            # a new collector process on the same store
    collected(again, NOW + 60, {"orders-api": 5})
    alerts.run(s, again, now=NOW + 60)
    assert receiver.take() == []           # not repeated
    collected(again, NOW + 2 * H, {})
    alerts.run(s, again, now=NOW + 2 * H)
    assert [p["title"] for p in receiver.take()] == ["RESOLVED prod us-east-1: orders-api: 10 throttles (was warn)"]


def test_a_failed_delivery_is_reported_kept_and_retried_next_cycle(tmp_path, receiver):
    s = settings(tmp_path, receiver.url)
    store = Store(s.store_path)
    collected(store, NOW, {"payments-api-charge": 150})
    receiver.failing = True
    report = alerts.run(s, store, now=NOW)
    assert report.failed and receiver.take() == []
    [line] = report.lines()
    label = f"json://127.0.0.1:{receiver.server.server_port}/****"
    assert line.startswith(f"  alerts        {label}: 0 message(s) sent; 1 FAILED, 1 alert(s) not delivered, "
                           "tried again next cycle: ")
    assert "500" in line and SECRET not in line
    [failure] = store.alert_failures()
    assert (failure["label"], failure["pending"], failure["since"], failure["attempts"]) == (label, 1, NOW, 1)
    assert SECRET not in json.dumps(store.alert_states())

    collected(store, NOW + 60, {"payments-api-charge": 150})
    alerts.run(s, store, now=NOW + 60)     # still failing: still pending, one more attempt
    assert store.alert_failures()[0]["attempts"] == 2

    receiver.failing = False
    collected(store, NOW + 120, {"payments-api-charge": 150})
    report = alerts.run(s, store, now=NOW + 120)
    [start] = receiver.take()
    assert start["title"] == "CRITICAL prod us-east-1: payments-api-charge: 450 throttles"
    assert "since: 2023-11-15 00:00 UTC (2 min ago)" in start["message"]   # since it was first seen
    assert not report.failed and store.alert_failures() == []
    collected(store, NOW + 180, {"payments-api-charge": 150})
    alerts.run(s, store, now=NOW + 180)
    assert receiver.take() == []


def test_stale_data_and_a_target_never_collected_alert_a_critical_only_destination(tmp_path, receiver):
    s = settings(tmp_path, receiver.url, alert='min_severity = "critical"',
                 extra='[[targets]]\nname = "staging"\nregions = ["eu-west-1"]')
    store = Store(s.store_path)
    denied = CollectError("metrics", "cloudwatch:GetMetricData", "AccessDenied", "not authorized")
    collected(store, NOW, errors=[denied], data_end=NOW - 14 * 60)
    alerts.run(s, store, now=NOW)
    titles = sorted(p["title"] for p in receiver.take())
    assert titles == [
        "UNKNOWN prod us-east-1: stale: no data for 14 min (max age 3 min): AccessDenied on "
        "cloudwatch:GetMetricData: not authorized",
        "UNKNOWN staging eu-west-1: never collected: no error recorded: is the collector running?"]

    # fresh again, but an API failed: the failed collection is its own alert, the stale one resolves
    sqs = CollectError("sqs", "sqs:GetQueueAttributes", "AccessDenied", "no")
    collected(store, NOW + 60, errors=[sqs])
    alerts.run(s, store, now=NOW + 60)
    titles = sorted(p["title"] for p in receiver.take())
    assert titles == [
        "RESOLVED prod us-east-1: stale: no data for 14 min (max age 3 min): AccessDenied on "
        "cloudwatch:GetMetricData: not authorized (was unknown)",
        "UNKNOWN prod us-east-1: collection failed: AccessDenied on sqs:GetQueueAttributes: no"]


def test_beyond_max_per_cycle_one_digest(tmp_path, receiver):
    functions = [fn(f"pay-{i}", groups={"prefix": "pay"}) for i in range(5)]
    s = settings(tmp_path, receiver.url, alerting="max_per_cycle = 3")
    store = Store(s.store_path)
    collected(store, NOW, {f.name: 200 for f in functions}, functions=functions)
    alerts.run(s, store, now=NOW)
    posts = receiver.take()
    assert [p["title"] for p in posts] == ["CRITICAL prod us-east-1: pay-0: 200 throttles",
                                           "CRITICAL prod us-east-1: pay-1: 200 throttles",
                                           "headroom: 3 more alerts (3 starts)"]
    assert posts[2]["message"].split("\n") == [f"start: CRITICAL prod us-east-1: pay-{i}: 200 throttles"
                                               for i in (2, 3, 4)]
    collected(store, NOW + 60, {f.name: 200 for f in functions}, functions=functions)
    alerts.run(s, store, now=NOW + 60)
    assert receiver.take() == []           # the digest delivered all five


# -- the rules, without a network -------------------------------------------------------------------
class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, alerts.Message]] = []

    def __call__(self, url: str, msg: alerts.Message) -> str | None:
        self.sent.append((url, msg))
        return None

    def titles(self) -> list[str]:
        out, self.sent = [m.title for _, m in self.sent], []
        return out


def test_a_severity_change_is_one_message_and_a_critical_destination_sees_a_warn_as_resolved(tmp_path):
    s = settings(tmp_path, "json://127.0.0.1:9/warn", extra="""
[[alerts]]
url = "json://127.0.0.1:9/critical"
""")
    store, out = Store(s.store_path), Outbox()
    collected(store, NOW, {"orders-api": 5})
    alerts.run(s, store, now=NOW, send=out)
    assert [(u.rsplit("/", 1)[1], m.title) for u, m in out.sent] == [
        ("warn", "WARN prod us-east-1: orders-api: 5 throttles")]
    out.sent = []
    collected(store, NOW + 60, {"orders-api": 500})
    alerts.run(s, store, now=NOW + 60, send=out)
    assert sorted((u.rsplit("/", 1)[1], m.title) for u, m in out.sent) == [
        ("critical", "CRITICAL prod us-east-1: orders-api: 505 throttles"),
        ("warn", "CRITICAL now critical, was warn: prod us-east-1: orders-api: 505 throttles")]
    out.sent = []
    collected(store, NOW + 2 * H, {"orders-api": 5})   # the 500 left the window
    alerts.run(s, store, now=NOW + 2 * H, send=out)
    assert sorted((u.rsplit("/", 1)[1], m.title) for u, m in out.sent) == [
        ("critical", "RESOLVED prod us-east-1: orders-api: 505 throttles (was critical)"),
        ("warn", "WARN now warn, was critical: prod us-east-1: orders-api: 5 throttles")]


def test_a_group_filter_keeps_its_groups_and_every_unknown(tmp_path):
    s = settings(tmp_path, "json://127.0.0.1:9/x", alert='min_severity = "warn"\ngroups = ["pay"]')
    store, out = Store(s.store_path), Outbox()
    sqs = CollectError("sqs", "sqs:GetQueueAttributes", "AccessDenied", "no")
    collected(store, NOW, {"orders-api": 5, "payments-api-charge": 7}, errors=[sqs])
    alerts.run(s, store, now=NOW, send=out)
    # pay is payments-api-charge's tag:team group; orders-api is in no listed group; failed collection is for all
    assert sorted(out.titles()) == ["UNKNOWN prod us-east-1: collection failed: AccessDenied on sqs:GetQueueAttributes: no",
                                    "WARN prod us-east-1: payments-api-charge: 7 throttles"]


def test_a_destination_no_longer_configured_is_forgotten(tmp_path):
    s = settings(tmp_path, "json://127.0.0.1:9/x")
    store, out = Store(s.store_path), Outbox()
    collected(store, NOW, {"orders-api": 5})
    alerts.run(s, store, now=NOW, send=out)
    assert len(store.alert_states()) == 1
    moved = settings(tmp_path, "json://127.0.0.1:9/y")
    alerts.run(moved, store, now=NOW + 60, send=out)
    assert {r["label"] for r in store.alert_states()} == {"json://127.0.0.1:9/****"} and len(store.alert_states()) == 1
    assert store.alert_states()[0]["destination"] == alerts.destination_id(moved.alerts[0])


@pytest.mark.parametrize("url, shown", [
    ("slack://T000/B000/XXXX", "slack://T000/****"),
    ("json://127.0.0.1:8080/hook/abc", "json://127.0.0.1:8080/****"),
    ("mailtos://user:pa55word@smtp.example.com/?to=a@b.c", "mailtos://smtp.example.com/****"),
    ("tgram://123456789:AAbbCCddEE/4242", "tgram://1234…/****"),
    ("pagerduty://integrationkey@apikey/", "pagerduty://apik…/****"),
    ("nonsense", "****")])
def test_urls_are_shown_without_their_secrets(url, shown):
    assert alerts.mask(url) == shown
    if "://" in url:
        assert alerts.scrub(f"failed to reach {url}", url).count("****") >= 1


def test_a_bad_url_in_the_config_is_refused_without_repeating_it(tmp_path):
    with pytest.raises(config.ConfigError) as e:
        settings(tmp_path, f"not a url {SECRET}")
    assert "alerts[0].url" in str(e.value) and SECRET not in str(e.value)


# -- the CLI ------------------------------------------------------------------------------------------
def write_fleet(tmp_path: Path, url: str) -> Path:
    p = tmp_path / "fleet.toml"
    p.write_text(f'[store]\npath = "h.db"\n[[targets]]\nname = "prod"\nregions = ["{REGION}"]\n'
                 f'[[alerts]]\nurl = "{url}"\nmin_severity = "warn"\n')
    return p


def test_alert_test_reaches_every_destination_and_shows_no_secret(tmp_path, receiver, capsys):
    p = write_fleet(tmp_path, receiver.url)
    assert cli.main(["alert-test", "--config", str(p)]) == 0
    [post] = receiver.take()
    assert post["title"] == "headroom: test message" and post["type"] == "info"
    out = capsys.readouterr().out
    assert f"ok      json://127.0.0.1:{receiver.server.server_port}/****" in out and SECRET not in out
    receiver.failing = True
    assert cli.main(["alert-test", "--config", str(p)]) == 3
    out = capsys.readouterr().out
    assert "FAILED  json://127.0.0.1:" in out and SECRET not in out


def test_collect_sends_after_the_cycle_and_a_failed_delivery_exits_3(tmp_path, receiver, capsys, monkeypatch):
    p = write_fleet(tmp_path, receiver.url)
    now = [NOW]

    def fake_cycle(settings: config.Settings, store: Store, on_result=None, **kw: Any) -> CycleReport:
        collected(store, now[0], {"orders-api": 5})
        r = TargetResult("prod", REGION, ACCOUNT, now[0], now[0] + 1)
        return CycleReport(1, [r], now[0], now[0] + 1)
    monkeypatch.setattr(cli, "run_cycle", fake_cycle)
    monkeypatch.setattr(alerts.time, "time", lambda: now[0])
    monkeypatch.setattr(cli.costs, "cost", lambda *a, **k: None)
    receiver.failing = True
    assert cli.main(["collect", "--config", str(p)]) == 3
    out = capsys.readouterr().out
    assert "1 FAILED, 1 alert(s) not delivered, tried again next cycle" in out and SECRET not in out
    receiver.failing = False
    now[0] += 60
    assert cli.main(["collect", "--config", str(p)]) == 0
    assert [x["title"] for x in receiver.take()] == ["WARN prod us-east-1: orders-api: 10 throttles"]
    assert f"json://127.0.0.1:{receiver.server.server_port}/****: 1 message(s) sent" in capsys.readouterr().out
