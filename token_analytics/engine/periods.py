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


def wall_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant a local wall-clock time happens on `day` (SPEC §9).

    A time that does not exist that day (a DST gap) moves forward to the first instant after the gap;
    an ambiguous one (a DST fold) takes its first occurrence.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    moment = naive.replace(tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return moment.astimezone(UTC).astimezone(zone)
    # in a gap: gaps start and end on whole minutes, so the first wall minute that exists ends it
    probe = naive.replace(second=0, microsecond=0)
    while True:
        probe += timedelta(minutes=1)
        candidate = probe.replace(tzinfo=zone)
        if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == probe:
            return candidate.astimezone(UTC).astimezone(zone)


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
