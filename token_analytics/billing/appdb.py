"""What the app writes (SPEC §6): orders, ledger entries, adjustments and plan requests.

The data lives in its own DuckDB file (`ANALYTICS_APP_DB`), attached to the process's
one connection as the database `app`; the store reads `app.ledger_entries` in its
ledger view. Every table is append-only: rows are inserted, never updated or deleted,
and a mistake is corrected by a new row (a cancelled order, a new adjustment).

Orders move PENDING -> PAID or PENDING -> CANCELLED, each move being a new row in
`order_events`. The current status is the latest event (highest `step`); `step` is 0
for PENDING and 1 for the one final move, and `(order_id, step)` is the primary key,
so at most one final move can ever be stored, even by racing writers.

A PAID order credits the ledger once: its entry's `txn_id` is `app-order-<order_id>`,
the primary key of `ledger_entries`, and it is inserted in the same transaction as
the PAID event. Writes also take a process-wide lock; the keys are what guarantee it.

Plan orders ("Upgrade to Pro" through the same payment flow): `tokens` holds the
plan's included monthly tokens at the time of the order. When paid, the order
records the plan change (`current_plan` reads the latest paid plan order) and, if
`tokens` > 0, credits those tokens as one RECHARGE entry with the same derived
`txn_id`; a plan without included tokens records no ledger entry (`mark_paid`
returns None). The plan then stays until a later paid plan order; monthly renewal
and expiry are not modelled yet (one paid order = one month's included tokens).

Ledger columns: an order's entry has `user_id` = the username who placed the order
and `payment_method` = the order's method; an adjustment's entry has `user_id` null
(the admin is not a member of the account) and names the admin in `description`.
Ids look like `20261129-K7Q2M9XD`; bank references like `TAC-K7Q2M9XD` (no 0/O/1/I).

Times are TIMESTAMPTZ. They are read through Arrow because DuckDB's `fetchall` of a
TIMESTAMPTZ needs pytz (not installed with pandas 3) and `.df()` warns on pandas 3.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

APP_SCHEMA = "app"  # the name the file is attached under; fixed, never from input

KINDS = ("recharge", "plan")
METHODS = ("WECHAT", "ALIPAY", "BANK_TRANSFER")
STATUSES = ("PENDING", "PAID", "CANCELLED")
PLANS = ("free", "pro", "enterprise")
PLAN_REQUEST_PLANS = ("pro", "enterprise")
PLAN_REQUEST_KINDS = ("upgrade", "enterprise_contact")
LEDGER_COLUMNS = (
    "txn_id",
    "account_id",
    "user_id",
    "type",
    "amount",
    "created_at",
    "payment_method",
    "description",
    "source",
)

ORDER_TXN_PREFIX = "app-order-"
ADJUSTMENT_TXN_PREFIX = "app-adj-"
REFERENCE_PREFIX = "TAC-"
# No 0/O/1/I: references are typed by hand into a bank transfer's memo.
_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_ATTEMPTS = 20

# One lock for the whole process: Streamlit sessions may each build an AppDB over
# the same connection, and writes are rare, so serialising them costs nothing.
_WRITE_LOCK = threading.RLock()


class AppDBError(ValueError):
    """A write was refused; the message is one sentence a person can act on."""


class UnknownOrderError(AppDBError):
    """No order has this id."""


class OrderStateError(AppDBError):
    """The order's status does not allow this move."""


# Bump when _SCHEMA changes: a file whose latest recorded version is lower gets _SCHEMA
# applied (tables `if not exists`, the view replaced), then the new version recorded.
SCHEMA_VERSION = 1

