"""What the engine is compared with: the import floor, plain pandas, DuckDB over the raw parquet files."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .common import KINDS, LEADERBOARD_LIMIT, NOW, RECENT_LIMIT, SERVICES, TIMEZONE, TXN_TYPES, log, timed_runs
from .data import export_files
from .figures import assemble, windows


def part_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import token_analytics.engine.figures  # noqa: F401

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
