"""The full ledger (/token-history): order, filters, paging, totals, running balance, CSV export.

Hand-computed on the edge-case export (tests/conftest.py). acct-a's ledger, newest first:

| txn_id  | type       | amount | local time (Asia/Shanghai) | balance after |
|---------|------------|--------|----------------------------|---------------|
| t-adj   | ADJUSTMENT |     -8 | 2026-11-01 09:30           |           300 |
| t-use   | CONSUME    |  -1212 | 2026-11-01 09:00 (u1)      |           308 |
| t-ref   | REFUND     |    +20 | 2026-11-01 09:00           |          1520 |
| t-rech  | RECHARGE   |   +500 | 2026-10-15 08:00 (ALIPAY)  |          1500 |
| t-bonus | BONUS      |  +1000 | 2026-10-01 08:00           |          1000 |

t-use and t-ref share a time: newest-first puts t-use first (txn_id descending), so in
ledger order (oldest first) t-ref comes before t-use. t-rech is in two files, counted once.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from tests import builders as b
from tests.builders import tx, utc
from tests.conftest import reopen
from token_analytics.appdb import AppDB
from token_analytics.engine import figures, ledger, ledger_csv
from token_analytics.engine.ledger import LedgerFilter
from token_analytics.engine.store import Store

ANY = LedgerFilter()
NEWEST_FIRST = ["t-adj", "t-use", "t-ref", "t-rech", "t-bonus"]
BALANCES = [300, 308, 1520, 1500, 1000]
FORMULAS = ("@x", "+x", "-x", "=HYPERLINK(1)")
NOW = utc("2026-11-01T02:00:00+00:00")


def ids(frame) -> list[str]:
    return frame["txn_id"].tolist()


def all_rows(store: Store, account_id: str, flt: LedgerFilter = ANY):
    return ledger.page(store, account_id, flt, 0, page_size=1_000_000)


# --- order, running balance, reconciliation -------------------------------------------------


def test_newest_first_with_running_balance(edge_store: Store) -> None:
    rows = all_rows(edge_store, "acct-a")
    assert ids(rows) == NEWEST_FIRST
    assert rows["amount"].tolist() == [-8, -1212, 20, 500, 1000]
    assert rows["running_balance"].tolist() == BALANCES
    assert rows["type"].tolist() == ["ADJUSTMENT", "CONSUME", "REFUND", "RECHARGE", "BONUS"]
    assert set(rows["source"]) == {"export"}


def test_overdrawn_account_balance_goes_negative(edge_store: Store) -> None:
    rows = all_rows(edge_store, "acct-over")
    assert ids(rows) == ["o-use", "o-bonus"]
    assert rows["running_balance"].tolist() == [-150, 100]
    assert ledger.balance(edge_store, "acct-over") == -150


def test_empty_and_unknown_accounts_have_an_empty_ledger(edge_store: Store) -> None:
    for account in ("acct-empty", "nobody"):
        assert all_rows(edge_store, account).empty
        assert ledger.balance(edge_store, account) == 0
        assert ledger.totals(edge_store, account, LedgerFilter()).count == 0


def _reconciles(store: Store) -> None:
    for account in store.account_ids():
        rows = all_rows(store, account)
        usage = figures.token_usage(store, account, "saas", 0)
        last = int(rows["running_balance"].iloc[0]) if len(rows) else 0
        assert last == int(rows["amount"].sum()) == usage.remaining == ledger.balance(store, account), account
        assert ledger.totals(store, account, LedgerFilter()).net == usage.remaining, account


def test_running_balance_reconciles_with_token_usage_for_every_account(edge_store: Store) -> None:
    assert len(edge_store.account_ids()) >= 4
    _reconciles(edge_store)


# --- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (LedgerFilter(types=("CONSUME",)), ["t-use"]),
        (LedgerFilter(types=("BONUS", "REFUND")), ["t-ref", "t-bonus"]),
        (LedgerFilter(types=("ADJUSTMENT", "RECHARGE")), ["t-adj", "t-rech"]),
        (LedgerFilter(user_id="u1"), ["t-use"]),
        (LedgerFilter(user_id="u2"), []),
        (LedgerFilter(payment_method="ALIPAY"), ["t-rech"]),
        (LedgerFilter(payment_method="WECHAT"), []),
        (LedgerFilter(start_day=date(2026, 11, 1), end_day=date(2026, 11, 1)), ["t-adj", "t-use", "t-ref"]),
        (LedgerFilter(start_day=date(2026, 10, 1), end_day=date(2026, 10, 1)), ["t-bonus"]),
        (LedgerFilter(start_day=date(2026, 10, 2)), ["t-adj", "t-use", "t-ref", "t-rech"]),
        (LedgerFilter(end_day=date(2026, 10, 31)), ["t-rech", "t-bonus"]),
        (LedgerFilter(types=("CONSUME", "REFUND"), start_day=date(2026, 11, 1), user_id="u1"), ["t-use"]),
    ],
)
def test_filters_keep_the_unfiltered_running_balance(edge_store: Store, flt: LedgerFilter, expected: list) -> None:
    rows = all_rows(edge_store, "acct-a", flt)
    assert ids(rows) == expected
    by_id = dict(zip(NEWEST_FIRST, BALANCES, strict=True))
    assert rows["running_balance"].tolist() == [by_id[txn] for txn in expected]
    assert ledger.totals(edge_store, "acct-a", flt).count == len(expected)


def test_period_is_whole_local_days_half_open(edge_store: Store) -> None:
    app = AppDB(edge_store.cursor())
    # exactly local midnight starting 1 Nov (16:00 UTC on 31 Oct): belongs to 1 Nov, not 31 Oct
    app.post_adjustment("acct-a", 5, "midnight", "admin", now=utc("2026-10-31T16:00:00+00:00"), adjustment_id="mid")
    nov_1 = all_rows(edge_store, "acct-a", LedgerFilter(start_day=date(2026, 11, 1), end_day=date(2026, 11, 1)))
    oct_31 = all_rows(edge_store, "acct-a", LedgerFilter(start_day=date(2026, 10, 31), end_day=date(2026, 10, 31)))
    assert ids(nov_1) == ["t-adj", "t-use", "t-ref", "app-adj-mid"]
    assert ids(oct_31) == []
    params = LedgerFilter(start_day=date(2026, 10, 31), end_day=date(2026, 10, 31)).params(ZoneInfo("Asia/Shanghai"))
    assert (params["start_at"], params["end_at"]) == (
        utc("2026-10-30T16:00:00+00:00"),
        utc("2026-10-31T16:00:00+00:00"),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"types": ("GIFT",)},
        {"types": ("consume",)},
        {"payment_method": "PAYPAL"},
        {"payment_method": "' or 1=1 --"},
        {"start_day": date(2026, 11, 2), "end_day": date(2026, 11, 1)},
    ],
)
def test_filter_values_outside_the_allowlists_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LedgerFilter(**kwargs)


def test_a_hostile_member_id_is_just_a_value(edge_store: Store) -> None:
    assert all_rows(edge_store, "acct-a", LedgerFilter(user_id="' or 1=1 --")).empty


# --- paging and totals ----------------------------------------------------------------------


def test_paging_boundaries(edge_store: Store) -> None:
    pages = [ids(ledger.page(edge_store, "acct-a", LedgerFilter(), n, page_size=2)) for n in range(4)]
    assert pages == [["t-adj", "t-use"], ["t-ref", "t-rech"], ["t-bonus"], []]
    assert ids(ledger.page(edge_store, "acct-a", LedgerFilter(), 0, page_size=5)) == NEWEST_FIRST
    assert ids(ledger.page(edge_store, "acct-a", LedgerFilter(), 1, page_size=5)) == []
    assert ledger.page(edge_store, "acct-a", LedgerFilter(), 1, page_size=2)["running_balance"].tolist() == [1520, 1500]
    assert [ledger.page_count(n, 2) for n in (0, 1, 2, 3, 4, 5)] == [1, 1, 1, 2, 2, 3]
    assert [ledger.clamp_page(p, 5, 2) for p in (-1, 0, 2, 3, 99)] == [0, 0, 2, 2, 2]
    with pytest.raises(ValueError):
        ledger.page(edge_store, "acct-a", LedgerFilter(), -1)


def test_totals_per_type_of_the_filtered_set(edge_store: Store) -> None:
    everything = ledger.totals(edge_store, "acct-a", LedgerFilter())
    assert everything.amounts == {"CONSUME": -1212, "RECHARGE": 500, "BONUS": 1000, "REFUND": 20, "ADJUSTMENT": -8}
    assert everything.entries == {"CONSUME": 1, "RECHARGE": 1, "BONUS": 1, "REFUND": 1, "ADJUSTMENT": 1}
    assert (everything.count, everything.net) == (5, 300)
    november = ledger.totals(edge_store, "acct-a", LedgerFilter(start_day=date(2026, 11, 1)))
    assert november.amounts == {"CONSUME": -1212, "RECHARGE": 0, "BONUS": 0, "REFUND": 20, "ADJUSTMENT": -8}
    assert (november.count, november.net) == (3, -1200)
    assert list(november.amounts) == list(ledger.TYPES)


def test_members_include_ids_seen_only_in_the_ledger(edge_store: Store) -> None:
    AppDB(edge_store.cursor()).create_order("acct-a", "manager", "recharge", 1000, 100, "WECHAT", now=NOW)
    app = AppDB(edge_store.cursor())
    order = app.orders_for("acct-a").iloc[0]
    app.mark_paid(order["order_id"], "sandbox", now=NOW)
    people = ledger.members(edge_store, "acct-a")
    assert list(zip(people["user_id"], people["display_name"], strict=True)) == [
        ("u1", "Alice"),
        ("u2", "Bob"),
        ("manager", "manager"),
    ]


def test_app_users_are_named_from_the_sign_in_file_and_members_keep_their_exported_name(edge_store: Store) -> None:
    """Failed before the fix (members() took no names): the app's entries showed the username."""
    app = AppDB(edge_store.cursor())
    order = app.create_order("acct-a", "manager", "recharge", 1000, 100, "WECHAT", now=NOW)
    app.mark_paid(order.order_id, "sandbox", now=NOW)
    names = {"manager": "Demo Manager", "u1": "Not Alice", "nobody": "Never Seen"}
    people = ledger.members(edge_store, "acct-a", names)
    assert list(zip(people["user_id"], people["display_name"], strict=True)) == [
        ("u1", "Alice"),  # the export's display_name wins
        ("u2", "Bob"),
        ("manager", "Demo Manager"),  # ordered by the name shown
    ]
    assert ledger.member_names(edge_store, "acct-a", {"manager": "  "}) == {
        "u1": "Alice",
        "u2": "Bob",
        "manager": "manager",  # a blank name falls back to the id
    }


