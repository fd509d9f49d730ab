"""Ingest (SPEC §3): screen each file, read it, quarantine bad rows, de-duplicate, roll up.

The exports are copied into the cache database once; only new, changed or vanished
files are read again. Everything derived (canonical tables, the daily rollup the
figures read) is rebuilt in the same transaction, so a reader sees either the old
state or the new one, never half of a file.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from token_analytics.engine.schema import KINDS, Kind, compatible, type_name

log = logging.getLogger(__name__)

SCHEMA_VERSION = "6"


@dataclass(frozen=True)
class Step:
    """One step of a load, for a progress bar: `str()` is the English sentence (the command line); the web
    layer shows `progress.<message_id>` of its catalogue in the session's language, with the same params."""

    message_id: str
    english: str
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.english.format(**self.params)


def reading_step(rels: list[str]) -> Step:
    """Reading one file, or a batch of files read by one statement (named by its first)."""
    if len(rels) == 1:
        return Step("reading", "Reading {path}", {"path": rels[0]})
    values = {"count": str(len(rels)), "path": rels[0]}
    return Step("reading_batch", "Reading {count} files: {path} and the others", values)


BUILDING_STEP = Step("building", "Building rollups")
Progress = Callable[[float, Step], None]

# Cache tables. Raw tables keep every accepted row with the file and row it came
# from, so that "the file whose path sorts last wins" can be re-decided whenever a
# file arrives, changes or vanishes.
CREATE_TABLES = """
create table if not exists meta (key varchar primary key, value varchar);
create table if not exists files (
    file_id integer primary key, kind varchar, path varchar, size bigint, mtime_ns bigint,
    status varchar, error varchar, rows_read bigint, accepted bigint, quarantined bigint,
    latest_at timestamptz, read_at timestamptz
);
create table if not exists quarantine (file_id integer, reason varchar, rows bigint);
create table if not exists raw_accounts (
    file_id integer, row_no bigint, account_id varchar, account_name varchar, owner_name varchar,
    plan varchar, created_at timestamptz
);
create table if not exists raw_members (
    file_id integer, row_no bigint, user_id varchar, account_id varchar, display_name varchar, email varchar
);
create table if not exists raw_events (
    file_id integer, row_no bigint, id_hash ubigint, id_hash2 ubigint, account_id varchar, user_id varchar,
    service varchar,
    occurred_at timestamptz, tokens bigint, input_tokens bigint, output_tokens bigint, model varchar
);
create table if not exists event_losers (
    file_id integer, row_no bigint, id_hash ubigint, id_hash2 ubigint, is_conflict boolean
);
create table if not exists usage_hourly (
    account_id varchar, hour timestamptz, day date, user_id varchar, service varchar, model varchar, tokens bigint,
    input_tokens bigint, output_tokens bigint, calls bigint, io_calls bigint, latest_at timestamptz
);
create table if not exists usage_daily (
    account_id varchar, day date, user_id varchar, service varchar, model varchar, tokens bigint,
    input_tokens bigint, output_tokens bigint, calls bigint, io_calls bigint, latest_at timestamptz
);
create table if not exists usage_totals (account_id varchar, tokens bigint, calls bigint);
create table if not exists raw_transactions (
    file_id integer, row_no bigint, txn_id varchar, account_id varchar, user_id varchar, type varchar,
    amount bigint, created_at timestamptz, payment_method varchar, description varchar
);
-- The winning events with their local day: what month to date's partial hour reads (a view, so ingest
-- costs nothing more; a derived folder loads the same columns as a table, engine/derived.py).
create view if not exists recent_events as
select r.account_id, r.occurred_at, r.user_id, r.service, r.model, r.tokens,
    timezone((select value from meta where key = 'timezone'), r.occurred_at)::date as day
from raw_events as r anti join event_losers as l using (file_id, row_no);
"""

DROP_TABLES = """
drop table if exists meta; drop table if exists files; drop table if exists quarantine;
drop table if exists raw_accounts; drop table if exists raw_members; drop table if exists raw_events;
drop table if exists raw_transactions; drop table if exists accounts; drop table if exists members;
drop table if exists transactions; drop table if exists transaction_losers; drop table if exists event_losers;
drop table if exists usage_daily; drop table if exists usage_hourly; drop table if exists ledger_sums;
drop table if exists usage_totals;
"""

# The files are read where they lie (no copy): a view over a batch of files of one kind with the same
# columns and types, with null optional columns appended by name so the statements below stay constant
# whatever optional columns a file has. The paths are a session variable because a view takes no
# parameters; `_ingest_file` is each row's path, `file_row_number` its row in that file. One statement
# over many files reads them in parallel (DuckDB reads a parquet row group per thread, and an export file
# holds few: the generated ones one or two).
SET_PATHS = "set variable ingest_paths = $paths"
BATCH_FILES = """
create or replace temp table batch_files as
select unnest($paths::varchar[]) as _ingest_file, unnest($file_ids::integer[]) as file_id
"""
LAND = {
    "accounts": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_paths'), hive_partitioning = false, file_row_number = true,
            filename = '_ingest_file')
    """,
    "members": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_paths'), hive_partitioning = false, file_row_number = true,
            filename = '_ingest_file')
    """,
    "usage_events": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_paths'), hive_partitioning = false, file_row_number = true,
            filename = '_ingest_file')
        union all by name
        select null::bigint as input_tokens, null::bigint as output_tokens, null::varchar as model where false
    """,
    "transactions": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_paths'), hive_partitioning = false, file_row_number = true,
            filename = '_ingest_file')
        union all by name
        select null::varchar as payment_method, null::varchar as description where false
    """,
}

