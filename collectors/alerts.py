"""Alerts out: the review's findings as messages to Apprise URLs ([[alerts]] in fleet.toml).

After each collection cycle `run()` reviews the last `[alerting] window`, turns each finding into an
alert item with a stable identity, and compares it with what the store says was delivered to each
destination: one message when an item starts (or changes severity), one when it resolves, a reminder
every `repeat_hours` while it lasts, at most `max_per_cycle` messages per destination (a digest beyond
that). What was delivered is written to the store only once delivered, so a restart neither repeats
nor forgets, and a failed delivery is tried again next cycle and reported (CLI, dashboard sidebar).

Unknown is never silence: stale data, a target never collected, figures not collected and failed
API calls are alert items too, delivered as critical (min_severity "critical" includes them).
A destination's URL holds its credentials: it is shown only as mask(url).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from analysis import review as rv
from .config import Alert, Settings, Threshold, format_duration
from .store import Store

log = logging.getLogger("headroom.alerts")

# unknown is delivered like critical: what is not known may be critical (never a false OK)
RANK = {"warn": 1, "critical": 2, "unknown": 2}
UNKNOWN_KINDS = ("stale", "not_collected", "incomplete", "collection_errors")
NoteKind = Literal["start", "change", "reminder", "resolve"]
# the order messages go out in when there are more than max_per_cycle: news first, then reminders
NOTE_ORDER = {"start": 0, "change": 0, "resolve": 1, "reminder": 2}


# -- secrets -------------------------------------------------------------------------------------
def mask(url: str) -> str:
    """An Apprise URL without its secrets, for logs and screens: 'slack://T000/B000/XXXX' ->
    'slack://T000/****', 'json://user:pw@hooks.example.com/x' -> 'json://hooks.example.com/****'.
    The host is shown when it is a host name or an address; any other first part (often a token)
    only by its first 4 characters."""
    scheme, _, rest = url.partition("://")
    if not rest:
        return "****"
    netloc = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    host, port = netloc, ""
    m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):(\d{1,5})", netloc)
    if m:
        host, port = m.group(1), ":" + m.group(2)
    if not _is_host(host):
        host, port = host[:4] + ("…" if len(host) > 4 else ""), ""
    return f"{scheme}://{host}{port}/****"


def _is_host(h: str) -> bool:
    if h == "localhost":
        return True
    try:
        ipaddress.ip_address(h.strip("[]"))
        return True
    except ValueError:
        return bool(re.fullmatch(r"([a-z0-9-]+\.)+[a-z]{2,}", h, re.I))


def scrub(text: str, url: str) -> str:
    """`text` with every secret-looking part of `url` (path, user, password, query values) replaced by ****."""
    shown = mask(url).split("://", 1)[-1].removesuffix("/****")
    for part in sorted(set(re.split(r"[/:@?&=,]+", url.partition("://")[2])), key=len, reverse=True):
        if len(part) >= 4 and part not in shown:
            text = text.replace(part, "****")
    return text


def destination_id(a: Alert) -> str:
    """A stable id of one [[alerts]] entry (its URL and filters), stored instead of the URL."""
    raw = json.dumps([a.url, a.min_severity, sorted(a.groups), sorted(a.targets)])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# -- findings -> alert items -------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One finding (or a target's failed API calls) as an alert: `key` is its identity across cycles."""
    key: str
    target: str
    region: str
    account: str | None
    kind: str
    subject: str
    severity: str                  # warn | critical | unknown
    message: str
    groups: frozenset[str] = frozenset()
    lines: tuple[str, ...] = ()    # what, value against the limit, where


def _identity(target: str, region: str, kind: str, subject: str, message: str) -> str:
    key = f"{target}|{region}|{kind}|{subject}"
    if kind == "incomplete":
        # several kinds of incompleteness per target: tell them apart by their text without its numbers
        key += "|" + re.sub(r"\d[\d,.]*", "#", message.split(": ", 1)[-1])
    return key


def _pct(x: float) -> str:
    return f"{100 * x:,.0f} %"


