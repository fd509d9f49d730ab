"""Explore, rankings, runway and month to date (SPEC §8) on a hand-built export, answers computed by hand.

The zone is America/New_York: daylight saving time ends on Sunday 1 Nov 2026 (01:00-02:00 happens
twice) and starts on Sunday 8 Mar 2026 (02:00-03:00 never happens). "Now" is Tuesday 3 Nov 2026,
10:30 local (15:30 UTC); today is 3 Nov, a Tuesday; Monday 2 Nov starts the ISO week.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests import builders as b
from tests.builders import tx, utc
from tests.conftest import settings_for
from token_analytics.engine import explore as ex
from token_analytics.engine.explore import Period, View
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.periods import TodaySoFar, month_start, previous_month
from token_analytics.engine.store import Store

NY_NOW = "2026-11-03T10:30:00-05:00"
now = datetime.fromisoformat(NY_NOW)
TODAY = date(2026, 11, 3)


def e(
    event_id: str,
    account: str,
    user: str | None,
    service: str,
    at: str,
    tokens: int,
    model: str | None = "m1",
    io: tuple[int, int] | None = None,
) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "account_id": account,
        "user_id": user,
        "service": service,
        "occurred_at": utc(at),
        "tokens": tokens,
        "model": model,
    }
    if io:
        row["input_tokens"], row["output_tokens"] = io
    return row


def write_export(root: Path) -> Path:
    b.members(
        root,
        "members/members.parquet",
        [
            {"user_id": "u1", "account_id": "acct-a", "display_name": "Alice", "email": "a@example.com"},
            {"user_id": "u2", "account_id": "acct-a", "display_name": "=Bob", "email": "b@example.com"},
        ],
    )
    b.events(
        root,
        "usage_events/part-0.parquet",
        [
            # 1 Nov 01:30 EDT and 01:30 EST: the same local hour twice, two buckets
            e("a1", "acct-a", "u1", "agent", "2026-11-01T01:30:00-04:00", 10),
            e("a2", "acct-a", "u1", "agent", "2026-11-01T01:30:00-05:00", 20),
            # 23:59:59 on Monday 2 Nov is yesterday; 00:00 on 3 Nov is today
            e("a3", "acct-a", "u2", "operator", "2026-11-02T23:59:59-05:00", 100, "m2"),
            e("a4", "acct-a", "u2", "operator", "2026-11-03T00:00:00-05:00", 200, "m2"),
            # today in the partial hour before now; this copy loses to the later file's
            e("a5", "acct-a", None, "assistant", "2026-11-03T10:15:00-05:00", 999, None, (900, 99)),
            # today after now: in today's total, not in the month to date
            e("a12", "acct-a", "u2", "operator", "2026-11-03T10:40:00-05:00", 4000, "m2"),
            # 31 Oct 23:30 local is already 1 Nov in UTC: still October here
            e("a6", "acct-a", "u1", "agent", "2026-10-31T23:30:00-04:00", 40),
            # October, for the month to date: 2 Oct (a whole day), 3 Oct 09:00 (a whole hour),
            # 10:10 (the partial hour, before 10:30), 10:45 (after the same time of day)
            e("a13", "acct-a", "u2", "operator", "2026-10-02T12:00:00-04:00", 60, "m2"),
            e("a7", "acct-a", "u3", "agent", "2026-10-03T09:00:00-04:00", 1000),
            e("a14", "acct-a", "u1", "agent", "2026-10-03T10:10:00-04:00", 6),
            e("a8", "acct-a", "u3", "agent", "2026-10-03T10:45:00-04:00", 500),
            # 31 Dec 2025 23:00 local is 1 Jan 2026 in UTC: last year here
            e("a9", "acct-a", "u1", "agent", "2025-12-31T23:00:00-05:00", 3),
            e("a10", "acct-a", "u1", "agent", "2026-01-01T00:30:00-05:00", 5),
            # another account: never in acct-a's figures
            e("b1", "acct-b", "u9", "agent", "2026-11-03T01:00:00-05:00", 99999),
            # many members on Monday 2 Nov (ties at 50 and at 40), and Sunday 1 Nov before them
            *[
                e(f"n{i}", "acct-many", f"m{i}", "agent", "2026-11-02T12:00:00-05:00", tokens)
                for i, tokens in enumerate((70, 60, 50, 50, 40, 40, 20), start=1)
            ],
            e("p6", "acct-many", "m6", "agent", "2026-11-01T12:00:00-05:00", 100),
            e("p8", "acct-many", "m8", "agent", "2026-11-01T12:00:00-05:00", 10),
            e("p1", "acct-many", "m1", "agent", "2026-11-01T12:00:00-05:00", 5),
            # the end of March: last month (February) is shorter
            e("c1", "acct-clip", "u1", "agent", "2026-02-28T23:00:00-05:00", 11),
            e("c2", "acct-clip", "u1", "agent", "2026-03-30T12:00:00-04:00", 5),
        ],
    )
    b.events(
        root,
        "usage_events/part-1.parquet",
        [e("a5", "acct-a", None, "assistant", "2026-11-03T10:15:00-05:00", 7, None, (3, 4))],
    )
    b.transactions(
        root,
        "transactions/t.parquet",
        [
            tx("r-bonus", "acct-a", "BONUS", 10000, utc("2026-10-01T00:00:00-04:00")),
            tx("r-today", "acct-a", "CONSUME", -999, utc("2026-11-03T09:00:00-05:00")),  # today: no burn
            tx("r-7", "acct-a", "CONSUME", -700, utc("2026-11-02T12:00:00-05:00")),
            tx("r-7-first", "acct-a", "CONSUME", -50, utc("2026-10-27T00:00:00-04:00")),  # first instant of 7 days
            tx("r-30", "acct-a", "CONSUME", -1, utc("2026-10-26T23:59:59-04:00")),  # in 30 days, not 7
            tx("r-30b", "acct-a", "CONSUME", -1500, utc("2026-10-10T12:00:00-04:00")),
            tx("r-old", "acct-a", "CONSUME", -8, utc("2026-10-03T23:59:59-04:00")),  # before the 30 days
            tx("n-bonus", "acct-neg", "BONUS", 100, utc("2026-10-01T00:00:00-04:00")),
            tx("n-use", "acct-neg", "CONSUME", -300, utc("2026-11-01T12:00:00-05:00")),
            tx("z-bonus", "acct-zero", "BONUS", 100, utc("2026-10-01T00:00:00-04:00")),
            tx("z-use", "acct-zero", "CONSUME", -100, utc("2026-11-01T12:00:00-05:00")),
            tx("i-bonus", "acct-idle", "BONUS", 100, utc("2026-10-01T00:00:00-04:00")),
        ],
    )
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    tmp = tmp_path_factory.mktemp("explore")
    data = write_export(tmp / "export")
    opened = Store.open(settings_for(tmp, data, ANALYTICS_TIMEZONE="America/New_York", ANALYTICS_NOW=NY_NOW))
    yield opened
    opened.close()


def plain(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows as Python values, a missing one as None (pandas shows it as NaN or NA)."""
    return [[None if pd.isna(v) else v for v in row] for row in frame.astype(object).values.tolist()]


