"""Accounts discovered from AWS Organizations (`[[targets]] organization = true`): listing (I/O), filters
and the cycle's plan (pure).

An organization target stands for the organization's accounts. Every `rediscover_minutes` (0: every
cycle) the accounts are listed with the target's own credentials (the management account or a delegated
administrator); each ACTIVE account the filters select becomes a target `<name>/<account id>` read by
assuming `arn:<partition>:iam::<account>:role/<role_name>` (the account discovery runs as is read with
those credentials directly: StackSets do not deploy roles to the management account). Nothing is dropped:
- an account that is SUSPENDED, PENDING_CLOSURE, CLOSED or not yet activated is written each cycle as
  *not collected*, with why (an error of source "organization"); its history stays in the store;
- an account collected before that is no longer in the organization, or that the filters now leave
  out, likewise;
- a failed discovery (AccessDenied, throttling) keeps the last known accounts (this process's last
  listing, else the accounts the store has collected for the target) and is recorded under
  (target, "organizations"), which the review shows as unknown until a discovery succeeds.

CloudWatch cross-account observability (`monitoring_account = true`): the monitoring account's sinks
(oam:ListSinks, oam:ListAttachedLinks, per region) say which accounts share their metrics; those
accounts' CloudWatch calls go to the monitoring account (ListMetrics with IncludeLinkedAccounts and
OwningAccount, GetMetricData with AccountId per query: sessions.read_linked). Lambda, SQS, the
Tagging API and Service Quotas are not cross-account: they are still read with each account's role.
An account not linked in a region (or when the sinks cannot be read) is read with its own role, never
assumed linked: a metric read from a monitoring account that cannot see it would be a false zero.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .config import DISCOVERY_REGION, Settings, Target
from .errors import AWS_ERRORS, to_error
from .model import ORG_NOT_COLLECTED, CollectError, TargetResult
from .sessions import CallCounter, assume, botocore_config, new_session

ACTIVE = "ACTIVE"
# account state -> (error code, what it means) for accounts that are not collected
NOT_COLLECTED = {
    "SUSPENDED": ("AccountSuspended", "is SUSPENDED (closed) in the organization"),
    "PENDING_CLOSURE": ("AccountPendingClosure", "is being closed (PENDING_CLOSURE)"),
    "CLOSED": ("AccountClosed", "is CLOSED"),
    "PENDING_ACTIVATION": ("AccountPendingActivation", "is not activated yet (PENDING_ACTIVATION)"),
}
LEFT = ("AccountLeftOrganization", "is no longer in the organization (removed, or closed long ago)")
EXCLUDED = ("AccountExcluded", "is left out by the target's include/exclude filters")
METRIC_LINK = "AWS::CloudWatch::Metric"


assert {c for c, _ in NOT_COLLECTED.values()} | {LEFT[0], EXCLUDED[0], "AccountNotActive"} == ORG_NOT_COLLECTED


class DiscoveryError(Exception):
    """The organization's answer cannot be used as configured (e.g. an OU id that is not in it)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OrgAccount:
    id: str
    name: str
    arn: str
    state: str                                   # ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION
    parents: tuple[str, ...] = ()                # root and OU ids above it (walked only when OU filters are set)
    tags: dict[str, str] = field(default_factory=dict)   # read only when tag filters are set

    @property
    def partition(self) -> str:
        return self.arn.split(":")[1] if self.arn.startswith("arn:") else "aws"


@dataclass
class Listing:
    """One successful discovery of one organization target."""
    at: float
    caller: str                                  # the account discovery ran as
    accounts: dict[str, OrgAccount]
    linked: dict[str, set[str]] = field(default_factory=dict)   # region -> accounts whose metrics the monitoring account sees
    errors: list[CollectError] = field(default_factory=list)    # partial failures (sinks not readable)
    calls: dict[str, int] = field(default_factory=dict)         # API calls made, as CallCounter counts them


def state_of(a: dict[str, Any]) -> str:
    """The account's State (Status is retired in September 2026; older answers have only it)."""
    return str(a.get("State") or a.get("Status") or "UNKNOWN")


