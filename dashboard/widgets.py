"""Small page building blocks shared by several pages (Streamlit calls, no data access)."""
from __future__ import annotations

import streamlit as st

from analysis.review import Verdict
from dashboard import fmt

NOT_GRADED = ":gray[:material/remove:]"


def tile(label: str, value: str, detail: str, verdict: Verdict | None, help: str | None = None,
         reason: bool = True) -> None:
    """A bordered number coloured by the review's verdict on it (grey: unknown, or nothing to grade: a
    figure no threshold applies to, or not configured), with the verdict's reason under it when it is
    not ok and `reason` (off where the tile or the page already says it)."""
    status = verdict.status if verdict else None
    with st.container(border=True):
        st.caption(label, help=help)
        st.markdown(f"### :{fmt.STATUS_COLOR[status]}[{value}]")
        st.caption(f"{fmt.STATUS_ICON[status] if status else NOT_GRADED} {detail}")
        if reason and verdict and verdict.reason and status in ("warn", "critical", "unknown"):
            st.caption(fmt.md(verdict.reason))

