"""What the app writes (SPEC §6), behind one facade: `AppDB`.

The parts live in their own modules: `core` (the attached file, schema parts, ids, the
write lock, errors), `orders` (orders and their events), `ledger_entries`,
`adjustments` and `plan_requests`. `AppDB` keeps the methods the pages and tools
call; the names below stay importable from here.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

import duckdb
import pandas as pd

from token_analytics.billing import core
from token_analytics.billing.adjustments import ADJUSTMENT_TXN_PREFIX, Adjustments, adjustment_txn_id
from token_analytics.billing.alerts import Alerts
from token_analytics.billing.core import (
    APP_SCHEMA,
    SCHEMA_VERSION,
    AppDBError,
    AppFile,
    OrderStateError,
    UnknownOrderError,
    new_id,
    new_reference,
)
from token_analytics.billing.ledger_entries import LEDGER_COLUMNS, LedgerEntries
from token_analytics.billing.orders import KINDS, METHODS, PLANS, STATUSES, Order, Orders, order_txn_id
from token_analytics.billing.plan_requests import PLAN_REQUEST_KINDS, PLAN_REQUEST_PLANS, PlanRequests
from token_analytics.billing.preferences import PREFERENCE_LANGUAGES, Preferences

__all__ = [
    "ADJUSTMENT_TXN_PREFIX",
    "APP_SCHEMA",
    "KINDS",
    "LEDGER_COLUMNS",
    "METHODS",
    "PLANS",
    "PLAN_REQUEST_KINDS",
    "PLAN_REQUEST_PLANS",
    "PREFERENCE_LANGUAGES",
    "SCHEMA_VERSION",
    "STATUSES",
    "AppDB",
    "AppDBError",
    "Order",
    "OrderStateError",
    "UnknownOrderError",
    "adjustment_txn_id",
    "attach_app_db",
    "new_id",
    "new_reference",
    "open_app_db",
    "order_txn_id",
]


def attach_app_db(con: duckdb.DuckDBPyConnection, path: Path | str, zone: tzinfo | None = None) -> AppDB:
    """Attach the app database file to `con` as `app` (creating it when missing) and return an AppDB."""
    core.attach(con, path)
    return AppDB(con, zone=zone)


def open_app_db(path: Path | str, zone: tzinfo | None = None) -> AppDB:
    """A new connection with the file attached as `app`; for tools and tests (one per process)."""
    app = attach_app_db(duckdb.connect(), path, zone=zone)
    app._file.owns_connection = True
    return app


class AppDB:
    """Reads and append-only writes of the app database attached as `app` on `con`.

    `zone` is the business zone (ANALYTICS_TIMEZONE) that new ids are dated in; UTC if none.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str = APP_SCHEMA, zone: tzinfo | None = None) -> None:
        self._file = AppFile(con, schema, zone)
        self._orders = Orders(self._file)
        self._ledger = LedgerEntries(self._file)
        self._adjustments = Adjustments(self._file)
        self._plan_requests = PlanRequests(self._file)
        self.alerts = Alerts(self._file)  # thresholds, alert states, notifications (billing/alerts.py)
        self._preferences = Preferences(self._file)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._file.connection

    @property
    def zone(self) -> tzinfo:
        return self._file.zone

    def close(self) -> None:
        """Close the connection if this AppDB opened it (open_app_db)."""
        if self._file.owns_connection:
            self._file.connection.close()

    def new_id(self, now: datetime | None = None) -> str:
        """A fresh id dated in the business zone (e.g. a form's adjustment id)."""
        return self._file.new_id(now)

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
        return self._orders.create_order(account_id, created_by, kind, tokens, price_cents, method, plan, now, currency)

    def order(self, order_id: str) -> Order | None:
        """The order with its current status, or None when unknown."""
        return self._orders.order(order_id)

    def orders_for(self, account_id: str) -> pd.DataFrame:
        """The account's orders, newest first, with status and the credited `txn_id` (null until paid)."""
        return self._orders.orders_for(account_id)

    def pending_transfers(self) -> pd.DataFrame:
        """PENDING bank-transfer orders of every account, oldest first (the admin's queue)."""
        return self._orders.pending_transfers()

    def current_plan(self, account_id: str, default: str) -> str:
        """The plan of the account's latest paid plan order, else `default` (the export's plan)."""
        return self._orders.current_plan(account_id, default)

    def mark_paid(self, order_id: str, actor: str, now: datetime | None = None) -> str | None:
        """Mark the order PAID and credit it once; returns its `txn_id` (None: nothing to credit)."""
        return self._orders.mark_paid(order_id, actor, now)

    def cancel(self, order_id: str, actor: str, note: str | None = None, now: datetime | None = None) -> None:
        """Cancel a PENDING order (final); a PAID or CANCELLED order is refused."""
        self._orders.cancel(order_id, actor, note, now)

    def confirm_transfer(self, order_id: str, admin: str, now: datetime | None = None) -> str | None:
        """An admin confirms receipt of a bank transfer: the order becomes PAID (see mark_paid)."""
        return self._orders.confirm_transfer(order_id, admin, now)

    def reject_transfer(self, order_id: str, admin: str, note: str | None = None, now: datetime | None = None) -> None:
        """An admin rejects a bank transfer: the order becomes CANCELLED with the admin's note."""
        self._orders.reject_transfer(order_id, admin, note, now)

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
        """Record an admin's signed adjustment and its ledger entry; returns the `txn_id` (see Adjustments)."""
        return self._adjustments.post_adjustment(account_id, amount, reason, created_by, now, adjustment_id)

    def adjustments(self, account_id: str | None = None) -> pd.DataFrame:
        """Adjustments (one account, or all), newest first, with who, when and the ledger `txn_id`."""
        return self._adjustments.adjustments(account_id)

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
        return self._plan_requests.request_plan(account_id, requested_by, plan, kind, contact, message, now)

    def plan_requests(self, account_id: str | None = None) -> pd.DataFrame:
        """Plan requests (one account, or all), newest first."""
        return self._plan_requests.plan_requests(account_id)

    # Preferences ------------------------------------------------------------

    def language(self, username: str) -> str | None:
        """The interface language `username` chose last, or None when they never chose one."""
        return self._preferences.language(username)

    def set_language(self, username: str, language: str, now: datetime | None = None) -> None:
        """Record `username`'s choice of interface language ("en" or "zh")."""
        self._preferences.set_language(username, language, now)

    # Ledger -----------------------------------------------------------------

    def ledger_entries(self, account_id: str | None = None) -> pd.DataFrame:
        """The app's own ledger entries (one account, or all), newest first."""
        return self._ledger.ledger_entries(account_id)
