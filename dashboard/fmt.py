"""Number and text formatting for the pages and the exports (pure), in one place.

Three words for three states: unknown (None: not collected, or stale) is written "unknown", never 0;
not configured (no reserved concurrency, no DLQ) is NOT_SET ("—", with a help text saying what is
missing); 0 is "0" (collected, nothing happened). Tables use `cell()` so no "None" or "nan" reaches
the screen.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from analysis.history import MIN_TREND_WEEKS

UNKNOWN = "unknown"
NOT_SET = "—"          # not configured (the column's help says what), never unknown and never 0
GB = 1024 ** 3
MB = 1024 ** 2
STATUS_COLOR = {"ok": "green", "warn": "orange", "critical": "red", "unknown": "gray", None: "gray"}
# Material icons ship with Streamlit's font: no system emoji font needed on a wall screen.
STATUS_ICON = {"ok": ":green[:material/check_circle:]", "warn": ":orange[:material/warning:]",
               "critical": ":red[:material/error:]", "unknown": ":gray[:material/help:]", None: ":gray[:material/help:]"}
STATUS_CSS = {"ok": "#21a356", "warn": "#e07b00", "critical": "#d62f3c", "unknown": "#808495"}   # table cells


def status_styled(df: Any) -> Any:
    """A table whose "Status" column (STATUS_TEXT words) is coloured as the tiles are."""
    return df.style.map(lambda v: f"color: {STATUS_CSS.get(v, 'inherit')}; font-weight: 600", subset=["Status"])


STATUS_TEXT = {"ok": "ok", "warn": "warn", "critical": "critical", "unknown": "unknown", None: "unknown"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&$:=^])")


def n(v: float | None, unit: str = "") -> str:
    """1234.0 -> '1,234'; 12.5 -> '12.5'; None -> 'unknown'."""
    if v is None:
        return UNKNOWN
    if float(v).is_integer():
        return f"{int(v):,}{unit}"
    return f"{v:,.1f}{unit}"


def pct(v: float | None, digits: int | None = None) -> str:
    """A 0-100 value: '13 %', '0.8 %' (one decimal under 10), '< 0.1 %' for a small non-zero share,
    '0 %' for zero; None -> 'unknown'. `digits` forces the precision."""
    if v is None:
        return UNKNOWN
    if digits is not None:
        return f"{v:,.{digits}f} %"
    if v == 0:
        return "0 %"
    if abs(v) < 0.1:
        return "< 0.1 %"
    return f"{v:,.1f} %" if abs(v) < 10 and not float(v).is_integer() else f"{v:,.0f} %"


def ratio_pct(v: float | None, limit: float | None, digits: int | None = None) -> str:
    """v of limit as a percentage (see pct), 'unknown' without either."""
    return UNKNOWN if v is None or not limit else pct(100 * v / limit, digits)


def size(v: float | None) -> str:
    """Bytes in the unit that shows them: '31.5 MB' under 1 GB, '62.0 GB' above, '512 KB', '0 B'
    (binary units, as AWS counts the 75 GB); None -> 'unknown'."""
    if v is None:
        return UNKNOWN
    if v >= GB:
        return f"{v / GB:,.1f} GB"
    if v >= MB:
        return f"{v / MB:,.1f} MB"
    if v >= 1024:
        return f"{v / 1024:,.0f} KB"
    return f"{v:,.0f} B"


def gb(v: float | None, digits: int = 1) -> str:
    """Bytes as GB when that shows them (a limit such as '75 GB'); smaller sizes as size() writes them."""
    if v is not None and v < GB:
        return size(v)
    return UNKNOWN if v is None else f"{v / GB:,.{digits}f} GB"


def mb(v: float | None) -> str:
    return UNKNOWN if v is None else f"{v / MB:,.1f} MB"


def duration(seconds: float | None) -> str:
    """95 -> '1 min 35 s', 60 -> '1 min', 7200 -> '2 h', 5400 -> '1 h 30 min' (a zero tail is
    dropped); None -> 'unknown'."""
    if seconds is None:
        return UNKNOWN
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    for big, bname, small, sname in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if s >= big:
            rest = s % big // small
            return f"{s // big} {bname}" + (f" {rest} {sname}" if rest else "")
    return f"{s} s"


def ms(v: float | None) -> str:
    """Milliseconds as a duration a person reads: '850 ms', '12.3 s', '2 min 5 s'; None -> 'unknown'."""
    if v is None:
        return UNKNOWN
    if v < 1000:
        return f"{v:,.0f} ms"
    if v < 60_000:
        return f"{v / 1000:,.1f} s"
    return duration(v / 1000)


def cell(v: object, missing: str = UNKNOWN) -> object:
    """A table cell: None/NaN become `missing` (UNKNOWN or NOT_SET), anything else is kept."""
    if v is None or (isinstance(v, float) and v != v):
        return missing
    return v


def step(seconds: int) -> str:
    """A bucket size: 60 -> '1 min', 3600 -> '1 h', 86400 -> '1 d'."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def age(ts: float | None, now: float) -> str:
    """'35 s ago' for a past epoch time, 'never' for None."""
    return "never" if ts is None else f"{duration(max(0.0, now - ts))} ago"


def utc(ts: float | None, seconds: bool = False) -> str:
    """Epoch -> '2026-11-26 16:23 UTC'."""
    if ts is None:
        return UNKNOWN
    f = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(f) + " UTC"


def weeks(v: float | None, slope: float | None = 0.0) -> str:
    """Weeks until a limit: 'not at this rate' when the trend is flat or falling; a note when there
    is too little history for a trend (slope None)."""
    if slope is None:
        return f"needs {MIN_TREND_WEEKS} weeks of history"
    if v is None:
        return "not at this rate"
    if v == 0:
        return "at the limit now"
    return f"{v:,.1f} weeks"


def md(text: object) -> str:
    """Escape a user string (function name, tag, AWS message) for st.markdown: shown as text, never markup."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def group_label(name: str | None) -> str:
    """A group's display name: functions without the tag are '(no tag)'."""
    return "(none)" if name is None else name if name != "" else "(no tag)"


def target_label(target: str, account: str | None, region: str) -> str:
    return f"{target} · {account or '?'} · {region}"


def age_of_oldest(age_s: float | None, visible: float | None) -> str:
    """The oldest message's age: a queue holding messages whose age metric reads 0 (not published
    for the newest minutes, or never) has an unknown age, not a 0 s one."""
    if age_s is None or (not age_s and (visible or 0) > 0):
        return UNKNOWN
    return duration(age_s)


def event_age(age_ms: float | None, dropped: float | None) -> str:
    """The oldest async event's age: 0 for a function that dropped events means AsyncEventAge was not
    reported (an event that waited no time is not dropped), so unknown."""
    if age_ms is None or (not age_ms and (dropped or 0) > 0):
        return UNKNOWN
    return ms(age_ms)
