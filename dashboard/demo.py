"""The embedded default: a simulated fleet in a local sandbox, collected by the real collector.

Started once per server process (st.cache_resource): the sandbox (moto plus headroom's extras) on
127.0.0.1, `sandbox.fleet.build_fleet`, a fleet.toml in a temporary directory pointing at it, and a
daemon thread that builds the fleet, then every minute advances the simulation and runs one real
collection cycle (`collectors.pipeline.run_cycle`) over HTTP into a temporary store. Nothing here
touches AWS: the environment gets dummy credentials and every target's endpoint is the sandbox.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

log = logging.getLogger("headroom.demo")

INTERVAL_S = 60
FIRST_PAUSE_S = 4
# Demo-friendly collection: one target at a time, the busiest first, so the first account lands
# (and the page fills in) as early as possible; the week before the last hour is read hourly. The
# 12 weeks before that are written at start-up (write_prehistory).
COLLECTION = """
[collection]
interval_seconds = 60
backfill_hours = 1
backfill_days = 7
max_workers = 1
"""
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class DemoRuntime:
    """The running simulated fleet (read by the pages for their waiting state; never mutated there)."""
    config_path: Path
    store_path: Path
    endpoint_url: str
    started_at: float
    phase: str = "starting the sandbox"
    fleet_built_at: float | None = None
    first_data_at: float | None = None
    cycles: int = 0
    error: str | None = None
    incidents: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)


def use_dummy_credentials(env: MutableMapping[str, str] | None = None) -> None:
    """Point the process's AWS credential chain at dummy keys (the sandbox accepts any)."""
    environ = os.environ if env is None else env
    environ.update(DUMMY_ENV)
    for k in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL"):
        environ.pop(k, None)


def start(workdir: Path | None = None, seed: int = 7, interval_s: int = INTERVAL_S) -> DemoRuntime:
    """Start the sandbox now and the fleet builder + collector loop in a daemon thread."""
    use_dummy_credentials()
    from sandbox.fleet import fleet_toml
    from sandbox.server import Sandbox

    workdir = workdir or Path(tempfile.mkdtemp(prefix="headroom-demo-"))
    sb = Sandbox(host="127.0.0.1", port=0).start()
    store_path = workdir / "headroom.db"
    cfg = workdir / "fleet.toml"
    cfg.write_text(fleet_toml(sb.endpoint_url, str(store_path)) + COLLECTION, encoding="utf-8")
    rt = DemoRuntime(cfg, store_path, sb.endpoint_url, time.time(), phase="building the simulated fleet")
    rt._thread = threading.Thread(target=_run, args=(rt, sb, seed, interval_s), name="headroom-demo", daemon=True)
    rt._thread.start()
    return rt


def _run(rt: DemoRuntime, sb: Any, seed: int, interval_s: int) -> None:
    from collectors import config
    from collectors.pipeline import run_cycle
    from collectors.store import Store
    from sandbox.fleet import Simulator, build_fleet

    try:
        truth = build_fleet(sb, seed=seed)
        rt.incidents = [f"{i.kind}: {i.description}" for i in truth.incidents]
        rt.fleet_built_at = time.time()
        log.warning("fleet built in %.1f s", rt.fleet_built_at - rt.started_at)
        sim = Simulator(sb, truth)
        settings = config.load(rt.config_path)
        store = Store(settings.store_path)
    except Exception as e:  # noqa: BLE001 - shown on the page instead of a blank screen
        log.exception("the simulated fleet failed to start")
        rt.error, rt.phase = f"{type(e).__name__}: {e}", "failed"
        return

    def landed(_: Any) -> None:
        if rt.first_data_at is None:
            rt.first_data_at = time.time()
            log.warning("first data %.1f s after the demo started", rt.first_data_at - rt.started_at)

    # The first cycle reads only the first target's first region (the simulated company's busiest,
    # where the incidents are) and then leaves the CPU to the page for a moment, so that data is on
    # screen within seconds; the next cycle reads everything (that account incrementally).
    t = settings.targets[0]
    first = dataclasses.replace(settings, targets=(dataclasses.replace(t, regions=t.regions[:1]),))
    try:
        sim.tick(time.time())
        run_cycle(first, store, on_result=landed, defer_history=True)
    except Exception as e:  # noqa: BLE001
        log.exception("demo collection cycle failed")
        rt.error = f"{type(e).__name__}: {e}"
    # The weeks before the seeded one: after the first data is on screen, so it costs that nothing.
    t0 = time.time()
    try:
        write_prehistory(store, truth)
        log.warning("13 weeks of earlier history written in %.2f s", time.time() - t0)
    except Exception as e:  # noqa: BLE001 - the live fleet still works without its earlier weeks
        log.exception("writing the earlier weeks failed")
        rt.error = f"{type(e).__name__}: {e}"
    rt._stop.wait(max(0.0, FIRST_PAUSE_S - (time.time() - t0)))
    while not rt._stop.is_set():
        t0 = time.time()
        rt.phase = "collecting"
        try:
            sim.tick(t0)
            run_cycle(settings, store, on_result=landed, defer_history=True)
            rt.cycles += 1
            rt.error = None
        except Exception as e:  # noqa: BLE001 - keep the loop alive; the next minute may work
            log.exception("demo collection cycle failed")
            rt.error = f"{type(e).__name__}: {e}"
        rt.phase = "waiting for the next cycle"
        # Wake just after the next minute boundary so each cycle reads a fresh, complete minute.
        rt._stop.wait(max(1.0, interval_s - (time.time() - t0)) if interval_s != 60 else 61 - time.time() % 60)


def write_prehistory(store: Any, truth: Any) -> None:
    """The weeks before the sandbox's seeded week (sandbox.fleet.prehistory), written through the store's
    own write path: hourly account concurrency with its coverage, and hourly account snapshots, so the
    limit review has trends and weeks until each limit from the first page."""
    from collectors.model import Covered, Point
    from sandbox.fleet import prehistory

    for h in prehistory(truth):
        points = [Point(metric, "", "", ts, value, 3600) for metric, pts in h.series.items() for ts, value in pts]
        store.write_history(h.account, h.region, points, [Covered("account", "", h.start, h.end)], h.snapshots)


@st.cache_resource(show_spinner=False)
def runtime() -> DemoRuntime:
    """The one simulated fleet of this server process."""
    return start()
