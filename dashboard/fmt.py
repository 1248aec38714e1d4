"""Number and text formatting for the pages (pure). Unknown (None) is always written "unknown", never 0."""
from __future__ import annotations

import datetime as dt
import re

from analysis.history import MIN_TREND_WEEKS

UNKNOWN = "unknown"
GB = 1024 ** 3
STATUS_COLOR = {"ok": "green", "warn": "orange", "critical": "red", "unknown": "gray", None: "gray"}
# Material icons ship with Streamlit's font: no system emoji font needed on a wall screen.
STATUS_ICON = {"ok": ":green[:material/check_circle:]", "warn": ":orange[:material/warning:]",
               "critical": ":red[:material/error:]", "unknown": ":gray[:material/help:]", None: ":gray[:material/help:]"}
STATUS_TEXT = {"ok": "ok", "warn": "warn", "critical": "critical", "unknown": "unknown", None: "unknown"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&$:=^])")


def n(v: float | None, unit: str = "") -> str:
    """1234.0 -> '1,234'; 12.5 -> '12.5'; None -> 'unknown'."""
    if v is None:
        return UNKNOWN
    if float(v).is_integer():
        return f"{int(v):,}{unit}"
    return f"{v:,.1f}{unit}"


def pct(v: float | None, digits: int = 0) -> str:
    """A 0-100 value as '13 %' (None -> 'unknown')."""
    return UNKNOWN if v is None else f"{v:.{digits}f} %"


def ratio_pct(v: float | None, limit: float | None, digits: int = 0) -> str:
    """v of limit as a percentage, 'unknown' without either."""
    return UNKNOWN if v is None or not limit else f"{100 * v / limit:.{digits}f} %"


def gb(v: float | None, digits: int = 1) -> str:
    """Bytes as GB (GiB, as AWS counts the 75 GB)."""
    return UNKNOWN if v is None else f"{v / GB:,.{digits}f} GB"


def mb(v: float | None) -> str:
    return UNKNOWN if v is None else f"{v / 1024 ** 2:,.1f} MB"


def duration(seconds: float | None) -> str:
    """95 -> '1 min 35 s', 7200 -> '2 h 0 min'."""
    if seconds is None:
        return UNKNOWN
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


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
