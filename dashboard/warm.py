"""Warm the review after each cycle, so that the first page load after it does not pay for it.

At 10,000 functions the review takes seconds (BENCHMARKS.md, section 5); it depends on the store's data and
the window's minute. One daemon thread per dashboard process watches both and computes the reviews (the ones
`queries.review` caches for every session) once the store has been quiet for a poll (a cycle writes its
targets one by one: one review per cycle, not one per target): a page opened or refreshed after a cycle
lands then finds it ready. It warms the default window, and each preset window a page showed in the last
quarter of an hour (state.recent_windows: the 7-day view someone has open is warm too, a 30-day one
nobody looks at costs nothing). Custom date ranges are computed when asked for.
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
    """Compute the reviews of the default and recently shown windows unless they are those computed for
    `last` (the store's write marker and the windows' bounds), or the marker has moved since the previous
    poll's (`before`: a cycle still writing); returns what it was computed for (None: nothing to review yet)."""
    now = queries.now()
    bounds = tuple(state.window_bounds(w, "", "", now) for w in state.recent_windows(cfg))
    seen = (queries.version(cfg), bounds)
    if seen[0] is None or seen == last or (before is not None and before != seen[0]):
        return last
    for start, end in bounds:   # cached on the marker: a window already computed for it costs a lookup
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
