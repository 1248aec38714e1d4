"""headroom's dashboard: the router. `python -m streamlit run dashboard/app.py [-- --config fleet.toml]`
from the repository root, or `python -m dashboard [-- --config fleet.toml]` (dashboard/__main__.py: binds
127.0.0.1 wherever it is started).

Without a config (argument or HEADROOM_CONFIG) it opens on the embedded simulated fleet. With sign-in
configured ([auth] in .streamlit/secrets.toml) every visitor signs in first and only the users the
config's [dashboard] allows see anything; without it, it shows nothing when the server listens beyond
loopback, unless `[dashboard] allow_anonymous = true` (or HEADROOM_ALLOW_REMOTE=1).
"""
import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts only dashboard/ on sys.path; the packages live at the root.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from collectors.config import ConfigError  # noqa: E402
from dashboard import context, fmt, state, warm  # noqa: E402

st.set_page_config(page_title="headroom", page_icon="📈", layout="wide")

# Before anything starts (the simulated fleet) or reads the store. Streamlit reads the repository's
# .streamlit/config.toml only when started in the root; elsewhere it listens on every interface.
# This gates the script only: Streamlit's own static files stay served on the port, no fleet data.
try:
    access = context.dashboard_access()
except ConfigError as e:
    st.error(f"The config cannot be used: {fmt.md(e)}")
    st.stop()
try:
    auth = st.secrets.get("auth")
except Exception:  # noqa: BLE001 - no secrets.toml at all (StreamlitSecretNotFoundError): no sign-in
    auth = None
signin = context.signin(auth)
if signin.problem:
    st.error(signin.problem, icon=":material/lock:")
    st.stop()
refusal = context.binding_refusal(st.get_option("server.address"), signin=signin.provider is not None,
                                  allow_anonymous=access.allow_anonymous)
if refusal:
    st.error(refusal, icon=":material/lock:")
    st.stop()
if signin.provider is not None:
    if not st.user.get("is_logged_in"):
        st.title("headroom")
        st.markdown("Sign in to see the Lambda fleet.")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            st.login(signin.provider)
        st.stop()
    if not context.user_allowed(st.user.to_dict(), access):
        st.error(f"Signed in as **{fmt.md(st.user.get('email') or 'a user without an email')}**, who is not "
                 "allowed to see this dashboard. Ask its operators to add you to `allowed_emails` or "
                 "`allowed_domains` under `[dashboard]` in fleet.toml, or sign in as someone else.",
                 icon=":material/block:")
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
        st.stop()

def _to_overview() -> None:
    """/overview (an old or typed link) is the Overview, which lives at the root."""
    st.switch_page(PAGES[0], query_params=dict(st.query_params.to_dict()))


PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", url_path="fleet", default=True),
    st.Page("app_pages/triage.py", title="Triage", icon=":material/emergency:", url_path="triage"),
    st.Page("app_pages/limits.py", title="Limits review", icon=":material/monitoring:", url_path="limits"),
    st.Page("app_pages/groups.py", title="Groups", icon=":material/category:", url_path="groups"),
    st.Page("app_pages/function.py", title="Function", icon=":material/function:", url_path="function"),
    st.Page(_to_overview, title="Overview", url_path="overview", visibility="hidden"),
]

ctx = context.resolve()
if ctx.cfg is not None and warm.enabled():   # the default window's review, computed once a cycle lands
    warm.start(ctx.cfg)
wall_view = st.query_params.get("view") == "wall"
page = st.navigation(PAGES, position="hidden" if wall_view else "sidebar")
state.init()
if wall_view:   # the wall screen: the whole fleet, no sidebar, no banner (dashboard/wall.py)
    from dashboard import wall
    wall.render(state.selection(ctx))
    st.stop()
if ctx.demo:
    st.info("**Simulated fleet** — a local sandbox with made-up accounts, collected live every minute; no AWS "
            "account is used. Point the dashboard at your fleet with `-- --config fleet.toml`.", icon=":material/science:")
try:
    st.session_state["_sel"] = state.sidebar(ctx)
except ConfigError as e:
    st.error(f"The config cannot be used: {fmt.md(e)}")
    st.stop()
page.run()
