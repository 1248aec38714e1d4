"""Every page over the seeded store (tests/dashboard/seed.py): the numbers shown, filters, group-by,
errors and empty states. The expected values are the seed's literals, worked out by hand."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from dashboard import fmt
from tests.dashboard.conftest import joined, texts
from tests.dashboard.seed import MARKUP_TEAM, PROD, STAGING

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def tiles(at) -> list[str]:
    return [m.value.removeprefix("### ") for m in at.markdown if m.value.startswith("### :")]


def fig_y(y) -> list[float]:
    """A plotly trace's y values (plotly ships numeric arrays as base64 typed buffers)."""
    if isinstance(y, dict):
        import base64

        import numpy as np
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist()
    return [float("nan") if v is None else v for v in y]


def utc_minute(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M") + " UTC"


# -- Overview -------------------------------------------------------------------------------------
def test_overview_numbers_and_colours(run_page):
    at = run_page("overview")
    t = tiles(at)
    # prod: limit 1,000, peak 812, claimed 870 -> headroom 130 = 13 %, graded warn (claimed 87 % >= 80 %)
    assert t[:8] == [":orange[130 (13 %)]", ":orange[812 / 1,000]", ":orange[870 / 1,000]",
                     ":orange[62.0 GB / 75 GB]", ":green[7]", ":red[203]", ":orange[7]", ":orange[42]"]
    assert t[8:16] == [":green[440 (88 %)]", ":green[50 / 500]", ":green[60 / 500]", ":green[2.0 GB / 75 GB]",
                       ":green[3]", ":green[0]", ":green[0]", ":green[0]"]
    captions = [c.value for c in at.caption]
    assert any("87 % of the limit" in c for c in captions)
    assert any("reserved 370 · provisioned 10" in c for c in captions)
    # staging's headroom is against the 500 Lambda enforces; the differing Service Quotas value is shown
    assert [c for c in captions if "Service Quotas" in c] == [
        ":green[:material/check_circle:] of the 500 limit, left at the peak · Service Quotas says 1,000"]


def test_overview_matches_check(seeded, run_page):
    """The tiles show what `python -m collectors check` computes for the same window."""
    import time

    from collectors import config
    from analysis import review
    from collectors.store import Store
    s = config.load(seeded)
    rv = review.review(Store(s.store_path, readonly=True), *review.window(time.time(), 86400), s.thresholds)
    t = {x.account: x for x in rv.targets}
    at = run_page("overview")
    shown = tiles(at)
    for acc in (PROD, STAGING):
        x = t[acc]
        assert any(f"{fmt.n(x.concurrency_headroom)} ({fmt.pct(x.concurrency_headroom_pct)})" in v for v in shown)
        assert any(f"[{fmt.n(x.throttles)}]" in v for v in shown)


def test_overview_attention_lists_the_reviews_findings_worst_first(run_page):
    """Every line is a finding of the review (the same message `check` prints), worst first, linked to
    the page that explains it: the critical function at 50 of 50 reserved is on a line (it was not)."""
    at = run_page("overview", account=PROD)
    links = [(p.proto.label.replace("\\", ""), p.proto.page, p.proto.query_string) for p in at.get("page_link")]
    where = f"account={PROD}&region=us-east-1&window=24h&group_by=prefix"
    red, orange = ":red[:material/error:]", ":orange[:material/warning:]"
    where = f"account={PROD}&region=us-east-1&window=24h&group_by=prefix"
    red, orange = ":red[:material/error:]", ":orange[:material/warning:]"
    assert links == [   # one line per check not ok: the worst subject's reason and how many more
        # its throttling ended 21 min ago: the function page opens on the last 6 h, around it
        (f"{red} payments-api-charge: peak concurrency 50 of 50 reserved (100 %)", "function",
         f"{where.replace('24h', '6h')}&fn=payments-api-charge"),
        (f"{red} payments-api-charge: 200 throttles (+1 more)", "triage", where),   # payments-worker's 3
        (f"{orange} peak concurrency 812 of 1,000 (81 %)", "limits", where),
        (f"{orange} peak claimed concurrency 870 of 1,000 (87 %)", "limits", where),
        (f"{orange} code storage 62.0 GB of 75.0 GB (83 %)", "limits", where),
        (f"{orange} orders-ingest: 7 async events dropped", "function", f"{where}&fn=orders-ingest"),
        (f"{orange} orders-api: 15 invocations spilled over provisioned concurrency", "function", f"{where}&fn=orders-api"),
        (f"{orange} DLQ orders-dlq: 42 messages waiting · growing 12/h", "triage", where),
    ]
    # the tiles carry the same verdicts, reasons under them
    caps = [c.value for c in at.caption]
    assert "payments\\-api\\-charge\\: 200 throttles \\(\\+1 more\\)" in caps


def test_overview_collection_errors_always_visible(run_page):
    at = run_page("overview")
    side = [c.value for c in at.sidebar.caption]
    assert any("sts\\:AssumeRole" in c and "**AccessDenied**" in c and "staging · us\\-east\\-1" in c for c in side)
    assert any("1 collection error(s)" in e.value for e in at.sidebar.error)
    df = at.dataframe[0].value
    assert df.to_dict("records")[0]["code"] == "AccessDenied"
    assert any("collected nothing" in w.value for w in at.warning)


def test_overview_account_filter_from_the_url(run_page):
    at = run_page("overview", account=STAGING)
    t = tiles(at)
    assert ":green[440 (88 %)]" in t and ":orange[130 (13 %)]" not in t
    assert at.selectbox(key="w_account").value == STAGING


def test_selections_are_mirrored_in_the_url(run_page):
    at = run_page("overview")
    at.selectbox(key="w_account").set_value(STAGING).run()
    at.radio(key="w_window").set_value("7d").run()
    assert at.query_params["account"] == [STAGING] or at.query_params["account"] == STAGING
    qp = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert qp["window"] == "7d" and qp["account"] == STAGING
    # a pasted link with that URL opens the same selection
    at2 = run_page("overview", **qp)
    assert at2.radio(key="w_window").value == "7d" and at2.selectbox(key="w_account").value == STAGING


def test_window_changes_the_numbers(run_page):
    # 1 h: the payments-worker throttle (50 min ago) and charge's 200 are inside; 7 d adds nothing else.
    at = run_page("overview", window="1h")
    assert ":red[203]" in tiles(at)[5]
    assert any("last 1h" in c for c in texts(at))


# -- Triage ---------------------------------------------------------------------------------------
def test_triage_rows_worst_first_with_since_and_links(run_page, seed_info):
    _, m = seed_info
    at = run_page("triage")
    thr = at.dataframe[0].value.to_dict("records")
    assert [r["function"] for r in thr] == ["payments-api-charge", "payments-worker"]
    top = thr[0]
    assert (top["status"], top["throttles"], round(top["throttle rate"], 2), top["peak concurrency"],
            top["reserved"]) == ("critical", 200, 3.23, 50, "50")   # 200 / (6,000 + 200), shown "3.2 %"
    assert top["since (UTC)"] == utc_minute(m - 40 * 60) and top["last (UTC)"] == utc_minute(m - 21 * 60)
    assert list(at.dataframe[0].value.columns)[:2] == ["function", "status"]   # the name first (pinned)
    assert top["console"] == ("https://us-east-1.console.aws.amazon.com/lambda/home?region=us-east-1"
                              "#/functions/payments-api-charge")
    assert any("Top offender: **payments\\-api\\-charge** with **200** throttles" in t for t in texts(at))

    asy = at.dataframe[1].value.to_dict("records")
    assert [(r["function"], r["dropped"], r["DLQ"], r["on-failure"]) for r in asy] == \
        [("orders-ingest", 7, "orders-dlq", "—")]   # no on-failure destination: not configured
    dlq = at.dataframe[2].value.to_dict("records")
    assert [(r["queue"], r["visible"], round(r["growth /h"]), r["fed by"], r["oldest message"]) for r in dlq] == \
        [("orders-dlq", 42, 12, "orders-ingest", "1 h 30 min")]
    assert any("Deepest: **orders\\-dlq** with **42** messages, growing **12/h**, oldest 1 h 30 min, fed by "
               "orders\\-ingest" in t for t in texts(at))
    assert dlq[0]["console"].startswith("https://us-east-1.console.aws.amazon.com/sqs/v3/home?region=us-east-1#/queues/")
    sp = at.dataframe[3].value.to_dict("records")
    assert [(r["function"], r["alias"], r["spillover invocations"], r["provisioned"]) for r in sp] == \
        [("orders-api", "live", 15, 10)]


def test_triage_group_filter_and_search(run_page):
    at = run_page("triage", group="orders")
    assert any("No function throttled" in s.value for s in at.success)
    assert at.dataframe[0].value["function"].tolist() == ["orders-ingest"]   # async failures still listed
    at = run_page("triage", q="worker")
    assert at.dataframe[0].value["function"].tolist() == ["payments-worker"]


def test_triage_tag_grouping_changes_the_group_column(run_page):
    at = run_page("triage", group_by="tag:team", group="payments")
    assert at.dataframe[0].value["group"].tolist() == ["payments", "payments"]
    at = run_page("triage", group_by="prefix:2")
    assert at.dataframe[0].value["group"].tolist() == ["payments-api", "payments-worker"]


# -- Groups ---------------------------------------------------------------------------------------
def _groups(at) -> dict[str, dict]:
    return {(r["account"], r["group"]): r for r in at.dataframe[0].value.to_dict("records")}


def test_groups_by_prefix(run_page):
    g = _groups(run_page("groups"))
    pay = g[(PROD, "payments")]
    assert (pay["functions"], pay["invocations"], pay["errors"], pay["throttles"], pay["peak concurrency"],
            pay["reserved"]) == (3, 6000, 5, 203, 55, 70)   # peak: charge 50 + refund 5 in the same minute
    orders = g[(PROD, "orders")]
    assert (orders["functions"], orders["peak concurrency"], orders["async dropped"], orders["DLQ messages"]) == \
        (2, 18, 7, "42")
    assert all(r["why"] for r in g.values()) and all(r["DLQ messages"] for r in g.values())   # never an empty cell
    assert set(g) == {(PROD, "payments"), (PROD, "orders"), (PROD, "reports"), (PROD, "legacy"),
                      (STAGING, "web"), (STAGING, "jobs")}
    assert next(iter(g.values()))["group"] == "payments"    # most throttles first


def test_groups_by_tag_keep_markup_as_text(run_page):
    at = run_page("groups", group_by="tag:team", account=PROD)
    g = {r["group"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert set(g) == {"payments", "orders", MARKUP_TEAM, "(no tag)"}
    assert g[MARKUP_TEAM]["reserved"] == 300 and g["(no tag)"]["functions"] == 1
    assert all("<b>" not in t for t in texts(at))   # never rendered as markup anywhere


def test_groups_by_prefix_depth_two_and_filter(run_page):
    at = run_page("groups", group_by="prefix:2", account=PROD, group=["payments-api", "payments-worker"])
    g = {r["group"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert set(g) == {"payments-api", "payments-worker"}
    assert (g["payments-api"]["functions"], g["payments-api"]["peak concurrency"], g["payments-api"]["throttles"]) \
        == (2, 55, 200)
    assert g["payments-worker"]["peak concurrency"] == 30
    drill = at.dataframe[1].value   # the drill-down of the first (most throttled) group
    assert drill["function"].tolist() == ["payments-api-charge", "payments-api-refund"]


def test_groups_drill_down_concurrency_chart_of_the_whole_group_and_of_the_searched_members(run_page):
    """The drill-down's concurrency chart: the whole group's (from its summaries) peaks at 55 (charge 50 +
    refund 5 in the same minute); with a search that keeps only charge, the chart sums charge alone: 50."""
    for params, peak in (({}, 55.0), ({"q": "charge"}, 50.0)):
        at = run_page("groups", account=PROD, group=["payments"], **params)
        (chart,) = [c for c in at.get("plotly_chart") if c.key == "g_ConcurrentExecutions"]
        ys = [y for y in fig_y(json.loads(chart.proto.spec)["data"][0]["y"]) if y == y]
        assert max(ys) == peak, params


# -- Limits review --------------------------------------------------------------------------------
def test_limits_review(run_page, seeded):
    import time

    from collectors import config
    from analysis import review, triage
    from collectors.store import Store
    at = run_page("limits", account=PROD)
    summary = {r["limit"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert (summary["Peak concurrent executions"]["latest weekly peak"], summary["Peak concurrent executions"]
            ["limit value"], summary["Peak concurrent executions"]["% of limit"]) == ("812", "1,000", "81 %")
    assert (summary["Reserved concurrency allocated"]["latest weekly peak"],
            summary["Reserved concurrency allocated"]["limit value"]) == ("370", "900")
    assert summary["Reserved concurrency allocated"]["weeks until the limit"] == "not at this rate"   # flat
    assert (summary["Code storage used"]["latest weekly peak"], summary["Code storage used"]["% of limit"]) == \
        ("62.0 GB", "83 %")
    # weeks until: the collectors' own trend over the same weeks
    s = config.load(seeded)
    st_ = Store(s.store_path, readonly=True)
    a, b = review.window(time.time(), 86400)
    t = next(x for x in review.review(st_, a, b, s.thresholds).targets if x.account == PROD)
    trends = {x.key: x for x in triage.limit_trends(st_, t, 8, b)}
    assert trends["code_storage"].weeks_until is not None
    assert summary["Code storage used"]["weeks until the limit"] == fmt.weeks(trends["code_storage"].weeks_until, trends["code_storage"].slope_per_week)
    assert summary["Peak concurrent executions"]["weeks until the limit"] == fmt.weeks(trends["concurrency"].weeks_until, trends["concurrency"].slope_per_week)

    holders = at.dataframe[1].value.to_dict("records")
    assert (holders[0]["function"], holders[0]["all versions"], holders[0]["old versions"],
            holders[0]["versions"]) == ("reports-nightly", "5.0 GB", "5.0 GB", 40)   # in the unit that shows them
    over = at.dataframe[2].value.to_dict("records")
    assert [(r["function"], r["reserved"], r["peak concurrency"], r["unused"]) for r in over] == \
        [("reports-nightly", 300, 12, 288), ("payments-api-refund", 20, 5, 15)]   # not charge: peak 50 of 50
    assert any("370 reserved of the 900 that may be reserved (41 %)" in c.value for c in at.caption)
    assert [d.proto.label for d in at.get("download_button")] == \
        ["Review as CSV", "Report as Markdown", "Report as HTML"]


# -- Function -------------------------------------------------------------------------------------
def test_function_page_from_a_link(run_page):
    at = run_page("function", account=PROD, region="us-east-1", fn="payments-api-charge")
    assert at.selectbox(key="fn").value == "payments-api-charge"
    t = tiles(at)
    # graded figures carry the review's verdict; invocations have no threshold: grey, whatever the number
    assert t[:3] == [":red[50 / 50]", ":gray[6,000]", ":red[200]"]
    conf = dict(at.dataframe[0].value.values.tolist())
    assert (conf["reserved concurrency"], conf["memory"], conf["runtime"]) == ("50", "512 MB", "python3.12")
    assert at.dataframe[1].value.to_dict("records") == [{"key": "team", "value": "payments"}]
    assert at.query_params["fn"] in ("payments-api-charge", ["payments-api-charge"])
    # charts for what happened; one line for the metrics that stayed at zero (no ten flat charts)
    assert [c.key for c in at.get("plotly_chart")] == \
        ["f_Invocations", "f_Throttles", "f_Errors", "f_ConcurrentExecutions", "f_Duration"][:len(at.get("plotly_chart"))]
    idle = next(c.value for c in at.caption if c.value.startswith("No data in this window"))
    assert "Async events dropped" in idle and "Throttles" not in idle
    # the review's reasons for its status, at the top
    assert at.error[0].value.replace("\\", "").splitlines() == [
        ":red[:material/error:] **critical**: payments-api-charge: peak concurrency 50 of 50 reserved (100 %)  ",
        ":red[:material/error:] **critical**: payments-api-charge: 200 throttles"]


def test_function_page_defaults_to_the_worst_function(run_page):
    at = run_page("function", account=PROD)
    assert at.selectbox(key="fn").value == "payments-api-charge"


def test_function_page_renders_tags_as_text(run_page):
    at = run_page("function", account=PROD, fn="reports-nightly")
    assert at.dataframe[1].value.to_dict("records") == [{"key": "team", "value": MARKUP_TEAM}]
    assert all("<b>" not in t for t in texts(at))
    assert any("group **reports**" in t for t in texts(at))


def test_function_page_gaps_and_idle(run_page):
    """Staging was collected for the last 24 h only: over 7 days the older part is a gap (null), the
    covered idle part is 0."""
    at = run_page("function", account=STAGING, fn="web-backend", window="7d")
    ys = fig_y(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"])
    nulls = sum(1 for v in ys if v != v)
    zeros = sum(1 for v in ys if v == 0)
    assert len(ys) == 169 and nulls >= 6 * 24 - 1 and zeros >= 22   # hourly buckets over 7 days


# -- empty states -----------------------------------------------------------------------------------
def test_no_data_yet(run_page, tmp_path: Path):
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[store]\npath = "never.db"\n[[targets]]\nname = "prod"\nregions = ["us-east-1"]\n')
    at = run_page("overview", config=cfg)
    info = " ".join(i.value for i in at.info)
    assert "No data yet" in info and "python -m collectors collect --config" in info


def test_bad_config_is_explained(run_page, tmp_path: Path):
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[[targets]]\nname = "prod"\nregions = ["mars-1"]\n')
    at = run_page("overview", config=cfg)
    assert any("The config cannot be used" in e.value and "mars\\-1" in e.value for e in at.error)


def test_every_target_failing(run_page, tmp_path: Path):
    from collectors.model import CollectError, TargetResult
    from collectors.store import Store
    st_ = Store(tmp_path / "failed.db")
    cid = st_.begin_cycle(1.0)
    st_.write_target(cid, TargetResult("prod", "us-east-1", None, 1.0, 2.0, errors=[
        CollectError("session", "sts:GetCallerIdentity", "ExpiredToken", "The security token has expired")]))
    st_.end_cycle(cid, 2.0)
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[store]\npath = "failed.db"\n[[targets]]\nname = "prod"\nregions = ["us-east-1"]\n')
    at = run_page("triage", config=cfg)
    assert any("every target failed" in e.value for e in at.error)
    assert any("ExpiredToken" in c.value for c in at.sidebar.caption)


def test_simulated_fleet_that_cannot_start_is_explained(monkeypatch, run_page, seeded):
    from dashboard import demo
    monkeypatch.delenv("HEADROOM_CONFIG", raising=False)
    monkeypatch.setattr(demo, "runtime", lambda: (_ for _ in ()).throw(OSError("address in use")))
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert any("simulated fleet could not start" in e.value for e in at.error)
    assert "OSError: address in use" in [c.value for c in at.code][0]


def test_a_dead_collector_reads_stale_not_ok_on_the_pages(run_page, monkeypatch, seed_info):
    from dashboard import queries
    """The clock moved two days past the last cycle: every target says stale in place of green, and the
    DLQ's last depth is history, not what waits now."""
    minute = seed_info[1]
    monkeypatch.setattr(queries, "now", lambda: minute + 2 * 86400 + 30.0)
    at = run_page("overview")
    stale = [e.value.replace("\\", "") for e in at.error if "Stale since" in e.value]
    assert len(stale) == 2 and all(re.search(r"stale: no data for (47 h 59 min|2 d 0 h) \(max age 3 min\)", s) for s in stale)
    assert not any(":green[" in v for v in tiles(at)[:1])
    assert all(str(s.value).startswith(":gray[:material/help:]") for s in at.subheader)
    tri = run_page("triage")
    assert "42 messages" not in joined(tri)
    q = next(df.value for df in tri.dataframe if "queue" in df.value.columns).iloc[0]
    assert (q["queue"], q["status"], q["visible"]) == ("orders-dlq", "unknown", None)
    assert q["not measurable"].startswith("stale: 42 message(s) when last read")
