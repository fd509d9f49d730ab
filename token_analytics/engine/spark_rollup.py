"""The ingest rules (SPEC §3) and the derived tables on Spark: `rollup --engine spark` (issue 12).

Writes a derived folder (docs/DERIVED_FORMAT.md, "derived format v1") from an export folder on any
Spark: `local[*]`, a cluster through `--master` or spark-submit, local, `s3a://` or `hdfs://` paths
through Spark's own Hadoop configuration. The Spark SQL below is written by hand next to the DuckDB
statements of engine/ingest.py (each says which one it mirrors); tests/test_spark_parity.py runs
both engines on the same messy exports and asserts identical tables, which is what keeps one meaning.
Only the driver runs Python (screening footers, listing files); executors run Spark SQL alone, so a
cluster needs no Python packages on its workers. pyspark is imported lazily: the dashboard never
needs it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from token_analytics.engine.ingest import (
    STAGE,
    FileRejected,
    check_columns,
    check_magic,
    discover,
    hourly_window,
    screen,
)
from token_analytics.engine.schema import KINDS, Kind, type_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

FORMAT = "token-analytics-derived"
VERSION = 1
PARTITIONED = ("usage_daily", "usage_hourly", "recent_events")
WHOLE = ("files", "quarantine", "accounts", "members", "transactions", "ledger_sums", "usage_totals")
INSTALL_HINT = (
    "rollup --engine spark needs pyspark and a Java 17 runtime: "
    "pip install -r requirements-dev.txt -c requirements.lock (or pip install 'pyspark>=4,<5'), "
    "and apt-get install openjdk-17-jre-headless."
)

# The session settings the format needs (timestamps as UTC micros) and the tests' small defaults.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # a nanosecond export column arrives as a long (Spark has no nanosecond type); converted below
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # no _SUCCESS marker among the parquet parts (readers glob the folder)
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}


class RollupError(Exception):
    """The rollup cannot run; the message is one sentence for a person."""


@dataclass
class ExportFile:
    """One export file: where it is, what screening said, and its id in this run."""

    kind: Kind
    rel: str
    uri: str
    key: str
    size: int
    mtime_ns: int
    file_id: int = 0
    status: str = "ok"
    error: str | None = None
    rows_read: int = 0
    schema: pa.Schema | None = None


@dataclass
class RollupResult:
    """What a run did: `nothing_new` when the exports had not changed since the folder was written."""

    out: str = ""
    files: int = 0
    changed: int = 0
    rejected: int = 0
    nothing_new: bool = False
    days_written: dict[str, int] = field(default_factory=dict)
    days_removed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        out = self.out
        if self.nothing_new:
            return f"spark rollup: {self.files} export files, none new, changed or removed; nothing written to {out}."
        days = ", ".join(
            f"{t} {self.days_written.get(t, 0)} days written, {self.days_removed.get(t, 0)} removed"
            for t in PARTITIONED
        )
        return (
            f"spark rollup: {self.files} export files ({self.changed} new or changed, {self.rejected} rejected) "
            f"into {out} in {self.seconds:.1f} s; {days}."
        )


# --- storage: local paths through os, any other URI through Spark's Hadoop FileSystem -------------


def is_local(uri: str) -> bool:
    """A plain path (no scheme) is read with os; `file://`, `s3a://`, `hdfs://` go through Hadoop."""
    return urlsplit(uri).scheme == ""


class Storage:
    """The few file operations the rollup needs, on the export and output roots."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, uri: str) -> tuple[Any, Any]:
        path = self.jvm.org.apache.hadoop.fs.Path(uri)
        return path.getFileSystem(self.conf), path

    def list_exports(self, root: str) -> list[tuple[Kind, str, str, str, int, int]]:
        """Every export file as engine.ingest.discover finds it: (kind, rel, uri, key, size, mtime_ns).

        `uri` is what Spark reads; `key` is the encoded path of the URI Spark reports as `_metadata.file_path`.
        """
        if is_local(root):
            base = Path(root).resolve()
            return [
                (kind, rel, str(base / rel), self._local_key(base / rel), st.st_size, st.st_mtime_ns)
                for kind, rel, st in (discover(base) if base.is_dir() else [])
            ]
        found = []
        fs, top = self._fs(root)
        if not fs.exists(top):
            return []
        prefix = fs.getFileStatus(top).getPath().toUri().getPath().rstrip("/") + "/"
        for kind in KINDS:
            folder = self.jvm.org.apache.hadoop.fs.Path(fs.getFileStatus(top).getPath(), kind.name)
            if not fs.exists(folder) or not fs.getFileStatus(folder).isDirectory():
                continue
            files = fs.listFiles(folder, True)
            rows = []
            while files.hasNext():
                status = files.next()
                path = status.getPath()
                decoded = path.toUri().getPath()
                if status.isFile() and decoded.endswith(".parquet") and decoded.startswith(prefix):
                    rows.append(
                        (
                            kind,
                            decoded[len(prefix) :],
                            path.toString(),
                            path.toUri().getRawPath(),
                            status.getLen(),
                            status.getModificationTime() * 1_000_000,  # Hadoop keeps milliseconds
                        )
                    )
            found.extend(sorted(rows, key=lambda r: r[1]))
        return found

    def _local_key(self, path: Path) -> str:
        return self.jvm.org.apache.hadoop.fs.Path("file", None, str(path)).toUri().getRawPath()

    def read_range(self, uri: str, offset: int, length: int) -> bytes:
        fs, path = self._fs(uri)
        stream = fs.open(path)
        try:
            stream.seek(offset)
            # Py4J copies arrays by value: a byte[] filled on the Java side must be the return value
            return bytes(stream.readNBytes(length))
        finally:
            stream.close()

    def read_text(self, uri: str) -> str | None:
        if is_local(uri):
            path = Path(uri)
            return path.read_text(encoding="utf-8") if path.is_file() else None
        fs, path = self._fs(uri)
        if not fs.exists(path):
            return None
        return self.read_range(uri, 0, fs.getFileStatus(path).getLen()).decode("utf-8")

    def write_text(self, uri: str, text: str) -> None:
        """Write a small file whole (a local one through a rename, so it appears complete)."""
        if is_local(uri):
            path = Path(uri)
            temp = path.with_name(f".{path.name}.tmp")
            temp.write_text(text, encoding="utf-8")
            os.replace(temp, path)
            return
        fs, path = self._fs(uri)
        stream = fs.create(path, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def delete(self, uri: str) -> None:
        """Remove a file or a folder with what it holds (nothing when it is absent)."""
        if is_local(uri):
            path = Path(uri)
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            return
        fs, path = self._fs(uri)
        fs.delete(path, True)

    def mkdirs(self, uri: str) -> None:
        if is_local(uri):
            Path(uri).mkdir(parents=True, exist_ok=True)
            return
        fs, path = self._fs(uri)
        fs.mkdirs(path)

    def entries(self, uri: str) -> list[str]:
        """Names in a folder (empty when it does not exist)."""
        if is_local(uri):
            path = Path(uri)
            return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        fs, path = self._fs(uri)
        if not fs.exists(path):
            return []
        return sorted(status.getPath().getName() for status in fs.listStatus(path))


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


# --- screening: engine.ingest.screen on local files; the same checks on a footer read through Hadoop -


def screen_remote(storage: Storage, item: ExportFile) -> tuple[int, pa.Schema]:
    """engine.ingest.screen for a file Python cannot open: the footer is fetched through Hadoop."""
    size = item.size
    head = storage.read_range(item.uri, 0, min(4, size)) if size else b""
    tail = storage.read_range(item.uri, size - 8, 8) if size >= 12 else b""
    check_magic(head, tail[-4:])
    footer_length = int.from_bytes(tail[:4], "little")
    try:
        if footer_length > size - 12:
            raise ValueError("footer longer than the file")
        footer = storage.read_range(item.uri, size - 8 - footer_length, footer_length)
        # The footer alone is a valid parquet "file" for metadata: offsets are only followed on reading rows.
        parquet = pq.ParquetFile(io.BytesIO(b"PAR1" + footer + tail))
        schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise FileRejected(f"unreadable parquet footer ({type(exc).__name__})") from exc
    check_columns(schema, item.kind)
    return rows, schema


def screen_all(storage: Storage, files: list[ExportFile]) -> None:
    for item in files:
        try:
            if is_local(item.uri):
                item.rows_read = screen(Path(item.uri), item.kind)
                item.schema = pq.read_schema(item.uri)
            else:
                item.rows_read, item.schema = screen_remote(storage, item)
        except FileRejected as exc:
            item.status, item.error, item.rows_read = "rejected", str(exc), 0
        except OSError as exc:
            log.exception("screening %s failed", item.uri)
            item.status, item.error, item.rows_read = "rejected", f"unreadable ({type(exc).__name__}: {exc})"[:160], 0


# --- reading: mirrors engine.ingest LAND + STAGE ----------------------------------------------------

SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "TIMESTAMP": "timestamp"}


