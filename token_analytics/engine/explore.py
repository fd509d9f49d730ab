"""The figures of SPEC §8: explore (periods, buckets, top N + Other, previous period), rankings, runway, month to date.

One function per figure, used by the /explore page, `report` and the benchmark. Every choice a
person makes (period, granularity, metric, group, filters) is checked against the allowlists
below; the SQL receives only bound values, never text that names a column.
"""

from __future__ import annotations

import csv
import io
import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from token_analytics.engine.ledger_csv import neutralise
from token_analytics.engine.periods import (
    TodaySoFar,
    local_midnight,
    month_start,
    next_month,
    previous_month,
    previous_unit_start,
    same_span_end,
    unit_start,
    wall_instant,
)
from token_analytics.engine.store import Store
from token_analytics.engine.values import Contribution, Contributors, MonthToDate, Runway, json_of
from token_analytics.settings import RECENT_ENTRIES

PRESETS = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
    "last_year",
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "last_7_days_today",
    "last_30_days_today",
    "last_90_days_today",
    "custom",
)
RANKING_PRESETS = tuple(p for p in PRESETS if p not in ("today", "yesterday"))
GRANULARITIES = ("hour", "day", "week", "month")
METRICS = ("tokens", "calls", "input_tokens", "output_tokens")
IO_METRICS = frozenset({"input_tokens", "output_tokens"})
GROUPS = ("none", "service", "member", "model")
DIMENSIONS = ("service", "member", "model")
TOP_NS = (5, 10, 20)
HOUR_MAX_DAYS = 14  # hour buckets only for periods up to this many days
CUSTOM_MAX_DAYS = 3660
# the bars one chart may draw: a view asking for more is drawn one granularity coarser (a day view of over a
# year becomes weeks), so the heaviest view a URL can ask for stays cheap
MAX_BUCKETS = 370
# custom days must lie in this range: the date picker's bounds, and far from the calendar's edges
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
UNKNOWN = "unknown"  # the key of a null user_id or model (SPEC §8)
OTHER = None  # the key of the "Other" row: None, so it never collides with a real key
TOTAL_KEY = "all"  # the one key when nothing is grouped
# query-parameter names of the view (st.query_params); the account is the router's `account`, not one of them
PARAMS = ("period", "start", "end", "granularity", "metric", "group", "top", "service", "member", "model", "sort")
SORTS = ("value", "previous", "change", "change_pct")
# the calendar presets: their unit, and whether the period runs to now ("this ...") or is the whole last unit
_CALENDAR = {
    "today": ("day", True),
    "yesterday": ("day", False),
    "this_week": ("week", True),
    "last_week": ("week", False),
    "this_month": ("month", True),
    "last_month": ("month", False),
    "this_year": ("year", True),
    "last_year": ("year", False),
}
_ROLLING = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90}


@dataclass(frozen=True)
class Period:
    """Local days [start, end); when `until` is set the period ends at that instant, on its last day.

    The current period of a preset that runs to now ("this month", "today") reads its last day whole (the
    exports hold nothing after now); its previous period is cut at `until`, the same span (SPEC §9).
    """

    start: date
    end: date
    until: datetime | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    def previous(self) -> Period:
        """The same number of local days just before the start (custom and rolling periods)."""
        return Period(self.start - timedelta(days=self.days), self.start)


def _as_now(today: date | datetime, zone: ZoneInfo) -> datetime:
    """ "now" as a local instant; a bare date means the whole day has passed (its next midnight)."""
    if isinstance(today, datetime):
        return today.astimezone(zone)
    return local_midnight(today + timedelta(days=1), zone)


