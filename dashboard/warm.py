"""Warm the review after each cycle, so that the first page load after it does not pay for it.

At 10,000 functions the review takes seconds (BENCHMARKS.md, section 5); it depends on the store's data and
the window's minute. One daemon thread per dashboard process watches both and computes the default
window's review (the one `queries.review` caches for every session) once the store has been quiet for
a poll (a cycle writes its targets one by one: one review per cycle, not one per target): a page opened or
refreshed after a cycle lands then finds it ready. Other windows are computed when asked for.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import streamlit as st

from dashboard import queries, state

log = logging.getLogger(__name__)
POLL_S = 2.0


def warm_once(cfg: str, last: Any, before: Any = None) -> Any:
    """Compute the default window's review unless it is the one computed for `last` (the store's write
    marker and the window), or the marker has moved since the previous poll's (`before`: a cycle still
    writing); returns what it was computed for (None: nothing to review yet)."""
    start, end = state.window_bounds(str(state.DEFAULTS["window"]), "", "", queries.now())
    seen = (queries.version(cfg), start, end)
    if seen[0] is None or seen == last or (before is not None and before != seen[0]):
        return last
    queries.review(cfg, start, end)
    return seen


def enabled() -> bool:
    """Off with HEADROOM_WARM=0 (the tests and the benchmarks: they time cold loads, or drive it by hand)."""
    return os.environ.get("HEADROOM_WARM", "1") != "0"


@st.cache_resource(show_spinner=False)
def start(cfg: str) -> threading.Thread:
    """The warming thread of this config (one per process: started by the first page run)."""
    def loop() -> None:
        last: Any = None
        before: Any = None
        while True:
            try:
                last = warm_once(cfg, last, before)
                before = queries.version(cfg)
            except Exception as e:  # noqa: BLE001 - no store yet, a bad config: the pages say why, not this
                log.debug("review not warmed: %s", e)
            time.sleep(POLL_S)
    t = threading.Thread(target=loop, name="headroom-warm-review", daemon=True)
    t.start()
    return t
