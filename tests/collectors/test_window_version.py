"""Store.window_version: it changes exactly when a write changes a window's points or coverage, so a cache
of a window's data survives the cycles that only write elsewhere (issue #8: caches that survive a cycle)."""
import pytest

from collectors.config import Retention
from collectors.store import Store

from .helpers import ACCOUNT, REGION, T0, Covered, Point, fn, result

H = 3600


@pytest.fixture
def store(store_location):   # on both backends: a SQLite file, a PostgreSQL database
    s = Store(store_location)
    yield s
    s.close()


def write(store, r):
    cid = store.begin_cycle(r.started_at)
    store.write_target(cid, r)
    store.end_cycle(cid, r.finished_at)


def cycle(lo, hi, value=3.0, other="a", now=None):
    """A cycle that read [lo, hi): a throttle a minute, and the coverage of every subject."""
    pts = [Point("Throttles", other, "", ts, value) for ts in range(lo, hi, 60)]
    return result([fn("a"), fn("b")], pts, coverage=[(lo, hi)], now=now or hi)


def test_a_past_window_keeps_its_version_while_newer_minutes_are_written(store):
    write(store, cycle(T0, T0 + H))
    v = store.window_version(ACCOUNT, REGION, T0, T0 + H)
    assert v[0] is not None
    for k in range(1, 4):   # three later cycles, each its own minutes (and the usual overlap at its start)
        write(store, cycle(T0 + k * H - 300, T0 + (k + 1) * H))
        assert store.window_version(ACCOUNT, REGION, T0, T0 + H - 300) == v
    # the windows they wrote into moved
    assert store.window_version(ACCOUNT, REGION, T0 + H, T0 + 2 * H) != v


def test_a_re_read_that_changes_nothing_keeps_it_and_one_that_changes_a_value_moves_it(store):
    write(store, cycle(T0, T0 + H))
    v = store.window_version(ACCOUNT, REGION, T0, T0 + H)
    write(store, cycle(T0, T0 + H))                 # the same answer again: nothing rewritten
    assert store.window_version(ACCOUNT, REGION, T0, T0 + H) == v
    write(store, cycle(T0, T0 + H, value=4.0))      # a late datapoint changed the minutes: recompute
    v2 = store.window_version(ACCOUNT, REGION, T0, T0 + H)
    assert v2 != v
    assert store.window_version(ACCOUNT, REGION, T0 + 2 * H, T0 + 3 * H) == (None, None)   # never written


def test_coverage_filling_a_hole_moves_it_and_another_target_does_not(store):
    write(store, result([fn("a")], [], coverage=[Covered("account", "", T0, T0 + H),
                                                 Covered("function", "a", T0, T0 + 600)], now=T0 + H))
    v = store.window_version(ACCOUNT, REGION, T0, T0 + H)
    # another region's cycle over the same hours: not this window's data
    write(store, result([fn("a")], [Point("Throttles", "a", "", T0 + 60, 1)], coverage=[(T0, T0 + H)],
                        region="eu-west-1", now=T0 + H))
    assert store.window_version(ACCOUNT, REGION, T0, T0 + H) == v
    # the hole in a's coverage is read: a's figures there go from unknown to known
    write(store, result([fn("a")], [], coverage=[Covered("function", "a", T0 + 600, T0 + H)], now=T0 + H))
    assert store.window_version(ACCOUNT, REGION, T0, T0 + H) != v


def test_rollup_moves_the_windows_it_rewrites_or_expires(store):
    write(store, cycle(T0, T0 + H))
    write(store, cycle(T0 + 10 * 86400, T0 + 10 * 86400 + H))
    old = store.window_version(ACCOUNT, REGION, T0, T0 + H)
    recent = store.window_version(ACCOUNT, REGION, T0 + 10 * 86400, T0 + 10 * 86400 + H)
    # 4 days later: the first hour's minutes become 5-minute buckets (3-day raw retention); the recent
    # hour is not touched
    store.rollup(T0 + 4 * 86400 + H, Retention())
    assert store.window_version(ACCOUNT, REGION, T0, T0 + H) != old
    assert store.window_version(ACCOUNT, REGION, T0 + 10 * 86400, T0 + 10 * 86400 + H)[0] == recent[0]
    # a retention that expires the first hour: gone is a change too
    before = store.window_version(ACCOUNT, REGION, T0, T0 + H)
    store.rollup(T0 + 5 * 86400, Retention(raw_days=1, five_minute_days=2, hourly_days=3))
    assert store.window_version(ACCOUNT, REGION, T0, T0 + H) != before
