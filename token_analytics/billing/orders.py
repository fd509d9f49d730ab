"""Orders and their events: PENDING -> PAID or PENDING -> CANCELLED, a paid order credited once.

Each move is a new row in `order_events`. The current status is the latest event
(highest `step`); `step` is 0 for PENDING and 1 for the one final move, and
`(order_id, step)` is the primary key, so at most one final move can ever be stored,
even by racing writers.

A PAID order credits the ledger once: its entry's `txn_id` is `app-order-<order_id>`,
the primary key of `ledger_entries`, and it is inserted in the same transaction as
the PAID event. Writes also take the process-wide lock; the keys are what guarantee it.

Plan orders ("Upgrade to Pro" through the same payment flow): `tokens` holds the
plan's included monthly tokens at the time of the order. When paid, the order
records the plan change (`current_plan` reads the latest paid plan order) and, if
`tokens` > 0, credits those tokens as one RECHARGE entry with the same derived
`txn_id`; a plan without included tokens records no ledger entry (`mark_paid`
returns None). The plan then stays until a later paid plan order; monthly renewal
and expiry are not modelled yet (one paid order = one month's included tokens).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

import duckdb
import pandas as pd

from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditAction
from token_analytics.billing.ledger_entries import insert_entry
from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.db.appfile import (
    AppDBError,
    OrderStateError,
    Part,
    UnknownOrderError,
    new_reference,
)
from token_analytics.engine.vocabulary import PaymentMethod, Plan, TxnType
from token_analytics.labels import Labelled


class OrderKind(StrEnum):
    """What an order buys: tokens, or a plan (with its included tokens)."""

    RECHARGE = "recharge"
    PLAN = "plan"


class OrderStatus(Labelled, prefix="recharge.status_"):
    """An order's status: PENDING, then one final move."""

    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


KINDS = tuple(OrderKind)
METHODS = tuple(PaymentMethod)
STATUSES = tuple(OrderStatus)
PLANS = tuple(Plan)

ORDER_TXN_PREFIX = "app-order-"


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
        return self.status != OrderStatus.PENDING


def order_txn_id(order_id: str) -> str:
    """The ledger `txn_id` derived from an order id."""
    return ORDER_TXN_PREFIX + order_id


