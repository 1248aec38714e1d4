"""Several collectors on one store: --shard's static split, the lease table's claims, fair shares and
takeover (fake clocks, real store files), and what the review, the data status and the bill make of
targets written by different collectors' cycles."""
from __future__ import annotations

import threading

import pytest

from analysis import cost as costs
from analysis import review, triage
from collectors import cli
from collectors.config import DEFAULT_THRESHOLDS, Collection
from collectors.leases import Leases, ShardError, fair_shares, in_shard, parse_shard, shard_of
from collectors.store import Store

from .helpers import ACCOUNT, REGION, T0, fn, result

KEYS = [(t, r) for t in ("prod", "staging", "dev") for r in ("us-east-1", "eu-west-1")]


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- --shard -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [("1/3", (1, 3)), ("3/3", (3, 3)), ("1/1", (1, 1)), (" 2 / 4 ", (2, 4))])
def test_parse_shard_reads_i_of_n_from_1(text, want):
    assert parse_shard(text) == want


@pytest.mark.parametrize("text, says", [("3/2", "i must be from 1 to n"), ("0/3", "i must be from 1 to n"),
                                        ("1/0", "i must be from 1 to n"), ("a/b", "use i/n with whole numbers"),
                                        ("2", "use i/n with whole numbers"), ("1/2/3", "use i/n with whole numbers"),
                                        ("-1/3", "use i/n with whole numbers")])
def test_parse_shard_refuses_what_is_not_i_of_n_and_says_how(text, says):
    with pytest.raises(ShardError, match=says):
        parse_shard(text)


def test_a_bad_shard_on_the_command_line_exits_3_with_the_reason(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["collect", "--config", str(tmp_path / "none.toml"), "--shard", "3/2"])
    assert e.value.code == 3
    assert "--shard '3/2': i must be from 1 to n (n >= 1), e.g. 1/2 ... 2/2" in capsys.readouterr().err


def test_shards_split_the_targets_exactly_and_the_same_way_on_every_run():
    # sha256 of "target\0region", not Python's salted hash(): these are the same on every host and run
    assert [shard_of(k, 3) for k in KEYS] == [2, 3, 1, 2, 2, 3]
    parts = [in_shard(KEYS, i, 3) for i in (1, 2, 3)]
    assert sorted(k for p in parts for k in p) == sorted(KEYS)
    assert [len(p) for p in parts] == [1, 3, 2]
    assert in_shard(KEYS, 1, 1) == KEYS


def test_fair_shares_add_up_to_the_targets():
    assert fair_shares(["a", "b", "c"], 6) == {"a": 2, "b": 2, "c": 2}
    assert fair_shares(["c", "a", "b"], 4) == {"a": 2, "b": 1, "c": 1}
    assert fair_shares(["a", "b"], 1) == {"a": 1, "b": 0}
    assert fair_shares([], 5) == {}


# -- the lease table ---------------------------------------------------------------------------------
@pytest.fixture
def path(store_location):
    """One store on each backend (a SQLite file, a PostgreSQL database) that the test's Stores share."""
    return store_location


def test_a_claim_wins_only_over_an_unleased_or_expired_lease(path):
    a, b = Store(path), Store(path)   # two collectors: two connections to one file
    assert a.claim_lease("A", "prod", REGION, T0, 120) is True
    assert b.claim_lease("B", "prod", REGION, T0 + 119, 120) is False        # A's lease runs to T0 + 120
    assert a.renew_leases("A", T0 + 60, 120) == {("prod", REGION)}          # renewed to T0 + 180
    assert b.claim_lease("B", "prod", REGION, T0 + 179, 120) is False
    assert b.claim_lease("B", "prod", REGION, T0 + 180, 120) is True         # expired: B takes it
    assert a.renew_leases("A", T0 + 181, 120) == set()                      # not A's any more
    assert [(x["owner"], x["acquired_at"], x["expires_at"]) for x in b.leases()] == [("B", T0 + 180, T0 + 300)]
    b.release_leases("B", [("prod", REGION)])
    assert a.claim_lease("A", "prod", REGION, T0 + 181, 120) is True         # released: free at once


