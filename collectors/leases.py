"""Several collectors on one store: which (target, region)s this one collects.

Two ways, chosen on the command line:
- `collect --shard i/n`: a static split. Target-region k belongs to shard 1 + (sha256(name, region) mod n),
  the same on every host and Python run (not Python's salted hash()). No leases: a dead shard's targets
  are not taken over; they turn stale (unknown) after max_age_seconds and alert as such.
- `collect --every S` without --shard: leases in the store. Each cycle a collector heartbeats, renews its
  leases (expiry now + LEASE_CYCLES x S), gives back what exceeds its fair share of the live collectors,
  and claims unleased or expired targets up to it. A killed collector's leases expire LEASE_CYCLES
  intervals after its last renewal; the others claim them at their next cycle. One collector alone
  holds every target, so leases cost a single collector nothing but a few statements a cycle.
A one-shot `collect` without --shard collects every target (by hand, from cron) and takes no lease.

Targets are keyed by the config's (target name, region): names are unique in a config and known before
any AWS call, while a profile's account is not. Every collector must run the same [[targets]].
"""
from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .store import Store

Key = tuple[str, str]   # (target name, region)
LEASE_CYCLES = 2        # a lease lasts this many intervals past its last renewal
ALERTS_KEY: Key = ("*alerts*", "")   # one collector sends the alerts: the holder of this lease


class ShardError(ValueError):
    """A --shard value that is not i/n with 1 <= i <= n."""


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3). Shards are numbered from 1: a fleet on three hosts runs 1/3, 2/3 and 3/3."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ShardError(f"--shard {text!r}: use i/n with whole numbers, e.g. 1/3 (this host collects the "
                         "first of three shards)")
    i, n = int(parts[0]), int(parts[1])
    if n < 1 or not 1 <= i <= n:
        raise ShardError(f"--shard {text!r}: i must be from 1 to n (n >= 1), e.g. 1/{max(n, 2)} ... "
                         f"{max(n, 2)}/{max(n, 2)}")
    return i, n


def stable_hash(*parts: str) -> int:
    """A 64-bit hash of the parts that is the same on every host and run (sha256, not hash())."""
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def shard_of(key: Key, n: int) -> int:
    """The shard (1..n) that collects (target, region)."""
    return 1 + stable_hash(*key) % n


def in_shard(keys: Iterable[Key], i: int, n: int) -> list[Key]:
    """The keys of shard i of n, in their given order."""
    return [k for k in keys if shard_of(k, n) == i]


def owner_id() -> str:
    """host:pid:random: unique per process, and readable in the lease table."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def fair_shares(members: Sequence[str], n: int) -> dict[str, int]:
    """How many of n targets each live collector should hold: n // m each, one more for the first
    n % m by owner id, so the shares add up to n exactly."""
    ordered = sorted(members)
    m = len(ordered)
    return {o: n // m + (1 if i < n % m else 0) for i, o in enumerate(ordered)} if m else {}


def preference(owner: str, key: Key) -> int:
    """Rendezvous order: each collector tries targets in its own stable order, so collectors claiming
    together mostly try different targets first."""
    return stable_hash(owner, *key)


@dataclass
class Assignment:
    """One cycle's decision for one collector."""
    held: list[Key]                                   # collect these this cycle
    claimed: list[Key] = field(default_factory=list)  # newly taken (unleased, expired or released)
    released: list[Key] = field(default_factory=list)   # given back: above the fair share
    members: int = 1                                  # live collectors, this one included
    share: int = 0


class Leases:
    """This collector's leases on a store; `assign` once per cycle, `leave` when it stops."""

    def __init__(self, store: Store, owner: str, interval_s: float, clock: Callable[[], float] = time.time):
        self.store, self.owner, self.clock = store, owner, clock
        self.ttl_s = LEASE_CYCLES * interval_s
        self.held: set[Key] = set()

    def assign(self, keys: Sequence[Key]) -> Assignment:
        """Heartbeat, renew, give back above the fair share, claim up to it; returns what to collect.
        A target newly held drops the store's write caches (another collector wrote it meanwhile)."""
        now = self.clock()
        wanted = set(keys)
        self.store.join(self.owner, "leases", now, self.ttl_s)
        members = [m["owner"] for m in self.store.members(now)]
        if self.owner not in members:   # a clock far behind the others': count ourselves anyway
            members.append(self.owner)
        share = fair_shares(members, len(wanted))[self.owner]
        mine = self.store.renew_leases(self.owner, now, self.ttl_s)
        stray = sorted(k for k in mine if k not in wanted and k != ALERTS_KEY)   # not configured any more
        held = mine & wanted
        mine_pref = sorted(held, key=lambda k: preference(self.owner, k))
        released = mine_pref[:max(0, len(held) - share)]   # give back those we prefer least
        if released or stray:
            self.store.release_leases(self.owner, released + stray)
            held -= set(released)
        claimed: list[Key] = []
        if len(held) < share:
            busy = {(r["target"], r["region"]) for r in self.store.leases()
                    if r["expires_at"] > now and r["owner"] != self.owner}
            for k in sorted(wanted - held - busy, key=lambda k: -preference(self.owner, k)):
                if len(held) >= share:
                    break
                if self.store.claim_lease(self.owner, *k, now, self.ttl_s):
                    held.add(k)
                    claimed.append(k)
        if held - self.held:
            self.store.forget_written()
        self.held = held
        order = {k: i for i, k in enumerate(keys)}
        return Assignment(sorted(held, key=order.__getitem__), claimed, released, len(members), share)

    def alerts(self) -> bool:
        """True when this collector is the one that sends the alerts (it holds, or just took, that lease)."""
        now = self.clock()
        if ALERTS_KEY in self.store.renew_leases(self.owner, now, self.ttl_s):
            return True
        return self.store.claim_lease(self.owner, *ALERTS_KEY, now, self.ttl_s)

    def idle(self) -> None:
        """A cycle with nothing to collect sends no alerts either: let a busy collector take them."""
        self.store.release_leases(self.owner, [ALERTS_KEY])

    def leave(self) -> None:
        """Stop: give every lease back so that the others take over at their next cycle, not after expiry."""
        self.store.leave(self.owner)
        self.held = set()