def land(spark: SparkSession, storage: Storage, kind: Kind, files: list[ExportFile]) -> DataFrame | None:
    """Every row of the kind's readable files, cast to the export types, with file_id and row_no.

    Files are read in groups of one schema (one Spark read each); a missing optional column is null,
    a naive timestamp is UTC (the session zone), a millisecond or nanosecond one becomes micros.
    """
    from pyspark.sql import functions as F

    groups: dict[tuple[str, ...], list[ExportFile]] = {}
    for item in files:
        assert item.schema is not None
        signature = tuple(
            f"{c.name}:{item.schema.field(c.name).type}" if item.schema.get_field_index(c.name) >= 0 else ""
            for c in kind.columns
        )
        groups.setdefault(signature, []).append(item)
    frames = []
    for group in groups.values():
        schema = group[0].schema
        assert schema is not None
        # a damaged data page ends that file's rows instead of failing the job; derive() then compares each
        # file's rows with its footer and rejects the short ones whole (the DuckDB ingest's PoisonedFile)
        read = spark.read.option("ignoreCorruptFiles", "true").parquet(*[item.uri for item in group])
        columns = []
        for column in kind.columns:
            spark_type = SPARK_TYPES[type_name(column.type)]
            if schema.get_field_index(column.name) < 0:
                columns.append(F.lit(None).cast(spark_type).alias(column.name))
                continue
            actual = schema.field(column.name).type
            value = F.col(f"`{column.name}`")
            if pa.types.is_timestamp(actual) and actual.unit == "ns":
                # DuckDB casts TIMESTAMP_NS to microseconds by dropping the last three digits (integer
                # division: a double would round nanoseconds since 1970 to 256 ns steps)
                value = F.timestamp_micros(F.expr(f"`{column.name}` div 1000"))
            columns.append(value.cast(spark_type).alias(column.name))
        # the file's key: the URI's encoded path alone (Spark writes file:/x where Hadoop may list file:///x)
        file_key = F.expr("parse_url(_metadata.file_path, 'PATH')")
        columns += [file_key.alias("file_path"), F.col("_metadata.row_index").alias("row_no")]
        frames.append(read.select(*columns))
    if not frames:
        return None
    landed = frames[0]
    for frame in frames[1:]:
        landed = landed.unionByName(frame)
    ids = spark.createDataFrame(
        [(item.key, item.file_id, item.rel) for item in files],
        "file_path string, file_id int, path string",
    )
    return landed.join(F.broadcast(ids), "file_path").drop("file_path")


