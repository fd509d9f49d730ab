"""Hypothesis strategies: small exports (SPEC §3) plus app-database states (SPEC §6) that pages must survive.

A `World` is plain data: the rows of each export folder, which optional columns are present, the
app's orders, adjustments and plan requests, and "now". `write_export` and `write_app_state` turn it
into parquet files and an app database through the same APIs the product uses. The demo users of
auth/demo_users.yaml belong to `acct-001` (manager2, manager3 to `acct-002`, `acct-003`), so `acct-001` is the account
every page shows; the strategy makes it present, missing from accounts/, or empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from tests import builders as b
from token_analytics.appdb import METHODS, open_app_db
from token_analytics.engine.periods import local_midnight, next_month
from token_analytics.engine.schema import PAYMENT_METHODS, PLANS, SERVICES, TXN_TYPES

ZONE = ZoneInfo("Asia/Shanghai")
ACCOUNT = "acct-001"  # the demo users' account
OTHER = "acct-002"
MAX = 2**53

# Text that has broken pages elsewhere: scripts, right-to-left, emoji, HTML, Markdown, spreadsheet formulas.
NASTY = (
    "李伟",
    "王芳 🚀",
    "محمد علي",  # right-to-left
    "שלום",
    "\u202eevil\u202c",  # right-to-left override
    "=1+1",
    "+SUM(A1:A9)",
    "@cmd",
    "-5",
    "![x](http://127.0.0.1:9/x.png)",
    "[click](http://127.0.0.1:9/)",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "**strong** _em_ `code`",
    "$x^2$",
    "# heading",
    "a\nb",
    " ",
    "",
)
# Words a page must never show for a missing value; generated text avoids them so the check can look.
MISSING_WORDS = ("nan", "None", "NaT", "<NA>", "null")


def _clean(text: str) -> bool:
    return not any(word.lower() in text.lower() for word in MISSING_WORDS)


text = st.one_of(st.sampled_from(NASTY), st.text(max_size=12).filter(_clean))
optional_text = st.none() | text

# "now" on the edges where local and UTC dates differ or a period turns (Asia/Shanghai is UTC+8).
NOWS = (
    datetime(2026, 11, 29, 10, 0, tzinfo=ZONE),  # an ordinary day
    datetime(2026, 12, 1, 0, 0, tzinfo=ZONE),  # local midnight on the 1st: UTC still says 30 Nov
    datetime(2026, 11, 15, 7, 59, 59, tzinfo=ZONE),  # before 08:00 local: the UTC date is yesterday's
    datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=ZONE),  # the last instant of the month
    datetime(2028, 3, 1, 0, 30, tzinfo=ZONE),  # the day after a leap day
    datetime(2027, 1, 1, 0, 0, tzinfo=ZONE),  # a new year
)


def edges(now: datetime) -> list[datetime]:
    """Instants on the period edges around `now`, plus far past and far future."""
    today = now.astimezone(ZONE).date()
    midnight = local_midnight(today, ZONE)
    first = local_midnight(today.replace(day=1), ZONE)
    after = local_midnight(next_month(today), ZONE)
    tick = timedelta(microseconds=1)
    return [
        now,
        midnight,
        midnight - tick,  # the last instant of yesterday
        midnight + timedelta(days=1),  # tomorrow's midnight: not today
        first,
        first - tick,  # the last instant of last month
        after,  # the 1st of next month: not this month
        after - tick,
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(2200, 12, 31, 23, 59, tzinfo=UTC),
    ]


@dataclass
class Order:
    kind: str  # recharge | plan
    method: str
    status: str  # PENDING | PAID | CANCELLED
    tokens: int
    plan: str | None
    days_ago: int


@dataclass
class World:
    now: datetime
    accounts: list[dict[str, Any]]
    members: list[dict[str, Any]]
    events: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    drop_event_columns: tuple[str, ...] = ()
    drop_txn_columns: tuple[str, ...] = ()
    orders: list[Order] = field(default_factory=list)
    adjustments: list[tuple[int, str]] = field(default_factory=list)
    plan_requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def has_ledger(self) -> bool:
        """Whether acct-001 has any ledger entry (self-hosted /token-history exists only then)."""
        paid = any(order.status == "PAID" for order in self.orders)
        return paid or bool(self.adjustments) or any(row["account_id"] == ACCOUNT for row in self.transactions)


def _amount(kind: str) -> st.SearchStrategy[int]:
    size = st.one_of(st.sampled_from([1, 100, 1000, MAX]), st.integers(1, MAX))
    if kind == "CONSUME":
        return size.map(lambda n: -n)
    if kind == "ADJUSTMENT":
        return st.tuples(size, st.booleans()).map(lambda p: p[0] if p[1] else -p[0])
    return size


@st.composite
def worlds(draw: st.DrawFn, unknown_method: bool = False) -> World:
    """One small export and app state around acct-001; `unknown_method` adds a payment method code
    outside SPEC §3 (ingest keeps it: only unknown services and types are quarantined)."""
    now = draw(st.sampled_from(NOWS))
    times = st.sampled_from(edges(now))
    presence = draw(st.sampled_from(["present", "missing", "empty"]))

    accounts = [
        {"account_id": OTHER, "account_name": "Other", "owner_name": "Other Owner", "plan": "pro", "created_at": now}
    ]
    if presence != "missing":
        accounts.append(
            {
                "account_id": ACCOUNT,
                "account_name": draw(optional_text),
                "owner_name": draw(optional_text),
                "plan": draw(st.none() | st.sampled_from([*PLANS, "gold"])),  # "gold": unknown plan
                "created_at": draw(times),
            }
        )
    members = [
        {"user_id": user, "account_id": ACCOUNT, "display_name": draw(optional_text), "email": draw(optional_text)}
        for user in draw(st.lists(st.sampled_from(["u1", "u2", "u3"]), unique=True, max_size=3))
    ]
    members.append({"user_id": "u-other", "account_id": OTHER, "display_name": "Elsewhere", "email": None})

    users = st.none() | st.sampled_from(["u1", "u2", "u3", "ghost", "u-other"])  # ghost: an unknown member
    events: list[dict[str, Any]] = []
    transactions: list[dict[str, Any]] = []
    if presence != "empty":
        for n in range(draw(st.integers(0, 6))):
            tokens = draw(st.one_of(st.sampled_from([0, 1, MAX]), st.integers(0, MAX)))
            row = b.ev(f"e{n}", ACCOUNT, draw(users), draw(st.sampled_from(SERVICES)), draw(times), tokens)
            split = draw(st.none() | st.integers(0, tokens))
            row["input_tokens"] = split
            row["output_tokens"] = None if split is None else tokens - split
            row["model"] = draw(st.none() | st.sampled_from(["gpt-x", "模型-1", "<b>m</b>"]))
            events.append(row)
        kinds = draw(st.lists(st.sampled_from(TXN_TYPES), min_size=1, max_size=5, unique=True))  # maybe one type
        for n in range(draw(st.integers(0, 8))):
            kind = draw(st.sampled_from(kinds))
            method = draw(st.none() | st.sampled_from([*PAYMENT_METHODS, *(["PAYPAL"] if unknown_method else [])]))
            transactions.append(
                b.tx(f"t{n}", ACCOUNT, kind, draw(_amount(kind)), draw(times), method, draw(optional_text), draw(users))
            )
    events.append(b.ev("e-other", OTHER, "u-other", "agent", now, 5))  # usage_events/ is never empty
    drop_events = tuple(draw(st.sets(st.sampled_from(["input_tokens", "output_tokens", "model"]))))
    drop_txns = tuple(draw(st.sets(st.sampled_from(["payment_method", "description"]))))

    orders = draw(
        st.lists(
            st.builds(
                Order,
                kind=st.sampled_from(["recharge", "plan"]),
                method=st.sampled_from(METHODS),
                status=st.sampled_from(["PENDING", "PAID", "CANCELLED"]),
                tokens=st.sampled_from([1, 100_000, MAX]),
                plan=st.sampled_from(["pro", "enterprise"]),
                days_ago=st.sampled_from([0, 1, 40]),
            ),
            max_size=3,
        )
    )
    adjustments = draw(
        st.lists(st.tuples(st.sampled_from([-MAX, -5, 7, MAX]), text.filter(lambda s: s.strip())), max_size=2)
    )
    requests = draw(
        st.lists(
            st.tuples(st.sampled_from(["upgrade", "enterprise_contact"]), optional_text, optional_text), max_size=2
        )
    )
    return World(now, accounts, members, events, transactions, drop_events, drop_txns, orders, adjustments, requests)


def write_export(world: World, root: Path) -> Path:
    """The world's export folder (SPEC §3) under `root`."""
    b.accounts(root, "accounts/accounts.parquet", world.accounts)
    b.members(root, "members/members.parquet", world.members)
    b.events(root, "usage_events/month=any/part-0.parquet", world.events, drop=world.drop_event_columns)
    if world.transactions:
        b.transactions(root, "transactions/part-0.parquet", world.transactions, drop=world.drop_txn_columns)
    return root


