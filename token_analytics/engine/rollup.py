"""`rollup --engine duckdb`: bring a derived folder (docs/DERIVED_FORMAT.md) up to date from an export folder.

The ingest runs into a scratch store (or a kept cache), then engine/derived.py writes its tables; the folder
format and its loading are derived.py's.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb

from token_analytics.engine import derived
from token_analytics.engine import ingest as ingest_module
from token_analytics.engine.store import Store
from token_analytics.settings import Settings

log = logging.getLogger(__name__)


def rollup(
    exports: Path,
    out: Path,
    settings: Settings,
    now: datetime,
    cache: Path | None = None,
    progress: ingest_module.Progress | None = None,
) -> derived.RollupSummary:
    """Write (or bring up to date) the derived folder `out` from the export folder `exports`.

    `cache` keeps the ingest's DuckDB file between runs (then only new files are read); by default a
    scratch file is used and removed.
    """
    started = time.perf_counter()
    if not exports.is_dir():
        raise derived.DerivedError(f"--exports {exports} is not a folder.")
    summary = derived.RollupSummary(out=out)
    previous = derived.check_out(out)
    window = ingest_module.hourly_window(now, settings.timezone)
    if previous and previous["timezone"] == settings.timezone and previous["hourly_from"] == window["hourly_from"]:
        with duckdb.connect() as con:
            if derived.export_unchanged(con, out, exports):
                summary.nothing_new = True
                summary.seconds = time.perf_counter() - started
                return summary
    with tempfile.TemporaryDirectory(prefix="rollup-") as scratch:
        scratch_settings = replace(
            settings,
            data_dir=exports,
            derived_dir=None,
            cache_db=cache or Path(scratch) / "cache.duckdb",
            app_db=Path(scratch) / "app.duckdb",
            now_override=now,
        )
        clock = time.perf_counter()
        store = Store.open(scratch_settings, progress=progress)
        summary.ingest_seconds = time.perf_counter() - clock
        try:
            derived.write_tables(store.cursor(), out, window, summary)
            derived.write_format(out, settings.timezone, now, window["hourly_from"])
        except (duckdb.Error, OSError) as exc:
            log.exception("writing the derived folder %s failed", out)
            raise derived.DerivedError(
                f"writing {out} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                "the folder has no _format.json until a rollup completes."
            ) from exc
        finally:
            store.close()
    summary.seconds = time.perf_counter() - started
    return summary