# Each view casts the landed rows to the export types (a naive timestamp is UTC:
# the session zone is UTC) and adds `reason`, null for a valid row.
STAGE = {
    "accounts": """
        create or replace temp view staged as
        select _ingest_file, file_row_number as row_no, account_id::varchar as account_id,
            account_name::varchar as account_name,
            owner_name::varchar as owner_name, plan::varchar as plan, created_at::timestamptz as created_at,
            case when account_id is null or account_id = '' then 'missing account_id' end as reason
        from landing
    """,
    "members": """
        create or replace temp view staged as
        select _ingest_file, file_row_number as row_no, user_id::varchar as user_id, account_id::varchar as account_id,
            display_name::varchar as display_name, email::varchar as email,
            case
                when user_id is null or user_id = '' then 'missing user_id'
                when account_id is null or account_id = '' then 'missing account_id'
            end as reason
        from landing
    """,
    "usage_events": """
        create or replace temp view staged as
        select _ingest_file, file_row_number as row_no, event_id::varchar as event_id,
            account_id::varchar as account_id,
            user_id::varchar as user_id, service::varchar as service, occurred_at::timestamptz as occurred_at,
            tokens::bigint as tokens, input_tokens::bigint as input_tokens, output_tokens::bigint as output_tokens,
            model::varchar as model,
            case
                when event_id is null or event_id = '' then 'missing event_id'
                when account_id is null or account_id = '' then 'missing account_id'
                when occurred_at is null then 'missing occurred_at'
                when occurred_at < timestamp '0001-01-02 00:00:00' or occurred_at >= timestamp '9999-12-31 00:00:00'
                    then 'occurred_at out of range'
                when tokens is null then 'missing tokens'
                when service is null or service not in ('agent', 'operator', 'assistant') then 'unknown service'
                when tokens < 0 then 'negative tokens'
            end as reason
        from landing
    """,
    "transactions": """
        create or replace temp view staged as
        select _ingest_file, file_row_number as row_no, txn_id::varchar as txn_id, account_id::varchar as account_id,
            user_id::varchar as user_id, type::varchar as type, amount::bigint as amount,
            created_at::timestamptz as created_at, payment_method::varchar as payment_method,
            description::varchar as description,
            case
                when txn_id is null or txn_id = '' then 'missing txn_id'
                when account_id is null or account_id = '' then 'missing account_id'
                when created_at is null then 'missing created_at'
                when amount is null then 'missing amount'
                when type is null or type not in ('CONSUME', 'RECHARGE', 'BONUS', 'REFUND', 'ADJUSTMENT')
                    then 'unknown type'
                when (type = 'CONSUME' and amount >= 0)
                    or (type in ('RECHARGE', 'BONUS', 'REFUND') and amount <= 0)
                    or (type = 'ADJUSTMENT' and amount = 0) then 'amount of the wrong sign'
            end as reason
        from landing
    """,
}

INSERT_VALID = {
    "accounts": """
        insert into raw_accounts
        select b.file_id, row_no, account_id, account_name, owner_name, plan, created_at
        from staged join batch_files b using (_ingest_file) where reason is null
    """,
    "members": """
        insert into raw_members
        select b.file_id, row_no, user_id, account_id, display_name, email
        from staged join batch_files b using (_ingest_file) where reason is null
    """,
    "usage_events": """
        insert into raw_events
        select b.file_id, row_no, hash(event_id), hash('#' || event_id), account_id, user_id, service, occurred_at,
            tokens, input_tokens, output_tokens, model
        from staged join batch_files b using (_ingest_file) where reason is null
    """,
    "transactions": """
        insert into raw_transactions
        select b.file_id, row_no, txn_id, account_id, user_id, type, amount, created_at, payment_method, description
        from staged join batch_files b using (_ingest_file) where reason is null
    """,
}

ACCEPTED = {
    "accounts": "select file_id, count(*), null from raw_accounts where file_id between $first and $last group by all",
    "members": "select file_id, count(*), null from raw_members where file_id between $first and $last group by all",
    "usage_events": """
        select file_id, count(*), max(occurred_at) from raw_events where file_id between $first and $last group by all
    """,
    "transactions": """
        select file_id, count(*), null from raw_transactions where file_id between $first and $last group by all
    """,
}
# only for the files of a batch that lost rows: staged read again over those files
QUARANTINED = "select _ingest_file, reason, count(*) from staged where reason is not null group by all"

DELETE_FILE_ROWS = (
    "delete from raw_accounts where file_id = $file_id",
    "delete from raw_members where file_id = $file_id",
    "delete from raw_events where file_id = $file_id",
    "delete from raw_transactions where file_id = $file_id",
    "delete from quarantine where file_id = $file_id",
    "delete from files where file_id = $file_id",
)

