"""/analysis on hand-built exports and app states (issue 8): each test failed on the page before its fix."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import KEY, _signed_in
from tests.builders import ev, tx
from tests.strategies import ACCOUNT, OTHER, Order, World, write_app_state, write_export
from token_analytics.billing.appdb import AppDB
from token_analytics.engine.figures import current_plan
from token_analytics.engine.store import Store
from token_analytics.settings import load_settings
from token_analytics.web import auth, fmt

NOW = datetime.fromisoformat("2026-11-29T10:00:00+08:00")


def at_(text: str) -> datetime:
    return datetime.fromisoformat(text)


def world(
    transactions: list[dict] | None = None,
    plan: str | None = "pro",
    orders: list[Order] | None = None,
    events: list[dict] | None = None,
) -> World:
    accounts = [
        {"account_id": ACCOUNT, "account_name": "Alpha", "owner_name": "Li Wei", "plan": plan, "created_at": NOW},
        {"account_id": OTHER, "account_name": "Other", "owner_name": "O", "plan": "free", "created_at": NOW},
    ]
    members = [{"user_id": "u1", "account_id": ACCOUNT, "display_name": "Alice", "email": None}]
    events = events if events is not None else [ev("e1", ACCOUNT, "u1", "agent", at_("2026-11-29T09:00:00+08:00"), 70)]
    return World(NOW, accounts, members, events, transactions or [], orders=orders or [])


@pytest.fixture
def open_analysis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_auth_file: Path):  # noqa: ANN201 - a factory
    """Write `world`, point the app at it and sign in as `role` (the demo users belong to acct-001)."""

    def start(given: World, role: str = "manager", mode: str = "saas") -> AppTest:
        write_export(given, tmp_path / "export")
        write_app_state(given, tmp_path / "app.duckdb")
        for name, value in {
            "ANALYTICS_DATA_DIR": str(tmp_path / "export"),
            "ANALYTICS_APP_DB": str(tmp_path / "app.duckdb"),
            "ANALYTICS_NOW": given.now.isoformat(),
            "ANALYTICS_TIMEZONE": "Asia/Shanghai",
            "ANALYTICS_MODE": mode,
            "ANALYTICS_COOKIE_KEY": KEY,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ANALYTICS_AUTH_FILE", str(demo_auth_file))
        monkeypatch.delenv("ANALYTICS_CACHE_DB", raising=False)
        monkeypatch.setattr(auth, "_request_cookie", lambda name: None)
        at = _signed_in(role)
        assert not at.error, [e.value for e in at.error]
        return at

    return start


def table(at: AppTest, first_column: str, value: str):  # noqa: ANN201 - a DataFrame
    """The main-area dataframe whose `first_column` holds `value`."""
    frames = [f.value for f in at.main.dataframe]
    return next(f for f in frames if first_column in f and value in f[first_column].tolist())


MIXED = [
    tx("x1", ACCOUNT, "BONUS", 1000, at_("2026-11-01T08:00:00+08:00"), None, "Sign-up"),
    tx("x2", ACCOUNT, "RECHARGE", 500, at_("2026-11-02T08:00:00+08:00"), "ALIPAY", None),
    tx("x3", ACCOUNT, "CONSUME", -200, at_("2026-11-03T08:00:00+08:00"), None, None, "u1"),
    tx("x4", ACCOUNT, "RECHARGE", 300, at_("2026-11-04T08:00:00+08:00"), "BANK_TRANSFER", "Wire"),
    tx("x5", ACCOUNT, "RECHARGE", 10, at_("2026-11-05T08:00:00+08:00"), "PAYPAL", None),  # a code we do not know
]


def test_recent_transactions_mixing_methods_read_their_labels(open_analysis) -> None:  # noqa: ANN001
    """The KeyError 'method.nan' of issue 8: entries with and without a method, plus an app order by WeChat Pay."""
    paid = Order("recharge", "WECHAT", "PAID", 100_000, None, days_ago=0)
    at = open_analysis(world(MIXED, orders=[paid]))
    recent = table(at, "type", "Bonus")
    assert recent["type"].tolist() == ["Recharge", "Recharge", "Recharge", "Consume", "Recharge", "Bonus"]
    assert recent["payment_method"].tolist() == ["WeChat Pay", "PAYPAL", "Bank transfer", "—", "Alipay", "—"]
    assert recent["amount"].tolist() == [100_000, 10, 300, -200, 500, 1000]
    assert recent["description"].tolist()[2:] == ["Wire", "", "", "Sign-up"]


def test_leaderboard_usage_without_a_member_reads_a_dash(open_analysis) -> None:  # noqa: ANN001
    events = [
        ev("e1", ACCOUNT, "u1", "agent", at_("2026-11-29T09:00:00+08:00"), 70),
        ev("e2", ACCOUNT, None, "operator", at_("2026-11-03T09:00:00+08:00"), 30),
    ]
    at = open_analysis(world(MIXED, events=events))
    board = table(at, "display_name", "Alice")
    assert board["display_name"].tolist() == ["Alice", "—"]
    assert board["tokens"].tolist() == [70, 30]


def test_every_section_names_its_period_and_zone(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED))
    captions = [c.value for c in at.main.caption]
    assert "All time: every ledger entry of the account." in captions  # token usage
    assert (
        "Today (2026-11-29) vs yesterday (2026-11-28); November 2026 vs October 2026; days and months in "
        "Asia/Shanghai." in captions
    )
    assert "This month: November 2026, days in Asia/Shanghai." in captions  # service details
    assert "The 10 latest ledger entries, all time; times in Asia/Shanghai." in captions
    assert "Top 10 members this month: November 2026, days in Asia/Shanghai." in captions
    # the cards: balance 1,610 and calls 1 over all time, 70 tokens today and this month
    assert "1,610 tokens · all time" in captions
    assert "70 tokens · 2026-11-29 (Asia/Shanghai)" in captions
    assert "70 tokens · November 2026 (Asia/Shanghai)" in captions
    assert "1 calls · all time" in captions


def test_card_help_says_what_it_counts_never_the_number(open_analysis) -> None:  # noqa: ANN001
    big = [tx("b1", ACCOUNT, "BONUS", 7_612_345, at_("2026-11-01T08:00:00+08:00"))]
    at = open_analysis(world(big))
    helps = {m.label: m.help for m in at.main.metric}
    assert "all time" in helps["Token Balance"] and "minus everything consumed" in helps["Token Balance"]
    assert "today (2026-11-29, from local midnight in Asia/Shanghai)" in helps["Today's Usage"]
    assert "this month (November 2026, from the 1st in Asia/Shanghai)" in helps["Monthly Usage"]
    assert "all time" in helps["Service Usage"]
    for label, value in (("Token Balance", 7_612_345), ("Today's Usage", 70), ("Monthly Usage", 70)):
        assert fmt.tokens(value) not in helps[label] and fmt.compact(value) not in helps[label], label


@pytest.mark.parametrize(
    ("role", "advice"),
    [("manager", "Recharge tokens to bring it above zero."), ("analyst", "Ask a manager of the account")],
)
def test_an_overdrawn_account_is_warned_with_what_to_do(open_analysis, role: str, advice: str) -> None:  # noqa: ANN001
    overdrawn = [
        tx("o1", ACCOUNT, "BONUS", 100, at_("2026-11-01T08:00:00+08:00")),
        tx("o2", ACCOUNT, "CONSUME", -250, at_("2026-11-02T08:00:00+08:00"), user_id="u1"),
    ]
    at = open_analysis(world(overdrawn), role=role)
    warnings = [w.value for w in at.main.warning]
    assert any(w.startswith("This account is overdrawn: its balance is -150 tokens.") and advice in w for w in warnings)
    assert "250 of 100 tokens used" in [m.value for m in at.main.markdown]


def test_a_balance_of_zero_is_not_overdrawn(open_analysis) -> None:  # noqa: ANN001
    even = [
        tx("z1", ACCOUNT, "BONUS", 100, at_("2026-11-01T08:00:00+08:00")),
        tx("z2", ACCOUNT, "CONSUME", -100, at_("2026-11-02T08:00:00+08:00"), user_id="u1"),
    ]
    at = open_analysis(world(even))
    assert not [w.value for w in at.main.warning if "overdrawn" in w.value]


@pytest.mark.parametrize(
    ("exported", "orders", "shown", "offered"),
    [
        ("free", [], "Free", {"Upgrade to Pro"}),
        ("pro", [], "Pro", {"Contact for Enterprise"}),
        ("enterprise", [], "Enterprise", set()),
        (None, [], "Free", {"Upgrade to Pro"}),
        ("gold", [], "Free", {"Upgrade to Pro"}),  # an unknown exported plan reads as Free
        ("free", [Order("plan", "ALIPAY", "PAID", 1, "pro", 1)], "Pro", {"Contact for Enterprise"}),
        ("free", [Order("plan", "ALIPAY", "PENDING", 1, "pro", 1)], "Free", {"Upgrade to Pro"}),
    ],
)
def test_the_plan_offer_fits_the_current_plan(
    open_analysis,  # noqa: ANN001
    exported: str | None,
    orders: list[Order],
    shown: str,
    offered: set[str],
) -> None:
    at = open_analysis(world(MIXED, plan=exported, orders=orders))
    assert f"Current plan: {shown}" in [m.value for m in at.main.markdown]
    labels = {b.label for b in at.main.button}
    assert labels & {"Upgrade to Pro", "Contact for Enterprise"} == offered
    if offered:
        next(b for b in at.main.button if b.label in offered).click().run()
        assert at.title[0].value == "Subscription"


def test_an_analyst_sees_the_plan_but_is_offered_nothing(open_analysis) -> None:  # noqa: ANN001
    at = open_analysis(world(MIXED, plan="free"), role="analyst")
    assert "Current plan: Free" in [m.value for m in at.main.markdown]
    assert not {b.label for b in at.main.button} & {"Upgrade to Pro", "Contact for Enterprise", "Recharge Tokens"}


def test_markdown_looking_owner_names_show_as_typed(open_analysis) -> None:  # noqa: ANN001
    given = world(MIXED)
    given.accounts[0]["owner_name"] = "![x](http://127.0.0.1:9/x.png) <b>"
    at = open_analysis(given)
    owner = next(c.value for c in at.main.caption if str(c.value).startswith("Owner: "))
    assert owner == "Owner: " + fmt.plain("![x](http://127.0.0.1:9/x.png) <b>")
    assert "\\!\\[x\\]\\(" in owner and "\\<b\\>" in owner  # escaped: no image, no tag


def test_current_plan_is_the_exported_plan_unless_a_paid_plan_order_overrides(tmp_path: Path) -> None:
    write_export(world([], plan="pro"), tmp_path / "export")
    app_db = tmp_path / "app.duckdb"
    settings = load_settings({"ANALYTICS_DATA_DIR": str(tmp_path / "export"), "ANALYTICS_APP_DB": str(app_db)})
    store = Store.open(settings)
    try:
        app = AppDB(store.cursor())
        assert current_plan(store, app, ACCOUNT) == "pro"
        assert current_plan(store, app, OTHER) == "free"
        assert current_plan(store, app, "acct-missing") == "free"  # not in accounts/
        order = app.create_order(OTHER, "manager", "plan", 1, 100, "WECHAT", plan="enterprise", now=NOW)
        assert current_plan(store, app, OTHER) == "free"  # pending: not yet
        app.mark_paid(order.order_id, "manager", now=NOW)
        assert current_plan(store, app, OTHER) == "enterprise"
    finally:
        store.close()
