"""The ingest rules (SPEC §3) and the derived tables on Spark: `rollup --engine spark`.

Writes a derived folder (docs/DERIVED_FORMAT.md, "derived format v1") from an export folder on any
Spark: `local[*]`, a cluster through `--master` or spark-submit, local, `s3a://` or `hdfs://` paths
through Spark's own Hadoop configuration. The Spark SQL below is written by hand next to the DuckDB
statements of engine/ingest.py (each says which one it mirrors); tests/engine/test_spark_parity.py runs
both engines on the same messy exports and asserts identical tables, which is what keeps one meaning.
Only the driver runs Python (screening footers, listing files); executors run Spark SQL alone, so a
cluster needs no Python packages on its workers. pyspark is imported lazily: the dashboard never
needs it.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from token_analytics.db.queries import with_rules
from token_analytics.engine.ingest import (
    INT96,
    FileRejected,
    check_columns,
    check_magic,
    discover,
    hourly_window,
    screen_schema,
)
from token_analytics.engine.schema import KINDS, Kind, reason_sql, type_name
from token_analytics.settings import RECENT_ENTRIES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

FORMAT = "token-analytics-derived"
VERSION = 1
PARTITIONED = ("usage_daily", "usage_hourly", "recent_events")
WHOLE = ("files", "quarantine", "accounts", "members", "transactions", "ledger_sums", "usage_totals")
# xxhash64 of every accepted event id the folder holds: a rerun that only adds event files checks their ids
# against it instead of reading the old exports again. Hidden (readers glob the tables by name).
INDEX = ".event_ids"
STAGING = ".staging-spark"  # tables read from the folder itself are written here first, then moved into place
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
    # proleptic Gregorian, as pyarrow writes and DuckDB reads: no legacy calendar rebase, no refusal of year 1
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # no _SUCCESS marker among the parquet parts (readers glob the folder)
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}
# Speed, not meaning: set when this module builds the session, never over a session's own choice (a session
# handed to rollup() or a --conf keeps its values). docs/SPARK.md "Settings" has the measurements.
TUNING = {
    # A run compiles about 190 generated classes (a rerun 80-90), Spark keeps 100: in a reused session the next
    # run finds its classes compiled instead of compiling (and JIT-warming) them again.
    "spark.sql.codegen.cache.maxEntries": "1000",
    # A stage's class named without its stage id: the same stage in another query (the scan of a cached kind, read
    # by several tables) is the same source and found in that cache instead of compiled again (a 1M full run
    # compiled 166 classes instead of 188-192). Only the names in a stack trace change.
    "spark.sql.codegen.useIdInClassName": "false",
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
    int96: frozenset[str] = frozenset()  # columns stored as INT96 (pyarrow calls them timestamp[ns])
    path_rank: int = 0  # the rank of `rel` among the kind's paths: "the path that sorts last wins"
    quarantined: dict[str, int] = field(default_factory=dict)  # rows per reason
    latest_us: int | None = None  # the latest accepted occurred_at (events), microseconds since 1970
    losers: tuple[int, int] = (0, 0)  # (duplicates, conflicts): this file's rows that lost to another copy
    days: set[date] = field(default_factory=set)  # local days of its accepted events (only when asked for)


@dataclass
class RollupResult:
    """What a run did: `nothing_new` when the exports had not changed since the folder was written."""

    out: str = ""
    files: int = 0
    changed: int = 0
    rejected: int = 0
    nothing_new: bool = False
    incremental: bool = False  # only the new event files were read (the old exports were not)
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
        read = f"read only the {self.changed} new" if self.incremental else f"{self.changed} new or changed"
        return (
            f"spark rollup: {self.files} export files ({read}, {self.rejected} rejected) "
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

    def read_bytes(self, uri: str) -> bytes | None:
        if is_local(uri):
            path = Path(uri)
            return path.read_bytes() if path.is_file() else None
        fs, path = self._fs(uri)
        if not fs.exists(path):
            return None
        return self.read_range(uri, 0, fs.getFileStatus(path).getLen())

    def read_text(self, uri: str) -> str | None:
        if is_local(uri):
            path = Path(uri)
            return path.read_text(encoding="utf-8") if path.is_file() else None
        data = self.read_bytes(uri)
        return None if data is None else data.decode("utf-8")

    def read_table(self, uri: str, columns: list[str]) -> list[dict[str, Any]]:
        """The rows of a small parquet table of the folder (one row per export file at most), read here on the
        driver: no Spark job for a few hundred rows. Timestamps as microseconds since 1970."""
        rows: list[dict[str, Any]] = []
        for name in self.entries(uri):
            data = self.read_bytes(join(uri, name)) if name.endswith(".parquet") and name[0] not in "._" else None
            if data is None:
                continue
            table = pq.read_table(io.BytesIO(data), columns=columns)
            for index, column in enumerate(table.schema):
                if pa.types.is_timestamp(column.type):
                    table = table.set_column(index, column.name, table.column(index).cast(pa.int64()))
            rows += table.to_pylist()
        return rows

    def write_parquet(self, uri: str, table: pa.Table) -> None:
        """Write a small table as one parquet file (a local one through a rename, so it appears complete)."""
        if is_local(uri):
            path = Path(uri)
            temp = path.with_name(f".{path.name}.tmp")
            pq.write_table(table, temp)
            os.replace(temp, path)
            return
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        fs, path = self._fs(uri)
        stream = fs.create(path, True)
        try:
            stream.write(bytearray(buffer.getvalue()))
        finally:
            stream.close()

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

    def rename(self, source: str, target: str) -> None:
        """Move a file or folder to a path that does not exist yet (its parent does)."""
        if is_local(source):
            os.replace(source, target)
            return
        fs, path = self._fs(source)
        if not fs.rename(path, self.jvm.org.apache.hadoop.fs.Path(target)):
            raise OSError(f"could not move {source} to {target}")

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
        item.int96 = frozenset(column.name for column in parquet.schema if column.physical_type == "INT96")
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise FileRejected(f"unreadable parquet footer ({type(exc).__name__})") from exc
    check_columns(schema, item.kind)
    return rows, schema


def screen_all(storage: Storage, files: list[ExportFile]) -> None:
    for item in files:
        try:
            if is_local(item.uri):
                item.rows_read, signature = screen_schema(Path(item.uri), item.kind)
                item.schema = pq.read_schema(item.uri)
                item.int96 = frozenset(name for name, type_text in signature if type_text == INT96)
            else:
                item.rows_read, item.schema = screen_remote(storage, item)
        except FileRejected as exc:
            item.status, item.error, item.rows_read = "rejected", str(exc), 0
        except OSError as exc:
            log.exception("screening %s failed", item.uri)
            item.status, item.error, item.rows_read = "rejected", f"unreadable ({type(exc).__name__}: {exc})"[:160], 0


# --- reading: mirrors engine.ingest LAND + STAGE ----------------------------------------------------

SPARK_TYPES = {"VARCHAR": "string", "BIGINT": "bigint", "TIMESTAMP": "timestamp"}
# The export scan's options. Names starting with `_` or `.` are export files like any other (DuckDB reads
# them; Spark would skip them as hidden). The local file system without checksums: its lookup of
# `.<name>.crc` fails on a `:` in a name. In the checks' scan (LENIENT) a damaged data page ends that file's
# rows instead of failing the job, and the checks compare each file's rows with its footer and reject the short
# ones whole; the tables' scans read only the files that passed, strictly: a read that fails there (a file
# damaged since, an object store's error Hadoop did not retry away) fails the run instead of losing rows.
READ_OPTIONS = {
    "ignoredPathSegmentRegex": "",
    "ignoreCorruptFiles": "false",
    "fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
    "fs.file.impl.disable.cache": "true",
}
LENIENT = {**READ_OPTIONS, "ignoreCorruptFiles": "true"}
GLOB = re.compile(r"([\\{}\[\]*?])")


def literal(uri: str) -> str:
    """The URI as a glob pattern that matches only itself: Spark globs every path it is given."""
    return GLOB.sub(r"\\\1", uri)


def land(
    spark: SparkSession, kind: Kind, files: list[ExportFile], *, lenient: bool = False, source: bool = True
) -> DataFrame | None:
    """Every row of the kind's readable files, cast to the export types, with file_path and row_no (`source`
    False: without them, so the scan reads no file metadata: the events tables' scan when no id repeats).

    Files are read in groups of one schema (one Spark read each); a missing optional column is null,
    a naive timestamp is UTC (the session zone), a millisecond, nanosecond or INT96 one becomes micros.
    """
    from pyspark.sql import functions as F

    groups: dict[tuple[str, ...], list[ExportFile]] = {}
    for item in files:
        assert item.schema is not None
        signature = tuple(
            f"{c.name}:{'int96' if c.name in item.int96 else item.schema.field(c.name).type}"
            if item.schema.get_field_index(c.name) >= 0
            else ""
            for c in kind.columns
        )
        groups.setdefault(signature, []).append(item)
    frames = []
    for group in groups.values():
        schema = group[0].schema
        assert schema is not None
        read = spark.read.options(**(LENIENT if lenient else READ_OPTIONS)).parquet(
            *[literal(item.uri) for item in group]
        )
        columns = []
        for column in kind.columns:
            spark_type = SPARK_TYPES[type_name(column.type)]
            if schema.get_field_index(column.name) < 0:
                columns.append(F.lit(None).cast(spark_type).alias(column.name))
                continue
            actual = schema.field(column.name).type
            value = F.col(f"`{column.name}`")
            if pa.types.is_timestamp(actual) and actual.unit == "ns" and column.name not in group[0].int96:
                # nanoseconds since 1970 as a long: floor to the microsecond, as engine.ingest.truncate_nanos
                # does (the instant's own day; a double would round to 256 ns steps)
                value = F.timestamp_micros(F.expr(f"(`{column.name}` - pmod(`{column.name}`, 1000)) div 1000"))
            columns.append(value.cast(spark_type).alias(column.name))
        if source:
            columns += [F.col("_metadata.file_path").alias("file_path"), F.col("_metadata.row_index").alias("row_no")]
        frames.append(read.select(*columns))
    if not frames:
        return None
    landed = frames[0]
    for frame in frames[1:]:
        landed = landed.unionByName(frame)
    return landed


# The quarantine rules are data, once, in engine.schema.RULES: each kind's `case ... end` (null for a valid row,
# else the first rule it breaks) is generated from them for Spark as engine.ingest's staging view is for DuckDB.
REASON = {kind.name: reason_sql(kind.name, "spark") for kind in KINDS}
TIME_COLUMN = {"usage_events": "occurred_at"}  # the file's latest time (data health) for events


def file_checks(staged: dict[str, DataFrame], files: list[ExportFile], timezone: str | None = None) -> dict[str, int]:
    """One aggregate over every kind's scan: rows, text that is not UTF-8, quarantine reasons, latest time.

    Rejects (status, error, rows_read 0) each file Spark could not decode whole, as the DuckDB ingest rejects
    a file DuckDB fails on ("unreadable (…)"): a damaged page (Spark keeps the rows before it, so the count
    falls short of the footer's) or text that is not UTF-8 (DuckDB refuses it; Spark would read the bytes).
    Sets each file's quarantine counts and latest time, and with `timezone` the local days of its accepted
    events (a rerun's touched days, without a query of their own); returns Spark's file_path of each file ok.
    Later queries read the files it passes again, strictly (a read error fails the run), and a file that changes
    while the run reads it fails the run too (`unchanged`): every read of a run sees the same rows.
    """
    from pyspark.sql import functions as F

    parts = []
    for kind in [kind for kind in KINDS if kind.name in staged]:
        frame = staged[kind.name]
        text = [column.name for column in kind.columns if type_name(column.type) == "VARCHAR"]
        # a null is valid text; names come from the schema module, never from input
        invalid = " or ".join(f"not coalesce(is_valid_utf8(`{name}`), true)" for name in text)
        timed = kind.name in TIME_COLUMN
        accepted = F.col("reason").isNull()
        latest = F.max(F.when(accepted, F.unix_micros(TIME_COLUMN[kind.name]))) if timed else F.lit(None).cast("bigint")
        days = (
            F.collect_set(F.when(accepted, F.to_date(F.from_utc_timestamp(TIME_COLUMN[kind.name], timezone))))
            if timed and timezone
            else F.lit(None).cast("array<date>")
        )
        parts.append(
            frame.groupBy("file_path", "reason").agg(
                F.count(F.lit(1)).alias("rows"),
                F.count(F.when(F.expr(invalid), 1)).alias("bad_text"),
                latest.alias("latest_us"),
                days.alias("days"),
            )
        )
    checks = parts[0]
    for part in parts[1:]:
        checks = checks.unionByName(part)
    by_key = {item.key: item for item in files}

    def no_rows() -> dict[str, Any]:
        return {"rows": 0, "bad_text": 0, "reasons": {}, "latest_us": None, "days": set()}

    seen: dict[int, dict[str, Any]] = {}
    paths: dict[int, str] = {}
    for row in checks.collect():
        item = by_key.get(urlsplit(row.file_path).path)
        if item is None:  # not a file of this run: cannot happen, Spark reads only the files it is given
            raise RollupError(f"Spark read {row.file_path}, which is not among the listed export files.")
        paths[item.file_id] = row.file_path
        counts = seen.setdefault(item.file_id, no_rows())
        counts["days"].update(row.days or ())
        counts["rows"] += row.rows
        counts["bad_text"] += row.bad_text
        if row.reason is not None:
            counts["reasons"][row.reason] = row.rows
        else:
            counts["latest_us"] = row.latest_us
    ok = {}
    for item in files:
        if item.status != "ok" or item.kind.name not in staged:
            continue
        counts = seen.get(item.file_id) or no_rows()
        rows, bad_text = counts["rows"], counts["bad_text"]
        if rows < item.rows_read:
            item.error = f"unreadable (a damaged data page: Spark decoded {rows} of the footer's {item.rows_read} rows)"
        elif bad_text:
            item.error = f"unreadable (text that is not valid UTF-8 in {bad_text} of its {rows} rows)"
        else:
            item.quarantined, item.latest_us, item.days = counts["reasons"], counts["latest_us"], counts["days"]
            if item.file_id in paths:
                ok[paths[item.file_id]] = item.file_id
            continue
        log.warning("rejecting %s: %s", item.uri, item.error)
        item.status, item.rows_read = "rejected", 0
    return ok


# --- winners: mirrors engine.ingest CANONICAL and INSERT_EVENT_LOSERS -------------------------------

# Per id the row from the path that sorts last wins, then the later row in that file. A loser is a
# conflict when any content column differs from the winner's (compared by a hash of the content, with
# a flag per nullable column so a null is not an empty value; DuckDB's ingest compares hashes too).
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
ID_HASH = "xxhash64(event_id) as id_hash"  # the index's one column (a collision only costs a full run)
KEY = {"usage_events": "event_id", "transactions": "txn_id", "accounts": "account_id", "members": "user_id"}
# ids seen more than once, up to this many, are broadcast to every task (no shuffle of the rows to resolve them)
BROADCAST_IDS = 2_000_000


LOSERS = ("usage_events", "transactions")  # the kinds whose duplicates and conflicts data health counts


def content_hash(columns: tuple[str, ...]) -> str:
    """xxhash64 over the columns and their null flags (Spark's hash skips nulls); names are constants."""
    return "xxhash64(" + ", ".join(f"`{c}`, `{c}` is null" for c in columns) + ")"


def resolve(kind: str, valid: DataFrame, accepted: DataFrame | None = None) -> tuple[DataFrame, DataFrame | None]:
    """(winners, losers per file): a hash aggregate by id over (id, position, hash) finds the ids seen more
    than once, with their winning position and content hash; only those ids are joined back to the rows. For events
    an aggregate of the ids' hashes comes first, and the aggregate by id reads only the rows of hashes seen twice.
    Events whose ids are all distinct (counted) are their own winners: no join, and losers None. Accounts and
    members (no losers counted) are one aggregate: the content at the last position per id.

    `valid` has the kind's columns, file_id, path_rank and row_no; `accepted` (accepted_rows), when given, is what
    events whose ids are all distinct return: the same rows without the join that gives file_id and path_rank.
    """
    from pyspark.sql import functions as F

    key = KEY[kind]
    if kind not in LOSERS:  # no per-file counts wanted: the winners are one hash aggregate, no join
        won = F.max_by(F.struct(*CONTENT[kind]), F.expr("shiftleft(cast(path_rank as bigint), 40) + row_no"))
        return valid.groupBy(key).agg(won.alias("won")).select(key, "won.*"), None
    keyed = valid.withColumn("position", F.expr("shiftleft(cast(path_rank as bigint), 40) + row_no")).withColumn(
        "content_hash", F.expr(content_hash(CONTENT[kind]))
    )
    candidates = keyed
    if kind == "usage_events":
        unique = (accepted if accepted is not None else valid.drop("file_id", "path_rank", "row_no")), None
        # First the id hashes seen more than once: a long per row through the shuffle instead of the id, its position
        # and content hash. Distinct hashes are distinct ids, so an export without copies stops here (the sample's 1M
        # events: one aggregate of longs); with copies, the aggregate by id below reads only their rows.
        rows = accepted if accepted is not None else valid
        hashes = rows.select(F.xxhash64(key).alias("id_hash")).groupBy("id_hash").count().where("count > 1")
        hashes = hashes.select("id_hash").persist()
        seen_twice = hashes.count()
        if not seen_twice:
            return unique
        hashes = F.broadcast(hashes) if seen_twice <= BROADCAST_IDS else hashes
        candidates = keyed.withColumn("id_hash", F.xxhash64(key)).join(hashes, "id_hash", "left_semi")
    repeated = (
        candidates.groupBy(key)
        .agg(
            F.count(F.lit(1)).alias("copies"),
            F.max("position").alias("won_at"),
            F.max_by("content_hash", "position").alias("won_hash"),
        )
        .where("copies > 1")
        .select(key, "won_at", "won_hash")
    )
    if kind == "usage_events":  # counted once (and kept): broadcast unless there are very many
        repeated = repeated.persist()
        count = repeated.count()
        if not count:  # the hashes seen twice were collisions of distinct ids
            return unique
        if count <= BROADCAST_IDS:
            repeated = F.broadcast(repeated)
    # the other kinds are small: adaptive execution broadcasts their repeated ids once it has counted them
    joined = keyed.join(repeated, key, "left")
    winners = joined.where("won_at is null or position = won_at").drop(
        "won_at", "won_hash", "position", "content_hash", "file_id", "path_rank", "row_no"
    )
    losers = (
        joined.where("won_at is not null and position <> won_at")
        .groupBy("file_id")
        .agg(
            F.count(F.lit(1)).alias("duplicates"),
            F.count(F.when(F.col("content_hash") != F.col("won_hash"), 1)).alias("conflicts"),
        )
    )
    return winners, losers


# The winners with their local day and hour, the zone conversion in the same projection as each table's scan
# (a cached pre-aggregate by hour cost more than it saved: at the sample's density it has 0.64 rows per event).
# `local_hour` with the event's UTC offset gives the instant the local hour starts (the local hour minus the
# offset), so a 30-minute zone has its own hours and a DST fall-back's repeated hour stays two buckets (two
# offsets), as engine.ingest.INSERT_HOURLY.
LOCAL = """
select account_id, user_id, service, model, occurred_at, tokens, input_tokens, output_tokens,
    to_date(local_at) as day, date_trunc('HOUR', local_at) as local_hour,
    unix_micros(local_at) - unix_micros(occurred_at) as offset_us
from (select *, from_utc_timestamp(occurred_at, :tz) as local_at from events_won)
"""
# The sums every events table keeps (sums of optional columns coalesced: engine.ingest's INSERT_DAILY).
SUMS = """sum(tokens) as tokens, coalesce(sum(input_tokens), 0) as input_tokens,
    coalesce(sum(output_tokens), 0) as output_tokens, count(*) as calls,
    count(case when input_tokens is not null or output_tokens is not null then 1 end) as io_calls,
    max(occurred_at) as latest_at"""
# Mirrors engine.ingest.INSERT_DAILY. (The f-strings below join this module's constants: no input.)
DAILY = f"""
select account_id, day, user_id, service, model, {SUMS}
from events_local
group by account_id, day, user_id, service, model
"""  # noqa: S608
# The window's rows: `occurred_at` first (a day before the window in UTC, as engine.ingest's scan), so the other
# days' events are dropped before their zone conversion.
WINDOW = "occurred_at >= :hourly_from_at and day >= :hourly_from"
# Mirrors engine.ingest.INSERT_HOURLY.
HOURLY = f"""
select account_id, timestamp_micros(unix_micros(local_hour) - offset_us) as hour, day, user_id, service, model,
    tokens, input_tokens, output_tokens, calls, io_calls, latest_at
from (
    select account_id, local_hour, offset_us, day, user_id, service, model, {SUMS}
    from events_local where {WINDOW}
    group by account_id, local_hour, offset_us, day, user_id, service, model
)
"""  # noqa: S608
# The winning events of the hourly window (the month-to-date figure's partial hour reads them).
RECENT = f"""
select account_id, occurred_at, user_id, service, model, tokens, day from events_local where {WINDOW}
"""  # noqa: S608
# Mirrors engine.ingest.ALL_TOTALS.
TOTALS = "select account_id, sum(tokens) as tokens, count(*) as calls from events_won group by account_id"
# Mirrors the ledger_sums statement of engine.ingest.CANONICAL.
LEDGER_SUMS = with_rules("""
with sums as (
    select account_id, {rule:ledger_used_total} from transactions group by account_id
),
recent as (
    select account_id, created_at as recent_from from (
        select account_id, created_at,
            row_number() over (partition by account_id order by created_at desc, txn_id desc) as n
        from transactions
    ) where n = :recent_entries
)
select s.account_id, s.used, s.total, r.recent_from from sums s left join recent r on s.account_id = r.account_id
""")
# A rerun that only adds events with new ids: a touched day's rows are the folder's rows of that day plus the
# new events' rows, summed by the table's key (a sum of sums is the sum; the optional columns' sums are already
# coalesced on both sides, and a sum of zeros and values is the values' sum). The hourly merge is by `hour`: one
# bucket per hour except on a day the zone's offset changes, which such a rerun never touches (it runs in full).
MERGE = {
    "usage_daily": """
select account_id, day, user_id, service, model, sum(tokens) as tokens, sum(input_tokens) as input_tokens,
    sum(output_tokens) as output_tokens, sum(calls) as calls, sum(io_calls) as io_calls, max(latest_at) as latest_at
from merged_rows group by account_id, day, user_id, service, model
""",
    "usage_hourly": """
select account_id, hour, day, user_id, service, model, sum(tokens) as tokens, sum(input_tokens) as input_tokens,
    sum(output_tokens) as output_tokens, sum(calls) as calls, sum(io_calls) as io_calls, max(latest_at) as latest_at
from merged_rows group by account_id, hour, day, user_id, service, model
""",
    "usage_totals": """
select account_id, sum(tokens) as tokens, sum(calls) as calls from merged_rows group by account_id
""",
}
# The data-health report (queries/data_health_files.sql's columns), built on the driver from the checks.
# Times as microseconds since 1970 in UTC (the format's TIMESTAMPTZ), as Spark writes them.
FILE_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("kind", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("rows_read", pa.int64()),
        ("accepted", pa.int64()),
        ("quarantined", pa.int64()),
        ("duplicates", pa.int64()),
        ("conflicts", pa.int64()),
        ("latest_at", pa.timestamp("us", tz="UTC")),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [("kind", pa.string()), ("path", pa.string()), ("reason", pa.string()), ("rows", pa.int64())]
)
# What a rerun that only adds event files keeps of each old file's row.
OLD_FILE_COLUMNS = ["path", "status", "error", "rows_read", "duplicates", "conflicts", "latest_at"]
# The columns of each table, in the format's order (docs/DERIVED_FORMAT.md).
COLUMNS = {
    "accounts": "account_id, account_name, owner_name, plan, created_at",
    "members": "user_id, account_id, display_name, email",
    "transactions": "txn_id, account_id, user_id, type, amount, created_at, payment_method, description",
}
# Within each file rows are written in the order the readers load them (zone maps per account).
SORT = {
    "accounts": ("account_id",),
    "members": ("account_id", "user_id"),
    "transactions": ("account_id", "created_at"),
    "ledger_sums": ("account_id",),
    "usage_totals": ("account_id",),
    "usage_daily": ("account_id", "day"),
    "usage_hourly": ("account_id", "day", "hour"),
    "recent_events": ("account_id", "occurred_at"),
}


def local_frame(spark: SparkSession, rows: list[tuple], ddl: str) -> DataFrame:
    """A small DataFrame of driver-side rows as literals: createDataFrame would start Python workers on the
    executors (a cluster's workers need no Python for this job)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(ddl)
    if not rows:
        return spark.range(0).select(*[F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields])
    structs = [
        F.struct(*[F.lit(value).cast(f.dataType).alias(f.name) for value, f in zip(row, schema.fields, strict=True)])
        for row in rows
    ]
    return spark.range(1).select(F.inline(F.array(*structs)))


def rank_paths(files: list[ExportFile]) -> None:
    """ "The path that sorts last": the rank of each path among its kind's (byte order)."""
    for kind in KINDS:
        for rank, item in enumerate(sorted((i for i in files if i.kind is kind), key=lambda i: i.rel.encode())):
            item.path_rank = rank


def stage(
    spark: SparkSession,
    kinds: tuple[Kind, ...] | list[Kind],
    files: list[ExportFile],
    *,
    lenient: bool = False,
    source: bool = True,
) -> dict[str, DataFrame]:
    """Each kind's rows of its files still ok with the row-level quarantine reason, as a scan of the files:
    `lenient` for the checks (a damaged page ends a file's rows), strict for the winners and each table, which
    read the files the checks passed again rather than from a cache (a parquet scan cost less CPU than building
    Spark's in-memory cache of the rows: about 1 against 8.3-10.1 CPU s at 1M, docs/SPARK.md "What runs where").
    `source` False: without file_path and row_no (accepted_rows' scan)."""
    from pyspark.sql import functions as F

    staged: dict[str, DataFrame] = {}
    for kind in kinds:
        ok = [item for item in files if item.kind is kind and item.status == "ok"]
        landed = land(spark, kind, ok, lenient=lenient, source=source)
        if landed is None:
            raw = ", ".join(f"{c.name} {SPARK_TYPES[type_name(c.type)]}" for c in kind.columns)
            landed = local_frame(spark, [], f"{raw}, file_path string, row_no bigint" if source else raw)
        staged[kind.name] = landed.withColumn("reason", F.expr(REASON[kind.name]))
    return staged


def checked(
    spark: SparkSession, staged: dict[str, DataFrame], files: list[ExportFile], timezone: str | None = None
) -> DataFrame:
    """file_checks, then the files still ok as (file_path, file_id, path_rank): the rows to keep join it."""
    readable = file_checks(staged, files, timezone)
    by_id = files_by_id(files)
    return local_frame(
        spark,
        [(path, file_id, by_id[file_id].path_rank) for path, file_id in readable.items()],
        "file_path string, file_id int, path_rank int",
    )


def valid_rows(staged: DataFrame, ids: DataFrame) -> DataFrame:
    """The rows without a quarantine reason of files still ok (an inner join drops the rejected files' rows,
    those before a damaged page too), with file_id and path_rank in place of file_path."""
    from pyspark.sql import functions as F

    return staged.where("reason is null").drop("reason").join(F.broadcast(ids), "file_path").drop("file_path")


def accepted_rows(staged: DataFrame) -> DataFrame:
    """The rows without a quarantine reason (of files the checks passed: `staged`, staged without source, reads
    only those), as the kind's columns alone: valid_rows without its join. The winners when no id repeats: each
    events table then reads the files without a broadcast join on a path string per row, and without the file
    metadata the scan would otherwise carry for it."""
    return staged.where("reason is null").drop("reason")


def files_by_id(files: list[ExportFile]) -> dict[int, ExportFile]:
    return {item.file_id: item for item in files}


def data_health(files: list[ExportFile]) -> dict[str, pa.Table]:
    """The files and quarantine tables, from what the driver knows of each file, sorted as the readers load
    them: pyarrow tables the driver writes itself (a Spark job for a few rows would cost more than the rows)."""
    file_rows = []
    quarantine_rows = []
    for item in sorted(files, key=lambda i: (i.kind.name.encode(), i.rel.encode())):  # Spark's byte order
        quarantined = sum(item.quarantined.values())
        duplicates, conflicts = item.losers
        file_rows.append(
            (item.file_id, item.kind.name, item.rel, item.size, item.mtime_ns, item.status, item.error,
             item.rows_read, item.rows_read - quarantined, quarantined, duplicates, conflicts, item.latest_us)
        )  # fmt: skip
        quarantine_rows += [
            (item.kind.name, item.rel, reason, rows)
            for reason, rows in sorted(item.quarantined.items(), key=lambda pair: pair[0].encode())
        ]
    return {
        "files": pa.Table.from_pylist(
            [dict(zip(FILE_SCHEMA.names, row, strict=True)) for row in file_rows], FILE_SCHEMA
        ),
        "quarantine": pa.Table.from_pylist(
            [dict(zip(QUARANTINE_SCHEMA.names, row, strict=True)) for row in quarantine_rows], QUARANTINE_SCHEMA
        ),
    }


def write_health(storage: Storage, out: str, tables: dict[str, pa.Table]) -> None:
    """Replace the folder's files and quarantine tables with the driver's (one parquet file each)."""
    for table, rows in tables.items():
        uri = join(out, table)
        storage.delete(uri)
        storage.mkdirs(uri)
        storage.write_parquet(join(uri, "part-00000.parquet"), rows)


def event_tables(spark: SparkSession, window: dict[str, Any]) -> dict[str, DataFrame]:
    """usage_daily, usage_hourly, recent_events and usage_totals from the views events_won and events_local:
    each its own query over the event files' scan (lazy)."""
    bounds = {key: window[key] for key in ("hourly_from", "hourly_from_at")}
    return {
        "usage_daily": spark.sql(DAILY),
        "usage_hourly": spark.sql(HOURLY, args=bounds),
        "recent_events": spark.sql(RECENT, args=bounds),
        "usage_totals": spark.sql(TOTALS),
    }


def derive(spark: SparkSession, files: list[ExportFile], timezone: str, window: dict[str, Any]) -> dict[str, DataFrame]:
    """Every table of the derived folder as Spark DataFrames (lazy; only the repeated event ids are cached)."""
    rank_paths(files)
    ids = checked(spark, stage(spark, KINDS, files, lenient=True), files)
    staged = stage(spark, KINDS, files)  # the files the checks passed, read strictly
    (events,) = [kind for kind in KINDS if kind.name == "usage_events"]
    accepted = accepted_rows(stage(spark, (events,), files, source=False)[events.name])
    tables: dict[str, DataFrame] = {}
    loser_frames = []
    for kind in KINDS:
        distinct = accepted if kind is events else None
        winners, losers = resolve(kind.name, valid_rows(staged[kind.name], ids), distinct)
        if losers is not None:
            loser_frames.append(losers)
        if kind.name == "usage_events":
            winners.drop("event_id").createOrReplaceTempView("events_won")
            tables[INDEX] = winners.selectExpr(ID_HASH)
        else:
            tables[kind.name] = winners.selectExpr(*COLUMNS[kind.name].split(", "))
            tables[kind.name].createOrReplaceTempView(kind.name)
    by_id = files_by_id(files)
    if loser_frames:  # both kinds' counts in one job (file ids are distinct across kinds)
        counts = loser_frames[0]
        for frame in loser_frames[1:]:
            counts = counts.unionByName(frame)
        for row in counts.collect():
            by_id[row.file_id].losers = (row.duplicates, row.conflicts)

    spark.sql(LOCAL, args={"tz": timezone}).createOrReplaceTempView("events_local")
    tables.update(event_tables(spark, window))
    tables["ledger_sums"] = spark.sql(LEDGER_SUMS, args={"recent_entries": RECENT_ENTRIES})
    return tables


# --- writing ----------------------------------------------------------------------------------------


def write_whole(frame: DataFrame, uri: str, table: str) -> None:
    """A small table in one file (these are per account or per file: one task writes them in no time)."""
    frame.coalesce(1).sortWithinPartitions(*SORT[table]).write.mode("overwrite").parquet(uri)


def write_days(frame: DataFrame, uri: str, table: str, days: list[date] | None, *, spread: bool = True) -> None:
    """Write the table's day= partitions: all of them (days None) or only the listed ones. `spread` False: the
    rows are few (a rerun's merged days) and one task writes them all, without a shuffle."""
    from pyspark.sql import functions as F

    if days is not None:
        if not days:
            return
        frame = frame.where(F.col("day").isin(days))
    # one writer per day: a day's rows in one file, sorted as the readers load them
    frame = frame.repartition("day") if spread else frame.coalesce(1)
    writer = frame.sortWithinPartitions("day", *SORT[table]).write.partitionBy("day")
    if days is None:
        writer.mode("overwrite").parquet(uri)
    else:
        writer.mode("overwrite").option("partitionOverwriteMode", "dynamic").parquet(uri)


def append_days(frame: DataFrame, uri: str, table: str) -> None:
    """Add the rows (few: a rerun's new events) to their days as one more file each, in one task."""
    frame.coalesce(1).sortWithinPartitions("day", *SORT[table]).write.mode("append").partitionBy("day").parquet(uri)


def day_checksums(frame: DataFrame) -> dict[date, tuple[int, Any]]:
    """Per day: rows and the sum of a hash of every column (row order does not matter; nulls are flagged)."""
    from pyspark.sql import functions as F

    columns = tuple(c for c in frame.columns if c != "day")
    return {
        row.day: (row.rows, row.checksum)
        for row in frame.groupBy("day")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.expr(content_hash(columns)).cast("decimal(38,0)")).alias("checksum"),
        )
        .collect()
    }


def changed_days(spark: SparkSession, storage: Storage, frame: DataFrame, uri: str) -> tuple[list[date], list[date]]:
    """Days whose rows differ from the folder's (to write) and days the new tables no longer have (to delete)."""
    new = day_checksums(frame)
    if not [name for name in storage.entries(uri) if name.startswith("day=")]:
        return sorted(new), []
    old = day_checksums(spark.read.schema(frame.schema).parquet(uri).select(*frame.columns))
    return sorted(day for day in new if new[day] != old.get(day)), sorted(set(old) - set(new))


# --- a rerun that only adds event files -------------------------------------------------------------


def offset_changes(timezone: str, day: date) -> bool:
    """Whether the zone's UTC offset changes during the local day (a DST day: two buckets can share an hour)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    steps = int((end - start) / timedelta(minutes=15))
    return len({(start + timedelta(minutes=15 * n)).astimezone(zone).utcoffset() for n in range(steps + 1)}) > 1


def add_events(
    spark: SparkSession,
    storage: Storage,
    files: list[ExportFile],
    new: list[ExportFile],
    out: str,
    timezone: str,
    window: dict[str, Any],
    result: RollupResult,
) -> bool:
    """Bring the folder up to date from new event files alone, reading neither the old exports nor more of the
    folder than the days the new events touch. False, with nothing written, when a full run is needed: a new
    id is already in the folder's index (a winner may change, an old file's counts too), or a touched day of
    the hourly window is one on which the zone's offset changes.
    """
    from pyspark.sql import functions as F

    screen_all(storage, new)
    rank_paths(files)
    (events,) = [kind for kind in KINDS if kind.name == "usage_events"]
    # the checks also give each new file's local days: the days its accepted rows touch (a loser's day too, whose
    # rows are then written again unchanged), so no query of their own
    ids = checked(spark, stage(spark, (events,), new, lenient=True), new, timezone)
    # the new files the checks passed, read strictly: their accepted rows (no file metadata, no join to the files)
    accepted = accepted_rows(stage(spark, (events,), new, source=False)[events.name])
    # one query: do the new ids repeat among themselves, and does any meet the folder's index (the new rows' hashes
    # broadcast to its scan)? Distinct and new, the rows are their own winners: no aggregate by id
    index = spark.read.schema("id_hash bigint").parquet(join(out, INDEX))
    seen = index.join(F.broadcast(accepted.selectExpr(ID_HASH)), "id_hash", "left_semi").select(F.count(F.lit(1)))
    rows, distinct, old = accepted.select(F.count(F.lit(1)), F.count_distinct("event_id")).crossJoin(seen).first()
    if old:
        log.info("a new event file repeats an id the folder holds: every export is read again")
        return False
    if rows == distinct:
        winners, losers = accepted, None
    else:
        winners, losers = resolve(events.name, valid_rows(stage(spark, (events,), new)[events.name], ids))
    hashes = winners.selectExpr(ID_HASH)
    winners.drop("event_id").createOrReplaceTempView("events_won")
    spark.sql(LOCAL, args={"tz": timezone}).createOrReplaceTempView("events_local")
    added = event_tables(spark, window)
    days = sorted(set().union(*(item.days for item in new if item.status == "ok")))
    hourly_from = window["hourly_from"]
    recent = [day for day in days if day >= hourly_from]
    if any(offset_changes(timezone, day) for day in recent):
        log.info("new events on a day the zone's offset changes: every export is read again")
        return False

    # the old files keep their rows in data health (their ids did not meet the new ones), under this run's ids
    by_path = {item.rel: item for item in files}
    for row in storage.read_table(join(out, "files"), OLD_FILE_COLUMNS):
        item = by_path[row["path"]]
        item.status, item.error, item.rows_read = row["status"], row["error"], row["rows_read"]
        item.latest_us, item.losers = row["latest_at"], (row["duplicates"], row["conflicts"])
    for row in storage.read_table(join(out, "quarantine"), ["path", "reason", "rows"]):
        by_path[row["path"]].quarantined[row["reason"]] = row["rows"]
    by_id = files_by_id(files)
    for row in losers.collect() if losers is not None else []:
        by_id[row.file_id].losers = (row.duplicates, row.conflicts)
    result.rejected = sum(1 for item in files if item.status != "ok")

    storage.delete(join(out, "_format.json"))
    staging = join(out, STAGING)
    storage.delete(staging)
    touches = {"usage_daily": days, "usage_hourly": recent, "recent_events": recent, "usage_totals": None}
    merged = {}
    for table, frame in added.items():
        touched = touches[table]
        if touched == [] or table == "recent_events":  # recent_events: one row per event, appended below
            continue
        uri = join(out, table)
        if touched is None:
            old = spark.read.schema(frame.schema).parquet(uri)
        else:  # only the touched days' folders (no listing of the others)
            present = set(storage.entries(uri))
            folders = [join(uri, f"day={day.isoformat()}") for day in touched if f"day={day.isoformat()}" in present]
            old = spark.read.schema(frame.schema).option("basePath", uri).parquet(*folders) if folders else None
        rows = frame if old is None else old.select(*frame.columns).unionByName(frame)
        # the sums of a few days: one partition, so the merge and the write need no shuffle
        rows.coalesce(1).createOrReplaceTempView("merged_rows")
        merged[table] = spark.sql(MERGE[table])  # analysed now: the next table's merged_rows is another view
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [
            pool.submit(write_days, frame, join(staging, table), table, None, spread=False)
            if table in PARTITIONED
            else pool.submit(write_whole, frame, join(staging, table), table)
            for table, frame in merged.items()
        ]
        write_health(storage, out, data_health(files))  # on the driver, while the jobs run
        jobs.append(pool.submit(lambda: hashes.write.mode("append").parquet(join(out, INDEX))))
        if recent:  # new events are new rows: a file added to each touched day, the day's old files kept
            jobs.append(pool.submit(append_days, added["recent_events"], join(out, "recent_events"), "recent_events"))
        for job in jobs:
            job.result()
    # the merged tables read the folder's own files: they replace them only once written whole
    for table in merged:
        if table not in PARTITIONED:
            storage.delete(join(out, table))
            storage.rename(join(staging, table), join(out, table))
            continue
        for day in touches[table] or []:
            name = f"day={day.isoformat()}"
            storage.delete(join(out, table, name))
            storage.rename(join(staging, table, name), join(out, table, name))
    storage.delete(staging)
    for table in ("usage_hourly", "recent_events"):  # days the window (moved with the clock) no longer covers
        for name in storage.entries(join(out, table)):
            if name.startswith("day=") and name[4:] < hourly_from.isoformat():
                storage.delete(join(out, table, name))
                result.days_removed[table] = result.days_removed.get(table, 0) + 1
    result.incremental = True
    result.days_written = {table: len(touches[table] or []) for table in PARTITIONED}
    result.days_removed = {table: result.days_removed.get(table, 0) for table in PARTITIONED}
    return True


# --- the run -----------------------------------------------------------------------------------------


DRIVER_MEMORY = "SPARK_DRIVER_MEMORY"  # Spark's own variable (e.g. 4g), read when this process starts the JVM
# The driver JVM's options when this process starts it (docs/SPARK.md "Settings"): a small rollup is a short job
# that runs a few hundred generated classes once, so the JIT's top tier and a concurrent collector cost more CPU
# than they give back (1M events: 56.6 CPU s against 63.3); a large one runs them long enough for the top tier
# to pay (10M: 327.9 against 191.5). Measured in docs/BENCHMARK.md, "First run and rerun".
JAVA_OPTIONS = "ANALYTICS_SPARK_JAVA_OPTIONS"
DEFAULT_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC -XX:ReservedCodeCacheSize=256m"
SMALL_EXPORT_BYTES = 32_000_000  # event files up to this size take DEFAULT_JAVA_OPTIONS (1M sample events: 15 MB)


def java_options_for(exports: str) -> str:
    """$ANALYTICS_SPARK_JAVA_OPTIONS when set; else DEFAULT_JAVA_OPTIONS for a local export folder whose event
    files are small, Java's own options for a larger one or one on another file system (not listed here)."""
    if JAVA_OPTIONS in os.environ:
        return os.environ[JAVA_OPTIONS]
    events = Path(exports) / "usage_events"
    if not is_local(exports) or not events.is_dir():
        return ""
    size = sum(path.stat().st_size for path in events.rglob("*.parquet") if path.is_file())
    return DEFAULT_JAVA_OPTIONS if size <= SMALL_EXPORT_BYTES else ""


