"""/token-history in-process (AppTest): filters on a deep link, people's names, self-hosted mode, table sizing.

Runs on the small generated sample (tests/conftest.py `sample_dir`), each test with its own app
database (ANALYTICS_APP_DB under tmp_path, set by `app_env`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import ROOT
from tests.builders import SAMPLE_NOW
from token_analytics.accounts.users import User
from token_analytics.appdb import open_app_db
from token_analytics.settings import load_settings
from token_analytics.strings import t
from token_analytics.web import fmt, tables

ADMIN = User("admin", "Demo Admin", ("admin",), "acct-001")
ANALYST = User("analyst", "Demo Analyst", ("analyst",), "acct-001")


def deep_link(user: User) -> AppTest:
    """The page opened straight from its URL: nothing in session state but what the router publishes."""
    at = AppTest.from_file(str(ROOT / "app_pages" / "token_history.py"), default_timeout=60)
    at.session_state["nav_user"] = user
    at.session_state["nav_account_ids"] = ("acct-001", "acct-002", "acct-003", "acct-004")
    at.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == []
    return at


def shown_choice(at: AppTest, key: str) -> str | None:
    """What the selectbox shows: the label of its selected option, None for "Choose an option"."""
    box = at.selectbox(key=key)
    return None if box.index is None else box.options[box.index]


@pytest.mark.usefixtures("app_env")
def test_deep_link_filters_read_all_members_and_all_methods() -> None:
    """Failed before the fix: the "any" option was None, which Streamlit shows as "Choose an option"."""
    at = deep_link(ANALYST)
    assert shown_choice(at, "history_member") == t("history.any_member")
    assert shown_choice(at, "history_method") == t("history.any_method")
    at.run()  # the rerun a browser makes right after a deep link (the cookie component)
    assert shown_choice(at, "history_member") == t("history.any_member")
    assert shown_choice(at, "history_method") == t("history.any_method")
    assert len(at.dataframe[0].value) == 50  # nothing filtered


def _paid_order(app_db: Path, account_id: str, username: str, tokens: int) -> str:
    """A sandbox order paid before the app starts; returns its ledger txn_id."""
    app = open_app_db(app_db)
    try:
        now = datetime.fromisoformat(SAMPLE_NOW)
        order = app.create_order(account_id, username, "recharge", tokens, 1000, "WECHAT", now=now)
        return app.mark_paid(order.order_id, "sandbox", now=now)
    finally:
        app.close()


def test_app_orders_show_the_persons_name(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Failed before the fix: the Member cell and the filter showed the username `manager`."""
    txn = _paid_order(tmp_path / "app.duckdb", "acct-001", "manager", 100_000_000)
    at = deep_link(ANALYST)
    rows = at.dataframe[0].value
    mine = rows[rows["txn_id"] == txn]
    assert mine["member"].tolist() == ["Demo Manager"]
    assert "Demo Manager (manager)" in at.selectbox(key="history_member").options
    at.selectbox(key="history_member").set_value("manager").run()
    assert at.dataframe[0].value["txn_id"].tolist() == [txn]


def test_self_hosted_history_shows_no_billing(app_env: pytest.MonkeyPatch) -> None:
    """Failed before the fix: Balance after, Payment method and Recharge were all there in self-hosted mode."""
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    at = deep_link(ADMIN)
    rows = at.dataframe[0].value
    assert "running_balance" not in rows.columns
    assert "payment_method" not in rows.columns
    assert t("txn.RECHARGE") not in set(rows["type"])
    assert t("txn.RECHARGE") not in at.multiselect(key="history_type").options
    assert not [box for box in at.selectbox if box.key == "history_method"]
    labels = [m.label for m in at.metric]
    assert t("txn.RECHARGE") not in labels
    assert t("txn.CONSUME") in labels
    assert t("history.not_billed") in [c.value for c in at.caption]


def test_saas_history_keeps_billing(app_env: pytest.MonkeyPatch) -> None:
    at = deep_link(ANALYST)
    rows = at.dataframe[0].value
    assert {"running_balance", "payment_method"} <= set(rows.columns)
    assert t("txn.RECHARGE") in at.multiselect(key="history_type").options
    assert t("txn.RECHARGE") in [m.label for m in at.metric]


