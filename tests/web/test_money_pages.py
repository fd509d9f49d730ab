"""The money pages in-process (AppTest): recharge by each method, admin tools, token history, roles and modes.

Runs on the small generated sample (tests/conftest.py `sample_dir`); each test has its own
app database (ANALYTICS_APP_DB under tmp_path), so orders and adjustments start empty.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import ROOT, _signed_in
from token_analytics.accounts.users import User
from token_analytics.settings import load_settings
from token_analytics.strings import t
from token_analytics.web import fmt, payment_panel

ANALYST = User("analyst", "Analyst", ("analyst",), "acct-001")
MANAGER = User("manager", "Manager", ("manager",), "acct-001")
PACKAGE = 100_000  # the first package of config/prices.yaml, selected by default
LINGXI = "Lingxi Technology \\(acct\\-001\\)"  # acct-001 of the sample, as Markdown-escaped text


def number(text: str) -> int:
    return int(text.replace(",", "").replace("+", ""))


def balance(at: AppTest) -> int:
    """The balance metric of /recharge."""
    (metric,) = [m for m in at.metric if m.label.startswith("Token balance of")]
    return number(metric.value)


def recharge_page(at: AppTest) -> AppTest:
    at.switch_page("app_pages/recharge.py").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == []
    return at


def orders(at: AppTest):  # noqa: ANN201 - DataFrame
    """The orders table of /recharge (the last table on the page)."""
    return at.dataframe[-1].value


def create_order(at: AppTest, method: str) -> AppTest:
    at.radio(key="recharge_method").set_value(method).run()
    at.button(key="recharge_create").click().run()
    assert not at.exception, at.exception
    return at


def history_rows(at: AppTest, types: list[str] | None = None):  # noqa: ANN201 - DataFrame
    at.switch_page("app_pages/token_history.py").run()
    if types:
        at.multiselect(key="history_type").set_value(types).run()
    assert not at.exception, at.exception
    return at.dataframe[0].value


@pytest.mark.parametrize("method", ["WECHAT", "ALIPAY"])
def test_manager_pays_a_wallet_order_in_the_sandbox_and_is_credited_once(
    app_env: pytest.MonkeyPatch, method: str
) -> None:
    at = recharge_page(_signed_in("manager"))
    before = balance(at)
    assert any("SANDBOX" in w.value for w in at.warning)
    create_order(at, method)
    at.run()  # a rerun (or a second click) does not create another order
    assert len(orders(at)) == 1
    assert at.button(key="recharge_create").disabled  # the same unpaid order is already open
    assert len(at.get("image")) == 1  # the payment QR code
    assert any(code.value.startswith(f"sandbox://pay/{method.lower()}/") for code in at.code)
    assert balance(at) == before

    at.button(key="recharge_simulate").click().run()
    assert not at.exception
    assert balance(at) == before + PACKAGE
    assert [s.value for s in at.success] == [t("recharge.paid", tokens="100,000")]
    assert orders(at)["status"].tolist() == ["Paid"]
    at.run()
    assert balance(at) == before + PACKAGE  # reruns do not credit again

    rows = history_rows(at, ["RECHARGE"])
    order_id = rows["txn_id"].iloc[0]
    assert order_id.startswith("app-order-")
    assert rows["txn_id"].tolist().count(order_id) == 1
    assert rows["amount"].iloc[0] == PACKAGE
    assert rows["running_balance"].iloc[0] == before + PACKAGE


def test_bank_transfer_waits_for_the_admin_then_credits_once(app_env: pytest.MonkeyPatch) -> None:
    manager = recharge_page(_signed_in("manager"))
    before = balance(manager)
    create_order(manager, "BANK_TRANSFER")
    instructions = manager.table[0].value
    reference = instructions.loc[t("recharge.bank_reference")].iloc[0]
    assert reference.startswith("TAC-")
    assert not manager.get("image")
    assert orders(manager)["status"].tolist() == ["Pending"]
    assert orders(manager)["reference"].tolist() == [reference]
    assert "recharge_simulate" not in [b.key for b in manager.button]  # only an admin confirms a transfer

    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    assert any(reference in m.value for m in admin.markdown)
    (confirm,) = [b for b in admin.button if b.key and b.key.startswith("admin_confirm_")]
    confirm.click().run()
    assert not admin.exception
    assert admin.info[0].value == t("admin.no_transfers")

    manager.run()
    assert balance(manager) == before + PACKAGE
    assert orders(manager)["status"].tolist() == ["Paid"]
    manager.run()
    assert balance(manager) == before + PACKAGE


def test_admin_rejects_a_transfer_with_a_note(app_env: pytest.MonkeyPatch) -> None:
    manager = recharge_page(_signed_in("manager"))
    before = balance(manager)
    create_order(manager, "BANK_TRANSFER")
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    (reject,) = [b for b in admin.button if b.key and b.key.startswith("admin_reject_")]
    reject.click().run()
    assert [e.value for e in admin.error] == [t("admin.note_required")]  # a note is required
    (note,) = [n for n in admin.text_input if n.key and n.key.startswith("admin_note_")]
    note.input("no money arrived")
    (reject,) = [b for b in admin.button if b.key and b.key.startswith("admin_reject_")]
    reject.click().run()
    assert admin.info[0].value == t("admin.no_transfers")
    manager.run()
    assert orders(manager)["status"].tolist() == ["Cancelled"]
    assert balance(manager) == before


def test_admin_posts_an_adjustment_once_and_it_shows_in_the_history(app_env: pytest.MonkeyPatch) -> None:
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    before = int(history_rows(admin)["running_balance"].iloc[0])
    admin.switch_page("app_pages/admin.py").run()
    submit = next(b for b in admin.button if b.label == t("admin.adjust_post"))
    submit.click().run()
    assert [e.value for e in admin.error] == [t("admin.adjust_invalid")]  # amount 0, no reason

    for _ in range(2):  # the same adjustment submitted twice is posted once
        admin.selectbox(key="admin_adjust_account").set_value("acct-001")
        admin.number_input(key="admin_adjust_amount").set_value(-777)
        admin.text_input(key="admin_adjust_reason").input("=1+1 goodwill")
        next(b for b in admin.button if b.label == t("admin.adjust_post")).click().run()
        assert not admin.exception
    assert "app-adj-" in admin.success[0].value

    rows = history_rows(admin, ["ADJUSTMENT"])
    posted = rows[rows["description"] == "=1+1 goodwill (adjustment by admin)"]
    assert len(posted) == 1
    assert posted["amount"].iloc[0] == -777
    everything = history_rows(admin)
    assert everything["running_balance"].iloc[0] == before - 777


def test_manager2_sees_only_their_account(app_env: pytest.MonkeyPatch) -> None:
    at = recharge_page(_signed_in("manager2"))
    assert at.metric[0].label == t("recharge.balance", account="Beacon Studio \\(acct\\-002\\)")
    rows = history_rows(at)
    assert len(rows) > 0
    assert "Beacon Studio \\(acct\\-002\\)" in at.caption[0].value  # the history names the account shown


def test_history_pages_filters_and_totals(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("analyst")
    rows = history_rows(at)
    assert len(rows) == 50
    shown = {m.label: number(m.value) for m in at.metric}
    assert shown["Net"] == rows["running_balance"].iloc[0]  # no filter: net = the balance
    assert at.number_input(key="history_page").value == 1
    assert at.button(key="history_previous").disabled
    at.button(key="history_next").click().run()
    assert at.number_input(key="history_page").value == 2
    second = at.dataframe[0].value
    assert set(second["txn_id"]).isdisjoint(rows["txn_id"])
    assert second["running_balance"].iloc[0] == rows["running_balance"].iloc[-1] - rows["amount"].iloc[-1]
    at.multiselect(key="history_type").set_value(["BONUS"]).run()
    assert at.number_input(key="history_page").value == 1  # a new filter starts at page 1
    bonus = at.dataframe[0].value
    assert set(bonus["type"]) == {"Bonus"}
    shown = {m.label: number(m.value) for m in at.metric}
    assert shown["Bonus"] == shown["Net"] == bonus["amount"].sum()
    assert shown["Consume"] == 0
    assert at.get("download_button")


def expect_no_access(at: AppTest) -> None:
    """A signed-in person is told they have no access (not "page not found"), with a way back."""
    assert not at.exception
    assert [w.value for w in at.warning] == [t("error.no_access")]
    assert not at.main.button and not at.metric and not at.dataframe and not at.title  # the page never ran
    (link,) = at.get("page_link")
    assert link.proto.label == t("error.no_access_back")
    assert link.proto.page.endswith("analysis")


@pytest.mark.parametrize(("username", "page"), [("analyst", "admin"), ("analyst", "recharge"), ("manager", "admin")])
def test_a_role_without_access_is_told_so(app_env: pytest.MonkeyPatch, username: str, page: str) -> None:
    at = _signed_in(username)
    at.switch_page(f"app_pages/{page}.py").run()
    expect_no_access(at)


@pytest.mark.parametrize(
    ("page", "user", "permission"),
    [("recharge", ANALYST, "buy"), ("admin", ANALYST, "admin"), ("admin", MANAGER, "admin")],
)
def test_pages_guard_themselves(app_env: pytest.MonkeyPatch, page: str, user: User, permission: str) -> None:
    """Even if the router registered it, the page refuses: one error line, no buttons, nothing created."""
    at = AppTest.from_file(str(ROOT / "app_pages" / f"{page}.py"), default_timeout=30)
    at.session_state["nav_user"] = user
    at.session_state["nav_account_ids"] = ("acct-001",)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [t(f"error.permission.{permission}")]
    assert not at.button


def test_self_hosted_has_no_saas_pages_and_admin_shows_only_data_health(app_env: pytest.MonkeyPatch) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    for username in ("manager", "admin"):
        at = _signed_in(username)
        for page in ("recharge", "subscription"):
            with pytest.raises(ValueError):  # not in this mode: unknown, not "no access"
                at.switch_page(f"app_pages/{page}.py")
    expect_no_access(_signed_in("manager").switch_page("app_pages/admin.py").run())
    at.switch_page("app_pages/admin.py").run()
    assert not at.exception
    assert [tab.label for tab in at.tabs] == [
        t("admin.tab_health"),
        t("admin.tab_sessions"),
        t("admin.tab_audit"),
        t("alerts.title"),
    ]
    assert [m.label for m in at.metric] == [t("admin.files_read"), t("admin.bad_files"), t("admin.quarantined_rows")]
    # No payment tools: the only admin buttons are the sign-in sessions'.
    assert {b.key for b in at.button if b.key and b.key.startswith("admin_")} == {"admin_end_session", "admin_end_all"}


def test_admin_upgrades_a_free_account_to_pro_and_contacts_sales(app_env: pytest.MonkeyPatch) -> None:
    at = _signed_in("admin")
    at.sidebar.selectbox(key="nav_account").select("acct-003").run()
    at.switch_page("app_pages/subscription.py").run()
    assert not at.exception
    assert at.markdown[0].value == t("plans.current", account="Northwind Labs \\(acct\\-003\\)", plan="Free")
    at.radio(key="plans_method").set_value("ALIPAY").run()
    at.button(key="plans_upgrade").click().run()
    assert len(at.get("image")) == 1
    at.button(key="recharge_simulate").click().run()
    assert not at.exception
    assert at.markdown[0].value == t("plans.current", account="Northwind Labs \\(acct\\-003\\)", plan="Pro")
    assert "plans_upgrade" not in [b.key for b in at.button]  # already on Pro

    at.text_input(key="plans_contact").input("cto@example.com")
    next(b for b in at.button if b.label == t("button.contact_enterprise")).click().run()
    assert at.success[-1].value.startswith("Thank you: request ")
    at.switch_page("app_pages/admin.py").run()
    (requests,) = [df.value for df in at.dataframe if "contact" in df.value.columns]
    assert requests["contact"].tolist() == ["cto@example.com"]
    rows = history_rows(at, ["RECHARGE"])
    assert rows["description"].iloc[0].startswith("Pro plan: 1,200,000 included tokens")


def test_self_hosted_history_exists_only_with_a_ledger(
    app_env: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path
) -> None:
    app_env.setenv("ANALYTICS_MODE", "self-hosted")
    at = _signed_in("admin")
    at.switch_page("app_pages/token_history.py").run()  # the sample has a ledger
    assert not at.exception
    no_ledger = tmp_path / "no-ledger"
    shutil.copytree(sample_dir, no_ledger, ignore=shutil.ignore_patterns("transactions"))
    app_env.setenv("ANALYTICS_DATA_DIR", str(no_ledger))
    app_env.setenv("ANALYTICS_APP_DB", str(tmp_path / "self-hosted-app.duckdb"))
    at = _signed_in("admin")
    with pytest.raises(ValueError):
        at.switch_page("app_pages/token_history.py")


def subscription_page(username: str, account: str | None = None) -> AppTest:
    at = _signed_in(username)
    if account:
        at.sidebar.selectbox(key="nav_account").select(account).run()
    at.switch_page("app_pages/subscription.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("username", "account", "plan", "upgrade", "contact"),
    [
        ("admin", "acct-003", "Free", True, True),
        ("manager3", None, "Free", True, True),  # the demo's Free account: a manager can try "Upgrade to Pro"
        ("manager2", None, "Pro", False, True),  # acct-002 exports plan "pro"
        ("manager", None, "Enterprise", False, False),  # acct-001 exports plan "enterprise"
    ],
)
def test_subscription_offers_what_fits_the_plan(
    app_env: pytest.MonkeyPatch, username: str, account: str | None, plan: str, upgrade: bool, contact: bool
) -> None:
    """Pro is not offered Pro, Enterprise is offered nothing and is told so; the current plan is shown."""
    at = subscription_page(username, account)
    assert f"is on the **{plan}** plan." in at.markdown[0].value
    keys = {widget.key for widget in [*at.button, *at.text_input]}
    assert ("plans_upgrade" in keys) is upgrade
    assert ("plans_contact" in keys) is contact
    nothing = t("plans.enterprise_nothing_to_buy")
    assert (nothing in [i.value for i in at.info]) is (plan == "Enterprise")
    assert [e.value for e in at.error] == []


def test_enterprise_contact_needs_an_email_or_phone(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An e-mail of "not-an-email" is refused with one line and nothing is stored."""
    at = subscription_page("manager2")
    at.text_input(key="plans_contact").input("not-an-email")
    next(b for b in at.button if b.label == t("button.contact_enterprise")).click().run()
    assert [e.value for e in at.error] == [t("plans.contact_invalid")]
    assert at.text_input(key="plans_contact").value == "not-an-email"  # kept, to be corrected
    assert not at.success
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    assert t("admin.no_requests") in [i.value for i in admin.info]

    at.text_input(key="plans_contact").input("+86 138 0000 0000")
    next(b for b in at.button if b.label == t("button.contact_enterprise")).click().run()
    assert [e.value for e in at.error] == []
    assert at.success[-1].value.startswith("Thank you: request ")
    assert at.text_input(key="plans_contact").value == ""  # sent: the form starts empty again


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("cto@example.com", True),
        ("li.wei+sales@mail.example.cn", True),
        ("+86 138 0000 0000", True),
        ("(021) 5555-0100", True),
        ("not-an-email", False),
        ("a@b", False),
        ("@example.com", False),
        ("12345", False),  # too short for a phone number
        ("1234567890123456", False),  # too long
        ("call me maybe", False),
    ],
)
def test_valid_contact(text: str, ok: bool) -> None:
    assert payment_panel.valid_contact(text) is ok


