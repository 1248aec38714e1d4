import boto3
from botocore.config import Config
from botocore.stub import Stubber

from collectors import config
from collectors.config import Collection
from collectors.pipeline import metric_windows, run_cycle
from collectors.sessions import CallCounter, TargetSession
from collectors.store import Store

from .seed import PROD
NOW = 1_700_000_000 + 1234   # not aligned
H = 3600


def test_first_run_reads_a_day_by_minute_and_the_week_before_hourly():
    c = Collection(backfill_hours=24, backfill_days=7)
    fine_from = (NOW - 24 * H) // H * H
    assert metric_windows([], NOW, c) == [(fine_from, NOW // 60 * 60, 60), ((NOW - 7 * 86400) // H * H, fine_from, 3600)]


def test_deferred_history_reads_recent_minutes_first_then_history_next_cycle():
    c = Collection(backfill_hours=24, backfill_days=7)
    fine_from = (NOW - 24 * H) // H * H
    end = NOW // 60 * 60
    assert metric_windows([], NOW, c, defer_history=True) == [(fine_from, end, 60)]
    # the second cycle: the overlap, then the week before the first window, hourly
    assert metric_windows([(fine_from, end)], NOW + 60, c) == [
        (end - 600, (NOW + 60) // 60 * 60, 60), ((NOW + 60 - 7 * 86400) // H * H, fine_from, 3600)]
    # with a short backfill_hours, the rest of the last day is read at 5 minutes
    c1 = Collection(backfill_hours=1, backfill_days=7)
    one_h = (NOW - H) // H * H
    assert metric_windows([(one_h, end)], NOW + 60, c1) == [
        (end - 600, (NOW + 60) // 60 * 60, 60), ((NOW + 60 - 86400) // H * H, one_h, 300),
        ((NOW + 60 - 7 * 86400) // H * H, (NOW + 60 - 86400) // H * H, 3600)]
    # once history is stored, only the overlap is read
    history_from = (NOW + 120 - 7 * 86400) // H * H
    assert metric_windows([(history_from, end + 60)], NOW + 120, c) == [(end + 60 - 600, (NOW + 120) // 60 * 60, 60)]


def test_steady_state_rereads_the_overlap_only():
    c = Collection(overlap_minutes=10, backfill_days=0)
    end = NOW // 60 * 60
    assert metric_windows([(end - 2 * 86400, end - 60)], NOW, c) == [(end - 60 - 600, end, 60)]


def test_catch_up_after_an_outage_reads_the_old_part_hourly_inside_the_gap():
    c = Collection(backfill_hours=24, overlap_minutes=10, backfill_days=7)
    last = (NOW - 3 * 86400) // 60 * 60
    fine_from = (NOW - 24 * H) // H * H
    first_hour = -(-(last - 600) // H) * H   # an hour bucket never straddles stored minutes (no double count)
    assert metric_windows([(NOW - 8 * 86400, last)], NOW, c) == [
        (fine_from, NOW // 60 * 60, 60), (first_hour, fine_from, 3600), (last - 600, first_hour, 60)]


def test_a_gap_in_the_middle_is_read_again_and_only_the_gap():
    c = Collection(backfill_hours=24, overlap_minutes=10, backfill_days=7)
    end = NOW // 60 * 60
    history_from = (NOW - 7 * 86400) // H * H
    # a cycle failed for this subject two hours ago for 30 minutes: that half hour is read again at 1 minute
    covered = [(history_from, end - 7200), (end - 5400, end - 60)]
    assert metric_windows(covered, NOW, c) == [(end - 660, end, 60), (end - 7200, end - 5400, 60)]


def test_slivers_older_than_cloudwatch_keeps_minutes_are_left_unknown_not_read_coarser():
    c = Collection(backfill_hours=24, overlap_minutes=0, backfill_days=30)
    end = NOW // 60 * 60
    old = (NOW - 20 * 86400) // H * H + 1800    # half past an hour, 20 days ago
    covered = [((NOW - 30 * 86400) // H * H, old), (old + 1800 + 7200, end)]
    # the hours in between are read hourly; the half hour at the edge cannot be read at 1 minute any more
    assert metric_windows(covered, NOW, c) == [(old + 1800, old + 1800 + 7200, 3600)]


def test_nothing_to_read_within_the_same_minute():
    c = Collection(overlap_minutes=0, backfill_days=0)
    assert metric_windows([(NOW - 2 * 86400, NOW // 60 * 60)], NOW, c) == []


# --- AccessDenied in one region, shown with Stubber (the other region talks to the sandbox) ----------

class DeniedRegion:
    """A session whose every AWS answer, after STS, is an SCP-style AccessDenied."""

    DENIED = {"lambda": ["list_functions", "get_account_settings"], "resourcegroupstaggingapi": ["get_resources"],
              "service-quotas": ["get_service_quota"], "cloudwatch": ["get_metric_data"]}

    def __init__(self, target, region):
        self.target, self.region, self.counter = target, region, CallCounter()
        self.stubs = {}

    def client(self, service):
        if service not in self.stubs:
            c = boto3.client(service, region_name=self.region, endpoint_url="http://127.0.0.1:9",
                             config=Config(retries={"mode": "standard", "max_attempts": 1}))
            c.meta.events.register("before-call", self.counter)
            stub = Stubber(c)
            if service == "sts":
                stub.add_response("get_caller_identity", {"Account": PROD, "Arn": "arn:aws:iam::1:user/x", "UserId": "x"})
            for op in self.DENIED.get(service, []):
                stub.add_client_error(op, service_error_code="AccessDeniedException", http_status_code=403,
                                      service_message=f"not authorized to perform {op} with an explicit deny in an SCP")
            stub.activate()
            self.stubs[service] = (c, stub)
        return self.stubs[service][0]


def test_access_denied_region_is_recorded_and_the_other_region_is_stored(fleet):
    settings = config.load(fleet)
    settings = config.Settings(settings.path, settings.store_path, settings.targets[:1], settings.grouping,
                               settings.thresholds, settings.collection, settings.retention)
    denied = []

    def factory(t, region, c):
        if region == "eu-west-1":
            denied.append(DeniedRegion(t, region))
            return denied[-1]
        return TargetSession(t, region, c)

    store = Store(settings.store_path)
    report = run_cycle(settings, store, session_factory=factory)
    for _, stub in denied[0].stubs.values():
        stub.assert_no_pending_responses()
    assert report.exit_code == 3
    assert sorted((r.region, e.source, e.api, e.code) for r, e in report.errors) == [
        ("eu-west-1", "account", "lambda:GetAccountSettings", "AccessDeniedException"),
        ("eu-west-1", "inventory", "lambda:ListFunctions", "AccessDeniedException"),
        ("eu-west-1", "metrics", "cloudwatch:GetMetricData", "AccessDeniedException"),
        ("eu-west-1", "tags", "tag:GetResources", "AccessDeniedException"),
    ]   # Service Quotas is optional: its AccessDenied is not an error
    assert len(store.functions(PROD, "us-east-1")) == 10
    assert store.functions(PROD, "eu-west-1") == {}
    assert store.coverage_map(PROD, "eu-west-1") == {}   # nothing read: unknown, not idle
    assert store.query("SELECT COUNT(*) FROM errors WHERE region = 'eu-west-1'")[0][0] == 4