def session(
    master: str | None,
    app_name: str = "token-analytics-rollup",
    driver_memory: str | None = None,
    *,
    java_options: str | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession with the format's settings; the master from --master, spark-submit or local[*].

    `driver_memory` (default: $SPARK_DRIVER_MEMORY, else Spark's 1g) and `java_options` (default:
    $ANALYTICS_SPARK_JAVA_OPTIONS, else DEFAULT_JAVA_OPTIONS; rollup() passes java_options_for) only take effect
    when this call starts the JVM; under spark-submit they are spark-submit's --driver-memory and
    --driver-java-options. `conf`: more session settings (a person's or a benchmark's), applied last.
    """
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
    for key, value in {**SESSION_CONF, **TUNING}.items():
        builder = builder.config(key, value)
    memory = driver_memory or os.environ.get(DRIVER_MEMORY)
    if memory:
        builder = builder.config("spark.driver.memory", memory)
    options = java_options if java_options is not None else os.environ.get(JAVA_OPTIONS, DEFAULT_JAVA_OPTIONS)
    if options.strip():
        builder = builder.config("spark.driver.extraJavaOptions", options)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def size_partitions(spark: SparkSession) -> None:
    """Shuffles at 3 tasks per core unless the session chose its own number.

    Spark's default of 200 makes every stage of a small or mid-sized run 200 tiny tasks (measured: half of
    the rollup's CPU at 1M events on 2 cores); adaptive execution coalesces from the number set here.
    """
    if spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions"):
        return
    spark.conf.set("spark.sql.shuffle.partitions", str(max(2, 3 * spark.sparkContext.defaultParallelism)))


LOCK = ".rollup.lock"  # hidden (readers glob the tables by name; a leftover is not a table)


@contextmanager
def writing(out: str) -> Iterator[None]:
    """Hold the folder's writer lock while a run writes it: two runs on one folder (two --every services, a cron
    job over a slow run) would interleave their partitions and _format.json. A plain path only: an object store
    has no lock to take (run one writer per folder there). The lock goes with the process, however it ends."""
    if not is_local(out):
        yield
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RollupError(
                f"another rollup is writing {out} now: wait for it to end, or give another --out."
            ) from None
        yield


def rollup(
    exports: str,
    out: str,
    *,
    timezone: str,
    now: datetime,
    master: str | None = None,
    spark: SparkSession | None = None,
) -> RollupResult:
    """Write (or bring up to date) the derived folder `out` from the export folder `exports`: one writer at a time
    (`writing`), taken once the session is up (so a missing Spark or Java is said first and leaves no folder)."""
    started = time.perf_counter()
    own = spark is None
    spark = spark or session(master, java_options=java_options_for(exports))
    try:
        with writing(out):
            for key, value in SESSION_CONF.items():
                if not key.startswith(("spark.ui", "spark.hadoop")):
                    spark.conf.set(key, value)
            size_partitions(spark)
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
    finally:
        if own:
            spark.stop()
    result.seconds = time.perf_counter() - started
    return result


EVERY = re.compile(r"(\d+)([smh]?)")


EVERY_LONGEST = 366 * 24 * 3600  # a wait longer than a year is a typo (and past what a thread's wait accepts)


def parse_every(text: str) -> int:
    """--every as seconds: 600, 600s, 10m or 1h (at least one second, at most a year)."""
    match = EVERY.fullmatch(text.strip())
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)] if match else 0
    if not seconds:
        raise RollupError(f"--every {text!r}: give a duration such as 600, 10m or 1h.")
    if seconds > EVERY_LONGEST:
        raise RollupError(f"--every {text!r}: at most a year (8784h) between runs.")
    return seconds


def schedule(every: str | None, rounds: int | None) -> int | None:
    """The seconds between runs of --every (None: one run), checked with --rounds before anything starts."""
    if rounds is not None and (not every or rounds < 1):
        raise RollupError("--rounds counts the runs of --every: give both, and at least 1 round.")
    return parse_every(every) if every else None


def every(  # noqa: PLR0913
    exports: str,
    out: str,
    *,
    timezone: str,
    seconds: int,
    clock: Callable[[], datetime],
    master: str | None = None,
    rounds: int | None = None,
    stop: threading.Event | None = None,
    spark: SparkSession | None = None,
) -> bool:
    """Keep one Spark session and bring `out` up to date every `seconds` (start to start), `rounds` times or
    until `stop` is set (between runs: a run under way finishes). Each run's line goes to stdout with its time,
    a run that fails to stderr, and the next round runs all the same. True when the last run succeeded.

    A session that stays up is how a rerun costs what it adds: a run in a JVM of its own first pays Spark's
    start, planner and code generation (docs/SPARK.md "Running again").
    """
    import sys

    stop = stop or threading.Event()
    own = spark is None
    spark = spark or session(master, java_options=java_options_for(exports))
    done, ok = 0, True
    try:
        while not stop.is_set():
            started = time.monotonic()
            now = clock()
            try:
                line, ok = str(rollup(exports, out, timezone=timezone, now=now, spark=spark)), True
            except RollupError as exc:
                line, ok = f"rollup: {exc}", False
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            print(f"{stamp} {line}", file=sys.stdout if ok else sys.stderr, flush=True)
            done += 1
            if rounds is not None and done >= rounds:
                break
            stop.wait(max(0.0, seconds - (time.monotonic() - started)))
    finally:
        if own:
            spark.stop()
    return ok


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (a service manager's stop, Ctrl-C): `every` ends after the run under way."""
    import signal

    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    return stop


