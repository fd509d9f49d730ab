"""Ingest (SPEC §3): screen each file, read it, quarantine bad rows, de-duplicate, roll up.

The exports are copied into the cache database once; only new, changed or vanished
files are read again. Everything derived (canonical tables, the daily rollup the
figures read) is rebuilt in the same transaction, so a reader sees either the old
state or the new one, never half of a file.
"""

from __future__ import annotations

import logging
import os
import re
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

from token_analytics.db.queries import query_text
from token_analytics.engine.schema import KINDS, Kind, compatible, reason_sql, type_name
from token_analytics.settings import LEADERBOARD_ENTRIES, RECENT_ENTRIES

log = logging.getLogger(__name__)

SCHEMA_VERSION = "8"


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

# The statements live in queries/ingest/*.sql. Each is a `Statement`: its text and the names of the `$parameters`
# it takes, stated here (a test checks them against the text), so a call binds exactly those.


@dataclass(frozen=True)
class Statement:
    """One SQL statement and the `$parameters` it takes."""

    text: str
    params: tuple[str, ...] = ()

    def run(self, cur: duckdb.DuckDBPyConnection, values: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Execute with the declared parameters taken from `values` (a missing one is a KeyError)."""
        if not self.params:
            return cur.execute(self.text)
        source = values or {}
        return cur.execute(self.text, {name: source[name] for name in self.params})


def statement(name: str, *params: str) -> Statement:
    return Statement(query_text(name), params)


# Slots of an ingest query that no parameter can fill: the text generated from engine/schema.py (a column
# list, a rule's `case`), or a name from a fixed set. `{slot}` in the file; never data values.
TABLE_NAMES = frozenset(
    {"raw_accounts", "raw_members", "raw_events", "raw_transactions", "quarantine", "files", "landing", "landing_ns"}
)


def filled(name: str, **slots: str) -> str:
    """queries/<name>.sql with every `{slot}` replaced: names from TABLE_NAMES, or text land_sql / stage_sql make."""
    text = query_text(name)
    for slot, value in slots.items():
        if f"{{{slot}}}" not in text:
            raise ValueError(f"{name} has no slot {slot}")
        text = text.replace(f"{{{slot}}}", value)
    if re.search(r"\{[a-z_]+\}", text):
        raise ValueError(f"{name} has an unfilled slot")
    return text


def table_name(name: str) -> str:
    if name not in TABLE_NAMES:
        raise ValueError(f"not an ingest table: {name!r}")
    return name


# Cache tables. Raw tables keep every accepted row with the file and row it came
# from, so that "the file whose path sorts last wins" can be re-decided whenever a
# file arrives, changes or vanishes. `rollup_appends` (one row) counts the rollup rows appended since each
# rollup was last written in order, and the ingests that appended them (see RESORT).
CREATE_TABLES = query_text("ingest/create_cache") + query_text("ingest/create_tables")
DROP_TABLES = query_text("ingest/drop_tables")

# The files are read where they lie (no copy): a view over a batch of files of one kind with the same
# columns and types, with null optional columns appended by name so the statements below stay constant
# whatever optional columns a file has. The paths are a session variable because a view takes no
# parameters; `_ingest_file` is each row's path, `file_row_number` its row in that file. One statement
# over many files reads them in parallel (DuckDB reads a parquet row group per thread, and an export file
# holds few: the generated ones one or two).
SET_PATHS = Statement("set variable ingest_paths = $paths", ("paths",))
BATCH_FILES = statement("ingest/batch_files", "paths", "file_ids")
SQL_TYPES = {"VARCHAR": "varchar", "BIGINT": "bigint", "TIMESTAMP": "timestamptz"}


def land_sql(kind: Kind, view: str = "landing") -> str:
    """The landing view of a kind: its files' rows, with a null column of each optional column a file may lack."""
    optional = ", ".join(
        f"null::{SQL_TYPES[type_name(column.type)]} as {column.name}" for column in kind.columns if not column.required
    )
    union = f"union all by name\nselect {optional} where false" if optional else ""
    return filled("ingest/land", view=table_name(view), optional_columns=union)


def stage_sql(kind: Kind) -> str:
    """The staged view: the landed rows cast to the export types, and `reason` (engine/schema.py's rules)."""
    columns = ",\n    ".join(
        f"{column.name}::{SQL_TYPES[type_name(column.type)]} as {column.name}" for column in kind.columns
    )
    return filled("ingest/stage", columns=columns, reason=reason_sql(kind.name, "duckdb"))


LAND = {kind.name: land_sql(kind) for kind in KINDS}
LAND_NS = {kind.name: land_sql(kind, "landing_ns") for kind in KINDS}
STAGE = {kind.name: stage_sql(kind) for kind in KINDS}

INSERT_VALID = {
    "accounts": statement("ingest/insert_raw_accounts"),
    "members": statement("ingest/insert_raw_members"),
    "usage_events": statement("ingest/insert_raw_events"),
    "transactions": statement("ingest/insert_raw_transactions"),
}
ACCEPTED = {
    "accounts": statement("ingest/accepted_accounts", "first", "last"),
    "members": statement("ingest/accepted_members", "first", "last"),
    "usage_events": statement("ingest/accepted_events", "first", "last"),
    "transactions": statement("ingest/accepted_transactions", "first", "last"),
}
INSERT_FILE = statement(
    "ingest/insert_file",
    *("file_id", "kind", "path", "size", "mtime_ns", "status", "error", "rows_read", "accepted", "quarantined"),
    "latest_at",
)
INSERT_QUARANTINE = statement("ingest/insert_quarantine", "file_id", "reason", "rows")
# only for the files of a batch that lost rows: staged read again over those files
QUARANTINED = statement("ingest/quarantined")

DELETE_FILE_ROWS = tuple(
    Statement(filled("ingest/delete_file_rows", table=table_name(table)), ("file_id",))
    for table in ("raw_accounts", "raw_members", "raw_events", "raw_transactions", "quarantine", "files")
)

# The canonical tables, rebuilt whole when a file of their kind arrived, changed or vanished (they
# are small next to the events). Per id the row from the path that sorts last wins (then the later
# row in that file). ledger_sums: per account, the exported ledger's sums (the usage card reads these
# instead of the whole ledger) and the time of its RECENT_ENTRIES-th newest entry, before which the recent
# list never reaches.
CANONICAL = {
    "accounts": (statement("ingest/canonical_accounts"),),
    "members": (statement("ingest/canonical_members"),),
    "transactions": (
        statement("ingest/canonical_transactions"),
        statement("ingest/transaction_losers"),
        statement("ingest/ledger_sums", "recent_entries"),
    ),
}

# The event-derived tables are kept up to date slice by slice. One statement each derives them from
# a temp relation the caller points at either everything (a full derivation) or only what a change
# touched, so an incremental and a full derivation share every line that computes a number.
#
# `candidates`: every raw row of the ids in question. The losers are all but the winning row of
# each id seen more than once; a conflict is a loser whose content differs from the winner's.
INSERT_EVENT_LOSERS = statement("ingest/insert_event_losers")
# Only ids whose first hash repeats can be duplicates: finding those first is far cheaper than
# ranking every event.
ALL_CANDIDATES = statement("ingest/all_candidates")

# `rollup_source`: the winning events to roll up, by local day in ANALYTICS_TIMEZONE.
#
# Local time without converting every event: ICU's timezone() costs about two thirds of the daily
# rollup. The UTC offset is looked up per UTC hour instead (`zone_hours`: each hour the events fall in,
# its offset at the first and at the last microsecond, from the same timezone()); an hour whose two
# offsets differ holds a transition (DST, the end of a local mean time such as Shanghai's +08:05:43
# before 1901) and its events are converted one by one. Instants are shifted by EPOCH_SHIFT before the
# integer division, which truncates toward zero: the shift keeps every instant since year 1 positive.
EPOCH_SHIFT = 86_400_000_000 * 4_200_000  # µs, 11,500 years, a whole number of days
ZONE_HOURS = statement("ingest/zone_hours", "tz", "shift")
SET_ZONE = Statement("set variable ingest_tz = $tz", ("tz",))
# rollup_source with `local_at`, the event's local wall time (a naive timestamp), as timezone() gives it.
# The shift is EPOCH_SHIFT written out: a view takes no parameters.
ROLLUP_LOCAL = statement("ingest/rollup_local")
INSERT_DAILY = statement("ingest/insert_daily")
# The same by local hour, for the local days from $hourly_from on (a recent window: the hourly rollup
# is about two thirds the size of the events). `hour` is the instant the local hour starts: the local
# hour minus the event's UTC offset, so a half-hour zone (Asia/Kolkata) gets its own hours and the
# repeated hour of a DST fall-back (two offsets) stays two buckets. The instant is computed once per
# bucket, after grouping: instant arithmetic per event is the slow part. $hourly_from_at, a day
# before the window, lets the scan skip older row groups.
INSERT_HOURLY = statement("ingest/insert_hourly", "hourly_from_at", "hourly_from")
PRUNE_HOURLY = statement("ingest/prune_hourly", "hourly_from")
# All-time tokens and calls per account (the usage card's all-time figures), from the daily rollup: for
# every account in a full derivation, for the touched accounts otherwise.
ALL_TOTALS = statement("ingest/all_totals")
TOUCHED_TOTALS = (statement("ingest/touched_totals_delete"), statement("ingest/touched_totals_insert"))
# /analysis's per-month rows (account_months, account_month_keys): every account's after a full derivation or new
# members (their display names are in the leaderboard), the touched accounts' otherwise; the derived-folder loader
# runs the same statements.
INSERT_ACCOUNT_MONTHS = (
    statement("ingest/insert_account_months", "leaderboard_entries"),
    statement("ingest/insert_account_month_keys"),
)
ACCOUNT_MONTHS_ALL = (statement("ingest/account_months_source_all"), *INSERT_ACCOUNT_MONTHS)
ACCOUNT_MONTHS_TOUCHED = (statement("ingest/account_months_source_touched"), *INSERT_ACCOUNT_MONTHS)
MONTHS_PARAMS = {"leaderboard_entries": LEADERBOARD_ENTRIES}
# Local days before today the hourly rollup keeps: the month-to-date comparison needs the same day
# last month (at most 31 days back); the explore page offers hours within this window.
HOURLY_DAYS = 35
ALL_ROLLUP_SOURCE = statement("ingest/all_rollup_source")

# Incremental: what a change touches. Before the rows of changed or vanished files go, their ids and
# (account, local day) slices are kept; after the new files are read, their ids join them.
DROPPED_FILES = statement("ingest/dropped_files", "file_ids")
TOUCHED_BEFORE = (statement("ingest/touched_ids_dropped"), statement("ingest/touched_slices_dropped", "tz"))
# The new files' ids; then the older rows of a touched id, found on the id columns alone (the one pass over
# every event)...
TOUCHED_AFTER = (statement("ingest/touched_ids_new", "first_new_file"), statement("ingest/old_hits", "first_new_file"))
# ...then read whole, within the files they lie in (zone maps on file_id skip the others). With the new
# files' rows these are every row whose winner may have changed.
CANDIDATE_ROWS = statement("ingest/candidate_rows", "first_new_file", "first_hit_file", "last_hit_file")
LOSERS_AGAIN = (
    statement("ingest/candidates_of_rows"),
    statement("ingest/event_losers_delete_dropped"),
    statement("ingest/event_losers_delete_touched"),
    INSERT_EVENT_LOSERS,
    statement("ingest/touched_slices_candidates", "tz"),
    statement("ingest/touched_slices_distinct"),
)
# The winning events of the touched slices. The instant bounds (a local day lies within a day of its
# UTC date) let the scan skip the row groups of other times: raw_events is stored in file order.
# The bounds are read first and bound as values: with subqueries in their place the planner estimated
# ~0 events, built its hash tables on the events instead of on `slices` and ran out of memory at 100M
# events (and scanned every row group); as constants they prune the scan by zone maps.
SLICE_BOUNDS = statement("ingest/slice_bounds")
SLICE_SOURCE = (
    statement("ingest/slice_events", "tz", "slices_from", "slices_to"),
    statement("ingest/rollup_source_slices"),
    statement("ingest/hourly_delete_slices"),
)
SLICE_DAILY = (statement("ingest/daily_delete_slices"),)
# Appended slices sit after the sorted rows, each ingest's in (account, day) order but in row groups
# every account reads. Once they are a quarter of a table, or 16 ingests have appended, the table is
# rewritten in order, so an account's figures keep reading few row groups.
RESORT = {"usage_hourly": statement("ingest/resort_hourly"), "usage_daily": statement("ingest/resort_daily")}
RESORT_FRACTION = 0.25
RESORT_INGESTS = 16
COUNT_ROWS = {"usage_hourly": "select count(*) from usage_hourly", "usage_daily": "select count(*) from usage_daily"}
APPENDED = statement("ingest/appended")
SET_APPENDED = statement("ingest/set_appended", "usage_hourly", "usage_daily", "ingests")


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
    BATCH_FILES.run(cur, {"paths": paths, "file_ids": [item.file_id for item in batch]})
    SET_PATHS.run(cur, {"paths": paths})
    nanos = [name for name, type_text in batch[0].signature if type_text.startswith("timestamp[ns")]
    if nanos:
        cur.execute(LAND_NS[kind.name])
        cur.execute(truncate_nanos(nanos))
    else:
        cur.execute(LAND[kind.name])
    cur.execute(STAGE[kind.name])
    INSERT_VALID[kind.name].run(cur)
    # the batch's file ids are in order, so the range covers them (and maybe another batch's, ignored here)
    span = {"first": batch[0].file_id, "last": batch[-1].file_id}
    counts = {
        file_id: (accepted, latest) for file_id, accepted, latest in ACCEPTED[kind.name].run(cur, span).fetchall()
    }
    lost = []
    for path, item in by_path.items():
        accepted, latest = counts.get(item.file_id, (0, None))
        item.report.latest_at = latest
        if accepted < item.report.rows_read:  # a second pass only over the files with bad rows
            lost.append(path)
    if lost:
        SET_PATHS.run(cur, {"paths": lost})
        for path, reason, rows in QUARANTINED.run(cur).fetchall():
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
            statement.run(cur, {"file_id": item.file_id})
        report.rows_read = 0
        report.quarantined = {}
        report.latest_at = None
    report.accepted = report.rows_read - sum(report.quarantined.values())
    INSERT_FILE.run(
        cur,
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
        INSERT_QUARANTINE.run(cur, {"file_id": item.file_id, "reason": reason, "rows": rows})


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
            DROPPED_FILES.run(cur, {"file_ids": dropped_ids})
            for statement in TOUCHED_BEFORE:
                statement.run(cur, {"tz": timezone})
        for file_id in dropped_ids:
            for statement in DELETE_FILE_ROWS:
                statement.run(cur, {"file_id": file_id})
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
                    statement.run(cur, {"file_id": item.file_id})
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
                statement.run(cur, {"recent_entries": RECENT_ENTRIES})
    clock.lap("canonical")
    if full:
        cur.execute("delete from event_losers")
        ALL_CANDIDATES.run(cur)
        INSERT_EVENT_LOSERS.run(cur)
        clock.lap("duplicates")
        cur.execute("delete from usage_hourly")
        ALL_ROLLUP_SOURCE.run(cur)
        local_time(cur, timezone)
        INSERT_HOURLY.run(cur, window)
        clock.lap("hourly")
        cur.execute("delete from usage_daily")
        INSERT_DAILY.run(cur)
        ALL_TOTALS.run(cur)
        clock.lap("daily")
        for statement in ACCOUNT_MONTHS_ALL:
            statement.run(cur, MONTHS_PARAMS)
        clock.lap("months")
        appended = {"usage_hourly": 0, "usage_daily": 0, "ingests": 0}
    elif "usage_events" in kinds:
        values: dict[str, Any] = {"tz": timezone, "first_new_file": first_new_file}
        for statement in TOUCHED_AFTER:
            statement.run(cur, values)
        first_hit, last_hit = cur.execute("select min(file_id), max(file_id) from old_hits").fetchall()[0]
        CANDIDATE_ROWS.run(
            cur, {"first_new_file": first_new_file, "first_hit_file": first_hit or 0, "last_hit_file": last_hit or -1}
        )
        for statement in LOSERS_AGAIN:
            statement.run(cur, values)
        clock.lap("duplicates")
        values["slices_from"], values["slices_to"] = SLICE_BOUNDS.run(cur).fetchall()[0]
        for statement in SLICE_SOURCE:
            statement.run(cur, values)
        local_time(cur, timezone)
        clock.lap("slices")
        appended = _appended(cur)
        appended["usage_hourly"] += INSERT_HOURLY.run(cur, window).fetchall()[0][0]
        clock.lap("hourly")
        for statement in SLICE_DAILY:
            statement.run(cur)
        appended["usage_daily"] += INSERT_DAILY.run(cur).fetchall()[0][0]
        for statement in TOUCHED_TOTALS:
            statement.run(cur)
        appended["ingests"] += 1
        clock.lap("daily")
        for statement in ACCOUNT_MONTHS_ALL if "members" in kinds else ACCOUNT_MONTHS_TOUCHED:
            statement.run(cur, MONTHS_PARAMS)
        clock.lap("months")
        for table in RESORT:
            total = cur.execute(COUNT_ROWS[table]).fetchall()[0][0]
            if appended[table] > RESORT_FRACTION * total or appended["ingests"] >= RESORT_INGESTS:
                RESORT[table].run(cur)
                appended[table] = 0
        if not appended["usage_hourly"] and not appended["usage_daily"]:
            appended["ingests"] = 0
        clock.lap("resort")
    else:
        appended = _appended(cur)
        if "members" in kinds:
            for statement in ACCOUNT_MONTHS_ALL:
                statement.run(cur, MONTHS_PARAMS)
            clock.lap("months")
    PRUNE_HOURLY.run(cur, window)  # the window moves with the clock
    SET_APPENDED.run(cur, appended)
    cur.execute(
        "drop view if exists candidates; drop view if exists rollup_local; drop view if exists rollup_source; "
        "drop view if exists months_source; drop table if exists zone_hours"
    )
    clock.lap("hourly")


def local_time(cur: duckdb.DuckDBPyConnection, timezone: str) -> None:
    """Point `rollup_local` at `rollup_source` with each event's local wall time (see ZONE_HOURS)."""
    SET_ZONE.run(cur, {"tz": timezone})
    ZONE_HOURS.run(cur, {"tz": timezone, "shift": EPOCH_SHIFT})
    ROLLUP_LOCAL.run(cur)


def _appended(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows appended to each rollup since it was last written in order, and the ingests that appended them."""
    hourly, daily, ingests = APPENDED.run(cur).fetchall()[0]
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