@pytest.mark.parametrize("method", ["WECHAT", "ALIPAY"])
def test_a_pending_wallet_order_is_shown_again_and_can_be_cancelled(app_env: pytest.MonkeyPatch, method: str) -> None:
    """An unpaid WeChat/Alipay order left behind (another visit, a reload) comes back with its QR."""
    first = recharge_page(_signed_in("manager"))
    create_order(first, method)
    assert orders(first)["status"].tolist() == ["Pending"]

    again = recharge_page(_signed_in("manager"))  # a new session: nothing of the first one's state
    assert len(again.get("image")) == 1
    assert any(code.value.startswith(f"sandbox://pay/{method.lower()}/") for code in again.code)
    again.button(key="recharge_cancel").click().run()
    assert not again.exception
    assert orders(again)["status"].tolist() == ["Cancelled"]
    assert not again.get("image")
    assert any(w.value.startswith("This order was cancelled") for w in again.warning)

    third = recharge_page(_signed_in("manager"))
    assert not third.get("image") and "recharge_cancel" not in [b.key for b in third.button]


def test_a_pending_plan_order_is_shown_again_on_subscription(app_env: pytest.MonkeyPatch) -> None:
    at = subscription_page("admin", "acct-003")
    at.radio(key="plans_method").set_value("WECHAT").run()
    at.button(key="plans_upgrade").click().run()
    assert len(at.get("image")) == 1

    again = subscription_page("admin", "acct-003")
    assert len(again.get("image")) == 1
    assert again.button(key="plans_upgrade").disabled  # the same order is already waiting
    again.button(key="recharge_cancel").click().run()
    assert not again.exception
    assert any(w.value.startswith("This order was cancelled") for w in again.warning)
    other = subscription_page("admin")  # acct-001 has no open order
    assert not other.get("image")


