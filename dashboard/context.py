"""Which store the app shows: `-- --config F`, else HEADROOM_CONFIG, else the embedded simulated fleet."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "HEADROOM_CONFIG"


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


def resolve(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Context:
    """The config to use; starts the simulated fleet (once per server process) when none is given."""
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    path, source = config_arg(argv), "--config"
    if not path and env.get(ENV):
        path, source = env[ENV], ENV
    if path:
        return Context(str(Path(path).expanduser().resolve()), False, source)
    from . import demo
    try:
        rt = demo.runtime()
    except Exception as e:  # noqa: BLE001 - the page explains any failure to start the sandbox
        return Context(None, True, "simulated fleet", error=f"{type(e).__name__}: {e}")
    return Context(str(rt.config_path), True, "simulated fleet", demo_runtime=rt)
