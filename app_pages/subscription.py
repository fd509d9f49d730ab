"""Subscription (/subscription, SaaS): compare plans, upgrade to Pro through the payment flow, contact sales."""

import streamlit as st

from token_analytics.billing.core import AppDBError
from token_analytics.billing.orders import METHODS
from token_analytics.billing.payments import get_provider
from token_analytics.billing.prices import PLAN_IDS
from token_analytics.web import data, fmt, payment_panel, ui
from token_analytics.web.i18n import t

user = ui.require(ui.current_user())
account = ui.current_account(user)
settings = data.settings()
store = data.store()
appdb = data.app_db()
provider = get_provider()
money = payment_panel.prices(settings.prices_file)

profile = store.run("account_profile", account_id=account)
exported_plan = str(profile["plan"].iloc[0]) if len(profile) and profile["plan"].notna().iloc[0] else "free"
plan_now = appdb.current_plan(account, default=exported_plan)
plan_now = plan_now if plan_now in PLAN_IDS else "free"  # an unknown plan in the export reads as Free

st.title(t("page.subscription"))
st.markdown(t("plans.current", account=account, plan=money.plan(plan_now).name))
if not user.can_buy:
    st.info(t("plans.read_only"))

for column, plan in zip(st.columns(len(money.plans)), money.plans, strict=True):
    with column.container(border=True):
        st.subheader(plan.name)
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
        for feature in plan.features:
            st.text(f"✓ {feature}")

current = payment_panel.open_order(appdb, account)
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
            ui.show_error(exc, str(exc))
if current is not None and current.kind == "plan":
    with st.container(border=True):
        payment_panel.show(current, appdb, provider, user, money)

if user.can_buy and plan_now != "enterprise":
    st.subheader(t("button.contact_enterprise"))
    with st.form("plans_enterprise_form", clear_on_submit=True):
        contact = st.text_input(t("plans.contact"), key="plans_contact")
        message = st.text_area(t("plans.message"), key="plans_message")
        sent = st.form_submit_button(t("button.contact_enterprise"))
    if sent and not contact.strip():
        st.error(t("plans.contact_required"))
    elif sent:
        try:
            request_id = appdb.request_plan(
                account, user.username, "enterprise", "enterprise_contact", contact, message
            )
        except AppDBError as exc:
            ui.show_error(exc, str(exc))
        else:
            st.success(t("plans.request_sent", request=request_id), icon=":material/mark_email_read:")