def minutes_around_now(zone: str) -> set[str]:
    """How fmt.when writes "now" (or one minute ago) in `zone`, as the admin tables show times."""
    now = datetime.now(UTC)
    return {fmt.when(now - timedelta(minutes=m), zone, with_zone=False) for m in (0, 1)}


def test_admin_confirm_and_reject_say_what_happened_and_the_history_keeps_them(app_env: pytest.MonkeyPatch) -> None:
    """Confirm and reject say what happened; a history of decided transfers, who and when, local times."""
    manager = recharge_page(_signed_in("manager"))
    create_order(manager, "BANK_TRANSFER")
    first = manager.table[0].value.loc[t("recharge.bank_reference")].iloc[0]
    manager.radio(key="recharge_package").set_value(PACKAGE * 5).run()  # a second, different order
    create_order(manager, "BANK_TRANSFER")
    second = manager.table[0].value.loc[t("recharge.bank_reference")].iloc[0]
    price = orders(manager).set_index("reference")["price"]

    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    (confirm, _) = [b for b in admin.button if b.key and b.key.startswith("admin_confirm_")]
    confirm.click().run()
    assert [s.value for s in admin.tabs[0].success] == [
        t("admin.confirmed", reference=first, tokens="100,000", price=price[first], account=LINGXI)
    ]
    (note,) = [n for n in admin.text_input if n.key and n.key.startswith("admin_note_")]
    note.input("no money arrived")
    (reject,) = [b for b in admin.button if b.key and b.key.startswith("admin_reject_")]
    reject.click().run()
    assert not admin.exception
    NOTE = "no money arrived"  # noqa: N806
    assert [s.value for s in admin.tabs[0].success] == [
        t("admin.rejected", reference=second, tokens="500,000", price=price[second], account=LINGXI, note=NOTE)
    ]
    history = admin.dataframe[0].value
    assert history["reference"].tolist() == [second, first]  # newest decision first
    assert history["decision"].tolist() == ["Rejected", "Confirmed"]
    assert history["status_by"].tolist() == ["admin", "admin"]
    assert history["created_by"].tolist() == ["manager", "manager"]
    assert history["account_id"].tolist() == ["Lingxi Technology (acct-001)"] * 2
    assert history["tokens"].tolist() == [500_000, 100_000]
    assert history["status_note"].tolist() == ["no money arrived", ""]  # never "None"
    assert set(history["status_at"]) <= minutes_around_now("Asia/Shanghai")  # the business zone, not UTC