def total(store: Store, account: str, **view: Any) -> int:
    return ex.explore(store, account, View(**view), TODAY).total


# --- periods --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "start", "end", "previous", "tokens", "previous_tokens"),
    [
        # today (3 Nov, its day passed): a4 200 + a5 7 (the winning copy) + a12 4000; before: all of 2 Nov, a3
        ("today", date(2026, 11, 3), date(2026, 11, 4), (date(2026, 11, 2), date(2026, 11, 3)), 4207, 100),
        ("yesterday", date(2026, 11, 2), date(2026, 11, 3), (date(2026, 11, 1), date(2026, 11, 2)), 100, 30),
        # the ISO week from Monday 2 Nov: a3 + today; before: the same two days of the week before, nothing
        ("this_week", date(2026, 11, 2), date(2026, 11, 4), (date(2026, 10, 26), date(2026, 10, 28)), 4307, 0),
        # Monday 26 Oct - Sunday 1 Nov: a6 40 + a1 10 + a2 20; before: 19-25 Oct, nothing
        ("last_week", date(2026, 10, 26), date(2026, 11, 2), (date(2026, 10, 19), date(2026, 10, 26)), 70, 0),
        # 1-3 Nov: a1 a2 a3 a4 a5 a12; before: 1-3 Oct, a13 60 + a7 1000 + a14 6 + a8 500
        ("this_month", date(2026, 11, 1), date(2026, 11, 4), (date(2026, 10, 1), date(2026, 10, 4)), 4337, 1566),
        # October: 1-3 Oct and a6 (31 Oct 23:30 local); before: September, nothing
        ("last_month", date(2026, 10, 1), date(2026, 11, 1), (date(2026, 9, 1), date(2026, 10, 1)), 1606, 0),
        # 2026 to 3 Nov: all but a9 (31 Dec 2025 local); before: 1 Jan - 3 Nov 2025, nothing
        (
            "this_year",
            date(2026, 1, 1),
            date(2026, 11, 4),
            (date(2025, 1, 1), date(2025, 11, 4)),
            4337 + 1606 + 5,
            0,
        ),
        ("last_year", date(2025, 1, 1), date(2026, 1, 1), (date(2024, 1, 1), date(2025, 1, 1)), 3, 0),
        # 7 complete days 27 Oct - 2 Nov: a6 + a1 + a2 + a3; before: 20-26 Oct, nothing
        ("last_7_days", date(2026, 10, 27), date(2026, 11, 3), (date(2026, 10, 20), date(2026, 10, 27)), 170, 0),
        # with today: 28 Oct - 3 Nov
        ("last_7_days_today", date(2026, 10, 28), date(2026, 11, 4), (date(2026, 10, 21), date(2026, 10, 28)), 4377, 0),
        # 4 Oct - 2 Nov; before: 4 Sep - 3 Oct: a13 60 + a7 1000 + a14 6 + a8 500
        ("last_30_days", date(2026, 10, 4), date(2026, 11, 3), (date(2026, 9, 4), date(2026, 10, 4)), 170, 1566),
        ("last_30_days_today", date(2026, 10, 5), date(2026, 11, 4), (date(2026, 9, 5), date(2026, 10, 5)), 4377, 1566),
    ],
)
def test_presets_in_local_days(
    store: Store,
    preset: str,
    start: date,
    end: date,
    previous: tuple[date, date],
    tokens: int,
    previous_tokens: int,
) -> None:
    result = ex.explore(store, "acct-a", View(period=preset, group="none"), TODAY)
    assert (result.period.start, result.period.end) == (start, end)
    assert (result.previous.start, result.previous.end, result.previous.until) == (*previous, None)
    assert (result.total, result.previous_total) == (tokens, previous_tokens)
    assert result.table[["key", "value", "previous", "change"]].to_dict("records") == [
        {"key": "all", "value": tokens, "previous": previous_tokens, "change": tokens - previous_tokens}
    ]


@pytest.mark.parametrize(
    ("preset", "previous", "until", "previous_tokens"),
    [
        # now is 3 Nov 10:30: yesterday up to 10:30 has nothing (a3 is at 23:59:59)
        ("today", (date(2026, 11, 2), date(2026, 11, 3)), datetime(2026, 11, 2, 15, 30, tzinfo=UTC), 0),
        # October to the 3rd at 10:30 EDT: a13 (2 Oct) + a7 (09:00, a whole hour) + a14 (10:10, the partial
        # hour), not a8 (10:45): the month to date's own previous figure
        ("this_month", (date(2026, 10, 1), date(2026, 10, 4)), datetime(2026, 10, 3, 14, 30, tzinfo=UTC), 1066),
        ("this_week", (date(2026, 10, 26), date(2026, 10, 28)), datetime(2026, 10, 27, 14, 30, tzinfo=UTC), 0),
        # the same span shifted back 30 days: 5 Sep 00:00 - 4 Oct 10:30, so all of 2 and 3 Oct
        (
            "last_30_days_today",
            (date(2026, 9, 5), date(2026, 10, 5)),
            datetime(2026, 10, 4, 14, 30, tzinfo=UTC),
            1566,
        ),
    ],
)
def test_presets_that_run_to_now_compare_the_same_span(
    store: Store, preset: str, previous: tuple[date, date], until: datetime, previous_tokens: int
) -> None:
    result = ex.explore(store, "acct-a", View(period=preset, group="none"), now)
    assert (result.previous.start, result.previous.end, result.previous.until) == (*previous, until)
    assert result.previous_total == previous_tokens
    if preset == "this_month":
        assert previous_tokens == ex.month_to_date(store, "acct-a", now).to_json()["previous"]


