"""Never a false OK: what the review says when it does not know (small literal stores)."""
import pytest

from analysis import review
from collectors.config import DEFAULT_THRESHOLDS
from collectors.model import CollectError
from collectors.store import Store

from tests.collectors.helpers import ACCOUNT, REGION, T0, AccountInfo, Covered, Point, ProvisionedConfig, QueueDepth, fn, result

END = T0 + 3600
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-dlq"


@pytest.fixture
def store(store_location):   # on both backends: a SQLite file, a PostgreSQL database
    s = Store(store_location)
    yield s
    s.close()


def write(store, *results, at=T0):
    cid = store.begin_cycle(at)
    for r in results:
        store.write_target(cid, r)
    store.end_cycle(cid, at + 1)


def one(store, now=END, start=T0, end=END, **kw):
    rv = review.review(store, start, end, DEFAULT_THRESHOLDS, now=now, **kw)
    assert len(rv.targets) == 1
    return rv, rv.targets[0]


def test_a_function_whose_window_was_not_asked_is_unknown_not_idle(store):
    # the account's series and "busy" were read for the hour; "late" was listed but never asked
    r = result([fn("busy"), fn("late")], [Point("Throttles", "busy", "", T0 + 60, 5)], now=END - 1,
               coverage=[Covered("account", "", T0, END), Covered("function", "busy", T0, END)])
    write(store, r, at=END - 1)
    rv, t = one(store)
    f = {x.name: x for x in t.functions}
    assert (f["busy"].throttles, f["busy"].invocations, f["busy"].status) == (5, 0, "warn")
    assert (f["late"].throttles, f["late"].invocations, f["late"].metrics_known, f["late"].status) == (
        None, None, "none", "unknown")
    # the fleet's total is a floor (5 known) and the target says why it is not sure
    assert (t.throttles, t.invocations, t.functions_unknown) == (5, None, 1)
    assert t.status == "unknown" and rv.status == "unknown"
    assert [(x.kind, x.message) for x in t.findings if x.severity == "unknown"] == [
        ("incomplete", "prod us-east-1: 1 of 2 functions' metrics not collected for the whole window")]


def test_a_partly_collected_window_keeps_what_happened_and_does_not_call_the_rest_zero(store):
    r = result([fn("a"), fn("b")], [Point("Throttles", "a", "", T0 + 1800, 7)], now=END - 1,
               coverage=[Covered("account", "", T0, END), Covered("function", "a", T0 + 1800, END),
                         Covered("function", "b", T0 + 1800, END)])
    write(store, r, at=END - 1)
    _, t = one(store)
    f = {x.name: x for x in t.functions}
    assert (f["a"].throttles, f["a"].metrics_known, f["a"].coverage_ratio) == (7, "partial", 0.5)
    assert f["b"].throttles is None   # 0 in the half read; the other half may hold anything


def test_reserved_concurrency_not_read_is_unknown_not_none(store):
    r = result([fn("read", reserved=135), fn("never-read", detail_at=None, reserved=None)], coverage=[(T0, END)],
               account_info=AccountInfo(1000, 865, 80_530_636_800, 1_000, 2), now=END - 1)
    write(store, r, at=END - 1)
    _, t = one(store)
    f = {x.name: x for x in t.functions}
    assert (f["read"].reserved_concurrency, f["read"].provisioned, f["read"].config_known) == (135, 0, True)
    assert (f["never-read"].reserved_concurrency, f["never-read"].provisioned, f["never-read"].config_known,
            f["never-read"].provisioned_spillover, f["never-read"].status) == (None, None, False, None, "unknown")
    assert (t.reserved_total, t.provisioned_total, t.config_unknown) == (135, None, 1)
    assert any(x.kind == "incomplete" and "reserved/provisioned concurrency unknown for 1 function" in x.message
               for x in t.findings)


def test_spillover_of_a_function_without_provisioned_concurrency_is_a_known_zero(store):
    r = result([fn("plain"), fn("warm")], coverage=[(T0, END)], now=END - 1,
               provisioned=[ProvisionedConfig("warm", "live", 10, 10, 10, "READY")])
    r.coverage = [c for c in r.coverage if c.scope != "alias"]   # the alias series were not read
    write(store, r, at=END - 1)
    _, t = one(store)
    f = {x.name: x for x in t.functions}
    assert (f["plain"].provisioned_spillover, f["warm"].provisioned_spillover) == (0, None)


