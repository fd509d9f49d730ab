"""Spark and DuckDB apply the same ingest rules: the Spark derived folder equals the DuckDB tables, row by row.

One SparkSession (local[2]) serves the module. Every table of the folder Spark writes is read back with
DuckDB (so the parquet types are checked too) and compared, sorted, with the same table of a DuckDB cache
ingested from the same exports with the same clock (the reference the derived format copies).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import builders as b
from tests.builders import ev, tx, utc
from tests.conftest import NOW, settings_for, write_edge_export
from token_analytics.engine import rollup, spark_rollup
from token_analytics.engine.ingest import hourly_window
from token_analytics.engine.store import Store

pytestmark = pytest.mark.spark

if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
    if os.environ.get("CI"):
        raise RuntimeError("the Spark parity tests must run in CI: install openjdk-17-jre-headless (.ci/run does)")
    pytest.skip(
        "no Java runtime here (apt-get install openjdk-17-jre-headless); CI runs these", allow_module_level=True
    )
pytest.importorskip("pyspark", reason="pyspark is a dev requirement: pip install -r requirements.lock")

# The DuckDB cache's tables in the derived format's shape (docs/DERIVED_FORMAT.md): the reference.
EXPECTED = {
    "files": """
        with losers as (
            select file_id, count(*) as duplicates, count(*) filter (where is_conflict) as conflicts
            from event_losers group by file_id
            union all
            select file_id, count(*), count(*) filter (where is_conflict) from transaction_losers group by file_id
        )
        select f.kind, f.path, f.size, f.mtime_ns, f.status, f.error, f.rows_read, f.accepted, f.quarantined,
            coalesce(sum(l.duplicates), 0)::bigint as duplicates, coalesce(sum(l.conflicts), 0)::bigint as conflicts,
            f.latest_at
        from files f left join losers l using (file_id)
        group by all
    """,
    "quarantine": "select f.kind, f.path, q.reason, q.rows from quarantine q join files f using (file_id)",
    "accounts": "select * from accounts",
    "members": "select * from members",
    "transactions": "select * from transactions",
    "ledger_sums": "select * from ledger_sums",
    "usage_totals": "select * from usage_totals",
    "usage_daily": "select * from usage_daily",
    "usage_hourly": "select * from usage_hourly",
    "recent_events": """
        select account_id, occurred_at, user_id, service, model, tokens, timezone($tz, occurred_at)::date as day
        from raw_events r anti join event_losers l using (file_id, row_no)
        where timezone($tz, occurred_at)::date >= $hourly_from
    """,
}
# The folder's tables read back with DuckDB, in the reference's column order (hive `day` read as DATE).
ACTUAL_COLUMNS = {
    "files": "kind, path, size, mtime_ns, status, error, rows_read, accepted, quarantined, duplicates, conflicts, "
    "latest_at",
    "quarantine": "kind, path, reason, rows",
    "accounts": "account_id, account_name, owner_name, plan, created_at",
    "members": "user_id, account_id, display_name, email",
    "transactions": "txn_id, account_id, user_id, type, amount, created_at, payment_method, description",
    "ledger_sums": "account_id, used, total, recent_from",
    "usage_totals": "account_id, tokens, calls",
    "usage_daily": "account_id, day, user_id, service, model, tokens, input_tokens, output_tokens, calls, io_calls, "
    "latest_at",
    "usage_hourly": "account_id, hour, day, user_id, service, model, tokens, input_tokens, output_tokens, calls, "
    "io_calls, latest_at",
    "recent_events": "account_id, occurred_at, user_id, service, model, tokens, day",
}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("parity").config("spark.sql.shuffle.partitions", "4")
    for key, value in spark_rollup.SESSION_CONF.items():
        builder = builder.config(key, value)
    # the JVM options the rollup starts its own JVM with: a short job, the JIT's first tier is enough
    builder = builder.config("spark.driver.extraJavaOptions", spark_rollup.DEFAULT_JAVA_OPTIONS)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# Sorts last among the events and among the members: were any of their rows taken, they would win.
DAMAGED = "usage_events/month=2026-11/zzz-damaged.parquet"
BAD_TEXT = "members/zz-bad-text.parquet"


def damaged_rows() -> list[dict[str, Any]]:
    """Two row groups of events; the first wins over e7 of zz-late.parquet and adds acct-x, if taken."""
    first = [
        {**ev("e7", "acct-a", "u2", "operator", utc("2026-11-01T02:00:00+00:00"), 999), "output_tokens": 2},
        *[ev(f"x{i}", "acct-x", "u1", "agent", utc("2026-10-15T05:00:00+00:00"), 1000 + i) for i in range(9)],
    ]
    return first + [ev(f"y{i}", "acct-x", "u1", "agent", utc("2026-10-15T06:00:00+00:00"), 1) for i in range(10)]


def write_damaged(root: Path, rel: str, damage: bool = True) -> Path:
    """The events of damaged_rows() in two row groups; with `damage`, bytes inside the second row group's
    event_id pages are overwritten: header magic, footer and schema stay valid, so screening passes."""
    path = b.events(root, rel, damaged_rows())
    pq.write_table(pq.read_table(path), path, row_group_size=10)  # snappy, dictionary pages: as exporters write
    if damage:
        chunk = pq.ParquetFile(path).metadata.row_group(1).column(0)
        with open(path, "r+b") as handle:
            handle.seek((chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size // 2)
            handle.write(b"\xff" * 16)
        footer = pq.ParquetFile(path).metadata  # the footer still reads: only the pages are damaged
        assert (footer.num_rows, footer.num_row_groups) == (20, 2)
    return path


def write_bad_text(root: Path) -> Path:
    """A members file whose pages decode but hold bytes that are not UTF-8 (DuckDB refuses it; Spark would not)."""
    path = root / BAD_TEXT
    rows = {
        "user_id": ["u2", "u7", "u8"],
        "account_id": ["acct-a", "acct-a", "acct-a"],
        "display_name": ["Bob QQQ", "Amy", "Zoe"],  # min and max statistics are Amy and Zoe
        "email": [None, None, None],
    }
    pq.write_table(pa.table(rows, schema=pa.schema([(n, pa.string()) for n in rows])), path, compression="none")
    data = path.read_bytes()
    assert data.count(b"QQQ") == 1  # only the page's value: the footer is untouched
    path.write_bytes(data.replace(b"QQQ", b"\xff\xfe\xfd"))
    assert pq.ParquetFile(path).metadata.num_rows == 3
    return path


def write_messy_export(root: Path) -> Path:
    """The edge export plus what it lacks: DST hours, unknown account, member-less and model events,
    optional columns, ns and int32 columns, duplicated accounts/members and a conflicting transaction."""
    write_edge_export(root)
    b.events(
        root,
        "usage_events/month=2026-11/zz-late.parquet",
        [
            # New York's fall-back on 1 Nov 2026: 01:30 EDT (05:30Z) and 01:30 EST (06:30Z) are two hours
            {**ev("d1", "acct-a", "u1", "agent", utc("2026-11-01T05:30:00+00:00"), 3), "model": "m-big"},
            {**ev("d2", "acct-a", "u1", "agent", utc("2026-11-01T06:30:00+00:00"), 4), "input_tokens": 1},
            ev("g1", "acct-ghost", "u9", "agent", utc("2026-10-20T12:00:00+00:00"), 11),  # not in accounts/
            ev("n1", "acct-a", None, "assistant", utc("2026-10-31T23:59:59.999999+00:00"), 6),  # no member
            # e7 again, the latest path: wins over both earlier copies, and conflicts with them
            {**ev("e7", "acct-a", "u2", "operator", utc("2026-11-01T02:00:00+00:00"), 21), "output_tokens": 2},
            # Kolkata is UTC+05:30: 18:29:59Z is 23:59:59 on 31 Oct, 18:30Z midnight of 1 Nov
            ev("k1", "acct-b", "u5", "agent", utc("2026-10-31T18:29:59+00:00"), 8),
            ev("k2", "acct-b", "u5", "agent", utc("2026-10-31T18:30:00+00:00"), 9),
            # the hourly window's edge (35 local days before 1 Nov: 27 Sep) and one day before it
            ev("w1", "acct-b", "u5", "operator", utc("2026-09-26T12:00:00+00:00"), 12),
            ev("w2", "acct-b", "u5", "operator", utc("2026-09-27T12:00:00+00:00"), 13),
            # the same id twice in one file: the later row wins
            ev("r1", "acct-b", "u5", "agent", utc("2026-10-30T12:00:00+00:00"), 1),
            ev("r1", "acct-b", "u5", "agent", utc("2026-10-30T12:00:00+00:00"), 2),
        ],
    )
    b.events(
        root,
        "usage_events/month=2026-10/ns-int32.parquet",
        [
            ev("s1", "acct-b", "u5", "assistant", utc("2026-10-15T03:04:05.123456+00:00"), 70),
            ev("", "acct-b", "u5", "assistant", utc("2026-10-15T03:04:05+00:00"), 70),  # empty id: quarantined
            ev("s2", "", "u5", "assistant", utc("2026-10-15T03:04:05+00:00"), 70),  # empty account
            ev("s3", "acct-b", "u5", None, utc("2026-10-15T03:04:05+00:00"), 70),  # no service
        ],
        overrides={"occurred_at": pa.timestamp("ns", tz="UTC"), "tokens": pa.int32()},
        drop=("input_tokens", "output_tokens", "model"),
    )
    b.accounts(
        root,
        "accounts/later.parquet",
        [
            {"account_id": "acct-b", "account_name": "Beta", "owner_name": "B", "plan": "free",
             "created_at": utc("2026-09-01T00:00:00+00:00")},
            # acct-a renamed by the path that sorts last
            {"account_id": "acct-a", "account_name": "Alpha Two", "owner_name": "Li Wei", "plan": "pro",
             "created_at": utc("2026-09-01T00:00:00+00:00")},
            {"account_id": "", "account_name": "empty id", "owner_name": "x", "plan": "free", "created_at": None},
        ],
    )  # fmt: skip
    b.members(
        root,
        "members/more.parquet",
        [
            {"user_id": "u2", "account_id": "acct-a", "display_name": "Bob B.", "email": "b2@example.com"},
            {"user_id": "u5", "account_id": "acct-b", "display_name": "Eve", "email": None},
            {"user_id": None, "account_id": "acct-b", "display_name": "Nobody", "email": None},
            {"user_id": "u6", "account_id": "", "display_name": "No account", "email": None},
        ],
    )
    b.transactions(
        root,
        "transactions/2026-12.parquet",
        [
            # conflicts with 2026-11's t-use, and wins
            tx("t-use", "acct-a", "CONSUME", -1300, utc("2026-11-01T01:00:00+00:00"), user_id="u1"),
            tx("b-adj", "acct-b", "ADJUSTMENT", 0, utc("2026-10-02T00:00:00+00:00")),  # wrong sign
            tx("", "acct-b", "BONUS", 5, utc("2026-10-02T00:00:00+00:00")),
            tx("b-none", "", "BONUS", 5, utc("2026-10-02T00:00:00+00:00")),
            tx("b-time", "acct-b", "BONUS", 5, None),
        ]
        + [tx(f"b-{n:02d}", "acct-b", "BONUS", n + 1, utc(f"2026-10-{n + 1:02d}T08:00:00+00:00")) for n in range(12)],
        drop=("payment_method",),
    )
    write_damaged(root, DAMAGED)
    write_bad_text(root)
    return root


def reference(tmp: Path, exports: Path, timezone: str, now: str) -> dict[str, list[tuple]]:
    """Every table of the derived format, from a DuckDB cache ingested from the same exports."""
    store = Store.open(settings_for(tmp, exports, ANALYTICS_TIMEZONE=timezone, ANALYTICS_NOW=now))
    try:
        cur = store.cursor()
        params = {"tz": timezone, "hourly_from": hourly_window(datetime.fromisoformat(now), timezone)["hourly_from"]}
        return {
            table: sorted(
                cur.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall(), key=sort_key
            )
            for table, sql in EXPECTED.items()
        }
    finally:
        store.close()


def folder_tables(out: Path) -> dict[str, list[tuple]]:
    """The Spark folder's tables read back with DuckDB (hive partitions as DATE), with their column types."""
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    tables = {}
    for table, columns in ACTUAL_COLUMNS.items():
        partitioned = table in spark_rollup.PARTITIONED
        parts = list((out / table).glob("day=*/*.parquet" if partitioned else "*.parquet"))
        if not parts:
            tables[table] = []
            continue
        glob = str(out / table / ("*/*.parquet" if partitioned else "*.parquet"))
        relation = con.read_parquet(glob, hive_partitioning=partitioned)
        tables[table] = sorted(relation.select(columns).fetchall(), key=sort_key)
    con.close()
    return tables


