"""What the reliability tests share: the collector's config for the seeded fleet and the review at a pinned time."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from collectors import config
from analysis import review
from collectors.store import Store
from tests.collectors.seed import ROLE

REPO = Path(__file__).resolve().parents[2]
WINDOW_S = 2 * 3600   # the review window of every comparison (check --window 2h)


def write_config(path: Path, endpoint: str, store: str) -> Path:
    path.write_text(f"""
[store]
path = "{store}"
[grouping]
prefix_depth = 1
tag_keys = ["team"]
[collection]
max_attempts = 2
backfill_hours = 2
backfill_days = 0
[[targets]]
name = "prod"
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "{endpoint}"
[[targets]]
name = "staging"
regions = ["us-east-1", "eu-west-1"]
role_arn = "{ROLE}"
endpoint_url = "{endpoint}"
""")
    return path


def review_at(cfg: Path, now: float, window_s: int = WINDOW_S) -> dict[str, Any]:
    """check --format json's data at a pinned `now`, through the same library call the CLI makes."""
    settings = config.load(cfg)
    store = Store(settings.store, readonly=True)
    try:
        start, end = review.window(now, window_s)
        rv = review.review(store, start, end, settings.thresholds, now=now,
                           expected=[(t.name, r) for t in settings.targets for r in t.regions],
                           max_age_s=settings.collection.max_age_seconds,
                           function_max_age_s=settings.collection.function_max_age_seconds)
        return json.loads(rv.to_json())
    finally:
        store.close()


def errors_recorded(db: Path) -> int | str:
    """Collection errors stored so far (API calls that failed beyond botocore's retries)."""
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return c.execute("SELECT COUNT(*) FROM errors").fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return "?"
