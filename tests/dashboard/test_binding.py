"""Never a false OK: the dashboard serves nothing beyond loopback by accident, and a killed cycle is
not "Collecting now".

Streamlit reads the repository's .streamlit/config.toml only when it starts in the root; started
elsewhere it listens on every interface. The app then refuses to render (unless HEADROOM_ALLOW_REMOTE=1)
and `python -m dashboard` binds to 127.0.0.1 from any directory.
"""
from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit import config as stconfig
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from dashboard import __main__ as launcher
from dashboard import context, state
from tests.dashboard import seed as seedmod
from tests.dashboard.conftest import APP, joined
from tests.dashboard.test_browser import ARGS, CHROMIUM, ROOT, free_port, stop

REFUSED = "The dashboard is not shown"


# -- the rule ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LocalHost", True), (None, False), ("", False), ("0.0.0.0", False), ("::", False),
    ("192.168.1.10", False), ("example.com", False), ("128.0.0.1", False)])
def test_only_loopback_addresses_count_as_loopback(address, loopback):
    assert context.is_loopback(address) is loopback


def test_beyond_loopback_is_refused_unless_the_operator_opts_in():
    assert context.binding_refusal("127.0.0.1", {}) is None
    refusal = context.binding_refusal(None, {})
    assert refusal is not None and "every network interface" in refusal and "--server.address 127.0.0.1" in refusal
    assert "`0.0.0.0`" in context.binding_refusal("0.0.0.0", {})
    assert context.binding_refusal(None, {"HEADROOM_ALLOW_REMOTE": "1"}) is None
    assert context.binding_refusal(None, {"HEADROOM_ALLOW_REMOTE": "yes"}) is not None   # only "1" opts in


def test_the_launcher_passes_the_repo_config_and_binds_loopback_whatever_it_says(tmp_path):
    cmd = launcher.command(["--server.port", "9999", "--", "--config", "fleet.toml"])
    assert cmd[:2] == ["run", str(ROOT / "dashboard" / "app.py")]
    opts = dict(zip(cmd[2:-5:2], cmd[3:-5:2]))
    assert opts["--server.address"] == "127.0.0.1" and opts["--server.headless"] == "true"
    assert opts["--browser.gatherUsageStats"] == "false"
    assert cmd[-5:] == ["--server.port", "9999", "--", "--config", "fleet.toml"]   # the user's options win
    edited = tmp_path / "config.toml"
    edited.write_text('[server]\naddress = "0.0.0.0"\nport = 8600\n')
    assert launcher.config_options(edited) == ["--server.address", "127.0.0.1", "--server.port", "8600",
                                               "--browser.serverAddress", "127.0.0.1"]


# -- the app, in-process ------------------------------------------------------------------------
@pytest.fixture
def server_address() -> Iterator[Callable[[str | None], None]]:
    """Set Streamlit's server.address for AppTest runs (restored afterwards)."""
    old = stconfig.get_option("server.address")
    yield lambda a: stconfig.set_option("server.address", a)
    stconfig.set_option("server.address", old)