def periods_for(
    preset: str,
    today: date | datetime,
    zone: ZoneInfo | None = None,
    first: date | None = None,
    last: date | None = None,
) -> tuple[Period, Period]:
    """(period, previous period) of a preset at `today` (now, or a local date whose day has passed) (SPEC §9)."""
    if zone is None:
        zone = today.tzinfo if isinstance(today, datetime) and today.tzinfo else ZoneInfo("UTC")  # type: ignore[assignment]
    assert zone is not None
    whole_days = not isinstance(today, datetime)  # a date: its day has passed, every span is whole days
    now = _as_now(today, zone)
    day = today if whole_days else now.date()
    if preset in _CALENDAR:
        unit, to_date = _CALENDAR[preset]
        start = unit_start(day, unit)
        before = previous_unit_start(start, unit)
        if not to_date:
            return Period(before, start), Period(previous_unit_start(before, unit), before)
        current = Period(start, day + timedelta(days=1))
        if whole_days:
            return current, Period(before, min(before + timedelta(days=current.days), start))
        return current, _cut(before, same_span_end(now, unit, zone), zone)
    if preset in _ROLLING:
        days = _ROLLING[preset]
        current = Period(day - timedelta(days=days), day)
        return current, current.previous()
    if preset.endswith("_today") and preset.removesuffix("_today") in _ROLLING:
        days = _ROLLING[preset.removesuffix("_today")]
        current = Period(day - timedelta(days=days - 1), day + timedelta(days=1))
        if whole_days:
            return current, current.previous()
        return current, _cut(
            current.start - timedelta(days=days), wall_instant(day - timedelta(days=days), now.timetz(), zone), zone
        )
    if preset == "custom":
        if first is None or last is None or last < first:
            raise ValueError("a custom period needs a first day on or before its last day")
        current = Period(first, last + timedelta(days=1))
        return current, current.previous()
    raise ValueError(f"unknown period {preset!r}")


def _cut(start: date, until: datetime, zone: ZoneInfo) -> Period:
    """The period [start 00:00, until): whole days when `until` is a local midnight."""
    local = until.astimezone(zone)  # the bound may come in UTC: its day is the local one
    if until == local_midnight(local.date(), zone):
        return Period(start, local.date())
    return Period(start, local.date() + timedelta(days=1), local)


def period_for(
    preset: str,
    today: date | datetime,
    first: date | None = None,
    last: date | None = None,
    zone: ZoneInfo | None = None,
) -> Period:
    """The local days of a preset at `today`; custom is [first, last] inclusive."""
    return periods_for(preset, today, zone, first, last)[0]


@dataclass(frozen=True)
class View:
    """One explore view; every field holds an allowlisted value (see `clean_view`)."""

    period: str = "last_30_days"
    start: date | None = None  # custom only: first day
    end: date | None = None  # custom only: last day (inclusive)
    granularity: str = "day"
    metric: str = "tokens"
    group: str = "service"
    top: int = 10
    services: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    sort: str = "value"  # the table's order: one of SORTS, largest first

    def dates(self, today: date | datetime, zone: ZoneInfo | None = None) -> Period:
        return period_for(self.period, today, self.start, self.end, zone)

    def periods(self, today: date | datetime, zone: ZoneInfo | None = None) -> tuple[Period, Period]:
        """(period, previous period) of the view (SPEC §9)."""
        return periods_for(self.period, today, zone, self.start, self.end)

    def to_json(self) -> dict[str, Any]:
        """The view as JSON, fields in order; custom days as ISO dates (what `view_from_params` reads back)."""
        out = json_of(self)
        out["start"] = self.start.isoformat() if self.start else None
        out["end"] = self.end.isoformat() if self.end else None
        return out  # type: ignore[no-any-return]

    def filters(self) -> dict[str, list[str] | None]:
        """The bound filter parameters: a list of keys, or None for "any"."""
        return {
            "services": list(self.services) or None,
            "members": list(self.members) or None,
            "models": list(self.models) or None,
        }


DEFAULT_VIEW = View()


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or ()
    return values[-1] if values else None


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def bucket_count(period: Period, granularity: str) -> int:
    """How many bars a period has at a granularity (a DST day's extra hour aside)."""
    if granularity == "hour":
        return period.days * 24
    if granularity == "day":
        return period.days
    if granularity == "week":
        return (unit_start(period.last, "week") - unit_start(period.start, "week")).days // 7 + 1
    return (period.last.year - period.start.year) * 12 + period.last.month - period.start.month + 1


def granularities_for(period: Period, first_hour_day: date | None = None) -> list[str]:
    """The granularities a period may be drawn at: hours only where `hours_allowed`, at most MAX_BUCKETS bars."""
    return [
        g
        for g in GRANULARITIES
        if (g != "hour" or hours_allowed(period, first_hour_day)) and bucket_count(period, g) <= MAX_BUCKETS
    ]


