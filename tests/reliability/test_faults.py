"""Never a false OK: each fault against a fault-free run of the same fleet and the same window.

For every case: a fresh store collects the seeded fleet through the fault proxy with the fault in
place for `cycles` cycles, then the fault is removed and one more cycle runs. The review of the
faulted store is compared figure by figure (figures.py) with the review of a fault-free store after
the same cycles at the same pinned clock. While the fault is in place a figure may be unknown (null),
never a wrong zero, and no status may read "ok" where the fault-free run warns (a false OK); after
the recovery cycle every figure and status equals the fault-free one.

Sandbox faults (sandbox.faults) answer inside the sandbox; network faults (5xx, slow answers, dropped
connections) come from sandbox.proxy.FaultProxy in front of it. Draws are seeded per request and every
rule has a bounded count. Retries are kept small (collection.max_attempts = 2) so that a fault
outlasts them quickly. One case runs the real CLI (`collect`, `check --format json`) in subprocesses.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collectors import config
from collectors.pipeline import run_cycle
from collectors.store import Store
from sandbox.proxy import FaultProxy
from tests.collectors.seed import PROD

from . import fleet as reliability_fleet
from .conftest import REPORT
from .figures import compare, flatten
from .harness import REPO, errors_recorded, review_at, write_config

SEED = 20240611
# What says how much is known rather than what happened: compared only after recovery.
META = ("health", "coverage_ratio", "functions_unknown", "config_unknown", "metrics_known")


@dataclass(frozen=True)
class Case:
    name: str
    where: str                          # "sandbox": sb.faults; "proxy": the FaultProxy in front
    rules: tuple[dict[str, Any], ...]   # keyword arguments of Faults.add
    cycles: int = 1                     # cycles run with the fault in place
    cli: bool = False                   # through `python -m collectors` subprocesses (wall clock)


CASES = [
    Case("ListFunctions AccessDenied, prod us-east-1, cycle 1", "sandbox",
         (dict(service="lambda", operation="ListFunctions", region="us-east-1", account=PROD,
               error="AccessDenied", count=20),)),
    Case("ListFunctions AccessDenied, prod us-east-1, cycle 1 (CLI)", "sandbox",
         (dict(service="lambda", operation="ListFunctions", region="us-east-1", account=PROD,
               error="AccessDenied", count=20),), cli=True),
    Case("GetFunctionConcurrency AccessDenied, all, cycle 1", "sandbox",
         (dict(service="lambda", operation="GetFunctionConcurrency", error="AccessDenied", count=200),)),
    Case("GetMetricData Throttling beyond retries, all, cycle 1", "sandbox",
         (dict(service="cloudwatch", operation="GetMetricData", error="Throttling", count=200),)),
    Case("SQS GetQueueAttributes AccessDenied, all, cycle 1", "sandbox",
         (dict(service="sqs", operation="GetQueueAttributes", error="AccessDenied", count=100),)),
    Case("HTTP 500/503 on 30 % of all calls, 2 cycles", "proxy",
         (dict(error="InternalError", share=0.15, count=150),
          dict(error="ServiceUnavailable", share=0.18, count=150)), cycles=2),
    Case("slow answers (1.5 s) on CloudWatch, cycle 1", "proxy",
         (dict(service="cloudwatch", error="Slow", delay=1.5, count=12),)),
    Case("dropped connections on 20 % of calls, 2 cycles", "proxy",
         (dict(error="ConnectionDown", share=0.2, count=150),), cycles=2),
]


class Run:
    """A fresh store collecting on a pinned clock: cycle k (from 1) at t0 + 60 (k - 1)."""

    def __init__(self, cfg: Path, t0: int) -> None:
        self.cfg, self.t0, self.k = cfg, t0, 0
        self.settings = config.load(cfg)
        self.store = Store(self.settings.store_path)

    def now(self) -> int:
        return self.t0 + 60 * (self.k - 1)

    def cycle(self) -> Any:
        self.k += 1
        t = self.now()
        return run_cycle(self.settings, self.store, clock=lambda: t)

    def review(self) -> dict[str, Any]:
        return review_at(self.cfg, self.now())


@pytest.fixture(scope="module")
def world(sandbox, tmp_path_factory):
    """The seeded fleet (built once: collecting never changes it), the proxy and the fault-free reviews."""
    sandbox.set_reachable(True)
    sandbox.reset()
    now = int(time.time()) // 60 * 60
    reliability_fleet.build(sandbox, now)
    from moto.iam.models import get_account_id_from

    with FaultProxy(sandbox.endpoint_url, seed=SEED, account_of_key=get_account_id_from) as proxy:
        d = tmp_path_factory.mktemp("baseline")
        # Fault-free, straight to the sandbox: reviews after cycles 1, 2 and 3.
        base = Run(write_config(d / "fleet.toml", sandbox.endpoint_url, "baseline.db"), now + 20)
        reviews = {}
        for k in (1, 2, 3):
            assert base.cycle().exit_code == 0
            reviews[k] = base.review()
        yield {"sb": sandbox, "proxy": proxy, "t0": now + 20, "baseline": reviews}
    sandbox.faults.clear()


def _add_rules(case: Case, world: dict[str, Any]) -> tuple[Any, list[Any]]:
    faults = world["proxy"].faults if case.where == "proxy" else world["sb"].faults
    return faults, [faults.add(**r) for r in case.rules]


def _record(case: Case, phase: str, injected: int, errors: int | str, diff: Any) -> None:
    REPORT["faults"].append({"fault": case.name, "phase": phase, "cycles": case.cycles if phase == "during" else
                             f"{case.cycles}+1", "injected": injected, "errors": errors, **diff.row(),
                             "details": diff.explain(6)})


def _assert_phases(case: Case, during: Any, after: Any, after_meta: Any | None) -> None:
    problems = []
    if during.wrong_zeros or during.false_ok:
        problems.append(f"DURING the fault, {len(during.wrong_zeros)} wrong zero(s), {len(during.false_ok)} "
                        "false OK(s):\n" + during.explain())
    if after.wrong_zeros or after.too_low or after.unknown or after.other or after.statuses:
        problems.append("AFTER recovery, figures differ from the fault-free run:\n" + after.explain()
                        + ("\nstatuses:\n  " + "\n  ".join(after.statuses[:12]) if after.statuses else ""))
    # coverage higher than the baseline's is fine: a recovering run may have read the functions' series
    # a cycle later than the fault-free run did (they are read every function_interval_seconds)
    if after_meta is not None and (after_meta.unknown or after_meta.too_low or after_meta.wrong_zeros):
        problems.append("AFTER recovery, coverage is not complete again:\n" + after_meta.explain())
    assert not problems, f"{case.name}\n" + "\n\n".join(problems)


@pytest.mark.parametrize("case", [c for c in CASES if not c.cli], ids=lambda c: c.name)
def test_fault_leaves_no_wrong_zero_and_recovers_every_figure(case, world, tmp_path):
    run = Run(write_config(tmp_path / "fleet.toml", world["proxy"].endpoint_url, "faulted.db"), world["t0"])
    faults, rules = _add_rules(case, world)
    try:
        for _ in range(case.cycles):
            run.cycle()
    finally:
        for r in rules:
            faults.remove(r)
    injected = sum(r.fired for r in rules)
    errors = errors_recorded(run.settings.store_path)
    during_data = run.review()
    run.cycle()
    after_data = run.review()
    base_during, base_after = world["baseline"][case.cycles], world["baseline"][case.cycles + 1]

    during = compare(flatten(base_during, META), flatten(during_data, META))
    after = compare(flatten(base_after, META), flatten(after_data, META))
    after_meta = compare(flatten(base_after), flatten(after_data))
    _record(case, "during", injected, errors, during)
    _record(case, "after recovery", injected, errors, after)
    assert injected > 0, f"{case.name}: the fault never fired (rules {rules})"
    _assert_phases(case, during, after, after_meta)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # tests/conftest.py has put dummy credentials in os.environ; the subprocess inherits them.
    return subprocess.run([sys.executable, "-m", "collectors", *args], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def _check(cfg: Path) -> tuple[int, dict[str, Any]]:
    p = _cli("check", "--config", str(cfg), "--window", "2h", "--format", "json")
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, json.loads(p.stdout)


@pytest.mark.parametrize("case", [c for c in CASES if c.cli], ids=lambda c: c.name)
def test_fault_through_the_cli(case, world, tmp_path):
    """The same comparison through `python -m collectors collect` and `check --format json`, on the
    wall clock (coverage ratios, which move with the minute, are left out)."""
    base_cfg = write_config(tmp_path / "baseline.toml", world["sb"].endpoint_url, "baseline.db")
    cfg = write_config(tmp_path / "fleet.toml", world["proxy"].endpoint_url, "faulted.db")
    base: dict[int, tuple[int, dict[str, Any]]] = {}
    for k in range(1, case.cycles + 2):
        c = _cli("collect", "--config", str(base_cfg))
        assert c.returncode == 0, c.stdout + c.stderr
        base[k] = _check(base_cfg)

    faults, rules = _add_rules(case, world)
    try:
        for _ in range(case.cycles):
            c = _cli("collect", "--config", str(cfg))
            assert "Traceback" not in c.stderr, c.stderr
            assert c.returncode == 3, c.stdout + c.stderr   # collection errors: exit 3
    finally:
        for r in rules:
            faults.remove(r)
    injected = sum(r.fired for r in rules)
    errors = errors_recorded(tmp_path / "faulted.db")
    during_code, during_data = _check(cfg)
    c = _cli("collect", "--config", str(cfg))
    assert c.returncode == 0, c.stdout + c.stderr
    after_code, after_data = _check(cfg)

    during = compare(flatten(base[case.cycles][1], META), flatten(during_data, META))
    after = compare(flatten(base[case.cycles + 1][1], META), flatten(after_data, META))
    _record(case, "during", injected, errors, during)
    _record(case, "after recovery", injected, errors, after)
    assert injected > 0
    # While the fault is in place check must not say all is well: unknown/errors (3) or known trouble (2).
    assert during_code in (2, 3), f"check exited {during_code} during the fault"
    assert after_code == base[case.cycles + 1][0], (after_code, base[case.cycles + 1][0])
    _assert_phases(case, during, after, None)
