"""The simulated fleet: shape, configuration, incidents and live ticks, read back over HTTP."""

from __future__ import annotations

import tomllib
from collections import Counter

import pytest

from sandbox.fleet import (PROD, STAGING, FleetTruth, Simulator, active_in_hour, build_fleet,
                           fleet_toml, plan_fleet)

NOW = 1_800_000_000 - 1_800_000_000 % 60 + 15 * 60  # fixed, so results never depend on the clock
USE1 = (PROD, "us-east-1")


@pytest.fixture(scope="module")
def fleet(sandbox):
    """One fleet for the whole module (tests here must not reset the sandbox)."""
    sandbox.set_reachable(True)
    sandbox.reset()
    sandbox.metrics.set_clock(NOW)  # ListMetrics' "now" (it lists data of the past two weeks)
    return build_fleet(sandbox, seed=7, now=NOW)


@pytest.fixture(scope="module")
def staging_creds(sandbox, fleet):
    import boto3

    sts = boto3.client("sts", endpoint_url=sandbox.endpoint_url, region_name="us-east-1")
    return sts.assume_role(RoleArn=f"arn:aws:iam::{STAGING}:role/headroom-read",
                           RoleSessionName="headroom")["Credentials"]


@pytest.fixture
def aws(sandbox, fleet, staging_creds):
    """aws(service, account=PROD, region="us-east-1"): a client as the collector would have."""
    import boto3
    from botocore.config import Config

    def make(service, account=PROD, region="us-east-1"):
        kw = {}
        if account == STAGING:
            kw = {"aws_access_key_id": staging_creds["AccessKeyId"],
                  "aws_secret_access_key": staging_creds["SecretAccessKey"],
                  "aws_session_token": staging_creds["SessionToken"]}
        return boto3.client(service, region_name=region, endpoint_url=sandbox.endpoint_url,
                            config=Config(retries={"total_max_attempts": 1}), **kw)

    return make


def series(cw, metric, stat, dims, start, end, period=60, ns="AWS/Lambda"):
    """(epochs, values) ascending for one metric."""
    q = {"Id": "q", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": metric,
                                              "Dimensions": [{"Name": k, "Value": v}
                                                             for k, v in dims.items()]},
                                   "Period": period, "Stat": stat}}
    r = cw.get_metric_data(MetricDataQueries=[q], StartTime=start, EndTime=end,
                           ScanBy="TimestampAscending")["MetricDataResults"][0]
    return [int(t.timestamp()) for t in r["Timestamps"]], r["Values"]


def test_size(fleet: FleetTruth, sandbox):   # how long the build takes: bench/time_to_data.py
    assert len(fleet.functions) >= 300
    assert sandbox.metrics.point_count() > 300_000


def test_shape_over_http(fleet: FleetTruth, aws):
    families = Counter(f.family for f in fleet.functions)
    assert len([f for f, n in families.items() if n >= 10]) >= 6
    for account in (PROD, STAGING):
        for region in ("us-east-1", "eu-west-1"):
            lam = aws("lambda", account, region)
            names = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
                     for f in page["Functions"]]
            assert sorted(names) == sorted(f.name for f in fleet.functions_in(account, region))
            assert len(names) >= 40
    prod = aws("lambda").list_functions()["Functions"]
    assert len({f["Runtime"] for f in prod}) >= 3
    assert {f["Architectures"][0] for f in prod} == {"arm64", "x86_64"}
    assert len({f.memory for f in fleet.functions}) >= 5
    assert all(f.name.count("-") >= 2 for f in fleet.functions)


def test_tags_and_untagged(fleet: FleetTruth, aws):
    tagging = aws("resourcegroupstaggingapi")
    tagged = [r for page in tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["lambda:function"]) for r in page["ResourceTagMappingList"]
        if r["Tags"]]
    truth = [f for f in fleet.functions_in(*USE1) if f.tags]
    assert len(tagged) == len(truth)
    assert len(truth) < len(fleet.functions_in(*USE1))  # some functions are untagged
    keys = Counter(t["Key"] for r in tagged for t in r["Tags"])
    assert keys["team"] == len(truth) and keys["env"] == len(truth)
    payments = tagging.get_resources(ResourceTypeFilters=["lambda:function"],
                                     TagFilters=[{"Key": "team", "Values": ["payments"]}])
    assert all(":function:payments-" in r["ResourceARN"]
               for r in payments["ResourceTagMappingList"])