# The canonical tables, rebuilt whole when a file of their kind arrived, changed or vanished (they
# are small next to the events). Per id the row from the path that sorts last wins (then the later
# row in that file).
CANONICAL = {
    "accounts": (
        """
        create or replace table accounts as
        select account_id, account_name, owner_name, plan, created_at from (
            select r.*, row_number() over (partition by account_id order by f.path desc, r.row_no desc) as pick
            from raw_accounts r join files f using (file_id)
        ) where pick = 1
        """,
    ),
    "members": (
        """
        create or replace table members as
        select user_id, account_id, display_name, email from (
            select r.*, row_number() over (partition by user_id order by f.path desc, r.row_no desc) as pick
            from raw_members r join files f using (file_id)
        ) where pick = 1
        """,
    ),
    "transactions": (
        """
        create or replace table transactions as
        select txn_id, account_id, user_id, type, amount, created_at, payment_method, description from (
            select r.*, row_number() over (partition by txn_id order by f.path desc, r.row_no desc) as pick
            from raw_transactions r join files f using (file_id)
        ) where pick = 1
        order by account_id, created_at
        """,
        """
        create or replace table transaction_losers as
        with dup_ids as (select txn_id from raw_transactions group by txn_id having count(*) > 1),
        ranked as (
            select r.file_id, r.txn_id,
                hash(r.account_id, r.user_id, r.type, r.amount, r.created_at, r.payment_method, r.description) as h,
                row_number() over w as pick, first_value(h) over w as winner_h
            from raw_transactions r semi join dup_ids using (txn_id) join files f using (file_id)
            window w as (partition by r.txn_id order by f.path desc, r.row_no desc)
        )
        select file_id, txn_id, h <> winner_h as is_conflict from ranked where pick > 1
        """,
        # Per account: the exported ledger's sums (the usage card reads these instead of the whole ledger)
        # and the time of its RECENT_BOUND-th newest entry, before which the recent list never reaches.
        """
        create or replace table ledger_sums as
        with sums as (
            select account_id, coalesce(-sum(case when type = 'CONSUME' then amount end), 0)::bigint as used,
                coalesce(sum(case when type <> 'CONSUME' then amount end), 0)::bigint as total
            from transactions group by account_id
        ),
        recent as (
            select account_id, created_at as recent_from from transactions
            qualify row_number() over (partition by account_id order by created_at desc, txn_id desc) = 10
        )
        select s.account_id, s.used, s.total, r.recent_from from sums s left join recent r using (account_id)
        order by account_id
        """,
    ),
}
# ledger_sums.recent_from bounds a recent list of at most this many entries (queries/analysis_ledger.sql)
RECENT_BOUND = 10

# The event-derived tables are kept up to date slice by slice. One statement each derives them from
# a temp relation the caller points at either everything (a full derivation) or only what a change
# touched, so an incremental and a full derivation share every line that computes a number.
#
# `candidates`: every raw row of the ids in question. The losers are all but the winning row of
# each id seen more than once; a conflict is a loser whose content differs from the winner's.
INSERT_EVENT_LOSERS = """
insert into event_losers
with dup_ids as (select id_hash, id_hash2 from candidates group by all having count(*) > 1),
ranked as (
    select c.file_id, c.row_no, c.id_hash, c.id_hash2,
        hash(c.account_id, c.user_id, c.service, c.occurred_at, c.tokens, c.input_tokens, c.output_tokens,
            c.model) as h,
        row_number() over w as pick, first_value(h) over w as winner_h
    from candidates c semi join dup_ids using (id_hash, id_hash2) join files f using (file_id)
    window w as (partition by c.id_hash, c.id_hash2 order by f.path desc, c.row_no desc)
)
select file_id, row_no, id_hash, id_hash2, h <> winner_h as is_conflict from ranked where pick > 1
"""
# Only ids whose first hash repeats can be duplicates: finding those first is far cheaper than
# ranking every event.
ALL_CANDIDATES = """
create or replace temp view candidates as
with dup_hashes as (select id_hash from raw_events group by id_hash having count(*) > 1)
select r.* from raw_events r semi join dup_hashes using (id_hash)
"""

