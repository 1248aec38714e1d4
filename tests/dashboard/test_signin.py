"""Sign-in for the shared dashboard: Streamlit's OIDC login ([auth] in secrets.toml) and the
[dashboard] allow-list of fleet.toml.

The rules in-process (AppTest seeds st.user and the secrets); then a real Chromium signs in through
an OIDC provider on 127.0.0.1 (oidc-provider-mock) to a dashboard that listens beyond loopback,
sees the Overview, signs out, and is refused as a user not on the list.
"""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config as stconfig
from streamlit.testing.v1 import AppTest

from collectors.config import Dashboard
from dashboard import context
from tests.dashboard.conftest import APP, joined
from tests.dashboard.test_browser import ARGS, CHROMIUM, ROOT, free_port, stop

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "a-long-random-test-secret",
        "client_id": "headroom", "client_secret": "test-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
ALICE = "alice@example.com"


# -- the rules ------------------------------------------------------------------------------------
def test_sign_in_is_configured_only_by_a_complete_auth_table():
    assert context.signin(None) == context.SignIn(None)
    assert context.signin(AUTH) == context.SignIn("default")
    named = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": "x" * 20,
             "cognito": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}}
    assert context.signin(named) == context.SignIn("cognito")
    broken = context.signin({k: v for k, v in AUTH.items() if k != "client_secret"})
    assert broken.problem is not None and "`client_secret`" in broken.problem   # closed, never anonymous


@pytest.mark.parametrize("user, allowed", [
    ({"email": ALICE}, True), ({"email": "ALICE@Example.com"}, True), ({"email": "bob@example.org"}, True),
    ({"email": "bob@example.org", "email_verified": False}, False), ({"email": "eve@example.net"}, False),
    ({"email": "mallory@sub.example.org"}, False), ({}, False), ({"email": "example.org"}, False)])
def test_the_allow_list_by_email_or_domain(user, allowed):
    access = Dashboard(allowed_emails=(ALICE,), allowed_domains=("example.org",))
    assert context.user_allowed(user, access) is allowed


def test_without_an_allow_list_whoever_the_provider_signs_in():
    assert context.user_allowed({"sub": "no-email"}, Dashboard())


def test_beyond_loopback_needs_sign_in_or_allow_anonymous():
    refusal = context.binding_refusal("0.0.0.0", {})
    assert refusal is not None
    assert "[auth]" in refusal and "secrets.toml" in refusal and "allow_anonymous = true" in refusal
    assert context.binding_refusal("0.0.0.0", {}, signin=True) is None
    assert context.binding_refusal("0.0.0.0", {}, allow_anonymous=True) is None


# -- the app, in-process --------------------------------------------------------------------------
@pytest.fixture
def remote(monkeypatch, seeded, tmp_path) -> Iterator[Path]:
    """The app on 0.0.0.0 over the seeded store, HEADROOM_ALLOW_REMOTE unset; yields a config with
    [dashboard] allowed_emails = [ALICE]."""
    old = stconfig.get_option("server.address")
    stconfig.set_option("server.address", "0.0.0.0")
    monkeypatch.delenv("HEADROOM_ALLOW_REMOTE", raising=False)
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(seeded.read_text() + f'\n[dashboard]\nallowed_emails = ["{ALICE}"]\n')
    monkeypatch.setenv("HEADROOM_CONFIG", str(cfg))
    yield cfg
    stconfig.set_option("server.address", old)


