"""Benchmark of every /explore view. Not a test.

    python benchmarks/bench_explore.py [--events 1000000] [--accounts 50] [--data-dir DIR] [--runs 5] [--engine-only]

Uses the benchmark's generated exports (benchmarks/.data, made once per size by engine_bench; or
`--data-dir`), ingests them into a scratch cache, then for the largest and a small account times
each explore view warm, "from a changed widget to computed figures": `explore.explore()` (and the
drill-down, rankings, runway and month to date) exactly as the page calls them, drawing excluded.
The same view is computed in plain pandas over the de-duplicated events held in memory, and the two
results are compared (total, previous total, table). Prints one line per view (median of the runs)
and the derived tables' size. `--engine-only` skips pandas (minutes per account on a loaded machine).
No asserts, no targets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.engine_bench.common import NOW, TIMEZONE  # noqa: E402
from benchmarks.engine_bench.data import ensure_data, export_files  # noqa: E402
from token_analytics.engine import explore as ex  # noqa: E402
from token_analytics.engine.store import Store  # noqa: E402
from token_analytics.settings import load_settings  # noqa: E402


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    result = fn()  # warm-up: caches, the first plan
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def views() -> list[ex.View]:
    """Every preset with every grouping; hour buckets where allowed, otherwise day, week or month."""
    out = []
    for period in ex.PRESETS:
        custom = {"start": date(2026, 9, 1), "end": date(2026, 11, 29)} if period == "custom" else {}
        for group in ex.GROUPS:
            granularity = {
                "today": "hour",
                "yesterday": "hour",
                "this_week": "hour",
                "last_7_days": "hour",
                "last_7_days_today": "hour",
                "this_year": "month",
                "last_year": "month",
                "last_90_days": "week",
                "last_90_days_today": "week",
            }.get(period, "week" if period == "custom" else "day")
            out.append(ex.View(period=period, granularity=granularity, group=group, top=10, **custom))
    base = ex.View(period="last_30_days", group="member")
    out.append(replace(base, metric="input_tokens"))
    out.append(replace(base, metric="calls", services=("agent",)))
    return out


# --- the same views in plain pandas ---------------------------------------------------------------------


def load_events(data_dir: Path, zone: str) -> pd.DataFrame:
    """Every usage event, de-duplicated by event_id (the file whose path sorts last wins), with its local day."""
    frames = []
    for rank, path in enumerate(export_files(data_dir, "usage_events")):
        frame = pq.read_table(path).to_pandas()
        frame["file_rank"] = rank
        frames.append(frame)
    events = pd.concat(frames, ignore_index=True)
    events = events.sort_values(["file_rank"], kind="stable").drop_duplicates("event_id", keep="last")
    events = events[events["service"].isin(("agent", "operator", "assistant")) & (events["tokens"] >= 0)]
    local = pd.to_datetime(events["occurred_at"], utc=True).dt.tz_convert(zone)
    events = events.assign(
        day=local.dt.tz_localize(None).dt.normalize(),
        member=events["user_id"].fillna(ex.UNKNOWN),
        model=events["model"].fillna(ex.UNKNOWN) if "model" in events else ex.UNKNOWN,
        calls=1,
    )
    return events[["account_id", "day", "member", "service", "model", "tokens", "calls", "input_tokens"]]


def pandas_view(events: pd.DataFrame, account: str, view: ex.View, today: date) -> dict[str, Any]:
    """One explore view from the events: totals now and before, top N + Other, and the series."""
    period, previous = view.periods(today)
    mine = events[events["account_id"] == account]
    days = mine["day"]
    current = mine[(days >= pd.Timestamp(period.start)) & (days < pd.Timestamp(period.end))]
    before = mine[(days >= pd.Timestamp(previous.start)) & (days < pd.Timestamp(previous.end))]
    for name, column in (("services", "service"), ("members", "member"), ("models", "model")):
        wanted = getattr(view, name)
        if wanted:
            current, before = current[current[column].isin(wanted)], before[before[column].isin(wanted)]
    metric = view.metric
    key = {"service": "service", "member": "member", "model": "model"}.get(view.group)
    if key is None:
        now_by = pd.Series({ex.TOTAL_KEY: current[metric].sum()})
        then_by = pd.Series({ex.TOTAL_KEY: before[metric].sum()})
    else:
        now_by, then_by = current.groupby(key)[metric].sum(), before.groupby(key)[metric].sum()
    keys = sorted(set(now_by.index) | set(then_by.index))
    ranked = sorted(keys, key=lambda k: (-int(now_by.get(k, 0)), k))
    shown = ranked[: view.top] if key else ranked
    rows = [(k, int(now_by.get(k, 0)), int(then_by.get(k, 0))) for k in shown]
    total, previous_total = int(now_by.sum()), int(then_by.sum())
    if len(ranked) > len(shown):
        rows.append((None, total - sum(r[1] for r in rows), previous_total - sum(r[2] for r in rows)))
    bucket = current["day"]
    if view.granularity == "week":
        bucket = bucket - pd.to_timedelta(bucket.dt.day_of_week, unit="D")
    elif view.granularity == "month":
        bucket = bucket.dt.to_period("M").dt.start_time
    folded = current[key].where(current[key].isin(shown), None) if key else ex.TOTAL_KEY
    series = current.assign(bucket=bucket, key=folded).groupby(["bucket", "key"], dropna=False)[metric].sum()
    return {"total": total, "previous_total": previous_total, "rows": rows, "buckets": len(series)}


def heavy_views(today: date) -> list[tuple[str, ex.View]]:
    """The heaviest views a URL can ask for: the most bars (MAX_BUCKETS days, 14 days of hours) by member, top 20,
    and the forged ten years by day, which the cap draws by month."""
    first = today - timedelta(days=ex.MAX_BUCKETS - 1)
    return [
        (
            f"{ex.MAX_BUCKETS} days by day x member top 20",
            ex.View(period="custom", start=first, end=today, granularity="day", group="member", top=20),
        ),
        (
            "14 days by hour x member top 20",
            ex.View(
                period="custom", start=today - timedelta(days=13), end=today, granularity="hour", group="member", top=20
            ),
        ),
        (
            "10 years by day x member (capped: months)",
            ex.View(
                period="custom",
                start=today - timedelta(days=ex.CUSTOM_MAX_DAYS - 1),
                end=today,
                granularity="day",
                group="member",
                top=20,
            ),
        ),
    ]


def bench_heavy(store: Store, account: str, now: datetime, runs: int) -> float:
    """Server time of the heaviest allowed views: the figures, the chart and the table as the page builds them."""
    from token_analytics.web import explore_ui

    today = now.astimezone(store.settings.zone).date()
    zone = store.settings.zone
    print(f"\nheaviest allowed views, account {account}: figures + chart + table (ms)")
    worst = 0.0
    for label, view in heavy_views(today):
        cleaned, notices = ex.clean_view(view, today, ex.hourly_from(store), zone)

        def page(v: ex.View = cleaned) -> Any:
            result = ex.explore(store, account, v, now)
            json.dumps(explore_ui.stacked_bars(result, zone, v.group, title="t"))
            return explore_ui.group_table(result, v.group), result

        ms, (_, result) = median_ms(page, runs)
        worst = max(worst, ms)
        bars = len(result.series["bucket"].unique())
        print(f"{label:58} {ms:10.1f}  {cleaned.granularity}, {bars} bars x {len(result.labels)} groups {notices}")
    return worst


def engine_rows(result: ex.Explore) -> list[tuple[Any, int, int]]:
    return [(None if r.is_other else r.key, int(r.value), int(r.previous)) for r in result.table.itertuples()]


def bench_account(
    store: Store, events: pd.DataFrame | None, account: str, calls: int, now: datetime, runs: int
) -> float:
    """Print one account's views and the /analysis extras; the slowest engine time in ms."""
    today = now.astimezone(store.settings.zone).date()
    print(f"\naccount {account} ({calls:,} calls)")
    print(f"{'view':58} {'engine ms':>10}" + ("" if events is None else f" {'pandas ms':>10} {'ratio':>7}  same"))
    worst = 0.0
    for view in views():
        engine_ms, result = median_ms(lambda v=view: ex.explore(store, account, v, today), runs)
        worst = max(worst, engine_ms)
        name = f"{view.period}/{view.granularity}/{view.metric}/{view.group}" + ("+filter" if view.services else "")
        if events is None:
            print(f"{name:58} {engine_ms:10.1f}")
            continue
        pandas_ms, expected = median_ms(lambda v=view: pandas_view(events, account, v, today), max(1, runs // 2))
        same = (
            expected["total"] == result.total
            and expected["previous_total"] == result.previous_total
            and expected["rows"] == engine_rows(result)
        ) or (view.metric in ex.IO_METRICS and not result.available)
        print(f"{name:58} {engine_ms:10.1f} {pandas_ms:10.1f} {pandas_ms / engine_ms:6.0f}x  {same}")
    member = str(ex.explore(store, account, ex.View(group="member"), today).table["key"].iloc[0])
    extras: list[tuple[str, Callable[[], Any]]] = [
        (
            "drill-down by service",
            lambda: ex.explore(store, account, ex.View(group="service", members=(member,)), today),
        ),
        ("drill-down by model", lambda: ex.explore(store, account, ex.View(group="model", members=(member,)), today)),
        ("rankings this month", lambda: ex.rankings(store, account, *ex.periods_for("this_month", now))),
        ("runway", lambda: ex.runway(store, account, 1_000_000, now)),
        ("month to date + contributors", lambda: ex.month_to_date(store, account, now)),
        # the clock above is on the hour: 37 minutes later the partial hour reads events too
        ("month to date, 37 min into the hour", lambda: ex.month_to_date(store, account, now + timedelta(minutes=37))),
        ("sparkline (30 days)", lambda: ex.daily_tokens(store, account, today - timedelta(days=29), today)),
    ]
    for label, fn in extras:
        ms, _ = median_ms(fn, runs)
        worst = max(worst, ms)
        print(f"{label:58} {ms:10.1f}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--data-dir", type=Path, help="an export folder instead of the generated one")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engine-only", action="store_true", help="time the engine only, not plain pandas")
    parser.add_argument("--heavy-only", action="store_true", help="time only the heaviest allowed views")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or ensure_data(args.events, args.accounts, fresh=False)[0]
    work = Path(tempfile.mkdtemp(prefix="bench-explore-"))
    settings = load_settings(
        {
            "ANALYTICS_DATA_DIR": str(data_dir),
            "ANALYTICS_TIMEZONE": TIMEZONE,
            "ANALYTICS_NOW": NOW,
            "ANALYTICS_APP_DB": str(work / "app.duckdb"),
            "ANALYTICS_CACHE_DB": str(work / "cache.duckdb"),
        }
    )
    started = time.perf_counter()
    store = Store.open(settings)
    print(f"ingest of {data_dir.name}: {time.perf_counter() - started:.1f} s", flush=True)
    now = datetime.fromisoformat(NOW)
    cur = store.cursor()
    counts = {
        table: cur.execute(sql).fetchone()[0]
        for table, sql in (
            ("raw_events", "select count(*) from raw_events"),
            ("usage_daily", "select count(*) from usage_daily"),
            ("usage_hourly", "select count(*) from usage_hourly"),
        )
    }
    size_mb = (work / "cache.duckdb").stat().st_size / 1e6
    print(
        f"derived tables: usage_daily {counts['usage_daily']:,} rows, usage_hourly {counts['usage_hourly']:,} rows "
        f"for {counts['raw_events']:,} stored events; cache file {size_mb:,.0f} MB"
    )
    per_account = cur.execute(
        "select account_id, sum(calls) as calls from usage_daily group by account_id order by calls desc, account_id"
    ).fetchall()
    accounts = [per_account[0][0], per_account[len(per_account) // 2][0]]
    heaviest = bench_heavy(store, accounts[0], now, args.runs)
    if args.heavy_only:
        print(f"\nheaviest allowed view: {heaviest:.1f} ms")
        store.close()
        return 0
    events = None
    if not args.engine_only:
        started = time.perf_counter()
        events = load_events(data_dir, settings.timezone)
        print(f"pandas: {len(events):,} de-duplicated events loaded in {time.perf_counter() - started:.1f} s (untimed)")
    worst = max(
        bench_account(store, events, account, dict(per_account)[account], now, args.runs) for account in accounts
    )
    print(f"\nslowest: {worst:.1f} ms (target 100 ms at 10M events)")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