def _pages(client: Any, op: str, key: str, **kw: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(op).paginate(**kw):
        yield from page.get(key, [])


def list_accounts(org: Any, walk: bool, tags: bool) -> tuple[list[OrgAccount], set[str]]:
    """Every account of the organization and every root/OU id seen. walk: from the roots down
    (ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent), so each account knows its OU
    path; else ListAccounts. tags: ListTagsForResource per account."""
    found: list[tuple[dict[str, Any], tuple[str, ...]]] = []
    ous: set[str] = set()
    if walk:
        todo: list[tuple[str, tuple[str, ...]]] = [(r["Id"], (r["Id"],)) for r in _pages(org, "list_roots", "Roots")]
        while todo:
            parent, path = todo.pop(0)
            ous.add(parent)
            found += [(a, path) for a in _pages(org, "list_accounts_for_parent", "Accounts", ParentId=parent)]
            todo += [(ou["Id"], path + (ou["Id"],)) for ou in
                     _pages(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent)]
    else:
        found = [(a, ()) for a in _pages(org, "list_accounts", "Accounts")]
    out = []
    for a, path in found:
        t = {x["Key"]: x["Value"] for x in _pages(org, "list_tags_for_resource", "Tags", ResourceId=a["Id"])} \
            if tags else {}
        out.append(OrgAccount(a["Id"], a.get("Name", ""), a.get("Arn", ""), state_of(a), path, t))
    return sorted(out, key=lambda x: x.id), ous


def selected(a: OrgAccount, t: Target) -> bool:
    """Whether the target's OU and tag filters keep the account (pure)."""
    if t.include_ous and not set(a.parents) & set(t.include_ous):
        return False
    if t.exclude_ous and set(a.parents) & set(t.exclude_ous):
        return False
    if any(a.tags.get(k) not in values for k, values in t.include_tags):
        return False
    return not any(a.tags.get(k) in values for k, values in t.exclude_tags)


def linked_accounts(oam: Any) -> set[str]:
    """Accounts linked to any of this region's sinks with their metrics shared (oam:ListSinks,
    oam:ListAttachedLinks); a link ARN is arn:aws:oam:REGION:SOURCE_ACCOUNT:link/ID."""
    out = set()
    for sink in _pages(oam, "list_sinks", "Items"):
        for link in _pages(oam, "list_attached_links", "Items", SinkIdentifier=sink["Arn"]):
            if METRIC_LINK in (link.get("ResourceTypes") or []):
                out.add(link["LinkArn"].split(":")[4])
    return out


def discover(t: Target, org: Any, caller: str, oam: Callable[[str], Any] | None = None,
             now: float | None = None) -> Listing:
    """List the organization for target t (raises botocore errors, DiscoveryError); oam(region) gives the
    monitoring account's OAM client in a region, when t.monitoring_account."""
    accounts, ous = list_accounts(org, walk=bool(t.include_ous or t.exclude_ous),
                                  tags=bool(t.include_tags or t.exclude_tags))
    for k, ids in (("include_ous", t.include_ous), ("exclude_ous", t.exclude_ous)):
        missing = sorted(set(ids) - ous)
        if missing:
            raise DiscoveryError("UnknownOrganizationalUnit",
                                 f"{k} names {missing[0]!r}, which is not in the organization (ids seen: "
                                 f"{len(ous)}); fix [[targets]] {t.name!r} in the config")
    out = Listing(time.time() if now is None else now, caller, {a.id: a for a in accounts})
    if t.monitoring_account and oam is not None:
        for region in t.regions:
            try:
                out.linked[region] = linked_accounts(oam(region))
            except AWS_ERRORS as e:
                err = to_error(e, "organization", "oam:ListAttachedLinks")
                err.message = f"{region}: the monitoring account's links could not be read, so each account's " \
                              f"metrics are read with its own role there: {err.message}"
                out.errors.append(err)
    return out


@dataclass
class Plan:
    """What one cycle collects and records for the configured targets."""
    targets: list[Target]                 # plain targets, then discovered accounts to collect
    marked: list[TargetResult]            # discovered accounts not collected, with why
    records: list[TargetResult]           # one per organization target whose discovery ran this cycle
    lines: list[str] = field(default_factory=list)   # one summary line per organization target


_CACHE: dict[tuple[str, str], Listing] = {}   # (store path, target name) -> the last successful listing
_LOCK = threading.Lock()


def forget() -> None:
    """Drop this process's listings (tests; a new config)."""
    with _LOCK:
        _CACHE.clear()


def account_target(t: Target, a: OrgAccount, caller: str, linked: dict[str, set[str]]) -> Target:
    """The target collecting one discovered account."""
    own = a.id == caller
    role = None if own else f"arn:{a.partition}:iam::{a.id}:role/{t.role_name}"
    return replace(t, name=f"{t.name}/{a.id}", role_arn=role, external_id=None if own else t.external_id,
                   organization=False, account_id=a.id,
                   linked_regions=tuple(r for r in t.regions if a.id in linked.get(r, set()) and not own))


def _mark(t: Target, account: str, region: str, now: float, code: str, text: str) -> TargetResult:
    return TargetResult(f"{t.name}/{account}", region, account, now, finished_at=now, errors=[CollectError(
        "organization", "organizations:ListAccounts", code,
        f"account {account} {text}: not collected; its history is kept")])


def plan(settings: Settings, known: Iterable[dict[str, Any]], now: float,
         run: Callable[[Target], Listing] | None = None, key: str = "",
         marked: Iterable[dict[str, Any]] = ()) -> Plan:
    """The cycle's targets: plain ones as configured, organization ones expanded into their accounts.

    known: the store's target health rows (target, region, account), for the accounts collected before;
    marked: the store's latest errors (target, region, source, code, message), for the accounts last
    found not active (kept as they were while the organization cannot be listed).
    run(t): discovers t (default: with t's credentials); called only when t's listing is due."""
    closed = {(e["target"], e["region"]): e for e in marked
              if e["source"] == "organization" and e["code"] in ORG_NOT_COLLECTED}
    run = run or discover_with_credentials(settings)
    rows = list(known)
    out = Plan([t for t in settings.targets if not t.organization], [], [])
    for t in settings.targets:
        if not t.organization:
            continue
        seen = {(r["target"].split("/", 1)[1], r["region"]) for r in rows
                if r["target"].startswith(f"{t.name}/") and r.get("account")}
        with _LOCK:
            last = _CACHE.get((key, t.name))
        record = None
        if last is None or now - last.at >= t.rediscover_minutes * 60:
            record = TargetResult(t.name, DISCOVERY_REGION, None, now)
            try:
                last = run(t)
                last.at = now   # due again rediscover_minutes after this cycle, on the cycle's clock
                record.errors.extend(last.errors)
                with _LOCK:
                    _CACHE[(key, t.name)] = last
                fresh = True
            except DiscoveryError as e:
                record.errors.append(CollectError("organization", "organizations:ListAccounts", e.code, str(e)))
                fresh = False
            except AWS_ERRORS as e:
                record.errors.append(to_error(e, "organization", _failed_api(e)))
                fresh = False
            record.finished_at = now
            out.records.append(record)
        else:
            fresh = False
        if last is None:   # never listed in this process and the listing failed: the store's accounts
            for a, region in sorted(seen):
                was = closed.get((f"{t.name}/{a}", region))
                if was is not None:   # last found not active: marked as it was
                    out.marked.append(TargetResult(f"{t.name}/{a}", region, a, now, finished_at=now, errors=[
                        CollectError("organization", was["api"], was["code"], was["message"])]))
            ids = sorted({a for a, r in seen if (f"{t.name}/{a}", r) not in closed})
            out.targets += [replace(t, name=f"{t.name}/{a}", role_arn=f"arn:aws:iam::{a}:role/{t.role_name}",
                                    organization=False, account_id=a) for a in ids]
            why = record.errors[0] if record and record.errors else None
            out.lines.append(f"{t.name}: discovery failed ({why.code if why else 'not run'}); collecting the "
                             f"{len(ids)} account(s) collected before")
            continue
        keep = [a for a in last.accounts.values() if selected(a, t)]
        active = [a for a in keep if a.state == ACTIVE]
        out.targets += [account_target(t, a, last.caller, last.linked) for a in active]
        for a in keep:
            if a.state != ACTIVE:
                code, text = NOT_COLLECTED.get(a.state, ("AccountNotActive", f"is {a.state}"))
                out.marked += [_mark(t, a.id, r, now, code, text) for r in t.regions]
        kept = {a.id for a in keep}
        for account, region in sorted(seen):
            if account in kept:
                continue
            code, text = EXCLUDED if account in last.accounts else LEFT
            out.marked.append(_mark(t, account, region, now, code, text))
        age = "" if fresh else f" (listed {int(now - last.at)} s ago)"
        linked = sum(bool(x.linked_regions) for x in out.targets if x.name.startswith(f"{t.name}/"))
        out.lines.append(f"{t.name}: {len(last.accounts)} account(s) in the organization{age}, {len(active)} "
                         f"collected, {len(keep) - len(active)} not active, {len(last.accounts) - len(keep)} "
                         f"left out by filters" + (f", {linked} read through the monitoring account"
                                                   if t.monitoring_account else ""))
    return out


def _failed_api(e: BaseException) -> str:
    op = getattr(e, "operation_name", None)
    if not op:
        return "organizations:ListAccounts"
    prefix = "oam" if op in ("ListSinks", "ListAttachedLinks") else "sts" if op in ("GetCallerIdentity", "AssumeRole") \
        else "organizations"
    return f"{prefix}:{op}"


def discover_with_credentials(settings: Settings) -> Callable[[Target], Listing]:
    """run(t) for plan(): the target's own credentials (profile or the standard chain)."""
    def run(t: Target) -> Listing:
        region = t.regions[0]   # Organizations is global; the first region picks the partition's endpoint
        config = botocore_config(settings.collection)
        counter = CallCounter()
        base = new_session(profile_name=t.profile, region_name=region)

        def client(session: Any, service: str, r: str) -> Any:
            make: Any = session.client
            c = make(service, region_name=r, endpoint_url=t.endpoint_url, config=config)
            c.meta.events.register("before-call", counter)
            return c

        caller = client(base, "sts", region).get_caller_identity()["Account"]
        mon = base
        if t.monitoring_role_arn:
            mon = assume(client(base, "sts", region), t.monitoring_role_arn, region)
        listing = discover(t, client(base, "organizations", region), caller,
                           (lambda r: client(mon, "oam", r)) if t.monitoring_account else None)
        listing.calls = dict(counter.calls)
        return listing
    return run