class Orders(Part):
    """Places orders, records their one final move, and lists them."""

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
        at = core.moment(now)
        account_id = core.text(account_id, "account_id")
        created_by = core.text(created_by, "created_by")
        kind = core.choice(kind, "kind", KINDS)
        method = core.choice(method, "method", METHODS)
        currency = core.text(currency, "currency")
        tokens = core.count(tokens, "tokens", 1 if kind == OrderKind.RECHARGE else 0)
        price_cents = core.count(price_cents, "price_cents", 0)
        if kind == OrderKind.PLAN:
            plan = core.choice(plan, "plan", PLANS)
        elif plan is not None:
            raise AppDBError("plan is only given for plan orders.", "appdb.plan_for_plan_orders")
        with core.WRITE_LOCK:
            for _ in range(core.ATTEMPTS):
                order_id = self._file.new_id(at)
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
                    "status": OrderStatus.PENDING.value,
                    "actor": created_by,
                    "note": None,
                    "event_at": at,
                }
                try:
                    with self._file.cursor() as cur, core.transaction(cur):
                        cur.execute(query_text("billing/insert_order"), params)
                        cur.execute(query_text("billing/insert_order_event"), event)
                except duckdb.ConstraintException:
                    continue  # an id or reference collided; draw new ones
                return Order(
                    **{k: v for k, v in params.items() if k != "created_at"},
                    created_at=at,
                    status=OrderStatus.PENDING.value,
                    status_at=at,
                    status_by=created_by,
                    status_note=None,
                )
        raise AppDBError("Could not store the order; please try again.", "appdb.store_order")

    def order(self, order_id: str) -> Order | None:
        """The order with its current status, or None when unknown."""
        rows = self._file.rows(query_text("billing/order"), {"order_id": order_id})
        if not rows:
            return None
        return Order(**{field.name: rows[0][field.name] for field in fields(Order)})

    def _require(self, order_id: str) -> Order:
        order = self.order(order_id)
        if order is None:
            raise UnknownOrderError(f"There is no order {order_id!r}.", "appdb.unknown_order", order=repr(order_id))
        return order

    def orders_for(self, account_id: str) -> pd.DataFrame:
        """The account's orders, newest first, with status and the credited `txn_id` (null until paid)."""
        return self._file.frame(query_text("billing/orders_for"), {"account_id": account_id})

    def pending_transfers(self) -> pd.DataFrame:
        """PENDING bank-transfer orders of every account, oldest first (the admin's queue)."""
        return self._file.frame(query_text("billing/pending_transfers"), {})

    def decided_transfers(self) -> pd.DataFrame:
        """Bank-transfer orders of every account that are no longer PENDING, newest decision first."""
        return self._file.frame(query_text("billing/decided_transfers"), {})

    def current_plan(self, account_id: str, exported: str | None) -> str:
        """The account's plan now: its latest paid plan order in the app, else the exported plan, else free.

        One source for every page that shows or sells a plan (/analysis, /subscription); `exported` is the
        engine's `figures.exported_plan`. A missing, null or unknown exported plan reads as free.
        """
        rows = self._file.rows(query_text("billing/current_plan"), {"account_id": account_id})
        plan = str(rows[0]["plan"]) if rows else (exported or Plan.FREE.value)
        return plan if plan in PLANS else Plan.FREE.value

    def _finish(
        self, order_id: str, status: str, actor: str, note: str | None, now: datetime | None, action: str | None = None
    ) -> str | None:
        """Record the one final move of an order; PAID also credits the ledger, in the same transaction."""
        at = core.moment(now)
        actor = core.text(actor, "actor")
        with core.WRITE_LOCK:
            for attempt in range(core.ATTEMPTS):
                order = self._require(order_id)
                if order.status == OrderStatus.PAID and status == OrderStatus.PAID:
                    return order.txn_id if order.tokens > 0 else None  # a repeat is a no-op
                if order.is_final:
                    verb = "paid" if status == OrderStatus.PAID else "cancelled"
                    raise OrderStateError(
                        f"Order {order_id} is already {order.status.lower()} and cannot be {verb}; "
                        "place a new order instead.",
                        f"appdb.order_{order.status.lower()}_not_{verb}",  # e.g. appdb.order_paid_not_cancelled
                        order=order_id,
                    )
                event = {
                    "order_id": order_id,
                    "step": 1,
                    "status": status,
                    "actor": actor,
                    "note": note,
                    "event_at": at,
                }
                credit = status == OrderStatus.PAID and order.tokens > 0
                try:
                    with self._file.cursor() as cur, core.transaction(cur):
                        cur.execute(query_text("billing/insert_order_event"), event)
                        if credit:
                            insert_entry(cur, _order_entry(order, at))
                        what = action or _order_action(order, status)
                        audit.record(cur, what, actor, **_order_audit(order, note), now=at)
                except (duckdb.ConstraintException, duckdb.TransactionException):
                    # Another writer got there first (the keys, not the lock, are the final
                    # guarantee); look again at what it stored.
                    time.sleep(0.005 * (attempt + 1))
                    continue
                return order.txn_id if credit else None
        raise AppDBError(
            f"Could not record the status of order {order_id}; please try again.", "appdb.store_status", order=order_id
        )

    def mark_paid(self, order_id: str, actor: str, now: datetime | None = None) -> str | None:
        """Mark the order PAID and credit it once; returns its `txn_id` (None: nothing to credit).

        Idempotent: paying a PAID order again returns the same `txn_id` and stores nothing.
        """
        return self._finish(order_id, OrderStatus.PAID, actor, None, now)

    def cancel(self, order_id: str, actor: str, note: str | None = None, now: datetime | None = None) -> None:
        """Cancel a PENDING order (final); a PAID or CANCELLED order is refused."""
        self._finish(order_id, OrderStatus.CANCELLED, actor, note, now)

    def _require_transfer(self, order_id: str) -> None:
        if self._require(order_id).method != PaymentMethod.BANK_TRANSFER:
            raise OrderStateError(
                f"Order {order_id} is not a bank transfer.", "appdb.not_bank_transfer", order=order_id
            )

    def confirm_transfer(self, order_id: str, admin: str, now: datetime | None = None) -> str | None:
        """An admin confirms receipt of a bank transfer: the order becomes PAID (see mark_paid)."""
        self._require_transfer(order_id)
        return self._finish(order_id, OrderStatus.PAID, admin, None, now, action=AuditAction.TRANSFER_CONFIRM)

    def reject_transfer(self, order_id: str, admin: str, note: str | None = None, now: datetime | None = None) -> None:
        """An admin rejects a bank transfer: the order becomes CANCELLED with the admin's note."""
        self._require_transfer(order_id)
        self._finish(order_id, OrderStatus.CANCELLED, admin, note, now, action=AuditAction.TRANSFER_REJECT)


def _order_action(order: Order, status: str) -> str:
    """The audit action of an order's final move when the caller names none."""
    if status == OrderStatus.PAID:
        return AuditAction.PLAN_CHANGE if order.kind == OrderKind.PLAN else AuditAction.ORDER_PAID
    return AuditAction.ORDER_CANCEL


def _order_audit(order: Order, note: str | None) -> dict[str, Any]:
    """What the audit log says about an order: its account, id, and what it bought how."""
    what = f"{order.plan} plan" if order.kind == OrderKind.PLAN else f"{order.tokens:,} tokens"
    detail = f"{what} by {order.method}, reference {order.reference}" + (f"; note: {note}" if note else "")
    return {"account_id": order.account_id, "target": order.order_id, "detail": detail}


def _order_entry(order: Order, at: datetime) -> dict[str, Any]:
    """The RECHARGE ledger entry of a paid order."""
    if order.kind == OrderKind.PLAN:
        title = (order.plan or "").capitalize()
        description = f"{title} plan: {order.tokens:,} included tokens (order {order.order_id})"
    else:
        description = f"Recharge {order.tokens:,} tokens (order {order.order_id})"
    return {
        "txn_id": order.txn_id,
        "account_id": order.account_id,
        "user_id": order.created_by,  # who placed the order; the ledger's member column
        "type": TxnType.RECHARGE.value,
        "amount": order.tokens,
        "created_at": at,
        "payment_method": order.method,
        "description": description,
        "source": "order",
    }
