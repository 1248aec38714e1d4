"""Issue "Never a false OK", each case seen by a user, end to end against the sandbox and the CLI."""
from __future__ import annotations

import dataclasses
import json
import re
import time

from collectors import cli, config, pipeline
from collectors.pipeline import run_cycle
from collectors.store import Store

from .conftest import write_config
from .seed import PROD

DEAD = """
[[targets]]
name = "gone"
regions = ["us-west-2"]
endpoint_url = "http://127.0.0.1:9"
"""


def check(capsys, cfg, *extra):
    capsys.readouterr()
    code = cli.main(["check", "--config", str(cfg), "--window", "2h", *extra])
    return code, capsys.readouterr().out


def test_a_dead_collector_is_stale_and_unknown_not_ok(fleet, capsys, monkeypatch):
    assert cli.main(["collect", "--config", str(fleet)]) == 0
    code, _ = check(capsys, fleet)
    assert code == 2   # fresh: the seeded fleet's 350 throttles are critical
    two_days = time.time() + 2 * 86400
    monkeypatch.setattr(cli.time, "time", lambda: two_days)
    code, out = check(capsys, fleet)
    assert code == 3
    assert out.count("UNKNOWN (window collected 0 %, data up to") == 4 and out.count("— STALE)") == 4
    assert re.search(r"stale: no data for 2 d 0 h \(max age 3 min\): no error recorded: is the collector "
                     r"running\?", out)
    assert "status: unknown" in out and "OK" not in out
    code, js = check(capsys, fleet, "--format", "json")
    data = json.loads(js)
    assert code == 3 and {t["status"] for t in data["targets"]} == {"unknown"}
    # an old queue depth is not what waits now (a target without any DLQ has really none: 0)
    with_dlqs = [t for t in data["targets"] if any(f["dlq_arn"] or f["on_failure_arn"] for f in t["functions"])]
    assert len(with_dlqs) >= 2 and {t["dlq_messages"] for t in with_dlqs} == {None}


def test_a_configured_target_that_never_reached_the_store_is_listed_unknown(fleet, sb, tmp_path, capsys):
    cfg = write_config(tmp_path, sb.endpoint_url, extra_targets=DEAD)
    assert cli.main(["collect", "--config", str(cfg)]) == 3
    code, out = check(capsys, cfg, "--format", "json")
    data = json.loads(out)
    gone = next(t for t in data["targets"] if t["target"] == "gone")
    assert (gone["account"], gone["status"], gone["throttles"]) == (None, "unknown", None)
    assert gone["findings"][0]["message"].startswith(
        "gone us-west-2: never collected: EndpointConnectionError on sts:GetCallerIdentity")
    assert code == 2   # prod's 350 throttles are known trouble: critical outranks unknown
    # a target in the config that no collector has attempted at all is listed too
    cfg2 = write_config(tmp_path, sb.endpoint_url, extra_targets=DEAD.replace('"gone"', '"new"'))
    code, out = check(capsys, cfg2)
    assert "== new (account unknown) us-west-2: UNKNOWN" in out
    assert "new us-west-2: never collected: no error recorded: is the collector running?" in out


def test_every_target_refused_lists_the_errors_instead_of_no_data_yet(sb, tmp_path, capsys):
    sb.faults.add(service="sts", error="AccessDenied")
    cfg = write_config(tmp_path, sb.endpoint_url)
    assert cli.main(["collect", "--config", str(cfg)]) == 3
    code, out = check(capsys, cfg)
    assert code == 3
    assert out.count(": UNKNOWN") == 4 and "no data collected yet" not in out
    assert out.count("never collected: AccessDenied on sts:") == 4


def test_denied_getaccountsettings_from_the_first_cycle_is_unknown_with_its_reason(fleet, sb, capsys):
    sb.faults.add(service="lambda", operation="GetAccountSettings", error="AccessDenied")
    assert cli.main(["collect", "--config", str(fleet)]) == 3
    code, out = check(capsys, fleet)
    assert code == 2 and out.count("account limits unknown (lambda:GetAccountSettings never answered)") == 4
    assert "no data collected yet" not in out


def test_a_denied_sqs_is_one_line_with_a_count(fleet, sb, capsys):
    sb.faults.add(service="sqs", operation="GetQueueAttributes", error="AccessDenied")
    capsys.readouterr()
    assert cli.main(["collect", "--config", str(fleet)]) == 3
    out = capsys.readouterr().out
    sqs_lines = [line for line in out.splitlines() if "sqs:GetQueueAttributes" in line]
    # one line per (target, region) that has queues, however many queues were denied
    assert len(sqs_lines) == len({tuple(x.split()[1:3]) for x in sqs_lines})
    assert any(" times, e.g. " in x for x in sqs_lines)


def test_a_hung_call_is_abandoned_at_the_deadline_and_the_rest_is_stored(fleet, sb, monkeypatch):
    settings = config.load(fleet)
    settings = dataclasses.replace(settings, collection=dataclasses.replace(settings.collection, deadline_seconds=8))
    monkeypatch.setattr(pipeline, "GRACE_S", 1.0)
    sb.faults.add(service="cloudwatch", region="eu-west-1", account=PROD, error="Slow", delay=60)
    store = Store(settings.store_path)
    t0 = time.monotonic()
    try:
        report = run_cycle(settings, store)
    finally:
        sb.faults.clear()   # wakes the hung request so its thread ends
    assert time.monotonic() - t0 < 25
    assert report.abandoned == [("prod", "eu-west-1")]
    by = {(r.target, r.region): r for r in report.results}
    assert [e.code for e in by[("prod", "eu-west-1")].errors] == ["DeadlineExceeded"]
    assert by[("prod", "us-east-1")].errors == [] and by[("prod", "us-east-1")].points
    assert store.query("SELECT finished_at FROM cycles")[0][0] is not None   # the cycle ended, stored
    health = {(h["target"], h["region"]): h for h in store.health()}
    assert health[("prod", "eu-west-1")]["last_success"] is None
    assert health[("prod", "us-east-1")]["last_success"] is not None
