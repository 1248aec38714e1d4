"""Which store the app shows: `-- --config F`, else HEADROOM_CONFIG, else the embedded simulated fleet.

Also whether it may show anything at all: beyond loopback only on purpose (HEADROOM_ALLOW_REMOTE=1).
"""
from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def resolve(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Context:
    """The config to use; starts the simulated fleet (once per server process) when none is given."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if env is None else env
    path, source = config_arg(argv), "--config"
    if not path and environ.get(ENV):
        path, source = environ[ENV], ENV
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
    """The operator opted in to serving beyond loopback (HEADROOM_ALLOW_REMOTE=1)."""
    environ = os.environ if env is None else env
    return environ.get(ALLOW_REMOTE_ENV, "").strip() == "1"


def binding_refusal(address: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """Why the app must not render on this server address, as markdown; None when it may."""
    if is_loopback(address) or remote_allowed(env):
        return None
    where = "every network interface" if not address else f"`{address}`"
    return (f"**The dashboard is not shown: this server listens on {where}**, so anyone who can reach this "
            f"machine's port would see the fleet, and the dashboard has no sign-in.\n\n"
            f"- Bind to this machine only: `python {Path(__file__).resolve().parent}` (from any directory; "
            f"`python -m dashboard` from the repository root), or add `--server.address 127.0.0.1` to "
            f"`streamlit run`. Streamlit reads the repository's `.streamlit/config.toml`, which binds to "
            f"127.0.0.1, only when it starts in the repository root.\n"
            f"- To serve beyond this machine on purpose (e.g. behind an authenticating proxy on another host), "
            f"start it with `{ALLOW_REMOTE_ENV}=1`.")
