"""Calendar windows in the configured zone (SPEC §4): whole local days and months, half-open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = day.replace(day=1)
    return (first + timedelta(days=32)).replace(day=1)


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts (DST-safe: zoneinfo resolves the wall time)."""
    return datetime.combine(day, time(0), tzinfo=zone)


@dataclass(frozen=True)
class Windows:
    """The local days that "now" picks: today, yesterday, this month, last month."""

    today: date
    yesterday: date
    month_start: date
    next_month_start: date
    last_month_start: date

    @classmethod
    def at(cls, now: datetime, zone: ZoneInfo) -> Windows:
        today = now.astimezone(zone).date()
        return cls(
            today=today,
            yesterday=today - timedelta(days=1),
            month_start=month_start(today),
            next_month_start=next_month(today),
            last_month_start=previous_month(today),
        )

    def params(self) -> dict[str, date]:
        return {
            "today": self.today,
            "yesterday": self.yesterday,
            "month_start": self.month_start,
            "next_month_start": self.next_month_start,
            "last_month_start": self.last_month_start,
        }


# --- calendar units and like-for-like spans (SPEC §9) ------------------------------------------------

UNITS = ("day", "week", "month", "year")


def unit_start(day: date, unit: str) -> date:
    """The first day of the local day, ISO week (Monday), month or year holding `day`."""
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown unit {unit!r}")


def next_unit_start(start: date, unit: str) -> date:
    """The first day of the unit after the one starting on `start`."""
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(weeks=1)
    if unit == "month":
        return next_month(start)
    if unit == "year":
        return start.replace(year=start.year + 1, month=1, day=1)
    raise ValueError(f"unknown unit {unit!r}")


def previous_unit_start(start: date, unit: str) -> date:
    """The first day of the unit before the one starting on `start`."""
    if unit == "day":
        return start - timedelta(days=1)
    if unit == "week":
        return start - timedelta(weeks=1)
    if unit == "month":
        return previous_month(start)
    if unit == "year":
        return start.replace(year=start.year - 1, month=1, day=1)
    raise ValueError(f"unknown unit {unit!r}")


def same_span_end(now: datetime, unit: str, zone: ZoneInfo) -> datetime:
    """The end of the previous unit cut to the span [unit start, now): as many whole local days into it, at
    the same wall-clock time, clipped to the previous unit's end when that unit is shorter (SPEC §9)."""
    local = now.astimezone(zone)
    start = unit_start(local.date(), unit)
    before = previous_unit_start(start, unit)
    into = (local.date() - start).days
    if into >= (start - before).days:
        return local_midnight(start, zone)
    return wall_instant(before + timedelta(days=into), local.timetz(), zone)


def wall_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the local wall-clock time `wall` on `day` (SPEC §9).

    A time that does not exist that day (a DST gap) moves forward to the first instant after the gap;
    an ambiguous one (a fall-back fold) takes its first occurrence.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # the wall time exists; fold=0 is its first occurrence when it is ambiguous
    # In a gap zoneinfo's fold=0 applies the offset before the transition, landing as far after the gap as
    # `wall` is inside it; fold=1 lands as far before it. The transition lies between: search for the first
    # instant whose wall time has reached `wall` (wall time only moves forward over a gap).
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if low > first:
        low, first = first, low
    span = int((first - low) / timedelta(microseconds=1))
    lo, hi = 0, span
    while lo < hi:
        mid = (lo + hi) // 2
        if (low + timedelta(microseconds=mid)).astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return low + timedelta(microseconds=lo)


@dataclass(frozen=True)
class TodaySoFar:
    """SPEC §9 "today so far": [today's start, now) against [yesterday's start, the same wall time yesterday).

    Every bound is a UTC instant; `previous_end` is clipped to today's start.
    """

    today: date
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime

    @property
    def previous_is_whole_day(self) -> bool:
        return self.previous_end >= self.start

    @classmethod
    def at(cls, now: datetime, zone: ZoneInfo) -> TodaySoFar:
        local = now.astimezone(zone)
        today = local.date()
        yesterday = today - timedelta(days=1)
        start = wall_instant(today, time(0), zone)
        previous_end = min(wall_instant(yesterday, local.time(), zone), start)
        previous_start = min(wall_instant(yesterday, time(0), zone), previous_end)
        return cls(today, start, now.astimezone(UTC), previous_start, previous_end)
