"""Real-browser tests: the README's command in headless Chromium (Debian's), driven by Playwright.

`python -m streamlit run dashboard/app.py` from the repo root on a free loopback port opens on the
simulated fleet: numbers on screen, charts render, every page clicks through without a console
error, and the throttling group and the filling DLQ are two clicks from the Overview. (How fast the
numbers arrive is a performance target: bench/time_to_data.py measures it, BENCHMARKS.md records it.)
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt install chromium)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log: Path, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "HEADROOM_CONFIG"}
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.headless", "true", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo_app(browser, tmp_path_factory) -> Iterator[tuple[str, float, object]]:
    """The README's command; yields (base url, seconds from the command to the first number, page)."""
    port = free_port()
    log = tmp_path_factory.mktemp("browser") / "streamlit.log"
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    t0 = time.monotonic()
    proc = start_app(port, log)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                page.goto(url + "/", timeout=2000)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if proc.poll() is not None or time.monotonic() - t0 > 60:
                    pytest.fail(f"streamlit did not start:\n{log.read_text()}")
                time.sleep(0.2)
        page.get_by_text("Concurrency headroom").first.wait_for(timeout=90_000)
        took = time.monotonic() - t0
        print(f"time from the command to data on screen: {took:.1f} s")
        page.errors = errors  # type: ignore[attr-defined]
        yield url, took, page
    finally:
        stop(proc)


def wait_idle(page, timeout: float = 30) -> None:
    """Until Streamlit has finished running the script: the app says its script is not running (after a page
    load it says "initial" until the first run starts, so this cannot pass before the run) and the status
    widget is gone. The half-second first gives a click's rerun time to start."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout * 1000)


def test_simulated_fleet_on_screen_with_charts(demo_app):
    url, took, page = demo_app
    assert page.get_by_text("Simulated fleet").first.is_visible()
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").count() >= 2
    assert page.locator(".js-plotly-plot .main-svg").count() >= 2   # plotly drew, not just a placeholder


def test_throttling_and_filling_dlq_two_clicks_from_the_overview(demo_app):
    url, took, page = demo_app
    page.goto(url + "/")
    page.get_by_text("Concurrency headroom").first.wait_for(timeout=60_000)
    wait_idle(page)
    # click 1: the Overview's attention line for throttles (the worst function, and how many more) -> Triage
    page.get_by_role("link", name=re.compile(r"search-api-\S+: [\d,]+ throttles \(\+[\d,]+ more\)")).first.click()
    page.get_by_role("heading", name="Triage").wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_text(re.compile("Top offender: search-api-")).wait_for(timeout=30_000)
    # click 2: back on the Overview, the filling DLQ's link -> its row on Triage
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Overview", exact=True).click()
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("link", name=re.compile(r"DLQ orders-worker-fulfil-dlq: [\d,]+ messages waiting")).first.click()
    page.get_by_role("heading", name=re.compile("Dead-letter queues with messages")).wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_text(re.compile(r"Deepest: orders-worker-fulfil-dlq with [\d,]+ messages")).wait_for(timeout=10_000)


def test_every_page_clicks_through_without_console_errors(demo_app):
    url, took, page = demo_app
    page.goto(url + "/")
    page.get_by_text("Concurrency headroom").first.wait_for(timeout=60_000)
    for title, heading in (("Triage", "Triage"), ("Limits review", "Limits review"), ("Groups", "Groups"),
                           ("Function", "Function"), ("Overview", "Overview")):
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=30_000)
        wait_idle(page)
        if title != "Triage":   # the only page without a chart
            page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        assert not page.get_by_text("Traceback").count(), f"{title} shows an exception"
        assert not page.locator('[data-testid="stException"]').count(), f"{title} shows an exception"
    assert page.errors == []   # type: ignore[attr-defined]


def test_config_argument_shows_that_store_and_starts_no_sandbox(browser, seeded, tmp_path):
    port = free_port()
    log = tmp_path / "streamlit.log"
    proc = start_app(port, log, "--", "--config", str(seeded))
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    try:
        for _ in range(100):
            try:
                page.goto(f"http://127.0.0.1:{port}/", timeout=2000)
                break
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
        page.get_by_text("130 (13 %)").wait_for(timeout=30_000)
        assert not page.get_by_text("Simulated fleet").count()
    finally:
        page.close()
        stop(proc)
    assert "fleet built" not in log.read_text()