_SCHEMA = (
    """
    create table if not exists app.schema_versions (
        version integer primary key,
        applied_at timestamptz not null
    )
    """,
    """
    create table if not exists app.orders (
        order_id varchar primary key,
        account_id varchar not null,
        created_by varchar not null,
        kind varchar not null check (kind in ('recharge', 'plan')),
        tokens bigint not null check (tokens >= 0),
        price_cents bigint not null check (price_cents >= 0),
        currency varchar not null,
        method varchar not null check (method in ('WECHAT', 'ALIPAY', 'BANK_TRANSFER')),
        plan varchar,
        reference varchar not null unique,
        created_at timestamptz not null,
        check ((kind = 'plan') = (plan is not null))
    )
    """,
    """
    create table if not exists app.order_events (
        order_id varchar not null,
        step integer not null check (step in (0, 1)),
        status varchar not null check (status in ('PENDING', 'PAID', 'CANCELLED')),
        actor varchar not null,
        note varchar,
        event_at timestamptz not null,
        primary key (order_id, step),
        check ((step = 0) = (status = 'PENDING'))
    )
    """,
    """
    create table if not exists app.ledger_entries (
        txn_id varchar primary key,
        account_id varchar not null,
        user_id varchar,
        type varchar not null check (type in ('RECHARGE', 'ADJUSTMENT')),
        amount bigint not null check (amount <> 0),
        created_at timestamptz not null,
        payment_method varchar,
        description varchar,
        source varchar not null check (source in ('order', 'adjustment')),
        check (type <> 'RECHARGE' or amount > 0)
    )
    """,
    """
    create table if not exists app.adjustments (
        adjustment_id varchar primary key,
        account_id varchar not null,
        amount bigint not null check (amount <> 0),
        reason varchar not null check (trim(reason) <> ''),
        created_by varchar not null,
        created_at timestamptz not null
    )
    """,
    """
    create table if not exists app.plan_requests (
        request_id varchar primary key,
        account_id varchar not null,
        requested_by varchar not null,
        plan varchar not null check (plan in ('pro', 'enterprise')),
        kind varchar not null check (kind in ('upgrade', 'enterprise_contact')),
        contact varchar,
        message varchar,
        created_at timestamptz not null
    )
    """,
    # Replaced (not `if not exists`) so a changed definition reaches existing files.
    """
    create or replace view app.order_status as
    with latest_event as (
        select *
        from app.order_events
        qualify row_number() over (partition by order_id order by step desc) = 1
    ),

    final as (
        select
            o.order_id,
            o.account_id,
            o.created_by,
            o.kind,
            o.tokens,
            o.price_cents,
            o.currency,
            o.method,
            o.plan,
            o.reference,
            o.created_at,
            e.status,
            e.event_at as status_at,
            e.actor as status_by,
            e.note as status_note,
            l.txn_id
        from app.orders as o
        inner join latest_event as e on e.order_id = o.order_id
        left join app.ledger_entries as l on l.txn_id = 'app-order-' || o.order_id
    )

    select * from final
    """,
)

_SCHEMA_VERSION_OF_FILE = "select coalesce(max(version), 0) from app.schema_versions"

_RECORD_SCHEMA_VERSION = """
    insert into app.schema_versions (version, applied_at) values ($version, $applied_at)
"""

_INSERT_ORDER = """
    insert into app.orders
        (order_id, account_id, created_by, kind, tokens, price_cents, currency, method, plan, reference, created_at)
    values
        ($order_id, $account_id, $created_by, $kind, $tokens, $price_cents, $currency, $method, $plan, $reference,
         $created_at)
"""

_INSERT_EVENT = """
    insert into app.order_events (order_id, step, status, actor, note, event_at)
    values ($order_id, $step, $status, $actor, $note, $event_at)
"""

_INSERT_LEDGER = """
    insert into app.ledger_entries
        (txn_id, account_id, user_id, type, amount, created_at, payment_method, description, source)
    values
        ($txn_id, $account_id, $user_id, $type, $amount, $created_at, $payment_method, $description, $source)
"""

_INSERT_ADJUSTMENT = """
    insert into app.adjustments (adjustment_id, account_id, amount, reason, created_by, created_at)
    values ($adjustment_id, $account_id, $amount, $reason, $created_by, $created_at)
"""

_INSERT_PLAN_REQUEST = """
    insert into app.plan_requests (request_id, account_id, requested_by, plan, kind, contact, message, created_at)
    values ($request_id, $account_id, $requested_by, $plan, $kind, $contact, $message, $created_at)
"""

_ORDER = "select * from app.order_status where order_id = $order_id"

