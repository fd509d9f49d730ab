"""The app's own ledger entries: what paid orders and adjustments add to the exported ledger.

The store reads `app.ledger_entries` in its ledger view (`exports ∪ app entries`,
de-duplicated by `txn_id`). An order's entry has `user_id` = the username who placed
the order and `payment_method` = the order's method; an adjustment's entry has
`user_id` null (the admin is not a member of the account) and names the admin in
`description`. Entries are written only inside the order's or adjustment's own
transaction (`insert_entry`), so an entry never exists without what caused it.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from token_analytics.db import query_text
from token_analytics.db.appfile import Part

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


def insert_entry(cur: duckdb.DuckDBPyConnection, entry: dict[str, Any]) -> None:
    """Insert one entry (keys: LEDGER_COLUMNS) inside the caller's transaction."""
    cur.execute(query_text("billing/insert_ledger_entry"), entry)


class LedgerEntries(Part):
    """Reads of the app's ledger entries."""

    def ledger_entries(self, account_id: str | None = None) -> pd.DataFrame:
        """The app's own ledger entries (one account, or all), newest first."""
        return self._file.frame(query_text("billing/ledger_entries"), {"account_id": account_id})
