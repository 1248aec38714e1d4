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
