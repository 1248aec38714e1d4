"""Every figure of a `check --format json` answer, by a stable path, and how two answers differ.

A figure is a numeric leaf (or null) under targets, their functions and their groups, keyed
"account/region/field", "account/region/fn:NAME/field", "account/region/group:KIND:NAME/field".
Statuses are kept apart (for false OKs); timestamps (keys ending in `_at`) are not figures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MISSING = object()   # the path is not in the answer at all (e.g. a function never listed)
STATUS_RANK = {"ok": 0, "warn": 1, "critical": 2}
# Function configuration read by the per-function calls: null there means "none" unless the answer
# says the configuration is unknown (config_known: false). The ARNs are kept as leaves for this.
CONFIG_FIGURES = ("reserved_concurrency", "on_failure_arn")


def _leaves(prefix: str, obj: dict[str, Any], out: dict[str, Any], drop: frozenset[str]) -> None:
    for k, v in obj.items():
        if k in drop or k.endswith("_at") or k in ("functions", "groups", "findings"):
            continue
        path = f"{prefix}/{k}"
        if isinstance(v, dict):
            _leaves(path, v, out, drop)
        elif isinstance(v, bool):
            out[path] = v          # flags such as config_known
        elif v is None or isinstance(v, (int, float)):
            out[path] = v
        elif k == "status" or k.endswith("_status") or k in CONFIG_FIGURES:
            out[path] = v


def flatten(data: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """path -> number, None, bool flag or status string, for every target, function and group."""
    out: dict[str, Any] = {}
    dropped = frozenset(drop)
    out["status"] = data.get("status")
    for t in data.get("targets", []):
        base = f"{t['account']}/{t['region']}"
        _leaves(base, t, out, dropped)
        for f in t.get("functions", []):
            _leaves(f"{base}/fn:{f['name']}", f, out, dropped)
        for g in t.get("groups", []):
            _leaves(f"{base}/group:{g['kind']}:{g['name']}", g, out, dropped)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass
class Diff:
    """Counts of a faulted answer against the fault-free one, with the paths behind each count."""

    compared: int = 0
    wrong_zeros: list[str] = field(default_factory=list)   # baseline != 0, faulted 0 (or "none")
    too_low: list[str] = field(default_factory=list)       # faulted below the baseline, not 0
    unknown: list[str] = field(default_factory=list)       # faulted null or absent
    other: list[str] = field(default_factory=list)         # too high, or a number where baseline is null
    false_ok: list[str] = field(default_factory=list)      # status ok where the baseline warns
    statuses: list[str] = field(default_factory=list)      # any status that differs

    def row(self) -> dict[str, object]:
        return {"figures compared": self.compared, "wrong zeros": len(self.wrong_zeros),
                "too low": len(self.too_low), "unknown": len(self.unknown), "other diffs": len(self.other),
                "false OK": len(self.false_ok)}

    def explain(self, limit: int = 12) -> str:
        """The first paths of each kind, for an assertion message and the report."""
        lines = []
        for name in ("wrong_zeros", "too_low", "unknown", "other", "false_ok"):
            items = getattr(self, name)
            if items:
                more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
                lines.append(f"{name.replace('_', ' ')}: {len(items)}{more}")
                lines += [f"  {x}" for x in items[:limit]]
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is MISSING:
        return "absent"
    if v is None:
        return "null"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def compare(baseline: dict[str, Any], faulted: dict[str, Any]) -> Diff:
    """Classify every figure of `faulted` against `baseline` (both from flatten())."""
    d = Diff()
    for path in sorted(baseline.keys() | faulted.keys()):
        b, f = baseline.get(path, MISSING), faulted.get(path, MISSING)
        key = path.rsplit("/", 1)[-1]
        if isinstance(b, bool) or isinstance(f, bool):
            continue
        if key == "status" or key.endswith("_status"):
            if b != f and b is not MISSING:
                d.statuses.append(f"{path}: {_fmt(b)} -> {_fmt(f)}")
                if f == "ok" and STATUS_RANK.get(b, 0) > 0:
                    d.false_ok.append(f"{path}: {_fmt(b)} -> ok")
            continue
        if isinstance(b, str):   # a configured destination ARN
            if f != b:
                d.compared += 1
                fn_prefix = path.rsplit("/", 1)[0]
                if f is None and faulted.get(f"{fn_prefix}/config_known") is not False:
                    d.wrong_zeros.append(f"{path}: set -> null (shown as none)")
                elif f is None or f is MISSING:
                    d.unknown.append(f"{path}: set -> {_fmt(f)}")
                else:
                    d.other.append(f"{path}: {b} -> {f}")
            else:
                d.compared += 1
            continue
        if not _is_number(b):
            if _is_number(f) or isinstance(f, str):
                d.compared += 1
                d.other.append(f"{path}: {_fmt(b)} -> {_fmt(f)}")
            continue
        d.compared += 1
        what = f"{path}: {_fmt(b)} -> {_fmt(f)}"
        if f is MISSING or f is None:
            fn_prefix = path.rsplit("/", 1)[0]
            config_unknown = faulted.get(f"{fn_prefix}/config_known") is False
            if f is None and key in CONFIG_FIGURES and "/fn:" in path and not config_unknown:
                d.wrong_zeros.append(what + " (shown as none)")
            else:
                d.unknown.append(what)
        elif math.isclose(f, b, rel_tol=1e-9, abs_tol=1e-9):
            continue
        elif f == 0:
            d.wrong_zeros.append(what)
        elif f < b:
            d.too_low.append(what)
        else:
            d.other.append(what)
    return d