def test_staging_via_assume_role(fleet: FleetTruth, aws):
    assert aws("sts", STAGING).get_caller_identity()["Account"] == STAGING
    settings = aws("lambda", STAGING, "eu-west-1").get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 500
    assert settings["AccountUsage"]["FunctionCount"] == len(
        fleet.functions_in(STAGING, "eu-west-1"))


def test_reserved_provisioned_and_settings(fleet: FleetTruth, aws):
    lam = aws("lambda")
    assert lam.get_function_concurrency(FunctionName="search-api-query")[
        "ReservedConcurrentExecutions"] == 60
    reserved = sum(f.reserved or 0 for f in fleet.functions_in(*USE1))
    limit = lam.get_account_settings()["AccountLimit"]
    assert limit["UnreservedConcurrentExecutions"] == 1000 - reserved >= 100
    pcs = lam.list_provisioned_concurrency_configs(FunctionName="payments-api-charge")
    assert [(c["FunctionArn"].rsplit(":", 1)[1], c["RequestedProvisionedConcurrentExecutions"])
            for c in pcs["ProvisionedConcurrencyConfigs"]] == [("live", 40)]
    with_pc = [f for f in fleet.functions if f.provisioned]
    assert len(with_pc) >= 3
    sq = aws("service-quotas")
    assert sq.get_service_quota(ServiceCode="lambda", QuotaCode="L-B99A9384")["Quota"][
        "Value"] == 1000.0


def test_dead_letter_queues_and_destinations(fleet: FleetTruth, aws):
    lam, sqs = aws("lambda"), aws("sqs")
    fulfil = lam.get_function(FunctionName="orders-worker-fulfil")["Configuration"]
    assert fulfil["DeadLetterConfig"]["TargetArn"].endswith(":orders-worker-fulfil-dlq")
    dlq = fleet.incident("dlq_filling")
    url = sqs.get_queue_url(QueueName=dlq.details["queue"])["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(depth["Attributes"]["ApproximateNumberOfMessages"]) == dlq.details[
        "messages_at_build"] > 50
    with_dest = [f for f in fleet.functions_in(*USE1) if f.on_failure]
    assert with_dest
    cfg = lam.list_function_event_invoke_configs(FunctionName=with_dest[0].name)
    dest = cfg["FunctionEventInvokeConfigs"][0]["DestinationConfig"]["OnFailure"]["Destination"]
    assert dest.endswith(f":{with_dest[0].on_failure}")
    assert len([f for f in fleet.functions if f.dlq]) >= 20


def test_code_storage_near_80_percent(fleet: FleetTruth, aws):
    lam = aws("lambda")
    usage = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert 0.78 * 80_530_636_800 <= usage <= 0.82 * 80_530_636_800
    assert usage == fleet.code_storage_used[USE1]
    many = [f for f in fleet.functions_in(*USE1) if f.versions >= 5]
    versions = lam.list_versions_by_function(FunctionName=many[0].name)["Versions"]
    assert len(versions) == many[0].versions + 1
    other = aws("lambda", STAGING).get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert other < 0.1 * 80_530_636_800


def test_throttling_storm(fleet: FleetTruth, aws):
    storm = fleet.incident("throttling_storm")
    assert storm.group == "search" and storm.started_at == NOW - 40 * 60
    cw = aws("cloudwatch")
    for name in storm.functions:
        reserved = storm.details["reserved"][name]
        dims = {"FunctionName": name}
        ts, conc = series(cw, "ConcurrentExecutions", "Maximum", dims, storm.started_at, NOW)
        assert len(ts) == 40 and set(conc) == {float(reserved)}
        _, throttles = series(cw, "Throttles", "Sum", dims, storm.started_at, NOW)
        assert len(throttles) == 40 and all(100 <= v <= 20_000 for v in throttles)
        _, before = series(cw, "Throttles", "Sum", dims, NOW - 7 * 86400, storm.started_at, 300)
        assert before == []


