"""What the app writes (SPEC §6): orders, exactly-once crediting, adjustments, prices, payments."""

from __future__ import annotations

import ast
import base64
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import segno

from token_analytics import appdb as appdb_module
from token_analytics.accounts import preferences as preferences_module
from token_analytics.appdb import AppDB, AppDBError, OrderStateError, UnknownOrderError, open_app_db
from token_analytics.billing import adjustments as adjustments_module
from token_analytics.billing import ledger_entries as ledger_entries_module
from token_analytics.billing import orders as orders_module
from token_analytics.billing import payments as payments_module
from token_analytics.billing import plan_requests as plan_requests_module
from token_analytics.billing.payments import PaymentError, SandboxProvider, get_provider
from token_analytics.billing.prices import PricesError, load_prices
from token_analytics.db import appfile as core_module
from token_analytics.db import queries as queries_module

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=8)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def balance(db: AppDB, account_id: str) -> int:
    return int(db.ledger_entries(account_id)["amount"].sum())


def recharge(db: AppDB, method: str = "WECHAT", tokens: int = 100_000, account_id: str = "acct-001") -> str:
    return db.create_order(account_id, "manager", "recharge", tokens, 1000, method, now=NOW).order_id


# Orders and exactly-once crediting ---------------------------------------------


def test_new_order_is_pending_with_reference(db: AppDB) -> None:
    order = db.create_order("acct-001", "manager", "recharge", 100_000, 1000, "WECHAT", now=NOW)
    assert order.status == "PENDING"
    assert re.fullmatch(r"TAC-[2-9A-HJ-NP-Z]{8}", order.reference)
    stored = db.order(order.order_id)
    assert stored is not None
    assert (stored.status, stored.tokens, stored.price_cents, stored.method) == ("PENDING", 100_000, 1000, "WECHAT")
    assert stored.created_at == NOW
    assert db.order("no-such-order") is None
    assert db.ledger_entries("acct-001").empty


def test_mark_paid_twice_credits_once(db: AppDB) -> None:
    order_id = recharge(db)
    paid_at = NOW + timedelta(minutes=2)
    first = db.mark_paid(order_id, "sandbox", now=paid_at)
    second = db.mark_paid(order_id, "sandbox", now=paid_at + timedelta(minutes=1))
    assert first == second == f"app-order-{order_id}"
    entries = db.ledger_entries("acct-001")
    assert len(entries) == 1
    entry = entries.iloc[0]
    assert (entry["type"], entry["amount"], entry["payment_method"], entry["source"]) == (
        "RECHARGE",
        100_000,
        "WECHAT",
        "order",
    )
    assert entry["description"] == f"Recharge 100,000 tokens (order {order_id})"
    assert entry["created_at"] == paid_at
    assert balance(db, "acct-001") == 100_000
    order = db.order(order_id)
    assert order is not None and order.status == "PAID" and order.status_at == paid_at
    events = db.connection.execute(
        "select status from app.order_events where order_id = $id order by step", {"id": order_id}
    ).fetchall()
    assert events == [("PENDING",), ("PAID",)]


def _race(threads: int, action: object) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(threads)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(action())  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, errors


def _assert_credited_once(db: AppDB, order_id: str) -> None:
    assert len(db.ledger_entries("acct-001")) == 1
    paid = db.connection.execute(
        "select count(*) from app.order_events where order_id = $id and status = 'PAID'", {"id": order_id}
    ).fetchone()
    assert paid == (1,)
    assert balance(db, "acct-001") == 100_000


