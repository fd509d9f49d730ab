"""The app database's core: the attached file, its schema parts and versions, ids, the write lock, errors.

The data lives in its own DuckDB file (`ANALYTICS_APP_DB`), attached to the process's
one connection as the database `app`. Every table is append-only: rows are inserted,
never updated or deleted, and a mistake is corrected by a new row.

Schema parts: each part of the app database (a concern's tables: orders, sessions, alerts, ...)
is one file `queries/schema/<part>.sql` (`create table if not exists app.…`, views
`create or replace`: every statement idempotent) with its version in `SCHEMA_PARTS` below: bump
it when the file changes. `ensure_schema` applies every part whose recorded version in
`app.schema_parts` is lower, in the order of `SCHEMA_PARTS` (a view after the tables it reads),
in one transaction. The parts are data, so this layer imports none of the concerns above it.

Ids look like `20261129-K7Q2M9XD`, dated in the business zone; bank references like
`TAC-K7Q2M9XD` (no 0/O/1/I).

Times are TIMESTAMPTZ. They are read through Arrow because DuckDB's `fetchall` of a
TIMESTAMPTZ needs pytz (not installed with pandas 3) and `.df()` warns on pandas 3.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from token_analytics.db.queries import query_text

APP_SCHEMA = "app"  # the name the file is attached under; fixed, never from input

# Every part of the app database and its version, in the order they are applied.
SCHEMA_PARTS: tuple[tuple[str, int], ...] = (
    ("ledger_entries", 1), ("orders", 1), ("adjustments", 1), ("plan_requests", 1), ("sessions", 1),
    ("throttle", 2), ("audit", 2), ("alerts", 1), ("preferences", 1), ("saved_views", 1),
)  # fmt: skip

REFERENCE_PREFIX = "TAC-"
# No 0/O/1/I: references are typed by hand into a bank transfer's memo.
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
ATTEMPTS = 20

# One lock for the whole process: Streamlit sessions may each build an AppDB over
# the same connection, and writes are rare, so serialising them costs nothing.
# Read as `core.WRITE_LOCK` at call time (tests replace it to show the keys hold alone).
WRITE_LOCK = threading.RLock()


class AppDBError(ValueError):
    """A write was refused; the message is one sentence a person can act on.

    `message_id` and `params` name the same sentence in the web layer's catalogue
    (`error.<message_id>`), which shows it in the session's language: billing does not know the
    session. The English text here and the catalogue's stay the same (tests/web/test_i18n.py).
    """

    def __init__(self, message: str, message_id: str = "appdb.refused", **params: object) -> None:
        super().__init__(message)
        self.message_id = message_id
        self.params = params


class UnknownOrderError(AppDBError):
    """No order has this id."""


class OrderStateError(AppDBError):
    """The order's status does not allow this move."""


@dataclass(frozen=True)
class SchemaPart:
    """One part's tables and views; bump `version` when `statements` change."""

    version: int
    statements: tuple[str, ...]


# The file-wide version record kept since the first release; bumped when the core changes.
SCHEMA_VERSION = 1

_CORE_SCHEMA = query_text("db/core_schema")


def registered_parts() -> list[tuple[str, SchemaPart]]:
    """(part name, SchemaPart) of every part in SCHEMA_PARTS, in order, read from queries/schema/."""
    return [(name, SchemaPart(version, (query_text(f"schema/{name}"),))) for name, version in SCHEMA_PARTS]


def new_id(now: datetime | None = None, zone: tzinfo | None = None) -> str:
    """A fresh id such as `20261129-K7Q2M9XD`: the date in `zone` (UTC if none), then 8 random characters."""
    return f"{moment(now).astimezone(zone or UTC):%Y%m%d}-{_random_code()}"


def new_reference() -> str:
    """A fresh bank-transfer reference such as `TAC-K7Q2M9XD`."""
    return REFERENCE_PREFIX + _random_code()


