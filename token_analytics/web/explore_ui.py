"""How /explore looks: the view kept in the URL, its controls, the stacked-bar chart, the tables, the rankings
(the figures are engine/explore.py's).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from babel.dates import format_skeleton

from token_analytics.engine import explore as ex
from token_analytics.engine.values import MonthToDate, Runway
from token_analytics.web import charts, fmt, tables, ui
from token_analytics.web.context import PageContext
from token_analytics.web.i18n import current_language, t

# widget keys (STYLE habit 6: the page's prefix)
PERIOD, CUSTOM, GRANULARITY, METRIC, GROUP, TOP = (
    "explore_period",
    "explore_custom",
    "explore_granularity",
    "explore_metric",
    "explore_group",
    "explore_top",
)
SORT, COMPARE = "explore_sort", "explore_compare"
RANK_PERIOD, RANK_CUSTOM, RANK_SORT = "explore_rank_period", "explore_rank_custom", "explore_rank_sort"
FILTERS = {"service": "explore_services", "member": "explore_members", "model": "explore_models"}
SEEDED_FOR = "explore_seeded_for"  # the account whose keys the widgets were last checked against
PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569")
OTHER_COLOUR = "#cbd5e1"
# One Explore view is computed and built at a time in the process: each is bounded (MAX_BUCKETS bars), but many tabs
# of one person asking for the heaviest view at once would otherwise take both cores from every other page. They
# wait for each other here instead; the other pages never take this lock.
VIEW_SLOT = threading.BoundedSemaphore(1)
PLOT_WIDTH_PX, TICK_GAP_PX = 700, 24  # the narrowest plot (1280 px screen, sidebar open) and a gap between labels


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
    st.session_state[SORT] = view.sort
    st.session_state[COMPARE] = st.query_params.get(COMPARE_PARAM) == "1"
    for name, key in FILTERS.items():
        st.session_state[key] = list(getattr(view, f"{name}s"))
    st.session_state[SEEDED_FOR] = account
    return notices


def account_in_url(user: Any, account: str) -> str | None:
    """Keep the URL's `account=` true to the account shown; the foreign account asked for when one was replaced.

    An admin's choice is carried so a reload or a shared link opens the same account; anyone else's URL
    naming another account is corrected to their own, with the notice an admin gets for an unknown account.
    """
    asked = st.query_params.get(ui.ACCOUNT_PARAM)
    if user.is_admin:
        if asked != account:
            st.query_params[ui.ACCOUNT_PARAM] = account
        return None
    if asked is not None and asked != account:
        st.query_params[ui.ACCOUNT_PARAM] = account
        return asked
    return None


def previous_totals(store: Any, account: str, result: ex.Explore) -> list[int]:
    """The previous period's totals bucket by bucket (its whole days), for the compare line."""
    view = result.view
    before = result.previous
    shifted = ex.View(
        period="custom",
        start=before.start,
        end=before.last,
        granularity=view.granularity,
        metric=view.metric,
        group="none",
        services=view.services,
        members=view.members,
        models=view.models,
    )
    return [int(v) for v in ex.explore(store, account, shifted, before.last).series["value"]]


COMPARE_PARAM = "compare"  # "1": the previous period drawn on the chart


def write_url(view: ex.View, compare: bool = False) -> None:
    """The view as the page's query parameters (a reload or a shared link shows it), beside the account."""
    wanted = ex.view_to_params(view)
    if compare:
        wanted[COMPARE_PARAM] = "1"
    account = st.query_params.get(ui.ACCOUNT_PARAM)
    if account:
        wanted = {ui.ACCOUNT_PARAM: account, **wanted}
    current = {name: st.query_params.get_all(name) for name in st.query_params}
    normalised = {name: value if isinstance(value, list) else [value] for name, value in wanted.items()}
    if current != normalised:
        st.query_params.from_dict(wanted)