def run(user: dict | None = None, auth: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if auth:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_an_allowed_user_sees_the_overview_with_who_and_sign_out_in_the_sidebar(remote):
    at = run({"is_logged_in": True, "email": ALICE}, AUTH)
    assert "Concurrency headroom" in joined(at)
    assert f"Signed in as **{context_md(ALICE)}**" in [str(c.value) for c in at.sidebar.caption]
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def context_md(text: str) -> str:
    from dashboard import fmt
    return fmt.md(text)


def test_a_user_not_on_the_list_is_refused_and_may_sign_out(remote):
    at = run({"is_logged_in": True, "email": "eve@example.net"}, AUTH)
    assert "Concurrency headroom" not in joined(at) and not at.sidebar.selectbox
    assert "who is not allowed to see this dashboard" in at.error[0].value
    assert [b.label for b in at.button] == ["Sign out"]


def test_signed_out_only_the_sign_in_button(remote):
    at = run({"is_logged_in": False}, AUTH)
    assert [b.label for b in at.button] == ["Sign in"] and "Concurrency headroom" not in joined(at)


def test_without_sign_in_beyond_loopback_refused_unless_allow_anonymous(remote):
    at = run()
    assert "The dashboard is not shown" in at.error[0].value and "Concurrency headroom" not in joined(at)
    remote.write_text(remote.read_text().replace("[dashboard]\n", "[dashboard]\nallow_anonymous = true\n"))
    at = run()
    assert "Concurrency headroom" in joined(at) and not at.sidebar.button   # no sign-out without sign-in


# -- a real browser, a real provider -------------------------------------------------------------------
def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    t0 = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() - t0 > timeout:
                pytest.fail(f"{url} did not answer:\n{log.read_text()}")
            time.sleep(0.2)


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt install chromium)")
def test_sign_in_through_an_oidc_provider_see_the_overview_sign_out_and_be_refused(tmp_path, seeded):
    from playwright.sync_api import sync_playwright
    idp_port, app_port = free_port(), free_port()
    idp_log, app_log = tmp_path / "idp.log", tmp_path / "streamlit.log"
    idp = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "-H", "127.0.0.1", "-p", str(idp_port)],
                           stdout=idp_log.open("w"), stderr=subprocess.STDOUT)
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(seeded.read_text() + f'\n[dashboard]\nallowed_emails = ["{ALICE}"]\n')
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"
cookie_secret = "{'s' * 32}"
client_id = "headroom"
client_secret = "headroom-test"
server_metadata_url = "http://127.0.0.1:{idp_port}/.well-known/openid-configuration"
""")
    app = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port",
                            str(app_port), "--server.address", "0.0.0.0", "--server.headless", "true",
                            "--browser.gatherUsageStats", "false", "--secrets.files", str(secrets),
                            "--", "--config", str(cfg)], cwd=ROOT, stdout=app_log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration", idp, idp_log)
        wait_http(f"http://127.0.0.1:{app_port}/_stcore/health", app, app_log)
        url = f"http://127.0.0.1:{app_port}/"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

            def sign_in(email: str):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()   # no cookies
                page.goto(url, timeout=30_000)
                page.get_by_role("button", name="Sign in").click(timeout=30_000)
                page.locator("input[name=sub]").fill(email, timeout=30_000)
                page.get_by_role("button", name="Authorize").click()
                return page

            page = sign_in(ALICE)
            page.get_by_text("Concurrency headroom").first.wait_for(timeout=30_000)
            page.get_by_text(f"Signed in as {ALICE}").wait_for(timeout=10_000)
            assert page.url.startswith(url)
            page.get_by_role("button", name="Sign out").click()
            page.get_by_role("button", name="End session").click(timeout=30_000)
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
            assert not page.get_by_text("Concurrency headroom").count()

            page = sign_in("eve@example.net")
            page.get_by_text("who is not allowed to see this dashboard").wait_for(timeout=30_000)
            assert "Signed in as eve@example.net" in page.inner_text("body")
            assert not page.get_by_text("Concurrency headroom").count()
            browser.close()
    finally:
        stop(app)
        stop(idp)


# -- the sidebar also says what the collector could not deliver -----------------------------------------
def test_undelivered_alerts_are_shown_in_the_sidebar(run_page, seed_info, tmp_path):
    from collectors.store import Store
    from tests.dashboard import seed as seedmod
    minute = seed_info[1]
    cfg = seedmod.seed(tmp_path, minute)
    store = Store(cfg.parent / "seed.db")
    row = dict.fromkeys(Store.ALERT_COLUMNS) | {
        "destination": "d1", "key": "prod|us-east-1|throttles|payments-api-charge", "label": "slack://T000/****",
        "target": "prod", "region": "us-east-1", "kind": "throttles", "subject": "payments-api-charge",
        "severity": "critical", "message": "payments-api-charge: 200 throttles", "detail": "[]",
        "first_seen": minute - 600, "last_seen": minute, "failed_at": minute - 270,
        "failure": "Failed to send Slack notification: error=404.", "failures": 5}
    store.save_alert_states([row])
    store.close()
    at = run_page(config=cfg)
    assert [str(e.value) for e in at.sidebar.error if "alert" in str(e.value)] == [
        "1 alert(s) not delivered to `slack://T000/****` (first failure 5 min ago, 5 attempt(s); the "
        "collector tries again every cycle): Failed to send Slack notification\\: error\\=404\\."]
