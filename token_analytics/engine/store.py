"""The one module that owns DuckDB: connection, cursors, ingest, and `run(query_name, **params)`."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from token_analytics.db.appfile import AppFile
from token_analytics.db.connection import OPEN_LOCK, StoreError, connect
from token_analytics.db.queries import query_text
from token_analytics.engine import derived
from token_analytics.engine import ingest as ingest_module
from token_analytics.engine.sample import generate
from token_analytics.settings import Settings

log = logging.getLogger(__name__)


# The ledger views of SPEC §4 (exports plus the app's own entries, once per txn_id) and the per-file duplicate
# counts of an ingested cache, made on every open.
LEDGER_VIEW = query_text("ledger_views")
FILE_DUPLICATES_VIEW = query_text("file_duplicates_view")


@dataclass(frozen=True)
class Health:
    """The data-health report: one row per file, plus totals."""

    files: pd.DataFrame  # kind, path, status, error, rows_read, accepted, quarantined, duplicates, conflicts, latest_at
    reasons: pd.DataFrame  # kind, path, reason, rows

    @property
    def files_read(self) -> int:
        return int((self.files["status"] == "ok").sum()) if len(self.files) else 0

    @property
    def bad_files(self) -> int:
        return int((self.files["status"] != "ok").sum()) if len(self.files) else 0

    @property
    def quarantined_rows(self) -> int:
        return int(self.files["quarantined"].sum()) if len(self.files) else 0

    @property
    def latest_event_at(self) -> datetime | None:
        if not len(self.files) or self.files["latest_at"].isna().all():
            return None
        return self.files["latest_at"].max().to_pydatetime()

    def problems(self, kinds: tuple[str, ...] | None = None) -> tuple[int, int]:
        """(quarantined rows, bad files), optionally only for some kinds of export."""
        files = self.files if kinds is None else self.files[self.files["kind"].isin(kinds)]
        if not len(files):
            return 0, 0
        return int(files["quarantined"].sum()), int((files["status"] != "ok").sum())

    @property
    def clean(self) -> bool:
        return self.quarantined_rows == 0 and self.bad_files == 0


class Store:
    """One DuckDB connection per process; every thread gets its own cursor."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
        self.settings = settings
        self._con = con
        self._local = threading.local()
        self._ingest_lock = threading.Lock()
        self._refresh_thread: threading.Thread | None = None
        self.generation = 0  # bumps after every ingest that changed something
        self.last_summary: ingest_module.IngestSummary | None = None
        self._checked_at = time.monotonic()
        self._account_ids: tuple[int, list[str]] | None = None  # (generation, ids)
        self._ledger_view_ready = False
        self._parsed: dict[str, duckdb.Statement] = {}  # query name -> its parsed statement (see `statement`)

    @classmethod
    def open(cls, settings: Settings, *, ingest: bool = True, progress: ingest_module.Progress | None = None) -> Store:
        """Connect to the cache, attach the app database, bring the cache up to date.

        Safe to call again after any failure and from several threads at once: opening holds a
        process-wide lock, attaches the app database only when it is not attached yet, and
        closes the connection on any failure, BaseException included (a Streamlit script thread
        that is stopped or rerun mid-load raises one), so nothing half-open is left behind.
        """
        for path in (settings.cache_db, settings.app_db):
            path.parent.mkdir(parents=True, exist_ok=True)
        with OPEN_LOCK:
            con = connect(settings)
            try:
                AppFile(con, zone=settings.zone)  # the app's own tables (the ledger view reads its entries)
                store = cls(con, settings)
                if ingest:
                    store.ingest(progress=progress)
            except BaseException:
                con.close()
                raise
            return store

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The process's connection, the parent of every cursor (the app database's parts take one per call)."""
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB: one connection per process, a cursor per thread)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
        return cur

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every query in the block reads one committed state: an ingest commits before or after all of them."""
        if getattr(self._local, "in_snapshot", False):
            yield
            return
        cur = self.cursor()
        cur.execute("begin transaction")
        self._local.in_snapshot = True
        try:
            yield
        finally:
            self._local.in_snapshot = False
            cur.execute("commit")

    def statement(self, query_name: str) -> duckdb.Statement:
        """queries/<query_name>.sql parsed once per process: parsing is 0.2-0.9 ms of a statement whose page runs it
        on every view. Only the parse is kept: DuckDB binds and plans every execution (a copy of the parsed tree)
        against the catalog as it stands, so an ingest that replaces a table is seen by the next execution."""
        parsed = self._parsed.get(query_name)
        if parsed is None:
            statements = self.cursor().extract_statements(query_text(query_name))
            if len(statements) != 1:
                raise ValueError(f"{query_name} holds {len(statements)} statements, not one")
            parsed = self._parsed[query_name] = statements[0]
        return parsed

    def run(self, query_name: str, **params: object) -> pd.DataFrame:
        """Run queries/<query_name>.sql with bound `$named` parameters."""
        # Tuples into a DataFrame: for the few rows a page needs this is faster than `.df()`
        # (about 5 ms of a figure set), and it avoids `.df()`'s pandas-3 deprecation path.
        cur = self.cursor().execute(self.statement(query_name), params)
        rows = cur.fetchall()
        return pd.DataFrame.from_records(rows, columns=[column[0] for column in cur.description])

    def rows(self, query_name: str, **params: object) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Like `run`, as (column names, row tuples): for a figure that folds its rows itself (no frame to build)."""
        cur = self.cursor().execute(self.statement(query_name), params)
        rows = cur.fetchall()
        return [column[0] for column in cur.description], rows

    def row(self, query_name: str, **params: object) -> dict[str, Any]:
        """The one row of queries/<query_name>.sql (an aggregate that always returns one) as a dict, no DataFrame."""
        names, rows = self.rows(query_name, **params)
        if not rows:
            raise RuntimeError(f"{query_name} returned no row")  # its SQL is an aggregate: a bug, not data
        return dict(zip(names, rows[0], strict=True))

    def ingest(self, progress: ingest_module.Progress | None = None) -> ingest_module.IngestSummary:
        """Read what changed under the data folder (or load a new state of the derived folder); readers keep
        answering meanwhile."""
        with self._ingest_lock:
            cur = self._con.cursor()
            try:
                if self.settings.derived_dir is not None:
                    try:
                        summary = derived.load(cur, self.settings.derived_dir, self.settings.timezone)
                    except derived.DerivedError as exc:
                        raise StoreError(str(exc)) from exc
                else:
                    summary = ingest_module.ingest(
                        cur, self.settings.data_dir, self.settings.timezone, progress=progress, now=self.settings.now()
                    )
                if summary.rebuilt or not self._ledger_view_ready:
                    # bind to the rebuilt tables; a no-op refresh skips these writes
                    if self.settings.derived_dir is None:
                        cur.execute(FILE_DUPLICATES_VIEW)
                    cur.execute(LEDGER_VIEW)
                    self._ledger_view_ready = True
            finally:
                cur.close()
            if summary.rebuilt:
                self.generation += 1
            self.last_summary = summary
            return summary

    def refresh_if_due(self, every_s: float) -> bool:
        """Look for new or changed export files (or a new derived folder state) at most every `every_s` seconds,
        in the background."""
        if time.monotonic() - self._checked_at <= every_s:
            return False
        self._checked_at = time.monotonic()
        return self.refresh_in_background()

    def refresh_in_background(self) -> bool:
        """Start an ingest in a thread unless one runs; True when one was started."""
        if self._refresh_thread is not None and self._refresh_thread.is_alive():
            return False

        def work() -> None:
            try:
                self.ingest()
            except Exception:  # a bad export must never take the app down
                log.exception("background ingest failed")

        self._refresh_thread = threading.Thread(target=work, name="ingest", daemon=True)
        self._refresh_thread.start()
        return True

    @property
    def refreshing(self) -> bool:
        return self._refresh_thread is not None and self._refresh_thread.is_alive()

    def accounts(self) -> pd.DataFrame:
        return self.run("accounts")

    def account_ids(self) -> list[str]:
        """Every account id; asked on every page run, so kept until the next ingest changes the data."""
        cached = self._account_ids
        if cached is None or cached[0] != self.generation:
            cached = self._account_ids = (self.generation, self.accounts()["account_id"].tolist())
        return list(cached[1])

    def has_ledger(self, account_id: str) -> bool:
        return bool(self.run("ledger_exists", account_id=account_id)["exists"].iloc[0])

    def health(self) -> Health:
        return Health(files=self.run("data_health_files"), reasons=self.run("data_health_reasons"))

    def close(self) -> None:
        """Close the connection, after a background refresh in flight has finished with it."""
        refresh = self._refresh_thread
        if refresh is not None and refresh is not threading.current_thread():
            refresh.join()
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def data_dir_ready(settings: Settings, progress: Callable[[str], None] | None = None) -> Path:
    """The data folder; the default sample is generated on first run when missing (not when reading a derived
    folder: no export is needed then)."""
    if settings.derived_dir is not None or settings.data_dir.is_dir():
        return settings.data_dir
    if settings.data_dir_is_default:
        # Written beside it and renamed when complete: a start stopped mid-way (Ctrl-C) leaves no half sample
        # that would never be generated again.
        partial = settings.data_dir.with_name(f".{settings.data_dir.name}.partial-{threading.get_native_id()}")
        try:
            generate(partial, now=settings.now(), progress=progress)
            try:
                partial.rename(settings.data_dir)
            except OSError:
                if not settings.data_dir.is_dir():  # not another process that got there first
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return settings.data_dir
    raise StoreError(
        f"ANALYTICS_DATA_DIR={settings.data_dir} does not exist; point it at an export folder.",
        "store.no_data_dir",
        path=str(settings.data_dir),
    )
