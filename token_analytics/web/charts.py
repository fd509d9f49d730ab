"""The charts of /analysis and /explore: they draw numbers the engine computed.

Each chart is a Vega-Lite spec with its values inline (no dataframe to serialise), drawn with
`draw`. Plotly drew them before: its 4.7 MB bundle and nine Plotly renders were most of what a
person waited for after signing in (docs/BENCHMARK.md, "Where the browser's time goes"); Vega,
which Streamlit already loads for its own elements, draws the same bars, labels and hovers in a
fraction of that. /explore's stacked bars followed (`stacked`), so no page loads Plotly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
EXPLORE_HEIGHT = 420
COMPARE_COLOUR = "#475569"  # the previous period's dashed line on /explore


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


def stacked(
    title: str | None,
    axis: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    totals_text: Sequence[str],
    ranges: Sequence[str],
    ticks: tuple[Sequence[str], Sequence[str | list[str]]],
    y_ticks: tuple[Sequence[int], Sequence[str]],
    titles: Mapping[str, str],
    compare: tuple[str, Sequence[int]] | None = None,
    height: int = EXPLORE_HEIGHT,
) -> Spec:
    """Stacked bars over categories (/explore): one colour per series, the total above each bar, exact values on hover.

    `series` is (name, colour, one value per `axis` label), bottom first and in the legend's order; a
    zero draws nothing, so it is not sent. `totals_text` is the text above each bar ("" for none),
    `ranges` the bucket's span, shown on the total's hover. `ticks` are the x labels to show and
    their texts (a list is drawn as lines), `y_ticks` the y values and their texts. `titles` names
    the hover's fields: "group", "bucket", "value", "total". `compare` is a dashed line of one value
    per label from the first (the previous period). Names and texts are drawn as their characters:
    Vega draws text, and its hover escapes HTML.
    """
    names = _unique([name for name, _, _ in series])
    rows = [
        {"label": label, "group": name, "value": int(value), "order": index}
        for label_index, label in enumerate(axis)
        for index, (name, (_, _, values)) in enumerate(zip(names, series, strict=True))
        if (value := values[label_index])
    ]
    totals = [sum(int(values[i]) for _, _, values in series) for i in range(len(axis))]
    x = {
        "field": "label",
        "type": "nominal",
        "title": None,
        "scale": {"domain": list(axis)},
        "axis": {"values": list(ticks[0]), "labelAngle": 0, "labelExpr": "explore_x[datum.value]"},
    }
    y_values, y_texts = ticks_by_value(y_ticks)
    y = {
        "type": "quantitative",
        "title": None,
        "scale": {"domain": [0, max(y_values, default=1) or 1], "nice": False},
        "axis": {"values": y_values, "labelExpr": "explore_y[datum.value]"},
    }
    bars = {
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "x": x,
            "y": {**y, "field": "value", "stack": "zero"},
            "color": {
                "field": "group",
                "type": "nominal",
                "scale": {"domain": names, "range": [colour for _, colour, _ in series]},
                "legend": {
                    "title": None,
                    "orient": "bottom",
                    "direction": "horizontal",
                    "columns": min(len(names), 5) or 1,
                    "symbolType": "square",
                    "labelLimit": 220,
                },
            },
            "order": {"field": "order", "type": "quantitative"},
            "tooltip": [
                {"field": "group", "type": "nominal", "title": titles["group"]},
                {"field": "label", "type": "nominal", "title": titles["bucket"]},
                {"field": "value", "type": "quantitative", "title": titles["value"], "format": ","},
            ],
        },
    }
    above = {
        "data": {
            "values": [
                {"label": label, "total": total, "text": text, "range": span}
                for label, total, text, span in zip(axis, totals, totals_text, ranges, strict=True)
            ]
        },
        "mark": {"type": "text", "baseline": "bottom", "dy": -3, "fontSize": 11},
        "encoding": {
            "x": x,
            "y": {**y, "field": "total"},
            "text": {"field": "text"},
            "tooltip": [
                {"field": "range", "type": "nominal", "title": titles["bucket"]},
                {"field": "total", "type": "quantitative", "title": titles["total"], "format": ","},
            ],
        },
    }
    layers = [bars, above]
    if compare is not None:
        name, previous = compare
        layers.append(
            {
                "data": {
                    "values": [
                        {"label": label, "previous": int(value)} for label, value in zip(axis, previous, strict=False)
                    ]
                },
                "mark": {
                    "type": "line",
                    "stroke": COMPARE_COLOUR,
                    "strokeWidth": 2,
                    "point": {"size": 16, "filled": True, "fill": COMPARE_COLOUR, "stroke": COMPARE_COLOUR},
                },
                "encoding": {
                    "x": x,
                    "y": {**y, "field": "previous"},
                    "strokeDash": {
                        "datum": name,
                        "type": "nominal",
                        "scale": {"domain": [name], "range": [[6, 4]]},
                        "legend": {
                            "title": None,
                            "orient": "bottom",
                            "symbolType": "circle",  # as the line's points (a dashed stroke symbol drew nothing)
                            "symbolFillColor": COMPARE_COLOUR,
                            "symbolStrokeColor": COMPARE_COLOUR,
                        },
                    },
                    "tooltip": [{"field": "previous", "type": "quantitative", "title": name, "format": ","}],
                },
            }
        )
    return {
        "title": {"text": title or "", "fontSize": 14, "anchor": "start"},
        "height": height,
        # the axis texts are looked up by value: hour labels take two lines, and numbers are written the
        # session's way (4.2万), which Vega's own formats cannot do
        "params": [
            {"name": "explore_x", "value": dict(zip(ticks[0], ticks[1], strict=True))},
            {"name": "explore_y", "value": y_texts},
        ],
        "layer": layers,
        "config": {"view": {"stroke": None}},
    }


def ticks_by_value(y_ticks: tuple[Sequence[int], Sequence[str]]) -> tuple[list[int], dict[str, str]]:
    """The y tick values, and their texts keyed as Vega's expression reads a number as a key."""
    values, texts = y_ticks
    return [int(v) for v in values], {str(int(v)): text for v, text in zip(values, texts, strict=True)}


def _unique(names: list[str]) -> list[str]:
    """Legend names, one per series: a name met again (two members called alike) gets " (2)", " (3)"."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out
