"""The Overview of an organisation: past 8 account-regions, one table row each (worst first, the
review's status and reason) and tiles and charts only for those that need attention."""
from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from analysis import review
from collectors import config
from collectors.model import Point
from collectors.store import Store
from dashboard import queries, report
from tests.collectors.helpers import fn, result
from tests.dashboard.conftest import APP

PEAKS = [950, 850] + [100] * 10    # of a 1,000 limit: critical (>= 90 %), warn (>= 80 %), ten ok


def seed(tmp_path, minute: int):
    store = Store(tmp_path / "h.db")
    cid = store.begin_cycle(minute - 40)
    for i, peak in enumerate(PEAKS):
        pts = [Point("AccountConcurrentExecutions", "", "", minute - 600, peak / 2),
               Point("AccountConcurrentExecutions", "", "", minute - 300, peak)]
        store.write_target(cid, result([fn(f"svc-{i}")], pts, [(minute - 2 * 86400, minute)], account=f"{300000000000 + i}",
                                       target=f"acct{i:02d}", now=minute - 30))
    store.end_cycle(cid, minute - 20)
    store.close()
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[store]\npath = "h.db"\n' + "".join(
        f'[[targets]]\nname = "acct{i:02d}"\nregions = ["us-east-1"]\n' for i in range(len(PEAKS))))
    return cfg


def test_many_account_regions_are_a_table_worst_first_and_detail_only_for_trouble(tmp_path, monkeypatch):
    minute = int(time.time()) // 60 * 60
    cfg = seed(tmp_path, minute)
    monkeypatch.setattr(queries, "now", lambda: minute + 30.0)
    monkeypatch.setenv("HEADROOM_CONFIG", str(cfg))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]

    table = at.dataframe[0].value
    assert len(table) == 12
    assert list(table["Status"]) == ["critical", "warn"] + ["ok"] * 10
    assert list(table["Headroom"][:3]) == ["5 %", "15 %", "90 %"]
    assert list(table["Peak / limit"][:2]) == ["950 / 1,000", "850 / 1,000"]
    # the reason is the review's own, the one `check` gives
    s = config.load(cfg)
    start, end = review.window(minute + 30.0, 86400)
    rv = review.review(Store(s.store, readonly=True), start, end, s.thresholds, now=minute + 30.0,
                       expected=s.expected(), max_age_s=s.collection.max_age_seconds)
    worst = next(t for t in rv.targets if t.target == "acct00")
    assert worst.status == "critical" and table["Why"][0] == worst.findings[0].message != ""
    assert table["Why"][5] == ""
    assert any("**12 account-regions:**" in m.value and "1 critical" in m.value and "10 ok" in m.value
               for m in at.markdown)
    # tiles and charts for the two in trouble only
    assert [h.value.split(" ", 1)[1].replace("\\", "") for h in at.subheader] == [
        "acct00 · 300000000000 · us-east-1", "acct01 · 300000000001 · us-east-1"]
    assert any("the other 10 are the table's rows" in c.value for c in at.caption)


def test_limits_of_many_account_regions_are_a_table_and_one_in_detail_with_every_one_exported(tmp_path, monkeypatch):
    minute = int(time.time()) // 60 * 60
    cfg = seed(tmp_path, minute)
    monkeypatch.setattr(queries, "now", lambda: minute + 30.0)
    monkeypatch.setenv("HEADROOM_CONFIG", str(cfg))
    exported = []
    rows = report.summary_rows
    monkeypatch.setattr(report, "summary_rows", lambda sections: exported.append(len(sections)) or rows(sections))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/limits.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) == 12 and list(table["Status"][:2]) == ["critical", "warn"]
    assert table["Account · region"][0] == "acct00 · 300000000000 · us-east-1"
    row = table.iloc[0].to_dict()
    assert "95 %" in row.values(), row                      # this week's peak, 950 of the 1,000 limit
    assert not at.tabs                                       # no tab per account-region
    pick = at.selectbox(key="limits_detail")
    assert pick.value == 0 and len(pick.options) == 12
    assert [h.value.split(" ", 1)[1].replace("\\", "") for h in at.subheader if "acct" in h.value] == [
        "acct00 · 300000000000 · us-east-1"]
    pick.set_value(1).run()
    assert [h.value.split(" ", 1)[1].replace("\\", "") for h in at.subheader if "acct" in h.value] == [
        "acct01 · 300000000001 · us-east-1"]
    assert exported == [12, 12]   # each run's CSV export covers every account-region, not only the one shown
