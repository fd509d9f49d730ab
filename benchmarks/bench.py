"""Benchmark of the data engine (issue 2): ingest, figure set, plain pandas, DuckDB over raw parquet.

    python benchmarks/bench.py [--sizes 1000000,10000000] [--with-100m] [--runs 7] [--keep | --no-keep] [--fresh]
                               [--json results.json]

Not a test. For each size it generates sample exports once (fixed seed and clock, reused
from benchmarks/.data/ unless --fresh), then runs every measured part in its own child
process so that each part's peak memory is its own (the child's VmHWM; see peak_mb):

  baseline   python + duckdb + pandas + pyarrow imported, nothing else (the floor of every peak)
  ingest     Store.open(settings) on a fresh cache: wall time, events/s, phases
  engine     analysis_figures() for the largest and the median account, median of warm runs
  pandas     a plain pandas implementation of the same figures: load once, then per page view
  raw        the same figures as DuckDB SQL straight over the parquet files (no ingest, no rollup)
  diag       where ingest time goes: parquet decode, plain copy into DuckDB, each rebuild statement
  incr       one small export file added to the ingested cache: the incremental ingest

The pandas and raw-parquet figures are checked against the engine's (they must be equal)
before any ratio is printed. Progress goes to stderr, the tables to stdout. The exit status
is 1 when a part fails or the figures disagree; a missed target is reported, not an error.
See docs/BENCHMARK.md for the measured tables and how to read them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA_ROOT = ROOT / "benchmarks" / ".data"
NOW = "2026-11-29T10:00:00+08:00"
TIMEZONE = "Asia/Shanghai"
SEED = 20261129
DEFAULT_SIZES = (1_000_000, 10_000_000)
BIG_SIZE = 100_000_000
INCREMENT_EVENTS = 1_000
SELF_CHECK_EVENTS = 50_000
SELF_CHECK_QUARANTINED = 61  # what part_mess writes: 60 bad events and one CONSUME of the wrong sign
RECENT_LIMIT = 10
LEADERBOARD_LIMIT = 10
SERVICES = ("agent", "operator", "assistant")
TXN_TYPES = ("CONSUME", "RECHARGE", "BONUS", "REFUND", "ADJUSTMENT")
KINDS = ("accounts", "members", "usage_events", "transactions")
# The modules the measured code paths run (Store.open, ingest, analysis_figures, generate).
ENGINE_MODULES = (
    "engine/store",
    "engine/ingest",
    "engine/figures",
    "engine/periods",
    "settings",
    "engine/schema",
    "billing/appdb",
    "engine/sample",
)

# Targets of issue 2, defined at 10M events.
TARGET_SIZE = 10_000_000
TARGET_FIGURES_MS = 20.0
TARGET_PANDAS_RATIO = 50.0
TARGET_INGEST_EPS = 2_000_000.0
TARGET_PEAK_MB = 1000.0
# Peak memory of the pandas part per event (measured: 2.9 GB at 10M events); it is skipped when the
# machine has not got that much available (100M events would need about 30 GB).
PANDAS_BYTES_PER_EVENT = 300


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- timing helpers ----------------------------------------------------------------------------------------------


def timed_runs(fn: Callable[[], Any], runs: int, warmups: int, budget_s: float) -> dict[str, Any]:
    """Median of warm runs; slow functions warm up once and stop after `budget_s` once they have three runs."""
    started = time.perf_counter()
    for _ in range(warmups):
        fn()
        if time.perf_counter() - started > budget_s / 5:
            break
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < runs:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - started > budget_s:
            break
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}


def peak_mb() -> float | None:
    """This process's own peak RSS (VmHWM of its address space), in MB.

    Not getrusage: on Linux a child's ru_maxrss also carries the peak of the address space it
    replaced at exec, which for a vfork/posix_spawn child is the parent's.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


# --- data ---------------------------------------------------------------------------------------------------------


def data_dir_for(size: int, accounts: int) -> Path:
    return DATA_ROOT / f"events-{size}-accounts-{accounts}-seed-{SEED}"