def sort_key(row: tuple) -> tuple:
    return tuple((value is None, str(value)) for value in row)


def column_types(out: Path, table: str) -> dict[str, str]:
    con = duckdb.connect()
    pattern = "*/*.parquet" if table in spark_rollup.PARTITIONED else "*.parquet"
    rows = con.execute(
        "describe select * from read_parquet(?, hive_partitioning = true)", [str(out / table / pattern)]
    ).fetchall()
    con.close()
    return {name: kind for name, kind, *_ in rows}


def spark_folder(spark: Any, exports: Path, out: Path, timezone: str, now: str) -> spark_rollup.RollupResult:
    return spark_rollup.rollup(str(exports), str(out), timezone=timezone, now=datetime.fromisoformat(now), spark=spark)


def stable(table: str, rows: list[tuple]) -> list[tuple]:
    """The files table with 'unreadable (…)' cut to 'unreadable': each engine names its own decoding failure."""
    if table != "files":
        return rows
    return [(*row[:5], "unreadable" if str(row[5]).startswith("unreadable (") else row[5], *row[6:]) for row in rows]


def assert_same(expected: dict[str, list[tuple]], actual: dict[str, list[tuple]]) -> None:
    for table in EXPECTED:
        assert stable(table, actual[table]) == stable(table, expected[table]), table