_ORDERS_FOR = """
    select * from app.order_status
    where account_id = $account_id
    order by created_at desc, order_id desc
"""

# Oldest first: the admin works the queue in the order transfers arrived.
_PENDING_TRANSFERS = """
    select * from app.order_status
    where method = 'BANK_TRANSFER' and status = 'PENDING'
    order by created_at, order_id
"""

_CURRENT_PLAN = """
    select plan from app.order_status
    where account_id = $account_id and kind = 'plan' and status = 'PAID'
    order by status_at desc, order_id desc
    limit 1
"""

_LEDGER_ENTRIES = """
    select * from app.ledger_entries
    where $account_id is null or account_id = $account_id
    order by created_at desc, txn_id desc
"""

_ADJUSTMENTS = """
    select
        a.*,
        l.txn_id
    from app.adjustments as a
    left join app.ledger_entries as l on l.txn_id = 'app-adj-' || a.adjustment_id
    where $account_id is null or a.account_id = $account_id
    order by a.created_at desc, a.adjustment_id desc
"""

_ADJUSTMENT = "select * from app.adjustments where adjustment_id = $adjustment_id"

_PLAN_REQUESTS = """
    select * from app.plan_requests
    where $account_id is null or account_id = $account_id
    order by created_at desc, request_id desc
"""


@dataclass(frozen=True)
class Order:
    """An order with its current status (the latest of its events)."""

    order_id: str
    account_id: str
    created_by: str
    kind: str
    tokens: int
    price_cents: int
    currency: str
    method: str
    plan: str | None
    reference: str
    created_at: datetime
    status: str
    status_at: datetime
    status_by: str
    status_note: str | None

    @property
    def txn_id(self) -> str:
        """The ledger `txn_id` this order credits when paid (SPEC §6)."""
        return order_txn_id(self.order_id)

    @property
    def is_final(self) -> bool:
        return self.status != "PENDING"


def order_txn_id(order_id: str) -> str:
    """The ledger `txn_id` derived from an order id."""
    return ORDER_TXN_PREFIX + order_id


def adjustment_txn_id(adjustment_id: str) -> str:
    """The ledger `txn_id` derived from an adjustment id."""
    return ADJUSTMENT_TXN_PREFIX + adjustment_id


def new_id(now: datetime | None = None) -> str:
    """A fresh id such as `20261129-K7Q2M9XD` (UTC date, then 8 random characters)."""
    return f"{_moment(now).astimezone(UTC):%Y%m%d}-{_random_code()}"


def new_reference() -> str:
    """A fresh bank-transfer reference such as `TAC-K7Q2M9XD`."""
    return REFERENCE_PREFIX + _random_code()