def test_dlq_filling_metrics(fleet: FleetTruth, aws):
    dlq = fleet.incident("dlq_filling")
    cw = aws("cloudwatch")
    dims = {"FunctionName": "orders-worker-fulfil"}
    _, dropped = series(cw, "AsyncEventsDropped", "Sum", dims, dlq.started_at, NOW)
    _, dl_errors = series(cw, "DeadLetterErrors", "Sum", dims, dlq.started_at, NOW)
    assert len(dropped) == 55 and sum(dl_errors) > 0
    assert sum(dropped) - sum(dl_errors) == dlq.details["messages_at_build"]
    _, before = series(cw, "AsyncEventsDropped", "Sum", dims, NOW - 86400, dlq.started_at, 300)
    assert before == []
    qdims = {"QueueName": dlq.details["queue"]}
    _, visible = series(cw, "ApproximateNumberOfMessagesVisible", "Maximum", qdims,
                        dlq.started_at, NOW, ns="AWS/SQS")
    assert visible == sorted(visible) and visible[-1] == dlq.details["messages_at_build"]
    _, age = series(cw, "ApproximateAgeOfOldestMessage", "Maximum", qdims, NOW - 120, NOW,
                    ns="AWS/SQS")
    assert age[-1] == 60 * 54


def test_account_concurrency_peak_and_consistency(fleet: FleetTruth, aws):
    peak = fleet.incident("account_concurrency_peak")
    assert 900 <= peak.details["peak"] <= 1000
    cw = aws("cloudwatch")
    _, day = series(cw, "ConcurrentExecutions", "Maximum", {}, NOW - 86400, NOW, 300)
    assert 900 <= max(day) <= 1000
    _, week = series(cw, "ConcurrentExecutions", "Maximum", {}, NOW - 7 * 86400, NOW, 86400)
    assert len(week) >= 7 and week[0] < week[-2]  # grows day over day (last day: partial)
    # At one minute, the account value is the sum of every function's value.
    t = NOW - 30 * 60
    fns = fleet.functions_in(*USE1)
    queries = [{"Id": f"f{i}", "MetricStat": {"Metric": {
        "Namespace": "AWS/Lambda", "MetricName": "ConcurrentExecutions",
        "Dimensions": [{"Name": "FunctionName", "Value": f.name}]}, "Period": 60,
        "Stat": "Maximum"}} for i, f in enumerate(fns)]
    got = cw.get_metric_data(MetricDataQueries=queries, StartTime=t, EndTime=t + 60)
    per_fn = {fns[int(r["Id"][1:])].name: (r["Values"] or [0.0])[0]
              for r in got["MetricDataResults"]}
    _, account = series(cw, "ConcurrentExecutions", "Maximum", {}, t, t + 60)
    assert account == [sum(per_fn.values())]
    _, unreserved = series(cw, "UnreservedConcurrentExecutions", "Maximum", {}, t, t + 60)
    assert unreserved == [sum(v for n, v in per_fn.items()
                              if fleet.function(*USE1, n).reserved is None)]
    _, claimed = series(cw, "ClaimedAccountConcurrency", "Maximum", {}, t, t + 60)
    reserved = sum(f.reserved or 0 for f in fns)
    pc = sum(sum(f.provisioned.values()) for f in fns if f.reserved is None)
    beyond_pc = sum(max(0.0, per_fn[f.name] - sum(f.provisioned.values()))
                    for f in fns if f.reserved is None)
    assert claimed == [beyond_pc + reserved + pc]
    assert claimed[0] <= 1000


def test_provisioned_spillover(fleet: FleetTruth, aws):
    spill = fleet.incident("provisioned_spillover")
    cw = aws("cloudwatch")
    dims = {"FunctionName": "payments-api-charge", "Resource": "payments-api-charge:live"}
    _, util = series(cw, "ProvisionedConcurrencyUtilization", "Maximum", dims,
                     spill.started_at, NOW)
    _, spilled = series(cw, "ProvisionedConcurrencySpilloverInvocations", "Sum", dims,
                        spill.started_at, NOW)
    assert len(util) == 90 and min(util) == 1.0
    assert len(spilled) == 90 and min(spilled) > 0
    _, pce = series(cw, "ProvisionedConcurrentExecutions", "Maximum", dims, spill.started_at, NOW)
    assert set(pce) == {40.0}
    _, before = series(cw, "ProvisionedConcurrencySpilloverInvocations", "Sum", dims,
                       NOW - 7 * 86400, spill.started_at, 300)
    assert before == []


