"""Plotly figures for the pages: they draw numbers the figures module computed."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from token_analytics.engine.values import ServiceUsage
from token_analytics.web import fmt
from token_analytics.web.i18n import t

CURRENT, PREVIOUS = "#2563eb", "#94a3b8"
# the cards' sparklines are coloured by what they count, never by the sign of a change
METRIC_COLOURS = {"tokens": "#2563eb", "calls": "#0891b2"}
PARTIAL_PATTERN = "/"  # hatching marks a bar whose period is not over yet (today so far, this month so far)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=260,
        margin={"l": 10, "r": 10, "t": 56, "b": 10},
        showlegend=False,
        yaxis={"visible": False},
        uniformtext={"minsize": 11, "mode": "show"},
    )
    return fig


def pair(
    title: str,
    labels: tuple[str, str],
    values: Sequence[int],
    metric: str = "tokens",
    partial: tuple[bool, bool] = (False, False),
) -> go.Figure:
    """Two bars, current then previous, each labelled with its number in the session's language (exact on hover).

    A bar whose period is not over (`partial`) is hatched and lighter, and its hover says "so far".
    """
    names = [t("chart.so_far", label=label) if part else label for label, part in zip(labels, partial, strict=True)]
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=list(values),
            marker={
                "color": [CURRENT, PREVIOUS],
                "opacity": [0.55 if part else 1.0 for part in partial],
                "pattern": {"shape": [PARTIAL_PATTERN if part else "" for part in partial], "solidity": 0.3},
            },
            text=[fmt.compact(v) for v in values],
            textposition="outside",
            customdata=[
                t("chart.hover_value", label=name, value=fmt.tokens(v), unit=t(f"unit.{metric}"))
                for name, v in zip(names, values, strict=True)
            ],
            hovertemplate="%{customdata}<extra></extra>",
            cliponaxis=False,
        )
    )
    return _layout(fig, title)


def sparkline(values: list[int], labels: list[str], metric: str) -> go.Figure:
    """A card's small bar chart: one colour for the metric, the last (partial) bar lighter; exact values on hover."""
    colour = METRIC_COLOURS[metric]
    fig = go.Figure(
        go.Bar(
            x=list(range(len(values))),
            y=values,
            marker={
                "color": colour,
                "opacity": [1.0] * (len(values) - 1) + [0.45],
            },
            customdata=[
                t("chart.hover_value", label=label, value=fmt.tokens(v), unit=t(f"unit.{metric}"))
                for label, v in zip(labels, values, strict=True)
            ],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        height=56,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"visible": False, "fixedrange": True},
        bargap=0.15,
        plot_bgcolor="rgba(0,0,0,0)",
        paper_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def services(rows: Sequence[ServiceUsage], metric: str, title: str | None = None) -> go.Figure:
    """One bar per service (agent, operator, assistant) for `metric` ("tokens" or "calls"), titled what and when."""
    values = [int(getattr(row, metric)) for row in rows]
    fig = go.Figure(
        go.Bar(
            x=[t(f"service.{row.service}") for row in rows],
            y=values,
            marker_color=["#2563eb", "#16a34a", "#f59e0b"],
            text=[fmt.compact(v) for v in values],
            textposition="outside",
            customdata=[
                t(
                    "chart.hover_value",
                    label=t(f"service.{row.service}"),
                    value=fmt.tokens(v),
                    unit=t(f"unit.{metric}"),
                )
                for row, v in zip(rows, values, strict=True)
            ],
            hovertemplate="%{customdata}<extra></extra>",
            cliponaxis=False,
        )
    )
    return _layout(fig, title or t(f"metric.{metric}"))
