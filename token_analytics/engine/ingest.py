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
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from token_analytics.engine.schema import KINDS, USAGE_EVENTS, Kind, compatible, type_name

log = logging.getLogger(__name__)

SCHEMA_VERSION = "6"

Progress = Callable[[float, str], None]

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
create table if not exists raw_transactions (
    file_id integer, row_no bigint, txn_id varchar, account_id varchar, user_id varchar, type varchar,
    amount bigint, created_at timestamptz, payment_method varchar, description varchar
);
"""

DROP_TABLES = """
drop table if exists meta; drop table if exists files; drop table if exists quarantine;
drop table if exists raw_accounts; drop table if exists raw_members; drop table if exists raw_events;
drop table if exists raw_transactions; drop table if exists accounts; drop table if exists members;
drop table if exists transactions; drop table if exists transaction_losers; drop table if exists event_losers;
drop table if exists usage_daily; drop table if exists usage_hourly;
"""

# The file is read where it lies (no copy): a view over it, with null optional
# columns appended by name so the statements below stay constant whatever optional
# columns a file has. The path is a session variable because a view takes no parameters.
SET_PATH = "set variable ingest_path = $path"
LAND = {
    "accounts": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_path'), hive_partitioning = false, file_row_number = true)
    """,
    "members": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_path'), hive_partitioning = false, file_row_number = true)
    """,
    "usage_events": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_path'), hive_partitioning = false, file_row_number = true)
        union all by name
        select null::bigint as input_tokens, null::bigint as output_tokens, null::varchar as model where false
    """,
    "transactions": """
        create or replace temp view landing as
        select * from read_parquet(getvariable('ingest_path'), hive_partitioning = false, file_row_number = true)
        union all by name
        select null::varchar as payment_method, null::varchar as description where false
    """,
}

# Each view casts the landed rows to the export types (a naive timestamp is UTC:
# the session zone is UTC) and adds `reason`, null for a valid row.
STAGE = {
    "accounts": """
        create or replace temp view staged as
        select file_row_number as row_no, account_id::varchar as account_id, account_name::varchar as account_name,
            owner_name::varchar as owner_name, plan::varchar as plan, created_at::timestamptz as created_at,
            case when account_id is null or account_id = '' then 'missing account_id' end as reason
        from landing
    """,
    "members": """
        create or replace temp view staged as
        select file_row_number as row_no, user_id::varchar as user_id, account_id::varchar as account_id,
            display_name::varchar as display_name, email::varchar as email,
            case
                when user_id is null or user_id = '' then 'missing user_id'
                when account_id is null or account_id = '' then 'missing account_id'
            end as reason
        from landing
    """,
    "usage_events": """
        create or replace temp view staged as
        select file_row_number as row_no, event_id::varchar as event_id, account_id::varchar as account_id,
            user_id::varchar as user_id, service::varchar as service, occurred_at::timestamptz as occurred_at,
            tokens::bigint as tokens, input_tokens::bigint as input_tokens, output_tokens::bigint as output_tokens,
            model::varchar as model,
            case
                when event_id is null or event_id = '' then 'missing event_id'
                when account_id is null or account_id = '' then 'missing account_id'
                when occurred_at is null then 'missing occurred_at'
                when tokens is null then 'missing tokens'
                when service is null or service not in ('agent', 'operator', 'assistant') then 'unknown service'
                when tokens < 0 then 'negative tokens'
            end as reason
        from landing
    """,
    "transactions": """
        create or replace temp view staged as
        select file_row_number as row_no, txn_id::varchar as txn_id, account_id::varchar as account_id,
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
        select $file_id, row_no, account_id, account_name, owner_name, plan, created_at
        from staged where reason is null
    """,
    "members": """
        insert into raw_members
        select $file_id, row_no, user_id, account_id, display_name, email
        from staged where reason is null
    """,
    "usage_events": """
        insert into raw_events
        select $file_id, row_no, hash(event_id), hash('#' || event_id), account_id, user_id, service, occurred_at,
            tokens, input_tokens, output_tokens, model
        from staged where reason is null
    """,
    "transactions": """
        insert into raw_transactions
        select $file_id, row_no, txn_id, account_id, user_id, type, amount, created_at, payment_method, description
        from staged where reason is null
    """,
}

DELETE_FILE_ROWS = (
    "delete from raw_accounts where file_id = $file_id",
    "delete from raw_members where file_id = $file_id",
    "delete from raw_events where file_id = $file_id",
    "delete from raw_transactions where file_id = $file_id",
    "delete from quarantine where file_id = $file_id",
    "delete from files where file_id = $file_id",
)

