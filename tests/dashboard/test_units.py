"""The dashboard's pure modules: formatting, charts, reports, config resolution, windows."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from analysis import review
from analysis.review import GroupReview, TargetReview
from analysis.triage import CodeHolder, LimitTrend, OverReserved
from dashboard import charts, context, fmt, report, state


def test_fmt():
    assert (fmt.n(None), fmt.n(1234.0), fmt.n(12.5), fmt.n(0.0)) == ("unknown", "1,234", "12.5", "0")
    assert (fmt.pct(13.0), fmt.pct(None), fmt.ratio_pct(870, 1000), fmt.ratio_pct(1, None)) == \
        ("13 %", "unknown", "87 %", "unknown")
    assert fmt.gb(62 * 1024 ** 3) == "62.0 GB" and fmt.gb(None) == "unknown"
    assert (fmt.duration(95), fmt.duration(5400), fmt.duration(None)) == ("1 min 35 s", "1 h 30 min", "unknown")
    assert (fmt.step(60), fmt.step(300), fmt.step(3600)) == ("1 min", "5 min", "1 h")
    assert fmt.weeks(None) == "not at this rate" and fmt.weeks(2.04) == "2.0 weeks" and fmt.weeks(0) == "at the limit now"
    assert fmt.weeks(None, None) == "needs 3 weeks of history"
    assert fmt.group_label("") == "(no tag)" and fmt.group_label("x") == "x"


def test_md_escapes_markup():
    s = fmt.md("<b>x</b> *y* [z](http://e) `c` :red[r] $a$")
    for raw in ("<b>", "*y*", "[z]", "`c`", ":red[", "$a$"):
        assert raw not in s
    assert s.replace("\\", "") == "<b>x</b> *y* [z](http://e) `c` :red[r] $a$"


def test_timeseries_keeps_gaps_and_labels_limits():
    idx = pd.to_datetime([0, 60, 120, 180], unit="s", utc=True)
    df = pd.DataFrame({"Concurrent executions": [1.0, math.nan, math.nan, 0.0]}, index=idx)
    fig = charts.timeseries(df, "Concurrency <b>", "count", [(1000, "limit 1,000")])
    assert fig.data[0].connectgaps is False
    assert math.isnan(fig.data[0].y[1]) and fig.data[0].y[3] == 0.0
    assert [a.text for a in fig.layout.annotations] == ["limit 1,000"]
    line = fig.layout.shapes[0]   # across the whole plot, at the limit
    assert (line.type, line.xref, line.x0, line.x1, line.yref, line.y0, line.y1) == \
        ("line", "x domain", 0, 1, "y", 1000, 1000)
    assert fig.layout.title.text == "Concurrency &lt;b&gt;"
    assert charts.gaps(df) == [(idx[1], idx[2])]
    charts.shade_gaps(fig, df, 60)
    assert any(a.text == "not collected" for a in fig.layout.annotations)
    band = fig.layout.shapes[1]   # the gap's buckets, the whole height
    assert (band.type, band.yref, band.y0, band.y1) == ("rect", "y domain", 0, 1)
    assert (pd.Timestamp(band.x0), pd.Timestamp(band.x1)) == (idx[1], idx[2] + pd.Timedelta(seconds=60))


def test_budget_and_allocation_charts():
    fig = charts.concurrency_budget(1000, 370, 10, 630, 812, 870)
    names = [t.name for t in fig.data]
    # the pool is the review's unreserved figure (limit − reserved), the one `check` prints: not less provisioned
    assert names == ["reserved 370", "unreserved pool 630", "provisioned 10", "peak concurrency 812",
                     "peak claimed 870"]
    assert [list(t.x) for t in fig.data[:3]] == [[370], [630], [10]]
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["limit 1,000", "max reservable 900 (100 kept unreserved)"]
    fig = charts.allocation([("<i>t</i>", 300), ("payments", 70)], 1000)
    assert fig.data[0].name == "&lt;i&gt;t&lt;/i&gt; 300"
    assert [a.text for a in fig.layout.annotations] == ["limit 1,000", "max reservable 900"]


def test_weekly_trend_is_drawn_over_known_weeks_only():
    weeks = [(pd.Timestamp(i * 604800, unit="s", tz="UTC"), v) for i, v in enumerate([None, 10, 20, 30])]
    fig = charts.weekly_trend(weeks, 100, "t", "count", 10.0)
    trend = fig.data[1]
    assert len(trend.x) == 3 and list(trend.y) == [10, 20, 30]


def _target() -> TargetReview:
    return TargetReview("prod", "1", "us-east-1", 0.0, 1.0, 1000, None, 630, 812, 870, None, 130, 13.0, 370, 10,
                        62 * 1024 ** 3, 80_530_636_800, 7, 100, 203, 7, 0, 0, 15, 42, "critical")


def _section() -> report.Section:
    trends = [LimitTrend("concurrency", "Peak concurrent executions", "count", 1000, [(0, 800), (604800, 812)],
                         12.0, 15.7, 812),
              LimitTrend("code_storage", "Code storage used", "bytes", 80_530_636_800, [(0, None)], None, None, None)]
    groups = [GroupReview("tag:team", "<b>x</b>|y", 1, 12, 0, 0, 0, 300, 0, 0)]
    return report.Section(_target(), trends, groups, [CodeHolder("reports-nightly", "reports", 1, 2, 1, 40, 0.1)],
                          [OverReserved("reports-nightly", "reports", 300, 12, 288, 0.04)])


def test_report_csv():
    csv = report.to_csv(report.summary_rows([_section()]))
    lines = csv.splitlines()
    assert lines[0] == ("target,account,region,limit_name,unit,limit,latest_weekly_peak,percent_of_limit,"
                        "trend_per_week,weeks_until_limit")
    assert lines[1] == "prod,1,us-east-1,concurrency,count,1000,812,81.2,12.0,15.7"
    assert lines[2] == "prod,1,us-east-1,code_storage,bytes,80530636800,unknown,unknown,unknown,unknown"


def test_report_markdown_and_html_escape_user_strings():
    md = report.markdown([_section()], "last 24h", "now", "tag team")
    assert "| Peak concurrent executions | 812 | 1,000 | +12.0 | 15.7 weeks |" in md
    assert "<b>" not in md and "\\<b\\>x\\</b\\>\\|y" in md
    html = report.to_html([_section()], "last 24h", "now", "tag team")
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;|y" in html
    assert "15.7 weeks" in html and "reports-nightly" in html


def test_report_lists_the_findings_behind_its_status_and_leaves_names_readable():
    from analysis.review import Finding
    sec = _section()
    sec.target.findings = [
        Finding("warn", "dlq_messages", "1", "us-east-1", "orders-dlq", 42, 10, "orders-dlq: 42 messages"),
        Finding("critical", "throttles", "1", "us-east-1", "search-query", 200, 100, "search-query: 200 throttles")]
    md = report.markdown([sec], "last 24h", "now", "prefix")
    head = md.split("## prod · 1 · us-east-1 — CRITICAL\n\n", 1)[1].splitlines()
    assert head[:2] == ["- **CRITICAL** search-query: 200 throttles", "- **WARN** orders-dlq: 42 messages"]
    assert "search\\-query" not in md and "| reports-nightly |" in md   # names as they are
    html = report.to_html([sec], "last 24h", "now", "prefix")
    assert "<li><b class='critical'>CRITICAL</b> search-query: 200 throttles</li>" in html
    sec.target.findings, sec.target.status = [], "ok"
    assert "- No finding: every checked figure is ok." in report.markdown([sec], "last 24h", "now", "prefix")


def test_config_resolution(monkeypatch):
    assert context.config_arg(["--config", "a.toml"]) == "a.toml"
    assert context.config_arg(["--config=b.toml"]) == "b.toml"
    assert context.config_arg(["-q", "tests"]) is None
    c = context.resolve(["--config", "a.toml"], {"HEADROOM_CONFIG": "b.toml"})
    assert (c.demo, c.source, c.cfg.endswith("/a.toml")) == (False, "--config", True)
    c = context.resolve([], {"HEADROOM_CONFIG": "b.toml"})
    assert (c.demo, c.source, c.cfg.endswith("/b.toml")) == (False, "HEADROOM_CONFIG", True)
    from dashboard import demo
    monkeypatch.setattr(demo, "runtime", lambda: (_ for _ in ()).throw(RuntimeError("no moto")))
    c = context.resolve([], {})
    assert (c.demo, c.cfg, c.error) == (True, None, "RuntimeError: no moto")


def test_window_bounds():
    now = 1_800_000_030.0
    assert state.window_bounds("24h", "", "", now) == review.window(now, 86400)
    start, end = state.window_bounds("custom", "2027-01-01", "2027-01-02", now)
    assert start == int(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    assert end == min(start + 2 * 86400, review.window(now, 60)[1])
    assert state.window_bounds("custom", "garbage", "", now) == review.window(now, 86400)


def test_dummy_credentials_only(monkeypatch):
    from dashboard import demo
    env = {"AWS_PROFILE": "real", "AWS_ACCESS_KEY_ID": "AKIAREAL"}
    demo.use_dummy_credentials(env)
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and "AWS_PROFILE" not in env
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["AWS_CONFIG_FILE"]


def test_streamlit_config_binds_loopback():
    import tomllib
    from pathlib import Path
    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["address"] == "127.0.0.1" and cfg["server"]["headless"] is True
    assert cfg["browser"]["gatherUsageStats"] is False


def test_every_page_in_the_router_exists():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "dashboard"
    pages = re.findall(r'st\.Page\("([^"]+)"', (root / "app.py").read_text())
    assert len(pages) == 5 and all((root / p).is_file() for p in pages)


@pytest.mark.parametrize("page", ["overview", "triage", "limits", "groups", "function"])
def test_pages_never_render_html(page):
    """No page passes unsafe_allow_html or st.html (names and tags are user strings)."""
    from pathlib import Path
    src = (Path(__file__).resolve().parents[2] / "dashboard" / "app_pages" / f"{page}.py").read_text()
    assert "unsafe_allow_html" not in src and "st.html" not in src


def test_wall_draws_no_green_while_the_review_does_not_know():
    from dashboard import wall
    calm = TargetReview("prod", "1", "us-east-1", 0.0, 1.0, 1000, None, 900, 100, 120, None, 880, 88.0, 0, 0,
                        1024 ** 3, 80_530_636_800, 7, 100, 0, 0, 0, 0, 0, 0, "ok")
    g = wall.shown_grades(calm)
    assert (g["headroom"], g["throttles"], g["code_storage"]) == ("ok", "ok", "ok")
    # history not collected yet: the account's peaks and the fleet's totals are floors, not known
    calm.metrics_known = calm.functions_known = "partial"
    calm.functions_unknown, calm.coverage_ratio, calm.status = 7, 0.02, "unknown"
    g = wall.shown_grades(calm)
    assert (g["headroom"], g["concurrency"], g["throttles"], g["async_events_dropped"]) == ("unknown",) * 4
    assert (g["code_storage"], g["dlq_messages"]) == ("ok", "ok")   # read live, not from history
    html_row = wall.row(calm)
    assert html_row.count(wall.BG["ok"]) == 2   # green only on the code storage and DLQ tiles


def test_units_each_once_and_right():
    assert (fmt.pct(0.82), fmt.pct(13.0), fmt.pct(0.0), fmt.pct(0.04), fmt.pct(5.0)) == \
        ("0.8 %", "13 %", "0 %", "< 0.1 %", "5 %")
    assert fmt.ratio_pct(31.5 * 1024 ** 2, 80_530_636_800) == "< 0.1 %"
    assert (fmt.size(31.5 * 1024 ** 2), fmt.size(62 * 1024 ** 3), fmt.size(512 * 1024), fmt.size(None)) == \
        ("31.5 MB", "62.0 GB", "512 KB", "unknown")
    assert fmt.gb(31.5 * 1024 ** 2) == "31.5 MB" and fmt.gb(80_530_636_800, 0) == "75 GB"   # never "0.0 GB"
    assert (fmt.duration(60), fmt.duration(3600), fmt.duration(6900), fmt.duration(86400 + 3600)) == \
        ("1 min", "1 h", "1 h 55 min", "1 d 1 h")
    assert (fmt.ms(326.4), fmt.ms(12_345), fmt.ms(125_000)) == ("326 ms", "12.3 s", "2 min 5 s")
    assert (fmt.cell(None), fmt.cell(float("nan")), fmt.cell(None, fmt.NOT_SET), fmt.cell(0)) == \
        ("unknown", "unknown", "—", 0)
    # a queue holding messages whose age reads 0, a function that dropped events with age 0: unknown
    assert (fmt.age_of_oldest(0.0, 42), fmt.age_of_oldest(0.0, 0), fmt.age_of_oldest(5400, 42)) == \
        ("unknown", "0 s", "1 h 30 min")
    assert (fmt.event_age(0.0, 13), fmt.event_age(6_900_000, 13), fmt.event_age(None, 0)) == \
        ("unknown", "1 h 55 min", "unknown")


def test_every_table_has_a_placeholder_for_missing_values():
    """st.dataframe draws a missing value as "None" unless given a placeholder: every table on every page
    says "unknown" instead (the browser test reads the cells; it cannot see the canvas-drawn placeholder)."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "dashboard"
    calls = []
    for f in [*root.glob("app_pages/*.py"), *root.glob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dataframe":
                calls.append((f.name, node.lineno, {k.arg for k in node.keywords}))
    assert len(calls) >= 10
    assert [(f, line) for f, line, kw in calls if "placeholder" not in kw] == []


def test_wall_totals_are_unknown_not_zero_when_a_target_is_unknown():
    """The fleet line sums the targets: one target's throttles unknown and the rest 0 is not "0 throttles"
    (the quiet part may be the unknown one); a known floor above 0 is kept."""
    from dashboard import wall
    quiet = TargetReview("prod", "1", "us-east-1", 0.0, 1.0, 1000, None, 900, 100, 120, None, 880, 88.0, 0, 0,
                         1024 ** 3, 80_530_636_800, 7, 100, 0, 0, 0, 0, 0, 0, "ok")
    blind = TargetReview("staging", None, "eu-west-1", None, 0.0, None, None, None, None, None, None, None, None,
                         None, None, None, None, None, None, None, None, None, None, None, None, "unknown")
    line = wall.summary([quiet, blind], 100.0, 130.0, "last 24h")
    assert "unknown throttles" in line and "unknown DLQ messages" in line and "7 functions" in line
    quiet.throttles = 5
    assert "5 throttles" in wall.summary([quiet, blind], 100.0, 130.0, "last 24h")
    blind.dead_letter_errors = None
    assert "lost unknown" in wall.row(blind)


def test_the_wall_of_an_organisation_shows_the_worst_and_counts_the_rest():
    from dashboard import wall

    def t(i, status):
        return TargetReview(f"acct{i}", str(i), "us-east-1", 0.0, 1.0, 1000, None, 900, 100, 120, None, 880, 88.0, 0, 0,
                            1024 ** 3, 80_530_636_800, 7, 100, 0, 0, 0, 0, 0, 0, status)
    few = [t(i, "ok") for i in range(wall.WALL_ROWS)]
    assert wall.rows_shown(few) == (few, "")
    many = [t(0, "critical"), t(1, "unknown"), t(2, "warn")] + [t(i, "ok") for i in range(3, 400)]
    shown, more = wall.rows_shown(many)
    assert [x.target for x in shown] == ["acct0", "acct1", "acct2"]
    assert more == "+ 397 more account-regions: 397 ok (the Overview lists every one)"
    worse = [t(i, "critical") for i in range(12)] + [t(i, "ok") for i in range(12, 20)]
    shown, more = wall.rows_shown(worse)
    assert len(shown) == 5 and more == "+ 15 more account-regions: 7 critical, 8 ok (the Overview lists every one)"
