"""Three real `collect --every` processes on one store, against the sandbox server; one is SIGKILLed.

The collectors split 6 target regions by leases (2 each); after the kill the two survivors take the
dead one's targets when its leases expire and hold 3 each. Asserted: how long the takeover took (at
most the lease's LEASE_CYCLES intervals plus one cycle of the survivors, from the dead collector's last
renewal), the largest gap between two collections of any target over the run, that the account's
series are covered without a hole from the kill to the end, that the review calls no target stale,
and that survivors stopped with SIGTERM give their leases back. Cycles run EVERY seconds apart
(HEADROOM_TEST_MIN_EVERY lowers the 60 s floor for the test), so the test takes about 40 s.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collectors.leases import LEASE_CYCLES
from collectors.store import Store, StoreError
from tests.reliability.harness import REPO, review_at

from . import seed

EVERY = 3                            # seconds between a collector's cycle starts
TTL = LEASE_CYCLES * EVERY           # a lease's life past its last renewal
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")   # 2 targets x 3 regions = 6 target regions
SLACK = 4.0                          # a cycle's own time and process scheduling on a loaded 2-core machine


def _config(tmp_path: Path, endpoint: str, store: str) -> Path:
    regions = ", ".join(f'"{r}"' for r in REGIONS)
    p = tmp_path / "fleet.toml"
    p.write_text(f"""