# Everything the figures read, rebuilt from the raw tables. De-duplication:
# per id the row from the path that sorts last wins (then the later row in it).
REBUILD = """
create or replace table accounts as
select account_id, account_name, owner_name, plan, created_at from (
    select r.*, row_number() over (partition by account_id order by f.path desc, r.row_no desc) as pick
    from raw_accounts r join files f using (file_id)
) where pick = 1;

create or replace table members as
select user_id, account_id, display_name, email from (
    select r.*, row_number() over (partition by user_id order by f.path desc, r.row_no desc) as pick
    from raw_members r join files f using (file_id)
) where pick = 1;

create or replace table transactions as
select txn_id, account_id, user_id, type, amount, created_at, payment_method, description from (
    select r.*, row_number() over (partition by txn_id order by f.path desc, r.row_no desc) as pick
    from raw_transactions r join files f using (file_id)
) where pick = 1;

create or replace table transaction_losers as
with dup_ids as (select txn_id from raw_transactions group by txn_id having count(*) > 1),
ranked as (
    select r.file_id, r.txn_id,
        hash(r.account_id, r.user_id, r.type, r.amount, r.created_at, r.payment_method, r.description) as h,
        row_number() over w as pick, first_value(h) over w as winner_h
    from raw_transactions r semi join dup_ids using (txn_id) join files f using (file_id)
    window w as (partition by r.txn_id order by f.path desc, r.row_no desc)
)
select file_id, txn_id, h <> winner_h as is_conflict from ranked where pick > 1;

create or replace table event_losers as
with dup_hashes as (select id_hash from raw_events group by id_hash having count(*) > 1),
dup_ids as (
    select id_hash, id_hash2 from raw_events semi join dup_hashes using (id_hash)
    group by id_hash, id_hash2 having count(*) > 1
),
ranked as (
    select r.file_id, r.row_no,
        hash(r.account_id, r.user_id, r.service, r.occurred_at, r.tokens, r.input_tokens, r.output_tokens,
            r.model) as h,
        row_number() over w as pick, first_value(h) over w as winner_h
    from raw_events r semi join dup_ids using (id_hash, id_hash2) join files f using (file_id)
    window w as (partition by r.id_hash, r.id_hash2 order by f.path desc, r.row_no desc)
)
select file_id, row_no, h <> winner_h as is_conflict from ranked where pick > 1;

"""

ROLLUPS = (
    """
-- The hourly rollup first (one pass over the events), the daily one from it. `hour` is the instant the
-- local hour starts: the event's instant minus its minutes and seconds past the local hour, so a
-- half-hour zone (Asia/Kolkata) gets its own hours and the repeated hour of a DST fall-back stays two
-- buckets. Both are written ordered by (account_id, day) so one account's rows sit in few row groups.
create or replace table usage_hourly as
with located as (
    select account_id, user_id, service, model, occurred_at, tokens, input_tokens, output_tokens,
        timezone($tz, occurred_at) as local_at
    from raw_events r anti join event_losers l using (file_id, row_no)
)
select account_id, occurred_at - (local_at - date_trunc('hour', local_at)) as hour, local_at::date as day,
    user_id, service, model, sum(tokens)::bigint as tokens, coalesce(sum(input_tokens), 0)::bigint as input_tokens,
    coalesce(sum(output_tokens), 0)::bigint as output_tokens, count(*)::bigint as calls,
    count(input_tokens is not null or output_tokens is not null or null)::bigint as io_calls,
    max(occurred_at) as latest_at
from located
group by all
order by account_id, day, hour
    """,
    """
create or replace table usage_daily as
select account_id, day, user_id, service, model, sum(tokens)::bigint as tokens,
    sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens,
    sum(calls)::bigint as calls, sum(io_calls)::bigint as io_calls, max(latest_at) as latest_at
from usage_hourly
group by all
order by account_id, day
    """,
)


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
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    if head != b"PAR1":
        raise FileRejected("not a parquet file")
    if tail != b"PAR1":
        raise FileRejected("truncated (no parquet footer); if it is still being written it is read once complete")
    try:
        parquet = pq.ParquetFile(path)
        arrow_schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise FileRejected(f"unreadable parquet footer ({type(exc).__name__})") from exc
    for column in kind.columns:
        index = arrow_schema.get_field_index(column.name)
        if index < 0:
            if column.required:
                raise FileRejected(f"missing required column {column.name}")
            continue
        actual = arrow_schema.field(index).type
        if not compatible(actual, column.type):
            raise FileRejected(f"column {column.name} is {actual}, expected {type_name(column.type)}")
    return rows