def file_row(tables: dict[str, list[tuple]], path: str) -> tuple:
    (row,) = [row for row in tables["files"] if row[1] == path]
    return row


@pytest.mark.parametrize(
    ("timezone", "through_hadoop"),
    [("Asia/Shanghai", False), ("America/New_York", False), ("Asia/Kolkata", True)],
)
def test_messy_exports_same_tables(spark: Any, tmp_path: Path, timezone: str, through_hadoop: bool) -> None:
    """Kolkata (UTC+05:30) runs on file:// URIs: listing, footers and _format.json through Hadoop, as on s3a://."""
    exports = write_messy_export(tmp_path / "export")
    out = tmp_path / "derived"
    where = (f"file://{exports}", f"file://{out}") if through_hadoop else (str(exports), str(out))
    now = datetime.fromisoformat(NOW)
    result = spark_rollup.rollup(*where, timezone=timezone, now=now, spark=spark)
    assert (result.files, result.rejected, result.nothing_new) == (19, 6, False)
    expected = reference(tmp_path, exports, timezone, NOW)
    if through_hadoop:  # Hadoop keeps a file's mtime in milliseconds
        expected["files"] = sorted(
            [(*row[:3], row[3] // 1_000_000 * 1_000_000, *row[4:]) for row in expected["files"]], key=sort_key
        )
    actual = folder_tables(out)
    assert_same(expected, actual)
    # hand-checked anchors, so the comparison cannot pass on two empty sides
    assert len(actual["quarantine"]) == 20  # every row-level reason of every kind
    assert ("acct-a", "Alpha Two", "Li Wei", "pro", utc("2026-09-01T00:00:00+00:00")) in actual["accounts"]
    assert [row[5] for row in actual["usage_daily"] if row[0] == "acct-ghost"] == [11]
    # the files Spark cannot decode are rejected whole, the rows before the damaged page too (e7's 999, acct-x)
    for path, error in (
        (DAMAGED, "unreadable (a damaged data page: Spark decoded 10 of the footer's 20 rows)"),
        (BAD_TEXT, "unreadable (text that is not valid UTF-8 in 1 of its 3 rows)"),
    ):
        assert file_row(actual, path)[4:12] == ("rejected", error, 0, 0, 0, 0, 0, None)
        assert file_row(expected, path)[4:7] == ("rejected", file_row(expected, path)[5], 0)
        assert file_row(expected, path)[5].startswith("unreadable (")
    assert not [row for row in actual["usage_daily"] if row[0] == "acct-x"]
    e7 = utc("2026-11-01T02:00:00+00:00")
    assert [row[5] for row in actual["recent_events"] if row[2] == "u2" and row[1] == e7] == [21]
    assert ("u2", "acct-a", "Bob B.", "b2@example.com") in actual["members"]
    written = json.loads((out / "_format.json").read_text())
    assert {k: written[k] for k in ("format", "version", "timezone", "engine")} == {
        "format": "token-analytics-derived",
        "version": 1,
        "timezone": timezone,
        "engine": "spark",
    }
    if timezone == "America/New_York":
        # the DuckDB writer's folder (rollup --engine duckdb) from the same exports and clock: the same tables
        duck = tmp_path / "derived-duckdb"
        rollup.rollup(exports, duck, settings_for(tmp_path / "w", exports, ANALYTICS_TIMEZONE=timezone), now)
        assert_same(folder_tables(duck), actual)
        assert written["hourly_from"] == "2026-09-26"
        daily = column_types(out, "usage_daily")
        assert (daily["day"], daily["tokens"], daily["latest_at"]) == ("DATE", "BIGINT", "TIMESTAMP WITH TIME ZONE")
        assert column_types(out, "files")["file_id"] == "INTEGER"
        assert column_types(out, "usage_hourly")["hour"] == "TIMESTAMP WITH TIME ZONE"
        # the fall-back day keeps 01:30 EDT and 01:30 EST as two hours of acct-a / u1 / agent
        hours = [
            (row[1].isoformat(), row[6])
            for row in actual["usage_hourly"]
            if row[0] == "acct-a" and row[3] == "u1" and row[1].isoformat()[:13] in ("2026-11-01T05", "2026-11-01T06")
        ]
        assert hours == [("2026-11-01T05:00:00+00:00", 3), ("2026-11-01T06:00:00+00:00", 4)]


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every data file: a rewritten file is a new file."""
    return {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.parquet")}


def test_rerun_rewrites_only_the_touched_days(spark: Any, tmp_path: Path) -> None:
    """Also: a damaged file is rejected, and taken in once a good copy replaces it (same size, new mtime)."""
    exports = write_edge_export(tmp_path / "export")
    # sorts before month=2026-11: its e7 loses, so only its 15 Oct rows (acct-x) change the days once it is good
    damaged = "usage_events/month=2026-10/part-9-damaged.parquet"
    size = write_damaged(exports, damaged).stat().st_size
    out = tmp_path / "derived"
    now = datetime.fromisoformat(NOW)
    first = spark_rollup.rollup(str(exports), str(out), timezone="Asia/Shanghai", now=now, spark=spark)
    assert first.rejected == 5  # the edge export's 4 screened out, and this one
    assert file_row(folder_tables(out), damaged)[4:7] == (
        "rejected",
        "unreadable (a damaged data page: Spark decoded 10 of the footer's 20 rows)",
        0,
    )
    before = stamps(out)
    assert write_damaged(exports, damaged, damage=False).stat().st_size == size
    # a new file touching 15 Oct (local) and a duplicate of e5 (1 Oct) that now wins; the ms file (31 Oct) goes
    b.events(
        exports,
        "usage_events/month=2026-10/part-2.parquet",
        [
            ev("n1", "acct-a", "u1", "agent", utc("2026-10-15T04:00:00+00:00"), 9),
            ev("e5", "acct-a", "u3", "agent", utc("2026-09-30T16:00:00+00:00"), 1001),
        ],
    )
    (exports / "usage_events/month=2026-10/part-1-ms.parquet").unlink()
    result = spark_rollup.rollup(str(exports), str(out), timezone="Asia/Shanghai", now=now, spark=spark)
    assert (result.changed, result.rejected, result.nothing_new) == (2, 4, False)
    assert (result.days_written["usage_daily"], result.days_removed["usage_daily"]) == (2, 1)
    tables = folder_tables(out)
    assert_same(reference(tmp_path, exports, "Asia/Shanghai", NOW), tables)
    # kind, path, size, mtime_ns, status, error, rows_read, accepted, quarantined, duplicates, conflicts
    assert file_row(tables, damaged)[4:11] == ("ok", None, 20, 20, 0, 1, 1)  # its e7 lost to month=2026-11's
    assert [row[1] for row in tables["usage_totals"] if row[0] == "acct-x"] == [sum(range(1000, 1009)) + 10]
    after = stamps(out)
    daily = {path for path in after if path.startswith("usage_daily/")}
    unchanged = {path for path in daily if before.get(path) == after[path]}
    assert {path.split("/")[1] for path in daily - unchanged} == {"day=2026-10-01", "day=2026-10-15"}
    assert "usage_daily/day=2026-11-01" in {path.rsplit("/", 1)[0] for path in unchanged}
    assert not any(path.startswith("usage_daily/day=2026-10-31/") for path in after)  # e2's day is gone
    # nothing new: nothing written
    again = spark_rollup.rollup(str(exports), str(out), timezone="Asia/Shanghai", now=now, spark=spark)
    assert again.nothing_new and stamps(out) == after
    assert "none new" in str(again)


NEW_EVENTS = "usage_events/month=2026-11/zz-new.parquet"
NEXT_DAY = "2026-11-02T10:00:00+08:00"  # the next daily run: the hourly window moves a day


def test_rerun_with_new_event_files_reads_only_them(spark: Any, tmp_path: Path) -> None:
    """New event files with new ids: the rerun reads them and the folder's id index, not the old exports (spoiled
    here, size and mtime kept: read, they would be rejected), rewrites only the days they touch, and gives the
    tables of a full run, on the next day's clock. A new file repeating an id the folder holds makes the run
    read every export again."""
    exports = write_edge_export(tmp_path / "export")
    out = tmp_path / "derived"
    assert not spark_folder(spark, exports, out, "Asia/Shanghai", NOW).incremental
    old_files = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in exports.rglob("*.parquet")}
    before = stamps(out)
    b.events(
        exports,
        NEW_EVENTS,
        [
            ev("new-1", "acct-a", "u1", "agent", utc("2026-10-31T20:00:00+00:00"), 5),  # 1 Nov local, has rows
            ev("new-2", "acct-new", "u8", "operator", utc("2026-10-20T03:00:00+00:00"), 7),  # a new account
            ev("new-3", "acct-a", "u1", "agent", utc("2026-08-10T03:00:00+00:00"), 9),  # before the hourly window
            ev("new-4", "acct-a", "u1", "agent", utc("2026-10-20T03:00:00+00:00"), 1),
            ev("new-4", "acct-a", "u1", "agent", utc("2026-10-20T03:00:00+00:00"), 2),  # wins, conflicts
            ev("", "acct-a", "u1", "agent", utc("2026-10-20T03:00:00+00:00"), 2),  # quarantined
        ],
    )
    write_damaged(exports, DAMAGED)  # a new file rejected alone (its e7 would repeat an old id, were it taken)
    expected = reference(tmp_path / "full", exports, "Asia/Shanghai", NEXT_DAY)
    for path, (data, mtime_ns) in old_files.items():
        path.write_bytes(b"\0" * len(data))
        os.utime(path, ns=(mtime_ns, mtime_ns))

    next_day = datetime.fromisoformat(NEXT_DAY)
    result = spark_rollup.rollup(str(exports), str(out), timezone="Asia/Shanghai", now=next_day, spark=spark)
    assert (result.incremental, result.changed, result.rejected) == (True, 2, 5)
    assert "read only the 2 new" in str(result)
    tables = folder_tables(out)
    assert_same(expected, tables)
    assert file_row(tables, NEW_EVENTS)[4:11] == ("ok", None, 6, 5, 1, 1, 1)
    assert [row[1] for row in tables["usage_totals"] if row[0] == "acct-new"] == [7]
    after = stamps(out)
    rewritten = {path.rsplit("/", 1)[0] for path in after if before.get(path) != after[path]}
    touched = {f"{table}/day={day}" for table in spark_rollup.PARTITIONED for day in ("2026-10-20", "2026-11-01")}
    assert {path for path in rewritten if not path.startswith(".")} == {
        "usage_daily/day=2026-08-10",
        *touched,
        "usage_totals",
        "files",
        "quarantine",
    }

    # a new file repeating an old id (e5 wins from the later path): every export is read again
    for path, (data, mtime_ns) in old_files.items():
        path.write_bytes(data)
        os.utime(path, ns=(mtime_ns, mtime_ns))
    b.events(
        exports,
        "usage_events/month=2026-11/zz-repeat.parquet",
        [ev("e5", "acct-a", "u3", "agent", utc("2026-09-30T16:00:00+00:00"), 3)],
    )
    again = spark_rollup.rollup(str(exports), str(out), timezone="Asia/Shanghai", now=next_day, spark=spark)
    assert (again.incremental, again.changed) == (False, 1)
    assert_same(reference(tmp_path / "repeat", exports, "Asia/Shanghai", NEXT_DAY), folder_tables(out))


def test_a_file_changed_while_the_run_reads_it_fails_the_run(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables read each export file more than once (no cache of the rows): a file rewritten between those
    reads fails the run with one line and leaves the folder without _format.json (a reader refuses it)."""
    exports = write_edge_export(tmp_path / "export")
    out = tmp_path / "derived"
    target = exports / "usage_events/month=2026-11/part-0.parquet"
    write_health = spark_rollup.write_health

    def rewrite_during(*args: Any) -> None:  # runs while the table jobs run: a delivery overwrites a file
        write_health(*args)
        table = pq.read_table(target)
        pq.write_table(table.slice(0, table.num_rows - 1), target)

    monkeypatch.setattr(spark_rollup, "write_health", rewrite_during)
    with pytest.raises(spark_rollup.RollupError, match=r"^usage_events/month=2026-11/part-0\.parquet changed while"):
        spark_folder(spark, exports, out, "Asia/Shanghai", NOW)
    assert not (out / "_format.json").exists()  # a folder without it is written whole by the next run


def test_a_read_that_fails_after_the_checks_fails_the_run_instead_of_losing_rows(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks' scan is lenient (a damaged page ends a file's rows, the file is then rejected whole); the tables
    read the files that passed again, strictly. A file damaged after the checks, size and mtime kept (as an object
    store's failed read looks), fails the run with one line; it does not drop the rows after the page."""
    exports = write_edge_export(tmp_path / "export")
    path = write_damaged(exports, DAMAGED, damage=False)
    stat = path.stat()
    checked = spark_rollup.checked

    def damage_after_the_checks(*args: Any) -> Any:
        ids = checked(*args)
        write_damaged(exports, DAMAGED)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.stat().st_size == stat.st_size
        return ids

    monkeypatch.setattr(spark_rollup, "checked", damage_after_the_checks)
    with pytest.raises(spark_rollup.RollupError, match=r"^the Spark job failed: "):
        spark_folder(spark, exports, tmp_path / "derived", "Asia/Shanghai", NOW)
    assert not (tmp_path / "derived" / "_format.json").exists()


def test_every_keeps_one_session_and_the_next_round_reads_only_the_new_file(
    spark: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollup --engine spark --every`: round one writes the folder, a delivery arrives, round two (same session,
    the next day's clock) reads only the new file and gives the tables of a full run; each round prints a line."""
    exports = write_edge_export(tmp_path / "export")
    out = tmp_path / "derived"
    clocks = iter([datetime.fromisoformat(NOW), datetime.fromisoformat(NEXT_DAY)])

    def clock() -> datetime:  # read at each round's start: the delivery lands just before round two
        now = next(clocks)
        if now == datetime.fromisoformat(NEXT_DAY):
            b.events(exports, NEW_EVENTS, [ev("new-1", "acct-a", "u1", "agent", utc("2026-10-31T20:00:00+00:00"), 5)])
            write_damaged(exports, DAMAGED)  # rejected by the checks: its 10 decoded rows (acct-x) must stay out
        return now

    ok = spark_rollup.every(
        str(exports), str(out), timezone="Asia/Shanghai", seconds=0, clock=clock, rounds=2, spark=spark
    )
    assert ok
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "4 rejected" in lines[0] and "read only the 2 new, 5 rejected" in lines[1]
    assert spark.sparkContext._jsc is not None  # the caller's session is left running
    tables = folder_tables(out)
    assert_same(reference(tmp_path / "full", exports, "Asia/Shanghai", NEXT_DAY), tables)
    assert file_row(tables, DAMAGED)[4] == "rejected"
    assert "acct-x" not in {row[0] for row in tables["usage_totals"]}


def test_generated_sample_same_tables_and_report(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample through Spark: every table as DuckDB's, and `report` on the folder (ANALYTICS_DERIVED_DIR,
    no export present) prints what `report` on the exports prints, for every account."""
    from token_analytics import cli
    from token_analytics.engine.sample import generate

    exports = tmp_path / "sample"
    generate(exports, accounts=4, events=3000, seed=3, now=datetime.fromisoformat(b.SAMPLE_NOW))
    out = tmp_path / "derived"
    spark_rollup.rollup(
        str(exports), str(out), timezone="Asia/Shanghai", now=datetime.fromisoformat(b.SAMPLE_NOW), spark=spark
    )
    expected = reference(tmp_path, exports, "Asia/Shanghai", b.SAMPLE_NOW)
    actual = folder_tables(out)
    assert_same(expected, actual)
    assert sum(row[1] for row in actual["usage_totals"]) > 0

    monkeypatch.setenv("ANALYTICS_NOW", b.SAMPLE_NOW)
    monkeypatch.setenv("ANALYTICS_TIMEZONE", "Asia/Shanghai")
    accounts = sorted(row[0] for row in actual["accounts"])
    assert accounts == ["acct-001", "acct-002", "acct-003", "acct-004"]
    printed: dict[str, list[str]] = {}
    for source in ("exports", "spark folder"):
        monkeypatch.setenv("ANALYTICS_APP_DB", str(tmp_path / source / "app.duckdb"))
        if source == "exports":
            monkeypatch.setenv("ANALYTICS_DATA_DIR", str(exports))
        else:
            monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "no-exports-here"))
            monkeypatch.setenv("ANALYTICS_DERIVED_DIR", str(out))
        for account in accounts:
            assert cli.main(["report", "--account", account]) == 0
            printed.setdefault(source, []).append(capsys.readouterr().out)
    assert printed["spark folder"] == printed["exports"]
    assert all('"month_to_date"' in text and '"balance"' in text for text in printed["exports"])


# 2026-10-16T03:59:59.999999999Z: 23:59:59.999999999 on 15 Oct in New York (EDT, UTC-4). Rounded to the
# microsecond it would be 04:00Z, midnight of 16 Oct: the instant's true day is 15 Oct.
EDGE_NS = 1_792_123_199_999_999_999
# Names Spark would take as glob patterns, or skip as hidden, and DuckDB reads as they are.
ODD_NAMES = (
    "usage_events/month=2026-10/_under.parquet",
    "usage_events/month=2026-10/.dot.parquet",
    "usage_events/month=2026-10/br[1].parquet",
    "usage_events/month=2026-10/cu{x}.parquet",
    "usage_events/month=2026-10/co:lon.parquet",
)


def write_odd_export(root: Path) -> Path:
    """The edge export plus an INT96 file, hidden and pattern-character names, a nanosecond day edge, year 1."""
    write_edge_export(root)
    # INT96 timestamps (Hive, Impala, older Spark): read as instants, not as numbers
    int96 = b.events(
        root,
        "usage_events/month=2026-10/int96.parquet",
        [
            ev("i1", "acct-b", "u5", "agent", utc("2026-10-20T12:00:00+00:00"), 31),
            ev("i2", "acct-b", "u5", "agent", utc("2026-10-21T03:59:59.999999+00:00"), 32),
        ],
        overrides={"occurred_at": pa.timestamp("ns")},
    )
    pq.write_table(pq.read_table(int96), int96, use_deprecated_int96_timestamps=True)
    assert pq.ParquetFile(int96).schema.column(4).physical_type == "INT96"
    for number, rel in enumerate(ODD_NAMES):
        b.events(root, rel, [ev(f"o{number}", "acct-b", "u5", "agent", utc("2026-10-22T12:00:00+00:00"), 40 + number)])
    # nanoseconds at New York's day edge; and year 1, whose local day in New York is in year 0
    table = pa.table(
        {
            "event_id": ["ns1", "y1", "y2"],
            "account_id": ["acct-b", "acct-b", "acct-b"],
            "user_id": ["u5", "u5", "u5"],
            "service": ["agent", "agent", "agent"],
            "occurred_at": pa.array([EDGE_NS, 0, 0], pa.timestamp("ns", tz="UTC")),
            "tokens": pa.array([50, 60, 61], pa.int64()),
        }
    )
    pq.write_table(table.slice(0, 1), root / "usage_events/month=2026-10/ns-edge.parquet")
    year1 = table.slice(1, 2).set_column(
        4,
        "occurred_at",
        pa.array([utc("0001-01-01T02:00:00+00:00"), utc("2026-10-23T12:00:00+00:00")], pa.timestamp("us", tz="UTC")),
    )
    pq.write_table(year1, root / "usage_events/month=2026-10/year-1.parquet")
    return root


def test_every_file_duckdb_reads_spark_reads(spark: Any, tmp_path: Path) -> None:
    """INT96 times, `_`/`.` names, `[ ] { } :` in names, a nanosecond at the day edge, a time in year 1:
    the Spark folder equals DuckDB's cache and DuckDB's derived folder, and each file is read."""
    exports = write_odd_export(tmp_path / "export")
    out = tmp_path / "derived"
    timezone = "America/New_York"
    result = spark_folder(spark, exports, out, timezone, NOW)
    expected = reference(tmp_path, exports, timezone, NOW)
    actual = folder_tables(out)
    assert_same(expected, actual)
    duck = tmp_path / "derived-duckdb"
    rollup.rollup(
        exports, duck, settings_for(tmp_path / "w", exports, ANALYTICS_TIMEZONE=timezone), datetime.fromisoformat(NOW)
    )
    assert_same(folder_tables(duck), actual)
    assert result.rejected == 4  # the edge export's screened-out files, and only those
    for rel in (*ODD_NAMES, "usage_events/month=2026-10/int96.parquet"):
        assert file_row(actual, rel)[4:7] == ("ok", None, 2 if "int96" in rel else 1), rel
    b_days = {(row[1].isoformat(), row[5]) for row in actual["usage_daily"] if row[0] == "acct-b"}
    # INT96: 12:00Z is 08:00 on 20 Oct; 03:59:59.999999Z on 21 Oct is 23:59:59.999999 on 20 Oct
    assert ("2026-10-20", 31 + 32) in b_days
    assert ("2026-10-22", sum(40 + n for n in range(len(ODD_NAMES)))) in b_days
    assert ("2026-10-15", 50) in b_days  # the nanosecond edge, truncated: not 16 Oct
    assert not [day for day, tokens in b_days if day == "2026-10-16"]
    edge = [row[1] for row in actual["recent_events"] if row[0] == "acct-b" and row[5] == 50]
    assert edge == [utc("2026-10-16T03:59:59.999999+00:00")]
    # year 1 is quarantined with a reason (its local day is not a date in year 1..9999), the file's other row kept
    assert ("usage_events", "usage_events/month=2026-10/year-1.parquet", "occurred_at out of range", 1) in actual[
        "quarantine"
    ]
    assert ("2026-10-23", 61) in b_days