# `rollup_source`: the winning events to roll up, by local day in ANALYTICS_TIMEZONE.
#
# Local time without converting every event: ICU's timezone() costs about two thirds of the daily
# rollup. The UTC offset is looked up per UTC hour instead (`zone_hours`: each hour the events fall in,
# its offset at the first and at the last microsecond, from the same timezone()); an hour whose two
# offsets differ holds a transition (DST, the end of a local mean time such as Shanghai's +08:05:43
# before 1901) and its events are converted one by one. Instants are shifted by EPOCH_SHIFT before the
# integer division, which truncates toward zero: the shift keeps every instant since year 1 positive.
EPOCH_SHIFT = 86_400_000_000 * 4_200_000  # µs, 11,500 years, a whole number of days
ZONE_HOURS = """
create or replace temp table zone_hours as
select h, epoch_us(timezone($tz, make_timestamptz(h * 3600000000 - $shift))) - (h * 3600000000 - $shift) as offset_us,
    epoch_us(timezone($tz, make_timestamptz(h * 3600000000 - $shift + 3599999999)))
        - (h * 3600000000 - $shift + 3599999999) as offset_end_us
from (select distinct (epoch_us(occurred_at) + $shift) // 3600000000 as h from rollup_source)
"""
SET_ZONE = "set variable ingest_tz = $tz"
# rollup_source with `local_at`, the event's local wall time (a naive timestamp), as timezone() gives it.
# The shift is EPOCH_SHIFT written out: a view takes no parameters.
ROLLUP_LOCAL = """
create or replace temp view rollup_local as
select r.*, case when z.offset_us = z.offset_end_us then make_timestamp(epoch_us(r.occurred_at) + z.offset_us)
        else timezone(getvariable('ingest_tz'), r.occurred_at) end as local_at
from rollup_source r join zone_hours z on (epoch_us(r.occurred_at) + 362880000000000000) // 3600000000 = z.h
"""
INSERT_DAILY = """
insert into usage_daily
select account_id, local_at::date as day, user_id, service, model, sum(tokens)::bigint as tokens,
    coalesce(sum(input_tokens), 0)::bigint as input_tokens, coalesce(sum(output_tokens), 0)::bigint as output_tokens,
    count(*)::bigint as calls, count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
    max(occurred_at) as latest_at
from rollup_local
group by all
order by account_id, day
"""
# The same by local hour, for the local days from $hourly_from on (a recent window: the hourly rollup
# is about two thirds the size of the events). `hour` is the instant the local hour starts: the local
# hour minus the event's UTC offset, so a half-hour zone (Asia/Kolkata) gets its own hours and the
# repeated hour of a DST fall-back (two offsets) stays two buckets. The instant is computed once per
# bucket, after grouping: instant arithmetic per event is the slow part. $hourly_from_at, a day
# before the window, lets the scan skip older row groups.
INSERT_HOURLY = """
insert into usage_hourly
select account_id, to_timestamp((epoch_us(local_hour) - offset_us) / 1000000) as hour, day, user_id, service, model,
    tokens, input_tokens, output_tokens, calls, io_calls, latest_at
from (
    select account_id, date_trunc('hour', local_at) as local_hour,
        epoch_us(local_at) - epoch_us(occurred_at) as offset_us, local_at::date as day, user_id, service, model,
        sum(tokens)::bigint as tokens, coalesce(sum(input_tokens), 0)::bigint as input_tokens,
        coalesce(sum(output_tokens), 0)::bigint as output_tokens, count(*)::bigint as calls,
        count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
        max(occurred_at) as latest_at
    from (select * from rollup_local where occurred_at >= $hourly_from_at)
    where local_at::date >= $hourly_from
    group by all
)
order by account_id, day, hour
"""
PRUNE_HOURLY = "delete from usage_hourly where day < $hourly_from"
# All-time tokens and calls per account (the usage card's all-time figures), from the daily rollup: for
# every account in a full derivation, for the touched accounts otherwise.
ALL_TOTALS = """
create or replace table usage_totals as
select account_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls from usage_daily
group by account_id order by account_id
"""
TOUCHED_TOTALS = (
    "delete from usage_totals where account_id in (select account_id from slices)",
    """
    insert into usage_totals
    select account_id, sum(tokens)::bigint as tokens, sum(calls)::bigint as calls
    from usage_daily where account_id in (select account_id from slices)
    group by account_id
    """,
)
# Local days before today the hourly rollup keeps: the month-to-date comparison needs the same day
# last month (at most 31 days back); the explore page offers hours within this window.
HOURLY_DAYS = 35
ALL_ROLLUP_SOURCE = """
create or replace temp view rollup_source as
select r.* from raw_events r anti join event_losers l using (file_id, row_no)
"""

# Incremental: what a change touches. Before the rows of changed or vanished files go, their ids and
# (account, local day) slices are kept; after the new files are read, their ids join them.
DROPPED_FILES = "create or replace temp table dropped_files as select unnest($file_ids::integer[]) as file_id"
TOUCHED_BEFORE = (
    """
    create or replace temp table touched_ids as
    select distinct id_hash, id_hash2 from raw_events semi join dropped_files using (file_id)
    """,
    """
    create or replace temp table slices as
    select distinct account_id, timezone($tz, occurred_at)::date as day
    from raw_events semi join dropped_files using (file_id)
    """,
)
TOUCHED_AFTER = (
    """
    insert into touched_ids
    select distinct id_hash, id_hash2 from raw_events where file_id >= $first_new_file
    """,
    # the older rows of a touched id: found on the id columns alone (the one pass over every event)...
    """
    create or replace temp table old_hits as
    select r.file_id, r.row_no from raw_events r semi join touched_ids t using (id_hash, id_hash2)
    where r.file_id < $first_new_file
    """,
)
# ...then read whole, within the files they lie in (zone maps on file_id skip the others). With the new
# files' rows these are every row whose winner may have changed.
CANDIDATE_ROWS = """
create or replace temp table candidates_rows as
select * from raw_events where file_id >= $first_new_file
union all
select r.* from raw_events r semi join old_hits h using (file_id, row_no)
where r.file_id between $first_hit_file and $last_hit_file
"""
LOSERS_AGAIN = (
    "create or replace temp view candidates as select * from candidates_rows",
    "delete from event_losers using dropped_files d where event_losers.file_id = d.file_id",
    """
    delete from event_losers using touched_ids t
    where event_losers.id_hash = t.id_hash and event_losers.id_hash2 = t.id_hash2
    """,
    INSERT_EVENT_LOSERS,
    """
    insert into slices select distinct account_id, timezone($tz, occurred_at)::date as day from candidates_rows
    """,
    "create or replace temp table slices as select distinct account_id, day from slices",
)
# The winning events of the touched slices. The instant bounds (a local day lies within a day of its
# UTC date) let the scan skip the row groups of other times: raw_events is stored in file order.
# The bounds are read first and bound as values: with subqueries in their place the planner estimated
# ~0 events, built its hash tables on the events instead of on `slices` and ran out of memory at 100M
# events (and scanned every row group); as constants they prune the scan by zone maps.
SLICE_BOUNDS = """
select (min(day) - 1)::timestamp::timestamptz as slices_from, (max(day) + 2)::timestamp::timestamptz as slices_to
from slices
"""
SLICE_SOURCE = (
    """
    create or replace temp table slice_events as
    select r.* from raw_events r
    semi join slices s on r.account_id = s.account_id and timezone($tz, r.occurred_at)::date = s.day
    anti join event_losers l on r.file_id = l.file_id and r.row_no = l.row_no
    where r.occurred_at >= $slices_from and r.occurred_at < $slices_to
    """,
    "create or replace temp view rollup_source as select * from slice_events",
    "delete from usage_hourly using slices s where usage_hourly.account_id = s.account_id and usage_hourly.day = s.day",
)
SLICE_DAILY = (
    "delete from usage_daily using slices s where usage_daily.account_id = s.account_id and usage_daily.day = s.day",
)
# Appended slices sit after the sorted rows, each ingest's in (account, day) order but in row groups
# every account reads. Once they are a quarter of a table, or 16 ingests have appended, the table is
# rewritten in order, so an account's figures keep reading few row groups.
RESORT = {
    "usage_hourly": "create or replace table usage_hourly as select * from usage_hourly order by account_id, day, hour",
    "usage_daily": "create or replace table usage_daily as select * from usage_daily order by account_id, day",
}
RESORT_FRACTION = 0.25
RESORT_INGESTS = 16
COUNT_ROWS = {"usage_hourly": "select count(*) from usage_hourly", "usage_daily": "select count(*) from usage_daily"}