def test_admin_tables_show_labels_local_times_and_no_none(app_env: pytest.MonkeyPatch) -> None:
    """`enterprise_contact` reads "Enterprise contact"; an empty message is blank, never "None"."""
    at = subscription_page("manager2")
    at.text_input(key="plans_contact").input("cto@example.com")
    next(b for b in at.button if b.label == t("button.contact_enterprise")).click().run()
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    (requests,) = [df.value for df in admin.dataframe if "contact" in df.value.columns]
    row = requests.iloc[0].to_dict()
    assert row["kind"] == "Enterprise contact"
    assert row["plan"] == "Enterprise"
    assert row["account_id"] == "Beacon Studio (acct-002)"
    assert row["message"] == ""
    assert row["created_at"] in minutes_around_now("Asia/Shanghai")
    # The transfers, adjustments, requests and health tabs (Sessions and Audit are another page part).
    cells = [str(v) for tab in admin.tabs[:4] for df in tab.dataframe for v in df.value.to_numpy().ravel()]
    assert not {"None", "nan", "NaT", "enterprise_contact", "usage_events"} & set(cells)
    files = next(df.value for df in admin.dataframe if "rows_read" in df.value.columns)
    assert set(files["kind"]) == {"Accounts", "Members", "Usage events", "Transactions"}
    assert set(files["status"]) == {"Read"}


