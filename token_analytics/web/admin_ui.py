"""How /admin looks, tab by tab: bank transfers, adjustments, plan requests, data health, sessions, audit, alerts.

Every tab reads through the app database's queries over all accounts at once (`pending_transfers`,
`decided_transfers`, `adjustments`, `plan_requests`), never one query per account.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from token_analytics.db.appfile import AppDBError
from token_analytics.settings import Settings
from token_analytics.web import alerts_ui, data, fmt, payment_panel, security_panel, ui
from token_analytics.web.context import PageContext
from token_analytics.web.i18n import STRINGS, t

FLASH_KEY = "admin_flash"  # what the last confirm / reject did, shown after the rerun
ADJUST_FLASH_KEY = "admin_adjust_flash"  # the posted adjustment's confirmation, shown above the tabs
OPEN_TAB_KEY = "admin_open_tab"  # the tab (label id) to open after a post, so the person stays where they were

Tab = tuple[str, Callable[[PageContext], None]]  # (label id, what the tab draws)


def labels(settings: Settings, *names: str) -> dict[str, object]:
    """Column headers of a table, from the translation table; times name the business zone."""
    return {
        name: t("column.time_in", zone=settings.timezone) if name.endswith("_at") else t(f"admin.column_{name}")
        for name in names
    }


def counts(*names: str) -> dict[str, object]:
    """Count columns shown with thousands separators."""
    return {name: st.column_config.NumberColumn(t(f"admin.column_{name}"), format="localized") for name in names}


def code_label(prefix: str, code: object) -> str:
    """A code as people read it (`enterprise_contact` -> "Enterprise contact"); blank when missing."""
    if code is None or pd.isna(code):
        return ""
    key = f"{prefix}.{code}"
    return t(key) if key in STRINGS else str(code).replace("_", " ").capitalize()


def text(value: object) -> str:
    """A nullable text cell: blank, never "None" or "nan"."""
    return "" if value is None or pd.isna(value) else str(value)


def when(value: Any, zone: ZoneInfo) -> str:
    """A moment in the business zone, without the zone (the column header names it)."""
    return "" if value is None or pd.isna(value) else fmt.when(value, zone, with_zone=False)


def transfers(page: PageContext) -> None:
    """Pending bank transfers to confirm or reject (a note required), then the decided ones."""
    user, settings, store = page.user, page.settings, page.store
    zone = settings.zone
    appdb = page.app_db
    money = payment_panel.prices(settings.prices_file)
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash is not None:
        st.success(flash, icon=":material/task_alt:")
    pending = appdb.pending_transfers()
    if pending.empty:
        st.info(t("admin.no_transfers"))
    for order in pending.itertuples():
        price = money.format_price(order.price_cents)
        done = {
            "reference": order.reference,
            "tokens": fmt.tokens(order.tokens),
            "price": price,
            "account": ui.account_markdown(order.account_id),
        }
        with st.container(border=True):
            st.markdown(
                t(
                    "admin.transfer",
                    reference=order.reference,
                    account=ui.account_markdown(order.account_id),
                    tokens=fmt.tokens(order.tokens),
                    price=price,
                    by=fmt.plain(order.created_by),
                    at=fmt.when(order.created_at, zone),
                )
            )
            note = st.text_input(t("admin.note"), key=f"admin_note_{order.order_id}")
            confirm, reject, _ = st.columns([1, 1, 3])
            try:
                if confirm.button(t("admin.confirm"), type="primary", key=f"admin_confirm_{order.order_id}"):
                    appdb.confirm_transfer(order.order_id, user.username)
                    st.session_state[FLASH_KEY] = t("admin.confirmed", **done)
                    st.rerun()
                if reject.button(t("admin.reject"), key=f"admin_reject_{order.order_id}"):
                    if not note.strip():
                        st.error(t("admin.note_required"))
                    else:
                        appdb.reject_transfer(order.order_id, user.username, note=note)
                        st.session_state[FLASH_KEY] = t("admin.rejected", note=fmt.plain(note.strip()), **done)
                        st.rerun()
            except AppDBError as exc:
                ui.show_error(exc, ui.error_message(exc))

    st.subheader(t("admin.transfer_history"))
    # one statement for every account (a statement per account cost ~10 ms each), of the accounts the exports know
    orders = appdb.decided_transfers()
    orders = orders[orders["account_id"].isin(store.account_ids())]
    if orders.empty:
        st.caption(t("admin.no_transfer_history"))
        return
    history = pd.DataFrame(
        {
            "status_at": [when(at, zone) for at in orders["status_at"]],
            "decision": [t(f"admin.decision_{status}") for status in orders["status"]],
            "status_by": [text(by) for by in orders["status_by"]],
            "reference": orders["reference"].tolist(),
            "account_id": [ui.account_label(account) for account in orders["account_id"]],
            "tokens": orders["tokens"].astype("int64").tolist(),
            "price": [money.format_price(int(cents)) for cents in orders["price_cents"]],
            "created_by": [text(by) for by in orders["created_by"]],
            "status_note": [text(note) for note in orders["status_note"]],
        }
    )
    config = labels(settings, "status_at", "decision", "status_by", "reference", "account_id", "price", "created_by")
    config |= counts("tokens") | {"status_note": t("admin.column_note"), "created_by": t("admin.column_ordered_by")}
    st.dataframe(history, hide_index=True, column_config=config)


def adjustments(page: PageContext) -> None:
    """The form that posts a signed adjustment to an account's ledger, then every adjustment posted."""
    user, settings, store = page.user, page.settings, page.store
    appdb = page.app_db
    accounts = store.account_ids()
    names = ui.known_names()  # AppTest calls format_func outside the run: it must not read session state
    with st.form("admin_adjust_form", clear_on_submit=True):
        account = st.selectbox(
            t("admin.adjust_account"),
            accounts,
            format_func=lambda account: ui.account_label(account, names),
            key="admin_adjust_account",
        )
        amount = st.number_input(t("admin.adjust_amount"), step=1, value=0, key="admin_adjust_amount")
        reason = st.text_input(t("admin.adjust_reason"), key="admin_adjust_reason")
        posted = st.form_submit_button(t("admin.adjust_post"), type="primary")
    if posted and (not amount or not reason.strip()):
        st.error(t("admin.adjust_invalid"))
    elif posted:
        # One adjustment id per form content: a double submit (or a rerun) of what was just
        # posted reuses its id, and AppDB posts an id once.
        content = (account, int(amount), reason.strip())
        last_id, *last_content = st.session_state.get("admin_adjust_last", (None,))
        repeat = tuple(last_content) == content
        adjustment_id = last_id if repeat else appdb.new_id()
        try:
            txn_id = appdb.post_adjustment(account, int(amount), reason, user.username, adjustment_id=adjustment_id)
        except AppDBError as exc:
            ui.show_error(exc, ui.error_message(exc))
        else:
            st.session_state["admin_adjust_last"] = (adjustment_id, *content)
            done = "admin.adjust_repeat" if repeat else "admin.adjust_done"
            # a rerun draws the confirmation above the tabs and opens the Adjustments tab again
            st.session_state[ADJUST_FLASH_KEY] = t(
                done, amount=fmt.signed(amount), account=ui.account_markdown(account), txn=txn_id
            )
            st.session_state[OPEN_TAB_KEY] = "admin.tab_adjustments"
            st.rerun()
    posted_rows = appdb.adjustments()
    if posted_rows.empty:
        return
    table = pd.DataFrame(
        {
            "created_at": [when(at, settings.zone) for at in posted_rows["created_at"]],
            "account_id": [ui.account_label(account) for account in posted_rows["account_id"]],
            "amount": [fmt.signed(amount) for amount in posted_rows["amount"]],
            "reason": [text(reason) for reason in posted_rows["reason"]],
            "created_by": [text(by) for by in posted_rows["created_by"]],
            "txn_id": [text(txn) for txn in posted_rows["txn_id"]],
        }
    )
    st.dataframe(table, hide_index=True, column_config=labels(settings, *table.columns))