def test_every_domain_metric_is_present(fleet: FleetTruth, aws):
    cw = aws("cloudwatch")
    names = {m["MetricName"] for p in cw.get_paginator("list_metrics").paginate(
        Namespace="AWS/Lambda") for m in p["Metrics"]}
    assert {"Invocations", "Errors", "Throttles", "ConcurrentExecutions", "Duration",
            "AsyncEventsReceived", "AsyncEventAge", "AsyncEventsDropped", "DeadLetterErrors",
            "ClaimedAccountConcurrency", "UnreservedConcurrentExecutions",
            "ProvisionedConcurrentExecutions", "ProvisionedConcurrencyUtilization",
            "ProvisionedConcurrencySpilloverInvocations"} <= names
    staging = {m["MetricName"] for p in aws("cloudwatch", STAGING).get_paginator(
        "list_metrics").paginate(Namespace="AWS/Lambda") for m in p["Metrics"]}
    assert "RecursiveInvocationsDropped" in staging


def test_fleet_toml(fleet: FleetTruth, sandbox):
    conf = tomllib.loads(fleet_toml(sandbox.endpoint_url))
    assert conf["grouping"] == {"prefix_depth": 1, "tag_keys": ["team"]}
    assert [t["name"] for t in conf["targets"]] == ["prod", "staging"]
    assert all(t["endpoint_url"] == sandbox.endpoint_url for t in conf["targets"])
    assert conf["targets"][1]["role_arn"] == f"arn:aws:iam::{STAGING}:role/headroom-read"


def test_account_aggregates_are_the_sums_of_the_functions(fleet: FleetTruth, sandbox, aws):
    # Every bucket of the seeded history (hourly, 5-minute, 1-minute), in every cell: the
    # account-level Invocations, Errors and Throttles are the sums over the cell's functions, and
    # account ConcurrentExecutions is the sum of the functions' (so >= any one of them).
    ms = sandbox.metrics
    start, end = NOW - 8 * 86400, NOW
    for account in (PROD, STAGING):
        for region in ("us-east-1", "eu-west-1"):
            fns = fleet.functions_in(account, region)
            for metric, stat in (("Invocations", "Sum"), ("Errors", "Sum"),
                                 ("Throttles", "Sum"), ("ConcurrentExecutions", "Maximum")):
                per_fn: dict[int, list[float]] = {}
                for f in fns:
                    s = ms.series(account, region, "AWS/Lambda", metric,
                                  (("FunctionName", f.name),))
                    if s is not None:
                        for t, v in zip(*s.reduce(start, end, 60, stat)):
                            per_fn.setdefault(t, []).append(v)
                acct = ms.series(account, region, "AWS/Lambda", metric, ())
                ts, vs = acct.reduce(start, end, 60, stat) if acct else ([], [])
                assert ts == sorted(per_fn), (account, region, metric)
                for t, v in zip(ts, vs):
                    assert v == pytest.approx(sum(per_fn[t]), abs=1e-6), (metric, t)
                    assert v >= max(per_fn[t])
                assert len([t for t in ts if t >= NOW - 3 * 3600]) > 170 or metric in (
                    "Throttles", "Errors")
    # The same through GetMetricData for one minute in prod us-east-1.
    cw = aws("cloudwatch")
    t = NOW - 10 * 60
    fns = fleet.functions_in(*USE1)
    queries = [{"Id": f"f{i}", "MetricStat": {"Metric": {
        "Namespace": "AWS/Lambda", "MetricName": "Invocations",
        "Dimensions": [{"Name": "FunctionName", "Value": f.name}]}, "Period": 60,
        "Stat": "Sum"}} for i, f in enumerate(fns)]
    got = cw.get_metric_data(MetricDataQueries=queries, StartTime=t, EndTime=t + 60)
    total = sum((r["Values"] or [0.0])[0] for r in got["MetricDataResults"])
    _, account = series(cw, "Invocations", "Sum", {}, t, t + 60)
    assert account == [total] and total > 1000


