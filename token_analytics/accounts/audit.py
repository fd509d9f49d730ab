"""The audit log: who did what, when, from where; appended to, never changed.

Sign-ins (success and failure), sign-outs and every other end of a session, unlocks, and the
app database's money and plan writes (transfer confirmations and rejections, adjustments,
paid and cancelled orders, plan changes and requests) each append one row. The writers call
`record` themselves (sessions.py, throttle.py, appdb.py), so every caller is covered.

Refused sign-in attempts (while a name or address is paused) are not one row each: an
attacker's flood would push every real event off the page. They are counted in
`app.audit_refusals`, one row per username, address and minute with a count, and read back
as `sign_in.refused` rows of the log. That table is the log's one counter: its rows are
updated (the count, the latest time and reason), never deleted.

"From where" is the client address of the Streamlit session that did it: the web layer
publishes it once per run with `set_address` (each session runs in its own thread, and a
new thread starts with an empty context, so one session never sees another's address).
"""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.labels import Labelled


class AuditAction(Labelled, prefix="audit."):
    """What a row of the log records; the value is what `app.audit_log.action` holds."""

    # in the order the admin's filter lists them
    SIGN_IN_SUCCESS = "sign_in.success"
    SIGN_IN_FAILURE = "sign_in.failure"
    SIGN_IN_REFUSED = "sign_in.refused"
    SESSION_END = "session.end"
    THROTTLE_UNLOCK = "throttle.unlock"
    TRANSFER_CONFIRM = "transfer.confirm"
    TRANSFER_REJECT = "transfer.reject"
    ORDER_PAID = "order.paid"
    ORDER_CANCEL = "order.cancel"
    PLAN_CHANGE = "plan.change"
    PLAN_REQUEST = "plan.request"
    ADJUSTMENT_POST = "adjustment.post"
    ALERT_THRESHOLDS = "alert.thresholds"
    ACCOUNT_SWITCH = "account.switch"


ACTIONS = tuple(AuditAction)
_A = AuditAction
# The page's kinds of event, each a set of actions; an action in none of them is "other".
KINDS: dict[str, tuple[AuditAction, ...]] = {
    "sign_in": (_A.SIGN_IN_SUCCESS, _A.SIGN_IN_FAILURE, _A.SIGN_IN_REFUSED),
    "session": (_A.SESSION_END,),
    "unlock": (_A.THROTTLE_UNLOCK,),
    "money": (_A.TRANSFER_CONFIRM, _A.TRANSFER_REJECT, _A.ORDER_PAID, _A.ORDER_CANCEL, _A.ADJUSTMENT_POST),
    "plan": (_A.PLAN_CHANGE, _A.PLAN_REQUEST),
    "alert": (_A.ALERT_THRESHOLDS,),
    "account": (_A.ACCOUNT_SWITCH,),
}
COLUMNS = ("event_at", "actor", "address", "action", "account_id", "target", "detail", "count")
MAX_TEXT = 500  # a typed username or user agent is cut here: the log is not a place to store essays


_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_address", default=None)


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
    cur.execute(query_text("accounts/insert_audit_entry"), params)


def refused(cur: duckdb.DuckDBPyConnection, actor: str, address: str | None, detail: str, now: datetime) -> None:
    """Count one refused sign-in in its minute's row (actor, address); the caller holds the write lock."""
    params = {
        "minute": now.replace(second=0, microsecond=0),
        "actor": clip(actor) or "",
        "address": clip(address if address is not None else current_address()),
        "detail": detail,
        "now": now,
    }
    if not cur.execute(query_text("accounts/bump_audit_refusal"), params).fetchall():
        cur.execute(query_text("accounts/insert_audit_refusal"), params)


def actions_of(kind: str) -> tuple[str, ...]:
    """The actions of one of KINDS, or of "other" (every action in none of them)."""
    if kind in KINDS:
        return KINDS[kind]
    grouped = {action for actions in KINDS.values() for action in actions}
    return tuple(action for action in ACTIONS if action not in grouped)


class AuditLog:
    """Reads of the audit log, and records outside another writer's transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.connection = con

    def record(self, action: str, actor: str | None, **fields: Any) -> None:
        with core.WRITE_LOCK, core.cursor(self.connection) as cur:
            record(cur, action, actor, **fields)

    def entries(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        account_id: str | None = None,
        limit: int = 10_000,
        *,
        user: str | None = None,
        actions: tuple[str, ...] | list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows matching every given filter, newest first, at most `limit` of them (`count`: refusals in a row)."""
        params = {
            "since": since,
            "until": until,
            "actor": actor or None,
            "user": user or None,
            "action": action or None,
            "actions": list(actions) if actions is not None else None,
            "account_id": account_id or None,
            "limit": int(limit),
        }
        with core.cursor(self.connection) as cur:
            frame = cur.sql(query_text("accounts/audit_entries"), params=params).to_arrow_table().to_pandas()
        return frame[list(COLUMNS)]