def requests(page: PageContext) -> None:
    """Plan requests of every account (upgrades and enterprise contacts), newest first."""
    settings = page.settings
    appdb = page.app_db
    money = payment_panel.prices(settings.prices_file)
    rows = appdb.plan_requests()
    if rows.empty:
        st.info(t("admin.no_requests"))
        return
    plan_names = {plan.plan_id: payment_panel.plan_name(money, plan.plan_id) for plan in money.plans}
    table = pd.DataFrame(
        {
            "created_at": [when(at, settings.zone) for at in rows["created_at"]],
            "account_id": [ui.account_label(account) for account in rows["account_id"]],
            "requested_by": [text(by) for by in rows["requested_by"]],
            "plan": [plan_names.get(plan, text(plan)) for plan in rows["plan"]],
            "kind": [code_label("admin.kind", kind) for kind in rows["kind"]],
            "contact": [text(contact) for contact in rows["contact"]],
            "message": [text(message) for message in rows["message"]],
        }
    )
    st.dataframe(table, hide_index=True, column_config=labels(settings, *table.columns))


def health(page: PageContext) -> None:
    """The data-health report: totals, rejected files, quarantine reasons, every file read."""
    settings = page.settings
    zone = settings.zone
    report = data.health(page.store)
    files, bad, quarantined = st.columns(3)
    files.metric(t("admin.files_read"), fmt.tokens(report.files_read))
    bad.metric(t("admin.bad_files"), fmt.tokens(report.bad_files))
    quarantined.metric(t("admin.quarantined_rows"), fmt.tokens(report.quarantined_rows))
    if report.clean:
        st.success(t("admin.health_clean"))
    shown = report.files.assign(
        kind=[code_label("admin.export", kind) for kind in report.files["kind"]],
        status=[code_label("admin.file_status", status) for status in report.files["status"]],
        error=[text(error) for error in report.files["error"]],
        latest_at=[when(at, zone) for at in report.files["latest_at"]],
    )
    rejected = shown[report.files["status"] != "ok"]
    if len(rejected):
        st.subheader(t("admin.rejected_files"))
        st.dataframe(
            rejected[["kind", "path", "error"]],
            hide_index=True,
            column_config=labels(settings, "kind", "path", "error"),
        )
    if len(report.reasons):
        st.subheader(t("admin.reasons"))
        reasons = report.reasons.assign(kind=[code_label("admin.export", kind) for kind in report.reasons["kind"]])
        numeric = [name for name in reasons.columns if name == "rows"]
        config = labels(settings, *[name for name in reasons.columns if name not in numeric]) | counts(*numeric)
        st.dataframe(reasons, hide_index=True, column_config=config)
    st.subheader(t("admin.files"))
    numbers = ("rows_read", "accepted", "quarantined", "duplicates", "conflicts")
    columns = ["kind", "path", "status", *numbers, "latest_at"]
    st.dataframe(
        shown[columns],
        hide_index=True,
        column_config=labels(settings, "kind", "path", "status", "latest_at") | counts(*numbers),
    )


