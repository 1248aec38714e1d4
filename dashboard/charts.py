"""DataFrame -> plotly Figure (pure: no Streamlit, no store). Readable in light and dark themes.

Series values of None/NaN are gaps (not collected) and are drawn as gaps, never joined or zeroed.
Limit lines are dashed and labelled with their value.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pandas as pd
import plotly.graph_objects as go

# Mid-tone colours that read on white and on Streamlit's dark background.
BLUE, ORANGE, GREEN, PURPLE, RED, GRAY, TEAL = "#3b82f6", "#f59e0b", "#22c55e", "#a855f7", "#ef4444", "#94a3b8", "#14b8a6"
PALETTE = [BLUE, ORANGE, GREEN, PURPLE, TEAL, "#ec4899", "#eab308", "#6366f1"]
STATUS = {"ok": GREEN, "warn": ORANGE, "critical": RED}
UNIT_LABEL = {"count": "", "ms": "ms", "s": "s", "ratio": "ratio (0-1)", "bytes": "GB"}


def step(start: int, end: int, coarsest: int | None, max_points: int = 500) -> int:
    """The bucket size for a chart of [start, end): fine enough for about max_points buckets, and never
    finer than the coarsest resolution stored in the window (else hourly points would look like spikes
    between zeros)."""
    span = max(60, end - start)
    fine = next((x for x in (60, 300, 900, 3600, 21600, 86400) if span / x <= max_points), 86400)
    return max(fine, coarsest or 60)


def plain(text: object) -> str:
    """Text for a plotly label: plotly reads a subset of HTML in titles, ticks and legends; escape it."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _layout(title: str, y_title: str = "", height: int = 320, **more: object) -> dict[str, object]:
    """A chart's layout, given whole to go.Figure: each update_layout afterwards costs milliseconds (plotly
    validates the figure again), a dozen a chart and a dozen charts a page."""
    return {"title": {"text": plain(title), "x": 0, "font": {"size": 15}}, "height": height,
            "margin": {"l": 10, "r": 10, "t": 44, "b": 10}, "hovermode": "x unified",
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
            "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"}, **more}


def limit_line(fig: go.Figure, value: float, label: str, color: str = RED, dash: str = "dash",
               horizontal: bool = True) -> None:
    """A labelled limit line (horizontal on a time series, vertical on a bar chart). The shape and label
    plotly's add_hline/add_vline make, added directly: those walk every axis and took ~10 ms a line."""
    line = {"color": color, "dash": dash, "width": 2}
    font = {"color": color}
    if horizontal:
        fig.add_shape(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=value, y1=value, line=line)
        fig.add_annotation(xref="x domain", x=0, yref="y", y=value, text=label, showarrow=False,
                           xanchor="left", yanchor="bottom", font=font)
    else:
        fig.add_shape(type="line", xref="x", x0=value, x1=value, yref="y domain", y0=0, y1=1, line=line)
        fig.add_annotation(xref="x", x=value, yref="y domain", y=1, text=label, showarrow=False,
                           xanchor="center", yanchor="bottom", font=font)


def timeseries(df: pd.DataFrame, title: str, unit: str = "count", limits: Sequence[tuple[float, str]] = (),
               height: int = 320, kind: str = "line") -> go.Figure:
    """df: index = timestamps (UTC datetimes), one column per series, NaN = not collected (a gap)."""
    fig = go.Figure(layout=_layout(title, UNIT_LABEL.get(unit, unit), height, showlegend=len(df.columns) > 1))
    # the times as the ISO text plotly would write for them, once: Streamlit deep-copies every figure, and
    # a Timestamp at a time that was most of a chart's cost
    xs = [t.isoformat() for t in df.index] if isinstance(df.index, pd.DatetimeIndex) else df.index
    for i, col in enumerate(df.columns):
        color = PALETTE[i % len(PALETTE)]
        if kind == "bar":
            fig.add_trace(go.Bar(x=xs, y=df[col].to_numpy(), name=plain(col), marker_color=color))
        else:
            fig.add_trace(go.Scatter(x=xs, y=df[col].to_numpy(), name=plain(col), mode="lines", connectgaps=False,
                                     line={"color": color, "width": 2, "shape": "hv"}))
    for value, label in limits:
        if value is not None:
            limit_line(fig, value, label)
    return fig