def reject_undecodable(staged: DataFrame, kind: Kind, files: list[ExportFile]) -> list[int]:
    """Reject (status, error, rows_read 0) each file Spark could not decode whole; their file ids.

    `staged` must be persisted: its cache holds every column of every row, so a file whose rows all
    decoded here decodes in every later use. One job for all of the kind's files, not one per file.
    Mirrors the DuckDB ingest, which rejects a file DuckDB fails on ("unreadable (…)", PoisonedFile):
    a damaged page (Spark keeps the rows before it, so the count falls short of the footer's) or text
    that is not UTF-8 (DuckDB refuses it; Spark would read the bytes).
    """
    from pyspark.sql import functions as F

    text = [column.name for column in kind.columns if type_name(column.type) == "VARCHAR"]
    # a null is valid text; names come from the schema module, never from input
    invalid = " or ".join(f"not coalesce(is_valid_utf8(`{name}`), true)" for name in text)
    counts = {
        row.file_id: (row.rows, row.bad_text)
        for row in staged.groupBy("file_id")
        .agg(F.count(F.lit(1)).alias("rows"), F.count(F.when(F.expr(invalid), 1)).alias("bad_text"))
        .collect()
    }
    rejected = []
    for item in files:
        rows, bad_text = counts.get(item.file_id, (0, 0))
        if rows < item.rows_read:
            item.error = f"unreadable (a damaged data page: Spark decoded {rows} of the footer's {item.rows_read} rows)"
        elif bad_text:
            item.error = f"unreadable (text that is not valid UTF-8 in {bad_text} of its {rows} rows)"
        else:
            continue
        log.warning("rejecting %s: %s", item.uri, item.error)
        item.status, item.rows_read = "rejected", 0
        rejected.append(item.file_id)
    return rejected


