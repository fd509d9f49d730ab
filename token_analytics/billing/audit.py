"""The audit log (issue 9): who did what, when, from where; appended to, never changed.

Sign-ins (success and failure), sign-outs and every other end of a session, unlocks, and the
app database's money and plan writes (transfer confirmations and rejections, adjustments,
paid and cancelled orders, plan changes and requests) each append one row. The writers call
`record` themselves (sessions.py, throttle.py, appdb.py), so every caller is covered.

"From where" is the client address of the Streamlit session that did it: the web layer
publishes it once per run with `set_address` (each session runs in its own thread, and a
new thread starts with an empty context, so one session never sees another's address).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from token_analytics.billing.core import SchemaPart

# The actions, in the order the admin's filter lists them.
ACTIONS = (
    "sign_in.success",
    "sign_in.failure",
    "sign_in.refused",
    "session.end",
    "throttle.unlock",
    "transfer.confirm",
    "transfer.reject",
    "order.paid",
    "order.cancel",
    "plan.change",
    "plan.request",
    "adjustment.post",
    "alert.thresholds",
    "account.switch",
)
COLUMNS = ("event_at", "actor", "address", "action", "account_id", "target", "detail")
MAX_TEXT = 500  # a typed username or user agent is cut here: the log is not a place to store essays

SCHEMA = SchemaPart(
    1,
    (
        """
    create table if not exists app.audit_log (
        event_at timestamptz not null,
        actor varchar,
        address varchar,
        action varchar not null,
        account_id varchar,
        target varchar,
        detail varchar
    )
    """,
    ),
)

_INSERT = """
    insert into app.audit_log (event_at, actor, address, action, account_id, target, detail)
    values ($event_at, $actor, $address, $action, $account_id, $target, $detail)
"""

# Newest first; every filter is optional (null matches everything).
_ENTRIES = """
    select event_at, actor, address, action, account_id, target, detail
    from app.audit_log
    where ($since is null or event_at >= $since)
        and ($until is null or event_at < $until)
        and ($actor is null or lower(actor) = lower($actor))
        and ($action is null or action = $action)
        and ($account_id is null or account_id = $account_id)
    order by event_at desc, rowid desc  -- rowid: the order of appending, for equal times
    limit $limit
"""

_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_address", default=None)
_LOCK = threading.Lock()


def set_address(address: str | None) -> None:
    """The client address of the current session's run; later records without an address use it."""
    _address.set(address)


def current_address() -> str | None:
    return _address.get()


def clip(value: object) -> str | None:
    """Text for the log: None stays None, anything else is cut to MAX_TEXT characters."""
    if value is None:
        return None
    return str(value)[:MAX_TEXT]


def record(
    cur: duckdb.DuckDBPyConnection,
    action: str,
    actor: str | None,
    *,
    account_id: str | None = None,
    target: str | None = None,
    detail: str | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> None:
    """Append one row; call it inside the writer's own transaction so the row exists exactly when the change does."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    params = {
        "event_at": now or datetime.now(tz=UTC),
        "actor": clip(actor),
        "address": clip(address if address is not None else current_address()),
        "action": action,
        "account_id": clip(account_id),
        "target": clip(target),
        "detail": clip(detail),
    }
    cur.execute(_INSERT, params)


class AuditLog:
    """Reads of the audit log, and records outside another writer's transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.connection = con

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self.connection.cursor()  # a cursor per call: each Streamlit session has its own thread
        try:
            yield cur
        finally:
            cur.close()

    def record(self, action: str, actor: str | None, **fields: Any) -> None:
        with _LOCK, self._cursor() as cur:
            record(cur, action, actor, **fields)

    def entries(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        account_id: str | None = None,
        limit: int = 10_000,
    ) -> pd.DataFrame:
        """Rows matching every given filter, newest first, at most `limit` of them."""
        params = {
            "since": since,
            "until": until,
            "actor": actor or None,
            "action": action or None,
            "account_id": account_id or None,
            "limit": int(limit),
        }
        with self._cursor() as cur:
            frame = cur.sql(_ENTRIES, params=params).to_arrow_table().to_pandas()
        return frame[list(COLUMNS)]
