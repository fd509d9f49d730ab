"""Read what a person sees in /explore's stacked-bar chart (a Vega-Lite spec from web/charts.py).

The tests check facts (the buckets on the axis, each bar's value per group, the legend, the totals, the
previous period's line, the texts), not how the spec is laid out; these helpers are the one place that knows.
"""

from __future__ import annotations

import json
from typing import Any

Spec = dict[str, Any]


def spec_of(element: Any) -> Spec:
    """The spec of a `vega_lite_chart` element of AppTest, or the spec itself."""
    return json.loads(element.proto.spec) if hasattr(element, "proto") else element


def _layer(spec: Spec, mark: str) -> Spec | None:
    for layer in spec["layer"]:
        kind = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        if kind == mark:
            return layer
    return None


def axis(spec: Spec) -> list[str]:
    """The buckets' labels along the x axis, in order (one bar each)."""
    return list(_layer(spec, "bar")["encoding"]["x"]["scale"]["domain"])  # type: ignore[index]


def legend(spec: Spec) -> list[str]:
    """The groups' names in the legend's (and the stack's) order."""
    return list(_layer(spec, "bar")["encoding"]["color"]["scale"]["domain"])  # type: ignore[index]


def colours(spec: Spec) -> dict[str, str]:
    """Each group's colour."""
    scale = _layer(spec, "bar")["encoding"]["color"]["scale"]  # type: ignore[index]
    return dict(zip(scale["domain"], scale["range"], strict=True))


def series(spec: Spec) -> dict[str, list[int]]:
    """group -> its value in each bucket along the axis (a bucket it has nothing in is 0)."""
    labels = axis(spec)
    out = {name: [0] * len(labels) for name in legend(spec)}
    for row in _layer(spec, "bar")["data"]["values"]:  # type: ignore[index]
        out[row["group"]][labels.index(row["label"])] += row["value"]
    return out


def totals(spec: Spec) -> list[dict[str, Any]]:
    """Above each bar: its total, the text drawn (or ""), and the bucket's span on hover."""
    return list(_layer(spec, "text")["data"]["values"])  # type: ignore[index]


def previous_line(spec: Spec) -> list[int] | None:
    """The previous period's totals as drawn by the dashed line, or None without one."""
    line = _layer(spec, "line")
    return None if line is None else [row["previous"] for row in line["data"]["values"]]


def title(spec: Spec) -> str:
    return spec["title"]["text"]


def x_ticks(spec: Spec) -> list[str | list[str]]:
    """The texts under the x axis, in order (a list is one label on several lines)."""
    values = _layer(spec, "bar")["encoding"]["x"]["axis"]["values"]  # type: ignore[index]
    texts = next(p["value"] for p in spec["params"] if p["name"] == "explore_x")
    return [texts[v] for v in values]


def y_ticks(spec: Spec) -> list[str]:
    """The texts of the y axis, bottom first."""
    values = _layer(spec, "bar")["encoding"]["y"]["axis"]["values"]  # type: ignore[index]
    texts = next(p["value"] for p in spec["params"] if p["name"] == "explore_y")
    return [texts[str(v)] for v in values]