# The quarantine rules are written once, in engine.ingest.STAGE: each kind's `case ... end as reason` (null for a
# valid row, else the first rule it breaks) is taken from there as it stands, so both engines apply one text.
REASON = {kind: re.search(r"(case\b.*\bend) as reason", text, re.S).group(1) for kind, text in STAGE.items()}

# --- winners: mirrors engine.ingest CANONICAL and INSERT_EVENT_LOSERS -------------------------------

# Per id the row from the path that sorts last wins, then the later row in that file. A loser is a
# conflict when any content column differs from the winner's (null-safe, as DuckDB's hash compares).
RANKED = """
select *, row_number() over w as pick, {same} as same_as_winner
from {raw}
window w as (partition by {key} order by path desc, row_no desc)
"""
CONTENT = {
    "usage_events": (
        "account_id",
        "user_id",
        "service",
        "occurred_at",
        "tokens",
        "input_tokens",
        "output_tokens",
        "model",
    ),
    "transactions": ("account_id", "user_id", "type", "amount", "created_at", "payment_method", "description"),
    "accounts": ("account_name", "owner_name", "plan", "created_at"),
    "members": ("account_id", "display_name", "email"),
}
KEY = {"usage_events": "event_id", "transactions": "txn_id", "accounts": "account_id", "members": "user_id"}


def ranked_sql(kind: str, raw: str) -> str:
    """The RANKED statement for one kind; names come from the constants above, never from input."""
    same = " and ".join(f"{c} <=> first_value({c}) over w" for c in CONTENT[kind])
    return RANKED.format(same=same, raw=raw, key=KEY[kind])


# Mirrors engine.ingest.INSERT_DAILY.
DAILY = """
select account_id, day, user_id, service, model, sum(tokens) as tokens,
    coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
    count(*) as calls, count(case when input_tokens is not null or output_tokens is not null then 1 end) as io_calls,
    max(occurred_at) as latest_at
from events_local
group by account_id, day, user_id, service, model
"""
# Mirrors engine.ingest.INSERT_HOURLY: `hour` is the instant the local hour starts (the local hour
# minus the event's UTC offset), so a 30-minute zone has its own hours and a DST fall-back's repeated
# hour stays two buckets (two offsets).
HOURLY = """
select account_id, timestamp_micros(unix_micros(local_hour) - offset_us) as hour, day, user_id, service, model,
    tokens, input_tokens, output_tokens, calls, io_calls, latest_at
from (
    select account_id, local_hour, offset_us, day, user_id, service, model, sum(tokens) as tokens,
        coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
        count(*) as calls,
        count(case when input_tokens is not null or output_tokens is not null then 1 end) as io_calls,
        max(occurred_at) as latest_at
    from (
        select *, date_trunc('HOUR', local_at) as local_hour,
            unix_micros(local_at) - unix_micros(occurred_at) as offset_us
        from events_local where day >= :hourly_from
    )
    group by account_id, local_hour, offset_us, day, user_id, service, model
)
"""
# The winning events of the hourly window (the month-to-date figure's partial hour reads them).
RECENT = """
select account_id, occurred_at, user_id, service, model, tokens, day from events_local where day >= :hourly_from
"""
# Mirrors engine.ingest.ALL_TOTALS.
TOTALS = "select account_id, sum(tokens) as tokens, sum(calls) as calls from usage_daily group by account_id"
# Mirrors the ledger_sums statement of engine.ingest.CANONICAL.
LEDGER_SUMS = """
with sums as (
    select account_id, coalesce(-sum(case when type = 'CONSUME' then amount end), 0) as used,
        coalesce(sum(case when type <> 'CONSUME' then amount end), 0) as total
    from transactions group by account_id
),
recent as (
    select account_id, created_at as recent_from from (
        select account_id, created_at,
            row_number() over (partition by account_id order by created_at desc, txn_id desc) as n
        from transactions
    ) where n = 10
)
select s.account_id, s.used, s.total, r.recent_from from sums s left join recent r on s.account_id = r.account_id
"""
# The data-health report (queries/data_health_files.sql's columns): duplicates and conflicts are the
# losing rows of each file.
FILES = """
with quarantined as (select file_id, sum(rows) as quarantined from quarantine_ids group by file_id),
latest as (select file_id, max(occurred_at) as latest_at from raw_usage_events group by file_id),
losers as (select file_id, count(*) as duplicates, count(case when not same_as_winner then 1 end) as conflicts
    from all_losers group by file_id)
select f.file_id, f.kind, f.path, f.size, f.mtime_ns, f.status, f.error, f.rows_read,
    f.rows_read - coalesce(q.quarantined, 0) as accepted, coalesce(q.quarantined, 0) as quarantined,
    coalesce(l.duplicates, 0) as duplicates, coalesce(l.conflicts, 0) as conflicts, t.latest_at
from export_files f left join quarantined q using (file_id) left join latest t using (file_id)
    left join losers l using (file_id)
"""
FILE_COLUMNS = (
    "file_id int, kind string, path string, size bigint, mtime_ns bigint, status string, error string, rows_read bigint"
)
# The columns of each table, in the format's order (docs/DERIVED_FORMAT.md).
COLUMNS = {
    "accounts": "account_id, account_name, owner_name, plan, created_at",
    "members": "user_id, account_id, display_name, email",
    "transactions": "txn_id, account_id, user_id, type, amount, created_at, payment_method, description",
}
# Within each file rows are written in the order the readers load them (zone maps per account).
SORT = {
    "files": ("kind", "path"),
    "quarantine": ("kind", "path", "reason"),
    "accounts": ("account_id",),
    "members": ("account_id", "user_id"),
    "transactions": ("account_id", "created_at"),
    "ledger_sums": ("account_id",),
    "usage_totals": ("account_id",),
    "usage_daily": ("account_id", "day"),
    "usage_hourly": ("account_id", "day", "hour"),
    "recent_events": ("account_id", "occurred_at"),
}