def test_idle_share_and_a_burst_on_an_idle_function():
    # The model alone (no I/O): with idle_share=0.85, about 85 % of the functions have no
    # 1-minute datapoint in any hour; reports-worker-csv never runs until its burst.
    truth = plan_fleet(seed=7, now=NOW, idle_share=0.85)
    hour = NOW - NOW % 3600
    n = len(truth.functions)
    burst = (PROD, "us-east-1", "reports-worker-csv")
    shares = []
    for h in (hour - 4 * 3600, hour - 3 * 3600, hour - 2 * 3600, hour - 3600):
        active = active_in_hour(truth, h)
        shares.append(1 - len(active) / n)
        assert {(PROD, "us-east-1", f) for f in ("search-api-query", "orders-worker-fulfil",
                                                 "payments-api-charge")} <= active
        # The burst starts 20 minutes before "now": 5 minutes before this hour began.
        assert (burst in active) == (h == hour - 3600)
    assert all(abs(s - 0.85) <= 0.05 for s in shares), shares
    assert truth.function(*burst[:2], burst[2]).reserved == 10
    # Default fleet: nobody idles for a whole hour (what the demo and the tests above rely on).
    default = plan_fleet(seed=7, now=NOW)
    assert len(active_in_hour(default, hour - 3600)) >= 0.98 * len(default.functions)


def test_simulator_ticks(fleet: FleetTruth, sandbox, aws):
    # Runs last in this module: it moves the fleet forward in time.
    sim = Simulator(sandbox, fleet)
    before = fleet.incident("dlq_filling").details["messages_at_build"]
    assert sim.tick(NOW + 30) == 0  # no whole minute has passed yet
    written = sim.tick(NOW + 3 * 60 + 5)
    assert written > 100 and sim.last_tick == NOW + 180
    assert sim.tick(NOW + 3 * 60 + 50) == 0  # idempotent within the minute
    assert sim.dlq_depth > before
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="orders-worker-fulfil-dlq")["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(depth["Attributes"]["ApproximateNumberOfMessages"]) == sim.dlq_depth
    cw = aws("cloudwatch")
    ts, conc = series(cw, "ConcurrentExecutions", "Maximum", {"FunctionName": "search-api-query"},
                      NOW, NOW + 180)
    assert ts == [NOW, NOW + 60, NOW + 120] and set(conc) == {60.0}
    # An hour on, live minutes older than 3 hours are rolled up to 5 minutes; pruning keeps
    # only the retention window.
    short = Simulator(sandbox, fleet, retention_seconds=86400)
    short.last_tick = sim.last_tick
    short.tick(NOW + 61 * 60)
    ts, _ = series(cw, "ConcurrentExecutions", "Maximum", {}, NOW - 4 * 3600,
                   NOW - 2 * 3600 + 60 * 60)
    assert all(t % 300 == 0 for t in ts if t < NOW + 61 * 60 - 3 * 3600)
    assert any(t % 300 for t in ts)  # the last three hours stay at one minute
    _, old = series(cw, "ConcurrentExecutions", "Maximum", {}, NOW - 7 * 86400,
                    NOW - 86400 - 3600, 3600)
    assert old == []


def test_prehistory_grows_toward_today_and_stops_where_the_seeded_week_starts():
    from sandbox.fleet import PROD, WEEK, plan_fleet, prehistory
    truth = plan_fleet(seed=7, now=1_764_547_200)
    truth.code_storage_used[(PROD, "us-east-1")] = 60 * 1024 ** 3
    cells = {(h.account, h.region): h for h in prehistory(truth)}
    assert len(cells) == 4
    h = cells[(PROD, "us-east-1")]
    assert h.end == (truth.now - 7 * 86400) // 3600 * 3600 and h.start == truth.now // 3600 * 3600 - 13 * WEEK
    conc = h.series["AccountConcurrentExecutions"]
    assert conc[0][0] == h.start and conc[-1][0] == h.end - 3600 and len(conc) == 12 * 7 * 24
    weekly = [max(v for ts, v in conc if h.start + w * WEEK <= ts < h.start + (w + 1) * WEEK) for w in range(12)]
    assert weekly[-1] > weekly[0] * 1.25 and all(v <= 985 for v in weekly)   # growing, never past the limit
    snaps = h.snapshots
    assert snaps[-1]["ts"] == truth.now // 3600 * 3600 - 3600 and len(snaps) == 13 * 7 * 24
    assert snaps[0]["code_storage_used"] < snaps[-1]["code_storage_used"] <= 60 * 1024 ** 3
    assert snaps[0]["reserved_total"] < snaps[-1]["reserved_total"]