def test_the_default_app_database_is_per_mode() -> None:
    """Failed before the fix: both modes defaulted to data/app.duckdb, so SaaS sandbox orders showed self-hosted."""
    saas = load_settings({})
    hosted = load_settings({"ANALYTICS_MODE": "self-hosted"})
    assert saas.app_db == ROOT / "data" / "app.duckdb"
    assert hosted.app_db == ROOT / "data" / "app-self-hosted.duckdb"
    assert hosted.cache_db != saas.cache_db  # two servers (one per mode) can run side by side
    chosen = load_settings({"ANALYTICS_MODE": "self-hosted", "ANALYTICS_APP_DB": "/srv/shared.duckdb"})
    assert chosen.app_db == Path("/srv/shared.duckdb")  # an explicit choice is kept as it is


# --- column widths from content -------------------------------------------------------------


def _widths(at: AppTest) -> dict[str, int]:
    """The pixel widths the page sent with its ledger table, by column."""
    config = json.loads(at.dataframe[0].proto.columns)
    return {name: spec.get("width") for name, spec in config.items()}


def test_column_widths_fit_the_widest_cell_and_the_label() -> None:
    shown = pd.DataFrame(
        {
            "type": ["Recharge", "Consume"],
            "amount": [100_000_000, -5],
            "payment_method": ["Bank transfer", "—"],
            "txn_id": ["app-order-20261129-abcdef12", "t-1"],
            "description": ["", "张伟的充值"],
        }
    )
    labels = {
        "type": "Type",
        "amount": "Amount",
        "payment_method": "Method",
        "txn_id": "Transaction ID",
        "description": "Description",
    }
    widths = tables.column_widths(shown, labels)
    narrow, capital, wide, pad = tables.NARROW_PX, tables.CAPITAL_PX, tables.WIDE_PX, tables.CELL_PADDING_PX
    assert widths == {
        "type": capital + 7 * narrow + pad,  # "Recharge"
        "amount": 12 * narrow + pad,  # "+100,000,000": the signed, formatted text, not the raw 9 digits
        "payment_method": capital + 12 * narrow + pad,  # "Bank transfer"
        "txn_id": 27 * narrow + pad,
        "description": capital + 10 * narrow + pad,  # "Description" (79 px) beats five CJK characters (70 px)
    }
    assert tables.text_px("张伟的充值") == 5 * wide
    long = pd.DataFrame({"description": ["x" * 200], "txn_id": ["y" * 200]})
    capped = tables.column_widths(long, {})
    assert capped == {"description": tables.MAX_TEXT_PX["description"], "txn_id": 200 * narrow + pad}


def test_the_page_sizes_the_amount_to_a_signed_hundred_million(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Failed before the fix: no widths were set, and the grid cut "+100,000,000" to look like a deduction."""
    _paid_order(tmp_path / "app.duckdb", "acct-001", "manager", 100_000_000)
    at = deep_link(ANALYST)
    widths = _widths(at)
    assert widths["amount"] >= tables.text_px("+100,000,000") + tables.CELL_PADDING_PX
    txn_ids = at.dataframe[0].value["txn_id"]
    assert widths["txn_id"] == max(map(tables.text_px, txn_ids)) + tables.CELL_PADDING_PX


def test_self_hosted_net_reads_as_tokens_used_not_a_debt(app_env: pytest.MonkeyPatch) -> None:
    """Failed before the fix: self-hosted showed "Net -439,080,982", which reads as money owed."""
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    at = deep_link(ADMIN)
    shown = {m.label: m.value for m in at.metric}
    assert t("history.net") not in shown
    used = shown[t("history.net_used")]
    consumed = int(shown[t("txn.CONSUME")].replace(",", ""))
    assert consumed < 0 and used == fmt.tokens(-consumed)  # a positive count: the tokens consumed
    assert t("history.net_used_note") in [c.value for c in at.caption]


def test_saas_keeps_the_signed_net(app_env: pytest.MonkeyPatch) -> None:
    at = deep_link(ANALYST)
    assert t("history.net") in [m.label for m in at.metric]