# --- the app's own entries ------------------------------------------------------------------


def test_app_entries_appear_once_and_a_re_export_does_not_double_them(edge_store: Store) -> None:
    app = AppDB(edge_store.cursor())
    order = app.create_order("acct-a", "manager", "recharge", 100_000, 1000, "ALIPAY", now=NOW)
    txn = app.mark_paid(order.order_id, "sandbox", now=NOW)
    assert app.mark_paid(order.order_id, "sandbox", now=NOW) == txn  # a second click
    app.post_adjustment("acct-a", -50, "correction", "admin", now=NOW, adjustment_id="adj-1")
    app.post_adjustment("acct-a", -50, "correction", "admin", now=NOW, adjustment_id="adj-1")  # double submit

    rows = all_rows(edge_store, "acct-a")
    assert ids(rows).count(txn) == 1
    assert ids(rows).count("app-adj-adj-1") == 1
    assert ledger.balance(edge_store, "acct-a") == 300 + 100_000 - 50
    _reconciles(edge_store)

    # a later export carries the app's order entry: the export row replaces it, nothing doubles
    b.transactions(
        edge_store.settings.data_dir,
        "transactions/2026-12-reexport.parquet",
        [tx(txn, "acct-a", "RECHARGE", 100_000, NOW, "ALIPAY", "Recharge (re-exported)", "manager")],
    )
    edge_store.ingest()
    rows = all_rows(edge_store, "acct-a")
    assert ids(rows).count(txn) == 1
    assert rows.loc[rows["txn_id"] == txn, "source"].item() == "export"
    assert ledger.balance(edge_store, "acct-a") == 300 + 100_000 - 50
    _reconciles(edge_store)


