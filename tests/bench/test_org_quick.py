"""bench/org.py --quick runs end to end: an organisation on the sandbox, one and two collector processes on
PostgreSQL and one on SQLite, the same review figures from every store, every page on both backends. No
timing thresholds: timings are benchmark results (BENCHMARKS.md), not test outcomes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pgserver

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("overview", "triage", "limits", "groups", "function")
pytestmark = pytest.mark.postgresql


def test_org_quick_prints_the_figures(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEADROOM_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "bench.org", "--quick", "--pg-url", pgserver.require(),
                           "--keep", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out["accounts"], out["regions"], out["functions"]) == (4, 2, 40)
    for backend, ns in (("postgresql", ("1", "2")), ("sqlite", ("1",))):
        for n in ns:
            r = out[backend][n]
            assert r["first_s"] > 0 and r["steady_s"] > 0 and r["steady_collectors_cpu_s"] > 0
            assert len(r["cycles"]) == 2 and all(len(c["per_process_s"]) == int(n) for c in r["cycles"])
    assert out["collectors_for_60s_by_cpu"] >= 1
    # two collectors splitting the targets, and SQLite, give one collector's figures exactly
    assert set(out["same_figures"]) == {"postgresql-2", "sqlite-1"}
    for name, cmp in out["same_figures"].items():
        assert cmp["figures"] > 100 and cmp["differ"] == 0, (name, cmp["first"])
    for backend in ("postgresql", "sqlite"):
        assert set(out["pages_p50_s"][backend]) == set(PAGES)
        assert all(v["cold"] > 0 for v in out["pages_p50_s"][backend].values())