def custom_range(where: Any, key: str, default: tuple[date, date]) -> tuple[date, date]:
    """(first, last) of a custom-range picker drawn in `where` (st or a column); last = first while picking."""
    st.session_state.setdefault(key, default)
    picked = where.date_input(
        t("explore.custom_range"), min_value=ex.FIRST_DAY, max_value=ex.LAST_DAY, format="YYYY-MM-DD", key=key
    )
    first, last = (*picked, None, None)[:2] if isinstance(picked, tuple) else (picked, picked)
    return first, last or first  # while a range is being picked only its first day is set


def csv_download(label: str, data: bytes, file_name: str, key: str) -> None:
    """A CSV download button that does not rerun the page."""
    st.download_button(
        label, data=data, file_name=file_name, mime="text/csv", on_click="ignore", icon=":material/download:", key=key
    )


def _axis_locale() -> str:
    """Babel locale of axis labels: the session's, as every other date of the app ("Dec 29, 2025", "2025年12月29日")."""
    return "zh_CN" if current_language() == "zh" else "en_US"


def bucket_text(bucket: date | datetime, granularity: str, period: ex.Period, zone: ZoneInfo) -> tuple[str, str]:
    """(axis label, local time range) of a bucket; week and month labels always carry the year."""
    return _bucket_text(bucket, granularity, period, zone, current_language())


# A view change redraws the same buckets (another metric, group or filter): their texts are kept, per language
# (the texts are in it). 14 days of hours cost ~20 ms a redraw to write again.
@functools.lru_cache(maxsize=8192)
def _bucket_text(
    bucket: date | datetime, granularity: str, period: ex.Period, zone: ZoneInfo, language: str
) -> tuple[str, str]:
    start, end = ex.bucket_range(bucket, granularity, period, zone)
    if granularity == "hour":
        # the offset tells the two 01:00s of a DST fall-back apart; the end names its own when it differs
        first = f"{start.strftime('%Y-%m-%d %H:%M')} ({_utc_offset(start)})"
        then = end.strftime("%H:%M") + (f" ({_utc_offset(end)})" if end.utcoffset() != start.utcoffset() else "")
        return start.strftime("%Y-%m-%d %H:%M"), t("explore.hover_range", start=first, end=then)
    last = (end - timedelta(days=1)).date() if end.date() > start.date() else start.date()
    one_year = period.start.year == period.last.year  # within one year the chart's title names the year
    skeleton = {"day": "MMMd" if one_year else "yMMMd", "week": "yMMMd"}.get(granularity, "yMMM")
    day = bucket if isinstance(bucket, date) and not isinstance(bucket, datetime) else start.date()
    axis = format_skeleton(skeleton, day, locale=_axis_locale())
    if start.date() == last:
        return axis, fmt.day_words(start.date())
    return axis, t("explore.hover_range", start=fmt.day_words(start.date()), end=fmt.day_words(last))


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