# --- CSV export -----------------------------------------------------------------------------


def _csv(store: Store, account_id: str, flt: LedgerFilter = ANY) -> list[list[str]]:
    data = ledger_csv.ledger_csv(store, account_id, flt)
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_neutralises_formulas_and_keeps_numbers(edge_store: Store) -> None:
    app = AppDB(edge_store.cursor())
    # (a reason is stripped when stored, so tab and CR starts are checked in test_neutralise)
    for n, reason in enumerate(FORMULAS):
        app.post_adjustment("acct-a", -(n + 1), reason, "admin", now=NOW, adjustment_id=f"f{n}")
    header, *rows = _csv(edge_store, "acct-a")
    assert header == list(ledger_csv.HEADER)
    by_id = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert len(rows) == 9
    assert by_id["t-adj"]["description"] == "'=1+1"
    assert by_id["t-adj"]["amount"] == "-8"  # a plain number, not text
    assert by_id["t-adj"]["running_balance"] == "300"
    assert by_id["t-adj"]["created_at"] == "2026-11-01T09:30:00+08:00"
    assert by_id["t-rech"]["payment_method"] == "ALIPAY"
    assert by_id["t-bonus"]["user_id"] == by_id["t-bonus"]["member_name"] == ""
    for n, reason in enumerate(FORMULAS):
        assert by_id[f"app-adj-f{n}"]["description"] == f"'{reason} (adjustment by admin)"
        assert by_id[f"app-adj-f{n}"]["amount"] == str(-(n + 1))
    numeric = [header.index(name) for name in ("amount", "running_balance")]
    for row in rows:
        for index, cell in enumerate(row):
            if index in numeric:
                int(cell)  # numeric columns parse as whole numbers
            elif index:  # created_at starts with a digit
                assert not cell.startswith(ledger_csv.FORMULA_STARTS)


