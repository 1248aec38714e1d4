"""From the README's command to numbers on screen, in headless Chromium (target: 20 s).

    python -m bench.time_to_data [--runs 5] [--quick]

Each run starts `python -m streamlit run dashboard/app.py` (the embedded simulated fleet) on a free
loopback port, opens it in Debian's Chromium via Playwright, and times until the Overview's first
tile ("Concurrency headroom") is visible; then the first chart. The browser runs on the same 2 cores,
as a user's would.
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, fmt, print_machine

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(browser) -> tuple[float, float]:
    """(seconds to the first number, seconds to the first drawn chart) from the command."""
    port = free_port()
    log = open(tempfile.mktemp(suffix=".log"), "w")
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port",
                             str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                page.goto(f"http://127.0.0.1:{port}/", timeout=2000)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if proc.poll() is not None or time.monotonic() - t0 > 60:
                    raise SystemExit(f"streamlit did not start; see {log.name}")
                time.sleep(0.2)
        page.get_by_text("Concurrency headroom").first.wait_for(timeout=120_000)
        data = time.monotonic() - t0
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=120_000)
        return data, time.monotonic() - t0
    finally:
        page.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one run")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright
    print_machine()
    data, chart = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for i in range(1 if args.quick else args.runs):
            d, c = one_run(browser)
            data.append(d)
            chart.append(c)
            print(f"run {i + 1}: first number {d:.1f} s, first chart {c:.1f} s", flush=True)
        browser.close()
    print(f"command -> first number on screen: {fmt(data, digits=1)}")
    print(f"command -> first chart drawn:      {fmt(chart, digits=1)}")


if __name__ == "__main__":
    main()