def clean_view(
    view: View, today: date | datetime, first_hour_day: date | None = None, zone: ZoneInfo | None = None
) -> tuple[View, list[str]]:
    """`view` drawn at a granularity its period allows; notice codes for what was changed.

    Hours beyond `hours_allowed` become days; a granularity giving more than MAX_BUCKETS bars becomes the finest
    coarser one that does not (days over a year: weeks), so no view costs more than MAX_BUCKETS bars.
    """
    notices: list[str] = []
    period = view.dates(today, zone)
    if view.granularity == "hour" and not hours_allowed(period, first_hour_day):
        view, notices = replace(view, granularity="day"), ["hour_too_long"]
    allowed = granularities_for(period, first_hour_day)
    if view.granularity not in allowed:
        finer = GRANULARITIES.index(view.granularity)
        coarser = [g for g in allowed if GRANULARITIES.index(g) > finer] or allowed[-1:]
        view = replace(view, granularity=coarser[0])
        notices.append("too_many_buckets")
    return view, notices


def view_from_params(
    params: Mapping[str, Sequence[str]],
    keys: Mapping[str, Sequence[str]],
    today: date,
    first_hour_day: date | None = None,
) -> tuple[View, list[str]]:
    """The view a URL asks for; anything unknown or hostile falls back to the default, with a notice code.

    `params` maps a query-parameter name to its values (repeated filters); `keys` maps "service",
    "member", "model" to the account's known keys, so a filter can only name keys of this account.
    """
    notices: list[str] = []
    view = DEFAULT_VIEW
    period = _one(params, "period")
    if period is not None:
        if period in PRESETS:
            view = replace(view, period=period)
        else:
            notices.append("bad_period")
    if view.period == "custom":
        first, last = _day(_one(params, "start")), _day(_one(params, "end"))
        if (
            first is None
            or last is None
            or last < first
            or (last - first).days >= CUSTOM_MAX_DAYS
            or first < FIRST_DAY
            or last > LAST_DAY
        ):
            view = replace(view, period=DEFAULT_VIEW.period)
            notices.append("bad_custom")
        else:
            view = replace(view, start=first, end=last)
    for name, allowed in (("granularity", GRANULARITIES), ("metric", METRICS), ("group", GROUPS)):
        value = _one(params, name)
        if value is None:
            continue
        if value in allowed:
            view = replace(view, **{name: value})
        else:
            notices.append(f"bad_{name}")
    top = _one(params, "top")
    if top is not None:
        if top in {str(n) for n in TOP_NS}:
            view = replace(view, top=int(top))
        else:
            notices.append("bad_top")
    for name, attr in (("service", "services"), ("member", "members"), ("model", "models")):
        asked = list(dict.fromkeys(params.get(name) or ()))
        known = set(keys.get(name, ()))
        kept = tuple(value for value in asked if value in known)
        if len(kept) < len(asked):
            notices.append(f"bad_{name}")
        view = replace(view, **{attr: kept})
    sort = _one(params, "sort")
    if sort is not None:
        if sort in SORTS:
            view = replace(view, sort=sort)
        else:
            notices.append("bad_sort")
    view, more = clean_view(view, today, first_hour_day)
    return view, notices + more


def view_to_params(view: View) -> dict[str, str | list[str]]:
    """The query parameters of a view (what `view_from_params` reads back); never the account."""
    params: dict[str, str | list[str]] = {
        "period": view.period,
        "granularity": view.granularity,
        "metric": view.metric,
        "group": view.group,
        "top": str(view.top),
    }
    if view.period == "custom" and view.start and view.end:
        params["start"], params["end"] = view.start.isoformat(), view.end.isoformat()
    for name, values in (("service", view.services), ("member", view.members), ("model", view.models)):
        if values:
            params[name] = list(values)
    if view.sort != DEFAULT_VIEW.sort:
        params["sort"] = view.sort
    return params


# --- buckets --------------------------------------------------------------------------------


