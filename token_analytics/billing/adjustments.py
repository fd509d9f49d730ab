"""Adjustments: an admin's signed correction of an account's tokens, with its ADJUSTMENT ledger entry."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditAction
from token_analytics.billing.ledger_entries import insert_entry
from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.db.appfile import AppDBError, Part
from token_analytics.engine.vocabulary import TxnType

ADJUSTMENT_TXN_PREFIX = "app-adj-"


def adjustment_txn_id(adjustment_id: str) -> str:
    """The ledger `txn_id` derived from an adjustment id."""
    return ADJUSTMENT_TXN_PREFIX + adjustment_id


class Adjustments(Part):
    """Posts and lists adjustments."""

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
        at = core.moment(now)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise AppDBError("An adjustment needs a non-zero whole number of tokens.", "appdb.adjustment_amount")
        if not isinstance(reason, str) or not reason.strip():
            raise AppDBError("An adjustment needs a reason.", "appdb.adjustment_reason")
        account_id = core.text(account_id, "account_id")
        created_by = core.text(created_by, "created_by")
        reason = reason.strip()
        with core.WRITE_LOCK:
            for _ in range(core.ATTEMPTS):
                key = adjustment_id or self._file.new_id(at)
                existing = self._file.rows(query_text("billing/adjustment"), {"adjustment_id": key})
                if existing:
                    if adjustment_id is None:
                        continue  # a random id collided
                    row = existing[0]
                    if (row["account_id"], row["amount"], row["reason"]) != (account_id, amount, reason):
                        raise AppDBError(
                            f"Adjustment {key} was already posted with different values.",
                            "appdb.adjustment_conflict",
                            adjustment=key,
                        )
                    return adjustment_txn_id(key)
                entry = {
                    "txn_id": adjustment_txn_id(key),
                    "account_id": account_id,
                    "user_id": None,  # the admin is not a member of the account; who is in the description
                    "type": TxnType.ADJUSTMENT.value,
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
                    with self._file.cursor() as cur, core.transaction(cur):
                        cur.execute(query_text("billing/insert_adjustment"), adjustment)
                        insert_entry(cur, entry)
                        audit.record(
                            cur, AuditAction.ADJUSTMENT_POST, created_by, account_id=account_id, target=entry["txn_id"],
                            detail=f"{amount:+,} tokens: {reason}", now=at,
                        )  # fmt: skip
                except (duckdb.ConstraintException, duckdb.TransactionException):
                    continue  # stored meanwhile; the next pass sees it
                return adjustment_txn_id(key)
        raise AppDBError("Could not store the adjustment; please try again.", "appdb.store_adjustment")

    def adjustments(self, account_id: str | None = None) -> pd.DataFrame:
        """Adjustments (one account, or all), newest first, with who, when and the ledger `txn_id`."""
        return self._file.frame(query_text("billing/adjustments"), {"account_id": account_id})
