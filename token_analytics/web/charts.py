"""Plotly figures for the pages: they draw numbers the figures module computed."""

from __future__ import annotations

import plotly.graph_objects as go

from token_analytics.web import fmt
from token_analytics.web.i18n import t

CURRENT, PREVIOUS = "#2563eb", "#94a3b8"


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=260,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        showlegend=False,
        yaxis={"visible": False},
        uniformtext={"minsize": 11, "mode": "show"},
    )
    return fig


def pair(title: str, labels: tuple[str, str], values: list[int]) -> go.Figure:
    """Two bars, current then previous, each labelled with its number (exact on hover)."""
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=values,
            marker_color=[CURRENT, PREVIOUS],
            text=[fmt.compact(v) for v in values],
            textposition="outside",
            customdata=[fmt.tokens(v) for v in values],
            hovertemplate="%{x}: %{customdata}<extra></extra>",
            cliponaxis=False,
        )
    )
    return _layout(fig, title)


def services(rows: list[dict[str, int | str]], metric: str) -> go.Figure:
    """One bar per service (agent, operator, assistant) for `metric` ("tokens" or "calls")."""
    values = [int(row[metric]) for row in rows]
    fig = go.Figure(
        go.Bar(
            x=[t(f"service.{row['service']}") for row in rows],
            y=values,
            marker_color=["#2563eb", "#16a34a", "#f59e0b"],
            text=[fmt.compact(v) for v in values],
            textposition="outside",
            customdata=[fmt.tokens(v) for v in values],
            hovertemplate="%{x}: %{customdata}<extra></extra>",
            cliponaxis=False,
        )
    )
    return _layout(fig, t(f"metric.{metric}"))
