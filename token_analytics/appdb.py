"""What the app writes (SPEC §6), behind one facade: `AppDB`.

The parts live in their own modules: `core` (the attached file, schema parts, ids, the
write lock, errors), `orders` (orders and their events), `ledger_entries`,
`adjustments`, `plan_requests` and `preferences`. `AppDB` inherits the methods the pages
and tools call from those parts (each written once, where its SQL is); the names below stay
importable from here.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

import duckdb

from token_analytics.accounts.preferences import PREFERENCE_LANGUAGES, Preferences
from token_analytics.accounts.saved_views import SavedViews
from token_analytics.alerts.state import Alerts
from token_analytics.billing.adjustments import ADJUSTMENT_TXN_PREFIX, Adjustments, adjustment_txn_id
from token_analytics.billing.ledger_entries import LEDGER_COLUMNS, LedgerEntries
from token_analytics.billing.orders import KINDS, METHODS, PLANS, STATUSES, Order, Orders, order_txn_id
from token_analytics.billing.plan_requests import PLAN_REQUEST_KINDS, PLAN_REQUEST_PLANS, PlanRequests
from token_analytics.db import appfile as core
from token_analytics.db.appfile import (
    APP_SCHEMA,
    SCHEMA_VERSION,
    AppDBError,
    AppFile,
    OrderStateError,
    UnknownOrderError,
    new_id,
    new_reference,
)

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


class AppDB(Orders, Adjustments, PlanRequests, Preferences, LedgerEntries):
    """Reads and append-only writes of the app database attached as `app` on `con`.

    The methods are the parts' own, each written once in its module: orders and their moves
    (billing/orders.py), adjustments, plan requests, preferences and the app's ledger entries;
    all of them share one `AppFile`. `alerts` is a part of its own (`app.alerts.thresholds(...)`).
    `zone` is the business zone (ANALYTICS_TIMEZONE) that new ids are dated in; UTC if none.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str = APP_SCHEMA, zone: tzinfo | None = None) -> None:
        super().__init__(AppFile(con, schema, zone))  # core.Part: every part reads self._file
        self.alerts = Alerts(self._file)  # thresholds, alert states, notifications (alerts/state.py)
        self.saved_views = SavedViews(self._file)  # explore views saved by name (accounts/saved_views.py)

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