def _rollup(spark: SparkSession, exports: str, out: str, timezone: str, now: datetime) -> RollupResult:
    storage = Storage(spark)
    previous = read_format(storage, out)
    listed = storage.list_exports(exports)
    if not listed:
        raise RollupError(f"{exports} holds no export files (accounts/, members/, usage_events/, transactions/).")

    def export_files() -> list[ExportFile]:
        return [
            ExportFile(kind=kind, rel=rel, uri=uri, key=key, size=size, mtime_ns=mtime, file_id=number)
            for number, (kind, rel, uri, key, size, mtime) in enumerate(listed, start=1)
        ]

    files = export_files()
    result = RollupResult(out=out, files=len(files))
    known: dict[str, tuple[int, int]] = {}
    if previous is not None:
        for row in storage.read_table(join(out, "files"), ["path", "size", "mtime_ns"]):
            known[row["path"]] = (row["size"], row["mtime_ns"])
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
    new = [item for item in files if item.rel not in known]
    if (
        previous is not None
        and previous.get("timezone") == timezone
        # the clock's next day moves the hourly window forward: its oldest days are dropped, nothing else
        and str(previous.get("hourly_from")) <= window["hourly_from"].isoformat()
        and new
        and previous.get("engine") == "spark"  # the index is this engine's (another writer leaves it stale)
        and not gone
        and len(new) == result.changed  # nothing changed, only new files
        and all(item.kind.name == "usage_events" for item in new)
        and storage.entries(join(out, INDEX))
    ):
        if add_events(spark, storage, files, new, out, timezone, window, result):
            unchanged(storage, exports, new)
            write_format(storage, out, timezone, now, window["hourly_from"])
            return result
        spark.catalog.clearCache()
        files = export_files()  # as listed: the attempt screened and counted the new ones
    # while tables are replaced the folder has no _format.json: a reader refuses it rather than mixing two runs
    storage.delete(join(out, "_format.json"))
    storage.delete(join(out, STAGING))

    screen_all(storage, files)
    tables = derive(spark, files, timezone, window)
    result.rejected = sum(1 for item in files if item.status != "ok")  # derive rejects what Spark cannot decode
    # a folder written for another zone has other days: rewrite it whole
    full = previous is None or previous.get("timezone") != timezone

    def write_partitioned(table: str) -> None:
        uri = join(out, table)
        if full:
            storage.delete(uri)
            write_days(tables[table], uri, table, None)
            storage.mkdirs(uri)  # a table without rows is an empty folder
            result.days_written[table] = len([n for n in storage.entries(uri) if n.startswith("day=")])
            return
        write, remove = changed_days(spark, storage, tables[table], uri)
        write_days(tables[table], uri, table, write)
        for day in remove:
            storage.delete(join(uri, f"day={day.isoformat()}"))
        result.days_written[table], result.days_removed[table] = len(write), len(remove)

    # the tables are independent jobs: submitted together, small ones run beside the large ones' tasks
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(write_partitioned, table) for table in PARTITIONED]
        jobs += [pool.submit(write_whole, tables[table], join(out, table), table) for table in WHOLE if table in tables]
        write_health(storage, out, data_health(files))  # on the driver, while the jobs run
        jobs.append(pool.submit(lambda: tables[INDEX].write.mode("overwrite").parquet(join(out, INDEX))))
        for job in jobs:
            job.result()
    unchanged(storage, exports, files)
    write_format(storage, out, timezone, now, window["hourly_from"])
    return result


