"""The full token ledger of one account (SPEC §4, §5 /token-history): filters, totals, paging.

The ledger is the store's `ledger` view (exports plus the app's own entries, one row per
`txn_id`), newest first: `created_at` descending, ties by `txn_id` descending. Each row carries
`running_balance`, the account's balance right after that entry, computed over the whole,
unfiltered ledger in SQL: the page's rows are found first (filters, LIMIT/OFFSET), then the
balance of that stretch of the ledger (ledger_balances.sql), so a page never loads the ledger
into Python and never runs a window over all of it.

Filters are values bound as `$named` parameters; "any" is a null parameter. Types and
methods must be members of the allowlists below: nothing a person types reaches SQL text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from token_analytics.db import query_text
from token_analytics.engine.periods import local_midnight
from token_analytics.engine.store import Store
from token_analytics.engine.vocabulary import PaymentMethod, TxnType

TYPES = tuple(TxnType)
# Self-hosted deployments are not billed: their ledger has no recharges (DECISIONS.md).
BILLING_TYPES = frozenset({TxnType.RECHARGE})
METHODS = tuple(PaymentMethod)
PAGE_SIZE = 50
EXPORT_BATCH_ROWS = 50_000
COLUMNS = (
    "txn_id",
    "created_at",
    "type",
    "amount",
    "running_balance",
    "user_id",
    "payment_method",
    "description",
    "source",
)


@dataclass(frozen=True)
class LedgerFilter:
    """What a person picked on /token-history; empty or None means "any"."""

    types: tuple[str, ...] = ()
    start_day: date | None = None  # first local day, inclusive
    end_day: date | None = None  # last local day, inclusive
    user_id: str | None = None
    payment_method: str | None = None

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.types if kind not in TYPES]
        if unknown:
            raise ValueError(f"unknown transaction type(s) {unknown}; use {', '.join(TYPES)}")
        if self.payment_method is not None and self.payment_method not in METHODS:
            raise ValueError(f"unknown payment method {self.payment_method!r}; use {', '.join(METHODS)}")
        if self.start_day and self.end_day and self.start_day > self.end_day:
            raise ValueError("the period starts after it ends")

    def params(self, zone: ZoneInfo) -> dict[str, object]:
        """The bound parameters: whole local days in `zone`, half-open [start, end)."""
        return {
            # In allowlist order, so the same choice always binds the same value.
            "types": [kind for kind in TYPES if kind in self.types] or None,
            "start_at": local_midnight(self.start_day, zone) if self.start_day else None,
            "end_at": local_midnight(self.end_day + timedelta(days=1), zone) if self.end_day else None,
            "user_id": self.user_id or None,
            "payment_method": self.payment_method,
        }


@dataclass(frozen=True)
class Totals:
    """Entries and summed amounts per type of the filtered ledger (all five types)."""

    amounts: dict[str, int]
    entries: dict[str, int]

    @property
    def count(self) -> int:
        return sum(self.entries.values())

    @property
    def net(self) -> int:
        return sum(self.amounts.values())


def totals(store: Store, account_id: str, flt: LedgerFilter) -> Totals:
    frame = store.run("ledger_totals", account_id=account_id, **flt.params(store.settings.zone))
    return Totals(
        amounts={row.type: int(row.amount) for row in frame.itertuples()},
        entries={row.type: int(row.entries) for row in frame.itertuples()},
    )


def page_count(count: int, page_size: int = PAGE_SIZE) -> int:
    """Pages needed for `count` rows; at least 1 (an empty ledger is one empty page)."""
    return max(1, math.ceil(count / page_size))


def clamp_page(page: int, count: int, page_size: int = PAGE_SIZE) -> int:
    """`page` (0-based) kept within the pages that exist."""
    return min(max(page, 0), page_count(count, page_size) - 1)


def page(store: Store, account_id: str, flt: LedgerFilter, number: int, page_size: int = PAGE_SIZE) -> pd.DataFrame:
    """Rows of page `number` (0-based) of the filtered ledger, newest first, with the running balance."""
    if number < 0 or page_size < 1:
        raise ValueError("the page number must be >= 0 and the page size >= 1")
    params = flt.params(store.settings.zone)
    rows = store.run("ledger_page", account_id=account_id, limit=page_size, offset=number * page_size, **params)
    if rows.empty:
        rows.insert(COLUMNS.index("running_balance"), "running_balance", pd.Series(dtype="int64"))
        return rows
    # Two steps, so the balance query gets the page's bounds as constants and reads only that
    # stretch of the ledger (plus one sum of everything older), not a window over all of it.
    newest, oldest = rows.iloc[0], rows.iloc[-1]
    balances = store.run(
        "ledger_balances",
        account_id=account_id,
        first_at=oldest["created_at"].to_pydatetime(),
        first_txn_id=oldest["txn_id"],
        last_at=newest["created_at"].to_pydatetime(),
        last_txn_id=newest["txn_id"],
    )
    merged = rows.merge(balances, on="txn_id", how="left", validate="one_to_one")
    return merged[list(COLUMNS)]


def batches(
    store: Store, account_id: str, flt: LedgerFilter, batch_rows: int = EXPORT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Every row of the filtered ledger with its running balance, newest first, in Arrow batches (the CSV)."""
    params = {"account_id": account_id, **flt.params(store.settings.zone)}
    # A cursor of its own: the caller may run other queries on this thread's cursor meanwhile.
    cur = store.cursor().cursor()
    try:
        yield from cur.sql(query_text("ledger_export"), params=params).to_arrow_reader(batch_rows)
    finally:
        cur.close()


def types_for(saas: bool) -> tuple[str, ...]:
    """The transaction types a ledger shows in a mode: every type in SaaS, no recharges self-hosted."""
    return TYPES if saas else tuple(kind for kind in TYPES if kind not in BILLING_TYPES)


def for_mode(flt: LedgerFilter, saas: bool) -> LedgerFilter:
    """`flt` as a mode allows it: self-hosted, "any type" means every type but the billing ones."""
    if saas:
        return flt
    allowed = types_for(saas)
    kept = tuple(kind for kind in (flt.types or allowed) if kind in allowed)
    if not kept:
        raise ValueError("a self-hosted ledger has no recharges; pick another type")
    return replace(flt, types=kept)


def members(store: Store, account_id: str, user_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """user_id and display_name of everyone the ledger can be filtered by.

    The name is the member's display_name from the export, else `user_names[user_id]` (the
    sign-in username -> person's name of the auth file: the app's own entries carry the
    username), else the user_id.
    """
    user_names = dict(user_names or {})
    return store.run(
        "ledger_members",
        account_id=account_id,
        app_user_ids=list(user_names),
        app_user_names=list(user_names.values()),
    )


def member_names(store: Store, account_id: str, user_names: Mapping[str, str] | None = None) -> dict[str, str]:
    """user_id -> the name to show, for every user id in the account's ledger and members (see `members`)."""
    people = members(store, account_id, user_names)
    return dict(zip(people["user_id"].tolist(), people["display_name"].tolist(), strict=True))


def balance(store: Store, account_id: str) -> int:
    """The running balance of the newest entry (= the sum of every entry; 0 for an empty ledger)."""
    newest = page(store, account_id, LedgerFilter(), 0, page_size=1)
    return int(newest["running_balance"].iloc[0]) if len(newest) else 0
