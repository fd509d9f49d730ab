"""Subscription (/subscription, SaaS): the current plan, the plans, and only the moves that fit the current plan.

Free: upgrade to Pro (through the payment flow) and the Enterprise contact form. Pro: the
Enterprise contact form. Enterprise: nothing to buy here, and the page says so.
"""

import streamlit as st

from token_analytics.billing.orders import METHODS
from token_analytics.billing.payments import get_provider
from token_analytics.db.appfile import AppDBError
from token_analytics.web import context, data, fmt, payment_panel, ui
from token_analytics.web.i18n import t

page = context.current()
user, account, settings, store, appdb = page.user, page.account, page.settings, page.store, page.app_db
provider = get_provider()
money = payment_panel.prices(settings.prices_file)
plan_now = appdb.current_plan(account, data.exported_plan_of(store, account))

st.title(t("page.subscription"))
st.markdown(t("plans.current", account=ui.account_markdown(account), plan=payment_panel.plan_name(money, plan_now)))
if not user.can_buy:
    st.info(t("plans.read_only"))
elif plan_now == "enterprise":
    st.info(t("plans.enterprise_nothing_to_buy"), icon=":material/workspace_premium:")
    st.page_link("app_pages/recharge.py", label=t("plans.enterprise_recharge"), icon=":material/add_card:")

for column, plan in zip(st.columns(len(money.plans)), money.plans, strict=True):
    with column.container(border=True):
        st.subheader(payment_panel.plan_name(money, plan.plan_id))
        if plan.plan_id == plan_now:
            st.badge(t("plans.current_badge"), icon=":material/check:", color="green")
        price = (
            t("plans.contact_price")
            if plan.monthly_price_cents is None
            else t("plans.monthly_price", price=money.format_price(plan.monthly_price_cents))
        )
        st.metric(t("plans.price"), price)
        included = t("plans.by_contract") if plan.included_tokens is None else fmt.tokens(plan.included_tokens)
        st.caption(t("plans.included", tokens=included))
        for feature in payment_panel.plan_features(plan):
            st.text(f"✓ {feature}")

# The account's open plan order (also one started in an earlier visit), so it can be paid or cancelled.
current = payment_panel.open_order(appdb, account, "plan")
pro = money.plan("pro")
if user.can_buy and plan_now == "free":
    st.subheader(t("button.upgrade_pro"))
    method = st.radio(
        t("recharge.method"), METHODS, format_func=lambda m: t(f"method.{m}"), horizontal=True, key="plans_method"
    )
    already = payment_panel.is_open(current, "plan", pro.included_tokens or 0, method, "pro")
    if st.button(t("button.upgrade_pro"), type="primary", disabled=already, key="plans_upgrade"):
        try:
            price = pro.monthly_price_cents or 0
            tokens = pro.included_tokens or 0
            current = payment_panel.start_order(
                appdb, account, user, "plan", tokens, price, method, money.currency, "pro"
            )
        except AppDBError as exc:
            ui.show_error(exc, ui.error_message(exc))
if current is not None:
    with st.container(border=True):
        payment_panel.show(current, appdb, provider, user, money)


def send_contact() -> None:
    """The form's callback: validate, store the request, and clear the form only when it was sent."""
    contact = st.session_state.get("plans_contact", "").strip()
    if not contact:
        st.session_state["plans_outcome"] = ("error", t("plans.contact_required"))
        return
    if not payment_panel.valid_contact(contact):
        st.session_state["plans_outcome"] = ("error", t("plans.contact_invalid"))
        return
    try:
        request_id = appdb.request_plan(
            account, user.username, "enterprise", "enterprise_contact", contact, st.session_state.get("plans_message")
        )
    except AppDBError as exc:
        ui.show_error(exc, ui.error_message(exc))
        return
    st.session_state["plans_outcome"] = ("success", t("plans.request_sent", request=request_id))
    st.session_state["plans_contact"] = ""
    st.session_state["plans_message"] = ""


if user.can_buy and plan_now in ("free", "pro"):
    st.subheader(t("button.contact_enterprise"))
    with st.form("plans_enterprise_form"):
        st.text_input(t("plans.contact"), key="plans_contact", placeholder=t("plans.contact_placeholder"))
        st.text_area(t("plans.message"), key="plans_message")
        st.form_submit_button(t("button.contact_enterprise"), on_click=send_contact)
    outcome = st.session_state.pop("plans_outcome", None)
    if outcome is not None and outcome[0] == "error":
        st.error(outcome[1])
    elif outcome is not None:
        st.success(outcome[1], icon=":material/mark_email_read:")