NY = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(NY)


@pytest.mark.parametrize(
    ("preset", "when", "period", "previous", "until"),
    [
        # the end of March: February is shorter, so its whole month is the previous span
        ("this_month", "2026-03-31T12:00:00-04:00", ("2026-03-01", "2026-04-01"), ("2026-02-01", "2026-03-01"), None),
        (
            "this_month",
            "2026-03-28T12:00:00-04:00",
            ("2026-03-01", "2026-03-29"),
            ("2026-02-01", "2026-03-01"),
            "2026-02-28T12:00:00-05:00",
        ),
        ("last_month", "2026-03-31T12:00:00-04:00", ("2026-02-01", "2026-03-01"), ("2026-01-01", "2026-02-01"), None),
        # an ISO week across the year's end: Thursday 1 Jan 2026 is in the week of Monday 29 Dec 2025
        (
            "this_week",
            "2026-01-01T10:00:00-05:00",
            ("2025-12-29", "2026-01-02"),
            ("2025-12-22", "2025-12-26"),
            "2025-12-25T10:00:00-05:00",
        ),
        ("last_week", "2026-01-01T10:00:00-05:00", ("2025-12-22", "2025-12-29"), ("2025-12-15", "2025-12-22"), None),
        ("last_year", "2026-01-01T10:00:00-05:00", ("2025-01-01", "2026-01-01"), ("2024-01-01", "2025-01-01"), None),
        # a leap day: 59 whole days into 2028 is 1 Mar in 2027; January holds the 29th
        (
            "this_year",
            "2028-02-29T12:00:00-05:00",
            ("2028-01-01", "2028-03-01"),
            ("2027-01-01", "2027-03-02"),
            "2027-03-01T12:00:00-05:00",
        ),
        (
            "this_month",
            "2028-02-29T12:00:00-05:00",
            ("2028-02-01", "2028-03-01"),
            ("2028-01-01", "2028-01-30"),
            "2028-01-29T12:00:00-05:00",
        ),
        # the last day of a leap year: all of the shorter year before
        ("this_year", "2028-12-31T12:00:00-05:00", ("2028-01-01", "2029-01-01"), ("2027-01-01", "2028-01-01"), None),
        # DST starts on Sunday 8 Mar 2026 (02:00-03:00 never happens): 02:30 yesterday is 03:00 EDT
        (
            "today",
            "2026-03-09T02:30:00-04:00",
            ("2026-03-09", "2026-03-10"),
            ("2026-03-08", "2026-03-09"),
            "2026-03-08T03:00:00-04:00",
        ),
        (
            "this_week",
            "2026-03-15T02:30:00-04:00",
            ("2026-03-09", "2026-03-16"),
            ("2026-03-02", "2026-03-09"),
            "2026-03-08T03:00:00-04:00",
        ),
        # DST ends on Sunday 1 Nov 2026 (01:00-02:00 twice): 01:30 yesterday is the first 01:30, EDT
        (
            "today",
            "2026-11-02T01:30:00-05:00",
            ("2026-11-02", "2026-11-03"),
            ("2026-11-01", "2026-11-02"),
            "2026-11-01T01:30:00-04:00",
        ),
        # just after midnight: yesterday up to 00:05
        (
            "today",
            "2026-11-03T00:05:00-05:00",
            ("2026-11-03", "2026-11-04"),
            ("2026-11-02", "2026-11-03"),
            "2026-11-02T00:05:00-05:00",
        ),
        # rolling and calendar forms differ: 7 complete days vs the week, 30 days with today vs the month
        ("last_7_days", "2026-11-04T10:00:00-05:00", ("2026-10-28", "2026-11-04"), ("2026-10-21", "2026-10-28"), None),
        (
            "this_week",
            "2026-11-04T10:00:00-05:00",
            ("2026-11-02", "2026-11-05"),
            ("2026-10-26", "2026-10-29"),
            "2026-10-28T10:00:00-04:00",
        ),
        (
            "last_30_days_today",
            "2026-11-04T10:00:00-05:00",
            ("2026-10-06", "2026-11-05"),
            ("2026-09-06", "2026-10-06"),
            "2026-10-05T10:00:00-04:00",
        ),
        (
            "this_month",
            "2026-11-04T10:00:00-05:00",
            ("2026-11-01", "2026-11-05"),
            ("2026-10-01", "2026-10-05"),
            "2026-10-04T10:00:00-04:00",
        ),
        ("last_90_days", "2026-11-04T10:00:00-05:00", ("2026-08-06", "2026-11-04"), ("2026-05-08", "2026-08-06"), None),
        # custom: the same number of days just before
        ("custom", "2026-11-04T10:00:00-05:00", ("2026-02-27", "2026-03-02"), ("2026-02-24", "2026-02-27"), None),
    ],
)
def test_every_presets_previous_period_by_hand(
    preset: str, when: str, period: tuple[str, str], previous: tuple[str, str], until: str | None
) -> None:
    first, last = (date(2026, 2, 27), date(2026, 3, 1)) if preset == "custom" else (None, None)
    current, before = ex.periods_for(preset, at(when), NY, first, last)
    assert (current.start.isoformat(), current.end.isoformat()) == period
    assert (before.start.isoformat(), before.end.isoformat()) == previous
    # in UTC: aware times in a DST fold never compare equal across zones
    expected = None if until is None else datetime.fromisoformat(until).astimezone(UTC)
    assert (before.until and before.until.astimezone(UTC)) == expected