def _random_code(length: int = 8) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def moment(now: datetime | None) -> datetime:
    """`now`, or the wall clock; a naive time is refused."""
    if now is None:
        return datetime.now(tz=UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime.")
    return now


def text(value: object, name: str) -> str:
    """A non-empty text, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise AppDBError(f"{name} must be a non-empty text.", "appdb.not_text", name=name)
    return value.strip()


def count(value: object, name: str, minimum: int, message_id: str = "appdb.not_count") -> int:
    """A whole number >= minimum (`message_id`: the catalogue's sentence when it is not)."""
    # bool is an int in Python; True tokens is a bug, not 1 token.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AppDBError(
            f"{name} must be a whole number >= {minimum}, got {value!r}.",
            message_id,
            name=name,
            minimum=minimum,
            value=repr(value),
        )
    return value


def choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed`."""
    if value not in allowed:
        allowed_text = ", ".join(allowed)
        raise AppDBError(
            f"{name} must be one of {allowed_text}, got {value!r}.",
            "appdb.not_choice",
            name=name,
            allowed=allowed_text,
            value=repr(value),
        )
    return str(value)


@contextmanager
def cursor(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of `con` for one call, closed after: each Streamlit session runs in its own thread."""
    cur = con.cursor()
    try:
        yield cur
    finally:
        cur.close()


@contextmanager
def transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Begin, then commit, or roll back on any error."""
    cur.execute("begin transaction")
    try:
        yield
        cur.execute("commit")
    except BaseException:
        try:
            cur.execute("rollback")
        except duckdb.Error:
            pass  # a failed commit already ended the transaction
        raise


def _schema_version(cur: duckdb.DuckDBPyConnection) -> int:
    """The latest file-wide schema version recorded; 0 for a new file."""
    try:
        row = cur.execute(query_text("db/schema_version_of_file")).fetchone()
    except duckdb.CatalogException:
        return 0
    return int(row[0]) if row else 0


def _part_versions(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The latest version recorded per schema part; empty for a new (or first-release) file."""
    try:
        return {str(part): int(version) for part, version in cur.execute(query_text("db/part_versions")).fetchall()}
    except duckdb.CatalogException:
        return {}


def ensure_schema(cur: duckdb.DuckDBPyConnection) -> None:
    """Apply every schema part the file has not recorded at its current version."""
    # Checked before any DDL: an AppDB may be built on every page run, and even a
    # no-op `create or replace view` writes to the file's log.
    parts = registered_parts()
    recorded = _part_versions(cur)
    due = [(name, part) for name, part in parts if recorded.get(name, 0) < part.version]
    if not due and _schema_version(cur) >= SCHEMA_VERSION:
        return
    with WRITE_LOCK, transaction(cur):
        at = moment(None)
        cur.execute(_CORE_SCHEMA)
        # Read again under the lock (another session may have done it), after the create:
        # a missing table would abort the transaction.
        recorded = _part_versions(cur)
        if _schema_version(cur) < SCHEMA_VERSION:
            cur.execute(query_text("db/record_schema_version"), {"version": SCHEMA_VERSION, "applied_at": at})
        for name, part in parts:
            if recorded.get(name, 0) < part.version:
                for statement in part.statements:
                    cur.execute(statement)
                cur.execute(query_text("db/record_part"), {"part": name, "version": part.version, "applied_at": at})


class AppFile:
    """The attached app database on `con`: cursors, reads, and the business zone ids are dated in."""

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str = APP_SCHEMA, zone: tzinfo | None = None) -> None:
        if schema != APP_SCHEMA:
            # Table names are constants in the SQL text; another name would need built SQL.
            raise ValueError(f"The app database must be attached as {APP_SCHEMA!r}, not {schema!r}.")
        self.connection = con
        self.zone = zone or UTC
        self.owns_connection = False
        with self.cursor() as cur:
            attached = cur.execute(query_text("db/attached_count"), {"name": APP_SCHEMA}).fetchone()
            if not attached or attached[0] == 0:
                raise ValueError("The app database is not attached; use attach_app_db(con, path).")
            ensure_schema(cur)

    def cursor(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A cursor per call: each Streamlit session runs in its own thread."""
        return cursor(self.connection)

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The result as a list of dicts."""
        with self.cursor() as cur:
            return cur.sql(sql, params=params).to_arrow_table().to_pylist()

    def frame(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        """The result as a DataFrame."""
        with self.cursor() as cur:
            return cur.sql(sql, params=params).to_arrow_table().to_pandas()

    def new_id(self, now: datetime | None = None) -> str:
        """A fresh id dated in this file's business zone."""
        return new_id(now, self.zone)


class Part:
    """One part of the app database (orders, adjustments, ...): its reads and writes over the shared AppFile.

    `AppDB` combines the parts, so each method is written once, on its part.
    """

    def __init__(self, file: AppFile) -> None:
        self._file = file


def attach(con: duckdb.DuckDBPyConnection, path: Path | str) -> None:
    """Attach the app database file to `con` as `app`, creating it (and its folder) when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(query_text("db/attach_app"), {"path": str(path)})