[store]
{store}
[collection]
max_attempts = 2
backfill_hours = 1
backfill_days = 0
[[targets]]
name = "prod"
regions = [{regions}]
endpoint_url = "{endpoint}"
[[targets]]
name = "staging"
regions = [{regions}]
role_arn = "{seed.ROLE}"
endpoint_url = "{endpoint}"
""")
    return p


class Reader:
    """Looks at the store while the collectors write it, through a read-only Store (any backend)."""

    def __init__(self, path: Path):
        self.path = path
        self.store: Store | None = None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            if self.store is None:
                self.store = Store(self.path, readonly=True)
            return [tuple(r) for r in self.store.query(sql, params)]
        except StoreError:   # not created or not migrated yet
            self.store = None
            return []

    def leases(self, now: float) -> dict[tuple[str, str], str]:
        """(target, region) -> owner, of the unexpired target leases."""
        return {(t, r): o for t, r, o in self.rows(
            "SELECT target, region, owner FROM leases WHERE expires_ms > ? AND target != '*alerts*'",
            (int(now * 1000),))}

    def runs(self) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """(target, region) -> [(started_at, finished_at)] of its successful collections, oldest first."""
        out: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for t, r, s, f in self.rows("SELECT target, region, started_at, finished_at FROM target_runs "
                                    "WHERE account IS NOT NULL AND error_count = 0 ORDER BY finished_at"):
            out.setdefault((t, r), []).append((s, f))
        return out


def _wait(what: str, timeout: float, check: Any, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        for p, log in zip(procs, logs):
            if p.poll() is not None and p.returncode != -signal.SIGKILL:
                pytest.fail(f"a collector exited ({p.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    tails = "\n---\n".join(log.read_text()[-1500:] for log in logs)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def test_three_collectors_one_killed_its_targets_are_taken_over_within_the_lease_and_nothing_goes_stale(
        sb, tmp_path, store_location):
    """On both backends: one SQLite file, and one PostgreSQL database the three processes share."""
    seed.build(sb)
    seed.put_metrics(sb, int(time.time()))
    line = f'path = "{store_location}"' if isinstance(store_location, Path) else f'url = "{store_location}"'
    cfg = _config(tmp_path, sb.endpoint_url, line)
    db = Reader(store_location)
    keys = {(t, r) for t in ("prod", "staging") for r in REGIONS}
    env = dict(os.environ, HEADROOM_TEST_MIN_EVERY="1")
    logs = [tmp_path / f"collector{i}.log" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "collectors", "collect", "--config", str(cfg),
                               "--every", str(EVERY)], cwd=REPO, env=env, stdout=log.open("wb"),
                              stderr=subprocess.STDOUT) for log in logs]
    try:
        # 1. The three split the six target regions, two each, and every one has been collected.
        def balanced() -> dict[tuple[str, str], str] | None:
            held = db.leases(time.time())
            per = {o: sum(1 for v in held.values() if v == o) for o in set(held.values())}
            return held if set(held) == keys and sorted(per.values()) == [2, 2, 2] and \
                set(db.runs()) == keys else None
        held = _wait("the three collectors to hold two target regions each", 40, balanced, procs, logs)
        t_balanced = time.time()
        victim_pid = procs[0].pid
        victim = next(o for o in held.values() if o.split(":")[1] == str(victim_pid))
        victim_keys = sorted(k for k, o in held.items() if o == victim)
        assert len(victim_keys) == 2

        # 2. SIGKILL one; its leases live until TTL after its last renewal (its heartbeat's time)
        time.sleep(EVERY)   # a cycle of collections by all three before the kill
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        t_kill = time.time()
        last_renewal = db.rows("SELECT seen_ms FROM collector_members WHERE owner = ?", (victim,))[0][0] / 1000
        last_by_victim = {k: db.runs()[k][-1][1] for k in victim_keys}

        # 3. The survivors take its targets and hold three each.
        def taken_over() -> dict[tuple[str, str], float] | None:
            runs = db.runs()
            firsts = {k: next((f for s, f in runs[k] if s > t_kill), None) for k in victim_keys}
            held = db.leases(time.time())
            per = sorted(sum(1 for v in held.values() if v == o) for o in set(held.values()))
            if all(firsts.values()) and per == [3, 3] and victim not in held.values():
                return {k: f for k, f in firsts.items() if f is not None}
            return None
        firsts = _wait("the survivors to take over", TTL + 3 * EVERY + 20, taken_over, procs, logs)
        takeover_after_kill = {k: f - t_kill for k, f in firsts.items()}
        takeover_after_renewal = {k: f - last_renewal for k, f in firsts.items()}
        time.sleep(2 * EVERY)   # two more cycles of the survivors
        t_end = time.time()
        runs = db.runs()

        # the largest gap between two collections of each target, from the balanced split to the end
        gaps = {k: max(b[1] - a[1] for a, b in zip(v, v[1:]) if b[1] >= t_balanced) for k, v in runs.items()}
        victim_gap = max(gaps[k] for k in victim_keys)
        other_gap = max(g for k, g in gaps.items() if k not in victim_keys)
        # the account series' coverage from the minute before the kill to the end: one unbroken range
        holes = []
        for a, r in db.rows("SELECT DISTINCT account, region FROM accounts"):
            ranges = db.rows("SELECT start, end FROM series_coverage WHERE account = ? AND region = ? AND "
                             "scope = 'account' AND end > ? ORDER BY start", (a, r, int(t_kill) // 60 * 60 - 60))
            # one unbroken range from before the kill to the minute the latest cycle reached (a cycle ran within
            # EVERY + SLACK of t_end; it covers up to its own minute, not t_end's when the minute just turned)
            if len(ranges) != 1 or ranges[0][0] > int(t_kill) // 60 * 60 - 60 or \
                    ranges[0][1] < int(t_end - EVERY - SLACK) // 60 * 60:
                holes.append((a, r, ranges))
        rv = review_at(cfg, t_end)
        stale = [(t["target"], t["region"]) for t in rv["targets"] if t["health"]["stale"]]
        print(f"\n3 collectors, 6 target regions, every {EVERY} s, lease {TTL} s: killed {victim} holding "
              f"{victim_keys}; collected again {min(takeover_after_kill.values()):.1f}-"
              f"{max(takeover_after_kill.values()):.1f} s after the kill, "
              f"{max(takeover_after_renewal.values()):.1f} s after its last renewal (bound "
              f"{TTL + EVERY + SLACK:.0f} s); largest gap between two collections: {victim_gap:.1f} s for its "
              f"targets, {other_gap:.1f} s for the others; {len(runs)} targets, "
              f"{sum(len(v) for v in runs.values())} successful collections; coverage holes {holes}; stale {stale}")
        # the lease expires TTL after its last renewal, a survivor's next cycle claims and collects it
        assert max(takeover_after_renewal.values()) <= TTL + EVERY + SLACK
        assert max(takeover_after_kill.values()) <= TTL + EVERY + SLACK
        assert victim_gap <= TTL + EVERY + SLACK          # its last collection came after its last renewal
        assert other_gap <= 2 * EVERY + SLACK              # never more than one missed cycle elsewhere
        assert all(last_by_victim[k] < firsts[k] for k in victim_keys)
        assert holes == []
        assert stale == [] and len(rv["targets"]) == 6

        # 4. Stopped with SIGTERM, the survivors give their leases back and leave.
        for p in procs[1:]:
            p.send_signal(signal.SIGTERM)
        for p in procs[1:]:
            assert p.wait(30) == 143
        assert db.rows("SELECT owner FROM leases WHERE owner != ?", (victim,)) == []
        assert [o for (o,) in db.rows("SELECT owner FROM collector_members")] in ([], [victim])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