def derive(
    spark: SparkSession, storage: Storage, files: list[ExportFile], timezone: str, hourly_from: date
) -> dict[str, DataFrame]:
    """Every table of the derived folder, as Spark DataFrames (lazy; the events' winners are cached)."""
    from pyspark.sql import functions as F

    ok = [item for item in files if item.status == "ok"]
    empty_raw = {
        kind.name: ", ".join(f"{c.name} {SPARK_TYPES[type_name(c.type)]}" for c in kind.columns) for kind in KINDS
    }
    quarantine_frames = []
    loser_frames = []
    tables: dict[str, DataFrame] = {}
    for kind in KINDS:
        readable = [item for item in ok if item.kind is kind]
        landed = land(spark, storage, kind, readable)
        if landed is None:
            landed = spark.createDataFrame([], f"{empty_raw[kind.name]}, row_no bigint, file_id int, path string")
        # read once: the decode check, the quarantine counts and the ranking share the cached rows
        staged = landed.withColumn("reason", F.expr(REASON[kind.name])).persist()
        rejected = reject_undecodable(staged, kind, readable)
        if rejected:  # every row of a rejected file goes, those read before its damaged page too
            staged = staged.where(~F.col("file_id").isin(rejected))
        quarantine_frames.append(
            staged.where("reason is not null")
            .groupBy("file_id", "path", "reason")
            .agg(F.count(F.lit(1)).alias("rows"))
            .withColumn("kind", F.lit(kind.name))
        )
        valid = staged.where("reason is null").drop("reason")
        valid.createOrReplaceTempView(f"raw_{kind.name}")
        ranked = spark.sql(ranked_sql(kind.name, f"raw_{kind.name}"))
        if kind.name == "usage_events":
            ranked = ranked.persist()  # one shuffle by event id: losers, latest times and every rollup share it
        if kind.name in ("usage_events", "transactions"):
            loser_frames.append(ranked.where("pick > 1").select("file_id", "same_as_winner"))
        winners = ranked.where("pick = 1").drop("pick", "same_as_winner", "file_id", "row_no", "path")
        if kind.name == "usage_events":
            winners.drop("event_id").createOrReplaceTempView("events_won")
        else:
            tables[kind.name] = winners.selectExpr(*COLUMNS[kind.name].split(", "))
            tables[kind.name].createOrReplaceTempView(kind.name)

    quarantine_ids = quarantine_frames[0]
    for frame in quarantine_frames[1:]:
        quarantine_ids = quarantine_ids.unionByName(frame)
    quarantine_ids.createOrReplaceTempView("quarantine_ids")
    tables["quarantine"] = quarantine_ids.select("kind", "path", "reason", "rows")
    loser_frames[0].unionByName(loser_frames[1]).createOrReplaceTempView("all_losers")
    spark.createDataFrame(
        [
            (item.file_id, item.kind.name, item.rel, item.size, item.mtime_ns, item.status, item.error, item.rows_read)
            for item in files
        ],
        FILE_COLUMNS,
    ).createOrReplaceTempView("export_files")
    tables["files"] = spark.sql(FILES)

    spark.sql(
        "select *, to_date(local_at) as day from "
        "(select *, from_utc_timestamp(occurred_at, :tz) as local_at from events_won)",
        args={"tz": timezone},
    ).createOrReplaceTempView("events_local")
    tables["usage_daily"] = spark.sql(DAILY)
    tables["usage_daily"].createOrReplaceTempView("usage_daily")
    tables["usage_hourly"] = spark.sql(HOURLY, args={"hourly_from": hourly_from})
    tables["recent_events"] = spark.sql(RECENT, args={"hourly_from": hourly_from})
    tables["usage_totals"] = spark.sql(TOTALS)
    tables["ledger_sums"] = spark.sql(LEDGER_SUMS)
    return tables


