"""One verdict everywhere (real Chromium): every subject's status on every page equals `check --format json`'s.

The seeded store (tests/dashboard/seed.py) has a critical target, warn and ok functions, a warn queue and
a target that was never collected. The dashboard runs on it as a user would start it; each page is read
as a user sees it (the status icon before a heading, the status column of a table) and compared with the
statuses `python -m collectors check --format json` prints at the same minute.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard.seed import seed
from tests.dashboard.test_browser import ROOT, browser, free_port, start_app, stop, wait_idle  # noqa: F401

pytestmark = pytest.mark.browser

# Streamlit draws material icons from their names (a ligature font): the name is the text before a heading.
ICON = {"error": "critical", "warning": "warn", "check_circle": "ok", "help": "unknown"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A store of its own, seeded now, with a day's max age: the walk takes a minute or two, and the
    session's seed may be older than the default 3 minutes by then (stale: every status unknown), which
    would make the comparison depend on when this test runs, not on what the pages show."""
    cfg = seed(tmp_path_factory.mktemp("verdict"), time.time())
    cfg.write_text(cfg.read_text() + "\n[collection]\nmax_age_seconds = 86400\n")
    return cfg


@pytest.fixture(scope="module")
def seeded_app(browser, seeded) -> Iterator[tuple[str, Any]]:  # noqa: F811
    port = free_port()
    log = seeded.parent / "verdict-streamlit.log"
    proc = start_app(port, log, "--", "--config", str(seeded))
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                page.goto(url + "/", timeout=2000)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.2)
        page.get_by_text("Concurrency headroom").first.wait_for(timeout=60_000)
        yield url, page
    finally:
        page.close()
        stop(proc)


def check_json(cfg) -> dict[tuple[str, str, str], str]:
    """(kind, target/region, subject) -> status, as `check --format json` reports it."""
    out = subprocess.run([sys.executable, "-m", "collectors", "check", "--config", str(cfg), "--format", "json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode in (2, 3), out.stderr   # critical (or unknown): the seed is meant to need attention
    review = json.loads(out.stdout)
    statuses = {}
    for t in review["targets"]:
        where = f"{t['target']} {t['region']}"
        statuses[("target", where, "")] = t["status"]
        for kind in ("functions", "groups", "queues"):
            for x in t[kind]:
                statuses[(kind[:-1], where, x["name"])] = x["status"]
    return statuses


def open_page(page, url: str, path: str, heading: str) -> None:
    page.goto(url + path)
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    wait_idle(page)


def heading_statuses(page) -> list[tuple[str, str]]:
    """(status, heading text) of every subheader that starts with a status icon."""
    out = []
    for h in page.locator("h3").all():
        text = h.inner_text().strip()
        icon, _, rest = text.partition(" ")
        if icon in ICON:
            out.append((ICON[icon], rest.strip()))
    return out


def tables(page) -> list[list[dict[str, str]]]:
    """Every table on the page as rows of {column: text}: the data grid's accessible table, which holds the
    columns in view (the first ones: status and name come first) and appears once the grid has drawn."""
    out = []
    for grid in page.locator('[data-testid="stDataFrame"]').all():
        grid.scroll_into_view_if_needed()
        grid.locator('[role="columnheader"]').first.wait_for(state="attached", timeout=30_000)
        cols = [c.inner_text().strip() for c in grid.locator('[role="columnheader"]').all()]
        rows = []
        for r in grid.locator('[role="row"]').all():
            cells = [c.inner_text().strip() for c in r.locator('[role="gridcell"]').all()]
            if cells:
                rows.append(dict(zip(cols[-len(cells):], cells)))
        out.append(rows)
    return out


def test_every_page_shows_each_subjects_status_as_check_does(seeded_app, seeded):
    url, page = seeded_app
    want = check_json(seeded)
    seen: dict[tuple[str, str, str], set[str]] = {}

    def saw(key: tuple[str, str, str], status: str, where: str) -> None:
        assert key in want, f"{where}: {key} is not in check's review"
        seen.setdefault(key, set()).add(status)
        assert status == want[key], f"{where}: {key} is {status}, check says {want[key]}"

    targets = {k[1] for k in want if k[0] == "target"}

    def target_of(heading: str) -> str:
        (hit,) = [w for w in targets if w.split()[0] in heading and w.split()[1] in heading]
        return hit

    # Overview and Limits review: one heading per target, its status icon first
    for path, title in (("/", "Overview"), ("/limits", "Limits review")):
        open_page(page, url, path, title)
        heads = heading_statuses(page)
        assert len(heads) >= 2, f"{title}: {heads}"
        for status, text in heads:
            saw(("target", target_of(text), ""), status, title)

    # Triage: every function and queue row
    open_page(page, url, "/triage", "Triage")
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    rows = [r for t in tables(page) for r in t]
    assert rows, "Triage shows no table"
    for r in rows:
        if "queue" in r:
            saw(("queue", "prod us-east-1", r["queue"]), r["status"], f"Triage queue {r['queue']}")
        elif "function" in r:
            saw(("function", "prod us-east-1", r["function"]), r["status"], f"Triage {r['function']}")

    # Groups: every group row (the default grouping is check's), then the members of the one drilled into
    open_page(page, url, "/groups?account=123456789012&region=us-east-1", "Groups")
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stDataFrame\"]').length >= 2", timeout=60_000)
    group_rows, member_rows = tables(page)[:2]
    for r in group_rows:
        saw(("group", "prod us-east-1", r["group"]), r["status"], f"Groups {r['group']}")
    for r in member_rows:
        saw(("function", "prod us-east-1", r["function"]), r["status"], f"Groups member {r['function']}")

    # Function: every function of the critical target, its heading's status icon
    fns = sorted(k[2] for k in want if k[0] == "function" and k[1] == "prod us-east-1")
    for name in fns:
        open_page(page, url, f"/function?account=123456789012&region=us-east-1&fn={name}", "Function")
        page.get_by_role("heading", name=name).first.wait_for(timeout=30_000)
        (status, text), = [h for h in heading_statuses(page) if h[1] == name]
        saw(("function", "prod us-east-1", name), status, f"Function {name}")

    # the walk saw each kind of subject and every status the seed holds
    assert {k[0] for k in seen} == {"target", "function", "group", "queue"}
    assert {s for v in seen.values() for s in v} >= {"critical", "warn", "ok", "unknown"}
    assert all(("function", "prod us-east-1", n) in seen for n in fns)
