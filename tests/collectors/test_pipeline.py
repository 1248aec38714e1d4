from collectors.config import Collection
from collectors.pipeline import metric_windows

NOW = 1_700_000_000 + 1234   # not aligned
H = 3600


def test_first_run_backfills_hourly_then_by_minute():
    c = Collection(backfill_hours=24, backfill_days=7)
    fine_from = (NOW - 24 * H) // H * H
    assert metric_windows(None, NOW, c) == [
        ((NOW - 7 * 86400) // H * H, fine_from, 3600),
        (fine_from, NOW // 60 * 60, 60)]


def test_steady_state_rereads_the_overlap_only():
    c = Collection(overlap_minutes=10)
    end = NOW // 60 * 60
    assert metric_windows(end - 60, NOW, c) == [(end - 60 - 600, end, 60)]


def test_catch_up_after_an_outage_reads_the_old_part_hourly():
    c = Collection(backfill_hours=24, overlap_minutes=10)
    last = NOW - 3 * 86400
    fine_from = (NOW - 24 * H) // H * H
    assert metric_windows(last, NOW, c) == [((last - 600) // H * H, fine_from, 3600), (fine_from, NOW // 60 * 60, 60)]


def test_nothing_to_read_within_the_same_minute():
    c = Collection(overlap_minutes=0)
    assert metric_windows(NOW // 60 * 60, NOW, c) == []