@dataclass
class FileReport:
    """What happened to one export file."""

    kind: str
    path: str
    status: str  # ok | rejected
    error: str | None = None
    rows_read: int = 0
    accepted: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    latest_at: datetime | None = None


@dataclass
class IngestSummary:
    read: list[FileReport] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retry_later: list[str] = field(default_factory=list)
    unchanged: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    full: bool = False  # every derived table derived again (first ingest, new zone), not only the touched slices
    phases: dict[str, float] = field(default_factory=dict)  # seconds: read, canonical, duplicates, ..., commit

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.read)


def discover(data_dir: Path) -> list[tuple[Kind, str, os.stat_result]]:
    """Every export file under the data folder: (kind, path relative to it, stat)."""
    found = []
    for kind in KINDS:
        folder = data_dir / kind.name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.parquet")):
            if path.is_file():
                found.append((kind, path.relative_to(data_dir).as_posix(), path.stat()))
    return found


class FileRejected(Exception):
    """The whole file is skipped; the message is the one-line reason."""


def screen(path: Path, kind: Kind) -> int:
    """Open the footer and check the schema, before any row is read; the file's row count."""
    return screen_schema(path, kind)[0]


def screen_schema(path: Path, kind: Kind) -> tuple[int, tuple[tuple[str, str], ...]]:
    """screen(), plus the file's export columns and their types: files that share them are read in one batch."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    check_magic(head, tail)
    try:
        parquet = pq.ParquetFile(path)
        arrow_schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise FileRejected(f"unreadable parquet footer ({type(exc).__name__})") from exc
    check_columns(arrow_schema, kind)
    names = {column.name for column in kind.columns}
    int96 = {column.name for column in parquet.schema if column.physical_type == "INT96"}
    # pyarrow calls INT96 timestamp[ns]; DuckDB reads it as microseconds, so it is told apart here
    return rows, tuple((f.name, INT96 if f.name in int96 else str(f.type)) for f in arrow_schema if f.name in names)


def check_magic(head: bytes, tail: bytes) -> None:
    """The file's first and last four bytes (engine/spark_rollup.py reads them through Hadoop)."""
    if head != b"PAR1":
        raise FileRejected("not a parquet file")
    if tail != b"PAR1":
        raise FileRejected("truncated (no parquet footer); if it is still being written it is read once complete")


def check_columns(arrow_schema: pa.Schema, kind: Kind) -> None:
    """Every required column present, every column present with a type the export format allows."""
    for column in kind.columns:
        index = arrow_schema.get_field_index(column.name)
        if index < 0:
            if column.required:
                raise FileRejected(f"missing required column {column.name}")
            continue
        actual = arrow_schema.field(index).type
        if not compatible(actual, column.type):
            raise FileRejected(f"column {column.name} is {actual}, expected {type_name(column.type)}")


@dataclass
class Pending:
    """One export file to read in this ingest."""

    kind: Kind
    rel: str
    stat: os.stat_result
    file_id: int
    report: FileReport
    signature: tuple[tuple[str, str], ...] = ()


def screen_file(data_dir: Path, item: Pending, known_error: str | None = None) -> None:
    """Screen one file before DuckDB sees it; a rejected file's report says why."""
    path = data_dir / item.rel
    try:
        if known_error:
            raise FileRejected(known_error)
        item.report.rows_read, item.signature = screen_schema(path, item.kind)
    except FileRejected as exc:
        item.report.status, item.report.error = "rejected", str(exc)
    except (OSError, pa.ArrowException) as exc:
        log.exception("reading %s failed", path)
        item.report.status, item.report.error = "rejected", f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"


