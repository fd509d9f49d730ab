"""The process's one DuckDB connection: the cache file opened with the app database attached as `app`.

Every concern above reads and writes through it: the engine's derived tables in the cache, the app's own
tables (accounts, billing, alerts) in the attached file. A cursor per thread (`Cursors`), one write lock
and one `transaction()` for the app's writes are in db/appfile.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from token_analytics.settings import Settings

# DuckDB's default is 80% of RAM; a bounded cache spills to disk instead (ingest of 10M events
# peaked at 0.9-1.2 GB unbounded, about 0.6 GB at 512 MB, in the same time).
MEMORY_LIMIT = "512MB"


class StoreError(RuntimeError):
    """The store cannot be opened; the message is one line for a person.

    `message_id` and `params` name the same sentence in the web layer's catalogue (`error.<message_id>`),
    which shows it in the session's language (the engine does not know the session); None: not catalogued.
    """

    def __init__(self, message: str, message_id: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.params = params


class StoreLocked(StoreError):
    """Another process holds the database files (the running dashboard); ask it instead (service.py)."""


# DuckDB shares one database instance between the connections of a process to the same file,
# and with it the attached `app`: a connection left open by an interrupted first load made the
# next open fail with "already attached" (FIELD-NOTES). Opening is serialised and idempotent.
OPEN_LOCK = threading.Lock()


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A connection to the cache with the app database attached as `app`, or StoreError (one line)."""
    try:
        con = duckdb.connect(str(settings.cache_db))
    except duckdb.Error as exc:
        raise store_error(settings, exc) from exc
    try:
        con.execute("set global TimeZone = 'UTC'")
        con.execute("set global memory_limit = $limit", {"limit": MEMORY_LIMIT})
        attached = con.execute("select path from duckdb_databases() where database_name = 'app'").fetchall()
        if not attached:
            con.execute("attach $path as app", {"path": str(settings.app_db)})
        elif Path(attached[0][0]).resolve() != settings.app_db.resolve():
            raise StoreError(
                f"Another app database ({attached[0][0]}) is already open with {settings.cache_db.name}; "
                "give each ANALYTICS_APP_DB its own ANALYTICS_CACHE_DB.",
                "store.app_db_clash",
                path=attached[0][0],
                cache=settings.cache_db.name,
            )
    except duckdb.Error as exc:
        con.close()
        raise store_error(settings, exc) from exc
    except BaseException:
        con.close()
        raise
    return con


def store_error(settings: Settings, exc: duckdb.Error) -> StoreError:
    if "lock" in str(exc).lower():
        return StoreLocked(
            f"The database {settings.cache_db.name} or {settings.app_db.name} is in use by another process "
            "(probably the running dashboard); stop it or point ANALYTICS_APP_DB elsewhere.",
            "store.locked",
            cache=settings.cache_db.name,
            app=settings.app_db.name,
        )
    detail = str(exc).splitlines()[0]
    return StoreError(f"Cannot open the database: {detail}", "store.cannot_open", detail=detail)