def unchanged(storage: Storage, exports: str, files: list[ExportFile]) -> None:
    """RollupError when an export file the run read changed (size or mtime) or went away while it ran: the
    tables read each file more than once, so every read must have seen the same bytes. The folder is then left
    without _format.json (readers refuse it) and the next run writes it whole."""
    now = {rel: (size, mtime) for _, rel, _, _, size, mtime in storage.list_exports(exports)}
    for item in files:
        if now.get(item.rel) != (item.size, item.mtime_ns):
            raise RollupError(f"{item.rel} changed while the rollup read it: run the rollup again.")


def write_format(storage: Storage, out: str, timezone: str, now: datetime, hourly_from: date) -> None:
    """_format.json, last: a reader that sees it sees complete tables."""
    written = {
        "format": FORMAT,
        "version": VERSION,
        "timezone": timezone,
        "clock": now.isoformat(),
        "hourly_from": hourly_from.isoformat(),
        "engine": "spark",
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.write_text(join(out, "_format.json"), json.dumps(written, indent=2) + "\n")


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
    parser.add_argument("--every", help="keep the session; run again every DURATION (600, 10m, 1h) until stopped")
    parser.add_argument("--rounds", type=int, help="with --every: stop after this many runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        timezone = check_zone(args.timezone, "--timezone")
        now = parse_instant(args.now, "--now") if args.now else None
        seconds = schedule(args.every, args.rounds)
        if seconds:
            clock = (lambda: now) if now else (lambda: datetime.now(UTC))
            ok = every(
                args.exports, args.out, timezone=timezone, seconds=seconds, clock=clock, master=args.master,
                rounds=args.rounds, stop=stop_on_signals(),
            )  # fmt: skip
            return 0 if ok else 2
        print(rollup(args.exports, args.out, timezone=timezone, now=now or datetime.now(UTC), master=args.master))
    except (SettingsError, RollupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