def test_custom_period_is_inclusive_and_checked(store: Store) -> None:
    view = View(period="custom", start=date(2026, 11, 2), end=date(2026, 11, 3), group="none")
    assert total(store, "acct-a", **vars(view)) == 100 + 4207
    with pytest.raises(ValueError, match="first day"):
        ex.period_for("custom", TODAY, date(2026, 11, 3), date(2026, 11, 2))


# --- buckets --------------------------------------------------------------------------------


def test_dst_day_has_25_hours_and_the_repeated_hour_is_two_buckets(store: Store) -> None:
    view = View(period="custom", start=date(2026, 11, 1), end=date(2026, 11, 1), granularity="hour", group="none")
    series = ex.explore(store, "acct-a", view, TODAY).series
    assert len(series) == 25
    values = dict(zip(series["bucket"], series["value"], strict=True))
    assert values[datetime(2026, 11, 1, 5, 0, tzinfo=UTC)] == 10  # 01:00 EDT
    assert values[datetime(2026, 11, 1, 6, 0, tzinfo=UTC)] == 20  # 01:00 EST, an hour later
    assert sum(values.values()) == 30
    spring = ex.bucket_starts(Period(date(2026, 3, 8), date(2026, 3, 9)), "hour", store.settings.zone)
    assert len(spring) == 23


def test_hour_buckets_of_today(store: Store) -> None:
    view = View(period="today", granularity="hour", group="service")
    result = ex.explore(store, "acct-a", view, TODAY)
    by = {(row.bucket.astimezone(store.settings.zone).hour, row.key): row.value for row in result.series.itertuples()}
    assert len(result.series) == 24 * 2  # operator and assistant, every hour
    assert by[(0, "operator")] == 200 and by[(10, "operator")] == 4000 and by[(10, "assistant")] == 7
    assert sum(result.series["value"]) == result.total == 4207


def test_iso_weeks_start_on_monday(store: Store) -> None:
    view = View(period="custom", start=date(2026, 10, 28), end=date(2026, 11, 3), granularity="week", group="none")
    result = ex.explore(store, "acct-a", view, TODAY)
    # Wed 28 Oct - Sun 1 Nov is in the week of Monday 26 Oct: a6 40 + a1 10 + a2 20; Monday 2 Nov: 100 + 4207
    assert list(zip(result.series["bucket"], result.series["value"], strict=True)) == [
        (date(2026, 10, 26), 70),
        (date(2026, 11, 2), 4307),
    ]
    start, end = ex.bucket_range(date(2026, 10, 26), "week", result.period, store.settings.zone)
    assert (start.isoformat(), end.isoformat()) == ("2026-10-28T00:00:00-04:00", "2026-11-02T00:00:00-05:00")


def test_month_buckets_of_the_year(store: Store) -> None:
    result = ex.explore(store, "acct-a", View(period="this_year", granularity="month", group="none"), TODAY)
    values = dict(zip(result.series["bucket"], result.series["value"], strict=True))
    assert len(values) == 11  # January to November: no bucket after now
    assert values[date(2026, 1, 1)] == 5 and values[date(2026, 10, 1)] == 1606 and values[date(2026, 11, 1)] == 4337
    assert sum(values.values()) == result.total


def test_hour_granularity_only_up_to_14_days() -> None:
    view, notices = ex.clean_view(View(period="last_30_days", granularity="hour"), TODAY)
    assert view.granularity == "day" and notices == ["hour_too_long"]
    assert ex.clean_view(View(period="last_7_days", granularity="hour"), TODAY) == (
        View(period="last_7_days", granularity="hour"),
        [],
    )


# --- groups, top N + Other, filters, metrics ---------------------------------------------------


def test_top_n_plus_other_adds_up_with_ties_by_key(store: Store) -> None:
    view = View(period="custom", start=date(2026, 11, 2), end=date(2026, 11, 2), group="member", top=5)
    result = ex.explore(store, "acct-many", view, TODAY)
    rows = result.table[["key", "value", "previous", "change"]].to_dict("records")
    # m3/m4 tie at 50 and m5/m6 at 40: key ascending; Other = m6 40 + m7 20; previous day (1 Nov): m6 100,
    # m8 10 (no usage on 2 Nov, so only in Other's previous) and m1 5
    assert rows == [
        {"key": "m1", "value": 70, "previous": 5, "change": 65},
        {"key": "m2", "value": 60, "previous": 0, "change": 60},
        {"key": "m3", "value": 50, "previous": 0, "change": 50},
        {"key": "m4", "value": 50, "previous": 0, "change": 50},
        {"key": "m5", "value": 40, "previous": 0, "change": 40},
        {"key": None, "value": 60, "previous": 110, "change": -50},
    ]
    assert sum(r["value"] for r in rows) == result.total == 330
    assert sum(r["previous"] for r in rows) == result.previous_total == 115
    assert result.table["share_pct"].tolist() == pytest.approx([v * 100 / 330 for v in (70, 60, 50, 50, 40, 60)])
    assert result.table["change_pct"].tolist()[0] == pytest.approx(1300.0)
    assert pd.isna(result.table["change_pct"].tolist()[1])  # new: no percentage
    sums: dict[str | None, int] = {}
    for key, value in zip(result.series["key"], result.series["value"], strict=True):
        sums[key] = sums.get(key, 0) + value
    assert sums == {"m1": 70, "m2": 60, "m3": 50, "m4": 50, "m5": 40, None: 60}


def test_group_by_member_labels_and_unknown(store: Store) -> None:
    result = ex.explore(store, "acct-a", View(period="this_month", group="member"), TODAY)
    # u2: a3 100 + a4 200 + a12 4000; u1: a1 10 + a2 20; the null user_id of a5 is 'unknown'
    assert result.table[["key", "label", "value", "previous"]].values.tolist() == [
        ["u2", "=Bob", 4300, 60],
        ["u1", "Alice", 30, 6],  # before: 1-3 Oct, a14
        ["unknown", "unknown", 7, 0],
        ["u3", "u3", 0, 1500],  # only in the previous period (a7, a8): shown with its drop
    ]