def _random_code(length: int = 8) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _moment(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(tz=UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime.")
    return now


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AppDBError(f"{name} must be a non-empty text.")
    return value.strip()


def _count(value: object, name: str, minimum: int) -> int:
    # bool is an int in Python; True tokens is a bug, not 1 token.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AppDBError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return value


def _choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise AppDBError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
    return str(value)


@contextmanager
def _transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
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
    """The latest schema version recorded in the file; 0 for a new file."""
    # Checked before any DDL: an AppDB may be built on every page run, and even a
    # no-op `create or replace view` writes to the file's log.
    try:
        row = cur.execute(_SCHEMA_VERSION_OF_FILE).fetchone()
    except duckdb.CatalogException:
        return 0
    return int(row[0]) if row else 0


def attach_app_db(con: duckdb.DuckDBPyConnection, path: Path | str) -> AppDB:
    """Attach the app database file to `con` as `app` (creating it when missing) and return an AppDB."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute("attach if not exists $path as app", {"path": str(path)})
    return AppDB(con)


def open_app_db(path: Path | str) -> AppDB:
    """A new connection with the file attached as `app`; for tools and tests (one per process)."""
    app = attach_app_db(duckdb.connect(), path)
    app._owns_connection = True
    return app


class AppDB:
    """Reads and append-only writes of the app database attached as `app` on `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str = APP_SCHEMA) -> None:
        if schema != APP_SCHEMA:
            # Table names are constants in the SQL text; another name would need built SQL.
            raise ValueError(f"The app database must be attached as {APP_SCHEMA!r}, not {schema!r}.")
        self.connection = con
        self._owns_connection = False
        with self._cursor() as cur:
            attached = cur.execute(
                "select count(*) from duckdb_databases() where database_name = $name", {"name": APP_SCHEMA}
            ).fetchone()
            if not attached or attached[0] == 0:
                raise ValueError("The app database is not attached; use attach_app_db(con, path).")
            with _WRITE_LOCK:
                if _schema_version(cur) < SCHEMA_VERSION:
                    with _transaction(cur):
                        for statement in _SCHEMA:
                            cur.execute(statement)
                        cur.execute(_RECORD_SCHEMA_VERSION, {"version": SCHEMA_VERSION, "applied_at": _moment(None)})

    def close(self) -> None:
        """Close the connection if this AppDB opened it (open_app_db)."""
        if self._owns_connection:
            self.connection.close()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # A cursor per call: each Streamlit session runs in its own thread.
        cur = self.connection.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            return cur.sql(sql, params=params).to_arrow_table().to_pylist()

    def _frame(self, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        with self._cursor() as cur:
            return cur.sql(sql, params=params).to_arrow_table().to_pandas()

    # Orders -----------------------------------------------------------------

    def create_order(
        self,
        account_id: str,
        created_by: str,
        kind: str,
        tokens: int,
        price_cents: int,
        method: str,
        plan: str | None = None,
        now: datetime | None = None,
        currency: str = "CNY",
    ) -> Order:
        """Store a new PENDING order with a unique id and bank-transfer reference."""
        at = _moment(now)
        account_id = _text(account_id, "account_id")
        created_by = _text(created_by, "created_by")
        kind = _choice(kind, "kind", KINDS)
        method = _choice(method, "method", METHODS)
        currency = _text(currency, "currency")
        tokens = _count(tokens, "tokens", 1 if kind == "recharge" else 0)
        price_cents = _count(price_cents, "price_cents", 0)
        if kind == "plan":
            plan = _choice(plan, "plan", PLANS)
        elif plan is not None:
            raise AppDBError("plan is only given for plan orders.")
        with _WRITE_LOCK:
            for _ in range(_ATTEMPTS):
                order_id = new_id(at)
                params = {
                    "order_id": order_id,
                    "account_id": account_id,
                    "created_by": created_by,
                    "kind": kind,
                    "tokens": tokens,
                    "price_cents": price_cents,
                    "currency": currency,
                    "method": method,
                    "plan": plan,
                    "reference": new_reference(),
                    "created_at": at,
                }
                event = {
                    "order_id": order_id,
                    "step": 0,
                    "status": "PENDING",
                    "actor": created_by,
                    "note": None,
                    "event_at": at,
                }
                try:
                    with self._cursor() as cur, _transaction(cur):
                        cur.execute(_INSERT_ORDER, params)
                        cur.execute(_INSERT_EVENT, event)
                except duckdb.ConstraintException:
                    continue  # an id or reference collided; draw new ones
                return Order(
                    **{k: v for k, v in params.items() if k != "created_at"},
                    created_at=at,
                    status="PENDING",
                    status_at=at,
                    status_by=created_by,
                    status_note=None,
                )
        raise AppDBError("Could not store the order; please try again.")

    def order(self, order_id: str) -> Order | None:
        """The order with its current status, or None when unknown."""
        rows = self._rows(_ORDER, {"order_id": order_id})
        if not rows:
            return None
        return Order(**{field.name: rows[0][field.name] for field in fields(Order)})

    def _require(self, order_id: str) -> Order:
        order = self.order(order_id)
        if order is None:
            raise UnknownOrderError(f"There is no order {order_id!r}.")
        return order

    def orders_for(self, account_id: str) -> pd.DataFrame:
        """The account's orders, newest first, with status and the credited `txn_id` (null until paid)."""
        return self._frame(_ORDERS_FOR, {"account_id": account_id})

    def pending_transfers(self) -> pd.DataFrame:
        """PENDING bank-transfer orders of every account, oldest first (the admin's queue)."""
        return self._frame(_PENDING_TRANSFERS, {})

    def current_plan(self, account_id: str, default: str) -> str:
        """The plan of the account's latest paid plan order, else `default` (the export's plan)."""
        rows = self._rows(_CURRENT_PLAN, {"account_id": account_id})
        return str(rows[0]["plan"]) if rows else default

    def _finish(self, order_id: str, status: str, actor: str, note: str | None, now: datetime | None) -> str | None:
        """Record the one final move of an order; PAID also credits the ledger, in the same transaction."""
        at = _moment(now)
        actor = _text(actor, "actor")
        with _WRITE_LOCK:
            for attempt in range(_ATTEMPTS):
                order = self._require(order_id)
                if order.status == "PAID" and status == "PAID":
                    return order.txn_id if order.tokens > 0 else None  # a repeat is a no-op
                if order.is_final:
                    verb = "paid" if status == "PAID" else "cancelled"
                    raise OrderStateError(
                        f"Order {order_id} is already {order.status.lower()} and cannot be {verb}; "
                        "place a new order instead."
                    )
                event = {
                    "order_id": order_id,
                    "step": 1,
                    "status": status,
                    "actor": actor,
                    "note": note,
                    "event_at": at,
                }
                credit = status == "PAID" and order.tokens > 0
                try:
                    with self._cursor() as cur, _transaction(cur):
                        cur.execute(_INSERT_EVENT, event)
                        if credit:
                            cur.execute(_INSERT_LEDGER, _order_entry(order, at))
                except (duckdb.ConstraintException, duckdb.TransactionException):
                    # Another writer got there first (the keys, not the lock, are the final
                    # guarantee); look again at what it stored.
                    time.sleep(0.005 * (attempt + 1))
                    continue
                return order.txn_id if credit else None
        raise AppDBError(f"Could not record the status of order {order_id}; please try again.")

    def mark_paid(self, order_id: str, actor: str, now: datetime | None = None) -> str | None:
        """Mark the order PAID and credit it once; returns its `txn_id` (None: nothing to credit).

        Idempotent: paying a PAID order again returns the same `txn_id` and stores nothing.
        """
        return self._finish(order_id, "PAID", actor, None, now)

    def cancel(self, order_id: str, actor: str, note: str | None = None, now: datetime | None = None) -> None:
        """Cancel a PENDING order (final); a PAID or CANCELLED order is refused."""
        self._finish(order_id, "CANCELLED", actor, note, now)

    def _require_transfer(self, order_id: str) -> None:
        if self._require(order_id).method != "BANK_TRANSFER":
            raise OrderStateError(f"Order {order_id} is not a bank transfer.")

    def confirm_transfer(self, order_id: str, admin: str, now: datetime | None = None) -> str | None:
        """An admin confirms receipt of a bank transfer: the order becomes PAID (see mark_paid)."""
        self._require_transfer(order_id)
        return self.mark_paid(order_id, admin, now=now)

    def reject_transfer(self, order_id: str, admin: str, note: str | None = None, now: datetime | None = None) -> None:
        """An admin rejects a bank transfer: the order becomes CANCELLED with the admin's note."""
        self._require_transfer(order_id)
        self.cancel(order_id, admin, note, now=now)

    # Adjustments ------------------------------------------------------------

    def post_adjustment(
        self,
        account_id: str,
        amount: int,
        reason: str,
        created_by: str,
        now: datetime | None = None,
        adjustment_id: str | None = None,
    ) -> str:
        """Record an admin's signed adjustment and its ADJUSTMENT ledger entry; returns the `txn_id`.

        Pass the same `adjustment_id` on a retry (e.g. one per rendered form) to post it only once.
        """
        at = _moment(now)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise AppDBError("An adjustment needs a non-zero whole number of tokens.")
        if not isinstance(reason, str) or not reason.strip():
            raise AppDBError("An adjustment needs a reason.")
        account_id = _text(account_id, "account_id")
        created_by = _text(created_by, "created_by")
        reason = reason.strip()
        with _WRITE_LOCK:
            for _ in range(_ATTEMPTS):
                key = adjustment_id or new_id(at)
                existing = self._rows(_ADJUSTMENT, {"adjustment_id": key})
                if existing:
                    if adjustment_id is None:
                        continue  # a random id collided
                    row = existing[0]
                    if (row["account_id"], row["amount"], row["reason"]) != (account_id, amount, reason):
                        raise AppDBError(f"Adjustment {key} was already posted with different values.")
                    return adjustment_txn_id(key)
                entry = {
                    "txn_id": adjustment_txn_id(key),
                    "account_id": account_id,
                    "user_id": None,  # the admin is not a member of the account; who is in the description
                    "type": "ADJUSTMENT",
                    "amount": amount,
                    "created_at": at,
                    "payment_method": None,
                    "description": f"{reason} (adjustment by {created_by})",
                    "source": "adjustment",
                }
                adjustment = {
                    "adjustment_id": key,
                    "account_id": account_id,
                    "amount": amount,
                    "reason": reason,
                    "created_by": created_by,
                    "created_at": at,
                }
                try:
                    with self._cursor() as cur, _transaction(cur):
                        cur.execute(_INSERT_ADJUSTMENT, adjustment)
                        cur.execute(_INSERT_LEDGER, entry)
                except (duckdb.ConstraintException, duckdb.TransactionException):
                    continue  # stored meanwhile; the next pass sees it
                return adjustment_txn_id(key)
        raise AppDBError("Could not store the adjustment; please try again.")

    def adjustments(self, account_id: str | None = None) -> pd.DataFrame:
        """Adjustments (one account, or all), newest first, with who, when and the ledger `txn_id`."""
        return self._frame(_ADJUSTMENTS, {"account_id": account_id})

    # Plan requests ----------------------------------------------------------

    def request_plan(
        self,
        account_id: str,
        requested_by: str,
        plan: str,
        kind: str,
        contact: str | None = None,
        message: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Store a plan request (an upgrade, or an enterprise contact); returns its id."""
        at = _moment(now)
        params = {
            "account_id": _text(account_id, "account_id"),
            "requested_by": _text(requested_by, "requested_by"),
            "plan": _choice(plan, "plan", PLAN_REQUEST_PLANS),
            "kind": _choice(kind, "kind", PLAN_REQUEST_KINDS),
            "contact": (contact or "").strip() or None,
            "message": (message or "").strip() or None,
            "created_at": at,
        }
        if params["kind"] == "enterprise_contact" and params["plan"] != "enterprise":
            raise AppDBError("An enterprise contact request is for the enterprise plan.")
        with _WRITE_LOCK:
            for _ in range(_ATTEMPTS):
                request_id = new_id(at)
                try:
                    with self._cursor() as cur:
                        cur.execute(_INSERT_PLAN_REQUEST, {**params, "request_id": request_id})
                except duckdb.ConstraintException:
                    continue
                return request_id
        raise AppDBError("Could not store the request; please try again.")

    def plan_requests(self, account_id: str | None = None) -> pd.DataFrame:
        """Plan requests (one account, or all), newest first."""
        return self._frame(_PLAN_REQUESTS, {"account_id": account_id})

    # Ledger -----------------------------------------------------------------

    def ledger_entries(self, account_id: str | None = None) -> pd.DataFrame:
        """The app's own ledger entries (one account, or all), newest first."""
        return self._frame(_LEDGER_ENTRIES, {"account_id": account_id})


def _order_entry(order: Order, at: datetime) -> dict[str, Any]:
    """The RECHARGE ledger entry of a paid order."""
    if order.kind == "plan":
        title = (order.plan or "").capitalize()
        description = f"{title} plan: {order.tokens:,} included tokens (order {order.order_id})"
    else:
        description = f"Recharge {order.tokens:,} tokens (order {order.order_id})"
    return {
        "txn_id": order.txn_id,
        "account_id": order.account_id,
        "user_id": order.created_by,  # who placed the order; the ledger's member column
        "type": "RECHARGE",
        "amount": order.tokens,
        "created_at": at,
        "payment_method": order.method,
        "description": description,
        "source": "order",
    }
