"""How /explore looks: the view kept in the URL, the stacked-bar chart, the tables (the figures are explore.py's)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from token_analytics.engine import explore as ex
from token_analytics.web import fmt
from token_analytics.web.i18n import t

# widget keys (STYLE habit 6: the page's prefix)
PERIOD, CUSTOM, GRANULARITY, METRIC, GROUP, TOP = (
    "explore_period",
    "explore_custom",
    "explore_granularity",
    "explore_metric",
    "explore_group",
    "explore_top",
)
FILTERS = {"service": "explore_services", "member": "explore_members", "model": "explore_models"}
SEEDED_FOR = "explore_seeded_for"  # the account whose keys the widgets were last checked against
PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569")
OTHER_COLOUR = "#cbd5e1"


def seed_from_url(
    keys: Mapping[str, Mapping[str, str]], account: str, today: date, first_hour_day: date | None = None
) -> list[str]:
    """Set the widgets from the URL when the page starts in this session; notice codes for what was refused.

    After that the widgets own the view, and the URL follows them (`write_url`). When an admin switches
    account, filters naming the other account's members or models are dropped.
    """
    if PERIOD in st.session_state:
        if st.session_state.get(SEEDED_FOR) != account:
            for name, key in FILTERS.items():
                st.session_state[key] = [v for v in st.session_state.get(key, []) if v in keys[name]]
            st.session_state[SEEDED_FOR] = account
        return []
    params = {name: st.query_params.get_all(name) for name in ex.PARAMS}
    known = {name: list(values) for name, values in keys.items()}
    view, notices = ex.view_from_params(params, known, today, first_hour_day)
    st.session_state[PERIOD] = view.period
    if view.period == "custom":
        st.session_state[CUSTOM] = (view.start, view.end)
    st.session_state[GRANULARITY] = view.granularity
    st.session_state[METRIC] = view.metric
    st.session_state[GROUP] = view.group
    st.session_state[TOP] = view.top
    for name, key in FILTERS.items():
        st.session_state[key] = list(getattr(view, f"{name}s"))
    st.session_state[SEEDED_FOR] = account
    return notices


def write_url(view: ex.View) -> None:
    """The view as the page's query parameters (a reload or a shared link shows it); never the account."""
    wanted = ex.view_to_params(view)
    current = {name: st.query_params.get_all(name) for name in st.query_params}
    normalised = {name: value if isinstance(value, list) else [value] for name, value in wanted.items()}
    if current != normalised:
        st.query_params.from_dict(wanted)


def custom_range(where: Any, key: str, default: tuple[date, date]) -> tuple[date, date]:
    """(first, last) of a custom-range picker drawn in `where` (st or a column); last = first while picking."""
    st.session_state.setdefault(key, default)
    picked = where.date_input(t("explore.custom_range"), format="YYYY-MM-DD", key=key)
    first, last = (*picked, None, None)[:2] if isinstance(picked, tuple) else (picked, picked)
    return first, last or first  # while a range is being picked only its first day is set


def csv_download(label: str, data: bytes, file_name: str, key: str) -> None:
    """A CSV download button that does not rerun the page."""
    st.download_button(
        label, data=data, file_name=file_name, mime="text/csv", on_click="ignore", icon=":material/download:", key=key
    )


def bucket_text(bucket: date | datetime, granularity: str, period: ex.Period, zone: ZoneInfo) -> tuple[str, str]:
    """(axis label, local time range) of a bucket."""
    start, end = ex.bucket_range(bucket, granularity, period, zone)
    if granularity == "hour":
        # the offset tells the two 01:00s of a DST fall-back apart; the end names its own when it differs
        first = f"{start.strftime('%Y-%m-%d %H:%M')} ({_utc_offset(start)})"
        then = end.strftime("%H:%M") + (f" ({_utc_offset(end)})" if end.utcoffset() != start.utcoffset() else "")
        return start.strftime("%m-%d %H:%M"), t("explore.hover_range", start=first, end=then)
    last = (end - timedelta(days=1)).date() if end.date() > start.date() else start.date()
    one_year = period.start.year == period.last.year  # a short label cannot repeat within one year
    label = {"day": "%m-%d" if one_year else "%Y-%m-%d", "week": "%m-%d" if one_year else "%Y-%m-%d"}.get(
        granularity, "%Y-%m"
    )
    axis = bucket.strftime(label) if isinstance(bucket, date) else start.strftime(label)
    if start.date() == last:
        return axis, start.date().isoformat()
    return axis, t("explore.hover_range", start=start.date().isoformat(), end=last.isoformat())


def _utc_offset(moment: datetime) -> str:
    text = moment.strftime("%z")
    return f"UTC{text[:3]}:{text[3:]}"


def label_of(key: object, label: object, is_other: bool) -> str:
    """A group's name for people: "Other", a translated service, or the text from the data."""
    if is_other:
        return t("explore.other")
    if key == ex.TOTAL_KEY and label == ex.TOTAL_KEY:
        return t("explore.total")
    return str(label)