def _num(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"{x:,.0f}" if float(x).is_integer() or abs(x) >= 100 else f"{x:,.2f}"


def _value_line(f: rv.Finding, th: Threshold | None, window: str) -> str:
    if f.severity == "unknown" or th is None:
        return ""
    if f.limit is not None and f.value is not None:   # a ratio of a limit
        return (f"value: {_pct(f.value)} of {f.limit:,.0f} (warn at {_pct(th.warn)}, critical at {_pct(th.critical)})")
    return f"value: {_num(f.value)} over the last {window} (warn at {_num(th.warn)}, critical at {_num(th.critical)})"


def _link(base: str | None, page: str, **params: str) -> str:
    return f"{base}/{page}?{urlencode(params)}" if base else ""


def items(review: rv.Review, settings: Settings) -> list[Item]:
    """The alert items of a review: every finding, plus a target's failed API calls where no
    stale / never-collected finding already names them."""
    window = format_duration(review.end - review.start)
    base = settings.alerting.dashboard_url
    out: list[Item] = []
    for t in review.targets:
        fgroups = {fr.name: frozenset(fr.groups.values()) for fr in t.functions}
        qgroups: dict[str, frozenset[str]] = {}
        for fr in t.functions:
            for arn in (fr.dlq_arn, fr.on_failure_arn):
                if arn:
                    name = arn.rsplit(":", 1)[-1]
                    qgroups[name] = qgroups.get(name, frozenset()) | fgroups[fr.name]
        where = f"account {t.account or 'unknown'}, region {t.region} (target {t.target})"
        for f in t.findings:
            if f.subject in fgroups and f.kind != "dlq_messages":
                groups, link = fgroups[f.subject], _link(base, "function", account=t.account or "",
                                                          region=t.region, fn=f.subject)
            elif f.kind == "dlq_messages":
                groups, link = qgroups.get(f.subject, frozenset()), _link(base, "triage", account=t.account or "",
                                                                           region=t.region)
            else:
                groups, link = frozenset(), _link(base, "overview", **(
                    {"account": t.account, "region": t.region} if t.account else {}))
            what = f"what: {f.kind.replace('_', ' ')}" + (f" of {f.subject}" if f.subject != "account" else "")
            lines = [what, _value_line(f, settings.thresholds.get(f.kind), window), where]
            out.append(Item(_identity(t.target, t.region, f.kind, f.subject, f.message), t.target, t.region,
                            t.account, f.kind, f.subject, f.severity, f.message, groups,
                            tuple(x for x in (*lines, f"dashboard: {link}" if link else "") if x)))
        errors = t.health.errors if t.health else []
        if errors and not any(f.kind in ("stale", "not_collected") for f in t.findings):
            e = errors[0]
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            msg = f"{t.target} {t.region}: collection failed: {e['code']} on {e['api']}: {e['message']}{more}"
            lines = ["what: the latest collection had errors; the numbers may be incomplete", where,
                     *(f"error: {x['code']} on {x['api']}: {x['message']}" for x in errors[:5])]
            link = _link(base, "overview")
            out.append(Item(_identity(t.target, t.region, "collection_errors", "collection", ""), t.target, t.region,
                            t.account, "collection_errors", "collection", "unknown", msg, frozenset(),
                            tuple([*lines, f"dashboard: {link}"] if link else lines)))
    return out


def wants(dest: Alert, it: Item) -> bool:
    """Whether a destination takes an item: severity at least min_severity (unknown counts as
    critical), in its targets; with groups, only items about those groups' functions and queues,
    except what is unknown about a target (stale, failed), which reaches every group's destination:
    silence would read as all clear."""
    if RANK[it.severity] < RANK[dest.min_severity]:
        return False
    # an organization target's name stands for its accounts (NAME/ACCOUNT_ID) and its discovery too
    if dest.targets and not any(it.target == x or it.target.startswith(f"{x}/") for x in dest.targets):
        return False
    if dest.groups and it.severity != "unknown" and not (it.groups & set(dest.groups)):
        return False
    return True


# -- what to send ------------------------------------------------------------------------------
@dataclass
class Note:
    """One message due to one destination about one item."""
    kind: NoteKind
    row: dict[str, Any]     # the item's alert_state row as it will be stored once delivered

    @property
    def severity(self) -> str:
        return self.row["severity"] or self.row["sent_severity"] or "warn"


@dataclass
class Message:
    title: str
    body: str
    notify_type: str        # apprise NotifyType value: info | success | warning | failure


def _utc(ts: float | None) -> str:
    return "unknown" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _ago(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m // 60} h {m % 60} min" if m >= 60 else f"{m} min"


def _headline(row: dict[str, Any], sev: str) -> str:
    msg = row["message"]
    if row["kind"] in UNKNOWN_KINDS:
        return f"{sev.upper()} {msg}"   # already "target region: ..."
    return f"{sev.upper()} {row['target']} {row['region']}: {msg}"


def render(note: Note, now: float) -> Message:
    """The message for one note: what, value against the limit, where, since when, a dashboard link."""
    r = note.row
    detail = json.loads(r["detail"])
    since = f"since: {_utc(r['first_seen'])} ({_ago(now - r['first_seen'])} ago)"
    if note.kind == "resolve":
        was = r["sent_severity"] or "undelivered"
        title = f"{_headline(r, 'resolved')} (was {was})"
        lines = [f"resolved: {_utc(r['resolved_at'])}, after {_ago((r['resolved_at'] or now) - r['first_seen'])}",
                 f"started: {_utc(r['first_seen'])}", *detail]
        if r["sent_severity"] is None:
            lines.append("its start was not delivered here (delivery failed): this is the first message about it")
        return Message(title, "\n".join(lines), "success")
    sev = r["severity"]
    prefix = {"start": "", "change": f"now {sev}, was {r['sent_severity']}: ",
              "reminder": f"still {sev}, for {_ago(now - r['first_seen'])}: "}[note.kind]
    title = _headline(r, sev) if note.kind == "start" else f"{sev.upper()} {prefix}{_headline(r, sev).split(' ', 1)[1]}"
    body = "\n".join([r["message"], *detail, since])
    return Message(title, body, "failure" if RANK[sev] >= 2 else "warning")


def digest(notes: list[Note], now: float) -> Message:
    """One message for the notes beyond max_per_cycle: a line each."""
    counts: dict[str, int] = {}
    for n in notes:
        counts[n.kind] = counts.get(n.kind, 0) + 1
    what = ", ".join(f"{v} {k}" + ("s" if v > 1 and k != "change" else "") for k, v in counts.items())
    lines = [f"{n.kind}: {render(n, now).title}" for n in notes]
    worst = max((RANK.get(n.severity, 1) for n in notes if n.kind != "resolve"), default=0)
    return Message(f"headroom: {len(notes)} more alerts ({what})", "\n".join(lines),
                   "failure" if worst >= 2 else "warning" if worst else "success")


def plan(rows: dict[str, dict[str, Any]], active: Iterable[Item], dest: str, label: str, now: float,
         repeat_s: float) -> tuple[list[Note], list[dict[str, Any]]]:
    """(notes due, rows to store as they are) for one destination: `rows` are its stored states by key,
    `active` the items it takes now. A row whose state was delivered changes only by delivery."""
    due: list[Note] = []
    quiet: list[dict[str, Any]] = []
    seen = set()
    for it in active:
        seen.add(it.key)
        old = rows.get(it.key)
        row: dict[str, Any] = dict(old) if old else {
            "destination": dest, "key": it.key, "first_seen": now, "sent_severity": None, "sent_at": None,
            "failed_at": None, "failure": None, "failures": 0}
        if old and old["severity"] is None:
            # it resolved and is back before its resolution went out: for this destination it never ended
            row.update(failed_at=None, failure=None, failures=0)
        row.update(label=label, target=it.target, region=it.region, account=it.account, kind=it.kind,
                   subject=it.subject, severity=it.severity, message=it.message, detail=json.dumps(list(it.lines)),
                   last_seen=now, resolved_at=None)
        if row["sent_severity"] is None:
            due.append(Note("start", row))
        elif row["sent_severity"] != it.severity:
            due.append(Note("change", row))
        elif repeat_s > 0 and now - (row["sent_at"] or 0) >= repeat_s:
            due.append(Note("reminder", row))
        else:
            quiet.append(row)
    for key, old in rows.items():
        if key in seen:
            continue
        row = dict(old, severity=None, label=label, resolved_at=old["resolved_at"] or now)
        due.append(Note("resolve", row))
    due.sort(key=lambda n: (NOTE_ORDER[n.kind], -RANK.get(n.severity, 0), n.row["key"]))
    return due, quiet


# -- delivery ----------------------------------------------------------------------------------
Sender = Callable[[str, Message], str | None]   # (url, message) -> None when delivered, else why not


def apprise_send(url: str, msg: Message, timeout_s: float = 10.0) -> str | None:
    """Deliver through Apprise; None when delivered, else the reason (secrets scrubbed)."""
    import apprise
    a = apprise.Apprise()
    if not a.add(url):
        return f"not a URL Apprise can use ({mask(url)}): check the scheme and its fields"
    # Apprise logs failures (sometimes with URLs): capture them for the reason, keep them out of stderr
    logger = logging.getLogger("apprise")
    propagate, logger.propagate = logger.propagate, False
    try:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok: Any = a.notify(title=msg.title, body=msg.body, notify_type=apprise.NotifyType(msg.notify_type),
                          body_format=apprise.NotifyFormat.TEXT)
            text = captured.getvalue()
    except Exception as e:  # noqa: BLE001 - a plugin's bug is a failed delivery, not a dead collector
        ok, text = False, f"{type(e).__name__}: {e}"
    finally:
        logger.propagate = propagate
    if ok:
        return None
    why = " ".join(line.strip() for line in text.splitlines() if line.strip())[-300:] or "Apprise reported a failure"
    return scrub(why, url)


@dataclass
class DestinationReport:
    label: str
    sent: int = 0                  # messages delivered this cycle
    notes: int = 0                 # notes delivered (a digest carries several)
    failed: int = 0                # messages that failed this cycle (tried again next cycle)
    error: str | None = None       # the latest failure
    pending: int = 0               # notes waiting after this cycle (failed, retried next cycle)


@dataclass
class Report:
    destinations: list[DestinationReport] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The CLI's summary: one line per destination that had something to say."""
        out = []
        for d in self.destinations:
            if not (d.sent or d.failed or d.pending):
                continue
            text = f"  alerts        {d.label}: {d.sent} message(s) sent"
            if d.notes != d.sent:
                text += f" ({d.notes} alerts)"
            if d.failed or d.pending:
                text += (f"; {d.failed} FAILED, {d.pending} alert(s) not delivered, tried again next cycle: "
                         f"{d.error}")
            out.append(text)
        return out

    @property
    def failed(self) -> bool:
        return any(d.failed or d.pending for d in self.destinations)


def deliver(settings: Settings, store: Store, found: list[Item], now: float,
            send: Sender = apprise_send) -> Report:
    """Send what is due to every [[alerts]] destination and record what was delivered."""
    stored: dict[str, dict[str, dict[str, Any]]] = {}
    for row in store.alert_states():
        stored.setdefault(row["destination"], {})[row["key"]] = row
    report = Report()
    repeat_s = settings.alerting.repeat_hours * 3600
    limit = settings.alerting.max_per_cycle
    ids = []
    for dest in settings.alerts:
        did, label = destination_id(dest), mask(dest.url)
        if did in ids:
            continue   # the same entry twice: one delivery
        ids.append(did)
        due, quiet = plan(stored.get(did, {}), [it for it in found if wants(dest, it)], did, label, now, repeat_s)
        dr = DestinationReport(label)
        save, delete = list(quiet), []
        batches: list[tuple[Message, list[Note]]] = [(render(n, now), [n]) for n in due[:limit - 1]]
        rest = due[limit - 1:]
        if len(rest) == 1:
            batches.append((render(rest[0], now), rest))
        elif rest:
            batches.append((digest(rest, now), rest))
        for msg, notes in batches:
            why = send(dest.url, msg)
            if why is None:
                dr.sent += 1
                dr.notes += len(notes)
                for n in notes:
                    if n.kind == "resolve":
                        delete.append((did, n.row["key"]))
                    else:
                        save.append(dict(n.row, sent_severity=n.row["severity"], sent_at=now, failed_at=None,
                                         failure=None, failures=0))
            else:
                dr.failed += 1
                dr.error = why
                dr.pending += len(notes)
                log.warning("alert delivery to %s failed: %s", label, why)
                for n in notes:
                    save.append(dict(n.row, failed_at=now, failure=why, failures=(n.row["failures"] or 0) + 1))
        store.save_alert_states(save, delete, keep_destinations=ids)
        report.destinations.append(dr)
    if not settings.alerts:
        store.save_alert_states([], [], keep_destinations=[])
    return report


def evaluate(settings: Settings, store: Store, now: float) -> rv.Review:
    """The review alerts are taken from: the last `[alerting] window`, every configured target."""
    start, end = rv.window(now, settings.alerting.window_seconds)
    return rv.review(store, start, end, settings.thresholds, "prefix", now=now,
                     expected=settings.expected(),
                     max_age_s=settings.collection.max_age_seconds,
                     function_max_age_s=settings.collection.function_max_age_seconds)


def run(settings: Settings, store: Store, now: float | None = None, send: Sender = apprise_send) -> Report:
    """After a cycle: review, then deliver what is due to every destination (nothing without [[alerts]])."""
    now = time.time() if now is None else now
    if not settings.alerts:
        return Report()
    return deliver(settings, store, items(evaluate(settings, store, now), settings), now, send)


def test_all(settings: Settings, send: Sender = apprise_send, now: float | None = None) -> list[tuple[str, str | None]]:
    """`alert-test`: a test message to every destination; (masked URL, None or why it failed) each."""
    now = time.time() if now is None else now
    out = []
    for dest in settings.alerts:
        msg = Message("headroom: test message",
                      f"A test from headroom at {_utc(now)}: this destination ({mask(dest.url)}) receives "
                      f"{dest.min_severity} alerts and above"
                      + (f" about groups {', '.join(dest.groups)}" if dest.groups else "")
                      + (f" of targets {', '.join(dest.targets)}" if dest.targets else "") + ".", "info")
        out.append((mask(dest.url), send(dest.url, msg)))
    return out