def test_of_eight_collectors_claiming_one_target_at_once_exactly_one_wins(path):
    Store(path).conn   # migrated before the race
    won: list[str] = []
    start = threading.Barrier(8)

    def claim(i: int) -> None:
        s = Store(path)
        start.wait()
        if s.claim_lease(f"c{i}", "prod", REGION, T0, 120):
            won.append(f"c{i}")
        s.close()
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert [x["owner"] for x in Store(path).leases()] == won


def test_collectors_share_fairly_rebalance_when_one_joins_and_take_over_a_dead_ones_targets(path):
    clock = Clock()
    a, b = Leases(Store(path), "A", 60, clock), Leases(Store(path), "B", 60, clock)
    assert len(a.assign(KEYS).held) == 6                 # alone: everything
    first = b.assign(KEYS)                               # joins: all leased, nothing to take yet
    assert (first.held, first.members, first.share) == ([], 2, 3)
    clock.t += 60
    gave = a.assign(KEYS)
    assert (len(gave.held), len(gave.released)) == (3, 3)   # above its share: gives three back
    took = b.assign(KEYS)
    assert sorted(took.claimed) == sorted(gave.released) and len(took.held) == 3
    assert set(took.held) | set(gave.held) == set(KEYS)
    # A dies (no more heartbeats or renewals). Its leases run LEASE_CYCLES intervals past its last renewal.
    clock.t += 60
    assert len(b.assign(KEYS).held) == 3                 # T+120: A's leases (renewed at T+60) still live
    clock.t += 60
    over = b.assign(KEYS)                                # T+180: expired; A's heartbeat too
    assert (len(over.held), over.members, sorted(over.claimed)) == (6, 1, sorted(gave.held))


def test_a_collector_stopped_gives_its_leases_back_at_once(path):
    clock = Clock()
    a, b = Leases(Store(path), "A", 60, clock), Leases(Store(path), "B", 60, clock)
    a.assign(KEYS)
    assert a.alerts() is True and b.alerts() is False    # one collector sends the alerts
    a.leave()
    assert len(b.assign(KEYS).held) == 6 and b.alerts() is True


def test_a_target_taken_back_is_written_against_the_store_not_this_collectors_old_copy(path):
    """Store keeps what it wrote (coverage ranges, functions) to write only changes. A collector that
    takes a target back after another wrote it must not merge against its old copy: the coverage the
    other one added would be cut out (a false gap) and deleted functions regrouped twice."""
    clock = Clock()
    sa, sb_ = Store(path), Store(path)
    a, b = Leases(sa, "A", 60, clock), Leases(sb_, "B", 60, clock)
    keys = [("prod", REGION)]
    assert a.assign(keys).held == keys
    cid = sa.begin_cycle(T0)
    sa.write_target(cid, result([fn("x"), fn("y")], coverage=[(T0, T0 + 600)]))
    a.leave()                                            # A stops; B takes over and writes on
    clock.t += 60
    assert b.assign(keys).held == keys
    cid = sb_.begin_cycle(T0 + 600)
    sb_.write_target(cid, result([fn("x")], coverage=[(T0 + 540, T0 + 1200)]))   # y deleted
    b.leave()                                            # and A takes it back
    clock.t += 60
    assert a.assign(keys).claimed == keys
    cid = sa.begin_cycle(T0 + 1200)
    sa.write_target(cid, result([fn("x")], coverage=[(T0 + 1140, T0 + 1800)]))
    assert sa.coverage(ACCOUNT, REGION, T0, T0 + 3600) == [(T0, T0 + 1800)]   # unbroken
    assert sa.function_names(ACCOUNT, REGION) == ["x"]