def test_no_queue_readable_is_an_unknown_depth_never_zero(store):
    # mutation guard: a DLQ depth read as 0 when no queue could be read
    r = result([fn("jobs", dlq=DLQ)], coverage=[(T0, END)], now=END - 1,
               queues=[QueueDepth(DLQ, "jobs-dlq", None, None, None, "AccessDenied: denied")])
    write(store, r, at=END - 1)
    _, t = one(store)
    assert (t.dlq_messages, t.functions[0].dlq_messages, t.groups[0].dlq_messages) == (None, None, None)
    assert t.status == "unknown"
    # the function it feeds is not ok either (its events may be waiting there), and says why; so is its group
    f = t.functions[0]
    assert (f.status, [x.message for x in f.findings]) == ("unknown", ["DLQ jobs-dlq: AccessDenied: denied"])
    assert f.verdict("dlq_messages") == review.Verdict("unknown", "DLQ jobs-dlq: AccessDenied: denied")
    assert (t.groups[0].status, t.groups[0].reason) == ("unknown", "DLQ jobs-dlq: AccessDenied: denied")
    assert (t.queues[0].status, t.queues[0].reason) == ("unknown", "DLQ jobs-dlq: AccessDenied: denied")


def test_an_old_queue_depth_is_not_a_depth_now(store):
    r = result([fn("jobs", dlq=DLQ)], coverage=[(T0, END)], now=T0,
               queues=[QueueDepth(DLQ, "jobs-dlq", 42, 0, 0)])
    write(store, r)
    _, fresh = one(store, now=T0 + 60, end=T0 + 60)
    assert fresh.dlq_messages == 42
    _, old = one(store, now=T0 + 3600)
    assert old.dlq_messages is None and old.functions[0].dlq_messages is None


def test_the_stored_group_of_a_function_is_the_one_used(store):
    # mutation guard: a prefix rule stored "legacy-billing-x" in "payments"; its name says "legacy"
    r = result([fn("payments-charge", groups={"prefix": "payments"}),
                fn("legacy-billing-x", groups={"prefix": "payments"})],
               [Point("ConcurrentExecutions", "payments-charge", "", T0 + 60, 3),
                Point("ConcurrentExecutions", "legacy-billing-x", "", T0 + 60, 4)], coverage=[(T0, END)], now=END - 1)
    write(store, r, at=END - 1)
    _, t = one(store)
    assert [(g.name, g.function_count, g.peak_concurrency) for g in t.groups] == [("payments", 2, 7)]


def test_headroom_is_graded_from_claimed_concurrency_too(store):
    # mutation guard: 100 busy of 1,000, but 950 claimed (reserved + provisioned): 5 % headroom
    r = result([fn("a")], [Point("AccountConcurrentExecutions", "", "", T0 + 60, 100),
                           Point("ClaimedAccountConcurrency", "", "", T0 + 60, 950)], coverage=[(T0, END)],
               now=END - 1)
    write(store, r, at=END - 1)
    _, t = one(store)
    assert (t.concurrency_headroom, t.concurrency_headroom_pct) == (50, 5.0)
    assert {(x.kind, x.severity) for x in t.findings} == {("claimed_concurrency", "critical")}
    assert t.status == "critical"
    v = t.verdict
    assert (v("concurrency").status, v("claimed_concurrency").status) == ("ok", "critical")
    headroom = review.worst_verdict(v("concurrency"), v("claimed_concurrency"))
    assert headroom == review.Verdict("critical", "peak claimed concurrency 950 of 1,000 (95 %)")