def test_fifty_threads_paying_at_once_credit_once(db: AppDB) -> None:
    order_id = recharge(db)
    results, errors = _race(50, lambda: db.mark_paid(order_id, "sandbox"))
    assert errors == []
    assert set(results) == {f"app-order-{order_id}"}
    _assert_credited_once(db, order_id)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_keys_alone_credit_once_without_the_lock(db: AppDB, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lock is a convenience; the primary keys must hold on their own.
    monkeypatch.setattr(core_module, "WRITE_LOCK", _NoLock())
    order_id = recharge(db)
    results, errors = _race(50, lambda: db.mark_paid(order_id, "sandbox"))
    assert errors == []
    assert set(results) == {f"app-order-{order_id}"}
    _assert_credited_once(db, order_id)


def test_duplicate_txn_id_is_refused_by_the_key(db: AppDB) -> None:
    order_id = recharge(db)
    txn_id = db.mark_paid(order_id, "sandbox")
    with pytest.raises(duckdb.ConstraintException):
        db.connection.execute(
            "insert into app.ledger_entries (txn_id, account_id, type, amount, created_at, source) "
            "values ($txn_id, 'acct-001', 'RECHARGE', 5, now(), 'order')",
            {"txn_id": txn_id},
        )


def test_cancelled_order_cannot_be_paid(db: AppDB) -> None:
    order_id = recharge(db)
    db.cancel(order_id, "manager", "changed my mind")
    with pytest.raises(OrderStateError, match="already cancelled"):
        db.mark_paid(order_id, "sandbox")
    with pytest.raises(OrderStateError, match="already cancelled"):
        db.cancel(order_id, "manager")
    assert db.ledger_entries("acct-001").empty
    order = db.order(order_id)
    assert order is not None and (order.status, order.status_note) == ("CANCELLED", "changed my mind")


def test_paid_order_cannot_be_cancelled(db: AppDB) -> None:
    order_id = recharge(db)
    db.mark_paid(order_id, "sandbox")
    with pytest.raises(OrderStateError, match="already paid"):
        db.cancel(order_id, "manager")
    assert balance(db, "acct-001") == 100_000


def test_unknown_order_is_refused(db: AppDB) -> None:
    with pytest.raises(UnknownOrderError):
        db.mark_paid("no-such-order", "sandbox")


def test_bank_transfer_waits_for_admin(db: AppDB) -> None:
    order_id = recharge(db, method="BANK_TRANSFER")
    with pytest.raises(PaymentError):
        SandboxProvider().simulate_payment(db, order_id)
    pending = db.pending_transfers()
    assert list(pending["order_id"]) == [order_id]
    assert db.ledger_entries("acct-001").empty

    txn_id = db.confirm_transfer(order_id, "admin", now=NOW + timedelta(days=1))
    assert txn_id == f"app-order-{order_id}"
    assert db.pending_transfers().empty
    order = db.order(order_id)
    assert order is not None and (order.status, order.status_by) == ("PAID", "admin")
    entry = db.ledger_entries("acct-001").iloc[0]
    assert (entry["payment_method"], entry["amount"]) == ("BANK_TRANSFER", 100_000)
    assert db.confirm_transfer(order_id, "admin") == txn_id  # a second click changes nothing
    assert balance(db, "acct-001") == 100_000


def test_reject_transfer_cancels(db: AppDB) -> None:
    order_id = recharge(db, method="BANK_TRANSFER")
    db.reject_transfer(order_id, "admin", "no money arrived")
    order = db.order(order_id)
    assert order is not None and (order.status, order.status_by, order.status_note) == (
        "CANCELLED",
        "admin",
        "no money arrived",
    )
    assert db.pending_transfers().empty
    with pytest.raises(OrderStateError):
        db.confirm_transfer(order_id, "admin")
    assert db.ledger_entries().empty


def test_decided_transfers_are_every_accounts_newest_decision_first(db: AppDB) -> None:
    confirmed = recharge(db, method="BANK_TRANSFER", account_id="acct-001")
    rejected = recharge(db, method="BANK_TRANSFER", account_id="acct-002")
    recharge(db, method="BANK_TRANSFER", account_id="acct-003")  # still pending: not a decision
    SandboxProvider().simulate_payment(db, recharge(db, method="WECHAT"))  # paid, but not a transfer
    db.confirm_transfer(confirmed, "admin", now=NOW + timedelta(days=1))
    db.reject_transfer(rejected, "admin", "no money arrived", now=NOW + timedelta(days=2))
    decided = db.decided_transfers()
    assert list(zip(decided["order_id"], decided["account_id"], decided["status"], strict=True)) == [
        (rejected, "acct-002", "CANCELLED"),
        (confirmed, "acct-001", "PAID"),
    ]


def test_confirm_and_reject_need_a_bank_transfer(db: AppDB) -> None:
    order_id = recharge(db, method="ALIPAY")
    with pytest.raises(OrderStateError, match="not a bank transfer"):
        db.confirm_transfer(order_id, "admin")
    with pytest.raises(OrderStateError, match="not a bank transfer"):
        db.reject_transfer(order_id, "admin", "no")


def test_orders_for_lists_newest_first_per_account(db: AppDB) -> None:
    first = db.create_order("acct-001", "manager", "recharge", 100_000, 1000, "WECHAT", now=NOW)
    second = db.create_order("acct-001", "manager", "recharge", 500_000, 4500, "ALIPAY", now=NOW + timedelta(hours=1))
    db.create_order("acct-002", "other", "recharge", 100_000, 1000, "WECHAT", now=NOW)
    db.mark_paid(first.order_id, "sandbox")
    orders = db.orders_for("acct-001")
    assert list(orders["order_id"]) == [second.order_id, first.order_id]
    assert list(orders["status"]) == ["PENDING", "PAID"]
    assert orders["txn_id"].isna().tolist() == [True, False]


def test_create_order_validates(db: AppDB) -> None:
    with pytest.raises(AppDBError, match="method"):
        db.create_order("acct-001", "manager", "recharge", 100_000, 1000, "CASH")
    with pytest.raises(AppDBError, match="tokens"):
        db.create_order("acct-001", "manager", "recharge", 0, 1000, "WECHAT")
    with pytest.raises(AppDBError, match="plan"):
        db.create_order("acct-001", "manager", "plan", 0, 9900, "WECHAT")
    with pytest.raises(ValueError, match="timezone-aware"):
        db.create_order("acct-001", "manager", "recharge", 1000, 10, "WECHAT", now=datetime(2026, 11, 29))


def test_references_unique_across_1000_orders() -> None:
    # In memory: the point is uniqueness, and 1000 fsyncs would make the test slow.
    con = duckdb.connect()
    con.execute("attach ':memory:' as app")
    db = AppDB(con)
    orders = [db.create_order("acct-001", "manager", "recharge", 1000, 10, "BANK_TRANSFER") for _ in range(1000)]
    assert len({order.reference for order in orders}) == 1000
    assert len({order.order_id for order in orders}) == 1000
    stored = con.execute("select count(distinct reference), count(*) from app.orders").fetchone()
    assert stored == (1000, 1000)


def test_colliding_reference_is_drawn_again(db: AppDB, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["TAC-AAAAAAAA", "TAC-AAAAAAAA", "TAC-BBBBBBBB"])
    monkeypatch.setattr(orders_module, "new_reference", lambda: next(draws))
    first = db.create_order("acct-001", "manager", "recharge", 1000, 10, "BANK_TRANSFER")
    second = db.create_order("acct-001", "manager", "recharge", 1000, 10, "BANK_TRANSFER")
    assert (first.reference, second.reference) == ("TAC-AAAAAAAA", "TAC-BBBBBBBB")


# Plan orders and requests --------------------------------------------------------


def test_paid_plan_order_changes_plan_and_credits_included_tokens(db: AppDB) -> None:
    assert db.current_plan("acct-001", "free") == "free"
    order = db.create_order("acct-001", "manager", "plan", 1_200_000, 9900, "ALIPAY", plan="pro", now=NOW)
    assert db.current_plan("acct-001", "free") == "free"  # not until paid
    txn_id = db.mark_paid(order.order_id, "sandbox")
    assert txn_id == f"app-order-{order.order_id}"
    assert db.current_plan("acct-001", "free") == "pro"
    assert db.current_plan("acct-002", "free") == "free"
    entry = db.ledger_entries("acct-001").iloc[0]
    assert (entry["type"], entry["amount"]) == ("RECHARGE", 1_200_000)
    assert entry["description"] == f"Pro plan: 1,200,000 included tokens (order {order.order_id})"


def test_plan_without_included_tokens_records_no_entry(db: AppDB) -> None:
    order = db.create_order("acct-001", "manager", "plan", 0, 9900, "WECHAT", plan="pro")
    assert db.mark_paid(order.order_id, "sandbox") is None
    assert db.mark_paid(order.order_id, "sandbox") is None
    assert db.current_plan("acct-001", "free") == "pro"
    assert db.ledger_entries().empty


def test_plan_requests(db: AppDB) -> None:
    first = db.request_plan("acct-001", "manager", "enterprise", "enterprise_contact", "ops@example.com", now=NOW)
    second = db.request_plan("acct-002", "other", "pro", "upgrade", now=NOW + timedelta(hours=1))
    assert list(db.plan_requests()["request_id"]) == [second, first]
    mine = db.plan_requests("acct-001")
    assert list(mine["contact"]) == ["ops@example.com"]
    with pytest.raises(AppDBError):
        db.request_plan("acct-001", "manager", "gold", "upgrade")
    with pytest.raises(AppDBError):
        db.request_plan("acct-001", "manager", "pro", "enterprise_contact")


# Adjustments -------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "reason"), [(0, "typo"), (10, ""), (10, "   ")])
def test_adjustment_needs_amount_and_reason(db: AppDB, amount: int, reason: str) -> None:
    with pytest.raises(AppDBError) as caught:
        db.post_adjustment("acct-001", amount, reason, "admin")
    assert "\n" not in str(caught.value)
    assert db.adjustments().empty and db.ledger_entries().empty


def test_adjustment_recorded_with_who_and_when(db: AppDB) -> None:
    recharge_id = recharge(db)
    db.mark_paid(recharge_id, "sandbox")
    txn_id = db.post_adjustment("acct-001", -2500, "Refund of duplicate charge", "admin", now=NOW)
    assert txn_id.startswith("app-adj-")
    adjustment = db.adjustments("acct-001").iloc[0]
    assert (adjustment["amount"], adjustment["reason"], adjustment["created_by"]) == (
        -2500,
        "Refund of duplicate charge",
        "admin",
    )
    assert adjustment["created_at"] == NOW
    assert adjustment["txn_id"] == txn_id == "app-adj-" + adjustment["adjustment_id"]
    entry = db.ledger_entries("acct-001").set_index("txn_id").loc[txn_id]
    assert (entry["type"], entry["amount"], entry["source"]) == ("ADJUSTMENT", -2500, "adjustment")
    assert "admin" in entry["description"]
    assert balance(db, "acct-001") == 100_000 - 2500


def test_adjustment_with_same_id_posts_once(db: AppDB) -> None:
    first = db.post_adjustment("acct-001", 500, "Goodwill", "admin", adjustment_id="form-1")
    again = db.post_adjustment("acct-001", 500, "Goodwill", "admin", adjustment_id="form-1")
    assert first == again == "app-adj-form-1"
    assert balance(db, "acct-001") == 500
    with pytest.raises(AppDBError, match="different values"):
        db.post_adjustment("acct-001", 700, "Goodwill", "admin", adjustment_id="form-1")


# The file: attach, reopen, append-only --------------------------------------------


def test_data_survives_reopening_and_attaches_as_app(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "app.duckdb"
    first = open_app_db(path)
    order_id = recharge(first)
    first.mark_paid(order_id, "sandbox")
    first.close()

    con = duckdb.connect()
    con.execute("attach $path as app", {"path": str(path)})
    again = AppDB(con)  # the store's way: its own connection, the file attached as `app`
    assert balance(again, "acct-001") == 100_000
    assert con.execute("select count(*) from app.ledger_entries").fetchone() == (1,)
    con.close()


def test_schema_is_applied_once_per_version(db: AppDB) -> None:
    AppDB(db.connection)
    AppDB(db.connection)
    versions = db.connection.execute("select version from app.schema_versions").fetchall()
    assert versions == [(appdb_module.SCHEMA_VERSION,)]


def test_schema_parts_are_recorded_once_each(db: AppDB) -> None:
    AppDB(db.connection)
    parts = db.connection.execute("select part, version from app.schema_parts order by part").fetchall()
    assert parts == [
        ("adjustments", 1),
        ("alerts", 1),
        ("audit", 2),
        ("ledger_entries", 1),
        ("orders", 1),
        ("plan_requests", 1),
        ("preferences", 1),
        ("saved_views", 1),
        ("sessions", 1),
        ("throttle", 2),
    ]


def test_a_new_part_registers_its_tables_with_one_file_and_one_line(
    db: AppDB, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The hook every part (sessions, audit, ...) uses: queries/schema/<part>.sql and its line in SCHEMA_PARTS.
    shutil.copytree(queries_module.QUERIES_DIR, tmp_path / "queries")
    (tmp_path / "queries" / "schema" / "extra_part_for_test.sql").write_text(
        "create table if not exists app.extra_things (thing_id varchar primary key);\n", encoding="utf-8"
    )
    monkeypatch.setattr(queries_module, "QUERIES_DIR", tmp_path / "queries")
    queries_module.query_text.cache_clear()
    monkeypatch.setattr(core_module, "SCHEMA_PARTS", (*core_module.SCHEMA_PARTS, ("extra_part_for_test", 1)))
    try:
        AppDB(db.connection)
        AppDB(db.connection)
    finally:
        queries_module.query_text.cache_clear()
    assert db.connection.execute("select count(*) from app.extra_things").fetchone() == (0,)
    recorded = db.connection.execute("select version from app.schema_parts where part = 'extra_part_for_test'")
    assert recorded.fetchall() == [(1,)]


def test_first_release_file_gets_its_parts_recorded(tmp_path: Path) -> None:
    # A file written before schema parts existed has schema_versions only; opening it records the parts.
    path = tmp_path / "old.duckdb"
    old = open_app_db(path)
    recharge(old)
    old.connection.execute("drop table app.schema_parts")  # what a first-release file lacks
    old.close()
    again = open_app_db(path)
    assert len(again.orders_for("acct-001")) == 1
    parts = again.connection.execute("select count(*) from app.schema_parts").fetchone()
    assert parts == (len(core_module.SCHEMA_PARTS),)
    again.close()


def test_ids_are_dated_in_the_business_zone(tmp_path: Path) -> None:
    # 2026-11-30T17:46Z is 01:46 on 1 December in Shanghai: the order belongs to 1 December there.
    now = datetime(2026, 11, 30, 17, 46, tzinfo=UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert appdb_module.new_id(now, shanghai).startswith("20261201-")
    db = open_app_db(tmp_path / "app.duckdb", zone=shanghai)
    assert db.create_order("acct-001", "manager", "recharge", 1000, 10, "WECHAT", now=now).order_id.startswith(
        "20261201-"
    )
    assert db.request_plan("acct-001", "manager", "pro", "upgrade", now=now).startswith("20261201-")
    txn = db.post_adjustment("acct-001", 5, "Goodwill", "admin", now=now)
    assert txn.startswith("app-adj-20261201-")
    assert db.new_id(now).startswith("20261201-")
    db.close()


def test_appdb_needs_the_app_attachment() -> None:
    with pytest.raises(ValueError, match="not attached"):
        AppDB(duckdb.connect())
    with pytest.raises(ValueError, match="attached as 'app'"):
        AppDB(duckdb.connect(), schema="other")


FORBIDDEN_SQL = re.compile(r"\b(update|delete|truncate|drop|alter)\b|insert\s+or\s+replace|on\s+conflict", re.I)


def _sql_strings(path: Path) -> list[str]:
    """String literals of a module, docstrings excluded (they may mention the words), and the text of every
    queries/<folder>/<name>.sql file the module names (its statements live there)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]
    named = [
        (queries_module.QUERIES_DIR / f"{text}.sql").read_text(encoding="utf-8")
        for text in strings
        if queries_module.QUERY_NAME.match(text)
        and "/" in text
        and (queries_module.QUERIES_DIR / f"{text}.sql").is_file()
    ]
    return strings + named


BILLING_MODULES = [
    appdb_module,
    core_module,
    orders_module,
    ledger_entries_module,
    adjustments_module,
    plan_requests_module,
    preferences_module,
    payments_module,
]


@pytest.mark.parametrize("module", BILLING_MODULES)
def test_module_sql_is_append_only(module: object) -> None:
    strings = _sql_strings(Path(module.__file__))  # type: ignore[attr-defined]
    offending = [text for text in strings if FORBIDDEN_SQL.search(text)]
    assert offending == []


def test_each_appdb_method_is_its_parts_own_and_no_part_shadows_another() -> None:
    """AppDB inherits its parts: a name in two of them (or in AppDB itself) would silently pick one."""
    own = {name for name in vars(AppDB) if not name.startswith("__")}
    seen: dict[str, str] = {}
    for part in AppDB.__mro__[1:]:
        if part in (core_module.Part, object):
            continue
        for name in vars(part):
            if name.startswith("__"):
                continue
            assert name not in own, f"AppDB.{name} hides {part.__name__}.{name}"
            assert name not in seen, f"{part.__name__}.{name} repeats {seen[name]}.{name}"
            seen[name] = part.__name__
    assert AppDB.mark_paid is orders_module.Orders.mark_paid  # the part's code, not a copy
    assert {"create_order", "post_adjustment", "request_plan", "set_language", "ledger_entries"} <= set(seen)


def test_append_only_scan_sees_the_sql() -> None:
    strings = [text for module in BILLING_MODULES for text in _sql_strings(Path(module.__file__))]
    assert sum("insert into app." in text for text in strings) >= 5


# Prices -------------------------------------------------------------------------


def test_shipped_prices_file() -> None:
    prices = load_prices(ROOT / "config" / "prices.yaml")
    assert prices.currency == "CNY"
    assert [(p.tokens, p.price_cents) for p in prices.packages] == [
        (100_000, 1000),
        (500_000, 4500),
        (1_000_000, 8500),
        (5_000_000, 40000),
    ]
    assert prices.price_for(500_000) == 4500  # the package, not the custom rule
    assert prices.price_for(123_000) == 1230
    with pytest.raises(ValueError, match="custom amount"):
        prices.price_for(999)
    assert [plan.plan_id for plan in prices.plans] == ["free", "pro", "enterprise"]
    enterprise = prices.plan("enterprise")
    assert enterprise.contact_only and enterprise.monthly_price_cents is None
    assert prices.plan("pro").monthly_price_cents == 9900
    assert prices.format_price(123456) == "¥1,234.56"


VALID = """
currency: CNY
packages: [{tokens: 1000, price: 1}]
custom: {price_per_1k: 0.1, min_tokens: 1000, max_tokens: 10000, step_tokens: 1000}
plans:
  - {id: free, name: Free, monthly_price: 0, included_tokens: 0}
  - {id: pro, name: Pro, monthly_price: 99, included_tokens: 1000}
  - {id: enterprise, name: Enterprise, contact: true}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("currency: CNY", "currency: ''", "currency"),
        ("price: 1}", "price: -1}", r"packages\[0\].price"),
        ("price: 1}", "price: 1.234}", "more than 2 decimals"),
        ("price: 1}", "price: abc}", r"packages\[0\].price"),
        ("tokens: 1000, price", "tokens: 0, price", r"packages\[0\].tokens"),
        ("min_tokens: 1000", "min_tokens: 20000", "min_tokens"),
        ("  - {id: pro, name: Pro, monthly_price: 99, included_tokens: 1000}\n", "", "pro"),
        ("id: pro, name: Pro, monthly_price: 99", "id: gold, name: Pro, monthly_price: 99", "gold"),
        ("name: Pro, monthly_price: 99, ", "name: Pro, ", "monthly_price"),
        ("packages:", "packages: : :", "YAML"),
        ("name: Pro, ", "name: Pro, name_zh: '', ", r"plans\[1\].name_zh must be a non-empty text"),
        ("name: Free, ", "name: Free, features: [a, b], features_zh: [甲], ", r"features_zh must have as many items"),
    ],
)
def test_prices_file_validation(tmp_path: Path, old: str, new: str, message: str) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID, encoding="utf-8")
    assert load_prices(good).price_for(2000) == 20
    bad = tmp_path / "prices.yaml"
    assert old in VALID
    bad.write_text(VALID.replace(old, new), encoding="utf-8")
    with pytest.raises(PricesError, match=message) as caught:
        load_prices(bad)
    assert "\n" not in str(caught.value)
    assert str(bad) in str(caught.value)


def test_plan_texts_in_another_language(tmp_path: Path) -> None:
    """`name_zh` / `features_zh` beside `name` / `features`; without them the file's text is shown."""
    path = tmp_path / "prices.yaml"
    path.write_text(
        VALID.replace("name: Pro, ", "name: Pro, name_zh: 专业版, features: [Mail, Chat], features_zh: [邮件, 聊天], "),
        encoding="utf-8",
    )
    pro, free = load_prices(path).plan("pro"), load_prices(path).plan("free")
    assert (pro.name_in("zh"), pro.features_in("zh")) == ("专业版", ("邮件", "聊天"))
    assert (pro.name_in("en"), pro.features_in("en")) == ("Pro", ("Mail", "Chat"))
    assert (free.name_in("zh"), free.features_in("zh")) == ("Free", ())  # no translation: the file's text
    shipped = load_prices(ROOT / "config" / "prices.yaml")
    for plan in shipped.plans:  # the shipped file is complete in Chinese
        assert plan.name_in("zh") != plan.name and len(plan.features_in("zh")) == len(plan.features)


def test_missing_prices_file(tmp_path: Path) -> None:
    with pytest.raises(PricesError, match="does not exist"):
        load_prices(tmp_path / "nope.yaml")


# Payments -----------------------------------------------------------------------


def test_sandbox_qr_code_encodes_payment_link(db: AppDB) -> None:
    provider = get_provider()
    assert provider.is_sandbox and "sandbox" in provider.name.lower()
    order = db.create_order("acct-001", "manager", "recharge", 100_000, 1000, "WECHAT")
    link = provider.payment_link(order)
    assert link == f"sandbox://pay/wechat/{order.order_id}"
    png = provider.qr_png(order)
    assert png.startswith(PNG_MAGIC) and len(png) > 100
    # segno cannot decode; the same link encoded the same way must give the same image.
    expected = segno.make(link, error="m", micro=False).png_data_uri(scale=5)
    assert base64.b64encode(png).decode() == expected.split(",", 1)[1]
    assert provider.qr_svg(order).startswith("<svg")


def test_sandbox_bank_instructions(db: AppDB) -> None:
    order = db.create_order("acct-001", "manager", "recharge", 100_000, 1050, "BANK_TRANSFER")
    info = get_provider().bank_instructions(order)
    assert info["reference"] == order.reference
    assert (info["amount_cents"], info["currency"], info["amount"]) == (1050, "CNY", "10.50 CNY")
    assert "sandbox" in str(info["bank_name"]).lower()
    with pytest.raises(PaymentError):
        get_provider().payment_link(order)


def test_simulate_payment_credits_once(db: AppDB) -> None:
    order_id = recharge(db, method="ALIPAY")
    provider = SandboxProvider()
    assert provider.simulate_payment(db, order_id) == f"app-order-{order_id}"
    assert provider.simulate_payment(db, order_id) == f"app-order-{order_id}"
    assert balance(db, "acct-001") == 100_000
    with pytest.raises(UnknownOrderError):
        provider.simulate_payment(db, "no-such-order")


def test_times_are_stored_as_instants(db: AppDB) -> None:
    order = db.create_order("acct-001", "manager", "recharge", 1000, 10, "WECHAT", now=NOW)
    stored = db.order(order.order_id)
    assert stored is not None and stored.created_at == NOW.astimezone(UTC)
