"""The figures assembled the SPEC §7 way, and the engine part that times analysis_figures()."""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .common import NOW, RECENT_LIMIT, BenchError, log, timed_runs
from .data import settings_env

# --- figures assembled the SPEC §7 way (shared by the pandas and raw-parquet implementations) ----------------------


def growth(current: int, previous: int) -> float | None:
    if current == previous:
        return 0.0
    if previous <= 0:
        return None
    return (current - previous) / previous * 100


def assemble(
    usage: dict[str, int],
    used: int,
    total: int,
    owner: str | None,
    services: list[tuple[str, int, int]],
    recent: list[dict[str, Any]],
    leaders: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "token_usage": {
            "used": used,
            "total": total,
            "remaining": total - used,
            "percent_used": used / total * 100 if total > 0 else None,
            "unlimited": False,
        },
        "cards": {
            "balance": {"tokens": total - used, "owner_name": owner},
            "today": {
                "tokens": usage["today_tokens"],
                "previous": usage["yesterday_tokens"],
                "growth_pct": growth(usage["today_tokens"], usage["yesterday_tokens"]),
            },
            "month": {
                "tokens": usage["month_tokens"],
                "previous": usage["last_month_tokens"],
                "growth_pct": growth(usage["month_tokens"], usage["last_month_tokens"]),
            },
            "service_calls": usage["all_calls"],
        },
        "comparison": {
            "today_vs_yesterday": {
                "tokens": [usage["today_tokens"], usage["yesterday_tokens"]],
                "calls": [usage["today_calls"], usage["yesterday_calls"]],
            },
            "month_vs_last_month": {
                "tokens": [usage["month_tokens"], usage["last_month_tokens"]],
                "calls": [usage["month_calls"], usage["last_month_calls"]],
            },
        },
        "services": [{"service": s, "tokens": t, "calls": c} for s, t, c in services],
        "recent_transactions": recent,
        "leaderboard": leaders,
    }


def windows(now: datetime, zone: Any) -> dict[str, date]:
    """The local days SPEC §4 picks at `now` (computed here, independently of the engine's periods.py)."""
    today = now.astimezone(zone).date()
    month_start = today.replace(day=1)
    return {
        "today": today,
        "yesterday": today - timedelta(days=1),
        "month_start": month_start,
        "next_month_start": (month_start + timedelta(days=32)).replace(day=1),
        "last_month_start": (month_start - timedelta(days=1)).replace(day=1),
    }


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two figure dicts differ (floats within 1e-9 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{path}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{path}: {a!r} vs {b!r}"]
    if isinstance(b, float) and isinstance(a, int) and not isinstance(a, bool):
        return differences(b, a, path)
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} vs {b!r}"]


def part_engine(spec: dict[str, Any]) -> dict[str, Any]:
    """The figure set of one page view, for the largest and the median account, on the ingested cache."""
    from token_analytics.engine.figures import analysis_figures
    from token_analytics.engine.store import Store
    from token_analytics.settings import load_settings

    settings = load_settings(settings_env(Path(spec["data_dir"]), Path(spec["work"])))
    now = datetime.fromisoformat(NOW)
    started = time.perf_counter()
    store = Store.open(settings)
    reopen = time.perf_counter() - started
    if store.last_summary is not None and store.last_summary.rebuilt:
        raise BenchError("the engine part found files to ingest; the ingest part should have read them all")
    ranking = (
        store.cursor()
        .execute(
            "select account_id, sum(calls)::bigint from usage_daily group by account_id order by 2 desc, account_id"
        )
        .fetchall()
    )
    if not ranking:
        raise BenchError("no usage in the cache")
    picks = {"largest": ranking[0], "median": ranking[len(ranking) // 2], "smallest": ranking[-1]}
    out: dict[str, Any] = {"reopen_s": reopen, "accounts": len(ranking), "views": {}}
    for label, (account, events) in picks.items():
        log(f"  engine: {label} account {account} ({events:,} events)")
        timing = timed_runs(
            lambda a=account: analysis_figures(store, a, now, "saas"), spec["runs"], spec["warmups"], spec["budget"]
        )
        figures = analysis_figures(store, account, now, "saas").to_json()
        out["views"][label] = {"account": account, "events": events, **timing, "figures": figures}
    out["breakdown_ms"] = query_breakdown(store, picks["largest"][0], now, spec)
    store.close()
    return out


def query_breakdown(store: Any, account: str, now: datetime, spec: dict[str, Any]) -> dict[str, float]:
    """Median ms of each part of the figure set (diagnostic; skipped if the engine's API moved)."""
    try:
        from token_analytics.engine import explore, figures
        from token_analytics.engine.periods import Windows

        windows = Windows.at(now, store.settings.zone)
        parts = {
            "analysis_usage": lambda: figures.usage_figures(store, account, windows),
            # the ledger, its latest entries and the runway's consumption: one statement
            "analysis_ledger (with the runway)": lambda: store.row(
                "analysis_ledger",
                account_id=account,
                limit=RECENT_LIMIT,
                recent_entries=RECENT_LIMIT,
                **explore.runway_params(now, store.settings.zone),
            ),
            # month to date and today so far: one statement
            "month_to_date with today_so_far (query + contributors)": lambda: explore.month_to_date(
                store, account, now
            ),
            # the self-hosted mode's statement, not part of the SaaS set
            "today_so_far (self-hosted)": lambda: figures.today_so_far(store, account, now),
        }
        return {name: 1000 * timed_runs(part, spec["runs"], 1, 5)["median_s"] for name, part in parts.items()}
    except Exception as exc:  # a diagnostic must not sink the benchmark
        log(f"  engine: query breakdown skipped ({type(exc).__name__}: {exc})")
        return {}
