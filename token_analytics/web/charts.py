"""The small bar charts of /analysis: they draw numbers the figures module computed.

Each chart is a Vega-Lite spec with its values inline (no dataframe to serialise), drawn with
`draw`. Plotly drew them before: its 4.7 MB bundle and nine Plotly renders were most of what a
person waited for after signing in (docs/BENCHMARK.md, "Where the browser's time goes"); Vega,
which Streamlit already loads for its own elements, draws the same bars, labels and hovers in a
fraction of that. The bigger /explore chart stays Plotly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from token_analytics.engine.values import ServiceUsage
from token_analytics.web import fmt
from token_analytics.web.i18n import t

Spec = dict[str, Any]

CURRENT, PREVIOUS = "#2563eb", "#94a3b8"
# the cards' sparklines are coloured by what they count, never by the sign of a change
METRIC_COLOURS = {"tokens": "#2563eb", "calls": "#0891b2"}
SERVICE_COLOURS = ("#2563eb", "#16a34a", "#f59e0b")
PARTIAL_OPACITY = 0.55  # a bar whose period is not over yet (today so far, this month so far) is lighter
HEIGHT = 260
SPARK_HEIGHT = 56


def _hatching(stripes: int = 9) -> Spec:
    """Diagonal white stripes over a bar: hatching marks a bar whose period is not over yet.

    Vega has no fill patterns; a linear gradient with hard stops draws the same stripes.
    """
    stops = []
    for i in range(stripes):
        start, middle, end = i / stripes, (i + 0.3) / stripes, (i + 1) / stripes
        stops += [
            {"offset": start, "color": "rgba(255,255,255,0.7)"},
            {"offset": middle, "color": "rgba(255,255,255,0.7)"},
            {"offset": middle, "color": "rgba(255,255,255,0)"},
            {"offset": end, "color": "rgba(255,255,255,0)"},
        ]
    return {"gradient": "linear", "x1": 0, "y1": 1, "x2": 1, "y2": 0, "stops": stops}


def _bars(title: str | list[str], rows: list[Spec], height: int = HEIGHT) -> Spec:
    """Labelled bars (x: `label`, height: `value`, text on top, `hover` on hover), one colour per row."""
    x = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelAngle": 0}}
    y: Spec = {"field": "value", "type": "quantitative", "axis": None}
    if not any(row["value"] for row in rows):  # all zero: Vega centres an empty domain; keep "0" on the baseline
        y["scale"] = {"domain": [0, 1]}
    bar = {
        "mark": {"type": "bar", "cornerRadiusEnd": 0},
        "encoding": {
            "x": x,
            "y": y,
            "color": {"field": "colour", "type": "nominal", "scale": None},
            "opacity": {"field": "opacity", "type": "quantitative", "scale": None},
            "tooltip": {"field": "hover", "type": "nominal"},
        },
    }
    layers = [bar]
    if any(row.get("partial") for row in rows):
        layers.append(
            {
                "transform": [{"filter": "datum.partial"}],
                "mark": {"type": "bar", "color": _hatching()},
                "encoding": {"x": x, "y": y, "tooltip": {"field": "hover", "type": "nominal"}},
            }
        )
    layers.append(
        {
            "mark": {"type": "text", "baseline": "bottom", "dy": -3, "fontSize": 12},
            "encoding": {"x": x, "y": y, "text": {"field": "text"}, "tooltip": {"field": "hover", "type": "nominal"}},
        }
    )
    return {
        "title": {"text": title, "fontSize": 14, "anchor": "start"},
        "height": height,
        "layer": [{"data": {"values": rows}, "layer": layers}],
        "config": {"view": {"stroke": None}},
    }


def draw(where: Any, spec: Spec, key: str) -> None:
    """Draw `spec` in `where` (st or a column) at the column's width.

    The values sit inside the spec's layer, not at its top: Streamlit would turn top-level values
    into an Arrow table on every run, for a handful of numbers the JSON already carries.
    """
    where.vega_lite_chart(spec, key=key, width="stretch")


def pair(
    title: str,
    labels: tuple[str, str],
    values: Sequence[int],
    metric: str = "tokens",
    partial: tuple[bool, bool] = (False, False),
) -> Spec:
    """Two bars, current then previous, each labelled with its number in the session's language (exact on hover).

    A bar whose period is not over (`partial`) is hatched and lighter, and its hover says "so far".
    `title` may hold a line break (`<br>`): a quarter width cuts a long title.
    """
    names = [t("chart.so_far", label=label) if part else label for label, part in zip(labels, partial, strict=True)]
    rows = [
        {
            "label": label,
            "value": int(value),
            "text": fmt.compact(value),
            "hover": t("chart.hover_value", label=name, value=fmt.tokens(value), unit=t(f"unit.{metric}")),
            "colour": colour,
            "opacity": PARTIAL_OPACITY if part else 1.0,
            "partial": part,
        }
        for label, name, value, part, colour in zip(labels, names, values, partial, (CURRENT, PREVIOUS), strict=True)
    ]
    return _bars(title.split("<br>"), rows)


def sparkline(values: list[int], labels: list[str], metric: str) -> Spec:
    """A card's small bar chart: one colour for the metric, the last (partial) bar lighter; exact values on hover."""
    colour = METRIC_COLOURS[metric]
    rows = [
        {
            "i": i,
            "value": int(value),
            "hover": t("chart.hover_value", label=label, value=fmt.tokens(value), unit=t(f"unit.{metric}")),
            "opacity": 0.45 if i == len(values) - 1 else 1.0,
        }
        for i, (value, label) in enumerate(zip(values, labels, strict=True))
    ]
    bars = {
        "data": {"values": rows},
        "mark": {"type": "bar", "color": colour},
        "encoding": {
            "x": {"field": "i", "type": "ordinal", "axis": None, "scale": {"paddingInner": 0.15, "paddingOuter": 0}},
            "y": {"field": "value", "type": "quantitative", "axis": None},
            "opacity": {"field": "opacity", "type": "quantitative", "scale": None},
            "tooltip": {"field": "hover", "type": "nominal"},
        },
    }
    return {
        "height": SPARK_HEIGHT,
        "layer": [bars],
        "padding": 0,
        "background": None,
        "config": {"view": {"stroke": None}},
    }


def services(rows: Sequence[ServiceUsage], metric: str, title: str | None = None) -> Spec:
    """One bar per service (agent, operator, assistant) for `metric` ("tokens" or "calls"), titled what and when."""
    values = [int(getattr(row, metric)) for row in rows]
    labels = [t(f"service.{row.service}") for row in rows]
    bars = [
        {
            "label": label,
            "value": value,
            "text": fmt.compact(value),
            "hover": t("chart.hover_value", label=label, value=fmt.tokens(value), unit=t(f"unit.{metric}")),
            "colour": SERVICE_COLOURS[i % len(SERVICE_COLOURS)],
            "opacity": 1.0,
        }
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    return _bars(title or t(f"metric.{metric}"), bars)
