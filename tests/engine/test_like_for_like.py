"""SPEC §9 "today so far" against yesterday up to the same local time, on hand-built exports (answers by hand)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests import builders as b
from tests.builders import ev, utc
from tests.conftest import settings_for
from token_analytics.engine.figures import analysis_figures
from token_analytics.engine.periods import TodaySoFar, wall_instant
from token_analytics.engine.store import Store

NY = ZoneInfo("America/New_York")
ROOT = Path(__file__).resolve().parents[2]


def today_so_far(tmp_path: Path, events: list[dict], at: str, ingest_clock: str | None = None, **env: str) -> dict:
    """The `today_so_far` figure of acct-x at `at` (ISO) over these usage events.

    `ingest_clock` is the ANALYTICS_NOW the export is ingested at (it places the hourly rollup's window):
    the same as `at` by default; much later, every span is read from the events instead of the hourly rollup.
    """
    root = tmp_path / "export"
    b.events(root, "usage_events/e.parquet", events)
    settings = settings_for(tmp_path, root, ANALYTICS_NOW=ingest_clock or at, **env)
    with Store.open(settings) as store:
        return analysis_figures(store, "acct-x", datetime.fromisoformat(at), "saas").to_json()["today_so_far"]


def x(event_id: str, at: str, tokens: int) -> dict:
    return ev(event_id, "acct-x", "u1", "agent", utc(at), tokens)


LATER = "2027-06-01T00:00:00+00:00"  # an ingest clock whose hourly window starts long after the test days


@pytest.mark.parametrize("ingest_clock", [None, LATER], ids=["hourly-rollup", "events-only"])
def test_an_ordinary_day_compares_with_yesterday_up_to_the_same_time(tmp_path: Path, ingest_clock: str | None) -> None:
    events = [
        x("a1", "2026-12-06T00:00:00+08:00", 1),  # today's first instant: counts
        x("a2", "2026-12-06T10:41:59+08:00", 2),  # before now
        x("a3", "2026-12-06T10:42:00+08:00", 4),  # now itself: not yet (half-open)
        x("a4", "2026-12-06T18:00:00+08:00", 8),  # later today (clock skew): not so far
        x("a5", "2026-12-05T00:00:00+08:00", 16),  # yesterday's first instant
        x("a6", "2026-12-05T10:41:00+08:00", 32),  # yesterday before 10:42
        x("a7", "2026-12-05T10:42:00+08:00", 64),  # yesterday at 10:42: after the span
        x("a8", "2026-12-05T23:00:00+08:00", 128),  # the rest of yesterday
        x("a9", "2026-12-04T23:59:59+08:00", 256),  # the day before
    ]
    figure = today_so_far(tmp_path, events, "2026-12-06T10:42:00+08:00", ingest_clock)
    assert figure == {"tokens": 3, "previous": 48, "growth_pct": pytest.approx((3 - 48) / 48 * 100)}


def test_just_after_midnight(tmp_path: Path) -> None:
    events = [
        x("m1", "2026-12-06T00:00:10+08:00", 5),
        x("m2", "2026-12-06T00:00:30+08:00", 7),  # now: not counted
        x("m3", "2026-12-05T00:00:00+08:00", 10),
        x("m4", "2026-12-05T00:00:29+08:00", 20),
        x("m5", "2026-12-05T00:00:31+08:00", 40),  # after the same time yesterday
        x("m6", "2026-12-05T12:00:00+08:00", 80),
    ]
    assert today_so_far(tmp_path, events, "2026-12-06T00:00:30+08:00") == {
        "tokens": 5,
        "previous": 30,
        "growth_pct": pytest.approx((5 - 30) / 30 * 100),
    }


def test_at_midnight_both_spans_are_empty_and_read_the_same(tmp_path: Path) -> None:
    events = [x("z1", "2026-12-05T00:00:00+08:00", 10), x("z2", "2026-12-06T00:00:00+08:00", 20)]
    assert today_so_far(tmp_path, events, "2026-12-06T00:00:00+08:00") == {
        "tokens": 0,
        "previous": 0,
        "growth_pct": 0.0,
    }


def test_yesterday_with_nothing_by_this_time_reads_new(tmp_path: Path) -> None:
    events = [x("n1", "2026-12-06T09:00:00+08:00", 10), x("n2", "2026-12-05T11:00:00+08:00", 20)]
    assert today_so_far(tmp_path, events, "2026-12-06T10:00:00+08:00") == {
        "tokens": 10,
        "previous": 0,
        "growth_pct": None,
    }


@pytest.mark.parametrize("ingest_clock", [None, LATER], ids=["hourly-rollup", "events-only"])
def test_the_day_after_spring_forward_uses_the_first_instant_after_the_gap(
    tmp_path: Path, ingest_clock: str | None
) -> None:
    # New York, Sunday 8 March 2026: 02:00 EST jumps to 03:00 EDT. Now = Monday 9 March 02:30 EDT.
    # Yesterday's 02:30 does not exist: the span ends at 03:00 EDT (07:00 UTC), not at 03:30 EDT.
    events = [
        x("s1", "2026-03-08T00:00:00-05:00", 1),  # yesterday's start (05:00 UTC)
        x("s2", "2026-03-08T01:59:59-05:00", 2),  # just before the gap
        x("s3", "2026-03-08T03:00:00-04:00", 4),  # the first instant after the gap: outside [start, 03:00)
        x("s4", "2026-03-08T03:10:00-04:00", 8),  # inside had the gap been skipped by its width (03:30)
        x("s5", "2026-03-09T00:00:00-04:00", 16),  # today
        x("s6", "2026-03-09T02:29:00-04:00", 32),  # today before now
        x("s7", "2026-03-09T02:31:00-04:00", 64),  # today after now
    ]
    figure = today_so_far(
        tmp_path, events, "2026-03-09T02:30:00-04:00", ingest_clock, ANALYTICS_TIMEZONE="America/New_York"
    )
    assert figure == {"tokens": 48, "previous": 3, "growth_pct": pytest.approx((48 - 3) / 3 * 100)}


@pytest.mark.parametrize("ingest_clock", [None, LATER], ids=["hourly-rollup", "events-only"])
def test_the_day_after_fall_back_takes_the_first_occurrence(tmp_path: Path, ingest_clock: str | None) -> None:
    # New York, Sunday 1 November 2026: 01:00-02:00 happens twice (EDT, then EST). Now = Monday 2 Nov 01:30 EST.
    # Yesterday's 01:30 is ambiguous: its first occurrence, 01:30 EDT (05:30 UTC), ends the span.
    events = [
        x("f1", "2026-11-01T00:00:00-04:00", 1),
        x("f2", "2026-11-01T01:15:00-04:00", 2),  # first 01:15 (EDT): in
        x("f3", "2026-11-01T01:45:00-04:00", 4),  # first 01:45 (EDT): after 01:30 EDT
        x("f4", "2026-11-01T01:15:00-05:00", 8),  # second 01:15 (EST): after the first 01:30
        x("f5", "2026-11-02T01:29:00-05:00", 16),  # today before now
    ]
    figure = today_so_far(
        tmp_path, events, "2026-11-02T01:30:00-05:00", ingest_clock, ANALYTICS_TIMEZONE="America/New_York"
    )
    assert figure == {"tokens": 16, "previous": 3, "growth_pct": pytest.approx((16 - 3) / 3 * 100)}


def test_yesterday_shorter_than_todays_span_compares_by_wall_clock_not_duration(tmp_path: Path) -> None:
    # Yesterday (8 March 2026 in New York) had 23 hours; today at 23:30 has run 23.5 hours. The previous span is
    # yesterday up to 23:30 EDT (9 March 03:30 UTC), not 23.5 hours from its start (which would reach into today).
    events = [
        x("y1", "2026-03-08T23:29:00-04:00", 1),
        x("y2", "2026-03-08T23:45:00-04:00", 2),  # after 23:30 yesterday
        x("y3", "2026-03-09T00:10:00-04:00", 4),  # today (inside 23.5 h from yesterday's start)
        x("y4", "2026-03-09T23:29:59-04:00", 8),
    ]
    figure = today_so_far(tmp_path, events, "2026-03-09T23:30:00-04:00", ANALYTICS_TIMEZONE="America/New_York")
    assert figure == {"tokens": 12, "previous": 1, "growth_pct": pytest.approx(1100.0)}


def test_on_the_25_hour_day_the_previous_span_is_yesterday_up_to_the_same_wall_time(tmp_path: Path) -> None:
    # Today = Sunday 1 Nov 2026 in New York (25 hours); now 23:30 EST: 24.5 hours so far. Yesterday up to 23:30 EDT.
    events = [
        x("l1", "2026-10-31T23:29:00-04:00", 1),
        x("l2", "2026-10-31T23:31:00-04:00", 2),  # after the same wall time
        x("l3", "2026-11-01T01:30:00-05:00", 4),  # today's second 01:30
        x("l4", "2026-11-01T23:29:00-05:00", 8),
    ]
    figure = today_so_far(tmp_path, events, "2026-11-01T23:30:00-05:00", ANALYTICS_TIMEZONE="America/New_York")
    assert figure == {"tokens": 12, "previous": 1, "growth_pct": pytest.approx(1100.0)}


def test_wall_instant_rules() -> None:
    assert wall_instant(date(2026, 3, 8), time(2, 30), NY) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # gap -> 03:00 EDT
    assert wall_instant(date(2026, 3, 8), time(2, 0), NY) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert wall_instant(date(2026, 3, 8), time(3, 0), NY) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert wall_instant(date(2026, 11, 1), time(1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 1st: EDT
    assert wall_instant(date(2026, 11, 1), time(0, 0), NY) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def test_a_day_the_zone_skipped_leaves_an_empty_previous_span() -> None:
    # Samoa skipped 30 December 2011: "yesterday" of the 31st has no instant, so the span is clipped to nothing.
    apia = ZoneInfo("Pacific/Apia")
    window = TodaySoFar.at(datetime(2011, 12, 31, 5, 0, tzinfo=apia), apia)
    assert window.start == datetime(2011, 12, 30, 10, 0, tzinfo=UTC)  # 31 Dec 00:00 +14:00
    assert window.previous_start == window.previous_end == window.start


def test_report_prints_today_so_far_in_both_modes(tmp_path: Path) -> None:
    root = tmp_path / "export"
    b.events(
        root,
        "usage_events/e.parquet",
        [x("r1", "2026-12-06T09:00:00+08:00", 10), x("r2", "2026-12-05T09:30:00+08:00", 4)],
    )
    env = {
        "ANALYTICS_DATA_DIR": str(root),
        "ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"),
        "ANALYTICS_TIMEZONE": "Asia/Shanghai",
        "ANALYTICS_NOW": "2026-12-06T10:00:00+08:00",
        "PATH": "/usr/bin:/bin",
    }
    for mode in ("saas", "self-hosted"):
        done = subprocess.run(
            [sys.executable, "-m", "token_analytics", "report", "--account", "acct-x", "--mode", mode],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        printed = json.loads(done.stdout)
        assert printed["today_so_far"] == {"tokens": 10, "previous": 4, "growth_pct": 150.0}, mode


@pytest.mark.parametrize("ingest_clock", [None, LATER], ids=["hourly-rollup", "events-only"])
def test_partial_hours_count_the_winning_copy_of_events_exported_again_later(
    tmp_path: Path, ingest_clock: str | None
) -> None:
    # Now 6 Dec 10:42: the partial hours are today's, yesterday's and 6 Nov's 10:00-10:42 (month to date's
    # previous span), read in one statement; each has an event exported again in a later file (its path sorts
    # after the first), which wins: changed tokens, the same content, or a time moved out of the span.
    first = [
        x("t1", "2026-12-06T10:20:00+08:00", 5),
        x("y1", "2026-12-05T10:20:00+08:00", 7),
        x("p1", "2026-11-06T10:20:00+08:00", 9),
        x("p2", "2026-11-06T10:30:00+08:00", 11),
    ]
    later = [
        x("t1", "2026-12-06T10:20:00+08:00", 50),
        x("y1", "2026-12-05T10:20:00+08:00", 70),
        x("p1", "2026-11-06T10:20:00+08:00", 9),
        x("p2", "2026-11-06T10:50:00+08:00", 11),  # after 10:42: no longer in last month's span
    ]
    root = tmp_path / "export"
    b.events(root, "usage_events/a.parquet", first)
    b.events(root, "usage_events/b.parquet", later)
    at = "2026-12-06T10:42:00+08:00"
    settings = settings_for(tmp_path, root, ANALYTICS_NOW=ingest_clock or at)
    with Store.open(settings) as store:
        found = analysis_figures(store, "acct-x", datetime.fromisoformat(at), "saas").to_json()
        hosted = analysis_figures(store, "acct-x", datetime.fromisoformat(at), "self-hosted").to_json()
    assert hosted["today_so_far"] == found["today_so_far"]  # today so far's own statement
    assert found["today_so_far"] == {"tokens": 50, "previous": 70, "growth_pct": pytest.approx((50 - 70) / 70 * 100)}
    # this month so far: t1 and y1 (5 Dec is this month); last month to 6 Nov 10:42: p1 once
    assert (found["month_to_date"]["tokens"], found["month_to_date"]["previous"]) == (120, 9)
