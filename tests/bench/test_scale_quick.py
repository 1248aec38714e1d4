"""bench/scale.py --quick runs end to end (store build, first cycle, steady write, every page through AppTest,
review, rollup) and ends with one JSON line holding the issue #8 figures. No timing thresholds: timings are
benchmark results (BENCHMARKS.md), not test outcomes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("overview", "triage", "limits", "groups", "function")
WINDOWS = ("24h", "7d", "30d")
NUMBERS = ("store_bytes", "bytes_per_point", "bytes_per_function_day", "collector_first_cycle_rss_mb", "points_per_s",
           "rollup_s", "steady_write_s", "build_s", "build_points", "build_rss_mb", "store_points",
           "store_bytes_10k_30d_estimate", "bench_rss_mb")


def test_scale_quick_prints_the_figures(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HEADROOM_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "bench.scale", "--quick", "--dir", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in NUMBERS:
        assert isinstance(out[key], (int, float)) and out[key] > 0, (key, out.get(key))
    assert out["functions"] == 200 and out["days"] == 3
    assert out["store_points"] == out["build_points"]
    for key in ("pages_p50_s", "pages_p95_s"):   # the first load after a cycle, every page and window
        for page in PAGES:
            for w in WINDOWS:
                assert out[key][page][w] > 0, (key, page, w)
                assert out["pages_p95_s"][page][w] >= out["pages_p50_s"][page][w]
    for page in PAGES:   # --quick: the warm and review-cached runs in the first window only
        assert out["pages_warm_p50_s"][page]["24h"] > 0
        assert out["pages_after_warmer_p50_s"][page]["24h"] > 0 and out["warmer_s"][page]["24h"] > 0
        if page != "overview":   # the session opened on the Overview, then this page
            assert out["pages_review_cached_p50_s"][page]["24h"] > 0
    assert set(out["review_s"]) == set(WINDOWS) and all(v > 0 for v in out["review_s"].values())
    assert out["slowest_page_24h"] in PAGES
    assert out["rollup_moved"].get("60->300", 0) > 0   # the hour crossing the raw cut moved
    assert any(k.startswith("points_") for k in out["table_bytes"])
