"""Derived format v1 (docs/DERIVED_FORMAT.md): the DuckDB writer (`rollup --engine duckdb`) and the loader.

The writer runs the ordinary ingest over the exports into a scratch cache, then writes the tables the
figures read as parquet. On a second run it compares each table's content per `day=` partition (row count
and a sum of row hashes) with what the folder holds and rewrites only the partitions that differ, and the
unpartitioned tables that differ. The loader copies a folder into the cache's tables (ANALYTICS_DERIVED_DIR),
so every query reads the same table names in both modes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from token_analytics.db.queries import query_text
from token_analytics.engine import ingest as ingest_module

log = logging.getLogger(__name__)

FORMAT = "token-analytics-derived"
VERSION = 1
FORMAT_FILE = "_format.json"
MAX_FORMAT_BYTES = 64 * 1024  # a real one is about 300 bytes
# meta.schema_version of a cache loaded from a derived folder: a raw ingest sees another layout and starts again
SCHEMA_VERSION = "derived-2"  # 2: with account_months, built after the load

PARTITIONED = ("usage_daily", "usage_hourly", "recent_events")
UNPARTITIONED = ("files", "quarantine", "accounts", "members", "transactions", "ledger_sums", "usage_totals")
TABLES = UNPARTITIONED + PARTITIONED


class DerivedError(Exception):
    """A derived folder cannot be written or read; the message is one line for a person."""


# ---------------------------------------------------------------------------------------------------------
# Writing. Each statement (queries/derived/export_*.sql) puts one table's rows, in the format's columns, into
# `export_rows` (a temp table on the scratch cache); the same statements serve the comparison and the write. Each
# names the parameters it takes (of the hourly window's values).
Statement = ingest_module.Statement


def _query(name: str, **slots: str) -> str:
    """queries/<name>.sql with its slots filled (table names from TABLES, fixed SQL from this module)."""
    return ingest_module.filled(name, **slots)


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"not a derived table: {name!r}")
    return name


EXPORT = {
    "files": Statement(_query("derived/export_files")),
    "quarantine": Statement(_query("derived/export_quarantine")),
    **{
        table: Statement(_query("derived/export_table", table=_table(table)))
        for table in ("accounts", "members", "transactions", "ledger_sums", "usage_totals", "usage_daily")
    },
    "usage_hourly": Statement(_query("derived/export_usage_hourly"), ("hourly_from",)),
    "recent_events": Statement(_query("derived/export_recent_events"), ("hourly_from_at", "hourly_from")),
}
# Content signatures (True: per day, for the partitioned tables) of the cache's rows and of the folder's.
NEW_SIGNATURES = {
    True: _query("derived/signatures_by_day", rows="export_rows"),
    False: _query("derived/signatures_whole", rows="export_rows"),
}
OLD_SIGNATURES = {
    True: _query("derived/signatures_by_day", rows="old_rows"),
    False: _query("derived/signatures_whole", rows="old_rows"),
}
OLD_EMPTY = query_text("derived/old_empty")
OLD_READ = query_text("derived/old_read")
COPY_DAYS = query_text("derived/copy_days")
COPY_TABLE = query_text("derived/copy_table")
READ_FILE_LIST = query_text("derived/file_list")


@dataclass
class RollupSummary:
    """What one `rollup` run did."""

    out: Path
    nothing_new: bool = False
    tables: list[str] = field(default_factory=list)  # unpartitioned tables rewritten
    partitions: dict[str, list[str]] = field(default_factory=dict)  # table -> days written or removed
    seconds: float = 0.0
    ingest_seconds: float = 0.0

    def __str__(self) -> str:
        if self.nothing_new:
            return f"rollup: nothing new; {self.out} is up to date, nothing written ({self.seconds:.2f} s)"
        parts = [f"{table} ({len(days)} day partitions)" for table, days in self.partitions.items() if days]
        written = ", ".join(self.tables + parts) or "no table (only _format.json)"
        return f"rollup: wrote {written} to {self.out} in {self.seconds:.2f} s (ingest {self.ingest_seconds:.2f} s)"


def _globs(folder: Path, table: str) -> tuple[str, bool]:
    """The parquet glob of one table in a derived folder, and whether any file matches it."""
    pattern = "*/*.parquet" if table in PARTITIONED else "*.parquet"
    base = folder / table
    return str(base / pattern), base.is_dir() and any(base.glob(pattern))


def read_format(folder: Path) -> tuple[str, dict[str, Any]]:
    """The text and content of a folder's _format.json, checked; DerivedError (one line) otherwise."""
    path = folder / FORMAT_FILE
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FORMAT_BYTES + 1)  # bounded: the folder may come from anyone who can write there
    except FileNotFoundError:
        raise DerivedError(
            f"{folder} has no {FORMAT_FILE}: it is not a derived folder, or a rollup is writing it; "
            "run `python -m token_analytics rollup` to make one."
        ) from None
    except OSError as exc:
        raise DerivedError(f"{path} cannot be read ({type(exc).__name__}).") from exc
    if len(raw) > MAX_FORMAT_BYTES:
        raise DerivedError(f"{path} is larger than {MAX_FORMAT_BYTES // 1024} KB: it is not a {FORMAT} file.")
    try:
        text = raw.decode("utf-8")
        content = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting past the stack, RecursionError
        raise DerivedError(f"{path} is not JSON; make the folder again with `rollup`.") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise DerivedError(f"{path} does not describe a {FORMAT} folder.")
    if content.get("version") != VERSION:
        raise DerivedError(
            f"{folder} is derived format version {content.get('version')!r}; this version reads only "
            f"version {VERSION}: make it again with this version's `rollup`."
        )
    for key in ("timezone", "hourly_from", "clock"):
        if not isinstance(content.get(key), str):
            raise DerivedError(f"{path} has no {key}; make the folder again with `rollup`.")
    try:
        content["hourly_from"] = date.fromisoformat(content["hourly_from"])
    except ValueError:
        raise DerivedError(f"{path}: hourly_from {content['hourly_from']!r} is not a date.") from None
    return text, content


