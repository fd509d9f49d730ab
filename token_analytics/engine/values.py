"""The figures as values: frozen dataclasses with one `to_json()` that `report`, the service and the benchmarks print.

A page reads attributes (`figures.cards.today.tokens`), `report` prints `figures.to_json()`; both come
from the same value, so what the page draws and what `report` prints cannot drift apart. Fields are
declared in the order SPEC §7 prints them: `to_json()` keeps that order, and `report` stays the same
text byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any


def json_of(value: Any) -> Any:
    """A value as JSON-ready Python: dataclasses become dicts in field order, tuples become lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_of(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [json_of(item) for item in value]
    if isinstance(value, dict):
        return {key: json_of(item) for key, item in value.items()}
    return value


class JsonValue:
    """`to_json()` for a frozen dataclass of figures."""

    def to_json(self) -> dict[str, Any]:
        return json_of(self)


@dataclass(frozen=True)
class TokenUsage(JsonValue):
    """SPEC §4 token usage; self-hosted: all-time tokens used, no total (unlimited)."""

    used: int
    total: int | None
    remaining: int | None
    percent_used: float | None
    unlimited: bool


@dataclass(frozen=True)
class Growth(JsonValue):
    """Tokens of a span against the span before it (SPEC §9); `growth_pct` is None when there was nothing before.

    Today so far (today up to now against yesterday up to the same wall-clock time) is one of these.
    """

    tokens: int
    previous: int
    growth_pct: float | None


@dataclass(frozen=True)
class Balance(JsonValue):
    tokens: int | None
    owner_name: str | None


@dataclass(frozen=True)
class Cards(JsonValue):
    """The four cards: balance, today (whole days), this month (whole months), service calls of all time."""

    balance: Balance
    today: Growth
    month: Growth
    service_calls: int


@dataclass(frozen=True)
class Pair(JsonValue):
    """(current, previous) of tokens and of calls: one comparison chart each."""

    tokens: tuple[int, int]
    calls: tuple[int, int]


@dataclass(frozen=True)
class Comparison(JsonValue):
    today_vs_yesterday: Pair
    month_vs_last_month: Pair


@dataclass(frozen=True)
class ServiceUsage(JsonValue):
    service: str
    tokens: int
    calls: int


@dataclass(frozen=True)
class Transaction(JsonValue):
    """One ledger entry; `created_at` is ISO-8601 in the business zone."""

    txn_id: str
    type: str
    amount: int
    created_at: str | None
    payment_method: str | None
    description: str | None


@dataclass(frozen=True)
class Leader(JsonValue):
    """One leaderboard row; usage without a user id has no name (None)."""

    rank: int
    user_id: str | None
    display_name: str | None
    tokens: int
    calls: int
    share_pct: float | None


@dataclass(frozen=True)
class Runway(JsonValue):
    """SPEC §8: days the balance lasts at the average consumption of the last 7 and 30 complete days.

    A status is "ok", "not_running_out" or "overdrawn"; `runs_out_on_*` is an ISO date, None past year 9999.
    """

    balance: int
    burn_7d: float
    burn_30d: float
    status_7d: str
    status_30d: str
    days_left_7d: int | None
    days_left_30d: int | None
    runs_out_on_7d: str | None
    runs_out_on_30d: str | None

    def status(self, days: int) -> str:
        return self.status_7d if days == 7 else self.status_30d

    def burn(self, days: int) -> float:
        return self.burn_7d if days == 7 else self.burn_30d

    def days_left(self, days: int) -> int | None:
        return self.days_left_7d if days == 7 else self.days_left_30d

    def runs_out_on(self, days: int) -> str | None:
        return self.runs_out_on_7d if days == 7 else self.runs_out_on_30d


@dataclass(frozen=True)
class Contribution(JsonValue):
    """One key's change (current - previous) of this month so far."""

    key: str
    label: str
    change: int


@dataclass(frozen=True)
class Contributors(JsonValue):
    """The largest contributors by absolute change, per dimension."""

    member: tuple[Contribution, ...]
    service: tuple[Contribution, ...]
    model: tuple[Contribution, ...]

    def of(self, dimension: str) -> tuple[Contribution, ...]:
        return {"member": self.member, "service": self.service, "model": self.model}[dimension]


@dataclass(frozen=True)
class MonthToDate(JsonValue):
    """SPEC §8: this month so far against the same span of last month, and who moved it."""

    tokens: int
    previous: int
    growth_pct: float | None
    contributors: Contributors


@dataclass(frozen=True)
class FigureSet(JsonValue):
    """Every figure of /analysis for one account at one instant (SPEC §7); self-hosted: token usage and today so far."""

    token_usage: TokenUsage
    cards: Cards | None
    comparison: Comparison | None
    services: tuple[ServiceUsage, ...] | None
    recent_transactions: tuple[Transaction, ...] | None
    leaderboard: tuple[Leader, ...] | None
    runway: Runway | None
    month_to_date: MonthToDate | None
    today_so_far: Growth
