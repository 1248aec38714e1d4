"""`collect` killed with SIGKILL at random points, 20 times: the store stays whole and the next collect resumes.

The sandbox runs in this process; `python -m collectors collect` runs as a subprocess against it and
is killed at a seeded random moment within the time one cycle takes (measured first, on a scratch
store). After every kill the store must pass PRAGMA integrity_check and hold no half-written target:
what a (target, region) writes at the end of its cycle (errors, inventory, coverage, health) exists
only with its target_runs row, and only a killed run may leave a cycle without finished_at. Points
(with their series and summaries) are streamed as CloudWatch answers, so they may come before it:
without their coverage they change no figure from unknown to known, and are read again. After the 20
kills a plain collect finishes its cycle, check works, and every figure equals a store that was never
killed.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from . import fleet as reliability_fleet
from .conftest import REPORT
from .figures import compare, flatten
from .harness import REPO, review_at, write_config

KILLS = 20
SEED = 6
TARGET_REGIONS = 4      # prod and staging x us-east-1 and eu-west-1
COMPARE_WINDOW_S = 110 * 60   # the seeded traffic's 100 minutes, inside what both stores collected


def _collect(cfg: Path) -> subprocess.Popen[str]:
    # tests/conftest.py has put dummy credentials in os.environ; the subprocess inherits them.
    return subprocess.Popen([sys.executable, "-m", "collectors", "collect", "--config", str(cfg)], cwd=REPO,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _started(p: subprocess.Popen[str]) -> float:
    """Wait for the collector's first line (printed as its cycle begins, after Python's imports)."""
    line = p.stdout.readline()
    assert line, f"collect printed nothing; stderr: {p.stderr.read()}"
    return time.monotonic()


def _timed_cycle(cfg: Path) -> float:
    """Seconds from the first line of a normal collect to its exit."""
    p = _collect(cfg)
    t = _started(p)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, out + err
    return time.monotonic() - t


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def audit(path: Path) -> tuple[str, list[str], list[tuple[int, float | None]]]:
    """(integrity_check's answer, half-written findings, [(cycle id, finished_at)]) of a store."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        tables = _tables(db)
        if "cycles" not in tables:   # killed before the first migration committed
            return integrity, [], []
        bad: list[str] = []
        cycles = db.execute("SELECT id, finished_at FROM cycles ORDER BY id").fetchall()
        runs = {(c, t, r) for c, t, r in db.execute("SELECT cycle_id, target, region FROM target_runs")}
        per_cycle: dict[int, int] = {}
        for c, _, _ in runs:
            per_cycle[c] = per_cycle.get(c, 0) + 1
        ids = {c for c, _ in cycles}
        for c, finished in cycles:
            if finished is not None and per_cycle.get(c, 0) != TARGET_REGIONS:
                bad.append(f"cycle {c} finished with {per_cycle.get(c, 0)} of {TARGET_REGIONS} target runs")
        bad += [f"target run of cycle {c} ({t} {r}) without its cycle" for c, t, r in runs if c not in ids]
        # Written in the same transaction as the target's run row: never without it.
        for c, t, r in db.execute("SELECT DISTINCT cycle_id, target, region FROM errors"):
            if (c, t, r) not in runs:
                bad.append(f"errors of cycle {c} {t} {r} without its target run")
        if "target_health" in tables:
            for t, r, c in db.execute("SELECT target, region, last_cycle FROM target_health"):
                if (c, t, r) not in runs:
                    bad.append(f"health of {t} {r} points at cycle {c}, which has no run of it")
        run_accounts = {(a, r) for a, r in db.execute(
            "SELECT DISTINCT account, region FROM target_runs WHERE account IS NOT NULL")}
        for table in ("functions", "accounts", "coverage", "series_coverage"):
            if table in tables:
                for a, r in db.execute(f"SELECT DISTINCT account, region FROM {table}"):
                    if (a, r) not in run_accounts:
                        bad.append(f"{table} rows of {a} {r} without any target run")
        # The stored function set is the one the latest complete listing counted.
        for a, r, n in db.execute(
                "SELECT account, region, functions FROM target_runs t WHERE functions IS NOT NULL AND cycle_id = "
                "(SELECT MAX(cycle_id) FROM target_runs u WHERE u.account = t.account AND u.region = t.region "
                "AND u.functions IS NOT NULL)"):
            have = db.execute("SELECT COUNT(*) FROM functions WHERE account = ? AND region = ?", (a, r)).fetchone()[0]
            if have != n:
                bad.append(f"{a} {r}: {have} functions stored, the latest listing counted {n}")
        for table in sorted(t for t in tables if t.startswith(("points_", "summary_"))):
            orphans = db.execute(f"SELECT COUNT(*) FROM {table} WHERE series_id NOT IN (SELECT id FROM series)"
                                 ).fetchone()[0]
            if orphans:
                bad.append(f"{orphans} {table} rows without their series")
        return integrity, bad, cycles
    finally:
        db.close()


def _last_cycle_start(path: Path) -> float:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT MAX(started_at) FROM cycles WHERE finished_at IS NOT NULL").fetchone()[0]
    finally:
        db.close()


def test_collect_killed_20_times_leaves_a_whole_store_and_the_next_collect_resumes(sb, tmp_path):
    now = int(time.time()) // 60 * 60
    reliability_fleet.build(sb, now)
    ref_cfg = write_config(tmp_path / "ref.toml", sb.endpoint_url, "ref.db")
    cfg = write_config(tmp_path / "fleet.toml", sb.endpoint_url, "crash.db")
    store = tmp_path / "crash.db"
    # One normal first cycle (backfill) and one steady cycle, on a store that is never killed.
    first_s, steady_s = _timed_cycle(ref_cfg), _timed_cycle(ref_cfg)

    rng = random.Random(SEED)
    outcomes = {"mid-cycle": 0, "outside a cycle": 0, "exited first": 0}
    killed_mid = 0
    unfinished_allowed: set[int] = set()
    integrity_ok = 0
    half_written: list[str] = []
    for i in range(KILLS):
        before = audit(store)[2] if store.exists() else []
        last_id = max((c for c, _ in before), default=0)
        any_finished = any(f is not None for _, f in before)
        delay = rng.uniform(0, steady_s if any_finished else first_s)
        p = _collect(cfg)
        _started(p)
        time.sleep(delay)
        running = p.poll() is None
        if running:
            os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        if running:
            assert p.returncode == -signal.SIGKILL
        else:
            assert p.returncode == 0 and "Traceback" not in err, out + err
        integrity, bad, cycles = audit(store)
        integrity_ok += integrity == "ok"
        assert integrity == "ok", f"kill {i + 1} after {delay:.2f} s: integrity_check says {integrity}"
        half_written += [f"kill {i + 1} after {delay:.2f} s: {b}" for b in bad]
        new = [(c, f) for c, f in cycles if c > last_id]
        assert len(new) <= 1, f"kill {i + 1}: one collect began {len(new)} cycles"
        if running and new and new[0][1] is None:
            killed_mid += 1
            unfinished_allowed.add(new[0][0])
        outcome = ("mid-cycle" if running and new and new[0][1] is None else
                   "outside a cycle" if running else "exited first")
        outcomes[outcome] += 1
        print(f"kill {i + 1}: after {delay:.2f} s of {steady_s if any_finished else first_s:.2f} s: {outcome}")
        unfinished = {c for c, f in cycles if f is None}
        assert unfinished <= unfinished_allowed, (
            f"kill {i + 1}: cycles {sorted(unfinished - unfinished_allowed)} are unfinished, "
            "but no killed run left them")
    assert not half_written, "\n".join(half_written)

    # A plain collect resumes: it finishes its cycle and exits 0 or 3, with an explanation, not a traceback.
    p = _collect(cfg)
    out, err = p.communicate(timeout=120)
    assert p.returncode in (0, 3) and "Traceback" not in err, out + err
    integrity, bad, cycles = audit(store)
    assert integrity == "ok" and not bad, (integrity, bad)
    assert cycles[-1][1] is not None, f"the final collect left cycle {cycles[-1][0]} unfinished"
    c = subprocess.run([sys.executable, "-m", "collectors", "check", "--config", str(cfg), "--window", "2h",
                        "--format", "json"], cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
                       timeout=120)
    assert c.returncode in (0, 1, 2, 3) and "Traceback" not in c.stderr, c.stderr
    assert json.loads(c.stdout)["targets"], c.stdout

    # Nothing lost: the killed store's figures equal the never-killed one's, over the same window.
    at = min(_last_cycle_start(tmp_path / "ref.db"), _last_cycle_start(store))
    ref, got = review_at(ref_cfg, at, COMPARE_WINDOW_S), review_at(cfg, at, COMPARE_WINDOW_S)
    diff = compare(flatten(ref, ("health",)), flatten(got, ("health",)))
    REPORT["crash"].append({
        "kills": KILLS, "killed mid-cycle": killed_mid,
        "killed outside a cycle": outcomes["outside a cycle"], "exited before the kill": outcomes["exited first"], "integrity ok": f"{integrity_ok}/{KILLS}",
        "half-written targets": len(half_written), "unfinished cycles": len(unfinished_allowed),
        "final collect": f"exit {p.returncode}, cycle finished",
        "figures compared": diff.compared,
        "differences": len(diff.wrong_zeros) + len(diff.too_low) + len(diff.unknown) + len(diff.other),
    })
    assert killed_mid >= KILLS // 4, f"only {killed_mid} of {KILLS} kills landed inside a cycle"
    assert not (diff.wrong_zeros or diff.too_low or diff.unknown or diff.other or diff.statuses), diff.explain()