def test_bank_transfer_details_are_headed_in_words(app_env: pytest.MonkeyPatch) -> None:
    """Failed before the fix: the table's headers read "field" and "value"."""
    manager = create_order(recharge_page(_signed_in("manager")), "BANK_TRANSFER")
    details = manager.table[0].value
    assert list(details.columns) == [t("recharge.bank_details")]
    assert details.index.name is None
    assert t("recharge.bank_reference") in details.index


def test_a_refused_custom_amount_names_the_maximum(app_env: pytest.MonkeyPatch) -> None:
    """Failed before the fix: the message said only "Choose at least 10,000 tokens", never the maximum.

    (The widget itself keeps a value above the maximum out; an amount off the step reaches the message.)
    """
    manager = recharge_page(_signed_in("manager"))
    rule = payment_panel.prices(load_settings({}).prices_file).custom
    manager.radio(key="recharge_package").set_value(0).run()  # CUSTOM
    manager.number_input(key="recharge_custom").set_value(rule.min_tokens + rule.step_tokens // 2).run()
    expected = t(
        "recharge.bad_amount",
        low=fmt.tokens(rule.min_tokens),
        high=fmt.tokens(rule.max_tokens),
        step=fmt.tokens(rule.step_tokens),
    )
    assert [e.value for e in manager.error] == [expected]
    assert f"between {fmt.tokens(rule.min_tokens)} and {fmt.tokens(rule.max_tokens)}" in expected


def test_after_an_adjustment_the_confirmation_is_on_top_and_the_adjustments_tab_open(
    app_env: pytest.MonkeyPatch,
) -> None:
    """Failed before the fix: the confirmation sat in the Adjustments tab and the page opened on the first tab."""
    admin = _signed_in("admin")
    admin.switch_page("app_pages/admin.py").run()
    admin.selectbox(key="admin_adjust_account").set_value("acct-001")
    admin.number_input(key="admin_adjust_amount").set_value(500)
    admin.text_input(key="admin_adjust_reason").input("goodwill")
    next(b for b in admin.button if b.label == t("admin.adjust_post")).click().run()
    assert not admin.exception
    top = [node for node in admin.main.children.values() if node.type in ("success", "tab_container")]
    assert top[0].type == "success" and "app-adj-" in top[0].value  # above the tabs
    tabs = next(node for node in admin.main.children.values() if node.type == "tab_container")
    labels = [tab.label for tab in tabs.children.values()]
    assert labels[tabs.proto.tab_container.default_tab_index] == t("admin.tab_adjustments")