def gaps(df: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Runs of rows where every column is NaN (not collected), as (first, last) index pairs."""
    out: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    run: tuple[pd.Timestamp, pd.Timestamp] | None = None   # the gap being walked: (first, last so far)
    empty = df.isna().all(axis=1) if len(df.columns) else pd.Series(True, index=df.index)
    for ts, is_gap in empty.items():
        t = cast(pd.Timestamp, ts)   # the index is the rows' times (see timeseries); pandas types it Hashable
        if is_gap:
            run = (run[0], t) if run else (t, t)
        elif run:
            out.append(run)
            run = None
    if run:
        out.append(run)
    return out


def shade_gaps(fig: go.Figure, df: pd.DataFrame, step_s: int) -> go.Figure:
    """Grey bands where nothing was collected, so a gap is not mistaken for idle."""
    for a, b in gaps(df):
        fig.add_shape(type="rect", xref="x", x0=a, x1=b + pd.Timedelta(seconds=step_s), yref="y domain", y0=0, y1=1,
                      fillcolor=GRAY, opacity=0.18, line={"width": 0})   # what add_vrect makes, without its axis walk
        fig.add_annotation(xref="x", x=a, yref="y domain", y=1, text="not collected", showarrow=False,
                           xanchor="left", yanchor="top", font={"color": GRAY})
    return fig


def _limit_pair(fig: go.Figure, limit: int | None, floor: int, floor_label: str) -> None:
    """The limit and the max-reservable line (limit - floor), labelled one above the other above the plot."""
    if not limit:
        return
    for value, label, color, dash, shift in ((limit, f"limit {limit:,}", RED, "dash", 0),
                                              (limit - floor, floor_label.format(limit - floor), GRAY, "dot", 16)):
        if value <= 0:
            continue
        fig.add_shape(type="line", xref="x", x0=value, x1=value, yref="y domain", y0=0, y1=1,
                      line={"color": color, "dash": dash, "width": 2})
        fig.add_annotation(x=value, y=1, xref="x", yref="paper", yanchor="bottom", yshift=shift, text=label,
                           showarrow=False, font={"color": color}, xanchor="right")


def concurrency_budget(limit: int | None, reserved: int | None, provisioned: int | None, unreserved: int | None,
                       peak: float | None, peak_claimed: float | None, floor: int = 100,
                       title: str = "Concurrency budget") -> go.Figure:
    """Horizontal bars against the account limit: reserved and the unreserved pool (limit − reserved, the
    review's figure, as Lambda counts it), provisioned concurrency on its own row (it sits inside a
    function's reserved concurrency or is taken from the pool), the peaks, and the 100-unreserved floor.
    An unknown figure (None) is named "unknown" in the legend with no bar."""
    top = max(limit or 0, peak or 0, peak_claimed or 0, (reserved or 0) + (unreserved or 0), 1) * 1.05
    fig = go.Figure(layout=_bar_layout(title, 270, -0.2, top))
    y = ["allocations"]
    fig.add_trace(go.Bar(y=y, x=[reserved], name=f"reserved {_count(reserved)}", orientation="h",
                         marker_color=PURPLE, hovertemplate="reserved: %{x:,}<extra></extra>"))
    fig.add_trace(go.Bar(y=y, x=[unreserved], name=f"unreserved pool {_count(unreserved)}", orientation="h",
                         marker_color=GRAY, opacity=0.35, hovertemplate="unreserved pool: %{x:,}<extra></extra>"))
    fig.add_trace(go.Bar(y=["provisioned"], x=[provisioned], name=f"provisioned {_count(provisioned)}",
                         orientation="h", marker_color=TEAL, hovertemplate="provisioned: %{x:,}<extra></extra>"))
    ys = ["peaks"]
    if peak is not None:
        fig.add_trace(go.Bar(y=ys, x=[peak], name=f"peak concurrency {peak:,.0f}", orientation="h",
                             marker_color=BLUE, hovertemplate="peak concurrency: %{x:,}<extra></extra>"))
    if peak_claimed is not None:
        fig.add_trace(go.Scatter(y=ys, x=[peak_claimed], name=f"peak claimed {peak_claimed:,.0f}", mode="markers",
                                 marker={"symbol": "diamond", "size": 16, "color": ORANGE,
                                         "line": {"width": 1, "color": "#111827"}},
                                 hovertemplate="peak claimed: %{x:,}<extra></extra>"))
    _limit_pair(fig, limit, floor, "max reservable {:,} (100 kept unreserved)")
    return fig


def _bar_layout(title: str, height: int, legend_y: float, x_max: float) -> dict[str, object]:
    """The layout of a stacked horizontal bar against a limit, the legend below it."""
    return {"barmode": "stack", "height": height, "title": {"text": plain(title), "x": 0, "font": {"size": 15}},
            "margin": {"l": 10, "r": 10, "t": 80, "b": 10}, "legend": {"orientation": "h", "y": legend_y, "x": 0},
            "xaxis": {"range": [0, x_max]}}


def _count(v: int | None) -> str:
    return "unknown" if v is None else f"{v:,}"


def weekly_trend(weeks: list[tuple[pd.Timestamp, float | None]], limit: float | None, title: str, unit: str,
                 slope: float | None, limit_label: str = "limit") -> go.Figure:
    """Weekly peaks (each bar 7 days, from its start) as bars, the least-squares trend as a line, the limit as a dashed line."""
    scale = 1024 ** 3 if unit == "bytes" else 1
    xs = [w for w, _ in weeks]
    ys = [None if v is None else v / scale for _, v in weeks]
    fig = go.Figure(go.Bar(x=xs, y=ys, name="weekly peak", marker_color=BLUE,
                           hovertemplate="7 days from %{x|%b %d %H:%M} UTC: %{y:,.1f}<extra></extra>"),
                    layout=_layout(title, UNIT_LABEL.get(unit, unit), 300))
    known = [(i, v) for i, v in enumerate(ys) if v is not None]
    if slope is not None and len(known) >= 2:
        n = len(known)
        mx, my = sum(i for i, _ in known) / n, sum(v for _, v in known) / n
        s = slope / scale
        span = range(known[0][0], known[-1][0] + 1)   # only over the weeks that were collected
        fig.add_trace(go.Scatter(x=[xs[i] for i in span], y=[my + s * (i - mx) for i in span], mode="lines",
                                 name=f"trend {s:+,.1f}/week", line={"color": ORANGE, "dash": "dot", "width": 2}))
    if limit:
        limit_line(fig, limit / scale, f"{limit_label} {limit / scale:,.0f}{' GB' if unit == 'bytes' else ''}")
    return fig


def bars(df: pd.DataFrame, x: str, y: str, title: str, y_title: str = "", color_by_status: bool = True,
         limit: tuple[float, str] | None = None, horizontal: bool = False, height: int = 340) -> go.Figure:
    """A bar per row (e.g. per group), coloured by its status column when there is one."""
    colors = [STATUS.get(s, BLUE) for s in df["status"]] if color_by_status and "status" in df else BLUE
    layout = _layout(title, "", height, showlegend=False, hovermode="closest")
    if horizontal:
        fig = go.Figure(go.Bar(y=[plain(v) for v in df[x]], x=df[y], orientation="h", marker_color=colors,
                               hovertemplate="%{y}: %{x:,}<extra></extra>"),
                        layout=layout | {"yaxis": {"autorange": "reversed", "type": "category"},
                                         "xaxis": {"title": {"text": y_title}}})
    else:
        fig = go.Figure(go.Bar(x=[plain(v) for v in df[x]], y=df[y], marker_color=colors,
                               hovertemplate="%{x}: %{y:,}<extra></extra>"),
                        layout=layout | {"yaxis": {"title": {"text": y_title}},
                                         "xaxis": {"type": "category"}})
    if limit is not None:
        limit_line(fig, limit[0], limit[1], horizontal=not horizontal)
    return fig


def code_storage(df: pd.DataFrame, limit: float | None, title: str = "Code storage used") -> go.Figure:
    """df: index = time, column 'used' in bytes (NaN = no snapshot)."""
    gbs = df[["used"]] / 1024 ** 3
    gbs.columns = ["used (GB)"]
    fig = timeseries(gbs, title, "bytes", [(limit / 1024 ** 3, f"limit {limit / 1024 ** 3:,.0f} GB")] if limit else [])
    return fig


def allocation(groups: list[tuple[str, int]], limit: int | None, floor: int = 100,
               title: str = "Reserved concurrency by group") -> go.Figure:
    """Each group's reserved concurrency stacked on one bar, against the most that may be reserved
    (limit − 100 kept unreserved) and the limit."""
    total = sum(r for _, r in groups)
    fig = go.Figure(layout=_bar_layout(title, 260, -0.25, max(limit or 0, total, 1) * 1.05))
    for i, (name, reserved) in enumerate(groups):
        fig.add_trace(go.Bar(y=["reserved"], x=[reserved], name=f"{plain(name)} {reserved:,}", orientation="h",
                             marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate=f"{plain(name)}: %{{x:,}}<extra></extra>"))
    _limit_pair(fig, limit, floor, "max reservable {:,}")
    return fig
