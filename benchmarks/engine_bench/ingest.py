"""The ingest parts: a fresh ingest with its phases, where its time goes, an incremental ingest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import INCREMENT_EVENTS, TIMEZONE, BenchError, log
from .data import export_files, settings_env


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
