"""Prefix and tag rules -> groups (pure).

A group is a (kind, name) pair: kind "prefix" for the name-prefix family, "tag:<key>" for a tag.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from .config import Grouping


def name_prefix(name: str, depth: int, delimiters: str = "-_") -> str:
    """The first `depth` delimiter-separated parts of a function name ("payments-api-charge", 1 -> "payments").

    A name with fewer parts than `depth` is its own prefix.
    """
    parts = re.split(f"([{re.escape(delimiters)}])", name)
    # parts alternates word, delimiter, word...; keep delimiters so "a_b-c" at depth 2 is "a_b".
    return "".join(parts[: 2 * depth - 1])


def prefix_group(name: str, rules: Grouping, depth: int | None = None) -> str:
    """The prefix group of a function: the longest explicit rule that matches wins, else the name prefix."""
    for rule in rules.prefix_rules:  # sorted longest prefix first by config
        if name.startswith(rule.prefix):
            return rule.group
    return name_prefix(name, depth or rules.prefix_depth, rules.delimiters)


def groups_for(name: str, tags: Mapping[str, str], rules: Grouping) -> dict[str, str]:
    """Every group of a function: {"prefix": ..., "tag:team": ...}; an absent tag gives no tag group."""
    out = {"prefix": prefix_group(name, rules)}
    for key in rules.tag_keys:
        if tags.get(key):
            out[f"tag:{key}"] = tags[key]
    return out