def bucket_starts(period: Period, granularity: str, zone: ZoneInfo) -> list[date | datetime]:
    """Every bucket of a period in order: local hours (instants, UTC), days, ISO weeks (Mondays) or months."""
    if granularity == "hour":
        moment = local_midnight(period.start, zone).astimezone(UTC)
        end = local_midnight(period.end, zone).astimezone(UTC)
        hours = []
        while moment < end:  # stepping in UTC gives 23 or 25 local hours on a DST day
            hours.append(moment)
            moment += timedelta(hours=1)
        return hours
    if granularity == "day":
        return [period.start + timedelta(days=n) for n in range(period.days)]
    if granularity == "week":
        weeks, monday = [], period.start - timedelta(days=period.start.weekday())
        while monday < period.end:
            weeks.append(monday)
            monday += timedelta(weeks=1)
        return weeks
    if granularity == "month":
        months, current = [], month_start(period.start)
        while current < period.end:
            months.append(current)
            current = next_month(current)
        return months
    raise ValueError(f"unknown granularity {granularity!r}")


def bucket_range(start: date | datetime, granularity: str, period: Period, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local time range [from, to) a bucket covers inside the period (for the hover)."""
    if granularity == "hour":
        assert isinstance(start, datetime)
        begin = start.astimezone(zone)
        return begin, (start + timedelta(hours=1)).astimezone(zone)
    assert isinstance(start, date)
    if granularity == "day":
        end = start + timedelta(days=1)
    elif granularity == "week":
        end = start + timedelta(weeks=1)
    else:
        end = next_month(start)
    return local_midnight(max(start, period.start), zone), local_midnight(min(end, period.end), zone)


# --- the explore figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explore:
    """Everything /explore draws for one view; values are of `view.metric`."""

    view: View
    period: Period
    previous: Period
    available: bool  # False: an input/output metric the exports do not carry in this period
    io_calls: int  # calls of the period that carry input/output tokens
    calls: int
    total: int
    previous_total: int
    table: pd.DataFrame  # key, is_other, label, value, share_pct, previous, change, change_pct (top N, then Other)
    series: pd.DataFrame  # bucket, key, is_other, label, value: every bucket x shown key, zeros included
    labels: dict[str | None, str] = field(default_factory=dict)


# per store (weakly: a closed store's entries go with it), per (data generation, account)
_LABELS: weakref.WeakKeyDictionary[Store, dict[tuple[int, str], dict[str, dict[str, str]]]] = (
    weakref.WeakKeyDictionary()
)
_LABELS_KEPT = 256
_HOURLY_FROM: weakref.WeakKeyDictionary[Store, tuple[int, date | None]] = weakref.WeakKeyDictionary()


def labels_of(store: Store, account_id: str) -> dict[str, dict[str, str]]:
    """The account's keys per dimension with their labels: {"member": {"u1": "Alice", ...}, ...}.

    Asked on every run of the page, so kept until the next ingest changes the data (store.generation).
    """
    kept = _LABELS.setdefault(store, {})
    slot = (store.generation, account_id)
    cached = kept.get(slot)
    if cached is None:
        cached = {dimension: {} for dimension in DIMENSIONS}
        for dimension, key, label in store.run("explore_keys", account_id=account_id).itertuples(index=False):
            cached[dimension][key] = label
        if len(kept) >= _LABELS_KEPT:
            kept.clear()
        kept[slot] = cached
    return {dimension: dict(keys) for dimension, keys in cached.items()}


def hourly_from(store: Store) -> date | None:
    """The first local day with hour buckets (the hourly rollup keeps a recent window); None: every day."""
    kept = _HOURLY_FROM.get(store)
    if kept is None or kept[0] != store.generation:
        frame = store.run("explore_hourly_from")
        first = frame["hourly_from"].iloc[0] if len(frame) else None
        first = None if first is None or pd.isna(first) else pd.Timestamp(first).date()
        kept = _HOURLY_FROM[store] = (store.generation, first)
    return kept[1]


def hours_allowed(period: Period, first_hour_day: date | None) -> bool:
    """Hour buckets: periods of at most 14 days inside the hourly rollup's window."""
    return period.days <= HOUR_MAX_DAYS and (first_hour_day is None or period.start >= first_hour_day)


def growth_pct(current: int, previous: int) -> float | None:
    """SPEC §4 growth: null for "new" (previous 0), 0 for "same", else the change in percent."""
    if current == previous:
        return 0.0
    if previous <= 0:
        return None
    return (current - previous) / previous * 100


def _sorted_keys(keys: list[str], current: Mapping[str, int], before: Mapping[str, int], sort: str) -> list[str]:
    """The shown keys in the table's order: largest first by the sort column (ties: the top-N order)."""
    if sort == "value":
        return keys

    def measure(key: str) -> float:
        value, previous = current.get(key, 0), before.get(key, 0)
        if sort == "previous":
            return previous
        if sort == "change":
            return value - previous
        growth = growth_pct(value, previous)
        return math.inf if growth is None else growth  # "new" is the largest rise

    order = {key: n for n, key in enumerate(keys)}
    return sorted(keys, key=lambda key: (-measure(key), order[key]))


def top_keys(values: Mapping[str, int], n: int) -> list[str]:
    """The n keys with the largest value (ties: key ascending)."""
    return [key for key, _ in sorted(values.items(), key=lambda item: (-item[1], item[0]))[:n]]


def _previous_params(previous: Period, zone: ZoneInfo, first_hour_day: date | None) -> dict[str, Any]:
    """The previous period's bound values: whole days, then (when cut at an instant) hours and a partial hour."""
    if previous.until is None:
        end = local_midnight(previous.end, zone).astimezone(UTC)
        return {
            "previous_start": previous.start,
            "previous_end_day": previous.end,
            "previous_end_hour": end,
            "previous_end": end,
        }
    return {"previous_start": previous.start} | {
        key: value
        for key, value in span_params("previous", previous.start, previous.until, zone, first_hour_day).items()
        if key != "previous_start_day"
    }


def explore(store: Store, account_id: str, view: View, today: date | datetime) -> Explore:
    """The figures of one explore view for one account at `today`: now, or a local date whose day has passed."""
    if view.metric not in METRICS or view.group not in GROUPS or view.granularity not in GRANULARITIES:
        raise ValueError("the view holds a value outside the allowlists; build it with view_from_params")
    if view.sort not in SORTS:
        raise ValueError("the view holds a sort outside the allowlist; build it with view_from_params")
    zone = store.settings.zone
    first_hour_day = hourly_from(store)
    view, _ = clean_view(view, today, first_hour_day if view.granularity == "hour" else None, zone)
    period, previous = view.periods(today, zone)
    now = _as_now(today, zone)
    metric = view.metric
    # one scan: the period's rows per bucket and key, and the previous period's per key (no bucket)
    params: dict[str, Any] = {
        "account_id": account_id,
        "start": period.start,
        "end": period.end,
        "granularity": view.granularity,
        "group": view.group,
        **_previous_params(previous, zone, first_hour_day),
        **view.filters(),
    }
    columns, found = store.rows("explore_series", **params)
    at = {name: n for n, name in enumerate(columns)}
    is_current_at, key_at, value_at, calls_at, io_calls_at = (
        at[name] for name in ("is_current", "key", metric, "calls", "io_calls")
    )
    bucket_at = at["bucket_hour" if view.granularity == "hour" else "bucket_day"]
    current: dict[str, int] = {}
    before: dict[str, int] = {}
    cells: list[tuple[date | datetime, str, int]] = []
    buckets: dict[Any, date | datetime] = {}  # each distinct bucket converted once (an hour view has ~2,000 rows)
    calls = io_calls = 0
    for row in found:
        key, value = str(row[key_at]), int(row[value_at])
        if row[is_current_at]:
            current[key] = current.get(key, 0) + value
            calls += int(row[calls_at])
            io_calls += int(row[io_calls_at])
            raw = row[bucket_at]
            bucket = buckets.get(raw)
            if bucket is None:
                bucket = buckets[raw] = _bucket_key(raw)
            cells.append((bucket, key, value))
        else:
            before[key] = before.get(key, 0) + value
    available = metric not in IO_METRICS or io_calls > 0
    total, previous_total = sum(current.values()), sum(before.values())
    # candidates: keys with usage in either period, so a key that stopped shows with its drop
    candidates = {key: current.get(key, 0) for key in current.keys() | before.keys()}
    shown = top_keys(candidates, view.top) if view.group != "none" else [TOTAL_KEY]
    shown = _sorted_keys(shown, current, before, view.sort)
    others = len(candidates) > len(shown) if view.group != "none" else False
    names = labels_of(store, account_id).get(view.group, {}) if view.group != "none" else {}
    labels: dict[str | None, str] = {key: names.get(key, key) for key in shown}
    rows = [(key, current.get(key, 0), before.get(key, 0)) for key in shown]
    if others:
        labels[OTHER] = "Other"
        rows.append((OTHER, total - sum(r[1] for r in rows), previous_total - sum(r[2] for r in rows)))
    table = _frame(
        {
            "key": [key for key, _, _ in rows],
            "is_other": [key is OTHER for key, _, _ in rows],
            "label": [labels[key] for key, _, _ in rows],
            "value": [value for _, value, _ in rows],
            "share_pct": [value * 100.0 / total if total > 0 else None for _, value, _ in rows],
            "previous": [prev for _, _, prev in rows],
            "change": [value - prev for _, value, prev in rows],
            "change_pct": [growth_pct(value, prev) for _, value, prev in rows],
        }
    )
    series = _series(cells, view, period, zone, set(shown), labels, now)
    return Explore(
        view=view,
        period=period,
        previous=previous,
        available=available,
        io_calls=io_calls,
        calls=calls,
        total=total,
        previous_total=previous_total,
        table=table,
        series=series,
        labels=labels,
    )


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A frame whose `key` column keeps None for the Other row (a text dtype would turn it into NaN)."""
    return pd.DataFrame(
        {name: pd.Series(values, dtype=object if name == "key" else None) for name, values in columns.items()},
        columns=list(columns),
    )


def _bucket_key(value: date | datetime) -> date | datetime:
    """A bucket as explore_series gives it: a date, or an hour as a naive UTC time (made an aware UTC instant)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _series(
    cells: list[tuple[date | datetime, str, int]],
    view: View,
    period: Period,
    zone: ZoneInfo,
    shown: set[str],
    labels: Mapping[str | None, str],
    now: datetime | None = None,
) -> pd.DataFrame:
    """Every bucket x shown key (then Other), zeros included, from the period's (bucket, key, value) cells.

    No bucket that starts after `now` (SPEC §9: the rest of this month is not drawn as empty days).
    """
    sums: dict[tuple[date | datetime, str | None], int] = {}
    for bucket, key, value in cells:
        slot = (bucket, key if key in shown or view.group == "none" else OTHER)
        sums[slot] = sums.get(slot, 0) + value
    keys = list(labels)  # top N in order, then Other
    buckets = bucket_starts(period, view.granularity, zone)
    if now is not None:
        buckets = [b for b in buckets if (b if isinstance(b, datetime) else local_midnight(b, zone)) < now]
    return _frame(
        {
            "bucket": [bucket for bucket in buckets for _ in keys],
            "key": keys * len(buckets),
            "is_other": [key is OTHER for key in keys] * len(buckets),
            "label": [labels[key] for key in keys] * len(buckets),
            "value": [sums.get((bucket, key), 0) for bucket in buckets for key in keys],
        }
    )


def daily_tokens(store: Store, account_id: str, first: date, last: date) -> list[int]:
    """Tokens of each local day from `first` to `last` inclusive (the cards' sparklines), zeros included."""
    view = View(period="custom", start=first, end=last, granularity="day", metric="tokens", group="none")
    result = explore(store, account_id, view, last)
    return [int(v) for v in result.series["value"]]


# --- rankings -------------------------------------------------------------------------------------


def rankings(store: Store, account_id: str, period: Period, previous: Period | None = None) -> pd.DataFrame:
    """Members by tokens in the period with share and rank change vs the previous period (SPEC §8, §9).

    `previous` defaults to the same number of days just before (custom and rolling periods).

    Columns: rank, user_id, display_name, tokens, calls, share_pct, previous_rank, previous_tokens,
    rank_change (previous rank - rank; None when the member is new), is_new.
    """
    previous = previous or period.previous()
    frame = store.run(
        "explore_rankings",
        account_id=account_id,
        start=period.start,
        end=period.end,
        **_previous_params(previous, store.settings.zone, hourly_from(store)),
    )
    records = []
    for row in frame.itertuples(index=False):
        is_new = row.previous_rank is None or pd.isna(row.previous_rank)
        records.append(
            {
                "rank": int(row.rank),
                "user_id": str(row.user_id),
                "display_name": str(row.display_name),
                "tokens": int(row.tokens),
                "calls": int(row.calls),
                "share_pct": None if row.share_pct is None or pd.isna(row.share_pct) else float(row.share_pct),
                "previous_rank": None if is_new else int(row.previous_rank),
                "previous_tokens": None if is_new else int(row.previous_tokens),
                "rank_change": None if is_new else int(row.previous_rank) - int(row.rank),
                "is_new": is_new,
            }
        )
    columns = [
        "rank",
        "user_id",
        "display_name",
        "tokens",
        "calls",
        "share_pct",
        "previous_rank",
        "previous_tokens",
        "rank_change",
        "is_new",
    ]
    frame = pd.DataFrame.from_records(records, columns=columns)
    # whole numbers with a missing value for "new", not floats with NaN
    return frame.astype({"previous_rank": "Int64", "previous_tokens": "Int64", "rank_change": "Int64"})


# --- CSV ------------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """Numbers stay numbers; text is neutralised so a spreadsheet never runs it as a formula."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return neutralise(value)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 CSV with a BOM (so Excel reads the encoding), formula-safe like the ledger's."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue().encode()


def explore_csv(result: Explore) -> bytes:
    """The explore table: one row per group (top N, then Other) with the previous period and the change."""
    header = ("group", "key", result.view.metric, "share_pct", "previous", "change", "change_pct")
    rows = (
        (r.label, "" if r.is_other else r.key, int(r.value), r.share_pct, int(r.previous), int(r.change), r.change_pct)
        for r in result.table.itertuples(index=False)
    )
    return csv_bytes(header, rows)


def rankings_csv(frame: pd.DataFrame) -> bytes:
    header = ("rank", "user_id", "display_name", "tokens", "calls", "share_pct", "previous_rank", "rank_change")
    rows = (
        tuple(None if pd.isna(value) else value.item() if hasattr(value, "item") else value for value in row)
        for row in frame[list(header)].itertuples(index=False)
    )
    return csv_bytes(header, rows)


# --- /analysis: runway, month to date, contributors ---------------------------------------------------

CONTRIBUTORS_SHOWN = 3


def runway_params(now: datetime, zone: ZoneInfo) -> dict[str, datetime]:
    """The runway's windows (SPEC §8): the 7 and 30 complete local days before `now`'s day, as instants."""
    today = now.astimezone(zone).date()
    return {
        "start_7d": local_midnight(today - timedelta(days=7), zone),
        "start_30d": local_midnight(today - timedelta(days=30), zone),
        "end": local_midnight(today, zone),
    }


def runway(store: Store, account_id: str, balance: int, now: datetime) -> Runway:
    """SPEC §8 runway: days the balance lasts at the average consumption of the last 7 and 30 complete days."""
    # the consumption is a part of the ledger statement (queries/analysis_ledger.sql); no list of entries here
    row = store.row(
        "analysis_ledger",
        account_id=account_id,
        limit=0,
        recent_entries=RECENT_ENTRIES,
        **runway_params(now, store.settings.zone),
    )
    return runway_of(
        balance, int(row["consumed_7d"]), int(row["consumed_30d"]), now.astimezone(store.settings.zone).date()
    )


def runway_of(balance: int, consumed_7d: int, consumed_30d: int, today: date) -> Runway:
    """The runway of a balance at the consumption of the 7 and 30 complete local days before `today`."""
    out: dict[str, Any] = {"balance": balance}
    for days, consumed in ((7, consumed_7d), (30, consumed_30d)):
        burn = consumed / days
        out[f"burn_{days}d"] = burn
        if balance <= 0:
            status, left, until = "overdrawn", 0, None
        elif burn == 0:
            status, left, until = "not_running_out", None, None
        else:
            left = balance * days // consumed  # integers: floor(B / burn) without rounding error
            # a balance that outlasts the calendar (year 9999) has no date; days_left stays exact
            fits = left <= (date.max - today).days
            status, until = "ok", (today + timedelta(days=left)).isoformat() if fits else None
        out[f"status_{days}d"], out[f"days_left_{days}d"], out[f"runs_out_on_{days}d"] = status, left, until
    return Runway(**out)


def span_params(
    prefix: str, start_day: date, end: datetime, zone: ZoneInfo, first_hour_day: date | None
) -> dict[str, Any]:
    """[start_day 00:00, end) as whole local days, whole local hours of the last day, and the partial hour.

    When the last day is before the hourly rollup's window, its events are read from midnight instead.
    """
    local_end = end.astimezone(zone)
    hour_start = local_end.replace(minute=0, second=0, microsecond=0)
    if first_hour_day is not None and local_end.date() < first_hour_day:
        hour_start = local_midnight(local_end.date(), zone)
    return {
        f"{prefix}_start_day": start_day,
        f"{prefix}_end_day": local_end.date(),
        f"{prefix}_end_hour": hour_start.astimezone(UTC),
        f"{prefix}_end": end.astimezone(UTC),
    }


def previous_month_to_date_end(now: datetime, zone: ZoneInfo) -> datetime:
    """The same local day-of-month and time in last month, clipped to this month's start; a wall time in a DST gap
    moves to the first instant after it (SPEC §8, §9)."""
    return same_span_end(now, "month", zone).astimezone(zone)


def to_date_params(store: Store, account_id: str, now: datetime, month: bool = True) -> dict[str, Any]:
    """The values of queries/month_to_date.sql and queries/today_so_far.sql: this month's span, last month's, today's
    (the current span's last day) and yesterday's up to the same time; `month` false leaves month to date's out."""
    zone = store.settings.zone
    local = now.astimezone(zone)
    today = local.date()
    first_hour_day = hourly_from(store)
    window = TodaySoFar.at(now, zone)
    params = {
        "account_id": account_id,
        "month": month,
        **span_params("current", month_start(today), local, zone, first_hour_day),
        **span_params("previous", previous_month(today), previous_month_to_date_end(local, zone), zone, first_hour_day),
        **span_params(
            "yesterday", window.previous_start.astimezone(zone).date(), window.previous_end, zone, first_hour_day
        ),
    }
    if not month:  # the months' whole days are month to date's alone (today so far's statement has no such part)
        del params["current_start_day"], params["previous_start_day"]
    return params


def to_date_rows(store: Store, account_id: str, now: datetime) -> dict[str, list[Any]]:
    """Tokens per member, service and model this month so far and in the same span of last month, today so far and
    yesterday up to the same wall time (SPEC §8, §9), as columns: one statement for month to date and today so far.

    Plain lists, not a DataFrame: building one and iterating its arrow-backed columns cost more than the query.
    """
    names, rows = store.rows("month_to_date", **to_date_params(store, account_id, now))
    return {name: [row[n] for row in rows] for n, name in enumerate(names)}


def contributions(rows: Mapping[str, Sequence[Any]], dimension: str) -> list[Contribution]:
    """Every key's change (current - previous) of one dimension, largest first by absolute value (ties: key)."""
    label_column = {"member": "member_label", "service": "service", "model": "model"}[dimension]
    # plain sums over the few rows (one per member x service x model): a pandas groupby costs ~20 ms here
    sums: dict[str, list[Any]] = {}
    for key, label, tokens, previous in zip(
        rows[dimension], rows[label_column], rows["tokens"], rows["previous"], strict=True
    ):
        kept = sums.setdefault(str(key), [str(label), 0])  # the first row's label, as every row of a key has one
        kept[1] += int(tokens) - int(previous)
    changes = [Contribution(key=key, label=label, change=change) for key, (label, change) in sums.items()]
    return sorted(changes, key=lambda c: (-abs(c.change), c.key))


def month_to_date(store: Store, account_id: str, now: datetime) -> MonthToDate:
    """SPEC §8: this month so far against the same span of last month, with the top contributors.

    A key whose change is 0 is not a contributor; the shown ones are the 3 largest by absolute change.
    """
    return month_to_date_of(to_date_rows(store, account_id, now))


def month_to_date_of(rows: Mapping[str, Sequence[Any]]) -> MonthToDate:
    """Month to date from the rows of `to_date_rows`."""
    current, previous = sum(rows["tokens"]), sum(rows["previous"])
    shown = {
        dimension: tuple([c for c in contributions(rows, dimension) if c.change != 0][:CONTRIBUTORS_SHOWN])
        for dimension in ("member", "service", "model")
    }
    return MonthToDate(
        tokens=current, previous=previous, growth_pct=growth_pct(current, previous), contributors=Contributors(**shown)
    )