# --- writing ----------------------------------------------------------------------------------------


def write_whole(frame: DataFrame, uri: str, table: str) -> None:
    frame.coalesce(1).sortWithinPartitions(*SORT[table]).write.mode("overwrite").parquet(uri)


def write_days(frame: DataFrame, uri: str, table: str, days: list[date] | None) -> None:
    """Write the table's day= partitions: all of them (days None) or only the listed ones."""
    from pyspark.sql import functions as F

    if days is not None:
        if not days:
            return
        frame = frame.where(F.col("day").isin(days))
    writer = frame.repartition("day").sortWithinPartitions(*SORT[table]).write.partitionBy("day")
    if days is None:
        writer.mode("overwrite").parquet(uri)
    else:
        writer.mode("overwrite").option("partitionOverwriteMode", "dynamic").parquet(uri)


def changed_days(spark: SparkSession, storage: Storage, frame: DataFrame, uri: str) -> tuple[list[date], list[date]]:
    """Days whose rows differ from the folder's (to write) and days the new tables no longer have (to delete)."""
    if not [name for name in storage.entries(uri) if name.startswith("day=")]:
        new_days = sorted(row.day for row in frame.select("day").distinct().collect())
        return new_days, []
    old = spark.read.schema(frame.schema).parquet(uri).select(*frame.columns)
    differ = frame.exceptAll(old).select("day").union(old.exceptAll(frame).select("day")).distinct()
    days = sorted(row.day for row in differ.collect())
    present = (
        {row.day for row in frame.select("day").where(frame.day.isin(days)).distinct().collect()} if days else set()
    )
    return sorted(present), sorted(set(days) - present)


# --- the run -----------------------------------------------------------------------------------------


def session(master: str | None, app_name: str = "token-analytics-rollup") -> SparkSession:
    """A SparkSession with the format's settings; the master from --master, spark-submit or local[*]."""
    # the Spark path never converts to pandas, so pyspark's warning about pandas 3 does not concern it
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise RollupError(INSTALL_HINT) from exc
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise RollupError(INSTALL_HINT)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def rollup(
    exports: str,
    out: str,
    *,
    timezone: str,
    now: datetime,
    master: str | None = None,
    spark: SparkSession | None = None,
) -> RollupResult:
    """Write (or bring up to date) the derived folder `out` from the export folder `exports`."""
    started = time.perf_counter()
    own = spark is None
    spark = spark or session(master)
    for key, value in SESSION_CONF.items():
        if not key.startswith("spark.ui") and not key.startswith("spark.hadoop"):
            spark.conf.set(key, value)
    try:
        result = _rollup(spark, exports, out, timezone, now)
    except RollupError:
        raise
    except Exception as exc:  # Py4J and Spark raise many types; a person gets one line, the log the rest
        log.exception("spark rollup of %s into %s failed", exports, out)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise RollupError(f"the Spark job failed: {first}") from exc
    finally:
        spark.catalog.clearCache()
        if own:
            spark.stop()
    result.seconds = time.perf_counter() - started
    return result


