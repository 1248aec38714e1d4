# ruff: noqa: F811 - the fixtures imported from test_browser are parameters of every test here
"""Real-browser tests of the answers at a glance (issue 9), on the README's simulated fleet.

One dashboard for the module (the README's command, see test_browser.demo_app): the Triage row's
function name opens that function's page in the same tab on the incident's window; /overview is the
Overview.
"""
from __future__ import annotations

import re

from tests.dashboard.test_browser import browser, demo_app, pytestmark, wait_idle  # noqa: F401 - fixtures

ROW_H = 35   # st.dataframe's default row (and header) height, px


def open_page(demo_app, path: str, ready: str) -> object:
    url, _, page = demo_app
    page.goto(url + path)
    page.get_by_text(ready).first.wait_for(timeout=60_000)
    wait_idle(page)
    return page


def test_a_triage_rows_function_name_opens_its_function_page_in_the_same_tab(demo_app):
    page = open_page(demo_app, "/triage", "Top offender")
    top = re.search(r"Top offender: (\S+) with", page.get_by_text("Top offender").first.inner_text()).group(1)
    pages_before = len(page.context.pages)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    # the pinned first column holds the function's name; the first row is the top offender
    page.mouse.click(box["x"] + 60, box["y"] + ROW_H + ROW_H / 2)
    page.get_by_role("heading", name="Function", exact=True).wait_for(timeout=30_000)
    wait_idle(page)
    assert len(page.context.pages) == pages_before            # same tab, no new one
    assert f"fn={top}" in page.url and "/function?" in page.url
    assert "window=1h" in page.url                            # it throttles now: the last hour
    page.get_by_role("heading", name=top).wait_for(timeout=10_000)
    # the review's reason for its status, at the top
    page.get_by_text(re.compile(rf"critical: {re.escape(top)}: [\d,]+ throttles")).wait_for(timeout=10_000)


def test_overview_path_opens_the_overview(demo_app):
    page = open_page(demo_app, "/overview", "Concurrency headroom")
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=10_000)
    assert not page.get_by_text("Page not found").count()


def test_wall_screen_shows_every_account_and_region_above_the_fold(demo_app, browser):
    url, _, _ = demo_app
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        page.goto(url + "/?view=wall")
        rows = page.locator(".hw-row")
        rows.nth(3).wait_for(timeout=90_000)          # 2 accounts x 2 regions, the simulated fleet
        wait_idle(page)
        assert rows.count() == 4
        for i in range(4):
            box = rows.nth(i).bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 1000, (i, box)
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        summary = page.locator(".hw-sum").inner_text()
        assert re.search(r"Fleet (CRITICAL|WARN|UNKNOWN|OK) · 4 account/regions: ", summary), summary
        heads = [rows.nth(i).locator(".hw-head .st").inner_text() for i in range(4)]
        order = {"CRITICAL": 0, "UNKNOWN": 1, "WARN": 2, "OK": 3}
        assert heads[0] == "CRITICAL" and [order[h] for h in heads] == sorted(order[h] for h in heads)  # worst first
        assert "prod · us-east-1" in rows.nth(0).inner_text()     # where the incidents are
        # large type: the figures are readable across a room
        size = rows.nth(0).locator(".hw-tile .v").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 30
    finally:
        page.close()


def click_until(page, button: str, shown) -> None:
    """Click `button` until the locator `shown` is visible (three tries, 20 s each). The simulated fleet's
    collector writes every minute and the page then reruns by itself; Streamlit can drop a click whose rerun
    races that one (as a CI run did once), and a user would click again."""
    for attempt in range(3):
        wait_idle(page)
        if attempt and shown.is_visible():   # it was slow, not dropped
            return
        page.get_by_role("button", name=re.compile(button)).click()
        try:
            shown.wait_for(timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - not shown yet: the click was dropped, or the page is slow
            if attempt == 2:
                raise


def test_overview_has_a_wall_screen_toggle(demo_app):
    page = open_page(demo_app, "/", "Concurrency headroom")
    click_until(page, "Wall screen", page.locator(".hw-row").first)
    assert "view=wall" in page.url
    click_until(page, "Leave the wall screen", page.get_by_role("heading", name="Overview", exact=True))
    assert "view=wall" not in page.url


def test_limits_review_opens_on_the_most_urgent_target_with_weeks_until_the_limit(demo_app):
    page = open_page(demo_app, "/limits", "Weekly peaks over the last")
    # 13 weeks of earlier history on the simulated fleet: a trend, so a number of weeks, not "needs 3 weeks"
    title = page.get_by_text(re.compile(r"Peak concurrent executions: [\d.]+ weeks to the limit")).first
    title.wait_for(timeout=30_000)
    weeks = float(re.search(r"([\d.]+) weeks", title.text_content()).group(1))   # an SVG title
    assert 0 < weeks < 52
    assert not page.get_by_text(re.compile("needs 3 weeks of history")).count()
    # the open tab is the target in trouble (prod us-east-1: critical, nearest its limit)
    selected = page.locator('[role="tab"][aria-selected="true"]').first.inner_text()
    assert selected == "prod · 123456789012 · us-east-1"
    first = page.locator('[role="tab"]').first.inner_text()
    assert first == selected


BAD_WORD = re.compile(r"(?<![\w-])(None|nan|NaN|<NA>)(?![\w-])")
CELLS_JS = """g => { const heads = [...g.querySelectorAll('th')].map(h => h.textContent.trim());
  return [...g.querySelectorAll('tr')].slice(1).flatMap(r => [...r.querySelectorAll('td')]
    .map((c, j) => [heads[j] || String(j), c.textContent.trim()])); }"""


def test_no_none_nan_or_empty_cell_on_any_page(demo_app):
    url, _, page = demo_app
    seen_cells = 0
    for path, ready in (("/", "Concurrency headroom"), ("/triage", "Top offender"), ("/limits", "weeks to the limit"),
                        ("/groups", "Compare groups by"), ("/function", "Configuration"),
                        ("/function?account=123456789012&region=us-east-1&fn=reports-worker-csv", "Configuration"),
                        ("/?view=wall", "Fleet ")):
        page.goto(url + path)
        page.get_by_text(ready).first.wait_for(timeout=60_000)
        wait_idle(page)
        text = page.locator("body").inner_text()
        assert not BAD_WORD.search(text), (path, BAD_WORD.search(text).group(0))
        for grid in page.locator('[data-testid="stDataFrame"]').all():
            if not grid.is_visible():   # in a closed expander or another tab
                continue
            grid.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            cells = grid.evaluate(CELLS_JS)
            seen_cells += len(cells)
            # a missing value is drawn as the table's placeholder ("unknown", on the canvas only: the grid's
            # accessible text leaves it empty); test_every_table_has_a_placeholder checks every table has one
            bad = [(col, v) for col, v in cells if v in ("None", "nan", "NaN", "<NA>")]
            assert not bad, (path, bad[:5])
    assert seen_cells > 300   # the tables were really read