def test_csv_names_each_member_and_keeps_the_codes(edge_store: Store) -> None:
    """Failed before the fix: the CSV had user_id but no member_name column."""
    app = AppDB(edge_store.cursor())
    order = app.create_order("acct-a", "manager", "recharge", 1000, 100, "BANK_TRANSFER", now=NOW)
    txn = app.mark_paid(order.order_id, "sandbox", now=NOW)
    order = app.create_order("acct-a", "mallory", "recharge", 7, 100, "WECHAT", now=NOW)
    evil = app.mark_paid(order.order_id, "sandbox", now=NOW)
    data = ledger_csv.ledger_csv(edge_store, "acct-a", ANY, {"manager": "Demo Manager", "mallory": "=HYPERLINK(1)"})
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header == [
        "created_at",
        "txn_id",
        "type",
        "amount",
        "running_balance",
        "user_id",
        "member_name",
        "payment_method",
        "description",
    ]
    by_id = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert (by_id["t-use"]["user_id"], by_id["t-use"]["member_name"]) == ("u1", "Alice")
    assert (by_id[txn]["user_id"], by_id[txn]["member_name"]) == ("manager", "Demo Manager")
    assert (by_id[txn]["type"], by_id[txn]["payment_method"]) == ("RECHARGE", "BANK_TRANSFER")  # codes, not labels
    assert by_id[evil]["member_name"] == "'=HYPERLINK(1)"  # a name is neutralised like any text
    # without a sign-in file the username is the name, as on the page
    _, *plain = _csv(edge_store, "acct-a")
    assert {row[1]: row[6] for row in plain}[txn] == "manager"


def test_self_hosted_csv_has_no_billing_columns_or_recharges(edge_store: Store) -> None:
    """Failed before the fix: the self-hosted CSV had running_balance, payment_method and the recharge."""
    edge_store.settings = reopen(edge_store, mode="self-hosted")  # the same data, read by a self-hosted server
    header, *rows = _csv(edge_store, "acct-a")
    assert header == ["created_at", "txn_id", "type", "amount", "user_id", "member_name", "description"]
    assert [row[1] for row in rows] == ["t-adj", "t-use", "t-ref", "t-bonus"]
    _, *bonus = _csv(edge_store, "acct-a", LedgerFilter(types=("BONUS", "RECHARGE")))
    assert [row[1] for row in bonus] == ["t-bonus"]
    with pytest.raises(ValueError):
        ledger_csv.ledger_csv(edge_store, "acct-a", LedgerFilter(types=("RECHARGE",)))


def test_csv_is_the_filtered_set_in_ledger_order(edge_store: Store) -> None:
    _, *rows = _csv(edge_store, "acct-a", LedgerFilter(start_day=date(2026, 11, 1)))
    assert [row[1] for row in rows] == ["t-adj", "t-use", "t-ref"]
    assert [row[4] for row in rows] == ["300", "308", "1520"]
    _, *none = _csv(edge_store, "acct-a", LedgerFilter(types=("BONUS",), payment_method="WECHAT"))
    assert none == []


def test_csv_batches_cover_every_row_once(edge_store: Store) -> None:
    batches = list(ledger.batches(edge_store, "acct-a", LedgerFilter(), batch_rows=2))
    assert [txn for batch in batches for txn in batch.column("txn_id").to_pylist()] == NEWEST_FIRST
    assert [b for batch in batches for b in batch.column("running_balance").to_pylist()] == BALANCES


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("@x", "'@x"), ("+x", "'+x"), ("-x", "'-x"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b")],
)
def test_neutralise(value: str, expected: str) -> None:
    assert ledger_csv.neutralise(value) == expected
    assert ledger_csv.neutralise(None) == ""
