"""Small page building blocks shared by several pages (Streamlit calls, no data access)."""
from __future__ import annotations

import streamlit as st

from dashboard import fmt


def tile(label: str, value: str, detail: str, status: str | None, help: str | None = None) -> None:
    """A bordered number coloured by its threshold status (None = unknown, grey)."""
    with st.container(border=True):
        st.caption(label, help=help)
        st.markdown(f"### :{fmt.STATUS_COLOR[status]}[{value}]")
        st.caption(f"{fmt.STATUS_ICON[status]} {detail}")

