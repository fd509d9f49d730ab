"""Alerts in the app database: thresholds per account, alert state, the outbox of notifications.

Everything is appended, never updated, like the rest of the file:

* `alert_thresholds`: one row per change of an account's thresholds (the whole set, NULL = off),
  with who and when. The latest row is the current set; the one before it is the "old" side of
  the change, so the table is its own audit trail (`threshold_changes`).
* `alert_events`: one row each time an alert starts (`firing`) or clears (`resolved`). The latest
  row per (account, rule) is the alert's state, so a notification goes out on a change only.
* `alert_outbox`: one row per event and receiver, written with the event in one transaction.
* `alert_deliveries`: one row per attempt to deliver an outbox row (ok or the error). An outbox row
  without an ok delivery is pending, and the next run sends it: a receiver that is down loses nothing.

An event that no receiver has had yet (none was configured, or every one failed) is given an outbox
row for each receiver configured at the run that delivers it (`bind`): an alert that started
before the first webhook was set is posted once one is, and a receiver added later does not get
the changes already delivered before it was there.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import duckdb
import pandas as pd

from token_analytics.accounts import audit
from token_analytics.accounts.audit import AuditAction
from token_analytics.db import appfile as core
from token_analytics.db import query_text
from token_analytics.db.appfile import AppDBError, Part
from token_analytics.labels import Labelled


class AlertRule(Labelled, prefix="alerts.banner."):
    """What an alert watches; the value is what `app.alert_events.rule` holds."""

    BALANCE = "balance"
    RUNWAY = "runway"
    USAGE_SPIKE = "usage_spike"


class AlertState(StrEnum):
    """An alert's state (Alertmanager's): a notification goes out on each change."""

    FIRING = "firing"
    RESOLVED = "resolved"


RULES = tuple(AlertRule)
STATES = tuple(AlertState)
MAX_ERROR = 300  # a receiver's error text is cut here (an HTML error page is not worth keeping)


@dataclass(frozen=True)
class Thresholds:
    """An account's alert thresholds; None switches a rule off."""

    balance_below: int | None = None  # tokens
    runway_days_below: int | None = None  # days, at the 7-day pace
    usage_multiple: float | None = None  # k: today's tokens above k x the median of the last 30 days

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.balance_below, self.runway_days_below, self.usage_multiple))


@dataclass(frozen=True)
class Change:
    """A new state of one alert, to be stored and notified."""

    account_id: str
    rule: str
    state: str
    value: float | None
    threshold: float | None
    detail: dict[str, Any]


def checked_thresholds(thresholds: Thresholds) -> Thresholds:
    """The thresholds when each is off or in range; else AppDBError with one sentence."""
    balance = thresholds.balance_below
    if balance is not None:
        core.count(balance, "The balance threshold", 1, "appdb.threshold_balance")
    days = thresholds.runway_days_below
    if days is not None:
        core.count(days, "The runway threshold (days)", 1, "appdb.threshold_runway")
    k = thresholds.usage_multiple
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k) or k <= 0:
            raise AppDBError(
                f"The usage multiple must be a number above 0, got {k!r}.", "appdb.threshold_multiple", value=repr(k)
            )
        k = float(k)
    return Thresholds(balance, days, k)


def _optional(value: Any, kind: type) -> Any:
    return None if value is None or pd.isna(value) else kind(value)


