"""Which store the app shows: `-- --config F`, else HEADROOM_CONFIG, else the embedded simulated fleet.

Also whether it may show anything at all, and to whom: beyond loopback only with sign-in configured
(Streamlit's OIDC login, [auth] in .streamlit/secrets.toml) or on purpose without it
(`[dashboard] allow_anonymous = true`, or HEADROOM_ALLOW_REMOTE=1); signed in, only the users
`[dashboard] allowed_emails` / `allowed_domains` name (everyone the provider signs in when neither is set).
"""
from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.config import Dashboard, load

ENV = "HEADROOM_CONFIG"
ALLOW_REMOTE_ENV = "HEADROOM_ALLOW_REMOTE"   # "1": serve on a non-loopback address on purpose


@dataclass(frozen=True)
class Context:
    cfg: str | None          # absolute path of the fleet.toml in use
    demo: bool               # True: the embedded simulated fleet (sandbox + in-app collector)
    source: str              # "--config", "HEADROOM_CONFIG" or "simulated fleet"
    error: str | None = None  # why there is no config to show (the page explains it)
    demo_runtime: Any = None


def config_arg(argv: list[str]) -> str | None:
    """The value of --config F / --config=F in the script's arguments (after streamlit's `--`)."""
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def config_path(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """(the config path given, where it came from); (None, "simulated fleet") when none is."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if env is None else env
    path, source = config_arg(argv), "--config"
    if not path and environ.get(ENV):
        path, source = environ[ENV], ENV
    return (path or None), (source if path else "simulated fleet")


def dashboard_access(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Dashboard:
    """The config's [dashboard] table (defaults without a config); raises ConfigError for a bad config.
    Read before anything starts: it decides whether the app may render at all."""
    path, _ = config_path(argv, env)
    return load(Path(path).expanduser()).dashboard if path else Dashboard()


def resolve(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Context:
    """The config to use; starts the simulated fleet (once per server process) when none is given."""
    path, source = config_path(argv, env)
    if path:
        return Context(str(Path(path).expanduser().resolve()), False, source)
    from . import demo
    try:
        rt = demo.runtime()
    except Exception as e:  # noqa: BLE001 - the page explains any failure to start the sandbox
        return Context(None, True, "simulated fleet", error=f"{type(e).__name__}: {e}")
    return Context(str(rt.config_path), True, "simulated fleet", demo_runtime=rt)


# -- where the server listens ------------------------------------------------------------------
def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; False for None or "" (Streamlit then listens on every
    interface), 0.0.0.0, a LAN address or a host name."""
    if not address:
        return False
    a = address.strip().strip("[]").lower()
    if a == "localhost":
        return True
    try:
        return ipaddress.ip_address(a).is_loopback
    except ValueError:
        return False


def remote_allowed(env: Mapping[str, str] | None = None) -> bool:
    """The operator opted in to serving beyond loopback without sign-in (HEADROOM_ALLOW_REMOTE=1, the
    environment's form of `[dashboard] allow_anonymous = true`, for the simulated fleet without a config)."""
    environ = os.environ if env is None else env
    return environ.get(ALLOW_REMOTE_ENV, "").strip() == "1"


def binding_refusal(address: str | None, env: Mapping[str, str] | None = None, *, signin: bool = False,
                    allow_anonymous: bool = False) -> str | None:
    """Why the app must not render on this server address, as markdown; None when it may: on loopback,
    with sign-in configured, or with anonymous access allowed on purpose."""
    if is_loopback(address) or signin or allow_anonymous or remote_allowed(env):
        return None
    where = "every network interface" if not address else f"`{address}`"
    return (f"**The dashboard is not shown: this server listens on {where}**, so anyone who can reach this "
            f"machine's port would see the fleet, and no sign-in is configured.\n\n"
            f"- Sign-in (OIDC: Amazon Cognito, Okta, Entra ID, Google, ...): add an `[auth]` table to "
            f"`.streamlit/secrets.toml` with `redirect_uri = \"https://HOST/oauth2callback\"`, `cookie_secret`, "
            f"`client_id`, `client_secret` and `server_metadata_url` (the provider's "
            f"`/.well-known/openid-configuration`), and optionally `[dashboard] allowed_emails` / "
            f"`allowed_domains` in fleet.toml. The README's \"Deploying for a team\" has an example.\n"
            f"- Bind to this machine only: `python {Path(__file__).resolve().parent}` (from any directory; "
            f"`python -m dashboard` from the repository root), or add `--server.address 127.0.0.1` to "
            f"`streamlit run`. Streamlit reads the repository's `.streamlit/config.toml`, which binds to "
            f"127.0.0.1, only when it starts in the repository root.\n"
            f"- To serve beyond this machine without sign-in on purpose (behind an authenticating proxy), set "
            f"`[dashboard] allow_anonymous = true` in fleet.toml (or start it with `{ALLOW_REMOTE_ENV}=1`).\n"
            f"- In a container (compose.yaml) it must listen on 0.0.0.0: publish its port on the host's "
            f"127.0.0.1 only (compose.yaml does) and set `{ALLOW_REMOTE_ENV}=1` in `.env`, or configure sign-in "
            f"(deploy/compose.signin.yaml).")


# -- sign-in -------------------------------------------------------------------------------------
AUTH_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


@dataclass(frozen=True)
class SignIn:
    provider: str | None        # None: no sign-in configured; "default" (flat [auth] keys) or [auth.NAME]
    problem: str | None = None  # [auth] is there but cannot work: say what is missing (never fall back to anonymous)


def signin(auth: Mapping[str, Any] | None) -> SignIn:
    """Streamlit's sign-in as configured by the [auth] table of secrets.toml (None: no table)."""
    if not auth:
        return SignIn(None)
    missing = [k for k in AUTH_KEYS if not auth.get(k)]
    named = sorted(k for k, v in auth.items() if isinstance(v, Mapping))
    if all(auth.get(k) for k in PROVIDER_KEYS):
        provider = "default"
    elif len(named) == 1:
        provider = named[0]
        missing += [f"{provider}.{k}" for k in PROVIDER_KEYS if not auth[provider].get(k)]
    else:
        provider = "default"
        missing += [k for k in PROVIDER_KEYS if not auth.get(k)]
    if missing:
        return SignIn(provider, f"Sign-in is configured in `.streamlit/secrets.toml` but `[auth]` lacks "
                                f"{', '.join(f'`{k}`' for k in missing)}: the dashboard stays closed until it is "
                                f"complete (see the README's \"Deploying for a team\").")
    return SignIn(provider)


def user_allowed(user: Mapping[str, Any], access: Dashboard) -> bool:
    """A signed-in user may see the dashboard: an email the provider has not marked unverified, and,
    when [dashboard] lists any, in allowed_emails or in one of allowed_domains (case-insensitive)."""
    if not access.allowed_emails and not access.allowed_domains:
        return True   # whoever the provider signs in (e.g. a Cognito user pool's users)
    email = str(user.get("email") or "").strip().lower()
    if "@" not in email or str(user.get("email_verified", True)).lower() == "false":
        return False
    return email in access.allowed_emails or email.rsplit("@", 1)[1] in access.allowed_domains
