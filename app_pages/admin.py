"""Admin (/admin, role admin): bank transfers, adjustments, plan requests and the data-health report.

Self-hosted deployments have no payments and no ledger to adjust: only data health is shown.
Everything here is append-only: a confirmed transfer or a posted adjustment is corrected by a
new entry, never edited.
"""

import streamlit as st

from token_analytics.billing.core import AppDBError
from token_analytics.web import auth, data, fmt, payment_panel, security_panel, ui
from token_analytics.web.i18n import t

user = ui.require(ui.current_user(), "admin")
settings = data.settings()
store = data.store()

st.title(t("page.admin"))


def labels(*names: str) -> dict[str, str]:
    """Column headers of a table, from the translation table."""
    return {name: t(f"admin.column_{name}") for name in names}


if settings.saas:
    appdb = data.app_db()
    money = payment_panel.prices(settings.prices_file)
    transfers_tab, adjust_tab, requests_tab, health_tab, sessions_tab, audit_tab = st.tabs(
        [t("admin.tab_transfers"), t("admin.tab_adjustments"), t("admin.tab_requests"), t("admin.tab_health")]
        + [t("admin.tab_sessions"), t("admin.tab_audit")]
    )
else:
    health_tab, sessions_tab, audit_tab = st.tabs(
        [t("admin.tab_health"), t("admin.tab_sessions"), t("admin.tab_audit")]
    )

with sessions_tab:
    security_panel.sessions_tab(settings, auth.load_auth(settings.auth_file), user)
with audit_tab:
    security_panel.audit_tab(settings)

if settings.saas:
    with transfers_tab:
        pending = appdb.pending_transfers()
        if pending.empty:
            st.info(t("admin.no_transfers"))
        for order in pending.itertuples():
            with st.container(border=True):
                st.markdown(
                    t(
                        "admin.transfer",
                        reference=order.reference,
                        account=order.account_id,
                        tokens=fmt.tokens(order.tokens),
                        price=money.format_price(order.price_cents),
                        by=order.created_by,
                        at=fmt.when(order.created_at, settings.zone),
                    )
                )
                note = st.text_input(t("admin.note"), key=f"admin_note_{order.order_id}")
                confirm, reject, _ = st.columns([1, 1, 3])
                try:
                    if confirm.button(t("admin.confirm"), type="primary", key=f"admin_confirm_{order.order_id}"):
                        appdb.confirm_transfer(order.order_id, user.username)
                        st.rerun()
                    if reject.button(t("admin.reject"), key=f"admin_reject_{order.order_id}"):
                        if not note.strip():
                            st.error(t("admin.note_required"))
                        else:
                            appdb.reject_transfer(order.order_id, user.username, note=note)
                            st.rerun()
                except AppDBError as exc:
                    ui.show_error(exc, str(exc))

    with adjust_tab:
        accounts = store.account_ids()
        with st.form("admin_adjust_form", clear_on_submit=True):
            account = st.selectbox(t("admin.adjust_account"), accounts, key="admin_adjust_account")
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
                ui.show_error(exc, str(exc))
            else:
                st.session_state["admin_adjust_last"] = (adjustment_id, *content)
                done = "admin.adjust_repeat" if repeat else "admin.adjust_done"
                st.success(t(done, amount=fmt.signed(amount), account=account, txn=txn_id))
        adjustments = appdb.adjustments()
        if not adjustments.empty:
            shown = ("created_at", "account_id", "amount", "reason", "created_by", "txn_id")
            st.dataframe(adjustments[list(shown)], hide_index=True, column_config=labels(*shown))

    with requests_tab:
        requests = appdb.plan_requests()
        if requests.empty:
            st.info(t("admin.no_requests"))
        else:
            shown = ("created_at", "account_id", "requested_by", "plan", "kind", "contact", "message")
            st.dataframe(requests[list(shown)], hide_index=True, column_config=labels(*shown))

with health_tab:
    health = store.health()
    files, bad, rows = st.columns(3)
    files.metric(t("admin.files_read"), fmt.tokens(health.files_read))
    bad.metric(t("admin.bad_files"), fmt.tokens(health.bad_files))
    rows.metric(t("admin.quarantined_rows"), fmt.tokens(health.quarantined_rows))
    if health.clean:
        st.success(t("admin.health_clean"))
    rejected = health.files[health.files["status"] != "ok"]
    if len(rejected):
        st.subheader(t("admin.rejected_files"))
        st.dataframe(
            rejected[["kind", "path", "error"]], hide_index=True, column_config=labels("kind", "path", "error")
        )
    if len(health.reasons):
        st.subheader(t("admin.reasons"))
        st.dataframe(health.reasons, hide_index=True, column_config=labels(*health.reasons.columns))
    st.subheader(t("admin.files"))
    shown = ("kind", "path", "status", "rows_read", "accepted", "quarantined", "duplicates", "conflicts", "latest_at")
    st.dataframe(health.files[list(shown)], hide_index=True, column_config=labels(*shown))