def ensure_data(size: int, accounts: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """Generate the exports of one size once (in a child); reuse them when the marker says they are complete."""
    out = data_dir_for(size, accounts)
    marker = out / "generated.json"
    wanted = {"events": size, "accounts": accounts, "seed": SEED, "now": NOW}
    if not fresh and marker.is_file():
        try:
            info = json.loads(marker.read_text())
        except ValueError:
            info = {}
        if info.get("params") == wanted:
            log(f"reusing {out.relative_to(ROOT)} ({size:,} events)")
            return out, info["summary"]
    log(f"generating {size:,} events for {accounts} accounts into {out.relative_to(ROOT)} ...")
    marker.unlink(missing_ok=True)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="generate-", dir=DATA_ROOT))
    try:
        summary = run_part("generate", {"out": str(out), "events": size, "accounts": accounts}, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    marker.write_text(json.dumps({"params": wanted, "summary": summary}, indent=2))
    log(f"generated {summary['events']:,} events in {summary['generate_s']:.1f} s")
    return out, summary


def export_files(data_dir: Path, kind: str) -> list[Path]:
    """The export files of one kind, in the order the engine ranks them (relative path ascending)."""
    folder = data_dir / kind
    files = [p for p in folder.rglob("*.parquet") if p.is_file()] if folder.is_dir() else []
    return sorted(files, key=lambda p: p.relative_to(data_dir).as_posix())


def link_farm(data_dir: Path, target: Path) -> None:
    """A copy of the export tree made of hard links (symlinks as a fallback), so files can be added to it."""
    for kind in KINDS:
        for src in export_files(data_dir, kind):
            dst = target / src.relative_to(data_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                os.symlink(src, dst)


def settings_env(data_dir: Path, work: Path) -> dict[str, str]:
    return {
        "ANALYTICS_MODE": "saas",
        "ANALYTICS_DATA_DIR": str(data_dir),
        "ANALYTICS_TIMEZONE": TIMEZONE,
        "ANALYTICS_NOW": NOW,
        "ANALYTICS_APP_DB": str(work / "app.duckdb"),
        "ANALYTICS_CACHE_DB": str(work / "cache.duckdb"),
    }


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


# --- child parts ----------------------------------------------------------------------------------------------------


def part_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from token_analytics.engine.sample import generate

    last = [0.0]

    def progress(message: str) -> None:
        if time.perf_counter() - last[0] > 5:
            last[0] = time.perf_counter()
            log(f"  generate: {message}")

    started = time.perf_counter()
    summary = generate(
        Path(spec["out"]),
        accounts=spec["accounts"],
        events=spec["events"],
        seed=SEED,
        now=datetime.fromisoformat(NOW),
        progress=progress,
    )
    return {**json.loads(json.dumps(summary, default=str)), "generate_s": time.perf_counter() - started}


def part_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import token_analytics.engine.figures  # noqa: F401

    return {}


class Phases:
    """Ingest phases from the progress callback: open (until the first file), read + insert, rebuild + commit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.marks: dict[str, float] = {}
        self.shown = 0.0
        self.started = time.perf_counter()

    def __call__(self, fraction: float, message: str) -> None:
        now = time.perf_counter()
        self.marks.setdefault("first_file", now)
        if message.startswith("Building"):
            self.marks["rebuild"] = now
        if now - self.shown > 3:
            self.shown = now
            log(f"  {self.name} {fraction:5.1%} {message}")

    def split(self, wall: float) -> dict[str, float]:
        end = self.started + wall
        first = self.marks.get("first_file", end)
        rebuild = self.marks.get("rebuild", end)
        return {"open_s": first - self.started, "read_s": rebuild - first, "rebuild_s": end - rebuild}


def part_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """A fresh cache: Store.open(settings) ingests everything; phases come from the progress callback."""
    from token_analytics.engine.store import Store
    from token_analytics.settings import load_settings

    settings = load_settings(settings_env(Path(spec["data_dir"]), Path(spec["work"])))
    if settings.cache_db.exists() or settings.app_db.exists():
        raise BenchError(f"the ingest cache {settings.cache_db} is not fresh")
    phases = Phases("ingest")
    store = Store.open(settings, progress=phases)
    wall = time.perf_counter() - phases.started
    summary = store.last_summary
    events = sum(r.rows_read for r in summary.read if r.kind == "usage_events")
    accepted = sum(r.accepted for r in summary.read if r.kind == "usage_events")
    quarantined = sum(sum(r.quarantined.values()) for r in summary.read)
    rows = store.cursor().execute("select count(*) from usage_daily").fetchall()[0][0]
    store.close()
    return {
        "wall_s": wall,
        "events": events,
        "accepted": accepted,
        "quarantined": quarantined,
        "files": len(summary.read),
        "rows_read": summary.rows_read,
        "phases": phases.split(wall),
        "usage_daily_rows": rows,
        "cache_mb": settings.cache_db.stat().st_size / 1e6,
    }


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
    picks = {"largest": ranking[0], "median": ranking[len(ranking) // 2]}
    out: dict[str, Any] = {"reopen_s": reopen, "accounts": len(ranking), "views": {}}
    for label, (account, events) in picks.items():
        log(f"  engine: {label} account {account} ({events:,} events)")
        timing = timed_runs(
            lambda a=account: analysis_figures(store, a, now, "saas"), spec["runs"], spec["warmups"], spec["budget"]
        )
        figures = analysis_figures(store, account, now, "saas")
        out["views"][label] = {"account": account, "events": events, **timing, "figures": figures}
    out["breakdown_ms"] = query_breakdown(store, picks["largest"][0], now, spec)
    store.close()
    return out


def query_breakdown(store: Any, account: str, now: datetime, spec: dict[str, Any]) -> dict[str, float]:
    """Median ms of each query of the figure set (diagnostic; skipped if the engine's API moved)."""
    try:
        from token_analytics.engine.periods import Windows

        windows = Windows.at(now, store.settings.zone)
        month = {"account_id": account, "start_day": windows.month_start, "end_day": windows.next_month_start}
        calls = {
            "usage_by_period": {"account_id": account, **windows.params()},
            "token_usage": {"account_id": account},
            "account_profile": {"account_id": account},
            "tokens_by_service": month,
            "recent_transactions": {"account_id": account, "limit": RECENT_LIMIT},
            "top_members": {**month, "limit": LEADERBOARD_LIMIT},
        }
        return {
            name: 1000 * timed_runs(lambda n=name, p=params: store.run(n, **p), spec["runs"], 1, 5)["median_s"]
            for name, params in calls.items()
        }
    except Exception as exc:  # a diagnostic must not sink the benchmark
        log(f"  engine: query breakdown skipped ({type(exc).__name__}: {exc})")
        return {}


def part_pandas(spec: dict[str, Any]) -> dict[str, Any]:
    """A plain pandas implementation: read every file, validate, de-duplicate once; per view filter and group."""
    from zoneinfo import ZoneInfo

    import pandas as pd

    from token_analytics.engine.figures import iso_time, optional_text  # the same JSON form as the engine

    data_dir = Path(spec["data_dir"])
    zone = ZoneInfo(TIMEZONE)

    def read(kind: str) -> pd.DataFrame:
        frames = [pd.read_parquet(path) for path in export_files(data_dir, kind)]  # path order: last wins
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def last_per(frame: pd.DataFrame, key: str) -> pd.DataFrame:
        return frame.drop_duplicates(key, keep="last")

    def filled(series: pd.Series) -> pd.Series:
        return series.notna() & (series != "")

    started = time.perf_counter()
    accounts = last_per(read("accounts").loc[lambda f: filled(f["account_id"])], "account_id")
    members = last_per(read("members").loc[lambda f: filled(f["user_id"]) & filled(f["account_id"])], "user_id")
    events = read("usage_events")
    events = events[
        filled(events["event_id"])
        & filled(events["account_id"])
        & events["occurred_at"].notna()
        & events["tokens"].notna()
        & events["service"].isin(SERVICES)
        & (events["tokens"] >= 0)
    ]
    events = last_per(events, "event_id")
    txns = read("transactions")
    amount, kind = txns["amount"], txns["type"]
    txns = txns[
        filled(txns["txn_id"])
        & filled(txns["account_id"])
        & txns["created_at"].notna()
        & amount.notna()
        & kind.isin(TXN_TYPES)
        & ~((kind == "CONSUME") & (amount >= 0))
        & ~(kind.isin(["RECHARGE", "BONUS", "REFUND"]) & (amount <= 0))
        & ~((kind == "ADJUSTMENT") & (amount == 0))
    ]
    txns = last_per(txns, "txn_id")
    load_s = time.perf_counter() - started
    log(f"  pandas: loaded {len(events):,} events in {load_s:.1f} s")

    day = {name: pd.Timestamp(value) for name, value in windows(datetime.fromisoformat(NOW), zone).items()}

    def view(account: str) -> dict[str, Any]:
        ev = events[events["account_id"] == account]
        local_day = ev["occurred_at"].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        tokens = ev["tokens"]
        masks = {
            "today": local_day == day["today"],
            "yesterday": local_day == day["yesterday"],
            "month": (local_day >= day["month_start"]) & (local_day < day["next_month_start"]),
            "last_month": (local_day >= day["last_month_start"]) & (local_day < day["month_start"]),
        }
        usage = {"all_tokens": int(tokens.sum()), "all_calls": len(ev)}
        for name, mask in masks.items():
            usage[f"{name}_tokens"] = int(tokens[mask].sum())
            usage[f"{name}_calls"] = int(mask.sum())
        month = ev[masks["month"]]
        per_service = month.groupby("service")["tokens"].agg(["sum", "count"])
        services = [(s, int(per_service["sum"].get(s, 0)), int(per_service["count"].get(s, 0))) for s in SERVICES]
        board = month.groupby("user_id", dropna=False)["tokens"].agg(tokens="sum", calls="count").reset_index()
        board = board.sort_values(["tokens", "user_id"], ascending=[False, True], na_position="last")
        board = board.head(LEADERBOARD_LIMIT)
        names = members.loc[members["account_id"] == account].set_index("user_id")["display_name"]
        month_total = int(month["tokens"].sum())
        leaders = [
            {
                "rank": rank,
                "user_id": optional_text(row.user_id),
                "display_name": optional_text(row.user_id if pd.isna(names.get(row.user_id)) else names[row.user_id]),
                "tokens": int(row.tokens),
                "calls": int(row.calls),
                "share_pct": int(row.tokens) * 100.0 / month_total if month_total > 0 else None,
            }
            for rank, row in enumerate(board.itertuples(index=False), start=1)
        ]
        ledger = txns[txns["account_id"] == account]
        consume = ledger["type"] == "CONSUME"
        used, total = -int(ledger["amount"][consume].sum()), int(ledger["amount"][~consume].sum())
        latest = ledger.sort_values(["created_at", "txn_id"], ascending=[False, False]).head(RECENT_LIMIT)
        recent = [
            {
                "txn_id": row.txn_id,
                "type": row.type,
                "amount": int(row.amount),
                "created_at": iso_time(row.created_at, zone),
                "payment_method": optional_text(row.payment_method),
                "description": optional_text(row.description),
            }
            for row in latest.itertuples(index=False)
        ]
        owners = accounts.loc[accounts["account_id"] == account, "owner_name"]
        owner = optional_text(owners.iloc[0]) if len(owners) else None
        return assemble(usage, used, total, owner, services, recent, leaders)

    out: dict[str, Any] = {"load_s": load_s, "events": len(events), "views": {}}
    for label, account in spec["accounts"].items():
        log(f"  pandas: {label} account {account}")
        timing = timed_runs(lambda a=account: view(a), spec["runs"], spec["warmups"], spec["budget"])
        out["views"][label] = {"account": account, **timing, "figures": view(account)}
    return out


# DuckDB straight over the export files, nothing kept between page views. Per view one statement scans the
# events of the account into a temp table of (member, service, local day) sums, and the figure queries (the
# same shape as queries/*.sql) read that; the ledger, members and accounts are read from their files each
# time. Rows are validated as ingest does (SPEC §3). The de-duplicated variant applies "the last path, then
# the last row, wins" globally, finding duplicate ids by hash first (like the engine's event_losers), which
# costs two more scans of every event; the plain variant trusts the files to hold no duplicates.
RAW_VALID_EVENT = """
    event_id <> '' and account_id <> '' and occurred_at is not null and tokens >= 0
    and service in ('agent', 'operator', 'assistant')
"""
RAW_SCAN_DEDUP = f"""
create or replace temp table daily as
with dup_hashes as (
    select hash(event_id) as h
    from read_parquet($events, hive_partitioning = false)
    where {RAW_VALID_EVENT}
    group by h having count(*) > 1
),
losers as (
    select filename, file_row_number
    from read_parquet($events, hive_partitioning = false, filename = true, file_row_number = true)
    where {RAW_VALID_EVENT} and hash(event_id) in (select h from dup_hashes)
    qualify row_number() over (partition by event_id order by filename desc, file_row_number desc) > 1
)
select user_id, service, timezone($tz, occurred_at::timestamptz)::date as day,
    sum(tokens)::bigint as tokens, count(*)::bigint as calls
from read_parquet($events, hive_partitioning = false, filename = true, file_row_number = true)
anti join losers using (filename, file_row_number)
where account_id = $account_id and {RAW_VALID_EVENT}
group by all
"""
RAW_SCAN_PLAIN = f"""
create or replace temp table daily as
select user_id, service, timezone($tz, occurred_at::timestamptz)::date as day,
    sum(tokens)::bigint as tokens, count(*)::bigint as calls
from read_parquet($events, hive_partitioning = false)
where account_id = $account_id and {RAW_VALID_EVENT}
group by all
"""
RAW_USAGE = """
select
    coalesce(sum(tokens) filter (where day = $today), 0)::bigint as today_tokens,
    coalesce(sum(calls) filter (where day = $today), 0)::bigint as today_calls,
    coalesce(sum(tokens) filter (where day = $yesterday), 0)::bigint as yesterday_tokens,
    coalesce(sum(calls) filter (where day = $yesterday), 0)::bigint as yesterday_calls,
    coalesce(sum(tokens) filter (where day >= $month_start and day < $next_month_start), 0)::bigint as month_tokens,
    coalesce(sum(calls) filter (where day >= $month_start and day < $next_month_start), 0)::bigint as month_calls,
    coalesce(sum(tokens) filter (where day >= $last_month_start and day < $month_start), 0)::bigint
        as last_month_tokens,
    coalesce(sum(calls) filter (where day >= $last_month_start and day < $month_start), 0)::bigint
        as last_month_calls,
    coalesce(sum(tokens), 0)::bigint as all_tokens,
    coalesce(sum(calls), 0)::bigint as all_calls
from daily
"""
RAW_SERVICES = """
select s.service, coalesce(sum(d.tokens), 0)::bigint as tokens, coalesce(sum(d.calls), 0)::bigint as calls
from (values ('agent', 1), ('operator', 2), ('assistant', 3)) as s (service, position)
left join daily as d on d.service = s.service and d.day >= $month_start and d.day < $next_month_start
group by s.service, s.position
order by s.position
"""
RAW_LEADERBOARD = """
with usage as (
    select user_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
    from daily where day >= $month_start and day < $next_month_start
    group by user_id
),
members as (
    select user_id, account_id, display_name
    from read_parquet($members, hive_partitioning = false, filename = true, file_row_number = true)
    where user_id <> '' and account_id <> ''
    qualify row_number() over (partition by user_id order by filename desc, file_row_number desc) = 1
)
select
    row_number() over (order by u.tokens desc, u.user_id asc nulls last) as rank,
    u.user_id,
    coalesce(m.display_name, u.user_id) as display_name,
    u.tokens,
    u.calls,
    case when sum(u.tokens) over () > 0 then u.tokens * 100.0 / sum(u.tokens) over () end as share_pct
from usage as u
left join members as m on m.user_id = u.user_id and m.account_id = $account_id
order by rank
limit $limit
"""
RAW_LEDGER = """
with ledger as (
    select txn_id, account_id, type, amount, created_at::timestamptz as created_at, payment_method, description
    from read_parquet($txns, hive_partitioning = false, filename = true, file_row_number = true, union_by_name = true)
    where txn_id <> '' and account_id <> '' and created_at is not null and amount is not null
        and type in ('CONSUME', 'RECHARGE', 'BONUS', 'REFUND', 'ADJUSTMENT')
        and not ((type = 'CONSUME' and amount >= 0) or (type in ('RECHARGE', 'BONUS', 'REFUND') and amount <= 0)
            or (type = 'ADJUSTMENT' and amount = 0))
    qualify row_number() over (partition by txn_id order by filename desc, file_row_number desc) = 1
)
"""
RAW_TOKEN_USAGE = """
select
    coalesce(-sum(amount) filter (where type = 'CONSUME'), 0)::bigint as used,
    coalesce(sum(amount) filter (where type <> 'CONSUME'), 0)::bigint as total
from ledger where account_id = $account_id
"""
RAW_RECENT = """
select txn_id, type, amount, created_at, payment_method, description
from ledger where account_id = $account_id
order by created_at desc, txn_id desc
limit $limit
"""
RAW_PROFILE = """
select owner_name
from read_parquet($accounts, hive_partitioning = false, filename = true, file_row_number = true)
where account_id = $account_id
qualify row_number() over (partition by account_id order by filename desc, file_row_number desc) = 1
"""


def part_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """The figure set as DuckDB SQL over the raw parquet files, with and without de-duplication."""
    from zoneinfo import ZoneInfo

    import duckdb

    from token_analytics.engine.figures import iso_time, optional_text  # the same JSON form as the engine

    data_dir = Path(spec["data_dir"])
    zone = ZoneInfo(TIMEZONE)
    days = windows(datetime.fromisoformat(NOW), zone)
    month = {"month_start": days["month_start"], "next_month_start": days["next_month_start"]}
    files = {kind: f"{data_dir}/{kind}/**/*.parquet" for kind in KINDS}
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")

    def view(account: str, scan: str) -> dict[str, Any]:
        con.execute(scan, {"events": files["usage_events"], "account_id": account, "tz": TIMEZONE})
        row = con.execute(RAW_USAGE, days).fetchone()
        usage = {d[0]: int(v) for d, v in zip(con.description, row, strict=True)}
        services = [(s, int(t), int(c)) for s, t, c in con.execute(RAW_SERVICES, month).fetchall()]
        board = con.execute(
            RAW_LEADERBOARD, {**month, "members": files["members"], "account_id": account, "limit": LEADERBOARD_LIMIT}
        ).fetchall()
        leaders = [
            {
                "rank": int(rank),
                "user_id": optional_text(user),
                "display_name": optional_text(name),
                "tokens": int(tokens),
                "calls": int(calls),
                "share_pct": None if share is None else float(share),
            }
            for rank, user, name, tokens, calls, share in board
        ]
        ledger = {"txns": files["transactions"], "account_id": account}
        used, total = con.execute(RAW_LEDGER + RAW_TOKEN_USAGE, ledger).fetchone()
        recent = [
            {
                "txn_id": txn_id,
                "type": kind,
                "amount": int(amount),
                "created_at": iso_time(created_at, zone),
                "payment_method": optional_text(method),
                "description": optional_text(description),
            }
            for txn_id, kind, amount, created_at, method, description in con.execute(
                RAW_LEDGER + RAW_RECENT, {**ledger, "limit": RECENT_LIMIT}
            ).fetchall()
        ]
        owners = con.execute(RAW_PROFILE, {"accounts": files["accounts"], "account_id": account}).fetchall()
        owner = optional_text(owners[0][0]) if owners else None
        return assemble(usage, int(used), int(total), owner, services, recent, leaders)

    out: dict[str, Any] = {"views": {}}
    for variant, scan in (("dedup", RAW_SCAN_DEDUP), ("plain", RAW_SCAN_PLAIN)):
        for label, account in spec["accounts"].items():
            log(f"  raw parquet ({variant}): {label} account {account}")
            timing = timed_runs(lambda a=account, s=scan: view(a, s), spec["runs"], spec["warmups"], spec["budget"])
            out["views"][f"{variant}/{label}"] = {"account": account, **timing, "figures": view(account, scan)}
    con.close()
    return out


def part_diag(spec: dict[str, Any]) -> dict[str, Any]:
    """Where ingest time goes: decoding the parquet, a plain copy into a DuckDB file, each rebuild statement."""
    import duckdb

    from token_analytics.engine import ingest as ingest_module

    data_dir, work = Path(spec["data_dir"]), Path(spec["work"])
    files = [str(p) for p in export_files(data_dir, "usage_events")]
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    t0 = time.perf_counter()
    con.execute(
        "select count(*), sum(hash(event_id, account_id, user_id, service, occurred_at, tokens, input_tokens,"
        " output_tokens, model)) from read_parquet($f, hive_partitioning = false)",
        {"f": files},
    )
    scan_s = time.perf_counter() - t0
    con.close()

    copy_db = work / "copy.duckdb"
    con = duckdb.connect(str(copy_db))
    t0 = time.perf_counter()
    con.execute(
        "create table raw as select * from read_parquet($f, hive_partitioning = false, file_row_number = true)",
        {"f": files},
    )
    con.execute("checkpoint")
    copy_s = time.perf_counter() - t0
    con.close()
    copy_db.unlink(missing_ok=True)

    con = duckdb.connect(str(work / "cache.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    rebuild: dict[str, float] = {}
    con.execute("begin transaction")
    try:
        for statement in (s.strip() for s in ingest_module.REBUILD.split(";\n")):
            if not statement:
                continue
            name = statement.split()[4] if statement.startswith("create or replace table") else statement[:30]
            t0 = time.perf_counter()
            con.execute(statement, {"tz": TIMEZONE} if "$tz" in statement else None)
            rebuild[name] = time.perf_counter() - t0
    finally:
        con.execute("rollback")
        con.close()
    return {"scan_s": scan_s, "copy_s": copy_s, "rebuild_s": rebuild}


def part_mess(spec: dict[str, Any]) -> dict[str, Any]:
    """Make the self-check's exports messy: overlapping files with exact duplicates, conflicts that win and
    conflicts that lose, an event moved to another account, quarantined rows, a renamed member."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    farm = Path(spec["farm"])

    def replace(table: pa.Table, name: str, values: Any) -> pa.Table:
        column = table.column(name)
        return table.set_column(table.schema.get_field_index(name), name, pa.array(values, column.type))

    events = export_files(farm, "usage_events")
    late_src = pq.read_table(events[-1])
    if late_src.num_rows < 800:
        raise BenchError("the self-check needs at least 800 events in the last export file")
    exact = late_src.slice(0, 300)
    changed = late_src.slice(300, 300)
    changed = replace(changed, "tokens", pc.add(changed.column("tokens"), 7))
    moved = late_src.slice(600, 100)
    moved = replace(moved, "account_id", ["acct-bench-moved"] * moved.num_rows)
    bad = late_src.slice(700, 60)
    tokens = bad.column("tokens").to_pylist()
    services = bad.column("service").to_pylist()
    ids = bad.column("event_id").to_pylist()
    for i in range(20):
        tokens[i] = -1  # negative tokens
        services[20 + i] = "unknown"  # unknown service
        ids[40 + i] = ""  # missing event_id
    bad = replace(replace(replace(bad, "tokens", tokens), "service", services), "event_id", ids)
    pq.write_table(pa.concat_tables([exact, changed, moved, bad]), events[-1].with_name("part-9000-overlap.parquet"))
    # an overlapping file that sorts before the first part of its folder: its conflicting rows must lose
    early_src = pq.read_table(events[0]).slice(0, 300)
    early = replace(early_src, "tokens", pc.multiply(early_src.column("tokens"), 3))
    pq.write_table(early, events[0].with_name("part-0000-a-early.parquet"))

    txns = export_files(farm, "transactions")
    ledger = pq.read_table(txns[-1])
    latest = ledger.slice(max(0, ledger.num_rows - 40), 40)
    amounts = [a - 5 if a < 0 else a + 5 for a in latest.column("amount").to_pylist()]
    latest = replace(latest, "amount", amounts)
    wrong_sign = replace(ledger.slice(0, 1), "txn_id", ["txn-bench-wrong-sign"])
    wrong_sign = replace(replace(wrong_sign, "type", ["CONSUME"]), "amount", [5])
    pq.write_table(pa.concat_tables([latest, wrong_sign]), txns[-1].with_name("part-9000-overlap.parquet"))

    members = pq.read_table(export_files(farm, "members")[-1])
    renamed = replace(members.slice(0, 3), "display_name", ["Renamed Member"] * 3)
    pq.write_table(renamed, farm / "members" / "zz-overlap.parquet")  # sorts after members.parquet: it wins
    return {"files": 4}


def part_incr(spec: dict[str, Any]) -> dict[str, Any]:
    """Add one small events file to the ingested tree and time the incremental ingest."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from token_analytics.engine.store import Store
    from token_analytics.settings import load_settings

    farm, work = Path(spec["farm"]), Path(spec["work"])
    last = export_files(farm, "usage_events")[-1]
    table = pq.read_table(last).slice(0, INCREMENT_EVENTS)
    ids = pc.binary_join_element_wise("bench-extra-", pc.cast(pa.array(range(table.num_rows)), pa.string()), "")
    table = table.set_column(table.schema.get_field_index("event_id"), "event_id", ids)
    target = last.with_name("part-9999-bench-extra.parquet")
    pq.write_table(table, target)
    settings = load_settings(settings_env(farm, work))
    phases = Phases("incremental ingest")
    store = Store.open(settings, progress=phases)
    wall = time.perf_counter() - phases.started
    summary = store.last_summary
    store.close()
    return {"wall_s": wall, "files_read": len(summary.read), "events": table.num_rows, "phases": phases.split(wall)}


PARTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": part_generate,
    "baseline": part_baseline,
    "ingest": part_ingest,
    "engine": part_engine,
    "pandas": part_pandas,
    "raw": part_raw,
    "diag": part_diag,
    "incr": part_incr,
    "mess": part_mess,
}


def child_main(part: str, spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    try:
        result = PARTS[part](spec)
    except BenchError as exc:
        print(f"bench {part}: {exc}", file=sys.stderr)
        return 2
    result["peak_mb_self"] = peak_mb()
    Path(spec["result"]).write_text(json.dumps(result, default=str))
    return 0


def run_part(part: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one part in a fresh interpreter; its own peak RSS comes from wait4."""
    spec = {**spec, "work": str(work), "result": str(work / f"{part}.result.json")}
    spec_path = work / f"{part}.spec.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", part, str(spec_path)])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode < 0:
        raise BenchError(f"part {part!r} was killed by signal {-proc.returncode} (out of memory?)")
    if proc.returncode != 0:
        raise BenchError(f"part {part!r} failed (exit {proc.returncode}); see its messages above")
    result = json.loads(Path(spec["result"]).read_text())
    # the child's own VmHWM; wait4's ru_maxrss (KiB) only when /proc is missing (it can include the parent's peak)
    result["peak_mb"] = result.pop("peak_mb_self", None) or usage.ru_maxrss * 1024 / 1e6
    result["part_s"] = time.perf_counter() - started
    return result


# --- report -------------------------------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float, reference: float) -> str:
    if reference <= 0 or value <= 0:
        return "-"
    ratio, word = (value / reference, "slower") if value >= reference else (reference / value, "faster")
    return f"{ratio:,.0f}x {word}" if ratio >= 10 else f"{ratio:.1f}x {word}"


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    header = ("part", "time", "vs engine", "peak MB", "notes")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


def check_figures(results: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """The pandas and raw-parquet figures must equal the engine's, account by account."""
    problems: list[str] = []
    engine = results["engine"]["views"]
    others = []
    if "pandas" in results:
        others += [(f"pandas, {label}", label, view) for label, view in results["pandas"]["views"].items()]
    if "raw" in results:
        others += [(f"raw parquet {key}", key.split("/")[-1], view) for key, view in results["raw"]["views"].items()]
    for name, label, view in others:
        if any(name.startswith(prefix) for prefix in skip):
            continue
        diff = differences(engine[label]["figures"], view["figures"])
        if diff:
            problems.append(f"{name} ({view['account']}): " + "; ".join(diff[:5]))
    return problems


def report(size: int, data: dict[str, Any], results: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    """Print the table of one size and the targets; return the target verdicts."""
    eng = results["engine"]["views"]
    ing = results["ingest"]
    rows: list[tuple[str, str, str, str, str]] = []
    for label in ("largest", "median"):
        v = eng[label]
        rows.append(
            (
                f"engine figure set, {label}",
                fmt_time(v["median_s"]),
                "1x (reference)",
                f"{results['engine']['peak_mb']:.0f}",
                f"{v['account']}, {v['events']:,} events, {v['runs']} runs, min {fmt_time(v['min_s'])}",
            )
        )
    if "pandas" in results:
        pan = results["pandas"]
        for label in ("largest", "median"):
            v = pan["views"][label]
            rows.append(
                (
                    f"pandas per view, {label}",
                    fmt_time(v["median_s"]),
                    fmt_ratio(v["median_s"], eng[label]["median_s"]),
                    f"{pan['peak_mb']:.0f}",
                    f"{v['runs']} runs (data already loaded)",
                )
            )
        rows.append(
            (
                "pandas load (once)",
                fmt_time(pan["load_s"]),
                fmt_ratio(pan["load_s"], ing["wall_s"]) + " than ingest",
                f"{pan['peak_mb']:.0f}",
                "read all files, validate, de-duplicate",
            )
        )
    if "raw" in results:
        raw = results["raw"]
        for key, what in (("dedup", "de-duplicated"), ("plain", "no de-dup")):
            for label in ("largest", "median"):
                v = raw["views"][f"{key}/{label}"]
                rows.append(
                    (
                        f"DuckDB raw parquet ({what}), {label}",
                        fmt_time(v["median_s"]),
                        fmt_ratio(v["median_s"], eng[label]["median_s"]),
                        f"{raw['peak_mb']:.0f}",
                        f"{v['runs']} runs",
                    )
                )
    eps = ing["events"] / ing["wall_s"]
    ph = ing["phases"]
    rows.append(
        (
            "ingest (fresh cache)",
            fmt_time(ing["wall_s"]),
            "-",
            f"{ing['peak_mb']:.0f}",
            f"{eps / 1e6:.2f}M events/s; read+insert {ph['read_s']:.2f} s, rebuild {ph['rebuild_s']:.2f} s,"
            f" cache {ing['cache_mb']:.0f} MB",
        )
    )
    if "incr" in results:
        inc = results["incr"]
        rows.append(
            (
                f"ingest +{inc['events']:,} events",
                fmt_time(inc["wall_s"]),
                "-",
                f"{inc['peak_mb']:.0f}",
                f"{inc['files_read']} new file: read {inc['phases']['read_s']:.2f} s, rebuild"
                f" {inc['phases']['rebuild_s']:.2f} s (derived tables rebuilt in full)",
            )
        )
    rows.append(
        (
            "reopen, nothing changed",
            fmt_time(results["engine"]["reopen_s"]),
            "-",
            "-",
            "Store.open when no export file changed",
        )
    )
    print()
    print(
        f"== {size:,} events ({data['accounts']} accounts, {data['members']} members, "
        f"{data['transactions']:,} transactions, {data['files']} files) =="
    )
    print_table(rows)
    print(f"engine: {results['engine_version']}")
    if results.get("engine_changed"):
        print("WARNING: the engine's sources changed while this size ran; its numbers mix two versions. Run again.")
    if "incr" in results and results["incr"]["files_read"] != 1:
        print("WARNING: the incremental ingest re-read every file (the cache was rebuilt: did the engine change?)")
    print(
        f"machine: {results['load_before']} before, {results['load_after']} after this size"
        " (well above 0 before means other work competed for the CPU)"
    )
    print(f"process floor (python + duckdb + pandas + pyarrow imported): {results['baseline']['peak_mb']:.0f} MB")
    if "diag" in results:
        d = results["diag"]
        rebuild = ", ".join(f"{k} {v:.2f} s" for k, v in d["rebuild_s"].items())
        print(
            f"ingest breakdown: parquet decode of all event columns {d['scan_s']:.2f} s; plain copy into a DuckDB "
            f"file {d['copy_s']:.2f} s; rebuild statements: {rebuild}"
        )
    breakdown = results["engine"].get("breakdown_ms") or {}
    if breakdown:
        print("engine queries, largest account: " + ", ".join(f"{k} {v:.1f} ms" for k, v in breakdown.items()))
    if problems:
        print("FIGURES DISAGREE:")
        for problem in problems:
            print(f"  {problem}")
    else:
        checked = ["pandas"] * ("pandas" in results) + ["raw parquet"] * ("raw" in results)
        print(f"figures agree: engine = {' = '.join(checked) or '(nothing to compare)'}, largest and median account")

    verdicts = targets(size, results)
    note = "" if size == TARGET_SIZE else f" (the targets are defined at {TARGET_SIZE:,} events)"
    print(f"targets{note}:")
    for v in verdicts:
        print(f"  [{'met' if v['met'] else 'MISSED'}] {v['text']}")
    return verdicts


def targets(size: int, results: dict[str, Any]) -> list[dict[str, Any]]:
    eng = results["engine"]["views"]
    worst_ms = max(v["median_s"] for v in eng.values()) * 1000
    out = [
        {
            "name": "figure set < 20 ms",
            "met": worst_ms < TARGET_FIGURES_MS,
            "text": f"figure set {worst_ms:.1f} ms (slower of largest/median) vs < {TARGET_FIGURES_MS:.0f} ms: "
            + margin(worst_ms, TARGET_FIGURES_MS, lower_is_better=True, unit=" ms"),
        }
    ]
    if "pandas" in results:
        ratio = min(results["pandas"]["views"][k]["median_s"] / eng[k]["median_s"] for k in eng)
        out.append(
            {
                "name": ">= 50x faster than pandas",
                "met": ratio >= TARGET_PANDAS_RATIO,
                "text": f"pandas per page view takes {ratio:.1f}x the engine's time (smaller of largest/median) vs >= "
                f"{TARGET_PANDAS_RATIO:.0f}x: " + margin(ratio, TARGET_PANDAS_RATIO, lower_is_better=False),
            }
        )
    ing = results["ingest"]
    eps = ing["events"] / ing["wall_s"]
    out.append(
        {
            "name": "ingest >= 2M events/s",
            "met": eps >= TARGET_INGEST_EPS,
            "text": f"ingest {eps / 1e6:.2f}M events/s vs >= {TARGET_INGEST_EPS / 1e6:.0f}M: "
            + margin(eps, TARGET_INGEST_EPS, lower_is_better=False),
        }
    )
    peaks = {"ingest": ing["peak_mb"], "engine (serving)": results["engine"]["peak_mb"]}
    worst_name, worst = max(peaks.items(), key=lambda kv: kv[1])
    out.append(
        {
            "name": "peak memory < 1 GB",
            "met": worst < TARGET_PEAK_MB,
            "text": f"peak memory {worst:.0f} MB ({worst_name}; "
            + ", ".join(f"{k} {v:.0f} MB" for k, v in peaks.items())
            + f") vs < {TARGET_PEAK_MB:.0f} MB: "
            + margin(worst, TARGET_PEAK_MB, lower_is_better=True, unit=" MB"),
        }
    )
    return out


def margin(value: float, target: float, lower_is_better: bool, unit: str = "") -> str:
    if lower_is_better:
        if value < target:
            return f"met, {(1 - value / target) * 100:.0f}% under the limit"
        return f"missed by {value - target:,.1f}{unit} ({value / target:.2f}x the limit)"
    if value >= target:
        return f"met, {value / target:.2f}x the target"
    return f"missed, {value / target * 100:.0f}% of the target (needs {target / value:.2f}x)"


# --- main ---------------------------------------------------------------------------------------------------------


def machine() -> str:
    """One line about the machine and the library versions (without importing the libraries here)."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total = None
    try:
        total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024 / 1e9
    except (OSError, ValueError, IndexError):
        pass
    versions = []
    for name in ("duckdb", "pandas", "pyarrow"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} ?")
    ram = f", {total:.0f} GB RAM" if total else ""
    return f"{os.cpu_count()} cores ({cpu}){ram}; Python {sys.version.split()[0]}, {', '.join(versions)}"


def engine_digest() -> str:
    """A digest of the sources this benchmark exercises (the data engine and queries/*.sql): what was measured."""
    import hashlib

    digest = hashlib.sha256()
    modules = [ROOT / "token_analytics" / f"{name}.py" for name in ENGINE_MODULES]
    for path in sorted([*modules, *(ROOT / "queries").glob("*.sql")]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def engine_version() -> str:
    """The commit, whether the engine has uncommitted changes, and the digest of its sources."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "token_analytics", "queries"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    return f"commit {commit}{' + uncommitted engine changes' if dirty else ''}, engine sources {engine_digest()}"


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def memory_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1000.0
    except OSError:
        return None
    return None


def strip_figures(value: Any) -> Any:
    """The results without the (bulky) figure dicts."""
    if isinstance(value, dict):
        return {k: strip_figures(v) for k, v in value.items() if k != "figures"}
    return value


def self_check(args: argparse.Namespace) -> list[str]:
    """Before timing anything: on small messy exports the three implementations must give the same figures."""
    log(f"self-check on messy exports ({SELF_CHECK_EVENTS:,} events plus overlapping and bad rows)")
    results = run_all(SELF_CHECK_EVENTS, args, self_check=True)
    problems = check_figures(results, skip=("raw parquet plain",))
    # the variant without de-duplication must be wrong here, or the messy files did not test anything
    if not check_figures(results, skip=("pandas", "raw parquet dedup")):
        problems.append("the raw variant without de-duplication agrees on overlapping exports: the check is void")
    leaders = results["engine"]["views"]["largest"]["figures"]["leaderboard"]
    if not any(row["display_name"] == "Renamed Member" for row in leaders):
        problems.append("the renamed member (a later members file) is not on the largest account's leaderboard")
    quarantined = results["ingest"]["quarantined"]
    if quarantined != SELF_CHECK_QUARANTINED:
        problems.append(f"ingest quarantined {quarantined} rows, the messy files hold {SELF_CHECK_QUARANTINED}")
    if problems:
        print("self-check on messy exports: FIGURES DISAGREE:\n  " + "\n  ".join(problems))
    else:
        print(
            f"self-check on messy exports ({SELF_CHECK_EVENTS:,} events + overlapping files: exact duplicates, "
            f"conflicts that win and that lose, moved events, {quarantined} quarantined rows, a renamed member): "
            "figures agree (engine = pandas = raw parquet de-duplicated; without de-duplication they differ)"
        )
    return problems


def run_all(size: int, args: argparse.Namespace, self_check: bool = False) -> dict[str, Any]:
    """Every part for one size; the self-check runs each view once on a messy copy and skips the diagnostics."""
    data_dir, data = ensure_data(size, args.accounts, args.fresh)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{size}-", dir=DATA_ROOT))
    farm = work / "exports"  # hard links to the exports: files can be added without touching the originals
    spec: dict[str, Any] = {
        "data_dir": str(farm),
        "runs": 1 if self_check else args.runs,
        "warmups": 0 if self_check else args.warmups,
        "budget": args.budget,
    }
    results: dict[str, Any] = {"load_before": load_average(), "data": data, "engine_version": engine_version()}
    digest = engine_digest()
    try:
        link_farm(data_dir, farm)
        if self_check:
            run_part("mess", {"farm": str(farm)}, work)
        log(f"{size:,} events: baseline")
        results["baseline"] = run_part("baseline", spec, work)
        log(f"{size:,} events: ingest into a fresh cache")
        results["ingest"] = run_part("ingest", spec, work)
        log(f"{size:,} events: engine figure set")
        results["engine"] = run_part("engine", spec, work)
        accounts = {label: v["account"] for label, v in results["engine"]["views"].items()}
        need = size * PANDAS_BYTES_PER_EVENT / 1e6
        available = memory_available_mb()
        if available is not None and need > 0.8 * available:
            log(f"{size:,} events: pandas skipped (needs about {need:,.0f} MB, {available:,.0f} MB available)")
        else:
            log(f"{size:,} events: pandas baseline")
            results["pandas"] = run_part("pandas", {**spec, "accounts": accounts}, work)
        log(f"{size:,} events: DuckDB over the raw parquet")
        results["raw"] = run_part("raw", {**spec, "accounts": accounts}, work)
        if not self_check:
            log(f"{size:,} events: ingest breakdown")
            results["diag"] = run_part("diag", spec, work)
            log(f"{size:,} events: incremental ingest")
            results["incr"] = run_part("incr", {**spec, "farm": str(farm)}, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_after"] = load_average()
    if engine_digest() != digest:
        results["engine_changed"] = True
        log(f"{size:,} events: the engine's sources changed during the run; the numbers mix two versions")
    return results


def bench_size(size: int, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    results = run_all(size, args)
    problems = check_figures(results)
    verdicts = report(size, results["data"], results, problems)
    return results, verdicts, problems


def parse_sizes(text_value: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text_value.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes {text_value!r}: expected numbers such as 1000000,10000000") from None
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError("--sizes: every size must be at least 1000 events")
    return sizes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], Path(argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=parse_sizes, default=list(DEFAULT_SIZES), help="events per run, comma-separated"
    )
    parser.add_argument(
        "--with-100m", action="store_true", help="also run 100,000,000 events (slow; pandas skipped without ~30 GB)"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed warm runs per measurement (median reported)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed runs before the timed ones")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds after which a slow measurement stops")
    parser.add_argument("--accounts", type=int, default=50, help="accounts in the generated exports")
    parser.add_argument(
        "--keep", action=argparse.BooleanOptionalAction, default=True, help="keep generated exports for reuse"
    )
    parser.add_argument("--fresh", action="store_true", help="regenerate the exports even when present")
    parser.add_argument(
        "--self-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first check the three implementations agree on small messy exports",
    )
    parser.add_argument("--json", type=Path, help="also write every measurement (without the figures) to this file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmups < 0:
        parser.error("--runs must be at least 1 and --warmups at least 0")
    sizes = args.sizes + ([BIG_SIZE] if args.with_100m and BIG_SIZE not in args.sizes else [])

    print(f"Token Analytics Center benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(machine())
    print(engine_version())
    print(f"now = {NOW}, zone = {TIMEZONE}, seed = {SEED}, {args.accounts} accounts; times are medians of warm runs")
    failures: list[str] = []
    record: dict[str, Any] = {"machine": machine(), "now": NOW, "seed": SEED, "sizes": {}}
    if args.self_check:
        try:
            failures += [f"self-check: figures disagree: {p}" for p in self_check(args)]
        except BenchError as exc:
            log(f"self-check: {exc}")
            failures.append(f"self-check: {exc}")
    for size in sizes:
        try:
            results, verdicts, problems = bench_size(size, args)
        except BenchError as exc:
            log(f"{size:,} events: {exc}")
            failures.append(f"{size:,}: {exc}")
            continue
        failures += [f"{size:,}: figures disagree: {p}" for p in problems]
        record["sizes"][str(size)] = {"results": strip_figures(results), "targets": verdicts, "problems": problems}
        if args.json:
            args.json.write_text(json.dumps(record, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(data_dir_for(size, args.accounts), ignore_errors=True)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