def test_filters_by_service_member_and_model(store: Store) -> None:
    assert total(store, "acct-a", period="this_month", group="none", members=("u2",)) == 4300
    assert total(store, "acct-a", period="this_month", group="none", models=("unknown",)) == 7
    assert total(store, "acct-a", period="this_month", group="none", services=("agent", "assistant")) == 37
    assert total(store, "acct-a", period="this_month", group="none", services=("agent",), members=("u2",)) == 0
    assert total(store, "acct-b", period="today", group="none") == 99999  # each account alone


def test_calls_and_input_output_metrics(store: Store) -> None:
    calls = ex.explore(store, "acct-a", View(period="this_month", metric="calls", group="none"), TODAY)
    assert (calls.total, calls.previous_total) == (6, 4)  # before: 1-3 Oct, a13 a7 a14 a8
    io = ex.explore(store, "acct-a", View(period="this_month", metric="input_tokens", group="none"), TODAY)
    assert (io.available, io.total, io.io_calls, io.calls) == (True, 3, 1, 6)  # only a5 (the winner) carries it
    out = ex.explore(store, "acct-a", View(period="today", metric="output_tokens", group="none"), TODAY)
    assert out.total == 4
    missing = ex.explore(store, "acct-many", View(period="this_month", metric="input_tokens", group="none"), TODAY)
    assert missing.available is False  # "not in the exports", never a zero that looks measured


def test_sparkline_days(store: Store) -> None:
    assert ex.daily_tokens(store, "acct-a", date(2026, 10, 31), TODAY) == [40, 30, 100, 4207]


def test_csv_is_formula_safe_and_numbers_stay_numbers(store: Store) -> None:
    result = ex.explore(store, "acct-a", View(period="this_month", group="member"), TODAY)
    lines = ex.explore_csv(result).decode("utf-8").splitlines()
    assert lines[0] == "\ufeffgroup,key,tokens,share_pct,previous,change,change_pct"
    # "=Bob" would run as a formula; u3's change is a negative number and stays one
    assert lines[1].startswith("'=Bob,u2,4300,") and lines[1].endswith(",60,4240,7066.666666666667")
    assert lines[4] == "u3,u3,0,0.0,1500,-1500,-100.0"
    ranks = ex.rankings(store, "acct-a", Period(date(2026, 11, 1), date(2026, 11, 4)))
    assert ex.rankings_csv(ranks).decode("utf-8").splitlines()[1:] == [
        f"1,u2,'=Bob,4300,3,{4300 * 100 / 4337},,",
        f"2,u1,Alice,30,2,{30 * 100 / 4337},1,-1",
        f"3,unknown,unknown,7,1,{7 * 100 / 4337},,",
    ]


# --- the view in the URL ------------------------------------------------------------------------

KEYS = {"service": ["agent", "operator"], "member": ["u1", "u2"], "model": ["m1"]}


def test_view_round_trips_through_query_params() -> None:
    view = View(
        period="custom",
        start=date(2026, 10, 1),
        end=date(2026, 10, 5),
        granularity="hour",
        metric="calls",
        group="model",
        top=20,
        services=("agent",),
        members=("u1", "u2"),
        models=("m1",),
    )
    params = {k: v if isinstance(v, list) else [v] for k, v in ex.view_to_params(view).items()}
    assert ex.view_from_params(params, KEYS, TODAY) == (view, [])
    assert "account" not in params


@pytest.mark.parametrize(
    ("params", "notices"),
    [
        ({"group": ["user_id; drop table usage_daily"]}, ["bad_group"]),
        ({"metric": ["tokens) from accounts --"]}, ["bad_metric"]),
        ({"period": ["forever"]}, ["bad_period"]),
        ({"period": ["custom"], "start": ["2026-13-01"], "end": ["x"]}, ["bad_custom"]),
        ({"period": ["custom"], "start": ["2026-11-05"], "end": ["2026-11-01"]}, ["bad_custom"]),
        ({"top": ["1000000"]}, ["bad_top"]),
        ({"member": ["u1", "u9-of-another-account", "' or 1=1 --"]}, ["bad_member"]),
        ({"account": ["acct-b"], "granularity": ["hour"]}, ["hour_too_long"]),
    ],
)
def test_hostile_query_params_fall_back(params: dict[str, list[str]], notices: list[str]) -> None:
    view, got = ex.view_from_params(params, KEYS, TODAY)
    assert got == notices
    assert view.group in ex.GROUPS and view.metric in ex.METRICS and view.period in ex.PRESETS
    assert set(view.members) <= {"u1"}


# --- rankings ---------------------------------------------------------------------------------------


def test_rankings_with_rank_change_and_new(store: Store) -> None:
    ranks = ex.rankings(store, "acct-many", Period(date(2026, 11, 2), date(2026, 11, 3)))
    # the day before: m6 100 (1st), m8 10 (2nd), m1 5 (3rd)
    assert plain(ranks[["rank", "user_id", "tokens", "previous_rank", "rank_change", "is_new"]]) == [
        [1, "m1", 70, 3, 2, False],
        [2, "m2", 60, None, None, True],
        [3, "m3", 50, None, None, True],
        [4, "m4", 50, None, None, True],
        [5, "m5", 40, None, None, True],
        [6, "m6", 40, 1, -5, False],
        [7, "m7", 20, None, None, True],
    ]
    assert ranks["share_pct"].sum() == pytest.approx(100.0)


def test_rankings_names_and_unknown(store: Store) -> None:
    ranks = ex.rankings(store, "acct-a", Period(date(2026, 11, 1), date(2026, 11, 4)))
    # 1-3 Nov: u2 4300, u1 30, unknown 7; 29-31 Oct: u1 40 alone
    assert plain(ranks[["rank", "user_id", "display_name", "tokens", "rank_change"]]) == [
        [1, "u2", "=Bob", 4300, None],
        [2, "u1", "Alice", 30, -1],
        [3, "unknown", "unknown", 7, None],
    ]