def batches(items: list[Pending], one_by_one: bool) -> list[list[Pending]]:
    """The screened files in reading order, grouped by kind and columns (file ids ascending in each)."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Pending]] = {}
    for item in items:
        if item.report.status == "ok":
            groups.setdefault((item.kind.name, item.signature), []).append(item)
    if one_by_one:
        return [[item] for group in groups.values() for item in group]
    return list(groups.values())


def read_batch(cur: duckdb.DuckDBPyConnection, data_dir: Path, batch: list[Pending]) -> None:
    """Load a batch of screened files of one kind and columns inside the caller's transaction."""
    kind = batch[0].kind
    paths = [str(data_dir / item.rel) for item in batch]
    by_path = dict(zip(paths, batch, strict=True))
    cur.execute(BATCH_FILES, {"paths": paths, "file_ids": [item.file_id for item in batch]})
    cur.execute(SET_PATHS, {"paths": paths})
    nanos = [name for name, type_text in batch[0].signature if type_text.startswith("timestamp[ns")]
    if nanos:
        cur.execute(LAND[kind.name].replace("temp view landing as", "temp view landing_ns as", 1))
        cur.execute(truncate_nanos(nanos))
    else:
        cur.execute(LAND[kind.name])
    cur.execute(STAGE[kind.name])
    cur.execute(INSERT_VALID[kind.name])
    # the batch's file ids are in order, so the range covers them (and maybe another batch's, ignored here)
    span = {"first": batch[0].file_id, "last": batch[-1].file_id}
    counts = {
        file_id: (accepted, latest) for file_id, accepted, latest in cur.execute(ACCEPTED[kind.name], span).fetchall()
    }
    lost = []
    for path, item in by_path.items():
        accepted, latest = counts.get(item.file_id, (0, None))
        item.report.latest_at = latest
        if accepted < item.report.rows_read:  # a second pass only over the files with bad rows
            lost.append(path)
    if lost:
        cur.execute(SET_PATHS, {"paths": lost})
        for path, reason, rows in cur.execute(QUARANTINED).fetchall():
            by_path[path].report.quarantined[reason] = rows
    cur.execute("drop view staged; drop view landing; drop table batch_files")
    if nanos:
        cur.execute("drop view landing_ns")


INT96 = "int96"


def truncate_nanos(columns: list[str]) -> str:
    """The landing view with nanosecond timestamps cut to the microsecond below (the instant's own day).

    A cast to TIMESTAMPTZ rounds (…59.999999999 becomes the next second, maybe the next local day);
    Spark truncates. Floor division, not truncation toward zero, so an instant before 1970 goes down too.
    Names come from the export schema's columns (screened), never from free input.
    """
    replaced = ", ".join(
        f"make_timestamptz((epoch_ns({name}) - ((epoch_ns({name}) % 1000) + 1000) % 1000) // 1000) as {name}"
        for name in columns
    )
    return f"create or replace temp view landing as select * replace ({replaced}) from landing_ns"  # noqa: S608


def record_file(cur: duckdb.DuckDBPyConnection, item: Pending) -> None:
    """The file's row in `files` and its quarantine counts."""
    report = item.report
    if report.status == "rejected":
        for statement in DELETE_FILE_ROWS[:4]:
            cur.execute(statement, {"file_id": item.file_id})
        report.rows_read = 0
        report.quarantined = {}
        report.latest_at = None
    report.accepted = report.rows_read - sum(report.quarantined.values())
    cur.execute(
        """
        insert into files values ($file_id, $kind, $path, $size, $mtime_ns, $status, $error, $rows_read,
            $accepted, $quarantined, $latest_at, now())
        """,
        {
            "file_id": item.file_id,
            "kind": item.kind.name,
            "path": item.rel,
            "size": item.stat.st_size,
            "mtime_ns": item.stat.st_mtime_ns,
            "status": report.status,
            "error": report.error,
            "rows_read": report.rows_read,
            "accepted": report.accepted,
            "quarantined": sum(report.quarantined.values()),
            "latest_at": report.latest_at,
        },
    )
    for reason, rows in report.quarantined.items():
        cur.execute(
            "insert into quarantine values ($file_id, $reason, $rows)",
            {"file_id": item.file_id, "reason": reason, "rows": rows},
        )


def ensure_schema(cur: duckdb.DuckDBPyConnection) -> None:
    version = None
    if cur.execute("select count(*) from duckdb_tables() where table_name = 'meta'").fetchall()[0][0]:
        rows = cur.execute("select value from meta where key = 'schema_version'").fetchall()
        version = rows[0][0] if rows else None
    if version != SCHEMA_VERSION:
        # an older cache layout (or one loaded from a derived folder): the cache is derived data, so start it again
        drop_either(cur, ("recent_events", "file_duplicates"))
        cur.execute(DROP_TABLES)
    cur.execute(CREATE_TABLES)
    cur.execute("insert or replace into meta values ('schema_version', $v)", {"v": SCHEMA_VERSION})


# Relations that are views over the raw tables after an ingest and tables in a cache loaded from a derived folder
# (engine/derived.py): dropped by what they are.
DROP_EITHER = {
    ("recent_events", "view"): "drop view recent_events",
    ("recent_events", "table"): "drop table recent_events",
    ("file_duplicates", "view"): "drop view file_duplicates",
    ("file_duplicates", "table"): "drop table file_duplicates",
}