def nice_ticks(top: float, count: int = 5) -> list[int]:
    """Round tick values from 0 to at least `top` (1, 2 or 5 times a power of ten apart)."""
    if top <= 0:
        return [0]
    raw = top / count
    power = 10 ** max(len(str(int(raw))) - 1, 0)
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * n for n in range(int(top // step) + 2)]


def _tick_positions(
    axis: list[str], buckets: list[date | datetime], granularity: str, zone: ZoneInfo
) -> tuple[list[str], list[str | list[str]]]:
    """(tick values, tick texts): as many as fit side by side; hours show the hour, the date under a day's first."""
    count = len(axis)
    if granularity != "hour":
        # the plot is about 700 px wide on a 1280 px screen; a CJK character is about twice a Latin one
        widest = max((sum(12 if ord(c) > 0x2E80 else 7 for c in label) for label in axis), default=0)
        fits = max(3, min(16, PLOT_WIDTH_PX // (widest + TICK_GAP_PX)))
        step = max(1, -(-count // fits))
        chosen = list(range(0, count, step))
        return [axis[i] for i in chosen], [axis[i] for i in chosen]
    step = next((h for h in (1, 2, 3, 6, 12, 24) if count / h <= 16), 24)
    values: list[str] = []
    texts: list[str | list[str]] = []
    seen_days = set()
    for index, bucket in enumerate(buckets):
        local = bucket.astimezone(zone) if isinstance(bucket, datetime) else None
        if local is None or local.hour % step:
            continue
        hour = local.strftime("%H:%M")
        if local.date() not in seen_days:  # the date once, under the day's first tick (two lines)
            seen_days.add(local.date())
            texts.append([hour, format_skeleton("MMMd", local.date(), locale=_axis_locale())])
        else:
            texts.append(hour)
        values.append(axis[index])
    return values, texts


def chart_title(result: ex.Explore, group: str, span: str) -> str:
    """What and when: "Tokens by service, 1 Dec 2026 to 6 Dec 2026 (6 days so far), by day"."""
    what = t(f"explore.metric.{result.view.metric}")
    if group != "none":
        what = t("explore.chart_by", metric=what, group=t(f"explore.group.{group}").lower())
    return t(
        "explore.chart_title",
        what=what,
        span=span,
        granularity=t(f"explore.granularity.{result.view.granularity}").lower(),
    )


def stacked_bars(
    result: ex.Explore,
    zone: ZoneInfo,
    group: str,
    title: str | None = None,
    compare: list[int] | None = None,
) -> charts.Spec:
    """Stacked bars over time, one colour per group in the table's order, the total above each bar where it fits.

    `compare`: the previous period's totals bucket by bucket, drawn as a dashed line on the same chart.
    A Vega-Lite spec (web/charts.py): one row per bucket and group with a value, names as their characters.
    """
    series = result.series
    buckets = list(dict.fromkeys(series["bucket"]))
    texts = [bucket_text(b, result.view.granularity, result.period, zone) for b in buckets]
    axis, seen = [], {}
    for label, _ in texts:  # a DST fall-back repeats a local hour: keep both bars
        seen[label] = seen.get(label, 0) + 1
        axis.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    position = {bucket: i for i, bucket in enumerate(buckets)}
    # one pass over the series' plain columns: a boolean filter per group cost more than the rest of the chart
    values_of: dict[object, list[int]] = {key: [0] * len(buckets) for key in result.labels}
    columns = (series[name].tolist() for name in ("bucket", "key", "is_other", "value"))
    for bucket, key, is_other, value in zip(*columns, strict=True):
        row = values_of.get(ex.OTHER if is_other else key)
        if row is not None:
            row[position[bucket]] += int(value)
    drawn = []
    for index, (key, label) in enumerate(result.labels.items()):
        is_other = key is ex.OTHER
        name = label_of(key, label, is_other)
        if group == "service" and not is_other:
            name = t(f"service.{key}")
        drawn.append((name, OTHER_COLOUR if is_other else PALETTE[index % len(PALETTE)], values_of[key]))
    totals = [sum(values[i] for _, _, values in drawn) for i in range(len(buckets))]
    fits = len(buckets) <= 16  # a label per bar only while the bars are wide enough for one
    top = max(totals, default=0)
    shown = None
    if compare is not None:
        shown = [int(v) for v in compare[: len(axis)]]
        top = max(top, *shown) if shown else top
    y_ticks = nice_ticks(top * 1.1)
    tick_values, tick_texts = _tick_positions(axis, buckets, result.view.granularity, zone)
    granularity = result.view.granularity
    return charts.stacked(
        title,
        axis,
        drawn,
        totals_text=[fmt.compact(v) if v and fits else "" for v in totals],
        ranges=[text for _, text in texts],
        ticks=(tick_values, tick_texts),
        y_ticks=(y_ticks, [fmt.compact(v) for v in y_ticks]),
        titles={
            "group": t(f"explore.group.{group}") if group != "none" else t("explore.column.group"),
            "bucket": t(f"explore.granularity.{granularity}"),
            "value": t(f"explore.metric.{result.view.metric}"),
            "total": t("explore.total"),
        },
        compare=(t("explore.previous_line"), shown) if shown is not None else None,
    )


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


def key_differs(result: ex.Explore) -> bool:
    """Whether the key column says something the name does not (a member's id beside their name)."""
    table = result.table
    return any(
        str(k) != str(lab) for k, lab, o in zip(table["key"], table["label"], table["is_other"], strict=True) if not o
    )


RANK_SORTS = ("rank", "rise", "fall")


def sort_rankings(ranks: pd.DataFrame, sort: str) -> pd.DataFrame:
    """Rankings by rank, or by movement: the largest rise (new members first) or the largest fall first."""
    if sort == "rank":
        return ranks
    moved = ranks["rank_change"].astype("Float64")
    if sort == "rise":
        key = moved.fillna(float("inf"))  # a new member is the largest rise
        return ranks.assign(_m=-key).sort_values(["_m", "rank"], kind="stable").drop(columns="_m")
    key = moved.fillna(float("inf"))  # new members last when looking for falls
    return ranks.assign(_m=key).sort_values(["_m", "rank"], kind="stable").drop(columns="_m")


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


def days_words(days: int) -> str:
    """ "1 day", "6 days"."""
    return t("explore.days_one") if days == 1 else t("explore.days_many", days=days)


def span_words(period: ex.Period, zone: ZoneInfo, now: datetime | None = None) -> str:
    """A period as a person writes it: "5 Dec 2026 (1 day)", "1 Oct 2026 to 3 Oct 2026 10:30 (3 days)".

    A period reaching past `now` says "so far"; one cut at an instant names the time it ends.
    """
    first, last = fmt.day_words(period.start), fmt.day_words(period.last)
    until = period.until.astimezone(zone).strftime("%H:%M") if period.until is not None else None
    if period.start == period.last:
        text = first if until is None else t("explore.day_until", day=first, time=until)
    else:
        text = t("explore.span", first=first, last=last if until is None else f"{last} {until}")
    count = days_words(period.days)
    if now is not None and local_end(period, zone) > now:
        count = t("explore.so_far", days=count)
    return f"{text} ({count})"


def local_end(period: ex.Period, zone: ZoneInfo) -> datetime:
    """The instant a period ends."""
    return period.until or datetime.combine(period.end, datetime.min.time(), tzinfo=zone)


# --- /analysis: runway, why it changed ----------------------------------------------------------------


def plain(text: object) -> str:
    """Text from the data, shown literally where Streamlit renders Markdown (fmt.plain's escaping)."""
    return fmt.plain(str(text))


def show_runway(runway: Runway | None) -> None:
    """SPEC §8 runway under the usage bar: the date the balance runs out at the 7- and 30-day pace."""
    if runway is None:
        return
    if runway.status_7d == "overdrawn":
        # below zero the page's overdraft warning speaks; at exactly zero say it here
        if runway.balance == 0:
            st.caption(t("runway.overdrawn"))
        return
    lines = []
    for days in (7, 30):
        until_text, left = runway.runs_out_on(days), runway.days_left(days)
        if runway.status(days) == "not_running_out" or until_text is None or left is None:
            lines.append(t("runway.not_running_out", days=days))
            continue
        lines.append(
            t(
                "runway.ok",
                days=days,
                burn=fmt.tokens(runway.burn(days)),  # type: ignore[arg-type]
                date=fmt.day_words(date.fromisoformat(until_text)),
                left=fmt.tokens(left),
            )
        )
    st.caption(f"**{t('runway.title')}** · " + "  \n".join(lines))


def show_month_to_date(mtd: MonthToDate | None) -> None:
    """SPEC §8 "why it changed": this month so far against the same span of last month, and who moved it."""
    if mtd is None:
        return
    text, _ = fmt.growth_label(mtd.growth_pct, mtd.previous, mtd.tokens, "month")
    st.markdown(f"**{t('mtd.title')}**")
    st.markdown(t("mtd.summary", current=fmt.tokens(mtd.tokens), previous=fmt.tokens(mtd.previous), change=text))
    for dimension in ("member", "service", "model"):
        shown = mtd.contributors.of(dimension)
        if not shown:
            continue
        parts = [
            t(
                "mtd.contribution",
                change=_signed_compact(c.change),
                label=t(f"service.{c.key}") if dimension == "service" else plain(c.label),
            )
            for c in shown
        ]
        st.caption(t("mtd.contributors", dimension=t(f"mtd.dimension.{dimension}")) + " " + ", ".join(parts))


def _signed_compact(value: int) -> str:
    """+1.2M, −300K: the sign always shown."""
    return ("+" if value > 0 else "") + fmt.compact(value)


# --- saved views --------------------------------------------------------------------------------------

VIEW_NAME = "explore_view_name"
# widget state dropped when a saved view opens, so the page reads the view from the URL again
_VIEW_STATE = (PERIOD, CUSTOM, GRANULARITY, METRIC, GROUP, TOP, SORT, COMPARE, SEEDED_FOR, *FILTERS.values())


def current_query() -> str:
    """The page's query string as it stands (the view and, for admins, the account): its shareable link."""
    return urlencode({name: st.query_params.get_all(name) for name in st.query_params}, doseq=True)


def _open_view(query: str) -> None:
    """Callback: show a saved view, as opening its link would (before any widget of the run is drawn)."""
    params = parse_qs(query, keep_blank_values=False)
    for key in _VIEW_STATE:
        st.session_state.pop(key, None)
    account = (params.get(ui.ACCOUNT_PARAM) or [None])[-1]
    if account:
        # the admin switcher reads its own state before the URL; anyone else's account stays theirs (account_for)
        st.session_state[ui.SWITCHER_KEY] = account
        st.session_state[ui.CHOICE_KEY] = account
    st.query_params.from_dict(params)


def saved_views_sidebar(app_db: Any, user: Any) -> None:
    """The sidebar's saved views: open one, remove one, or save the current view under a name."""
    views = app_db.saved_views
    st.sidebar.subheader(t("views.title"), anchor=False)
    saved = views.views(user.username)
    if not saved:
        st.sidebar.caption(t("views.none"))
    for index, (name, query) in enumerate(saved):
        open_col, remove_col = st.sidebar.columns([5, 1])
        open_col.button(
            fmt.plain(name),  # a name a person typed: shown as its characters
            key=f"explore_view_open_{index}",
            on_click=_open_view,
            args=(query,),
            icon=":material/bookmark:",
            width="stretch",
        )
        if remove_col.button(
            "",
            key=f"explore_view_remove_{index}",
            icon=":material/delete:",
            help=t("views.remove", name=name),
        ):
            views.remove_view(user.username, name)
            st.rerun()
    with st.sidebar.form("explore_view_form", clear_on_submit=True, border=False):
        name = st.text_input(t("views.name"), key=VIEW_NAME, max_chars=80, placeholder=t("views.name_hint"))
        if st.form_submit_button(t("views.save"), icon=":material/bookmark_add:"):
            if not name.strip():
                st.warning(t("views.empty_name"))
            else:
                views.save_view(user.username, name, current_query())
                st.success(t("views.saved", name=fmt.plain(" ".join(name.split()))))
                st.rerun()
    st.sidebar.caption(t("views.link"))


# A widget change reruns only its section (st.fragment), not the router and the whole page: the sign-in was
# checked by the full run that drew the section, and is checked again on the next full run (DECISIONS).
@st.fragment
def view_section(page: PageContext, keys: Mapping[str, Mapping[str, str]], first_hour_day: date | None) -> None:
    """The explore view: controls, chart, table, download and drill-down."""
    account, store, now, zone = page.account, page.store, page.now, page.settings.zone
    today = now.date()
    # --- controls: every choice is a constant of an allowlist, or a key this account has ----------------
    # two rows of three: every label and choice has room at 1280 px in both languages
    period_col, gran_col, metric_col = st.columns(3)
    preset = period_col.selectbox(
        t("explore.period"), ex.PRESETS, format_func=lambda p: t(f"explore.period.{p}"), key=PERIOD
    )
    first = last = None
    if preset == "custom":
        first, last = custom_range(st, CUSTOM, (today - timedelta(days=6), today))
    period, previous = ex.periods_for(preset, now, zone, first, last)
    granularities = ex.granularities_for(period, first_hour_day)
    chosen_granularity = st.session_state.get(GRANULARITY)
    if chosen_granularity not in granularities:
        if chosen_granularity == "hour" and "day" in granularities:
            st.session_state[GRANULARITY] = "day"
            st.info(t("explore.notice.hour_too_long"), icon=":material/schedule:")
        else:
            cleaned, _ = ex.clean_view(
                ex.View(period=preset, start=first, end=last, granularity=chosen_granularity or "day"),
                now,
                first_hour_day,
                zone,
            )
            st.session_state[GRANULARITY] = cleaned.granularity
            st.info(t("explore.notice.too_many_buckets", max=ex.MAX_BUCKETS), icon=":material/schedule:")
    granularity = gran_col.selectbox(
        t("explore.granularity"),
        granularities,
        format_func=lambda g: t(f"explore.granularity.{g}"),
        key=GRANULARITY,
    )
    metric = metric_col.selectbox(
        t("explore.metric"), ex.METRICS, format_func=lambda m: t(f"explore.metric.{m}"), key=METRIC
    )
    group_col, top_col, sort_col = st.columns(3)
    group = group_col.selectbox(t("explore.group"), ex.GROUPS, format_func=lambda g: t(f"explore.group.{g}"), key=GROUP)
    top = top_col.selectbox(t("explore.top"), ex.TOP_NS, key=TOP, disabled=group == "none")
    sort = sort_col.selectbox(t("explore.sort"), ex.SORTS, format_func=lambda k: t(f"explore.sort.{k}"), key=SORT)
    filter_cols = st.columns(3)
    chosen = {}
    for col, (name, key) in zip(filter_cols, FILTERS.items(), strict=True):
        names = keys[name]
        chosen[name] = col.multiselect(
            t(f"explore.filter.{name}"),
            list(names),
            format_func=(lambda k: t(f"service.{k}")) if name == "service" else (lambda k, n=names: n.get(k, k)),
            placeholder=t("explore.filter.any"),
            key=key,
        )
    view = ex.View(
        period=preset,
        start=period.start if preset == "custom" else None,
        end=period.last if preset == "custom" else None,
        granularity=granularity,
        metric=metric,
        group=group,
        top=top,
        services=tuple(chosen["service"]),
        members=tuple(chosen["member"]),
        models=tuple(chosen["model"]),
        sort=sort,
    )
    compare = st.toggle(t("explore.compare"), key=COMPARE)
    write_url(view, compare)

    # --- the figures -----------------------------------------------------------------------------------
    with VIEW_SLOT:
        result = ex.explore(store, account, view, now)
    if not result.available:
        st.info(t("explore.not_in_exports"), icon=":material/info:")
    elif result.total == 0 and result.previous_total == 0:
        # nothing to draw or list: say so rather than show an empty chart and table
        st.info(t("explore.empty_period", span=span_words(result.period, zone, now)), icon=":material/info:")
    else:
        growth = ex.growth_pct(result.total, result.previous_total)
        change = t("rankings.new") if growth is None else f"{growth:+.1f}%"
        span = span_words(result.period, zone, now)
        st.markdown(
            t(
                "explore.summary",
                metric=t(f"explore.metric.{metric}"),
                span=span,
                total=fmt.tokens(result.total),
                previous_span=span_words(result.previous, zone),
                previous=fmt.tokens(result.previous_total),
                change=change,
            )
        )
        if metric in ex.IO_METRICS and result.io_calls < result.calls:
            st.caption(t("explore.io_partial", io_calls=fmt.tokens(result.io_calls), calls=fmt.tokens(result.calls)))
        title = chart_title(result, group, span)
        with VIEW_SLOT:
            figure = stacked_bars(
                result,
                zone,
                group,
                title=title,
                compare=previous_totals(store, account, result) if compare else None,
            )
        charts.draw(st, figure, key="explore_chart")
        table = group_table(result, group)
        selection = st.dataframe(
            table,
            hide_index=True,
            on_select="rerun" if group == "member" else "ignore",
            selection_mode="single-row",
            key=f"explore_table_{group}",
            height=35 * (len(table) + 1) + 3,  # every row visible: top N and Other, no inner scrolling
            column_config={
                "group": t(f"explore.group.{group}") if group != "none" else t("explore.column.group"),
                # the key is a fact of its own only for members (an id beside a name); elsewhere it repeats the name
                "key": t("explore.column.member_id") if key_differs(result) else None,
                "value": st.column_config.NumberColumn(t(f"explore.metric.{metric}"), format="localized"),
                "share_pct": st.column_config.ProgressColumn(
                    t("explore.column.share"), format="%.1f%%", min_value=0, max_value=100
                ),
                "previous": st.column_config.NumberColumn(t("explore.column.previous"), format="localized"),
                "change": t("explore.column.change"),
                "change_pct": t("explore.column.change_pct"),
            },
        )
        csv_download(
            t("explore.download"),
            ex.explore_csv(result),
            f"explore-{account}-{view.period}-{view.group}.csv",
            key="explore_csv",
        )
        # --- drill-down: one member by service and by model ------------------------------------------
        if group == "member":
            rows = selection.selection.rows if selection else []
            picked_row = result.table.iloc[rows[0]] if rows and rows[0] < len(result.table) else None
            if picked_row is None or picked_row["is_other"]:
                st.caption(t("explore.select_hint"))
            else:
                member = str(picked_row["key"])
                st.subheader(t("explore.drill", name=plain(picked_row["label"])), anchor=False)  # data: no Markdown
                by_service, by_model = st.columns(2)
                for col, dimension in ((by_service, "service"), (by_model, "model")):
                    drill = ex.explore(store, account, replace(view, group=dimension, members=(member,), top=20), now)
                    charts.draw(
                        col,
                        stacked_bars(drill, zone, dimension, title=chart_title(drill, dimension, span)),
                        key=f"explore_drill_{dimension}",
                    )


# --- rankings, for everyone who sees the account --------------------------------------------------------
@st.fragment
def rankings_section(page: PageContext) -> None:
    """The rankings of members: period, sort, table and download."""
    account, store, now, zone = page.account, page.store, page.now, page.settings.zone
    today = now.date()
    st.subheader(t("rankings.title"), anchor=False)
    rank_col, rank_sort_col, range_col = st.columns([1, 1, 2])
    st.session_state.setdefault(RANK_PERIOD, "this_month")
    rank_preset = rank_col.selectbox(
        t("rankings.period"),
        ex.RANKING_PRESETS,
        format_func=lambda p: t(f"explore.period.{p}"),
        key=RANK_PERIOD,
    )
    rank_sort = rank_sort_col.selectbox(
        t("rankings.sort"), RANK_SORTS, format_func=lambda k: t(f"rankings.sort.{k}"), key=RANK_SORT
    )
    rank_first = rank_last = None
    if rank_preset == "custom":
        rank_first, rank_last = custom_range(range_col, RANK_CUSTOM, (today - timedelta(days=29), today))
    rank_period, rank_previous = ex.periods_for(rank_preset, now, zone, rank_first, rank_last)
    ranks = ex.rankings(store, account, rank_period, rank_previous)
    st.caption(
        t(
            "rankings.caption",
            span=span_words(rank_period, zone, now),
            previous_span=span_words(rank_previous, zone),
        )
    )
    if ranks.empty:
        st.info(t("rankings.empty"))
    else:
        ranks = sort_rankings(ranks, rank_sort)
        shown = ranks[["rank", "display_name", "user_id", "tokens", "calls", "share_pct", "previous_rank"]].copy()
        shown["change"] = [
            rank_change_text(c, bool(n)) for c, n in zip(ranks["rank_change"], ranks["is_new"], strict=True)
        ]
        st.dataframe(
            shown,
            hide_index=True,
            key="explore_rankings",
            height=35 * (len(shown) + 1) + 3,  # every member visible
            column_config={
                **tables.ranking_columns(),
                "user_id": t("explore.column.member_id"),
                "previous_rank": st.column_config.NumberColumn(t("rankings.column.previous_rank")),
                "change": t("rankings.column.change"),
            },
        )
        csv_download(
            t("rankings.download"),
            ex.rankings_csv(ranks),
            f"rankings-{account}-{rank_period.start}-{rank_period.last}.csv",
            key="explore_rankings_csv",
        )