def write_app_state(world: World, app_db: Path, actor: str = "manager", admin: str = "admin") -> None:
    """The world's orders (each ending in its status), adjustments and plan requests, through the AppDB API."""
    app = open_app_db(app_db)
    try:
        for order in world.orders:
            at = world.now - timedelta(days=order.days_ago)
            plan = order.plan if order.kind == "plan" else None
            made = app.create_order(ACCOUNT, actor, order.kind, order.tokens, 100, order.method, plan=plan, now=at)
            if order.status == "PAID" and order.method == "BANK_TRANSFER":
                app.confirm_transfer(made.order_id, admin, now=at)
            elif order.status == "PAID":
                app.mark_paid(made.order_id, actor, now=at)
            elif order.status == "CANCELLED" and order.method == "BANK_TRANSFER":
                app.reject_transfer(made.order_id, admin, note="not received", now=at)
            elif order.status == "CANCELLED":
                app.cancel(made.order_id, actor, now=at)
        for amount, reason in world.adjustments:
            app.post_adjustment(ACCOUNT, amount, reason, admin, now=world.now)
        for kind, contact, message in world.plan_requests:
            plan = "enterprise" if kind == "enterprise_contact" else "pro"
            app.request_plan(ACCOUNT, actor, plan, kind, contact, message, now=world.now)
    finally:
        app.close()
