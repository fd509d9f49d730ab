"""Calendar windows in the configured zone (SPEC §4): whole local days and months, half-open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
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