# --- runway ---------------------------------------------------------------------------------------


def test_runway_dates(store: Store) -> None:
    # balance 10000 - 999 - 700 - 50 - 1 - 1500 - 8 = 6742; 7 complete days 27 Oct 00:00 EDT - 3 Nov 00:00 EST:
    # 700 + 50 = 750; 30 days from 4 Oct: 750 + 1 + 1500 = 2251
    run = ex.runway(store, "acct-a", 6742, now).to_json()
    assert run == {
        "balance": 6742,
        "burn_7d": pytest.approx(750 / 7),
        "burn_30d": pytest.approx(2251 / 30),
        "status_7d": "ok",
        "status_30d": "ok",
        "days_left_7d": 62,  # 6742 * 7 / 750 = 62.9
        "days_left_30d": 89,  # 6742 * 30 / 2251 = 89.85
        "runs_out_on_7d": "2027-01-04",
        "runs_out_on_30d": "2027-01-31",
    }


def test_runway_beyond_the_calendar_has_no_date(store: Store) -> None:
    # found by the property layer: a balance of 2^53 at 750 tokens a week outlasts year 9999
    run = ex.runway(store, "acct-a", 2**53, now).to_json()
    assert run["status_7d"] == "ok" and run["days_left_7d"] == 2**53 * 7 // 750
    assert run["runs_out_on_7d"] is None and run["runs_out_on_30d"] is None


def test_runway_overdrawn_zero_and_idle(store: Store) -> None:
    negative = analysis_figures(store, "acct-neg", now, "saas").to_json()["runway"]
    assert (negative["balance"], negative["status_7d"], negative["days_left_7d"], negative["runs_out_on_7d"]) == (
        -200,
        "overdrawn",
        0,
        None,
    )
    zero = analysis_figures(store, "acct-zero", now, "saas").to_json()["runway"]
    assert (zero["balance"], zero["status_30d"], zero["days_left_30d"]) == (0, "overdrawn", 0)
    idle = analysis_figures(store, "acct-idle", now, "saas").to_json()["runway"]
    assert idle["burn_7d"] == 0 and idle["status_7d"] == idle["status_30d"] == "not_running_out"
    assert idle["days_left_7d"] is None and idle["runs_out_on_30d"] is None
    assert analysis_figures(store, "acct-idle", now, "self-hosted").to_json()["runway"] is None


# --- month to date and contributors ------------------------------------------------------------------


def test_month_to_date_exact_to_the_token(store: Store) -> None:
    mtd = analysis_figures(store, "acct-a", now, "saas").to_json()["month_to_date"]
    # [1 Nov 00:00, 3 Nov 10:30): a1 10 + a2 20 + a3 100 + a4 200 (whole hour) + a5 7 (partial hour, winning copy);
    # a12 at 10:40 is after now. [1 Oct 00:00, 3 Oct 10:30): a13 60 + a7 1000 (whole hour) + a14 6 (partial hour);
    # a8 at 10:45 is later in the day
    assert (mtd["tokens"], mtd["previous"]) == (337, 1066)
    assert mtd["growth_pct"] == pytest.approx((337 - 1066) / 1066 * 100)
    assert mtd["contributors"] == {
        "member": [
            {"key": "u3", "label": "u3", "change": -1000},
            {"key": "u2", "label": "=Bob", "change": 240},
            {"key": "u1", "label": "Alice", "change": 24},
        ],
        "service": [
            {"key": "agent", "label": "agent", "change": -976},
            {"key": "operator", "label": "operator", "change": 240},
            {"key": "assistant", "label": "assistant", "change": 7},
        ],
        "model": [
            {"key": "m1", "label": "m1", "change": -976},
            {"key": "m2", "label": "m2", "change": 240},
            {"key": "unknown", "label": "unknown", "change": 7},
        ],
    }


def test_contributions_sum_to_the_change(store: Store) -> None:
    rows = ex.to_date_rows(store, "acct-a", now)
    for dimension in ("member", "service", "model"):
        assert sum(c.change for c in ex.contributions(rows, dimension)) == 337 - 1066


def test_month_to_date_on_a_longer_month_compares_with_all_of_the_shorter_one(store: Store) -> None:
    end_of_march = datetime.fromisoformat("2026-03-31T12:00:00-04:00")
    assert ex.previous_month_to_date_end(end_of_march, store.settings.zone).isoformat() == "2026-03-01T00:00:00-05:00"
    mtd = ex.month_to_date(store, "acct-clip", end_of_march).to_json()
    assert (mtd["tokens"], mtd["previous"]) == (5, 11)  # all of February, to 28 Feb 23:00
    first = ex.month_to_date(store, "acct-clip", datetime.fromisoformat("2026-03-01T00:00:00-05:00")).to_json()
    assert (first["tokens"], first["previous"], first["growth_pct"]) == (0, 0, 0.0)


def test_report_prints_runway_and_month_to_date(tmp_path: Path) -> None:
    data = write_export(tmp_path / "export")
    env = {
        **os.environ,
        "ANALYTICS_DATA_DIR": str(data),
        "ANALYTICS_APP_DB": str(tmp_path / "cli" / "app.duckdb"),
        "ANALYTICS_TIMEZONE": "America/New_York",
    }
    args = [sys.executable, "-m", "token_analytics", "report", "--account", "acct-a", "--as-of", NY_NOW]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["runway"]["runs_out_on_7d"] == "2027-01-04" and printed["runway"]["days_left_30d"] == 89
    assert printed["month_to_date"]["tokens"] == 337 and printed["month_to_date"]["previous"] == 1066
    assert printed["month_to_date"]["contributors"]["member"][0] == {"key": "u3", "label": "u3", "change": -1000}
    hosted = subprocess.run([*args, "--mode", "self-hosted"], env=env, capture_output=True, text=True, check=False)
    assert json.loads(hosted.stdout)["runway"] is None and json.loads(hosted.stdout)["month_to_date"] is None


