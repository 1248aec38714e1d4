"""The collector end to end: real HTTP to the sandbox, a real store (a SQLite file and a PostgreSQL database:
every test runs on both), the CLI's exact numbers."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from collectors import cli, config, iam
from collectors.pipeline import run_cycle
from collectors.sessions import TargetSession
from collectors.store import Store

from . import seed
from .conftest import write_config
from .seed import PROD, STAGING


@pytest.fixture
def fleet(sb, tmp_path, store_location):
    """The seeded fleet's config, its store on each backend (overrides the SQLite-only conftest one)."""
    seed.build(sb)
    seed.put_metrics(sb, int(time.time()))
    store = f'path = "{store_location}"' if isinstance(store_location, Path) else f'url = "{store_location}"'
    return write_config(tmp_path, sb.endpoint_url, store=store)


def check_json(capsys, cfg, window="2h"):
    capsys.readouterr()
    code = cli.main(["check", "--config", str(cfg), "--window", window, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def by_target(data):
    return {(t["account"], t["region"]): t for t in data["targets"]}


def test_collect_then_check_reports_the_seeded_numbers(fleet, capsys):
    assert cli.main(["collect", "--config", str(fleet)]) == 0
    out = capsys.readouterr().out
    assert "prod us-east-1 123456789012: 10 functions" in out and "0 error(s)" in out
    code, data = check_json(capsys, fleet)
    assert code == 2 and data["status"] == "critical"   # 350 throttles >= 100
    t = by_target(data)
    assert set(t) == {(PROD, "us-east-1"), (PROD, "eu-west-1"), (STAGING, "us-east-1"), (STAGING, "eu-west-1")}

    p = t[(PROD, "us-east-1")]
    zip_size = len(seed._zip())
    assert {k: p[k] for k in (
        "concurrency_limit", "peak_concurrency", "peak_claimed_concurrency", "concurrency_headroom",
        "concurrency_headroom_pct", "unreserved_limit", "reserved_total", "provisioned_total", "function_count",
        "throttles", "async_events_dropped", "dead_letter_errors", "destination_delivery_failures",
        "provisioned_spillover", "dlq_messages", "code_storage_limit_bytes", "status")} == {
        "concurrency_limit": 1000, "peak_concurrency": 820, "peak_claimed_concurrency": 870,
        "concurrency_headroom": 130, "concurrency_headroom_pct": 13.0, "unreserved_limit": 830,
        "reserved_total": 170, "provisioned_total": 10, "function_count": 10, "throttles": 350,
        "async_events_dropped": 6, "dead_letter_errors": 1, "destination_delivery_failures": 2,
        "provisioned_spillover": 25, "dlq_messages": 10, "code_storage_limit_bytes": 80_530_636_800,
        "status": "critical"}
    # 10 functions' $LATEST plus the published version behind payments-api-charge:live
    assert p["code_storage_used_bytes"] == 11 * zip_size
    fns = {f["name"]: f for f in p["functions"]}
    charge = fns["payments-api-charge"]
    assert {k: charge[k] for k in ("groups", "reserved_concurrency", "peak_concurrency", "throttles", "dlq_arn",
                                   "dlq_messages", "status", "provisioned")} == {
        "groups": {"prefix": "payments", "tag:team": "payments"}, "reserved_concurrency": 50,
        "peak_concurrency": 50, "throttles": 350, "dlq_arn": None, "dlq_messages": None, "status": "critical",
        "provisioned": 10}
    create = fns["orders-api-create"]
    assert (create["dlq_arn"], create["dlq_messages"], create["dead_letter_errors"], create["status"]) == (
        f"arn:aws:sqs:us-east-1:{PROD}:orders-dlq", 7, 1, "critical")
    fulfil = fns["orders-worker-fulfil"]
    assert (fulfil["on_failure_arn"], fulfil["on_failure_messages"], fulfil["async_events_dropped"]) == (
        f"arn:aws:sqs:us-east-1:{PROD}:orders-failures", 3, 6)
    assert fns["reports-nightly"]["groups"] == {"prefix": "reports"}   # untagged: no team group
    assert (fns["search-api-query"]["throttles"], fns["search-api-query"]["reserved_concurrency"]) == (0, None)
    groups = {g["name"]: g for g in p["groups"]}
    assert {k: groups["payments"][k] for k in ("function_count", "peak_concurrency", "throttles", "reserved_total")} == {
        "function_count": 3, "peak_concurrency": 62, "throttles": 350, "reserved_total": 70}
    assert (groups["search"]["function_count"], groups["search"]["peak_concurrency"], groups["search"]["reserved_total"]) == (2, 35, 100)

    e = t[(PROD, "eu-west-1")]
    assert (e["concurrency_limit"], e["peak_concurrency"], e["peak_claimed_concurrency"], e["concurrency_headroom_pct"],
            e["reserved_total"], e["unreserved_limit"], e["throttles"], e["dlq_messages"], e["status"]) == (
        500, 100, 130, 74.0, 30, 470, 7, 0, "critical")
    assert (e["quota_concurrency"], p["quota_concurrency"]) == (1000, 1000)   # headroom still uses Lambda's 500   # payments-api-charge at 30 of 30 reserved
    s = t[(STAGING, "us-east-1")]
    assert (s["concurrency_limit"], s["peak_claimed_concurrency"], s["concurrency_headroom"], s["reserved_total"],
            s["dead_letter_errors"], s["dlq_messages"], s["function_count"], s["status"]) == (
        1000, 15, 985, 5, 3, 12, 3, "critical")
    q = t[(STAGING, "eu-west-1")]   # collected and idle: zeros, not unknown
    assert (q["function_count"], q["peak_concurrency"], q["throttles"], q["concurrency_headroom_pct"], q["dlq_messages"],
            q["status"]) == (14, 0, 0, 100.0, 0, "ok")
    assert {g["name"]: g["function_count"] for g in q["groups"]} == {
        "auth": 3, "inventory": 3, "media": 3, "notifications": 3, "reports": 1, "search": 1}


def test_second_cycle_is_incremental_and_picks_up_late_points(fleet, sb, capsys):
    settings = config.load(fleet)
    # function series read every cycle here (by default every 5 minutes: see test_activity.py)
    settings = dataclasses.replace(settings, collection=dataclasses.replace(settings.collection,
                                                                            function_interval_seconds=60))
    store = Store(settings.store)
    first = run_cycle(settings, store)
    assert first.exit_code == 0
    now = int(time.time()) // 60 * 60
    # a datapoint that arrives late, inside the re-read overlap
    sb.put_metric_points(PROD, "us-east-1", "AWS/Lambda", "Throttles", {"FunctionName": "payments-api-refund"},
                         [(now - 180, 9)])
    second = run_cycle(settings, store)
    assert second.exit_code == 0
    calls = {(r.target, r.region): r.api_calls for r in second.results}
    # steady state: no per-function calls; sts, ListFunctions, GetResources, GetAccountSettings,
    # 2 GetServiceQuota, 2 queues x (GetQueueUrl + GetQueueAttributes), GetMetricData for the account,
    # ListMetrics (RecentlyActive) for AWS/Lambda and AWS/SQS, GetMetricData for the active series
    assert calls[("prod", "us-east-1")] == 14
    first_calls = {(r.target, r.region): r.api_calls for r in first.results}
    # first run: + 10 functions x 3 detail calls, + the two-week listing for the backfill's older hours
    assert first_calls[("prod", "us-east-1")] == 14 + 30 + 2
    code, data = check_json(capsys, fleet)
    p = by_target(data)[(PROD, "us-east-1")]
    assert p["throttles"] == 359    # 350 + the late 9, nothing counted twice
    assert store.query("SELECT COUNT(*) FROM cycles WHERE finished_at IS NOT NULL")[0][0] == 2


def test_credentials_never_reach_the_output_or_logs(fleet, capsys, caplog, monkeypatch):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzSESSIONTOKEN")
    caplog.set_level("DEBUG", logger="headroom")
    cli.main(["collect", "--config", str(fleet)])
    cli.main(["check", "--config", str(fleet), "--format", "json"])
    seen = capsys.readouterr()
    text = seen.out + seen.err + caplog.text
    assert "prod us-east-1" in text
    assert secret not in text and "SESSIONTOKEN" not in text and "testing" not in text
    store = Store(config.load(fleet).store)
    dump = "\n".join(store.dump())
    assert secret not in dump and "SESSIONTOKEN" not in dump


def test_iam_policy_covers_exactly_the_calls_made(fleet):
    settings = config.load(fleet)
    sessions = []

    def factory(t, region, c):
        sessions.append(TargetSession(t, region, c))
        return sessions[-1]

    assert run_cycle(settings, Store(settings.store), session_factory=factory).exit_code == 0
    called = {iam.iam_action(k) for s in sessions for k in s.counter.calls}
    # sts:AssumeRole is the caller's permission on the role, not the read role's own policy; the
    # organizations:/oam: reads are an organization target's (test_organization.py covers them all)
    assert called - {"sts:AssumeRole"} == {a for a in iam.ACTIONS if not a.startswith(("organizations:", "oam:"))}
    assert all(a.split(":")[1].startswith(("Get", "List")) for a in iam.ACTIONS)
    doc = iam.policy()
    assert doc["Statement"][0]["Effect"] == "Allow" and sorted(doc["Statement"][0]["Action"]) == sorted(iam.ACTIONS)


def test_a_throttled_region_is_recorded_and_the_others_keep_their_data(fleet, sb, capsys):
    sb.faults.add(service="cloudwatch", region="eu-west-1", error="Throttling")
    assert cli.main(["collect", "--config", str(fleet)]) == 3
    out = capsys.readouterr().out
    assert "ERROR prod eu-west-1 cloudwatch:GetMetricData: Throttling" in out
    assert "ERROR staging eu-west-1 cloudwatch:GetMetricData: Throttling" in out
    code, data = check_json(capsys, fleet)
    assert code == 2   # known trouble (us-east-1's 350 throttles) outranks the unknown region
    t = by_target(data)
    assert (t[(PROD, "eu-west-1")]["status"], t[(PROD, "us-east-1")]["status"]) == ("unknown", "critical")
    assert t[(PROD, "us-east-1")]["throttles"] == 350 and t[(PROD, "us-east-1")]["peak_claimed_concurrency"] == 870
    eu = t[(PROD, "eu-west-1")]
    # inventory came through; metrics did not: unknown, never zero
    assert (eu["function_count"], eu["reserved_total"], eu["peak_concurrency"], eu["throttles"]) == (4, 30, None, None)
    assert {(e["target"], e["region"], e["code"]) for e in data["errors"]} == {
        ("prod", "eu-west-1", "Throttling"), ("staging", "eu-west-1", "Throttling")}
    # the next cycle, unthrottled, fills the gap: the window is re-read from where coverage ends
    sb.faults.clear()
    assert cli.main(["collect", "--config", str(fleet)]) == 0
    code, data = check_json(capsys, fleet)
    assert by_target(data)[(PROD, "eu-west-1")]["throttles"] == 7 and data["errors"] == []


def test_access_denied_and_a_dead_endpoint_stay_with_their_target(fleet, sb, tmp_path, capsys):
    cfg = write_config(tmp_path, sb.endpoint_url, extra_targets="""
[[targets]]
name = "gone"
regions = ["us-west-2"]
endpoint_url = "http://127.0.0.1:9"
""")
    settings = config.load(cfg)
    store = Store(settings.store)
    first = run_cycle(settings, store)
    assert [(r.target, r.region) for r, _ in first.errors] == [("gone", "us-west-2")]
    sb.faults.add(service="lambda", operation="ListFunctions", region="eu-west-1", account=PROD, error="AccessDenied")
    sb.faults.add(service="lambda", operation="GetAccountSettings", region="eu-west-1", account=PROD,
                  error="AccessDenied")
    report = run_cycle(settings, store)
    errs = {(r.target, r.region, e.api, e.code) for r, e in report.errors}
    assert ("prod", "eu-west-1", "lambda:ListFunctions", "AccessDeniedException") in errs
    assert ("prod", "eu-west-1", "lambda:GetAccountSettings", "AccessDeniedException") in errs
    # the limits stored by the previous cycle stay (Service Quotas alone does not overwrite them)
    assert tuple(store.query("SELECT concurrency_limit, unreserved_limit FROM accounts WHERE account = ? AND "
                             "region = 'eu-west-1'", (PROD,))[0]) == (500, 470)
    assert ("gone", "us-west-2", "sts:GetCallerIdentity", "EndpointConnectionError") in errs
    assert report.exit_code == 3
    # the denied listing keeps the functions stored by the previous cycle instead of emptying the account
    assert sorted(store.functions(PROD, "eu-west-1")) == ["inventory-sync", "orders-api-create", "payments-api-charge",
                                                         "search-api-query"]
    code, data = check_json(capsys, cfg)
    assert by_target(data)[(PROD, "eu-west-1")]["throttles"] == 7   # metrics still read for known functions
    assert any("python -m collectors iam-policy" in e["message"] for e in data["errors"] if e["code"] == "AccessDeniedException")
