"""bench/cost.py --quick runs end to end (a mostly idle sandbox fleet with bursts on dormant functions,
every simulated minute collected by both strategies) and ends with one JSON line holding the issue #7
figures: the same review either way, every burst seen, and paying for activity far cheaper.

The cost bound is a ratio, not the $0.10 target: the quick fleet (150 functions, 20 simulated minutes)
has bursts throttling the account in every minute, so the activity strategy reads every listed function
series every cycle, its costliest case (8.2x cheaper than asking everything when measured). Even then it
asks only the series ListMetrics names (functions with data in the last 3 hours, under 30 % of such a
fleet, and of those only the metrics they publish), so a bound of 3x holds with room whatever the bursts;
the $/function target is a full-run figure (BENCHMARKS.md, the bench/cost.py section)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cost_quick_same_figures_every_burst_and_cheaper() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEADROOM_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "bench.cost", "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["functions"] == 150 and out["simulated_minutes"] >= 20
    assert out["errors"] == {"all": 0, "activity": 0}, proc.stdout[-3000:]
    # every figure of the review (targets, functions, groups, findings), three windows
    assert out["figures_compared"] > 3 * 150 * 10
    assert out["differences"] == 0, proc.stdout[-6000:]
    # every burst that started in a window shows its throttles (as the sandbox holds them) in both
    assert out["bursts_in_windows"] >= 3 and out["bursts_seen"] == out["bursts_in_windows"], out["bursts_missed"]
    assert out["bursts_missed"] == []
    # paying for activity: the account tier is the same, the function tier far smaller
    assert out["ratio"] > 3, out["usd_per_function_month"]
    assert out["metrics_by_tier"]["all"]["account"] == out["metrics_by_tier"]["activity"]["account"]
    assert out["metrics"]["activity"] * 3 < out["metrics"]["all"]
    assert out["discovery_calls"]["all"] == 0 < out["discovery_calls"]["activity"]
    assert 0 < out["usd_per_function_month"]["activity"] < out["usd_per_function_month"]["all"]