def test_hours_only_inside_the_hourly_window(tmp_path: Path) -> None:
    """Ingest may keep hours for a recent window only (meta 'hourly_from'): older days read events instead."""
    data = write_export(tmp_path / "export")
    windowed = Store.open(settings_for(tmp_path, data, ANALYTICS_TIMEZONE="America/New_York", ANALYTICS_NOW=NY_NOW))
    cur = windowed.cursor()
    cur.execute("delete from usage_hourly where day < date '2026-10-04'")  # what a window from 4 Oct keeps
    cur.execute("insert or replace into meta values ('hourly_from', '2026-10-04')")
    assert ex.hourly_from(windowed) == date(2026, 10, 4)
    # the previous span ends on 3 Oct 10:30, before the window: a7 (09:00) and a14 (10:10) come from the events
    mtd = ex.month_to_date(windowed, "acct-a", now).to_json()
    assert (mtd["tokens"], mtd["previous"]) == (337, 1066)
    old = View(period="custom", start=date(2026, 10, 1), end=date(2026, 10, 3), granularity="hour", group="none")
    result = ex.explore(windowed, "acct-a", old, TODAY)
    assert result.view.granularity == "day" and result.total == 60 + 1000 + 6 + 500
    assert not ex.hours_allowed(old.dates(TODAY), date(2026, 10, 4))
    assert ex.hours_allowed(View(period="last_7_days").dates(TODAY), date(2026, 10, 4))
    params = {"period": ["custom"], "start": ["2026-10-01"], "end": ["2026-10-03"], "granularity": ["hour"]}
    assert ex.view_from_params(params, KEYS, TODAY, date(2026, 10, 4))[1] == ["hour_too_long"]
    # hours from the window's first day: the previous 3 days (1-3 Oct) are before it and still count
    # (a13 60 + a7 1000 + a14 6 + a8 500), read per key from the daily rollup
    first = View(period="custom", start=date(2026, 10, 4), end=date(2026, 10, 6), granularity="hour", group="member")
    result = ex.explore(windowed, "acct-a", first, TODAY)
    assert result.view.granularity == "hour" and len(result.series) == 3 * 24 * 3
    assert (result.total, result.previous_total) == (0, 1566)
    assert plain(result.table[["key", "value", "previous", "change"]]) == [  # all 0 now: ranked by key
        ["u1", 0, 6, -6],
        ["u2", 0, 60, -60],
        ["u3", 0, 1500, -1500],
    ]
    windowed.close()


def test_chart_keeps_the_repeated_dst_hour_and_names_its_offset(store: Store) -> None:
    from tests import vega
    from token_analytics.web import explore_ui

    view = View(period="custom", start=date(2026, 11, 1), end=date(2026, 11, 1), granularity="hour", group="service")
    result = ex.explore(store, "acct-a", view, TODAY)
    spec = explore_ui.stacked_bars(result, store.settings.zone, "service")
    axis = vega.axis(spec)
    assert len(axis) == len(set(axis)) == 25
    assert axis[1:3] == ["2026-11-01 01:00", "2026-11-01 01:00 (2)"]
    hover = [row["range"] for row in vega.totals(spec)[1:3]]  # the range, on the total's hover
    assert hover == [
        "2026-11-01 01:00 (UTC-04:00) to 01:00 (UTC-05:00)",
        "2026-11-01 01:00 (UTC-05:00) to 02:00",
    ]
    assert vega.series(spec)["Agent"][1:3] == [10, 20]  # agent: a1 at 01:30 EDT, a2 at 01:30 EST
    # every hour has room on the axis for one day: the date once, under the first tick, then the hours
    ticks = vega.x_ticks(spec)
    assert ticks[0] == ["00:00", "Nov 1"] and sum(isinstance(x, list) for x in ticks) == 1


def test_hour_ticks_are_thinned_and_name_each_date_once(store: Store) -> None:
    from tests import vega
    from token_analytics.web import explore_ui

    view = View(period="custom", start=date(2026, 10, 28), end=date(2026, 11, 3), granularity="hour", group="none")
    texts = vega.x_ticks(explore_ui.stacked_bars(ex.explore(store, "acct-a", view, TODAY), store.settings.zone, "none"))
    assert len(texts) <= 16  # 7 days x 24 hours = 169 bars, one tick every 12 hours
    assert texts[:3] == [["00:00", "Oct 28"], "12:00", ["00:00", "Oct 29"]]
    assert sum(isinstance(text, list) for text in texts) == 7  # each date once


def test_week_labels_carry_the_year_and_numbers_follow_the_language(store: Store) -> None:
    from tests import vega
    from token_analytics.strings import language
    from token_analytics.web import explore_ui

    view = View(period="custom", start=date(2025, 12, 29), end=date(2026, 1, 11), granularity="week", group="none")
    result = ex.explore(store, "acct-a", view, TODAY)
    assert vega.axis(explore_ui.stacked_bars(result, store.settings.zone, "none")) == ["Dec 29, 2025", "Jan 5, 2026"]
    with language("zh"):
        spec = explore_ui.stacked_bars(
            ex.explore(
                store,
                "acct-many",
                View(period="custom", start=date(2026, 11, 1), end=date(2026, 11, 2), group="none"),
                TODAY,
            ),
            store.settings.zone,
            "none",
        )
        assert vega.axis(spec) == ["11月1日", "11月2日"]
        assert "万" not in "".join(vega.y_ticks(spec)) and vega.y_ticks(spec)[0] == "0"
        big = explore_ui.nice_ticks(2_400_000)
        from token_analytics.web import fmt

        assert fmt.compact(big[1]) == "50万"


def test_chart_sends_one_row_per_bucket_and_group_with_a_value(store: Store) -> None:
    """The bars' data is what the screen needs: no row for a zero, no per-point hover text, exact values."""
    from tests import vega
    from token_analytics.web import explore_ui

    view = View(period="custom", start=date(2026, 10, 28), end=date(2026, 11, 3), granularity="day", group="member")
    result = ex.explore(store, "acct-a", view, TODAY)
    spec = explore_ui.stacked_bars(result, store.settings.zone, "member")
    rows = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "bar")["data"]["values"]
    assert rows and all(row["value"] != 0 for row in rows)
    assert all(set(row) == {"label", "group", "value", "order"} for row in rows)
    assert len({(row["label"], row["group"]) for row in rows}) == len(rows)
    expected = result.series.groupby("bucket", sort=True)["value"].sum().astype(int).tolist()
    assert [row["total"] for row in vega.totals(spec)] == expected
    assert sum(sum(values) for values in vega.series(spec).values()) == result.total