class Alerts(Part):
    """Thresholds, alert states and notifications in the app database."""

    # --- thresholds -------------------------------------------------------------------------

    def set_thresholds(
        self, account_id: str, thresholds: Thresholds, changed_by: str, now: datetime | None = None
    ) -> bool:
        """Store a new set for the account; False (nothing written) when it equals the current one."""
        account_id = core.text(account_id, "account_id")
        changed_by = core.text(changed_by, "changed_by")
        new = checked_thresholds(thresholds)
        at = core.moment(now)
        with core.WRITE_LOCK:
            old = self.thresholds(account_id)
            if old == new:
                return False
            with self._file.cursor() as cur, core.transaction(cur):
                self._insert_thresholds(cur, account_id, new, changed_by, at)
                # The shared audit log too (who, when, old, new), in the same transaction.
                detail = json.dumps({"old": asdict(old), "new": asdict(new)}, sort_keys=True)
                audit.record(
                    cur, AuditAction.ALERT_THRESHOLDS, changed_by, account_id=account_id, detail=detail, now=at
                )
        return True

    def _insert_thresholds(
        self, cur: duckdb.DuckDBPyConnection, account_id: str, new: Thresholds, changed_by: str, at: datetime
    ) -> None:
        row = cur.execute(query_text("alerts/next_threshold_seq")).fetchone()
        cur.execute(
            query_text("alerts/insert_thresholds"),
            {
                "seq": int(row[0]) if row else 1,
                "account_id": account_id,
                "balance_below": new.balance_below,
                "runway_days_below": new.runway_days_below,
                "usage_multiple": new.usage_multiple,
                "changed_by": changed_by,
                "changed_at": at,
            },
        )

    def all_thresholds(self) -> dict[str, Thresholds]:
        """The current set of every account that ever had one (all-off sets included)."""
        return {
            row["account_id"]: Thresholds(
                _optional(row["balance_below"], int),
                _optional(row["runway_days_below"], int),
                _optional(row["usage_multiple"], float),
            )
            for row in self._file.rows(query_text("alerts/current_thresholds"), {"account_id": None})
        }

    def thresholds(self, account_id: str) -> Thresholds:
        """The account's current set (all off when never set)."""
        rows = self._file.rows(query_text("alerts/current_thresholds"), {"account_id": account_id})
        if not rows:
            return Thresholds()
        row = rows[0]
        return Thresholds(
            _optional(row["balance_below"], int),
            _optional(row["runway_days_below"], int),
            _optional(row["usage_multiple"], float),
        )

    def threshold_changes(self, account_id: str | None = None) -> pd.DataFrame:
        """Every change (one account, or all), newest first: when, who, account, old and new of each threshold."""
        return self._file.frame(query_text("alerts/threshold_changes"), {"account_id": account_id})

    # --- states and notifications -----------------------------------------------------------

    def states(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(account_id, rule) -> its latest event (state, event_id, value, threshold, event_at)."""
        return {(row["account_id"], row["rule"]): row for row in self._file.rows(query_text("alerts/states"), {})}

    def record_changes(self, changes: list[Change], receivers: list[str], now: datetime | None = None) -> list[str]:
        """Store each change as an event with one outbox row per receiver, in one transaction; returns the event ids."""
        at = core.moment(now)
        ids: list[str] = []
        if not changes:
            return ids
        with core.WRITE_LOCK, self._file.cursor() as cur, core.transaction(cur):
            row = cur.execute(query_text("alerts/next_event_seq")).fetchone()
            seq = int(row[0]) if row else 1
            for change in changes:
                core.choice(change.rule, "rule", RULES)
                core.choice(change.state, "state", STATES)
                event_id = self._file.new_id(at)
                cur.execute(
                    query_text("alerts/insert_event"),
                    {
                        "seq": seq,
                        "event_id": event_id,
                        "account_id": change.account_id,
                        "rule": change.rule,
                        "state": change.state,
                        "value": change.value,
                        "threshold": change.threshold,
                        "detail": json.dumps(change.detail, sort_keys=True, default=str),
                        "event_at": at,
                    },
                )
                for receiver in receivers:
                    cur.execute(
                        query_text("alerts/insert_outbox"),
                        {"event_id": event_id, "receiver": receiver, "created_at": at},
                    )
                ids.append(event_id)
                seq += 1
        return ids

    def undelivered(self) -> list[str]:
        """The events no receiver has had yet, oldest first."""
        return [row["event_id"] for row in self._file.rows(query_text("alerts/undelivered"), {})]

    def bind(self, receivers: list[str], now: datetime | None = None) -> int:
        """Give every event no receiver has had an outbox row for each of `receivers`; returns the rows added."""
        if not receivers:
            return 0
        at = core.moment(now)
        added = 0
        with core.WRITE_LOCK, self._file.cursor() as cur, core.transaction(cur):
            events = [row[0] for row in cur.execute(query_text("alerts/undelivered")).fetchall()]
            for event_id in events:
                have = {
                    row[0] for row in cur.execute(query_text("alerts/outbox_of"), {"event_id": event_id}).fetchall()
                }
                for receiver in receivers:
                    if receiver not in have:
                        cur.execute(
                            query_text("alerts/insert_outbox"),
                            {"event_id": event_id, "receiver": receiver, "created_at": at},
                        )
                        added += 1
        return added

    def pending(self, receivers: list[str] | None = None) -> list[dict[str, Any]]:
        """Notifications not yet delivered, per receiver oldest first (only `receivers` when given)."""
        rows = self._file.rows(query_text("alerts/pending"), {})
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        return [row for row in rows if receivers is None or row["receiver"] in receivers]

    def record_delivery(
        self,
        event_id: str,
        receiver: str,
        ok: bool,
        attempts: int,
        error: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Append one delivery attempt (ok, or the error that kept it pending)."""
        with core.WRITE_LOCK, self._file.cursor() as cur:
            cur.execute(
                query_text("alerts/insert_delivery"),
                {
                    "event_id": event_id,
                    "receiver": receiver,
                    "attempted_at": core.moment(now),
                    "ok": bool(ok),
                    "attempts": int(attempts),
                    "error": None if error is None else str(error)[:MAX_ERROR],
                },
            )

    def receiver_status(self) -> pd.DataFrame:
        """Per receiver: last attempt and whether it worked, last failure and its error, notifications pending."""
        return self._file.frame(query_text("alerts/receiver_status"), {})