def sessions(page: PageContext) -> None:
    security_panel.sessions_tab(page.settings, data.auth_config(page.settings.auth_file), page.user)


def audit(page: PageContext) -> None:
    security_panel.audit_tab(page.settings)


def alerts(page: PageContext) -> None:
    alerts_ui.admin_section(page.app_db, page.user, page.settings)


def show_tabs(page: PageContext, tabs: Sequence[Tab], saas_only: frozenset[str]) -> None:
    """The tabs this deployment has; a lone tab without the tab bar. A posted adjustment's confirmation goes
    above the tabs, and the tab it was posted from opens again after the rerun.
    """
    shown_tabs = [(label, draw) for label, draw in tabs if page.settings.saas or label not in saas_only]
    if len(shown_tabs) == 1:
        shown_tabs[0][1](page)
        return
    adjusted = st.session_state.pop(ADJUST_FLASH_KEY, None)
    if adjusted is not None:
        st.success(adjusted, icon=":material/task_alt:")
    open_tab = st.session_state.get(OPEN_TAB_KEY)
    tab_ids = [label for label, _ in shown_tabs]
    default = t(open_tab) if open_tab in tab_ids else None
    for tab, (_, draw) in zip(st.tabs([t(label) for label in tab_ids], default=default), shown_tabs, strict=True):
        with tab:
            draw(page)