def test_summaries_read_like_a_person_wrote_them() -> None:
    from token_analytics.web.explore_ui import span_words

    zone = ZoneInfo("America/New_York")
    today, before = ex.periods_for("today", now, zone)
    assert span_words(today, zone, now) == "Nov 3, 2026 (1 day, so far)"
    assert span_words(before, zone) == "Nov 2, 2026 until 10:30 (1 day)"
    month, last = ex.periods_for("this_month", now, zone)
    assert span_words(month, zone, now) == "Nov 1, 2026 to Nov 3, 2026 (3 days, so far)"
    assert span_words(last, zone) == "Oct 1, 2026 to Oct 3, 2026 10:30 (3 days)"
    week, _ = ex.periods_for("last_week", now, zone)
    assert span_words(week, zone, now) == "Oct 26, 2026 to Nov 1, 2026 (7 days)"


def test_a_view_is_json_with_its_days_as_iso_dates() -> None:
    view = ex.View(period="custom", start=date(2026, 3, 1), end=date(2026, 3, 31), group="member", members=("u1",))
    assert view.to_json() == {
        "period": "custom",
        "start": "2026-03-01",
        "end": "2026-03-31",
        "granularity": "day",
        "metric": "tokens",
        "group": "member",
        "top": 10,
        "services": [],
        "members": ["u1"],
        "models": [],
        "sort": "value",
    }
    assert json.loads(json.dumps(ex.DEFAULT_VIEW.to_json()))["start"] is None


def span_sums(store: Store, params: dict[str, Any]) -> tuple[int, int]:
    """Tokens of the winning events in each span's instants, summed straight from the events (no rollup)."""
    zone = store.settings.zone
    sums = []
    for prefix in ("current", "previous"):
        start = datetime.combine(params[f"{prefix}_start_day"], datetime.min.time(), tzinfo=zone)
        rows = (
            store.cursor()
            .execute(
                "select coalesce(sum(tokens), 0)::bigint from recent_events "
                "where account_id = $account_id and occurred_at >= $start and occurred_at < $end",
                {"account_id": params["account_id"], "start": start, "end": params[f"{prefix}_end"]},
            )
            .fetchall()
        )
        sums.append(rows[0][0])
    return sums[0], sums[1]


@pytest.mark.parametrize(
    "at",
    [
        NY_NOW,
        "2026-11-03T00:00:00-05:00",  # today's first instant: the previous span is yesterday's whole day
        "2026-11-01T01:30:00-05:00",  # the repeated hour of the fall-back (its second pass)
        "2026-11-01T01:30:00-04:00",  # its first pass
        "2026-11-01T00:00:00-04:00",  # a month's first instant: this month's span is empty
        "2026-10-03T10:15:00-04:00",
        "2026-03-08T03:30:00-04:00",  # just after the hour that never happens
    ],
)
@pytest.mark.parametrize("windowed", [False, True])
def test_span_statements_sum_the_events_of_their_spans(store: Store, tmp_path: Path, at: str, windowed: bool) -> None:
    """month_to_date.sql (and today_so_far.sql, its today and yesterday) gives the tokens of the events in its four
    spans' instants (this month and the same span of last month, from a month's first day; today and yesterday up to
    the same time, from any day), whatever part comes from the kept months, days, hours or the events."""
    if windowed:  # hours kept from 4 Oct only (as test_hours_only_inside_the_hourly_window): older days read events
        data = write_export(tmp_path / "export")
        settings = settings_for(tmp_path, data, ANALYTICS_TIMEZONE="America/New_York", ANALYTICS_NOW=NY_NOW)
        store = Store.open(settings)
        store.cursor().execute("delete from usage_hourly where day < date '2026-10-04'")
        store.cursor().execute("insert or replace into meta values ('hourly_from', '2026-10-04')")
    moment = datetime.fromisoformat(at)
    zone = store.settings.zone
    local = moment.astimezone(zone)
    first_hour_day = ex.hourly_from(store)
    today = TodaySoFar.at(moment, zone)
    spans = {
        "current": (month_start(local.date()), moment),
        "previous": (previous_month(local.date()), ex.previous_month_to_date_end(moment, zone)),
        "yesterday": (today.previous_start.astimezone(zone).date(), today.previous_end),
    }
    params: dict[str, Any] = {"account_id": "acct-a", "month": True}
    for prefix, (start_day, end) in spans.items():
        params.update(ex.span_params(prefix, start_day, end, zone, first_hour_day))
    names, rows = store.rows("month_to_date", **params)
    sums = {name: sum(row[names.index(name)] for row in rows) for name in ("tokens", "previous", "today", "yesterday")}
    found = {"month_to_date": (sums["tokens"], sums["previous"]), "today_so_far": (sums["today"], sums["yesterday"])}
    assert found["month_to_date"] == span_sums(store, params)
    today_params = {
        "account_id": "acct-a",
        **ex.span_params("current", today.today, today.end, zone, first_hour_day),
        **{key.replace("yesterday_", "previous_"): value for key, value in params.items() if "yesterday_" in key},
    }
    assert found["today_so_far"] == span_sums(store, today_params)
    # today so far's own statement (the self-hosted mode's) cuts the same spans
    alone = {key: value for key, value in params.items() if key not in ("current_start_day", "previous_start_day")}
    row = store.row("today_so_far", **{**alone, "month": False})
    assert (row["tokens"], row["previous"]) == found["today_so_far"]
    if at == NY_NOW:  # the figures test_month_to_date_exact_to_the_token computes by hand
        assert found["month_to_date"] == (337, 1066)