def read_file(
    cur: duckdb.DuckDBPyConnection,
    data_dir: Path,
    kind: Kind,
    rel: str,
    file_id: int,
    stat: os.stat_result,
    known_error: str | None = None,
) -> FileReport:
    """Screen and load one file inside the caller's transaction."""
    path = data_dir / rel
    report = FileReport(kind=kind.name, path=rel, status="ok")
    try:
        if known_error:
            raise FileRejected(known_error)
        report.rows_read = screen(path, kind)
        cur.execute(SET_PATH, {"path": str(path)})
        cur.execute(LAND[kind.name])
        cur.execute(STAGE[kind.name])
        accepted = cur.execute(INSERT_VALID[kind.name], {"file_id": file_id}).fetchall()[0][0]
        if accepted < report.rows_read:  # a second pass only for files with bad rows
            for reason, rows in cur.execute(
                "select reason, count(*) from staged where reason is not null group by reason"
            ).fetchall():
                report.quarantined[reason] = rows
        if kind is USAGE_EVENTS:
            report.latest_at = cur.execute(
                "select max(occurred_at) from raw_events where file_id = $file_id", {"file_id": file_id}
            ).fetchall()[0][0]
        cur.execute("drop view staged; drop view landing")
    except FileRejected as exc:
        report.status, report.error = "rejected", str(exc)
    except (OSError, pa.ArrowException) as exc:
        log.exception("reading %s failed", path)
        report.status, report.error = "rejected", f"unreadable ({type(exc).__name__}: {str(exc)[:120]})"
    if report.status == "rejected":
        for statement in DELETE_FILE_ROWS[:4]:
            cur.execute(statement, {"file_id": file_id})
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
            "file_id": file_id,
            "kind": kind.name,
            "path": rel,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
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
            {"file_id": file_id, "reason": reason, "rows": rows},
        )
    return report


def ensure_schema(cur: duckdb.DuckDBPyConnection) -> None:
    version = None
    if cur.execute("select count(*) from duckdb_tables() where table_name = 'meta'").fetchall()[0][0]:
        rows = cur.execute("select value from meta where key = 'schema_version'").fetchall()
        version = rows[0][0] if rows else None
    if version != SCHEMA_VERSION:
        # an older cache layout: the cache is derived data, so start it again
        cur.execute(DROP_TABLES)
    cur.execute(CREATE_TABLES)
    cur.execute("insert or replace into meta values ('schema_version', $v)", {"v": SCHEMA_VERSION})


class PoisonedFile(Exception):
    """DuckDB failed on a file that passed screening; the transaction must start again without it."""

    def __init__(self, rel: str, message: str) -> None:
        super().__init__(message)
        self.rel = rel


def ingest(
    cur: duckdb.DuckDBPyConnection, data_dir: Path, timezone: str, progress: Progress | None = None
) -> IngestSummary:
    """Bring the cache up to date with the files under data_dir, in one transaction."""
    poisoned: dict[str, str] = {}
    while True:
        try:
            return _ingest(cur, data_dir, timezone, progress, poisoned)
        except PoisonedFile as exc:
            log.warning("skipping %s: %s", exc.rel, exc)
            poisoned[exc.rel] = f"unreadable ({str(exc).splitlines()[0][:160]})"


def _ingest(
    cur: duckdb.DuckDBPyConnection,
    data_dir: Path,
    timezone: str,
    progress: Progress | None,
    poisoned: dict[str, str],
) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary()
    ensure_schema(cur)
    known = {
        path: (file_id, size, mtime_ns)
        for file_id, path, size, mtime_ns in cur.execute("select file_id, path, size, mtime_ns from files").fetchall()
    }
    found = discover(data_dir) if data_dir.is_dir() else []
    todo = [
        (k, rel, st) for k, rel, st in found if known.get(rel, (None, None, None))[1:] != (st.st_size, st.st_mtime_ns)
    ]
    gone = set(known) - {rel for _, rel, _ in found}
    summary.unchanged = len(found) - len(todo)
    tz_rows = cur.execute("select value from meta where key = 'timezone'").fetchall()
    tz_row = tz_rows[0] if tz_rows else None
    if not todo and not gone and tz_row and tz_row[0] == timezone:
        summary.seconds = time.perf_counter() - started
        return summary

    total_bytes = sum(st.st_size for _, _, st in todo) or 1
    done_bytes = 0
    cur.execute("begin transaction")
    try:
        for rel in sorted(gone | {rel for _, rel, _ in todo if rel in known}):
            for statement in DELETE_FILE_ROWS:
                cur.execute(statement, {"file_id": known[rel][0]})
        summary.removed = sorted(gone)
        next_id = cur.execute("select coalesce(max(file_id), 0) + 1 from files").fetchall()[0][0]
        for kind, rel, stat in todo:
            if progress:
                progress(done_bytes / total_bytes, f"Reading {rel}")
            try:
                report = read_file(cur, data_dir, kind, rel, next_id, stat, poisoned.get(rel))
            except duckdb.Error as exc:
                raise PoisonedFile(rel, str(exc)) from exc
            after = (data_dir / rel).stat() if (data_dir / rel).exists() else None
            if after is None or (after.st_size, after.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                # the file changed while it was read: forget this read, take it next time
                for statement in DELETE_FILE_ROWS:
                    cur.execute(statement, {"file_id": next_id})
                summary.retry_later.append(rel)
            else:
                summary.read.append(report)
            next_id += 1
            done_bytes += stat.st_size
        if progress:
            progress(1.0, "Building rollups")
        cur.execute(REBUILD)
        cur.execute(ROLLUPS[0], {"tz": timezone})
        cur.execute(ROLLUPS[1])
        cur.execute("insert or replace into meta values ('timezone', $tz)", {"tz": timezone})
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    summary.rebuilt = True
    summary.seconds = time.perf_counter() - started
    return summary
