"""Every figure of /analysis (SPEC §4), computed once for the page and for `report`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from token_analytics.billing.appdb import PLANS, AppDB
from token_analytics.engine import explore
from token_analytics.engine.explore import growth_pct
from token_analytics.engine.periods import Windows
from token_analytics.engine.store import Store

RECENT_LIMIT = 10
LEADERBOARD_LIMIT = 10


def percent_used(used: int, total: int) -> float | None:
    return used / total * 100 if total > 0 else None


def iso_time(value: Any, zone: ZoneInfo) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().astimezone(zone).isoformat()


def optional_text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def current_plan(store: Store, appdb: AppDB, account_id: str) -> str:
    """The account's plan now: its latest paid plan order in the app, else the exported plan, else free.

    One source for every page that shows or sells a plan (/analysis, /subscription). A missing,
    null or unknown exported plan reads as free.
    """
    profile = store.run("account_profile", account_id=account_id)
    exported = optional_text(profile["plan"].iloc[0]) if len(profile) else None
    plan = appdb.current_plan(account_id, default=exported or "free")
    return plan if plan in PLANS else "free"


def token_usage(store: Store, account_id: str, mode: str, all_time_tokens: int) -> dict[str, Any]:
    if mode == "self-hosted":
        return {"used": all_time_tokens, "total": None, "remaining": None, "percent_used": None, "unlimited": True}
    row = store.run("token_usage", account_id=account_id).iloc[0]
    used, total, remaining = int(row["used"]), int(row["total"]), int(row["remaining"])
    return {
        "used": used,
        "total": total,
        "remaining": remaining,
        "percent_used": percent_used(used, total),
        "unlimited": False,
    }


def analysis_figures(store: Store, account_id: str, now: datetime, mode: str) -> dict[str, Any]:
    """The JSON object of SPEC §7 for one account at `now` (self-hosted: only token_usage)."""
    with store.snapshot():  # one committed state for every figure, even while an ingest commits
        return _analysis_figures(store, account_id, now, mode)


def _analysis_figures(store: Store, account_id: str, now: datetime, mode: str) -> dict[str, Any]:
    zone = store.settings.zone
    windows = Windows.at(now, zone)
    usage = store.run("usage_by_period", account_id=account_id, **windows.params()).iloc[0]
    usage = {key: int(value) for key, value in usage.items()}
    figures: dict[str, Any] = {
        "token_usage": token_usage(store, account_id, mode, usage["all_tokens"]),
        "cards": None,
        "comparison": None,
        "services": None,
        "recent_transactions": None,
        "leaderboard": None,
        "runway": None,
        "month_to_date": None,
    }
    if mode == "self-hosted":
        return figures

    profile = store.run("account_profile", account_id=account_id)
    month = {"account_id": account_id, "start_day": windows.month_start, "end_day": windows.next_month_start}
    figures["cards"] = {
        "balance": {
            "tokens": figures["token_usage"]["remaining"],
            "owner_name": optional_text(profile["owner_name"].iloc[0]) if len(profile) else None,
        },
        "today": {
            "tokens": usage["today_tokens"],
            "previous": usage["yesterday_tokens"],
            "growth_pct": growth_pct(usage["today_tokens"], usage["yesterday_tokens"]),
        },
        "month": {
            "tokens": usage["month_tokens"],
            "previous": usage["last_month_tokens"],
            "growth_pct": growth_pct(usage["month_tokens"], usage["last_month_tokens"]),
        },
        "service_calls": usage["all_calls"],
    }
    figures["comparison"] = {
        "today_vs_yesterday": {
            "tokens": [usage["today_tokens"], usage["yesterday_tokens"]],
            "calls": [usage["today_calls"], usage["yesterday_calls"]],
        },
        "month_vs_last_month": {
            "tokens": [usage["month_tokens"], usage["last_month_tokens"]],
            "calls": [usage["month_calls"], usage["last_month_calls"]],
        },
    }
    figures["services"] = [
        {"service": row.service, "tokens": int(row.tokens), "calls": int(row.calls)}
        for row in store.run("tokens_by_service", **month).itertuples()
    ]
    figures["recent_transactions"] = [
        {
            "txn_id": row.txn_id,
            "type": row.type,
            "amount": int(row.amount),
            "created_at": iso_time(row.created_at, zone),
            "payment_method": optional_text(row.payment_method),
            "description": optional_text(row.description),
        }
        for row in store.run("recent_transactions", account_id=account_id, limit=RECENT_LIMIT).itertuples()
    ]
    figures["leaderboard"] = [
        {
            "rank": int(row.rank),
            "user_id": optional_text(row.user_id),
            "display_name": optional_text(row.display_name),
            "tokens": int(row.tokens),
            "calls": int(row.calls),
            "share_pct": None if pd.isna(row.share_pct) else float(row.share_pct),
        }
        for row in store.run("top_members", limit=LEADERBOARD_LIMIT, **month).itertuples()
    ]
    figures["runway"] = explore.runway(store, account_id, figures["token_usage"]["remaining"], now)
    figures["month_to_date"] = explore.month_to_date(store, account_id, now)
    return figures
