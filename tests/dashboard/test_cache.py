"""A chart's cache survives the cycles that write nothing into its time (issue #8), and never serves what a
write changed: the chart is read in two parts, each cached on the writes into its own time."""
from __future__ import annotations

import time

import pandas as pd
import pytest
import streamlit as st

from analysis import history
from collectors.model import Covered, Point, TargetResult
from collectors.store import Store
from dashboard import queries
from tests.dashboard.seed import PROD, seed

METRIC = ("AccountConcurrentExecutions",)


@pytest.fixture(params=[60, 3600], ids=["this minute", "on the hour"])
def fleet(request, tmp_path, monkeypatch):
    # on the hour, the late minute below lands at the time of a stored hourly bucket (as a CI run once did)
    now = int(time.time()) // request.param * request.param
    cfg = seed(tmp_path, now)
    calls: list[tuple[int, int]] = []
    real = history.timeseries

    def counted(store, account, region, metric, start, end, step, **kw):
        calls.append((start, end))
        return real(store, account, region, metric, start, end, step, **kw)
    monkeypatch.setattr(history, "timeseries", counted)
    st.cache_data.clear()
    yield str(cfg), now, calls
    st.cache_data.clear()


def write(cfg: str, now: int, ts: int, value: float) -> None:
    """A cycle of the seeded target that read the minute at `ts` (and found `value`)."""
    s = Store(queries.settings(cfg).store_path)
    # the metrics of a cycle whose inventory calls were skipped (functions None: the inventory stays)
    r = TargetResult("prod", "us-east-1", PROD, now, now + 1, points=[Point("AccountConcurrentExecutions", "", "", ts, value)])
    r.coverage = [Covered("account", "", ts, ts + 60)]
    cid = s.begin_cycle(now)
    s.write_target(cid, r)
    s.end_cycle(cid, now + 1)
    s.close()


def test_the_chart_before_its_last_hour_is_read_once_across_cycles_that_write_after_it(fleet):
    cfg, now, calls = fleet
    start, end, step = now - 86400, now, 300
    first = queries.series(cfg, PROD, "us-east-1", METRIC, start, end, step)
    head, tail = calls
    assert head == (start // step * step, (end - 3600) // step * step) and tail == (head[1], end)
    # the same view again: nothing read
    calls.clear()
    assert queries.series(cfg, PROD, "us-east-1", METRIC, start, end, step).equals(first)
    assert calls == []
    # a new cycle writes the last minute: only the last hour is read again, and it shows the new point
    write(cfg, now, now - 60, 999)
    calls.clear()
    after = queries.series(cfg, PROD, "us-east-1", METRIC, start, end, step)
    assert calls == [tail]
    assert after.iloc[-1, 0] == 999 and after.iloc[:-12].equals(first.iloc[:-12])
    # a write into the cached part (a backfilled hole, a late datapoint): that part is read again
    write(cfg, now, now - 5 * 3600, 777)
    calls.clear()
    again = queries.series(cfg, PROD, "us-east-1", METRIC, start, end, step)
    assert calls == [head]
    bucket = pd.Timestamp((now - 5 * 3600) // step * step, unit="s", tz="UTC")
    assert again.loc[bucket].iloc[0] == 777
    # and what the cache serves is what reading the whole window at once gives
    s = Store(queries.settings(cfg).store_path, readonly=True)
    whole = [v for _, v in history.timeseries(s, PROD, "us-east-1", METRIC[0], start // step * step, end, step)]
    s.close()
    assert [None if v != v else v for v in again.iloc[:, 0]] == whole
