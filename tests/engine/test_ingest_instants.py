"""Instants the DuckDB ingest must place on the same local day as Spark: nanoseconds truncated, year 1 quarantined."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.builders import utc
from tests.conftest import NOW, settings_for, write_edge_export
from token_analytics.engine import rollup
from token_analytics.engine.store import Store

# 2026-10-16T03:59:59.999999999Z is 23:59:59.999999999 on 15 Oct in New York (EDT): rounding the nanoseconds
# would make it 04:00Z, midnight of 16 Oct; the instant's true day is 15 Oct.
EDGE_NS = 1_792_123_199_999_999_999


def write_instants(root: Path) -> Path:
    write_edge_export(root)
    base = {"account_id": ["acct-b"] * 2, "user_id": ["u5"] * 2, "service": ["agent"] * 2}
    pq.write_table(
        pa.table(
            {
                "event_id": ["ns1", "ns2"],
                **base,
                "occurred_at": pa.array([EDGE_NS, EDGE_NS + 1], pa.timestamp("ns", tz="UTC")),
                "tokens": pa.array([50, 51], pa.int64()),
            }
        ),
        root / "usage_events/month=2026-10/ns-edge.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "event_id": ["y1", "y2"],
                **base,
                "occurred_at": pa.array(
                    [utc("0001-01-01T02:00:00+00:00"), utc("2026-10-23T12:00:00+00:00")], pa.timestamp("us", tz="UTC")
                ),
                "tokens": pa.array([60, 61], pa.int64()),
            }
        ),
        root / "usage_events/month=2026-10/year-1.parquet",
    )
    return root


def test_nanoseconds_are_truncated_and_year_1_is_quarantined(tmp_path: Path) -> None:
    exports = write_instants(tmp_path / "export")
    settings = settings_for(tmp_path, exports, ANALYTICS_TIMEZONE="America/New_York")
    store = Store.open(settings)
    try:
        cur = store.cursor()
        days = dict(
            cur.execute(
                "select tokens, day::varchar from usage_daily where account_id = 'acct-b' and tokens in (50, 51)"
            ).fetchall()
        )
        (at,) = cur.execute("select occurred_at from raw_events where tokens = 50").fetchone()
        quarantined = cur.execute(
            "select reason, rows from quarantine join files using (file_id) where path like '%year-1%'"
        ).fetchall()
    finally:
        store.close()
    assert days == {50: "2026-10-15", 51: "2026-10-16"}
    assert at == utc("2026-10-16T03:59:59.999999+00:00")
    assert quarantined == [("occurred_at out of range", 1)]
    # the derived folder (rollup --engine duckdb) writes, with the year-1 row in quarantine, not a crash
    out = tmp_path / "derived"
    rollup.rollup(exports, out, settings, datetime.fromisoformat(NOW))
    con = duckdb.connect()
    rows = con.execute(
        "select reason, rows from read_parquet(?) where path like '%year-1%'", [str(out / "quarantine/*.parquet")]
    ).fetchall()
    daily = con.execute(
        "select day::varchar, sum(tokens) from read_parquet(?, hive_partitioning = true) where account_id = 'acct-b' "
        "and day in ('2026-10-15', '2026-10-23') group by all order by 1",
        [str(out / "usage_daily/*/*.parquet")],
    ).fetchall()
    con.close()
    assert rows == [("occurred_at out of range", 1)]
    assert daily[-1] == ("2026-10-23", 61)
