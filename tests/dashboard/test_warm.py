"""The review warmer: after a cycle lands, the default window's review is computed before anyone asks,
and the first page load after it reads it instead of computing it (dashboard/warm.py)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import streamlit as st

from analysis import review as rv
from collectors.model import Covered, Point, TargetResult
from collectors.store import Store
from dashboard import queries, state, warm
from tests.dashboard.seed import PROD, seed


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """A seeded config of its own (this test writes a cycle into it), and a list of the reviews computed."""
    now = time.time()
    cfg, minute = seed(tmp_path, now), int(now) // 60 * 60
    calls: list[tuple[int, int]] = []
    real = rv.review

    def review(store, start, end, *a, **kw):
        calls.append((start, end))
        return real(store, start, end, *a, **kw)
    monkeypatch.setattr(rv, "review", review)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield str(cfg), minute, calls
    st.cache_data.clear()
    st.cache_resource.clear()


def test_the_first_page_load_after_a_cycle_reads_the_warmed_review(counted, run_page, monkeypatch):
    cfg, minute, calls = counted
    monkeypatch.setattr(queries, "now", lambda: minute + 30.0)   # the pages' clock and the warmer's
    last = warm.warm_once(cfg, None)
    assert len(calls) == 1 and calls[0] == rv.window(minute + 30.0, 86400)   # the default window: 24 h
    assert warm.warm_once(cfg, last) == last and len(calls) == 1           # nothing new: nothing computed
    at = run_page("overview", config=Path(cfg))                                # a visitor opens the dashboard
    assert len(calls) == 1, "the Overview computed the review again"
    assert any("130 (13 %)" in m.value for m in at.markdown)               # and shows its numbers
    # a cycle lands: the warmer sees the new write marker and computes the review again, before any page
    s = Store(queries.settings(cfg).store_path)
    r = TargetResult("prod", "us-east-1", PROD, minute, minute + 1,
                     points=[Point("AccountConcurrentExecutions", "", "", minute - 60, 5.0)])
    r.coverage = [Covered("account", "", minute - 60, minute)]
    cid = s.begin_cycle(minute)
    s.write_target(cid, r)
    s.end_cycle(cid, minute + 1)
    s.close()
    st.cache_data.clear()   # the write marker is cached 2 s; a poll after that sees the cycle
    moving = warm.warm_once(cfg, last, before=last[0])   # it moved since the last poll: a cycle still writing
    assert moving == last and len(calls) == 1
    quiet = warm.warm_once(cfg, last, before=queries.version(cfg))   # quiet for a poll: the cycle is in
    assert quiet != last and quiet[0] == queries.version(cfg) and len(calls) == 2


def test_a_window_someone_looks_at_is_warmed_too_and_forgotten_after_a_while(counted, run_page, monkeypatch):
    """The 7-day view a visitor has open gets its review computed after each cycle as the default does;
    once no page has shown it for RECENT_S, only the default window is warmed."""
    cfg, minute, calls = counted
    monkeypatch.setattr(queries, "now", lambda: minute + 30.0)
    monkeypatch.setattr(state, "_shown", {})
    last = warm.warm_once(cfg, None)
    day, week = rv.window(minute + 30.0, 86400), rv.window(minute + 30.0, 7 * 86400)
    assert calls == [day]
    run_page("overview", config=Path(cfg), window="7d")   # a visitor opens the 7-day view: computed there
    assert calls == [day, week]
    assert state.recent_windows(cfg) == ["24h", "7d"]
    st.cache_data.clear()
    st.cache_resource.clear()                               # as a new cycle would make them stale
    last = warm.warm_once(cfg, last)
    assert calls == [day, week, day, week]                  # both warmed again
    assert warm.warm_once(cfg, last) == last and len(calls) == 4
    clock = time.monotonic() + state.RECENT_S + 1           # a quarter of an hour later, nobody on 7 d
    monkeypatch.setattr(state.time, "monotonic", lambda: clock)
    assert state.recent_windows(cfg) == ["24h"]
    st.cache_resource.clear()
    warm.warm_once(cfg, last)
    assert calls[4:] == [day]