# -- what the review, the data status and the bill see ----------------------------------------------
def _cycle(store: Store, at: float, *results) -> None:
    cid = store.begin_cycle(at)
    for r in results:
        store.write_target(cid, r)
    store.end_cycle(cid, at + 1)


def test_a_target_written_by_another_collectors_earlier_cycle_is_fresh_until_its_max_age_then_stale(path):
    a, b = Store(path), Store(path)
    staging = "222222222222"
    # collector A writes prod's cycle at T0+600; collector B writes staging's cycles after it
    _cycle(a, T0 + 599, result([fn("x")], coverage=[(T0, T0 + 600)], now=T0 + 599))
    _cycle(b, T0 + 659, result([fn("x")], coverage=[(T0, T0 + 660)], account=staging, target="staging",
                               now=T0 + 659))
    rv = review.review(a, T0, T0 + 660, DEFAULT_THRESHOLDS, now=T0 + 700, max_age_s=180,
                       expected=[("prod", REGION), ("staging", REGION)])
    assert [(t.target, t.status, t.health.stale) for t in rv.targets] == [("prod", "ok", False),
                                                                          ("staging", "ok", False)]
    status = triage.data_status(a)
    assert status.behind(T0 + 700, 180) == []
    # A is dead; B keeps writing staging: prod turns stale (unknown) once past its max age, never ok
    _cycle(b, T0 + 899, result([fn("x")], coverage=[(T0 + 600, T0 + 900)], account=staging,
                               target="staging", now=T0 + 899))
    rv = review.review(a, T0 + 300, T0 + 900, DEFAULT_THRESHOLDS, now=T0 + 900, max_age_s=180,
                       expected=[("prod", REGION), ("staging", REGION)])
    got = {t.target: t for t in rv.targets}
    assert (got["prod"].status, got["prod"].health.stale, got["staging"].status) == ("unknown", True, "ok")
    assert next(f.message for f in got["prod"].findings if f.kind == "stale").startswith(
        "prod us-east-1: stale: no data for 5 min (max age 3 min)")
    status = triage.data_status(a)
    assert status.last_data_at == T0 + 900                     # the store as a whole looks fresh ...
    assert [(r.target, r.region) for r in status.behind(T0 + 900, 180)] == [("prod", REGION)]   # ... prod is not


def test_the_bill_counts_every_collectors_targets_not_the_latest_cycles_share(path):
    a, b = Store(path), Store(path)
    ra = result([fn("x")], coverage=[(T0, T0 + 60)], now=T0)
    ra.metrics_by_tier, ra.metric_queries = {"account": 6}, 6
    rb = result([fn("x")], coverage=[(T0, T0 + 60)], account="222222222222", target="staging", now=T0 + 10)
    rb.metrics_by_tier, rb.metric_queries = {"account": 6, "function": 40}, 46
    _cycle(a, T0, ra)
    _cycle(b, T0 + 10, rb)    # the latest cycle holds staging only
    bill = costs.cost(a, T0 + 20, Collection())
    assert bill is not None
    assert (bill.last_cycle["account"], bill.last_cycle["function"]) == (12, 40)
    assert bill.per_day["account"] == 12 * 1440


def test_collect_with_a_shard_collects_that_shard_only(fleet, capsys):
    from collectors.config import load
    settings = load(fleet)
    keys = [(t.name, r) for t in settings.targets for r in t.regions]
    mine = in_shard(keys, 2, 3)
    assert len(mine) == 2   # of prod and staging x us-east-1 and eu-west-1
    assert cli.main(["collect", "--config", str(fleet), "--shard", "2/3"]) == 0
    out = capsys.readouterr().out
    assert "shard 2/3: 2 of 4 target region(s)" in out and "collecting 2 target region(s)" in out
    store = Store(settings.store, readonly=True)
    assert sorted((r["target"], r["region"]) for r in store.latest_runs()) == sorted(mine)