def stacked_bars(result: ex.Explore, zone: ZoneInfo, group: str) -> go.Figure:
    """Stacked bars over time, one colour per group, with the total above each bar; exact values on hover."""
    series = result.series
    buckets = list(dict.fromkeys(series["bucket"]))
    texts = [bucket_text(b, result.view.granularity, result.period, zone) for b in buckets]
    axis, seen = [], {}
    for label, _ in texts:  # a DST fall-back repeats a local hour: keep both bars
        seen[label] = seen.get(label, 0) + 1
        axis.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    ranges = [html.escape(text) for _, text in texts]
    fig = go.Figure()
    totals = [0] * len(buckets)
    for index, (key, label) in enumerate(result.labels.items()):
        is_other = key is ex.OTHER
        rows = series[series["is_other"]] if is_other else series[~series["is_other"] & (series["key"] == key)]
        values = [int(v) for v in rows["value"]]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        name = label_of(key, label, is_other)
        if group == "service" and not is_other:
            name = t(f"service.{key}")
        fig.add_bar(
            x=axis,
            y=values,
            name=html.escape(name),  # names come from the data; Plotly would render tags in them
            marker_color=OTHER_COLOUR if is_other else PALETTE[index % len(PALETTE)],
            customdata=[[fmt.tokens(v), r] for v, r in zip(values, ranges, strict=True)],
            hovertemplate="%{fullData.name}<br>%{customdata[1]}<br><b>%{customdata[0]}</b><extra></extra>",
        )
    fig.add_scatter(
        x=axis,
        y=totals,
        mode="text",
        text=[fmt.compact(v) if v else "" for v in totals],
        textposition="top center",
        name=t("explore.total"),
        customdata=[[fmt.tokens(v), r] for v, r in zip(totals, ranges, strict=True)],
        hovertemplate=t("explore.total") + "<br>%{customdata[1]}<br><b>%{customdata[0]}</b><extra></extra>",
        showlegend=False,
    )
    fig.update_layout(
        barmode="stack",
        height=380,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.15},
        xaxis={"type": "category"},
        yaxis={"rangemode": "tozero"},
    )
    return fig


def group_table(result: ex.Explore, group: str) -> pd.DataFrame:
    """The table as people read it: names, value, share, previous period and change (plain text cells)."""
    table = result.table
    names = [
        t(f"service.{k}") if group == "service" and not o else label_of(k, lab, bool(o))
        for k, lab, o in zip(table["key"], table["label"], table["is_other"], strict=True)
    ]
    return pd.DataFrame(
        {
            "group": names,
            "key": ["" if o else str(k) for k, o in zip(table["key"], table["is_other"], strict=True)],
            "value": table["value"].astype("int64"),
            "share_pct": table["share_pct"],
            "previous": table["previous"].astype("int64"),
            "change": [fmt.signed(v) for v in table["change"]],
            "change_pct": [
                t("rankings.new") if pd.isna(p) and c else (f"{p:+.1f}%" if not pd.isna(p) else fmt.MISSING)
                for p, c in zip(table["change_pct"], table["change"], strict=True)
            ],
        }
    )


def rank_change_text(change: object, is_new: bool) -> str:
    """▲3, ▼1, = or new."""
    if is_new:
        return t("rankings.new")
    value = int(change)  # type: ignore[call-overload]
    if value > 0:
        return f"▲{value}"
    if value < 0:
        return f"▼{-value}"
    return t("rankings.same")


# --- /analysis: runway, why it changed ----------------------------------------------------------------


def plain(text: object) -> str:
    """Text from the data, shown literally where Streamlit renders Markdown (fmt.plain's escaping)."""
    return fmt.plain(str(text))


def show_runway(runway: Mapping[str, object] | None) -> None:
    """SPEC §8 runway under the usage bar: the date the balance runs out at the 7- and 30-day pace."""
    if not runway:
        return
    if runway["status_7d"] == "overdrawn":
        # below zero the page's overdraft warning speaks; at exactly zero say it here
        if runway["balance"] == 0:
            st.caption(t("runway.overdrawn"))
        return
    lines = []
    for days in (7, 30):
        if runway[f"status_{days}d"] == "not_running_out" or runway[f"runs_out_on_{days}d"] is None:
            lines.append(t("runway.not_running_out", days=days))
            continue
        until = date.fromisoformat(str(runway[f"runs_out_on_{days}d"]))
        lines.append(
            t(
                "runway.ok",
                days=days,
                burn=fmt.tokens(runway[f"burn_{days}d"]),  # type: ignore[arg-type]
                date=fmt.day_words(until),
                left=fmt.tokens(runway[f"days_left_{days}d"]),  # type: ignore[arg-type]
            )
        )
    st.caption(f"**{t('runway.title')}** · " + "  \n".join(lines))


def show_month_to_date(mtd: Mapping[str, object] | None) -> None:
    """SPEC §8 "why it changed": this month so far against the same span of last month, and who moved it."""
    if not mtd:
        return
    current, previous = int(mtd["tokens"]), int(mtd["previous"])  # type: ignore[call-overload]
    text, _ = fmt.growth_label(mtd["growth_pct"], previous, current, "month")  # type: ignore[arg-type]
    st.markdown(f"**{t('mtd.title')}**")
    st.markdown(t("mtd.summary", current=fmt.tokens(current), previous=fmt.tokens(previous), change=text))
    contributors: Mapping[str, list[Mapping[str, object]]] = mtd["contributors"]  # type: ignore[assignment]
    for dimension in ("member", "service", "model"):
        shown = contributors.get(dimension) or []
        if not shown:
            continue
        parts = [
            t(
                "mtd.contribution",
                change=_signed_compact(int(c["change"])),  # type: ignore[call-overload]
                label=t(f"service.{c['key']}") if dimension == "service" else plain(c["label"]),
            )
            for c in shown
        ]
        st.caption(t("mtd.contributors", dimension=t(f"mtd.dimension.{dimension}")) + " " + ", ".join(parts))


def _signed_compact(value: int) -> str:
    """+1.2M, −300K: the sign always shown."""
    return ("+" if value > 0 else "") + fmt.compact(value)