def drop_either(cur: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Drop each named relation, a view in one mode and a table in the other (recent_events, file_duplicates)."""
    for name in names:
        for (kind,) in cur.execute(
            "select 'view' from duckdb_views() where view_name = $name and not internal "
            "union all select 'table' from duckdb_tables() where table_name = $name",
            {"name": name},
        ).fetchall():
            cur.execute(DROP_EITHER[name, kind])


class PoisonedFile(Exception):
    """DuckDB failed on a file that passed screening; the transaction must start again without it."""

    def __init__(self, rel: str | None, message: str) -> None:
        super().__init__(message)
        self.rel = rel  # None: a batch of several files failed; which one is found by reading them one by one


def ingest(
    cur: duckdb.DuckDBPyConnection,
    data_dir: Path,
    timezone: str,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> IngestSummary:
    """Bring the cache up to date with the files under data_dir, in one transaction.

    `now` (default: the wall clock) only places the window of the hourly rollup.
    """
    poisoned: dict[str, str] = {}
    window = hourly_window(now or datetime.now(UTC), timezone)
    one_by_one = False
    while True:
        try:
            return _ingest(cur, data_dir, timezone, progress, poisoned, window, one_by_one)
        except PoisonedFile as exc:
            if exc.rel is None:
                log.warning("reading a batch of files failed, reading them one by one: %s", exc)
                one_by_one = True
                continue
            log.warning("skipping %s: %s", exc.rel, exc)
            poisoned[exc.rel] = f"unreadable ({str(exc).splitlines()[0][:160]})"


def _ingest(
    cur: duckdb.DuckDBPyConnection,
    data_dir: Path,
    timezone: str,
    progress: Progress | None,
    poisoned: dict[str, str],
    window: dict[str, Any],
    one_by_one: bool = False,
) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary()
    ensure_schema(cur)
    known = {
        path: (file_id, size, mtime_ns, kind)
        for file_id, path, size, mtime_ns, kind in cur.execute(
            "select file_id, path, size, mtime_ns, kind from files"
        ).fetchall()
    }
    found = discover(data_dir) if data_dir.is_dir() else []
    todo = [
        (k, rel, st)
        for k, rel, st in found
        if known.get(rel, (None, None, None, None))[1:3] != (st.st_size, st.st_mtime_ns)
    ]
    gone = set(known) - {rel for _, rel, _ in found}
    summary.unchanged = len(found) - len(todo)
    tz_rows = cur.execute("select value from meta where key = 'timezone'").fetchall()
    derived_zone = tz_rows[0][0] if tz_rows else None
    if not todo and not gone and derived_zone == timezone:
        summary.seconds = time.perf_counter() - started
        return summary

    dropped = sorted(gone | {rel for _, rel, _ in todo if rel in known})
    kinds = {known[rel][3] for rel in dropped} | {kind.name for kind, _, _ in todo}
    # the first ingest, a new zone and an hourly window that moved back (a clock set back) derive
    # everything; otherwise only what the change touches
    window_rows = cur.execute("select value from meta where key = 'hourly_from'").fetchall()
    full = derived_zone != timezone or not window_rows or window_rows[0][0] > window["hourly_from"].isoformat()
    total_bytes = sum(st.st_size for _, _, st in todo) or 1
    done_bytes = 0
    summary.full = full
    clock = Phases(summary.phases)
    cur.execute("begin transaction")
    try:
        dropped_ids = [known[rel][0] for rel in dropped]
        if not full and "usage_events" in kinds:
            cur.execute(DROPPED_FILES, {"file_ids": dropped_ids})
            cur.execute(TOUCHED_BEFORE[0])
            cur.execute(TOUCHED_BEFORE[1], {"tz": timezone})
        for file_id in dropped_ids:
            for statement in DELETE_FILE_ROWS:
                cur.execute(statement, {"file_id": file_id})
        summary.removed = sorted(gone)
        first_new = next_id = cur.execute("select coalesce(max(file_id), 0) + 1 from files").fetchall()[0][0]
        if dropped_ids:
            first_new = next_id = max(next_id, max(dropped_ids) + 1)
        items = [
            Pending(kind, rel, stat, next_id + i, FileReport(kind=kind.name, path=rel, status="ok"))
            for i, (kind, rel, stat) in enumerate(todo)
        ]
        for item in items:
            screen_file(data_dir, item, poisoned.get(item.rel))
        for batch in batches(items, one_by_one):
            if progress:
                progress(done_bytes / total_bytes, reading_step([item.rel for item in batch]))
            try:
                read_batch(cur, data_dir, batch)
            except duckdb.Error as exc:
                raise PoisonedFile(batch[0].rel if len(batch) == 1 else None, str(exc)) from exc
            done_bytes += sum(item.stat.st_size for item in batch)
        for item in items:
            after = (data_dir / item.rel).stat() if (data_dir / item.rel).exists() else None
            if after is None or (after.st_size, after.st_mtime_ns) != (item.stat.st_size, item.stat.st_mtime_ns):
                # the file changed while it was read: forget this read, take it next time
                for statement in DELETE_FILE_ROWS:
                    cur.execute(statement, {"file_id": item.file_id})
                summary.retry_later.append(item.rel)
            else:
                record_file(cur, item)
                summary.read.append(item.report)
        if progress:
            progress(1.0, BUILDING_STEP)
        clock.lap("read")
        derive(cur, timezone, window, full=full, kinds=kinds, first_new_file=first_new, phases=summary.phases)
        cur.execute("insert or replace into meta values ('timezone', $tz)", {"tz": timezone})
        cur.execute("insert or replace into meta values ('hourly_from', $d)", {"d": window["hourly_from"].isoformat()})
        clock.last = time.perf_counter()
        cur.execute("commit")
        clock.lap("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    summary.rebuilt = True
    summary.seconds = time.perf_counter() - started
    return summary


def hourly_window(now: datetime, timezone: str) -> dict[str, Any]:
    """The first local day the hourly rollup keeps, and an instant a day before it (for the scan)."""
    first = now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=HOURLY_DAYS)
    return {"hourly_from": first, "hourly_from_at": datetime.combine(first - timedelta(days=1), dt_time(), UTC)}


def derive(
    cur: duckdb.DuckDBPyConnection,
    timezone: str,
    window: dict[str, Any],
    *,
    full: bool,
    kinds: set[str],
    first_new_file: int,
    phases: dict[str, float] | None = None,
) -> None:
    """Bring the derived tables up to date inside the caller's transaction (see the SQL above)."""
    clock = Phases(phases)
    for kind, statements in CANONICAL.items():
        if full or kind in kinds:
            for statement in statements:
                cur.execute(statement)
    clock.lap("canonical")
    if full:
        cur.execute("delete from event_losers")
        cur.execute(ALL_CANDIDATES)
        cur.execute(INSERT_EVENT_LOSERS)
        clock.lap("duplicates")
        cur.execute("delete from usage_hourly")
        cur.execute(ALL_ROLLUP_SOURCE)
        local_time(cur, timezone)
        cur.execute(INSERT_HOURLY, window)
        clock.lap("hourly")
        cur.execute("delete from usage_daily")
        cur.execute(INSERT_DAILY)
        cur.execute(ALL_TOTALS)
        clock.lap("daily")
        appended = {"usage_hourly": 0, "usage_daily": 0, "ingests": 0}
    elif "usage_events" in kinds:
        values: dict[str, Any] = {"tz": timezone, "first_new_file": first_new_file}
        for statement in TOUCHED_AFTER:
            cur.execute(statement, {name: value for name, value in values.items() if f"${name}" in statement})
        first_hit, last_hit = cur.execute("select min(file_id), max(file_id) from old_hits").fetchall()[0]
        cur.execute(
            CANDIDATE_ROWS,
            {"first_new_file": first_new_file, "first_hit_file": first_hit or 0, "last_hit_file": last_hit or -1},
        )
        for statement in LOSERS_AGAIN:
            cur.execute(statement, {name: value for name, value in values.items() if f"${name}" in statement})
        clock.lap("duplicates")
        values["slices_from"], values["slices_to"] = cur.execute(SLICE_BOUNDS).fetchall()[0]
        for statement in SLICE_SOURCE:
            cur.execute(statement, {name: value for name, value in values.items() if f"${name}" in statement})
        local_time(cur, timezone)
        clock.lap("slices")
        appended = _appended(cur)
        appended["usage_hourly"] += cur.execute(INSERT_HOURLY, window).fetchall()[0][0]
        clock.lap("hourly")
        for statement in SLICE_DAILY:
            cur.execute(statement)
        appended["usage_daily"] += cur.execute(INSERT_DAILY).fetchall()[0][0]
        for statement in TOUCHED_TOTALS:
            cur.execute(statement)
        appended["ingests"] += 1
        clock.lap("daily")
        for table in RESORT:
            total = cur.execute(COUNT_ROWS[table]).fetchall()[0][0]
            if appended[table] > RESORT_FRACTION * total or appended["ingests"] >= RESORT_INGESTS:
                cur.execute(RESORT[table])
                appended[table] = 0
        if not appended["usage_hourly"] and not appended["usage_daily"]:
            appended["ingests"] = 0
        clock.lap("resort")
    else:
        appended = _appended(cur)
    cur.execute(PRUNE_HOURLY, {"hourly_from": window["hourly_from"]})  # the window moves with the clock
    cur.execute(
        "insert or replace into meta values ('appended', $v)",
        {"v": f"{appended['usage_hourly']},{appended['usage_daily']},{appended['ingests']}"},
    )
    cur.execute(
        "drop view if exists candidates; drop view if exists rollup_local; drop view if exists rollup_source; "
        "drop table if exists zone_hours"
    )
    clock.lap("hourly")


def local_time(cur: duckdb.DuckDBPyConnection, timezone: str) -> None:
    """Point `rollup_local` at `rollup_source` with each event's local wall time (see ZONE_HOURS)."""
    cur.execute(SET_ZONE, {"tz": timezone})
    cur.execute(ZONE_HOURS, {"tz": timezone, "shift": EPOCH_SHIFT})
    cur.execute(ROLLUP_LOCAL)


def _appended(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows appended to each rollup since it was last written in order, and the ingests that appended them."""
    rows = cur.execute("select value from meta where key = 'appended'").fetchall()
    values = [int(v) for v in rows[0][0].split(",")] if rows else []
    hourly, daily, ingests = (values + [0, 0, 0])[:3]
    return {"usage_hourly": hourly, "usage_daily": daily, "ingests": ingests}


class Phases:
    """Adds the seconds since the last lap to a named phase (where ingest time goes; the benchmark prints it)."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into if into is not None else {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = self.into.get(name, 0.0) + now - self.last
        self.last = now