def test_data_older_than_max_age_is_stale_and_unknown(store):
    r = result([fn("a")], coverage=[(T0, END)], now=END - 1)
    write(store, r, at=END - 1)
    _, fresh = one(store, now=END + 60, max_age_s=180)
    assert fresh.status == "ok" and not fresh.health.stale
    # two days later: the old numbers are not "ok"
    _, stale = one(store, now=END + 2 * 86400, start=END + 2 * 86400 - 3600, end=END + 2 * 86400, max_age_s=180)
    assert stale.status == "unknown" and stale.health.stale
    assert stale.invocations is None and stale.peak_concurrency is None
    msg = next(x.message for x in stale.findings if x.kind == "stale")
    assert msg.startswith("prod us-east-1: stale: no data for 2 d 0 h (max age 3 min)")
    assert [review.age_text(s) for s in (59, 840, 7200, 11100, 48 * 3600 + 4 * 3600)] == [
        "0 min", "14 min", "2 h 0 min", "3 h 5 min", "2 d 4 h"]


def test_a_configured_target_that_never_reached_the_store_is_unknown_with_its_errors(store):
    ok = result([fn("a")], coverage=[(T0, END)], now=END - 1)
    refused = result(account=None, region="eu-west-1", errors=[CollectError(
        "session", "sts:GetCallerIdentity", "AccessDenied", "not authorized")], now=END - 1)
    write(store, ok, refused, at=END - 1)
    rv = review.review(store, T0, END, DEFAULT_THRESHOLDS, now=END,
                       expected=[("prod", REGION), ("prod", "eu-west-1"), ("prod", "ap-south-1")])
    got = {(t.target, t.region): t for t in rv.targets}
    assert sorted(got) == [("prod", "ap-south-1"), ("prod", "eu-west-1"), ("prod", REGION)]
    assert (got[("prod", REGION)].status, got[("prod", "eu-west-1")].status,
            got[("prod", "ap-south-1")].status) == ("ok", "unknown", "unknown")
    assert got[("prod", "eu-west-1")].findings[0].message == (
        "prod eu-west-1: never collected: AccessDenied on sts:GetCallerIdentity: not authorized")
    assert got[("prod", "ap-south-1")].findings[0].message == (
        "prod ap-south-1: never collected: no error recorded: is the collector running?")
    assert rv.status == "unknown" and [e["code"] for e in rv.errors] == ["AccessDenied"]


def test_account_limits_never_read_are_unknown(store):
    r = result([fn("a")], coverage=[(T0, END)], now=END - 1)
    r.account_info = None   # GetAccountSettings denied since the first cycle
    write(store, r, at=END - 1)
    rv, t = one(store, expected=[("prod", REGION)])
    assert (t.concurrency_limit, t.concurrency_headroom, t.status) == (None, None, "unknown")
    assert any("account limits unknown" in x.message for x in t.findings)


def test_a_floor_below_the_threshold_is_unknown_not_ok_and_a_floor_above_it_is_graded(store):
    """The first minute of the dashboard: only the last half hour is collected. A 590 peak of 1,000 then
    is a floor: the half not read may hold 950, so the tile must not be green (issue: 59 % headroom shown
    green, then 94 % once history landed). A floor already past the threshold is a true warn."""
    half = T0 + 1800
    quiet = result([fn("a")], [Point("AccountConcurrentExecutions", "", "", half + 60, 590),
                               Point("ClaimedAccountConcurrency", "", "", half + 60, 850),
                               Point("Throttles", "a", "", half + 60, 0)], now=END - 1,
                   coverage=[Covered("account", "", half, END), Covered("function", "a", half, END)])
    write(store, quiet, at=END - 1)
    _, t = one(store)
    assert (t.peak_concurrency, t.peak_claimed_concurrency, t.metrics_known, t.coverage_ratio) == (
        590, 850, "partial", 0.5)
    assert t.verdict("concurrency") == review.Verdict("unknown", "a floor: 50 % of the window collected")
    assert t.verdict("claimed_concurrency") == review.Verdict("warn", "peak claimed concurrency 850 of 1,000 (85 %)")
    assert t.verdict("throttles") == review.Verdict("unknown", "1 function(s) not collected for the whole window")
    f = t.functions[0]
    assert f.verdict("throttles") == review.Verdict("unknown", "a floor: 50 % of the window collected")
    assert t.verdict("code_storage").status == "ok"   # read live (GetAccountSettings), not over the window
    # the same store over the half that was collected: known, and ok where ok
    _, t = one(store, start=half)
    assert (t.verdict("concurrency"), t.verdict("throttles")) == (review.Verdict("ok", ""), review.Verdict("ok", ""))