def _rollup(spark: SparkSession, exports: str, out: str, timezone: str, now: datetime) -> RollupResult:
    storage = Storage(spark)
    previous = read_format(storage, out)
    listed = storage.list_exports(exports)
    if not listed:
        raise RollupError(f"{exports} holds no export files (accounts/, members/, usage_events/, transactions/).")
    files = [
        ExportFile(kind=kind, rel=rel, uri=uri, key=key, size=size, mtime_ns=mtime, file_id=number)
        for number, (kind, rel, uri, key, size, mtime) in enumerate(listed, start=1)
    ]
    result = RollupResult(out=out, files=len(files))
    known: dict[str, tuple[int, int]] = {}
    if previous is not None:
        for row in spark.read.parquet(join(out, "files")).select("path", "size", "mtime_ns").collect():
            known[row.path] = (row.size, row.mtime_ns)
    result.changed = sum(1 for item in files if known.get(item.rel) != (item.size, item.mtime_ns))
    gone = set(known) - {item.rel for item in files}
    window = hourly_window(now, timezone)
    same_place = previous is not None and (previous.get("timezone"), previous.get("hourly_from")) == (
        timezone,
        window["hourly_from"].isoformat(),
    )
    if same_place and not result.changed and not gone:
        result.nothing_new = True
        return result
    # while tables are replaced the folder has no _format.json: a reader refuses it rather than mixing two runs
    storage.delete(join(out, "_format.json"))

    screen_all(storage, files)
    tables = derive(spark, storage, files, timezone, window["hourly_from"])
    result.rejected = sum(1 for item in files if item.status != "ok")  # derive rejects what Spark cannot decode
    # a folder written for another zone has other days: rewrite it whole
    full = previous is None or previous.get("timezone") != timezone
    for table in PARTITIONED:
        uri = join(out, table)
        if full:
            storage.delete(uri)
            write_days(tables[table], uri, table, None)
            storage.mkdirs(uri)  # a table without rows is an empty folder
            result.days_written[table] = len([n for n in storage.entries(uri) if n.startswith("day=")])
            continue
        write, remove = changed_days(spark, storage, tables[table], uri)
        write_days(tables[table], uri, table, write)
        for day in remove:
            storage.delete(join(uri, f"day={day.isoformat()}"))
        result.days_written[table], result.days_removed[table] = len(write), len(remove)
    for table in WHOLE:
        write_whole(tables[table], join(out, table), table)
    written = {
        "format": FORMAT,
        "version": VERSION,
        "timezone": timezone,
        "clock": now.isoformat(),
        "hourly_from": window["hourly_from"].isoformat(),
        "engine": "spark",
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.write_text(join(out, "_format.json"), json.dumps(written, indent=2) + "\n")
    return result


def read_format(storage: Storage, out: str) -> dict[str, Any] | None:
    """The folder's _format.json; None for a new or unfinished folder; RollupError for anything else."""
    text = storage.read_text(join(out, "_format.json"))
    if text is None:
        # a run stopped before its _format.json leaves only table folders: written again whole
        leftovers = set(storage.entries(out)) - set(PARTITIONED) - set(WHOLE)
        if [name for name in leftovers if not name.startswith(".")]:
            raise RollupError(
                f"{out} is not empty and has no _format.json: choose an empty or new folder for the derived tables."
            )
        return None
    try:
        written = json.loads(text)
    except ValueError:
        written = {}
    if written.get("format") != FORMAT or written.get("version") != VERSION:
        raise RollupError(f"{out}/_format.json is not derived format v{VERSION}: choose another --out folder.")
    return written


def main(argv: list[str] | None = None) -> int:
    """spark-submit's entry (docs/SPARK.md): the options of `rollup --engine spark`, plus --timezone."""
    import argparse
    import sys

    from token_analytics.settings import SettingsError, check_zone, parse_instant

    parser = argparse.ArgumentParser(prog="spark_rollup.py", description="derived format v1 on Spark")
    parser.add_argument("--exports", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--master", help="default: spark-submit's, else local[*]")
    parser.add_argument("--timezone", default=os.environ.get("ANALYTICS_TIMEZONE", "Asia/Shanghai"))
    parser.add_argument("--now", default=os.environ.get("ANALYTICS_NOW") or None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        timezone = check_zone(args.timezone, "--timezone")
        now = parse_instant(args.now, "--now") if args.now else datetime.now(UTC)
        print(rollup(args.exports, args.out, timezone=timezone, now=now, master=args.master))
    except (SettingsError, RollupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