def export_unchanged(con: duckdb.DuckDBPyConnection, out: Path, exports: Path) -> bool:
    """True when the export files (path, size, mtime) are the ones the folder was made from."""
    glob, present = _globs(out, "files")
    if not present:
        return False
    before = set(con.execute(READ_FILE_LIST, {"glob": glob}).fetchall())
    now = {(rel, st.st_size, st.st_mtime_ns) for _, rel, st in ingest_module.discover(exports)}
    return before == now


def check_out(out: Path) -> dict[str, Any] | None:
    """The present format of the output folder (None: new or unfinished), or DerivedError for a foreign folder."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise DerivedError(f"--out {out} is not a folder.")
    if (out / FORMAT_FILE).exists():
        return read_format(out)[1]
    names = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    if names - set(TABLES):
        raise DerivedError(f"--out {out} is not empty and is not a derived folder; give an empty or new folder.")
    return None  # a rollup stopped before its _format.json: compared and completed like any other


def write_tables(cur: duckdb.DuckDBPyConnection, out: Path, window: dict[str, Any], summary: RollupSummary) -> None:
    """Compare every table with the folder and replace what differs (the folder has no _format.json meanwhile)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    (out / FORMAT_FILE).unlink(missing_ok=True)  # readers refuse the folder until the new one is complete
    staging = out / f".staging-{uuid.uuid4().hex}"
    try:
        for table in TABLES:
            partitioned = table in PARTITIONED
            EXPORT[table].run(cur, window)
            new = {day: rest for day, *rest in cur.execute(NEW_SIGNATURES[partitioned]).fetchall()}
            cur.execute(OLD_EMPTY)
            glob, present = _globs(out, table)
            if present:
                cur.execute(OLD_READ, {"glob": glob, "partitioned": partitioned})
            old = {day: rest for day, *rest in cur.execute(OLD_SIGNATURES[partitioned]).fetchall()}
            if not partitioned:
                if new != old or not present:
                    target = staging / table
                    target.mkdir(parents=True)
                    cur.execute(COPY_TABLE, {"path": str(target / "part-0.parquet")})
                    shutil.rmtree(out / table, ignore_errors=True)
                    os.replace(target, out / table)
                    summary.tables.append(table)
                continue
            days = sorted(day for day in new.keys() | old.keys() if new.get(day) != old.get(day))
            summary.partitions[table] = [day.isoformat() for day in days]
            if not days:
                (out / table).mkdir(exist_ok=True)
                continue
            target = staging / table
            staging.mkdir(exist_ok=True)
            cur.execute(COPY_DAYS, {"days": days, "dir": str(target)})
            (out / table).mkdir(exist_ok=True)
            for day in days:
                name = f"day={day.isoformat()}"
                shutil.rmtree(out / table / name, ignore_errors=True)
                if (target / name).is_dir():
                    os.replace(target / name, out / table / name)
        cur.execute("drop table if exists export_rows; drop table if exists old_rows")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_format(out: Path, timezone: str, now: datetime, hourly_from: date) -> None:
    """_format.json, last and whole (a rename), so a reader that sees it sees complete tables."""
    content = {
        "format": FORMAT,
        "version": VERSION,
        "timezone": timezone,
        "clock": now.isoformat(),
        "hourly_from": hourly_from.isoformat(),
        "engine": "duckdb",
        "written_at": datetime.now(UTC).isoformat(),
    }
    partial = out / f".{FORMAT_FILE}.{uuid.uuid4().hex}"
    partial.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, out / FORMAT_FILE)


