"""The ingest parts: a fresh ingest with its phases, where its time goes, an incremental ingest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import INCREMENT_FRACTION, BenchError, log
from .data import export_files, settings_env


class Phases:
    """Ingest phases from the progress callback: open (until the first file), read + insert, rebuild + commit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.marks: dict[str, float] = {}
        self.shown = 0.0
        self.started = time.perf_counter()

    def __call__(self, fraction: float, message: object) -> None:  # engine.ingest.Step; str() is its English
        now = time.perf_counter()
        self.marks.setdefault("first_file", now)
        if str(message).startswith("Building"):
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
    hourly_rows = store.cursor().execute("select count(*) from usage_hourly").fetchall()[0][0]
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
        "usage_hourly_rows": hourly_rows,
        "engine_phases": summary.phases,
        "cache_mb": settings.cache_db.stat().st_size / 1e6,
    }


def part_diag(spec: dict[str, Any]) -> dict[str, Any]:
    """Where the read phase goes: decoding the parquet, a plain copy into a DuckDB file, the same with identity hashes.

    The derive phases (duplicates, rollups, re-sort) and the commit are timed by the ingest itself
    (IngestSummary.phases) and printed with the ingest row.
    """
    import duckdb

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

    timings = {}
    for name, statement in (
        ("copy_s", "create table raw as select * from read_parquet($f, hive_partitioning = false)"),
        (
            "copy_hashed_s",
            "create table raw as select * exclude (event_id), hash(event_id) as h1, hash('#' || event_id) as h2"
            " from read_parquet($f, hive_partitioning = false)",
        ),
    ):
        copy_db = work / "copy.duckdb"
        con = duckdb.connect(str(copy_db))
        con.execute("set memory_limit = '512MB'")
        t0 = time.perf_counter()
        con.execute(statement, {"f": files})
        con.execute("checkpoint")
        timings[name] = time.perf_counter() - t0
        con.close()
        copy_db.unlink(missing_ok=True)
    return {"scan_s": scan_s, **timings}


def next_day_export(farm: Path) -> tuple[Path, int]:
    """The next day's export: the newest events (INCREMENT_FRACTION of all), a day later, with new ids."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = export_files(farm, "usage_events")
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    wanted = int(total * INCREMENT_FRACTION)
    newest: list[pa.Table] = []
    for path in reversed(files):  # files sort by month, so the newest events are in the last ones
        newest.append(pq.read_table(path))
        if sum(t.num_rows for t in newest) >= wanted:
            break
    table = pa.concat_tables(newest, promote_options="default")
    table = table.sort_by([("occurred_at", "descending")]).slice(0, wanted)
    shifted = pc.add(table["occurred_at"], pa.scalar(86_400_000_000, pa.duration("us")))
    table = table.set_column(table.schema.get_field_index("occurred_at"), "occurred_at", shifted)
    ids = pc.binary_join_element_wise("bench-next-day-", pc.cast(pa.array(range(table.num_rows)), pa.string()), "")
    table = table.set_column(table.schema.get_field_index("event_id"), "event_id", ids)
    target = files[-1].parent / "zz-bench-next-day.parquet"
    pq.write_table(table.sort_by([("occurred_at", "ascending")]), target)
    return target, table.num_rows


def part_incr(spec: dict[str, Any]) -> dict[str, Any]:
    """A refresh that finds nothing new, then the next day's export (1% of the events) ingested incrementally."""
    from token_analytics.engine.store import Store
    from token_analytics.settings import load_settings

    farm, work = Path(spec["farm"]), Path(spec["work"])
    settings = load_settings(settings_env(farm, work))
    store = Store.open(settings, ingest=False)
    noop = []
    for _ in range(3):
        t0 = time.perf_counter()
        if store.ingest().rebuilt:
            raise BenchError("the no-op refresh found files to ingest; the ingest part should have read them all")
        noop.append(time.perf_counter() - t0)
    target, events = next_day_export(farm)
    t0 = time.perf_counter()
    summary = store.ingest()
    wall = time.perf_counter() - t0
    store.close()
    target.unlink()
    return {
        "wall_s": wall,
        "files_read": len(summary.read),
        "full": summary.full,
        "events": events,
        "engine_phases": summary.phases,
        "noop_s": sorted(noop)[1],
    }
