"""Every figure of /analysis (SPEC §4), computed once for the page and for `report`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from token_analytics.engine import explore
from token_analytics.engine.explore import growth_pct
from token_analytics.engine.periods import Windows, month_start, next_month, previous_month
from token_analytics.engine.schema import SERVICES
from token_analytics.engine.store import Store
from token_analytics.engine.values import (
    Balance,
    Cards,
    Comparison,
    FigureSet,
    Growth,
    Leader,
    Pair,
    ServiceUsage,
    TokenUsage,
    Transaction,
)
from token_analytics.settings import LEADERBOARD_ENTRIES, RECENT_ENTRIES, Mode

RECENT_LIMIT = RECENT_ENTRIES
LEADERBOARD_LIMIT = LEADERBOARD_ENTRIES  # the depth the ingest keeps per month (account_months.leaderboard)
SPARK_DAYS = 30  # the Today and Service cards' sparklines: the last 30 local days, today included
SPARK_MONTHS = 12  # the Monthly card's: the last 12 calendar months, this one included


def percent_used(used: int, total: int) -> float | None:
    return used / total * 100 if total > 0 else None


def iso_time(value: Any, zone: ZoneInfo) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().astimezone(zone).isoformat()


def optional_text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def exported_plan(store: Store, account_id: str) -> str | None:
    """The plan the export gives the account (accounts.plan), None when missing or null.

    The plan shown and sold is billing's rule over this (billing.orders `Orders.current_plan`).
    """
    profile = store.run("account_profile", account_id=account_id)
    return optional_text(profile["plan"].iloc[0]) if len(profile) else None


def token_usage(store: Store, account_id: str, mode: str, all_time_tokens: int) -> TokenUsage:
    """SPEC §4 token usage of one account (the balance of /recharge and the alerts; /analysis reads it with more)."""
    ledger = (
        store.row(
            "analysis_ledger",
            account_id=account_id,
            limit=0,
            recent_entries=RECENT_ENTRIES,
            **explore.runway_params(store.settings.now(), store.settings.zone),  # the runway's part, not read here
        )
        if mode != Mode.SELF_HOSTED
        else None
    )
    return usage_of_ledger(ledger, all_time_tokens)


def usage_of_ledger(ledger: dict[str, Any] | None, all_time_tokens: int) -> TokenUsage:
    """Token usage from the row of queries/analysis_ledger.sql; None (self-hosted): all-time tokens, unlimited."""
    if ledger is None:
        return TokenUsage(used=all_time_tokens, total=None, remaining=None, percent_used=None, unlimited=True)
    used, total, remaining = int(ledger["used"]), int(ledger["total"]), int(ledger["remaining"])
    return TokenUsage(
        used=used, total=total, remaining=remaining, percent_used=percent_used(used, total), unlimited=False
    )


def usage_figures(store: Store, account_id: str, windows: Windows) -> dict[str, Any]:
    """Tokens and calls of today, yesterday, this month, last month and all time; this month's services and
    leaderboard (the rows of queries/analysis_usage.sql folded: a day or month without usage counts 0)."""
    _, rows = store.rows(
        "analysis_usage",
        account_id=account_id,
        today=windows.today,
        yesterday=windows.yesterday,
        month_start=windows.month_start,
        last_month_start=windows.last_month_start,
    )
    days = {(kind, day): (tokens, calls, services, leaders) for kind, day, tokens, calls, services, leaders in rows}
    empty = (0, 0, [{"service": service, "tokens": 0, "calls": 0} for service in SERVICES], [])
    today = days.get(("day", windows.today), empty)
    yesterday = days.get(("day", windows.yesterday), empty)
    month = days.get(("month", windows.month_start), empty)
    last_month = days.get(("month", windows.last_month_start), empty)
    return {
        "today_tokens": today[0],
        "today_calls": today[1],
        "yesterday_tokens": yesterday[0],
        "yesterday_calls": yesterday[1],
        "month_tokens": month[0],
        "month_calls": month[1],
        "last_month_tokens": last_month[0],
        "last_month_calls": last_month[1],
        "all_tokens": sum(tokens for kind, _, tokens, *_ in rows if kind == "all"),
        "all_calls": sum(calls for kind, _, _, calls, *_ in rows if kind == "all"),
        "services": month[2],
        "leaderboard": month[3],
    }


def today_so_far(store: Store, account_id: str, now: datetime) -> Growth:
    """SPEC §9: tokens today up to `now` against yesterday up to the same local wall-clock time.

    Its own statement, for the self-hosted mode; the SaaS figure set reads it from month to date's
    (`today_so_far_of`), which cuts the same spans by the same rule.
    """
    row = store.row("today_so_far", **explore.to_date_params(store, account_id, now, month=False))
    current, previous = int(row["tokens"]), int(row["previous"])
    return Growth(tokens=current, previous=previous, growth_pct=growth_pct(current, previous))


def today_so_far_of(rows: dict[str, list[Any]]) -> Growth:
    """Today so far from the rows of `explore.to_date_rows` (month to date's statement), summed over every key."""
    current, previous = sum(rows["today"]), sum(rows["yesterday"])
    return Growth(tokens=current, previous=previous, growth_pct=growth_pct(current, previous))


def analysis_figures(store: Store, account_id: str, now: datetime, mode: str) -> FigureSet:
    """The figures of SPEC §7 for one account at `now` (self-hosted: only token usage and today so far)."""
    with store.snapshot():  # one committed state for every figure, even while an ingest commits
        return _analysis_figures(store, account_id, now, mode)


def _analysis_figures(store: Store, account_id: str, now: datetime, mode: str) -> FigureSet:
    zone = store.settings.zone
    windows = Windows.at(now, zone)
    # Two statements for the usage, service, leaderboard, ledger and runway figures (each statement costs
    # milliseconds of binding and planning whatever it reads); rows come back as tuples, not DataFrames.
    usage = usage_figures(store, account_id, windows)
    saas = mode != Mode.SELF_HOSTED
    ledger = (
        store.row(
            "analysis_ledger",
            account_id=account_id,
            limit=RECENT_LIMIT,
            recent_entries=RECENT_ENTRIES,
            **explore.runway_params(now, zone),
        )
        if saas
        else None
    )
    token_use = usage_of_ledger(ledger, int(usage["all_tokens"]))
    if ledger is None:  # self-hosted: today so far alone, in a statement without month to date
        return FigureSet(
            token_usage=token_use,
            cards=None,
            comparison=None,
            services=None,
            recent_transactions=None,
            leaderboard=None,
            runway=None,
            month_to_date=None,
            today_so_far=today_so_far(store, account_id, now),
        )

    assert token_use.remaining is not None  # a ledger always gives a balance
    # month to date and today so far: one statement (its rows are per key; today so far sums them)
    to_date = explore.to_date_rows(store, account_id, now)
    cards = Cards(
        balance=Balance(tokens=token_use.remaining, owner_name=optional_text(ledger["owner_name"])),
        today=Growth(
            tokens=usage["today_tokens"],
            previous=usage["yesterday_tokens"],
            growth_pct=growth_pct(usage["today_tokens"], usage["yesterday_tokens"]),
        ),
        month=Growth(
            tokens=usage["month_tokens"],
            previous=usage["last_month_tokens"],
            growth_pct=growth_pct(usage["month_tokens"], usage["last_month_tokens"]),
        ),
        service_calls=usage["all_calls"],
    )
    comparison = Comparison(
        today_vs_yesterday=Pair(
            tokens=(usage["today_tokens"], usage["yesterday_tokens"]),
            calls=(usage["today_calls"], usage["yesterday_calls"]),
        ),
        month_vs_last_month=Pair(
            tokens=(usage["month_tokens"], usage["last_month_tokens"]),
            calls=(usage["month_calls"], usage["last_month_calls"]),
        ),
    )
    services = tuple(
        ServiceUsage(service=row["service"], tokens=int(row["tokens"]), calls=int(row["calls"]))
        for row in usage["services"]
    )
    recent = tuple(
        Transaction(
            txn_id=row["txn_id"],
            type=row["type"],
            amount=int(row["amount"]),
            created_at=iso_time(row["created_at"], zone),
            payment_method=optional_text(row["payment_method"]),
            description=optional_text(row["description"]),
        )
        for row in ledger["recent"]
    )
    leaderboard = tuple(
        Leader(
            rank=int(row["rank"]),
            user_id=optional_text(row["user_id"]),
            display_name=optional_text(row["display_name"]),
            tokens=int(row["tokens"]),
            calls=int(row["calls"]),
            share_pct=None if row["share_pct"] is None else float(row["share_pct"]),
        )
        for row in usage["leaderboard"]
    )
    return FigureSet(
        token_usage=token_use,
        cards=cards,
        comparison=comparison,
        services=services,
        recent_transactions=recent,
        leaderboard=leaderboard,
        runway=explore.runway_of(
            token_use.remaining, int(ledger["consumed_7d"]), int(ledger["consumed_30d"]), now.astimezone(zone).date()
        ),
        month_to_date=explore.month_to_date_of(to_date),
        today_so_far=today_so_far_of(to_date),
    )


def card_series(store: Store, account_id: str, now: datetime) -> dict[str, Any]:
    """The cards' own sparklines: daily tokens and daily calls of the last 30 local days, monthly tokens of 12 months.

    Each list is oldest first and ends with today / this month (partial); days and months without usage are 0.
    """
    today = now.astimezone(store.settings.zone).date()
    first_month = month_start(today)
    for _ in range(SPARK_MONTHS - 1):
        first_month = previous_month(first_month)
    first_day = today - timedelta(days=SPARK_DAYS - 1)
    _, found = store.rows("analysis_series", account_id=account_id, first_day=min(first_day, first_month), today=today)
    by_day = {row[0]: (int(row[1]), int(row[2])) for row in found}
    days = [first_day + timedelta(days=n) for n in range(SPARK_DAYS)]
    months = [first_month]
    while len(months) < SPARK_MONTHS:
        months.append(next_month(months[-1]))
    month_tokens = dict.fromkeys(months, 0)
    for day, (tokens, _) in by_day.items():
        month_tokens[month_start(day)] = month_tokens.get(month_start(day), 0) + tokens
    return {
        "days": days,
        "day_tokens": [by_day.get(day, (0, 0))[0] for day in days],
        "day_calls": [by_day.get(day, (0, 0))[1] for day in days],
        "months": months,
        "month_tokens": [month_tokens[month] for month in months],
    }