def test_the_app_refuses_before_starting_anything_when_not_on_loopback(server_address, monkeypatch):
    server_address(None)
    monkeypatch.delenv("HEADROOM_ALLOW_REMOTE", raising=False)
    monkeypatch.setattr(context, "resolve", lambda *a, **k: pytest.fail("the guard must run before resolve()"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert [e.value.split("**")[1] for e in at.error] == [
        "The dashboard is not shown: this server listens on every network interface"]
    assert "Simulated fleet" not in joined(at) and not at.sidebar.selectbox


def test_the_app_renders_beyond_loopback_when_the_operator_opts_in(server_address, monkeypatch, seeded):
    server_address("0.0.0.0")
    monkeypatch.setenv("HEADROOM_ALLOW_REMOTE", "1")
    monkeypatch.setenv("HEADROOM_CONFIG", str(seeded))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and REFUSED not in joined(at)
    assert "Concurrency headroom" in joined(at)


# -- a killed cycle ----------------------------------------------------------------------------------
def test_a_cycle_is_interrupted_past_its_deadline_plus_the_margin():
    assert state.INTERRUPTED_MARGIN_S == 120
    old = SimpleNamespace(interval_seconds=300)   # a Collection without deadline_seconds: the interval is the deadline
    assert not state.cycle_interrupted(None, 1000.0, old)
    assert not state.cycle_interrupted(1000.0 - 420, 1000.0, old)
    assert state.cycle_interrupted(1000.0 - 421, 1000.0, old)
    new = SimpleNamespace(interval_seconds=300, deadline_seconds=200)
    assert not state.cycle_interrupted(1000.0 - 320, 1000.0, new)
    assert state.cycle_interrupted(1000.0 - 321, 1000.0, new)


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory: pytest.TempPathFactory, seed_info: tuple[Path, int]) -> Callable[[float], Path]:
    """unfinished(age) -> a seeded config whose latest cycle started `age` s before the pinned clock
    (minute + 30) and never finished."""
    minute = seed_info[1]

    def make(age: float) -> Path:
        cfg = seedmod.seed(tmp_path_factory.mktemp("unfinished"), minute)
        store = Store(cfg.parent / "seed.db")
        store.begin_cycle(minute + 30 - age)
        store.close()
        return cfg
    return make


def test_a_killed_cycle_is_not_collecting_now(run_page, unfinished):
    at = run_page(config=unfinished(20 * 60))
    side = [str(w.value) for w in at.sidebar.warning]
    assert "Last cycle interrupted (started 20 min ago, never finished)." in side
    assert not any("Collecting now" in str(c.value) for c in at.sidebar.caption)


def test_a_cycle_within_its_deadline_is_collecting_now(run_page, unfinished):
    at = run_page(config=unfinished(40))
    assert "Collecting now (cycle started 40 s ago)." in [str(c.value) for c in at.sidebar.caption]
    assert not any("interrupted" in str(w.value) for w in at.sidebar.warning)


# -- real servers started outside the repository ---------------------------------------------------
def listening(port: int) -> set[str]:
    """The addresses a TCP socket listens on at `port` (from /proc/net/tcp and tcp6)."""
    out = set()
    for name in ("tcp", "tcp6"):
        f = Path("/proc/net") / name
        if not f.exists():
            continue
        for line in f.read_text().splitlines()[1:]:
            cols = line.split()
            addr, p = cols[1].split(":")
            if cols[3] != "0A" or int(p, 16) != port:   # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr)   # each 32-bit word in host (little-endian) order
            out.add(str(ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))))
    return out


def start(cmd: list[str], cwd: Path, port: int, log: Path, **env: str) -> subprocess.Popen:
    """Start `cmd` in cwd (no HEADROOM_* from the caller) and wait until something listens on port."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEADROOM_")}
    proc = subprocess.Popen(cmd, cwd=cwd, env={**base, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    while not listening(port):
        if proc.poll() is not None or time.monotonic() - t0 > 60:
            stop(proc)
            pytest.fail(f"{cmd} did not start:\n{log.read_text()}")
        time.sleep(0.2)
    return proc


@pytest.mark.parametrize("how", ["-m dashboard", "path/to/dashboard"])
def test_the_launcher_listens_on_loopback_only_from_another_directory(tmp_path, how):
    port = free_port()
    if how == "-m dashboard":
        cmd, env = [sys.executable, "-m", "dashboard"], {"PYTHONPATH": str(ROOT)}
    else:
        cmd, env = [sys.executable, str(ROOT / "dashboard")], {}
    proc = start([*cmd, "--server.port", str(port)], tmp_path, port, tmp_path / "launcher.log", **env)
    try:
        time.sleep(0.5)   # every socket of the server is open by now
        assert listening(port) == {"127.0.0.1"}
    finally:
        stop(proc)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt install chromium)")
def test_streamlit_started_elsewhere_listens_everywhere_and_the_page_refuses(tmp_path):
    from playwright.sync_api import sync_playwright
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    proc = start(cmd, tmp_path, port, tmp_path / "streamlit.log")
    try:
        time.sleep(0.5)
        assert not all(ipaddress.ip_address(a).is_loopback for a in listening(port))   # the case guarded
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = b.new_page()
            page.goto(f"http://127.0.0.1:{port}/", timeout=30_000)
            page.get_by_text(REFUSED).wait_for(timeout=30_000)
            page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
            body = page.inner_text("body")
            b.close()
        assert "HEADROOM_ALLOW_REMOTE=1" in body and "--server.address 127.0.0.1" in body
        assert "Simulated fleet" not in body and "Concurrency headroom" not in body
    finally:
        stop(proc)