# ---------------------------------------------------------------------------------------------------------
# Loading: the tables every cache has (ingest/create_cache.sql) and those of a loaded cache (create_loaded.sql),
# filled from the folder: each table by its statements, run with the table's parquet glob.
CREATE_LOADED = query_text("ingest/create_cache") + query_text("derived/create_loaded")
# the order a table is loaded in (None: as read): an account's figures then read few row groups, as in the cache
LOAD_ORDER = {
    "transactions": "account_id, created_at",
    "usage_daily": "account_id, day",
    "usage_hourly": "account_id, day, hour",
    "recent_events": "occurred_at",
}
LOAD = {
    "files": (
        Statement(_query("derived/load_files"), ("glob",)),
        Statement(_query("derived/load_file_duplicates"), ("glob",)),
    ),
    "quarantine": (Statement(_query("derived/load_quarantine"), ("glob",)),),
    **{
        table: (
            Statement(
                _query(
                    "derived/load_table",
                    table=_table(table),
                    order=f"order by {LOAD_ORDER[table]}" if table in LOAD_ORDER else "",
                ),
                ("glob", "partitioned"),
            ),
        )
        for table in ("accounts", "members", "transactions", "ledger_sums", "usage_totals", *PARTITIONED)
    },
}
LOAD_ATTEMPTS = 3  # a rollup that rewrites the folder during a load makes the load start again


def load(cur: duckdb.DuckDBPyConnection, folder: Path, timezone: str) -> ingest_module.IngestSummary:
    """Load the derived folder into the cache's tables unless this very folder state is loaded already."""
    started = time.perf_counter()
    summary = ingest_module.IngestSummary()
    if not folder.is_dir():
        raise DerivedError(f"ANALYTICS_DERIVED_DIR={folder} does not exist; point it at a derived folder.")
    for _attempt in range(LOAD_ATTEMPTS):
        text, content = read_format(folder)
        if content["timezone"] != timezone:
            raise DerivedError(
                f"{folder} was rolled up in {content['timezone']}, not ANALYTICS_TIMEZONE={timezone}; "
                "set the same zone or roll up again."
            )
        if _loaded(cur) == (str(folder), text):
            summary.seconds = time.perf_counter() - started
            return summary
        cur.execute("begin transaction")
        try:
            _load_tables(cur, folder, text, content)
            try:
                same = (folder / FORMAT_FILE).read_text(encoding="utf-8") == text
            except OSError:
                same = False
            if not same:  # a rollup started meanwhile: what was read may mix two states
                cur.execute("rollback")
                continue
            cur.execute("commit")
        except duckdb.Error as exc:
            cur.execute("rollback")
            log.exception("loading the derived folder %s failed", folder)
            raise DerivedError(f"The derived folder {folder} cannot be read: {str(exc).splitlines()[0]}") from exc
        except BaseException:
            cur.execute("rollback")
            raise
        summary.rebuilt = True
        summary.full = True
        summary.seconds = time.perf_counter() - started
        return summary
    raise DerivedError(f"{folder} kept changing while it was read (a rollup is writing it); try again shortly.")


def _loaded(cur: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(folder, _format.json text) the cache holds, when it was loaded from a derived folder."""
    if not cur.execute("select count(*) from duckdb_tables() where table_name = 'meta'").fetchall()[0][0]:
        return None
    values = dict(cur.execute("select key, value from meta").fetchall())
    if values.get("schema_version") != SCHEMA_VERSION:
        return None
    return values.get("derived_dir", ""), values.get("derived_format", "")


def _load_tables(cur: duckdb.DuckDBPyConnection, folder: Path, text: str, content: dict[str, Any]) -> None:
    ingest_module.drop_either(cur, ("recent_events", "file_duplicates"))
    cur.execute(ingest_module.DROP_TABLES)
    cur.execute(CREATE_LOADED)
    for table in TABLES:
        glob, present = _globs(folder, table)
        if not present:
            if table in PARTITIONED:
                continue  # an empty partitioned table is a folder without day= subfolders
            raise DerivedError(f"{folder} has no {table}/ table; make the folder again with `rollup`.")
        for statement in LOAD[table]:
            statement.run(cur, {"glob": glob, "partitioned": table in PARTITIONED})
    # not in the folder (the format is unchanged): built from the loaded rollup as an ingest builds it
    for statement in ingest_module.ACCOUNT_MONTHS_ALL:
        statement.run(cur, ingest_module.MONTHS_PARAMS)
    cur.execute("drop view months_source")
    for key, value in (
        ("schema_version", SCHEMA_VERSION),
        ("timezone", content["timezone"]),
        ("hourly_from", content["hourly_from"].isoformat()),
        ("derived_dir", str(folder)),
        ("derived_format", text),
    ):
        cur.execute("insert into meta values ($key, $value)", {"key": key, "value": value})
